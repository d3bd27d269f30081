"""Max and average 2-D pooling over NHWC (channels_last) batches, forward and backward.

Window (oh, ow) covers input rows ``oh*SH - top + i`` and columns ``ow*SW - left + j`` for
``i < PH``, ``j < PW``. As in TensorFlow's ``same`` pooling, padded positions take no part:
they never win a max and are not counted in an average's divisor. Output sizes follow
``conv_output_size`` with dilation 1 (``valid``: ``floor((H - PH) / SH) + 1``).

The fast kernels are Numba functions compiled on first call (``cache=True``); each has a plain
NumPy reference below it.
"""
import numpy as np
from tinykeras.kernels.compiled import njit

from tinykeras.kernels._common import (
    as_float_image,
    cached_geometry,
    int_pair,
    output_size_from_pads,
    split_range,
)
from tinykeras.kernels.mode import switchable


def _halves(geom):
    """Whether the halving kernel applies: 2x2 windows at stride 2 without padding (the
    tutorials' MaxPooling2D((2, 2)), ``_max_halving_images``). Without padding at the bottom or
    right, the windows end within the image: 2*OH <= H and 2*OW <= W."""
    H, W, _, PH, PW, SH, SW, top, left, OH, OW = geom
    return (PH, PW, SH, SW, top, left) == (2, 2, 2, 2, 0, 0) and 2 * OH <= H and 2 * OW <= W


@cached_geometry
def _geometry(x_shape, pool_size, strides, pads):
    """The integers the kernels need, as one tuple: (H, W, C, PH, PW, SH, SW, top, left, OH, OW)."""
    _, H, W, C = (int(s) for s in x_shape)
    (PH, PW), (SH, SW) = int_pair(pool_size, "pool_size"), int_pair(strides, "strides")
    (top, bottom), (left, right) = int_pair(pads[0], "pads[0]"), int_pair(pads[1], "pads[1]")
    if min(PH, PW, SH, SW) < 1:
        raise ValueError(
            f"Expected positive pool_size and strides. Received: pool_size={pool_size}, "
            f"strides={strides}"
        )
    # A pad smaller than the window keeps at least one real pixel in every window.
    if not (0 <= top < PH and 0 <= bottom < PH and 0 <= left < PW and 0 <= right < PW):
        raise ValueError(
            f"Expected each pad to be non-negative and smaller than the pool size {(PH, PW)}. "
            f"Received: pads={pads}"
        )
    OH = output_size_from_pads(H, PH, SH, 1, top, bottom)
    OW = output_size_from_pads(W, PW, SW, 1, left, right)
    return (H, W, C, PH, PW, SH, SW, top, left, OH, OW)


def _pooled(x, pool_size, strides, pads):
    """x as a float NHWC image, its window geometry, and an empty (N, OH, OW, C) output of its
    dtype."""
    x = as_float_image(x)
    geom = _geometry(x.shape, pool_size, strides, pads)
    return x, geom, np.empty((x.shape[0], geom[9], geom[10], geom[2]), dtype=x.dtype)


@switchable
def max_pool_forward(x, pool_size, strides, pads):
    """Max pooling.

    Args:
        x: (N, H, W, C) float32/float64 array.
        pool_size: (PH, PW). strides: (SH, SW). pads: ((top, bottom), (left, right)).

    Returns:
        y: (N, OH, OW, C), the max of each window over its non-padded positions.
        argmax: int32 (N, OH, OW, C), the flat index ``h * W + w`` within the image of the input
            that won; the first in row-major window order on ties (a NaN wins and propagates).
    """
    x, geom, y = _pooled(x, pool_size, strides, pads)
    argmax = np.empty(y.shape, dtype=np.int32)
    halving = _halves(geom)
    split_range(len(x), x.size, lambda lo, hi: _max_forward_images(x, y, argmax, geom, halving, lo, hi))
    return y, argmax


@switchable
def max_pool_backward(dy, argmax, x_shape):
    """The gradient of max pooling: each dy is added to the input that won its window.

    Args:
        dy: (N, OH, OW, C) float32/float64 array. argmax: from ``max_pool_forward``.
        x_shape: (N, H, W, C) of the pooled input.

    Returns:
        dx of shape x_shape and dy's dtype (an input that won several windows gets their sum).
    """
    dy = as_float_image(dy, "dy")
    argmax = np.ascontiguousarray(argmax)
    if argmax.shape != dy.shape or x_shape[0] != dy.shape[0] or x_shape[3] != dy.shape[3]:
        raise ValueError(
            f"Expected dy and argmax of shape (N, OH, OW, C) for x_shape={tuple(x_shape)}. "
            f"Received: dy.shape={dy.shape}, argmax.shape={argmax.shape}"
        )
    N, H, W, C = (int(s) for s in x_shape)
    dx = np.empty((N, H * W, C), dtype=dy.dtype)
    # The kernel checks each index as it scatters (no extra pass) and skips those outside the
    # image; any such index makes the whole call fail.
    outside = 0
    if argmax.dtype == np.int32:
        grads, winners = dy.reshape(N, -1, C), argmax.reshape(N, -1, C)
        outside = sum(split_range(N, dx.size, lambda lo, hi: _max_backward_images(grads, winners, dx, lo, hi)))
    if argmax.dtype != np.int32 or outside:
        raise ValueError(
            f"Expected argmax to be int32 indices in [0, {H * W}) (from max_pool_forward on an "
            f"input of shape {tuple(x_shape)}). Received: dtype={argmax.dtype}, range="
            f"[{argmax.min() if argmax.size else None}, {argmax.max() if argmax.size else None}]"
        )
    return dx.reshape(N, H, W, C)


@switchable
def avg_pool_forward(x, pool_size, strides, pads):
    """Average pooling: the mean of each window over its non-padded positions.

    Args:
        x: (N, H, W, C) float32/float64 array.
        pool_size: (PH, PW). strides: (SH, SW). pads: ((top, bottom), (left, right)).

    Returns:
        y: (N, OH, OW, C) of x's dtype.
    """
    x, geom, y = _pooled(x, pool_size, strides, pads)
    split_range(len(x), x.size, lambda lo, hi: _avg_forward_images(x, y, geom, lo, hi))
    return y


@switchable
def avg_pool_backward(dy, x_shape, pool_size, strides, pads):
    """The gradient of average pooling: each dy spread equally over its window's real inputs.

    Args:
        dy: (N, OH, OW, C) float32/float64 array.
        x_shape: (N, H, W, C) of the pooled input; pool_size, strides, pads: as for the forward.

    Returns:
        dx of shape x_shape and dy's dtype.
    """
    dy = as_float_image(dy, "dy")
    geom = _geometry(x_shape, pool_size, strides, pads)
    expected = (int(x_shape[0]), geom[9], geom[10], geom[2])
    if dy.shape != expected:
        raise ValueError(
            f"Expected dy of shape {expected} for x_shape={tuple(x_shape)}. "
            f"Received: dy.shape={dy.shape}"
        )
    dx = np.empty(tuple(int(s) for s in x_shape), dtype=dy.dtype)
    split_range(dx.shape[0], dx.size, lambda lo, hi: _avg_backward_images(dy, dx, geom, lo, hi))
    return dx


# ---- Numba kernels ----------------------------------------------------------------------------
# Arrays keep their 4-D shapes; the innermost loops run over the C contiguous channels of one
# pixel through 1-D views indexed from 0 (so Numba drops its negative-index checks and LLVM
# vectorises them); the 2x2 halving kernel indexes flat rows instead, with no view inside its
# loops (see it). Each driver runs over the images lo..hi-1 and writes only those images, so a
# batch can be split between threads (``split_range``); the drivers release the GIL.


@njit(cache=True)
def _window(o, stride, pad, pool, size):
    """First input position of window o, and its taps [lo, hi) that fall inside [0, size)."""
    start = o * stride - pad
    return start, max(0, -start), min(pool, size - start)


@njit(cache=True)
def _max_forward_row(x, y, argmax, n, oh, geom):
    H, W, C, PH, PW, SH, SW, top, left, OH, OW = geom
    h0, ilo, ihi = _window(oh, SH, top, PH, H)
    # Views of whole rows, taken once per input row: a view per pixel costs more than the
    # compares of a few channels.
    best, arg = y[n, oh], argmax[n, oh]
    row = x[n, h0 + ilo]
    for ow in range(OW):  # each window starts from its first real input
        w0, jlo, _ = _window(ow, SW, left, PW, W)
        for c in range(C):
            best[ow, c] = row[w0 + jlo, c]
            arg[ow, c] = (h0 + ilo) * W + w0 + jlo
    for i in range(ilo, ihi):
        row = x[n, h0 + i]
        for ow in range(OW):
            w0, jlo, jhi = _window(ow, SW, left, PW, W)
            for j in range(jlo + (i == ilo), jhi):
                index = (h0 + i) * W + w0 + j
                for c in range(C):
                    v, b = row[w0 + j, c], best[ow, c]
                    # Selects rather than a branch: twice as fast, the loop has no jumps.
                    take = _wins(v, b)
                    best[ow, c] = v if take else b
                    arg[ow, c] = index if take else arg[ow, c]


@njit(cache=True, inline="always")
def _wins(v, b):
    """Whether v replaces the running maximum b: strictly greater, so the first max wins ties;
    a NaN wins once and stays."""
    return (v > b) | ((v != v) & (b == b))


@njit(cache=True)
def _max_halving_images(x, y, argmax, geom, lo, hi):
    """Images lo..hi-1 of a 2x2 max pooling with stride 2 and no padding, by the general
    kernel's rule, in two passes per output row, neither with a branch:

    - down the columns: each input column's winner of its two rows (the top one unless the
      bottom one is greater, or NaN where the top one is not), over the two rows as flat runs of
      2*OW*C values (one loop long enough to vectorise);
    - across: the winner of a window's two column winners, by the same rule; where they are
      equal (or both NaN) the first in row-major order wins: the top left input if the left
      column's winner is its top, else the top right one if the right column's winner is its
      top, else the bottom left one.

    On random data a compare-and-select chain over the four inputs compiles to branches the CPU
    mispredicts: 8 channels took 16.5 ns per output value that way, 1.0 ns through the maximum
    of the four and arithmetic on the comparisons, and 0.7 ns in these two passes (32 images of
    26x26x8: 31-33 us against 40-43; 10 of 26x26x10, the small CNN's: 16 against 23-26; 64 of
    32x32x32 on two threads: 669-695 against 646-683). The window indices are int32 throughout:
    with an int64 column flag the same passes took 86 us.
    """
    N, H, W, C, OH, OW = x.shape[0], geom[0], geom[1], geom[2], geom[9], geom[10]
    rows, best, arg = x.reshape(N, H, W * C), y.reshape(N, OH, OW * C), argmax.reshape(N, OH, OW * C)
    width = 2 * OW * C
    column_best = np.empty(width, dtype=x.dtype)
    column_bottom = np.empty(width, dtype=np.int32)  # W where the bottom input won its column, else 0
    one, below = np.int32(1), np.int32(W)
    for n in range(lo, hi):
        for oh in range(OH):
            upper, lower = rows[n, 2 * oh], rows[n, 2 * oh + 1]
            for k in range(width):
                a, b = upper[k], lower[k]
                down = _wins(b, a)
                column_best[k] = b if down else a
                column_bottom[k] = below if down else np.int32(0)
            out, out_arg = best[n, oh], arg[n, oh]
            for ow in range(OW):
                left = 2 * ow * C  # the left column's values; the right column's: left + C
                first = np.int32(2 * oh * W + 2 * ow)  # the window's top left input
                for c in range(C):
                    lv, rv = column_best[left + c], column_best[left + C + c]
                    lb, rb = column_bottom[left + c], column_bottom[left + C + c]
                    right = _wins(rv, lv)
                    level = (rv == lv) | ((rv != rv) & (lv != lv))
                    top_right_first = level & (lb != 0) & (rb == 0)
                    out[ow * C + c] = rv if right else lv
                    offset = rb + one if right else (one if top_right_first else lb)
                    out_arg[ow * C + c] = first + offset


@njit(cache=True, nogil=True)
def _max_forward_images(x, y, argmax, geom, halving, lo, hi):
    if halving:
        _max_halving_images(x, y, argmax, geom, lo, hi)
        return
    for n in range(lo, hi):
        for oh in range(geom[9]):
            _max_forward_row(x, y, argmax, n, oh, geom)


@njit(cache=True)
def _max_backward_image(dy, argmax, dx, n):
    """Zeroes image n of dx (N, H*W, C) and adds each of its dy onto the input that won.
    Returns how many of its argmax fall outside [0, H*W) (those are skipped)."""
    image = dx[n]
    pixels = image.shape[0]
    for p in range(pixels):
        pixel = image[p]
        for c in range(pixel.size):
            pixel[c] = 0
    grads, winners = dy[n], argmax[n]
    outside = 0
    for q in range(grads.shape[0]):
        g, a = grads[q], winners[q]
        for c in range(g.size):
            if 0 <= a[c] < pixels:
                image[a[c], c] += g[c]
            else:
                outside += 1
    return outside


@njit(cache=True, nogil=True)
def _max_backward_images(dy, argmax, dx, lo, hi):
    outside = 0
    for n in range(lo, hi):
        outside += _max_backward_image(dy, argmax, dx, n)
    return outside


@njit(cache=True)
def _avg_forward_row(x, y, n, oh, geom):
    H, W, C, PH, PW, SH, SW, top, left, OH, OW = geom
    h0, ilo, ihi = _window(oh, SH, top, PH, H)
    for ow in range(OW):
        w0, jlo, jhi = _window(ow, SW, left, PW, W)
        mean = y[n, oh, ow]
        for c in range(C):
            mean[c] = 0
        for i in range(ilo, ihi):
            for j in range(jlo, jhi):
                pixel = x[n, h0 + i, w0 + j]
                for c in range(C):
                    mean[c] += pixel[c]
        count = (ihi - ilo) * (jhi - jlo)
        for c in range(C):
            mean[c] /= count


@njit(cache=True, nogil=True)
def _avg_forward_images(x, y, geom, lo, hi):
    for n in range(lo, hi):
        for oh in range(geom[9]):
            _avg_forward_row(x, y, n, oh, geom)


@njit(cache=True)
def _avg_backward_image(dy, dx, n, geom):
    """Zeroes image n of dx and spreads each of its dy over the window's real inputs."""
    H, W, C, PH, PW, SH, SW, top, left, OH, OW = geom
    image = dx[n]
    for h in range(H):
        for w in range(W):
            pixel = image[h, w]
            for c in range(C):
                pixel[c] = 0
    for oh in range(OH):
        h0, ilo, ihi = _window(oh, SH, top, PH, H)
        for ow in range(OW):
            w0, jlo, jhi = _window(ow, SW, left, PW, W)
            g = dy[n, oh, ow]
            scale = 1.0 / ((ihi - ilo) * (jhi - jlo))
            for i in range(ilo, ihi):
                for j in range(jlo, jhi):
                    pixel = image[h0 + i, w0 + j]
                    for c in range(C):
                        pixel[c] += g[c] * scale


@njit(cache=True, nogil=True)
def _avg_backward_images(dy, dx, geom, lo, hi):
    for n in range(lo, hi):
        _avg_backward_image(dy, dx, n, geom)


# ---- plain NumPy references -------------------------------------------------------------------


def _windows(padded, geom):
    """(N, OH, OW, PH*PW, C): every window of a padded input, taps in row-major order."""
    _, _, _, PH, PW, SH, SW, _, _, OH, OW = geom
    N, C = padded.shape[0], padded.shape[3]
    stack = np.empty((N, OH, OW, PH * PW, C), dtype=padded.dtype)
    for i in range(PH):
        for j in range(PW):
            stack[:, :, :, i * PW + j, :] = padded[
                :, i : i + SH * (OH - 1) + 1 : SH, j : j + SW * (OW - 1) + 1 : SW, :
            ]
    return stack


def _pad(x, pads, value):
    return np.pad(x, ((0, 0), tuple(pads[0]), tuple(pads[1]), (0, 0)), constant_values=value)


def max_pool_forward_reference(x, pool_size, strides, pads):
    """``max_pool_forward`` in plain NumPy: the max of each window's real (non-padded) taps, and
    the first real tap equal to it (or the first NaN)."""
    x = np.asarray(x)
    geom = _geometry(x.shape, pool_size, strides, pads)
    H, W, _, PH, PW, SH, SW, top, left, OH, OW = geom
    windows = _windows(_pad(x, pads, 0), geom)
    real = _windows(_pad(np.ones((1,) + x.shape[1:3] + (1,), bool), pads, False), geom)
    y = np.where(real, windows, -np.inf).max(axis=3)  # NaN if the window holds one
    won = real & ((windows == y[:, :, :, None, :]) | (np.isnan(windows) & np.isnan(y)[:, :, :, None, :]))
    tap = won.argmax(axis=3)
    rows = np.arange(OH)[None, :, None, None] * SH - top + tap // PW
    columns = np.arange(OW)[None, None, :, None] * SW - left + tap % PW
    return y, (rows * W + columns).astype(np.int32)


def max_pool_backward_reference(dy, argmax, x_shape):
    """``max_pool_backward`` in plain NumPy with ``np.add.at``."""
    N, H, W, C = x_shape
    dx = np.zeros((N, H * W, C), dtype=dy.dtype)
    n = np.arange(N)[:, None, None, None]
    c = np.arange(C)[None, None, None, :]
    np.add.at(dx, (np.broadcast_to(n, dy.shape), argmax, np.broadcast_to(c, dy.shape)), dy)
    return dx.reshape(x_shape)


def avg_pool_forward_reference(x, pool_size, strides, pads):
    """``avg_pool_forward`` in plain NumPy: window sums divided by the count of real inputs."""
    x = np.asarray(x)
    geom = _geometry(x.shape, pool_size, strides, pads)
    sums = _windows(_pad(x, pads, 0), geom).sum(axis=3)
    counts = _windows(_pad(np.ones((1,) + x.shape[1:3] + (1,)), pads, 0), geom).sum(axis=3)
    return (sums / counts).astype(x.dtype)


def avg_pool_backward_reference(dy, x_shape, pool_size, strides, pads):
    """``avg_pool_backward`` in plain NumPy: each tap adds dy / count onto a strided slice."""
    geom = _geometry(x_shape, pool_size, strides, pads)
    N, H, W, C = x_shape
    _, _, _, PH, PW, SH, SW, top, left, OH, OW = geom
    (_, bottom), (_, right) = pads
    counts = _windows(_pad(np.ones((1, H, W, 1)), pads, 0), geom).sum(axis=3)
    share = dy / counts
    padded = np.zeros((N, H + top + bottom, W + left + right, C), dtype=dy.dtype)
    for i in range(PH):
        for j in range(PW):
            padded[:, i : i + SH * (OH - 1) + 1 : SH, j : j + SW * (OW - 1) + 1 : SW, :] += share
    return padded[:, top : top + H, left : left + W, :].copy()
