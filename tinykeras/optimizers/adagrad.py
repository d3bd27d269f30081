"""Adagrad (Duchi, Hazan and Singer, 2011)."""
import numpy as np

from tinykeras.optimizers.base import Optimizer
from tinykeras.utils.argument_validation import check_number


class Adagrad(Optimizer):
    """Adagrad: ``a += g^2``, ``w -= lr * g / sqrt(a + epsilon)``; each accumulator ``a`` starts
    at ``initial_accumulator_value``, so the rate of a variable shrinks as its gradients add up.

    Args:
        learning_rate: the step size.
        initial_accumulator_value: the accumulators' starting value; >= 0.
        epsilon: added under the square root, for stability.
    """

    slot_groups = (("accumulator",),)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.initial_accumulator_value = check_number(
            initial_accumulator_value, "initial_accumulator_value", "Adagrad", low=0
        )
        self.epsilon = check_number(epsilon, "epsilon", "Adagrad", low=0)

    def slot_initial_value(self, name):
        return self.initial_accumulator_value

    def update_step(self, grad, value, slots, lr):
        a = slots["accumulator"]
        a += np.square(grad)
        value -= lr * grad / np.sqrt(a + self.epsilon)

    def get_config(self):
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }
