"""What ``imdb.load_data`` and ``reuters.load_data`` do to sequences of word indices, as Keras
does it, step for step: shuffle, mark and offset, drop long sequences, limit the vocabulary."""
import numpy as np


def shuffled(rng, *arrays):
    """``arrays`` (of one length) in one order drawn by ``rng.shuffle``, Keras' way."""
    indices = np.arange(len(arrays[0]))
    rng.shuffle(indices)
    return [array[indices] for array in arrays]


def offset(sequences, start_char, index_from):
    """Each sequence as a list, its indices raised by ``index_from`` and, unless ``start_char``
    is None, preceded by it."""
    if start_char is not None:
        return [[start_char] + [w + index_from for w in x] for x in sequences]
    if index_from:
        return [[w + index_from for w in x] for x in sequences]
    return [list(x) for x in sequences]


def shorter_than(maxlen, sequences, labels):
    """The sequences (and their labels) shorter than ``maxlen``: Keras drops the others (it
    does not truncate them)."""
    kept = [(x, y) for x, y in zip(sequences, labels) if len(x) < maxlen]
    return [x for x, _ in kept], [y for _, y in kept]


def limited(sequences, num_words, skip_top, oov_char):
    """Indices outside ``[skip_top, num_words)`` replaced by ``oov_char`` (dropped when it is
    None). Without ``num_words`` the limit is the largest index present, which, as in Keras,
    is itself out of range."""
    if not num_words:
        num_words = max(max(x) for x in sequences)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in sequences]
    return [[w for w in x if skip_top <= w < num_words] for x in sequences]
