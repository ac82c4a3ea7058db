"""The native threads of split nests (codegen/nest_pool.py): every chunk of every job run
exactly once when many Python threads post jobs at once, no more helpers than a job asked
for, a finished record claims nothing, and workers that quit at exit and are remade after a
fork."""

import ctypes
import os
import subprocess
import sys
import threading
import time

import pytest

from dualjit.codegen import nest_parallel, nest_pool

pytestmark = pytest.mark.skipif(not nest_pool.usable(), reason="no native nest threads here")

NEST = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)


def _recording_nest(delay=0.0):
    """A nest (a ctypes callback) recording (first, end, thread id) of every chunk it runs."""
    seen, lock = [], threading.Lock()

    def nest(_context, start, end):
        if delay:
            time.sleep(delay)
        with lock:
            seen.append((start, end, threading.get_native_id()))
        return 0
    callback = NEST(nest)
    return callback, ctypes.cast(callback, ctypes.c_void_p).value, seen


def _run_job(address, rows, chunk_rows, helpers, busy):
    """The status of a job over `rows` rows in chunks of `chunk_rows`, asking for `helpers`
    workers; the job's record is released whatever happens."""
    job = nest_pool.Job(address, 0, rows, chunk_rows)
    try:
        return job.run(helpers, busy=busy)
    finally:
        job.release()


def _ranges(rows, chunk):
    return [(s, min(s + chunk, rows)) for s in range(0, rows, chunk)]


def test_every_chunk_of_every_job_runs_once_when_many_threads_post_at_once(monkeypatch):
    monkeypatch.setattr(nest_parallel.threads, "nest_threads", lambda chunks, busy_ok: 3)
    errors = []

    def caller(seed):
        try:
            for job in range(20):
                rows, chunk = 40 + seed + job, 3 + job % 4
                callback, address, seen = _recording_nest()
                assert nest_parallel.parallel_for(address, 0, rows, chunk) == 0
                assert sorted(r[:2] for r in seen) == _ranges(rows, chunk)
        except BaseException as error:  # reported below
            errors.append(error)

    callers = [threading.Thread(target=caller, args=(i,)) for i in range(8)]
    for t in callers:
        t.start()
    for t in callers:
        t.join(120)
    assert not errors, errors[0]
    assert not any(t.is_alive() for t in callers)


def test_no_more_helpers_than_the_job_asked_for():
    """Tickets admit no more workers than asked for. (A job record is reused: a worker that
    took its ticket of an earlier job on the same record and was descheduled before claiming
    a chunk may claim chunks of the next job too, which is safe but one more thread; the
    suite saw it under load, so this job gets a record no earlier job used. Records are never
    freed, since a worker may still read one: the earlier ones go back afterwards.)"""
    earlier = nest_pool._free[:]
    nest_pool._free.clear()
    try:
        _asks_for_one_helper()
    finally:
        nest_pool._free[:0] = earlier


def _asks_for_one_helper():
    nest_pool.ensure_workers(3)
    callback, address, seen = _recording_nest(delay=0.002)
    assert _run_job(address, 60, 1, 1, False) == 0
    assert sorted(r[:2] for r in seen) == _ranges(60, 1)
    assert len({r[2] for r in seen}) <= 2  # the caller and at most one helper


def test_a_finished_record_claims_nothing():
    callback, address, seen = _recording_nest()
    job = nest_pool.Job(address, 0, 10, 3)
    assert job.run(0, busy=False) == 0
    assert len(seen) == 4
    chunks = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(
        nest_pool.native().module.address("dualjit_pool_chunks"))
    chunks(ctypes.addressof(job.record))  # a helper arriving after the job finished
    assert len(seen) == 4
    assert job.finish() == 0 and len(seen) == 4  # finish() does not run a finished job again
    job.release()


def test_a_failed_chunk_status_is_returned_by_the_native_pool():
    def nest(_context, start, end):
        return 7 if start <= 13 < end else 0

    callback = NEST(nest)
    assert _run_job(ctypes.cast(callback, ctypes.c_void_p).value, 50, 4, 2, True) == 7


_CHILD = """
import os, sys
import numpy as np
import dualjit as dj
from dualjit.codegen import nest_plan, nest_pool, threads
nest_plan.NEST_MIN_ELEMENTS, nest_plan.CHUNK_ELEMENTS = 256, 48
threads.set_load_reading(2)
os.environ["DUALJIT_NUM_THREADS"] = "2"
f = dj.jit(lambda x: dj.numpy.tanh(x) * 2.0 + x)
x = np.linspace(-3, 3, 4000).reshape(80, 50)
want = np.tanh(x) * 2.0 + x
assert "split over threads" in str(f.lower(x).plan())
np.testing.assert_allclose(f(x), want, rtol=1e-12)
assert len(nest_pool._workers) == 1
pid = os.fork()
if pid == 0:  # the child has no worker threads: they are made again
    ok = np.allclose(f(x), want, rtol=1e-12) and len(nest_pool._workers) == 1
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
before = len(os.listdir("/proc/self/task"))
nest_pool.stop_workers()
assert len(os.listdir("/proc/self/task")) == before - 1 and not nest_pool._workers
print("ok")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_workers_are_remade_after_fork_and_stop_at_exit():
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    env = dict(os.environ, PYTHONPATH=os.path.abspath(src))
    done = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_on_a_busy_machine_the_caller_sleeps_only_for_a_while(monkeypatch):
    """busy: the caller first sleeps while workers run the job; when none comes (the job is
    posted where no worker looks) it wakes after BUSY_PATIENCE_NS and runs every chunk."""
    monkeypatch.setattr(nest_pool, "_shared", (ctypes.c_int64 * nest_pool.SHARED_FIELDS)())
    monkeypatch.setattr(nest_pool, "ensure_workers", lambda count: count)
    monkeypatch.setattr(nest_pool, "BUSY_PATIENCE_NS", 20_000_000)
    callback, address, seen = _recording_nest()
    start = time.perf_counter()
    assert _run_job(address, 30, 4, 1, True) == 0
    assert time.perf_counter() - start >= 0.015  # it slept (almost) its patience first
    assert sorted(r[:2] for r in seen) == _ranges(30, 4)
    assert {r[2] for r in seen} == {threading.get_native_id()}  # ... then ran them all


def test_on_a_busy_machine_workers_run_the_job_while_the_caller_sleeps(monkeypatch):
    monkeypatch.setattr(nest_pool, "BUSY_PATIENCE_NS", 2_000_000_000)  # (it waits for them)
    callback, address, seen = _recording_nest()
    assert _run_job(address, 40, 3, 1, True) == 0
    assert sorted(r[:2] for r in seen) == _ranges(40, 3)
    assert threading.get_native_id() not in {r[2] for r in seen}  # two workers ran them


# -- polling for the next job (the poll window) -------------------------------------------------

HOUR_NS = 3_600 * 10**9


def _until(condition, what, seconds=120.0):
    """Wait, looking every 10 ms, until condition() holds; fail naming `what` after `seconds`
    (a bound for a very loaded machine, not a speed assertion)."""
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, f"never happened: {what}"
        time.sleep(0.01)


def _all_asleep() -> bool:
    found = nest_pool.counters()
    return found["sleeping"] == found["workers"]


def _everyone_asleep():
    nest_pool.ensure_workers(1)
    nest_pool.stop_polling()
    _until(_all_asleep, "every worker asleep once polling stopped")


def test_a_woken_worker_polls_only_for_its_window_then_sleeps_again():
    _everyone_asleep()
    before = nest_pool.counters()
    nest_pool.wake_one(linger_ns=20_000_000)
    assert nest_pool.counters()["wakes"] == before["wakes"] + 1
    _until(lambda: nest_pool.counters()["sleeps"] > before["sleeps"], "the woken worker slept")
    _until(_all_asleep, "every worker asleep after the window")


def test_within_its_window_a_worker_sleeps_only_when_preempted():
    """With an hour's window, a woken worker goes back to sleep only when it finds it was
    preempted (a poll cut short: counted) or when polling is stopped."""
    _everyone_asleep()
    before = nest_pool.counters()
    try:
        nest_pool.wake_one(linger_ns=HOUR_NS)
        _until(lambda: nest_pool.counters()["sleeps"] > before["sleeps"]
               or nest_pool.counters()["sleeping"] < before["workers"], "the worker woke")
        time.sleep(0.2)
        during = nest_pool.counters()
        assert during["sleeps"] - before["sleeps"] == during["cuts"] - before["cuts"]
    finally:
        nest_pool.stop_polling()
    _until(_all_asleep, "every worker asleep once polling stopped")


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_a_polling_worker_that_shares_its_core_stops_polling():
    """A worker pinned to the core of a busy process: polling, it is preempted there, finds
    it was off its core for a while, and goes to sleep (a cut poll) long before its window
    ends."""
    _everyone_asleep()
    cpu = min(os.sched_getaffinity(0))
    libc = nest_pool.native().libc
    libc.pthread_setaffinity_np.argtypes = [ctypes.c_ulong, ctypes.c_size_t, ctypes.c_void_p]

    def pin(cpus):
        mask = (ctypes.c_ulong * 16)()
        for c in cpus:
            mask[c // 64] |= 1 << (c % 64)
        for tid in nest_pool._workers:
            assert libc.pthread_setaffinity_np(tid, ctypes.sizeof(mask), mask) == 0

    pin([cpu])
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"],
                              preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    before = nest_pool.counters()
    try:
        time.sleep(0.1)  # (the burner runs)
        nest_pool.wake_one(linger_ns=HOUR_NS)
        _until(lambda: nest_pool.counters()["cuts"] > before["cuts"], "a poll cut short")
    finally:
        nest_pool.stop_polling()
        burner.kill()
        burner.wait()
        pin(sorted(os.sched_getaffinity(0)))
    _until(_all_asleep, "every worker asleep")


def test_on_a_busy_machine_workers_poll_briefly_and_are_not_woken_ahead(monkeypatch):
    callback, address, seen = _recording_nest()
    try:
        nest_parallel.threads.set_load_reading(1)
        assert nest_parallel.parallel_for(address, 0, 40, 4, nest_parallel.BUSY) == 0
        assert nest_pool._shared[nest_pool.LINGER] == nest_pool.BUSY_LINGER_NS
        _until(_all_asleep, "the workers asleep after a busy machine's short window")
        wakes = nest_pool.counters()["wakes"]
        warm = nest_parallel.with_warm_workers(lambda: "called")
        assert warm() == "called" and nest_pool.counters()["wakes"] == wakes
        monkeypatch.setenv("DUALJIT_NUM_THREADS", "1")
        nest_parallel.threads.set_load_reading(2)
        assert warm() == "called" and nest_pool.counters()["wakes"] == wakes
        monkeypatch.setenv("DUALJIT_NUM_THREADS", "2")
        assert warm() == "called" and nest_pool.counters()["wakes"] == wakes + 1
    finally:
        nest_pool.stop_polling()
        nest_parallel.threads.set_load_reading(None)
    assert sorted(r[:2] for r in seen) == _ranges(40, 4)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="no CPU affinity here, or one CPU")
def test_a_worker_does_not_poll_on_the_cpu_of_the_caller(monkeypatch):
    """Worker and caller pinned to one CPU for a job, the caller then moved to another: the
    worker, alone on the CPU the caller posted from, sleeps at once (a cut poll) though its
    window is an hour and nothing of ours preempts it there."""
    _everyone_asleep()
    cpu = min(os.sched_getaffinity(0))
    allowed = sorted(os.sched_getaffinity(0))
    libc = nest_pool.native().libc
    libc.pthread_setaffinity_np.argtypes = [ctypes.c_ulong, ctypes.c_size_t, ctypes.c_void_p]

    def pin_workers(cpus):
        mask = (ctypes.c_ulong * 16)()
        for c in cpus:
            mask[c // 64] |= 1 << (c % 64)
        for tid in nest_pool._workers:
            assert libc.pthread_setaffinity_np(tid, ctypes.sizeof(mask), mask) == 0

    monkeypatch.setattr(nest_pool, "LINGER_NS", HOUR_NS)
    callback, address, seen = _recording_nest(delay=0.001)
    pin_workers([cpu])
    os.sched_setaffinity(0, {cpu})
    before = nest_pool.counters()
    try:
        assert _run_job(address, 40, 4, 1, False) == 0
        os.sched_setaffinity(0, set(allowed) - {cpu})
        _until(_all_asleep, "the worker asleep after a job on the caller's CPU")
        assert nest_pool.counters()["cuts"] > before["cuts"]
    finally:
        nest_pool.stop_polling()
        os.sched_setaffinity(0, allowed)
        pin_workers(allowed)
    assert sorted(r[:2] for r in seen) == _ranges(40, 4)
