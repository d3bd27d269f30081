"""How far a workload's training step is from the machine's limit: the matrix products one step
needs, their FLOPs, and the time NumPy's sgemm takes for exactly those products.

A training step of the workloads is almost all matrix products: each Dense, convolution (as
im2col's product) and recurrent layer does one product forward and two backward (the gradient of
its weights and of its input; the first such layer of a model, reading the data, needs no input
gradient). ``gemm_shapes`` lists them as (M, K, N) for a (M, K) @ (K, N) product, read off the
tinykeras model built for one batch; the other passes (pooling, normalization, activations,
the optimizer's update) do few FLOPs per byte and are not counted. ``measure`` times NumPy's
float32 ``a @ b`` on each shape (on BLAS' threads or one, whichever is faster; the median of
several calls): their sum
is what the step would take if it were its products alone at sgemm's speed, the ceiling the
workload's achieved GFLOP/s is compared with.
"""
import math
import statistics
import time

import numpy as np

#: Gate blocks per recurrent layer: one product of [inputs, state] with each gate's weights.
GATES = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}


def _trains(layer):
    return bool(getattr(layer, "trainable_weights", None))


def _layer_products(layer, batch):
    """(M, K, N) of the forward products of one layer for a batch, or [] for a layer without."""
    name = type(layer).__name__
    weights = getattr(layer, "trainable_weights", [])
    if not weights or name == "Embedding":  # a lookup, not a product
        return []
    kernel = weights[0].value.shape
    output = tuple(layer.output_shape)
    if name in ("Conv1D", "Conv2D"):
        channels_last = getattr(layer, "data_format", "channels_last") == "channels_last"
        spatial = output[1:-1] if channels_last else output[2:]
        return [(batch * math.prod(spatial), math.prod(kernel[:-1]), kernel[-1])]
    if name in GATES or len(kernel) != 2 or output[-1] != kernel[1]:
        return _recurrent(layer, batch) if name in GATES else []
    return [(batch * math.prod(output[1:-1]), kernel[0], kernel[1])]  # Dense, or a layer like it


def _recurrent(layer, batch):
    """The input projection over all steps, then one product with the state per step."""
    name = type(layer).__name__
    steps, features = layer.input_shape[1], layer.input_shape[2]
    width = GATES[name] * layer.units
    return [(batch * steps, features, width)] + [(batch, layer.units, width)] * steps


def gemm_shapes(model, batch):
    """The (M, K, N) of every matrix product in one training step of ``model`` (a built
    tinykeras model, its layers in order) at ``batch`` samples: each layer's forward product,
    its weight gradient (K, M, N) and, unless no trained layer comes before it, its input
    gradient (M, N, K)."""
    shapes, trained_before = [], False
    for layer in model.layers:
        for m, k, n in _layer_products(layer, batch):
            shapes += [(m, k, n), (k, m, n)]
            if trained_before:
                shapes.append((m, n, k))
        trained_before = trained_before or _trains(layer)
    return shapes


def flops(shapes):
    """2 * M * K * N summed over the products."""
    return sum(2 * m * k * n for m, k, n in shapes)


def sgemm_seconds(shapes, repeats=7, seed=0):
    """The time NumPy's float32 ``a @ b`` takes for all of ``shapes``: each product the median of
    ``repeats`` calls after a warm-up, on BLAS' threads or on one thread, whichever is faster
    (small products run faster on one); identical shapes timed once."""
    from tinykeras.kernels import blas

    rng = np.random.default_rng(seed)
    total = 0.0
    for (m, k, n), count in _counted(shapes).items():
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        best = _median_seconds(a, b, repeats)
        if blas._set_local_threads is not None:
            previous = blas._set_local_threads(1)
            try:
                best = min(best, _median_seconds(a, b, repeats))
            finally:
                blas._set_local_threads(previous)
        total += count * best
    return total


def _median_seconds(a, b, repeats):
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _counted(shapes):
    counts = {}
    for shape in shapes:
        counts[shape] = counts.get(shape, 0) + 1
    return counts


def measure(workload, repeats=7):
    """{'step_gflop', 'sgemm_step_s', 'sgemm_gflops', 'products'} for a workload's training step
    at its batch size."""
    model = workload.build_tinykeras()
    shapes = gemm_shapes(model, workload.batch_size)
    seconds = sgemm_seconds(shapes, repeats)
    total = flops(shapes)
    return {
        "step_gflop": total / 1e9,
        "sgemm_step_s": seconds,
        "sgemm_gflops": total / seconds / 1e9 if seconds else None,
        "products": len(shapes),
    }
