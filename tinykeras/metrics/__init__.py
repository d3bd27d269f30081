"""``keras.metrics``: metric classes with state (``update_state`` / ``result`` /
``reset_state``), the per-sample functions behind them, and ``get``.

In ``compile(metrics=[...])`` a metric is a name ('accuracy', 'mae', 'AUC'), a function
``fn(y_true, y_pred)`` returning one value per sample (averaged over the epoch, logged under
``fn.__name__``), or a Metric object (logged under its ``name``).
"""
import inspect

from tinykeras import backend
from tinykeras.metrics.accuracy import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from tinykeras.metrics.confusion import (
    AUC,
    F1Score,
    FalseNegatives,
    FalsePositives,
    FBetaScore,
    Precision,
    Recall,
    TrueNegatives,
    TruePositives,
)
from tinykeras.metrics.metric import Mean, MeanMetricWrapper, Metric, Sum
from tinykeras.metrics.regression import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    KLDivergence,
    LogCoshError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    R2Score,
    RootMeanSquaredError,
    SparseCategoricalCrossentropy,
    SquaredHinge,
    categorical_hinge,
    cosine_similarity,
    hinge,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    squared_hinge,
)
from tinykeras.losses import (
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    huber,
    sparse_categorical_crossentropy,
)
from tinykeras.utils.naming import lookup

mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
logcosh = log_cosh
kld = KLD = kullback_leibler_divergence = kl_divergence

_CLASSES = [
    Metric, Mean, Sum, MeanMetricWrapper,
    MeanSquaredError, RootMeanSquaredError, R2Score, MeanAbsoluteError, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, CosineSimilarity, LogCoshError,
    Hinge, SquaredHinge, CategoricalHinge, KLDivergence, Poisson,
    AUC, FalseNegatives, FalsePositives, Precision, Recall, TrueNegatives, TruePositives,
    BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
    Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
    TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
    F1Score, FBetaScore,
]
#: What ``get`` finds by name: each class by its name and its snake-case name, and Keras'
#: abbreviations.
_BY_NAME = {
    **{cls.__name__: cls for cls in _CLASSES},
    **{backend.snake_case(cls.__name__): cls for cls in _CLASSES},
    "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
    "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError,
}
_FUNCTIONS = {
    fn.__name__: fn for fn in (
        accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
        top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, mean_squared_error,
        mean_absolute_error, mean_absolute_percentage_error, mean_squared_logarithmic_error, log_cosh,
        cosine_similarity, binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy,
        hinge, squared_hinge, categorical_hinge, kl_divergence, poisson, binary_focal_crossentropy,
        categorical_focal_crossentropy, huber,
    )
}
_ACCURACY_NAMES = ("accuracy", "acc")


def get(identifier):
    """A metric for a name, a config dict, a class, or itself (a Metric or a function).

    Names are the classes' ('Precision', 'AUC') and their snake-case forms ('precision',
    'auc', 'mean_absolute_error'), and 'mse', 'mae', 'mape', 'msle', 'bce'.

    Raises:
        ValueError: for an unknown name, listing the valid ones and the nearest match.
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if _function_only(identifier):
            return _FUNCTIONS[identifier]
        return _class_named(identifier)()
    if inspect.isclass(identifier) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")


def function(name):
    """The per-sample metric function of this module named ``name`` ('mean_absolute_error')."""
    return lookup("metric function", name, _FUNCTIONS)


def for_compile(identifier):
    """The Metric object ``compile(metrics=[...])`` makes of an entry, named as Keras names it:
    a string keeps the string as its name ('mae', 'accuracy'); 'accuracy' and 'acc' pick
    binary, sparse categorical or categorical accuracy from the shapes of each batch's targets
    and outputs; a function is averaged under its ``__name__``; a Metric object is itself."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _ACCURACY_NAMES:
        return AccuracyByShapes(name=identifier)
    if not isinstance(identifier, (str, dict)) and not callable(identifier):
        raise TypeError(
            f"Could not interpret metric {identifier!r}: pass a name such as 'accuracy', a "
            "function fn(y_true, y_pred) or a keras.metrics.Metric."
        )
    if isinstance(identifier, str) and not _function_only(identifier):
        metric = _class_named(identifier, also=_ACCURACY_NAMES)()
        metric.name = identifier
        return metric
    metric = get(identifier)
    if isinstance(metric, Metric):
        return metric
    return MeanMetricWrapper(metric, name=getattr(metric, "__name__", "metric"))


def _function_only(name):
    """Whether Keras names ``name`` as a metric function only (no class of that name)."""
    return name not in _BY_NAME and name in _FUNCTIONS


def _class_named(name, also=()):
    """The metric class ``get`` finds for ``name`` (exactly, else ignoring case); a ValueError
    listing the valid names (with ``also``) and the nearest one otherwise."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    return lookup("metric", name, {**{key.lower(): cls for key, cls in _BY_NAME.items()}, **dict.fromkeys(also)})


class AccuracyByShapes(MeanMetricWrapper):
    """'accuracy' in compile before the first batch: ``chosen(y_true, y_pred)`` gives the
    accuracy Keras picks by the shapes of targets and outputs, under this name."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(_accuracy_by_shapes, name=name, dtype=dtype)

    def chosen(self, y_true, y_pred):
        """BinaryAccuracy for one output unit, SparseCategoricalAccuracy when the targets are
        labels (a lower rank, or a last axis of 1), CategoricalAccuracy otherwise."""
        cls = {binary_accuracy: BinaryAccuracy, sparse_categorical_accuracy: SparseCategoricalAccuracy,
               categorical_accuracy: CategoricalAccuracy}[_accuracy_function(y_true, y_pred)]
        return cls(name=self.name, dtype=self.dtype)


def _accuracy_function(y_true, y_pred):
    y_rank, y_last = len(y_true.shape), y_true.shape[-1] if len(y_true.shape) else 1
    if y_pred.shape[-1] == 1:
        return binary_accuracy
    if y_rank < y_pred.ndim or y_last == 1:
        return sparse_categorical_accuracy
    return categorical_accuracy


def _accuracy_by_shapes(y_true, y_pred):
    return _accuracy_function(y_true, y_pred)(y_true, y_pred)


def serialize(metric):
    """A Metric as Keras writes one in a compile config ({'module', 'class_name', 'config',
    'registered_name'}); a name or function by its name."""
    if isinstance(metric, Metric):
        from tinykeras import saving

        registered = saving.get_registered_name(type(metric))
        builtin = _BY_NAME.get(type(metric).__name__) is type(metric)
        return {
            "module": "keras.metrics" if builtin else type(metric).__module__,
            "class_name": type(metric).__name__,
            "config": metric.get_config(),
            "registered_name": None if builtin else registered,
        }
    return metric if isinstance(metric, str) else getattr(metric, "__name__", str(metric))


def deserialize(config, custom_objects=None):
    """The Metric of a serialized entry ({'class_name', 'config', ...}), a registered or
    ``custom_objects`` class included."""
    from tinykeras import saving

    return saving.object_from_entry(config, _BY_NAME, Metric, "metric", custom_objects)


from tinykeras._missing import attribute_error_for  # noqa: E402

__getattr__ = attribute_error_for(__name__)
