"""Helpers shared by the ops tests: seeded float64 operands, hypothesis strategies for shapes and
axes, and the finite-difference check of an op's vector-Jacobian product."""
import numpy as np
from hypothesis import strategies as st

from tinykeras.utils import numerical_gradient
from tinykeras.utils.gradient_check import ROUNDING_ULPS

EPSILON = 1e-6
seeds = st.integers(0, 2**16)
sizes = st.integers(1, 4)


def assert_vjp_matches(make_op, *operands, seed=0, rtol=1e-6):
    """Checks an op's hand-written VJP against central differences, operand by operand.

    The scalar differentiated is ``sum(make_op().compute(*operands) * r)`` for a fixed random
    ``r``; ``vjp(r)`` must return its gradient for each float operand (in shape and dtype) and
    None for the others (a condition). Differences within the rounding noise of the scalar over
    the step do not count.

    Args:
        make_op: a function of no arguments returning a fresh op.
        operands: float64 arrays, 0-d ones included (perturbed in place and restored), or
            boolean arrays.
        seed: the seed of ``r``.
        rtol: the relative tolerance.

    Returns:
        What ``vjp(r)`` returned.
    """
    op = make_op()
    output = op.compute(*operands)
    r = np.random.default_rng(seed).standard_normal(np.shape(output))
    grads = op.vjp(r.copy())
    assert len(grads) == len(operands), f"{op}: {len(grads)} gradients for {len(operands)} operands"

    def objective():
        return float(np.sum(make_op().compute(*operands) * r))

    atol = ROUNDING_ULPS * np.finfo(np.float64).eps * max(abs(objective()), 1.0) / EPSILON
    for place, (operand, grad) in enumerate(zip(operands, grads)):
        if operand.dtype != np.float64:
            assert grad is None, f"{op}: operand {place} ({operand.dtype}) has a gradient"
            continue
        assert grad.shape == operand.shape and grad.dtype == np.float64, (
            f"{op}: the gradient of operand {place} is {grad.dtype}{grad.shape}, expected float64{operand.shape}")
        numeric = numerical_gradient(objective, operand, EPSILON)
        np.testing.assert_allclose(grad, numeric, rtol=rtol, atol=atol, err_msg=f"{op}: operand {place}")
    return grads


def uniform(shape, seed, low=-2.0, high=2.0, margin=0.0):
    """Seeded float64 values in [low, high]; with ``margin``, values of either sign whose size is
    in [margin, high] (away from a kink at 0)."""
    rng = np.random.default_rng(seed)
    if margin:
        return np.asarray(rng.uniform(margin, high, shape) * rng.choice([-1.0, 1.0], shape))
    return np.asarray(rng.uniform(low, high, shape))


def distinct(shape, seed):
    """Seeded float64 values at least 0.15 apart from each other (no ties for max, min)."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    return (rng.permutation(size) * 0.25 - size / 8 + rng.uniform(0, 0.1, size)).reshape(shape)


def shapes(min_rank=0, max_rank=3):
    """Shapes of ``min_rank`` to ``max_rank`` axes of sizes 1 to 4."""
    return st.integers(min_rank, max_rank).flatmap(lambda rank: st.tuples(*[sizes] * rank))


@st.composite
def broadcast_shapes(draw, count=2, max_rank=3):
    """Shapes of ``count`` operands that broadcast together: each the tail of one full shape
    (so scalars and fewer axes), with some of its axes of size 1."""
    full = draw(shapes(0, max_rank))
    result = []
    for _ in range(count):
        kept = draw(st.integers(0, len(full)))
        result.append(tuple(size if draw(st.booleans()) else 1 for size in full[len(full) - kept:]))
    return result


@st.composite
def axes(draw, ndim):
    """An ``axis`` argument for an array of ``ndim`` axes: None, one axis or a tuple of distinct
    axes, each maybe counted from the end."""
    kind = draw(st.sampled_from(["none", "int", "tuple"] if ndim else ["none"]))
    if kind == "none":
        return None
    chosen = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    chosen = [axis - ndim if draw(st.booleans()) else axis for axis in chosen]
    return chosen[0] if kind == "int" else tuple(chosen)


def reduced_count(shape, axis):
    """How many values a reduction over ``axis`` of an array of ``shape`` combines."""
    if axis is None:
        return int(np.prod(shape))
    return int(np.prod([shape[a] for a in np.atleast_1d(axis)]))
