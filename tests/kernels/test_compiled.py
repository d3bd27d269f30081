"""The kernels compiled ahead of time (``kernels.compiled``, ``kernels.build``).

One library is built for the module (``python -m tinykeras.kernels.build``'s ``build()``, into a
TINYKERAS_HOME of its own); each benchmark workload's model then trains in a process that loads
it and never imports Numba, with the same losses and predictions to the bit as in a process where
Numba compiles the kernels. The argument keys the library is chosen by are checked against
Numba's own typing, without a library.
"""
import json
import os
import shutil
import subprocess
import sys

import numba
import numpy as np
import pytest

from tinykeras.kernels import build, compiled

REPOSITORY = os.path.join(os.path.dirname(__file__), "..", "..")

# Trains every benchmark workload's tinykeras model for two steps on random data of its shapes and
# prints, per workload, its losses and a prediction, and whether the library ran and Numba loaded.
WORKLOADS_SCRIPT = """
import json, sys
sys.path.insert(0, {benchmarks!r})
import numpy as np
import workloads
from tinykeras.kernels import compiled

results = {{}}
for name, workload in sorted(workloads.WORKLOADS.items()):
    rng = np.random.default_rng(0)
    count = 2 * workload.batch_size
    if name.startswith(("text", "conv1d")):
        x = rng.integers(1, workloads.TEXT_VOCABULARY, (count, workloads.TEXT_LENGTH)).astype("int32")
    else:
        shape = {{"mlp": (784,), "mlp_custom": (784,), "cifar": workloads.CIFAR_IMAGE}}.get(name, workloads.MNIST_IMAGE)
        x = rng.random((count, *shape), dtype=np.float32)
    y = rng.integers(0, 2, count) if workload.binary else np.arange(count) % 10
    data = {{"x_train": x, "y_train": y, "x_test": x[:8], "y_test": y[:8]}}
    result = workloads.train_tinykeras(workload, data, 1, None, 0)
    results[name] = [result["train_loss"], result["test_accuracy"]]
print(json.dumps({{"results": results, "library": compiled.ahead_of_time(), "numba": "numba" in sys.modules,
                  "missed": [(name, repr(key)) for name, key in compiled.missed()]}}))
"""


def run_python(code, home, **environment):
    env = {name: value for name, value in os.environ.items() if name != "NUMBA_DISABLE_JIT"}
    env.update(TINYKERAS_HOME=str(home), **environment)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=REPOSITORY)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def library_home(tmp_path_factory):
    """A TINYKERAS_HOME with the library built in it."""
    home = tmp_path_factory.mktemp("home")
    run_python("from tinykeras.kernels import build; build.build(verbose=False)", home)
    return home


def test_the_workloads_run_on_the_library_without_numba_with_the_same_results(library_home):
    script = WORKLOADS_SCRIPT.format(benchmarks=os.path.join(os.path.abspath(REPOSITORY), "benchmarks"))
    with_library = json.loads(run_python(script, library_home).stdout)
    just_in_time = json.loads(run_python(script, library_home, TINYKERAS_AHEAD_OF_TIME="0").stdout)
    assert with_library["library"] and with_library["missed"] == [] and not with_library["numba"]
    assert not just_in_time["library"] and just_in_time["numba"]
    assert len(with_library["results"]) >= 9
    assert with_library["results"] == just_in_time["results"]


def test_arguments_the_library_lacks_go_to_numbas_kernel(library_home):
    code = """
import json, sys
import numpy as np
from tinykeras.kernels import compiled
from tinykeras.kernels.activations import _relu

x = np.linspace(-1, 1, 24, dtype=np.float32)
out = np.empty_like(x)
_relu(x, out)
before = "numba" in sys.modules
results = [np.array_equal(out, np.maximum(x, 0))]
read_only = x.copy()
read_only.flags.writeable = False
for value in (x.astype(np.float64), x[::2], read_only):
    out = np.empty_like(value)
    _relu(value, out)
    results.append(np.array_equal(out, np.maximum(value, 0)))
print(json.dumps({"library": compiled.ahead_of_time(), "before": before, "after": "numba" in sys.modules,
                  "results": results, "missed": len(compiled.missed())}))
"""
    result = json.loads(run_python(code, library_home).stdout)
    assert result == {"library": True, "before": False, "after": True, "results": [True] * 4, "missed": 3}


def test_the_librarys_nogil_kernels_release_the_gil_and_the_others_hold_it(library_home):
    # A worker thread reads a counter, calls a kernel, reads it again, while the main thread
    # increments it whenever it holds the GIL. With a switch interval of 1 s the worker is never
    # made to hand the GIL over between its two reads: the main thread can only count during the
    # call if the kernel released the GIL.
    code = """
import json, sys, threading
import numpy as np
from tinykeras.kernels import compiled
from tinykeras.kernels.activations import _relu
from tinykeras.kernels.optimizers import adam_update

size = 4_000_000
value, grad, m, v = (np.full(size, 0.5, np.float32) for _ in range(4))
x, out = np.linspace(-1, 1, size, dtype=np.float32), np.empty(size, np.float32)
constants = (np.float32(0.1), np.float32(0.001), np.float32(0.001), np.float32(1e-7))
calls = {"adam_update": lambda: adam_update(value, grad, m, v, *constants), "_relu": lambda: _relu(x, out)}
for call in calls.values():
    call()
sys.setswitchinterval(1.0)
counted = {}
for name, call in calls.items():
    counter, done = [0], []

    def work():
        before = counter[0]
        call()
        counted[name] = counter[0] - before
        done.append(True)

    worker = threading.Thread(target=work)
    worker.start()
    while not done:
        counter[0] += 1
    worker.join()
print(json.dumps({"library": compiled.ahead_of_time(), "missed": len(compiled.missed()), **counted}))
"""
    result = json.loads(run_python(code, library_home).stdout)
    assert result["library"] and result["missed"] == 0
    assert result["adam_update"] > 0 and result["_relu"] == 0


def test_the_library_is_ignored_when_asked_or_when_jit_is_disabled(library_home):
    code = "import sys; from tinykeras.kernels import compiled; print(compiled.ahead_of_time(), 'numba' in sys.modules)"
    assert run_python(code, library_home).stdout.split() == ["True", "False"]
    assert run_python(code, library_home, TINYKERAS_AHEAD_OF_TIME="0").stdout.split() == ["False", "True"]
    assert run_python(code, library_home, NUMBA_DISABLE_JIT="1").stdout.split() == ["False", "True"]


def test_a_damaged_library_warns_and_the_kernels_compile_just_in_time(tmp_path):
    code = "from tinykeras.kernels import compiled; print(compiled.library_folder())"
    folder = run_python(code, tmp_path).stdout.strip()
    os.makedirs(folder)
    with open(compiled.library_file(folder), "wb") as f:
        f.write(b"not a shared library")
    with open(os.path.join(folder, compiled.INDEX_NAME), "w") as f:
        json.dump({"format": compiled.INDEX_FORMAT, "key": os.path.basename(folder), "kernels": {}}, f)
    code = """
import warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    import numpy as np
    from tinykeras.kernels import compiled
    from tinykeras.kernels.activations import _relu
x = np.arange(-3, 3, dtype=np.float32)
out = np.empty_like(x)
_relu(x, out)
print(compiled.ahead_of_time(), out.tolist(), [str(w.message) for w in caught])
"""
    output = run_python(code, tmp_path).stdout
    assert output.startswith("False [0.0, 0.0, 0.0, 0.0, 1.0, 2.0]")
    assert "could not be loaded" in output


def test_a_module_and_an_index_of_two_builds_are_not_used_together(library_home, tmp_path):
    code = "from tinykeras.kernels import compiled; print(compiled.library_folder())"
    built = run_python(code, library_home).stdout.strip()
    folder = run_python(code, tmp_path).stdout.strip()
    shutil.copytree(built, folder)
    with open(os.path.join(folder, compiled.INDEX_NAME)) as f:
        index = json.load(f)
    index["token"] += 1
    with open(os.path.join(folder, compiled.INDEX_NAME), "w") as f:
        json.dump(index, f)
    code = """
import warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    from tinykeras.kernels import compiled
print(compiled.ahead_of_time(), [str(w.message) for w in caught])
"""
    output = run_python(code, tmp_path).stdout
    assert output.startswith("False") and "its module is from another build than index.json" in output


def test_a_new_build_takes_the_old_ones_place_and_leaves_nothing_beside_it(tmp_path):
    folder, new = tmp_path / "key", tmp_path / ".building-1"
    folder.mkdir()
    (folder / "index.json").write_text("old")
    new.mkdir()
    (new / "index.json").write_text("new")
    build._replace_folder(str(new), str(folder))
    assert (folder / "index.json").read_text() == "new"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["key"]


# ---- the argument keys, against Numba's typing ------------------------------------------------------


def typing_values():
    """Values whose Numba types differ in every way a key must tell."""
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    read_only = base.copy()
    read_only.flags.writeable = False
    unaligned = np.frombuffer(np.zeros(4 * 24 + 1, np.uint8).data, dtype=np.float32, count=24, offset=1)
    return [
        base, base.astype(np.float64), base.astype(np.int32), base.astype(np.int64), base.ravel(),
        base[:, ::2], np.asfortranarray(base), read_only, unaligned, base[None], base.astype(">f4"),
        np.zeros(0, np.float32), np.zeros((1, 5), np.float32), np.zeros((5, 1), np.float32).T,
        1, 1.5, True, np.float32(1), np.float64(1), np.int64(1), np.int32(1), np.uint8(1), np.bool_(True),
        (1, 2, 3), (1, 2), (1.0, 2, 3), None,
    ]


def numba_type(value):
    try:
        return numba.typeof(value)
    except numba.core.errors.NumbaError:  # a big-endian array
        return None


def test_argument_keys_tell_apart_exactly_what_numba_types_apart():
    values = typing_values()
    numba_types = [numba_type(value) for value in values]
    assert numba_types.count(None) == 1
    for value, numba_type_ in zip(values, numba_types):
        description = None if numba_type_ is None else build.describe(numba_type_)
        if description is None:
            continue
        served = compiled.keys_of([description])
        assert compiled.arguments_key((value,)) in served, (value, numba_type_)
        for other, other_type in zip(values, numba_types):
            if other_type != numba_type_:
                assert compiled.arguments_key((other,)) not in served, (other, other_type, numba_type_)


def test_a_signatures_quick_test_accepts_exactly_what_numba_types_as_it():
    values = typing_values()
    numba_types = [numba_type(value) for value in values]
    for value, numba_type_ in zip(values, numba_types):
        description = None if numba_type_ is None else build.describe(numba_type_)
        if description is None:
            continue
        accepts = compiled.accepting([description])
        assert accepts(value), (value, numba_type_)
        for other, other_type in zip(values, numba_types):
            if other_type != numba_type_:
                assert not accepts(other), (other, other_type, numba_type_)
    # several arguments: each is tested in its place
    first, second = build.describe(numba.typeof(values[0])), build.describe(numba.typeof(1.5))
    accepts = compiled.accepting([first, second])
    assert accepts(values[0], 1.5) and accepts(values[0], np.float64(2))
    assert not accepts(values[0], 1) and not accepts(1.5, values[0]) and not accepts(values[4], 1.5)
    assert compiled.accepting([])() and compiled.keys_of([]) == [()]  # a kernel of no arguments


def test_a_signature_with_an_argument_the_keys_cannot_tell_serves_nothing():
    assert compiled.keys_of([{"kind": "array", "dtype": "<f4", "ndim": 1, "layout": "C", "readonly": False},
                             {"kind": "scalar", "type": "complex64"}]) == []
    assert compiled.accepting([{"kind": "scalar", "type": "complex64"}]) is None
    assert build.describe(numba.typeof([1, 2])) is None


def test_the_key_changes_with_the_kernels_sources(tmp_path, monkeypatch):
    for name in os.listdir(compiled._KERNELS_FOLDER):
        if name.endswith(".py"):
            with open(os.path.join(compiled._KERNELS_FOLDER, name), "rb") as f:
                (tmp_path / name).write_bytes(f.read())
    monkeypatch.setattr(compiled, "_KERNELS_FOLDER", str(tmp_path))
    key = compiled.library_key()
    assert key == compiled.library_key()
    with open(tmp_path / "softmax.py", "a") as f:
        f.write("\n# changed\n")
    assert compiled.library_key() != key


def test_the_build_refuses_a_kernel_option_it_does_not_carry(monkeypatch):
    import types

    module = types.ModuleType("tinykeras.kernels._option_test")

    @numba.njit(fastmath=True)
    def scaled(x):
        return x * 2.0

    scaled.py_func.__module__ = module.__name__
    module.scaled = scaled
    scaled(1.0)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    with pytest.raises(ValueError, match=r"_option_test.scaled is compiled with the options \{'fastmath': True\}"):
        build.signatures()
