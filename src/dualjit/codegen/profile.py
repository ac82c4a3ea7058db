"""Where a compiled function's time goes: each step (a native kernel, with the BLAS calls it
makes, or a host step) timed over calls, as a table of median time and share; with
nests=True, also each loop nest and library call inside the kernels (a probed build).

`jit(f).profile(*args)` times `repeats` calls of one specialization. With DUALJIT_PROFILE=1
every compiled function times its steps on each call (the fast call paths are off) and the
tables of the busiest functions are printed when the process exits.
"""

from __future__ import annotations

import atexit
import ctypes
import math
import os
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from . import blas, probes, threads
from .schedule import LOOP, REDUCE, KernelPlan, lowering, nbytes

ENABLED = os.environ.get("DUALJIT_PROFILE", "") not in ("", "0")
REPORTED_FUNCTIONS = 5  # tables printed at exit with DUALJIT_PROFILE=1


@dataclass
class StepRow:
    """One step of a compiled function and its median time per call."""

    kind: str  # "kernel" or "host step"
    name: str
    detail: str
    blas_calls: int
    blas_mflop: float
    seconds: float


@dataclass
class NestRow:
    """One group of a kernel (a loop nest, a reduction's loops, or a root such as a product's
    gemm calls) and its median time per call in the probed build."""

    kernel: str
    index: int  # its position among the kernel's groups (emission order)
    kind: str  # "loop nest", "reduction", "gemm", or the root's primitive
    detail: str
    blas_calls: int
    blas_mflop: float
    written_mb: float  # the bytes the group stores (its materialized values)
    seconds: float


@dataclass
class Profile:
    """The steps of one compiled function, their median times, and the call's median total
    (the difference is argument checks, dispatch and freeing values between steps)."""

    rows: list[StepRow]
    total: float
    calls: int
    steps_total: float = field(init=False)
    nests: list[NestRow] = field(default_factory=list)  # profile(..., nests=True)
    probed_kernels: dict[str, float] = field(default_factory=dict)  # probed build's medians
    # each probed kernel's median over calls of its groups' total (each call's total is
    # within that call's time; the groups' own medians may add up to less under load)
    probed_inside: dict[str, float] = field(default_factory=dict)
    unprobed: list[str] = field(default_factory=list)  # kernels split in chunks: whole only

    def __post_init__(self):
        self.steps_total = sum(r.seconds for r in self.rows)

    @property
    def overhead(self) -> float:
        return max(0.0, self.total - self.steps_total)

    def share(self, row: StepRow) -> float:
        whole = self.steps_total + self.overhead
        return row.seconds / whole if whole > 0 else 0.0

    def __str__(self) -> str:
        lines = [f"{self.calls} calls, median {self.total * 1e3:.3f} ms per call",
                 f"{'step':<26} {'kind':<10} {'BLAS calls':>10} {'MFLOP':>9} {'ms':>9} "
                 f"{'share':>6}  what"]
        for row in sorted(self.rows, key=lambda r: -r.seconds):
            lines.append(f"{row.name[:26]:<26} {row.kind:<10} {row.blas_calls:>10} "
                         f"{row.blas_mflop:>9.2f} {row.seconds * 1e3:>9.3f} "
                         f"{self.share(row):>6.1%}  {row.detail}")
        whole = self.steps_total + self.overhead
        lines.append(f"{'(calling overhead)':<26} {'python':<10} {'':>10} {'':>9} "
                     f"{self.overhead * 1e3:>9.3f} "
                     f"{(self.overhead / whole if whole else 0):>6.1%}  argument checks, "
                     "dispatch, freeing")
        for kernel, seconds in self.probed_kernels.items():
            lines += nest_table(kernel, seconds, self.probed_inside.get(kernel, 0.0),
                                [r for r in self.nests if r.kernel == kernel])
        for kernel in self.unprobed:
            lines.append(f"inside {kernel}: not probed (split in chunks across threads; "
                         "timed as a whole above)")
        return "\n".join(lines)


def nest_table(kernel: str, seconds: float, inside: float, nests: list[NestRow]) -> list[str]:
    """The lines of one kernel's groups, slowest first, with their share of the kernel."""
    lines = [f"inside {kernel} (probed build: median {seconds * 1e3:.3f} ms per call, "
             f"{inside * 1e3:.3f} ms in its {len(nests)} groups)",
             f"{'#':>4} {'group':<12} {'BLAS calls':>10} {'MFLOP':>9} {'MB out':>7} "
             f"{'ms':>9} {'share':>6}  what"]
    for r in sorted(nests, key=lambda r: -r.seconds):
        lines.append(f"{r.index:>4} {r.kind[:12]:<12} {r.blas_calls:>10} {r.blas_mflop:>9.2f} "
                     f"{r.written_mb:>7.2f} {r.seconds * 1e3:>9.3f} "
                     f"{(r.seconds / seconds if seconds else 0):>6.1%}  {r.detail}")
    return lines


def _describe(step) -> tuple[str, str, str, int, float]:
    """(kind, name, what it does, BLAS calls, BLAS MFLOP) of a runtime step."""
    if isinstance(step.plan, KernelPlan):
        eqns = step.segment.eqns
        gemms = [e for e in eqns  # gemm (products, im2col convolutions) and LAPACK calls
                 if (lowering(e.primitive).library or (lambda e: None))(e) in ("gemm", "lapack")]
        ops = Counter(e.primitive.name for e in eqns)
        what = ", ".join(f"{n}x{name}" if n > 1 else name for name, n in ops.most_common(4))
        if len(ops) > 4:
            what += ", ..."
        split = " (split in chunks)" if step.flat is not None else ""
        return ("kernel", step.plan.name, what + split, len(gemms),
                2 * threads.blas_flops(gemms) / 1e6)
    eqn = step.eqn
    flops = threads.blas_flops([eqn])
    return ("host step", eqn.primitive.name, step.plan.reason, 1 if flops else 0,
            2 * flops / 1e6)


def timed_call(compiled, arrays, samples: list[list[float]], steps=None) -> dict:
    """Run compiled's steps (or `steps`, bound to another build of its plan) on checked
    arrays, appending each step's time to samples[i]."""
    fn = compiled.function
    env = dict(zip(fn.inputs, arrays))
    env.update(compiled.consts)  # (native-byte-order copies of fn.consts)
    for i, (step, dead) in enumerate(zip(steps or compiled.steps, compiled.plan.dead_after)):
        start = time.perf_counter()
        step.run(env)
        samples[i].append(time.perf_counter() - start)
        for v in dead:
            env.pop(v, None)
    return env


def summarize(compiled, samples: list[list[float]], totals: list[float]) -> Profile:
    rows = []
    for step, times in zip(compiled.steps, samples):
        kind, name, detail, calls, mflop = _describe(step)
        rows.append(StepRow(kind, name, detail, calls, mflop,
                            statistics.median(times) if times else 0.0))
    return Profile(rows, statistics.median(totals) if totals else 0.0, len(totals))


def profile(compiled, args, repeats: int = 10, nests: bool = False) -> Profile:
    """Time `repeats` calls of compiled on args, step by step; nests: also each group inside
    its kernels, in a probed build of the same plan (compiled now, once per call of this)."""
    if repeats < 1:
        raise ValueError(f"profile: repeats must be >= 1, got {repeats}")
    samples: list[list[float]] = [[] for _ in compiled.steps]
    totals = []
    compiled(*args)  # warm up (first-call costs are not the steady state)
    for _ in range(repeats):
        start = time.perf_counter()
        timed_call(compiled, compiled.check_arguments(args), samples)
        totals.append(time.perf_counter() - start)
    result = summarize(compiled, samples, totals)
    if nests:
        result.nests, result.probed_kernels, result.probed_inside = probed_profile(
            compiled, args, repeats)
        result.unprobed = [s.plan.name for s in compiled.steps
                           if isinstance(s.plan, KernelPlan) and s.flat is not None]
    return result


# ---------------------------------------------------------------------------------------------
# Inside kernels: a probed build counts the cycles of each group (codegen/probes.py)
# ---------------------------------------------------------------------------------------------

_cycle_rate: float | None = None


def cycles_per_second(module) -> float:
    """The cycle counter's rate, measured once against the clock over ~20 ms."""
    global _cycle_rate
    if _cycle_rate is None:
        cycles = ctypes.CFUNCTYPE(ctypes.c_int64)(module.address(probes.CYCLES_FUNCTION))
        c0, t0 = cycles(), time.perf_counter()
        while time.perf_counter() - t0 < 0.02:
            pass
        c1, t1 = cycles(), time.perf_counter()
        if c1 <= c0:
            raise RuntimeError("profile(nests=True): this CPU's cycle counter does not count "
                               "(llvm.readcyclecounter reads 0); time kernels as a whole")
        _cycle_rate = (c1 - c0) / (t1 - t0)
    return _cycle_rate


def describe_group(segment, group) -> tuple[str, str, int, float]:
    """(kind, what it computes, BLAS calls, BLAS MFLOP) of one group of a kernel."""
    eqns = segment.fused_into(group) if group.kind in (LOOP, REDUCE) else group.eqns
    ops = Counter(e.primitive.name for e in eqns)
    what = ", ".join(f"{n}x{name}" if n > 1 else name for name, n in ops.most_common(5))
    what += ", ..." if len(ops) > 5 else ""
    if group.kind == LOOP:
        return "loop nest", f"{group.values[0].type}: {what}", 0, 0.0
    if group.kind == REDUCE:
        return "reduction", f"{group.eqns[0].inputs[0].type}: {what}", 0, 0.0
    eqn = group.eqns[0]
    if group.library == "gemm" and eqn.primitive.name == "dot_general":  # (convs: below)
        lhs, rhs = eqn.inputs
        layout = blas.gemm_layout(lhs.type.shape, rhs.type.shape,
                                  eqn.params["dimension_numbers"])
        calls = math.prod(loop[0] for loop in layout.batch)
        shape = f"{layout.m}x{layout.n}x{layout.k}"
        flops = 2 * calls * layout.m * layout.n * layout.k
        return "gemm", f"{calls} x {shape} ({eqn.outputs[0].type})", calls, flops / 1e6
    # (a convolution lowered to direct loops or dots calls no BLAS: conv_plan.library)
    flops = threads.blas_flops([eqn]) if group.library is not None else 0
    return eqn.primitive.name, what, 1 if flops else 0, 2 * flops / 1e6


def probed_profile(compiled, args, repeats: int) -> tuple[list[NestRow], dict, dict]:
    """Each kernel group's median seconds per call over `repeats` calls of a probed build,
    each probed kernel's median, and the median of its groups' total per call; kernels split
    into chunks are timed whole only."""
    steps, module = compiled.probed_steps()
    if module is None:
        return [], {}, {}
    rate = cycles_per_second(module)
    kernels = [(i, step) for i, step in enumerate(steps)
               if isinstance(step.plan, KernelPlan) and step.flat is None]
    counters = {i: _counter_array(module, step) for i, step in kernels}
    samples: list[list[float]] = [[] for _ in steps]
    cycles = {i: [] for i, _ in kernels}
    timed_call(compiled, compiled.check_arguments(args), samples, steps)  # warm up
    for _ in range(repeats):
        before = {i: list(c) for i, c in counters.items()}
        timed_call(compiled, compiled.check_arguments(args), samples, steps)
        for i, c in counters.items():
            cycles[i].append([now - was for now, was in zip(c, before[i])])
    rows = []
    for i, step in kernels:
        for g, group in enumerate(step.segment.groups):
            kind, what, calls, mflop = describe_group(step.segment, group)
            written = sum(nbytes(v.type) for v in group.values) / 1e6
            seconds = statistics.median(per_call[g] for per_call in cycles[i]) / rate
            rows.append(NestRow(step.plan.name, g, kind, what, calls, mflop, written, seconds))
    medians = {step.plan.name: statistics.median(samples[i][1:]) for i, step in kernels}
    inside = {step.plan.name: statistics.median(sum(c) for c in cycles[i]) / rate
              for i, step in kernels}
    return rows, medians, inside


def _counter_array(module, step):
    address = ctypes.CFUNCTYPE(ctypes.c_void_p)(
        module.address(probes.counters_function(step.plan.name)))()
    return (ctypes.c_int64 * max(1, len(step.segment.groups))).from_address(address)


# ---------------------------------------------------------------------------------------------
# DUALJIT_PROFILE=1: every call timed, the busiest functions reported at exit
# ---------------------------------------------------------------------------------------------

_records: dict[int, tuple] = {}  # id(compiled) -> (compiled, step samples, call totals)
_records_lock = threading.Lock()


def record(compiled, samples: list[list[float]], total: float) -> None:
    with _records_lock:
        entry = _records.get(id(compiled))
        if entry is None:
            entry = _records[id(compiled)] = (compiled, [[] for _ in compiled.steps], [])
        for mine, new in zip(entry[1], samples):
            mine.extend(new)
        entry[2].append(total)


def report(stream=None) -> str:
    """The tables of the functions with the most total time (what DUALJIT_PROFILE prints)."""
    with _records_lock:
        entries = sorted(_records.values(), key=lambda e: -sum(e[2]))[:REPORTED_FUNCTIONS]
    parts = []
    for compiled, samples, totals in entries:
        name = compiled.function.text.splitlines()[0][:80] if compiled.function.eqns else "?"
        parts.append(f"== dualjit profile: {name}\n"
                     f"   total {sum(totals) * 1e3:.1f} ms over {len(totals)} calls\n"
                     f"{summarize(compiled, samples, totals)}")
    text = "\n\n".join(parts)
    if stream is not None and text:
        print(text, file=stream)
    return text


if ENABLED:
    atexit.register(lambda: report(sys.stderr))
