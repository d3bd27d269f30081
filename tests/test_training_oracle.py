"""Whole training steps against PyTorch: the same weights and batches must give the same model.

tests/fixtures/torch_training_oracle.npz (written by make_torch_training_oracle_fixture.py) holds
a small CNN's initial weights, the batches, and PyTorch's float64 training run of the same model
for SGD, SGD with momentum and with Nesterov momentum, after max or average pooling: the loss at
every step and the final weights. Each test loads the initial weights into tinykeras' model,
trains it on the same batches in float64 and compares every step's loss and every final weight.
With SGD the update rules are the same formula, so the trajectories agree to rounding. (Adam is
left to the optimizer tests: PyTorch adds its epsilon to sqrt(v_hat) where Keras adds it to
sqrt(v), so the two differ by design.) These tests need only tinykeras.
"""
import json
import os

import numpy as np
import pytest

from tinykeras import Sequential, optimizers
from tinykeras.layers import AveragePooling2D, Conv2D, Dense, Flatten, MaxPooling2D

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
ORACLE = np.load(os.path.join(FIXTURES, "torch_training_oracle.npz"), allow_pickle=False)
CASES = sorted({key.split("/")[0] for key in ORACLE.files if "/" in key} - {"initial"})


def numbered(prefix):
    return [ORACLE[f"{prefix}/w{i}"] for i in range(sum(key.startswith(f"{prefix}/w") for key in ORACLE.files))]


def cnn(pool):
    pooling = MaxPooling2D if pool == "max" else AveragePooling2D
    return Sequential(
        [
            Conv2D(4, 3, activation="relu", input_shape=(11, 11, 2)),
            pooling(2),
            # 4x4 input, 'same' with stride 2: TensorFlow pads one column, at the right (2 rows need none).
            Conv2D(3, (2, 3), strides=2, padding="same", activation="tanh"),
            Flatten(),
            Dense(5, activation="softmax"),
        ]
    )


def test_the_fixture_holds_every_pooling_and_optimizer():
    assert CASES == [f"{pool}-{name}" for pool in ("average", "max") for name in ("momentum", "nesterov", "sgd")]


@pytest.mark.parametrize("case", CASES)
def test_cnn_training_matches_pytorch(float64, case):
    x, y, losses = ORACLE["x"], ORACLE["y"], ORACLE[f"{case}/loss"]
    batch = len(x) // len(losses)
    model = cnn(case.split("-")[0])
    model.set_weights(numbered("initial"))
    model.compile(optimizers.SGD(**json.loads(str(ORACLE[f"{case}/optimizer"]))), "sparse_categorical_crossentropy")
    for step, expected in enumerate(losses):
        loss = model.train_on_batch(x[step * batch : (step + 1) * batch], y[step * batch : (step + 1) * batch])
        assert loss == pytest.approx(expected, rel=1e-9), f"step {step}"
    for ours, theirs in zip(model.get_weights(), numbered(case), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
