"""Image files to arrays and back, as Keras reads and writes them: ``load_img`` opens a file as a
PIL image (converted to the colour mode asked for, resized to a target size), ``img_to_array``
and ``array_to_img`` convert between PIL images and (rows, cols, channels) arrays, ``save_img``
writes an array as an image file.

Pillow decodes and encodes the files, as it does for Keras: it is an optional dependency
(``pip install tinykeras[image]``), imported when one of these functions runs.
"""
import io
import os
import pathlib
import warnings

import numpy as np

from tinykeras import backend

#: load_img's interpolation names, as Pillow's resampling filters.
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")
COLOR_MODES = ("grayscale", "rgb", "rgba")


def pil_image(function_name):
    """Pillow's Image module, or an ImportError that says how to install it."""
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError(
            f"{function_name} needs Pillow, an optional dependency of tinykeras (Keras needs it too). "
            "Install it with `pip install tinykeras[image]` (or `pip install pillow`)."
        ) from error
    return Image


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest", keep_aspect_ratio=False):
    """Opens an image file as a PIL image, as Keras' ``load_img`` does.

    Args:
        path: a path (str, bytes or pathlib.Path) or an ``io.BytesIO``.
        color_mode: 'rgb' (default), 'rgba' or 'grayscale' (8-bit grey, unless the file holds
            16- or 32-bit grey, kept as it is).
        target_size: (rows, cols) to resize to, or None for the file's size.
        interpolation: the resampling filter of the resize: 'nearest' (default), 'bilinear',
            'bicubic', 'hamming', 'box' or 'lanczos'.
        keep_aspect_ratio: resize the largest centred crop of the target's aspect ratio,
            instead of stretching the whole image.

    Returns:
        A PIL image (``img_to_array`` makes it an array).
    """
    image_module = pil_image("load_img")
    if color_mode not in COLOR_MODES:
        raise ValueError(f"Expected color_mode to be one of {COLOR_MODES}. Received: color_mode={color_mode!r}")
    if isinstance(path, io.BytesIO):
        image = image_module.open(path)
    elif isinstance(path, (str, bytes, os.PathLike)):
        with open(path, "rb") as file:  # read whole, so that the file closes at once
            image = image_module.open(io.BytesIO(file.read()))
    else:
        raise TypeError(f"load_img: path must be a path (str, bytes, pathlib.Path) or io.BytesIO, not {type(path).__name__}.")
    if color_mode == "grayscale" and image.mode not in ("L", "I;16", "I"):
        image = image.convert("L")
    elif color_mode == "rgb" and image.mode != "RGB":
        image = image.convert("RGB")
    elif color_mode == "rgba" and image.mode != "RGBA":
        image = image.convert("RGBA")
    if target_size is None:
        return image
    size = (int(target_size[1]), int(target_size[0]))  # PIL's (width, height)
    if image.size == size:
        return image
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"Expected interpolation to be one of {INTERPOLATIONS}. Received: interpolation={interpolation!r}")
    resample = getattr(image_module.Resampling, interpolation.upper())
    box = _centred_crop(image.size, size) if keep_aspect_ratio else None
    return image.resize(size, resample, box=box)


def _centred_crop(size, target):
    """(left, top, right, bottom) of the largest centred box of ``target``'s aspect ratio
    inside an image of ``size`` (both (width, height)), in whole pixels as Keras cuts it."""
    (width, height), (target_width, target_height) = size, target
    crop_height = min(height, width * target_height // target_width)
    crop_width = min(width, height * target_width // target_height)
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    return (left, top, left + crop_width, top + crop_height)


def img_to_array(img, data_format=None, dtype=None):
    """A PIL image as a float array: (rows, cols, channels), or (channels, rows, cols) for
    'channels_first'; a grey image gets one channel. dtype: ``backend.floatx()`` by default."""
    data_format = backend.standardize_data_format(data_format)
    x = np.asarray(img, dtype=dtype or backend.floatx())
    if x.ndim == 2:
        x = x[:, :, None]
    elif x.ndim != 3:
        raise ValueError(f"img_to_array: unsupported image shape {x.shape}.")
    return x.transpose(2, 0, 1) if data_format == "channels_first" else x


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """An image array ((rows, cols, channels) or channels first) as a PIL image: 1 channel
    grey (32-bit if a value exceeds 255), 3 RGB, 4 RGBA. With ``scale``, the values are first
    mapped onto 0-255 by their minimum and maximum; then cut to whole numbers (truncated)."""
    data_format = backend.standardize_data_format(data_format)
    image_module = pil_image("array_to_img")
    x = np.array(x, dtype=dtype or backend.floatx())
    if x.ndim != 3:
        raise ValueError(f"array_to_img expects one image of rank 3. Received: an array of shape {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x -= x.min()
        top = x.max()
        if top != 0:
            x /= top
        x *= 255
    channels = x.shape[2]
    if channels == 1:
        if x.max() > 255:
            return image_module.fromarray(x[:, :, 0].astype(np.int32), "I")
        return image_module.fromarray(x[:, :, 0].astype(np.uint8), "L")
    if channels in (3, 4):
        return image_module.fromarray(x.astype(np.uint8), "RGB" if channels == 3 else "RGBA")
    raise ValueError(f"array_to_img: images need 1, 3 or 4 channels (grey, RGB, RGBA). Received: {channels}")


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Writes an image array to ``path`` (or a file object), in the format of its extension
    unless ``file_format`` names one ('png', 'jpeg', ...); an RGBA image saved as JPEG loses its
    alpha channel, with Keras' warning. Other keywords go to PIL's ``Image.save``."""
    if file_format is None and isinstance(path, (str, os.PathLike)):
        file_format = pathlib.Path(path).suffix[1:].lower() or None
    if file_format is not None and file_format.lower() == "jpg":
        file_format = "jpeg"
    image = array_to_img(x, data_format=data_format, scale=scale)
    if image.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("The JPEG format does not support RGBA images, converting to RGB.", stacklevel=2)
        image = image.convert("RGB")
    image.save(path, format=file_format, **kwargs)
