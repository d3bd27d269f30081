"""The one switch between the fast kernels and their plain NumPy references.

Every kernel a layer or an optimizer calls is marked ``@switchable``: in the 'fast' mode (the
default) it runs as written; in the 'reference' mode its plain NumPy reference, kept beside it in
the same module under its name and ``_reference`` (``im2col`` and ``im2col_reference``), runs in
its place, with the same arguments and the same results to rounding. The mode is read from the
environment variable ``TINYKERAS_KERNELS`` ('fast' or 'reference') when tinykeras is imported,
and set with ``tinykeras.backend.set_kernels``.

The switch costs nothing per call: ``@switchable`` returns the kernel itself, and setting the mode
points every name bound to a switchable kernel in tinykeras' loaded modules (``matmul`` in
``kernels.blas`` and in each module that imported it) at the kernel of that mode. Names ending
in ``_reference`` keep their reference.

The references are there to be read (the math of each kernel in a few lines of NumPy) and to test
the fast kernels against; they are slower, and run BLAS with its own threads.
"""
import os
import sys

MODES = ("fast", "reference")
VARIABLE = "TINYKERAS_KERNELS"

_mode = "fast"
_SWITCHABLE = []  # the fast kernels, in the order they were marked
_INSTALLED = {}  # id -> (function a switch wrote in place of a kernel, that fast kernel)


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
    apply()


def apply():
    """Points the names of the switchable kernels in every loaded tinykeras module at the kernels
    of the current mode (run by ``set_kernels``, and once tinykeras is imported)."""
    stands_for = {id(held): fast for held, fast in _INSTALLED.values()}  # what earlier switches wrote
    chosen = {}
    for fast in _SWITCHABLE:
        reference = getattr(sys.modules[fast.__module__], fast.__name__ + "_reference")
        stands_for[id(fast)] = stands_for[id(reference)] = fast
        chosen[id(fast)] = fast if _mode == "fast" else reference
    for module_name, module in list(sys.modules.items()):
        if module is None or not (module_name == "tinykeras" or module_name.startswith("tinykeras.")):
            continue
        names = vars(module)
        for name, value in list(names.items()):
            if id(value) in stands_for and not name.endswith("_reference") and callable(value):
                fast = stands_for[id(value)]
                names[name] = chosen[id(fast)]
                _INSTALLED[id(chosen[id(fast)])] = (chosen[id(fast)], fast)
    # The recurrent layers run their NumPy steps when the fused cells are off.
    recurrent = sys.modules.get("tinykeras.kernels.recurrent")
    if recurrent is not None:
        recurrent.FUSED = _mode == "fast"


def switchable(fast):
    """Marks ``fast`` as a kernel with a plain NumPy reference named ``<fast's name>_reference``
    in its module (defined there, above or below it); returns ``fast`` unchanged."""
    _SWITCHABLE.append(fast)
    return fast


def switchable_kernels():
    """The fast kernels marked ``@switchable``."""
    return list(_SWITCHABLE)


def _from_environment():
    global _mode
    mode = os.environ.get(VARIABLE)
    if mode is None or mode == "":
        return
    if mode not in MODES:
        raise ValueError(
            f"{VARIABLE}={mode!r} is not a kernel mode: set it to 'fast' or 'reference', or unset it."
        )
    _mode = mode  # applied once tinykeras is imported (tinykeras/__init__.py calls apply)


_from_environment()
