"""CIFAR-10 small colour images in 10 classes, as ``keras.datasets.cifar10``.

``load_data()`` returns the 50,000 training and 10,000 test images (32x32x3, uint8) and their
labels from ``$TINYKERAS_HOME/datasets/cifar-10-batches-py/``, the folder of batch pickles the
canonical archive holds. On first use it takes that archive from the datasets folder, when one was
placed there, else downloads it; checks its published MD5, extracts only the expected files and
moves the folder into place in one rename. Batches are unpickled only with
``_cache.RestrictedUnpickler``, reading at most twice a batch's size, so an altered file raises
instead of running code or exhausting memory.
"""
import os
import sys
import tempfile

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
        _fetch(folder)
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
    return os.path.join(_cache.datasets_dir(), ARCHIVE_NAME)


def _missing_batches(folder):
    """The batch files ``folder`` lacks.

    Args:
        folder: a ``cifar-10-batches-py`` folder (it need not exist).

    Returns:
        The names of the missing batches, in order; empty when the folder is complete.
    """
    return [name for name in BATCHES if not os.path.isfile(os.path.join(folder, name))]


def _fetch(folder):
    """Fills ``folder`` from the canonical archive: verifies it, extracts it into a temporary
    folder beside ``folder`` and moves the result into place, so that a failure leaves no
    half-written cache.

    Args:
        folder: the cache folder to (re)place.
    """
    parent = os.path.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=parent, prefix=".fetch-") as workdir:
        archive = _archive(folder, workdir)
        actual = _cache.file_digest(archive, "md5")
        if actual != ARCHIVE_MD5:
            raise _bad_archive(archive, f"has MD5 {actual}, expected {ARCHIVE_MD5} (a partial "
                                        "or altered copy of the CIFAR-10 archive)")
        members = [f"{FOLDER}/{name}" for name in ARCHIVE_FILES]
        _cache.extract_tar(archive, workdir, members)
        extracted = os.path.join(workdir, FOLDER)
        missing = _missing_batches(extracted)
        if missing:
            lacking = ", ".join(f"{FOLDER}/{name}" for name in missing)
            raise _bad_archive(archive, f"lacks {lacking}")
        # Another process may have filled the folder in the meantime: then it is kept.
        _cache.place_folder(extracted, folder, lambda: not _missing_batches(folder))


def _archive(folder, workdir):
    """The archive to extract: the one placed in the datasets folder, else a download.

    Args:
        folder: the cache folder being filled, for the error message.
        workdir: an empty temporary folder for the download.

    Returns:
        The path of the archive (not yet verified).

    Raises:
        DatasetUnavailableError: when there is no placed archive and the download fails.
    """
    placed = placed_archive_path()
    if os.path.isfile(placed):
        print(f"Extracting CIFAR-10 from {placed}", file=sys.stderr)
        return placed
    print(f"Fetching CIFAR-10 from {ARCHIVE_URL}", file=sys.stderr)
    try:
        return _cache.download(ARCHIVE_URL, os.path.join(workdir, ARCHIVE_NAME))
    except Exception as error:  # whatever stops the download, the data is unavailable
        missing = _missing_batches(folder)
        state = f"lacks {', '.join(missing)}" if os.path.isdir(folder) else "does not exist"
        raise _cache.DatasetUnavailableError(
            f"Could not fetch CIFAR-10: the cache folder {folder} {state}, and downloading "
            f"{ARCHIVE_URL} failed ({type(error).__name__}: {error}).\n{_manual_help()}"
        ) from error


def _bad_archive(archive, problem):
    """The error for an archive that failed a check, saying what to do about it.

    Args:
        archive: the path of the archive, placed by hand or just downloaded.
        problem: what is wrong, e.g. ``'has MD5 ..., expected ...'``.

    Returns:
        An ``IntegrityError``: replace a placed archive, retry a download.
    """
    if archive == placed_archive_path():
        return _cache.IntegrityError(
            f"{archive} {problem}. Delete it (it is then downloaded) or replace it with a fresh "
            f"copy of {ARCHIVE_URL}.")
    return _cache.IntegrityError(
        f"The archive downloaded from {ARCHIVE_URL} {problem}. Load again to download it again."
        f"\n{_manual_help()}")


def _read_batches(folder, names):
    """Reads batches in order into one array of images and one of labels, in Keras' layout.

    Args:
        folder: the ``cifar-10-batches-py`` folder.
        names: the batch files to read, in order.

    Returns:
        ``(x, y)``: C-contiguous uint8 images (n, 32, 32, 3) — (n, 3, 32, 32) under
        channels_first — and uint8 labels (n, 1).
    """
    channels_last = backend.image_data_format() == "channels_last"
    channels, height, width = IMAGE_SHAPE
    count = len(names) * IMAGES_PER_BATCH
    x = np.empty((count, height, width, channels) if channels_last else (count, *IMAGE_SHAPE),
                 dtype=np.uint8)
    y = np.empty((count, 1), dtype=np.uint8)
    for index, name in enumerate(names):
        data, labels = _read_batch(os.path.join(folder, name))
        images = data.reshape(-1, *IMAGE_SHAPE)
        rows = slice(index * IMAGES_PER_BATCH, (index + 1) * IMAGES_PER_BATCH)
        x[rows] = images.transpose(0, 2, 3, 1) if channels_last else images
        y[rows, 0] = labels
    return x, y


def _read_batch(path):
    """Unpickles one batch file with the restricted unpickler and checks its contents.

    Args:
        path: a batch file, e.g. ``.../cifar-10-batches-py/data_batch_1``.

    Returns:
        ``(data, labels)``: the uint8 rows (``IMAGES_PER_BATCH``, 3072) and uint8 labels.

    Raises:
        IntegrityError: naming the file and what is wrong with it.
    """
    try:
        with open(path, "rb") as file:
            batch = _cache.restricted_load(file, encoding="bytes", max_bytes=_max_batch_bytes())
    except OSError:
        raise
    except Exception as error:  # a truncated or altered pickle fails in many ways
        raise _cache.IntegrityError(
            f"{path} is unreadable ({type(error).__name__}: {error}). {_refetch_advice(path)}"
        ) from error
    problem = _batch_problem(batch)
    if problem:
        raise _cache.IntegrityError(
            f"{path} is not a CIFAR-10 batch: {problem}. {_refetch_advice(path)}")
    return batch[b"data"], np.array(batch[b"labels"], dtype=np.uint8)


def _max_batch_bytes():
    """The most bytes a batch file may hold: twice its pixels (Python 3's pickle protocol 2
    writes them as text, half as large again as the bytes) and 1 MiB for the labels and file
    names. The published batches hold 31 MB each."""
    return 2 * IMAGES_PER_BATCH * int(np.prod(IMAGE_SHAPE)) + 2**20


def _batch_problem(batch):
    """What, if anything, keeps an unpickled object from being a CIFAR-10 batch.

    Args:
        batch: the unpickled object; expected a dict with ``b'data'``, a uint8 array
            (``IMAGES_PER_BATCH``, 3072), and ``b'labels'``, a list of as many ints 0-9.

    Returns:
        A description of the first problem found, or ``None``.
    """
    if not isinstance(batch, dict):
        return f"it holds a {type(batch).__name__}, expected a dict"
    missing = [key for key in (b"data", b"labels") if key not in batch]
    if missing:
        return f"the keys {missing} are missing (it has {sorted(map(repr, batch))})"
    data, labels = batch[b"data"], batch[b"labels"]
    rows = (IMAGES_PER_BATCH, int(np.prod(IMAGE_SHAPE)))
    if not isinstance(data, np.ndarray):
        return f"b'data' is a {type(data).__name__}, expected a uint8 array {rows}"
    if data.dtype != np.uint8 or data.shape != rows:
        return f"b'data' is {data.dtype} {data.shape}, expected uint8 {rows}"
    if not isinstance(labels, list) or len(labels) != IMAGES_PER_BATCH:
        size = f" of {len(labels)}" if isinstance(labels, (list, tuple, np.ndarray)) else ""
        return (f"b'labels' is a {type(labels).__name__}{size}, "
                f"expected a list of {IMAGES_PER_BATCH} ints")
    wrong = [label for label in labels
             if type(label) is not int or not 0 <= label < NUM_CLASSES]
    if wrong:
        return (f"b'labels' holds {len(wrong)} values that are not ints 0-{NUM_CLASSES - 1}, "
                f"the first {wrong[0]!r}")
    return None


def _refetch_advice(path):
    """How to recover from a bad cached batch.

    Args:
        path: the bad batch file.
    """
    return f"Delete the folder {os.path.dirname(path)} to fetch CIFAR-10 again."


def _manual_help():
    """How to provide CIFAR-10 by hand when the archive cannot be downloaded.

    Returns:
        The instructions, for the error message.
    """
    folder = os.path.join(cache_path(), "")
    return (
        "To provide CIFAR-10 by hand, download on a machine with internet access\n"
        f"  {ARCHIVE_URL}  (MD5 {ARCHIVE_MD5})\n"
        "then either:\n"
        f"  - copy it to {placed_archive_path()}: it is verified and extracted on the next load\n"
        f"  - or extract it and copy the batch files {', '.join(BATCHES)} into\n"
        f"    {folder}"
    )
