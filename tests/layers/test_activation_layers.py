"""Activation layers: ReLU, LeakyReLU, PReLU, ELU, Softmax.

Property tests check each hand-written backward against finite differences over hypothesis-drawn
shapes and settings (inputs kept away from the kinks, where the derivative jumps), and each
forward against a scalar formula written here from Keras' documentation. Example tests pin Keras'
defaults, configs, weight shapes and error messages. PyTorch's and Keras' own numbers are compared
in test_layer_catalog_references.py.
"""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinykeras
from tinykeras import activations
from tinykeras.layers import ELU, Dense, LeakyReLU, PReLU, ReLU, Softmax
from tinykeras.utils import check_gradients

seeds = st.integers(0, 2**32 - 1)
shapes = st.lists(st.integers(1, 4), min_size=2, max_size=4).map(tuple)
MARGIN = 1e-3


def away_from(rng, shape, kinks, scale=2.0):
    """Normal values times ``scale``, redrawn where within MARGIN of a kink."""
    x = rng.standard_normal(shape) * scale
    near = np.zeros(shape, bool)
    for kink in kinks:
        near |= np.abs(x - kink) < MARGIN
    while near.any():
        x[near] = rng.standard_normal(int(near.sum())) * scale
        near[:] = False
        for kink in kinks:
            near |= np.abs(x - kink) < MARGIN
    return x


def elementwise(f, x):
    return np.array([f(float(v)) for v in x.ravel()]).reshape(x.shape)


def keras_relu(v, max_value, negative_slope, threshold):
    """Keras' ReLU layer on one value, as keras.activations.relu computes it: x above the
    threshold (capped at max_value), else negative_slope * (x - threshold)."""
    if max_value is not None and v >= max_value:
        return max_value if v > threshold else negative_slope * (v - threshold)
    if v > threshold:
        return v
    return negative_slope * (v - threshold)


relu_settings = st.fixed_dictionaries({
    "max_value": st.one_of(st.none(), st.floats(0.5, 6)),
    "negative_slope": st.one_of(st.just(0.0), st.floats(0, 1)),
    "threshold": st.one_of(st.just(0.0), st.floats(0, 2)),
})


# ---- ReLU ---------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(arguments=relu_settings, shape=shapes, seed=seeds)
def test_relu_forward_is_keras_formula_and_backward_passes_the_check(arguments, shape, seed):
    x = away_from(np.random.default_rng(seed), shape, [0, arguments["threshold"], arguments["max_value"] or 0], 3)
    layer = ReLU(**arguments, dtype="float64")
    expected = elementwise(lambda v: keras_relu(v, **arguments), x)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-15, atol=1e-15)
    assert set(check_gradients(layer, x)) == {"input"}


def test_relu_defaults_and_named_forms():
    layer = ReLU()
    assert (layer.max_value, layer.negative_slope, layer.threshold) == (None, 0.0, 0.0)
    x = np.array([[-2.0, -0.5, 0.5, 7.0]], np.float32)
    np.testing.assert_array_equal(ReLU()(x), [[0, 0, 0.5, 7]])
    np.testing.assert_array_equal(ReLU(max_value=6)(x), [[0, 0, 0.5, 6]])
    np.testing.assert_allclose(ReLU(negative_slope=0.5)(x), [[-1, -0.25, 0.5, 7]])
    np.testing.assert_allclose(ReLU(threshold=1.0)(x), [[0, 0, 0, 7]])
    assert ReLU()(x).dtype == np.float32 and ReLU(max_value=2, threshold=1)(x).dtype == np.float32


@pytest.mark.parametrize("arguments, match", [
    ({"max_value": -1}, r"ReLU: max_value must be non-negative and finite\. Received: max_value=-1\."),
    ({"negative_slope": -0.1}, r"ReLU: negative_slope must be non-negative and finite\. Received: negative_slope=-0\.1\."),
    ({"threshold": -1.0}, r"ReLU: threshold must be non-negative and finite\. Received: threshold=-1\.0\."),
    ({"negative_slope": None}, r"ReLU: negative_slope must be a non-negative, finite number\. Received: negative_slope=None"),
])
def test_relu_rejects_keras_invalid_settings(arguments, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ReLU(**arguments)


# ---- LeakyReLU and ELU --------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(slope=st.floats(0, 1), shape=shapes, seed=seeds)
def test_leaky_relu_forward_and_gradients(slope, shape, seed):
    x = away_from(np.random.default_rng(seed), shape, [0])
    layer = LeakyReLU(slope, dtype="float64")
    np.testing.assert_allclose(layer(x), elementwise(lambda v: v if v >= 0 else slope * v, x), rtol=1e-15)
    check_gradients(layer, x)


def test_leaky_relu_default_slope_is_keras_3s_and_alpha_is_keras_2s_name():
    assert LeakyReLU().negative_slope == 0.3
    with pytest.warns(DeprecationWarning, match=r"`alpha` is Keras 2's name of `negative_slope`; write LeakyReLU\(negative_slope=0\.1\)"):
        layer = LeakyReLU(alpha=0.1)
    assert layer.negative_slope == 0.1
    assert layer.get_config()["negative_slope"] == 0.1 and "alpha" not in layer.get_config()
    with warnings.catch_warnings(), pytest.raises(TypeError, match=r"LeakyReLU: got both `alpha`"):
        warnings.simplefilter("ignore", DeprecationWarning)
        LeakyReLU(negative_slope=0.2, alpha=0.1)
    with pytest.raises(ValueError, match=r"LeakyReLU: negative_slope must be non-negative"):
        LeakyReLU(-0.5)


@settings(max_examples=25, deadline=None)
@given(alpha=st.floats(0.1, 3), shape=shapes, seed=seeds)
def test_elu_forward_and_gradients(alpha, shape, seed):
    x = away_from(np.random.default_rng(seed), shape, [0])
    layer = ELU(alpha, dtype="float64")
    np.testing.assert_allclose(layer(x), elementwise(lambda v: v if v > 0 else alpha * math.expm1(v), x),
                               rtol=1e-14)
    check_gradients(layer, x)


# ---- PReLU --------------------------------------------------------------------------------


@st.composite
def prelu_cases(draw):
    shape = draw(st.lists(st.integers(1, 4), min_size=2, max_size=4).map(tuple))
    axes = draw(st.lists(st.integers(1, len(shape) - 1), unique=True, max_size=len(shape) - 1))
    return shape, axes or None, draw(seeds)


@settings(max_examples=40, deadline=None)
@given(case=prelu_cases())
def test_prelu_forward_and_gradients_with_shared_axes(case):
    shape, shared_axes, seed = case
    rng = np.random.default_rng(seed)
    layer = PReLU(shared_axes=shared_axes, dtype="float64")
    layer.build_for((None,) + shape[1:])
    expected_shape = tuple(1 if i + 1 in (shared_axes or []) else d for i, d in enumerate(shape[1:]))
    assert layer.alpha.shape == expected_shape
    alpha = rng.standard_normal(expected_shape)
    layer.set_weights([alpha])
    x = away_from(rng, shape, [0])
    np.testing.assert_allclose(layer(x), np.where(x > 0, x, alpha * x), rtol=1e-15)
    assert set(check_gradients(layer, x)) == {"input", "alpha"}


def test_prelu_starts_as_relu_and_learns_its_slope():
    layer = PReLU()
    x = np.array([[-1.0, 2.0]], np.float32)
    np.testing.assert_array_equal(layer(x), [[0, 2]])
    assert [v.name for v in layer.trainable_weights] == ["alpha"]
    model = tinykeras.Sequential([tinykeras.Input((2,)), PReLU()])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.array([[-0.5, 2.0]], np.float32), epochs=5, verbose=0)
    assert model.layers[0].get_weights()[0][0] > 0  # the slope of the negative input grew


def test_prelu_config_and_errors():
    config = PReLU(alpha_initializer="ones", shared_axes=2).get_config()
    assert config["shared_axes"] == [2]
    assert config["alpha_initializer"] == {"class_name": "Ones", "config": {}}
    assert PReLU.from_config(config).shared_axes == [2]
    with pytest.raises(ValueError, match=r"PReLU: shared_axes must be .*Received: shared_axes=0"):
        PReLU(shared_axes=0)
    with pytest.raises(ValueError, match=r"Layer 'p_re_lu_\d+' \(PReLU\): shared axis 3 does not exist in an input of shape \(None, 4, 5\)"):
        PReLU(shared_axes=[3]).build_for((None, 4, 5))
    with pytest.raises(ValueError, match=r"needs the size of every axis it learns a slope along.*share the unknown axes"):
        PReLU().build_for((None, None, 5))
    PReLU(shared_axes=[1]).build_for((None, None, 5))  # the unknown axis shared: fine


# ---- Softmax ------------------------------------------------------------------------------


@st.composite
def softmax_cases(draw):
    shape = draw(st.lists(st.integers(1, 4), min_size=2, max_size=4).map(tuple))
    ndim = len(shape)
    axes = draw(st.lists(st.integers(1, ndim - 1), min_size=1, max_size=ndim - 1, unique=True))
    negative = draw(st.booleans())
    axes = [a - ndim if negative else a for a in axes]
    return shape, axes[0] if len(axes) == 1 and draw(st.booleans()) else axes, draw(seeds)


@settings(max_examples=40, deadline=None)
@given(case=softmax_cases())
def test_softmax_sums_to_one_over_its_axes_and_passes_the_check(case):
    shape, axis, seed = case
    x = np.random.default_rng(seed).standard_normal(shape) * 3
    layer = Softmax(axis=axis, dtype="float64")
    y = layer(x)
    axes = tuple(np.atleast_1d(axis))
    expected = np.exp(x) / np.exp(x).sum(axis=axes, keepdims=True)
    np.testing.assert_allclose(y, expected, rtol=1e-13)
    check_gradients(layer, x)


def test_softmax_over_the_last_axis_hands_its_logits_to_the_loss(rng):
    # A Softmax layer at the output is taken from its logits, as Activation('softmax') is: one
    # training step gives the same weights as Dense(activation='softmax').
    x, y = rng.standard_normal((6, 4)).astype(np.float32), np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2]]
    fused = tinykeras.Sequential([tinykeras.Input((4,)), Dense(3, activation="softmax")])
    split = tinykeras.Sequential([tinykeras.Input((4,)), Dense(3), Softmax()])
    split.set_weights(fused.get_weights())
    for model in (fused, split):
        model.compile(optimizer="sgd", loss="categorical_crossentropy")
        model.train_on_batch(x, y)
    assert split.layers[1].activation is activations.softmax
    for a, b in zip(fused.get_weights(), split.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert Softmax(axis=1).activation.name != "softmax"  # another axis: probabilities, not logits


def test_softmax_config_and_errors():
    assert Softmax().get_config()["axis"] == -1
    assert Softmax(axis=[1, 2]).get_config()["axis"] == [1, 2]
    assert "activation" not in Softmax().get_config()
    with pytest.raises(TypeError, match=r"Softmax: axis must be an integer or a list of integers\. Received: axis='x'"):
        Softmax(axis="x")
    with pytest.raises(ValueError, match=r"\(Softmax\): axis 3 is out of bounds for an input of shape \(None, 4, 5\)"):
        Softmax(axis=3).build_for((None, 4, 5))


@pytest.mark.parametrize("layer_class", [ReLU, LeakyReLU, ELU, Softmax, PReLU])
def test_activation_layers_keep_the_shape_and_round_trip_their_config(layer_class):
    layer = layer_class()
    assert layer.compute_output_shape((None, 3, 4)) == (None, 3, 4)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
