"""Fixtures shared by the kernel tests: one call run on one thread and then split between
threads; non-C-contiguous views of an array; and a script run with the JIT disabled."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinykeras.kernels import blas, tuning

SERIAL_ONLY = 2**62

LAYOUTS = {
    "fortran": np.asfortranarray,
    "reversed": lambda a: np.ascontiguousarray(a[:, ::-1])[:, ::-1],
    "swapped": lambda a: np.ascontiguousarray(a.swapaxes(0, 1)).swapaxes(0, 1),
    "strided": lambda a: np.repeat(a[..., None], 2, axis=-1)[..., 0],
}


@pytest.fixture
def recorded_splits(monkeypatch):
    """The list of the part counts of every ``blas.split_batch`` call made from now on."""
    splits = []
    split_batch = blas.split_batch

    def recording(count, task, parts):
        splits.append(parts)
        return split_batch(count, task, parts)

    monkeypatch.setattr(blas, "split_batch", recording)
    return splits


@pytest.fixture
def split_and_whole(monkeypatch, recorded_splits):
    """Returns ``run(call, calls)``, which evaluates ``call()`` twice: first with
    ``tuning.SPLIT_MIN_ELEMENTS`` so large that every kernel runs on the calling thread, then
    with it at 0, when ``calls`` kernels must split their batch between threads
    (``blas.split_batch``). Returns ``(whole_result, split_result)``."""
    if blas.split_count() < 2:
        pytest.skip("splitting needs more than one BLAS thread")
    splits = recorded_splits

    def run(call, calls):
        monkeypatch.setattr(tuning, "SPLIT_MIN_ELEMENTS", SERIAL_ONLY)
        whole = call()
        assert splits == []
        monkeypatch.setattr(tuning, "SPLIT_MIN_ELEMENTS", 0)
        split = call()
        assert len(splits) == calls and all(parts > 1 for parts in splits)
        return whole, split

    return run


@pytest.fixture(params=sorted(LAYOUTS))
def non_contiguous(request):
    """Returns a function giving a view equal to its (at least 2-D) argument that is not
    C-contiguous: Fortran order, negative strides, swapped axes or a strided last axis."""
    layout = LAYOUTS[request.param]

    def view(a):
        v = layout(a)
        assert not v.flags.c_contiguous
        np.testing.assert_array_equal(v, a)
        return v

    return view


REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_without_jit():
    """Returns ``run(script)``, which runs a Python script in a fresh interpreter with
    ``NUMBA_DISABLE_JIT=1`` (every kernel as plain Python, as coverage sees it) and asserts that
    it exits cleanly after printing 'ok'."""

    def run(script):
        result = subprocess.run(
            [sys.executable, "-c", script],
            check=False,
            env={**os.environ, "NUMBA_DISABLE_JIT": "1", "PYTHONPATH": str(REPO_ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "ok"

    return run
