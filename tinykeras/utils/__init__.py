"""Utilities: one-hot encoding, seeding, gradient checking, plots (matplotlib, imported lazily)."""
from tinykeras.backend import set_random_seed
from tinykeras.utils import np_utils
from tinykeras.utils.gradient_check import check_gradients, numerical_gradient
from tinykeras.utils.np_utils import to_categorical
from tinykeras.utils.plotting import plot_history, plot_images



def register_keras_serializable(package="Custom", name=None):
    """``keras.utils.register_keras_serializable``: see
    :func:`tinykeras.saving.register_keras_serializable`."""
    from tinykeras import saving

    return saving.register_keras_serializable(package, name)


__all__ = [
    "check_gradients",
    "np_utils",
    "numerical_gradient",
    "plot_history",
    "plot_images",
    "register_keras_serializable",
    "set_random_seed",
    "to_categorical",
]
