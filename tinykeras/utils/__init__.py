"""Utilities: one-hot encoding, seeding, gradient checking, plots (matplotlib, imported lazily),
image files (Pillow, imported lazily), downloads (``get_file``), datasets of batches (``PyDataset``,
``timeseries_dataset_from_array``) and ``pad_sequences``."""
from tinykeras.backend import clear_session, set_random_seed
from tinykeras.utils import np_utils
from tinykeras.utils.data import pack_x_y_sample_weight, unpack_x_y_sample_weight
from tinykeras.utils.file_utils import get_file
from tinykeras.utils.gradient_check import check_gradients, numerical_gradient
from tinykeras.utils.image_utils import array_to_img, img_to_array, load_img, save_img
from tinykeras.utils.np_utils import normalize, to_categorical
from tinykeras.utils.plotting import plot_history, plot_images
from tinykeras.utils.progbar import Progbar
from tinykeras.utils.py_dataset import PyDataset, Sequence
from tinykeras.utils.sequence_utils import pad_sequences
from tinykeras.utils.timeseries import timeseries_dataset_from_array



def register_keras_serializable(package="Custom", name=None):
    """``keras.utils.register_keras_serializable``: see
    :func:`tinykeras.saving.register_keras_serializable`."""
    from tinykeras import saving

    return saving.register_keras_serializable(package, name)


__all__ = [
    "Progbar",
    "PyDataset",
    "Sequence",
    "array_to_img",
    "check_gradients",
    "clear_session",
    "get_file",
    "img_to_array",
    "load_img",
    "normalize",
    "pack_x_y_sample_weight",
    "np_utils",
    "numerical_gradient",
    "pad_sequences",
    "plot_history",
    "plot_images",
    "register_keras_serializable",
    "save_img",
    "set_random_seed",
    "timeseries_dataset_from_array",
    "to_categorical",
    "unpack_x_y_sample_weight",
]


from tinykeras._missing import attribute_error_for  # noqa: E402

__getattr__ = attribute_error_for(__name__)
