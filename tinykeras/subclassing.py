"""Subclassed models: layers set as attributes in ``__init__``, composed in ``call``.

``call`` runs once on symbolic tensors (``keras.Input``) of the data's shapes; the layers it
calls record the graph, which then trains and predicts like a functional model's. When ``call``
takes a ``training`` argument it runs twice, with ``training=True`` (the graph ``fit`` trains)
and ``training=False`` (the graph evaluate and predict run), so that Python code branching on
``training`` gives each its own graph.

What ``call`` computes must come from layers (built-in ones, merge layers such as
``layers.Add``, other models); Python control flow may depend on shapes and on ``training`` but
not on the values of tensors, which do not exist while ``call`` runs.
"""
import inspect

import numpy as np

from tinykeras import functional


def tracked_layers(model):
    """The layers (and models) held by ``model``'s attributes, in the order they were first set,
    looking inside lists, tuples and dicts, each once."""
    from tinykeras.layers.base import Layer
    from tinykeras.models import Model

    found = {}

    def visit(value):
        if isinstance(value, (Layer, Model)):
            found.setdefault(id(value), value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)

    for name, value in vars(model).items():
        if name not in ENGINE_ATTRIBUTES:
            visit(value)
    return list(found.values())


#: Attributes of the engine that are not the user's layers.
ENGINE_ATTRIBUTES = frozenset(
    {"_layers", "_graph", "_training_graph", "_ran", "_init_arguments", "optimizer", "history"}
)


def init_arguments(model):
    """The arguments the class of a model or layer received in ``__init__``, by parameter
    name (those passed through ``**kwargs`` by their own names), name, trainable and dtype
    aside.

    Raises:
        TypeError: for arguments a config cannot hold, naming them and the fix.
    """
    args, kwargs = getattr(model, "_init_arguments", ((), {}))
    signature = inspect.signature(type(model).__init__)
    bound = signature.bind(None, *args, **kwargs)
    bound.apply_defaults()
    arguments = {}
    for index, (name, value) in enumerate(bound.arguments.items()):
        parameter = signature.parameters[name]
        if index == 0:
            continue  # self
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            arguments.update(value)
        elif parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                raise TypeError(f"{type(model).__name__}: arguments passed as *{name} have no name for a config.")
        else:
            arguments[name] = value
    for key in ("name", "trainable", "dtype"):
        arguments.pop(key, None)
    unwritable = [name for name, value in arguments.items() if not _plain(value)]
    if unwritable:
        raise TypeError(
            f"{type(model).__name__} was created with argument(s) {unwritable} that a config "
            "cannot hold (only numbers, strings, booleans, None, and lists and dicts of them): "
            "define get_config(self) returning what __init__ needs, and from_config(cls, "
            "config) if rebuilding it takes more than cls(**config)."
        )
    return arguments


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _plain(item) for key, item in value.items())
    return False


def takes_training(method):
    """Whether ``call`` accepts a ``training`` argument (by name, or through ``**kwargs``)."""
    parameters = inspect.signature(method).parameters.values()
    return any(p.name == "training" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def symbolic_inputs(shapes, dtypes=None, keep_batch=False):
    """Input tensors for ``shapes``: a shape, a list of shapes, or a dict of them by name (each
    with the batch axis first), of ``dtypes`` (the same structure; floatx by default). The batch
    size is left unknown unless ``keep_batch`` (a layer called on tensors of a fixed batch size,
    ``keras.Input(batch_shape=...)``, traces its call with that size, as Keras does)."""
    # Named here rather than numbered: tracing leaves the names keras.Input takes as they were.
    def tensor(shape, name, dtype):
        batch = tuple(shape)[:1] if keep_batch else (None,)
        return functional.Input(batch_shape=batch + tuple(shape)[1:], name=name, dtype=dtype)

    if isinstance(shapes, dict):
        return {name: tensor(shape, name, (dtypes or {}).get(name)) for name, shape in shapes.items()}
    if isinstance(shapes, list):
        dtypes = dtypes if isinstance(dtypes, list) else [None] * len(shapes)
        return [tensor(shape, f"input_{i}", dtype) for i, (shape, dtype) in enumerate(zip(shapes, dtypes))]
    return tensor(shapes, "input", dtypes if isinstance(dtypes, str) else None)


def data_shapes(x):
    """The structure of shapes ``build`` needs, from a batch of data: one array, a list or tuple
    of arrays (several inputs), or a dict of them."""
    if isinstance(x, dict):
        return {name: np.shape(value) for name, value in x.items()}
    if isinstance(x, (list, tuple)) and x and all(isinstance(v, np.ndarray) for v in x) and len(x) > 1:
        return [np.shape(value) for value in x]
    if isinstance(x, (list, tuple)) and len(x) == 1 and isinstance(x[0], np.ndarray):
        return np.shape(x[0])
    return np.shape(np.asarray(x))


def trace(model, inputs, training, mask=None):
    """Runs ``model.call`` on the symbolic ``inputs`` (and ``mask``, symbolic masks passed as
    call's mask argument: the graph's last inputs); returns a functional.Graph of what it
    computed, and its outputs' keys (or None).

    The nodes are the model's own: they are taken back off the layers, so that tracing again
    (with the other ``training``) or calling the layers elsewhere starts afresh.

    Raises:
        TypeError or ValueError: naming the model, when ``call`` returns something other than
            tensors computed by layers from the inputs, or computes with tensors directly.
    """
    arguments = {"training": training} if takes_training(model.call) else {}
    if mask is not None:
        arguments["mask"] = mask
    with functional.recording() as recorded, functional.collecting_effects() as effects:
        try:
            outputs = _read_variables(model.call(inputs, **arguments))
        except (TypeError, ValueError) as error:
            raise type(error)(f"{_where(model, inputs)}: {error}") from error
        except Exception as error:
            if hasattr(error, "add_note"):  # the error as raised, its traceback and a line naming the call
                error.add_note(_where(model, inputs))
            raise
        finally:
            functional.forget(recorded)
    keys = list(outputs) if isinstance(outputs, dict) else None
    flat_outputs = list(outputs.values()) if keys else list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    flat_inputs = list(inputs.values()) if isinstance(inputs, dict) else list(inputs) if isinstance(inputs, list) else [inputs]
    if not all(isinstance(t, functional.KerasTensor) for t in flat_outputs):
        kinds = ", ".join(type(t).__name__ for t in flat_outputs)
        raise TypeError(
            f"{_kind(model)} '{model.name}' ({type(model).__name__}): call() must return what "
            f"its layers and ops return (a tensor, or a list or dict of them); it returned {kinds}."
        )
    terms = [t for t in effects.terms if isinstance(t, functional.KerasTensor)]
    masks = [t for t in (mask if isinstance(mask, list) else [mask]) if t is not None]
    nodes = functional.graph(flat_inputs + masks, flat_outputs + terms + list(effects.assigned.values()),
                             optional=masks)
    flat_inputs = flat_inputs + masks
    graph = functional.Graph(flat_inputs, flat_outputs, nodes, effects.terms)
    graph.several_outputs = isinstance(outputs, (list, tuple))
    return graph, keys


def _read_variables(outputs):
    """``call``'s outputs with each variable it returned read as a tensor."""
    from tinykeras.layers.base import Variable
    from tinykeras.ops import state

    if isinstance(outputs, Variable):
        return state.read(outputs)
    if isinstance(outputs, (list, tuple)):
        return type(outputs)(_read_variables(item) for item in outputs)
    if isinstance(outputs, dict):
        return {key: _read_variables(item) for key, item in outputs.items()}
    return outputs


def _where(model, inputs):
    return (f"{_kind(model)} '{model.name}' ({type(model).__name__}): its call() failed while "
            f"tinykeras traced it on symbolic inputs ({_describe(inputs)})")


def _kind(owner):
    from tinykeras.models import Model

    return "Model" if isinstance(owner, Model) else "Layer"


def _describe(inputs):
    if isinstance(inputs, dict):
        return ", ".join(f"{name}: shape {t.shape}" for name, t in inputs.items())
    if isinstance(inputs, list):
        return ", ".join(f"shape {t.shape}" for t in inputs)
    return f"shape {inputs.shape}"
