"""Elementwise loops over the rows of a reduction along rows run inside that reduction's loop
nest: a loop whose values the reduction reads in place is stored from its inner loop
(schedule.Segment._stored_by_reduction: a softmax's exponentials and their sum), and a loop
that reads the reduction's results only in the same row runs as a second pass over each row
once its sums are stored (Segment._second_row_pass: the division by the sum, a layer norm's
scaling). Which groups merge (an independent check of the plan), values against the
interpreter and NumPy for hypothesis-drawn shapes in both float widths, the same bits for any
thread count, and a layer-norm + softmax gradient against central differences."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dualjit as dj
import dualjit.numpy as jnp
from dualjit.codegen import schedule
from dualjit.codegen.runtime import CompiledFunction
from dualjit.ir import eval_function

from .test_kernel_passes import matches_differences


def _softmax_and_exponentials(x):
    e = jnp.exp(x - jnp.max(x, axis=-1, keepdims=True))
    return e / jnp.sum(e, axis=-1, keepdims=True), e * 0.5


def _layer_norm_and_centred(x):
    p = x - jnp.mean(x, axis=-1, keepdims=True)
    return p / jnp.sqrt(jnp.mean(p * p, axis=-1, keepdims=True) + 1e-5), p


def _numpy(name, x):
    if name == "softmax":
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True), e * 0.5
    p = x - x.mean(-1, keepdims=True)
    return p / np.sqrt((p * p).mean(-1, keepdims=True) + 1e-5), p


FUNCTIONS = {"softmax": _softmax_and_exponentials, "layer norm": _layer_norm_and_centred}


def _merged(plan) -> list:
    """The reduction groups that also write elementwise values (stored from their inner loop
    or from a second pass), found from the plan's groups and equations alone."""
    found = []
    for kernel in plan.kernels:
        for group in kernel.segment.groups:
            reduced = {v for e in group.eqns if e.primitive.reduction for v in e.outputs}
            if group.kind == schedule.REDUCE and set(group.values) - reduced:
                found.append(group)
    return found


@given(name=st.sampled_from(sorted(FUNCTIONS)),
       shape=st.lists(st.integers(1, 9), min_size=2, max_size=4),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**31))
def test_row_passes_merge_and_match_the_interpreter_and_numpy(name, shape, dtype, seed):
    """Both functions are two reductions along rows with elementwise loops between and after
    them: the kernel is exactly two reduction loop nests, each with a second pass, and they
    write both outputs."""
    x = (np.random.default_rng(seed).standard_normal(shape) * 3).astype(dtype)
    fn = dj.make_ir(FUNCTIONS[name])(x)
    compiled = CompiledFunction(fn)
    groups = [g for k in compiled.plan.kernels for g in k.segment.groups]
    assert [g.kind for g in groups] == [schedule.REDUCE] * 2, str(compiled.plan)
    assert all(g.after for g in groups) and _merged(compiled.plan) == groups
    assert set(fn.outputs) <= {v for g in groups for v in g.values}
    for g in groups:
        assert all(r.type.shape == tuple(shape[:-1]) for e in g.eqns for r in e.outputs)
    got = compiled(x)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for g, interpreted, want in zip(got, eval_function(fn, x), _numpy(name, x)):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, interpreted, rtol=tol, atol=tol)
        np.testing.assert_allclose(g, want, rtol=tol * 10, atol=tol * 10)


@pytest.mark.parametrize("case", ["columns", "every axis", "reversed", "only reader",
                                  "other row", "transposed"])
def test_other_reductions_keep_their_own_pass(case):
    """A reduction over columns, over everything, or reading the value at another index
    does not take it; a value its reduction alone reads is computed there, not stored; a
    loop reading the sums of other rows stays a loop of its own."""
    x = np.random.default_rng(3).standard_normal((6, 10))

    def f(x):
        if case == "transposed":  # (square: the sums broadcast along the other axis)
            x = x[:, :6]
        e = jnp.exp(x)
        if case in ("other row", "transposed"):
            rows = jnp.sum(x, axis=1)
            return (e * (rows[::-1, None] if case == "other row" else rows[None, :]),)
        total = {"columns": lambda: jnp.sum(e, axis=0),
                 "every axis": lambda: jnp.sum(e),
                 "reversed": lambda: jnp.sum(e[:, ::-1] * x, axis=1),
                 "only reader": lambda: jnp.sum(e, axis=1)}[case]()
        return (total,) if case == "only reader" else (total, e * 2.0)

    fn = dj.make_ir(f)(x)
    compiled = CompiledFunction(fn)
    assert _merged(compiled.plan) == [], str(compiled.plan)
    for got, want in zip(compiled(x), eval_function(fn, x)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_split_across_threads_the_same_bits(monkeypatch, name):
    """Split over threads in small chunks of rows: the same bits for 1, 2 and 4 threads."""
    from dualjit.codegen import nest_plan, threads

    monkeypatch.setattr(nest_plan, "NEST_MIN_ELEMENTS", 16)
    monkeypatch.setattr(nest_plan, "CHUNK_ELEMENTS", 24)
    x = np.random.default_rng(11).standard_normal((5, 7, 12)).astype(np.float32)
    fn = dj.make_ir(FUNCTIONS[name])(x)
    compiled = CompiledFunction(fn)
    assert "split over threads" in str(compiled.plan) and _merged(compiled.plan)
    threads.set_load_reading(4)
    try:
        runs = []
        for count in ("1", "2", "4"):
            monkeypatch.setenv("DUALJIT_NUM_THREADS", count)
            runs.append(compiled(x))
    finally:
        threads.set_load_reading(None)
    for run in runs[1:]:
        for got, first in zip(run, runs[0]):
            np.testing.assert_array_equal(got, first)
    for got, want in zip(runs[0], eval_function(fn, x)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_a_layer_norm_and_softmax_gradient_matches_differences_and_the_interpreter():
    """Reverse mode of layer norm -> product -> softmax: its row passes merge (forward and
    backward) and the gradient agrees with the interpreter and central differences."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 8, 16))
    w = rng.standard_normal((16, 16)) * 0.3

    def loss(w):
        h, _ = _layer_norm_and_centred(x)
        s, _ = _softmax_and_exponentials(h @ w)
        return jnp.sum(s * s * jnp.arange(16.0))

    fn = dj.make_ir(dj.grad(loss))(w)
    compiled = CompiledFunction(fn)
    assert len(_merged(compiled.plan)) >= 2, str(compiled.plan)
    got = compiled(w)[0]
    np.testing.assert_allclose(got, eval_function(fn, w)[0], rtol=1e-10, atol=1e-12)
    matches_differences(loss, w, got, [(0, 0), (15, 15), (3, 9), (12, 2)])


@pytest.mark.parametrize("length, merged", [(8, True), (9, False)])
def test_long_rows_keep_their_loops(monkeypatch, length, merged):
    """Rows longer than ROW_PASS_MAX_ELEMENTS (few and out of cache between passes) keep
    their own loop nests, split over elements; the values are the same either way."""
    monkeypatch.setattr(schedule, "ROW_PASS_MAX_ELEMENTS", 8)
    x = np.random.default_rng(4).standard_normal((5, length))
    fn = dj.make_ir(_softmax_and_exponentials)(x)
    compiled = CompiledFunction(fn)
    assert bool(_merged(compiled.plan)) == merged, str(compiled.plan)
    for got, want in zip(compiled(x), _numpy("softmax", x)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
