"""NumPy-like ops with Keras 3's names: elementwise math, reductions, matmul, shapes. Each
vector-Jacobian product sits under its op (dL/dx from dL/dy = ``dy``)."""
import math

import numpy as np

from tinykeras.kernels.blas import matmul as blas_matmul
from tinykeras.ops.operation import Operation, unbroadcast
from tinykeras.utils.argument_validation import is_integer


def normalize_axis(axis, ndim, where, several=False):
    """``axis`` with each axis counted from the start (None stays None).

    Args:
        axis: None, an int, or with ``several`` a tuple or list of ints; each in [-ndim, ndim).
        ndim: the rank of the operand.
        where: the op, for the messages (``'ops.flip'``).
        several: whether a tuple of axes is allowed (then returned as a tuple).

    Raises:
        TypeError: for an axis that is not an integer. ValueError: for one out of range.
    """
    if axis is None:
        return None
    axes = tuple(axis) if several and isinstance(axis, (tuple, list)) else (axis,)
    kind = "an int or a tuple of ints" if several else "an int"
    if not all(is_integer(a) for a in axes):
        raise TypeError(f"{where}: expected axis as {kind}. Received: axis={axis!r}")
    if not all(-ndim <= a < ndim for a in axes):
        raise ValueError(f"{where}: expected axis in [{-ndim}, {ndim}) for an operand of rank {ndim}. "
                         f"Received: axis={axis!r}")
    axes = tuple(int(a) % ndim for a in axes)
    return axes if isinstance(axis, (tuple, list)) else axes[0]


# ---- elementwise, two operands (broadcasting: each gradient summed back to its operand) -------


class Binary(Operation):
    def compute(self, x1, x2):
        self.shapes = (np.shape(x1), np.shape(x2))
        self.x1, self.x2 = x1, x2
        return self.apply(x1, x2)

    def vjp(self, dy):
        d1, d2 = self.partials(dy)
        return unbroadcast(np.asarray(d1), self.shapes[0]), unbroadcast(np.asarray(d2), self.shapes[1])


class Add(Binary):
    """x1 + x2: d/dx1 = d/dx2 = 1."""

    def apply(self, x1, x2):
        return np.add(x1, x2)

    def partials(self, dy):
        return dy, dy


class Subtract(Binary):
    """x1 - x2: d/dx1 = 1, d/dx2 = -1."""

    def apply(self, x1, x2):
        return np.subtract(x1, x2)

    def partials(self, dy):
        return dy, -dy


class Multiply(Binary):
    """x1 * x2: d/dx1 = x2, d/dx2 = x1."""

    def apply(self, x1, x2):
        return np.multiply(x1, x2)

    def partials(self, dy):
        return dy * self.x2, dy * self.x1


class Divide(Binary):
    """x1 / x2: d/dx1 = 1 / x2, d/dx2 = -x1 / x2**2."""

    def apply(self, x1, x2):
        self.y = np.divide(x1, x2)
        return self.y

    def partials(self, dy):
        return dy / self.x2, -dy * self.y / self.x2


class Power(Binary):
    """x1 ** x2: d/dx1 = x2 * x1**(x2 - 1) (0 where x2 is 0, x1**0 being constant; infinite
    where x1 is 0 and x2 < 1), d/dx2 = x1**x2 * log(x1) (0 where x1 is 0)."""

    def apply(self, x1, x2):
        self.y = np.power(x1, x2)
        return self.y

    def partials(self, dy):
        x1 = np.asarray(self.x1)
        with np.errstate(divide="ignore", invalid="ignore"):
            log = np.where(x1 > 0, np.log(np.where(x1 > 0, x1, 1)), 0)
            slope = np.where(np.equal(self.x2, 0), 0, self.x2 * np.power(x1, np.subtract(self.x2, 1)))
            return dy * slope, dy * self.y * log


class Maximum(Binary):
    """max(x1, x2): the gradient goes to the larger (to x1 on ties, as Keras on TensorFlow)."""

    def apply(self, x1, x2):
        self.first = np.greater_equal(x1, x2)
        return np.maximum(x1, x2)

    def partials(self, dy):
        return dy * self.first, dy * ~self.first


class Minimum(Binary):
    """min(x1, x2): the gradient goes to the smaller (to x1 on ties)."""

    def apply(self, x1, x2):
        self.first = np.less_equal(x1, x2)
        return np.minimum(x1, x2)

    def partials(self, dy):
        return dy * self.first, dy * ~self.first


# ---- elementwise, one operand ------------------------------------------------------------------


class Unary(Operation):
    def compute(self, x):
        self.x = x
        self.y = self.apply(x)
        return self.y

    def vjp(self, dy):
        return (self.derivative(dy),)


class Negative(Unary):
    """-x: d/dx = -1."""

    def apply(self, x):
        return np.negative(x)

    def derivative(self, dy):
        return -dy


class Square(Unary):
    """x**2: d/dx = 2x."""

    def apply(self, x):
        return np.square(x)

    def derivative(self, dy):
        return 2 * dy * self.x


class Sqrt(Unary):
    """sqrt(x): d/dx = 1 / (2 sqrt(x))."""

    def apply(self, x):
        return np.sqrt(x)

    def derivative(self, dy):
        return dy / (2 * self.y)


class Exp(Unary):
    """exp(x): d/dx = exp(x)."""

    def apply(self, x):
        return np.exp(x)

    def derivative(self, dy):
        return dy * self.y


class Log(Unary):
    """log(x): d/dx = 1 / x."""

    def apply(self, x):
        return np.log(x)

    def derivative(self, dy):
        return dy / self.x


class Log1p(Unary):
    """log(1 + x): d/dx = 1 / (1 + x)."""

    def apply(self, x):
        return np.log1p(x)

    def derivative(self, dy):
        return dy / (1 + self.x)


class Absolute(Unary):
    """|x|: d/dx = sign(x) (0 at 0)."""

    def apply(self, x):
        return np.abs(x)

    def derivative(self, dy):
        return dy * np.sign(self.x)


class Sign(Unary):
    """sign(x): d/dx = 0."""

    def apply(self, x):
        return np.sign(x)

    def derivative(self, dy):
        return np.zeros_like(dy)


class Clip(Operation):
    """clip(x, x_min, x_max): d/dx = 1 inside [x_min, x_max], 0 outside (and at the bounds the
    gradient passes, as Keras on TensorFlow)."""

    def __init__(self, x_min, x_max, name=None):
        super().__init__(name)
        self.x_min, self.x_max = x_min, x_max

    def compute(self, x):
        self.inside = (x >= self.x_min) & (x <= self.x_max)
        return np.clip(x, self.x_min, self.x_max)

    def vjp(self, dy):
        return (dy * self.inside,)


class Where(Operation):
    """where(condition, x1, x2): the gradient goes to x1 where the condition holds, else to x2;
    the condition has none."""

    def compute(self, condition, x1, x2):
        self.condition = np.asarray(condition, dtype=bool)
        self.shapes = (np.shape(x1), np.shape(x2))
        return np.where(self.condition, x1, x2)

    def vjp(self, dy):
        zero = np.zeros((), dy.dtype)
        return (None, unbroadcast(np.where(self.condition, dy, zero), self.shapes[0]),
                unbroadcast(np.where(self.condition, zero, dy), self.shapes[1]))


class Cast(Operation):
    """x as ``dtype``: the gradient cast back to x's type; none through a cast from or to a
    type that is not a float (the result is then constant between integers)."""

    def __init__(self, dtype, name=None):
        super().__init__(name)
        self.dtype = np.dtype(dtype)

    def compute(self, x):
        self.source = np.asarray(x).dtype
        return np.asarray(x).astype(self.dtype)

    def vjp(self, dy):
        return (dy.astype(self.source) if self.source.kind == self.dtype.kind == "f" else None,)


class StopGradient(Unary):
    """x, through which no gradient flows."""

    def apply(self, x):
        return np.asarray(x)

    def derivative(self, dy):
        return None


# ---- reductions --------------------------------------------------------------------------------


class Reduction(Operation):
    def __init__(self, axis=None, keepdims=False, name=None):
        super().__init__(name)
        self.axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
        self.keepdims = keepdims

    def compute(self, x):
        self.x = np.asarray(x)
        self.y = self.reduce(self.x)
        return self.y

    def expanded(self, value):
        """``value`` (shaped like the output) with the reduced axes back, size 1, so that it
        broadcasts against x."""
        if self.keepdims or self.axis is None and np.ndim(value) == self.x.ndim:
            return value
        axes = range(self.x.ndim) if self.axis is None else np.atleast_1d(self.axis)
        return np.expand_dims(value, tuple(int(a) % self.x.ndim for a in axes))


class Sum(Reduction):
    """sum over axis: d/dx = 1 at every summed place."""

    def reduce(self, x):
        return np.sum(x, axis=self.axis, keepdims=self.keepdims)

    def vjp(self, dy):
        return (np.broadcast_to(self.expanded(dy), self.x.shape).copy(),)


class Mean(Reduction):
    """mean over axis: d/dx = 1 / n, n the number of values averaged."""

    def reduce(self, x):
        return np.mean(x, axis=self.axis, keepdims=self.keepdims)

    def vjp(self, dy):
        count = self.x.size // max(np.size(self.y), 1)
        return (np.broadcast_to(self.expanded(dy) / count, self.x.shape).copy(),)


class Max(Reduction):
    """max over axis: the gradient goes to the maximal values (shared equally between ties)."""

    def reduce(self, x):
        return np.max(x, axis=self.axis, keepdims=self.keepdims)

    def vjp(self, dy):
        hits = (self.x == self.expanded(self.y)).astype(self.x.dtype)
        share = hits / hits.sum(axis=self.axis, keepdims=True)
        return (share * self.expanded(dy),)


class Min(Max):
    """min over axis: the gradient goes to the minimal values (shared equally between ties)."""

    def reduce(self, x):
        return np.min(x, axis=self.axis, keepdims=self.keepdims)


class Var(Reduction):
    """variance over axis: d/dx = 2 (x - mean) / n."""

    def reduce(self, x):
        return np.var(x, axis=self.axis, keepdims=self.keepdims)

    def vjp(self, dy):
        count = self.x.size // max(np.size(self.y), 1)
        centred = self.x - np.mean(self.x, axis=self.axis, keepdims=True)
        return (2 * centred / count * self.expanded(dy),)


class Std(Var):
    """standard deviation over axis: d/dx = (x - mean) / (n std)."""

    def reduce(self, x):
        return np.std(x, axis=self.axis, keepdims=self.keepdims)

    def vjp(self, dy):
        count = self.x.size // max(np.size(self.y), 1)
        centred = self.x - np.mean(self.x, axis=self.axis, keepdims=True)
        return (centred / (count * self.expanded(self.y)) * self.expanded(dy),)


class Logsumexp(Reduction):
    """log(sum(exp(x))) over axis, computed from the max: d/dx = softmax(x) over the axis."""

    def reduce(self, x):
        top = np.max(x, axis=self.axis, keepdims=True)
        total = np.log(np.sum(np.exp(x - top), axis=self.axis, keepdims=True)) + top
        self.total = total
        return total if self.keepdims else np.squeeze(total, axis=self.axis)

    def vjp(self, dy):
        return (np.exp(self.x - self.total) * self.expanded(dy),)


class Argmax(Reduction):
    """The index of the maximum along axis (no gradient)."""

    differentiable = False

    def reduce(self, x):
        return np.argmax(x, axis=self.axis, keepdims=self.keepdims)


class Argmin(Reduction):
    """The index of the minimum along axis (no gradient)."""

    differentiable = False

    def reduce(self, x):
        return np.argmin(x, axis=self.axis, keepdims=self.keepdims)


class Cumsum(Operation):
    """Cumulative sum along axis (of x flattened when None): y_i = sum_{j <= i} x_j, so
    dL/dx_j = sum_{i >= j} dy_i, the cumulative sum of dy taken from the end. ``dtype`` sets the
    result's type (booleans sum as int32); the gradient flows from a float to a float."""

    def __init__(self, axis=None, dtype=None, name=None):
        super().__init__(name)
        self.axis, self.dtype = axis, dtype

    def compute(self, x):
        x = np.asarray(x)
        self.shape, self.source = x.shape, x.dtype
        self.place = normalize_axis(self.axis, x.ndim, "ops.cumsum")
        return np.cumsum(x, self.place, self.dtype or ("int32" if x.dtype == bool else None))

    def vjp(self, dy):
        if not self.source.kind == dy.dtype.kind == "f":
            return (None,)
        flat, axis = (dy.reshape(-1), 0) if self.place is None else (dy, self.place)
        dx = np.flip(np.cumsum(np.flip(flat, axis), axis), axis)
        return (dx.reshape(self.shape).astype(self.source, copy=False),)


# ---- products ----------------------------------------------------------------------------------


class Matmul(Operation):
    """x1 @ x2 (batched over leading axes): d/dx1 = dy @ x2^T, d/dx2 = x1^T @ dy, summed over
    broadcast batch axes. A 1-D operand is a vector, and dy gets back the axis its product lost:
    x2's (the last) first, so that the 0-d dy of vector @ vector takes both.

    A 2-D x2 multiplies the rows of x1 whatever x1's leading axes: one 2-D product each way
    through ``kernels.blas.matmul`` (BLAS on one thread, large products split into bands, as
    Dense computes), and d/dx2 = rows(x1)^T @ rows(dy) in one product, which sums over the
    leading axes as it goes."""

    def compute(self, x1, x2):
        self.x1, self.x2 = np.asarray(x1), np.asarray(x2)
        if self._by_rows():
            return blas_matmul(_rows(self.x1), self.x2).reshape(self.x1.shape[:-1] + self.x2.shape[1:])
        return np.matmul(self.x1, self.x2)

    def _by_rows(self):
        """Whether x2 is a matrix whose rows match x1's last axis."""
        return self.x2.ndim == 2 and self.x1.ndim >= 1 and self.x1.shape[-1] == self.x2.shape[0]

    def vjp(self, dy):
        if self._by_rows():
            dy2 = _rows(np.asarray(dy))
            d1 = blas_matmul(dy2, self.x2.T).reshape(self.x1.shape) if self.wants(0) else None
            d2 = blas_matmul(_rows(self.x1).T, dy2) if self.wants(1) else None
            return d1, d2
        x1 = self.x1[None, :] if self.x1.ndim == 1 else self.x1
        x2 = self.x2[:, None] if self.x2.ndim == 1 else self.x2
        if self.x2.ndim == 1:
            dy = np.expand_dims(dy, -1)
        if self.x1.ndim == 1:
            dy = np.expand_dims(dy, -2)
        d1 = d2 = None
        if self.wants(0):
            d1 = unbroadcast(np.matmul(dy, np.swapaxes(x2, -1, -2)), x1.shape).reshape(self.x1.shape)
        if self.wants(1):
            d2 = unbroadcast(np.matmul(np.swapaxes(x1, -1, -2), dy), x2.shape).reshape(self.x2.shape)
        return d1, d2


def _rows(x):
    """``x`` of shape (..., k) as a 2-D (rows, k) array (a view when x is contiguous)."""
    return x.reshape(math.prod(x.shape[:-1]), x.shape[-1])


# ---- shapes ------------------------------------------------------------------------------------


class Reshape(Operation):
    """x with ``newshape``: the gradient reshaped back."""

    def __init__(self, newshape, name=None):
        super().__init__(name)
        self.newshape = tuple(newshape) if isinstance(newshape, (list, tuple)) else newshape

    def compute(self, x):
        self.shape = np.shape(x)
        newshape = self.newshape
        if isinstance(newshape, tuple) and None in newshape:  # a symbolic batch axis
            newshape = tuple(-1 if d is None else d for d in newshape)
        return np.reshape(x, newshape)

    def vjp(self, dy):
        return (np.reshape(dy, self.shape),)


class Transpose(Operation):
    """x with its axes permuted (reversed by default; an axis may count from the end): the
    gradient permuted back by the inverse permutation."""

    def __init__(self, axes=None, name=None):
        super().__init__(name)
        self.axes = None if axes is None else tuple(axes)

    def compute(self, x):
        ndim = np.ndim(x)
        self.order = tuple(range(ndim))[::-1] if self.axes is None else tuple(a % ndim for a in self.axes)
        return np.transpose(x, self.order)

    def vjp(self, dy):
        return (np.transpose(dy, np.argsort(self.order)),)


class ExpandDims(Operation):
    def __init__(self, axis, name=None):
        super().__init__(name)
        self.axis = axis

    def compute(self, x):
        self.shape = np.shape(x)
        return np.expand_dims(x, self.axis)

    def vjp(self, dy):
        return (np.reshape(dy, self.shape),)


class Squeeze(ExpandDims):
    def compute(self, x):
        self.shape = np.shape(x)
        return np.squeeze(x, self.axis)


class BroadcastTo(Operation):
    """x stretched to ``shape``: the gradient summed back."""

    def __init__(self, shape, name=None):
        super().__init__(name)
        self.shape = tuple(shape)

    def compute(self, x):
        self.source = np.shape(x)
        return np.broadcast_to(x, self.shape)

    def vjp(self, dy):
        return (unbroadcast(dy, self.source),)


class Concatenate(Operation):
    """xs joined along ``axis``: each gradient is its slice of dy."""

    def __init__(self, axis=0, name=None):
        super().__init__(name)
        self.axis = axis

    def compute(self, *xs):
        self.sizes = [np.shape(x)[self.axis] for x in xs]
        return np.concatenate(xs, axis=self.axis)

    def vjp(self, dy):
        return tuple(np.split(dy, np.cumsum(self.sizes)[:-1], axis=self.axis))


class Stack(Operation):
    """xs stacked along a new ``axis``: each gradient is its slice of dy."""

    def __init__(self, axis=0, name=None):
        super().__init__(name)
        self.axis = axis

    def compute(self, *xs):
        return np.stack(xs, axis=self.axis)

    def vjp(self, dy):
        return tuple(np.moveaxis(dy, self.axis, 0))


class GetItem(Operation):
    """x[key] (slices, integers, None, Ellipsis, index arrays): the gradient scattered back into
    zeros of x's shape, adding where an index repeats."""

    def __init__(self, key, name=None):
        super().__init__(name)
        self.key = key

    def compute(self, x):
        self.x = np.asarray(x)
        return self.x[self.key]

    def vjp(self, dy):
        dx = np.zeros_like(self.x, dtype=dy.dtype)
        np.add.at(dx, self.key, dy)
        return (dx,)


# ---- comparisons and logic: no gradient -------------------------------------------------------


class Comparison(Operation):
    differentiable = False

    def __init__(self, function, name=None):
        super().__init__(name or function.__name__)
        self.function = function

    def compute(self, *operands):
        return self.function(*operands)
