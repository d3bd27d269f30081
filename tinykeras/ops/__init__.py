"""``keras.ops``: math on arrays and on symbolic tensors, each op with its gradient written by
hand (see :mod:`tinykeras.ops.operation`). On arrays an op computes at once; on the symbolic
tensors of a functional model or of a subclassed model's ``call`` it records a node that the
model's backward pass differentiates."""
import numpy as np

from tinykeras import backend
from tinykeras.ops import nn as _nn
from tinykeras.ops import numpy as _np
from tinykeras.ops.operation import Operation, unbroadcast


def _comparison(function):
    def compare(x1, x2):
        return _np.Comparison(function, name=backend.unique_name(function.__name__))(x1, x2)

    compare.__name__ = compare.__qualname__ = function.__name__
    compare.__doc__ = f"``np.{function.__name__}`` elementwise (no gradient)."
    return compare


# ---- elementwise -------------------------------------------------------------------------------


def add(x1, x2):
    return _np.Add()(x1, x2)


def subtract(x1, x2):
    return _np.Subtract()(x1, x2)


def multiply(x1, x2):
    return _np.Multiply()(x1, x2)


def divide(x1, x2):
    return _np.Divide()(x1, x2)


true_divide = divide


def power(x1, x2):
    return _np.Power()(x1, x2)


def maximum(x1, x2):
    return _np.Maximum()(x1, x2)


def minimum(x1, x2):
    return _np.Minimum()(x1, x2)


def negative(x):
    return _np.Negative()(x)


def square(x):
    return _np.Square()(x)


def sqrt(x):
    return _np.Sqrt()(x)


def exp(x):
    return _np.Exp()(x)


def log(x):
    return _np.Log()(x)


def log1p(x):
    return _np.Log1p()(x)


def abs(x):  # noqa: A001 - Keras' name
    return _np.Absolute()(x)


absolute = abs


def sign(x):
    return _np.Sign()(x)


def clip(x, x_min, x_max):
    return _np.Clip(x_min, x_max)(x)


def where(condition, x1, x2):
    return _np.Where()(condition, x1, x2)


def cast(x, dtype):
    return _np.Cast(dtype)(x)


def stop_gradient(variable):
    return _np.StopGradient()(variable)


# ---- reductions --------------------------------------------------------------------------------


def sum(x, axis=None, keepdims=False):  # noqa: A001 - Keras' name
    return _np.Sum(axis, keepdims)(x)


def mean(x, axis=None, keepdims=False):
    return _np.Mean(axis, keepdims)(x)


def max(x, axis=None, keepdims=False):  # noqa: A001 - Keras' name
    return _np.Max(axis, keepdims)(x)


def min(x, axis=None, keepdims=False):  # noqa: A001 - Keras' name
    return _np.Min(axis, keepdims)(x)


def var(x, axis=None, keepdims=False):
    return _np.Var(axis, keepdims)(x)


def std(x, axis=None, keepdims=False):
    return _np.Std(axis, keepdims)(x)


def logsumexp(x, axis=None, keepdims=False):
    return _np.Logsumexp(axis, keepdims)(x)


def argmax(x, axis=None, keepdims=False):
    return _np.Argmax(axis, keepdims)(x)


def argmin(x, axis=None, keepdims=False):
    return _np.Argmin(axis, keepdims)(x)


# ---- products and shapes -----------------------------------------------------------------------


def matmul(x1, x2):
    return _np.Matmul()(x1, x2)


def reshape(x, newshape):
    return _np.Reshape(newshape)(x)


def transpose(x, axes=None):
    return _np.Transpose(axes)(x)


def expand_dims(x, axis):
    return _np.ExpandDims(axis)(x)


def squeeze(x, axis=None):
    return _np.Squeeze(axis)(x)


def broadcast_to(x, shape):
    return _np.BroadcastTo(shape)(x)


def concatenate(xs, axis=0):
    return _np.Concatenate(axis)(*xs)


def stack(x, axis=0):
    return _np.Stack(axis)(*x)


def get_item(x, key):
    return _np.GetItem(key)(x)


# ---- activations -------------------------------------------------------------------------------


def relu(x):
    return _nn.Relu()(x)


def sigmoid(x):
    return _nn.Sigmoid()(x)


def tanh(x):
    return _nn.Tanh()(x)


def softplus(x):
    return _nn.Softplus()(x)


def silu(x):
    return _nn.Silu()(x)


swish = silu


def elu(x, alpha=1.0):
    return _nn.Elu(alpha)(x)


def gelu(x, approximate=True):
    return _nn.Gelu(approximate)(x)


def softmax(x, axis=-1):
    return _nn.Softmax(axis)(x)


def log_softmax(x, axis=-1):
    return _nn.LogSoftmax(axis)(x)


# ---- comparisons and logic (no gradient) -------------------------------------------------------

equal = _comparison(np.equal)
not_equal = _comparison(np.not_equal)
greater = _comparison(np.greater)
greater_equal = _comparison(np.greater_equal)
less = _comparison(np.less)
less_equal = _comparison(np.less_equal)
logical_and = _comparison(np.logical_and)
logical_or = _comparison(np.logical_or)


# ---- creation and conversion (arrays, computed at once) ---------------------------------------


def convert_to_tensor(x, dtype=None):
    """``x`` as an array: Python floats take the float type, Python integers int32, booleans
    bool, as in Keras; arrays keep theirs."""
    if dtype is not None or isinstance(x, np.ndarray):
        return np.asarray(x, dtype=dtype)
    array = np.asarray(x)
    kinds = {"f": backend.floatx(), "i": "int32", "u": "int32", "b": "bool"}
    return array.astype(kinds.get(array.dtype.kind, array.dtype))


def convert_to_numpy(x):
    return np.asarray(x)


def shape(x):
    return tuple(np.shape(x)) if not hasattr(x, "shape") else tuple(x.shape)


def zeros(shape, dtype=None):
    return np.zeros(shape, dtype=dtype or backend.floatx())


def ones(shape, dtype=None):
    return np.ones(shape, dtype=dtype or backend.floatx())


def full(shape, fill_value, dtype=None):
    return np.full(shape, fill_value, dtype=dtype or backend.floatx())


def zeros_like(x, dtype=None):
    return np.zeros(shape(x), dtype=dtype or _dtype(x))


def ones_like(x, dtype=None):
    return np.ones(shape(x), dtype=dtype or _dtype(x))


def arange(start, stop=None, step=1, dtype=None):
    return np.arange(start, stop, step, dtype=dtype)


def eye(N, M=None, k=0, dtype=None):  # noqa: N803 - Keras' names
    return np.eye(N, M, k, dtype=dtype or backend.floatx())


def one_hot(x, num_classes, axis=-1, dtype=None):
    """Each integer label as a row with 1 at its index; a label outside [0, num_classes) gives
    a row of zeros, as in Keras."""
    labels = np.asarray(x, dtype=np.int64)
    encoded = (labels[..., None] == np.arange(num_classes)).astype(dtype or backend.floatx())
    return np.moveaxis(encoded, -1, axis) if axis != -1 else encoded


def _dtype(x):
    return getattr(x, "dtype", None) or backend.floatx()


__all__ = [name for name in dir() if not name.startswith("_") and name not in ("np", "backend")]
