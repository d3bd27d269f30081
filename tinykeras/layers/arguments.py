"""Argument checking shared by the convolution and pooling layers, with Keras' error wording."""
import numpy as np

from tinykeras import backend


def standardize_tuple(value, n, name, allow_zero=False):
    """Turns an int or an iterable of n ints into a tuple of n positive ints.

    Raises:
        ValueError: "The `kernel_size` argument must be a tuple of 2 integers. Received: ..."
    """
    if isinstance(value, (int, np.integer)):
        values = (int(value),) * n
    else:
        try:
            values = tuple(int(v) for v in value)
        except (TypeError, ValueError):
            values = ()
        if len(values) != n or any(not isinstance(v, (int, np.integer)) for v in value):
            raise ValueError(
                f"The `{name}` argument must be a tuple of {n} integers. Received: {name}={value!r}"
            )
    smallest = 0 if allow_zero else 1
    if any(v < smallest for v in values):
        raise ValueError(
            f"The `{name}` argument must be a tuple of {n} integers >= {smallest}. "
            f"Received: {name}={value!r}"
        )
    return values


def standardize_padding(value):
    """'valid' or 'same' (case-insensitive)."""
    padding = value.lower() if isinstance(value, str) else value
    if padding not in ("valid", "same"):
        raise ValueError(
            f"The `padding` argument must be one of 'valid', 'same'. Received: padding={value!r}"
        )
    return padding


def standardize_data_format(value):
    """'channels_last' or 'channels_first'; None means ``backend.image_data_format()``."""
    data_format = backend.image_data_format() if value is None else str(value).lower()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            "The `data_format` argument must be one of 'channels_last', 'channels_first'. "
            f"Received: data_format={value!r}"
        )
    return data_format


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
        axes = "(batch, channels, height, width)" if channels_first else "(batch, height, width, channels)"
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
