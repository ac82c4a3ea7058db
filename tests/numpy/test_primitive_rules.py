"""Derivative rules of the numpy area's primitives: both modes against central differences,
second order, exactness at zeros and ties, and the registry (every rule present)."""

import numpy as np
import pytest

import dualjit as dj
from dualjit import ir
from dualjit.autodiff import jvp_rules, transpose_rules, zero_derivative
from dualjit.ir import primitives as P
from dualjit.tracer import bind

from ..autodiff.check import check_grads

rng = np.random.default_rng(3)

UNARY = {
    "asin": (P.asin_p, lambda s: rng.uniform(-0.9, 0.9, s)),
    "acos": (P.acos_p, lambda s: rng.uniform(-0.9, 0.9, s)),
    "atan": (P.atan_p, lambda s: rng.standard_normal(s)),
    "asinh": (P.asinh_p, lambda s: rng.standard_normal(s) * 3),
    "acosh": (P.acosh_p, lambda s: rng.uniform(1.2, 4.0, s)),
    "atanh": (P.atanh_p, lambda s: rng.uniform(-0.9, 0.9, s)),
    "sinh": (P.sinh_p, lambda s: rng.standard_normal(s)),
    "cosh": (P.cosh_p, lambda s: rng.standard_normal(s)),
    "cbrt": (P.cbrt_p, lambda s: rng.uniform(0.3, 3.0, s) * rng.choice([-1, 1], s)),
    "exp2": (P.exp2_p, lambda s: rng.standard_normal(s)),
    "log2": (P.log2_p, lambda s: rng.uniform(0.3, 3.0, s)),
    "log10": (P.log10_p, lambda s: rng.uniform(0.3, 3.0, s)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unary_math(name, dtype):
    prim, sample = UNARY[name]
    check_grads(lambda x: bind(prim, x), [sample((2, 3)).astype(dtype)],
                order=2 if dtype == np.float64 else 1)


@pytest.mark.parametrize("prim", [P.hypot_p, P.copysign_p])
def test_binary_math(prim):
    check_grads(lambda x, y: bind(prim, x, y), [rng.standard_normal(5), rng.standard_normal(5)],
                order=2)


def test_hypot_at_the_origin_has_the_zero_subgradient():
    g = dj.grad(lambda x: bind(P.hypot_p, x, x * 0.0))(0.0)
    assert g == 0.0


def test_ldexp_and_frexp():
    n = np.array([3, -2, 0, 7])
    check_grads(lambda x: bind(P.ldexp_p, x, n), [rng.standard_normal(4)], order=2)
    check_grads(lambda x: bind(P.frexp_p, x)[0], [rng.standard_normal(4) * 10], order=2)


def test_nextafter_is_piecewise_constant():
    # like floor and round, its derivative is zero wherever it exists
    assert dj.grad(lambda x: bind(P.nextafter_p, x, 2.0))(1.0) == 0.0


def _scan(prim, axis, reverse):
    return lambda x: bind(prim, x, axis=axis, reverse=reverse)


@pytest.mark.parametrize("prim", [P.cumsum_p, P.cumprod_p, P.cummax_p, P.cummin_p])
@pytest.mark.parametrize("axis,reverse", [(0, False), (1, True), (1, False)])
def test_cumulative(prim, axis, reverse):
    check_grads(_scan(prim, axis, reverse), [rng.standard_normal((3, 4))], order=2)


@pytest.mark.parametrize("reverse", [False, True])
def test_cumprod_derivative_is_exact_at_zeros(reverse):
    x = np.array([2.0, 0.0, 3.0, 0.0, 5.0])
    f = _scan(P.cumprod_p, 0, reverse)
    jac = dj.jacrev(f)(x)
    expected = np.zeros((5, 5))
    for i in range(5):  # d y_i / d x_j = product of the other factors of y_i
        span = range(i, 5) if reverse else range(i + 1)
        for j in span:
            expected[i, j] = np.prod([x[k] for k in span if k != j])
    np.testing.assert_array_equal(jac, expected)
    np.testing.assert_array_equal(dj.jacfwd(f)(x), expected)
    np.testing.assert_array_equal(dj.jit(dj.jacrev(f))(x), expected)


def test_linear_recurrence_in_both_operands():
    f = lambda a, b: bind(P.linear_recurrence_p, a, b, axis=1, reverse=True)  # noqa: E731
    check_grads(f, [rng.uniform(-1, 1, (2, 5)), rng.standard_normal((2, 5))], order=2)


def test_running_maximum_gives_the_tangent_of_the_holder():
    x = np.array([1.0, 3.0, 2.0, 3.0, 0.5])
    jac = dj.jacfwd(_scan(P.cummax_p, 0, False))(x)
    # each output follows the latest element holding the running maximum
    np.testing.assert_array_equal(jac.argmax(1), [0, 1, 1, 3, 3])
    np.testing.assert_array_equal(dj.jacrev(_scan(P.cummax_p, 0, False))(x), jac)


@pytest.mark.parametrize("axis", [0, 1])
def test_sort_carries_tangents_with_the_permutation(axis):
    def f(x, y):
        return bind(P.sort_p, x, y, axis=axis, num_keys=1)[1] * 2.0 + bind(
            P.sort_p, x, axis=axis, num_keys=1)[0] ** 2
    check_grads(f, [rng.standard_normal((3, 4)), rng.standard_normal((3, 4))], order=2)


NUMPY_AREA = ["asin", "acos", "atan", "asinh", "acosh", "atanh", "sinh", "cosh", "cbrt", "exp2",
              "log2", "log10", "hypot", "copysign", "nextafter", "ldexp", "frexp", "cumsum",
              "cumprod", "cummax", "cummin", "linear_recurrence", "sort", "searchsorted"]


def test_every_numpy_area_primitive_has_its_rules():
    for name in NUMPY_AREA:
        prim = ir.registry[name]
        assert prim in ir.shape_rules and prim in ir.impl_rules, name
        assert prim in jvp_rules or prim in zero_derivative, name
    for name in ["cumsum", "linear_recurrence", "ldexp"]:  # the linear ones
        assert ir.registry[name] in transpose_rules, name
