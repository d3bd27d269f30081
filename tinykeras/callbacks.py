"""Callbacks: hooks called by ``fit``, ``evaluate`` and ``predict``, with Keras' names.

A callback overrides any of ``on_{train,test,predict}_{begin,end}``, ``on_epoch_{begin,end}``
and ``on_{train,test,predict}_batch_{begin,end}`` (or Keras 2's ``on_batch_{begin,end}``, which
the training batch hooks call); each receives a ``logs`` dict.
"""
import collections.abc
import csv
import inspect
import json
import math
import numbers
import os
import shutil
import warnings

import numpy as np

from tinykeras import backend
from tinykeras.utils.files import atomic_write
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
    def on_batch_begin(self, batch, logs=None): ...
    def on_batch_end(self, batch, logs=None): ...

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)  # Keras 2's name for this hook

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

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
    """Calls each hook on every callback in order, with a logs dict ({} where there are none yet,
    the last epoch's at the end of training, as Keras passes them).

    Only hooks that some callback overrides are called per batch, which keeps the training loop
    free of no-op calls.
    """

    def __init__(self, callbacks, model, params):
        super().__init__()
        self.params = params
        self._epoch_logs = {}
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
        *first, logs = args
        for callback in self.callbacks:
            getattr(callback, hook)(*first, {} if logs is None else logs)

    def _call_batch(self, hook, batch, logs):
        logs = {} if logs is None else logs
        for method in self._batch_hooks[hook]:
            method(batch, logs=logs)

    def on_train_begin(self, logs=None):
        self._epoch_logs = {}
        self._call("on_train_begin", logs)

    def on_train_end(self, logs=None):
        # As in Keras, training ends with the logs of its last epoch.
        self._call("on_train_end", self._epoch_logs if logs is None else logs)

    def on_epoch_begin(self, epoch, logs=None): self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._epoch_logs = logs
        self._call("on_epoch_end", epoch, logs)

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


#: The Keras 2 hooks the training batch hooks call.
_BATCH_ALIASES = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}


def _overrides(callback, hook):
    """Whether ``callback`` does something in ``hook``: its class overrides it (or the Keras 2
    alias the hook calls), or the instance was given its own function (``LambdaCallback``)."""
    own = getattr(callback, "__dict__", {})
    for name in (hook, _BATCH_ALIASES.get(hook)):
        if name is not None and (name in own or getattr(type(callback), name) is not getattr(Callback, name)):
            return True
    return False


def _learning_rate(optimizer):
    """The optimizer's learning rate as Keras reads it from its float32 variable (0.1 reads as
    0.10000000149011612): the value callbacks log, print and pass to a schedule."""
    return float(np.float32(optimizer.learning_rate))


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

    def _monitored(self, logs, warn=True):
        value = (logs or {}).get(self.monitor)
        if value is None:
            alias = _LEGACY_ALIASES.get(self.monitor)
            value = (logs or {}).get(alias) if alias else None
        if value is None and warn:
            warnings.warn(
                f"{type(self).__name__}: the monitored metric '{self.monitor}' is not available. "
                f"Available metrics are: {', '.join(logs or {})}.",
                stacklevel=3,
            )
        return value

    def _improved(self, value, reference):
        """Whether ``value`` beats ``reference`` by more than ``min_delta``, in the mode's
        direction; anything beats a ``reference`` of None (no value seen yet), even NaN."""
        return reference is None or self.sign * (value - reference) > self.min_delta


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
    """Saves the model (or its weights) after each epoch, or every ``save_freq`` batches.

    Args:
        filepath: where to save; may hold ``{epoch:02d}``, ``{batch}`` (with an integer
            ``save_freq``) and any log, e.g. ``'w.{epoch:02d}-{val_loss:.2f}.keras'`` (epochs
            and batches count from 1). A name ending in '.keras' gets the whole model
            (``model.save``), as does '.h5' (Keras 2's model file); one ending in '.weights.h5'
            the weights (``model.save_weights``).
        monitor: the log compared when ``save_best_only``.
        verbose: 1 prints a line per decision and per save.
        save_best_only: save only when the monitored value improves on the best so far (when
            the log is missing, every time, with a warning, as Keras does).
        save_weights_only: save only the weights; the filepath must then end in '.weights.h5'.
        mode: 'min', 'max' or 'auto' (max for accuracies, min otherwise).
        save_freq: 'epoch', or an integer: save after every that many training batches
            (counted across epochs).
        initial_value_threshold: the value the first save must beat (with ``save_best_only``).
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
        self.save_freq = _check_save_freq(save_freq, "Unrecognized save_freq: {}. Expected save_freq are 'epoch' or integer values")
        if save_weights_only and not name.endswith(".weights.h5"):
            raise ValueError(
                "When using `save_weights_only=True` in `ModelCheckpoint`, the filepath provided "
                f"must end in `.weights.h5` (Keras weights format). Received: filepath={name}"
            )
        if not name.endswith((".keras", ".h5")):
            raise ValueError(
                "The filepath provided must end in `.keras` (Keras model format), `.h5` (Keras 2's) "
                f"or `.weights.h5` (the weights alone). Received: filepath={name}"
            )
        self._init_monitor(monitor, mode)
        self.min_delta = 0
        self.filepath = name
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.best = initial_value_threshold
        self._batches = _BatchCounter(self.save_freq)
        self._current_epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._batches.due(batch):
            self._save(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _file_path(self, epoch, batch, logs):
        """``filepath`` filled in: epoch (and batch) counted from 1, then the logs."""
        fields = {"epoch": epoch + 1}
        if batch is not None and "batch" not in logs:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields, **logs)
        except KeyError as error:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". Reason: {error}') from None

    def _should_save(self, epoch, logs, path):
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {path}")
            return True
        value = self._monitored(logs, warn=False)
        if value is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=4)
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._improved(value, self.best):
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {value:.5f}, saving model to {path}")
            self.best = value
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save(self, epoch, batch, logs):
        logs = logs or {}
        path = self._file_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, path):
            return
        if os.path.isdir(path):
            raise OSError(
                "Please specify a non-directory filepath for ModelCheckpoint. Filepath used is an "
                f"existing directory: {path}"
            )
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if path.endswith(".weights.h5"):
            self.model.save_weights(path, overwrite=True)
        else:
            self.model.save(path, overwrite=True)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: finished saving model to {path}")

    def __repr__(self):
        return (
            f"ModelCheckpoint(filepath={self.filepath!r}, monitor={self.monitor!r}, "
            f"save_best_only={self.save_best_only}, save_freq={self.save_freq!r}; best={self.best})"
        )


def _check_save_freq(save_freq, message):
    """``save_freq`` as given: 'epoch' or a positive integer of batches.

    Raises:
        ValueError: ``message`` with the value filled in.
    """
    if save_freq == "epoch" or (isinstance(save_freq, numbers.Integral) and not isinstance(save_freq, bool) and save_freq >= 1):
        return save_freq if save_freq == "epoch" else int(save_freq)
    raise ValueError(message.format(save_freq))


class _BatchCounter:
    """Counts training batches across epochs and says when ``every`` more have run, as Keras
    counts them for ``save_freq``: the batch index restarting at 0 marks a new epoch."""

    def __init__(self, every):
        self.every = every
        self.seen = 0
        self.last = None

    def due(self, batch):
        if self.every == "epoch":
            return False
        self.seen += batch + 1 if self.last is None or batch <= self.last else batch - self.last
        self.last = batch
        if self.seen >= self.every:
            self.seen = 0
            return True
        return False


class TerminateOnNaN(Callback):
    """Stops training as soon as the loss is NaN or infinite.

    Args:
        raise_error: raise a RuntimeError at once instead of stopping training gracefully
            (``model.stop_training``); no callback's ``on_train_end`` then runs, so that, for
            instance, a ``BackupAndRestore`` backup is kept.
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or np.isfinite(loss):
            return
        if self.raise_error:
            raise RuntimeError(
                f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. Terminating "
                "training immediately."
            )
        print(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True


class ReduceLROnPlateau(Callback, _MonitorMixin):
    """Reduces the learning rate when the monitored value has stopped improving.

    After ``patience`` epochs without an improvement larger than ``min_delta``, the optimizer's
    learning rate becomes ``max(lr * factor, min_lr)`` (unless it is already at ``min_lr``), ``lr``
    read in float32 as Keras reads it (0.1 is 0.10000000149011612, and halves to
    0.05000000074505806). The first epoch's value is the first best, whatever it is. Epochs
    without improvement are then not counted until ``cooldown`` more epochs have ended; as in Keras
    the countdown runs before the check, so the first epoch counted again is the ``cooldown``-th
    after the reduction. Each epoch's rate is added to the logs (and so to the History) as
    'learning_rate', read in float32.

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
        self.best = None
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
        logs["learning_rate"] = _learning_rate(optimizer)
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
        old_lr = _learning_rate(optimizer)
        # Compared in float32, the precision Keras keeps the rate in, so that a rate already at
        # min_lr is left alone whichever way min_lr rounds.
        if old_lr > np.float32(self.min_lr):
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
            the current rate ``lr`` (read in float32, as Keras reads it: 0.1 is passed as
            0.10000000149011612); a function of the epoch alone, ``schedule(epoch)``, also works.
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
            learning_rate = self.schedule(epoch, _learning_rate(optimizer))
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
            logs["learning_rate"] = _learning_rate(self.model.optimizer)

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
    first epoch; when none of them is a 'val_' log, 'val_' columns for each follow (written 'NA'
    until validation logs appear), as Keras 3 writes them. Epochs count from 0; a log missing
    later is written 'NA', one holding several values as '"[a, b]"'. Rows are written with
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
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys += [f"val_{key}" for key in self.keys]
            self._writer = csv.writer(self.csv_file, delimiter=self.sep)
            if self._write_header:
                self._writer.writerow(["epoch", *self.keys])
        self._writer.writerow([epoch, *(_csv_value(logs.get(key, "NA")) for key in self.keys)])
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        self._close()

    def _close(self):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self._writer = None

    def __repr__(self):
        return f"CSVLogger(filename={self.filename!r}, separator={self.sep!r}, append={self.append})"


def _csv_value(value):
    """A log as CSVLogger writes it: several values as the text '"[a, b]"' (which the csv
    writer quotes once more), anything else as it is."""
    if isinstance(value, str) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value
    if isinstance(value, collections.abc.Iterable):
        return f'"[{", ".join(map(str, value))}]"'
    return value


class LambdaCallback(Callback):
    """A callback made of functions, Keras' way to write a small one inline.

    Each function is called with the arguments of its hook: ``on_epoch_begin(epoch, logs)``,
    ``on_epoch_end(epoch, logs)``, ``on_train_begin(logs)``, ``on_train_end(logs)``,
    ``on_train_batch_begin(batch, logs)``, ``on_train_batch_end(batch, logs)``; any other hook
    (``on_batch_end``, Keras 2's name for ``on_train_batch_end``, ``on_test_begin``, ...) may be
    given by its name as a keyword argument.

    Raises:
        TypeError: for a keyword argument that names no hook.
    """

    def __init__(
        self,
        on_epoch_begin=None,
        on_epoch_end=None,
        on_train_begin=None,
        on_train_end=None,
        on_train_batch_begin=None,
        on_train_batch_end=None,
        **kwargs,
    ):
        super().__init__()
        hooks = {name for name in vars(Callback) if name.startswith("on_")}
        unknown = sorted(set(kwargs) - hooks)
        if unknown:
            raise TypeError(
                f"LambdaCallback got unexpected keyword argument(s) {unknown}: the hooks are "
                f"{', '.join(sorted(hooks))}."
            )
        functions = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin,
            "on_train_batch_end": on_train_batch_end,
            **kwargs,
        }
        for name, function in functions.items():
            if function is not None:
                setattr(self, name, function)

    def __repr__(self):
        given = sorted(name for name in vars(self) if name.startswith("on_"))
        return f"LambdaCallback({', '.join(given)})"


class BackupAndRestore(Callback):
    """Backs up the training state, so that a run that crashed resumes where it stopped.

    At the end of each epoch (or every ``save_freq`` batches) the callback writes, in
    ``backup_dir``, the weights and the optimizer's state (``latest.weights.h5``, Keras 3's
    layout) and where training stands (``training_metadata.json``: the epoch to start from, and
    beyond Keras, the exact learning rate and the state of the random generators that shuffle
    the data and drop units). When ``fit`` starts with a backup there, the callback restores it
    and training continues from that epoch: a run resumed from an end-of-epoch backup ends with
    the same weights, to the bit, as a run never interrupted. A backup taken in the middle of an
    epoch restarts that epoch from its first batch with the weights of the backup, as Keras
    does. The state of other callbacks (ReduceLROnPlateau's count of epochs without
    improvement, EarlyStopping's best value) is not backed up, as in Keras. The files are
    deleted when training ends (not when it crashes).

    Args:
        backup_dir: the folder for the backup; it must hold nothing else (another run's backup
            would be restored).
        save_freq: 'epoch', or an integer: back up every that many training batches.
        double_checkpoint: keep the previous backup too (``*.bkp``), used when the latest one
            cannot be read.
        delete_checkpoint: delete the backup when training ends.

    Raises:
        ValueError: for an empty ``backup_dir`` or a ``save_freq`` of another kind; when
            training starts, for a model not built yet.
    """

    WEIGHTS = "latest.weights.h5"
    METADATA = "training_metadata.json"

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = _check_save_freq(
            save_freq,
            "Invalid value for argument `save_freq`. Received: save_freq={}. Expected either "
            "'epoch' or an integer value.",
        )
        self.double_checkpoint = double_checkpoint
        self.delete_checkpoint = delete_checkpoint
        self._weights_path = os.path.join(self.backup_dir, self.WEIGHTS)
        self._metadata_path = os.path.join(self.backup_dir, self.METADATA)
        self._batches = _BatchCounter(self.save_freq)
        self._current_epoch = 0
        self._last_batch_seen = 0

    def on_train_begin(self, logs=None):
        self._batches = _BatchCounter(self.save_freq)
        try:
            self._restore()
        except (OSError, ValueError):
            previous = self._weights_path + ".bkp"
            if not os.path.exists(previous):
                raise
            shutil.copyfile(previous, self._weights_path)
            if os.path.exists(self._metadata_path + ".bkp"):
                shutil.copyfile(self._metadata_path + ".bkp", self._metadata_path)
            elif os.path.exists(self._metadata_path):
                os.remove(self._metadata_path)
            self._restore()

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch  # where a backup taken during this epoch resumes

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if self.save_freq == "epoch":
            self._backup()

    def on_train_batch_end(self, batch, logs=None):
        if self._batches.due(batch):
            self._last_batch_seen = batch
            self._backup()

    def on_train_end(self, logs=None):
        if not self.delete_checkpoint:
            return
        for path in (self._weights_path, self._metadata_path):
            for name in (path, path + ".bkp"):
                if os.path.exists(name):
                    os.remove(name)
        if os.path.isdir(self.backup_dir) and not os.listdir(self.backup_dir):
            os.rmdir(self.backup_dir)

    def _restore(self):
        """Gives the model the backed-up weights, optimizer state and random generators, and
        ``fit`` the epoch to start from."""
        model = self.model
        if not model.built:
            raise ValueError(
                "To use the BackupAndRestore callback, your model must be built before you call "
                f"`fit()`. Model {model} is unbuilt. You can build it beforehand by calling it on "
                "a batch of data."
            )
        if os.path.exists(self._weights_path):
            _restore_weights(model, self._weights_path)
        if not os.path.exists(self._metadata_path):
            return
        with open(self._metadata_path, encoding="utf-8") as file:
            try:
                metadata = json.load(file)
            except json.JSONDecodeError as error:
                raise ValueError(f"{self._metadata_path} is not readable JSON: {error}") from None
        iterations = metadata.get("iterations")
        if iterations is not None and model.optimizer.iterations != iterations:
            raise ValueError(
                f"{self._weights_path} holds the state after {model.optimizer.iterations} steps, "
                f"{self._metadata_path} describes the state after {iterations}: the backup was "
                f"interrupted while being written. Delete {self.backup_dir} to train from the start."
            )
        if "learning_rate" in metadata and model.optimizer._has_rate_variable():  # a schedule follows the step count
            model.optimizer.learning_rate = float(metadata["learning_rate"])
        _set_random_state(model, metadata.get("random_state", {}))
        model._initial_epoch = int(metadata["epoch"])

    def _backup(self):
        """Writes the weights and optimizer state, then the metadata, each atomically."""
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint:
            for path in (self._weights_path, self._metadata_path):
                if os.path.exists(path):
                    shutil.copyfile(path, path + ".bkp")
        model = self.model
        _write_weights_and_optimizer(model, self._weights_path)
        metadata = {
            "epoch": self._current_epoch,
            "batch": self._last_batch_seen,
            "iterations": int(model.optimizer.iterations),
            "learning_rate": float(model.optimizer.learning_rate),
            "random_state": _random_state(model),
        }
        with atomic_write(self._metadata_path) as file:
            file.write(json.dumps(metadata).encode("utf-8"))

    def __repr__(self):
        return f"BackupAndRestore(backup_dir={self.backup_dir!r}, save_freq={self.save_freq!r})"


def _write_weights_and_optimizer(model, path):
    """Writes the weights and the optimizer's state in Keras 3's '.weights.h5' layout
    (``optimizer/vars`` beside ``layers``), atomically."""
    from tinykeras import saving

    model._train_variables()  # builds the optimizer for the weights, so that its state is written
    with atomic_write(path) as file:
        saving._write_weights(model, file, include_optimizer=True)


def _restore_weights(model, path):
    """Loads the weights of ``path`` and, when it holds them, the optimizer's state (every shape
    checked before anything is set)."""
    import h5py

    from tinykeras import saving

    model.load_weights(path)
    with saving.open_hdf5(path) as f:
        group = f.get("optimizer/vars")
        if not isinstance(group, h5py.Group):
            return
        state = saving.read_optimizer_state(model, saving._vars(group, path, "optimizer/vars", kinds="fiu"), path)
    if state is not None:
        saving.restore_optimizer(model, state, path)


def _generators(model):
    """The random generators training draws from: tinykeras' own (shuffling, unseeded dropout)
    and each seeded layer's, by the layer's place in the model ('layer:2', and 'layer:3/0' for
    the first layer of a model used as its fourth layer), which a rebuilt model shares."""
    found = {"backend": backend.rng()}
    pending = [(str(index), layer) for index, layer in enumerate(model.layers)]
    while pending:
        place, layer = pending.pop(0)
        generator = getattr(layer, "_rng", None)
        if isinstance(generator, np.random.Generator):
            found[f"layer:{place}"] = generator
        pending += [(f"{place}/{index}", inner) for index, inner in enumerate(getattr(layer, "layers", []))]
    return found


def _random_state(model):
    return {name: generator.bit_generator.state for name, generator in _generators(model).items()}


def _set_random_state(model, states):
    generators = _generators(model)
    for name, state in states.items():
        if name in generators:
            generators[name].bit_generator.state = state


from tinykeras._missing import attribute_error_for  # noqa: E402

__getattr__ = attribute_error_for(__name__)
