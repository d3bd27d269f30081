"""Ops that make a new array of a given shape (random draws, zeros, ones), where the shape may
name the batch size of a symbolic tensor: inside a traced ``call``, ``ops.shape(x)[0]`` is the
:class:`Dim` "x's axis 0", and an op given it reads x's size there at every run.

Such an op has no gradient: the tensors it reads are read for their sizes only. Inside a traced
call it always records a node (even with a shape of plain numbers), so that each run draws anew.
"""
import numpy as np

from tinykeras import backend
from tinykeras.ops.operation import Operation


class Dim:
    """Axis ``axis`` of the symbolic tensor ``tensor``, whose size is known when it runs."""

    def __init__(self, tensor, axis):
        self.tensor, self.axis = tensor, axis

    def __repr__(self):
        return f"<Dim {self.axis} of {self.tensor.name}>"


def shape_of(x):
    """``ops.shape``: the sizes of x's axes; for a symbolic tensor, a :class:`Dim` where a size
    is not known until the model runs (the batch axis)."""
    from tinykeras.functional import KerasTensor

    if isinstance(x, KerasTensor):
        return tuple(Dim(x, axis) if size is None else size for axis, size in enumerate(x.shape))
    return tuple(np.shape(x)) if not hasattr(x, "shape") else tuple(x.shape)


class Shaped(Operation):
    """Makes an array of ``shape`` by ``make(shape)``; its operands are the tensors the shape's
    Dims name (read for their sizes)."""

    differentiable = False
    stateful = True

    def __init__(self, make, shape, name):
        super().__init__(name=backend.unique_name(name))
        self.make = make
        self.template = []
        self.tensors = []
        for size in shape:
            if isinstance(size, Dim):
                if size.tensor not in self.tensors:
                    self.tensors.append(size.tensor)
                self.template.append((self.tensors.index(size.tensor), size.axis))
            else:
                self.template.append(int(size))

    def compute(self, *arrays):
        self.count = len(arrays)
        shape = tuple(np.shape(arrays[s[0]])[s[1]] if isinstance(s, tuple) else s for s in self.template)
        return self.make(shape)

    def vjp(self, dy):
        return (None,) * self.count

    def run(self):
        """The array, or in a traced call the symbolic tensor of its node."""
        return self(*self.tensors)


def shaped(make, shape, name):
    """``make(shape)`` now, or recorded where a traced call or a symbolic Dim asks for it."""
    from tinykeras import functional

    shape = (shape,) if isinstance(shape, (int, np.integer, Dim)) else tuple(shape)
    if functional.tracing() or any(isinstance(size, Dim) for size in shape):
        return Shaped(make, shape, name).run()
    return make(tuple(int(size) for size in shape))
