"""Contractions: einsum, tensordot and dot. Each VJP contracts dy with the other operands onto
the axes of the operand it differentiates (dL/dy = ``dy``)."""
import string
from collections import Counter

import numpy as np

from tinykeras.ops.operation import Operation, unbroadcast
from tinykeras.utils.argument_validation import is_integer


class Einsum(Operation):
    """``np.einsum(subscripts, *operands)``. With labels s_k for operand k and s_y for the
    output, the sum runs over every label, so d/dx_k[s_k] = einsum(s_y, s_j (j != k) -> s_k)
    of (dy, x_j): dy and the other operands, contracted onto x_k's labels. A label only x_k
    has is summed in y, so its gradient is the same all along it (broadcast back); a label x_k
    repeats (a diagonal) gets its gradient on that diagonal, zeros elsewhere; an axis
    broadcast from size 1 sums its gradient back."""

    def __init__(self, subscripts, name=None):
        super().__init__(name)
        if not isinstance(subscripts, str):
            raise TypeError(
                "ops.einsum: expected `subscripts` as a string such as 'ij,jk->ik'. "
                f"Received: subscripts={subscripts!r}")
        unknown = set(subscripts) - set(string.ascii_letters + ",.-> ")
        if unknown or subscripts.count("->") > 1:
            raise ValueError(
                "ops.einsum: expected `subscripts` of letters, commas, '...' and at most one "
                f"'->'. Received: subscripts={subscripts!r}")
        self.subscripts = subscripts.replace(" ", "")

    def compute(self, *operands):
        count = self.subscripts.partition("->")[0].count(",") + 1
        if len(operands) != count:
            raise ValueError(
                f"ops.einsum: subscripts={self.subscripts!r} name {count} operand(s). "
                f"Received: {len(operands)} operand(s)")
        self.operands = [np.asarray(x) for x in operands]
        return np.einsum(self.subscripts, *self.operands)

    def vjp(self, dy):
        inputs, output = labels(self.subscripts, [x.ndim for x in self.operands])
        sizes = {}
        for letters, x in zip(inputs, self.operands):
            for letter, size in zip(letters, x.shape):
                sizes[letter] = max(sizes.get(letter, 1), size)
        full = [np.broadcast_to(x, [sizes[c] for c in letters]) for letters, x in zip(inputs, self.operands)]
        return tuple(unbroadcast(operand_gradient(dy, output, inputs, full, k, sizes), x.shape)
                     for k, x in enumerate(self.operands))


def operand_gradient(dy, output, inputs, operands, k, sizes):
    """dL/d(operand k), shaped by its labels ``inputs[k]`` with each at its full size ``sizes``.

    Args:
        dy: dL/dy, labelled ``output``.
        output: the output's labels; inputs: each operand's labels (no ellipsis left).
        operands: the operands, each broadcast to the full sizes of its labels.
        k: the operand differentiated.
        sizes: label -> size.
    """
    others = [j for j in range(len(inputs)) if j != k]
    given = set(output).union(*(inputs[j] for j in others))
    unique = "".join(dict.fromkeys(inputs[k]))
    kept = "".join(c for c in unique if c in given)
    spec = ",".join([output] + [inputs[j] for j in others]) + "->" + kept
    grad = np.einsum(spec, dy, *(operands[j] for j in others))
    if kept != unique:  # labels only operand k has: the same gradient all along them
        missing = tuple(i for i, c in enumerate(unique) if c not in given)
        grad = np.broadcast_to(np.expand_dims(grad, missing), [sizes[c] for c in unique]).copy()
    if unique == inputs[k]:
        return grad
    # a repeated label: the gradient on the diagonal x_k[..., i, ..., i, ...], zeros elsewhere
    grid = np.ogrid[tuple(slice(sizes[c]) for c in unique)]
    diagonal = np.zeros([sizes[c] for c in inputs[k]], grad.dtype)
    diagonal[tuple(grid[unique.index(c)] for c in inputs[k])] = grad
    return diagonal


def labels(subscripts, ndims):
    """The labels of each operand and of the output, ``...`` spelled out in letters the
    subscripts do not use (aligned from the right, as broadcasting aligns axes), and the
    output's labels written out when the subscripts leave them implicit (NumPy's rule: the
    broadcast axes, then the labels used once, sorted as characters: capitals first)."""
    given, arrow, output = subscripts.partition("->")
    inputs = given.split(",")
    widths = [ndim - len(s.replace("...", "")) for s, ndim in zip(inputs, ndims)]
    spare = [c for c in string.ascii_letters if c not in subscripts]
    width = max([w for s, w in zip(inputs, widths) if "..." in s], default=0)
    ellipsis = "".join(spare[:width])
    if not arrow:
        once = sorted(c for c, n in Counter(given.replace(".", "").replace(",", "")).items() if n == 1)
        output = ("..." if "..." in given else "") + "".join(once)
    inputs = [s.replace("...", ellipsis[width - w:]) for s, w in zip(inputs, widths)]
    return inputs, output.replace("...", ellipsis)


class Tensordot(Operation):
    """``np.tensordot(x1, x2, axes)``: x1's axes a1 summed against x2's axes a2; y's axes are
    x1's other axes f1, then x2's f2. d/dx1 = tensordot(dy, x2) over f2, and d/dx2 =
    tensordot(x1, dy) over f1, each with its axes put back in its operand's order."""

    def __init__(self, axes=2, name=None):
        super().__init__(name)
        self.axes = axes

    def compute(self, x1, x2):
        self.x1, self.x2 = np.asarray(x1), np.asarray(x2)
        self.summed = contracted_axes(self.axes, self.x1.shape, self.x2.shape)
        return np.tensordot(self.x1, self.x2, self.summed)

    def vjp(self, dy):
        (a1, a2), n1, n2 = self.summed, self.x1.ndim, self.x2.ndim
        f1 = [i for i in range(n1) if i not in a1]
        f2 = [i for i in range(n2) if i not in a2]
        d1 = np.tensordot(dy, self.x2, (list(range(len(f1), dy.ndim)), f2))
        d1 = np.transpose(d1, np.argsort(f1 + [a1[a2.index(j)] for j in sorted(a2)]))
        d2 = np.tensordot(self.x1, dy, (f1, list(range(len(f1)))))
        d2 = np.transpose(d2, np.argsort([a2[a1.index(i)] for i in sorted(a1)] + f2))
        return d1, d2


class Dot(Tensordot):
    """``np.dot(x1, x2)``: a product by a scalar; else x1's last axis summed against x2's only
    axis (a vector) or its second to last. Its gradient is the tensordot's over those axes."""

    def __init__(self, name=None):
        super().__init__(None, name)

    def compute(self, x1, x2):
        self.x1, self.x2 = np.asarray(x1), np.asarray(x2)
        n1, n2 = self.x1.ndim, self.x2.ndim
        self.summed = ([], []) if n1 == 0 or n2 == 0 else ([n1 - 1], [max(n2 - 2, 0)])
        a1, a2 = self.summed
        if a1 and self.x1.shape[a1[0]] != self.x2.shape[a2[0]]:
            raise ValueError(
                f"ops.dot: the last axis of x1 ({self.x1.shape[a1[0]]}) must match axis {a2[0]} of x2 "
                f"({self.x2.shape[a2[0]]}). Received: x1.shape={self.x1.shape}, x2.shape={self.x2.shape}")
        return np.dot(self.x1, self.x2)


def contracted_axes(axes, shape1, shape2):
    """tensordot's ``axes`` as two lists of non-negative axes of x1 and x2, paired: an int N
    pairs x1's last N axes with x2's first N; a pair (axes of x1, axes of x2) pairs them in
    order, each an int or a sequence, maybe counted from the end.

    Raises:
        TypeError: for axes of another kind. ValueError: for axes out of range, lists of
            different lengths, or paired axes of different sizes.
    """
    n1, n2 = len(shape1), len(shape2)
    received = f"Received: axes={axes!r}, x1.shape={tuple(shape1)}, x2.shape={tuple(shape2)}"
    if is_integer(axes):
        if not 0 <= axes <= min(n1, n2):
            raise ValueError(f"ops.tensordot: expected an int axes in [0, {min(n1, n2)}]. {received}")
        pairs = (list(range(n1 - axes, n1)), list(range(axes)))
    else:
        try:
            first, second = ([a] if is_integer(a) else list(a) for a in axes)
        except (TypeError, ValueError):
            first = second = [None]
        if not all(is_integer(a) for a in first + second):
            raise TypeError(f"ops.tensordot: expected axes as an int or a pair (axes of x1, axes of x2). {received}")
        if len(first) != len(second):
            raise ValueError(f"ops.tensordot: expected as many axes of x1 as of x2. {received}")
        if not all(-n <= a < n for part, n in ((first, n1), (second, n2)) for a in part):
            raise ValueError(
                f"ops.tensordot: expected axes of x1 in [{-n1}, {n1}) and of x2 in [{-n2}, {n2}). {received}")
        pairs = ([int(a) % n1 for a in first], [int(a) % n2 for a in second])
        if any(len(set(part)) < len(part) for part in pairs):
            raise ValueError(f"ops.tensordot: expected each axis of x1 and x2 at most once. {received}")
    if any(shape1[i] != shape2[j] for i, j in zip(*pairs)):
        raise ValueError(f"ops.tensordot: the axes summed together must have the same sizes. {received}")
    return pairs
