"""Data preprocessing: real-time image augmentation (``image.ImageDataGenerator``)."""
from tinykeras.preprocessing import image
from tinykeras.preprocessing.image import ImageDataGenerator, NumpyArrayIterator

__all__ = ["ImageDataGenerator", "NumpyArrayIterator", "image"]
