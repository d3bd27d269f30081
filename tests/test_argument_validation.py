"""Numeric arguments of fit, evaluate and predict: a wrong type raises TypeError, a wrong value
ValueError, before any batch runs; each message names the method, the argument and the value
received. The checks themselves: tinykeras/utils/argument_validation.py (tested at the end).
The layers' constructor arguments: tests/layers/test_arguments.py."""

import numpy as np
import pytest

from tinykeras import Sequential
from tinykeras.layers import Dense
from tinykeras.utils.argument_validation import check_int, check_number


def compiled_model():
    model = Sequential([Dense(3, activation="softmax", input_shape=(4,))])
    model.compile("sgd", "sparse_categorical_crossentropy")
    return model


def data(n=12):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 4)), np.arange(n) % 3


FIT_CASES = [
    # (argument, value, error, message)
    ("batch_size", 0, ValueError, r"fit: batch_size must be a positive integer\. Received: batch_size=0\."),
    ("batch_size", -1, ValueError, r"batch_size must be a positive integer\. Received: batch_size=-1\."),
    ("batch_size", True, TypeError, r"batch_size must be a positive integer\. Received: batch_size=True \(a bool, not a number\)"),
    ("batch_size", "8", TypeError, r"Received: batch_size='8' \(a str\)\. Pass the integer itself: batch_size=8\."),
    ("batch_size", 2.5, TypeError, r"Received: batch_size=2\.5 \(a float\)\. Pass a whole number, e\.g\. batch_size=2\."),
    ("epochs", -1, ValueError, r"fit: epochs must be a non-negative integer\. Received: epochs=-1\."),
    ("epochs", 2.0, TypeError, r"fit: epochs must be a non-negative integer\. Received: epochs=2\.0 \(a float\)\. Pass the integer itself: epochs=2\."),
    ("epochs", None, TypeError, r"fit: epochs must be a non-negative integer\. Received: epochs=None \(no value\)"),
    ("initial_epoch", -1, ValueError, r"fit: initial_epoch must be a non-negative integer\. Received: initial_epoch=-1\."),
    ("steps_per_epoch", 0, ValueError, r"fit: steps_per_epoch must be a positive integer\. Received: steps_per_epoch=0\."),
    ("steps_per_epoch", -1.5, TypeError, r"fit: steps_per_epoch must be a positive integer\. Received: steps_per_epoch=-1\.5"),
    ("validation_steps", -2, ValueError, r"fit: validation_steps must be a positive integer\. Received: validation_steps=-2\."),
    ("validation_split", 1.0, ValueError, r"fit: validation_split must be in \[0, 1\)\. Received: validation_split=1\.0\."),
    ("validation_split", -0.2, ValueError, r"validation_split must be in \[0, 1\)\. Received: validation_split=-0\.2\."),
    ("validation_split", "0.2", TypeError, r"validation_split must be a number in \[0, 1\)\. Received: validation_split='0\.2' \(a str\)\. Pass the number itself: validation_split=0\.2\."),
    ("validation_split", True, TypeError, r"validation_split must be a number in \[0, 1\)\. Received: validation_split=True \(a bool"),
    ("verbose", 3, ValueError, r"fit: verbose must be 'auto', 0 \(silent\), 1 \(a progress bar\) or 2 \(one line per epoch\)\. Received: verbose=3\."),
    ("verbose", "yes", ValueError, r"fit: verbose must be 'auto', 0 .*Received: verbose='yes'\."),
    ("verbose", None, TypeError, r"fit: verbose must be 'auto', 0 .*Received: verbose=None\."),
    ("verbose", 1.0, TypeError, r"fit: verbose must be .*Received: verbose=1\.0\."),
]


@pytest.mark.parametrize(("argument", "value", "error", "message"), FIT_CASES,
                         ids=[f"{case[0]}={case[1]!r}" for case in FIT_CASES])
def test_fit_refuses_a_bad_argument_before_training(argument, value, error, message):
    model = compiled_model()
    before = model.get_weights()
    x, y = data()
    arguments = {"epochs": 1, "verbose": 0, argument: value}
    with pytest.raises(error, match=message):
        model.fit(x, y, **arguments)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_keras_1_nb_epoch_is_checked_under_its_own_name():
    x, y = data()
    with pytest.warns(DeprecationWarning), \
            pytest.raises(ValueError, match=r"fit: nb_epoch must be a non-negative integer\. Received: nb_epoch=-1\."):
        compiled_model().fit(x, y, nb_epoch=-1, verbose=0)


@pytest.mark.parametrize(
    ("method", "argument", "value", "error", "message"),
    [
        ("evaluate", "batch_size", 0, ValueError, r"evaluate: batch_size must be a positive integer\. Received: batch_size=0\."),
        ("evaluate", "batch_size", False, TypeError, r"evaluate: batch_size must be a positive integer\. Received: batch_size=False \(a bool"),
        ("evaluate", "steps", 0, ValueError, r"evaluate: steps must be a positive integer\. Received: steps=0\."),
        ("evaluate", "steps", "2", TypeError, r"evaluate: steps must be a positive integer\. Received: steps='2' \(a str\)\. Pass the integer itself: steps=2\."),
        ("evaluate", "verbose", -1, ValueError, r"evaluate: verbose must be 'auto', 0 .*Received: verbose=-1\."),
        ("predict", "batch_size", -8, ValueError, r"predict: batch_size must be a positive integer\. Received: batch_size=-8\."),
        ("predict", "batch_size", 8.0, TypeError, r"predict: batch_size must be a positive integer\. Received: batch_size=8\.0 \(a float\)\. Pass the integer itself: batch_size=8\."),
        ("predict", "steps", -1, ValueError, r"predict: steps must be a positive integer\. Received: steps=-1\."),
        ("predict", "verbose", "silent", ValueError, r"predict: verbose must be 'auto', 0 .*Received: verbose='silent'\."),
    ],
)
def test_evaluate_and_predict_refuse_a_bad_argument(method, argument, value, error, message):
    model = compiled_model()
    x, y = data()
    call = (lambda **kw: model.evaluate(x, y, **kw)) if method == "evaluate" else (lambda **kw: model.predict(x, **kw))
    with pytest.raises(error, match=message):
        call(**{"verbose": 0, argument: value})


def test_numpy_integers_and_floats_and_boolean_verbose_are_accepted():
    model = compiled_model()
    x, y = data()
    history = model.fit(x, y, batch_size=np.int64(4), epochs=np.int32(2), initial_epoch=np.uint8(1),
                        steps_per_epoch=np.int16(2), validation_split=np.float32(0.25), verbose=False)
    assert len(history.history["loss"]) == 1
    assert np.isfinite(model.evaluate(x, y, batch_size=np.int64(5), steps=np.int64(2), verbose=False))
    assert model.predict(x, batch_size=np.int32(5), verbose=0).shape == (12, 3)


def test_zero_epochs_train_nothing_as_in_keras():
    model = compiled_model()
    before = model.get_weights()
    x, y = data()
    history = model.fit(x, y, epochs=0, verbose=0)
    assert history.history == {}
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


# ---- the checks themselves ------------------------------------------------------------------


@pytest.mark.parametrize("value", [3, np.int8(3), np.uint64(3), np.int64(3)])
def test_check_int_accepts_python_and_numpy_integers(value):
    result = check_int(value, "units", "Dense", minimum=1)
    assert result == 3 and type(result) is int


@pytest.mark.parametrize("value", [True, False, np.bool_(True), 3.0, "3", None, [3], np.array(3)])
def test_check_int_refuses_what_is_not_an_integer(value):
    with pytest.raises(TypeError, match=r"Dense: units must be a positive integer\. Received: units="):
        check_int(value, "units", "Dense", minimum=1)


@pytest.mark.parametrize(("minimum", "words"), [(None, "an integer"), (0, "a non-negative integer"),
                                                (1, "a positive integer"), (2, "an integer >= 2")])
def test_check_int_says_what_is_expected(minimum, words):
    with pytest.raises(TypeError, match=f"x must be {words}\\."):
        check_int("a", "x", "f", minimum=minimum)


@pytest.mark.parametrize(
    ("bounds", "good", "bad", "words"),
    [
        ({"low": 0, "high": 1, "high_open": True}, [0, 0.5, np.float32(0.99)], [1, -0.1, np.nan], r"in \[0, 1\)"),
        ({"low": 0, "high": 1}, [0, 1, np.float64(0.5)], [1.01, -1e-9, np.inf], r"in \[0, 1\]"),
        ({"low": 0, "low_open": True}, [1e-12, 3, np.int64(1)], [0, -1.0, np.inf, np.nan], "positive and finite"),
        ({"low": 0}, [0, 2.5], [-1, np.inf], "non-negative and finite"),
        ({}, [-5, 0.0], [np.nan, -np.inf], "finite"),
    ],
)
def test_check_number_checks_the_interval_and_finiteness(bounds, good, bad, words):
    for value in good:
        assert check_number(value, "rate", "Dropout", **bounds) == float(value)
    for value in bad:
        with pytest.raises(ValueError, match=rf"Dropout: rate must be {words}\. Received: rate="):
            check_number(value, "rate", "Dropout", **bounds)


@pytest.mark.parametrize("value", [True, np.bool_(False), "0.5", None, 1j, [0.5]])
def test_check_number_refuses_what_is_not_a_number(value):
    with pytest.raises(TypeError, match=r"Dropout: rate must be a number in \[0, 1\)\. Received: rate="):
        check_number(value, "rate", "Dropout", 0, 1, high_open=True)
