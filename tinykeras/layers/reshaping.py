"""Layers that move values without arithmetic: Permute, RepeatVector, Cropping1D/2D,
UpSampling1D/2D (ZeroPadding1D/2D are beside the convolutions).

Each backward is the adjoint of its forward: the inverse permutation, a sum over the copies,
zeros around the cropped window (``pad``, the adjoint of ``crop``), a sum over each upsampled
block.
"""
import numpy as np

from tinykeras.layers.arguments import (
    image_shape,
    require_rank,
    spatial_shape,
    standardize_data_format,
    standardize_margins,
    standardize_tuple,
)
from tinykeras.layers.base import Layer
from tinykeras.utils.argument_validation import check_int, is_integer


def crop(x, axes, margins):
    """x without ``margins[i] = (before, after)`` entries at the ends of each axis ``axes[i]``."""
    index = [slice(None)] * x.ndim
    for axis, (before, after) in zip(axes, margins):
        index[axis] = slice(before, x.shape[axis] - after)
    return x[tuple(index)]


def pad(x, axes, margins):
    """x with ``margins[i] = (before, after)`` zeros added at the ends of each axis ``axes[i]``
    (the adjoint of ``crop``)."""
    widths = [(0, 0)] * x.ndim
    for axis, pair in zip(axes, margins):
        widths[axis] = tuple(pair)
    return np.pad(x, widths)


def _spatial_axes(data_format):
    """The (height, width) axes of a 4-D batch."""
    return (2, 3) if data_format == "channels_first" else (1, 2)


class Permute(Layer):
    """Permutes the axes of each sample: ``Permute((2, 1))`` swaps the two axes of (N, a, b).

    Args:
        dims: a permutation of 1..k (axis 0 is the batch, never moved).
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        entries = tuple(dims) if isinstance(dims, (tuple, list)) else None
        if entries is None or not all(is_integer(d) for d in entries):
            raise TypeError(f"Permute: `dims` must be a tuple of integers, e.g. dims=(2, 1). Received: dims={dims!r}")
        if sorted(entries) != list(range(1, len(entries) + 1)):
            raise ValueError(
                "Permute: `dims` must be a permutation of 1, 2, ..., k (axis 0, the batch, stays "
                f"first), e.g. dims=(2, 1). Received: dims={dims!r}"
            )
        self.dims = tuple(int(d) for d in entries)

    def build(self, input_shape):
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(
                f"Layer '{self.name}' (Permute) with dims={self.dims} expects {len(self.dims) + 1}-D "
                f"inputs; received input_shape={tuple(input_shape)}."
            )

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def forward(self, x, training=False):
        return x.transpose((0,) + self.dims)

    def backward(self, dy):
        return dy.transpose(np.argsort((0,) + self.dims))

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}


class RepeatVector(Layer):
    """Repeats each sample ``n`` times along a new axis: (N, F) -> (N, n, F).

    Args:
        n: the number of copies.
    """

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = check_int(n, "n", "RepeatVector", minimum=1)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                f"Layer '{self.name}' (RepeatVector) expects 2-D inputs (batch, features); "
                f"received input_shape={tuple(input_shape)}. Flatten the input first."
            )

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def forward(self, x, training=False):
        return np.repeat(x[:, None, :], self.n, axis=1)

    def backward(self, dy):
        return dy.sum(axis=1)

    def get_config(self):
        return {**super().get_config(), "n": self.n}


class Cropping2D(Layer):
    """Removes rows and columns at the borders of each image.

    Args:
        cropping: an int (all sides), (rows, cols) (each on both sides), or
            ((top, bottom), (left, right)).
        data_format: 'channels_last' or 'channels_first'.
    """

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = standardize_margins(cropping, "cropping", "Cropping2D")
        self.data_format = standardize_data_format(data_format)

    def compute_output_shape(self, input_shape):
        require_rank(self, input_shape)
        spatial, channels = spatial_shape(input_shape, self.data_format)
        kept = []
        for size, (before, after) in zip(spatial, self.cropping):
            if size is not None and before + after >= size:
                raise ValueError(
                    f"Layer '{self.name}' (Cropping2D) with cropping={self.cropping} would leave "
                    f"nothing of an input of spatial size {tuple(spatial)} (input_shape="
                    f"{tuple(input_shape)}). Crop fewer rows or columns than the image has."
                )
            kept.append(None if size is None else size - before - after)
        return image_shape(input_shape[0], kept, channels, self.data_format)

    def forward(self, x, training=False):
        return crop(x, _spatial_axes(self.data_format), self.cropping)

    def backward(self, dy):
        return pad(dy, _spatial_axes(self.data_format), self.cropping)

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping, "data_format": self.data_format}


class Cropping1D(Layer):
    """Removes steps at the start and the end of each sequence (batch, steps, features).

    Args:
        cropping: an int (both ends) or (start, end).
    """

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = standardize_tuple(cropping, 2, "cropping", where="Cropping1D", allow_zero=True)

    def compute_output_shape(self, input_shape):
        require_rank(self, input_shape, 3)
        steps = input_shape[1]
        if steps is not None and sum(self.cropping) >= steps:
            raise ValueError(
                "`cropping` parameter of `Cropping1D` layer must be smaller than the input length. "
                f"Received: input_shape={tuple(input_shape)}, cropping={self.cropping}"
            )
        return (input_shape[0], None if steps is None else steps - sum(self.cropping), input_shape[2])

    def forward(self, x, training=False):
        return crop(x, (1,), (self.cropping,))

    def backward(self, dy):
        return pad(dy, (1,), (self.cropping,))

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping}


_INTERPOLATIONS = ("bicubic", "bilinear", "lanczos3", "lanczos5", "nearest")


class UpSampling1D(Layer):
    """Repeats each step ``size`` times along the steps axis of (batch, steps, features).

    Args:
        size: the upsampling factor, a positive int.
    """

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        if not is_integer(size):
            raise TypeError(f"Expected an integer value for `size`, got {type(size)}.")
        if size <= 0:
            raise ValueError(f"Argument `size` should be a positive integer. Received: size={size}")
        self.size = int(size)

    def compute_output_shape(self, input_shape):
        require_rank(self, input_shape, 3)
        return (input_shape[0], None if input_shape[1] is None else input_shape[1] * self.size, input_shape[2])

    def forward(self, x, training=False):
        return x.repeat(self.size, axis=1)

    def backward(self, dy):
        # Each step was copied size times: its gradient is the sum over its copies.
        return dy.reshape(dy.shape[0], dy.shape[1] // self.size, self.size, dy.shape[2]).sum(axis=2)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


class UpSampling2D(Layer):
    """Repeats each row ``size[0]`` times and each column ``size[1]`` times (nearest-neighbour
    upsampling).

    Args:
        size: an int or (rows, cols): the upsampling factors.
        data_format: 'channels_last' or 'channels_first'.
        interpolation: 'nearest' (the only one tinykeras implements).
    """

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = standardize_tuple(size, 2, "size", where="UpSampling2D")
        self.data_format = standardize_data_format(data_format)
        if interpolation != "nearest":
            known = interpolation in _INTERPOLATIONS
            raise ValueError(
                f"UpSampling2D: interpolation={interpolation!r} is "
                + ("not implemented by tinykeras" if known else f"not one of Keras' {_INTERPOLATIONS}")
                + "; only interpolation='nearest' is. Use UpSampling2D(size, interpolation='nearest')."
            )
        self.interpolation = interpolation

    def compute_output_shape(self, input_shape):
        require_rank(self, input_shape)
        spatial, channels = spatial_shape(input_shape, self.data_format)
        grown = [None if n is None else n * s for n, s in zip(spatial, self.size)]
        return image_shape(input_shape[0], grown, channels, self.data_format)

    def forward(self, x, training=False):
        rows, cols = _spatial_axes(self.data_format)
        return x.repeat(self.size[0], axis=rows).repeat(self.size[1], axis=cols)

    def backward(self, dy):
        # Each input pixel was copied into a size[0] x size[1] block: its gradient is the block's sum.
        rows, cols = _spatial_axes(self.data_format)
        shape = list(dy.shape)
        shape[cols:cols + 1] = [dy.shape[cols] // self.size[1], self.size[1]]
        shape[rows:rows + 1] = [dy.shape[rows] // self.size[0], self.size[0]]
        return dy.reshape(shape).sum(axis=(rows + 1, cols + 2))

    def get_config(self):
        return {
            **super().get_config(),
            "size": self.size,
            "data_format": self.data_format,
            "interpolation": self.interpolation,
        }
