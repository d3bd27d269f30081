"""Lambda: the function's output and its gradient through the ops (float64), arguments, mask and
training, output_shape, fit; saving as Keras does (a Python lambda's bytecode, refused unless
safe_mode=False; a named function by name), Keras' own file (tests/fixtures/keras_lambda.*)
and the errors; Keras' other names of the pooling and convolution layers."""
import os
import sys

import numpy as np
import pytest
from keras_fixtures import FIXTURES

import tinykeras as keras
from tinykeras import layers, ops
from tinykeras.utils import check_gradients

sys.path.insert(0, FIXTURES)
import make_keras_lambda_fixture as fixture  # noqa: E402


def test_the_output_and_gradient_come_from_the_ops():
    layer = layers.Lambda(lambda x: ops.tanh(x) * x ** 2 + 1.0, dtype="float64")
    x = np.random.default_rng(0).standard_normal((3, 4))
    np.testing.assert_allclose(layer(x), np.tanh(x) * x**2 + 1, rtol=1e-12)
    assert set(check_gradients(layer, x)) == {"input"}


def test_arguments_training_and_mask_reach_the_function():
    seen = []

    def function(x, mask=None, training=None, factor=1.0):
        seen.append((mask is not None, training))
        return x * factor

    inputs = keras.Input((3, 2))
    masked = layers.Masking(0.0)(inputs)
    outputs = layers.Lambda(function, arguments={"factor": 3.0}, mask=lambda x, mask: mask)(masked)
    model = keras.Model(inputs, layers.GlobalAveragePooling1D()(outputs))
    x = np.array([[[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]]])
    np.testing.assert_allclose(model.predict(x, verbose=0), [[4.5, 4.5]])  # the mask passed on: mean of 2 steps
    assert (True, False) in seen and (True, True) in seen  # traced for inference and training, with the mask
    fixed = layers.Lambda(lambda x: x, mask=None)
    assert fixed.compute_mask(x, np.ones((1, 3), bool)) is None


def test_output_shape_is_checked_against_the_function():
    inputs = keras.Input((4,))
    assert layers.Lambda(lambda x: x[:, :2], output_shape=(2,))(inputs).shape == (None, 2)
    assert layers.Lambda(lambda x: x, output_shape=lambda shape: shape)(inputs).shape == (None, 4)
    with pytest.raises(ValueError, match=r"output_shape gives \(None, 3\), but the function returns \(None, 2\)"):
        layers.Lambda(lambda x: x[:, :2], output_shape=(3,))(inputs)


def test_a_model_with_lambdas_trains():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 3)).astype("float32")
    y = (x ** 2).sum(axis=1, keepdims=True)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), layers.Lambda(lambda v: v ** 2), layers.Dense(1)])
    model.compile(loss="mse", optimizer=keras.optimizers.Adam(0.05))
    history = model.fit(x, y, epochs=30, verbose=0)
    assert history.history["loss"][-1] < 0.05 * history.history["loss"][0]


def tinykeras_model():
    """The fixture's model built with tinykeras."""
    keras.utils.set_random_seed(0)
    return fixture.build(keras)


def test_saving_a_python_lambda_needs_safe_mode_off_to_load(tmp_path):
    model = tinykeras_model()
    x = np.random.default_rng(2).standard_normal((5, 4)).astype("float32")
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match="Lambda 'lambda'.*Python lambda.*safe_mode=False"):
        keras.models.load_model(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=False)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    entries = [layer.get_config() for layer in loaded.layers if isinstance(layer, layers.Lambda)]
    assert entries[0]["arguments"] == {"k": 1.0} and entries[1]["function"]["config"]["defaults"] == [0.5]
    assert entries[2]["function"] == {"module": "builtins", "class_name": "function", "config": "tanh",
                                      "registered_name": "function"}  # as Keras writes keras.ops.tanh
    assert entries[2]["output_shape"] == [4]


def test_named_functions_load_in_safe_mode_by_name(tmp_path):
    def double(x):
        return x * 2

    model = keras.Sequential([keras.Input((2,)), layers.Lambda(double), layers.Lambda(ops.relu)])
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match=r"function .*double of the config is not found.*custom_objects"):
        keras.models.load_model(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", {"double": double})  # Keras' order of arguments
    np.testing.assert_array_equal(loaded.predict(np.array([[-1.0, 2.0]]), verbose=0), [[0.0, 4.0]])


def test_model_from_json_rebuilds_a_python_lambda_inside_an_unsafe_scope():
    model = keras.Sequential([keras.Input((2,)), layers.Lambda(lambda x: x - 1)])
    with pytest.raises(ValueError, match="SafeModeScope"):
        keras.models.model_from_json(model.to_json())
    with keras.saving.SafeModeScope(False):
        rebuilt = keras.models.model_from_json(model.to_json())
    np.testing.assert_array_equal(rebuilt.predict(np.ones((1, 2)), verbose=0), [[0.0, 0.0]])
    assert keras.saving.in_safe_mode()


def test_keras_files_lambdas_load_and_predict_as_in_keras():
    data = np.load(os.path.join(FIXTURES, "keras_lambda.npz"))
    model = keras.models.load_model(os.path.join(FIXTURES, "keras_lambda.keras"), safe_mode=False)
    np.testing.assert_allclose(model.predict(data["x"], verbose=0), data["y"], rtol=1e-5, atol=1e-6)


def test_a_lambda_of_unwritable_values_is_refused_when_saved(tmp_path):
    table = np.arange(3.0)
    model = keras.Sequential([keras.Input((3,)), layers.Lambda(lambda x: x * table)])
    with pytest.raises(TypeError, match=r"Layer 'lambda.*' \(Lambda\): its \['function'\] hold values a config cannot"):
        model.save(tmp_path / "m.keras")
    assert not (tmp_path / "m.keras").exists()


@pytest.mark.parametrize("kwargs, match", [
    ({"function": 3}, "`function` must be callable"),
    ({"function": abs, "arguments": [1]}, "`arguments` must be a dict"),
])
def test_invalid_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.Lambda(**kwargs)


def test_keras_other_names_are_the_same_classes():
    assert layers.MaxPool2D is layers.MaxPooling2D and layers.AvgPool1D is layers.AveragePooling1D
    assert layers.GlobalMaxPool2D is layers.GlobalMaxPooling2D and layers.GlobalAvgPool1D is layers.GlobalAveragePooling1D
    assert layers.Convolution1D is layers.Conv1D and layers.Convolution2DTranspose is layers.Conv2DTranspose
    assert layers.MaxPool2D(2).get_config()["pool_size"] == (2, 2)
