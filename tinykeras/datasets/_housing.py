"""The train/test split Keras makes of its housing datasets (``boston_housing``,
``california_housing``): one shuffle by ``np.random.RandomState(seed)``, then the first
``1 - test_split`` of the rows for training."""
import numpy as np


def check_test_split(test_split):
    if not 0 <= test_split < 1:
        raise ValueError(
            f"Invalid `test_split` argument: {test_split}. It must be between 0 and 1 (exclusive of 1).")


def split(x, y, test_split, seed):
    """``((x_train, y_train), (x_test, y_test))`` from ``x`` and ``y`` shuffled with ``seed``."""
    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)
    x, y = x[indices], y[indices]
    cut = int(len(x) * (1 - test_split))
    return (np.array(x[:cut]), np.array(y[:cut])), (np.array(x[cut:]), np.array(y[cut:]))
