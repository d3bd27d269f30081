"""1-D layers over the steps of a sequence: Conv1D, MaxPooling1D, AveragePooling1D,
GlobalMaxPooling1D, GlobalAveragePooling1D.

Over hypothesis-drawn geometries ('valid', 'same' and 'causal' padding, strides, dilation, both
data formats) Conv1D is compared with a direct sum over kernel taps written here, the window
poolings with a loop over windows, and every backward with finite differences; each output shape
with ``compute_output_shape``. PyTorch's and Keras' own numbers are compared in
test_layer_catalog_references.py.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from layer_helpers import concrete

from tinykeras.layers import (
    AveragePooling1D,
    Conv1D,
    Conv2D,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    MaxPooling1D,
)
from tinykeras.utils import check_gradients

seeds = st.integers(0, 2**32 - 1)
data_formats = st.sampled_from(["channels_last", "channels_first"])


def padded_starts(steps, window, stride, dilation, padding):
    """(output length, zeros before the first step) as TensorFlow and Keras pad."""
    span = (window - 1) * dilation + 1
    if padding == "valid":
        return (steps - span) // stride + 1, 0
    out = -(-steps // stride)
    if padding == "causal":
        return out, span - 1
    return out, max((out - 1) * stride + span - steps, 0) // 2


def reference_conv1d(x, kernel, bias, stride, dilation, padding):
    """Conv1D on (N, steps, C) as a sum over taps: y[n, t, f] = sum_k,c x[n, t*s - before + k*d, c] kernel[k, c, f]."""
    n, steps, _ = x.shape
    window, _, filters = kernel.shape
    out, before = padded_starts(steps, window, stride, dilation, padding)
    y = np.tile(bias, (n, out, 1)).astype(np.float64)
    for t in range(out):
        for k in range(window):
            step = t * stride - before + k * dilation
            if 0 <= step < steps:
                y[:, t] += x[:, step] @ kernel[k]
    return y


@st.composite
def conv1d_cases(draw):
    padding = draw(st.sampled_from(["valid", "same", "causal"]))
    window, stride, dilation = draw(st.integers(1, 4)), draw(st.integers(1, 3)), 1
    if stride == 1:
        dilation = draw(st.integers(1, 3))
    steps = draw(st.integers(1, 10))
    if padding == "valid":
        assume(steps >= (window - 1) * dilation + 1)
    return {
        "args": {"filters": draw(st.integers(1, 4)), "kernel_size": window, "strides": stride,
                 "dilation_rate": dilation, "padding": padding},
        "shape": (draw(st.integers(1, 3)), steps, draw(st.integers(1, 4))),
        "seed": draw(seeds),
    }


@settings(max_examples=80, deadline=None)
@given(case=conv1d_cases(), data_format=data_formats)
def test_conv1d_equals_the_sum_over_taps_and_passes_the_gradient_check(case, data_format):
    rng = np.random.default_rng(case["seed"])
    layer = Conv1D(**case["args"], data_format=data_format, dtype="float64")
    x = rng.standard_normal(case["shape"])
    layer.build_for((None,) + (x.shape[1:] if data_format == "channels_last" else x.shape[:0:-1]))
    kernel, bias = rng.standard_normal(layer.kernel.shape), rng.standard_normal(layer.filters)
    layer.set_weights([kernel, bias])
    a = case["args"]
    expected = reference_conv1d(x, kernel, bias, a["strides"], a["dilation_rate"], a["padding"])
    if data_format == "channels_first":
        x, expected = x.transpose(0, 2, 1).copy(), expected.transpose(0, 2, 1)
    y = layer(x)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    assert y.shape == concrete(layer.compute_output_shape((None,) + x.shape[1:]), x.shape[0])
    assert set(check_gradients(layer, x)) == {"input", "kernel", "bias"}


def test_conv1d_is_conv2d_over_a_height_of_one(rng):
    conv1d = Conv1D(5, 3, strides=2, padding="same", activation="relu", dtype="float64")
    conv2d = Conv2D(5, (1, 3), strides=(1, 2), padding="same", activation="relu", dtype="float64")
    conv1d.build_for((None, 11, 4))
    conv2d.build_for((None, 1, 11, 4))
    assert conv1d.kernel.shape == (3, 4, 5)
    conv2d.set_weights([conv1d.kernel.value[None], conv1d.bias.value])
    x = rng.standard_normal((2, 11, 4))
    np.testing.assert_array_equal(conv1d(x), conv2d(x[:, None])[:, 0])
    dy = rng.standard_normal((2, 6, 5))
    np.testing.assert_array_equal(conv1d.backward(dy), conv2d.backward(dy[:, None])[:, 0])
    np.testing.assert_array_equal(conv1d.grads[0], conv2d.grads[0][0])


def test_conv1d_causal_output_never_reads_a_later_step(rng):
    layer = Conv1D(2, 4, dilation_rate=2, padding="causal", dtype="float64")
    x = rng.standard_normal((1, 12, 3))
    y = layer(x)
    changed = x.copy()
    changed[:, 7:] += 1.0
    np.testing.assert_array_equal(layer(changed)[:, :7], y[:, :7])
    assert y.shape == (1, 12, 2)


def test_conv1d_keras_defaults_config_and_errors():
    config = Conv1D(8, 3).get_config()
    assert (config["kernel_size"], config["strides"], config["dilation_rate"], config["padding"]) == ((3,), (1,), (1,), "valid")
    assert Conv1D.from_config(Conv1D(8, 3, padding="causal").get_config()).padding == "causal"
    with pytest.raises(ValueError, match=r"Conv1D: The `kernel_size` argument must be a tuple of 1 integers\. Received: kernel_size=\(3, 3\)"):
        Conv1D(8, (3, 3))
    with pytest.raises(ValueError, match=r"Conv1D: The `padding` argument must be one of 'valid', 'same', 'causal'\. Received: padding='full'"):
        Conv1D(8, 3, padding="full")
    with pytest.raises(ValueError, match=r"Conv1D: `strides > 1` not supported in conjunction with `dilation_rate > 1`\. Received: strides=\(2,\) and dilation_rate=\(2,\)"):
        Conv1D(8, 3, strides=2, dilation_rate=2)
    with pytest.raises(TypeError, match=r"Conv1D: filters must be a positive integer"):
        Conv1D(True, 3)
    with pytest.raises(ValueError, match=r"\(Conv1D\) with a window of 5 \(strides 1, dilation 1, padding 'valid'\) cannot be applied to 3 steps"):
        Conv1D(2, 5).build_for((None, 3, 2))
    with pytest.raises(ValueError, match=r"\(Conv1D\) expects 3-D inputs \(batch, steps, channels\); received input_shape=\(None, 4, 4, 1\)"):
        Conv1D(2, 3).build_for((None, 4, 4, 1))


# ---- window poolings ----------------------------------------------------------------------


def reference_pool1d(x, pool, stride, padding, reduce):
    """Pooling of (N, steps, C) over each window's real steps (padding never counts)."""
    out, before = padded_starts(x.shape[1], pool, stride, 1, padding)
    starts = [t * stride - before for t in range(out)]
    return np.stack([reduce(x[:, max(s, 0):s + pool], axis=1) for s in starts], axis=1)


@st.composite
def pool1d_cases(draw):
    pool = draw(st.integers(1, 4))
    stride = draw(st.one_of(st.none(), st.integers(1, 4)))
    padding = draw(st.sampled_from(["valid", "same"]))
    steps = draw(st.integers(1, 10))
    if padding == "valid":
        assume(steps >= pool)
    return pool, stride, padding, (draw(st.integers(1, 3)), steps, draw(st.integers(1, 3))), draw(seeds)


@pytest.mark.parametrize("layer_class, reduce", [(MaxPooling1D, np.max), (AveragePooling1D, np.mean)])
@settings(max_examples=50, deadline=None)
@given(case=pool1d_cases(), data_format=data_formats)
def test_pooling1d_equals_the_window_reference_and_passes_the_gradient_check(layer_class, reduce, case, data_format):
    pool, stride, padding, shape, seed = case
    size = int(np.prod(shape))
    x = (np.random.default_rng(seed).permutation(size).reshape(shape) - size / 2) * 0.1  # distinct: no ties
    expected = reference_pool1d(x, pool, stride or pool, padding, reduce)
    if data_format == "channels_first":
        x, expected = x.transpose(0, 2, 1).copy(), expected.transpose(0, 2, 1)
    layer = layer_class(pool, strides=stride, padding=padding, data_format=data_format, dtype="float64")
    y = layer(x)
    np.testing.assert_allclose(y, expected, rtol=1e-13, atol=1e-14)
    assert y.shape == concrete(layer.compute_output_shape((None,) + x.shape[1:]), x.shape[0])
    check_gradients(layer, x)


def test_pooling1d_keras_defaults_and_errors():
    config = MaxPooling1D().get_config()
    assert (config["pool_size"], config["strides"], config["padding"]) == ((2,), (2,), "valid")
    assert AveragePooling1D(3, strides=1).get_config()["strides"] == (1,)
    with pytest.raises(TypeError):
        AveragePooling1D()  # Keras' AveragePooling1D has no default pool_size
    with pytest.raises(ValueError, match=r"MaxPooling1D: The `pool_size` argument must be a tuple of 1 integers >= 1\. Received: pool_size=0"):
        MaxPooling1D(0)
    with pytest.raises(ValueError, match=r"\(MaxPooling1D\) with a window of 4 .*cannot be applied to 3 steps"):
        MaxPooling1D(4).build_for((None, 3, 2))


# ---- global poolings ----------------------------------------------------------------------


@pytest.mark.parametrize("layer_class, reduce", [(GlobalMaxPooling1D, np.max), (GlobalAveragePooling1D, np.mean)])
@settings(max_examples=30, deadline=None)
@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 4)), keepdims=st.booleans(),
       data_format=data_formats, seed=seeds)
def test_global_pooling1d_reduces_the_steps(layer_class, reduce, shape, keepdims, data_format, seed):
    size = int(np.prod(shape))
    x = (np.random.default_rng(seed).permutation(size).reshape(shape) - size / 2) * 0.1
    expected = reduce(x, axis=1, keepdims=keepdims)
    if data_format == "channels_first":
        x = x.transpose(0, 2, 1).copy()
        expected = expected.transpose(0, 2, 1) if keepdims else expected
    layer = layer_class(data_format=data_format, keepdims=keepdims, dtype="float64")
    y = layer(x)
    np.testing.assert_allclose(y, expected, rtol=1e-14)
    assert y.shape == concrete(layer.compute_output_shape((None,) + x.shape[1:]), x.shape[0])
    check_gradients(layer, x)


def test_global_max_pooling1d_shares_the_gradient_between_ties():
    layer = GlobalMaxPooling1D(dtype="float64")
    layer(np.array([[[1.0], [3.0], [3.0]]]))
    np.testing.assert_array_equal(layer.backward(np.array([[2.0]])), [[[0.0], [1.0], [1.0]]])


def test_global_pooling1d_expects_sequences():
    with pytest.raises(ValueError, match=r"\(GlobalAveragePooling1D\) expects 3-D inputs \(batch, steps, channels\)"):
        GlobalAveragePooling1D().build_for((None, 4, 4, 2))
