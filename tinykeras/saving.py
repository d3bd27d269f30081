"""Weights files in Keras 3's '.weights.h5' layout, through h5py.

Layout: one group per layer at ``layers/<name>/vars`` holding datasets '0', '1', ... in the
layer's weight order, and an empty root group ``vars`` for the model's own variables. As in Keras
3, ``<name>`` is the snake-cased class name numbered within the model ('dense', 'dense_1', ...),
not the layer's own name, so two instances of one architecture address their weights alike.
Layers are numbered in Keras' order (``functional_config.keras_layers``). A model used as a layer
has an empty ``vars`` group and its own layers under ``layers/<name>/layers/`` (numbered within
it): 'layers/sequential/layers/dense/vars'.

Keras 2's '.h5' files (weights, and whole models) are read and written by
:mod:`tinykeras.legacy_h5`; ``save_weights`` and ``load_weights`` choose by the file's name.

Whole models go to Keras 3's '.keras' archive (see ``save_model`` and ``load_model``): a zip
holding 'metadata.json', 'config.json' (the model described as Keras serializes it) and
'model.weights.h5' (the weights layout above).

Writes are atomic: the file is written next to its destination under a temporary name and moved
into place, so an interrupted save leaves any previous file intact. Loading checks every layer and
shape before it changes anything, and before it reads any array: a damaged file cannot make it
allocate more than the model's own weights need. Weights are read only from the file itself:
links, external storage and virtual datasets are refused (``open_hdf5``, ``dataset_at``).
"""
import datetime
import io
import inspect
import json
import math
import os
import warnings
import zipfile
import zlib
from contextlib import contextmanager

import numpy as np

from tinykeras import backend
from tinykeras.utils.files import atomic_write


def layer_paths(layers, prefix="layers"):
    """The group path of each layer: 'layers/dense', 'layers/dense_1', 'layers/flatten', ...
    (``prefix`` in place of 'layers' for the layers of a nested model)."""
    used = {}
    paths = []
    for layer in layers:
        base = backend.snake_case(type(layer).__name__)
        count = used.get(base, -1) + 1
        used[base] = count
        paths.append(f"{prefix}/{base}" if count == 0 else f"{prefix}/{base}_{count}")
    return paths


def weight_groups(model, path="", visited=None):
    """Every layer of the model with its group path, as Keras 3's saving walks a model: a
    Sequential's or functional model's layers in a 'layers' container, in Keras' order
    ('layers/dense', 'layers/dense_1'); a subclassed model's by the attributes holding them, in
    sorted order, private ones last ('dense1', 'blocks/dense', then 'layers/...' for any not
    reached yet). A nested model's layers follow it, under its group; a layer reached twice
    keeps its first path.

    A layer written with ``call`` holding other layers is walked like a subclassed model:
    its own weights in its group, its sublayers' under the attributes holding them.

    Returns:
        A list of (layer, path, variables): the variables its own 'vars' group holds (none for
        a model).
    """
    from tinykeras.functional_config import keras_layers

    visited = set() if visited is None else visited
    if not getattr(model, "_subclassed", True):
        return _container_groups(keras_layers(model), _joined_path(path, "layers"), visited)
    groups = []
    for name, value in sorted(_saveable_attributes(model), key=lambda item: _attribute_key(item[0])):
        if _is_layer(value):
            groups += _layer_groups(value, _joined_path(path, name), visited)
        elif isinstance(value, (list, tuple, dict)):
            groups += _container_groups(value, _joined_path(path, name), visited)
    return groups


def _saveable_attributes(model):
    """(name, value) of the attributes of a subclassed model (with its ``layers``, which Keras
    visits among them) or of a layer written with call, that may hold layers."""
    from tinykeras.subclassing import ENGINE_ATTRIBUTES

    attributes = [(name, value) for name, value in vars(model).items() if name not in ENGINE_ATTRIBUTES]
    return attributes + [("layers", model.layers)] if _is_model(model) else attributes


def _is_model(value):
    from tinykeras.models import Model

    return isinstance(value, Model)


def _attribute_key(name):
    return f"~{name}" if name.startswith("_") else name


def _is_layer(value):
    from tinykeras.layers.base import Layer
    from tinykeras.models import Model

    return isinstance(value, (Layer, Model))


def _joined_path(path, name):
    return f"{path}/{name}" if path else name


def _layer_groups(layer, path, visited):
    from tinykeras.models import Model

    if id(layer) in visited:
        return []
    visited.add(id(layer))
    if isinstance(layer, Model):
        return [(layer, path, [])] + weight_groups(layer, path, visited)
    if layer._sublayers():
        return [(layer, path, list(layer._variables))] + weight_groups(layer, path, visited)
    inner = getattr(layer, "keras_weights_group", None)  # a recurrent layer's weights: in its cell
    if inner:
        return [(layer, path, []), (layer, f"{path}/{inner}", layer.variables)]
    return [(layer, path, layer.variables)]


def _container_groups(items, path, visited):
    """The groups of the layers in a list, tuple or dict (its values): each named after its
    class, numbered within the container ('dense', 'dense_1'), as Keras names them; nested
    containers 'container', 'container_1'."""
    used, groups = {}, []
    for item in items.values() if isinstance(items, dict) else items:
        if _is_layer(item):
            base = backend.snake_case(type(item).__name__)
        elif isinstance(item, (list, tuple, dict)):
            base = "container"
        else:
            continue
        count = used.get(base, -1) + 1
        used[base] = count
        name = base if count == 0 else f"{base}_{count}"
        if _is_layer(item):
            groups += _layer_groups(item, f"{path}/{name}", visited)
        else:
            groups += _container_groups(item, f"{path}/{name}", visited)
    return groups


def save_weights(model, filepath, overwrite=True):
    """Writes every layer's weights to ``filepath``: Keras 3's layout for a name ending in
    '.weights.h5', Keras 2's for '.h5' or '.hdf5'.

    Raises:
        ValueError: for any other name, listing the accepted suffixes.
    """
    from tinykeras import legacy_h5

    filepath = os.fspath(filepath)
    legacy = legacy_h5.is_legacy_path(filepath)
    if not legacy and not filepath.endswith(".weights.h5"):
        raise ValueError(
            "save_weights writes '.weights.h5' (Keras 3's weights format) or '.h5' / '.hdf5' "
            f"(Keras 2's). Received: filepath={filepath}; add one of these suffixes."
        )
    _check_overwrite(filepath, overwrite)
    if legacy:
        legacy_h5.save_weights(model, filepath)
        return
    with atomic_write(filepath) as file:
        _write_weights(model, file)


def _check_overwrite(filepath, overwrite):
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath} exists and overwrite=False.")


def _write_weights(model, file, include_optimizer=False):
    """Writes the weights layout into an open binary file object; with ``include_optimizer``
    also the optimizer's state at ``optimizer/vars`` (as in a '.keras' archive)."""
    import h5py

    with h5py.File(file, "w") as f:
        for _, group_path, variables in weight_groups(model):
            _write_vars(f.create_group(f"{group_path}/vars"), [v.value for v in variables])
        if include_optimizer and model.compiled:
            _write_vars(f.create_group("optimizer/vars"), keras_optimizer_state(model))
        f.create_group("vars")


def keras_optimizer_state(model):
    """The compiled model's optimizer state in Keras 3's order: the step count, the learning
    rate, then the slots of the variables in the order Keras lists them
    (``functional_config.keras_variables``), which the optimizer is rebuilt to follow; each
    variable keeps its slots (a shared layer, a nested model or a branch may have made the
    optimizer meet them in another order)."""
    from tinykeras.functional_config import keras_variables

    optimizer = model.optimizer
    position = {id(v): i for i, v in enumerate(keras_variables(model))}
    ordered = sorted(optimizer.trainable_variables, key=lambda v: position.get(id(v), len(position)))
    if ordered:
        optimizer.build(ordered)
    return optimizer.variables


def _write_vars(group, arrays):
    for i, array in enumerate(arrays):
        group.create_dataset(str(i), data=array)


@contextmanager
def _hdf5_errors(filepath):
    """Turns the errors h5py raises on a damaged file into a ValueError naming the file.

    h5py reports truncated or corrupt structures as OSError, RuntimeError or KeyError, depending
    on where its C library stops; all mean the same to a caller: the file is unreadable.
    """
    try:
        yield
    except (OSError, RuntimeError, KeyError) as error:
        raise ValueError(
            f"{filepath} is not a readable HDF5 weights file (truncated or corrupt?): {error}"
        ) from None


@contextmanager
def open_hdf5(filepath, data=None):
    """Opens an HDF5 file for reading: the file at ``filepath``, or the bytes ``data`` (an
    archive's member, named ``filepath`` in errors).

    The file may hold hard links only, checked before anything is read: an external link would
    read another file on disk, and a soft link makes one array appear under two names; Keras
    writes neither. A missing file raises FileNotFoundError, an unreadable one (when opened or
    while read in the block) or one holding another kind of link ValueError.
    """
    import h5py

    if data is None and not os.path.exists(filepath):
        raise FileNotFoundError(f"No weights file at {filepath}.")
    with _hdf5_errors(filepath), h5py.File(filepath if data is None else io.BytesIO(data), "r") as f:
        _check_links(f, filepath)
        yield f


def _check_links(f, filepath):
    """Raises ValueError naming the first link of the file that is not a hard link."""
    import h5py

    def other_link(name, info):
        return name.decode("utf8", "replace") if info.type != h5py.h5l.TYPE_HARD else None

    name = f.id.links.visit(other_link, info=True)  # lists links without following them
    if name is None:
        return
    link = f.get(name, getlink=True)
    if isinstance(link, h5py.ExternalLink):
        kind = f"an external link to '{link.path}' in the file {link.filename}"
    elif isinstance(link, h5py.SoftLink):
        kind = f"a soft link to '{link.path}'"
    else:
        kind = "a user-defined link"
    raise ValueError(
        f"{filepath}: '{name}' is {kind}. A weights file holds its arrays itself (Keras writes "
        "no links), and tinykeras follows none: save the weights again with save_weights or "
        "model.save from the model they belong to."
    )


#: The largest chunk a dataset may be stored in when its data is smaller (reading any part of
#: a chunk makes HDF5 allocate all of it).
_MAX_CHUNK_BYTES = 2**20


def dataset_at(group, name, filepath, where, kinds="f"):
    """The dataset ``group[name]`` of a file opened with ``open_hdf5``, checked before any of
    its data is read: a dataset whose dtype kind is one of ``kinds`` (floating-point by default;
    'fiu' for float, int and unsigned), whose data is in the file itself (not in external raw
    files, not a virtual dataset mapping other datasets or files), stored in chunks no larger
    than the data (or 1 MiB). Its shape is the caller's to check (``checked_pairs``,
    ``read_optimizer_state``) before ``read_arrays`` reads it.

    Args:
        group: an open HDF5 group.
        name: the dataset's name (a path) in ``group``.
        filepath: the file, for messages.
        where: the dataset's path, for messages ('dense_1/vars/0').

    Raises:
        ValueError: naming the file, the dataset and what is wrong with it.
    """
    import h5py

    dataset = group.get(name)
    if not isinstance(dataset, h5py.Dataset):
        raise ValueError(f"{filepath}: '{where}' is not a dataset.")  # noqa: TRY004 - a malformed file is a bad value
    if dataset.external:
        files = ", ".join(str(entry[0]) for entry in dataset.external)
        raise ValueError(
            f"{filepath}: '{where}' keeps its data in other files ({files}), not in the weights "
            "file; tinykeras reads weights only from the file itself. Save the weights again "
            "with save_weights or model.save."
        )
    if dataset.is_virtual:
        raise ValueError(
            f"{filepath}: '{where}' is a virtual dataset (a view of data kept in other datasets "
            "or files); tinykeras reads weights only from the file itself. Save the weights "
            "again with save_weights or model.save."
        )
    if dataset.dtype.kind not in kinds:
        expected = {"f": "weights are floating-point arrays",
                    "fi": "weights are floating-point arrays (integer ones only for integer state, as a count)",
                    }.get(kinds, "expected numeric arrays")
        raise ValueError(f"{filepath}: '{where}' holds {dataset.dtype} values; {expected}.")
    itemsize = dataset.dtype.itemsize
    chunk_bytes = math.prod(dataset.chunks or ()) * itemsize
    if dataset.chunks and chunk_bytes > max(dataset.size * itemsize, _MAX_CHUNK_BYTES):
        raise ValueError(
            f"{filepath}: '{where}' of shape {dataset.shape} is stored in chunks of shape "
            f"{dataset.chunks}, larger than its data and than {_MAX_CHUNK_BYTES} bytes; reading "
            "it would allocate a whole chunk. The file is damaged or was not written by Keras."
        )
    return dataset


def read_arrays(pairs):
    """Reads the datasets of (variables, [datasets]) pairs whose shapes were checked: the same
    pairs with arrays."""
    return [(variables, [np.asarray(dataset[()]) for dataset in datasets]) for variables, datasets in pairs]


def _read_layer_groups(f, filepath):
    """The (group path, [datasets]) entries of an open file in the '.weights.h5' layout: every
    group holding a 'vars' group ('layers/dense', 'dense1', 'blocks/dense', ...), apart from
    the optimizer's and the model's own; each dataset checked by ``dataset_at``, none read yet.

    Raises:
        ValueError: for a file without any layer group.
    """
    import h5py

    found = []
    f.visit(lambda name: found.append(name[: -len("/vars")]) if name.endswith("/vars") else None)
    paths = [path for path in found if path != "optimizer" and isinstance(f[path], h5py.Group)]
    if not paths and "layers" not in f:
        raise ValueError(
            f"{filepath} has no 'layers' group: it is not a weights file written by "
            "save_weights (Keras 3 '.weights.h5' layout) nor a Keras 2 '.h5' file."
        )
    entries = []
    for path in paths:
        variables = f[path]["vars"]
        where = path.removeprefix("layers/")
        if not isinstance(variables, h5py.Group):  # a malformed file is a bad value
            raise ValueError(f"{filepath}: layer group '{where}' has no 'vars' group.")  # noqa: TRY004
        # Integer arrays too (Normalization's 'count'); _plan refuses one for a float weight.
        entries.append((path, _vars(variables, filepath, f"{where}/vars", kinds="fi")))
    return entries


def _vars(group, filepath, where, kinds="f"):
    """The checked datasets of a 'vars' group ('0', '1', ... in order)."""
    keys = sorted(group.keys(), key=_as_index)
    return [dataset_at(group, key, filepath, f"{where}/{key}", kinds) for key in keys]


def _as_index(key):
    if not key.isdigit():
        raise ValueError(f"Unexpected variable name {key!r} in a weights file: expected 0, 1, ...")
    return int(key)


def _check_layer(layer, variables, arrays, filepath, where):
    """Raises ValueError unless ``arrays`` (datasets not read yet, or arrays) fit ``variables``
    (the layer's, in the file's order) in number and shapes."""
    if len(arrays) != len(variables):
        raise ValueError(
            f"Layer '{layer.name}' expects {len(variables)} weight arrays, the file "
            f"{filepath} has {len(arrays)} at '{where}'. The file was saved from a different "
            "architecture, or is damaged."
        )
    for variable, array in zip(variables, arrays):
        if variable.shape != array.shape:
            raise ValueError(
                f"Layer '{layer.name}': weight '{variable.name}' has shape {variable.shape}, "
                f"the file {filepath} has {array.shape} at '{where}'. The file was saved from "
                "a different architecture, or is damaged."
            )


def checked_pairs(pairs, filepath, skip_mismatch=False):
    """The (variables, datasets) of ``pairs`` of (layer, its variables in the file's order,
    where in the file, datasets) after checking each count and shape, before any is read; with
    ``skip_mismatch`` a layer that does not fit is left out (and never read) with a warning, as
    Keras does."""
    checked = []
    for layer, variables, where, arrays in pairs:
        try:
            _check_layer(layer, variables, arrays, filepath, where)
        except ValueError as error:
            if not skip_mismatch:
                raise
            warnings.warn(f"Skipping loading weights for layer '{layer.name}': {error}", stacklevel=4)
            continue
        checked.append((variables, arrays))
    return checked


def assign(pairs):
    """Sets the variables of (variables, arrays) pairs (already checked)."""
    for variables, arrays in pairs:
        for variable, array in zip(variables, arrays):
            variable.value[...] = array


def _plan(model, filepath, entries, skip_mismatch=False):
    """Pairs each layer with its datasets of a '.weights.h5' file (``entries`` of
    ``_read_layer_groups``), by group path, every count and shape checked."""
    stored = dict(entries)
    pairs = []
    for layer, path, variables in weight_groups(model):
        if not variables:
            continue  # a model's own 'vars' group must be empty (anything there is leftover)
        arrays = stored.pop(path, None)
        if arrays is None:
            if not skip_mismatch:
                raise ValueError(
                    f"{filepath} has no weights for layer '{layer.name}' (expected group "
                    f"'{path}'). The file was saved from a different architecture."
                )
            continue
        for index, (variable, array) in enumerate(zip(variables, arrays)):
            if array.dtype.kind != "f" and variable.dtype.kind == "f":
                where = f"{path.removeprefix('layers/')}/vars/{index}"
                raise ValueError(
                    f"{filepath}: '{where}' holds {array.dtype} values; weights are floating-point arrays."
                )
        pairs.append((layer, variables, path, arrays))
    checked = checked_pairs(pairs, filepath, skip_mismatch)
    leftover = [p for p, arrays in stored.items() if arrays]
    if leftover and not skip_mismatch:
        raise ValueError(
            f"{filepath} holds weights for layers the model does not have: {', '.join(leftover)}."
        )
    return checked


def load_weights(model, filepath, skip_mismatch=False, by_name=False):
    """Sets the model's weights from a file written by ``save_weights`` or by Keras.

    In Keras 3's '.weights.h5' layout, layers are matched by their path ('layers/dense_1': the
    order of layers of each kind). In Keras 2's '.h5' layout (``layer_names`` and
    ``weight_names`` attributes; also a whole model saved to '.h5'), the layers that have weights
    are matched in order, as Keras does, or by name with ``by_name=True`` (layers without a
    match keep their weights). Every count and shape is checked before any weight changes.

    Args:
        skip_mismatch: leave out, with a warning, the layers whose weights do not fit.
        by_name: (Keras 2 files only) match layers by name.

    Raises:
        ValueError: naming the first layer or weight that does not match; the model is unchanged.
    """
    from tinykeras import legacy_h5

    if not model.built:
        raise ValueError(
            f"Model '{model.name}' must be built before load_weights: give its first layer an "
            "input_shape, or call it on data once."
        )
    filepath = os.fspath(filepath)
    with open_hdf5(filepath) as f:
        legacy = "layers" not in f and legacy_h5.weights_root(f) is not None
        if not legacy:
            if by_name:
                raise ValueError(
                    f"load_weights(by_name=True) reads Keras 2's '.h5' files; {filepath} is in "
                    "Keras 3's '.weights.h5' layout, whose layers are matched by position: "
                    "call load_weights without by_name."
                )
            pairs = read_arrays(_plan(model, filepath, _read_layer_groups(f, filepath), skip_mismatch))
    if legacy:
        legacy_h5.load_weights(model, filepath, by_name=by_name, skip_mismatch=skip_mismatch)
        return
    assign(pairs)


def read_optimizer_state(model, sources, filepath):
    """Reads a compiled model's optimizer state from ``sources`` (datasets checked by
    ``dataset_at``, or arrays already in memory), in Keras 3's order (``keras_optimizer_state``).

    The optimizer is built for the model's trainable weights first when the file holds more
    than the step count and learning rate; then every count and shape is compared with the
    optimizer's own state before anything is read, so a damaged file cannot make it allocate
    more than the state it keeps.

    Returns:
        The arrays, or None (with a warning: the optimizer stays fresh, as in Keras) when they
        do not fit.
    """
    optimizer = model.optimizer
    if len(sources) > 2:
        model._train_variables()  # builds the optimizer for the model's trainable variables
    expected = [state.shape for state in keras_optimizer_state(model)]
    found = [tuple(source.shape) for source in sources]
    if len(found) != len(expected):
        _fresh_optimizer(filepath, f"the file holds {len(found)} state arrays, optimizer "
                                   f"'{optimizer.name}' keeps {len(expected)}")
        return None
    for index, (source, shape, wanted) in enumerate(zip(sources, found, expected)):
        if shape != wanted:
            name = getattr(source, "name", None)  # a dataset's path in the file; arrays have none
            where = f"'{name.lstrip('/')}'" if name else f"state array {index}"
            _fresh_optimizer(filepath, f"{where} has shape {shape}, optimizer "
                                       f"'{optimizer.name}' keeps {wanted} there")
            return None
    return [np.asarray(source[()]) for source in sources]


def restore_optimizer(model, state, filepath):
    """Gives a compiled model's optimizer the state arrays of ``read_optimizer_state``. State
    the optimizer refuses (NaN, a negative step count) leaves it fresh, with a warning, as
    Keras does."""
    try:
        model.optimizer.set_weights(state)
    except ValueError as error:
        _fresh_optimizer(filepath, str(error))


def _fresh_optimizer(filepath, reason):
    warnings.warn(
        f"{filepath}: the optimizer's state cannot be restored ({reason}); training goes on "
        "from a freshly initialized optimizer.",
        stacklevel=5,
    )


# ---- whole models: Keras 3's '.keras' archive ----------------------------------------------
#
# config.json is the model as Keras serializes it: {"module": "keras", "class_name":
# "Sequential", "config": {"name", "trainable", "dtype", "layers": [...], "build_input_shape"},
# "registered_name", "build_config", "compile_config"}; a functional model's config is described
# in tinykeras.functional_config. Each layer entry is {"module": "keras.layers", "class_name",
# "config", "registered_name"} plus, for the layers whose Keras class has its own build(),
# "build_config": {"input_shape": [...]}; a model used as a layer has the whole object of its
# own config.json as its entry (without metadata). Reading executes nothing from the file (classes
# are looked up in the tables below, by name), except a Lambda layer's Python lambda, rebuilt from
# its bytecode only when the caller turns safe mode off (load_model(..., safe_mode=False)).

#: The Keras release whose '.keras' layout this module writes (recorded in metadata.json).
KERAS_VERSION = "3.15.1"
_METADATA, _CONFIG, _WEIGHTS = "metadata.json", "config.json", "model.weights.h5"
#: The largest model description read: parsed, JSON takes up to about 30 bytes of memory per
#: byte of text (a list of empty lists), and Keras writes about 1 KB per layer.
MAX_JSON_BYTES = 16 * 2**20
#: How deeply lists and objects may nest in a model description (Keras' nest about 6 deep).
MAX_JSON_DEPTH = 64
_FLOAT_DTYPES = ("float32", "float64")
#: The integer types an input may be declared with (token ids): the model keeps them.
_INTEGER_INPUT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")

_POOLING = ("pool_size", "strides", "padding", "data_format")
_WEIGHT_OPTIONS = ("kernel_regularizer", "bias_regularizer", "kernel_constraint", "bias_constraint")
_CONV2D = (
    "filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation",
    "use_bias", "kernel_initializer", "bias_initializer", *_WEIGHT_OPTIONS,
)
_RECURRENT = (
    "return_sequences", "return_state", "go_backwards", "stateful", "unroll", "zero_output_for_mask",
    "units", "activation", "use_bias", "kernel_initializer", "recurrent_initializer", "bias_initializer",
    "kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "kernel_constraint",
    "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout", "seed",
)
#: The constructor arguments of each supported layer, besides name, trainable and dtype.
LAYER_ARGUMENTS = {
    "Dense": ("units", "activation", "use_bias", "kernel_initializer", "bias_initializer", *_WEIGHT_OPTIONS),
    "Activation": ("activation",),
    "Dropout": ("rate", "seed", "noise_shape"),
    "Flatten": ("data_format",),
    "Reshape": ("target_shape",),
    "Conv2D": _CONV2D,
    "MaxPooling2D": _POOLING,
    "AveragePooling2D": _POOLING,
    "GlobalMaxPooling2D": ("data_format", "keepdims"),
    "GlobalAveragePooling2D": ("data_format", "keepdims"),
    "ZeroPadding2D": ("padding", "data_format"),
    "BatchNormalization": (
        "axis", "momentum", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer",
        "moving_mean_initializer", "moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
        "beta_constraint", "gamma_constraint",
    ),
    "Add": (),
    "Subtract": (),
    "Multiply": (),
    "Average": (),
    "Maximum": (),
    "Minimum": (),
    "Concatenate": ("axis",),
    "Dot": ("axes", "normalize"),
    "ReLU": ("max_value", "negative_slope", "threshold"),
    "LeakyReLU": ("negative_slope",),
    "PReLU": ("alpha_initializer", "shared_axes"),
    "ELU": ("alpha",),
    "Softmax": ("axis",),
    "Permute": ("dims",),
    "RepeatVector": ("n",),
    "Cropping2D": ("cropping", "data_format"),
    "UpSampling2D": ("size", "data_format", "interpolation"),
    "Conv1D": _CONV2D,
    "MaxPooling1D": _POOLING,
    "AveragePooling1D": _POOLING,
    "GlobalMaxPooling1D": ("data_format", "keepdims"),
    "GlobalAveragePooling1D": ("data_format", "keepdims"),
    "LayerNormalization": ("axis", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer"),
    "SpatialDropout2D": ("rate", "seed", "data_format"),
    "GaussianNoise": ("stddev", "seed"),
    "SpatialDropout1D": ("rate", "seed"),
    "GaussianDropout": ("rate", "seed"),
    "ActivityRegularization": ("l1", "l2"),
    "Identity": (),
    "ZeroPadding1D": ("padding", "data_format"),
    "Cropping1D": ("cropping",),
    "UpSampling1D": ("size",),
    "GroupNormalization": ("groups", "axis", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer",
                           "beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint"),
    "Conv2DTranspose": (
        "filters", "kernel_size", "strides", "padding", "output_padding", "data_format", "dilation_rate",
        "activation", "use_bias", "kernel_initializer", "bias_initializer",
    ),
    "Conv1DTranspose": (
        "filters", "kernel_size", "strides", "padding", "output_padding", "data_format", "dilation_rate",
        "activation", "use_bias", "kernel_initializer", "bias_initializer",
    ),
    "DepthwiseConv2D": (
        "kernel_size", "strides", "padding", "depth_multiplier", "data_format", "dilation_rate", "activation",
        "use_bias", "depthwise_initializer", "bias_initializer",
    ),
    "SeparableConv2D": (
        "filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "depth_multiplier",
        "activation", "use_bias", "depthwise_initializer", "pointwise_initializer", "bias_initializer",
    ),
    "Embedding": ("input_dim", "output_dim", "embeddings_initializer", "embeddings_regularizer",
                  "embeddings_constraint", "mask_zero"),
    "SimpleRNN": tuple(key for key in _RECURRENT if key != "seed"),  # Keras' config has none
    "LSTM": _RECURRENT + ("recurrent_activation", "unit_forget_bias"),
    "GRU": _RECURRENT + ("recurrent_activation", "reset_after"),
    "Masking": ("mask_value",),
    "Bidirectional": ("merge_mode", "layer", "backward_layer"),
    "TimeDistributed": ("layer",),
    "Rescaling": ("scale", "offset"),
    "Normalization": ("axis", "invert", "mean", "variance"),
    "Resizing": ("data_format", "height", "width", "interpolation", "crop_to_aspect_ratio", "pad_to_aspect_ratio",
                 "fill_mode", "fill_value", "antialias"),
    "CenterCrop": ("data_format", "height", "width"),
    "RandomFlip": ("data_format", "seed", "mode"),
    "RandomRotation": ("data_format", "factor", "fill_mode", "fill_value", "interpolation", "seed"),
    "RandomZoom": ("data_format", "height_factor", "width_factor", "fill_mode", "interpolation", "seed", "fill_value"),
    "RandomTranslation": ("data_format", "height_factor", "width_factor", "fill_mode", "interpolation", "seed",
                          "fill_value"),
}
#: The layers holding other layers: their entries hold the entries of those ('layer', ...).
WRAPPERS = ("Bidirectional", "TimeDistributed")
#: The model classes a config may hold as a layer ('Model' is how Keras 2.0 to 2.3 named a
#: functional model).
MODEL_CLASSES = ("Sequential", "Functional", "Model")
SUPPORTED_LAYERS = ("InputLayer",) + tuple(LAYER_ARGUMENTS) + ("Lambda",) + MODEL_CLASSES
_WEIGHT_FREE = {"kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None, "bias_constraint": None}
#: Settings Keras writes that tinykeras does not model, with the one value it supports.
_KERAS_ONLY = {
    "Dense": {"quantization_config": None},
    "Conv2D": {"groups": 1},
    "Conv1D": {"groups": 1},
    "PReLU": {"alpha_regularizer": None, "alpha_constraint": None},
    "Conv2DTranspose": _WEIGHT_FREE,
    "Conv1DTranspose": _WEIGHT_FREE,
    "DepthwiseConv2D": {
        "depthwise_regularizer": None, "bias_regularizer": None, "depthwise_constraint": None, "bias_constraint": None,
    },
    "SeparableConv2D": {
        "depthwise_regularizer": None, "pointwise_regularizer": None, "bias_regularizer": None,
        "depthwise_constraint": None, "pointwise_constraint": None, "bias_constraint": None,
    },
    "LayerNormalization": {
        "rms_scaling": False, "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None,
        "gamma_constraint": None,
    },
    "BatchNormalization": {
        "synchronized": False, "renorm": False, "renorm_clipping": None, "renorm_momentum": 0.99,
    },
    "Embedding": {"quantization_config": None},
}
#: Layers whose Keras config holds 'activity_regularizer' also when it is None (others write it
#: only when set).
_ACTIVITY_ALWAYS_WRITTEN = {"Conv2D", "Conv1D", "Embedding", "SimpleRNN", "LSTM", "GRU",
                            "Conv2DTranspose", "Conv1DTranspose", "DepthwiseConv2D", "SeparableConv2D"}
#: Layers whose Keras config holds no 'trainable' (their constructor takes none) and the dtype's
#: name rather than a policy.
_NO_TRAINABLE_IN_CONFIG = {"SpatialDropout2D", "SpatialDropout1D"}
#: Keras 2 names of settings renamed in Keras 3, read under the new name.
_KERAS_2_SETTINGS = {"LeakyReLU": {"alpha": "negative_slope"}}
#: Settings read but not used (they only matter when another setting is on).
_IGNORED = {"renorm_momentum", "ema_momentum"}
#: Keras' layers whose class defines build(): their entries carry a build_config.
KERAS_LAYERS_WITH_BUILD = {
    "Dense", "Conv2D", "BatchNormalization", "Flatten", "ZeroPadding2D",
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
    "Conv1D", "PReLU", "LayerNormalization", "RepeatVector", "Permute", "Cropping2D", "UpSampling2D",
    "ZeroPadding1D", "Cropping1D", "UpSampling1D", "GroupNormalization",
    "Conv2DTranspose", "Conv1DTranspose", "DepthwiseConv2D", "SeparableConv2D",
    "Embedding", "SimpleRNN", "LSTM", "GRU",
    "Bidirectional", "TimeDistributed",
    "Rescaling", "Normalization", "Resizing", "CenterCrop", "RandomFlip", "RandomRotation", "RandomZoom",
    "RandomTranslation",
}
_OPTIMIZER_KERAS_ONLY = {
    "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
    "loss_scale_factor": None, "gradient_accumulation_steps": None,
}


def jsonable(value):
    """Tuples become lists (as JSON stores them), recursively."""
    if isinstance(value, (tuple, list)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {key: jsonable(v) for key, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def dtype_policy(name):
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name}, "registered_name": None}


def _keras_initializer(config):
    """tinykeras' {'class_name', 'config'} as Keras serializes an initializer."""
    from tinykeras import initializers

    settings = dict(config["config"])
    if issubclass(getattr(initializers, config["class_name"]), initializers.VarianceScaling):
        settings.update({"input_axes": None, "output_axes": None})
    return {"module": "keras.initializers", "class_name": config["class_name"], "config": settings, "registered_name": None}


def layer_entry(layer):
    """One layer's entry in config.json, as Keras writes it: an InputLayer's, a nested model's
    whole description (``serialize_model``), or a layer's class and constructor arguments.

    Raises:
        ValueError: for a layer class the format cannot describe, naming the layer.
    """
    from tinykeras.layers import InputLayer
    from tinykeras.models import Model

    if isinstance(layer, InputLayer):
        return _input_layer_entry(layer.batch_input_shape, layer.dtype, layer.name)
    if isinstance(layer, Model):
        return serialize_model(layer)
    class_name = type(layer).__name__
    if not type(layer).__module__.startswith("tinykeras."):
        return _custom_layer_entry(layer)
    if class_name == "Lambda":
        return _lambda_entry(layer)
    if class_name not in LAYER_ARGUMENTS:
        raise ValueError(
            f"Layer '{layer.name}' of class {class_name} cannot be saved to a '.keras' file: "
            f"supported layers are {', '.join(SUPPORTED_LAYERS)}. Use save_weights instead."
        )
    own = layer.get_config()
    config = {"name": layer.name, "trainable": layer.trainable, "dtype": dtype_policy(own["dtype"])}
    for key in LAYER_ARGUMENTS[class_name]:
        value = own[key]
        config[key] = _keras_initializer(value) if key.endswith("_initializer") else jsonable(value)
    if own.get("activity_regularizer") is not None or class_name in _ACTIVITY_ALWAYS_WRITTEN:
        config["activity_regularizer"] = own.get("activity_regularizer")
    config.update(_KERAS_ONLY.get(class_name, {}))
    if class_name in _NO_TRAINABLE_IN_CONFIG:
        del config["trainable"]
        config["dtype"] = own["dtype"]
    entry = {"module": "keras.layers", "class_name": class_name, "config": config, "registered_name": None}
    if class_name in KERAS_LAYERS_WITH_BUILD and layer.input_shape is not None:
        entry["build_config"] = _build_config(class_name, layer.input_shape)
    return entry


def _build_config(class_name, input_shape):
    """A built layer's build_config: its input shape; for a recurrent layer called from given
    states (on [sequences, *states]), the shapes by the names of Keras' build arguments."""
    if class_name in ("SimpleRNN", "LSTM", "GRU", "Bidirectional") and isinstance(input_shape, list):
        shapes = {"sequences_shape": input_shape[0], "initial_state_shape": input_shape[1:]}
        return {"shapes_dict": jsonable(shapes)}
    return {"input_shape": jsonable(input_shape)}


def _writable_config(layer, problem):
    """The layer's ``get_config()`` with its dtype as Keras' policy; a TypeError with
    ``problem(keys)`` when values under ``keys`` are not plain (a file cannot hold them)."""
    config = dict(layer.get_config())
    if isinstance(config.get("dtype"), str):
        config["dtype"] = dtype_policy(config["dtype"])
    unwritable = [key for key, value in config.items() if not _plain_config(value)]
    if unwritable:
        raise TypeError(problem(unwritable))
    return config


def _lambda_entry(layer):
    """A Lambda layer as Keras writes one (its function as ``lambda_layer.serialize_function``).

    Raises:
        TypeError: when its arguments, defaults or closure hold values a config cannot.
    """
    config = _writable_config(layer, lambda keys: (
        f"Layer '{layer.name}' (Lambda): its {keys} hold values a config cannot (only numbers, strings, "
        "booleans, None, and lists and dicts of them), such as arrays or objects the function refers to. "
        "Write the layer as a subclass of keras.layers.Layer with get_config() instead."))
    entry = {"module": "keras.layers", "class_name": "Lambda", "config": jsonable(config), "registered_name": None}
    if layer.input_shape is not None:
        entry["build_config"] = {"input_shape": jsonable(layer.input_shape)}
    return entry


def _custom_layer_entry(layer):
    """A user's layer as Keras writes one: its module, class, ``get_config()`` and registered
    name; rebuilt by ``from_config`` when the loading program registers the class or passes it
    in ``custom_objects``.

    Raises:
        TypeError: when its config holds values a config file cannot (naming them).
    """
    cls = type(layer)
    config = _writable_config(layer, lambda keys: (
        f"Layer '{layer.name}' ({cls.__name__}): get_config() returned {keys}, which a config cannot hold "
        "(only numbers, strings, booleans, None, and lists and dicts of them). Return plain values and "
        "rebuild the objects in __init__ or from_config."))
    module = None if cls.__module__ == "__main__" else cls.__module__  # as Keras writes it
    entry = {"module": module, "class_name": cls.__name__, "config": jsonable(config),
             "registered_name": get_registered_name(cls)}
    if layer.built and layer.input_shape is not None:
        entry["build_config"] = {"input_shape": jsonable(layer.input_shape)}
    return entry


def _plain_config(value):
    if value is None or isinstance(value, (bool, int, float, str, np.generic)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain_config(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _plain_config(item) for key, item in value.items())
    return False


def _input_entry(model):
    """The InputLayer entry Keras puts first in a built Sequential's layers."""
    given = model._input_layer
    if given is None:
        return _input_layer_entry(model.input_shape, None, "input_layer")
    return _input_layer_entry(given.batch_input_shape, given.dtype, given.name)


def _input_layer_entry(batch_shape, dtype, name):
    """An InputLayer's entry, as Keras writes it."""
    return {
        "module": "keras.layers",
        "class_name": "InputLayer",
        "config": {
            "batch_shape": jsonable(batch_shape),
            "dtype": dtype or backend.floatx(),
            "sparse": False,
            "ragged": False,
            "name": name,
            "optional": False,
        },
        "registered_name": None,
    }


def sequential_config(model):
    """What ``Sequential.get_config()`` returns: Keras' config of a Sequential model."""
    layers = [_input_entry(model)] if model.built else []
    layers += [layer_entry(layer) for layer in model.layers]
    config = {"name": model.name, "trainable": model.trainable, "dtype": dtype_policy(backend.floatx()), "layers": layers}
    if model.built:
        config["build_input_shape"] = jsonable(layers[0]["config"]["batch_shape"])
    return config


def _optimizer_entry(optimizer):
    own = optimizer.get_config()
    config = {"name": own.pop("name"), "learning_rate": own.pop("learning_rate")}
    if callable(config["learning_rate"]):
        raise ValueError(
            f"Optimizer '{optimizer.name}': its learning_rate is a Python callable "
            f"({config['learning_rate']!r}), which a model file cannot describe. Use a number or a "
            "keras.optimizers.schedules.LearningRateSchedule (a subclass of your own needs "
            "get_config and @keras.saving.register_keras_serializable()), or save the weights only."
        )
    config.update({"weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None})
    config.update({k: v for k, v in own.items() if k in ("weight_decay", "clipnorm", "global_clipnorm", "clipvalue")})
    config.update(_OPTIMIZER_KERAS_ONLY)
    config.update({k: v for k, v in own.items() if k not in config})
    return {"module": "keras.optimizers", "class_name": type(optimizer).__name__, "config": config, "registered_name": None}


def _loss_entry(loss):
    """A compile config's entry for a loss: its name when it is a built-in loss with its
    defaults, else the serialized object with its settings (from_logits, delta, axis)."""
    from tinykeras import losses

    cls = type(loss)
    config = loss.get_config()
    if losses._CLASSES.get(cls.__name__) is not cls or config == cls().get_config():
        return loss.name
    return {"module": "keras.losses", "class_name": cls.__name__, "config": config, "registered_name": None}


def _structure(value, convert):
    """``value`` (an entry, or lists and dicts of them, per output) with each entry converted;
    None stays None."""
    if isinstance(value, dict):
        return {key: _structure(item, convert) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_structure(item, convert) for item in value]
    return None if value is None else convert(value)


def _named_loss_entry(identifier):
    from tinykeras import losses

    return _loss_entry(losses.get(identifier))


def _metric_name(identifier):
    from tinykeras import metrics

    return metrics.serialize(identifier)


def compile_config(model):
    """Keras' compile_config of a compiled model ({} when it is not compiled)."""
    if not model.compiled:
        return {}
    if model._objectives is not None and len(model._objectives.output_names) > 1:
        loss, loss_weights, metrics = model._compile_arguments  # per output, as given
        loss, metrics = _structure(loss, _named_loss_entry), _structure(metrics, _metric_name)
        loss_weights = _structure(loss_weights, float)
    else:
        loss, loss_weights = _loss_entry(model.loss), None
        metrics = [_metric_name(entry) for entry in model._objectives.metric_entries[0]] or None
    return {
        "optimizer": _optimizer_entry(model.optimizer),
        "loss": loss,
        "loss_weights": loss_weights,
        "metrics": metrics,
        "weighted_metrics": _structure(getattr(model, "_weighted_metrics", None), _metric_name),
        "run_eagerly": False,
        "steps_per_execution": 1,
        "jit_compile": False,
    }


def serialize_model(model):
    """The whole config.json object of a model (also what ``to_json`` writes): a Sequential's,
    or a functional model's (whose ``build_config`` Keras leaves empty).

    Raises:
        ValueError: naming a layer that the format cannot describe, or a subclassed model
            (its layers are composed by its code, which no file holds).
    """
    from tinykeras.functional_config import functional_config
    from tinykeras.models import Functional, Sequential

    if isinstance(model, Sequential):
        config = sequential_config(model)
        serialized = {"module": "keras", "class_name": "Sequential", "config": config, "registered_name": None}
        if model.built:
            serialized["build_config"] = {"input_shape": config["build_input_shape"]}
    elif isinstance(model, Functional):
        serialized = {
            "module": "keras.src.models.functional", "class_name": "Functional",
            "config": functional_config(model), "registered_name": "Functional",
            "build_config": {"input_shape": None},
        }
    else:
        registered = get_registered_name(type(model))
        serialized = {
            "module": None if ">" in registered else type(model).__module__,
            "class_name": type(model).__name__, "config": model.get_config(), "registered_name": registered,
        }
        if model.built:
            serialized["build_config"] = {"input_shape": jsonable(model._build_input_shape)}
    serialized["compile_config"] = compile_config(model)
    return serialized


# ---- classes a program registers for its files -----------------------------------------------

#: The classes registered with register_keras_serializable, by registered name.
_REGISTERED = {}


def register_keras_serializable(package="Custom", name=None):
    """A class decorator (``@keras.saving.register_keras_serializable()``) registering a
    subclassed model so that ``load_model`` can rebuild it from its file, under the name
    'package>name' (the class's name by default), as Keras 3 does.

    Raises:
        ValueError: when another class already has that name.
    """

    def register(cls):
        registered = f"{package}>{name or cls.__name__}"
        if registered in _REGISTERED and _REGISTERED[registered] is not cls:
            raise ValueError(f"{registered} has already been registered to {_REGISTERED[registered]}.")
        _REGISTERED[registered] = cls
        return cls

    return register


def get_registered_name(cls):
    """The name a class is saved under: its registered 'package>name', else its own name."""
    return next((name for name, known in _REGISTERED.items() if known is cls), cls.__name__)


def get_registered_object(name, custom_objects=None):
    """The class or function named ``name`` in ``custom_objects``, else in the innermost
    :class:`CustomObjectScope` holding it, else registered under it; None if none is."""
    for objects in (custom_objects or {}, *reversed(_SCOPES), _REGISTERED):
        if name in objects:
            return objects[name]
    return None


#: The custom_objects of the CustomObjectScopes entered (innermost last).
_SCOPES = []

#: Whether rebuilding a model may run code stored in its file (a Lambda layer's Python lambda):
#: the innermost SafeModeScope's setting; on (refused) outside any.
_SAFE_MODES = []


def in_safe_mode():
    """Whether code stored in a file (a Lambda's Python lambda) is refused now."""
    return _SAFE_MODES[-1] if _SAFE_MODES else True


class SafeModeScope:
    """``with SafeModeScope(False):`` - inside, a model's Python lambdas are rebuilt from their
    bytecode (``load_model(..., safe_mode=False)`` enters one)."""

    def __init__(self, safe_mode=True):
        self.safe_mode = bool(safe_mode)

    def __enter__(self):
        _SAFE_MODES.append(self.safe_mode)
        return self

    def __exit__(self, *exc_info):
        _SAFE_MODES.pop()


class CustomObjectScope:
    """``with keras.saving.custom_object_scope({"MyLayer": MyLayer}):`` - inside, configs and
    files naming these classes or functions rebuild them, as registered ones are."""

    def __init__(self, custom_objects):
        self.custom_objects = dict(custom_objects or {})

    def __enter__(self):
        _SCOPES.append(self.custom_objects)
        return self

    def __exit__(self, *exc_info):
        _SCOPES.remove(self.custom_objects)


custom_object_scope = CustomObjectScope


def object_from_entry(entry, builtins, base, kind, custom_objects=None):
    """The object a serialized entry ({'class_name', 'config', 'registered_name'}) describes:
    a class of ``builtins`` (by name), or one registered or in ``custom_objects`` (a subclass
    of ``base``), rebuilt by its ``from_config``.

    Raises:
        ValueError: naming the class and ``kind``, when no such class is known.
    """
    name = entry.get("registered_name") or entry.get("class_name")
    cls = get_registered_object(name, custom_objects) or builtins.get(entry.get("class_name"))
    if not (isinstance(cls, type) and issubclass(cls, base)):
        known = sorted({c.__name__ for c in builtins.values()})
        raise ValueError(
            f"Unknown {kind} class {entry.get('class_name')!r}: tinykeras has {', '.join(known)}; register a "
            f"{kind} of your own with keras.saving.register_keras_serializable() or pass it in custom_objects."
        )
    return cls.from_config(dict(entry.get("config") or {}))


def custom_layer_class(entry):
    """The user's Layer class a layer entry names (registered, in ``custom_objects`` or in a
    custom object scope), else None."""
    from tinykeras.layers import Layer

    for name in (entry.get("registered_name"), entry.get("class_name")):
        cls = get_registered_object(name) if isinstance(name, str) else None
        if isinstance(cls, type) and issubclass(cls, Layer):
            return cls
    return None


def save_model(model, filepath, overwrite=True):
    """Writes the whole model, atomically: to a '.keras' archive (Keras 3's format), or for a
    name ending in '.h5' or '.hdf5' to Keras 2's HDF5 model file. Both hold the architecture,
    the weights, the compile settings and the optimizer's state.

    Raises:
        ValueError: for another extension, or a layer that the format cannot describe.
    """
    from tinykeras import legacy_h5

    filepath = os.fspath(filepath)
    if filepath.endswith(".weights.h5") or not (filepath.endswith(".keras") or legacy_h5.is_legacy_path(filepath)):
        raise ValueError(
            "Model.save writes '.keras' (Keras 3's whole-model format) or '.h5' / '.hdf5' "
            "(Keras 2's); for the weights alone use save_weights('....weights.h5'). "
            f"Received: filepath={filepath}"
        )
    _check_overwrite(filepath, overwrite)
    if legacy_h5.is_legacy_path(filepath):
        legacy_h5.save_model(model, filepath)
        return
    config = json.dumps(serialize_model(model))
    metadata = json.dumps({
        "keras_version": KERAS_VERSION,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
    })
    weights = io.BytesIO()
    if model.built:
        _write_weights(model, weights, include_optimizer=True)
    with atomic_write(filepath) as file, zipfile.ZipFile(file, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(_METADATA, metadata)
        archive.writestr(_CONFIG, config)
        if model.built:
            archive.writestr(_WEIGHTS, weights.getvalue())


# ---- reading -------------------------------------------------------------------------------


def expect_dict(value, where, keys=()):
    if not isinstance(value, dict):
        raise ValueError(  # noqa: TRY004 - a malformed file is a bad value
            f"Malformed model config: {where} must be a JSON object; found {type(value).__name__}."
        )
    missing = [key for key in keys if key not in value]
    if missing:
        raise ValueError(f"Malformed model config: {where} lacks the key(s) {', '.join(missing)}.")
    return value


def _dtype_name(value, where):
    """A dtype string, or the name of a Keras DTypePolicy dict; float32 or float64 only."""
    if isinstance(value, dict):
        value = expect_dict(value.get("config"), f"{where} 'dtype' policy", ("name",))["name"]
    if value is None:
        return None
    if value not in _FLOAT_DTYPES:
        raise ValueError(f"{where}: dtype {value!r} is not supported; tinykeras computes in {' or '.join(_FLOAT_DTYPES)}.")
    return value


def _check_unused(settings, known, defaults, where):
    """Raises ValueError for a setting tinykeras does not model, unless at its neutral value."""
    for key, value in settings.items():
        if key in known or key in _IGNORED or value is None:
            continue
        if key in defaults and value == defaults[key]:
            continue
        raise ValueError(
            f"{where}: setting {key}={value!r} is not supported by tinykeras"
            + (f" (only {key}={defaults[key]!r})." if key in defaults else ".")
        )


def _shape(value, where):
    if not isinstance(value, list) or not all(d is None or (isinstance(d, int) and d >= 0) for d in value):
        raise ValueError(f"Malformed model config: {where} must be a list of sizes (null for unknown); found {value!r}.")
    return tuple(value)


def layer_from_entry(entry, index):
    """The layer (unbuilt) or model a layer entry of a config describes; its class was checked
    by ``check_layer_classes``.

    Args:
        entry: the entry, a dict with 'class_name' and 'config'.
        index: its place in the model's layers, for messages.

    Raises:
        ValueError: naming the layer, for a setting tinykeras does not support or a malformed
            value.
    """
    from tinykeras import layers

    class_name = entry["class_name"]
    settings = expect_dict(entry["config"], f"layer {index} ({class_name}) 'config'")
    where = f"Layer {index} ({class_name} '{settings.get('name')}')"
    if class_name in MODEL_CLASSES:
        with config_errors(where):
            return deserialize_model(entry, compile=False)
    if class_name == "InputLayer":
        shape = settings.get("batch_shape", settings.get("batch_input_shape"))
        _check_unused(settings, {"batch_shape", "batch_input_shape", "dtype", "name"},
                      {"sparse": False, "ragged": False, "optional": False}, where)
        dtype = settings.get("dtype")
        return layers.InputLayer(
            batch_input_shape=_shape(shape, f"{where} batch_shape"), name=settings.get("name"),
            dtype=dtype if dtype in _INTEGER_INPUT_DTYPES else _dtype_name(dtype, where),
        )
    if class_name == "Lambda":
        settings = {**settings, "dtype": _dtype_name(settings.get("dtype"), where)}
        with config_errors(where):
            return layers.Lambda.from_config(settings)
    custom = custom_layer_class(entry)
    if custom is not None:
        settings = dict(settings)
        if isinstance(settings.get("dtype"), dict):
            settings["dtype"] = _dtype_name(settings["dtype"], where)
        try:
            return custom.from_config(settings)
        except Exception as error:  # the user's code: whatever it raises, name the layer
            raise ValueError(
                f"{where} cannot be rebuilt by {custom.__name__}.from_config: {error}. Its "
                "__init__ must take every entry of get_config() (passing name, trainable and "
                "dtype on to super().__init__(**kwargs)), or the class must define from_config."
            ) from error
    arguments = LAYER_ARGUMENTS[class_name]
    renamed = _KERAS_2_SETTINGS.get(class_name, {})
    settings = {renamed.get(key, key): value for key, value in settings.items()}
    _check_unused(settings, {"name", "trainable", "dtype", "activity_regularizer", *arguments},
                  _KERAS_ONLY.get(class_name, {}), where)
    kwargs = {key: settings[key] for key in (*arguments, "activity_regularizer") if key in settings}
    kwargs["name"] = settings.get("name")
    kwargs["trainable"] = settings.get("trainable", True)
    kwargs["dtype"] = _dtype_name(settings.get("dtype"), where)
    if not isinstance(kwargs["name"], (str, type(None))):
        raise ValueError(  # noqa: TRY004 - a malformed file is a bad value
            f"Malformed model config: {where} has a name that is not a string."
        )
    try:
        if class_name in WRAPPERS:  # the entries of the layers it holds are read by nested_layer
            return getattr(layers, class_name).from_config(kwargs)
        return getattr(layers, class_name)(**kwargs)
    except (TypeError, ValueError, KeyError) as error:
        raise ValueError(f"{where} cannot be rebuilt from its config: {error}") from None


def nested_layer(entry, where):
    """The layer a wrapper's config holds (its 'layer' entry), read as a model's layers are.

    Raises:
        ValueError: for a malformed entry or a layer class tinykeras does not support.
    """
    entry = expect_dict(entry, where, ("class_name", "config"))
    check_layer_classes([entry])
    return layer_from_entry(entry, where)


def check_layer_classes(entries):
    """Raises ValueError unless every layer entry (a dict, checked to have 'class_name') names
    a class of ``SUPPORTED_LAYERS``, naming each one that does not."""
    for index, entry in enumerate(entries):
        if not isinstance(entry["class_name"], str):
            raise ValueError(  # noqa: TRY004 - a malformed file is a bad value
                f"Malformed model config: layer entry {index} has a class_name that is not a string."
            )
    unsupported = sorted({e["class_name"] for e in entries
                          if e["class_name"] not in SUPPORTED_LAYERS and custom_layer_class(e) is None})
    if unsupported:
        raise ValueError(
            f"The model uses layer class(es) tinykeras does not support: {', '.join(unsupported)}. "
            f"Supported layers: {', '.join(SUPPORTED_LAYERS)}. A layer class of your own rebuilds "
            "once registered (@keras.saving.register_keras_serializable()) or passed in "
            f"custom_objects={{{', '.join(f'{n!r}: {n}' for n in unsupported)}}}."
        )


def sequential_from_config(config):
    """Rebuilds (and builds, when the input shape is known) a Sequential from Keras' config."""
    from tinykeras.models import Sequential

    config = expect_dict(config, "the Sequential 'config'", ("layers",))
    entries = config["layers"]
    if not isinstance(entries, list):
        raise ValueError("Malformed model config: 'layers' must be a list.")  # noqa: TRY004
    for index, entry in enumerate(entries):
        expect_dict(entry, f"layer entry {index}", ("class_name", "config"))
    check_layer_classes(entries)
    name = config.get("name")
    if not isinstance(name, (str, type(None))):
        raise ValueError(  # noqa: TRY004 - a malformed file is a bad value
            "Malformed model config: the model's name is not a string."
        )
    _dtype_name(config.get("dtype"), f"Model '{name}'")
    model = Sequential(name=name, trainable=bool(config.get("trainable", True)))
    for index, entry in enumerate(entries):
        model.add(layer_from_entry(entry, index))
    if not model.built and config.get("build_input_shape") is not None:
        model.build(_shape(config["build_input_shape"], "'build_input_shape'"))
    return model


#: Optimizer settings of Keras 2's files, with the one value tinykeras supports.
_KERAS_2_OPTIMIZER = {"decay": 0.0, "is_legacy_optimizer": False}


def _optimizer_settings(settings):
    """An optimizer config as Keras 3 names it: Keras 2's 'lr' is 'learning_rate', and whether
    TensorFlow compiled the update ('jit_compile') does not apply."""
    settings = {k: v for k, v in settings.items() if k != "jit_compile"}
    if "lr" in settings:
        settings.setdefault("learning_rate", settings["lr"])
        del settings["lr"]
    return settings


def _compile_arguments(config):
    """compile() arguments for a Keras compile_config, or None with a warning naming what
    tinykeras does not support."""
    from tinykeras import optimizers

    _check_optimizer_numbers(config.get("optimizer"))
    try:
        optimizer = config.get("optimizer")
        if isinstance(optimizer, dict):
            expect_dict(optimizer, "the optimizer", ("class_name", "config"))
            settings = _optimizer_settings(expect_dict(optimizer["config"], "the optimizer's config"))
            neutral = {**_OPTIMIZER_KERAS_ONLY, **_KERAS_2_OPTIMIZER}
            known = set(settings) - set(neutral)
            _check_unused(settings, known, neutral, f"Optimizer {optimizer['class_name']}")
            kwargs = {k: v for k, v in settings.items() if k not in neutral}
            # Keras 2.11 to 2.15 named their built-in optimizers 'Custom>Adam' in '.h5' files.
            cls = type(optimizers.get(str(optimizer["class_name"]).removeprefix("Custom>").lower()))
            if isinstance(kwargs.get("learning_rate"), dict):
                kwargs["learning_rate"] = optimizers.schedules.deserialize(kwargs["learning_rate"])
            optimizer = cls(**kwargs)
        else:
            optimizer = optimizers.get(optimizer)
        loss = _per_output_entries(config.get("loss"), _loss_from_entry)
        names = _per_output_entries(config.get("metrics"), _metric_from_entry)
        weighted = _per_output_entries(config.get("weighted_metrics"), _metric_from_entry)
        if isinstance(names, list) and len(names) == 1 and isinstance(names[0], list):
            names = names[0]  # Keras 2's list per output, for one output
        loss_weights = config.get("loss_weights")
        for weight in (loss_weights.values() if isinstance(loss_weights, dict) else loss_weights or []):
            if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not math.isfinite(weight):
                raise ValueError(f"loss_weights must be finite numbers; found {weight!r}")
    except (TypeError, ValueError) as error:
        warnings.warn(
            f"The model's compile_config cannot be restored ({error}); the model is loaded "
            "uncompiled: call compile() before training it.",
            stacklevel=4,
        )
        return None
    return {"optimizer": optimizer, "loss": loss, "metrics": names, "loss_weights": loss_weights,
            "weighted_metrics": weighted}


def _per_output_entries(value, read):
    """A loss or metrics setting of a compile config, read with ``read``: one entry, or a list
    or dict of entries (lists) per output; None entries stay None. A dict with a 'class_name'
    is one serialized object, not a dict by output."""
    if isinstance(value, dict) and "class_name" not in value:
        return {str(key): _per_output_entries(item, read) for key, item in value.items()}
    if isinstance(value, list):
        return [_per_output_entries(item, read) for item in value]
    return None if value is None else read(value)


def _loss_from_entry(entry):
    """A Loss from a compile config's entry: a name, or a serialized loss object."""
    from tinykeras import losses

    if isinstance(entry, dict):
        expect_dict(entry, "the loss", ("class_name",))
        settings = expect_dict(entry.get("config", {}), "the loss's config")
        cls = type(losses.get(str(entry["class_name"])))
        arguments = set(inspect.signature(cls.__init__).parameters) - {"self", "name", "reduction"}
        _check_unused(settings, arguments | {"name"},
                      {"reduction": "sum_over_batch_size", "label_smoothing": 0.0, "axis": -1}, "The loss")
        return cls(**{key: value for key, value in settings.items() if key in arguments})
    return losses.get(entry)


def _metric_from_entry(entry):
    """A metric from a compile config's entry: a name, a serialized Metric, or as Keras 2 wrote
    one, {'class_name': 'MeanMetricWrapper', 'config': {'name', 'fn'}} (read as its name)."""
    from tinykeras import metrics

    if isinstance(entry, dict) and entry.get("class_name") == "MeanMetricWrapper":
        entry = expect_dict(entry.get("config"), "a metric's config").get("name")
    if isinstance(entry, dict):
        expect_dict(entry, "a metric", ("class_name",))
        return metrics.deserialize(entry)
    if not isinstance(entry, str):
        raise ValueError(f"a metric must be a name or a serialized metric; found {entry!r}")  # noqa: TRY004 - a malformed file is a bad value
    metrics.for_compile(entry)
    return entry


def _check_optimizer_numbers(optimizer):
    """Raises ValueError for an optimizer setting of a compile config that is NaN or infinite,
    or a negative learning rate: compiled with it, the model would train to NaN weights, or
    climb the loss, without a word."""
    if not isinstance(optimizer, dict) or not isinstance(optimizer.get("config"), dict):
        return
    for key, value in _optimizer_settings(optimizer["config"]).items():
        finite = not isinstance(value, float) or math.isfinite(value)
        negative = key == "learning_rate" and isinstance(value, (int, float)) and value < 0
        if not finite or negative:
            expected = "a finite number >= 0" if key == "learning_rate" else "a finite number"
            raise ValueError(
                f"Optimizer {optimizer.get('class_name')}: {key}={value!r} in the compile "
                f"settings; expected {expected}. Load the model with compile=False and compile "
                "it with the settings you want."
            )


def model_from_config(config, class_name=None, registered_name=None, custom_objects=None):
    """Rebuilds a model (without weights) from its config: a Sequential's or a functional
    model's, told apart by ``class_name`` or, without it, by the functional config's keys
    ('input_layers', 'output_layers').

    Raises:
        ValueError: for a malformed config, another class of model, or unsupported layers.
    """
    from tinykeras.functional_config import functional_from_config

    config = expect_dict(config, "the model's config")
    if class_name is None:
        class_name = "Functional" if "input_layers" in config and "output_layers" in config else "Sequential"
    if class_name == "Sequential":
        return sequential_from_config(config)
    if class_name in ("Functional", "Model"):
        return functional_from_config(config)
    cls = get_registered_object(registered_name, custom_objects) or get_registered_object(class_name, custom_objects)
    if cls is None:
        raise ValueError(
            f"The file describes a model of class {class_name!r} (registered as "
            f"{registered_name!r}), which this program has not registered: decorate the class "
            "with @keras.saving.register_keras_serializable(), or pass "
            f"load_model(..., custom_objects={{{class_name!r}: {class_name}}})."
        )
    return cls.from_config(config)


def deserialize_model(serialized, compile=True, custom_objects=None):
    """Rebuilds a model from a config.json object (without weights): a Sequential or a
    functional model, compiled as ``compile_config`` says when ``compile`` is set.

    Raises:
        ValueError: for a malformed config, another class of model, or unsupported layers.
    """
    with CustomObjectScope(custom_objects):
        return _deserialize_model(serialized, compile)


def _deserialize_model(serialized, compile):
    serialized = expect_dict(serialized, "the model description", ("class_name", "config"))
    model = model_from_config(serialized["config"], str(serialized["class_name"]),
                              serialized.get("registered_name"))
    build_config = serialized.get("build_config")
    if not model.built and isinstance(build_config, dict) and build_config.get("input_shape") is not None:
        model.build(_build_shape(build_config["input_shape"]))
    compile_settings = serialized.get("compile_config")
    if compile and compile_settings:
        arguments = _compile_arguments(expect_dict(compile_settings, "'compile_config'"))
        if arguments is not None:
            model.compile(**arguments)
    return model


# What zipfile raises for a damaged member: a bad header or checksum, truncated or corrupt
# compressed data, and, for flipped flag or method bits, "encrypted" or "that compression method
# is not supported" (RuntimeError and a subclass of it).
_ARCHIVE_ERRORS = (OSError, EOFError, RuntimeError, zipfile.BadZipFile, zlib.error)


def _read_member(archive, name, filepath, limit, what):
    """The bytes of archive member ``name``, if it holds at most ``limit`` of them.

    The size the archive declares is checked first, and the member is read with a bounded
    read: asked for everything, zipfile decompresses all the data it is given in one call, so a
    small archive could make it build gigabytes before it cuts them to the declared size.

    Args:
        what: what may take ``limit`` bytes, for the message ('a model description').

    Raises:
        ValueError: naming the file and the member, when it is larger or cannot be read.
    """
    info = archive.getinfo(name)
    too_large = (
        f"{filepath}: '{name}' is {{}} bytes uncompressed, more than the {limit} bytes {what}. "
        "The archive is damaged or was not saved from this model: save the model again."
    )
    if info.file_size > limit:
        raise ValueError(too_large.format(info.file_size))
    try:
        with archive.open(info) as member:
            data = member.read(limit + 1)
    except _ARCHIVE_ERRORS as error:
        raise ValueError(f"{filepath}: '{name}' cannot be read from the archive (corrupt?): {error}") from None
    if len(data) > limit:
        raise ValueError(too_large.format(f"at least {limit + 1}"))
    return data


def _weights_limit(model):
    """The most bytes model.weights.h5 may take for ``model``: each weight value and up to
    three optimizer slots per value at 8 bytes (float64), twice over, and 64 MiB for HDF5's
    own structures."""
    values = sum(int(v.value.size) for layer in model.layers for v in layer.variables)
    return 2 * 4 * 8 * values + 64 * 2**20


def _archive_json(archive, name, filepath):
    data = _read_member(archive, name, filepath, MAX_JSON_BYTES, "a model description may take")
    return parse_json(data, f"{filepath}: '{name}'")


def parse_json(text, where):
    """The value of the JSON ``text`` (str, or UTF-8 bytes) of a model description.

    Args:
        where: the file and member (or attribute) holding it, for messages.

    Raises:
        ValueError: naming ``where``, for invalid JSON, or for lists and objects nested more
            than ``MAX_JSON_DEPTH`` deep: no model description does, and deeper ones exhaust
            Python's recursion limit as soon as they are parsed or printed.
    """
    too_deep = (
        f"{where} nests lists and objects more than {MAX_JSON_DEPTH} deep; a model description "
        "nests about 6 deep. The file is damaged or is not a model file."
    )
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(too_deep) from None
    except ValueError as error:  # invalid JSON or UTF-8, an integer of too many digits
        raise ValueError(f"{where} is not valid JSON: {error}") from None
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise ValueError(too_deep)
    return value


def _deeper_than(value, depth):
    """Whether lists and objects nest more than ``depth`` deep in a JSON value (walked without
    recursion)."""
    pending = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, (list, dict)):
            if level > depth:
                return True
            pending.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


@contextmanager
def config_errors(where):
    """Names the file and member (``where``) in the ValueError a model description raises."""
    try:
        yield
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def _check_member_names(names, filepath):
    for name in names:
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
            raise ValueError(f"{filepath}: archive entry {name!r} points outside the archive.")
    if len(set(names)) != len(names):
        raise ValueError(f"{filepath}: the archive holds duplicate entries.")
    if "model.weights.json" in names:
        raise ValueError(f"{filepath}: sharded weights (model.weights.json) are not supported.")
    for required in (_CONFIG,):
        if required not in names:
            raise ValueError(f"{filepath} has no '{required}': it is not a '.keras' model archive.")


def _build_shape(value):
    """A build_config's input shape: a shape, a list of shapes, or a dict of them (lists read
    from JSON; a list of numbers and None is one shape)."""
    if isinstance(value, dict):
        return {key: tuple(shape) for key, shape in value.items()}
    if isinstance(value, list) and value and all(isinstance(item, list) for item in value):
        return [tuple(shape) for shape in value]
    return tuple(value)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Loads a model from a '.keras' archive written by ``save_model`` or by Keras 3 (Keras'
    ``keras.saving.load_model``, arguments in Keras' order).

    The Sequential or functional model is rebuilt from config.json (only the layers of
    ``SUPPORTED_LAYERS``, models among them; a subclassed model whose class the program
    registered with ``register_keras_serializable`` or passes in ``custom_objects``), built, and
    given the weights of model.weights.h5. With ``compile=True`` the compile state (optimizer,
    loss, metrics) is restored when tinykeras supports it; otherwise the model is returned
    uncompiled, with a warning; a compiled model's optimizer gets its saved state (iteration
    count, learning rate, moments), so training continues where it stopped. A name ending in
    '.h5' or '.hdf5' is read as Keras 2's HDF5 model file. Nothing in the file is executed,
    unless ``safe_mode=False`` lets a Lambda layer's Python lambda be rebuilt from its bytecode
    (only for files you trust).

    Raises:
        FileNotFoundError: if there is no file at ``filepath``.
        ValueError: for a file that is not a '.keras' zip, a malformed or unsupported config
            (naming the problem, or each unsupported layer class), or weights that do not fit.
    """
    with SafeModeScope(safe_mode):
        return _read_model(filepath, compile, custom_objects)


def _read_model(filepath, compile, custom_objects):
    """``load_model`` inside its safe-mode scope."""
    import h5py

    from tinykeras import legacy_h5

    filepath = os.fspath(filepath)
    if not os.path.isfile(filepath):
        raise FileNotFoundError(f"No model file at {filepath}.")
    if legacy_h5.is_legacy_path(filepath):
        with CustomObjectScope(custom_objects):
            return legacy_h5.load_model(filepath, compile=compile)
    try:
        archive = zipfile.ZipFile(filepath, "r")
    except (zipfile.BadZipFile, EOFError, RuntimeError):
        raise ValueError(
            f"{filepath} is not a '.keras' zip archive (truncated or corrupt, or another format: "
            "'.weights.h5' files load with model.load_weights)."
        ) from None
    with archive:
        names = archive.namelist()
        _check_member_names(names, filepath)
        if _METADATA in names:
            expect_dict(_archive_json(archive, _METADATA, filepath), f"{filepath} '{_METADATA}'")
        serialized = _archive_json(archive, _CONFIG, filepath)
        with config_errors(f"{filepath} '{_CONFIG}'"):
            model = deserialize_model(serialized, compile=compile, custom_objects=custom_objects)
        if not model.built:
            raise ValueError(f"{filepath}: the model's input shape is not recorded, so it cannot be built.")
        if _WEIGHTS not in names:
            if any(layer.variables for layer in model.layers):
                raise ValueError(f"{filepath} has no '{_WEIGHTS}' for a model with weights.")
            return model
        data = _read_member(archive, _WEIGHTS, filepath, _weights_limit(model),
                            "this model's weights and optimizer state may take")
    where = f"{filepath}/{_WEIGHTS}"
    state = None
    with open_hdf5(where, data) as weights:
        pairs = read_arrays(_plan(model, where, _read_layer_groups(weights, where)))
        if model.compiled and isinstance(weights.get("optimizer/vars"), h5py.Group):
            datasets = _vars(weights["optimizer/vars"], where, "optimizer/vars", kinds="fiu")
            state = read_optimizer_state(model, datasets, where)
    assign(pairs)
    if state is not None:
        restore_optimizer(model, state, filepath)
    return model


from tinykeras._missing import attribute_error_for  # noqa: E402

__getattr__ = attribute_error_for(__name__)
