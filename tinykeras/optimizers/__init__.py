"""``keras.optimizers``: Keras 3's optimizers, with its update rules, defaults, state layout and
learning-rate schedules (``keras.optimizers.schedules``).

The base class (``base.Optimizer``) keeps the bookkeeping: the learning rate or its schedule, the
step count, the per-variable slots, gradient clipping and weight decay. Each optimizer, one
module each as in Keras, implements only its update rule.
"""
from tinykeras.optimizers import schedules
from tinykeras.optimizers.adadelta import Adadelta
from tinykeras.optimizers.adagrad import Adagrad
from tinykeras.optimizers.adam import Adam, AdamW
from tinykeras.optimizers.adamax import Adamax
from tinykeras.optimizers.base import Optimizer
from tinykeras.optimizers.lion import Lion
from tinykeras.optimizers.nadam import Nadam
from tinykeras.optimizers.rmsprop import RMSprop
from tinykeras.optimizers.sgd import SGD
from tinykeras.utils.naming import lookup

_OPTIMIZERS = {
    cls.__name__.lower(): cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Lion)
}


def get(identifier):
    """Returns an Optimizer for a name ('adam', 'AdamW', 'sgd', ...), in its defaults, or an
    Optimizer instance unchanged.

    Raises:
        ValueError: for an unknown name, listing the valid ones and the nearest match.
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        return lookup("optimizer", identifier, _OPTIMIZERS)()
    raise TypeError(
        f"Could not interpret optimizer {identifier!r}: pass a name such as 'adam' or an "
        "optimizer object from tinykeras.optimizers."
    )


__all__ = [
    "SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "Lion", "Nadam", "Optimizer", "RMSprop", "get",
    "schedules",
]


from tinykeras._missing import attribute_error_for  # noqa: E402

__getattr__ = attribute_error_for(__name__)
