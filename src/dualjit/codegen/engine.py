"""The LLVM engine: host target machine, O3 with loop and SLP vectorization, MCJIT modules.

Object code compiled before (the disk cache, DUALJIT_CACHE_DIR, or an exported program's) skips
optimization and code generation; `object_cache` decides what may be loaded.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import struct
import subprocess
import sys
import threading
import time

from . import compile_worker, object_cache

_lock = threading.RLock()
_initialized = False


def llvm():
    """llvmlite.binding, initialized once (native target and asm printer only)."""
    global _initialized
    import llvmlite.binding as binding

    with _lock:
        if not _initialized:
            binding.initialize_native_target()
            binding.initialize_native_asmprinter()
            _initialized = True
    return binding


_searchable = False


def process_symbols_searchable():
    """llvmlite.binding, with the process's own symbols (libm, CPython) visible to
    address_of_symbol, as they are to MCJIT's linker once any engine exists."""
    global _searchable
    binding = llvm()
    with _lock:
        if not _searchable:
            module = binding.parse_assembly("")
            binding.create_mcjit_compiler(module, target_machine(0))
            _searchable = True
    return binding


def target_machine(opt: int = 3):
    """A fresh TargetMachine for the host CPU (an MCJIT engine takes ownership of the one it gets).

    `opt` is the machine-code generation level; the IR is optimized at O3 either way."""
    llvm()
    return compile_worker.host_target_machine(opt)


def _optimize_and_emit(parse, want_text: bool, parsed: tuple | None = None) -> tuple:
    """The module of `parse()` (or `parsed`, a fresh parse) optimized and compiled in this
    process: (the module, its engine, object code, the optimized IR's text or "")."""
    binding = llvm()
    module, tm = compile_worker.optimize_parsed(parse, parsed)
    optimized = str(module) if want_text else ""
    engine = binding.create_mcjit_compiler(module, tm)
    produced: list[bytes] = []
    engine.set_object_cache(notify_func=lambda _module, code: produced.append(bytes(code)))
    engine.finalize_object()
    return module, engine, produced[0], optimized


WORKER_COMPILES = 200  # compiles before the worker is replaced (what LLVM kept goes with it)
USE_WORKER = os.environ.get("DUALJIT_COMPILE_IN_PROCESS", "") in ("", "0")
# The first compiles of a process run here: starting the worker costs a process and an import
# of llvmlite (about as long as the first compile), which scripts, tests and notebooks that
# compile a few dozen programs should not pay; LLVM keeps ~0.2 MB of each, ~13 MB for 64.
IN_PROCESS_COMPILES = int(os.environ.get("DUALJIT_IN_PROCESS_COMPILES", "64"))
_compiled_here = 0


class _Worker:
    """This process's compile worker (compile_worker.py): optimizes and emits object code in
    a process of its own, so that what LLVM never frees is not kept here."""

    def __init__(self):
        path = compile_worker.__file__
        # (-c and no sys.path[0], so that neither the current directory nor codegen/, which
        # has a profile.py, shadows a module the worker imports)
        code = f"import runpy, sys; del sys.path[0]; runpy.run_path({path!r}, run_name='__main__')"
        self.process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.owner = os.getpid()
        self.compiles = 0

    def compile(self, llvm_ir: str, codegen_opt: int, want_text: bool) -> tuple[bytes, str]:
        data = llvm_ir.encode()
        self.process.stdin.write(compile_worker.REQUEST.pack(len(data), codegen_opt, want_text))
        self.process.stdin.write(data)
        self.process.stdin.flush()
        ok, n_code, n_text = compile_worker.REPLY.unpack(_read(self.process.stdout,
                                                               compile_worker.REPLY.size))
        code, text = _read(self.process.stdout, n_code), _read(self.process.stdout, n_text)
        self.compiles += 1
        if not ok:
            raise RuntimeError(text.decode())
        return code, text.decode()

    def close(self) -> None:
        if self.owner == os.getpid():  # (a forked child leaves its parent's worker alone)
            self.process.stdin.close()  # the worker leaves at the end of its input
            self.process.wait()


def _read(stream, n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise EOFError("the compile worker stopped")
    return data


_worker: _Worker | None = None


def _compile_in_worker(llvm_ir: str, codegen_opt: int, want_text: bool) -> tuple | None:
    """(object code, optimized IR text) from the compile worker, or None when the caller is to
    compile in this process: one of the process's first IN_PROCESS_COMPILES, or the worker
    failed (then the caller reports what went wrong). Under _lock."""
    global _worker, USE_WORKER, _compiled_here
    if not USE_WORKER:
        return None
    if _worker is None and _compiled_here < IN_PROCESS_COMPILES:
        _compiled_here += 1
        return None
    worker = _worker
    try:
        if worker is None or worker.owner != os.getpid():
            worker = _worker = _Worker()
        elif worker.compiles >= WORKER_COMPILES:
            worker.close()
            worker = _worker = _Worker()
        return worker.compile(llvm_ir, codegen_opt, want_text)
    except RuntimeError:  # LLVM refused this module: the worker is fine
        return None
    except (OSError, EOFError, ValueError, struct.error):  # the worker stopped
        USE_WORKER = worker is not None and worker.compiles > 0  # (none can run here at all)
        _worker = None  # the next compile starts another
        return None


@atexit.register
def _stop_worker() -> None:
    if _worker is not None:
        with contextlib.suppress(OSError):
            _worker.close()


def _optimized_text(llvm_ir: str, name: str, codegen_opt: int):
    """A function making the optimized IR's text on demand (a dump, an export) by optimizing
    llvm_ir again: few compiles need the text, and printing costs about as much as parsing;
    the pipeline is deterministic, so both give the same text."""
    def text() -> str:
        with _lock:
            built = _compile_in_worker(llvm_ir, codegen_opt, want_text=True)
            if built is not None:
                return built[1]
            again, _ = compile_worker.optimize_parsed(
                lambda: CompiledModule._parse(llvm_ir, name, codegen_opt))
            return str(again)
    return text


# Each module is parsed in an LLVM context of its own, and its engine owns it: disposing the
# context first would delete the module, which the engine then deletes again (a crash). When
# a CompiledModule dies in a reference cycle, the garbage collector finalizes the engine, the
# module and the context in any order; so the context stays here, reachable, until the
# CompiledModule's own finalizer has closed its engine.
_contexts: dict[int, object] = {}


class CompiledModule:
    """An optimized, JIT-compiled LLVM module; keeps its engine alive while addresses are used."""

    def __init__(self, llvm_ir: str, name: str = "dualjit", codegen_opt: int = 3):
        key = object_cache.module_key(llvm_ir, codegen_opt)
        context = _contexts[id(self)] = llvm().create_context()
        with _lock:
            t0 = time.perf_counter()
            module, tm = self._parse(llvm_ir, name, codegen_opt, context)
            symbols = object_cache.defined_symbols(module)
            t1 = time.perf_counter()
            found = object_cache.lookup(key, symbols)
            if found is not None:
                self.engine = self._link(module, tm, found.code, symbols)
                if self.engine is None:  # an unresolved symbol: never call into such code
                    found = None
                    module, tm = self._parse(llvm_ir, name, codegen_opt, context)
            object_cache.note_link(found, emitted=True)
            if found is None:
                t2 = time.perf_counter()
                # (the text is printed now only when the disk cache will store it)
                want_text = object_cache.usable_cache_dir() is not None
                built = _compile_in_worker(llvm_ir, codegen_opt, want_text)
                if built is not None:
                    self.engine = self._link(module, tm, built[0], symbols)
                if built is None or self.engine is None:  # compile in this process instead
                    module, self.engine, *built = _optimize_and_emit(
                        lambda: self._parse(llvm_ir, name, codegen_opt, context), want_text,
                        # (a failed link consumed the module)
                        parsed=(module, tm) if built is None else None)
                code, text = built
                optimized = text if want_text else _optimized_text(llvm_ir, name, codegen_opt)
                self.object_code = object_cache.ObjectCode(key, symbols, code, optimized)
                object_cache.store(self.object_code)
            else:
                self.object_code = found
            t3 = time.perf_counter()
        self.module = module
        self.cache_hit = found is not None
        if found is None:
            self.timings = {"parse": t1 - t0, "optimize and codegen": t3 - t2}
        else:
            self.timings = {"parse": t1 - t0, "disk cache load": t3 - t1}

    def __del__(self) -> None:
        try:
            engine = self.__dict__.get("engine")
            if engine is not None:
                engine.close()  # (disposes the module) before the context can go
            _contexts.pop(id(self), None)
        except Exception:  # (at interpreter shutdown module globals may already be gone)
            pass

    @staticmethod
    def _parse(llvm_ir: str, name: str, codegen_opt: int, context=None):
        binding = llvm()
        # A context of its own: what LLVM interns while parsing (types, constants, metadata)
        # is freed with the module instead of piling up in the global context.
        module = binding.parse_assembly(llvm_ir, context=context or binding.create_context())
        module.name = name
        module.verify()
        tm = target_machine(codegen_opt)
        module.triple = binding.get_process_triple()
        module.data_layout = str(tm.target_data)
        return module, tm

    @staticmethod
    def _link(module, tm, code: bytes, symbols: tuple):
        """An engine running checked object code in place of `module`'s, or None when one of
        the module's functions did not resolve in it."""
        if not object_cache.symbols_resolve(code):
            return None
        engine = llvm().create_mcjit_compiler(module, tm)
        engine.set_object_cache(getbuffer_func=lambda _module: code)
        engine.finalize_object()
        if all(engine.get_function_address(name) for name, _ in symbols):
            return engine
        return None

    @classmethod
    def from_object_code(cls, obj: object_cache.ObjectCode, codegen_opt: int = 3
                         ) -> CompiledModule | None:
        """A module made of checked object code alone (an exported program's, found by its
        Function and plan, so its LLVM IR was never emitted); None if a symbol is missing."""
        binding = llvm()
        with _lock:
            t0 = time.perf_counter()
            if not object_cache.symbols_resolve(obj.code):
                return None
            module = binding.parse_assembly("")
            module.triple = binding.get_process_triple()
            engine = binding.create_mcjit_compiler(module, target_machine(codegen_opt))
            engine.add_object_file(binding.ObjectFileRef.from_data(obj.code))
            engine.finalize_object()
            if not all(engine.get_function_address(name) for name, _ in obj.symbols):
                return None
            object_cache.note_link(obj, emitted=False)
            self = cls.__new__(cls)
            self.engine, self.module, self.object_code = engine, module, obj
            self.cache_hit = True
            self.timings = {"object code load": time.perf_counter() - t0}
        return self

    def address(self, name: str) -> int:
        return self.engine.get_function_address(name)

    @property
    def optimized_ir(self) -> str:
        return self.object_code.optimized_ir

    def asm(self) -> str:
        """The machine code as assembly (made again from the optimized IR: the module this
        engine holds was compiled in a child process, or not at all when code was loaded)."""
        with _lock:  # (a target machine made on demand: each costs memory while it lives)
            module = llvm().parse_assembly(self.optimized_ir)
            return target_machine().emit_assembly(module)
