"""Permute, RepeatVector, Cropping2D, UpSampling2D, SpatialDropout2D and GaussianNoise.

Over hypothesis-drawn shapes and arguments (both data formats) each forward is compared with a
reference written here as loops over output positions, its shape with ``compute_output_shape``,
and its hand-written backward with finite differences. The noise layers are checked for being
the identity in inference, for their mask and noise statistics in training, and for the
gradient they pass back.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_helpers import concrete, int_or_pair, pair, to_nchw

import tinykeras
from tinykeras.layers import (
    Cropping2D,
    GaussianNoise,
    Permute,
    RepeatVector,
    SpatialDropout2D,
    UpSampling2D,
)
from tinykeras.utils import check_gradients

seeds = st.integers(0, 2**32 - 1)
data_formats = st.sampled_from(["channels_last", "channels_first"])
image_shapes = st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6), st.integers(1, 3))


def checked(layer, x):
    """The layer's output on x, after checking its shape against compute_output_shape and its
    backward against finite differences."""
    y = layer(x)
    assert y.shape == concrete(layer.compute_output_shape((None,) + x.shape[1:]), x.shape[0])
    check_gradients(layer, x)
    return y


# ---- Permute and RepeatVector -------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=5).map(tuple), data=st.data())
def test_permute_moves_each_value_to_its_permuted_index(shape, data):
    dims = tuple(data.draw(st.permutations(range(1, len(shape)))))
    x = np.random.default_rng(0).standard_normal(shape)
    y = checked(Permute(dims, dtype="float64"), x)
    for index in np.ndindex(*y.shape):
        source = [index[0]] + [0] * (len(shape) - 1)
        for out_axis, in_axis in enumerate(dims, start=1):
            source[in_axis] = index[out_axis]
        assert y[index] == x[tuple(source)]


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 3), features=st.integers(1, 5), n=st.integers(1, 4), seed=seeds)
def test_repeat_vector_copies_each_sample_n_times(batch, features, n, seed):
    x = np.random.default_rng(seed).standard_normal((batch, features))
    y = checked(RepeatVector(n, dtype="float64"), x)
    assert y.shape == (batch, n, features)
    for copy in range(n):
        np.testing.assert_array_equal(y[:, copy], x)


def test_permute_and_repeat_vector_errors_and_configs():
    assert Permute([2, 1]).get_config()["dims"] == (2, 1)
    assert RepeatVector(3).get_config()["n"] == 3
    with pytest.raises(ValueError, match=r"Permute: `dims` must be a permutation of 1, 2, \.\.\., k .*Received: dims=\(1, 3\)"):
        Permute((1, 3))
    with pytest.raises(ValueError, match=r"Received: dims=\(0, 1\)"):
        Permute((0, 1))
    with pytest.raises(TypeError, match=r"Permute: `dims` must be a tuple of integers.*Received: dims=2"):
        Permute(2)
    with pytest.raises(ValueError, match=r"\(Permute\) with dims=\(2, 1\) expects 3-D inputs; received input_shape=\(None, 4\)"):
        Permute((2, 1)).build_for((None, 4))
    with pytest.raises(ValueError, match=r"RepeatVector: n must be a positive integer\. Received: n=0\."):
        RepeatVector(0)
    with pytest.raises(ValueError, match=r"\(RepeatVector\) expects 2-D inputs \(batch, features\); received input_shape=\(None, 2, 3\)\. Flatten"):
        RepeatVector(2).build_for((None, 2, 3))


# ---- Cropping2D and UpSampling2D ----------------------------------------------------------


margins = st.one_of(
    st.integers(0, 2),
    st.tuples(st.integers(0, 2), st.integers(0, 2)),
    st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)), st.tuples(st.integers(0, 2), st.integers(0, 2))),
)


def as_pairs(cropping):
    if isinstance(cropping, int):
        return ((cropping, cropping), (cropping, cropping))
    if isinstance(cropping[0], int):
        return ((cropping[0], cropping[0]), (cropping[1], cropping[1]))
    return cropping


@settings(max_examples=60, deadline=None)
@given(cropping=margins, shape=image_shapes, data_format=data_formats, seed=seeds)
def test_cropping2d_keeps_the_inner_window(cropping, shape, data_format, seed):
    (top, bottom), (left, right) = as_pairs(cropping)
    n, h, w, c = shape
    h, w = h + top + bottom, w + left + right  # at least one row and column stay
    x = np.random.default_rng(seed).standard_normal((n, h, w, c))
    expected = np.empty((n, h - top - bottom, w - left - right, c))
    for i in range(expected.shape[1]):
        for j in range(expected.shape[2]):
            expected[:, i, j] = x[:, top + i, left + j]
    if data_format == "channels_first":
        x, expected = to_nchw(x), to_nchw(expected)
    np.testing.assert_array_equal(checked(Cropping2D(cropping, data_format=data_format, dtype="float64"), x), expected)


@settings(max_examples=60, deadline=None)
@given(size=int_or_pair(1, 3), shape=image_shapes, data_format=data_formats, seed=seeds)
def test_upsampling2d_repeats_each_pixel_into_a_block(size, shape, data_format, seed):
    rows, cols = pair(size)
    x = np.random.default_rng(seed).standard_normal(shape)
    n, h, w, c = shape
    expected = np.empty((n, h * rows, w * cols, c))
    for i in range(h * rows):
        for j in range(w * cols):
            expected[:, i, j] = x[:, i // rows, j // cols]
    if data_format == "channels_first":
        x, expected = to_nchw(x), to_nchw(expected)
    np.testing.assert_array_equal(checked(UpSampling2D(size, data_format=data_format, dtype="float64"), x), expected)


def test_cropping_and_upsampling_defaults_configs_and_errors():
    assert Cropping2D().get_config()["cropping"] == ((0, 0), (0, 0))
    assert Cropping2D(((1, 2), (3, 4))).cropping == ((1, 2), (3, 4))
    assert Cropping2D((1, 2)).cropping == ((1, 1), (2, 2))
    config = UpSampling2D().get_config()
    assert (config["size"], config["interpolation"]) == ((2, 2), "nearest")
    assert UpSampling2D(3).compute_output_shape((None, 4, None, 2)) == (None, 12, None, 2)
    with pytest.raises(ValueError, match=r"\(Cropping2D\) with cropping=\(\(2, 2\), \(0, 0\)\) would leave nothing of an input of spatial size \(4, 5\)"):
        Cropping2D(((2, 2), (0, 0))).build_for((None, 4, 5, 1))
    with pytest.raises(TypeError, match=r"Cropping2D: `cropping` should be an int, a tuple of 2 ints, or a tuple of 2 tuples of 2 non-negative ints\. Received: cropping=1\.5"):
        Cropping2D(1.5)
    with pytest.raises(ValueError, match=r"UpSampling2D: interpolation='bilinear' is not implemented by tinykeras; only interpolation='nearest' is"):
        UpSampling2D(interpolation="bilinear")
    with pytest.raises(ValueError, match=r"UpSampling2D: interpolation='cubic' is not one of Keras'"):
        UpSampling2D(interpolation="cubic")
    with pytest.raises(ValueError, match=r"\(UpSampling2D\) expects 4-D inputs"):
        UpSampling2D().build_for((None, 4, 4))


# ---- SpatialDropout2D and GaussianNoise ---------------------------------------------------


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_spatial_dropout_drops_whole_channels_and_scales_the_rest(data_format):
    layer = SpatialDropout2D(0.4, data_format=data_format, seed=3)
    x = np.ones((200, 5, 6, 8), np.float32) if data_format == "channels_last" else np.ones((200, 8, 5, 6), np.float32)
    np.testing.assert_array_equal(layer(x), x)  # inference: the identity
    y = layer(x, training=True)
    maps = y if data_format == "channels_last" else np.moveaxis(y, 1, -1)
    per_channel = maps.reshape(200, 30, 8)
    assert np.all(per_channel == per_channel[:, :1])  # one value for all positions of a channel
    assert set(np.unique(per_channel)) == {0.0, np.float32(1 / 0.6)}
    assert abs((per_channel[:, 0] == 0).mean() - 0.4) < 0.05
    dy = np.random.default_rng(0).standard_normal(y.shape).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(dy), dy * y)  # x is all ones: y is the mask


def test_spatial_dropout_is_reproducible_with_a_seed_and_keeps_keras_config():
    x = np.ones((4, 3, 3, 5), np.float32)
    a = SpatialDropout2D(0.5, seed=7)(x, training=True)
    b = SpatialDropout2D(0.5, seed=7)(x, training=True)
    np.testing.assert_array_equal(a, b)
    config = SpatialDropout2D(0.5, seed=7).get_config()
    assert set(config) == {"name", "dtype", "rate", "seed", "data_format"}
    assert SpatialDropout2D.from_config(config).rate == 0.5
    with pytest.raises(ValueError, match=r"SpatialDropout2D: rate must be in \[0, 1\)\. Received: rate=1\."):
        SpatialDropout2D(1)
    with pytest.raises(ValueError, match=r"\(SpatialDropout2D\) expects 4-D inputs"):
        SpatialDropout2D(0.5).build_for((None, 4, 4))


def test_spatial_dropout_gradient_with_a_fixed_mask(rng):
    class FixedMask(SpatialDropout2D):
        """Draws the same mask at every call, so that finite differences see one function."""

        def forward(self, x, training=False):
            self._rng = np.random.default_rng(1)
            return super().forward(x, training)

    x = rng.standard_normal((3, 4, 4, 6))
    errors = check_gradients(FixedMask(0.5, seed=1), x, training=True)
    assert set(errors) == {"input"}


def test_gaussian_noise_is_active_only_in_training():
    layer = GaussianNoise(0.5, seed=2)
    x = np.zeros((400, 50), np.float32)
    np.testing.assert_array_equal(layer(x), x)
    y = layer(x, training=True)
    assert y.dtype == np.float32
    assert abs(y.mean()) < 0.01 and abs(y.std() - 0.5) < 0.01
    dy = np.ones_like(y)
    assert layer.backward(dy) is dy  # x + noise: the gradient passes through
    np.testing.assert_array_equal(GaussianNoise(0.5, seed=2)(x, training=True), y)


def test_gaussian_noise_config_and_errors():
    config = GaussianNoise(0.1, seed=4).get_config()
    assert (config["stddev"], config["seed"]) == (0.1, 4)
    with pytest.raises(ValueError, match=r"GaussianNoise: stddev must be in \[0, 1\]\. Received: stddev=2\."):
        GaussianNoise(2)
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(GaussianNoise(0.0)(x, training=True), x)


def test_noise_layers_train_in_a_model_and_predict_deterministically(rng):
    model = tinykeras.Sequential([
        tinykeras.Input((6, 6, 2)),
        tinykeras.layers.Conv2D(3, 3, padding="same"),
        SpatialDropout2D(0.3, seed=1),
        GaussianNoise(0.2, seed=1),
        tinykeras.layers.Flatten(),
        tinykeras.layers.Dense(2),
    ])
    model.compile(optimizer="sgd", loss="mse")
    x, y = rng.standard_normal((8, 6, 6, 2)).astype(np.float32), rng.standard_normal((8, 2)).astype(np.float32)
    history = model.fit(x, y, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
