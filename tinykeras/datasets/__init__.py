"""Small standard datasets, loaded as in ``keras.datasets``: ``mnist.load_data()``.

Each dataset is a submodule with a ``load_data()`` that reads a verified cache under
``$TINYKERAS_HOME/datasets`` and fills it on first use; ``python -m tinykeras.datasets NAME``
fills it ahead of time. A new dataset is one more submodule listed in ``__all__``.
"""
from tinykeras.datasets import mnist

__all__ = ["mnist"]
