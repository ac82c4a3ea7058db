"""Loop-invariant code motion (codegen/loop_invariants.py): what moves out of scan and while
bodies, that the plan shows it, and that results stay those of the reference interpreter
(bit for bit at the IR level, to rounding natively), gradients included."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dualjit as dj
import dualjit.numpy as jnp
from dualjit.codegen import loop_invariants as LI
from dualjit.codegen.schedule import plan_function
from dualjit.ir import primitives as P
from dualjit.ir.interpreter import eval_function
from dualjit.ir.verifier import verify
from dualjit.tracer.make_ir import make_ir

X = np.linspace(-1.0, 1.0, 7)


def loop_eqn(fn, prim):
    (eqn,) = [e for e in fn.eqns if e.primitive is prim]
    return eqn


def prims(fn):
    return [e.primitive for e in fn.eqns]


def fit_steps(p, x):
    """W1's cubic fit with the data an argument: x**2, x**3 depend on the loop's constants."""
    def loss(p):
        a, b, c, d = p
        return jnp.sum((a + b * x + c * x ** 2 + d * x ** 3 - jnp.sin(x)) ** 2)

    def step(_, p):
        g = dj.grad(loss)(p)
        return tuple(pi - 0.01 * gi for pi, gi in zip(p, g))
    return dj.lax.fori_loop(0, 4, step, p)


P0 = tuple(np.float64(v) for v in (0.1, 0.2, 0.3, 0.4))


def test_scan_body_work_on_constants_moves_before_the_loop():
    fn = make_ir(fit_steps)(P0, X)
    hoisted = verify(LI.hoist_loop_invariants(fn))
    before, after = loop_eqn(fn, P.scan_p), loop_eqn(hoisted, P.scan_p)
    for prim in (P.integer_pow_p, P.sin_p):  # x**2, x**3 and the target sin(x)
        assert prim in prims(before.params["body"])
        assert prim not in prims(after.params["body"]) and prim in prims(hoisted)
    new_consts = after.params["num_consts"] - before.params["num_consts"]
    assert new_consts >= 3
    assert len(after.params["body"].inputs) == len(before.params["body"].inputs) + new_consts
    for got, want in zip(eval_function(hoisted, *P0, X), eval_function(fn, *P0, X)):
        np.testing.assert_array_equal(got, want)  # the same operations on the same operands


def test_the_plan_shows_the_hoisted_equations_before_the_loop():
    text = str(plan_function(make_ir(fit_steps)(P0, X)))
    scan_line = text.index("scan[length=4")
    assert text.index("integer_pow[y=2]") < scan_line and text.index("integer_pow[y=3]") < scan_line
    assert "integer_pow" not in text[scan_line:]


def test_work_that_reads_the_carry_stays_and_nothing_changes():
    def f(c, x):
        return dj.lax.fori_loop(0, 3, lambda i, c: jnp.sin(c * x) + c, c)
    fn = make_ir(f)(X, X)
    assert LI.hoist_loop_invariants(fn) is fn


def test_moves_stay_inside_unless_something_hoisted_reads_them():
    def f(c, s, x):
        def body(i, c):
            wide = jnp.broadcast_to(s, c.shape)  # a move alone: fused inside, not stored
            return c * wide + jnp.exp(jnp.broadcast_to(s, x.shape) * x)  # exp: computes
        return dj.lax.fori_loop(0, 3, body, c)
    fn = make_ir(f)(X, np.float64(0.5), X)
    body = loop_eqn(fn, P.scan_p).params["body"]
    k = loop_eqn(fn, P.scan_p).params["num_consts"]
    moved = LI.hoisted_equations(body, k)
    assert {e.primitive for e in moved} >= {P.exp_p, P.mul_p}
    assert len(LI.invariant_equations(body, k)) >= len(moved)
    after = loop_eqn(verify(LI.hoist_loop_invariants(fn)), P.scan_p)
    assert P.exp_p not in prims(after.params["body"])
    # the broadcast runs before the loop (exp's operand) and again inside (fused with the
    # carry's product): only exp's result crosses into the loop, not a stored broadcast
    assert P.broadcast_in_dim_p in prims(after.params["body"])
    assert after.params["num_consts"] == k + 1
    np.testing.assert_allclose(dj.jit(f)(X, np.float64(0.5), X),
                               eval_function(fn, X, np.float64(0.5), X)[0], rtol=1e-12)


def test_while_cond_and_body_invariants_both_move():
    def f(x, c):
        def cond(state):
            i, c = state
            return (i < 5) & (jnp.sum(c) < jnp.sum(jnp.exp(x)) * 10)

        def body(state):
            i, c = state
            return i + 1, c + jnp.tanh(x) * 0.5
        return dj.lax.while_loop(cond, body, (0, c))
    fn = make_ir(f)(X, X)
    hoisted = verify(LI.hoist_loop_invariants(fn))
    before, after = loop_eqn(fn, P.while_p), loop_eqn(hoisted, P.while_p)
    assert P.exp_p not in prims(after.params["cond_fun"])
    assert P.tanh_p not in prims(after.params["body_fun"])
    assert after.params["cond_nconsts"] > before.params["cond_nconsts"]
    assert after.params["body_nconsts"] > before.params["body_nconsts"]
    for got, want in zip(eval_function(hoisted, X, X), eval_function(fn, X, X)):
        np.testing.assert_array_equal(got, want)
    native = dj.jit(f)(X, X)
    np.testing.assert_allclose(native[1], eval_function(fn, X, X)[1], rtol=1e-12)


def test_nested_loops_move_an_outer_invariant_out_of_both():
    def f(c, x):
        def inner(j, c):
            return c + jnp.sin(x) * 0.1  # invariant in both loops

        return dj.lax.fori_loop(0, 3, lambda i, c: dj.lax.fori_loop(0, 2, inner, c) * 0.9, c)
    fn = make_ir(f)(X, X)
    hoisted = verify(LI.hoist_loop_invariants(fn))
    assert prims(hoisted)[0] is P.sin_p
    outer_body = loop_eqn(hoisted, P.scan_p).params["body"]
    inner_body = loop_eqn(outer_body, P.scan_p).params["body"]
    assert P.sin_p not in prims(outer_body) and P.sin_p not in prims(inner_body)
    np.testing.assert_allclose(dj.jit(f)(X, X), eval_function(fn, X, X)[0], rtol=1e-12)


def test_scan_over_xs_hoists_constant_work_and_keeps_per_step_slices():
    def f(c, x, xs):
        def body(c, row):
            return c * jnp.cos(x) + row, jnp.sum(row * jnp.exp(x))
        return dj.lax.scan(body, c, xs)
    xs = np.arange(21.0).reshape(3, 7) / 10
    fn = make_ir(f)(X, X, xs)
    hoisted = verify(LI.hoist_loop_invariants(fn))
    body = loop_eqn(hoisted, P.scan_p).params["body"]
    assert P.cos_p not in prims(body) and P.exp_p not in prims(body)
    for got, want in zip(eval_function(hoisted, X, X, xs), eval_function(fn, X, X, xs)):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(dj.jit(f)(X, X, xs), eval_function(fn, X, X, xs)):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_zero_steps_still_return_the_initial_carry():
    def f(c, x):
        return dj.lax.fori_loop(0, 0, lambda i, c: c + jnp.log(x), c)  # log(<=0) never used
    got = dj.jit(f)(X, X)
    np.testing.assert_array_equal(got, X)


def test_gradient_through_a_loop_with_hoisted_work_matches_finite_differences():
    def loss(p, x):
        return jnp.sum(jnp.stack(fit_steps(p, x)) ** 2) + jnp.sum(fit_steps(p, x)[0] * x)
    p = tuple(np.float64(v) for v in (0.3, -0.2, 0.5, 0.1))
    grads = dj.jit(dj.grad(loss, argnums=(0, 1)))(p, X)
    eps = 1e-6
    for i in range(4):
        up = tuple(v + eps if j == i else v for j, v in enumerate(p))
        down = tuple(v - eps if j == i else v for j, v in enumerate(p))
        fd = (loss(up, X) - loss(down, X)) / (2 * eps)
        np.testing.assert_allclose(grads[0][i], fd, rtol=1e-6, atol=1e-8)
    for i in (0, 3, 6):
        e = np.zeros_like(X)
        e[i] = eps
        fd = (loss(p, X + e) - loss(p, X - e)) / (2 * eps)
        np.testing.assert_allclose(grads[1][i], fd, rtol=1e-6, atol=1e-8)


def test_forward_derivative_through_a_while_loop_with_hoisted_work():
    def f(x):
        def body(state):
            i, c = state
            return i + 1, c * 0.5 + jnp.sin(x) * jnp.exp(x)
        return dj.lax.while_loop(lambda s: s[0] < 4, body, (0, x))[1]
    t = np.cos(X)
    _, tangent = dj.jit(lambda x, t: dj.jvp(f, (x,), (t,)))(X, t)
    eps = 1e-6
    fd = (np.asarray(f(X + eps * t)) - np.asarray(f(X - eps * t))) / (2 * eps)
    np.testing.assert_allclose(tangent, fd, rtol=1e-6, atol=1e-9)


# -- random loop bodies: the hoisted Function computes what the original does --------------

UNARY = [jnp.sin, jnp.tanh, jnp.exp, lambda a: a ** 2, lambda a: a * 0.5]
BINARY = [lambda a, b: a * b, lambda a, b: a + b, lambda a, b: a - b * 0.25,
          lambda a, b: jnp.broadcast_to(jnp.sum(a * b), a.shape) * 0.1]

steps = st.lists(st.tuples(st.booleans(), st.integers(0, 4), st.integers(0, 30),
                           st.integers(0, 30)), min_size=1, max_size=8)


def random_body(program, consts, carry):
    """Each step applies a unary or binary operation to values picked from the constants,
    the carry and the values made so far; the new carry mixes the last value in, bounded."""
    pool = [*consts, carry]
    for binary, op, i, j in program:
        a, b = pool[i % len(pool)], pool[j % len(pool)]
        pool.append(BINARY[op % len(BINARY)](a, b) if binary else UNARY[op](jnp.tanh(a)))
    return jnp.tanh(pool[-1] + carry) * 0.9


def looped(kind, program):
    def f(c, x, y):
        if kind == "fori":
            return dj.lax.fori_loop(0, 3, lambda i, c: random_body(program, (x, y), c), c)
        if kind == "scan":
            return dj.lax.scan(lambda c, r: (random_body(program, (x, y * r), c), c[0]), c,
                               np.array([1.0, -0.5, 2.0]))[0]
        return dj.lax.while_loop(lambda s: s[0] < 3, lambda s: (
            s[0] + 1, random_body(program, (x, y), s[1])), (0, c))[1]
    return f


ARGS = (np.cos(X), X, np.sin(3 * X))


@given(st.sampled_from(["fori", "scan", "while"]), steps)
def test_random_loop_bodies_compute_the_same_after_hoisting(kind, program):
    fn = make_ir(looped(kind, program))(*ARGS)
    hoisted = verify(LI.hoist_loop_invariants(fn))
    for got, want in zip(eval_function(hoisted, *ARGS), eval_function(fn, *ARGS)):
        np.testing.assert_array_equal(got, want)


@settings(max_examples=6)
@given(st.sampled_from(["fori", "scan", "while"]), steps)
def test_random_loop_bodies_run_natively_as_the_interpreter_does(kind, program):
    f = looped(kind, program)
    want = eval_function(make_ir(f)(*ARGS), *ARGS)[0]
    np.testing.assert_allclose(dj.jit(f)(*ARGS), want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_w1_with_data_as_arguments_matches_the_interpreter(dtype):
    x = np.linspace(-1.0, 1.0, 64).astype(dtype)
    p = tuple(dtype(v) for v in (0.1, 0.2, 0.3, 0.4))
    got = dj.jit(fit_steps)(p, x)
    want = eval_function(make_ir(fit_steps)(p, x), *p, x)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_a_new_constant_much_larger_than_the_loop_constants_is_not_made():
    def f(c, u):
        def body(i, c):
            grid = jnp.sin(u[:, None] * u[None, :])  # invariant; read with the carry
            return c * jnp.cos(u) + jnp.sum(grid * c[None, :], axis=1) * 1e-3
        return dj.lax.fori_loop(0, 2, body, c)
    small, large = np.linspace(0, 1, 64), np.linspace(0, 1, 600)  # 32 KiB vs 2.7 MiB grids
    for u, grid_crosses in ((small, True), (large, False)):
        fn = make_ir(f)(u, u)
        body = loop_eqn(verify(LI.hoist_loop_invariants(fn)), P.scan_p).params["body"]
        assert (P.sin_p not in prims(body)) is grid_crosses  # else fused inside, never stored
        assert P.cos_p not in prims(body)  # the small invariant moves out in both cases
        np.testing.assert_allclose(dj.jit(f)(u, u), eval_function(fn, u, u)[0], rtol=1e-12)


def test_an_effect_on_loop_constants_still_runs_every_step():
    seen = []

    def f(c, x):
        def body(i, c):
            dj.debug.callback(lambda v: seen.append(float(v)), jnp.sum(jnp.exp(x)))
            return c + jnp.sin(x)
        return dj.lax.fori_loop(0, 4, body, c)
    fn = make_ir(f)(X, X)
    body = loop_eqn(verify(LI.hoist_loop_invariants(fn)), P.scan_p).params["body"]
    assert P.sin_p not in prims(body)  # pure invariant work moves; the callback stays
    assert P.debug_callback_p in prims(body)
    dj.jit(f)(X, X)
    assert seen == [pytest.approx(float(np.sum(np.exp(X))))] * 4


def test_an_optimization_barrier_stays_where_it_is():
    def f(c, x):
        return dj.lax.fori_loop(
            0, 3, lambda i, c: c + dj.lax.optimization_barrier(jnp.exp(x)) * 0.5, c)
    fn = make_ir(f)(X, X)
    body = loop_eqn(verify(LI.hoist_loop_invariants(fn)), P.scan_p).params["body"]
    assert P.optimization_barrier_p in prims(body) and P.exp_p not in prims(body)
    np.testing.assert_allclose(dj.jit(f)(X, X), eval_function(fn, X, X)[0], rtol=1e-12)
