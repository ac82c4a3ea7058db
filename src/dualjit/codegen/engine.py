"""The LLVM engine: host target machine, O3 with loop and SLP vectorization, MCJIT modules.

Object code compiled before (the disk cache, DUALJIT_CACHE_DIR, or an exported program's) skips
optimization and code generation; `object_cache` decides what may be loaded.
"""

from __future__ import annotations

import threading
import time

from . import object_cache

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
    binding = llvm()
    target = binding.Target.from_triple(binding.get_process_triple())
    return target.create_target_machine(cpu=binding.get_host_cpu_name(),
                                        features=binding.get_host_cpu_features().flatten(),
                                        opt=opt, jit=True)


def _optimize(module, tm) -> None:
    """O3 with loop and SLP vectorization, in place."""
    binding = llvm()
    tuning = binding.create_pipeline_tuning_options(speed_level=3)
    tuning.loop_vectorization = True
    tuning.slp_vectorization = True
    builder = binding.create_pass_builder(tm, tuning)
    builder.getModulePassManager().run(module, builder)


def _optimized_text(module, llvm_ir: str, name: str, codegen_opt: int):
    """The optimized IR's text: printed now when the disk cache will store it, otherwise a
    function making it on demand (a dump, an export) by optimizing llvm_ir again, since code
    generation changes `module` in place. Few compiles need the text, and printing costs
    about as much as parsing; the pipeline is deterministic, so both give the same text."""
    if object_cache.usable_cache_dir():
        return str(module)

    def text() -> str:
        with _lock:
            again, tm = CompiledModule._parse(llvm_ir, name, codegen_opt)
            _optimize(again, tm)
            return str(again)
    return text


class CompiledModule:
    """An optimized, JIT-compiled LLVM module; keeps its engine alive while addresses are used."""

    def __init__(self, llvm_ir: str, name: str = "dualjit", codegen_opt: int = 3):
        binding = llvm()
        key = object_cache.module_key(llvm_ir, codegen_opt)
        with _lock:
            t0 = time.perf_counter()
            module, tm = self._parse(llvm_ir, name, codegen_opt)
            symbols = object_cache.defined_symbols(module)
            t1 = time.perf_counter()
            found = object_cache.lookup(key, symbols)
            if found is not None:
                self.engine = self._link(module, tm, found.code, symbols)
                if self.engine is None:  # an unresolved symbol: never call into such code
                    found = None
                    module, tm = self._parse(llvm_ir, name, codegen_opt)
            object_cache.note_link(found, emitted=True)
            if found is None:
                _optimize(module, tm)
                optimized = _optimized_text(module, llvm_ir, name, codegen_opt)
                t2 = time.perf_counter()
                self.engine = binding.create_mcjit_compiler(module, tm)
                produced: list[bytes] = []
                self.engine.set_object_cache(
                    notify_func=lambda _module, code: produced.append(bytes(code)))
                self.engine.finalize_object()
                self.object_code = object_cache.ObjectCode(key, symbols, produced[0], optimized)
                object_cache.store(self.object_code)
            else:
                self.object_code = found
            t3 = time.perf_counter()
        self.module = module
        self.cache_hit = found is not None
        if found is None:
            self.timings = {"parse": t1 - t0, "optimize": t2 - t1, "codegen": t3 - t2}
        else:
            self.timings = {"parse": t1 - t0, "disk cache load": t3 - t1}

    @staticmethod
    def _parse(llvm_ir: str, name: str, codegen_opt: int):
        binding = llvm()
        module = binding.parse_assembly(llvm_ir)
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
        with _lock:  # (a target machine made on demand: each costs memory while it lives)
            if self.cache_hit:  # the module was not optimized here: print the cached IR's code
                module = llvm().parse_assembly(self.optimized_ir)
                return target_machine().emit_assembly(module)
            return target_machine().emit_assembly(self.module)
