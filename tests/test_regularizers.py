"""keras.regularizers and keras.constraints: penalties added to the loss with their gradients
(checked against finite differences in float64), activity regularization, projections after
each step, and a model using them trained exactly as real Keras 3 trained it
(tests/fixtures/make_keras_regularizers_fixture.py), its files read both ways."""
import json
import os
import sys

import numpy as np
import pytest
from model_gradients import assert_weight_gradients_match

import tinykeras as keras
from tinykeras import layers, ops

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
sys.path.insert(0, FIXTURES)

import make_keras_regularizers_fixture as oracle  # noqa: E402

with open(os.path.join(FIXTURES, "keras_regularizers.json")) as _f:
    EXPECTED = json.load(_f)


@pytest.fixture
def float64():
    keras.backend.set_floatx("float64")
    yield
    keras.backend.set_floatx("float32")


@pytest.mark.parametrize("regularizer, value", [
    (keras.regularizers.L1(0.1), 0.1 * 7.5),
    (keras.regularizers.L2(0.1), 0.1 * 15.25),
    (keras.regularizers.L1L2(l1=0.1, l2=0.2), 0.1 * 7.5 + 0.2 * 15.25),
    (keras.regularizers.get("l2"), 0.01 * 15.25),
])
def test_penalties_and_their_gradients(regularizer, value):
    w = np.array([[1.0, -2.0], [3.0, 0.0], [-0.5, 1.0]])
    assert regularizer(w) == pytest.approx(value)
    step = 1e-6
    numeric = np.zeros_like(w)
    for index in np.ndindex(w.shape):
        if w[index] == 0:  # |x| has no derivative at 0; its gradient there is 0
            continue
        up, down = w.copy(), w.copy()
        up[index] += step
        down[index] -= step
        numeric[index] = (regularizer(up) - regularizer(down)) / (2 * step)
    np.testing.assert_allclose(regularizer.gradient(w), numeric, rtol=1e-6, atol=1e-8)


def test_a_regularizer_written_with_ops_gets_its_gradient_from_them():
    def smooth(w):
        return 0.5 * ops.sum(ops.log1p(ops.square(w)))

    regularizer = keras.regularizers.get(smooth)
    w = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(regularizer.gradient(w), w / (1 + w**2))
    assert regularizer(w) == pytest.approx(0.5 * np.sum(np.log1p(w**2)))


@pytest.mark.parametrize("constraint, expected", [
    (keras.constraints.NonNeg(), [[0.0, 0.0], [3.0, 4.0]]),
    (keras.constraints.MaxNorm(2.0), [[-2 / np.sqrt(10), 0.0], [6 / np.sqrt(10), 2.0]]),
    (keras.constraints.UnitNorm(), [[-1 / np.sqrt(10), 0.0], [3 / np.sqrt(10), 1.0]]),
])
def test_constraints_project_columns(constraint, expected):
    w = np.array([[-1.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(constraint(w), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.usefixtures("float64")
def test_gradients_with_weight_and_activity_regularizers_match_finite_differences():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((4,))
    x = layers.Dense(5, activation="tanh", kernel_regularizer=keras.regularizers.L2(0.1),
                     bias_regularizer=keras.regularizers.L1(0.05), activity_regularizer=keras.regularizers.L2(0.2))(inputs)
    outputs = layers.Dense(2, kernel_regularizer=keras.regularizers.L1L2(0.01, 0.03))(x)
    model = keras.Model(inputs, outputs)
    model.compile("sgd", "mse")
    model._find_regularized()
    rng = np.random.default_rng(0)
    assert_weight_gradients_match(model, rng.standard_normal((6, 4)), rng.standard_normal((6, 2)))


def test_a_model_with_regularizers_and_constraints_trains_as_keras_does():
    arrays = oracle.data()
    model = oracle.start(keras)
    assert model.evaluate(arrays["x"], arrays["y"], batch_size=16, verbose=0) == pytest.approx(
        EXPECTED["evaluate_before"], rel=1e-5)
    history = model.fit(arrays["x"], arrays["y"], batch_size=8, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], EXPECTED["history"]["loss"], rtol=1e-5)
    for ours, theirs in zip(model.get_weights(), EXPECTED["weights"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_configs_are_keras_own_and_keras_files_load():
    model = oracle.start(keras)
    ours, theirs = model.get_config(), EXPECTED["config"]
    for mine, keras_layer in zip(ours["layers"], theirs["layers"]):
        for key, value in keras_layer["config"].items():
            if "regularizer" in key or "constraint" in key:
                assert mine["config"][key] == value, (keras_layer["class_name"], key)
    loaded = keras.models.load_model(os.path.join(FIXTURES, "keras_regularizers.keras"))
    for ours_w, theirs_w in zip(loaded.get_weights(), EXPECTED["weights"]):
        np.testing.assert_allclose(ours_w, theirs_w, rtol=1e-6)
    dense = loaded.layers[1]
    assert isinstance(dense.kernel_regularizer, keras.regularizers.L2) and dense.kernel_regularizer.l2 == pytest.approx(0.05)
    assert isinstance(dense.kernel_constraint, keras.constraints.MaxNorm)
    assert isinstance(dense.activity_regularizer, keras.regularizers.L1)
    assert len(loaded.losses) == 3  # the kernel's, the gamma's and the bias' penalties


def test_layer_losses_hold_the_penalties_of_its_weights():
    layer = layers.Dense(3, kernel_regularizer=keras.regularizers.L2(0.5))
    layer(np.ones((2, 4), np.float32))
    assert layer.losses == [pytest.approx(0.5 * float(np.sum(layer.kernel.value ** 2)))]
