"""vmap's API (in_axes/out_axes pytrees, errors), control flow, custom rules and compositions,
each against a Python loop over the batch."""

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp
from dualjit import lax

rng = np.random.default_rng(0)


def loop(f, *args, in_axes=0, out_axes=0):
    """f mapped by a Python loop: the reference every vmap test compares with."""
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
    n = next(np.shape(a)[ax] for a, ax in zip(args, axes) if ax is not None)
    outs = [f(*[np.take(a, b, axis=ax) if ax is not None else a for a, ax in zip(args, axes)])
            for b in range(n)]
    return dj.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs], axis=out_axes), *outs)


def close(a, b, rtol=1e-12, atol=1e-12):
    for x, y in zip(dj.tree_leaves(a), dj.tree_leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)
    assert dj.tree_structure(a) == dj.tree_structure(b)


# ---------------------------------------------------------------------------------------------
# in_axes / out_axes
# ---------------------------------------------------------------------------------------------

def f_mixed(x, w, b):
    return jnp.tanh(x @ w + b)


def test_in_axes_ints_none_and_negative():
    x, w, b = rng.standard_normal((5, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    close(dj.vmap(f_mixed, in_axes=(0, None, None))(x, w, b),
          loop(f_mixed, x, w, b, in_axes=(0, None, None)))
    xt = x.T.copy()
    close(dj.vmap(f_mixed, in_axes=(-1, None, None))(xt, w, b),
          loop(f_mixed, xt, w, b, in_axes=(1, None, None)))
    ws = rng.standard_normal((3, 2, 4))
    close(dj.vmap(f_mixed, in_axes=(None, 2, None))(x[0], ws, b),
          loop(f_mixed, x[0], ws, b, in_axes=(None, 2, None)))


def test_in_axes_pytree_prefix_and_out_axes_tree():
    params = {"w": rng.standard_normal((4, 3, 2)), "b": rng.standard_normal(2)}
    x = rng.standard_normal(3)

    def f(p, x):
        y = x @ p["w"] + p["b"]
        return {"y": y, "norm": jnp.sum(y * y)}

    got = dj.vmap(f, in_axes=({"w": 0, "b": None}, None), out_axes={"y": 1, "norm": 0})(params, x)
    expected = [f({"w": params["w"][i], "b": params["b"]}, x) for i in range(4)]
    np.testing.assert_allclose(got["y"], np.stack([e["y"] for e in expected], 1), rtol=1e-12)
    np.testing.assert_allclose(got["norm"], [e["norm"] for e in expected], rtol=1e-12)


def test_out_axes_none_for_an_unbatched_output_and_negative_out_axes():
    x = rng.standard_normal((4, 3))
    c = np.arange(3.0)
    y, k = dj.vmap(lambda x: (jnp.outer(x, c), c * 2), out_axes=(-1, None))(x)
    np.testing.assert_allclose(y, np.stack([np.outer(r, c) for r in x], -1))
    np.testing.assert_allclose(k, c * 2)
    with pytest.raises(ValueError, match="out_axes None"):
        dj.vmap(lambda x: x * 2, out_axes=None)(x)


def test_keyword_arguments_are_mapped_over_axis_0():
    x, s = rng.standard_normal((4, 3)), rng.standard_normal(4)
    got = dj.vmap(lambda x, scale=1.0: x * scale)(x, scale=s)
    np.testing.assert_allclose(got, x * s[:, None])


def test_axis_size_without_mapped_arguments_broadcasts():
    out = dj.vmap(lambda c: c + 1.0, in_axes=None, axis_size=3)(np.float32(2.0))
    np.testing.assert_array_equal(out, np.full(3, 3.0, np.float32))
    assert out.dtype == np.float32


def test_python_scalars_stay_weakly_typed_and_unmapped_values_are_concrete():
    x = rng.standard_normal((4, 3)).astype(np.float32)
    assert dj.vmap(lambda x, s: x * s, in_axes=(0, None))(x, 2.0).dtype == np.float32

    def f(x, n):
        for _ in range(int(n)):  # Python control flow on an unmapped concrete value
            x = x * 2.0
        return x
    np.testing.assert_allclose(dj.vmap(f, in_axes=(0, None))(x, 3), x * 8)


def test_errors_name_the_arguments_and_sizes():
    def f(x, y):
        return x + y
    with pytest.raises(ValueError, match=r"inconsistent sizes(.|\n)*x has type f64\[3\](.|\n)*"
                                         r"size 3(.|\n)*y has type f64\[4,2\]: axis 0 has size 4"):
        dj.vmap(f)(np.zeros(3), np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"y\['b'\].*axis 2"):
        dj.vmap(lambda x, y: x, in_axes=(0, {"a": 0, "b": 2}))(np.zeros(3), {"a": np.zeros(3),
                                                                           "b": np.zeros((3, 2))})
    with pytest.raises(ValueError, match="one entry per positional argument"):
        dj.vmap(f, in_axes=(0,))(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="axis_size"):
        dj.vmap(f, in_axes=None)(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="pytree prefix"):
        dj.vmap(f, in_axes=((0, 0), 0))(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="it is a scalar"):
        dj.vmap(f)(np.float64(1.0), np.zeros(3))


def test_nested_vmap_matches_a_double_loop():
    x, y = rng.standard_normal((3, 4, 5)), rng.standard_normal((4, 5))

    def f(a, b):
        return jnp.sum(jnp.sin(a) * b) + jnp.max(a)

    inner = dj.vmap(f, in_axes=(0, 0))
    got = dj.vmap(inner, in_axes=(0, None))(x, y)
    expected = np.array([[f(x[i, j], y[j]) for j in range(4)] for i in range(3)])
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    got_t = dj.vmap(dj.vmap(f, in_axes=(1, 0)), in_axes=(2, None), out_axes=1)(x, y[:, 0])
    expected_t = np.array([[f(x[:, j, k], y[j, 0]) for k in range(5)] for j in range(4)])
    np.testing.assert_allclose(got_t, expected_t, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# Compositions with differentiation and jit
# ---------------------------------------------------------------------------------------------

def mlp_loss(params, x, label):
    w1, b1, w2 = params
    h = jnp.tanh(x @ w1 + b1)
    logits = h @ w2
    return -dj.nn.log_softmax(logits)[label]


def mlp_setup(batch=5):
    params = (rng.standard_normal((4, 6)) * 0.5, rng.standard_normal(6) * 0.1,
              rng.standard_normal((6, 3)) * 0.5)
    return params, rng.standard_normal((batch, 4)), rng.integers(0, 3, batch)


def test_per_example_gradients_vmap_of_grad_and_its_jit():
    params, x, labels = mlp_setup()
    per_example = dj.vmap(dj.grad(mlp_loss), in_axes=(None, 0, 0))
    expected = loop(lambda x, y: dj.grad(mlp_loss)(params, x, y), x, labels)
    close(per_example(params, x, labels), expected, rtol=1e-10, atol=1e-12)
    close(dj.jit(per_example)(params, x, labels), expected, rtol=1e-10, atol=1e-12)


def test_grad_of_vmap_sums_over_the_batch():
    params, x, labels = mlp_setup()

    def total(p):
        return jnp.sum(dj.vmap(mlp_loss, in_axes=(None, 0, 0))(p, x, labels))
    expected = dj.tree_map(lambda *g: sum(g), *[dj.grad(mlp_loss)(params, x[i], labels[i])
                                                for i in range(len(x))])
    close(dj.grad(total)(params), expected, rtol=1e-10)
    close(dj.jit(dj.grad(total))(params), expected, rtol=1e-10)


def test_jvp_and_vjp_of_vmap_and_vmap_of_jvp():
    x, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))

    def f(v):
        return jnp.sin(v) * jnp.sum(v ** 2)
    y, y_dot = dj.jvp(dj.vmap(f), (x,), (t,))
    close(y_dot, loop(lambda a, b: dj.jvp(f, (a,), (b,))[1], x, t))
    close(dj.vmap(lambda a, b: dj.jvp(f, (a,), (b,))[1])(x, t), y_dot)
    _, pullback = dj.vjp(dj.vmap(f), x)
    close(pullback(t)[0], loop(lambda a, b: dj.vjp(f, a)[1](b)[0], x, t), rtol=1e-10)
    close(dj.vmap(dj.jit(f))(x), dj.jit(dj.vmap(f))(x))


def test_hessian_vector_products_nest_vmap_jvp_grad():
    x, vs = rng.standard_normal(4), rng.standard_normal((3, 4))

    def f(v):
        return jnp.sum(jnp.sin(v) * v ** 3)

    def hvp(v):
        return dj.jvp(dj.grad(f), (x,), (v,))[1]
    close(dj.vmap(hvp)(vs), vs @ dj.hessian(f)(x), rtol=1e-10)


# ---------------------------------------------------------------------------------------------
# Control flow
# ---------------------------------------------------------------------------------------------

def test_cond_with_a_batched_predicate_selects_and_with_a_shared_one_stays_a_cond():
    x = rng.standard_normal((6, 3))

    def f(v, k):
        return lax.cond(jnp.sum(v) > k, lambda a: jnp.sin(a) * 2.0, lambda a: jnp.cos(a), v)
    close(dj.vmap(f, in_axes=(0, None))(x, 0.0), loop(lambda v: f(v, 0.0), x))
    close(dj.jit(dj.vmap(f, in_axes=(0, None)))(x, 0.0), loop(lambda v: f(v, 0.0), x))
    ks = rng.standard_normal(6)
    close(dj.vmap(f, in_axes=(None, 0))(x[0], ks), loop(lambda k: f(x[0], k), ks))
    ir = dj.make_ir(dj.vmap(lambda v: f(v, 0.0)))(x)
    assert "select" in ir.text
    branch_only = dj.make_ir(dj.vmap(lambda v, k: lax.cond(k > 0, jnp.sin, jnp.cos, v),
                                     in_axes=(0, None)))(x, np.float64(1.0))
    assert "cond" in branch_only.text and "select" not in branch_only.text


def test_switch_with_a_batched_index_clamps_like_a_loop():
    idx = np.array([-1, 0, 1, 2, 5])
    x = rng.standard_normal((5, 2))
    branches = [lambda a: a + 1.0, lambda a: a * 3.0, lambda a: jnp.sin(a)]

    def f(i, a):
        return lax.switch(i, branches, a)
    close(dj.vmap(f)(idx, x), loop(f, idx, x))
    close(dj.jit(dj.vmap(f))(idx, x), loop(f, idx, x))
    g = dj.vmap(dj.grad(lambda a, i: jnp.sum(f(i, a))), in_axes=(0, 0))(x, idx)
    close(g, loop(lambda a, i: dj.grad(lambda a: jnp.sum(f(i, a)))(a), x, idx))


def test_while_loop_with_a_batched_predicate_runs_until_every_member_is_done():
    x = np.array([0.5, 3.0, 40.0, 1e-3])

    def f(v):
        def cond(c):
            return c[0] < 100.0

        def body(c):
            return c[0] * 2.0 + 1.0, c[1] + 1
        return lax.while_loop(cond, body, (v, 0))
    close(dj.vmap(f)(x), loop(f, x))
    close(dj.jit(dj.vmap(f))(x), loop(f, x))


def test_while_loop_with_a_shared_predicate_and_batched_carry():
    x = rng.standard_normal((4, 3))

    def f(v):
        return lax.fori_loop(0, jnp.int64(5), lambda i, c: c * 0.5 + jnp.sin(c), v)
    close(dj.vmap(f)(x), loop(f, x))
    assert "reduce_max" not in dj.make_ir(dj.vmap(f))(x).text  # no per-member predicate


def test_fori_loop_with_batched_trip_counts():
    n = np.array([0, 3, 1, 5])

    def f(k, v):
        return lax.fori_loop(0, k, lambda i, c: c + i * v, 0.0 * v)
    v = np.array([1.0, 2.0, 3.0, 4.0])
    close(dj.vmap(f)(n, v), loop(f, n, v))


def test_scan_batches_carries_consts_and_scanned_operands():
    xs = rng.standard_normal((4, 7, 3))  # batch 4, length 7
    init = rng.standard_normal(3)
    w = rng.standard_normal((4, 3))

    def f(xs, init, w):
        def step(c, x):
            c = jnp.tanh(c * w + x)
            return c, jnp.sum(c)
        return lax.scan(step, init, xs, reverse=True)
    for axes in [(0, None, None), (None, None, 0), (1, None, 0), (0, None, 0)]:
        args = (np.moveaxis(xs, 0, 1) if axes[0] == 1 else (xs if axes[0] == 0 else xs[0]),
                init, w if axes[2] is not None else w[0])
        close(dj.vmap(f, in_axes=axes)(*args), loop(f, *args, in_axes=axes), rtol=1e-10)
    g = dj.grad(lambda w: jnp.sum(dj.vmap(f, in_axes=(0, None, 0))(xs, init, w)[1]))(w)
    expected = loop(lambda x, wi: dj.grad(lambda wi: jnp.sum(f(x, init, wi)[1]))(wi), xs, w)
    close(g, expected, rtol=1e-10)


def test_scan_carry_batched_by_the_body_only():
    xs = rng.standard_normal((3, 5))

    def f(x):
        return lax.scan(lambda c, xi: (c + xi, c * 2.0), 0.0, x)
    close(dj.vmap(f)(xs), loop(f, xs))
    close(dj.vmap(f, in_axes=1)(xs.T.copy()), loop(f, xs))


# ---------------------------------------------------------------------------------------------
# Custom derivative rules
# ---------------------------------------------------------------------------------------------

@dj.custom_jvp
def clipped_log(x):
    return jnp.log(x)


@clipped_log.defjvp
def _clipped_log_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return clipped_log(x), t / jnp.maximum(x, 0.5)  # deliberately not log's derivative


@dj.custom_vjp
def scaled_sin(x, a):
    return jnp.sin(x) * a


def _scaled_sin_fwd(x, a):
    return jnp.sin(x) * a, (x, a)


def _scaled_sin_bwd(res, ct):
    x, a = res
    return ct * a * 3.0, jnp.sum(ct * jnp.sin(x))  # the 3.0 shows the custom rule was used


scaled_sin.defvjp(_scaled_sin_fwd, _scaled_sin_bwd)


def test_custom_jvp_under_vmap_in_every_order():
    x, t = rng.random((4, 3)) + 0.1, rng.standard_normal((4, 3))

    def rule(a, b):
        return b / np.maximum(a, 0.5)
    close(dj.vmap(clipped_log)(x), np.log(x))
    close(dj.jvp(dj.vmap(clipped_log), (x,), (t,))[1], rule(x, t))
    close(dj.vmap(lambda a, b: dj.jvp(clipped_log, (a,), (b,))[1])(x, t), rule(x, t))
    g = dj.grad(lambda v: jnp.sum(dj.vmap(clipped_log)(v)))(x)
    close(g, 1 / np.maximum(x, 0.5))
    close(dj.vmap(dj.grad(lambda v: jnp.sum(clipped_log(v))))(x), 1 / np.maximum(x, 0.5))


def test_custom_vjp_under_vmap_sums_cotangents_of_shared_inputs():
    x, a = rng.standard_normal((4, 3)), np.float64(1.5)
    close(dj.vmap(scaled_sin, in_axes=(0, None))(x, a), np.sin(x) * a)
    gx, ga = dj.grad(lambda x, a: jnp.sum(dj.vmap(scaled_sin, in_axes=(0, None))(x, a)),
                     argnums=(0, 1))(x, a)
    close(gx, np.full_like(x, a * 3.0))
    close(ga, np.sum(np.sin(x)))
    per = dj.vmap(dj.grad(lambda x, a: jnp.sum(scaled_sin(x, a)), argnums=(0, 1)),
                  in_axes=(0, None))(x, a)
    close(per, (np.full_like(x, a * 3.0), np.sin(x).sum(1)))


def test_custom_lin_batches_under_transposition():
    x = rng.standard_normal(3)
    _, f_jvp = dj.linearize(lambda v: scaled_sin(v, 2.0), x)
    ts, cts = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    # (under jit: a custom_lin cannot be evaluated concretely, only transposed)
    transposed = dj.jit(lambda ts, cts: dj.vjp(dj.vmap(f_jvp), ts)[1](cts)[0])
    close(transposed(ts, cts), cts * 2.0 * 3.0)


# ---------------------------------------------------------------------------------------------
# Jacobians through vmap
# ---------------------------------------------------------------------------------------------

def test_jacobians_of_pytrees_with_several_outputs():
    p = {"w": rng.standard_normal(3), "c": np.float64(0.7)}
    x = rng.standard_normal(3)

    def f(p, x):
        return {"a": jnp.sum(jnp.sin(p["w"] * x)), "b": p["w"] * p["c"]}
    jr, jf = dj.jacrev(f)(p, x), dj.jacfwd(f)(p, x)
    close(jr, jf, rtol=1e-12)
    close(jr["b"]["w"], np.eye(3) * p["c"])
    close(jr["b"]["c"], p["w"])
    close(jr["a"]["w"], np.cos(p["w"] * x) * x)
    assert np.shape(jr["a"]["c"]) == ()
    both = dj.jacrev(f, argnums=(0, 1))(p, x)
    close(both["a"][1], np.cos(p["w"] * x) * p["w"])


def test_jacobian_shapes_follow_out_shape_then_in_shape():
    x = rng.standard_normal((2, 3))

    def f(v):
        return jnp.outer(jnp.sum(v, 0), jnp.arange(4.0))
    jf, jr = dj.jacfwd(f)(x), dj.jacrev(f)(x)
    assert jf.shape == jr.shape == (3, 4, 2, 3)
    expected = np.einsum("bj,l,i->blij", np.eye(3), np.arange(4.0), np.ones(2))
    close(jf, expected)
    close(jr, expected)


def test_hessian_of_a_pytree_and_has_aux_and_one_program():
    p = {"a": rng.standard_normal(2), "b": rng.standard_normal(3)}

    def f(p):
        return jnp.sum(p["a"]) ** 2 * jnp.sum(p["b"] ** 3), p["a"] * 2
    h, aux = dj.hessian(f, has_aux=True)(p)
    close(aux, p["a"] * 2)
    sa, sb = np.sum(p["a"]), np.sum(p["b"] ** 3)
    close(h["a"]["a"], np.full((2, 2), 2 * sb), rtol=1e-10)
    close(h["a"]["b"], np.tile(2 * sa * 3 * p["b"] ** 2, (2, 1)), rtol=1e-10)
    close(h["b"]["b"], np.diag(sa ** 2 * 6 * p["b"]), rtol=1e-10)
    x = rng.standard_normal(20)
    program = dj.make_ir(dj.hessian(lambda v: jnp.sum(jnp.sin(v) * v)))(x)
    assert len(program.eqns) < 40  # one batched program, not 20 copies


def test_jacobian_errors_for_integer_inputs_and_outputs():
    with pytest.raises(TypeError, match="only float"):
        dj.jacfwd(lambda x: x * 2)(np.arange(3))
    with pytest.raises(TypeError, match="output leaf"):
        dj.jacrev(lambda x: jnp.argmax(x))(np.arange(3.0))
