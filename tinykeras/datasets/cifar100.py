"""CIFAR-100 small colour images in 100 classes (grouped in 20 superclasses), as
``keras.datasets.cifar100``.

``load_data(label_mode)`` reads the ``train`` and ``test`` pickles of
``$TINYKERAS_HOME/datasets/cifar-100-python/``, the folder the canonical archive holds, filled as
CIFAR-10's is (``_cache.fetch_archive_folder``: an archive placed in the datasets folder, else a
download, checked against the SHA-256 Keras publishes).
"""
import os

import numpy as np

from tinykeras.datasets import _cache, cifar10

ARCHIVE_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
ARCHIVE_SHA256 = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"
ARCHIVE_NAME = "cifar-100-python.tar.gz"
FOLDER = "cifar-100-python"
BATCHES = ("train", "test")
ARCHIVE_FILES = (*BATCHES, "meta", "file.txt~")
IMAGES = {"train": 50000, "test": 10000}
CLASSES = {"fine": 100, "coarse": 20}


def load_data(label_mode="fine"):
    """Loads CIFAR-100, fetching it into the cache on first use.

    Args:
        label_mode: 'fine' for the 100 classes, 'coarse' for the 20 superclasses.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: uint8 images of shapes (50000, 32, 32, 3)
        and (10000, 32, 32, 3), pixels 0-255, and int64 labels (as Keras returns them) of
        shapes (50000, 1) and (10000, 1), 0-99 (0-19 coarse). Under ``backend.image_data_format() == 'channels_first'`` the images are
        (N, 3, 32, 32), as in Keras.

    Raises:
        ValueError: for another ``label_mode``.
        DatasetUnavailableError: when the batches are not cached and the archive could not be
            downloaded.
        IntegrityError: when the archive differs from its SHA-256 or holds unexpected entries,
            or a cached batch is unreadable or not shaped like a CIFAR-100 batch.
    """
    if label_mode not in CLASSES:
        raise ValueError(f'`label_mode` must be one of `"fine"`, `"coarse"`. Received: label_mode={label_mode}.')
    folder = cache_path()
    if _cache.missing_files(folder, BATCHES):
        _cache.fetch_archive_folder(_archive(), folder)
    splits = []
    for name in BATCHES:
        batch = cifar10.read_batch(os.path.join(folder, name), "CIFAR-100", f"{label_mode}_labels".encode(),
                                   IMAGES[name], CLASSES[label_mode])
        x, y = cifar10.stack_batches([batch], IMAGES[name])
        splits.append((x, y.astype(np.int64)))  # Keras reshapes the list of labels: int64
    return splits[0], splits[1]


def cache_path():
    """The ``cifar-100-python`` folder ``load_data()`` keeps CIFAR-100 in."""
    return os.path.join(_cache.datasets_dir(), FOLDER)


def placed_archive_path():
    """Where a copy of the canonical archive may be placed by hand, to be used instead of a
    download."""
    return _cache.placed_archive(_archive())


def _archive():
    return _cache.Archive("CIFAR-100", ARCHIVE_URL, ARCHIVE_NAME, ARCHIVE_SHA256, "sha256", FOLDER,
                          [f"{FOLDER}/{name}" for name in ARCHIVE_FILES], BATCHES)
