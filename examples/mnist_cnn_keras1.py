"""Keras 1's MNIST CNN, written in Keras 1's API: channels-first images, Convolution2D(32, 3, 3),
border_mode, np_utils.to_categorical and fit(..., nb_epoch=...).

The Keras 1 tutorial unchanged but for the import lines and two settings: batches of 32 for 10
epochs, and the Adam optimizer in place of Adadelta (Keras 3's 'adadelta' starts at
learning_rate=0.001, where Keras 1's started at 1.0, and learns little in 10 epochs). The legacy
names print DeprecationWarnings that spell the current API.

Keras 1 users had "image_dim_ordering": "th" in ~/.keras/keras.json; the same setting here is
{"image_data_format": "channels_first"} in $TINYKERAS_HOME/tinykeras.json, or
TINYKERAS_IMAGE_DATA_FORMAT=channels_first. This script needs neither: it sets channels_first for
its own run (main() puts the previous format back when it returns).

Run: python examples/mnist_cnn_keras1.py [--seed N] [--epochs 10]
"""
import argparse

import tinykeras as keras
from tinykeras import backend as K
from tinykeras.datasets import mnist
from tinykeras.layers import (
    Activation,
    Convolution2D,
    Dense,
    Dropout,
    Flatten,
    MaxPooling2D,
)
from tinykeras.models import Sequential
from tinykeras.utils import np_utils

batch_size = 32
nb_classes = 10
nb_epoch = 10

# input image dimensions
img_rows, img_cols = 28, 28
# number of convolutional filters to use
nb_filters = 32
# size of pooling area for max pooling
nb_pool = 2
# convolution kernel size
nb_conv = 3


def build_model():
    model = Sequential()
    model.add(Convolution2D(nb_filters, nb_conv, nb_conv,
                            border_mode='valid',
                            input_shape=(1, img_rows, img_cols)))
    model.add(Activation('relu'))
    model.add(Convolution2D(nb_filters, nb_conv, nb_conv))
    model.add(Activation('relu'))
    model.add(MaxPooling2D(pool_size=(nb_pool, nb_pool)))
    model.add(Dropout(0.25))

    model.add(Flatten())
    model.add(Dense(128))
    model.add(Activation('relu'))
    model.add(Dropout(0.5))
    model.add(Dense(nb_classes))
    model.add(Activation('softmax'))
    return model


def main(seed=None, epochs=nb_epoch, train_samples=None, verbose=1):
    """Trains and evaluates on the test set in channels_first; returns the test accuracy. The
    image data format in force before the call is restored when it returns."""
    previous_format = K.image_data_format()
    K.set_image_data_format('channels_first')  # Keras 1's "image_dim_ordering": "th"
    try:
        return _train_and_evaluate(seed, epochs, train_samples, verbose)
    finally:
        K.set_image_data_format(previous_format)


def _train_and_evaluate(seed, epochs, train_samples, verbose):
    """The Keras 1 tutorial's body, run with channels_first set; returns the test accuracy."""
    if seed is not None:
        keras.utils.set_random_seed(seed)

    # the data, shuffled and split between train and test sets
    (X_train, y_train), (X_test, y_test) = mnist.load_data()
    if train_samples is not None:
        X_train, y_train = X_train[:train_samples], y_train[:train_samples]

    X_train = X_train.reshape(X_train.shape[0], 1, img_rows, img_cols)
    X_test = X_test.reshape(X_test.shape[0], 1, img_rows, img_cols)
    X_train = X_train.astype('float32')
    X_test = X_test.astype('float32')
    X_train /= 255
    X_test /= 255
    print('X_train shape:', X_train.shape)
    print(X_train.shape[0], 'train samples')
    print(X_test.shape[0], 'test samples')

    # convert class vectors to binary class matrices
    Y_train = np_utils.to_categorical(y_train, nb_classes)
    Y_test = np_utils.to_categorical(y_test, nb_classes)

    model = build_model()
    print('First layer output shape:', model.layers[0].output_shape)

    model.compile(loss='categorical_crossentropy',
                  optimizer='adam',
                  metrics=['accuracy'])

    model.fit(X_train, Y_train, batch_size=batch_size, nb_epoch=epochs,
              verbose=verbose, validation_data=(X_test, Y_test))
    score = model.evaluate(X_test, Y_test, verbose=0)
    print('Test score:', score[0])
    print('Test accuracy:', score[1])
    return score[1]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=None, help="seed for a reproducible run")
    parser.add_argument("--epochs", type=int, default=nb_epoch)
    args = parser.parse_args()
    main(args.seed, args.epochs)
