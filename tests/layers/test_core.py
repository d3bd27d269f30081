"""Core layers: Dense, Activation, Dropout, Flatten, Reshape.

Property tests check the hand-written backward passes against finite differences and the output
shapes against ``compute_output_shape``; example tests pin Keras-exact numbers and the weight and
config round-trips.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_helpers import concrete

from tinykeras import activations, backend, initializers
from tinykeras.layers import Activation, Dense, Dropout, Flatten, Reshape
from tinykeras.utils import check_gradients

ACTIVATION_NAMES = sorted(activations._ACTIVATIONS)
KINK_MARGIN = 1e-3

batch_sizes = st.integers(1, 5)
feature_sizes = st.integers(1, 7)
unit_counts = st.integers(1, 6)
seeds = st.integers(0, 2**32 - 1)


def away_from_kinks(rng, shape, margin=KINK_MARGIN):
    """Standard normal values, redrawn where |x| < margin (relu-like kinks sit at 0)."""
    x = rng.standard_normal(shape)
    small = np.abs(x) < margin
    while small.any():
        x[small] = rng.standard_normal(int(small.sum()))
        small = np.abs(x) < margin
    return x


def dense_away_from_kinks(layer, rng, x_shape):
    """Sets random weights on a float64 Dense layer and draws an input whose pre-activations
    stay away from 0, so that finite differences are valid for every activation."""
    layer.build_for((None,) + tuple(x_shape[1:]))
    for _ in range(1000):
        kernel = rng.standard_normal(layer.kernel.shape) * 0.7
        weights = [kernel]
        if layer.use_bias:
            weights.append(rng.standard_normal(layer.bias.shape) * 0.5)
        layer.set_weights(weights)
        x = rng.standard_normal(x_shape)
        z = x @ kernel + (weights[1] if layer.use_bias else 0)
        if np.abs(z).min() > KINK_MARGIN:
            return x
    raise RuntimeError("could not draw pre-activations away from 0")


# ---- Dense --------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
@settings(max_examples=15, deadline=None)
@given(batch=batch_sizes, features=feature_sizes, units=unit_counts, seed=seeds)
def test_dense_gradients_for_every_activation(activation, batch, features, units, seed):
    rng = np.random.default_rng(seed)
    layer = Dense(units, activation=activation, dtype="float64")
    x = dense_away_from_kinks(layer, rng, (batch, features))
    errors = check_gradients(layer, x)
    assert set(errors) == {"input", "kernel", "bias"}


@pytest.mark.parametrize("activation", [None, "softmax", "sigmoid", "gelu", "relu"])
@settings(max_examples=25, deadline=None)
@given(batch=batch_sizes, features=feature_sizes, units=unit_counts, seed=seeds)
def test_dense_without_bias_gradients(activation, batch, features, units, seed):
    rng = np.random.default_rng(seed)
    layer = Dense(units, activation=activation, use_bias=False, dtype="float64")
    x = dense_away_from_kinks(layer, rng, (batch, features))
    errors = check_gradients(layer, x)
    assert set(errors) == {"input", "kernel"}
    assert len(layer.grads) == 1


@pytest.mark.parametrize("activation", [None, "softmax", "tanh", "relu"])
@settings(max_examples=20, deadline=None)
@given(
    batch=batch_sizes,
    steps=st.integers(1, 4),
    features=feature_sizes,
    units=unit_counts,
    seed=seeds,
)
def test_dense_nd_input_gradients_and_shape(activation, batch, steps, features, units, seed):
    rng = np.random.default_rng(seed)
    layer = Dense(units, activation=activation, dtype="float64")
    x = dense_away_from_kinks(layer, rng, (batch, steps, features))
    y = layer.forward(x)
    assert y.shape == (batch, steps, units)
    assert y.shape == concrete(layer.compute_output_shape((None, steps, features)), batch)
    check_gradients(layer, x)


@settings(max_examples=25, deadline=None)
@given(batch=batch_sizes, features=feature_sizes, units=unit_counts, seed=seeds)
def test_unbuilt_dense_is_built_in_float64_by_the_checker(batch, features, units, seed):
    x = np.random.default_rng(seed).standard_normal((batch, features))
    layer = Dense(units)
    check_gradients(layer, x)
    assert layer.kernel.dtype == np.float64
    assert layer.kernel.shape == (features, units)


@settings(max_examples=30, deadline=None)
@given(batch=batch_sizes, features=feature_sizes, units=unit_counts, use_bias=st.booleans())
def test_dense_output_shape_matches_compute_output_shape(batch, features, units, use_bias):
    layer = Dense(units, use_bias=use_bias)
    y = layer(np.ones((batch, features)))
    assert y.shape == concrete(layer.compute_output_shape((None, features)), batch)
    assert layer.compute_output_shape((None, features)) == (None, units)


def test_dense_forward_equals_hand_computed_affine_map(rng):
    layer = Dense(3, dtype="float64")
    layer.build_for((None, 4))
    kernel = rng.standard_normal((4, 3))
    bias = rng.standard_normal(3)
    layer.set_weights([kernel, bias])
    x = rng.standard_normal((2, 4))
    expected = np.empty((2, 3))
    for n in range(2):
        for j in range(3):
            expected[n, j] = sum(x[n, i] * kernel[i, j] for i in range(4)) + bias[j]
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)


def test_dense_forward_with_activation_applies_it_after_the_affine_map(rng):
    layer = Dense(3, activation="sigmoid", dtype="float64")
    layer.build_for((None, 2))
    kernel, bias = rng.standard_normal((2, 3)), rng.standard_normal(3)
    layer.set_weights([kernel, bias])
    x = rng.standard_normal((4, 2))
    z = x @ kernel + bias
    np.testing.assert_allclose(layer.forward(x), 1 / (1 + np.exp(-z)), rtol=1e-12)
    np.testing.assert_allclose(layer.logits, z, rtol=1e-12)


def test_relu_overwrites_only_the_linear_output_a_layer_computed_itself(rng):
    # Dense may turn its own z into relu(z) in place (keeping one array, not two); Activation
    # must leave its input, the previous layer's output, untouched.
    x = rng.standard_normal((5, 4))
    kept = x.copy()
    np.testing.assert_array_equal(Activation("relu").forward(x), np.maximum(x, 0))
    np.testing.assert_array_equal(x, kept)
    dense = Dense(3, activation="relu", dtype="float64")
    dense.build_for((None, 4))
    z = x @ dense.kernel.value + dense.bias.value
    np.testing.assert_array_equal(dense.forward(x), np.maximum(z, 0))
    assert dense.logits is None
    dy = rng.standard_normal((5, 3))
    np.testing.assert_allclose(dense.backward(dy), (dy * (z > 0)) @ dense.kernel.value.T, rtol=1e-12)


def test_dense_backward_numbers(rng):
    layer = Dense(2, dtype="float64")
    layer.build_for((None, 3))
    kernel, bias = rng.standard_normal((3, 2)), rng.standard_normal(2)
    layer.set_weights([kernel, bias])
    x, dy = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    layer.forward(x)
    dx = layer.backward(dy)
    np.testing.assert_allclose(dx, dy @ kernel.T, rtol=1e-12)
    np.testing.assert_allclose(layer.grads[0], x.T @ dy, rtol=1e-12)
    np.testing.assert_allclose(layer.grads[1], dy.sum(axis=0), rtol=1e-12)


def test_dense_default_initializers_are_glorot_uniform_and_zeros():
    layer = Dense(30)
    layer.build_for((None, 20))
    kernel, bias = layer.get_weights()
    assert kernel.dtype == np.float32
    assert np.abs(kernel).max() <= np.sqrt(6 / 50)
    assert kernel.std() > 0.5 * np.sqrt(6 / 50) / np.sqrt(3)
    np.testing.assert_array_equal(bias, np.zeros(30))


def test_dense_without_bias_has_one_weight():
    layer = Dense(4, use_bias=False)
    layer.build_for((None, 3))
    assert [w.shape for w in layer.get_weights()] == [(3, 4)]
    assert layer.count_params() == 12


@pytest.mark.parametrize(("units", "error"), [(0, ValueError), (-1, ValueError), (2.5, TypeError), ("3", TypeError)])
def test_dense_rejects_bad_units(units, error):
    with pytest.raises(error, match="units"):
        Dense(units)


# ---- Activation ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
@settings(max_examples=25, deadline=None)
@given(batch=batch_sizes, features=feature_sizes, seed=seeds)
def test_activation_layer_gradients(name, batch, features, seed):
    x = away_from_kinks(np.random.default_rng(seed), (batch, features))
    layer = Activation(name)
    errors = check_gradients(layer, x)
    assert set(errors) == {"input"}


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_activation_layer_forward_and_shape(name, rng):
    x = away_from_kinks(rng, (3, 2, 4))
    layer = Activation(name, dtype="float64")
    y = layer(x)
    np.testing.assert_allclose(y, activations.get(name)(x), rtol=1e-12)
    assert y.shape == concrete(layer.compute_output_shape((None, 2, 4)), 3)
    assert layer.get_weights() == []


def test_activation_layer_with_unknown_name_raises_value_error():
    with pytest.raises(ValueError, match="relu"):
        Activation("rellu")


# ---- Flatten ------------------------------------------------------------------------------

image_shapes = st.tuples(batch_sizes, st.integers(1, 4), st.integers(1, 4), st.integers(1, 4))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@settings(max_examples=30, deadline=None)
@given(shape=image_shapes, seed=seeds)
def test_flatten_gradients_and_shape(data_format, shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    layer = Flatten(data_format=data_format)
    y = layer(x)
    assert y.shape == concrete(layer.compute_output_shape((None,) + shape[1:]), shape[0])
    check_gradients(layer, x)


@settings(max_examples=30, deadline=None)
@given(shape=image_shapes, seed=seeds)
def test_flatten_channels_first_moves_channels_last_then_flattens(shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    expected = np.transpose(x, (0, 2, 3, 1)).reshape(shape[0], -1)
    np.testing.assert_array_equal(Flatten(data_format="channels_first")(x), expected)
    np.testing.assert_array_equal(Flatten(data_format="channels_last")(x), x.reshape(shape[0], -1))


def test_flatten_channels_first_example_order():
    # One sample, 2 channels of 1x2 pixels: channels_last order interleaves the channels.
    x = np.array([[[[1.0, 2.0]], [[10.0, 20.0]]]])
    np.testing.assert_array_equal(Flatten(data_format="channels_first")(x), [[1, 10, 2, 20]])


def test_flatten_channels_first_backward_is_the_inverse_permutation(rng):
    x = rng.standard_normal((2, 3, 2, 2))
    layer = Flatten(data_format="channels_first")
    y = layer.forward(x)
    np.testing.assert_array_equal(layer.backward(y), x)


def test_flatten_default_data_format_follows_the_backend():
    assert Flatten().data_format == "channels_last"
    backend.set_image_data_format("channels_first")
    assert Flatten().data_format == "channels_first"


def test_flatten_unknown_dimension_gives_none():
    assert Flatten().compute_output_shape((None, None, 3)) == (None, None)
    assert Flatten().compute_output_shape((None, 2, 3, 4)) == (None, 24)


# ---- Reshape ------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    batch=batch_sizes,
    a=st.integers(1, 4),
    b=st.integers(1, 4),
    c=st.integers(1, 3),
    unknown_axis=st.integers(0, 2),
    seed=seeds,
)
def test_reshape_with_minus_one_gradients_and_shape(batch, a, b, c, unknown_axis, seed):
    x = np.random.default_rng(seed).standard_normal((batch, a * b * c)).astype(np.float32)
    target = [c, a, b]
    expected_target = tuple(target)
    target[unknown_axis] = -1
    layer = Reshape(tuple(target))
    y = layer(x)
    assert y.shape == (batch,) + expected_target
    assert layer.compute_output_shape((None, a * b * c)) == (None,) + expected_target
    np.testing.assert_array_equal(y, x.reshape((batch,) + expected_target))
    check_gradients(layer, x)


def test_reshape_rejects_a_wrong_total_size():
    with pytest.raises(ValueError, match="Reshape"):
        Reshape((4, 2)).compute_output_shape((None, 7))


def test_reshape_with_minus_one_rejects_an_indivisible_size():
    # 7 values cannot fill (2, -1): Keras raises rather than reporting (2, 3).
    with pytest.raises(ValueError):
        Reshape((2, -1)).compute_output_shape((None, 7))


# ---- Dropout ------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    batch=batch_sizes,
    features=feature_sizes,
    rate=st.sampled_from([0.0, 0.1, 0.5, 0.9]),
    seed=seeds,
)
def test_dropout_gradients_and_shape_in_inference(batch, features, rate, seed):
    x = np.random.default_rng(seed).standard_normal((batch, features))
    layer = Dropout(rate)
    assert layer(x).shape == concrete(layer.compute_output_shape((None, features)), batch)
    check_gradients(layer, x)


@settings(max_examples=30, deadline=None)
@given(
    batch=batch_sizes,
    features=feature_sizes,
    rate=st.sampled_from([0.1, 0.5, 0.9]),
    seed=seeds,
)
def test_dropout_training_is_linear_with_a_fixed_mask(batch, features, rate, seed):
    rng = np.random.default_rng(seed)
    x = away_from_kinks(rng, (batch, features))
    layer = Dropout(rate, seed=seed)
    y = layer.forward(x, training=True)
    assert y.shape == x.shape
    mask = y / x
    assert np.all(np.isclose(mask, 0) | np.isclose(mask, 1 / (1 - rate), rtol=1e-6))
    dy = rng.standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(dy), dy * mask, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("rate", [0.2, 0.5, 0.8])
def test_dropout_training_drops_about_rate_and_scales_survivors(rate):
    backend.set_random_seed(0)
    x = np.ones((200, 500), dtype=np.float32)
    y = Dropout(rate)(x, training=True)
    dropped = np.mean(y == 0)
    assert abs(dropped - rate) < 0.01
    survivors = y[y != 0]
    np.testing.assert_allclose(survivors, np.float32(1 / (1 - rate)), rtol=1e-6)
    assert y.dtype == np.float32


@pytest.mark.parametrize("noise_shape", [None, (None, 1, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_mask_is_the_seeded_draws_compared_with_the_rate(noise_shape, dtype):
    """The mask is ``(draw >= rate * 2**32) / (1 - rate)`` for the 32-bit halves of the layer's
    own raw words ``rng.bit_generator.random_raw``, low half first, so a seed gives the same masks
    whatever computes them."""
    x = np.random.default_rng(0).standard_normal((4, 3, 5)).astype(dtype)
    layer = Dropout(0.3, noise_shape=noise_shape, seed=11)
    words = np.random.default_rng(11).bit_generator
    for _ in range(2):
        y = layer.forward(x, training=True)
        shape = (4, 3, 5) if noise_shape is None else (4, 1, 5)
        raw = words.random_raw((math.prod(shape) + 1) // 2)
        draws = [int(w) >> s & 0xFFFFFFFF for w in raw for s in (0, 32)][: math.prod(shape)]
        mask = (np.array(draws).reshape(shape) >= round(0.3 * 2**32)).astype(dtype) * dtype(1 / 0.7)
        np.testing.assert_array_equal(y, x * mask)
        np.testing.assert_array_equal(layer.backward(x), x * mask)


def test_dropout_is_identity_without_training(rng):
    x = rng.standard_normal((4, 6)).astype(np.float32)
    layer = Dropout(0.5)
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer(x, training=False), x)
    dy = rng.standard_normal((4, 6))
    np.testing.assert_array_equal(layer.backward(dy), dy)


def test_dropout_backward_uses_the_forward_mask(rng):
    x = np.ones((50, 40))
    layer = Dropout(0.4, seed=3)
    y = layer.forward(x, training=True)
    dy = rng.standard_normal(x.shape)
    dx = layer.backward(dy)
    np.testing.assert_allclose(dx, dy * y, rtol=1e-12)
    assert np.all(dx[y == 0] == 0)
    # A second backward without a new forward still uses the same mask.
    np.testing.assert_allclose(layer.backward(dy), dx, rtol=0)


def test_dropout_training_after_inference_forward_does_not_reuse_a_mask(rng):
    x = np.ones((10, 10))
    layer = Dropout(0.5, seed=1)
    layer.forward(x, training=True)
    layer.forward(x, training=False)
    dy = rng.standard_normal(x.shape)
    np.testing.assert_array_equal(layer.backward(dy), dy)


def test_dropout_seed_gives_the_same_mask_sequence():
    x = np.ones((20, 20))
    a, b = Dropout(0.5, seed=42), Dropout(0.5, seed=42)
    for _ in range(2):
        np.testing.assert_array_equal(a.forward(x, training=True), b.forward(x, training=True))
    assert not np.array_equal(
        Dropout(0.5, seed=1).forward(x, training=True),
        Dropout(0.5, seed=2).forward(x, training=True),
    )


def test_dropout_global_seed_reproduces_masks():
    x = np.ones((20, 20))
    backend.set_random_seed(5)
    first = Dropout(0.5).forward(x, training=True)
    backend.set_random_seed(5)
    np.testing.assert_array_equal(Dropout(0.5).forward(x, training=True), first)


def test_dropout_noise_shape_broadcasts_the_mask():
    x = np.ones((300, 6))
    y = Dropout(0.5, noise_shape=(None, 1), seed=0).forward(x, training=True)
    # Each row is kept or dropped as a whole.
    assert np.all((y == 0).all(axis=1) | (y == 2).all(axis=1))
    assert 0.35 < np.mean(y[:, 0] == 0) < 0.65


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_dropout_rejects_rates_outside_zero_one(rate):
    with pytest.raises(ValueError, match="rate"):
        Dropout(rate)


# ---- weights ------------------------------------------------------------------------------


def test_dense_get_set_weights_round_trip(rng):
    layer = Dense(3)
    layer.build_for((None, 4))
    kernel = rng.standard_normal((4, 3)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    layer.set_weights([kernel, bias])
    got = layer.get_weights()
    assert [w.shape for w in got] == [(4, 3), (3,)]
    np.testing.assert_array_equal(got[0], kernel)
    np.testing.assert_array_equal(got[1], bias)
    # get_weights returns copies.
    got[0][...] = 0
    np.testing.assert_array_equal(layer.get_weights()[0], kernel)
    # The kernel is used as (in, out): x @ kernel + bias.
    x = rng.standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_allclose(layer(x), x @ kernel + bias, rtol=1e-5)


def test_set_weights_with_a_wrong_shape_leaves_the_layer_unchanged(rng):
    layer = Dense(3)
    layer.build_for((None, 4))
    before = layer.get_weights()
    new_kernel = rng.standard_normal((4, 3))
    with pytest.raises(ValueError) as error:
        layer.set_weights([new_kernel, np.zeros(5)])
    message = str(error.value)
    assert "(3,)" in message and "(5,)" in message
    for old, now in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(old, now)


def test_set_weights_with_a_wrong_count_leaves_the_layer_unchanged(rng):
    layer = Dense(3)
    layer.build_for((None, 4))
    before = layer.get_weights()
    with pytest.raises(ValueError, match="expects 2"):
        layer.set_weights([rng.standard_normal((4, 3))])
    with pytest.raises(ValueError):
        layer.set_weights(before + [np.zeros(3)])
    for old, now in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(old, now)


@pytest.mark.parametrize("bad", [np.array(["1", "2", "3"]), np.array([None] * 3), np.zeros(3, bool)],
                         ids=["strings", "nones", "booleans"])
def test_set_weights_refuses_a_non_numeric_last_array_and_changes_nothing(rng, bad):
    layer = Dense(3, name="d")
    layer.build_for((None, 4))
    before = layer.get_weights()
    with pytest.raises(TypeError, match=rf"Layer 'd': weight 'd/bias' must hold real numbers "
                                        rf"\(integers or floats\); received an array of dtype {bad.dtype}"):
        layer.set_weights([rng.standard_normal((4, 3)), bad])
    for old, now in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(old, now)


def test_variable_assign_refuses_what_is_not_numbers():
    layer = Dense(2, name="d")
    layer.build_for((None, 2))
    before = layer.bias.numpy()
    with pytest.raises(TypeError, match=r"Variable 'd/bias' must hold real numbers .*dtype object"):
        layer.bias.assign(np.array([None, 1.0]))
    with pytest.raises(ValueError, match=r"Variable 'd/bias' has shape \(2,\), received an array of shape \(3,\)"):
        layer.bias.assign(np.zeros(3))
    np.testing.assert_array_equal(layer.bias.value, before)
    layer.bias.assign([1, 2])
    np.testing.assert_array_equal(layer.bias.value, [1.0, 2.0])


def test_weightless_layers_have_no_weights():
    for layer in [Flatten(), Reshape((2, 2)), Dropout(0.3), Activation("relu")]:
        assert layer.get_weights() == []
        layer.set_weights([])
        with pytest.raises(ValueError):
            layer.set_weights([np.zeros(1)])


# ---- configs ------------------------------------------------------------------------------


def test_dense_config_rebuilds_an_equivalent_layer(rng):
    layer = Dense(
        4,
        activation="relu",
        use_bias=False,
        kernel_initializer="he_normal",
        bias_initializer="ones",
    )
    config = layer.get_config()
    assert config["units"] == 4
    assert config["activation"] == "relu"
    assert config["use_bias"] is False
    clone = type(layer)(**config)
    assert clone.get_config() == config
    assert isinstance(clone.kernel_initializer, initializers.HeNormal)
    assert isinstance(clone.bias_initializer, initializers.Ones)
    assert clone.activation is activations.relu

    layer.build_for((None, 3))
    clone.build_for((None, 3))
    clone.set_weights(layer.get_weights())
    x = rng.standard_normal((5, 3))
    np.testing.assert_array_equal(clone(x), layer(x))


def test_config_without_name_gives_a_fresh_unique_name():
    first = Dense(2)
    second = Dense(2)
    assert (first.name, second.name) == ("dense", "dense_1")
    config = first.get_config()
    assert Dense(**config).name == "dense"
    config.pop("name")
    rebuilt = Dense(**config)
    assert rebuilt.name not in ("dense", "dense_1")
    assert rebuilt.name.startswith("dense")


@pytest.mark.parametrize(
    "layer_factory",
    [
        lambda: Activation("softmax"),
        lambda: Dropout(0.25, noise_shape=(None, 1), seed=3),
        lambda: Flatten(data_format="channels_first"),
        lambda: Reshape((2, -1)),
        lambda: Dense(3, activation="gelu", input_shape=(5,)),
    ],
)
def test_config_round_trip(layer_factory):
    layer = layer_factory()
    config = layer.get_config()
    clone = type(layer)(**config)
    assert type(clone) is type(layer)
    assert clone.get_config() == config


def test_config_round_trip_preserves_behaviour(rng):
    x = rng.standard_normal((2, 3, 2, 2))
    layer = Flatten(data_format="channels_first")
    clone = Flatten(**layer.get_config())
    np.testing.assert_array_equal(clone(x), layer(x))
    reshape = Reshape((4, -1))
    np.testing.assert_array_equal(
        Reshape(**reshape.get_config())(x.reshape(2, -1)), reshape(x.reshape(2, -1))
    )


def test_unknown_constructor_argument_is_a_type_error():
    with pytest.raises(TypeError, match="unitz"):
        Dense(3, unitz=4)
