"""python -m benchmarks.load [--busy N] [--passes P] [--repeats R] [--min-time S] [--only TEXT]
[--skip TEXT] [--own-sessions]: every selected workload (--skip: leave out implementations
whose name contains TEXT, e.g. torch; --repeats: each sample the median of R timings) on
an idle machine and beside N busy processes (default: one per core; --own-sessions: each
started in a session of its own, as another user's job is), each implementation
timed in interleaved passes (idle and loaded phases alternate within every pass), medians.

One timing is the mean time per call over consecutive calls lasting at least --min-time
seconds (default 0.05; 0: one call), what a training loop sees: a step of 2 ms beside busy
processes either runs within one of the scheduler's time slices or waits a few of them, so
the median of single calls says how often a call was preempted (W2's moved between 1.8 and
9.6 ms from run to run), while the mean over 50 ms is the share of the machine it gets.
Beside every workload a one-thread NumPy loop is timed too: its loaded / idle ratio is what
one thread's share of the machine allows under that load (about 1.5x on an otherwise idle
2-core machine; with Linux's autogroup scheduling and other sessions busy, up to ~3x).

The busy processes are started once and paused (SIGSTOP) during idle phases, so switching
load costs nothing. "Idle" means: no busy process of ours; other users of the machine are not
controlled, so the machine line of the report says how loaded it was.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time

from .workloads import WORKLOADS

DEFAULT = ("W2", "W3", "W7 LeNet", "W8 transformer", "W9 depthwise")
REFERENCE = "one-thread reference"


def reference():
    """A loop on one thread (NumPy's exp of 2M float32, 4 times), timed beside every workload:
    its loaded / idle ratio is the share of the machine one thread gets under that load (with
    Linux's autogroup scheduling, busy processes started from our session share our session's
    part of the cores, and other sessions' processes keep theirs)."""
    import numpy as np

    a, out = np.full(1 << 21, 0.5, np.float32), np.empty(1 << 21, np.float32)

    def run():
        for _ in range(4):
            np.exp(a, out=out)
    return run

BURN = "while True:\n    pass\n"


class Burners:
    """N busy-looping processes, paused or running on demand; killed on exit."""

    def __init__(self, n: int, own_sessions: bool = False):
        self.procs = [subprocess.Popen([sys.executable, "-c", BURN],
                                       start_new_session=own_sessions) for _ in range(n)]
        self.pause()

    def _signal(self, sig) -> None:
        for p in self.procs:
            os.kill(p.pid, sig)

    def pause(self) -> None:
        self._signal(signal.SIGSTOP)

    def run(self) -> None:
        self._signal(signal.SIGCONT)
        # let them take the cores, for longer than the 0.15 s in which the thread policy
        # (codegen/threads.py) tells a background process from a momentary one
        time.sleep(0.25)

    def close(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()


def _selected(only: str | None) -> dict:
    from .models import MODEL_WORKLOADS

    everything = {**WORKLOADS, **MODEL_WORKLOADS}
    keys = [only] if only else DEFAULT
    return {name: build for name, build in everything.items() if any(k in name for k in keys)}


def timing(fn, min_time: float) -> float:
    """Mean seconds per call of fn over consecutive calls lasting at least min_time."""
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / calls


def measure(workloads: dict, burners: Burners, passes: int, skip: str | None = None,
            repeats: int = 1, min_time: float = 0.0) -> list[tuple]:
    rows = []
    for name, build in workloads.items():
        try:
            impls = {k: f for k, f in build().items() if not (skip and skip in k)}
            impls[REFERENCE] = reference()
        except Exception as error:  # noqa: BLE001 — one broken cell must not stop the run
            rows.append((name, "dualjit", None, None, f"unavailable: {error}"))
            continue
        idle = {impl: [] for impl in impls}
        loaded = {impl: [] for impl in impls}
        for _ in range(passes):
            for samples, busy in ((idle, False), (loaded, True)):
                if busy:
                    burners.run()
                for impl, fn in impls.items():
                    samples[impl].append(statistics.median(timing(fn, min_time)
                                                           for _ in range(repeats)))
                if busy:
                    burners.pause()
        for impl in impls:
            rows.append((name, impl, statistics.median(idle[impl]),
                         statistics.median(loaded[impl]), ""))
        print(name + ": " + ", ".join(f"{r[1]} {r[2] * 1e3:.2f}/{r[3] * 1e3:.2f} ms"
                                      for r in rows if r[0] == name and r[2] is not None),
              file=sys.stderr)
    return rows


def table(rows: list[tuple], busy: int) -> str:
    lines = [f"| workload | implementation | idle median | with {busy} busy processes | "
             "loaded / idle | loaded vs dualjit loaded |", "|---|---|---:|---:|---:|---:|"]
    base = {r[0]: r[3] for r in rows if r[1] == "dualjit" and r[3] is not None}
    for name, impl, idle, loaded, note in rows:
        if idle is None:
            lines.append(f"| {name} | {impl} | {note} | | | |")
            continue
        versus = f"{loaded / base[name]:.2f}x" if name in base and impl != REFERENCE else ""
        lines.append(f"| {name} | {impl} | {idle * 1e3:.2f} ms | {loaded * 1e3:.2f} ms | "
                     f"{loaded / idle:.2f}x | {versus} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--min-time", type=float, default=0.05,
                        help="a timing: mean per call over calls lasting this long (0: one)")
    parser.add_argument("--only", help="workloads whose name contains this text")
    parser.add_argument("--skip", help="leave out implementations whose name contains this")
    parser.add_argument("--own-sessions", action="store_true",
                        help="start the busy processes in sessions of their own (setsid)")
    args = parser.parse_args()
    from .__main__ import machine

    burners = Burners(args.busy, args.own_sessions)
    try:
        load_before = os.getloadavg()[0]
        rows = measure(_selected(args.only), burners, args.passes, args.skip, args.repeats,
                       args.min_time)
        load_after = os.getloadavg()[0]
    finally:
        burners.close()
    print(f"{machine()}; 1-minute load average {load_before:.1f} before the run, "
          f"{load_after:.1f} after\n\n"
          f"Medians of {args.passes} interleaved passes (each sample the median of "
          f"{args.repeats} timings, each the mean per call over calls lasting at least "
          f"{args.min_time * 1e3:g} ms); last column: time / dualjit's time "
          f"under the same load (above 1: dualjit is faster). Busy processes "
          f"{'each in a session of its own' if args.own_sessions else 'in our session'}; "
          f"'{REFERENCE}': NumPy's exp of 2M float32 4 times on one thread, timed beside each "
          f"workload (its loaded / idle ratio: one thread's share of the machine under that "
          f"load)."
          f"\n\n{table(rows, args.busy)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
