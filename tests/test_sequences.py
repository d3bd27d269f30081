"""keras.utils.PyDataset (and Keras 2's Sequence) in fit, evaluate and predict; pad_sequences;
timeseries_dataset_from_array. Expected orders, values and messages are those Keras 3.15.1 (JAX;
the timeseries through its 'grain' format) gave for the same inputs."""
import threading
import warnings

import numpy as np
import pytest

import tinykeras as keras
from tinykeras import optimizers
from tinykeras.layers import Dense, Flatten
from tinykeras.utils import PyDataset, pad_sequences, timeseries_dataset_from_array

X = np.arange(30, dtype="float32").reshape(10, 3) / 10
Y = X.sum(axis=1, keepdims=True)


class Batches(PyDataset):
    """Five batches of two rows; records what is read and the epoch hooks in ``log``."""

    def __init__(self, name, log, **kwargs):
        super().__init__(**kwargs)
        self.name, self.log = name, log
        self.threads = set()

    def __len__(self):
        return 5

    def __getitem__(self, index):
        self.log.append(f"{self.name}{index}")
        self.threads.add(threading.get_ident())
        return X[2 * index : 2 * index + 2], Y[2 * index : 2 * index + 2]

    def on_epoch_begin(self):
        self.log.append(f"{self.name}B")

    def on_epoch_end(self):
        self.log.append(f"{self.name}E")


def model():
    keras.utils.set_random_seed(0)
    built = keras.Sequential([keras.Input((3,)), Dense(1)])
    built.compile(optimizers.SGD(0.01), "mse")
    return built


def epoch(name, order=range(5)):
    return [f"{name}B", *(f"{name}{i}" for i in order), f"{name}E"]


# ---- PyDataset ----------------------------------------------------------------------------------


def test_fit_without_shuffle_reads_each_batch_in_order_between_the_epoch_hooks():
    log = []
    by_dataset = model()
    history = by_dataset.fit(Batches("t", log), epochs=2, shuffle=False, verbose=0, validation_data=Batches("v", log))
    # Keras: the same, besides extra on_epoch_end calls it makes before the first epoch and before
    # each validation.
    assert log == epoch("t") + epoch("v") + epoch("t") + epoch("v")
    by_arrays = model()
    by_arrays.fit(X, Y, batch_size=2, epochs=2, shuffle=False, verbose=0, validation_data=(X, Y))
    for a, b in zip(by_arrays.get_weights(), by_dataset.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(history.history["val_loss"]) == 2


def test_fit_shuffles_the_batch_order_each_epoch_as_keras_does():
    log = []
    model().fit(Batches("t", log), epochs=3, verbose=0)
    orders = [log[i * 7 + 1 : i * 7 + 6] for i in range(3)]
    assert all(sorted(order) == [f"t{i}" for i in range(5)] for order in orders)
    assert len({tuple(order) for order in orders}) > 1
    again = []
    model().fit(Batches("t", again), epochs=3, verbose=0)
    assert again == log  # the order comes from the seeded generator


def test_evaluate_and_predict_read_in_order_between_the_epoch_hooks():
    log = []
    trained = model()
    loss = trained.evaluate(Batches("e", log), verbose=0)
    assert log == epoch("e") and loss == pytest.approx(trained.evaluate(X, Y, batch_size=2, verbose=0))
    log.clear()
    predictions = trained.predict(Batches("p", log), verbose=0)
    assert log == epoch("p")  # Keras: exactly this
    np.testing.assert_array_equal(predictions, trained.predict(X, batch_size=2, verbose=0))


def test_workers_and_multiprocessing_are_accepted_and_batches_read_on_the_calling_thread():
    log = []
    dataset = Batches("t", log, workers=4, use_multiprocessing=True, max_queue_size=3)
    assert (dataset.workers, dataset.use_multiprocessing, dataset.max_queue_size) == (4, True, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model().fit(dataset, epochs=1, shuffle=False, verbose=0)
    assert log == epoch("t") and dataset.threads == {threading.get_ident()}
    defaults = Batches("d", [])
    assert (defaults.workers, defaults.use_multiprocessing, defaults.max_queue_size, defaults.num_batches) == (1, False, 10, 5)


def test_a_dataset_not_calling_super_init_warns_as_keras_does_when_asked_its_workers():
    class NoSuper(PyDataset):
        def __init__(self):
            pass

        def __len__(self):
            return 1

        def __getitem__(self, index):
            return X, Y

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model().fit(NoSuper(), verbose=0)  # fit does not need them
    with pytest.warns(UserWarning, match=r"^Your `PyDataset` class should call `super\(\).__init__\(\*\*kwargs\)` in its constructor\. `\*\*kwargs` can include `workers`, `use_multiprocessing`, `max_queue_size`\. Do not pass these arguments to `fit\(\)`, as they will be ignored\.$"):
        assert NoSuper().workers == 1


def test_a_dataset_may_give_num_batches_instead_of_len():
    class Counted(PyDataset):
        @property
        def num_batches(self):
            return 2

        def __getitem__(self, index):
            return X[index : index + 1], Y[index : index + 1]

    history = model().fit(Counted(), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert [x.tolist() for x, _ in Counted()] == [X[:1].tolist(), X[1:2].tolist()]


def test_an_endless_dataset_reads_on_across_epochs_with_steps_per_epoch():
    read = []

    class Endless(PyDataset):
        @property
        def num_batches(self):
            return None

        def __getitem__(self, index):
            read.append(index)
            return X[:2], Y[:2]

    model().fit(Endless(), epochs=2, steps_per_epoch=3, verbose=0)
    assert read == [0, 1, 2, 3, 4, 5]  # Keras: the same
    with pytest.raises(ValueError, match=r"fit: the Endless is endless \(its num_batches is None\): pass the batches per epoch as steps_per_epoch"):
        model().fit(Endless(), verbose=0)


def test_keras_2_sequences_run_in_fit_evaluate_and_predict():
    class Old(keras.utils.Sequence):  # Keras 2 style: no super().__init__, only on_epoch_end
        def __init__(self):
            self.ends = 0

        def __len__(self):
            return 5

        def __getitem__(self, index):
            return X[2 * index : 2 * index + 2], Y[2 * index : 2 * index + 2]

        def on_epoch_end(self):
            self.ends += 1

    sequence = Old()
    trained = model()
    trained.fit(sequence, epochs=2, verbose=0)
    trained.evaluate(sequence, verbose=0)
    assert trained.predict(sequence, verbose=0).shape == (10, 1)
    assert sequence.ends == 4
    assert keras.utils.Sequence is keras.utils.PyDataset


def test_an_iterable_dataset_with_a_length_is_read_in_full_each_epoch():
    class Iterable:
        def __init__(self):
            self.passes = 0

        def __len__(self):
            return 5

        def __iter__(self):
            self.passes += 1
            for index in range(5):
                yield X[2 * index : 2 * index + 2], Y[2 * index : 2 * index + 2]

    iterable = Iterable()
    by_iterable = model()
    by_iterable.fit(iterable, epochs=3, verbose=0)
    by_arrays = model()
    by_arrays.fit(X, Y, batch_size=2, epochs=3, shuffle=False, verbose=0)
    assert iterable.passes == 3
    for a, b in zip(by_arrays.get_weights(), by_iterable.get_weights()):
        np.testing.assert_array_equal(a, b)


# ---- pad_sequences ------------------------------------------------------------------------------

SEQUENCES = [[1, 2, 3], [4, 5], [6, 7, 8, 9, 10], []]


@pytest.mark.parametrize(("arguments", "dtype", "expected"), [
    ({}, "int32", [[0, 0, 1, 2, 3], [0, 0, 0, 4, 5], [6, 7, 8, 9, 10], [0, 0, 0, 0, 0]]),
    ({"maxlen": 4}, "int32", [[0, 1, 2, 3], [0, 0, 4, 5], [7, 8, 9, 10], [0, 0, 0, 0]]),
    ({"maxlen": 4, "padding": "post"}, "int32", [[1, 2, 3, 0], [4, 5, 0, 0], [7, 8, 9, 10], [0, 0, 0, 0]]),
    ({"maxlen": 4, "truncating": "post"}, "int32", [[0, 1, 2, 3], [0, 0, 4, 5], [6, 7, 8, 9], [0, 0, 0, 0]]),
    ({"maxlen": 4, "padding": "post", "truncating": "post", "value": -1}, "int32",
     [[1, 2, 3, -1], [4, 5, -1, -1], [6, 7, 8, 9], [-1, -1, -1, -1]]),
    ({"dtype": "float32", "value": 0.5}, "float32",
     [[0.5, 0.5, 1.0, 2.0, 3.0], [0.5, 0.5, 0.5, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0, 10.0], [0.5] * 5]),
    ({"maxlen": 2, "dtype": "int64"}, "int64", [[2, 3], [4, 5], [9, 10], [0, 0]]),
])
def test_pad_sequences_as_keras(arguments, dtype, expected):
    padded = pad_sequences(SEQUENCES, **arguments)
    assert str(padded.dtype) == dtype and padded.tolist() == expected


def test_pad_sequences_of_floats_arrays_vectors_and_strings_as_keras():
    assert pad_sequences([[1.7, 2.2], [3.9]], value=0.5).tolist() == [[1, 2], [0, 3]]  # cast to int32
    assert pad_sequences([np.array([1, 2]), np.array([3])]).tolist() == [[1, 2], [0, 3]]
    vectors = pad_sequences([[[1, 2], [3, 4]], [[5, 6]]], maxlen=3)
    assert vectors.shape == (2, 3, 2) and vectors.tolist() == [[[0, 0], [1, 2], [3, 4]], [[0, 0], [0, 0], [5, 6]]]
    words = pad_sequences([["a", "b"], ["c"]], dtype=object, value="<pad>")
    assert words.dtype == object and words.tolist() == [["a", "b"], ["<pad>", "c"]]
    assert pad_sequences([[1, 2]], maxlen=0).shape == (1, 0)  # Keras fails here
    assert pad_sequences([]).shape == (0, 0)
    assert keras.preprocessing.sequence.pad_sequences is pad_sequences


@pytest.mark.parametrize(("arguments", "message"), [
    ({"sequences": [[1], 2]}, r"^`sequences` must be a list of iterables\. Found non-iterable: 2$"),
    ({"sequences": 5}, r"^`sequences` must be iterable\.$"),
    ({"sequences": [[1]], "padding": "mid"}, r'^Padding type "mid" not understood$'),
    ({"sequences": [[1]], "truncating": "x"}, r'^Truncating type "x" not understood$'),
    ({"sequences": [[1]], "value": "x"}, r"^`dtype` int32 is not compatible with `value`'s type: <class 'str'>\nYou should set `dtype=object` for variable length strings\.$"),
    ({"sequences": [[[1, 2]], [[1]]]}, r"^Shape of sample \(1,\) of sequence at position 1 is different from expected shape \(2,\)$"),
])
def test_pad_sequences_errors_as_keras(arguments, message):
    with pytest.raises(ValueError, match=message):
        pad_sequences(**arguments)


# ---- timeseries_dataset_from_array --------------------------------------------------------------

DATA = np.arange(20).reshape(20, 1) * 10
TARGETS = np.arange(20) + 100


def batches(dataset):
    return [tuple(part.tolist() for part in batch) if isinstance(batch, tuple) else batch.tolist() for batch in dataset]


def test_windows_with_stride_and_sampling_rate_as_keras():
    dataset = timeseries_dataset_from_array(DATA, TARGETS, sequence_length=4, sequence_stride=3, sampling_rate=2,
                                            batch_size=2)
    assert batches(dataset) == [
        ([[[0], [20], [40], [60]], [[30], [50], [70], [90]]], [100, 103]),
        ([[[60], [80], [100], [120]], [[90], [110], [130], [150]]], [106, 109]),
        ([[[120], [140], [160], [180]]], [112]),
    ]
    assert len(dataset) == 3 and batches(dataset) == batches(dataset)  # read anew at each pass
    first, _ = next(iter(dataset))
    assert first.dtype == DATA.dtype and isinstance(first, np.ndarray)


def test_windows_between_start_and_end_index_without_targets_as_keras():
    dataset = timeseries_dataset_from_array(np.arange(10), None, sequence_length=3, batch_size=3, start_index=2, end_index=9)
    assert batches(dataset) == [[[2, 3, 4], [3, 4, 5], [4, 5, 6]], [[5, 6, 7], [6, 7, 8]]]


def test_unbatched_windows_as_keras():
    dataset = timeseries_dataset_from_array(np.arange(12, dtype="float32"), np.arange(12), sequence_length=3,
                                            sequence_stride=2, start_index=3, batch_size=None)
    assert batches(dataset)[:3] == [([3.0, 4.0, 5.0], 3), ([5.0, 6.0, 7.0], 5), ([7.0, 8.0, 9.0], 7)]


def test_the_next_step_as_target_as_keras():
    dataset = timeseries_dataset_from_array(DATA[:-4], DATA[4:, 0], sequence_length=4, batch_size=8)
    windows = [[[10 * (i + j)] for j in range(4)] for i in range(13)]
    assert batches(dataset) == [(windows[:8], [40, 50, 60, 70, 80, 90, 100, 110]),
                                (windows[8:], [120, 130, 140, 150, 160])]


def test_shuffled_windows_start_in_keras_order():
    dataset = timeseries_dataset_from_array(DATA, TARGETS, sequence_length=5, batch_size=4, shuffle=True, seed=7)
    targets = [t for _, batch_targets in batches(dataset) for t in batch_targets]
    # np.random.RandomState(7) shuffling the 16 start positions, as Keras does before its tf.data
    # (or Grain) shuffle.
    assert targets == [100 + p for p in [8, 5, 10, 2, 12, 0, 1, 14, 13, 7, 11, 3, 6, 9, 4, 15]]
    for windows, batch_targets in dataset:
        np.testing.assert_array_equal(windows[:, 0, 0], (np.array(batch_targets) - 100) * 10)


@pytest.mark.parametrize(("arguments", "message"), [
    ({"start_index": -1}, r"^`start_index` must be 0 or greater\. Received: start_index=-1$"),
    ({"start_index": 20}, r"^`start_index` must be lower than the length of the data\. Received: start_index=20, for data of length 20$"),
    ({"end_index": 20}, r"^`end_index` must be lower than the length of the data\. Received: end_index=20, for data of length 20$"),
    ({"start_index": 5, "end_index": 3}, r"^`end_index` must be higher than `start_index`\. Received: start_index=5, and end_index=3 $"),
    ({"sampling_rate": 0}, r"^`sampling_rate` must be higher than 0\. Received: sampling_rate=0$"),
    ({"sequence_stride": 0}, r"^`sequence_stride` must be higher than 0\. Received: sequence_stride=0$"),
    ({"sampling_rate": 20}, r"^`sampling_rate` must be lower than the length of the data\. Received: sampling_rate=20, for data of length 20$"),
    ({"sequence_stride": 20}, r"^`sequence_stride` must be lower than the length of the data\. Received: sequence_stride=20, for data of length 20$"),
    ({"format": "torch"}, r'^`format` should be either "tf" or "grain"\. Received: format=torch$'),
])
def test_timeseries_arguments_are_checked_as_keras_checks_them(arguments, message):
    with pytest.raises(ValueError, match=message):
        timeseries_dataset_from_array(DATA, TARGETS, sequence_length=3, **arguments)


def test_fit_evaluate_and_predict_read_a_timeseries_dataset_in_order():
    series = np.sin(np.arange(60, dtype="float32") / 5)
    dataset = timeseries_dataset_from_array(series[:-5], series[5:], sequence_length=5, batch_size=8)
    windows = np.stack([series[i : i + 5] for i in range(51)])

    def regressor():
        keras.utils.set_random_seed(0)
        built = keras.Sequential([keras.Input((5,)), Dense(1)])
        built.compile(optimizers.SGD(0.05), "mse")
        return built

    by_dataset = regressor()
    history = by_dataset.fit(dataset, epochs=3, verbose=0, validation_data=dataset)  # fit's shuffle leaves it in order
    by_arrays = regressor()
    by_arrays.fit(windows, series[5:56], batch_size=8, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(by_arrays.get_weights(), by_dataset.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(history.history["val_loss"]) == 3
    assert by_dataset.evaluate(dataset, verbose=0) == pytest.approx(history.history["val_loss"][-1])
    inputs_only = timeseries_dataset_from_array(series, None, sequence_length=5, batch_size=16)
    assert by_dataset.predict(inputs_only, verbose=0).shape == (56, 1)
    assert keras.preprocessing.timeseries_dataset_from_array is timeseries_dataset_from_array


def test_windows_of_images_keep_their_trailing_axes():
    frames = np.arange(6 * 2 * 2, dtype="float32").reshape(6, 2, 2)
    dataset = timeseries_dataset_from_array(frames, np.arange(6), sequence_length=3, batch_size=10)
    windows, targets = next(iter(dataset))
    assert windows.shape == (4, 3, 2, 2) and targets.tolist() == [0, 1, 2, 3]
    network = keras.Sequential([keras.Input((3, 2, 2)), Flatten(), Dense(1)])
    network.compile("sgd", "mse")
    network.fit(dataset, verbose=0)
