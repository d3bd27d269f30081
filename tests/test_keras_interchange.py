"""Weights interchange with real Keras 3: files written by Keras load into tinykeras and predict
the same, and tinykeras' files have Keras' layout.

The fixtures were written by tests/fixtures/make_keras_fixtures.py (see its docstring) with real
Keras; these tests need only tinykeras. Predictions are compared with an absolute tolerance of
1e-5 (rtol=0): they are softmax probabilities in [0, 1].
"""
import os

import h5py
import numpy as np
import pytest
from keras_fixtures import ATOL, FIXTURES, NAMES, interchange, keras_fixture

import tinykeras


def build(name):
    return interchange.MODELS[name](tinykeras)




def layout(path):
    """Every dataset of an HDF5 file as {path: shape}."""
    datasets = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda key, item: datasets.update({key: item.shape}) if isinstance(item, h5py.Dataset) else None
        )
    return datasets


@pytest.mark.parametrize("name", NAMES)
def test_keras_weights_predict_like_keras(name):
    weights_path, x, expected = keras_fixture(name, ".weights.h5")
    model = build(name)
    assert not np.allclose(model.predict(x, verbose=0), expected, rtol=0, atol=1e-3)

    model.load_weights(weights_path)

    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=0, atol=ATOL)


def test_keras_batchnorm_statistics_are_loaded_in_keras_order():
    weights_path, _, _ = keras_fixture("batchnorm_cnn", ".weights.h5")
    model = build("batchnorm_cnn")
    model.load_weights(weights_path)
    with h5py.File(weights_path, "r") as f:
        stored = [f[f"layers/batch_normalization/vars/{i}"][()] for i in range(4)]
    bn = model.layers[1]
    loaded = [bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance]
    for variable, array in zip(loaded, stored):
        np.testing.assert_array_equal(variable.value, array)
    assert not np.allclose(bn.moving_mean.value, 0) and not np.allclose(bn.moving_variance.value, 1)


@pytest.mark.parametrize("name", NAMES)
def test_saved_file_has_keras_layout(name, tmp_path):
    model = build(name)
    path = tmp_path / f"{name}.weights.h5"
    model.save_weights(path)
    keras_path, _, _ = keras_fixture(name, ".weights.h5")
    assert layout(path) == layout(keras_path)
    with h5py.File(path, "r") as mine, h5py.File(keras_path, "r") as theirs:
        groups = []
        theirs.visit(groups.append)
        assert all(key in mine for key in groups)


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip(name, tmp_path):
    model = build(name)
    model.set_weights(interchange.random_weights(model, seed=5))
    x = interchange.sample_inputs(name, seed=6)
    path = tmp_path / f"{name}.weights.h5"
    model.save_weights(path)

    other = build(name)
    other.load_weights(path)

    for saved, loaded in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(saved, loaded)
    np.testing.assert_array_equal(model.predict(x, verbose=0), other.predict(x, verbose=0))


def test_wrong_architecture_raises_naming_layer_and_shapes_and_changes_nothing():
    # Conv2D and BatchNormalization match the file; the first Dense has 5 units, not 6.
    model = interchange.batchnorm_cnn(tinykeras, hidden_units=5)
    before = model.get_weights()
    weights_path, _, _ = keras_fixture("batchnorm_cnn", ".weights.h5")

    with pytest.raises(ValueError, match=r"Layer 'dense'.*\(64, 5\).*\(64, 6\).*'layers/dense'"):
        model.load_weights(weights_path)

    after = model.get_weights()
    assert len(after) == len(before)
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_other_models_fixture_raises_and_changes_nothing():
    model = build("mnist_cnn")
    before = model.get_weights()
    weights_path, _, _ = keras_fixture("batchnorm_cnn", ".weights.h5")

    with pytest.raises(ValueError, match=r"Layer 'conv2d'.*\(3, 3, 1, 8\).*\(3, 3, 3, 4\)"):
        model.load_weights(weights_path)

    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


# ---- Keras 2's '.h5' layout -------------------------------------------------------------------


def test_keras_2_model_file_weights_predict_like_keras():
    _, x, expected = keras_fixture("batchnorm_cnn", ".weights.h5")
    model = build("batchnorm_cnn")

    model.load_weights(os.path.join(FIXTURES, "keras_legacy_model_batchnorm_cnn.h5"))

    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=0, atol=ATOL)


def test_keras_2_layout_of_another_model_raises_and_changes_nothing():
    model = build("mnist_cnn")
    before = model.get_weights()

    with pytest.raises(ValueError, match=r"weights for 5 layers.*has 2 layers with weights"):
        model.load_weights(os.path.join(FIXTURES, "keras_legacy_batchnorm_cnn.h5"))

    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def write_keras_2_style(model, path):
    """Writes the model's weights as tf.keras 2 named them ('dense/kernel:0'), with the
    'layer_names' attribute split in two chunks as Keras does for long lists."""
    names = [layer.name.encode() for layer in model.layers]
    with h5py.File(path, "w") as f:
        f.attrs["layer_names0"] = names[:2]
        f.attrs["layer_names1"] = names[2:]
        for layer in model.layers:
            group = f.create_group(layer.name)
            weight_names = [f"{layer.name}/{v.name}:0".encode() for v in layer.variables]
            group.attrs["weight_names"] = weight_names
            for weight_name, variable in zip(weight_names, layer.variables):
                group.create_dataset(weight_name.decode(), data=variable.value)


def test_keras_2_style_names_and_chunked_attributes(tmp_path):
    model = build("batchnorm_cnn")
    model.set_weights(interchange.random_weights(model, seed=7))
    path = tmp_path / "keras2.h5"
    write_keras_2_style(model, path)

    other = build("batchnorm_cnn")
    other.load_weights(path)

    for saved, loaded in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(saved, loaded)


def test_keras_2_layout_checks_every_shape_first(tmp_path):
    model = build("batchnorm_cnn")
    path = tmp_path / "keras2.h5"
    write_keras_2_style(model, path)
    with h5py.File(path, "a") as f:
        dense = model.layers[4].name
        del f[f"{dense}/{dense}/bias:0"]
        f[f"{dense}/{dense}/bias:0"] = np.zeros(7, np.float32)
    other = build("batchnorm_cnn")
    before = other.get_weights()

    with pytest.raises(ValueError, match=rf"Layer '{other.layers[4].name}': weight 'bias'.*\(6,\).*\(7,\)"):
        other.load_weights(path)

    assert all(np.array_equal(a, b) for a, b in zip(before, other.get_weights()))
