"""Synthetic CIFAR-10 batches in the original format, for tests that cannot have the real data:
pickled dicts with bytes keys (b'data' uint8 rows of 3072 channel-major pixels, b'labels')."""
import pickle

import numpy as np

from tinykeras.datasets import cifar10

N = 4
"""Images per synthetic batch by default (the real batches hold 10,000)."""


def batch_arrays(number, n=N):
    """Random rows (n, 3072) and a list of n labels for batch ``number``."""
    rng = np.random.default_rng(number)
    return (rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            [int(label) for label in rng.integers(0, 10, n)])


def synthetic_batches(n=N):
    """data_batch_1..5 and test_batch: dict from file name to (rows, labels)."""
    return {name: batch_arrays(number, n) for number, name in enumerate(cifar10.BATCHES, start=1)}


def batch_bytes(data, labels, protocol=2):
    """A batch pickled as the originals are: a dict with bytes keys."""
    batch = {b"batch_label": b"synthetic batch", b"labels": labels, b"data": data,
             b"filenames": [f"image_{i}.png".encode() for i in range(len(labels))]}
    return pickle.dumps(batch, protocol=protocol)


def write_folder(folder, batches):
    """Writes the batch files into ``folder`` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, (data, labels) in batches.items():
        (folder / name).write_bytes(batch_bytes(data, labels))
    return folder
