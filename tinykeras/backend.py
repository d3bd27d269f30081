"""Global configuration: float type, image data format, epsilon, seeding and the home folder.

Keras keeps these in ``keras.config`` / ``keras.backend``; tinykeras keeps them here, with the
same names, so ``keras.backend.set_floatx('float64')`` reads the same.
"""
import os
import re
from collections import defaultdict

import numpy as np

_FLOATX = "float32"
_EPSILON = 1e-7
_IMAGE_DATA_FORMAT = "channels_last"
_RNG = np.random.default_rng()
_NAME_COUNTS = defaultdict(int)


def floatx():
    """Returns the default float type as a string: 'float32' unless changed."""
    return _FLOATX


def set_floatx(value):
    """Sets the default float type: 'float32' (default) or 'float64' (for gradient checks)."""
    global _FLOATX
    if value not in ("float32", "float64"):
        raise ValueError(
            f"Unknown floatx type: {value!r}. Expected one of 'float32', 'float64'."
        )
    _FLOATX = value


def epsilon():
    """Returns the fuzz factor used in numeric expressions (1e-7, as in Keras)."""
    return _EPSILON


def set_epsilon(value):
    """Sets the fuzz factor used in numeric expressions."""
    global _EPSILON
    _EPSILON = float(value)


def image_data_format():
    """Returns 'channels_last' (NHWC, default) or 'channels_first' (NCHW)."""
    return _IMAGE_DATA_FORMAT


def set_image_data_format(data_format):
    """Sets the default image data format: 'channels_last' or 'channels_first'."""
    global _IMAGE_DATA_FORMAT
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            "The image_data_format must be 'channels_last' or 'channels_first'. "
            f"Received: {data_format!r}"
        )
    _IMAGE_DATA_FORMAT = data_format


def tinykeras_home():
    """The folder for caches (datasets, settings): $TINYKERAS_HOME, else ~/.tinykeras."""
    home = os.environ.get("TINYKERAS_HOME")
    if home:
        return os.path.abspath(os.path.expanduser(home))
    return os.path.join(os.path.expanduser("~"), ".tinykeras")


def set_random_seed(seed):
    """Seeds every source of randomness in tinykeras (initializers, dropout, shuffling).

    The same seed gives the same initial weights and the same training history.
    NumPy's and Python's global generators are seeded too, as Keras does.
    """
    global _RNG
    import random

    seed = int(seed)
    _RNG = np.random.default_rng(seed)
    np.random.seed(seed % (2**32))
    random.seed(seed)


def rng():
    """The generator every random draw in tinykeras goes through."""
    return _RNG


def unique_name(base):
    """Returns 'base', then 'base_1', 'base_2', ... as Keras names layers and models."""
    count = _NAME_COUNTS[base]
    _NAME_COUNTS[base] += 1
    return base if count == 0 else f"{base}_{count}"


def snake_case(name):
    """'MaxPooling2D' -> 'max_pooling2d', 'Dense' -> 'dense', as Keras derives layer names."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def clear_session():
    """Resets the layer-name counters, so the next Dense is named 'dense' again."""
    _NAME_COUNTS.clear()
