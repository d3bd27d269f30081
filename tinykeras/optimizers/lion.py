"""Lion (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms")."""
import numpy as np

from tinykeras.kernels.optimizers import fusable, lion_update, run_fused
from tinykeras.optimizers.base import Optimizer
from tinykeras.utils.argument_validation import check_number


class Lion(Optimizer):
    """Lion: every weight moves by exactly ``lr`` in the direction of an interpolated momentum's
    sign: ``w -= lr * sign(beta_1 m + (1 - beta_1) g)``, then ``m = beta_2 m + (1 - beta_2) g``.

    Args:
        learning_rate: the step size (usually 3 to 10 times smaller than AdamW's).
        beta_1: the interpolation factor of the update; in (0, 1].
        beta_2: the decay rate of the momentum.
    """

    slot_groups = (("momentum",),)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = check_number(beta_1, "beta_1", "Lion", low=0, high=1, low_open=True)
        self.beta_2 = check_number(beta_2, "beta_2", "Lion", low=0, high=1)

    def update_step(self, grad, value, slots, lr):
        # The betas in the variable's precision, and 1 - beta in it too, as Keras computes them.
        dtype = value.dtype.type
        beta_1, beta_2 = dtype(self.beta_1), dtype(self.beta_2)
        m = slots["momentum"]
        if fusable(value, grad):  # the lines below in one pass over memory
            constants = (beta_1, 1.0 - beta_1, beta_2, 1.0 - beta_2, dtype(lr))
            run_fused(lion_update, value, grad, (m,), constants)
            return
        value -= lr * np.sign(m * beta_1 + grad * (1.0 - beta_1))
        m *= beta_2
        m += grad * (1.0 - beta_2)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}
