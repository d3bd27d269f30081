"""Accuracy metrics: per-sample functions (1 for a hit, 0 for a miss) and their running means."""
import numpy as np

from tinykeras import backend
from tinykeras.losses import same_rank
from tinykeras.metrics.metric import MeanMetricWrapper, as_array


def _hits(matches):
    return matches.astype(backend.floatx())


def accuracy(y_true, y_pred):
    """1 where the prediction equals the target exactly."""
    y_pred = as_array(y_pred)
    y_true, y_pred = same_rank(as_array(y_true, y_pred.dtype), y_pred)
    return _hits(y_true == y_pred)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1 where ``y_pred > threshold`` equals the (0 or 1) target, for each output."""
    y_true, y_pred = same_rank(as_array(y_true), as_array(y_pred))
    return _hits((y_pred > threshold).astype(y_true.dtype) == y_true)


def _class_labels(y_true, y_pred):
    """The integer labels of ``y_true``: (batch,) or (batch, 1), the axis of 1 dropped."""
    y_true = as_array(y_true)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return y_true


def categorical_accuracy(y_true, y_pred):
    """1 where the predicted class (argmax) is the one-hot target's class."""
    return _hits(as_array(y_true).argmax(axis=-1) == as_array(y_pred).argmax(axis=-1))


def sparse_categorical_accuracy(y_true, y_pred):
    """1 where the predicted class (argmax) equals the integer label."""
    y_pred = as_array(y_pred)
    y_true = _class_labels(y_true, y_pred)
    return _hits(y_true.astype(np.int64) == np.argmax(y_pred, axis=-1))


def _in_top_k(labels, y_pred, k):
    """Whether each label's score is among the k largest of its row (ties counted in, as
    ``in_top_k`` does: a score equal to the k-th largest is in)."""
    y_pred = y_pred.reshape(-1, y_pred.shape[-1])
    labels = labels.reshape(-1).astype(np.int64)
    if k >= y_pred.shape[-1]:
        return np.ones(len(labels), bool)
    kth = -np.partition(-y_pred, k - 1, axis=-1)[:, k - 1]
    return y_pred[np.arange(len(labels)), labels] >= kth


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1 where the one-hot target's class is among the ``k`` highest predictions."""
    y_pred, y_true = as_array(y_pred), as_array(y_true)
    labels = np.argmax(y_true, axis=-1)
    return _hits(_in_top_k(labels, y_pred, k)).reshape(labels.shape)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """1 where the integer label is among the ``k`` highest predictions (or, with
    ``from_sorted_ids``, among the first ``k`` class ids of each row of ``y_pred``)."""
    y_pred = as_array(y_pred)
    labels = _class_labels(y_true, y_pred)
    if from_sorted_ids:
        return _hits(np.any(y_pred[..., :k] == labels[..., None], axis=-1))
    return _hits(_in_top_k(labels, y_pred, k)).reshape(labels.shape)


class Accuracy(MeanMetricWrapper):
    """How often predictions equal targets exactly."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` matches the binary target."""

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of the prediction is the one-hot target's class."""

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of the prediction equals the integer label."""

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot target's class is among the ``k`` highest predictions."""

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the ``k`` highest predictions."""

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids=False):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k,
                         from_sorted_ids=from_sorted_ids)
        self.k = k
