"""Neural-network ops with Keras 3's names: activations, each derivative written from the output
where that is how it reads best (sigmoid' = y (1 - y)); 2-D convolution and pooling on the
kernels the Conv2D and pooling layers run."""
import math

import numpy as np

from tinykeras.kernels import (
    avg_pool_backward,
    avg_pool_forward,
    col2im,
    conv_output_size,
    im2col,
    max_pool_backward,
    max_pool_forward,
    window_pads,
)
from tinykeras.layers.arguments import (
    from_channels_last,
    standardize_data_format,
    standardize_padding,
    standardize_tuple,
    to_channels_last,
)
from tinykeras.ops.numpy import Unary
from tinykeras.ops.operation import Operation


class Relu(Unary):
    """max(x, 0): d/dx = 1 where x > 0."""

    def apply(self, x):
        return np.maximum(x, 0)

    def derivative(self, dy):
        return dy * (self.x > 0)


class Sigmoid(Unary):
    """1 / (1 + exp(-x)), computed without overflow: d/dx = y (1 - y)."""

    def apply(self, x):
        x = np.asarray(x)
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))

    def derivative(self, dy):
        return dy * self.y * (1 - self.y)


class Tanh(Unary):
    """tanh(x): d/dx = 1 - y^2."""

    def apply(self, x):
        return np.tanh(x)

    def derivative(self, dy):
        return dy * (1 - self.y * self.y)


class Softplus(Unary):
    """log(1 + exp(x)), computed without overflow: d/dx = sigmoid(x)."""

    def apply(self, x):
        return np.logaddexp(0, x)

    def derivative(self, dy):
        return dy * np.exp(self.x - self.y)


class Silu(Unary):
    """x sigmoid(x): d/dx = s + x s (1 - s), s = sigmoid(x)."""

    def apply(self, x):
        self.s = Sigmoid().compute(x)
        return x * self.s

    def derivative(self, dy):
        return dy * (self.s + self.x * self.s * (1 - self.s))


class Elu(Unary):
    """x for x > 0, alpha (exp(x) - 1) otherwise: d/dx = 1, or y + alpha."""

    def __init__(self, alpha=1.0, name=None):
        super().__init__(name)
        self.alpha = alpha

    def apply(self, x):
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))

    def derivative(self, dy):
        return dy * np.where(self.x > 0, 1, self.y + self.alpha)


class Gelu(Unary):
    """x Phi(x), the tanh approximation by default as in Keras: with u = c (x + 0.044715 x^3),
    c = sqrt(2 / pi), y = x (1 + tanh u) / 2 and d/dx = (1 + tanh u) / 2
    + x (1 - tanh^2 u) c (1 + 3 * 0.044715 x^2) / 2; exactly, y = x (1 + erf(x / sqrt 2)) / 2
    and d/dx = Phi(x) + x phi(x). The constants are Python floats, so float32 stays float32."""

    def __init__(self, approximate=True, name=None):
        super().__init__(name)
        self.approximate = approximate

    def apply(self, x):
        if self.approximate:
            self.t = np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))
            return 0.5 * x * (1 + self.t)
        self.cdf = 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2))).astype(np.asarray(x).dtype)
        return x * self.cdf

    def derivative(self, dy):
        x = self.x
        if self.approximate:
            c = math.sqrt(2 / math.pi)
            return dy * (0.5 * (1 + self.t) + 0.5 * x * (1 - self.t**2) * c * (1 + 3 * 0.044715 * x**2))
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return dy * (self.cdf + x * pdf)


class Softmax(Operation):
    """exp(x) / sum(exp(x)) along ``axis`` (the max subtracted first): d/dx = y (dy - sum(dy y))."""

    def __init__(self, axis=-1, name=None):
        super().__init__(name)
        self.axis = axis

    def compute(self, x):
        e = np.exp(x - np.max(x, axis=self.axis, keepdims=True))
        self.y = e / np.sum(e, axis=self.axis, keepdims=True)
        return self.y

    def vjp(self, dy):
        return (self.y * (dy - np.sum(dy * self.y, axis=self.axis, keepdims=True)),)


class LogSoftmax(Softmax):
    """x - logsumexp(x) along ``axis``: d/dx = dy - softmax(x) sum(dy)."""

    def compute(self, x):
        shifted = x - np.max(x, axis=self.axis, keepdims=True)
        y = shifted - np.log(np.sum(np.exp(shifted), axis=self.axis, keepdims=True))
        self.softmax = np.exp(y)
        return y

    def vjp(self, dy):
        return (dy - self.softmax * np.sum(dy, axis=self.axis, keepdims=True),)


# ---- convolution and pooling (2-D) -------------------------------------------------------------


LAYOUTS = {"channels_last": "(batch, height, width, channels)", "channels_first": "(batch, channels, height, width)"}


def _images(x, data_format, where):
    """x as an (N, H, W, C) array, or a ValueError naming the op when it is not 4-D."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"{where}: expected inputs of rank 4, {LAYOUTS[data_format]} (2-D only). "
                         f"Received: inputs.shape={x.shape}")
    return to_channels_last(x, data_format)


def _window_pads(x_shape, window, strides, dilation, padding):
    """((top, bottom), (left, right)) for images of NHWC ``x_shape``, as the layers pad them."""
    return window_pads(x_shape[1:3], window, strides, dilation, padding)


def _standardized(standardize, value, where):
    """``standardize(value)`` (padding, data_format), its ValueError naming the op."""
    try:
        return standardize(value)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


class Conv(Operation):
    """2-D convolution of images by a (KH, KW, C, F) kernel, one matrix product of im2col's
    rows: with cols = im2col(x) and K the kernel as a (KH*KW*C, F) matrix, y = cols K. So
    dL/dK = cols^T dy and dL/dx = col2im(dy K^T), col2im adding each row back onto the pixels it
    was read from."""

    def __init__(self, strides=1, padding="valid", data_format=None, dilation_rate=1, name=None):
        super().__init__(name)
        self.strides = standardize_tuple(strides, 2, "strides", where="ops.conv")
        self.padding = _standardized(standardize_padding, padding, "ops.conv")
        self.data_format = _standardized(standardize_data_format, data_format, "ops.conv")
        self.dilation = standardize_tuple(dilation_rate, 2, "dilation_rate", where="ops.conv")

    def compute(self, inputs, kernel):
        x, kernel = _images(inputs, self.data_format, "ops.conv"), np.asarray(kernel)
        if kernel.ndim != 4 or kernel.shape[2] != x.shape[3]:
            raise ValueError(
                f"ops.conv: expected a kernel of shape (height, width, {x.shape[3]}, filters) for inputs of "
                f"{x.shape[3]} channels. Received: kernel.shape={kernel.shape}, inputs.shape={np.shape(inputs)}")
        window = kernel.shape[:2]
        self.geometry = (window, self.strides, self.dilation,
                         _window_pads(x.shape, window, self.strides, self.dilation, self.padding))
        out = [conv_output_size(n, k, s, d, self.padding)
               for n, k, s, d in zip(x.shape[1:3], window, self.strides, self.dilation)]
        self.cols = im2col(x, *self.geometry)
        self.x_shape, self.kernel = x.shape, kernel
        y = (self.cols @ kernel.reshape(-1, kernel.shape[3])).reshape(x.shape[0], *out, kernel.shape[3])
        return from_channels_last(y, self.data_format)

    def vjp(self, dy):
        dy = to_channels_last(dy, self.data_format).reshape(-1, self.kernel.shape[3])
        dkernel = (self.cols.T @ dy).reshape(self.kernel.shape)
        dcols = dy @ self.kernel.reshape(-1, self.kernel.shape[3]).T
        dx = col2im(dcols.astype(self.cols.dtype, copy=False), self.x_shape, *self.geometry)
        return from_channels_last(dx, self.data_format), dkernel


class Pool(Operation):
    """A window slid over each channel of images (shared by MaxPool and AveragePool); 'same'
    padding never counts (it is never the max, and is left out of the average)."""

    where = "ops.pool"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None):
        super().__init__(name)
        self.pool_size = standardize_tuple(pool_size, 2, "pool_size", where=self.where)
        self.strides = (self.pool_size if strides is None
                        else standardize_tuple(strides, 2, "strides", where=self.where))
        self.padding = _standardized(standardize_padding, padding, self.where)
        self.data_format = _standardized(standardize_data_format, data_format, self.where)

    def compute(self, inputs):
        x = _images(inputs, self.data_format, self.where)
        self.x_shape = x.shape
        self.pads = _window_pads(x.shape, self.pool_size, self.strides, (1, 1), self.padding)
        return from_channels_last(self.pool(x), self.data_format)

    def vjp(self, dy):
        dx = self.unpool(np.ascontiguousarray(to_channels_last(dy, self.data_format)))
        return (from_channels_last(dx, self.data_format),)


class MaxPool(Pool):
    """The max of each window: the gradient goes to the input that was the max (the first in
    the window on ties)."""

    where = "ops.max_pool"

    def pool(self, x):
        y, self.argmax = max_pool_forward(x, self.pool_size, self.strides, self.pads)
        return y

    def unpool(self, dy):
        return max_pool_backward(dy, self.argmax, self.x_shape)


class AveragePool(Pool):
    """The mean of each window: each gradient spread equally over its window's inputs."""

    where = "ops.average_pool"

    def pool(self, x):
        return avg_pool_forward(x, self.pool_size, self.strides, self.pads)

    def unpool(self, dy):
        return avg_pool_backward(dy, self.x_shape, self.pool_size, self.strides, self.pads)
