"""IMDB movie reviews labelled by sentiment (positive 1 / negative 0), as ``keras.datasets.imdb``.

Each review is a list of word indices, ranked by frequency in the training set (index 1 is the
most frequent word), shifted by ``index_from``. ``load_data`` reads Keras' ``imdb.npz`` from
``$TINYKERAS_HOME/datasets/``, checked against the SHA-256 Keras publishes whenever it is read
and downloaded there when missing; ``get_word_index`` likewise reads ``imdb_word_index.json``.
"""
import os

import numpy as np

from tinykeras.datasets import _cache, _text

URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb.npz"
SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
WORD_INDEX_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb_word_index.json"
WORD_INDEX_MD5 = "bfafd718b763782e994055a2d397834f"
CACHE_NAME = "imdb.npz"
WORD_INDEX_NAME = "imdb_word_index.json"


def load_data(path=CACHE_NAME, num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1,
              oov_char=2, index_from=3):
    """Loads the IMDB reviews, fetching Keras' file into the cache on first use.

    Args:
        path: the cached file, relative to ``$TINYKERAS_HOME/datasets`` (or absolute).
        num_words: keep the ``num_words`` most frequent words; the others become ``oov_char``.
            None keeps all (but the very last index, as in Keras).
        skip_top: the most frequent words to replace by ``oov_char`` as well.
        maxlen: drop the reviews of ``maxlen`` words or more (they are not truncated).
        seed: the seed of the order of the reviews (each split shuffled with
            ``np.random.RandomState(seed)``, train first).
        start_char: the index marking the start of each review (None: no mark).
        oov_char: the index replacing the words left out (None: they are dropped).
        index_from: added to every word index.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: x arrays of dtype object holding one list of
        ints per review (25,000 in each split without ``maxlen``), y arrays of 0/1 labels.

    Raises:
        ValueError: when ``maxlen`` leaves no review in a split.
        DatasetUnavailableError: when the file is neither cached nor downloadable; the message
            says where to place it.
        IntegrityError: when ``path`` is not the default cache and its file is not Keras'.
    """
    arrays = _cache.load_published_npz(path, CACHE_NAME, "IMDB", _cache.PublishedFile([URL], SHA256, "sha256"),
                                       ["x_train", "y_train", "x_test", "y_test"])
    rng = np.random.RandomState(seed)
    x_train, labels_train = _text.shuffled(rng, arrays["x_train"], arrays["y_train"])
    x_test, labels_test = _text.shuffled(rng, arrays["x_test"], arrays["y_test"])
    x_train = _text.offset(x_train, start_char, index_from)
    x_test = _text.offset(x_test, start_char, index_from)
    if maxlen:
        x_train, labels_train = _text.shorter_than(maxlen, x_train, labels_train)
        x_test, labels_test = _text.shorter_than(maxlen, x_test, labels_test)
        if not x_train or not x_test:
            raise ValueError(
                f"After filtering for sequences shorter than maxlen={maxlen}, no sequence was "
                "kept. Increase maxlen.")
    xs = _text.limited(x_train + x_test, num_words, skip_top, oov_char)
    labels = np.concatenate([labels_train, labels_test])
    split = len(x_train)
    return (np.array(xs[:split], dtype="object"), labels[:split]), (np.array(xs[split:], dtype="object"), labels[split:])


def get_word_index(path=WORD_INDEX_NAME):
    """The dict from each word to its rank by frequency (1 for the most frequent); in the data a
    word's index is its rank plus ``index_from``.

    Args:
        path: the cached file, relative to ``$TINYKERAS_HOME/datasets`` (or absolute).
    """
    published = _cache.PublishedFile([WORD_INDEX_URL], WORD_INDEX_MD5, "md5")
    return _cache.load_published_json(path, WORD_INDEX_NAME, "IMDB", published)


def cache_path(path=CACHE_NAME):
    """Where ``load_data(path)`` keeps Keras' ``imdb.npz``."""
    return os.path.join(_cache.datasets_dir(), os.path.expanduser(path))
