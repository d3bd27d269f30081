"""How the kernels become machine code: compiled by Numba when first called, or loaded from one
library compiled ahead of time.

Every kernel is written in the part of Python that Numba compiles, and marked with this module's
``njit`` (the kernels never import Numba themselves). There are two ways to run it:

- Just in time (without a library): ``njit`` is Numba's. Numba compiles a kernel for the types
  of its arguments when it is first called and keeps the machine code in its cache on disk, from
  which each later process loads it. Every process then imports Numba and readies its compiler,
  LLVM: about 0.3 s, and about 100 MB of memory that stays for the life of the process.
- Ahead of time: ``python -m tinykeras.kernels.build`` has Numba compile the kernels, for the
  argument types the usual models give them, into one Python extension module in
  ``$TINYKERAS_HOME/kernels/<key>/``. When the library for this machine and these sources exists,
  ``njit`` returns a function that calls the library's compiled kernel for its arguments' types,
  and Numba is never imported. Arguments the library has no kernel for (another dtype, an array
  that is not contiguous) go to Numba's just-in-time kernel, imported at that moment: the same
  code, compiled as it would be without the library.

The library holds what Numba's just-in-time compiler makes of the same functions on this CPU
(its model and features, the kernels' own options: ``nogil`` releases the GIL, the error model),
so both ways give the same results to the bit. ``<key>`` changes with the kernels' sources,
Numba's and NumPy's versions, the Python ABI and the CPU, so a library is only ever loaded where
it was built for; ``TINYKERAS_AHEAD_OF_TIME=0`` ignores it, and so does ``NUMBA_DISABLE_JIT=1``
(the kernels then run as plain Python, as Numba runs them).

Choosing the library's kernel by the types of the arguments, read in Python, costs about 0.4 us
a call more than Numba's dispatcher, which reads them in C: Adam's update of 8 floats took 0.87
us against 0.43-0.47, a bias added to 4 rows 0.66 against 0.38-0.41 (a test per compiled
signature, ``accepting``; building the arguments' key and looking it up, which remains for the
arguments no test accepts, took 1.42 and 1.08). A training step of the MNIST MLP (about 17
kernel calls) took 160-164 us against 152-159, of the small CNN (batch 10) 318-322 against
304-310, of the MNIST CNN 388-401 against 388-395.
"""
import functools
import hashlib
import importlib.machinery
import importlib.util
import json
import os
import platform
import sys
import threading
import types
import warnings

import numpy as np

from tinykeras._home import tinykeras_home

#: The environment variable that turns the library off ('0').
VARIABLE = "TINYKERAS_AHEAD_OF_TIME"
#: The extension module's name.
MODULE_NAME = "tinykeras_kernels"
#: The file, beside the module, that says which compiled kernel serves which argument types.
INDEX_NAME = "index.json"
#: The layout of that file; a library of another format is not loaded.
INDEX_FORMAT = 1
#: The module's function that returns the token its index holds: a module and an index from two
#: builds (a build that replaced the folder between the two reads) are never used together.
TOKEN_SYMBOL = "library_token"

_KERNELS_FOLDER = os.path.dirname(os.path.abspath(__file__))
_ndarray = np.ndarray
# The bits of ndarray.flags.num that decide an array's Numba type besides its dtype and rank
# (Numba types an unaligned array as an aligned one).
_C, _F, _WRITEABLE = 0x1, 0x2, 0x400
_FLAG_BITS = _C | _F | _WRITEABLE


def _array_flags(bits):
    """(layout, readonly) of an array whose flags are ``bits``, as Numba types it."""
    layout = "C" if bits & _C else "F" if bits & _F else "A"
    return layout, not bits & _WRITEABLE


_ARRAY_FLAGS = [_array_flags(bits) for bits in range(_FLAG_BITS + 1)]
#: The Python types Numba gives each scalar type of a compiled kernel's signature.
_SCALAR_TYPES = {
    "int64": (int, np.int64),
    "float64": (float, np.float64),
    "bool": (bool, np.bool_),
    "float32": (np.float32,),
    "int32": (np.int32,),
    "uint32": (np.uint32,),
    "uint64": (np.uint64,),
    "int8": (np.int8,),
    "uint8": (np.uint8,),
    "int16": (np.int16,),
    "uint16": (np.uint16,),
}


def arguments_key(args, ndarray=_ndarray, flags=_ARRAY_FLAGS, bits=_FLAG_BITS):
    """What decides the Numba types of ``args``, one entry per argument: for an array its dtype,
    rank and (layout, readonly); for a tuple its elements' Python types; otherwise its type.
    (Written as one expression, with its names bound as defaults: a call per argument would cost
    0.2 us a kernel call.)"""
    return tuple([
        (value.dtype, value.ndim, flags[value.flags.num & bits]) if type(value) is ndarray
        else (tuple, *map(type, value)) if type(value) is tuple
        else type(value)
        for value in args
    ])


def _entries(arguments):
    """Per argument of a compiled signature (the index's description of each), the entries of
    ``arguments_key`` that it serves; None if one is of a kind the keys cannot tell."""
    options = []
    for argument in arguments:
        kind = argument["kind"]
        if kind == "array":
            flags = (argument["layout"], argument["readonly"])
            options.append([(np.dtype(argument["dtype"]), argument["ndim"], flags)])
        elif kind == "scalar" and argument["type"] in _SCALAR_TYPES:
            options.append(list(_SCALAR_TYPES[argument["type"]]))
        elif kind == "int_tuple":
            options.append([(tuple,) + (int,) * argument["length"]])
        elif kind == "none":
            options.append([type(None)])
        else:
            return None
    return options


def keys_of(arguments):
    """The argument keys (``arguments_key``) a compiled signature serves, from the index's
    description of its arguments; empty if one of them is of a kind the keys cannot tell."""
    entries = _entries(arguments)
    if entries is None:
        return []
    keys = [()]
    for choices in entries:
        keys = [key + (choice,) for key in keys for choice in choices]
    return keys


def accepting(arguments):
    """A function of the arguments that says, faster than their key, whether a compiled signature
    serves them: each argument tested in turn against its entries of the key, stopping at the
    first that differs (about 0.45 us for Adam's update, whose key and its lookup took 0.85).
    It accepts only arguments whose key (``arguments_key``) is one of ``keys_of(arguments)``, and
    may refuse some of those (a dtype equal to the signature's but another object): they are
    looked up by their key instead. None for a signature the keys cannot tell."""
    entries = _entries(arguments)
    if entries is None:
        return None
    names = [f"a{i}" for i in range(len(entries))]
    namespace = {"ndarray": _ndarray}

    def bound(value):  # the name under which the test reads value
        name = f"t{len(namespace)}"
        namespace[name] = value
        return name

    tests = []
    for name, choices in zip(names, entries):
        alternatives = []
        for choice in choices:
            if type(choice) is tuple and isinstance(choice[0], np.dtype):  # an array's
                dtype, ndim, (layout, readonly) = choice
                mask = _C | _WRITEABLE if layout == "C" else _FLAG_BITS  # a C array may be F too
                bits = {"C": _C, "F": _F, "A": 0}[layout] | (0 if readonly else _WRITEABLE)
                alternatives.append(f"type({name}) is ndarray and {name}.dtype is {bound(dtype)} and "
                                    f"{name}.ndim == {int(ndim)} and {name}.flags.num & {mask} == {bits}")
            elif type(choice) is tuple:  # a tuple's: (tuple, its elements' types)
                elements = choice[1:]
                alternatives.append(" and ".join(
                    [f"type({name}) is tuple and len({name}) == {len(elements)}"]
                    + [f"type({name}[{j}]) is {bound(element)}" for j, element in enumerate(elements)]
                ))
            else:  # a scalar's type
                alternatives.append(f"type({name}) is {bound(choice)}")
        tests.append(" or ".join(f"({alternative})" for alternative in alternatives))
    source = f"def accepts({', '.join(names)}):\n    return " + " and ".join(f"({test})" for test in tests or ["True"]) + "\n"
    exec(compile(source, "<tinykeras.kernels.compiled.accepting>", "exec"), namespace)  # noqa: S102
    return namespace["accepts"]


# ---- which library ---------------------------------------------------------------------------


def _cpu():
    """What identifies this CPU's instruction set: /proc/cpuinfo's model and flags on Linux."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            lines = [line for line in f.read().splitlines() if line.startswith(("model name", "flags", "Features"))]
        return "\n".join(sorted(set(lines)))
    except OSError:
        return platform.processor()


def library_key():
    """The key of the library these kernels, this Numba, NumPy, Python and CPU would build: a
    hash of all of them (16 hexadecimal digits)."""
    digest = hashlib.sha256()
    for name in sorted(os.listdir(_KERNELS_FOLDER)):
        if name.endswith(".py"):
            with open(os.path.join(_KERNELS_FOLDER, name), "rb") as f:
                digest.update(name.encode() + b"\0" + f.read() + b"\0")
    numba_spec = importlib.util.find_spec("numba")  # found, not imported
    if numba_spec is not None and numba_spec.submodule_search_locations:
        version_file = os.path.join(list(numba_spec.submodule_search_locations)[0], "_version.py")
        if os.path.exists(version_file):
            with open(version_file, "rb") as f:
                digest.update(f.read())
    for part in (np.__version__, sys.version, sys.implementation.cache_tag, platform.machine(), _cpu()):
        digest.update(str(part).encode() + b"\0")
    return digest.hexdigest()[:16]


def library_folder():
    """Where the library for this build lives: ``$TINYKERAS_HOME/kernels/<library_key()>``."""
    return os.path.join(tinykeras_home(), "kernels", library_key())


def library_file(folder):
    """The extension module's file in ``folder``."""
    return os.path.join(folder, MODULE_NAME + importlib.machinery.EXTENSION_SUFFIXES[0])


def jit_disabled():
    """Whether Numba is told to run the kernels as plain Python (``NUMBA_DISABLE_JIT``)."""
    try:
        return int(os.environ.get("NUMBA_DISABLE_JIT", "0") or 0) != 0
    except ValueError:
        return False


def _load_library():
    """The library and its index for this build, or (None, {}) without one."""
    if os.environ.get(VARIABLE, "1") == "0" or jit_disabled():
        return None, {}
    folder = library_folder()
    path = library_file(folder)
    index_path = os.path.join(folder, INDEX_NAME)
    if not (os.path.exists(path) and os.path.exists(index_path)):
        return None, {}
    try:
        with open(index_path, encoding="utf-8") as f:
            index = json.load(f)
        if index.get("format") != INDEX_FORMAT or index.get("key") != os.path.basename(folder):
            raise ValueError(f"its index is of format {index.get('format')!r} for key {index.get('key')!r}")
        loader = importlib.machinery.ExtensionFileLoader(MODULE_NAME, path)
        spec = importlib.util.spec_from_file_location(MODULE_NAME, path, loader=loader)
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        if getattr(module, TOKEN_SYMBOL)() != index["token"]:
            raise ValueError(f"its module is from another build than {INDEX_NAME}")
        kernels = index["kernels"]
        for entries in kernels.values():
            for entry in entries:
                getattr(module, entry["symbol"])
    except Exception as error:  # a damaged library must not stop tinykeras: Numba compiles instead
        warnings.warn(
            f"The kernels compiled ahead of time in {folder} could not be loaded ({error}); the "
            "kernels are compiled by Numba instead. Run `python -m tinykeras.kernels.build` to "
            "build the library again.",
            RuntimeWarning,
            stacklevel=2,
        )
        return None, {}
    return module, kernels


LIBRARY, _INDEX = _load_library()
#: The kernels' just-in-time forms, by the id of the function ``njit`` returned (library mode).
_JUST_IN_TIME = {}
#: (kernel, argument key) of each call the library had no kernel for, in order.
_MISSED = []
_MAKING = threading.RLock()


def ahead_of_time():
    """Whether the kernels run from the library compiled ahead of time."""
    return LIBRARY is not None


def missed():
    """The kernels called with argument types the library lacks, and those types' keys
    (``arguments_key``), in the order they were met: each was compiled by Numba."""
    return list(_MISSED)


# ---- the decorators the kernels use --------------------------------------------------------------


class _JustInTime:
    """A kernel's Numba dispatcher, made when first needed (library mode).

    The dispatcher compiles a copy of the kernel whose globals name the other kernels' Numba
    dispatchers (the module's own names are the library's functions, which compiled code cannot
    call)."""

    def __init__(self, function, options):
        self.function = function
        self.options = options
        self._dispatcher = None

    def dispatcher(self):
        with _MAKING:  # two threads may miss the library at once
            return self._made()

    def _made(self):
        if self._dispatcher is None:
            import numba

            function = self.function
            namespace = dict(function.__globals__)
            copy = types.FunctionType(
                function.__code__, namespace, function.__name__, function.__defaults__, function.__closure__
            )
            copy.__qualname__, copy.__module__ = function.__qualname__, function.__module__
            copy.__kwdefaults__ = function.__kwdefaults__
            self._dispatcher = numba.njit(**self.options)(copy)
            for name, value in namespace.items():  # after, so kernels that call each other end
                just_in_time = _JUST_IN_TIME.get(id(value))
                if just_in_time is not None and just_in_time[0] is value:
                    namespace[name] = just_in_time[1]._made()
        return self._dispatcher


def njit(function=None, **options):
    """Marks ``function`` as a kernel compiled with Numba's ``options`` (those of
    ``numba.njit``); usable as ``@njit`` and ``@njit(nogil=True, ...)``.

    Without a library it returns Numba's dispatcher. With one, a function that calls the
    library's kernel for its arguments' types (positional arguments, defaults filled in), or
    Numba's dispatcher for types the library lacks.
    """
    if function is None:
        return functools.partial(njit, **options)
    if LIBRARY is None:
        import numba

        return numba.njit(**options)(function)

    just_in_time = _JustInTime(function, options)
    name = f"{function.__module__}.{function.__qualname__}"
    table, signatures = {}, []
    for entry in _INDEX.get(name, ()):
        run = getattr(LIBRARY, entry["symbol"])
        for key in keys_of(entry["arguments"]):
            table[key] = run
        accepts = accepting(entry["arguments"])
        if accepts is not None:
            signatures.append((accepts, run))
    count = function.__code__.co_argcount
    defaults = function.__defaults__ or ()

    @functools.wraps(function)
    def kernel(*args, **kwargs):
        if kwargs:
            return just_in_time.dispatcher()(*args, **kwargs)
        if len(args) < count and count - len(args) <= len(defaults):
            args += defaults[len(defaults) - (count - len(args)) :]
        if len(args) == count:
            for accepts, run in signatures:
                if accepts(*args):
                    return run(*args)
        key = arguments_key(args)
        try:
            run = table[key]
        except KeyError:  # types the library lacks: Numba's kernel, from now on for these types
            run = table[key] = just_in_time.dispatcher()
            _MISSED.append((name, key))
        return run(*args)

    kernel.py_func = function
    _JUST_IN_TIME[id(kernel)] = (kernel, just_in_time)
    return kernel


class _LazyIntrinsic:
    """An intrinsic's code generator, made into Numba's intrinsic when a kernel that uses it is
    compiled just in time (library mode; the library holds it compiled already)."""

    def __init__(self, function):
        self.function = function
        self._intrinsic = None

    def _made(self):
        if self._intrinsic is None:
            from numba.extending import intrinsic as numba_intrinsic

            self._intrinsic = numba_intrinsic(self.function)
        return self._intrinsic


def intrinsic(function):
    """``numba.extending.intrinsic``, made when Numba is first needed in library mode."""
    if LIBRARY is None:
        from numba.extending import intrinsic as numba_intrinsic

        return numba_intrinsic(function)
    lazy = _LazyIntrinsic(function)
    _JUST_IN_TIME[id(lazy)] = (lazy, lazy)
    return lazy
