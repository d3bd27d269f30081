"""Random transform parameters for whole batches, and the affine matrices they make.

A batch's parameters are a dict of arrays, one entry per image, under Keras' keys:

    theta            rotation in degrees (counter-clockwise as displayed: +90 is ``np.rot90``)
    tx, ty           shift in pixels along columns (x) and rows (y): output pixel (i, j)
                     reads input pixel (i + ty, j + tx), so the content moves left / up
    shear            shear angle in degrees
    zx, zy           zoom factors along columns and rows: > 1 zooms out (content shrinks)
    flip_horizontal, flip_vertical   mirror the transformed image left-right / up-down
    channel_shift_intensity          added to every value, then clipped to the image's range
    brightness                       the factor of Keras' (PIL's) brightness shift

As in Keras, the output-to-input map is ``R(theta) T(tx, ty) S(shear) Z(zx, zy)`` in (x, y)
coordinates about the image centre, then the flips. The last two keys are None in a batch
(and in Keras' dict) when their range is unset.
"""
import numbers

import numpy as np

KEYS = ("theta", "tx", "ty", "shear", "zx", "zy", "flip_horizontal", "flip_vertical", "channel_shift_intensity",
        "brightness")
IDENTITY = {"theta": 0.0, "tx": 0.0, "ty": 0.0, "shear": 0.0, "zx": 1.0, "zy": 1.0,
            "flip_horizontal": False, "flip_vertical": False, "channel_shift_intensity": None,
            "brightness": None}  # fmt: skip


# ---- argument checks ------------------------------------------------------------------------


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)


def _is_list_of_numbers(value):
    return isinstance(value, (list, tuple, np.ndarray)) and np.ndim(value) == 1 and all(_is_real(v) for v in value)


def check_degrees(value, name):
    """Returns a rotation or shear range: a non-negative number of degrees."""
    if not (_is_real(value) and value >= 0):
        raise ValueError(f"Expected {name} to be a non-negative number of degrees. Received: {name}={value!r}")
    return value


def check_shift_range(value, name):
    """Returns a shift range as Keras reads it: a float, an int, or a tuple of numbers.

    A float s draws uniformly from [-s, s); an int n draws an integer from
    ``range(n)`` with a random sign; a list draws one of its elements with a random sign.
    If the largest value is below 1 the shift is a fraction of the image size, else pixels.
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0:
        return int(value)
    if _is_real(value) and value >= 0:
        return float(value)
    if _is_list_of_numbers(value) and len(value) > 0:
        return tuple(float(v) for v in value)
    raise ValueError(
        f"Expected {name} to be a non-negative float (a fraction of the image size if < 1, "
        f"else pixels), a non-negative int (pixels), or a non-empty 1-D list of numbers. "
        f"Received: {name}={value!r}"
    )


def check_zoom_range(value):
    """Returns [lower, upper]: ``z`` gives [1 - z, 1 + z]; a pair is taken as it is."""
    if _is_real(value) and 0 <= value <= 1:
        return [1.0 - value, 1.0 + value]
    if _is_list_of_numbers(value) and len(value) == 2 and 0 <= value[0] <= value[1]:
        return [float(value[0]), float(value[1])]
    raise ValueError(
        "Expected zoom_range to be a float z in [0, 1] (zooms in [1 - z, 1 + z]) or a pair "
        f"[lower, upper] with 0 <= lower <= upper. Received: zoom_range={value!r}"
    )


# ---- random draws ---------------------------------------------------------------------------


def _uniform(bound, count, rng):
    return rng.uniform(-bound, bound, count) if bound else np.zeros(count)


def _shift(shift_range, count, size, rng):
    """Pixel shifts for ``count`` images along an axis of ``size`` pixels."""
    if not shift_range:
        return np.zeros(count)
    if isinstance(shift_range, float):
        shift = rng.uniform(-shift_range, shift_range, count)
    else:
        values = np.arange(shift_range) if isinstance(shift_range, int) else np.array(shift_range)
        shift = rng.choice(values, count) * rng.choice([-1.0, 1.0], count)
    return shift * size if np.max(shift_range) < 1 else shift.astype(np.float64)


def draw(generator, count, rows, cols, rng):
    """Random parameters for ``count`` images of ``rows`` x ``cols`` pixels, all at once.

    Args:
        generator: the ImageDataGenerator whose ranges to draw from.
        count: the number of images. rows, cols: their size.
        rng: a ``np.random.Generator``.

    Returns:
        A dict of (count,) arrays under ``KEYS``.
    """
    g = generator
    zoom_lower, zoom_upper = g.zoom_range
    if zoom_lower == zoom_upper == 1:
        zx, zy = np.ones(count), np.ones(count)
    else:
        zx, zy = rng.uniform(zoom_lower, zoom_upper, (2, count))
    no_flips = np.zeros(count, dtype=bool)
    return {
        "theta": _uniform(g.rotation_range, count, rng),
        "tx": _shift(g.width_shift_range, count, cols, rng),
        "ty": _shift(g.height_shift_range, count, rows, rng),
        "shear": _uniform(g.shear_range, count, rng),
        "zx": zx,
        "zy": zy,
        "flip_horizontal": rng.random(count) < 0.5 if g.horizontal_flip else no_flips,
        "flip_vertical": rng.random(count) < 0.5 if g.vertical_flip else no_flips,
        "channel_shift_intensity": _uniform(g.channel_shift_range, count, rng) if g.channel_shift_range else None,
        "brightness": rng.uniform(*g.brightness_range, count) if g.brightness_range is not None else None,
    }


# ---- matrices -------------------------------------------------------------------------------


def is_geometric(params):
    """Whether any image of the batch needs resampling (more than flips)."""
    return bool(
        np.any(params["theta"]) or np.any(params["tx"]) or np.any(params["ty"])
        or np.any(params["shear"]) or np.any(params["zx"] != 1) or np.any(params["zy"] != 1)
    )  # fmt: skip


def inverse_matrices(params, rows, cols):
    """The (N, 2, 3) output-to-input maps, in (row, col) order, that ``affine_transform`` takes.

    Args:
        params: a dict of (N,) arrays under ``KEYS``.
        rows, cols: the image size.
    """
    theta, shear = np.deg2rad(params["theta"]), np.deg2rad(params["shear"])
    cos, sin = np.cos(theta), np.sin(theta)
    zx, zy, tx, ty = params["zx"], params["zy"], params["tx"], params["ty"]
    # L = R(theta) @ [[1, -sin(shear)], [0, cos(shear)]] @ diag(zx, zy), on (x, y) = (col, row).
    l00, l10 = cos * zx, sin * zx
    l01 = cos * (-np.sin(shear) * zy) + (-sin) * (np.cos(shear) * zy)
    l11 = sin * (-np.sin(shear) * zy) + cos * (np.cos(shear) * zy)
    # About the centre, then the shift rotated by R: offset = centre - L @ centre + R @ (tx, ty).
    cx, cy = (cols - 1) / 2, (rows - 1) / 2
    off_x = cx - (l00 * cx + l01 * cy) + (cos * tx - sin * ty)
    off_y = cy - (l10 * cx + l11 * cy) + (sin * tx + cos * ty)
    # A flip first maps output x to (cols - 1) - x (y to (rows - 1) - y): exact in floats.
    flip_x, flip_y = (np.asarray(params[key], dtype=np.float64) for key in ("flip_horizontal", "flip_vertical"))
    off_x, off_y = off_x + flip_x * (cols - 1) * l00, off_y + flip_x * (cols - 1) * l10
    off_x, off_y = off_x + flip_y * (rows - 1) * l01, off_y + flip_y * (rows - 1) * l11
    l00, l10 = l00 * (1 - 2 * flip_x), l10 * (1 - 2 * flip_x)
    l01, l11 = l01 * (1 - 2 * flip_y), l11 * (1 - 2 * flip_y)
    # The kernel takes (row, col) = (y, x) order.
    matrices = np.empty((len(theta), 2, 3))
    matrices[:, 0, 0], matrices[:, 0, 1], matrices[:, 0, 2] = l11, l10, off_y
    matrices[:, 1, 0], matrices[:, 1, 1], matrices[:, 1, 2] = l01, l00, off_x
    return matrices
