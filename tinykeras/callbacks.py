"""Callbacks: hooks called by ``fit``, ``evaluate`` and ``predict``, with Keras' names.

A callback overrides any of ``on_{train,test,predict}_{begin,end}``, ``on_epoch_{begin,end}``
and ``on_{train,test,predict}_batch_{begin,end}``; each receives a ``logs`` dict.
"""
import csv
import inspect
import math
import numbers
import os
import warnings

import numpy as np

from tinykeras.utils.progbar import Progbar


class Callback:
    """Base class: every hook does nothing. ``self.model`` is set by ``fit``."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_test_batch_begin(self, batch, logs=None): ...
    def on_test_batch_end(self, batch, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...
    def on_predict_batch_begin(self, batch, logs=None): ...
    def on_predict_batch_end(self, batch, logs=None): ...

    def __repr__(self):
        return f"<{type(self).__name__}>"


class CallbackList(Callback):
    """Calls each hook on every callback in order.

    Only hooks that some callback overrides are called per batch, which keeps the training loop
    free of no-op calls.
    """

    def __init__(self, callbacks, model, params):
        super().__init__()
        self.params = params
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            callback.set_model(model)
            callback.set_params(params)
        self._batch_hooks = {
            hook: [getattr(c, hook) for c in self.callbacks if _overrides(c, hook)]
            for hook in (
                "on_train_batch_begin",
                "on_train_batch_end",
                "on_test_batch_begin",
                "on_test_batch_end",
                "on_predict_batch_begin",
                "on_predict_batch_end",
            )
        }

    def wants(self, hook):
        """Whether any callback overrides the per-batch ``hook``."""
        return bool(self._batch_hooks[hook])

    def _call(self, hook, *args):
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def _call_batch(self, hook, batch, logs):
        for method in self._batch_hooks[hook]:
            method(batch, logs)

    def on_train_begin(self, logs=None): self._call("on_train_begin", logs)
    def on_train_end(self, logs=None): self._call("on_train_end", logs)
    def on_epoch_begin(self, epoch, logs=None): self._call("on_epoch_begin", epoch, logs)
    def on_epoch_end(self, epoch, logs=None): self._call("on_epoch_end", epoch, logs)
    def on_test_begin(self, logs=None): self._call("on_test_begin", logs)
    def on_test_end(self, logs=None): self._call("on_test_end", logs)
    def on_predict_begin(self, logs=None): self._call("on_predict_begin", logs)
    def on_predict_end(self, logs=None): self._call("on_predict_end", logs)
    def on_train_batch_begin(self, batch, logs=None): self._call_batch("on_train_batch_begin", batch, logs)
    def on_train_batch_end(self, batch, logs=None): self._call_batch("on_train_batch_end", batch, logs)
    def on_test_batch_begin(self, batch, logs=None): self._call_batch("on_test_batch_begin", batch, logs)
    def on_test_batch_end(self, batch, logs=None): self._call_batch("on_test_batch_end", batch, logs)
    def on_predict_batch_begin(self, batch, logs=None): self._call_batch("on_predict_batch_begin", batch, logs)
    def on_predict_batch_end(self, batch, logs=None): self._call_batch("on_predict_batch_end", batch, logs)


def _overrides(callback, hook):
    return getattr(type(callback), hook) is not getattr(Callback, hook)


_LEGACY_ALIASES = {"accuracy": "acc", "acc": "accuracy", "val_accuracy": "val_acc", "val_acc": "val_accuracy"}


class History(Callback):
    """Records each epoch's logs: ``history.history['loss']`` is the list of epoch losses.

    Keras 3's 'accuracy' keys and the legacy 'acc' keys both work, whichever the model was
    compiled with.
    """

    def __init__(self):
        super().__init__()
        self.history = _AliasDict()
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class _AliasDict(dict):
    """A dict where 'acc' finds 'accuracy' and the reverse (and likewise for 'val_')."""

    def __missing__(self, key):
        alias = _LEGACY_ALIASES.get(key)
        if alias is not None and dict.__contains__(self, alias):
            return dict.__getitem__(self, alias)
        raise KeyError(key)

    def __contains__(self, key):
        return dict.__contains__(self, key) or dict.__contains__(self, _LEGACY_ALIASES.get(key))

    def get(self, key, default=None):
        return self[key] if key in self else default


class ProgbarLogger(Callback):
    """Prints the progress bar of ``fit``/``evaluate``/``predict`` (added by them when verbose)."""

    def __init__(self, verbose=1):
        super().__init__()
        self.verbose = verbose
        self.progbar = None
        self.epochs = 1

    def on_train_begin(self, logs=None):
        self.epochs = self.params.get("epochs", 1)

    def on_epoch_begin(self, epoch, logs=None):
        if self.verbose and self.epochs > 1:
            print(f"Epoch {epoch + 1}/{self.epochs}", flush=True)
        self.progbar = Progbar(self.params.get("steps"), verbose=self.verbose)

    def on_train_batch_end(self, batch, logs=None):
        # Never final here: the epoch's line is completed in on_epoch_end, with val_ metrics.
        self.progbar.update(batch + 1, logs, finalize=False)

    def on_epoch_end(self, epoch, logs=None):
        self.progbar.update(self.progbar.seen, logs, finalize=True)

    def on_test_begin(self, logs=None):
        if not self.params.get("in_fit"):
            self.progbar = Progbar(self.params.get("test_steps"), verbose=self.verbose)

    def on_test_batch_end(self, batch, logs=None):
        if not self.params.get("in_fit"):
            self.progbar.update(batch + 1, logs)

    def on_test_end(self, logs=None):
        if not self.params.get("in_fit"):
            self.progbar.update(self.progbar.seen, logs, finalize=True)

    def on_predict_begin(self, logs=None):
        self.progbar = Progbar(self.params.get("predict_steps"), verbose=self.verbose)

    def on_predict_batch_end(self, batch, logs=None):
        self.progbar.update(batch + 1)

    def on_predict_end(self, logs=None):
        self.progbar.update(self.progbar.seen, finalize=True)


class _MonitorMixin:
    """Shared by the callbacks that watch a log: which way of the monitored value is better.

    Used by EarlyStopping, ModelCheckpoint and ReduceLROnPlateau.
    """

    def _init_monitor(self, monitor, mode):
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{type(self).__name__} mode {mode!r} is unknown, falling back to 'auto'.")
            mode = "auto"
        self.monitor = monitor
        if mode == "auto":
            mode = "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
        self.mode = mode
        self.sign = 1 if mode == "max" else -1

    def _monitored(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is None:
            alias = _LEGACY_ALIASES.get(self.monitor)
            value = (logs or {}).get(alias) if alias else None
        if value is None:
            warnings.warn(
                f"{type(self).__name__}: the monitored metric '{self.monitor}' is not available. "
                f"Available metrics are: {', '.join(logs or {})}.",
                stacklevel=3,
            )
        return value

    def _improved(self, value, reference):
        """Whether ``value`` beats ``reference`` by more than ``min_delta``, in the mode's direction."""
        return self.sign * (value - reference) > self.min_delta


class EarlyStopping(Callback, _MonitorMixin):
    """Stops training when the monitored value has stopped improving.

    Args:
        monitor: the log to watch ('val_loss' by default).
        min_delta: the smallest change that counts as an improvement.
        patience: epochs with no improvement after which training stops.
        verbose: 1 prints a line when it stops.
        mode: 'min', 'max', or 'auto' (max for accuracies, min otherwise).
        baseline: a value the monitored quantity must beat.
        restore_best_weights: restore the weights of the best epoch when stopping.
        start_from_epoch: epochs to wait before watching.
    """

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
    ):
        super().__init__()
        self._init_monitor(monitor, mode)
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = -math.inf if self.mode == "max" else math.inf
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        value = self._monitored(logs)
        if value is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # The first watched epoch is the best so far, even if its value is NaN.
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._improved(value, self.best):
            self.best = value
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improved(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback, _MonitorMixin):
    """Saves the model (or its weights) after each epoch.

    Args:
        filepath: where to save; may hold ``{epoch:02d}`` and any log, e.g.
            ``'w.{epoch:02d}-{val_loss:.2f}.keras'`` (epochs count from 1). A name ending in
            '.keras' gets the whole model (``model.save``), one ending in '.weights.h5' the
            weights (``model.save_weights``).
        monitor: the log compared when ``save_best_only``.
        verbose: 1 prints a line per save.
        save_best_only: save only when the monitored value improves.
        save_weights_only: save only the weights; the filepath must then end in '.weights.h5'.
        mode: 'min', 'max' or 'auto'.
        save_freq: 'epoch' (the only frequency supported).
        initial_value_threshold: a value the first save must beat.
    """

    def __init__(
        self,
        filepath,
        monitor="val_loss",
        verbose=0,
        save_best_only=False,
        save_weights_only=False,
        mode="auto",
        save_freq="epoch",
        initial_value_threshold=None,
    ):
        super().__init__()
        name = os.fspath(filepath)
        if save_weights_only and not name.endswith(".weights.h5"):
            raise ValueError(
                "When using `save_weights_only=True` in `ModelCheckpoint`, the filepath provided "
                f"must end in `.weights.h5` (Keras weights format). Received: filepath={name}"
            )
        if not name.endswith((".keras", ".weights.h5")):
            raise ValueError(
                "The filepath provided must end in `.keras` (the whole model) or `.weights.h5` "
                f"(the weights). Received: filepath={name}"
            )
        if save_freq != "epoch":
            raise ValueError(
                f"ModelCheckpoint: save_freq must be 'epoch'. Received: save_freq={save_freq!r}"
            )
        self._init_monitor(monitor, mode)
        self.filepath = name
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.best = initial_value_threshold
        self.save_freq = save_freq

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            value = self._monitored(logs)
            if value is None:
                return
            if self.best is not None and not self.sign * (value - self.best) > 0:
                if self.verbose > 0:
                    print(
                        f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}"
                    )
                return
            if self.verbose > 0:
                previous = "inf" if self.best is None else f"{self.best:.5f}"
                print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {previous} to "
                    f"{value:.5f}, saving model to {path}"
                )
            self.best = value
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        if path.endswith(".weights.h5"):
            self.model.save_weights(path)
        else:
            self.model.save(path)


class TerminateOnNaN(Callback):
    """Stops training as soon as the loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class ReduceLROnPlateau(Callback, _MonitorMixin):
    """Reduces the learning rate when the monitored value has stopped improving.

    After ``patience`` epochs without an improvement larger than ``min_delta``, the optimizer's
    learning rate becomes ``max(lr * factor, min_lr)`` (unless it is already at ``min_lr``). Epochs
    without improvement are then not counted until ``cooldown`` more epochs have ended; as in Keras
    the countdown runs before the check, so the first epoch counted again is the ``cooldown``-th
    after the reduction. Each epoch's rate is added to the logs (and so to the History) as
    'learning_rate'.

    Args:
        monitor: the log to watch ('val_loss' by default).
        factor: the rate is multiplied by this; must be below 1.
        patience: epochs with no improvement after which the rate is reduced.
        verbose: 1 prints a line at each reduction.
        mode: 'min', 'max', or 'auto' (max for accuracies, min otherwise).
        min_delta: the smallest change that counts as an improvement.
        cooldown: epochs to wait after a reduction before counting epochs without improvement.
        min_lr: the rate is never reduced below this.
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
    ):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(
                "ReduceLROnPlateau does not support a factor >= 1.0: the learning rate is "
                f"multiplied by it. Received: factor={factor}"
            )
        self._init_monitor(monitor, mode)
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lr = min_lr
        self._reset()

    def _reset(self):
        self.best = -math.inf if self.mode == "max" else math.inf
        self.wait = 0
        self.cooldown_counter = 0

    def in_cooldown(self):
        """Whether the epochs right after a reduction are still being skipped."""
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else logs
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(optimizer.learning_rate)
        value = self._monitored(logs)
        if value is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(value, self.best):
            self.best = value
            self.wait = 0
            return
        if self.in_cooldown():
            return
        self.wait += 1
        if self.wait < self.patience:
            return
        old_lr = float(optimizer.learning_rate)
        # Compared in float32, the precision Keras keeps the rate in, so that a rate already at
        # min_lr is left alone whichever way min_lr rounds.
        if np.float32(old_lr) > np.float32(self.min_lr):
            new_lr = max(old_lr * self.factor, self.min_lr)
            optimizer.learning_rate = new_lr
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
            self.cooldown_counter = self.cooldown
            self.wait = 0

    def __repr__(self):
        return (
            f"ReduceLROnPlateau(monitor={self.monitor!r}, factor={self.factor}, "
            f"patience={self.patience}, mode={self.mode!r}, min_delta={self.min_delta}, "
            f"cooldown={self.cooldown}, min_lr={self.min_lr}; best={self.best}, wait={self.wait}, "
            f"cooldown_counter={self.cooldown_counter})"
        )


class LearningRateScheduler(Callback):
    """Sets the optimizer's learning rate before each epoch from ``schedule``.

    Each epoch's rate is added to the logs (and so to the History) as 'learning_rate'.

    Args:
        schedule: ``schedule(epoch, lr)`` returning the rate for ``epoch`` (counted from 0) given
            the current rate ``lr``; a function of the epoch alone, ``schedule(epoch)``, also works.
        verbose: 1 prints the rate set at each epoch.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(
                "LearningRateScheduler expects a function schedule(epoch, lr) returning the new "
                f"learning rate. Received: schedule={schedule!r}"
            )
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        if _accepts_two_arguments(self.schedule):
            learning_rate = self.schedule(epoch, float(optimizer.learning_rate))
        else:
            learning_rate = self.schedule(epoch)
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real):
            raise ValueError(  # noqa: TRY004 - the error Keras raises here
                f"The output of the `schedule` function should be a float. Received: {learning_rate!r}"
            )
        optimizer.learning_rate = float(learning_rate)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {learning_rate}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)

    def __repr__(self):
        name = getattr(self.schedule, "__name__", repr(self.schedule))
        return f"LearningRateScheduler(schedule={name}, verbose={self.verbose})"


def _accepts_two_arguments(function):
    """Whether ``function(epoch, lr)`` is a valid call (else the schedule takes the epoch alone)."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # no signature to read (some built-ins): use the usual form
        return True
    try:
        signature.bind(0, 0.0)
    except TypeError:
        return False
    return True


class CSVLogger(Callback):
    """Writes each epoch's logs as a row of a CSV file, the way Keras does.

    The header is 'epoch' followed by the log names in sorted order, as seen at the end of the
    first epoch; epochs count from 0; a log missing later is written 'NA'. Rows are written with
    Python's ``csv`` module ('excel' dialect, so lines end in '\\r\\n') and flushed one by one, so an
    interrupted run keeps every finished epoch.

    Args:
        filename: the CSV file.
        separator: the string between fields.
        append: add to an existing file (to continue a run) instead of overwriting it; the header
            is written only if the file is missing or empty.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys = None
        self.csv_file = None
        self._writer = None
        self._write_header = True

    def on_train_begin(self, logs=None):
        self._close()
        self._write_header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename, newline="", encoding="utf-8") as existing:
                self._write_header = not existing.readline()
        mode = "a" if self.append else "w"
        self.csv_file = open(self.filename, mode, newline="", encoding="utf-8")  # noqa: SIM115
        self.keys = None
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._writer is None:
            self.keys = sorted(logs)
            self._writer = csv.writer(self.csv_file, delimiter=self.sep)
            if self._write_header:
                self._writer.writerow(["epoch", *self.keys])
        self._writer.writerow([epoch, *(logs.get(key, "NA") for key in self.keys)])
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        self._close()

    def _close(self):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self._writer = None

    def __repr__(self):
        return f"CSVLogger(filename={self.filename!r}, separator={self.sep!r}, append={self.append})"
