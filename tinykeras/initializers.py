"""Weight initializers with Keras' names, defaults and formulas.

Fans follow Keras: for a Dense kernel (in, out) fan_in=in, fan_out=out; for a convolution kernel
(kh, kw, c_in, c_out) the receptive field kh*kw multiplies both.
"""
import math

import numpy as np

from tinykeras import backend
from tinykeras.utils.naming import lookup

# Standard deviation of a unit normal truncated to [-2, 2]: dividing by it makes the truncated
# draw have the intended variance (Keras' VarianceScaling does the same).
_TRUNCATED_STDDEV = 0.87962566103423978


def compute_fans(shape):
    """Returns (fan_in, fan_out) for a weight shape, as Keras computes them."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


class Initializer:
    """Base class: ``initializer(shape, dtype=None)`` returns a new array."""

    def __call__(self, shape, dtype=None):
        dtype = dtype or backend.floatx()
        return np.asarray(self.sample(tuple(shape)), dtype=dtype)

    def sample(self, shape):
        raise TypeError(f"{type(self).__name__} must define sample(shape).")

    def get_config(self):
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    def sample(self, shape):
        return np.zeros(shape)


class Ones(Initializer):
    def sample(self, shape):
        return np.ones(shape)


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = value

    def sample(self, shape):
        return np.full(shape, self.value)

    def get_config(self):
        return {"value": self.value}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def sample(self, shape):
        return _rng(self.seed).normal(self.mean, self.stddev, shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def sample(self, shape):
        return _rng(self.seed).uniform(self.minval, self.maxval, shape)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class TruncatedNormal(Initializer):
    """Normal draws redrawn until they fall within two standard deviations of the mean."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def sample(self, shape):
        return self.mean + self.stddev * _truncated_unit_normal(_rng(self.seed), shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class VarianceScaling(Initializer):
    """Draws with variance ``scale / n``, n being fan_in, fan_out or their mean (``mode``).

    Args:
        scale: the variance numerator.
        mode: 'fan_in', 'fan_out' or 'fan_avg'.
        distribution: 'truncated_normal', 'untruncated_normal' or 'uniform'.
        seed: optional integer for a reproducible draw.
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"Invalid mode: {mode!r}. Expected 'fan_in', 'fan_out' or 'fan_avg'.")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(
                f"Invalid distribution: {distribution!r}. Expected 'truncated_normal', "
                "'untruncated_normal' or 'uniform'."
            )
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def sample(self, shape):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        rng = _rng(self.seed)
        if self.distribution == "uniform":
            limit = math.sqrt(3 * variance)
            return rng.uniform(-limit, limit, shape)
        if self.distribution == "untruncated_normal":
            return rng.normal(0, math.sqrt(variance), shape)
        return math.sqrt(variance) / _TRUNCATED_STDDEV * _truncated_unit_normal(rng, shape)

    def get_config(self):
        return {
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "seed": self.seed,
        }


class Orthogonal(Initializer):
    """An orthogonal matrix (Saxe et al., 2014), times ``gain``: the Q of the QR decomposition of
    a standard normal draw, its columns' signs fixed by R's diagonal. A shape of more than two
    axes is drawn as the matrix (product of the leading axes, last axis); of the matrix, the
    rows are orthonormal when there are fewer rows than columns, else the columns, as in Keras.

    Args:
        gain: the factor multiplying the matrix.
        seed: optional integer for a reproducible draw.
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = gain, seed

    def sample(self, shape):
        if len(shape) < 2:
            raise ValueError(
                f"Orthogonal initializer: the shape must have at least two axes. Received: shape={shape}."
            )
        rows, columns = math.prod(shape[:-1]), shape[-1]
        q, r = np.linalg.qr(_rng(self.seed).standard_normal((max(rows, columns), min(rows, columns))))
        q *= np.sign(np.diag(r))
        return self.gain * (q.T if rows < columns else q).reshape(shape)

    def get_config(self):
        return {"seed": self.seed, "gain": self.gain}


def _named_variance_scaling(name, scale, mode, distribution):
    """Defines a Keras named initializer (GlorotUniform, HeNormal, ...) as a VarianceScaling."""

    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config})


GlorotUniform = _named_variance_scaling("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _named_variance_scaling("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _named_variance_scaling("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _named_variance_scaling("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _named_variance_scaling("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _named_variance_scaling("LecunNormal", 1.0, "fan_in", "truncated_normal")


def _rng(seed):
    return backend.rng() if seed is None else np.random.default_rng(seed)


def _truncated_unit_normal(rng, shape):
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2
    return values


_INITIALIZERS = {
    "zeros": Zeros,
    "ones": Ones,
    "constant": Constant,
    "random_normal": RandomNormal,
    "random_uniform": RandomUniform,
    "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform,
    "he_normal": HeNormal,
    "lecun_uniform": LecunUniform,
    "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal,
}
_ALIASES = {
    "zero": "zeros",
    "one": "ones",
    "normal": "random_normal",
    "uniform": "random_uniform",
    "xavier_uniform": "glorot_uniform",
    "xavier_normal": "glorot_normal",
}
_CLASS_NAMES = {cls.__name__: name for name, cls in _INITIALIZERS.items()}


def get(identifier):
    """Returns an Initializer for a name ('glorot_uniform'), a class name, an instance or a callable.

    Raises:
        ValueError: for an unknown name, listing the valid ones and the nearest match.
    """
    if isinstance(identifier, Initializer) or (
        callable(identifier) and not isinstance(identifier, type)
    ):
        return identifier
    if isinstance(identifier, dict):
        return _deserialize(identifier)
    if isinstance(identifier, str):
        name = _CLASS_NAMES.get(identifier, identifier)
        return lookup("initializer", name, _INITIALIZERS, _ALIASES)()
    raise TypeError(
        f"Could not interpret initializer {identifier!r}: pass a name such as 'glorot_uniform' "
        "or an initializer object."
    )


def serialize(initializer):
    """Keras' config form: {'class_name': 'GlorotUniform', 'config': {...}}."""
    return {"class_name": type(initializer).__name__, "config": initializer.get_config()}


#: Keyword arguments Keras writes in initializer configs that only matter when set.
_UNSET_IN_KERAS = ("input_axes", "output_axes")


def _deserialize(config):
    """An Initializer from a serialized dict: tinykeras' {'class_name', 'config'} or Keras 3's
    (with 'module' and 'registered_name'; input_axes/output_axes must be unset).

    Raises:
        ValueError: for a malformed dict or an unknown class.
    """
    class_name, settings = config.get("class_name"), config.get("config", {})
    if not isinstance(class_name, str) or not isinstance(settings, dict):
        raise ValueError(  # noqa: TRY004 - a malformed config read from a file is a bad value
            "A serialized initializer must be {'class_name': str, 'config': dict}. "
            f"Received: {config!r}"
        )
    settings = dict(settings)
    for key in _UNSET_IN_KERAS:
        if settings.get(key, None) is not None:
            raise ValueError(f"Initializer {class_name}: {key}={settings[key]!r} is not supported.")
        settings.pop(key, None)
    name = _CLASS_NAMES.get(class_name, class_name)
    try:
        return lookup("initializer", name, _INITIALIZERS, _ALIASES)(**settings)
    except TypeError as error:
        raise ValueError(f"Initializer {class_name} cannot be built from config {settings!r}: {error}") from None


from tinykeras._missing import attribute_error_for  # noqa: E402

__getattr__ = attribute_error_for(__name__)
