"""Checks of numeric arguments (counts, sizes, rates), shared by the layers' constructors, the
model's fit/evaluate/predict and the optimizers.

A wrong type raises ``TypeError``, a wrong value ``ValueError``; each message names who received
the argument, the argument, what it must be and the value received, e.g.
``Dense: units must be a positive integer. Received: units=True (a bool, not a number).``
Python and NumPy integers and floats are accepted; booleans are not numbers here, although
Python counts ``True`` as the integer 1: ``units=True`` is a mistake, not one unit.
"""
import math
import numbers

import numpy as np


def is_integer(value):
    """Whether ``value`` is a Python or NumPy integer, and not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def is_number(value):
    """Whether ``value`` is a Python or NumPy integer or float, and not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_int(value, name, where, minimum=None):
    """Returns ``value`` as a Python int, after checking that it is an integer >= ``minimum``.

    Args:
        value: the argument as received.
        name: the argument's name, e.g. ``'units'``.
        where: who received it, e.g. ``'Dense'`` or ``'fit'``.
        minimum: the smallest value allowed, or None for any integer.

    Raises:
        TypeError: when ``value`` is not an integer (a bool, a float, a string...).
        ValueError: when it is smaller than ``minimum``.
    """
    expected = {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}.get(
        minimum, f"an integer >= {minimum}")
    if not is_integer(value):
        raise TypeError(f"{where}: {name} must be {expected}. Received: {name}={value!r} "
                        f"({_kind(value)}).{_integer_hint(value, name, minimum)}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{where}: {name} must be {expected}. Received: {name}={value!r}.")
    return int(value)


def check_optional_int(value, name, where, minimum=None):
    """``check_int`` for an argument that may also be None (meaning its default); returns
    ``value`` as an int, or None."""
    return None if value is None else check_int(value, name, where, minimum)


def check_bool(value, name, where):
    """Returns ``value`` as a bool, after checking that it is one (Python or NumPy).

    Raises:
        TypeError: for anything else (0, 1, 'True', None...).
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {name} must be True or False. Received: {name}={value!r} ({_kind(value)}).")
    return bool(value)


def check_number(value, name, where, low=None, high=None, low_open=False, high_open=False):
    """Returns ``value`` as a Python float, after checking that it is a finite number in the
    interval from ``low`` to ``high``.

    Args:
        value: the argument as received.
        name: the argument's name, e.g. ``'rate'``.
        where: who received it, e.g. ``'Dropout'``.
        low, high: the interval's ends, or None for no bound.
        low_open, high_open: whether the end itself is excluded (``rate`` in [0, 1): low=0,
            high=1, high_open=True).

    Raises:
        TypeError: when ``value`` is not an int or a float (a bool, a string...).
        ValueError: when it is NaN, infinite or outside the interval.
    """
    expected, number_expected = _interval(low, high, low_open, high_open)
    if not is_number(value):
        number = _parsed(value)
        hint = (" Pass an int or a float." if number is None
                else f" Pass the number itself: {name}={number!r}.")
        raise TypeError(f"{where}: {name} must be {number_expected}. Received: "
                        f"{name}={value!r} ({_kind(value)}).{hint}")
    inside = math.isfinite(value) and (
        (low is None or (value > low if low_open else value >= low))
        and (high is None or (value < high if high_open else value <= high)))
    if not inside:
        raise ValueError(f"{where}: {name} must be {expected}. Received: {name}={value!r}.")
    return float(value)


def _interval(low, high, low_open, high_open):
    """The words for an interval, as (what a value must be, what a number must be): ('positive
    and finite', 'a positive, finite number'), ('in [0, 1)', 'a number in [0, 1)')..."""
    if low is not None and high is not None:
        words = f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        return words, f"a number {words}"
    if low == 0:
        sign = "positive" if low_open else "non-negative"
        return f"{sign} and finite", f"a {sign}, finite number"
    if low is not None or high is not None:
        bound = (f"{'>' if low_open else '>='} {low}" if low is not None
                 else f"{'<' if high_open else '<='} {high}")
        return f"{bound} and finite", f"a finite number {bound}"
    return "finite", "a finite number"


def _kind(value):
    """What a value is, for a message: 'a bool', 'a str', 'a float'..."""
    if isinstance(value, (bool, np.bool_)):
        return "a bool, not a number"
    if value is None:
        return "no value"
    article = "an" if type(value).__name__[0] in "aeiou" else "a"
    return f"{article} {type(value).__name__}"


def _parsed(value):
    """The number a string or float stands for (``'8'`` -> 8, ``'0.5'`` -> 0.5, ``8.0`` -> 8),
    or None."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (str, numbers.Real)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() else number


def _integer_hint(value, name, minimum):
    """How to fix an argument that should have been an integer: the integer a string or a
    float stands for, when there is one."""
    number = _parsed(value)
    if number is None:
        return " Pass a Python or NumPy int."
    if isinstance(number, int) and (minimum is None or number >= minimum):
        return f" Pass the integer itself: {name}={number}."
    example = math.floor(number) if minimum is None else max(math.floor(number), minimum)
    return f" Pass a whole number, e.g. {name}={example}."
