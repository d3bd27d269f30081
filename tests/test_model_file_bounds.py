"""Small model files that would make a reader allocate gigabytes raise a ValueError naming the
file and the member or dataset, promptly, instead of MemoryError or the OOM killer: a '.keras'
whose members decompress to gigabytes (whatever size they declare), a model description that
parses into gigabytes, and HDF5 datasets that declare a shape of 40 GB. Each file is loaded in
a child process with its address space capped 1.5 GiB above its needs (tests/memory_limit.py)."""
import re
import zipfile
import zlib

import h5py
import numpy as np
import pytest
from memory_limit import deflated, load_with_memory_cap, needs_linux, write_zip

from tinykeras import Sequential, backend, models
from tinykeras.layers import Dense

pytestmark = needs_linux

GIGABYTES = (bytes(2**26), 48)  # 3 GiB of zeros: a 3 MB deflate stream
BOMB_SIZE = 3 * 2**30
MLP = "Sequential([Dense(16, activation='relu', input_shape=(4,)), Dense(3, activation='softmax')])"
"""The model of the files, as the child process builds it to load weights into."""


def mlp(seed=1, compiled=False):
    backend.clear_session()  # layers named 'dense', 'dense_1' in every file
    model = Sequential([Dense(16, activation="relu", input_shape=(4,)), Dense(3, activation="softmax")])
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.shape) for w in model.get_weights()])
    if compiled:
        model.compile("adam", "sparse_categorical_crossentropy")
        x = rng.normal(size=(8, 4))
        model.fit(x, np.arange(8) % 3, epochs=1, batch_size=8, verbose=0)
    return model


def keras_members(folder):
    path = folder / "source.keras"
    mlp(compiled=True).save(path)
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


# ---- '.keras' archives ---------------------------------------------------------------------


def test_keras_archive_members_that_decompress_to_gigabytes_are_refused(tmp_path):
    members = keras_members(tmp_path)
    metadata, config = ("metadata.json", members["metadata.json"]), ("config.json", members["config.json"])
    bomb = deflated(GIGABYTES)
    text = b"[" + b"[]," * (20 * 2**20) + b"[]]"  # 60 MiB: a list of 21 million empty lists
    files = {
        # model.weights.h5 declares its 3 GiB
        "declared": [metadata, config, ("model.weights.h5", bomb, BOMB_SIZE)],
        # ... or declares 100 KB: asked for everything, zipfile decompresses all it is given
        "undeclared": [metadata, config, ("model.weights.h5", bomb, 100_000)],
        "undeclared config": [metadata, ("config.json", bomb, 1000)],
        # within the old limit of 64 MiB, but parsed it takes 1.7 GB
        "large config": [metadata, ("config.json", deflated((b"[", 1), (b"[]," * 2**20, 20), (b"[]]", 1)),
                                    len(text), zlib.crc32(text))],
    }
    for name, archive in files.items():
        write_zip(tmp_path / f"{name}.keras", archive)
    del text

    outcomes = load_with_memory_cap([("models.load_model(path)", tmp_path / f"{name}.keras") for name in files])

    expected = {
        "declared": r"'model.weights.h5' is 3221225472 bytes uncompressed, more than the \d+ bytes "
                    r"this model's weights and optimizer state may take\. The archive is damaged",
        "undeclared": r"'model.weights.h5' cannot be read from the archive \(corrupt\?\): Bad CRC-32",
        "undeclared config": r"'config.json' cannot be read from the archive \(corrupt\?\): Bad CRC-32",
        "large config": r"'config.json' is 62914564 bytes uncompressed, more than the 16777216 bytes "
                        r"a model description may take",
    }
    for (name, pattern), outcome in zip(expected.items(), outcomes):
        assert outcome.get("value_error"), (name, outcome)
        assert re.match(rf"{re.escape(str(tmp_path / name))}\.keras: {pattern}", outcome["message"]), (name, outcome)


# ---- HDF5 datasets that declare 40 GB ------------------------------------------------------


def declare_huge(path, name):
    """Replaces dataset ``name`` with a (100000, 100000) float32 one: 40 GB declared, a few KB
    on disk (compressed chunks never written read as the fill value)."""
    with h5py.File(path, "a") as f:
        del f[name]
        f.create_dataset(name, shape=(100000, 100000), dtype="f4", chunks=(1000, 1000),
                         compression="gzip", fillvalue=0.0)


def with_member_changed(path, change):
    """Applies ``change(h5_path)`` to the model.weights.h5 of the '.keras' archive ``path``."""
    member = path.parent / "member.h5"
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    member.write_bytes(members["model.weights.h5"])
    change(member)
    members["model.weights.h5"] = member.read_bytes()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_hdf5_datasets_declaring_gigabytes_are_refused_before_they_are_read(tmp_path):
    weights, legacy, legacy_model, keras = (tmp_path / n for n in ("m.weights.h5", "w.h5", "m.h5", "m.keras"))
    mlp().save_weights(weights)
    declare_huge(weights, "layers/dense/vars/0")
    mlp().save_weights(legacy)
    declare_huge(legacy, "dense/dense/kernel:0")
    mlp(compiled=True).save(legacy_model)
    declare_huge(legacy_model, "model_weights/dense/dense/kernel:0")
    mlp(compiled=True).save(keras)
    with_member_changed(keras, lambda member: declare_huge(member, "layers/dense/vars/0"))

    outcomes = load_with_memory_cap([
        (f"{MLP}.load_weights(path)", weights),
        (f"{MLP}.load_weights(path)", legacy),
        ("models.load_model(path)", legacy_model),
        ("models.load_model(path)", keras),
    ])

    shown = [weights, legacy, legacy_model, f"{keras}/model.weights.h5"]
    where = ["layers/dense", "dense", "dense", "layers/dense"]
    for path, group, outcome in zip(shown, where, outcomes):
        assert outcome.get("value_error"), outcome
        assert outcome["message"] == (
            f"Layer 'dense': weight 'kernel' has shape (4, 16), the file {path} has (100000, 100000) "
            f"at '{group}'. The file was saved from a different architecture, or is damaged."
        )


def test_optimizer_state_declaring_gigabytes_leaves_a_fresh_optimizer_with_a_warning(tmp_path):
    legacy_model, keras = tmp_path / "m.h5", tmp_path / "m.keras"
    mlp(compiled=True).save(legacy_model)
    with h5py.File(legacy_model, "r") as f:
        slot = [n.decode() for n in f["optimizer_weights"].attrs["weight_names"]][2]
    declare_huge(legacy_model, f"optimizer_weights/{slot}")
    mlp(compiled=True).save(keras)
    with_member_changed(keras, lambda member: declare_huge(member, "optimizer/vars/2"))

    outcomes = load_with_memory_cap([
        ("models.load_model(path)", legacy_model),
        ("models.load_model(path)", keras),
    ])

    for path, name, outcome in zip([legacy_model, f"{keras}/model.weights.h5"],
                                   [f"optimizer_weights/{slot}", "optimizer/vars/2"], outcomes):
        assert outcome["raised"] is None, outcome
        assert outcome["warnings"] == [
            f"{path}: the optimizer's state cannot be restored ('{name}' has shape (100000, 100000), "
            "optimizer 'adam' keeps (4, 16) there); training goes on from a freshly initialized optimizer."
        ]


@pytest.mark.parametrize("units", [10**12, "huge input"])
def test_a_config_whose_weights_would_take_terabytes_is_refused(tmp_path, units):
    """No memory cap needed: NumPy refuses a 16 TB allocation at once, with a MemoryError."""
    path = tmp_path / "m.keras"
    mlp().save(path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = members["config.json"].decode()
    if units == "huge input":
        config = config.replace('"batch_shape": [null, 4]', f'"batch_shape": [null, {10**12}]')
        shape = (10**12, 16)
    else:
        config = config.replace('"units": 16', f'"units": {units}')
        shape = (4, units)
    members["config.json"] = config.encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)

    with pytest.raises(ValueError) as caught:
        models.load_model(path)

    assert str(caught.value) == (
        f"{path} 'config.json': Layer 'dense': weight 'kernel' of shape {shape} would hold "
        f"{4 * 10**12 if units == 10**12 else 16 * 10**12:,} values "
        f"({(4 if units == 10**12 else 16) * 10**12 * 4 / 2**30:,.0f} GiB), more than the 2,147,483,648 a weight "
        "may hold. Check the layer's size arguments (units, filters, kernel_size) and the input "
        "shape it is built for."
    )
