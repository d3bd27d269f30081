"""Plots for the tutorials: learning curves from a History, and a grid of sample images.

matplotlib is optional (``pip install tinykeras[plot]``) and imported only when a plot is drawn.
The figures are built with ``matplotlib.figure.Figure`` directly, without pyplot, so they never
change the user's backend or open a window: a notebook displays the returned Figure, and
``path=`` saves it.
"""
import math
import os

import numpy as np

from tinykeras.utils.files import atomic_write

#: The most images the default grid of ``plot_images`` shows (pass rows/cols for more).
MAX_DEFAULT_IMAGES = 100


def _figure(function_name, **kwargs):
    """A new matplotlib Figure, or an ImportError that says how to install matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            f"{function_name} needs matplotlib, an optional dependency of tinykeras. Install it "
            "with `pip install tinykeras[plot]` (or `pip install matplotlib`)."
        ) from error
    return Figure(**kwargs)


def _save(figure, path):
    """Writes the figure atomically; the format follows the file's extension (PNG if none)."""
    path = os.fspath(path)
    extension = os.path.splitext(path)[1].lstrip(".").lower()
    with atomic_write(path) as file:
        figure.savefig(file, format=extension or "png")


def plot_history(history, path=None, metrics=None):
    """Draws the learning curves of a training run: one plot per metric, train and validation.

    Args:
        history: the :class:`~tinykeras.callbacks.History` that ``fit`` returns, or its
            ``history`` dict. Keras' 'accuracy' keys and the legacy 'acc' keys both work.
        path: if given, the figure is saved there (PNG, or the format named by the extension).
        metrics: the names to plot, one plot each; by default 'accuracy' and 'loss', those of
            them that the history holds.

    Returns:
        The matplotlib ``Figure``; its axes show each metric per epoch (counted from 1), with a
        'validation' line when the history has the matching 'val_' values.

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: a requested metric is not in the history.
    """
    # Imported here, not at the top: tinykeras.callbacks itself imports tinykeras.utils.
    from tinykeras.callbacks import _AliasDict

    logs = _AliasDict(getattr(history, "history", history))
    if metrics is None:
        metrics = [name for name in ("accuracy", "loss") if name in logs]
        if not metrics:
            raise ValueError(
                "plot_history found neither 'accuracy' nor 'loss' in the history; pass "
                f"metrics=[...]. Available: {sorted(logs)}"
            )
    missing = [name for name in metrics if name not in logs]
    if missing:
        raise ValueError(f"plot_history: {missing} not in the history. Available: {sorted(logs)}")

    figure = _figure("plot_history", figsize=(5.5 * len(metrics), 4.2), layout="constrained")
    for index, name in enumerate(metrics):
        axes = figure.add_subplot(1, len(metrics), index + 1)
        train = logs[name]
        epochs = _epoch_numbers(history, len(train))
        axes.plot(epochs, train, marker="o", markersize=3, label="train")
        validation = logs.get("val_" + name)
        if validation is not None:
            axes.plot(epochs[: len(validation)], validation, marker="o", markersize=3, label="validation")
        title = "accuracy" if name == "acc" else name
        axes.set_title(f"Model {title}")
        axes.set_xlabel("Epoch")
        axes.set_ylabel(title)
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.grid(alpha=0.3)
        axes.legend()
    if path is not None:
        _save(figure, path)
    return figure


def _epoch_numbers(history, count):
    """The epochs counted from 1: a History's own epochs (they start later after initial_epoch)."""
    epochs = getattr(history, "epoch", None)
    if epochs is not None and len(epochs) == count:
        return [epoch + 1 for epoch in epochs]
    return list(range(1, count + 1))


def plot_images(x, labels=None, path=None, rows=None, cols=None, class_names=None):
    """Draws images in a grid, each titled with its label.

    Args:
        x: the images, shape (N, H, W), (N, H, W, 1) or (N, H, W, 3) (channels_last); uint8 in
            [0, 255] or floats in [0, 1].
        labels: one label per image: class indices, one-hot rows, or strings.
        path: if given, the figure is saved there (PNG, or the format named by the extension).
        rows, cols: the grid's shape; by default near square (3x3 for 9 images, 4x4 for 16), for
            at most ``MAX_DEFAULT_IMAGES`` images. Only the first ``rows * cols`` images are shown.
        class_names: names for the class indices, e.g. ``['airplane', 'automobile', ...]``.

    Returns:
        The matplotlib ``Figure``, with one axes per grid cell in row order.

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: for images of another shape or range, or labels of another length.
    """
    x = _check_images(x)
    titles = None if labels is None else _titles(labels, len(x), class_names)
    rows, cols = _grid(len(x), rows, cols)
    figure = _figure("plot_images", figsize=(1.8 * cols, 1.9 * rows + 0.2), layout="constrained")
    gray = x.ndim == 3
    top = 255 if x.dtype == np.uint8 else 1.0
    for index in range(rows * cols):
        axes = figure.add_subplot(rows, cols, index + 1)
        axes.axis("off")
        if index >= len(x):
            continue
        if gray:
            axes.imshow(x[index], cmap="gray", vmin=0, vmax=top)
        else:
            axes.imshow(x[index])
        if titles is not None:
            axes.set_title(titles[index], fontsize=9)
    if path is not None:
        _save(figure, path)
    return figure


def _check_images(x):
    x = np.asarray(x)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if not (x.ndim == 3 or (x.ndim == 4 and x.shape[-1] == 3)) or len(x) == 0:
        raise ValueError(
            "plot_images expects images of shape (N, H, W), (N, H, W, 1) or (N, H, W, 3), "
            f"channels last. Received: shape={np.shape(x)}"
        )
    if x.dtype == np.uint8:
        return x
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise ValueError(f"plot_images expects uint8 or float images. Received: dtype={x.dtype}")
    low, high = float(x.min()), float(x.max())
    if low < 0 or high > 1:
        raise ValueError(
            "plot_images expects float images in [0, 1] (or uint8 in [0, 255]); divide by 255 "
            f"first. Received: values in [{low:g}, {high:g}]"
        )
    return x


def _titles(labels, count, class_names):
    labels = np.asarray(labels)
    if labels.ndim == 2:  # one-hot rows, or a column of indices
        labels = labels.argmax(axis=1) if labels.shape[1] > 1 else labels[:, 0]
    if labels.ndim != 1 or len(labels) != count:
        raise ValueError(
            f"plot_images expects one label per image: {count} labels. Received: shape={np.shape(labels)}"
        )
    if class_names is None or not np.issubdtype(labels.dtype, np.number):
        return [str(label) for label in labels.tolist()]
    return [str(class_names[int(label)]) for label in labels]


def _grid(count, rows, cols):
    """The grid's (rows, cols): near square by default, else completed from the one given."""
    for name, value in (("rows", rows), ("cols", cols)):
        if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
            raise ValueError(f"plot_images: {name} must be a positive integer. Received: {name}={value!r}")
    if rows is None and cols is None:
        count = min(count, MAX_DEFAULT_IMAGES)
        cols = math.ceil(math.sqrt(count))
        return math.ceil(count / cols), cols
    if rows is None:
        return math.ceil(count / cols), cols
    if cols is None:
        return rows, math.ceil(count / rows)
    return rows, cols
