"""Global configuration: float type, image data format, epsilon, seeding and the home folder.

Keras keeps these in ``keras.config`` / ``keras.backend``; tinykeras keeps them here, with the
same names, so ``keras.backend.set_floatx('float64')`` reads the same.

Where the settings come from, the later overriding the earlier:

1. the defaults: floatx 'float32', epsilon 1e-7, image_data_format 'channels_last';
2. the settings file ``$TINYKERAS_HOME/tinykeras.json`` (``~/.tinykeras/tinykeras.json`` without
   the variable), read at import as Keras reads ``~/.keras/keras.json``, e.g.
   ``{"image_data_format": "channels_first", "floatx": "float32", "epsilon": 1e-07}``
   (every key optional; other keys, such as Keras' "backend", are ignored);
3. the environment variable ``TINYKERAS_IMAGE_DATA_FORMAT`` ('channels_last' or 'channels_first');
4. calls in the program: ``set_image_data_format()``, ``set_floatx()``, ``set_epsilon()``.

A settings file that is not valid JSON, or not a JSON object, is ignored with a ``UserWarning``;
a key with a bad value is ignored (with a warning) while the good keys beside it apply. A damaged
file therefore never stops ``import tinykeras``: the defaults stand in for what it cannot give.

``load_config()`` reads steps 1-3 again (after the file or the variable changed).
A layer takes the image data format when it is created, so set it before building the model.
"""
import json
import math
import os
import re
import reprlib
import warnings
from collections import defaultdict

import numpy as np

from tinykeras._home import tinykeras_home  # noqa: F401  (keras.backend's place for it)
from tinykeras.kernels import mode as kernel_mode

FLOATX_TYPES = ("float32", "float64")
IMAGE_DATA_FORMATS = ("channels_last", "channels_first")
CONFIG_FILE = "tinykeras.json"
IMAGE_DATA_FORMAT_VARIABLE = "TINYKERAS_IMAGE_DATA_FORMAT"

_DEFAULTS = {"floatx": "float32", "epsilon": 1e-7, "image_data_format": "channels_last"}

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
    if value not in FLOATX_TYPES:
        raise ValueError(
            f"Unknown floatx type: {value!r}. Expected one of 'float32', 'float64'."
        )
    _FLOATX = value


def kernels():
    """The kernels layers and optimizers run: 'fast' (compiled, the default) or 'reference' (their
    plain NumPy references, to read and to check the fast ones against; see ``kernels.mode``)."""
    return kernel_mode.kernels()


def set_kernels(mode):
    """Runs every kernel as its fast form ('fast') or its plain NumPy reference ('reference').
    ``TINYKERAS_KERNELS=reference`` sets the same at import."""
    kernel_mode.set_kernels(mode)


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


def standardize_data_format(data_format):
    """'channels_last' or 'channels_first' (any case); None means ``image_data_format()``."""
    value = image_data_format() if data_format is None else str(data_format).lower()
    if value not in ("channels_last", "channels_first"):
        raise ValueError(
            "The `data_format` argument must be one of 'channels_last', 'channels_first'. "
            f"Received: data_format={data_format!r}"
        )
    return value


def set_image_data_format(data_format):
    """Sets the default image data format: 'channels_last' or 'channels_first'."""
    global _IMAGE_DATA_FORMAT
    if data_format not in IMAGE_DATA_FORMATS:
        raise ValueError(
            "The image_data_format must be 'channels_last' or 'channels_first'. "
            f"Received: {data_format!r}"
        )
    _IMAGE_DATA_FORMAT = data_format


def image_dim_ordering():
    """Keras 1's name for the image data format: 'th' (channels_first) or 'tf' (channels_last).
    Deprecated: use ``image_data_format()``."""
    warnings.warn(
        "`image_dim_ordering()` is deprecated; use `image_data_format()`, which returns "
        "'channels_first' (Keras 1's 'th') or 'channels_last' ('tf').",
        DeprecationWarning,
        stacklevel=2,
    )
    return "th" if _IMAGE_DATA_FORMAT == "channels_first" else "tf"


def set_image_dim_ordering(dim_ordering):
    """Keras 1's setter: 'th' sets channels_first, 'tf' channels_last. Deprecated: use
    ``set_image_data_format('channels_first')`` or ``set_image_data_format('channels_last')``."""
    orderings = {"th": "channels_first", "tf": "channels_last"}
    if dim_ordering not in orderings:
        raise ValueError(
            "The image_dim_ordering must be 'th' or 'tf' (Keras 1 names; prefer "
            f"set_image_data_format('channels_first' or 'channels_last')). Received: {dim_ordering!r}"
        )
    warnings.warn(
        "`set_image_dim_ordering()` is deprecated; use "
        f"`set_image_data_format({orderings[dim_ordering]!r})`.",
        DeprecationWarning,
        stacklevel=2,
    )
    set_image_data_format(orderings[dim_ordering])


def config_path():
    """The settings file: ``$TINYKERAS_HOME/tinykeras.json`` (``~/.tinykeras/tinykeras.json``)."""
    return os.path.join(tinykeras_home(), CONFIG_FILE)


def _read_config_file(path):
    """The valid settings in ``path``, as a dict ({} when there is no file).

    Every problem is reported with a ``UserWarning`` naming the file and is then passed over: an
    unreadable file, or one that is not a JSON object, gives {}; a key with a bad value is left
    out and the other keys still apply.

    Args:
        path: the settings file.

    Returns:
        A dict holding some of 'image_data_format', 'floatx' and 'epsilon'.
    """
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        _warn_bad_settings(path, f"it cannot be read as JSON ({type(error).__name__}: {error})")
        return {}
    if not isinstance(config, dict):
        _warn_bad_settings(path, "it must hold a JSON object such as "
                                 f'{{"image_data_format": "channels_first"}}. Received: '
                                 f"{reprlib.repr(config)}")
        return {}
    settings = {}
    checks = {
        "image_data_format": lambda value, where: _checked(value, IMAGE_DATA_FORMATS, where),
        "floatx": lambda value, where: _checked(value, FLOATX_TYPES, where),
        "epsilon": _checked_epsilon,
    }
    for key, check in checks.items():
        if key not in config:
            continue
        try:
            settings[key] = check(config[key], "it")
        except ValueError as error:
            _warn_bad_settings(path, str(error), key)
    return settings


def _warn_bad_settings(path, problem, key=None):
    """Warns that the settings file, or one key of it, is ignored and the default used instead.

    Args:
        path: the settings file.
        problem: what is wrong, as a sentence.
        key: the setting ignored, or None when the whole file is.
    """
    if key is None:
        defaults = ", ".join(f"{name}={value!r}" for name, value in _DEFAULTS.items())
        message = (f"Ignoring the tinykeras settings file {path}: {problem}. The defaults are "
                   f"used instead ({defaults}). Fix or delete the file.")
    else:
        message = (f'Ignoring "{key}" in the tinykeras settings file {path}: {problem}. The '
                   f"default {key}={_DEFAULTS[key]!r} is used instead; fix or delete that key.")
    warnings.warn(message, UserWarning, stacklevel=3)


def _checked(value, allowed, where):
    """Returns ``value`` when it is one of ``allowed``, else raises ValueError naming ``where``."""
    if value not in allowed:
        expected = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{where} must be one of {expected}. Received: {value!r}")
    return value


def _checked_epsilon(value, where):
    """Returns ``value`` as a float when it is a positive finite number, else raises ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ValueError(f"{where} must be a positive number such as 1e-07. Received: {value!r}")
    return float(value)


def load_config():
    """Applies the defaults, then the settings file, then ``$TINYKERAS_IMAGE_DATA_FORMAT`` (see
    the module's docstring); tinykeras does this at import.

    Returns:
        The settings in force: {'floatx': ..., 'epsilon': ..., 'image_data_format': ...}.

    A bad value, in the settings file or in ``$TINYKERAS_IMAGE_DATA_FORMAT``, is ignored with a
    ``UserWarning`` naming it, so that it never stops ``import tinykeras``.
    """
    settings = dict(_DEFAULTS)
    settings.update(_read_config_file(config_path()))
    from_environment = os.environ.get(IMAGE_DATA_FORMAT_VARIABLE)
    if from_environment:
        if from_environment in IMAGE_DATA_FORMATS:
            settings["image_data_format"] = from_environment
        else:
            warnings.warn(
                f"Ignoring the environment variable {IMAGE_DATA_FORMAT_VARIABLE}={from_environment!r}: "
                f"it must be one of {', '.join(map(repr, IMAGE_DATA_FORMATS))}. The image data format "
                f"{settings['image_data_format']!r} is used instead.",
                UserWarning,
                stacklevel=2,
            )
    set_floatx(settings["floatx"])
    set_epsilon(settings["epsilon"])
    set_image_data_format(settings["image_data_format"])
    return settings


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


load_config()


from tinykeras._missing import attribute_error_for  # noqa: E402

__getattr__ = attribute_error_for(__name__)
