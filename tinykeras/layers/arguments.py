"""Argument checking shared by the image layers, with Keras' error wording: window sizes,
strides, paddings and data formats. Scalar arguments (units, rate, momentum...) are checked with
``tinykeras.utils.argument_validation``, which the models and optimizers use too.
"""
import numpy as np

from tinykeras import backend
from tinykeras.utils.argument_validation import is_integer


def standardize_tuple(value, n, name, allow_zero=False, where=None):
    """Turns an int or an iterable of n ints into a tuple of n ints >= 1 (>= 0 with
    ``allow_zero``).

    Args:
        value: the argument as received, e.g. ``3`` or ``(3, 3)``.
        n: how many integers the tuple holds.
        name: the argument's name, e.g. ``'kernel_size'``.
        allow_zero: whether 0 is allowed.
        where: who received the argument, e.g. ``'Conv2D'``, for the messages.

    Raises:
        TypeError: "The `kernel_size` argument must be a tuple of 2 integers. Received: ..."
            when value or one of its entries is not an integer (a bool, a float, a string).
        ValueError: for a tuple of another length, or an integer below the smallest allowed.
    """
    prefix = f"{where}: " if where else ""
    expected = f"The `{name}` argument must be a tuple of {n} integers"
    if is_integer(value):
        values = (value,) * n
    else:
        try:
            values = None if isinstance(value, str) else tuple(value)
        except TypeError:
            values = None
        if values is None or not all(is_integer(v) for v in values):
            raise TypeError(f"{prefix}{expected} (or one integer for all {n}). "
                            f"Received: {name}={value!r}")
        if len(values) != n:
            raise ValueError(f"{prefix}{expected}. Received: {name}={value!r}")
    smallest = 0 if allow_zero else 1
    if any(v < smallest for v in values):
        raise ValueError(f"{prefix}{expected} >= {smallest}. Received: {name}={value!r}")
    return tuple(int(v) for v in values)


def standardize_shape(value, name, where, infer=False):
    """Turns a shape argument (``input_shape``, ``noise_shape``, ``target_shape``) into a tuple
    of sizes >= 1 and, for sizes taken from the data, None; with ``infer``, instead of None, at
    most one -1 for the size to infer (Reshape).

    Args:
        value: the argument as received, e.g. ``(28, 28, 1)``.
        name: the argument's name.
        where: who received it, e.g. ``'Dense'``, for the messages.
        infer: whether the shape may hold one -1 (and no None).

    Raises:
        TypeError: when value is not a tuple or list of integers (and None).
        ValueError: for a size below 1 (other than the -1 allowed).
    """
    special = "-1 for the one size to infer" if infer else "None for a size taken from the data"
    try:
        entries = None if isinstance(value, str) else tuple(value)
    except TypeError:
        entries = None
    if entries is None or not all(is_integer(d) or (d is None and not infer) for d in entries):
        raise TypeError(f"{where}: {name} must be a tuple of integers ({special}), e.g. "
                        f"{name}=(28, 28, 1). Received: {name}={value!r}")
    allowed = [-1] if infer else [None]
    if any(d not in allowed and d < 1 for d in entries) or (infer and entries.count(-1) > 1):
        raise ValueError(f"{where}: {name} must hold sizes >= 1, or {special}. "
                         f"Received: {name}={value!r}")
    return tuple(None if d is None else int(d) for d in entries)


def standardize_margins(value, name, where):
    """ZeroPadding2D's ``padding`` or Cropping2D's ``cropping`` as ((top, bottom), (left, right))
    of non-negative ints: from an int (all sides), (rows, cols) (each on both sides), or
    ((top, bottom), (left, right)).

    Raises:
        TypeError: when a size is not an integer; ValueError: for another structure or a
            negative size.
    """
    expected = (f"`{name}` should be an int, a tuple of 2 ints, or a tuple of 2 tuples of 2 "
                f"non-negative ints. Received: {name}={value!r}")
    if is_integer(value):
        pairs = ((value, value), (value, value))
    elif not isinstance(value, (tuple, list)):
        raise TypeError(f"{where}: {expected}")
    elif len(value) != 2:
        raise ValueError(f"{where}: {expected}")
    elif all(is_integer(v) for v in value):
        pairs = ((value[0], value[0]), (value[1], value[1]))
    else:
        pairs = tuple(standardize_tuple(v, 2, name, allow_zero=True, where=where) for v in value)
    if any(v < 0 for pair in pairs for v in pair):
        raise ValueError(f"{where}: {expected}")
    return tuple(tuple(int(v) for v in pair) for pair in pairs)


def standardize_padding(value):
    """'valid' or 'same' (case-insensitive)."""
    padding = value.lower() if isinstance(value, str) else value
    if padding not in ("valid", "same"):
        raise ValueError(
            f"The `padding` argument must be one of 'valid', 'same'. Received: padding={value!r}"
        )
    return padding


standardize_data_format = backend.standardize_data_format


def to_channels_last(x, data_format):
    """(N, C, H, W) -> contiguous (N, H, W, C) for channels_first; x itself otherwise."""
    if data_format == "channels_first":
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    return x


def from_channels_last(x, data_format):
    """(N, H, W, C) -> (N, C, H, W) for channels_first; x itself otherwise."""
    if data_format == "channels_first":
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x


def height_axis(data_format):
    """Where a batch of sequences, (N, steps, C) or (N, C, steps), takes a height axis of 1 to
    become a batch of images: the 1-D layers compute as their 2-D counterparts on it."""
    return 2 if data_format == "channels_first" else 1


def as_image_shape(shape, data_format):
    """A sequence batch's shape with the height axis of 1 inserted (see ``height_axis``)."""
    axis = height_axis(data_format)
    return tuple(shape[:axis]) + (1,) + tuple(shape[axis:])


def from_image_shape(shape, data_format):
    """The inverse of ``as_image_shape``."""
    axis = height_axis(data_format)
    return tuple(shape[:axis]) + tuple(shape[axis + 1 :])


def spatial_shape(input_shape, data_format):
    """((H, W), C) of a 4-D shape in either format."""
    if data_format == "channels_first":
        return tuple(input_shape[2:4]), input_shape[1]
    return tuple(input_shape[1:3]), input_shape[3]


def image_shape(batch, spatial, channels, data_format):
    """The 4-D shape for (H, W) and C in the given format."""
    if data_format == "channels_first":
        return (batch, channels) + tuple(spatial)
    return (batch,) + tuple(spatial) + (channels,)


def require_rank(layer, input_shape, rank=4):
    """Raises a ValueError naming the layer if the input is not ``rank``-D."""
    if len(input_shape) != rank:
        channels_first = getattr(layer, "data_format", None) == "channels_first"
        spatial = {3: "steps", 4: "height, width"}.get(rank, "...")
        axes = f"(batch, channels, {spatial})" if channels_first else f"(batch, {spatial}, channels)"
        example = "x.reshape(-1, 1, 28, 28)" if channels_first else "x.reshape(-1, 28, 28, 1)"
        hint = ""
        if rank == 4 and len(input_shape) == 3:
            hint = f" Add a channel axis, e.g. {example} for grayscale images."
        elif rank == 4 and len(input_shape) == 2:
            hint = f" Images flattened to vectors must be reshaped, e.g. {example}."
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) expects {rank}-D inputs "
            f"{axes}; received input_shape={tuple(input_shape)}.{hint}"
        )


def known_channels(layer, input_shape, channels):
    """``channels``, the channel count read from ``input_shape``; a ValueError naming the layer
    when it is unknown (None)."""
    if channels is None:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) needs the channel axis of its input to be known. "
            f"Received input_shape={tuple(input_shape)}."
        )
    return channels
