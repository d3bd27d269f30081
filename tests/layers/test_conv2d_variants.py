"""Conv2DTranspose, DepthwiseConv2D and SeparableConv2D.

Over hypothesis-drawn geometries (kernel, strides, dilation, 'valid'/'same', both data formats):
Conv2DTranspose is checked as the adjoint of Conv2D with the same kernel,
``<conv_transpose(x), y> == <x, conv2d(y)>``; DepthwiseConv2D against one single-filter Conv2D
per input channel and multiplier; SeparableConv2D against that followed by a 1x1 product; every
hand-written backward against finite differences, and every output shape against
``compute_output_shape``. PyTorch's and Keras' own numbers are compared in
test_layer_catalog_references.py, Keras' files in test_layer_catalog_files.py.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_helpers import concrete, to_nchw, to_nhwc

from tinykeras.layers import Conv2D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D
from tinykeras.utils import check_gradients

seeds = st.integers(0, 2**32 - 1)
data_formats = st.sampled_from(["channels_last", "channels_first"])


@st.composite
def geometries(draw):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    strides, dilation = (1, 1), (1, 1)
    if draw(st.booleans()):
        strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    else:
        dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    return {"kernel_size": kernel, "strides": strides, "dilation_rate": dilation,
            "padding": draw(st.sampled_from(["valid", "same"]))}


def in_format(x, data_format):
    return to_nchw(x) if data_format == "channels_first" else x


def checked(layer, x):
    """The output, after checking its shape against compute_output_shape and the backward
    against finite differences."""
    y = layer(x)
    assert y.shape == concrete(layer.compute_output_shape((None,) + x.shape[1:]), x.shape[0])
    check_gradients(layer, x)
    return y


# ---- Conv2DTranspose ----------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(geometry=geometries(), channels=st.integers(1, 3), filters=st.integers(1, 3),
       size=st.tuples(st.integers(1, 4), st.integers(1, 4)), data_format=data_formats, seed=seeds)
def test_conv2d_transpose_is_the_adjoint_of_conv2d(geometry, channels, filters, size, data_format, seed):
    rng = np.random.default_rng(seed)
    transpose = Conv2DTranspose(filters, **geometry, data_format=data_format, dtype="float64")
    x = rng.standard_normal((2,) + size + (channels,))
    transpose.build_for((None,) + in_format(x, data_format).shape[1:])
    kernel, bias = rng.standard_normal(transpose.kernel.shape), rng.standard_normal(filters)
    transpose.set_weights([kernel, bias])
    y = to_nhwc(checked(transpose, in_format(x, data_format))) if data_format == "channels_first" else \
        checked(transpose, x)
    probe = rng.standard_normal(y.shape)
    conv = Conv2D(channels, **geometry, use_bias=False, dtype="float64")  # from filters channels to channels
    conv.build_for((None,) + y.shape[1:])
    conv.set_weights([kernel])
    forward = conv(probe)
    assert forward.shape == x.shape
    np.testing.assert_allclose(((y - bias) * probe).sum(), (x * forward).sum(), rtol=1e-10)


@pytest.mark.parametrize("arguments, size, expected", [
    ({"kernel_size": 3, "strides": 2}, 5, 11),  # (5 - 1) * 2 + 3
    ({"kernel_size": 2, "strides": 3}, 5, 15),  # (5 - 1) * 3 + max(2, 3)
    ({"kernel_size": 3, "strides": 2, "padding": "same"}, 5, 10),  # 5 * 2
    ({"kernel_size": 3, "strides": 2, "output_padding": 1}, 5, 12),  # (5 - 1) * 2 + 3 + 1
    ({"kernel_size": 4, "strides": 3, "padding": "same", "output_padding": 2}, 5, 14),  # (5 - 1) * 3 + 4 % 2 + 2
    ({"kernel_size": 3, "dilation_rate": 2}, 5, 9),  # (5 - 1) + 5
])
def test_conv2d_transpose_output_sizes_are_keras(arguments, size, expected):
    layer = Conv2DTranspose(2, **arguments)
    assert layer.compute_output_shape((None, size, size, 1)) == (None, expected, expected, 2)
    assert layer(np.zeros((1, size, size, 1), np.float32)).shape == (1, expected, expected, 2)


def test_conv2d_transpose_weights_config_and_errors():
    layer = Conv2DTranspose(4, 3, strides=2)
    layer.build_for((None, 5, 5, 3))
    assert [(v.name, v.shape) for v in layer.weights] == [("kernel", (3, 3, 4, 3)), ("bias", (4,))]
    config = layer.get_config()
    assert (config["kernel_size"], config["strides"], config["output_padding"]) == ((3, 3), (2, 2), None)
    assert Conv2DTranspose.from_config(config).get_config() == {**config, "name": config["name"]}
    with pytest.raises(ValueError, match=r"Conv2DTranspose: Strides must be greater than output padding\. Received strides=\(2, 2\), output_padding=\(2, 2\)"):
        Conv2DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match=r"Conv2DTranspose: The `padding` argument must be one of 'valid', 'same'"):
        Conv2DTranspose(2, 3, padding="causal")
    with pytest.raises(ValueError, match=r"Conv2DTranspose: `strides > 1` not supported in conjunction with `dilation_rate > 1`"):
        Conv2DTranspose(2, 3, strides=2, dilation_rate=2)


# ---- DepthwiseConv2D and SeparableConv2D --------------------------------------------------


def per_channel_reference(x, kernel, geometry):
    """Depthwise convolution of an NHWC batch as one single-filter Conv2D per input channel c and
    multiplier m, giving output channel c * M + m."""
    _, _, channels, multiplier = kernel.shape
    outputs = []
    for c in range(channels):
        for m in range(multiplier):
            conv = Conv2D(1, **geometry, use_bias=False, dtype="float64")
            conv.build_for((None,) + x.shape[1:3] + (1,))
            conv.set_weights([kernel[:, :, c : c + 1, m : m + 1]])
            outputs.append(conv(x[..., c : c + 1]))
    return np.concatenate(outputs, axis=-1)


def small_image(draw_size, geometry):
    """An image size at least the dilated kernel, so that 'valid' leaves an output."""
    return tuple(max(n, (k - 1) * d + 1) for n, k, d in zip(draw_size, geometry["kernel_size"], geometry["dilation_rate"]))


@settings(max_examples=40, deadline=None)
@given(geometry=geometries(), channels=st.integers(1, 3), multiplier=st.integers(1, 2),
       size=st.tuples(st.integers(1, 5), st.integers(1, 5)), data_format=data_formats, seed=seeds)
def test_depthwise_conv2d_is_one_convolution_per_channel(geometry, channels, multiplier, size, data_format, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2,) + small_image(size, geometry) + (channels,))
    layer = DepthwiseConv2D(**geometry, depth_multiplier=multiplier, data_format=data_format, dtype="float64")
    layer.build_for((None,) + in_format(x, data_format).shape[1:])
    kernel, bias = rng.standard_normal(layer.kernel.shape), rng.standard_normal(channels * multiplier)
    layer.set_weights([kernel, bias])
    expected = per_channel_reference(x, kernel, geometry) + bias
    np.testing.assert_allclose(checked(layer, in_format(x, data_format)), in_format(expected, data_format), rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(geometry=geometries(), channels=st.integers(1, 3), multiplier=st.integers(1, 2), filters=st.integers(1, 3),
       use_bias=st.booleans(), size=st.tuples(st.integers(1, 5), st.integers(1, 5)), seed=seeds)
def test_separable_conv2d_is_depthwise_then_pointwise(geometry, channels, multiplier, filters, use_bias, size, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2,) + small_image(size, geometry) + (channels,))
    layer = SeparableConv2D(filters, **geometry, depth_multiplier=multiplier, use_bias=use_bias, dtype="float64")
    layer.build_for((None,) + x.shape[1:])
    weights = [rng.standard_normal(v.shape) for v in layer.weights]
    layer.set_weights(weights)
    expected = per_channel_reference(x, weights[0], geometry) @ weights[1][0, 0] + (weights[2] if use_bias else 0)
    np.testing.assert_allclose(checked(layer, x), expected, rtol=1e-12, atol=1e-12)


def test_depthwise_and_separable_weights_configs_and_errors():
    depthwise = DepthwiseConv2D(3, depth_multiplier=2)
    depthwise.build_for((None, 6, 6, 3))
    assert [(v.name, v.shape) for v in depthwise.weights] == [("kernel", (3, 3, 3, 2)), ("bias", (6,))]
    assert depthwise.compute_output_shape((None, 6, 6, 3)) == (None, 4, 4, 6)
    separable = SeparableConv2D(5, 3, depth_multiplier=2)
    separable.build_for((None, 6, 6, 3))
    assert [(v.name, v.shape) for v in separable.weights] == [
        ("depthwise_kernel", (3, 3, 3, 2)), ("pointwise_kernel", (1, 1, 6, 5)), ("bias", (5,))]
    config = separable.get_config()
    assert (config["filters"], config["depth_multiplier"]) == (5, 2)
    assert config["pointwise_initializer"]["class_name"] == "GlorotUniform"
    assert SeparableConv2D.from_config(config).get_config() == config
    with pytest.raises(ValueError, match=r"DepthwiseConv2D: depth_multiplier must be a positive integer\. Received: depth_multiplier=0\."):
        DepthwiseConv2D(3, depth_multiplier=0)
    with pytest.raises(TypeError, match=r"SeparableConv2D: filters must be a positive integer"):
        SeparableConv2D(2.5, 3)
    with pytest.raises(ValueError, match=r"\(DepthwiseConv2D\) with a \(3, 3\) window .*cannot be applied to an input of spatial size \(2, 2\)"):
        DepthwiseConv2D(3).build_for((None, 2, 2, 1))
