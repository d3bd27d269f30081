"""im2col and col2im for NHWC convolutions, and the padding arithmetic they rest on.

Over hypothesis-drawn geometries (batch, odd and even sizes, kernel, stride and dilation per
axis, 'valid' or 'same', float32 and float64): im2col equals its NumPy reference exactly and has
the shape conv_output_size predicts; col2im equals its reference and is the adjoint of im2col;
and a convolution computed as ``im2col(x) @ kernel`` equals a direct loop over kernel taps on an
explicitly zero-padded input. same_padding is checked against TensorFlow's formula. Example tests
cover a batch split between threads giving the results of one thread, bit for bit (also inside a
part of a split, where the kernels stay on their thread), the ``out=`` buffers,
non-contiguous inputs, the errors, and (in a subprocess with NUMBA_DISABLE_JIT=1) every kernel,
pooling included, run as plain Python.
"""
import threading
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from tinykeras.kernels import (
    blas,
    col2im,
    col2im_reference,
    conv_output_size,
    im2col,
    im2col_reference,
    prefers_tap_order,
    same_padding,
    tuning,
)

dtypes = st.sampled_from([np.float32, np.float64])
seeds = st.integers(0, 2**32 - 1)


@dataclass(frozen=True)
class Conv:
    """One convolution geometry: an NHWC input shape and the window sliding over it."""

    x_shape: tuple
    kernel_size: tuple
    strides: tuple
    dilation: tuple
    padding: str

    @property
    def pads(self):
        if self.padding == "valid":
            return ((0, 0), (0, 0))
        return tuple(
            same_padding(*axis) for axis in zip(self.x_shape[1:3], self.kernel_size, self.strides, self.dilation)
        )

    @property
    def args(self):
        """The arguments of im2col and col2im after the array and x_shape."""
        return self.kernel_size, self.strides, self.dilation, self.pads

    @property
    def out_size(self):
        return tuple(
            conv_output_size(*axis, self.padding)
            for axis in zip(self.x_shape[1:3], self.kernel_size, self.strides, self.dilation)
        )

    @property
    def cols_shape(self):
        N, _, _, C = self.x_shape
        (OH, OW), (KH, KW) = self.out_size, self.kernel_size
        return (N * OH * OW, KH * KW * C)


def axis_pairs(low, high):
    return st.tuples(st.integers(low, high), st.integers(low, high))


@st.composite
def convolutions(draw):
    conv = Conv(
        x_shape=(draw(st.integers(1, 4)), *draw(axis_pairs(1, 12)), draw(st.integers(1, 5))),
        kernel_size=draw(axis_pairs(1, 5)),
        strides=draw(axis_pairs(1, 4)),
        dilation=draw(axis_pairs(1, 3)),
        padding=draw(st.sampled_from(["valid", "same"])),
    )
    assume(min(conv.out_size) > 0)
    return conv


KERNEL_WIDER_THAN_STRIDE = Conv((2, 7, 9, 3), (5, 3), (2, 1), (1, 2), "same")
STRIDE_WIDER_THAN_KERNEL = Conv((3, 11, 12, 2), (2, 1), (4, 3), (3, 1), "valid")


def direct_convolution(x, kernel, strides, dilation, pads):
    """y[n, oh, ow, f] = sum over taps (i, j) of x_padded[n, oh*SH + i*DH, ow*SW + j*DW, :] @
    kernel[i, j, :, f], one output pixel and one tap at a time, with the zero padding explicit."""
    (SH, SW), (DH, DW), ((top, bottom), (left, right)) = strides, dilation, pads
    N, H, W, C = x.shape
    KH, KW, _, F = kernel.shape
    padded = np.zeros((N, top + H + bottom, left + W + right, C))
    padded[:, top : top + H, left : left + W, :] = x
    OH = (padded.shape[1] - (KH - 1) * DH - 1) // SH + 1
    OW = (padded.shape[2] - (KW - 1) * DW - 1) // SW + 1
    y = np.zeros((N, OH, OW, F))
    for oh in range(OH):
        for ow in range(OW):
            for i in range(KH):
                for j in range(KW):
                    y[:, oh, ow, :] += padded[:, oh * SH + i * DH, ow * SW + j * DW, :] @ kernel[i, j]
    return y


# ---- im2col and col2im over drawn geometries ----------------------------------------------------


@pytest.mark.parametrize("order", ["C", "F"], ids=["by rows", "by taps into a Fortran out"])
@settings(max_examples=150, deadline=None)
@given(conv=convolutions(), dtype=dtypes, seed=seeds)
@example(conv=KERNEL_WIDER_THAN_STRIDE, dtype=np.float32, seed=0)
@example(conv=STRIDE_WIDER_THAN_KERNEL, dtype=np.float64, seed=0)
def test_im2col_matches_reference_and_output_size(order, conv, dtype, seed):
    x = np.random.default_rng(seed).standard_normal(conv.x_shape).astype(dtype)
    if order == "C":
        cols = im2col(x, *conv.args)
    else:
        out = np.full(conv.cols_shape, np.nan, dtype=dtype, order="F")
        cols = im2col(x, *conv.args, out=out)
        assert cols is out
    assert cols.dtype == dtype
    assert cols.shape == conv.cols_shape
    np.testing.assert_array_equal(cols, im2col_reference(x, *conv.args))


@settings(max_examples=120, deadline=None)
@given(conv=convolutions(), dtype=dtypes, seed=seeds)
@example(conv=KERNEL_WIDER_THAN_STRIDE, dtype=np.float32, seed=0)
@example(conv=STRIDE_WIDER_THAN_KERNEL, dtype=np.float64, seed=0)
def test_col2im_matches_reference(conv, dtype, seed):
    dcols = np.random.default_rng(seed).standard_normal(conv.cols_shape).astype(dtype)
    dx = col2im(dcols, conv.x_shape, *conv.args)
    assert dx.dtype == dtype
    assert dx.shape == conv.x_shape
    # Each input pixel sums at most KH*KW values, in a different order than the reference does.
    bound = 64 * np.finfo(dtype).eps * col2im_reference(np.abs(dcols).astype(np.float64), conv.x_shape, *conv.args)
    assert np.all(np.abs(dx - col2im_reference(dcols, conv.x_shape, *conv.args)) <= bound)


@settings(max_examples=100, deadline=None)
@given(conv=convolutions(), filters=st.integers(1, 3), seed=seeds)
@example(conv=KERNEL_WIDER_THAN_STRIDE, filters=2, seed=0)
@example(conv=STRIDE_WIDER_THAN_KERNEL, filters=2, seed=0)
def test_convolution_through_im2col_matches_direct_convolution(conv, filters, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(conv.x_shape)
    kernel = rng.standard_normal(conv.kernel_size + (conv.x_shape[3], filters))
    N, (OH, OW) = conv.x_shape[0], conv.out_size
    y = (im2col(x, *conv.args) @ kernel.reshape(-1, filters)).reshape(N, OH, OW, filters)
    expected = direct_convolution(x, kernel, conv.strides, conv.dilation, conv.pads)
    assert y.shape == expected.shape
    scale = direct_convolution(np.abs(x), np.abs(kernel), conv.strides, conv.dilation, conv.pads)
    assert np.all(np.abs(y - expected) <= 1e-12 * scale)


@settings(max_examples=120, deadline=None)
@given(conv=convolutions(), seed=seeds)
def test_col2im_is_the_adjoint_of_im2col(conv, seed):
    rng = np.random.default_rng(seed)
    x, d = rng.standard_normal(conv.x_shape), rng.standard_normal(conv.cols_shape)
    cols, dx = im2col(x, *conv.args), col2im(d, conv.x_shape, *conv.args)
    scale = np.vdot(im2col(np.abs(x), *conv.args), np.abs(d))
    assert abs(np.vdot(cols, d) - np.vdot(x, dx)) <= 1e-12 * scale


@settings(max_examples=150, deadline=None)
@given(size=st.integers(1, 40), kernel=st.integers(1, 5), stride=st.integers(1, 4), dilation=st.integers(1, 3))
def test_same_padding_splits_tensorflow_total_with_extra_at_the_end(size, kernel, stride, dilation):
    dilated = (kernel - 1) * dilation + 1
    total = max(dilated - stride, 0) if size % stride == 0 else max(dilated - size % stride, 0)
    before, after = same_padding(size, kernel, stride, dilation)
    assert before + after == total
    assert after - before in (0, 1)
    out = -(-size // stride)
    assert conv_output_size(size, kernel, stride, dilation, "same") == out
    assert (size + before + after - dilated) // stride + 1 == out


def test_same_padding_puts_the_odd_row_at_the_bottom():
    assert same_padding(5, 4, 1, 1) == (1, 2)
    assert same_padding(6, 3, 2, 1) == (0, 1)
    assert same_padding(7, 3, 1, 2) == (2, 2)


# ---- a batch split between threads ----------------------------------------------------------------


@pytest.mark.parametrize(
    "conv",
    [
        Conv((32, 28, 28, 1), (3, 3), (1, 1), (1, 1), "valid"),
        Conv((32, 28, 28, 1), (3, 3), (1, 1), (1, 1), "same"),
        Conv((8, 26, 26, 8), (3, 3), (1, 1), (1, 1), "valid"),
        Conv((3, 11, 9, 5), (4, 2), (3, 1), (2, 1), "same"),
        Conv((2, 12, 7, 3), (2, 5), (1, 2), (1, 3), "same"),
    ],
    ids=["mnist-valid", "mnist-same", "26x26x8-valid", "strided-same", "dilated-same"],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"], ids=["by rows", "by taps"])
def test_batches_split_between_threads_match_one_thread(split_and_whole, conv, dtype, order):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(conv.x_shape).astype(dtype)
    dcols = rng.standard_normal(conv.cols_shape).astype(dtype)

    def call():
        cols = im2col(x, *conv.args, out=np.full(conv.cols_shape, np.nan, dtype=dtype, order=order))
        return cols, col2im(dcols, conv.x_shape, *conv.args)

    (cols, dx), (cols_split, dx_split) = split_and_whole(call, calls=2)
    np.testing.assert_array_equal(cols_split, cols)
    np.testing.assert_array_equal(dx_split, dx)


def test_kernels_inside_a_part_of_a_split_stay_on_their_thread(monkeypatch, recorded_splits):
    """A convolution runs im2col and col2im inside its parts (``kernels.conv2d``), whose caller
    holds BLAS' thread-count lock: a kernel there must not split again (nor wait for that lock)."""
    monkeypatch.setattr(tuning, "SPLIT_MIN_ELEMENTS", 0)
    splits = recorded_splits
    conv = Conv((4, 9, 8, 3), (3, 3), (1, 1), (1, 1), "same")
    rng = np.random.default_rng(4)
    x = rng.standard_normal(conv.x_shape)
    dcols = rng.standard_normal(conv.cols_shape)
    per_image = conv.cols_shape[0] // 4
    cols, dx = np.empty(conv.cols_shape), np.empty(conv.x_shape)

    def part(lo, hi):
        im2col(x[lo:hi], *conv.args, out=cols[lo * per_image : hi * per_image])
        col2im(dcols[lo * per_image : hi * per_image], (hi - lo,) + conv.x_shape[1:], *conv.args, out=dx[lo:hi])

    worker = threading.Thread(target=blas.split_batch, args=(4, part, 2), daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "a kernel inside a part of a split waited for itself"
    assert splits == [2]  # the outer split only
    np.testing.assert_array_equal(cols, im2col_reference(x, *conv.args))
    np.testing.assert_allclose(dx, col2im_reference(dcols, conv.x_shape, *conv.args), rtol=1e-13, atol=1e-13)


# ---- out= buffers -----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(conv=convolutions(), dtype=dtypes, seed=seeds)
def test_im2col_fills_and_returns_out_overwriting_garbage(conv, dtype, seed):
    x = np.random.default_rng(seed).standard_normal(conv.x_shape).astype(dtype)
    out = np.full(conv.cols_shape, np.nan, dtype=dtype)
    assert im2col(x, *conv.args, out=out) is out
    np.testing.assert_array_equal(out, im2col_reference(x, *conv.args))


def test_images_of_few_channels_prefer_tap_order():
    assert prefers_tap_order(1)  # the MNIST CNNs' first layers
    assert prefers_tap_order(3)  # CIFAR-10's
    assert not prefers_tap_order(6)


@settings(max_examples=60, deadline=None)
@given(conv=convolutions(), dtype=dtypes, seed=seeds)
def test_col2im_zeroes_out_before_adding(conv, dtype, seed):
    dcols = np.random.default_rng(seed).standard_normal(conv.cols_shape).astype(dtype)
    out = np.full(conv.x_shape, 1e6, dtype=dtype)
    assert col2im(dcols, conv.x_shape, *conv.args, out=out) is out
    np.testing.assert_array_equal(out, col2im(dcols, conv.x_shape, *conv.args))


SMALL = Conv((2, 6, 5, 3), (3, 2), (2, 1), (1, 2), "same")


@pytest.mark.parametrize(
    "out",
    [
        np.empty((SMALL.cols_shape[0] + 1, SMALL.cols_shape[1])),
        np.empty(SMALL.cols_shape[::-1]),
        np.empty(SMALL.cols_shape, dtype=np.float32),
        np.empty((SMALL.cols_shape[0], 2 * SMALL.cols_shape[1]))[:, ::2],
        np.empty((SMALL.cols_shape[0] + 1, SMALL.cols_shape[1]), order="F")[1:],
    ],
    ids=["rows", "transposed-shape", "dtype", "strided", "strided-fortran"],
)
def test_im2col_rejects_a_wrong_out(out):
    x = np.zeros(SMALL.x_shape)
    with pytest.raises(ValueError, match="out"):
        im2col(x, *SMALL.args, out=out)


@pytest.mark.parametrize(
    "out",
    [
        np.empty(SMALL.x_shape[:3] + (SMALL.x_shape[3] + 1,)),
        np.empty(SMALL.x_shape, dtype=np.float32),
        np.empty(SMALL.x_shape, order="F"),
    ],
    ids=["channels", "dtype", "fortran"],
)
def test_col2im_rejects_a_wrong_out(out):
    dcols = np.zeros(SMALL.cols_shape)
    with pytest.raises(ValueError, match="out"):
        col2im(dcols, SMALL.x_shape, *SMALL.args, out=out)


# ---- layouts and errors -----------------------------------------------------------------------------


def test_non_contiguous_inputs_give_the_contiguous_results(non_contiguous):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SMALL.x_shape)
    dcols = rng.standard_normal(SMALL.cols_shape)
    np.testing.assert_array_equal(im2col(non_contiguous(x), *SMALL.args), im2col(x, *SMALL.args))
    np.testing.assert_array_equal(
        col2im(non_contiguous(dcols), SMALL.x_shape, *SMALL.args), col2im(dcols, SMALL.x_shape, *SMALL.args)
    )


@pytest.mark.parametrize(
    "conv",
    [
        Conv((1, 3, 8, 1), (4, 1), (1, 1), (1, 1), "valid"),
        Conv((2, 8, 3, 2), (1, 2), (1, 1), (1, 3), "valid"),
        Conv((1, 5, 5, 1), (3, 3), (2, 2), (3, 3), "valid"),
    ],
    ids=["kernel-rows", "dilated-columns", "dilated-both"],
)
def test_a_window_larger_than_the_input_raises(conv):
    with pytest.raises(ValueError, match="padding='same'"):
        im2col(np.zeros(conv.x_shape), *conv.args)
    with pytest.raises(ValueError, match="padding='same'"):
        col2im(np.zeros((1, 1)), conv.x_shape, *conv.args)


def test_geometry_is_kept_per_arguments_and_errors_are_raised_each_time():
    """The geometries are cached per arguments (same results whether the arguments are tuples or
    lists, which cannot be cached), and an argument that fails its check fails every call."""
    x = np.random.default_rng(0).standard_normal((2, 6, 5, 3)).astype(np.float32)
    expected = im2col_reference(x, (3, 2), (1, 2), (1, 1), ((1, 1), (0, 1)))
    for kernel, pads in [((3, 2), ((1, 1), (0, 1))), ([3, 2], [[1, 1], [0, 1]]), ((3, 2), ((1, 1), (0, 1)))]:
        np.testing.assert_array_equal(im2col(x, kernel, (1, 2), (1, 1), pads), expected)
    for _ in range(2):
        with pytest.raises(ValueError, match="padding='same'"):
            im2col(x, (7, 2), (1, 1), (1, 1), ((0, 0), (0, 0)))
        with pytest.raises(ValueError, match="kernel_size"):
            im2col(x, (3,), (1, 1), (1, 1), ((0, 0), (0, 0)))


def test_input_that_is_not_4d_raises():
    with pytest.raises(ValueError, match="shape"):
        im2col(np.zeros((6, 5, 3)), *SMALL.args)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float16])
def test_input_that_is_not_float32_or_float64_raises(dtype):
    with pytest.raises(TypeError, match="dtype"):
        im2col(np.zeros(SMALL.x_shape, dtype=dtype), *SMALL.args)
    with pytest.raises(TypeError, match="dtype"):
        col2im(np.zeros(SMALL.cols_shape, dtype=dtype), SMALL.x_shape, *SMALL.args)


@pytest.mark.parametrize(
    "shape",
    [(SMALL.cols_shape[0] - 1, SMALL.cols_shape[1]), SMALL.cols_shape[::-1], SMALL.cols_shape + (1,)],
    ids=["rows", "transposed", "3d"],
)
def test_col2im_rejects_dcols_of_the_wrong_shape(shape):
    with pytest.raises(ValueError, match="dcols"):
        col2im(np.zeros(shape), SMALL.x_shape, *SMALL.args)


# ---- without the JIT --------------------------------------------------------------------------------

NO_JIT_SCRIPT = """
import numba
import numpy as np

from tinykeras import kernels as k
from tinykeras.kernels import tuning

assert numba.config.DISABLE_JIT
rng = np.random.default_rng(0)
x = rng.standard_normal((2, 5, 4, 3))
conv = ((3, 2), (2, 1), (1, 2), ((1, 1), (0, 1)))
pool = ((3, 2), (2, 1), ((1, 1), (0, 1)))
for threshold in (2**62, 0):
    tuning.SPLIT_MIN_ELEMENTS = threshold
    cols = k.im2col(x, *conv)
    assert np.array_equal(cols, k.im2col_reference(x, *conv))
    assert np.allclose(k.col2im(cols, x.shape, *conv), k.col2im_reference(cols, x.shape, *conv))
    y, argmax = k.max_pool_forward(x, *pool)
    y_ref, argmax_ref = k.max_pool_forward_reference(x, *pool)
    assert np.array_equal(y, y_ref) and np.array_equal(argmax, argmax_ref)
    dy = rng.standard_normal(y.shape)
    assert np.allclose(k.max_pool_backward(dy, argmax, x.shape), k.max_pool_backward_reference(dy, argmax, x.shape))
    assert np.allclose(k.avg_pool_forward(x, *pool), k.avg_pool_forward_reference(x, *pool))
    assert np.allclose(
        k.avg_pool_backward(dy, x.shape, *pool), k.avg_pool_backward_reference(dy, x.shape, *pool)
    )
print("ok")
"""


def test_kernels_run_as_plain_python_with_the_jit_disabled(run_without_jit):
    run_without_jit(NO_JIT_SCRIPT)
