"""The classic first neural network: a 784-64-64-10 perceptron on MNIST.

The Keras tutorial, unchanged but for the import lines. Run:
    python examples/mnist_mlp.py [--seed N] [--epochs 5] [--output DIR]

The weights are saved to DIR/model.weights.h5 (DIR is output/ in the current folder by default,
created if needed).
"""
import argparse
import os
import sys

import numpy as np

import tinykeras as keras
from tinykeras import Sequential
from tinykeras.layers import Dense
from tinykeras.utils import to_categorical


def build_model():
    return Sequential(
        [
            Dense(64, activation="relu", input_shape=(784,)),
            Dense(64, activation="relu"),
            Dense(10, activation="softmax"),
        ]
    )


def main(seed=None, epochs=5, weights_path=os.path.join("output", "model.weights.h5"), verbose=1):
    """Trains, evaluates, saves (to ``weights_path``, creating its folder), reloads and predicts;
    returns the test accuracy."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    (train_images, train_labels), (test_images, test_labels) = keras.datasets.mnist.load_data()

    # Normalize the images to [-0.5, 0.5] and flatten each to a vector of 784.
    train_images = (train_images / 255) - 0.5
    test_images = (test_images / 255) - 0.5
    train_images = train_images.reshape((-1, 784))
    test_images = test_images.reshape((-1, 784))

    model = build_model()
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(train_images, to_categorical(train_labels), epochs=epochs, batch_size=32, verbose=verbose)

    loss, accuracy = model.evaluate(test_images, to_categorical(test_labels), verbose=verbose)
    print(f"Test loss: {loss:.4f} - test accuracy: {accuracy:.4f}")

    os.makedirs(os.path.dirname(weights_path) or ".", exist_ok=True)
    model.save_weights(weights_path)
    print(f"Weights saved to {weights_path}")
    restored = build_model()
    restored.load_weights(weights_path)
    predictions = restored.predict(test_images[:5], verbose=0)
    print("Predictions:", np.argmax(predictions, axis=1))
    print("Labels:     ", test_labels[:5])
    return accuracy


def cli(argv=None):
    """Runs the example from command-line arguments; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=None, help="seed for a reproducible run")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--output", default="output", metavar="DIR",
                        help="folder for the weights file, created if needed (default: output)")
    parser.add_argument("--weights", default="model.weights.h5", help="the weights file's name in DIR")
    args = parser.parse_args(argv)
    main(args.seed, args.epochs, os.path.join(args.output, args.weights))
    return 0


if __name__ == "__main__":
    sys.exit(cli())
