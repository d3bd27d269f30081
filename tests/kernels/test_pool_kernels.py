"""Max and average pooling kernels over NHWC batches, forward and backward.

Over hypothesis-drawn geometries (batch, odd and even sizes, pool size and stride per axis,
'valid' or 'same' with TensorFlow's pads, float32 and float64): every kernel equals its NumPy
reference; max and average pooling equal a plain loop over each window clipped to the image
(padding never wins a max nor counts in a mean); ties go to the first input in row-major window
order and a NaN propagates; each argmax points into its window at an input equal to the output;
avg backward is the adjoint of avg forward and max backward the adjoint of gathering by argmax.
Example tests cover the serial and parallel drivers giving identical results, non-contiguous
inputs and the errors.
"""
import importlib
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from tinykeras.kernels import (
    avg_pool_backward,
    avg_pool_backward_reference,
    avg_pool_forward,
    avg_pool_forward_reference,
    conv_output_size,
    max_pool_backward,
    max_pool_backward_reference,
    max_pool_forward,
    max_pool_forward_reference,
    same_padding,
)

pooling_module = importlib.import_module("tinykeras.kernels.pooling")

dtypes = st.sampled_from([np.float32, np.float64])
seeds = st.integers(0, 2**32 - 1)


@dataclass(frozen=True)
class Pool:
    """One pooling geometry: an NHWC input shape and the window sliding over it."""

    x_shape: tuple
    pool_size: tuple
    strides: tuple
    padding: str

    @property
    def pads(self):
        if self.padding == "valid":
            return ((0, 0), (0, 0))
        return tuple(same_padding(*axis, 1) for axis in zip(self.x_shape[1:3], self.pool_size, self.strides))

    @property
    def args(self):
        """The arguments of the forward kernels after x (and of avg backward after x_shape)."""
        return self.pool_size, self.strides, self.pads

    @property
    def out_size(self):
        return tuple(conv_output_size(*axis, 1, self.padding) for axis in zip(self.x_shape[1:3], self.pool_size, self.strides))

    @property
    def y_shape(self):
        return (self.x_shape[0], *self.out_size, self.x_shape[3])

    def window(self, oh, ow):
        """The input rows [h0, h1) and columns [w0, w1) of window (oh, ow), clipped to the image."""
        (SH, SW), (PH, PW), ((top, _), (left, _)) = self.strides, self.pool_size, self.pads
        _, H, W, _ = self.x_shape
        return max(oh * SH - top, 0), min(oh * SH - top + PH, H), max(ow * SW - left, 0), min(ow * SW - left + PW, W)


def axis_pairs(low, high):
    return st.tuples(st.integers(low, high), st.integers(low, high))


@st.composite
def poolings(draw):
    pool = Pool(
        x_shape=(draw(st.integers(1, 4)), *draw(axis_pairs(1, 12)), draw(st.integers(1, 5))),
        pool_size=draw(axis_pairs(1, 5)),
        strides=draw(axis_pairs(1, 4)),
        padding=draw(st.sampled_from(["valid", "same"])),
    )
    assume(min(pool.out_size) > 0)
    return pool


POOL_WIDER_THAN_STRIDE = Pool((2, 9, 8, 3), (5, 3), (2, 1), "same")
STRIDE_WIDER_THAN_POOL = Pool((3, 11, 12, 2), (2, 1), (4, 3), "valid")


def loop_pooling(x, pool):
    """Max, first argmax (h * W + w) and float64 mean of every window clipped to the image, one
    window at a time; np.argmax returns the first maximum in row-major order, or the first NaN."""
    N, _, W, C = x.shape
    y_max = np.empty(pool.y_shape, dtype=x.dtype)
    argmax = np.empty(pool.y_shape, dtype=np.int64)
    mean = np.empty(pool.y_shape)
    for oh in range(pool.out_size[0]):
        for ow in range(pool.out_size[1]):
            h0, h1, w0, w1 = pool.window(oh, ow)
            window = x[:, h0:h1, w0:w1, :].reshape(N, -1, C)
            first = window.argmax(axis=1)
            y_max[:, oh, ow] = np.take_along_axis(window, first[:, None, :], axis=1)[:, 0]
            argmax[:, oh, ow] = (h0 + first // (w1 - w0)) * W + w0 + first % (w1 - w0)
            mean[:, oh, ow] = window.astype(np.float64).mean(axis=1)
    return y_max, argmax, mean


def random_image(seed, shape, dtype, values="normal"):
    """Standard normal values; or ('ties') integers in 0..2, so that windows tie; or ('nan')
    normal values with about a tenth of them NaN."""
    rng = np.random.default_rng(seed)
    if values == "ties":
        return rng.integers(0, 3, shape).astype(dtype)
    x = rng.standard_normal(shape).astype(dtype)
    if values == "nan":
        x[rng.random(shape) < 0.1] = np.nan
    return x


# ---- forward and backward over drawn geometries ---------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(pool=poolings(), dtype=dtypes, seed=seeds, values=st.sampled_from(["normal", "ties", "nan"]))
@example(pool=POOL_WIDER_THAN_STRIDE, dtype=np.float32, seed=0, values="ties")
@example(pool=STRIDE_WIDER_THAN_POOL, dtype=np.float64, seed=0, values="normal")
def test_max_pool_matches_reference(pool, dtype, seed, values):
    x = random_image(seed, pool.x_shape, dtype, values)
    y, argmax = max_pool_forward(x, *pool.args)
    y_reference, argmax_reference = max_pool_forward_reference(x, *pool.args)
    assert y.shape == pool.y_shape and y.dtype == dtype and argmax.dtype == np.int32
    np.testing.assert_array_equal(y, y_reference)
    np.testing.assert_array_equal(argmax, argmax_reference)
    dy = random_image(seed + 1, pool.y_shape, dtype)
    dx = max_pool_backward(dy, argmax, pool.x_shape)
    assert dx.shape == pool.x_shape and dx.dtype == dtype
    np.testing.assert_array_equal(dx, max_pool_backward_reference(dy, argmax, pool.x_shape))


@settings(max_examples=150, deadline=None)
@given(pool=poolings(), dtype=dtypes, seed=seeds)
@example(pool=POOL_WIDER_THAN_STRIDE, dtype=np.float32, seed=0)
@example(pool=STRIDE_WIDER_THAN_POOL, dtype=np.float64, seed=0)
def test_avg_pool_matches_reference(pool, dtype, seed):
    # Windows sum at most PH*PW values, in a different order than the references do.
    tolerance = 64 * np.finfo(dtype).eps
    x = random_image(seed, pool.x_shape, dtype)
    y = avg_pool_forward(x, *pool.args)
    assert y.shape == pool.y_shape and y.dtype == dtype
    bound = tolerance * avg_pool_forward_reference(np.abs(x).astype(np.float64), *pool.args)
    assert np.all(np.abs(y - avg_pool_forward_reference(x, *pool.args)) <= bound)
    dy = random_image(seed + 1, pool.y_shape, dtype)
    dx = avg_pool_backward(dy, pool.x_shape, *pool.args)
    assert dx.shape == pool.x_shape and dx.dtype == dtype
    bound = tolerance * avg_pool_backward_reference(np.abs(dy).astype(np.float64), pool.x_shape, *pool.args)
    assert np.all(np.abs(dx - avg_pool_backward_reference(dy, pool.x_shape, *pool.args)) <= bound)


@settings(max_examples=150, deadline=None)
@given(pool=poolings(), dtype=dtypes, seed=seeds, values=st.sampled_from(["normal", "ties", "nan"]))
@example(pool=POOL_WIDER_THAN_STRIDE, dtype=np.float64, seed=0, values="ties")
@example(pool=STRIDE_WIDER_THAN_POOL, dtype=np.float32, seed=0, values="nan")
def test_max_pool_matches_a_loop_over_clipped_windows(pool, dtype, seed, values):
    x = random_image(seed, pool.x_shape, dtype, values)
    y, argmax = max_pool_forward(x, *pool.args)
    y_loop, argmax_loop, _ = loop_pooling(x, pool)
    np.testing.assert_array_equal(y, y_loop)
    np.testing.assert_array_equal(argmax, argmax_loop)


@settings(max_examples=100, deadline=None)
@given(pool=poolings(), dtype=dtypes, seed=seeds)
def test_avg_pool_matches_a_loop_over_clipped_windows(pool, dtype, seed):
    x = random_image(seed, pool.x_shape, dtype)
    _, _, mean = loop_pooling(x, pool)
    bound = 64 * np.finfo(dtype).eps * loop_pooling(np.abs(x).astype(np.float64), pool)[2]
    assert np.all(np.abs(avg_pool_forward(x, *pool.args) - mean) <= bound)


@settings(max_examples=100, deadline=None)
@given(pool=poolings(), dtype=dtypes, eighths=st.integers(-8000, 8000))
def test_avg_pool_of_a_constant_image_is_that_constant(pool, dtype, eighths):
    # Multiples of 1/8 this small add up exactly, so any error would come from a wrong divisor.
    value = eighths / 8
    y = avg_pool_forward(np.full(pool.x_shape, value, dtype=dtype), *pool.args)
    np.testing.assert_array_equal(y, np.full(pool.y_shape, value, dtype=dtype))


@settings(max_examples=120, deadline=None)
@given(pool=poolings(), dtype=dtypes, seed=seeds, values=st.sampled_from(["normal", "ties", "nan"]))
def test_argmax_points_into_its_window_at_an_input_equal_to_the_output(pool, dtype, seed, values):
    x = random_image(seed, pool.x_shape, dtype, values)
    y, argmax = max_pool_forward(x, *pool.args)
    N, H, W, C = pool.x_shape
    assert np.all((argmax >= 0) & (argmax < H * W))
    rows, columns = argmax // W, argmax % W
    for oh in range(pool.out_size[0]):
        for ow in range(pool.out_size[1]):
            h0, h1, w0, w1 = pool.window(oh, ow)
            assert np.all((h0 <= rows[:, oh, ow]) & (rows[:, oh, ow] < h1))
            assert np.all((w0 <= columns[:, oh, ow]) & (columns[:, oh, ow] < w1))
    n, c = np.arange(N)[:, None, None, None], np.arange(C)
    np.testing.assert_array_equal(x.reshape(N, H * W, C)[n, argmax, c], y)


@settings(max_examples=120, deadline=None)
@given(pool=poolings(), seed=seeds)
def test_avg_pool_backward_is_the_adjoint_of_forward(pool, seed):
    rng = np.random.default_rng(seed)
    x, dy = rng.standard_normal(pool.x_shape), rng.standard_normal(pool.y_shape)
    lhs = np.vdot(avg_pool_forward(x, *pool.args), dy)
    rhs = np.vdot(x, avg_pool_backward(dy, pool.x_shape, *pool.args))
    assert abs(lhs - rhs) <= 1e-12 * np.vdot(avg_pool_forward(np.abs(x), *pool.args), np.abs(dy))


@settings(max_examples=120, deadline=None)
@given(pool=poolings(), seed=seeds)
def test_max_pool_backward_is_the_adjoint_of_gathering_by_argmax(pool, seed):
    rng = np.random.default_rng(seed)
    _, argmax = max_pool_forward(rng.standard_normal(pool.x_shape), *pool.args)
    z, dy = rng.standard_normal(pool.x_shape), rng.standard_normal(pool.y_shape)
    N, H, W, C = pool.x_shape
    gathered = z.reshape(N, H * W, C)[np.arange(N)[:, None, None, None], argmax, np.arange(C)]
    lhs, rhs = np.vdot(gathered, dy), np.vdot(z, max_pool_backward(dy, argmax, pool.x_shape))
    assert abs(lhs - rhs) <= 1e-12 * np.vdot(np.abs(gathered), np.abs(dy))


# ---- ties and NaN ---------------------------------------------------------------------------------

VALID_2X2 = ((2, 2), (2, 2), ((0, 0), (0, 0)))


@pytest.mark.parametrize(
    "window, expected_max, expected_argmax",
    [
        ([[1.0, 3.0], [3.0, 1.0]], 3.0, 1),
        ([[2.0, 2.0], [2.0, 2.0]], 2.0, 0),
        ([[0.0, -1.0], [5.0, 5.0]], 5.0, 2),
        ([[-np.inf, -np.inf], [-np.inf, -np.inf]], -np.inf, 0),
    ],
    ids=["anti-diagonal", "constant", "bottom-row", "all-minus-inf"],
)
def test_max_pool_tie_goes_to_the_first_in_row_major_order(window, expected_max, expected_argmax):
    x = np.array(window).reshape(1, 2, 2, 1)
    y, argmax = max_pool_forward(x, *VALID_2X2)
    assert y.item() == expected_max
    assert argmax.item() == expected_argmax


@pytest.mark.parametrize(
    "window, expected_argmax",
    [
        ([[np.nan, 7.0], [5.0, 9.0]], 0),
        ([[1.0, np.nan], [5.0, 2.0]], 1),
        ([[1.0, 2.0], [3.0, np.nan]], 3),
        ([[1.0, np.nan], [np.nan, 9.0]], 1),
    ],
    ids=["first", "second-before-larger", "last", "two-nans"],
)
def test_max_pool_nan_wins_its_window(window, expected_argmax):
    x = np.array(window).reshape(1, 2, 2, 1)
    y, argmax = max_pool_forward(x, *VALID_2X2)
    assert np.isnan(y.item())
    assert argmax.item() == expected_argmax


def test_padding_never_wins_a_max_of_negative_inputs():
    x = np.full((1, 3, 3, 2), -5.0)
    x[0, 2, 2, 1] = -1.0
    y, argmax = max_pool_forward(x, (3, 3), (2, 2), ((1, 1), (1, 1)))
    np.testing.assert_array_equal(y[0, :, :, 0], [[-5.0, -5.0], [-5.0, -5.0]])
    np.testing.assert_array_equal(y[0, :, :, 1], [[-5.0, -5.0], [-5.0, -1.0]])
    np.testing.assert_array_equal(argmax[0, :, :, 0], [[0, 1], [3, 4]])
    np.testing.assert_array_equal(argmax[0, :, :, 1], [[0, 1], [3, 8]])


def test_max_pool_of_minus_inf_with_same_padding_points_into_the_image():
    x = np.full((1, 2, 3, 1), -np.inf)
    y, argmax = max_pool_forward(x, (3, 3), (2, 2), ((1, 1), (1, 1)))
    np.testing.assert_array_equal(y, np.full((1, 1, 2, 1), -np.inf))
    np.testing.assert_array_equal(argmax[0, :, :, 0], [[0, 1]])


def test_max_pool_reference_of_minus_inf_with_same_padding_points_into_the_image():
    x = np.full((1, 2, 3, 1), -np.inf)
    _, argmax = max_pool_forward_reference(x, (3, 3), (2, 2), ((1, 1), (1, 1)))
    np.testing.assert_array_equal(argmax[0, :, :, 0], [[0, 1]])


@st.composite
def halving_poolings(draw):
    """2x2 windows at stride 2 without padding ('valid', or 'same' on even sizes), any channels."""
    height, width = draw(axis_pairs(2, 12))
    padding = draw(st.sampled_from(["valid", "same"]))
    if padding == "same":
        height, width = height // 2 * 2, width // 2 * 2
    shape = (draw(st.integers(1, 4)), height, width, draw(st.integers(1, 40)))
    return Pool(shape, (2, 2), (2, 2), padding)


def max_pool_matches_reference_with_halving(x, pool):
    """Checks max_pool_forward against the reference on x; returns whether it took the halving
    kernel (the flag its driver received)."""
    driver, flags = pooling_module._max_forward_images, []

    def recording(x, y, argmax, geom, halving, lo, hi):
        flags.append(halving)
        return driver(x, y, argmax, geom, halving, lo, hi)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pooling_module, "_max_forward_images", recording)
        y, argmax = max_pool_forward(x, *pool.args)
    y_reference, argmax_reference = max_pool_forward_reference(x, *pool.args)
    np.testing.assert_array_equal(y, y_reference)
    np.testing.assert_array_equal(argmax, argmax_reference)
    assert len(set(flags)) == 1
    return flags[0]


@pytest.mark.parametrize(
    "pool, halves",
    [
        (Pool((1, 5, 7, 2), (2, 2), (2, 2), "valid"), True),  # odd sizes: the last row/column is left out
        (Pool((1, 6, 8, 2), (2, 2), (2, 2), "same"), True),  # even sizes: no padding
        (Pool((1, 5, 8, 2), (2, 2), (2, 2), "same"), False),  # a padded bottom row
        (Pool((1, 6, 7, 2), (2, 2), (2, 2), "same"), False),  # a padded right column
        (Pool((1, 6, 8, 2), (2, 2), (1, 1), "valid"), False),
        (Pool((1, 6, 8, 2), (3, 3), (2, 2), "valid"), False),
        (Pool((1, 6, 8, 2), (2, 1), (2, 2), "valid"), False),
    ],
)
def test_the_halving_kernel_takes_exactly_the_unpadded_2x2_stride_2_poolings(pool, halves):
    assert max_pool_matches_reference_with_halving(random_image(0, pool.x_shape, np.float32, "ties"), pool) == halves


@settings(max_examples=100, deadline=None)
@given(pool=halving_poolings(), dtype=dtypes, seed=seeds, values=st.sampled_from(["normal", "ties", "nan"]))
def test_halving_max_pool_matches_reference(pool, dtype, seed, values):
    """The kernel for 2x2 windows at stride 2 gives the general kernel's maxima and argmax, ties
    and NaN included."""
    assert max_pool_matches_reference_with_halving(random_image(seed, pool.x_shape, dtype, values), pool)


# ---- serial and parallel drivers ------------------------------------------------------------------


@pytest.mark.parametrize(
    "pool",
    [
        Pool((32, 28, 28, 1), (2, 2), (2, 2), "valid"),
        Pool((32, 28, 28, 1), (3, 3), (1, 1), "same"),
        Pool((8, 26, 26, 8), (2, 2), (2, 2), "valid"),
        Pool((8, 26, 26, 8), (3, 3), (2, 2), "same"),
        Pool((3, 11, 9, 5), (4, 2), (3, 1), "same"),
    ],
    ids=["mnist-2x2-valid", "mnist-3x3-same", "26x26x8-2x2-valid", "26x26x8-3x3-same", "odd-strided-same"],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batches_split_between_threads_match_one_thread(split_and_whole, pool, dtype):
    x = random_image(0, pool.x_shape, dtype, "ties")
    dy = random_image(1, pool.y_shape, dtype)

    def call():
        y, argmax = max_pool_forward(x, *pool.args)
        return (
            y,
            argmax,
            max_pool_backward(dy, argmax, pool.x_shape),
            avg_pool_forward(x, *pool.args),
            avg_pool_backward(dy, pool.x_shape, *pool.args),
        )

    whole, split = split_and_whole(call, calls=4)
    for result_split, result_whole in zip(split, whole):
        np.testing.assert_array_equal(result_split, result_whole)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_halving_kernel_split_between_threads_matches_one_thread(split_and_whole, dtype):
    pool = Pool((8, 26, 25, 32), (2, 2), (2, 2), "valid")
    x = random_image(0, pool.x_shape, dtype, "ties")
    whole, split = split_and_whole(lambda: max_pool_forward(x, *pool.args), calls=1)
    for result_split, result_whole in zip(split, whole):
        np.testing.assert_array_equal(result_split, result_whole)


# ---- layouts and errors -----------------------------------------------------------------------------

SMALL = Pool((2, 7, 6, 3), (3, 2), (2, 1), "same")


def test_non_contiguous_inputs_give_the_contiguous_results(non_contiguous):
    x = random_image(0, SMALL.x_shape, np.float64, "ties")
    dy = random_image(1, SMALL.y_shape, np.float64)
    y, argmax = max_pool_forward(x, *SMALL.args)
    y_view, argmax_view = max_pool_forward(non_contiguous(x), *SMALL.args)
    np.testing.assert_array_equal(y_view, y)
    np.testing.assert_array_equal(argmax_view, argmax)
    np.testing.assert_array_equal(
        max_pool_backward(non_contiguous(dy), non_contiguous(argmax), SMALL.x_shape),
        max_pool_backward(dy, argmax, SMALL.x_shape),
    )
    np.testing.assert_array_equal(avg_pool_forward(non_contiguous(x), *SMALL.args), avg_pool_forward(x, *SMALL.args))
    np.testing.assert_array_equal(
        avg_pool_backward(non_contiguous(dy), SMALL.x_shape, *SMALL.args),
        avg_pool_backward(dy, SMALL.x_shape, *SMALL.args),
    )


@pytest.mark.parametrize(
    "pool",
    [Pool((1, 2, 8, 1), (3, 1), (1, 1), "valid"), Pool((2, 8, 4, 2), (2, 5), (1, 3), "valid")],
    ids=["rows", "columns"],
)
@pytest.mark.parametrize("forward", [max_pool_forward, avg_pool_forward])
def test_a_window_larger_than_the_input_raises(pool, forward):
    with pytest.raises(ValueError, match="padding='same'"):
        forward(np.zeros(pool.x_shape), *pool.args)


def test_a_window_larger_than_the_input_raises_in_avg_backward():
    with pytest.raises(ValueError, match="padding='same'"):
        avg_pool_backward(np.zeros((1, 1, 1, 1)), (1, 2, 2, 1), (3, 3), (1, 1), ((0, 0), (0, 0)))


@pytest.mark.parametrize("forward", [max_pool_forward, avg_pool_forward])
def test_a_pad_as_large_as_the_pool_raises(forward):
    with pytest.raises(ValueError, match="pads"):
        forward(np.zeros((1, 4, 4, 1)), (2, 2), (1, 1), ((2, 0), (0, 0)))


@pytest.mark.parametrize("forward", [max_pool_forward, avg_pool_forward])
def test_input_that_is_not_4d_raises(forward):
    with pytest.raises(ValueError, match="shape"):
        forward(np.zeros((7, 6, 3)), *SMALL.args)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float16])
@pytest.mark.parametrize("forward", [max_pool_forward, avg_pool_forward])
def test_input_that_is_not_float32_or_float64_raises(forward, dtype):
    with pytest.raises(TypeError, match="dtype"):
        forward(np.zeros(SMALL.x_shape, dtype=dtype), *SMALL.args)


def test_backward_with_an_integer_dy_raises():
    argmax = np.zeros(SMALL.y_shape, dtype=np.int32)
    with pytest.raises(TypeError, match="dtype"):
        max_pool_backward(np.zeros(SMALL.y_shape, dtype=np.int64), argmax, SMALL.x_shape)
    with pytest.raises(TypeError, match="dtype"):
        avg_pool_backward(np.zeros(SMALL.y_shape, dtype=np.int64), SMALL.x_shape, *SMALL.args)


def grown(shape, axis):
    return tuple(size + (i == axis) for i, size in enumerate(shape))


@pytest.mark.parametrize("axis", [0, 1, 2, 3])
def test_avg_pool_backward_rejects_dy_of_the_wrong_shape(axis):
    with pytest.raises(ValueError, match="dy"):
        avg_pool_backward(np.zeros(grown(SMALL.y_shape, axis)), SMALL.x_shape, *SMALL.args)


@pytest.mark.parametrize(
    "dy_shape, argmax_shape, x_shape",
    [
        (grown(SMALL.y_shape, 1), SMALL.y_shape, SMALL.x_shape),
        (SMALL.y_shape, grown(SMALL.y_shape, 2), SMALL.x_shape),
        (SMALL.y_shape, SMALL.y_shape, grown(SMALL.x_shape, 0)),
        (SMALL.y_shape, SMALL.y_shape, grown(SMALL.x_shape, 3)),
        (SMALL.y_shape[1:], SMALL.y_shape[1:], SMALL.x_shape),
    ],
    ids=["dy-rows", "argmax-columns", "batch", "channels", "3d"],
)
def test_max_pool_backward_rejects_mismatched_shapes(dy_shape, argmax_shape, x_shape):
    with pytest.raises(ValueError, match="shape"):
        max_pool_backward(np.zeros(dy_shape), np.zeros(argmax_shape, dtype=np.int32), x_shape)


@pytest.mark.parametrize("index", [-1, 4, 7, np.iinfo(np.int32).min, np.iinfo(np.int32).max])
def test_max_pool_backward_rejects_argmax_outside_the_image(index):
    """An index past the image would write outside dx: the kernel skips it and the call raises."""
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        max_pool_backward(np.ones((1, 1, 1, 1)), np.full((1, 1, 1, 1), index, np.int32), (1, 2, 2, 1))


@pytest.mark.parametrize("index", [-1, 24])
@pytest.mark.parametrize("where", [0, -1], ids=["first", "last"])
def test_a_split_backward_rejects_one_argmax_outside_the_image_as_a_whole_one_does(split_and_whole, index, where):
    """One bad index among many valid ones, in the first or the last image, fails the call on one
    thread or split between threads."""
    x_shape = (3, 4, 6, 2)
    dy = np.ones((3, 2, 3, 2))
    argmax = np.zeros(dy.shape, dtype=np.int32)
    argmax.flat[where] = index
    raised = []

    def call():
        with pytest.raises(ValueError, match=r"\[0, 24\)") as error:
            max_pool_backward(dy, argmax, x_shape)
        raised.append(error)

    split_and_whole(call, calls=1)
    assert len(raised) == 2
