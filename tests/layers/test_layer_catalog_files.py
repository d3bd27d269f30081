"""Models of the activation, reshaping, 1-D, normalization, noise, transposed, depthwise and
separable convolution layers in Keras 3's files: Keras' '.keras' and '.weights.h5' files load in
tinykeras and predict as Keras did, the config tinykeras writes is the one Keras wrote, one SGD
step from Keras' weights lands where Keras' did, and tinykeras' own files round trip.

The keras_catalog_<model> fixtures were written by
tests/fixtures/make_keras_layer_catalog_fixture.py with real Keras 3.15.1 on JAX; its --check
mode (also run by make_keras_fixtures.py --check, see their docstrings) loads tinykeras' files of
the same models in Keras. These tests need only tinykeras.

Tolerance: 1e-6 absolute on softmax probabilities and on the weights after one step (float32;
JAX and NumPy add products in different orders). Measured: 9e-8, 4.5e-8 and 3e-8 for the three
models' predictions, 3e-8 for the steps.
"""
import json
import os
import sys
import warnings
import zipfile

import numpy as np
import pytest
from keras_fixtures import FIXTURES, keras_written_config

import tinykeras
from tinykeras.models import load_model

sys.path.insert(0, FIXTURES)

import make_keras_layer_catalog_fixture as fixture  # noqa: E402

NAMES = sorted(fixture.MODELS)
ATOL = 1e-6


def keras_saved(name):
    with np.load(os.path.join(FIXTURES, f"keras_{name}.npz"), allow_pickle=False) as data:
        return {key: data[key] for key in data.files if key != "made_with"}


def keras_path(name, extension):
    return os.path.join(FIXTURES, f"keras_{name}{extension}")


def config_json(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))


@pytest.mark.parametrize("name", NAMES)
def test_keras_model_file_predicts_like_keras(name):
    saved = keras_saved(name)
    model = load_model(keras_path(name, ".keras"))
    built = fixture.MODELS[name](tinykeras)
    assert [type(layer).__name__ for layer in model.layers] == [type(layer).__name__ for layer in built.layers]
    np.testing.assert_allclose(model.predict(saved["x"], verbose=0), saved["y"], rtol=0, atol=ATOL)
    assert isinstance(model.optimizer, tinykeras.optimizers.SGD)


@pytest.mark.parametrize("name", NAMES)
def test_keras_weights_file_loads_into_the_model_built_in_tinykeras(name):
    saved = keras_saved(name)
    model = fixture.MODELS[name](tinykeras)
    model.load_weights(keras_path(name, ".weights.h5"))
    np.testing.assert_allclose(model.predict(saved["x"], verbose=0), saved["y"], rtol=0, atol=ATOL)


@pytest.mark.parametrize("name", NAMES)
def test_the_config_tinykeras_writes_is_the_one_keras_wrote(name):
    written_by_keras = keras_written_config(keras_path(name, ".keras"))
    ours = tinykeras.saving.serialize_model(load_model(keras_path(name, ".keras")))
    assert ours == written_by_keras


@pytest.mark.parametrize("name", fixture.STEP_COMPARABLE)
def test_one_sgd_step_from_keras_weights_lands_where_keras_did(name):
    saved = keras_saved(name)
    model = load_model(keras_path(name, ".keras"))
    model.train_on_batch(saved["x_train"], saved["y_train"])
    for i, variable in enumerate(model.weights):
        np.testing.assert_allclose(variable.numpy(), saved[f"next_{i}"], rtol=0, atol=ATOL, err_msg=variable.path)


@pytest.mark.parametrize("name", NAMES)
def test_tinykeras_files_round_trip(name, tmp_path):
    model = fixture.compiled(tinykeras, name, seed=3)
    x = fixture.inputs(name, seed=4)
    model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "m.weights.h5")
    loaded = load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.get_config() == model.get_config()
    rebuilt = fixture.MODELS[name](tinykeras)
    rebuilt.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_array_equal(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_spatial_dropout_entry_is_keras_own():
    """Keras' SpatialDropout2D takes no 'trainable' and writes its dtype's name: Keras could not
    rebuild the layer from an entry with 'trainable'."""
    entries = [e for e in config_json(keras_path("catalog_image", ".keras"))["config"]["layers"]
               if e["class_name"] == "SpatialDropout2D"]
    model = fixture.MODELS["catalog_image"](tinykeras)
    ours = [e for e in tinykeras.saving.serialize_model(model)["config"]["layers"] if e["class_name"] == "SpatialDropout2D"]
    assert ours == entries
    assert set(entries[0]["config"]) == {"name", "dtype", "rate", "seed", "data_format"}


def test_a_keras_2_leaky_relu_config_reads_alpha_as_negative_slope():
    entry = {"class_name": "LeakyReLU", "config": {"name": "leaky", "trainable": True, "dtype": "float32", "alpha": 0.1}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer = tinykeras.saving.layer_from_entry(entry, 0)
    assert layer.negative_slope == 0.1
