"""Plotting utilities: learning curves and image grids (matplotlib, imported only when drawing)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import tinykeras
from tinykeras import Sequential, callbacks
from tinykeras.layers import Dense
from tinykeras.utils import plot_history, plot_images

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

KERAS_3_LOGS = {
    "accuracy": [0.5, 0.75, 0.875],
    "loss": [1.0, 0.5, 0.25],
    "val_accuracy": [0.4, 0.6, 0.7],
    "val_loss": [1.2, 0.8, 0.6],
}


def lines_of(axes):
    """Each line of the axes as (label, x values, y values)."""
    return [(line.get_label(), list(line.get_xdata()), list(line.get_ydata())) for line in axes.lines]


# ---- plot_history ---------------------------------------------------------------------------


def test_plot_history_draws_accuracy_and_loss_per_epoch():
    figure = plot_history(KERAS_3_LOGS)
    accuracy, loss = figure.axes
    assert lines_of(accuracy) == [
        ("train", [1, 2, 3], [0.5, 0.75, 0.875]),
        ("validation", [1, 2, 3], [0.4, 0.6, 0.7]),
    ]
    assert lines_of(loss) == [("train", [1, 2, 3], [1.0, 0.5, 0.25]), ("validation", [1, 2, 3], [1.2, 0.8, 0.6])]
    assert [axes.get_title() for axes in figure.axes] == ["Model accuracy", "Model loss"]
    assert [axes.get_xlabel() for axes in figure.axes] == ["Epoch", "Epoch"]
    assert [axes.get_ylabel() for axes in figure.axes] == ["accuracy", "loss"]
    legend = [text.get_text() for text in loss.get_legend().get_texts()]
    assert legend == ["train", "validation"]


def test_plot_history_reads_legacy_acc_keys():
    legacy = {"acc": [0.25, 0.5], "val_acc": [0.2, 0.3], "loss": [2.0, 1.0], "val_loss": [2.5, 1.5]}
    accuracy, loss = plot_history(legacy).axes
    assert lines_of(accuracy) == [("train", [1, 2], [0.25, 0.5]), ("validation", [1, 2], [0.2, 0.3])]
    assert accuracy.get_title() == "Model accuracy"
    assert lines_of(loss)[1] == ("validation", [1, 2], [2.5, 1.5])


def test_plot_history_without_validation_or_accuracy():
    (loss,) = plot_history({"loss": [3.0, 2.0, 1.0, 0.5]}).axes
    assert lines_of(loss) == [("train", [1, 2, 3, 4], [3.0, 2.0, 1.0, 0.5])]


def test_plot_history_chosen_metrics_and_missing_ones():
    logs = {"loss": [1.0, 0.5], "mae": [0.9, 0.4], "val_mae": [1.0, 0.6]}
    (mae,) = plot_history(logs, metrics=["mae"]).axes
    assert lines_of(mae) == [("train", [1, 2], [0.9, 0.4]), ("validation", [1, 2], [1.0, 0.6])]
    with pytest.raises(ValueError, match=r"\['accuracy'\] not in the history. Available: \['loss', 'mae', 'val_mae'\]"):
        plot_history(logs, metrics=["accuracy", "loss"])
    with pytest.raises(ValueError, match="neither 'accuracy' nor 'loss'"):
        plot_history({"mae": [1.0]})


def test_plot_history_of_a_fit_uses_its_epochs(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4))
    y = (x[:, 0] > 0).astype(int)
    model = Sequential([Dense(2, activation="softmax", input_shape=(4,))])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=5, initial_epoch=2, validation_split=0.25, verbose=0)
    assert isinstance(history, callbacks.History)
    figure = plot_history(history, path=tmp_path / "curves.png")
    accuracy, loss = figure.axes
    assert lines_of(accuracy)[0] == ("train", [3, 4, 5], history.history["accuracy"])
    assert lines_of(loss)[1] == ("validation", [3, 4, 5], history.history["val_loss"])
    assert (tmp_path / "curves.png").read_bytes().startswith(PNG_SIGNATURE)


def test_plot_history_saves_a_png_atomically(tmp_path, monkeypatch):
    path = tmp_path / "plots" / "history.png"
    plot_history(KERAS_3_LOGS, path=str(path))
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert os.listdir(path.parent) == ["history.png"]  # no temporary file left behind

    # A failure while writing leaves the previous file whole and no temporary file.
    before = path.read_bytes()
    from matplotlib.figure import Figure

    def broken_savefig(self, file, **kwargs):
        file.write(b"half a picture")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        plot_history(KERAS_3_LOGS, path=path)
    assert path.read_bytes() == before and os.listdir(path.parent) == ["history.png"]


def test_plot_history_format_follows_the_extension(tmp_path):
    path = tmp_path / "history.svg"
    plot_history(KERAS_3_LOGS, path=path)
    assert b"<svg" in path.read_bytes()[:1000]


# ---- plot_images ----------------------------------------------------------------------------


def grid_shape(figure):
    return figure.axes[0].get_subplotspec().get_gridspec().get_geometry()


@pytest.mark.parametrize(("count", "shape"), [(9, (3, 3)), (16, (4, 4)), (10, (3, 4)), (1, (1, 1)), (2, (1, 2))])
def test_plot_images_default_grid_is_near_square(count, shape):
    figure = plot_images(np.zeros((count, 5, 5), np.uint8))
    assert grid_shape(figure) == shape and len(figure.axes) == shape[0] * shape[1]
    assert sum(len(axes.images) for axes in figure.axes) == count


def test_plot_images_titles_from_indices_one_hot_and_names():
    x = np.zeros((9, 4, 4, 1), np.float32)
    labels = np.arange(9) % 3
    titles = [axes.get_title() for axes in plot_images(x, labels).axes]
    assert titles == ["0", "1", "2"] * 3
    one_hot = np.eye(3)[labels]
    names = ["cat", "dog", "bird"]
    titles = [axes.get_title() for axes in plot_images(x, one_hot, class_names=names).axes]
    assert titles == names * 3
    titles = [axes.get_title() for axes in plot_images(x[:2], ["left", "right"]).axes]
    assert titles == ["left", "right"]


def test_plot_images_shows_the_pixels(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (16, 6, 6, 3), dtype=np.uint8)
    figure = plot_images(rgb, path=tmp_path / "grid.png")
    assert grid_shape(figure) == (4, 4)
    np.testing.assert_array_equal(figure.axes[5].images[0].get_array(), rgb[5])
    assert (tmp_path / "grid.png").read_bytes()[:8] == PNG_SIGNATURE

    gray = rng.random((4, 6, 6, 1))
    image = plot_images(gray).axes[3].images[0]
    np.testing.assert_array_equal(image.get_array(), gray[3, :, :, 0])
    assert image.get_cmap().name == "gray" and image.get_clim() == (0, 1)
    assert plot_images((gray * 255).astype(np.uint8)).axes[0].images[0].get_clim() == (0, 255)


def test_plot_images_explicit_grid_shows_the_first_images():
    figure = plot_images(np.zeros((20, 3, 3)), np.arange(20), rows=2, cols=3)
    assert grid_shape(figure) == (2, 3) and [axes.get_title() for axes in figure.axes] == list("012345")
    assert grid_shape(plot_images(np.zeros((7, 3, 3)), rows=2)) == (2, 4)
    assert grid_shape(plot_images(np.zeros((7, 3, 3)), cols=2)) == (4, 2)
    assert grid_shape(plot_images(np.zeros((500, 3, 3)))) == (10, 10)


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.zeros((4, 3, 3, 2)), r"shape=\(4, 3, 3, 2\)"),
        (np.zeros((3, 3)), r"shape=\(3, 3\)"),
        (np.zeros((0, 3, 3)), r"shape=\(0, 3, 3\)"),
        (np.full((2, 3, 3), 255.0), "divide by 255"),
        (np.full((2, 3, 3), "a"), "dtype"),
    ],
)
def test_plot_images_refuses_what_it_cannot_draw(x, message):
    with pytest.raises(ValueError, match=message):
        plot_images(x)


def test_plot_images_needs_one_label_per_image():
    with pytest.raises(ValueError, match=r"4 labels. Received: shape=\(3,\)"):
        plot_images(np.zeros((4, 3, 3)), labels=[0, 1, 2])
    with pytest.raises(ValueError, match="rows must be a positive integer"):
        plot_images(np.zeros((4, 3, 3)), rows=0)


# ---- matplotlib stays optional --------------------------------------------------------------


@pytest.mark.parametrize("draw", [lambda: plot_history(KERAS_3_LOGS), lambda: plot_images(np.zeros((1, 2, 2)))])
def test_without_matplotlib_the_error_says_how_to_install_it(monkeypatch, draw):
    for name in [name for name in sys.modules if name == "matplotlib" or name.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what an import sees when it is missing
    with pytest.raises(ImportError, match=r"pip install tinykeras\[plot\]` \(or `pip install matplotlib`\)"):
        draw()


def test_importing_tinykeras_does_not_import_matplotlib():
    code = "import sys, tinykeras, tinykeras.utils; print('matplotlib' in sys.modules)"
    root = os.path.dirname(os.path.dirname(tinykeras.__file__))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "False"
