"""Native code: lowering to LLVM with llvmlite, fusion, the engine and the runtime."""

from .runtime import ArgumentError, CompiledFunction, compile_function  # noqa: F401
