"""Layers with Keras' names and arguments."""
from tinykeras.layers.base import ActivatedLayer, Layer, Variable
from tinykeras.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape

__all__ = [
    "ActivatedLayer",
    "Activation",
    "Dense",
    "Dropout",
    "Flatten",
    "Input",
    "InputLayer",
    "Layer",
    "Reshape",
    "Variable",
]
