"""Loads files in a child process whose address space is capped, for the tests of files that
would make a reader allocate gigabytes: there the allocation fails with MemoryError (instead of
swapping or waking the OOM killer), and the test sees what the reader raised.

Also builds the small files that decompress to gigabytes: raw deflate streams of repeated data.
"""
import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HEADROOM = 3 * 2**29
"""Address space the child may take beyond what it uses once its imports are done: 1.5 GiB."""

CHILD = textwrap.dedent("""
    import json
    import resource
    import sys
    import warnings

    import numpy as np
    import tinykeras
    from tinykeras import Sequential, models, saving, legacy_h5
    from tinykeras.datasets import _cache, cifar10, mnist
    from tinykeras.layers import Dense

    def vm_size():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024

    limit = vm_size() + int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    for expression, path in json.loads(sys.stdin.read()):
        tinykeras.backend.clear_session()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                eval(expression, globals(), {"path": path})
                outcome = {"raised": None}
            except MemoryError:
                outcome = {"raised": "MemoryError"}
            except Exception as error:
                outcome = {"raised": type(error).__name__, "message": str(error),
                           "value_error": isinstance(error, ValueError)}
        outcome["warnings"] = [str(w.message) for w in caught]
        print(json.dumps(outcome), flush=True)
""")

needs_linux = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                 reason="caps the address space with RLIMIT_AS, reads /proc")


def load_with_memory_cap(cases, timeout=120):
    """Evaluates each (expression, path) of ``cases`` in one child process whose address space
    is capped ``HEADROOM`` above its size after importing tinykeras; the expression sees
    ``path``, NumPy as ``np`` and tinykeras' modules by name.

    Returns:
        One dict per case: 'raised' (the exception's class name, 'MemoryError', or None),
        'message', 'value_error' (whether it is a ValueError) and 'warnings'.
    """
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(HEADROOM)], input=json.dumps([[e, str(p)] for e, p in cases]),
        env={**os.environ, "PYTHONPATH": ROOT}, capture_output=True, text=True, timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"the child exited with {result.returncode}: {result.stderr[-3000:]}"
    outcomes = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(outcomes) == len(cases), result.stderr[-3000:]
    return outcomes


def deflated(*pieces):
    """A raw deflate stream of ``pieces``, each (bytes, times): the data is ``bytes`` repeated
    ``times`` times, compressed once and the compressed block repeated, so gigabytes cost
    milliseconds. Each piece ends with a full flush (byte-aligned, no back-references), which
    is what lets its compressed form be repeated and the pieces be joined."""
    stream = []
    for data, times in pieces:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        stream.append((compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)) * times)
    stream.append(zlib.compressobj(9, zlib.DEFLATED, -15).flush())  # the final, empty block
    return b"".join(stream)


def write_zip(path, members):
    """Writes a zip file of ``members``: (name, data) stored as they are, or (name, raw deflate
    stream, declared size[, CRC-32]) deflated, with the size and CRC given (by default 0: a
    bomb is refused before its end, where zipfile checks the CRC)."""
    local, central, offset = [], [], 0
    for member in members:
        name = member[0].encode()
        if len(member) == 2:
            data, method, size, crc = member[1], 0, len(member[1]), zlib.crc32(member[1])
        else:
            data, method, size, crc = member[1], 8, member[2], (member[3:] or (0,))[0]
        # version needed, flags, method, time, date (1980-01-01), CRC, sizes, name and extra lengths
        fields = struct.pack("<HHHHHIIIHH", 20, 0, method, 0, 33, crc, len(data), size, len(name), 0)
        header = b"PK\x03\x04" + fields + name
        local.append(header + data)
        # version made by, the same fields, comment length, disk, attributes, header offset
        central.append(b"PK\x01\x02" + struct.pack("<H", 20) + fields
                       + struct.pack("<HHHII", 0, 0, 0, 0, offset) + name)
        offset += len(header) + len(data)
    directory = b"".join(central)
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, len(members), len(members), len(directory), offset, 0)
    with open(path, "wb") as file:
        file.write(b"".join(local) + directory + end)
