"""ZeroPadding1D, Cropping1D, UpSampling1D, SpatialDropout1D, GaussianDropout,
ActivityRegularization and Identity: float64 gradient checks, their training-only noise, and a
Keras 3 file holding all of them (tests/fixtures/keras_sequence_noise_margins.*): predictions, the
evaluate loss with the activity penalty, and the file written back."""
import sys

import numpy as np
import pytest
from keras_fixtures import FIXTURES, check_keras_model_file
from model_gradients import assert_weight_gradients_match

import tinykeras as keras
from tinykeras import layers
from tinykeras.utils import check_gradients

sys.path.insert(0, FIXTURES)
import make_keras_sequence_noise_margins_fixture as fixture  # noqa: E402

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("layer, shape, expected", [
    (layers.ZeroPadding1D((1, 2)), (2, 4, 3), (2, 7, 3)),
    (layers.ZeroPadding1D(1, data_format="channels_first"), (2, 3, 4), (2, 3, 6)),
    (layers.Cropping1D((2, 1)), (2, 6, 3), (2, 3, 3)),
    (layers.Cropping1D(0), (2, 3, 2), (2, 3, 2)),
    (layers.UpSampling1D(3), (2, 4, 2), (2, 12, 2)),
    (layers.Identity(), (2, 3, 2), (2, 3, 2)),
])
def test_moves_values_with_adjoint_gradients(layer, shape, expected, float64):
    x = RNG.standard_normal(shape)
    assert tuple(layer(x).shape) == expected
    assert tuple(layer.compute_output_shape((None,) + shape[1:])) == (None,) + expected[1:]
    assert set(check_gradients(layer, x)) == {"input"}


def test_the_values_land_where_keras_puts_them():
    x = np.arange(6.0).reshape(1, 3, 2)
    np.testing.assert_array_equal(layers.ZeroPadding1D((1, 0))(x)[0, :, 0], [0, 0, 2, 4])
    np.testing.assert_array_equal(layers.Cropping1D((1, 1))(x)[0], [[2, 3]])
    np.testing.assert_array_equal(layers.UpSampling1D(2)(x)[0, :, 1], [1, 1, 3, 3, 5, 5])


def test_spatial_dropout1d_drops_whole_features_in_training_only():
    layer = layers.SpatialDropout1D(0.5, seed=3)
    x = np.ones((4, 6, 5), "float32")
    y = layer(x, training=True)
    assert np.all((y == 0) | (y == 2)) and np.all(y == y[:, :1, :])  # the same at every step
    assert 0 < (y == 0).mean() < 1
    np.testing.assert_array_equal(layer.backward(np.ones_like(y)), y)
    np.testing.assert_array_equal(layer(x), x)


def test_gaussian_dropout_multiplies_by_noise_of_mean_one_in_training_only(float64):
    layer = layers.GaussianDropout(0.2, seed=4, dtype="float64")
    x = np.ones((400, 50))
    noise = layer(x, training=True)
    assert abs(noise.mean() - 1) < 0.01 and abs(noise.std() - np.sqrt(0.2 / 0.8)) < 0.01
    np.testing.assert_array_equal(layer.backward(np.full_like(x, 2.0)), 2 * noise)
    np.testing.assert_array_equal(layer(x), x)
    with pytest.raises(ValueError, match=r"GaussianDropout: rate must be in \[0, 1\)"):
        layers.GaussianDropout(1.0)


def test_activity_regularization_adds_its_penalty_and_gradient(float64):
    model = keras.Sequential([keras.Input((3,)), layers.Dense(4), layers.ActivityRegularization(l1=0.1, l2=0.2),
                              layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = RNG.standard_normal((5, 3)), RNG.standard_normal((5, 1))
    hidden = x @ model.layers[0].kernel.numpy() + model.layers[0].bias.numpy()
    penalty = (0.1 * np.abs(hidden).sum() + 0.2 * (hidden**2).sum()) / 5
    mse = np.mean((model.predict(x, verbose=0) - y) ** 2)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), mse + penalty, rtol=1e-10)
    assert_weight_gradients_match(model, x, y)
    assert model.layers[1].get_config()["l1"] == 0.1 and "activity_regularizer" not in model.layers[1].get_config()


def test_keras_file_with_all_of_them_predicts_and_evaluates_as_keras(tmp_path):
    again = check_keras_model_file("keras_sequence_noise_margins.keras", "keras_sequence_noise_margins.npz", tmp_path)
    assert [type(layer).__name__ for layer in again.layers] == [
        type(layer).__name__ for layer in fixture.build(keras).layers]


def test_separable_convolution2d_is_keras_other_name():
    assert layers.SeparableConvolution2D is layers.SeparableConv2D
