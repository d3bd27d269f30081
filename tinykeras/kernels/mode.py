"""The one switch between the fast kernels and their plain NumPy references.

Every kernel a layer or an optimizer calls is marked ``@switchable``: in the 'fast' mode (the
default) it runs as written; in the 'reference' mode its plain NumPy reference, kept beside it in
the same module under its name and ``_reference`` (``im2col`` and ``im2col_reference``), runs in
its place, with the same arguments and the same results to rounding. The mode is read from the
environment variable ``TINYKERAS_KERNELS`` ('fast' or 'reference') when tinykeras is imported,
and set with ``tinykeras.backend.set_kernels``. The switch costs one comparison per kernel call.

The references are there to be read (the math of each kernel in a few lines of NumPy) and to test
the fast kernels against; they are slower, and run BLAS with its own threads.
"""
import functools
import os
import sys

MODES = ("fast", "reference")
VARIABLE = "TINYKERAS_KERNELS"

_mode = "fast"


def kernels():
    """The kernels in use: 'fast' or 'reference'."""
    return _mode


def set_kernels(mode):
    """Runs every kernel as its fast form ('fast') or its NumPy reference ('reference').

    Raises:
        ValueError: for any other value.
    """
    global _mode
    if mode not in MODES:
        raise ValueError(
            f"Unknown kernels {mode!r}: expected one of {MODES} ('fast', the compiled kernels; "
            "'reference', their plain NumPy references)."
        )
    _mode = mode
    # The recurrent layers run their NumPy steps when the fused cells are off.
    from tinykeras.kernels import recurrent

    recurrent.FUSED = mode == "fast"


def switchable(fast):
    """Marks a kernel: calls run ``fast`` in the 'fast' mode and, in the 'reference' mode, the
    function named ``<fast's name>_reference`` in fast's module (looked up at the call, so it
    may be defined below the kernel)."""
    module, name = fast.__module__, fast.__name__ + "_reference"

    @functools.wraps(fast)
    def call(*args, **kwargs):
        if _mode == "fast":
            return fast(*args, **kwargs)
        return getattr(sys.modules[module], name)(*args, **kwargs)

    call.fast = fast
    return call


def _from_environment():
    mode = os.environ.get(VARIABLE)
    if mode is None or mode == "":
        return
    if mode not in MODES:
        raise ValueError(
            f"{VARIABLE}={mode!r} is not a kernel mode: set it to 'fast' or 'reference', or unset it."
        )
    set_kernels(mode)


_from_environment()
