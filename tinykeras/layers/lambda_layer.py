"""``Lambda``: a function of the inputs as a layer, as Keras' ``Lambda`` wraps one.

The function computes with keras.ops (or the operators of tensors: ``x ** 2 + 1``), so the
layer is a layer written with ``call``: its graph is traced from the function and its gradient
comes from the ops'. A function written with NumPy, or another library, on the tensors is
refused by the trace, naming the op it could not record.

Saving follows Keras: a Python lambda is stored as its bytecode (marshal, base64) with its
defaults and closure, and rebuilt only when the loading call allows it
(``load_model(..., safe_mode=False)``), since loading runs that code; a named function is
stored by name and found again among the registered objects, ``custom_objects``, keras.ops
and keras.activations.
"""
import base64
import inspect
import marshal
import types

from tinykeras.layers.base import Layer

_LAMBDA = "__lambda__"


class Lambda(Layer):
    """Wraps ``function(inputs, **arguments)`` as a layer.

    Args:
        function: the function of the input tensor (or list of tensors) giving the output,
            written with keras.ops; it receives ``mask`` and ``training`` too if it names them.
        output_shape: the output's shape without the batch axis (a tuple), or a function of the
            input shape giving the whole shape; checked against the shape the function gives.
            None: the function's.
        mask: the output's mask: None, a function ``mask(inputs, previous_mask)``, or a fixed
            mask.
        arguments: keyword arguments passed to the function.
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise ValueError(f"Lambda: `function` must be callable. Received: function={function!r}")
        if arguments is not None and not isinstance(arguments, dict):
            raise ValueError(f"Lambda: `arguments` must be a dict of keyword arguments. Received: {arguments!r}")
        self.function = function
        self.arguments = dict(arguments or {})
        self.mask = mask
        self.supports_masking = mask is not None
        self._output_shape = output_shape
        try:
            parameters = inspect.signature(function).parameters
        except (TypeError, ValueError):  # a builtin without a signature
            parameters = {}
        self._passes_mask, self._passes_training = "mask" in parameters, "training" in parameters

    def call(self, inputs, mask=None, training=None):
        kwargs = dict(self.arguments)
        if self._passes_mask:
            kwargs["mask"] = mask
        if self._passes_training:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_mask(self, inputs, mask=None):
        return self.mask(inputs, mask) if callable(self.mask) else self.mask

    def build_for(self, input_shape):
        shape = super().build_for(input_shape)
        if self._output_shape is not None:
            self._check_output_shape(input_shape, shape)
        return shape

    def _check_output_shape(self, input_shape, traced):
        """Raises if the declared output_shape disagrees with the function's output."""
        if callable(self._output_shape):
            declared = tuple(self._output_shape(input_shape))
        else:
            batch = (input_shape[0] if isinstance(input_shape, tuple) else input_shape[0][0],)
            declared = batch + tuple(self._output_shape)
        traced = tuple(traced) if isinstance(traced, tuple) else traced
        agree = isinstance(traced, tuple) and len(declared) == len(traced) and all(
            d is None or t is None or d == t for d, t in zip(declared, traced))
        if not agree:
            raise ValueError(
                f"Lambda '{self.name}': output_shape gives {declared}, but the function returns {traced} "
                f"for inputs of shape {input_shape}. Correct output_shape, or leave it out."
            )

    def get_config(self):
        config = {**super().get_config(), "function": serialize_function(self.function)}
        if self._output_shape is not None:
            config["output_shape"] = (serialize_function(self._output_shape) if callable(self._output_shape)
                                      else list(self._output_shape))
        if self.mask is not None:
            config["mask"] = serialize_function(self.mask) if callable(self.mask) else self.mask
        config["arguments"] = dict(self.arguments)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=None):
        from tinykeras import saving

        safe = saving.in_safe_mode() if safe_mode is None else bool(safe_mode)
        config = dict(config)
        config["function"] = deserialize_function(config["function"], safe, custom_objects)
        if isinstance(config.get("output_shape"), dict):
            config["output_shape"] = deserialize_function(config["output_shape"], safe, custom_objects)
        elif isinstance(config.get("output_shape"), list):
            config["output_shape"] = tuple(config["output_shape"])
        if isinstance(config.get("mask"), dict):
            config["mask"] = deserialize_function(config["mask"], safe, custom_objects)
        return cls(**config)


def serialize_function(fn):
    """Keras' entry for a function: a Python lambda's bytecode, defaults and closure; a named
    function's module and name."""
    if isinstance(fn, types.LambdaType) and fn.__name__ == "<lambda>":
        code = base64.encodebytes(marshal.dumps(fn.__code__)).decode("ascii")
        closure = None if not fn.__closure__ else [cell.cell_contents for cell in fn.__closure__]
        defaults = None if fn.__defaults__ is None else list(fn.__defaults__)
        return {"class_name": _LAMBDA, "config": {"code": code, "defaults": defaults, "closure": closure}}
    from tinykeras import saving

    name = getattr(fn, "__name__", None)
    if name is None:
        raise ValueError(f"Lambda: cannot save {fn!r}: only functions (a lambda or a def) can be saved.")
    registered = saving.get_registered_name(fn)
    module = getattr(fn, "__module__", None)
    if str(module).startswith("tinykeras"):  # Keras writes its own ops and activations so: found by name
        module = "builtins"
    return {"module": module, "class_name": "function", "config": name,
            "registered_name": "function" if registered == name else registered}


def deserialize_function(entry, safe_mode, custom_objects=None):
    """The function an entry of ``serialize_function`` (or of Keras) describes.

    Raises:
        ValueError: for a Python lambda while ``safe_mode`` is on (rebuilding it runs code
            from the file), or a named function that is not found.
    """
    from tinykeras import activations, ops, saving

    if isinstance(entry, (list, tuple)):
        raise ValueError(
            "Lambda: the config holds Keras 2's form of a Python lambda (bytecode of the Python that "
            "wrote it), which tinykeras does not rebuild. Build the model in code, with the same "
            "Lambda, and load the file's weights into it (load_weights)."
        )
    if not isinstance(entry, dict):
        raise ValueError(f"Lambda: malformed function entry in the config: {entry!r}")
    if entry.get("class_name") == _LAMBDA:
        if safe_mode:
            raise ValueError(
                "Requested the deserialization of a `Lambda` layer whose `function` is a Python lambda. "
                "Rebuilding it runs the bytecode stored in the file, so it is refused by default. If you "
                "trust the file, pass safe_mode=False to load_model (for model_from_json: inside "
                "`with keras.saving.SafeModeScope(False):`)."
            )
        inner = entry.get("config") or {}
        code = marshal.loads(base64.decodebytes(str(inner["code"]).encode("ascii")))
        closure = inner.get("closure")
        cells = None if closure is None else tuple(types.CellType(value) for value in closure)
        defaults = inner.get("defaults")
        namespace = {"__builtins__": __builtins__, "keras": __import__("tinykeras"), "ops": ops}
        return types.FunctionType(code, namespace, code.co_name, None if defaults is None else tuple(defaults), cells)
    name = entry.get("config")
    found = saving.get_registered_object(entry.get("registered_name"), custom_objects) or \
        saving.get_registered_object(name, custom_objects)
    if found is None and str(entry.get("module") or "").split(".")[0] in ("keras", "builtins", "tinykeras"):
        found = getattr(ops, str(name), None) or getattr(activations, str(name), None)
    if not callable(found):
        raise ValueError(
            f"Lambda: the function {entry.get('module')}.{name} of the config is not found. Register it "
            "(@keras.saving.register_keras_serializable()) or pass it in custom_objects={'" + str(name) + "': ...}."
        )
    return found
