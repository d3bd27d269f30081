"""Fashion-MNIST, CIFAR-100, IMDB, Reuters, Boston and California Housing: loaded from small
files in the published formats placed in the cache, against what Keras 3's own loaders return for
the same files (tests/fixtures/keras_small_datasets.json); fetching, checksums and the offline
errors, without network access."""
import hashlib
import importlib.util
import json
import os

import numpy as np
import pytest

from tinykeras import backend, datasets
from tinykeras.datasets import (
    _cache,
    boston_housing,
    california_housing,
    cifar100,
    fashion_mnist,
    imdb,
    reuters,
)
from tinykeras.datasets.__main__ import main as datasets_main

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")
_spec = importlib.util.spec_from_file_location("small", os.path.join(FIXTURES, "make_keras_datasets_fixture.py"))
small = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(small)
with open(small.FIXTURE, encoding="utf-8") as _file:
    KERAS = json.load(_file)

NPZ_DATASETS = {
    "imdb": (imdb, small.write_imdb, small.IMDB_CASES),
    "reuters": (reuters, small.write_reuters, small.REUTERS_CASES),
    "boston_housing": (boston_housing, small.write_boston, small.BOSTON_CASES),
    "california_housing": (california_housing, small.write_california, small.CALIFORNIA_CASES),
}


def digest(path, algorithm="sha256"):
    return hashlib.new(algorithm, open(path, "rb").read()).hexdigest()


@pytest.fixture
def downloads(monkeypatch):
    """Every download fails and is recorded: returns the list of URLs asked for."""
    calls = []

    def refuse(url, path, timeout=_cache.DOWNLOAD_TIMEOUT):
        calls.append(url)
        raise OSError("Network is unreachable")

    monkeypatch.setattr(_cache, "download", refuse)
    return calls


def serve(monkeypatch, content, only=None):
    """Downloads of ``only`` (every URL by default) write ``content``; others fail. Returns the
    list of URLs asked for."""
    calls = []

    def fake_download(url, path, timeout=_cache.DOWNLOAD_TIMEOUT):
        calls.append(url)
        if only is not None and url not in only:
            raise OSError("Network is unreachable")
        with open(path, "wb") as file:
            file.write(content(url) if callable(content) else content)
        return path

    monkeypatch.setattr(_cache, "download", fake_download)
    return calls


def place(folder, monkeypatch, name):
    """Writes the small stand-in of ``name``'s file into the datasets folder and makes it the
    published file (its SHA-256 in place of Keras')."""
    module, write, _ = NPZ_DATASETS[name]
    path = folder / module.CACHE_NAME
    write(str(path))
    monkeypatch.setattr(module, "SHA256", digest(path))
    return path


def assert_like_keras(loaded, expected):
    (x_train, y_train), (x_test, y_test) = loaded
    for name, array in {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}.items():
        keras = expected[name]
        assert (str(array.dtype), list(array.shape)) == (keras["dtype"], keras["shape"]), name
        if array.dtype == object:
            assert [list(row) for row in array] == keras["values"], name
            assert all(type(w) is int for row in array for w in row)
        elif "sha256" in keras:
            assert _cache.array_sha256(array) == keras["sha256"], name
        else:
            assert array.tolist() == keras["values"], name


# ---- the published checksums ------------------------------------------------------------------


def test_the_checksums_are_the_ones_keras_publishes():
    published = KERAS["published_hashes"]
    assert {imdb.SHA256, imdb.WORD_INDEX_MD5} == set(published["imdb"])
    assert {reuters.SHA256, reuters.WORD_INDEX_MD5} == set(published["reuters"])
    assert [boston_housing.SHA256] == published["boston_housing"]
    assert [california_housing.SHA256] == published["california_housing"]
    assert [cifar100.ARCHIVE_SHA256] == published["cifar100"]
    assert published["fashion_mnist"] == []  # Keras publishes none: Zalando's MD5s are used
    assert fashion_mnist.FILES["x_train"] == ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d")


def test_every_dataset_is_listed_in_the_package():
    assert set(datasets.__all__) == {"mnist", "cifar10", "fashion_mnist", "cifar100", "imdb", "reuters",
                                     "boston_housing", "california_housing"}


# ---- the same arrays as Keras, from files placed in the cache -----------------------------------


@pytest.mark.parametrize(("name", "case"), [(name, case) for name, (_, _, cases) in NPZ_DATASETS.items()
                                            for case in cases])
def test_a_placed_file_loads_offline_as_keras_loads_it(datasets_dir, downloads, monkeypatch, name, case):
    module, _, cases = NPZ_DATASETS[name]
    place(datasets_dir, monkeypatch, name)
    assert_like_keras(module.load_data(**cases[case]), KERAS[name][case])
    assert downloads == []


def test_imdb_maxlen_that_keeps_nothing_raises_as_keras_does(datasets_dir, downloads, monkeypatch):
    place(datasets_dir, monkeypatch, "imdb")
    with pytest.raises(ValueError, match=r"After filtering for sequences shorter than maxlen=2, no sequence was kept\. Increase maxlen\."):
        imdb.load_data(maxlen=2)


@pytest.mark.parametrize("module", [imdb, reuters])
def test_word_indices_load_as_keras_loads_them(datasets_dir, downloads, monkeypatch, module):
    path = datasets_dir / module.WORD_INDEX_NAME
    small.write_word_index(str(path))
    monkeypatch.setattr(module, "WORD_INDEX_MD5", digest(path, "md5"))
    assert module.get_word_index() == KERAS[f"{module.__name__.rsplit('.', 1)[1]}_word_index"]
    assert downloads == []


def test_reuters_label_names_are_keras_ones():
    assert list(reuters.get_label_names()) == KERAS["reuters_label_names"]


def test_housing_arguments_are_checked_as_keras_checks_them():
    with pytest.raises(ValueError, match=r"Invalid `test_split` argument: 1. It must be between 0 and 1"):
        boston_housing.load_data(test_split=1)
    with pytest.raises(ValueError, match=r"Invalid `test_split` argument: -0.1"):
        california_housing.load_data(test_split=-0.1)
    with pytest.raises(ValueError, match=r"Argument `version` must be one of 'small', 'large'. Received: version=medium"):
        california_housing.load_data(version="medium")


def place_fashion(datasets_dir, monkeypatch):
    paths = small.write_fashion(str(datasets_dir / "fashion-mnist"))
    files = {name: (filename, digest(paths[filename], "md5")) for name, (filename, _) in fashion_mnist.FILES.items()}
    monkeypatch.setattr(fashion_mnist, "FILES", files)
    return paths


def test_fashion_mnist_loads_its_placed_idx_files_as_keras_does(datasets_dir, downloads, monkeypatch):
    place_fashion(datasets_dir, monkeypatch)
    loaded = fashion_mnist.load_data()
    assert_like_keras(loaded, KERAS["fashion_mnist"]["default"])
    assert loaded[0][0].flags.writeable and downloads == []
    assert fashion_mnist.cache_path() == str(datasets_dir / "fashion-mnist")


def test_fashion_mnist_falls_back_to_zalandos_copy(datasets_dir, monkeypatch):
    arrays = small.fashion_arrays()
    contents = {filename: small.idx_gz(arrays[name]) for name, filename in small.FASHION_FILES.items()}
    monkeypatch.setattr(fashion_mnist, "FILES", {name: (filename, hashlib.md5(contents[filename]).hexdigest())
                                                 for name, (filename, _) in fashion_mnist.FILES.items()})
    zalando = [fashion_mnist.ZALANDO_URL + filename for filename in contents]
    calls = serve(monkeypatch, lambda url: contents[url.rsplit("/", 1)[1]], only=zalando)
    assert_like_keras(fashion_mnist.load_data(), KERAS["fashion_mnist"]["default"])
    assert calls[:2] == [fashion_mnist.KERAS_URL + "train-images-idx3-ubyte.gz",
                         fashion_mnist.ZALANDO_URL + "train-images-idx3-ubyte.gz"]
    assert sorted(os.listdir(datasets_dir / "fashion-mnist")) == sorted(contents)
    calls.clear()
    fashion_mnist.load_data()
    assert calls == []  # cached


def test_a_fashion_mnist_file_that_is_not_idx_raises(datasets_dir, downloads, monkeypatch):
    paths = place_fashion(datasets_dir, monkeypatch)
    labels = paths["t10k-labels-idx1-ubyte.gz"]
    with open(labels, "wb") as file:
        file.write(small.idx_gz(np.zeros((3, 2), np.uint8))[:-8] + b"garbage!")
    files = dict(fashion_mnist.FILES)
    files["y_test"] = (files["y_test"][0], digest(labels, "md5"))
    monkeypatch.setattr(fashion_mnist, "FILES", files)
    with pytest.raises(_cache.IntegrityError, match="t10k-labels-idx1-ubyte.gz is unreadable"):
        fashion_mnist.load_data()


@pytest.fixture
def small_cifar100(datasets_dir, monkeypatch):
    """The small archive placed in the datasets folder as the published one."""
    archive = small.write_cifar100_archive(str(datasets_dir / cifar100.ARCHIVE_NAME))
    monkeypatch.setattr(cifar100, "ARCHIVE_SHA256", digest(archive))
    monkeypatch.setattr(cifar100, "IMAGES", {"train": small.CIFAR100_TRAIN, "test": small.CIFAR100_TEST})
    return archive


@pytest.mark.parametrize("label_mode", ["fine", "coarse"])
def test_cifar100_loads_a_placed_archive_as_keras_does(small_cifar100, downloads, label_mode):
    assert_like_keras(cifar100.load_data(label_mode), KERAS["cifar100"][label_mode])
    assert sorted(os.listdir(cifar100.cache_path())) == ["file.txt~", "meta", "test", "train"]
    assert downloads == []


def test_cifar100_channels_first_keeps_the_stored_layout(small_cifar100, downloads):
    (channels_last, _), _ = cifar100.load_data()
    backend.set_image_data_format("channels_first")
    (channels_first, _), _ = cifar100.load_data()
    np.testing.assert_array_equal(channels_first, channels_last.transpose(0, 3, 1, 2))


def test_cifar100_refuses_an_unknown_label_mode():
    with pytest.raises(ValueError, match=r'`label_mode` must be one of `"fine"`, `"coarse"`. Received: label_mode=medium.'):
        cifar100.load_data("medium")


def test_cifar100_archive_with_a_wrong_checksum_is_kept_and_reported(datasets_dir, downloads, monkeypatch):
    archive = small.write_cifar100_archive(str(datasets_dir / cifar100.ARCHIVE_NAME))
    with pytest.raises(_cache.IntegrityError) as caught:
        cifar100.load_data()
    assert f"{archive} has SHA-256 {digest(archive)}, expected {cifar100.ARCHIVE_SHA256}" in str(caught.value)
    assert os.path.exists(archive) and not os.path.exists(cifar100.cache_path())


def test_cifar100_unavailable_says_where_to_put_the_archive(datasets_dir, downloads):
    with pytest.raises(_cache.DatasetUnavailableError) as caught:
        cifar100.load_data()
    message = str(caught.value)
    for expected in [f"{cifar100.cache_path()} does not exist", cifar100.ARCHIVE_URL, cifar100.ARCHIVE_SHA256,
                     str(datasets_dir / "cifar-100-python.tar.gz"), "train, test"]:
        assert expected in message
    assert downloads == [cifar100.ARCHIVE_URL] and os.listdir(datasets_dir) == []


# ---- fetching into the cache, and what happens when nothing answers ---------------------------


def small_file(tmp_path, name="boston_housing"):
    path = tmp_path / "published.npz"
    NPZ_DATASETS[name][1](str(path))
    return path


def test_a_download_is_verified_cached_and_read_from_then_on(datasets_dir, tmp_path, monkeypatch):
    published = small_file(tmp_path)
    monkeypatch.setattr(boston_housing, "SHA256", digest(published))
    calls = serve(monkeypatch, published.read_bytes())
    assert_like_keras(boston_housing.load_data(), KERAS["boston_housing"]["default"])
    assert calls == [boston_housing.URL]
    assert os.listdir(datasets_dir) == ["boston_housing.npz"]
    assert boston_housing.cache_path() == str(datasets_dir / "boston_housing.npz")
    boston_housing.load_data()
    assert calls == [boston_housing.URL]


def test_unavailable_data_says_where_to_put_the_file(datasets_dir, downloads):
    with pytest.raises(_cache.DatasetUnavailableError) as caught:
        imdb.load_data()
    message = str(caught.value)
    path = str(datasets_dir / "imdb.npz")
    for expected in [f"Could not fetch the IMDB file imdb.npz: {path} does not exist", "OSError: Network is unreachable",
                     imdb.URL, f"SHA-256 {imdb.SHA256}", f"copy it to {path}"]:
        assert expected in message
    assert isinstance(caught.value, OSError)
    assert downloads == [imdb.URL] and os.listdir(datasets_dir) == []


def test_a_download_that_differs_from_the_checksum_is_not_cached(datasets_dir, tmp_path, monkeypatch):
    calls = serve(monkeypatch, small_file(tmp_path).read_bytes())
    with pytest.raises(_cache.DatasetUnavailableError, match=f"the download has SHA-256 .*, expected {boston_housing.SHA256}"):
        boston_housing.load_data()
    assert calls == [boston_housing.URL] and os.listdir(datasets_dir) == []


def test_a_corrupt_cached_file_is_fetched_again(datasets_dir, tmp_path, monkeypatch):
    published = small_file(tmp_path, "reuters")
    monkeypatch.setattr(reuters, "SHA256", digest(published))
    (datasets_dir / "reuters.npz").write_bytes(published.read_bytes()[:-100])
    calls = serve(monkeypatch, published.read_bytes())
    with pytest.warns(UserWarning, match=r"reuters.npz has SHA-256 .* \(a partial or altered copy\); fetching it again"):
        loaded = reuters.load_data()
    assert_like_keras(loaded, KERAS["reuters"]["default"])
    assert calls == [reuters.URL] and (datasets_dir / "reuters.npz").read_bytes() == published.read_bytes()


def test_a_corrupt_cached_file_that_cannot_be_fetched_again_is_kept(datasets_dir, downloads, monkeypatch):
    path = place(datasets_dir, monkeypatch, "imdb")
    monkeypatch.setattr(imdb, "SHA256", "0" * 64)
    content = path.read_bytes()
    with pytest.warns(UserWarning), pytest.raises(_cache.DatasetUnavailableError, match=f"{path} has SHA-256"):
        imdb.load_data()
    assert path.read_bytes() == content


def test_a_users_file_elsewhere_that_differs_is_refused_and_left_alone(datasets_dir, tmp_path, downloads):
    mine = small_file(tmp_path)
    content = mine.read_bytes()
    with pytest.raises(_cache.IntegrityError, match=r"not the Boston Housing file boston_housing.npz as published.*left as it is"):
        boston_housing.load_data(path=str(mine))
    assert mine.read_bytes() == content and downloads == []


def test_a_users_verified_file_elsewhere_is_read(datasets_dir, tmp_path, downloads, monkeypatch):
    mine = small_file(tmp_path, "california_housing")
    monkeypatch.setattr(california_housing, "SHA256", digest(mine))
    assert_like_keras(california_housing.load_data(path=str(mine)), KERAS["california_housing"]["default"])
    assert os.listdir(datasets_dir) == []


def test_an_object_array_that_would_run_code_is_refused(datasets_dir, downloads, monkeypatch, tmp_path):
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    payload = np.empty(1, dtype=object)
    payload[0] = Exploit()
    path = datasets_dir / "reuters.npz"
    np.savez(path, x=payload, y=np.zeros(1, np.int64))
    monkeypatch.setattr(reuters, "SHA256", digest(path))
    with pytest.raises(_cache.IntegrityError, match=r"reuters.npz is unreadable \(UnpicklingError: Refused to load global 'posix.system'"):
        reuters.load_data()
    assert not marker.exists()


def test_the_command_line_caches_a_dataset_and_prints_where(datasets_dir, downloads, monkeypatch, capsys):
    place(datasets_dir, monkeypatch, "imdb")
    assert datasets_main(["imdb"]) == 0
    assert f"imdb: {datasets_dir / 'imdb.npz'}" in capsys.readouterr().out
    assert datasets_main(["reuters"]) == 1
    assert "Could not fetch the Reuters file reuters.npz" in capsys.readouterr().err
