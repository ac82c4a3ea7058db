"""Probes of a profiling build: a cycle counter read around each loop nest and library call of
a kernel, the cycles added into a counter per group (a module global), for codegen/profile.py.

A probed kernel is the same code as the normal one plus two counter reads and one add per
group of its Segment (the groups are what lower.KernelBuilder.emit_body emits in turn), so the
loops inside are optimized exactly as without probes. The counters are read through
`<kernel>_probes()` (the address of the kernel's counter array) and converted to seconds by
`dualjit_cycles()` measured against the clock (profile.cycles_per_second).
"""

from __future__ import annotations

from llvmlite import ir as L

I64 = L.IntType(64)
PTR = L.PointerType()
CYCLES_FUNCTION = "dualjit_cycles"


def counters_function(kernel: str) -> str:
    """The name of the function returning the address of `kernel`'s counter array."""
    return kernel + "_probes"


def _cycle_counter(module: L.Module) -> L.Function:
    return module.declare_intrinsic("llvm.readcyclecounter", (), L.FunctionType(I64, []))


def _exported(module: L.Module, name: str, returns: L.Type) -> L.IRBuilder:
    fn = L.Function(module, L.FunctionType(returns, []), name)
    fn.attributes.add("nounwind")
    return L.IRBuilder(fn.append_basic_block("entry"))


def add_cycles_function(module: L.Module) -> None:
    """`i64 dualjit_cycles()`: the cycle counter now (for calibration against the clock)."""
    if CYCLES_FUNCTION not in module.globals:
        b = _exported(module, CYCLES_FUNCTION, I64)
        b.ret(b.call(_cycle_counter(module), []))


class KernelProbes:
    """The counters of one kernel: `count` i64 cycle totals, one per group."""

    def __init__(self, module: L.Module, kernel: str, count: int):
        self.module = module
        array = L.ArrayType(I64, max(count, 1))
        self.counters = L.GlobalVariable(module, array, name=kernel + ".probe_counters")
        self.counters.initializer = L.Constant(array, None)
        self.counters.linkage = "internal"
        b = _exported(module, counters_function(kernel), PTR)
        b.ret(self.counters)
        add_cycles_function(module)

    def start(self, b: L.IRBuilder) -> L.Value:
        return b.call(_cycle_counter(self.module), [])

    def stop(self, b: L.IRBuilder, index: int, started: L.Value) -> None:
        """counters[index] += cycles since `started` (a plain add: one kernel call at a time
        is probed, see profile.probed_profile)."""
        elapsed = b.sub(b.call(_cycle_counter(self.module), []), started)
        slot = b.gep(self.counters, [L.Constant(I64, 0), L.Constant(I64, index)], inbounds=True)
        b.store(b.add(b.load(slot), elapsed), slot)
