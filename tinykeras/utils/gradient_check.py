"""Checks hand-written gradients against central finite differences, in float64.

The teaching promise of tinykeras: write a layer's ``backward`` by hand, then let
``check_gradients(layer, x)`` tell you whether it is right.
"""
import numpy as np

from tinykeras import backend


# Differences up to this many units in the last place of the objective, divided by the step,
# are finite-difference noise and do not count as error.
ROUNDING_ULPS = 16


def numerical_gradient(f, x, epsilon=1e-6, directions=None):
    """Central differences of a scalar function ``f()`` that reads the array ``x``.

    ``x`` is perturbed in place and restored.

    Args:
        f: a function of no arguments returning a float; it must read ``x``.
        x: a float64 array.
        epsilon: the step.
        directions: None for every coordinate (returns an array like x); else a list of arrays
            like x, and the directional derivatives along each are returned.
    """
    if directions is None:
        grad = np.zeros_like(x)
        flat, flat_grad = x.reshape(-1), grad.reshape(-1)
        for i in range(flat.size):
            original = flat[i]
            flat[i] = original + epsilon
            plus = f()
            flat[i] = original - epsilon
            minus = f()
            flat[i] = original
            flat_grad[i] = (plus - minus) / (2 * epsilon)
        return grad
    slopes = []
    original = x.copy()
    for d in directions:
        x[...] = original + epsilon * d
        plus = f()
        x[...] = original - epsilon * d
        minus = f()
        x[...] = original
        slopes.append((plus - minus) / (2 * epsilon))
    return np.array(slopes)


def _names(variables):
    """Each variable's name, or its path ('linear_1/kernel') when names repeat (the weights of
    a layer's sublayers)."""
    names = [v.name for v in variables]
    return names if len(set(names)) == len(names) else [v.path for v in variables]


def check_gradients(
    target,
    x,
    y_true=None,
    training=False,
    epsilon=1e-6,
    tolerance=1e-6,
    max_elements=4096,
    num_directions=24,
    seed=0,
):
    """Compares the analytic gradients of a layer (or a loss) with finite differences.

    For a layer, the scalar checked is ``sum(forward(x) * r)`` for a fixed random ``r``, so
    ``backward(r)`` must return its gradient with respect to x, and ``layer.grads`` its gradients
    with respect to each trainable variable. For a loss, ``x`` are the predictions and the scalar is
    the loss itself.

    The error of each array is ``max|analytic - numerical| / max(max|analytic|, max|numerical|)``,
    where differences within the finite differences' rounding noise (``ROUNDING_ULPS`` ulps of the
    objective divided by ``epsilon``) are not counted.
    Arrays of more than ``max_elements`` values are checked along ``num_directions`` random
    directions instead of coordinate by coordinate.

    Args:
        target: a built or unbuilt :class:`tinykeras.layers.Layer`, or a :class:`tinykeras.losses.Loss`.
        x: the input batch (for a layer that merges several inputs, a list of them: the
            errors are then named 'input_0', 'input_1', ...).
        y_true: the targets, for a loss.
        training: passed to the layer's forward (keep it False for layers with randomness).
        epsilon: finite-difference step.
        tolerance: the largest error accepted.
        max_elements: size above which random directions are used.
        num_directions: how many directions then.
        seed: seed of the projection and the directions.

    Returns:
        A dict from 'input' and each variable's name (its path when names repeat) to its error.

    Raises:
        AssertionError: if an error exceeds ``tolerance``, naming the array and both gradients.
        ValueError: if the layer was built in float32 (build it under ``set_floatx('float64')``).
    """
    rng = np.random.default_rng(seed)
    several = isinstance(x, (list, tuple)) and not hasattr(target, "value_and_grad")
    x = [np.array(v, dtype=np.float64) for v in x] if several else np.array(x, dtype=np.float64)
    if hasattr(target, "value_and_grad"):
        return _check_loss(target, x, y_true, epsilon, tolerance, max_elements, num_directions, rng)
    layer = target
    if not layer.built:
        previous = backend.floatx()
        backend.set_floatx("float64")
        try:
            layer.build_for([(None,) + v.shape[1:] for v in x] if several else (None,) + x.shape[1:])
        finally:
            backend.set_floatx(previous)
    for v in layer.variables:
        if v.dtype.kind == "f" and v.dtype != np.float64:  # integer state (a count) is not differentiated
            raise ValueError(
                f"check_gradients needs float64 weights; layer '{layer.name}' has {v.path} in "
                f"{v.dtype}. Build the layer after tinykeras.backend.set_floatx('float64') or "
                "pass dtype='float64' to it."
            )
    r = rng.standard_normal(layer.forward(x, training).shape)

    def objective():
        return float((layer.forward(x, training) * r).sum())

    layer.forward(x, training)
    input_grads = layer.backward(r.copy())
    inputs = {f"input_{i}": v for i, v in enumerate(x)} if several else {"input": x}
    if several:
        if not isinstance(input_grads, (list, tuple)) or len(input_grads) != len(x):
            raise AssertionError(
                f"Layer '{layer.name}': backward must return one gradient per input ({len(x)}); "
                f"it returned {type(input_grads).__name__}."
            )
        analytic = {f"input_{i}": np.asarray(g) for i, g in enumerate(input_grads)}
    else:
        analytic = {"input": input_grads}
    analytic.update(
        {key: np.asarray(g) for key, g in zip(_names(layer.trainable_weights), layer.grads)}
    )
    if len(layer.grads) != len(layer.trainable_weights):
        raise AssertionError(
            f"Layer '{layer.name}': backward set {len(layer.grads)} gradients for "
            f"{len(layer.trainable_weights)} trainable variables."
        )
    arrays = {**inputs, **dict(zip(_names(layer.trainable_weights), (v.value for v in layer.trainable_weights)))}
    return _compare(arrays, analytic, objective, epsilon, tolerance, max_elements, num_directions, rng, layer.name)


def _check_loss(loss, y_pred, y_true, epsilon, tolerance, max_elements, num_directions, rng):
    targets = loss.prepare_targets(y_true, y_pred)

    def objective():
        return loss.value_and_grad(targets, y_pred)[0]

    analytic = {"input": loss.value_and_grad(targets, y_pred)[1]}
    return _compare({"input": y_pred}, analytic, objective, epsilon, tolerance, max_elements, num_directions, rng, loss.name)


def _compare(arrays, analytic, objective, epsilon, tolerance, max_elements, num_directions, rng, owner):
    # A central difference cannot resolve less than the rounding of the objective over the step:
    # a gradient that is a near-cancelling sum of large terms would otherwise fail on noise.
    noise = ROUNDING_ULPS * np.finfo(np.float64).eps * max(abs(float(objective())), 1.0) / epsilon
    errors = {}
    for name, array in arrays.items():
        grad = analytic[name]
        if grad.shape != array.shape:
            raise AssertionError(
                f"{owner}: the gradient of '{name}' has shape {grad.shape}, expected {array.shape}."
            )
        if array.size <= max_elements:
            numeric = numerical_gradient(objective, array, epsilon)
            computed = grad
        else:
            directions = [rng.standard_normal(array.shape) for _ in range(num_directions)]
            numeric = numerical_gradient(objective, array, epsilon, directions)
            computed = np.array([(grad * d).sum() for d in directions])
        scale = max(np.abs(computed).max(initial=0), np.abs(numeric).max(initial=0), 1e-12)
        excess = np.maximum(np.abs(computed - numeric) - noise, 0)
        errors[name] = float(excess.max(initial=0) / scale)
        if errors[name] > tolerance:
            raise AssertionError(
                f"{owner}: gradient of '{name}' is off by a relative {errors[name]:.3g} "
                f"(tolerance {tolerance:g}).\nanalytic:\n{computed}\nnumerical:\n{numeric}"
            )
    return errors
