"""The kernel table: the workloads' convolutions timed alone, and the machine's ceiling.

Each convolution of a workload (``Workload.convolutions``) is timed at the workload's batch size,
forward and backward, in a child process per framework (``run.py`` spawns them):

- tinykeras: a ``Conv2D`` layer with the workload's padding, built with ``build_for``;
  ``forward(x, training=True)``, then ``backward(dy)`` (the kernel, bias and input gradients)
  after one forward.
- PyTorch: ``F.conv2d`` with the same padding on NCHW tensors (its native layout) that require
  gradients, as in training, then ``torch.autograd.grad`` of one output for the input, weight and
  bias (the graph is kept between calls, so only the backward is timed).

Convolutions have stride 1 and 'valid' or 'same' padding (the output as large as the input; the
FLOPs count the products with the padding's zeros, as the GEMM does them).

A call's time is the median of ``repeats`` calls after one warm-up call (which also compiles
tinykeras' Numba kernels). A forward convolution does ``2 * N * OH * OW * KH * KW * C * F`` FLOPs
(``conv_flops``); the backward does twice that (dW and dX, the bias gradient left out).

For tinykeras, the matrix products inside the layer are also timed on their own
(``gemm_timing``): in a second series of calls, the layer's ``matmul`` is wrapped in a clock, so
the table can split a convolution's time between its GEMMs, which do all of its FLOPs, and the
memory passes around them (im2col, col2im, bias and activation); a layer that splits its batch
between threads counts the GEMM time of its busiest thread. Each of these calls is followed by
one sgemm of ``PAIRED_SGEMM_SIZE`` through tinykeras' ``matmul``, and the GEMMs' share of the
ceiling is the median of the per-call ratios: when another process loads the machine between
the ceiling's measurement and the layer's, both sides of each ratio feel it.

The ceiling is NumPy's float32 ``a @ b`` on 2048 x 2048 matrices (the GEMM tinykeras' convolution
calls; ``sgemm_gflops``, in a child of its own) and the theoretical peak, cores x 32 FLOP/cycle (two
8-wide FMA units) x clock (``theoretical_peak``).
"""

import os
import re
import statistics
import subprocess
import time

import numpy as np

SGEMM_SIZE = 2048
# The sgemm timed after each call of a layer: 2.1 GFLOP, about 12 ms, and on a 2-core AMD EPYC
# as fast per FLOP as the 2048 ceiling (185-187 GFLOP/s against 186-189 in the same process).
PAIRED_SGEMM_SIZE = 1024
PASSES = ("forward", "backward")  # the backward does twice the forward's FLOPs
FLOPS_PER_CYCLE = 32  # float32 per core: two AVX2 FMA units x 8 lanes x 2 (multiply and add)


def convolutions(workloads, names):
    """The kernel table's convolutions for the workloads ``names``, as JSON-ready dicts.

    Each has: workload, layer (its Conv2D's rank in the model, from 1), input_shape (N, H, W, C)
    at the workload's batch size, filters, kernel_size, padding ('valid' or 'same').
    """
    return [
        {
            "workload": name,
            "layer": rank,
            "input_shape": [workloads[name].batch_size, *shape],
            "filters": filters,
            "kernel_size": kernel_size,
            "padding": padding,
        }
        for name in names
        for rank, (shape, filters, kernel_size, padding) in enumerate(
            workloads[name].convolutions, 1
        )
    ]


def output_size(conv):
    """(OH, OW) of a stride-1 convolution: the input's with 'same' padding, less the kernel's
    size minus one with 'valid'."""
    _, h, w, _ = conv["input_shape"]
    shrink = 0 if conv["padding"] == "same" else conv["kernel_size"] - 1
    return h - shrink, w - shrink


def conv_flops(conv):
    """FLOPs of one forward pass of a stride-1 convolution: 2*N*OH*OW*KH*KW*C*F."""
    n, _, _, c = conv["input_shape"]
    oh, ow = output_size(conv)
    k = conv["kernel_size"]
    return 2 * n * oh * ow * k * k * c * conv["filters"]


def median_seconds(call, repeats):
    """The median wall time of ``repeats`` calls of ``call()``, after one untimed call."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def gemm_timing(call, repeats, flops, size=PAIRED_SGEMM_SIZE, seed=0):
    """The matrix products of tinykeras' ``Conv2D`` in ``call()``, each call paired with an sgemm.

    ``tinykeras.layers.convolutional.matmul`` is wrapped in a clock for the duration, one clock
    per thread (a layer that splits its batch between threads multiplies on each of them at
    once; the GEMMs' time of a call is that of the thread that spent longest in them). After one
    untimed call, each of ``repeats`` calls is followed by one float32 product of two ``size`` x
    ``size`` matrices through ``tinykeras.kernels.blas.matmul``: NumPy's sgemm, on the same
    threads as the layer's (NumPy's own threads would keep spinning into the next call).

    Returns:
        (GFLOP/s of the GEMMs from their median time per call, the median over the calls of
        their GFLOP/s as a percentage of the sgemm's right after).
    """
    import threading

    from tinykeras.kernels.blas import matmul
    from tinykeras.layers import convolutional

    rng = np.random.default_rng(seed)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    original, spent = convolutional.matmul, {}

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            thread = threading.get_ident()
            spent[thread] = spent.get(thread, 0.0) + time.perf_counter() - start

    convolutional.matmul = timed
    try:
        call()
        seconds, percents = [], []
        for _ in range(repeats):
            spent.clear()
            call()
            start = time.perf_counter()
            matmul(a, b)
            sgemm_gflops = 2 * size**3 / (time.perf_counter() - start) / 1e9
            seconds.append(max(spent.values()))
            percents.append(100 * flops / seconds[-1] / 1e9 / sgemm_gflops)
    finally:
        convolutional.matmul = original
    return flops / statistics.median(seconds) / 1e9, statistics.median(percents)


def _rows(conv, forward_s, backward_s, gemms=((None, None), (None, None))):
    """The table's two rows (forward and backward) of one convolution from its two timings, and
    optionally, per pass, its GEMMs' GFLOP/s and percentage of the sgemm timed alongside
    (``gemm_timing``)."""
    flops = conv_flops(conv)
    return [
        {
            **conv,
            "pass": name,
            "ms": seconds * 1e3,
            "gflops": factor * flops / seconds / 1e9,
            "gemm_gflops": gemm,
            "gemm_percent_of_paired_sgemm": percent,
        }
        for name, seconds, (gemm, percent), factor in zip(
            PASSES, (forward_s, backward_s), gemms, (1, 2)
        )
    ]


def _inputs(conv, seed):
    """A standard-normal float32 NHWC input and output gradient for ``conv``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(conv["input_shape"], dtype=np.float32)
    dy_shape = (conv["input_shape"][0], *output_size(conv), conv["filters"])
    return x, rng.standard_normal(dy_shape, dtype=np.float32)


def tinykeras_conv(conv, repeats, seed=0):
    """The two rows (see ``_rows``) of tinykeras' ``Conv2D`` forward and backward on ``conv``."""
    from tinykeras.layers import Conv2D

    x, dy = _inputs(conv, seed)
    layer = Conv2D(conv["filters"], conv["kernel_size"], padding=conv["padding"])
    layer.build_for((None,) + x.shape[1:])
    forward, backward = lambda: layer.forward(x, training=True), lambda: layer.backward(dy)
    forward_s, backward_s = median_seconds(forward, repeats), median_seconds(backward, repeats)
    flops = conv_flops(conv)
    gemms = (gemm_timing(forward, repeats, flops), gemm_timing(backward, repeats, 2 * flops))
    return _rows(conv, forward_s, backward_s, gemms)


def torch_conv(conv, repeats, seed=0):
    """The two rows (see ``_rows``) of PyTorch's ``F.conv2d`` forward and autograd backward on
    ``conv``, in NCHW."""
    import torch
    import torch.nn.functional as F

    x, dy = (torch.from_numpy(a).permute(0, 3, 1, 2).contiguous() for a in _inputs(conv, seed))
    c, k, f = x.shape[1], conv["kernel_size"], conv["filters"]
    x.requires_grad_(True)
    weight = torch.randn(f, c, k, k, requires_grad=True)
    bias = torch.zeros(f, requires_grad=True)
    padding = conv["padding"]
    forward_s = median_seconds(lambda: F.conv2d(x, weight, bias, padding=padding), repeats)
    y = F.conv2d(x, weight, bias, padding=padding)
    backward_s = median_seconds(
        lambda: torch.autograd.grad(y, (x, weight, bias), dy, retain_graph=True), repeats
    )
    return _rows(conv, forward_s, backward_s)


def time_tinykeras(convs, repeats):
    """The rows of every convolution of ``convs`` with tinykeras."""
    return [row for conv in convs for row in tinykeras_conv(conv, repeats)]


def time_torch(convs, repeats):
    """The rows of every convolution of ``convs`` with PyTorch, on all cores."""
    import torch

    torch.set_num_threads(os.cpu_count())
    return [row for conv in convs for row in torch_conv(conv, repeats)]


TIMERS = {"tinykeras": time_tinykeras, "torch": time_torch}


def sgemm_gflops(repeats, size=SGEMM_SIZE, seed=0):
    """NumPy's float32 ``a @ b`` on two ``size`` x ``size`` matrices, in GFLOP/s (2 * size**3
    FLOPs a call, median time)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    return 2 * size**3 / median_seconds(lambda: a @ b, repeats) / 1e9


def cpu_mhz():
    """The clock in MHz and where it was read: ``lscpu``'s 'CPU max MHz' when it reports one,
    else the largest 'cpu MHz' of /proc/cpuinfo (the current clock); (None, reason) otherwise."""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        lscpu = ""
    match = re.search(r"^CPU max MHz:\s*([\d.]+)", lscpu, re.MULTILINE)
    if match:
        return float(match.group(1)), "lscpu 'CPU max MHz'"
    clocks = [float(v) for v in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", cpuinfo(), re.MULTILINE)]
    if clocks:
        return max(clocks), "/proc/cpuinfo 'cpu MHz', the current clock: lscpu reports no max"
    return None, "no clock found in lscpu or /proc/cpuinfo"


def cpuinfo():
    """The text of /proc/cpuinfo, or '' where there is none."""
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def theoretical_peak():
    """cores x FLOPS_PER_CYCLE x clock, in GFLOP/s (None when the clock is unknown), with the
    clock and where it was read."""
    mhz, source = cpu_mhz()
    peak = None if mhz is None else os.cpu_count() * FLOPS_PER_CYCLE * mhz / 1e3
    return {
        "peak_gflops": peak,
        "cores": os.cpu_count(),
        "flops_per_cycle": FLOPS_PER_CYCLE,
        "mhz": mhz,
        "mhz_source": source,
    }
