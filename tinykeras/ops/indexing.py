"""Ops that pick, repeat or move values by their index: take, take_along_axis, repeat, tile,
pad, flip and roll. A value read several times gets the sum of the gradients of its copies
(dL/dy = ``dy``)."""
import numpy as np

from tinykeras.ops.numpy import normalize_axis
from tinykeras.ops.operation import Operation
from tinykeras.utils.argument_validation import is_integer


def integer_indices(indices, where):
    """``indices`` as an integer array, or a TypeError naming the op ``where``."""
    indices = np.asarray(indices)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"{where}: expected integer indices. Received: indices of dtype {indices.dtype}")
    return indices


class Gather(Operation):
    """y = x[key], the key built by ``index`` from the index operands along axis ``place`` of
    x (of x flattened when ``axis`` is None): dL/dx scatter-adds dy into zeros at the key
    (``np.add.at``, so an index that repeats adds up its gradients); the indices have none."""

    where = "ops.gather"

    def __init__(self, axis=None, name=None):
        super().__init__(name)
        self.axis = axis

    def compute(self, x, *indices):
        self.x, self.count = np.asarray(x), len(indices)
        source = self.x.reshape(-1) if self.axis is None else self.x
        self.place = normalize_axis(0 if self.axis is None else self.axis, source.ndim, self.where)
        self.key = self.index(source, *indices)
        return source[self.key]

    def vjp(self, dy):
        dx = np.zeros(self.x.size if self.axis is None else self.x.shape, dy.dtype)
        np.add.at(dx, self.key, dy)
        return (dx.reshape(self.x.shape),) + (None,) * self.count


class Take(Gather):
    """``np.take(x, indices, axis)``: the values of x at ``indices`` along axis (negative ones
    counting from the end), x flattened when axis is None."""

    where = "ops.take"

    def index(self, source, indices):
        return (slice(None),) * self.place + (integer_indices(indices, self.where),)


class TakeAlongAxis(Gather):
    """``np.take_along_axis(x, indices, axis)``: y[..., i, ...] = x[..., indices[..., i, ...],
    ...] along axis, the other axes of x and indices broadcast together; x flattened when
    axis is None."""

    where = "ops.take_along_axis"

    def index(self, source, indices):
        indices = integer_indices(indices, self.where)
        if indices.ndim != source.ndim:
            raise ValueError(
                f"{self.where}: expected indices of the rank of x ({source.ndim}"
                f"{', x flattened' if self.axis is None else ''}). Received: indices.shape={indices.shape}")
        ranges = [np.arange(n).reshape([-1 if d == a else 1 for d in range(source.ndim)])
                  for a, n in enumerate(source.shape)]
        return tuple(indices if a == self.place else ranges[a] for a in range(source.ndim))


class Repeat(Gather):
    """``np.repeat(x, repeats, axis)``: each value of x along axis (of x flattened when axis
    is None) repeated, ``repeats`` times or repeats[i] times the i-th. The gradient of a value
    sums the gradients of its copies: for one count r, dy split along axis into (n, r) and
    summed over r."""

    where = "ops.repeat"

    def __init__(self, repeats, axis=None, name=None):
        super().__init__(axis, name)
        counts = np.asarray(repeats)
        if counts.dtype.kind not in "iu" or counts.ndim > 1 or (counts < 0).any():
            raise ValueError(
                f"{self.where}: expected repeats as an int >= 0 or a 1-D sequence of them. "
                f"Received: repeats={repeats!r}")
        self.repeats = int(counts) if counts.ndim == 0 else counts

    def index(self, source):
        size = source.shape[self.place]
        if np.ndim(self.repeats) and len(self.repeats) not in (1, size):
            raise ValueError(
                f"{self.where}: expected one repeat count, or one per value along the axis ({size}). "
                f"Received: {len(self.repeats)} counts")
        return (slice(None),) * self.place + (np.repeat(np.arange(size), self.repeats),)

    def vjp(self, dy):
        if np.ndim(self.repeats):
            return super().vjp(dy)
        shape = (self.x.size,) if self.axis is None else self.x.shape
        split = shape[: self.place + 1] + (self.repeats,) + shape[self.place + 1:]
        return (dy.reshape(split).sum(axis=self.place + 1).reshape(self.x.shape),)


class Tile(Operation):
    """``np.tile(x, repeats)``: x repeated along each axis (x and repeats first given the same
    rank by leading 1s). Along an axis of size n tiled r times, y[t n + i] = x[i], so dy split
    into (r, n) and summed over r is the gradient."""

    def __init__(self, repeats, name=None):
        super().__init__(name)
        counts = (repeats,) if is_integer(repeats) else tuple(np.ravel(repeats).tolist())
        if not all(is_integer(r) and r >= 0 for r in counts):
            raise ValueError(
                f"ops.tile: expected repeats as an int >= 0 or a sequence of them. Received: repeats={repeats!r}")
        self.repeats = counts

    def compute(self, x):
        self.shape = np.shape(x)
        return np.tile(x, self.repeats)

    def vjp(self, dy):
        shape = (1,) * (dy.ndim - len(self.shape)) + self.shape
        repeats = (1,) * (dy.ndim - len(self.repeats)) + self.repeats
        split = [size for pair in zip(repeats, shape) for size in pair]
        return (dy.reshape(split).sum(axis=tuple(range(0, 2 * dy.ndim, 2))).reshape(self.shape),)


#: The modes of ``np.pad`` that ops.pad differentiates.
PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


class Pad(Operation):
    """``np.pad(x, pad_width, mode)``. With 'constant' the padding holds constants, so the
    gradient is dy without it. The other modes copy values of x into the padding, axis by
    axis: along an axis of size n, position p of y reads x at index_p = np.pad(arange(n),
    widths, mode), so y = x[ix_(index_0, index_1, ...)] and dL/dx scatter-adds dy there (a
    value copied into the padding gets the gradient of its copies too)."""

    def __init__(self, pad_width, mode="constant", constant_values=None, name=None):
        super().__init__(name)
        if mode not in PAD_MODES:
            supported = ", ".join(map(repr, PAD_MODES))
            raise ValueError(f"ops.pad: mode {mode!r} is not supported. Expected one of {supported}.")
        if constant_values is not None and mode != "constant":
            raise ValueError(
                "ops.pad: constant_values can only be given with mode='constant'. "
                f"Received: mode={mode!r}, constant_values={constant_values!r}")
        widths = np.asarray(pad_width)
        if widths.dtype.kind not in "iu" or widths.ndim > 2 or (widths < 0).any():
            raise ValueError(
                "ops.pad: expected pad_width as ints >= 0: one for all sides, (before, after), or "
                f"((before_1, after_1), ...). Received: pad_width={pad_width!r}")
        self.pad_width, self.mode = widths, mode
        self.constant_values = 0 if constant_values is None else constant_values

    def compute(self, x):
        x = np.asarray(x)
        try:
            self.widths = np.broadcast_to(self.pad_width, (x.ndim, 2))
        except ValueError:
            raise ValueError(
                f"ops.pad: expected pad_width with one (before, after) per axis of x ({x.ndim}). "
                f"Received: pad_width={self.pad_width.tolist()}, x.shape={x.shape}") from None
        self.shape = x.shape
        if self.mode == "constant":
            return np.pad(x, self.pad_width, constant_values=self.constant_values)
        self.key = np.ix_(*(np.pad(np.arange(n), w, mode=self.mode) for n, w in zip(x.shape, self.widths)))
        return x[self.key]

    def vjp(self, dy):
        if self.mode == "constant":
            return (dy[tuple(slice(before, n - after) for (before, after), n in zip(self.widths, dy.shape))],)
        dx = np.zeros(self.shape, dy.dtype)
        np.add.at(dx, self.key, dy)
        return (dx,)


class Flip(Operation):
    """x reversed along axis (every axis when None): the gradient is dy reversed alike."""

    def __init__(self, axis=None, name=None):
        super().__init__(name)
        self.axis = axis

    def compute(self, x):
        self.place = normalize_axis(self.axis, np.ndim(x), "ops.flip", several=True)
        return np.flip(x, self.place)

    def vjp(self, dy):
        return (np.flip(dy, self.place),)


class Roll(Operation):
    """x shifted by ``shift`` along axis (of x flattened when None), the values pushed off one
    end coming in at the other: the gradient is dy shifted back by -shift."""

    def __init__(self, shift, axis=None, name=None):
        super().__init__(name)
        if not (is_integer(shift) or isinstance(shift, (tuple, list)) and all(is_integer(s) for s in shift)):
            raise TypeError(f"ops.roll: expected shift as an int or a tuple of ints. Received: shift={shift!r}")
        self.shift, self.axis = shift, axis

    def compute(self, x):
        self.place = normalize_axis(self.axis, np.ndim(x), "ops.roll", several=True)
        return np.roll(x, self.shift, self.place)

    def vjp(self, dy):
        return (np.roll(dy, np.negative(self.shift), self.place),)
