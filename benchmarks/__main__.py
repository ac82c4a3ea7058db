"""python -m benchmarks [--quick]: run every workload for dualjit and each installed peer."""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import platform
import statistics
import sys
import time

import numpy as np

from . import memory
from .workloads import WORKLOADS, time_once

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = [f"python {platform.python_version()}", f"numpy {np.__version__}"]
    for module in ("llvmlite", "jax", "torch", "numba"):
        try:
            versions.append(f"{module} {__import__(module).__version__}")
        except Exception:
            pass
    return f"{cpu}, {os.cpu_count()} cores; " + ", ".join(versions)


def run(passes: int, only: str | None, settle: float = 0.0
        ) -> list[tuple[str, str, float | None, str]]:
    """Medians of `passes` interleaved passes over each workload's implementations; with
    `settle` seconds of sleep after each timed call (the previous implementation's threads
    stop spinning and leave the load readings before the next one starts)."""
    rows = []
    for name, build in WORKLOADS.items():
        if only and only not in name:
            continue
        try:
            impls = build()
        except Exception as error:  # one broken cell must not stop the run
            rows.append((name, "dualjit", None, f"unavailable: {type(error).__name__}: {error}"))
            continue
        samples = {impl: [] for impl in impls}
        errors = {}
        for _ in range(passes):  # interleaved: every implementation once per pass
            for impl, fn in impls.items():
                if impl in errors:
                    continue
                try:
                    samples[impl].append(time_once(fn))
                except Exception as error:
                    errors[impl] = f"failed: {type(error).__name__}: {error}"
                if settle:
                    time.sleep(settle)
        for impl in impls:
            if impl in errors:
                rows.append((name, impl, None, errors[impl]))
            else:
                rows.append((name, impl, statistics.median(samples[impl]), ""))
        print(f"{name}: " + ", ".join(f"{r[1]} {r[2] * 1e3:.3f} ms" if r[2] is not None
                                       else f"{r[1]} {r[3]}" for r in rows if r[0] == name),
              file=sys.stderr)
    return rows


def table(rows) -> str:
    lines = ["| workload | implementation | median | time / dualjit's |", "|---|---|---:|---:|"]
    base = {r[0]: r[2] for r in rows if r[1] == "dualjit" and r[2] is not None}
    for name, impl, median, note in rows:
        if median is None:
            lines.append(f"| {name} | {impl} | {note} | |")
            continue
        ratio = f"{median / base[name]:.2f}x" if name in base else ""
        lines.append(f"| {name} | {impl} | {median * 1e3:.3f} ms | {ratio} |")
    return "\n".join(lines)


def chart(rows, path: pathlib.Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    base = {r[0]: r[2] for r in rows if r[1] == "dualjit" and r[2] is not None}
    peers = [r for r in rows if r[1] != "dualjit" and r[2] is not None and r[0] in base]
    if not peers:
        return False
    labels = [f"{r[0]}\n{r[1]}" for r in peers]
    ratios = [r[2] / base[r[0]] for r in peers]
    plt.figure(figsize=(9, 0.4 * len(peers) + 1))
    plt.barh(labels, ratios)
    plt.axvline(1.0, color="k", lw=1)
    plt.xscale("log")
    plt.xlabel("peer time / dualjit time (>1: dualjit faster)")
    plt.tight_layout()
    plt.savefig(path, dpi=90)
    plt.close()
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 passes instead of 7")
    parser.add_argument("--only", help="run workloads whose name contains this text")
    parser.add_argument("--settle", type=float, default=0.0, metavar="S",
                        help="sleep S seconds after each timed call, so that a peer's spinning "
                             "threads (PyTorch's OpenMP, OpenBLAS's) do not take the cores of "
                             "the implementation timed next")
    args = parser.parse_args()
    rows = run(3 if args.quick else 7, args.only, args.settle)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    text = (f"# dualjit benchmarks\n\n{stamp} — {machine()}\n\nMedians over interleaved "
            f"passes; the last column is each implementation's time divided by dualjit's "
            f"(above 1: dualjit is faster).\n\n{table(rows)}\n")
    if not args.only or args.only in "memory":
        text += f"\n{memory.table(memory.peak_memory())}\n"
    if not args.only:  # a partial run is printed, never written over the full table
        (RESULTS / "latest.md").write_text(text)
        if chart(rows, RESULTS / "latest.png"):
            text += "\n![ratios](latest.png)\n"
            (RESULTS / "latest.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
