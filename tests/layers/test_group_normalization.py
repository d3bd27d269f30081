"""GroupNormalization against Keras 3's own outputs and gradients (six settings: groups
4, 1 and -1, channels first, without center, without scale;
tests/fixtures/keras_group_normalization.npz), a float64 gradient check, and a Keras model file
holding one (predictions and evaluate loss with its gamma regularizer equal Keras')."""
import json
import os

import numpy as np
import pytest
from keras_fixtures import FIXTURES, check_keras_model_file

from tinykeras.layers import GroupNormalization
from tinykeras.utils import check_gradients

KERAS = np.load(os.path.join(FIXTURES, "keras_group_normalization.npz"), allow_pickle=False)
CASES = json.loads(str(KERAS["cases"]))


#: Keras computes the moments in result_type(float64, 'float32'), which its backend makes float32.
TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


@pytest.mark.parametrize("case", range(len(CASES)))
def test_output_and_gradients_equal_keras(case):
    layer = GroupNormalization(**CASES[case], dtype="float64")
    x = KERAS[f"{case}/x"]
    layer.build_for(x.shape)
    weights = [KERAS[f"{case}/weight_{j}"] for j in range(len(layer.get_weights()))]
    layer.set_weights(weights)
    np.testing.assert_allclose(layer(x), KERAS[f"{case}/y"], **TOLERANCE)
    layer.input_gradient = True
    np.testing.assert_allclose(layer.backward(KERAS[f"{case}/r"]), KERAS[f"{case}/dx"], **TOLERANCE)
    for j, grad in enumerate(layer.grads):
        np.testing.assert_allclose(grad, KERAS[f"{case}/dweight_{j}"], **TOLERANCE)


def test_gradients_match_finite_differences(float64):
    layer = GroupNormalization(3, dtype="float64")
    x = np.random.default_rng(2).standard_normal((2, 4, 6))
    assert set(check_gradients(layer, x)) == {"input", "gamma", "beta"}


def test_a_keras_file_with_it_predicts_and_evaluates_as_keras(tmp_path):
    again = check_keras_model_file("keras_group_normalization.keras", "keras_group_normalization_model.npz", tmp_path)
    config = again.layers[1].get_config()
    assert (config["groups"], config["epsilon"], config["gamma_regularizer"]["class_name"]) == (4, 1e-3, "L2")


@pytest.mark.parametrize("kwargs, shape, match", [
    ({"groups": 0}, None, "invalid value for argument `groups`"),
    ({"groups": 3}, (2, 4), r"Number of groups \(3\) must be a multiple of the number of channels \(4\)"),
    ({"groups": 8}, (2, 4), r"Number of groups \(8\) cannot be more than the number of channels \(4\)"),
])
def test_invalid_groups_are_named(kwargs, shape, match):
    with pytest.raises(ValueError, match=match):
        GroupNormalization(**kwargs).build_for(shape or (2, 4))
