"""The files real Keras 3 wrote into tests/fixtures/, and the architectures they belong to
(tests/fixtures/interchange_models.py, shared with the scripts that made them)."""
import importlib.util
import json
import os

import numpy as np

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
_spec = importlib.util.spec_from_file_location(
    "interchange_models", os.path.join(FIXTURES, "interchange_models.py")
)
interchange = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(interchange)

NAMES = sorted(interchange.MODELS)
ATOL = 1e-5
"""Predictions are softmax probabilities in [0, 1]: compared with this absolute tolerance."""


def keras_fixture(name, extension):
    """The path of Keras' file ``keras_<name><extension>``, its input batch and Keras' predictions."""
    with np.load(os.path.join(FIXTURES, f"keras_{name}.npz"), allow_pickle=False) as data:
        x, y = data["x"], data["y"]
    return os.path.join(FIXTURES, f"keras_{name}{extension}"), x, y


def seeded(model, seed):
    """``model`` with the random weights ``interchange.random_weights`` draws for ``seed`` (the
    fixture scripts draw the same)."""
    model.set_weights(interchange.random_weights(model, seed))
    return model


def without_bookkeeping(value):
    """Drops Keras' object-sharing ids, which only link equal dtype policies inside one file."""
    if isinstance(value, dict):
        return {k: without_bookkeeping(v) for k, v in value.items() if k != "shared_object_id"}
    if isinstance(value, list):
        return [without_bookkeeping(v) for v in value]
    return value


def keras_written_config(path):
    """The config.json of a '.keras' file written by Keras, as tinykeras writes the same model:
    without Keras' object-sharing ids, and with what Keras records of its backend (its own
    optimizer module; jit_compile, true on JAX) set to what tinykeras writes."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        config = without_bookkeeping(json.loads(archive.read("config.json")))
    config["compile_config"]["optimizer"].update(module="keras.optimizers", registered_name=None)
    config["compile_config"]["jit_compile"] = False
    return config


def weight_group_paths(path):
    """The groups holding weights in a '.weights.h5' file (the optimizer's aside, which Keras
    writes for a compiled model), sorted."""
    import h5py

    with h5py.File(path) as f:
        found = []
        f.visit(lambda name: found.append(name) if name.endswith("/vars") and len(f[name]) else None)
    return sorted(name for name in found if name != "optimizer/vars")


def check_keras_model_file(model_file, data_file, tmp_path):
    """Loads Keras' FIXTURES/<model_file>: its predictions for the data file's 'x' and its evaluate
    loss on ('x', 'y_true') equal Keras' ('y', 'loss'); saved by tinykeras and loaded back, it
    predicts the same. Returns the loaded model."""
    import tinykeras

    data = np.load(os.path.join(FIXTURES, data_file))
    model = tinykeras.models.load_model(os.path.join(FIXTURES, model_file))
    np.testing.assert_allclose(model.predict(data["x"], verbose=0), data["y"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.evaluate(data["x"], data["y_true"], verbose=0), data["loss"], rtol=1e-5)
    model.save(tmp_path / "again.keras")
    again = tinykeras.models.load_model(tmp_path / "again.keras")
    np.testing.assert_array_equal(again.predict(data["x"], verbose=0), model.predict(data["x"], verbose=0))
    return again

