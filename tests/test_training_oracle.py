"""Whole training steps against PyTorch: the same weights and batches must give the same model.

Each test copies a tinykeras model's initial weights into the equivalent PyTorch model, trains
both on identical batches in float64 and compares every weight afterwards. With SGD (momentum
and Nesterov included) the update rules are the same formula, so the trajectories agree to
rounding. (Adam is left to the optimizer tests: PyTorch adds its epsilon to sqrt(v_hat) where
Keras adds it to sqrt(v), so the two differ by design.) Skipped when PyTorch (the optional ``bench`` extra) is not installed.
"""
import numpy as np
import pytest

from tinykeras import Sequential, optimizers
from tinykeras.layers import AveragePooling2D, Conv2D, Dense, Flatten, MaxPooling2D

torch = pytest.importorskip("torch")
F = torch.nn.functional

STEPS = 12
BATCH = 8


def keras_to_torch(weights):
    """tinykeras weights as torch tensors in PyTorch's layouts (OIHW kernels, (out, in) dense)."""
    converted = []
    for w in weights:
        if w.ndim == 4:
            w = w.transpose(3, 2, 0, 1)
        elif w.ndim == 2:
            w = w.T
        converted.append(torch.tensor(np.ascontiguousarray(w), requires_grad=True))
    return converted


def torch_to_keras(tensors):
    weights = []
    for t in tensors:
        w = t.detach().numpy()
        weights.append(w.transpose(2, 3, 1, 0) if w.ndim == 4 else w.T if w.ndim == 2 else w)
    return weights


def train_both(model, torch_forward, x, y, optimizer, torch_optimizer):
    """Trains ``model`` and the torch parameters on the same batches, checking that every step's
    loss agrees; returns both weight lists."""
    model.compile(optimizer, "sparse_categorical_crossentropy")
    params = keras_to_torch(model.get_weights())
    opt = torch_optimizer(params)
    for step in range(STEPS):
        xb, yb = x[step * BATCH : (step + 1) * BATCH], y[step * BATCH : (step + 1) * BATCH]
        keras_loss = model.train_on_batch(xb, yb)
        loss = F.cross_entropy(torch_forward(torch.from_numpy(xb), params), torch.from_numpy(yb))
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert keras_loss == pytest.approx(loss.item(), rel=1e-9)
    return model.get_weights(), torch_to_keras(params)


def nhwc_to_nchw(x):
    return x.permute(0, 3, 1, 2)


def nchw_flatten_as_nhwc(h):
    """Flattens (N, C, H, W) in Keras' NHWC order so that the dense kernels line up."""
    return h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)


def cnn_forward(pool):
    def forward(x, p):
        h = F.conv2d(nhwc_to_nchw(x), p[0], p[1])
        h = pool(F.relu(h), 2)
        h = F.conv2d(F.pad(h, (0, 1, 0, 1)), p[2], p[3], stride=2)
        return F.linear(nchw_flatten_as_nhwc(torch.tanh(h)), p[4], p[5])

    return forward


OPTIMIZERS = {
    "sgd": (lambda: optimizers.SGD(0.05), lambda p: torch.optim.SGD(p, lr=0.05)),
    "momentum": (
        lambda: optimizers.SGD(0.05, momentum=0.9),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
    ),
    "nesterov": (
        lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    ),
}


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("pool", ["max", "average"])
def test_cnn_training_matches_pytorch(float64, optimizer, pool):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((STEPS * BATCH, 11, 11, 2))
    y = rng.integers(0, 5, STEPS * BATCH)
    pooling = MaxPooling2D if pool == "max" else AveragePooling2D
    model = Sequential(
        [
            Conv2D(4, 3, activation="relu", input_shape=(11, 11, 2)),
            pooling(2),
            # 4x4 input, 'same' with stride 2: TensorFlow pads one row/column, at the bottom/right.
            Conv2D(3, (2, 3), strides=2, padding="same", activation="tanh"),
            Flatten(),
            Dense(5, activation="softmax"),
        ]
    )
    torch_pool = F.max_pool2d if pool == "max" else F.avg_pool2d
    keras_opt, torch_opt = OPTIMIZERS[optimizer]
    ours, theirs = train_both(model, cnn_forward(torch_pool), x, y, keras_opt(), torch_opt)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
