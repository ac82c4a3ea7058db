"""The LLVM engine: host target machine, O3 with loop and SLP vectorization, MCJIT modules.

An optional on-disk cache of object code (DUALJIT_CACHE_DIR=path) skips optimization and code
generation for a module compiled before: the key is a hash of the module's LLVM IR text, the
llvmlite and LLVM versions, and the host CPU's name and features; each entry carries a checksum
of its object code, and an entry that does not match it is ignored (and rewritten).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time

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


def target_machine(opt: int = 3):
    """A fresh TargetMachine for the host CPU (an MCJIT engine takes ownership of the one it gets).

    `opt` is the machine-code generation level; the IR is optimized at O3 either way."""
    binding = llvm()
    target = binding.Target.from_triple(binding.get_process_triple())
    return target.create_target_machine(cpu=binding.get_host_cpu_name(),
                                        features=binding.get_host_cpu_features().flatten(),
                                        opt=opt, jit=True)


CACHE_FORMAT = 1


def cache_dir() -> str | None:
    return os.environ.get("DUALJIT_CACHE_DIR") or None


def _cache_key(llvm_ir: str, codegen_opt: int) -> str:
    import llvmlite

    binding = llvm()
    parts = [str(CACHE_FORMAT), str(codegen_opt), llvmlite.__version__, str(binding.llvm_version_info),
             binding.get_process_triple(), binding.get_host_cpu_name(),
             binding.get_host_cpu_features().flatten(), llvm_ir]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


class _DiskEntry:
    """One cache entry: <key>.o (checksum line + object code) and <key>.ll (optimized IR)."""

    def __init__(self, directory: str, key: str):
        self.directory = directory
        self.object_path = os.path.join(directory, key + ".o")
        self.ir_path = os.path.join(directory, key + ".ll")

    def load(self) -> tuple[bytes, str] | None:
        try:
            with open(self.object_path, "rb") as f:
                digest, _, code = f.read().partition(b"\n")
            with open(self.ir_path, encoding="utf-8") as f:
                optimized = f.read()
        except OSError:
            return None
        if not code or hashlib.sha256(code).hexdigest().encode() != digest:
            return None  # truncated or corrupted: never hand such bytes to the linker
        return code, optimized

    def store(self, code: bytes, optimized: str) -> None:
        try:
            os.makedirs(self.directory, exist_ok=True)
            self._write(self.ir_path, optimized.encode("utf-8"))
            self._write(self.object_path, hashlib.sha256(code).hexdigest().encode() + b"\n" + code)
        except OSError:
            pass  # a cache that cannot be written is only a slower start

    def _write(self, path: str, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)  # atomic: readers see the old file or the whole new one


class CompiledModule:
    """An optimized, JIT-compiled LLVM module; keeps its engine alive while addresses are used."""

    def __init__(self, llvm_ir: str, name: str = "dualjit", codegen_opt: int = 3):
        binding = llvm()
        directory = cache_dir()
        entry = _DiskEntry(directory, _cache_key(llvm_ir, codegen_opt)) if directory else None
        with _lock:
            t0 = time.perf_counter()
            module = binding.parse_assembly(llvm_ir)
            module.name = name
            module.verify()
            tm = target_machine(codegen_opt)
            module.triple = binding.get_process_triple()
            module.data_layout = str(tm.target_data)
            t1 = time.perf_counter()
            cached = entry.load() if entry else None
            if cached is None:
                tuning = binding.create_pipeline_tuning_options(speed_level=3)
                tuning.loop_vectorization = True
                tuning.slp_vectorization = True
                builder = binding.create_pass_builder(tm, tuning)
                builder.getModulePassManager().run(module, builder)
                self._optimized = str(module)
            else:
                self._optimized = cached[1]
            t2 = time.perf_counter()
            self._asm_tm = target_machine()
            self.engine = binding.create_mcjit_compiler(module, tm)
            produced: list[bytes] = []
            if entry is not None:
                self.engine.set_object_cache(
                    notify_func=lambda _module, code: produced.append(bytes(code)),
                    getbuffer_func=lambda _module: cached[0] if cached else None)
            self.engine.finalize_object()
            t3 = time.perf_counter()
            if entry is not None and cached is None and produced:
                entry.store(produced[0], self._optimized)
        self.module = module
        self.cache_hit = cached is not None
        if cached is None:
            self.timings = {"parse": t1 - t0, "optimize": t2 - t1, "codegen": t3 - t2}
        else:
            self.timings = {"parse": t1 - t0, "disk cache load": t3 - t1}

    def address(self, name: str) -> int:
        return self.engine.get_function_address(name)

    @property
    def optimized_ir(self) -> str:
        return self._optimized

    def asm(self) -> str:
        with _lock:
            if self.cache_hit:  # the module was not optimized here: print the cached IR's code
                module = llvm().parse_assembly(self._optimized)
                return self._asm_tm.emit_assembly(module)
            return self._asm_tm.emit_assembly(self.module)
