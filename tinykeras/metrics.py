"""Metrics: per-sample functions, and :class:`Mean` to average them over an epoch as Keras does."""
import numpy as np

from tinykeras import losses
from tinykeras.utils.naming import lookup


def categorical_accuracy(y_true, y_pred):
    """1 where the predicted class (argmax) equals the one-hot target's class, else 0."""
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float32)


def sparse_categorical_accuracy(y_true, y_pred):
    """1 where the predicted class equals the integer label, else 0."""
    y_true = np.asarray(y_true)
    if y_true.ndim == y_pred.ndim:
        y_true = y_true[..., 0]
    return (y_true.astype(np.int64) == np.argmax(y_pred, axis=-1)).astype(np.float32)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Mean over the last axis of 1 where (y_pred > threshold) equals the target."""
    y_true = np.asarray(y_true)
    if y_true.ndim == y_pred.ndim - 1:
        y_true = y_true[..., None]
    return ((y_pred > threshold) == (y_true > 0.5)).mean(axis=-1, dtype=np.float32)


# The loss functions return one value per sample, so they serve as metrics too, as in Keras.
mean_squared_error = losses.mean_squared_error
categorical_crossentropy = losses.categorical_crossentropy
sparse_categorical_crossentropy = losses.sparse_categorical_crossentropy
binary_crossentropy = losses.binary_crossentropy

_FUNCTIONS = {
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "binary_accuracy": binary_accuracy,
    "mean_squared_error": mean_squared_error,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "binary_crossentropy": binary_crossentropy,
}
_ALIASES = {"mse": "mean_squared_error"}
_ACCURACY_NAMES = ("accuracy", "acc")


class Mean:
    """The running mean of per-sample values over an epoch.

    Args:
        name: the name shown in logs and History.
        fn: ``fn(y_true, y_pred)`` returning one value per sample, or None for a plain mean.
    """

    def __init__(self, name, fn=None):
        self.name = name
        self.fn = fn
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0

    def update_state(self, y_true, y_pred=None):
        """Adds a batch: the per-sample values ``fn(y_true, y_pred)``, or for a plain mean (no
        ``fn``) the values given (``loss_tracker.update_state(loss)``)."""
        values = np.asarray(y_true, dtype=np.float64) if self.fn is None else self.fn(y_true, y_pred)
        self.total += float(values.sum())
        self.count += values.size

    def update_mean(self, value, count):
        """Adds ``count`` samples whose mean is ``value`` (how the loss is tracked)."""
        self.total += float(value) * count
        self.count += count

    def result(self):
        return self.total / self.count if self.count else 0.0

    def __repr__(self):
        return f"<Mean {self.name}={self.result():.4f}>"


def get(identifier):
    """Returns a :class:`Mean` for a metric name or function.

    'accuracy' and 'acc' resolve like Keras, from the shapes of targets and outputs: binary
    accuracy for a single output unit, sparse categorical accuracy for integer labels, categorical
    accuracy for one-hot targets. The metric keeps the name the user wrote.

    Args:
        identifier: a name or a function ``fn(y_true, y_pred)`` returning per-sample values.
    """
    if callable(identifier):
        return Mean(getattr(identifier, "__name__", "metric"), identifier)
    if not isinstance(identifier, str):
        raise TypeError(
            f"Could not interpret metric {identifier!r}: pass a name such as 'accuracy' or a "
            "function fn(y_true, y_pred)."
        )
    registry = {**_FUNCTIONS, **dict.fromkeys(_ACCURACY_NAMES, accuracy)}
    return Mean(identifier, lookup("metric", identifier.lower(), registry, _ALIASES))


def accuracy(y_true, y_pred):
    """Keras' choice of accuracy by shapes: binary for one output unit, sparse categorical when
    the targets are labels (lower rank, or a last axis of 1), categorical otherwise."""
    y_rank, y_last = np.ndim(y_true), np.shape(y_true)[-1] if np.ndim(y_true) else 1
    if y_pred.shape[-1] == 1:
        return binary_accuracy(y_true, y_pred)
    if y_rank < y_pred.ndim or y_last == 1:
        return sparse_categorical_accuracy(y_true, y_pred)
    return categorical_accuracy(y_true, y_pred)
