"""keras.utils.get_file: download into the cache (file:// URLs stand in for the network), the
cached copy reused unless its hash differs or force_download, hash checks that refuse a bad
download without leaving it, Keras' names of the files and folders with extract/untar, archive
members outside the folder skipped, and the errors."""
import hashlib
import io
import os
import tarfile
import warnings
import zipfile

import pytest

from tinykeras.utils import get_file


def served(tmp_path, name, data):
    """A file:// URL of ``data`` written under tmp_path/'server'."""
    folder = tmp_path / "server"
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(data)
    return (folder / name).as_uri()


def test_downloads_once_into_the_cache_and_reuses_it(tmp_path, capsys):
    url = served(tmp_path, "data.bin", b"first")
    path = get_file(origin=url, cache_dir=tmp_path / "cache")
    assert path == os.path.join(tmp_path / "cache", "datasets", "data.bin")
    assert open(path, "rb").read() == b"first" and "Downloading data from file://" in capsys.readouterr().out
    served(tmp_path, "data.bin", b"second")
    assert open(get_file(origin=url, cache_dir=tmp_path / "cache"), "rb").read() == b"first"  # cached
    assert capsys.readouterr().out == ""
    forced = get_file("data.bin", url, cache_dir=tmp_path / "cache", force_download=True)
    assert open(forced, "rb").read() == b"second"
    assert [n for n in os.listdir(tmp_path / "cache" / "datasets")] == ["data.bin"]  # no temporary left


def test_the_default_cache_is_tinykeras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYKERAS_HOME", str(tmp_path / "home"))
    path = get_file("x.txt", served(tmp_path, "x.txt", b"x"), cache_subdir="models")
    assert path == os.path.join(tmp_path / "home", "models", "x.txt")


@pytest.mark.parametrize("algorithm", ["sha256", "md5"])
def test_a_hash_refreshes_a_stale_copy_and_refuses_a_bad_download(tmp_path, capsys, algorithm):
    data = b"payload"
    digest = getattr(hashlib, algorithm)(data).hexdigest()
    url = served(tmp_path, "f.bin", data)
    cache = tmp_path / "cache"
    (cache / "datasets").mkdir(parents=True)
    (cache / "datasets" / "f.bin").write_bytes(b"stale")
    kwargs = {"md5_hash": digest} if algorithm == "md5" else {"file_hash": digest}
    path = get_file("f.bin", url, cache_dir=cache, **kwargs)
    assert open(path, "rb").read() == data
    assert f"because the {algorithm} file hash does not match" in capsys.readouterr().out
    with pytest.raises(ValueError, match="Incomplete or corrupted file detected"):
        get_file("g.bin", url, cache_dir=cache, file_hash="0" * len(digest), hash_algorithm=algorithm)
    assert not (cache / "datasets" / "g.bin").exists() and len(os.listdir(cache / "datasets")) == 1


def tar_bytes(members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zip_bytes(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_extract_unpacks_tar_and_zip_into_keras_folders(tmp_path):
    members = {"flowers/a.txt": b"a", "flowers/sub/b.txt": b"b"}
    cache = tmp_path / "cache"
    named = get_file("flowers.tgz", served(tmp_path, "flowers.tgz", tar_bytes(members)), extract=True, cache_dir=cache)
    assert named == os.path.join(cache, "datasets", "flowers_extracted")
    assert open(os.path.join(named, "flowers", "sub", "b.txt"), "rb").read() == b"b"
    assert (cache / "datasets" / "flowers.tgz").is_file()
    unnamed = get_file(origin=served(tmp_path, "photos.zip", zip_bytes(members)), extract=True, cache_dir=cache)
    assert unnamed == os.path.join(cache, "datasets", "photos.zip")  # no fname: the folder takes the URL's name
    assert (cache / "datasets" / "photos.zip_archive").is_file()
    assert open(os.path.join(unnamed, "flowers", "a.txt"), "rb").read() == b"a"
    plain = get_file("photos", served(tmp_path, "p.tar.gz", tar_bytes(members)), untar=True, cache_dir=cache)
    assert plain == os.path.join(cache, "datasets", "photos") and (cache / "datasets" / "photos_archive").is_file()


def test_archive_members_outside_the_folder_are_skipped(tmp_path):
    archive = tar_bytes({"ok.txt": b"ok", "../escape.txt": b"no", "/abs.txt": b"no"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        folder = get_file("a.tar.gz", served(tmp_path, "a.tar.gz", archive), extract=True, cache_dir=tmp_path / "c")
    assert [str(w.message) for w in caught] == [
        "Skipping invalid path during archive extraction: '../escape.txt'.",
        "Skipping invalid path during archive extraction: '/abs.txt'."]
    assert os.listdir(folder) == ["ok.txt"] and not (tmp_path / "c" / "datasets" / "escape.txt").exists()
    with pytest.warns(UserWarning, match="'../up.txt'"):
        get_file("z.zip", served(tmp_path, "z.zip", zip_bytes({"../up.txt": b"no", "in.txt": b"in"})), extract=True,
                 cache_dir=tmp_path / "c")
    assert not (tmp_path / "c" / "datasets" / "up.txt").exists()
    with pytest.warns(UserWarning, match="Could not extract archive"):
        get_file("t.txt", served(tmp_path, "t.txt", b"not an archive"), extract=True, cache_dir=tmp_path / "c")


@pytest.mark.parametrize("kwargs, error, match", [
    ({}, ValueError, 'specify the "origin" argument'),
    ({"origin": "https://example.com/"}, ValueError, "Can't parse the file name"),
    ({"origin": "https://example.com/x", "fname": "sub/x"}, ValueError, "Paths are no longer accepted"),
    ({"origin": "https://example.com/x", "hash_algorithm": "sha1"}, ValueError, "hash_algorithm"),
])
def test_bad_arguments_are_named(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        get_file(cache_dir=tmp_path, **kwargs)


def test_a_failed_download_names_the_url_and_leaves_nothing(tmp_path):
    missing = (tmp_path / "nowhere.bin").as_uri()
    with pytest.raises(OSError, match="URL fetch failure on file://"):
        get_file(origin=missing, cache_dir=tmp_path / "cache")
    assert os.listdir(tmp_path / "cache" / "datasets") == []
