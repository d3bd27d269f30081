"""Losses, each with its hand-derived gradient, computed as Keras does on TensorFlow.

A loss is the mean over the batch of a per-sample loss. Each :class:`Loss` gives
``value_and_grad(y_true, y_pred) -> (loss, dLoss/dy_pred)``. Cross-entropies whose predictions come
straight from the matching output activation (softmax for the categorical ones, sigmoid for the
binary one) are taken from the logits instead (``value_and_grad_logits``): no clipping, and the
gradient with respect to the logits is the familiar ``(p - y) / batch``.
"""
import numpy as np

from tinykeras import activations, backend
from tinykeras.utils.naming import lookup


class Loss:
    """Base class.

    Args:
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        name: the loss name.
    """

    #: The output activation whose logits this loss can use directly (None: it cannot).
    logits_activation = None

    def __init__(self, from_logits=False, name=None):
        self.from_logits = from_logits
        self.name = name or _snake(type(self).__name__)

    def __call__(self, y_true, y_pred):
        y_pred = np.asarray(y_pred, dtype=backend.floatx())
        return self.value_and_grad(self.prepare_targets(y_true, y_pred), y_pred)[0]

    def prepare_targets(self, y_true, y_pred):
        """Converts and checks the targets for a batch of predictions."""
        return np.asarray(y_true, dtype=y_pred.dtype)

    def value_and_grad(self, y_true, y_pred):
        """Returns (mean loss, dLoss/dy_pred)."""
        if self.from_logits:
            return self.value_and_grad_logits(y_true, y_pred)
        return self.value_and_grad_probabilities(y_true, y_pred)

    def value_and_grad_probabilities(self, y_true, y_pred):
        raise TypeError(f"{type(self).__name__} must define value_and_grad_probabilities.")

    def value_and_grad_logits(self, y_true, logits):
        raise TypeError(f"{type(self).__name__} does not take logits.")

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits}

    def __repr__(self):
        return f"{type(self).__name__}(from_logits={self.from_logits})"


def _log_softmax(z):
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _clipped(p):
    """Clips probabilities to [eps, 1 - eps] and returns (clipped, mask of unclipped entries)."""
    eps = backend.epsilon()
    clipped = np.clip(p, eps, 1 - eps)
    return clipped, (p > eps) & (p < 1 - eps)


class CategoricalCrossentropy(Loss):
    """``-sum(y_true * log(y_pred))`` per sample, for one-hot (or soft) targets."""

    logits_activation = "softmax"

    def prepare_targets(self, y_true, y_pred):
        y_true = np.asarray(y_true)
        if y_true.shape != y_pred.shape:
            hint = ""
            if y_true.ndim == y_pred.ndim - 1 or (y_true.ndim == 2 and y_true.shape[-1] == 1):
                hint = (
                    " The targets look like integer class labels: one-hot encode them with "
                    "tinykeras.utils.to_categorical(y), or use "
                    "loss='sparse_categorical_crossentropy'."
                )
            raise ValueError(
                f"categorical_crossentropy expects targets of the same shape as the output "
                f"{y_pred.shape[1:]} per sample; received targets of shape {y_true.shape[1:]} "
                f"per sample.{hint}"
            )
        return y_true.astype(y_pred.dtype, copy=False)

    def value_and_grad_logits(self, y_true, logits):
        n = logits.shape[0]
        log_p = _log_softmax(logits)
        loss = -(y_true * log_p).sum() / n
        # d/dz of -sum(y * log_softmax(z)) = softmax(z) * sum(y) - y
        grad = np.exp(log_p) * y_true.sum(axis=-1, keepdims=True) - y_true
        return float(loss), grad / n

    def value_and_grad_probabilities(self, y_true, p):
        n = p.shape[0]
        total = p.sum(axis=-1, keepdims=True)
        normalized, inside = _clipped(p / total)
        loss = -(y_true * np.log(normalized)).sum() / n
        g = -y_true / normalized * inside  # dLoss/d(normalized), zero where clipped
        # normalized = p / sum(p): d/dp_j = (g_j - sum_k g_k p_k / sum(p)) / sum(p)
        grad = (g - (g * p).sum(axis=-1, keepdims=True) / total) / total
        return float(loss), grad / n


class SparseCategoricalCrossentropy(Loss):
    """Categorical cross-entropy with integer class labels as targets."""

    logits_activation = "softmax"

    def prepare_targets(self, y_true, y_pred):
        y_true = np.asarray(y_true)
        if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
            y_true = y_true[..., 0]
        if y_true.shape != y_pred.shape[:-1]:
            raise ValueError(
                f"sparse_categorical_crossentropy expects one integer label per sample "
                f"(targets of shape {y_pred.shape[:-1]}); received targets of shape "
                f"{y_true.shape}. For one-hot targets use loss='categorical_crossentropy'."
            )
        fractional = np.flatnonzero(y_true != np.round(y_true)) if y_true.dtype.kind == "f" else []
        if len(fractional):
            raise ValueError(
                f"sparse_categorical_crossentropy expects integer class labels; received "
                f"{len(fractional)} fractional label(s), the first {y_true.flat[fractional[0]].item()} "
                f"at index {int(fractional[0])}. Pass labels such as 0, 1, 2 (y.astype(int) "
                "if they are whole numbers stored as floats); for probabilities per class use "
                "loss='categorical_crossentropy'."
            )
        labels = y_true.astype(np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= y_pred.shape[-1]):
            raise ValueError(
                f"sparse_categorical_crossentropy: labels must be in [0, {y_pred.shape[-1] - 1}] "
                f"for an output of {y_pred.shape[-1]} classes; received labels from "
                f"{labels.min()} to {labels.max()}. Give the last layer as many units as classes."
            )
        return labels

    def _one_hot(self, labels, like):
        one_hot = np.zeros_like(like)
        np.put_along_axis(one_hot, labels[..., None], 1, axis=-1)
        return one_hot

    def value_and_grad_logits(self, labels, logits):
        return CategoricalCrossentropy.value_and_grad_logits(self, self._one_hot(labels, logits), logits)

    def value_and_grad_probabilities(self, labels, p):
        # Keras clips first, then renormalises: loss = -log(pc[label]) + log(sum(pc)).
        n = p.shape[0]
        clipped, inside = _clipped(p)
        total = clipped.sum(axis=-1, keepdims=True)
        picked = np.take_along_axis(clipped, labels[..., None], axis=-1)
        loss = (np.log(total) - np.log(picked)).sum() / n
        grad = (1 / total - self._one_hot(labels, p) / clipped) * inside
        return float(loss), grad / n


class BinaryCrossentropy(Loss):
    """``-(y log p + (1 - y) log(1 - p))``, averaged over the last axis, then over the batch."""

    logits_activation = "sigmoid"

    def prepare_targets(self, y_true, y_pred):
        y_true = np.asarray(y_true)
        if y_true.ndim == y_pred.ndim - 1:
            y_true = y_true[..., None]
        if y_true.shape != y_pred.shape:
            raise ValueError(
                f"binary_crossentropy expects targets of shape {y_pred.shape[1:]} per sample; "
                f"received {y_true.shape[1:]}."
            )
        return y_true.astype(y_pred.dtype, copy=False)

    def value_and_grad_logits(self, y_true, z):
        count = z.size
        # Stable form: max(z, 0) - z y + log(1 + exp(-|z|))
        loss = (np.maximum(z, 0) - z * y_true + np.log1p(np.exp(-np.abs(z)))).sum() / count
        return float(loss), (activations.sigmoid.forward(z) - y_true) / count

    def value_and_grad_probabilities(self, y_true, p):
        count = p.size
        clipped, inside = _clipped(p)
        loss = -(y_true * np.log(clipped) + (1 - y_true) * np.log(1 - clipped)).sum() / count
        grad = -(y_true / clipped - (1 - y_true) / (1 - clipped)) * inside
        return float(loss), grad / count


class MeanSquaredError(Loss):
    """``mean((y_true - y_pred)^2)`` over the last axis, then over the batch."""

    def prepare_targets(self, y_true, y_pred):
        y_true = np.asarray(y_true)
        if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
            y_true = y_true[..., None]
        if y_true.shape != y_pred.shape:
            raise ValueError(
                f"mean_squared_error expects targets of the output's shape {y_pred.shape[1:]} "
                f"per sample; received targets of shape {y_true.shape[1:]} per sample. Reshape "
                f"the targets to (samples, {', '.join(map(str, y_pred.shape[1:]))}), or give the "
                "last layer as many units as each target has values."
            )
        return y_true.astype(y_pred.dtype, copy=False)

    def value_and_grad(self, y_true, y_pred):
        diff = y_pred - y_true
        count = diff.size
        return float((diff * diff).sum() / count), diff * (2 / count)


def _snake(name):
    return backend.snake_case(name)


def categorical_crossentropy(y_true, y_pred, from_logits=False):
    """Per-batch mean categorical cross-entropy of arrays."""
    return CategoricalCrossentropy(from_logits)(y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    """Per-batch mean sparse categorical cross-entropy of arrays."""
    return SparseCategoricalCrossentropy(from_logits)(y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False):
    """Per-batch mean binary cross-entropy of arrays."""
    return BinaryCrossentropy(from_logits)(y_true, y_pred)


def mean_squared_error(y_true, y_pred):
    """Per-batch mean squared error of arrays."""
    return MeanSquaredError()(y_true, y_pred)


mse = MSE = mean_squared_error

_LOSSES = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
}
_ALIASES = {"mse": "mean_squared_error"}
_FUNCTIONS = {
    categorical_crossentropy: "categorical_crossentropy",
    sparse_categorical_crossentropy: "sparse_categorical_crossentropy",
    binary_crossentropy: "binary_crossentropy",
    mean_squared_error: "mean_squared_error",
}


def get(identifier):
    """Returns a :class:`Loss` for a name ('categorical_crossentropy', 'mse'), a loss function of
    this module, a class name, or a Loss instance.

    Raises:
        ValueError: for an unknown name, listing the valid ones and the nearest match.
    """
    if isinstance(identifier, Loss):
        return identifier
    if identifier in _FUNCTIONS:
        return _LOSSES[_FUNCTIONS[identifier]]()
    if isinstance(identifier, str):
        name = backend.snake_case(identifier) if identifier[:1].isupper() else identifier
        return lookup("loss", name, _LOSSES, _ALIASES)()
    raise TypeError(
        f"Could not interpret loss {identifier!r}: pass a name such as "
        "'categorical_crossentropy' or a loss object from tinykeras.losses."
    )
