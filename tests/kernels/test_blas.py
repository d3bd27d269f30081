"""``kernels.blas.matmul``: the product ``np.matmul`` computes (up to summation order), whatever
thread count it picks, and the caller's BLAS thread setting untouched afterwards."""
import threading

import numpy as np
import pytest

from tinykeras.kernels import blas


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
    monkeypatch.setattr(blas, "PARALLEL_MIN_FLOPS", 0)
    threaded = blas.matmul(a, b)
    monkeypatch.setattr(blas, "PARALLEL_MIN_FLOPS", 10**15)
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
def test_threads_calling_at_once_leave_the_setting_as_it_was(rng):
    # NumPy's OpenBLAS applies openblas_set_num_threads_local to the whole process, so two
    # threads that each set one thread and restore what they found could leave it at one.
    setter = blas._set_local_threads
    before = setter(2)
    a, b = rng.standard_normal((16, 16)), rng.standard_normal((16, 16))

    def products():
        for _ in range(2000):
            blas.matmul(a, b)

    try:
        threads = [threading.Thread(target=products) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert setter(2) == 2
    finally:
        setter(before)
