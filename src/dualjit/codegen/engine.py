"""The LLVM engine: host target machine, O3 with loop and SLP vectorization, MCJIT modules."""

from __future__ import annotations

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


def target_machine():
    """A fresh TargetMachine for the host CPU (an MCJIT engine takes ownership of the one it gets)."""
    binding = llvm()
    target = binding.Target.from_triple(binding.get_process_triple())
    return target.create_target_machine(cpu=binding.get_host_cpu_name(),
                                        features=binding.get_host_cpu_features().flatten(),
                                        opt=3, jit=True)


class CompiledModule:
    """An optimized, JIT-compiled LLVM module; keeps its engine alive while addresses are used."""

    def __init__(self, llvm_ir: str, name: str = "dualjit"):
        binding = llvm()
        with _lock:
            t0 = time.perf_counter()
            module = binding.parse_assembly(llvm_ir)
            module.name = name
            module.verify()
            tm = target_machine()
            module.triple = binding.get_process_triple()
            module.data_layout = str(tm.target_data)
            t1 = time.perf_counter()
            tuning = binding.create_pipeline_tuning_options(speed_level=3)
            tuning.loop_vectorization = True
            tuning.slp_vectorization = True
            builder = binding.create_pass_builder(tm, tuning)
            builder.getModulePassManager().run(module, builder)
            t2 = time.perf_counter()
            self._asm_tm = target_machine()
            self.engine = binding.create_mcjit_compiler(module, tm)
            self.engine.finalize_object()
            t3 = time.perf_counter()
        self.module = module
        self.timings = {"parse": t1 - t0, "optimize": t2 - t1, "codegen": t3 - t2}

    def address(self, name: str) -> int:
        return self.engine.get_function_address(name)

    @property
    def optimized_ir(self) -> str:
        return str(self.module)

    def asm(self) -> str:
        with _lock:
            return self._asm_tm.emit_assembly(self.module)
