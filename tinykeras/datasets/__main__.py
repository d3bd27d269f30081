"""Fills the dataset cache ahead of time: ``python -m tinykeras.datasets mnist cifar10``.

Prints where each cached file or folder is. For MNIST it also writes the four gzipped IDX files
where the PyPI package ``mnist`` looks for them (``mnist.write_idx_files``), so that tutorials
calling ``mnist.train_images()`` run offline. Exits with 0 when every named dataset is cached and
verified, 1 otherwise.
"""
import argparse
import importlib
import sys

from tinykeras import datasets
from tinykeras.datasets import _cache
from tinykeras.utils.naming import closest_names


def main(argv=None):
    """Fetches, verifies and caches the named datasets.

    Args:
        argv: the command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit code: 0 on success, 1 when a name is unknown or a dataset could not be fetched.
    """
    parser = argparse.ArgumentParser(
        prog="python -m tinykeras.datasets",
        description=f"Fetch, verify and cache datasets in {_cache.datasets_dir()}.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"datasets to cache: {', '.join(datasets.__all__)}")
    names = parser.parse_args(argv).names
    if not names:
        parser.print_usage(sys.stderr)
        print(f"Name at least one dataset: {', '.join(datasets.__all__)}.", file=sys.stderr)
        return 1
    unknown = [name for name in names if name not in datasets.__all__]
    for name in unknown:
        print(f"Unknown dataset: {name!r}.{closest_names(name, datasets.__all__)} "
              f"Available datasets: {', '.join(datasets.__all__)}.", file=sys.stderr)
    if unknown:
        return 1
    return max(_cache_one(name) for name in names)


def _cache_one(name):
    """Fetches one dataset into the cache and prints where it is.

    Args:
        name: a submodule of ``tinykeras.datasets``.

    Returns:
        0 on success, 1 when the dataset could not be fetched or its files are damaged.
    """
    module = importlib.import_module(f"tinykeras.datasets.{name}")
    try:
        module.load_data()
    except (_cache.DatasetUnavailableError, _cache.IntegrityError) as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{name}: {module.cache_path()}")
    if name == "mnist":
        return _place_idx_files(module)
    return 0


def _place_idx_files(mnist):
    """Writes MNIST's IDX files where the ``mnist`` package reads them and prints where they are.

    Args:
        mnist: the module ``tinykeras.datasets.mnist``.

    Returns:
        0 on success, 1 when the folder cannot be written.
    """
    folder = mnist.idx_folder()
    try:
        placed = mnist.write_idx_files(folder)
    except OSError as error:
        print(f"mnist: could not write the IDX files the 'mnist' package reads into {folder} "
              f"({type(error).__name__}: {error}). Make that folder writable, or set TMPDIR to a "
              "writable folder both here and when running the tutorial.", file=sys.stderr)
        return 1
    print(f"mnist: IDX files for the 'mnist' package (mnist.train_images() and the others) "
          f"in {folder}:")
    for path, written in placed.items():
        print(f"  {path}" if written else f"  {path} (already up to date)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
