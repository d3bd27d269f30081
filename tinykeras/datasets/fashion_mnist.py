"""Fashion-MNIST: 28x28 grayscale images of 10 kinds of clothing, as
``keras.datasets.fashion_mnist``.

``load_data()`` reads the four gzipped IDX files Keras serves, cached in
``$TINYKERAS_HOME/datasets/fashion-mnist/`` (Keras' own cache layout), each checked against the
MD5 Zalando publishes for it whenever it is read; a missing file is downloaded from Keras'
address, else from Zalando's repository. Files copied into that folder by hand are used offline.
"""
import os

from tinykeras.datasets import _cache, mnist

KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
ZALANDO_URL = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"
FOLDER = "fashion-mnist"
#: Each array's file and the MD5 Zalando publishes for it.
FILES = {
    "x_train": ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    "y_train": ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
    "x_test": ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
    "y_test": ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
}
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
               "Bag", "Ankle boot")
"""What each label 0-9 stands for."""


def load_data():
    """Loads Fashion-MNIST, fetching its files into the cache on first use.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: uint8 arrays of shapes (60000, 28, 28),
        (60000,), (10000, 28, 28) and (10000,), pixels 0-255 and labels 0-9 (``CLASS_NAMES``).

    Raises:
        DatasetUnavailableError: when a file is not cached and cannot be downloaded; the
            message says where to place it.
        IntegrityError: when a file is not a gzipped IDX file, or images and labels disagree.
    """
    arrays = {}
    for name, (filename, md5) in FILES.items():
        path = os.path.join(cache_path(), filename)
        published = _cache.PublishedFile([KERAS_URL + filename, ZALANDO_URL + filename], md5, "md5")
        arrays[name] = mnist.read_idx(_cache.cached_file(path, f"the Fashion-MNIST file {filename}", published))
    for split in ("train", "test"):
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise _cache.IntegrityError(
                f"Fashion-MNIST's {split} files hold images of shape {images.shape} and labels of "
                f"shape {labels.shape}; expected (n, 28, 28) and (n,).")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def cache_path():
    """The folder ``load_data()`` keeps Fashion-MNIST's files in."""
    return os.path.join(_cache.datasets_dir(), FOLDER)
