"""python -m benchmarks.loop_modes OLD_PYTHON [--processes N] [--calls C].

How often each environment's process lands in the slow mode of "W1 cubic fit, 2000 steps in
one jit" (README, issue 9 A/B section): the same kernel runs at ~0.53 cycles per element in
some processes and 0.6-0.7 in others, on this checkout and on OLD_PYTHON's dualjit alike. Runs
N fresh processes of each environment, alternating; each builds W1's jitted loop, then times C
calls by CPU clock, alternating with a calibration loop (a chain of dependent float64 FMAs,
four cycles each on current x86 cores, compiled with llvmlite) that gives the clock it ran
at. Prints each process's median call time, its clock, the cycles per element, and per
environment how many processes were more than 15% slower than the fastest process seen.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

CHILD = r"""
import ctypes, json, sys, time
sys.path.insert(0, sys.argv[1])
from benchmarks import workloads
workloads.have = lambda module: False
import llvmlite.binding as llvm
llvm.initialize_native_target(); llvm.initialize_native_asmprinter()
IR = '''
define double @chain(double %x0, i64 %n) {
entry:
  br label %loop
loop:
  %i = phi i64 [0, %entry], [%i1, %loop]
  %x = phi double [%x0, %entry], [%x1, %loop]
  %x1 = call double @llvm.fma.f64(double %x, double 0.999999, double 1.0e-7)
  %i1 = add i64 %i, 1
  %c = icmp slt i64 %i1, %n
  br i1 %c, label %loop, label %exit
exit:
  ret double %x1
}
declare double @llvm.fma.f64(double, double, double)
'''
target = llvm.Target.from_default_triple().create_target_machine(
    cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten())
engine = llvm.create_mcjit_compiler(llvm.parse_assembly(IR), target)
engine.finalize_object()
chain = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double, ctypes.c_int64)(
    engine.get_function_address("chain"))
run = workloads.WORKLOADS["W1 cubic fit, 2000 steps in one jit"]()["dualjit"]
LINKS = 500_000
kernel, clock = [], []
for _ in range(int(sys.argv[2])):
    t0 = time.process_time_ns(); chain(1.0, LINKS); t1 = time.process_time_ns()
    run(); t2 = time.process_time_ns()
    clock.append(4 * LINKS / (t1 - t0)); kernel.append((t2 - t1) / 1e3)
print(json.dumps({"us": sorted(kernel)[len(kernel) // 2], "ghz": sorted(clock)[len(clock) // 2]}))
"""

ELEMENTS = 2000 * 2000  # steps x points of W1


def one_process(python: str, env: dict, calls: int) -> dict:
    out = subprocess.run([python, "-c", CHILD, str(ROOT), str(calls)], env=env, text=True,
                         capture_output=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old_python")
    parser.add_argument("--processes", type=int, default=12)
    parser.add_argument("--calls", type=int, default=60)
    args = parser.parse_args()
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    envs = {"new": (sys.executable, dict(clean, PYTHONPATH=str(ROOT / "src"))),
            "old": (args.old_python, clean)}
    results: dict[str, list[dict]] = {"new": [], "old": []}
    for i in range(args.processes):
        for label in ("new", "old") if i % 2 == 0 else ("old", "new"):
            r = one_process(*envs[label], args.calls)
            r["cycles"] = r["us"] * 1e3 * r["ghz"] / ELEMENTS
            results[label].append(r)
            print(f"{label} process {i + 1}: {r['us']:.0f} us, clock {r['ghz']:.2f} GHz, "
                  f"{r['cycles']:.3f} cycles/element", flush=True)
    fastest = min(r["us"] for rs in results.values() for r in rs)
    print(f"\nload average {os.getloadavg()[0]:.1f}; slow = over 1.15 x the fastest process "
          f"({fastest:.0f} us)")
    for label, rs in results.items():
        times = [r["us"] for r in rs]
        slow = sum(t > 1.15 * fastest for t in times)
        print(f"{label}: median {statistics.median(times):.0f} us, {slow} of {len(rs)} "
              f"processes slow, clock median {statistics.median(r['ghz'] for r in rs):.2f} GHz")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
