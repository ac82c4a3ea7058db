"""What a dj.compile'd training step costs around its kernel call, for T1 and T2.

`python -m benchmarks.compile_overhead [passes] [--cold]`: T1 (benchmarks/torch_api.py's
polynomial fit, RMSprop, 2000 steps a pass) and T2 (its MLP epoch, 60 steps a pass; five
epochs a pass), compiled and warmed; each pass times the whole steps and, by wrapping the
program's compiled callable, the kernel calls; the rest is the time around the kernel (the
guard re-check, gathering inputs, storing outputs, making the result tensors). Prints the
median over `passes` of the time per step around the kernel and in it, and the load
average. `--cold`: instead, with a stand-in kernel (fresh empty outputs of the real shapes)
and an 8 MB sweep before each call, the median call time with and without the sweep (how
much of the around-time is the interpreter's data and code coming back into the caches
after a kernel has evicted them).
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np

from . import torch_api


def _compiled(name: str):
    """The compiled, warmed step of T1 or T2 and the argument tuples of one pass."""
    import dualjit as dj

    if name == "T1":
        step, data = torch_api.poly_setup(dj)
        calls = [data] * torch_api.STEPS
    else:
        step, batches = torch_api.mlp_setup(dj)
        calls = list(batches) * 5
    step = dj.compile(step)
    for args in calls[:torch_api.BATCHES] if name == "T2" else calls[:5]:  # trace, compile
        step(*args)
    (program,) = step._programs.values()
    return step, program, calls


def around(name: str, passes: int) -> tuple[float, float]:
    """Median us per step around the kernel call and in it."""
    step, program, calls = _compiled(name)
    call = program.compiled
    inside = [0.0]

    def timed(values):
        start = time.perf_counter()
        try:
            return call(values)
        finally:
            inside[0] += time.perf_counter() - start
    program.compiled = timed
    samples = []
    try:
        for _ in range(passes):
            inside[0] = 0.0
            start = time.perf_counter()
            for args in calls:
                step(*args)
            total = time.perf_counter() - start
            samples.append(((total - inside[0]) / len(calls), inside[0] / len(calls)))
    finally:
        program.compiled = call
    return (statistics.median(s[0] for s in samples) * 1e6,
            statistics.median(s[1] for s in samples) * 1e6)


def cold(name: str, calls: int = 3000) -> tuple[float, float]:
    """Median us of one call with a stand-in kernel: after an 8 MB sweep, and hot."""
    step, program, all_calls = _compiled(name)
    args = all_calls[0]
    values = [a._value for a in args] + [t._value for t in program.state]
    values += [t._grad._value for t in program.lifted]
    values += [np.asarray(make(), dtype) for make, dtype in program.makers]
    specs = [(o.shape, o.dtype) for o in program.compiled(values)]
    del values
    program.compiled = lambda values: [np.empty(s, d) for s, d in specs]
    sweep = np.ones(2_000_000, np.float32)

    def one(evict: bool) -> float:
        if evict:
            sweep.sum()
        start = time.perf_counter()
        step(*args)
        return time.perf_counter() - start
    return tuple(statistics.median(one(evict) for _ in range(calls)) * 1e6
                 for evict in (True, False))


def main(argv: list[str]) -> None:
    passes = int(next((a for a in argv if a.isdigit()), "5"))
    for name in ("T1", "T2"):
        if "--cold" in argv:
            after_sweep, hot = cold(name)
            print(f"{name}: a call with a stand-in kernel {after_sweep:.1f} us after an 8 MB "
                  f"sweep, {hot:.1f} us hot")
        else:
            outside, inside = around(name, passes)
            print(f"{name}: {outside:.1f} us a step around the kernel call, {inside:.1f} us in "
                  f"it (medians of {passes} passes)")
    print("load average:", ", ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main(sys.argv[1:])
