"""The California Housing prices, as ``keras.datasets.california_housing``: 8 attributes of each
block group of the 1990 U.S. census (median income, house age, rooms, bedrooms, population,
occupancy, latitude, longitude) and its median house value, in dollars.

``load_data`` reads Keras' ``california_housing.npz`` from ``$TINYKERAS_HOME/datasets/``,
checked against the SHA-256 Keras publishes whenever it is read, and downloaded there when
missing.
"""
import os

from tinykeras.datasets import _cache, _housing

URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/california_housing.npz"
SHA256 = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"
CACHE_NAME = "california_housing.npz"
SMALL_ROWS = 600
"""The rows of the 'small' version: the file's first 600."""


def load_data(version="large", path=CACHE_NAME, test_split=0.2, seed=113):
    """Loads the California Housing dataset, fetching Keras' file into the cache on first use.

    Args:
        version: 'large' for the 20,640 rows, 'small' for the first 600 (a stand-in for the
            Boston Housing dataset).
        path: the cached file, relative to ``$TINYKERAS_HOME/datasets`` (or absolute).
        test_split: the fraction of the rows, after shuffling, held out as the test set.
        seed: the seed of the shuffle (``np.random.RandomState(seed)``).

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: x arrays of shape (n, 8), y arrays of shape
        (n,), in the file's float dtype.

    Raises:
        ValueError: for a ``test_split`` outside [0, 1) or another ``version``.
        DatasetUnavailableError: when the file is neither cached nor downloadable; the message
            says where to place it.
        IntegrityError: when ``path`` is not the default cache and its file is not Keras'.
    """
    _housing.check_test_split(test_split)
    if version not in ("small", "large"):
        raise ValueError(f"Argument `version` must be one of 'small', 'large'. Received: version={version}")
    arrays = _cache.load_published_npz(path, CACHE_NAME, "California Housing",
                                       _cache.PublishedFile([URL], SHA256, "sha256"), ["x", "y"])
    x, y = arrays["x"], arrays["y"]
    if version == "small":
        x, y = x[:SMALL_ROWS], y[:SMALL_ROWS]
    return _housing.split(x, y, test_split, seed)


def cache_path(path=CACHE_NAME):
    """Where ``load_data(path=path)`` keeps Keras' ``california_housing.npz``."""
    return os.path.join(_cache.datasets_dir(), os.path.expanduser(path))
