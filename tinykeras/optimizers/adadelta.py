"""Adadelta (Zeiler, 2012)."""
import numpy as np

from tinykeras.kernels.optimizers import adadelta_update, fusable, run_fused
from tinykeras.optimizers.base import Optimizer
from tinykeras.utils.argument_validation import check_number


class Adadelta(Optimizer):
    """Adadelta: the step is scaled by the ratio of running RMS values of past steps and past
    gradients, ``rms(x) = sqrt(x + epsilon)``:

    ``G = rho G + (1 - rho) g^2``, ``d = -rms(D) g / rms(G)``, ``D = rho D + (1 - rho) d^2``,
    ``w += lr * d`` (G: 'accumulated_grad', D: 'accumulated_delta_var').

    Args:
        learning_rate: the step size (the paper's method has 1.0).
        rho: the decay rate of the running averages.
        epsilon: added inside the square roots, for stability.
    """

    slot_groups = (("accumulated_grad", "accumulated_delta_var"),)

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = check_number(rho, "rho", "Adadelta", low=0, high=1)
        self.epsilon = check_number(epsilon, "epsilon", "Adadelta", low=0)

    def update_step(self, grad, value, slots, lr):
        rho, epsilon = self.rho, self.epsilon
        accumulated_grad, accumulated_delta = slots["accumulated_grad"], slots["accumulated_delta_var"]
        if fusable(value, grad):  # the lines below in one pass over memory
            dtype = value.dtype.type
            constants = (dtype(rho), dtype(1 - rho), dtype(lr), dtype(epsilon))
            run_fused(adadelta_update, value, grad, (accumulated_grad, accumulated_delta), constants)
            return
        accumulated_grad *= rho
        accumulated_grad += (1 - rho) * np.square(grad)
        delta = -(np.sqrt(accumulated_delta + epsilon) * grad) / np.sqrt(accumulated_grad + epsilon)
        accumulated_delta *= rho
        accumulated_delta += (1 - rho) * np.square(delta)
        value += lr * delta

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
