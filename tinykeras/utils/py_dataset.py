"""``keras.utils.PyDataset``: a dataset of batches written in Python, read by index.

Keras 2's ``keras.utils.Sequence`` is the same class under its old name, as in Keras 3.
"""
import itertools
import warnings


class PyDataset:
    """Base class for a dataset of batches computed in Python.

    A subclass implements ``__getitem__(index)``, returning one whole batch: ``(x, y)``,
    ``(x, y, sample_weight)`` or ``(x,)``, and ``__len__()``, the number of batches (or the
    ``num_batches`` property, which may be None for an endless dataset, then read with
    ``steps_per_epoch``). It may implement ``on_epoch_begin()`` and ``on_epoch_end()``, which
    ``fit``, ``evaluate`` and ``predict`` call around each pass (``on_epoch_end`` is where a
    dataset reshuffles). ``fit(dataset, shuffle=True)`` (the default) reads the batches in a new
    order each epoch, as Keras does.

    Args:
        workers, use_multiprocessing, max_queue_size: how many threads or processes Keras may
            use to read batches ahead. Accepted and kept for Keras code; tinykeras reads each
            batch on the calling thread when it is needed, which gives the same batches.

    Example::

        class Batches(keras.utils.PyDataset):
            def __init__(self, x, y, batch_size, **kwargs):
                super().__init__(**kwargs)
                self.x, self.y, self.batch_size = x, y, batch_size

            def __len__(self):
                return math.ceil(len(self.x) / self.batch_size)

            def __getitem__(self, index):
                part = slice(index * self.batch_size, (index + 1) * self.batch_size)
                return self.x[part], self.y[part]
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    def _warn_if_super_not_called(self):
        missing = False
        for name, default in (("_workers", 1), ("_use_multiprocessing", False), ("_max_queue_size", 10)):
            if not hasattr(self, name):
                setattr(self, name, default)
                missing = True
        if missing:
            warnings.warn(
                "Your `PyDataset` class should call `super().__init__(**kwargs)` in its "
                "constructor. `**kwargs` can include `workers`, `use_multiprocessing`, "
                "`max_queue_size`. Do not pass these arguments to `fit()`, as they will be ignored.",
                stacklevel=3,
            )

    @property
    def workers(self):
        self._warn_if_super_not_called()
        return self._workers

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self):
        self._warn_if_super_not_called()
        return self._use_multiprocessing

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self):
        self._warn_if_super_not_called()
        return self._max_queue_size

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        """The batch at position ``index``."""
        raise TypeError(f"{type(self).__name__} must implement __getitem__(self, index), returning one batch.")

    @property
    def num_batches(self):
        """The number of batches (``len(self)``), or None for an endless dataset."""
        if hasattr(self, "__len__"):
            return len(self)
        raise TypeError(
            f"{type(self).__name__} must implement __len__ or the num_batches property:\n\n"
            "@property\ndef num_batches(self):\n  return ..."
        )

    def __iter__(self):
        count = self.num_batches
        for index in itertools.count() if count is None else range(count):
            yield self[index]

    def on_epoch_begin(self):
        """Called at the start of every epoch."""

    def on_epoch_end(self):
        """Called at the end of every epoch."""

    def __repr__(self):
        try:
            count = self.num_batches
        except TypeError:
            count = "?"
        return f"<{type(self).__name__} num_batches={count}>"


Sequence = PyDataset
