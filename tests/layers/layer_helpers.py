"""Small helpers shared by the layer tests: Keras-style window arguments and layout changes."""
import numpy as np
from hypothesis import strategies as st


def int_or_pair(low, high):
    """An int or a 2-tuple of ints in [low, high], as Keras accepts for window arguments."""
    values = st.integers(low, high)
    return st.one_of(values, st.tuples(values, values))


def pair(value):
    """A window argument as a pair, the way Keras reads an int."""
    return (value, value) if isinstance(value, int) else tuple(value)


def concrete(shape, batch):
    """A symbolic shape with its None (batch) axis filled in."""
    return tuple(batch if d is None else d for d in shape)


def to_nchw(x):
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def to_nhwc(x):
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
