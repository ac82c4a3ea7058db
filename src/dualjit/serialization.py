"""dualjit.save / dualjit.load: checkpoints (state dicts, optimizer state, nested containers of
tensors, arrays, numbers and strings) in a documented format that loading never executes.

The file is a ZIP archive (written to exactly the path or file object given) holding
  - `dualjit_format`: the text "dualjit.save 1";
  - `skeleton.json`: the object as JSON, where a tensor is {"$tensor": k, "requires_grad": b,
    "parameter": b}, a NumPy array {"$array": k}, a tuple {"$tuple": [...]}, a dict with
    non-string keys or an OrderedDict {"$dict": [[key, value], ...], "ordered": b}, a dtype
    {"$dtype": "float32"}, and non-finite floats {"$float": "nan" | "inf" | "-inf"};
  - `data/k.npy` for the k-th distinct tensor or array, written and read by NumPy with
    allow_pickle=False (an object appearing twice is stored once and loads as one object).
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
import zipfile
from collections import OrderedDict
from typing import Any

import numpy as np

from .eager.tensor import Tensor, make_tensor

FORMAT = "dualjit.save 1"


class _Writer:
    def __init__(self, archive: zipfile.ZipFile):
        self.archive = archive
        self.ids: dict[int, int] = {}
        self.keep: list[Any] = []  # (keeps ids stable while saving)

    def array(self, arr: np.ndarray, owner: Any) -> int:
        k = self.ids.get(id(owner))
        if k is None:
            k = self.ids[id(owner)] = len(self.ids)
            self.keep.append(owner)
            buffer = io.BytesIO()
            np.save(buffer, arr if arr.flags.c_contiguous else arr.copy(), allow_pickle=False)
            self.archive.writestr(f"data/{k}.npy", buffer.getvalue())
        return k

    def encode(self, obj: Any) -> Any:
        if isinstance(obj, Tensor):
            from .nn.module import Parameter

            value = obj._value
            if not isinstance(value, np.ndarray):
                raise TypeError("dualjit.save: cannot save a traced tensor (inside dj.compile)")
            return {"$tensor": self.array(value, obj), "requires_grad": bool(obj.requires_grad),
                    "parameter": isinstance(obj, Parameter)}
        if isinstance(obj, np.ndarray):
            if obj.dtype.kind not in "biufc":
                raise TypeError(f"dualjit.save: arrays of dtype {obj.dtype} are not supported")
            return {"$array": self.array(obj, obj)}
        if isinstance(obj, np.dtype):
            return {"$dtype": str(obj)}
        if isinstance(obj, (bool, np.bool_)):
            return bool(obj)
        if isinstance(obj, (int, np.integer)):
            return int(obj)
        if isinstance(obj, (float, np.floating)):
            f = float(obj)
            return f if math.isfinite(f) else {"$float": repr(f)}
        if obj is None or isinstance(obj, str):
            return obj
        if isinstance(obj, tuple):
            return {"$tuple": [self.encode(v) for v in obj]}
        if isinstance(obj, list):
            return [self.encode(v) for v in obj]
        if isinstance(obj, dict):
            ordered = isinstance(obj, OrderedDict)
            if all(isinstance(k, str) and not k.startswith("$") for k in obj) and not ordered:
                return {k: self.encode(v) for k, v in obj.items()}
            return {"$dict": [[self.encode(k), self.encode(v)] for k, v in obj.items()],
                    "ordered": ordered}
        raise TypeError(f"dualjit.save: cannot save an object of type {type(obj).__name__}; "
                        "save tensors, arrays, numbers, strings and (nested) lists, tuples "
                        "and dicts of them — for a model, save model.state_dict()")


def save(obj: Any, f: Any, pickle_module: Any = None, pickle_protocol: Any = None,
         _use_new_zipfile_serialization: bool = True) -> None:
    """Write obj to f (a path or a binary file object), in the format described above."""
    with zipfile.ZipFile(_path(f), "w", compression=zipfile.ZIP_STORED) as archive:
        writer = _Writer(archive)
        try:
            text = json.dumps(writer.encode(obj))
        except RecursionError:
            raise ValueError(_too_deep("save", "the object")) from None
        archive.writestr("dualjit_format", FORMAT)
        archive.writestr("skeleton.json", text)


class _Reader:
    def __init__(self, archive: zipfile.ZipFile, map_location: Any):
        self.archive = archive
        self.objects: dict[int, Any] = {}
        self.map_location = map_location

    def array(self, k: int) -> np.ndarray:
        with self.archive.open(f"data/{int(k)}.npy") as member:
            return np.load(io.BytesIO(member.read()), allow_pickle=False)

    def decode(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict):
            return node
        if "$tensor" in node:
            k = node["$tensor"]
            if k not in self.objects:
                self.objects[k] = self._tensor(self.array(k), node)
            return self.objects[k]
        if "$array" in node:
            k = node["$array"]
            if k not in self.objects:
                self.objects[k] = self.array(k)
            return self.objects[k]
        if "$dtype" in node:
            return np.dtype(node["$dtype"])
        if "$float" in node:
            return float(node["$float"])
        if "$tuple" in node:
            return tuple(self.decode(v) for v in node["$tuple"])
        if "$dict" in node:
            pairs = [(self._key(self.decode(k)), self.decode(v)) for k, v in node["$dict"]]
            return OrderedDict(pairs) if node.get("ordered") else dict(pairs)
        return {k: self.decode(v) for k, v in node.items()}

    @staticmethod
    def _key(k: Any) -> Any:
        return tuple(k) if isinstance(k, list) else k

    def _tensor(self, value: np.ndarray, node: dict) -> Tensor:
        from .eager.tensor import check_device

        if self.map_location is not None and not callable(self.map_location):
            locations = self.map_location.values() if isinstance(self.map_location, dict) \
                else [self.map_location]
            for location in locations:
                check_device(location)
        if node.get("parameter"):
            from .nn.module import Parameter

            return Parameter(make_tensor(value), requires_grad=node.get("requires_grad", True))
        t = make_tensor(value)
        t.requires_grad = bool(node.get("requires_grad")) and value.dtype.kind in "fc"
        return t


def load(f: Any, map_location: Any = None, pickle_module: Any = None, *,
         weights_only: bool = True, mmap: Any = None, **kwargs: Any) -> Any:
    """Read what save() wrote. Nothing in the file is executed: the skeleton is JSON and the
    arrays are read with allow_pickle=False. map_location may name the CPU (the only device)."""
    source = _path(f)
    try:
        archive = zipfile.ZipFile(source, "r")
    except zipfile.BadZipFile:
        raise RuntimeError("dualjit.load: not a dualjit checkpoint (not a ZIP archive); files "
                           "written by torch.save (pickles) cannot be read") from None
    with archive:
        names = set(archive.namelist())
        if "dualjit_format" not in names or "skeleton.json" not in names:
            raise RuntimeError("dualjit.load: not a dualjit checkpoint (no dualjit_format "
                               "member); files written by torch.save cannot be read")
        version = archive.read("dualjit_format").decode()
        if version != FORMAT:
            raise RuntimeError(f"dualjit.load: unsupported checkpoint format {version!r} "
                               f"(this version reads {FORMAT!r})")
        try:
            skeleton = json.loads(archive.read("skeleton.json").decode())
            return _Reader(archive, map_location).decode(skeleton)
        except RecursionError:
            raise ValueError(_too_deep("load", "the checkpoint")) from None


def _too_deep(what: str, obj: str) -> str:
    return (f"dualjit.{what}: {obj} nests containers too deeply for Python's recursion limit "
            f"(sys.getrecursionlimit() = {sys.getrecursionlimit()}); flatten it (e.g. a dict "
            "of tensors, as state_dict() gives) or raise the limit with sys.setrecursionlimit")


def _path(f: Any) -> Any:
    return os.fspath(f) if isinstance(f, (str, os.PathLike)) else f
