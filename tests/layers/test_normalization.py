"""BatchNormalization: gradients against finite differences, Keras' formulas and moving-statistics
rule, both data formats, summary counts and weights files."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinykeras as keras
from tinykeras import Sequential, backend
from tinykeras.layers import BatchNormalization, Conv2D, Dense, Flatten
from tinykeras.utils import check_gradients

seeds = st.integers(0, 2**31 - 1)


def random_weights(layer, rng):
    """Non-trivial gamma and beta, and moving statistics away from their initial values."""
    weights = []
    for variable in layer.variables:
        if variable.name == "moving_variance":
            weights.append(rng.uniform(0.5, 2.0, variable.shape))
        else:
            weights.append(rng.standard_normal(variable.shape))
    layer.set_weights(weights)


def float64_layer(shape, rng, **kwargs):
    layer = BatchNormalization(dtype="float64", **kwargs)
    layer.build_for((None,) + tuple(shape[1:]))
    random_weights(layer, rng)
    return layer


@settings(max_examples=40, deadline=None)
@given(
    shape=st.one_of(
        st.tuples(st.integers(1, 9), st.integers(1, 70)),
        st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 5), st.integers(1, 9)),
    ),
    training=st.booleans(),
    center=st.booleans(),
    scale=st.booleans(),
    seed=seeds,
)
def test_gradients_channels_last(shape, training, center, scale, seed):
    rng = np.random.default_rng(seed)
    layer = float64_layer(shape, rng, center=center, scale=scale)
    x = rng.standard_normal(shape) * rng.uniform(0.1, 10) + rng.uniform(-20, 20)
    errors = check_gradients(layer, x, training=training)
    expected = {"input"} | ({"gamma"} if scale else set()) | ({"beta"} if center else set())
    assert set(errors) == expected


@settings(max_examples=25, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 5), st.integers(1, 5)),
    axis=st.sampled_from([1, 2, -2, 3]),
    training=st.booleans(),
    seed=seeds,
)
def test_gradients_on_any_feature_axis(shape, axis, training, seed):
    rng = np.random.default_rng(seed)
    layer = float64_layer(shape, rng, axis=axis)
    check_gradients(layer, rng.standard_normal(shape) * 2 + 1, training=training)


def test_training_forward_is_keras_formula_and_updates_moving_statistics(rng):
    x = (rng.standard_normal((16, 3)) * [1.0, 5.0, 0.1] + [0.0, 100.0, -3.0]).astype(np.float32)
    layer = BatchNormalization()
    layer.build_for((None, 3))
    gamma, beta = np.array([1.5, 0.5, 2.0]), np.array([0.1, -0.2, 0.3])
    moving_mean, moving_variance = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])
    layer.set_weights([gamma, beta, moving_mean, moving_variance])

    y = layer(x, training=True)

    x64 = x.astype(np.float64)
    mean, variance = x64.mean(axis=0), x64.var(axis=0)
    np.testing.assert_allclose(y, gamma * (x64 - mean) / np.sqrt(variance + 1e-3) + beta, rtol=1e-5, atol=1e-5)
    # Keras: moving = moving * momentum + batch * (1 - momentum), with the biased variance.
    np.testing.assert_allclose(layer.moving_mean.value, moving_mean * 0.99 + mean * 0.01, rtol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.value, moving_variance * 0.99 + variance * 0.01, rtol=1e-6)


def test_inference_uses_moving_statistics_and_leaves_them(rng):
    x = rng.standard_normal((5, 4)).astype(np.float32)
    layer = BatchNormalization(epsilon=0.01)
    layer.build_for((None, 4))
    weights = [rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(4), rng.uniform(1, 2, 4)]
    layer.set_weights(weights)
    gamma, beta, mean, variance = weights

    y = layer(x, training=False)

    np.testing.assert_allclose(y, gamma * (x - mean) / np.sqrt(variance + 0.01) + beta, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.moving_mean.value, mean.astype(np.float32))
    np.testing.assert_allclose(layer.moving_variance.value, variance.astype(np.float32))


def test_moving_statistics_converge_to_the_data_statistics(rng):
    layer = BatchNormalization(momentum=0.5)
    layer.build_for((None, 2))
    for _ in range(60):
        layer(rng.normal([3.0, -1.0], [2.0, 0.5], size=(4000, 2)), training=True)
    np.testing.assert_allclose(layer.moving_mean.value, [3.0, -1.0], atol=0.05)
    np.testing.assert_allclose(layer.moving_variance.value, [4.0, 0.25], rtol=0.05)


def test_frozen_layer_normalizes_with_moving_statistics_even_in_training(rng):
    layer = BatchNormalization()
    layer.build_for((None, 3))
    layer.set_weights([np.ones(3), np.zeros(3), np.full(3, 2.0), np.full(3, 4.0)])
    layer.trainable = False
    x = rng.standard_normal((8, 3)).astype(np.float32)

    y = layer(x, training=True)

    np.testing.assert_allclose(y, (x - 2.0) / np.sqrt(4.0 + 1e-3), rtol=1e-5)
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 4
    layer.backward(np.ones_like(y))
    assert layer.grads == []
    np.testing.assert_allclose(layer.moving_mean.value, 2.0)


def test_channels_first_equals_channels_last(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    first, last = BatchNormalization(axis=1, dtype="float64"), BatchNormalization(axis=-1, dtype="float64")
    first.build_for((None, 3, 4, 5))
    last.build_for((None, 4, 5, 3))
    random_weights(first, rng)
    last.set_weights(first.get_weights())
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    dy = rng.standard_normal(x.shape)

    y_first = first.forward(x, training=True)
    y_last = last.forward(nhwc, training=True)
    dx_first = first.backward(dy)
    dx_last = last.backward(np.ascontiguousarray(dy.transpose(0, 2, 3, 1)))

    np.testing.assert_allclose(y_first.transpose(0, 2, 3, 1), y_last, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx_first.transpose(0, 2, 3, 1), dx_last, rtol=1e-10, atol=1e-12)
    for g_first, g_last in zip(first.grads, last.grads):
        np.testing.assert_allclose(g_first, g_last, rtol=1e-10)
    np.testing.assert_allclose(first.moving_variance.value, last.moving_variance.value, rtol=1e-12)


def test_weights_order_shapes_and_trainability():
    layer = BatchNormalization()
    layer.build_for((None, 6, 6, 7))
    assert [v.name for v in layer.variables] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [v.name for v in layer.trainable_weights] == ["gamma", "beta"]
    assert [w.shape for w in layer.get_weights()] == [(7,)] * 4
    np.testing.assert_array_equal(layer.get_weights()[0], 1)
    np.testing.assert_array_equal(layer.get_weights()[1], 0)
    np.testing.assert_array_equal(layer.get_weights()[2], 0)
    np.testing.assert_array_equal(layer.get_weights()[3], 1)


def test_without_center_and_scale_only_moving_statistics_remain():
    layer = BatchNormalization(center=False, scale=False)
    layer.build_for((None, 3))
    assert [v.name for v in layer.variables] == ["moving_mean", "moving_variance"]
    assert layer.trainable_weights == []


def test_summary_counts_non_trainable_moving_statistics():
    model = Sequential([
        Conv2D(4, 3, input_shape=(6, 6, 2)),
        BatchNormalization(),
        Flatten(),
        Dense(3),
        BatchNormalization(),
    ])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    # conv 3*3*2*4+4 = 76, bn 4*4 = 16, dense 64*3+3 = 195, bn 4*3 = 12; moving stats 2*4+2*3
    assert "Total params: 299" in text
    assert "Trainable params: 285" in text
    assert "Non-trainable params: 14" in text


def test_fit_updates_moving_statistics_and_weights_round_trip(tmp_path, rng):
    keras.utils.set_random_seed(3)
    x = rng.normal(5.0, 3.0, size=(64, 4)).astype(np.float32)
    y = keras.utils.to_categorical((x[:, 0] > 5).astype(int), 2)

    def build():
        model = Sequential([Dense(6, input_shape=(4,)), BatchNormalization(), Dense(2, activation="softmax")])
        model.compile("adam", "categorical_crossentropy", ["accuracy"])
        return model

    model = build()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    bn = model.layers[1]
    assert not np.allclose(bn.moving_mean.value, 0)
    path = tmp_path / "bn.weights.h5"
    model.save_weights(path)
    restored = build()
    restored.load_weights(path)
    for a, b in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"momentum": 1.5}, "momentum must be in"),
        ({"epsilon": 0}, "epsilon must be positive"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BatchNormalization(**kwargs)


def test_an_axis_that_is_not_an_integer_raises_type_error():
    with pytest.raises(TypeError, match="axis must be an integer"):
        BatchNormalization(axis=(1, 2))


def test_set_weights_refuses_none_for_a_moving_statistic_and_changes_nothing():
    layer = BatchNormalization(name="bn")
    layer.build_for((None, 3))
    before = layer.get_weights()
    weights = [np.full(3, 2.0), np.ones(3), np.zeros(3), np.array([None, None, None])]
    with pytest.raises(TypeError, match="'bn/moving_variance' must hold real numbers"):
        layer.set_weights(weights)
    for old, now in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(old, now)


def test_batch_axis_is_rejected_at_build():
    with pytest.raises(ValueError, match="not a feature axis"):
        BatchNormalization(axis=0).build_for((None, 3))


def test_wrong_feature_count_names_layer_and_shapes(rng):
    layer = BatchNormalization(name="bn")
    layer.build_for((None, 3))
    with pytest.raises(ValueError, match=r"'bn'.*expects 3 features.*\(2, 4\)"):
        layer.forward(rng.standard_normal((2, 4)).astype(np.float32))


def test_config_rebuilds_the_layer():
    layer = BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5, center=False, gamma_initializer="zeros")
    clone = BatchNormalization.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_float64_layer_keeps_float64(rng):
    backend.set_floatx("float64")
    try:
        layer = BatchNormalization()
        y = layer(rng.standard_normal((3, 2)), training=True)
    finally:
        backend.set_floatx("float32")
    assert y.dtype == np.float64 and layer.moving_mean.dtype == np.float64
