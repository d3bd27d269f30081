"""The layer protocol: every layer, built-in or custom, is a :class:`Layer`.

A layer implements four methods, each small enough to read at a glance:

- ``build(input_shape)`` creates the variables with ``add_weight``;
- ``compute_output_shape(input_shape)`` says what comes out (the batch axis is ``None``);
- ``forward(x, training)`` returns the output and keeps only what ``backward`` needs;
- ``backward(dy)`` receives dLoss/dOutput, returns dLoss/dInput and sets ``self.grads`` to one
  gradient per trainable variable, in the order of ``trainable_weights``.

Weights are never updated inside ``backward``: the optimizer does that, so gradients stay
inspectable. Check a custom layer with :func:`tinykeras.utils.check_gradients`.

Masks, as in Keras 3: a layer whose output marks padded steps defines ``compute_mask(inputs,
previous_mask)``; one that passes its input's mask on sets ``supports_masking = True``; one
that computes with the mask takes it as ``forward(x, training, mask=None)`` (or, written with
call, ``call(inputs, mask=None)``). A model carries each mask from the call that makes it to
the calls that read it, and only when some layer makes one.
"""
import inspect

import numpy as np

from tinykeras import activations, backend, constraints, initializers, regularizers
from tinykeras.layers.arguments import standardize_shape
from tinykeras.ops import state
from tinykeras.ops.operators import Operators
from tinykeras.utils.argument_validation import check_int, check_optional_int, is_integer
from tinykeras.utils.interrupts import completes_before_interrupt

# Constructor arguments every Keras layer accepts, beside its own.
_BASE_KWARGS = ("input_shape", "batch_input_shape", "input_dim", "batch_size")


class Variable(Operators):
    """A named weight array. ``value`` is updated in place, so references to it stay valid.
    Arithmetic on a variable (``self.w * 2``, ``x @ self.w``) goes through :mod:`tinykeras.ops`,
    so inside a custom layer's ``call`` it is differentiated like any op.

    Args:
        name: the variable's name inside its layer ('kernel', 'bias', ...).
        value: the initial array.
        trainable: whether the optimizer updates it.
    """

    __slots__ = ("name", "value", "trainable", "path", "grad", "regularizer", "constraint")

    def __init__(self, name, value, trainable=True, path=None, regularizer=None, constraint=None):
        self.name = name
        self.value = value
        self.trainable = trainable
        self.path = path or name
        #: A keras.regularizers penalty added to the loss, and a keras.constraints projection
        #: applied after each optimizer step (None for none).
        self.regularizer = regularizer
        self.constraint = constraint
        #: The gradient ``loss.backward()`` left in a custom ``train_step`` (see Model.train_step).
        self.grad = None

    @property
    def shape(self):
        return self.value.shape

    @property
    def dtype(self):
        return self.value.dtype

    def numpy(self):
        """A copy of the current value."""
        return self.value.copy()

    def assign(self, value):
        """Overwrites the value in place, after checking its shape and that it holds real
        numbers (see :func:`weight_values`). Inside a layer's ``call`` (traced), records the
        write, made at every run of the call."""
        if _recorded(value):
            return state.record_assign(self, "assign", value)
        self.value[...] = _weight_value(f"Variable '{self.path}'", self, value)
        return self

    def assign_add(self, delta):
        """Adds ``delta`` (of the variable's shape, or a number) in place."""
        if _recorded(delta):
            return state.record_assign(self, "add", delta)
        return self.assign(self.value + np.asarray(delta, dtype=self.dtype))

    def assign_sub(self, delta):
        """Subtracts ``delta`` (of the variable's shape, or a number) in place."""
        if _recorded(delta):
            return state.record_assign(self, "subtract", delta)
        return self.assign(self.value - np.asarray(delta, dtype=self.dtype))

    def __array__(self, dtype=None, copy=None):
        return self.value if dtype is None else self.value.astype(dtype)

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}>"


def _recorded(value):
    """Whether a write of ``value`` is recorded in a traced call rather than made now."""
    from tinykeras import functional

    return functional.tracing() or isinstance(value, functional.KerasTensor)


def assign_weights(owner, variables, weights):
    """Sets ``variables`` from ``weights``, one array each, or none at all: every array is
    converted and checked (:func:`weight_values`) before the first variable changes.

    Args:
        owner: who holds the variables, for the messages: "Layer 'dense'", "Model 'sequential'".
        variables: the variables to set, in order.
        weights: one array (or nested list of numbers) per variable.
    """
    for variable, value in zip(variables, weight_values(owner, variables, weights)):
        variable.value[...] = value


def weight_values(owner, variables, weights):
    """Converts and checks the arrays of a ``set_weights`` call, all of them.

    Integer and float arrays are cast to each variable's dtype, as Keras does; NaN and inf are
    kept. Booleans, complex numbers, text and objects (``None``) are refused: cast, they would
    become weights no one meant.

    Args:
        owner: who holds the variables, for the messages: "Layer 'dense'", "Model 'sequential'".
        variables: the variables to set, in order.
        weights: one array (or nested list of numbers) per variable.

    Returns:
        New arrays of each variable's shape and dtype, so that assigning them cannot fail.

    Raises:
        ValueError: when the number of arrays, or an array's shape, differs from the variables'.
        TypeError: when an array does not hold real numbers.
    """
    weights = list(weights)
    if len(weights) != len(variables):
        raise ValueError(
            f"{owner} expects {len(variables)} weight arrays ({_listed(variables)}); received "
            f"{len(weights)}. Pass one array per weight, in the order get_weights() returns them."
        )
    return [
        _weight_value(f"{owner}: weight '{variable.path}'", variable, weight)
        for variable, weight in zip(variables, weights)
    ]


def _weight_value(what, variable, weight):
    """``weight`` as a new array of ``variable``'s dtype, after checking that it holds real
    numbers of ``variable``'s shape; ``what`` names the weight in the messages."""
    try:
        array = np.asarray(weight)
    except (TypeError, ValueError) as error:  # lists of unequal lengths, say
        raise ValueError(
            f"{what} cannot be read as an array ({error}). Pass a NumPy array of shape "
            f"{variable.shape}."
        ) from None
    if array.dtype.kind not in "iuf":
        raise TypeError(
            f"{what} must hold real numbers (integers or floats); received an array of dtype "
            f"{array.dtype}{_DTYPE_HINTS.get(array.dtype.kind, '')}. Pass a float array of shape "
            f"{variable.shape}, such as one get_weights() returns."
        )
    if array.shape != variable.shape:
        raise ValueError(
            f"{what} has shape {variable.shape}, received an array of shape {array.shape}."
        )
    return array.astype(variable.dtype)


_DTYPE_HINTS = {
    "O": " (Python objects, such as None for a weight left out)",
    "U": " (text)",
    "S": " (bytes)",
    "b": " (booleans)",
    "c": " (complex numbers)",
}


def _listed(variables, most=8):
    """The variables' paths for a message, the first ``most`` of them if there are more."""
    paths = [v.path for v in variables[:most]]
    if len(variables) > most:
        paths.append(f"... {len(variables) - most} more")
    return ", ".join(paths) or "none"


_TAKES_MASK = {}


def takes_mask(runner):
    """Whether ``runner`` (a layer, a model, an op) computes with a mask: its ``forward``, or
    for a layer written with call its ``call``, takes a ``mask`` argument (found once per
    class)."""
    cls = type(runner)
    found = _TAKES_MASK.get(cls)
    if found is None:
        method = cls.call if issubclass(cls, Layer) and computes_with_call(cls) else getattr(cls, "forward", None)
        try:
            found = method is not None and "mask" in inspect.signature(method).parameters
        except (TypeError, ValueError):  # a builtin without a signature
            found = False
        _TAKES_MASK[cls] = found
    return found


def computes_with_call(cls):
    """Whether a layer class computes with ``call`` written on keras.ops and other layers (a
    Layer subclass defining call, whose forward is still Layer's)."""
    return any("call" in vars(klass) for klass in cls.__mro__ if klass is not Layer and issubclass(klass, Layer)) and (
        next(klass for klass in cls.__mro__ if "forward" in vars(klass)) is Layer
    )


class Layer:
    """Base class of all layers.

    Args:
        trainable: whether the layer's weights are updated by ``fit``.
        name: the layer's name; by default the snake-cased class name, numbered ('dense_1').
        dtype: float type of the weights; by default ``backend.floatx()``.
        input_shape: shape of one sample (without the batch axis), for the first layer of a model.
        batch_input_shape: the same with the batch axis first.
        input_dim: for 2D inputs, the same as ``input_shape=(input_dim,)``.
    """

    def __new__(cls, *args, **kwargs):
        layer = super().__new__(cls)
        layer._init_arguments = (args, kwargs)  # a custom layer's config (see get_config)
        return layer

    #: A keras.regularizers penalty on each output, divided by the batch size (None for none).
    activity_regularizer = None

    def __init__(self, trainable=True, name=None, dtype=None, activity_regularizer=None, **kwargs):
        unknown = set(kwargs) - set(_BASE_KWARGS)
        if unknown:
            raise TypeError(
                f"{type(self).__name__}: unrecognized keyword argument(s) {sorted(unknown)}. "
                "Check the spelling against the layer's documented arguments."
            )
        self.name = name or backend.unique_name(backend.snake_case(type(self).__name__))
        self.trainable = trainable
        self.dtype = _dtype_name(dtype)
        if activity_regularizer is not None:
            self.activity_regularizer = regularizers.get(activity_regularizer)
        self.built = False
        self.grads = []
        # Whether backward must return dx. A model sets it to False on its first layer (nothing
        # consumes the gradient of the data), and a layer may then skip that work and return None.
        self.input_gradient = True
        self.input_shape = None
        self.output_shape = None
        self._variables = []
        self.batch_input_shape = _batch_input_shape(type(self).__name__, kwargs)

    # ---- the protocol ---------------------------------------------------------------------

    def build(self, input_shape):
        """Creates the layer's variables for ``input_shape`` (batch axis first, may be None)."""
        self.built = True

    def compute_output_shape(self, input_shape):
        """The output shape for ``input_shape``; layers that change the shape override this."""
        return tuple(input_shape)

    def forward(self, x, training=False, mask=None):
        """Returns the layer's output for the batch ``x`` (whose mask is ``mask``, None for none,
        for a layer written with a call taking one)."""
        if self._call_graphs is not None:
            return self._forward_call(x, training, mask)
        return x

    def backward(self, dy):
        """Returns dLoss/dx given dLoss/dy (None allowed when ``input_gradient`` is False), and
        sets ``self.grads``."""
        if self._call_graphs is not None:
            return self._backward_call(dy)
        return dy

    # ---- masks: Keras' way of marking padded steps for the layers after -------------------

    @property
    def supports_masking(self):
        """Whether the layer gives its output a mask, ``compute_mask(inputs, mask)`` (by default
        its input's), as Keras decides: True for a class defining ``compute_mask``, else what the
        layer sets (``self.supports_masking = True`` to pass masks on unchanged). A mask reaching
        a layer that does not support masking is dropped, with Keras' warning."""
        value = self.__dict__.get("_supports_masking")
        return type(self).compute_mask is not Layer.compute_mask if value is None else value

    @supports_masking.setter
    def supports_masking(self, value):
        self.__dict__["_supports_masking"] = bool(value)

    def compute_mask(self, inputs, previous_mask=None):
        """The mask of the output (one boolean per step, False where the step is padding) for
        ``inputs`` whose mask is ``previous_mask`` (None for none; a list for a list of inputs).
        By default the input's mask, unchanged."""
        return previous_mask

    @property
    def makes_masks(self):
        """Whether the layer may give its output a mask when its input has none (Embedding with
        mask_zero, Masking, a class defining compute_mask, a layer written with call whose layers
        do). A model whose layers make none runs without masks, at no cost."""
        graphs = self._call_graphs or ()
        return type(self).compute_mask is not Layer.compute_mask or any(g is not None and g.masked for g in graphs)

    # ---- a layer written the Keras way: call() on keras.ops and other layers -------------------

    #: Once a layer computing with ``call`` is built: its traced graphs (inference, training),
    #: whether call returns a tuple of tensors, and the batch size they were traced for (None:
    #: any; a call on arrays, or on keras.Input(batch_shape=...), traces for its batch size, so
    #: that call may read ``inputs.shape[0]`` as in Keras).
    _call_graphs = None
    _several_outputs = False
    _call_batch = None

    def _trace_call(self, input_shape):
        """Runs ``call`` on symbolic inputs of ``input_shape`` (twice when it takes
        ``training``): the ops and layers it calls record the graph forward and backward run."""
        from tinykeras import functional, subclassing

        dtypes = getattr(self, "_call_dtypes", None)
        masks = self.__dict__.get("_symbolic_masks") if takes_mask(self) else None
        key = None if masks is None else tuple(None if m is None else tuple(m)[1:] for m in masks)
        functional._tracing_layers.append(self)
        try:
            if key is not None:  # called where its input carries a mask: traced with one too
                self._masked_call_graphs(key)
            inputs = subclassing.symbolic_inputs(input_shape, dtypes, keep_batch=True)
            graph, keys = subclassing.trace(self, inputs, training=False)
            training_graph = None
            if subclassing.takes_training(self.call):
                inputs = subclassing.symbolic_inputs(input_shape, dtypes, keep_batch=True)
                training_graph, _ = subclassing.trace(self, inputs, training=True)
        except Exception:
            if key is None:
                raise
            # A call that needs its mask (the guide's TemporalSoftmax casts it): its graphs take one.
            graph, training_graph = self._masked_call_graphs(key)
            keys, self._needs_mask = None, True
        finally:
            functional._tracing_layers.pop()
        if keys is not None:
            raise TypeError(
                f"Layer '{self.name}' ({type(self).__name__}): call() must return a tensor or a "
                "tuple or list of tensors; return a dict from a keras.Model subclass instead."
            )
        self._call_graphs = (graph, training_graph)
        self._several_outputs = graph.several_outputs
        self._call_batch = _batch_size(input_shape)
        self._check_variables_read(graph)
        shapes = [tensor.shape for tensor in graph.outputs]
        return shapes if self._several_outputs else shapes[0]

    def _check_variables_read(self, graph):
        """Raises unless call reads each of the layer's own variables through an op: one read
        as an array (``self.w.value``) or not at all would never get a gradient."""
        read = {id(v) for node in graph.nodes for v in getattr(node.runner, "variables", ())}
        unread = [v.name for v in self._variables if v.trainable and id(v) not in read]
        if unread:
            raise TypeError(
                f"Layer '{self.name}' ({type(self).__name__}): call() does not compute with its "
                f"weight(s) {unread} as variables, so they would never train. Use the variable "
                "itself in keras.ops or arithmetic (inputs * self.w), not its array (self.w.value)."
            )

    def _forward_call(self, x, training, mask=None):
        if self._call_batch is not None:
            first = x[0] if isinstance(x, (list, tuple)) else x
            if len(first) != self._call_batch:  # traced for another batch size: trace for this one
                self.build_for([np.shape(v) for v in x] if isinstance(x, (list, tuple)) else np.shape(x))
        xs = list(x) if isinstance(x, (list, tuple)) else [x]
        # What the call keeps for its backward holds no layer: set past the tracking setattr.
        state = self.__dict__
        state["_inputs_count"] = len(xs)
        graph, training_graph = self._call_graphs
        if mask is not None and takes_mask(self):  # call receives the mask: its graph reads it
            masks = mask if isinstance(x, (list, tuple)) and isinstance(mask, (list, tuple)) else [mask]
            shapes = self.input_shape if isinstance(self.input_shape, list) else [self.input_shape]
            graph, training_graph = self._masked_call_graphs(tuple(
                None if m is None else tuple(None if i + 1 < len(shape) and shape[i + 1] is None else size
                                             for i, size in enumerate(np.shape(m)[1:]))
                for m, shape in zip(masks, shapes)))  # sizes the input leaves unknown stay so
            xs += [np.asarray(m, dtype=bool) for m in masks if m is not None]
        elif self.__dict__.get("_needs_mask"):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): its call computes with its mask "
                "argument, and was called without one. Give its input a mask (an Embedding with "
                "mask_zero=True or a Masking layer before it), or call it with mask=."
            )
        ran = state["_ran"] = training_graph if training and training_graph is not None else graph
        outputs = ran.forward(xs, training)
        made = ran.output_masks  # masks its own layers gave the outputs (Keras keeps them)
        state["_output_mask"] = None if made is None else made if self._several_outputs else made[0]
        return tuple(outputs) if self._several_outputs else outputs[0]

    def _masked_call_graphs(self, key):
        """The graphs of ``call`` traced with a mask argument, symbolic masks of the shapes in
        ``key`` (each without the batch axis; None where an input has none), traced on first
        use of each."""
        from tinykeras import functional, subclassing

        cache = self.__dict__.setdefault("_masked_graphs", {})
        batch = self._call_batch
        key = key + (batch,)  # traced for the call's batch size, as the call's own graphs
        if key not in cache:
            def traced(training):
                inputs = subclassing.symbolic_inputs(self.input_shape, getattr(self, "_call_dtypes", None),
                                                     keep_batch=True)
                symbolic = [None if shape is None else
                            functional.Input(batch_shape=(batch,) + tuple(shape), dtype="bool", name=f"mask_{i}")
                            for i, shape in enumerate(key[:-1])]
                mask = symbolic if isinstance(self.input_shape, list) else symbolic[0]
                return subclassing.trace(self, inputs, training, mask=mask)[0]

            functional._tracing_layers.append(self)
            try:
                cache[key] = (traced(False), traced(True) if subclassing.takes_training(self.call) else None)
            finally:
                functional._tracing_layers.pop()
        return cache[key]

    def _backward_call(self, dy):
        graph = self._ran
        graph.mark_input_gradients(self.input_gradient)
        d_inputs = graph.backward(list(dy) if self._several_outputs else [dy], wanted=self.input_gradient)
        self.__dict__["grads"] = graph.gradients_of(self.trainable_weights)  # (past the tracking setattr)
        if not self.input_gradient:
            return None
        d_inputs = d_inputs[:self._inputs_count]  # the masks get none
        return d_inputs if len(d_inputs) > 1 else d_inputs[0]

    def _sublayers(self):
        """The layers held by the attributes of a layer computing with ``call`` (found once,
        and again after an attribute is set to a layer or a container that may hold one)."""
        found = self.__dict__.get("_sublayer_list")
        if found is None:
            if not computes_with_call(type(self)):
                found = []
            else:
                from tinykeras.subclassing import tracked_layers

                found = [layer for layer in tracked_layers(self) if layer is not self]
            self.__dict__["_sublayer_list"] = found
        return found

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if computes_with_call(cls) and "__setattr__" not in vars(cls):
            cls.__setattr__ = _tracking_setattr  # its sublayers are found again when they change

    def __copy__(self):
        """A copy computing a second call of the layer (a shared layer): the same variables;
        a layer computing with ``call`` gets its own copies of the calls in its graph."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        if self._call_graphs is not None:
            graph, training_graph = self._call_graphs
            clone._call_graphs = (graph.with_own_runners(), training_graph and training_graph.with_own_runners())
        return clone

    def add_loss(self, loss):
        """Adds ``loss`` (a value ``call`` computes from its inputs or weights; an array counts
        as its sum) to the loss the model minimises, as Keras does: fit adds it to the compiled
        loss (or trains on it alone when compile has none) and back-propagates it. ``losses``
        lists the terms of the last call."""
        from tinykeras import functional

        functional.add_loss(self, loss)

    @property
    def losses(self):
        """The loss terms of the layer's last call (numbers): its add_loss terms (its own and
        its sublayers'), its activity regularization, and its weights' regularization."""
        penalties = [v.regularizer(v.value) for v in self.trainable_weights if v.regularizer is not None]
        return self.pass_losses() + penalties

    def pass_losses(self):
        """The terms of the last forward pass: add_loss terms and the activity regularization
        (``regularizer(output) / batch size``)."""
        ran = self.__dict__.get("_ran")
        terms = ran.added_losses() if self._call_graphs is not None and ran is not None else []
        output = self.__dict__.get("_activity_output")
        if self.activity_regularizer is not None and output is not None:
            terms.append(self.activity_regularizer(output) / max(len(output), 1))
        return terms

    def activity_gradient(self):
        """The gradient of the activity regularization term with respect to the last output."""
        output = self._activity_output
        return self.activity_regularizer.gradient(output) / output.dtype.type(max(len(output), 1))

    @property
    def has_losses(self):
        """Whether its calls compute loss terms (add_loss, activity regularization)."""
        return self.activity_regularizer is not None or (
            self._call_graphs is not None and any(g is not None and g.has_losses for g in self._call_graphs))

    # ---- variables ------------------------------------------------------------------------

    #: The most values one weight may hold (8 GiB in float32). A larger one comes from a size
    #: argument or an input shape that is wrong (in a model file, damaged), and would exhaust
    #: memory before any message could say which.
    max_weight_size = 2**31

    def add_weight(self, *args, **kwargs):
        """Creates, registers and returns a :class:`Variable`, with Keras 3's arguments:
        ``add_weight(shape=None, initializer=None, dtype=None, trainable=True, regularizer=None,
        constraint=None, name=None)``.

        Args:
            shape: its shape.
            initializer: an initializer name or object ('glorot_uniform' by default).
            dtype: float type; by default the layer's dtype, else ``backend.floatx()``.
            trainable: whether the optimizer updates it.
            name: the variable's name ('kernel', 'bias', ...; 'variable', numbered, by default).

        tinykeras' layers name the variable first, ``add_weight("kernel", shape, initializer,
        trainable, dtype)``: a first argument that is a string is read in that order.

        Raises:
            TypeError: for an argument given twice.
            ValueError: for a shape of more than ``max_weight_size`` values, before anything
                is allocated.

        A ``regularizer`` adds its penalty of the weight to the loss (and its gradient to the
        weight's); a ``constraint`` projects the weight after each optimizer step.
        """
        legacy = bool(args) and isinstance(args[0], str)
        order = ("name", "shape", "initializer", "trainable", "dtype") if legacy else (
            "shape", "initializer", "dtype", "trainable", "regularizer", "constraint", "name")
        if len(args) > len(order):
            raise TypeError(f"Layer '{self.name}': add_weight takes at most {len(order)} positional arguments.")
        positional = dict(zip(order, args))
        twice = sorted(set(positional) & set(kwargs))
        if twice:
            raise TypeError(f"Layer '{self.name}': add_weight got {twice} both by position and by name.")
        return self._add_weight(**positional, **kwargs)

    def _add_weight(self, shape=None, initializer=None, dtype=None, trainable=True, regularizer=None,
                    constraint=None, name=None):
        if shape is None:
            raise ValueError(f"Layer '{self.name}': add_weight needs a shape, e.g. add_weight(shape=(4, 8)).")
        initializer = "glorot_uniform" if initializer is None else initializer
        name = name or ("variable" if not self._variables else f"variable_{len(self._variables)}")
        dtype = dtype or self.dtype or backend.floatx()
        shape = tuple(shape)
        size = 1
        for dim in shape:
            if isinstance(dim, (int, np.integer)):
                size *= int(dim)
        if size > self.max_weight_size:
            raise ValueError(
                f"Layer '{self.name}': weight '{name}' of shape {shape} would hold {size:,} values "
                f"({size * np.dtype(dtype).itemsize / 2**30:,.0f} GiB), more than the "
                f"{self.max_weight_size:,} a weight may hold. Check the layer's size arguments "
                "(units, filters, kernel_size) and the input shape it is built for."
            )
        value = initializers.get(initializer)(shape, dtype=dtype)
        variable = Variable(name, np.array(value, dtype=dtype, order="C"), trainable, f"{self.name}/{name}",
                            regularizers.get(regularizer), constraints.get(constraint))
        self._variables.append(variable)
        return variable

    @property
    def weights(self):
        """All variables: trainable first, then non-trainable, as in Keras."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def variables(self):
        """All variables in creation order (the order ``get_weights`` uses); for a layer computing
        with ``call``, its own then its sublayers', trainable ones first, as Keras orders them."""
        if not computes_with_call(type(self)):
            return list(self._variables)
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        own = [v for v in self._variables if v.trainable]
        return own + [v for layer in self._sublayers() for v in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        own = list(self._variables) if not self.trainable else [v for v in self._variables if not v.trainable]
        sublayers = self._sublayers()
        if not self.trainable:
            return own + [v for layer in sublayers for v in layer.weights]
        return own + [v for layer in sublayers for v in layer.non_trainable_weights]

    @property
    def trainable(self):
        """Whether fit updates the layer's weights (setting it sets its sublayers', as Keras)."""
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for layer in self._sublayers():
            layer.trainable = value

    @property
    def input(self):
        """The symbolic tensor the layer was called on in a functional model (a list for a merge
        layer)."""
        node = self._only_node("input")
        return node.inputs if node.several else node.inputs[0]

    @property
    def output(self):
        """The symbolic tensor the layer gave in a functional model."""
        return self._only_node("output").output

    def _only_node(self, what):
        nodes = getattr(self, "_nodes", None)
        tensor = getattr(self, "_tensor", None)  # an InputLayer's
        if tensor is not None:
            return tensor.node
        if not nodes:
            raise AttributeError(
                f"Layer '{self.name}' has no {what}: it has not been called on a symbolic tensor "
                "(keras.Input(...) and the tensors layers return from it)."
            )
        if len(nodes) > 1:
            raise AttributeError(
                f"Layer '{self.name}' is called at {len(nodes)} places, so it has no single {what}: "
                f"take the tensor each call returned."
            )
        return nodes[0]

    def count_params(self):
        """The number of scalars in all the layer's variables."""
        return int(sum(v.value.size for v in self.variables))

    def get_weights(self):
        """Copies of the variables' values, in creation order (Keras' order)."""
        return [v.value.copy() for v in self.variables]

    def set_weights(self, weights):
        """Sets every variable from a list of arrays, after checking all of them.

        Raises:
            ValueError: if the count or a shape differs; TypeError: if an array does not
                hold real numbers. The layer is then left unchanged.
        """
        assign_weights(f"Layer '{self.name}'", self.variables, weights)

    # ---- calling and describing -----------------------------------------------------------

    @completes_before_interrupt
    def __call__(self, x, training=False, mask=None):
        """Applies the layer to an array, or to a list of arrays (a merge layer's inputs),
        building it on first use. On symbolic tensors (from ``keras.Input``) it computes nothing
        and records the call, to build a functional model (``keras.Model(inputs, outputs)``).

        ``mask`` (booleans, False at padded steps) goes to a layer computing with one (a
        recurrent layer, a call taking ``mask``); in a model, masks travel from the layers that
        make them (Embedding with mask_zero, Masking) without being passed.

        Raises:
            TypeError: for a mask given to a layer that takes none.
        """
        from tinykeras import functional

        if mask is not None and not takes_mask(self):
            raise TypeError(
                f"Layer '{self.name}' ({type(self).__name__}) does not compute with a mask: its call "
                "takes no mask argument. Masks reach the layers that use them by themselves in a "
                "model; call this layer without mask=."
            )
        symbolic = x if isinstance(x, (list, tuple)) else [x]
        if any(isinstance(v, functional.KerasTensor) for v in symbolic) or isinstance(mask, functional.KerasTensor):
            return functional.call_symbolic(self, x, mask=mask)
        dtype = self.dtype or backend.floatx()
        # A layer written with call keeps integer inputs (token ids) as they are, as Keras does.
        keeps_integers = with_call = computes_with_call(type(self))
        if isinstance(x, (list, tuple)):
            x = [_input_array(v, dtype, keeps_integers) for v in x]
            shape = [_call_shape(v, with_call) for v in x]
            self._call_dtypes = [v.dtype.name for v in x]
        else:
            x = _input_array(x, dtype, keeps_integers)
            shape = _call_shape(x, with_call)
            self._call_dtypes = x.dtype.name
        if not self.built:
            self.build_for(shape)
        if mask is None:
            return self.forward(x, training=training)
        return self.forward(x, training=training, mask=np.asarray(mask, dtype=bool))

    def build_for(self, input_shape):
        """Builds the layer for ``input_shape`` and records its input and output shapes.

        Raises:
            TypeError: if the layer's class overrides a method that would be silently ignored
                (see :func:`check_protocol`).
        """
        input_shape = list(input_shape) if isinstance(input_shape, list) else tuple(input_shape)
        check_protocol(self)
        if not self.built:
            self.build(input_shape)
            self.built = True
        self.input_shape = input_shape
        if computes_with_call(type(self)):
            if self._call_graphs is None or self._call_batch not in (None, _batch_size(input_shape)):
                self.output_shape = self._trace_call(input_shape)
            else:
                shapes = [tensor.shape for tensor in self._call_graphs[0].outputs]
                self.output_shape = shapes if self._several_outputs else shapes[0]
        else:
            shape = self.compute_output_shape(input_shape)
            # A list holds one shape per output, for a layer giving several (return_state).
            self.output_shape = [tuple(s) for s in shape] if isinstance(shape, list) else tuple(shape)
        return self.output_shape

    def get_config(self):
        """The constructor arguments, so that ``type(layer)(**config)`` rebuilds the layer. For
        a layer class of the user's that does not define it, as in Keras: name, trainable and
        dtype, and the arguments its ``__init__`` received (plain values only)."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype or backend.floatx()}
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        if self.batch_input_shape is not None:
            config["batch_input_shape"] = self.batch_input_shape
        if not type(self).__module__.startswith("tinykeras."):
            from tinykeras.saving import dtype_policy
            from tinykeras.subclassing import init_arguments

            config["dtype"] = dtype_policy(config["dtype"])
            config.update(init_arguments(self))
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


class ActivatedLayer(Layer):
    """A layer whose output is ``activation(z)`` for a linear part z (Dense, Conv2D, Activation).

    Subclasses implement ``forward_linear`` and ``backward_linear``. Keeping the two parts apart
    lets the model take a softmax or sigmoid output's loss straight from the logits ``z``, as
    Keras does, which is both exact and stable.

    A layer that sets ``fuses_relu`` applies a ReLU activation itself: ``forward_linear(x,
    training, relu=True)`` returns relu(z) computed in z's place, in the same pass as the bias,
    and ``backward_linear(dy, relu=True)`` takes the gradient through the ReLU from the output
    alone (relu(z) > 0 exactly where z > 0). The layer then keeps one array per step instead of
    two, and ``logits`` is None.
    """

    fuses_relu = False

    def __init__(self, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.logits = None
        self._y = None

    def forward_linear(self, x, training=False):
        return x

    def backward_linear(self, dz):
        return dz

    def _relu_fused(self):
        return self.fuses_relu and self.activation is activations.relu

    def forward(self, x, training=False):
        if self._relu_fused():
            self.logits = None
            self._y = self.forward_linear(x, training, relu=True)
            return self._y
        z = self.forward_linear(x, training)
        if self.activation is activations.linear:
            self.logits = self._y = z
            return z
        self.logits = z
        self._y = self.activation.forward(z)
        return self._y

    def backward(self, dy):
        if self._relu_fused():
            return self.backward_linear(dy, relu=True)
        if self.activation is not activations.linear:
            dy = self.activation.backward(dy, self.logits, self._y)
        return self.backward_linear(dy)

    def get_config(self):
        return {**super().get_config(), "activation": self.activation.name}


_GUIDE = "(see the README section 'Write a layer, check its gradient')"
_BACKWARD = (
    "backward receives dLoss/doutput, returns dLoss/dinput and sets self.grads to one gradient "
    "per trainable weight, in the order of trainable_weights; check it with "
    "tinykeras.utils.check_gradients(layer, x)."
)


def check_protocol(layer):
    """Checks that every method ``layer``'s class overrides is one the model runs.

    A model runs a layer through ``build``, ``compute_output_shape``, ``forward`` and
    ``backward`` (an :class:`ActivatedLayer` through ``forward_linear`` and ``backward_linear``).
    Keras' ``call``, or a ``__call__``, defined in a subclass of the class whose ``forward`` (or
    ``forward_linear``) runs would never run, and a ``forward`` whose ``backward`` is still the
    base class's identity would train on wrong gradients. A ``backward`` of its own under an
    inherited ``forward`` is allowed (a gradient-reversal layer, say).

    Raises:
        TypeError: naming the layer, the method and the fix.
    """
    cls = type(layer)
    mro = cls.__mro__

    def owner(name):
        return next((klass for klass in mro if name in vars(klass)), None)

    def depth(name):  # 0 for a method of the class itself, larger for inherited ones
        klass = owner(name)
        return len(mro) if klass is None else mro.index(klass)

    what = f"Layer '{layer.name}' ({cls.__name__})"
    if computes_with_call(cls):
        if owner("backward") is not Layer:
            raise TypeError(
                f"{what} defines call() and backward(): a layer written with call gets its backward "
                "from the ops and layers call uses; backward would never run. Remove it, or "
                "write forward(x, training) in place of call."
            )
        return
    computes = min(depth("forward"), depth("forward_linear"))
    if owner("forward") is Layer:
        outcome = "pass its input through unchanged"
    else:
        runs = owner("forward") if depth("forward") <= depth("forward_linear") else owner("forward_linear")
        outcome = f"compute only what {runs.__name__} computes"
    if depth("call") < computes:
        raise TypeError(
            f"{what} defines call(); tinykeras layers compute with forward(x, training) and "
            f"backward(dy) {_GUIDE}. Rename call to forward and write its backward: {_BACKWARD} "
            f"As written, call() would never run and the layer would {outcome}."
        )
    if depth("__call__") < computes:
        raise TypeError(
            f"{what} defines __call__(); a model runs its layers through forward(x, training) and "
            f"backward(dy) {_GUIDE}, never through __call__. Move the computation into forward "
            f"and write its backward: {_BACKWARD} As written, the layer would {outcome} in a model."
        )
    for forward, backward, identity in (
        ("forward", "backward", Layer),
        ("forward_linear", "backward_linear", ActivatedLayer),
    ):
        if owner(forward) not in (None, Layer, ActivatedLayer) and owner(backward) is identity:
            raise TypeError(
                f"{what} overrides {forward}() but not {backward}(): the inherited {backward} "
                f"passes the gradient through unchanged, so fit would train on wrong gradients "
                f"(and none for the layer's weights). Write {backward}(dy) {_GUIDE}. {_BACKWARD}"
            )


#: The regularizer and constraint arguments of a layer with a kernel and a bias.
WEIGHT_OPTIONS = ("kernel_regularizer", "bias_regularizer", "kernel_constraint", "bias_constraint")


def set_weight_options(layer, **options):
    """Sets a layer's ``<weight>_regularizer`` and ``<weight>_constraint`` attributes from Keras'
    arguments (names, config dicts, objects or None)."""
    for key, value in options.items():
        setattr(layer, key, (regularizers if key.endswith("_regularizer") else constraints).get(value))


def weight_options_config(layer, *keys):
    """Those attributes as Keras writes them in a layer's config."""
    return {key: (regularizers if key.endswith("_regularizer") else constraints).serialize(getattr(layer, key))
            for key in keys}


def _tracking_setattr(layer, name, value):
    """``setattr`` of a layer written with call: forgets its list of sublayers when the value
    may hold a layer."""
    if _may_hold_layers(value):
        layer.__dict__.pop("_sublayer_list", None)
    object.__setattr__(layer, name, value)


def _may_hold_layers(value):
    """Whether an attribute's new value is a layer or model, or a list, tuple or dict holding
    one (or holding containers)."""
    if hasattr(value, "trainable_weights") and not isinstance(value, Variable):
        return True
    if isinstance(value, (list, tuple, dict)):
        items = value.values() if isinstance(value, dict) else value
        return any(hasattr(item, "trainable_weights") or isinstance(item, (list, tuple, dict)) for item in items)
    return False


def _call_shape(array, with_call):
    """The shape a layer called on ``array`` is built for: the batch size left unknown, but
    kept for a layer written with call (it is traced for it; call may read ``inputs.shape[0]``)."""
    return array.shape if with_call else (None,) + array.shape[1:]


def _batch_size(shape):
    """The batch size of an input shape (the first input's, for a list of shapes)."""
    return shape[0][0] if isinstance(shape, list) else shape[0]


def _input_array(value, dtype, keeps_integers):
    """A batch as an array of the layer's float type (integers kept when ``keeps_integers``)."""
    array = np.asarray(value)
    if keeps_integers and array.dtype.kind in "iub":
        return array
    return array.astype(dtype, copy=False)


def _dtype_name(dtype):
    """A dtype, or Keras' serialized DTypePolicy ({'class_name': 'DTypePolicy', 'config':
    {'name': 'float32'}}, as a custom layer's get_config gives it), as a name."""
    if isinstance(dtype, dict) and isinstance(dtype.get("config"), dict):
        return dtype["config"].get("name")
    return dtype


def _batch_input_shape(where, kwargs):
    """Reads Keras' ways of giving the input shape into one (batch, ...) tuple, or None.

    Args:
        where: the layer's class name, for the messages.
        kwargs: the constructor's keywords: ``batch_input_shape``, or ``input_shape`` (an int
            for 1-D samples, else a tuple) or ``input_dim``, with an optional ``batch_size``.

    Raises:
        TypeError: when a size is not an integer (None stands for a size not known in advance).
        ValueError: when a size is smaller than 1.
    """
    batch_size = check_optional_int(kwargs.get("batch_size"), "batch_size", where, minimum=1)
    if kwargs.get("batch_input_shape") is not None:
        return standardize_shape(kwargs["batch_input_shape"], "batch_input_shape", where)
    if kwargs.get("input_shape") is not None:
        shape = kwargs["input_shape"]
        shape = (shape,) if is_integer(shape) else shape
        return (batch_size,) + standardize_shape(shape, "input_shape", where)
    if kwargs.get("input_dim") is not None:
        return (batch_size, check_int(kwargs["input_dim"], "input_dim", where, minimum=1))
    return None
