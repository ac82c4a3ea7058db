"""dualjit.linalg (torch.linalg) and the torch.* linear algebra spellings: values against NumPy
and SciPy, gradients against central differences (gradcheck, float64), PyTorch's named
tuples, dtypes and errors (singular and not positive-definite matrices)."""

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

import dualjit as dj
from dualjit.autograd import gradcheck

L = dj.linalg
rng = np.random.default_rng(0)

LINALG_NAMES = ("norm vector_norm matrix_norm det slogdet inv pinv solve lstsq cholesky qr eigh "
                "eigvalsh svd svdvals matrix_rank matrix_power cross multi_dot cond "
                "solve_triangular lu_factor lu_solve inv_ex cholesky_ex diagonal vander "
                "matrix_exp vecdot LinAlgError lu lu_factor_ex eig eigvals tensorinv "
                "tensorsolve solve_ex").split()


def test_every_name_exists():
    missing = [n for n in LINALG_NAMES if not hasattr(dj.linalg, n)]
    assert not missing
    assert issubclass(L.LinAlgError, RuntimeError)  # as torch.linalg.LinAlgError
    for name in ("det", "slogdet", "logdet", "inverse", "svd", "matrix_exp"):
        assert callable(getattr(dj, name))


def t64(a, grad=True):
    return dj.tensor(np.asarray(a, np.float64), requires_grad=grad)


def well_conditioned(*shape):
    a = rng.standard_normal(shape)
    return a + 3 * np.eye(shape[-1])


def spd(*shape):
    a = rng.standard_normal(shape)
    return a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])


def close(t, expected, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(t.detach().numpy(), expected, rtol=rtol, atol=atol)


# -- values -----------------------------------------------------------------------------------

@settings(max_examples=15, deadline=None)
@given(batch=st.lists(st.integers(1, 3), max_size=2), n=st.integers(1, 4))
def test_batched_values_match_numpy(batch, n):
    a = well_conditioned(*batch, n, n)
    b = rng.standard_normal((*batch, n, 2))
    A = t64(a, grad=False)
    close(L.det(A), np.linalg.det(a), rtol=1e-9)
    sign, logabsdet = L.slogdet(A)
    close(sign, np.linalg.slogdet(a)[0])
    close(logabsdet, np.linalg.slogdet(a)[1], rtol=1e-9, atol=1e-10)
    close(L.inv(A), np.linalg.inv(a), rtol=1e-8, atol=1e-10)
    close(L.solve(A, t64(b, False)), np.linalg.solve(a, b), rtol=1e-8, atol=1e-10)
    close(L.solve(A, t64(b[..., 0], False)), np.linalg.solve(a, b[..., :1])[..., 0],
          rtol=1e-8, atol=1e-10)  # B of A's shape without the last dimension: vectors
    close(L.matrix_norm(A), np.linalg.norm(a, axis=(-2, -1)))
    close(L.svdvals(A), np.linalg.svd(a, compute_uv=False), rtol=1e-9, atol=1e-10)
    p = spd(*batch, n, n)
    close(L.cholesky(t64(p, False)), np.linalg.cholesky(p), rtol=1e-9, atol=1e-10)
    close(L.eigvalsh(t64(p, False)), np.linalg.eigvalsh(p), rtol=1e-9, atol=1e-10)


def test_norms_match_numpy():
    x = rng.standard_normal((3, 4))
    X = t64(x, False)
    for ord in (None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf):
        close(L.norm(X, ord), np.linalg.norm(x, ord), rtol=1e-9)
        close(L.matrix_norm(X, ord if ord is not None else "fro"),
              np.linalg.norm(x, ord), rtol=1e-9)
    for ord in (None, 1, 2, 3.5, np.inf, -np.inf, 0):
        close(L.norm(X, ord, dim=1), np.linalg.norm(x, ord, axis=1), rtol=1e-9)
    y = rng.standard_normal((2, 3, 4))
    close(L.norm(t64(y, False)), np.linalg.norm(y.ravel()))  # (no ord, no dim: any shape)
    close(L.vector_norm(t64(y, False)), np.linalg.norm(y.ravel()))
    close(L.vector_norm(t64(y, False), 3, dim=(0, 2), keepdim=True),
          np.sum(np.abs(y) ** 3, axis=(0, 2), keepdims=True) ** (1 / 3))
    with pytest.raises(RuntimeError, match="must be 1D or 2D"):
        L.norm(t64(y, False), 2)
    assert L.norm(dj.tensor([3.0, 4.0])).dtype == dj.float32
    assert L.norm(dj.tensor([3 + 4j])).dtype == dj.float64  # complex128 -> real
    assert L.vector_norm(dj.tensor([1.0, 2.0]), dtype=dj.float64).dtype == dj.float64


def test_factorizations_reconstruct():
    a = rng.standard_normal((2, 4, 3))
    q, r = L.qr(t64(a, False))
    assert q.shape == (2, 4, 3) and r.shape == (2, 3, 3)
    close(q @ r, a)
    q, r = L.qr(t64(a, False), mode="complete")
    assert q.shape == (2, 4, 4) and r.shape == (2, 4, 3)
    close(q.mT @ q, np.broadcast_to(np.eye(4), (2, 4, 4)), atol=1e-12)
    q, r = L.qr(t64(a, False), mode="r")
    assert q.numel() == 0 and r.shape == (2, 3, 3)
    u, s, vh = L.svd(t64(a, False), full_matrices=False)
    close(u @ (s.unsqueeze(-1) * vh), a)
    u, s, vh = L.svd(t64(a, False))
    assert u.shape == (2, 4, 4) and vh.shape == (2, 3, 3)
    p = spd(3, 3)
    w, v = L.eigh(t64(p, False))
    close(v @ (w.unsqueeze(-1) * v.mT), p)
    U, S, V = dj.svd(t64(a[0], False))  # torch.svd: V, not Vh
    close(U @ (S.unsqueeze(-1) * V.mT), a[0])
    U, S, V = dj.svd(t64(a[0], False), compute_uv=False)
    assert U.shape == (4, 4) and V.shape == (3, 3) and not U.numpy().any()


def test_one_triangle_is_read():
    p = spd(3, 3)
    garbage_above = np.tril(p) + np.triu(rng.standard_normal((3, 3)), 1)
    close(L.cholesky(t64(garbage_above, False)), np.linalg.cholesky(p), rtol=1e-9)
    close(L.eigvalsh(t64(garbage_above, False)), np.linalg.eigvalsh(p), rtol=1e-9)
    garbage_below = np.triu(p) + np.tril(rng.standard_normal((3, 3)), -1)
    close(L.eigh(t64(garbage_below, False), UPLO="U").eigenvalues, np.linalg.eigvalsh(p),
          rtol=1e-9)
    close(L.cholesky(t64(p, False), upper=True), np.linalg.cholesky(p).T, rtol=1e-9)


def test_lstsq_pinv_rank():
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    expected = np.linalg.lstsq(a, b, rcond=None)
    result = L.lstsq(t64(a, False), t64(b, False))
    close(result.solution, expected[0], rtol=1e-9)
    assert result.residuals.numel() == 0 and result.singular_values.numel() == 0  # gelsy
    assert result.rank.item() == 3 and result.rank.dtype == dj.int64
    full = L.lstsq(t64(a, False), t64(b, False), driver="gelsd")
    close(full.residuals, expected[1], rtol=1e-9)
    close(full.singular_values, expected[3], rtol=1e-9)
    close(L.lstsq(t64(a, False), t64(b[:, 0], False)).solution, expected[0][:, 0], rtol=1e-9)
    deficient = np.outer(rng.standard_normal(4), rng.standard_normal(3))
    close(L.pinv(t64(deficient, False)), np.linalg.pinv(deficient), rtol=1e-8, atol=1e-12)
    assert L.matrix_rank(t64(deficient, False)).item() == 1
    assert L.matrix_rank(t64(np.eye(3) * [1, 1, 1e-3], False), atol=1e-2).item() == 2
    with pytest.raises(RuntimeError, match="driver"):
        L.lstsq(t64(a, False), t64(b, False), driver="nope")


def test_lu_and_triangular():
    a = rng.standard_normal((2, 3, 3))
    a[1] = a[1][[2, 0, 1]] + 3 * np.eye(3)[[2, 0, 1]]  # one matrix pivots, one may not
    b = rng.standard_normal((2, 3, 2))
    lu, pivots = L.lu_factor(t64(a, False))
    expected_lu, expected_piv = scipy.linalg.lu_factor(a[0])
    close(lu[0], expected_lu)
    assert pivots.dtype == dj.int32 and pivots[0].tolist() == list(expected_piv + 1)
    assert pivots[1].tolist() != [1, 2, 3]
    close(L.lu_solve(lu, pivots, t64(b, False)), np.linalg.solve(a, b), rtol=1e-9)
    close(L.lu_solve(lu, pivots, t64(b, False), adjoint=True),
          np.linalg.solve(np.swapaxes(a, -1, -2), b), rtol=1e-9)
    bt = np.swapaxes(b, -1, -2)
    close(L.lu_solve(lu, pivots, t64(bt, False), left=False), bt @ np.linalg.inv(a),
          rtol=1e-9)
    u = np.triu(a)
    close(L.solve_triangular(t64(a, False), t64(b, False), upper=True),
          np.linalg.solve(u, b), rtol=1e-9)
    close(L.solve_triangular(t64(a, False), t64(bt, False), upper=False, left=False,
                             unitriangular=True),
          bt @ np.linalg.inv(np.tril(a, -1) + np.eye(3)), rtol=1e-9)


def test_products_and_the_rest():
    a = [rng.standard_normal(s) for s in ((2, 5), (5, 3), (3, 4))]
    close(L.multi_dot([t64(x, False) for x in a]), a[0] @ a[1] @ a[2])
    m = well_conditioned(3, 3)
    close(L.matrix_power(t64(m, False), 3), np.linalg.matrix_power(m, 3))
    close(L.matrix_power(t64(m, False), -2), np.linalg.matrix_power(m, -2), rtol=1e-9)
    close(L.matrix_power(t64(m, False), 0), np.eye(3))
    close(L.matrix_exp(t64(m / 4, False)), scipy.linalg.expm(m / 4), rtol=1e-9)
    close(dj.matrix_exp(t64(m / 4, False)), scipy.linalg.expm(m / 4), rtol=1e-9)
    close(L.cond(t64(m, False)), np.linalg.cond(m), rtol=1e-9)
    close(L.cond(t64(m, False), "fro"), np.linalg.cond(m, "fro"), rtol=1e-9)
    x, y = rng.standard_normal((4, 3)), rng.standard_normal((1, 3))
    close(L.cross(t64(x, False), t64(y, False)), np.cross(x, y))
    close(L.diagonal(t64(a[0], False)), np.diagonal(a[0], axis1=-2, axis2=-1))
    v = np.array([1.0, 2.0, 3.0])
    close(L.vander(t64(v, False)), np.vander(v, increasing=True))
    close(L.vander(t64(v, False), N=5), np.vander(v, 5, increasing=True))
    assert L.vander(dj.tensor([1, 2])).dtype == dj.int64
    close(L.vecdot(t64(x, False), t64(y, False)), np.sum(x * y, -1))
    with pytest.raises(RuntimeError, match="length 3"):
        L.cross(dj.ones(2, 2), dj.ones(2, 2))
    with pytest.raises(RuntimeError, match="same dtype"):
        L.multi_dot([dj.ones(2, 2), dj.ones(2, 2, dtype=dj.float64)])


# -- gradients --------------------------------------------------------------------------------

GRADIENTS = {
    "det": (lambda a: L.det(a), lambda: well_conditioned(2, 3, 3)),
    "slogdet": (lambda a: L.slogdet(a).logabsdet, lambda: well_conditioned(2, 3, 3)),
    "logdet": (lambda a: dj.logdet(a), lambda: spd(3, 3)),
    "inv": (lambda a: L.inv(a), lambda: well_conditioned(3, 3)),
    "pinv": (lambda a: L.pinv(a), lambda: rng.standard_normal((4, 3))),
    "cholesky": (lambda a: L.cholesky(a + a.mT), lambda: spd(3, 3)),
    "eigvalsh": (lambda a: L.eigvalsh(a + a.mT), lambda: spd(3, 3)),
    "eigh": (lambda a: (lambda w, v: v * v * w.unsqueeze(-2))(*L.eigh(a + a.mT)),
             lambda: spd(3, 3)),
    "svd": (lambda a: (lambda u, s, vh: (u * s.unsqueeze(-2)) @ vh + (u * u).sum(-1, True))(
        *L.svd(a, full_matrices=False)), lambda: rng.standard_normal((4, 3))),
    "svdvals": (lambda a: L.svdvals(a), lambda: rng.standard_normal((2, 4, 3))),
    "qr": (lambda a: (lambda q, r: q.sum(-1, True) * 2 + r.sum(0))(*L.qr(a)),
           lambda: rng.standard_normal((4, 3))),
    "norm nuc": (lambda a: L.norm(a, "nuc"), lambda: rng.standard_normal((3, 4))),
    "norm 2 dim": (lambda a: L.norm(a, 3, dim=1), lambda: rng.standard_normal((3, 4))),
    "vector_norm": (lambda a: L.vector_norm(a, dim=(0, 1)), lambda: rng.standard_normal((3, 4))),
    "matrix_norm inf": (lambda a: L.matrix_norm(a, np.inf), lambda: rng.standard_normal((3, 4))),
    "matrix_power": (lambda a: L.matrix_power(a, -2), lambda: well_conditioned(3, 3)),
    "matrix_exp": (lambda a: L.matrix_exp(a), lambda: rng.standard_normal((2, 2)) / 2),
    "cond": (lambda a: L.cond(a), lambda: well_conditioned(3, 3)),
    "lu_factor": (lambda a: L.lu_factor(a).LU, lambda: well_conditioned(3, 3)),
    "vander": (lambda a: L.vander(a.reshape(-1)), lambda: np.array([0.0, 1.5, -2.0])),
    "multi_dot": (lambda a: L.multi_dot([a, a.mT, a]), lambda: rng.standard_normal((2, 3))),
}


@pytest.mark.parametrize("name", GRADIENTS)
def test_gradients_match_finite_differences(name):
    fn, make = GRADIENTS[name]
    assert gradcheck(fn, (t64(make()),))


def test_gradients_of_two_operand_functions():
    a, b = t64(well_conditioned(2, 2, 2)), t64(rng.standard_normal((2, 2, 2)))
    assert gradcheck(lambda a, b: L.solve(a, b), (a, b))
    bt = b.detach().mT.clone().requires_grad_()
    assert gradcheck(lambda a, bt: L.solve(a, bt, left=False), (a, bt))
    assert gradcheck(lambda a, b: L.solve_triangular(a, b, upper=True), (a, b))
    assert gradcheck(lambda a, b: L.lstsq(a[0], b[0]).solution, (a, b))
    lu, pivots = L.lu_factor(a.detach())
    assert gradcheck(lambda lu, b: L.lu_solve(lu, pivots, b), (lu.requires_grad_(), b))
    x, y = t64(rng.standard_normal((2, 3))), t64(rng.standard_normal((2, 3)))
    assert gradcheck(lambda x, y: L.cross(x, y), (x, y))


def test_symmetric_gradients_as_pytorch():
    # PyTorch reads one triangle but returns the symmetric gradient (the derivative along
    # symmetric perturbations): <G, E> = d/dt f(A + t E) for symmetric E, and G = G^T
    p = t64(spd(3, 3))
    for f in (lambda a: L.cholesky(a).sum(), lambda a: (L.eigh(a)[0] ** 2).sum()):
        f(p).backward()
        g = p.grad.numpy()
        np.testing.assert_allclose(g, g.T, atol=1e-12)
        e = rng.standard_normal((3, 3))
        e = e + e.T
        eps = 1e-6
        base = p.detach().numpy()
        fd = (f(t64(base + eps * e, False)).item() - f(t64(base - eps * e, False)).item()) / (
            2 * eps)
        np.testing.assert_allclose(np.sum(g * e), fd, rtol=1e-6)
        p.grad = None


def test_second_derivative_of_det():
    a = t64(well_conditioned(3, 3))
    (g,) = dj.autograd.grad(L.det(a), a, create_graph=True)
    (h,) = dj.autograd.grad(g[0, 1], a)
    # d/da det(a)*inv(a)^T[0, 1]: finite differences of the NumPy gradient
    base, eps = a.detach().numpy(), 1e-6
    fd = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            step = np.zeros((3, 3))
            step[i, j] = eps
            grad_of = lambda m: np.linalg.det(m) * np.linalg.inv(m).T[0, 1]  # noqa: E731
            fd[i, j] = (grad_of(base + step) - grad_of(base - step)) / (2 * eps)
    np.testing.assert_allclose(h.numpy(), fd, rtol=1e-6, atol=1e-8)


# -- errors, edge cases, dtypes ---------------------------------------------------------------

def test_singular_and_not_positive_definite():
    singular = dj.tensor([[1.0, 2.0], [2.0, 4.0]])
    for call in (lambda: L.inv(singular), lambda: L.solve(singular, dj.ones(2)),
                 lambda: dj.inverse(singular), lambda: L.matrix_power(singular, -1),
                 lambda: L.cholesky(-dj.eye(3))):
        with pytest.raises(L.LinAlgError, match="singular|positive-definite"):
            call()
    assert L.det(singular).item() == 0
    sign, logabsdet = L.slogdet(dj.zeros(2, 2))
    assert sign.item() == 0 and logabsdet.item() == -np.inf
    assert dj.logdet(dj.zeros(2, 2)).item() == -np.inf
    assert np.isnan(dj.logdet(dj.diag(dj.tensor([-1.0, 1.0]))).item())
    inverse, info = L.inv_ex(dj.stack([dj.eye(2), dj.zeros(2, 2)]))
    assert info.tolist() == [0, 1] and info.dtype == dj.int32
    close(inverse[0], np.eye(2))
    result, info = L.solve_ex(dj.stack([dj.eye(2), dj.zeros(2, 2)]), dj.ones(2, 2, 1))
    assert info.tolist() == [0, 1]
    close(result[0], np.ones((2, 1)))
    with pytest.raises(L.LinAlgError):
        L.solve_ex(dj.zeros(2, 2), dj.ones(2), check_errors=True)
    close(L.solve_ex(dj.tensor([[2.0, 0], [1, 1]]), dj.tensor([[2.0, 4]]), left=False).result,
          np.array([[2.0, 4]]) @ np.linalg.inv([[2.0, 0], [1, 1]]), rtol=1e-6)
    factor, info = L.cholesky_ex(dj.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, -1]]))
    assert info.item() == 3
    with pytest.raises(L.LinAlgError):
        L.inv_ex(dj.zeros(2, 2), check_errors=True)
    with pytest.raises(L.LinAlgError):
        L.cholesky_ex(-dj.eye(2), check_errors=True)


def test_input_errors():
    with pytest.raises(RuntimeError, match="floating point or complex"):
        L.inv(dj.eye(2, dtype=dj.int64))
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        L.det(dj.ones(3))
    with pytest.raises(RuntimeError, match="square"):
        L.det(dj.ones(2, 3))
    with pytest.raises(RuntimeError, match="Incompatible shapes"):
        L.solve(dj.eye(3), dj.ones(2))
    with pytest.raises(RuntimeError, match="UPLO"):
        L.eigh(dj.eye(2), UPLO="X")
    with pytest.raises(RuntimeError, match="mode"):
        L.qr(dj.eye(2), mode="raw")


def test_empty_matrices():
    assert L.inv(dj.zeros(0, 0)).shape == (0, 0)
    assert L.det(dj.zeros(0, 0)).item() == 1.0
    assert L.det(dj.zeros(2, 0, 0)).tolist() == [1.0, 1.0]
    assert L.solve(dj.zeros(0, 0), dj.zeros(0, 2)).shape == (0, 2)


def test_non_differentiable_outputs_carry_no_gradient():
    a = t64(well_conditioned(3, 3))
    assert not L.matrix_rank(a).requires_grad
    assert not L.lu_factor(a).pivots.requires_grad
    assert not L.lstsq(a, a).rank.requires_grad
    assert not L.inv_ex(a).info.requires_grad
    assert L.slogdet(a).logabsdet.requires_grad


@pytest.mark.parametrize("dtype", [dj.float32, dj.float64])
def test_dtypes_are_kept(dtype):
    a = dj.tensor(well_conditioned(3, 3), dtype=dtype)
    for out in (L.det(a), L.inv(a), L.slogdet(a)[1], L.cholesky(a @ a.mT), L.svdvals(a),
                L.norm(a), L.pinv(a), L.eigh(a + a.mT)[1], L.qr(a)[0]):
        assert out.dtype == dtype


def test_complex_matrices():
    a = rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3)) + 3 * np.eye(3)
    A = dj.tensor(a)
    close(L.det(A), np.linalg.det(a), rtol=1e-9)
    close(L.inv(A), np.linalg.inv(a), rtol=1e-9)
    h = a @ a.conj().T
    close(L.eigvalsh(dj.tensor(h)), np.linalg.eigvalsh(h), rtol=1e-9)
    close(L.cholesky(dj.tensor(h)), np.linalg.cholesky(h), rtol=1e-9)


def test_compiled_function_uses_linalg():
    a = well_conditioned(3, 3)

    @dj.compile
    def f(x):
        return L.solve(x, x.sum(-1)).sum() + L.det(x)

    x = t64(a, False)
    expected = np.linalg.solve(a, a.sum(-1)).sum() + np.linalg.det(a)
    np.testing.assert_allclose(f(x).item(), expected, rtol=1e-9)
    np.testing.assert_allclose(f(x).item(), expected, rtol=1e-9)


def test_complex_norms():
    z = rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))
    Z = dj.tensor(z)
    for ord in (None, "fro", 1, np.inf):
        close(L.norm(Z, ord), np.linalg.norm(z, ord), rtol=1e-9)
    close(L.vector_norm(Z, 3), np.sum(np.abs(z) ** 3) ** (1 / 3), rtol=1e-9)


def test_lu_eig_tensor_functions():
    a = rng.standard_normal((2, 4, 3))
    p, lower, upper = L.lu(t64(a, False))
    for k in range(2):
        ep, el, eu = scipy.linalg.lu(a[k])
        close(p[k], ep)
        close(lower[k], el, rtol=1e-9)
        close(upper[k], eu, rtol=1e-9)
    close(p @ lower @ upper, a)
    assert gradcheck(lambda t: (lambda p, lo, up: lo.sum(-1, True) + up.sum(-2))(*L.lu(t)),
                     (t64(a[0]),))
    lu, pivots, info = L.lu_factor_ex(t64(a[:, :3], False))
    assert info.tolist() == [0, 0] and info.dtype == dj.int32
    assert L.lu_factor_ex(dj.zeros(2, 2)).info.item() == 1
    with pytest.raises(L.LinAlgError):
        L.lu_factor_ex(dj.zeros(2, 2), check_errors=True)
    m = rng.standard_normal((3, 3))
    w, v = L.eig(t64(m, False))
    assert w.dtype == dj.complex128 and v.dtype == dj.complex128
    close((dj.tensor(m + 0j) @ v), (v * w.unsqueeze(-2)).detach().numpy(), rtol=1e-9, atol=1e-12)
    close(dj.sort(L.eigvals(t64(m, False)).real)[0], np.sort(np.linalg.eigvals(m).real), 1e-9)
    with pytest.raises(TypeError, match="eigh"):
        L.eigvals(t64(m)).real.sum().backward()
    t = well_conditioned(6, 6).reshape(2, 3, 6)
    close(L.tensorinv(t64(t, False), 2), np.linalg.tensorinv(t, 2), rtol=1e-9)
    rhs = rng.standard_normal((2, 3))
    close(L.tensorsolve(t64(t, False), t64(rhs, False)), np.linalg.tensorsolve(t, rhs), 1e-9)
    with pytest.raises(L.LinAlgError):
        L.tensorinv(dj.zeros(2, 2, 4), 2)


def test_pinv_absolute_cutoff():
    d = np.diag([1.0, 1e-3])
    close(L.pinv(t64(d, False), atol=1e-2), np.diag([1.0, 0.0]))
    close(L.pinv(t64(d, False), atol=1e-4), np.diag([1.0, 1e3]), rtol=1e-9)
    batch = np.stack([d, np.diag([1e-3, 1e-4]), np.diag([5.0, 1e-3])])
    expected = np.stack([np.diag([1.0, 0.0]), np.zeros((2, 2)), np.diag([0.2, 0.0])])
    close(L.pinv(t64(batch, False), atol=1e-2), expected)  # max(atol, rtol * s_max) per matrix
    close(L.pinv(t64(batch, False), atol=1e-4, rtol=0.5), np.stack(
        [np.diag([1.0, 0.0]), np.diag([1e3, 0.0]), np.diag([0.2, 0.0])]), rtol=1e-9)
    assert gradcheck(lambda t: L.pinv(t, atol=1e-2), (t64(rng.standard_normal((3, 2))),))


def test_complex_spectral_norms():
    z = rng.standard_normal((2, 3, 4)) + 1j * rng.standard_normal((2, 3, 4))
    for ord in ("nuc", 2, -2):
        close(L.matrix_norm(dj.tensor(z), ord), np.linalg.norm(z, ord, axis=(-2, -1)), 1e-9)
        close(L.norm(dj.tensor(z[0]), ord), np.linalg.norm(z[0], ord), 1e-9)
        close(L.norm(dj.tensor(z), ord, dim=(0, 2), keepdim=True),
              np.linalg.norm(z, ord, axis=(0, 2), keepdims=True), 1e-9)
    re, im = t64(z[0].real), t64(z[0].imag)
    assert gradcheck(lambda a, b: L.matrix_norm(dj.complex(a, b), "nuc"), (re, im))
