"""The activation, reshaping, 1-D, layer-normalization, transposed, depthwise and separable
convolution layers against PyTorch's and Keras' own float64 numbers: outputs, input gradients
and weight gradients.

tests/fixtures/torch_layer_catalog.npz was written by make_torch_layer_catalog_fixture.py
(PyTorch's ops: conv1d, conv_transpose2d, grouped conv2d, max_pool1d, avg_pool1d, layer_norm,
prelu, interpolate, the activations);
tests/fixtures/keras_layer_catalog_cases.npz by make_keras_layer_catalog_fixture.py (Keras 3's
layers, gradients by jax.grad). Each case holds the layer's class and arguments, the input, the
weights, an upstream gradient and the reference's results; these tests need only tinykeras.
"""
import json
import os

import numpy as np
import pytest

from tinykeras import layers

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures")
TOLERANCE = 1e-12
#: Cases whose reference is rounded to float32 somewhere, with the measured cause.
LOOSER = {
    # PyTorch's hardsigmoid backward multiplies by 1/6 rounded to float32 (0.1666666716...).
    ("torch", "activation_hard_sigmoid"): 1e-7,
    # Keras promotes float64 with 'float32' to float32 (keras.src.backend.result_type), so its
    # means (GlobalAveragePooling1D) and moments (LayerNormalization) are taken in float32.
    ("keras", "global_average_pooling1d"): 1e-6,
    ("keras", "layer_normalization"): 1e-6,
    ("keras", "layer_normalization_two_axes"): 1e-6,
    ("keras", "layer_normalization_mixed_axes"): 1e-6,
    ("keras", "layer_normalization_unscaled"): 1e-6,
}
SOURCES = {"torch": "torch_layer_catalog.npz", "keras": "keras_layer_catalog_cases.npz"}


def load(source):
    with np.load(os.path.join(FIXTURES, SOURCES[source]), allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    cases = {}
    for key, value in arrays.items():
        if "/" in key:
            case, field = key.split("/")
            cases.setdefault(case, {})[field] = value
    return cases


CASES = {source: load(source) for source in SOURCES}
PARAMETERS = [(source, name) for source in SOURCES for name in sorted(CASES[source])]


def relative_error(actual, expected):
    return float(np.max(np.abs(actual - expected)) / max(np.max(np.abs(expected)), 1e-300))


@pytest.mark.parametrize("source, name", PARAMETERS, ids=[f"{s}-{n}" for s, n in PARAMETERS])
def test_forward_and_gradients_match_the_reference(source, name):
    case = CASES[source][name]
    spec = json.loads(str(case["layer"]))
    layer = getattr(layers, spec["class_name"])(**spec["config"], dtype="float64")
    x = case["x"]
    layer.build_for((None,) + x.shape[1:])
    weights = [case[f"w{i}"] for i in range(sum(key.startswith("w") for key in case))]
    layer.set_weights(weights)
    tolerance = LOOSER.get((source, name), TOLERANCE)

    y = layer(x)
    dx = layer.backward(case["dy"])

    assert y.shape == case["y"].shape
    assert relative_error(y, case["y"]) <= tolerance
    assert relative_error(dx, case["dx"]) <= tolerance
    assert len(layer.grads) == len(weights)
    for i, grad in enumerate(layer.grads):
        assert relative_error(grad, case[f"dw{i}"]) <= tolerance


def test_every_new_layer_class_is_checked_against_both_references():
    checked = {source: {json.loads(str(c["layer"]))["class_name"] for c in CASES[source].values()} for source in SOURCES}
    expected = {"ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "Permute", "RepeatVector", "Cropping2D",
                "UpSampling2D", "Conv1D", "MaxPooling1D", "AveragePooling1D", "GlobalMaxPooling1D",
                "GlobalAveragePooling1D", "LayerNormalization", "Activation", "Conv2DTranspose",
                "DepthwiseConv2D", "SeparableConv2D"}
    assert checked["torch"] == expected and checked["keras"] == expected
