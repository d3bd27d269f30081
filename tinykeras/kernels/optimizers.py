"""Fused optimizer updates: one pass over a variable and its slots instead of one per operation.

Each kernel is the loop form of the NumPy update in its optimizer's module (tinykeras/optimizers/),
operation for operation, so both give the same bits: the constants arrive in the variable's
precision and no literal of another precision enters the arithmetic. The NumPy form runs where a
kernel cannot (a variable that is not C-contiguous, a gradient of another dtype). Each kernel's
NumPy form is also written below it, as ``<kernel>_reference``: ``run_fused`` calls it in the
'reference' mode (``kernels.mode``).
"""
import math

import numpy as np
from tinykeras.kernels.compiled import njit

from tinykeras.kernels import tuning
from tinykeras.kernels._common import split_range
from tinykeras.kernels.mode import switchable


def fusable(value, grad):
    """Whether a kernel can update ``value`` in place: C-contiguous, its gradient of its dtype."""
    return grad.dtype == value.dtype and value.flags.c_contiguous


@switchable
def run_fused(kernel, value, grad, slots, constants):
    """``kernel(value, grad, *slots, *constants)`` on the flattened arrays; a large variable's
    values are split between threads (each thread updates its own range)."""
    flat = [value.reshape(-1), np.ascontiguousarray(grad).reshape(-1)] + [slot.reshape(-1) for slot in slots]
    if len(flat) * value.size < tuning.SPLIT_MIN_ELEMENTS:  # split_range's choice, made here: one call
        kernel(*flat, *constants)
        return

    def update(lo, hi):
        kernel(*(a[lo:hi] for a in flat), *constants)

    split_range(value.size, len(flat) * value.size, update)


def run_fused_reference(kernel, value, grad, slots, constants):
    """``run_fused`` in plain NumPy: the kernel's reference (``<kernel>_reference``) on the whole
    arrays."""
    reference = globals()[kernel.__name__ + "_reference"]
    reference(value.reshape(-1), np.ascontiguousarray(grad).reshape(-1), *(a.reshape(-1) for a in slots), *constants)


@switchable
def weight_decay_update(value, weight_decay, lr):
    """Decoupled weight decay: ``value -= value * weight_decay * lr``, in place on a 1-D value."""
    _weight_decay_update(value, weight_decay, lr)


def weight_decay_update_reference(value, weight_decay, lr):
    value -= value * weight_decay * lr


# error_model="numpy": a division by zero gives inf instead of raising, which lets LLVM
# vectorise the loop (six times faster than the same loop with Python's error checks).
@njit(cache=True, nogil=True, error_model="numpy")
def _weight_decay_update(value, weight_decay, lr):
    for i in range(value.size):
        value[i] -= value[i] * weight_decay * lr


@njit(cache=True, nogil=True, error_model="numpy")
def adam_update(value, grad, m, v, one_minus_beta_1, one_minus_beta_2, alpha, epsilon):
    """Adam: ``m += (g - m)(1 - beta_1)``, ``v += (g^2 - v)(1 - beta_2)``,
    ``value -= m * alpha / (sqrt(v) + epsilon)``."""
    for i in range(value.size):
        g = grad[i]
        m[i] += (g - m[i]) * one_minus_beta_1
        v[i] += (g * g - v[i]) * one_minus_beta_2
        value[i] -= m[i] * alpha / (math.sqrt(v[i]) + epsilon)


def adam_update_reference(value, grad, m, v, one_minus_beta_1, one_minus_beta_2, alpha, epsilon):
    m += (grad - m) * one_minus_beta_1
    v += (grad * grad - v) * one_minus_beta_2
    value -= m * alpha / (np.sqrt(v) + epsilon)


@njit(cache=True, nogil=True, error_model="numpy")
def adadelta_update(value, grad, accumulated_grad, accumulated_delta, rho, one_minus_rho, lr, epsilon):
    """Adadelta: ``G = G rho + (1 - rho) g^2``, ``d = -(sqrt(D + epsilon) g) / sqrt(G + epsilon)``,
    ``D = D rho + (1 - rho) d^2``, ``value += lr * d``."""
    for i in range(value.size):
        g = grad[i]
        accumulated_grad[i] = accumulated_grad[i] * rho + one_minus_rho * (g * g)
        delta = -(math.sqrt(accumulated_delta[i] + epsilon) * g) / math.sqrt(accumulated_grad[i] + epsilon)
        accumulated_delta[i] = accumulated_delta[i] * rho + one_minus_rho * (delta * delta)
        value[i] += lr * delta


def adadelta_update_reference(value, grad, accumulated_grad, accumulated_delta, rho, one_minus_rho, lr, epsilon):
    accumulated_grad[...] = accumulated_grad * rho + one_minus_rho * (grad * grad)
    delta = -(np.sqrt(accumulated_delta + epsilon) * grad) / np.sqrt(accumulated_grad + epsilon)
    accumulated_delta[...] = accumulated_delta * rho + one_minus_rho * (delta * delta)
    value += lr * delta


@njit(cache=True, nogil=True, error_model="numpy")
def adamax_update(value, grad, m, u, one_minus_beta_1, beta_2, lr, correction, epsilon):
    """Adamax: ``m += (g - m)(1 - beta_1)``, ``u = max(beta_2 u, |g|)``,
    ``value -= lr * m / (correction * (u + epsilon))``."""
    for i in range(value.size):
        g = grad[i]
        m[i] += (g - m[i]) * one_minus_beta_1
        u[i] = np.maximum(beta_2 * u[i], abs(g))
        value[i] -= lr * m[i] / (correction * (u[i] + epsilon))


def adamax_update_reference(value, grad, m, u, one_minus_beta_1, beta_2, lr, correction, epsilon):
    m += (grad - m) * one_minus_beta_1
    np.maximum(beta_2 * u, np.abs(grad), out=u)
    value -= lr * m / (correction * (u + epsilon))


@njit(cache=True, nogil=True, error_model="numpy")
def nadam_update(value, grad, m, v, one_minus_beta_1, one_minus_beta_2, u_next, m_denominator, g_scale,
                 g_denominator, v_denominator, lr, epsilon):
    """Nadam: ``m += (g - m)(1 - beta_1)``, ``v += (g^2 - v)(1 - beta_2)``,
    ``m_hat = u_next * m / m_denominator + g_scale * g / g_denominator``,
    ``value -= m_hat * lr / (sqrt(v / v_denominator) + epsilon)``."""
    for i in range(value.size):
        g = grad[i]
        m[i] += (g - m[i]) * one_minus_beta_1
        v[i] += (g * g - v[i]) * one_minus_beta_2
        m_hat = u_next * m[i] / m_denominator + g_scale * g / g_denominator
        value[i] -= m_hat * lr / (math.sqrt(v[i] / v_denominator) + epsilon)


def nadam_update_reference(value, grad, m, v, one_minus_beta_1, one_minus_beta_2, u_next, m_denominator, g_scale,
                           g_denominator, v_denominator, lr, epsilon):
    m += (grad - m) * one_minus_beta_1
    v += (grad * grad - v) * one_minus_beta_2
    m_hat = u_next * m / m_denominator + g_scale * grad / g_denominator
    value -= m_hat * lr / (np.sqrt(v / v_denominator) + epsilon)


@njit(cache=True, nogil=True, error_model="numpy")
def lion_update(value, grad, m, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2, lr):
    """Lion: ``value -= lr * sign(m beta_1 + g (1 - beta_1))``, ``m = m beta_2 + g (1 - beta_2)``."""
    for i in range(value.size):
        g = grad[i]
        value[i] -= lr * np.sign(m[i] * beta_1 + g * one_minus_beta_1)
        m[i] = m[i] * beta_2 + g * one_minus_beta_2


def lion_update_reference(value, grad, m, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2, lr):
    value -= lr * np.sign(m * beta_1 + grad * one_minus_beta_1)
    m[...] = m * beta_2 + grad * one_minus_beta_2
