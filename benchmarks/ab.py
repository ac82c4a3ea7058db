"""python -m benchmarks.ab OLD_PYTHON [--passes N] [--only REGEX] [--clock cpu] [--noise] [--runs R].

Times dualjit's implementation of every workload in two environments, interleaved in one run:
this checkout (`src/` first on the path) and OLD_PYTHON, an interpreter whose environment has
another dualjit installed (for example a virtualenv with an older commit installed, not
editable). Each environment runs in a worker process that builds each workload once, then
the workers take turns, one repetition at a time (the order alternates every pass), so both
see the same machine load. Prints a table of medians, the ratio of the medians new / old
(below 1: this checkout is faster), the middle half (25th-75th percentile) of the per-pass
ratios (each pass times old and new back to back, so a pass's ratio sees one load), and the
load average while the workload ran: on a shared machine, a ratio whose middle half includes
1.00 is not a difference. --noise runs OLD_PYTHON against itself: how far from 1.00 ratios
stray with no difference at all. --runs R repeats the whole comparison R times, each with a
fresh pair of worker processes, and prints each workload's ratio per run, their median and how
many runs exceed 1.10: a difference that depends on the process (where its memory and stack
land) shows up only across processes, not across the passes of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

WORKER = r"""
import json, sys
sys.path.insert(0, sys.argv[1])  # the benchmarks package; dualjit comes from the environment
from benchmarks import workloads
workloads.have = lambda module: False  # dualjit only: no peers
import dualjit
print(json.dumps({"dualjit": dualjit.__file__}), flush=True)
import resource, time
def cpu_seconds():
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime
built = {}
for line in sys.stdin:
    command, name = json.loads(line)
    try:
        if command == "build":
            built[name] = workloads.WORKLOADS[name]()["dualjit"]
            reply = {"ok": True}
        elif command == "time":
            reply = {"seconds": workloads.time_once(built[name])}
        else:  # "cpu": CPU seconds of this process and of the children it waited for
            before = cpu_seconds()
            built[name]()
            reply = {"seconds": cpu_seconds() - before}
    except Exception as error:
        reply = {"error": f"{type(error).__name__}: {error}"}
    print(json.dumps(reply), flush=True)
"""


class Worker:
    def __init__(self, python: str, env: dict):
        self.process = subprocess.Popen([python, "-c", WORKER, str(ROOT)], env=env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.dualjit = json.loads(self.process.stdout.readline())["dualjit"]

    def ask(self, command: str, name: str) -> dict:
        self.process.stdin.write(json.dumps([command, name]) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def environments(old_python: str, noise: bool = False, cpu: int | None = None
                 ) -> dict[str, Worker]:
    """The two workers; noise=True: both run OLD_PYTHON's dualjit (the harness's noise floor);
    cpu: both pinned to that CPU (see --cpu)."""
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    new_env = dict(clean, PYTHONPATH=str(ROOT / "src"))
    new = Worker(old_python, clean) if noise else Worker(sys.executable, new_env)
    workers = {"new": new, "old": Worker(old_python, clean)}
    if cpu is not None:
        for worker in workers.values():
            os.sched_setaffinity(worker.process.pid, {cpu})
    return workers


def measure(workers: dict[str, Worker], name: str, passes: int, clock: str = "time"
            ) -> dict[str, list[float]]:
    for worker in workers.values():
        reply = worker.ask("build", name)
        if "error" in reply:
            raise RuntimeError(reply["error"])
    samples: dict[str, list[float]] = {label: [] for label in workers}
    order = list(workers)
    for i in range(passes):
        for label in order if i % 2 == 0 else order[::-1]:
            reply = workers[label].ask(clock, name)
            if "error" in reply:
                raise RuntimeError(reply["error"])
            samples[label].append(reply["seconds"])
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old_python", help="the interpreter of the other environment")
    parser.add_argument("--passes", type=int, default=7)
    parser.add_argument("--only", help="run workloads whose name matches this regular "
                        "expression (re.search), e.g. '^W[1-6] '")
    parser.add_argument("--clock", choices=("time", "cpu"), default="time",
                        help="time: wall-clock seconds (default); cpu: CPU seconds of the "
                        "worker and the child processes it waited for, less sensitive to other "
                        "load (threaded workloads add up their threads; a long-lived child, "
                        "such as dualjit's compile worker, is not counted)")
    parser.add_argument("--noise", action="store_true",
                        help="both workers run OLD_PYTHON's dualjit: ratios away from 1.00 are "
                        "the run-to-run noise of this machine and harness")
    parser.add_argument("--cpu", type=int, default=None,
                        help="pin both workers to this CPU: on a VM whose virtual CPUs are not "
                        "equally fast at a given moment, two unpinned workers each stay on "
                        "their own CPU and a run's ratio measures the CPUs, not the code "
                        "(for one-thread workloads: the pinned workers share one CPU)")
    parser.add_argument("--runs", type=int, default=1,
                        help="repeat the comparison this many times, each with fresh worker "
                        "processes, and summarize the per-run ratios")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from benchmarks.workloads import WORKLOADS

    if args.runs > 1:
        names = [n for n in WORKLOADS if not args.only or re.search(args.only, n)]
        return repeated(args, names)
    workers = environments(args.old_python, args.noise, args.cpu)
    print(f"new: {workers['new'].dualjit}\nold: {workers['old'].dualjit}\n"
          f"{args.passes} passes, {args.clock} clock"
          f"{'' if args.cpu is None else f', both on CPU {args.cpu}'}; "
          f"load average at the start {os.getloadavg()[0]:.1f}\n")
    print("| workload | old median | new median | new / old | per-pass ratios, middle half "
          "| load |\n|---|---:|---:|---:|---:|---:|")
    try:
        for name in WORKLOADS:
            if not args.only or re.search(args.only, name):
                print(row(name, workers, args.passes, args.clock), flush=True)
    finally:
        for worker in workers.values():
            worker.close()
    return 0


def repeated(args, names: list[str]) -> int:
    """--runs: each run a fresh pair of workers; per workload the ratio of medians of each run."""
    ratios: dict[str, list[float]] = {name: [] for name in names}
    loads = []
    for run in range(args.runs):
        workers = environments(args.old_python, args.noise, args.cpu)
        try:
            for name in names:
                samples = measure(workers, name, args.passes, args.clock)
                ratio = statistics.median(samples["new"]) / statistics.median(samples["old"])
                ratios[name].append(ratio)
                print(f"run {run + 1}: {name}: {ratio:.3f}", flush=True)
        finally:
            for worker in workers.values():
                worker.close()
        loads.append(os.getloadavg()[0])
    print(f"\n{args.runs} runs of {args.passes} passes, {args.clock} clock"
          f"{' (noise: old vs old)' if args.noise else ''}"
          f"{'' if args.cpu is None else f', both on CPU {args.cpu}'}; load average "
          f"{min(loads):.1f}-{max(loads):.1f}\n")
    print("| workload | median of run ratios | runs > 1.10 | lowest-highest |\n|---|---:|---:|---:|")
    for name, values in ratios.items():
        print(f"| {name} | {statistics.median(values):.3f} | {sum(v > 1.10 for v in values)} "
              f"of {len(values)} | {min(values):.2f}-{max(values):.2f} |")
    return 0


def row(name: str, workers: dict[str, Worker], passes: int, clock: str) -> str:
    try:
        samples = measure(workers, name, passes, clock)
    except RuntimeError as error:
        return f"| {name} | {error} | | | | |"
    old, new = (statistics.median(samples[k]) for k in ("old", "new"))
    ratios = [n / o for n, o in zip(samples["new"], samples["old"])]
    low, _, high = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return (f"| {name} | {old * 1e3:.3f} ms | {new * 1e3:.3f} ms | {new / old:.2f} | "
            f"{low:.2f}-{high:.2f} | {os.getloadavg()[0]:.1f} |")


if __name__ == "__main__":
    raise SystemExit(main())
