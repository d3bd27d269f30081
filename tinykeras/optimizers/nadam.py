"""Nadam (Dozat, 2016): Adam with Nesterov momentum."""
import functools

import numpy as np

from tinykeras import backend
from tinykeras.kernels.optimizers import fusable, nadam_update, run_fused
from tinykeras.optimizers.base import Optimizer
from tinykeras.utils.argument_validation import check_number


@functools.lru_cache(maxsize=16)
def _constants(dtype, t, product, lr, beta_1, beta_2, epsilon):
    """Step ``t``'s constants in ``dtype``, as Keras computes them from the product P_t:
    ``1 - beta_1``, ``1 - beta_2``, ``u_{t+1}``, ``1 - P_t u_{t+1}``, ``1 - u_t``, ``1 - P_t``,
    ``1 - beta_2^t``, lr and epsilon (cached: all the variables of a step share them)."""
    t, decay, beta_1, beta_2 = dtype(t), dtype(0.96), dtype(beta_1), dtype(beta_2)
    u_t = beta_1 * (1.0 - 0.5 * decay**t)
    u_next = beta_1 * (1.0 - 0.5 * decay ** (t + 1))
    product = dtype(product)
    return (1 - beta_1, 1 - beta_2, u_next, 1 - product * u_next, 1 - u_t, 1 - product, 1 - beta_2**t, dtype(lr),
            dtype(epsilon))


class Nadam(Optimizer):
    """Nadam, with Keras' momentum schedule ``u_t = beta_1 (1 - 0.5 * 0.96^t)`` and the product
    ``P_t = u_1 ... u_t`` (kept in the optimizer's state, after the slots):

    ``m += (g - m)(1 - beta_1)``, ``v += (g^2 - v)(1 - beta_2)``,
    ``m_hat = u_{t+1} m / (1 - P_t u_{t+1}) + (1 - u_t) g / (1 - P_t)``,
    ``v_hat = v / (1 - beta_2^t)``, ``w -= m_hat * lr / (sqrt(v_hat) + epsilon)``;
    the constants in the variable's precision, as Keras computes them.

    Args:
        learning_rate: the step size.
        beta_1: the decay rate of the first moment.
        beta_2: the decay rate of the second moment.
        epsilon: added to sqrt(v_hat), for stability.
    """

    slot_groups = (("momentum", "velocity"),)
    #: Keras' name of the product P_t, which it keeps outside the optimizer's name scope.
    _shared_state_names = ("variable",)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = check_number(beta_1, "beta_1", "Nadam", low=0, high=1, high_open=True)
        self.beta_2 = check_number(beta_2, "beta_2", "Nadam", low=0, high=1, high_open=True)
        self.epsilon = check_number(epsilon, "epsilon", "Nadam", low=0)
        self._u_product = None

    def build(self, variables):
        variables = list(variables)
        if self._u_product is None:
            self._u_product = np.array(1.0, dtype=variables[0].value.dtype if variables else backend.floatx())
        super().build(variables)

    def _shared_state(self):
        return [self._u_product]

    def begin_step(self, t):
        # Once per step, in the product's precision: P_t = P_{t-1} * beta_1 * (1 - 0.5 * 0.96^t).
        t = self._u_product.dtype.type(t)
        self._u_product[...] = self._u_product * self.beta_1 * (1.0 - 0.5 * np.power(0.96, t))

    def update_step(self, grad, value, slots, lr):
        constants = _constants(value.dtype.type, self.iterations + 1, float(self._u_product), lr, self.beta_1,
                               self.beta_2, self.epsilon)
        one_minus_beta_1, one_minus_beta_2, u_next, m_denominator, g_scale, g_denominator, v_denominator, lr, epsilon = (
            constants)
        m, v = slots["momentum"], slots["velocity"]
        if fusable(value, grad):  # the lines below in one pass over memory
            run_fused(nadam_update, value, grad, (m, v), constants)
            return
        m += (grad - m) * one_minus_beta_1
        v += (np.square(grad) - v) * one_minus_beta_2
        m_hat = u_next * m / m_denominator + g_scale * grad / g_denominator
        v_hat = v / v_denominator
        value -= m_hat * lr / (np.sqrt(v_hat) + epsilon)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
