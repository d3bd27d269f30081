"""Conv2D and ZeroPadding2D.

A convolution is one matrix product: im2col lays every receptive field out as a row of a
(N*OH*OW, KH*KW*C) matrix whose columns follow the kernel reshaped to (KH*KW*C, F), so
``cols @ kernel`` is the NHWC output with no transpose. Backward is two more products,
``dW = cols^T dY`` and ``dcols = dY W^T``, and col2im scatter-adds dcols back onto the input.
``kernels.conv2d`` runs these steps (in chunks of images, split between threads), or the same
convolution by Winograd's F(4x4, 3x3) or F(2x2, 3x3) for 3x3 kernels of stride 1
(``kernels.winograd``: the same result to rounding, with fewer multiplications).
"""
import numpy as np

from tinykeras import initializers
from tinykeras.kernels import conv_output_size, window_pads
from tinykeras.kernels.conv2d import Geometry, conv2d_backward, conv2d_forward
from tinykeras.layers.arguments import (
    from_channels_last,
    from_image_shape,
    height_axis,
    image_shape,
    known_channels,
    require_rank,
    spatial_shape,
    standardize_data_format,
    standardize_margins,
    standardize_padding,
    standardize_tuple,
    to_channels_last,
)
from tinykeras.layers.base import WEIGHT_OPTIONS, ActivatedLayer, Layer, set_weight_options, weight_options_config
from tinykeras.layers.legacy import pop_legacy_arguments, warn_legacy_call
from tinykeras.layers.reshaping import crop, pad
from tinykeras.utils.argument_validation import check_int, is_integer


def output_spatial_shape(layer, input_shape, kernel_size, strides, dilation, padding, data_format):
    """(OH, OW) for a convolution or pooling window, or a ValueError naming the layer when the
    input is too small for it."""
    require_rank(layer, input_shape)
    (height, width), _ = spatial_shape(input_shape, data_format)
    sizes = []
    for size, k, s, d in zip((height, width), kernel_size, strides, dilation):
        sizes.append(None if size is None else conv_output_size(size, k, s, d, padding))
    if any(s is not None and s <= 0 for s in sizes):
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) with a {kernel_size} window "
            f"(strides {strides}, padding '{padding}') cannot be applied to an input of spatial "
            f"size {(height, width)}: the output would be {tuple(sizes)}. Use padding='same', a "
            "smaller window, or fewer downsampling layers before it."
        )
    return tuple(sizes)


def output_steps(layer, input_shape, window, stride, dilation, padding):
    """The output length of a 1-D convolution or pooling window over (N, steps, C) or
    (N, C, steps), or a ValueError naming the layer when the input is too short for it.
    'causal' padding gives the length 'same' does."""
    require_rank(layer, input_shape, 3)
    steps = input_shape[height_axis(layer.data_format)]
    padding = "same" if padding == "causal" else padding
    length = None if steps is None else conv_output_size(steps, window, stride, dilation, padding)
    if length is not None and length <= 0:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) with a window of {window} (strides "
            f"{stride}, dilation {dilation}, padding '{padding}') cannot be applied to {steps} "
            f"steps (input_shape={tuple(input_shape)}): the output would have {length}. Use "
            "padding='same', a smaller window, or fewer downsampling layers before it."
        )
    return length


#: Conv2D's defaults for the arguments Keras 1 spelled differently.
CONV2D_DEFAULTS = {
    "strides": (1, 1),
    "padding": "valid",
    "data_format": None,
    "use_bias": True,
    "kernel_initializer": "glorot_uniform",
}


class Conv2D(ActivatedLayer):
    """2-D convolution: ``y = activation(conv(x, kernel) + bias)``.

    Args:
        filters: the number of output channels.
        kernel_size: an int or (height, width) of the window.
        strides: an int or (sh, sw).
        padding: 'valid' (no padding) or 'same' (output size ceil(input / stride); the extra
            row/column of padding goes to the bottom/right, as in TensorFlow).
        data_format: 'channels_last' (N, H, W, C) or 'channels_first' (N, C, H, W); default from
            ``backend.image_data_format()``.
        dilation_rate: an int or (dh, dw): the spacing between kernel taps.
        activation: name or function; None means linear.
        use_bias: whether to add a bias per filter.
        kernel_initializer: initializer of the (KH, KW, C_in, filters) kernel.
        bias_initializer: initializer of the bias.

    Keras 1's keywords ``subsample`` (strides), ``border_mode`` (padding), ``dim_ordering``
    ('th', 'tf', 'default': data_format), ``init`` (kernel_initializer) and ``bias`` (use_bias)
    are accepted with a DeprecationWarning; see also :func:`Convolution2D`.
    """

    fuses_relu = True

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        data_format=None,
        dilation_rate=(1, 1),
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        given = {
            "strides": strides,
            "padding": padding,
            "data_format": data_format,
            "use_bias": use_bias,
            "kernel_initializer": kernel_initializer,
        }
        arguments, renamed = pop_legacy_arguments("Conv2D", kwargs, given, CONV2D_DEFAULTS)
        strides, padding, data_format, use_bias, kernel_initializer = (arguments[k] for k in given)
        super().__init__(activation=activation, **kwargs)
        warn_legacy_call("Conv2D", renamed, arguments)
        self.filters = check_int(filters, "filters", "Conv2D", minimum=1)
        self.kernel_size = standardize_tuple(kernel_size, 2, "kernel_size", where="Conv2D")
        self.strides = standardize_tuple(strides, 2, "strides", where="Conv2D")
        self.dilation_rate = standardize_tuple(dilation_rate, 2, "dilation_rate", where="Conv2D")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}"
            )
        self.padding = standardize_padding(padding)
        self.data_format = standardize_data_format(data_format)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        set_weight_options(self, kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                           kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        self._saved = None  # what the forward pass keeps for the backward pass

    def build(self, input_shape):
        require_rank(self, input_shape)
        channels = known_channels(self, input_shape, spatial_shape(input_shape, self.data_format)[1])
        shape = self.kernel_size + (channels, self.filters)
        self.kernel = self.add_weight("kernel", shape, self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = (
            self.add_weight("bias", (self.filters,), self.bias_initializer, regularizer=self.bias_regularizer,
                            constraint=self.bias_constraint) if self.use_bias else None
        )

    def compute_output_shape(self, input_shape):
        spatial = output_spatial_shape(
            self, input_shape, self.kernel_size, self.strides, self.dilation_rate, self.padding, self.data_format
        )
        return image_shape(input_shape[0], spatial, self.filters, self.data_format)

    def _window(self, spatial):
        """(kernel, strides, dilation, pads) over an image of size ``spatial``, pads as
        ((top, bottom), (left, right))."""
        pads = window_pads(spatial, self.kernel_size, self.strides, self.dilation_rate, self.padding)
        return self.kernel_size, self.strides, self.dilation_rate, pads

    def forward_linear(self, x, training=False, relu=False):
        # z = im2col(x) @ kernel + bias
        x = to_channels_last(x, self.data_format)
        geometry = Geometry.of(x.shape, self.filters, *self._window(x.shape[1:3]))
        bias = self.bias.value if self.use_bias else None
        z, self._saved = conv2d_forward(x, self.kernel.value, bias, geometry, relu)
        return from_channels_last(z, self.data_format)

    def backward_linear(self, dz, relu=False):
        # dkernel = im2col(x)^T dz, dbias = sum(dz), dx = col2im(dz kernel^T); with relu, dz
        # arrives as dy, the gradient of relu(z), and goes through ReLU first.
        y = to_channels_last(self._y.reshape(dz.shape), self.data_format) if relu else None
        dz = to_channels_last(dz, self.data_format)
        dx, dkernel, dbias = conv2d_backward(dz, self.kernel.value, self._saved, y, self.use_bias,
                                             self.input_gradient)
        self.grads = [dkernel] + ([dbias] if self.use_bias else [])
        return None if dx is None else from_channels_last(dx, self.data_format)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            **weight_options_config(self, *WEIGHT_OPTIONS),
        }


class Conv1D(Conv2D):
    """1-D convolution over the steps of a sequence: ``y = activation(conv(x, kernel) + bias)``.

    Computed as a Conv2D over images of height 1, (N, 1, steps, C): the same im2col, products
    and col2im, the kernel (kernel_size, C_in, filters) read as (1, kernel_size, C_in, filters).

    Args:
        filters: the number of output channels.
        kernel_size: an int or a 1-tuple: the window's length.
        strides: an int or a 1-tuple.
        padding: 'valid', 'same' (the extra step of padding at the end, as in TensorFlow), or
            'causal' (dilation_rate * (kernel_size - 1) zeros before the first step: output t
            reads no input after t).
        data_format: 'channels_last' (N, steps, C) or 'channels_first' (N, C, steps).
        dilation_rate: an int or a 1-tuple: the spacing between kernel taps.
        activation, use_bias, kernel_initializer, bias_initializer: as for Conv2D.
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        check_int(filters, "filters", "Conv1D", minimum=1)
        kernel_size = standardize_tuple(kernel_size, 1, "kernel_size", where="Conv1D")
        strides = standardize_tuple(strides, 1, "strides", where="Conv1D")
        dilation_rate = standardize_tuple(dilation_rate, 1, "dilation_rate", where="Conv1D")
        if strides[0] > 1 and dilation_rate[0] > 1:
            raise ValueError(
                "Conv1D: `strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                f"Received: strides={strides} and dilation_rate={dilation_rate}"
            )
        causal = isinstance(padding, str) and padding.lower() == "causal"
        if not (isinstance(padding, str) and padding.lower() in ("valid", "same", "causal")):
            raise ValueError(
                "Conv1D: The `padding` argument must be one of 'valid', 'same', 'causal'. "
                f"Received: padding={padding!r}"
            )
        super().__init__(
            filters, (1,) + kernel_size, (1,) + strides, "valid" if causal else padding, data_format,
            (1,) + dilation_rate, activation, use_bias, kernel_initializer, bias_initializer, **kwargs,
        )
        self.kernel_size, self.strides, self.dilation_rate = kernel_size, strides, dilation_rate
        if causal:
            self.padding = "causal"

    def build(self, input_shape):
        require_rank(self, input_shape, 3)
        channels = known_channels(
            self, input_shape, input_shape[1] if self.data_format == "channels_first" else input_shape[2])
        self.kernel = self.add_weight("kernel", self.kernel_size + (channels, self.filters), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = (
            self.add_weight("bias", (self.filters,), self.bias_initializer, regularizer=self.bias_regularizer,
                            constraint=self.bias_constraint) if self.use_bias else None
        )

    def compute_output_shape(self, input_shape):
        length = output_steps(self, input_shape, self.kernel_size[0], self.strides[0], self.dilation_rate[0], self.padding)
        image = image_shape(input_shape[0], (1, length), self.filters, self.data_format)
        return from_image_shape(image, self.data_format)

    def _window(self, spatial):
        # As a Conv2D over images of height 1; 'causal' puts all the padding before the steps.
        kernel, strides, dilation = (1,) + self.kernel_size, (1,) + self.strides, (1,) + self.dilation_rate
        if self.padding == "causal":
            pads = ((0, 0), (dilation[1] * (kernel[1] - 1), 0))
        else:
            pads = window_pads(spatial, kernel, strides, dilation, self.padding)
        return kernel, strides, dilation, pads

    def forward_linear(self, x, training=False, relu=False):
        axis = height_axis(self.data_format)
        return super().forward_linear(np.expand_dims(x, axis), training, relu).squeeze(axis)

    def backward_linear(self, dz, relu=False):
        axis = height_axis(self.data_format)
        dx = super().backward_linear(np.expand_dims(dz, axis), relu)
        return None if dx is None else dx.squeeze(axis)


def Convolution2D(filters=None, kernel_size=None, nb_col=None, **kwargs):
    """Keras' older name for :class:`Conv2D`; returns a Conv2D.

    ``Convolution2D(32, (3, 3), padding='same')`` is Conv2D under another name. Keras 1's call,
    ``Convolution2D(nb_filter, nb_row, nb_col, subsample=(1, 1), border_mode='valid',
    init='glorot_uniform', dim_ordering='default', bias=True, ...)``, gives the same Conv2D with
    one DeprecationWarning that spells out the Conv2D call: nb_filter -> filters,
    (nb_row, nb_col) -> kernel_size, subsample -> strides, border_mode -> padding,
    init -> kernel_initializer, dim_ordering 'th'/'tf'/'default' -> data_format
    'channels_first'/'channels_last'/None (the backend's setting), bias -> use_bias.
    Any other keyword goes to Conv2D as it is (``activation``, ``input_shape``, ``name``, ...).
    """
    renamed = []
    if "nb_filter" in kwargs:
        if filters is not None:
            raise TypeError(
                f"Convolution2D: got both `nb_filter` (the Keras 1 name) and `filters`. "
                f"Pass only filters={filters!r}."
            )
        filters = kwargs.pop("nb_filter")
        renamed.append(("nb_filter", "filters"))
    nb_row = kwargs.pop("nb_row", None)
    if nb_row is not None:
        if kernel_size is not None:
            raise TypeError(
                "Convolution2D: got both `nb_row` (the Keras 1 name) and `kernel_size`. "
                f"Pass only kernel_size={kernel_size!r}."
            )
        kernel_size = nb_row
    if nb_col is not None or nb_row is not None:
        if not is_integer(kernel_size) or not is_integer(nb_col):
            raise TypeError(
                "Convolution2D: Keras 1's call gives the kernel as two integers, "
                "Convolution2D(nb_filter, nb_row, nb_col); the current call as one argument, "
                f"Conv2D(filters, kernel_size=(rows, cols)). Received: nb_row={kernel_size!r}, "
                f"nb_col={nb_col!r}."
            )
        kernel_size = (int(kernel_size), int(nb_col))
        renamed.append(("nb_row, nb_col", "kernel_size"))
    given = {k: kwargs.pop(k, default) for k, default in CONV2D_DEFAULTS.items()}
    arguments, more = pop_legacy_arguments("Convolution2D", kwargs, given, CONV2D_DEFAULTS)
    renamed += more
    arguments.update(filters=filters, kernel_size=kernel_size)
    warn_legacy_call(
        "Convolution2D", renamed, arguments, current_name="Conv2D", positional=("filters", "kernel_size")
    )
    return Conv2D(**arguments, **kwargs)


class ZeroPadding2D(Layer):
    """Adds rows and columns of zeros around each image.

    Args:
        padding: an int (all sides), (rows, cols) (symmetric), or ((top, bottom), (left, right)).
        data_format: 'channels_last' or 'channels_first'.
    """

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = standardize_margins(padding, "padding", "ZeroPadding2D")
        self.data_format = standardize_data_format(data_format)

    def compute_output_shape(self, input_shape):
        require_rank(self, input_shape)
        (h, w), c = spatial_shape(input_shape, self.data_format)
        (top, bottom), (left, right) = self.padding
        grown = (None if h is None else h + top + bottom, None if w is None else w + left + right)
        return image_shape(input_shape[0], grown, c, self.data_format)

    def _spatial_axes(self):
        return (2, 3) if self.data_format == "channels_first" else (1, 2)

    def forward(self, x, training=False):
        return pad(x, self._spatial_axes(), self.padding)

    def backward(self, dy):
        return crop(dy, self._spatial_axes(), self.padding)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


class ZeroPadding1D(Layer):
    """Adds zero steps at the start and the end of each sequence.

    Args:
        padding: an int (both ends) or (start, end).
        data_format: 'channels_last' (batch, steps, features) or 'channels_first' (batch,
            features, steps).
    """

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = standardize_tuple(padding, 2, "padding", where="ZeroPadding1D", allow_zero=True)
        self.data_format = standardize_data_format(data_format)

    def _steps_axis(self):
        return 2 if self.data_format == "channels_first" else 1

    def compute_output_shape(self, input_shape):
        require_rank(self, input_shape, 3)
        shape, axis = list(input_shape), self._steps_axis()
        if shape[axis] is not None:
            shape[axis] += sum(self.padding)
        return tuple(shape)

    def forward(self, x, training=False):
        return pad(x, (self._steps_axis(),), (self.padding,))

    def backward(self, dy):
        return crop(dy, (self._steps_axis(),), (self.padding,))

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}
