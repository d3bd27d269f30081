"""tinykeras.ops' activations: hand-written VJPs against float64 finite differences, values
against their formulas and against real Keras 3's (tests/fixtures/keras_ops_activations.json),
stability at +-1000, and activations on symbolic tensors. Convolution and pooling against the
convolution's sum and the Conv2D and pooling layers, moments, and the three in models."""
import json
import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from model_gradients import assert_weight_gradients_match
from op_helpers import assert_vjp_matches, axes, distinct, seeds, shapes, uniform

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


# ---- convolution, pooling, moments -------------------------------------------------------------


def conv_reference(x, kernel, strides, padding, dilation):
    """The convolution's sum written out: y[n, i, j, f] = sum over (a, b, c) of
    x[n, i sh + a dh - top, j sw + b dw - left, c] kernel[a, b, c, f], x zero outside, 'same'
    padding split like TensorFlow (the odd row or column at the bottom or right)."""
    (kh, kw, _, filters), (sh, sw), (dh, dw) = kernel.shape, strides, dilation
    pads = []
    for size, k, s, d in zip(x.shape[1:3], (kh, kw), strides, dilation):
        out = -(-size // s) if padding == "same" else (size - (k - 1) * d - 1) // s + 1
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0) if padding == "same" else 0
        pads.append((total // 2, total - total // 2))
    padded = np.pad(x, ((0, 0), *pads, (0, 0)))
    oh = (padded.shape[1] - (kh - 1) * dh - 1) // sh + 1
    ow = (padded.shape[2] - (kw - 1) * dw - 1) // sw + 1
    y = np.zeros((x.shape[0], oh, ow, filters))
    for a in range(kh):
        for b in range(kw):
            taps = padded[:, a * dh: a * dh + (oh - 1) * sh + 1: sh, b * dw: b * dw + (ow - 1) * sw + 1: sw]
            y += taps @ kernel[a, b]
    return y


@st.composite
def conv_cases(draw):
    """Images, a kernel that fits them, strides, padding and dilation (strides and dilation both
    above 1 included)."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    strides = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.sampled_from(["valid", "same"]))
    spatial = tuple(draw(st.integers((k - 1) * d + 1, 6)) for k, d in zip(kernel, dilation))
    channels, filters = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return (draw(st.integers(1, 2)),) + spatial + (channels,), kernel + (channels, filters), strides, padding, dilation


@settings(max_examples=30, deadline=None)
@given(case=conv_cases(), seed=seeds)
def test_conv_is_the_convolution_s_sum_and_differentiates(case, seed):
    x_shape, kernel_shape, strides, padding, dilation = case
    x, kernel = uniform(x_shape, seed), uniform(kernel_shape, seed + 1)
    y = ops.conv(x, kernel, strides=strides, padding=padding, dilation_rate=dilation)
    np.testing.assert_allclose(y, conv_reference(x, kernel, strides, padding, dilation), rtol=1e-12, atol=1e-12)
    assert_vjp_matches(lambda: nn.Conv(strides, padding, "channels_last", dilation), x, kernel, seed=seed)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("strides, padding, dilation",
                         [(1, "valid", 1), (2, "same", 1), ((1, 2), "same", 1), (1, "same", 2)])
def test_conv_equals_the_conv2d_layer(data_format, strides, padding, dilation):
    x = uniform((2, 7, 6, 3), 0).astype(np.float32)
    x = x.transpose(0, 3, 1, 2).copy() if data_format == "channels_first" else x
    layer = layers.Conv2D(4, (3, 2), strides=strides, padding=padding, data_format=data_format,
                          dilation_rate=dilation, use_bias=False)
    expected = layer(x)
    y = ops.conv(x, layer.kernel.value, strides, padding, data_format, dilation)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


POOLS = {"max_pool": (ops.max_pool, nn.MaxPool, layers.MaxPooling2D),
         "average_pool": (ops.average_pool, nn.AveragePool, layers.AveragePooling2D)}


@pytest.mark.parametrize("name", sorted(POOLS))
@settings(max_examples=25, deadline=None)
@given(pool=st.tuples(st.integers(1, 3), st.integers(1, 3)), strides=st.none() | st.integers(1, 3),
       padding=st.sampled_from(["valid", "same"]), data_format=st.sampled_from(["channels_last", "channels_first"]),
       spatial=st.tuples(st.integers(3, 6), st.integers(3, 6)), channels=st.integers(1, 3), seed=seeds)
def test_pools_equal_the_pooling_layers_and_differentiate(name, pool, strides, padding, data_format, spatial, channels,
                                                          seed):
    function, cls, layer = POOLS[name]
    shape = (2,) + spatial + (channels,) if data_format == "channels_last" else (2, channels) + spatial
    x = distinct(shape, seed) / np.prod(shape)  # no ties for the max; small, for the finite differences
    x32 = x.astype(np.float32)
    y = function(x32, pool, strides=strides, padding=padding, data_format=data_format)
    expected = layer(pool, strides=strides, padding=padding, data_format=data_format)(x32)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, expected)
    assert_vjp_matches(lambda: cls(pool, strides, padding, data_format), x, seed=seed)


@settings(max_examples=20, deadline=None)
@given(shape=shapes(1, 3), data=st.data(), keepdims=st.booleans(), seed=seeds)
def test_moments_are_the_mean_and_the_biased_variance(shape, data, keepdims, seed):
    chosen = data.draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True))
    x = uniform(shape, seed)
    mean, variance = ops.moments(x, chosen, keepdims=keepdims)
    np.testing.assert_allclose(mean, np.mean(x, axis=tuple(chosen), keepdims=keepdims), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(variance, np.var(x, axis=tuple(chosen), keepdims=keepdims), rtol=1e-12, atol=1e-15)


IMAGES, KERNEL_3X3 = np.ones((1, 5, 5, 2)), np.ones((3, 3, 2, 1))


@pytest.mark.parametrize("call, error, message", [
    (lambda: ops.conv(np.ones((2, 5, 5)), KERNEL_3X3), ValueError, r"ops.conv: expected inputs of rank 4.*\(2, 5, 5\)"),
    (lambda: ops.conv(IMAGES, np.ones((3, 3, 3, 1))), ValueError, r"\(height, width, 2, filters\).*\(3, 3, 3, 1\)"),
    (lambda: ops.conv(IMAGES, KERNEL_3X3, strides=0), ValueError, r"ops.conv: The `strides` argument"),
    (lambda: ops.conv(IMAGES, KERNEL_3X3, dilation_rate=(1, 2, 1)), ValueError, r"ops.conv: The `dilation_rate`"),
    (lambda: ops.conv(IMAGES, KERNEL_3X3, padding="full"), ValueError, r"ops.conv: .*padding=.full."),
    (lambda: ops.conv(IMAGES, KERNEL_3X3, data_format="nhwc"), ValueError, r"ops.conv: .*data_format=.nhwc."),
    (lambda: ops.max_pool(IMAGES, (2, 2, 2)), ValueError, r"ops.max_pool: The `pool_size`"),
    (lambda: ops.average_pool(np.ones((5, 5, 2)), 2), ValueError, r"ops.average_pool: expected inputs of rank 4"),
    (lambda: ops.moments(np.ones(3), [0], synchronized=True), ValueError, r"synchronized=True"),
])
def test_wrong_arguments_are_named_in_the_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


KERNEL = np.linspace(-1.0, 1.0, 3 * 3 * 2 * 2).reshape(3, 3, 2, 2)


def through_windows(h):
    """A (batch, 6, 6, 2) tensor through conv, max_pool, average_pool and moments, flattened;
    runs on arrays and on symbolic tensors."""
    convolved = ops.conv(h, KERNEL, strides=1, padding="same")
    pooled = ops.max_pool(convolved, 2)
    averaged = ops.average_pool(h, 3, strides=2, padding="same")
    mean, variance = ops.moments(h, [1, 2])
    return ops.concatenate([ops.reshape(pooled, (-1, 18)), ops.reshape(averaged, (-1, 18)), mean, variance], axis=-1)


def test_a_model_through_conv_pool_and_moments_predicts_like_arrays_and_differentiates(float64):
    inputs = keras.Input(shape=(6, 6, 1))
    first = layers.Conv2D(2, 2, padding="same")
    model = keras.Model(inputs, layers.Dense(2)(through_windows(first(inputs))))
    x = uniform((2, 6, 6, 1), 0)
    assert model.output_shape == (None, 2)
    model.compile("sgd", "mse")
    assert_weight_gradients_match(model, x, uniform((2, 2), 1))
    np.testing.assert_allclose(model.predict(x, verbose=0), model.layers[-1](through_windows(first(x))), rtol=1e-12)


class Separableish(keras.layers.Layer):
    """A custom layer convolving with its own kernel through ops.conv, then pooling."""

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(2, 2, input_shape[-1], 3), initializer="glorot_uniform")

    def call(self, inputs):
        return ops.average_pool(ops.relu(ops.conv(inputs, self.kernel, padding="same")), 2)


def test_a_custom_layer_calling_conv_on_its_kernel_differentiates(float64):
    model = keras.Sequential([keras.Input(shape=(4, 4, 2)), Separableish(), layers.Flatten(), layers.Dense(1)])
    model.compile("sgd", "mse")
    assert model.output_shape == (None, 1)
    assert_weight_gradients_match(model, uniform((3, 4, 4, 2), 0), uniform((3, 1), 1))
