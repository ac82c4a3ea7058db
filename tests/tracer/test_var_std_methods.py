"""x.var() and x.std() on traced values are the array methods (the tracer's IR variable is
`ir_var`; it used to be `var`, which hid the method: "'Var' object is not callable")."""

import numpy as np
import pytest

import dualjit as dj

X = np.array([[0.5, 1.0, 2.0], [3.0, -1.0, 0.25]])


def _var_grad(x, axis, ddof):
    """d/dx sum(var(x, axis, ddof)) = 2 (x - mean) / (n - ddof), by hand."""
    n = x.size if axis is None else x.shape[axis]
    return 2 * (x - x.mean(axis=axis, keepdims=True)) / (n - ddof)


@pytest.mark.parametrize("axis", [None, 0, 1])
@pytest.mark.parametrize("ddof", [0, 1])
def test_var_method_under_grad_jit_and_vmap(axis, ddof):
    def f(x):
        return x.var(axis=axis, ddof=ddof).sum()
    expected = _var_grad(X, axis, ddof)
    np.testing.assert_allclose(dj.grad(f)(X), expected, rtol=1e-12)
    np.testing.assert_allclose(dj.jit(dj.grad(f))(X), expected, rtol=1e-12)
    np.testing.assert_allclose(dj.jit(f)(X), X.var(axis=axis, ddof=ddof).sum(), rtol=1e-12)
    rows = dj.vmap(lambda r: r.var(ddof=ddof))(X)
    np.testing.assert_allclose(rows, X.var(axis=1, ddof=ddof), rtol=1e-12)


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_std_method_under_grad_jit_and_vmap(axis):
    def f(x):
        return x.std(axis=axis).sum()
    # d std = d var / (2 std)
    std = X.std(axis=axis, keepdims=True)
    expected = _var_grad(X, axis, 0) / (2 * std)
    np.testing.assert_allclose(dj.grad(f)(X), expected, rtol=1e-12)
    np.testing.assert_allclose(dj.jit(dj.grad(f))(X), expected, rtol=1e-12)
    np.testing.assert_allclose(dj.vmap(lambda r: r.std())(X), X.std(axis=1), rtol=1e-12)


def test_the_ir_variable_is_still_reachable():
    seen = []

    def f(x):
        seen.append(x.ir_var.type)
        return x.sum()
    dj.grad(f)(X)
    assert str(seen[0]).startswith("f64[2,3]")
