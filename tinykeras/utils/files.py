"""Atomic file writes: every file tinykeras writes (weights, dataset caches) goes through here.

A file is written under a temporary name beside it, ``.<name>.<pid>-<12 hex digits>.tmp``, and
renamed onto it once complete, so readers see the old file or the whole new one. Saving through
a symbolic link writes the file the link points to and leaves the link in place; a file written
over keeps its permission bits, and a new one gets the mode ``open()`` would give it. A process
killed while writing leaves its temporary file behind: the next save of the same file deletes
it, once the process whose pid the name holds has ended.
"""
import os
import re
import secrets
import stat
from contextlib import contextmanager

_TEMPORARY_SUFFIX = re.compile(r"(?P<pid>[0-9]+)-[0-9a-f]{12}\.tmp")
"""What follows ``.<name>.`` in a temporary file's name."""


def remove_quietly(path):
    """Deletes a file if it is there; a missing file is not an error."""
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


@contextmanager
def atomic_write(path):
    """Opens a temporary file beside ``path`` and moves it onto ``path`` only when the block ends
    without an error, so readers see either the old file or the whole new one.

    When ``path`` is a symbolic link, the file it points to is written (the temporary file
    goes beside that file) and the link stays. An existing file keeps its permission bits.
    Temporary files that earlier saves of the same file left behind when their process was
    killed are deleted first.

    Args:
        path: the file to (re)place.

    Returns:
        A context manager yielding a binary file object opened for reading and writing (h5py
        can write into it). If the block raises, the temporary file is deleted and ``path`` is
        left as it was.
    """
    target = os.path.realpath(os.fspath(path))
    directory, name = os.path.split(target)
    os.makedirs(directory, exist_ok=True)
    remove_stale_temporaries(directory, name)
    mode = _permission_bits(target)
    temporary = os.path.join(directory, f".{name}.{os.getpid()}-{secrets.token_hex(6)}.tmp")
    try:
        with open(temporary, "xb+") as file:
            if mode is not None and _permission_bits(temporary) != mode:
                os.chmod(temporary, mode)  # before any byte is written
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        remove_quietly(temporary)
        raise
    _fsync_directory(directory)


def remove_stale_temporaries(directory, name):
    """Deletes the temporary files that saves of ``name`` killed midway left in ``directory``.

    Only files named exactly ``.<name>.<pid>-<12 hex digits>.tmp`` whose process ``pid`` no
    longer exists are deleted, so a save in progress in another process is never disturbed.
    This is a clean-up: a file that cannot be listed or deleted is left as it is. It runs on
    POSIX systems only (elsewhere ``os.kill`` cannot ask whether a process exists).

    Args:
        directory: the folder of the file being saved.
        name: the file's name in that folder.
    """
    if os.name != "posix":
        return
    prefix = f".{name}."
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for entry in entries:
        if not entry.startswith(prefix):
            continue
        match = _TEMPORARY_SUFFIX.fullmatch(entry[len(prefix):])
        if match and not _process_exists(int(match["pid"])):
            try:
                os.remove(os.path.join(directory, entry))
            except OSError:  # deleted meanwhile by another save, or not ours to delete
                pass


def _process_exists(pid):
    """Whether a process ``pid`` exists on this system (POSIX only)."""
    try:
        os.kill(pid, 0)  # signal 0 checks the pid and sends nothing
    except ProcessLookupError:
        return False
    except (OverflowError, OSError):  # another user's process, or a pid that cannot be checked
        return True
    return True


def _permission_bits(path):
    """The permission bits of the regular file ``path``, or None when there is none."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.S_IMODE(status.st_mode) if stat.S_ISREG(status.st_mode) else None


def _fsync_directory(directory):
    """Makes a rename in ``directory`` durable (POSIX only; other systems need no such step)."""
    if os.name != "posix":
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
