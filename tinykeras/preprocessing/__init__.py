"""Data preprocessing: real-time image augmentation (``image.ImageDataGenerator``), padding of
sequences (``sequence.pad_sequences``) and windows over a timeseries
(``timeseries_dataset_from_array``)."""
from tinykeras.preprocessing import image, sequence
from tinykeras.preprocessing.image import ImageDataGenerator, NumpyArrayIterator
from tinykeras.utils.timeseries import timeseries_dataset_from_array

__all__ = ["ImageDataGenerator", "NumpyArrayIterator", "image", "sequence", "timeseries_dataset_from_array"]


from tinykeras._missing import attribute_error_for  # noqa: E402

__getattr__ = attribute_error_for(__name__)
