"""Adding a bias to each row of a matrix, and its gradient: the sum of each column; each fused
with ReLU when a layer's activation is ReLU (one pass over the layer's output instead of two).

NumPy broadcasts ``z += b`` and reduces ``dz.sum(axis=0)`` with an inner loop as short as the row
(8 filters, 10 classes), which makes both several times slower than a plain loop compiled by
Numba. The loops treat a few consecutive rows as one wide row, so that the loop is long enough
to vectorise. The column sums accumulate in float64, so a float32 gradient summed over a large
batch of pixels loses no precision. ``normalization`` builds its loops on the same wide rows
(``wide_row_count``, ``tile``, ``fold``).
"""
import numpy as np
from tinykeras.kernels.compiled import njit

from tinykeras.kernels import tuning
from tinykeras.kernels.mode import switchable


def wide_row_count(columns):
    """How many consecutive rows of ``columns`` values make one wide row (at least one): about
    ``tuning.WIDE_ROW`` values."""
    return max(1, tuning.WIDE_ROW // columns)


@njit(cache=True, nogil=True)
def tile(values, width, dtype):
    """``values`` repeated to ``width`` values of ``dtype`` (one wide row)."""
    tiled = np.empty(width, dtype=dtype)
    for k in range(width):
        tiled[k] = values[k % values.size]
    return tiled


@njit(cache=True, nogil=True)
def fold(wide, columns):
    """The sums of a wide row's values column by column, in float64."""
    total = np.zeros(columns)
    for k in range(wide.size):
        total[k % columns] += wide[k]
    return total


@switchable
def add_bias(z, bias, relu=False):
    """``z += bias`` in place for a C-contiguous (rows, columns) ``z``, then with ``relu``
    ``z = max(z, 0)`` (NaN propagated); returns z. ``bias`` None adds nothing."""
    if bias is None:
        bias = np.zeros(z.shape[1], dtype=z.dtype)
    _add_rows(z, bias, wide_row_count(z.shape[1]), relu)
    return z


@switchable
def bias_gradient(dz):
    """The sum over rows of a (rows, columns) ``dz``, in dz's dtype (accumulated in float64)."""
    out = np.empty(dz.shape[1], dtype=dz.dtype)
    _column_sums(np.ascontiguousarray(dz), wide_row_count(dz.shape[1]), out)
    return out


@switchable
def relu_gradient(dy, y, out, sums=None):
    """``out = dy`` where ``y > 0``, else 0 (the gradient through ``y = relu(z)``), for
    C-contiguous (rows, columns) arrays; with ``sums`` (float64, one per column), adds the column
    sums of ``out`` (the bias gradient) to it. Returns out."""
    accumulate = sums is not None
    if not accumulate:
        sums = np.zeros(dy.shape[1])
    dy, y = np.ascontiguousarray(dy), np.ascontiguousarray(y)
    _relu_gradient_rows(dy, y, out, wide_row_count(dy.shape[1]), sums, accumulate)
    return out


@njit(cache=True, nogil=True)
def _add_rows(z, bias, m, relu):
    # As in _column_sums: m rows at a time, against the bias repeated m times. The value stored
    # always depends on the bias, so the compiler keeps a plain vector store (ReLU alone, in
    # place, would become a store only where z < 0, which does not vectorise).
    rows, columns = z.shape
    width, wide_rows = m * columns, rows // m
    tiled = tile(bias, width, bias.dtype)
    flat = z.reshape(rows * columns)
    zero = z.dtype.type(0)
    for r in range(wide_rows):
        base = r * width
        for k in range(width):
            v = flat[base + k] + tiled[k]
            if relu:
                v = zero if v <= zero else v  # noqa: FURB136 (max() would drop a NaN)
            flat[base + k] = v
    for r in range(wide_rows * m, rows):
        for c in range(columns):
            v = z[r, c] + bias[c]
            if relu:
                v = zero if v <= zero else v  # noqa: FURB136
            z[r, c] = v


@njit(cache=True, nogil=True)
def _relu_gradient_rows(dy, y, out, m, sums, accumulate):
    rows, columns = dy.shape
    width, wide_rows = m * columns, rows // m
    dy_flat, y_flat, out_flat = dy.reshape(rows * columns), y.reshape(rows * columns), out.reshape(rows * columns)
    zero = dy.dtype.type(0)
    wide = np.zeros(width)
    for r in range(wide_rows):
        base = r * width
        for k in range(width):
            g = dy_flat[base + k] if y_flat[base + k] > zero else zero
            out_flat[base + k] = g
            if accumulate:
                wide[k] += g
    for r in range(wide_rows * m, rows):
        for c in range(columns):
            g = dy[r, c] if y[r, c] > zero else zero
            out[r, c] = g
            if accumulate:
                sums[c] += g
    if accumulate:
        for k in range(width):
            sums[k % columns] += wide[k]


@njit(cache=True, nogil=True)
def _column_sums(dz, m, out):
    # Rows of a few floats make a loop too short to vectorise, so m consecutive rows are summed
    # as one wide row of m*columns floats (about 64), then the wide sums fold back to columns.
    rows, columns = dz.shape
    width, wide_rows = m * columns, rows // m
    flat = dz.reshape(rows * columns)
    wide = np.zeros(width)
    for r in range(wide_rows):
        base = r * width
        for k in range(width):
            wide[k] += flat[base + k]
    total = fold(wide, columns)
    for r in range(wide_rows * m, rows):
        for c in range(columns):
            total[c] += dz[r, c]
    for c in range(columns):
        out[c] = total[c]


# ---- plain NumPy references -------------------------------------------------------------------


def add_bias_reference(z, bias, relu=False):
    """``add_bias`` in plain NumPy: ``z += bias``, then ``z[z <= 0] = 0`` with relu (NaN kept)."""
    if bias is not None:
        z += bias
    if relu:
        z[z <= 0] = 0
    return z


def bias_gradient_reference(dz):
    """``bias_gradient`` in plain NumPy: the column sums, accumulated in float64."""
    return dz.sum(axis=0, dtype=np.float64).astype(dz.dtype)


def relu_gradient_reference(dy, y, out, sums=None):
    """``relu_gradient`` in plain NumPy: ``out = dy`` where ``y > 0``, else 0; its column sums
    added to ``sums``."""
    out[...] = np.where(y > 0, dy, dy.dtype.type(0))
    if sums is not None:
        sums += out.sum(axis=0, dtype=np.float64)
    return out
