"""Merge layers: combine a list of tensors into one (Add, Subtract, Multiply, Average, Maximum,
Minimum, Concatenate, Dot), as Keras' ``keras.layers`` do.

Each takes a list of inputs: ``layers.Add()([a, b])``. The elementwise ones broadcast axes of
size 1 against each other (the batch axis included), so their backward sums the gradient over
the axes an input was broadcast along (``_unbroadcast``).
"""
import numpy as np

from tinykeras.layers.base import Layer
from tinykeras.ops.operation import unbroadcast


class Merge(Layer):
    """Base of the merge layers: checks the list of inputs and their shapes.

    Subclasses implement ``merge(inputs) -> y`` and ``merge_backward(dy) -> [dx, ...]`` with
    what ``merge`` kept.
    """

    #: How many inputs the layer takes: (fewest, most); None for no upper bound.
    arity = (2, None)
    makes_masks = False

    def compute_mask(self, inputs, previous_mask=None):
        """The output's mask, as Keras' merge layers give it: the inputs' masks joined by OR
        (a step is kept where any input keeps it), or None when an input has none."""
        masks = _mask_list(self, inputs, previous_mask)
        if masks is None or any(m is None for m in masks):
            return None
        return np.logical_or.reduce([np.asarray(m, dtype=bool) for m in masks])

    def compute_output_shape(self, input_shape):
        shapes = self._shapes(input_shape)
        return _broadcast_shape(shapes, self.name)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.built = True

    def forward(self, x, training=False):
        inputs = self._inputs(x)
        return self.merge(inputs)

    def backward(self, dy):
        self.grads = []
        return self.merge_backward(dy)

    def _shapes(self, input_shape):
        """The input shapes as a list of tuples, checked for their number and rank."""
        if not isinstance(input_shape, (list, tuple)) or not input_shape or not isinstance(input_shape[0], (list, tuple)):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) merges a list of tensors, e.g. "
                f"{type(self).__name__}()([a, b]); received one input of shape {input_shape}. "
                "In a Sequential model a layer receives one tensor: a merge layer cannot be one of "
                "its layers."
            )
        shapes = [tuple(shape) for shape in input_shape]
        fewest, most = self.arity
        if len(shapes) < fewest or (most is not None and len(shapes) > most):
            expected = f"exactly {fewest}" if fewest == most else f"at least {fewest}"
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) takes {expected} inputs; received "
                f"{len(shapes)} (shapes {shapes})."
            )
        if len({len(shape) for shape in shapes}) > 1:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) takes inputs of one rank; received "
                f"shapes {shapes}. Reshape them (layers.Reshape, np.expand_dims) to the same rank; "
                "tinykeras does not insert axes for you."
            )
        return shapes

    def _inputs(self, x):
        if not isinstance(x, (list, tuple)):
            self._shapes(np.shape(x))  # raises: one tensor where a list was expected
        inputs = list(x)
        self.compute_output_shape([(None,) + v.shape[1:] for v in inputs])
        return inputs


def _broadcast_shape(shapes, name):
    """The shape elementwise operations on ``shapes`` give: equal sizes, or 1 against any size
    (None, unknown, against any)."""
    result = []
    for sizes in zip(*shapes):
        known = {s for s in sizes if s is not None and s != 1}
        if len(known) > 1:
            raise ValueError(
                f"Layer '{name}': the inputs have incompatible shapes {list(shapes)}: each axis "
                "must have one size, or size 1."
            )
        if known:
            result.append(known.pop())
        elif None in sizes:
            result.append(None)
        else:
            result.append(1)
    return tuple(result)


class Elementwise(Merge):
    """An elementwise merge whose inputs keep their shapes for the backward."""

    def merge(self, inputs):
        self._input_shapes = [v.shape for v in inputs]
        return self.combine(inputs)


class Add(Elementwise):
    """``y = x_0 + x_1 + ...``; each input's gradient is dy."""

    def combine(self, inputs):
        y = inputs[0] + inputs[1]
        for v in inputs[2:]:
            y = y + v
        return y

    def merge_backward(self, dy):
        return [unbroadcast(dy, shape) for shape in self._input_shapes]


class Subtract(Elementwise):
    """``y = x_0 - x_1``; gradients dy and -dy."""

    arity = (2, 2)

    def combine(self, inputs):
        return inputs[0] - inputs[1]

    def merge_backward(self, dy):
        first, second = self._input_shapes
        return [unbroadcast(dy, first), unbroadcast(-dy, second)]


class Multiply(Elementwise):
    """``y = x_0 * x_1 * ...``; the gradient of x_i is dy times the product of the others."""

    def combine(self, inputs):
        self._x = inputs
        y = inputs[0] * inputs[1]
        for v in inputs[2:]:
            y = y * v
        return y

    def merge_backward(self, dy):
        grads = []
        for i, shape in enumerate(self._input_shapes):
            others = dy
            for j, v in enumerate(self._x):
                if j != i:
                    others = others * v
            grads.append(unbroadcast(others, shape))
        return grads


class Average(Elementwise):
    """``y = (x_0 + ... + x_{n-1}) / n``; each input's gradient is dy / n."""

    def combine(self, inputs):
        return Add.combine(self, inputs) / len(inputs)

    def merge_backward(self, dy):
        return [unbroadcast(dy / len(self._input_shapes), shape) for shape in self._input_shapes]


class _Extremum(Elementwise):
    """``y = pick(...pick(pick(x_0, x_1), x_2)...)``, taken pairwise in order as Keras does; the
    gradient goes to the input picked, and on a tie to the earlier one (TensorFlow's rule:
    ``maximum(a, b)`` passes it to ``a`` where ``a >= b``)."""

    def combine(self, inputs):
        y = inputs[0]
        self._winners = []
        for v in inputs[1:]:
            keep = self.keeps(y, v)  # where the running result stays
            self._winners.append(keep)
            y = np.where(keep, y, v)
        return y

    def merge_backward(self, dy):
        grads = [None] * len(self._input_shapes)
        running = dy
        for i in range(len(self._winners), 0, -1):
            keep = self._winners[i - 1]
            grads[i] = unbroadcast(np.where(keep, 0, running), self._input_shapes[i])
            running = np.where(keep, running, 0)
        grads[0] = unbroadcast(running, self._input_shapes[0])
        return grads


class Maximum(_Extremum):
    """The elementwise maximum of the inputs."""

    @staticmethod
    def keeps(current, candidate):
        return current >= candidate


class Minimum(_Extremum):
    """The elementwise minimum of the inputs."""

    @staticmethod
    def keeps(current, candidate):
        return current <= candidate


class Concatenate(Merge):
    """Joins the inputs along ``axis``; every other axis must match.

    Args:
        axis: the axis to join along (-1, the last, by default; never the batch axis 0).
    """

    def compute_mask(self, inputs, previous_mask=None):
        """Keras' mask of a concatenation: each input's mask (ones for an input without one),
        widened to the input's shape, joined along ``axis``, then reduced over the last axis by
        OR; None when no input has a mask."""
        masks = _mask_list(self, inputs, previous_mask)
        if masks is None or all(m is None for m in masks):
            return None
        full = []
        for x, mask in zip(inputs, masks):
            x = np.asarray(x)
            if mask is None:
                full.append(np.ones(x.shape, dtype=bool))
            elif np.ndim(mask) < x.ndim:
                full.append(np.broadcast_to(np.expand_dims(np.asarray(mask, dtype=bool), -1), x.shape))
            else:
                full.append(np.asarray(mask, dtype=bool))
        return np.concatenate(full, axis=self.axis).any(axis=-1)

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"Concatenate: axis must be an integer. Received: axis={axis!r}")
        self.axis = int(axis)

    def compute_output_shape(self, input_shape):
        shapes = self._shapes(input_shape)
        rank = len(shapes[0])
        axis = self.axis % rank if -rank <= self.axis < rank else None
        if axis in (None, 0):
            raise ValueError(
                f"Layer '{self.name}' (Concatenate): axis={self.axis} is not a feature axis of "
                f"inputs of rank {rank}; use an axis from 1 to {rank - 1} (or -1)."
            )
        for i in range(rank):
            if i == axis:
                continue
            sizes = {shape[i] for shape in shapes} - {None}
            if len(sizes) > 1:
                raise ValueError(
                    f"Layer '{self.name}' (Concatenate): the inputs must match on every axis but "
                    f"axis {self.axis}; received shapes {shapes}."
                )
        output = list(_broadcast_shape([tuple(1 if j == axis else s for j, s in enumerate(shape)) for shape in shapes], self.name))
        sizes = [shape[axis] for shape in shapes]
        output[axis] = None if None in sizes else sum(sizes)
        return tuple(output)

    def merge(self, inputs):
        self._splits = np.cumsum([v.shape[self.axis] for v in inputs])[:-1]
        return np.concatenate(inputs, axis=self.axis)

    def merge_backward(self, dy):
        return np.split(dy, self._splits, axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Dot(Merge):
    """The dot product of two tensors, sample by sample (Keras' ``batch_dot``): the sum over
    ``axes`` of ``x_0 * x_1``. Two inputs of shape (batch, n) give (batch, 1); (batch, n, k)
    and (batch, k, m) with ``axes=(2, 1)`` give (batch, n, m).

    Args:
        axes: the axis of each input to sum over: an integer for both, or a pair.
        normalize: divide each input by its L2 norm along its axis first, so that the product
            is the cosine similarity.
    """

    arity = (2, 2)

    def compute_mask(self, inputs, previous_mask=None):
        """None: a dot product's output carries no mask, as in Keras."""
        return None

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        integer = isinstance(axes, (int, np.integer)) and not isinstance(axes, bool)
        pair = (axes, axes) if integer else axes
        if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in pair)):
            raise TypeError(f"Dot: axes must be an integer or a pair of integers. Received: axes={axes!r}")
        if not isinstance(normalize, (bool, np.bool_)):
            raise TypeError(f"Dot: normalize must be True or False. Received: normalize={normalize!r}")
        # As given (an integer or a pair), as Keras keeps it in the layer's config.
        self.axes = int(axes) if integer else tuple(int(a) for a in pair)
        self.normalize = bool(normalize)

    def _contraction(self, shapes):
        """The einsum subscripts of the product for inputs of these shapes."""
        rank = len(shapes[0])
        pair = (self.axes, self.axes) if isinstance(self.axes, int) else self.axes
        if rank not in (2, 3):
            raise ValueError(
                f"Layer '{self.name}' (Dot) takes inputs of rank 2 or 3 (batch axis included); "
                f"received shapes {list(shapes)}."
            )
        axes = [a % rank if -rank <= a < rank else None for a in pair]
        if None in axes or 0 in axes:
            raise ValueError(
                f"Layer '{self.name}' (Dot): axes={self.axes} must name feature axes of inputs of "
                f"rank {rank} (1 to {rank - 1}, or negative)."
            )
        first, second = shapes
        if None not in (first[axes[0]], second[axes[1]]) and first[axes[0]] != second[axes[1]]:
            raise ValueError(
                f"Layer '{self.name}' (Dot): the summed axes differ in size: "
                f"{first[axes[0]]} (axis {axes[0]} of {first}) and {second[axes[1]]} (axis "
                f"{axes[1]} of {second})."
            )
        letters_0 = ["b"] + ["i", "j"][: rank - 1]
        letters_1 = ["b"] + ["m", "n"][: rank - 1]
        letters_0[axes[0]] = letters_1[axes[1]] = "k"
        out = "b" + "".join(c for c in letters_0[1:] + letters_1[1:] if c != "k")
        return "".join(letters_0), "".join(letters_1), out, axes

    def compute_output_shape(self, input_shape):
        shapes = self._shapes(input_shape)
        subscripts_0, subscripts_1, out, axes = self._contraction(shapes)
        sizes = {**dict(zip(subscripts_0, shapes[0])), **dict(zip(subscripts_1, shapes[1]))}
        sizes["b"] = shapes[0][0] if shapes[0][0] is not None else shapes[1][0]
        shape = tuple(sizes[c] for c in out)
        return shape + (1,) if len(shape) == 1 else shape

    def merge(self, inputs):
        first, second = inputs
        self._spec = self._contraction([first.shape, second.shape])
        subscripts_0, subscripts_1, out, axes = self._spec
        if self.normalize:
            first, self._norm_0 = _l2_normalize(first, axes[0])
            second, self._norm_1 = _l2_normalize(second, axes[1])
        self._x = (first, second)
        y = np.einsum(f"{subscripts_0},{subscripts_1}->{out}", first, second)
        return y[:, None] if y.ndim == 1 else y

    def merge_backward(self, dy):
        subscripts_0, subscripts_1, out, axes = self._spec
        dy = dy.reshape(dy.shape[:1]) if len(out) == 1 else dy
        first, second = self._x
        d_first = np.einsum(f"{out},{subscripts_1}->{subscripts_0}", dy, second)
        d_second = np.einsum(f"{out},{subscripts_0}->{subscripts_1}", dy, first)
        if self.normalize:
            d_first = _l2_normalize_backward(d_first, first, self._norm_0, axes[0])
            d_second = _l2_normalize_backward(d_second, second, self._norm_1, axes[1])
        return [d_first, d_second]

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


#: Keras' l2_normalize floor on the squared norm.
_L2_EPSILON = 1e-12


def _l2_normalize(x, axis):
    """``x / sqrt(max(sum(x^2, axis), 1e-12))`` and that denominator."""
    norm = np.sqrt(np.maximum((x * x).sum(axis=axis, keepdims=True), _L2_EPSILON))
    return x / norm, norm


def _l2_normalize_backward(dv, v, norm, axis):
    """dL/dx for ``v = x / norm``: ``(dv - v * sum(dv * v)) / norm`` where the norm is above
    its floor (there, norm is a constant and the gradient is ``dv / norm``)."""
    above = norm > np.sqrt(_L2_EPSILON)
    return np.where(above, dv - v * (dv * v).sum(axis=axis, keepdims=True), dv) / norm


def add(inputs, **kwargs):
    """Functional form of :class:`Add`: ``Add(**kwargs)(inputs)``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """Functional form of :class:`Subtract`: ``Subtract(**kwargs)(inputs)``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """Functional form of :class:`Multiply`: ``Multiply(**kwargs)(inputs)``."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """Functional form of :class:`Average`: ``Average(**kwargs)(inputs)``."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """Functional form of :class:`Maximum`: ``Maximum(**kwargs)(inputs)``."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """Functional form of :class:`Minimum`: ``Minimum(**kwargs)(inputs)``."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """Functional form of :class:`Concatenate`: ``Concatenate(axis, **kwargs)(inputs)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, **kwargs):
    """Functional form of :class:`Dot`: ``Dot(axes, **kwargs)(inputs)``; ``axes=-1`` sums over
    the last axis of each input, as Keras' default."""
    return Dot(axes=axes, **kwargs)(inputs)


def _mask_list(layer, inputs, mask):
    """The masks of a merge layer's inputs as a list (None for no mask at all), checked as
    Keras checks them."""
    if mask is None:
        return None
    if not isinstance(mask, (list, tuple)):
        raise ValueError(f"Layer '{layer.name}': `mask` should be a list. Received: mask={mask}")
    if not isinstance(inputs, (list, tuple)):
        raise ValueError(f"Layer '{layer.name}': `inputs` should be a list. Received: inputs={inputs}")
    if len(mask) != len(inputs):
        raise ValueError(
            f"Layer '{layer.name}': the lists `inputs` and `mask` should have the same length. Received: "
            f"{len(inputs)} inputs and {len(mask)} masks."
        )
    return list(mask)
