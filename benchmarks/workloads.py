"""Benchmark workloads: what to train, and how each framework trains it.

A workload is an entry of ``WORKLOADS``: a data preparation function (NumPy only, run once in a
process of its own), a tinykeras builder, a PyTorch builder, a batch size, a default number of
timed epochs, an optional validation split and the convolutions the kernel table times.
``train_tinykeras`` and ``train_torch`` run any workload, so adding one means writing its
``prepare`` and its two builders, and adding a ``Workload`` entry.

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
MNIST_IMAGE = (28, 28, 1)


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
        validation_split: the fraction of the training samples, taken from the end, held out and
            evaluated after every epoch (inside the epoch's time), as Keras' ``fit`` does.
        convolutions: ``((H, W, C), filters, kernel_size)`` of each Conv2D layer, in order, for
            the kernel table (``kernels.py``), which times them at ``batch_size``.
    """

    description: str
    prepare: Callable[[], dict]
    build_tinykeras: Callable
    build_torch: Callable
    batch_size: int = 32
    epochs: int = 3
    validation_split: float = 0.0
    convolutions: tuple = ()


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


def mnist_arrays(shape, divisor, offset):
    """MNIST pixels as float32 ``x / divisor - offset``, each sample reshaped to ``shape``.

    Returns:
        The dict every ``prepare`` returns: x_train, y_train, x_test, y_test (uint8 labels).
    """
    (x_train, y_train), (x_test, y_test) = load_mnist()

    def scale(x):
        x = x.reshape((len(x),) + shape).astype(np.float32)
        return x / np.float32(divisor) - np.float32(offset)

    return {
        "x_train": scale(x_train),
        "y_train": y_train,
        "x_test": scale(x_test),
        "y_test": y_test,
    }


def prepare_mnist_flat():
    """Pixels scaled to x / 255 - 0.5 and flattened to 784 features (the MLP tutorial)."""
    return mnist_arrays((784,), divisor=255, offset=0.5)


def prepare_mnist_centered():
    """Images (28, 28, 1) scaled to x / 255 - 0.5 (the first CNN tutorial)."""
    return mnist_arrays(MNIST_IMAGE, divisor=255, offset=0.5)


def prepare_mnist_raw():
    """Images (28, 28, 1) of raw pixels 0..255 as float32, not scaled (the small CNN)."""
    return mnist_arrays(MNIST_IMAGE, divisor=1, offset=0)


def prepare_mnist_unit():
    """Images (28, 28, 1) scaled to x / 255, in [0, 1] (the deeper CNN)."""
    return mnist_arrays(MNIST_IMAGE, divisor=255, offset=0)


# ---- models ------------------------------------------------------------------------------------
# Every tinykeras model is compiled by ``_compiled`` and every PyTorch model is made by
# ``_torch_model``, so the optimizer, the loss and the initial weights are the same everywhere.


def _compiled(layers):
    """A tinykeras Sequential of ``layers``, compiled with Adam (lr 0.001, betas 0.9 / 0.999,
    epsilon 1e-7), categorical cross-entropy and accuracy."""
    from tinykeras import Sequential, optimizers

    model = Sequential(layers)
    model.compile(
        optimizer=optimizers.Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _torch_model(*layers, images=False):
    """A PyTorch ``nn.Sequential`` of ``layers`` with its Adam and loss, as a workload builds it.

    Kernels (of ``nn.Linear`` and ``nn.Conv2d``) are Glorot-uniform and biases zero; the model
    outputs logits for ``nn.CrossEntropyLoss``. With ``images``, the model takes NHWC arrays, as
    tinykeras does, and permutes them to torch's NCHW first. torch's Adam adds eps to
    sqrt(v_hat) (Keras adds it to sqrt(v) before the bias correction of the step size); with
    eps=1e-7 the difference does not matter for a benchmark.

    Returns:
        (module, optimizer, loss_fn).
    """
    import torch
    from torch import nn

    class NHWCToNCHW(nn.Module):
        """(N, H, W, C) -> (N, C, H, W), a view."""

        def forward(self, x):
            return x.permute(0, 3, 1, 2)

    model = nn.Sequential(*((NHWCToNCHW(),) if images else ()), *layers)
    for layer in model:
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001, betas=(0.9, 0.999), eps=1e-7)
    return model, optimizer, nn.CrossEntropyLoss()


def mlp_tinykeras():
    """Dense(64, relu) -> Dense(64, relu) -> Dense(10, softmax)."""
    from tinykeras.layers import Dense

    return _compiled(
        [
            Dense(64, activation="relu", input_shape=(784,)),
            Dense(64, activation="relu"),
            Dense(10, activation="softmax"),
        ]
    )


def mlp_torch():
    """The same MLP in PyTorch."""
    from torch import nn

    return _torch_model(
        nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)
    )


def cnn_tinykeras():
    """Conv2D(8, 3) (linear) -> MaxPooling2D(2) -> Flatten -> Dense(10, softmax)."""
    from tinykeras.layers import Conv2D, Dense, Flatten, MaxPooling2D

    return _compiled(
        [
            Conv2D(8, 3, input_shape=MNIST_IMAGE),
            MaxPooling2D(pool_size=2),
            Flatten(),
            Dense(10, activation="softmax"),
        ]
    )


def cnn_torch():
    """The same CNN in PyTorch: 28x28x1 -> 26x26x8 -> 13x13x8 -> 10."""
    from torch import nn

    return _torch_model(
        nn.Conv2d(1, 8, 3), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 13 * 13, 10), images=True
    )


def cnn_small_tinykeras():
    """Conv2D(10, 3, relu) -> MaxPooling2D(2) twice -> Flatten -> Dense(100, relu) -> Dense(10,
    softmax): 37,210 parameters."""
    from tinykeras.layers import Conv2D, Dense, Flatten, MaxPooling2D

    return _compiled(
        [
            Conv2D(10, 3, activation="relu", input_shape=MNIST_IMAGE),
            MaxPooling2D((2, 2)),
            MaxPooling2D((2, 2)),
            Flatten(),
            Dense(100, activation="relu"),
            Dense(10, activation="softmax"),
        ]
    )


def cnn_small_torch():
    """The same small CNN in PyTorch: 28x28x1 -> 26x26x10 -> 13x13x10 -> 6x6x10 -> 100 -> 10."""
    from torch import nn

    return _torch_model(
        nn.Conv2d(1, 10, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(10 * 6 * 6, 100),
        nn.ReLU(),
        nn.Linear(100, 10),
        images=True,
    )


def cnn_deep_tinykeras():
    """Conv2D(32, 3, relu) twice -> MaxPooling2D(2) -> Dropout(0.25) -> Flatten -> Dense(128,
    relu) -> Dropout(0.5) -> Dense(10, softmax)."""
    from tinykeras.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D

    return _compiled(
        [
            Conv2D(32, 3, activation="relu", input_shape=MNIST_IMAGE),
            Conv2D(32, 3, activation="relu"),
            MaxPooling2D((2, 2)),
            Dropout(0.25),
            Flatten(),
            Dense(128, activation="relu"),
            Dropout(0.5),
            Dense(10, activation="softmax"),
        ]
    )


def cnn_deep_torch():
    """The same deeper CNN in PyTorch: 28x28x1 -> 26x26x32 -> 24x24x32 -> 12x12x32 -> 128 -> 10."""
    from torch import nn

    return _torch_model(
        nn.Conv2d(1, 32, 3),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(32 * 12 * 12, 128),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(128, 10),
        images=True,
    )


WORKLOADS = {
    "mlp": Workload(
        description="MNIST MLP 784-64-64-10 (relu, softmax), Adam, batch 32",
        prepare=prepare_mnist_flat,
        build_tinykeras=mlp_tinykeras,
        build_torch=mlp_torch,
    ),
    "cnn": Workload(
        description="MNIST CNN on x / 255 - 0.5: Conv2D(8, 3), MaxPooling2D(2), Dense(10, "
        "softmax); Adam, batch 32",
        prepare=prepare_mnist_centered,
        build_tinykeras=cnn_tinykeras,
        build_torch=cnn_torch,
        convolutions=((MNIST_IMAGE, 8, 3),),
    ),
    "cnn_small": Workload(
        description="MNIST CNN on raw pixels 0..255: Conv2D(10, 3, relu), MaxPooling2D(2) x 2, "
        "Dense(100, relu), Dense(10, softmax); Adam, batch 10, validation_split 0.2",
        prepare=prepare_mnist_raw,
        build_tinykeras=cnn_small_tinykeras,
        build_torch=cnn_small_torch,
        batch_size=10,
        validation_split=0.2,
    ),
    "cnn_deep": Workload(
        description="MNIST CNN on x / 255: Conv2D(32, 3, relu) x 2, MaxPooling2D(2), "
        "Dropout(0.25), Dense(128, relu), Dropout(0.5), Dense(10, softmax); Adam, batch 32",
        prepare=prepare_mnist_unit,
        build_tinykeras=cnn_deep_tinykeras,
        build_torch=cnn_deep_torch,
        epochs=1,
        convolutions=((MNIST_IMAGE, 32, 3), ((26, 26, 32), 32, 3)),
    ),
}


# ---- training loops ----------------------------------------------------------------------------
# Each trainer returns a dict: first_step_s, epoch_s (one time per timed epoch), train_loss,
# train_accuracy and val_accuracy (of the last epoch; val_accuracy None without a validation
# split), test_accuracy, threads. first_step_s runs from the start of model construction to the end
# of the first optimizer step: building, the first call into the framework (and any JIT
# compilation) included. The warm-up is the first pass over the training data, cut after
# ``warmup_steps`` steps (None: a whole epoch); only the epochs after it are timed. With a
# validation split, every pass (the warm-up too) trains on the first samples only and ends with an
# evaluation of the held-out ones, which the epoch's time includes.


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
    fit_args = {
        "batch_size": workload.batch_size,
        "validation_split": workload.validation_split,
        "verbose": 0,
    }
    model.fit(x, y, epochs=1, callbacks=[warm_up], **fit_args)
    history = model.fit(x, y, epochs=epochs, callbacks=[timer], **fit_args)
    y_test = to_categorical(data["y_test"], classes)
    _, test_accuracy = model.evaluate(
        data["x_test"], y_test, batch_size=workload.batch_size, verbose=0
    )
    return {
        "first_step_s": warm_up.first_step_end - start,
        "epoch_s": list(timer.times),
        "train_loss": history.history["loss"][-1],
        "train_accuracy": history.history["accuracy"][-1],
        "val_accuracy": history.history.get("val_accuracy", [None])[-1],
        "test_accuracy": float(test_accuracy),
        "threads": _blas_threads(),
    }


def train_torch(workload, data, epochs, warmup_steps, seed):
    """Trains ``workload`` with a plain PyTorch loop and evaluates it on the test set.

    Each step does what Keras' fit does: take a shuffled batch, forward, loss, backward, optimizer
    step, then add the batch's loss and accuracy to the epoch's running means. With a validation
    split, the last fraction of the training samples is held out (as Keras takes it, before any
    shuffling) and evaluated at the end of every pass, as Keras' fit does.
    """
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(os.cpu_count())
    x, y = torch.from_numpy(data["x_train"]), torch.from_numpy(data["y_train"].astype(np.int64))
    validation = None
    if workload.validation_split:
        split_at = int(len(x) * (1 - workload.validation_split))
        x, y, validation = x[:split_at], y[:split_at], (x[split_at:], y[split_at:])
    start = time.perf_counter()
    model, optimizer, loss_fn = workload.build_torch()

    def evaluate(x_eval, y_eval):
        """The mean loss and the accuracy on (x_eval, y_eval), in inference mode, batch by batch."""
        model.eval()
        total_loss, correct = 0.0, 0
        with torch.inference_mode():
            for begin in range(0, len(x_eval), workload.batch_size):
                xb = x_eval[begin : begin + workload.batch_size]
                yb = y_eval[begin : begin + workload.batch_size]
                logits = model(xb)
                total_loss += loss_fn(logits, yb).item() * len(yb)
                correct += (logits.argmax(dim=1) == yb).sum().item()
        return total_loss / len(x_eval), correct / len(x_eval)

    def run_epoch(max_steps=None):
        """One pass over freshly shuffled data (at most ``max_steps`` steps), then the evaluation
        of the validation samples if any.

        Returns:
            (time at which the first step ended, mean loss, accuracy, validation accuracy or None).
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
        val_accuracy = evaluate(*validation)[1] if validation else None
        return first_step_end, total_loss / seen, correct / seen, val_accuracy

    first_step_s = run_epoch(warmup_steps)[0] - start
    epoch_s = []
    for _ in range(epochs):
        epoch_start = time.perf_counter()
        _, train_loss, train_accuracy, val_accuracy = run_epoch()
        epoch_s.append(time.perf_counter() - epoch_start)
    y_test = torch.from_numpy(data["y_test"].astype(np.int64))
    _, test_accuracy = evaluate(torch.from_numpy(data["x_test"]), y_test)
    return {
        "first_step_s": first_step_s,
        "epoch_s": epoch_s,
        "train_loss": train_loss,
        "train_accuracy": train_accuracy,
        "val_accuracy": val_accuracy,
        "test_accuracy": test_accuracy,
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
