"""benchmarks/flops.py: the matrix products of a training step, against which a workload's
achieved GFLOP/s is set."""
import os
import sys

import tinykeras as keras
from tinykeras import layers

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))

import flops  # noqa: E402


def test_dense_layers_give_a_forward_a_weight_and_an_input_gradient_product():
    model = keras.Sequential([keras.Input((784,)), layers.Dense(64), layers.Dropout(0.5), layers.Dense(10)])
    assert flops.gemm_shapes(model, 32) == [
        (32, 784, 64), (784, 32, 64),  # the first layer needs no input gradient
        (32, 64, 10), (64, 32, 10), (32, 10, 64),
    ]
    assert flops.flops(flops.gemm_shapes(model, 32)) == 2 * 32 * (784 * 64 * 2 + 64 * 10 * 3)


def test_a_convolution_is_counted_as_its_im2col_product():
    model = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(8, 3), layers.MaxPooling2D(2),
                              layers.Conv2D(4, 3, padding="same")])
    assert flops.gemm_shapes(model, 2) == [
        (2 * 26 * 26, 9, 8), (9, 2 * 26 * 26, 8),
        (2 * 13 * 13, 72, 4), (72, 2 * 13 * 13, 4), (2 * 13 * 13, 4, 72),
    ]


def test_a_recurrent_layer_projects_all_steps_then_multiplies_the_state_at_each():
    model = keras.Sequential([keras.Input((5,), dtype="int32"), layers.Embedding(100, 8), layers.LSTM(6)])
    shapes = flops.gemm_shapes(model, 3)
    assert shapes[:3] == [(15, 8, 24), (8, 15, 24), (15, 24, 8)]  # the Embedding before it trains
    assert shapes[3:] == [(3, 6, 24), (6, 3, 24), (3, 24, 6)] * 5


def test_sgemm_seconds_times_each_product():
    assert flops.sgemm_seconds([(8, 8, 8), (8, 8, 8), (4, 3, 2)], repeats=3) > 0
