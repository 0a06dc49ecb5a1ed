"""Read (and write) MXNet ``.params`` files with numpy alone -- no MXNet needed.

The format is MXNet 1.x's NDArray list (``mx.nd.save`` / ``Block.save_parameters``), all
little-endian::

    uint64 0x112 (list magic), uint64 reserved, uint64 count, count x NDArray,
    uint64 count, count x (uint64 length, name bytes)

and each dense NDArray::

    uint32 magic (0xF993FAC9 = V2, 0xF993FACA = V3 / numpy shape semantics), int32 storage type
    (0 = dense), int32 ndim, ndim x int64 dims, int32 dev type, int32 dev id, int32 dtype flag,
    raw data (C order)

A V2 array with ndim 0 is "none" and has no context, dtype or data; in V3, ndim 0 is a scalar
and ndim -1 an unknown shape. Sparse arrays and the pre-V2 legacy layout are refused with an
error. Names saved by ``HybridBlock.export`` carry ``arg:``/``aux:`` prefixes; they are removed.
"""
from __future__ import annotations

import struct
from collections import OrderedDict
from pathlib import Path

import numpy as np

__all__ = ["LIST_MAGIC", "read_params", "write_params", "is_mxnet_params", "CheckpointError"]


class CheckpointError(RuntimeError):
    """A checkpoint or weights file that cannot be read or does not fit the model. Defined
    here, at the bottom of the checkpoint code (``checkpoint.py`` builds on this module)."""

LIST_MAGIC = 0x112
V2_MAGIC = 0xF993FAC9
V3_MAGIC = 0xF993FACA
V1_MAGIC = 0xF993FAC8
# MXNet type flags (mshadow) -> numpy dtype
DTYPES = {0: np.float32, 1: np.float64, 2: np.float16, 3: np.uint8, 4: np.int32, 5: np.int8,
          6: np.int64, 7: np.bool_}
FLAGS = {np.dtype(v): k for k, v in DTYPES.items()}


def is_mxnet_params(path) -> bool:
    """True for an MXNet ``.params`` (NDArray list) file, whatever its extension."""
    if not Path(path).is_file():
        return False
    with open(path, "rb") as f:
        return f.read(8) == struct.pack("<Q", LIST_MAGIC)


class _Reader:
    def __init__(self, buf: bytes, path: str):
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise CheckpointError(
                f"MXNet params file {self.path!r} is truncated: needed {n} bytes for {what} at "
                f"offset {self.pos}, only {len(self.buf) - self.pos} left")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str):
        vals = struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))
        return vals[0] if len(vals) == 1 else vals


def _read_array(r: _Reader, index: int):
    what = f"array #{index}"
    magic = r.unpack("I", f"{what} magic")
    if magic not in (V2_MAGIC, V3_MAGIC):
        kind = "the pre-1.0 V1/legacy layout" if magic == V1_MAGIC or magic < 32 else \
            f"unknown magic 0x{magic:08X}"
        raise CheckpointError(f"MXNet params file {r.path!r}: {what} uses {kind}; only the "
                              f"V2/V3 NDArray format (MXNet >= 1.0) is supported")
    stype = r.unpack("i", f"{what} storage type")
    if stype != 0:
        raise CheckpointError(f"MXNet params file {r.path!r}: {what} is a sparse array "
                              f"(storage type {stype}); only dense arrays are supported")
    ndim = r.unpack("i", f"{what} ndim")
    if ndim < 0 or (ndim == 0 and magic == V2_MAGIC):
        if ndim < -1:
            raise CheckpointError(f"MXNet params file {r.path!r}: {what} has ndim {ndim}")
        return None                         # "none" array: no context, dtype or data follow
    shape = r.unpack(f"{ndim}q", f"{what} shape") if ndim else ()
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if any(d < 0 for d in shape):
        raise CheckpointError(f"MXNet params file {r.path!r}: {what} has shape {shape}")
    r.unpack("ii", f"{what} context")
    flag = r.unpack("i", f"{what} dtype")
    if flag not in DTYPES:
        raise CheckpointError(f"MXNet params file {r.path!r}: {what} has unknown dtype flag "
                              f"{flag}")
    dtype = np.dtype(DTYPES[flag]).newbyteorder("<")
    count = int(np.prod(shape, dtype=np.int64))
    data = r.take(count * dtype.itemsize, f"{what} data ({shape}, {dtype.name})")
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def read_params(path, strip_prefix: bool = True) -> "OrderedDict[str, np.ndarray]":
    """name -> numpy array, in file order. Errors name the file and what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MXNet params file {str(path)!r} does not exist")
    r = _Reader(path.read_bytes(), str(path))
    magic = r.unpack("Q", "header")
    if magic != LIST_MAGIC:
        raise CheckpointError(f"{str(path)!r} is not an MXNet params file (header "
                              f"0x{magic:X}, expected 0x{LIST_MAGIC:X})")
    r.unpack("Q", "reserved header field")
    n = r.unpack("Q", "array count")
    if n > len(r.buf):
        raise CheckpointError(f"MXNet params file {str(path)!r} is corrupt: claims {n} arrays")
    arrays = [_read_array(r, i) for i in range(n)]
    n_names = r.unpack("Q", "name count")
    if n_names != n:
        raise CheckpointError(
            f"MXNet params file {str(path)!r} has {n} arrays but {n_names} names"
            + (" (an unnamed list saved by mx.nd.save(list); parameters need names)"
               if n_names == 0 else ""))
    names = []
    for i in range(n_names):
        length = r.unpack("Q", f"length of name #{i}")
        raw = r.take(length, f"name #{i}")
        try:
            names.append(raw.decode("utf-8"))
        except UnicodeDecodeError as err:
            raise CheckpointError(f"MXNet params file {str(path)!r}: name #{i} is not "
                                  f"UTF-8") from err
    if r.pos != len(r.buf):
        raise CheckpointError(f"MXNet params file {str(path)!r} has {len(r.buf) - r.pos} "
                              f"unexpected trailing bytes")
    out = OrderedDict()
    for name, arr in zip(names, arrays):
        if strip_prefix and name.startswith(("arg:", "aux:")):
            name = name[4:]
        if name in out:
            raise CheckpointError(f"MXNet params file {str(path)!r} holds {name!r} twice")
        out[name] = arr
    return out


def write_params(path, arrays) -> Path:
    """Write ``{name: numpy array}`` in the V2 format (what MXNet 1.9 writes for dense arrays;
    used by tests and tools -- MXNet's ``mx.nd.load`` reads it back)."""
    path = Path(path)
    parts = [struct.pack("<QQQ", LIST_MAGIC, 0, len(arrays))]
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        if arr.dtype not in FLAGS:
            raise ValueError(f"{name!r}: dtype {arr.dtype} has no MXNet type flag")
        if arr.ndim == 0:
            raise ValueError(f"{name!r}: 0-d arrays cannot be written in the V2 format")
        parts.append(struct.pack(f"<Iii{arr.ndim}qiii", V2_MAGIC, 0, arr.ndim, *arr.shape,
                                 1, 0, FLAGS[arr.dtype]))
        parts.append(arr.astype(arr.dtype.newbyteorder("<")).tobytes())
    parts.append(struct.pack("<Q", len(arrays)))
    for name in arrays:
        raw = name.encode("utf-8")
        parts.append(struct.pack("<Q", len(raw)) + raw)
    path.write_bytes(b"".join(parts))
    return path
