"""Matrix products through NumPy's BLAS, with BLAS always on one thread and tinykeras' own
threads splitting the large products.

OpenBLAS splits any product above about a quarter of a million multiply-adds over its threads,
and its threads then keep spinning for a while, waiting for the next product (the environment
variable ``OPENBLAS_THREAD_TIMEOUT`` sets how long). Meanwhile they take the cores from
whatever runs next: a Numba kernel, another thread, another process. On the CIFAR-10 model at
batch 64 on 2 cores, with its convolutions split between two threads (below), a training step
took 343 ms in the same process as 322 ms unsplit, because OpenBLAS' threads, woken by the
model's other products, spun beside them; with ``OPENBLAS_THREAD_TIMEOUT=4`` (read when NumPy
loads OpenBLAS), which makes them sleep at once, 255 ms against 342 ms.

So ``matmul`` never lets OpenBLAS use its threads. A product below ``tuning.PARALLEL_MIN_FLOPS`` runs
on the calling thread (a product this small loses more to waking a thread than it gains: a
3 MFLOP convolution product took 0.2 ms on one thread and up to 3.8 ms on two when another
process kept the cores busy). A larger one is cut into bands of rows (or of columns of ``b`` when
``b`` is the larger operand), one per thread that BLAS would have used, each multiplied on one
thread (``split_batch``), whose threads watch for their next part for about a millisecond and
then sleep, instead of spinning on as OpenBLAS' do (see ``_Helper``).

``split_batch`` also runs a convolution's whole pipeline a part of the batch per thread:
unfolding, products and bias on one core, so that the products read rows that the same core has
just written (see ``kernels.conv2d``).

The thread count is set through ``openblas_set_num_threads_local``, which, despite its name,
is process-wide in the OpenBLAS NumPy ships (0.3.31, built on pthreads): each call returns the
count in force and replaces it for every thread. So the count is set to one, and put back, under
a lock: threads doing so at once cannot leave one thread behind (A finds 2 and sets 1, B finds
that 1, A puts back 2, B puts back 1). A large product another thread computes meanwhile may
run on one thread.

Through a call of fit, evaluate or predict the count stays at one (``held_on_one_thread``), so
that each product runs without setting it and putting it back.

When NumPy's BLAS is not an OpenBLAS with that setting (Accelerate on macOS, MKL, an old
OpenBLAS), ``matmul`` is plain ``np.matmul`` and BLAS uses its threads as it sees fit.
"""
import ctypes
import glob
import itertools
import os
import threading

import numpy as np
from tinykeras.kernels.compiled import njit

from tinykeras.kernels import denormals, tuning
from tinykeras.kernels.mode import switchable


def _numpy_openblas():
    """The OpenBLAS library NumPy loaded, as a ``ctypes.CDLL``, or None."""
    package = os.path.dirname(np.__file__)
    # Where NumPy's wheels keep their BLAS: numpy.libs (Linux, Windows), numpy/.dylibs (macOS).
    candidates = glob.glob(os.path.join(os.path.dirname(package), "numpy.libs", "*openblas*"))
    candidates += glob.glob(os.path.join(package, ".dylibs", "*openblas*"))
    for path in sorted(candidates):
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def _function(library, names, argtypes, restype):
    """The first of ``names`` that ``library`` exports, typed, or None."""
    for name in names:
        function = getattr(library, name, None) if library is not None else None
        if function is not None:
            function.argtypes, function.restype = argtypes, restype
            return function
    return None


_OPENBLAS = _numpy_openblas()
_set_local_threads = _function(_OPENBLAS, ["openblas_set_num_threads_local"], [ctypes.c_int], ctypes.c_int)
# OpenBLAS' name for the kernels it chose for this CPU, under the names NumPy's builds export.
_core_name = _function(
    _OPENBLAS,
    ["scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename"],
    [],
    ctypes.c_char_p,
)


def blas_kernels():
    """Which kernels NumPy's BLAS runs, for reports: OpenBLAS' name for them ('Haswell' for its
    AVX2 kernels, 'SkylakeX' for AVX-512, ...), or None when that BLAS does not say.

    OpenBLAS chooses them for the CPU when it loads, unless ``OPENBLAS_CORETYPE`` names them.
    """
    return None if _core_name is None else _core_name().decode()


_SETTING = threading.Lock()  # held from setting one thread to putting the count back


class _InterruptHold(threading.local):
    """Ctrl-C held back while this thread hands parts to the helper threads or has BLAS' thread
    count changed: a KeyboardInterrupt raised there would leave a helper's locks, or the count,
    half changed, and later products hanging, failing or on one thread.

    tinykeras' SIGINT handler (``utils.interrupts.DeferredInterrupt``, installed by ``fit``,
    ``predict`` and the other entry points) asks ``held()`` before it raises; if a kernel holds
    interrupts, it calls ``defer()`` instead, and the KeyboardInterrupt is raised as the kernel
    returns, a part of a batch later (milliseconds).
    """

    depth = 0
    pending = False

    def __enter__(self):
        self.depth += 1

    def __exit__(self, *exc_info):
        self.depth -= 1
        if self.depth == 0 and self.pending:
            self.pending = False
            raise KeyboardInterrupt("Interrupted; the matrix product or batch part under way finished first.")

    def held(self):
        return self.depth > 0

    def defer(self):
        self.pending = True


INTERRUPTS = _InterruptHold()


class _SplitPart(threading.local):
    """Whether this thread runs a part of ``split_batch``: BLAS is on one thread already, and
    the lock is held by the thread waiting for it."""

    active = False


_PART = _SplitPart()


@njit(cache=True, nogil=True)
def watch(flag, rounds):
    """Returns once ``flag[0]`` is nonzero or after ``rounds`` rounds, without holding the GIL.

    Returns:
        Whether the flag was seen set.
    """
    for _ in range(rounds):
        if flag[0]:
            return True
        # A call the compiler cannot see into (an allocation), so that it reads the flag again
        # each round instead of once before the loop.
        np.empty(1, np.uint8)
    return False


class _Helper:
    """A thread that runs one part of ``split_batch`` at a time.

    It waits on a lock that the caller releases to start a part, and releases another when the
    part is done: two futex hand-offs, about 15 microseconds for an empty part on 2 cores, where
    a ``concurrent.futures`` pool (a queue, a future, a condition) took about 70.

    A thread asleep on a lock can take far longer to wake, though: on a 2-core virtual machine
    the helper often began its half of a 0.4 ms product only once the caller had finished the
    other half. So each side first watches a flag for up to ``tuning.WATCH_ROUNDS`` (about 1 ms), the
    helper after each part for the next one, the caller for the end of the helper's part, and
    sleeps on the lock only after that; a training step sends its parts closer together than
    that. Training steps alternated in one process took 0.951x as long with the watch as
    without on the deep MNIST CNN, 0.950x on the CIFAR-10 model (0.985x with a 0.2 ms watch).
    """

    def __init__(self, name):
        self._start, self._done = threading.Lock(), threading.Lock()
        self._start.acquire()
        self._done.acquire()
        self._started, self._finished = np.zeros(1, np.uint8), np.zeros(1, np.uint8)
        self._part = self._outcome = None
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    def _serve(self):
        while True:
            watch(self._started, tuning.WATCH_ROUNDS)
            self._start.acquire()
            self._started[0] = 0
            task, lo, hi, control = self._part
            denormals.set_control(control)  # the caller's handling of subnormals
            try:
                self._outcome = (True, _run_part(task, lo, hi))
            except BaseException as error:  # noqa: BLE001 (handed to the caller, who raises it)
                self._outcome = (False, error)
            self._finished[0] = 1
            self._done.release()

    def start(self, task, lo, hi, control):
        self._part = (task, lo, hi, control)
        self._started[0] = 1
        self._start.release()

    def finish(self):
        """Waits for the part; returns (succeeded, result or exception)."""
        watch(self._finished, tuning.WATCH_ROUNDS)
        self._done.acquire()
        self._finished[0] = 0
        outcome, self._part, self._outcome = self._outcome, None, None
        return outcome


_HELPERS = []  # the helper threads of split_batch, started on first use


def _forget_helpers():
    """In a child forked from a process with helper threads: those threads do not exist here."""
    _HELPERS.clear()


def _helpers(count):
    """At least ``count`` helper threads (call with ``_SETTING`` held: one split at a time)."""
    while len(_HELPERS) < count:
        _HELPERS.append(_Helper(f"tinykeras-split-{len(_HELPERS) + 1}"))
    return _HELPERS[:count]


os.register_at_fork(after_in_child=_forget_helpers)


class _OneBlasThread:
    """``with _one_blas_thread():`` BLAS on one thread for the duration, then back to the count
    in force, under the lock, with Ctrl-C held back (``INTERRUPTS``) until the count is back. (A
    class rather than a generator: it runs around every small product, and a generator-based
    context manager costs five more Python calls each time.)"""

    def __enter__(self):
        INTERRUPTS.__enter__()
        _SETTING.acquire()
        try:
            # Within ``held_on_one_thread`` the count is 1 already, and cannot change while the
            # lock is held (leaving the stretch takes it).
            self.previous = None if _HELD.depth else _set_local_threads(1)
        except BaseException:
            _SETTING.release()
            INTERRUPTS.__exit__()
            raise

    def __exit__(self, *exc_info):
        try:
            if self.previous is not None:
                _set_local_threads(self.previous)
        finally:
            _SETTING.release()
            INTERRUPTS.__exit__()


class _OneBlasThreadPerThread(threading.local):
    """One ``_OneBlasThread`` per thread (it keeps the count it replaced)."""

    def __init__(self):
        self.guard = _OneBlasThread()


_GUARDS = _OneBlasThreadPerThread()


def _one_blas_thread():
    return _GUARDS.guard


class _Held:
    """How many stretches of ``held_on_one_thread`` are under way (in any thread), and the
    thread count the first one replaced; both changed only under ``_SETTING``."""

    depth = 0
    previous = None


_HELD = _Held()


class held_on_one_thread:
    """``with held_on_one_thread():`` BLAS on one thread for a whole stretch of kernels (a call
    of fit, evaluate or predict), so that each product in it runs without setting the count and
    putting it back (two calls into OpenBLAS under a lock, about 3 us: 2% of the MNIST CNN's
    training step, which makes five products). Large products are still split between
    tinykeras' threads (``matmul``). Stretches may nest and overlap between threads: the count
    goes back when the last one ends.

    Meanwhile NumPy's own products (``np.dot`` in a callback, say) run on one thread too.
    """

    def __enter__(self):
        if _set_local_threads is None:
            return self
        with INTERRUPTS, _SETTING:
            if _HELD.depth == 0:
                _HELD.previous = _set_local_threads(1)
            _HELD.depth += 1
        return self

    def __exit__(self, *exc_info):
        if _set_local_threads is None:
            return
        with INTERRUPTS, _SETTING:
            _HELD.depth -= 1
            if _HELD.depth == 0:
                _set_local_threads(_HELD.previous)


@switchable
def matmul(a, b, out=None):
    """``a @ b`` for 2-D operands: on the calling thread when ``2*M*K*N < tuning.PARALLEL_MIN_FLOPS``
    or inside a part of ``split_batch``, else in bands, one per thread: bands of rows of ``a``,
    or of columns of ``b`` when ``b`` is the larger operand.

    A product over one column of ``a`` (K = 1: a Dense layer's kernel gradient at batch size 1)
    is the outer product, one multiplication per value, and takes NumPy's broadcast
    multiplication, which gives the same bits: OpenBLAS took 46 us for (784 x 1) by (1 x 64), 34
    for (360 x 1) by (1 x 100), 14 for (1352 x 1) by (1 x 10), the multiplication 10, 7 and 9."""
    if a.shape[1] == 1:  # C-ordered, as np.matmul's results are, whatever the operands' layouts
        return np.multiply(a, b, out=out, order="C")
    if _set_local_threads is None or _PART.active:
        return np.matmul(a, b, out=out)
    rows = a.shape[0]
    if 2 * rows * a.shape[1] * b.shape[1] < tuning.PARALLEL_MIN_FLOPS:
        if _HELD.depth:  # BLAS is on one thread already
            return np.matmul(a, b, out=out)
        with _GUARDS.guard:
            return np.matmul(a, b, out=out)
    if out is None:
        out = np.empty((rows, b.shape[1]), dtype=np.result_type(a, b))
    # Each thread reads all of one operand: let that be the smaller one. Bands of columns of b
    # are bands of rows of out.T = b.T @ a.T (transposed views, no copies).
    first, second, result = (a, b, out) if a.size >= b.size else (b.T, a.T, out.T)

    def band(lo, hi):
        np.matmul(first[lo:hi], second, out=result[lo:hi])

    length = first.shape[0]
    split_batch(length, band, max(1, min(split_count(), length // tuning.BAND_MIN_ROWS)))
    return out


def matmul_reference(a, b, out=None):
    """``matmul`` in plain NumPy: ``np.matmul``, BLAS on the threads it chooses."""
    return np.matmul(a, b, out=out)


def split_count():
    """How many parts ``split_batch`` cuts a batch into: BLAS' thread count, or 1 when BLAS'
    threads cannot be set (then a split would run its parts' products on every core at once)."""
    if _set_local_threads is None:
        return 1
    with INTERRUPTS, _SETTING:
        if _HELD.depth:  # the count before the stretch began
            threads = _HELD.previous
        else:
            threads = _set_local_threads(1)
            _set_local_threads(threads)
    return max(1, threads)


def in_split_part():
    """Whether this thread is running a part of ``split_batch`` (whose caller holds the lock that
    ``split_count`` takes: a kernel inside a part runs on its own thread, without asking)."""
    return _PART.active


def _run_part(task, lo, hi):
    _PART.active = True
    try:
        return task(lo, hi)
    finally:
        _PART.active = False


def split_batch(count, task, parts):
    """Runs ``task(lo, hi)`` on ``parts`` contiguous ranges of ``range(count)`` at once, each on
    its own thread (the calling thread takes the first), with BLAS on one thread meanwhile (also
    when ``parts`` is 1).

    The tasks must write disjoint data; ``matmul`` inside them runs on their own thread.

    Args:
        count: the number of items (images) to split.
        task: ``(lo, hi) -> result`` for the items lo..hi-1.
        parts: the number of ranges, at most ``count`` (``split_count()`` uses every thread).

    Returns:
        The tasks' results, in the order of their ranges. An exception from any task is raised
        once every task has finished.
    """
    bounds = [count * k // parts for k in range(parts + 1)]
    ranges = list(itertools.pairwise(bounds))
    if _set_local_threads is None or _PART.active:
        return [task(lo, hi) for lo, hi in ranges]
    if parts == 1:  # no helper to start
        with _one_blas_thread():
            return [_run_part(task, 0, count)]
    with _one_blas_thread():
        helpers = _helpers(parts - 1)
        control = denormals.control()
        for helper, (lo, hi) in zip(helpers, ranges[1:]):
            helper.start(task, lo, hi, control)
        try:
            first = (True, _run_part(task, *ranges[0]))
        except BaseException as error:  # noqa: BLE001 (raised once the helpers have finished)
            first = (False, error)
        outcomes = [first] + [helper.finish() for helper in helpers]
    for succeeded, value in outcomes:
        if not succeeded:
            raise value
    return [value for _, value in outcomes]
