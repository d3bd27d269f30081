"""Metrics from the confusion counts: true and false positives and negatives at thresholds
(Precision, Recall, AUC, the counts themselves) and the F-scores.

A prediction is positive at threshold t when it is greater than t; a target is positive when
it is not 0. Each count adds the weights of its samples (1 each without ``sample_weight``).
"""
import numpy as np

from tinykeras import backend
from tinykeras.losses import same_rank
from tinykeras.metrics.metric import Metric, as_array

#: The threshold below every prediction: with ``top_k``, what remains of a row is positive.
NEG_INF = -1e10
COUNTS = ("true_positives", "false_positives", "true_negatives", "false_negatives")


def _thresholds(thresholds, default):
    """A list of thresholds, each checked to be in [0, 1]."""
    values = [default] if thresholds is None else list(np.ravel(thresholds).tolist())
    if thresholds is not None and not all(0 <= t <= 1 for t in values):
        raise ValueError(f"Threshold values must be in [0, 1]. Received: thresholds={thresholds!r}")
    return values


def _evenly_spaced(thresholds):
    """Whether thresholds are 0, 1/(n-1), ..., 1 (n >= 3), where predictions are clipped to [0, 1]."""
    count = len(thresholds)
    return count >= 3 and np.allclose(thresholds, np.arange(count) / (count - 1), atol=backend.epsilon())


def _top_k_only(y_pred, k):
    """``y_pred`` with all but the k largest values of each row set to NEG_INF."""
    order = np.argsort(-y_pred, axis=-1, kind="stable")[..., :k]
    kept = np.zeros(y_pred.shape, bool)
    np.put_along_axis(kept, order, True, axis=-1)
    return np.where(kept, y_pred, NEG_INF).astype(y_pred.dtype)


def confusion_counts(y_true, y_pred, thresholds, sample_weight=None, top_k=None, class_id=None,
                     multi_label=False, label_weights=None, clip=False):
    """The weighted confusion counts of a batch at each threshold.

    Args:
        y_true, y_pred: targets and predictions of the same shape (or one with a trailing axis
            of 1 more).
        thresholds: the thresholds (a list).
        sample_weight: None, or weights broadcasting against the samples.
        top_k: count only the ``top_k`` largest predictions of each row as positive.
        class_id: count only this column.
        multi_label: counts per label (the last axis) instead of over all values.
        label_weights: weights per label (without ``multi_label``).
        clip: clip predictions to [0, 1] first.

    Returns:
        A dict by name in :data:`COUNTS`, each an array of shape (thresholds,), or
        (thresholds, labels) with ``multi_label``.
    """
    dtype = backend.floatx()
    y_pred = as_array(y_pred, dtype)
    y_pred, y_true = same_rank(y_pred, as_array(y_true, dtype))
    weights = None
    if sample_weight is not None:
        weights = as_array(sample_weight, dtype)[..., None]
        _, weights = same_rank(y_true, weights, expand_rank_1=False)
    if top_k is not None:
        y_pred = _top_k_only(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ValueError(
                f"class_id={class_id} needs predictions of shape (samples, classes); received "
                f"shape {y_pred.shape}."
            )
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
    if clip:
        y_pred = np.clip(y_pred, 0.0, 1.0)
    weights = np.ones(y_pred.shape, dtype) if weights is None else np.broadcast_to(weights, y_pred.shape)
    if label_weights is not None and not multi_label:
        weights = weights * np.broadcast_to(np.asarray(label_weights, dtype), y_pred.shape)
    positive = y_true != 0
    if not multi_label:
        y_pred, positive, weights = y_pred.reshape(-1), positive.reshape(-1), weights.reshape(-1)
    thresholds = np.asarray(thresholds, dtype).reshape((-1,) + (1,) * y_pred.ndim)
    predicted = y_pred[None] > thresholds
    hit, miss = positive[None] & predicted, ~positive[None] & predicted
    total_positive = np.sum(weights * positive, axis=0)
    total_negative = np.sum(weights * ~positive, axis=0)
    tp = np.sum(np.where(hit, weights, 0), axis=1, dtype=dtype)
    fp = np.sum(np.where(miss, weights, 0), axis=1, dtype=dtype)
    return {"true_positives": tp, "false_positives": fp,
            "true_negatives": total_negative - fp, "false_negatives": total_positive - tp}


def _ratio(numerator, denominator):
    """numerator / denominator, 0 where the denominator is 0 (Keras' divide_no_nan)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator == 0, 0, numerator / np.where(denominator == 0, 1, denominator)).astype(
            numerator.dtype)


class _ConfusionMetric(Metric):
    """A metric whose state is some of the confusion counts at its thresholds."""

    counts = COUNTS

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        self.thresholds = _thresholds(thresholds, 0.5 if top_k is None else NEG_INF)
        for count in self.counts:
            setattr(self, count, self.add_variable((len(self.thresholds),), "zeros", name=count))

    def update_state(self, y_true, y_pred, sample_weight=None):
        counts = confusion_counts(y_true, y_pred, self.thresholds, sample_weight, self.top_k, self.class_id,
                                  clip=_evenly_spaced(self.thresholds))
        for count in self.counts:
            getattr(self, count).value += counts[count]

    def _per_threshold(self, values):
        return values[0] if len(self.thresholds) == 1 else values

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_ConfusionMetric):
    """true positives / predicted positives, at each threshold (default 0.5: one value).

    Args:
        thresholds: a threshold or a list of them (a list of results then).
        top_k: count only the k highest predictions of each row as positive.
        class_id: the column to compute it for.
    """

    counts = ("true_positives", "false_positives")

    def result(self):
        tp = self.true_positives.value
        return self._per_threshold(_ratio(tp, tp + self.false_positives.value))


class Recall(_ConfusionMetric):
    """true positives / actual positives, at each threshold (default 0.5: one value)."""

    counts = ("true_positives", "false_negatives")

    def result(self):
        tp = self.true_positives.value
        return self._per_threshold(_ratio(tp, tp + self.false_negatives.value))


class _Count(_ConfusionMetric):
    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(thresholds=thresholds, name=name, dtype=dtype)

    def result(self):
        return self._per_threshold(getattr(self, self.counts[0]).value.copy())

    def get_config(self):
        return {**Metric.get_config(self), "thresholds": self.init_thresholds}


class TruePositives(_Count):
    """The (weighted) number of true positives at each threshold."""

    counts = ("true_positives",)


class FalsePositives(_Count):
    """The (weighted) number of false positives at each threshold."""

    counts = ("false_positives",)


class TrueNegatives(_Count):
    """The (weighted) number of true negatives at each threshold."""

    counts = ("true_negatives",)


class FalseNegatives(_Count):
    """The (weighted) number of false negatives at each threshold."""

    counts = ("false_negatives",)


_CURVES = {"roc": "ROC", "pr": "PR"}
_SUMMATIONS = ("interpolation", "majoring", "minoring")


class AUC(Metric):
    """The area under the ROC or precision-recall curve, by a Riemann sum over thresholds.

    Args:
        num_thresholds: how many thresholds, evenly spaced over [0, 1] (the ends just outside).
        curve: 'ROC' or 'PR'.
        summation_method: 'interpolation' (trapezoids; for PR, the interpolation of Davis and
            Goadrich, 2006), 'majoring' or 'minoring' (the larger or smaller end of each step).
        thresholds: explicit thresholds in [0, 1] instead of ``num_thresholds``.
        multi_label: one curve per label (the last axis), averaged (weighted by
            ``label_weights``); otherwise all values form one curve.
        num_labels: the number of labels with ``multi_label`` (else found from the first batch).
        label_weights: a weight per label.
        from_logits: apply the sigmoid to the predictions first.
    """

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        if str(curve).lower() not in _CURVES:
            raise ValueError(f'Invalid AUC curve value: "{curve}". Expected values are ["PR", "ROC"].')
        if str(summation_method).lower() not in _SUMMATIONS:
            raise ValueError(
                f'Invalid AUC summation method value: "{summation_method}". Expected values are '
                '["interpolation", "majoring", "minoring"].'
            )
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(_thresholds(thresholds, None))
            self.num_thresholds = len(inner) + 2
            self._evenly = _evenly_spaced([0.0, *inner, 1.0])
        else:
            if num_thresholds <= 1:
                raise ValueError(f"Argument `num_thresholds` must be an integer > 1. Received: num_thresholds={num_thresholds}")
            self.num_thresholds = num_thresholds
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        self._thresholds = [0.0 - backend.epsilon(), *inner, 1.0 + backend.epsilon()]
        self.curve = _CURVES[str(curve).lower()]
        self.summation_method = str(summation_method).lower()
        super().__init__(name=name, dtype=dtype)
        if num_labels and not multi_label:
            raise ValueError("`num_labels` is needed only when `multi_label` is True.")
        self.multi_label = multi_label
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights, self.dtype)
        self._from_logits = from_logits
        self._built = False
        if not multi_label or num_labels:
            self._build(num_labels)

    @property
    def thresholds(self):
        return list(self._thresholds)

    def _build(self, labels):
        shape = (self.num_thresholds, labels) if self.multi_label else (self.num_thresholds,)
        for count in COUNTS:
            setattr(self, count, self.add_variable(shape, "zeros", name=count))
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = as_array(y_pred, self.dtype)
        if not self._built:
            if y_pred.ndim != 2:
                raise ValueError(f"AUC(multi_label=True) needs y_pred of rank 2; received shape {y_pred.shape}.")
            self._build(y_pred.shape[1])
        if self._from_logits:
            y_pred = 1.0 / (1.0 + np.exp(-y_pred))
        counts = confusion_counts(y_true, y_pred, self._thresholds, sample_weight, multi_label=self.multi_label,
                                  label_weights=None if self.multi_label else self.label_weights,
                                  clip=self._evenly)
        for count in COUNTS:
            getattr(self, count).value += counts[count]

    def _averaged(self, terms):
        """The area: the terms summed over thresholds, then averaged over labels."""
        if not self.multi_label:
            return terms.sum(dtype=self.dtype)
        by_label = terms.sum(axis=0)
        if self.label_weights is None:
            return by_label.mean(dtype=self.dtype)
        return _ratio(np.sum(by_label * self.label_weights), np.sum(self.label_weights))

    def _interpolated_pr(self):
        """Davis and Goadrich's interpolation of precision between thresholds: between two
        thresholds precision varies as tp / (tp + fp) with tp linear in the predicted positives
        p, which integrates to slope * (dtp + intercept * log(p0 / p1)) / positives."""
        tp, fp, fn = self.true_positives.value, self.false_positives.value, self.false_negatives.value
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _ratio(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        p_ratio = np.where(both, _ratio(p[:-1], np.maximum(p[1:], 0)), 1.0)
        with np.errstate(divide="ignore"):
            logs = np.log(np.where(p_ratio > 0, p_ratio, 1.0))
        increments = _ratio(slope * (dtp + intercept * logs), np.maximum(tp[1:] + fn[1:], 0))
        return self._averaged(increments)

    def result(self):
        if not self._built:
            return np.zeros((), self.dtype)[()]
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolated_pr()
        tp, fp, tn, fn = (getattr(self, c).value for c in COUNTS)
        recall = _ratio(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _ratio(fp, fp + tn), recall
        else:
            x, y = recall, _ratio(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._averaged((x[:-1] - x[1:]) * heights)

    def reset_state(self):
        if self._built:
            super().reset_state()

    def get_config(self):
        config = {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
            "from_logits": self._from_logits,
        }
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config


class FBetaScore(Metric):
    """The F-beta score, (1 + beta**2) * precision * recall / (beta**2 * precision + recall),
    per class (``average=None``) or averaged: 'micro' (from the counts over all classes),
    'macro' (the mean over classes), 'weighted' (weighted by each class' number of targets).

    Args:
        average: None, 'micro', 'macro' or 'weighted'.
        beta: the weight of recall (a float > 0).
        threshold: predictions above it are positive; None: the largest of each row.
    """

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(
                "Invalid `average` argument value. Expected one of: {None, 'micro', 'macro', "
                f"'weighted'}}. Received: average={average!r}"
            )
        if not isinstance(beta, float) or beta <= 0.0:
            raise ValueError(f"Invalid `beta` argument value: it must be a Python float > 0. Received: beta={beta!r}")
        if threshold is not None and (not isinstance(threshold, float) or not 0.0 < threshold <= 1.0):
            raise ValueError(
                "Invalid `threshold` argument value: it must be a Python float with 0 < threshold <= 1. "
                f"Received: threshold={threshold!r}"
            )
        self.average = average
        self.beta = beta
        self.threshold = threshold
        self.axis = None if average == "micro" else 0
        self._built = False

    def _build(self, y_true, y_pred):
        if y_pred.ndim != 2 or y_true.ndim != 2:
            raise ValueError(
                f"{type(self).__name__} expects 2D inputs with shape (batch_size, output_dim). Received input "
                f"shapes: y_pred.shape={y_pred.shape} and y_true.shape={y_true.shape}."
            )
        shape = () if self.average == "micro" else (y_pred.shape[-1],)
        for name in ("true_positives", "false_positives", "false_negatives", "intermediate_weights"):
            setattr(self, name, self.add_variable(shape, "zeros", name=name))
        self._built = True

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = as_array(y_true, self.dtype), as_array(y_pred, self.dtype)
        if not self._built:
            self._build(y_true, y_pred)
        if self.threshold is None:
            predicted = (y_pred >= y_pred.max(axis=-1, keepdims=True)) & (np.abs(y_pred) > 1e-9)
        else:
            predicted = y_pred > self.threshold
        predicted = predicted.astype(self.dtype)
        weights = 1.0
        if sample_weight is not None:
            weights = as_array(sample_weight, self.dtype)
            weights = weights.reshape(weights.shape + (1,) * (y_true.ndim - weights.ndim))

        def add(variable, values):
            variable.value += np.sum(values * weights, axis=self.axis, dtype=self.dtype)

        add(self.true_positives, predicted * y_true)
        add(self.false_positives, predicted * (1 - y_true))
        add(self.false_negatives, (1 - predicted) * y_true)
        add(self.intermediate_weights, y_true)

    def result(self):
        if not self._built:
            return np.zeros((), self.dtype)[()]
        eps = backend.epsilon()
        tp = self.true_positives.value
        precision = tp / (tp + self.false_positives.value + eps)
        recall = tp / (tp + self.false_negatives.value + eps)
        beta2 = self.beta**2
        score = (1 + beta2) * (precision * recall / (beta2 * precision + recall + eps))
        if self.average == "weighted":
            weights = self.intermediate_weights.value
            return np.sum(score * (weights / (weights.sum() + eps)), dtype=self.dtype)
        if self.average is not None:
            return np.mean(score, dtype=self.dtype)
        return score.astype(self.dtype)

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """The F1 score: FBetaScore with beta = 1, 2 * precision * recall / (precision + recall)."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config
