"""Real-time image data augmentation: Keras' ``ImageDataGenerator`` and its iterators over
arrays (``flow``) and over a directory of image files, one subdirectory per class
(``flow_from_directory``, files read with Pillow through ``utils.load_img``).

    datagen = ImageDataGenerator(width_shift_range=0.1, height_shift_range=0.1, horizontal_flip=True)
    model.fit(datagen.flow(x_train, y_train, batch_size=64), epochs=10)

A batch is augmented in one go: its random parameters are drawn with NumPy for all images
at once, turned into one inverse affine matrix per image, and a single Numba kernel
(``tinykeras.kernels.affine_transform``) resamples the whole batch with bilinear
interpolation; a batch with flips only is just copied and flipped. Channel and brightness
shifts follow, then standardization (``preprocessing_function`` image by image first, as
Keras calls it). Random draws go through ``backend.rng()`` unless a seed is given, so
``tinykeras.utils.set_random_seed(n)`` makes augmentation reproducible.
"""
import math
import numbers
import os
import warnings

import numpy as np

from tinykeras import backend
from tinykeras.kernels.augment import FILL_MODES, affine_transform
from tinykeras.preprocessing import transforms
from tinykeras.utils import image_utils
from tinykeras.utils.image_utils import array_to_img, img_to_array, load_img, save_img  # Keras 2's home of them

_NOT_FIT = (
    "This ImageDataGenerator specifies `{}`, but it hasn't been fit on any training data. "
    "Fit it first by calling `.fit(numpy_data)`."
)
_ARGUMENTS = (
    "featurewise_center", "samplewise_center", "featurewise_std_normalization",
    "samplewise_std_normalization", "zca_whitening", "zca_epsilon", "rotation_range", "width_shift_range",
    "height_shift_range", "brightness_range", "shear_range", "zoom_range", "channel_shift_range", "fill_mode",
    "cval", "horizontal_flip", "vertical_flip", "rescale", "preprocessing_function", "validation_split",
    "interpolation_order",
)  # fmt: skip
_OVERRIDES = "This ImageDataGenerator specifies `{}`, which overrides setting of `{}`."


class ImageDataGenerator:
    """Generates batches of images with real-time data augmentation, as Keras' does.

    Args (Keras' order; each may be given by position, as in Keras):
        featurewise_center: subtract the dataset's per-channel mean (computed by ``fit``).
        samplewise_center: subtract each image's mean.
        featurewise_std_normalization: divide by the dataset's per-channel std (from ``fit``);
            turns on featurewise_center.
        samplewise_std_normalization: divide each image by its std; turns on samplewise_center.
        zca_whitening: multiply each (centered) image, flattened, by the ZCA whitening matrix
            ``fit`` computes, ``U diag(sqrt(n) / (s + zca_epsilon)) U^T`` from the SVD of the
            centered data; turns on featurewise_center and off featurewise_std_normalization.
        zca_epsilon: added to the singular values (1e-6). rotate by a random angle in [-rotation_range, rotation_range) degrees,
            counter-clockwise as displayed for positive angles.
        width_shift_range: shift horizontally by a random amount: a float s < 1 draws a
            fraction of the width in [-s, s), a float >= 1 pixels in [-s, s); an int n draws
            an integer number of pixels in (-n, n) (2 gives -1, 0 or 1); a list draws one of
            its values with a random sign (pixels, or a fraction of the width if all are < 1).
        height_shift_range: the same, vertically, relative to the height.
        brightness_range: a pair [lower, upper]: each image's brightness is scaled by a factor
            drawn in it, as Keras does through PIL: the image (scaled to 0-255 first if it
            leaves that range, and back after) becomes 8-bit integers, each multiplied by the
            factor, truncated and clipped to 255. Images already in 0-255 come out as whole
            numbers; images of 2 or 5+ channels are refused, as PIL refuses them.
        shear_range: shear by a random angle in [-shear_range, shear_range) degrees.
        zoom_range: a float z in [0, 1] zooms by factors drawn in [1 - z, 1 + z], a pair
            [lower, upper] in [lower, upper]; rows and columns get independent factors, and a
            factor > 1 zooms out (the content shrinks).
        channel_shift_range: add to each image one number drawn in [-range, range), then clip
            it to the image's own minimum and maximum.
        fill_mode: how points outside the image are filled: 'constant' (with cval), 'nearest'
            (the edge pixel, default), 'reflect' (the image mirrored at its edge) or 'wrap'
            (the image repeated).
        cval: the fill value for fill_mode='constant'.
        horizontal_flip: mirror half of the images left-right, at random.
        vertical_flip: mirror half of the images upside down, at random.
        rescale: a factor every image is multiplied by (e.g. 1/255), after
            preprocessing_function; None or 0: none.
        preprocessing_function: a function of one image (rank 3, the generator's data_format)
            returning an image of the same shape, applied to each image after the augmentation
            and before the rest of the standardization.
        data_format: 'channels_last' (NHWC) or 'channels_first' (NCHW); by default
            ``backend.image_data_format()``.
        validation_split: the fraction of the images ``flow(..., subset='validation')`` takes
            (the first ones; ``subset='training'`` takes the rest).
        interpolation_order: 1 (bilinear, Keras' default), the only order tinykeras resamples
            with.
        dtype: the float type of the generated images; by default ``backend.floatx()``.
    """

    def __init__(
        self,
        featurewise_center=False,
        samplewise_center=False,
        featurewise_std_normalization=False,
        samplewise_std_normalization=False,
        zca_whitening=False,
        zca_epsilon=1e-6,
        rotation_range=0,
        width_shift_range=0.0,
        height_shift_range=0.0,
        brightness_range=None,
        shear_range=0.0,
        zoom_range=0.0,
        channel_shift_range=0.0,
        fill_mode="nearest",
        cval=0.0,
        horizontal_flip=False,
        vertical_flip=False,
        rescale=None,
        preprocessing_function=None,
        data_format=None,
        validation_split=0.0,
        interpolation_order=1,
        dtype=None,
    ):
        self.zca_whitening = bool(zca_whitening)
        self.zca_epsilon = _check_number(zca_epsilon, "zca_epsilon")
        self.featurewise_std_normalization = bool(featurewise_std_normalization)
        if self.zca_whitening:  # as Keras: whitening centers, and replaces std normalization
            if not featurewise_center:
                warnings.warn(_OVERRIDES.format("zca_whitening", "featurewise_center"), stacklevel=2)
            if featurewise_std_normalization:
                warnings.warn(_OVERRIDES.format("zca_whitening", "featurewise_std_normalization"), stacklevel=2)
                self.featurewise_std_normalization = False
        self.featurewise_center = self.zca_whitening | _implied(
            featurewise_center, featurewise_std_normalization, "featurewise")
        self.samplewise_center = _implied(samplewise_center, samplewise_std_normalization, "samplewise")
        self.samplewise_std_normalization = bool(samplewise_std_normalization)
        self.brightness_range = _check_brightness_range(brightness_range)
        self.channel_shift_range = _check_number(channel_shift_range, "channel_shift_range")
        if preprocessing_function is not None and not callable(preprocessing_function):
            raise ValueError(
                "Expected preprocessing_function to be a function of one image, or None. "
                f"Received: preprocessing_function={preprocessing_function!r}"
            )
        self.preprocessing_function = preprocessing_function
        validation_split = _check_number(validation_split, "validation_split")
        if validation_split and not 0 < validation_split < 1:
            raise ValueError(f"Expected validation_split to be strictly between 0 and 1. Received: validation_split={validation_split!r}")
        self.validation_split = validation_split
        if interpolation_order != 1:
            raise ValueError(
                f"interpolation_order={interpolation_order!r} is not supported by tinykeras (only 1, "
                "bilinear, Keras' default): leave it out, or resample the images beforehand."
            )
        self.interpolation_order = interpolation_order
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
        self.data_format = backend.standardize_data_format(data_format)
        self.dtype = _check_dtype(dtype)
        channels_last = self.data_format == "channels_last"
        # Axes of a batch, as in Keras; a single image's are one less.
        self.channel_axis, self.row_axis, self.col_axis = (3, 1, 2) if channels_last else (1, 2, 3)
        self.mean = None
        self.std = None
        self.zca_whitening_matrix = None

    def __repr__(self):
        defaults = vars(type(self)(data_format=self.data_format, dtype=self.dtype))
        shown = [name for name in _ARGUMENTS if getattr(self, name) != defaults[name]]
        shown += ["data_format", "dtype"]
        return f"ImageDataGenerator({', '.join(f'{name}={getattr(self, name)!r}' for name in shown)})"

    # ---- batches ------------------------------------------------------------------------------

    def flow(self, x, y=None, batch_size=32, shuffle=True, sample_weight=None, seed=None, save_to_dir=None,
             save_prefix="", save_format="png", ignore_class_split=False, subset=None):
        """Returns an iterator over augmented, standardized batches of x (and y).

        Args (Keras' order):
            x: (samples, rows, cols, channels) images (channels first for 'channels_first'),
                any numeric dtype; converted to the generator's dtype once, here.
            y: labels, one per image, or None.
            batch_size: images per batch (the last batch of an epoch may be smaller).
            shuffle: draw a new order of the images for every epoch.
            sample_weight: one weight per image, or None; batches are then
                ``(x, y, sample_weight)``.
            seed: seeds the iterator's own generator (order and augmentation); None draws
                from ``backend.rng()``.
            save_to_dir: only None: tinykeras writes no image files (save the batches'
                arrays yourself). save_prefix, save_format: unused without it.
            ignore_class_split: with subset, allow the two parts to hold different classes.
            subset: 'validation' (the first ``validation_split`` of the images) or 'training'
                (the rest), as Keras splits them; None: all.

        Returns:
            A :class:`NumpyArrayIterator`: ``len(it)`` batches per epoch, ``it[i]`` is batch i,
            ``next(it)`` loops over the epochs forever.
        """
        if save_to_dir is not None:
            raise ValueError(
                f"flow: save_to_dir={save_to_dir!r} is not supported by tinykeras. Leave it out and write the "
                "batches you want to see with keras.utils.save_img."
            )
        return NumpyArrayIterator(x, y, self, batch_size=batch_size, shuffle=shuffle, sample_weight=sample_weight,
                                  seed=seed, ignore_class_split=ignore_class_split, subset=subset)

    def flow_from_directory(self, directory, target_size=(256, 256), color_mode="rgb", classes=None,
                            class_mode="categorical", batch_size=32, shuffle=True, seed=None, save_to_dir=None,
                            save_prefix="", save_format="png", follow_links=False, subset=None,
                            interpolation="nearest", keep_aspect_ratio=False):
        """Returns an iterator over augmented, standardized batches of the images in
        ``directory``, one subdirectory per class (:class:`DirectoryIterator`, which describes
        the arguments; Keras' order). Reading the files needs Pillow (``tinykeras[image]``).
        save_to_dir: only None (save_prefix, save_format: unused without it)."""
        if save_to_dir is not None:
            raise ValueError(
                f"flow_from_directory: save_to_dir={save_to_dir!r} is not supported by tinykeras. Leave it "
                "out and write the batches you want to see with keras.utils.save_img."
            )
        return DirectoryIterator(directory, self, target_size=target_size, color_mode=color_mode, classes=classes,
                                 class_mode=class_mode, batch_size=batch_size, shuffle=shuffle, seed=seed,
                                 follow_links=follow_links, subset=subset, interpolation=interpolation,
                                 keep_aspect_ratio=keep_aspect_ratio)

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
        """Applies params (a dict of (M,) arrays) to x[indices] (channels last); see _augment_batch.
        The channel and brightness shifts act on each pixel with the image's own range, so that
        applying them after the flips gives Keras' order (shift, flips, brightness)."""
        if transforms.is_geometric(params):
            matrices = transforms.inverse_matrices(params, x.shape[1], x.shape[2])
            out = affine_transform(x, matrices, self.fill_mode, self.cval, indices)
        else:
            out = x[indices]
            _flip(out, params["flip_horizontal"], axis=2)
            _flip(out, params["flip_vertical"], axis=1)
        if params["channel_shift_intensity"] is not None:
            _channel_shift(out, np.asarray(params["channel_shift_intensity"], dtype=out.dtype))
        if params["brightness"] is not None:
            out = _brightness_shift(out, np.asarray(params["brightness"], dtype=np.float64))
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
            'zy' (zoom of columns and rows), 'flip_horizontal', 'flip_vertical',
            'channel_shift_intensity' and 'brightness' (None when their range is unset).
        """
        rows, cols = img_shape[self.row_axis - 1], img_shape[self.col_axis - 1]
        params = transforms.draw(self, 1, rows, cols, _generator(seed))
        return {key: None if params[key] is None else params[key][0].item() for key in transforms.KEYS}

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
        params = {}
        for key, identity in transforms.IDENTITY.items():
            value = transform_parameters.get(key, identity)
            params[key] = None if value is None else np.array([value])
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
        """Applies preprocessing_function, rescale, then samplewise, then featurewise
        normalization and ZCA whitening, as Keras does.

        Args:
            x: one image or a batch (samplewise statistics are taken per image; like Keras,
                preprocessing_function receives x as it is given). Like Keras, x is changed in
                place when it is already an array of the generator's dtype; pass ``np.copy(x)``
                to keep it.

        Returns:
            The standardized x, of the generator's dtype.
        """
        if self.preprocessing_function is not None:
            x = self.preprocessing_function(x)
        return self._normalize(x)

    def _normalize(self, x):
        """``standardize`` after preprocessing_function."""
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
        if self.zca_whitening:
            if self.zca_whitening_matrix is None:
                warnings.warn(_NOT_FIT.format("zca_whitening"), stacklevel=3)
            else:
                x = (x.reshape(-1, self.zca_whitening_matrix.shape[0]) @ self.zca_whitening_matrix).reshape(x.shape)
        return x

    def _preprocess_images(self, x):
        """preprocessing_function applied to each image of the batch x, as Keras' flow calls it."""
        if self.preprocessing_function is None:
            return x
        out = np.empty_like(x)
        for i, image in enumerate(x):
            result = np.asarray(self.preprocessing_function(image))
            if result.shape != image.shape:
                raise ValueError(
                    "preprocessing_function must return an image of the shape it receives: "
                    f"{image.shape}. It returned shape {result.shape}."
                )
            out[i] = result
        return out

    def fit(self, x, augment=False, rounds=1, seed=None):
        """Computes the per-channel mean and std that featurewise normalization uses, and the
        ZCA whitening matrix.

        Statistics are taken over the samples, rows and columns of x after rescale (and, with
        ``augment``, over ``rounds`` randomly transformed copies of it), as Keras does; the ZCA
        matrix from the SVD of the centered images, flattened (in float64).

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
        if self.zca_whitening:
            flat = x.reshape(len(x), -1).astype(np.float64)
            u, singular, _ = np.linalg.svd(flat.T, full_matrices=False)
            scale = np.sqrt(len(x)) / (singular + self.zca_epsilon)
            self.zca_whitening_matrix = ((u * scale) @ u.T).astype(self.dtype)


class Iterator:
    """Batches of a dataset in the order of an epoch, as Keras' image iterators give them.

    A sequence: ``len(it)`` is the number of batches per epoch, ``it[i]`` batch i of the
    current order (``on_epoch_end()`` draws a new one when shuffling); and an endless iterator:
    ``next(it)`` goes through the batches epoch after epoch, reshuffling at each epoch start.
    A subclass sets ``n`` (the samples) and makes the batch of some of them (``_batch``).

    Args:
        n: the number of samples.
        batch_size: samples per batch (the last batch of an epoch may be smaller).
        shuffle: draw a new order of the samples every epoch.
        seed: seeds the iterator's generator (order and augmentation); None draws from
            ``backend.rng()``.
    """

    def __init__(self, n, batch_size, shuffle, seed):
        if not (isinstance(batch_size, numbers.Integral) and not isinstance(batch_size, bool) and batch_size > 0):
            raise ValueError(f"Expected batch_size to be a positive integer. Received: batch_size={batch_size!r}")
        self.n, self.batch_size, self.shuffle, self.seed = n, int(batch_size), bool(shuffle), seed
        self._rng = None if seed is None else np.random.default_rng(seed)
        self.index_array = None
        self.batch_index = 0
        self.total_batches_seen = 0

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

    def _augmented(self, images, indices):
        """images[indices] (channels last) augmented and standardized by the generator, as
        Keras does image by image: transforms, preprocessing_function, then normalization."""
        generator = self.image_data_generator
        x = generator._augment_batch(images, indices, self._generator())
        return generator._normalize(generator._preprocess_images(x))


class NumpyArrayIterator(Iterator):
    """Batches of augmented images (and labels) from arrays, as Keras' ``flow`` returns them
    (see :class:`Iterator`). Each batch is ``(x_batch, y_batch)``, ``(x_batch, y_batch,
    weights)`` with sample_weight, or ``x_batch`` alone when y is None.

    Args:
        x: (samples, rows, cols, channels) images (channels first for 'channels_first').
        y: labels, one per image, or None.
        image_data_generator: the ImageDataGenerator that augments and standardizes.
        batch_size: images per batch.
        shuffle: draw a new order of the images every epoch.
        sample_weight: one weight per image, or None.
        seed: seeds the iterator's generator (order and augmentation); None draws from
            ``backend.rng()``.
        ignore_class_split: with subset, allow the parts to hold different sets of classes.
        subset: None, 'validation' (the first ``int(len(x) * validation_split)`` images) or
            'training' (the rest), as Keras splits them.
    """

    def __init__(self, x, y, image_data_generator, batch_size=32, shuffle=True, sample_weight=None, seed=None,
                 ignore_class_split=False, subset=None):
        generator = image_data_generator
        x, y = _check_data(x, y, generator)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight)
            if sample_weight.ndim == 0 or len(sample_weight) != len(x):
                raise ValueError(
                    "Expected x and sample_weight to have the same length (one weight per image). "
                    f"Received: x.shape={x.shape}, sample_weight.shape={sample_weight.shape}"
                )
        if subset is not None:
            x, y, sample_weight = _subset(x, y, sample_weight, generator.validation_split, subset, ignore_class_split)
        super().__init__(len(x), batch_size, shuffle, seed)
        self.image_data_generator = generator
        self.subset, self.sample_weight = subset, sample_weight
        self.x, self.y = x, y
        self._images = generator._channels_last(x)

    def __repr__(self):
        return (
            f"<NumpyArrayIterator x.shape={self.x.shape}, y.shape={None if self.y is None else self.y.shape}, "
            f"batch_size={self.batch_size}, batches={len(self)}, shuffle={self.shuffle}, seed={self.seed}>"
        )

    def _batch(self, indices):
        x = self._augmented(self._images, indices)
        if self.y is None:
            return x
        return (x, self.y[indices]) if self.sample_weight is None else (x, self.y[indices], self.sample_weight[indices])


class DirectoryIterator(Iterator):
    """Batches of augmented images read from a directory with one subdirectory per class, as
    Keras' ``flow_from_directory`` returns them (see :class:`Iterator`).

    The classes are the subdirectories' names in alphabetical order (or ``classes``); the
    images, the files with an image extension in each class's directory and below, in
    alphabetical order. Each file is read when its batch is made (``utils.load_img``: Pillow),
    converted to the colour mode and resized to ``target_size``, then augmented and
    standardized like ``flow``'s images.

    Attributes (Keras'): ``filenames`` (relative to directory), ``filepaths``, ``classes`` (the
    class index of each image), ``labels`` (the same), ``class_indices`` (name -> index),
    ``num_classes``, ``samples``, ``image_shape``.

    Args:
        directory: the directory holding one subdirectory per class.
        image_data_generator: the ImageDataGenerator that augments and standardizes.
        target_size: (rows, cols) every image is resized to; (256, 256) by default.
        color_mode: 'rgb', 'rgba' or 'grayscale'.
        classes: the class subdirectories to read, in the order of their indices; None: all.
        class_mode: the labels: 'categorical' (one-hot), 'binary' or 'sparse' (the class
            index, as floats), 'input' (the images themselves), None (images only).
        batch_size, shuffle, seed: as for :class:`Iterator`.
        follow_links: follow symbolic links to directories.
        subset: 'validation' (the first ``validation_split`` of each class's files) or
            'training' (the rest), as Keras splits them; None: all.
        interpolation: the resize's filter (``utils.load_img``); 'nearest' by default.
        keep_aspect_ratio: resize the largest centred crop of the target's aspect ratio.
    """

    #: The file extensions read, as Keras'.
    white_list_formats = ("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff")
    allowed_class_modes = ("categorical", "binary", "sparse", "input", None)

    def __init__(self, directory, image_data_generator, target_size=(256, 256), color_mode="rgb", classes=None,
                 class_mode="categorical", batch_size=32, shuffle=True, seed=None, follow_links=False, subset=None,
                 interpolation="nearest", keep_aspect_ratio=False):
        generator = image_data_generator
        if color_mode not in image_utils.COLOR_MODES:
            raise ValueError(f"Invalid color mode: {color_mode!r}; expected 'rgb', 'rgba', or 'grayscale'.")
        if class_mode not in self.allowed_class_modes:
            raise ValueError(f"Invalid class_mode: {class_mode!r}; expected one of {self.allowed_class_modes}.")
        if interpolation not in image_utils.INTERPOLATIONS:
            raise ValueError(f"Expected interpolation to be one of {image_utils.INTERPOLATIONS}. "
                             f"Received: interpolation={interpolation!r}")
        if subset not in (None, "training", "validation"):
            raise ValueError(f"Invalid subset name: {subset!r}; expected 'training' or 'validation'.")
        if not os.path.isdir(directory):
            raise ValueError(f"flow_from_directory: {directory!r} is not a directory.")
        image_utils.pil_image("flow_from_directory")
        self.image_data_generator = generator
        self.directory, self.color_mode, self.class_mode = directory, color_mode, class_mode
        self.target_size = (int(target_size[0]), int(target_size[1]))
        self.interpolation, self.keep_aspect_ratio, self.subset = interpolation, bool(keep_aspect_ratio), subset
        channels = {"rgb": 3, "rgba": 4, "grayscale": 1}[color_mode]
        self.image_shape = (self.target_size + (channels,) if generator.data_format == "channels_last"
                            else (channels,) + self.target_size)
        if not classes:
            classes = sorted(d for d in os.listdir(directory) if os.path.isdir(os.path.join(directory, d)))
        self.num_classes = len(classes)
        self.class_indices = {name: index for index, name in enumerate(classes)}
        split = {None: None, "validation": (0, generator.validation_split),
                 "training": (generator.validation_split, 1)}[subset]
        self.filenames, labels = [], []
        for name in classes:
            found = _image_files(os.path.join(directory, name), self.white_list_formats, follow_links, split)
            self.filenames += [os.path.join(name, path) for path in found]
            labels += [self.class_indices[name]] * len(found)
        self.classes = np.array(labels, dtype=np.int32)
        self.samples = len(self.filenames)
        self.filepaths = [os.path.join(directory, name) for name in self.filenames]
        print(f"Found {self.samples} images belonging to {self.num_classes} classes.")
        super().__init__(self.samples, batch_size, shuffle, seed)

    @property
    def labels(self):
        """The class index of each image (``classes``)."""
        return self.classes

    @property
    def sample_weight(self):
        """None: a directory's images carry no weights."""
        return None

    def __repr__(self):
        return (
            f"<DirectoryIterator directory={self.directory!r}, samples={self.samples}, classes={self.num_classes}, "
            f"image_shape={self.image_shape}, batch_size={self.batch_size}, shuffle={self.shuffle}, seed={self.seed}>"
        )

    def _batch(self, indices):
        generator = self.image_data_generator
        x = self._augmented(np.stack([self._read(i) for i in indices]), np.arange(len(indices)))
        if self.class_mode is None:
            return x
        if self.class_mode == "input":
            return x, x.copy()
        if self.class_mode == "categorical":
            return x, np.eye(self.num_classes, dtype=generator.dtype)[self.classes[indices]]
        return x, self.classes[indices].astype(generator.dtype)

    def _read(self, index):
        """Image ``index`` as a channels-last array of the generator's dtype."""
        image = image_utils.load_img(self.filepaths[index], color_mode=self.color_mode, target_size=self.target_size,
                                     interpolation=self.interpolation, keep_aspect_ratio=self.keep_aspect_ratio)
        try:
            return image_utils.img_to_array(image, data_format="channels_last", dtype=self.image_data_generator.dtype)
        finally:
            image.close()


def _image_files(directory, extensions, follow_links, split):
    """The image files below ``directory`` (paths relative to it): directories in alphabetical
    order, then the files in each; ``split`` (start, stop) keeps that fraction of them."""
    found = []
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links), key=lambda entry: entry[0]):
        for name in sorted(files):
            if name.lower().endswith(".tiff"):
                warnings.warn('Using ".tiff" files with multiple bands will cause distortion. Please verify your output.',
                              stacklevel=4)
            if name.lower().endswith(extensions):
                found.append(os.path.relpath(os.path.join(root, name), directory))
    if split is not None:
        found = found[int(split[0] * len(found)):int(split[1] * len(found))]
    return found


# ---- checks and helpers -----------------------------------------------------------------------


def _subset(x, y, sample_weight, validation_split, subset, ignore_class_split):
    """The 'validation' part (the first ``int(len(x) * validation_split)`` samples) or the
    'training' part (the rest) of x, y and sample_weight, as Keras splits them."""
    if subset not in ("training", "validation"):
        raise ValueError(f"Invalid subset name: {subset!r}; expected 'training' or 'validation'.")
    split = int(len(x) * validation_split)
    if y is not None and not ignore_class_split and not np.array_equal(np.unique(y[:split]), np.unique(y[split:])):
        raise ValueError(
            f"flow(subset={subset!r}): the training and validation subsets hold different classes after "
            f"the split at sample {split} (validation_split={validation_split}). If the arrays are sorted "
            "by label, shuffle them first; or pass ignore_class_split=True."
        )
    part = slice(None, split) if subset == "validation" else slice(split, None)
    if len(x[part]) == 0:
        raise ValueError(
            f"flow(subset={subset!r}) holds no images: validation_split={validation_split} of "
            f"{len(x)} images leaves none for it."
        )
    return x[part], None if y is None else y[part], None if sample_weight is None else sample_weight[part]


def _channel_shift(images, intensities):
    """Keras' channel shift, in place: each image plus its intensity, clipped to the image's
    own minimum and maximum (over all its channels)."""
    axes = tuple(range(1, images.ndim))
    low, high = images.min(axis=axes, keepdims=True), images.max(axis=axes, keepdims=True)
    shifted = images + intensities.reshape((-1,) + (1,) * (images.ndim - 1))
    np.clip(shifted, low, high, out=images)


def _brightness_shift(images, factors):
    """Keras' brightness shift of channels-last images (``apply_brightness_shift(x, b,
    scale=False)``, which goes through PIL): an image outside 0-255 is first mapped onto
    0-255 by its minimum and maximum (in float32); then it becomes 8-bit integers (truncated),
    PIL's ``ImageEnhance.Brightness`` multiplies each by the factor in float32 and truncates
    the product into 0-255 (an alpha channel, the fourth, is kept); and the mapped image is
    mapped back."""
    channels = images.shape[-1]
    if channels not in (1, 3, 4):
        raise ValueError(
            f"brightness_range needs images of 1, 3 or 4 channels (grey, RGB, RGBA), as Keras' PIL "
            f"conversion does. Received: images of {channels} channels."
        )
    axes = tuple(range(1, images.ndim))
    low, high = images.min(axis=axes, keepdims=True), images.max(axis=axes, keepdims=True)
    mapped = ((low < 0) | (high > 255)).reshape(-1)
    values = images.astype(np.float32)
    if mapped.any():
        chosen = values[mapped] - values[mapped].min(axis=axes, keepdims=True)
        top = chosen.max(axis=axes, keepdims=True)
        chosen /= np.where(top != 0, top, np.float32(1))
        values[mapped] = chosen * np.float32(255)
    pixels = values.astype(np.uint8).astype(np.float32)
    factor = factors.astype(np.float32).reshape((-1,) + (1,) * (images.ndim - 1))
    out = np.clip(np.trunc(factor * pixels), 0, 255)
    if channels == 4:
        out[..., 3] = pixels[..., 3]
    out = out.astype(images.dtype)
    if mapped.any():
        out[mapped] = out[mapped] / 255 * (high[mapped] - low[mapped]) + low[mapped]
    return out


def _check_brightness_range(value):
    if value is None:
        return None
    if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) and np.isfinite(v) for v in value)):
        raise ValueError(
            "Expected brightness_range to be a tuple or list of two floats [lower, upper]. "
            f"Received: brightness_range={value!r}"
        )
    return value


def _implied(center, std_normalization, scope):
    """Whether to center: std normalization turns centering on, with Keras' warning."""
    if std_normalization and not center:
        warnings.warn(_OVERRIDES.format(f"{scope}_std_normalization", f"{scope}_center"), stacklevel=3)
    return bool(center or std_normalization)


def _check_number(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"Expected {name} to be a finite number. Received: {name}={value!r}")
    return value


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
