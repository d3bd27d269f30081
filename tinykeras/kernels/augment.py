"""Affine resampling of image batches with bilinear interpolation, for data augmentation.

Each output image k has its own 2x3 matrix A, the *inverse* map from output to input pixel
coordinates: output pixel (i, j) of image k takes the value of input image ``indices[k]`` at
the point

    r = (A[0, 0] * i + A[0, 2]) + A[0, 1] * j,    c = (A[1, 0] * i + A[1, 2]) + A[1, 1] * j

interpolated bilinearly (ndimage's order-1 spline) from its grid neighbours rows t = floor(r),
b = t + 1 and columns l = floor(c), l + 1, first down the columns, then across:

    value = (1 - fc) * ((1 - fr) * x[t, l] + fr * x[b, l]) + fc * ((1 - fr) * x[t, l+1] + fr * x[b, l+1])

with fr = r - t, fc = c - l. Pixel (i, j) sits at coordinate (i, j); points off the image read
it extended by ``fill_mode`` (shown for a row of pixels a b c d):

    'constant'  k k k k | a b c d | k k k k   a point outside [0, H-1] x [0, W-1] (by more than
                                              EDGE_TOLERANCE pixel) takes cval, no blending
    'nearest'   a a a a | a b c d | d d d d   the edge pixel repeats
    'reflect'   d c b a | a b c d | d c b a   mirrored about the image edge (half-sample)
    'wrap'      a b c d | a b c d | a b c d   the image repeats with period H (rows), W (columns)

When no matrix mixes rows and columns (no rotation or shear: A[0, 1] = A[1, 0] = 0) the kernel
interpolates each output row in two passes over contiguous memory, 2.5 times faster than
sampling pixel by pixel, with the same arithmetic and so the same results.

Keras 3's preprocessing layers (RandomRotation, RandomZoom, RandomTranslation) sample the same
way through ``tap_transform``, with two differences of JAX's ``map_coordinates``: in 'constant'
mode each of the four taps off the image reads cval (the point is blended with it, rather than
the whole point taking cval), and 'nearest' interpolation reads the one pixel at the point
rounded half away from zero. Each output is a fixed linear combination of input pixels (plus
cval's share), so ``tap_transform_backward`` scatters the output gradient back through the same
taps and weights: the transpose of the forward map.

The fast kernels are Numba functions compiled on first call (``cache=True``); plain NumPy
references sit below them. A large batch is split by output images between threads
(``_common.split_range``), each part writing only its own images (the adjoint scatters within an
image).
"""
import numpy as np
from tinykeras.kernels.compiled import njit

from tinykeras.kernels._common import as_float_image, output_buffer, split_range

FILL_MODES = ("constant", "nearest", "reflect", "wrap")
CONSTANT, NEAREST, REFLECT, WRAP = range(4)

# A point this close (in pixels) to the image counts as on its edge in 'constant' mode, so
# rounding in a rotation matrix (cos 90 deg = 6e-17) does not turn an edge row into cval.
EDGE_TOLERANCE = 1e-6


def affine_transform(x, matrices, fill_mode="nearest", cval=0.0, indices=None, out=None):
    """Resamples images of a batch, each through its own affine map (see the module doc).

    Args:
        x: (N, H, W, C) float32/float64 array.
        matrices: (M, 2, 3) array, one inverse map per output image.
        fill_mode: one of 'constant', 'nearest', 'reflect', 'wrap'.
        cval: the value of points off the image when fill_mode is 'constant'.
        indices: (M,) integers in [0, N), the image of x each output image is sampled from;
            by default ``range(N)`` (then M must equal N).
        out: optional C-contiguous (M, H, W, C) array of x's dtype to write into.

    Returns:
        (M, H, W, C) array of x's dtype.
    """
    x, matrices, indices, mode = _check_arguments(x, matrices, fill_mode, indices)
    out = output_buffer(out, (len(indices),) + x.shape[1:], x.dtype)
    separable = not (matrices[:, 0, 1].any() or matrices[:, 1, 0].any())
    cval = float(cval)
    split_range(
        len(indices), out.size, lambda lo, hi: _transform_images(x, indices, matrices, mode, cval, separable, out, lo, hi)
    )
    return out


def _check_arguments(x, matrices, fill_mode, indices):
    """Returns (x, matrices as float64, indices as int64, the fill mode's code), or raises."""
    x = as_float_image(x)
    if fill_mode not in FILL_MODES:
        raise ValueError(f"Expected fill_mode to be one of {FILL_MODES}. Received: fill_mode={fill_mode!r}")
    indices = np.arange(len(x)) if indices is None else np.asarray(indices)
    if indices.ndim != 1 or indices.dtype.kind not in "iu" or (
        indices.size and (indices.min() < 0 or indices.max() >= len(x))
    ):
        raise ValueError(
            f"Expected indices to be a 1-D array of integers in [0, {len(x)}). "
            f"Received: indices={indices!r}"
        )
    matrices = np.ascontiguousarray(matrices, dtype=np.float64)
    if matrices.shape != (len(indices), 2, 3) or not np.isfinite(matrices).all():
        raise ValueError(
            f"Expected finite matrices of shape {(len(indices), 2, 3)}, one 2x3 matrix per "
            f"output image. Received: matrices.shape={matrices.shape}"
        )
    return x, matrices, indices.astype(np.int64), FILL_MODES.index(fill_mode)


# ---- Numba kernel -----------------------------------------------------------------------------
# One output image per iteration of the outer loop, each writing only its own image: a split
# gives each thread a range of them.


@njit(cache=True)
def _source_index(i, n, mode):
    """Grid position i of the image extended by ``mode``, as an index into [0, n)."""
    if 0 <= i < n:
        return i
    if mode == WRAP:
        return i % n
    if mode == REFLECT:
        i %= 2 * n
        return i if i < n else 2 * n - 1 - i
    return 0 if i < 0 else n - 1  # 'nearest'; 'constant' points were clamped onto the image


@njit(cache=True)
def _taps(p, n, mode):
    """Point p on an axis of length n: its two neighbours' indices into [0, n), the weight of
    the second, and whether p is on the image (always, unless the mode is 'constant')."""
    inside = True
    if mode == CONSTANT:
        inside = -EDGE_TOLERANCE <= p <= n - 1 + EDGE_TOLERANCE
        p = min(max(p, 0.0), n - 1.0)
    low = np.floor(p)
    i = int(low)
    return _source_index(i, n, mode), _source_index(i + 1, n, mode), p - low, inside


@njit(cache=True)
def _sample_pixels(image, a, mode, cval, out):
    """Fills out (H, W, C) from image (H, W, C) through matrix a, one pixel at a time."""
    H, W, C = out.shape
    for i in range(H):
        r_row, c_row = a[0, 0] * i + a[0, 2], a[1, 0] * i + a[1, 2]
        for j in range(W):
            r, c = r_row + a[0, 1] * j, c_row + a[1, 1] * j
            t, lt = int(np.floor(r)), int(np.floor(c))
            if 0 <= t < H - 1 and 0 <= lt < W - 1:  # all four neighbours on the image
                b, rt, fr, fc = t + 1, lt + 1, r - t, c - lt
            else:
                t, b, fr, row_inside = _taps(r, H, mode)
                lt, rt, fc, column_inside = _taps(c, W, mode)
                if not (row_inside and column_inside):
                    for ch in range(C):
                        out[i, j, ch] = cval
                    continue
            for ch in range(C):
                left = (1.0 - fr) * image[t, lt, ch] + fr * image[b, lt, ch]
                right = (1.0 - fr) * image[t, rt, ch] + fr * image[b, rt, ch]
                out[i, j, ch] = (1.0 - fc) * left + fc * right


@njit(cache=True)
def _sample_rows(image, a, mode, cval, out):
    """``_sample_pixels`` for a matrix without rotation or shear: each output row blends two
    input rows (one pass over W*C contiguous values), then gathers its columns from the blend."""
    H, W, C = out.shape
    rows, out_rows = image.reshape(H, W * C), out.reshape(H, W * C)
    left, right = np.empty(W * C, np.int64), np.empty(W * C, np.int64)
    weight, blend = np.empty(W * C), np.empty(W * C)
    columns_inside = np.empty(W, np.bool_)
    for j in range(W):
        lt, rt, fc, columns_inside[j] = _taps(a[1, 1] * j + a[1, 2], W, mode)
        for ch in range(C):
            left[j * C + ch], right[j * C + ch], weight[j * C + ch] = lt * C + ch, rt * C + ch, fc
    for i in range(H):
        t, b, fr, row_inside = _taps(a[0, 0] * i + a[0, 2], H, mode)
        row = out_rows[i]
        if not row_inside:
            row[:] = cval
            continue
        top, bottom = rows[t], rows[b]
        for e in range(W * C):
            blend[e] = (1.0 - fr) * top[e] + fr * bottom[e]
        for e in range(W * C):
            row[e] = (1.0 - weight[e]) * blend[left[e]] + weight[e] * blend[right[e]]
        for j in range(W):
            if not columns_inside[j]:
                row[j * C : (j + 1) * C] = cval


@njit(cache=True)
def _transform_image(x, indices, matrices, mode, cval, separable, out, k):
    if separable:
        _sample_rows(x[indices[k]], matrices[k], mode, cval, out[k])
    else:
        _sample_pixels(x[indices[k]], matrices[k], mode, cval, out[k])


@njit(cache=True, nogil=True)
def _transform_images(x, indices, matrices, mode, cval, separable, out, lo, hi):
    """Output images lo..hi-1."""
    for k in range(lo, hi):
        _transform_image(x, indices, matrices, mode, cval, separable, out, k)


# ---- Keras 3's sampling: per-tap 'constant' mode, bilinear or nearest, and its transpose ------


INTERPOLATIONS = ("bilinear", "nearest")


def tap_transform(x, matrices, fill_mode="reflect", cval=0.0, interpolation="bilinear"):
    """Resamples each image of a batch through its own affine map, as Keras 3's layers do (see
    the module doc): output pixel (i, j) of image k reads image k at row
    ``A[0, 0] * i + A[0, 1] * j + A[0, 2]``, column ``A[1, 0] * i + A[1, 1] * j + A[1, 2]``.

    Args:
        x: (N, H, W, C) float32/float64 array.
        matrices: (N, 2, 3) array, one inverse map per image.
        fill_mode: one of 'constant' (each tap off the image reads cval), 'nearest', 'reflect',
            'wrap'.
        cval: the value read off the image in 'constant' mode.
        interpolation: 'bilinear' or 'nearest' (the pixel at the rounded point).

    Returns:
        (N, H, W, C) array of x's dtype.
    """
    x, matrices, _, mode = _check_arguments(x, matrices, fill_mode, None)
    nearest = _check_interpolation(interpolation)
    out, cval = np.empty_like(x), float(cval)
    split_range(len(x), out.size, lambda lo, hi: _taps_images(x, matrices, mode, cval, nearest, False, out, lo, hi))
    return out


def tap_transform_backward(dy, matrices, fill_mode="reflect", interpolation="bilinear"):
    """The transpose of ``tap_transform`` (cval's share does not depend on x): each output
    gradient is added to the input pixels its value was read from, by the same weights.

    Args:
        dy: (N, H, W, C) float32/float64 gradient of the output.
        matrices, fill_mode, interpolation: as given to ``tap_transform``.

    Returns:
        (N, H, W, C) gradient of x, of dy's dtype.
    """
    dy, matrices, _, mode = _check_arguments(dy, matrices, fill_mode, None)
    nearest = _check_interpolation(interpolation)
    dx = np.zeros_like(dy)
    split_range(len(dy), dy.size, lambda lo, hi: _taps_images(dy, matrices, mode, 0.0, nearest, True, dx, lo, hi))
    return dx


def _check_interpolation(interpolation):
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"Expected interpolation to be one of {INTERPOLATIONS}. Received: interpolation={interpolation!r}"
        )
    return interpolation == "nearest"


@njit(cache=True)
def _round_half_away(p):
    return np.floor(p + 0.5) if p >= 0 else -np.floor(0.5 - p)


@njit(cache=True)
def _keras_taps(p, n, mode, nearest):
    """Point p on an axis of length n, as JAX's map_coordinates reads it: the two taps' indices
    into [0, n), the weight of the second, and whether each tap is on the image (always, unless
    the mode is 'constant', where an off-image tap reads cval)."""
    if nearest:
        p = _round_half_away(p)
    low = np.floor(p)
    i = int(low)
    if mode == CONSTANT:
        first_inside, second_inside = 0 <= i < n, 0 <= i + 1 < n
        return min(max(i, 0), n - 1), min(max(i + 1, 0), n - 1), p - low, first_inside, second_inside
    return _source_index(i, n, mode), _source_index(i + 1, n, mode), p - low, True, True


@njit(cache=True)
def _taps_image(image, a, mode, cval, nearest, adjoint, out):
    """Forward: out (H, W, C) from image through matrix a. Adjoint: image holds the output's
    gradient, and each value is added into out (the input's gradient) through the same taps."""
    H, W, C = out.shape
    for i in range(H):
        for j in range(W):
            t, b, fr, t_in, b_in = _keras_taps(a[0, 0] * i + a[0, 1] * j + a[0, 2], H, mode, nearest)
            lt, rt, fc, l_in, r_in = _keras_taps(a[1, 0] * i + a[1, 1] * j + a[1, 2], W, mode, nearest)
            # The four taps' weights; a tap off the image (constant mode) weighs cval instead.
            w_tl, w_tr = (1.0 - fr) * (1.0 - fc), (1.0 - fr) * fc
            w_bl, w_br = fr * (1.0 - fc), fr * fc
            off = 0.0
            if not (t_in and l_in):
                off += w_tl
                w_tl = 0.0
            if not (t_in and r_in):
                off += w_tr
                w_tr = 0.0
            if not (b_in and l_in):
                off += w_bl
                w_bl = 0.0
            if not (b_in and r_in):
                off += w_br
                w_br = 0.0
            if adjoint:
                for ch in range(C):
                    g = image[i, j, ch]
                    out[t, lt, ch] += w_tl * g
                    out[t, rt, ch] += w_tr * g
                    out[b, lt, ch] += w_bl * g
                    out[b, rt, ch] += w_br * g
            else:
                for ch in range(C):
                    out[i, j, ch] = (w_tl * image[t, lt, ch] + w_tr * image[t, rt, ch]
                                     + w_bl * image[b, lt, ch] + w_br * image[b, rt, ch] + off * cval)


@njit(cache=True, nogil=True)
def _taps_images(x, matrices, mode, cval, nearest, adjoint, out, lo, hi):
    """Images lo..hi-1; each writes only its own image (the adjoint scatters within one image)."""
    for k in range(lo, hi):
        _taps_image(x[k], matrices[k], mode, cval, nearest, adjoint, out[k])


# ---- plain NumPy reference ----------------------------------------------------------------------


def _extend(i, n, fill_mode):
    """Grid positions i (any integers) as indices into [0, n), the image extended by fill_mode."""
    if fill_mode == "wrap":
        return np.mod(i, n)
    if fill_mode == "reflect":
        i = np.mod(i, 2 * n)
        return np.where(i < n, i, 2 * n - 1 - i)
    return np.clip(i, 0, n - 1)


def _reference_taps(p, n, fill_mode):
    """``_taps`` for an array of points: (first index, second index, weight, inside)."""
    inside = np.ones(p.shape, dtype=bool)
    if fill_mode == "constant":
        inside = (-EDGE_TOLERANCE <= p) & (p <= n - 1 + EDGE_TOLERANCE)
        p = np.clip(p, 0.0, n - 1.0)
    low = np.floor(p)
    first = _extend(low.astype(np.int64), n, fill_mode)
    return first, _extend(low.astype(np.int64) + 1, n, fill_mode), p - low, inside


def affine_transform_reference(x, matrices, fill_mode="nearest", cval=0.0, indices=None):
    """``affine_transform`` in plain NumPy: every sample point at once, then four gathers."""
    x, matrices, indices, _ = _check_arguments(x, matrices, fill_mode, indices)
    H, W = x.shape[1], x.shape[2]
    i = np.arange(H, dtype=np.float64)[None, :, None]
    j = np.arange(W, dtype=np.float64)[None, None, :]
    a = matrices[:, :, :, None, None]  # (M, 2, 3, 1, 1): each entry against the (H, W) grid
    r = (a[:, 0, 0] * i + a[:, 0, 2]) + a[:, 0, 1] * j
    c = (a[:, 1, 0] * i + a[:, 1, 2]) + a[:, 1, 1] * j
    t, b, fr, row_inside = _reference_taps(r, H, fill_mode)
    lt, rt, fc, column_inside = _reference_taps(c, W, fill_mode)
    n, fr, fc = indices[:, None, None], fr[..., None], fc[..., None]
    left = (1.0 - fr) * x[n, t, lt] + fr * x[n, b, lt]
    right = (1.0 - fr) * x[n, t, rt] + fr * x[n, b, rt]
    value = (1.0 - fc) * left + fc * right
    return np.where((row_inside & column_inside)[..., None], value, cval).astype(x.dtype)


def _reference_keras_taps(p, n, fill_mode, nearest):
    """``_keras_taps`` for an array of points: (first index, second index, weight, first inside,
    second inside)."""
    if nearest:
        p = np.sign(p) * np.floor(np.abs(p) + 0.5)
    low = np.floor(p)
    i = low.astype(np.int64)
    if fill_mode == "constant":
        inside = [(0 <= k) & (k < n) for k in (i, i + 1)]
        return np.clip(i, 0, n - 1), np.clip(i + 1, 0, n - 1), p - low, inside[0], inside[1]
    true = np.ones(p.shape, dtype=bool)
    return _extend(i, n, fill_mode), _extend(i + 1, n, fill_mode), p - low, true, true


def _reference_tap_weights(matrices, H, W, fill_mode, nearest):
    """For every output pixel of every image, its four taps: (rows, cols, weights, inside), each
    of shape (N, H, W, 4)."""
    i = np.arange(H, dtype=np.float64)[None, :, None]
    j = np.arange(W, dtype=np.float64)[None, None, :]
    a = matrices[:, :, :, None, None]
    t, b, fr, t_in, b_in = _reference_keras_taps(a[:, 0, 0] * i + a[:, 0, 1] * j + a[:, 0, 2], H, fill_mode, nearest)
    lt, rt, fc, l_in, r_in = _reference_keras_taps(a[:, 1, 0] * i + a[:, 1, 1] * j + a[:, 1, 2], W, fill_mode, nearest)
    rows = np.stack([t, t, b, b], axis=-1)
    cols = np.stack([lt, rt, lt, rt], axis=-1)
    weights = np.stack([(1 - fr) * (1 - fc), (1 - fr) * fc, fr * (1 - fc), fr * fc], axis=-1)
    inside = np.stack([t_in & l_in, t_in & r_in, b_in & l_in, b_in & r_in], axis=-1)
    return rows, cols, weights, inside


def tap_transform_reference(x, matrices, fill_mode="reflect", cval=0.0, interpolation="bilinear"):
    """``tap_transform`` in plain NumPy: all taps at once, then four gathers."""
    x, matrices, _, _ = _check_arguments(x, matrices, fill_mode, None)
    nearest = _check_interpolation(interpolation)
    rows, cols, weights, inside = _reference_tap_weights(matrices, x.shape[1], x.shape[2], fill_mode, nearest)
    n = np.arange(len(x))[:, None, None, None]
    values = np.where(inside[..., None], x[n, rows, cols], cval)  # (N, H, W, 4, C)
    return (weights[..., None] * values).sum(axis=3).astype(x.dtype)


def tap_transform_backward_reference(dy, matrices, fill_mode="reflect", interpolation="bilinear"):
    """``tap_transform_backward`` in plain NumPy: one scatter-add of every tap."""
    dy, matrices, _, _ = _check_arguments(dy, matrices, fill_mode, None)
    nearest = _check_interpolation(interpolation)
    N, H, W, C = dy.shape
    rows, cols, weights, inside = _reference_tap_weights(matrices, H, W, fill_mode, nearest)
    n = np.broadcast_to(np.arange(N)[:, None, None, None], rows.shape)
    contributions = np.where(inside[..., None], weights[..., None] * dy[:, :, :, None, :], 0.0)
    dx = np.zeros(dy.shape, dtype=np.float64)
    np.add.at(dx, (n, rows, cols), contributions)
    return dx.astype(dy.dtype)
