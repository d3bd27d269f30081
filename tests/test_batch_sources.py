"""fit, evaluate and predict on sequences and generators of batches, as well as on arrays."""
import math
import warnings

import numpy as np
import pytest

import tinykeras as keras
from tinykeras import Sequential
from tinykeras.layers import Dense


class Batches:
    """A minimal sequence of (x, y) batches that records its epoch ends."""

    def __init__(self, x, y, batch_size):
        self.x, self.y, self.batch_size = x, y, batch_size
        self.epoch_ends = 0
        self.requested = []

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index):
        self.requested.append(index)
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[part], self.y[part]

    def on_epoch_end(self):
        self.epoch_ends += 1


@pytest.fixture
def data(rng):
    x = rng.standard_normal((40, 3)).astype(np.float32)
    y = keras.utils.to_categorical((x.sum(axis=1) > 0).astype(int), 2)
    return x, y


def model(seed=0):
    keras.utils.set_random_seed(seed)
    m = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2, activation="softmax")])
    m.compile("sgd", "categorical_crossentropy", ["accuracy"])
    return m


def test_fit_on_a_sequence_equals_fit_on_the_same_batches_of_arrays(data):
    x, y = data
    by_arrays = model()
    by_arrays.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    by_sequence = model()
    sequence = Batches(x, y, 8)
    history = by_sequence.fit(sequence, epochs=3, shuffle=False, verbose=0)

    for a, b in zip(by_arrays.get_weights(), by_sequence.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert sequence.epoch_ends == 3
    assert sequence.requested == list(range(5)) * 3
    assert len(history.history["loss"]) == 3


def test_steps_per_epoch_takes_the_first_batches_of_a_sequence(data):
    x, y = data
    sequence = Batches(x, y, 8)
    model().fit(sequence, steps_per_epoch=3, epochs=2, shuffle=False, verbose=0)
    assert sequence.requested == [0, 1, 2, 0, 1, 2]


def test_steps_per_epoch_beyond_a_sequence_raises(data):
    x, y = data
    with pytest.raises(ValueError, match="steps=6 is more than the 5 batches"):
        model().fit(Batches(x, y, 8), steps_per_epoch=6, verbose=0)


def test_fit_on_an_endless_generator_with_steps_per_epoch(data):
    x, y = data
    drawn = []

    def endless():
        index = 0
        while True:
            drawn.append(index)
            yield x[index % 5 * 8 : index % 5 * 8 + 8], y[index % 5 * 8 : index % 5 * 8 + 8]
            index += 1

    by_arrays = model()
    by_arrays.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    by_generator = model()
    by_generator.fit(endless(), steps_per_epoch=5, epochs=2, verbose=0)
    assert drawn == list(range(10))
    for a, b in zip(by_arrays.get_weights(), by_generator.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_finite_generator_without_steps_runs_one_epoch_then_warns(data):
    x, y = data
    batches = ((x[i : i + 8], y[i : i + 8]) for i in range(0, 40, 8))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model().fit(batches, epochs=3, verbose=0)
    assert history.epoch == [0]
    assert any("ran out of data" in str(w.message) for w in caught)


def test_validation_data_as_a_sequence_equals_arrays(data):
    x, y = data
    with_arrays = model().fit(x, y, epochs=2, validation_data=(x, y), shuffle=False, verbose=0)
    with_sequence = model().fit(x, y, epochs=2, validation_data=Batches(x, y, 32), shuffle=False, verbose=0)
    np.testing.assert_allclose(with_arrays.history["val_loss"], with_sequence.history["val_loss"], rtol=1e-6)
    np.testing.assert_allclose(with_arrays.history["val_acc"], with_sequence.history["val_acc"])


def test_validation_steps_limits_the_validation_batches(data):
    x, y = data
    sequence = Batches(x, y, 8)
    model().fit(x, y, epochs=1, validation_data=sequence, validation_steps=2, verbose=0)
    assert sequence.requested == [0, 1]


def test_evaluate_and_predict_on_sequences_and_generators(data):
    x, y = data
    m = model()
    expected_loss = m.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(m.evaluate(Batches(x, y, 7), verbose=0), expected_loss, rtol=1e-6)
    expected = m.predict(x, verbose=0)
    np.testing.assert_allclose(m.predict(Batches(x, y, 7), verbose=0), expected, rtol=1e-6)
    only_inputs = (x[i : i + 16] for i in range(0, 40, 16))
    np.testing.assert_allclose(m.predict(only_inputs, verbose=0), expected, rtol=1e-6)
    np.testing.assert_allclose(m.predict(Batches(x, y, 8), steps=2, verbose=0), expected[:16], rtol=1e-6)


def test_an_unbuilt_model_builds_from_the_first_batch(data):
    x, y = data
    keras.utils.set_random_seed(0)
    m = Sequential([Dense(2, activation="softmax")])
    m.compile("sgd", "categorical_crossentropy")
    m.fit(Batches(x, y, 8), verbose=0)
    assert m.input_shape == (None, 3)


@pytest.mark.parametrize(
    "batch, message",
    [
        (lambda x, y: x, "must be a tuple \\(x, y\\)"),
        (lambda x, y: (x, y, np.ones(len(x) + 1)), r"sample_weight .* has 9 weights for 8 samples"),
        (lambda x, y: (x, y, None, None), r"\(x, y, sample_weight\), \(x, y\) or \(x,\)"),
        (lambda x, y: (x[:, :2], y), "expects inputs of shape"),
        (lambda x, y: (x, y[:3]), "same number of samples"),
    ],
)
def test_bad_batches_raise_actionable_errors(data, batch, message):
    x, y = data
    m = model()
    with pytest.raises(ValueError, match=message):
        m.fit((batch(x[i : i + 8], y[i : i + 8]) for i in range(0, 40, 8)), verbose=0)


def test_y_with_a_sequence_raises(data):
    x, y = data
    with pytest.raises(ValueError, match="y and sample_weight must be None"):
        model().fit(Batches(x, y, 8), y, verbose=0)


def test_validation_split_with_a_sequence_raises(data):
    x, y = data
    with pytest.raises(ValueError, match="validation_split works only with array data"):
        model().fit(Batches(x, y, 8), validation_split=0.2, verbose=0)


def test_fit_without_targets_raises(data):
    x, _ = data
    with pytest.raises(ValueError, match="y is None"):
        model().fit(x, verbose=0)


def test_an_object_that_yields_no_batches_raises_type_error():
    with pytest.raises(TypeError, match="sequence of batches or a generator"):
        model().fit(object(), verbose=0)


def test_progress_line_for_a_generator_of_unknown_length(data, capsys):
    x, y = data
    model().fit(((x[i : i + 8], y[i : i + 8]) for i in range(0, 40, 8)), verbose=2)
    out = capsys.readouterr().out
    assert out.startswith("5 - ") and "loss:" in out
