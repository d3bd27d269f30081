"""Noise layers active only in training: SpatialDropout2D and GaussianNoise (Dropout is in
core.py). In inference each passes its input through unchanged."""
import numpy as np

from tinykeras import backend
from tinykeras.layers.arguments import require_rank, standardize_data_format
from tinykeras.layers.base import Layer
from tinykeras.layers.core import Dropout
from tinykeras.utils.argument_validation import check_number, check_optional_int


class SpatialDropout2D(Dropout):
    """Dropout of whole feature maps: in training each channel of each image is either zeroed
    or scaled by ``1 / (1 - rate)`` at every position, the mask drawn per (image, channel).

    Args:
        rate: the fraction of channels to drop, in [0, 1).
        data_format: 'channels_last' (N, H, W, C) or 'channels_first' (N, C, H, W).
        seed: optional integer for a reproducible mask sequence.
    """

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = standardize_data_format(data_format)
        # The mask's shape; None takes the input's size (the batch and the channels).
        self.noise_shape = (None, None, 1, 1) if self.data_format == "channels_first" else (None, 1, 1, None)

    def compute_output_shape(self, input_shape):
        require_rank(self, input_shape)
        return tuple(input_shape)

    def get_config(self):
        # Keras' SpatialDropout2D config: no 'trainable', and the mask's shape follows data_format.
        config = {k: v for k, v in super().get_config().items() if k not in ("trainable", "noise_shape")}
        return {**config, "data_format": self.data_format}


class GaussianNoise(Layer):
    """Adds zero-mean normal noise of standard deviation ``stddev`` in training (a
    regularizer); identity in inference. The gradient passes through unchanged.

    Args:
        stddev: the noise's standard deviation, in [0, 1] (Keras' bound).
        seed: optional integer for a reproducible noise sequence.
    """

    supports_masking = True  # passes its input's mask on, as in Keras

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.stddev = check_number(stddev, "stddev", "GaussianNoise", 0, 1)
        self.seed = check_optional_int(seed, "seed", "GaussianNoise", minimum=0)
        self._rng = None if seed is None else np.random.default_rng(seed)

    def forward(self, x, training=False):
        if not training or self.stddev == 0:
            return x
        rng = self._rng or backend.rng()
        return x + rng.normal(0.0, self.stddev, x.shape).astype(x.dtype, copy=False)

    def backward(self, dy):
        return dy

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}
