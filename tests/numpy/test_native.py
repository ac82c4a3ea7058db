"""Native code of the numpy area's primitives against the reference interpreter: the C
library math on special values, ldexp at the edges, running scans of every dtype."""

import numpy as np
import pytest

import dualjit as dj
from dualjit import ir
from dualjit.codegen import compile_function
from dualjit.codegen.schedule import plan_function
from dualjit.ir import Eqn, Function, Var, abstract_eval, eval_function
from dualjit.ir import primitives as P

SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 0.5, -0.5, 0.999, 1e-310,
                    3e5, -7.25, 2.0, 1e-8, 700.0])


def single(prim, in_types, params):
    ins = [Var(t) for t in in_types]
    outs = [Var(t) for t in abstract_eval(prim, in_types, params)]
    return Function(ins, [], [Eqn(prim, ins, outs, params)], outs)


def assert_native_matches(fn, args, ulps=0):
    plan = plan_function(fn)
    assert not plan.host_steps, "expected the equation to run inside a kernel"
    native, reference = compile_function(fn)(*args), eval_function(fn, *args)
    for n, r in zip(native, reference):
        assert n.dtype == r.dtype and n.shape == r.shape
        if n.dtype.kind == "f" and ulps:
            np.testing.assert_allclose(n, r, rtol=ulps * np.finfo(n.dtype).eps, atol=0,
                                       equal_nan=True)
        else:
            np.testing.assert_array_equal(n, r)


@pytest.mark.parametrize("name", sorted(P.numpy_unary_primitives))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unary_math_on_special_values(name, dtype):
    x = SPECIAL.astype(dtype)
    fn = single(P.numpy_unary_primitives[name], [ir.type_of_array(x)], {})
    # float64: the C library, within an ulp of numpy's (the same library on AVX2 hosts; on
    # AVX-512 hosts numpy has SIMD kernels of its own for acos, sinh, cbrt...); float32
    # within a few ulps of numpy's
    assert_native_matches(fn, [x], ulps=1 if dtype == np.float64 else 4)


@pytest.mark.parametrize("name", sorted(P.numpy_binary_primitives))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_math_on_every_pair_of_special_values(name, dtype):
    x = np.repeat(SPECIAL, len(SPECIAL)).astype(dtype)
    y = np.tile(SPECIAL, len(SPECIAL)).astype(dtype)
    fn = single(P.numpy_binary_primitives[name], [ir.type_of_array(x)] * 2, {})
    assert_native_matches(fn, [x, y], ulps=0 if dtype == np.float64 else 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ldexp_at_the_edges(dtype):
    x = np.array([1.5, 1e-300, 3.0, -0.0, np.inf, np.nan, 1.0, 1.0, 5e-324, 1.0], dtype)
    n = np.array([3, 1100, -2, 5, -3, 4, 2 ** 40, -2 ** 40, 1074, -1075], np.int64)
    fn = single(P.ldexp_p, [ir.type_of_array(x), ir.type_of_array(n)], {})
    assert_native_matches(fn, [x, n])


@pytest.mark.parametrize("prim", [P.cumsum_p, P.cumprod_p, P.cummax_p, P.cummin_p])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int32, np.bool_])
@pytest.mark.parametrize("axis,reverse", [(0, False), (1, True), (2, False), (2, True)])
def test_running_scans(prim, dtype, axis, reverse):
    rng = np.random.default_rng(0)
    if dtype == np.bool_:
        if prim in (P.cumsum_p, P.cumprod_p):
            return  # bools are summed as integers (dualjit.numpy converts first)
        x = rng.random((3, 4, 5)) > 0.5
    elif np.dtype(dtype).kind == "i":
        x = rng.integers(-3, 4, (3, 4, 5)).astype(dtype)
    else:
        x = rng.standard_normal((3, 4, 5)).astype(dtype)
        x.flat[[3, 17, 40]] = [np.nan, -0.0, np.inf]
    fn = single(prim, [ir.type_of_array(x)], {"axis": axis, "reverse": reverse})
    assert_native_matches(fn, [x])


def test_linear_recurrence_native():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(-1, 1, (4, 6)), rng.standard_normal((4, 6))
    for axis, reverse in [(0, False), (1, True)]:
        fn = single(P.linear_recurrence_p, [ir.type_of_array(a)] * 2,
                    {"axis": axis, "reverse": reverse})
        assert_native_matches(fn, [a, b], ulps=64)


def test_scan_fuses_with_its_producer_and_gradient_is_one_kernel():
    import dualjit.numpy as jnp

    w = np.linspace(-1, 1, 1000)
    grad = dj.jit(dj.grad(lambda v: jnp.sum(jnp.cumsum(jnp.sin(v)) * w)))
    x = np.linspace(0, 3, 1000)
    plan = grad.lower(x).plan()
    assert not plan.host_steps and len(plan.kernels) == 1
    expected = np.cos(x) * np.cumsum(w[::-1])[::-1]
    np.testing.assert_allclose(grad(x), expected, rtol=1e-12)
