"""Initializers: Keras' bounds, variances, fans, defaults and seeding."""

import math

import numpy as np
import pytest

from tinykeras import backend, initializers
from tinykeras.layers import Dense
from tinykeras.utils import set_random_seed

TRUNCATED_STDDEV = 0.87962566103423978  # std of a unit normal truncated to [-2, 2]
LARGE = (400, 500)  # 200,000 samples: the sample std is within ~0.5% of the true one


def draw(name, shape, seed=0, dtype=None):
    set_random_seed(seed)
    return initializers.get(name)(shape, dtype=dtype)


# ---- fans -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, fans",
    [
        ((3, 3, 4, 8), (36, 72)),
        ((5, 7), (5, 7)),
        ((6,), (6, 6)),
        ((), (1, 1)),
        ((2, 4, 5), (8, 10)),
    ],
)
def test_compute_fans_like_keras(shape, fans):
    assert initializers.compute_fans(shape) == fans


def test_conv_kernel_fans_reach_the_initializers():
    # glorot_uniform on (3, 3, 4, 8): limit sqrt(6 / (36 + 72)).
    limit = math.sqrt(6 / 108)
    w = draw("glorot_uniform", (3, 3, 4, 8))
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.9 * limit
    # he_normal on a large conv kernel: variance 2 / fan_in with fan_in = 3 * 3 * 64.
    w = draw("he_normal", (3, 3, 64, 128))
    assert w.var() == pytest.approx(2 / 576, rel=0.02)


# ---- uniform variance scaling -----------------------------------------------------------


@pytest.mark.parametrize(
    "name, limit",
    [
        ("glorot_uniform", math.sqrt(6 / (400 + 500))),
        ("he_uniform", math.sqrt(6 / 400)),
        ("lecun_uniform", math.sqrt(3 / 400)),
    ],
)
def test_uniform_initializers_bound_and_spread(name, limit):
    w = draw(name, LARGE)
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.999 * limit
    assert abs(w.mean()) < 0.01 * limit
    assert w.std() == pytest.approx(limit / math.sqrt(3), rel=0.01)


def test_glorot_uniform_small_shape_bound():
    for seed in range(20):
        w = draw("glorot_uniform", (3, 5), seed=seed)
        assert np.abs(w).max() <= math.sqrt(6 / 8)


# ---- truncated normal variance scaling --------------------------------------------------


@pytest.mark.parametrize(
    "name, variance",
    [
        ("glorot_normal", 2 / (400 + 500)),
        ("he_normal", 2 / 400),
        ("lecun_normal", 1 / 400),
    ],
)
def test_truncated_normal_initializers_cut_at_two_stddevs_and_hit_the_variance(name, variance):
    w = draw(name, LARGE)
    stddev = math.sqrt(variance) / TRUNCATED_STDDEV
    assert np.abs(w).max() <= 2 * stddev * (1 + 1e-6)
    assert np.abs(w).max() > 1.95 * stddev
    assert w.var() == pytest.approx(variance, rel=0.02)
    assert abs(w.mean()) < 0.01 * math.sqrt(variance)


def test_variance_scaling_untruncated_normal():
    init = initializers.VarianceScaling(
        scale=3.0, mode="fan_out", distribution="untruncated_normal", seed=1
    )
    w = init(LARGE)
    assert w.var() == pytest.approx(3.0 / 500, rel=0.02)
    assert np.abs(w).max() > 2.5 * math.sqrt(3.0 / 500)  # tails are not cut


def test_variance_scaling_rejects_bad_mode_and_distribution():
    with pytest.raises(ValueError, match="mode"):
        initializers.VarianceScaling(mode="fan_sum")
    with pytest.raises(ValueError, match="distribution"):
        initializers.VarianceScaling(distribution="normalish")


# ---- constants and plain random ---------------------------------------------------------


def test_zeros_ones_constant():
    np.testing.assert_array_equal(initializers.get("zeros")((2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(initializers.get("ones")((4,)), np.ones(4))
    np.testing.assert_array_equal(initializers.Constant(2.5)((2, 2)), np.full((2, 2), 2.5))
    np.testing.assert_array_equal(initializers.get("constant")((3,)), np.zeros(3))
    config = initializers.serialize(initializers.Constant(value=-1.5))
    np.testing.assert_array_equal(initializers.get(config)((2,)), [-1.5, -1.5])


def test_random_normal_defaults():
    init = initializers.RandomNormal()
    assert (init.mean, init.stddev) == (0.0, 0.05)
    set_random_seed(3)
    w = initializers.get("random_normal")(LARGE)
    assert w.std() == pytest.approx(0.05, rel=0.01)
    assert abs(w.mean()) < 0.001
    assert np.abs(w).max() > 0.2  # not truncated


def test_random_normal_custom_mean_and_stddev():
    w = initializers.RandomNormal(mean=1.0, stddev=0.2, seed=4)(LARGE)
    assert w.mean() == pytest.approx(1.0, abs=0.002)
    assert w.std() == pytest.approx(0.2, rel=0.01)


def test_random_uniform_defaults():
    init = initializers.RandomUniform()
    assert (init.minval, init.maxval) == (-0.05, 0.05)
    w = draw("random_uniform", LARGE)
    assert w.min() >= -0.05 and w.max() <= 0.05
    assert w.std() == pytest.approx(0.1 / math.sqrt(12), rel=0.01)


def test_truncated_normal_defaults():
    init = initializers.TruncatedNormal()
    assert (init.mean, init.stddev) == (0.0, 0.05)
    w = draw("truncated_normal", LARGE)
    assert np.abs(w).max() <= 0.1
    assert w.std() == pytest.approx(0.05 * TRUNCATED_STDDEV, rel=0.01)


# ---- seeding ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["glorot_uniform", "he_normal", "random_normal", "truncated_normal"]
)
def test_set_random_seed_makes_draws_reproducible(name):
    first = draw(name, (6, 7), seed=123)
    again = draw(name, (6, 7), seed=123)
    other = draw(name, (6, 7), seed=124)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_set_random_seed_reproduces_a_sequence_of_draws():
    init = initializers.get("glorot_uniform")
    set_random_seed(9)
    a1, a2 = init((3, 3)), init((3, 3))
    set_random_seed(9)
    b1, b2 = init((3, 3)), init((3, 3))
    assert not np.array_equal(a1, a2)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)


def test_set_random_seed_reproduces_dense_weights():
    set_random_seed(11)
    first = Dense(4)
    first.build_for((None, 3))
    set_random_seed(11)
    second = Dense(4)
    second.build_for((None, 3))
    np.testing.assert_array_equal(first.get_weights()[0], second.get_weights()[0])


@pytest.mark.parametrize(
    "cls",
    [
        initializers.GlorotUniform,
        initializers.GlorotNormal,
        initializers.HeUniform,
        initializers.HeNormal,
        initializers.LecunUniform,
        initializers.LecunNormal,
        initializers.RandomNormal,
        initializers.RandomUniform,
        initializers.TruncatedNormal,
    ],
)
def test_seed_argument_fixes_the_draw(cls):
    set_random_seed(1)
    a = cls(seed=7)((5, 4))
    set_random_seed(2)  # the global seed does not matter for a seeded initializer
    b = cls(seed=7)((5, 4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, cls(seed=8)((5, 4)))
    assert cls(seed=7).get_config()["seed"] == 7


def test_seed_survives_serialization():
    init = initializers.HeUniform(seed=5)
    clone = initializers.get(initializers.serialize(init))
    assert type(clone) is initializers.HeUniform
    np.testing.assert_array_equal(clone((3, 3)), init((3, 3)))


# ---- dtypes and lookup ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(initializers._INITIALIZERS))
def test_dtype_is_float32_by_default(name):
    assert initializers.get(name)((3, 4)).dtype == np.float32


def test_dtype_argument_and_floatx():
    assert initializers.get("he_normal")((3, 4), dtype="float64").dtype == np.float64
    backend.set_floatx("float64")
    assert initializers.get("glorot_uniform")((3, 4)).dtype == np.float64


@pytest.mark.parametrize(
    "identifier, cls",
    [
        ("glorot_uniform", initializers.GlorotUniform),
        ("GlorotUniform", initializers.GlorotUniform),
        ("xavier_normal", initializers.GlorotNormal),
        ("he_normal", initializers.HeNormal),
        ("HeNormal", initializers.HeNormal),
        ("zeros", initializers.Zeros),
        ("normal", initializers.RandomNormal),
    ],
)
def test_get_by_name(identifier, cls):
    assert type(initializers.get(identifier)) is cls


def test_get_unknown_name_suggests_the_nearest():
    with pytest.raises(ValueError) as error:
        initializers.get("glorot_unifrom")
    assert "Did you mean 'glorot_uniform'" in str(error.value)
    assert "he_normal" in str(error.value)


def test_named_initializers_are_variance_scaling_with_keras_parameters():
    expected = {
        initializers.GlorotUniform: (1.0, "fan_avg", "uniform"),
        initializers.GlorotNormal: (1.0, "fan_avg", "truncated_normal"),
        initializers.HeUniform: (2.0, "fan_in", "uniform"),
        initializers.HeNormal: (2.0, "fan_in", "truncated_normal"),
        initializers.LecunUniform: (1.0, "fan_in", "uniform"),
        initializers.LecunNormal: (1.0, "fan_in", "truncated_normal"),
    }
    for cls, (scale, mode, distribution) in expected.items():
        init = cls()
        assert isinstance(init, initializers.VarianceScaling)
        assert (init.scale, init.mode, init.distribution) == (scale, mode, distribution)
