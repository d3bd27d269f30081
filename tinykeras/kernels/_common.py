"""Helpers shared by the kernels: argument checks, output sizes from explicit pads, and the split
of a batch between threads, and a cache for the geometry each kernel call works out."""
import functools

import numpy as np

from tinykeras.kernels import blas, tuning


def split_range(count, elements, run):
    """Runs ``run(lo, hi)`` over ``range(count)`` (images, values) and returns its results in
    order: on the calling thread, or, from ``tuning.SPLIT_MIN_ELEMENTS`` elements touched, one contiguous
    range per thread (``blas.split_batch``). ``run`` must write only its own part of the data, and
    release the GIL (a ``nogil`` Numba kernel) for the parts to run at once.

    This is the kernels' one way of using several cores: tinykeras' own threads, which sleep when
    idle and hold Ctrl-C back while parts run (``blas.INTERRUPTS``). Inside a part of a split
    already (a convolution's part of its batch, ``kernels.conv2d``), ``run`` runs on the calling
    thread: that part has its core."""
    if count > 1 and elements >= tuning.SPLIT_MIN_ELEMENTS and not blas.in_split_part():
        parts = min(count, blas.split_count())
        if parts > 1:
            return blas.split_batch(count, run, parts)
    return [run(0, count)]


def cached_geometry(function):
    """``function`` (shapes and window arguments -> a tuple of integers, or an error) with its
    results kept for the last 64 distinct arguments: a layer calls its kernels with the same
    shapes step after step, and working out and checking a geometry costs several microseconds
    (with them kept, the MNIST CNN's Conv2D forward took 36 us at batch 1, against 47). Errors
    are not kept (each call raises again), and arguments that cannot be hashed (lists) are
    worked out afresh each call."""
    cached = functools.lru_cache(maxsize=64)(function)

    @functools.wraps(function)
    def geometry(*args):
        try:
            return cached(*args)
        except TypeError:  # an unhashable argument; or the function's own TypeError, raised again
            return function(*args)

    return geometry


def as_float_image(x, name="x"):
    """Returns ``x`` as a C-contiguous (N, H, W, C) float32/float64 array (no copy if it is one).

    Raises:
        ValueError: if x is not 4-D. TypeError: if its dtype is not float32 or float64.
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"Expected {name} of shape (N, H, W, C). Received: {name}.shape={x.shape}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"Expected {name} of dtype float32 or float64. Received: dtype={x.dtype}")
    return np.ascontiguousarray(x)


def output_size_from_pads(size, kernel, stride, dilation, pad_before, pad_after):
    """Output length along one axis once ``size`` is padded explicitly; raises if not positive."""
    dilated = (kernel - 1) * dilation + 1
    out = (size + pad_before + pad_after - dilated) // stride + 1
    if out <= 0:
        raise ValueError(
            f"Expected a window of {dilated} (kernel {kernel}, dilation {dilation}) to fit in an "
            f"input of length {size} padded by {(pad_before, pad_after)}. Received: output "
            f"length {out}. Use padding='same' or a smaller kernel."
        )
    return out


def int_pair(value, name):
    """Returns ``value`` (a pair of ints) as a tuple of two Python ints."""
    try:
        first, second = value
    except (TypeError, ValueError):
        raise ValueError(f"Expected {name} to be a pair of integers. Received: {name}={value!r}") from None
    return int(first), int(second)


def output_buffer(out, shape, dtype, name="out"):
    """Returns ``out`` if it has ``shape`` and ``dtype`` and is C-contiguous, else a new array."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if out.shape != tuple(shape) or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(
            f"Expected {name} to be a C-contiguous {np.dtype(dtype)} array of shape "
            f"{tuple(shape)}. Received: shape={out.shape}, dtype={out.dtype}"
        )
    return out
