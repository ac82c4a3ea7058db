"""Kernels split across threads: same results as one thread and as the interpreter."""

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp
from dualjit.codegen import compile_function, parallel, schedule
from dualjit.codegen import threads as threads_policy
from dualjit.ir.interpreter import eval_function

N = schedule.PARALLEL_MIN_ELEMENTS * 2 + 77  # not a multiple of the chunk alignment


@pytest.fixture(params=["1", "2", "3"])
def threads(request, monkeypatch):
    monkeypatch.setenv("DUALJIT_NUM_THREADS", request.param)
    return int(request.param)


def compiled(f, *args):
    fn = dj.make_ir(f)(*args)
    return fn, compile_function(fn)


def test_elementwise_and_reductions_match_the_interpreter(threads):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(N)
    x[N - 5] = 3e5  # outside the fast sin range, in the last chunk only: that chunk reruns

    def f(x):
        y = jnp.sin(x) * jnp.exp(-x * x) + jnp.tanh(x)
        return y, jnp.sum(y), jnp.max(x), jnp.min(y), jnp.prod(1.0 + x * 1e-6)

    fn, c = compiled(f, x)
    assert c.steps[0].flat is not None
    for got, want in zip(c(x), eval_function(fn, x)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_nan_and_integer_reductions(threads):
    x = np.arange(N, dtype=np.int64)
    fn, c = compiled(lambda x: (jnp.sum(x * 3), jnp.max(x - 7)), x)
    assert [int(v) for v in c(x)] == [int(np.sum(x * 3)), int(np.max(x - 7))]
    y = np.ones(N)
    y[N // 2 + 1000] = np.nan
    fn, c = compiled(lambda y: (jnp.max(y), jnp.sum(y)), y)
    assert all(np.isnan(v) for v in c(y))


def test_gradient_of_the_w3_function(threads):
    x = np.random.default_rng(1).standard_normal(N)

    def f(x):
        return jnp.sum(jnp.sin(x) * jnp.cos(x) + jnp.exp(-x * x) * x ** 3)

    g = dj.make_ir(dj.grad(f))(x)
    want = np.cos(x) ** 2 - np.sin(x) ** 2 + np.exp(-x * x) * (3 * x ** 2 - 2 * x ** 4)
    np.testing.assert_allclose(compile_function(g)(x)[0], want, rtol=1e-12, atol=1e-14)


def test_kernels_that_read_across_indices_are_not_split():
    x = np.ones((600, 600))
    fn, c = compiled(lambda x: x + x.T, x)
    assert all(getattr(s, "flat", None) is None for s in c.steps)
    fn, c = compiled(lambda x: x - jnp.mean(x), np.ones(N))  # a reduction read in the kernel
    assert all(getattr(s, "flat", None) is None for s in c.steps)
    fn, c = compiled(lambda x: x * 2.0, np.ones(1000))  # too small to pay for threads
    assert all(getattr(s, "flat", None) is None for s in c.steps)


def test_chunks_cover_the_range_once():
    for n in (N, 130, 64, parallel.CHUNK_ELEMENTS * 3):
        ranges = parallel.chunks(n)  # a fixed chunk size: the same for every thread count
        assert ranges[0][0] == 0 and ranges[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
        assert all(s % parallel.CHUNK_ALIGN == 0 for s, _ in ranges)
        assert all(0 < e - s <= parallel.CHUNK_ELEMENTS for s, e in ranges)


def test_one_thread_and_shared_chunks_give_identical_results(monkeypatch):
    """One thread calls the kernel, which runs every chunk in order natively (chunk_loop.py);
    threads share the chunk loop one chunk at a time, then fold the rows of partial results:
    bit for bit the same results."""
    x = np.random.default_rng(2).standard_normal(N)
    fn, c = compiled(lambda x: (jnp.exp(x) * 0.5, jnp.sum(jnp.sin(x)), jnp.max(x)), x)
    kernel = c.steps[0]
    assert kernel.flat.n_chunks == -(-N // kernel.flat.chunk) > 2
    calls = []
    native = kernel.chunk_call
    monkeypatch.setattr(kernel, "chunk_call", lambda *a: calls.append(a[-2:]) or native(*a))
    monkeypatch.setenv("DUALJIT_NUM_THREADS", "1")
    alone = c(x)
    assert calls == []  # no chunk handed out: the kernel ran them all
    monkeypatch.setenv("DUALJIT_NUM_THREADS", "2")
    monkeypatch.setattr(threads_policy, "free_cores", lambda: 2)  # two idle cores
    shared = c(x)
    assert sorted(calls) == [(i, i + 1) for i in range(kernel.flat.n_chunks)]
    for a, b in zip(alone, shared):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(alone[1], np.sum(np.sin(x)), rtol=1e-12)
    assert alone[2] == np.max(x)
    np.testing.assert_allclose(alone[0], np.exp(x) * 0.5, rtol=1e-14)


def test_chunk_loop_writes_its_chunks_and_the_fold_merges_rows_in_order():
    rng = np.random.default_rng(3)
    x, z = rng.standard_normal(N), rng.standard_normal(N)
    z[N // 2] = np.nan  # in one chunk's row of maxima: the fold keeps it (as the kernel's max)
    fn, c = compiled(lambda x, z: (x * 3.0, jnp.sum(x * x), jnp.max(z)), x, z)
    kernel = c.steps[0]
    n_chunks, chunk = kernel.flat.n_chunks, kernel.flat.chunk
    y, sums, maxima = np.zeros(N), np.full(n_chunks, -1.0), np.full(n_chunks, -1.0)
    assert kernel.chunk_call(x, z, y, sums, maxima, 2, 3) == 0  # chunk 2 only
    assert np.all(y[:2 * chunk] == 0) and np.all(y[3 * chunk:] == 0)
    np.testing.assert_array_equal(y[2 * chunk:3 * chunk], x[2 * chunk:3 * chunk] * 3.0)
    assert sums[[0, 1, 3]].tolist() == [-1.0] * 3
    np.testing.assert_allclose(sums[2], np.sum(x[2 * chunk:3 * chunk] ** 2), rtol=1e-12)
    assert kernel.chunk_call(x, z, y, sums, maxima, 0, n_chunks) == 0
    assert np.isnan(maxima[(N // 2) // chunk]) and np.isnan(maxima).sum() == 1
    total, top = np.empty(()), np.empty(())
    assert kernel.fold_call(total, top, sums, maxima) == 0
    left_fold = sums[0]
    for s in sums[1:]:
        left_fold = np.add(left_fold, s)  # in chunk order, one rounding per chunk
    assert total == left_fold and np.isnan(top)
    got = c(x, z)
    assert got[1] == total and np.isnan(got[2])
