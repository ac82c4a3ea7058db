"""Threads on a shared machine: how many cores are free, BLAS's thread count chosen per call
from the problem size and those cores, and the chunk queue multi-core kernels share.

OpenBLAS's worker threads spin while they wait for each other; when other processes hold the
cores they are descheduled and every product waits for time slices (a 2-core machine with
two busy processes made a 1.5 ms training step take 17-144 ms). So products run on as many
threads as there are free cores, and on one thread when small. Free cores come from /proc
(Linux), read at most every 50 ms: other processes' runnable tasks (/proc/loadavg less our
own running threads), counted only when every reading of the last 0.15 s saw them (a
momentary task is not load) and not when they are niced background jobs (/proc/stat's nice
column holds nearly all other processes' CPU time: they yield the cores to ours; not under
Linux's autogroup scheduling, where nice does not reach across sessions). Chunked
kernels split their range into pieces of a fixed size that any thread, the caller included,
takes from a shared counter: a descheduled helper delays one chunk, never the whole call, and
nobody waits for a helper that has not started. The chunk layout depends only on the problem size, so results
are the same for any thread count and any load.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from dataclasses import dataclass

from . import blas, lapack

BLAS_PARALLEL_MIN_FLOPS = 8_000_000  # smaller products run on one BLAS thread
BLAS_FLOPS_PER_THREAD = 4_000_000  # a thread must get at least this much work
SAMPLE_SECONDS = 0.05  # /proc is read at most this often; calls in between reuse the answer
SUSTAIN_SECONDS = 0.15  # another task counts only if every reading this recent saw it
NICE_WINDOW = (0.1, 1.0)  # /proc/stat deltas over this many seconds tell niced CPU time apart
NICED_SHARE = 0.9  # others' CPU time at least this niced: they yield the cores to us
AFFINITY_SECONDS = 1.0  # how long the allowed-core count is reused


def configured() -> int:
    """The thread budget: DUALJIT_NUM_THREADS, else the cores this process may run on."""
    env = os.environ.get("DUALJIT_NUM_THREADS", "")
    if env.strip():
        return max(1, int(env))
    return cores()


_affinity = (-1.0, 1)


def cores() -> int:
    """The cores this process may run on (sched_getaffinity, re-read at most every second)."""
    global _affinity
    now = time.monotonic()
    if now - _affinity[0] > AFFINITY_SECONDS:
        try:
            count = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            count = os.cpu_count() or 1
        _affinity = (now, max(1, count))
    return _affinity[1]


# ---------------------------------------------------------------------------------------------
# Free cores
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reading:
    """One look at the machine: when, other processes' runnable tasks, and CPU seconds so far
    of all processes (busy), of niced processes, and of this process (own)."""
    time: float
    others: int
    busy: float = 0.0
    niced: float = 0.0
    own: float = 0.0


def free_from(readings: list[Reading], cores: int, nice_yields: bool = True) -> int:
    """Cores free for us, from readings oldest first (the last is now). Other tasks count only
    when seen in every reading of the last SUSTAIN_SECONDS (an OpenBLAS thread spinning for
    0.1 s after another process's product, or a short job, is not load), and not when they
    are niced background jobs that yield the core to ours (nice_yields: see
    nice_yields_to_us)."""
    now = readings[-1]
    others = min(r.others for r in readings if now.time - r.time <= SUSTAIN_SECONDS)
    if others and nice_yields and _niced(readings, others):
        return cores
    return max(1, min(cores, cores - others))


def _niced(readings: list[Reading], others: int) -> bool:
    """Whether the `others` tasks runnable now were runnable all through a window of
    NICE_WINDOW in which other processes' CPU time was almost all niced (/proc/stat's nice
    column)."""
    now = readings[-1]
    low, high = NICE_WINDOW
    starts = [i for i, r in enumerate(readings) if low <= now.time - r.time <= high]
    if not starts:
        return False
    window = readings[starts[-1]:]
    if min(r.others for r in window) < others:  # a task came during the window
        return False
    then = window[0]
    others_busy = (now.busy - then.busy) - (now.own - then.own)
    return others_busy > 0 and (now.niced - then.niced) >= NICED_SHARE * others_busy


_readings: list[Reading] = []
_sample_lock = threading.Lock()
_answer = (-1.0, 1)  # (time of the reading, free cores)
_pinned: int | None = None


def free_cores() -> int:
    """Cores not taken by other processes (at least 1); /proc is read at most every 50 ms."""
    if _pinned is not None:
        return _pinned
    taken, free = _answer
    if time.monotonic() - taken < SAMPLE_SECONDS:
        return free
    return _measure()


def _measure() -> int:
    global _answer, _readings
    with _sample_lock:
        reading = read_machine()
        if reading is None:  # not Linux: trust the configured budget
            _answer = (float("inf"), cores())
            return _answer[1]
        keep = max(SUSTAIN_SECONDS, NICE_WINDOW[1])
        _readings = [r for r in _readings if reading.time - r.time <= keep] + [reading]
        _answer = (reading.time, free_from(_readings, cores(), nice_yields_to_us()))
        return _answer[1]


_autogroup: bool | None = None


def nice_yields_to_us() -> bool:
    """Whether other processes' nice makes them yield the cores to ours: not when Linux's
    autogroup scheduling is on (/proc/sys/kernel/sched_autogroup_enabled), which shares the
    cores between sessions first and applies nice only within one; a niced job of another
    session then takes a full session's share (W9 beside two other sessions' niced busy
    processes: 65-70 ms a call with the two threads nice let us take, 32-36 ms with one)."""
    global _autogroup
    if _autogroup is None:
        try:
            with open("/proc/sys/kernel/sched_autogroup_enabled", "rb") as f:
                _autogroup = f.read().strip() not in (b"", b"0")
        except OSError:
            _autogroup = False
    return not _autogroup


def read_machine() -> Reading | None:
    """A Reading of now, or None when /proc is not there."""
    try:
        with open("/proc/loadavg", "rb") as f:
            runnable = int(f.read().split()[3].split(b"/")[0])
        with open("/proc/stat", "rb") as f:
            user, nice, system, _, _, irq, softirq, steal = map(int, f.readline().split()[1:9])
    except (OSError, ValueError):
        return None
    hz = os.sysconf("SC_CLK_TCK")
    return Reading(time.monotonic(), _other_tasks(runnable), (user + nice + system + irq +
                   softirq + steal) / hz, (0 if _we_are_niced() else nice) / hz,
                   time.process_time())


def _other_tasks(runnable: int) -> int:
    """Other processes' runnable tasks, from the machine's count: less our running threads,
    which are only read (one file per thread) when that can change the answer."""
    if runnable <= 1:
        return 0  # only the reader
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return runnable - 1
    if runnable - len(tasks) >= cores():
        return runnable - len(tasks)  # even if all ours ran, every core has another task
    return max(0, runnable - _own_runnable_threads(tasks))


def _we_are_niced() -> bool:
    return os.getpriority(os.PRIO_PROCESS, 0) > 0  # then niced tasks are our peers


def _own_runnable_threads(tasks: list[str]) -> int:
    """Threads of this process (`tasks`: their ids) that are running or ready to run (the
    reader is one)."""
    count = 0
    for tid in tasks:
        try:
            fd = os.open(f"/proc/self/task/{tid}/stat", os.O_RDONLY)
        except OSError:
            continue  # the thread ended meanwhile
        try:
            stat = os.read(fd, 512)
        except OSError:
            stat = b""
        finally:
            os.close(fd)
        end = stat.rfind(b")")
        count += stat[end + 2:end + 3] == b"R"
    return max(1, count)


def set_load_reading(free: int | None) -> None:
    """Pin free_cores() to `free` (tests and benchmarks); None measures again."""
    global _pinned, _answer, _readings
    _pinned = free
    _answer, _readings = (-1.0, 1), []


# ---------------------------------------------------------------------------------------------
# BLAS's thread count
# ---------------------------------------------------------------------------------------------

_SETTERS = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_",
            "scipy_openblas_set_num_threads", "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
            "scipy_openblas_get_num_threads", "openblas_get_num_threads")
_blas_lock = threading.Lock()
_control: tuple | None = None  # (setter, getter) or () when none was found
_blas_threads = 0  # the count we last set (0: not set yet)


def _blas_control() -> tuple:
    global _control
    if _control is None:
        found = ()
        for path in blas._libraries():
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            setter = next((getattr(lib, n) for n in _SETTERS if hasattr(lib, n)), None)
            getter = next((getattr(lib, n) for n in _GETTERS if hasattr(lib, n)), None)
            if setter is not None and getter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                found = (setter, getter)
                break
        _control = found
    return _control


def blas_threads_for(flops: int) -> int:
    """The BLAS threads for a product of `flops` multiply-adds: one when small, else as many
    as the work, the budget and the idle cores allow."""
    budget = configured()
    if flops < BLAS_PARALLEL_MIN_FLOPS or budget == 1:
        return 1
    return max(1, min(budget, free_cores(), flops // BLAS_FLOPS_PER_THREAD))


def use_blas_for(flops: int) -> None:
    """Set BLAS's thread count for the products about to run (cheap when unchanged)."""
    want = blas_threads_for(flops)
    if want != _blas_threads:
        set_blas_threads(want)


def set_blas_threads(count: int) -> None:
    global _blas_threads
    control = _blas_control()
    if not control:
        return
    with _blas_lock:
        if count != _blas_threads:
            control[0](count)
            _blas_threads = count


def blas_threads() -> int | None:
    """BLAS's current thread count, or None when its library was not found."""
    control = _blas_control()
    return control[1]() if control else None


def blas_flops(eqns) -> int:
    """Multiply-adds of the equations that call BLAS (products and convolutions)."""
    from ..ir import primitives as P
    from .schedule import contraction_size

    total = 0
    for eqn in eqns:
        if eqn.primitive is P.dot_general_p:
            total += contraction_size(eqn)
        elif eqn.primitive is P.conv_general_dilated_p:  # out size x (I x kernel size)
            w = eqn.inputs[1].type
            out_features = w.shape[eqn.params["dimension_numbers"][1][0]]
            total += eqn.outputs[0].type.size * w.size // out_features if out_features else 0
        else:
            total += lapack.flops(eqn)  # LAPACK's factorizations and solves use BLAS too
    return total


def largest_blas_call(eqns) -> int:
    """Multiply-adds of the largest single BLAS call among the equations: what BLAS's thread
    count for a kernel's unsplit products is chosen from (OpenBLAS threads each call on its
    own, so a kernel of many small products gains nothing from its threads, whose spinning
    after each call takes the core our split nests' helper needs: W7's unsplit
    convolutions, 24.5 M multiply-adds in all but at most 7.5 M each, ran on two)."""
    return max((blas_flops([eqn]) for eqn in eqns), default=0)


def kernel_blas_flops(groups) -> int:
    """What BLAS's thread count for a kernel's unsplit products is chosen from (the groups:
    its plan's): 0 (one thread) when the kernel has split nests, whose helper polls on the
    other core between them and would fight OpenBLAS's threads, which spin for ~0.1 s
    after each call (W9, four unsplit convolutions of 33.5 M multiply-adds on OpenBLAS's two
    threads: 23 ms a step against 15 ms on one thread); else the largest single call."""
    if any(g.split is not None for g in groups):
        return 0
    return largest_blas_call([e for g in groups for e in g.eqns])


def with_blas_threads(call, flops: int):
    """call, setting BLAS's thread count first (for kernels entered without the runtime)."""
    def run(*args, **params):
        use_blas_for(flops)
        return call(*args, **params)
    return run


# Threads for a split nest that is worth a helper on a busy machine (nest_plan.NestSplit.busy)
# even when no core is free: its chunks do not spin, so a helper that waits for a time slice
# delays only the chunk it took, and two threads get a larger share of a busy machine than one
# (W8 beside two busy processes, load 5 before: 413 ms a step, 493 ms on one thread; JAX 489).
LOADED_NEST_THREADS = 2


def nest_threads(chunks: int, busy_ok: bool = True) -> int:
    """Threads for a split loop nest of `chunks` chunks (nest_parallel.py): the budget, no
    more than the chunks and the free cores, but LOADED_NEST_THREADS when fewer are free and
    the nest is worth it (busy_ok)."""
    budget = configured()
    if budget == 1 or chunks <= 1:  # (no need to look at the machine)
        return 1
    free = free_cores()
    if busy_ok:
        free = max(free, LOADED_NEST_THREADS)
    return max(1, min(budget, chunks, free))


# ---------------------------------------------------------------------------------------------
# The chunk queue
# ---------------------------------------------------------------------------------------------

class ChunkQueue:
    """Chunks 0..n-1 taken in order by whoever asks; wait() returns once all are done."""

    def __init__(self, n: int):
        self.n, self.next, self.done = n, 0, 0
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        self.finished = threading.Condition(self.lock)

    def claim(self) -> int | None:
        with self.lock:
            if self.next >= self.n or self.error is not None:
                return None
            self.next += 1
            return self.next - 1

    def finish(self, error: BaseException | None = None) -> None:
        with self.lock:
            self.done += 1
            if error is not None and self.error is None:
                self.error = error
            if self.done >= self.next and (self.next >= self.n or self.error is not None):
                self.finished.notify_all()

    def work(self, run_chunk) -> None:
        """Run chunks until none is left."""
        while (i := self.claim()) is not None:
            try:
                run_chunk(i)
            except BaseException as e:  # handed to the caller by wait()
                self.finish(e)
                return
            self.finish()

    def wait(self) -> None:
        """Block until every claimed chunk is done (the caller has claimed all the rest)."""
        with self.lock:
            while self.done < self.next:
                self.finished.wait()
        if self.error is not None:
            raise self.error
