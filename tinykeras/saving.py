"""Weights files in Keras 3's '.weights.h5' layout, through h5py.

Layout: one group per layer at ``layers/<name>/vars`` holding datasets '0', '1', ... in the
layer's weight order, and an empty root group ``vars`` for the model's own variables. As in Keras
3, ``<name>`` is the snake-cased class name numbered within the model ('dense', 'dense_1', ...),
not the layer's own name, so two instances of one architecture address their weights alike.

Writes are atomic: the file is written next to its destination under a temporary name and moved
into place, so an interrupted save leaves any previous file intact. Loading checks every layer and
shape before it changes anything.
"""
import os

import numpy as np

from tinykeras import backend
from tinykeras.utils.files import atomic_write


def layer_paths(layers):
    """The group path of each layer: 'layers/dense', 'layers/dense_1', 'layers/flatten', ..."""
    used = {}
    paths = []
    for layer in layers:
        base = backend.snake_case(type(layer).__name__)
        count = used.get(base, -1) + 1
        used[base] = count
        paths.append(f"layers/{base}" if count == 0 else f"layers/{base}_{count}")
    return paths


def save_weights(model, filepath, overwrite=True):
    """Writes every layer's weights to ``filepath`` (which should end in '.weights.h5')."""
    import h5py

    filepath = os.fspath(filepath)
    if not filepath.endswith(".weights.h5"):
        raise ValueError(
            "The filename must end in `.weights.h5` (Keras 3's weights format). "
            f"Received: filepath={filepath}"
        )
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath} exists and overwrite=False.")

    with atomic_write(filepath) as file, h5py.File(file, "w") as f:
        for layer, group_path in zip(model.layers, layer_paths(model.layers)):
            group = f.create_group(f"{group_path}/vars")
            for i, variable in enumerate(layer.variables):
                group.create_dataset(str(i), data=variable.value)
        f.create_group("vars")


def read_layer_weights(filepath):
    """Reads a '.weights.h5' file into a list of (group path, [arrays]) in file order.

    Raises:
        ValueError: if the file is not an HDF5 weights file of the expected layout.
    """
    import h5py

    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No weights file at {filepath}.")
    try:
        f = h5py.File(filepath, "r")
    except OSError as error:
        raise ValueError(
            f"{filepath} is not a readable HDF5 weights file (truncated or corrupt?): {error}"
        ) from None
    with f:
        if "layers" not in f or not isinstance(f["layers"], h5py.Group):
            raise ValueError(
                f"{filepath} has no 'layers' group: it is not a weights file written by "
                "save_weights (Keras 3 '.weights.h5' layout)."
            )
        entries = []
        for name in f["layers"].keys():
            group = f["layers"][name]
            variables = group.get("vars")
            if not isinstance(variables, h5py.Group):
                raise ValueError(f"{filepath}: layer group '{name}' has no 'vars' group.")
            arrays = []
            for key in sorted(variables.keys(), key=_as_index):
                dataset = variables[key]
                if not isinstance(dataset, h5py.Dataset) or dataset.dtype.kind not in "fiub":
                    raise ValueError(f"{filepath}: '{name}/vars/{key}' is not a numeric array.")
                arrays.append(np.asarray(dataset[()]))
            entries.append((f"layers/{name}", arrays))
        return entries


def _as_index(key):
    if not key.isdigit():
        raise ValueError(f"Unexpected variable name {key!r} in a weights file: expected 0, 1, ...")
    return int(key)


def load_weights(model, filepath):
    """Sets the model's weights from a file written by ``save_weights``.

    Layers are matched by their path ('layers/dense_1': the order of layers of each kind), and
    every count and shape is checked before any weight changes.

    Raises:
        ValueError: naming the first layer or weight that does not match; the model is unchanged.
    """
    if not model.built:
        raise ValueError(
            f"Model '{model.name}' must be built before load_weights: give its first layer an "
            "input_shape, or call it on data once."
        )
    stored = dict(read_layer_weights(filepath))
    plan = []
    for layer, path in zip(model.layers, layer_paths(model.layers)):
        arrays = stored.pop(path, None)
        if arrays is None:
            if layer.variables:
                raise ValueError(
                    f"{filepath} has no weights for layer '{layer.name}' (expected group "
                    f"'{path}'). The file was saved from a different architecture."
                )
            continue
        if len(arrays) != len(layer.variables):
            raise ValueError(
                f"Layer '{layer.name}' expects {len(layer.variables)} weight arrays, the file has "
                f"{len(arrays)} at '{path}'. The file was saved from a different architecture."
            )
        for variable, array in zip(layer.variables, arrays):
            if variable.shape != array.shape:
                raise ValueError(
                    f"Layer '{layer.name}': weight '{variable.name}' has shape {variable.shape}, "
                    f"the file has {array.shape} at '{path}'. The file was saved from a "
                    "different architecture."
                )
        plan.append((layer, arrays))
    leftover = [p for p, arrays in stored.items() if arrays]
    if leftover:
        raise ValueError(
            f"{filepath} holds weights for layers the model does not have: {', '.join(leftover)}."
        )
    for layer, arrays in plan:
        for variable, array in zip(layer.variables, arrays):
            variable.value[...] = array
