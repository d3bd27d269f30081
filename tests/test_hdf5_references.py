"""Weights are read only from the weights file itself: an HDF5 file can point elsewhere (an
external link to another file, a dataset kept in external raw files, a virtual dataset mapping
another file, a soft link), and each is refused with a ValueError naming the file and the
dataset, in every file kind: '.weights.h5', Keras 2 '.h5' weights and whole models (with their
optimizer state), and the weights member of a '.keras' archive (with its optimizer state)."""
import os
import re
import zipfile

import h5py
import numpy as np
import pytest

from tinykeras import Sequential, models
from tinykeras.layers import Dense

X = np.random.default_rng(0).normal(size=(8, 4))
Y = np.arange(8) % 3


def mlp(seed=0, compiled=False):
    model = Sequential([Dense(16, activation="relu", input_shape=(4,)), Dense(3, activation="softmax")])
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.shape) for w in model.get_weights()])
    if compiled:
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(X, Y, epochs=1, batch_size=8, verbose=0)  # the optimizer gets its slots
    return model


# ---- what a file can point at: each replaces the dataset `name` of an open file -----------


def other_file(folder, like):
    """Another HDF5 file on disk holding a dataset '/secret' of the same shape and dtype."""
    path = os.path.join(folder, "other.h5")
    with h5py.File(path, "w") as f:
        f["secret"] = np.full(like.shape, 7, like.dtype)
    return path


def external_link(f, name, like, folder):
    f[name] = h5py.ExternalLink(other_file(folder, like), "/secret")
    return rf"is an external link to '/secret' in the file {re.escape(folder)}/other\.h5"


def external_link_to_a_system_file(f, name, like, folder):
    f[name] = h5py.ExternalLink("/etc/passwd", "/")
    return r"is an external link to '/' in the file /etc/passwd"


def soft_link(f, name, like, folder):
    f["stash"] = np.full(like.shape, 7, like.dtype)
    f[name] = h5py.SoftLink("/stash")
    return r"is a soft link to '/stash'"


def external_storage(f, name, like, folder):
    raw = os.path.join(folder, "raw.bin")
    with open(raw, "wb") as file:
        file.write(np.full(like.shape, 7, like.dtype).tobytes())
    f.create_dataset(name, shape=like.shape, dtype=like.dtype, external=[(raw, 0, like.nbytes)])
    return rf"keeps its data in other files \({re.escape(raw)}\)"


def virtual_dataset(f, name, like, folder):
    layout = h5py.VirtualLayout(shape=like.shape, dtype=like.dtype)
    layout[...] = h5py.VirtualSource(other_file(folder, like), "secret", shape=like.shape)
    f.create_virtual_dataset(name, layout)
    return r"is a virtual dataset"


POINTERS = [external_link, external_link_to_a_system_file, soft_link, external_storage, virtual_dataset]


def point_elsewhere(path, name, pointer, folder):
    """Replaces dataset ``name`` of the HDF5 file ``path`` with ``pointer``; returns the regex
    of the message that names it."""
    with h5py.File(path, "a") as f:
        like = f[name][()]
        del f[name]
        kind = pointer(f, name, like, str(folder))
    return kind


# ---- the file kinds ------------------------------------------------------------------------


def weights_file(folder):
    path = folder / "m.weights.h5"
    mlp(seed=1).save_weights(path)
    return path, path, "layers/dense_1/vars/0"


def keras_2_weights_file(folder):
    path = folder / "m.h5"
    mlp(seed=1).save_weights(path)
    return path, path, "dense_1/dense_1/kernel:0"


def keras_2_model_file(folder):
    path = folder / "m.h5"
    mlp(seed=1, compiled=True).save(path)
    return path, path, "model_weights/dense_1/dense_1/kernel:0"


def keras_2_optimizer_state(folder):
    path = folder / "m.h5"
    mlp(seed=1, compiled=True).save(path)
    with h5py.File(path, "r") as f:
        slot = [n.decode() for n in f["optimizer_weights"].attrs["weight_names"]][2]
    return path, path, f"optimizer_weights/{slot}"


def keras_member(folder, name):
    """A '.keras' file whose model.weights.h5 is extracted to be changed (``finish`` puts it back)."""
    path = folder / "m.keras"
    mlp(seed=1, compiled=True).save(path)
    member = folder / "member.h5"
    with zipfile.ZipFile(path) as archive:
        member.write_bytes(archive.read("model.weights.h5"))
    return path, member, name


def keras_model_file(folder):
    return keras_member(folder, "layers/dense_1/vars/0")


def keras_optimizer_state(folder):
    return keras_member(folder, "optimizer/vars/2")


def put_member_back(path, member):
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["model.weights.h5"] = member.read_bytes()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


KINDS = [weights_file, keras_2_weights_file, keras_2_model_file, keras_2_optimizer_state,
         keras_model_file, keras_optimizer_state]


@pytest.mark.parametrize("pointer", POINTERS, ids=lambda p: p.__name__)
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_a_dataset_pointing_outside_the_file_is_refused_naming_file_and_dataset(tmp_path, kind, pointer):
    path, h5_file, name = kind(tmp_path)
    described = point_elsewhere(h5_file, name, pointer, tmp_path)
    if h5_file != path:
        put_member_back(path, h5_file)
        os.remove(h5_file)
    shown = f"{path}/model.weights.h5" if str(path).endswith(".keras") else str(path)
    tail = name.split("/", 1)[1] if name.startswith(("layers/", "model_weights/")) else name

    model = mlp()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=rf"^{re.escape(shown)}: '(\w+/)?{re.escape(tail)}' {described}"):
        if "model" in kind.__name__ or "optimizer" in kind.__name__:
            models.load_model(path)
        else:
            model.load_weights(path)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_a_link_anywhere_in_the_file_is_refused_before_anything_is_read(tmp_path):
    path = tmp_path / "m.weights.h5"
    mlp(seed=1).save_weights(path)
    with h5py.File(path, "a") as f:
        f["notes"] = h5py.ExternalLink("/etc/passwd", "/")  # read by no loader
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}: 'notes' is an external link"):
        mlp().load_weights(path)


def test_files_without_links_still_load(tmp_path):
    for kind in (weights_file, keras_2_weights_file):
        path, _, _ = kind(tmp_path)
        model = mlp()
        model.load_weights(path)
        assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), mlp(seed=1).get_weights()))
        os.remove(path)
    for kind in (keras_2_model_file, keras_model_file):
        path, member, _ = kind(tmp_path)
        loaded = models.load_model(path)
        assert loaded.optimizer.iterations == 1 and len(loaded.optimizer.variables) == 10
        for leftover in {path, member}:
            os.remove(leftover)


def test_a_weight_in_chunks_larger_than_itself_is_refused(tmp_path):
    """Reading any part of a chunk makes HDF5 allocate the whole chunk: a 3-value bias in a
    16 MiB chunk would take 16 MiB to read."""
    path = tmp_path / "m.weights.h5"
    mlp(seed=1).save_weights(path)
    with h5py.File(path, "a") as f:
        del f["layers/dense_1/vars/1"]
        bias = f["layers/dense_1/vars"].create_dataset(
            "1", shape=(3,), maxshape=(None,), chunks=(2**22,), dtype="f4", compression="gzip")
        bias[...] = 1.0
    model = mlp()
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}: 'dense_1/vars/1' of shape \(3,\) "
                                         r"is stored in chunks of shape \(4194304,\), larger than its data"):
        model.load_weights(path)
