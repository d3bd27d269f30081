"""The operation protocol: one call of a math function, with its vector-Jacobian product
written by hand.

An :class:`Operation` subclass computes ``compute(*operands)`` on arrays and, given dL/doutput,
``vjp(dy)`` returns dL/doperand for each operand (None for one without a gradient), from what
``compute`` kept in ``self``. An instance serves one call, so what it keeps is that call's.

Called on arrays, an op computes at once (``ops.add(a, b)`` is ``a + b``). Called with a
symbolic tensor among its operands (inside ``call`` of a subclassed model, or on tensors from
``keras.Input``), it computes nothing: it records a node of the model's graph, which runs
``forward`` in order and ``backward`` in reverse, like a layer's.
"""
import numpy as np

from tinykeras import backend


class Operation:
    """Base class of the ops.

    Attributes given by subclasses:
        differentiable: False for ops without a gradient (comparisons, argmax).
    """

    differentiable = True
    is_operation = True
    #: True for ops whose result changes from run to run (random draws): a traced call records
    #: them even without symbolic operands.
    stateful = False
    #: As a node of a model's graph: whether backward must return dL/doperands.
    input_gradient = True
    trainable = True
    #: While ``backward`` runs ``vjp``: for each operand place, whether its gradient is used
    #: (None, as on any other call of ``vjp``: all are). See :meth:`wants`.
    needed = None

    def __init__(self, name=None):
        self.name = name or backend.unique_name(backend.snake_case(type(self).__name__))
        self._nodes = None
        self._variables = {}  # operand place -> Variable, for a call recorded in a graph
        self.owner = None  # the layer whose call recorded it (its trainable rules the variables)
        self.grads = []

    def compute(self, *operands):
        """The result for arrays ``operands``; keeps in ``self`` what ``vjp`` needs."""
        raise TypeError(f"{type(self).__name__} must define compute.")

    def vjp(self, dy):
        """dL/doperand for each operand, given dL/doutput ``dy`` (a tuple, None where none)."""
        raise TypeError(f"{type(self).__name__} must define vjp.")

    def wants(self, place):
        """Whether ``vjp`` must compute the gradient of the operand at ``place``; where not, it
        may return None there (a constant, an input nothing back-propagates to, a frozen
        variable)."""
        return self.needed is None or self.needed[place]

    def __call__(self, *operands):
        from tinykeras import functional

        symbolic = any(isinstance(o, functional.KerasTensor) for o in operands)
        if symbolic or (functional.tracing() and (self.stateful or any(_is_variable(o) for o in operands))):
            return functional.call_operation(self, operands)
        return self.compute(*(_array(o) for o in operands))

    # ---- the variables it reads, in a graph (a custom layer's weights) -------------------------

    @property
    def variables(self):
        return list({id(v): v for v in self._variables.values()}.values())

    @property
    def trainable_weights(self):
        """The trainable variables among its operands, one per place (a variable read twice
        is listed twice; the model adds up its gradients), none while its layer is frozen."""
        if self.owner is not None and not self.owner.trainable:
            return []
        return [v for v in self._variables.values() if v.trainable]

    # ---- as a node of a model's graph --------------------------------------------------------

    def forward(self, tensors, training=False):
        """The result for the arrays of the node's symbolic operands (``tensors``, in order),
        the constants given at the call filling the other places."""
        return self.compute(*self._operands(tensors))

    def backward(self, dy):
        """dL/d(each symbolic operand), in the node's order (None where an op has none); sets
        ``grads``, the gradient of each of ``trainable_weights``."""
        trained = self.trainable_weights
        if not self.differentiable or not (self.input_gradient or trained):
            self.grads = []
            return [None] * len(self._symbolic)
        needed = [False] * self._count
        for place in self._symbolic if self.input_gradient else ():
            needed[place] = True
        for place, variable in self._variables.items():
            needed[place] = needed[place] or (bool(trained) and variable.trainable)
        self.needed = needed
        try:
            grads = self.vjp(dy)
        finally:
            self.needed = None
        self.grads = [grads[place] for place, v in self._variables.items() if trained and v.trainable]
        return [grads[place] for place in self._symbolic] if self.input_gradient else [None] * len(self._symbolic)

    def bind(self, operands, is_symbolic):
        """Records, for a call recorded in a graph, which operands are symbolic tensors and
        which are variables (their places; both read at each run), and the constants."""
        self._symbolic = [i for i, operand in enumerate(operands) if is_symbolic(operand)]
        self._variables = {i: o for i, o in enumerate(operands) if _is_variable(o)}
        self._constants = {
            i: _array(o) for i, o in enumerate(operands) if i not in self._symbolic and i not in self._variables
        }
        self._count = len(operands)

    def _operands(self, tensors):
        operands = [None] * self._count
        for place, value in zip(self._symbolic, tensors):
            operands[place] = value
        for place, variable in self._variables.items():
            operands[place] = variable.value
        for place, value in self._constants.items():
            operands[place] = value
        return operands

    #: As a row of a model's summary: an op has no weights to build.
    built = True

    @property
    def output_shape(self):
        """The shape of the symbolic result of the call this op records."""
        return self._nodes[0].output.shape

    def count_params(self):
        return 0

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


def _is_variable(value):
    from tinykeras.layers.base import Variable

    return isinstance(value, Variable)


def _array(value):
    """An operand as an array: arrays as they are, Variables by their value, numbers and lists
    as arrays of the float type (Python numbers take the other operand's type in NumPy)."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "value") and isinstance(getattr(value, "value"), np.ndarray):
        return value.value
    if isinstance(value, (bool, int, float)):
        return value
    return np.asarray(value, dtype=backend.floatx()) if not isinstance(value, np.generic) else value


def unbroadcast(grad, shape):
    """The gradient of an operand of ``shape`` that broadcasting stretched to ``grad.shape``:
    ``grad`` summed over the axes it gained in front and those where the operand had size 1."""
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, size in enumerate(shape) if size == 1 and grad.shape[extra + i] != 1
    )
    return grad.sum(axis=axes).reshape(shape) if axes else grad.reshape(shape)
