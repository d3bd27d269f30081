"""Small standard datasets, loaded as in ``keras.datasets``: ``mnist``, ``fashion_mnist``,
``cifar10``, ``cifar100``, ``imdb``, ``reuters``, ``boston_housing`` and ``california_housing``,
each with its ``load_data()``.

Each dataset is a submodule with a ``load_data()`` that reads a verified cache under
``$TINYKERAS_HOME/datasets`` and fills it on first use; ``python -m tinykeras.datasets NAME``
fills it ahead of time. A new dataset is one more submodule listed in ``__all__``.

``DatasetUnavailableError`` (an ``OSError``) says that a dataset is neither cached nor fetchable,
and how to place its files by hand; ``IntegrityError`` (a ``ValueError``) that a file differs
from its published checksum or layout.
"""
from tinykeras.datasets import (
    boston_housing,
    california_housing,
    cifar10,
    cifar100,
    fashion_mnist,
    imdb,
    mnist,
    reuters,
)
from tinykeras.datasets._cache import DatasetUnavailableError as DatasetUnavailableError
from tinykeras.datasets._cache import IntegrityError as IntegrityError

__all__ = [  # noqa: RUF022 - the order the command line lists them in
    "mnist", "cifar10", "fashion_mnist", "cifar100", "imdb", "reuters", "boston_housing",
    "california_housing",
]


from tinykeras._missing import attribute_error_for  # noqa: E402

__getattr__ = attribute_error_for(__name__)
