"""Benchmark workloads: what to train, and how each framework trains it.

A workload is an entry of ``WORKLOADS``: a data preparation function (NumPy only, run once in a
process of its own), a tinykeras builder, a PyTorch builder, a batch size and a default number of
timed epochs. ``train_tinykeras`` and ``train_torch`` run any workload, so adding one (e.g. an
MNIST CNN) means writing its ``prepare`` and its two builders, and adding a ``Workload`` entry.

Conventions every workload follows:

- ``prepare()`` returns float32 inputs and integer class labels: ``x_train, y_train, x_test,
  y_test``. tinykeras models are compiled with ``categorical_crossentropy`` on one-hot targets
  (as the Keras examples do); PyTorch models output logits for ``nn.CrossEntropyLoss`` on labels.
- Both frameworks receive the same arrays; a torch builder for images in NHWC layout converts
  them inside its model.
- Frameworks are imported inside the functions, so a child process only loads its own.
"""

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SHARED_MNIST = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist.npz")


@dataclass(frozen=True)
class Workload:
    """One benchmark entry.

    Args:
        description: a one-line summary for the report.
        prepare: ``() -> dict`` of NumPy arrays (see the module docstring).
        build_tinykeras: ``() -> Sequential``, compiled.
        build_torch: ``() -> (module, optimizer, loss_fn)``.
        batch_size: samples per training step.
        epochs: timed epochs by default (after one warm-up epoch); odd, for a true median.
    """

    description: str
    prepare: Callable[[], dict]
    build_tinykeras: Callable
    build_torch: Callable
    batch_size: int = 32
    epochs: int = 3


# ---- data --------------------------------------------------------------------------------------


def load_mnist():
    """MNIST as uint8 arrays ((x_train, y_train), (x_test, y_test)).

    Uses ``tinykeras.datasets.mnist.load_data()``, which reads ``$TINYKERAS_HOME/datasets/
    mnist.npz``; when that cache is absent, it is pointed at the shared ``mnist.npz`` beside the
    repository instead (still verified, never downloaded).
    """
    from tinykeras.datasets import mnist

    if not os.path.exists(mnist.cache_path()) and os.path.exists(SHARED_MNIST):
        return mnist.load_data(path=os.path.abspath(SHARED_MNIST))
    return mnist.load_data()


def prepare_mnist_flat():
    """MNIST pixels scaled to x / 255 - 0.5 and flattened to 784 features (the MLP tutorial)."""
    (x_train, y_train), (x_test, y_test) = load_mnist()

    def scale(x):
        return (x.reshape(len(x), -1).astype(np.float32) / np.float32(255)) - np.float32(0.5)

    return {
        "x_train": scale(x_train),
        "y_train": y_train,
        "x_test": scale(x_test),
        "y_test": y_test,
    }


# ---- models ------------------------------------------------------------------------------------


def mlp_tinykeras():
    """Dense(64, relu) -> Dense(64, relu) -> Dense(10, softmax); Adam; categorical cross-entropy."""
    from tinykeras import Sequential, optimizers
    from tinykeras.layers import Dense

    model = Sequential(
        [
            Dense(64, activation="relu", input_shape=(784,)),
            Dense(64, activation="relu"),
            Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=optimizers.Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def mlp_torch():
    """The same MLP in PyTorch: Glorot-uniform kernels, zero biases, logits out, Adam(eps=1e-7).

    torch's Adam adds eps to sqrt(v_hat) (Keras adds it to sqrt(v) before the bias correction of
    the step size); with eps=1e-7 the difference does not matter for a benchmark.
    """
    import torch
    from torch import nn

    model = nn.Sequential(
        nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)
    )
    for layer in model:
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001, betas=(0.9, 0.999), eps=1e-7)
    return model, optimizer, nn.CrossEntropyLoss()


WORKLOADS = {
    "mlp": Workload(
        description="MNIST MLP 784-64-64-10 (relu, softmax), Adam, batch 32",
        prepare=prepare_mnist_flat,
        build_tinykeras=mlp_tinykeras,
        build_torch=mlp_torch,
    ),
}


# ---- training loops ----------------------------------------------------------------------------
# Each trainer returns a dict: first_step_s, epoch_s (one time per timed epoch), train_loss and
# train_accuracy (of the last epoch), test_accuracy, threads. first_step_s runs from the start of
# model construction to the end of the first optimizer step: building, the first call into the
# framework (and any JIT compilation) included. The warm-up is the first pass over the training
# data, cut after ``warmup_steps`` steps (None: a whole epoch); only the epochs after it are timed.


def train_tinykeras(workload, data, epochs, warmup_steps, seed):
    """Trains ``workload`` with tinykeras' ``fit`` and evaluates it on the test set."""
    from tinykeras import backend
    from tinykeras.callbacks import Callback
    from tinykeras.utils import to_categorical

    class WarmUp(Callback):
        """Records when the first step ends; stops the epoch after ``warmup_steps`` steps."""

        first_step_end = None

        def on_train_batch_begin(self, batch, logs=None):
            if batch == 1:
                self.first_step_end = time.perf_counter()
            if warmup_steps is not None and batch == warmup_steps - 1:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            self.first_step_end = self.first_step_end or time.perf_counter()

    class EpochTimer(Callback):
        """Records the wall time of each epoch."""

        times = ()

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times += (time.perf_counter() - self.start,)

    backend.set_random_seed(seed)
    classes = _num_classes(data)
    x, y = data["x_train"], to_categorical(data["y_train"], classes)
    start = time.perf_counter()
    model = workload.build_tinykeras()
    warm_up, timer = WarmUp(), EpochTimer()
    batch_size = workload.batch_size
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, callbacks=[warm_up])
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[timer])
    y_test = to_categorical(data["y_test"], classes)
    _, test_accuracy = model.evaluate(data["x_test"], y_test, batch_size=batch_size, verbose=0)
    return {
        "first_step_s": warm_up.first_step_end - start,
        "epoch_s": list(timer.times),
        "train_loss": history.history["loss"][-1],
        "train_accuracy": history.history["accuracy"][-1],
        "test_accuracy": float(test_accuracy),
        "threads": _blas_threads(),
    }


def train_torch(workload, data, epochs, warmup_steps, seed):
    """Trains ``workload`` with a plain PyTorch loop and evaluates it on the test set.

    Each step does what Keras' fit does: take a shuffled batch, forward, loss, backward, optimizer
    step, then add the batch's loss and accuracy to the epoch's running means.
    """
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(os.cpu_count())
    x, y = torch.from_numpy(data["x_train"]), torch.from_numpy(data["y_train"].astype(np.int64))
    start = time.perf_counter()
    model, optimizer, loss_fn = workload.build_torch()

    def run_epoch(max_steps=None):
        """One pass over freshly shuffled data (at most ``max_steps`` steps).

        Returns:
            (time at which the first step ended, mean loss, accuracy).
        """
        model.train()
        order = torch.randperm(len(x))
        total_loss, correct, seen, first_step_end = 0.0, 0, 0, None
        for step, begin in enumerate(range(0, len(x), workload.batch_size)):
            if step == max_steps:
                break
            index = order[begin : begin + workload.batch_size]
            xb, yb = x[index], y[index]
            logits = model(xb)
            loss = loss_fn(logits, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seen += len(yb)
            total_loss += loss.item() * len(yb)
            correct += (logits.argmax(dim=1) == yb).sum().item()
            first_step_end = first_step_end or time.perf_counter()
        return first_step_end, total_loss / seen, correct / seen

    first_step_s = run_epoch(warmup_steps)[0] - start
    epoch_s = []
    for _ in range(epochs):
        epoch_start = time.perf_counter()
        _, train_loss, train_accuracy = run_epoch()
        epoch_s.append(time.perf_counter() - epoch_start)
    model.eval()
    with torch.inference_mode():
        x_test = torch.from_numpy(data["x_test"])
        size = workload.batch_size
        predicted = torch.cat(
            [model(x_test[i : i + size]).argmax(dim=1) for i in range(0, len(x_test), size)]
        )
    return {
        "first_step_s": first_step_s,
        "epoch_s": epoch_s,
        "train_loss": train_loss,
        "train_accuracy": train_accuracy,
        "test_accuracy": float((predicted.numpy() == data["y_test"]).mean()),
        "threads": torch.get_num_threads(),
    }


def _num_classes(data):
    """The number of classes: the largest label plus one."""
    return int(max(data["y_train"].max(), data["y_test"].max())) + 1


def _blas_threads():
    """NumPy's BLAS threads: the OpenBLAS/OpenMP environment setting if any, else all cores."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return os.cpu_count()


TRAINERS = {"tinykeras": train_tinykeras, "torch": train_torch}
