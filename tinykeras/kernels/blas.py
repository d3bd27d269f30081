"""Matrix products through NumPy's BLAS, single-threaded when the product is small.

OpenBLAS splits any product above about a quarter of a million multiply-adds over every core.
For the products of small models (a batch of 32 through a 64-unit layer, a 3x3 convolution with
8 filters) starting and joining the threads costs more than the arithmetic, and on a busy
machine the waiting threads make such a product ten times slower than on one thread. So
``matmul`` runs products below ``PARALLEL_MIN_FLOPS`` on the calling thread only, through
OpenBLAS' thread-local setting (the caller's own setting is restored afterwards), and leaves
larger ones to BLAS' threads.

When NumPy's BLAS is not an OpenBLAS with that setting (Accelerate on macOS, MKL, an old
OpenBLAS), ``matmul`` is plain ``np.matmul``.
"""
import ctypes
import glob
import os

import numpy as np

# Products below this many floating-point operations (2*M*K*N) run on one thread.
PARALLEL_MIN_FLOPS = 50_000_000


def _thread_local_setter():
    """OpenBLAS' ``openblas_set_num_threads_local`` from the library NumPy loaded, or None."""
    package = os.path.dirname(np.__file__)
    # Where NumPy's wheels keep their BLAS: numpy.libs (Linux, Windows), numpy/.dylibs (macOS).
    candidates = glob.glob(os.path.join(os.path.dirname(package), "numpy.libs", "*openblas*"))
    candidates += glob.glob(os.path.join(package, ".dylibs", "*openblas*"))
    for path in sorted(candidates):
        try:
            setter = ctypes.CDLL(path).openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        setter.argtypes, setter.restype = [ctypes.c_int], ctypes.c_int
        return setter
    return None


_set_local_threads = _thread_local_setter()


def matmul(a, b, out=None):
    """``a @ b`` (2-D operands), on one thread when ``2*M*K*N < PARALLEL_MIN_FLOPS``."""
    if _set_local_threads is None or 2 * a.shape[0] * a.shape[1] * b.shape[1] >= PARALLEL_MIN_FLOPS:
        return np.matmul(a, b, out=out)
    previous = _set_local_threads(1)
    try:
        return np.matmul(a, b, out=out)
    finally:
        _set_local_threads(previous)
