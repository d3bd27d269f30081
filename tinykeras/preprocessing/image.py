"""Real-time image data augmentation: Keras' ``ImageDataGenerator`` and its ``flow`` iterator.

    datagen = ImageDataGenerator(width_shift_range=0.1, height_shift_range=0.1, horizontal_flip=True)
    model.fit(datagen.flow(x_train, y_train, batch_size=64), epochs=10)

A batch is augmented in one go: its random parameters are drawn with NumPy for all images
at once, turned into one inverse affine matrix per image, and a single Numba kernel
(``tinykeras.kernels.affine_transform``) resamples the whole batch with bilinear
interpolation; a batch with flips only is just copied and flipped. Random draws go through
``backend.rng()`` unless a seed is given, so ``tinykeras.utils.set_random_seed(n)`` makes
augmentation reproducible.
"""
import math
import numbers
import warnings

import numpy as np

from tinykeras import backend
from tinykeras.kernels.augment import FILL_MODES, affine_transform
from tinykeras.preprocessing import transforms

_UNSUPPORTED_KEYS = ("channel_shift_intensity", "brightness")
_NOT_FIT = (
    "This ImageDataGenerator specifies `{}`, but it hasn't been fit on any training data. "
    "Fit it first by calling `.fit(numpy_data)`."
)
_ARGUMENTS = (
    "featurewise_center", "samplewise_center", "featurewise_std_normalization",
    "samplewise_std_normalization", "rotation_range", "width_shift_range", "height_shift_range",
    "shear_range", "zoom_range", "fill_mode", "cval", "horizontal_flip", "vertical_flip", "rescale",
)  # fmt: skip
_OVERRIDES = "This ImageDataGenerator specifies `{}`, which overrides setting of `{}`."


class ImageDataGenerator:
    """Generates batches of images with real-time data augmentation, as Keras' does.

    Args:
        featurewise_center: subtract the dataset's per-channel mean (computed by ``fit``).
        samplewise_center: subtract each image's mean.
        featurewise_std_normalization: divide by the dataset's per-channel std (from ``fit``);
            turns on featurewise_center.
        samplewise_std_normalization: divide each image by its std; turns on samplewise_center.
        rotation_range: rotate by a random angle in [-rotation_range, rotation_range) degrees,
            counter-clockwise as displayed for positive angles.
        width_shift_range: shift horizontally by a random amount: a float s < 1 draws a
            fraction of the width in [-s, s), a float >= 1 pixels in [-s, s); an int n draws
            an integer number of pixels in (-n, n) (2 gives -1, 0 or 1); a list draws one of
            its values with a random sign (pixels, or a fraction of the width if all are < 1).
        height_shift_range: the same, vertically, relative to the height.
        shear_range: shear by a random angle in [-shear_range, shear_range) degrees.
        zoom_range: a float z in [0, 1] zooms by factors drawn in [1 - z, 1 + z], a pair
            [lower, upper] in [lower, upper]; rows and columns get independent factors, and a
            factor > 1 zooms out (the content shrinks).
        fill_mode: how points outside the image are filled: 'constant' (with cval), 'nearest'
            (the edge pixel, default), 'reflect' (the image mirrored at its edge) or 'wrap'
            (the image repeated).
        cval: the fill value for fill_mode='constant'.
        horizontal_flip: mirror half of the images left-right, at random.
        vertical_flip: mirror half of the images upside down, at random.
        rescale: a factor every image is multiplied by first (e.g. 1/255); None or 0: none.
        data_format: 'channels_last' (NHWC) or 'channels_first' (NCHW); by default
            ``backend.image_data_format()``.
        dtype: the float type of the generated images; by default ``backend.floatx()``.

    Keras' zca_whitening, brightness_range, channel_shift_range, preprocessing_function,
    validation_split and interpolation_order are not supported. So that a positional call
    written for Keras cannot shift them silently, the arguments after the first four are
    keyword-only.
    """

    def __init__(
        self,
        featurewise_center=False,
        samplewise_center=False,
        featurewise_std_normalization=False,
        samplewise_std_normalization=False,
        *,
        rotation_range=0,
        width_shift_range=0.0,
        height_shift_range=0.0,
        shear_range=0.0,
        zoom_range=0.0,
        fill_mode="nearest",
        cval=0.0,
        horizontal_flip=False,
        vertical_flip=False,
        rescale=None,
        data_format=None,
        dtype=None,
    ):
        self.featurewise_center = _implied(featurewise_center, featurewise_std_normalization, "featurewise")
        self.samplewise_center = _implied(samplewise_center, samplewise_std_normalization, "samplewise")
        self.featurewise_std_normalization = bool(featurewise_std_normalization)
        self.samplewise_std_normalization = bool(samplewise_std_normalization)
        self.rotation_range = transforms.check_degrees(rotation_range, "rotation_range")
        self.width_shift_range = transforms.check_shift_range(width_shift_range, "width_shift_range")
        self.height_shift_range = transforms.check_shift_range(height_shift_range, "height_shift_range")
        self.shear_range = transforms.check_degrees(shear_range, "shear_range")
        self.zoom_range = transforms.check_zoom_range(zoom_range)
        if fill_mode not in FILL_MODES:
            raise ValueError(f"Expected fill_mode to be one of {FILL_MODES}. Received: fill_mode={fill_mode!r}")
        self.fill_mode = fill_mode
        self.cval = _check_number(cval, "cval")
        self.horizontal_flip = bool(horizontal_flip)
        self.vertical_flip = bool(vertical_flip)
        self.rescale = None if rescale is None else _check_number(rescale, "rescale")
        self.data_format = _check_data_format(data_format)
        self.dtype = _check_dtype(dtype)
        channels_last = self.data_format == "channels_last"
        # Axes of a batch, as in Keras; a single image's are one less.
        self.channel_axis, self.row_axis, self.col_axis = (3, 1, 2) if channels_last else (1, 2, 3)
        self.mean = None
        self.std = None

    def __repr__(self):
        defaults = vars(type(self)(data_format=self.data_format, dtype=self.dtype))
        shown = [name for name in _ARGUMENTS if getattr(self, name) != defaults[name]]
        shown += ["data_format", "dtype"]
        return f"ImageDataGenerator({', '.join(f'{name}={getattr(self, name)!r}' for name in shown)})"

    # ---- batches ------------------------------------------------------------------------------

    def flow(self, x, y=None, batch_size=32, shuffle=True, *, seed=None):
        """Returns an iterator over augmented, standardized batches of x (and y).

        Args:
            x: (samples, rows, cols, channels) images (channels first for 'channels_first'),
                any numeric dtype; converted to the generator's dtype once, here.
            y: labels, one per image, or None.
            batch_size: images per batch (the last batch of an epoch may be smaller).
            shuffle: draw a new order of the images for every epoch.
            seed: seeds the iterator's own generator (order and augmentation); None draws
                from ``backend.rng()``.

        Returns:
            A :class:`NumpyArrayIterator`: ``len(it)`` batches per epoch, ``it[i]`` is batch i,
            ``next(it)`` loops over the epochs forever.
        """
        return NumpyArrayIterator(x, y, self, batch_size=batch_size, shuffle=shuffle, seed=seed)

    def _augment_batch(self, x, indices, rng):
        """Randomly transforms images of a channels-last source array.

        Args:
            x: (N, rows, cols, channels) C-contiguous array of the generator's dtype.
            indices: (M,) the images of x to transform (repeats allowed).
            rng: the ``np.random.Generator`` to draw the parameters from.

        Returns:
            (M, ...) the transformed images, in the generator's data_format (not standardized).
        """
        params = transforms.draw(self, len(indices), x.shape[1], x.shape[2], rng)
        return self._transform(x, np.asarray(indices), params)

    def _transform(self, x, indices, params):
        """Applies params (a dict of (M,) arrays) to x[indices] (channels last); see _augment_batch."""
        if transforms.is_geometric(params):
            matrices = transforms.inverse_matrices(params, x.shape[1], x.shape[2])
            out = affine_transform(x, matrices, self.fill_mode, self.cval, indices)
        else:
            out = x[indices]
            _flip(out, params["flip_horizontal"], axis=2)
            _flip(out, params["flip_vertical"], axis=1)
        return out if self.data_format == "channels_last" else np.ascontiguousarray(out.transpose(0, 3, 1, 2))

    def _channels_last(self, x):
        """x (a batch in the generator's data_format) as a C-contiguous NHWC array of its dtype."""
        x = np.asarray(x, dtype=self.dtype)
        return np.ascontiguousarray(x if self.data_format == "channels_last" else x.transpose(0, 2, 3, 1))

    # ---- single images --------------------------------------------------------------------------

    def get_random_transform(self, img_shape, seed=None):
        """Draws random parameters for one image.

        Args:
            img_shape: the shape of the image (rows, cols, channels) or (channels, rows, cols).
            seed: seeds a generator for this draw; None draws from ``backend.rng()``.

        Returns:
            A dict with Keras' keys: 'theta' (degrees), 'tx', 'ty' (pixels along columns and
            rows: output pixel (i, j) reads input (i + ty, j + tx)), 'shear' (degrees), 'zx',
            'zy' (zoom of columns and rows), 'flip_horizontal', 'flip_vertical'.
        """
        rows, cols = img_shape[self.row_axis - 1], img_shape[self.col_axis - 1]
        params = transforms.draw(self, 1, rows, cols, _generator(seed))
        return {key: params[key][0].item() for key in transforms.KEYS}

    def apply_transform(self, x, transform_parameters):
        """Transforms one image by the given parameters, as Keras' ``apply_transform``.

        Args:
            x: one image, (rows, cols, channels) or (channels, rows, cols).
            transform_parameters: a dict with any of the keys of ``get_random_transform``;
                missing keys mean no change.

        Returns:
            The transformed image, of the generator's dtype.
        """
        x = _single_image(x)
        unknown = [key for key in _UNSUPPORTED_KEYS if transform_parameters.get(key) is not None]
        if unknown:
            raise ValueError(f"Expected no {unknown} in transform_parameters: tinykeras does not support them.")
        params = {key: np.array([transform_parameters.get(key, value)]) for key, value in transforms.IDENTITY.items()}
        params["flip_horizontal"] = params["flip_horizontal"].astype(bool)
        params["flip_vertical"] = params["flip_vertical"].astype(bool)
        return self._transform(self._channels_last(x[None]), np.zeros(1, dtype=np.int64), params)[0]

    def random_transform(self, x, seed=None):
        """Applies a random transformation to one image (without standardizing it).

        Args:
            x: one image, (rows, cols, channels) or (channels, rows, cols).
            seed: seeds a generator for this draw; None draws from ``backend.rng()``.

        Returns:
            The transformed image, of the generator's dtype.
        """
        x = _single_image(x)
        return self.apply_transform(x, self.get_random_transform(x.shape, seed))

    # ---- normalization --------------------------------------------------------------------------

    def standardize(self, x):
        """Applies rescale, then samplewise, then featurewise normalization, as Keras does.

        Args:
            x: one image or a batch (samplewise statistics are taken per image). Like Keras,
                x is changed in place when it is already an array of the generator's dtype;
                pass ``np.copy(x)`` to keep it.

        Returns:
            The standardized x, of the generator's dtype.
        """
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim not in (3, 4):
            raise ValueError(f"Expected an image (rank 3) or a batch of images (rank 4). Received: x.shape={x.shape}")
        if self.rescale:
            x *= self.rescale
        image_axes = tuple(range(x.ndim - 3, x.ndim))
        if self.samplewise_center:
            x -= np.mean(x, axis=image_axes, keepdims=True)
        if self.samplewise_std_normalization:
            x /= np.std(x, axis=image_axes, keepdims=True) + 1e-6
        if self.featurewise_center:
            _apply_statistic(x, self.mean, np.subtract, "featurewise_center")
        if self.featurewise_std_normalization:
            _apply_statistic(x, None if self.std is None else self.std + 1e-6, np.divide, "featurewise_std_normalization")
        return x

    def fit(self, x, augment=False, rounds=1, seed=None):
        """Computes the per-channel mean and std that featurewise normalization uses.

        Statistics are taken over the samples, rows and columns of x after rescale (and, with
        ``augment``, over ``rounds`` randomly transformed copies of it), as Keras does.

        Args:
            x: (samples, rows, cols, channels) images (channels first for 'channels_first').
            augment: fit on randomly augmented copies of x.
            rounds: the number of augmented copies of x, with ``augment``.
            seed: seeds the augmentation; None draws from ``backend.rng()``.
        """
        x = np.array(x, dtype=self.dtype)
        if x.ndim != 4:
            raise ValueError(f"Expected x of rank 4 in fit(), a batch of images. Received: x.shape={x.shape}")
        _warn_unusual_channels(x.shape, self, "fit", stacklevel=3)
        if self.rescale:
            x *= self.rescale
        if augment:
            if not (isinstance(rounds, numbers.Integral) and rounds >= 1):
                raise ValueError(f"Expected rounds to be a positive integer. Received: rounds={rounds!r}")
            indices = np.tile(np.arange(len(x)), rounds)
            x = self._augment_batch(self._channels_last(x), indices, _generator(seed))
        axes, shape = (0, self.row_axis, self.col_axis), [1, 1, 1]
        shape[self.channel_axis - 1] = x.shape[self.channel_axis]
        if self.featurewise_center:
            self.mean = np.mean(x, axis=axes, dtype=np.float64).astype(self.dtype).reshape(shape)
            x -= self.mean
        if self.featurewise_std_normalization:
            self.std = np.std(x, axis=axes, dtype=np.float64).astype(self.dtype).reshape(shape)


class NumpyArrayIterator:
    """Batches of augmented images (and labels) from arrays, as Keras' ``flow`` returns them.

    A sequence: ``len(it)`` is the number of batches per epoch, ``it[i]`` batch i of the
    current order (``on_epoch_end()`` draws a new one when shuffling); and an endless iterator:
    ``next(it)`` goes through the batches epoch after epoch, reshuffling at each epoch start.
    Each batch is ``(x_batch, y_batch)``, or ``x_batch`` alone when y is None.

    Args:
        x: (samples, rows, cols, channels) images (channels first for 'channels_first').
        y: labels, one per image, or None.
        image_data_generator: the ImageDataGenerator that augments and standardizes.
        batch_size: images per batch.
        shuffle: draw a new order of the images every epoch.
        seed: seeds the iterator's generator (order and augmentation); None draws from
            ``backend.rng()``.
    """

    def __init__(self, x, y, image_data_generator, batch_size=32, shuffle=True, seed=None):
        generator = image_data_generator
        x, y = _check_data(x, y, generator)
        if not (isinstance(batch_size, numbers.Integral) and not isinstance(batch_size, bool) and batch_size > 0):
            raise ValueError(f"Expected batch_size to be a positive integer. Received: batch_size={batch_size!r}")
        self.image_data_generator = generator
        self.x, self.y = x, y
        self.n, self.batch_size, self.shuffle, self.seed = len(x), int(batch_size), bool(shuffle), seed
        self._images = generator._channels_last(x)
        self._rng = None if seed is None else np.random.default_rng(seed)
        self.index_array = None
        self.batch_index = 0
        self.total_batches_seen = 0

    def __repr__(self):
        return (
            f"<NumpyArrayIterator x.shape={self.x.shape}, y.shape={None if self.y is None else self.y.shape}, "
            f"batch_size={self.batch_size}, batches={len(self)}, shuffle={self.shuffle}, seed={self.seed}>"
        )

    def __len__(self):
        return math.ceil(self.n / self.batch_size)

    def __getitem__(self, index):
        if not isinstance(index, numbers.Integral) or not -len(self) <= index < len(self):
            raise IndexError(f"Asked to retrieve batch {index!r}, but the iterator has {len(self)} batches.")
        if self.index_array is None:
            self._set_index_array()
        start = (index % len(self)) * self.batch_size
        self.total_batches_seen += 1
        return self._batch(self.index_array[start : start + self.batch_size])

    def __iter__(self):
        return self

    def __next__(self):
        if self.batch_index == 0:
            self._set_index_array()
        start = self.batch_index * self.batch_size
        self.batch_index = self.batch_index + 1 if start + self.batch_size < self.n else 0
        self.total_batches_seen += 1
        return self._batch(self.index_array[start : start + self.batch_size])

    def on_epoch_end(self):
        """Draws the order of the next epoch (a new permutation when shuffling)."""
        self._set_index_array()

    def reset(self):
        """Makes ``next()`` start a new epoch."""
        self.batch_index = 0

    def _generator(self):
        return backend.rng() if self._rng is None else self._rng

    def _set_index_array(self):
        self.index_array = self._generator().permutation(self.n) if self.shuffle else np.arange(self.n)

    def _batch(self, indices):
        generator = self.image_data_generator
        x = generator.standardize(generator._augment_batch(self._images, indices, self._generator()))
        return x if self.y is None else (x, self.y[indices])


# ---- checks and helpers -----------------------------------------------------------------------


def _implied(center, std_normalization, scope):
    """Whether to center: std normalization turns centering on, with Keras' warning."""
    if std_normalization and not center:
        warnings.warn(_OVERRIDES.format(f"{scope}_std_normalization", f"{scope}_center"), stacklevel=3)
    return bool(center or std_normalization)


def _check_number(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"Expected {name} to be a finite number. Received: {name}={value!r}")
    return value


def _check_data_format(data_format):
    data_format = backend.image_data_format() if data_format is None else data_format
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            "Expected data_format to be 'channels_last' (channels after rows and columns) or "
            f"'channels_first' (channels before them). Received: data_format={data_format!r}"
        )
    return data_format


def _check_dtype(dtype):
    name = backend.floatx() if dtype is None else np.dtype(dtype).name
    if name not in ("float32", "float64"):
        raise ValueError(f"Expected dtype to be 'float32' or 'float64'. Received: dtype={dtype!r}")
    return name


def _generator(seed):
    return backend.rng() if seed is None else np.random.default_rng(seed)


def _single_image(x):
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(
            "Expected a single image of rank 3, (rows, cols, channels) or (channels, rows, cols). "
            f"Received: x.shape={x.shape}"
        )
    return x


def _flip(images, flip, axis):
    """Reverses ``axis`` of the images whose ``flip`` is True, in place."""
    chosen = np.flatnonzero(flip)
    if chosen.size:
        # take() copies a reversed axis several times faster than a [::-1] view does.
        images[chosen] = images[chosen].take(np.arange(images.shape[axis] - 1, -1, -1), axis=axis)


def _apply_statistic(x, statistic, operation, option):
    if statistic is None:
        warnings.warn(_NOT_FIT.format(option), stacklevel=3)
    else:
        operation(x, statistic, out=x)


def _warn_unusual_channels(shape, generator, where, stacklevel):
    channels = shape[generator.channel_axis]
    if channels not in (1, 3, 4):
        warnings.warn(
            f"{where}: expected images with 1, 3 or 4 channels on axis {generator.channel_axis} "
            f"(data_format={generator.data_format!r}). Received: an array of shape {shape} "
            f"({channels} channels). Check the data_format.",
            stacklevel=stacklevel,
        )


def _check_data(x, y, generator):
    """Returns (x as the generator's dtype, y as an array or None), or raises."""
    array = np.asarray(x)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"Expected numeric images. Received: x of dtype {array.dtype}")
    if array.ndim != 4:
        layout = "(samples, rows, cols, channels)" if generator.data_format == "channels_last" else "(samples, channels, rows, cols)"
        add_axis = "x[..., None]" if generator.data_format == "channels_last" else "x[:, None]"
        hint = f" Add a channels axis to grayscale images: {add_axis}." if array.ndim == 3 else ""
        raise ValueError(f"Expected x of rank 4, {layout}. Received: x.shape={array.shape}.{hint}")
    if len(array) == 0:
        raise ValueError(f"Expected at least one image. Received: x.shape={array.shape}")
    _warn_unusual_channels(array.shape, generator, "flow", stacklevel=5)
    if y is not None:
        y = np.asarray(y)
        if y.ndim == 0 or len(y) != len(array):
            raise ValueError(
                f"Expected x and y to have the same length (one label per image). "
                f"Received: x.shape={array.shape}, y.shape={y.shape}"
            )
    return np.asarray(array, dtype=generator.dtype), y


from tinykeras._missing import attribute_error_for  # noqa: E402

__getattr__ = attribute_error_for(__name__)
