"""Conv1DTranspose against Keras 3's own outputs and gradients (float64, six settings: padding,
strides, output_padding, dilation, channels_first; tests/fixtures/keras_conv1d_transpose.npz),
a float64 gradient check, and the convolutional autoencoder of Keras' timeseries
anomaly-detection example read from Keras' file (predictions equal Keras', trains, written back)."""
import json
import os
import sys

import numpy as np
import pytest
from keras_fixtures import FIXTURES

import tinykeras as keras
from tinykeras.layers import Conv1DTranspose
from tinykeras.utils import check_gradients

sys.path.insert(0, FIXTURES)
import make_keras_conv1d_transpose_fixture as fixture  # noqa: E402

KERAS = np.load(os.path.join(FIXTURES, "keras_conv1d_transpose.npz"), allow_pickle=False)
CASES = json.loads(str(KERAS["cases"]))


@pytest.mark.parametrize("case", range(len(CASES)))
def test_output_and_gradients_equal_keras(case):
    layer = Conv1DTranspose(**CASES[case], dtype="float64")
    x = KERAS[f"{case}/x"]
    layer.build_for(x.shape)
    layer.set_weights([KERAS[f"{case}/kernel"], KERAS[f"{case}/bias"]])
    y = layer(x)
    np.testing.assert_allclose(y, KERAS[f"{case}/y"], rtol=1e-12, atol=1e-12)
    assert tuple(layer.compute_output_shape((None,) + x.shape[1:]))[1:] == y.shape[1:]
    layer.input_gradient = True
    dx = layer.backward(KERAS[f"{case}/r"])
    np.testing.assert_allclose(dx, KERAS[f"{case}/dx"], rtol=1e-12, atol=1e-12)
    for grad, name in zip(layer.grads, ("dkernel", "dbias")):
        np.testing.assert_allclose(grad, KERAS[f"{case}/{name}"], rtol=1e-12, atol=1e-12)


def test_gradients_match_finite_differences(float64):
    rng = np.random.default_rng(1)
    layer = Conv1DTranspose(2, 3, strides=2, padding="same", activation="tanh", dtype="float64")
    assert set(check_gradients(layer, rng.standard_normal((2, 4, 3)))) == {"input", "kernel", "bias"}


def test_the_keras_anomaly_autoencoder_file_predicts_trains_and_saves(tmp_path):
    data = np.load(os.path.join(FIXTURES, "keras_conv1d_autoencoder.npz"))
    model = keras.models.load_model(os.path.join(FIXTURES, "keras_conv1d_autoencoder.keras"))
    np.testing.assert_allclose(model.predict(data["x"], verbose=0), data["y"], rtol=1e-5, atol=1e-6)
    assert [type(layer).__name__ for layer in model.layers] == [
        type(layer).__name__ for layer in fixture.autoencoder(keras).layers]
    loss = model.fit(data["x"], data["x"], epochs=5, verbose=0).history["loss"]
    assert loss[-1] < loss[0]
    model.save(tmp_path / "again.keras")
    again = keras.models.load_model(tmp_path / "again.keras")
    np.testing.assert_array_equal(again.predict(data["x"], verbose=0), model.predict(data["x"], verbose=0))


def test_arguments_are_checked_and_named():
    with pytest.raises(ValueError, match="Strides must be greater than output padding"):
        Conv1DTranspose(2, 3, strides=2, output_padding=2)
    assert keras.layers.Convolution1DTranspose is Conv1DTranspose
    config = Conv1DTranspose(2, 3, strides=2, output_padding=1).get_config()
    assert (config["kernel_size"], config["strides"], config["output_padding"], config["dilation_rate"]) == (
        (3,), (2,), (1,), (1,))
