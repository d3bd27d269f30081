"""A 3x3, stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3) or F(4x4, 3x3). By
F(2x2, 3x3), each 2x2 block of output pixels comes from a 4x4 patch of input in 16
multiplications per channel and filter, where im2col's product takes 36 (2.25 times fewer).

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

F(4x4, 3x3) takes the same steps with larger tiles: four outputs of the 3-tap correlation from a
6-input patch in six products, each 4x4 block of output from a 6x6 patch in 36 products, 2.25
per output pixel where F(2x2) takes 4 and im2col 9 (4 times fewer than im2col), with

    B^T = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
           [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
    G = [[1/4, 0, 0], [-1/6, -1/6, -1/6], [-1/6, 1/6, -1/6],
         [1/24, 1/12, 1/6], [1/24, -1/12, 1/6], [0, 0, 1]]
    A^T = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]

Its larger factors round more: in float32, about 5e-6 of the output's largest value against
5e-7 for F(2x2) and im2col (the CIFAR-10 model's convolutions). ``tiling`` takes F(4x4) unless
the output is too small for it. Forward and backward with ReLU, F(4x4)'s time over F(2x2)'s,
median of 10 alternated calls on 2 cores of an AMD EPYC with AVX-512: the CIFAR-10 model's
convolutions 0.73-0.90 with OpenBLAS' own (AVX-512) kernels and 0.78-0.87 with its Haswell
(AVX2) ones, the deep MNIST CNN's 26x26x32 -> 32 0.79 and 0.83.

``conv2d`` chooses Winograd (``applies``) and its tiling (``tiling``) and runs it chunk by chunk
like im2col's.
"""
import functools
import math
from typing import NamedTuple

import numpy as np
from tinykeras.kernels.compiled import njit

from tinykeras.kernels import blas, tuning

def applies(geometry):
    """Whether a convolution runs by Winograd: a 3x3 kernel, stride 1, no dilation, and enough
    input channels and filters for the products to pay for the transforms
    (``tuning.WINOGRAD_MIN_CHANNELS``)."""
    g = geometry
    return (
        g.kernel == (3, 3)
        and g.strides == (1, 1)
        and g.dilation == (1, 1)
        and min(g.channels, g.filters) >= tuning.WINOGRAD_MIN_CHANNELS
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


# ---- F(4x4, 3x3) ------------------------------------------------------------------------------


@njit(inline="always")
def _bt4(d0, d1, d2, d3, d4, d5, two, four, five):
    """``B^T d`` of F(4, 3): six combinations of six inputs."""
    even, odd = d4 - four * d2, d3 - four * d1
    near, far = d4 - d2, two * (d3 - d1)
    return four * d0 - five * d2 + d4, even + odd, even - odd, near + far, near - far, four * d1 - five * d3 + d5


@njit(inline="always")
def _b4(e0, e1, e2, e3, e4, e5, two, four, five):
    """``B e`` of F(4, 3), the transpose of ``_bt4``."""
    return (
        four * e0,
        four * (e2 - e1 + e5) + two * (e4 - e3),
        -five * e0 - four * (e1 + e2) - e3 - e4,
        e1 - e2 + two * (e3 - e4) - five * e5,
        e0 + e1 + e2 + e3 + e4,
        e5,
    )


@njit(inline="always")
def _at4(m0, m1, m2, m3, m4, m5, two, four, eight):
    """``A^T m`` of F(4, 3): four outputs from six products."""
    plus, minus, high_plus, high_minus = m1 + m2, m1 - m2, m3 + m4, m3 - m4
    return m0 + plus + high_plus, minus + two * high_minus, plus + four * high_plus, minus + eight * high_minus + m5


@njit(inline="always")
def _a4(y0, y1, y2, y3, two, four, eight):
    """``A y`` of F(4, 3), the transpose of ``_at4``."""
    even, odd = y0 + four * y2, two * y1 + eight * y3
    return y0, y0 + y1 + y2 + y3, y0 - y1 + y2 - y3, even + odd, even - odd, y3


@njit(cache=True, nogil=True)
def input_transform4(x, pad_top, pad_left, tile_rows, tile_columns, v):
    """F(4x4, 3x3)'s ``input_transform``: ``v[:, t] = B^T d B`` for the 6x6 patch ``d`` under
    each 4x4 tile t; v is (36, n * tile_rows * tile_columns, C). The tiles of a row of tiles
    overlap by two columns, so ``B^T d`` is computed once for the row of tiles; then row r of
    every tile's ``(B^T d) B`` in turn, so that v is written six planes at a time (written tile
    by tile, all 36 planes of a tile at once, the transform took 1.5-3 times as long on the
    CIFAR-10 model's chunks)."""
    n, height, width, channels = x.shape
    two, four, five = x.dtype.type(2), x.dtype.type(4), x.dtype.type(5)
    rows = np.zeros((6, 4 * tile_columns + 2, channels), dtype=x.dtype)  # zero in the padding
    zero = np.zeros((width, channels), dtype=x.dtype)
    first, last = pad_left, min(width + pad_left, rows.shape[1])  # columns of rows inside x
    t = 0
    for image in range(n):
        for tile_row in range(tile_rows):
            top = 4 * tile_row - pad_top
            d0 = x[image, top] if 0 <= top < height else zero
            d1 = x[image, top + 1] if 0 <= top + 1 < height else zero
            d2 = x[image, top + 2] if 0 <= top + 2 < height else zero
            d3 = x[image, top + 3] if 0 <= top + 3 < height else zero
            d4 = x[image, top + 4] if 0 <= top + 4 < height else zero
            d5 = x[image, top + 5] if 0 <= top + 5 < height else zero
            for p in range(first, last):  # B^T d
                j = p - pad_left
                for c in range(channels):
                    e = _bt4(d0[j, c], d1[j, c], d2[j, c], d3[j, c], d4[j, c], d5[j, c], two, four, five)
                    for k in range(6):
                        rows[k, p, c] = e[k]
            for r in range(6):  # (B^T d) B, row r of each tile in turn: six planes of v at a time
                for tile_column in range(tile_columns):
                    p = 4 * tile_column
                    for c in range(channels):
                        e = _bt4(rows[r, p, c], rows[r, p + 1, c], rows[r, p + 2, c], rows[r, p + 3, c],
                                 rows[r, p + 4, c], rows[r, p + 5, c], two, four, five)
                        for k in range(6):
                            v[6 * r + k, t + tile_column, c] = e[k]
            t += tile_columns


@njit(cache=True, nogil=True)
def output_transform4(m, tile_rows, tile_columns, z):
    """F(4x4, 3x3)'s ``output_transform``: ``y = A^T m A`` of each tile of ``m`` (36, tiles, F),
    written to the (n, OH, OW, F) output ``z`` (the part of a tile past its edge dropped)."""
    n, out_height, out_width, filters = z.shape
    two, four, eight = z.dtype.type(2), z.dtype.type(4), z.dtype.type(8)
    cols = np.empty((6, 4, filters), dtype=z.dtype)
    t = 0
    for image in range(n):
        for tile_row in range(tile_rows):
            for tile_column in range(tile_columns):
                for r in range(6):  # m A: combinations of the tile's columns
                    for f in range(filters):
                        y = _at4(m[6 * r, t, f], m[6 * r + 1, t, f], m[6 * r + 2, t, f], m[6 * r + 3, t, f],
                                 m[6 * r + 4, t, f], m[6 * r + 5, t, f], two, four, eight)
                        for b in range(4):
                            cols[r, b, f] = y[b]
                for b in range(4):  # A^T (m A): combinations of its rows
                    j = 4 * tile_column + b
                    if j >= out_width:
                        continue
                    for f in range(filters):
                        y = _at4(cols[0, b, f], cols[1, b, f], cols[2, b, f], cols[3, b, f], cols[4, b, f],
                                 cols[5, b, f], two, four, eight)
                        for a in range(4):
                            i = 4 * tile_row + a
                            if i < out_height:
                                z[image, i, j, f] = y[a]
                t += 1


@njit(cache=True, nogil=True)
def output_gradient_transform4(dz, tile_rows, tile_columns, dm):
    """F(4x4, 3x3)'s ``output_gradient_transform``: ``dm[:, t] = A dy A^T`` for the 4x4 block
    ``dy`` of the (n, OH, OW, F) gradient ``dz`` under each tile t (zero past the edge); dm is
    (36, tiles, F). ``dy A^T`` is taken tile by tile along a row of tiles, then ``A (dy A^T)``
    column nu of every tile in turn, so that dm is written six planes at a time."""
    n, out_height, out_width, filters = dz.shape
    two, four, eight = dz.dtype.type(2), dz.dtype.type(4), dz.dtype.type(8)
    block = np.zeros((4, 4, filters), dtype=dz.dtype)
    cols = np.empty((tile_columns, 4, 6, filters), dtype=dz.dtype)
    t = 0
    for image in range(n):
        for tile_row in range(tile_rows):
            for tile_column in range(tile_columns):
                for a in range(4):
                    for b in range(4):
                        i, j = 4 * tile_row + a, 4 * tile_column + b
                        if i < out_height and j < out_width:
                            block[a, b] = dz[image, i, j]
                        else:
                            block[a, b] = 0
                for a in range(4):  # dy A^T
                    for f in range(filters):
                        y = _a4(block[a, 0, f], block[a, 1, f], block[a, 2, f], block[a, 3, f], two, four, eight)
                        for nu in range(6):
                            cols[tile_column, a, nu, f] = y[nu]
            for nu in range(6):  # A (dy A^T)
                for tile_column in range(tile_columns):
                    for f in range(filters):
                        y = _a4(cols[tile_column, 0, nu, f], cols[tile_column, 1, nu, f], cols[tile_column, 2, nu, f],
                                cols[tile_column, 3, nu, f], two, four, eight)
                        for xi in range(6):
                            dm[6 * xi + nu, t + tile_column, f] = y[xi]
            t += tile_columns


@njit(cache=True, nogil=True)
def input_gradient_transform4(dv, pad_top, pad_left, tile_rows, tile_columns, dx):
    """F(4x4, 3x3)'s ``input_gradient_transform``: adds ``B dv B^T`` of each tile to the 6x6
    patch of the (n, H, W, C) gradient ``dx`` under it (the part outside dx dropped); dv is
    (36, tiles, C). dx must start at zero."""
    n, height, width, channels = dx.shape
    two, four, five = dx.dtype.type(2), dx.dtype.type(4), dx.dtype.type(5)
    rows = np.empty((6, 6, channels), dtype=dx.dtype)
    patch = np.empty((6, 6, channels), dtype=dx.dtype)
    t = 0
    for image in range(n):
        for tile_row in range(tile_rows):
            for tile_column in range(tile_columns):
                for nu in range(6):  # B dv: combinations of the tile's rows
                    for c in range(channels):
                        e = _b4(dv[nu, t, c], dv[6 + nu, t, c], dv[12 + nu, t, c], dv[18 + nu, t, c],
                                dv[24 + nu, t, c], dv[30 + nu, t, c], two, four, five)
                        for k in range(6):
                            rows[k, nu, c] = e[k]
                for r in range(6):  # (B dv) B^T: the same on its columns
                    for c in range(channels):
                        e = _b4(rows[r, 0, c], rows[r, 1, c], rows[r, 2, c], rows[r, 3, c], rows[r, 4, c],
                                rows[r, 5, c], two, four, five)
                        for s in range(6):
                            patch[r, s, c] = e[s]
                top, left = 4 * tile_row - pad_top, 4 * tile_column - pad_left
                for r in range(6):
                    i = top + r
                    if 0 <= i < height:
                        for s in range(6):
                            j = left + s
                            if 0 <= j < width:
                                for c in range(channels):
                                    dx[image, i, j, c] += patch[r, s, c]
                t += 1


class Tiling(NamedTuple):
    """F(m x m, 3x3): output tiles of m x m pixels, each from an (m + 2) x (m + 2) patch of input,
    with its kernel matrix ``G`` ((m + 2, 3)) and its transforms (``TILINGS``)."""

    m: int
    g: np.ndarray
    input_transform: object
    output_transform: object
    output_gradient_transform: object
    input_gradient_transform: object

    @property
    def points(self):
        """(m + 2)^2: the positions of a transformed tile, one matrix product each."""
        return (self.m + 2) ** 2

    def tiles_per_image(self, geometry):
        """(rows, columns) of output tiles of one image."""
        return -(-geometry.output[0] // self.m), -(-geometry.output[1] // self.m)

    def bytes_per_image(self, geometry, itemsize):
        """The bytes of one image's transformed input and output tiles (V and M)."""
        rows, columns = self.tiles_per_image(geometry)
        return self.points * rows * columns * (geometry.channels + geometry.filters) * itemsize

    def kernel_transform(self, kernel):
        """``U = G g G^T`` of a (3, 3, C, F) kernel, one (C, F) matrix per position: (points, C,
        F). One matrix product for every channel and filter at once: (points, 9) by (9, C F)."""
        taps, channels, filters = 9, *kernel.shape[2:]
        u = blas.matmul(_both_sides(self.m, kernel.dtype), kernel.reshape(taps, channels * filters))
        return u.reshape(self.points, channels, filters)

    def kernel_gradient(self, du):
        """``dkernel = G^T dU G`` of a (points, C, F) gradient of U: (3, 3, C, F), the transposed
        product."""
        points, channels, filters = du.shape
        dkernel = blas.matmul(_both_sides(self.m, du.dtype).T, du.reshape(points, channels * filters))
        return dkernel.reshape(3, 3, channels, filters)


#: The tilings by output tile size, with G of F(2, 3) and F(4, 3) (the module's docstring).
TILINGS = {
    2: Tiling(2, np.array([[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]]),
              input_transform, output_transform, output_gradient_transform, input_gradient_transform),
    4: Tiling(4, np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                           [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]),
              input_transform4, output_transform4, output_gradient_transform4, input_gradient_transform4),
}


@functools.cache
def _both_sides(m, dtype):
    """``kron(G, G)`` of ``TILINGS[m]``, (points, 9), in ``dtype``: row ``(m + 2) xi + nu`` holds
    ``G[xi, a] G[nu, b]`` at column ``3 a + b``, so that it maps the 9 taps of a kernel to
    ``(G g G^T)[xi, nu]``. Made once per tiling and dtype (``np.kron`` takes about 0.1 ms)."""
    g = TILINGS[m].g
    return np.kron(g, g).astype(dtype)


def tiling(geometry):
    """The tiling whose products take the fewest multiplications (positions times tiles):
    F(4x4, 3x3) unless the output is too small for its tiles to save any (a tile's products
    are all spent even where most of it hangs past the edge: a 2x2 output takes one tile of 36
    positions, or one of 16)."""
    return min(TILINGS.values(), key=lambda t: (t.points * math.prod(t.tiles_per_image(geometry)), t.m))
