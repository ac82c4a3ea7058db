"""The thread policy (codegen/threads.py): identical results for any thread count, BLAS's
thread count chosen from problem size and idle cores, and no deadlock when many Python threads
call compiled code while other processes keep every core busy."""

import os
import time

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp
from dualjit.codegen import nest_plan, parallel, schedule, threads

from . import busy

N = schedule.PARALLEL_MIN_ELEMENTS * 3 + 77


def _program(x, a, b):
    y = jnp.sin(x) * jnp.exp(-x * x) + jnp.tanh(x)
    return y, jnp.sum(y), jnp.max(y), jnp.matmul(a, b)


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(N), rng.standard_normal((300, 200)), rng.standard_normal((200, 250))


@pytest.fixture
def reset_policy():
    yield
    threads.set_load_reading(None)


@pytest.mark.parametrize("free", [1, 2])
def test_results_are_identical_for_any_thread_count_and_load(monkeypatch, reset_policy, free):
    threads.set_load_reading(free)
    args = _inputs()
    results = []
    for count in ("1", "2", "3", "4"):
        monkeypatch.setenv("DUALJIT_NUM_THREADS", count)
        results.append(dj.jit(_program)(*args))
    for other in results[1:]:
        for got, want in zip(other[:3], results[0][:3]):
            np.testing.assert_array_equal(got, want)  # same chunks, merged in the same order
        # BLAS splits the output (not the sum) across threads: equal up to its kernels' order
        np.testing.assert_allclose(other[3], results[0][3], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(results[0][1], np.sum(results[0][0]), rtol=1e-12)


def test_blas_threads_follow_size_budget_and_idle_cores(monkeypatch, reset_policy):
    monkeypatch.setenv("DUALJIT_NUM_THREADS", "4")
    threads.set_load_reading(4)
    assert threads.blas_threads_for(1000) == 1  # small: one thread
    assert threads.blas_threads_for(10**9) == 4
    assert threads.blas_threads_for(threads.BLAS_FLOPS_PER_THREAD * 2) == 2  # by the work
    threads.set_load_reading(1)  # the other cores are busy
    assert threads.blas_threads_for(10**9) == 1
    monkeypatch.setenv("DUALJIT_NUM_THREADS", "1")
    threads.set_load_reading(4)
    assert threads.blas_threads_for(10**9) == 1


@pytest.mark.skipif(threads.blas_threads() is None, reason="numpy's OpenBLAS was not found")
def test_compiled_products_set_the_blas_thread_count(monkeypatch, reset_policy):
    monkeypatch.setenv("DUALJIT_NUM_THREADS", "2")
    a = np.ones((400, 400))
    threads.set_load_reading(2)
    split = dj.jit(lambda a: jnp.matmul(a, a) - 1.0)  # split across our threads (nest_plan.py)
    assert "split over threads" in str(split.lower(a).plan())
    threads.set_blas_threads(2)
    np.testing.assert_array_equal(split(a), np.full((400, 400), 399.0))
    assert threads.blas_threads() == 1  # each chunk's gemm on its thread alone
    monkeypatch.setattr(nest_plan, "GEMM_MIN_MACS", 10**12)  # products not split: BLAS's threads
    b = np.ones((400, 100))  # (a 400x100 result: too small for a split nest)
    f = dj.jit(lambda a, b: jnp.matmul(a, b) + 1.0)
    np.testing.assert_array_equal(f(a, b), np.full((400, 100), 401.0))
    assert threads.blas_threads() == 2
    threads.set_load_reading(1)
    f(a, b)
    assert threads.blas_threads() == 1
    small = np.ones((8, 8))
    threads.set_load_reading(2)
    dj.jit(lambda a: jnp.matmul(a, a) * 2.0)(np.ones((300, 2)) @ np.ones((2, 300)))
    dj.jit(lambda a: jnp.matmul(a, a))(small)
    assert threads.blas_threads() in (1, 2)


@pytest.mark.skipif(threads.blas_threads() is None, reason="numpy's OpenBLAS was not found")
def test_blas_threads_of_a_kernel_follow_its_largest_product_not_their_sum(monkeypatch,
                                                                          reset_policy):
    """Two unsplit products of 5.1 M multiply-adds each (10.2 M together, more than
    BLAS_PARALLEL_MIN_FLOPS): OpenBLAS threads each call alone, so they run on one thread;
    one of 15.4 M on two, but on one in a kernel with split nests."""
    monkeypatch.setenv("DUALJIT_NUM_THREADS", "2")
    threads.set_load_reading(2)
    rng = np.random.default_rng(1)
    x, w, v = (rng.standard_normal(s) for s in ((256, 160), (160, 125), (125, 160)))
    f = dj.jit(lambda x, w, v: jnp.matmul(jnp.tanh(jnp.matmul(x, w)), v))
    assert "split over threads" not in str(f.lower(x, w, v).plan())
    macs = 256 * 160 * 125
    assert macs < threads.BLAS_PARALLEL_MIN_FLOPS <= 2 * macs
    threads.set_blas_threads(2)
    np.testing.assert_allclose(f(x, w, v), np.tanh(x @ w) @ v, rtol=1e-7, atol=1e-9)
    assert threads.blas_threads() == 1
    monkeypatch.setattr(nest_plan, "GEMM_MIN_MACS", 10**12)  # (not split)
    g = dj.jit(lambda x, w: jnp.matmul(x, w) + 1.0)  # 15.4 M: two
    x3, w3 = np.concatenate([x, x, x], axis=1), np.concatenate([w, w, w])
    np.testing.assert_allclose(g(x3, w3), 3 * (x @ w) + 1.0, rtol=1e-10)
    assert threads.blas_threads() == 2
    # ... but one thread in a kernel with split nests (their helper polls between them)
    big = rng.standard_normal((512, 320))  # (a product of 20.5 M multiply-adds)
    h = dj.jit(lambda big, w: (jnp.tanh(big) * 2.0, jnp.matmul(big, jnp.concatenate([w, w]))))
    assert "split over threads" in str(h.lower(big, w).plan())
    threads.set_blas_threads(2)
    got = h(big, w)
    np.testing.assert_allclose(got[1], big @ np.concatenate([w, w]), rtol=1e-10)
    np.testing.assert_allclose(got[0], np.tanh(big) * 2.0, rtol=1e-7, atol=1e-9)
    assert threads.blas_threads() == 1


R = threads.Reading


def test_a_momentary_task_is_not_load_a_sustained_one_is():
    step = threads.SUSTAIN_SECONDS / 3
    spin = [R(0.0, 0), R(step, 1), R(2 * step, 1)]  # appeared within the window
    assert threads.free_from(spin, 2) == 2
    sustained = [R(0.0, 0), R(step, 1), R(2 * step, 1), R(3 * step, 1), R(4 * step, 1)]
    assert threads.free_from(sustained, 2) == 1  # seen by every reading of the window
    assert threads.free_from([R(5.0, 3)], 4) == 1  # a lone fresh reading counts at once
    assert threads.free_from([R(5.0, 9)], 4) == 1  # never below one
    stale = [R(0.0, 0), R(1.0, 2)]  # the idle reading is older than the window
    assert threads.free_from(stale, 4) == 2


def test_niced_background_jobs_are_not_load():
    def readings(niced_seconds, others_then=6):  # 0.5 s apart, others used 0.9 CPU-seconds
        return [R(0.0, others_then, busy=10.0, niced=5.0, own=1.0),
                R(0.5, 6, busy=10.9 + 0.1, niced=5.0 + niced_seconds, own=1.1)]
    assert threads.free_from(readings(0.88), 2) == 2  # nearly all niced: they yield to us
    assert threads.free_from(readings(0.45), 2) == 1  # half was not: count them
    assert threads.free_from(readings(0.88, others_then=4), 2) == 1  # tasks came since
    blip = [R(0.0, 6, 10.0, 5.0, 1.0), R(0.45, 6, 10.9, 5.8, 1.09),
            R(0.5, 7, 11.0, 5.88, 1.1)]  # one more task in the last reading only
    assert threads.free_from(blip, 2) == 2
    too_recent = [R(0.0, 6, 10.0, 5.0, 1.0), R(0.05, 6, 10.1, 5.1, 1.0)]
    assert threads.free_from(too_recent, 2) == 1  # too short a window to tell
    # under autogroup scheduling nice does not reach across sessions: niced tasks are load
    assert threads.free_from(readings(0.88), 2, nice_yields=False) == 1


def test_nice_is_trusted_only_without_autogroup(monkeypatch):
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled") as f:
            enabled = f.read().strip() != "0"
    except OSError:
        enabled = False
    monkeypatch.setattr(threads, "_autogroup", None)
    assert threads.nice_yields_to_us() is (not enabled)
    monkeypatch.setattr(threads, "_autogroup", True)
    assert threads.nice_yields_to_us() is False


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="Linux only")
def test_own_threads_are_read_only_when_they_can_change_the_answer(monkeypatch):
    assert threads._other_tasks(1) == 0  # the reader alone
    own = len(os.listdir("/proc/self/task"))

    def unexpected(tasks):
        raise AssertionError("read every thread although the answer was known")
    monkeypatch.setattr(threads, "_own_runnable_threads", unexpected)
    many = own + threads.cores() + 5
    assert threads._other_tasks(many) >= threads.cores()
    monkeypatch.undo()
    assert threads._other_tasks(2) in (0, 1)  # the reader and at most one other


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux only")
def test_the_allowed_core_count_is_cached(monkeypatch):
    calls = []
    real = os.sched_getaffinity
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: calls.append(pid) or real(pid))
    monkeypatch.setattr(threads, "_affinity", (-1.0, 1))
    counts = {threads.configured() for _ in range(1000)}
    assert counts == {len(real(0))} and len(calls) == 1


def test_chunk_queue_lets_the_caller_finish_when_helpers_never_start():
    queue = threads.ChunkQueue(5)
    done = []
    queue.work(done.append)  # nobody else ever claims a chunk
    queue.wait()
    assert done == [0, 1, 2, 3, 4]


def test_chunk_queue_hands_a_chunk_error_to_the_caller():
    queue = threads.ChunkQueue(4)

    def run(i):
        if i == 1:
            raise RuntimeError("chunk 1 failed")

    queue.work(run)
    with pytest.raises(RuntimeError, match="chunk 1"):
        queue.wait()


def test_chunks_do_not_depend_on_the_thread_count():
    ranges = parallel.chunks(N)
    assert ranges[0] == (0, parallel.CHUNK_ELEMENTS) and ranges[-1][1] == N
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))


def test_no_deadlock_from_many_python_threads_on_busy_cores(reset_policy):
    processes = busy.burners(os.cpu_count() or 2)
    try:
        deadline = time.monotonic() + 30  # the policy counts load seen for 0.15 s
        while threads.free_cores() != 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert threads.free_cores() == 1  # every core has a busy process
        args = _inputs(1)
        f = dj.jit(_program)
        expected = f(*args)

        def check():
            got = f(*args)
            np.testing.assert_array_equal(got[0], expected[0])
            np.testing.assert_array_equal(got[1], expected[1])
            np.testing.assert_allclose(got[3], expected[3], rtol=1e-12, atol=1e-12)

        busy.assert_callers_finish(check)
    finally:
        busy.stop(processes)


def test_large_split_kernels_take_a_helper_on_a_busy_machine(monkeypatch, reset_policy):
    from types import SimpleNamespace

    large = SimpleNamespace(n=parallel.BUSY_MIN_ELEMENTS, n_chunks=16)
    small = SimpleNamespace(n=parallel.BUSY_MIN_ELEMENTS - 1, n_chunks=16)
    monkeypatch.setenv("DUALJIT_NUM_THREADS", "4")
    threads.set_load_reading(4)
    assert parallel.helpers(large) == parallel.helpers(small) == 3  # idle: the budget
    assert parallel.helpers(SimpleNamespace(n=1 << 20, n_chunks=2)) == 1  # no more than chunks
    threads.set_load_reading(1)  # every other core busy
    assert parallel.helpers(small) == 0
    assert parallel.helpers(large) == threads.LOADED_NEST_THREADS - 1
    monkeypatch.setenv("DUALJIT_NUM_THREADS", "1")
    assert parallel.helpers(large) == 0  # the budget rules
