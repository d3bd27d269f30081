"""The deeper MNIST CNN: two 3x3 convolutions, max pooling, dropout and a 128-unit layer.

The Keras tutorial unchanged but for the import lines. Run: python examples/mnist_cnn_deep.py
"""
import argparse

import tinykeras as keras
from tinykeras.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from tinykeras.models import Sequential
from tinykeras.utils import to_categorical


def build_model():
    return Sequential(
        [
            Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
            Conv2D(32, 3, activation="relu"),
            MaxPooling2D((2, 2)),
            Dropout(0.25),
            Flatten(),
            Dense(128, activation="relu"),
            Dropout(0.5),
            Dense(10, activation="softmax"),
        ]
    )


def main(seed=None, epochs=10, train_samples=None, verbose=1):
    """Trains and evaluates on the test set; returns the test accuracy."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    if train_samples is not None:
        x_train, y_train = x_train[:train_samples], y_train[:train_samples]
    x_train = x_train.reshape(-1, 28, 28, 1) / 255
    x_test = x_test.reshape(-1, 28, 28, 1) / 255

    model = build_model()
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(x_train, to_categorical(y_train), batch_size=32, epochs=epochs, verbose=verbose)
    loss, accuracy = model.evaluate(x_test, to_categorical(y_test), verbose=verbose)
    print(f"Test loss: {loss:.4f} - test accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=None, help="seed for a reproducible run")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    main(args.seed, args.epochs)
