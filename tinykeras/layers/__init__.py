"""Layers with Keras' names and arguments."""
from tinykeras.layers.base import ActivatedLayer, Layer, Variable
from tinykeras.layers.convolutional import Conv2D, Convolution2D, ZeroPadding2D
from tinykeras.layers.core import (
    Activation,
    Dense,
    Dropout,
    Flatten,
    Input,
    InputLayer,
    Reshape,
)
from tinykeras.layers.normalization import BatchNormalization
from tinykeras.layers.pooling import (
    AveragePooling2D,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    MaxPooling2D,
)

__all__ = [
    "ActivatedLayer",
    "Activation",
    "AveragePooling2D",
    "BatchNormalization",
    "Conv2D",
    "Convolution2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "Input",
    "InputLayer",
    "Layer",
    "MaxPooling2D",
    "Reshape",
    "Variable",
    "ZeroPadding2D",
]
