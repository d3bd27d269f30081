"""Python's arithmetic operators for symbolic tensors and variables: each one is an op of
:mod:`tinykeras.ops`, so that it records itself where the operands are symbolic (a functional
model, a custom ``call`` being traced) and computes at once on arrays."""


def _ops():
    from tinykeras import ops

    return ops


class Operators:
    """``+ - * / @ **``, negation, ``abs``, indexing, comparisons and ``.T`` through the ops.

    ``__array_priority__`` makes a NumPy array on the left hand the operation to the right
    operand (``array * variable`` is ``ops.multiply``, not a copy of the variable's value).
    """

    __slots__ = ()
    __array_priority__ = 100

    def __add__(self, other):
        return _ops().add(self, other)

    def __radd__(self, other):
        return _ops().add(other, self)

    def __sub__(self, other):
        return _ops().subtract(self, other)

    def __rsub__(self, other):
        return _ops().subtract(other, self)

    def __mul__(self, other):
        return _ops().multiply(self, other)

    def __rmul__(self, other):
        return _ops().multiply(other, self)

    def __truediv__(self, other):
        return _ops().divide(self, other)

    def __rtruediv__(self, other):
        return _ops().divide(other, self)

    def __matmul__(self, other):
        return _ops().matmul(self, other)

    def __rmatmul__(self, other):
        return _ops().matmul(other, self)

    def __pow__(self, other):
        return _ops().power(self, other)

    def __rpow__(self, other):
        return _ops().power(other, self)

    def __neg__(self):
        return _ops().negative(self)

    def __abs__(self):
        return _ops().abs(self)

    def __getitem__(self, key):
        return _ops().get_item(self, key)

    def __lt__(self, other):
        return _ops().less(self, other)

    def __le__(self, other):
        return _ops().less_equal(self, other)

    def __gt__(self, other):
        return _ops().greater(self, other)

    def __ge__(self, other):
        return _ops().greater_equal(self, other)

    @property
    def T(self):  # noqa: N802 - NumPy's name
        return _ops().transpose(self)
