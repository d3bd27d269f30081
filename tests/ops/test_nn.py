"""tinykeras.ops' activations: hand-written VJPs against float64 finite differences, values
against their formulas and against real Keras 3's (tests/fixtures/keras_ops_activations.json),
stability at +-1000, and activations on symbolic tensors."""
import json
import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from model_gradients import assert_weight_gradients_match
from op_helpers import assert_vjp_matches, axes, seeds, shapes, uniform

import tinykeras as keras
from tinykeras import layers, ops
from tinykeras.ops import nn

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "keras_ops_activations.json")
SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


def gelu_exact(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


#: name: (public function, its keyword arguments, a fresh op, the formula, distance kept from 0)
ELEMENTWISE = {
    "relu": (ops.relu, {}, nn.Relu, lambda x: np.maximum(x, 0), 1e-3),
    "sigmoid": (ops.sigmoid, {}, nn.Sigmoid, lambda x: 1 / (1 + np.exp(-x)), 0),
    "tanh": (ops.tanh, {}, nn.Tanh, lambda x: (np.exp(2 * x) - 1) / (np.exp(2 * x) + 1), 0),
    "softplus": (ops.softplus, {}, nn.Softplus, lambda x: np.log(1 + np.exp(x)), 0),
    "silu": (ops.silu, {}, nn.Silu, lambda x: x / (1 + np.exp(-x)), 0),
    "elu": (ops.elu, {}, nn.Elu, lambda x: np.where(x > 0, x, np.exp(x) - 1), 1e-3),
    "elu alpha=0.5": (
        ops.elu, {"alpha": 0.5}, lambda: nn.Elu(0.5), lambda x: np.where(x > 0, x, 0.5 * (np.exp(x) - 1)), 1e-3),
    "gelu": (ops.gelu, {}, nn.Gelu, lambda x: 0.5 * x * (1 + np.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x**3))), 0),
    "gelu exact": (ops.gelu, {"approximate": False}, lambda: nn.Gelu(False), gelu_exact, 0),
}


def softmax(x, axis):
    e = np.exp(x)
    return e / np.sum(e, axis=axis, keepdims=True)


#: name: (public function, op class, the formula)
ALONG_AXES = {
    "softmax": (ops.softmax, nn.Softmax, softmax),
    "log_softmax": (ops.log_softmax, nn.LogSoftmax, lambda x, axis: np.log(softmax(x, axis))),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@settings(max_examples=25, deadline=None)
@given(shape=shapes(), seed=seeds)
def test_elementwise_activations_equal_their_formula_and_differentiate(name, shape, seed):
    function, kwargs, make_op, formula, margin = ELEMENTWISE[name]
    x = uniform(shape, seed, low=-6.0, high=6.0, margin=margin)
    np.testing.assert_allclose(function(x, **kwargs), formula(x), rtol=1e-12, atol=1e-15)
    assert_vjp_matches(make_op, x, seed=seed)


@pytest.mark.parametrize("name", sorted(ALONG_AXES))
@settings(max_examples=25, deadline=None)
@given(shape=shapes(1, 3), data=st.data(), seed=seeds)
def test_softmax_and_log_softmax_along_any_axes(name, shape, data, seed):
    function, cls, formula = ALONG_AXES[name]
    axis = data.draw(axes(len(shape)).filter(lambda axis: axis is not None))
    x = uniform(shape, seed, low=-6.0, high=6.0)
    np.testing.assert_allclose(function(x, axis=axis), formula(x, axis), rtol=1e-12, atol=1e-15)
    assert_vjp_matches(lambda: cls(axis), x, seed=seed)


def test_relu_and_elu_have_the_gradient_of_their_left_side_at_zero():
    """d/dx = 1 only where x > 0."""
    for op, expected in [(nn.Relu(), [0.0, 0.0, 1.0]), (nn.Elu(0.5), [0.5 * math.exp(-1), 0.5, 1.0])]:
        op.compute(np.array([-1.0, 0.0, 1.0]))
        np.testing.assert_allclose(op.vjp(np.ones(3))[0], expected, rtol=1e-15)


def keras_cases():
    """(case, its input) for each case of the Keras fixture."""
    with open(FIXTURE) as f:
        document = json.load(f)
    return [(case, np.array(document["inputs"][case["input"]])) for case in document["cases"]]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_values_equal_those_real_keras_computed(dtype):
    """Keras 3's keras.ops on the same inputs, out to +-1000 (make_keras_ops_fixture.py)."""
    cases = keras_cases()
    assert {case["op"] for case, _ in cases} == {*ALONG_AXES, "logsumexp", *(name.split()[0] for name in ELEMENTWISE)}
    for case, x in cases:
        y = getattr(ops, case["op"])(x.astype(dtype), **case["kwargs"])
        message = f"ops.{case['op']}(**{case['kwargs']})"
        assert np.asarray(y).dtype == dtype, message
        np.testing.assert_allclose(y, np.array(case["output"]), rtol=1e-6, atol=1e-6, err_msg=message)


STABILITY = {
    "sigmoid": (ops.sigmoid, [0.0, 1.0]),
    "softplus": (ops.softplus, [0.0, 1000.0]),
    "silu": (ops.silu, [0.0, 1000.0]),
    "gelu": (ops.gelu, [0.0, 1000.0]),
    "elu": (ops.elu, [-1.0, 1000.0]),
    "tanh": (ops.tanh, [-1.0, 1.0]),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_activations_at_plus_and_minus_1000_are_finite_and_exact(dtype):
    x = np.array([-1000.0, 1000.0], dtype)
    rows = np.array([[1000.0, -1000.0, 999.0], [-1000.0, -1000.0, -1001.0]], dtype)
    top, two = math.log1p(math.exp(-1.0)), math.log(2 + math.exp(-1.0))
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        computed = {name: (function(x), values) for name, (function, values) in STABILITY.items()}
        computed["softmax"] = (ops.softmax(rows), [[1 / (1 + math.exp(-1)), 0.0, 1 / (1 + math.e)],
                                                  [1 / (2 + math.exp(-1))] * 2 + [1 / (2 * math.e + 1)]])
        computed["log_softmax"] = (ops.log_softmax(rows), [[-top, -2000 - top, -1 - top], [-two, -two, -1 - two]])
        computed["logsumexp"] = (ops.logsumexp(rows, axis=-1), [1000 + top, -1000 + two])
    for name, (y, values) in computed.items():
        assert y.dtype == dtype, name
        np.testing.assert_allclose(y, values, rtol=1e-6, atol=0, err_msg=name)


@pytest.mark.parametrize("name", ["sigmoid", "softplus", "silu", "gelu", "elu", "tanh", "softmax", "log_softmax"])
def test_gradients_at_plus_and_minus_1000_are_finite(name):
    make_op = {"softmax": nn.Softmax, "log_softmax": nn.LogSoftmax}.get(name) or ELEMENTWISE[name][2]
    op = make_op()
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        y = op.compute(np.array([-1000.0, 999.0, 1000.0]))
        grad = op.vjp(np.array([1.0, -2.0, 3.0]))[0]
    assert np.isfinite(y).all() and np.isfinite(grad).all()


@pytest.mark.parametrize("name", sorted(ELEMENTWISE) + sorted(ALONG_AXES))
def test_float32_inputs_give_float32_values_and_gradients(name):
    make_op = ELEMENTWISE[name][2] if name in ELEMENTWISE else ALONG_AXES[name][1]
    op = make_op()
    y = op.compute(np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4))
    grad = op.vjp(np.ones_like(y))[0]
    assert y.dtype == np.float32 and grad.dtype == np.float32


def through_activations(h):
    """Every activation of a (batch, 4) tensor, joined: runs on arrays and on symbolic tensors."""
    return ops.concatenate([
        ops.relu(h), ops.sigmoid(h), ops.tanh(h), ops.softplus(h), ops.silu(h), ops.elu(h, alpha=0.5),
        ops.gelu(h), ops.gelu(h, approximate=False), ops.softmax(h), ops.log_softmax(h, axis=-1),
    ], axis=-1)


def test_a_model_through_every_activation_predicts_like_arrays_and_differentiates(float64):
    inputs = keras.Input(shape=(5,))
    dense = layers.Dense(4)
    model = keras.Model(inputs, through_activations(dense(inputs)))
    x = uniform((6, 5), 0)
    expected = through_activations(dense(x))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-12, atol=1e-15)
    model.compile("sgd", "mse")
    assert_weight_gradients_match(model, x, uniform(expected.shape, 1))


class Classifier(keras.Model):
    """Two dense layers with ops for activations: gelu, then softmax."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(8)
        self.logits = layers.Dense(3)

    def call(self, inputs):
        return ops.softmax(self.logits(ops.gelu(self.hidden(inputs))))


def test_a_subclassed_classifier_with_op_activations_trains():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 4)).astype(np.float32)
    labels = np.eye(3, dtype=np.float32)[(x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)]
    model = Classifier()
    model.compile(keras.optimizers.Adam(0.02), "categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, labels, epochs=15, batch_size=16, verbose=0).history
    assert history["loss"][-1] < 0.6 * history["loss"][0] and history["accuracy"][-1] > 0.8
