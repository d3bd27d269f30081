"""RMSprop (Tieleman and Hinton, 2012)."""
import numpy as np

from tinykeras.optimizers.base import Optimizer
from tinykeras.utils.argument_validation import check_bool, check_number


class RMSprop(Optimizer):
    """RMSprop: ``v = rho v + (1 - rho) g^2``, ``w -= lr g / sqrt(v + epsilon)``.

    With ``centered`` the running mean of g is subtracted from v; with ``momentum`` the increments
    accumulate in a momentum slot.
    """

    def __init__(
        self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs
    ):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = check_number(rho, "rho", "RMSprop", low=0, high=1)
        self.momentum = check_number(momentum, "momentum", "RMSprop", low=0, high=1)
        self.epsilon = check_number(epsilon, "epsilon", "RMSprop", low=0)
        self.centered = check_bool(centered, "centered", "RMSprop")
        self.slot_groups = (
            (("velocity",),) + ((("momentum",),) if momentum else ()) + ((("average_gradient",),) if centered else ())
        )

    def update_step(self, grad, value, slots, lr):
        v = slots["velocity"]
        v *= self.rho
        v += (1 - self.rho) * np.square(grad)
        if self.centered:
            avg = slots["average_gradient"]
            avg *= self.rho
            avg += (1 - self.rho) * grad
            denominator = v - np.square(avg) + self.epsilon
        else:
            denominator = v + self.epsilon
        increment = lr * grad / np.sqrt(denominator)
        if self.momentum:
            m = slots["momentum"]
            m *= self.momentum
            m += increment
            value -= m
        else:
            value -= increment

    def get_config(self):
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }
