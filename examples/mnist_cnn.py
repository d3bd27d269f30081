"""A first convolutional network on MNIST: one Conv2D, one max pooling, one softmax layer.

The Keras tutorial unchanged but for the import lines. Run: python examples/mnist_cnn.py [--seed N]
"""
import argparse

import numpy as np

import tinykeras as keras
from tinykeras import Sequential
from tinykeras.layers import Conv2D, Dense, Flatten, MaxPooling2D
from tinykeras.utils import to_categorical


def build_model(num_filters=8, filter_size=3, pool_size=2):
    return Sequential(
        [
            Conv2D(num_filters, filter_size, input_shape=(28, 28, 1)),
            MaxPooling2D(pool_size=pool_size),
            Flatten(),
            Dense(10, activation="softmax"),
        ]
    )


def main(seed=None, epochs=3, weights_path="cnn.weights.h5", verbose=1):
    """Trains with the test set as validation data, evaluates, saves, reloads and predicts;
    returns the test accuracy."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    (train_images, train_labels), (test_images, test_labels) = keras.datasets.mnist.load_data()

    # Normalize the images to [-0.5, 0.5] and add a channel axis: (28, 28) -> (28, 28, 1).
    train_images = np.expand_dims((train_images / 255) - 0.5, axis=3)
    test_images = np.expand_dims((test_images / 255) - 0.5, axis=3)

    model = build_model()
    model.compile("adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(
        train_images,
        to_categorical(train_labels),
        epochs=epochs,
        validation_data=(test_images, to_categorical(test_labels)),
        verbose=verbose,
    )

    loss, accuracy = model.evaluate(test_images, to_categorical(test_labels), verbose=0)
    print(f"Test loss: {loss:.4f} - test accuracy: {accuracy:.4f}")

    model.save_weights(weights_path)
    restored = build_model()
    restored.load_weights(weights_path)
    predictions = restored.predict(test_images[:5], verbose=0)
    print("Predictions:", np.argmax(predictions, axis=1))
    print("Labels:     ", test_labels[:5])
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=None, help="seed for a reproducible run")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--weights", default="cnn.weights.h5", help="where to save the weights")
    args = parser.parse_args()
    main(args.seed, args.epochs, args.weights)
