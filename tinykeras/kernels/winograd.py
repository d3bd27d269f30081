"""A 3x3, stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3): each 2x2 block of
output pixels from a 4x4 patch of input in 16 multiplications per channel and filter, where
im2col's product takes 36 (2.25 times fewer).

One dimension first. Two outputs of a 3-tap correlation, ``y0 = d0 g0 + d1 g1 + d2 g2`` and
``y1 = d1 g0 + d2 g1 + d3 g2``, take four products:

    m0 = (d0 - d2) g0             m1 = (d1 + d2) (g0 + g1 + g2) / 2
    m3 = (d1 - d3) g2             m2 = (d2 - d1) (g0 - g1 + g2) / 2
    y0 = m0 + m1 + m2             y1 = m1 - m2 - m3

In matrices, ``y = A^T [(G g) * (B^T d)]`` with

    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]

and in two dimensions, for a 4x4 patch ``d`` and a 3x3 kernel ``g``, the 2x2 output is
``A^T [(G g G^T) * (B^T d B)] A``. Over channels the elementwise product becomes a sum: for each
of the 16 positions (xi, nu) of the 4x4 transformed tile,

    M[xi, nu] = V[xi, nu] @ U[xi, nu]      V: (tiles, C), U: (C, F), M: (tiles, F)

16 matrix products with 1/2.25 of im2col's multiplications, around cheap transforms of the input
(``V = B^T d B`` per tile and channel), of the kernel (``U = G g G^T``) and of the output
(``y = A^T M A``). The output is cut into 2x2 tiles (a last row or column of tiles may hang over
the edge: its input beyond the image is zero and its output beyond the edge is dropped); tile t
of an image reads the input rows from ``2 * row - pad_top`` on.

The backward pass runs the same transforms transposed: ``dM = A dY A^T``, then
``dU = V^T dM`` and ``dV = dM U^T`` (the same 16 products), ``dkernel = G^T dU G`` and
``dx += B dV B^T`` at each tile's patch (neighbouring patches overlap by two rows or columns).

``conv2d`` chooses this algorithm (``applies``) and runs it chunk by chunk like im2col's.
"""
import threading

import numpy as np
from numba import njit

from tinykeras.kernels import tuning

def applies(geometry):
    """Whether a convolution runs by Winograd: a 3x3 kernel, stride 1, no dilation, and enough
    input channels and filters for the 16 products to pay for the transforms
    (``tuning.WINOGRAD_MIN_CHANNELS``)."""
    g = geometry
    return (
        g.kernel == (3, 3)
        and g.strides == (1, 1)
        and g.dilation == (1, 1)
        and min(g.channels, g.filters) >= tuning.WINOGRAD_MIN_CHANNELS
    )


def tiles_per_image(geometry):
    """(rows, columns) of 2x2 output tiles of one image."""
    return -(-geometry.output[0] // 2), -(-geometry.output[1] // 2)


def bytes_per_image(geometry, itemsize):
    """The bytes of one image's transformed input and output tiles (V and M)."""
    rows, columns = tiles_per_image(geometry)
    return 16 * rows * columns * (geometry.channels + geometry.filters) * itemsize


def _times_g(g0, g1, g2):
    """The four rows of ``G g`` from the three of g (arrays of any shape)."""
    return g0, (g0 + g1 + g2) * 0.5, (g0 - g1 + g2) * 0.5, g2


def _times_g_transposed(d0, d1, d2, d3):
    """The three rows of ``G^T d`` from the four of d."""
    return d0 + (d1 + d2) * 0.5, (d1 - d2) * 0.5, (d1 + d2) * 0.5 + d3


def kernel_transform(kernel):
    """``U = G g G^T`` of a (3, 3, C, F) kernel, as 16 (C, F) matrices: (16, C, F). (Rows, then
    columns, each a few whole-array sums: a general contraction took milliseconds per call.)"""
    rows = _times_g(*kernel)  # (G g)[a], each (3, C, F)
    return np.stack([u for row in rows for u in _times_g(*row)])


def kernel_gradient(du):
    """``dkernel = G^T dU G`` of a (16, C, F) gradient of U: (3, 3, C, F)."""
    grid = du.reshape(4, 4, *du.shape[1:])
    rows = _times_g_transposed(*grid)  # (G^T dU)[i], each (4, C, F)
    return np.stack([np.stack(_times_g_transposed(*row)) for row in rows])


class _Buffers(threading.local):
    """This thread's V and M matrices, shared by every Winograd convolution in the thread and
    grown when a chunk needs more (a model holds one chunk's tiles per thread)."""

    tiles = None
    outputs = None


_BUFFERS = _Buffers()


def buffers(tiles, channels, filters, dtype):
    """Views of this thread's buffers: V (16, tiles, channels) and M (16, tiles, filters)."""
    b = _BUFFERS
    for name, width in (("tiles", channels), ("outputs", filters)):
        array = getattr(b, name)
        if array is None or array.size < 16 * tiles * width or array.dtype != dtype:
            setattr(b, name, np.empty(16 * tiles * width, dtype=dtype))
    return (
        b.tiles[: 16 * tiles * channels].reshape(16, tiles, channels),
        b.outputs[: 16 * tiles * filters].reshape(16, tiles, filters),
    )


@njit(cache=True, nogil=True)
def input_transform(x, pad_top, pad_left, tile_rows, tile_columns, v):
    """``v[:, t] = B^T d B`` for the 4x4 patch ``d`` (zero outside x) under each tile t of the
    (n, H, W, C) images ``x``; v is (16, n * tile_rows * tile_columns, C).

    ``B^T d`` combines four input rows column by column; the tiles of a row of tiles overlap by
    two columns, so it is computed once for the whole row of tiles (``rows``) and then combined
    four columns at a time into each tile's ``(B^T d) B``."""
    n, height, width, channels = x.shape
    rows = np.zeros((4, 2 * tile_columns + 2, channels), dtype=x.dtype)  # zero in the padding
    zero = np.zeros((width, channels), dtype=x.dtype)
    first, last = pad_left, min(width + pad_left, rows.shape[1])  # columns of rows inside x
    t = 0
    for image in range(n):
        for tile_row in range(tile_rows):
            top = 2 * tile_row - pad_top
            d0 = x[image, top] if 0 <= top < height else zero
            d1 = x[image, top + 1] if 0 <= top + 1 < height else zero
            d2 = x[image, top + 2] if 0 <= top + 2 < height else zero
            d3 = x[image, top + 3] if 0 <= top + 3 < height else zero
            for p in range(first, last):  # B^T d
                j = p - pad_left
                for c in range(channels):
                    rows[0, p, c] = d0[j, c] - d2[j, c]
                    rows[1, p, c] = d1[j, c] + d2[j, c]
                    rows[2, p, c] = d2[j, c] - d1[j, c]
                    rows[3, p, c] = d1[j, c] - d3[j, c]
            for tile_column in range(tile_columns):  # (B^T d) B
                p = 2 * tile_column
                for r in range(4):
                    for c in range(channels):
                        e0, e1, e2, e3 = rows[r, p, c], rows[r, p + 1, c], rows[r, p + 2, c], rows[r, p + 3, c]
                        v[4 * r, t, c] = e0 - e2
                        v[4 * r + 1, t, c] = e1 + e2
                        v[4 * r + 2, t, c] = e2 - e1
                        v[4 * r + 3, t, c] = e1 - e3
                t += 1


@njit(cache=True, nogil=True)
def output_transform(m, tile_rows, tile_columns, z):
    """``y = A^T m A`` of each tile of ``m`` (16, tiles, F), written to the (n, OH, OW, F)
    output ``z`` (the part of a tile past its edge dropped)."""
    n, out_height, out_width, filters = z.shape
    cols = np.empty((4, 2, filters), dtype=z.dtype)
    t = 0
    for image in range(n):
        for tile_row in range(tile_rows):
            for tile_column in range(tile_columns):
                for r in range(4):  # m A: combinations of the tile's columns
                    for f in range(filters):
                        m0, m1, m2, m3 = m[4 * r, t, f], m[4 * r + 1, t, f], m[4 * r + 2, t, f], m[4 * r + 3, t, f]
                        cols[r, 0, f] = m0 + m1 + m2
                        cols[r, 1, f] = m1 - m2 - m3
                for b in range(2):  # A^T (m A): combinations of its rows
                    j = 2 * tile_column + b
                    if j >= out_width:
                        continue
                    i = 2 * tile_row
                    for f in range(filters):
                        z[image, i, j, f] = cols[0, b, f] + cols[1, b, f] + cols[2, b, f]
                    if i + 1 < out_height:
                        for f in range(filters):
                            z[image, i + 1, j, f] = cols[1, b, f] - cols[2, b, f] - cols[3, b, f]
                t += 1


@njit(cache=True, nogil=True)
def output_gradient_transform(dz, tile_rows, tile_columns, dm):
    """``dm[:, t] = A dy A^T`` for the 2x2 block ``dy`` of the (n, OH, OW, F) gradient ``dz``
    under each tile t (zero past the edge); dm is (16, tiles, F)."""
    n, out_height, out_width, filters = dz.shape
    block = np.zeros((2, 2, filters), dtype=dz.dtype)
    cols = np.empty((2, 4, filters), dtype=dz.dtype)
    t = 0
    for image in range(n):
        for tile_row in range(tile_rows):
            for tile_column in range(tile_columns):
                for a in range(2):
                    for b in range(2):
                        i, j = 2 * tile_row + a, 2 * tile_column + b
                        if i < out_height and j < out_width:
                            block[a, b] = dz[image, i, j]
                        else:
                            block[a, b] = 0
                for a in range(2):  # dy A^T: the columns of A^T weighted by the block's
                    for f in range(filters):
                        y0, y1 = block[a, 0, f], block[a, 1, f]
                        cols[a, 0, f] = y0
                        cols[a, 1, f] = y0 + y1
                        cols[a, 2, f] = y0 - y1
                        cols[a, 3, f] = -y1
                for nu in range(4):  # A (dy A^T): the same on rows
                    for f in range(filters):
                        y0, y1 = cols[0, nu, f], cols[1, nu, f]
                        dm[nu, t, f] = y0
                        dm[4 + nu, t, f] = y0 + y1
                        dm[8 + nu, t, f] = y0 - y1
                        dm[12 + nu, t, f] = -y1
                t += 1


@njit(cache=True, nogil=True)
def input_gradient_transform(dv, pad_top, pad_left, tile_rows, tile_columns, dx):
    """Adds ``B dv B^T`` of each tile to the 4x4 patch of the (n, H, W, C) gradient ``dx`` under
    it (the part outside dx dropped); dv is (16, tiles, C). dx must start at zero."""
    n, height, width, channels = dx.shape
    rows = np.empty((4, 4, channels), dtype=dx.dtype)
    patch = np.empty((4, 4, channels), dtype=dx.dtype)
    t = 0
    for image in range(n):
        for tile_row in range(tile_rows):
            for tile_column in range(tile_columns):
                for nu in range(4):  # B dv: combinations of the tile's rows
                    for c in range(channels):
                        e0, e1, e2, e3 = dv[nu, t, c], dv[4 + nu, t, c], dv[8 + nu, t, c], dv[12 + nu, t, c]
                        rows[0, nu, c] = e0
                        rows[1, nu, c] = e1 - e2 + e3
                        rows[2, nu, c] = e1 + e2 - e0
                        rows[3, nu, c] = -e3
                for r in range(4):  # (B dv) B^T: the same on its columns
                    for c in range(channels):
                        e0, e1, e2, e3 = rows[r, 0, c], rows[r, 1, c], rows[r, 2, c], rows[r, 3, c]
                        patch[r, 0, c] = e0
                        patch[r, 1, c] = e1 - e2 + e3
                        patch[r, 2, c] = e1 + e2 - e0
                        patch[r, 3, c] = -e3
                top, left = 2 * tile_row - pad_top, 2 * tile_column - pad_left
                for r in range(4):
                    i = top + r
                    if 0 <= i < height:
                        for s in range(4):
                            j = left + s
                            if 0 <= j < width:
                                for c in range(channels):
                                    dx[image, i, j, c] += patch[r, s, c]
                t += 1
