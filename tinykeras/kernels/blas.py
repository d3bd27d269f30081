"""Matrix products through NumPy's BLAS, single-threaded when the product is small.

OpenBLAS splits any product above about a quarter of a million multiply-adds over every core.
On an idle 2-core machine that still pays for the tutorials' products (a 3 MFLOP product takes
0.055 ms on two threads and 0.098 ms on one), but when another process keeps the cores busy,
OpenBLAS' waiting threads make a small product up to twenty times slower than on one thread
(3.8 ms instead of 0.2 ms for a 3 MFLOP convolution product). So ``matmul`` runs products below
``PARALLEL_MIN_FLOPS`` on the calling thread only, through ``openblas_set_num_threads_local``,
and leaves larger ones to BLAS' threads.

Despite its name, that setting is process-wide in the OpenBLAS NumPy ships (0.3.31, built on
pthreads): each call returns the count in force and replaces it for every thread. ``matmul``
sets one thread, multiplies and puts back what it found, under a lock, so that threads calling
it at once cannot leave one thread behind (A finds 2 and sets 1, B finds that 1, A puts back 2,
B puts back 1). A large product another thread computes meanwhile may run on one thread.

When NumPy's BLAS is not an OpenBLAS with that setting (Accelerate on macOS, MKL, an old
OpenBLAS), ``matmul`` is plain ``np.matmul``.
"""
import ctypes
import glob
import os
import threading

import numpy as np

# Products below this many floating-point operations (2*M*K*N) run on one thread: a product this
# small takes about 0.1 ms, so one thread costs little when idle and saves much when busy.
PARALLEL_MIN_FLOPS = 5_000_000


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
_SETTING = threading.Lock()  # held from setting one thread to putting the count back


def matmul(a, b, out=None):
    """``a @ b`` (2-D operands), on one thread when ``2*M*K*N < PARALLEL_MIN_FLOPS``."""
    if _set_local_threads is None or 2 * a.shape[0] * a.shape[1] * b.shape[1] >= PARALLEL_MIN_FLOPS:
        return np.matmul(a, b, out=out)
    with _SETTING:
        previous = _set_local_threads(1)
        try:
            return np.matmul(a, b, out=out)
        finally:
            _set_local_threads(previous)
