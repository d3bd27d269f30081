"""DepthwiseConv2D and SeparableConv2D: convolutions that keep the channels apart.

A depthwise convolution filters each input channel c with its own ``depth_multiplier`` kernels,
giving output channel ``c * depth_multiplier + m``. With im2col's matrix viewed as (pixels P,
taps T, channels C) and the kernel as (T, C, M), each channel is one small matrix product::

    z[p, c, m] = sum_t cols[p, t, c] kernel[t, c, m]

a batch of C products (P x T) @ (T x M). Backward is two more batches of products,
``dkernel[t, c, m] = sum_p cols[p, t, c] dz[p, c, m]`` and
``dcols[p, t, c] = sum_m dz[p, c, m] kernel[t, c, m]``, then col2im. A separable convolution is a
depthwise one followed by a 1x1 convolution (a matrix product over the channels) and the bias.
The whole batch is unfolded at once.
"""
import numpy as np

from tinykeras import initializers
from tinykeras.kernels import col2im, conv_output_size, im2col, window_pads
from tinykeras.kernels.bias import add_bias, bias_gradient
from tinykeras.kernels.blas import matmul
from tinykeras.layers.arguments import (
    from_channels_last,
    image_shape,
    known_channels,
    require_rank,
    spatial_shape,
    to_channels_last,
)
from tinykeras.layers.base import ActivatedLayer
from tinykeras.layers.conv2d_transpose import window_arguments
from tinykeras.layers.convolutional import output_spatial_shape
from tinykeras.utils.argument_validation import check_int


def depthwise_product(cols, kernel):
    """z (P, C * M) from im2col's cols (P, T * C) and a (KH, KW, C, M) kernel."""
    kh, kw, c, m = kernel.shape
    by_channel = cols.reshape(-1, kh * kw, c).transpose(2, 0, 1)  # (C, P, T)
    z = np.matmul(by_channel, kernel.reshape(kh * kw, c, m).transpose(1, 0, 2))  # (C, P, M)
    return np.ascontiguousarray(z.transpose(1, 0, 2)).reshape(-1, c * m)


def depthwise_gradients(cols, kernel, dz):
    """(dkernel (KH, KW, C, M), dcols (P, T * C)) for the upstream dz (P, C * M)."""
    kh, kw, c, m = kernel.shape
    by_channel = cols.reshape(-1, kh * kw, c).transpose(2, 1, 0)  # (C, T, P)
    dz_by_channel = dz.reshape(-1, c, m).transpose(1, 0, 2)  # (C, P, M)
    dkernel = np.matmul(by_channel, dz_by_channel).transpose(1, 0, 2).reshape(kernel.shape)
    dcols = np.matmul(dz_by_channel, kernel.reshape(kh * kw, c, m).transpose(1, 2, 0))  # (C, P, T)
    return dkernel, np.ascontiguousarray(dcols.transpose(1, 2, 0)).reshape(-1, kh * kw * c)


class DepthwiseConv2D(ActivatedLayer):
    """Depthwise 2-D convolution: ``depth_multiplier`` kernels per input channel, no mixing of
    channels; then the bias and the activation.

    Args:
        kernel_size: an int or (height, width).
        strides, padding, data_format, dilation_rate: as for Conv2D.
        depth_multiplier: the output channels per input channel.
        activation, use_bias: as for Conv2D.
        depthwise_initializer: initializer of the (KH, KW, C_in, depth_multiplier) kernel.
        bias_initializer: initializer of the (C_in * depth_multiplier,) bias.
    """

    def __init__(
        self,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        depth_multiplier=1,
        data_format=None,
        dilation_rate=(1, 1),
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(activation=activation, **kwargs)
        where = type(self).__name__
        self.kernel_size, self.strides, self.padding, self.data_format, self.dilation_rate = window_arguments(
            where, kernel_size, strides, padding, data_format, dilation_rate)
        self.depth_multiplier = check_int(depth_multiplier, "depth_multiplier", where, minimum=1)
        self.use_bias = use_bias
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self._cache = None

    def _channels(self, input_shape):
        require_rank(self, input_shape)
        return known_channels(self, input_shape, spatial_shape(input_shape, self.data_format)[1])

    def build(self, input_shape):
        channels = self._channels(input_shape)
        self.kernel = self.add_weight(
            "kernel", self.kernel_size + (channels, self.depth_multiplier), self.depthwise_initializer)
        self.bias = (self.add_weight("bias", (channels * self.depth_multiplier,), self.bias_initializer)
                     if self.use_bias else None)

    def _output_channels(self, input_shape):
        return self._channels(input_shape) * self.depth_multiplier

    def compute_output_shape(self, input_shape):
        spatial = output_spatial_shape(
            self, input_shape, self.kernel_size, self.strides, self.dilation_rate, self.padding, self.data_format)
        return image_shape(input_shape[0], spatial, self._output_channels(input_shape), self.data_format)

    def _depthwise(self, x, kernel):
        """The depthwise convolution of an NHWC batch: z (N * OH * OW, C * M), and (OH, OW)."""
        pads = window_pads(x.shape[1:3], self.kernel_size, self.strides, self.dilation_rate, self.padding)
        out = tuple(conv_output_size(n, k, s, d, self.padding)
                    for n, k, s, d in zip(x.shape[1:3], self.kernel_size, self.strides, self.dilation_rate))
        cols = im2col(x, self.kernel_size, self.strides, self.dilation_rate, pads)
        self._cache = (x.shape, cols, pads)
        return depthwise_product(cols, kernel), out

    def _depthwise_backward(self, dz, kernel):
        """(dkernel, dx as NHWC or None) for dz (N * OH * OW, C * M)."""
        x_shape, cols, pads = self._cache
        dkernel, dcols = depthwise_gradients(cols, kernel, dz)
        if not self.input_gradient:
            return dkernel, None
        return dkernel, col2im(dcols, x_shape, self.kernel_size, self.strides, self.dilation_rate, pads)

    def forward_linear(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        z, (oh, ow) = self._depthwise(x, self.kernel.value)
        if self.use_bias:
            add_bias(z, self.bias.value, False)
        return from_channels_last(z.reshape(x.shape[0], oh, ow, -1), self.data_format)

    def backward_linear(self, dz):
        dz2 = np.ascontiguousarray(to_channels_last(dz, self.data_format)).reshape(-1, self.kernel.shape[2] * self.depth_multiplier)
        dkernel, dx = self._depthwise_backward(dz2, self.kernel.value)
        self.grads = [dkernel] + ([bias_gradient(dz2)] if self.use_bias else [])
        return None if dx is None else from_channels_last(dx, self.data_format)

    def get_config(self):
        return {
            **super().get_config(),
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "depth_multiplier": self.depth_multiplier,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "use_bias": self.use_bias,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
        }


class SeparableConv2D(DepthwiseConv2D):
    """Depthwise separable 2-D convolution: a depthwise convolution (``depth_multiplier``
    kernels per channel, no bias), then a 1x1 convolution to ``filters`` channels, the bias and
    the activation.

    Args:
        filters: the number of output channels.
        kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier: of the
            depthwise step, as for DepthwiseConv2D.
        activation, use_bias: as for Conv2D.
        depthwise_initializer: initializer of the (KH, KW, C_in, depth_multiplier) kernel.
        pointwise_initializer: initializer of the (1, 1, C_in * depth_multiplier, filters) kernel.
        bias_initializer: initializer of the (filters,) bias.
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        data_format=None,
        dilation_rate=(1, 1),
        depth_multiplier=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        pointwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        self.filters = check_int(filters, "filters", "SeparableConv2D", minimum=1)
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, activation,
                         use_bias, depthwise_initializer, bias_initializer, **kwargs)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self._depthwise_output = None

    def build(self, input_shape):
        channels = self._channels(input_shape)
        depth = channels * self.depth_multiplier
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", self.kernel_size + (channels, self.depth_multiplier), self.depthwise_initializer)
        self.pointwise_kernel = self.add_weight("pointwise_kernel", (1, 1, depth, self.filters), self.pointwise_initializer)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer) if self.use_bias else None

    def _output_channels(self, input_shape):
        return self.filters

    def forward_linear(self, x, training=False):
        # y = depthwise(x) @ pointwise + bias
        x = to_channels_last(x, self.data_format)
        z, (oh, ow) = self._depthwise(x, self.depthwise_kernel.value)
        self._depthwise_output = z
        y = matmul(z, self.pointwise_kernel.value.reshape(z.shape[1], self.filters))
        if self.use_bias:
            add_bias(y, self.bias.value, False)
        return from_channels_last(y.reshape(x.shape[0], oh, ow, self.filters), self.data_format)

    def backward_linear(self, dz):
        dy = np.ascontiguousarray(to_channels_last(dz, self.data_format)).reshape(-1, self.filters)
        z = self._depthwise_output
        pointwise = self.pointwise_kernel.value.reshape(z.shape[1], self.filters)
        dpointwise = matmul(z.T, dy).reshape(self.pointwise_kernel.shape)
        ddepthwise, dx = self._depthwise_backward(matmul(dy, pointwise.T), self.depthwise_kernel.value)
        self.grads = [ddepthwise, dpointwise] + ([bias_gradient(dy)] if self.use_bias else [])
        return None if dx is None else from_channels_last(dx, self.data_format)

    def get_config(self):
        config = super().get_config()
        return {**config, "filters": self.filters,
                "pointwise_initializer": initializers.serialize(self.pointwise_initializer)}
