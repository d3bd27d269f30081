"""A VGG-style CNN on CIFAR-10 with batch normalization, data augmentation and early stopping.

The Keras tutorial unchanged but for the import lines. Run:
    python examples/cifar10_cnn.py [--epochs 50] [--seed N] [--samples N] [--output DIR]

The learning curves are saved to DIR/cifar10_history.png (DIR is output/ in the current folder by
default, created if needed). CIFAR-10 (163 MB) is fetched on first use into
$TINYKERAS_HOME/datasets/cifar-10-batches-py/.
"""
import argparse
import os
import sys

import tinykeras as keras
from tinykeras import Sequential, callbacks
from tinykeras.datasets import cifar10
from tinykeras.layers import (
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPooling2D,
)
from tinykeras.preprocessing.image import ImageDataGenerator
from tinykeras.utils import to_categorical


def conv_block(filters, dropout, **first):
    """Two 3x3 'same' convolutions with batch normalization, max pooling, dropout."""
    return [
        Conv2D(filters, (3, 3), activation="relu", kernel_initializer="he_uniform", padding="same", **first),
        BatchNormalization(),
        Conv2D(filters, (3, 3), activation="relu", kernel_initializer="he_uniform", padding="same"),
        BatchNormalization(),
        MaxPooling2D((2, 2)),
        Dropout(dropout),
    ]


def build_model():
    model = Sequential(
        conv_block(32, 0.2, input_shape=(32, 32, 3))
        + conv_block(64, 0.3)
        + conv_block(128, 0.4)
        + [
            Flatten(),
            Dense(128, activation="relu", kernel_initializer="he_uniform"),
            BatchNormalization(),
            Dropout(0.5),
            Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def load_dataset(samples=None):
    """CIFAR-10 scaled to [0, 1] with one-hot labels; the first 10% of the training set is held
    out for validation. ``samples`` keeps only that many training and test images."""
    (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    if samples is not None:
        x_train, y_train, x_test, y_test = x_train[:samples], y_train[:samples], x_test[:samples], y_test[:samples]
    x_train, x_test = x_train.astype("float32") / 255, x_test.astype("float32") / 255
    y_train, y_test = to_categorical(y_train), to_categorical(y_test)
    held_out = len(x_train) // 10
    x_val, y_val = x_train[:held_out], y_train[:held_out]
    return (x_train[held_out:], y_train[held_out:]), (x_val, y_val), (x_test, y_test)


def main(epochs=50, seed=None, samples=None, plot_path=os.path.join("output", "cifar10_history.png"),
         verbose=2):
    """Trains with augmentation and early stopping, evaluates, plots the learning curves to
    ``plot_path`` (creating its folder; None or '' for no plot); returns (history, accuracy)."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_dataset(samples)

    model = build_model()
    model.summary()
    datagen = ImageDataGenerator(
        width_shift_range=0.2,
        height_shift_range=0.2,
        zoom_range=0.2,
        horizontal_flip=True,
        fill_mode="nearest",
    )
    it_train = datagen.flow(x_train, y_train, batch_size=64, shuffle=True)
    history = model.fit(
        it_train,
        epochs=epochs,
        validation_data=(x_val, y_val),
        callbacks=[callbacks.EarlyStopping(patience=5)],
        verbose=verbose,
    )

    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"Test loss: {loss:.4f} - test accuracy: {accuracy * 100:.2f}%")
    for key in ("acc", "val_acc", "loss", "val_loss"):
        print(f"{key}: {' '.join(f'{v:.4f}' for v in history.history[key])}")
    if plot_path:
        try:
            os.makedirs(os.path.dirname(plot_path) or ".", exist_ok=True)
            keras.utils.plot_history(history, path=plot_path)
            print(f"Learning curves saved to {plot_path}")
        except ImportError as error:
            print(f"No plot: {error}")
    return history, accuracy


def cli(argv=None):
    """Runs the example from command-line arguments; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=None, help="seed for a reproducible run")
    parser.add_argument("--samples", type=int, default=None, help="use only the first N training and test images")
    parser.add_argument("--output", default="output", metavar="DIR",
                        help="folder for the learning curves, created if needed (default: output)")
    parser.add_argument("--plot", default="cifar10_history.png",
                        help="the learning curves' file name in DIR ('' for none)")
    args = parser.parse_args(argv)
    plot_path = os.path.join(args.output, args.plot) if args.plot else None
    try:
        main(args.epochs, args.seed, args.samples, plot_path)
    except keras.datasets.DatasetUnavailableError as error:
        print(f"CIFAR-10 is not available: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(cli())
