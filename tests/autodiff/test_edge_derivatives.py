"""Derivatives at the points where a careless rule gives nan: products with zero factors and
powers with exponent 0, 1 and 2 at 0 (issue 10 items 2 and 13)."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dualjit as dj
import dualjit.numpy as jnp

from .check import check_grads


def exclusive_products(x: np.ndarray, axis: int) -> np.ndarray:
    """d prod(x, axis) / dx: the product of everything but each element (by deletion)."""
    x = np.moveaxis(x, axis, -1)
    n = x.shape[-1]
    out = np.stack([np.prod(np.delete(x, i, axis=-1), axis=-1) for i in range(n)], axis=-1)
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize("x, expected", [
    ([0.0, 2.0, 3.0], [6.0, 0.0, 0.0]),
    ([2.0, 0.0, 3.0], [0.0, 6.0, 0.0]),
    ([0.0, 0.0, 3.0], [0.0, 0.0, 0.0]),
    ([0.0], [1.0]),
    ([0.0, 0.0], [0.0, 0.0]),
    ([-0.0, 5.0], [5.0, -0.0]),
])
def test_prod_gradient_is_exact_at_zeros(x, expected):
    x = np.array(x)
    for grad in (dj.grad(jnp.prod), dj.jit(dj.grad(jnp.prod))):
        g = np.asarray(grad(x))
        np.testing.assert_array_equal(g, expected)
    _, t = dj.jvp(jnp.prod, (x,), (np.ones_like(x),))
    assert t == sum(expected)


def test_prod_of_no_elements_has_an_empty_gradient_and_value_one():
    assert dj.grad(jnp.prod)(np.zeros(0)).shape == (0,)
    value, g = dj.value_and_grad(lambda x: jnp.prod(x) + jnp.sum(x))(np.zeros(0))
    assert value == 1.0 and g.shape == (0,)


@pytest.mark.parametrize("axis", [0, 1, None, (0, 1)])
def test_prod_along_axes_matches_exclusive_products(axis):
    x = np.array([[0.0, 2.0, 3.0, -1.5], [1.0, 0.0, 0.0, 4.0], [2.0, 3.0, 0.5, 7.0]])
    w = np.arange(1.0, 1.0 + (3 if axis == 1 else 4 if axis == 0 else 1))

    def f(x):
        return jnp.sum(jnp.prod(x, axis=axis) * w)

    if axis in (0, 1):
        expected = exclusive_products(x, axis) * np.expand_dims(w, axis)
    else:
        expected = exclusive_products(x.reshape(-1), 0).reshape(x.shape)
    for grad in (dj.grad(f), dj.jit(dj.grad(f))):
        np.testing.assert_allclose(grad(x), expected, rtol=1e-14, atol=0)
    check_grads(f, (x,), order=2)  # prod is multilinear: central differences are exact


def test_second_derivatives_of_prod_at_zeros():
    # d2 prod / dx_i dx_j = product of the others (i != j), 0 on the diagonal
    for x in ([0.0, 0.0, 3.0], [0.0, 2.0, 3.0], [0.0, 0.0, 0.0], [1.0, 2.0, 0.0, 4.0]):
        x = np.array(x)
        n = len(x)
        expected = np.array([[0.0 if i == j else np.prod(np.delete(x, [i, j]))
                              for j in range(n)] for i in range(n)])
        np.testing.assert_array_equal(dj.hessian(jnp.prod)(x), expected)
        np.testing.assert_array_equal(dj.jit(dj.hessian(jnp.prod))(x), expected)


@given(st.integers(1, 4), st.integers(1, 5), st.integers(0, 3), st.integers(0, 2 ** 31))
def test_prod_gradient_with_random_zeros_matches_deletion(rows, cols, zeros, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, (rows, cols))
    x.flat[rng.choice(x.size, min(zeros, x.size), replace=False)] = 0.0
    for axis in (0, 1):
        g = dj.grad(lambda x: jnp.sum(jnp.prod(x, axis=axis)))(x)
        np.testing.assert_allclose(g, exclusive_products(x, axis), rtol=1e-12, atol=1e-300)


def _power_rule(n, x0):
    """d/dx x**n = n x**(n-1) and its derivative, with a zero exponent giving zero (the
    convention of PyTorch and HIPS autograd: x**0 is the constant 1, also at x = 0)."""
    d1 = 0.0 if n == 0 else n * x0 ** (n - 1)
    d2 = 0.0 if n in (0, 1) else n * (n - 1) * x0 ** (n - 2)
    return float(d1), float(d2)


@pytest.mark.parametrize("exponent, x0", itertools.product(
    [0.0, 1.0, 2.0, 3.0, 0, 1, 2, 3], [0.0, -0.0, 2.0, -1.5]))
def test_powers_at_zero_match_pytorch(exponent, x0):
    def f(x):
        return x ** exponent

    d1, d2 = _power_rule(exponent, x0)
    assert float(dj.grad(f)(x0)) == d1
    assert float(dj.jit(dj.grad(f))(x0)) == d1
    assert float(dj.jvp(f, (x0,), (1.0,))[1]) == d1
    assert float(dj.grad(dj.grad(f))(x0)) == d2
    assert float(dj.jit(dj.grad(dj.grad(f)))(x0)) == d2


def test_power_with_array_exponent_zero_has_zero_derivative_at_zero():
    x = np.array([0.0, 0.0, 2.0])
    y = np.array([0.0, 2.0, 0.0])
    gx, gy = dj.grad(lambda x, y: jnp.sum(x ** y), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(gy, [0.0, 0.0, np.log(2.0)])  # 0**y contributes 0, not nan
