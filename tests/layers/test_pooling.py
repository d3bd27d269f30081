"""Pooling layers: MaxPooling2D, AveragePooling2D, GlobalMaxPooling2D, GlobalAveragePooling2D.

Over hypothesis-drawn windows (odd sizes, int and tuple arguments, strides None or explicit,
'valid' and 'same', both data formats) the window poolings are compared with a plain NumPy
reference written here (a loop over output positions; TF-style 'same' padding whose padded
positions never win a max and are not counted in an average's divisor), their output shapes with
``compute_output_shape``, their hand-written backward with finite differences
(``check_gradients``; max pooling gets distinct input values so that no step crosses a tie), and
channels_first with the transposed channels_last result. The global poolings are checked for
values, shapes with and without keepdims, and gradients. Example tests pin Keras' defaults, the
parameter counts and shapes of the MNIST CNNs, config round trips and error messages.
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from layer_helpers import concrete, int_or_pair, pair, to_nchw

from tinykeras import Sequential
from tinykeras.layers import (
    AveragePooling2D,
    Conv2D,
    Dense,
    Flatten,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    MaxPooling2D,
)
from tinykeras.utils import check_gradients

seeds = st.integers(0, 2**32 - 1)
data_formats = st.sampled_from(["channels_last", "channels_first"])
WINDOW_POOLINGS = [MaxPooling2D, AveragePooling2D]
GLOBAL_POOLINGS = [GlobalMaxPooling2D, GlobalAveragePooling2D]
WINDOW_REDUCTIONS = [(MaxPooling2D, np.max), (AveragePooling2D, np.mean)]
GLOBAL_REDUCTIONS = [(GlobalMaxPooling2D, np.max), (GlobalAveragePooling2D, np.mean)]


def distinct_values(rng, shape):
    """Values 0.1 apart in random order, centred on 0: no two inputs tie, so a finite-difference
    step of 1e-6 never changes which one is the max."""
    size = int(np.prod(shape))
    return (rng.permutation(size).reshape(shape) - size / 2) * 0.1


def pool_windows(size, pool, stride, padding):
    """The [start, stop) input ranges of each output position along one axis: windows of
    ``pool`` taken every ``stride`` over the input padded TF-style (the extra padding goes at the
    end), clipped to the real input so that padded positions are left out."""
    if padding == "same":
        out = -(-size // stride)
        before = max((out - 1) * stride + pool - size, 0) // 2
    else:
        out = (size - pool) // stride + 1
        before = 0
    starts = [o * stride - before for o in range(out)]
    return [(max(s, 0), min(s + pool, size)) for s in starts]


def reference_pool(x, pool_size, strides, padding, reduce):
    """Window pooling of an NHWC batch with ``reduce`` (np.max or np.mean) over each window's real
    positions, one output position at a time."""
    rows = pool_windows(x.shape[1], pool_size[0], strides[0], padding)
    cols = pool_windows(x.shape[2], pool_size[1], strides[1], padding)
    out = np.empty((x.shape[0], len(rows), len(cols), x.shape[3]))
    for oh, (r0, r1) in enumerate(rows):
        for ow, (c0, c1) in enumerate(cols):
            out[:, oh, ow, :] = reduce(x[:, r0:r1, c0:c1, :], axis=(1, 2))
    return out


@st.composite
def pool_cases(draw):
    """A pooling geometry with a positive output: the layer's arguments, the channels_last input
    shape and a seed."""
    pool_size = draw(int_or_pair(1, 4))
    strides = draw(st.one_of(st.none(), int_or_pair(1, 4)))
    padding = draw(st.sampled_from(["valid", "same"]))
    shape = (
        draw(st.integers(1, 3)),
        draw(st.integers(1, 10)),
        draw(st.integers(1, 10)),
        draw(st.integers(1, 4)),
    )
    if padding == "valid":
        assume(all(size >= p for size, p in zip(shape[1:3], pair(pool_size))))
    return {
        "args": {"pool_size": pool_size, "strides": strides, "padding": padding},
        "shape": shape,
        "seed": draw(seeds),
    }


def case_input(layer_class, case, data_format):
    """The input of a case in the given format: distinct values for max pooling, else normal."""
    rng = np.random.default_rng(case["seed"])
    if layer_class in (MaxPooling2D, GlobalMaxPooling2D):
        x = distinct_values(rng, case["shape"])
    else:
        x = rng.standard_normal(case["shape"])
    return x if data_format == "channels_last" else to_nchw(x)


# ---- MaxPooling2D and AveragePooling2D properties -----------------------------------------


@pytest.mark.parametrize("layer_class, reduce", WINDOW_REDUCTIONS)
@settings(max_examples=80, deadline=None)
@given(case=pool_cases(), data_format=data_formats)
def test_pooling_forward_equals_reference(layer_class, reduce, case, data_format):
    args = case["args"]
    x = np.random.default_rng(case["seed"]).standard_normal(case["shape"])
    strides = args["pool_size"] if args["strides"] is None else args["strides"]
    expected = reference_pool(x, pair(args["pool_size"]), pair(strides), args["padding"], reduce)
    layer = layer_class(**args, data_format=data_format)
    if data_format == "channels_first":
        x, expected = to_nchw(x), to_nchw(expected)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("layer_class", WINDOW_POOLINGS)
@settings(max_examples=60, deadline=None)
@given(case=pool_cases(), data_format=data_formats)
def test_pooling_output_shape_matches_compute_output_shape(layer_class, case, data_format):
    shape = case["shape"]
    if data_format == "channels_first":
        shape = (shape[0], shape[3]) + shape[1:3]
    layer = layer_class(**case["args"], data_format=data_format)
    y = layer(np.ones(shape))
    declared = layer.compute_output_shape((None,) + shape[1:])
    assert declared[0] is None
    assert y.shape == concrete(declared, shape[0])
    assert layer.output_shape == declared


@pytest.mark.parametrize("layer_class", WINDOW_POOLINGS)
@settings(max_examples=60, deadline=None)
@given(case=pool_cases(), data_format=data_formats)
def test_pooling_gradients(layer_class, case, data_format):
    layer = layer_class(**case["args"], data_format=data_format)
    errors = check_gradients(layer, case_input(layer_class, case, data_format))
    assert set(errors) == {"input"}


@pytest.mark.parametrize("layer_class", WINDOW_POOLINGS)
@settings(max_examples=60, deadline=None)
@given(case=pool_cases())
def test_pooling_channels_first_is_transposed_channels_last(layer_class, case):
    last = layer_class(**case["args"], data_format="channels_last")
    first = layer_class(**case["args"], data_format="channels_first")
    x = case_input(layer_class, case, "channels_last")
    y_last = last.forward(x)
    np.testing.assert_array_equal(first.forward(to_nchw(x)), to_nchw(y_last))
    dy = np.random.default_rng(case["seed"] + 1).standard_normal(y_last.shape)
    np.testing.assert_array_equal(first.backward(to_nchw(dy)), to_nchw(last.backward(dy)))


@pytest.mark.parametrize("layer_class, reduce", WINDOW_REDUCTIONS)
def test_pooling_large_batch_parallel_kernels_match_reference_and_per_sample(layer_class, reduce):
    # A batch of 8 against its samples one at a time: however the kernels cut a batch (parts for
    # threads), each image's output and gradient are its own.
    shape = (8, 64, 64, 8)
    x = distinct_values(np.random.default_rng(5), shape)
    layer = layer_class(3, strides=2, padding="same")
    y = layer.forward(x)
    np.testing.assert_allclose(y, reference_pool(x, (3, 3), (2, 2), "same", reduce), rtol=1e-13)
    dy = np.random.default_rng(6).standard_normal(y.shape)
    dx = layer.backward(dy)
    per_sample = []
    for n in range(shape[0]):
        layer.forward(x[n : n + 1])
        per_sample.append(layer.backward(dy[n : n + 1]))
    np.testing.assert_allclose(dx, np.concatenate(per_sample), rtol=1e-13, atol=1e-15)


# ---- window pooling examples --------------------------------------------------------------


def test_same_pooling_excludes_padding_example():
    # 3x3 pooled by 2 with 'same': windows rows/cols {0,1} and {2} (one padded row/column after).
    x = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    average = AveragePooling2D(2, padding="same").forward(x)[0, :, :, 0]
    np.testing.assert_allclose(average, [[3.0, 4.5], [7.5, 9.0]], rtol=1e-15)
    maximum = MaxPooling2D(2, padding="same").forward(-x)[0, :, :, 0]
    np.testing.assert_array_equal(maximum, [[-1.0, -3.0], [-7.0, -9.0]])


@pytest.mark.parametrize("layer_class", WINDOW_POOLINGS)
def test_pooling_keras_floors_valid_and_ceils_same(layer_class):
    assert layer_class(2).compute_output_shape((None, 13, 13, 3)) == (None, 6, 6, 3)
    assert layer_class(2, padding="same").compute_output_shape((None, 13, 13, 3)) == (None, 7, 7, 3)
    assert layer_class(3, strides=2).compute_output_shape((None, 13, 12, 3)) == (None, 6, 5, 3)
    channels_first = layer_class(2, data_format="channels_first")
    assert channels_first.compute_output_shape((None, 3, 13, 9)) == (None, 3, 6, 4)


@pytest.mark.parametrize("layer_class", WINDOW_POOLINGS)
def test_pooling_defaults(layer_class):
    layer = layer_class()
    assert layer.pool_size == (2, 2)
    assert layer.strides == (2, 2)
    assert layer.padding == "valid"
    assert layer.data_format == "channels_last"
    assert layer_class(pool_size=3).strides == (3, 3)
    assert layer_class(pool_size=(3, 2), strides=1).strides == (1, 1)


def test_max_pooling_keras_shape_and_no_params():
    layer = MaxPooling2D(pool_size=2)
    assert layer.build_for((None, 26, 26, 8)) == (None, 13, 13, 8)
    assert layer.count_params() == 0
    assert layer.get_weights() == []


def test_max_pooling_backward_routes_to_the_argmax():
    x = np.array([[1.0, 5.0, 2.0, 0.0], [3.0, 4.0, 7.0, 6.0]]).reshape(1, 2, 4, 1)
    layer = MaxPooling2D(2)
    np.testing.assert_array_equal(layer.forward(x)[0, :, :, 0], [[5.0, 7.0]])
    dx = layer.backward(np.array([10.0, 20.0]).reshape(1, 1, 2, 1))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 10, 0, 0], [0, 0, 20, 0]])


def test_max_pooling_ties_route_the_gradient_to_the_first_max():
    # As in TensorFlow and PyTorch, one input per window takes the whole gradient: the first
    # maximum in row-major window order. Overlapping windows (stride 1) may pick the same one.
    x = np.ones((1, 3, 3, 1))
    layer = MaxPooling2D(2, strides=1)
    layer.forward(x)
    dx = layer.backward(np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 2, 2, 1))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1, 2, 0], [3, 4, 0], [0, 0, 0]])


# ---- global poolings ----------------------------------------------------------------------


@pytest.mark.parametrize("layer_class, reduce", GLOBAL_REDUCTIONS)
@settings(max_examples=50, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6), st.integers(1, 4)),
    keepdims=st.booleans(),
    data_format=data_formats,
    seed=seeds,
)
def test_global_pooling_values_shapes_and_gradients(
    layer_class, reduce, shape, keepdims, data_format, seed
):
    case = {"shape": shape, "seed": seed}
    x_last = case_input(layer_class, case, "channels_last")
    n, h, w, c = shape
    # One value per (sample, channel), over the h*w positions.
    expected = reduce(x_last.reshape(n, h * w, c), axis=1)
    if keepdims:
        expected = expected.reshape(n, 1, 1, c)
        expected = expected if data_format == "channels_last" else to_nchw(expected)
    x = x_last if data_format == "channels_last" else to_nchw(x_last)
    layer = layer_class(data_format=data_format, keepdims=keepdims)
    y = layer.forward(x)
    np.testing.assert_allclose(y, expected, rtol=1e-13, atol=1e-14)
    declared = layer.compute_output_shape((None,) + x.shape[1:])
    assert y.shape == concrete(declared, n)
    if not keepdims:
        assert declared == (None, c)
    assert set(check_gradients(layer, x)) == {"input"}


def test_global_max_pooling_ties_share_the_gradient():
    x = np.ones((1, 2, 2, 1))
    layer = GlobalMaxPooling2D()
    layer.forward(x)
    np.testing.assert_allclose(layer.backward(np.array([[8.0]])), np.full((1, 2, 2, 1), 2.0))


@pytest.mark.parametrize("layer_class", WINDOW_POOLINGS + GLOBAL_POOLINGS)
def test_pooling_gradients_keep_the_float32_of_the_model(layer_class):
    # The global max pooling divided by its integer tie counts, which made float64 gradients
    # for every layer below it in a float32 model.
    x = np.random.default_rng(0).random((2, 4, 4, 3), dtype=np.float32)
    layer = layer_class()
    y = layer.forward(x, training=True)
    assert layer.backward(np.ones_like(y)).dtype == np.float32


@pytest.mark.parametrize("layer_class", GLOBAL_POOLINGS)
def test_global_pooling_keras_shapes(layer_class):
    assert layer_class().compute_output_shape((None, 7, 5, 16)) == (None, 16)
    assert layer_class(keepdims=True).compute_output_shape((None, 7, 5, 16)) == (None, 1, 1, 16)
    channels_first = layer_class(data_format="channels_first", keepdims=True)
    assert channels_first.compute_output_shape((None, 16, 7, 5)) == (None, 16, 1, 1)
    flat = layer_class(data_format="channels_first")
    assert flat.compute_output_shape((None, 16, 7, 5)) == (None, 16)


# ---- Keras facts: the MNIST CNNs ----------------------------------------------------------


def test_small_cnn_parameter_count_and_shapes():
    model = Sequential(
        [
            Conv2D(10, 3, activation="relu", input_shape=(28, 28, 1)),
            MaxPooling2D((2, 2)),
            MaxPooling2D((2, 2)),
            Flatten(),
            Dense(100, "relu"),
            Dense(10, "softmax"),
        ]
    )
    assert model.count_params() == 37210
    assert [layer.output_shape for layer in model.layers] == [
        (None, 26, 26, 10),
        (None, 13, 13, 10),
        (None, 6, 6, 10),
        (None, 360),
        (None, 100),
        (None, 10),
    ]
    assert model.output_shape == (None, 10)
    assert model.predict(np.zeros((2, 28, 28, 1)), verbose=0).shape == (2, 10)


def test_one_conv_cnn_parameter_count():
    model = Sequential(
        [
            Conv2D(8, 3, input_shape=(28, 28, 1)),
            MaxPooling2D(2),
            Flatten(),
            Dense(10, activation="softmax"),
        ]
    )
    assert model.count_params() == 13_610
    assert model.layers[2].output_shape == (None, 1352)


# ---- configs and errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    "layer_factory",
    [
        lambda: MaxPooling2D(),
        lambda: MaxPooling2D((3, 2), strides=(1, 2), padding="same", data_format="channels_first"),
        lambda: AveragePooling2D(3, strides=None, padding="same", name="avg"),
        lambda: GlobalMaxPooling2D(keepdims=True),
        lambda: GlobalAveragePooling2D(data_format="channels_first"),
    ],
)
def test_pooling_config_round_trip(layer_factory):
    layer = layer_factory()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert type(clone) is type(layer)
    assert clone.get_config() == config
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 3))
    np.testing.assert_array_equal(clone.forward(x), layer.forward(x))


@pytest.mark.parametrize("layer_class", WINDOW_POOLINGS)
def test_pool_larger_than_input_names_the_layer(layer_class):
    layer = layer_class(pool_size=(2, 5), name="big_pool")
    with pytest.raises(ValueError, match="big_pool"):
        layer.build_for((None, 6, 3, 1))
    # 'same' padding always fits.
    assert layer_class(5, padding="same").build_for((None, 3, 3, 1)) == (None, 1, 1, 1)


@pytest.mark.parametrize("layer_class", WINDOW_POOLINGS + GLOBAL_POOLINGS)
def test_pooling_rejects_three_dimensional_input(layer_class):
    layer = layer_class(name="flat_pool")
    with pytest.raises(ValueError, match="flat_pool") as error:
        layer.build_for((None, 28, 28))
    assert "4-D" in str(error.value)


@pytest.mark.parametrize("layer_class", WINDOW_POOLINGS)
@pytest.mark.parametrize(
    "kwargs", [{"pool_size": 0}, {"pool_size": (2,)}, {"strides": 0}, {"padding": "full"}]
)
def test_pooling_rejects_bad_arguments(layer_class, kwargs):
    with pytest.raises(ValueError):
        layer_class(**kwargs)
