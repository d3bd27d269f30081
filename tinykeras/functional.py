"""The functional API: ``keras.Input``, layers called on symbolic tensors, ``keras.Model(inputs,
outputs)``.

Calling a layer on a :class:`KerasTensor` computes nothing: it builds the layer for the tensor's
shape and records a :class:`Node` (the layer, the tensors it was called on, the tensor it gave).
``Model(inputs, outputs)`` walks the nodes back from the output to the input and keeps them in an
order where every node comes after the nodes it reads from. Training runs that order forward,
then backward in reverse, summing the gradients of a tensor that several nodes read (a residual
connection).
"""
import contextlib
import copy
import warnings
from operator import itemgetter

import numpy as np

from tinykeras import backend
from tinykeras.ops.operation import Operation
from tinykeras.ops.operators import Operators

#: The lists collecting the nodes recorded while a subclassed model's or a custom layer's call
#: is traced, and the custom layers whose call is being traced (innermost last).
_recorders = []
_tracing_layers = []


#: What a call being traced records besides its result (one Effects per trace, innermost
#: last): its add_loss terms and its assignments to variables.
_effects = []


class Effects:
    """The add_loss terms of a traced call (``terms``: tensors, or constant arrays) and its
    assignments to variables (``assigned``: variable id -> the tensor of its last assignment,
    which later reads in the call read)."""

    def __init__(self):
        self.terms = []
        self.assigned = {}


def tracing():
    """Whether a call is being traced (then an op on variables alone records a node too)."""
    return bool(_recorders)


@contextlib.contextmanager
def recording():
    """Collects every node recorded inside the block into the list it yields."""
    nodes = []
    _recorders.append(nodes)
    try:
        yield nodes
    finally:
        _recorders.pop()  # the blocks nest: this one's list is the last


@contextlib.contextmanager
def collecting_effects():
    """Collects the add_loss terms and variable assignments of the call traced inside the
    block into the :class:`Effects` it yields."""
    effects = Effects()
    _effects.append(effects)
    try:
        yield effects
    finally:
        _effects.pop()


def assigned(variable):
    """The tensor of ``variable``'s last assignment in the call being traced, or None."""
    return _effects[-1].assigned.get(id(variable)) if _effects else None


def add_loss(owner, value):
    """Records ``value``, computed inside ``owner``'s ``call`` from its inputs or weights, as a
    term added to the model's loss: its graph computes the term at every forward pass (its sum
    for an array), the model adds it to the loss, and backward gives it the gradient 1.

    Raises:
        TypeError: outside a call being traced, where no graph would compute the term again.
    """
    if not _effects:
        raise TypeError(
            f"{type(owner).__name__} '{owner.name}': add_loss takes a value computed inside "
            "call() (from its inputs or weights, e.g. self.add_loss(0.01 * ops.mean(inputs))); "
            "a value given outside call() would never be computed again."
        )
    _effects[-1].terms.append(value if isinstance(value, KerasTensor) else np.asarray(value))


def forget(nodes):
    """Takes ``nodes`` back off their layers (a traced call is the model's, not the layer's)."""
    for node in nodes:
        recorded = getattr(node.layer, "_nodes", None) or []
        kept = [other for other in recorded if other is not node]
        node.layer._nodes = kept or None


class KerasTensor(Operators):
    """A symbolic tensor: a shape (the batch axis None), a dtype, and where it comes from.

    Attributes:
        shape: the shape, batch axis first.
        dtype: the float type.
        name: a name for messages.
    """

    #: The shape of the mask the tensor carries when computed (None for none): found when the
    #: model is built, so that a layer whose call takes a mask is traced with one.
    mask_shape = None

    def __init__(self, shape, dtype, node=None, name=None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.node = node
        self.name = name or backend.unique_name("keras_tensor")

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, sparse=False, name={self.name}>"

    __hash__ = object.__hash__

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            f"{self.name} is a symbolic tensor (shape {self.shape}): it holds no values. Call a "
            "model built from it on data (model.predict(x)) to compute values."
        )


class Node:
    """One call of a layer on symbolic tensors: ``outputs = layer(inputs)``.

    A layer called at several places of a model (shared weights) computes each call through its
    own ``runner``: the layer itself for its first call, then a shallow copy of it. The copy
    shares the layer's Variable objects (so the weights, their updates and their files stay one)
    while what forward keeps for backward belongs to each copy, that is, to each call.
    """

    def __init__(self, layer, inputs, output, runner=None):
        self.layer = layer
        self.runner = runner or layer
        self.inputs = inputs  # a list of KerasTensors
        self.several = False  # whether the layer was called on a list
        self.output = output
        #: The symbolic mask the call was given (``layer(x, mask=m)``), in place of the one its
        #: input carries; None for none.
        self.mask = None

    @property
    def is_input(self):
        """Whether this is an Input's node (no call: the model is fed there). An op computing
        from variables alone reads no tensor either, but is a call."""
        return not self.inputs and not getattr(self.layer, "is_operation", False)

    @property
    def index(self):
        """Which call of its layer this is (0 for the first), as Keras numbers nodes."""
        nodes = getattr(self.layer, "_nodes", None) or [self]
        return nodes.index(self)

    def __repr__(self):
        return f"<Node {self.layer.name}({', '.join(t.name for t in self.inputs)})>"


def Input(shape=None, batch_size=None, name=None, dtype=None, batch_shape=None):
    """The start of a model: a symbolic tensor of one sample's ``shape`` (or the whole
    ``batch_shape``), for the functional API (``keras.Model(inputs, outputs)``) and as the first
    entry of a Sequential.

    Args:
        shape: the shape of one sample, without the batch axis.
        batch_size: optional fixed batch size.
        name: the name of the InputLayer behind it.
        dtype: its float type (``backend.floatx()`` by default).
        batch_shape: the full shape including the batch axis (instead of shape).
    """
    from tinykeras.layers.core import InputLayer

    if batch_shape is not None:
        layer = InputLayer(name=name, dtype=dtype, batch_input_shape=tuple(batch_shape))
    else:
        layer = InputLayer(shape=shape, batch_size=batch_size, name=name, dtype=dtype)
    return input_tensor(layer)


def input_tensor(layer):
    """The symbolic tensor an InputLayer stands for (made once per layer)."""
    if getattr(layer, "_tensor", None) is None:
        layer._tensor = KerasTensor(layer.batch_input_shape, layer.dtype or backend.floatx(), name=layer.name)
        layer._tensor.node = Node(layer, [], layer._tensor)
        layer.built = True
        layer.input_shape = layer.output_shape = layer._tensor.shape
    return layer._tensor


def call_symbolic(layer, inputs, mask=None):
    """``layer(inputs)`` on symbolic tensors (``mask``: a symbolic mask given to the call, or
    None): builds the layer for their shapes, checks them, records the node and returns its
    output tensor.

    Raises:
        ValueError: naming the layer and the shapes, when the layer cannot take them or was
            built for others (a layer called again takes inputs of the shape it was built for).
    """
    several = isinstance(inputs, (list, tuple))
    tensors = list(inputs) if several else [inputs]
    if not all(isinstance(t, KerasTensor) for t in tensors):
        raise TypeError(
            f"Layer '{layer.name}' was called on a list mixing symbolic tensors and arrays: call it "
            "on symbolic tensors (from keras.Input) to build a model, or on arrays to compute."
        )
    shapes = [t.shape for t in tensors]
    shape = shapes if several else shapes[0]
    if not layer.built:  # a layer written with call is traced on tensors of these types
        layer._call_dtypes = [np.dtype(t.dtype).name for t in tensors] if several else np.dtype(tensors[0].dtype).name
    mask_shapes = [mask.shape] if mask is not None else [t.mask_shape for t in tensors]
    layer.__dict__["_symbolic_masks"] = mask_shapes if any(m is not None for m in mask_shapes) else None
    expected = layer.input_shape if layer.built else None
    if layer.built and expected is not None and not _fits(expected, shape):
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) was built for inputs of shape "
            f"{expected}; it is called on {shape}."
        )
    try:
        output_shape = layer.build_for(shape)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) cannot be called on inputs of shape "
            f"{shape}: {error}"
        ) from None
    several_outputs = isinstance(output_shape, list)
    output = KerasTensor(output_shape, layer.dtype or tensors[0].dtype)
    nodes = getattr(layer, "_nodes", None)
    runner = None
    if nodes:  # called again: this call computes through a copy sharing the variables
        runner = copy.copy(layer)
        runner._nodes = None
        runner.build_for(shape)
    node = Node(layer, tensors, output, runner)
    node.several = several
    output.mask_shape = _output_mask_shape(layer, tensors, mask_shapes, several, mask is not None)
    if mask is not None:
        if not isinstance(mask, KerasTensor):
            raise TypeError(
                f"Layer '{layer.name}' ({type(layer).__name__}) is called on symbolic tensors with a "
                f"mask of type {type(mask).__name__}: give a symbolic mask (a tensor computed from "
                "the model's inputs, such as embedding.compute_mask(inputs)) or none."
            )
        node.mask = mask
    output.node = node
    layer._nodes = (nodes or []) + [node]
    for recorder in _recorders:
        recorder.append(node)
    if several_outputs:
        picked = tuple(_pick(output, index, shape) for index, shape in enumerate(output_shape))
        if isinstance(output.mask_shape, list):
            for tensor, mask_shape in zip(picked, output.mask_shape):
                tensor.mask_shape = mask_shape
        return picked
    return output


def _output_mask_shape(layer, tensors, mask_shapes, several, given):
    """The shape of the mask ``layer``'s output will carry (a list for several outputs; None
    for none), found by computing it on small arrays of the inputs' shapes: the mask that
    forward passes set (see ``output_mask``), without the values."""
    if not hasattr(layer, "compute_mask"):
        return None
    masked = any(m is not None for m in mask_shapes)
    if not getattr(layer, "supports_masking", False) or getattr(layer, "_call_graphs", None) is not None:
        if getattr(layer, "makes_masks", False):  # its own layers make one (a call, a model)
            shape = layer.output_shape
            return [tuple(s[:-1]) for s in shape] if isinstance(shape, list) else tuple(shape[:-1])
        return None
    def made(size):  # the mask on arrays whose unknown sizes are ``size``
        arrays = [np.zeros([size if d is None else d for d in t.shape], dtype=t.dtype) for t in tensors]
        masks = [None if m is None else np.ones([size if d is None else d for d in m], dtype=bool) for m in mask_shapes]
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            found = layer.compute_mask(arrays if several else arrays[0],
                                       masks[0] if given or not several else (masks if masked else None))
        return list(found) if isinstance(found, (list, tuple)) else [found]

    try:
        first, second = made(2), made(3)
    except (TypeError, ValueError):
        return None
    shapes = [None if a is None else tuple(x if x == y else None for x, y in zip(np.shape(a), np.shape(b)))
              for a, b in zip(first, second)]
    return shapes if len(shapes) > 1 else shapes[0]


def _any_mask(mask):
    return any(m is not None for m in mask) if isinstance(mask, list) else mask is not None


def takes_mask(runner):
    from tinykeras.layers.base import takes_mask as takes

    return takes(runner)


def output_mask(runner, inputs, mask):
    """The mask of ``runner``'s last output, read with ``inputs`` whose mask is ``mask``, as
    Keras sets it: the one the call's own layers gave (a layer written with call, a model), else
    ``compute_mask(inputs, mask)`` for a layer that supports masking. A layer that does not,
    reached by a mask, drops it with Keras' warning; an op gives none."""
    if getattr(runner, "is_operation", False):
        return None
    made = runner.__dict__.get("_output_mask")
    if getattr(runner, "supports_masking", False):
        return made if made is not None else runner.compute_mask(inputs, mask)
    if _any_mask(mask):
        warnings.warn(
            f"Layer '{runner.name}' (of type {type(runner).__name__}) was passed an input with a "
            "mask attached to it. However, this layer does not support masking and will therefore "
            "destroy the mask information. Downstream layers will not see the mask.",
            stacklevel=2,
        )
    return made


class Parts(list):
    """The gradients of the outputs of a layer computing several (None where none reached
    one): added up part by part."""

    def __add__(self, other):
        return Parts(b if a is None else a if b is None else a + b for a, b in zip(self, other))

    __radd__ = __add__


class Pick(Operation):
    """Output ``index`` of a layer computing several outputs (``a, b = layer(x)``): a node of
    its own reading the layer's node, whose gradient is ``dy`` in the part ``index``."""

    structural = True

    def __init__(self, index, count):
        super().__init__(name=backend.unique_name("pick"))
        self.index, self.count = index, count

    def compute(self, outputs):
        return outputs[self.index]

    def vjp(self, dy):
        parts = Parts([None] * self.count)
        parts[self.index] = dy
        return (parts,)


def _pick(packed, index, shape):
    """The tensor of output ``index`` (of ``shape``) of the node that made ``packed``."""
    op = Pick(index, len(packed.shape))
    op.bind([packed], lambda operand: True)
    return record(op, [packed], shape, packed.dtype)


def call_operation(op, operands):
    """An op (``tinykeras.ops``) called with symbolic tensors among its operands: records its
    node, whose output has the shape the op gives (found by running it on ones).

    Raises:
        ValueError: naming the op and the operands' shapes, when they do not fit it.
    """
    operands = [assigned(o) or o if _is_variable(o) else o for o in operands]  # read after a write
    op.bind(operands, lambda operand: isinstance(operand, KerasTensor))
    tensors = [operands[i] for i in op._symbolic]
    return record(op, tensors, *_inferred_output(op, tensors))


def record(op, tensors, shape, dtype):
    """Records the node of a bound ``op`` reading ``tensors``, whose output has ``shape`` and
    ``dtype``; returns that output."""
    output = KerasTensor(shape, dtype)
    node = Node(op, tensors, output)
    node.several = True
    output.node = node
    op._nodes = [node]
    op.owner = _tracing_layers[-1] if _tracing_layers else None
    for recorder in _recorders:
        recorder.append(node)
    return output


def _is_variable(value):
    from tinykeras.layers.base import Variable

    return isinstance(value, Variable)


def _inferred_output(op, tensors):
    """The output shape and dtype of ``op`` on ``tensors``: it runs on arrays of ones twice,
    unknown sizes (None) set to 2 then 3; output axes whose size changes are unknown."""

    results = []
    for size in (2, 3):
        trial = copy.copy(op)
        # Ones, or zeros for integers (an index of 0 fits every axis).
        arrays = [(np.zeros if np.dtype(t.dtype).kind in "iub" else np.ones)(
            [size if d is None else d for d in t.shape], dtype=t.dtype) for t in tensors]
        try:
            with np.errstate(all="ignore"):
                results.append(np.asarray(trial.forward(arrays)))
        except (ValueError, TypeError, IndexError) as error:
            shapes = ", ".join(str(t.shape) for t in tensors)
            raise ValueError(f"ops.{op.name}: cannot take operands of shape {shapes}: {error}") from None
    first, second = results
    shape = tuple(None if a != b else a for a, b in zip(first.shape, second.shape))
    return shape, first.dtype.name


def _fits(expected, received):
    """Whether a layer built for ``expected`` takes ``received`` (batch axes aside; an axis
    built with no size, such as a sequence's of any length, takes any)."""
    if isinstance(received, list):
        return isinstance(expected, (list, tuple)) and len(expected) == len(received) and all(
            _fits(e, r) for e, r in zip(expected, received))
    expected, received = tuple(expected)[1:], tuple(received)[1:]
    return len(expected) == len(received) and all(e is None or e == r for e, r in zip(expected, received))


def graph(inputs, outputs, optional=()):
    """The nodes between the ``inputs`` and ``outputs`` tensors (lists), in an order where each
    comes after the nodes it reads from (the masks given to calls included); inputs among
    ``optional`` may reach no output.

    Raises:
        ValueError: when an output depends on an Input that is not among ``inputs`` (naming it),
            or an input reaches no output.
    """
    order, seen = [], set()
    given = {id(t) for t in inputs}

    def visit(tensor, output):
        node = tensor.node
        if id(node) in seen:
            return
        seen.add(id(node))
        if id(tensor) in given:
            return
        if node.is_input:
            raise ValueError(
                f"The model's output {output.name} depends on the Input '{node.layer.name}', "
                "which is not among the model's inputs "
                f"({', '.join(repr(t.node.layer.name) for t in inputs)}). Pass it in inputs."
            )
        for parent in node.inputs:
            visit(parent, output)
        if node.mask is not None:
            visit(node.mask, output)
        order.append(node)

    for output in outputs:
        visit(output, output)
    skipped = {id(t) for t in optional}
    unused = [t.node.layer.name for t in inputs if id(t.node) not in seen and id(t) not in skipped]
    if unused:
        raise ValueError(
            f"The model's outputs ({', '.join(t.name for t in outputs)}) do not depend on its "
            f"input(s) {', '.join(repr(name) for name in unused)}: build the outputs by calling "
            "layers on every input, or leave the unused inputs out of Model(inputs=...)."
        )
    return order


def chain(input_tensor, layers):
    """The nodes of a Sequential: each layer called on the previous one's output. Each layer
    records its node, as a call on a symbolic tensor does, so that ``layer.output`` of a
    Sequential's layer can start another model (a feature extractor); the Sequential takes
    them back (:func:`forget`) when it rebuilds its chain."""
    nodes, tensor = [], input_tensor
    for layer in layers:
        output = KerasTensor(layer.output_shape, layer.dtype or tensor.dtype)
        recorded = getattr(layer, "_nodes", None) or []
        node = Node(layer, [tensor], output, copy.copy(layer) if recorded else None)
        if recorded:  # a layer already called elsewhere computes this call through a copy
            node.runner._nodes = None
        layer._nodes = recorded + [node]
        output.node = node
        nodes.append(node)
        tensor = output
    return nodes


class Graph:
    """The calls of a model between its input and output tensors (see :func:`graph`), run
    forward in order and backward in reverse.

    Args:
        inputs, outputs: lists of KerasTensors.
        nodes: the nodes in order (:func:`graph` or :func:`chain`).
    """

    def __init__(self, inputs, outputs, nodes, losses=()):
        self.inputs, self.outputs, self.nodes = list(inputs), list(outputs), list(nodes)
        #: The terms ``add_loss`` recorded in the traced call (tensors, or constant arrays).
        self.losses = list(losses)
        #: Whether the traced call returned a tuple or list (a layer's outputs then a tuple).
        self.several_outputs = len(self.outputs) > 1
        #: The add_loss terms of the last forward pass, each summed to a number.
        self.loss_values = []
        self._lossy = None
        self._along = None
        self._trainer_ids = None
        #: The nodes that no gradient must pass through (see mark_input_gradients), and the
        #: index of the first other one.
        self._idle, self._first_busy = set(), 0
        self._marks = {}  # wanted -> (each node's input_gradient, the idle nodes, the first busy)
        read = [id(t) for node in self.nodes for t in node.inputs] + [id(t) for t in self.outputs]
        #: For each output, whether nothing but the loss reads it (so the loss may start from
        #: the logits of the node that computes it).
        self.exclusive = [read.count(id(t)) == 1 and not t.node.is_input for t in self.outputs]
        #: The later calls of shared layers, computing through copies of them.
        self.copies = [node for node in self.nodes if node.runner is not node.layer]
        #: Whether a forward pass carries masks: some call makes one (an Embedding with
        #: mask_zero, a Masking layer, a layer defining compute_mask) or is given one. Without,
        #: forward runs as if masks did not exist.
        self.masked = any(node.mask is not None or getattr(node.runner, "makes_masks", False) for node in self.nodes)
        #: After a forward pass that carried masks: each output's mask (None for none).
        self.output_masks = None
        #: Whether each node reads the one before it alone, from the input to the output (a
        #: Sequential's graph, or a custom layer's call such as ``ops.matmul(x, self.w) + self.b``):
        #: forward and backward then pass one array along (an op's in a list of one).
        self.chain = len(self.inputs) == 1 and len(self.outputs) == 1 and bool(self.nodes) and all(
            len(node.inputs) == 1 and (not node.several or getattr(node.runner, "is_operation", False))
            and node.inputs[0] is (self.nodes[i - 1].output if i else self.inputs[0])
            for i, node in enumerate(self.nodes)) and self.outputs[0] is self.nodes[-1].output

    def owners(self):
        """Each runner with trainable weights, with them (a layer called here, or an op reading
        variables)."""
        owners = [(node.runner, node.runner.trainable_weights) for node in self.nodes]
        return [(runner, variables) for runner, variables in owners if variables]

    def gradients_of(self, variables):
        """After ``backward``: the gradient of each of ``variables``, summed over the calls that
        read it (zeros for one no call reached)."""
        total = {id(v): g for g, v in gradient_pairs(self.owners())}
        return [total[id(v)] if id(v) in total else np.zeros_like(v.value) for v in variables]

    def with_own_runners(self):
        """A copy whose nodes compute through copies of the runners (sharing their variables):
        for a model called at a second place of another, so that each call keeps what its
        forward saved for its backward."""
        nodes = [Node(node.layer, node.inputs, node.output, copy.copy(node.runner)) for node in self.nodes]
        for new, old in zip(nodes, self.nodes):
            new.several, new.mask = old.several, old.mask
            new.runner._nodes = None
        return Graph(self.inputs, self.outputs, nodes, self.losses)

    @property
    def has_losses(self):
        """Whether a forward pass computes add_loss terms (its own or its layers')."""
        return bool(self.losses) or bool(self._lossy_nodes())

    def _lossy_nodes(self):
        """The ids of the nodes whose runner computes add_loss terms (found once)."""
        if self._lossy is None:
            self._lossy = {id(node) for node in self.nodes if getattr(node.runner, "has_losses", False)}
        return self._lossy

    def added_losses(self):
        """The add_loss terms of the last forward pass: this graph's, then its layers'."""
        found = list(self.loss_values)
        for node in self.nodes:
            if id(node) in self._lossy_nodes():
                found += node.runner.pass_losses()
        return found

    def ancestors(self, output_indices):
        """The ids of the nodes that the outputs at ``output_indices`` are computed from, and
        those the add_loss terms are."""
        found = set()
        stack = [self.outputs[i].node for i in output_indices]
        stack += [t.node for t in self.losses if isinstance(t, KerasTensor)]
        stack += [node for node in self.nodes if id(node) in self._lossy_nodes()]
        while stack:
            node = stack.pop()
            if id(node) not in found and not node.is_input:
                found.add(id(node))
                stack.extend(t.node for t in node.inputs)
        return found

    def forward(self, xs, training, masks=None):
        """The outputs (a list) for the batches ``xs``, one per input (whose masks are
        ``masks``: None, or one mask or None per input)."""
        if self.masked or (masks is not None and any(m is not None for m in masks)):
            return self._masked_forward(xs, training, masks)
        self.output_masks = None
        if self._passes_along():
            x = xs[0]
            for node in self.nodes:
                x = node.runner.forward([x] if node.several else x, training)
            return [x]
        values = {id(t): x for t, x in zip(self.inputs, xs)}
        for node in self.nodes:
            arguments = [values[id(t)] for t in node.inputs]
            values[id(node.output)] = node.runner.forward(arguments if node.several else arguments[0], training)
        if self.losses or self._lossy_nodes():
            self._keep_loss_terms(values)
        return [values[id(t)] for t in self.outputs]

    def _masked_forward(self, xs, training, input_masks):
        """``forward`` carrying each tensor's mask from the call that made it to the calls that
        read it, as Keras does: a call taking ``mask`` receives its input's (or the one it was
        given), and its output's is ``compute_mask(inputs, mask)`` for a layer that supports
        masking; a layer that does not drops it, with Keras' warning. Leaves ``output_masks``."""
        values = {id(t): x for t, x in zip(self.inputs, xs)}
        masks = {id(t): m for t, m in zip(self.inputs, input_masks or ()) if m is not None}
        for node in self.nodes:
            arguments = [values[id(t)] for t in node.inputs]
            x = arguments if node.several else arguments[0]
            runner = node.runner
            if isinstance(runner, Pick):  # output i of a layer giving several: its mask i
                packed = masks.get(id(node.inputs[0]))
                values[id(node.output)] = runner.forward(x, training)
                if isinstance(packed, list) and packed[runner.index] is not None:
                    masks[id(node.output)] = packed[runner.index]
                continue
            if node.mask is not None:
                mask = values[id(node.mask)]
            else:
                given = [masks.get(id(t)) for t in node.inputs]
                mask = given if node.several else given[0]
            if takes_mask(runner) and (node.mask is not None or _any_mask(mask)):
                values[id(node.output)] = runner.forward(x, training, mask=mask)
            else:
                values[id(node.output)] = runner.forward(x, training)
            made = output_mask(runner, x, mask)
            if made is not None:
                masks[id(node.output)] = made
        if self.losses or self._lossy_nodes():
            self._keep_loss_terms(values)
        self.output_masks = [masks.get(id(t)) for t in self.outputs]
        return [values[id(t)] for t in self.outputs]

    def _keep_loss_terms(self, values):
        """Keeps the add_loss terms of this pass, and the outputs' shapes of the nodes adding
        terms (a gradient of zeros reaches those that nothing else differentiates)."""
        terms = [values[id(t)] if isinstance(t, KerasTensor) else t for t in self.losses]
        self._loss_terms = terms
        self.loss_values = [float(np.sum(term)) for term in terms]
        self._lossy_outputs = {
            id(node): (np.shape(values[id(node.output)]), np.result_type(values[id(node.output)]))
            for node in self.nodes if id(node) in self._lossy_nodes()
        }
        for node in self.nodes:
            if id(node) in self._lossy_nodes() and getattr(node.runner, "activity_regularizer", None) is not None:
                node.runner._activity_output = values[id(node.output)]

    def mark_input_gradients(self, wanted):
        """Sets each node's ``input_gradient``: whether its backward must return dL/dinput, that
        is whether a gradient must flow back through what it reads: to a call before it that
        holds trainable variables, or to one reading from such a call, or, with ``wanted`` (a
        model that is a layer of another), to the model's inputs. The calls no gradient must
        flow through (weight-free layers at the front of a model: Rescaling, random
        augmentation) are not differentiated at all."""
        marks = self._marks.get(wanted)
        if marks is None:  # they depend on the graph alone: found once for each ``wanted``
            inputs = {id(t) for t in self.inputs}
            trainers = self._trainers()
            flowing = set()  # the tensors whose gradient someone needs
            flags = []
            for node in self.nodes:
                flags.append(any(id(t) in flowing or (wanted and id(t) in inputs) for t in node.inputs))
                if flags[-1] or id(node) in trainers:
                    flowing.add(id(node.output))
            idle = {id(node) for node in self.nodes if id(node.output) not in flowing}
            first_busy = next((i for i, node in enumerate(self.nodes) if id(node) not in idle), len(self.nodes))
            marks = self._marks[wanted] = (flags, idle, first_busy)
        flags, self._idle, self._first_busy = marks
        for node, flag in zip(self.nodes, flags):  # set at each call: a shared runner may have
            node.runner.input_gradient = flag  # been marked by another graph since

    def _trainers(self):
        """The ids of the nodes whose call holds a trainable variable (frozen or not: a layer
        frozen later trains again when unfrozen), found once."""
        if self._trainer_ids is None:
            self._trainer_ids = {
                id(node) for node in self.nodes
                if any(v.trainable for v in (node.runner.variables if getattr(node.runner, "is_operation", False)
                                             else node.runner.weights))
            }
        return self._trainer_ids

    def backward(self, output_grads, starts=None, wanted=False):
        """Back-propagates the gradients of the outputs through every node in reverse, summing
        the gradients of a tensor several nodes read.

        Args:
            output_grads: one gradient per output (None for an output no loss reaches).
            starts: {output index: step} for exclusive outputs whose gradient is given with
                respect to something else (the logits): ``step`` stands in for the backward of
                the node computing that output.
            wanted: return the gradients of the inputs.

        Returns:
            With ``wanted``, one gradient per input (None where nothing reached it).
        """
        if self._passes_along() and output_grads[0] is not None:
            return self._chain_backward(output_grads[0], (starts or {}).get(0), wanted)
        grads, steps = {}, {}
        for tensor, term in zip(self.losses, getattr(self, "_loss_terms", ())):
            if isinstance(tensor, KerasTensor):  # d(loss)/d(term) = 1 for each of its values
                key = id(tensor)
                ones = np.ones_like(term)
                grads[key] = ones if key not in grads else grads[key] + ones
        for index, (tensor, grad) in enumerate(zip(self.outputs, output_grads)):
            if grad is None:
                continue
            key = id(tensor)
            grads[key] = grad if key not in grads else grads[key] + grad
            if starts and index in starts:
                steps[id(tensor.node)] = starts[index]
        inputs = {id(t) for t in self.inputs}
        for node in reversed(self.nodes):
            if id(node) in self._idle:
                continue
            d_output = grads.pop(id(node.output), None)
            if d_output is None and id(node) in self._lossy_nodes():  # its add_loss terms still do
                shape, dtype = self._lossy_outputs[id(node)]
                d_output = np.zeros(shape, dtype)
            if d_output is not None and getattr(node.runner, "activity_regularizer", None) is not None:
                d_output = d_output + node.runner.activity_gradient()
            if d_output is None:  # no gradient reaches this call (behind a stop_gradient)
                _no_gradient_reaches(node.runner)
                continue
            d_inputs = steps.get(id(node), node.runner.backward)(d_output)
            if not node.runner.input_gradient:
                continue
            for tensor, d_input in zip(node.inputs, d_inputs if node.several else [d_inputs]):
                key = id(tensor)
                if d_input is None:  # an operand without a gradient (a comparison's)
                    continue
                if not tensor.node.is_input or (wanted and key in inputs):  # other Inputs need none
                    grads[key] = d_input if key not in grads else grads[key] + d_input
        return [grads.get(id(t)) for t in self.inputs] if wanted else None


    def _passes_along(self):
        """Whether forward and backward may pass one array along the chain (no add_loss terms
        to keep or seed); found once."""
        if self._along is None:
            self._along = self.chain and not self.has_losses
        return self._along

    def _chain_backward(self, dy, start, wanted):
        """``backward`` of a chain: the gradient handed from each node to the one before."""
        last = len(self.nodes) - 1
        for index in range(last, self._first_busy - 1, -1):
            node = self.nodes[index]
            runner = node.runner
            dy = (start if index == last and start is not None else runner.backward)(dy)
            if node.several:  # an op: one gradient per symbolic operand
                dy = dy[0]
            if not runner.input_gradient:
                break
            if dy is None:  # no gradient passes this call (a comparison): none reaches those before it
                for earlier in self.nodes[self._first_busy:index]:
                    _no_gradient_reaches(earlier.runner)
                break
        return [dy if index == 0 and runner.input_gradient else None] if wanted else None


def _no_gradient_reaches(runner):
    """Gives the weights of a call that no gradient reaches (behind a stop_gradient or a
    comparison) zero gradients."""
    runner.grads = [np.zeros_like(v.value) for v in runner.trainable_weights]


_TRACED = {}


def value_and_gradient(fn, x):
    """``fn(x)`` summed to a number, and its gradient with respect to the array ``x``, from the
    ops ``fn`` records on a symbolic tensor of ``x``'s shape (traced once per function, shape
    and type)."""
    key = (fn, x.shape, x.dtype.str)
    traced = _TRACED.get(key)
    if traced is None:
        tensor = KerasTensor(x.shape, x.dtype.name)
        tensor.node = Node(None, [], tensor)
        with recording() as recorded:
            try:
                output = fn(tensor)
            finally:
                forget(recorded)
        if not isinstance(output, KerasTensor):
            raise TypeError(
                f"{getattr(fn, '__name__', fn)!r} must compute with keras.ops (its gradient comes from "
                f"them); it returned {type(output).__name__}."
            )
        traced = _TRACED[key] = Graph([tensor], [output], graph([tensor], [output]))
        traced.mark_input_gradients(True)
    value = traced.forward([x], training=False)[0]
    grad = traced.backward([np.ones_like(value)], wanted=True)[0]
    return float(np.sum(value)), np.zeros_like(x) if grad is None else grad


def gradient_pairs(owners):
    """(gradient, variable) for every trainable variable, from each layer's ``grads``.

    Raises:
        TypeError: when a layer's backward did not set one gradient per trainable variable.
    """
    pairs = []
    for layer, variables in owners:
        if len(layer.grads) != len(variables):
            raise TypeError(
                f"Layer '{layer.name}' has {len(variables)} trainable weight(s) "
                f"({', '.join(v.name for v in variables)}); its backward set {len(layer.grads)} "
                "gradient(s) in self.grads. Set one gradient per trainable weight, in the order "
                "of trainable_weights (and none while the layer is not trainable)."
            )
        pairs += zip(map(np.asarray, layer.grads), variables)
    return summed(pairs)


def summed(pairs):
    """The pairs with one entry per variable: the gradients of a variable that several calls of
    a shared layer reached, added up."""
    if len(set(map(id, map(itemgetter(1), pairs)))) == len(pairs):
        return pairs
    total = {}
    for grad, variable in pairs:
        key = id(variable)
        total[key] = (grad + total[key][0], variable) if key in total else (grad, variable)
    return list(total.values())


def connections(nodes):
    """Keras' "Connected to" entry of a layer called at ``nodes``: each tensor read, as
    'layer[call][0]' ('dense[0][0], dense[1][0]'), or '-'."""
    def source(tensor):
        if getattr(tensor.node.layer, "structural", False):  # output i of a layer giving several
            made = tensor.node.inputs[0].node
            return f"{made.layer.name}[{made.index}][{tensor.node.layer.index}]"
        return f"{tensor.node.layer.name}[{tensor.node.index}][0]"

    return ", ".join(source(t) for node in nodes for t in node.inputs) or "-"


def sequential_like(nodes):
    """Whether a summary prints the model as a stack (no node reads more than one tensor, none is
    read twice, and no layer is called twice), as Keras decides."""
    read = [id(t) for node in nodes for t in node.inputs]
    layers = [id(node.layer) for node in nodes]
    return (all(len(node.inputs) <= 1 for node in nodes) and len(read) == len(set(read))
            and len(layers) == len(set(layers)))
