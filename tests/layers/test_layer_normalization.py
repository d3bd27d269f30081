"""LayerNormalization: each sample normalized over its own axes, then scaled and shifted.

Over hypothesis-drawn shapes, axis sets, center/scale and weights, the forward is compared with
the formula computed per sample here, and the hand-written backward (input, gamma, beta) with
finite differences. Example tests pin Keras' defaults, weight shapes and order, the axis list a
built layer reports, and the error messages. PyTorch's ``layer_norm`` and Keras' own numbers
are compared in test_layer_catalog_references.py.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinykeras.layers import LayerNormalization
from tinykeras.utils import check_gradients


@st.composite
def cases(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=2, max_size=4)))
    ndim = len(shape)
    axes = draw(st.lists(st.integers(1, ndim - 1), min_size=1, max_size=ndim - 1, unique=True))
    if draw(st.booleans()):
        axes = [a - ndim for a in axes]
    axis = axes[0] if len(axes) == 1 and draw(st.booleans()) else axes
    return {"shape": shape, "axis": axis, "center": draw(st.booleans()), "scale": draw(st.booleans()),
            "epsilon": draw(st.sampled_from([1e-3, 1e-5, 0.5])), "seed": draw(st.integers(0, 2**32 - 1))}


def per_sample_reference(x, axes, gamma, beta, epsilon):
    """The normalization of each sample's groups along ``axes``, one group at a time."""
    y = np.empty_like(x)
    others = [a for a in range(x.ndim) if a not in axes]
    moved = np.moveaxis(x, others + list(axes), range(x.ndim))
    out = np.moveaxis(y, others + list(axes), range(x.ndim))
    for index in np.ndindex(*moved.shape[: len(others)]):
        group = moved[index]
        out[index] = (group - group.mean()) / np.sqrt(group.var() + epsilon)
    return y * gamma + beta


@settings(max_examples=60, deadline=None)
@given(case=cases())
def test_forward_is_the_per_sample_formula_and_backward_passes_the_check(case):
    rng = np.random.default_rng(case["seed"])
    shape = case["shape"]
    layer = LayerNormalization(axis=case["axis"], epsilon=case["epsilon"], center=case["center"],
                               scale=case["scale"], dtype="float64")
    layer.build_for((None,) + shape[1:])
    axes = sorted(a % len(shape) for a in np.atleast_1d(case["axis"]))
    broadcast = [shape[a] if a in axes else 1 for a in range(len(shape))]
    weights = [rng.uniform(0.5, 1.5, v.shape) for v in layer.get_weights()]
    layer.set_weights(weights)
    # gamma and beta hold the normalized axes' sizes in the order of the sorted axis list, and are
    # reshaped to broadcast against the input, as Keras does.
    gamma = weights[0].reshape(broadcast) if case["scale"] else 1.0
    beta = weights[-1].reshape(broadcast) if case["center"] else 0.0
    x = rng.standard_normal(shape) * 2 + 1
    expected = per_sample_reference(x, axes, gamma, beta, case["epsilon"])
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12, atol=1e-12)
    expected_names = (["gamma"] if case["scale"] else []) + (["beta"] if case["center"] else [])
    assert set(check_gradients(layer, x)) == {"input", *expected_names}


def test_keras_defaults_weights_and_config():
    layer = LayerNormalization()
    assert (layer.axis, layer.epsilon, layer.center, layer.scale) == (-1, 1e-3, True, True)
    layer.build_for((None, 5, 6))
    assert [(v.name, v.shape) for v in layer.weights] == [("gamma", (6,)), ("beta", (6,))]
    gamma, beta = layer.get_weights()
    np.testing.assert_array_equal(gamma, np.ones(6))
    np.testing.assert_array_equal(beta, np.zeros(6))
    assert layer.get_config()["axis"] == [-1]  # a built layer reports its axes as a sorted list, as Keras
    wide = LayerNormalization(axis=[3, 1])
    wide.build_for((None, 2, 3, 4))
    assert wide.axis == [1, 3] and wide.gamma.shape == (2, 4)


def test_training_and_inference_normalize_the_same_way(rng):
    layer = LayerNormalization(dtype="float64")
    x = rng.standard_normal((4, 7)) * 3 + 2
    np.testing.assert_array_equal(layer(x, training=True), layer(x))
    y = layer(x)
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=-1), 9 / (9 + 1e-3) * np.ones(4), rtol=0.05)


def test_errors_name_the_layer_and_the_axis():
    with pytest.raises(TypeError, match=r"LayerNormalization: axis must be an integer or a list of integers, e\.g\. axis=-1\. Received: axis='last'"):
        LayerNormalization(axis="last")
    with pytest.raises(ValueError, match=r"LayerNormalization: epsilon must be positive and finite\. Received: epsilon=0\."):
        LayerNormalization(epsilon=0)
    with pytest.raises(TypeError, match=r"LayerNormalization: center must be True or False\. Received: center=1"):
        LayerNormalization(center=1)
    with pytest.raises(ValueError, match=r"\(LayerNormalization\): axis=\[0\] must name distinct axes of the sample \(not the batch axis 0\)"):
        LayerNormalization(axis=[0]).build_for((None, 4))
    with pytest.raises(ValueError, match=r"axis=3 must name distinct axes .*of an input of shape \(None, 4, 5\)"):
        LayerNormalization(axis=3).build_for((None, 4, 5))
    with pytest.raises(ValueError, match=r"needs the sizes of the normalized axes \[1\] to be known"):
        LayerNormalization(axis=1).build_for((None, None, 5))
