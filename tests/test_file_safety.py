"""File safety: weights are never half-loaded, an interrupted save never loses the previous file,
and damaged files raise a clear error naming the file instead of crashing or hanging.

Already covered elsewhere, and not repeated here:
- '.weights.h5' of another architecture: tests/test_models.py
  (test_load_weights_of_another_architecture_changes_nothing) and tests/test_keras_interchange.py
  (test_wrong_architecture_raises_naming_layer_and_shapes_and_changes_nothing,
  test_other_models_fixture_raises_and_changes_nothing).
- Keras 2 '.h5' of another model or with one wrong shape: tests/test_keras_interchange.py
  (test_keras_2_layout_of_another_model_raises_and_changes_nothing,
  test_keras_2_layout_checks_every_shape_first).
- set_weights with one wrong shape: tests/test_models.py (test_set_weights_checks_every_shape_first).
- save_weights failing in create_dataset: tests/test_models.py
  (test_failed_save_leaves_the_previous_file); model.save refusing a layer:
  tests/test_keras_model_files.py (test_failed_save_leaves_the_previous_file_intact).
- '.keras' not a zip, truncated in half, malformed members, garbage weights member:
  tests/test_keras_model_files.py.
- CIFAR-10 batch truncated in half or malformed: tests/datasets/test_cifar10.py.
"""
import json
import os
import pickle
import subprocess
import sys
import textwrap
import zipfile

import h5py
import numpy as np
import pytest
from cifar_batches import N, batch_arrays, batch_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keras_fixtures import FIXTURES, interchange

import tinykeras
from tinykeras import Sequential, callbacks, models
from tinykeras.datasets import _cache, cifar10
from tinykeras.layers import Dense

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUZZ = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def mlp(hidden=16, seed=0):
    model = Sequential([Dense(hidden, activation="relu", input_shape=(4,)), Dense(3, activation="softmax")])
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.shape) for w in model.get_weights()])
    return model


def snapshot(model):
    return [w.copy() for w in model.get_weights()]


def assert_unchanged(model, before):
    after = model.get_weights()
    assert len(after) == len(before)
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def rewrite_dataset(path, name, data):
    with h5py.File(path, "a") as f:
        del f[name]
        f[name] = data


# ---- weights are never half-loaded ----------------------------------------------------------
# Each damage leaves the first layer's weights valid, so a loader that set weights layer by layer
# would have changed the model before it raised.


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.array([b"a", b"b", b"c"]), r"'dense_1/vars/1' holds \|S1 values; weights are floating-point"),
        (np.zeros(3, np.int64), r"'dense_1/vars/1' holds int64 values; weights are floating-point"),
        (np.zeros((3, 1)), r"weight 'bias' has shape \(3,\), the file .*m\.weights\.h5 has \(3, 1\) at 'layers/dense_1'"),
    ],
    ids=["strings", "ints", "extra axis"],
)
def test_weights_file_with_a_wrong_last_dataset_changes_nothing(tmp_path, data, message):
    path = tmp_path / "m.weights.h5"
    mlp(seed=1).save_weights(path)
    rewrite_dataset(path, "layers/dense_1/vars/1", data)
    model = mlp()
    before = snapshot(model)
    with pytest.raises(ValueError, match=message):
        model.load_weights(path)
    assert_unchanged(model, before)


def test_weights_file_with_a_missing_last_dataset_changes_nothing(tmp_path):
    path = tmp_path / "m.weights.h5"
    mlp(seed=1).save_weights(path)
    with h5py.File(path, "a") as f:
        del f["layers/dense_1/vars/1"]
    model = mlp()
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"expects 2 weight arrays, the file .*\.weights\.h5 has 1 at 'layers/dense_1'"):
        model.load_weights(path)
    assert_unchanged(model, before)


def test_truncated_weights_file_names_the_file_and_changes_nothing(tmp_path):
    path = tmp_path / "m.weights.h5"
    mlp(seed=1).save_weights(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    model = mlp()
    before = snapshot(model)
    with pytest.raises(ValueError, match=rf"{path} is not a readable HDF5 weights file"):
        model.load_weights(path)
    assert_unchanged(model, before)


def keras_2_file(model, path):
    """``model``'s weights in Keras 2's '.h5' layout (layer_names / weight_names attributes)."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        for layer in model.layers:
            group = f.create_group(layer.name)
            group.attrs["weight_names"] = [f"{layer.name}/{v.name}:0".encode() for v in layer.variables]
            for variable in layer.variables:
                group.create_dataset(f"{layer.name}/{variable.name}:0", data=variable.value)
    return path


@pytest.mark.parametrize(
    ("data", "message"),
    [(np.array([b"x"] * 3), r"holds \|S1 values"), (np.zeros(3, np.int32), "holds int32 values")],
    ids=["strings", "ints"],
)
def test_keras_2_file_with_a_wrong_dtype_changes_nothing(tmp_path, data, message):
    source = mlp(seed=1)
    path = keras_2_file(source, tmp_path / "m.h5")
    last = source.layers[-1].name
    rewrite_dataset(path, f"{last}/{last}/bias:0", data)
    model = mlp()
    before = snapshot(model)
    with pytest.raises(ValueError, match=message):
        model.load_weights(path)
    assert_unchanged(model, before)


def test_keras_2_file_listing_a_missing_weight_changes_nothing(tmp_path):
    source = mlp(seed=1)
    path = keras_2_file(source, tmp_path / "m.h5")
    last = source.layers[-1].name
    with h5py.File(path, "a") as f:
        del f[f"{last}/{last}/bias:0"]
    model = mlp()
    before = snapshot(model)
    with pytest.raises(ValueError, match="is not a dataset"):
        model.load_weights(path)
    assert_unchanged(model, before)


def test_set_weights_with_too_few_arrays_changes_nothing():
    model = mlp()
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"expects 4 weight arrays \(dense/kernel, .*\); received 3"):
        model.set_weights([w + 1 for w in before[:3]])
    assert_unchanged(model, before)


def test_load_model_with_a_wrong_last_dataset_raises_naming_the_member(tmp_path):
    path = tmp_path / "m.keras"
    mlp(seed=1).save(path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    weights = tmp_path / "w.h5"
    weights.write_bytes(members["model.weights.h5"])
    rewrite_dataset(weights, "layers/dense_1/vars/1", np.zeros(3, np.int64))
    members["model.weights.h5"] = weights.read_bytes()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match=r"m.keras/model.weights.h5: 'dense_1/vars/1' holds int64"):
        models.load_model(path)


# ---- nothing is lost on disk ----------------------------------------------------------------


def fail_after_partial_output(monkeypatch, cls, method):
    """Makes ``cls.method`` do its work, then raise: the file being written is left partial."""
    original = getattr(cls, method)

    def write_then_fail(*args, **kwargs):
        original(*args, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(cls, method, write_then_fail)


def assert_previous_file_intact(folder, path, data):
    assert path.read_bytes() == data
    assert sorted(os.listdir(folder)) == [path.name]  # no temporary file left behind


def test_save_weights_failing_mid_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "m.weights.h5"
    mlp(seed=1).save_weights(path)
    data = path.read_bytes()
    fail_after_partial_output(monkeypatch, h5py.Group, "create_dataset")
    with pytest.raises(OSError, match="disk full"):
        mlp(seed=2).save_weights(path)
    monkeypatch.undo()
    assert_previous_file_intact(tmp_path, path, data)
    model = mlp()
    model.load_weights(path)
    assert_unchanged(model, mlp(seed=1).get_weights())


def test_model_save_failing_mid_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "m.keras"
    mlp(seed=1).save(path)
    data = path.read_bytes()
    fail_after_partial_output(monkeypatch, zipfile.ZipFile, "writestr")
    with pytest.raises(OSError, match="disk full"):
        mlp(seed=2).save(path)
    monkeypatch.undo()
    assert_previous_file_intact(tmp_path, path, data)
    assert_unchanged(models.load_model(path), mlp(seed=1).get_weights())


@pytest.mark.parametrize(("name", "cls", "method"), [
    ("ckpt.weights.h5", h5py.Group, "create_dataset"),
    ("ckpt.keras", zipfile.ZipFile, "writestr"),
])
def test_model_checkpoint_failing_mid_write_keeps_the_previous_file(tmp_path, monkeypatch, name, cls, method):
    x = np.random.default_rng(0).normal(size=(20, 4))
    y = np.arange(20) % 3
    model = mlp(seed=1)
    model.compile("sgd", "sparse_categorical_crossentropy")
    path = tmp_path / name
    model.fit(x, y, epochs=1, callbacks=[callbacks.ModelCheckpoint(str(path))], verbose=0)
    data = path.read_bytes()
    fail_after_partial_output(monkeypatch, cls, method)
    with pytest.raises(OSError, match="disk full"):
        model.fit(x, y, epochs=1, callbacks=[callbacks.ModelCheckpoint(str(path))], verbose=0)
    assert_previous_file_intact(tmp_path, path, data)


# ---- temporary files, links and permissions -------------------------------------------------


def dead_pid():
    """A process id no process has: above the system's largest on Linux, else a child's that
    has exited and been reaped."""
    try:
        with open("/proc/sys/kernel/pid_max") as file:
            return int(file.read()) + 1
    except OSError:
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        child.wait()
        return child.pid


@pytest.mark.skipif(os.name != "posix", reason="leftovers are cleaned on POSIX systems only")
def test_a_save_removes_the_temporary_files_of_dead_saves_of_that_file_only(tmp_path):
    path = tmp_path / "m.weights.h5"
    dead, alive = dead_pid(), os.getpid()
    leftovers = {
        f".m.weights.h5.{dead}-0123456789ab.tmp": False,  # a killed save of this file
        f".m.weights.h5.{alive}-0123456789ab.tmp": True,  # a save in progress
        f".other.h5.{dead}-0123456789ab.tmp": True,  # another file's
        ".m.weights.h5.0123456789ab.tmp": True,  # no pid in the name: whose it is is unknown
        f".m.weights.h5.{dead}-0123456789ab.tmp.bak": True,  # not the pattern exactly
        f".m.weights.h5.{dead}-0123456789abc.tmp": True,
        f"m.weights.h5.{dead}-0123456789ab.tmp": True,
    }
    for name in leftovers:
        (tmp_path / name).write_bytes(b"partial")

    mlp(seed=1).save_weights(path)

    kept = sorted(name for name, keep in leftovers.items() if keep)
    assert sorted(os.listdir(tmp_path)) == sorted(kept + ["m.weights.h5"])


LIVE_WRITER = textwrap.dedent("""
    import sys, time
    from tinykeras.utils.files import atomic_write

    with atomic_write(sys.argv[1]) as file:
        file.write(b"half of a file")
        print("writing", flush=True)
        time.sleep(120)
""")


@pytest.mark.skipif(os.name != "posix", reason="leftovers are cleaned on POSIX systems only")
def test_a_save_in_progress_elsewhere_is_left_alone_and_its_leftover_removed_once_killed(tmp_path):
    path = tmp_path / "m.keras"
    writer = subprocess.Popen([sys.executable, "-c", LIVE_WRITER, str(path)],
                              env={**os.environ, "PYTHONPATH": ROOT}, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "writing\n"
        temporary = [name for name in os.listdir(tmp_path) if name != "m.keras"]
        assert len(temporary) == 1 and temporary[0].startswith(f".m.keras.{writer.pid}-")

        mlp(seed=1).save(path)  # while the other process writes

        assert sorted(os.listdir(tmp_path)) == sorted(temporary + ["m.keras"])
    finally:
        writer.kill()
        writer.wait(timeout=10)
        writer.stdout.close()

    mlp(seed=2).save(path)  # the writer is gone: its temporary file goes

    assert os.listdir(tmp_path) == ["m.keras"]
    assert_unchanged(models.load_model(path), mlp(seed=2).get_weights())


@pytest.mark.parametrize("save", ["save_weights", "save"])
def test_saving_through_a_symbolic_link_writes_its_target_and_keeps_the_link(tmp_path, save):
    suffix = ".weights.h5" if save == "save_weights" else ".keras"
    (tmp_path / "store").mkdir()
    (tmp_path / "links").mkdir()
    target = tmp_path / "store" / f"m{suffix}"
    link = tmp_path / "links" / f"m{suffix}"
    getattr(mlp(seed=1), save)(target)
    os.symlink(os.path.join("..", "store", target.name), link)

    getattr(mlp(seed=2), save)(link)

    assert os.readlink(link) == os.path.join("..", "store", target.name)
    assert os.listdir(tmp_path / "links") == [link.name]
    assert os.listdir(tmp_path / "store") == [target.name]
    if save == "save":
        restored = models.load_model(target)
    else:
        restored = mlp()
        restored.load_weights(target)
    assert_unchanged(restored, mlp(seed=2).get_weights())


def test_saving_through_a_link_to_a_missing_file_creates_that_file(tmp_path):
    link = tmp_path / "link.weights.h5"
    os.symlink("target.weights.h5", link)
    mlp(seed=1).save_weights(link)
    assert os.readlink(link) == "target.weights.h5"
    assert sorted(os.listdir(tmp_path)) == ["link.weights.h5", "target.weights.h5"]


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o444, 0o664])
def test_saving_over_a_file_keeps_its_permission_bits(tmp_path, umask_022, mode):
    path = tmp_path / "m.weights.h5"
    mlp(seed=1).save_weights(path)
    os.chmod(path, mode)
    mlp(seed=2).save_weights(path)
    assert stat_mode(path) == mode
    model = mlp()
    model.load_weights(path)
    assert_unchanged(model, mlp(seed=2).get_weights())


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_gets_the_mode_the_umask_gives(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        mlp(seed=1).save_weights(tmp_path / "m.weights.h5")
    finally:
        os.umask(previous)
    assert stat_mode(tmp_path / "m.weights.h5") == mode


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_saving_through_a_link_keeps_the_targets_mode(tmp_path, umask_022):
    target = tmp_path / "target.weights.h5"
    mlp(seed=1).save_weights(target)
    os.chmod(target, 0o600)
    os.symlink(target.name, tmp_path / "link.weights.h5")
    mlp(seed=2).save_weights(tmp_path / "link.weights.h5")
    assert os.path.islink(tmp_path / "link.weights.h5")
    assert stat_mode(target) == 0o600
    model = mlp()
    model.load_weights(target)
    assert_unchanged(model, mlp(seed=2).get_weights())


def stat_mode(path):
    return os.stat(path).st_mode & 0o7777


# ---- damaged files raise a clear error ------------------------------------------------------


def damage(data, draw_truncate, offsets, flips):
    """``data`` truncated at ``draw_truncate`` (a fraction, or None) and with bits flipped."""
    data = bytearray(data)
    if draw_truncate is not None:
        data = data[: int(len(data) * draw_truncate)]
    for offset, bit in zip(offsets, flips):
        if data:
            data[int(offset * len(data)) % len(data)] ^= 1 << bit
    return bytes(data)


DAMAGE = {
    "draw_truncate": st.none() | st.floats(0.0, 0.999),
    "offsets": st.lists(st.floats(0.0, 1.0, exclude_max=True), max_size=8),
    "flips": st.lists(st.integers(0, 7), min_size=8, max_size=8),
}

# h5py's C library could plausibly crash on a corrupt file, so the HDF5 readers are fuzzed in a
# child process under a timeout: a segfault or a hang fails the test instead of killing pytest.
# Hypothesis draws the damages in this process; one child per file kind loads them all.
H5_FUZZ = textwrap.dedent("""
    import json
    import sys

    sys.path.insert(0, sys.argv[1])
    from test_file_safety import damaged_load

    for case in json.loads(sys.stdin.read()):
        print(damaged_load(*case), flush=True)
""")


def fixture_model(kind):
    if kind == "legacy":
        return interchange.MODELS["batchnorm_cnn"](tinykeras)
    return mlp()


def damaged_load(kind, source, damaged, truncate, offsets, flips):
    """Writes ``source`` damaged to ``damaged`` and loads it; checks that a failed load raised
    a ValueError naming the file and changed nothing.

    Returns:
        'loaded', or 'raised: <the message>'.
    """
    with open(source, "rb") as file:
        data = damage(file.read(), truncate, offsets, flips)
    with open(damaged, "wb") as file:
        file.write(data)
    model = fixture_model(kind)
    before = snapshot(model)
    try:
        if kind == "keras":
            models.load_model(damaged)
        else:
            model.load_weights(damaged)
    except ValueError as error:
        assert damaged in str(error), error
        assert_unchanged(model, before)
        return "raised: " + " ".join(str(error).split())[:300]
    return "loaded"


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sources")
    mlp(seed=1).save_weights(folder / "m.weights.h5")
    mlp(seed=1).save(folder / "m.keras")
    return {"weights": str(folder / "m.weights.h5"), "keras": str(folder / "m.keras"),
            "legacy": os.path.join(FIXTURES, "keras_legacy_batchnorm_cnn.h5")}


@pytest.mark.parametrize("kind", ["weights", "keras", "legacy"])
def test_damaged_model_files_raise_a_value_error_naming_the_file(tmp_path, sources, kind):
    suffix = {"weights": ".weights.h5", "keras": ".keras", "legacy": ".h5"}[kind]
    cases = []

    @settings(max_examples=40, deadline=None, database=None)
    @given(**DAMAGE)
    def draw(draw_truncate, offsets, flips):
        damaged = str(tmp_path / f"damaged{len(cases)}{suffix}")
        cases.append((kind, sources[kind], damaged, draw_truncate, offsets, flips))

    draw()
    result = subprocess.run(
        [sys.executable, "-c", H5_FUZZ, os.path.dirname(os.path.abspath(__file__))],
        input=json.dumps(cases), env={**os.environ, "PYTHONPATH": ROOT},
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcomes = result.stdout.splitlines()
    assert len(outcomes) == len(cases)
    for case, outcome in zip(cases, outcomes):
        truncate = case[3]
        if truncate is not None and truncate < 0.5:  # too little of the file is left to load
            assert outcome.startswith("raised"), case
    assert any(outcome.startswith("raised") for outcome in outcomes)


def test_damaged_model_files_in_process(tmp_path, sources):
    """A few damages loaded in this process (the child-process fuzz above is what guards
    against crashes), with the messages they give."""
    results = {}
    for kind, suffix in (("weights", ".weights.h5"), ("keras", ".keras"), ("legacy", ".h5")):
        damaged = str(tmp_path / f"d{suffix}")
        results[kind] = damaged_load(kind, sources[kind], damaged, 0.3, [], [0] * 8)
    assert results["weights"].startswith(f"raised: {tmp_path}/d.weights.h5 is not a readable HDF5 weights file")
    assert results["legacy"].startswith(f"raised: {tmp_path}/d.h5 is not a readable HDF5 weights file")
    assert results["keras"].startswith(f"raised: {tmp_path}/d.keras is not a '.keras' zip archive")


@pytest.mark.parametrize(("marker", "member"), [(b'"class_name"', "config.json"), (b"HDF", "model.weights.h5")])
def test_keras_archive_with_a_flipped_byte_names_the_corrupt_member(tmp_path, marker, member):
    path = tmp_path / "m.keras"
    mlp(seed=1).save(path)
    data = bytearray(path.read_bytes())
    data[data.index(marker) + 1] ^= 1  # members are stored uncompressed: the CRC-32 catches it
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"m.keras: '{member}' cannot be read from the archive \(corrupt\?\): Bad CRC-32"):
        models.load_model(path)

@pytest.mark.parametrize(
    ("field", "value"),
    [(10, 99), (8, 1)],  # the compression method (99: none zipfile knows), the flags (bit 0: encrypted)
    ids=["unknown-compression", "encrypted"],
)
def test_keras_archive_with_a_damaged_member_header_names_the_member(tmp_path, field, value):
    path = tmp_path / "m.keras"
    mlp(seed=1).save(path)
    data = bytearray(path.read_bytes())
    start = 0
    while True:  # the central directory entry of config.json: its name starts 46 bytes in
        start = data.index(b"PK\x01\x02", start + 1)
        length = int.from_bytes(data[start + 28 : start + 30], "little")
        if data[start + 46 : start + 46 + length] == b"config.json":
            break
    data[start + field : start + field + 2] = value.to_bytes(2, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"m.keras: 'config.json' cannot be read from the archive \(corrupt\?\)"):
        models.load_model(path)


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(cifar10, "IMAGES_PER_BATCH", N)


@FUZZ
@given(**DAMAGE)
def test_damaged_cifar_batch_raises_an_integrity_error_naming_the_file(tmp_path, small_batches, draw_truncate,
                                                                      offsets, flips):
    path = tmp_path / "data_batch_1"
    original = batch_bytes(*batch_arrays(1))
    path.write_bytes(damage(original, draw_truncate, offsets, flips))
    try:
        data, labels = cifar10._read_batch(str(path))
    except _cache.IntegrityError as error:
        assert str(path) in str(error)
        return
    assert data.shape == (N, 3072) and data.dtype == np.uint8 and len(labels) == N


@pytest.mark.parametrize(
    ("rows", "message"),
    [((N, 3071), r"b'data' is uint8 \(4, 3071\), expected uint8 \(4, 3072\)"),
     ((N + 1, 3072), r"b'data' is uint8 \(5, 3072\)")],
)
def test_cifar_batch_of_a_wrong_shape_raises_an_integrity_error(tmp_path, small_batches, rows, message):
    path = tmp_path / "data_batch_1"
    _, labels = batch_arrays(1)
    path.write_bytes(pickle.dumps({b"data": np.zeros(rows, np.uint8), b"labels": labels}, protocol=2))
    with pytest.raises(_cache.IntegrityError, match=message):
        cifar10._read_batch(str(path))
