"""Masking: marks the steps whose features all equal a value as padding."""
import numpy as np

from tinykeras.layers.base import Layer
from tinykeras.utils.argument_validation import check_number


class Masking(Layer):
    """Masks the steps of a sequence whose features all equal ``mask_value``, as Keras does:
    for inputs of shape (batch, timesteps, features) the output's mask is
    ``any(x != mask_value, axis=-1)``, which the layers after it pass on and the recurrent
    layers skip, and the masked steps of the output are zeros. Elsewhere the output is the
    input, so the gradient is ``dy`` at kept steps and 0 at masked ones.

    Args:
        mask_value: the value that marks padding (0.0 by default).
    """

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = check_number(mask_value, "mask_value", "Masking")
        self._kept = None

    def compute_mask(self, inputs, previous_mask=None):
        """``any(inputs != mask_value, axis=-1)``: False at the steps to skip."""
        return np.any(np.not_equal(inputs, self.mask_value), axis=-1)

    def forward(self, x, training=False):
        self._kept = np.any(x != self.mask_value, axis=-1, keepdims=True)
        return np.where(self._kept, x, x.dtype.type(0))

    def backward(self, dy):
        self.grads = []
        return np.where(self._kept, dy, dy.dtype.type(0))

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
