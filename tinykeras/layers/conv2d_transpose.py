"""Conv2DTranspose: the adjoint of a convolution (sometimes called a deconvolution).

A Conv2D maps an image Y to X with ``X = im2col(Y) @ K``; its transpose maps X back to Y's space
with ``Y = col2im(X @ K^T)``: each input pixel spreads ``x @ K^T``, one value per tap and filter,
over the window it would have been read from. So the forward pass here is Conv2D's backward for
the input, and the backward pass is Conv2D's forward (``dX = im2col(dY) @ K``,
``dK = im2col(dY)^T X``), with the same im2col and col2im kernels.

The kernel has Keras' shape (KH, KW, filters, C_in) and the output's size follows Keras::

    'valid': (size - 1) * stride + max(dilated_kernel, stride)   (+ output_padding instead)
    'same':  size * stride                                       (or as Keras with output_padding)
"""
import numpy as np

from tinykeras import initializers
from tinykeras.kernels import col2im, im2col
from tinykeras.kernels.bias import add_bias, bias_gradient
from tinykeras.kernels.blas import matmul
from tinykeras.layers.arguments import (
    from_channels_last,
    from_image_shape,
    height_axis,
    image_shape,
    known_channels,
    require_rank,
    spatial_shape,
    standardize_data_format,
    standardize_padding,
    standardize_tuple,
    to_channels_last,
)
from tinykeras.layers.base import ActivatedLayer
from tinykeras.utils.argument_validation import check_int


def window_arguments(where, kernel_size, strides, padding, data_format, dilation_rate):
    """The window arguments of a 2-D convolution layer, standardized and checked as Keras does."""
    kernel_size = standardize_tuple(kernel_size, 2, "kernel_size", where=where)
    strides = standardize_tuple(strides, 2, "strides", where=where)
    dilation_rate = standardize_tuple(dilation_rate, 2, "dilation_rate", where=where)
    if max(strides) > 1 and max(dilation_rate) > 1:
        raise ValueError(
            f"{where}: `strides > 1` not supported in conjunction with `dilation_rate > 1`. "
            f"Received: strides={strides} and dilation_rate={dilation_rate}"
        )
    try:
        padding, data_format = standardize_padding(padding), standardize_data_format(data_format)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    return kernel_size, strides, padding, data_format, dilation_rate


def transpose_geometry(size, kernel, stride, dilation, padding, output_padding):
    """Along one axis of a transposed convolution of an input of ``size``:

    Returns:
        (output size, before, covered): the output's size as Keras computes it; the zero padding
        ``before`` the first output position in the convolution whose adjoint this is; and the
        output positions its taps reach, ``covered`` (the output is that range cut or extended
        with zeros at the end).
    """
    span = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(span, stride) - span if output_padding is None else output_padding
        left, right = span - 1, span - 1 + extra
    else:
        total = stride + span - 2 if output_padding is None else span + span % 2 - 2 + output_padding
        left = min(total // 2 + total % 2, span - 1)
        right = total - left
    before = span - 1 - left
    return (size - 1) * stride + left + right - span + 2, before, (size - 1) * stride + span - before


def _resized_end(a, sizes):
    """An NHWC batch cut to, or padded with zeros at the end up to, (height, width) ``sizes``."""
    a = a[:, : sizes[0], : sizes[1]]
    grow = [(0, 0), (0, sizes[0] - a.shape[1]), (0, sizes[1] - a.shape[2]), (0, 0)]
    return np.pad(a, grow) if grow[1][1] or grow[2][1] else a


class Conv2DTranspose(ActivatedLayer):
    """Transposed 2-D convolution: ``y = activation(conv_transpose(x, kernel) + bias)``, the
    upsampling layer of decoders and generators.

    Args:
        filters: the number of output channels.
        kernel_size: an int or (height, width) of the window.
        strides: an int or (sh, sw): the upsampling factors.
        padding: 'valid' or 'same' (see the module's docstring for the output size).
        output_padding: None, or an int or pair below the strides: extra rows and columns of
            output, as in Keras.
        data_format: 'channels_last' or 'channels_first'.
        dilation_rate: an int or (dh, dw).
        activation, use_bias, kernel_initializer, bias_initializer: as for Conv2D; the kernel is
            (KH, KW, filters, C_in).
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        output_padding=None,
        data_format=None,
        dilation_rate=(1, 1),
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(activation=activation, **kwargs)
        where = "Conv2DTranspose"
        self.filters = check_int(filters, "filters", where, minimum=1)
        self.kernel_size, self.strides, self.padding, self.data_format, self.dilation_rate = window_arguments(
            where, kernel_size, strides, padding, data_format, dilation_rate)
        self.output_padding = (None if output_padding is None else
                               standardize_tuple(output_padding, 2, "output_padding", allow_zero=True, where=where))
        if self.output_padding is not None and any(p >= s for p, s in zip(self.output_padding, self.strides)):
            raise ValueError(
                f"{where}: Strides must be greater than output padding. Received strides={self.strides}, "
                f"output_padding={self.output_padding}. Use an output_padding below the strides, or None."
            )
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self._cache = None

    def build(self, input_shape):
        require_rank(self, input_shape)
        channels = known_channels(self, input_shape, spatial_shape(input_shape, self.data_format)[1])
        self.kernel = self.add_weight("kernel", self.kernel_size + (self.filters, channels), self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer) if self.use_bias else None

    def _window(self):
        """(kernel_size, strides, dilation_rate, output_padding) over the image's two axes."""
        return self.kernel_size, self.strides, self.dilation_rate, self.output_padding or (None, None)

    def _geometry(self, spatial):
        """(output size, before, covered) along each spatial axis (see transpose_geometry);
        None for an axis of unknown size."""
        kernel, strides, dilation, paddings = self._window()
        return [None if n is None else transpose_geometry(n, k, s, d, self.padding, p)
                for n, k, s, d, p in zip(spatial, kernel, strides, dilation, paddings)]

    def compute_output_shape(self, input_shape):
        require_rank(self, input_shape)
        spatial, _ = spatial_shape(input_shape, self.data_format)
        sizes = [None if axis is None else axis[0] for axis in self._geometry(spatial)]
        return image_shape(input_shape[0], sizes, self.filters, self.data_format)

    def forward_linear(self, x, training=False):
        # y = col2im(x K^T): the input pixels spread over the windows a convolution reads.
        x = to_channels_last(x, self.data_format)
        (oh, before_h, covered_h), (ow, before_w, covered_w) = self._geometry(x.shape[1:3])
        n, channels = x.shape[0], x.shape[3]
        kernel2d = self.kernel.value.reshape(-1, channels)  # (KH * KW * filters, C_in)
        cols = matmul(x.reshape(-1, channels), kernel2d.T)
        pads = ((before_h, 0), (before_w, 0))
        kernel, strides, dilation, _ = self._window()
        y = col2im(cols, (n, covered_h, covered_w, self.filters), kernel, strides, dilation, pads)
        y = np.ascontiguousarray(_resized_end(y, (oh, ow)))
        if self.use_bias:
            add_bias(y.reshape(-1, self.filters), self.bias.value, False)
        self._cache = (x, (covered_h, covered_w), pads)
        return from_channels_last(y, self.data_format)

    def backward_linear(self, dz):
        # The adjoint of col2im is im2col: dX = im2col(dY) K, dK = im2col(dY)^T X.
        x, covered, pads = self._cache
        dz = to_channels_last(dz, self.data_format)
        channels = x.shape[3]
        kernel2d = self.kernel.value.reshape(-1, channels)
        kernel, strides, dilation, _ = self._window()
        cols = im2col(_resized_end(dz, covered), kernel, strides, dilation, pads)
        self.grads = [matmul(cols.T, x.reshape(-1, channels)).reshape(self.kernel.shape)]
        if self.use_bias:
            self.grads.append(bias_gradient(np.ascontiguousarray(dz).reshape(-1, self.filters)))
        if not self.input_gradient:
            return None
        return from_channels_last(matmul(cols, kernel2d).reshape(x.shape), self.data_format)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "output_padding": self.output_padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
        }


class Conv1DTranspose(Conv2DTranspose):
    """Transposed 1-D convolution over the steps of a sequence, the upsampling layer of 1-D
    decoders: a Conv2DTranspose over images of height 1, (N, 1, steps, C), its kernel
    (kernel_size, filters, C_in) read as (1, kernel_size, filters, C_in).

    Args:
        filters: the number of output channels.
        kernel_size, strides, dilation_rate: ints or 1-tuples.
        padding: 'valid' or 'same'.
        output_padding: None, or an int below the stride.
        data_format: 'channels_last' (N, steps, C) or 'channels_first' (N, C, steps).
        activation, use_bias, kernel_initializer, bias_initializer: as for Conv2DTranspose.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        where = "Conv1DTranspose"
        kernel_size = standardize_tuple(kernel_size, 1, "kernel_size", where=where)
        strides = standardize_tuple(strides, 1, "strides", where=where)
        dilation_rate = standardize_tuple(dilation_rate, 1, "dilation_rate", where=where)
        if output_padding is not None:
            output_padding = standardize_tuple(output_padding, 1, "output_padding", allow_zero=True, where=where)
            if output_padding[0] >= strides[0]:
                raise ValueError(f"{where}: Strides must be greater than output padding. Received strides={strides}, "
                                 f"output_padding={output_padding}. Use an output_padding below the strides, or None.")
        super().__init__(filters, (1,) + kernel_size, (1,) + strides, padding,
                         None if output_padding is None else (0,) + output_padding, data_format, (1,) + dilation_rate,
                         activation, use_bias, kernel_initializer, bias_initializer, **kwargs)
        self.kernel_size, self.strides, self.dilation_rate = kernel_size, strides, dilation_rate
        self.output_padding = output_padding

    def _window(self):
        paddings = (None, None) if self.output_padding is None else (0,) + self.output_padding
        return (1,) + self.kernel_size, (1,) + self.strides, (1,) + self.dilation_rate, paddings

    def build(self, input_shape):
        require_rank(self, input_shape, 3)
        channels = known_channels(self, input_shape, input_shape[1] if self.data_format == "channels_first" else input_shape[2])
        self.kernel = self.add_weight("kernel", self.kernel_size + (self.filters, channels), self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer) if self.use_bias else None

    def compute_output_shape(self, input_shape):
        require_rank(self, input_shape, 3)
        steps = input_shape[2] if self.data_format == "channels_first" else input_shape[1]
        size = None if steps is None else self._geometry((1, steps))[1][0]
        return from_image_shape(image_shape(input_shape[0], (1, size), self.filters, self.data_format), self.data_format)

    def forward_linear(self, x, training=False):
        axis = height_axis(self.data_format)
        return super().forward_linear(np.expand_dims(x, axis), training).squeeze(axis)

    def backward_linear(self, dz):
        axis = height_axis(self.data_format)
        dx = super().backward_linear(np.expand_dims(dz, axis))
        return None if dx is None else dx.squeeze(axis)
