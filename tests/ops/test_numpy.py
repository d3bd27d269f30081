"""tinykeras.ops' NumPy-like ops: values against NumPy, hand-written VJPs against float64 finite
differences over hypothesis shapes (broadcasting, axes, keys), the ops without a gradient, and
ops on symbolic tensors in functional and subclassed models."""
import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from model_gradients import assert_weight_gradients_match
from op_helpers import (
    assert_vjp_matches,
    axes,
    broadcast_shapes,
    distinct,
    reduced_count,
    seeds,
    shapes,
    sizes,
    uniform,
)

import tinykeras as keras
from tinykeras import layers, ops
from tinykeras.ops import numpy as onp

ANY = {}
POSITIVE = {"low": 0.5, "high": 3.0}
AWAY_FROM_ZERO = {"margin": 1e-3}

#: name: (public function, op class, NumPy definition, domain of x1, domain of x2)
BINARY = {
    "add": (ops.add, onp.Add, np.add, ANY, ANY),
    "subtract": (ops.subtract, onp.Subtract, np.subtract, ANY, ANY),
    "multiply": (ops.multiply, onp.Multiply, np.multiply, ANY, ANY),
    "divide": (ops.divide, onp.Divide, np.divide, ANY, {"margin": 0.5}),
    "power": (ops.power, onp.Power, np.power, POSITIVE, ANY),
    "maximum": (ops.maximum, onp.Maximum, np.maximum, ANY, ANY),
    "minimum": (ops.minimum, onp.Minimum, np.minimum, ANY, ANY),
}

#: name: (public function, op class, NumPy definition, domain)
UNARY = {
    "negative": (ops.negative, onp.Negative, np.negative, ANY),
    "square": (ops.square, onp.Square, np.square, ANY),
    "sqrt": (ops.sqrt, onp.Sqrt, np.sqrt, POSITIVE),
    "exp": (ops.exp, onp.Exp, np.exp, ANY),
    "log": (ops.log, onp.Log, np.log, POSITIVE),
    "log1p": (ops.log1p, onp.Log1p, np.log1p, {"low": -0.5, "high": 3.0}),
    "abs": (ops.abs, onp.Absolute, np.abs, AWAY_FROM_ZERO),
    "sign": (ops.sign, onp.Sign, np.sign, AWAY_FROM_ZERO),
}


def logsumexp(x, axis=None, keepdims=False):
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


#: name: (public function, op class, NumPy definition, values with or without ties)
REDUCTIONS = {
    "sum": (ops.sum, onp.Sum, np.sum, uniform),
    "mean": (ops.mean, onp.Mean, np.mean, uniform),
    "max": (ops.max, onp.Max, np.max, distinct),
    "min": (ops.min, onp.Min, np.min, distinct),
    "var": (ops.var, onp.Var, np.var, uniform),
    "std": (ops.std, onp.Std, np.std, uniform),
    "logsumexp": (ops.logsumexp, onp.Logsumexp, logsumexp, uniform),
}


# ---- elementwise -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BINARY))
@settings(max_examples=25, deadline=None)
@given(operand_shapes=broadcast_shapes(), seed=seeds)
@example(operand_shapes=[(3, 1, 4), (2, 4)], seed=0)
@example(operand_shapes=[(), (2, 3)], seed=1)
@example(operand_shapes=[(2, 1), (1, 3)], seed=2)
def test_binary_ops_broadcast_like_numpy_and_differentiate(name, operand_shapes, seed):
    function, cls, definition, domain1, domain2 = BINARY[name]
    x1 = uniform(operand_shapes[0], seed, **domain1)
    x2 = uniform(operand_shapes[1], seed + 1, **domain2)
    np.testing.assert_array_equal(function(x1, x2), definition(x1, x2))
    assume(np.abs(np.subtract(x1, x2)).min(initial=1.0) > 1e-3 or name not in ("maximum", "minimum"))
    assert_vjp_matches(cls, x1, x2, seed=seed)


@pytest.mark.parametrize("name", sorted(UNARY))
@settings(max_examples=20, deadline=None)
@given(shape=shapes(), seed=seeds)
def test_unary_ops_equal_numpy_and_differentiate(name, shape, seed):
    function, cls, definition, domain = UNARY[name]
    x = uniform(shape, seed, **domain)
    np.testing.assert_array_equal(function(x), definition(x))
    assert_vjp_matches(cls, x, seed=seed)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_python_numbers_take_the_type_of_the_array(name):
    """A float in either place keeps a float32 operand float32 (NumPy 2's rule for scalars)."""
    function, _, definition, _, _ = BINARY[name]
    x = np.linspace(0.5, 2.0, 6, dtype=np.float32).reshape(2, 3)
    for y, expected in [(function(x, 1.5), definition(x, 1.5)), (function(1.5, x), definition(1.5, x))]:
        assert y.dtype == np.float32
        np.testing.assert_array_equal(y, expected)


@settings(max_examples=25, deadline=None)
@given(shape=shapes(), seed=seeds, bounds=st.sampled_from([(-0.5, 1.0), (0.0, 0.25), (-3.0, -1.0)]))
def test_clip(shape, seed, bounds):
    x = uniform(shape, seed)
    assume(np.abs(x[..., None] - np.array(bounds)).min(initial=1.0) > 1e-3)
    np.testing.assert_array_equal(ops.clip(x, *bounds), np.clip(x, *bounds))
    assert_vjp_matches(lambda: onp.Clip(*bounds), x, seed=seed)


def test_clip_passes_the_gradient_inside_and_at_its_bounds():
    op = onp.Clip(-1.0, 1.0)
    op.compute(np.array([-2.0, -1.0, 0.0, 1.0, 2.0]))
    np.testing.assert_array_equal(op.vjp(np.full(5, 3.0))[0], [0.0, 3.0, 3.0, 3.0, 0.0])


@settings(max_examples=25, deadline=None)
@given(operand_shapes=broadcast_shapes(count=3), seed=seeds)
@example(operand_shapes=[(2, 3), (), (3,)], seed=0)
def test_where_sends_the_gradient_to_the_chosen_operand(operand_shapes, seed):
    condition = np.random.default_rng(seed).random(operand_shapes[0]) > 0.5
    x1, x2 = uniform(operand_shapes[1], seed + 1), uniform(operand_shapes[2], seed + 2)
    np.testing.assert_array_equal(ops.where(condition, x1, x2), np.where(condition, x1, x2))
    assert_vjp_matches(onp.Where, condition, x1, x2, seed=seed)


@settings(max_examples=10, deadline=None)
@given(shape=shapes(), seed=seeds)
def test_cast(shape, seed):
    x = uniform(shape, seed)
    assert_vjp_matches(lambda: onp.Cast("float64"), x, seed=seed)
    op = onp.Cast("float32")
    y = op.compute(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, x.astype(np.float32))
    grad = op.vjp(np.ones(shape, np.float32))[0]
    assert grad.dtype == np.float64 and grad.shape == x.shape
    integers = onp.Cast("int32")
    np.testing.assert_array_equal(integers.compute(x), x.astype(np.int32))
    assert integers.vjp(np.ones(shape, np.int32)) == (None,)


# ---- reductions --------------------------------------------------------------------------------


@st.composite
def reduction_cases(draw, max_rank=3):
    """A shape, an axis argument for it and keepdims."""
    shape = draw(shapes(0, max_rank))
    return shape, draw(axes(len(shape))), draw(st.booleans())


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@settings(max_examples=25, deadline=None)
@given(case=reduction_cases(), seed=seeds)
@example(case=((2, 3, 4), (0, -1), True), seed=0)
@example(case=((2, 3, 4), -2, False), seed=1)
@example(case=((3, 4), None, True), seed=2)
def test_reductions_over_any_axes(name, case, seed):
    function, cls, definition, values = REDUCTIONS[name]
    shape, axis, keepdims = case
    x = values(shape, seed)
    y = function(x, axis=axis, keepdims=keepdims)
    expected = definition(x, axis=axis, keepdims=keepdims)
    assert np.shape(y) == np.shape(expected)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    assume(reduced_count(shape, axis) > 1 or name != "std")  # std has no gradient where it is 0
    assert_vjp_matches(lambda: cls(axis, keepdims), x, seed=seed)


def test_max_and_min_share_the_gradient_between_ties():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    for cls, ties in [(onp.Max, [[0, 0.5, 0.5], [1 / 3] * 3]), (onp.Min, [[1.0, 0, 0], [1 / 3] * 3])]:
        op = cls(axis=1)
        op.compute(x)
        np.testing.assert_allclose(op.vjp(np.array([6.0, 6.0]))[0], 6 * np.array(ties))


def test_maximum_and_minimum_send_a_tied_gradient_to_the_first_operand():
    x1, x2 = np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0])
    for cls, to_first in [(onp.Maximum, [1.0, 0.0, 1.0]), (onp.Minimum, [1.0, 1.0, 0.0])]:
        op = cls()
        op.compute(x1, x2)
        d1, d2 = op.vjp(np.ones(3))
        np.testing.assert_array_equal(d1, to_first)
        np.testing.assert_array_equal(d2, 1 - np.array(to_first))


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@settings(max_examples=25, deadline=None)
@given(shape=shapes(1, 3), data=st.data(), keepdims=st.booleans(), seed=seeds)
def test_argmax_and_argmin_index_like_numpy_and_have_no_gradient(name, shape, data, keepdims, seed):
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    x = np.random.default_rng(seed).integers(0, 3, shape).astype(np.float64)  # ties: first index
    y = getattr(ops, name)(x, axis=axis, keepdims=keepdims)
    expected = getattr(np, name)(x, axis=axis, keepdims=keepdims)
    assert np.shape(y) == np.shape(expected) and np.asarray(y).dtype.kind == "i"
    np.testing.assert_array_equal(y, expected)
    assert getattr(onp, name.capitalize()).differentiable is False


@settings(max_examples=25, deadline=None)
@given(shape=shapes(), data=st.data(), seed=seeds)
@example(shape=(2, 3), data=None, seed=0)
def test_cumsum(shape, data, seed):
    axis = st.none() | st.integers(-len(shape), len(shape) - 1) if shape else st.none()
    axis = -1 if data is None else data.draw(axis)
    x = uniform(shape, seed)
    np.testing.assert_allclose(ops.cumsum(x, axis=axis), np.cumsum(x, axis=axis), rtol=1e-12, atol=1e-12)
    assert_vjp_matches(lambda: onp.Cumsum(axis), x, seed=seed)


def test_cumsum_of_booleans_counts_in_int32_and_dtype_sets_the_result_s_type():
    flags = np.array([[True, False, True], [True, True, False]])
    np.testing.assert_array_equal(ops.cumsum(flags, axis=1), [[1, 1, 2], [1, 2, 2]])
    assert ops.cumsum(flags).dtype == np.int32
    op = onp.Cumsum(0, dtype="float64")
    y = op.compute(np.ones(3, np.float32))
    assert y.dtype == np.float64 and op.vjp(np.ones(3))[0].dtype == np.float32
    with pytest.raises(ValueError, match=r"ops.cumsum: expected axis in \[-1, 1\).*axis=1"):
        ops.cumsum(np.ones(3), axis=1)


# ---- products ----------------------------------------------------------------------------------


@st.composite
def matmul_shapes(draw):
    """Shapes of x1 and x2 of a matmul: each a vector or a (batched) matrix, batch axes that
    broadcast."""
    m, k, n = draw(sizes), draw(sizes), draw(sizes)
    batch1, batch2 = draw(broadcast_shapes(max_rank=2))
    left = (k,) if draw(st.booleans()) else batch1 + (m, k)
    right = (k,) if draw(st.booleans()) else batch2 + (k, n)
    return left, right


@settings(max_examples=40, deadline=None)
@given(operand_shapes=matmul_shapes(), seed=seeds)
@example(operand_shapes=((3,), (3,)), seed=0)
@example(operand_shapes=((3,), (2, 3, 4)), seed=1)
@example(operand_shapes=((2, 1, 3, 4), (4, 5)), seed=2)
@example(operand_shapes=((2, 1, 3, 4), (5, 4, 2)), seed=3)
@example(operand_shapes=((2, 3, 4), (4,)), seed=4)
def test_matmul_of_vectors_matrices_and_batches(operand_shapes, seed):
    x1, x2 = uniform(operand_shapes[0], seed), uniform(operand_shapes[1], seed + 1)
    np.testing.assert_allclose(ops.matmul(x1, x2), np.matmul(x1, x2), rtol=1e-12)
    assert_vjp_matches(onp.Matmul, x1, x2, seed=seed)


# ---- shapes ------------------------------------------------------------------------------------


@st.composite
def reshapes(draw):
    """A shape and a new shape for it: its sizes in another order, maybe one of them -1."""
    shape = draw(shapes())
    newshape = list(draw(st.permutations(shape)))
    if newshape and draw(st.booleans()):
        newshape[draw(st.integers(0, len(newshape) - 1))] = -1
    return shape, tuple(newshape)


@settings(max_examples=25, deadline=None)
@given(case=reshapes(), seed=seeds)
@example(case=((2, 3, 4), (-1,)), seed=0)
def test_reshape(case, seed):
    shape, newshape = case
    x = uniform(shape, seed)
    np.testing.assert_array_equal(ops.reshape(x, newshape), np.reshape(x, newshape))
    assert_vjp_matches(lambda: onp.Reshape(newshape), x, seed=seed)


@st.composite
def permutations(draw):
    """A shape and an axes argument of transpose: None, or an order of its axes, each maybe
    counted from the end."""
    shape = draw(shapes(1, 4))
    if draw(st.booleans()):
        return shape, None
    order = draw(st.permutations(range(len(shape))))
    return shape, tuple(axis - len(shape) if draw(st.booleans()) else axis for axis in order)


@settings(max_examples=25, deadline=None)
@given(case=permutations(), seed=seeds)
@example(case=((2, 3), (-1, 0)), seed=0)
@example(case=((2, 3, 4), (2, -3, 1)), seed=1)
def test_transpose(case, seed):
    shape, order = case
    x = uniform(shape, seed)
    np.testing.assert_array_equal(ops.transpose(x, order), np.transpose(x, order))
    assert_vjp_matches(lambda: onp.Transpose(order), x, seed=seed)


@settings(max_examples=25, deadline=None)
@given(shape=shapes(), data=st.data(), seed=seeds)
def test_expand_dims(shape, data, seed):
    ndim, count = len(shape), data.draw(st.integers(1, 2))
    places = st.lists(st.integers(0, ndim + count - 1), min_size=count, max_size=count, unique=True)
    axis = data.draw(st.integers(-ndim - 1, ndim) | places.map(tuple))
    x = uniform(shape, seed)
    np.testing.assert_array_equal(ops.expand_dims(x, axis), np.expand_dims(x, axis))
    assert_vjp_matches(lambda: onp.ExpandDims(axis), x, seed=seed)


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.sampled_from([1, 1, 2, 3]), max_size=4).map(tuple), data=st.data(), seed=seeds)
def test_squeeze(shape, data, seed):
    ones = [axis for axis, size in enumerate(shape) if size == 1]
    chosen = data.draw(st.lists(st.sampled_from(ones), unique=True, min_size=1) if ones else st.just([]))
    chosen = [axis - len(shape) if data.draw(st.booleans()) else axis for axis in chosen]
    axis = data.draw(st.sampled_from([None, tuple(chosen)] + chosen[:1]))
    x = uniform(shape, seed)
    np.testing.assert_array_equal(ops.squeeze(x, axis), np.squeeze(x, axis))
    assert_vjp_matches(lambda: onp.Squeeze(axis), x, seed=seed)


@settings(max_examples=25, deadline=None)
@given(operand_shapes=broadcast_shapes(), seed=seeds)
@example(operand_shapes=[(3, 1), (2, 1, 4)], seed=0)
def test_broadcast_to(operand_shapes, seed):
    source, target = operand_shapes[0], np.broadcast_shapes(*operand_shapes)
    x = uniform(source, seed)
    np.testing.assert_array_equal(ops.broadcast_to(x, target), np.broadcast_to(x, target))
    assert_vjp_matches(lambda: onp.BroadcastTo(target), x, seed=seed)


@settings(max_examples=25, deadline=None)
@given(shape=shapes(1, 3), data=st.data(), seed=seeds)
def test_concatenate(shape, data, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    place = axis % len(shape)
    lengths = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    xs = [uniform(shape[:place] + (n,) + shape[place + 1:], seed + i) for i, n in enumerate(lengths)]
    np.testing.assert_array_equal(ops.concatenate(xs, axis=axis), np.concatenate(xs, axis=axis))
    assert_vjp_matches(lambda: onp.Concatenate(axis), *xs, seed=seed)


@settings(max_examples=25, deadline=None)
@given(shape=shapes(), data=st.data(), seed=seeds)
def test_stack(shape, data, seed):
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    xs = [uniform(shape, seed + i) for i in range(data.draw(st.integers(1, 3)))]
    np.testing.assert_array_equal(ops.stack(xs, axis=axis), np.stack(xs, axis=axis))
    assert_vjp_matches(lambda: onp.Stack(axis), *xs, seed=seed)


@st.composite
def indexed(draw):
    """A shape and a key into it: a boolean mask, or per axis a slice (steps, negative ones), an
    int (maybe negative) or an integer array (repeats allowed; all of one length), with None
    inserted, an Ellipsis standing for a run of axes or the last axes left out."""
    shape = draw(shapes(1, 3))
    if draw(st.integers(0, 4)) == 0:
        size = int(np.prod(shape))
        return shape, np.array(draw(st.lists(st.booleans(), min_size=size, max_size=size))).reshape(shape)
    length = draw(st.integers(1, 5))
    parts = []
    for size in shape:
        kind = draw(st.sampled_from(["slice", "int", "array"]))
        if kind == "slice":
            bound = st.none() | st.integers(-size - 1, size + 1)
            parts.append(slice(draw(bound), draw(bound), draw(st.sampled_from([None, 1, 2, -1, -2]))))
        elif kind == "int":
            parts.append(draw(st.integers(-size, size - 1)))
        else:
            parts.append(np.array(draw(st.lists(st.integers(-size, size - 1), min_size=length, max_size=length))))
    form = draw(st.sampled_from(["every axis", "ellipsis", "last axes left out"]))
    if form == "ellipsis":
        start = draw(st.integers(0, len(parts)))
        parts[start : draw(st.integers(start, len(parts)))] = [Ellipsis]
    elif form == "last axes left out":
        parts = parts[: draw(st.integers(1, len(parts)))]
    for _ in range(draw(st.integers(0, 2))):
        parts.insert(draw(st.integers(0, len(parts))), None)
    key = tuple(parts)
    return shape, key[0] if len(key) == 1 and draw(st.booleans()) else key


@settings(max_examples=60, deadline=None)
@given(case=indexed(), seed=seeds)
@example(case=((4, 3), (np.array([0, 0, 3, 0]), slice(None, None, -1))), seed=0)
@example(case=((2, 3, 4), (Ellipsis, None, np.array([1, 1, -1]))), seed=1)
@example(case=((2, 3, 4), (np.array([1, 1]), slice(1, 3), np.array([0, 0]))), seed=2)
@example(case=((3,), -1), seed=3)
def test_get_item(case, seed):
    shape, key = case
    x = uniform(shape, seed)
    np.testing.assert_array_equal(ops.get_item(x, key), x[key])
    assert_vjp_matches(lambda: onp.GetItem(key), x, seed=seed)


# ---- without a gradient ------------------------------------------------------------------------

COMPARISONS = ["equal", "not_equal", "greater", "greater_equal", "less", "less_equal", "logical_and", "logical_or",
               "logical_xor"]
PREDICATES = ["logical_not", "isnan", "isfinite", "isinf"]


@pytest.mark.parametrize("name", COMPARISONS)
def test_comparisons_are_numpy_s_and_have_no_gradient(name):
    x1 = np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]])
    x2 = np.array([1.0, 1.0, 0.0])
    y = getattr(ops, name)(x1, x2)
    assert y.dtype == np.bool_
    np.testing.assert_array_equal(y, getattr(np, name)(x1, x2))
    np.testing.assert_array_equal(getattr(ops, name)(x1, 1.0), getattr(np, name)(x1, 1.0))
    assert onp.Comparison(getattr(np, name)).differentiable is False


@pytest.mark.parametrize("name", PREDICATES)
def test_predicates_are_numpy_s_and_have_no_gradient(name):
    x = np.array([[0.0, -1.5, np.nan], [np.inf, -np.inf, 2.0]])
    y = getattr(ops, name)(x)
    assert y.dtype == np.bool_
    np.testing.assert_array_equal(y, getattr(np, name)(x))


def test_predicates_on_a_model_s_output_record_ops_without_gradient():
    inputs = keras.Input(shape=(3,))
    output = ops.logical_xor(ops.isfinite(ops.log(inputs)), ops.logical_not(ops.greater(inputs, 1.0)))
    assert output.node.layer.differentiable is False
    x = np.array([[-1.0, 0.5, 2.0]], np.float32)
    with np.errstate(invalid="ignore"):
        expected = np.logical_xor(np.isfinite(np.log(x)), ~(x > 1.0))
    np.testing.assert_array_equal(keras.Model(inputs, output).predict(x, verbose=0), expected)


@pytest.mark.parametrize("constant_first", [False, True])
def test_a_bound_op_without_gradient_gives_none_for_each_symbolic_operand(constant_first):
    """As a node of a model's graph, with its constant operand in either place."""
    symbolic, x = object(), np.array([0.0, 1.0])
    op = onp.Comparison(np.greater)
    op.bind([0.5, symbolic] if constant_first else [symbolic, 0.5], lambda operand: operand is symbolic)
    np.testing.assert_array_equal(op.forward([x]), np.greater(0.5, x) if constant_first else np.greater(x, 0.5))
    assert op.backward(np.ones(2)) == [None]
    argmax = onp.Argmax(axis=-1)
    argmax.bind([symbolic], lambda operand: operand is symbolic)
    assert argmax.forward([x]) == 1 and argmax.backward(np.ones(())) == [None]


def test_stop_gradient_passes_values_and_no_gradient():
    x = np.array([-1.0, 2.0])
    np.testing.assert_array_equal(ops.stop_gradient(x), x)
    op = onp.StopGradient()
    op.compute(x)
    assert op.vjp(np.ones(2)) == (None,)


def test_sign_is_numpy_s_with_a_zero_gradient():
    x = np.array([-2.0, -0.0, 0.0, 3.0])
    np.testing.assert_array_equal(ops.sign(x), np.sign(x))
    op = onp.Sign()
    op.compute(x)
    np.testing.assert_array_equal(op.vjp(np.ones(4))[0], np.zeros(4))


def test_abs_has_a_zero_gradient_at_zero():
    op = onp.Absolute()
    op.compute(np.array([-2.0, 0.0, 3.0]))
    np.testing.assert_array_equal(op.vjp(np.full(3, 5.0))[0], [-5.0, 0.0, 5.0])


# ---- float32 in, float32 out -------------------------------------------------------------------

X32 = np.linspace(0.5, 2.0, 12, dtype=np.float32).reshape(3, 4)

#: name: (a function of no arguments returning a fresh op, float32 operands)
FLOAT32_CASES = {
    **{name: (cls, (X32, X32[::-1] + 3)) for name, (_, cls, *_) in BINARY.items()},
    **{name: (cls, (X32,)) for name, (_, cls, *_) in UNARY.items()},
    **{name: ((lambda c: lambda: c(0, False))(cls), (X32,)) for name, (_, cls, *_) in REDUCTIONS.items()},
    "clip": (lambda: onp.Clip(-0.5, 0.5), (X32,)),
    "where": (onp.Where, (X32 > 1, X32, -X32)),
    "matmul": (onp.Matmul, (X32, X32.T)),
    "transpose": (onp.Transpose, (X32,)),
    "concatenate": (onp.Concatenate, (X32, X32)),
    "stack": (onp.Stack, (X32, X32)),
    "get_item": (lambda: onp.GetItem((np.array([0, 0]), slice(1, None))), (X32,)),
    "cumsum": (lambda: onp.Cumsum(1), (X32,)),
}


@pytest.mark.parametrize("name", sorted(FLOAT32_CASES))
def test_float32_operands_give_float32_results_and_gradients(name):
    """As in Keras: an op on float32 tensors computes in float32, and so does its gradient."""
    make_op, operands = FLOAT32_CASES[name]
    op = make_op()
    y = op.compute(*operands)
    assert y.dtype == np.float32
    for grad in op.vjp(np.ones_like(y)):
        assert grad is None or grad.dtype == np.float32, f"{op}: gradient in {grad.dtype}"


# ---- creation ----------------------------------------------------------------------------------


def test_creation_functions_are_numpy_s_in_floatx():
    x = np.arange(6, dtype=np.float64).reshape(2, 3)
    expected = {
        "zeros": (ops.zeros((2, 3)), np.zeros((2, 3), np.float32)),
        "ones": (ops.ones((2, 3)), np.ones((2, 3), np.float32)),
        "full": (ops.full((2, 3), 7.5), np.full((2, 3), 7.5, np.float32)),
        "zeros_like": (ops.zeros_like(x), np.zeros_like(x)),
        "ones_like": (ops.ones_like(x, dtype="float32"), np.ones((2, 3), np.float32)),
        "eye": (ops.eye(3, 4, k=1), np.eye(3, 4, 1, dtype=np.float32)),
        "arange": (ops.arange(1, 7, 2), np.arange(1, 7, 2)),
        "one_hot": (ops.one_hot([2, 0], 3), np.array([[0, 0, 1], [1, 0, 0]], np.float32)),
        "one_hot axis 0": (ops.one_hot([2, 0], 3, axis=0), np.array([[0, 1], [0, 0], [1, 0]], np.float32)),
        "convert_to_tensor": (ops.convert_to_tensor([[1.0, 2.0]]), np.array([[1.0, 2.0]], np.float32)),
        "convert_to_numpy": (ops.convert_to_numpy(x), x),
    }
    for name, (value, reference) in expected.items():
        assert value.dtype == reference.dtype, name
        np.testing.assert_array_equal(value, reference, err_msg=name)
    assert ops.shape(x) == (2, 3) and ops.shape([[1, 2, 3]]) == (1, 3)


# ---- on symbolic tensors -----------------------------------------------------------------------


def test_ops_on_inputs_predict_the_numpy_formula_and_differentiate(float64):
    inputs = keras.Input(shape=(5,))
    dense = layers.Dense(3)
    model = keras.Model(inputs, ops.sum(ops.square(dense(inputs)), axis=-1, keepdims=True))
    assert model.output_shape == (None, 1)
    x, y = uniform((7, 5), 0), uniform((7, 1), 1)
    kernel, bias = dense.get_weights()
    expected = np.sum((x @ kernel + bias) ** 2, axis=-1, keepdims=True)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-12)
    model.compile("sgd", "mse")
    assert_weight_gradients_match(model, x, y)


W = np.linspace(-1.0, 1.0, 12).reshape(4, 3)


def through_many_ops(h, g):
    """A function of two (batch, 4) tensors through most ops, constants in either place; runs on
    arrays (the reference) and on symbolic tensors (a model)."""
    parts = [
        ops.subtract(1.5, ops.multiply(h, g)),
        ops.divide(ops.exp(ops.minimum(h, 1.0)), ops.add(2.0, ops.square(g))),
        ops.where(ops.greater(h, 0.0), ops.log1p(ops.abs(g)), ops.maximum(g, h)),
        ops.power(ops.add(ops.square(g), 0.5), 1.5),
        ops.power(2.0, ops.clip(g, -0.5, 0.5)),
        ops.matmul(h, W),
        ops.sqrt(ops.add(1.0, ops.square(h))),
        ops.negative(ops.log(ops.add(ops.exp(h), 1.0))),
        ops.get_item(h, (slice(None), [0, 0, 3])),
    ]
    joined = ops.concatenate(parts, axis=-1)
    stacked = ops.stack([h, g], axis=1)
    summaries = [
        ops.mean(joined, axis=-1, keepdims=True),
        ops.expand_dims(ops.var(stacked, axis=(1, 2)), -1),
        ops.std(ops.transpose(stacked, (0, 2, 1)), axis=-1),
        ops.reshape(ops.max(stacked, axis=1), (-1, 4)),
        ops.squeeze(ops.min(stacked, axis=-1, keepdims=True), axis=-1),
        ops.logsumexp(ops.reshape(stacked, (-1, 8)), axis=-1, keepdims=True),
        ops.sum(ops.cast(ops.greater(h, g), "float64"), axis=-1, keepdims=True),
    ]
    return ops.concatenate([joined] + summaries, axis=-1)


def test_a_model_through_most_ops_predicts_like_arrays_and_differentiates(float64):
    inputs = keras.Input(shape=(6,))
    first, second = layers.Dense(4), layers.Dense(4)
    model = keras.Model(inputs, through_many_ops(first(inputs), second(inputs)))
    x = uniform((5, 6), 0)
    expected = through_many_ops(first(x), second(x))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-12, atol=1e-12)
    model.compile("sgd", "mse")
    assert_weight_gradients_match(model, x, uniform(expected.shape, 1))


OPERATORS = {
    "a + b": (lambda a, b: a + b, onp.Add),
    "a * 2.0": (lambda a, b: a * 2.0, onp.Multiply),
    "2.0 - a": (lambda a, b: 2.0 - a, onp.Subtract),
    "a / b": (lambda a, b: a / b, onp.Divide),
    "a @ w": (lambda a, b: a @ W.T, onp.Matmul),
    "-a": (lambda a, b: -a, onp.Negative),
    "a ** 2": (lambda a, b: a**2, onp.Power),
    "a[:, 1:3]": (lambda a, b: a[:, 1:3], onp.GetItem),
    "a.T": (lambda a, b: a.T, onp.Transpose),
}


@pytest.mark.parametrize("expression", sorted(OPERATORS))
def test_python_operators_on_symbolic_tensors_record_ops(expression):
    """The same expression on NumPy arrays is the reference."""
    function, cls = OPERATORS[expression]
    a, b = keras.Input(shape=(3,)), keras.Input(shape=(3,))
    output = function(a, b)
    assert type(output.node.layer) is cls
    xa, xb = uniform((4, 3), 0).astype(np.float32), uniform((4, 3), 1, margin=0.5).astype(np.float32)
    reads_b = "b" in expression
    model = keras.Model([a, b] if reads_b else a, output)
    np.testing.assert_allclose(model([xa, xb] if reads_b else xa), function(xa, xb), rtol=1e-6)


def test_argmax_of_a_model_s_output_predicts_class_indices():
    inputs = keras.Input(shape=(5,))
    dense = layers.Dense(3)
    model = keras.Model(inputs, ops.argmax(dense(inputs), axis=-1))
    x = uniform((8, 5), 0).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), np.argmax(dense(x), axis=-1))


class Gated(keras.Model):
    """A gated unit, normalised, then a linear head: its call uses ops and operators."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.value = layers.Dense(6)
        self.gate = layers.Dense(6)
        self.head = layers.Dense(1)

    def call(self, inputs):
        v = self.value(inputs)
        g = ops.sigmoid(self.gate(inputs))
        mixed = v * g + (1.0 - g) * ops.tanh(v)
        centred = mixed - ops.mean(mixed, axis=-1, keepdims=True)
        return self.head(centred / ops.sqrt(ops.var(mixed, axis=-1, keepdims=True) + 1e-3)) + 0.5


def regression_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4))
    return x, np.sin(x[:, :1]) + x[:, 1:2] ** 2


def test_a_subclassed_model_calling_ops_trains():
    x, y = regression_data()
    model = Gated()
    model.compile(keras.optimizers.Adam(0.01), "mse")
    losses = model.fit(x.astype(np.float32), y.astype(np.float32), epochs=20, batch_size=16, verbose=0).history["loss"]
    assert all(np.isfinite(losses)) and losses[-1] < 0.5 * losses[0]


def test_a_subclassed_model_calling_ops_differentiates(float64):
    x, y = regression_data(n=6)
    model = Gated()
    model.compile("sgd", "mse")
    model.build((None, 4))
    assert_weight_gradients_match(model, x, y)


def test_stop_gradient_keeps_the_layers_before_it_unchanged():
    inputs = keras.Input(shape=(4,))
    first, second = layers.Dense(3), layers.Dense(1)
    model = keras.Model(inputs, second(ops.stop_gradient(first(inputs))))
    model.compile("sgd", "mse")
    before = [first.get_weights(), second.get_weights()]
    x, y = regression_data(n=16)
    model.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(before[0], first.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(before[1][0], second.get_weights()[0])


def test_convert_to_tensor_keeps_symbolic_tensors_and_variables_in_a_traced_call():
    """As Keras' own code calls it on its inputs and weights: the gradient still reaches them."""
    import tinykeras as keras
    from tinykeras.utils import check_gradients

    class Scaled(keras.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            x = ops.convert_to_tensor(x)
            return ops.convert_to_tensor(x, dtype="float64") * ops.convert_to_tensor(self.w) ** 2

    layer = Scaled(dtype="float64")
    x = np.random.default_rng(0).standard_normal((3, 2))
    assert set(check_gradients(layer, x)) == {"input", "variable"}
    symbolic = keras.Input((2,))
    assert ops.convert_to_tensor(symbolic) is symbolic
    with pytest.raises(ValueError, match="sparse and ragged tensors are not supported"):
        ops.convert_to_tensor(x, sparse=True)


def test_power_slope_at_an_exponent_of_zero_is_zero():
    import tinykeras as keras

    x = keras.Input((2,))
    model = keras.Model(x, ops.sum(ops.power(x, 0.0), axis=-1, keepdims=True))
    model.compile(loss="mse", optimizer="sgd")
    model.fit(np.zeros((2, 2)), np.zeros((2, 1)), verbose=0)  # no warning, no NaN
