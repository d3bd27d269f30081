"""Benchmark workloads: what to train, and how each framework trains it.

A workload is an entry of ``WORKLOADS``: a data preparation function (NumPy only, run once in a
process of its own), a tinykeras builder, a PyTorch builder, a batch size, a default number of
timed epochs, an optional validation split, the convolutions the kernel table times and optional
data augmentation, timed per batch (``time_augmentation``).
``train_tinykeras`` and ``train_torch`` run any workload, so adding one means writing its
``prepare`` and its two builders, and adding a ``Workload`` entry.

Conventions every workload follows:

- ``prepare()`` returns float32 inputs (int32 word ids for the text workloads) and integer class
  labels: ``x_train, y_train, x_test, y_test``, and may add ``source``, a sentence saying where
  the data comes from, which the report prints. tinykeras models are compiled with
  ``categorical_crossentropy`` on one-hot targets (as the Keras examples do); PyTorch models
  output logits for ``nn.CrossEntropyLoss`` on labels. A ``binary`` workload (labels 0 / 1, one
  sigmoid output) uses ``binary_crossentropy`` on the labels as floats, and PyTorch's one logit
  ``nn.BCEWithLogitsLoss``.
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
CIFAR_IMAGE = (32, 32, 3)
CIFAR_BATCH = 64
CIFAR_STEPS = 100  # training steps an epoch: a few tens of seconds at ~0.2 s a step
CIFAR_TEST_SAMPLES = 640
CIFAR_SEED = 1234
RESNET_FILTERS = 16
#: IMDB as the text workloads read it: load_data(num_words=TEXT_VOCABULARY), then pad_sequences
#: to TEXT_LENGTH ids; synthetic reviews (TEXT_SEED) when the file is not cached.
TEXT_VOCABULARY = 20_000
TEXT_LENGTH = 200
TEXT_EMBEDDING = 128
TEXT_TRAIN_SAMPLES = 25_000  # IMDB's training split
TEXT_TEST_SAMPLES = 5_000  # of IMDB's 25,000: the evaluation is not timed, only waited for
TEXT_SEED = 2024
LSTM_UNITS = 64
TEXT_FILTERS = 128
#: The CIFAR-10 tutorial's augmentation (``ImageDataGenerator`` arguments).
CIFAR_AUGMENTATION = {
    "width_shift_range": 0.2,
    "height_shift_range": 0.2,
    "zoom_range": 0.2,
    "horizontal_flip": True,
    "fill_mode": "nearest",
}


@dataclass(frozen=True)
class Workload:
    """One benchmark entry.

    Args:
        description: a one-line summary for the report.
        prepare: ``() -> dict`` of NumPy arrays (see the module docstring).
        build_tinykeras: ``() -> model`` (Sequential or functional), compiled.
        build_torch: ``() -> (module, optimizer, loss_fn)``.
        batch_size: samples per training step.
        epochs: timed epochs by default (after one warm-up epoch); odd, for a true median.
        validation_split: the fraction of the training samples, taken from the end, held out and
            evaluated after every epoch (inside the epoch's time), as Keras' ``fit`` does.
        convolutions: ``((H, W, C), filters, kernel_size, padding)`` of each Conv2D layer (stride
            1; padding 'valid' or 'same'), in order, for the kernel table (``kernels.py``), which
            times them at ``batch_size``.
        augmentation: ``ImageDataGenerator`` arguments, or None; when given, the time tinykeras
            takes to produce one augmented batch of ``batch_size`` is measured
            (``time_augmentation``).
        binary: labels 0 / 1 and one sigmoid output (binary cross-entropy) rather than classes
            and a softmax (categorical cross-entropy).
    """

    description: str
    prepare: Callable[[], dict]
    build_tinykeras: Callable
    build_torch: Callable
    batch_size: int = 32
    epochs: int = 3
    validation_split: float = 0.0
    convolutions: tuple = ()
    augmentation: dict | None = None
    binary: bool = False


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


def prepare_cifar_synthetic(
    train=CIFAR_BATCH * CIFAR_STEPS, test=CIFAR_TEST_SAMPLES, seed=CIFAR_SEED
):
    """Synthetic CIFAR-10-shaped data, the same on every call: ``train`` and ``test`` float32
    images (32, 32, 3) in [0, 1] and labels 0..9 (uint8) that a CNN can learn.

    Each image is the mean of a random 4 x 4 x 3 pattern enlarged to 32 x 32 (blocks of 8 x 8
    pixels) and of uniform noise; its label is the argmax of a fixed random linear function of
    the pattern (centred on zero).
    """
    rng = np.random.default_rng(seed)
    count = train + test
    pattern = rng.random((count, 4, 4, 3), dtype=np.float32)
    x = rng.random((count, *CIFAR_IMAGE), dtype=np.float32)
    x += pattern.repeat(8, axis=1).repeat(8, axis=2)
    x *= np.float32(0.5)
    weights = rng.standard_normal((pattern[0].size, 10), dtype=np.float32)
    y = np.argmax((pattern.reshape(count, -1) - 0.5) @ weights, axis=1).astype(np.uint8)
    return {"x_train": x[:train], "y_train": y[:train], "x_test": x[train:], "y_test": y[train:]}


def prepare_imdb():
    """IMDB as the Keras text examples read it: ``imdb.load_data(num_words=20000)``, each review
    padded or truncated (at its start, ``pad_sequences``' defaults) to 200 int32 ids, labels 0 / 1;
    the first 25,000 training and 5,000 test reviews. When the file is not in the cache
    (``$TINYKERAS_HOME/datasets/imdb.npz``; it is never downloaded here), synthetic reviews of the
    same shape instead (``synthetic_reviews``); ``source`` says which."""
    from tinykeras.datasets import imdb
    from tinykeras.utils import pad_sequences

    if not os.path.exists(imdb.cache_path()):
        data = synthetic_reviews()
        data["source"] = (
            f"synthetic IMDB-shaped reviews (NumPy seed {TEXT_SEED}): {imdb.cache_path()} is absent"
        )
        return data
    (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=TEXT_VOCABULARY)
    x_test, y_test = x_test[:TEXT_TEST_SAMPLES], y_test[:TEXT_TEST_SAMPLES]
    return {
        "x_train": pad_sequences(x_train, maxlen=TEXT_LENGTH),
        "y_train": y_train.astype(np.uint8),
        "x_test": pad_sequences(x_test, maxlen=TEXT_LENGTH),
        "y_test": y_test.astype(np.uint8),
        "source": f"IMDB from {imdb.cache_path()}",
    }


def synthetic_reviews(train=TEXT_TRAIN_SAMPLES, test=TEXT_TEST_SAMPLES, seed=TEXT_SEED):
    """Reviews shaped as padded IMDB ones, the same on every call: int32 ids in [0, 20000) of
    length 200, labels 0 / 1 (uint8), half of each.

    Each review has a length drawn from a log-normal law (median about 180 words, as IMDB's);
    one shorter than 200 is preceded by zeros (the padding) and starts with id 1 (IMDB's start
    mark); the words are drawn with Zipf frequencies (id k about 1 / k, from id 4). A word is
    replaced, with probability 0.04, by one of 100 words of its review's sentiment, and with
    probability 0.02 by one of the other's, so that a model can learn the labels.
    """
    rng = np.random.default_rng(seed)
    count = train + test
    ranks = np.arange(4, TEXT_VOCABULARY)
    frequencies = 1.0 / (ranks - 3)
    x = rng.choice(ranks, size=(count, TEXT_LENGTH), p=frequencies / frequencies.sum()).astype(np.int32)
    y = np.arange(count) % 2
    rng.shuffle(y)
    sentiment_words = rng.choice(np.arange(50, 5000), size=(2, 100), replace=False).astype(np.int32)
    draws = rng.random(x.shape)
    own = draws < 0.04
    other = (draws >= 0.04) & (draws < 0.06)
    picks = rng.integers(0, 100, x.shape)
    x[own] = sentiment_words[y[:, None].repeat(TEXT_LENGTH, axis=1)[own], picks[own]]
    x[other] = sentiment_words[1 - y[:, None].repeat(TEXT_LENGTH, axis=1)[other], picks[other]]
    lengths = np.clip(rng.lognormal(np.log(180), 0.6, count).astype(int), 10, None)
    for row, length in enumerate(lengths):
        if length < TEXT_LENGTH:
            x[row, : TEXT_LENGTH - length] = 0
            x[row, TEXT_LENGTH - length] = 1
    y = y.astype(np.uint8)
    return {"x_train": x[:train], "y_train": y[:train], "x_test": x[train:], "y_test": y[train:]}


# ---- models ------------------------------------------------------------------------------------
# Every tinykeras model is compiled by ``_compile`` and every PyTorch model is initialised by
# ``_torch_training``, so the optimizer, the loss and the initial weights are the same everywhere.


def _compiled(layers, loss="categorical_crossentropy"):
    """A tinykeras Sequential of ``layers``, compiled by ``_compile`` with ``loss``."""
    from tinykeras import Sequential

    return _compile(Sequential(layers), loss)


def _compile(model, loss="categorical_crossentropy"):
    """Compiles a tinykeras model with Adam (lr 0.001, betas 0.9 / 0.999, epsilon 1e-7),
    ``loss`` (categorical cross-entropy by default) and accuracy; returns it."""
    from tinykeras import optimizers

    model.compile(
        optimizer=optimizers.Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
        loss=loss,
        metrics=["accuracy"],
    )
    return model


def _he_uniform(layer):
    """Marks a PyTorch ``nn.Linear`` or ``nn.Conv2d`` for He-uniform initialisation (Keras'
    ``kernel_initializer='he_uniform'``), which ``_torch_training`` applies; returns the layer."""
    layer.kernel_initializer = "he_uniform"
    return layer


def _torch_model(*layers, images=False):
    """A PyTorch ``nn.Sequential`` of ``layers`` with its Adam and loss (``_torch_training``).
    With ``images``, the model takes NHWC arrays, as tinykeras does, and permutes them to torch's
    NCHW first.

    Returns:
        (module, optimizer, loss_fn).
    """
    from torch import nn

    class NHWCToNCHW(nn.Module):
        """(N, H, W, C) -> (N, C, H, W), a view."""

        def forward(self, x):
            return x.permute(0, 3, 1, 2)

    return _torch_training(nn.Sequential(*((NHWCToNCHW(),) if images else ()), *layers))


def _torch_training(model, binary=False):
    """Initialises ``model`` as a workload's tinykeras peer is, and makes its Adam and loss.

    Kernels (of every ``nn.Linear``, ``nn.Conv1d`` and ``nn.Conv2d`` in the module) are
    Glorot-uniform, or He-uniform for the layers marked with ``_he_uniform`` (``kaiming_uniform_``
    with the relu gain: bound sqrt(6 / fan_in), as Keras' he_uniform), and biases zero. An
    ``nn.Embedding``'s table is uniform in [-0.05, 0.05] (Keras' 'uniform'); an ``nn.LSTM``'s
    input kernel is Glorot-uniform, its recurrent kernel orthogonal, and of its two biases the
    input one holds Keras' single bias (zeros, ones in the forget gate's block: unit_forget_bias)
    and the recurrent one zeros; torch's gate order (i, f, g, o) is Keras' (i, f, c, o). The
    model outputs logits for ``nn.CrossEntropyLoss``, or with ``binary`` one logit per sample for
    ``nn.BCEWithLogitsLoss`` (on the labels as floats). torch's Adam adds eps to sqrt(v_hat) (Keras adds it to
    sqrt(v) before the bias correction of the step size); with eps=1e-7 the difference does not
    matter for a benchmark.

    Returns:
        (module, optimizer, loss_fn).
    """
    import torch
    from torch import nn

    initializers = {
        "glorot_uniform": nn.init.xavier_uniform_,
        "he_uniform": lambda weight: nn.init.kaiming_uniform_(weight, nonlinearity="relu"),
    }
    for layer in model.modules():
        if isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            initializers[getattr(layer, "kernel_initializer", "glorot_uniform")](layer.weight)
            nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.Embedding):
            nn.init.uniform_(layer.weight, -0.05, 0.05)
        elif isinstance(layer, nn.LSTM):
            units = layer.hidden_size
            for name, weight in layer.named_parameters():
                if name.startswith("weight_ih"):
                    nn.init.xavier_uniform_(weight)
                elif name.startswith("weight_hh"):
                    nn.init.orthogonal_(weight)
                else:
                    nn.init.zeros_(weight)
                    if name.startswith("bias_ih"):
                        nn.init.ones_(weight[units : 2 * units])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001, betas=(0.9, 0.999), eps=1e-7)
    if not binary:
        return model, optimizer, nn.CrossEntropyLoss()
    bce = nn.BCEWithLogitsLoss()
    return model, optimizer, lambda logits, labels: bce(logits[:, 0], labels.to(logits.dtype))


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


def mlp_custom_tinykeras():
    """The MLP of ``mlp_tinykeras`` with each Dense written as a custom layer on ``keras.ops``
    (Keras' guide's ``Linear``, with Dense's initializers) and its activation as a layer."""
    from tinykeras import ops
    from tinykeras.layers import Activation, Input, Layer

    class Linear(Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros")

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

    return _compiled(
        [
            Input(shape=(784,)),
            Linear(64), Activation("relu"),
            Linear(64), Activation("relu"),
            Linear(10), Activation("softmax"),
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


def _cifar_block_tinykeras(filters, dropout, **first):
    """Conv2D(filters, 3x3, same, relu, he_uniform) -> BatchNormalization, twice, ->
    MaxPooling2D(2) -> Dropout(dropout); ``first`` goes to the first Conv2D (input_shape)."""
    from tinykeras.layers import BatchNormalization, Conv2D, Dropout, MaxPooling2D

    def conv(**kwargs):
        return Conv2D(
            filters,
            (3, 3),
            activation="relu",
            kernel_initializer="he_uniform",
            padding="same",
            **kwargs,
        )

    return [
        conv(**first),
        BatchNormalization(),
        conv(),
        BatchNormalization(),
        MaxPooling2D((2, 2)),
        Dropout(dropout),
    ]


def cifar_tinykeras():
    """Three blocks of 32, 64 and 128 filters (``_cifar_block_tinykeras``; dropout 0.2, 0.3,
    0.4) -> Flatten -> Dense(128, relu, he_uniform) -> BatchNormalization -> Dropout(0.5) ->
    Dense(10, softmax): 552,874 parameters (the CIFAR-10 tutorial's model)."""
    from tinykeras.layers import BatchNormalization, Dense, Dropout, Flatten

    return _compiled(
        _cifar_block_tinykeras(32, 0.2, input_shape=CIFAR_IMAGE)
        + _cifar_block_tinykeras(64, 0.3)
        + _cifar_block_tinykeras(128, 0.4)
        + [
            Flatten(),
            Dense(128, activation="relu", kernel_initializer="he_uniform"),
            BatchNormalization(),
            Dropout(0.5),
            Dense(10, activation="softmax"),
        ]
    )


def _cifar_block_torch(channels, filters, dropout):
    """The PyTorch peer of ``_cifar_block_tinykeras`` on ``channels`` input channels. The batch
    normalizations take Keras' epsilon (1e-3) and momentum (torch's momentum is 1 - Keras')."""
    from torch import nn

    def conv_relu_norm(c_in):
        return [
            _he_uniform(nn.Conv2d(c_in, filters, 3, padding=1)),
            nn.ReLU(),
            nn.BatchNorm2d(filters, eps=1e-3, momentum=0.01),
        ]

    return [
        *conv_relu_norm(channels),
        *conv_relu_norm(filters),
        nn.MaxPool2d(2),
        nn.Dropout(dropout),
    ]


def cifar_torch():
    """The same CIFAR-10 model in PyTorch: 32x32x3 -> 16x16x32 -> 8x8x64 -> 4x4x128 -> 128 -> 10."""
    from torch import nn

    return _torch_model(
        *_cifar_block_torch(3, 32, 0.2),
        *_cifar_block_torch(32, 64, 0.3),
        *_cifar_block_torch(64, 128, 0.4),
        nn.Flatten(),
        _he_uniform(nn.Linear(128 * 4 * 4, 128)),
        nn.ReLU(),
        nn.BatchNorm1d(128, eps=1e-3, momentum=0.01),
        nn.Dropout(0.5),
        nn.Linear(128, 10),
        images=True,
    )


def resnet_block_tinykeras():
    """A functional model with one residual block: Conv2D(16, 3, same, relu) -> MaxPooling2D(2),
    whose output ``x`` feeds [Conv2D(16, 3, same) -> BatchNormalization -> relu] twice and is
    added to the result (``Add``), -> MaxPooling2D(2) -> Flatten -> Dense(10, softmax)."""
    from tinykeras import Input, Model
    from tinykeras.layers import (
        Activation,
        Add,
        BatchNormalization,
        Conv2D,
        Dense,
        Flatten,
        MaxPooling2D,
    )

    inputs = Input(shape=MNIST_IMAGE)
    x = Conv2D(RESNET_FILTERS, 3, padding="same", activation="relu")(inputs)
    x = MaxPooling2D(2)(x)
    y = x
    for _ in range(2):
        y = Conv2D(RESNET_FILTERS, 3, padding="same")(y)
        y = BatchNormalization()(y)
        y = Activation("relu")(y)
    x = MaxPooling2D(2)(Add()([x, y]))
    outputs = Dense(10, activation="softmax")(Flatten()(x))
    return _compile(Model(inputs, outputs))


def resnet_block_torch():
    """The same residual model in PyTorch, an ``nn.Module`` whose ``forward`` adds the skip:
    28x28x1 -> 28x28x16 -> 14x14x16 (+ the block's 14x14x16) -> 7x7x16 -> 10. Its batch
    normalizations take Keras' epsilon (1e-3) and momentum (torch's momentum is 1 - Keras')."""
    import torch
    from torch import nn

    filters = RESNET_FILTERS

    def conv_norm_relu():
        return [
            nn.Conv2d(filters, filters, 3, padding=1),
            nn.BatchNorm2d(filters, eps=1e-3, momentum=0.01),
            nn.ReLU(),
        ]

    class ResidualBlockNet(nn.Module):
        """Stem, one residual block, pooling and a linear head, on NHWC inputs."""

        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(MNIST_IMAGE[-1], filters, 3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.block = nn.Sequential(*conv_norm_relu(), *conv_norm_relu())
            self.head = nn.Linear(filters * 7 * 7, 10)

        def forward(self, x):
            x = self.pool(torch.relu(self.stem(x.permute(0, 3, 1, 2))))
            x = self.pool(x + self.block(x))
            return self.head(torch.flatten(x, 1))

    return _torch_training(ResidualBlockNet())


def text_lstm_tinykeras():
    """Embedding(20000, 128) -> LSTM(64) -> Dense(1, sigmoid): 2,609,473 parameters."""
    from tinykeras.layers import LSTM, Dense, Embedding, Input

    layers = [
        Input(shape=(TEXT_LENGTH,)),
        Embedding(TEXT_VOCABULARY, TEXT_EMBEDDING),
        LSTM(LSTM_UNITS),
        Dense(1, activation="sigmoid"),
    ]
    return _compiled(layers, loss="binary_crossentropy")


def text_lstm_torch():
    """The same LSTM classifier in PyTorch: ``nn.Embedding``, ``nn.LSTM(batch_first=True)``
    (its last step's output), ``nn.Linear(64, 1)`` giving the logit."""
    from torch import nn

    class LSTMClassifier(nn.Module):
        """Ids (N, 200) -> vectors (N, 200, 128) -> h_T (N, 64) -> one logit."""

        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(TEXT_VOCABULARY, TEXT_EMBEDDING)
            self.lstm = nn.LSTM(TEXT_EMBEDDING, LSTM_UNITS, batch_first=True)
            self.head = nn.Linear(LSTM_UNITS, 1)

        def forward(self, ids):
            outputs, _ = self.lstm(self.embedding(ids))
            return self.head(outputs[:, -1])

    return _torch_training(LSTMClassifier(), binary=True)


def conv1d_text_tinykeras():
    """Embedding(20000, 128) -> Conv1D(128, 7, relu) -> MaxPooling1D(5) -> Conv1D(128, 7, relu)
    -> GlobalMaxPooling1D -> Dense(1, sigmoid): 200 -> 194 -> 38 -> 32 steps; 2,789,761
    parameters."""
    from tinykeras.layers import Conv1D, Dense, Embedding, GlobalMaxPooling1D, Input, MaxPooling1D

    layers = [
        Input(shape=(TEXT_LENGTH,)),
        Embedding(TEXT_VOCABULARY, TEXT_EMBEDDING),
        Conv1D(TEXT_FILTERS, 7, activation="relu"),
        MaxPooling1D(5),
        Conv1D(TEXT_FILTERS, 7, activation="relu"),
        GlobalMaxPooling1D(),
        Dense(1, activation="sigmoid"),
    ]
    return _compiled(layers, loss="binary_crossentropy")


def conv1d_text_torch():
    """The same convolutional classifier in PyTorch, on (N, C, L): the embedded (N, L, C)
    sequences are permuted first, and the global max pooling is a max over L."""
    import torch
    from torch import nn

    class ConvClassifier(nn.Module):
        """Ids (N, 200) -> (N, 128, 200) -> conv 194 -> pool 38 -> conv 32 -> max -> logit."""

        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(TEXT_VOCABULARY, TEXT_EMBEDDING)
            self.conv1 = nn.Conv1d(TEXT_EMBEDDING, TEXT_FILTERS, 7)
            self.pool = nn.MaxPool1d(5)
            self.conv2 = nn.Conv1d(TEXT_FILTERS, TEXT_FILTERS, 7)
            self.head = nn.Linear(TEXT_FILTERS, 1)

        def forward(self, ids):
            x = self.embedding(ids).permute(0, 2, 1)
            x = torch.relu(self.conv2(self.pool(torch.relu(self.conv1(x)))))
            return self.head(x.amax(dim=2))

    return _torch_training(ConvClassifier(), binary=True)


WORKLOADS = {
    "mlp": Workload(
        description="MNIST MLP 784-64-64-10 (relu, softmax), Adam, batch 32; target: epoch time "
        "<= 0.45x PyTorch's",
        prepare=prepare_mnist_flat,
        build_tinykeras=mlp_tinykeras,
        build_torch=mlp_torch,
    ),
    "mlp_custom": Workload(
        description="the MLP with its Dense layers written as custom layers on keras.ops (Keras' "
        "guide's Linear) and separate Activation layers; PyTorch runs the same MLP; target: "
        "epoch time <= 1.5x the built-in MLP's",
        prepare=prepare_mnist_flat,
        build_tinykeras=mlp_custom_tinykeras,
        build_torch=mlp_torch,
    ),
    "cnn": Workload(
        description="MNIST CNN on x / 255 - 0.5: Conv2D(8, 3), MaxPooling2D(2), Dense(10, "
        "softmax); Adam, batch 32; target: epoch time <= 0.45x PyTorch's",
        prepare=prepare_mnist_centered,
        build_tinykeras=cnn_tinykeras,
        build_torch=cnn_torch,
        convolutions=((MNIST_IMAGE, 8, 3, "valid"),),
    ),
    "cnn_small": Workload(
        description="MNIST CNN on raw pixels 0..255: Conv2D(10, 3, relu), MaxPooling2D(2) x 2, "
        "Dense(100, relu), Dense(10, softmax); Adam, batch 10, validation_split 0.2; target: "
        "epoch time <= 0.45x PyTorch's",
        prepare=prepare_mnist_raw,
        build_tinykeras=cnn_small_tinykeras,
        build_torch=cnn_small_torch,
        batch_size=10,
        validation_split=0.2,
    ),
    "cnn_deep": Workload(
        description="MNIST CNN on x / 255: Conv2D(32, 3, relu) x 2, MaxPooling2D(2), "
        "Dropout(0.25), Dense(128, relu), Dropout(0.5), Dense(10, softmax); Adam, batch 32; "
        "target: epoch time <= 0.7x PyTorch's",
        prepare=prepare_mnist_unit,
        build_tinykeras=cnn_deep_tinykeras,
        build_torch=cnn_deep_torch,
        epochs=1,
        convolutions=((MNIST_IMAGE, 32, 3, "valid"), ((26, 26, 32), 32, 3, "valid")),
    ),
    "cifar": Workload(
        description="synthetic CIFAR-10-shaped images (32, 32, 3) in [0, 1]: Conv2D(3x3, same, "
        "relu, he_uniform) and BatchNormalization x 2, MaxPooling2D(2), Dropout, for 32, 64, 128 "
        "filters; Dense(128, relu), BatchNormalization, Dropout(0.5), Dense(10, softmax); Adam, "
        f"batch {CIFAR_BATCH}; target: step time <= 0.9x PyTorch's",
        prepare=prepare_cifar_synthetic,
        build_tinykeras=cifar_tinykeras,
        build_torch=cifar_torch,
        batch_size=CIFAR_BATCH,
        epochs=1,
        convolutions=(
            (CIFAR_IMAGE, 32, 3, "same"),
            ((32, 32, 32), 32, 3, "same"),
            ((16, 16, 32), 64, 3, "same"),
            ((16, 16, 64), 64, 3, "same"),
            ((8, 8, 64), 128, 3, "same"),
            ((8, 8, 128), 128, 3, "same"),
        ),
        augmentation=CIFAR_AUGMENTATION,
    ),
    "resnet_block": Workload(
        description="MNIST functional model on x / 255: Conv2D(16, 3, same, relu), "
        "MaxPooling2D(2), a residual block [Conv2D(16, 3, same), BatchNormalization, relu] x 2 "
        "with an Add skip, MaxPooling2D(2), Dense(10, softmax); Adam, batch 32",
        prepare=prepare_mnist_unit,
        build_tinykeras=resnet_block_tinykeras,
        build_torch=resnet_block_torch,
        epochs=1,
        convolutions=(
            (MNIST_IMAGE, RESNET_FILTERS, 3, "same"),
            ((14, 14, RESNET_FILTERS), RESNET_FILTERS, 3, "same"),
            ((14, 14, RESNET_FILTERS), RESNET_FILTERS, 3, "same"),
        ),
    ),
    "text_lstm": Workload(
        description="IMDB-shaped text, 200 ids a review: Embedding(20000, 128), LSTM(64), "
        "Dense(1, sigmoid); Adam, binary cross-entropy, batch 32; target: step time <= 1.5x "
        "PyTorch's",
        prepare=prepare_imdb,
        build_tinykeras=text_lstm_tinykeras,
        build_torch=text_lstm_torch,
        epochs=1,
        binary=True,
    ),
    "conv1d_text": Workload(
        description="IMDB-shaped text, 200 ids a review: Embedding(20000, 128), Conv1D(128, 7, "
        "relu), MaxPooling1D(5), Conv1D(128, 7, relu), GlobalMaxPooling1D, Dense(1, sigmoid); "
        "Adam, binary cross-entropy, batch 32; target: step time <= 1.5x PyTorch's",
        prepare=prepare_imdb,
        build_tinykeras=conv1d_text_tinykeras,
        build_torch=conv1d_text_torch,
        epochs=1,
        binary=True,
    ),
}


# ---- training loops ----------------------------------------------------------------------------
# Each trainer returns a dict: first_step_s, epoch_s (one time per timed epoch), steps (training
# steps per epoch), train_loss, train_accuracy and val_accuracy (of the last epoch; val_accuracy
# None without a validation split), test_accuracy, threads. first_step_s runs from the start of
# model construction to the end of the first optimizer step: building, the first call into the
# framework (and any JIT compilation) included. The warm-up is the first pass over the training
# data, cut after ``warmup_steps`` steps (None: a whole epoch); only the epochs after it are timed.
# With a validation split, every pass (the warm-up too) trains on the first samples only and ends
# with an evaluation of the held-out ones, which the epoch's time includes.


def train_tinykeras(workload, data, epochs, warmup_steps, seed):
    """Trains ``workload`` with tinykeras' ``fit`` and evaluates it on the test set."""
    from tinykeras import backend
    from tinykeras.callbacks import Callback

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
        """Records the wall time and the training steps of each epoch."""

        times = steps = ()

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times += (time.perf_counter() - self.start,)
            self.steps += (self.params["steps"],)

    backend.set_random_seed(seed)
    x, y = data["x_train"], _targets(workload, data, "y_train")
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
    y_test = _targets(workload, data, "y_test")
    _, test_accuracy = model.evaluate(
        data["x_test"], y_test, batch_size=workload.batch_size, verbose=0
    )
    return {
        "first_step_s": warm_up.first_step_end - start,
        "epoch_s": list(timer.times),
        "steps": timer.steps[-1],
        "train_loss": history.history["loss"][-1],
        "train_accuracy": history.history["accuracy"][-1],
        "val_accuracy": history.history.get("val_accuracy", [None])[-1],
        "test_accuracy": float(test_accuracy),
        "threads": _blas_threads(),
        "kernels": _tinykeras_kernels(),
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

    def predicted(logits):
        """The predicted classes: the largest logit's, or 1 where a single logit is positive."""
        return (logits[:, 0] > 0).long() if workload.binary else logits.argmax(dim=1)

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
                correct += (predicted(logits) == yb).sum().item()
        return total_loss / len(x_eval), correct / len(x_eval)

    def run_epoch(max_steps=None):
        """One pass over freshly shuffled data (at most ``max_steps`` steps), then the evaluation
        of the validation samples if any.

        Returns:
            (time at which the first step ended, steps, mean loss, accuracy, validation accuracy
            or None).
        """
        model.train()
        order = torch.randperm(len(x))
        total_loss, correct, seen, steps, first_step_end = 0.0, 0, 0, 0, None
        for begin in range(0, len(x), workload.batch_size):
            if steps == max_steps:
                break
            steps += 1
            index = order[begin : begin + workload.batch_size]
            xb, yb = x[index], y[index]
            logits = model(xb)
            loss = loss_fn(logits, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seen += len(yb)
            total_loss += loss.item() * len(yb)
            correct += (predicted(logits) == yb).sum().item()
            first_step_end = first_step_end or time.perf_counter()
        val_accuracy = evaluate(*validation)[1] if validation else None
        return first_step_end, steps, total_loss / seen, correct / seen, val_accuracy

    first_step_s = run_epoch(warmup_steps)[0] - start
    epoch_s = []
    for _ in range(epochs):
        epoch_start = time.perf_counter()
        _, steps, train_loss, train_accuracy, val_accuracy = run_epoch()
        epoch_s.append(time.perf_counter() - epoch_start)
    y_test = torch.from_numpy(data["y_test"].astype(np.int64))
    _, test_accuracy = evaluate(torch.from_numpy(data["x_test"]), y_test)
    return {
        "first_step_s": first_step_s,
        "epoch_s": epoch_s,
        "steps": steps,
        "train_loss": train_loss,
        "train_accuracy": train_accuracy,
        "val_accuracy": val_accuracy,
        "test_accuracy": test_accuracy,
        "threads": torch.get_num_threads(),
        "kernels": f"PyTorch's CPU capability {torch.backends.cpu.get_cpu_capability()}",
    }


def _tinykeras_kernels():
    """Which vector kernels tinykeras' matrix products run (NumPy's BLAS', with the environment's
    choice of them if it makes one), and how its own kernels were compiled."""
    from tinykeras.kernels import compiled
    from tinykeras.kernels.blas import blas_kernels

    if compiled.ahead_of_time():
        missed = len({name for name, _ in compiled.missed()})
        own = "own kernels compiled ahead of time" + (f", {missed} by Numba when called" if missed else "")
    else:
        own = "own kernels compiled by Numba"
    core = blas_kernels()
    if core is None:
        return f"NumPy's BLAS (not an OpenBLAS that names its kernels); {own}"
    forced = os.environ.get("OPENBLAS_CORETYPE")
    chosen = f"OPENBLAS_CORETYPE={forced} in the environment" if forced else "chosen for this CPU"
    return f"OpenBLAS {core} ({chosen}); {own}"


def _targets(workload, data, key):
    """tinykeras' targets for the labels ``data[key]``: one-hot rows, or for a binary workload
    the labels as a float32 column."""
    from tinykeras.utils import to_categorical

    if workload.binary:
        return data[key].astype(np.float32)[:, None]
    return to_categorical(data[key], _num_classes(data))


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


# ---- augmentation ------------------------------------------------------------------------------


def time_augmentation(workload, data, batches, warmup, seed):
    """Times tinykeras' ``ImageDataGenerator(**workload.augmentation)`` producing batches of the
    training data: ``flow(x_train, one-hot y_train, batch_size, shuffle=True)``, then one
    ``flow[i]`` per batch (i = 0, 1, ..., wrapping around after the last batch).

    Returns:
        dict: first_batch_s (``flow[0]``, which compiles the Numba kernels or loads them from the
        cache), batch_ms (each of the ``batches`` batches timed after ``warmup`` untimed ones),
        batch_shape (of the augmented images).
    """
    from tinykeras import backend
    from tinykeras.preprocessing.image import ImageDataGenerator
    from tinykeras.utils import to_categorical

    backend.set_random_seed(seed)
    x, y = data["x_train"], to_categorical(data["y_train"], _num_classes(data))
    generator = ImageDataGenerator(**workload.augmentation)
    flow = generator.flow(x, y, batch_size=workload.batch_size, shuffle=True)
    start = time.perf_counter()
    images, _ = flow[0]
    first_batch_s = time.perf_counter() - start
    batch_ms = []
    for i in range(1, 1 + warmup + batches):
        start = time.perf_counter()
        flow[i % len(flow)]
        if i > warmup:
            batch_ms.append((time.perf_counter() - start) * 1e3)
    return {
        "first_batch_s": first_batch_s,
        "batch_ms": batch_ms,
        "batch_shape": list(images.shape),
    }
