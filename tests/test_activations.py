"""Activations: forwards against independent formulas, derivatives against finite differences."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinykeras import activations
from tinykeras.layers import Activation, Dense
from tinykeras.utils import check_gradients

ACTIVATION_NAMES = sorted(activations._ACTIVATIONS)
MODERATE = np.linspace(-6, 6, 241)


def away_from_kinks(rng, shape, margin=1e-3):
    x = rng.standard_normal(shape) * 2
    small = np.abs(x) < margin
    while small.any():
        x[small] = rng.standard_normal(int(small.sum()))
        small = np.abs(x) < margin
    return x


def elementwise(f, x):
    """Applies a scalar Python function to every element (an implementation-free reference)."""
    return np.array([f(float(v)) for v in np.ravel(x)]).reshape(np.shape(x))


REFERENCES = {
    "linear": lambda v: v,
    "relu": lambda v: v if v > 0 else 0.0,
    "sigmoid": lambda v: 1 / (1 + math.exp(-v)),
    "tanh": lambda v: (math.exp(v) - math.exp(-v)) / (math.exp(v) + math.exp(-v)),
    "elu": lambda v: v if v > 0 else math.exp(v) - 1,
    "selu": lambda v: 1.0507009873554805 * (v if v > 0 else 1.6732632423543772 * (math.exp(v) - 1)),
    "softplus": lambda v: math.log(1 + math.exp(v)),
    "softsign": lambda v: v / (1 + abs(v)),
    "swish": lambda v: v / (1 + math.exp(-v)),
    "gelu": lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))),
    "leaky_relu": lambda v: v if v > 0 else 0.2 * v,
    "exponential": math.exp,
    "relu6": lambda v: min(max(v, 0.0), 6.0),
    "hard_sigmoid": lambda v: 0.0 if v <= -3 else 1.0 if v >= 3 else v / 6 + 0.5,
    "hard_silu": lambda v: 0.0 if v <= -3 else v if v >= 3 else v * (v + 3) / 6,
    "mish": lambda v: v * math.tanh(math.log1p(math.exp(v))),
}

DERIVATIVES = {
    "linear": lambda v: 1.0,
    "relu": lambda v: 1.0 if v > 0 else 0.0,
    "sigmoid": lambda v: math.exp(-v) / (1 + math.exp(-v)) ** 2,
    "tanh": lambda v: 1 / math.cosh(v) ** 2,
    "elu": lambda v: 1.0 if v > 0 else math.exp(v),
    "selu": lambda v: 1.0507009873554805 * (1.0 if v > 0 else 1.6732632423543772 * math.exp(v)),
    "softplus": lambda v: 1 / (1 + math.exp(-v)),
    "softsign": lambda v: 1 / (1 + abs(v)) ** 2,
    "swish": lambda v: 1 / (1 + math.exp(-v)) + v * math.exp(-v) / (1 + math.exp(-v)) ** 2,
    "gelu": lambda v: (
        0.5 * (1 + math.erf(v / math.sqrt(2))) + v * math.exp(-v * v / 2) / math.sqrt(2 * math.pi)
    ),
    "leaky_relu": lambda v: 1.0 if v > 0 else 0.2,
    "exponential": math.exp,
    "relu6": lambda v: 1.0 if 0 < v < 6 else 0.0,
    "hard_sigmoid": lambda v: 1 / 6 if -3 < v < 3 else 0.0,
    "hard_silu": lambda v: 0.0 if v <= -3 else 1.0 if v >= 3 else (2 * v + 3) / 6,
    # d/dv v tanh(s), s = log(1 + e^v): tanh(s) + v (1 - tanh(s)^2) e^v / (1 + e^v)
    "mish": lambda v: (
        math.tanh(math.log1p(math.exp(v)))
        + v * (1 - math.tanh(math.log1p(math.exp(v))) ** 2) / (1 + math.exp(-v))
    ),
}
#: Activations normalized over the last axis (not element-wise), tested on their own below.
NORMALIZING = {"softmax", "log_softmax"}


def test_every_elementwise_activation_has_a_reference():
    assert set(REFERENCES) == set(ACTIVATION_NAMES) - NORMALIZING


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_forward_matches_independent_formula(name):
    x = MODERATE
    np.testing.assert_allclose(
        activations.get(name)(x), elementwise(REFERENCES[name], x), rtol=1e-12, atol=1e-15
    )


@pytest.mark.parametrize("name", sorted(DERIVATIVES))
def test_backward_matches_independent_derivative(name):
    x = MODERATE[np.abs(MODERATE) > 1e-9]
    activation = activations.get(name)
    y = activation.forward(x)
    dy = np.linspace(0.5, 1.5, x.size)
    np.testing.assert_allclose(
        activation.backward(dy, x, y),
        dy * elementwise(DERIVATIVES[name], x),
        rtol=1e-10,
        atol=1e-15,
    )


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(1, 5), min_size=2, max_size=3).map(tuple),
    seed=st.integers(0, 2**32 - 1),
)
def test_derivative_passes_gradient_check(name, shape, seed):
    x = away_from_kinks(np.random.default_rng(seed), shape)
    errors = check_gradients(Activation(name, dtype="float64"), x)
    assert errors["input"] <= 1e-6


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_float32_in_float32_out(name):
    x = MODERATE.astype(np.float32).reshape(-1, 1)
    assert activations.get(name)(x).dtype == np.float32


# ---- individual activations ------------------------------------------------------------


def test_sigmoid_is_stable_and_exact_at_the_extremes():
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = activations.sigmoid(x)
    assert np.all(np.isfinite(y))
    assert y[0] == 0.0 and y[-1] == 1.0 and y[2] == 0.5
    np.testing.assert_allclose(y[1], math.exp(-50), rtol=1e-12)


def test_softmax_rows_sum_to_one_and_match_the_formula(rng):
    x = rng.standard_normal((6, 5)) * 3
    y = activations.softmax(x)
    np.testing.assert_allclose(y.sum(axis=-1), np.ones(6), rtol=1e-12)
    expected = np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    assert np.all(y > 0)


def test_softmax_is_stable_for_large_inputs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = activations.softmax(np.array([[1000.0, 1000.0, 999.0], [-1000.0, -1000.0, -1001.0]]))
    expected = np.exp([1.0, 1.0, 0.0]) / np.exp([1.0, 1.0, 0.0]).sum()
    np.testing.assert_allclose(y, [expected, expected], rtol=1e-12)


def test_softmax_is_taken_over_the_last_axis(rng):
    x = rng.standard_normal((2, 3, 4))
    y = activations.softmax(x)
    np.testing.assert_allclose(y.sum(axis=-1), np.ones((2, 3)), rtol=1e-12)
    np.testing.assert_allclose(y[1, 2], activations.softmax(x[1, 2][None])[0], rtol=1e-12)


def test_softmax_is_shift_invariant(rng):
    x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(activations.softmax(x + 123.0), activations.softmax(x), rtol=1e-10)


def test_softmax_backward_is_the_jacobian_product(rng):
    x = rng.standard_normal((1, 4))
    y = activations.softmax(x)
    dy = rng.standard_normal((1, 4))
    p = y[0]
    jacobian = np.diag(p) - np.outer(p, p)
    np.testing.assert_allclose(
        activations.softmax.backward(dy, x, y)[0], jacobian @ dy[0], rtol=1e-12
    )


def test_log_softmax_is_the_log_of_softmax_and_stable(rng):
    x = rng.standard_normal((3, 5)) * 3
    np.testing.assert_allclose(activations.log_softmax(x), np.log(activations.softmax(x)), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = activations.log_softmax(np.array([[1000.0, 0.0], [-1000.0, 0.0]]))
    np.testing.assert_allclose(y, [[0.0, -1000.0], [-1000.0, 0.0]], atol=1e-12)


def test_log_softmax_backward_is_the_jacobian_product(rng):
    x = rng.standard_normal((1, 4))
    y = activations.log_softmax(x)
    dy = rng.standard_normal((1, 4))
    jacobian = np.eye(4) - np.exp(y[0])[None, :]  # d log p_i / d x_j = [i == j] - p_j
    np.testing.assert_allclose(activations.log_softmax.backward(dy, x, y)[0], jacobian.T @ dy[0], rtol=1e-12)


def test_hard_sigmoid_is_keras_3s_not_keras_2s():
    # Keras 3: relu6(x + 3) / 6; Keras 2 used clip(0.2 x + 0.5, 0, 1).
    np.testing.assert_allclose(activations.hard_sigmoid(np.array([-4.0, -1.5, 0.0, 1.5, 2.9, 4.0])),
                               [0.0, 0.25, 0.5, 0.75, 2.9 / 6 + 0.5, 1.0], rtol=1e-15)


def test_hard_swish_is_hard_silu():
    assert activations.get("hard_swish") is activations.hard_silu is activations.hard_swish
    assert activations.serialize("hard_swish") == "hard_silu"


def test_selu_constants():
    assert activations.SELU_ALPHA == pytest.approx(1.6732632423543772, rel=1e-15)
    assert activations.SELU_SCALE == pytest.approx(1.0507009873554805, rel=1e-15)
    np.testing.assert_allclose(activations.selu(np.array([1.0])), [1.0507009873554805], rtol=1e-15)
    np.testing.assert_allclose(
        activations.selu(np.array([-100.0])), [-1.0507009873554805 * 1.6732632423543772], rtol=1e-12
    )


def test_leaky_relu_slope_is_keras_default():
    np.testing.assert_allclose(
        activations.leaky_relu(np.array([-1.0, -5.0, 3.0])), [-0.2, -1.0, 3.0]
    )


def test_elu_saturates_at_minus_one():
    np.testing.assert_allclose(activations.elu(np.array([-50.0, 2.0])), [-1.0, 2.0], rtol=1e-15)


def test_softplus_is_stable_for_large_inputs():
    x = np.array([-1000.0, -40.0, 40.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = activations.softplus(x)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y[3], 1000.0, rtol=1e-15)
    np.testing.assert_allclose(y[2], 40.0 + math.log1p(math.exp(-40.0)), rtol=1e-15)
    np.testing.assert_allclose(y[1], math.log1p(math.exp(-40.0)), rtol=1e-12)
    assert 0 <= y[0] < 1e-300


def test_gelu_is_the_exact_erf_form_not_the_tanh_approximation():
    x = np.array([-2.0, -0.5, 0.5, 1.0, 2.0])
    exact = elementwise(REFERENCES["gelu"], x)
    tanh_form = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(activations.gelu(x), exact, rtol=1e-14)
    assert np.abs(activations.gelu(x) - tanh_form).max() > 1e-5


def test_gelu_float32_keeps_precision():
    x = np.linspace(-3, 3, 13, dtype=np.float32)
    np.testing.assert_allclose(
        activations.gelu(x),
        elementwise(REFERENCES["gelu"], x.astype(np.float64)),
        rtol=1e-6,
        atol=1e-7,
    )


def test_relu_derivative_is_zero_for_negatives():
    x = np.array([-2.0, -1e-3, 1e-3, 2.0])
    dy = np.ones(4)
    np.testing.assert_array_equal(
        activations.relu.backward(dy, x, activations.relu(x)), [0, 0, 1, 1]
    )


# ---- lookup -----------------------------------------------------------------------------


def test_get_returns_the_registered_activation():
    for name in ACTIVATION_NAMES:
        assert activations.get(name) is activations._ACTIVATIONS[name]
        assert activations.serialize(name) == name
    assert activations.get(None) is activations.linear
    assert activations.get("silu") is activations.swish
    assert activations.get(activations.tanh) is activations.tanh
    assert activations.get("relu").name == "relu"


def test_unknown_name_raises_value_error_listing_names_and_nearest():
    with pytest.raises(ValueError) as error:
        activations.get("rellu")
    message = str(error.value)
    assert "'rellu'" in message
    assert "Did you mean 'relu'" in message
    for name in ACTIVATION_NAMES:
        assert name in message


def test_unknown_name_in_a_layer_raises_value_error():
    with pytest.raises(ValueError, match="softmax"):
        Dense(3, activation="sofmax")


def test_non_string_identifier_is_a_type_error():
    with pytest.raises(TypeError):
        activations.get(3)
