"""Keras 2's HDF5 files ('.h5'): weights alone, and whole models.

Weights layout (what ``model.save_weights('model.h5')`` wrote in Keras 2, and what Keras 3's
legacy reader still loads): the root group lists the model's layers in its ``layer_names``
attribute and records ``backend`` and ``keras_version``; each layer has a group of its own name,
whose ``weight_names`` attribute lists its weights in order ('dense/kernel:0', 'dense/bias:0'),
each stored as a dataset at that path inside the layer's group. A list too long for one HDF5
attribute (64 KB) is split into ``name0``, ``name1``, ... Layers are listed in Keras' order
(``functional_config.keras_layers``). A model used as a layer has one group, holding all its
weights in Keras' '.h5' order (``legacy_weights``: the trainable ones, then the others, over its
layers), named '<layer>/<weight>:0' after the layer of the nested model that holds each.

A whole model ('model.h5') holds the same layout in the group ``model_weights``, the model's
config as JSON in the attribute ``model_config``, the compile settings in ``training_config``,
and the optimizer's state in the group ``optimizer_weights``.

Loading matches the layers that have weights in order (Keras 2's rule), or by layer name with
``by_name=True``; every count and shape is checked before any weight changes.
"""
import json
import warnings

import numpy as np

from tinykeras import saving
from tinykeras.utils.files import atomic_write

#: The largest attribute HDF5 stores in an object header; longer name lists are split.
HDF5_OBJECT_HEADER_LIMIT = 64512
#: What tinykeras records as the backend that wrote a file.
BACKEND = "numpy"


def is_legacy_path(filepath):
    """Whether ``filepath`` names a Keras 2 HDF5 file ('.h5' or '.hdf5', not '.weights.h5')."""
    return filepath.endswith((".h5", ".hdf5")) and not filepath.endswith(".weights.h5")


# ---- writing -------------------------------------------------------------------------------


def _write_strings(group, name, values):
    """Writes a list of strings as a bytes attribute, split into chunks as Keras does when it
    does not fit in one object header."""
    data = np.asarray([v.encode("utf8") for v in values]) if values else np.asarray([])
    chunks = 1
    parts = np.array_split(data, chunks)
    while any(part.nbytes > HDF5_OBJECT_HEADER_LIMIT for part in parts):
        chunks += 1
        parts = np.array_split(data, chunks)
    if chunks == 1:
        group.attrs[name] = data
    else:
        for index, part in enumerate(parts):
            group.attrs[f"{name}{index}"] = part


def legacy_weights(layer):
    """A layer's weights in the order Keras' '.h5' files keep them: its trainable weights, then
    the others; for a model, over all its layers in Keras' order (Keras' ``_legacy_weights``).

    Returns:
        A list of (name, variable), each named '<layer>/<weight>:0' after the layer holding it
        (inside a model, after the models between: 'block/dense/kernel:0').
    """
    trainable, others = _split_weights(layer, layer.trainable, "")
    return trainable + others


def _split_weights(layer, trainable, prefix):
    """The (name, variable) pairs of ``layer``'s weights, split as Keras' ``trainable_weights``
    and ``non_trainable_weights`` split them.

    Args:
        layer: a layer or a model.
        trainable: whether ``layer`` and the models holding it (within the saved layer) are all
            trainable.
        prefix: the names of those models ('block/'), for the weights' names.

    Returns:
        (trainable pairs, other pairs).
    """
    from tinykeras.functional_config import keras_layers
    from tinykeras.models import Model

    if not isinstance(layer, Model):
        # A wrapper's weights are named by their paths ('bidirectional/forward_lstm/lstm_cell/kernel').
        named = [(f"{prefix}{v.path if getattr(layer, 'wraps_layers', False) else f'{layer.name}/{v.name}'}:0", v)
                 for v in layer.variables]
        if not trainable:
            return [], named
        frozen = {id(v) for v in layer.non_trainable_weights}
        return ([(name, v) for name, v in named if id(v) not in frozen],
                [(name, v) for name, v in named if id(v) in frozen])
    split = [
        _split_weights(sub, trainable and layer.trainable, f"{prefix}{sub.name}/" if isinstance(sub, Model) else prefix)
        for sub in keras_layers(layer)
    ]
    return [p for t, _ in split for p in t], [p for _, o in split for p in o]


def write_weights_group(group, model):
    """Writes the model's weights into an open HDF5 group in Keras 2's layout."""
    from tinykeras.functional_config import keras_layers

    layers = keras_layers(model)
    _write_strings(group, "layer_names", [layer.name for layer in layers])
    group.attrs["backend"] = BACKEND.encode("utf8")
    group.attrs["keras_version"] = saving.KERAS_VERSION.encode("utf8")
    # Keras writes the groups sorted by name, so that no name is created after one it prefixes.
    for layer in sorted(layers, key=lambda layer: layer.name):
        layer_group = group.create_group(layer.name)
        named = legacy_weights(layer)
        _write_strings(layer_group, "weight_names", [name for name, _ in named])
        for name, variable in named:
            layer_group.create_dataset(name, data=variable.value)
    _write_strings(group.create_group("top_level_model_weights"), "weight_names", [])


def save_weights(model, filepath):
    """Writes the model's weights to ``filepath`` in Keras 2's HDF5 layout, atomically."""
    import h5py

    with atomic_write(filepath) as file, h5py.File(file, "w") as f:
        write_weights_group(f, model)


def _keras_2_value(value):
    """A config value as Keras 2 spells it: dtype policies as their name, and the initializer
    settings that only Keras 3 has left out when unset."""
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy":
            return value["config"]["name"]
        if value.get("module") == "keras.initializers":
            settings = {k: v for k, v in value["config"].items() if not (k in _KERAS_3_INITIALIZER and v is None)}
            return {"class_name": value["class_name"], "config": settings}
        return {k: _keras_2_value(v) for k, v in value.items()}
    return value


#: Initializer settings Keras 3 added (unset, Keras 2 has no such argument).
_KERAS_3_INITIALIZER = ("input_axes", "output_axes")
#: Layer settings Keras 3 added, left out at these values so that Keras 2 can read the file.
_KERAS_3_LAYER = {"optional": False, "quantization_config": None}


def _legacy_model_config(model):
    """The model_config attribute. A Sequential of layers is written as Keras 2 wrote it, which
    Keras 3's '.h5' reader also reads (``_keras_2_config``); a functional model, or a model
    holding a model, as Keras 3's own '.h5' writer writes it (``_keras_3_entry``), which only
    Keras 3 reads: Keras 2 does not read Keras 3's calls, and Keras 3 does not read Keras 2's
    calls of a nested model (numbered from 1)."""
    from tinykeras.models import Model, Sequential

    if isinstance(model, Sequential) and not any(isinstance(layer, Model) for layer in model.layers):
        return _keras_2_config(model)
    return _keras_3_entry(saving.serialize_model(model))


def _keras_3_entry(entry):
    """A model's (or layer's) config.json entry as Keras 3's '.h5' writer writes it: its
    'class_name' and 'config' (a model's layers written alike), and in a functional model the
    'name' and 'inbound_nodes' of each layer."""
    config = entry["config"]
    if entry["class_name"] in saving.MODEL_CLASSES:
        config = {**config, "layers": [_keras_3_entry(layer) for layer in config["layers"]]}
    written = {"class_name": entry.get("registered_name") or entry["class_name"], "config": config}
    written.update({key: entry[key] for key in ("name", "inbound_nodes") if key in entry})
    return written


def _keras_2_config(model):
    """A Sequential's config as Keras 2 wrote it: layer entries {'class_name', 'config'},
    dtypes as names, the input's shape as 'batch_input_shape', no setting that only Keras 3
    has."""
    config = saving.sequential_config(model)
    entries = []
    for entry in config["layers"]:
        settings = {
            key: _keras_2_value(value) for key, value in entry["config"].items()
            if not (key in _KERAS_3_LAYER and value == _KERAS_3_LAYER[key])
        }
        if entry["class_name"] == "InputLayer":
            settings["batch_input_shape"] = settings.pop("batch_shape")
        entries.append({"class_name": entry.get("registered_name") or entry["class_name"], "config": settings})
    config = {**config, "dtype": _keras_2_value(config["dtype"]), "layers": entries}
    return {"class_name": "Sequential", "config": config}


def _training_config(model):
    """The training_config attribute: compile settings, the optimizer under 'optimizer_config'."""
    config = saving.compile_config(model)
    optimizer = config.pop("optimizer")
    config["optimizer_config"] = {"class_name": optimizer["class_name"], "config": optimizer["config"]}
    return config


def save_model(model, filepath):
    """Writes the whole model to ``filepath`` in Keras 2's HDF5 format, atomically: config,
    weights, compile settings and the optimizer's state."""
    import h5py

    with atomic_write(filepath) as file, h5py.File(file, "w") as f:
        f.attrs["backend"] = BACKEND.encode("utf8")
        f.attrs["keras_version"] = saving.KERAS_VERSION.encode("utf8")
        f.attrs["model_config"] = json.dumps(_legacy_model_config(model)).encode("utf8")
        if model.built:
            write_weights_group(f.create_group("model_weights"), model)
        if model.compiled:
            f.attrs["training_config"] = json.dumps(_training_config(model)).encode("utf8")
            optimizer = model.optimizer
            state = saving.keras_optimizer_state(model)
            names = optimizer.variable_names(_variable_paths(model))
            group = f.create_group("optimizer_weights")
            _write_strings(group, "weight_names", names)
            for name, value in zip(names, state):
                group.create_dataset(name, data=value)


def _variable_paths(model):
    """Keras' paths of the variables the optimizer updates ('sequential/dense/kernel'), in
    the order of its state."""
    return [f"{model.name}/{v.path}" for v in model.optimizer.trainable_variables]


# ---- reading -------------------------------------------------------------------------------


def _strings(group, name):
    """A list-of-strings attribute of an HDF5 group, joined from its chunks if it was split."""
    if name in group.attrs:
        values = list(np.atleast_1d(group.attrs[name]))
    else:
        values, chunk = [], 0
        while f"{name}{chunk}" in group.attrs:
            values.extend(np.atleast_1d(group.attrs[f"{name}{chunk}"]))
            chunk += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def weights_root(f):
    """The group of Keras 2's weights layout in an open file, or None for other layouts."""
    import h5py

    root = f["model_weights"] if isinstance(f.get("model_weights"), h5py.Group) else f
    return root if "layer_names" in root.attrs or "layer_names0" in root.attrs else None


def weight_datasets(root, filepath):
    """The (layer name, [datasets]) of the layers that have weights in an open weights group,
    in the model's layer order, each dataset checked by ``saving.dataset_at`` and none read.

    Raises:
        ValueError: if a listed layer or weight is missing, or a weight is not a float array
            kept in the file itself.
    """
    import h5py

    entries = []
    for name in _strings(root, "layer_names"):
        group = root.get(name)
        if not isinstance(group, h5py.Group):
            raise ValueError(  # noqa: TRY004 - a malformed file is a bad value
                f"{filepath} lists layer '{name}' in 'layer_names' but has no group for it."
            )
        datasets = [
            saving.dataset_at(group, weight, filepath, f"{name}/{weight}")
            for weight in _strings(group, "weight_names")
        ]
        if datasets:
            entries.append((name, datasets))
    return entries


def _pairs_in_order(model, stored, filepath):
    """Pairs the model's layers that have weights with the file's, in Keras' order (Keras 2's
    rule: names are not compared)."""
    from tinykeras.functional_config import keras_layers

    layers = [layer for layer in keras_layers(model) if layer.variables]
    if len(stored) != len(layers):
        raise ValueError(
            f"{filepath} holds weights for {len(stored)} layers "
            f"({', '.join(name for name, _ in stored)}); model '{model.name}' has {len(layers)} "
            "layers with weights. The file was saved from a different architecture; "
            "load_weights(..., by_name=True) loads the layers whose names match."
        )
    return [(layer, _variables(layer), name, arrays) for layer, (name, arrays) in zip(layers, stored)]


def _variables(layer):
    """The layer's variables in the order of its weights in the file (``legacy_weights``)."""
    return [variable for _, variable in legacy_weights(layer)]


def _pairs_by_name(model, stored):
    """Pairs each of the model's layers with the file's layer of the same name; layers without
    a match are left out."""
    by_name = dict(stored)
    return [(layer, _variables(layer), layer.name, by_name[layer.name]) for layer in model.layers if layer.name in by_name]


def plan(model, root, filepath, by_name=False, skip_mismatch=False):
    """The (variables, datasets) pairs to load from an open weights group, every count and shape
    checked before any is read; with ``skip_mismatch`` a layer that does not fit is left out
    with a warning."""
    stored = weight_datasets(root, filepath)
    pairs = _pairs_by_name(model, stored) if by_name else _pairs_in_order(model, stored, filepath)
    return saving.checked_pairs(pairs, filepath, skip_mismatch)


def load_weights(model, filepath, by_name=False, skip_mismatch=False):
    """Sets the model's weights from a Keras 2 '.h5' weights file (or a whole model's)."""
    with saving.open_hdf5(filepath) as f:
        root = weights_root(f)
        if root is None:
            raise ValueError(f"{filepath} has no 'layer_names' attribute: it is not a Keras 2 weights file.")
        pairs = saving.read_arrays(plan(model, root, filepath, by_name, skip_mismatch))
    saving.assign(pairs)


def _json_attribute(f, name, filepath):
    value = f.attrs.get(name)
    if value is None:
        return None
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("utf8", errors="replace")
    if not isinstance(value, str) or len(value) > saving.MAX_JSON_BYTES:
        raise ValueError(f"{filepath}: the '{name}' attribute is not a JSON string of a model file.")
    return saving.parse_json(value, f"{filepath}: the '{name}' attribute")


def _compile_config(training_config):
    """A training_config (Keras 2 and 3 '.h5' files) as a compile_config ('optimizer' in place
    of 'optimizer_config')."""
    config = saving.expect_dict(training_config, "'training_config'")
    config = dict(config)
    config["optimizer"] = config.pop("optimizer_config", None)
    return config


def load_model(filepath, compile=True):
    """Loads a whole model from a Keras 2 '.h5' file (written by ``save`` or by Keras): the
    Sequential or functional model of ``model_config``, its weights, and with ``compile`` the
    compile settings and the optimizer's state."""
    with saving.open_hdf5(filepath) as f:
        serialized = _json_attribute(f, "model_config", filepath)
        if serialized is None:
            raise ValueError(
                f"{filepath} has no 'model_config' attribute: it is not a whole model saved to "
                "'.h5'. A weights file loads into a model with model.load_weights."
            )
        training = _json_attribute(f, "training_config", filepath) if compile else None
        serialized = saving.expect_dict(serialized, f"{filepath} 'model_config'", ("class_name", "config"))
        serialized = {**serialized, "compile_config": _compile_config(training) if training else None}
        with saving.config_errors(filepath):
            model = saving.deserialize_model(serialized, compile=compile)
        if not model.built:
            raise ValueError(f"{filepath}: the model's input shape is not recorded, so it cannot be built.")
        root = weights_root(f)
        if root is None:
            if any(layer.variables for layer in model.layers):
                raise ValueError(f"{filepath} has no 'model_weights' group for a model with weights.")
            pairs = []
        else:
            pairs = saving.read_arrays(plan(model, root, filepath))
        state = _optimizer_state(f, filepath, model) if model.compiled else None
    saving.assign(pairs)
    if state is not None:
        saving.restore_optimizer(model, state, filepath)
    return model


def _optimizer_state(f, filepath, model):
    """The arrays of the 'optimizer_weights' group in Keras 3's order, or None.

    Keras 3 writes the step count, the learning rate, then the slots; Keras 2.11 to 2.15 wrote
    the same without the learning rate, which is then taken from the compile settings. Older
    optimizers kept their slots in another order: their state is not read (with a warning).
    State that does not fit the model's optimizer is not read either (``saving.read_optimizer_state``).
    """
    import h5py

    group = f.get("optimizer_weights")
    if not isinstance(group, h5py.Group):
        return None
    names = _strings(group, "weight_names")
    short = [name.removesuffix(":0") for name in names]
    if not short or not short[0].endswith("iteration"):
        warnings.warn(
            f"{filepath}: the optimizer's state is in an older Keras layout ({', '.join(names[:3])}, "
            "...), which tinykeras does not read; training goes on from a freshly initialized "
            "optimizer.",
            stacklevel=4,
        )
        return None
    state = [saving.dataset_at(group, n, filepath, f"optimizer_weights/{n}", kinds="fiu") for n in names]
    # A learning-rate schedule is no state: Keras keeps no rate among the arrays then.
    if model.optimizer._has_rate_variable() and (len(short) < 2 or not short[1].endswith("learning_rate")):
        state.insert(1, np.asarray(model.optimizer.learning_rate, dtype=np.float32))
    return saving.read_optimizer_state(model, state, filepath)
