"""Fused optimizer updates: one pass over a variable and its slots instead of one per operation."""
import math

from numba import njit


# error_model="numpy": a division by zero gives inf instead of raising, which lets LLVM
# vectorise the loop (six times faster than the same loop with Python's error checks).
@njit(cache=True, nogil=True, error_model="numpy")
def adam_update(value, grad, m, v, one_minus_beta_1, one_minus_beta_2, step, epsilon):
    """Keras' Adam step on flat arrays, in place, in the arrays' own precision:
    ``m += (g - m)(1 - beta_1)``, ``v += (g^2 - v)(1 - beta_2)``, ``value -= step * m / (sqrt(v) +
    epsilon)``, where ``step = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)``."""
    for i in range(value.size):
        g = grad[i]
        m[i] += (g - m[i]) * one_minus_beta_1
        v[i] += (g * g - v[i]) * one_minus_beta_2
        value[i] -= step * m[i] / (math.sqrt(v[i]) + epsilon)
