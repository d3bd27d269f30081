"""Shared fixtures: float64 for gradient checks, fresh layer names, and the MNIST cache; the
hypothesis profile of CI."""
import os
import shutil

import numpy as np
import pytest
from hypothesis import settings

from tinykeras import backend

# CI runs every property test on the same examples each time (.ci/run sets CI=true): a run never
# fails on an example no other run saw. Elsewhere hypothesis explores new examples each run.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

SHARED_MNIST = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist.npz")


@pytest.fixture(autouse=True)
def _fresh_session():
    """Each test starts with default settings, a fixed seed and layer names counted from zero."""
    backend.clear_session()
    backend.set_random_seed(0)
    yield
    backend.set_floatx("float32")
    backend.set_image_data_format("channels_last")
    backend.clear_session()


@pytest.fixture
def float64():
    """Layers built inside the test use float64 weights (for finite-difference checks)."""
    backend.set_floatx("float64")
    yield
    backend.set_floatx("float32")


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST arrays: from $TINYKERAS_HOME's cache, else from ../shared/data/mnist.npz
    copied into the cache, else fetched by the library's own loader."""
    from tinykeras.datasets import mnist as mnist_module

    cache = os.path.join(backend.tinykeras_home(), "datasets", "mnist.npz")
    if not os.path.exists(cache) and os.path.exists(SHARED_MNIST):
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        shutil.copyfile(SHARED_MNIST, cache)
    return mnist_module.load_data()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
