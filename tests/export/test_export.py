"""export / Exported / deserialize: round trips, calls inside transforms, argument checks."""

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp
from dualjit import lax
from dualjit.exported.functions import MAX_RULE_DEPTH


def mlp_loss(params, x, labels):
    (w1, b1), (w2, b2) = params["hidden"], params["out"]
    h = jnp.tanh(x @ w1 + b1)
    return dj.nn.cross_entropy(h @ w2 + b2, labels)


def mlp_args(seed=0, batch=16):
    rng = np.random.default_rng(seed)
    params = {"hidden": (rng.standard_normal((5, 8)).astype(np.float32) * 0.5,
                         np.zeros(8, np.float32)),
              "out": (rng.standard_normal((8, 3)).astype(np.float32) * 0.5,
                      np.zeros(3, np.float32))}
    return params, rng.standard_normal((batch, 5)).astype(np.float32), rng.integers(0, 3, batch)


def round_trip(exported):
    return dj.deserialize(exported.serialize())


def assert_trees_equal(a, b):
    leaves_a, tree_a = dj.tree_flatten(a)
    leaves_b, tree_b = dj.tree_flatten(b)
    assert tree_a == tree_b
    for x, y in zip(leaves_a, leaves_b):
        assert np.asarray(x).dtype == np.asarray(y).dtype
        np.testing.assert_array_equal(x, y)


def test_exported_value_and_grad_matches_the_jit_function():
    step = dj.jit(dj.value_and_grad(mlp_loss))
    args = mlp_args()
    exported = dj.export(step)(*args)
    assert exported.fun_name == "mlp_loss"
    assert exported.in_tree == dj.tree_structure(list(args))
    assert [a.shape for a in exported.in_avals] == [(5, 8), (8,), (8, 3), (3,), (16, 5), (16,)]
    assert exported.out_avals[0] == dj.ShapeDtypeStruct((), np.float32)
    loaded = round_trip(exported)
    assert loaded.as_text() == exported.as_text()
    assert_trees_equal(loaded.call(*args), step(*args))
    other = mlp_args(seed=1)  # a program, not a table of results
    assert_trees_equal(loaded.call(*other), step(*other))


def test_as_text_is_the_typed_ir():
    exported = dj.export(lambda x, y: jnp.sin(x) * y)(np.ones(3, np.float32), np.float32(2))
    assert exported.as_text() == str(dj.make_ir(lambda x, y: jnp.sin(x) * y)(
        np.ones(3, np.float32), np.float32(2)))
    assert "f32[3] = sin a" in exported.as_text()


@dj.custom_jvp
def softplus(x):
    return jnp.log1p(jnp.exp(x))


@softplus.defjvp
def _softplus_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    # deliberately not the true derivative (which is sigmoid): proves the rule travels; it
    # calls softplus, so each order of differentiation reaches one more nested rule
    return softplus(x), dx * (2.0 + softplus(x))


@dj.custom_vjp
def clipped_sin(x):
    return jnp.sin(x)


clipped_sin.defvjp(lambda x: (jnp.sin(x), jnp.cos(x)), lambda cos_x, ct: (jnp.clip(ct * cos_x, -0.5, 0.5),))

WEIRD = np.array([np.nan, np.inf, -np.inf, -0.0], np.float32)
BIG = np.linspace(-1, 1, 40).astype(np.float32)


def control_flow(x, n, flags):
    y = lax.fori_loop(0, 4, lambda i, c: c * 0.5 + softplus(x), x)
    z = lax.cond(jnp.sum(x) > 0, lambda a: a * 2.0, lambda a: -a, y)
    w = lax.scan(lambda c, xi: (c + xi, c * xi), z[0], z)[1]
    ys = jnp.where(flags, WEIRD, clipped_sin(w)) + BIG[:4]  # nan, inf, -0.0 inline; BIG not
    return {"sum": jnp.sum(ys * n), "parts": (ys, n + 1)}


def test_control_flow_custom_rules_constants_and_integer_inputs_round_trip():
    args = (np.array([0.3, -0.1, 0.2, 0.4], np.float32), np.int32(3),
            np.array([True, False, True, False]))
    exported = round_trip(dj.export(control_flow)(*args))
    assert_trees_equal(exported.call(*args), dj.jit(control_flow)(*args))
    assert "custom_jvp_call" in exported.as_text() and "scan" in exported.as_text()


def test_the_loaded_program_differentiates_with_its_custom_rules():
    x = np.array([0.3, -0.1, 0.7], np.float64)
    loaded = round_trip(dj.export(softplus)(x))
    rule = 2.0 + np.log1p(np.exp(x))  # what the custom rule says the derivative is
    _, x_dot = dj.jvp(loaded.call, (x,), (np.ones(3),))
    np.testing.assert_allclose(x_dot, rule, rtol=1e-14)
    np.testing.assert_allclose(dj.grad(lambda v: jnp.sum(loaded.call(v)))(x), rule, rtol=1e-14)
    # second order: the rule's own call of softplus carries the (nested) rule too
    hess = dj.jacfwd(dj.grad(lambda v: jnp.sum(loaded.call(v) * loaded.call(v))))(x)
    expected = dj.jacfwd(dj.grad(lambda v: jnp.sum(softplus(v) * softplus(v))))(x)
    np.testing.assert_allclose(hess, expected, rtol=1e-12)
    loaded_vjp = round_trip(dj.export(lambda v: jnp.sum(clipped_sin(v * 10.0)))(x))
    np.testing.assert_allclose(dj.grad(loaded_vjp.call)(x),
                               dj.grad(lambda v: jnp.sum(clipped_sin(v * 10.0)))(x))


def test_differentiating_past_the_exported_rule_depth_is_an_error_not_a_guess():
    x = np.array(0.3)
    loaded = round_trip(dj.export(softplus)(x))
    f, original = loaded.call, softplus
    for _ in range(MAX_RULE_DEPTH):
        f, original = dj.grad(f), dj.grad(original)
    np.testing.assert_allclose(f(x), original(x), rtol=1e-12)  # exported to this order
    with pytest.raises(TypeError, match="custom_jvp function more than"):
        dj.grad(f)(x)


def test_call_inside_jit_grad_and_jvp_inlines_the_ir():
    args = mlp_args()
    loaded = round_trip(dj.export(mlp_loss)(*args))
    params, x, labels = args
    grad_loaded = dj.grad(lambda p: loaded.call(p, x, labels))(params)
    assert_trees_equal(dj.jit(dj.grad(lambda p: loaded.call(p, x, labels)))(params),
                       dj.jit(dj.grad(lambda p: mlp_loss(p, x, labels)))(params))
    leaves = dj.tree_leaves(grad_loaded)
    expected = dj.tree_leaves(dj.grad(mlp_loss)(*args))
    for a, b in zip(leaves, expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    ir = str(dj.make_ir(lambda p: loaded.call(p, x, labels) * 2.0)(params))
    assert "tanh" in ir and "dot_general" in ir  # inlined, so it fuses with what surrounds it


def test_shape_dtype_structs_stand_for_arguments():
    params, x, labels = mlp_args()
    spec = dj.tree_map(lambda a: dj.ShapeDtypeStruct(a.shape, a.dtype), (params, x, labels))
    by_spec = dj.export(dj.jit(mlp_loss))(*spec)
    assert by_spec.as_text() == dj.export(mlp_loss)(params, x, labels).as_text()
    assert by_spec.call(params, x, labels) == dj.jit(mlp_loss)(params, x, labels)
    assert str(dj.make_ir(jnp.sin)(dj.ShapeDtypeStruct((2, 3), np.float32))).startswith(
        "def f(a: f32[2,3])")


def test_a_symbolic_batch_dimension_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="static shapes.*one program per size"):
        dj.ShapeDtypeStruct(("b", 784), np.float32)


def test_static_arguments_are_fixed_at_export():
    f = dj.jit(lambda x, n, scale: x * n + scale, static_argnums=(1,))
    exported = round_trip(dj.export(f)(np.ones(2), 3, 0.5))
    np.testing.assert_array_equal(exported.call(np.ones(2), 0.25), f(np.ones(2), 3, 0.25))
    with pytest.raises(TypeError, match="static arguments, they were fixed"):
        exported.call(np.ones(2), 3, 0.5)


def test_arguments_are_checked_and_named():
    loaded = round_trip(dj.export(mlp_loss)(*mlp_args()))
    params, x, labels = mlp_args()
    with pytest.raises(TypeError, match=r"argument args\[1\]: expected shape \(16, 5\)"):
        loaded.call(params, x[:3], labels)
    with pytest.raises(TypeError, match=r"args\[0\]\['out'\]\[0\]: expected dtype float32"):
        loaded.call({**params, "out": (params["out"][0].astype(np.float64), params["out"][1])},
                    x, labels)
    with pytest.raises(TypeError, match="structured as"):
        loaded.call(params, x)
    with pytest.raises(TypeError, match=r"expected f32\[16,5\], got a traced f64\[16,5\]"):
        dj.grad(lambda v: loaded.call(params, v, labels))(x.astype(np.float64))
    scalar = round_trip(dj.export(lambda s: s * 2)(np.float32(1)))
    assert scalar.call(1.5) == np.float32(3.0) and scalar.call(1.5).dtype == np.float32


def test_python_scalars_and_byte_swapped_arrays_are_accepted_like_jit():
    loaded = round_trip(dj.export(lambda x: x + 1)(np.zeros(3)))
    np.testing.assert_array_equal(loaded.call(np.arange(3.0).astype(">f8")), [1, 2, 3])
    scalar = round_trip(dj.export(lambda x: x + 1)(np.float32(0)))
    assert scalar.call(2).dtype == np.float32 and scalar.call(2) == 3


def test_interpreter_backend_runs_the_same_program(monkeypatch):
    args = mlp_args()
    blob = dj.export(dj.jit(mlp_loss))(*args).serialize()
    monkeypatch.setenv("DUALJIT_BACKEND", "interpreter")
    loaded = dj.deserialize(blob)
    np.testing.assert_allclose(loaded.call(*args), dj.jit(mlp_loss)(*args), rtol=1e-6)
    assert loaded.object_code_used is False


def test_vmap_batches_an_exported_per_example_program():
    params, x, _ = mlp_args()
    per_example = dj.export(lambda p, v: jnp.tanh(v @ p["hidden"][0] + p["hidden"][1]))(
        params, x[0])
    loaded = round_trip(per_example)
    np.testing.assert_allclose(dj.vmap(loaded.call, in_axes=(None, 0))(params, x),
                               np.tanh(x @ params["hidden"][0] + params["hidden"][1]),
                               rtol=1e-6, atol=1e-7)
    grads = dj.jit(dj.vmap(dj.grad(lambda v: jnp.sum(loaded.call(params, v)))))(x)
    expected = [dj.grad(lambda v: jnp.sum(jnp.tanh(v @ params["hidden"][0])))(row) for row in x]
    np.testing.assert_allclose(grads, np.stack(expected), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32,
                                   np.uint32, np.int64, np.uint64, np.float32, np.float64])
def test_every_dtype_travels_as_argument_constant_and_result(dtype):
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    values = (np.array([info.min, info.max, 0, 1] * 5, dtype) if info is not None else
              np.array([True, False] * 10) if dtype is np.bool_ else
              np.array([np.finfo(dtype).max, -0.0, np.nan, np.inf] * 5, dtype))
    table = values[::-1].copy()  # an out-of-line constant (20 values) of this dtype

    def f(x):
        return x, table, jnp.where(x == table, x, table)
    loaded = round_trip(dj.export(f)(values))
    assert [a.dtype for a in loaded.in_avals + loaded.out_avals] == [np.dtype(dtype)] * 4
    assert_trees_equal(loaded.call(values), dj.jit(f)(values))
