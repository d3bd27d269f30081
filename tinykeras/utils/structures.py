"""The data of models with several inputs or outputs: a list in the model's order, or a dict by
name, taken apart into one array per input (or output)."""
import numpy as np


def flatten(data, names, what, method, model_name):
    """``data`` as a list with one entry per name, in the order of ``names``.

    Args:
        data: one array (a model with one input or output), a list or tuple of them in the
            model's order, or a dict by name.
        names: the model's input (or output) names.
        what: 'inputs' or 'targets', for the messages.

    Raises:
        ValueError: naming the model, the names expected and what was received.
    """
    if isinstance(data, dict):
        missing = [name for name in names if name not in data]
        unknown = [key for key in data if key not in names]
        if missing or unknown:
            raise ValueError(
                f"{method}: model '{model_name}' takes its {what} by the names {names}; the dict "
                f"received has the keys {list(data)}"
                + (f" (missing: {missing})" if missing else "")
                + (f" (unknown: {unknown})" if unknown else "")
                + "."
            )
        return [data[name] for name in names]
    if len(names) == 1:
        if isinstance(data, (list, tuple)) and len(data) == 1 and isinstance(data[0], np.ndarray):
            return [data[0]]
        return [data]
    if isinstance(data, (list, tuple)) and len(data) == len(names) and not _numbers(data):
        return list(data)
    received = f"a {type(data).__name__} of {len(data)} entries" if isinstance(data, (list, tuple)) else (
        f"one array of shape {np.shape(data)}" if isinstance(data, np.ndarray) else type(data).__name__)
    raise ValueError(
        f"{method}: model '{model_name}' has {len(names)} {what[:-1]}s ({', '.join(names)}); "
        f"received {received}. Pass a list with one array per {what[:-1]}, in that order, or a "
        "dict by name."
    )


def _numbers(data):
    """Whether a list holds numbers (rows of one array) rather than one array per input."""
    return all(isinstance(entry, (int, float, np.number)) for entry in data)


def check_lengths(arrays, names, what, method):
    """Checks that every array has the same number of samples.

    Raises:
        ValueError: listing each array's number of samples.
    """
    sizes = [len(array) for array in arrays]
    if len(set(sizes)) > 1:
        listed = ", ".join(f"'{name}': {size}" for name, size in zip(names, sizes))
        raise ValueError(
            f"{method}: the {what} must all have the same number of samples; received {listed}. "
            "Slice them together."
        )
