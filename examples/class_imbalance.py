"""Training on imbalanced classes with ``class_weight``: is this MNIST digit a 0?

The positives, the zeros, are made rare: only one sample in a hundred is a 0 (the others are
dropped), in the training and the test set alike. A classifier trained as usual sees so few of
them that it learns to say "not a 0" whenever in doubt; weighting each class by the inverse of
its frequency, ``class_weight={0: w0, 1: w1}`` in ``fit``, makes both classes count alike in the
loss. The same model is trained twice from the same seed, without and with the weights, and the
test set's confusion counts (true/false positives/negatives), precision, recall and AUC are
printed for both: with the weights, fewer zeros are missed, for some more false alarms.

The metrics and weights of the Keras tutorial on imbalanced data (credit card fraud), on MNIST
so that it runs offline. Run:
    python examples/class_imbalance.py [--epochs 3] [--seed N] [--positives 0.01]
"""
import argparse

import numpy as np

import tinykeras as keras
from tinykeras import Sequential
from tinykeras.layers import Dense, Input


def make_imbalanced(images, labels, positive_fraction, rng):
    """Flattened pixels in [0, 1] and targets 1 for a 0, 0 for any other digit, keeping every
    other digit and just enough zeros, drawn by ``rng``, to make up ``positive_fraction`` of
    the samples; the samples shuffled."""
    positives = np.flatnonzero(labels == 0)
    negatives = np.flatnonzero(labels != 0)
    kept = round(len(negatives) * positive_fraction / (1 - positive_fraction))
    chosen = np.concatenate([negatives, rng.choice(positives, size=kept, replace=False)])
    rng.shuffle(chosen)
    x = images[chosen].reshape(len(chosen), -1).astype("float32") / 255
    y = (labels[chosen] == 0).astype("float32")
    return x, y


def build_model():
    model = Sequential(
        [
            Input(shape=(784,)),
            Dense(32, activation="relu"),
            Dense(1, activation="sigmoid"),
        ]
    )
    metrics = [
        keras.metrics.FalseNegatives(name="fn"),
        keras.metrics.FalsePositives(name="fp"),
        keras.metrics.TrueNegatives(name="tn"),
        keras.metrics.TruePositives(name="tp"),
        keras.metrics.Precision(name="precision"),
        keras.metrics.Recall(name="recall"),
        keras.metrics.AUC(name="auc"),
    ]
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=metrics)
    return model


def train(x_train, y_train, x_test, y_test, epochs, seed, class_weight=None, verbose=0):
    """Trains a fresh model (with ``class_weight`` if given) and returns its test metrics."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    model = build_model()
    model.fit(x_train, y_train, batch_size=64, epochs=epochs, class_weight=class_weight, verbose=verbose)
    return model.evaluate(x_test, y_test, batch_size=256, verbose=0, return_dict=True)


def main(epochs=3, seed=None, positive_fraction=0.01, train_samples=None, verbose=0):
    """Builds the imbalanced sets, trains without and with class weights, prints the confusion
    counts of both; returns {"plain": metrics, "weighted": metrics} (each a dict of the test
    set's loss and metrics)."""
    rng = np.random.default_rng(seed)
    (train_images, train_labels), (test_images, test_labels) = keras.datasets.mnist.load_data()
    if train_samples is not None:
        train_images, train_labels = train_images[:train_samples], train_labels[:train_samples]
    x_train, y_train = make_imbalanced(train_images, train_labels, positive_fraction, rng)
    x_test, y_test = make_imbalanced(test_images, test_labels, positive_fraction, rng)
    positives, total = int(y_train.sum()), len(y_train)
    print(f"Training: {total} samples, {positives} positives ({100 * positives / total:.2f}% of total)")
    print(f"Test: {len(y_test)} samples, {int(y_test.sum())} positives")

    # Each class weighs as much as the other in the loss: total / (2 * its count).
    weight_for_0 = total / (2 * (total - positives))
    weight_for_1 = total / (2 * positives)
    class_weight = {0: weight_for_0, 1: weight_for_1}
    print(f"Weight for class 0: {weight_for_0:.2f}, for class 1: {weight_for_1:.2f}")

    results = {
        "plain": train(x_train, y_train, x_test, y_test, epochs, seed, verbose=verbose),
        "weighted": train(x_train, y_train, x_test, y_test, epochs, seed, class_weight, verbose=verbose),
    }
    print("\n| training | true pos. | false neg. | false pos. | true neg. | precision | recall | AUC |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, metrics in (("without class_weight", results["plain"]), ("with class_weight", results["weighted"])):
        tp, fn, fp, tn = (int(metrics[key]) for key in ("tp", "fn", "fp", "tn"))
        print(f"| {name} | {tp} | {fn} | {fp} | {tn} | {metrics['precision']:.3f} "
              f"| {metrics['recall']:.3f} | {metrics['auc']:.4f} |")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=None, help="seed for a reproducible run")
    parser.add_argument("--positives", type=float, default=0.01,
                        help="the fraction of the samples that are zeros (default: 0.01)")
    args = parser.parse_args()
    main(args.epochs, args.seed, args.positives, verbose=2)
