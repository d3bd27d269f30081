"""Adding a bias to each row of a matrix, and its gradient: the sum of each column.

NumPy broadcasts ``z += b`` and reduces ``dz.sum(axis=0)`` with an inner loop as short as the row
(8 filters, 10 classes), which makes both several times slower than a plain loop compiled by
Numba. Both loops treat a few consecutive rows as one wide row, so that the loop is long enough
to vectorise. The column sums accumulate in float64, so a float32 gradient summed over a large
batch of pixels loses no precision.
"""
import numpy as np
from numba import njit

# Consecutive rows are grouped into wide rows of about this many values.
WIDE_ROW = 64


def wide_row_count(columns):
    """How many consecutive rows of ``columns`` values make one wide row (at least one)."""
    return max(1, WIDE_ROW // columns)


def add_bias(z, bias):
    """``z += bias`` in place for a C-contiguous (rows, columns) ``z``; returns z."""
    _add_rows(z, bias, wide_row_count(z.shape[1]))
    return z


def bias_gradient(dz):
    """The sum over rows of a (rows, columns) ``dz``, in dz's dtype (accumulated in float64)."""
    out = np.empty(dz.shape[1], dtype=dz.dtype)
    _column_sums(np.ascontiguousarray(dz), wide_row_count(dz.shape[1]), out)
    return out


@njit(cache=True)
def _add_rows(z, bias, m):
    # As in _column_sums: m rows at a time, against the bias repeated m times.
    rows, columns = z.shape
    width, wide_rows = m * columns, rows // m
    tiled = np.empty(width, dtype=z.dtype)
    for k in range(width):
        tiled[k] = bias[k % columns]
    flat = z.reshape(rows * columns)
    for r in range(wide_rows):
        base = r * width
        for k in range(width):
            flat[base + k] += tiled[k]
    for r in range(wide_rows * m, rows):
        for c in range(columns):
            z[r, c] += bias[c]


@njit(cache=True)
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
    total = np.zeros(columns)
    for k in range(width):
        total[k % columns] += wide[k]
    for r in range(wide_rows * m, rows):
        for c in range(columns):
            total[c] += dz[r, c]
    for c in range(columns):
        out[c] = total[c]
