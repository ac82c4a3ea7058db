"""How much LLVM work a kernel's own function gets (schedule.KernelPlan.code), and the marks
that tell compile_worker.optimize.

A training step is one kernel of dozens of loop nests around a few gemm calls (the MLP step of
benchmarks/torch_api.py: 25 groups, five products). Its small loops run for microseconds each,
yet LLVM spends most of the step's compile time on them. Three treatments (schedule.py
decides, from the plan alone):

FULL_CODE: O3 and full machine code, for every kernel that is not light.

FAST_CODE (a light kernel: more than schedule.MANY_LOOPS loop nests, none of which, inside
the kernel function itself, is large enough to be unrolled (schedule.UNROLL_MIN_ELEMENTS) or
has a loop structure of its own (a ROOT such as a direct convolution or a window, or control
flow)): the kernel function is marked FAST_MACHINE_CODE, optimized at O3 like every function,
and then gets `optnone` (compile_worker.optimize), which makes LLVM generate its machine code
at its fastest level (FastISel, no scheduling); its split nests keep the full level. Measured
on the MLP step (2026-12-01): its machine code 63 -> 40 ms of CPU, its small loops ~30 us a
step slower (1.6 ms a step, gemm-bound).

UNOPTIMIZED_CODE (a light kernel whose time is in gemm calls: their multiply-adds at least
schedule.LIBRARY_BOUND times the elements of its unvectorized loops, and no other library call,
whose own loops would run unoptimized too): the kernel function is
marked UNOPTIMIZED and LLVM does not optimize it at all; its vectorized loops (at least
schedule.VECTORIZE_MIN_ELEMENTS elements) become functions of their own (Group.outlined),
optimized like split nests; and when every kernel of the plan is such, the module's machine
code is generated at level 0 (schedule.Plan.codegen_level), which costs a quarter of level 3
and runs these memory-bound vectorized nests as fast. Measured on the MLP step (2026-12-01,
CPU time of the module's optimization and code generation, medians of 15 interleaved
compiles on a loaded machine): 77-82 ms as FAST_CODE, 36-40 ms so. Its unvectorized loops
take ~20 us a step more (22-28 -> 40-52 us at one thread; unoptimized code recomputes in
the inner loop what LLVM would hoist, such as a row's log), its outlined loops ~4 us more
(machine code at level 0), its split nest and gemm calls the same: the step ~2% slower
(schedule.LIBRARY_BOUND keeps it within about that).

A light kernel's Python entries (pycall.py) are not optimized at all (`mark_unoptimized`).
"""

from __future__ import annotations

from . import compile_worker

# The marks, spelled once, where compile_worker.optimize reads them.
FAST_MACHINE_CODE = compile_worker.FAST_MACHINE_CODE.decode()
UNOPTIMIZED = compile_worker.UNOPTIMIZED.decode()


def mark_fast(fn) -> None:
    """Mark an llvmlite.ir Function for fast machine code (a string attribute, which
    llvmlite's attribute set does not list, hence set.add)."""
    set.add(fn.attributes, FAST_MACHINE_CODE)


def mark_unoptimized(fn) -> None:
    """Mark an llvmlite.ir Function to be left unoptimized (IR and machine code): an
    unoptimized kernel's function, and a light kernel's Python entries, straight-line glue run
    once per call (~0.1 us unoptimized against a kernel of a millisecond) whose optimization
    took ~10-17 ms of the MLP step's."""
    set.add(fn.attributes, UNOPTIMIZED)
