"""A 2-D convolution's forward and backward passes over an NHWC batch, as Conv2D and Conv1D call
them: the math is three matrix products around im2col (see ``layers.convolutional``); this module
owns how they are run.

The plan (``plan``) chooses the algorithm: a 3x3 kernel of stride 1 on enough channels runs by
Winograd's F(4x4, 3x3) or F(2x2, 3x3) (``winograd``: 36 or 16 smaller products around transforms
of the input, the kernel and the output, 4 or 2.25 times fewer multiplications), every other
convolution by im2col's product. Either way a batch is convolved a chunk of images at a time,
each chunk's unfolded input (im2col's rows, Winograd's tiles) about ``tuning.CHUNK_BYTES`` (the
rows are still in cache when the product reads them, and no layer holds the rows of a whole
batch). A batch whose product
reaches ``tuning.PARALLEL_MIN_FLOPS`` is cut into parts instead, one per thread
(``blas.split_batch``), each thread unfolding, multiplying and adding the bias for its own
images, in chunks of ``tuning.PART_CHUNK_BYTES``: each core then reads rows it has just written.
Images of a few channels are unfolded tap by tap (``im2col.prefers_tap_order``).

The rows (or tiles) live in one buffer per thread shared by every convolution (``_SharedRows``):
a model holds one chunk's rows per thread, not one per layer (the CIFAR-10 model's six
convolutions held 24 MB between steps). The backward pass goes chunk by chunk, last first, so
that the chunk the buffer still holds from the forward pass is not unfolded again.

The plain NumPy form of both passes, the whole batch at once, is ``conv2d_forward_reference``
and ``conv2d_backward_reference`` (at the end); ``TINYKERAS_KERNELS=reference`` runs it instead
(``mode``).
"""
import threading
from typing import NamedTuple

import numpy as np

from tinykeras.kernels import blas, tuning, winograd
from tinykeras.kernels._common import cached_geometry, output_size_from_pads
from tinykeras.kernels.activations import relu_backward_reference, relu_forward_reference
from tinykeras.kernels.bias import add_bias, bias_gradient, relu_gradient
from tinykeras.kernels.im2col import col2im, col2im_reference, im2col, im2col_reference, prefers_tap_order
from tinykeras.kernels.mode import switchable


class Geometry(NamedTuple):
    """The shapes of one convolution of an NHWC batch.

    ``kernel``, ``strides``, ``dilation``: (height, width) pairs; ``pads``: ((top, bottom),
    (left, right)) of zeros around each image; ``output``: (OH, OW).
    """

    batch: int
    height: int
    width: int
    channels: int
    filters: int
    kernel: tuple
    strides: tuple
    dilation: tuple
    pads: tuple
    output: tuple

    @classmethod
    @cached_geometry
    def of(cls, x_shape, filters, kernel, strides, dilation, pads):
        """The geometry of convolving an (N, H, W, C) input with explicit ``pads``."""
        batch, height, width, channels = x_shape
        output = tuple(
            output_size_from_pads(size, k, s, d, *pad)
            for size, k, s, d, pad in zip((height, width), kernel, strides, dilation, pads)
        )
        return cls(batch, height, width, channels, filters, tuple(kernel), tuple(strides), tuple(dilation),
                   tuple(tuple(p) for p in pads), output)

    @property
    def rows_per_image(self):
        """OH * OW: the im2col rows (output pixels) of one image."""
        return self.output[0] * self.output[1]

    @property
    def depth(self):
        """KH * KW * C: the im2col columns (taps times channels)."""
        return self.kernel[0] * self.kernel[1] * self.channels

    @property
    def window(self):
        """(kernel, strides, dilation, pads), as im2col and col2im take them."""
        return self.kernel, self.strides, self.dilation, self.pads

    @property
    def input_shape(self):
        return (self.batch, self.height, self.width, self.channels)

    @property
    def output_shape(self):
        return (self.batch, *self.output, self.filters)


class Plan(NamedTuple):
    """How a batch is convolved: ``parts`` threads, ``step`` images per chunk, the
    ``algorithm`` ('winograd' where ``winograd.applies``, else 'im2col'), whether im2col's
    rows are unfolded tap by tap (into an F-ordered matrix), and Winograd's output ``tile``
    (``winograd.tiling``; 0 for im2col)."""

    parts: int
    step: int
    algorithm: str
    by_taps: bool
    tile: int = 0


def plan(geometry, itemsize):
    """The plan for a geometry (see the module's docstring). A chunk holds enough images to fill
    its budget of bytes, at least one."""
    batch, per_image, depth = geometry.batch, geometry.rows_per_image, geometry.depth
    flops = 2 * batch * per_image * depth * geometry.filters
    parts = min(batch, blas.split_count()) if flops >= tuning.PARALLEL_MIN_FLOPS else 1
    budget = tuning.CHUNK_BYTES if parts == 1 else tuning.PART_CHUNK_BYTES
    tile = 0
    if winograd.applies(geometry):
        tiling = winograd.tiling(geometry)
        algorithm, tile, image_bytes = "winograd", tiling.m, tiling.bytes_per_image(geometry, itemsize)
    else:
        algorithm, image_bytes = "im2col", per_image * depth * itemsize
    step = max(1, min(-(-batch // parts), budget // image_bytes))
    by_taps = algorithm == "im2col" and prefers_tap_order(geometry.channels)
    return Plan(parts, step, algorithm, by_taps, tile)


class Saved(NamedTuple):
    """What ``conv2d_forward`` keeps for ``conv2d_backward``: the NHWC input, its geometry, the
    plan and the algorithm holding the kernel it multiplied by (Winograd's transformed kernel
    ``U``, which backward then need not compute again; both None from the reference), and a
    token naming the call (see ``_SharedRows``)."""

    x: np.ndarray
    geometry: Geometry
    plan: Plan
    algorithm: object
    call: object


class _SharedRows(threading.local):
    """The unfolded input of every convolution in a thread: im2col's rows, or Winograd's tiles
    and their products.

    ``holds`` is (forward call, first image, end image) of the chunk the buffer still holds, so
    that the backward pass of that call can skip unfolding it again; None once anything else
    overwrites it.
    """

    array = None
    products = None
    holds = None


_SHARED_ROWS = _SharedRows()


def _grown(name, size, dtype):
    """This thread's shared buffer ``name`` with room for ``size`` values of ``dtype``."""
    shared = _SHARED_ROWS
    array = getattr(shared, name)
    if array is None or array.size < size or array.dtype != dtype:
        array = np.empty(size, dtype=dtype)
        setattr(shared, name, array)
        if name == "array":
            shared.holds = None
    return array[:size]


class _Im2col:
    """im2col's chunk: ``rows = im2col(x)`` (count, KH * KW * C), ``z = rows @ kernel``;
    backward ``dkernel += rows^T dz``, ``dx = col2im(dz kernel^T)``.

    With ``bias`` (a convolution without ReLU whose rows are unfolded tap by tap), the rows get
    one more column of ones and the kernel the bias as one more row, so that the products add
    the bias (``z = [rows 1] @ [kernel; bias]``) and sum its gradient (the last row of
    ``[rows 1]^T dz``) instead of two passes over the output beside them. On 32 MNIST images
    (21,632 rows, 8 filters) the kernel gradient's product took as long with the column as
    without (68-69 us) while the sum of dz's columns it replaces took 19: the backward pass took
    109-113 us against 119-132, the forward pass 98-100 either way. (Rows unfolded pixel by
    pixel would need the column inside each row; with ReLU, the pass that applies it adds the
    bias and sums its gradient already.)
    """

    def __init__(self, geometry, kernel, by_taps, bias=None):
        self.g, self.by_taps = geometry, by_taps
        self.kernel = kernel.reshape(geometry.depth, geometry.filters)
        self.folds_bias = bias is not None and by_taps
        # the matrix the forward product multiplies by: the kernel, and the bias below it
        self.product_kernel = np.concatenate((self.kernel, bias.reshape(1, -1))) if self.folds_bias else self.kernel

    def unfold(self, x, unfolded=True):
        """The chunk ``x``'s rows in the shared buffer (unfolded into it unless ``unfolded`` is
        False: the buffer already holds them), with the column of ones when the bias is folded."""
        count, depth = len(x) * self.g.rows_per_image, self.g.depth
        columns = depth + self.folds_bias
        flat = _grown("array", count * columns, x.dtype)
        rows = flat.reshape(columns, count).T if self.by_taps else flat.reshape(count, columns)
        if unfolded:
            im2col(x, *self.g.window, out=rows[:, :depth])
            if self.folds_bias:
                rows[:, depth] = 1
        return rows

    def forward(self, rows, z):
        blas.matmul(rows, self.product_kernel, out=z.reshape(-1, self.g.filters))

    def gradient_sum(self):
        return np.zeros(self.product_kernel.shape, dtype=self.kernel.dtype)

    def backward(self, rows, dz, dkernel, dx):
        """Adds the chunk's kernel gradient (and the bias gradient below it, when folded) to
        ``dkernel``; writes its ``dx`` (if not None)."""
        d = dz.reshape(-1, self.g.filters)
        dkernel += blas.matmul(rows.T, d)
        if dx is not None:  # col2im reads rows: a matrix filled by taps is not reused
            dcols = blas.matmul(d, self.kernel.T, out=None if self.by_taps else rows)
            col2im(dcols, dx.shape, *self.g.window, out=dx)

    def kernel_gradient(self, dkernel):
        return dkernel[: self.g.depth]

    def bias_gradient(self, dkernel):
        """The bias gradient the products summed, when the bias is folded."""
        return dkernel[self.g.depth].copy()


class _Winograd:
    """Winograd's chunk (``winograd``): tiles ``V = B^T d B`` (points, tiles, C), products
    ``M = V @ U`` for ``U = G kernel G^T``, ``z = A^T M A``; backward ``dM = A dz A^T``,
    ``dU += V^T dM``, ``dx = B (dM U^T) B^T`` summed over the overlapping patches."""

    folds_bias = False

    def __init__(self, geometry, kernel, tile):
        self.g, self.t = geometry, winograd.TILINGS[tile]
        self.tile_rows, self.tile_columns = self.t.tiles_per_image(geometry)
        self.pad_top, self.pad_left = geometry.pads[0][0], geometry.pads[1][0]
        self.u = self.t.kernel_transform(kernel)

    def unfold(self, x, unfolded=True):
        points, count = self.t.points, len(x) * self.tile_rows * self.tile_columns
        v = _grown("array", points * count * self.g.channels, x.dtype).reshape(points, count, self.g.channels)
        if unfolded:
            self.t.input_transform(x, self.pad_top, self.pad_left, self.tile_rows, self.tile_columns, v)
        return v

    def _products(self, v):
        points = self.t.points
        return _grown("products", v.shape[1] * points * self.g.filters, v.dtype).reshape(points, -1, self.g.filters)

    def forward(self, v, z):
        m = np.matmul(v, self.u, out=self._products(v))
        self.t.output_transform(m, self.tile_rows, self.tile_columns, z)

    def gradient_sum(self):
        return np.zeros(self.u.shape, dtype=self.u.dtype)

    def backward(self, v, dz, du, dx):
        dm = self._products(v)
        self.t.output_gradient_transform(dz, self.tile_rows, self.tile_columns, dm)
        du += np.matmul(v.transpose(0, 2, 1), dm)
        if dx is not None:  # dV over V's tiles, which are not needed any more
            dv = np.matmul(dm, self.u.transpose(0, 2, 1), out=v)
            dx[...] = 0
            self.t.input_gradient_transform(dv, self.pad_top, self.pad_left, self.tile_rows, self.tile_columns, dx)

    def kernel_gradient(self, du):
        return self.t.kernel_gradient(du)


def _algorithm(geometry, kernel, the_plan, bias=None, relu=False):
    """The plan's algorithm for the kernel; im2col folds a bias into its products where it can
    (see ``_Im2col``)."""
    if the_plan.algorithm == "winograd":
        return _Winograd(geometry, kernel, the_plan.tile)
    return _Im2col(geometry, kernel, the_plan.by_taps, None if relu else bias)


@switchable
def conv2d_forward(x, kernel, bias, geometry, relu=False):
    """``z = im2col(x) @ kernel + bias`` (then ``max(z, 0)`` with ``relu``), by im2col or by
    Winograd as the plan says.

    Args:
        x: the (N, H, W, C) input, C-contiguous. kernel: (KH, KW, C, F). bias: (F,) or None.
        geometry: the ``Geometry`` of x.
        relu: whether to apply ReLU to the output in the same pass.

    Returns:
        (z of shape (N, OH, OW, F), ``Saved`` for ``conv2d_backward``).
    """
    g = geometry
    the_plan = plan(g, x.itemsize)
    algorithm = _algorithm(g, kernel, the_plan, bias, relu)
    adds_bias = (bias is not None and not algorithm.folds_bias) or relu
    call = object()
    z = np.empty(g.output_shape, dtype=x.dtype)
    z2 = z.reshape(-1, g.filters)

    def convolve(lo, hi):
        for start in range(lo, hi, the_plan.step):
            stop = min(hi, start + the_plan.step)
            unfolded = algorithm.unfold(x[start:stop])
            _SHARED_ROWS.holds = (call, start, stop)
            algorithm.forward(unfolded, z[start:stop])
            if adds_bias:  # while the chunk's output is still in cache
                add_bias(z2[start * g.rows_per_image : stop * g.rows_per_image], bias, relu)

    blas.split_batch(g.batch, convolve, the_plan.parts)
    return z, Saved(x, g, the_plan, algorithm, call)


@switchable
def conv2d_backward(dz, kernel, saved, relu_output=None, bias=True, input_gradient=True):
    """The gradients of ``conv2d_forward``: ``dkernel = im2col(x)^T dz``, ``dbias = sum(dz)``,
    ``dx = col2im(dz kernel^T)`` (by the forward's algorithm).

    Args:
        dz: (N, OH, OW, F), the gradient of the output. With ``relu_output`` given it is the
            gradient of relu(z), and is taken through ReLU chunk by chunk first.
        kernel: (KH, KW, C, F), for the reference (the fast path takes the kernel the
            forward multiplied by from ``saved``). saved: the forward call's ``Saved``.
        relu_output: the forward output relu(z), (N, OH, OW, F), when the forward fused ReLU.
        bias: whether to return the bias gradient. input_gradient: whether to return dx.

    Returns:
        (dx of shape (N, H, W, C) or None, dkernel of kernel's shape, dbias of shape (F,) or None).
    """
    x, g, the_plan, algorithm, call = saved
    if algorithm is None:  # forward ran the reference
        the_plan = plan(g, x.itemsize)
        algorithm = _algorithm(g, kernel, the_plan)
    per_image, filters, step = g.rows_per_image, g.filters, the_plan.step
    dz2 = dz.reshape(-1, filters)
    dx = np.empty(x.shape, dtype=x.dtype) if input_gradient else None
    relu = relu_output is not None
    y2 = relu_output.reshape(-1, filters) if relu else None
    bias_sums = relu and bias

    def differentiate(lo, hi):
        """(kernel gradient sum, bias sums or None) of the images lo..hi-1; their dx. Chunk by
        chunk, last first: this thread's buffer still holds the last chunk's unfolded input
        from forward unless another convolution has used it since, and earlier chunks are
        unfolded again."""
        dkernel = algorithm.gradient_sum()
        sums = np.zeros(filters) if bias_sums else None
        scratch = np.empty((step * per_image, filters), dtype=x.dtype) if relu else None
        for start in reversed(range(lo, hi, step)):
            stop = min(hi, start + step)
            rows = slice(start * per_image, stop * per_image)
            unfolded = algorithm.unfold(x[start:stop], _SHARED_ROWS.holds != (call, start, stop))
            _SHARED_ROWS.holds = None  # the backward pass may overwrite the buffer
            d = dz2[rows]
            if relu:  # dz of this chunk, taken into a scratch matrix just before the products
                d = relu_gradient(d, y2[rows], scratch[: len(d)], sums)
            chunk_dx = dx[start:stop] if dx is not None else None
            algorithm.backward(unfolded, d.reshape((stop - start, *g.output, filters)), dkernel, chunk_dx)
        return dkernel, sums

    (dkernel, sums), *others = blas.split_batch(g.batch, differentiate, the_plan.parts)
    for more_dkernel, more_sums in others:
        dkernel += more_dkernel
        if bias_sums:
            sums += more_sums
    dbias = None
    if bias and relu:
        dbias = sums.astype(x.dtype)
    elif bias:
        dbias = algorithm.bias_gradient(dkernel) if algorithm.folds_bias else bias_gradient(dz2)
    return dx, algorithm.kernel_gradient(dkernel).reshape(kernel.shape), dbias


# ---- plain NumPy references -------------------------------------------------------------------


def conv2d_forward_reference(x, kernel, bias, geometry, relu=False):
    """``conv2d_forward`` in plain NumPy: ``z = im2col(x) @ kernel + bias``, the whole batch."""
    g = geometry
    cols = im2col_reference(x, *g.window)
    z = cols @ kernel.reshape(g.depth, g.filters)
    if bias is not None:
        z += bias
    if relu:
        z = relu_forward_reference(z)
    return z.reshape(g.output_shape), Saved(x, g, None, None, None)


def conv2d_backward_reference(dz, kernel, saved, relu_output=None, bias=True, input_gradient=True):
    """``conv2d_backward`` in plain NumPy: ``dz`` through ReLU (where relu(z) > 0), then
    ``dkernel = im2col(x)^T dz``, ``dbias = sum(dz)``, ``dx = col2im(dz kernel^T)``."""
    x, g = saved.x, saved.geometry
    dz2 = dz.reshape(-1, g.filters)
    if relu_output is not None:
        dz2 = relu_backward_reference(dz2, relu_output.reshape(dz2.shape))
    kernel2d = kernel.reshape(g.depth, g.filters)
    cols = im2col_reference(x, *g.window)
    dkernel = (cols.T @ dz2).reshape(kernel.shape)
    dbias = dz2.sum(axis=0, dtype=np.float64).astype(x.dtype) if bias else None
    dx = col2im_reference(dz2 @ kernel2d.T, x.shape, *g.window) if input_gradient else None
    return dx, dkernel, dbias
