"""dj.checkpoint / dj.remat: same values and derivatives, fewer residuals, recomputation."""

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp
from dualjit import lax
from dualjit.autodiff import vjp_split
from dualjit.ir import primitives as P

rng = np.random.default_rng(0)


def layer(x, w):
    return jnp.tanh(x @ w) * 1.5 + jnp.sin(x @ w)


def mlp(params, x, wrap=lambda f: f):
    for w in params:
        x = wrap(layer)(x, w)
    return jnp.sum(x ** 2)


def setup(depth=4, width=5):
    return [rng.standard_normal((width, width)) * 0.5 for _ in range(depth)], \
        rng.standard_normal((3, width))


POLICIES = [None, dj.checkpoint_policies.nothing_saveable, dj.checkpoint_policies.dots_saveable,
            dj.checkpoint_policies.everything_saveable,
            dj.checkpoint_policies.dots_with_no_batch_dims_saveable]


@pytest.mark.parametrize("policy", POLICIES, ids=repr)
def test_values_and_gradients_match_the_plain_function(policy):
    params, x = setup()

    def f(params, x):
        return mlp(params, x, lambda g: dj.checkpoint(g, policy=policy))
    expected = dj.grad(mlp)(params, x)
    for got in (dj.grad(f)(params, x), dj.jit(dj.grad(f))(params, x)):
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(f(params, x), mlp(params, x), rtol=1e-14)


def test_forward_mode_second_order_and_vmap():
    params, x = setup(depth=2, width=3)
    wrap = dj.checkpoint

    def f(w):
        return mlp([w, params[1]], x, wrap)

    def f0(w):
        return mlp([w, params[1]], x)
    t = rng.standard_normal(params[0].shape)
    np.testing.assert_allclose(dj.jvp(f, (params[0],), (t,))[1],
                               dj.jvp(f0, (params[0],), (t,))[1], rtol=1e-12)
    np.testing.assert_allclose(dj.hessian(f)(params[0]), dj.hessian(f0)(params[0]), rtol=1e-10)
    xs = rng.standard_normal((4, 3, 3))
    per = dj.vmap(dj.grad(lambda w, xi: mlp([w], xi, wrap)), in_axes=(None, 0))(params[0], xs)
    per0 = dj.vmap(dj.grad(lambda w, xi: mlp([w], xi)), in_axes=(None, 0))(params[0], xs)
    np.testing.assert_allclose(per, per0, rtol=1e-12)


def test_pytrees_static_argnums_nesting_and_scan_bodies():
    params, x = setup(depth=3, width=4)

    @dj.remat
    def block(p, x):
        return layer(layer(x, p["a"]), p["b"])

    def f(ps, x):
        return jnp.sum(dj.checkpoint(block)({"a": ps[0], "b": ps[1]}, x) * ps[2][0])

    def f0(ps, x):
        return jnp.sum(layer(layer(x, ps[0]), ps[1]) * ps[2][0])
    for g, e in zip(dj.grad(f)(params, x), dj.grad(f0)(params, x)):
        np.testing.assert_allclose(g, e, rtol=1e-12)

    def powered(x, n):
        for _ in range(n):
            x = jnp.sin(x)
        return x
    g = dj.grad(lambda x: jnp.sum(dj.checkpoint(powered, static_argnums=1)(x, 3)))(x)
    np.testing.assert_allclose(g, dj.grad(lambda x: jnp.sum(powered(x, 3)))(x), rtol=1e-12)

    def scanned(w, x):
        step = dj.checkpoint(lambda c, _: (layer(c, w), None))
        return jnp.sum(lax.scan(step, x, None, length=3)[0])
    g = dj.jit(dj.grad(scanned))(params[0], x)
    g0 = dj.grad(lambda w, x: jnp.sum(layer(layer(layer(x, w), w), w)))(params[0], x)
    np.testing.assert_allclose(g, g0, rtol=1e-12)


def _backward(fn_of_params, params, x):
    traced = dj.make_ir(fn_of_params)(params, x)
    return vjp_split(traced, list(range(len(params))))


def test_checkpoint_stores_fewer_residuals_and_recomputes():
    params, x = setup(depth=4, width=5)
    _, _, plain_res = _backward(lambda p, x: mlp(p, x), params, x)
    _, backward, ckpt_res = _backward(lambda p, x: mlp(p, x, dj.checkpoint), params, x)
    assert ckpt_res <= 0.6 * plain_res  # per layer: its input and weight, not 4 values
    # The backward recomputes each layer's products inside its checkpoint calls.
    calls = [e for e in backward.eqns if e.primitive is P.checkpoint_p]
    assert calls and any("dot_general" in e.params["call"].text for e in calls)
    saving = lambda f: dj.checkpoint(f, policy=dj.checkpoint_policies.dots_saveable)  # noqa
    _, _, dots_res = _backward(lambda p, x: mlp(p, x, saving), params, x)
    assert ckpt_res < dots_res <= plain_res


def test_jit_inlines_checkpoints_into_native_code():
    from dualjit.autodiff import inline_checkpoints

    params, x = setup(depth=2, width=3)
    fn = dj.make_ir(dj.grad(lambda p, x: mlp(p, x, dj.checkpoint)))(params, x)
    inlined = inline_checkpoints(fn)
    assert "checkpoint" in fn.text and "checkpoint" not in inlined.text
    from dualjit.ir import eval_function
    for a, b in zip(eval_function(fn, *params, x), eval_function(inlined, *params, x)):
        np.testing.assert_allclose(a, b, rtol=1e-14)


def test_bad_policy_is_an_error():
    with pytest.raises(TypeError, match="policy must be"):
        dj.checkpoint(jnp.sin, policy="dots")


def test_compiled_steps_release_values_after_their_last_use():
    from dualjit.autodiff import inline_checkpoints
    from dualjit.codegen.runtime import compile_function
    from dualjit.codegen.schedule import KernelPlan
    from dualjit.ir.passes import simplify

    params, x = setup(depth=3, width=4)
    fn = inline_checkpoints(simplify(dj.make_ir(dj.grad(
        lambda p, x: mlp(p, x, dj.checkpoint)))(params, x)))
    compiled = compile_function(fn)
    steps = compiled.plan.steps
    assert len(steps) > 2  # the barriers split the backward pass into steps

    def reads(step):
        return set(step.segment.live_in) if isinstance(step, KernelPlan) else set(step.eqn.inputs)
    released = 0
    for i, dead in enumerate(compiled.plan.dead_after):
        for v in dead:
            assert v not in fn.outputs and all(v not in reads(s) for s in steps[i + 1:])
            released += 1
    assert released > 0
    for g, e in zip(compiled(*params, x), dj.grad(lambda p, x: mlp(p, x))(params, x)):
        np.testing.assert_allclose(g, e, rtol=1e-12)
