"""The linear-algebra primitives: derivative rules (both modes, second order), failure values,
and numpy's LAPACK against the pure-numpy fallbacks."""

import importlib

import numpy as np
import pytest

import dualjit as dj
from dualjit.ir import linalg_impl
from dualjit.ir import primitives as P
from dualjit.tracer import bind

from ..autodiff.check import check_grads

rng = np.random.default_rng(7)
SHAPES = [(3, 3), (2, 4, 4)]
RECTANGULAR = [(4, 4), (5, 3), (3, 5), (2, 4, 2)]


def spd(shape):
    a = rng.standard_normal(shape)
    return a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])


@pytest.mark.parametrize("shape", SHAPES)
def test_cholesky_derivatives(shape):
    check_grads(lambda a: bind(P.cholesky_p, a), [spd(shape)], order=2)


@pytest.fixture
def small_cholesky_blocks(monkeypatch):
    """The blocked Cholesky tangent (autodiff/jvp.py) from n = 6 on, blocks of 3 or more."""
    monkeypatch.setattr(importlib.import_module("dualjit.autodiff.jvp"), "CHOLESKY_BLOCK", 3)


@pytest.mark.parametrize("shape", [(6, 6), (11, 11), (2, 9, 9), (30, 30)])
def test_blocked_cholesky_tangent_is_the_unblocked_formula(shape, small_cholesky_blocks):
    """L_dot = L Phi(L^-1 A_dot L^-T) against its blocked form, and the reverse mode of both
    (the transpose of the blocked form is the blocked Cholesky derivative), eager and jit."""
    a, a_dot = spd(shape), rng.standard_normal(shape)
    cotangent = rng.standard_normal(shape)

    def tangent(a, a_dot):
        return dj.jvp(lambda a: bind(P.cholesky_p, a), (a,), (a_dot,))[1]

    def gradient(a):
        return dj.grad(lambda a: dj.numpy.sum(bind(P.cholesky_p, a) * cotangent))(a)
    blocked = [tangent(a, a_dot), dj.jit(tangent)(a, a_dot), gradient(a), dj.jit(gradient)(a)]
    jvp = importlib.import_module("dualjit.autodiff.jvp")
    jvp.CHOLESKY_BLOCK = 10 ** 9
    unblocked = [tangent(a, a_dot), gradient(a)]
    for x, y in zip(blocked, [unblocked[0]] * 2 + [unblocked[1]] * 2):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("shape", [(7, 7), (2, 6, 6)])
def test_blocked_cholesky_derivatives(shape, small_cholesky_blocks):
    check_grads(lambda a: bind(P.cholesky_p, a), [spd(shape)], order=2)


@pytest.mark.parametrize("shape", RECTANGULAR + [(2, 2, 3, 5)])
def test_lu_derivatives(shape):
    check_grads(lambda a: bind(P.lu_p, a)[0], [rng.standard_normal(shape)], order=2)


@pytest.mark.parametrize("shape", RECTANGULAR + [(2, 2, 3, 5)])
def test_column_lu_derivatives(shape):
    check_grads(lambda a: bind(P.column_lu_p, a)[0], [rng.standard_normal(shape)], order=2)


@pytest.mark.parametrize("shape", RECTANGULAR)
@pytest.mark.parametrize("output", [0, 1])
def test_qr_derivatives(shape, output):
    check_grads(lambda a: bind(P.qr_p, a, full_matrices=False)[output],
                [rng.standard_normal(shape)], order=2)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("output", [0, 1])
def test_eigh_derivatives(shape, output):
    check_grads(lambda a: bind(P.eigh_p, a)[output], [rng.standard_normal(shape)], order=2)


@pytest.mark.parametrize("shape", RECTANGULAR)
@pytest.mark.parametrize("output", [0, 1, 2])
def test_svd_derivatives(shape, output):
    check_grads(lambda a: bind(P.svd_p, a, full_matrices=False, compute_uv=True)[output],
                [rng.standard_normal(shape)], order=2)


@pytest.mark.parametrize("shape", RECTANGULAR)
def test_singular_values_derivatives(shape):
    check_grads(lambda a: bind(P.svd_p, a, full_matrices=False, compute_uv=False)[0],
                [rng.standard_normal(shape)], order=2)


@pytest.mark.parametrize("left_side", [True, False])
@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("transpose_a", [True, False])
@pytest.mark.parametrize("unit_diagonal", [True, False])
def test_triangular_solve_derivatives(left_side, lower, transpose_a, unit_diagonal):
    a = rng.standard_normal((2, 3, 3)) + 4 * np.eye(3)
    b = rng.standard_normal((2, 3, 2) if left_side else (2, 2, 3))

    def solve(a, b):
        return bind(P.triangular_solve_p, a, b, left_side=left_side, lower=lower,
                    transpose_a=transpose_a, unit_diagonal=unit_diagonal)
    check_grads(solve, [a, b], order=2)


@pytest.mark.parametrize("left_side,lower,transpose_a,unit_diagonal",
                         [(True, True, False, False), (False, False, True, True),
                          (True, False, True, False), (False, True, False, True)])
def test_triangular_product_derivatives(left_side, lower, transpose_a, unit_diagonal):
    a = rng.standard_normal((2, 4, 4))
    b = rng.standard_normal((2, 4, 3) if left_side else (2, 3, 4))
    check_grads(lambda a, b: bind(P.triangular_product_p, a, b, left_side=left_side,
                                  lower=lower, transpose_a=transpose_a,
                                  unit_diagonal=unit_diagonal), [a, b], order=2)


def test_rules_read_only_the_triangle_the_primitive_reads():
    # the untouched triangle gets an exactly zero derivative, in both modes
    a, b = spd((3, 3)), rng.standard_normal((3, 2))
    g = dj.grad(lambda a: bind(P.cholesky_p, a).sum())(a)
    assert np.all(np.triu(g, 1) == 0) and np.any(np.tril(g, -1) != 0)
    g = dj.grad(lambda a: bind(P.triangular_solve_p, a, b, left_side=True, lower=False,
                               transpose_a=False, unit_diagonal=True).sum())(a)
    assert np.all(np.tril(g) == 0) and np.any(np.triu(g, 1) != 0)


def test_unsupported_derivatives_say_why():
    tall = rng.standard_normal((4, 2))
    with pytest.raises(NotImplementedError, match="mode='reduced'"):
        dj.jacfwd(lambda a: bind(P.qr_p, a, full_matrices=True)[0])(tall)
    with pytest.raises(NotImplementedError, match="full_matrices=False"):
        dj.grad(lambda a: bind(P.svd_p, a, full_matrices=True, compute_uv=True)[1].sum())(tall)


def test_failures_are_nans_per_matrix():
    good, bad = spd((3, 3)), -np.eye(3)
    out = bind(P.cholesky_p, np.stack([good, bad, good]))
    assert np.all(np.isfinite(out[[0, 2]])) and np.all(np.isnan(out[1]))
    np.testing.assert_allclose(out[0], np.linalg.cholesky(good))
    w, v = bind(P.eigh_p, np.stack([good, np.full((3, 3), np.nan)]))
    assert np.all(np.isnan(w[1])) and np.all(np.isnan(v[1])) and np.all(np.isfinite(w[0]))
    s = bind(P.svd_p, np.stack([good, np.full((3, 3), np.nan)]), full_matrices=False,
             compute_uv=False)[0]
    assert np.all(np.isnan(s[1])) and np.all(np.isfinite(s[0]))


def test_singular_lu_has_a_zero_pivot_and_solves_give_inf():
    a = np.array([[1.0, 2.0], [2.0, 4.0]])
    lu, _, perm = bind(P.lu_p, a)
    assert lu[1, 1] == 0 and np.all(np.isfinite(lu))
    x = bind(P.triangular_solve_p, lu, np.ones((2, 1)), left_side=True, lower=False,
             transpose_a=False, unit_diagonal=False)
    assert not np.all(np.isfinite(x))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(4, 4), (3, 5, 2), (2, 2, 6), (0, 3, 3), (2, 0, 0)])
def test_lapack_and_numpy_fallback_agree(dtype, shape):
    if linalg_impl.openblas() is None:
        pytest.skip("numpy has no bundled OpenBLAS here: only the fallback exists")
    a = rng.standard_normal(shape).astype(dtype)
    stack = linalg_impl._flat(a).copy()
    lapack = linalg_impl._lu_lapack(linalg_impl._routine("getrf", dtype), stack.copy())
    fallback = linalg_impl._lu_numpy(stack.copy())
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(lapack[0], fallback[0], rtol=tol, atol=tol)
    np.testing.assert_array_equal(lapack[1], fallback[1])
    n = shape[-1]
    if shape[-2] != n:
        return
    b = rng.standard_normal(shape[:-1] + (3,)).astype(dtype)
    t = linalg_impl._flat(a + 3 * np.eye(n, dtype=dtype))
    for flags in [(True, True, False, False), (False, False, True, True), (True, False, True, False)]:
        bb = linalg_impl._flat(b if flags[0] else np.swapaxes(b, -1, -2)).copy()
        x1 = linalg_impl._triangular_lapack(linalg_impl._routine("trsm", dtype), t, bb.copy(), *flags)
        x2 = linalg_impl._triangular_numpy(t, bb.copy(), *flags)
        np.testing.assert_allclose(x1, x2, rtol=tol * 100, atol=tol * 100)


def test_numpy_fallback_is_used_without_openblas():
    import subprocess
    import sys

    code = ("import numpy as np; from dualjit.ir import linalg_impl as L, primitives as P; "
            "assert L.openblas() is None; a = np.array([[0.0, 2.0], [3.0, 1.0]]); "
            "lu, piv, perm = L.lu(a); assert list(perm) == [1, 0], perm; "
            "x = L.triangular_solve(a, np.eye(2), left_side=True, lower=True, transpose_a=False, "
            "unit_diagonal=False); assert np.isinf(x).any(); print('ok')")
    env = dict(__import__("os").environ, DUALJIT_NATIVE_BLAS="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr
