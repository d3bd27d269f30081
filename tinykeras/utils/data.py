"""Input checking and batching for fit, evaluate and predict."""
import itertools

import numpy as np

from tinykeras import backend


def check_inputs(x, model, method, finite=True, index=0):
    """Converts x to an array of the model's float type (of an integer input's type for
    integers) and checks it.

    Args:
        index: which of the model's inputs x is for.
        finite: refuse NaN and infinite values (training and evaluation do; prediction, as in
            Keras, lets them through to the rows that hold them).

    Raises:
        TypeError: for non-numeric data.
        ValueError: for empty data, NaN/inf values (with ``finite``), or a shape the model does
            not take (with the reshape that would fix it).
    """
    if x is None:
        raise ValueError(f"{method}: x is None. Pass the input data as a NumPy array.")
    array = _as_array(x, method, "inputs")
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{method}: inputs must be numeric; received an array of dtype {array.dtype}. "
            "Convert them with np.asarray(x, dtype='float32'); an object array usually holds "
            "None values or rows of different lengths, which must be filled in first."
        )
    if array.ndim == 0:
        raise ValueError(
            f"{method}: expected inputs with a batch axis first; received a scalar {array!r}. "
            "Pass an array of shape (samples, ...), e.g. np.array([[...], ...])."
        )
    if len(array) == 0:
        raise ValueError(
            f"{method}: expected at least one input sample; received empty inputs of shape "
            f"{array.shape}. Check that the data loaded and that any filtering kept some samples."
        )
    array = np.ascontiguousarray(array, dtype=_input_dtype(model, index, array))
    if finite and array.dtype.kind == "f":
        _check_finite(array, method, "inputs")
    if model.built:
        _check_shape(array.shape, model, method, index)
    return array


def _input_dtype(model, index, array):
    """The float type, or for an input declared with an integer type (``keras.Input(shape,
    dtype="int32")``: token ids) and given integers, that type."""
    inputs = getattr(model, "inputs", None) if model.built else None
    declared = np.dtype(inputs[index].dtype) if inputs and index < len(inputs) else None
    if declared is not None and declared.kind in "iu" and array.dtype.kind in "iub":
        return declared
    return backend.floatx()


def _check_finite(array, method, what):
    # min and max propagate NaN and reach any infinity: two passes without a temporary array as
    # large as the data (np.isfinite(x) would add a boolean copy of x to the peak memory).
    if array.size == 0 or (np.isfinite(array.min()) and np.isfinite(array.max())):
        return
    bad = np.argwhere(~np.isfinite(array))
    where = ", ".join(str(tuple(int(i) for i in index)) for index in bad[:3])
    raise ValueError(
        f"{method}: the {what} contain {len(bad)} NaN or infinite value(s), first at index "
        f"{where}. Remove or impute them (e.g. with np.nan_to_num) before calling {method}."
    )


def _as_array(data, method, what):
    """np.asarray, with a clear message for nested lists of different lengths."""
    try:
        return np.asarray(data)
    except ValueError as error:
        raise ValueError(
            f"{method}: the {what} must form a rectangular array, one row per sample; "
            f"NumPy could not convert them: {error} Pad or truncate the rows to one length."
        ) from None


def _check_shape(shape, model, method, index):
    tensors = model._graph.inputs
    expected = tensors[index].shape
    if len(shape) == len(expected) and all(
        e is None or e == s for e, s in zip(expected[1:], shape[1:])
    ):
        return
    if len(tensors) > 1:
        first = tensors[index].node.layer.name
    else:
        first = model.layers[0].name if model.layers else model.name
    sample = expected[1:]
    if None not in sample and np.prod(shape[1:]) == np.prod(sample):
        fix = f" Reshape it with x.reshape(-1, {', '.join(str(d) for d in sample)})."
    else:
        fix = (
            f" Pass inputs of that shape, or build the model for this data by giving the first "
            f"layer input_shape={tuple(shape[1:])}."
        )
    raise ValueError(
        f"{method}: layer '{first}' of model '{model.name}' expects inputs of shape {expected}, "
        f"received inputs of shape {(None,) + tuple(shape[1:])}.{fix}"
    )


def check_targets(y, x, method):
    """Checks that there is one target per input sample and that the targets are numeric."""
    array = _as_array(y, method, "targets")
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{method}: targets must be numeric; received an array of dtype {array.dtype}. "
            "Encode class names as integer labels, e.g. with "
            "labels, y = np.unique(y, return_inverse=True)."
        )
    if array.ndim == 0 or len(array) != len(x):
        raise ValueError(
            f"{method}: x and y must have the same number of samples; received x with "
            f"{len(x)} and y with {array.shape[0] if array.ndim else 0} (shapes {np.shape(x)} "
            f"and {array.shape}). Pass one target per input sample, and slice or shuffle x and y "
            "together."
        )
    if array.dtype.kind == "f":
        _check_finite(array, method, "targets")
    return array


def split_validation(x, y, validation_split, sample_weight=None):
    """Holds out the last ``validation_split`` fraction of the samples (and of their weights),
    as Keras does.

    Returns:
        ((x_train, y_train, weights_train), (x_val, y_val, weights_val)).
    """
    if not 0 < validation_split < 1:
        raise ValueError(
            f"validation_split must be between 0 and 1. Received: validation_split={validation_split}"
        )
    samples = _samples(x)
    split_at = int(samples * (1 - validation_split))
    if split_at == 0 or split_at == samples:
        raise ValueError(
            f"validation_split={validation_split} leaves no samples on one side of the split of "
            f"{samples} samples."
        )
    head, tail = slice(None, split_at), slice(split_at, None)
    return ((rows(x, head), rows(y, head), rows(sample_weight, head)),
            (rows(x, tail), rows(y, tail), rows(sample_weight, tail)))


def rows(data, index):
    """``data[index]`` for an array, for each array of a list (a model's several inputs or
    outputs), or None. ``index`` is a slice, or an array of indices (then a copy is taken)."""
    if data is None:
        return None
    if isinstance(data, list):
        return [rows(array, index) for array in data]
    return data[index] if isinstance(index, slice) else data.take(index, axis=0)


def _samples(data):
    return len(data[0]) if isinstance(data, list) else len(data)


def iterate_batches(x, y, batch_size, shuffle, sample_weight=None):
    """Yields (x_batch, y_batch) slices, or (x_batch, y_batch, weights_batch) with
    ``sample_weight``; the last batch may be smaller.

    With ``shuffle`` the order is a fresh permutation drawn from ``backend.rng()``.
    """
    n = _samples(x)
    order = backend.rng().permutation(n) if shuffle else None
    for start in range(0, n, batch_size):
        index = slice(start, start + batch_size) if order is None else order[start : start + batch_size]
        if sample_weight is None:
            yield rows(x, index), rows(y, index)
        else:
            yield rows(x, index), rows(y, index), rows(sample_weight, index)


# ---- where batches come from: arrays, a sequence of batches, or a generator -----------------


def is_array_data(x):
    """Whether ``x`` is array data (a NumPy array or nested lists of numbers) rather than a
    source of ready-made batches."""
    return isinstance(x, (np.ndarray, list, tuple, dict, int, float)) or x is None


class ArrayBatches:
    """Batches sliced from in-memory arrays.

    Args:
        x, y: checked arrays (y may be None).
        batch_size: samples per batch.
        shuffle: draw a new order for each epoch.
        steps: optional cap on the batches of one epoch.
    """

    def __init__(self, x, y, batch_size, shuffle=False, steps=None, sample_weight=None):
        self.x, self.y = x, y
        self.sample_weight = sample_weight
        self.batch_size = batch_size
        self.shuffle = shuffle
        available = -(-_samples(x) // batch_size)
        self.steps = available if steps is None else min(int(steps), available)

    def epoch(self):
        """Yields the (x, y) batches of one epoch."""
        batches = iterate_batches(self.x, self.y, self.batch_size, self.shuffle, self.sample_weight)
        for _, batch in zip(range(self.steps), batches):
            yield batch

    def __repr__(self):
        return f"<ArrayBatches samples={_samples(self.x)}, batch_size={self.batch_size}, steps={self.steps}>"


class SequenceBatches:
    """Batches read by index from a sequence: a ``keras.utils.PyDataset`` (Keras 2's
    ``Sequence``) or any object with ``len()`` and ``[i]``, such as
    ``ImageDataGenerator.flow(...)``. Each epoch starts with the sequence's ``on_epoch_begin()``
    and ends with its ``on_epoch_end()``, when it has them (that is where a sequence
    reshuffles).

    Args:
        sequence: the sequence of batches.
        steps: batches per epoch (by default all of them; at most that many).
        prepare: ``prepare(batch, number)`` checks and converts one batch, the ``number``-th
            (from 1) of the epoch, returning (x, y).
        shuffle: read the batches in a new order each epoch, drawn from ``backend.rng()`` (as
            Keras' ``fit(..., shuffle=True)`` does); the first ``steps`` of that order.
        length: the number of batches, for a sequence that gives it as ``num_batches`` rather
            than ``len()``.
    """

    def __init__(self, sequence, steps, prepare, method, shuffle=False, length=None):
        self.sequence = sequence
        available = len(sequence) if length is None else int(length)
        if available == 0:
            raise ValueError(f"{method}: the sequence of batches passed as x is empty (len 0).")
        if steps is not None and int(steps) > available:
            raise ValueError(
                f"{method}: steps={int(steps)} is more than the {available} batches the sequence "
                f"of type {type(sequence).__name__} holds per epoch. Pass at most {available}, or "
                "None to use them all."
            )
        self.available = available
        self.steps = available if steps is None else int(steps)
        self.prepare = prepare
        self.shuffle = shuffle

    def epoch(self):
        _call_hook(self.sequence, "on_epoch_begin")
        order = backend.rng().permutation(self.available)[: self.steps] if self.shuffle else range(self.steps)
        for number, index in enumerate(order, start=1):
            yield self.prepare(self.sequence[int(index)], number)
        _call_hook(self.sequence, "on_epoch_end")

    def __repr__(self):
        return f"<SequenceBatches {type(self.sequence).__name__}, steps={self.steps}, shuffle={self.shuffle}>"


def _call_hook(source, name):
    hook = getattr(source, name, None)
    if callable(hook):
        hook()


class IteratorBatches:
    """Batches drawn from an iterator, such as a Python generator of (x, y) tuples, or from a
    dataset iterated anew each epoch (``restart``).

    Each epoch takes ``steps`` batches, continuing where the previous epoch stopped (or, with
    ``restart``, from a fresh iterator); without ``steps`` an epoch lasts until the iterator is
    exhausted. ``ran_out`` becomes True when the iterator ends before an epoch has its batches.

    Args:
        iterable: the iterator or iterable.
        steps: batches per epoch, or None.
        prepare: ``prepare(batch, number)`` checks and converts one batch, the ``number``-th
            (from 1) of the epoch, returning (x, y).
        restart: call ``iter(iterable)`` at the start of each epoch (an iterable such as the
            one ``timeseries_dataset_from_array`` returns, which is read in full each epoch).
        hooks: an object whose ``on_epoch_begin()`` and ``on_epoch_end()``, if it has them, are
            called around each epoch (an endless ``PyDataset``).
    """

    def __init__(self, iterable, steps, prepare, restart=False, hooks=None):
        self.iterable = iterable
        self.iterator = None if restart else iter(iterable)
        if steps is None and restart:
            steps = len(iterable)
        self.steps = None if steps is None else int(steps)
        self.prepare = prepare
        self.hooks = hooks
        self.ran_out = False

    def epoch(self):
        iterator = iter(self.iterable) if self.iterator is None else self.iterator
        _call_hook(self.hooks, "on_epoch_begin")
        count = 0
        while self.steps is None or count < self.steps:
            try:
                batch = next(iterator)
            except StopIteration:
                self.ran_out = self.steps is not None or count == 0
                return
            count += 1
            yield self.prepare(batch, count)
        _call_hook(self.hooks, "on_epoch_end")

    def __repr__(self):
        return f"<IteratorBatches steps={self.steps}, restart={self.iterator is None}>"


def batch_source(x, steps, prepare, method, shuffle=False):
    """The batches of a source that makes its own: a ``PyDataset`` or other sequence of batches
    (read by index, in a new order each epoch with ``shuffle``), an iterable dataset with a
    length, such as the one ``timeseries_dataset_from_array`` returns (read in full each
    epoch, in its order), or an iterator such as a generator (drawn from across epochs).

    Args:
        x: the source.
        steps: batches per epoch, or None for all of them.
        prepare: ``prepare(batch, number)`` checks and converts one batch.
        method: 'fit', 'evaluate' or 'predict', for messages.
        shuffle: whether fit asked for shuffling (applies to sequences).

    Raises:
        TypeError: for an object that is none of these; ValueError: for an endless
            ``PyDataset`` without ``steps``.
    """
    from tinykeras.utils.py_dataset import PyDataset

    if isinstance(x, PyDataset):
        count = x.num_batches
        if count is not None:
            return SequenceBatches(x, steps, prepare, method, shuffle, length=count)
        if steps is None:
            raise ValueError(
                f"{method}: the {type(x).__name__} is endless (its num_batches is None): pass the "
                "batches per epoch as steps_per_epoch (steps for evaluate and predict)."
            )
        return IteratorBatches((x[index] for index in itertools.count()), steps, prepare, hooks=x)
    if hasattr(x, "__len__") and hasattr(x, "__getitem__"):
        return SequenceBatches(x, steps, prepare, method, shuffle)
    if hasattr(x, "__iter__") and hasattr(x, "__len__") and not hasattr(x, "__next__"):
        return IteratorBatches(x, steps, prepare, restart=True)
    if hasattr(x, "__iter__") or hasattr(x, "__next__"):
        return IteratorBatches(x, steps, prepare)
    raise TypeError(
        f"{method}: x must be a NumPy array, a sequence of batches or a generator of batches. "
        f"Received: {type(x).__name__}."
    )


def unpack_batch(batch, method, needs_targets):
    """Splits a batch yielded by a sequence or generator into (x, y, sample_weight).

    A batch is ``(x, y, sample_weight)``, ``(x, y)``, ``(x,)`` or a lone x; y may be missing
    only when ``needs_targets`` is False.
    """
    sample_weight = None
    if isinstance(batch, (tuple, list)):
        if len(batch) == 1:
            x, y = batch[0], None
        elif len(batch) == 2:
            x, y = batch
        elif len(batch) == 3:
            x, y, sample_weight = batch
        else:
            raise ValueError(
                f"{method}: each batch must be (x, y, sample_weight), (x, y) or (x,); received a "
                f"{type(batch).__name__} of {len(batch)} items."
            )
    else:
        x, y = batch, None
    if y is None and needs_targets:
        raise ValueError(
            f"{method}: each batch must be a tuple (x, y) of inputs and targets; received "
            f"{type(batch).__name__} without targets."
        )
    return x, y, sample_weight


def unpack_x_y_sample_weight(data):
    """``keras.utils.unpack_x_y_sample_weight``: ``(x, y, sample_weight)`` of a batch given as
    ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` (None for what it lacks), as a
    custom ``train_step`` unpacks its data."""
    return unpack_batch(data, "unpack_x_y_sample_weight", needs_targets=False)


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """``keras.utils.pack_x_y_sample_weight``: the batch ``unpack_x_y_sample_weight`` reads back:
    x alone (``(x,)`` when x is a tuple or list), ``(x, y)`` or ``(x, y, sample_weight)``."""
    if y is None:
        return (x,) if isinstance(x, (tuple, list)) else x
    return (x, y) if sample_weight is None else (x, y, sample_weight)


def check_sample_weight(sample_weight, samples, method, output):
    """``sample_weight`` as a float array with one finite weight per sample (its first axis of
    length ``samples``), for the output named ``output``.

    Raises:
        ValueError: naming the output and the lengths, or the values.
    """
    weights = np.asarray(sample_weight)
    if weights.dtype.kind not in "biuf" or weights.ndim == 0:
        raise ValueError(
            f"{method}: sample_weight for output '{output}' must be an array of numbers with one "
            f"weight per sample; received {type(sample_weight).__name__} of dtype {weights.dtype} "
            f"and shape {weights.shape}."
        )
    if len(weights) != samples:
        raise ValueError(
            f"{method}: sample_weight for output '{output}' has {len(weights)} weights for "
            f"{samples} samples. Pass one weight per sample."
        )
    weights = weights.astype(backend.floatx())
    if not np.all(np.isfinite(weights)):
        raise ValueError(f"{method}: sample_weight for output '{output}' holds NaN or infinite values.")
    return weights


def class_weights(class_weight, y, method):
    """One weight per sample, its class's in ``class_weight`` ({class index: weight}; 1 for a
    class not in it): the class of a one-hot or probability target is its argmax, of a label
    its rounded value, as Keras reads them.

    Raises:
        ValueError: for a class_weight that is not a dict with integer keys and finite values.
    """
    if not hasattr(class_weight, "items"):
        raise ValueError(
            f"{method}: class_weight must be a dict mapping class indices to weights, e.g. "
            f"{{0: 1.0, 1: 5.0}}; received {type(class_weight).__name__}."
        )
    table = {}
    for key, value in class_weight.items():
        try:
            table[int(key)] = float(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"{method}: class_weight must map integer class indices to numbers; received "
                f"{key!r}: {value!r}."
            ) from None
    labels = np.asarray(y)
    if labels.ndim > 1:
        labels = np.argmax(labels, axis=-1) if labels.shape[-1] != 1 else labels[..., 0]
    labels = np.round(labels).astype(np.int64).reshape(len(labels), -1)[:, 0]
    weights = np.ones(len(labels), dtype=backend.floatx())
    for label, weight in table.items():
        weights[labels == label] = weight
    return weights
