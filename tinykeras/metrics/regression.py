"""Regression and probabilistic metrics: per-sample errors (the mean over the last axis) and
their running means."""
import warnings

import numpy as np

from tinykeras import backend, losses
from tinykeras.metrics.metric import Mean, MeanMetricWrapper, Metric, as_array


_pair = losses.regression_pair
mean_squared_error = losses.mean_squared_error
mean_absolute_error = losses.mean_absolute_error
mean_absolute_percentage_error = losses.mean_absolute_percentage_error
mean_squared_logarithmic_error = losses.mean_squared_logarithmic_error
log_cosh = losses.log_cosh
hinge = losses.hinge
squared_hinge = losses.squared_hinge
categorical_hinge = losses.categorical_hinge
kl_divergence = losses.kl_divergence
poisson = losses.poisson


def cosine_similarity(y_true, y_pred, axis=-1):
    """The cosine of the angle between target and prediction along ``axis`` (the loss of that
    name is its negative)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return np.sum(losses.unit_vectors(y_true, axis)[0] * losses.unit_vectors(y_pred, axis)[0], axis=axis)


class MeanSquaredError(MeanMetricWrapper):
    """The mean of (y_true - y_pred)**2."""

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """The mean of |y_true - y_pred|."""

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name=name, dtype=dtype)


class MeanAbsolutePercentageError(MeanMetricWrapper):
    """The mean of 100 * |y_true - y_pred| / |y_true|."""

    def __init__(self, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(mean_absolute_percentage_error, name=name, dtype=dtype)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """The mean of (log(1 + y_pred) - log(1 + y_true))**2."""

    def __init__(self, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(mean_squared_logarithmic_error, name=name, dtype=dtype)


class LogCoshError(MeanMetricWrapper):
    """The mean of log(cosh(y_pred - y_true))."""

    def __init__(self, name="logcosh", dtype=None):
        super().__init__(log_cosh, name=name, dtype=dtype)


class CosineSimilarity(MeanMetricWrapper):
    """The mean cosine similarity of targets and predictions along ``axis``."""

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(cosine_similarity, name=name, dtype=dtype, axis=axis)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class Hinge(MeanMetricWrapper):
    """The mean hinge loss, max(1 - y_true * y_pred, 0) (0/1 labels taken as -1/1)."""

    def __init__(self, name="hinge", dtype=None):
        super().__init__(hinge, name=name, dtype=dtype)


class SquaredHinge(MeanMetricWrapper):
    """The mean squared hinge loss, max(1 - y_true * y_pred, 0)**2."""

    def __init__(self, name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, name=name, dtype=dtype)


class CategoricalHinge(MeanMetricWrapper):
    """The mean categorical hinge loss."""

    def __init__(self, name="categorical_hinge", dtype=None):
        super().__init__(categorical_hinge, name=name, dtype=dtype)


class KLDivergence(MeanMetricWrapper):
    """The mean Kullback-Leibler divergence of the predictions from the targets."""

    def __init__(self, name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, name=name, dtype=dtype)


class Poisson(MeanMetricWrapper):
    """The mean Poisson loss, y_pred - y_true * log(y_pred)."""

    def __init__(self, name="poisson", dtype=None):
        super().__init__(poisson, name=name, dtype=dtype)


class RootMeanSquaredError(Mean):
    """sqrt of the (weighted) mean of the squared errors."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _pair(y_true, y_pred)
        super().update_state(np.square(y_pred - y_true), sample_weight=sample_weight)

    def result(self):
        return np.sqrt(super().result())


class R2Score(Metric):
    """The coefficient of determination, ``1 - SS_res / SS_tot`` per output, accumulated over
    the batches as Keras does (weighted sums of y, y^2 and the squared residuals per output).

    Args:
        class_aggregation: how the outputs' scores combine: 'uniform_average' (their mean),
            'variance_weighted_average' (weighted by each output's total sum of squares), or
            None (one score per output).
        num_regressors: p > 0 gives the adjusted score ``1 - (1 - R2)(n - 1) / (n - p - 1)``,
            n the samples with a nonzero weight (the plain score, with Keras' warning, when
            n - 1 <= p).
    """

    _AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if class_aggregation not in self._AGGREGATIONS:
            raise ValueError(
                f"Invalid value for argument `class_aggregation`. Expected one of {self._AGGREGATIONS}. "
                f"Received: class_aggregation={class_aggregation}"
            )
        if num_regressors < 0:
            raise ValueError(f"Invalid value for argument `num_regressors`. Expected a value >= 0. "
                             f"Received: num_regressors={num_regressors}")
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        self.num_samples = self.add_variable((), "zeros", name="num_samples")
        self._sums = None  # per output: sum, squared_sum, residual, count (made at the first batch)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _pair(as_array(y_true, self.dtype), as_array(y_pred, self.dtype))
        if y_pred.ndim != 2 or y_true.ndim != 2:
            raise ValueError(
                "R2Score expects 2D inputs with shape (batch_size, output_dim). Received input shapes: "
                f"y_pred.shape={y_pred.shape} and y_true.shape={y_true.shape}."
            )
        if self._sums is None:
            outputs = y_pred.shape[-1]
            self._sums = [self.add_variable((outputs,), "zeros", name=name)
                          for name in ("squared_sum", "sum", "residual", "count")]
        weight = np.ones((), self.dtype) if sample_weight is None else as_array(sample_weight, self.dtype)
        if weight.ndim == 1:
            weight = weight[:, None]
        weight = np.broadcast_to(weight, y_true.shape)
        squared_sum, total, residual, count = (v.value for v in self._sums)
        total += (y_true * weight).sum(axis=0)
        squared_sum += (y_true * y_true * weight).sum(axis=0)
        residual += ((y_true - y_pred) ** 2 * weight).sum(axis=0)
        count += weight.sum(axis=0)
        self.num_samples.value[...] += np.any(weight != 0, axis=-1).sum()

    def result(self):
        if self._sums is None:
            return np.asarray(0.0, self.dtype)
        squared_sum, total, residual, count = (v.value for v in self._sums)
        with np.errstate(divide="ignore", invalid="ignore"):
            variance = squared_sum - total * (total / count)
            scores = 1 - residual / variance
        scores = np.where(np.isinf(scores), 0.0, scores)
        if self.class_aggregation == "uniform_average":
            score = scores.mean()
        elif self.class_aggregation == "variance_weighted_average":
            score = (variance * scores).sum() / variance.sum()
        else:
            score = scores
        n, p = float(self.num_samples.value), self.num_regressors
        if p:
            if p >= n - 1:
                warnings.warn("More independent predictors than datapoints in adjusted R2 score. Falling back to "
                              "standard R2 score." if p > n - 1 else
                              "Division by zero in Adjusted R2 score. Falling back to standard R2 score.",
                              stacklevel=2)
            else:
                score = 1 - (1 - score) * (n - 1) / (n - p - 1)
        return np.asarray(score, self.dtype)

    def get_config(self):
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


class BinaryCrossentropy(MeanMetricWrapper):
    """The mean binary cross-entropy of the predictions (probabilities, or logits with
    ``from_logits``)."""

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0):
        super().__init__(losses.binary_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing)


class CategoricalCrossentropy(MeanMetricWrapper):
    """The mean categorical cross-entropy against one-hot targets."""

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False, label_smoothing=0,
                 axis=-1):
        super().__init__(losses.categorical_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """The mean categorical cross-entropy against integer labels."""

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False, ignore_class=None,
                 axis=-1):
        super().__init__(losses.sparse_categorical_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
                         ignore_class=ignore_class, axis=axis)
