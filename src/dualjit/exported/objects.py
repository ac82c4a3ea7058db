"""The object code of a compiled program: gathered from its modules, written out, and handed back
to the engine (through codegen.object_cache) when the program is loaded on a matching host."""

from __future__ import annotations

import hashlib
import zlib
from typing import Any

import numpy as np

from ..ir import Function
from .container import DeserializationError, field


def gather(compiled: Any) -> list:
    """The ObjectCode of every LLVM module a compiled program runs (its kernels and the kernels
    of host-run sub-Functions), found by walking the runtime's objects; each with the key of
    its Function and plan, by which a loader finds it without emitting LLVM IR."""
    from ..codegen import object_cache, pycall
    from ..codegen.runtime import CompiledFunction

    found, seen, stack = [], set(), [compiled]
    builtin_entries = pycall.register_symbols()
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (np.ndarray, Function, str, bytes, int, float)):
            continue
        seen.add(id(obj))
        if isinstance(obj, CompiledFunction) and obj.compiled is not None:
            code = obj.compiled.object_code
            found.append(object_cache.ObjectCode(
                code.key, code.symbols, code.code, lambda code=code: code.optimized_ir,
                object_cache.plan_key(obj.function, obj.plan, builtin_entries)))
            stack.extend(vars(obj).values())
        elif isinstance(obj, (list, tuple)):
            stack.extend(obj)
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif type(obj).__module__.startswith("dualjit.codegen"):
            stack.extend(getattr(obj, "__dict__", {}).values())
            stack.extend(getattr(obj, s) for s in _slots(type(obj)) if hasattr(obj, s))
    return list({o.key: o for o in found}.values())


def _slots(cls: type) -> list[str]:
    return [s for c in cls.__mro__ for s in getattr(c, "__slots__", ())]


def host() -> list[str]:
    from ..codegen.object_cache import host_signature

    return list(host_signature())


def to_sections(objects: list, sections: list[bytes]) -> dict:
    """The header entry for `objects`; their bytes are appended to `sections`."""
    modules = []
    for obj in objects:
        modules.append({"key": obj.key, "plan_key": obj.plan_key,
                        "symbols": [list(s) for s in obj.symbols],
                        "sha256": hashlib.sha256(obj.code).hexdigest(),
                        "code": len(sections), "ir": len(sections) + 1})
        sections += [obj.code, zlib.compress(obj.optimized_ir.encode("utf-8"), 6)]
    return {"host": host(), "modules": modules}


class StoredObjects:
    """Object code read from an export, checked and decoded only when a program is compiled."""

    def __init__(self, entry: dict, sections: list):
        self.host = [str(h) for h in field(entry, "host", list)]
        self.modules = []
        for m in field(entry, "modules", list):
            if not isinstance(m, dict):
                raise DeserializationError("the export is malformed: bad object-code entry")
            code, ir = (_section(sections, field(m, k, int)) for k in ("code", "ir"))
            symbols = tuple((str(name), int(arity)) for name, arity in field(m, "symbols", list))
            plan = m.get("plan_key")
            self.modules.append((str(field(m, "key", str)), symbols, str(field(m, "sha256", str)),
                                 code, ir, plan if isinstance(plan, str) else None))

    def usable(self) -> list:
        """The ObjectCode for this host: none when the versions or the CPU differ; a module
        whose checksum is wrong is left out (its code is rebuilt from the IR)."""
        return self.as_objects() if self.host == host() else []

    def as_objects(self) -> list:
        """Every intact module's ObjectCode, whatever the host (to write them out again)."""
        from ..codegen.object_cache import ObjectCode

        return [ObjectCode(key, symbols, bytes(code), _decompressor(ir), plan)
                for key, symbols, digest, code, ir, plan in self.modules
                if hashlib.sha256(code).hexdigest() == digest]


def _section(sections: list, i: int):
    if not 0 <= i < len(sections):
        raise DeserializationError(f"the export is malformed: section {i} does not exist")
    return sections[i]


def _decompressor(ir):
    def optimized_ir() -> str:
        return zlib.decompress(bytes(ir)).decode("utf-8")
    return optimized_ir
