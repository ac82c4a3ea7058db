"""The grad family: signatures, composition, control flow, semantics users trip on."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dualjit as dj
import dualjit.numpy as jnp
from dualjit import lax
from dualjit.autodiff import jvp_function, linearize_function, transpose_function, vjp_function
from dualjit.ir import verify

from .check import check_grads


def f_xy(x, y):
    return x + x ** 2 * y + y


def test_functional_twin_f_of_x_y():
    value, (gx, gy) = dj.value_and_grad(f_xy, argnums=(0, 1))(2.0, 3.0)
    assert (float(value), float(gx), float(gy)) == (17.0, 13.0, 5.0)


def test_functional_twin_mean_case():
    g = dj.grad(lambda x: jnp.mean((x + 2) * (x + 2) * 3))(np.ones((2, 2)))
    np.testing.assert_array_equal(g, np.full((2, 2), 4.5))


def test_functional_twin_backward_with_vector_is_vjp():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    _, pullback = dj.vjp(lambda x: jnp.reshape(2 * x, (2, 2)), x)
    (g,) = pullback(np.array([[1.0, 0.1], [0.01, 0.001]]))
    np.testing.assert_allclose(g, [2, 0.2, 0.02, 0.002])


def test_functional_twin_no_grad_is_stop_gradient():
    g = dj.grad(lambda x: x ** 2 + dj.stop_gradient(x ** 3))(1.0)
    assert float(g) == 2.0


def test_functional_twin_bce():
    x, y = np.ones(5), np.zeros(3)
    w, b = np.random.default_rng(0).standard_normal((5, 3)), np.zeros(3)

    def loss(w, b):
        return dj.nn.binary_cross_entropy_with_logits(jnp.matmul(x, w) + b, y)

    gw, gb = dj.grad(loss, argnums=(0, 1))(w, b)
    s = 1 / (1 + np.exp(-(x @ w + b)))
    np.testing.assert_allclose(gb, (s - y) / 3, rtol=1e-12)
    np.testing.assert_allclose(gw, np.outer(x, (s - y) / 3), rtol=1e-12)


def test_imperative_and_functional_agree():
    x0 = np.array([0.5, -1.0, 2.0], np.float32)
    t = dj.tensor(x0, requires_grad=True)
    (t.sin() * t + (t * t).exp() / 10).sum().backward()
    g = dj.grad(lambda x: jnp.sum(jnp.sin(x) * x + jnp.exp(x * x) / 10))(x0)
    np.testing.assert_allclose(t.grad.numpy(), g, rtol=1e-5)


# Each op maps bounded inputs to bounded outputs, so random chains stay finite.
OPS = [("sin", lambda a: a.sin(), jnp.sin),
       ("exp", lambda a: (a.tanh() * 0.3).exp(), lambda a: jnp.exp(jnp.tanh(a) * 0.3)),
       ("square", lambda a: a * a * 0.5, lambda a: a * a * 0.5),
       ("tanh", lambda a: a.tanh(), jnp.tanh),
       ("pow3", lambda a: a.tanh() ** 3, lambda a: jnp.tanh(a) ** 3),
       ("shift", lambda a: a + 0.5, lambda a: a + 0.5),
       ("scale", lambda a: 0.9 * a, lambda a: 0.9 * a)]


@given(st.lists(st.sampled_from(range(len(OPS))), min_size=1, max_size=6),
       st.lists(st.floats(-1.5, 1.5), min_size=3, max_size=3))
def test_random_programs_imperative_vs_functional(program, values):
    x0 = np.array(values, np.float64)

    def functional(x):
        for k in program:
            x = OPS[k][2](x)
        return jnp.sum(x)

    t = dj.tensor(x0, requires_grad=True)
    y = t
    for k in program:
        y = OPS[k][1](y)
    y.sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), dj.grad(functional)(x0), rtol=1e-9, atol=1e-12)


@given(st.lists(st.sampled_from(range(len(OPS))), min_size=1, max_size=5),
       st.lists(st.floats(-1.2, 1.2), min_size=4, max_size=4))
def test_random_programs_both_modes_vs_finite_differences(program, values):
    def f(x):
        for k in program:
            x = OPS[k][2](x)
        return x

    check_grads(f, [np.array(values)], order=1)


def test_no_perturbation_confusion():
    assert float(dj.grad(lambda x: x * dj.grad(lambda y: x + y)(1.0))(1.0)) == 1.0


def test_higher_order_and_compositions():
    f = jnp.sin
    assert np.isclose(dj.grad(dj.grad(dj.grad(f)))(0.7), -np.cos(0.7))
    x = np.array([0.3, -0.4, 1.1])

    def g(x):
        return jnp.sum(jnp.sin(x) * x ** 2)

    h1 = dj.hessian(g)(x)
    h2 = dj.jacfwd(dj.jacrev(g))(x)
    h3 = dj.jacrev(dj.jacfwd(g))(x)
    expected = np.diag(-np.sin(x) * x ** 2 + 4 * x * np.cos(x) + 2 * np.sin(x))
    for h in (h1, h2, h3):
        np.testing.assert_allclose(h, expected, rtol=1e-10)
    np.testing.assert_allclose(dj.jit(dj.grad(g))(x), dj.grad(g)(x), rtol=1e-12)
    np.testing.assert_allclose(dj.grad(dj.jit(g))(x), dj.grad(g)(x), rtol=1e-12)


def test_jacfwd_equals_jacrev_on_a_vector_function():
    def f(x):
        return jnp.stack([x[0] * x[1], jnp.sin(x[2]) + x[0], jnp.sum(x ** 2)])

    x = np.array([0.5, 2.0, -1.0])
    jf, jr = dj.jacfwd(f)(x), dj.jacrev(f)(x)
    np.testing.assert_allclose(jf, jr, rtol=1e-12)
    assert jf.shape == (3, 3)
    np.testing.assert_allclose(jf[0], [2.0, 0.5, 0.0])


def test_pytree_arguments_and_has_aux():
    params = {"w": np.array([1.0, 2.0]), "b": np.float64(0.5)}

    def loss(p, x):
        y = jnp.dot(p["w"], x) + p["b"]
        return y ** 2, {"y": y}

    (value, aux), g = dj.value_and_grad(loss, has_aux=True)(params, np.array([3.0, 4.0]))
    y = 1 * 3 + 2 * 4 + 0.5
    assert np.isclose(value, y ** 2) and np.isclose(aux["y"], y)
    np.testing.assert_allclose(g["w"], 2 * y * np.array([3.0, 4.0]))
    assert np.isclose(g["b"], 2 * y)


def test_make_ir_prints_gradient_program():
    text = dj.make_ir(dj.grad(lambda x: jnp.sum(jnp.sin(x))))(np.ones(3, np.float32)).text
    assert "cos a" in text and "f32[3]" in text


def test_linearize_gives_a_printable_linear_function():
    y, f_jvp = dj.linearize(lambda x: jnp.sin(x) * 2.0, np.array([0.1, 0.2]))
    np.testing.assert_allclose(f_jvp(np.array([1.0, 0.0])), [2 * np.cos(0.1), 0.0])
    text = dj.make_ir(f_jvp)(np.ones(2)).text
    assert "mul" in text and "sin" not in text and "cos" not in text


def test_control_flow_reverse_mode():
    xs = np.linspace(-1, 1, 6)

    def fori(p):
        return lax.fori_loop(0, 5, lambda i, c: c * jnp.sin(p) + jnp.take(xs, i), 1.0)

    def scanned(p):
        c, ys = lax.scan(lambda c, x: (c * p + x, jnp.tanh(c * x)), 0.5, xs)
        return c + jnp.sum(ys)

    def branch(p):
        return lax.cond(p > 0, lambda a: jnp.sin(a) * a, lambda a: a ** 3, p)

    def switch(p):
        return lax.switch(2, [jnp.sin, jnp.cos, lambda a: a * jnp.exp(a)], p)

    for f in (fori, scanned, branch, switch):
        for p in (0.7, -0.4):
            check_grads(f, [np.float64(p)], order=2)


def test_while_loop_forward_mode_and_reverse_error():
    def f(p):
        return lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * p), (0, 1.0))[1]

    _, t = dj.jvp(f, (2.0,), (1.0,))
    assert float(t) == 12.0
    with pytest.raises(TypeError, match="while_loop.*fori_loop"):
        dj.grad(f)(2.0)


def test_grad_errors():
    with pytest.raises(TypeError, match=r"scalar output.*\(3,\)"):
        dj.grad(lambda x: x * 2)(np.ones(3))
    with pytest.raises(TypeError, match="only float inputs"):
        dj.grad(lambda x: x * 2.0)(3)
    g = dj.grad(lambda x: (x * 2.0).astype(np.float64), allow_int=True)(np.int64(3))
    assert float(g) == 0


def test_subgradients_at_kinks_agree_in_both_modes():
    cases = {
        "abs": (jnp.abs, 0.0, 0.0),
        "relu": (dj.nn.relu, 0.0, 0.0),
        "maximum_tie": (lambda x: jnp.maximum(x, 0.0), 0.0, 0.5),
        "max_tie": (lambda x: jnp.max(jnp.stack([x, 2.0 * x, x - 1.0])), 0.0, 1.5),
    }
    for name, (f, x, expected) in cases.items():
        assert float(dj.grad(f)(x)) == expected, name
        assert float(dj.jvp(f, (x,), (1.0,))[1]) == expected, name


def test_where_sqrt_nan_and_safe_pattern():
    naive = dj.grad(lambda x: jnp.where(x > 0, jnp.sqrt(x), 0.0))(0.0)
    assert np.isnan(naive)

    def safe(x):
        positive = x > 0
        return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)

    assert float(dj.grad(safe)(0.0)) == 0.0 and np.isclose(dj.grad(safe)(4.0), 0.25)


def test_custom_jvp_and_custom_vjp():
    @dj.custom_jvp
    def f(x):
        return jnp.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return f(x), 2.0 * t

    assert float(dj.grad(f)(1.0)) == 2.0
    assert float(dj.jvp(f, (1.0,), (1.0,))[1]) == 2.0

    @dj.custom_vjp
    def h(x):
        return x ** 2

    h.defvjp(lambda x: (x ** 2, x), lambda r, ct: (10.0 * ct * r,))
    assert float(dj.grad(h)(3.0)) == 30.0
    assert float(dj.grad(lambda x: h(x) * x)(3.0)) == 99.0
    with pytest.raises(TypeError, match="custom_vjp"):
        dj.jvp(h, (1.0,), (1.0,))


def test_transformed_functions_verify():
    fn = dj.make_ir(lambda x, y: jnp.sum(jnp.tanh(x @ y) ** 2))(np.ones((2, 3)), np.ones((3, 4)))
    verify(jvp_function(fn, [True, True]))
    primal, linear, num_res = linearize_function(fn, [True, False])
    verify(primal)
    verify(linear)
    verify(transpose_function(linear, [False] * num_res + [True]))
    verify(vjp_function(fn, [0, 1]))


def _model_functions():
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((8, 5)), np.array([0, 1, 2, 1, 0, 2, 1, 0])
    w1, w2 = rng.standard_normal((5, 6)), rng.standard_normal((6, 3))

    def mlp_loss(w1, w2):
        return dj.nn.cross_entropy(jnp.tanh(x @ w1) @ w2, labels)

    def softmax_ce(w2):
        return -jnp.mean(jnp.sum(dj.nn.log_softmax(x[:, :3] @ w2[:3]) * 0.3, axis=-1))

    xs = np.linspace(-np.pi, np.pi, 50)

    def cubic(a, b, c, d):
        return jnp.sum((a + b * xs + c * xs ** 2 + d * xs ** 3 - np.sin(xs)) ** 2)

    return [(mlp_loss, (w1, w2)), (softmax_ce, (w2,)), (cubic, (1.0, 2.0, 3.0, 4.0))]


def test_vjp_ir_size_is_at_most_four_times_the_primal():
    for f, args in _model_functions():
        primal = dj.make_ir(f)(*args)
        backward = dj.make_ir(dj.grad(f, argnums=tuple(range(len(args)))))(*args)
        assert len(backward.eqns) <= 4 * len(primal.eqns), (f.__name__, len(primal.eqns),
                                                             len(backward.eqns))


def test_custom_jvp_with_a_constant_zero_tangent_feeds_other_rules():
    """A custom JVP rule returning zeros_like(x_dot) traces to a Literal output; inlined,
    that Literal reached a binary rule's tangent sum, which read its type as NumPy's object
    dtype (TypeError). Found by the torch fuzzer (x.pow(0), then 2.0 % it, under compile)."""
    @dj.custom_jvp
    def one(x):
        return jnp.ones_like(x)

    @one.defjvp
    def _one_jvp(primals, tangents):
        (x,), (x_dot,) = primals, tangents
        return one(x), jnp.zeros_like(x_dot)

    def f(x):  # d/dx [2 % 1 + 1 * x] = 1
        return jnp.remainder(2.0, one(x)) + one(x) * x

    assert float(dj.grad(f)(np.float32(1.5))) == 1.0
    assert float(dj.jit(dj.grad(f))(np.float32(1.5))) == 1.0
