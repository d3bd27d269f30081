"""Activation functions, each with its hand-derived derivative.

Every activation is an :class:`Activation` pairing ``forward(x) -> y`` with
``backward(dy, x, y) -> dx``: the chain rule ``dx = dy * f'(x)`` written in whichever of x or y
makes it cheapest. The plain functions (``relu(x)``, ``softmax(x)``, ...) are exported too, as in
``keras.activations``.
"""
import math

import numpy as np

from tinykeras.kernels.activations import relu_backward, relu_forward
from tinykeras.kernels.softmax import log_softmax as _log_softmax
from tinykeras.kernels.softmax import softmax as softmax_kernel
from tinykeras.utils.naming import lookup

# SELU constants (Klambauer et al., 2017), as in Keras.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


class Activation:
    """An activation function and its derivative.

    Args:
        name: the Keras name ('relu', 'softmax', ...).
        forward: y = f(x).
        backward: dx = backward(dy, x, y), the gradient of the loss with respect to x.
    """

    def __init__(self, name, forward, backward):
        self.__name__ = name
        self.name = name
        self.forward = forward
        self.backward = backward

    def __call__(self, x):
        from tinykeras import functional
        from tinykeras.ops.activation import ActivationOp

        if isinstance(x, functional.KerasTensor) or (functional.tracing() and hasattr(x, "trainable")):
            return ActivationOp(self)(x)  # in a model or a traced call: a node of its graph
        return self.forward(np.asarray(x))

    def __repr__(self):
        return f"<activation {self.name}>"


def _linear(x):
    return x


def _relu(x):
    if x.ndim and x.dtype.kind == "f":
        return relu_forward(x)
    return np.maximum(x, 0)


def _relu_backward(dy, x, y):
    if x.ndim and x.dtype.kind == "f" and dy.shape == x.shape:
        return relu_backward(dy, x)
    return dy * (x > 0)


def _sigmoid(x):
    # exp of a non-positive number only: stable for large |x|.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _tanh(x):
    return np.tanh(x)


def _softmax(x):
    """Softmax over the last axis: ``exp(x - max(x)) / sum(exp(x - max(x)))`` (subtracting the
    row max keeps exp from overflowing; ``kernels.softmax``)."""
    return softmax_kernel(x)


def _softmax_backward(dy, x, y):
    # dx_i = y_i (dy_i - sum_j dy_j y_j)
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


def _elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)


def _selu(x):
    return SELU_SCALE * _elu(x, SELU_ALPHA)


def _softplus(x):
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|)
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _softsign(x):
    return x / (1 + np.abs(x))


def _swish(x):
    return x * _sigmoid(x)


def _swish_backward(dy, x, y):
    s = _sigmoid(x)
    return dy * (s + x * s * (1 - s))


_erf = np.vectorize(math.erf, otypes=[np.float64])


def _gelu(x):
    """Exact GELU, x * Phi(x) (Keras' default, approximate=False)."""
    return (0.5 * x * (1 + _erf(x / math.sqrt(2)))).astype(x.dtype, copy=False)


def _gelu_backward(dy, x, y):
    cdf = 0.5 * (1 + _erf(x / math.sqrt(2)))
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    return (dy * (cdf + x * pdf)).astype(x.dtype, copy=False)


LEAKY_RELU_SLOPE = 0.2


def _leaky_relu(x):
    return np.where(x > 0, x, LEAKY_RELU_SLOPE * x).astype(x.dtype, copy=False)


def _relu6(x):
    return np.clip(x, 0, 6).astype(x.dtype, copy=False)


def _hard_sigmoid(x):
    """Keras 3's hard sigmoid, relu6(x + 3) / 6: 0 below -3, 1 above 3, x / 6 + 1/2 between."""
    return (np.clip(x + 3, 0, 6) / 6).astype(x.dtype, copy=False)


def _hard_silu(x):
    return x * _hard_sigmoid(x)


def _hard_silu_backward(dy, x, y):
    # d/dx x * (x + 3) / 6 = (2x + 3) / 6 on (-3, 3); 0 below, 1 above.
    slope = np.where(x >= 3, 1, np.where(x > -3, (2 * x + 3) / 6, 0))
    return (dy * slope).astype(x.dtype, copy=False)


def _mish(x):
    return x * np.tanh(_softplus(x))


def _mish_backward(dy, x, y):
    # mish = x * tanh(sp(x)) with sp' = sigmoid: mish' = tanh(sp) + x * (1 - tanh(sp)^2) * sigmoid(x)
    t = np.tanh(_softplus(x))
    return dy * (t + x * (1 - t * t) * _sigmoid(x))


def _log_softmax_backward(dy, x, y):
    # dx_i = dy_i - softmax_i * sum_j dy_j, with softmax = exp(y)
    return dy - np.exp(y) * dy.sum(axis=-1, keepdims=True)


_ACTIVATIONS = {
    a.name: a
    for a in [
        Activation("linear", _linear, lambda dy, x, y: dy),
        Activation("relu", _relu, _relu_backward),
        Activation("sigmoid", _sigmoid, lambda dy, x, y: dy * y * (1 - y)),
        Activation("tanh", _tanh, lambda dy, x, y: dy * (1 - y * y)),
        Activation("softmax", _softmax, _softmax_backward),
        Activation("elu", _elu, lambda dy, x, y: dy * np.where(x > 0, 1, y + 1)),
        Activation(
            "selu",
            _selu,
            lambda dy, x, y: dy * np.where(x > 0, SELU_SCALE, y + SELU_SCALE * SELU_ALPHA),
        ),
        Activation("softplus", _softplus, lambda dy, x, y: dy * _sigmoid(x)),
        Activation("softsign", _softsign, lambda dy, x, y: dy / (1 + np.abs(x)) ** 2),
        Activation("swish", _swish, _swish_backward),
        Activation("gelu", _gelu, _gelu_backward),
        Activation(
            "leaky_relu", _leaky_relu, lambda dy, x, y: dy * np.where(x > 0, 1, LEAKY_RELU_SLOPE)
        ),
        Activation("exponential", np.exp, lambda dy, x, y: dy * y),
        Activation("relu6", _relu6, lambda dy, x, y: dy * ((x > 0) & (x < 6))),
        Activation("hard_sigmoid", _hard_sigmoid, lambda dy, x, y: dy * ((x > -3) & (x < 3)) / 6),
        Activation("hard_silu", _hard_silu, _hard_silu_backward),
        Activation("mish", _mish, _mish_backward),
        Activation("log_softmax", _log_softmax, _log_softmax_backward),
    ]
}
_ALIASES = {"silu": "swish", "hard_swish": "hard_silu", None: "linear"}

linear = _ACTIVATIONS["linear"]
relu = _ACTIVATIONS["relu"]
sigmoid = _ACTIVATIONS["sigmoid"]
tanh = _ACTIVATIONS["tanh"]
softmax = _ACTIVATIONS["softmax"]
elu = _ACTIVATIONS["elu"]
selu = _ACTIVATIONS["selu"]
softplus = _ACTIVATIONS["softplus"]
softsign = _ACTIVATIONS["softsign"]
swish = silu = _ACTIVATIONS["swish"]
gelu = _ACTIVATIONS["gelu"]
leaky_relu = _ACTIVATIONS["leaky_relu"]
exponential = _ACTIVATIONS["exponential"]
relu6 = _ACTIVATIONS["relu6"]
hard_sigmoid = _ACTIVATIONS["hard_sigmoid"]
hard_silu = hard_swish = _ACTIVATIONS["hard_silu"]
mish = _ACTIVATIONS["mish"]
log_softmax = _ACTIVATIONS["log_softmax"]


def get(identifier):
    """Returns the :class:`Activation` for a name, None, or an Activation object.

    Raises:
        ValueError: for an unknown name, listing the valid ones and the nearest match.
    """
    if isinstance(identifier, Activation):
        return identifier
    if identifier is None or isinstance(identifier, str):
        return lookup("activation", identifier, _ACTIVATIONS, _ALIASES)
    raise TypeError(
        f"Could not interpret activation {identifier!r}: pass a name such as 'relu', None, or an "
        "activation from tinykeras.activations."
    )


def serialize(activation):
    """The name Keras stores in a layer's config."""
    return get(activation).name


from tinykeras._missing import attribute_error_for  # noqa: E402

__getattr__ = attribute_error_for(__name__)
