"""Merge layers: Keras' outputs and shapes, and hand-derived gradients checked in float64."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinykeras as keras
from tinykeras import Sequential, layers
from tinykeras.utils import check_gradients

ELEMENTWISE = {
    "Add": (layers.Add, lambda xs: sum(xs)),
    "Multiply": (layers.Multiply, lambda xs: np.prod(np.broadcast_arrays(*xs), axis=0)),
    "Average": (layers.Average, lambda xs: sum(xs) / len(xs)),
    "Maximum": (layers.Maximum, lambda xs: np.max(np.broadcast_arrays(*xs), axis=0)),
    "Minimum": (layers.Minimum, lambda xs: np.min(np.broadcast_arrays(*xs), axis=0)),
}


@st.composite
def broadcastable_inputs(draw, count=None):
    """2 to 4 float64 arrays of one rank (2 to 4) whose sizes are the batch's or 1 per axis."""
    rank = draw(st.integers(2, 4))
    full = [draw(st.integers(1, 4)) for _ in range(rank)]
    count = count or draw(st.integers(2, 4))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    arrays = []
    for _ in range(count):
        shape = [size if draw(st.booleans()) else 1 for size in full]
        arrays.append(rng.standard_normal(shape))
    return arrays


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@settings(max_examples=25, deadline=None, derandomize=True)
@given(inputs=broadcastable_inputs())
def test_elementwise_merges_compute_and_differentiate_like_numpy(name, inputs):
    cls, reference = ELEMENTWISE[name]
    np.testing.assert_allclose(cls()(inputs), reference(inputs).astype(np.float32), rtol=1e-6, atol=1e-6)
    check_gradients(cls(dtype="float64"), inputs)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(inputs=broadcastable_inputs(count=2))
def test_subtract(inputs):
    np.testing.assert_allclose(layers.Subtract()(inputs), (inputs[0] - inputs[1]).astype(np.float32), rtol=1e-6, atol=1e-6)
    check_gradients(layers.Subtract(dtype="float64"), inputs)


def test_maximum_and_minimum_send_a_tied_gradient_to_the_earlier_input():
    """TensorFlow's rule (maximum(a, b) passes the gradient to a where a >= b), which Keras on
    TensorFlow trains with."""
    a = np.array([[1.0, 2.0, 3.0]])
    b = np.array([[1.0, 5.0, 3.0]])
    for cls in (layers.Maximum, layers.Minimum):
        layer = cls(dtype="float64")
        layer([a, b])
        da, db = layer.backward(np.ones((1, 3)))
        winner_b = 1 if cls is layers.Maximum else 0
        np.testing.assert_array_equal(da, [[1.0, 1 - winner_b, 1.0]])
        np.testing.assert_array_equal(db, [[0.0, winner_b, 0.0]])


@settings(max_examples=25, deadline=None, derandomize=True)
@given(sizes=st.lists(st.integers(1, 4), min_size=2, max_size=4), axis=st.sampled_from([1, 2, -1]), seed=st.integers(0, 99))
def test_concatenate(sizes, axis, seed):
    rng = np.random.default_rng(seed)
    base = [2, 3, 4]
    arrays = []
    for size in sizes:
        shape = list(base)
        shape[axis] = size
        arrays.append(rng.standard_normal(shape))
    layer = layers.Concatenate(axis=axis)
    np.testing.assert_array_equal(layer(arrays), np.concatenate(arrays, axis=axis).astype(np.float32))
    check_gradients(layers.Concatenate(axis=axis, dtype="float64"), arrays)


def test_concatenate_output_shape_and_errors():
    assert layers.Concatenate().compute_output_shape([(None, 3), (None, 5)]) == (None, 8)
    assert layers.Concatenate(axis=1).compute_output_shape([(None, 2, 4), (None, None, 4)]) == (None, None, 4)
    with pytest.raises(ValueError, match=r"must match on every axis but axis -1.*\(None, 2, 4\), \(None, 3, 4\)"):
        layers.Concatenate().compute_output_shape([(None, 2, 4), (None, 3, 4)])
    with pytest.raises(ValueError, match=r"axis=0 is not a feature axis"):
        layers.Concatenate(axis=0).compute_output_shape([(None, 2), (None, 2)])


@pytest.mark.parametrize("normalize", [False, True])
@settings(max_examples=20, deadline=None, derandomize=True)
@given(n=st.integers(1, 5), seed=st.integers(0, 99))
def test_dot_of_vectors(normalize, n, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((3, n)), rng.standard_normal((3, n))
    y = layers.Dot(axes=1, normalize=normalize)([a, b])
    if normalize:
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
    assert y.shape == (3, 1)
    np.testing.assert_allclose(y[:, 0], (a * b).sum(axis=1), rtol=1e-5, atol=1e-6)
    check_gradients(layers.Dot(axes=1, normalize=normalize, dtype="float64"), [rng.standard_normal((3, n)), rng.standard_normal((3, n))])


@pytest.mark.parametrize(("axes", "shapes", "expected"), [
    ((2, 1), [(2, 3, 4), (2, 4, 5)], "bik,bkn->bin"),
    ((1, 1), [(2, 3, 4), (2, 3, 5)], "bkj,bkn->bjn"),
    ((2, 2), [(2, 3, 4), (2, 5, 4)], "bik,bmk->bim"),
    ((-1, 1), [(2, 3, 4), (2, 4, 5)], "bik,bkn->bin"),
])
@pytest.mark.parametrize("normalize", [False, True])
def test_dot_of_matrices_is_a_batched_product(axes, shapes, expected, normalize):
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal(shape) for shape in shapes)
    layer = layers.Dot(axes=axes, normalize=normalize)
    y = layer([a, b])
    if normalize:
        a = a / np.linalg.norm(a, axis=axes[0], keepdims=True)
        b = b / np.linalg.norm(b, axis=axes[1], keepdims=True)
    np.testing.assert_allclose(y, np.einsum(expected, a, b), rtol=1e-5, atol=1e-5)
    assert layer.compute_output_shape([(None,) + s[1:] for s in shapes]) == (None,) + y.shape[1:]
    check_gradients(layers.Dot(axes=axes, normalize=normalize, dtype="float64"), [rng.standard_normal(s) for s in shapes])


def test_dot_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"summed axes differ in size: 3.*4"):
        layers.Dot(axes=1)([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match=r"rank 2 or 3"):
        layers.Dot(axes=1)([np.ones((2, 3, 4, 5)), np.ones((2, 3, 4, 5))])
    with pytest.raises(TypeError, match=r"axes must be an integer or a pair"):
        layers.Dot(axes=True)
    with pytest.raises(ValueError, match=r"exactly 2 inputs"):
        layers.Dot(axes=1)([np.ones((2, 3))] * 3)


def test_merge_layers_refuse_one_tensor_and_mismatched_inputs():
    with pytest.raises(ValueError, match=r"merges a list of tensors.*Add\(\)\(\[a, b\]\).*cannot be one of its layers"):
        Sequential([layers.Input(shape=(4,)), layers.Add()])
    with pytest.raises(ValueError, match=r"at least 2 inputs; received 1"):
        layers.Add()([np.ones((2, 3))])
    with pytest.raises(ValueError, match=r"exactly 2 inputs; received 3"):
        layers.Subtract()([np.ones((2, 3))] * 3)
    with pytest.raises(ValueError, match=r"incompatible shapes"):
        layers.Add()([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match=r"inputs of one rank.*tinykeras does not insert axes"):
        layers.Multiply()([np.ones((2, 3)), np.ones((2, 3, 1))])


def test_a_wrong_merge_backward_is_caught_by_the_checker():
    class Wrong(layers.Multiply):
        def merge_backward(self, dy):
            return [dy * x for x in self._x]  # each input's own value instead of the other's

    rng = np.random.default_rng(0)
    with pytest.raises(AssertionError, match=r"gradient of 'input_0'"):
        check_gradients(Wrong(dtype="float64"), [rng.standard_normal((2, 3)), rng.standard_normal((2, 3))])


FUNCTIONAL_FORMS = {
    "add": layers.Add, "subtract": layers.Subtract, "multiply": layers.Multiply,
    "average": layers.Average, "maximum": layers.Maximum, "minimum": layers.Minimum,
    "concatenate": layers.Concatenate, "dot": layers.Dot,
}


@pytest.mark.parametrize("name", sorted(FUNCTIONAL_FORMS))
def test_functional_forms_build_the_layer_and_call_it(name):
    """``layers.add([a, b])`` is ``layers.Add()([a, b])`` (``Dot(axes=-1)`` for ``dot``), on
    arrays and on symbolic tensors, with keyword arguments passed to the layer."""
    cls, form = FUNCTIONAL_FORMS[name], getattr(layers, name)
    layer = cls(axes=-1) if cls is layers.Dot else cls()
    a, b = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(form([a, b]), layer([a, b]))
    x, y = keras.Input(shape=(4,)), keras.Input(shape=(4,))
    model = keras.Model([x, y], form([x, y], name="merged"))
    assert type(model.get_layer("merged")) is cls
    np.testing.assert_array_equal(model.predict([a, b], verbose=0), layer([a, b]))


def test_functional_forms_pass_their_arguments():
    x, y = keras.Input(shape=(2, 4)), keras.Input(shape=(2, 4))
    assert layers.concatenate([x, y], axis=1).shape == (None, 4, 4)
    assert layers.dot([x, y], axes=(2, 2), normalize=True).shape == (None, 2, 2)


def test_configs():
    assert layers.Concatenate(axis=1, name="c").get_config()["axis"] == 1
    config = layers.Dot(axes=(1, 2), normalize=True).get_config()
    assert config["axes"] == (1, 2) and config["normalize"] is True


def test_outputs_equal_those_real_keras_computed():
    """tests/fixtures/keras_merge_cases.json: Keras 3's outputs (written by
    make_keras_fixtures.py) for Dot with each kind of axes, with and without normalize, the
    broadcasting elementwise merges, and Concatenate."""
    import json
    import os

    path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "keras_merge_cases.json")
    with open(path) as f:
        cases = json.load(f)["cases"]
    assert {case["layer"] for case in cases} == {
        "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot"
    }
    for case in cases:
        layer = getattr(layers, case["layer"])(**case["config"])
        output = layer([np.array(x, np.float32) for x in case["inputs"]])
        np.testing.assert_allclose(output, np.array(case["output"], np.float32), rtol=0, atol=1e-6,
                                   err_msg=f"{case['layer']} {case['config']}")
