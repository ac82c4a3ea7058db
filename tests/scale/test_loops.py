"""Tracing and evaluating a loop costs the same for any trip count (issue 10 item 11): the
traced program is one loop equation, and eager evaluation (grad, jvp, plain calls) runs long
loops as compiled code, not step by step in Python."""

import os

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp
from dualjit import lax
from dualjit.ir import primitives as P
from dualjit.ir.core import impl_rules
from dualjit.tracer import core as tracer_core

DEEP = os.environ.get("DUALJIT_DEEP") == "1"
LONG = 10**6


def body(i, c):
    return jnp.sin(c) * 0.999 + 0.001 * i


def fori(n):
    return lambda x: jnp.sum(lax.fori_loop(0, n, body, x))


def fori_numpy(x, n):
    """Value and gradient of fori(n) by the chain rule, stepping in NumPy."""
    c, slope = np.array(x, dtype=np.float64), np.ones_like(x)
    for i in range(n):
        slope = slope * np.cos(c) * 0.999
        c = np.sin(c) * 0.999 + 0.001 * i
    return c.sum(), slope


def halving(x, n):
    """while_loop: n steps of a sin map, the bound a concrete (or traced) integer."""
    def cond(s):
        return s[0] < n

    def step(s):
        return s[0] + 1, jnp.sin(s[1]) * 0.999
    return jnp.sum(lax.while_loop(cond, step, (0, x))[1])


def halving_numpy(x, t, n):
    c, dc = np.array(x, dtype=np.float64), np.array(t, dtype=np.float64)
    for _ in range(n):
        c, dc = np.sin(c) * 0.999, dc * np.cos(c) * 0.999
    return c.sum(), dc.sum()


@pytest.fixture
def sin_evaluations(monkeypatch):
    """Counts the interpreter's evaluations of sin (compiled code never calls impl_rules)."""
    count = [0]
    impl = impl_rules[P.sin_p]

    def counted(*args, **params):
        count[0] += 1
        return impl(*args, **params)
    monkeypatch.setitem(impl_rules, P.sin_p, counted)
    return count


X = np.array([0.3, -1.2, 2.0, 0.7])


@pytest.mark.parametrize("n", [10, 3000])
def test_fori_loop_values_and_gradients_eager_and_jitted(n):
    value, slope = fori_numpy(X, n)
    np.testing.assert_allclose(fori(n)(X), value, rtol=1e-11)
    np.testing.assert_allclose(dj.grad(fori(n))(X), slope, rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(dj.jit(dj.grad(fori(n)))(X), slope, rtol=1e-10, atol=1e-300)


def test_traced_program_of_a_loop_does_not_grow_with_its_trip_count():
    short, long = (dj.make_ir(dj.grad(fori(n)))(X) for n in (10, LONG))
    assert len(short.eqns) == len(long.eqns) < 100
    assert [e.primitive for e in short.eqns] == [e.primitive for e in long.eqns]
    short_w, long_w = (dj.make_ir(dj.jit(lambda x, n=n: halving(x, n)))(X) for n in (10, LONG))
    assert len(short_w.eqns) == len(long_w.eqns)


def test_eager_grad_of_a_long_fori_loop_does_not_step_in_python(sin_evaluations):
    counts = []
    for n in (3000, LONG):
        sin_evaluations[0] = 0
        g = dj.grad(fori(n))(X)
        assert np.all(np.isfinite(g))
        counts.append(sin_evaluations[0])
    assert counts[0] == counts[1] < tracer_core.COMPILED_LOOP_MIN_STEPS


@pytest.mark.parametrize("n", [10, 3000])
def test_while_loop_values_eager_jvp_and_jitted(n):
    t = np.ones(4)
    value, tangent = halving_numpy(X, t, n)
    np.testing.assert_allclose(halving(X, n), value, rtol=1e-12)
    primal, dual = dj.jvp(lambda x: halving(x, n), (X,), (t,))
    np.testing.assert_allclose(primal, value, rtol=1e-12)
    np.testing.assert_allclose(dual, tangent, rtol=1e-11)
    jitted = dj.jit(halving)  # the bound is traced: one program for every trip count
    np.testing.assert_allclose(jitted(X, n), value, rtol=1e-12)
    # fori_loop with a bound that is an array (not a Python int) is a while_loop too
    bounded = jnp.sum(lax.fori_loop(0, np.array(n), lambda i, c: jnp.sin(c) * 0.999, X))
    np.testing.assert_allclose(bounded, value, rtol=1e-12)


def test_eager_while_loops_of_any_length_step_in_python_at_most_a_bounded_number_of_times(
        sin_evaluations):
    counts = []
    for n in (3000, LONG):
        sin_evaluations[0] = 0
        assert np.isfinite(halving(X, n))
        primal, dual = dj.jvp(lambda x, n=n: halving(x, n), (X,), (np.ones(4),))
        assert np.isfinite(primal) and np.isfinite(dual)
        counts.append(sin_evaluations[0])
    # the interpreter runs the first COMPILED_LOOP_MIN_STEPS steps of each of the three loops
    # (the call's, and jvp's primal and tangent loops), compiled code the rest
    assert counts[0] == counts[1] <= 3 * tracer_core.COMPILED_LOOP_MIN_STEPS


def test_a_short_while_loop_is_not_compiled(sin_evaluations):
    assert np.isfinite(halving(X, 10))
    assert sin_evaluations[0] == 10


@pytest.mark.skipif(not DEEP, reason="DUALJIT_DEEP=1: a million NumPy steps as the reference")
def test_million_step_loops_against_numpy():
    value, slope = fori_numpy(X, LONG)
    np.testing.assert_allclose(fori(LONG)(X), value, rtol=1e-9)
    np.testing.assert_allclose(dj.grad(fori(LONG))(X), slope, rtol=1e-8, atol=1e-300)
    np.testing.assert_allclose(dj.jit(dj.grad(fori(LONG)))(X), slope, rtol=1e-8, atol=1e-300)
    w_value, w_tangent = halving_numpy(X, np.ones(4), LONG)
    np.testing.assert_allclose(halving(X, LONG), w_value, rtol=1e-9)
    np.testing.assert_allclose(dj.jvp(lambda x: halving(x, LONG), (X,), (np.ones(4),))[1],
                               w_tangent, rtol=1e-8, atol=1e-300)
