"""The layers' constructor arguments: a wrong type raises TypeError, a wrong value ValueError,
each naming the layer, the argument and the value received. Booleans are not numbers (Python
counts True as 1, but ``Dense(units=True)`` is a mistake); NumPy integers are fine. Keras 1's
argument names keep working (tests/test_legacy.py) and are checked the same way."""

import warnings

import numpy as np
import pytest

from tinykeras.layers import (
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Convolution2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    InputLayer,
    MaxPooling2D,
    Reshape,
    ZeroPadding2D,
)

CASES = [
    # (layer, keyword arguments, error, message)
    (Dense, {"units": True}, TypeError, r"Dense: units must be a positive integer\. Received: units=True \(a bool, not a number\)\."),
    (Dense, {"units": "8"}, TypeError, r"Dense: units must be a positive integer\. Received: units='8' \(a str\)\. Pass the integer itself: units=8\."),
    (Dense, {"units": None}, TypeError, r"Dense: units must be a positive integer\. Received: units=None \(no value\)"),
    (Dense, {"units": 10, "input_dim": True}, TypeError, r"Dense: input_dim must be a positive integer\. Received: input_dim=True"),
    (Dense, {"units": 10, "input_shape": (28, 28.0)}, TypeError, r"Dense: input_shape must be a tuple of integers \(None for a size taken from the data\), e\.g\. input_shape=\(28, 28, 1\)\. Received: input_shape=\(28, 28\.0\)"),
    (Dense, {"units": 10, "input_shape": (0,)}, ValueError, r"Dense: input_shape must hold sizes >= 1, or None for a size taken from the data\. Received: input_shape=\(0,\)"),
    (Dense, {"units": 10, "input_shape": "784"}, TypeError, r"Dense: input_shape must be a tuple of integers"),
    (Dense, {"units": 10, "batch_input_shape": (None, True)}, TypeError, r"Dense: batch_input_shape must be a tuple of integers"),
    (Dense, {"units": 10, "input_shape": (4,), "batch_size": 0}, ValueError, r"Dense: batch_size must be a positive integer\. Received: batch_size=0\."),
    (Dropout, {"rate": True}, TypeError, r"Dropout: rate must be a number in \[0, 1\)\. Received: rate=True \(a bool"),
    (Dropout, {"rate": False}, TypeError, r"Dropout: rate must be a number in \[0, 1\)\. Received: rate=False \(a bool"),
    (Dropout, {"rate": "0.5"}, TypeError, r"Dropout: rate must be a number in \[0, 1\)\. Received: rate='0\.5' \(a str\)\. Pass the number itself: rate=0\.5\."),
    (Dropout, {"rate": 0.5, "seed": -1}, ValueError, r"Dropout: seed must be a non-negative integer\. Received: seed=-1\."),
    (Dropout, {"rate": 0.5, "seed": 1.5}, TypeError, r"Dropout: seed must be a non-negative integer\. Received: seed=1\.5"),
    (Dropout, {"rate": 0.5, "noise_shape": (None, 0)}, ValueError, r"Dropout: noise_shape must hold sizes >= 1, or None for a size taken from the data\. Received: noise_shape=\(None, 0\)"),
    (Dropout, {"rate": 0.5, "noise_shape": (None, 1.5)}, TypeError, r"Dropout: noise_shape must be a tuple of integers \(None for a size taken from the data\), e\.g\. noise_shape=\(28, 28, 1\)\. Received: noise_shape=\(None, 1\.5\)"),
    (Flatten, {"data_format": "channels_middle"}, ValueError, r"The `data_format` argument must be one of 'channels_last', 'channels_first'\. Received: data_format='channels_middle'"),
    (Reshape, {"target_shape": 4}, TypeError, r"Reshape: target_shape must be a tuple of integers \(-1 for the one size to infer\), e\.g\. target_shape=\(28, 28, 1\)\. Received: target_shape=4"),
    (Reshape, {"target_shape": (2.5, 2)}, TypeError, r"Reshape: target_shape must be a tuple of integers .*Received: target_shape=\(2\.5, 2\)"),
    (Reshape, {"target_shape": (0, 4)}, ValueError, r"Reshape: target_shape must hold sizes >= 1, or -1 for the one size to infer\. Received: target_shape=\(0, 4\)"),
    (Reshape, {"target_shape": (None, 4)}, TypeError, r"Reshape: target_shape must be a tuple of integers .*Received: target_shape=\(None, 4\)"),
    (Reshape, {"target_shape": (-1, -1)}, ValueError, r"Reshape: target_shape must hold sizes >= 1, or -1 for the one size to infer\. Received: target_shape=\(-1, -1\)"),
    (InputLayer, {"shape": 2.5}, TypeError, r"InputLayer: input_shape must be a tuple of integers .*Received: input_shape=2\.5"),
    (Conv2D, {"filters": True, "kernel_size": 3}, TypeError, r"Conv2D: filters must be a positive integer\. Received: filters=True \(a bool"),
    (Conv2D, {"filters": 8, "kernel_size": True}, TypeError, r"Conv2D: The `kernel_size` argument must be a tuple of 2 integers \(or one integer for all 2\)\. Received: kernel_size=True"),
    (Conv2D, {"filters": 8, "kernel_size": "3"}, TypeError, r"Conv2D: The `kernel_size` argument must be a tuple of 2 integers .*Received: kernel_size='3'"),
    (Conv2D, {"filters": 8, "kernel_size": (3, 3.0)}, TypeError, r"Conv2D: The `kernel_size` argument must be a tuple of 2 integers .*Received: kernel_size=\(3, 3\.0\)"),
    (Conv2D, {"filters": 8, "kernel_size": (3, 3, 3)}, ValueError, r"Conv2D: The `kernel_size` argument must be a tuple of 2 integers\. Received: kernel_size=\(3, 3, 3\)"),
    (Conv2D, {"filters": 8, "kernel_size": 3, "strides": 0}, ValueError, r"Conv2D: The `strides` argument must be a tuple of 2 integers >= 1\. Received: strides=0"),
    (Conv2D, {"filters": 8, "kernel_size": 3, "dilation_rate": (1, False)}, TypeError, r"Conv2D: The `dilation_rate` argument .*Received: dilation_rate=\(1, False\)"),
    (MaxPooling2D, {"pool_size": True}, TypeError, r"MaxPooling2D: The `pool_size` argument must be a tuple of 2 integers .*Received: pool_size=True"),
    (MaxPooling2D, {"pool_size": (2, 0)}, ValueError, r"MaxPooling2D: The `pool_size` argument must be a tuple of 2 integers >= 1\. Received: pool_size=\(2, 0\)"),
    (AveragePooling2D, {"strides": (2, 2.0)}, TypeError, r"AveragePooling2D: The `strides` argument .*Received: strides=\(2, 2\.0\)"),
    (ZeroPadding2D, {"padding": True}, TypeError, r"ZeroPadding2D: `padding` should be an int, a tuple of 2 ints, or a tuple of 2 tuples of 2 non-negative ints\. Received: padding=True"),
    (ZeroPadding2D, {"padding": 1.5}, TypeError, r"ZeroPadding2D: `padding` should be .*Received: padding=1\.5"),
    (ZeroPadding2D, {"padding": ((1, True), (0, 0))}, TypeError, r"ZeroPadding2D: The `padding` argument .*Received: padding=\(1, True\)"),
    (BatchNormalization, {"axis": True}, TypeError, r"BatchNormalization: axis must be an integer\. Received: axis=True \(a bool"),
    (BatchNormalization, {"momentum": True}, TypeError, r"BatchNormalization: momentum must be a number in \[0, 1\]\. Received: momentum=True"),
    (BatchNormalization, {"momentum": "0.9"}, TypeError, r"BatchNormalization: momentum must be a number in \[0, 1\]\. Received: momentum='0\.9' \(a str\)\. Pass the number itself: momentum=0\.9\."),
    (BatchNormalization, {"epsilon": np.nan}, ValueError, r"BatchNormalization: epsilon must be positive and finite\. Received: epsilon=nan\."),
    (BatchNormalization, {"epsilon": np.inf}, ValueError, r"BatchNormalization: epsilon must be positive and finite\. Received: epsilon=inf\."),
    (BatchNormalization, {"epsilon": "1e-3"}, TypeError, r"BatchNormalization: epsilon must be a positive, finite number\. Received: epsilon='1e-3' \(a str\)\. Pass the number itself: epsilon=0\.001\."),
]


@pytest.mark.parametrize(("layer", "kwargs", "error", "message"), CASES,
                         ids=[f"{case[0].__name__}-{case[1]}" for case in CASES])
def test_a_bad_constructor_argument_raises_naming_the_layer_and_the_value(layer, kwargs, error, message):
    with pytest.raises(error, match=message):
        layer(**kwargs)


def test_input_checks_its_shape_and_batch_size():
    with pytest.raises(TypeError, match=r"InputLayer: input_shape must be a tuple of integers .*Received: input_shape=\(28, True\)"):
        Input(shape=(28, True))
    with pytest.raises(ValueError, match=r"InputLayer: batch_size must be a positive integer\. Received: batch_size=-1\."):
        Input(shape=(28,), batch_size=-1)


def test_keras_1_names_are_checked_under_the_current_name():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(TypeError, match=r"Dense: units must be a positive integer\. Received: units=True"):
            Dense(output_dim=True)
        with pytest.raises(TypeError, match=r"Convolution2D: Keras 1's call gives the kernel as two integers"):
            Convolution2D(8, True, 3)
        with pytest.raises(ValueError, match=r"Conv2D: The `strides` argument must be a tuple of 2 integers >= 1"):
            Convolution2D(8, 3, 3, subsample=(0, 1))


def test_numpy_integers_and_floats_are_accepted():
    assert Dense(np.int64(4), input_shape=(np.int32(3),)).units == 4
    assert Dense(4, input_dim=np.int16(3)).batch_input_shape == (None, 3)
    conv = Conv2D(np.int64(8), (np.int8(3), 3), strides=np.uint8(2))
    assert (conv.filters, conv.kernel_size, conv.strides) == (8, (3, 3), (2, 2))
    assert all(type(v) is int for v in conv.kernel_size + conv.strides)
    assert Dropout(np.float32(0.5), seed=np.int64(3)).rate == 0.5
    norm = BatchNormalization(axis=np.int64(-1), momentum=np.float64(0.9), epsilon=np.float32(1e-3))
    assert (norm.axis, norm.momentum) == (-1, 0.9)
    assert MaxPooling2D(np.int64(3)).pool_size == (3, 3)
    assert ZeroPadding2D(np.int64(2)).padding == ((2, 2), (2, 2))
    assert Reshape([np.int64(2), -1]).target_shape == (2, -1)
    assert Dropout(0.2, noise_shape=[None, np.int64(1)]).noise_shape == (None, 1)


def test_valid_edge_values_are_accepted():
    assert Dropout(0).rate == 0.0
    assert BatchNormalization(momentum=0, epsilon=1e-12).momentum == 0.0
    assert BatchNormalization(momentum=1).momentum == 1.0
    assert ZeroPadding2D(0).padding == ((0, 0), (0, 0))
    assert Dense(1, input_shape=784).batch_input_shape == (None, 784)
    assert Dense(1, batch_input_shape=(None, None, 3)).batch_input_shape == (None, None, 3)
