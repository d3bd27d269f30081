"""Keras 3's image preprocessing layers: Rescaling, Normalization, Resizing, CenterCrop, and the
augmentation layers RandomFlip, RandomRotation, RandomZoom, RandomTranslation.

Each is linear in its input once its draws are fixed, so each backward applies the transpose of
its forward: a scale, a slice's zero padding, the transposed interpolation matrices of a resize,
the same flips, or the affine sampling's scatter (``kernels.augment.tap_transform_backward``).
The layers can therefore sit anywhere in a model.

The image layers take a batch (rank 4) or, called directly, one image (rank 3), in either
data_format. The random layers transform only in training (inside ``fit``, or called directly,
where Keras' ``training`` defaults to True for them); ``predict`` and ``evaluate`` pass the
input through unchanged.
"""
import numbers

import numpy as np

from tinykeras import backend
from tinykeras.kernels.augment import tap_transform, tap_transform_backward
from tinykeras.layers.arguments import (
    from_channels_last,
    image_shape,
    require_rank,
    spatial_shape,
    standardize_data_format,
    to_channels_last,
)
from tinykeras.layers.base import Layer
from tinykeras.utils.argument_validation import check_bool, check_int, check_number, check_optional_int, is_number

#: Keras' interpolations for Resizing; tinykeras computes the first two.
RESIZE_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5")
#: The fill modes and interpolations of RandomRotation, RandomZoom and RandomTranslation.
AFFINE_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
AFFINE_INTERPOLATIONS = ("nearest", "bilinear")


class Rescaling(Layer):
    """Multiplies every value by ``scale`` and adds ``offset``: ``Rescaling(1 / 255)`` maps
    pixels in [0, 255] to [0, 1], ``Rescaling(1 / 127.5, offset=-1)`` to [-1, 1].

    Args:
        scale: a number (or an array broadcast against the input; under the channels_first
            image format a vector of one value per channel).
        offset: a number (or an array), added after the scaling.
    """

    supports_masking = True  # passes its input's mask on, as in Keras

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = _number_or_array(scale, "scale")
        self.offset = _number_or_array(offset, "offset")

    def _broadcast(self, value):
        # Keras reshapes a per-channel array to (C, 1, 1) under the channels_first format.
        value = np.asarray(value)
        if value.ndim and backend.image_data_format() == "channels_first":
            value = value.reshape(value.shape + (1,) * (3 - value.ndim))
        return value

    def forward(self, x, training=False):
        return (x * self._broadcast(self.scale) + self._broadcast(self.offset)).astype(x.dtype, copy=False)

    def backward(self, dy):
        scale = self._broadcast(self.scale)
        dx = dy * scale
        if dx.shape != dy.shape:  # a scale of more dimensions than one sample: sum what it added
            dx = dx.sum(axis=tuple(range(dx.ndim - dy.ndim)))
        return dx.astype(dy.dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "scale": _plain(self.scale), "offset": _plain(self.offset)}


def _number_or_array(value, name):
    if is_number(value):
        return float(value)
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"Rescaling: {name} must be a number or an array of numbers. Received: {name}={value!r}")
    return array.astype(np.float64)


def _plain(value):
    return value.tolist() if isinstance(value, np.ndarray) else value


class Normalization(Layer):
    """Shifts and scales each feature to zero mean and unit variance: ``(x - mean) /
    max(sqrt(variance), epsilon)`` (``invert=True``: ``mean + x * max(sqrt(variance), epsilon)``).

    The mean and variance are given, or learned by ``adapt(data)``. Until then the layer holds
    mean 0 and variance 1 and passes its input through, as Keras' does.

    Args:
        axis: the axis (or tuple of axes) with one mean and variance per index; None for a
            single mean and variance over everything.
        mean, variance: the statistics, broadcast to the kept axes' shape (given together). The
            layer then has no variables; otherwise it has 'mean', 'variance' and 'count' (Keras'
            non-trainable variables, in that order, 'count' an int32 kept for Keras' files).
        invert: apply the inverse map (turn normalized values back into data).
    """

    supports_masking = True  # passes its input's mask on, as in Keras

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
            axis = (int(axis),)
        elif isinstance(axis, (tuple, list)) and all(isinstance(a, numbers.Integral) for a in axis):
            axis = tuple(int(a) for a in axis)
        else:
            raise TypeError(
                f"Normalization: axis must be an integer, a tuple of integers or None. Received: axis={axis!r}"
            )
        self.axis = axis
        if (mean is None) != (variance is None):
            raise ValueError(
                "Normalization: when setting values directly, both `mean` and `variance` must be set. "
                f"Received: mean={mean} and variance={variance}"
            )
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ValueError(
                    "Normalization: `mean` and `variance` must have the same shape. Received: mean shape "
                    f"{np.shape(mean)} and variance shape {np.shape(variance)}"
                )
            if len(np.shape(mean)) > len(self.axis):
                raise ValueError(
                    f"Normalization: the rank of `mean` must be at most the number of axes ({len(self.axis)}). "
                    f"Received: mean shape {np.shape(mean)} for axis={self.axis}"
                )
        self.input_mean = mean
        self.input_variance = variance
        self.invert = check_bool(invert, "invert", "Normalization")
        self._keep_axis = self._reduce_axis = self._broadcast_shape = None
        self._build_shape = None
        self._given = None  # (mean, variance) broadcast, when given in the constructor

    def build(self, input_shape):
        ndim = len(input_shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError(
                f"Layer '{self.name}' (Normalization): all `axis` values must be in [-{ndim}, {ndim}) for "
                f"inputs of shape {tuple(input_shape)}. Received: axis={self.axis}"
            )
        keep = tuple(sorted(a % ndim for a in self.axis))
        unknown = [a for a in keep if input_shape[a] is None]
        if unknown:
            raise ValueError(
                f"Layer '{self.name}' (Normalization): the kept axes {self.axis} must have known sizes. "
                f"Received input_shape={tuple(input_shape)}, unknown axis {unknown[0]}."
            )
        self._build_shape = tuple(input_shape)
        self._keep_axis = keep
        self._reduce_axis = tuple(a for a in range(ndim) if a not in keep)
        self._broadcast_shape = tuple(input_shape[a] if a in keep else 1 for a in range(ndim))
        shape = tuple(input_shape[a] for a in keep)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight("mean", shape, "zeros", False)
            self.adapt_variance = self.add_weight("variance", shape, "ones", False)
            self.count = self.add_weight("count", (), "zeros", False, "int32")
            return
        mean, variance = np.asarray(self.input_mean, np.float64), np.asarray(self.input_variance, np.float64)
        if mean.ndim:  # align the given values with the kept axes, from the right
            expanded = [1] * ndim
            for i in range(1, mean.ndim + 1):
                expanded[keep[-i]] = mean.shape[-i]
            try:
                mean = np.broadcast_to(mean.reshape(expanded), self._broadcast_shape)
                variance = np.broadcast_to(variance.reshape(expanded), self._broadcast_shape)
            except ValueError:
                raise ValueError(
                    f"Layer '{self.name}' (Normalization): mean of shape {np.shape(self.input_mean)} cannot "
                    f"be broadcast to the kept axes' shape {shape} (axis={self.axis})."
                ) from None
        self._given = (np.broadcast_to(mean, self._broadcast_shape), np.broadcast_to(variance, self._broadcast_shape))

    def _statistics(self, dtype):
        """(mean, max(sqrt(variance), epsilon)) in the input's broadcast shape and dtype."""
        if self._given is not None:
            mean, variance = self._given
        else:
            mean = self.adapt_mean.value.reshape(self._broadcast_shape)
            variance = self.adapt_variance.value.reshape(self._broadcast_shape)
        mean, variance = mean.astype(dtype), variance.astype(dtype)
        return mean, np.maximum(np.sqrt(variance), np.asarray(backend.epsilon(), dtype))

    def forward(self, x, training=False):
        mean, scale = self._statistics(x.dtype)
        return mean + x * scale if self.invert else (x - mean) / scale

    def backward(self, dy):
        _, scale = self._statistics(dy.dtype)
        return dy * scale if self.invert else dy / scale

    def adapt(self, data, batch_size=None, steps=None):
        """Computes the mean and variance of ``data`` over the reduced axes and stores them.

        Args:
            data: an array (all of it at once, or in batches of ``batch_size``), or a sequence
                (``len`` and indexing, e.g. a ``PyDataset``) or iterable of batches; a batch
                that is a tuple ``(x, y, ...)`` contributes its x.
            batch_size: for an array, the batch size to read it in (the statistics are the
                same up to rounding).
            steps: read at most this many batches.

        Batches are merged as Keras merges them: the running mean weighted by counts, and the
        variance by the lack-of-fit sum of squares.
        """
        if self.input_mean is not None:
            raise ValueError(
                f"Layer '{self.name}' (Normalization) was given its mean and variance in the constructor; "
                "adapt() would have nothing to set. Create it without mean and variance to adapt it."
            )
        batch_size = check_optional_int(batch_size, "batch_size", "Normalization.adapt", minimum=1)
        steps = check_optional_int(steps, "steps", "Normalization.adapt", minimum=1)
        batches = iter(_adapt_batches(data, batch_size))
        first = next(batches, None)
        if first is None:
            raise ValueError(
                "Normalization.adapt() received no batches. Pass an array or a non-empty iterable of them."
            )
        shape = (None,) + first.shape[1:] if first.ndim else first.shape
        if not self.built:
            self.build_for(shape)
        total_mean = total_var = None
        total_count = 0
        for step, batch in enumerate(_chain(first, batches)):
            if steps is not None and step >= steps:
                break
            self._check_adapt_shape(batch)
            batch_mean = batch.mean(axis=self._reduce_axis)
            batch_var = batch.var(axis=self._reduce_axis)
            batch_count = int(np.prod([batch.shape[a] for a in self._reduce_axis]))
            if total_mean is None:
                total_mean, total_var, total_count = batch_mean, batch_var, batch_count
                continue
            total_count += batch_count
            weight = batch_count / total_count
            new_mean = total_mean * (1 - weight) + batch_mean * weight
            total_var = (total_var + (total_mean - new_mean) ** 2) * (1 - weight) + (
                batch_var + (batch_mean - new_mean) ** 2
            ) * weight
            total_mean = new_mean
        self.adapt_mean.assign(np.reshape(total_mean, self.adapt_mean.shape))
        self.adapt_variance.assign(np.reshape(total_var, self.adapt_variance.shape))

    def _check_adapt_shape(self, batch):
        if batch.ndim != len(self._build_shape) or any(
            batch.shape[a] != self._build_shape[a] for a in self._keep_axis
        ):
            raise ValueError(
                f"Layer '{self.name}' (Normalization) was built for inputs of shape {self._build_shape}; "
                f"adapt() received a batch of shape {batch.shape}. Adapt on data of the layer's input shape."
            )

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "invert": self.invert,
            "mean": np.array(self.input_mean).tolist(),
            "variance": np.array(self.input_variance).tolist(),
        }


def _adapt_batches(data, batch_size):
    """The batches of adapt's data, as float64 arrays."""
    if isinstance(data, np.ndarray) and (data.ndim == 0 or batch_size is None):
        arrays = [data]
    elif isinstance(data, np.ndarray):
        arrays = (data[i : i + batch_size] for i in range(0, len(data), batch_size))
    elif hasattr(data, "__len__") and hasattr(data, "__getitem__") and not isinstance(data, (list, tuple)):
        arrays = (data[i] for i in range(len(data)))
    elif hasattr(data, "__iter__"):
        arrays = iter(data)
    else:
        raise TypeError(
            f"Normalization.adapt: unsupported data of type {type(data).__name__}. Pass an array, a "
            "sequence of batches (a PyDataset) or an iterable of batches (a list, a generator)."
        )
    for batch in arrays:
        batch = batch[0] if isinstance(batch, tuple) else batch
        array = np.asarray(batch)
        if array.dtype.kind not in "iuf":
            raise TypeError(f"Normalization.adapt: batches must hold numbers; received dtype {array.dtype}.")
        yield array.astype(np.float64)


def _chain(first, rest):
    yield first
    yield from rest


# ---- resizing --------------------------------------------------------------------------------


def resize_matrix(in_size, out_size, interpolation="bilinear", antialias=False):
    """The (out_size, in_size) matrix of a resize along one axis, as ``jax.image.resize``
    computes it: row i holds the weights of output pixel i over the input pixels.

    'nearest' takes input pixel floor((i + 0.5) * in / out) (in float32, as JAX). 'bilinear'
    samples at the half-pixel-centred point ``s_i = (i + 0.5) * in / out - 0.5`` with the
    triangle kernel ``max(0, 1 - |s_i - k| / kernel_scale)`` over input pixels k, kernel_scale
    being ``max(in / out, 1)`` with ``antialias`` (a wider, low-pass kernel when downscaling)
    and 1 without; each row is normalized to sum 1, and a point beyond the half-pixel border
    gets no weight. Equal sizes give the identity (JAX leaves such an axis alone).
    """
    if in_size == out_size:
        return np.eye(out_size)
    if interpolation == "nearest":
        offsets = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * np.float32(in_size) / np.float32(out_size)
        matrix = np.zeros((out_size, in_size))
        matrix[np.arange(out_size), np.minimum(np.floor(offsets).astype(np.int64), in_size - 1)] = 1.0
        return matrix
    inverse = in_size / out_size
    kernel_scale = max(inverse, 1.0) if antialias else 1.0
    sample = (np.arange(out_size) + 0.5) * inverse - 0.5
    weights = np.maximum(0.0, 1.0 - np.abs(sample[:, None] - np.arange(in_size)[None, :]) / kernel_scale)
    total = weights.sum(axis=1, keepdims=True)
    weights = np.where(np.abs(total) > 1000 * np.finfo(np.float32).eps, weights / np.where(total != 0, total, 1), 0.0)
    inside = (sample >= -0.5) & (sample <= in_size - 0.5)
    return weights * inside[:, None]


class _Resize:
    """A resize of (H, W) images to (height, width): an optional centred crop or padding to the
    target's aspect ratio (Keras' arithmetic), then one matrix per axis. Linear in the images
    (the padding value aside), with ``backward`` its transpose."""

    def __init__(self, in_size, out_size, interpolation, antialias, crop, pad, fill_value):
        (H, W), (height, width) = in_size, out_size
        self.window = ((0, H), (0, W))  # the rows and columns kept
        self.padding = ((0, 0), (0, 0))
        if crop:
            crop_h = max(min(H, int(float(W * height) / width)), 1)
            crop_w = max(min(W, int(float(H * width) / height)), 1)
            top, left = int(float(H - crop_h) / 2), int(float(W - crop_w) / 2)
            self.window = ((top, top + crop_h), (left, left + crop_w))
        elif pad:
            pad_h = max(H, int(float(W * height) / width))
            pad_w = max(W, int(float(H * width) / height))
            top, left = int(float(pad_h - H) / 2), int(float(pad_w - W) / 2)
            # Keras pads the rows when they need it, else the columns, by the same amount on each side.
            self.padding = ((top, top), (0, 0)) if top > 0 else ((0, 0), (left, left)) if left > 0 else self.padding
        self.fill_value = fill_value
        rows = self.window[0][1] - self.window[0][0] + sum(self.padding[0])
        cols = self.window[1][1] - self.window[1][0] + sum(self.padding[1])
        self.rows = resize_matrix(rows, height, interpolation, antialias)
        self.cols = resize_matrix(cols, width, interpolation, antialias)

    def forward(self, x):
        """x: (N, H, W, C) -> (N, height, width, C)."""
        (top, bottom), (left, right) = self.window
        x = x[:, top:bottom, left:right]
        if any(self.padding[0] + self.padding[1]):
            x = np.pad(x, ((0, 0), *self.padding, (0, 0)), constant_values=self.fill_value)
        return self._apply(x, self.rows.astype(x.dtype), self.cols.astype(x.dtype))

    def backward(self, dy, in_shape):
        dx = self._apply(dy, self.rows.T.astype(dy.dtype), self.cols.T.astype(dy.dtype))
        (pt, pb), (pl, pr) = self.padding
        dx = dx[:, pt : dx.shape[1] - pb, pl : dx.shape[2] - pr]
        (top, bottom), (left, right) = self.window
        full = np.zeros(in_shape, dtype=dy.dtype)
        full[:, top:bottom, left:right] = dx
        return full

    @staticmethod
    def _apply(x, rows, cols):
        """rows (R, H) and cols (S, W) applied to x (N, H, W, C): (N, R, S, C), as two products."""
        N, H, W, C = x.shape
        y = np.matmul(rows, x.reshape(N, H, W * C)).reshape(N * rows.shape[0], W, C)
        return np.matmul(cols, y).reshape(N, rows.shape[0], cols.shape[0], C)


class _ImageLayer(Layer):
    """An image layer: batches (N, H, W, C) or (N, C, H, W) by data_format, converted to
    channels_last for the computation; one image (rank 3) when called directly."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)

    def __call__(self, x, training=False):
        if isinstance(x, np.ndarray) and x.ndim == 3:  # one image (a symbolic tensor is always a batch)
            return super().__call__(x[None], training=training)[0]
        return super().__call__(x, training=training)

    def compute_output_shape(self, input_shape):
        require_rank(self, input_shape)
        return tuple(input_shape)

    def _spatial(self, input_shape):
        return spatial_shape(input_shape, self.data_format)


class Resizing(_ImageLayer):
    """Resizes images to (height, width), as Keras 3 does on JAX (``jax.image.resize``: half-pixel
    centres; ``antialias=False`` by default, as Keras, so downscaling samples without a low-pass
    filter; ``antialias=True`` widens the kernel by the downscaling factor).

    Args:
        height, width: the output size.
        interpolation: 'bilinear' or 'nearest' (Keras' 'bicubic', 'lanczos3' and 'lanczos5' are
            refused: tinykeras does not compute them).
        crop_to_aspect_ratio: first crop the largest centred window of the target's aspect ratio.
        pad_to_aspect_ratio: first pad (with fill_value) to the target's aspect ratio.
        fill_mode: 'constant' (the only one Keras supports).
        fill_value: the padding's value.
        antialias: low-pass filter when downscaling.
        data_format: 'channels_last' or 'channels_first'.
    """

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False, pad_to_aspect_ratio=False,
                 fill_mode="constant", fill_value=0.0, antialias=False, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.height = check_int(height, "height", "Resizing", minimum=1)
        self.width = check_int(width, "width", "Resizing", minimum=1)
        if interpolation not in RESIZE_INTERPOLATIONS[:2]:
            known = interpolation in RESIZE_INTERPOLATIONS
            raise ValueError(
                f"Resizing: interpolation={interpolation!r} is "
                + ("not implemented by tinykeras" if known else f"not one of Keras' {RESIZE_INTERPOLATIONS}")
                + "; use interpolation='bilinear' or 'nearest'."
            )
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = check_bool(crop_to_aspect_ratio, "crop_to_aspect_ratio", "Resizing")
        self.pad_to_aspect_ratio = check_bool(pad_to_aspect_ratio, "pad_to_aspect_ratio", "Resizing")
        if self.crop_to_aspect_ratio and self.pad_to_aspect_ratio:
            raise ValueError("Resizing: only one of crop_to_aspect_ratio and pad_to_aspect_ratio can be True.")
        if fill_mode != "constant":
            raise ValueError(
                "Resizing: fill_mode must be 'constant' (the only one Keras supports). "
                f"Received: fill_mode={fill_mode!r}"
            )
        self.fill_mode = fill_mode
        self.fill_value = check_number(fill_value, "fill_value", "Resizing")
        self.antialias = check_bool(antialias, "antialias", "Resizing")
        self._plan = self._cache = None

    def compute_output_shape(self, input_shape):
        require_rank(self, input_shape)
        _, channels = self._spatial(input_shape)
        return image_shape(input_shape[0], (self.height, self.width), channels, self.data_format)

    def _resize_for(self, size):
        if self._plan is None or self._plan[0] != size:
            resize = _Resize(size, (self.height, self.width), self.interpolation, self.antialias,
                             self.crop_to_aspect_ratio, self.pad_to_aspect_ratio, self.fill_value)
            self._plan = (size, resize)
        return self._plan[1]

    def forward(self, x, training=False):
        x = to_channels_last(x, self.data_format)
        resize = self._resize_for(x.shape[1:3])
        self._cache = x.shape
        return from_channels_last(resize.forward(x), self.data_format)

    def backward(self, dy):
        dy = to_channels_last(dy, self.data_format)
        return from_channels_last(self._plan[1].backward(dy, self._cache), self.data_format)

    def get_config(self):
        return {
            **super().get_config(),
            "data_format": self.data_format,
            "height": self.height,
            "width": self.width,
            "interpolation": self.interpolation,
            "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
            "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "antialias": self.antialias,
        }


class CenterCrop(Resizing):
    """Crops the centred (height, width) window of each image; an image smaller than that along
    either axis is instead cropped to the target's aspect ratio and resized (bilinear), as Keras'
    ``smart_resize``.

    Args:
        height, width: the output size.
        data_format: 'channels_last' or 'channels_first'.
    """

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(height, width, crop_to_aspect_ratio=True, data_format=data_format, **kwargs)

    def _resize_for(self, size):
        H, W = size
        if H < self.height or W < self.width:
            return super()._resize_for(size)
        if self._plan is None or self._plan[0] != size:
            top, left = (H - self.height) // 2, (W - self.width) // 2
            self._plan = (size, _Crop(top, left, self.height, self.width))
        return self._plan[1]

    def get_config(self):
        config = Layer.get_config(self)
        return {**config, "data_format": self.data_format, "height": self.height, "width": self.width}


class _Crop:
    """A centred crop: a slice, and zeros around the gradient."""

    def __init__(self, top, left, height, width):
        self.rows, self.cols = slice(top, top + height), slice(left, left + width)

    def forward(self, x):
        return x[:, self.rows, self.cols]

    def backward(self, dy, in_shape):
        dx = np.zeros(in_shape, dtype=dy.dtype)
        dx[:, self.rows, self.cols] = dy
        return dx


# ---- random augmentation ---------------------------------------------------------------------


class _RandomImageLayer(_ImageLayer):
    """An augmentation layer: in training each image gets its own draw; otherwise the layer
    passes its input through. The draws come from the layer's own generator when seeded, else
    from ``backend.rng()`` (``utils.set_random_seed`` makes them repeatable)."""

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.seed = check_optional_int(seed, "seed", type(self).__name__, minimum=0)
        self._rng = None if seed is None else np.random.default_rng(seed)
        self._cache = None

    def __call__(self, x, training=True):
        # Keras' augmentation layers take training=True when called directly.
        return super().__call__(x, training=training)

    def _generator(self):
        return self._rng or backend.rng()

    def forward(self, x, training=False):
        if not training:
            self._cache = None
            return x
        x = to_channels_last(x, self.data_format)
        y, self._cache = self._augment(x)
        return from_channels_last(y, self.data_format)

    def backward(self, dy):
        if self._cache is None:
            return dy
        dy = to_channels_last(dy, self.data_format)
        return from_channels_last(self._augment_backward(dy, self._cache), self.data_format)


class RandomFlip(_RandomImageLayer):
    """Flips each image with probability 1/2 in training: left-right ('horizontal'), upside
    down ('vertical'), or, for 'horizontal_and_vertical', both at once on one draw (Keras 3 flips
    both axes of an image together).

    Args:
        mode: 'horizontal', 'vertical' or 'horizontal_and_vertical'.
        seed: optional integer for a repeatable sequence of draws.
        data_format: 'channels_last' or 'channels_first'.
    """

    MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if mode not in self.MODES:
            raise ValueError(f"RandomFlip: mode must be one of {self.MODES}. Received: mode={mode!r}")
        self.mode = mode

    def _augment(self, x):
        flips = self._generator().uniform(size=len(x)) <= 0.5
        return self._flip(x, flips), flips

    def _augment_backward(self, dy, flips):
        return self._flip(dy, flips)  # a flip is its own transpose

    def _flip(self, x, flips):
        y = x.copy()
        if self.mode != "vertical":
            y[flips] = y[flips][:, :, ::-1]
        if self.mode != "horizontal":
            y[flips] = y[flips][:, ::-1]
        return y

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "seed": self.seed, "mode": self.mode}


class _AffineLayer(_RandomImageLayer):
    """An augmentation by a random affine map per image, sampled as Keras 3 samples it
    (``kernels.augment.tap_transform``)."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        where = type(self).__name__
        if fill_mode not in AFFINE_FILL_MODES:
            raise ValueError(f"{where}: unknown fill_mode {fill_mode!r}. Expected one of {AFFINE_FILL_MODES}.")
        if interpolation not in AFFINE_INTERPOLATIONS:
            raise ValueError(
                f"{where}: unknown interpolation {interpolation!r}. Expected one of {AFFINE_INTERPOLATIONS}."
            )
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.fill_value = check_number(fill_value, "fill_value", where)

    def _augment(self, x):
        keras_transforms = self._transforms(len(x), x.shape[1], x.shape[2])
        matrices = _sampling_matrices(keras_transforms)
        return tap_transform(x, matrices, self.fill_mode, self.fill_value, self.interpolation), matrices

    def _augment_backward(self, dy, matrices):
        return tap_transform_backward(dy, matrices, self.fill_mode, self.interpolation)

    def get_config(self):
        return {
            **super().get_config(),
            "data_format": self.data_format,
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "interpolation": self.interpolation,
            "seed": self.seed,
        }


def _sampling_matrices(transforms):
    """Keras' (N, 6) transforms [a0, a1, a2, b0, b1, b2], mapping output (x = column, y = row) to
    the input point (a0 x + a1 y + a2, b0 x + b1 y + b2), as the kernel's (N, 2, 3) matrices of
    (row, column) maps."""
    a0, a1, a2, b0, b1, b2 = transforms.T
    return np.stack([np.stack([b1, b0, b2], axis=1), np.stack([a1, a0, a2], axis=1)], axis=1)


def _factor_range(factor, name, where, low, low_open=False):
    """Keras' factor: a number f (the range (-|f|, |f|)) or a pair (lower, upper), each in
    [low, 1] (``low_open``: (low, 1]); returns (lower, upper)."""
    interval = f"{'(' if low_open else '['}{low}, 1]"
    expected = f"{where}: {name} must be a number or a pair of numbers in {interval}. Received: {name}={factor!r}"
    values = list(factor) if isinstance(factor, (tuple, list)) else [factor]
    if len(values) not in (1, 2) or (len(values) == 1 and isinstance(factor, (tuple, list))) or not all(
        is_number(v) for v in values
    ):
        raise ValueError(expected)
    if any(v > 1 or v < low or (low_open and v == low) for v in values):
        raise ValueError(expected)
    if len(values) == 1:
        return -abs(float(values[0])), abs(float(values[0]))
    lower, upper = sorted(float(v) for v in values)
    return lower, upper


class RandomRotation(_AffineLayer):
    """Rotates each image about its centre by a random angle in training.

    Args:
        factor: a fraction of a full turn (2 pi): f draws angles in [-f * 2 pi, f * 2 pi], a pair
            (lower, upper) in [lower * 2 pi, upper * 2 pi]; values in [-1, 1].
        fill_mode: 'reflect', 'wrap', 'constant' or 'nearest': how points off the image read.
        interpolation: 'bilinear' or 'nearest'.
        seed: optional integer for a repeatable sequence of draws.
        fill_value: the value read off the image in 'constant' mode.
        data_format: 'channels_last' or 'channels_first'.
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        lower, upper = _factor_range(factor, "factor", "RandomRotation", -1)
        self.factor = (lower, upper)

    def _transforms(self, count, height, width):
        # Keras' _compute_affine_matrix about the centre ((W - 1) / 2, (H - 1) / 2), scale 1, no shear.
        angle = np.deg2rad(self._generator().uniform(self.factor[0] * 360.0, self.factor[1] * 360.0, count))
        cos, sin = np.cos(angle), np.sin(angle)
        cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
        return np.stack([cos, -sin, cx - cx * cos + cy * sin, sin, cos, cy - cx * sin - cy * cos], axis=1)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomZoom(_AffineLayer):
    """Zooms each image about its centre by a random factor in training: the image is sampled
    with a scale of ``1 + f`` along each axis, so a negative f zooms in (enlarges) and a positive
    f zooms out.

    Args:
        height_factor: f (the range [-|f|, |f|]) or (lower, upper), values in (-1, 1].
        width_factor: the same for the columns; None zooms the columns by the rows' draw.
        fill_mode, interpolation, seed, fill_value, data_format: as RandomRotation's.
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor = _config_factor(height_factor)
        self._height_range = _factor_range(height_factor, "height_factor", "RandomZoom", -1, low_open=True)
        self.width_factor = _config_factor(width_factor)
        self._width_range = None if width_factor is None else _factor_range(
            width_factor, "width_factor", "RandomZoom", -1, low_open=True)

    def _transforms(self, count, height, width):
        rng = self._generator()
        height_zoom = rng.uniform(1.0 + self._height_range[0], 1.0 + self._height_range[1], count)
        width_zoom = height_zoom if self._width_range is None else rng.uniform(
            1.0 + self._width_range[0], 1.0 + self._width_range[1], count)
        zeros = np.zeros(count)
        return np.stack([width_zoom, zeros, (width - 1) / 2 * (1 - width_zoom),
                         zeros, height_zoom, (height - 1) / 2 * (1 - height_zoom)], axis=1)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomTranslation(_AffineLayer):
    """Shifts each image by a random fraction of its size in training: a positive factor moves
    the content down (rows) or right (columns).

    Args:
        height_factor: f (the range [-|f|, |f|]) or (lower, upper), fractions of the height in
            [-1, 1].
        width_factor: the same for the width.
        fill_mode, interpolation, seed, fill_value, data_format: as RandomRotation's.
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor = _config_factor(height_factor)
        self._height_range = _factor_range(height_factor, "height_factor", "RandomTranslation", -1)
        self.width_factor = _config_factor(width_factor)
        self._width_range = _factor_range(width_factor, "width_factor", "RandomTranslation", -1)

    def _transforms(self, count, height, width):
        rng = self._generator()
        shift_rows = rng.uniform(*self._height_range, count) * height
        shift_cols = rng.uniform(*self._width_range, count) * width
        ones, zeros = np.ones(count), np.zeros(count)
        return np.stack([ones, zeros, -shift_cols, zeros, ones, -shift_rows], axis=1)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


def _config_factor(factor):
    """A factor as the config keeps it (Keras keeps what it was given)."""
    return tuple(factor) if isinstance(factor, list) else factor
