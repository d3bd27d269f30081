"""What ``compile`` sets for each output of a model: its loss, its loss weight and its metrics,
and the running means that fit and evaluate log.

A model with one output logs 'loss' and the metrics by the names the user wrote ('accuracy').
With several outputs, as in Keras 3, each output is named (the layer computing it, or its key
when the outputs are a dict), every metric is logged as '<output>_<metric>', each output's loss
as '<output>_loss' when more than one output has a loss, and 'loss' is the sum of the outputs'
losses times their ``loss_weights``.
"""
import warnings

import numpy as np

from tinykeras import losses
from tinykeras import metrics as metrics_module
from tinykeras.losses import apply_mask
from tinykeras.metrics.metric import MeanMetricWrapper
from tinykeras.utils.argument_validation import check_number


class Objectives:
    """The compiled losses and metrics of a model's outputs.

    Args:
        model_name: for the messages.
        output_names: one name per output, in order.
        loss: a loss (name, function or Loss) for every output, or a list with one per output,
            or a dict by output name; None entries leave an output without a loss.
        loss_weights: None (1 each), a list with one number per output, or a dict by name.
        metrics: for one output, a list of metrics; for several, a list with one entry per
            output (a metric, a list of metrics, or None) or a dict by output name. A flat list
            of another length gives every metric to every output, as Keras 2 did.

    Raises:
        ValueError: naming the argument, the outputs and what was received, when a list has the
            wrong length, a dict names an unknown output, or no output has a loss.
    """

    def __init__(self, model_name, output_names, loss, loss_weights=None, metrics=None, added_losses=False,
                 weighted_metrics=None):
        self.model_name = model_name
        self.output_names = list(output_names)
        several = len(self.output_names) > 1
        self.losses = [None if entry is None else losses.get(entry) for entry in self._per_output("loss", loss, spread=True)]
        if all(entry is None for entry in self.losses) and not added_losses:
            raise ValueError(
                f"Model '{model_name}': compile needs a loss, e.g. "
                "compile(optimizer='adam', loss='categorical_crossentropy')."
            )
        for entry in self.losses:
            _check_reduction(model_name, entry)
        weights = [1.0 if w is None else w for w in self._per_output("loss_weights", loss_weights, spread=False)]
        self.loss_weights = [_weight(model_name, name, w) for name, w in zip(self.output_names, weights)]
        #: The metrics of each output as compile received them (names, functions, Metrics).
        self.metric_entries = [_as_list(entry) for entry in self._metrics_per_output(metrics)]
        self.metrics = [[metrics_module.for_compile(m) for m in entries] for entries in self.metric_entries]
        #: The metrics that weigh samples by the sample weights, given like ``metrics``.
        self.weighted_entries = [_as_list(entry) for entry in self._metrics_per_output(weighted_metrics)]
        self.weighted = [[metrics_module.for_compile(m) for m in entries] for entries in self.weighted_entries]
        self._unresolved = any(isinstance(m, metrics_module.AccuracyByShapes)
                               for m in self.flat_metrics() + self.flat_weighted())
        prefixes = [f"{name}_" if several else "" for name in self.output_names]
        #: The name Keras logs a weighted metric under when an unweighted one has its name.
        self._weighted_names = {id(metric): f"{prefix}weighted_{metric.name}"
                                for prefix, output_metrics in zip(prefixes, self.weighted) for metric in output_metrics}
        for prefix, output_metrics in zip(prefixes * 2, self.metrics + self.weighted):
            for metric in output_metrics:
                metric.name = prefix + metric.name
        self.total = metrics_module.Mean("loss")
        with_loss = [i for i, entry in enumerate(self.losses) if entry is not None]
        self.trackers = [
            metrics_module.Mean(f"{name}_loss") if several and len(with_loss) > 1 and i in with_loss else None
            for i, name in enumerate(self.output_names)
        ]

    # ---- reading compile's arguments ----------------------------------------------------

    def _per_output(self, argument, value, spread):
        """``value`` as a list with one entry per output (``spread``: one value for them all)."""
        count = len(self.output_names)
        if isinstance(value, dict):
            self._check_keys(argument, value)
            missing = [name for name in self.output_names if name not in value]
            if missing and argument == "loss":
                warnings.warn(
                    f"Model '{self.model_name}': the loss dict has no entry for the output(s) "
                    f"{missing}; they are trained by no loss (as in Keras 2). Map them to None "
                    "to say so.",
                    UserWarning,
                    stacklevel=4,
                )
            return [value.get(name) for name in self.output_names]
        if isinstance(value, (list, tuple)):
            if len(value) != count:
                raise ValueError(
                    f"Model '{self.model_name}': compile({argument}=...) received a list of "
                    f"{len(value)} entries for a model with {count} output(s) "
                    f"({', '.join(self.output_names)}). Pass one entry per output, or a dict "
                    "by output name."
                )
            return list(value)
        if value is None or spread:
            return [value] * count
        if count > 1:
            raise ValueError(
                f"Model '{self.model_name}': compile({argument}={value!r}) needs one entry per "
                f"output ({', '.join(self.output_names)}): pass a list or a dict by output name."
            )
        return [value]

    def _metrics_per_output(self, metrics):
        count = len(self.output_names)
        if count == 1:
            if isinstance(metrics, dict):
                self._check_keys("metrics", metrics)
                return [metrics.get(self.output_names[0])]
            return [metrics]
        if isinstance(metrics, (list, tuple)) and len(metrics) != count:
            return [list(metrics)] * count  # Keras 2: every metric for every output
        return self._per_output("metrics", metrics, spread=False)

    def _check_keys(self, argument, value):
        unknown = [key for key in value if key not in self.output_names]
        if unknown:
            raise ValueError(
                f"Model '{self.model_name}': compile({argument}=...) names the output(s) "
                f"{unknown}, which the model does not have. Its outputs are "
                f"{self.output_names}."
            )

    # ---- one batch ------------------------------------------------------------------------

    def prepare_targets(self, ys, outputs):
        """Each output's targets converted and checked by its loss (as arrays where none)."""
        return [
            np.asarray(y) if loss is None else loss.prepare_targets(y, output)
            for loss, y, output in zip(self.losses, ys, outputs)
        ]

    def total_loss(self, values, added=0.0):
        """The loss fit minimises: the outputs' losses times their weights, added up, plus the
        ``added`` add_loss terms."""
        if len(values) == 1 and values[0] is not None:  # one output: no generator per step
            return self.loss_weights[0] * values[0] + added
        return sum((w * v for w, v in zip(self.loss_weights, values) if v is not None), added)

    def update(self, values, ys, outputs, added=0.0, sample_weights=None, masks=None):
        """Adds one batch to the running means: its per-output loss ``values`` (None where an
        output has no loss), targets, outputs, the sum of its add_loss terms, the sample
        weights (None, or one array or None per output) the weighted metrics read, and the
        outputs' masks (None, or one mask or None per output), which weigh the metrics that
        average a value per sample (MeanMetricWrapper) as in Keras."""
        count = len(outputs[0])
        if self._unresolved:
            self._resolve(ys, outputs)
        self.total.update_state(self.total_loss(values, added), sample_weight=count)
        for tracker, value in zip(self.trackers, values):
            if tracker is not None:
                tracker.update_state(value, sample_weight=count)
        masks = masks or [None] * len(outputs)
        for output_metrics, y, output, mask in zip(self.metrics, ys, outputs, masks):
            for metric in output_metrics:
                if mask is not None and isinstance(metric, MeanMetricWrapper):
                    metric.update_state(y, output, sample_weight=apply_mask(None, mask, "sum", metric._dtype))
                else:
                    metric.update_state(y, output)
        for index, (output_metrics, y, output) in enumerate(zip(self.weighted, ys, outputs)):
            weights = sample_weights[index] if sample_weights is not None else None
            for metric in output_metrics:
                if masks[index] is not None and isinstance(metric, MeanMetricWrapper):
                    masked = apply_mask(weights, masks[index], "sum", metric._dtype)
                    metric.update_state(y, output, sample_weight=masked)
                else:
                    metric.update_state(y, output, sample_weight=weights)

    def _resolve(self, ys, outputs):
        """Replaces each 'accuracy' by the accuracy class the first batch's shapes pick."""
        def resolved(metric, y, output):
            if not isinstance(metric, metrics_module.AccuracyByShapes):
                return metric
            chosen_metric = metric.chosen(y, output)
            if id(metric) in self._weighted_names:
                self._weighted_names[id(chosen_metric)] = self._weighted_names.pop(id(metric))
            return chosen_metric

        def chosen(metrics):
            return [[resolved(m, y, output) for m in output_metrics]
                    for output_metrics, y, output in zip(metrics, ys, outputs)]

        self.metrics, self.weighted = chosen(self.metrics), chosen(self.weighted)
        self._unresolved = False

    def reset(self):
        for metric in self.tracked():
            metric.reset_state()

    # ---- what is logged ---------------------------------------------------------------------

    def tracked(self):
        """The running means in the order evaluate returns them: 'loss', each output's loss,
        then each output's metrics."""
        return [self.total, *(t for t in self.trackers if t is not None), *self.flat_metrics(), *self.flat_weighted()]

    def flat_metrics(self):
        return [metric for output_metrics in self.metrics for metric in output_metrics]

    def flat_weighted(self):
        return [metric for output_metrics in self.weighted for metric in output_metrics]

    def logs(self, prefix=""):
        """The running means by name, sorted as Keras sorts them ('accuracy', 'loss')."""
        values = {}
        for metric in self.tracked():
            name = metric.name
            if id(metric) in self._weighted_names and name in values:
                name = self._weighted_names[id(metric)]  # 'weighted_accuracy' beside 'accuracy'
            values[_unique(name, values)] = _logged(metric.result())
        return {prefix + key: values[key] for key in sorted(values)}

    def result_values(self):
        """The loss alone, or [loss, *the others] in ``tracked``'s order, as Keras returns them."""
        values = [_logged(m.result()) for m in self.tracked()]
        return values[0] if len(values) == 1 else values


def _unique(name, taken):
    """``name``, or for a name already taken, as Keras logs a second metric of one name,
    'name_1' (then 'name_2', ...)."""
    if name not in taken:
        return name
    return next(f"{name}_{i}" for i in range(1, len(taken) + 2) if f"{name}_{i}" not in taken)


def _logged(value):
    """A metric's result as logs hold it: a Python float, or an array for several values."""
    return float(value) if np.ndim(value) == 0 else np.asarray(value)


def _as_list(entry):
    if entry is None:
        return []
    return list(entry) if isinstance(entry, (list, tuple)) else [entry]


def _check_reduction(model_name, loss):
    if getattr(loss, "reduction", "sum_over_batch_size") in ("sum", "none", None):
        raise ValueError(
            f"Model '{model_name}': fit and evaluate take the mean loss over each batch; "
            f"received a loss with reduction={loss.reduction!r}. Compile with the "
            "default reduction='sum_over_batch_size' (a reduction applies when the loss is "
            "called directly)."
        )


def _weight(model_name, output, weight):
    return float(check_number(weight, f"loss_weights of output '{output}'", f"Model '{model_name}': compile"))
