"""Sentiment of IMDB movie reviews with an LSTM: Embedding -> LSTM -> Dense(1, sigmoid).

The Keras text-classification tutorial, unchanged but for the import lines. Each review is a
list of word indices (the 20,000 most frequent words); ``pad_sequences`` cuts or pads it to its
last 80 words. Run:
    python examples/imdb_lstm.py [--epochs 2] [--seed N] [--samples N]

IMDB (Keras' imdb.npz, 17 MB) is fetched on first use into $TINYKERAS_HOME/datasets/.
"""
import argparse
import sys

import tinykeras as keras
from tinykeras import Sequential
from tinykeras.layers import LSTM, Dense, Embedding, Input

MAX_FEATURES = 20000  # words kept: the most frequent ones
MAXLEN = 80  # words kept of each review: its last ones
BATCH_SIZE = 32


def build_model(max_features=MAX_FEATURES, maxlen=MAXLEN):
    model = Sequential(
        [
            Input(shape=(maxlen,)),
            Embedding(max_features, 128),
            LSTM(128, dropout=0.2, recurrent_dropout=0.2),
            Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def load_dataset(max_features=MAX_FEATURES, maxlen=MAXLEN, samples=None):
    """The reviews padded to ``maxlen`` word indices below ``max_features``, and their 0/1
    labels; ``samples`` keeps only that many training and test reviews."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.imdb.load_data(num_words=max_features)
    if samples is not None:
        x_train, y_train, x_test, y_test = x_train[:samples], y_train[:samples], x_test[:samples], y_test[:samples]
    print(len(x_train), "train sequences")
    print(len(x_test), "test sequences")
    x_train = keras.utils.pad_sequences(x_train, maxlen=maxlen)
    x_test = keras.utils.pad_sequences(x_test, maxlen=maxlen)
    print("x_train shape:", x_train.shape)
    print("x_test shape:", x_test.shape)
    return (x_train, y_train), (x_test, y_test)


def main(epochs=2, seed=None, samples=None, verbose=1):
    """Trains, validating on the test reviews after each epoch, and evaluates; returns the test
    accuracy."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = load_dataset(samples=samples)

    model = build_model()
    model.fit(
        x_train,
        y_train,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        validation_data=(x_test, y_test),
        verbose=verbose,
    )
    score, accuracy = model.evaluate(x_test, y_test, batch_size=BATCH_SIZE, verbose=0)
    print(f"Test score: {score:.4f} - test accuracy: {accuracy:.4f}")
    return accuracy


def cli(argv=None):
    """Runs the example from command-line arguments; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None, help="seed for a reproducible run")
    parser.add_argument("--samples", type=int, default=None,
                        help="use only the first N training and test reviews")
    args = parser.parse_args(argv)
    try:
        main(args.epochs, args.seed, args.samples)
    except keras.datasets.DatasetUnavailableError as error:
        print(f"IMDB is not available: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(cli())
