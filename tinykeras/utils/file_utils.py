"""``get_file``: Keras' download-and-cache of a file by URL, with its hash check and archive
extraction, under ``$TINYKERAS_HOME`` (Keras' ``~/.keras``)."""
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.parse
import warnings
import zipfile

from tinykeras import backend
from tinykeras.datasets._cache import download


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """Downloads ``origin`` into ``cache_dir/cache_subdir/fname`` unless it is there already
    (and matches ``file_hash``), and returns its path; with ``extract``, unpacks the archive
    and returns the folder it went to. Keras' arguments and paths:

    Args:
        fname: the file's name in the cache (no directories); by default the URL's last part.
        origin: the URL (http, https, ftp or file).
        untar: Keras 2's name for ``extract`` with archive_format 'tar'.
        md5_hash: Keras 2's ``file_hash`` for an MD5.
        file_hash: the expected SHA-256 (64 hex digits) or MD5 of the file: a cached file that
            differs is downloaded again, a download that differs is deleted and refused.
        cache_subdir: the folder under cache_dir ('datasets').
        hash_algorithm: 'sha256', 'md5' or 'auto' (by the hash's length).
        extract: unpack a tar or zip archive, into ``<fname without extensions>_extracted`` when
            fname has an extension, else into ``<fname>`` (the download then being
            ``<fname>_archive``), as Keras names them.
        archive_format: 'auto' (tar, then zip), 'tar', 'zip', a list of them, or None.
        cache_dir: the cache's root: ``$TINYKERAS_HOME`` by default.
        force_download: download even when the cached file matches.

    Returns:
        The path of the downloaded file, or of the folder it was extracted to.

    The download goes to a temporary file renamed into place once complete (and checked), so
    the cache never holds a partial file. Archive members that would land outside the folder
    (absolute paths, '..', links pointing out) are skipped with a warning.
    """
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    if hash_algorithm not in ("auto", "sha256", "md5"):
        raise ValueError(f"Expected hash_algorithm 'auto', 'sha256' or 'md5'. Received: {hash_algorithm!r}")
    if hash_algorithm == "auto":  # a SHA-256 has 64 hex digits
        hash_algorithm = "sha256" if len(str(file_hash)) == 64 else "md5"
    root = os.path.expanduser(os.fspath(cache_dir) if cache_dir is not None else backend.tinykeras_home())
    datadir = os.path.join(root, cache_subdir)
    os.makedirs(datadir, exist_ok=True)
    given = os.fspath(fname) if fname else None
    name = given or os.path.basename(urllib.parse.urlsplit(origin).path)
    if not name or name in (os.curdir, os.pardir) or os.path.splitdrive(name)[0]:
        raise ValueError(f"Can't parse the file name from the origin provided: '{origin}'. Please specify the `fname` argument.")
    if os.sep in name or (os.altsep and os.altsep in name):
        raise ValueError(
            "Paths are no longer accepted as the `fname` argument. To specify the file's parent directory, "
            f"use the `cache_dir` argument. Received: fname={name}"
        )
    if extract or untar:
        if given and "." in name:
            target, folder = os.path.join(datadir, name), os.path.join(datadir, name[:name.find(".")] + "_extracted")
        else:
            target, folder = os.path.join(datadir, name + "_archive"), os.path.join(datadir, name)
    else:
        target = os.path.join(datadir, name)
    needed = force_download or not os.path.exists(target)
    if not needed and file_hash is not None and not _matches(target, file_hash, hash_algorithm):
        print(f"A local file was found, but it seems to be incomplete or outdated because the {hash_algorithm} "
              f"file hash does not match the original value of {file_hash} so we will re-download the data.")
        needed = True
    if needed:
        _fetch(origin, target, file_hash, hash_algorithm)
    if not (extract or untar):
        return target
    if not _extract(target, folder, "tar" if untar else archive_format):
        warnings.warn("Could not extract archive.", stacklevel=2)
    return folder


def _matches(path, file_hash, algorithm):
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest() == str(file_hash)


def _fetch(origin, target, file_hash, algorithm):
    """Downloads into a temporary file beside ``target``, checks it, then renames it onto target."""
    print(f"Downloading data from {origin}")
    handle, partial = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".download-")
    os.close(handle)
    try:
        try:
            download(origin, partial)
        except OSError as error:  # urllib's HTTPError and URLError are OSErrors
            raise OSError(f"URL fetch failure on {origin}: {error}") from error
        if file_hash is not None and not _matches(partial, file_hash, algorithm):
            raise ValueError(f"Incomplete or corrupted file detected. The {algorithm} file hash does not match "
                             f"the provided value of {file_hash}.")
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def _inside(base, relative):
    path = os.path.realpath(os.path.join(base, relative))
    return os.path.commonpath([path, base]) == base


def _extract(archive, folder, archive_format):
    """Unpacks a tar or zip archive into ``folder`` (members outside it skipped); False when it
    is none of the formats asked for."""
    if archive_format is None:
        return False
    formats = ["tar", "zip"] if archive_format == "auto" else (
        [archive_format] if isinstance(archive_format, str) else list(archive_format))
    unknown = [f for f in formats if f not in ("tar", "zip")]
    if unknown:
        raise ValueError(f"Expected archive_format 'auto', 'tar', 'zip', a list of them, or None. Received: {archive_format!r}")
    kind = next((k for k in formats if (tarfile.is_tarfile if k == "tar" else zipfile.is_zipfile)(archive)), None)
    if kind is None:
        return False  # not an archive of the formats asked for: no folder made
    os.makedirs(folder, exist_ok=True)
    base = os.path.realpath(folder)
    if kind == "tar":
        with tarfile.open(archive) as opened:
            _extract_members(opened, [m for m in opened.getmembers() if _safe_tar_member(m, base)], folder, tar=True)
    else:
        with zipfile.ZipFile(archive) as opened:
            _extract_members(opened, [m for m in opened.infolist() if _safe(m.filename, base)], folder, tar=False)
    return True


def _safe(name, base):
    if _inside(base, name):
        return True
    warnings.warn(f"Skipping invalid path during archive extraction: '{name}'.", stacklevel=4)
    return False


def _safe_tar_member(member, base):
    if member.issym() or member.islnk():
        target = (os.path.join(os.path.dirname(member.name), member.linkname) if member.issym()
                  else member.linkname)
        if not (_inside(base, member.name) and _inside(base, target)):
            warnings.warn(f"Skipping invalid path during archive extraction: '{member.name}'.", stacklevel=4)
            return False
        return True
    return _safe(member.name, base)


def _extract_members(opened, members, folder, tar):
    """Extracts ``members``; a failure removes the folder's partial contents, as Keras does."""
    try:
        if tar:
            # Python's own check of each member as data (no devices, no setuid bits), where it has one.
            extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            opened.extractall(folder, members=members, **extra)
        else:
            opened.extractall(folder, members=members)
    except (tarfile.TarError, zipfile.BadZipFile, OSError, KeyboardInterrupt):
        shutil.rmtree(folder, ignore_errors=True)
        raise
