"""The Boston Housing prices, as ``keras.datasets.boston_housing``: 13 attributes of houses
around Boston in the late 1970s and the median value (in k$) of each location.

Keras' warning stands: the attribute "B" encodes an assumption about race, and the dataset
should only be used to illustrate such problems (``california_housing`` is the replacement).
``load_data`` reads Keras' ``boston_housing.npz`` from ``$TINYKERAS_HOME/datasets/``, checked
against the SHA-256 Keras publishes whenever it is read, and downloaded there when missing.
"""
import os

from tinykeras.datasets import _cache, _housing

URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/boston_housing.npz"
SHA256 = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"
CACHE_NAME = "boston_housing.npz"


def load_data(path=CACHE_NAME, test_split=0.2, seed=113):
    """Loads the Boston Housing dataset, fetching Keras' file into the cache on first use.

    Args:
        path: the cached file, relative to ``$TINYKERAS_HOME/datasets`` (or absolute).
        test_split: the fraction of the rows, after shuffling, held out as the test set.
        seed: the seed of the shuffle (``np.random.RandomState(seed)``).

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: x arrays of shape (n, 13), y arrays of
        shape (n,) (404 and 102 rows by default), in the file's float dtype.

    Raises:
        ValueError: for a ``test_split`` outside [0, 1).
        DatasetUnavailableError: when the file is neither cached nor downloadable; the message
            says where to place it.
        IntegrityError: when ``path`` is not the default cache and its file is not Keras'.
    """
    _housing.check_test_split(test_split)
    arrays = _cache.load_published_npz(path, CACHE_NAME, "Boston Housing",
                                       _cache.PublishedFile([URL], SHA256, "sha256"), ["x", "y"])
    return _housing.split(arrays["x"], arrays["y"], test_split, seed)


def cache_path(path=CACHE_NAME):
    """Where ``load_data(path)`` keeps Keras' ``boston_housing.npz``."""
    return os.path.join(_cache.datasets_dir(), os.path.expanduser(path))
