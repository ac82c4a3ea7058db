"""Control flow: cond, switch, while_loop, fori_loop and scan against plain Python loops."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dualjit as dj
import dualjit.numpy as jnp
from dualjit import lax
from dualjit.ir import impl_rules
from dualjit.ir import primitives as P


@given(st.floats(-5, 5), st.integers(0, 6))
def test_fori_loop_matches_python(x0, n):
    def body(i, c):
        return c * 0.5 + jnp.sin(c) + i

    expected = x0
    for i in range(n):
        expected = expected * 0.5 + np.sin(expected) + i
    assert np.isclose(dj.jit(lambda x: lax.fori_loop(0, n, body, x))(x0), expected)
    assert np.isclose(lax.fori_loop(0, n, body, np.float64(x0)), expected)


@given(st.floats(0.1, 10))
def test_while_loop_matches_python(x0):
    def cond(c):
        return c[0] < 100.0

    def body(c):
        return (c[0] * 1.7 + 1.0, c[1] + 1)

    x, n = x0, 0
    while x < 100.0:
        x, n = x * 1.7 + 1.0, n + 1
    got = dj.jit(lambda x: lax.while_loop(cond, body, (x, 0)))(x0)
    assert np.isclose(got[0], x) and int(got[1]) == n


def test_fori_loop_with_traced_bounds_uses_while():
    f = dj.jit(lambda n, x: lax.fori_loop(0, n, lambda i, c: c + i, x))
    assert float(f(np.int64(5), 0.0)) == 10.0
    assert "while" in dj.make_ir(lambda n, x: lax.fori_loop(0, n, lambda i, c: c + i, x))(
        np.int64(5), 0.0).text


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_with_pytree_carry_matches_python(reverse):
    xs = {"a": np.arange(5.0), "b": np.arange(10.0).reshape(5, 2)}

    def step(carry, x):
        total, count = carry
        new = total + x["a"] * jnp.sum(x["b"])
        return (new, count + 1), {"running": new, "pair": x["b"] * 2}

    (total, count), ys = dj.jit(lambda xs: lax.scan(step, (0.0, 0), xs, reverse=reverse))(xs)
    order = range(4, -1, -1) if reverse else range(5)
    t, running = 0.0, np.zeros(5)
    for i in order:
        t = t + xs["a"][i] * xs["b"][i].sum()
        running[i] = t
    assert np.isclose(total, t) and int(count) == 5
    np.testing.assert_allclose(ys["running"], running)
    np.testing.assert_allclose(ys["pair"], xs["b"] * 2)


def test_cond_and_switch():
    f = dj.jit(lambda p, x: lax.cond(p, lambda a: a * 2.0, lambda a: a - 1.0, x))
    assert float(f(True, 3.0)) == 6.0 and float(f(False, 3.0)) == 2.0
    g = dj.jit(lambda i, x: lax.switch(i, [jnp.sin, jnp.cos, jnp.exp], x))
    for i, ref in enumerate([np.sin, np.cos, np.exp]):
        assert np.isclose(g(np.int32(i), 0.3), ref(0.3))
    assert np.isclose(g(np.int32(7), 0.3), np.exp(0.3))  # clamped like JAX
    assert float(lax.cond(1 > 0, lambda: 1.0, lambda: 2.0)) == 1.0


def test_type_mismatch_errors():
    with pytest.raises(TypeError, match="branches return different types"):
        dj.jit(lambda x: lax.cond(x > 0, lambda a: a, lambda a: a.astype(np.float32), x))(1.0)
    with pytest.raises(TypeError, match="body_fun must return"):
        dj.jit(lambda x: lax.while_loop(lambda c: c < 3, lambda c: jnp.stack([c, c]), x))(1.0)
    with pytest.raises(TypeError, match="scan: f must return a carry"):
        lax.scan(lambda c, x: (jnp.stack([c, x]), x), 0.0, np.arange(3.0))
    with pytest.raises(TypeError, match="bool scalar"):
        lax.while_loop(lambda c: c, lambda c: c + 1.0, 1.0)


def test_closures_over_outer_values_become_consts():
    w = np.array([1.0, 2.0])

    def f(x):
        return lax.fori_loop(0, 3, lambda i, c: c + w * x, jnp.zeros(2))

    np.testing.assert_allclose(dj.jit(f)(2.0), 3 * w * 2.0)
    np.testing.assert_allclose(dj.grad(lambda x: jnp.sum(f(x)))(2.0), 9.0)


def test_a_million_step_loop_costs_no_more_to_trace_or_differentiate_than_ten(monkeypatch):
    # issue 10 item 11: eager grad evaluated the loop step by step in the interpreter (twice)
    a, b = 0.999999, 1e-6

    def f(n):
        return lambda x: lax.fori_loop(0, n, lambda i, c: c * a + b, x)

    stepped = []
    interpreted = impl_rules[P.scan_p]

    def counting(*args, length, **params):
        stepped.append(length)
        return interpreted(*args, length=length, **params)

    monkeypatch.setitem(impl_rules, P.scan_p, counting)
    texts = [dj.make_ir(dj.grad(f(n)))(0.5).text.replace(f"={n}", "=N") for n in (10, 10**6)]
    assert texts[0] == texts[1]  # the same program; only the trip count differs
    n = 10**6
    value = a**n * 0.5 + b * (1 - a**n) / (1 - a)
    np.testing.assert_allclose(dj.value_and_grad(f(n))(0.5), (value, a**n), rtol=1e-9)
    np.testing.assert_allclose(dj.jit(dj.grad(f(n)))(0.5), a**n, rtol=1e-9)
    np.testing.assert_allclose(f(n)(0.5), value, rtol=1e-9)  # outside any transform
    assert max(stepped, default=0) < 1000, "a long loop ran in the interpreter"
    np.testing.assert_allclose(dj.grad(f(10))(0.5), a**10, rtol=1e-12)
    assert stepped and max(stepped) == 10  # short loops still run in the interpreter
