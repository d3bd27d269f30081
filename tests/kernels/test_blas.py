"""``kernels.blas``: ``matmul`` computes the product ``np.matmul`` computes (up to summation
order), whether on one thread or in bands on several, and leaves the caller's BLAS thread
setting untouched; ``split_batch`` runs its parts on threads of their own."""
import os
import platform
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from tinykeras.kernels import blas, tuning


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_product_over_one_column_gives_blas_bits(dtype, rng):
    """K = 1 runs as a broadcast multiplication: the same values as BLAS' product, bit for bit,
    infinities and NaNs included, into ``out`` when given."""
    a = rng.standard_normal((784, 1)).astype(dtype)
    b = rng.standard_normal((1, 64)).astype(dtype)
    a[3, 0], a[5, 0], b[0, 7] = np.inf, np.nan, 0.0  # inf * 0 is NaN either way
    with np.errstate(invalid="ignore"):
        expected = np.matmul(a, b)
        np.testing.assert_array_equal(blas.matmul(a, b), expected)
        out = np.empty((784, 64), dtype)
        assert blas.matmul(a, b, out=out) is out
        # C-ordered whatever the operands' layouts, as np.matmul's products are
        transposed = blas.matmul(np.asfortranarray(b.T), np.asfortranarray(a.T))
        assert transposed.flags.c_contiguous
        np.testing.assert_array_equal(transposed, np.matmul(b.T, a.T))
    np.testing.assert_array_equal(out, expected)
    assert blas.matmul(a[:0], b).shape == (0, 64)


@pytest.mark.parametrize("shape", [(32, 784, 64), (21632, 9, 8), (600, 300, 200)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_equals_numpy(shape, dtype, rng):
    m, k, n = shape
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    expected = a.astype(np.float64) @ b.astype(np.float64)
    # One thread or several sum in different orders: equal up to the dtype's rounding.
    tolerance = {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}
    np.testing.assert_allclose(blas.matmul(a, b), expected, **tolerance)
    np.testing.assert_allclose(blas.matmul(b.T, a.T), expected.T, **tolerance)
    out = np.empty((m, n), dtype)
    assert blas.matmul(a, b, out=out) is out
    np.testing.assert_allclose(out, expected, **tolerance)


def test_products_on_both_sides_of_the_threshold_agree(monkeypatch, rng):
    a, b = rng.standard_normal((300, 200)), rng.standard_normal((200, 100))
    monkeypatch.setattr(tuning, "PARALLEL_MIN_FLOPS", 0)
    threaded = blas.matmul(a, b)
    monkeypatch.setattr(tuning, "PARALLEL_MIN_FLOPS", 10**15)
    np.testing.assert_allclose(blas.matmul(a, b), threaded, rtol=1e-12)


@pytest.mark.skipif(blas._set_local_threads is None, reason="NumPy's BLAS is not OpenBLAS")
def test_the_callers_thread_setting_is_restored(rng):
    setter = blas._set_local_threads
    before = setter(3)
    try:
        blas.matmul(rng.standard_normal((8, 8)), rng.standard_normal((8, 8)))
        assert setter(3) == 3
    finally:
        setter(before)


@pytest.mark.skipif(blas._set_local_threads is None, reason="NumPy's BLAS is not OpenBLAS")
@pytest.mark.parametrize("held", [False, True], ids=["products", "held stretches"])
def test_threads_calling_at_once_leave_the_setting_as_it_was(held, rng):
    # NumPy's OpenBLAS applies openblas_set_num_threads_local to the whole process, so two
    # threads that each set one thread and restore what they found could leave it at one; and
    # stretches of held_on_one_thread overlapping between threads must put it back once.
    setter = blas._set_local_threads
    before = setter(2)
    a, b = rng.standard_normal((16, 16)), rng.standard_normal((16, 16))

    def products():
        for _ in range(2000 if not held else 300):
            if held:
                with blas.held_on_one_thread():
                    blas.matmul(a, b)
            blas.matmul(a, b)

    try:
        threads = [threading.Thread(target=products) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert blas._HELD.depth == 0
        assert setter(2) == 2
    finally:
        setter(before)


# ---- BLAS held on one thread for a stretch ------------------------------------------------------


@pytest.mark.skipif(blas._set_local_threads is None, reason="NumPy's BLAS is not OpenBLAS")
def test_a_held_stretch_keeps_one_thread_and_puts_the_count_back_when_the_last_one_ends(monkeypatch, rng):
    setter = blas._set_local_threads
    before = setter(3)
    a, b = rng.standard_normal((300, 200)), rng.standard_normal((200, 100))
    try:
        with blas.held_on_one_thread():
            assert setter(1) == 1
            with blas.held_on_one_thread():
                small = blas.matmul(a, b)
            assert setter(1) == 1  # the inner stretch ending leaves the count alone
            # splits still use as many threads as BLAS had before the stretch
            assert blas.split_count() == 3
            monkeypatch.setattr(tuning, "PARALLEL_MIN_FLOPS", 0)
            banded = blas.matmul(a, b)
            assert setter(1) == 1
        assert setter(3) == 3
    finally:
        setter(before)
    np.testing.assert_allclose(small, a @ b, rtol=1e-12)
    np.testing.assert_allclose(banded, a @ b, rtol=1e-12)


@pytest.mark.skipif(blas._set_local_threads is None, reason="NumPy's BLAS is not OpenBLAS")
def test_fit_holds_blas_on_one_thread_and_puts_it_back(rng):
    import tinykeras as keras

    setter = blas._set_local_threads
    before = setter(2)
    seen = []

    class Counts(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(setter(1))

    try:
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        model.compile("sgd", "mse")
        model.fit(rng.random((8, 4)), rng.random((8, 3)), batch_size=4, verbose=0, callbacks=[Counts()])
        assert seen == [1, 1]
        assert setter(2) == 2
    finally:
        setter(before)


# ---- products split between threads -----------------------------------------------------------


@pytest.mark.parametrize("shape", [(600, 300, 40), (40, 300, 600)], ids=["bands of rows", "bands of columns"])
@pytest.mark.parametrize("order", ["C", "F"])
def test_split_products_equal_numpy(monkeypatch, shape, order, rng):
    monkeypatch.setattr(tuning, "PARALLEL_MIN_FLOPS", 0)
    m, k, n = shape
    a = np.asarray(rng.standard_normal((m, k)), order=order)
    b = np.asarray(rng.standard_normal((k, n)), order=order)
    np.testing.assert_allclose(blas.matmul(a, b), a @ b, rtol=1e-12, atol=1e-12)
    out = np.full((m, n), np.nan)
    assert blas.matmul(a, b, out=out) is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-12, atol=1e-12)
    wide = np.full((m, n + 3), np.nan)  # an output that is a strided view
    blas.matmul(a, b, out=wide[:, 1 : n + 1])
    np.testing.assert_allclose(wide[:, 1 : n + 1], a @ b, rtol=1e-12, atol=1e-12)


def test_split_batch_runs_every_range_once_and_returns_in_order():
    seen = []
    results = blas.split_batch(10, lambda lo, hi: seen.append((lo, hi)) or (lo, hi, threading.get_ident()), 3)
    assert [r[:2] for r in results] == [(0, 3), (3, 6), (6, 10)]
    assert sorted(seen) == [(0, 3), (3, 6), (6, 10)]
    if blas._set_local_threads is not None:
        caller = threading.get_ident()
        assert results[0][2] == caller  # the caller takes the first range, helpers the others
        assert all(r[2] != caller for r in results[1:])


@pytest.mark.skipif(blas._set_local_threads is None, reason="NumPy's BLAS is not OpenBLAS")
def test_split_batch_holds_blas_to_one_thread_and_restores_it(rng):
    setter = blas._set_local_threads
    before = setter(2)
    try:

        def part(lo, hi):
            threads = setter(1)  # what is in force while the parts run
            # a product inside a part neither waits for the lock nor changes the setting
            blas.matmul(rng.standard_normal((300, 300)), rng.standard_normal((300, 300)))
            return threads

        assert blas.split_batch(4, part, 2) == [1, 1]
        assert setter(2) == 2
    finally:
        setter(before)


def test_split_batch_raises_once_every_part_has_finished():
    finished = []

    def part(lo, hi):
        if lo == 0:
            raise ValueError("first part")
        time.sleep(0.05)
        finished.append(lo)

    with pytest.raises(ValueError, match="first part"):
        blas.split_batch(4, part, 2)
    assert finished == [2]


def test_an_error_in_a_helpers_part_reaches_the_caller_and_the_helper_serves_on():
    def part(lo, hi):
        if lo > 0:
            raise KeyError(lo)
        time.sleep(0.05)
        return lo

    for _ in range(2):
        with pytest.raises(KeyError):
            blas.split_batch(4, part, 2)
    assert blas.split_batch(4, lambda lo, hi: hi - lo, 2) == [2, 2]


def test_watch_returns_when_another_thread_sets_the_flag():
    flag = np.zeros(1, np.uint8)
    assert not blas.watch(flag, 1000)  # never set: gives up after its rounds
    setter = threading.Timer(0.01, flag.__setitem__, (0, 1))
    setter.start()
    start = time.perf_counter()
    assert blas.watch(flag, 2**40)  # would take hours unless it sees the flag
    assert time.perf_counter() - start < 10
    setter.join()


def test_parts_started_faster_than_the_helpers_sleep_all_run(monkeypatch):
    # Parts sent while the helper still watches, and after it has gone to sleep.
    monkeypatch.setattr(tuning, "WATCH_ROUNDS", 2000)
    for pause in (0, 0.001, 0, 0.005):
        time.sleep(pause)
        assert blas.split_batch(6, lambda lo, hi: list(range(lo, hi)), 3) == [[0, 1], [2, 3], [4, 5]]


def test_a_split_inside_a_part_runs_on_the_parts_thread():
    def part(lo, hi):
        inner = blas.split_batch(4, lambda a, b: threading.get_ident(), 2)
        return set(inner) == {threading.get_ident()}

    assert all(blas.split_batch(4, part, 2))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_splits_on_threads_of_its_own(monkeypatch, rng):
    monkeypatch.setattr(tuning, "PARALLEL_MIN_FLOPS", 0)
    a, b = rng.standard_normal((200, 50)), rng.standard_normal((50, 30))
    blas.matmul(a, b)  # the parent's helper threads exist now
    pid = os.fork()
    if pid == 0:  # the child: helper threads are not inherited, so a split must start new ones
        ok = np.allclose(blas.matmul(a, b), a @ b)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.skipif(
    blas.blas_kernels() is None or platform.machine() not in ("x86_64", "AMD64"),
    reason="NumPy's BLAS is not an x86-64 OpenBLAS that names its kernels",
)
@pytest.mark.parametrize("core", ["Sandybridge", "Haswell"])
def test_blas_kernels_names_the_kernels_openblas_was_told_to_use(core):
    # OPENBLAS_CORETYPE is read when NumPy loads OpenBLAS: hence a process of its own.
    code = "from tinykeras.kernels import blas; print(blas.blas_kernels())"
    env = dict(os.environ, OPENBLAS_CORETYPE=core)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == core
