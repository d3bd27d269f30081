"""The fused element-wise kernels equal the NumPy expressions they replace: bias add and its
column-sum gradient, ReLU and its gradient, dropout, and Adam's update."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinykeras.kernels.activations import relu_backward, relu_forward
from tinykeras.kernels.bias import add_bias, bias_gradient, relu_gradient
from tinykeras.kernels.dropout import draw_bits, dropout_forward, dropout_mask, threshold
from tinykeras.kernels.optimizers import adam_update

dtypes = st.sampled_from([np.float32, np.float64])


@settings(max_examples=50, deadline=None)
@given(rows=st.integers(1, 300), columns=st.integers(1, 40), dtype=dtypes, seed=st.integers(0, 2**32 - 1))
def test_bias_add_and_gradient_equal_numpy(rows, columns, dtype, seed):
    rng = np.random.default_rng(seed)
    z, b = rng.standard_normal((rows, columns)).astype(dtype), rng.standard_normal(columns).astype(dtype)
    expected = z + b
    assert add_bias(z, b) is z
    np.testing.assert_array_equal(z, expected)
    gradient = bias_gradient(z)
    assert gradient.dtype == dtype
    np.testing.assert_allclose(gradient, z.astype(np.float64).sum(axis=0), rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


@settings(max_examples=50, deadline=None)
@given(rows=st.integers(1, 300), columns=st.integers(1, 40), dtype=dtypes, bias=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_bias_with_relu_and_its_gradient_equal_numpy(rows, columns, dtype, bias, seed):
    rng = np.random.default_rng(seed)
    z, b = rng.standard_normal((rows, columns)).astype(dtype), rng.standard_normal(columns).astype(dtype)
    z[0, 0] = np.nan
    expected = np.maximum(z + b if bias else z, 0)
    assert add_bias(z, b if bias else None, relu=True) is z
    np.testing.assert_array_equal(z, expected)
    dy = rng.standard_normal((rows, columns)).astype(dtype)
    out, sums = np.empty_like(dy), np.ones(columns)
    assert relu_gradient(dy, z, out, sums) is out
    np.testing.assert_array_equal(out, np.where(z > 0, dy, 0))
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(sums, 1 + out.astype(np.float64).sum(axis=0), rtol=tolerance, atol=1e-5)
    np.testing.assert_array_equal(relu_gradient(dy, z, np.empty_like(dy)), out)


def test_bias_gradient_accumulates_in_double_precision():
    """2**24 and then a thousand ones: a float32 running sum would never move from 2**24."""
    dz = np.ones((1001, 1), np.float32)
    dz[0] = 2**24
    assert bias_gradient(dz)[0] == 2**24 + 1000


@settings(max_examples=50, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=4), dtype=dtypes, seed=st.integers(0, 2**32 - 1))
def test_relu_and_its_gradient_equal_numpy(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x, dy = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    np.testing.assert_array_equal(relu_forward(x), np.maximum(x, 0))
    np.testing.assert_array_equal(relu_backward(dy, x), dy * (x > 0))
    np.testing.assert_array_equal(relu_forward(x.T), np.maximum(x.T, 0))


def test_relu_propagates_nan():
    x = np.array([-1.0, np.nan, 2.0], np.float32)
    np.testing.assert_array_equal(relu_forward(x), [0, np.nan, 2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_update_equals_the_numpy_formula(dtype, rng):
    value, grad = rng.standard_normal(1000).astype(dtype), rng.standard_normal(1000).astype(dtype)
    m, v = rng.standard_normal(1000).astype(dtype) * 0.1, rng.random(1000).astype(dtype) * 0.01
    expected_m = m + (grad - m) * dtype(0.1)
    expected_v = v + (grad * grad - v) * dtype(0.001)
    expected = value - dtype(0.003) * expected_m / (np.sqrt(expected_v) + dtype(1e-7))
    adam_update(value, grad, m, v, dtype(0.1), dtype(0.001), dtype(0.003), dtype(1e-7))
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(m, expected_m, rtol=rtol)
    np.testing.assert_allclose(v, expected_v, rtol=rtol)
    np.testing.assert_allclose(value, expected, rtol=rtol)


@settings(max_examples=50, deadline=None)
@given(
    shape=st.lists(st.integers(1, 9), min_size=1, max_size=4).map(tuple),
    rate=st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9]),
    dtype=dtypes,
    seed=st.integers(0, 2**32 - 1),
)
def test_dropout_equals_numpy(shape, rate, dtype, seed):
    """The mask and the output are bit for bit NumPy's ``(draw >= threshold).astype(dtype) *
    scale`` and ``x * mask`` for the 32-bit draws of the raw words (each word's low half first),
    including a draw equal to the threshold, the largest draw, and non-finite inputs."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[0], x.flat[-1] = np.nan, np.inf
    bits = draw_bits(rng, x.size)
    limit = threshold(rate)
    bits[0] = np.uint64(2**32 - 1) << np.uint64(32) | np.uint64(min(limit, 2**32 - 1))
    draws = np.array([int(w) >> s & 0xFFFFFFFF for w in bits for s in (0, 32)], dtype=np.uint64)[: x.size]
    mask = (draws >= limit).astype(dtype).reshape(shape) * dtype(1 / (1 - rate))
    with np.errstate(invalid="ignore"):  # inf * 0 (NumPy; also the kernel without the JIT)
        (y, made), expected = dropout_forward(x, bits, rate), x * mask
    np.testing.assert_array_equal(made, mask)
    np.testing.assert_array_equal(y, expected)
    assert y.dtype == made.dtype == dtype
    np.testing.assert_array_equal(dropout_mask(bits, shape, rate, dtype), mask)


def test_dropout_drops_with_probability_rate_to_within_two_to_the_minus_33():
    """``threshold(rate)`` of the 2**32 draws are dropped."""
    for rate in (0.1, 0.25, 0.5, 0.9, 1e-12, 1 - 1e-12):
        assert abs(threshold(rate) / 2**32 - rate) <= 2**-33
    assert threshold(0.0) == 0 and threshold(0.5) == 2**31


def test_dropout_rejects_raw_words_of_another_count_or_dtype():
    x = np.ones((3, 5), np.float32)
    for bits in (np.ones(7, np.uint64), np.ones(9, np.uint64), np.ones(8, np.int64), np.ones((8, 1), np.uint64)):
        with pytest.raises(ValueError, match="Expected 8 uint64 words"):
            dropout_forward(x, bits, 0.5)
        with pytest.raises(ValueError, match="Expected 8 uint64 words"):
            dropout_mask(bits, (3, 5), 0.5, np.float32)
