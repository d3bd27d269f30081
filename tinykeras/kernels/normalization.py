"""Batch normalization's per-channel loops on a (rows, channels) matrix.

A normalized activation is ``y = (x - mu) * a + b`` with one ``mu``, ``a`` and ``b`` per channel
(column), and its backward pass needs two column sums, ``sum(dy)`` and ``sum(dy * (x - mu))``.
NumPy would run each of these as several passes with an inner loop as short as a row (32
channels); here each is one pass. As in ``bias.py``, a few consecutive rows are treated as one
wide row so that the inner loop is long enough to vectorise. Sums accumulate in float64.

From ``tuning.SPLIT_MIN_ELEMENTS`` elements, each loop is cut by rows between threads
(``_common.split_range``); the sums' parts are added in float64.

Moments are taken around a shift (the first row), which keeps ``E[(x-k)^2] - E[x-k]^2`` exact
enough even when the mean is large against the spread (raw pixels in 0..255).
"""
import numpy as np
from tinykeras.kernels.compiled import njit

from tinykeras.kernels._common import split_range
from tinykeras.kernels.bias import fold, tile, wide_row_count
from tinykeras.kernels.mode import switchable


@switchable
def channel_moments(x):
    """The mean and the biased variance of each column of a C-contiguous (rows, channels) x.

    Returns:
        Two float64 arrays of shape (channels,).
    """
    rows, channels = x.shape
    if rows == 0:
        raise ValueError(f"Expected at least one row to take moments over. Received: x.shape={x.shape}")
    x = np.ascontiguousarray(x)
    m = wide_row_count(channels)
    shift = x[0].astype(np.float64)
    parts = split_range(rows, x.size, lambda lo, hi: _shifted_sums(x[lo:hi], shift, m))
    t1, t2 = (sum(sums) for sums in zip(*parts))
    centred = t1 / rows
    return shift + centred, np.maximum(t2 / rows - centred * centred, 0.0)


@switchable
def normalize(x, mu, scale, shift, out=None):
    """``out = (x - mu) * scale + shift``, column by column, for a (rows, channels) x.

    Args:
        x: C-contiguous (rows, channels) float array.
        mu, scale, shift: (channels,) arrays, cast to x's dtype.
        out: optional (rows, channels) array of x's dtype to write into.
    """
    out = np.empty_like(x) if out is None else out
    dtype, m, x = x.dtype, wide_row_count(x.shape[1]), np.ascontiguousarray(x)
    mu, scale, shift = mu.astype(dtype), scale.astype(dtype), shift.astype(dtype)
    split_range(len(x), 2 * x.size, lambda lo, hi: _normalize(x[lo:hi], mu, scale, shift, m, out[lo:hi]))
    return out


@switchable
def gradient_sums(dy, x, mu):
    """The column sums ``sum(dy)`` and ``sum(dy * (x - mu))`` of two (rows, channels) arrays.

    Returns:
        Two float64 arrays of shape (channels,).
    """
    dy, x, mu = np.ascontiguousarray(dy), np.ascontiguousarray(x), mu.astype(x.dtype)
    m = wide_row_count(x.shape[1])
    parts = split_range(len(x), 2 * x.size, lambda lo, hi: _gradient_sums(dy[lo:hi], x[lo:hi], mu, m))
    sum_dy, sum_dy_xc = (sum(sums) for sums in zip(*parts))
    return sum_dy, sum_dy_xc


@switchable
def normalize_backward(dy, x, mu, a, c, d, out=None):
    """``out = dy * a + (x - mu) * c + d``, column by column: the input gradient of batch
    normalization once its per-channel coefficients are known."""
    out = np.empty_like(dy) if out is None else out
    dtype, m = dy.dtype, wide_row_count(x.shape[1])
    dy, x = np.ascontiguousarray(dy), np.ascontiguousarray(x)
    mu, a, c, d = mu.astype(dtype), a.astype(dtype), c.astype(dtype), d.astype(dtype)
    split_range(len(x), 3 * x.size, lambda lo, hi: _normalize_backward(dy[lo:hi], x[lo:hi], mu, a, c, d, m, out[lo:hi]))
    return out


@njit(cache=True, nogil=True)
def _shifted_sums(x, first_row, m):
    """The column sums of ``x - first_row`` and of its squares, in float64."""
    rows, columns = x.shape
    width, wide_rows = m * columns, rows // m
    shift = tile(first_row, width, np.float64)
    flat = x.reshape(rows * columns)
    s1 = np.zeros(width)
    s2 = np.zeros(width)
    for r in range(wide_rows):
        base = r * width
        for k in range(width):
            v = flat[base + k] - shift[k]
            s1[k] += v
            s2[k] += v * v
    t1, t2 = fold(s1, columns), fold(s2, columns)
    for r in range(wide_rows * m, rows):
        for c in range(columns):
            v = x[r, c] - shift[c]
            t1[c] += v
            t2[c] += v * v
    return t1, t2


@njit(cache=True, nogil=True)
def _normalize(x, mu, scale, shift, m, out):
    rows, columns = x.shape
    width, wide_rows = m * columns, rows // m
    tmu, tscale, tshift = tile(mu, width, x.dtype), tile(scale, width, x.dtype), tile(shift, width, x.dtype)
    flat, flat_out = x.reshape(rows * columns), out.reshape(rows * columns)
    for r in range(wide_rows):
        base = r * width
        for k in range(width):
            flat_out[base + k] = (flat[base + k] - tmu[k]) * tscale[k] + tshift[k]
    for r in range(wide_rows * m, rows):
        for c in range(columns):
            out[r, c] = (x[r, c] - mu[c]) * scale[c] + shift[c]


@njit(cache=True, nogil=True)
def _gradient_sums(dy, x, mu, m):
    rows, columns = x.shape
    width, wide_rows = m * columns, rows // m
    tmu = tile(mu, width, x.dtype)
    flat_dy, flat_x = dy.reshape(rows * columns), x.reshape(rows * columns)
    s1 = np.zeros(width)
    s2 = np.zeros(width)
    for r in range(wide_rows):
        base = r * width
        for k in range(width):
            g = flat_dy[base + k]
            s1[k] += g
            s2[k] += g * (flat_x[base + k] - tmu[k])
    t1, t2 = fold(s1, columns), fold(s2, columns)
    for r in range(wide_rows * m, rows):
        for c in range(columns):
            t1[c] += dy[r, c]
            t2[c] += dy[r, c] * (x[r, c] - mu[c])
    return t1, t2


@njit(cache=True, nogil=True)
def _normalize_backward(dy, x, mu, a, c_, d, m, out):
    rows, columns = x.shape
    width, wide_rows = m * columns, rows // m
    tmu, ta = tile(mu, width, x.dtype), tile(a, width, x.dtype)
    tc, td = tile(c_, width, x.dtype), tile(d, width, x.dtype)
    flat_dy, flat_x, flat_out = dy.reshape(rows * columns), x.reshape(rows * columns), out.reshape(rows * columns)
    for r in range(wide_rows):
        base = r * width
        for k in range(width):
            flat_out[base + k] = flat_dy[base + k] * ta[k] + (flat_x[base + k] - tmu[k]) * tc[k] + td[k]
    for r in range(wide_rows * m, rows):
        for c in range(columns):
            out[r, c] = dy[r, c] * a[c] + (x[r, c] - mu[c]) * c_[c] + d[c]


def normalize_reference(x, mu, scale, shift, out=None):
    """Plain NumPy ``(x - mu) * scale + shift``."""
    y = ((x - mu) * scale + shift).astype(x.dtype)
    if out is None:
        return y
    out[...] = y
    return out


def channel_moments_reference(x):
    """Plain NumPy column means and biased variances, in float64."""
    x = x.astype(np.float64)
    return x.mean(axis=0), x.var(axis=0)


def gradient_sums_reference(dy, x, mu):
    """Plain NumPy ``sum(dy)`` and ``sum(dy * (x - mu))`` per column, in float64."""
    dy, centred = dy.astype(np.float64), x.astype(np.float64) - mu
    return dy.sum(axis=0), (dy * centred).sum(axis=0)


def normalize_backward_reference(dy, x, mu, a, c, d, out=None):
    """Plain NumPy ``dy * a + (x - mu) * c + d``."""
    dx = (dy * a + (x - mu) * c + d).astype(dy.dtype)
    if out is None:
        return dx
    out[...] = dx
    return out
