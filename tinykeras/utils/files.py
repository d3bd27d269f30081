"""Atomic file writes: every file tinykeras writes (weights, dataset caches) goes through here."""
import os
import secrets
from contextlib import contextmanager


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

    Args:
        path: the file to (re)place.

    Returns:
        A context manager yielding a binary file object opened for reading and writing (h5py
        can write into it). If the block raises, the temporary file is deleted and ``path`` is
        left as it was.
    """
    directory, name = os.path.split(os.path.abspath(os.fspath(path)))
    os.makedirs(directory, exist_ok=True)
    temporary = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(temporary, "xb+") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        remove_quietly(temporary)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory):
    """Makes a rename in ``directory`` durable (POSIX only; other systems need no such step)."""
    if os.name != "posix":
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
