"""Noise layers active only in training: SpatialDropout1D/2D, GaussianNoise and GaussianDropout
(Dropout is in core.py); in inference each passes its input through unchanged. And
ActivityRegularization, an identity adding a penalty of its output to the loss."""
import math

import numpy as np

from tinykeras import backend, regularizers
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


class SpatialDropout1D(Dropout):
    """Dropout of whole features of a sequence: in training each feature of each sequence
    (batch, steps, features) is either zeroed or scaled by ``1 / (1 - rate)`` at every step,
    the mask drawn per (sequence, feature).

    Args:
        rate: the fraction of features to drop, in [0, 1).
        seed: optional integer for a reproducible mask sequence.
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.noise_shape = (None, 1, None)

    def compute_output_shape(self, input_shape):
        require_rank(self, input_shape, 3)
        return tuple(input_shape)

    def get_config(self):
        # Keras' config of its spatial dropouts: no 'trainable', no 'noise_shape'.
        return {k: v for k, v in super().get_config().items() if k not in ("trainable", "noise_shape")}


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


class GaussianDropout(Layer):
    """Multiplies the inputs by normal noise of mean 1 and standard deviation
    ``sqrt(rate / (1 - rate))`` in training (multiplicative Gaussian dropout); identity in
    inference. The gradient is the upstream gradient times the same noise.

    Args:
        rate: the drop probability the noise's variance matches, in [0, 1).
        seed: optional integer for a reproducible noise sequence.
    """

    supports_masking = True

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_number(rate, "rate", "GaussianDropout", 0, 1, high_open=True)
        self.seed = check_optional_int(seed, "seed", "GaussianDropout", minimum=0)
        self._rng = None if seed is None else np.random.default_rng(seed)
        self._noise = None

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self._noise = None
            return x
        rng = self._rng or backend.rng()
        self._noise = rng.normal(1.0, math.sqrt(self.rate / (1.0 - self.rate)), x.shape).astype(x.dtype, copy=False)
        return x * self._noise

    def backward(self, dy):
        return dy if self._noise is None else dy * self._noise

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class ActivityRegularization(Layer):
    """Passes its input through and adds ``l1 * sum(|y|) + l2 * sum(y^2)`` of it (averaged
    over the batch, as any activity regularizer) to the loss.

    Args:
        l1, l2: the penalties' factors.
    """

    supports_masking = True

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        kwargs.pop("activity_regularizer", None)  # its own, from l1 and l2
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1, self.l2 = l1, l2

    def forward(self, x, training=False):
        return x

    def backward(self, dy):
        return dy

    def get_config(self):
        config = {k: v for k, v in super().get_config().items() if k != "activity_regularizer"}
        return {**config, "l1": self.l1, "l2": self.l2}
