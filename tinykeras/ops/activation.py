"""An activation of :mod:`tinykeras.activations` called on a symbolic tensor
(``keras.activations.relu(x)`` inside a custom ``call``): an op whose vector-Jacobian product is
the activation's own hand-derived backward."""
import numpy as np

from tinykeras.ops.operation import Operation


class ActivationOp(Operation):
    """y = activation.forward(x); dL/dx = activation.backward(dy, x, y)."""

    def __init__(self, activation):
        super().__init__(name=activation.name)
        self.activation = activation

    def compute(self, x):
        self.x = np.asarray(x)
        self.y = self.activation.forward(self.x)
        return self.y

    def vjp(self, dy):
        return (self.activation.backward(dy, self.x, self.y),)
