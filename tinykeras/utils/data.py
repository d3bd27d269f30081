"""Input checking and batching for fit, evaluate and predict."""
import numpy as np

from tinykeras import backend


def check_inputs(x, model, method):
    """Converts x to a float array of the model's float type and checks it.

    Raises:
        TypeError: for non-numeric data.
        ValueError: for empty data, NaN/inf values, or a shape the model does not take (with the
            reshape that would fix it).
    """
    if x is None:
        raise ValueError(f"{method}: x is None. Pass the input data as a NumPy array.")
    array = np.asarray(x)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{method}: inputs must be numeric; received an array of dtype {array.dtype}. "
            "Convert them with np.asarray(x, dtype='float32')."
        )
    if array.ndim == 0 or len(array) == 0:
        raise ValueError(f"{method}: received empty inputs of shape {array.shape}.")
    array = np.ascontiguousarray(array, dtype=backend.floatx())
    _check_finite(array, method, "inputs")
    if model.built:
        _check_shape(array.shape, model, method)
    return array


def _check_finite(array, method, what):
    finite = np.isfinite(array)
    if not finite.all():
        bad = np.argwhere(~finite)
        where = ", ".join(str(tuple(int(i) for i in index)) for index in bad[:3])
        raise ValueError(
            f"{method}: the {what} contain {len(bad)} NaN or infinite value(s), first at index "
            f"{where}. Clean or impute them before training."
        )


def _check_shape(shape, model, method):
    expected = model.input_shape
    if len(shape) == len(expected) and all(
        e is None or e == s for e, s in zip(expected[1:], shape[1:])
    ):
        return
    first = model.layers[0].name if model.layers else model.name
    fix = ""
    sample = expected[1:]
    if None not in sample and np.prod(shape[1:]) == np.prod(sample):
        fix = f" Reshape it with x.reshape(-1, {', '.join(str(d) for d in sample)})."
    raise ValueError(
        f"{method}: layer '{first}' of model '{model.name}' expects inputs of shape {expected}, "
        f"received inputs of shape {(None,) + tuple(shape[1:])}.{fix}"
    )


def check_targets(y, x, method):
    """Checks that there is one target per input sample and that the targets are numeric."""
    array = np.asarray(y)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{method}: targets must be numeric; received an array of dtype {array.dtype}."
        )
    if array.ndim == 0 or len(array) != len(x):
        raise ValueError(
            f"{method}: x and y must have the same number of samples; received x with "
            f"{len(x)} and y with {array.shape[0] if array.ndim else 0} (shapes {x.shape} and "
            f"{array.shape})."
        )
    if array.dtype.kind == "f":
        _check_finite(array, method, "targets")
    return array


def split_validation(x, y, validation_split):
    """Holds out the last ``validation_split`` fraction of the samples, as Keras does.

    Returns:
        ((x_train, y_train), (x_val, y_val)).
    """
    if not 0 < validation_split < 1:
        raise ValueError(
            f"validation_split must be between 0 and 1. Received: validation_split={validation_split}"
        )
    split_at = int(len(x) * (1 - validation_split))
    if split_at == 0 or split_at == len(x):
        raise ValueError(
            f"validation_split={validation_split} leaves no samples on one side of the split of "
            f"{len(x)} samples."
        )
    return (x[:split_at], y[:split_at]), (x[split_at:], y[split_at:])


def iterate_batches(x, y, batch_size, shuffle):
    """Yields (x_batch, y_batch) slices; the last batch may be smaller.

    With ``shuffle`` the order is a fresh permutation drawn from ``backend.rng()``.
    """
    n = len(x)
    if not shuffle:
        for start in range(0, n, batch_size):
            yield x[start : start + batch_size], None if y is None else y[start : start + batch_size]
        return
    order = backend.rng().permutation(n)
    for start in range(0, n, batch_size):
        index = order[start : start + batch_size]
        yield x.take(index, axis=0), None if y is None else y.take(index, axis=0)
