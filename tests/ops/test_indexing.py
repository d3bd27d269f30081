"""tinykeras.ops that pick, repeat or move values (take, take_along_axis, repeat, tile, pad,
flip, roll, split): values against NumPy, hand-written VJPs against float64 finite differences
over hypothesis shapes, axes and indices (negative and repeated ones), argument errors, and the
ops in models."""
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from model_gradients import assert_weight_gradients_match
from op_helpers import assert_vjp_matches, seeds, shapes, sizes, uniform

import tinykeras as keras
from tinykeras import layers, ops
from tinykeras.ops import indexing


def axis_of(data, shape, allow_none=True):
    """An axis of ``shape``, maybe counted from the end, or None."""
    axis = st.integers(-len(shape), len(shape) - 1) if shape else st.nothing()
    return data.draw(st.none() | axis if allow_none else axis)


def indices_into(data, size, max_rank=2):
    """An integer array of indices in [-size, size), repeats allowed."""
    shape = data.draw(shapes(0, max_rank))
    return np.array(data.draw(st.lists(st.integers(-size, size - 1), min_size=int(np.prod(shape)),
                                       max_size=int(np.prod(shape))))).reshape(shape).astype(np.int64)


@settings(max_examples=40, deadline=None)
@given(shape=shapes(1, 3), data=st.data(), seed=seeds)
@example(shape=(3, 2), data=None, seed=0)
def test_take(shape, data, seed):
    if data is None:
        axis, indices = 0, np.array([[0, -1], [0, 0]])
    else:
        axis = axis_of(data, shape)
        indices = indices_into(data, int(np.prod(shape)) if axis is None else shape[axis])
    x = uniform(shape, seed)
    np.testing.assert_array_equal(ops.take(x, indices, axis=axis), np.take(x, indices, axis=axis))
    assert_vjp_matches(lambda: indexing.Take(axis), x, indices, seed=seed)


def test_take_adds_up_the_gradients_of_a_repeated_index():
    op = indexing.Take(axis=0)
    op.compute(np.zeros((3, 2)), np.array([2, -1, 0]))
    np.testing.assert_array_equal(op.vjp(np.array([[1.0, 2.0], [10.0, 20.0], [5.0, 5.0]]))[0],
                                  [[5.0, 5.0], [0.0, 0.0], [11.0, 22.0]])


@settings(max_examples=40, deadline=None)
@given(shape=shapes(1, 3), data=st.data(), seed=seeds)
def test_take_along_axis(shape, data, seed):
    axis = axis_of(data, shape)
    if axis is None:
        size, index_shape = int(np.prod(shape)), (data.draw(sizes),)
    else:
        size = shape[axis]
        index_shape = tuple(data.draw(st.sampled_from([n, 1])) for n in shape)
        index_shape = index_shape[:axis % len(shape)] + (data.draw(sizes),) + index_shape[axis % len(shape) + 1:]
    count = int(np.prod(index_shape))
    values = data.draw(st.lists(st.integers(-size, size - 1), min_size=count, max_size=count))
    indices = np.array(values, dtype=np.int64).reshape(index_shape)
    x = uniform(shape, seed)
    np.testing.assert_array_equal(ops.take_along_axis(x, indices, axis=axis),
                                  np.take_along_axis(x, indices, axis=axis))
    assert_vjp_matches(lambda: indexing.TakeAlongAxis(axis), x, indices, seed=seed)


def test_take_along_axis_broadcasts_x_and_indices_against_each_other():
    """x's axis 1 of size 1 against 5 rows of indices."""
    x = uniform((2, 1, 3), 0)
    indices = np.array([[[0, -1], [2, 2], [1, 0], [0, 0], [2, 1]], [[1, 1], [0, 2], [-3, 0], [2, 2], [1, 0]]])
    np.testing.assert_array_equal(ops.take_along_axis(x, indices, axis=2), np.take_along_axis(x, indices, axis=2))
    assert_vjp_matches(lambda: indexing.TakeAlongAxis(2), x, indices)


@settings(max_examples=40, deadline=None)
@given(shape=shapes(0, 3), data=st.data(), seed=seeds)
@example(shape=(2, 3), data=None, seed=0)
def test_repeat(shape, data, seed):
    if data is None:
        axis, repeats = 1, [2, 0, 1]
    else:
        axis = axis_of(data, shape)
        size = int(np.prod(shape)) if axis is None else shape[axis]
        counts = st.lists(st.integers(0, 3), min_size=size, max_size=size)
        repeats = data.draw(st.integers(0, 3) | counts | st.just([2]))
    x = uniform(shape, seed)
    np.testing.assert_array_equal(ops.repeat(x, repeats, axis=axis), np.repeat(x, repeats, axis=axis))
    assert_vjp_matches(lambda: indexing.Repeat(repeats, axis), x, seed=seed)


@settings(max_examples=40, deadline=None)
@given(shape=shapes(0, 3), repeats=st.integers(0, 3) | st.lists(st.integers(0, 3), max_size=4), seed=seeds)
@example(shape=(2, 3), repeats=[2, 1, 1, 2], seed=0)
def test_tile(shape, repeats, seed):
    x = uniform(shape, seed)
    np.testing.assert_array_equal(ops.tile(x, repeats), np.tile(x, repeats))
    assert_vjp_matches(lambda: indexing.Tile(repeats), x, seed=seed)


@st.composite
def pad_widths(draw, ndim):
    """A pad_width for a rank: an int, (before, after), or one pair per axis."""
    width = st.integers(0, 5)
    return draw(st.one_of(width, st.tuples(width, width),
                          st.tuples(*[st.tuples(width, width)] * ndim) if ndim else st.just(0)))


@pytest.mark.parametrize("mode", indexing.PAD_MODES)
@settings(max_examples=25, deadline=None)
@given(shape=shapes(0, 3), data=st.data(), seed=seeds)
@example(shape=(3, 2), data=None, seed=0)
def test_pad(mode, shape, data, seed):
    """Widths up to 5 on axes of 1 to 4: reflections of reflections, wrapped copies."""
    pad_width = ((5, 4), (1, 3)) if data is None else data.draw(pad_widths(len(shape)))
    x = uniform(shape, seed)
    np.testing.assert_array_equal(ops.pad(x, pad_width, mode=mode), np.pad(x, pad_width, mode=mode))
    assert_vjp_matches(lambda: indexing.Pad(pad_width, mode), x, seed=seed)


def test_pad_with_constant_values():
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(ops.pad(x, ((1, 0), (0, 2)), constant_values=-1.5),
                                  np.pad(x, ((1, 0), (0, 2)), constant_values=-1.5))


@settings(max_examples=30, deadline=None)
@given(shape=shapes(0, 3), data=st.data(), seed=seeds)
def test_flip(shape, data, seed):
    several = st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1, unique_by=lambda a: a % len(shape))
    axis = data.draw(st.none() | several.map(tuple)) if shape else None
    axis = axis[0] if axis and len(axis) == 1 and data.draw(st.booleans()) else axis
    x = uniform(shape, seed)
    np.testing.assert_array_equal(ops.flip(x, axis=axis), np.flip(x, axis=axis))
    assert_vjp_matches(lambda: indexing.Flip(axis), x, seed=seed)


@settings(max_examples=30, deadline=None)
@given(shape=shapes(0, 3), data=st.data(), shift=st.integers(-5, 5), seed=seeds)
@example(shape=(2, 3), data=None, shift=(1, -4), seed=0)
def test_roll(shape, data, shift, seed):
    axis = (0, -1) if data is None else axis_of(data, shape)
    x = uniform(shape, seed)
    np.testing.assert_array_equal(ops.roll(x, shift, axis=axis), np.roll(x, shift, axis=axis))
    assert_vjp_matches(lambda: indexing.Roll(shift, axis), x, seed=seed)


@settings(max_examples=30, deadline=None)
@given(shape=shapes(1, 3), data=st.data(), seed=seeds)
def test_split_cuts_like_numpy_into_slices(shape, data, seed):
    axis = axis_of(data, shape, allow_none=False)
    size = shape[axis]
    sections = data.draw(st.sampled_from([d for d in range(1, size + 1) if size % d == 0])
                         | st.lists(st.integers(-size - 1, size + 1), max_size=3))
    x = uniform(shape, seed)
    pieces = ops.split(x, sections, axis=axis)
    expected = np.split(x, sections, axis=axis)
    assert isinstance(pieces, list) and len(pieces) == len(expected)
    for piece, reference in zip(pieces, expected):
        np.testing.assert_array_equal(piece, reference)


FLOAT32_CASES = {
    "take": (lambda: indexing.Take(1), (np.ones((2, 3), np.float32), np.array([2, 2]))),
    "take_along_axis": (lambda: indexing.TakeAlongAxis(0), (np.ones((2, 3), np.float32), np.zeros((1, 3), int))),
    "repeat": (lambda: indexing.Repeat(2, 0), (np.ones((2, 3), np.float32),)),
    "repeat each": (lambda: indexing.Repeat([1, 2, 0], 1), (np.ones((2, 3), np.float32),)),
    "tile": (lambda: indexing.Tile((2, 1)), (np.ones((2, 3), np.float32),)),
    "pad": (lambda: indexing.Pad(1), (np.ones((2, 3), np.float32),)),
    "pad reflect": (lambda: indexing.Pad(1, "reflect"), (np.ones((2, 3), np.float32),)),
    "flip": (indexing.Flip, (np.ones((2, 3), np.float32),)),
    "roll": (lambda: indexing.Roll(1), (np.ones((2, 3), np.float32),)),
}


@pytest.mark.parametrize("name", sorted(FLOAT32_CASES))
def test_float32_operands_give_float32_results_and_gradients(name):
    make_op, operands = FLOAT32_CASES[name]
    op = make_op()
    y = op.compute(*operands)
    grads = op.vjp(np.ones_like(y))
    assert y.dtype == np.float32 and grads[0].dtype == np.float32 and all(g is None for g in grads[1:])


@pytest.mark.parametrize("call, error, message", [
    (lambda: ops.take(np.ones((2, 3)), [0], axis=2), ValueError, r"ops.take: expected axis in \[-2, 2\).*axis=2"),
    (lambda: ops.take(np.ones((2, 3)), [0.5]), TypeError, r"ops.take: expected integer indices.*float64"),
    (lambda: ops.take(np.ones((2, 3)), [0], axis=(0,)), TypeError, r"ops.take: expected axis as an int"),
    (lambda: ops.take_along_axis(np.ones((2, 3)), np.zeros(2, int), axis=1), ValueError, r"rank of x \(2\).*\(2,\)"),
    (lambda: ops.repeat(np.ones(3), -1), ValueError, r"ops.repeat: .*repeats=-1"),
    (lambda: ops.repeat(np.ones(3), [1, 2]), ValueError, r"ops.repeat: .*Received: 2 counts"),
    (lambda: ops.tile(np.ones(3), 1.5), ValueError, r"ops.tile: .*repeats=1.5"),
    (lambda: ops.pad(np.ones(3), 1, mode="mean"), ValueError, r"ops.pad: mode 'mean' is not supported.*'reflect'"),
    (lambda: ops.pad(np.ones(3), 1, mode="reflect", constant_values=1), ValueError, r"only .* with mode='constant'"),
    (lambda: ops.pad(np.ones(3), -1), ValueError, r"ops.pad: .*pad_width=-1"),
    (lambda: ops.pad(np.ones(3), ((1, 1), (1, 1))), ValueError, r"one \(before, after\) per axis of x \(1\)"),
    (lambda: ops.flip(np.ones(3), axis=(0, 1)), ValueError, r"ops.flip: .*axis=\(0, 1\)"),
    (lambda: ops.roll(np.ones(3), 1.0), TypeError, r"ops.roll: expected shift"),
    (lambda: ops.split(np.ones(5), 2), ValueError, r"ops.split: .*indices_or_sections=2, x.shape=\(5,\)"),
    (lambda: ops.split(np.ones(5), "2"), TypeError, r"ops.split: expected indices_or_sections"),
    (lambda: ops.split(keras.Input(shape=(4,)), 2, axis=0), ValueError, r"ops.split: .*known only when the model runs"),
])
def test_wrong_arguments_are_named_in_the_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def rearranged(h):
    """A (batch, 4) tensor through every op here; runs on arrays and on symbolic tensors."""
    first, rest = ops.split(h, [1], axis=-1)
    halves = ops.split(h, 2, axis=1)
    return ops.concatenate([
        ops.take(h, [3, 0, 0, -1], axis=1),
        ops.take_along_axis(h, np.array([[2, 2, 1]]), axis=1),
        ops.repeat(first, 3, axis=1),
        ops.repeat(rest, [0, 2, 1], axis=-1),
        ops.tile(halves[1], (1, 2)),
        ops.pad(h, ((0, 0), (1, 2)), constant_values=0.5),
        ops.pad(h, ((0, 0), (3, 2)), mode="reflect"),
        ops.pad(halves[0], ((0, 0), (2, 1)), mode="symmetric"),
        ops.flip(h, axis=-1),
        ops.roll(h, 1, axis=1),
    ], axis=-1)


def test_a_model_through_indexing_ops_predicts_like_arrays_and_differentiates(float64):
    inputs = keras.Input(shape=(5,))
    dense = layers.Dense(4)
    model = keras.Model(inputs, rearranged(dense(inputs)))
    x = uniform((3, 5), 0)
    expected = rearranged(dense(x))
    assert model.output_shape == (None, expected.shape[1])
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-12, atol=1e-12)
    model.compile("sgd", "mse")
    assert_weight_gradients_match(model, x, uniform(expected.shape, 1))


class Embedding(keras.layers.Layer):
    """Rows of a (vocabulary, units) weight looked up by integer ids with ops.take (the ids
    cast to integers, as Keras' Embedding does)."""

    def __init__(self, vocabulary, units, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary, self.units = vocabulary, units

    def build(self, input_shape):
        self.table = self.add_weight(shape=(self.vocabulary, self.units), initializer="random_normal")

    def call(self, ids):
        return ops.sum(ops.take(self.table, ops.cast(ids, "int32"), axis=0), axis=1)


def test_an_embedding_on_take_gets_the_summed_gradient_of_repeated_ids(float64):
    ids = keras.Input(shape=(3,), dtype="int32")
    model = keras.Model(ids, layers.Dense(1)(Embedding(5, 2)(ids)))
    model.compile("sgd", "mse")
    x = np.array([[0, 0, 4], [1, -1, 1], [2, 2, 2]], dtype=np.int32)
    assert_weight_gradients_match(model, x, uniform((3, 1), 0))
