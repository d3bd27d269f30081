"""The tutorials in examples/ reach, on real MNIST, the accuracy their issues ask for."""
import importlib.util
import os

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


def test_mnist_cnn_tutorial(mnist, tmp_path, capsys):
    """The README's main example, all three epochs: >= 96.0% on the test set, and the reloaded
    model predicts the first five test digits."""
    accuracy = load_example("mnist_cnn").main(
        seed=1, weights_path=str(tmp_path / "cnn.weights.h5"), verbose=0
    )
    out = capsys.readouterr().out
    assert accuracy >= 0.960
    assert "Predictions: [7 2 1 0 4]" in out


def test_mnist_cnn_small_tutorial_learns_on_a_subset(mnist, capsys):
    """One epoch on 6,000 raw-pixel images (the large inputs must not make training diverge), and
    the summary's 37,210 parameters."""
    accuracy = load_example("mnist_cnn_small").main(seed=1, epochs=1, train_samples=6000, verbose=0)
    out = capsys.readouterr().out
    assert accuracy >= 0.75  # chance is 0.10; a full run reaches about 0.97
    assert "Trainable params: 37,210" in out and "(None, 6, 6, 10)" in out


def test_mnist_cnn_deep_tutorial_learns_on_a_subset(mnist):
    """One epoch on 3,000 images, and the model's 600,810 parameters."""
    example = load_example("mnist_cnn_deep")
    model = example.build_model()
    assert model.count_params() == 600_810
    assert model.layers[2].output_shape == (None, 12, 12, 32) and model.output_shape == (None, 10)
    accuracy = example.main(seed=1, epochs=1, train_samples=3000, verbose=0)
    assert accuracy >= 0.85
