"""Inverted dropout in one pass: the uniform draws become the mask in place while the output
is written. NumPy's ``(u >= rate).astype(dtype) * scale`` and ``x * mask`` take four passes and
three temporaries the size of the input. Each kernel has its plain NumPy reference at the end."""
import numpy as np
from numba import njit

from tinykeras.kernels.mode import switchable


@switchable
def dropout_mask(u, rate):
    """Turns uniform draws ``u`` in [0, 1), in place, into the mask ``1 / (1 - rate)`` where
    ``u >= rate``, else 0, in u's dtype. Returns u."""
    _mask(u.reshape(-1), u.dtype.type(rate), u.dtype.type(1 / (1 - rate)))
    return u


@switchable
def dropout_forward(x, u, rate):
    """``x * mask`` with the mask of ``dropout_mask``, made in place in ``u`` (the shape and
    dtype of x) as the output is computed.

    Returns:
        y, a new array; u then holds the mask, for the backward pass (``dy * mask``).
    """
    x = np.ascontiguousarray(x)
    if u.shape != x.shape or u.dtype != x.dtype or not u.flags.c_contiguous:
        raise ValueError(
            f"Expected draws of shape {x.shape} and dtype {x.dtype} (C-contiguous). "
            f"Received: shape={u.shape}, dtype={u.dtype}"
        )
    y = np.empty_like(x)
    _mask_and_apply(
        x.reshape(-1), u.reshape(-1), y.reshape(-1), x.dtype.type(rate), x.dtype.type(1 / (1 - rate))
    )
    return y


@njit(cache=True)
def _mask(u, rate, scale):
    zero = u.dtype.type(0)
    for i in range(u.size):
        u[i] = scale if u[i] >= rate else zero


@njit(cache=True)
def _mask_and_apply(x, u, y, rate, scale):
    zero = u.dtype.type(0)
    for i in range(x.size):
        m = scale if u[i] >= rate else zero
        u[i] = m
        y[i] = x[i] * m  # as x * mask: a NaN or an infinity dropped still gives NaN


def dropout_mask_reference(u, rate):
    """``dropout_mask`` in plain NumPy: ``u = (u >= rate) / (1 - rate)`` in place."""
    u[...] = np.where(u >= u.dtype.type(rate), u.dtype.type(1 / (1 - rate)), u.dtype.type(0))
    return u


def dropout_forward_reference(x, u, rate):
    """``dropout_forward`` in plain NumPy: the mask of ``dropout_mask`` made in ``u``, then
    ``x * mask``."""
    x = np.asarray(x)
    return x * dropout_mask_reference(u, rate)
