"""The metric protocol and the running means.

A :class:`Metric` keeps its state in variables made by ``add_variable``; ``update_state`` adds a
batch to them, ``result`` reads the value so far, ``reset_state`` sets them back to zero (fit
does at each epoch). :class:`Mean` and :class:`Sum` accumulate values, optionally weighted;
:class:`MeanMetricWrapper` averages a function ``fn(y_true, y_pred)`` of per-sample values.
"""
import numpy as np

from tinykeras import backend, initializers
from tinykeras.layers.base import Variable
from tinykeras.losses import same_rank


class Metric:
    """Base class of the metrics, as Keras 3 writes it::

        class TruePositives(keras.metrics.Metric):
            def __init__(self, name="true_positives", **kwargs):
                super().__init__(name=name, **kwargs)
                self.count = self.add_variable(shape=(), initializer="zeros", name="count")

            def update_state(self, y_true, y_pred, sample_weight=None):
                hits = keras.ops.logical_and(y_true > 0.5, y_pred > 0.5)
                self.count.assign_add(keras.ops.sum(keras.ops.cast(hits, "float32")))

            def result(self):
                return self.count

    Args:
        dtype: the type of the state and the result (default: ``backend.floatx()``).
        name: the name logs and History use (default: the class name in snake case, numbered
            when taken: 'precision', 'precision_1').
    """

    def __init__(self, dtype=None, name=None):
        self.name = name or backend.unique_name(backend.snake_case(type(self).__name__))
        self._dtype = np.dtype(dtype or backend.floatx()).name
        self._variables = []
        self._metrics = []

    def __setattr__(self, name, value):
        if isinstance(value, Metric) and not name.startswith("_") and hasattr(self, "_metrics"):
            self._metrics.append(value)
        super().__setattr__(name, value)

    @property
    def dtype(self):
        return self._dtype

    def add_variable(self, shape, initializer, dtype=None, aggregation="sum", name=None):
        """A state variable of ``shape`` set by ``initializer`` (a name such as 'zeros', or an
        initializer); not trained. ``aggregation`` is accepted for Keras' signature (one device
        here: nothing to aggregate)."""
        self._check_super_called()
        dtype = np.dtype(dtype or self._dtype)
        value = initializers.get(initializer)(tuple(shape), dtype=dtype)
        name = name or f"variable_{len(self._variables)}"
        variable = Variable(name, np.array(value, dtype=dtype), trainable=False, path=f"{self.name}/{name}")
        self._variables.append(variable)
        return variable

    def add_weight(self, shape=(), initializer=None, dtype=None, name=None):
        """Keras 2's name for :meth:`add_variable`."""
        return self.add_variable(shape, initializer or "zeros", dtype=dtype, name=name)

    @property
    def variables(self):
        """Its state variables, then those of the metrics it holds as attributes."""
        return self._variables + [v for metric in self._metrics for v in metric.variables]

    def update_state(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} must define update_state(y_true, y_pred, sample_weight=None).")

    def result(self):
        raise TypeError(f"{type(self).__name__} must define result().")

    def reset_state(self):
        """Sets every state variable to zeros."""
        for variable in self.variables:
            variable.value[...] = 0

    def __call__(self, *args, **kwargs):
        """Adds one batch (``update_state``) and returns the result so far."""
        self._check_super_called()
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _check_super_called(self):
        if "_variables" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}.__init__ must call super().__init__(name=name, **kwargs) "
                "before adding variables or updating the metric."
            )

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


def as_array(value, dtype=None):
    """A batch of targets, predictions or weights as an array (``dtype`` for floats)."""
    array = np.asarray(value.value if isinstance(value, Variable) else value)
    return array.astype(dtype, copy=False) if dtype is not None else array


def samplewise(values, sample_weight, reduce):
    """Per-sample values, each weighted, and the weights, as Keras' means reduce a batch: the
    weights are matched to the values' rank (a trailing axis of 1 added or removed), the values
    reduced with ``reduce`` (np.mean or np.sum) over the axes the weights lack, weighted, then
    reduced to one value per sample."""
    if sample_weight is not None:
        sample_weight = as_array(sample_weight, values.dtype)
        values, sample_weight = same_rank(values, sample_weight)
        if values.ndim > sample_weight.ndim:
            values = reduce(values, axis=tuple(range(sample_weight.ndim, values.ndim)))
        try:
            sample_weight = np.broadcast_to(sample_weight, values.shape)
        except ValueError:
            raise ValueError(
                f"sample_weight of shape {sample_weight.shape} does not fit the values of shape "
                f"{values.shape}: pass one weight per sample."
            ) from None
        values = values * sample_weight
        if sample_weight.ndim > 1:
            sample_weight = reduce(sample_weight, axis=tuple(range(1, sample_weight.ndim)))
    if values.ndim > 1:
        values = reduce(values, axis=tuple(range(1, values.ndim)))
    return values, sample_weight


class Sum(Metric):
    """The (weighted) sum of the values given: ``update_state(values, sample_weight=None)``."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), "zeros", name="total")

    def update_state(self, values, sample_weight=None):
        values, _ = samplewise(as_array(values, self._dtype), sample_weight, np.sum)
        self.total.value += values.sum(dtype=self._dtype)

    def result(self):
        return self.total.value[()]


class Mean(Metric):
    """The (weighted) mean of the values given: ``update_state(values, sample_weight=None)``
    adds ``sum(values * weights)`` to its total and ``sum(weights)`` (without weights, the
    number of samples) to its count; the result is total / count (0 before any value)."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), "zeros", name="total")
        self.count = self.add_variable((), "zeros", name="count")

    def update_state(self, values, sample_weight=None):
        if isinstance(values, (float, np.floating)) and isinstance(sample_weight, int):
            # A batch's mean over ``sample_weight`` samples: how fit tracks the loss.
            self.total.value += self.total.value.dtype.type(values) * sample_weight
            self.count.value += sample_weight
            return
        if sample_weight is None and type(values) is np.ndarray and values.ndim == 1 and values.dtype == self._dtype:
            # One value per sample, unweighted: how fit tracks a per-sample metric.
            self.total.value += values.sum(dtype=self._dtype)
            self.count.value += len(values)
            return
        values, sample_weight = samplewise(as_array(values, self._dtype), sample_weight, np.mean)
        self.total.value += values.sum(dtype=self._dtype)
        if sample_weight is not None:
            self.count.value += np.sum(sample_weight, dtype=self._dtype)
        else:
            self.count.value += len(values) if values.ndim else 1

    def result(self):
        count = self.count.value[()]
        return self.total.value[()] / count if count else np.zeros((), self._dtype)[()]


class MeanMetricWrapper(Mean):
    """The mean of ``fn(y_true, y_pred, **kwargs)``, a function returning one value per sample.

    Args:
        fn: the function.
        name: the name (default: 'mean_metric_wrapper').
        dtype: the type of the state.
        **kwargs: passed to ``fn``.
    """

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or backend.unique_name("mean_metric_wrapper"), dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(values, sample_weight=sample_weight)

    def get_config(self):
        config = {**super().get_config(), **self._fn_kwargs}
        if type(self) is MeanMetricWrapper:
            config["fn"] = getattr(self._fn, "__name__", repr(self._fn))
        return config

    @classmethod
    def from_config(cls, config):
        if "fn" in config and isinstance(config["fn"], str):
            from tinykeras import metrics

            config = {**config, "fn": metrics.function(config["fn"])}
        return cls(**config)
