"""``keras.ops``: math on arrays and on symbolic tensors, each op with its gradient written by
hand (see :mod:`tinykeras.ops.operation`). On arrays an op computes at once; on the symbolic
tensors of a functional model or of a subclassed model's ``call`` it records a node that the
model's backward pass differentiates."""
import numpy as np

from tinykeras import backend
from tinykeras.ops import einsum as _einsum
from tinykeras.ops import indexing as _indexing
from tinykeras.ops import nn as _nn
from tinykeras.ops import numpy as _np
from tinykeras.ops import shaped as _shaped
from tinykeras.ops.operation import Operation, unbroadcast
from tinykeras.ops.operation import _is_variable
from tinykeras.utils.argument_validation import is_integer as _is_integer


def _comparison(function):
    def compare(x1, x2):
        return _np.Comparison(function, name=backend.unique_name(function.__name__))(x1, x2)

    def test(x):
        return _np.Comparison(function, name=backend.unique_name(function.__name__))(x)

    predicate = test if function.nin == 1 else compare
    predicate.__name__ = predicate.__qualname__ = function.__name__
    predicate.__doc__ = f"``np.{function.__name__}`` elementwise (no gradient)."
    return predicate


def _indices(indices):
    """Indices given as Python numbers or lists, as an integer array; tensors as they are."""
    return np.asarray(indices) if isinstance(indices, (int, list, tuple)) else indices


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


def cumsum(x, axis=None, dtype=None):
    return _np.Cumsum(axis, dtype)(x)


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


def dot(x1, x2):
    return _einsum.Dot()(x1, x2)


def tensordot(x1, x2, axes=2):
    return _einsum.Tensordot(axes)(x1, x2)


def einsum(subscripts, *operands):
    return _einsum.Einsum(subscripts)(*operands)


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


def split(x, indices_or_sections, axis=0):
    """x cut along ``axis`` into a list of pieces, each a slice of x (``get_item``): into
    ``indices_or_sections`` equal pieces for an int, else at the indices it lists.

    Raises:
        ValueError: naming the sizes, when an int does not divide the axis or the axis's size is
            unknown; TypeError: for indices_or_sections of another kind.
    """
    sizes = tuple(x.shape) if hasattr(x, "shape") else np.shape(x)
    axis = _np.normalize_axis(axis, len(sizes), "ops.split")
    size = sizes[axis]
    if _is_integer(indices_or_sections):
        sections = indices_or_sections
        if size is None:
            raise ValueError(
                f"ops.split: the size of axis {axis} of x is known only when the model runs, so it cannot be "
                f"cut into equal sections; give the indices to cut at. Received: x.shape={sizes}")
        if sections < 1 or size % sections:
            raise ValueError(
                f"ops.split: expected a number of sections >= 1 that divides axis {axis} of x into equal "
                f"pieces. Received: indices_or_sections={sections}, x.shape={sizes}")
        bounds = list(range(0, size + 1, size // sections))
    elif isinstance(indices_or_sections, (list, tuple, np.ndarray)) and all(
            _is_integer(i) for i in np.ravel(indices_or_sections)):
        bounds = [0] + [int(i) for i in np.ravel(indices_or_sections)] + [None]
    else:
        raise TypeError(
            "ops.split: expected indices_or_sections as an int or a list of ints. "
            f"Received: indices_or_sections={indices_or_sections!r}")
    return [get_item(x, (slice(None),) * axis + (slice(start, stop),)) for start, stop in zip(bounds, bounds[1:])]


def take(x, indices, axis=None):
    return _indexing.Take(axis)(x, _indices(indices))


def take_along_axis(x, indices, axis=None):
    return _indexing.TakeAlongAxis(axis)(x, _indices(indices))


def repeat(x, repeats, axis=None):
    return _indexing.Repeat(repeats, axis)(x)


def tile(x, repeats):
    return _indexing.Tile(repeats)(x)


def pad(x, pad_width, mode="constant", constant_values=None):
    return _indexing.Pad(pad_width, mode, constant_values)(x)


def flip(x, axis=None):
    return _indexing.Flip(axis)(x)


def roll(x, shift, axis=None):
    return _indexing.Roll(shift, axis)(x)


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


# ---- convolution, pooling, statistics ---------------------------------------------------------


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    return _nn.Conv(strides, padding, data_format, dilation_rate)(inputs, kernel)


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    return _nn.MaxPool(pool_size, strides, padding, data_format)(inputs)


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    return _nn.AveragePool(pool_size, strides, padding, data_format)(inputs)


def moments(x, axes, keepdims=False, synchronized=False):
    """(mean, variance) of x over ``axes``: two ops, ``mean`` and ``var`` (the biased variance)."""
    if synchronized:
        raise ValueError("ops.moments: synchronized=True (statistics across devices) is not supported: tinykeras "
                         "computes on one device, where synchronized=False gives the same statistics.")
    return mean(x, axes, keepdims), var(x, axes, keepdims)


# ---- comparisons and logic (no gradient) -------------------------------------------------------

equal = _comparison(np.equal)
not_equal = _comparison(np.not_equal)
greater = _comparison(np.greater)
greater_equal = _comparison(np.greater_equal)
less = _comparison(np.less)
less_equal = _comparison(np.less_equal)
logical_and = _comparison(np.logical_and)
logical_or = _comparison(np.logical_or)
logical_xor = _comparison(np.logical_xor)
logical_not = _comparison(np.logical_not)
isnan = _comparison(np.isnan)
isfinite = _comparison(np.isfinite)
isinf = _comparison(np.isinf)


# ---- creation and conversion (arrays, computed at once) ---------------------------------------


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """``x`` as an array: Python floats take the float type, Python integers int32, booleans
    bool, as in Keras; arrays keep theirs. A symbolic tensor (in a traced call or loss), or a
    layer's variable while a call is traced, stays itself (cast to ``dtype`` if given), so that
    its gradient still flows."""
    from tinykeras import functional

    if sparse or ragged:
        raise ValueError("convert_to_tensor: sparse and ragged tensors are not supported by tinykeras; "
                         "pass dense arrays.")
    if isinstance(x, functional.KerasTensor) or (_is_variable(x) and functional.tracing()):
        return x if dtype is None or np.dtype(dtype) == np.dtype(x.dtype) else cast(x, dtype)
    if dtype is not None or isinstance(x, np.ndarray):
        return np.asarray(x, dtype=dtype)
    array = np.asarray(x)
    kinds = {"f": backend.floatx(), "i": "int32", "u": "int32", "b": "bool"}
    return array.astype(kinds.get(array.dtype.kind, array.dtype))


def convert_to_numpy(x):
    return np.asarray(x)


def shape(x):
    """The sizes of x's axes (for a symbolic tensor, its batch size a Dim that ``zeros``,
    ``ones``, ``full`` and ``keras.random`` accept)."""
    return _shaped.shape_of(x)


def zeros(shape, dtype=None):
    dtype = dtype or backend.floatx()
    return _shaped.shaped(lambda sizes: np.zeros(sizes, dtype=dtype), shape, "zeros")


def ones(shape, dtype=None):
    dtype = dtype or backend.floatx()
    return _shaped.shaped(lambda sizes: np.ones(sizes, dtype=dtype), shape, "ones")


def full(shape, fill_value, dtype=None):
    dtype = dtype or backend.floatx()
    return _shaped.shaped(lambda sizes: np.full(sizes, fill_value, dtype=dtype), shape, "full")


def zeros_like(x, dtype=None):
    return zeros(shape(x), dtype=dtype or _dtype(x))


def ones_like(x, dtype=None):
    return ones(shape(x), dtype=dtype or _dtype(x))


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


from tinykeras._missing import attribute_error_for  # noqa: E402

__getattr__ = attribute_error_for(__name__)
