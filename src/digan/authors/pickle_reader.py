"""Reading the authors' `network-snapshot-*.pkl` files as data, without running anything from them.

Their files are plain pickles whose networks are calls of their
`torch_utils.persistence._reconstruct_persistent_obj(meta)` (meta holds the class
name, the object's state and the source text of its module, which their loader
executes), tensors rebuilt from legacy `torch.save` bytes of one storage each,
and a few library objects (omegaconf nodes, EasyDict, numpy scalars, torch
distributions). `SafeUnpickler` maps each of those globals to a stand-in of
this module that only records data; every other global is refused, and so is
calling, building or filling anything that is not one of these stand-ins.
Module source text is kept as text and never run or imported.

The unpickler is the pure-Python `pickle._Unpickler` with find_class and the
object-making opcodes replaced: the C unpickler keeps every bytes object of
the stream in its memo until the end, so a 700 MB file would sit in memory
twice (the bytes, then the tensors). Here each storage's bytes are turned into
a tensor as soon as they are read (`Storage`), and only the tensor stays.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch


class AuthorsSnapshotError(ValueError):
    """An authors' snapshot file cannot be read or converted; the message is one line that names the file."""


class Refused(AuthorsSnapshotError):
    """What is wrong with a file's content, without the file's name (`read_pickle` and `read_snapshot` add it)."""


# --- Stand-ins: what the file's objects become ---------------------------------------------------------------


class Record:
    """An object of the file kept as data: what it was (`kind`) and the state the file gave it."""

    kind = "object"
    state: Any = None

    def __setstate__(self, state):
        self.state = state

    def __repr__(self) -> str:
        return f"<{self.kind}>"


class PersistentObject(Record):
    """A network object of the authors' `torch_utils.persistence`: class name, state, and module source as text.

    `module_src` is the text their loader would execute; here it is only kept, so a report can show it.
    """

    def __init__(self, class_name: str, state: dict, module_src: str, version: Any):
        self.kind = self.class_name = class_name
        self.state, self.module_src, self.version = state, module_src, version


def reconstruct_persistent_obj(meta) -> PersistentObject:
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise Refused("a persistent object whose description is not a class record")
    name, state, src = meta.get("class_name"), meta.get("state"), meta.get("module_src")
    if not isinstance(name, str) or not isinstance(state, dict) or not isinstance(src, str):
        raise Refused("a persistent object without a class name, a state dict and its module source")
    return PersistentObject(name, state, src, meta.get("version"))


class EasyDict(dict):
    """dnnlib's dict with attribute access, as a plain dict."""

    def __setstate__(self, state):
        if state:
            raise Refused("an EasyDict with object state")


class AnyType:
    """`typing.Any` (the reference type omegaconf records for untyped nodes)."""

    def __repr__(self) -> str:
        return "typing.Any"


ANY = AnyType()


def record_class(qualified: str) -> type[Record]:
    return type(qualified.rsplit(".", 1)[-1], (Record,), {"kind": qualified})


def size(dims=()) -> tuple[int, ...]:
    """`torch.Size` as a tuple of ints."""
    dims = tuple(dims)
    if not all(type(d) is int for d in dims):
        raise Refused("a torch.Size of non-integers")
    return dims


def default_dict(factory=None, *args) -> dict:
    """`collections.defaultdict` as a plain dict: its factory is never called."""
    if args:
        raise Refused("a defaultdict with initial items in its constructor")
    return {}


class DType(Record):
    """`numpy.dtype(name, align, copy)` followed by its state (byte order at index 1)."""

    kind = "numpy.dtype"

    def __init__(self, name, align=False, copy=False):
        if not isinstance(name, str):
            raise Refused("a numpy dtype that is not named by a string")
        self.name = name

    @property
    def numpy(self) -> np.dtype:
        order = self.state[1] if isinstance(self.state, tuple) and len(self.state) > 1 else "="
        if order not in ("<", ">", "=", "|") or self.name not in SCALAR_TYPES:
            raise Refused(f"a numpy scalar of dtype {order}{self.name}")
        return np.dtype(self.name).newbyteorder(order if order != "|" else "=")


# numpy scalars the files may hold, as numpy names their dtypes when pickling: number types only (an 'O' scalar
# would be an arbitrary object)
SCALAR_TYPES = ("f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1")


def numpy_scalar(dtype, data=None) -> int | float | bool:
    """`numpy.core.multiarray.scalar(dtype, bytes)` as a Python number."""
    if not isinstance(dtype, DType) or not isinstance(data, bytes):
        raise Refused("a numpy scalar that is not a number type and its bytes")
    dt = dtype.numpy
    if len(data) != dt.itemsize:
        raise Refused(f"a numpy scalar of dtype {dt} with {len(data)} bytes")
    return np.frombuffer(data, dt)[0].item()


# --- Tensors ---------------------------------------------------------------------------------------------------

# legacy torch.save: its first pickle is this magic number (protocol 2)
LEGACY_MAGIC = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
LEGACY_PROTOCOL = 1001

STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "HalfStorage": torch.float16,
    "DoubleStorage": torch.float64,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


class Storage:
    """One storage of the file, as a 1-D tensor of its elements."""

    def __init__(self, data: torch.Tensor):
        self.data = data


class StorageType:
    __slots__ = ("name", "dtype")  # no __dict__: a BUILD in the stream cannot change them

    def __init__(self, name: str):
        self.name, self.dtype = name, STORAGE_DTYPES[name]


class LegacyStorageUnpickler(pickle.Unpickler):
    """The small protocol-2 pickles of a legacy torch.save of one storage: numbers, a dict, the storage record
    (a persistent id naming a storage type) and the list of keys. Only storage types are allowed as globals."""

    def find_class(self, module, name):
        if module == "torch" and name in STORAGE_DTYPES:
            return StorageType(name)
        if module == "torch" and name.endswith("Storage"):
            raise Refused(f"storage type torch.{name} is not supported (supported: {', '.join(STORAGE_DTYPES)})")
        raise Refused(f"refused global {module}.{name} inside a storage")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise Refused(f"a storage record {str(pid)[:80]} that is not ('storage', type, key, location, size, view)")
        _, kind, key, location, numel, view = pid
        if (
            not isinstance(kind, StorageType)
            or not isinstance(key, str)
            or not isinstance(location, str)
            or type(numel) is not int
            or numel < 0
        ):
            raise Refused(f"a malformed storage record {str(pid)[:80]}")
        if view is not None:
            raise Refused("a storage saved as a view of another")
        return kind, key, numel


def read_legacy_storage(data: bytes) -> Storage:
    """The bytes of a legacy (non-zip) torch.save of one storage -> its elements, read by this code alone.

    Layout: five protocol-2 pickles (magic number, protocol 1001, system info, the storage record, the list of
    keys), then per key an 8-byte little-endian element count and the raw elements.
    """
    f = io.BytesIO(data)

    def next_pickle():
        try:
            return LegacyStorageUnpickler(f).load()
        except Refused:
            raise
        except Exception as e:
            raise Refused(f"storage bytes that are not a legacy torch.save ({type(e).__name__}: {e})") from None

    if next_pickle() != 0x1950A86A20F9469CFC6C or next_pickle() != LEGACY_PROTOCOL:
        raise Refused("storage bytes without the legacy torch.save magic number and protocol 1001")
    info = next_pickle()
    if not isinstance(info, dict) or info.get("little_endian") is not True:
        raise Refused("a storage saved on a big-endian machine (or without its system information)")
    record, keys = next_pickle(), next_pickle()
    if not (isinstance(record, tuple) and keys == [record[1]]):
        raise Refused("storage bytes that hold something else than one storage")
    kind, _, numel = record
    offset = f.tell()
    if len(data) < offset + 8:
        raise Refused("storage bytes that end before the element count")
    (count,) = struct.unpack_from("<q", data, offset)
    itemsize = torch.empty((), dtype=kind.dtype).element_size()
    if count != numel or len(data) != offset + 8 + numel * itemsize:
        raise Refused(f"a {kind.name} of {numel} elements stored as {count} elements in {len(data) - offset - 8} bytes")
    raw = bytearray(memoryview(data)[offset + 8 :])  # a writable, aligned copy the tensor owns
    return Storage(torch.frombuffer(raw, dtype=kind.dtype) if numel else torch.empty(0, dtype=kind.dtype))


def load_from_bytes(storage) -> Storage:
    """`torch.storage._load_from_bytes(b)`: the bytes were parsed as they were read (`SafeUnpickler`)."""
    if isinstance(storage, bytes):
        storage = read_legacy_storage(storage)
    if not isinstance(storage, Storage):
        raise Refused("a storage made from something else than bytes")
    return storage


def rebuild_tensor(storage, offset, shape, stride, requires_grad=False, hooks=None, metadata=None) -> torch.Tensor:
    """`torch._utils._rebuild_tensor_v2`: a strided view of a storage, checked to lie inside it."""
    if not isinstance(storage, Storage):
        raise Refused("a tensor on something else than a storage")
    shape, stride = tuple(shape), tuple(stride)
    if not (type(offset) is int and all(type(v) is int for v in shape + stride) and len(shape) == len(stride)):
        raise Refused("a tensor with a malformed offset, size or stride")
    numel = storage.data.numel()
    if offset < 0 or any(v < 0 for v in shape + stride):
        raise Refused("a tensor with a negative offset, size or stride")
    if 0 not in shape and offset + sum((n - 1) * s for n, s in zip(shape, stride)) >= numel:
        raise Refused(
            f"a tensor of size {list(shape)}, stride {list(stride)} at offset {offset} that reaches past "
            f"its storage of {numel} elements"
        )
    if 0 in shape and offset > numel:
        raise Refused(f"an empty tensor at offset {offset} past its storage of {numel} elements")
    return torch.as_strided(storage.data, shape, stride, offset)


def rebuild_parameter(data, requires_grad=False, hooks=None) -> torch.Tensor:
    """`torch._utils._rebuild_parameter`: the parameter's tensor (the reader keeps no nn.Parameters)."""
    if not isinstance(data, torch.Tensor):
        raise Refused("a parameter made from something else than a tensor")
    return data


# --- The unpickler ---------------------------------------------------------------------------------------------

OMEGACONF = (
    "omegaconf.dictconfig.DictConfig",
    "omegaconf.listconfig.ListConfig",
    "omegaconf.base.ContainerMetadata",
    "omegaconf.base.Metadata",
    "omegaconf.nodes.AnyNode",
    "omegaconf.nodes.StringNode",
    "omegaconf.nodes.IntegerNode",
    "omegaconf.nodes.FloatNode",
    "omegaconf.nodes.BooleanNode",
)
CONTAINERS = (
    "torch.nn.modules.container.Sequential",
    "torch.nn.modules.container.ModuleList",
    "torch.distributions.beta.Beta",
    "torch.distributions.dirichlet.Dirichlet",
)

# Every global a snapshot of the authors' code may name -> the stand-in used for it.
ALLOWED: dict[str, Any] = {
    "torch_utils.persistence._reconstruct_persistent_obj": reconstruct_persistent_obj,
    "torch._utils._rebuild_tensor_v2": rebuild_tensor,
    "torch._utils._rebuild_parameter": rebuild_parameter,
    "torch.storage._load_from_bytes": load_from_bytes,
    "torch.Size": size,
    "collections.OrderedDict": collections.OrderedDict,
    "collections.defaultdict": default_dict,
    "builtins.dict": dict,
    "typing.Any": ANY,
    "numpy.core.multiarray.scalar": numpy_scalar,  # written by numpy < 2
    "numpy._core.multiarray.scalar": numpy_scalar,  # numpy >= 2
    "numpy.dtype": DType,
    "dnnlib.util.EasyDict": EasyDict,
    **{name: record_class(name) for name in OMEGACONF + CONTAINERS},
}
# what REDUCE may call and NEWOBJ may instantiate: the stand-ins above, nothing that came from the stream's data
CALLABLE = {id(v) for v in ALLOWED.values() if callable(v)}


def refuse_opcode(name: str):
    def load(self):
        raise Refused(f"opcode {name}, which snapshot files do not use")

    return load


class SafeUnpickler(pickle._Unpickler):
    """A pickle reader that builds only data: see the module docstring."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def find_class(self, module: str, name: str):
        qualified = f"{module}.{name}"
        if qualified not in ALLOWED:
            raise Refused(
                f"refused global {qualified}: only tensors, the authors' network records and plain data "
                "are read from these files"
            )
        return ALLOWED[qualified]

    def call_allowed(self, func, what: str):
        if id(func) not in CALLABLE:
            raise Refused(f"{what} of a {type(func).__name__} (only the reader's stand-ins may be called)")

    def load_reduce(self):
        args = self.stack.pop()
        func = self.stack[-1]
        self.call_allowed(func, "a call")
        if not isinstance(args, tuple):
            raise Refused("a call whose arguments are not a tuple")
        self.stack[-1] = func(*args)

    dispatch[pickle.REDUCE[0]] = load_reduce

    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        self.call_allowed(cls, "an instance")
        if not isinstance(cls, type) or args:
            raise Refused(f"an instance of {getattr(cls, '__name__', cls)} with constructor arguments")
        self.append(cls.__new__(cls))

    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if not isinstance(inst, (Record, EasyDict)):
            raise Refused(f"setting the state of a {type(inst).__name__}")
        inst.__setstate__(state)

    dispatch[pickle.BUILD[0]] = load_build

    def load_setitems(self):
        items = self.pop_mark()
        target = self.stack[-1]
        if not isinstance(target, dict):
            raise Refused(f"setting items of a {type(target).__name__}")
        for i in range(0, len(items) - 1, 2):
            target[items[i]] = items[i + 1]

    dispatch[pickle.SETITEMS[0]] = load_setitems

    def load_setitem(self):
        value, key = self.stack.pop(), self.stack.pop()
        if not isinstance(self.stack[-1], dict):
            raise Refused(f"setting an item of a {type(self.stack[-1]).__name__}")
        self.stack[-1][key] = value

    dispatch[pickle.SETITEM[0]] = load_setitem

    def load_appends(self):
        items = self.pop_mark()
        if not isinstance(self.stack[-1], list):
            raise Refused(f"appending to a {type(self.stack[-1]).__name__}")
        self.stack[-1].extend(items)

    dispatch[pickle.APPENDS[0]] = load_appends

    def load_append(self):
        value = self.stack.pop()
        if not isinstance(self.stack[-1], list):
            raise Refused(f"appending to a {type(self.stack[-1]).__name__}")
        self.stack[-1].append(value)

    dispatch[pickle.APPEND[0]] = load_append

    def load_additems(self):
        items = self.pop_mark()
        if not isinstance(self.stack[-1], set):
            raise Refused(f"adding to a {type(self.stack[-1]).__name__}")
        self.stack[-1].update(items)

    dispatch[pickle.ADDITEMS[0]] = load_additems

    # Bytes that hold a legacy torch.save are parsed here, before the memo keeps them: only the tensor stays.
    def push_bytes(self, data: bytes):
        self.append(read_legacy_storage(data) if data.startswith(LEGACY_MAGIC) else data)

    def load_short_binbytes(self):
        self.push_bytes(self.read(self.read(1)[0]))

    dispatch[pickle.SHORT_BINBYTES[0]] = load_short_binbytes

    def load_binbytes(self):
        self.push_bytes(self.read(struct.unpack("<I", self.read(4))[0]))

    dispatch[pickle.BINBYTES[0]] = load_binbytes

    def load_binbytes8(self):
        self.push_bytes(self.read(struct.unpack("<Q", self.read(8))[0]))

    dispatch[pickle.BINBYTES8[0]] = load_binbytes8

    for _op in (
        "INST",
        "OBJ",
        "NEWOBJ_EX",
        "PERSID",
        "BINPERSID",
        "EXT1",
        "EXT2",
        "EXT4",
        "NEXT_BUFFER",
        "READONLY_BUFFER",
        "BYTEARRAY8",
    ):
        dispatch[getattr(pickle, _op)[0]] = refuse_opcode(_op)
    del _op


class BoundedFile:
    """The file as the unpickler reads it: a read longer than what is left is an error before anything is
    allocated (a damaged length field must not ask for gigabytes), lines are short, and every byte read goes
    into `digest` (the file's hash in the same pass)."""

    MAX_LINE = 1 << 16

    def __init__(self, f, size: int, digest=None):
        self.f, self.left, self.digest = f, size, digest

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > self.left:
            raise EOFError
        return self.seen(self.f.read(n))

    def readline(self) -> bytes:
        line = self.seen(self.f.readline(self.MAX_LINE))
        if not line.endswith(b"\n"):
            raise EOFError if self.left <= 0 else Refused("a text line over 64 KiB")
        return line

    def seen(self, data: bytes) -> bytes:
        self.left -= len(data)
        if self.digest is not None:
            self.digest.update(data)
        return data


def read_pickle(path: str | os.PathLike, digest=None) -> Any:
    """The object a snapshot pickle holds, rebuilt as data (`SafeUnpickler`); one-line `AuthorsSnapshotError`s.

    `digest` (e.g. `hashlib.sha256()`) is updated with the whole file's bytes.
    """
    path = Path(path)
    if not path.exists():
        raise AuthorsSnapshotError(f"{path}: no such file")
    if path.is_dir():
        raise AuthorsSnapshotError(f"{path}: is a directory, not a snapshot file (network-snapshot-*.pkl)")
    try:
        with open(path, "rb") as f:
            total = os.fstat(f.fileno()).st_size
            head = f.read(4)
            if not head:
                raise AuthorsSnapshotError(f"{path}: empty file")
            if head == b"PK\x03\x04":
                raise AuthorsSnapshotError(
                    f"{path}: a zip archive (a torch.save file?), not a network pickle "
                    "written by the authors' training loop"
                )
            if head[0] != pickle.PROTO[0]:
                raise AuthorsSnapshotError(
                    f"{path}: not a pickle of protocol 2 or later (it starts with bytes {head.hex(' ')})"
                )
            f.seek(0)
            stream = BoundedFile(f, total, digest)
            value = SafeUnpickler(stream).load()
            if digest is not None:  # whatever follows the pickle's end
                for chunk in iter(lambda: f.read(1 << 22), b""):
                    digest.update(chunk)
            return value
    except Refused as e:
        raise AuthorsSnapshotError(f"{path}: {e}; nothing in the file was run") from None
    except AuthorsSnapshotError:
        raise
    except EOFError:
        raise AuthorsSnapshotError(
            f"{path}: truncated: the pickle ends before it is complete ({path.stat().st_size} bytes)"
        ) from None
    except OSError as e:
        raise AuthorsSnapshotError(f"{path}: cannot be read ({e.strerror or e})") from None
    except Exception as e:  # any other malformed stream: stack underflow, bad opcodes, wrong types
        reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise AuthorsSnapshotError(f"{path}: not a readable pickle ({type(e).__name__}: {reason})") from None


# --- The module tree -------------------------------------------------------------------------------------------


def children(record: Record) -> dict[str, Record]:
    """The submodules of a network record (`_modules`), without empty slots."""
    modules = record.state.get("_modules") if isinstance(record.state, dict) else None
    if modules is None:
        return {}
    if not isinstance(modules, dict) or not all(isinstance(m, Record) or m is None for m in modules.values()):
        raise Refused(f"a {record.kind} whose submodules are not network records")
    return {k: m for k, m in modules.items() if m is not None}


def submodule(record: Record, path: str) -> Record:
    """The record at a dotted path below `record`, e.g. `synthesis.b16.coord_fuser`."""
    for name in path.split("."):
        found = children(record).get(name)
        if found is None:
            raise Refused(f"no module {path} in the {record.kind} (missing: {name})")
        record = found
    return record


MAX_DEPTH = 64  # nesting of modules or of configuration data; deeper is a cycle or a hostile file


def module_tensors(record: Record, prefix: str = "") -> dict[str, torch.Tensor]:
    """Parameters and persistent buffers below a network record, by dotted name: its `state_dict`."""
    if prefix.count(".") > MAX_DEPTH:
        raise Refused(f"modules nested deeper than {MAX_DEPTH} levels ({prefix[:80]}...)")
    state = record.state if isinstance(record.state, dict) else {}
    skip = state.get("_non_persistent_buffers_set") or ()
    out = {}
    for group in ("_parameters", "_buffers"):
        for name, value in (state.get(group) or {}).items():
            if value is None or (group == "_buffers" and name in skip):
                continue
            if not isinstance(value, torch.Tensor):
                raise Refused(f"{prefix}{name} is a {type(value).__name__}, not a tensor")
            out[prefix + name] = value
    for name, child in children(record).items():
        out.update(module_tensors(child, f"{prefix}{name}."))
    return out
