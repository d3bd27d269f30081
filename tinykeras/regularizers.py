"""``keras.regularizers``: penalties on a weight (or a layer's output) added to the loss, each
with its gradient written by hand.

A weight's regularizer adds ``regularizer(weight)`` to the loss fit minimises and
``regularizer.gradient(weight)`` to the weight's gradient; an ``activity_regularizer`` adds
``regularizer(output) / batch size`` for each call of its layer, its gradient flowing back
through the layer. A regularizer of your own (a ``Regularizer`` subclass, or a function of the
weight) written with ``keras.ops`` gets its gradient from the ops.
"""
import numpy as np

from tinykeras.utils.argument_validation import check_number
from tinykeras.utils.naming import lookup


class Regularizer:
    """Base class: ``__call__(x)`` the penalty (a number), ``gradient(x)`` dpenalty/dx."""

    def __call__(self, x):
        return 0.0

    def gradient(self, x):
        """dpenalty/dx; by default from the ops ``__call__`` records (see the module doc)."""
        from tinykeras.functional import value_and_gradient

        return value_and_gradient(self, np.asarray(x))[1]

    def get_config(self):
        raise TypeError(f"{type(self).__name__} must define get_config() to be written to a config file.")

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _factor(value, name, owner):
    return float(check_number(value, name, owner, low=0))


class L1L2(Regularizer):
    """l1 * sum(|x|) + l2 * sum(x**2); gradient l1 * sign(x) + 2 * l2 * x."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(0.0 if l1 is None else l1, "l1", "L1L2")
        self.l2 = _factor(0.0 if l2 is None else l2, "l2", "L1L2")

    def __call__(self, x):
        x = np.asarray(x)
        return float(self.l1 * np.sum(np.abs(x)) + self.l2 * np.sum(np.square(x)))

    def gradient(self, x):
        x = np.asarray(x)
        return (self.l1 * np.sign(x) + (2 * self.l2) * x).astype(x.dtype, copy=False)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """l1 * sum(|x|)."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": float(np.float32(self.l1))}  # Keras 3 writes it as the float32 it computes with


class L2(L1L2):
    """l2 * sum(x**2)."""

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


l1, l2, l1_l2 = L1, L2, L1L2

_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2, "L1": L1, "L2": L2, "L1L2": L1L2}


def get(identifier):
    """A regularizer for a name ('l2'), a config dict ({'class_name': 'L2', 'config': ...}), an
    instance or a function of the weight; None stays None.

    Raises:
        ValueError: for an unknown name or class, listing the valid ones.
    """
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        return lookup("regularizer", identifier, _BY_NAME)()
    if isinstance(identifier, dict):
        from tinykeras import saving

        return saving.object_from_entry(identifier, _BY_NAME, Regularizer, "regularizer")
    if callable(identifier):
        return FunctionRegularizer(identifier)
    raise ValueError(f"Could not interpret regularizer identifier: {identifier!r}")


class FunctionRegularizer(Regularizer):
    """A function of the weight, written with ``keras.ops``, as a regularizer."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, x):
        return float(np.sum(self.fn(np.asarray(x))))

    def gradient(self, x):
        from tinykeras.functional import value_and_gradient

        return value_and_gradient(self.fn, np.asarray(x))[1]


def serialize(regularizer):
    """A regularizer as Keras writes one in a layer's config (None for none)."""
    if regularizer is None:
        return None
    if isinstance(regularizer, FunctionRegularizer):
        raise TypeError(
            f"The regularizer function {getattr(regularizer.fn, '__name__', regularizer.fn)!r} cannot be "
            "written to a config: use a keras.regularizers.Regularizer subclass with get_config, registered "
            "with keras.saving.register_keras_serializable()."
        )
    from tinykeras import saving

    builtin = _BY_NAME.get(type(regularizer).__name__) is type(regularizer)
    return {"module": "keras.regularizers" if builtin else type(regularizer).__module__,
            "class_name": type(regularizer).__name__, "config": regularizer.get_config(),
            "registered_name": None if builtin else saving.get_registered_name(type(regularizer))}


from tinykeras._missing import attribute_error_for  # noqa: E402

__getattr__ = attribute_error_for(__name__)
