"""Losses, each with its hand-derived gradient, computed as Keras does on TensorFlow.

As in Keras, the loss functions (``categorical_crossentropy(y_true, y_pred)``, ``mse``, ...) return
one value per sample: the last axis reduced, an array of shape ``y_pred.shape[:-1]``. A
:class:`Loss` object called on a batch reduces those values as its ``reduction`` says: by default
their mean ('sum_over_batch_size'), a float.

For training, each :class:`Loss` gives ``value_and_grad(y_true, y_pred) -> (mean loss,
dLoss/dy_pred)``. Cross-entropies whose predictions come straight from the matching output
activation (softmax for the categorical ones, sigmoid for the binary one) are taken from the
logits instead (``value_and_grad_logits``): no clipping, and the gradient with respect to the
logits is the familiar ``(p - y) / batch``.
"""
import functools
import warnings

import numpy as np

from tinykeras import activations, backend
from tinykeras.kernels.softmax import log_softmax as _log_softmax
from tinykeras.kernels.softmax import softmax_cross_entropy
from tinykeras.utils.naming import lookup


#: Keras 3's reductions: 'sum_over_batch_size' and 'mean' divide the sum by the number of
#: values, 'mean_with_sample_weight' by the sum of the sample weights; 'none' and None keep the
#: values.
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


class Loss:
    """Base class.

    Args:
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        name: the loss name.
        reduction: how calling the loss reduces its per-sample values: 'sum_over_batch_size'
            (the default: their mean), 'sum', 'mean', 'mean_with_sample_weight', or 'none'/None
            (the values themselves). ``fit`` and ``evaluate`` train on and report the mean, so
            ``compile`` refuses 'sum' and 'none'.
    """

    #: The output activation whose logits this loss can use directly (None: it cannot).
    logits_activation = None

    def __init__(self, from_logits=False, name=None, reduction="sum_over_batch_size"):
        self.from_logits = from_logits
        self.name = name or _snake(type(self).__name__)
        self.reduction = standardize_reduction(reduction)

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The loss of a batch: ``call``'s per-sample values, times ``sample_weight`` if given (one
        weight per sample, or any shape that broadcasts against the values), reduced as
        ``reduction`` says. Returns a float, or an array for reduction 'none'."""
        return reduce_weighted_values(self.call(y_true, y_pred), sample_weight, self.reduction)

    def call(self, y_true, y_pred):
        """One loss value per sample: the last axis of ``y_pred`` reduced, shape
        ``y_pred.shape[:-1]``."""
        y_pred = _predictions(y_pred)
        return self.per_sample(self.prepare_targets(y_true, y_pred), y_pred)

    def prepare_targets(self, y_true, y_pred):
        """Converts and checks the targets for a batch of predictions."""
        return np.asarray(y_true, dtype=y_pred.dtype)

    def per_sample(self, y_true, y_pred):
        """``call`` on targets already through ``prepare_targets``."""
        if self.from_logits:
            return self.per_sample_logits(y_true, y_pred)
        return self.per_sample_probabilities(y_true, y_pred)

    def per_sample_probabilities(self, y_true, y_pred):
        raise TypeError(f"{type(self).__name__} must define per_sample_probabilities.")

    def per_sample_logits(self, y_true, logits):
        raise TypeError(f"{type(self).__name__} does not take logits.")

    def value_and_grad(self, y_true, y_pred):
        """Returns (mean loss, dLoss/dy_pred)."""
        if type(self).call is not Loss.call:
            return _traced_value_and_grad(self, y_true, y_pred)
        if self.from_logits:
            return self.value_and_grad_logits(y_true, y_pred)
        return self.value_and_grad_probabilities(y_true, y_pred)

    def value_and_grad_probabilities(self, y_true, y_pred):
        raise TypeError(f"{type(self).__name__} must define value_and_grad_probabilities.")

    def value_and_grad_logits(self, y_true, logits):
        raise TypeError(f"{type(self).__name__} does not take logits.")

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "from_logits": self.from_logits}

    def __repr__(self):
        return f"{type(self).__name__}(from_logits={self.from_logits}, reduction={self.reduction!r})"


class LossFunctionWrapper(Loss):
    """A loss given as a function ``fn(y_true, y_pred)`` returning one value per sample, written
    with ``keras.ops`` (its gradient then comes from the ops').

    Args:
        fn: the function.
        name: the loss name (the function's by default).
    """

    def __init__(self, fn, name=None, reduction="sum_over_batch_size"):
        super().__init__(name=name or getattr(fn, "__name__", "loss"), reduction=reduction)
        self.fn = fn

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred)

    def __repr__(self):
        return f"LossFunctionWrapper({getattr(self.fn, '__name__', self.fn)!r})"


def _traced_value_and_grad(loss, y_true, y_pred):
    """(mean loss, dLoss/dy_pred) of a loss written with ``call`` on keras.ops: ``call`` runs once
    per shape on symbolic targets and predictions, and the graph its ops record gives the
    values forward and the gradient backward.

    Raises:
        TypeError: naming the loss, when its call computes with something other than keras.ops
            (NumPy functions cannot be differentiated).
    """
    from tinykeras import functional

    key = (np.shape(y_true)[1:], np.shape(y_pred)[1:], np.asarray(y_true).dtype.name, y_pred.dtype.name)
    graphs = loss.__dict__.setdefault("_graphs", {})
    if key not in graphs:
        graphs[key] = _trace_loss(loss, y_true, y_pred)
    graph = graphs[key]
    values = np.asarray(graph.forward([y_true, y_pred] if len(graph.inputs) == 2 else [y_pred], training=True)[0])
    count = max(values.size, 1)
    graph.mark_input_gradients(True)
    d_pred = graph.backward([np.full(values.shape, 1 / count, dtype=y_pred.dtype)], wanted=True)[-1]
    return float(values.sum() / count), (np.zeros_like(y_pred) if d_pred is None else d_pred)


def _trace_loss(loss, y_true, y_pred):
    """The graph of ``loss.call`` on symbolic (y_true, y_pred), or on y_pred alone when the
    loss does not read the targets."""
    from tinykeras import functional

    targets = functional.Input(batch_shape=(None,) + np.shape(y_true)[1:], dtype=np.asarray(y_true).dtype.name, name="y_true")
    predictions = functional.Input(batch_shape=(None,) + np.shape(y_pred)[1:], dtype=y_pred.dtype.name, name="y_pred")
    with functional.recording() as recorded:
        try:
            values = loss.call(targets, predictions)
        except TypeError as error:
            raise TypeError(
                f"Loss '{loss.name}': its call(y_true, y_pred) could not be differentiated: {error} "
                "Write it with keras.ops (ops.mean, ops.square, ...) and arithmetic on its "
                "arguments, not NumPy functions."
            ) from error
        finally:
            functional.forget(recorded)
    if not isinstance(values, functional.KerasTensor):
        raise TypeError(
            f"Loss '{loss.name}': call(y_true, y_pred) must compute its values from y_pred with "
            f"keras.ops; it returned {type(values).__name__}."
        )
    reads_targets = any(t is targets for node in recorded for t in node.inputs)
    inputs = [targets, predictions] if reads_targets else [predictions]
    return functional.Graph(inputs, [values], functional.graph(inputs, [values]))


def standardize_reduction(reduction):
    """Returns ``reduction`` if it is one of Keras' :data:`REDUCTIONS`, else raises ValueError."""
    if not (reduction is None or (isinstance(reduction, str) and reduction in REDUCTIONS)):
        raise ValueError(
            f"Invalid value for argument `reduction`. Expected one of "
            f"{', '.join(map(repr, REDUCTIONS))}. Received: reduction={reduction!r}"
        )
    return reduction


def reduce_weighted_values(values, sample_weight=None, reduction="sum_over_batch_size"):
    """Weights per-sample loss values and reduces them, as Keras' ``Loss.__call__`` does.

    Args:
        values: the per-sample values (an array).
        sample_weight: None, or weights that broadcast against ``values`` once a trailing axis
            of 1 is added or removed (Keras' ``squeeze_or_expand_to_same_rank``).
        reduction: one of :data:`REDUCTIONS`.

    Returns:
        A float; for 'none'/None the weighted values themselves (as for values that are empty and
        1-D, as in Keras).
    """
    reduction = standardize_reduction(reduction)
    values = np.asarray(values)
    weights = None
    if sample_weight is not None:
        weights = np.asarray(sample_weight, dtype=values.dtype)
        values, weights = same_rank(values, weights)
        try:
            values = values * weights
        except ValueError:
            raise ValueError(
                f"sample_weight of shape {np.shape(sample_weight)} does not match the per-sample "
                f"losses of shape {values.shape}. Pass one weight per sample, an array of shape "
                f"{values.shape}."
            ) from None
    if reduction in (None, "none") or values.shape == (0,):
        return values
    total = values.sum()
    if reduction == "sum":
        return float(total)
    if reduction == "mean_with_sample_weight" and weights is not None:
        divisor = float(weights.sum())
    else:
        divisor = values.size
    return float(total / divisor) if divisor else 0.0


def weighted(values, grad, sample_weight):
    """The mean loss and its gradient with each sample's term times its weight, as Keras
    weighs a batch: ``sum(values * weights) / values.size``. Each term reads its own row of
    the predictions, so its gradient is scaled by its weight.

    Args:
        values: the per-sample loss values (``loss.call``).
        grad: the gradient of their unweighted mean.
        sample_weight: one weight per sample (or a shape broadcasting against ``values``).

    Returns:
        (value, grad).
    """
    values = np.asarray(values)
    weights = np.asarray(sample_weight, dtype=values.dtype if values.dtype.kind == "f" else grad.dtype)
    if values.ndim == 0:  # a loss written to return its mean: weighted by the mean weight
        mean = weights.mean()
        return float(values * mean), grad * grad.dtype.type(mean)
    values, weights = same_rank(values, weights)
    try:
        weights = np.broadcast_to(weights, values.shape)
    except ValueError:
        raise ValueError(
            f"sample_weight of shape {np.shape(sample_weight)} does not match the per-sample "
            f"losses of shape {values.shape}. Pass one weight per sample."
        ) from None
    value = float(np.sum(values * weights) / values.size) if values.size else 0.0
    scale = weights.reshape(weights.shape + (1,) * (grad.ndim - weights.ndim)).astype(grad.dtype, copy=False)
    return value, grad * scale


def apply_mask(sample_weight, mask, reduction, dtype):
    """The weights a loss or metric applies when its predictions carry ``mask`` (False at padded
    steps), Keras' ``apply_mask``: with the reductions that divide by the number of values
    ('sum_over_batch_size', 'mean'), each kept value weighs ``mask.size / kept`` (0 when none
    is kept) and a padded one 0, so that the mean is taken over the kept values alone; with
    others (a metric's 'sum'), the mask as 1 and 0. Multiplied by ``sample_weight`` if given.

    Args:
        sample_weight: None, or the weights given to fit or evaluate.
        mask: None, or booleans of the predictions' shape without the last axis.
        reduction: the reduction of the loss (or 'sum' for a metric).
        dtype: the float type of the weights.

    Returns:
        The weights (``sample_weight`` itself without a mask).
    """
    if mask is None:
        return sample_weight
    mask = np.asarray(mask, dtype=bool)
    dtype = np.dtype(dtype)
    if reduction in ("mean", "sum_over_batch_size"):
        kept = np.count_nonzero(mask)
        scale = dtype.type(mask.size) / dtype.type(kept) if kept else dtype.type(0)
        weights = np.where(mask, scale, dtype.type(0)).astype(dtype, copy=False)
    else:
        weights = mask.astype(dtype)
    if sample_weight is None:
        return weights
    weights, sample_weight = same_rank(weights, np.asarray(sample_weight, dtype=dtype))
    return sample_weight * weights


def same_rank(values, weights, expand_rank_1=True):
    """Adds or removes a trailing axis of 1 so that the ranks match (Keras'
    ``squeeze_or_expand_to_same_rank``): when one array has one more axis, of size 1, it loses
    it, unless the other is 1-D and ``expand_rank_1``, which then gains one."""
    if values.ndim == weights.ndim + 1 and values.shape[-1] == 1:
        if weights.ndim == 1 and expand_rank_1:
            return values, weights[:, None]
        return values[..., 0], weights
    if weights.ndim == values.ndim + 1 and weights.shape[-1] == 1:
        if values.ndim == 1 and expand_rank_1:
            return values[:, None], weights
        return values, weights[..., 0]
    return values, weights


def _predictions(y_pred):
    return np.asarray(y_pred, dtype=backend.floatx())


def _positions(y_pred):
    """How many per-sample losses a batch of class scores gives: one per position of all axes
    but the last (the batch size, for outputs of shape (batch, classes)); Keras averages over
    all of them."""
    return y_pred.size // y_pred.shape[-1]


def _picked(values, labels):
    """``values[..., label]`` for each label: shape ``labels.shape``."""
    return np.take_along_axis(values, labels[..., None], axis=-1)[..., 0]


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
        n = _positions(logits)
        # -sum(y * log_softmax(z)) and its gradient softmax(z) * sum(y) - y, in one pass
        loss, grad = softmax_cross_entropy(y_true, logits)
        return loss / n, grad / n

    def value_and_grad_probabilities(self, y_true, p):
        n = _positions(p)
        total = p.sum(axis=-1, keepdims=True)
        normalized, inside = _clipped(p / total)
        loss = -(y_true * np.log(normalized)).sum() / n
        g = -y_true / normalized * inside  # dLoss/d(normalized), zero where clipped
        # normalized = p / sum(p): d/dp_j = (g_j - sum_k g_k p_k / sum(p)) / sum(p)
        grad = (g - (g * p).sum(axis=-1, keepdims=True) / total) / total
        return float(loss), grad / n

    def per_sample_logits(self, y_true, logits):
        return -(y_true * _log_softmax(logits)).sum(axis=-1)

    def per_sample_probabilities(self, y_true, p):
        # Keras divides by the sum first, then clips.
        normalized, _ = _clipped(p / p.sum(axis=-1, keepdims=True))
        return -(y_true * np.log(normalized)).sum(axis=-1)


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
        n = _positions(p)
        clipped, inside = _clipped(p)
        total = clipped.sum(axis=-1, keepdims=True)
        picked = np.take_along_axis(clipped, labels[..., None], axis=-1)
        loss = (np.log(total) - np.log(picked)).sum() / n
        grad = (1 / total - self._one_hot(labels, p) / clipped) * inside
        return float(loss), grad / n

    def per_sample_logits(self, labels, logits):
        return -_picked(_log_softmax(logits), labels)

    def per_sample_probabilities(self, labels, p):
        clipped, _ = _clipped(p)
        return np.log(clipped.sum(axis=-1)) - np.log(_picked(clipped, labels))


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

    def per_sample_logits(self, y_true, z):
        return (np.maximum(z, 0) - z * y_true + np.log1p(np.exp(-np.abs(z)))).mean(axis=-1)

    def per_sample_probabilities(self, y_true, p):
        clipped, _ = _clipped(p)
        return -(y_true * np.log(clipped) + (1 - y_true) * np.log(1 - clipped)).mean(axis=-1)


def regression_pair(y_true, y_pred):
    """Targets and predictions as float arrays of the same rank (a trailing axis of 1 added or
    removed, as Keras' ``squeeze_or_expand_to_same_rank``), in ``backend.floatx()``."""
    y_pred = _predictions(y_pred)
    return same_rank(np.asarray(y_true).astype(y_pred.dtype, copy=False), y_pred)


class ElementwiseLoss(Loss):
    """A loss that is the mean, over the last axis and then the batch, of a term computed value
    by value. A subclass gives ``term(y_true, y_pred) -> (values, dvalues/dy_pred)``; the
    gradient of the batch's mean is then the slope divided by the number of values."""

    def prepare_targets(self, y_true, y_pred):
        y_true, _ = same_rank(np.asarray(y_true), y_pred)
        if y_true.shape != y_pred.shape:
            raise ValueError(
                f"{self.name} expects targets of the output's shape {y_pred.shape[1:]} per sample; "
                f"received targets of shape {np.shape(y_true)[1:]} per sample. Reshape the targets "
                f"to (samples, {', '.join(map(str, y_pred.shape[1:]))}), or give the last layer as "
                "many units as each target has values."
            )
        return y_true.astype(y_pred.dtype, copy=False)

    def term(self, y_true, y_pred):
        raise TypeError(f"{type(self).__name__} must define term(y_true, y_pred).")

    def per_sample(self, y_true, y_pred):
        return self.term(y_true, y_pred)[0].mean(axis=-1)

    def value_and_grad(self, y_true, y_pred):
        values, slope = self.term(y_true, y_pred)
        count = max(values.size, 1)
        return float(values.sum() / count), (slope / count).astype(y_pred.dtype, copy=False)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}


class MeanSquaredError(ElementwiseLoss):
    """``mean((y_true - y_pred)^2)`` over the last axis, then over the batch."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error"):
        super().__init__(name=name, reduction=reduction)

    def term(self, y_true, y_pred):
        diff = y_pred - y_true
        return diff * diff, 2 * diff


class MeanAbsoluteError(ElementwiseLoss):
    """``mean(|y_true - y_pred|)``."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error"):
        super().__init__(name=name, reduction=reduction)

    def term(self, y_true, y_pred):
        diff = y_pred - y_true
        return np.abs(diff), np.sign(diff)


class MeanAbsolutePercentageError(ElementwiseLoss):
    """``100 * mean(|y_true - y_pred| / max(|y_true|, epsilon))``."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error"):
        super().__init__(name=name, reduction=reduction)

    def term(self, y_true, y_pred):
        diff = y_pred - y_true
        scale = 100 / np.maximum(np.abs(y_true), backend.epsilon())
        return np.abs(diff) * scale, np.sign(diff) * scale


class MeanSquaredLogarithmicError(ElementwiseLoss):
    """``mean((log(1 + max(y_pred, eps)) - log(1 + max(y_true, eps)))^2)``."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error"):
        super().__init__(name=name, reduction=reduction)

    def term(self, y_true, y_pred):
        eps = backend.epsilon()
        kept = np.maximum(y_pred, eps)
        diff = np.log1p(kept) - np.log1p(np.maximum(y_true, eps))
        return diff * diff, 2 * diff / (1 + kept) * (y_pred > eps)


class Huber(ElementwiseLoss):
    """``0.5 * e^2`` where ``|e| <= delta``, else ``delta * |e| - 0.5 * delta^2``, for the error
    ``e = y_pred - y_true``: quadratic near the target, linear far from it.

    Args:
        delta: where the loss turns from quadratic to linear.
    """

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss"):
        super().__init__(name=name, reduction=reduction)
        self.delta = float(delta)

    def term(self, y_true, y_pred):
        error = y_pred - y_true
        size = np.abs(error)
        near = size <= self.delta
        values = np.where(near, 0.5 * error * error, self.delta * size - 0.5 * self.delta ** 2)
        return values, np.where(near, error, self.delta * np.sign(error))

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


class LogCosh(ElementwiseLoss):
    """``mean(log(cosh(y_pred - y_true)))``, computed without overflow as
    ``x + softplus(-2x) - log(2)``; its slope is ``tanh(x)``."""

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh"):
        super().__init__(name=name, reduction=reduction)

    def term(self, y_true, y_pred):
        x = y_pred - y_true
        return (x + np.logaddexp(0, -2 * x) - np.log(2)).astype(y_pred.dtype, copy=False), np.tanh(x)


class Poisson(ElementwiseLoss):
    """``mean(y_pred - y_true * log(y_pred + epsilon))``, for counts predicted as rates."""

    def __init__(self, reduction="sum_over_batch_size", name="poisson"):
        super().__init__(name=name, reduction=reduction)

    def term(self, y_true, y_pred):
        shifted = y_pred + backend.epsilon()
        return y_pred - y_true * np.log(shifted), 1 - y_true / shifted


def hinge_labels(y_true):
    """Targets for the hinge losses: labels that are all 0 or 1 become -1 or 1 (as Keras
    converts them); other targets are taken as they are."""
    if np.all((y_true == 0) | (y_true == 1)):
        return 2 * y_true - 1
    return y_true


class Hinge(ElementwiseLoss):
    """``mean(max(1 - y_true * y_pred, 0))`` for targets of -1 or 1 (0/1 labels converted)."""

    def __init__(self, reduction="sum_over_batch_size", name="hinge"):
        super().__init__(name=name, reduction=reduction)

    def term(self, y_true, y_pred):
        y_true = hinge_labels(y_true)
        margin = np.maximum(1 - y_true * y_pred, 0)
        return margin, -y_true * (margin > 0)


class SquaredHinge(ElementwiseLoss):
    """``mean(max(1 - y_true * y_pred, 0)^2)`` for targets of -1 or 1 (0/1 labels converted)."""

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge"):
        super().__init__(name=name, reduction=reduction)

    def term(self, y_true, y_pred):
        y_true = hinge_labels(y_true)
        margin = np.maximum(1 - y_true * y_pred, 0)
        return margin * margin, -2 * y_true * margin


class SampleLoss(ElementwiseLoss):
    """A loss whose value for a sample reads all of its last axis at once: a subclass gives
    ``sample_term(y_true, y_pred) -> (values of shape y_pred.shape[:-1], dvalues/dy_pred)``; the
    batch's loss is their mean."""

    def per_sample(self, y_true, y_pred):
        return self.sample_term(y_true, y_pred)[0]

    def value_and_grad(self, y_true, y_pred):
        values, slope = self.sample_term(y_true, y_pred)
        count = max(values.size, 1)
        return float(values.sum() / count), (slope / count).astype(y_pred.dtype, copy=False)


class KLDivergence(SampleLoss):
    """``sum(y_true * log(y_true / y_pred))`` over the last axis, both clipped to [epsilon, 1]."""

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence"):
        super().__init__(name=name, reduction=reduction)

    def sample_term(self, y_true, y_pred):
        eps = backend.epsilon()
        y_true = np.clip(y_true, eps, 1)
        kept = np.clip(y_pred, eps, 1)
        values = (y_true * np.log(y_true / kept)).sum(axis=-1)
        return values, -y_true / kept * ((y_pred >= eps) & (y_pred <= 1))


class CategoricalHinge(SampleLoss):
    """``max(neg - pos + 1, 0)`` with ``pos = sum(y_true * y_pred)``, the score of the target
    class, and ``neg = max((1 - y_true) * y_pred)``, the best score of another."""

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge"):
        super().__init__(name=name, reduction=reduction)

    def sample_term(self, y_true, y_pred):
        others = (1 - y_true) * y_pred
        best = others.argmax(axis=-1)[..., None]
        pos = (y_true * y_pred).sum(axis=-1)
        values = np.maximum(np.take_along_axis(others, best, axis=-1)[..., 0] - pos + 1, 0)
        slope = -y_true
        np.put_along_axis(slope, best, np.take_along_axis(slope, best, axis=-1) + np.take_along_axis(1 - y_true, best, axis=-1), axis=-1)
        return values, slope * (values > 0)[..., None]


def unit_vectors(x, axis=-1):
    """``x`` divided by its L2 norm along ``axis`` (the squared norm kept from below at
    epsilon^2, as Keras' ``normalize``), and the inverse norms, with that axis kept."""
    squares = np.sum(x * x, axis=axis, keepdims=True)
    inverse = 1 / np.sqrt(np.maximum(squares, backend.epsilon() ** 2))
    return x * inverse, inverse, squares > backend.epsilon() ** 2


class CosineSimilarity(SampleLoss):
    """``-sum(unit(y_true) * unit(y_pred))`` along ``axis``: -1 when prediction and target point
    the same way, 0 when orthogonal (or when either is zero).

    Args:
        axis: the axis of the vectors compared.
    """

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity"):
        super().__init__(name=name, reduction=reduction)
        self.axis = axis

    def sample_term(self, y_true, y_pred):
        axis = _check_axis(self.axis, y_pred, "cosine_similarity")
        target, _, _ = unit_vectors(y_true, axis)
        direction, inverse, scaled = unit_vectors(y_pred, axis)
        along = np.sum(target * direction, axis=axis, keepdims=True)
        # d(-t . p r)/dp with r = 1/|p|: -(t r) + (t . p) r^3 p, the second term only where the
        # norm is above its floor
        slope = -target * inverse + along * inverse * direction * scaled
        return -np.squeeze(along, axis), slope

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class FocalLoss(LossFunctionWrapper):
    """What the two focal losses share: a function of ``focal_settings`` written with keras.ops
    (so their gradients come from the ops'), and Keras' config of those settings."""

    focal_settings = ()

    def __init__(self, fn, name, reduction, **settings):
        super().__init__(functools.partial(fn, **settings), name=name, reduction=reduction)
        for key, value in settings.items():
            setattr(self, key, value)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, **{k: getattr(self, k) for k in self.focal_settings}}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)!r}' for k in self.focal_settings)})"


class BinaryFocalCrossentropy(FocalLoss):
    """Binary cross-entropy scaled by ``(1 - p_t)^gamma`` (Lin et al., 2017), ``p_t`` the
    probability given to the true label: easy examples weigh less. See
    :func:`binary_focal_crossentropy` for the arguments (Keras' defaults and order)."""

    focal_settings = ("apply_class_balancing", "alpha", "gamma", "from_logits", "label_smoothing", "axis")

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                 axis=-1, reduction="sum_over_batch_size", name="binary_focal_crossentropy"):
        super().__init__(binary_focal_crossentropy, name, reduction, apply_class_balancing=apply_class_balancing,
                         alpha=alpha, gamma=gamma, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class CategoricalFocalCrossentropy(FocalLoss):
    """Categorical cross-entropy of each class scaled by ``alpha (1 - p)^gamma``. See
    :func:`categorical_focal_crossentropy` for the arguments (Keras' defaults and order)."""

    focal_settings = ("alpha", "gamma", "from_logits", "label_smoothing", "axis")

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy"):
        super().__init__(categorical_focal_crossentropy, name, reduction, alpha=alpha, gamma=gamma,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                              label_smoothing=0.0, axis=-1):
    """Binary focal cross-entropy of each sample, as Keras computes it, on keras.ops (so that it
    also serves as a loss with its gradient from the ops'):

        p = sigmoid(y_pred) with from_logits, else y_pred, clipped to [epsilon, 1 - epsilon]
        bce = -(y log p + (1 - y) log(1 - p))        p_t = y p + (1 - y)(1 - p)
        loss = mean over ``axis`` of (1 - p_t)^gamma bce, times ``alpha y + (1 - alpha)(1 - y)``
        with apply_class_balancing

    Args:
        y_true: targets in [0, 1]. y_pred: probabilities, or logits with from_logits.
        apply_class_balancing: weigh the positive class by alpha, the negative by 1 - alpha.
        alpha: the class weight (0.25). gamma: the focusing exponent (2.0; 0 gives binary
            cross-entropy).
        label_smoothing: targets become ``y (1 - label_smoothing) + 0.5 label_smoothing``.
        axis: the axis averaged over.
    """
    from tinykeras import ops

    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        y_pred = ops.sigmoid(y_pred)
    eps = backend.epsilon()
    clipped = ops.clip(y_pred, eps, 1.0 - eps)
    bce = -(y_true * ops.log(clipped) + (1.0 - y_true) * ops.log(1.0 - clipped))
    p_t = y_true * y_pred + (1.0 - y_true) * (1.0 - y_pred)
    focal = ops.power(1.0 - p_t, gamma) * bce
    if apply_class_balancing:
        focal = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal
    return ops.mean(focal, axis=axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                                   axis=-1):
    """Categorical focal cross-entropy of each sample, as Keras computes it, on keras.ops:

        p = softmax(y_pred) with from_logits, else y_pred; q = p / sum(p), clipped to
        [epsilon, 1 - epsilon]; loss = sum over ``axis`` of -alpha (1 - q)^gamma y log q

    Args:
        y_true: one-hot (or soft) targets. y_pred: probabilities, or logits with from_logits.
        alpha: the weight (0.25). gamma: the focusing exponent (2.0).
        label_smoothing: targets become ``y (1 - label_smoothing) + label_smoothing / classes``.
        axis: the class axis.
    """
    from tinykeras import ops

    if isinstance(axis, bool) or not isinstance(axis, int):
        raise ValueError(f"`axis` must be of type `int`. Received: axis={axis!r} of type {type(axis)}")
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(y_true, y_pred.dtype)
    if y_pred.shape[axis] == 1:
        warnings.warn(
            "In loss categorical_focal_crossentropy, expected y_pred.shape to be (batch_size, num_classes) with "
            f"num_classes > 1. Received: y_pred.shape={tuple(y_pred.shape)}. Consider using 'binary_crossentropy' "
            "if you only have 2 classes.", SyntaxWarning, stacklevel=2)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[axis]
    if from_logits:
        y_pred = ops.softmax(y_pred, axis=axis)
    eps = backend.epsilon()
    output = ops.clip(y_pred / ops.sum(y_pred, axis=axis, keepdims=True), eps, 1.0 - eps)
    focal = alpha * ops.power(1.0 - output, gamma) * (-y_true * ops.log(output))
    return ops.sum(focal, axis=axis)


def _snake(name):
    return backend.snake_case(name)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Categorical cross-entropy of each sample: ``-sum(y_true * log(y_pred))`` over ``axis``.

    Args:
        y_true: one-hot (or soft) targets, of ``y_pred``'s shape.
        y_pred: probabilities (each sample's are divided by their sum, then clipped to
            [epsilon, 1 - epsilon]), or logits with ``from_logits=True``.
        from_logits: whether ``y_pred`` holds logits.
        label_smoothing: in [0, 1]: targets become ``y_true * (1 - label_smoothing) +
            label_smoothing / num_classes``.
        axis: the class axis.

    Returns:
        An array of ``y_pred``'s shape without ``axis``: (batch,) for (batch, classes).
    """
    loss = CategoricalCrossentropy(from_logits)
    y_pred = _predictions(y_pred)
    y_true = loss.prepare_targets(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1 - label_smoothing) + label_smoothing / y_true.shape[-1]
    axis = _check_axis(axis, y_pred, "categorical_crossentropy")
    return loss.per_sample(np.moveaxis(y_true, axis, -1), np.moveaxis(y_pred, axis, -1))


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Categorical cross-entropy of each sample, with integer class labels as targets.

    Args:
        y_true: integer labels, of shape ``y_pred.shape[:-1]`` (or with a trailing axis of 1).
        y_pred: probabilities (clipped to [epsilon, 1 - epsilon]; the loss is ``-log`` of the
            label's share of their sum), or logits with ``from_logits=True``.
        from_logits: whether ``y_pred`` holds logits.
        ignore_class: a label (such as -1 or 255) whose samples get a loss of 0.
        axis: the class axis; only the last one, as in Keras on TensorFlow.

    Returns:
        An array of shape ``y_pred.shape[:-1]``: (batch,) for (batch, classes).
    """
    loss = SparseCategoricalCrossentropy(from_logits)
    y_pred = _predictions(y_pred)
    if _check_axis(axis, y_pred, "sparse_categorical_crossentropy") != y_pred.ndim - 1:
        raise ValueError(
            f"sparse_categorical_crossentropy: only axis=-1 (the class axis last) is supported, "
            f"as in Keras on TensorFlow. Received: axis={axis} for y_pred of shape "
            f"{y_pred.shape}. Move the class axis last with np.moveaxis(y_pred, {axis}, -1)."
        )
    ignored = None
    if ignore_class is not None:
        y_true = np.asarray(y_true)
        ignored = y_true == ignore_class
        y_true = np.where(ignored, 0, y_true)
    labels = loss.prepare_targets(y_true, y_pred)
    values = loss.per_sample(labels, y_pred)
    if ignored is not None:
        values = np.where(ignored.reshape(np.shape(values)), values.dtype.type(0), values)
    return values


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Binary cross-entropy of each sample: ``-(y log p + (1 - y) log(1 - p))`` averaged over
    ``axis``.

    Args:
        y_true: targets in [0, 1], of ``y_pred``'s shape (or one per sample for one output).
        y_pred: probabilities (clipped to [epsilon, 1 - epsilon]), or logits with
            ``from_logits=True``.
        from_logits: whether ``y_pred`` holds logits.
        label_smoothing: in [0, 1]: targets become ``y_true * (1 - label_smoothing) + 0.5 *
            label_smoothing``.
        axis: the axis averaged over.

    Returns:
        An array of ``y_pred``'s shape without ``axis``: (batch,) for (batch, outputs).
    """
    loss = BinaryCrossentropy(from_logits)
    y_pred = _predictions(y_pred)
    y_true = loss.prepare_targets(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1 - label_smoothing) + 0.5 * label_smoothing
    axis = _check_axis(axis, y_pred, "binary_crossentropy")
    return loss.per_sample(np.moveaxis(y_true, axis, -1), np.moveaxis(y_pred, axis, -1))


def mean_squared_error(y_true, y_pred):
    """Mean squared error of each sample: ``mean((y_true - y_pred) ** 2)`` over the last axis.

    Returns:
        An array of shape ``y_pred.shape[:-1]``: (batch,) for (batch, outputs).
    """
    return _per_sample(MeanSquaredError(), y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    """``mean(|y_true - y_pred|)`` over the last axis, one value per sample."""
    return _per_sample(MeanAbsoluteError(), y_true, y_pred)


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(|y_true - y_pred| / max(|y_true|, epsilon))`` over the last axis."""
    return _per_sample(MeanAbsolutePercentageError(), y_true, y_pred)


def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean((log(1 + max(y_pred, eps)) - log(1 + max(y_true, eps)))**2)`` over the last axis."""
    return _per_sample(MeanSquaredLogarithmicError(), y_true, y_pred)


def huber(y_true, y_pred, delta=1.0):
    """The Huber loss of each sample (see :class:`Huber`)."""
    return _per_sample(Huber(delta), y_true, y_pred)


def log_cosh(y_true, y_pred):
    """``mean(log(cosh(y_pred - y_true)))`` over the last axis."""
    return _per_sample(LogCosh(), y_true, y_pred)


def poisson(y_true, y_pred):
    """``mean(y_pred - y_true * log(y_pred + epsilon))`` over the last axis."""
    return _per_sample(Poisson(), y_true, y_pred)


def hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0))`` over the last axis (0/1 labels taken as -1/1)."""
    return _per_sample(Hinge(), y_true, y_pred)


def squared_hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0)^2)`` over the last axis (0/1 labels taken as -1/1)."""
    return _per_sample(SquaredHinge(), y_true, y_pred)


def categorical_hinge(y_true, y_pred):
    """``max(neg - pos + 1, 0)`` per sample (see :class:`CategoricalHinge`)."""
    return _per_sample(CategoricalHinge(), y_true, y_pred)


def kl_divergence(y_true, y_pred):
    """``sum(y_true * log(y_true / y_pred))`` over the last axis, both clipped to [eps, 1]."""
    return _per_sample(KLDivergence(), y_true, y_pred)


def cosine_similarity(y_true, y_pred, axis=-1):
    """``-sum(unit(y_true) * unit(y_pred))`` along ``axis``, one value per sample."""
    return _per_sample(CosineSimilarity(axis), y_true, y_pred)


def _per_sample(loss, y_true, y_pred):
    """A regression loss's values for targets and predictions of any float type (targets of one
    axis fewer, or more, of size 1, matched as Keras matches them)."""
    y_true, y_pred = regression_pair(y_true, y_pred)
    return loss.per_sample(np.broadcast_to(y_true, np.broadcast_shapes(y_true.shape, y_pred.shape)), y_pred)


def _check_axis(axis, y_pred, name):
    """``axis`` as a non-negative index into y_pred's axes, or a ValueError naming it."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise ValueError(
            f"{name}: `axis` must be an int. Received: axis={axis!r} of type {type(axis).__name__}"
        )
    if not -y_pred.ndim <= axis < y_pred.ndim:
        raise ValueError(
            f"{name}: axis={axis} is out of range for y_pred of shape {y_pred.shape} "
            f"({y_pred.ndim} axes). Pass axis=-1 for the last axis."
        )
    return int(axis) % y_pred.ndim


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh

_LOSSES = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "huber": Huber,
    "log_cosh": LogCosh,
    "poisson": Poisson,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge,
    "kl_divergence": KLDivergence,
    "cosine_similarity": CosineSimilarity,
    "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
}
_ALIASES = {
    "mse": "mean_squared_error", "mae": "mean_absolute_error", "mape": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error", "kld": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence", "logcosh": "log_cosh", "huber_loss": "huber",
    "bce": "binary_crossentropy",
}
_FUNCTIONS = {
    categorical_crossentropy: "categorical_crossentropy",
    sparse_categorical_crossentropy: "sparse_categorical_crossentropy",
    binary_crossentropy: "binary_crossentropy",
    mean_squared_error: "mean_squared_error",
    mean_absolute_error: "mean_absolute_error",
    mean_absolute_percentage_error: "mean_absolute_percentage_error",
    mean_squared_logarithmic_error: "mean_squared_logarithmic_error",
    huber: "huber",
    log_cosh: "log_cosh",
    poisson: "poisson",
    hinge: "hinge",
    squared_hinge: "squared_hinge",
    categorical_hinge: "categorical_hinge",
    kl_divergence: "kl_divergence",
    cosine_similarity: "cosine_similarity",
    binary_focal_crossentropy: "binary_focal_crossentropy",
    categorical_focal_crossentropy: "categorical_focal_crossentropy",
}
#: Each class by its name ('MeanAbsoluteError', and Keras' 'LogCosh', 'KLDivergence').
_CLASSES = {cls.__name__: cls for cls in set(_LOSSES.values())}


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
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        name = identifier.lower() if identifier.isupper() else identifier
        name = backend.snake_case(name) if name[:1].isupper() else name
        return lookup("loss", name, _LOSSES, _ALIASES)()
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise TypeError(
        f"Could not interpret loss {identifier!r}: pass a name such as "
        "'categorical_crossentropy' or a loss object from tinykeras.losses."
    )


from tinykeras._missing import attribute_error_for  # noqa: E402

__getattr__ = attribute_error_for(__name__)
