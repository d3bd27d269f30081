"""ReLU and its gradient as single compiled passes (NumPy's ``maximum`` and ``dy * (x > 0)``
take two to three passes and a temporary; on a convolution's output these loops cost as much as
the rest of the layer's element-wise work), each beside its plain NumPy reference."""
import numpy as np
from tinykeras.kernels.compiled import njit

from tinykeras.kernels.mode import switchable


@switchable
def relu_forward(x):
    """``max(x, 0)`` element-wise, NaN propagated, as a new array of x's shape and dtype."""
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    _relu(x.reshape(-1), y.reshape(-1))
    return y


@switchable
def relu_backward(dy, x):
    """``dy`` where ``x > 0``, else 0: the gradient through ``relu(x)``."""
    dy, x = np.ascontiguousarray(dy), np.ascontiguousarray(x)
    dx = np.empty_like(dy)
    _relu_gradient(dy.reshape(-1), x.reshape(-1), dx.reshape(-1))
    return dx


@njit(cache=True)
def _relu(x, y):
    for i in range(x.size):
        v = x[i]
        y[i] = 0 if v <= 0 else v  # a NaN is not <= 0: it passes through


@njit(cache=True)
def _relu_gradient(dy, x, dx):
    for i in range(x.size):
        dx[i] = dy[i] if x[i] > 0 else 0


def relu_forward_reference(x):
    """``relu_forward`` in plain NumPy: 0 where ``x <= 0``, else x (so a NaN passes through)."""
    x = np.asarray(x)
    return np.where(x <= 0, x.dtype.type(0), x)


def relu_backward_reference(dy, x):
    """``relu_backward`` in plain NumPy: dy where ``x > 0``, else 0."""
    dy = np.asarray(dy)
    return np.where(np.asarray(x) > 0, dy, dy.dtype.type(0))
