"""The gradient of a table lookup: the rows of the output's gradient added into the rows of the
table they were read from (an id read twice receives both rows)."""
import numpy as np
from tinykeras.kernels.compiled import njit

from tinykeras.kernels.mode import switchable


@switchable
def scatter_add_rows(table, ids, rows):
    """``table[ids[i]] += rows[i]`` for every i, in place, repeated ids accumulating.

    Args:
        table: (V, D) float array, C-contiguous.
        ids: (M,) integer array, each in [0, V).
        rows: (M, D) array of table's dtype.

    Returns:
        table.
    """
    _scatter_add_rows(table, np.ascontiguousarray(ids, dtype=np.int64), np.ascontiguousarray(rows, dtype=table.dtype))
    return table


def scatter_add_rows_reference(table, ids, rows):
    """``scatter_add_rows`` in plain NumPy (unbuffered ``np.add.at``)."""
    np.add.at(table, ids, rows)
    return table


@njit(cache=True, nogil=True)
def _scatter_add_rows(table, ids, rows):
    # One row after the other: two ids may be equal, so the rows cannot be added in parallel.
    for i in range(ids.shape[0]):
        target = table[ids[i]]
        source = rows[i]
        for j in range(source.shape[0]):
            target[j] += source[j]
