"""Array-likes holding traced values, creation functions with traced arguments, nan_to_num.

Regression tests of issue 10 (items 3, 4 and 13): each of these once gave a silent constant.
"""

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp


def test_mean_of_a_list_of_traced_values_is_differentiated():
    assert dj.grad(lambda x: jnp.mean([x, x + 2.0]))(0.0) == 1.0
    assert dj.jit(dj.grad(lambda x: jnp.mean([x, x + 2.0])))(0.0) == 1.0


@pytest.mark.parametrize("transform", ["grad", "jit_grad", "jvp"])
def test_lists_and_tuples_of_traced_values_everywhere(transform):
    w = np.array([2.0, -3.0])
    cases = {
        "sum_tuple": (lambda x: jnp.sum((x, 3 * x)), 4.0),
        "sin_list": (lambda x: jnp.sum(jnp.sin([x, 2 * x])), np.cos(0.5) + 2 * np.cos(1.0)),
        "dot_list": (lambda x: jnp.dot([x, x], w), -1.0),
        "nested": (lambda x: jnp.sum(jnp.asarray([[x, 1.0], [2.0, x * x]])), 1.0 + 2 * 0.5),
        "matmul": (lambda x: jnp.matmul([[x, 0.0], [0.0, x]], w).sum(), -1.0),
        "where": (lambda x: jnp.sum(jnp.where([True, False], [x, x], [2 * x, 5 * x])), 6.0),
        "maximum": (lambda x: jnp.sum(jnp.maximum([x, -x], 0.0)), 1.0),
        "concatenate": (lambda x: jnp.sum(jnp.concatenate([[x], [x, x]])), 3.0),
        "stack_of_lists": (lambda x: jnp.sum(jnp.stack([[x, x], [x, 1.0]])), 3.0),
        "array_mixed_scalar": (lambda x: jnp.sum(jnp.array([x, np.float64(1.0), 2])), 1.0),
    }
    for name, (f, expected) in cases.items():
        if transform == "grad":
            got = dj.grad(f)(0.5)
        elif transform == "jit_grad":
            got = dj.jit(dj.grad(f))(0.5)
        else:
            got = dj.jvp(f, (0.5,), (1.0,))[1]
        np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=name)


def test_list_dtype_follows_promotion_with_weak_python_scalars():
    f = dj.jit(lambda x: jnp.asarray([x, 2.0, 3]))
    out = f(np.float32(1.5))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [1.5, 2.0, 3.0])


def test_ragged_list_of_traced_values_is_an_error():
    with pytest.raises(ValueError, match="inhomogeneous"):
        dj.jit(lambda x: jnp.sum([x, jnp.stack([x, x])]))(1.0)


def test_linspace_is_differentiated_in_start_and_stop():
    f = lambda a: jnp.sum(jnp.linspace(a, 3.4, 5) ** 2)  # noqa: E731
    pts = np.linspace(0.3, 3.4, 5)
    expected = np.sum(2 * pts * (1 - np.arange(5) / 4))
    np.testing.assert_allclose(dj.grad(f)(0.3), expected, rtol=1e-12)
    np.testing.assert_allclose(dj.jit(dj.grad(f))(0.3), expected, rtol=1e-12)
    g = lambda b: jnp.sum(jnp.linspace(1.0, b, 4, endpoint=False))  # noqa: E731
    np.testing.assert_allclose(dj.grad(g)(2.0), np.sum(np.arange(4) / 4), rtol=1e-12)
    np.testing.assert_allclose(dj.jit(lambda a: jnp.linspace(a, 3.4, 5))(0.3), pts, rtol=1e-15)


def test_logspace_and_geomspace_are_differentiated():
    f = lambda a: jnp.sum(jnp.logspace(a, 2.0, 4))  # noqa: E731
    t = np.linspace(0.5, 2.0, 4)
    expected = np.sum(10 ** t * np.log(10) * (1 - np.arange(4) / 3))
    np.testing.assert_allclose(dj.grad(f)(0.5), expected, rtol=1e-10)
    np.testing.assert_allclose(dj.jit(lambda a: jnp.geomspace(a, 8.0, 4))(1.0),
                               np.geomspace(1.0, 8.0, 4), rtol=1e-14)


def test_full_and_full_like_are_differentiated_in_the_fill_value():
    assert dj.grad(lambda v: jnp.sum(jnp.full((2, 3), v)))(1.5) == 6.0
    assert dj.grad(lambda v: jnp.sum(jnp.full_like(np.zeros(4), v)))(1.5) == 4.0
    assert dj.jit(dj.grad(lambda v: jnp.sum(jnp.full_like(np.zeros(4), v * v))))(1.5) == 12.0


@pytest.mark.parametrize("call", [
    lambda n: jnp.arange(n), lambda n: jnp.arange(0, n, 1.0), lambda n: jnp.linspace(0, 1, n),
    lambda n: jnp.zeros(n), lambda n: jnp.ones((2, n)), lambda n: jnp.eye(n),
    lambda n: jnp.full(n, 1.0), lambda n: jnp.eye(3, k=n),
])
def test_static_arguments_given_traced_values_raise(call):
    for transform in (dj.grad, dj.jit):
        with pytest.raises((TypeError, dj.ConcretizationError), match="static"):
            transform(lambda x: jnp.sum(call(x)))(3.0)


def test_nan_to_num_defaults_to_the_largest_finite_values():
    for dtype in (np.float32, np.float64):
        x = np.array([np.nan, np.inf, -np.inf, 1.5], dtype)
        expected = np.nan_to_num(x)
        for f in (jnp.nan_to_num, dj.jit(jnp.nan_to_num)):
            got = f(x)
            assert got.dtype == dtype
            np.testing.assert_array_equal(got, expected)
        got = dj.jit(lambda a: jnp.nan_to_num(a, nan=-1.0, posinf=9.0, neginf=-9.0))(x)
        np.testing.assert_array_equal(got, [-1.0, 9.0, -9.0, 1.5])
    ints = np.array([1, -2, 3])
    np.testing.assert_array_equal(jnp.nan_to_num(ints), ints)
    g = dj.grad(lambda a: jnp.sum(jnp.nan_to_num(a * 2.0)))(np.array([1.0, np.inf, np.nan]))
    np.testing.assert_array_equal(g, [2.0, 0.0, 0.0])


def test_numpy_arrays_and_scalars_on_the_left_of_operators_stay_traced():
    x = np.array([0.5, -1.0, 2.0])
    c = np.array([2.0, 3.0, 4.0])
    f = lambda a: jnp.sum(c * a + c / a - c ** a + (c @ a) + np.float64(2.0) * a)  # noqa: E731
    expected = c - c / x**2 - np.log(c) * c**x + 3 * c + 2.0  # c @ a is added to 3 elements
    np.testing.assert_allclose(dj.grad(f)(x), expected, rtol=1e-14)
    np.testing.assert_allclose(dj.jit(dj.grad(f))(x), expected, rtol=1e-14)
    cmp = dj.jit(lambda a: (c < a, c >= a, c == a, np.int64(3) & (a > 0).astype(int)))(x)
    for got, want in zip(cmp, (c < x, c >= x, c == x, 3 & (x > 0).astype(int))):
        np.testing.assert_array_equal(got, want)
