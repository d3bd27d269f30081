"""Conv2D and ZeroPadding2D.

Over hypothesis-drawn geometries (odd sizes, int and tuple arguments, strides or dilation, both
paddings and data formats, with and without bias) Conv2D's forward is compared with a direct
convolution written here in plain NumPy (explicit TF-style zero padding, a loop over kernel taps),
its output shape with ``compute_output_shape``, its hand-written backward with finite differences
(``check_gradients``), and channels_first with the transposed channels_last result. Example tests
pin Keras' shapes, parameter counts, initializers and error messages, the config and weights-file
round trips and forward and gradients against ``torch.nn.functional.conv2d`` (stored in
tests/fixtures/torch_conv2d.npz). ZeroPadding2D is checked for shapes, values and its slicing
backward in both data formats.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from layer_helpers import concrete, int_or_pair, pair, to_nchw, to_nhwc

from tinykeras import Sequential, initializers
from tinykeras.kernels import conv2d, tuning, winograd
from tinykeras.layers import (
    Conv2D,
    Dense,
    Flatten,
    MaxPooling2D,
    ZeroPadding2D,
    convolutional,
)
from tinykeras.utils import check_gradients

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures")
seeds = st.integers(0, 2**32 - 1)
data_formats = st.sampled_from(["channels_last", "channels_first"])
# The `float64` fixture only sets floatx, which holds for every example of a test.
FLOAT64_FIXTURE = [HealthCheck.function_scoped_fixture]


def tf_pads(size, kernel, stride, dilation, padding):
    """(before, after) zero padding of one axis; 'same' splits it like TensorFlow, the extra
    row/column going after (bottom/right)."""
    if padding == "valid":
        return 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def expected_size(size, kernel, stride, dilation, padding):
    """Keras' output length: ceil(size / stride) for 'same', else floor over the dilated kernel."""
    if padding == "same":
        return -(-size // stride)
    return (size - (kernel - 1) * dilation - 1) // stride + 1


def direct_conv2d(x, kernel, bias, strides, dilation, padding):
    """Plain NHWC convolution: pad with zeros, then for each kernel tap (i, j) add the pixels it
    reads at every output position, rows i*dh + oh*sh and columns j*dw + ow*sw of the padded
    input, times the tap's (C_in, filters) matrix."""
    n, h, w, _ = x.shape
    kh, kw, _, filters = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation
    (top, bottom), (left, right) = (
        tf_pads(h, kh, sh, dh, padding),
        tf_pads(w, kw, sw, dw, padding),
    )
    padded = np.zeros((n, h + top + bottom, w + left + right, x.shape[3]))
    padded[:, top : top + h, left : left + w, :] = x
    oh, ow = expected_size(h, kh, sh, dh, padding), expected_size(w, kw, sw, dw, padding)
    out = np.zeros((n, oh, ow, filters))
    for i in range(kh):
        for j in range(kw):
            rows = i * dh + np.arange(oh) * sh
            cols = j * dw + np.arange(ow) * sw
            out += padded[:, rows][:, :, cols] @ kernel[i, j]
    return out if bias is None else out + bias


@st.composite
def conv_cases(draw):
    """A Conv2D geometry Keras accepts (strides > 1 never with dilation > 1) and a positive
    output: a dict of the layer's arguments plus the input shape (channels_last) and a seed."""
    dilated = draw(st.booleans())
    kernel_size = draw(int_or_pair(1, 4))
    strides = 1 if dilated else draw(int_or_pair(1, 3))
    dilation_rate = draw(int_or_pair(1, 2)) if dilated else 1
    padding = draw(st.sampled_from(["valid", "same"]))
    shape = (
        draw(st.integers(1, 3)),
        draw(st.integers(1, 9)),
        draw(st.integers(1, 9)),
        draw(st.integers(1, 3)),
    )
    for size, k, s, d in zip(shape[1:3], pair(kernel_size), pair(strides), pair(dilation_rate)):
        assume(expected_size(size, k, s, d, padding) > 0)
    return {
        "args": {
            "filters": draw(st.integers(1, 4)),
            "kernel_size": kernel_size,
            "strides": strides,
            "dilation_rate": dilation_rate,
            "padding": padding,
            "use_bias": draw(st.booleans()),
        },
        "shape": shape,
        "seed": draw(seeds),
    }


def random_conv(args, shape, rng, data_format="channels_last", activation=None):
    """A Conv2D built for the channels_last ``shape`` (transposed for channels_first) with random
    weights scaled by 1/sqrt(fan_in), so that pre-activations of standard normal inputs stay
    around unit size (tanh does not saturate and its gradient stays measurable); returns
    (layer, kernel, bias or None)."""
    layer = Conv2D(**args, data_format=data_format, activation=activation)
    channels_first = data_format == "channels_first"
    input_shape = (shape[0], shape[3]) + shape[1:3] if channels_first else shape
    layer.build_for((None,) + tuple(input_shape[1:]))
    fan_in = np.prod(layer.kernel.shape[:3])
    kernel = rng.standard_normal(layer.kernel.shape) / np.sqrt(fan_in)
    bias = 0.5 * rng.standard_normal(layer.filters) if layer.use_bias else None
    layer.set_weights([kernel] if bias is None else [kernel, bias])
    return layer, kernel, bias


def use_algorithm(monkeypatch, name):
    """Sets ``tuning.WINOGRAD_MIN_CHANNELS`` so that every convolution runs by ``name``:
    'im2col', or 'winograd' (3x3 kernels of stride 1; the others by im2col), its tiling chosen
    by the output's size, or 'winograd F(2x2)' / 'winograd F(4x4)': that tiling whatever the
    size."""
    monkeypatch.setattr(tuning, "WINOGRAD_MIN_CHANNELS", 1 if name.startswith("winograd") else 2**62)
    tile = {"winograd F(2x2)": 2, "winograd F(4x4)": 4}.get(name)
    if tile:
        monkeypatch.setattr(winograd, "tiling", lambda geometry: winograd.TILINGS[tile])


@pytest.fixture(
    params=[
        "whole batch",
        "one image per chunk",
        "by taps",
        "by taps, image by image",
        "split between threads",
        "split between threads, image by image",
        "winograd F(2x2)",
        "winograd F(4x4)",
        "winograd, split between threads, image by image",
    ]
)
def chunking(request, monkeypatch):
    """Convolve the batch in one piece (the default for these small inputs), or image by image
    (then backward unfolds every chunk but the last again); with the im2col matrix filled row by
    row (the default for these small inputs) or tap by tap, whatever the number of channels; or
    split between threads, each convolving its part of the batch (the default for large
    products); or, where the kernel is 3x3 with stride 1, by Winograd's F(2x2, 3x3) or F(4x4, 3x3)
    (or the tiling the output's size chooses) whatever the number of channels (the default from
    ``tuning.WINOGRAD_MIN_CHANNELS``), else by im2col."""
    use_algorithm(monkeypatch, request.param.split(",")[0] if "winograd" in request.param else "im2col")
    if "image" in request.param:
        monkeypatch.setattr(tuning, "CHUNK_BYTES", 1)
        monkeypatch.setattr(tuning, "PART_CHUNK_BYTES", 1)
    if "taps" in request.param:
        monkeypatch.setattr(conv2d, "prefers_tap_order", lambda channels: True)
    if "split" in request.param:
        monkeypatch.setattr(tuning, "PARALLEL_MIN_FLOPS", 0)
    return request.param


# ---- Conv2D properties --------------------------------------------------------------------


@pytest.mark.parametrize("activation", [None, "tanh"])
@settings(max_examples=80, deadline=None, suppress_health_check=FLOAT64_FIXTURE)
@given(case=conv_cases(), data_format=data_formats)
def test_conv2d_forward_equals_direct_convolution(float64, chunking, activation, case, data_format):
    rng = np.random.default_rng(case["seed"])
    args, shape = case["args"], case["shape"]
    layer, kernel, bias = random_conv(args, shape, rng, data_format, activation)
    x = rng.standard_normal(shape)
    strides, dilation = pair(args["strides"]), pair(args["dilation_rate"])
    z = direct_conv2d(x, kernel, bias, strides, dilation, args["padding"])
    expected = z if activation is None else np.tanh(z)
    x_in = x if data_format == "channels_last" else to_nchw(x)
    y = layer.forward(x_in)
    y = y if data_format == "channels_last" else to_nhwc(y)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, expected, rtol=1e-11, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(case=conv_cases(), data_format=data_formats)
def test_conv2d_output_shape_matches_compute_output_shape(case, data_format):
    args, shape = case["args"], case["shape"]
    if data_format == "channels_first":
        shape = (shape[0], shape[3]) + shape[1:3]
    layer = Conv2D(**args, data_format=data_format)
    y = layer(np.ones(shape))
    declared = layer.compute_output_shape((None,) + shape[1:])
    assert declared[0] is None
    assert y.shape == concrete(declared, shape[0])
    assert layer.output_shape == declared


@pytest.mark.parametrize("activation", [None, "tanh"])
@settings(max_examples=60, deadline=None, suppress_health_check=FLOAT64_FIXTURE)
@given(case=conv_cases(), data_format=data_formats)
def test_conv2d_gradients(float64, chunking, activation, case, data_format):
    rng = np.random.default_rng(case["seed"])
    args, shape = case["args"], case["shape"]
    layer, _, _ = random_conv(args, shape, rng, data_format, activation)
    x = rng.standard_normal(shape)
    x = x if data_format == "channels_last" else to_nchw(x)
    errors = check_gradients(layer, x)
    assert set(errors) == ({"input", "kernel", "bias"} if args["use_bias"] else {"input", "kernel"})


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("activation", [None, "relu", "tanh"])
@pytest.mark.parametrize("shape", [(2, 6, 5, 3), (1, 3, 7, 2), (3, 4, 4, 1)])
@pytest.mark.parametrize("algorithm", ["winograd F(2x2)", "winograd F(4x4)"])
def test_conv2d_gradients_by_winograd(float64, monkeypatch, algorithm, padding, activation, shape):
    """The float64 gradient check of a 3x3 convolution run by Winograd's F(2x2, 3x3) and
    F(4x4, 3x3), output sizes that are and are not multiples of the tile."""
    use_algorithm(monkeypatch, algorithm)
    rng = np.random.default_rng(sum(shape))
    args = {"filters": 2, "kernel_size": 3, "strides": 1, "dilation_rate": 1, "padding": padding, "use_bias": True}
    layer, _, _ = random_conv(args, shape, rng, activation=activation)
    assert conv2d.plan(conv2d.Geometry.of(shape, 2, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))), 8).algorithm == "winograd"
    x = rng.standard_normal(shape)
    errors = check_gradients(layer, x)
    assert set(errors) == {"input", "kernel", "bias"}


@settings(max_examples=60, deadline=None, suppress_health_check=FLOAT64_FIXTURE)
@given(case=conv_cases(), data_format=data_formats)
def test_conv2d_relu_equals_relu_after_the_linear_layer(float64, chunking, case, data_format):
    """ReLU is applied inside the layer's own passes (with the bias, and chunk by chunk going
    back): its output and gradients equal the chain rule applied around the same layer without
    an activation, y = max(z, 0) and dz = dy where z > 0."""
    rng = np.random.default_rng(case["seed"])
    args, shape = case["args"], case["shape"]
    fused, _, _ = random_conv(args, shape, rng, data_format, "relu")
    linear, _, _ = random_conv(args, shape, rng, data_format)
    linear.set_weights(fused.get_weights())
    x = rng.standard_normal(shape)
    x = x if data_format == "channels_last" else to_nchw(x)
    z = linear.forward(x)
    np.testing.assert_array_equal(fused.forward(x), np.maximum(z, 0))
    assert fused.logits is None
    dy = rng.standard_normal(z.shape)
    np.testing.assert_allclose(fused.backward(dy), linear.backward(dy * (z > 0)), rtol=1e-12, atol=1e-12)
    for got, expected in zip(fused.grads, linear.grads):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None, suppress_health_check=FLOAT64_FIXTURE)
@given(
    batch=st.integers(2, 9),
    chunk_images=st.integers(1, 9),
    padding=st.sampled_from(["valid", "same"]),
    input_gradient=st.booleans(),
    algorithm=st.sampled_from(["im2col", "winograd F(2x2)", "winograd F(4x4)"]),
    seed=seeds,
)
def test_conv2d_in_chunks_equals_the_whole_batch(monkeypatch, batch, chunk_images, padding, input_gradient, algorithm, seed):
    """Any chunk size, on one thread or split between threads, by im2col or by Winograd, gives the whole
    batch's output and gradients (float32), including a backward pass that must not read rows
    left from forward for the wrong chunk."""
    use_algorithm(monkeypatch, algorithm)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 7, 6, 3)).astype(np.float32)
    dy_shape = (batch, 5, 4, 4) if padding == "valid" else (batch, 7, 6, 4)
    dy = rng.standard_normal(dy_shape).astype(np.float32)
    weights = [rng.standard_normal((3, 3, 3, 4)), rng.standard_normal(4)]
    results = []
    chunked = chunk_images * dy_shape[1] * dy_shape[2] * 27 * 4
    for chunk_bytes, split in ((2**40, False), (chunked, False), (chunked, True)):
        monkeypatch.setattr(tuning, "CHUNK_BYTES", chunk_bytes)
        monkeypatch.setattr(tuning, "PART_CHUNK_BYTES", chunk_bytes)
        monkeypatch.setattr(tuning, "PARALLEL_MIN_FLOPS", 0 if split else 10**15)
        layer = Conv2D(4, 3, padding=padding, activation="relu")
        layer.build_for((None, 7, 6, 3))
        layer.set_weights(weights)
        layer.input_gradient = input_gradient
        y = layer.forward(x, training=True)
        dx = layer.backward(dy)
        results.append((y, dx, *layer.grads))
    # F(4x4)'s kernel gradient sums transformed products of up to 8x the output gradient before
    # G^T scales them back: chunks summed in another order differ about ten times more.
    tol = 1e-4 if algorithm == "winograd F(4x4)" else 1e-5
    for whole, *others in zip(*results):
        for other in others:
            if whole is None:
                assert other is None
            else:
                np.testing.assert_allclose(other, whole, rtol=tol, atol=tol)


@pytest.mark.parametrize("split", [False, True], ids=["one thread", "split between threads"])
@pytest.mark.parametrize("by_taps", [False, True], ids=["by rows", "by taps"])
@pytest.mark.parametrize("chunk_bytes", [2**40, 1], ids=["whole batch", "image by image"])
@pytest.mark.parametrize("winograd", [False, True], ids=["im2col", "first by winograd"])
def test_conv2d_layers_sharing_the_im2col_buffer_keep_their_gradients(monkeypatch, by_taps, chunk_bytes, split, winograd):
    """Every Conv2D of a thread fills one buffer (im2col's rows or Winograd's tiles). A layer
    whose input was overwritten by another layer's forward (or backward) pass since its own
    forward unfolds it again."""
    use_algorithm(monkeypatch, "winograd" if winograd else "im2col")
    monkeypatch.setattr(tuning, "CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(tuning, "PART_CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(tuning, "PARALLEL_MIN_FLOPS", 0 if split else 10**15)
    if by_taps:
        monkeypatch.setattr(conv2d, "prefers_tap_order", lambda channels: True)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 8, 7, 2)).astype(np.float32)
    first, second = Conv2D(3, 3, padding="same", activation="relu"), Conv2D(4, 2)
    first.build_for(x.shape)
    second.build_for((None, 8, 7, 3))
    for layer in (first, second):
        layer.set_weights([rng.standard_normal(w.shape) for w in layer.get_weights()])
    dy = rng.standard_normal((3, 7, 6, 4)).astype(np.float32)
    dh = rng.standard_normal((3, 8, 7, 3)).astype(np.float32)

    def alone(layer, inputs, gradient):
        layer.forward(inputs, training=True)
        return [layer.backward(gradient), *layer.grads]

    h = first.forward(x, training=True)
    expected_first = alone(first, x, dh)
    expected_second = alone(second, h, dy)
    # Interleaved as in a model: both forward, then backward in reverse order; the second
    # layer's backward runs twice, and the second run must not read the dcols the first left.
    first.forward(x, training=True)
    second.forward(h, training=True)
    for layer, gradient, expected in ((second, dy, expected_second), (second, dy, expected_second), (first, dh, expected_first)):
        got = [layer.backward(gradient), *layer.grads]
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@settings(max_examples=60, deadline=None, suppress_health_check=FLOAT64_FIXTURE)
@given(case=conv_cases())
def test_conv2d_channels_first_is_transposed_channels_last(float64, case):
    args, shape = case["args"], case["shape"]
    last, _, _ = random_conv(args, shape, np.random.default_rng(case["seed"]))
    first = Conv2D(**args, data_format="channels_first")
    first.build_for((None, shape[3]) + shape[1:3])
    first.set_weights(last.get_weights())
    rng = np.random.default_rng(case["seed"] + 1)
    x = rng.standard_normal(shape)
    y_last = last.forward(x)
    y_first = first.forward(to_nchw(x))
    np.testing.assert_allclose(y_first, to_nchw(y_last), rtol=1e-13, atol=1e-13)

    dy = rng.standard_normal(y_last.shape)
    dx_last = last.backward(dy)
    dx_first = first.backward(to_nchw(dy))
    np.testing.assert_allclose(dx_first, to_nchw(dx_last), rtol=1e-13, atol=1e-13)
    for g_first, g_last in zip(first.grads, last.grads, strict=True):
        np.testing.assert_allclose(g_first, g_last, rtol=1e-12, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(strides=int_or_pair(1, 3), dilation_rate=int_or_pair(1, 2))
def test_conv2d_rejects_strides_together_with_dilation(strides, dilation_rate):
    if max(pair(strides)) > 1 and max(pair(dilation_rate)) > 1:
        with pytest.raises(ValueError, match="dilation_rate"):
            Conv2D(2, 3, strides=strides, dilation_rate=dilation_rate)
    else:
        layer = Conv2D(2, 3, strides=strides, dilation_rate=dilation_rate)
        assert (layer.strides, layer.dilation_rate) == (pair(strides), pair(dilation_rate))


def test_conv2d_large_batch_parallel_kernels_match_direct_and_per_sample(float64):
    # A batch of 12 against its samples one at a time: however the kernels cut a batch (chunks,
    # parts for threads), each image's output and gradient are its own.
    args = {"filters": 4, "kernel_size": 3, "strides": 1, "dilation_rate": 1, "padding": "valid"}
    shape = (12, 28, 28, 8)
    rng = np.random.default_rng(3)
    layer, kernel, bias = random_conv(dict(args, use_bias=True), shape, rng)
    x = rng.standard_normal(shape)
    y = layer.forward(x)
    expected = direct_conv2d(x, kernel, bias, (1, 1), (1, 1), "valid")
    np.testing.assert_allclose(y, expected, rtol=1e-11, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    grads = layer.grads
    per_sample_dx, per_sample_grads = [], []
    for n in range(shape[0]):
        layer.forward(x[n : n + 1])
        per_sample_dx.append(layer.backward(dy[n : n + 1]))
        per_sample_grads.append(layer.grads)
    np.testing.assert_allclose(dx, np.concatenate(per_sample_dx), rtol=1e-12, atol=1e-12)
    for g, parts in zip(grads, zip(*per_sample_grads), strict=True):
        np.testing.assert_allclose(g, np.sum(parts, axis=0), rtol=1e-10, atol=1e-10)


# ---- Conv2D examples: Keras facts ---------------------------------------------------------


def test_conv2d_mnist_shape_and_parameter_count():
    layer = Conv2D(8, 3)
    assert layer.build_for((None, 28, 28, 1)) == (None, 26, 26, 8)
    assert layer.count_params() == 80
    assert [w.shape for w in layer.get_weights()] == [(3, 3, 1, 8), (8,)]


@pytest.mark.parametrize("size, expected", [(28, 14), (7, 4), (1, 1), (8, 4)])
def test_conv2d_same_padding_stride_two_gives_ceil(size, expected):
    layer = Conv2D(4, 3, strides=2, padding="same")
    assert layer.build_for((None, size, size, 3)) == (None, expected, expected, 4)


def test_conv2d_kernel_shape_is_kh_kw_cin_filters():
    layer = Conv2D(5, (2, 3), use_bias=False)
    layer.build_for((None, 6, 7, 4))
    assert layer.kernel.shape == (2, 3, 4, 5)
    assert layer.bias is None
    assert layer.count_params() == 2 * 3 * 4 * 5
    channels_first = Conv2D(5, (2, 3), data_format="channels_first")
    assert channels_first.build_for((None, 4, 6, 7)) == (None, 5, 5, 5)
    assert channels_first.kernel.shape == (2, 3, 4, 5)


def test_conv2d_default_initializers_are_glorot_uniform_and_zeros():
    layer = Conv2D(16, (3, 5))
    assert isinstance(layer.kernel_initializer, initializers.GlorotUniform)
    assert isinstance(layer.bias_initializer, initializers.Zeros)
    layer.build_for((None, 10, 10, 4))
    kernel, bias = layer.get_weights()
    limit = np.sqrt(6 / (3 * 5 * 4 + 3 * 5 * 16))
    assert kernel.dtype == np.float32
    assert np.abs(kernel).max() <= limit
    # Uniform on [-limit, limit] has standard deviation limit / sqrt(3).
    assert abs(kernel.std() - limit / np.sqrt(3)) < 0.1 * limit
    np.testing.assert_array_equal(bias, np.zeros(16))


def test_conv2d_int_and_tuple_arguments_are_equivalent(rng):
    from_ints = Conv2D(3, 2, strides=2, dilation_rate=1, padding="same")
    from_tuples = Conv2D(3, (2, 2), strides=(2, 2), dilation_rate=(1, 1), padding="same")
    for key in ("kernel_size", "strides", "dilation_rate"):
        assert from_ints.get_config()[key] == from_tuples.get_config()[key]
    x = rng.standard_normal((2, 5, 5, 3)).astype(np.float32)
    from_ints.build_for((None, 5, 5, 3))
    from_tuples.build_for((None, 5, 5, 3))
    from_tuples.set_weights(from_ints.get_weights())
    np.testing.assert_array_equal(from_ints(x), from_tuples(x))


@pytest.mark.parametrize(("filters", "error"), [(0, ValueError), (-1, ValueError), (2.5, TypeError)])
def test_conv2d_rejects_bad_filters(filters, error):
    with pytest.raises(error, match="filters"):
        Conv2D(filters, 3)


def test_conv2d_rejects_unknown_padding():
    with pytest.raises(ValueError, match="padding"):
        Conv2D(4, 3, padding="full")


def test_conv2d_rejects_a_one_element_kernel_size():
    with pytest.raises(ValueError, match="kernel_size"):
        Conv2D(4, (3,))


def test_conv2d_input_too_small_names_the_layer_and_suggests_same_padding():
    layer = Conv2D(8, 5, name="tiny_conv")
    with pytest.raises(ValueError) as error:
        layer.build_for((None, 3, 3, 1))
    assert "tiny_conv" in str(error.value)
    assert "padding='same'" in str(error.value)
    # The same input is fine with 'same' padding.
    assert Conv2D(8, 5, padding="same").build_for((None, 3, 3, 1)) == (None, 3, 3, 8)


@pytest.mark.parametrize(
    "data_format, axes, reshape",
    [
        ("channels_last", "(batch, height, width, channels)", "reshape(-1, 28, 28, 1)"),
        ("channels_first", "(batch, channels, height, width)", "reshape(-1, 1, 28, 28)"),
    ],
)
@pytest.mark.parametrize("input_shape", [(None, 784), (None, 28, 28)])
def test_conv2d_on_input_without_image_axes_suggests_a_reshape(data_format, axes, reshape, input_shape):
    layer = Conv2D(8, 3, name="flat_conv", data_format=data_format)
    with pytest.raises(ValueError) as error:
        layer.build_for(input_shape)
    assert "flat_conv" in str(error.value)
    assert axes in str(error.value)
    assert reshape in str(error.value)


# ---- Conv2D round trips -------------------------------------------------------------------


def test_conv2d_config_round_trip(rng):
    layer = Conv2D(
        6,
        (3, 2),
        strides=(2, 1),
        padding="same",
        data_format="channels_first",
        activation="relu",
        use_bias=False,
        kernel_initializer="he_normal",
        bias_initializer="ones",
        name="configured",
    )
    config = layer.get_config()
    assert config["filters"] == 6 and config["kernel_size"] == (3, 2)
    assert config["strides"] == (2, 1) and config["dilation_rate"] == (1, 1)
    assert config["padding"] == "same" and config["data_format"] == "channels_first"
    assert config["activation"] == "relu" and config["use_bias"] is False
    clone = Conv2D.from_config(config)
    assert clone.get_config() == config
    assert isinstance(clone.kernel_initializer, initializers.HeNormal)

    layer.build_for((None, 3, 5, 4))
    clone.build_for((None, 3, 5, 4))
    clone.set_weights(layer.get_weights())
    x = rng.standard_normal((2, 3, 5, 4))
    np.testing.assert_array_equal(clone(x), layer(x))


def small_cnn():
    return Sequential(
        [
            ZeroPadding2D(1, input_shape=(7, 6, 2)),
            Conv2D(4, 3, strides=2, padding="same", activation="relu"),
            Conv2D(3, 2, dilation_rate=2),
            MaxPooling2D(),
            Flatten(),
            Dense(5, activation="softmax"),
        ]
    )


def test_conv2d_weights_file_round_trip_reproduces_predictions(tmp_path, rng):
    model = small_cnn()
    model.set_weights([rng.standard_normal(w.shape) for w in model.get_weights()])
    x = rng.standard_normal((5, 7, 6, 2)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    path = tmp_path / "cnn.weights.h5"
    model.save_weights(path)

    reloaded = small_cnn()
    reloaded.load_weights(path)
    for saved, loaded in zip(model.get_weights(), reloaded.get_weights(), strict=True):
        np.testing.assert_array_equal(saved, loaded)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), expected)


# ---- Conv2D against PyTorch ---------------------------------------------------------------

# Written by tests/fixtures/make_torch_conv2d_fixture.py (``torch.nn.functional.conv2d`` after an
# explicit TF-style pad, gradients by autograd): this test needs only tinykeras.
TORCH = np.load(os.path.join(FIXTURES, "torch_conv2d.npz"), allow_pickle=False)
TORCH_CASES = sorted({key.split("/")[0] for key in TORCH.files if "/" in key})


@pytest.mark.parametrize("case", TORCH_CASES)
def test_conv2d_matches_torch(float64, case):
    def stored(key):
        return TORCH[f"{case}/{key}"]

    n, h, w, c_in, filters, kh, kw, sh, sw, dh, dw = (int(v) for v in stored("geometry"))
    layer = Conv2D(filters, (kh, kw), (sh, sw), str(stored("padding")), "channels_first", (dh, dw))
    layer.build_for((None, c_in, h, w))
    layer.set_weights([stored("kernel"), stored("bias")])
    x = stored("x")
    assert x.shape == (n, c_in, h, w)

    y = layer.forward(x)
    np.testing.assert_allclose(y, stored("y"), rtol=1e-11, atol=1e-12)
    dx = layer.backward(stored("dy"))
    np.testing.assert_allclose(dx, stored("dx"), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(layer.grads[0], stored("dkernel"), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(layer.grads[1], stored("dbias"), rtol=1e-11, atol=1e-12)


# ---- ZeroPadding2D ------------------------------------------------------------------------


@st.composite
def zero_padding_specs(draw):
    """A padding argument in one of Keras' three forms, with its ((top, bottom), (left, right))."""
    amounts = st.integers(0, 3)
    form = draw(st.sampled_from(["int", "pair", "pairs"]))
    if form == "int":
        p = draw(amounts)
        return p, ((p, p), (p, p))
    if form == "pair":
        rows, cols = draw(amounts), draw(amounts)
        return (rows, cols), ((rows, rows), (cols, cols))
    pads = ((draw(amounts), draw(amounts)), (draw(amounts), draw(amounts)))
    return pads, pads


@settings(max_examples=60, deadline=None)
@given(
    spec=zero_padding_specs(),
    shape=st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 5), st.integers(1, 3)),
    data_format=data_formats,
    seed=seeds,
)
def test_zero_padding_values_shape_and_gradients(spec, shape, data_format, seed):
    padding, ((top, bottom), (left, right)) = spec
    n, h, w, c = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    expected = np.zeros((n, h + top + bottom, w + left + right, c))
    expected[:, top : top + h, left : left + w, :] = x
    # Backward keeps only the gradient of the original pixels.
    dy = rng.standard_normal(expected.shape)
    expected_dx = dy[:, top : top + h, left : left + w, :]
    if data_format == "channels_first":
        x, expected, dy, expected_dx = (to_nchw(a) for a in (x, expected, dy, expected_dx))
    layer = ZeroPadding2D(padding, data_format=data_format)
    assert layer.padding == ((top, bottom), (left, right))
    y = layer.forward(x)
    np.testing.assert_array_equal(y, expected)
    assert y.shape == concrete(layer.compute_output_shape((None,) + x.shape[1:]), n)
    np.testing.assert_array_equal(layer.backward(dy), expected_dx)
    assert set(check_gradients(layer, x)) == {"input"}


def test_zero_padding_example_and_defaults():
    layer = ZeroPadding2D()
    assert layer.padding == ((1, 1), (1, 1))
    assert layer.get_weights() == []
    assert layer.compute_output_shape((None, 28, 28, 1)) == (None, 30, 30, 1)
    asymmetric = ZeroPadding2D(((1, 0), (0, 2)), data_format="channels_first")
    assert asymmetric.compute_output_shape((None, 3, 4, 5)) == (None, 3, 5, 7)
    x = np.array([[[[1.0, 2.0]]]])  # (1, 1, 1, 2) channels_first: one channel, one row
    np.testing.assert_array_equal(asymmetric.forward(x), [[[[0, 0, 0, 0], [1, 2, 0, 0]]]])


def test_zero_padding_config_round_trip():
    layer = ZeroPadding2D(((1, 2), (3, 0)), data_format="channels_first")
    config = layer.get_config()
    assert ZeroPadding2D.from_config(config).get_config() == config


@pytest.mark.parametrize("padding", [-1, (1, -2), ((1, 2), (3,)), ((1, 2), (3, 4), (5, 6))])
def test_zero_padding_rejects_bad_padding(padding):
    with pytest.raises(ValueError, match="padding"):
        ZeroPadding2D(padding)
