"""Activation layers with arguments: ReLU, LeakyReLU, PReLU (a learned slope), ELU, Softmax.

Each is an element-wise function (Softmax: a normalization over axes) whose backward is the
chain rule ``dx = dy * f'(x)``, written beside its forward.
"""
import warnings

import numpy as np

from tinykeras import activations, initializers
from tinykeras.layers.base import ActivatedLayer, Layer
from tinykeras.utils.argument_validation import check_number, is_integer


class ReLU(Layer):
    """Rectified linear unit with Keras' three settings::

        f(x) = min(x, max_value)             for x > threshold
        f(x) = negative_slope * (x - threshold)   otherwise

    Args:
        max_value: the largest output (>= 0), or None for no limit.
        negative_slope: the slope below the threshold (>= 0).
        threshold: where the unit switches on (>= 0).
    """

    supports_masking = True  # passes its input's mask on, as in Keras

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = None if max_value is None else check_number(max_value, "max_value", "ReLU", 0)
        self.negative_slope = check_number(negative_slope, "negative_slope", "ReLU", 0)
        self.threshold = check_number(threshold, "threshold", "ReLU", 0)
        # The plain ReLU and ReLU6 have compiled forms in tinykeras.activations.
        plain = self.negative_slope == 0 and self.threshold == 0
        self._named = {None: activations.relu, 6.0: activations.relu6}.get(self.max_value) if plain else None
        self._x = self._y = None

    def forward(self, x, training=False):
        self._x = x
        if self._named is not None:
            self._y = self._named.forward(x)
            return self._y
        top = x if self.max_value is None else np.minimum(x, self.max_value)
        return np.where(x > self.threshold, top, self.negative_slope * (x - self.threshold)).astype(x.dtype, copy=False)

    def backward(self, dy):
        x = self._x
        if self._named is not None:
            return self._named.backward(dy, x, self._y)
        below_max = True if self.max_value is None else x < self.max_value
        return (dy * np.where(x > self.threshold, below_max, self.negative_slope)).astype(dy.dtype, copy=False)

    def get_config(self):
        return {
            **super().get_config(),
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }


class LeakyReLU(Layer):
    """``f(x) = x`` for x >= 0, ``negative_slope * x`` below.

    Args:
        negative_slope: the slope for negative inputs (>= 0). Keras 2's name ``alpha`` is
            accepted with a DeprecationWarning.
    """

    supports_masking = True  # passes its input's mask on, as in Keras

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            alpha = kwargs.pop("alpha")
            if negative_slope != 0.3:
                raise TypeError(
                    "LeakyReLU: got both `alpha` (the Keras 2 name) and `negative_slope`. "
                    f"Pass only negative_slope={negative_slope!r}."
                )
            warnings.warn(
                f"LeakyReLU: `alpha` is Keras 2's name of `negative_slope`; write "
                f"LeakyReLU(negative_slope={alpha!r}).",
                DeprecationWarning,
                stacklevel=2,
            )
            negative_slope = alpha
        super().__init__(**kwargs)
        self.negative_slope = check_number(negative_slope, "negative_slope", "LeakyReLU", 0)
        self._x = None

    def forward(self, x, training=False):
        self._x = x
        return np.where(x >= 0, x, self.negative_slope * x).astype(x.dtype, copy=False)

    def backward(self, dy):
        return (dy * np.where(self._x >= 0, 1.0, self.negative_slope)).astype(dy.dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class PReLU(Layer):
    """Leaky ReLU with a learned slope: ``f(x) = x`` for x > 0, ``alpha * x`` otherwise.

    ``alpha`` has the shape of one sample, each axis of ``shared_axes`` reduced to 1 (one slope
    shared along it): after a channels_last Conv2D, ``shared_axes=[1, 2]`` learns one slope per
    channel.

    Args:
        alpha_initializer: initializer of alpha ('zeros' by default: a ReLU at first).
        shared_axes: an axis or a list of axes (1 is the first axis after the batch), or None.
    """

    supports_masking = True  # passes its input's mask on, as in Keras

    def __init__(self, alpha_initializer="zeros", shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = list(shared_axes) if isinstance(shared_axes, (list, tuple)) else [shared_axes]
            if not axes or not all(is_integer(a) and a >= 1 for a in axes):
                raise ValueError(
                    "PReLU: shared_axes must be None, an axis or a list of axes, each an integer "
                    f">= 1 (axis 0 is the batch). Received: shared_axes={shared_axes!r}"
                )
            self.shared_axes = [int(a) for a in axes]
        self._x = None
        self._summed = None

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or []:
            if axis >= len(input_shape):
                raise ValueError(
                    f"Layer '{self.name}' (PReLU): shared axis {axis} does not exist in an input of "
                    f"shape {tuple(input_shape)}. Use axes from 1 to {len(input_shape) - 1}."
                )
            shape[axis - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(
                f"Layer '{self.name}' (PReLU) needs the size of every axis it learns a slope along. "
                f"Received input_shape={tuple(input_shape)}; share the unknown axes "
                "(shared_axes=[...]) or give the input a fixed shape."
            )
        self.alpha = self.add_weight("alpha", tuple(shape), self.alpha_initializer)
        # The axes along which dalpha sums dy * x: the batch and the shared ones.
        self._summed = (0,) + tuple(sorted(set(self.shared_axes or [])))

    def forward(self, x, training=False):
        self._x = x
        return np.where(x > 0, x, self.alpha.value * x)

    def backward(self, dy):
        # y = x (x > 0), alpha * x (x <= 0): dalpha = sum of dy * min(x, 0) over the batch and
        # the shared axes; dx = dy * (1 or alpha).
        x = self._x
        negative = np.minimum(x, 0)
        self.grads = [(dy * negative).sum(axis=self._summed, keepdims=True).reshape(self.alpha.shape)]
        if not self.input_gradient:
            return None
        return dy * np.where(x > 0, 1.0, self.alpha.value).astype(dy.dtype, copy=False)

    def get_config(self):
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "shared_axes": self.shared_axes,
        }


class ELU(Layer):
    """Exponential linear unit: ``f(x) = x`` for x > 0, ``alpha * (exp(x) - 1)`` otherwise.

    Args:
        alpha: the value f approaches as x -> -inf is ``-alpha``.
    """

    supports_masking = True  # passes its input's mask on, as in Keras

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = check_number(alpha, "alpha", "ELU")
        self._x = self._y = None

    def forward(self, x, training=False):
        self._x = x
        self._y = np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)
        return self._y

    def backward(self, dy):
        # d/dx alpha * (exp(x) - 1) = alpha * exp(x) = y + alpha
        return dy * np.where(self._x > 0, 1, self._y + self.alpha).astype(dy.dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(ActivatedLayer):
    """Softmax over ``axis``: ``exp(x - max) / sum(exp(x - max))``.

    Over the last axis it is ``activations.softmax``, so a model's cross-entropy starts from its
    input, the logits, as with ``Activation('softmax')``.

    Args:
        axis: an axis or a list of axes normalized over together.
    """

    supports_masking = True  # passes its input's mask on, as in Keras

    def __init__(self, axis=-1, **kwargs):
        if isinstance(axis, (list, tuple)):
            axes = tuple(axis)
        else:
            axes = (axis,)
        if not axes or not all(is_integer(a) for a in axes):
            raise TypeError(f"Softmax: axis must be an integer or a list of integers. Received: axis={axis!r}")
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else int(axis)
        axes = tuple(int(a) for a in axes)
        super().__init__(activation=activations.softmax if axes == (-1,) else _softmax_over(axes), **kwargs)

    def build(self, input_shape):
        for a in [self.axis] if is_integer(self.axis) else self.axis:
            if not -len(input_shape) <= a < len(input_shape):
                raise ValueError(
                    f"Layer '{self.name}' (Softmax): axis {a} is out of bounds for an input of "
                    f"shape {tuple(input_shape)}. Received: axis={self.axis}"
                )

    makes_masks = False

    def compute_mask(self, inputs, previous_mask=None):
        """Refuses a mask: Keras' Softmax then gives masked positions no probability, which
        tinykeras does not compute (the mask arrives here, beside the forward pass that the
        loss may take from the logits)."""
        if previous_mask is not None:
            raise ValueError(
                f"Layer '{self.name}' (Softmax) received a mask: Keras then gives masked positions "
                "no probability, which tinykeras does not support. Apply the softmax in the layer "
                "before it (Dense(..., activation='softmax')), which passes the mask on."
            )
        return None

    def get_config(self):
        return {**Layer.get_config(self), "axis": self.axis}


def _softmax_over(axes):
    """Softmax normalized over ``axes`` together, as an Activation."""

    def forward(x):
        e = np.exp(x - x.max(axis=axes, keepdims=True))
        e /= e.sum(axis=axes, keepdims=True)
        return e

    def backward(dy, x, y):
        # dx_i = y_i (dy_i - sum_j dy_j y_j), the sums over the normalized axes
        return y * (dy - (dy * y).sum(axis=axes, keepdims=True))

    return activations.Activation(f"softmax_over_axes_{'_'.join(map(str, axes))}", forward, backward)
