"""The five published tutorials in ../shared/tutorials/ run, unchanged, to their last line.

Each runs in its own Python process, from an empty folder, on a slice of the data: a
``sitecustomize.py`` placed on PYTHONPATH replaces ``mnist.load_data`` and ``cifar10.load_data``
with loaders of small slices and makes ``Sequential.fit`` train one epoch, so the scripts need not
change. The ``mnist`` package reads IDX files of the same MNIST slice from ``$TMPDIR``, where it
looks for them; matplotlib draws with the Agg backend, so ``plt.show()`` returns at once.
"""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tinykeras.datasets import mnist as mnist_data

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUTORIALS = os.path.normpath(os.path.join(REPO, "..", "shared", "tutorials"))
TRAIN_IMAGES, TEST_IMAGES = 600, 100
CIFAR_TRAIN_IMAGES, CIFAR_TEST_IMAGES = 256, 64
TIMEOUT = 300

pytestmark = pytest.mark.skipif(not os.path.isdir(TUTORIALS),
                                reason=f"the published tutorials' folder {TUTORIALS} is absent")

SITECUSTOMIZE = '''"""Runs a published tutorial quickly without changing it (see tests/test_tutorials.py): the
datasets are the slices saved beside this file, and fit trains one epoch."""
import functools
import os
import sys

import numpy as np

import tinykeras.models
from tinykeras.datasets import cifar10, mnist

HERE = os.path.dirname(os.path.abspath(__file__))


def slice_loader(filename):
    """A load_data that returns the arrays of ``filename`` in Keras' nesting."""
    def load_data(*args, **kwargs):
        with np.load(os.path.join(HERE, filename), allow_pickle=False) as npz:
            return (npz["x_train"], npz["y_train"]), (npz["x_test"], npz["y_test"])
    return load_data


def one_epoch(fit):
    """fit with its epochs (or Keras 1's nb_epoch) set to 1."""
    @functools.wraps(fit)
    def fit_one_epoch(self, *args, **kwargs):
        kwargs["nb_epoch" if "nb_epoch" in kwargs else "epochs"] = 1
        return fit(self, *args, **kwargs)
    return fit_one_epoch


mnist.load_data = slice_loader("mnist.npz")
cifar10.load_data = slice_loader("cifar10.npz")
tinykeras.models.Sequential.fit = one_epoch(tinykeras.models.Sequential.fit)
print("sitecustomize: data sliced, fit set to one epoch", file=sys.stderr)
'''


@pytest.fixture(scope="module")
def tutorial_environment(tmp_path_factory, mnist):
    """The environment of every tutorial run: the sitecustomize and the data slices on
    PYTHONPATH, the mnist package's IDX files in TMPDIR, an empty TINYKERAS_HOME, Agg plots."""
    (x_train, y_train), (x_test, y_test) = mnist
    slices = {"x_train": x_train[:TRAIN_IMAGES], "y_train": y_train[:TRAIN_IMAGES],
              "x_test": x_test[:TEST_IMAGES], "y_test": y_test[:TEST_IMAGES]}
    site = tmp_path_factory.mktemp("site")
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    np.savez(site / "mnist.npz", **slices)
    rng = np.random.default_rng(0)
    np.savez(site / "cifar10.npz",
             x_train=rng.integers(0, 256, (CIFAR_TRAIN_IMAGES, 32, 32, 3), dtype=np.uint8),
             y_train=rng.integers(0, 10, (CIFAR_TRAIN_IMAGES, 1), dtype=np.uint8),
             x_test=rng.integers(0, 256, (CIFAR_TEST_IMAGES, 32, 32, 3), dtype=np.uint8),
             y_test=rng.integers(0, 10, (CIFAR_TEST_IMAGES, 1), dtype=np.uint8))
    system_tmp = tmp_path_factory.mktemp("tmpdir")
    for name, filename in mnist_data.IDX_FILES.items():
        mnist_data.write_idx(str(system_tmp / filename), slices[name])
    env = dict(os.environ,
               PYTHONPATH=os.pathsep.join(filter(None, [str(site), REPO,
                                                        os.environ.get("PYTHONPATH")])),
               TINYKERAS_HOME=str(tmp_path_factory.mktemp("home")),
               TMPDIR=str(system_tmp),
               MPLBACKEND="Agg",
               PYTHONIOENCODING="utf-8")
    env.pop("TINYKERAS_IMAGE_DATA_FORMAT", None)
    return env


def run_tutorial(name, env, cwd, **variables):
    """Runs one tutorial script unchanged; returns its stdout lines (the test fails on a
    non-zero exit, showing the end of stderr)."""
    script = os.path.join(TUTORIALS, name)
    result = subprocess.run([sys.executable, script], cwd=cwd, env=dict(env, **variables),
                            capture_output=True, text=True, encoding="utf-8", timeout=TIMEOUT)
    assert result.returncode == 0, f"{name} exited with {result.returncode}:\n{result.stderr[-3000:]}"
    assert "sitecustomize: data sliced" in result.stderr  # else it ran on the full data
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


FIVE_INTEGERS = r"\[\d( \d){4}\]"
SCORE = r"\[[-+.\deE]+, [-+.\deE]+\]"  # [loss, accuracy]


def test_seed000_cnn_saves_predicts_and_prints_the_labels(tutorial_environment, tmp_path):
    lines = run_tutorial("seed000_cnn.py", tutorial_environment, tmp_path)
    assert re.fullmatch(FIVE_INTEGERS, lines[-2])  # the predictions
    assert lines[-1] == "[7 2 1 0 4]"
    assert os.path.isfile(tmp_path / "cnn.h5")


def test_seed001_mlp_evaluates_saves_loads_and_prints_the_labels(tutorial_environment, tmp_path):
    lines = run_tutorial("seed001_mlp.py", tutorial_environment, tmp_path)
    assert any(re.fullmatch(SCORE, line) for line in lines)  # evaluate's [loss, accuracy]
    assert re.fullmatch(FIVE_INTEGERS, lines[-2])
    assert lines[-1] == "[7 2 1 0 4]"
    assert os.path.isfile(tmp_path / "model.h5")


def test_seed002_keras1_cnn_runs_channels_first(tutorial_environment, tmp_path):
    lines = run_tutorial("seed002_keras1_cnn.py", tutorial_environment, tmp_path,
                         TINYKERAS_IMAGE_DATA_FORMAT="channels_first")
    assert lines[:3] == [f"({TRAIN_IMAGES}, 28, 28)", f"({TRAIN_IMAGES}, 10)",
                         "(None, 32, 26, 26)"]
    assert re.fullmatch(SCORE, lines[-1])


def test_seed003_cnn_predicts_nine_digits_and_ends_with_the_summary(tutorial_environment,
                                                                   tmp_path):
    lines = run_tutorial("seed003_cnn.py", tutorial_environment, tmp_path)
    assert lines[:2] == [f"({TRAIN_IMAGES}, 28, 28)", f"({TRAIN_IMAGES}, 28, 28, 1)"]
    assert "(1, 28, 28, 1)" in lines
    assert any(re.fullmatch(r"\[(np\.int64\(\d\)|\d)(, (np\.int64\(\d\)|\d)){8}\]", line)
               for line in lines)  # the nine predicted digits
    # The summary of a trained model, as Keras 3 prints it, counts the optimizer's variables too.
    assert lines[-3:] == ["Trainable params: 37,210 (145.35 KB)", "Non-trainable params: 0 (0.00 B)",
                          "Optimizer params: 74,422 (290.71 KB)"]


def test_seed004_cifar_trains_with_augmentation_and_prints_the_accuracy(tutorial_environment,
                                                                        tmp_path):
    lines = run_tutorial("seed004_cifar.py", tutorial_environment, tmp_path)
    validation = CIFAR_TRAIN_IMAGES // 10
    assert lines[:2] == [f"({validation}, 10)", f"({CIFAR_TRAIN_IMAGES - validation}, 32, 32, 3)"]
    assert "Total params: 552,874 (2.11 MB)" in lines
    assert re.fullmatch(r"Accuracy: \d+(\.\d+)?%", lines[-1])
