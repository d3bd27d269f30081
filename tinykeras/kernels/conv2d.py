"""A 2-D convolution's forward and backward passes over an NHWC batch, as Conv2D and Conv1D call
them: the math is three matrix products around im2col (see ``layers.convolutional``); this module
owns how they are run.

The plan (``plan``): a batch is convolved a chunk of images at a time, each chunk's im2col rows
about ``tuning.CHUNK_BYTES`` (the rows are still in cache when the product reads them, and no
layer holds the rows of a whole batch). A batch whose product reaches ``tuning.PARALLEL_MIN_FLOPS``
is cut into parts instead, one per thread (``blas.split_batch``), each thread unfolding,
multiplying and adding the bias for its own images, in chunks of ``tuning.PART_CHUNK_BYTES``:
each core then reads rows it has just written. Single-channel images with a large matrix are
unfolded tap by tap (``im2col.prefers_tap_order``).

The rows live in one buffer per thread shared by every convolution (``_SharedRows``): a model
holds one chunk's rows per thread, not one per layer (the CIFAR-10 model's six convolutions held
24 MB between steps). The backward pass goes chunk by chunk, last first, so that the chunk the
buffer still holds from the forward pass is not unfolded again.

The plain NumPy form of both passes, the whole batch at once, is ``conv2d_forward_reference``
and ``conv2d_backward_reference`` (at the end); ``TINYKERAS_KERNELS=reference`` runs it instead
(``mode``).
"""
import threading
from typing import NamedTuple

import numpy as np

from tinykeras.kernels import blas, tuning
from tinykeras.kernels._common import output_size_from_pads
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
    """How a batch is convolved: ``parts`` threads, ``step`` images per chunk, and whether the
    rows are unfolded tap by tap (into an F-ordered matrix)."""

    parts: int
    step: int
    by_taps: bool


def plan(geometry, itemsize):
    """The plan for a geometry (see the module's docstring). A chunk holds enough images to fill
    its budget of bytes, at least one."""
    batch, per_image, depth = geometry.batch, geometry.rows_per_image, geometry.depth
    flops = 2 * batch * per_image * depth * geometry.filters
    parts = min(batch, blas.split_count()) if flops >= tuning.PARALLEL_MIN_FLOPS else 1
    budget = tuning.CHUNK_BYTES if parts == 1 else tuning.PART_CHUNK_BYTES
    step = max(1, min(-(-batch // parts), budget // (per_image * depth * itemsize)))
    return Plan(parts, step, prefers_tap_order(geometry.channels, step * per_image * depth))


class Saved(NamedTuple):
    """What ``conv2d_forward`` keeps for ``conv2d_backward``: the NHWC input, its geometry, the
    plan (None from the reference) and a token naming the call (see ``_SharedRows``)."""

    x: np.ndarray
    geometry: Geometry
    plan: Plan
    call: object


class _SharedRows(threading.local):
    """The im2col buffer of every convolution in a thread.

    ``holds`` is (forward call, first image, end image) of the chunk the buffer still holds, so
    that the backward pass of that call can skip unfolding it again; None once anything else
    overwrites it.
    """

    array = None
    holds = None


_SHARED_ROWS = _SharedRows()


def _rows(count, depth, dtype, by_taps):
    """A (count, depth) im2col matrix in this thread's shared buffer (grown if needed):
    C-ordered, or F-ordered to be filled tap by tap."""
    shared = _SHARED_ROWS
    if shared.array is None or shared.array.size < count * depth or shared.array.dtype != dtype:
        shared.array, shared.holds = np.empty(count * depth, dtype=dtype), None
    flat = shared.array[: count * depth]
    return flat.reshape(depth, count).T if by_taps else flat.reshape(count, depth)


@switchable
def conv2d_forward(x, kernel, bias, geometry, relu=False):
    """``z = im2col(x) @ kernel + bias`` (then ``max(z, 0)`` with ``relu``).

    Args:
        x: the (N, H, W, C) input, C-contiguous. kernel: (KH, KW, C, F). bias: (F,) or None.
        geometry: the ``Geometry`` of x.
        relu: whether to apply ReLU to the output in the same pass.

    Returns:
        (z of shape (N, OH, OW, F), ``Saved`` for ``conv2d_backward``).
    """
    g = geometry
    per_image, depth, filters = g.rows_per_image, g.depth, g.filters
    parts, step, by_taps = the_plan = plan(g, x.itemsize)
    call = object()
    kernel2d = kernel.reshape(depth, filters)
    z = np.empty((g.batch * per_image, filters), dtype=x.dtype)

    def convolve(lo, hi):
        for start in range(lo, hi, step):
            stop = min(hi, start + step)
            chunk = _rows((stop - start) * per_image, depth, x.dtype, by_taps)
            im2col(x[start:stop], *g.window, out=chunk)
            _SHARED_ROWS.holds = (call, start, stop)
            out = blas.matmul(chunk, kernel2d, out=z[start * per_image : stop * per_image])
            if bias is not None or relu:  # while the chunk's output is still in cache
                add_bias(out, bias, relu)

    blas.split_batch(g.batch, convolve, parts)
    return z.reshape(g.output_shape), Saved(x, g, the_plan, call)


@switchable
def conv2d_backward(dz, kernel, saved, relu_output=None, bias=True, input_gradient=True):
    """The gradients of ``conv2d_forward``: ``dkernel = im2col(x)^T dz``, ``dbias = sum(dz)``,
    ``dx = col2im(dz kernel^T)``.

    Args:
        dz: (N, OH, OW, F), the gradient of the output. With ``relu_output`` given it is the
            gradient of relu(z), and is taken through ReLU chunk by chunk first.
        kernel: (KH, KW, C, F). saved: the forward call's ``Saved``.
        relu_output: the forward output relu(z), (N, OH, OW, F), when the forward fused ReLU.
        bias: whether to return the bias gradient. input_gradient: whether to return dx.

    Returns:
        (dx of shape (N, H, W, C) or None, dkernel of kernel's shape, dbias of shape (F,) or None).
    """
    x, g, the_plan, call = saved
    parts, step, by_taps = the_plan or plan(g, x.itemsize)
    per_image, depth, filters = g.rows_per_image, g.depth, g.filters
    dz2 = dz.reshape(-1, filters)
    kernel2d = kernel.reshape(depth, filters)
    dx = np.empty(x.shape, dtype=x.dtype) if input_gradient else None
    relu = relu_output is not None
    y2 = relu_output.reshape(-1, filters) if relu else None
    bias_sums = relu and bias

    def differentiate(lo, hi):
        """(dkernel, bias sums or None) of the images lo..hi-1; their dx. Chunk by chunk, last
        first: this thread's buffer still holds the last chunk's rows from forward unless another
        convolution has used it since, and earlier chunks are unfolded again."""
        dkernel = np.zeros((depth, filters), dtype=x.dtype)
        sums = np.zeros(filters) if bias_sums else None
        scratch = np.empty((step * per_image, filters), dtype=x.dtype) if relu else None
        for start in reversed(range(lo, hi, step)):
            stop = min(hi, start + step)
            rows = slice(start * per_image, stop * per_image)
            chunk = _rows((stop - start) * per_image, depth, x.dtype, by_taps)
            if _SHARED_ROWS.holds != (call, start, stop):
                im2col(x[start:stop], *g.window, out=chunk)
            _SHARED_ROWS.holds = None  # dcols may overwrite the rows below
            d = dz2[rows]
            if relu:  # dz of this chunk, taken into a scratch matrix just before the products
                d = relu_gradient(d, y2[rows], scratch[: len(d)], sums)
            dkernel += blas.matmul(chunk.T, d)
            if dx is not None:  # col2im reads rows: a matrix filled by taps is not reused
                dcols = blas.matmul(d, kernel2d.T, out=None if by_taps else chunk)
                col2im(dcols, (stop - start,) + x.shape[1:], *g.window, out=dx[start:stop])
        return dkernel, sums

    (dkernel, sums), *others = blas.split_batch(g.batch, differentiate, parts)
    for more_dkernel, more_sums in others:
        dkernel += more_dkernel
        if bias_sums:
            sums += more_sums
    dbias = None
    if bias:
        dbias = sums.astype(x.dtype) if relu else bias_gradient(dz2)
    return dx, dkernel.reshape(kernel.shape), dbias


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
    return z.reshape(g.output_shape), Saved(x, g, None, None)


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
