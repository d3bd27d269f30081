"""CIFAR-10 loading, its archive fetching and the folder helpers, on synthetic batches and without
network access."""
import hashlib
import io
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest
from cifar_batches import N, batch_arrays, batch_bytes, synthetic_batches, write_folder

from tinykeras import backend, datasets
from tinykeras.datasets import _cache, cifar10
from tinykeras.datasets.__main__ import main as datasets_main


@pytest.fixture
def small(monkeypatch):
    """The loader expects batches of N images instead of 10,000."""
    monkeypatch.setattr(cifar10, "IMAGES_PER_BATCH", N)


@pytest.fixture
def downloads(monkeypatch):
    """Every download fails and is recorded: returns the list of URLs asked for."""
    calls = []

    def refuse(url, path, timeout=_cache.DOWNLOAD_TIMEOUT):
        calls.append(url)
        raise OSError("Network is unreachable")

    monkeypatch.setattr(_cache, "download", refuse)
    return calls


# Synthetic batches in the original format: see cifar_batches.py

def python2_batch_bytes(data, labels):
    """A batch as Python 2's cPickle wrote the originals (protocol 2): the keys and the array's
    buffer are Python 2 ``str`` (opcodes U and T) and the array is rebuilt by
    ``numpy.core.multiarray._reconstruct`` and ``numpy.dtype``. Up to 65,535 rows."""
    def string(text):  # SHORT_BINSTRING
        return b"U" + bytes([len(text)]) + text.encode()

    def uint16(value):  # BININT2
        return b"M" + struct.pack("<H", value)

    rows, width = data.shape
    array = b"".join([
        # _reconstruct(ndarray, (0,), 'b')
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85", string("b"), b"\x87R",
        # .__setstate__((1, (rows, width), dtype('u1', 0, 1) with state (3, '|', ...), False, buffer))
        b"(K\x01", uint16(rows), uint16(width), b"\x86",
        b"cnumpy\ndtype\n", string("u1"), b"K\x00K\x01\x87R",
        b"(K\x03", string("|"), b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb",
        b"\x89T", struct.pack("<I", data.nbytes), data.tobytes(), b"tb",
    ])
    label_list = b"](" + b"".join(b"K" + bytes([label]) for label in labels) + b"e"
    return b"".join([b"\x80\x02}(", string("data"), array, string("labels"), label_list, b"u."])


def add_file(tar, name, content):
    info = tarfile.TarInfo(name)
    info.size = len(content)
    tar.addfile(info, io.BytesIO(content))


def write_archive(path, batches, extra=()):
    """A .tar.gz laid out like cifar-10-python.tar.gz, plus the ``extra`` TarInfo entries."""
    with tarfile.open(path, "w:gz") as tar:
        folder = tarfile.TarInfo(cifar10.FOLDER)
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        for name, (data, labels) in batches.items():
            add_file(tar, f"{cifar10.FOLDER}/{name}", batch_bytes(data, labels))
        add_file(tar, f"{cifar10.FOLDER}/batches.meta", pickle.dumps({b"num_vis": 3072}, 2))
        add_file(tar, f"{cifar10.FOLDER}/readme.html", b"<html></html>")
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def serve(monkeypatch, archive):
    """Downloads return a copy of ``archive``; returns the list of URLs asked for."""
    calls = []

    def fake_download(url, path, timeout=_cache.DOWNLOAD_TIMEOUT):
        calls.append(url)
        with open(path, "wb") as file:
            file.write(archive.read_bytes())
        return path

    monkeypatch.setattr(_cache, "download", fake_download)
    return calls


def keras_layout(data):
    """Rows of 3072 channel-major pixels as (n, 32, 32, 3) images, index by index."""
    images = np.empty((len(data), 32, 32, 3), np.uint8)
    for channel in range(3):
        for row in range(32):
            start = channel * 1024 + row * 32
            images[:, row, :, channel] = data[:, start:start + 32]
    return images


def assert_loaded(loaded, batches):
    (x_train, y_train), (x_test, y_test) = loaded
    train = [batches[name] for name in cifar10.TRAIN_BATCHES]
    np.testing.assert_array_equal(x_train, np.concatenate([keras_layout(d) for d, _ in train]))
    np.testing.assert_array_equal(y_train[:, 0], np.concatenate([labels for _, labels in train]))
    np.testing.assert_array_equal(x_test, keras_layout(batches["test_batch"][0]))
    np.testing.assert_array_equal(y_test[:, 0], batches["test_batch"][1])


# Loading from the cache folder

def test_load_data_returns_keras_shapes_dtypes_and_order(datasets_dir, small, downloads):
    batches = synthetic_batches()
    write_folder(datasets_dir / "cifar-10-batches-py", batches)

    loaded = cifar10.load_data()

    (x_train, y_train), (x_test, y_test) = loaded
    assert (x_train.shape, y_train.shape) == ((5 * N, 32, 32, 3), (5 * N, 1))
    assert (x_test.shape, y_test.shape) == ((N, 32, 32, 3), (N, 1))
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert x_train.flags.c_contiguous and x_test.flags.c_contiguous
    assert_loaded(loaded, batches)
    assert downloads == []


def test_a_pixel_lands_at_its_row_column_and_channel(datasets_dir, small, downloads):
    batches = {name: (np.zeros((N, 3072), np.uint8), [0] * N) for name in cifar10.BATCHES}
    first = batches["data_batch_1"][0]
    first[1, 1 * 1024 + 2 * 32 + 5] = 200  # image 1, green, row 2, column 5
    first[0, 0 * 1024 + 31 * 32 + 0] = 10  # image 0, red, bottom-left corner
    first[3, 2 * 1024 + 0 * 32 + 31] = 30  # image 3, blue, top-right corner
    write_folder(datasets_dir / "cifar-10-batches-py", batches)

    (x_train, _), _ = cifar10.load_data()

    assert x_train[1, 2, 5, 1] == 200
    assert x_train[0, 31, 0, 0] == 10
    assert x_train[3, 0, 31, 2] == 30
    assert int(x_train.sum()) == 240


def test_batches_are_stacked_in_keras_order(datasets_dir, small, downloads):
    batches = {name: (np.full((N, 3072), number, np.uint8), [number % 10] * N)
               for number, name in enumerate(cifar10.BATCHES, start=1)}
    write_folder(datasets_dir / "cifar-10-batches-py", batches)

    (x_train, y_train), (x_test, y_test) = cifar10.load_data()

    assert y_train[:, 0].tolist() == [1] * N + [2] * N + [3] * N + [4] * N + [5] * N
    assert x_train[:, 0, 0, 0].tolist() == y_train[:, 0].tolist()
    assert y_test[:, 0].tolist() == [6] * N and x_test.min() == x_test.max() == 6


def test_channels_first_gives_images_as_stored(datasets_dir, small, downloads):
    batches = synthetic_batches()
    write_folder(datasets_dir / "cifar-10-batches-py", batches)
    backend.set_image_data_format("channels_first")

    (x_train, y_train), (x_test, _) = cifar10.load_data()

    assert x_train.shape == (5 * N, 3, 32, 32) and x_test.shape == (N, 3, 32, 32)
    data = batches["data_batch_1"][0]
    assert x_train[2, 1, 7, 30] == data[2, 1 * 1024 + 7 * 32 + 30]
    np.testing.assert_array_equal(x_train[:N].transpose(0, 2, 3, 1), keras_layout(data))
    assert y_train.shape == (5 * N, 1)


def test_batches_pickled_by_python_2_are_read(datasets_dir, small, downloads):
    batches = synthetic_batches()
    folder = write_folder(datasets_dir / "cifar-10-batches-py", batches)
    for name, (data, labels) in batches.items():
        (folder / name).write_bytes(python2_batch_bytes(data, labels))
    assert b"cnumpy.core.multiarray\n_reconstruct" in (folder / "test_batch").read_bytes()

    assert_loaded(cifar10.load_data(), batches)


def test_full_size_batches_are_what_the_loader_expects_by_default(datasets_dir, downloads):
    data, labels = batch_arrays(7, n=10000)
    folder = datasets_dir / "cifar-10-batches-py"
    folder.mkdir()
    # The newest protocol pickles 30 MB of bytes ten times faster than protocol 2; the loader
    # reads both.
    content = batch_bytes(data, labels, protocol=pickle.HIGHEST_PROTOCOL)
    (folder / "test_batch").write_bytes(content)
    for name in cifar10.TRAIN_BATCHES:
        os.symlink(folder / "test_batch", folder / name)

    (x_train, y_train), (x_test, y_test) = cifar10.load_data()

    assert (x_train.shape, y_train.shape) == ((50000, 32, 32, 3), (50000, 1))
    assert (x_test.shape, y_test.shape) == ((10000, 32, 32, 3), (10000, 1))
    np.testing.assert_array_equal(x_train[40000:], x_test)
    assert x_test[9999, 31, 31, 2] == data[9999, 3071]
    assert y_test[:, 0].tolist() == labels


def test_batches_smaller_than_the_real_ones_are_refused_by_default(datasets_dir, downloads):
    write_folder(datasets_dir / "cifar-10-batches-py", synthetic_batches())
    path = datasets_dir / "cifar-10-batches-py" / "data_batch_1"
    with pytest.raises(_cache.IntegrityError, match=r"expected uint8 \(10000, 3072\)") as caught:
        cifar10.load_data()
    assert str(path) in str(caught.value)


# Malformed and altered batches

def good():
    return batch_arrays(1)


MALFORMED = {
    "int64 data": ({b"data": good()[0].astype(np.int64), b"labels": good()[1]},
                   r"b'data' is int64 \(4, 3072\), expected uint8 \(4, 3072\)"),
    "wrong data shape": ({b"data": good()[0][:, :3000], b"labels": good()[1]},
                         r"b'data' is uint8 \(4, 3000\)"),
    "data as a list": ({b"data": good()[0].tolist(), b"labels": good()[1]},
                       r"b'data' is a list, expected a uint8 array"),
    "too few labels": ({b"data": good()[0], b"labels": good()[1][:-1]},
                       r"b'labels' is a list of 3, expected a list of 4 ints"),
    "label out of range": ({b"data": good()[0], b"labels": [0, 1, 10, 2]},
                           r"b'labels' holds 1 values that are not ints 0-9, the first 10"),
    "float labels": ({b"data": good()[0], b"labels": [0.0, 1.0, 2.0, 3.0]},
                     r"not ints 0-9, the first 0.0"),
    "labels as an array": ({b"data": good()[0], b"labels": np.array(good()[1])},
                           r"b'labels' is a ndarray of 4, expected a list"),
    "missing labels": ({b"data": good()[0]}, r"the keys \[b'labels'\] are missing"),
    "str keys": ({"data": good()[0], "labels": good()[1]},
                 r"the keys \[b'data', b'labels'\] are missing"),
    "not a dict": ([good()[0], good()[1]], r"it holds a list, expected a dict"),
}


@pytest.mark.parametrize("content, message", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_batch_raises_an_integrity_error_naming_the_file(datasets_dir, small,
                                                                    downloads, content, message):
    folder = write_folder(datasets_dir / "cifar-10-batches-py", synthetic_batches())
    (folder / "data_batch_4").write_bytes(pickle.dumps(content, protocol=2))

    with pytest.raises(_cache.IntegrityError, match=message) as caught:
        cifar10.load_data()

    assert f"{folder / 'data_batch_4'} is not a CIFAR-10 batch" in str(caught.value)
    assert f"Delete the folder {folder}" in str(caught.value)
    assert downloads == []


def test_a_truncated_batch_is_reported_unreadable(datasets_dir, small, downloads):
    folder = write_folder(datasets_dir / "cifar-10-batches-py", synthetic_batches())
    content = (folder / "test_batch").read_bytes()
    (folder / "test_batch").write_bytes(content[:len(content) // 2])

    with pytest.raises(_cache.IntegrityError, match="test_batch is unreadable"):
        cifar10.load_data()


class Touches:
    """Unpickling this runs ``os.system('touch <path>')``."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


class Executes:
    """Unpickling this runs ``exec`` on code that creates a file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (exec, (f"open({str(self.path)!r}, 'w').close()",))


@pytest.mark.parametrize("payload", [Touches, Executes])
@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_a_batch_that_would_run_code_raises_without_running_it(datasets_dir, small, downloads,
                                                               tmp_path, payload, protocol):
    marker = tmp_path / "code-ran"
    folder = write_folder(datasets_dir / "cifar-10-batches-py", synthetic_batches())
    data, labels = batch_arrays(3)
    tampered = {b"batch_label": payload(marker), b"labels": labels, b"data": data}
    (folder / "data_batch_3").write_bytes(pickle.dumps(tampered, protocol=protocol))

    with pytest.raises(_cache.IntegrityError, match="data_batch_3 is unreadable") as caught:
        cifar10.load_data()

    assert isinstance(caught.value.__cause__, pickle.UnpicklingError)
    assert "Refused to load global" in str(caught.value)
    assert not marker.exists()
    assert downloads == []


# Fetching the archive

def test_the_archive_is_downloaded_verified_extracted_and_cached(datasets_dir, small, tmp_path,
                                                                 monkeypatch):
    batches = synthetic_batches()
    archive = write_archive(tmp_path / "cifar.tar.gz", batches)
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", md5(archive))
    calls = serve(monkeypatch, archive)

    assert_loaded(cifar10.load_data(), batches)

    assert calls == ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]
    assert os.listdir(datasets_dir) == ["cifar-10-batches-py"]
    assert sorted(os.listdir(datasets_dir / "cifar-10-batches-py")) == sorted(
        ["batches.meta", "readme.html", *cifar10.BATCHES])
    assert_loaded(cifar10.load_data(), batches)
    assert len(calls) == 1


def test_an_archive_placed_in_the_datasets_folder_is_used_without_downloading(
        datasets_dir, small, downloads, monkeypatch):
    batches = synthetic_batches()
    archive = write_archive(datasets_dir / "cifar-10-python.tar.gz", batches)
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", md5(archive))

    assert_loaded(cifar10.load_data(), batches)

    assert downloads == []
    assert sorted(os.listdir(datasets_dir)) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]


def test_a_placed_archive_with_a_wrong_md5_is_reported_and_kept(datasets_dir, small, downloads):
    archive = write_archive(datasets_dir / "cifar-10-python.tar.gz", synthetic_batches())

    with pytest.raises(_cache.IntegrityError) as caught:
        cifar10.load_data()

    message = str(caught.value)
    assert f"{archive} has MD5 {md5(archive)}, expected c58f30108f718f92721af3b95e74349a" in message
    assert "Delete it" in message
    assert os.listdir(datasets_dir) == ["cifar-10-python.tar.gz"]
    assert downloads == []


def test_a_download_with_a_wrong_md5_raises_and_leaves_no_cache(datasets_dir, small, tmp_path,
                                                                monkeypatch):
    archive = write_archive(tmp_path / "cifar.tar.gz", synthetic_batches())
    serve(monkeypatch, archive)

    with pytest.raises(_cache.IntegrityError, match="expected c58f30108f718f92721af3b95e74349a"):
        cifar10.load_data()

    assert os.listdir(datasets_dir) == []


def entry(name, kind=tarfile.REGTYPE, target="", size=1):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, target, size if kind == tarfile.REGTYPE else 0
    return info


UNSAFE = {
    "parent path": entry("../evil"),
    "escaping path": entry("cifar-10-batches-py/../../evil"),
    "absolute path": entry("/tmp/tinykeras-cifar10-evil"),
    "unexpected file": entry("cifar-10-batches-py/extra.py"),
    "unexpected folder": entry("cifar-10-batches-py/sub", tarfile.DIRTYPE),
    "symbolic link": entry("cifar-10-batches-py/readme.html", tarfile.SYMTYPE, "/etc/passwd"),
    "hard link": entry("cifar-10-batches-py/batches.meta", tarfile.LNKTYPE, "/etc/passwd"),
    "device": entry("cifar-10-batches-py/data_batch_1", tarfile.CHRTYPE),
}


@pytest.mark.parametrize("unsafe", UNSAFE.values(), ids=UNSAFE.keys())
def test_an_archive_with_an_unexpected_entry_is_rejected(datasets_dir, small, tmp_path,
                                                         monkeypatch, unsafe):
    archive = write_archive(tmp_path / "cifar.tar.gz", synthetic_batches(), extra=[unsafe])
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", md5(archive))
    serve(monkeypatch, archive)

    with pytest.raises(_cache.IntegrityError, match=f"unexpected .*'{unsafe.name}'"):
        cifar10.load_data()

    assert os.listdir(datasets_dir) == []
    assert not (tmp_path / "home" / "evil").exists()
    assert not os.path.exists("/tmp/tinykeras-cifar10-evil")


def test_extract_tar_writes_nothing_when_any_entry_is_unexpected(tmp_path):
    archive = write_archive(tmp_path / "cifar.tar.gz", synthetic_batches(),
                            extra=[entry("cifar-10-batches-py/../evil")])
    destination = tmp_path / "out"
    destination.mkdir()
    members = [f"cifar-10-batches-py/{name}" for name in cifar10.ARCHIVE_FILES]

    unexpected = "unexpected file 'cifar-10-batches-py/../evil'"
    with pytest.raises(_cache.IntegrityError, match=unexpected):
        _cache.extract_tar(archive, destination, members)

    assert os.listdir(destination) == []
    assert not (tmp_path / "evil").exists()


def test_extract_tar_extracts_the_expected_files(tmp_path):
    archive = write_archive(tmp_path / "cifar.tar.gz", synthetic_batches())
    members = [f"cifar-10-batches-py/{name}" for name in cifar10.ARCHIVE_FILES]

    assert _cache.extract_tar(archive, tmp_path / "out", members) == sorted(members)
    assert (tmp_path / "out" / "cifar-10-batches-py" / "readme.html").read_bytes() == (
        b"<html></html>")


def test_an_unreadable_archive_raises_an_integrity_error(tmp_path):
    archive = tmp_path / "cifar.tar.gz"
    archive.write_bytes(b"not a tar file at all")
    with pytest.raises(_cache.IntegrityError, match="unreadable"):
        _cache.extract_tar(archive, tmp_path, ["cifar-10-batches-py/test_batch"])


def test_an_archive_lacking_a_batch_leaves_no_cache(datasets_dir, small, tmp_path, monkeypatch):
    batches = synthetic_batches()
    del batches["data_batch_5"]
    archive = write_archive(tmp_path / "cifar.tar.gz", batches)
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", md5(archive))
    serve(monkeypatch, archive)

    with pytest.raises(_cache.IntegrityError, match="lacks cifar-10-batches-py/data_batch_5"):
        cifar10.load_data()

    assert os.listdir(datasets_dir) == []


def test_an_incomplete_folder_is_replaced_by_the_archive(datasets_dir, small, tmp_path,
                                                         monkeypatch):
    folder = write_folder(datasets_dir / "cifar-10-batches-py",
                          {"data_batch_1": batch_arrays(99)})
    batches = synthetic_batches()
    archive = write_archive(tmp_path / "cifar.tar.gz", batches)
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", md5(archive))
    calls = serve(monkeypatch, archive)

    assert_loaded(cifar10.load_data(), batches)

    assert len(calls) == 1
    assert os.listdir(datasets_dir) == ["cifar-10-batches-py"]
    assert len(os.listdir(folder)) == len(cifar10.ARCHIVE_FILES)


# When nothing can be fetched

def test_unfetchable_data_raises_dataset_unavailable_with_manual_steps(datasets_dir, downloads):
    with pytest.raises(_cache.DatasetUnavailableError) as caught:
        cifar10.load_data()

    message = str(caught.value)
    assert isinstance(caught.value, OSError)
    folder = str(datasets_dir / "cifar-10-batches-py")
    for expected in [f"{folder} does not exist", "OSError: Network is unreachable",
                     "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                     "c58f30108f718f92721af3b95e74349a", folder + os.sep,
                     str(datasets_dir / "cifar-10-python.tar.gz"),
                     ("data_batch_1, data_batch_2, data_batch_3, data_batch_4, data_batch_5, "
                      "test_batch")]:
        assert expected in message
    assert downloads == ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]
    assert os.listdir(datasets_dir) == []


def test_unfetchable_data_names_the_missing_batches_of_a_partial_folder(datasets_dir, small,
                                                                        downloads):
    batches = synthetic_batches()
    del batches["data_batch_2"], batches["test_batch"]
    folder = write_folder(datasets_dir / "cifar-10-batches-py", batches)

    with pytest.raises(_cache.DatasetUnavailableError, match=f"{folder} lacks data_batch_2, "
                                                             "test_batch, and downloading"):
        cifar10.load_data()

    assert sorted(os.listdir(folder)) == ["data_batch_1", "data_batch_3", "data_batch_4",
                                          "data_batch_5"]


# The command line and the package

def test_cli_caches_cifar10_and_prints_the_folder(datasets_dir, small, tmp_path, monkeypatch,
                                                  capsys):
    archive = write_archive(tmp_path / "cifar.tar.gz", synthetic_batches())
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", md5(archive))
    serve(monkeypatch, archive)

    assert datasets_main(["cifar10"]) == 0
    assert f"cifar10: {datasets_dir / 'cifar-10-batches-py'}" in capsys.readouterr().out


def test_cli_fails_with_exit_code_1_when_cifar10_is_unavailable(datasets_dir, downloads, capsys):
    assert datasets_main(["cifar10"]) == 1
    assert "Could not fetch CIFAR-10" in capsys.readouterr().err


def test_cli_fails_with_exit_code_1_on_a_damaged_batch(datasets_dir, small, downloads, capsys):
    folder = write_folder(datasets_dir / "cifar-10-batches-py", synthetic_batches())
    (folder / "data_batch_2").write_bytes(b"garbage")
    assert datasets_main(["cifar10"]) == 1
    assert "data_batch_2 is unreadable" in capsys.readouterr().err


def test_cifar10_is_listed_in_the_datasets_package():
    assert "cifar10" in datasets.__all__
    assert datasets.cifar10 is cifar10


# Folder helpers

def test_file_digest_matches_hashlib(tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(b"abc")
    assert _cache.file_digest(path, "md5") == "900150983cd24fb0d6963f7d28e17f72"
    assert _cache.file_digest(path, "sha256") == _cache.file_sha256(path)


def test_fill_folder_replaces_the_files_it_brings_and_keeps_the_others(tmp_path):
    for name, files in [("old", ["a", "mine"]), ("new", ["a", "b"])]:
        (tmp_path / name).mkdir()
        for file in files:
            (tmp_path / name / file).write_text(name)
    _cache.fill_folder(tmp_path / "new", tmp_path / "old")
    assert os.listdir(tmp_path) == ["old"]
    assert sorted(os.listdir(tmp_path / "old")) == ["a", "b", "mine"]
    assert [(tmp_path / "old" / f).read_text() for f in ("a", "b", "mine")] == ["new", "new", "old"]


def test_place_folder_moves_into_a_missing_target(tmp_path):
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "a").write_text("new")
    assert _cache.place_folder(tmp_path / "new", tmp_path / "target", lambda: False)
    assert os.listdir(tmp_path) == ["target"]
    assert (tmp_path / "target" / "a").read_text() == "new"


def test_place_folder_keeps_a_complete_target_placed_meanwhile(tmp_path):
    # Another process got there first: its folder stays where it is, untouched (a process reading
    # it must not see it move), and the new folder is left to its owner.
    for name in ("new", "target"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "a").write_text(name)
    inode = os.stat(tmp_path / "target").st_ino
    assert not _cache.place_folder(tmp_path / "new", tmp_path / "target", lambda: True)
    assert os.stat(tmp_path / "target").st_ino == inode
    assert (tmp_path / "target" / "a").read_text() == "target"
    assert (tmp_path / "new" / "a").read_text() == "new"


def test_place_folder_fills_an_incomplete_target_and_deletes_nothing_else(tmp_path):
    # Files put in the cache folder by hand (notes, a batch of another name) stay.
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "a").write_text("new")
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "notes.txt").write_text("mine")
    assert _cache.place_folder(tmp_path / "new", tmp_path / "target", lambda: False)
    assert sorted(os.listdir(tmp_path)) == ["target"]
    assert sorted(os.listdir(tmp_path / "target")) == ["a", "notes.txt"]
    assert (tmp_path / "target" / "notes.txt").read_text() == "mine"


def test_processes_fetching_cifar10_at_once_all_succeed(datasets_dir, small, tmp_path, run_at_once,
                                                       downloads):
    batches = synthetic_batches()
    archive = write_archive(tmp_path / "cifar.tar.gz", batches)
    results = run_at_once(f"""
        import shutil, time
        from tinykeras.datasets import _cache, cifar10

        cifar10.IMAGES_PER_BATCH = {N}
        cifar10.ARCHIVE_MD5 = {md5(archive)!r}

        def slow_download(url, path, timeout=None):
            time.sleep(0.5)
            shutil.copyfile({str(archive)!r}, path)
            return path

        _cache.download = slow_download
        wait_for_the_others()
        for attempt in range(3):  # loading again reads the folder some other process placed
            (x_train, y_train), (x_test, y_test) = cifar10.load_data()
        print(_cache.array_sha256(x_train), _cache.array_sha256(x_test), y_test[:, 0].tolist())
    """, count=4)

    for returncode, _, err in results:
        assert returncode == 0, err
    outputs = {out for _, out, _ in results}
    assert len(outputs) == 1
    folder = datasets_dir / "cifar-10-batches-py"
    assert os.listdir(datasets_dir) == ["cifar-10-batches-py"]
    assert sorted(os.listdir(folder)) == sorted(cifar10.ARCHIVE_FILES)
    assert_loaded(cifar10.load_data(), batches)  # from the cache: downloads now fail
