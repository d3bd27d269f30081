"""Array helpers with Keras' names (``from tinykeras.utils import np_utils`` as in Keras 1 and 2)."""
import numpy as np


def to_categorical(y, num_classes=None):
    """One-hot encodes integer class labels.

    Args:
        y: integer labels, any shape (a trailing axis of size 1 is dropped, as Keras does).
        num_classes: the number of classes; by default ``max(y) + 1``.

    Returns:
        A float32 array of shape ``y.shape + (num_classes,)``.
    """
    y = np.asarray(y)
    if y.dtype.kind not in "iub" and not (y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0)):
        raise ValueError(
            f"to_categorical expects integer class labels; received an array of dtype {y.dtype}."
        )
    y = y.astype(np.int64)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y[..., 0]
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"to_categorical: labels must be in [0, {num_classes - 1}] for num_classes="
            f"{num_classes}; received labels from {y.min()} to {y.max()}."
        )
    categorical = np.zeros(y.shape + (num_classes,), dtype=np.float32)
    np.put_along_axis(categorical, y[..., None], 1, axis=-1)
    return categorical


def normalize(x, axis=-1, order=2):
    """x divided by its ``order``-norm along ``axis`` (Keras' ``utils.normalize``); a zero norm
    leaves its values as they are. A NumPy array in, a NumPy array out."""
    x = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, -1 if axis is None else axis)

