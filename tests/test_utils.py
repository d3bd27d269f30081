"""Utilities: to_categorical and the public gradient checker."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinykeras import backend
from tinykeras.layers import Dense, Layer
from tinykeras.utils import (
    check_gradients,
    np_utils,
    numerical_gradient,
    to_categorical,
)

# ---- to_categorical ---------------------------------------------------------------------


def test_to_categorical_one_hot_encodes():
    y = np.array([2, 0, 1, 2])
    encoded = to_categorical(y)
    assert encoded.shape == (4, 3)
    assert encoded.dtype == np.float32
    np.testing.assert_array_equal(encoded, [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]])


def test_to_categorical_num_classes():
    encoded = to_categorical([1, 3], num_classes=6)
    assert encoded.shape == (2, 6)
    np.testing.assert_array_equal(encoded.argmax(axis=1), [1, 3])
    np.testing.assert_array_equal(encoded.sum(axis=1), [1, 1])


def test_to_categorical_drops_a_trailing_axis_of_one():
    encoded = to_categorical(np.array([[0], [2], [1]]), 3)
    assert encoded.shape == (3, 3)
    np.testing.assert_array_equal(encoded, np.eye(3)[[0, 2, 1]])


def test_to_categorical_keeps_other_leading_axes():
    y = np.array([[0, 1], [2, 1]])
    encoded = to_categorical(y, 3)
    assert encoded.shape == (2, 2, 3)
    np.testing.assert_array_equal(encoded[1, 0], [0, 0, 1])


def test_to_categorical_accepts_whole_floats_and_lists():
    np.testing.assert_array_equal(to_categorical(np.array([1.0, 0.0])), [[0, 1], [1, 0]])
    np.testing.assert_array_equal(to_categorical([0, 1]), [[1, 0], [0, 1]])


def test_to_categorical_from_np_utils_like_keras_1_and_2():
    y = np.array([3, 9, 0])
    encoded = np_utils.to_categorical(y, 10)
    assert encoded.shape == (3, 10)
    assert encoded.dtype == np.float32
    np.testing.assert_array_equal(encoded, to_categorical(y, num_classes=10))


@settings(max_examples=30, deadline=None)
@given(labels=st.lists(st.integers(0, 9), min_size=1, max_size=20), extra=st.integers(0, 3))
def test_to_categorical_inverts_argmax(labels, extra):
    num_classes = max(labels) + 1 + extra
    encoded = to_categorical(labels, num_classes)
    assert encoded.shape == (len(labels), num_classes)
    np.testing.assert_array_equal(encoded.argmax(axis=-1), labels)
    np.testing.assert_array_equal(encoded.sum(axis=-1), np.ones(len(labels)))


@pytest.mark.parametrize("labels, num_classes", [([0, 3], 3), ([-1, 0], 2), ([1, 10], 10)])
def test_to_categorical_out_of_range_raises(labels, num_classes):
    with pytest.raises(ValueError) as error:
        to_categorical(labels, num_classes)
    assert f"[0, {num_classes - 1}]" in str(error.value)


@pytest.mark.parametrize("labels", [[0.5, 1.0], ["a", "b"]])
def test_to_categorical_non_integer_raises(labels):
    with pytest.raises(ValueError, match="integer"):
        to_categorical(np.array(labels))


# ---- check_gradients on custom layers ---------------------------------------------------


class Scale(Layer):
    """A learnable elementwise scale: y = x * w, with w of the feature shape."""

    def __init__(self, wrong_by=1.0, wrong_weight_by=1.0, **kwargs):
        super().__init__(**kwargs)
        self.wrong_by = wrong_by
        self.wrong_weight_by = wrong_weight_by

    def build(self, input_shape):
        self.w = self.add_weight("scale", input_shape[1:], initializer="random_normal")

    def forward(self, x, training=False):
        self._x = x
        return x * self.w.value

    def backward(self, dy):
        self.grads = [self.wrong_weight_by * (dy * self._x).sum(axis=0)]
        return self.wrong_by * dy * self.w.value


class Cube(Layer):
    """No weights: y = x ** 3."""

    def __init__(self, wrong_by=1.0, **kwargs):
        super().__init__(**kwargs)
        self.wrong_by = wrong_by

    def forward(self, x, training=False):
        self._x = x
        return x**3

    def backward(self, dy):
        return self.wrong_by * 3 * dy * self._x**2


@settings(max_examples=30, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 5), st.integers(1, 7)),
    seed=st.integers(0, 2**32 - 1),
)
def test_check_gradients_passes_a_correct_custom_layer(shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    layer = Scale()
    errors = check_gradients(layer, x)
    assert set(errors) == {"input", "scale"}
    assert max(errors.values()) < 1e-6
    assert layer.w.dtype == np.float64  # built in float64 by the checker
    check_gradients(Cube(), x)


@pytest.mark.parametrize("factor", [2.0, 1.01, -1.0])
def test_check_gradients_fails_a_wrong_input_gradient(rng, factor):
    with pytest.raises(AssertionError, match="input"):
        check_gradients(Scale(wrong_by=factor), rng.standard_normal((3, 4)))
    with pytest.raises(AssertionError, match="input"):
        check_gradients(Cube(wrong_by=factor), rng.standard_normal((3, 4)))


def test_check_gradients_fails_a_wrong_weight_gradient(rng):
    with pytest.raises(AssertionError, match="scale"):
        check_gradients(Scale(wrong_weight_by=0.5), rng.standard_normal((3, 4)))


def test_check_gradients_fails_a_missing_weight_gradient(rng):
    class NoWeightGradient(Scale):
        def backward(self, dy):
            dx = super().backward(dy)
            self.grads = []
            return dx

    with pytest.raises(AssertionError):
        check_gradients(NoWeightGradient(), rng.standard_normal((2, 3)))


def test_check_gradients_fails_a_gradient_of_the_wrong_shape(rng):
    class SummedGradient(Cube):
        def backward(self, dy):
            return super().backward(dy).sum(axis=0)

    with pytest.raises(AssertionError, match="shape"):
        check_gradients(SummedGradient(), rng.standard_normal((3, 2)))


def test_check_gradients_uses_random_directions_for_large_arrays(rng):
    x = rng.standard_normal((4, 10))
    check_gradients(Scale(), x, max_elements=8, num_directions=6)
    with pytest.raises(AssertionError):
        check_gradients(Scale(wrong_by=1.5), x, max_elements=8, num_directions=6)


def test_check_gradients_raises_for_a_layer_built_in_float32(rng):
    layer = Dense(3)
    layer.build_for((None, 4))
    assert layer.kernel.dtype == np.float32
    with pytest.raises(ValueError, match="float64"):
        check_gradients(layer, rng.standard_normal((2, 4)))
    custom = Scale()
    custom.build_for((None, 4))
    with pytest.raises(ValueError, match="float64"):
        check_gradients(custom, rng.standard_normal((2, 4)))


def test_check_gradients_restores_floatx(rng):
    check_gradients(Scale(), rng.standard_normal((2, 3)))
    assert backend.floatx() == "float32"


def test_check_gradients_accepts_a_layer_built_in_float64(rng, float64):
    layer = Dense(2)
    layer.build_for((None, 3))
    assert layer.kernel.dtype == np.float64
    assert set(check_gradients(layer, rng.standard_normal((4, 3)))) == {"input", "kernel", "bias"}


def test_numerical_gradient_of_a_known_function(rng):
    x = rng.standard_normal((3, 2))
    grad = numerical_gradient(lambda: float((x**2).sum()), x)
    np.testing.assert_allclose(grad, 2 * x, rtol=1e-6, atol=1e-9)
    directions = [rng.standard_normal(x.shape) for _ in range(3)]
    slopes = numerical_gradient(lambda: float((x**2).sum()), x, directions=directions)
    np.testing.assert_allclose(slopes, [(2 * x * d).sum() for d in directions], rtol=1e-6)


def metrics_of(line):
    """The 'name: value' pairs at the end of a progress line."""
    return dict(part.split(": ") for part in line.strip().split(" - ") if ": " in part)


def test_progbar_averages_stateless_values_over_steps_as_keras():
    import io

    from tinykeras.utils import Progbar

    out = io.StringIO()
    bar = Progbar(4, verbose=2, stateful_metrics=["lr"], stream=out)
    bar.add(2, [("loss", 1.0), ("lr", 0.1)])
    bar.add(1, [("loss", 4.0), ("lr", 0.05)])
    bar.update(3, [], finalize=True)  # no new values: the averages so far
    assert metrics_of(out.getvalue()) == {"loss": "2.0000", "lr": "0.0500"}  # (1 * 2 + 4 * 1) / 3
    out = io.StringIO()
    bar = Progbar(2, verbose=2, stateless_metrics=["loss"], stream=out)
    bar.update(1, [("loss", 1.0), ("acc", 0.5)])
    bar.update(2, [("loss", 3.0), ("acc", 0.7)])  # the final update shows its own values, as Keras
    assert metrics_of(out.getvalue()) == {"loss": "3.0000", "acc": "0.7000"}
    with pytest.raises(ValueError, match="Only one of `stateful_metrics` or `stateless_metrics`"):
        Progbar(2, stateful_metrics=["a"], stateless_metrics=["b"])


def test_pack_and_unpack_x_y_sample_weight_as_keras():
    import tinykeras as keras

    x, y, w = np.ones((2, 3)), np.zeros(2), np.ones(2)
    for packed, expected in [(keras.utils.pack_x_y_sample_weight(x), (x, None, None)),
                             (keras.utils.pack_x_y_sample_weight(x, y), (x, y, None)),
                             (keras.utils.pack_x_y_sample_weight(x, y, w), (x, y, w)),
                             ([x, y], (x, y, None))]:
        assert all(a is b for a, b in zip(keras.utils.unpack_x_y_sample_weight(packed), expected))
    inputs = [x, x]
    packed = keras.utils.pack_x_y_sample_weight(inputs)
    assert isinstance(packed, tuple) and len(packed) == 1 and packed[0] is inputs
    with pytest.raises(ValueError, match="must be \\(x, y, sample_weight\\), \\(x, y\\) or \\(x,\\)"):
        keras.utils.unpack_x_y_sample_weight((x, y, w, w))
