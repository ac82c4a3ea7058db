"""Where a compiled function's time goes: each step (a native kernel, with the BLAS calls it
makes, or a host step) timed over calls, as a table of median time and share.

`jit(f).profile(*args)` times `repeats` calls of one specialization. With DUALJIT_PROFILE=1
every compiled function times its steps on each call (the fast call paths are off) and the
tables of the busiest functions are printed when the process exits.
"""

from __future__ import annotations

import atexit
import os
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from . import threads
from .schedule import KernelPlan, lowering

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
class Profile:
    """The steps of one compiled function, their median times, and the call's median total
    (the difference is argument checks, dispatch and freeing values between steps)."""

    rows: list[StepRow]
    total: float
    calls: int
    steps_total: float = field(init=False)

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
        return "\n".join(lines)


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


def timed_call(compiled, arrays, samples: list[list[float]]) -> dict:
    """Run compiled's steps on checked arrays, appending each step's time to samples[i]."""
    fn = compiled.function
    env = dict(zip(fn.inputs, arrays))
    env.update(compiled.consts)  # (native-byte-order copies of fn.consts)
    for i, (step, dead) in enumerate(zip(compiled.steps, compiled.plan.dead_after)):
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


def profile(compiled, args, repeats: int = 10) -> Profile:
    """Time `repeats` calls of compiled on args, step by step."""
    if repeats < 1:
        raise ValueError(f"profile: repeats must be >= 1, got {repeats}")
    samples: list[list[float]] = [[] for _ in compiled.steps]
    totals = []
    compiled(*args)  # warm up (first-call costs are not the steady state)
    for _ in range(repeats):
        start = time.perf_counter()
        timed_call(compiled, compiled.check_arguments(args), samples)
        totals.append(time.perf_counter() - start)
    return summarize(compiled, samples, totals)


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
