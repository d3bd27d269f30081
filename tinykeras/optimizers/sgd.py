"""Stochastic gradient descent, with optional (Nesterov) momentum."""
from tinykeras.optimizers.base import Optimizer
from tinykeras.utils.argument_validation import check_bool, check_number


class SGD(Optimizer):
    """Gradient descent, with optional (Nesterov) momentum.

    Without momentum: ``w -= lr * g``. With it: ``m = momentum * m - lr * g``, then ``w += m``, or
    with nesterov ``w += momentum * m - lr * g``.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum = check_number(momentum, "momentum", "SGD", low=0, high=1)
        self.nesterov = check_bool(nesterov, "nesterov", "SGD")
        self.slot_groups = (("momentum",),) if self.momentum else ()

    def update_step(self, grad, value, slots, lr):
        if not self.momentum:
            value -= lr * grad
            return
        m = slots["momentum"]
        m *= self.momentum
        m -= lr * grad
        if self.nesterov:
            value += self.momentum * m - lr * grad
        else:
            value += m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
