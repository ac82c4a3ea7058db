"""Issue 13's T1/T2 against PyTorch at matched thread counts, in several fresh processes.

`python -m benchmarks.torch_api matched [runs] [passes] [--settle S] [--only TEXT]`: `runs`
fresh processes (default 3), each timing every implementation `passes` times (default 5),
interleaved (each pass runs every implementation once, in order, with S seconds of sleep
after each timed call, default 0.3), by wall clock and by the process's CPU clock. The
implementations of a workload, each under its own thread setting:

- dualjit with its default policy (threads chosen per call from the idle cores), against
  PyTorch with its default threads (`torch.get_num_threads()`, two OpenMP threads here);
- both pinned to ONE thread (dualjit: DUALJIT_NUM_THREADS=1 and one idle core read;
  PyTorch: torch.set_num_threads(1); torch.compile'd programs compiled and warmed that way);
- both pinned to TWO threads (dualjit reads two idle cores whatever the load);
- for T2, the step's five matrix products alone (NumPy/OpenBLAS, one and two threads): the
  floor of any implementation that calls a library gemm for them.

The parent prints, per workload and thread setting, each run's medians and PyTorch/dualjit
ratio, and writes the table to results/torch_matched.md. The ratios are the point: two
implementations timed in the same pass saw the same machine.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from . import torch_api as api

DEFAULT_THREADS = None  # the libraries' own choice
_ENV_THREADS = os.environ.get("DUALJIT_NUM_THREADS")


def set_dualjit_threads(n: int | None) -> None:
    """Pin dualjit's thread policy to n threads (None: its default, from the idle cores)."""
    from dualjit.codegen import threads

    if n is None:
        if _ENV_THREADS is None:
            os.environ.pop("DUALJIT_NUM_THREADS", None)
        else:
            os.environ["DUALJIT_NUM_THREADS"] = _ENV_THREADS
    else:
        os.environ["DUALJIT_NUM_THREADS"] = str(n)
    threads.set_load_reading(n)


def _dualjit(run, n):
    def pinned():
        set_dualjit_threads(n)
        try:
            run()
        finally:
            set_dualjit_threads(None)
    return pinned


def _torch(torch, run, n):
    def pinned():
        default = torch.get_num_threads()
        torch.set_num_threads(n or default)
        try:
            run()
        finally:
            torch.set_num_threads(default)
    return pinned


def _setting(n: int | None) -> str:
    return "default threads" if n is None else f"{n} thread{'s' if n > 1 else ''} each"


def t2_eager_impls(torch, settings) -> dict:
    import dualjit as dj

    impls = {}
    for n in settings:
        impls[(_setting(n), "dualjit")] = _dualjit(api._mlp_run(*api.mlp_setup(dj)), n)
        impls[(_setting(n), "torch")] = _torch(torch, api._mlp_run(*api.mlp_setup(torch)), n)
        if n is not None:
            impls[(_setting(n), "5 products alone (NumPy)")] = _dualjit(api._products("numpy"), n)
    return impls


def t2_compiled_impls(torch, settings) -> dict:
    import dualjit as dj

    impls = {}
    for n in settings:
        step, batches = api.mlp_setup(dj)
        impls[(_setting(n), "dualjit")] = _dualjit(api._mlp_run(dj.compile(step), batches), n)
        step, batches = api.mlp_setup(torch)
        impls[(_setting(n), "torch.compile(step)")] = _torch(
            torch, api._mlp_run(torch.compile(step), batches), n)
        impls[(_setting(n), "torch.compile(model)")] = _torch(
            torch, api._mlp_run(*api.mlp_setup(torch, torch.compile)), n)
        if n is not None:
            impls[(_setting(n), "5 products alone (NumPy)")] = _dualjit(api._products("numpy"), n)
    return impls


def t1_eager_impls(torch, settings) -> dict:
    import dualjit as dj

    impls = {}
    for n in settings:
        impls[(_setting(n), "dualjit")] = _dualjit(api._poly_run(*api.poly_setup(dj)), n)
        impls[(_setting(n), "torch")] = _torch(torch, api._poly_run(*api.poly_setup(torch)), n)
    return impls


WORKLOADS = {
    "T2 MLP epoch, eager": t2_eager_impls,
    "T2 MLP epoch, compiled": t2_compiled_impls,
    "T1 poly fit 2000 steps, eager": t1_eager_impls,
}
SETTINGS = (DEFAULT_THREADS, 1, 2)


def one_run(passes: int, settle: float, only: str) -> dict:
    """This process's medians: {workload: {setting: {impl: [wall median, CPU median]}}}."""
    import torch

    out: dict = {}
    for name, build in WORKLOADS.items():
        if only and only not in name:
            continue
        impls = build(torch, SETTINGS)
        for run in impls.values():  # warm: compile (at its thread setting), create state
            run()
            run()
        samples: dict = {key: [] for key in impls}
        for _ in range(passes):
            for key, run in impls.items():
                wall, cpu = time.perf_counter(), time.process_time()
                run()
                samples[key].append((time.perf_counter() - wall, time.process_time() - cpu))
                time.sleep(settle)
        table = out.setdefault(name, {})
        for (setting, impl), values in samples.items():
            table.setdefault(setting, {})[impl] = [statistics.median(v[0] for v in values),
                                                   statistics.median(v[1] for v in values)]
    return out


def _ratio_cells(runs: list[dict], name: str, setting: str, impl: str) -> tuple[str, str]:
    times, ratios = [], []
    for result in runs:
        cell = result.get(name, {}).get(setting, {})
        if impl in cell and "dualjit" in cell:
            wall, cpu = cell[impl]
            times.append(f"{wall * 1e3:.0f} ({cpu * 1e3:.0f})")
            ratios.append(wall / cell["dualjit"][0])
    shown = ", ".join(f"{r:.2f}x" for r in ratios)
    if len(ratios) > 1:
        shown += f" (median {statistics.median(ratios):.2f}x)"
    return "; ".join(times), shown


def report(runs: list[dict], loads: list, passes: int, settle: float) -> str:
    lines = [f"Issue 13 at matched threads: {len(runs)} fresh processes x {passes} interleaved "
             f"passes, {settle:g} s sleep after each timed call; load average (1 min) before "
             f"each run: {', '.join(f'{x:.1f}' for x in loads)}.", "",
             "Each cell: per run, median wall ms (median CPU ms of the process); ratio = its "
             "wall time / dualjit's at the same setting in the same run (above 1: dualjit is "
             "faster).", "", "| workload | threads | implementation | ms per run | ratio |",
             "|---|---|---|---:|---:|"]
    names = [n for n in WORKLOADS if any(n in r for r in runs)]
    for name in names:
        for setting in map(_setting, SETTINGS):
            impls = []
            for result in runs:
                for impl in result.get(name, {}).get(setting, {}):
                    if impl not in impls:
                        impls.append(impl)
            for impl in impls:
                times, ratios = _ratio_cells(runs, name, setting, impl)
                lines.append(f"| {name} | {setting} | {impl} | {times} | "
                             f"{'' if impl == 'dualjit' else ratios} |")
    return "\n".join(lines)


def main(args: list[str]) -> int:
    settle, only = 0.3, ""
    if "--settle" in args:
        at = args.index("--settle")
        settle = float(args[at + 1])
        del args[at:at + 2]
    if "--only" in args:
        at = args.index("--only")
        only = args[at + 1]
        del args[at:at + 2]
    if args[:1] == ["--child"]:
        print(json.dumps(one_run(int(args[1]), settle, only)))
        return 0
    runs_wanted = int(args[0]) if args else 3
    passes = int(args[1]) if len(args) > 1 else 5
    runs, loads = [], []
    heading = run_heading()
    for i in range(runs_wanted):
        loads.append(os.getloadavg()[0])
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.torch_api", "matched", "--child", str(passes),
             "--settle", str(settle), "--only", only], capture_output=True, text=True,
            check=True)
        runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
        # the table so far, after every run (a long run cut short keeps what it measured)
        text = report(runs, loads, passes, settle)
        _write(heading, text)
        print(f"run {i + 1}/{runs_wanted} done (load {loads[-1]:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after)\n{text}", file=sys.stderr, flush=True)
    return 0


TITLE = "# Issue 13 at matched threads"
INTRO = ("Every invocation of `python -m benchmarks.torch_api matched` adds its table here, "
         "newest first (a table is rewritten after each of its runs); earlier tables stay as "
         "the run-by-run history.")


def run_heading() -> str:
    from .__main__ import machine

    return f"## {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC — {machine()}"


def _write(heading: str, text: str) -> None:
    from .__main__ import RESULTS

    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "torch_matched.md"
    old = path.read_text() if path.exists() else ""
    path.write_text(with_history(old, heading, text))


def with_history(old: str, heading: str, text: str) -> str:
    """The results file with this invocation's table (under `heading`) first, then every
    earlier table of `old` except this invocation's own previous version."""
    body = old.split("\n", 1)[1] if old.startswith(TITLE) else old
    body = body.strip()
    if body.startswith(INTRO):
        body = body[len(INTRO):].strip()
    blocks = [b for b in ("\n" + body).split("\n## ") if b.strip()]
    earlier = []
    for block in blocks:
        block = block.strip()
        if not block.startswith("## "):
            block = "## " + block if block[:4].isdigit() else block
        if block.split("\n", 1)[0] != heading:
            earlier.append(block)
    parts = [TITLE, INTRO, f"{heading}\n\n{text}"] + earlier
    return "\n\n".join(parts) + "\n"
