"""``keras.random``: random draws with Keras 3's names and seeding.

``seed`` is a :class:`SeedGenerator` (each draw advances it: new values every call), an int
(the same values at every call), or None (the global generator that
``keras.utils.set_random_seed`` seeds). Inside a custom layer's ``call`` the draw is made anew
at every forward pass, and its shape may use the batch size: ``ops.shape(x)[0]``.
"""
import numpy as np

from tinykeras import backend
from tinykeras.ops.shaped import shaped


class SeedGenerator:
    """A source of seeds: each draw that takes it gets values of its own, reproducibly from
    ``seed`` (from the global generator when None)."""

    def __init__(self, seed=None, name=None, **kwargs):
        self.seed = seed
        self.name = name or backend.unique_name("seed_generator")
        start = int(backend.rng().integers(2**31)) if seed is None else seed
        self._rng = np.random.default_rng(start)

    def next(self):
        """A generator for one draw (the state moves on)."""
        return np.random.default_rng(int(self._rng.integers(2**63)))

    def get_config(self):
        return {"seed": self.seed}


def _generator(seed):
    if isinstance(seed, SeedGenerator):
        return seed.next()
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed))
    if seed is None:
        return backend.rng()
    raise ValueError(
        "Argument `seed` must be either an integer or an instance of `SeedGenerator`. "
        f"Received: seed={seed!r} (of type {type(seed).__name__})"
    )


def _draw(shape, seed, dtype, sample, name):
    dtype = np.dtype(dtype or backend.floatx())
    return shaped(lambda sizes: np.asarray(sample(_generator(seed), sizes), dtype=dtype), shape, name)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Values from the normal distribution of ``mean`` and ``stddev``."""
    return _draw(shape, seed, dtype, lambda g, s: g.normal(mean, stddev, s), "normal")


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Values uniform in [minval, maxval)."""
    return _draw(shape, seed, dtype, lambda g, s: g.uniform(minval, maxval, s), "uniform")


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal values, those more than two standard deviations from ``mean`` drawn again."""

    def sample(generator, sizes):
        values = generator.standard_normal(sizes)
        while True:
            outside = np.abs(values) > 2
            if not outside.any():
                return mean + stddev * values
            values[outside] = generator.standard_normal(int(outside.sum()))

    return _draw(shape, seed, dtype, sample, "truncated_normal")


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers uniform in [minval, maxval)."""
    return _draw(shape, seed, dtype, lambda g, s: g.integers(minval, maxval, s), "randint")


def dropout(inputs, rate, noise_shape=None, seed=None):
    """``inputs`` with each value zeroed with probability ``rate`` and the others scaled by
    1 / (1 - rate) (always: there is no training flag here)."""
    from tinykeras import ops

    if not 0 <= rate < 1:
        raise ValueError(f"dropout: rate must be in [0, 1); received rate={rate!r}.")
    mask_shape = ops.shape(inputs) if noise_shape is None else noise_shape
    keep = uniform(mask_shape, dtype=np.dtype(getattr(inputs, "dtype", backend.floatx())).name, seed=seed)
    return ops.where(ops.greater_equal(keep, rate), ops.divide(inputs, 1 - rate), ops.zeros_like(inputs))


def shuffle(x, axis=0, seed=None):
    """A copy of ``x`` with its entries along ``axis`` in a random order (arrays only)."""
    array = np.asarray(x)
    return _generator(seed).permutation(array, axis=axis)


from tinykeras._missing import attribute_error_for  # noqa: E402

__getattr__ = attribute_error_for(__name__)
