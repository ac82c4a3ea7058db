"""Exported: a traced program with its pytree structures and types, that serializes to bytes and
runs (or is differentiated, or inlined into another trace) without the Python that made it."""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..ir import Function, TensorType, as_dtype
from ..ir.passes import simplify
from ..ir.verifier import check
from ..tracer import ShapeDtypeStruct, apply_function, current_builder, tree_flatten, tree_unflatten
from ..tracer.core import Tracer
from ..tracer.make_ir import trace_pytree
from ..tracer.pytree import PyTreeDef
from . import container, objects, treedefs
from .container import DeserializationError, field
from .functions import function_from_text, function_to_text

PRODUCER = "dualjit"


class Exported:
    """A program exported by `export(f)(*args)`: `call` it, `serialize` it, read its IR.

    in_tree / out_tree are the pytree structures of the (non-static) arguments, as a list, and
    of the result; in_avals / out_avals the ShapeDtypeStruct of each leaf.
    """

    def __init__(self, fun_name: str, in_tree: PyTreeDef, out_tree: PyTreeDef, function: Function,
                 stored_objects: objects.StoredObjects | None = None, compiled: Any = None):
        if len(function.inputs) != in_tree.num_leaves or len(function.outputs) != out_tree.num_leaves:
            raise ValueError(f"export: {fun_name} has {len(function.inputs)} inputs and "
                             f"{len(function.outputs)} outputs, but its pytree structures have "
                             f"{in_tree.num_leaves} and {out_tree.num_leaves} leaves")
        self.fun_name = fun_name
        self.in_tree = in_tree
        self.out_tree = out_tree
        self.function = function
        self.in_avals = tuple(ShapeDtypeStruct.from_type(t) for t in function.in_types)
        self.out_avals = tuple(ShapeDtypeStruct.from_type(t) for t in function.out_types)
        self._stored = stored_objects
        self._compiled = compiled
        self._lock = threading.Lock()
        self.object_code_used: bool | None = None  # after the first call: did it load object code?
        self.modules_loaded_without_emitting = 0  # ... found by Function and plan (fastest)

    def __repr__(self) -> str:
        ins = ", ".join(str(t) for t in self.function.in_types)
        outs = ", ".join(str(t) for t in self.function.out_types)
        return f"<Exported {self.fun_name}({ins}) -> ({outs})>"

    def as_text(self) -> str:
        """The typed IR, as `make_ir` prints it."""
        return self.function.text

    @property
    def has_object_code(self) -> bool:
        """Whether this program carries object code (read from bytes that had it)."""
        return bool(self._stored and self._stored.modules)

    # -- running ------------------------------------------------------------------------------
    def call(self, *args: Any) -> Any:
        """Run the program on `args` (the non-static arguments the program was exported with).
        Inside jit, grad or any other transform its IR is inlined into the trace, so the
        result is differentiable and fuses with the code around it."""
        leaves, tree = tree_flatten(list(args))
        if tree != self.in_tree:
            hint = _STATIC_HINT if len(args) > len(self.in_tree.children) else ""
            raise TypeError(f"{self.fun_name} (exported) takes arguments structured as "
                            f"{self.in_tree}, got {tree}{hint}")
        if current_builder() is not None:
            ins = [self._traced_argument(i, x) for i, x in enumerate(leaves)]
            return tree_unflatten(self.out_tree, apply_function(self.function, *ins))
        arrays = [self._argument(i, x) for i, x in enumerate(leaves)]
        return tree_unflatten(self.out_tree, self.compiled()(*arrays))

    def _argument(self, i: int, x: Any) -> np.ndarray:
        expected = self.function.in_types[i]
        if type(x) is np.ndarray and as_dtype(x.dtype) is expected.dtype:
            arr = x
        else:
            arr = _converted(x, expected, lambda: self._where(i))
        if arr.shape != expected.shape:
            raise TypeError(f"{self._where(i)}: expected shape {expected.shape} ({expected}), "
                            f"got {arr.shape}")
        return arr

    def _traced_argument(self, i: int, x: Any) -> Any:
        expected = self.function.in_types[i]
        if not isinstance(x, Tracer):
            return self._argument(i, x)
        if x.aval != expected:
            raise TypeError(f"{self._where(i)}: expected {expected}, got a traced {x.aval}")
        return x

    def _where(self, i: int) -> str:
        return f"{self.fun_name} (exported): argument {_leaf_paths(self.in_tree)[i]}"

    def compiled(self) -> Callable[..., list[np.ndarray]]:
        """The program compiled for this process (its object code is used when it was made for
        this host's LLVM and CPU and is intact; otherwise the IR is compiled)."""
        if self._compiled is None:
            with self._lock:
                if self._compiled is None:
                    self._compiled = self._compile()
        return self._compiled

    def _compile(self) -> Callable[..., list[np.ndarray]]:
        from ..jit import get_backend, native_backend

        usable = self._stored.usable() if self._stored and native_backend() else []
        if not usable:
            self.object_code_used = False
            return get_backend()(self.function)
        from ..codegen.object_cache import Supplied, supplying

        with supplying(Supplied(usable)) as source:
            compiled = get_backend()(self.function)
        # None: nothing was built (this process had compiled the same program already)
        self.object_code_used = None if source.used == source.missed == 0 else (
            source.missed == 0)
        self.modules_loaded_without_emitting = source.without_emitting
        return compiled

    # -- writing ------------------------------------------------------------------------------
    def serialize(self, *, object_code: bool = True) -> bytes:
        """These bytes, given to `dualjit.deserialize` in any process, give back this program.

        object_code=True adds the machine code for this host (compiling now if needed), which
        a loader with the same LLVM and CPU uses instead of compiling."""
        try:
            return self._serialize(object_code)
        except RecursionError:
            raise ValueError(
                "Exported.serialize: the arguments' or results' pytree nests containers too "
                f"deeply for Python's recursion limit ({sys.getrecursionlimit()}); pass "
                "flatter pytrees (e.g. a dict or tuple of arrays)") from None

    def _serialize(self, object_code: bool) -> bytes:
        sections: list[bytes] = []
        name = re.sub(r"\W", "_", self.fun_name) or "f"
        text, consts = function_to_text(self.function, name)
        header = {"producer": PRODUCER, "fun_name": self.fun_name,
                  "in_tree": treedefs.treedef_to_json(self.in_tree),
                  "out_tree": treedefs.treedef_to_json(self.out_tree),
                  "in_avals": [_aval_json(a) for a in self.in_avals],
                  "out_avals": [_aval_json(a) for a in self.out_avals],
                  "function": text, "consts": [_const_entry(c, sections) for c in consts]}
        gathered = self._object_code() if object_code else []
        header["object_code"] = objects.to_sections(gathered, sections) if gathered else None
        return container.pack(header, sections)

    def _object_code(self) -> list:
        from ..jit import native_backend

        if self._stored is not None:
            return self._stored.as_objects()
        if not native_backend():
            return []
        return objects.gather(self.compiled())


_STATIC_HINT = ("; if some of these are static arguments, they were fixed when the function was "
                "exported: pass only the others")


def _converted(x: Any, expected: TensorType, where: Callable[[], str]) -> np.ndarray:
    """A Python scalar, list or array of another dtype converted to `expected`'s dtype when
    NumPy calls that a same-kind cast (a float to f32); otherwise a TypeError."""
    try:
        arr = np.asarray(x)
    except Exception as e:
        raise TypeError(f"{where()}: cannot convert {type(x).__name__} to an array ({e})") from None
    want = expected.dtype.np
    lenient = not isinstance(x, np.ndarray)  # Python scalars and lists: weakly typed
    if arr.dtype.kind not in "biufc" or not (
            lenient and np.can_cast(arr.dtype, want, "same_kind")
            or as_dtype(arr.dtype) is expected.dtype):
        raise TypeError(f"{where()}: expected dtype {want} ({expected}), got {arr.dtype}")
    return arr.astype(want) if arr.dtype != want else arr


def _leaf_paths(td: PyTreeDef) -> list[str]:
    """A readable path to each leaf of the arguments' structure: args[0], args[1]['w'], ..."""
    paths: list[str] = []

    def walk(t: PyTreeDef, path: str) -> None:
        if t.kind is None:
            paths.append(path)
            return
        keys = t.aux if t.kind is dict else range(len(t.children))
        for k, child in zip(keys, t.children):
            walk(child, f"{path}[{k!r}]")
    walk(td, "args")
    return paths


def _aval_json(a: ShapeDtypeStruct) -> list:
    return [a.dtype.name, list(a.shape)]


def _const_entry(c: np.ndarray, sections: list[bytes]) -> list:
    little = c.dtype.newbyteorder("<")
    sections.append(np.ascontiguousarray(c, dtype=little).tobytes())
    return [little.str, list(c.shape), len(sections) - 1]


# -- export and deserialize ---------------------------------------------------------------------

def export(fun: Callable, *, static_argnums: int | Sequence[int] | None = None
           ) -> Callable[..., Exported]:
    """export(f)(*example_args) -> Exported: trace `f` (a `jit` function, or any function) for
    arguments of these types. Example arguments may be arrays or `ShapeDtypeStruct`s; the
    static arguments of a jit function (or `static_argnums=` here) are fixed at their values."""
    from ..jit import Jitted

    jitted = fun if isinstance(fun, Jitted) else None
    inner = jitted.fun if jitted is not None else fun
    statics = static_argnums if static_argnums is not None else (
        jitted.static_argnums if jitted is not None else ())
    name = getattr(inner, "__name__", "function")

    def do_export(*args: Any) -> Exported:
        if current_builder() is not None:
            raise TypeError("export: called inside a transformation (jit, grad, ...); export "
                            "at top level, then use the Exported's call() inside the transform")
        from ..tracer.make_ir import normalize_argnums

        nums = normalize_argnums(statics, len(args), "static_argnums") if statics != () else ()
        traced = trace_pytree(inner, args, static_argnums=nums, name="export")
        return Exported(name, traced.in_tree, traced.out_tree, check(simplify(traced.function)))
    return do_export


def deserialize(blob: bytes) -> Exported:
    """The Exported that `Exported.serialize` wrote. Loading imports the modules of custom pytree
    node types and may run the object code the bytes carry: deserialize only bytes you trust,
    as you would a pickle or a shared library."""
    header, sections = container.unpack(blob)
    try:
        return _read(header, sections)
    except DeserializationError:
        raise
    except Exception as e:  # any inconsistency the checks above let through
        raise DeserializationError(f"the export is malformed ({type(e).__name__}: {e})") from None


def _read(header: dict, sections: list) -> Exported:
    if header.get("producer") != PRODUCER:
        raise DeserializationError(f"the export was not written by dualjit "
                                   f"(producer {header.get('producer')!r})")
    consts = [_const_from(entry, sections) for entry in field(header, "consts", list)]
    function = function_from_text(field(header, "function", str), consts)
    in_tree = treedefs.treedef_from_json(header.get("in_tree"))
    out_tree = treedefs.treedef_from_json(header.get("out_tree"))
    stored = header.get("object_code")
    stored = objects.StoredObjects(stored, sections) if stored is not None else None
    exp = Exported(field(header, "fun_name", str), in_tree, out_tree, function, stored)
    for name, avals in (("in_avals", exp.in_avals), ("out_avals", exp.out_avals)):
        if field(header, name, list) != [_aval_json(a) for a in avals]:
            raise DeserializationError(f"the export is malformed: {name} disagree with its IR")
    return exp


def _const_from(entry: Any, sections: list) -> np.ndarray:
    if not (isinstance(entry, list) and len(entry) == 3):
        raise DeserializationError(f"the export is malformed: bad constant entry {entry!r:.80}")
    dtype, shape, index = np.dtype(entry[0]), tuple(int(d) for d in entry[1]), int(entry[2])
    if dtype.kind not in "biufc" or not 0 <= index < len(sections):
        raise DeserializationError(f"the export is malformed: bad constant entry {entry!r:.80}")
    data = sections[index]
    if len(data) != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
        raise DeserializationError("the export is malformed: a constant's size does not match "
                                   "its shape")
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))
