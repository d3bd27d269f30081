"""tinykeras.ops' contractions (einsum, dot, tensordot): values against NumPy's and hand-written
VJPs against float64 finite differences over hypothesis subscripts and shapes (implicit and
explicit outputs, repeated labels, broadcast ellipses), argument errors, and the ops in a model."""
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from model_gradients import assert_weight_gradients_match
from op_helpers import assert_vjp_matches, broadcast_shapes, seeds, shapes, sizes, uniform

import tinykeras as keras
from tinykeras import layers, ops
from tinykeras.ops.einsum import Dot, Einsum, Tensordot

LETTERS = "abcdAB"


@st.composite
def einsum_cases(draw):
    """Subscripts and the shapes of their operands: 1 to 3 operands of 0 to 3 labels each (a
    label may repeat, a diagonal), maybe an ellipsis whose axes broadcast between operands, and
    an implicit output or an explicit one (any labels, in any order, or none)."""
    size_of = {c: draw(sizes) for c in LETTERS}
    count = draw(st.integers(1, 3))
    with_ellipsis = draw(st.booleans())
    batch_shapes = draw(broadcast_shapes(count=count, max_rank=2)) if with_ellipsis else [()] * count
    terms, operand_shapes = [], []
    for batch in batch_shapes:
        letters = draw(st.lists(st.sampled_from(LETTERS), max_size=3))
        shape = [size_of[c] for c in letters]
        if with_ellipsis and draw(st.booleans()):
            place = draw(st.integers(0, len(letters)))
            letters[place:place] = ["..."]
            shape[place:place] = list(batch)
        terms.append("".join(letters))
        operand_shapes.append(tuple(shape))
    subscripts = ",".join(terms)
    if draw(st.booleans()):
        used = sorted(set("".join(terms).replace(".", "")))
        output = draw(st.permutations(used)).copy()[: draw(st.integers(0, len(used)))]
        if "..." in subscripts:
            output.insert(draw(st.integers(0, len(output))), "...")
        subscripts += "->" + "".join(output)
    return subscripts, operand_shapes


@settings(max_examples=80, deadline=None)
@given(case=einsum_cases(), seed=seeds)
@example(case=("ij,jk->ik", [(2, 3), (3, 4)]), seed=0)
@example(case=("ii", [(3, 3)]), seed=1)
@example(case=("iji->j", [(2, 3, 2)]), seed=2)
@example(case=("ij,k", [(2, 3), (4,)]), seed=3)
@example(case=("aB", [(2, 3)]), seed=4)
@example(case=("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]), seed=5)
@example(case=("i...,...i", [(3, 2), (1, 3)]), seed=6)
@example(case=("ij,ij->ij", [(1, 3), (2, 3)]), seed=7)
@example(case=("bi,bj,bk->", [(2, 3), (2, 2), (2, 1)]), seed=8)
def test_einsum_equals_numpy_s_and_differentiates(case, seed):
    subscripts, operand_shapes = case
    xs = [uniform(shape, seed + i) for i, shape in enumerate(operand_shapes)]
    np.testing.assert_allclose(ops.einsum(subscripts, *xs), np.einsum(subscripts, *xs), rtol=1e-12, atol=1e-12)
    assert_vjp_matches(lambda: Einsum(subscripts), *xs, seed=seed)


@st.composite
def dot_shapes(draw):
    """Shapes NumPy's dot takes: a scalar with anything, or x1's last axis against x2's only or
    second to last axis."""
    first, second = draw(shapes(0, 3)), draw(shapes(0, 3))
    if first and second:
        place = len(second) - 2 if len(second) > 1 else 0
        second = second[:place] + (first[-1],) + second[place + 1:]
    return first, second


@settings(max_examples=40, deadline=None)
@given(operand_shapes=dot_shapes(), seed=seeds)
@example(operand_shapes=((), (2, 3)), seed=0)
@example(operand_shapes=((3,), (3,)), seed=1)
@example(operand_shapes=((2, 3), (3,)), seed=2)
@example(operand_shapes=((2, 4, 3), (2, 3, 2)), seed=3)
def test_dot_equals_numpy_s_and_differentiates(operand_shapes, seed):
    x1, x2 = uniform(operand_shapes[0], seed), uniform(operand_shapes[1], seed + 1)
    np.testing.assert_allclose(ops.dot(x1, x2), np.dot(x1, x2), rtol=1e-12, atol=1e-12)
    assert_vjp_matches(Dot, x1, x2, seed=seed)


@st.composite
def tensordot_cases(draw):
    """Shapes of x1 and x2 and an axes argument: an int N (x1's last N axes against x2's first
    N), or two lists pairing axes in any order, maybe counted from the end."""
    first = draw(shapes(0, 3))
    count = draw(st.integers(0, len(first)))
    if draw(st.booleans()):
        return first, first[len(first) - count:] + draw(shapes(0, 2)), count
    summed = draw(st.permutations(range(len(first))))[:count]
    free = draw(shapes(0, 2))
    second, places = list(free), []
    for axis in summed:
        place = draw(st.integers(0, len(second)))
        places = [p + (p >= place) for p in places] + [place]
        second.insert(place, first[axis])
    axes = ([a - len(first) if draw(st.booleans()) else a for a in summed], places)
    return first, tuple(second), axes


@settings(max_examples=40, deadline=None)
@given(case=tensordot_cases(), seed=seeds)
@example(case=((2, 3), (3, 4), 1), seed=0)
@example(case=((2, 3, 4), (4, 3, 5), ([1, 2], [1, 0])), seed=1)
@example(case=((2, 3), (2, 3), 2), seed=2)
@example(case=((2,), (3,), 0), seed=3)
def test_tensordot_equals_numpy_s_and_differentiates(case, seed):
    first, second, axes = case
    x1, x2 = uniform(first, seed), uniform(second, seed + 1)
    np.testing.assert_allclose(ops.tensordot(x1, x2, axes), np.tensordot(x1, x2, axes), rtol=1e-12, atol=1e-12)
    assert_vjp_matches(lambda: Tensordot(axes), x1, x2, seed=seed)


@pytest.mark.parametrize("make_op, operands", [
    (lambda: Einsum("bij,bjk->bik"), ((2, 3, 4), (2, 4, 5))),
    (lambda: Einsum("ii->i"), ((3, 3),)),
    (Dot, ((3, 4), (4, 2))),
    (lambda: Tensordot(([0], [1])), ((3, 4), (2, 3))),
])
def test_float32_operands_give_float32_results_and_gradients(make_op, operands):
    op = make_op()
    y = op.compute(*(np.ones(shape, np.float32) for shape in operands))
    assert y.dtype == np.float32
    assert all(grad.dtype == np.float32 for grad in op.vjp(np.ones_like(y)))


@pytest.mark.parametrize("call, error, message", [
    (lambda: ops.einsum(["ij"], np.ones((2, 2))), TypeError, r"ops.einsum: expected `subscripts` as a string"),
    (lambda: ops.einsum("ij->i->j", np.ones((2, 2))), ValueError, r"at most one '->'"),
    (lambda: ops.einsum("i1", np.ones((2, 2))), ValueError, r"subscripts='i1'"),
    (lambda: ops.einsum("ij,jk", np.ones((2, 2))), ValueError, r"name 2 operand\(s\). Received: 1"),
    (lambda: ops.dot(np.ones((2, 3)), np.ones((2, 3))), ValueError, r"ops.dot: .*x1.shape=\(2, 3\), x2.shape=\(2, 3\)"),
    (lambda: ops.tensordot(np.ones((2, 3)), np.ones(3), 3), ValueError, r"int axes in \[0, 1\]. Received: axes=3"),
    (lambda: ops.tensordot(np.ones((2, 3)), np.ones(3), ([0, 1], [0])), ValueError, r"as many axes of x1 as of x2"),
    (lambda: ops.tensordot(np.ones((2, 3)), np.ones(3), ([0], [0])), ValueError, r"the same sizes"),
    (lambda: ops.tensordot(np.ones((2, 3)), np.ones(3), "ab"), TypeError, r"an int or a pair"),
])
def test_wrong_arguments_are_named_in_the_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


W = np.linspace(-1.0, 1.0, 12).reshape(4, 3)


def through_contractions(h, g):
    """Two (batch, 4) tensors through einsum, dot and tensordot; runs on arrays and on symbolic
    tensors."""
    outer = ops.einsum("bi,bj->bij", h, g)
    return ops.concatenate([
        ops.reshape(outer, (-1, 16)),
        ops.einsum("bii->bi", outer),
        ops.einsum("bi,ij->bj", h, W),
        ops.einsum("...i,...i->...", h, g)[:, None],
        ops.dot(g, W),
        ops.tensordot(h, W, axes=1),
        ops.tensordot(outer, W, axes=([2], [0]))[:, 0],
    ], axis=-1)


def test_a_model_through_contractions_predicts_like_arrays_and_differentiates(float64):
    inputs = keras.Input(shape=(5,))
    first, second = layers.Dense(4), layers.Dense(4)
    model = keras.Model(inputs, through_contractions(first(inputs), second(inputs)))
    x = uniform((3, 5), 0)
    expected = through_contractions(first(x), second(x))
    assert model.output_shape == (None, expected.shape[1])
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-12, atol=1e-12)
    model.compile("sgd", "mse")
    assert_weight_gradients_match(model, x, uniform(expected.shape, 1))


class Bilinear(keras.layers.Layer):
    """y_k = x1^T W_k x2 with a (units, d1, d2) weight: one einsum."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(self.units, input_shape[-1], input_shape[-1]), initializer="glorot_uniform")

    def call(self, inputs):
        return ops.einsum("bi,kij,bj->bk", inputs, self.w, inputs)


def test_a_custom_layer_calling_einsum_on_its_weight_differentiates(float64):
    model = keras.Sequential([keras.Input(shape=(3,)), Bilinear(2), layers.Dense(1)])
    model.compile("sgd", "mse")
    assert_weight_gradients_match(model, uniform((4, 3), 0), uniform((4, 1), 1))
