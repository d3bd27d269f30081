"""Adam (Kingma and Ba, 2014) and AdamW (Loshchilov and Hutter, 2019)."""
import functools

import numpy as np

from tinykeras.kernels.optimizers import adam_update, fusable, run_fused
from tinykeras.optimizers.base import Optimizer
from tinykeras.utils.argument_validation import check_bool, check_number


@functools.lru_cache(maxsize=16)
def _constants(dtype, t, lr, beta_1, beta_2, epsilon):
    """Step ``t``'s constants in ``dtype``, as Keras computes them: ``1 - beta_1``, ``1 - beta_2``,
    ``alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)`` and epsilon (cached: all the variables of
    a step share them)."""
    t = dtype(t)
    alpha = dtype(lr) * np.sqrt(1 - dtype(beta_2) ** t) / (1 - dtype(beta_1) ** t)
    return dtype(1 - beta_1), dtype(1 - beta_2), alpha, dtype(epsilon)


class Adam(Optimizer):
    """Adam in Keras' "epsilon hat" form.

    ``m += (g - m)(1 - beta_1)``, ``v += (g^2 - v)(1 - beta_2)``,
    ``w -= m * alpha / (sqrt(v) + epsilon)`` with ``alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)``
    computed in the variable's precision, as Keras does (float32's 0.999 puts ``1 - beta_2``
    1.3e-5 off, relatively, and Keras steps with that); with amsgrad, ``v`` in the denominator is
    the running maximum of ``v``.
    """

    def __init__(
        self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs
    ):
        super().__init__(learning_rate=learning_rate, **kwargs)
        where = type(self).__name__
        self.beta_1 = check_number(beta_1, "beta_1", where, low=0, high=1, high_open=True)
        self.beta_2 = check_number(beta_2, "beta_2", where, low=0, high=1, high_open=True)
        self.epsilon = check_number(epsilon, "epsilon", where, low=0)
        self.amsgrad = check_bool(amsgrad, "amsgrad", where)
        self.slot_groups = (("momentum", "velocity"),) + ((("velocity_hat",),) if amsgrad else ())

    def update_step(self, grad, value, slots, lr):
        constants = _constants(value.dtype.type, self.iterations + 1, lr, self.beta_1, self.beta_2, self.epsilon)
        one_minus_beta_1, one_minus_beta_2, alpha, epsilon = constants
        m, v = slots["momentum"], slots["velocity"]
        if not self.amsgrad and fusable(value, grad):  # the lines below in one pass over memory
            run_fused(adam_update, value, grad, (m, v), constants)
            return
        m += (grad - m) * one_minus_beta_1
        v += (grad * grad - v) * one_minus_beta_2
        if self.amsgrad:
            np.maximum(slots["velocity_hat"], v, out=slots["velocity_hat"])
            v = slots["velocity_hat"]
        value -= m * alpha / (np.sqrt(v) + epsilon)

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


class AdamW(Adam):
    """Adam with decoupled weight decay: before each step, ``w -= w * weight_decay * lr``, then
    Adam's update (see ``Optimizer``'s ``weight_decay`` and ``exclude_from_weight_decay``).

    Args:
        weight_decay: the decay per unit of learning rate; required (Keras' default, 0.004).
        The others: as in Adam.
    """

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=0.004,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        **kwargs,
    ):
        if weight_decay is None:
            raise ValueError(
                "AdamW: Argument `weight_decay` must be a float. Received: weight_decay=None. "
                "Pass a number (Keras' default is 0.004), or use Adam for no weight decay."
            )
        super().__init__(
            learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad,
            weight_decay=weight_decay, **kwargs,
        )
