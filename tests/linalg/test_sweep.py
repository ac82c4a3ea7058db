"""The linear-algebra sweep: one table of functions x dtypes x shapes (stacks included).

Each row is checked against NumPy/SciPy, eagerly on plain arrays and under jit, and its
derivatives in both modes against central differences (second order for float64), also as a
jitted gradient. Under CI=true the first shape of each row runs; DUALJIT_DEEP=1 (or
HYPOTHESIS_PROFILE=deep) runs all of them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
import scipy.linalg as sl

import dualjit as dj
import dualjit.numpy as jnp
import dualjit.scipy.linalg as jsl

from ..autodiff.check import check_grads

DEEP = os.environ.get("DUALJIT_DEEP") == "1" or os.environ.get("HYPOTHESIS_PROFILE") == "deep"
rng = np.random.default_rng(11)


def general(shape, dtype):
    """Well-conditioned square matrices (or any array)."""
    a = rng.standard_normal(shape)
    if len(shape) >= 2 and shape[-1] == shape[-2]:
        a = a + 2.0 * np.sqrt(shape[-1]) * np.eye(shape[-1])
    return a.astype(dtype)


def spd(shape, dtype):
    a = rng.standard_normal(shape)
    return (a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])).astype(dtype)


def symmetric(shape, dtype):
    """Symmetric with well-separated eigenvalues (eigenvector derivatives exist)."""
    q, _ = np.linalg.qr(rng.standard_normal(shape))
    w = np.arange(1, shape[-1] + 1) * 1.5 - 2.0
    return ((q * w[..., None, :]) @ np.swapaxes(q, -1, -2)).astype(dtype)


def distinct_singular(shape, dtype):
    """Full-rank matrices with well-separated singular values."""
    m, n = shape[-2:]
    k = min(m, n)
    u, _ = np.linalg.qr(rng.standard_normal(shape[:-2] + (m, k)))
    v, _ = np.linalg.qr(rng.standard_normal(shape[:-2] + (n, k)))
    s = np.arange(k, 0, -1) * 1.3 + 0.5
    return ((u * s[..., None, :]) @ np.swapaxes(v, -1, -2)).astype(dtype)


def upper(shape, dtype):
    return np.triu(general(shape, dtype)).astype(dtype)


def lower(shape, dtype):
    return np.tril(general(shape, dtype)).astype(dtype)


def vector(shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def small_norm(shape, dtype):
    return (0.3 * rng.standard_normal(shape)).astype(dtype)


@dataclass
class Row:
    name: str
    ours: Callable
    reference: Callable
    makers: tuple
    shapes: list
    grads: bool = True
    order: int = 2
    tol: dict = field(default_factory=dict)


def _abs_rows(x):
    """Singular/eigen vectors are defined up to sign: compare them by magnitude per column."""
    return np.abs(np.asarray(x))


ROWS = [
    Row("solve", jnp.linalg.solve, np.linalg.solve, (general, vector),
        [((3, 3), (3,)), ((3, 3), (3, 2)), ((2, 3, 3), (2, 3, 2)), ((2, 1, 3, 3), (4, 3, 1))]),
    Row("inv", jnp.linalg.inv, np.linalg.inv, (general,), [((3, 3),), ((2, 2, 4, 4),)]),
    Row("det", jnp.linalg.det, np.linalg.det, (general,), [((3, 3),), ((2, 4, 4),)]),
    Row("slogdet", lambda a: jnp.linalg.slogdet(a)[1], lambda a: np.linalg.slogdet(a)[1],
        (general,), [((3, 3),), ((2, 4, 4),)]),
    Row("slogdet_sign", lambda a: jnp.linalg.slogdet(a)[0], lambda a: np.linalg.slogdet(a)[0],
        (general,), [((3, 3),)], grads=False),
    Row("cholesky", jnp.linalg.cholesky, np.linalg.cholesky, (spd,), [((3, 3),), ((2, 4, 4),)]),
    Row("cholesky_upper", lambda a: jnp.linalg.cholesky(a, upper=True),
        lambda a: np.linalg.cholesky(a, upper=True), (spd,), [((3, 3),)]),
    Row("qr_q", lambda a: jnp.linalg.qr(a).Q, lambda a: np.linalg.qr(a).Q, (general,),
        [((4, 3),), ((3, 3),), ((2, 5, 3),)]),
    Row("qr_r", lambda a: jnp.linalg.qr(a).R, lambda a: np.linalg.qr(a).R, (general,),
        [((4, 3),), ((3, 5),), ((2, 3, 3),)]),
    Row("qr_complete_square", lambda a: jnp.linalg.qr(a, mode="complete").Q,
        lambda a: np.linalg.qr(a, mode="complete").Q, (general,), [((3, 3),)]),
    Row("qr_r_mode", lambda a: jnp.linalg.qr(a, mode="r"), lambda a: np.linalg.qr(a, mode="r"),
        (general,), [((4, 3),)]),
    Row("eigh_values", lambda a: jnp.linalg.eigh(a).eigenvalues,
        lambda a: np.linalg.eigh(a).eigenvalues, (symmetric,), [((3, 3),), ((2, 4, 4),)]),
    Row("eigh_vectors", lambda a: jnp.linalg.eigh(a).eigenvectors,
        lambda a: np.linalg.eigh(a).eigenvectors, (symmetric,), [((3, 3),), ((2, 4, 4),)]),
    Row("eigvalsh", jnp.linalg.eigvalsh, np.linalg.eigvalsh, (symmetric,), [((4, 4),)]),
    Row("svd_s", lambda a: jnp.linalg.svd(a, compute_uv=False),
        lambda a: np.linalg.svd(a, compute_uv=False), (distinct_singular,),
        [((4, 3),), ((3, 5),), ((2, 3, 3),)]),
    Row("svd_u", lambda a: jnp.linalg.svd(a, full_matrices=False).U,
        lambda a: np.linalg.svd(a, full_matrices=False).U, (distinct_singular,),
        [((4, 3),), ((3, 4),)]),
    Row("svd_vh", lambda a: jnp.linalg.svd(a, full_matrices=False).Vh,
        lambda a: np.linalg.svd(a, full_matrices=False).Vh, (distinct_singular,),
        [((4, 3),), ((2, 3, 4),)]),
    Row("svd_full_u", lambda a: jnp.linalg.svd(a).U, lambda a: np.linalg.svd(a).U,
        (distinct_singular,), [((4, 2),)], grads=False),
    Row("svd_hermitian", lambda a: jnp.linalg.svd(a, hermitian=True).S,
        lambda a: np.linalg.svd(a, hermitian=True).S, (symmetric,), [((4, 4),)]),
    Row("svdvals", jnp.linalg.svdvals, np.linalg.svdvals, (distinct_singular,), [((3, 4),)]),
    Row("pinv", jnp.linalg.pinv, np.linalg.pinv, (distinct_singular,),
        [((4, 3),), ((3, 5),), ((2, 3, 3),)]),
    Row("lstsq", lambda a, b: jnp.linalg.lstsq(a, b)[0], lambda a, b: np.linalg.lstsq(a, b)[0],
        (distinct_singular, vector), [((5, 3), (5,)), ((5, 3), (5, 2)), ((3, 4), (3,))]),
    Row("lstsq_resid", lambda a, b: jnp.linalg.lstsq(a, b)[1],
        lambda a, b: np.linalg.lstsq(a, b)[1], (distinct_singular, vector), [((5, 3), (5, 2))]),
    Row("matrix_power_3", lambda a: jnp.linalg.matrix_power(a, 3),
        lambda a: np.linalg.matrix_power(a, 3), (small_norm,), [((3, 3),), ((2, 3, 3),)]),
    Row("matrix_power_-2", lambda a: jnp.linalg.matrix_power(a, -2),
        lambda a: np.linalg.matrix_power(a, -2), (general,), [((3, 3),)]),
    Row("matrix_power_0", lambda a: jnp.linalg.matrix_power(a, 0),
        lambda a: np.linalg.matrix_power(a, 0), (general,), [((2, 3, 3),)], grads=False),
    Row("matrix_rank", jnp.linalg.matrix_rank, np.linalg.matrix_rank, (distinct_singular,),
        [((4, 3),), ((2, 3, 5),)], grads=False),
    Row("multi_dot", lambda a, b, c: jnp.linalg.multi_dot([a, b, c]),
        lambda a, b, c: np.linalg.multi_dot([a, b, c]), (vector, vector, vector),
        [((3,), (3, 5), (5, 2)), ((2, 4), (4, 4), (4,))]),
    Row("tensorsolve", jnp.linalg.tensorsolve, np.linalg.tensorsolve, (general, vector),
        [((6, 2, 3), (6,))]),
    Row("tensorinv", lambda a: jnp.linalg.tensorinv(a, ind=1),
        lambda a: np.linalg.tensorinv(a, ind=1), (general,), [((6, 2, 3),)]),
    Row("cond", jnp.linalg.cond, np.linalg.cond, (general,), [((3, 3),), ((2, 4, 4),)]),
    Row("cond_fro", lambda a: jnp.linalg.cond(a, "fro"), lambda a: np.linalg.cond(a, "fro"),
        (general,), [((3, 3),)]),
    # scipy.linalg
    Row("solve_triangular", lambda a, b: jsl.solve_triangular(a, b, lower=True),
        lambda a, b: sl.solve_triangular(a, b, lower=True), (lower, vector),
        [((3, 3), (3,)), ((4, 4), (4, 2))]),
    Row("solve_triangular_trans", lambda a, b: jsl.solve_triangular(a, b, trans=1,
                                                                     unit_diagonal=True),
        lambda a, b: sl.solve_triangular(a, b, trans=1, unit_diagonal=True), (upper, vector),
        [((3, 3), (3, 2))]),
    Row("cho_solve", lambda a, b: jsl.cho_solve(jsl.cho_factor(a), b),
        lambda a, b: sl.cho_solve(sl.cho_factor(a), b), (spd, vector),
        [((3, 3), (3,)), ((4, 4), (4, 2))]),
    Row("cho_solve_lower", lambda a, b: jsl.cho_solve(jsl.cho_factor(a, lower=True), b),
        lambda a, b: sl.cho_solve(sl.cho_factor(a, lower=True), b), (spd, vector),
        [((3, 3), (3, 2))]),
    Row("lu_factor", lambda a: jsl.lu_factor(a)[0], lambda a: sl.lu_factor(a)[0], (general,),
        [((4, 4),)]),
    Row("lu_solve", lambda a, b: jsl.lu_solve(jsl.lu_factor(a), b),
        lambda a, b: sl.lu_solve(sl.lu_factor(a), b), (general, vector),
        [((3, 3), (3,)), ((4, 4), (4, 2))]),
    Row("lu_solve_trans", lambda a, b: jsl.lu_solve(jsl.lu_factor(a), b, trans=1),
        lambda a, b: sl.lu_solve(sl.lu_factor(a), b, trans=1), (general, vector),
        [((3, 3), (3, 2))]),
    Row("scipy_lu_l", lambda a: jsl.lu(a)[1], lambda a: sl.lu(a)[1], (general,),
        [((4, 4),), ((5, 3),), ((3, 5),)]),
    Row("scipy_lu_p", lambda a: jsl.lu(a)[0], lambda a: sl.lu(a)[0], (general,), [((4, 4),)],
        grads=False),
    Row("expm", jsl.expm, sl.expm, (general,), [((3, 3),), ((2, 3, 3),)], order=1),
    Row("expm_small", jsl.expm, sl.expm, (small_norm,), [((3, 3),)]),
    Row("scipy_cholesky", jsl.cholesky, sl.cholesky, (spd,), [((3, 3),)]),
]
ROWS += [Row(f"norm_vector_{o}", lambda x, o=o: jnp.linalg.norm(x, o),
             lambda x, o=o: np.linalg.norm(x, o), (vector,), [((5,),)],
             grads=o not in (0,), order=1 if o in (np.inf, -np.inf, 1) else 2)
         for o in (None, 2, 1, np.inf, -np.inf, 0, 3, -1.5)]
ROWS += [Row(f"norm_matrix_{o}", lambda x, o=o: jnp.linalg.norm(x, o),
             lambda x, o=o: np.linalg.norm(x, o), (distinct_singular,), [((4, 3),)],
             order=1 if o in (np.inf, -np.inf, 1, -1) else 2)
         for o in (None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf)]
ROWS += [
    Row("norm_axis", lambda x: jnp.linalg.norm(x, axis=1, keepdims=True),
        lambda x: np.linalg.norm(x, axis=1, keepdims=True), (vector,), [((3, 4, 2),)]),
    Row("norm_axes_matrix", lambda x: jnp.linalg.norm(x, 2, axis=(2, 0)),
        lambda x: np.linalg.norm(x, 2, axis=(2, 0)), (distinct_singular,), [((3, 2, 4),)],
        grads=False),
    Row("vector_norm", lambda x: jnp.linalg.vector_norm(x, axis=(0, 2), ord=3),
        lambda x: np.linalg.vector_norm(x, axis=(0, 2), ord=3), (vector,), [((3, 2, 4),)]),
    Row("matrix_norm", lambda x: jnp.linalg.matrix_norm(x, ord="nuc"),
        lambda x: np.linalg.matrix_norm(x, ord="nuc"), (distinct_singular,), [((2, 3, 4),)]),
]

DTYPES = [np.float64, np.float32]


def _params():
    out = []
    for row in ROWS:
        for dtype in DTYPES:
            for i, shapes in enumerate(row.shapes if DEEP else row.shapes[:1]):
                out.append(pytest.param(row, dtype, shapes, id=f"{row.name}-{dtype.__name__}-{i}"))
    return out


def _inputs(row, dtype, shapes):
    return [make(shape, dtype) for make, shape in zip(row.makers, shapes)]


def _close(ours, expected, dtype, what):
    ours = np.asarray(ours)
    expected = np.asarray(expected)
    assert ours.shape == expected.shape, f"{what}: shape {ours.shape} != {expected.shape}"
    if expected.dtype.kind == "f":
        assert ours.dtype == expected.dtype, f"{what}: dtype {ours.dtype} != {expected.dtype}"
    tol = 2e-4 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(ours, expected, rtol=tol, atol=tol, err_msg=what)


@pytest.mark.parametrize("row,dtype,shapes", _params())
def test_values_eager_and_jit(row, dtype, shapes):
    args = _inputs(row, dtype, shapes)
    expected = row.reference(*args)
    _close(row.ours(*args), expected, dtype, f"{row.name} eager")
    _close(dj.jit(row.ours)(*args), expected, dtype, f"{row.name} jit")


@pytest.mark.parametrize("row,dtype,shapes",
                         [p for p in _params() if p.values[0].grads])
def test_derivatives(row, dtype, shapes):
    args = [a.astype(np.float64) for a in _inputs(row, dtype, shapes)]
    if dtype == np.float32:
        args = [a.astype(np.float32) for a in args]
    order = row.order if dtype == np.float64 else 1
    check_grads(row.ours, args, order=order)
    # a jitted gradient equals the traced one
    weights = rng.standard_normal(np.shape(row.ours(*args)))

    def loss(*xs):
        return jnp.sum(row.ours(*xs) * weights)
    argnums = tuple(range(len(args)))
    traced = dj.grad(loss, argnums=argnums)(*args)
    jitted = dj.jit(dj.grad(loss, argnums=argnums))(*args)
    for t, j in zip(traced, jitted):
        np.testing.assert_allclose(j, t, rtol=1e-4 if dtype == np.float32 else 1e-10,
                                   atol=1e-4 if dtype == np.float32 else 1e-10)
