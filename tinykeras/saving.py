"""Weights files in Keras 3's '.weights.h5' layout, through h5py.

Layout: one group per layer at ``layers/<name>/vars`` holding datasets '0', '1', ... in the
layer's weight order, and an empty root group ``vars`` for the model's own variables. As in Keras
3, ``<name>`` is the snake-cased class name numbered within the model ('dense', 'dense_1', ...),
not the layer's own name, so two instances of one architecture address their weights alike.

Loading also reads Keras 2's '.h5' weights layout (see ``load_weights``).

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


def _open(filepath):
    """Opens an HDF5 file for reading, with the errors of a missing or unreadable file."""
    import h5py

    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No weights file at {filepath}.")
    try:
        return h5py.File(filepath, "r")
    except OSError as error:
        raise ValueError(
            f"{filepath} is not a readable HDF5 weights file (truncated or corrupt?): {error}"
        ) from None


def _numeric(dataset, filepath, where):
    import h5py

    if not isinstance(dataset, h5py.Dataset) or dataset.dtype.kind not in "fiub":
        raise ValueError(f"{filepath}: '{where}' is not a numeric array.")
    return np.asarray(dataset[()])


def read_layer_weights(filepath):
    """Reads a '.weights.h5' file into a list of (group path, [arrays]) in file order.

    Raises:
        ValueError: if the file is not an HDF5 weights file of the expected layout.
    """
    import h5py

    filepath = os.fspath(filepath)
    with _open(filepath) as f:
        if "layers" not in f or not isinstance(f["layers"], h5py.Group):
            raise ValueError(
                f"{filepath} has no 'layers' group: it is not a weights file written by "
                "save_weights (Keras 3 '.weights.h5' layout) nor a Keras 2 '.h5' file."
            )
        entries = []
        for name in f["layers"]:
            group = f["layers"][name]
            variables = group.get("vars")
            if not isinstance(variables, h5py.Group):  # a malformed file is a bad value
                raise ValueError(f"{filepath}: layer group '{name}' has no 'vars' group.")  # noqa: TRY004
            arrays = [
                _numeric(variables[key], filepath, f"{name}/vars/{key}")
                for key in sorted(variables.keys(), key=_as_index)
            ]
            entries.append((f"layers/{name}", arrays))
        return entries


def _as_index(key):
    if not key.isdigit():
        raise ValueError(f"Unexpected variable name {key!r} in a weights file: expected 0, 1, ...")
    return int(key)


# Keras 2's '.h5' layout: the root (or the 'model_weights' group of a whole saved model) lists
# the layers in its 'layer_names' attribute; each layer's group lists its datasets, in weight
# order, in 'weight_names'. A long list is split into attributes 'name0', 'name1', ...


def _strings(group, name):
    """A list-of-strings attribute of an HDF5 group, joined from its chunks if it was split."""
    if name in group.attrs:
        values = list(group.attrs[name])
    else:
        values, chunk = [], 0
        while f"{name}{chunk}" in group.attrs:
            values.extend(group.attrs[f"{name}{chunk}"])
            chunk += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def _legacy_root(f):
    """The group of a Keras 2 weights layout in an open file, or None for other layouts."""
    import h5py

    root = f["model_weights"] if isinstance(f.get("model_weights"), h5py.Group) else f
    return root if "layer_names" in root.attrs or "layer_names0" in root.attrs else None


def read_legacy_weights(filepath):
    """Reads a Keras 2 '.h5' weights file (or a whole saved model's weights) into a list of
    (layer name, [arrays]) for the layers that have weights, in the model's layer order.

    Raises:
        ValueError: if the file is not in Keras 2's layout or a listed weight is missing.
    """
    import h5py

    filepath = os.fspath(filepath)
    with _open(filepath) as f:
        root = _legacy_root(f)
        if root is None:
            raise ValueError(f"{filepath} has no 'layer_names' attribute: it is not a Keras 2 weights file.")
        entries = []
        for name in _strings(root, "layer_names"):
            group = root.get(name)
            if not isinstance(group, h5py.Group):
                raise ValueError(  # noqa: TRY004 - a malformed file is a bad value
                    f"{filepath} lists layer '{name}' in 'layer_names' but has no group for it."
                )
            arrays = [
                _numeric(group.get(weight), filepath, f"{name}/{weight}")
                for weight in _strings(group, "weight_names")
            ]
            if arrays:
                entries.append((name, arrays))
        return entries


def _is_legacy(filepath):
    with _open(filepath) as f:
        return "layers" not in f and _legacy_root(f) is not None


def _check_layer(layer, arrays, where):
    """Raises ValueError unless ``arrays`` fit the layer's variables in number and shapes."""
    if len(arrays) != len(layer.variables):
        raise ValueError(
            f"Layer '{layer.name}' expects {len(layer.variables)} weight arrays, the file has "
            f"{len(arrays)} at '{where}'. The file was saved from a different architecture."
        )
    for variable, array in zip(layer.variables, arrays):
        if variable.shape != array.shape:
            raise ValueError(
                f"Layer '{layer.name}': weight '{variable.name}' has shape {variable.shape}, "
                f"the file has {array.shape} at '{where}'. The file was saved from a "
                "different architecture."
            )


def _plan(model, filepath):
    """Pairs each layer with its arrays of a '.weights.h5' file, by group path."""
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
        _check_layer(layer, arrays, path)
        plan.append((layer, arrays))
    leftover = [p for p, arrays in stored.items() if arrays]
    if leftover:
        raise ValueError(
            f"{filepath} holds weights for layers the model does not have: {', '.join(leftover)}."
        )
    return plan


def _legacy_plan(model, filepath):
    """Pairs each layer that has weights with the file's layers that have weights, in order
    (Keras 2's rule: layer names are not compared)."""
    stored = read_legacy_weights(filepath)
    layers = [layer for layer in model.layers if layer.variables]
    if len(stored) != len(layers):
        raise ValueError(
            f"{filepath} holds weights for {len(stored)} layers "
            f"({', '.join(name for name, _ in stored)}); model '{model.name}' has {len(layers)} "
            "layers with weights. The file was saved from a different architecture."
        )
    for layer, (name, arrays) in zip(layers, stored):
        _check_layer(layer, arrays, name)
    return [(layer, arrays) for layer, (_, arrays) in zip(layers, stored)]


def load_weights(model, filepath):
    """Sets the model's weights from a file written by ``save_weights`` or by Keras.

    In Keras 3's '.weights.h5' layout, layers are matched by their path ('layers/dense_1': the
    order of layers of each kind). In Keras 2's '.h5' layout (``layer_names`` and
    ``weight_names`` attributes; also a whole model saved to '.h5'), the layers that have weights
    are matched in order, as Keras does. Every count and shape is checked before any weight
    changes.

    Raises:
        ValueError: naming the first layer or weight that does not match; the model is unchanged.
    """
    if not model.built:
        raise ValueError(
            f"Model '{model.name}' must be built before load_weights: give its first layer an "
            "input_shape, or call it on data once."
        )
    filepath = os.fspath(filepath)
    plan = _legacy_plan(model, filepath) if _is_legacy(filepath) else _plan(model, filepath)
    for layer, arrays in plan:
        for variable, array in zip(layer.variables, arrays):
            variable.value[...] = array
