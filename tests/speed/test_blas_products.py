"""A split product that is not batched runs as one gemm call on OpenBLAS's threads when two
cores are free at the call, else in its chunks on our threads (schedule.BLAS_PRODUCTS,
nest_parallel.parallel_for): which nests may, what each load reading runs, BLAS's thread
count restored after the call, and values against the interpreter for hypothesis-drawn shapes
in both float widths."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dualjit as dj
import dualjit.numpy as jnp
from dualjit.codegen import blas, nest_parallel, nest_plan, nest_pool, schedule, threads
from dualjit.codegen.runtime import CompiledFunction
from dualjit.ir import eval_function

pytestmark = pytest.mark.skipif(not blas.gemms(), reason="no BLAS gemm found")

SMALL = (("NEST_MIN_ELEMENTS", 64), ("CHUNK_ELEMENTS", 24), ("GEMM_MIN_MACS", 64),
         ("GEMM_CHUNK_MACS", 64), ("GEMM_ROWS_CHUNK_MACS", 64), ("GEMM_MIN_ROWS", 2),
         ("GEMM_BUSY_MACS", 64), ("ONE_BLAS_CALL_MACS", 64))


def _small_chunks(monkeypatch):
    for name, value in SMALL:
        monkeypatch.setattr(nest_plan, name, value)
    monkeypatch.setattr(schedule, "BLAS_MIN_FLOPS", 1)  # every product a gemm call
    monkeypatch.setattr(schedule, "BLAS_PRODUCTS", "idle")  # (DUALJIT_BLAS_PRODUCTS=idle)


def _model(x, w):
    """A product (its rows split), a row-wise loop, a batched product, a product by columns."""
    h = jnp.tanh(x @ w)
    stack = jnp.stack([h, 2 * h])
    return h @ w.T, jnp.matmul(stack, jnp.swapaxes(stack, 1, 2)), x.T @ h


def _recorded(monkeypatch):
    """Record each parallel-for call's flags and chunk rows, and BLAS thread counts set."""
    calls, counts = [], []
    real_for, real_set = nest_parallel.parallel_for, threads.set_blas_threads

    def parallel_for(nest, context, rows, chunk_rows, flags):
        calls.append((rows, chunk_rows, flags))
        return real_for(nest, context, rows, chunk_rows, flags)

    def set_blas_threads(count):
        counts.append(count)
        real_set(count)

    monkeypatch.setattr(nest_parallel, "parallel_for", parallel_for)
    monkeypatch.setattr(threads, "set_blas_threads", set_blas_threads)
    return calls, counts


def _compiled(x, w):
    fn = dj.make_ir(_model)(x, w)
    return fn, CompiledFunction(fn)


def test_only_products_that_are_not_batched_may_take_openblas_threads(monkeypatch):
    _small_chunks(monkeypatch)
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((40, 9)), rng.standard_normal((9, 30))
    _, compiled = _compiled(x, w)
    flagged = {(g.library, g.eqns[0].primitive.name, g.split.columns,
                schedule.one_blas_call_when_idle(g))
               for k in compiled.plan.kernels for g in k.segment.groups if g.split}
    products = {(cols, one) for lib, name, cols, one in flagged if lib == "gemm"}
    assert (False, True) in products and (True, True) in products, str(compiled.plan)
    batched = [g for k in compiled.plan.kernels for g in k.segment.groups if g.split
               and g.library == "gemm" and g.eqns[0].outputs[0].type.shape == (2, 40, 40)]
    assert batched and not any(schedule.one_blas_call_when_idle(g) for g in batched)
    assert not any(one for lib, _, _, one in flagged if lib != "gemm")  # loops: never
    for k in compiled.plan.kernels:  # a product under ONE_BLAS_CALL_MACS: not
        for g in k.segment.groups:
            if g.split and g.library == "gemm":
                assert not schedule.one_blas_call_when_idle(replace(g, split=replace(
                    g.split, work=nest_plan.ONE_BLAS_CALL_MACS - 1)))
    monkeypatch.setattr(schedule, "BLAS_PRODUCTS", "0")  # DUALJIT_BLAS_PRODUCTS=0: never
    assert not any(schedule.one_blas_call_when_idle(g) for k in compiled.plan.kernels
                   for g in k.segment.groups if g.split)


@pytest.mark.parametrize("free", [1, 2])
def test_what_runs_for_each_load_reading(monkeypatch, free):
    """Two free cores: a flagged product is one chunk (one gemm call) on two BLAS threads,
    set back to one after it; one free core: its chunks on our threads, BLAS left at one."""
    _small_chunks(monkeypatch)
    monkeypatch.setenv("DUALJIT_NUM_THREADS", "2")
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((40, 9)), rng.standard_normal((9, 30))
    fn, compiled = _compiled(x, w)
    threads.set_load_reading(free)
    try:
        calls, counts = _recorded(monkeypatch)
        got = compiled(x, w)
    finally:
        threads.set_load_reading(None)
    flagged = [(rows, chunk) for rows, chunk, flags in calls
               if flags & nest_parallel.ONE_BLAS_CALL]
    assert flagged and len(flagged) < len(calls)
    assert all(chunk < rows for rows, chunk in flagged)  # the plan's chunks are kept
    assert [c for c in counts if c > 1] == ([2] * len(flagged) if free == 2 else [])
    assert threads.blas_threads() in (None, 1) and (not counts or counts[-1] == 1)
    for g, want in zip(got, eval_function(fn, x, w)):
        np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-12)


def test_one_call_on_two_free_cores_runs_the_whole_range(monkeypatch):
    """parallel_for itself: with the flag and two free cores, one chunk of every row."""
    monkeypatch.setenv("DUALJIT_NUM_THREADS", "2")
    seen = []
    monkeypatch.setattr(nest_pool, "_usable", False)  # (the Python pool's Job, recorded)
    monkeypatch.setattr(nest_parallel, "Job", lambda nest, context, rows, chunk: seen.append(
        (rows, chunk)) or _Done())
    threads.set_load_reading(2)
    try:
        nest_parallel.parallel_for(0, 0, 100, 7, nest_parallel.BUSY | nest_parallel.ONE_BLAS_CALL)
        nest_parallel.parallel_for(0, 0, 100, 7, nest_parallel.BUSY)  # a loop: chunks
        threads.set_load_reading(1)
        nest_parallel.parallel_for(0, 0, 100, 7, nest_parallel.BUSY | nest_parallel.ONE_BLAS_CALL)
    finally:
        threads.set_load_reading(None)
    assert seen == [(100, 100), (100, 7), (100, 7)]


class _Done:
    status = 0

    def run(self, helpers):
        pass


@given(rows=st.integers(1, 48), inner=st.integers(1, 12), cols=st.integers(1, 48),
       free=st.sampled_from([1, 2]), dtype=st.sampled_from([np.float32, np.float64]))
def test_random_shapes_on_either_load_agree_with_the_interpreter(rows, inner, cols, free, dtype):
    with pytest.MonkeyPatch.context() as monkeypatch:
        _small_chunks(monkeypatch)
        monkeypatch.setenv("DUALJIT_NUM_THREADS", "2")
        rng = np.random.default_rng(rows * 100 + cols)
        x = rng.standard_normal((rows, inner)).astype(dtype)
        w = (rng.standard_normal((inner, cols)) * 0.3).astype(dtype)
        fn, compiled = _compiled(x, w)
        threads.set_load_reading(free)
        try:
            got = compiled(x, w)
        finally:
            threads.set_load_reading(None)
    tol = 3e-5 if dtype == np.float32 else 1e-11
    for g, want in zip(got, eval_function(fn, x, w)):
        assert g.dtype == want.dtype
        np.testing.assert_allclose(g, want, rtol=tol, atol=tol)
