"""dualjit.numpy.linalg and dualjit.scipy.linalg beyond the sweep: failure values, errors,
derivatives against closed forms, random stack shapes, vmap, and the numpy-only fallback."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dualjit as dj
import dualjit.numpy as jnp
import dualjit.scipy.linalg as jsl

rng = np.random.default_rng(5)
LA = jnp.linalg


def spd(n, batch=()):
    a = rng.standard_normal(batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


# ---------------------------------------------------------------------------------------------
# The failure rule: values (NaN / inf), the same eagerly, under jit and in gradients
# ---------------------------------------------------------------------------------------------

MODES = {"eager": lambda f: f, "jit": dj.jit, "interpreter-grad": lambda f: f}


@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_not_positive_definite_gives_nans_for_that_matrix_only(mode):
    run = MODES[mode]
    stack = np.stack([spd(3), -np.eye(3)])
    out = run(LA.cholesky)(stack)
    np.testing.assert_allclose(out[0], np.linalg.cholesky(stack[0]))
    assert np.isnan(out[1]).all()
    g = run(dj.grad(lambda a: jnp.sum(LA.cholesky(a))))(stack)
    assert np.isfinite(g[0]).all() and np.isnan(g[1]).all()
    y = np.ones((2, 3))
    x = run(lambda a: jsl.cho_solve(jsl.cho_factor(a, lower=True), y))(stack)
    assert np.isfinite(x[0]).all() and np.isnan(x[1]).all()


@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_singular_matrices(mode):
    run = MODES[mode]
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    assert not np.isfinite(run(LA.solve)(singular, np.ones(2))).all()
    assert not np.isfinite(run(LA.inv)(singular)).all()
    sign, logdet = run(LA.slogdet)(singular)
    assert sign == 0 and logdet == -np.inf
    assert run(LA.det)(singular) == 0.0


@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_det_gradient_is_the_adjugate_even_when_singular(mode):
    run = MODES[mode]
    for a in [np.array([[1.0, 2.0], [2.0, 4.0]]), np.array([[0.0, 1.0], [0.0, 0.0]]),
              np.array([[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [3.0, 4.0, 1.0]])]:
        # adj(a)^T: the cofactor matrix, from minors (independent of LU and SVD)
        n = a.shape[0]
        cof = np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(a, i, 0), j, 1))
                         for j in range(n)] for i in range(n)])
        np.testing.assert_allclose(run(dj.grad(LA.det))(a), cof, atol=1e-12)
    batch = np.stack([np.array([[1.0, 2.0], [2.0, 4.0]]), np.array([[2.0, 1.0], [1.0, 3.0]])])
    g = run(dj.grad(lambda a: jnp.sum(LA.det(a))))(batch)
    np.testing.assert_allclose(g, [[[4.0, -2.0], [-2.0, 1.0]], [[3.0, -1.0], [-1.0, 2.0]]],
                               atol=1e-12)


def test_expm_of_a_huge_matrix_is_nan_like_jax():
    out = jsl.expm(np.array([[1e8, 0.0], [0.0, 1.0]]))
    assert np.isnan(out).all()
    assert np.isnan(jsl.expm(np.full((2, 2), np.nan))).all()


# ---------------------------------------------------------------------------------------------
# Derivatives against closed forms
# ---------------------------------------------------------------------------------------------

def test_closed_form_gradients():
    a = spd(4) + rng.standard_normal((4, 4))
    inv = np.linalg.inv(a)
    np.testing.assert_allclose(dj.grad(lambda a: LA.slogdet(a)[1])(a), inv.T, rtol=1e-10)
    np.testing.assert_allclose(dj.grad(LA.det)(a), np.linalg.det(a) * inv.T, rtol=1e-10)
    np.testing.assert_allclose(dj.grad(lambda a: jnp.sum(LA.inv(a) * np.eye(4)))(a), -(inv @ inv).T,
                               rtol=1e-10)
    s = spd(4)
    w, v = np.linalg.eigh(s)
    for i in range(4):  # d w_i / dA = v_i v_i^T (A symmetrized)
        np.testing.assert_allclose(dj.grad(lambda a: LA.eigvalsh(a)[i])(s),
                                   np.outer(v[:, i], v[:, i]), atol=1e-10)
    b = rng.standard_normal((4, 3))
    u, sv, vt = np.linalg.svd(b, full_matrices=False)
    np.testing.assert_allclose(dj.grad(lambda b: jnp.sum(LA.svd(b, compute_uv=False)))(b),
                               u @ vt, atol=1e-10)  # d sum(s) = U V^T (the nuclear norm)


def test_gp_marginal_likelihood_gradient_is_the_textbook_formula():
    # d/dK [-1/2 y^T K^-1 y - 1/2 log|K|] = 1/2 (alpha alpha^T - K^-1), alpha = K^-1 y
    k, y = spd(5), rng.standard_normal(5)

    def mll(k):
        c = jsl.cho_factor(k, lower=True)
        alpha = jsl.cho_solve(c, y)
        return -0.5 * jnp.dot(y, alpha) - jnp.sum(jnp.log(jnp.sum(c[0] * np.eye(5), axis=-1)))
    alpha = np.linalg.solve(k, y)
    expected = 0.5 * (np.outer(alpha, alpha) - np.linalg.inv(k))
    for f in (dj.grad(mll), dj.jit(dj.grad(mll))):
        g = f(k)
        np.testing.assert_allclose(0.5 * (g + g.T), expected, rtol=1e-9, atol=1e-12)


def test_eigenvector_derivative_with_repeated_eigenvalues_is_not_finite():
    # documented: eigenvector derivatives are undefined where eigenvalues repeat
    g = dj.grad(lambda a: jnp.sum(LA.eigh(a).eigenvectors ** 3))(np.eye(3))
    assert not np.isfinite(g).all()
    g = dj.grad(lambda a: jnp.sum(LA.eigvalsh(a) ** 2))(np.eye(3))  # eigenvalues are fine
    np.testing.assert_allclose(g, 2 * np.eye(3), atol=1e-12)


def test_norm_of_zero_has_a_zero_subgradient():
    assert np.all(dj.grad(LA.norm)(np.zeros(3)) == 0)
    assert np.all(dj.grad(lambda x: LA.norm(x, axis=1).sum())(np.zeros((2, 3))) == 0)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

def test_errors_name_the_function_and_the_problem():
    with pytest.raises(np.linalg.LinAlgError, match="solve: the last 2 dimensions"):
        LA.solve(np.ones((2, 3)), np.ones(2))
    with pytest.raises(np.linalg.LinAlgError, match="inv: 1-dimensional"):
        LA.inv(np.ones(3))
    with pytest.raises(ValueError, match="solve: b of shape"):
        LA.solve(np.eye(3), np.ones(4))
    with pytest.raises(ValueError, match="'raw'"):
        LA.qr(np.eye(2), mode="raw")
    with pytest.raises(np.linalg.LinAlgError, match="eig: the last 2 dimensions"):
        LA.eig(np.ones((2, 3)))
    with pytest.raises(TypeError, match="static integer"):
        dj.jit(lambda a, n: LA.matrix_power(a, n))(np.eye(2), 2)
    with pytest.raises(ValueError, match="invalid norm order"):
        LA.norm(np.ones(3), "fro")
    with pytest.raises(ValueError, match="trans must be"):
        jsl.solve_triangular(np.eye(2), np.ones(2), trans=3)


def test_integer_inputs_become_float64_and_float32_stays():
    assert LA.inv(np.eye(2, dtype=np.int64)).dtype == np.float64
    assert LA.det(np.eye(2, dtype=np.float32)).dtype == np.float32
    assert dj.jit(LA.solve)(np.eye(2, dtype=np.float32), np.ones(2, np.float32)).dtype == np.float32


def test_empty_matrices():
    assert LA.det(np.zeros((0, 0))) == 1.0
    assert LA.inv(np.zeros((2, 0, 0))).shape == (2, 0, 0)
    assert LA.cholesky(np.zeros((0, 0))).shape == (0, 0)
    assert LA.slogdet(np.zeros((3, 0, 0)))[1].tolist() == [0.0, 0.0, 0.0]


# ---------------------------------------------------------------------------------------------
# Shapes, vmap and the fallback
# ---------------------------------------------------------------------------------------------

@given(batch=st.lists(st.integers(1, 3), max_size=2), n=st.integers(1, 5), k=st.integers(1, 3),
       lead_b=st.booleans())
def test_solve_and_cholesky_on_random_stacks(batch, n, k, lead_b):
    batch = tuple(batch)
    a = spd(n, batch)
    b = rng.standard_normal(((2,) if lead_b else ()) + batch + (n, k))
    np.testing.assert_allclose(LA.solve(a, b), np.linalg.solve(a, b), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(dj.jit(LA.cholesky)(a), np.linalg.cholesky(a), rtol=1e-10)
    np.testing.assert_allclose(dj.jit(jsl.expm)(a / (4 * n)),
                               np.stack([__import__("scipy.linalg").linalg.expm(m)
                                         for m in (a / (4 * n)).reshape(-1, n, n)]).reshape(
                                   a.shape), rtol=1e-9, atol=1e-12)


def test_vmap_of_linear_algebra_matches_the_stacked_call():
    a, b = np.stack([spd(3) for _ in range(4)]), rng.standard_normal((4, 3))
    for f in (LA.inv, LA.cholesky, lambda m: LA.eigh(m).eigenvalues, LA.det,
              lambda m: LA.slogdet(m)[1], lambda m: LA.qr(m).R, jsl.expm):
        np.testing.assert_allclose(dj.vmap(f)(a), f(a), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dj.vmap(LA.solve)(a, b), LA.solve(a, b[..., None])[..., 0],
                               rtol=1e-10)
    np.testing.assert_allclose(dj.vmap(LA.solve, in_axes=(None, 0))(a[0], b),
                               np.linalg.solve(a[0], b.T).T, rtol=1e-10)


def test_numpy_without_openblas_gives_the_same_results():
    code = """
import numpy as np, dualjit as dj, dualjit.numpy as jnp, dualjit.scipy.linalg as jsl
from dualjit.ir import linalg_impl
assert linalg_impl.openblas() is None
rng = np.random.default_rng(0)
a = rng.standard_normal((3, 4, 4)) + 4 * np.eye(4)
b = rng.standard_normal((3, 4, 2))
np.testing.assert_allclose(dj.jit(jnp.linalg.solve)(a, b), np.linalg.solve(a, b), rtol=1e-10)
np.testing.assert_allclose(jnp.linalg.det(a), np.linalg.det(a), rtol=1e-10)
lu, piv = jsl.lu_factor(a[0])
np.testing.assert_allclose(jsl.lu_solve((lu, piv), b[0]), np.linalg.solve(a[0], b[0]))
g = dj.jit(dj.grad(lambda a: jnp.linalg.slogdet(a)[1].sum()))(a)
np.testing.assert_allclose(g, np.swapaxes(np.linalg.inv(a), -1, -2), rtol=1e-10)
print("ok")
"""
    env = dict(__import__("os").environ, DUALJIT_NATIVE_BLAS="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr[-2000:]


def test_a_host_step_returning_a_strided_view_feeds_kernels_correctly(monkeypatch):
    # implementations may return views (transposes, reversed arrays); kernels read C order
    from dualjit.ir import impl_rules
    from dualjit.ir import primitives as P

    impl = impl_rules[P.cholesky_p]
    monkeypatch.setitem(impl_rules, P.cholesky_p,
                        lambda a: np.asfortranarray(impl(a))[..., ::1, ::1])
    a = spd(4, (2,))
    f = dj.jit(lambda a: LA.cholesky(a) * 2.0 + 1.0)
    np.testing.assert_allclose(f(a), np.linalg.cholesky(a) * 2.0 + 1.0, rtol=1e-12)


@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_decompositions_of_nan_matrices_give_nans_for_that_matrix_only(mode):
    run = MODES[mode]
    a = np.stack([spd(3), np.full((3, 3), np.nan)])
    for f, reference in [(lambda m: LA.eigh(m).eigenvalues, lambda m: np.linalg.eigh(m)[0]),
                         (lambda m: LA.svd(m, compute_uv=False), np.linalg.svdvals),
                         (lambda m: LA.qr(m).R, lambda m: np.linalg.qr(m).R),
                         (LA.cholesky, np.linalg.cholesky)]:
        out = run(f)(a)
        np.testing.assert_allclose(out[0], reference(a[0]), rtol=1e-10, atol=1e-12)
        assert np.isnan(out[1]).any() and not np.isnan(out[0]).any()


def test_eig_and_eigvals_are_numpys_forward_only():
    """Complex results as numpy.linalg.eig's (a rotation has eigenvalues +-i), eagerly, under
    jit (a host step) and vmap; derivatives raise naming eigh."""
    a = np.array([[[0.0, -1.0], [1.0, 0.0]], [[2.0, 1.0], [0.5, 3.0]]])
    for run in (jnp.linalg.eig, dj.jit(jnp.linalg.eig), dj.vmap(jnp.linalg.eig)):
        w, v = run(a)
        assert w.dtype == np.complex128 and v.shape == (2, 2, 2)
        np.testing.assert_allclose(a.astype(complex) @ v, v * w[:, None, :], atol=1e-12)
        np.testing.assert_allclose(np.sort_complex(w[0]), [-1j, 1j], atol=1e-12)
    np.testing.assert_allclose(dj.jit(jnp.linalg.eigvals)(a[1]), np.linalg.eigvals(a[1]))
    assert jnp.linalg.eigvals(a[1].astype(np.float32)).dtype == np.complex64
    with pytest.raises(TypeError, match="eig is not differentiable.*eigh"):
        dj.grad(lambda a: jnp.real(jnp.linalg.eigvals(a)).sum())(a[1])
