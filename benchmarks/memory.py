"""Does memory grow while a model trains? Trains one workload for many epochs and prints the
process' resident memory after each one.

    python benchmarks/memory.py                          # cnn, 20 epochs of 6,000 samples
    python benchmarks/memory.py --workload cifar --epochs 20 --samples 1280

A leak shows as resident memory that keeps rising after the first epoch (which allocates the
layers' buffers and compiles or loads the Numba kernels). Only tinykeras is measured.
"""
import argparse
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def resident_mb():
    """The process' current resident set size in MB (Linux /proc), or None elsewhere."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
    except OSError:
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb():
    """The process' peak resident set size so far, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def main(argv=None):
    import workloads

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", default="cnn", choices=sorted(workloads.WORKLOADS))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--samples", type=int, default=6000, help="training samples per epoch")
    args = parser.parse_args(argv)

    from tinykeras import backend
    from tinykeras.callbacks import Callback
    from tinykeras.utils import to_categorical

    class Memory(Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(
                f"| {epoch + 1} | {time.perf_counter() - start:.1f} | {resident_mb():.1f} | {peak_mb():.1f} |",
                flush=True,
            )

    workload = workloads.WORKLOADS[args.workload]
    data = workload.prepare()
    x = data["x_train"][: args.samples]
    y = to_categorical(data["y_train"][: args.samples], int(data["y_train"].max()) + 1)
    backend.set_random_seed(0)
    model = workload.build_tinykeras()
    print(f"{args.workload}: {len(x)} samples, batch {workload.batch_size}, {args.epochs} epochs\n")
    print("| epoch | seconds | resident (MB) | peak (MB) |\n| ---: | ---: | ---: | ---: |")
    start = time.perf_counter()
    model.fit(x, y, batch_size=workload.batch_size, epochs=args.epochs, callbacks=[Memory()], verbose=0)


if __name__ == "__main__":
    main()
