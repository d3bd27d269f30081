"""The tutorials in examples/ reach, on real MNIST, the accuracy their issues ask for."""
import importlib.util
import os

import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mnist_mlp_tutorial(mnist, tmp_path, capsys):
    """Five epochs of the MLP tutorial: >= 95.8% on the test set, and the reloaded model predicts
    the first five test digits."""
    accuracy = load_example("mnist_mlp").main(
        seed=1, weights_path=str(tmp_path / "model.weights.h5"), verbose=0
    )
    out = capsys.readouterr().out
    assert accuracy >= 0.958
    assert "Predictions: [7 2 1 0 4]" in out
