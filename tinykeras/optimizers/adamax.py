"""Adamax (Kingma and Ba, 2014, section 7.1): Adam with the infinity norm."""
import functools

import numpy as np

from tinykeras.kernels.optimizers import adamax_update, fusable, run_fused
from tinykeras.optimizers.base import Optimizer
from tinykeras.utils.argument_validation import check_number


@functools.lru_cache(maxsize=16)
def _constants(dtype, t, lr, beta_1, beta_2, epsilon):
    """Step ``t``'s constants in ``dtype``, as Keras computes them: ``1 - beta_1``, beta_2, lr,
    ``1 - beta_1^t`` and epsilon (cached: all the variables of a step share them)."""
    return dtype(1 - beta_1), dtype(beta_2), dtype(lr), 1 - dtype(beta_1) ** dtype(t), dtype(epsilon)


class Adamax(Optimizer):
    """Adamax: ``m += (g - m)(1 - beta_1)``, ``u = max(beta_2 u, |g|)``,
    ``w -= lr * m / ((1 - beta_1^t) (u + epsilon))`` (m: 'momentum', u: 'norm'), ``beta_1^t`` in
    the variable's precision, as Keras computes it.

    Args:
        learning_rate: the step size.
        beta_1: the decay rate of the first moment.
        beta_2: the decay rate of the infinity norm.
        epsilon: added to the norm, for stability.
    """

    slot_groups = (("momentum", "norm"),)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = check_number(beta_1, "beta_1", "Adamax", low=0, high=1, high_open=True)
        self.beta_2 = check_number(beta_2, "beta_2", "Adamax", low=0, high=1)
        self.epsilon = check_number(epsilon, "epsilon", "Adamax", low=0)

    def update_step(self, grad, value, slots, lr):
        constants = _constants(value.dtype.type, self.iterations + 1, lr, self.beta_1, self.beta_2, self.epsilon)
        one_minus_beta_1, beta_2, lr, correction, epsilon = constants
        m, u = slots["momentum"], slots["norm"]
        if fusable(value, grad):  # the lines below in one pass over memory
            run_fused(adamax_update, value, grad, (m, u), constants)
            return
        m += (grad - m) * one_minus_beta_1
        np.maximum(beta_2 * u, np.abs(grad), out=u)
        value -= lr * m / (correction * (u + epsilon))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
