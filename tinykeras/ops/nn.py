"""Activation ops with Keras 3's names; each derivative is written from the output where that
is how it reads best (sigmoid' = y (1 - y))."""
import math

import numpy as np

from tinykeras.ops.numpy import Unary
from tinykeras.ops.operation import Operation


class Relu(Unary):
    """max(x, 0): d/dx = 1 where x > 0."""

    def apply(self, x):
        return np.maximum(x, 0)

    def derivative(self, dy):
        return dy * (self.x > 0)


class Sigmoid(Unary):
    """1 / (1 + exp(-x)), computed without overflow: d/dx = y (1 - y)."""

    def apply(self, x):
        x = np.asarray(x)
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))

    def derivative(self, dy):
        return dy * self.y * (1 - self.y)


class Tanh(Unary):
    """tanh(x): d/dx = 1 - y^2."""

    def apply(self, x):
        return np.tanh(x)

    def derivative(self, dy):
        return dy * (1 - self.y * self.y)


class Softplus(Unary):
    """log(1 + exp(x)), computed without overflow: d/dx = sigmoid(x)."""

    def apply(self, x):
        return np.logaddexp(0, x)

    def derivative(self, dy):
        return dy * np.exp(self.x - self.y)


class Silu(Unary):
    """x sigmoid(x): d/dx = s + x s (1 - s), s = sigmoid(x)."""

    def apply(self, x):
        self.s = Sigmoid().compute(x)
        return x * self.s

    def derivative(self, dy):
        return dy * (self.s + self.x * self.s * (1 - self.s))


class Elu(Unary):
    """x for x > 0, alpha (exp(x) - 1) otherwise: d/dx = 1, or y + alpha."""

    def __init__(self, alpha=1.0, name=None):
        super().__init__(name)
        self.alpha = alpha

    def apply(self, x):
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))

    def derivative(self, dy):
        return dy * np.where(self.x > 0, 1, self.y + self.alpha)


class Gelu(Unary):
    """x Phi(x), the tanh approximation by default as in Keras: with u = c (x + 0.044715 x^3),
    c = sqrt(2 / pi), y = x (1 + tanh u) / 2 and d/dx = (1 + tanh u) / 2
    + x (1 - tanh^2 u) c (1 + 3 * 0.044715 x^2) / 2; exactly, y = x (1 + erf(x / sqrt 2)) / 2
    and d/dx = Phi(x) + x phi(x). The constants are Python floats, so float32 stays float32."""

    def __init__(self, approximate=True, name=None):
        super().__init__(name)
        self.approximate = approximate

    def apply(self, x):
        if self.approximate:
            self.t = np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))
            return 0.5 * x * (1 + self.t)
        self.cdf = 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2))).astype(np.asarray(x).dtype)
        return x * self.cdf

    def derivative(self, dy):
        x = self.x
        if self.approximate:
            c = math.sqrt(2 / math.pi)
            return dy * (0.5 * (1 + self.t) + 0.5 * x * (1 - self.t**2) * c * (1 + 3 * 0.044715 * x**2))
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return dy * (self.cdf + x * pdf)


class Softmax(Operation):
    """exp(x) / sum(exp(x)) along ``axis`` (the max subtracted first): d/dx = y (dy - sum(dy y))."""

    def __init__(self, axis=-1, name=None):
        super().__init__(name)
        self.axis = axis

    def compute(self, x):
        e = np.exp(x - np.max(x, axis=self.axis, keepdims=True))
        self.y = e / np.sum(e, axis=self.axis, keepdims=True)
        return self.y

    def vjp(self, dy):
        return (self.y * (dy - np.sum(dy * self.y, axis=self.axis, keepdims=True)),)


class LogSoftmax(Softmax):
    """x - logsumexp(x) along ``axis``: d/dx = dy - softmax(x) sum(dy)."""

    def compute(self, x):
        shifted = x - np.max(x, axis=self.axis, keepdims=True)
        y = shifted - np.log(np.sum(np.exp(shifted), axis=self.axis, keepdims=True))
        self.softmax = np.exp(y)
        return y

    def vjp(self, dy):
        return (dy - self.softmax * np.sum(dy, axis=self.axis, keepdims=True),)
