"""Masked models against real Keras 3 (tests/fixtures/keras_masking_*, written by
make_keras_masking_fixture.py): Keras' files load with their mask computations, and from Keras'
weights tinykeras gives Keras' predictions, evaluate's loss and metric, one fit epoch's loss and
the weights after it; tinykeras' files of the same models keep mask_zero and load back (Keras
loads them too: ``make_keras_masking_fixture.py --check``).

One difference is kept on purpose: in ``fit`` on JAX, Keras' metrics do not see the output's
mask (it is lost on the way out of the jitted gradient function; evaluate, and fit on the other
backends, see it), so the tagger's training accuracy counts the padded steps there. tinykeras'
metrics see the mask in fit as in evaluate (checked against the masked accuracy below).
"""
import json
import sys
import zipfile

import numpy as np
import pytest
from keras_fixtures import FIXTURES

from tinykeras.models import load_model

sys.path.insert(0, FIXTURES)
import make_keras_masking_fixture as fixture  # noqa: E402

MODELS = sorted(fixture.MODELS)


def loaded(name):
    saved = np.load(f"{FIXTURES}/keras_masking_{name}.npz")
    return load_model(f"{FIXTURES}/keras_masking_{name}.keras"), saved


@pytest.mark.parametrize("name", MODELS)
def test_predictions_and_evaluate_equal_keras(name):
    model, saved = loaded(name)
    np.testing.assert_allclose(model.predict(saved["x"], verbose=0), saved["predictions"], atol=1e-6)
    np.testing.assert_allclose(model.evaluate(saved["x"], saved["y"], verbose=0), saved["evaluate"], rtol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_one_fit_epoch_gives_keras_loss_and_weights(name):
    model, saved = loaded(name)
    history = model.fit(saved["x"], saved["y"], batch_size=fixture.BATCH_SIZE, epochs=1, shuffle=False,
                        verbose=0).history
    assert history["loss"][0] == pytest.approx(float(saved["fit"][0]), rel=1e-5)
    metrics = [key for key in history if key != "loss"]
    if metrics and name != "tagger":  # see the module's docstring
        assert history[metrics[0]][0] == pytest.approx(float(saved["fit"][1]), rel=1e-5)
    for index, weight in enumerate(model.get_weights()):
        np.testing.assert_allclose(weight, saved[f"after_{index}"], atol=2e-6)


def test_the_tagger_trains_on_the_kept_steps_alone():
    model, saved = loaded("tagger")
    kept = saved["x"] != 0
    predictions = model.predict(saved["x"], verbose=0)
    masked_accuracy = (predictions.argmax(-1) == saved["y"])[kept].mean()
    assert saved["evaluate"][1] == pytest.approx(masked_accuracy, rel=1e-6)  # Keras' evaluate masks it
    assert (saved["y"][~kept] == 2).all()  # labels a model seeing the padding would learn


@pytest.mark.parametrize("name", MODELS)
def test_tinykeras_files_keep_mask_zero_and_load_back(name, tmp_path):
    model, saved = loaded(name)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    entries = {entry["class_name"]: entry for entry in config["config"]["layers"]}
    if "Embedding" in entries:
        assert entries["Embedding"]["config"]["mask_zero"] is True
    if "Masking" in entries:
        assert entries["Masking"]["config"]["mask_value"] == 0.0
    np.testing.assert_allclose(load_model(path).predict(saved["x"], verbose=0), saved["predictions"], atol=1e-6)


def test_keras_mask_computations_are_read_as_the_masks_tinykeras_computes():
    config = json.loads(zipfile.ZipFile(f"{FIXTURES}/keras_masking_masking_gru.keras").read("config.json"))
    classes = [entry["class_name"] for entry in config["config"]["layers"]]
    assert {"NotEqual", "Any"} <= set(classes)  # Masking's any(not_equal(x, 0), axis=-1)
    model, _ = loaded("masking_gru")
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "Masking", "GRU", "GRU", "Dense"]
