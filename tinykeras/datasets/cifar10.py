"""CIFAR-10 small colour images in 10 classes, as ``keras.datasets.cifar10``.

``load_data()`` returns the 50,000 training and 10,000 test images (32x32x3, uint8) and their
labels from ``$TINYKERAS_HOME/datasets/cifar-10-batches-py/``, the folder of batch pickles the
canonical archive holds. On first use it takes that archive from the datasets folder, when one was
placed there, else downloads it; checks its published MD5, extracts only the expected files and
moves the folder into place in one rename (``_cache.fetch_archive_folder``). Batches are
unpickled only with ``_cache.RestrictedUnpickler``, reading at most twice a batch's size, so an
altered file raises instead of running code or exhausting memory. ``read_batch`` reads CIFAR-100's
batches too.
"""
import os

import numpy as np

from tinykeras import backend
from tinykeras.datasets import _cache

ARCHIVE_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
ARCHIVE_NAME = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5")
TEST_BATCH = "test_batch"
BATCHES = (*TRAIN_BATCHES, TEST_BATCH)
ARCHIVE_FILES = (*BATCHES, "batches.meta", "readme.html")
IMAGES_PER_BATCH = 10000
NUM_CLASSES = 10
IMAGE_SHAPE = (3, 32, 32)
"""How each row of a batch's ``b'data'`` is laid out: channel-major, then rows, then columns."""


def load_data():
    """Loads the CIFAR-10 dataset, fetching it into the cache on first use.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: uint8 arrays of shapes (50000, 32, 32, 3),
        (50000, 1), (10000, 32, 32, 3) and (10000, 1), pixels 0-255 (red, green, blue) and
        labels 0-9. The training set is ``data_batch_1`` to ``data_batch_5`` in order. Under
        ``backend.image_data_format() == 'channels_first'`` the images are (N, 3, 32, 32), as
        in Keras.

    Raises:
        DatasetUnavailableError: when the batches are not cached and the archive could not be
            downloaded.
        IntegrityError: when the archive differs from its published MD5 or holds unexpected
            entries, or when a cached batch is unreadable or not shaped like a CIFAR-10 batch.
    """
    folder = cache_path()
    if _missing_batches(folder):
        _cache.fetch_archive_folder(_archive(), folder)
    x_train, y_train = _read_batches(folder, TRAIN_BATCHES)
    x_test, y_test = _read_batches(folder, [TEST_BATCH])
    return (x_train, y_train), (x_test, y_test)


def cache_path():
    """Where ``load_data()`` keeps CIFAR-10.

    Returns:
        The absolute path of the ``cifar-10-batches-py`` folder.
    """
    return os.path.join(_cache.datasets_dir(), FOLDER)


def placed_archive_path():
    """Where a copy of the canonical archive may be placed by hand, to be used instead of a
    download.

    Returns:
        The absolute path of ``cifar-10-python.tar.gz`` in the datasets folder.
    """
    return _cache.placed_archive(_archive())


def _archive():
    """CIFAR-10's archive as ``_cache.fetch_archive_folder`` takes it (read at each call, so
    that the constants above may be changed)."""
    return _cache.Archive("CIFAR-10", ARCHIVE_URL, ARCHIVE_NAME, ARCHIVE_MD5, "md5", FOLDER,
                          [f"{FOLDER}/{name}" for name in ARCHIVE_FILES], BATCHES)


def _missing_batches(folder):
    """The batch files ``folder`` lacks.

    Args:
        folder: a ``cifar-10-batches-py`` folder (it need not exist).

    Returns:
        The names of the missing batches, in order; empty when the folder is complete.
    """
    return [name for name in BATCHES if not os.path.isfile(os.path.join(folder, name))]


def _read_batches(folder, names):
    """Reads batches in order into one array of images and one of labels, in Keras' layout.

    Args:
        folder: the ``cifar-10-batches-py`` folder.
        names: the batch files to read, in order.

    Returns:
        ``(x, y)``: C-contiguous uint8 images (n, 32, 32, 3) — (n, 3, 32, 32) under
        channels_first — and uint8 labels (n, 1).
    """
    batches = (_read_batch(os.path.join(folder, name)) for name in names)
    return stack_batches(batches, len(names) * IMAGES_PER_BATCH)


def stack_batches(batches, count):
    """Batches of rows and labels (``read_batch``'s, read one at a time) as one array of images
    in Keras' layout and one of labels.

    Args:
        batches: an iterable of ``(data, labels)``.
        count: how many images they hold in all.

    Returns:
        ``(x, y)``: C-contiguous uint8 images (n, 32, 32, 3) — (n, 3, 32, 32) under
        channels_first — and uint8 labels (n, 1).
    """
    channels_last = backend.image_data_format() == "channels_last"
    channels, height, width = IMAGE_SHAPE
    x = np.empty((count, height, width, channels) if channels_last else (count, *IMAGE_SHAPE),
                 dtype=np.uint8)
    y = np.empty((count, 1), dtype=np.uint8)
    start = 0
    for data, labels in batches:
        images = data.reshape(-1, *IMAGE_SHAPE)
        rows = slice(start, start + len(labels))
        x[rows] = images.transpose(0, 2, 3, 1) if channels_last else images
        y[rows, 0] = labels
        start += len(labels)
    return x, y


def _read_batch(path):
    """Reads one CIFAR-10 batch file (``read_batch`` with CIFAR-10's layout).

    Returns:
        ``(data, labels)``: the uint8 rows (``IMAGES_PER_BATCH``, 3072) and uint8 labels.
    """
    return read_batch(path, "CIFAR-10", b"labels", IMAGES_PER_BATCH, NUM_CLASSES)


def read_batch(path, title, label_key, images, classes):
    """Unpickles one batch file with the restricted unpickler and checks its contents.

    Args:
        path: a batch file, e.g. ``.../cifar-10-batches-py/data_batch_1``.
        title: the dataset's name, for messages ('CIFAR-10').
        label_key: the key of the labels (``b'labels'``; CIFAR-100's ``b'fine_labels'`` or
            ``b'coarse_labels'``).
        images: how many images the batch holds.
        classes: labels are ints from 0 to ``classes - 1``.

    Returns:
        ``(data, labels)``: the uint8 rows (``images``, 3072) and uint8 labels.

    Raises:
        IntegrityError: naming the file and what is wrong with it.
    """
    try:
        with open(path, "rb") as file:
            batch = _cache.restricted_load(file, encoding="bytes", max_bytes=_max_batch_bytes(images))
    except OSError:
        raise
    except Exception as error:  # a truncated or altered pickle fails in many ways
        raise _cache.IntegrityError(
            f"{path} is unreadable ({type(error).__name__}: {error}). {_refetch_advice(path)}"
        ) from error
    problem = _batch_problem(batch, label_key, images, classes)
    if problem:
        raise _cache.IntegrityError(
            f"{path} is not a {title} batch: {problem}. {_refetch_advice(path)}")
    return batch[b"data"], np.array(batch[label_key], dtype=np.uint8)


def _max_batch_bytes(images=None):
    """The most bytes a batch file of ``images`` (by default ``IMAGES_PER_BATCH``) may hold:
    twice its pixels (Python 3's pickle protocol 2 writes them as text, half as large again as
    the bytes) and 1 MiB per 10,000 images for the labels and file names. The published batches
    hold 31 MB each."""
    images = IMAGES_PER_BATCH if images is None else images
    return 2 * images * int(np.prod(IMAGE_SHAPE)) + 2**20 * max(1, -(-images // 10000))


def _batch_problem(batch, label_key, images, classes):
    """What, if anything, keeps an unpickled object from being a batch of ``images`` images.

    Args:
        batch: the unpickled object; expected a dict with ``b'data'``, a uint8 array
            (``images``, 3072), and ``label_key``, a list of as many ints from 0 to
            ``classes - 1``.

    Returns:
        A description of the first problem found, or ``None``.
    """
    if not isinstance(batch, dict):
        return f"it holds a {type(batch).__name__}, expected a dict"
    missing = [key for key in (b"data", label_key) if key not in batch]
    if missing:
        return f"the keys {missing} are missing (it has {sorted(map(repr, batch))})"
    data, labels = batch[b"data"], batch[label_key]
    rows = (images, int(np.prod(IMAGE_SHAPE)))
    name = repr(label_key)
    if not isinstance(data, np.ndarray):
        return f"b'data' is a {type(data).__name__}, expected a uint8 array {rows}"
    if data.dtype != np.uint8 or data.shape != rows:
        return f"b'data' is {data.dtype} {data.shape}, expected uint8 {rows}"
    if not isinstance(labels, list) or len(labels) != images:
        size = f" of {len(labels)}" if isinstance(labels, (list, tuple, np.ndarray)) else ""
        return f"{name} is a {type(labels).__name__}{size}, expected a list of {images} ints"
    wrong = [label for label in labels if type(label) is not int or not 0 <= label < classes]
    if wrong:
        return (f"{name} holds {len(wrong)} values that are not ints 0-{classes - 1}, "
                f"the first {wrong[0]!r}")
    return None


def _refetch_advice(path):
    """How to recover from a bad cached batch.

    Args:
        path: the bad batch file.
    """
    return f"Delete the folder {os.path.dirname(path)} to fetch CIFAR-10 again."
