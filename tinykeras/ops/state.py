"""Writing variables inside a traced ``call``: ``self.total.assign_add(ops.sum(x, axis=0))``
records an op that writes the variable at every run of the call, as Keras runs ``call`` at
every batch. Later reads in the same call read the written value. No gradient flows through a
write."""
import numpy as np

from tinykeras import backend
from tinykeras.ops.operation import Operation


class Assign(Operation):
    """Sets ``variable`` to its operand ('assign'), or adds ('add') or subtracts ('subtract')
    it; gives the new value. Its other operands (earlier writes of the variable) only order it
    after them."""

    differentiable = False
    stateful = True

    def __init__(self, variable, mode):
        super().__init__(name=backend.unique_name(f"{variable.name}_assign"))
        self.variable, self.mode = variable, mode

    def compute(self, value, *earlier):
        self.count = 1 + len(earlier)
        current = self.variable.value
        new = {"assign": lambda: value, "add": lambda: current + value, "subtract": lambda: current - value}[self.mode]()
        self.variable.assign(np.broadcast_to(np.asarray(new), current.shape))
        return current.copy()

    def vjp(self, dy):
        return (None,) * self.count


class Read(Operation):
    """The value of the variable it reads (what ``call`` returns when it returns a variable);
    its gradient goes to the variable."""

    def compute(self, value):
        return np.array(value)

    def vjp(self, dy):
        return (dy,)


def record_assign(variable, mode, value):
    """Records the write of ``variable`` by ``value`` in the call being traced; returns the
    variable, as Keras' assign does."""
    from tinykeras import functional

    earlier = functional.assigned(variable)
    operands = [value] + ([earlier] if earlier is not None else [])
    op = Assign(variable, mode)
    op.bind(operands, lambda operand: isinstance(operand, functional.KerasTensor))
    tensors = [operands[i] for i in op._symbolic]
    output = functional.record(op, tensors, variable.shape, variable.dtype.name)
    if not functional._effects:
        raise TypeError(
            f"Variable '{variable.path}' is assigned a symbolic value outside a layer's call(); "
            "assign it inside call(), or assign it an array."
        )
    functional._effects[-1].assigned[id(variable)] = output
    return variable


def read(variable):
    """A tensor holding ``variable``'s value in the call being traced: its last write's, or a
    read of it."""
    from tinykeras import functional

    return functional.assigned(variable) or Read()(variable)
