"""A small CNN on raw MNIST pixels (0..255, not scaled): 37,210 parameters, batches of 10.

The Keras tutorial unchanged but for the import lines. Run: python examples/mnist_cnn_small.py
"""
import argparse

import tinykeras as keras
from tinykeras.layers import Conv2D, Dense, Flatten, MaxPooling2D
from tinykeras.models import Sequential
from tinykeras.utils import to_categorical


def build_model():
    model = Sequential()
    model.add(
        Conv2D(10, kernel_size=3, activation="relu", strides=(1, 1), padding="valid", input_shape=(28, 28, 1))
    )
    model.add(MaxPooling2D((2, 2)))
    model.add(MaxPooling2D((2, 2)))
    model.add(Flatten())
    model.add(Dense(100, activation="relu"))
    model.add(Dense(10, activation="softmax"))
    return model


def main(seed=None, epochs=3, train_samples=None, verbose=1):
    """Trains with 20% held out for validation and evaluates; returns the test accuracy."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    if train_samples is not None:
        x_train, y_train = x_train[:train_samples], y_train[:train_samples]
    x_train = x_train.reshape(-1, 28, 28, 1).astype("float32")
    x_test = x_test.reshape(-1, 28, 28, 1).astype("float32")
    y_train, y_test = to_categorical(y_train), to_categorical(y_test)

    model = build_model()
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(x_train, y_train, validation_split=0.2, epochs=epochs, batch_size=10, verbose=verbose)
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=10, verbose=verbose)
    print(f"Test loss: {loss:.4f} - test accuracy: {accuracy:.4f}")
    model.summary()
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=None, help="seed for a reproducible run")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    main(args.seed, args.epochs)
