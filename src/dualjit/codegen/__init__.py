"""Native code: schedule (decisions, no LLVM), lower (LLVM IR), engine (JIT), runtime (calls).

`schedule` and `callers` do not import llvmlite; the names below import the runtime (and
llvmlite) on first use, so `import dualjit.codegen.schedule` works without llvmlite.
"""

from __future__ import annotations

from typing import Any

_RUNTIME_NAMES = ("compile_function", "CompiledFunction")


def __getattr__(name: str) -> Any:
    if name in _RUNTIME_NAMES:
        from . import runtime

        return getattr(runtime, name)
    if name == "ArgumentError":
        from .callers import ArgumentError

        return ArgumentError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ArgumentError", "CompiledFunction", "compile_function"]
