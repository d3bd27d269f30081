"""The tutorials in examples/ reach, on real MNIST, the accuracy their issues ask for; the CIFAR-10
tutorial runs end to end on synthetic batches in CIFAR-10's format."""
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
from cifar_batches import synthetic_batches, write_folder

from tinykeras.datasets import _cache, cifar10

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


def test_mnist_mlp_command_line_writes_into_output_in_the_current_folder(mnist, tmp_path,
                                                                       monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert load_example("mnist_mlp").cli(["--epochs", "1", "--seed", "1"]) == 0
    assert os.listdir(tmp_path) == ["output"]
    assert os.listdir(tmp_path / "output") == ["model.weights.h5"]
    assert f"Weights saved to {os.path.join('output', 'model.weights.h5')}" in capsys.readouterr().out


def test_mnist_cnn_tutorial(mnist, tmp_path, capsys):
    """The README's main example, all three epochs: >= 96.0% on the test set, the weights saved
    into a folder created for them, and the reloaded model predicts the first five test digits."""
    weights = tmp_path / "runs" / "cnn.weights.h5"
    accuracy = load_example("mnist_cnn").main(seed=1, weights_path=str(weights), verbose=0)
    out = capsys.readouterr().out
    assert weights.is_file()
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


@pytest.fixture
def synthetic_cifar10(tmp_path, monkeypatch):
    """A CIFAR-10 cache of synthetic batches of 64 images each, in the original format."""
    monkeypatch.setenv("TINYKERAS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(cifar10, "IMAGES_PER_BATCH", 64)
    write_folder(Path(cifar10.cache_path()), synthetic_batches(64))


def test_cifar10_tutorial_runs_end_to_end_on_synthetic_batches(synthetic_cifar10, tmp_path, capsys):
    """Augmented batches into fit, validation on the held-out 10%, early stopping watching,
    evaluation, the learning curves saved, and the summary's parameter counts."""
    plot = tmp_path / "history.png"
    history, accuracy = load_example("cifar10_cnn").main(epochs=2, seed=1, plot_path=str(plot))
    out = capsys.readouterr().out
    assert "Total params: 552,874" in out
    assert "Trainable params: 551,722" in out and "Non-trainable params: 1,152" in out
    assert "Epoch 2/2" in out and "5/5 - " in out  # 288 training images in batches of 64
    assert len(history.history["acc"]) == len(history.history["val_acc"]) == 2
    assert all(np.isfinite(history.history["val_loss"]))
    assert 0 <= accuracy <= 1
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cifar10_command_line_saves_the_curves_into_output_dir(synthetic_cifar10, tmp_path,
                                                               monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    output = tmp_path / "my runs"
    assert load_example("cifar10_cnn").cli(["--epochs", "1", "--seed", "1",
                                            "--output", str(output)]) == 0
    assert os.listdir(output) == ["cifar10_history.png"]
    assert "home" in os.listdir(tmp_path) and "output" not in os.listdir(tmp_path)
    assert f"Learning curves saved to {output / 'cifar10_history.png'}" in capsys.readouterr().out


def test_cifar10_tutorial_without_data_says_how_to_place_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TINYKERAS_HOME", str(tmp_path / "home"))

    def unreachable(url, path, timeout=None):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(_cache, "download", unreachable)
    status = load_example("cifar10_cnn").cli(["--epochs", "1"])
    err = capsys.readouterr().err
    assert status == 1
    assert "CIFAR-10 is not available" in err and "cifar-10-batches-py" in err


def test_mnist_cnn_keras1_tutorial_learns_on_a_subset(mnist, capsys):
    """The Keras 1 tutorial (Convolution2D, border_mode, nb_epoch, channels_first images): one
    epoch on 3,000 images, and the first layer's channels-first output shape."""
    import warnings

    from tinykeras import backend

    example = load_example("mnist_cnn_keras1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy names warn by design
        accuracy = example.main(seed=1, epochs=1, train_samples=3000, verbose=0)
        out = capsys.readouterr().out
        assert backend.image_data_format() == "channels_last"  # main() restores the format
        backend.set_image_data_format("channels_first")  # build_model() reads it, as in Keras 1
        model = example.build_model()
    assert accuracy >= 0.85  # chance is 0.10; the full 10 epochs reach about 0.99
    assert "First layer output shape: (None, 32, 26, 26)" in out
    assert "X_train shape: (3000, 1, 28, 28)" in out and "Test accuracy:" in out
    assert model.layers[0].output_shape == (None, 32, 26, 26)
    assert model.output_shape == (None, 10) and model.count_params() == 600_810


def test_mnist_cnn_keras1_restores_the_image_data_format_when_main_raises(monkeypatch):
    from tinykeras import backend

    def unavailable(*args, **kwargs):
        raise OSError("MNIST is not available")

    example = load_example("mnist_cnn_keras1")
    monkeypatch.setattr(example.mnist, "load_data", unavailable)
    with pytest.raises(OSError, match="not available"):
        example.main(epochs=1)
    assert backend.image_data_format() == "channels_last"


def write_imdb_reviews(path, train=480, test=240, seed=5):
    """An ``imdb.npz`` in Keras' format (object arrays of lists of word ranks, 0/1 labels) whose
    reviews a model can learn: 20 to 150 words of Zipf frequencies (ranks 1 to 2999), one in
    five replaced by one of 30 words of the review's sentiment."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, 3000)
    frequencies = 1.0 / ranks
    sentiment_words = rng.choice(np.arange(100, 3000), size=(2, 30), replace=False)
    reviews, labels = [], rng.integers(0, 2, train + test)
    for label in labels:
        words = rng.choice(ranks, size=rng.integers(20, 151), p=frequencies / frequencies.sum())
        marked = rng.random(len(words)) < 0.2
        words[marked] = rng.choice(sentiment_words[label], size=marked.sum())
        reviews.append([int(w) for w in words])
    sequences = np.empty(len(reviews), dtype=object)
    sequences[:] = reviews
    np.savez(path, x_train=sequences[:train], y_train=labels[:train], x_test=sequences[train:],
             y_test=labels[train:])


@pytest.fixture
def synthetic_imdb(tmp_path, monkeypatch):
    """An IMDB cache holding synthetic reviews, made the published file (its SHA-256)."""
    import hashlib

    from tinykeras.datasets import imdb

    monkeypatch.setenv("TINYKERAS_HOME", str(tmp_path / "home"))
    os.makedirs(os.path.dirname(imdb.cache_path()))
    write_imdb_reviews(imdb.cache_path())
    with open(imdb.cache_path(), "rb") as file:
        monkeypatch.setattr(imdb, "SHA256", hashlib.sha256(file.read()).hexdigest())


def test_imdb_lstm_tutorial_learns_synthetic_reviews(synthetic_imdb, capsys):
    """One epoch on 480 IMDB-shaped reviews padded to 80 words: well above chance on the 240
    test reviews, and the shapes the tutorial prints."""
    example = load_example("imdb_lstm")
    accuracy = example.main(epochs=1, seed=1, verbose=0)
    out = capsys.readouterr().out
    assert accuracy >= 0.75  # chance is 0.5
    assert "480 train sequences" in out and "x_train shape: (480, 80)" in out
    assert "x_test shape: (240, 80)" in out and "test accuracy:" in out
    model = example.build_model()
    assert model.count_params() == 20000 * 128 + 4 * 128 * (128 + 128 + 1) + 129


def test_imdb_lstm_command_line_without_data_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TINYKERAS_HOME", str(tmp_path / "home"))

    def unreachable(url, path, timeout=None):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(_cache, "download", unreachable)
    assert load_example("imdb_lstm").cli(["--epochs", "1"]) == 1
    err = capsys.readouterr().err
    assert "IMDB is not available" in err and "imdb.npz" in err


def test_class_imbalance_tutorial_class_weight_finds_more_of_the_rare_class(mnist, capsys):
    """On 12,000 training digits of which 1% are zeros: the confusion counts of both trainings
    are printed, and the weighted one misses fewer zeros."""
    results = load_example("class_imbalance").main(epochs=2, seed=1, train_samples=12000)
    out = capsys.readouterr().out
    plain, weighted = results["plain"], results["weighted"]
    positives = plain["tp"] + plain["fn"]
    assert positives == weighted["tp"] + weighted["fn"] == round(9020 * 0.01 / 0.99)
    assert weighted["recall"] > plain["recall"] and weighted["fn"] < plain["fn"]
    assert weighted["auc"] > 0.95
    assert "| without class_weight |" in out and "| with class_weight |" in out
    assert "Training: 10903 samples, 109 positives (1.00% of total)" in out
    assert "Weight for class 0: 0.51, for class 1: 50.01" in out
