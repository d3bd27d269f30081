"""Batch normalization's per-channel kernels equal their plain NumPy references."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinykeras.kernels.normalization import (
    channel_moments,
    channel_moments_reference,
    gradient_sums,
    gradient_sums_reference,
    normalize,
    normalize_backward,
    normalize_reference,
)

dtypes = st.sampled_from([np.float32, np.float64])
shapes = st.tuples(st.integers(1, 300), st.integers(1, 80))


def tolerance(dtype):
    return {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


@settings(max_examples=60, deadline=None)
@given(shape=shapes, dtype=dtypes, seed=st.integers(0, 2**32 - 1))
def test_moments_equal_numpy(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * rng.uniform(0.1, 10) + rng.uniform(-50, 50)).astype(dtype)
    mean, variance = channel_moments(x)
    expected_mean, expected_variance = channel_moments_reference(x)
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(variance, expected_variance, rtol=1e-9, atol=1e-12)


def test_moments_stay_exact_for_a_large_mean_and_small_spread():
    """Taken naively, E[x^2] - E[x]^2 of values near 1e4 loses the spread of 1e-2."""
    rng = np.random.default_rng(0)
    x = (1e4 + 1e-2 * rng.standard_normal((5000, 3))).astype(np.float64)
    variance = channel_moments(x)[1]
    np.testing.assert_allclose(variance, x.var(axis=0), rtol=1e-6)


@settings(max_examples=60, deadline=None)
@given(shape=shapes, dtype=dtypes, seed=st.integers(0, 2**32 - 1))
def test_normalize_and_backward_equal_numpy(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x, dy = (rng.standard_normal(shape) for _ in range(2))
    x, dy = x.astype(dtype), dy.astype(dtype)
    mu, a, b, c, d = (rng.standard_normal(shape[1]) for _ in range(5))

    np.testing.assert_allclose(
        normalize(x, mu, a, b), normalize_reference(x, mu.astype(dtype), a.astype(dtype), b.astype(dtype)),
        **tolerance(dtype),
    )
    expected = dy * a.astype(dtype) + (x - mu.astype(dtype)) * c.astype(dtype) + d.astype(dtype)
    np.testing.assert_allclose(normalize_backward(dy, x, mu, a, c, d), expected, **tolerance(dtype))
    # float32 products, float64 sums: the products' rounding grows with the row count.
    sums_tolerance = {"rtol": 1e-5, "atol": 1e-6 * shape[0]} if dtype == np.float32 else {"rtol": 1e-9, "atol": 1e-9}
    for got, want in zip(gradient_sums(dy, x, mu), gradient_sums_reference(dy, x, mu.astype(dtype))):
        np.testing.assert_allclose(got, want, **sums_tolerance)


def test_normalize_writes_into_out():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    out = np.empty_like(x)
    result = normalize(x, np.ones(3), np.full(3, 2.0), np.zeros(3), out=out)
    assert result is out
    np.testing.assert_array_equal(out, (x - 1) * 2)


def test_moments_of_no_rows_raise():
    with pytest.raises(ValueError, match="at least one row"):
        channel_moments(np.empty((0, 3), np.float32))


@pytest.mark.parametrize("rows", [2, 9, 1001])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_split_between_threads_match_one_thread(split_and_whole, rows, dtype):
    """Cut by rows between threads, the elementwise passes give the same bits and the sums (of
    float64 parts) the same values to rounding."""
    rng = np.random.default_rng(rows)
    x = (rng.standard_normal((rows, 5)) * 3 + 100).astype(dtype)
    dy = rng.standard_normal((rows, 5)).astype(dtype)
    mu, a, c, d = (rng.standard_normal(5) for _ in range(4))

    def call():
        return (
            *channel_moments(x),
            normalize(x, mu, a, c),
            *gradient_sums(dy, x, mu),
            normalize_backward(dy, x, mu, a, c, d),
        )

    whole, split = split_and_whole(call, calls=4)
    for index, (got, expected) in enumerate(zip(split, whole)):
        if index in (2, 5):  # elementwise
            np.testing.assert_array_equal(got, expected)
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)
