"""Which functions of a module get LLVM's fast machine code (after full IR optimization).

A training step is one kernel of dozens of loop nests around a few gemm calls (the MLP step of
benchmarks/torch_api.py: 30 nests, five products). Its small loops run for microseconds each,
yet LLVM's machine-code generation at full level (instruction selection by SelectionDAG, the
greedy register allocator, loop strength reduction, scheduling) costs about as much as all
of its IR optimization: 63-73 ms of the step's ~150 ms in LLVM. So the kernel function of a
*light* kernel is marked (a string attribute, FAST_MACHINE_CODE), is optimized at O3 like
every function, and then gets `optnone` (compile_worker.optimize), which makes LLVM generate
its machine code at its fastest level (FastISel, no scheduling) while the module's other
functions, among them the split nests that hold a step's large loops, keep the full level.

Light: more than schedule.MANY_LOOPS loop nests, none of which, inside the kernel function
itself, is large enough to be unrolled (schedule.UNROLL_MIN_ELEMENTS) or has a loop structure
of its own (a ROOT such as a direct convolution or a window, or control flow). Measured on
the MLP step (2026-12-01): its machine code 63 -> 40 ms of CPU; its small loops take ~30 us a
step more (1.6 ms a step, gemm-bound); its large update nest is split out and unchanged.
The kernel's Python entries (pycall.py) are not optimized at all (`mark_unoptimized`).
"""

from __future__ import annotations

from . import compile_worker
from .schedule import LOOP, MANY_LOOPS, REDUCE, TUNED, Segment

# The marks, spelled once, where compile_worker.optimize reads them.
FAST_MACHINE_CODE = compile_worker.FAST_MACHINE_CODE.decode()
UNOPTIMIZED = compile_worker.UNOPTIMIZED.decode()


def light_kernel(segment: Segment) -> bool:
    """Whether a kernel's own function may get fast machine code (see the module docstring)."""
    looped = [g for g in segment.groups if g.library is None]
    if len(looped) <= MANY_LOOPS:
        return False
    return all(g.split is not None or (g.kind in (LOOP, REDUCE) and g.loops != TUNED
                                       and not g.bodies) for g in looped)


def mark_fast(fn) -> None:
    """Mark an llvmlite.ir Function for fast machine code (a string attribute, which
    llvmlite's attribute set does not list, hence set.add)."""
    set.add(fn.attributes, FAST_MACHINE_CODE)


def mark_unoptimized(fn) -> None:
    """Mark an llvmlite.ir Function to be left unoptimized (IR and machine code): for a
    light kernel's Python entries, straight-line glue run once per call (~0.1 us unoptimized
    against a kernel of a millisecond) whose optimization took ~10-17 ms of the MLP step's."""
    set.add(fn.attributes, UNOPTIMIZED)
