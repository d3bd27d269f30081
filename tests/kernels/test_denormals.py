"""Subnormal numbers are flushed to zero inside fit/evaluate/predict, and only there."""
import numpy as np
import pytest

import tinykeras as keras
from tinykeras import layers
from tinykeras.kernels import blas, denormals

pytestmark = pytest.mark.skipif(not denormals.X86, reason="flush-to-zero is set through x86's MXCSR")

TINY32 = np.finfo(np.float32).tiny  # the smallest normal float32


def subnormal_product(dtype):
    return np.asarray(np.finfo(dtype).tiny, dtype) * np.asarray(0.5, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flushed_turns_subnormal_results_and_operands_to_zero_then_restores(dtype):
    assert subnormal_product(dtype) != 0  # IEEE arithmetic outside
    before = denormals.control()
    with denormals.flushed():
        assert subnormal_product(dtype) == 0  # FTZ: a subnormal result is written as zero
        subnormal = np.frombuffer(np.asarray(1, {np.float32: np.uint32, np.float64: np.uint64}[dtype]).tobytes(), dtype)
        assert subnormal * dtype(2) == 0  # DAZ: a subnormal operand is read as zero
    assert denormals.control() == before
    assert subnormal_product(dtype) != 0


def test_helper_threads_take_the_callers_setting_with_each_part():
    def part(lo, hi):
        return float(subnormal_product(np.float32))

    parts = max(2, blas.split_count())
    with denormals.flushed():
        assert blas.split_batch(parts, part, parts) == [0.0] * parts
    assert all(value > 0 for value in blas.split_batch(parts, part, parts))


def test_fit_leaves_the_callers_control_word_as_it_was():
    model = keras.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
    model.compile("sgd", "mse")
    before = denormals.control()
    model.fit(np.ones((4, 3), np.float32), np.ones((4, 2), np.float32), verbose=0)
    model.predict(np.ones((4, 3), np.float32), verbose=0)
    assert denormals.control() == before


def assert_no_subnormal(arrays, where):
    for index, array in enumerate(arrays):
        array = np.asarray(array)
        if array.dtype.kind != "f":
            continue
        magnitude = np.abs(array)
        small = magnitude[(magnitude > 0) & (magnitude < np.finfo(array.dtype).tiny)]
        assert small.size == 0, f"{where} {index} holds {small.size} subnormal values, e.g. {small[0]!r}"


def test_training_with_dead_units_leaves_no_subnormal_anywhere():
    """One batch gives every weight a gradient; then 900 batches of zeros give the first
    kernel none, so Adam's first moment decays by 0.9 a step (it would pass 1.2e-38 after
    about 800 steps), and BatchNormalization's moving mean decays by 0.99 a step."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        layers.Input(shape=(8,)),
        layers.Dense(16, activation="relu"),
        layers.BatchNormalization(center=False, scale=False),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile(keras.optimizers.Adam(), "categorical_crossentropy")
    rng = np.random.default_rng(0)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 16)]
    model.train_on_batch(rng.random((16, 8), dtype=np.float32) * 1e-3, y)
    zeros = np.zeros((16 * 900, 8), np.float32)
    model.fit(zeros, np.tile(y, (900, 1)), batch_size=16, epochs=1, shuffle=False, verbose=0)

    assert model.optimizer.iterations == 901
    first_moment = model.optimizer.variables[2]  # the first kernel's
    assert np.count_nonzero(first_moment) < first_moment.size  # decayed all the way to zero
    assert_no_subnormal(model.get_weights(), "weight")
    assert_no_subnormal(model.optimizer.variables, "optimizer state array")
