"""Times tinykeras against PyTorch on the same workloads, in the same run, and prints a table.

Each framework trains each workload in its own child process, one after the other, so that the
import time and the peak resident memory it reports are its own. A child imports its framework
before anything else, trains (one warm-up pass, then the timed epochs), evaluates on the test set
and prints its results as one JSON line. The workloads are in ``workloads.WORKLOADS``. Before a
workload's rounds, a child trains it with tinykeras for a few steps (``child_warm``), so that its
Numba kernels are in Numba's cache: every round loads them, as each run after the first does.
tinykeras' kernels are first compiled ahead of time (``python -m tinykeras.kernels.build``, in
the environment's TINYKERAS_HOME), so that no round imports Numba; ``--tinykeras-kernels jit``
leaves them to Numba's just-in-time compiler instead, as a machine without that library does.

For the workloads with data augmentation, a child times tinykeras' ``ImageDataGenerator``
producing one augmented batch (``workloads.time_augmentation``), reported beside the training step.

Each workload's step is also set against the machine's limit (``flops.py``): the FLOPs of its
matrix products, the GFLOP/s each framework achieves on them, and the GFLOP/s NumPy's sgemm
reaches on exactly those products.

The whole run is repeated for each OpenBLAS kernel of ``--openblas``: the one OpenBLAS chooses
for the CPU ('default', OPENBLAS_CORETYPE unset) and, on x86, Haswell's (AVX2) as well, so
that a speed claim is seen with both.

A last table times the workloads' convolutions alone (``kernels.py``), forward and backward, in a
child per framework, against the machine's ceiling: NumPy's float32 matrix product, measured in a
child of its own, and the theoretical peak of the CPU.

The data is prepared by a child too: Linux carries a process's resident-memory high-water mark
across fork and exec into the child's ``ru_maxrss``, so the parent must never hold the data.

    python benchmarks/run.py                      # every workload, both frameworks
    python benchmarks/run.py --quick              # 10k training samples, one timed epoch
    python benchmarks/run.py --workloads mlp --frameworks tinykeras --json results.json
    python benchmarks/run.py --workloads cnn --no-kernels
    python benchmarks/run.py --openblas default     # only the OpenBLAS kernel the machine chooses
"""

import argparse
import importlib
import importlib.util
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

#: Framework name -> the module its child imports first (the import that is timed).
FRAMEWORKS = {"tinykeras": "tinykeras", "torch": "torch"}
QUICK_TRAIN_SAMPLES = 10_000
QUICK_WARMUP_STEPS = 10
KERNEL_REPEATS = 15
QUICK_KERNEL_REPEATS = 5
AUGMENT_BATCHES = 50  # timed augmented batches, after AUGMENT_WARMUP_BATCHES untimed ones
AUGMENT_WARMUP_BATCHES = 5
AUGMENT_MODULE = "tinykeras.preprocessing.image"
#: Batches the kernel warm-up child trains on (``child_warm``).
WARM_BATCHES = 2


def parse_args(argv=None):
    """The command line's options (see ``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"first {QUICK_TRAIN_SAMPLES} training samples, a {QUICK_WARMUP_STEPS}-step warm-up "
        f"and 1 timed epoch; {QUICK_KERNEL_REPEATS} calls per kernel (for development)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        help="timed epochs after the warm-up (default: the workload's; 1 with --quick)",
    )
    parser.add_argument("--workloads", default=None, help="comma-separated names (default: all)")
    parser.add_argument(
        "--frameworks", default=",".join(FRAMEWORKS), help="comma-separated, from: %(default)s"
    )
    parser.add_argument(
        "--no-kernels",
        action="store_true",
        help="skip the kernel table (the workloads' convolutions timed alone)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="train each workload this many times per framework, alternating the frameworks; "
        "the epoch time is the median over all rounds (default: %(default)s)",
    )
    parser.add_argument(
        "--openblas",
        default=",".join(default_coretypes()),
        help="comma-separated OpenBLAS kernels to run everything with: 'default' (OPENBLAS_CORETYPE "
        "unset: OpenBLAS' choice for this CPU) or an OPENBLAS_CORETYPE value (default: %(default)s)",
    )
    parser.add_argument(
        "--tinykeras-kernels",
        choices=("library", "jit"),
        default="library",
        help="'library': compile tinykeras' kernels ahead of time first (python -m "
        "tinykeras.kernels.build) and run on them; 'jit': Numba compiles them when first called "
        "(default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and shuffling")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: one child's task (JSON)
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs must be at least 1. Received: --epochs {args.epochs}")
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1. Received: --rounds {args.rounds}")
    return args


def default_coretypes():
    """The OpenBLAS kernels a run compares: OpenBLAS' own choice, and Haswell's on x86-64."""
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    return ["default", "Haswell"] if x86 else ["default"]


def set_coretype(coretype):
    """Sets OPENBLAS_CORETYPE for the children spawned next ('default': unset)."""
    if coretype == "default":
        os.environ.pop("OPENBLAS_CORETYPE", None)
    else:
        os.environ["OPENBLAS_CORETYPE"] = coretype


def _split(value, known, option):
    """The comma-separated names in ``value``, each checked against ``known``."""
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise SystemExit(
            f"{option}: unknown name(s) {unknown or value!r}; expected some of {sorted(known)}."
        )
    return names


# ---- children: each prints its results as one JSON line ----------------------------------------


def child_prepare(spec):
    """Writes the workload's arrays (the first ``train_samples`` training samples) to ``data``."""
    import numpy as np
    import workloads

    data = workloads.WORKLOADS[spec["workload"]].prepare()
    source = data.pop("source", None)
    for key in ("x_train", "y_train"):
        data[key] = data[key][: spec["train_samples"]]
    np.savez(spec["data"], **data)
    print(json.dumps({"train_samples": len(data["x_train"]), "source": source}))


def child_train(spec):
    """Imports the framework first (timed), then trains and evaluates the workload."""
    start = time.perf_counter()
    framework = importlib.import_module(FRAMEWORKS[spec["framework"]])
    import_s = time.perf_counter() - start

    import numpy as np
    import workloads

    with np.load(spec["data"], allow_pickle=False) as f:
        data = {key: f[key] for key in f.files}
    train = workloads.TRAINERS[spec["framework"]]
    workload = workloads.WORKLOADS[spec["workload"]]
    result = train(workload, data, spec["epochs"], spec["warmup_steps"], spec["seed"])
    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_mb = peak / 2**20 if sys.platform == "darwin" else peak / 2**10
    result.update(import_s=import_s, peak_rss_mb=peak_mb, version=framework.__version__)
    print(json.dumps(result))


def child_warm(spec):
    """Trains the workload with tinykeras for ``WARM_BATCHES`` steps, with its validation and a
    test batch, so that each Numba kernel the rounds call is compiled into Numba's cache before
    them. Every round then loads the kernels, as each run after the first on a machine does:
    otherwise the first round would alone pay the compilation, in its first step and in its peak
    resident memory (LLVM's), and the largest peak of the rounds would be that one's."""
    start = time.perf_counter()
    import numpy as np
    import workloads

    workload = workloads.WORKLOADS[spec["workload"]]
    samples = WARM_BATCHES * workload.batch_size
    with np.load(spec["data"], allow_pickle=False) as f:
        data = {key: f[key][:samples] for key in f.files}
    workloads.train_tinykeras(workload, data, 1, WARM_BATCHES, spec["seed"])
    print(json.dumps({"seconds": time.perf_counter() - start}))


def child_augment(spec):
    """Times tinykeras' augmentation of the workload's training data
    (``workloads.time_augmentation``); reports the module as unavailable if it is missing."""
    import numpy as np
    import workloads

    with np.load(spec["data"], allow_pickle=False) as f:
        data = {key: f[key] for key in f.files}
    workload = workloads.WORKLOADS[spec["workload"]]
    try:
        result = workloads.time_augmentation(
            workload, data, spec["batches"], spec["warmup_batches"], spec["seed"]
        )
    except ModuleNotFoundError as error:
        if error.name not in (AUGMENT_MODULE, AUGMENT_MODULE.rpartition(".")[0]):
            raise
        result = {"unavailable": str(error)}
    print(json.dumps(result))


def child_kernels(spec):
    """Imports the framework first, then times its convolutions (``kernels.TIMERS``)."""
    framework = importlib.import_module(FRAMEWORKS[spec["framework"]])
    import kernels

    rows = kernels.TIMERS[spec["framework"]](spec["convolutions"], spec["repeats"])
    print(json.dumps({"rows": rows, "version": framework.__version__}))


def child_ceiling(spec):
    """Measures NumPy's float32 matrix product (``kernels.sgemm_gflops``)."""
    import kernels

    gflops = kernels.sgemm_gflops(spec["repeats"])
    print(json.dumps({"sgemm_gflops": gflops, "sgemm_size": kernels.SGEMM_SIZE}))


def child_flops(spec):
    """The FLOPs of the workload's step and sgemm's time on its products (``flops.measure``)."""
    import flops
    import workloads

    print(json.dumps(flops.measure(workloads.WORKLOADS[spec["workload"]])))


#: Child task -> the function that runs it.
CHILDREN = {
    "flops": child_flops,
    "prepare": child_prepare,
    "train": child_train,
    "warm": child_warm,
    "augment": child_augment,
    "kernels": child_kernels,
    "ceiling": child_ceiling,
}


def spawn(task, spec):
    """Runs ``task`` (a key of ``CHILDREN``) in a fresh interpreter; returns its JSON results.

    The child's stderr goes to ours, so its warnings and errors are seen.
    """
    spec = {**spec, "task": task}
    command = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)]
    process = subprocess.run(command, check=False, stdout=subprocess.PIPE, text=True)
    if process.returncode != 0:
        what = ", ".join(f"{key} {spec[key]}" for key in ("framework", "workload") if key in spec)
        raise SystemExit(f"The '{task}' child ({what}) failed (exit {process.returncode}).")
    return json.loads(process.stdout.strip().splitlines()[-1])


# ---- parent: data, children, report ------------------------------------------------------------


def benchmark(names, frameworks, args):
    """Prepares each workload's data once, then runs each framework on it in turn, and times
    tinykeras' augmentation of it when the workload has some.

    Returns:
        (rows, augment_rows): one row per workload and framework (the child's results, with the
        median epoch time and the time per step added); one row per workload with augmentation
        (the child's results, with the median time per batch added).
    """
    import workloads

    rows, augment_rows = [], []
    with tempfile.TemporaryDirectory(prefix="tinykeras-bench-") as folder:
        for name in names:
            workload = workloads.WORKLOADS[name]
            spec = {"workload": name, "data": os.path.join(folder, f"{name}.npz")}
            train_samples = QUICK_TRAIN_SAMPLES if args.quick else None
            prepared = spawn("prepare", {**spec, "train_samples": train_samples})
            samples = prepared["train_samples"]
            spec = {
                **spec,
                "epochs": args.epochs or (1 if args.quick else workload.epochs),
                "warmup_steps": QUICK_WARMUP_STEPS if args.quick else None,
                "seed": args.seed,
            }
            # Rounds alternate the frameworks, so that a slow spell of a shared machine falls on
            # both rather than on whichever ran during it.
            if "tinykeras" in frameworks:
                print(f"compiling (or loading) {name}'s tinykeras kernels...", file=sys.stderr, flush=True)
                spawn("warm", spec)
            runs = {framework: [] for framework in frameworks}
            for round_number in range(args.rounds):
                for framework in frameworks:
                    counter = f" (round {round_number + 1}/{args.rounds})" if args.rounds > 1 else ""
                    print(f"running {name} with {framework}{counter}...", file=sys.stderr, flush=True)
                    runs[framework].append(spawn("train", {**spec, "framework": framework}))
            for framework in frameworks:
                result = merge_rounds(runs[framework])
                rows.append(
                    {
                        "workload": name,
                        "framework": framework,
                        "train_samples": samples,
                        "data_source": prepared["source"],
                        "timed_epochs": spec["epochs"],
                        **result,
                    }
                )
            if workload.augmentation and "tinykeras" in frameworks:
                print(f"timing {name}'s augmentation...", file=sys.stderr, flush=True)
                augment = {
                    "batches": AUGMENT_BATCHES,
                    "warmup_batches": AUGMENT_WARMUP_BATCHES,
                    "seed": args.seed,
                }
                result = spawn("augment", {**spec, **augment})
                if "batch_ms" in result:
                    result["batch_median_ms"] = statistics.median(result["batch_ms"])
                augment_rows.append(
                    {
                        "workload": name,
                        "arguments": workload.augmentation,
                        "batch_size": workload.batch_size,
                        **augment,
                        **result,
                    }
                )
    return rows, augment_rows


def kernel_benchmark(names, frameworks, args):
    """Times the convolutions of the workloads ``names`` with each framework, and the ceiling.

    Returns:
        (rows, ceiling): one row per convolution, pass and framework, in that order, with the
        percentage of the sgemm ceiling added; ``kernels.theoretical_peak()`` with the ceiling
        child's sgemm_gflops and sgemm_size, and the repeats. ([], None) when no selected
        workload has a convolution.
    """
    import kernels
    import workloads

    convs = kernels.convolutions(workloads.WORKLOADS, names)
    if not convs:
        return [], None
    repeats = QUICK_KERNEL_REPEATS if args.quick else KERNEL_REPEATS
    print("measuring the sgemm ceiling...", file=sys.stderr, flush=True)
    ceiling = {
        **kernels.theoretical_peak(),
        **spawn("ceiling", {"repeats": repeats}),
        "repeats": repeats,
    }
    rows = []
    for framework in frameworks:
        print(f"timing convolutions with {framework}...", file=sys.stderr, flush=True)
        spec = {"framework": framework, "convolutions": convs, "repeats": repeats}
        result = spawn("kernels", spec)
        for row in result["rows"]:
            percent = 100 * row["gflops"] / ceiling["sgemm_gflops"]
            gemm = row.get("gemm_gflops")
            rows.append(
                {
                    **row,
                    "framework": framework,
                    "version": result["version"],
                    "percent_of_sgemm": percent,
                    "gemm_percent_of_sgemm": None if gemm is None else 100 * gemm / ceiling["sgemm_gflops"],
                }
            )
    # Stable: within one convolution and pass, the frameworks keep their order.
    rank = {(c["workload"], c["layer"]): i for i, c in enumerate(convs)}
    rows.sort(key=lambda r: (rank[r["workload"], r["layer"]], kernels.PASSES.index(r["pass"])))
    return rows, ceiling


def merge_rounds(results):
    """One framework's results over the rounds of a workload: every timed epoch pooled (their
    median is the epoch time), the median import and first-step times, the largest peak RSS, and
    each round's median epoch; accuracies and the rest from the first round (the seed is the
    same)."""
    first = results[0]
    merged = {
        **first,
        "epoch_s": [t for r in results for t in r["epoch_s"]],
        "round_epoch_s": [statistics.median(r["epoch_s"]) for r in results],
        "import_s": statistics.median(r["import_s"] for r in results),
        "first_step_s": statistics.median(r["first_step_s"] for r in results),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
    }
    merged["epoch_median_s"] = statistics.median(merged["epoch_s"])
    merged["step_ms"] = 1e3 * merged["epoch_median_s"] / merged["steps"]
    return merged


def ratios(rows):
    """tinykeras / torch, per workload, of the median epoch time (also the ratio of the times per
    step: both run the same steps), of each round's epoch time, and of the peak RSS."""
    by_key = {(r["workload"], r["framework"]): r for r in rows}
    out = []
    for workload in dict.fromkeys(r["workload"] for r in rows):
        ours, theirs = by_key.get((workload, "tinykeras")), by_key.get((workload, "torch"))
        if ours and theirs:
            out.append(
                {
                    "workload": workload,
                    "epoch_time": ours["epoch_median_s"] / theirs["epoch_median_s"],
                    "rounds": [a / b for a, b in zip(ours["round_epoch_s"], theirs["round_epoch_s"])],
                    "peak_rss": ours["peak_rss_mb"] / theirs["peak_rss_mb"],
                }
            )
    return out


def flops_rows(names, rows):
    """Per workload: its step's GFLOP, the GFLOP/s each framework achieved on them (from its
    time per step in ``rows``) and sgemm's on the same products, each child run under the
    current OpenBLAS kernel."""
    out = []
    for name in names:
        print(f"timing sgemm on {name}'s products...", file=sys.stderr, flush=True)
        limit = spawn("flops", {"workload": name})
        row = {"workload": name, **limit}
        for r in rows:
            if r["workload"] == name:
                row[f"{r['framework']}_gflops"] = limit["step_gflop"] / (r["step_ms"] / 1e3)
        out.append(row)
    return out


def flops_markdown(rows, frameworks):
    """The table of achieved GFLOP/s against sgemm's on the same products."""
    lines = [
        "Matrix products of a training step (forward, weight and input gradients of the Dense, "
        "convolution and recurrent layers) and the GFLOP/s achieved on them, against NumPy's "
        "float32 sgemm timed on exactly those products (on BLAS' threads or one, the faster):",
        "",
        "| workload | GFLOP a step (products) | sgemm on them (GFLOP/s) | "
        + " | ".join(f"{f} GFLOP/s (% of sgemm)" for f in frameworks) + " |",
        "| --- | ---: | ---: | " + " | ".join("---:" for _ in frameworks) + " |",
    ]
    for r in rows:
        cells = []
        for framework in frameworks:
            achieved = r.get(f"{framework}_gflops")
            share = f" ({100 * achieved / r['sgemm_gflops']:.0f}%)" if achieved and r["sgemm_gflops"] else ""
            cells.append("-" if achieved is None else f"{achieved:.1f}{share}")
        limit = "-" if r["sgemm_gflops"] is None else f"{r['sgemm_gflops']:.1f}"
        lines.append(
            f"| {r['workload']} | {r['step_gflop']:.4f} ({r['products']}) | {limit} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def kernels_line(rows):
    """One line on the vector kernels each framework's products ran, and what the CPU offers."""
    import kernels

    used = {r["framework"]: r.get("kernels") for r in rows}
    flags = re.search(r"^flags\s*:(.*)$", kernels.cpuinfo(), re.MULTILINE)
    if flags:
        flags = flags.group(1).split()
        offered = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "neither AVX2 nor AVX-512"
        used["CPU"] = f"offers {offered}"
    return "Vector kernels: " + "; ".join(f"{name}: {what}" for name, what in used.items() if what)


def markdown(rows, ratio_rows):
    """The results as markdown tables."""
    lines = [
        (
            "| workload | framework | threads | import (s) | first step (s) | epoch (s) "
            "| step (ms) | test acc | peak RSS (MB) |"
        ),
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['workload']} | {r['framework']} {r['version']} | {r['threads']} "
            f"| {r['import_s']:.2f} | {r['first_step_s']:.3f} | {r['epoch_median_s']:.2f} "
            f"| {r['step_ms']:.2f} | {r['test_accuracy']:.4f} | {r['peak_rss_mb']:.0f} |"
        )
    if ratio_rows:
        lines += [
            "",
            "| workload | epoch (and step) time tinykeras/torch | each round | peak RSS tinykeras/torch |",
            "| --- | ---: | ---: | ---: |",
        ]
        for r in ratio_rows:
            each = ", ".join(f"{ratio:.2f}" for ratio in r["rounds"])
            lines.append(f"| {r['workload']} | {r['epoch_time']:.2f} | {each} | {r['peak_rss']:.2f} |")
    return "\n".join(lines)


def augment_markdown(augment_rows, rows):
    """The augmentation table, as markdown: each workload's time per augmented batch against its
    tinykeras training step (from ``rows``)."""
    step_ms = {r["workload"]: r["step_ms"] for r in rows if r["framework"] == "tinykeras"}
    batches, warm_up = augment_rows[0]["batches"], augment_rows[0]["warmup_batches"]
    title = (
        "Augmentation, tinykeras: ImageDataGenerator(arguments).flow(x_train, y_train, batch, "
        f"shuffle=True), one batch [i] at a time; ms/batch is the median of {batches} batches "
        f"after {warm_up} untimed ones, the first batch's time includes the Numba compilation "
        "(or the load of its cache):"
    )
    lines = [
        title,
        "",
        "| workload | arguments | batch | first batch (s) | ms/batch | batch/step |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in augment_rows:
        arguments = ", ".join(f"{key}={value!r}" for key, value in r["arguments"].items())
        if "unavailable" in r:
            lines.append(
                f"| {r['workload']} | {arguments} | {r['batch_size']} "
                f"| not measured: {r['unavailable']} | | |"
            )
            continue
        step = step_ms.get(r["workload"])
        share = f"{r['batch_median_ms'] / step:.3f}" if step else "-"
        lines.append(
            f"| {r['workload']} | {arguments} | {r['batch_size']} | {r['first_batch_s']:.3f} "
            f"| {r['batch_median_ms']:.2f} | {share} |"
        )
    return "\n".join(lines)


def kernel_markdown(rows, ceiling):
    """The kernel table and the ceiling it is measured against, as markdown."""
    import kernels

    title = (
        f"Convolutions alone, float32, ms per call (median of {ceiling['repeats']} after a "
        "warm-up); FLOPs 2*N*OH*OW*KH*KW*C*F forward, twice that backward (dW and dX). For "
        "tinykeras, the last column divides the same FLOPs by the time of the layer's GEMMs "
        "alone (timed inside the layer), the rest of the call being im2col, col2im and the "
        "bias and activation passes; in brackets, that as a percentage of the ceiling below, "
        f"then of a {kernels.PAIRED_SGEMM_SIZE} x {kernels.PAIRED_SGEMM_SIZE} sgemm timed "
        "right after each call (the median of the per-call ratios, which a change of the "
        "machine's load between the ceiling's measurement and the layer's hardly moves):"
    )
    header = (
        "| convolution | input (N, H, W, C) -> filters | pass | framework | ms/call | GFLOP/s "
        "| % of sgemm | GEMMs alone: GFLOP/s (% of sgemm; % of sgemm alongside) |"
    )
    lines = [title, "", header, "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        k = r["kernel_size"]
        gemm = r.get("gemm_gflops")
        gemm_text = "" if gemm is None else (
            f"{gemm:.1f} ({r['gemm_percent_of_sgemm']:.0f}%; "
            f"{r['gemm_percent_of_paired_sgemm']:.0f}%)"
        )
        lines.append(
            f"| {r['workload']} conv {r['layer']} "
            f"| {tuple(r['input_shape'])} -> {r['filters']} ({k}x{k}, {r['padding']}) "
            f"| {r['pass']} | {r['framework']} {r['version']} | {r['ms']:.2f} | {r['gflops']:.1f} "
            f"| {r['percent_of_sgemm']:.0f}% | {gemm_text} |"
        )
    peak = ceiling["peak_gflops"]
    if peak is None:
        peak_text = f"theoretical peak unknown ({ceiling['mhz_source']})"
    else:
        peak_text = (
            f"{100 * ceiling['sgemm_gflops'] / peak:.0f}% of the theoretical peak "
            f"{peak:.1f} GFLOP/s = {ceiling['cores']} cores x {ceiling['flops_per_cycle']} "
            f"FLOP/cycle x {ceiling['mhz']:.0f} MHz (clock from {ceiling['mhz_source']})"
        )
    sgemm = f"{ceiling['sgemm_gflops']:.1f} GFLOP/s"
    size = f"{ceiling['sgemm_size']} x {ceiling['sgemm_size']}"
    lines += ["", f"Ceiling: NumPy float32 a @ b on {size}: {sgemm}, {peak_text}."]
    return "\n".join(lines)


def write_json(path, payload):
    """Writes ``payload`` atomically (a temporary file in the same folder, then a rename)."""
    folder = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False) as f:
        json.dump(payload, f, indent=2)
    os.replace(f.name, path)


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        return CHILDREN[spec["task"]](spec)
    import workloads

    names = list(workloads.WORKLOADS)
    if args.workloads:
        names = _split(args.workloads, workloads.WORKLOADS, "--workloads")
    frameworks = _split(args.frameworks, FRAMEWORKS, "--frameworks")
    if "torch" in frameworks and importlib.util.find_spec("torch") is None:
        print("Note: PyTorch is not installed (pip install -e .[bench]); showing tinykeras alone.")
        frameworks.remove("torch")
    if not frameworks:
        raise SystemExit("No framework left to run.")

    if "tinykeras" in frameworks:
        prepare_tinykeras_kernels(args.tinykeras_kernels)
    coretypes = [c.strip() for c in args.openblas.split(",") if c.strip()]
    if not coretypes:
        raise SystemExit("--openblas needs at least one kernel, such as 'default' or 'Haswell'.")
    given = os.environ.get("OPENBLAS_CORETYPE")
    settings = {}
    try:
        for coretype in coretypes:
            set_coretype(coretype)
            settings[coretype] = run_setting(names, frameworks, args, coretype)
    finally:
        set_coretype("default" if given is None else given)
    if args.json:
        payload = {
            "config": {
                "workloads": {name: workloads.WORKLOADS[name].description for name in names},
                "quick": args.quick,
                "seed": args.seed,
                "rounds": args.rounds,
                "warmup_steps": QUICK_WARMUP_STEPS if args.quick else None,
                "kernels": not args.no_kernels,
                "tinykeras_kernels": args.tinykeras_kernels,
                "openblas": coretypes,
            },
            "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "settings": settings,
        }
        write_json(args.json, payload)


def prepare_tinykeras_kernels(how):
    """Builds the library of tinykeras' kernels compiled ahead of time ('library'), or has the
    children ignore it ('jit'), through the environment the children inherit."""
    if how == "jit":
        os.environ["TINYKERAS_AHEAD_OF_TIME"] = "0"
        return
    os.environ.pop("TINYKERAS_AHEAD_OF_TIME", None)
    print("compiling tinykeras' kernels ahead of time...", file=sys.stderr, flush=True)
    process = subprocess.run([sys.executable, "-m", "tinykeras.kernels.build", "--quiet"], check=False)
    if process.returncode != 0:
        raise SystemExit("Compiling tinykeras' kernels ahead of time failed; run with --tinykeras-kernels jit.")


def run_setting(names, frameworks, args, coretype):
    """Runs and prints everything under one OpenBLAS kernel; returns the results."""
    import workloads

    title = "OpenBLAS' own choice (OPENBLAS_CORETYPE unset)" if coretype == "default" else f"OPENBLAS_CORETYPE={coretype}"
    print(f"## OpenBLAS kernel: {title}\n")
    load_before = os.getloadavg()[0]
    rows, augment_rows = benchmark(names, frameworks, args)
    limits = flops_rows(names, rows)
    kernel_rows, ceiling = [], None
    if not args.no_kernels:
        kernel_rows, ceiling = kernel_benchmark(names, frameworks, args)
    load_after = os.getloadavg()[0]
    ratio_rows = ratios(rows)
    per_workload = {r["workload"]: f"{r['train_samples']} x {r['timed_epochs']}" for r in rows}
    runs = ", ".join(f"{name} {size}" for name, size in per_workload.items())
    warm_up = f"a {QUICK_WARMUP_STEPS}-step" if args.quick else "a 1-epoch"
    print(
        f"{'quick' if args.quick else 'full'} run, training samples x timed epochs after {warm_up} "
        f"warm-up: {runs}; {args.rounds} round(s) per framework, alternating; "
        f"{os.cpu_count()} cores, load average {load_before:.2f} before and "
        f"{load_after:.2f} after; Python {platform.python_version()}\n"
    )
    if load_before > os.cpu_count():
        print(
            f"Warning: the load average before the run ({load_before:.2f}) exceeds the "
            f"{os.cpu_count()} cores. Threads that wait for one another wait for preempted "
            "threads, which can multiply times (PyTorch's most); re-run on an idle machine.\n"
        )
    print(kernels_line(rows) + "\n")
    print(markdown(rows, ratio_rows))
    print("\n" + "\n".join(f"- {name}: {workloads.WORKLOADS[name].description}" for name in names))
    sources = {r["workload"]: r["data_source"] for r in rows if r["data_source"]}
    if sources:
        print("\nData: " + "; ".join(f"{name}: {source}" for name, source in sources.items()))
    print("\n" + flops_markdown(limits, frameworks))
    if augment_rows:
        print("\n" + augment_markdown(augment_rows, rows))
    if kernel_rows:
        print("\n" + kernel_markdown(kernel_rows, ceiling))
    print()
    return {
        "load_average_before": load_before,
        "load_average_after": load_after,
        "results": rows,
        "ratios": ratio_rows,
        "flops": limits,
        "augmentation": augment_rows,
        "kernels": kernel_rows,
        "ceiling": ceiling,
    }


if __name__ == "__main__":
    main()
