"""``keras.utils.timeseries_dataset_from_array``: sliding windows over a timeseries, in batches.

Keras returns a ``tf.data.Dataset`` (or a Grain dataset); tinykeras returns a
:class:`TimeseriesDataset`, an iterable of NumPy batches that ``fit``, ``evaluate`` and
``predict`` read in full, in order, each epoch, as they read Keras' dataset.
"""
import numpy as np


def timeseries_dataset_from_array(
    data,
    targets,
    sequence_length,
    sequence_stride=1,
    sampling_rate=1,
    batch_size=128,
    shuffle=False,
    seed=None,
    start_index=None,
    end_index=None,
    format="tf",
):
    """Batches of sliding windows over ``data`` (and the target of each window).

    Window ``i`` starts at time step ``start_index + p`` for the ``i``-th start position ``p``
    of ``0, sequence_stride, 2 * sequence_stride, ...`` and holds the ``sequence_length`` steps
    ``sampling_rate`` apart from there; its target is ``targets[start_index + p]``. Only windows
    that end before ``end_index`` are made.

    Args:
        data: an array whose first axis is time.
        targets: the target of the window starting at each time step (``targets[i]`` for the
            window starting at ``data[i]``), or None for windows alone.
        sequence_length: the steps in each window.
        sequence_stride: the steps between the starts of successive windows.
        sampling_rate: the steps between successive elements of a window.
        batch_size: windows per batch (the last batch may be smaller); None yields the windows
            one by one.
        shuffle: draw the windows in a random order (the start positions shuffled with
            ``np.random.RandomState(seed)``, as Keras does; Keras' tf.data pipeline then also
            shuffles within a buffer of ``8 * batch_size`` windows, which is not reproduced).
            The order is the same at each pass.
        seed: the seed of that order (by default drawn from NumPy's global generator).
        start_index, end_index: the range of time steps used (``end_index`` excluded).
        format: Keras' choice between 'tf' and 'grain' datasets; accepted for Keras code, the
            result is the same NumPy batches.

    Returns:
        A :class:`TimeseriesDataset`: iterating over it yields ``(windows, targets)`` NumPy
        batches (``windows`` alone without targets), windows of shape
        ``(batch, sequence_length) + data.shape[1:]`` in ``data``'s dtype.

    Raises:
        ValueError: for a range or a step out of the data's bounds, or an unknown ``format``.
    """
    length = len(data)
    if start_index:
        if start_index < 0:
            raise ValueError(f"`start_index` must be 0 or greater. Received: start_index={start_index}")
        if start_index >= length:
            raise ValueError(
                "`start_index` must be lower than the length of the data. Received: "
                f"start_index={start_index}, for data of length {length}"
            )
    if end_index:
        if start_index and end_index <= start_index:
            raise ValueError(
                "`end_index` must be higher than `start_index`. Received: "
                f"start_index={start_index}, and end_index={end_index} "
            )
        if end_index >= length:
            raise ValueError(
                "`end_index` must be lower than the length of the data. Received: "
                f"end_index={end_index}, for data of length {length}"
            )
        if end_index <= 0:
            raise ValueError(f"`end_index` must be higher than 0. Received: end_index={end_index}")
    for name, step in (("sampling_rate", sampling_rate), ("sequence_stride", sequence_stride)):
        if step <= 0:
            raise ValueError(f"`{name}` must be higher than 0. Received: {name}={step}")
        if step >= length:
            raise ValueError(
                f"`{name}` must be lower than the length of the data. Received: {name}={step}, "
                f"for data of length {length}"
            )
    if format not in ("tf", "grain"):
        raise ValueError(f'`format` should be either "tf" or "grain". Received: format={format}')
    start_index = start_index or 0
    end_index = length if end_index is None else end_index
    count = end_index - start_index - (sequence_length - 1) * sampling_rate
    if targets is not None:
        count = min(count, len(targets))
    starts = np.arange(0, max(count, 0), sequence_stride)
    if shuffle:
        if seed is None:
            seed = np.random.randint(1e6)
        np.random.RandomState(seed).shuffle(starts)
    data = np.asarray(data)[start_index:end_index]
    targets = None if targets is None else np.asarray(targets)[start_index:]
    return TimeseriesDataset(data, targets, starts, sequence_length, sampling_rate, batch_size)


class TimeseriesDataset:
    """The windows of :func:`timeseries_dataset_from_array`, made batch by batch as they are
    read (each batch is a new array).

    ``len()`` is the number of batches (of windows, without ``batch_size``); iterating yields
    them in order, anew at each pass.
    """

    def __init__(self, data, targets, starts, sequence_length, sampling_rate, batch_size):
        self.data, self.targets, self.starts = data, targets, starts
        self.offsets = np.arange(sequence_length) * sampling_rate
        self.batch_size = batch_size

    def __len__(self):
        if self.batch_size is None:
            return len(self.starts)
        return -(-len(self.starts) // self.batch_size)

    def __iter__(self):
        if self.batch_size is None:
            for start in self.starts:
                yield self._item(start)
            return
        for first in range(0, len(self.starts), self.batch_size):
            yield self._item(self.starts[first : first + self.batch_size])

    def _item(self, starts):
        """The windows (and targets) starting at ``starts``: one start, or an array of them."""
        windows = self.data[np.asarray(starts)[..., None] + self.offsets]
        if self.targets is None:
            return windows
        return windows, self.targets[starts]

    def __repr__(self):
        return (f"<TimeseriesDataset windows={len(self.starts)}, batch_size={self.batch_size}, "
                f"window_shape={(len(self.offsets),) + self.data.shape[1:]}>")
