"""Reuters newswires labelled by one of 46 topics, as ``keras.datasets.reuters``.

Each newswire is a list of word indices, ranked by frequency (index 1 is the most frequent
word), shifted by ``index_from``. ``load_data`` reads Keras' ``reuters.npz`` from
``$TINYKERAS_HOME/datasets/``, checked against the SHA-256 Keras publishes whenever it is read
and downloaded there when missing; ``get_word_index`` likewise reads ``reuters_word_index.json``.
"""
import os

import numpy as np

from tinykeras.datasets import _cache, _text

URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/reuters.npz"
SHA256 = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
WORD_INDEX_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/reuters_word_index.json"
WORD_INDEX_MD5 = "4d44cc38712099c9e383dc6e5f11a921"
CACHE_NAME = "reuters.npz"
WORD_INDEX_NAME = "reuters_word_index.json"
LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply",
    "coffee", "sugar", "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas",
    "cpi", "money-fx", "interest", "gnp", "meal-feed", "alum", "oilseed", "gold", "tin",
    "strategic-metal", "livestock", "retail", "ipi", "iron-steel", "rubber", "heat", "jobs",
    "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead",
)


def load_data(path=CACHE_NAME, num_words=None, skip_top=0, maxlen=None, test_split=0.2, seed=113,
              start_char=1, oov_char=2, index_from=3):
    """Loads the Reuters newswires, fetching Keras' file into the cache on first use.

    Args:
        path: the cached file, relative to ``$TINYKERAS_HOME/datasets`` (or absolute).
        num_words: keep the ``num_words`` most frequent words; the others become ``oov_char``.
            None keeps all (but the very last index, as in Keras).
        skip_top: the most frequent words to replace by ``oov_char`` as well.
        maxlen: drop the newswires of ``maxlen`` words or more (they are not truncated).
        test_split: the fraction of the newswires, after shuffling, held out as the test set.
        seed: the seed of the shuffle (``np.random.RandomState(seed)``).
        start_char: the index marking the start of each newswire (None: no mark).
        oov_char: the index replacing the words left out (None: they are dropped).
        index_from: added to every word index.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: x arrays of dtype object holding one list of
        ints per newswire, y arrays of topic labels 0-45 (``get_label_names()``).

    Raises:
        DatasetUnavailableError: when the file is neither cached nor downloadable; the message
            says where to place it.
        IntegrityError: when ``path`` is not the default cache and its file is not Keras'.
    """
    arrays = _cache.load_published_npz(path, CACHE_NAME, "Reuters", _cache.PublishedFile([URL], SHA256, "sha256"),
                                       ["x", "y"])
    xs, labels = _text.shuffled(np.random.RandomState(seed), arrays["x"], arrays["y"])
    xs = _text.offset(xs, start_char, index_from)
    if maxlen:
        xs, labels = _text.shorter_than(maxlen, xs, labels)
    xs = _text.limited(xs, num_words, skip_top, oov_char)
    split = int(len(xs) * (1 - test_split))
    return ((np.array(xs[:split], dtype="object"), np.array(labels[:split])),
            (np.array(xs[split:], dtype="object"), np.array(labels[split:])))


def get_word_index(path=WORD_INDEX_NAME):
    """The dict from each word to its rank by frequency (1 for the most frequent); in the data a
    word's index is its rank plus ``index_from``.

    Args:
        path: the cached file, relative to ``$TINYKERAS_HOME/datasets`` (or absolute).
    """
    published = _cache.PublishedFile([WORD_INDEX_URL], WORD_INDEX_MD5, "md5")
    return _cache.load_published_json(path, WORD_INDEX_NAME, "Reuters", published)


def get_label_names():
    """The 46 topics, in the order of the labels."""
    return LABEL_NAMES


def cache_path(path=CACHE_NAME):
    """Where ``load_data(path)`` keeps Keras' ``reuters.npz``."""
    return os.path.join(_cache.datasets_dir(), os.path.expanduser(path))
