"""Functional models described as Keras 3 describes them, and rebuilt from that description.

A functional model's config (``functional_config``) holds its ``name``, ``trainable``, its
``layers`` in Keras' order (``keras_layers``) and the tensors it starts and ends with
(``input_layers``, ``output_layers``). Each layer's entry is the layer's own description plus its
``name`` and ``inbound_nodes``: one entry per call of the layer in this model,
``{"args": [tensor], "kwargs": {...}}`` (``[[tensor, ...]]`` for a layer called on a list), each
tensor written as ``{"class_name": "__keras_tensor__", "config": {"shape", "dtype",
"keras_history": [layer name, call index, 0]}}``. A model used as a layer carries its own config
in its entry (a nested Sequential or functional model).

``functional_from_config`` reads that format, and the one of Keras 2's files (each call a list of
``[layer name, call index, 0, kwargs]``), and calls the layers on each other again. Nothing in a
config is executed: layers are looked up by class name in :mod:`tinykeras.saving`'s tables.
"""
import numpy as np

from tinykeras import functional, saving
from tinykeras.ops.operation import Operation

#: The layer classes whose Keras ``call`` takes a ``mask`` argument: Keras records
#: ``{"mask": null}`` in their calls.
_CALLS_WITH_MASK = ("BatchNormalization", "Sequential", "Functional", "Softmax", "GlobalAveragePooling1D",
                    "Bidirectional", "TimeDistributed")
#: The layer classes whose Keras ``call`` takes ``training``: Keras records ``{"training": false}``.
_CALLS_WITH_TRAINING = ("Dropout", "SpatialDropout2D", "GaussianNoise")
#: The image preprocessing layers, whose Keras ``call`` defaults to ``training=True``: Keras
#: records ``{"training": true}`` (a functional model's own mode overrides it at each run).
_CALLS_WITH_TRAINING_TRUE = ("Resizing", "CenterCrop", "RandomFlip", "RandomRotation", "RandomZoom",
                             "RandomTranslation")
#: The recurrent layers: Keras records ``{"training": false, "mask": null}`` in their calls, or
#: ``{"initial_state": [tensors]}`` for a call from given states (tinykeras' call on the list
#: [sequences, *states]).
_RECURRENT = ("SimpleRNN", "LSTM", "GRU")
#: The layers whose call on a list is [sequences, *states]: Keras records ``{"initial_state": [tensors]}``.
_INITIAL_STATE = _RECURRENT + ("Bidirectional",)


# ---- the order of layers and variables -------------------------------------------------------


def _is_functional(model):
    from tinykeras.models import Functional

    return isinstance(model, Functional)


def _is_model(layer):
    from tinykeras.models import Model

    return isinstance(layer, Model)


def keras_layers(model, functional=None):
    """The model's layers in the order Keras lists them (its ``model.layers``): a functional
    model's by decreasing depth (the most calls between a layer and an output first), layers of
    one depth in the order a depth-first walk back from the outputs first meets them; another
    model's as ``model.layers`` lists them. Weights files name and order layers by it.

    Args:
        model: a model.
        functional: whether it is a functional model (by default, whether it is a Functional).

    Returns:
        A list of layers (InputLayers included for a functional model).
    """
    if not (_is_functional(model) if functional is None else functional):
        return list(model.layers)
    return [layer for layer in keras_operations(model) if not isinstance(layer, Operation)]


def keras_operations(model):
    """A functional model's layers and ops (``tinykeras.ops`` called on its tensors), in the
    order Keras lists ``model.operations``: by decreasing depth, as :func:`keras_layers`."""
    nodes, first_met = _walk_back(model.outputs)  # every Input is reached: Model() checks it
    depths = _layer_depths(nodes)
    layers = {id(node.layer): node.layer for node in nodes if not getattr(node.layer, "structural", False)}
    return [layers[key] for key in sorted(layers, key=lambda key: (-depths[key], first_met[key]))]


def _walk_back(outputs):
    """Keras' depth-first walk from each output back to the Inputs (without recursion).

    Returns:
        (nodes, first_met): the nodes, each after the nodes it reads from; and for each layer
        (by id), the order in which the walk first reached one of its calls.
    """
    order, finished, first_met = [], set(), {}
    for output in outputs:
        pending = [(output.node, False)]
        while pending:
            node, expanded = pending.pop()
            if expanded:
                finished.add(id(node))
                order.append(node)
                continue
            if id(node) in finished:
                continue
            first_met.setdefault(id(node.layer), len(first_met))
            pending.append((node, True))
            pending.extend((tensor.node, False) for tensor in reversed(node.inputs))
    return order, first_met


def _layer_depths(nodes):
    """Each layer's depth (by id): the most calls between one of its calls and an output, a
    shared layer taking the deepest of its calls, as Keras' ``map_graph`` counts it."""
    node_depths, layer_depths = {}, {}
    for node in reversed(nodes):
        depth = max(node_depths.setdefault(id(node), 0), layer_depths.get(id(node.layer), 0))
        layer_depths[id(node.layer)] = node_depths[id(node)] = depth
        step = 0 if getattr(node.layer, "structural", False) else 1  # a Pick is no call
        for tensor in node.inputs:
            parent = id(tensor.node)
            node_depths[parent] = max(depth + step, node_depths.get(parent, 0))
    return layer_depths


def keras_variables(model):
    """Every variable of the model in Keras' order: layer by layer in ``keras_layers`` order, a
    nested model's in its own order, each layer's in creation order."""
    variables = []
    for layer in keras_layers(model):
        variables += keras_variables(layer) if _is_model(layer) else layer.variables
    return variables


# ---- writing ---------------------------------------------------------------------------------


def _calls(model):
    """The calls (nodes) of the model, by layer id, each layer's in the order it was called."""
    nodes, _ = _walk_back(model.outputs)
    calls = {}
    for node in nodes:
        calls.setdefault(id(node.layer), []).append(node)
    for layer_calls in calls.values():
        layer_calls.sort(key=lambda node: node.index)
    return calls


def functional_config(model):
    """What ``Functional.get_config()`` returns: Keras 3's config of a functional model.

    A call is numbered among the calls of its layer in this model (a layer also called in
    another model keeps its numbers here); Keras numbers the calls of a functional model used as
    a layer from 1 in ``input_layers`` and ``output_layers`` (0 stands for the model itself
    there), and from 0 in ``inbound_nodes``.

    Raises:
        ValueError: naming a layer that the format cannot describe.
    """
    computed = [layer.name for layer in keras_operations(model)
                if isinstance(layer, Operation) and not getattr(layer, "structural", False)]
    if computed:
        raise ValueError(
            f"Model '{model.name}' computes with keras.ops ({', '.join(computed)}): tinykeras cannot "
            "describe ops in a model's config yet. Save its weights with save_weights and "
            "rebuild the model in code."
        )
    calls = _calls(model)
    numbers = {id(node): index for layer_calls in calls.values() for index, node in enumerate(layer_calls)}
    entries = []
    for layer in keras_layers(model):
        entry = saving.layer_entry(layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [_call_entry(node, numbers) for node in calls[id(layer)] if node.inputs]
        entries.append(entry)
    return {
        "name": model.name,
        "trainable": model.trainable,
        "layers": entries,
        "input_layers": _endpoints(model.inputs, getattr(model, "_input_keys", None), numbers),
        "output_layers": _endpoints(model.outputs, getattr(model, "_output_keys", None), numbers),
    }


def _call_entry(node, numbers):
    """One call of a layer as Keras writes it in ``inbound_nodes``.

    Raises:
        ValueError: for a call given a mask tensor (``layer(x, mask=m)``), which tinykeras does
            not write: the model read back would compute without it.
    """
    if getattr(node, "mask", None) is not None:
        raise ValueError(
            f"Layer '{node.layer.name}' is called with mask= a tensor of the model; tinykeras does "
            "not write such a call to a model file (read back, the layer would compute without "
            "the mask). Let the mask travel from an Embedding(mask_zero=True) or Masking layer "
            "instead, or save the weights alone (save_weights)."
        )
    tensors = [_tensor_entry(tensor, numbers) for tensor in node.inputs]
    if type(node.layer).__name__ in _INITIAL_STATE and node.several:
        return {"args": [tensors[0]], "kwargs": {"initial_state": tensors[1:]}}
    if type(node.layer).__name__ in _RECURRENT:
        return {"args": tensors, "kwargs": {"training": False, "mask": None}}
    mask = type(node.layer).__name__ in _CALLS_WITH_MASK
    kwargs = {"mask": None} if mask else {"training": False} if type(node.layer).__name__ in _CALLS_WITH_TRAINING else {}
    if type(node.layer).__name__ in _CALLS_WITH_TRAINING_TRUE:
        kwargs = {"training": True}
    return {"args": [tensors] if node.several else tensors, "kwargs": kwargs}


def _tensor_entry(tensor, numbers):
    node, part = _made_by(tensor)
    return {
        "class_name": "__keras_tensor__",
        "config": {
            "shape": saving.jsonable(tensor.shape),
            "dtype": np.dtype(tensor.dtype).name,
            "keras_history": [node.layer.name, numbers[id(node)], part],
        },
    }


def _made_by(tensor):
    """The call that computed ``tensor`` and which of its outputs it is (a layer computing
    several outputs gives each through a Pick node)."""
    node = tensor.node
    if getattr(node.layer, "structural", False):
        return node.inputs[0].node, node.layer.index
    return node, 0


def _endpoints(tensors, keys, numbers):
    """``input_layers`` or ``output_layers``: [layer, call, 0] for one tensor, a list of them for
    several, or a dict of them by key when the model was given a dict."""
    triples = [
        [node.layer.name, numbers[id(node)] + (1 if _is_functional(node.layer) else 0), part]
        for node, part in map(_made_by, tensors)
    ]
    if keys:
        return dict(zip(keys, triples))
    return triples[0] if len(triples) == 1 else triples


# ---- reading ---------------------------------------------------------------------------------


class _Call:
    """One call of a layer read from a config: the (layer name, call index) of each tensor it
    reads, and whether the layer takes them as a list."""

    def __init__(self, sources, several, where=""):
        self.sources = sources
        self.several = several
        self.where = where

    def ready(self, produced):
        """Whether every tensor it reads has been produced (``produced``: name -> tensors)."""
        return all(index < len(produced[name]) for name, index, _ in self.sources)

    def __repr__(self):
        return ", ".join(f"{name}[{index}]" for name, index, _ in self.sources)


def functional_from_config(config, make_layer=None):
    """Rebuilds a functional model (unweighted) from Keras' config of one.

    Each layer is made from its entry, then called on the tensors each of its calls reads, in
    passes over the layers until every call is made (a shared layer's later call may read
    layers listed after it).

    ``make_layer(entry, index)`` makes each layer instead of ``saving.layer_from_entry``
    (clone_model's clone_function).

    Raises:
        ValueError: for a malformed config, a layer class tinykeras does not support (each is
            named), a call reading a layer the config does not define, or calls that can never
            be made (reading calls that do not exist, or each other).
    """
    from tinykeras.models import Functional

    make_layer = make_layer or saving.layer_from_entry

    config = saving.expect_dict(config, "the functional model's 'config'", ("layers", "input_layers", "output_layers"))
    entries = config["layers"]
    if not isinstance(entries, list):
        raise ValueError("Malformed model config: 'layers' must be a list.")  # noqa: TRY004
    for index, entry in enumerate(entries):
        saving.expect_dict(entry, f"layer entry {index}", ("class_name", "config", "name", "inbound_nodes"))
    entries = _without_mask_ops(entries)
    saving.check_layer_classes(entries)
    layers, calls = {}, {}
    for index, entry in enumerate(entries):
        name = entry["name"]
        if not isinstance(name, str):
            raise ValueError(f"Malformed model config: layer entry {index} has a name that is not a string.")  # noqa: TRY004
        if name in layers:
            raise ValueError(
                f"Malformed model config: layer entries name '{name}' twice; each layer of a "
                "model has a name of its own."
            )
        layers[name] = make_layer(entry, index)
    for index, entry in enumerate(entries):
        calls[entry["name"]] = _read_calls(entry, index, layers)
    produced = _call_layers(layers, calls)
    name = config.get("name")
    if not isinstance(name, (str, type(None))):
        raise ValueError("Malformed model config: the model's name is not a string.")  # noqa: TRY004
    return Functional(
        _tensors_at(config["input_layers"], produced, layers, "input_layers"),
        _tensors_at(config["output_layers"], produced, layers, "output_layers"),
        name=name,
        trainable=bool(config.get("trainable", True)),
    )


#: The ops Keras records when it computes a mask while building a model (Embedding's
#: ``not_equal(ids, 0)``, Masking's ``any(not_equal(x, value), axis=-1)``), whose outputs it
#: passes as the ``mask`` of the calls after.
_MASK_OPS = ("NotEqual", "Any")


def _without_mask_ops(entries):
    """The entries without the ops of Keras' mask computations read only as ``mask`` call
    arguments (and by each other), and those arguments unset: tinykeras computes the same
    masks again as they travel from the layers making them. A mask read otherwise stays, and
    is refused as any op is."""
    ops = {entry["name"] for entry in entries
           if entry["class_name"] in _MASK_OPS and str(entry.get("module", "")).startswith("keras.src.ops")}
    if not ops:
        return entries
    read = set()
    for entry in entries:
        for node in _dict_calls(entry):
            if entry["name"] not in ops:
                read |= _names_read(node.get("args"))
            kwargs = node.get("kwargs")
            read |= _names_read({k: v for k, v in kwargs.items() if k != "mask"} if isinstance(kwargs, dict) else kwargs)
    dropped = ops - read

    def unset(node):  # the call with its mask argument unset when it reads a dropped op
        kwargs = node.get("kwargs")
        if isinstance(kwargs, dict) and _names_read(kwargs.get("mask")) & dropped:
            return dict(node, kwargs=dict(kwargs, mask=None))
        return node

    return [dict(entry, inbound_nodes=[unset(n) if isinstance(n, dict) else n for n in entry["inbound_nodes"]])
            if _dict_calls(entry) else entry
            for entry in entries if entry["name"] not in dropped]


def _dict_calls(entry):
    """The calls of an entry written as Keras 3 writes them (dicts)."""
    nodes = entry["inbound_nodes"]
    return [node for node in nodes if isinstance(node, dict)] if isinstance(nodes, list) else []


def _names_read(value):
    """The names of the layers whose tensors ``value`` (a call's arguments) holds."""
    if isinstance(value, dict):
        config = value.get("config") if value.get("class_name") == "__keras_tensor__" else None
        history = config.get("keras_history") if isinstance(config, dict) else None
        if isinstance(history, list) and history and isinstance(history[0], str):
            return {history[0]}
        return set().union(*(_names_read(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_names_read(v) for v in value)) if value else set()
    return set()


def _read_calls(entry, index, layers):
    """The calls of one layer entry (``inbound_nodes``), each checked to read known layers."""
    name, nodes = entry["name"], entry["inbound_nodes"]
    where = f"Layer '{name}' (entry {index})"
    if not isinstance(nodes, list):
        raise ValueError(f"Malformed model config: {where} has 'inbound_nodes' that is not a list.")  # noqa: TRY004
    if entry["class_name"] == "InputLayer" and nodes:
        raise ValueError(f"Malformed model config: {where} is an InputLayer, which is called on nothing.")
    calls = []
    for node in nodes:
        if entry["class_name"] in _CALLS_WITH_TRAINING_TRUE and isinstance(node, dict) and isinstance(
            node.get("kwargs"), dict) and isinstance(node["kwargs"].get("training"), bool):
            # Keras records its default training=True; the model's own mode runs the call.
            node = {**node, "kwargs": {k: v for k, v in node["kwargs"].items() if k != "training"}}
        call = (_keras_3_call(node, where, entry["class_name"] in _INITIAL_STATE) if isinstance(node, dict)
                else _keras_2_call(node, where))
        for source, _, _ in call.sources:
            if source not in layers:
                raise ValueError(
                    f"{where} is called on the output of layer '{source}', which the config does "
                    f"not define (its layers: {', '.join(layers)}). The file is damaged or was "
                    "edited: every layer a call reads needs an entry of its own."
                )
        calls.append(call)
    return calls


def _keras_3_call(node, where, recurrent=False):
    """A call written as ``{"args": [tensor or [tensors]], "kwargs": {...}}``; a recurrent
    layer's ``initial_state`` tensors follow its sequences in a list call."""
    node = saving.expect_dict(node, f"a call of {where}", ("args",))
    kwargs = dict(saving.expect_dict(node.get("kwargs", {}), f"the call arguments of {where}"))
    states = kwargs.pop("initial_state", None) if recurrent else None
    _check_call_arguments(kwargs, where)
    args = node["args"]
    if not isinstance(args, list) or len(args) != 1:
        raise ValueError(
            f"Malformed model config: a call of {where} passes {args!r}; tinykeras' layers take "
            "one argument, a tensor or a list of tensors."
        )
    several = isinstance(args[0], list)
    tensors = args[0] if several else [args[0]]
    if states is not None:
        if several or not isinstance(states, list):
            raise ValueError(
                f"Malformed model config: a call of {where} passes {args!r} with initial_state="
                f"{states!r}; expected one tensor of sequences and a list of state tensors."
            )
        tensors, several = tensors + states, True
    return _Call([_history(tensor, where) for tensor in tensors], several, where)


def _history(tensor, where):
    """The (layer name, call index, tensor index) of a ``__keras_tensor__`` entry."""
    tensor = saving.expect_dict(tensor, f"a tensor {where} is called on", ("class_name", "config"))
    if tensor["class_name"] != "__keras_tensor__":
        raise ValueError(
            f"{where} is called on a {tensor['class_name']!r} value; tinykeras' layers are called "
            "on the tensors of other layers only."
        )
    history = saving.expect_dict(tensor["config"], f"a tensor {where} is called on", ("keras_history",))
    return _source(history["keras_history"], where)


def _keras_2_call(node, where):
    """A call written as Keras 2 did: a list of ``[layer name, call index, 0(, kwargs)]``."""
    if not isinstance(node, list) or not node:
        raise ValueError(f"Malformed model config: a call of {where} is {node!r}.")
    sources = []
    for item in node:
        if isinstance(item, list) and len(item) == 4:
            _check_call_arguments(item[3], where)
            item = item[:3]
        sources.append(_source(item, where))
    return _Call(sources, several=len(sources) > 1, where=where)


def _source(history, where):
    """The ``[layer name, call index, tensor index]`` triple, checked, as a tuple."""
    valid = (
        isinstance(history, list) and len(history) == 3 and isinstance(history[0], str)
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in history[1:])
    )
    if not valid:
        raise ValueError(
            f"Malformed model config: {where} reads {history!r}; expected [layer name, call index, "
            "tensor index] with indices >= 0."
        )
    return history[0], history[1], history[2]


def _check_call_arguments(kwargs, where):
    """Raises ValueError for a call argument other than an unset one (Keras records
    ``mask=None``): tinykeras calls layers on their inputs alone."""
    kwargs = saving.expect_dict(kwargs, f"the call arguments of {where}")
    for key, value in kwargs.items():
        if value is not None and not (key == "training" and value is False):  # Keras records training=False
            raise ValueError(
                f"{where} is called with {key}={value!r}; tinykeras calls a layer on its inputs "
                "alone (training follows fit and predict). Rebuild the model without that argument."
            )


def _call_layers(layers, calls):
    """Makes every call, in passes over the layers in config order; returns the tensors each
    layer gave, by layer name, in call order.

    Raises:
        ValueError: naming the calls that can never be made.
    """
    from tinykeras.layers import InputLayer

    produced = {
        name: [functional.input_tensor(layer)] if isinstance(layer, InputLayer) else []
        for name, layer in layers.items()
    }
    pending = {name: list(layer_calls) for name, layer_calls in calls.items() if layer_calls}
    while pending:
        progress = False
        for name in list(pending):
            queue = pending[name]
            while queue and queue[0].ready(produced):
                call = queue.pop(0)
                tensors = [_output(produced[source][index], part, source, call.where)
                           for source, index, part in call.sources]
                produced[name].append(layers[name](tensors if call.several else tensors[0]))
                progress = True
            if not queue:
                del pending[name]
        if not progress:
            stuck = "; ".join(f"'{name}' on {queue[0]!r}" for name, queue in pending.items())
            raise ValueError(
                "The functional model's config cannot be rebuilt: these calls read calls that "
                f"never happen (a call index past a layer's calls, or a loop): {stuck}."
            )
    return produced


def _tensors_at(structure, produced, layers, key):
    """The tensors ``input_layers`` or ``output_layers`` name: one triple, a list of them, or a
    dict of them (kept as a list or dict)."""
    if isinstance(structure, dict):
        return {k: _tensors_at(v, produced, layers, key) for k, v in structure.items()}
    if isinstance(structure, list) and structure and all(isinstance(item, list) for item in structure):
        return [_tensors_at(item, produced, layers, key) for item in structure]
    name, index, part = _source(structure, f"'{key}'")
    if name not in layers:
        raise ValueError(f"Malformed model config: '{key}' names layer '{name}', which the config does not define.")
    if _is_functional(layers[name]):
        index -= 1  # 0 stands for the nested model itself; its calls count from 1 here
    if not 0 <= index < len(produced[name]):
        raise ValueError(f"Malformed model config: '{key}' names call {index} of layer '{name}', which is never called so.")
    return _output(produced[name][index], part, name, f"'{key}'")


def _output(outputs, part, name, where):
    """Output ``part`` of a call of layer ``name`` that gave ``outputs`` (a tensor, or a tuple
    of them), for what ``where`` names."""
    several = isinstance(outputs, tuple)
    if part >= (len(outputs) if several else 1):
        raise ValueError(
            f"Malformed model config: {where} reads output {part} of layer '{name}', which gives "
            f"{len(outputs) if several else 1}."
        )
    return outputs[part] if several else outputs
