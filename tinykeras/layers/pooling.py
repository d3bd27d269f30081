"""Pooling layers: MaxPooling2D, AveragePooling2D, GlobalMaxPooling2D, GlobalAveragePooling2D,
and their 1-D forms over the steps of a sequence (a 1-D window is a 2-D one over a height of 1)."""
import math

import numpy as np

from tinykeras.kernels import (
    avg_pool_backward,
    avg_pool_forward,
    max_pool_backward,
    max_pool_forward,
)
from tinykeras.layers.arguments import (
    from_channels_last,
    from_image_shape,
    height_axis,
    image_shape,
    require_rank,
    spatial_shape,
    standardize_data_format,
    standardize_padding,
    standardize_tuple,
    to_channels_last,
)
from tinykeras.layers.base import Layer
from tinykeras.kernels import window_pads
from tinykeras.layers.convolutional import output_spatial_shape, output_steps
from tinykeras.layers.legacy import pop_legacy_arguments, warn_legacy_call


class _Pooling2D(Layer):
    """Shared by MaxPooling2D and AveragePooling2D: a window slid over each channel.

    Args:
        pool_size: an int or (ph, pw): the window.
        strides: an int or (sh, sw); None means pool_size.
        padding: 'valid' or 'same' (padding never counts: it is never the max and is left out
            of the average, as in TensorFlow).
        data_format: 'channels_last' or 'channels_first'.

    Keras 1's ``border_mode`` (padding) and ``dim_ordering`` ('th', 'tf', 'default':
    data_format) are accepted with a DeprecationWarning.
    """

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        name = type(self).__name__
        given = {"padding": padding, "data_format": data_format}
        arguments, renamed = pop_legacy_arguments(name, kwargs, given, {"padding": "valid", "data_format": None})
        padding, data_format = arguments["padding"], arguments["data_format"]
        super().__init__(**kwargs)
        warn_legacy_call(name, renamed, arguments)
        self.pool_size = standardize_tuple(pool_size, 2, "pool_size", where=name)
        self.strides = (self.pool_size if strides is None
                        else standardize_tuple(strides, 2, "strides", where=name))
        self.padding = standardize_padding(padding)
        self.data_format = standardize_data_format(data_format)
        self._x_shape = None

    def compute_output_shape(self, input_shape):
        spatial = output_spatial_shape(
            self, input_shape, self.pool_size, self.strides, (1, 1), self.padding, self.data_format
        )
        _, channels = spatial_shape(input_shape, self.data_format)
        return image_shape(input_shape[0], spatial, channels, self.data_format)

    def _window(self):
        """(pool size, strides) over (height, width)."""
        return self.pool_size, self.strides

    def _pads(self, x_shape):
        pool_size, strides = self._window()
        return window_pads(x_shape[1:3], pool_size, strides, (1, 1), self.padding)

    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        self._x_shape = x.shape
        return from_channels_last(self.pool(x, self._pads(x.shape)), self.data_format)

    def backward(self, dy):
        dy = to_channels_last(dy, self.data_format)
        dx = self.unpool(np.ascontiguousarray(dy), self._pads(self._x_shape))
        return from_channels_last(dx, self.data_format)

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
        }


class MaxPooling2D(_Pooling2D):
    """The maximum of each window; the gradient flows to the input that was the maximum."""

    def pool(self, x, pads):
        y, self._argmax = max_pool_forward(x, *self._window(), pads)
        return y

    def unpool(self, dy, pads):
        return max_pool_backward(dy, self._argmax, self._x_shape)


class AveragePooling2D(_Pooling2D):
    """The mean of each window; the gradient is spread evenly over the window."""

    def pool(self, x, pads):
        return avg_pool_forward(x, *self._window(), pads)

    def unpool(self, dy, pads):
        return avg_pool_backward(dy, self._x_shape, *self._window(), pads)


class _GlobalPooling2D(Layer):
    """Shared by the global poolings: one value per channel, over the ``rank`` spatial axes.

    Args:
        data_format: 'channels_last' or 'channels_first'.
        keepdims: keep the spatial axes (as size 1).
    """

    rank = 2

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.keepdims = keepdims
        self._x_shape = None

    def _axes(self):
        first = 2 if self.data_format == "channels_first" else 1
        return tuple(range(first, first + self.rank))

    def compute_output_shape(self, input_shape):
        require_rank(self, input_shape, self.rank + 2)
        channels = input_shape[1] if self.data_format == "channels_first" else input_shape[-1]
        if self.keepdims:
            return image_shape(input_shape[0], (1,) * self.rank, channels, self.data_format)
        return (input_shape[0], channels)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPooling2D):
    """The mean over all positions of each channel."""

    def forward(self, x, training=False):
        self._x_shape = x.shape
        return x.mean(axis=self._axes(), keepdims=self.keepdims)

    def backward(self, dy):
        positions = math.prod(self._x_shape[a] for a in self._axes())
        dy = dy if self.keepdims else np.expand_dims(dy, self._axes())
        return np.broadcast_to(dy / positions, self._x_shape).copy()


class GlobalMaxPooling2D(_GlobalPooling2D):
    """The maximum over all positions of each channel (ties share the gradient equally)."""

    def forward(self, x, training=False):
        y = x.max(axis=self._axes(), keepdims=True)
        self._winners = x == y
        return y if self.keepdims else y.reshape(y.shape[0], -1)

    def backward(self, dy):
        dy = dy if self.keepdims else np.expand_dims(dy, self._axes())
        counts = self._winners.sum(axis=self._axes(), keepdims=True, dtype=dy.dtype)
        return self._winners * (dy / counts)


class _Pooling1D:
    """What makes a window pooling 1-D: its pool_size and strides are 1-tuples, and it pools
    (N, steps, C), or (N, C, steps), as images of height 1."""

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        name = type(self).__name__
        pool_size = standardize_tuple(pool_size, 1, "pool_size", where=name)
        strides = pool_size if strides is None else standardize_tuple(strides, 1, "strides", where=name)
        super().__init__((1,) + pool_size, (1,) + strides, padding, data_format, **kwargs)
        self.pool_size, self.strides = pool_size, strides

    def compute_output_shape(self, input_shape):
        length = output_steps(self, input_shape, self.pool_size[0], self.strides[0], 1, self.padding)
        channels = input_shape[1] if self.data_format == "channels_first" else input_shape[2]
        return from_image_shape(image_shape(input_shape[0], (1, length), channels, self.data_format), self.data_format)

    def _window(self):
        return (1,) + self.pool_size, (1,) + self.strides

    def forward(self, x, training=False):
        axis = height_axis(self.data_format)
        return super().forward(np.expand_dims(x, axis), training).squeeze(axis)

    def backward(self, dy):
        axis = height_axis(self.data_format)
        return super().backward(np.expand_dims(dy, axis)).squeeze(axis)


class MaxPooling1D(_Pooling1D, MaxPooling2D):
    """The maximum of each window of ``pool_size`` steps (2 by default)."""

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(_Pooling1D, AveragePooling2D):
    """The mean of each window of ``pool_size`` steps ('same' padding is left out of the mean)."""


class GlobalAveragePooling1D(GlobalAveragePooling2D):
    """The mean over all steps of each channel; with a mask (from an Embedding with mask_zero, a
    Masking layer), over the kept steps alone, as in Keras: ``sum_t(m_t x_t) / sum_t(m_t)``
    (NaN for a sequence with every step masked, as Keras gives). The gradient reaches the kept
    steps, ``m_t dy / sum_t(m_t)``. The output carries no mask."""

    rank = 1
    supports_masking = True
    makes_masks = False

    def forward(self, x, training=False, mask=None):
        self._kept = None
        if mask is None:
            return super().forward(x, training)
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (x.shape[0], x.shape[self._axes()[0]]):
            raise ValueError(
                f"Layer '{self.name}' (GlobalAveragePooling1D) received a mask of shape {mask.shape} for "
                f"inputs of shape {x.shape}; expected one of shape (batch, steps)."
            )
        self._x_shape = x.shape
        kept = np.expand_dims(mask, 1 if self.data_format == "channels_first" else 2).astype(x.dtype)
        steps = self._axes()[0]
        count = kept.sum(axis=steps, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            self._kept = kept / count  # m_t / sum(m): each step's share of the gradient
            total = np.where(kept > 0, x, x.dtype.type(0)).sum(axis=steps, keepdims=True)
            y = total / count
        return y if self.keepdims else y.squeeze(steps)

    def backward(self, dy):
        if self._kept is None:
            return super().backward(dy)
        dy = dy if self.keepdims else np.expand_dims(dy, self._axes())
        return dy * self._kept

    def compute_mask(self, inputs, previous_mask=None):
        return None


class GlobalMaxPooling1D(GlobalMaxPooling2D):
    """The maximum over all steps of each channel (ties share the gradient equally)."""

    rank = 1
