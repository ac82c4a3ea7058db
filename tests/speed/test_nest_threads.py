"""Loop nests of a kernel split across threads (codegen/nest_plan.py, nest_parallel.py): which
nests the plan splits, results identical for any thread count and load (and equal to the
interpreter's), a chunk's failure status reaching the caller, and no deadlock when many Python
threads call such kernels while busy processes hold every core."""

import ctypes
import os
import threading
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dualjit as dj
import dualjit.numpy as jnp
from dualjit.codegen import blas, nest_parallel, nest_plan, nest_pool, schedule, threads
from dualjit.codegen.runtime import CompiledFunction
from dualjit.ir import eval_function

from . import busy

needs_blas = pytest.mark.skipif(not blas.gemms(), reason="no BLAS gemm found")


def _block(x, w, gamma):
    """A gemm, a row-wise softmax and layer norm, GELU, and reductions over some axes and
    over all of them: the loop nests of a transformer block."""
    h = x @ w
    e = jnp.exp(h - jnp.max(h, axis=-1, keepdims=True))
    s = e / jnp.sum(e, axis=-1, keepdims=True)
    mu = jnp.mean(s, axis=-1, keepdims=True)
    n = (s - mu) / jnp.sqrt(jnp.mean((s - mu) ** 2, axis=-1, keepdims=True) + 1e-5) * gamma
    g = 0.5 * n * (1 + jnp.tanh(0.79788456 * (n + 0.044715 * n ** 3)))
    return g @ w.T, jnp.sum(g, axis=0), jnp.sum(g * g)


def _args(rows, inner, cols, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((rows, inner)).astype(dtype),
            rng.standard_normal((inner, cols)).astype(dtype) * 0.3,
            rng.standard_normal(cols).astype(dtype))


@pytest.fixture
def small_chunks(monkeypatch):
    """Split nests of a few hundred elements into chunks of a few dozen (cheap to compile and
    run, and many chunks per nest)."""
    monkeypatch.setattr(nest_plan, "NEST_MIN_ELEMENTS", 256)
    monkeypatch.setattr(nest_plan, "CHUNK_ELEMENTS", 48)
    monkeypatch.setattr(nest_plan, "GEMM_MIN_MACS", 1000)
    monkeypatch.setattr(nest_plan, "GEMM_ROWS_CHUNK_MACS", 500)
    monkeypatch.setattr(nest_plan, "GEMM_MIN_ROWS", 3)
    monkeypatch.setattr(schedule, "BLAS_MIN_FLOPS", 1)  # every product a gemm call if it can
    yield
    threads.set_load_reading(None)


def _splits(compiled: CompiledFunction) -> dict[str, bool]:
    """Group head ('loop', 'reduction loop', 'dot_general') -> whether any such group split."""
    found: dict[str, bool] = {}
    for kernel in compiled.plan.kernels:
        for group in kernel.segment.groups:
            head = {"loop": "loop", "reduce": "reduction loop"}.get(group.kind,
                                                                     group.eqns[0].primitive.name)
            found[head] = found.get(head, False) or group.split is not None
    return found


def _assert_same_for_any_split_count(results):
    """results[0] ran on one thread, the rest on two or more: those are bit-identical (fixed
    chunks); one thread runs each nest as one chunk, so only a product's rounding may differ."""
    for other in results[2:]:
        for got, want in zip(other, results[1]):
            np.testing.assert_array_equal(got, want)
    for got, want in zip(results[0], results[1]):
        tol = 1e-5 if got.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def _run_with_threads(compiled, args, monkeypatch, counts=("1", "2", "3", "4"), free=4):
    threads.set_load_reading(free)
    results = []
    for count in counts:
        monkeypatch.setenv("DUALJIT_NUM_THREADS", count)
        results.append(compiled(*args))
    return results


def test_the_plan_splits_row_wise_nests_and_products_but_not_a_full_reduction():
    args = _args(1024, 128, 256)
    fn = dj.make_ir(_block)(*args)
    compiled = CompiledFunction(fn)
    text = str(compiled.plan)
    assert "split over threads" in text
    split = {str(g.eqns[0].outputs[0].type) + g.kind: g.split for k in compiled.plan.kernels
             for g in k.segment.groups}
    elementwise = [g for k in compiled.plan.kernels for g in k.segment.groups
                   if any(v.type.shape == (1024, 256) for v in g.values)]
    # exp, normalization, GELU: in loops or in the rows' reduction passes (schedule.py)
    assert elementwise and all(g.split is not None for g in elementwise)
    assert split["f32[1024]reduce"] is not None  # row-wise max, sum, means
    assert split["f32[]reduce"] is None  # one scalar: its chunks would need merging
    assert split["f32[256]reduce"] is None  # column sums: accumulated in memory order
    if blas.gemms():
        assert _splits(compiled)["dot_general"]  # a product's rows
    small = CompiledFunction(dj.make_ir(_block)(*_args(8, 4, 16)))
    assert "split over threads" not in str(small.plan)  # too small to be worth a call


def test_a_split_nest_covers_its_rows_in_fixed_chunks():
    s = nest_plan.split_of((8, 4, 128, 128), 8 * 4 * 128 * 128)
    assert (s.lead, s.rows) == (2, 32)  # leading axes merged until there are MIN_ROWS rows
    assert s.chunk_rows * nest_plan.CHUNK_ELEMENTS // (128 * 128) >= 1
    assert (s.chunks - 1) * s.chunk_rows < s.rows <= s.chunks * s.chunk_rows
    assert nest_plan.split_of((), 10**9) is None  # a scalar result
    assert nest_plan.split_of((1000,), 100) is None  # too little work
    rows = nest_plan.product_split((), 1024, 1024 * 256 * 768)
    assert rows.chunk_rows >= nest_plan.GEMM_MIN_ROWS  # each gemm call packs its rhs again
    assert rows.busy and s.busy  # worth a helper even on a busy machine
    assert nest_plan.split_of((784, 256), 784 * 256).busy  # W2's update: native helpers
    assert not nest_plan.split_of((512, 128), 512 * 128).busy  # a short loop: not


def test_results_are_identical_for_any_thread_count_and_match_the_interpreter(
        monkeypatch, small_chunks):
    args = _args(37, 11, 29)
    fn = dj.make_ir(_block)(*args)
    compiled = CompiledFunction(fn)
    assert all(_splits(compiled).values()) or not blas.gemms(), str(compiled.plan)
    results = _run_with_threads(compiled, args, monkeypatch)
    _assert_same_for_any_split_count(results)
    for got, want in zip(results[0], eval_function(fn, *args)):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


@given(rows=st.integers(1, 40), inner=st.integers(1, 12), cols=st.integers(1, 40),
       batch=st.integers(1, 5), dtype=st.sampled_from([np.float32, np.float64]))
def test_random_shapes_agree_across_thread_counts_and_with_the_interpreter(
        rows, inner, cols, batch, dtype):
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, value in (("NEST_MIN_ELEMENTS", 64), ("CHUNK_ELEMENTS", 24),
                            ("GEMM_MIN_MACS", 64), ("GEMM_CHUNK_MACS", 64),
                            ("GEMM_ROWS_CHUNK_MACS", 64), ("GEMM_MIN_ROWS", 2)):
            monkeypatch.setattr(nest_plan, name, value)
        monkeypatch.setattr(schedule, "BLAS_MIN_FLOPS", 1)
        rng = np.random.default_rng(rows * 1000 + cols)
        x = rng.standard_normal((batch, rows, inner)).astype(dtype)
        w = (rng.standard_normal((inner, cols)) * 0.3).astype(dtype)
        gamma = rng.standard_normal(cols).astype(dtype)

        def f(x, w, gamma):  # a stack of rows through the block, and a batched product
            out, colsum, total = _block(x, w, gamma)
            return out, colsum, total, jnp.matmul(x, jnp.swapaxes(x, 1, 2))

        fn = dj.make_ir(f)(x, w, gamma)
        compiled = CompiledFunction(fn)
        try:
            results = _run_with_threads(compiled, (x, w, gamma), monkeypatch, ("1", "2", "4"))
        finally:
            threads.set_load_reading(None)
    _assert_same_for_any_split_count(results)
    tol = 3e-5 if dtype == np.float32 else 1e-11
    for got, want in zip(results[0], eval_function(fn, x, w, gamma)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@needs_blas
@pytest.mark.parametrize("lhs_t, rhs_t", [(False, False), (True, False), (False, True),
                                          (True, True)])
def test_a_product_with_more_columns_than_rows_splits_its_columns(
        monkeypatch, small_chunks, lhs_t, rhs_t):
    rng = np.random.default_rng(int(lhs_t) * 2 + int(rhs_t))
    a = rng.standard_normal((13, 9) if lhs_t else (9, 13)).astype(np.float32)
    b = rng.standard_normal((47, 13) if rhs_t else (13, 47)).astype(np.float32)

    def f(a, b):  # op(a) 9 x 13 . op(b) 13 x 47, the transposes read by gemm's flags
        return (a.T if lhs_t else a) @ (b.T if rhs_t else b)

    compiled = CompiledFunction(dj.make_ir(f)(a, b))
    splits = [g.split for k in compiled.plan.kernels for g in k.segment.groups
              if g.library == "gemm"]
    assert [s.columns for s in splits] == [True], str(compiled.plan)
    assert splits[0].rows == 47 and splits[0].chunks > 2
    assert "47 columns in" in str(compiled.plan)
    results = _run_with_threads(compiled, (a, b), monkeypatch)
    _assert_same_for_any_split_count(results)
    want = (a.T if lhs_t else a).astype(np.float64) @ (b.T if rhs_t else b).astype(np.float64)
    np.testing.assert_allclose(results[2][0], want, rtol=1e-5, atol=1e-5)


def test_chunks_of_a_split_are_even():
    s = nest_plan.split_of((784, 256), 784 * 256)  # 64 rows a chunk would leave 16 at the end
    sizes = [min(s.chunk_rows, s.rows - i * s.chunk_rows) for i in range(s.chunks)]
    assert sum(sizes) == s.rows and max(sizes) - min(sizes) < s.chunks  # no sliver at the end
    product = nest_plan.product_split((), 784, 784 * 256 * 128, 256)
    assert (product.rows, product.chunks, product.chunk_rows) == (784, 4, 196)
    assert not product.columns
    wide = nest_plan.product_split((), 128, 128 * 256 * 784, 256)
    assert wide.columns and wide.rows == 256 and wide.chunks == 2


def test_nests_without_products_are_bit_identical_on_one_thread_and_several(
        monkeypatch, small_chunks):
    def rows(x, gamma):  # softmax, layer norm and GELU over rows: no product
        e = jnp.exp(x - jnp.max(x, axis=-1, keepdims=True))
        s = e / jnp.sum(e, axis=-1, keepdims=True)
        n = (s - jnp.mean(s, axis=-1, keepdims=True)) * gamma
        return 0.5 * n * (1 + jnp.tanh(0.79788456 * (n + 0.044715 * n ** 3)))

    rng = np.random.default_rng(3)
    x, gamma = (rng.standard_normal(shape).astype(np.float32) for shape in ((53, 31), (31,)))
    compiled = CompiledFunction(dj.make_ir(rows)(x, gamma))
    splits = _splits(compiled)  # (elementwise values may be computed in the rows' passes)
    assert splits.get("loop") or splits["reduction loop"], str(compiled.plan)
    one, *several = _run_with_threads(compiled, (x, gamma), monkeypatch)
    for other in several:
        np.testing.assert_array_equal(other, one)


def test_one_thread_runs_a_nest_as_one_chunk(monkeypatch):
    monkeypatch.setattr(nest_parallel.threads, "nest_threads", lambda chunks, busy_ok: 1)
    nest, seen = _recording_nest()
    address = ctypes.cast(nest, ctypes.c_void_p).value
    assert nest_parallel.parallel_for(address, 0, 100, 7) == 0
    assert seen == [(0, 100)]  # one gemm call for a product: its operand packed once


def test_thread_count_of_a_split_nest(monkeypatch, small_chunks):
    monkeypatch.setenv("DUALJIT_NUM_THREADS", "4")
    threads.set_load_reading(4)
    assert threads.nest_threads(100) == 4
    assert threads.nest_threads(3) == 3  # no more threads than chunks
    threads.set_load_reading(1)  # busy machine: our chunks do not spin, so still a helper
    assert threads.nest_threads(100) == threads.LOADED_NEST_THREADS == 2
    assert threads.nest_threads(100, busy_ok=False) == 1  # a short nest: a helper comes late
    monkeypatch.setenv("DUALJIT_NUM_THREADS", "1")
    assert threads.nest_threads(100) == 1  # the budget first


# -- the parallel-for itself -------------------------------------------------------------------

NEST = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)


def _recording_nest(fail_at=None):
    seen, lock = [], threading.Lock()

    def nest(_context, start, end):
        with lock:
            seen.append((start, end))
        return 1 if fail_at is not None and start <= fail_at < end else 0
    return NEST(nest), seen


class _NeverStarts:
    def submit(self, fn):
        return None  # a helper that is never scheduled


@pytest.mark.parametrize("native", [True, False] if nest_pool.usable() else [False])
def test_the_caller_runs_every_chunk_when_helpers_never_start(monkeypatch, native):
    monkeypatch.setattr(nest_parallel.parallel, "pool", lambda workers: _NeverStarts())
    monkeypatch.setattr(nest_pool, "_usable", native)
    # (native: the job is posted where no worker looks, and workers are said to exist)
    monkeypatch.setattr(nest_pool, "_shared", (ctypes.c_int64 * nest_pool.SHARED_FIELDS)())
    monkeypatch.setattr(nest_pool, "ensure_workers", lambda count: count)
    monkeypatch.setattr(nest_parallel.threads, "nest_threads", lambda chunks, busy_ok: 4)
    nest, seen = _recording_nest()
    address = ctypes.cast(nest, ctypes.c_void_p).value
    assert nest_parallel.parallel_for(address, 0, 100, 7) == 0
    assert sorted(seen) == [(s, min(s + 7, 100)) for s in range(0, 100, 7)]


@pytest.mark.parametrize("native", [True, False] if nest_pool.usable() else [False])
def test_every_chunk_runs_once_on_several_threads_and_a_failure_is_returned(
        monkeypatch, native):
    monkeypatch.setattr(nest_pool, "_usable", native)
    monkeypatch.setattr(nest_parallel.threads, "nest_threads", lambda chunks, busy_ok: 4)
    nest, seen = _recording_nest(fail_at=42)
    address = ctypes.cast(nest, ctypes.c_void_p).value
    assert nest_parallel.parallel_for(address, 0, 1000, 3) == 1  # the chunk's status
    assert sorted(seen) == [(s, min(s + 3, 1000)) for s in range(0, 1000, 3)]


def test_an_exception_in_the_callback_still_runs_every_chunk(monkeypatch, capfd):
    def broken(chunks, busy_ok):
        raise RuntimeError("policy broke")  # (ctypes would report success with chunks not run)

    monkeypatch.setattr(nest_parallel.threads, "nest_threads", broken)
    nest, seen = _recording_nest()
    address = ctypes.cast(nest, ctypes.c_void_p).value
    assert nest_parallel.parallel_for(address, 0, 50, 4) == 0
    assert sorted(seen) == [(s, min(s + 4, 50)) for s in range(0, 50, 4)]
    assert "policy broke" in capfd.readouterr().err  # reported, not swallowed


def test_a_failed_chunk_makes_the_kernel_raise(monkeypatch, small_chunks):
    args = _args(37, 11, 29)
    compiled = CompiledFunction(dj.make_ir(_block)(*args))
    real = nest_parallel.parallel_for
    calls = []

    def failing(nest, context, rows, chunk_rows, busy):
        calls.append(rows)
        real(nest, context, rows, chunk_rows, busy)  # the work is done, then reported failed
        return 1

    monkeypatch.setattr(nest_parallel, "parallel_for", failing)
    with pytest.raises(MemoryError, match="kernel"):
        compiled(*args)
    assert calls


def test_no_deadlock_from_many_python_threads_while_busy_processes_hold_the_cores(
        monkeypatch, small_chunks):
    args = _args(301, 13, 97, seed=5)
    compiled = CompiledFunction(dj.make_ir(_block)(*args))
    monkeypatch.setenv("DUALJIT_NUM_THREADS", "4")
    threads.set_load_reading(4)  # helpers asked for although every core is busy
    expected = compiled(*args)
    processes = busy.burners(os.cpu_count() or 2)

    def check():
        for got, want in zip(compiled(*args), expected):
            np.testing.assert_array_equal(got, want)

    try:
        time.sleep(0.2)
        busy.assert_callers_finish(check)
    finally:
        busy.stop(processes)
