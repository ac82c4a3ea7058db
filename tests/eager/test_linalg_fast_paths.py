"""The NumPy fast paths of dualjit.linalg on concrete tensors: bit for bit the compositions they
replace (evaluated eagerly by dualjit.numpy, as the old path did), or the NumPy function
PyTorch's documentation names; *_ex info codes against LAPACK's own (SciPy's wrappers);
gradients (recorded compositions) against central differences; empty matrices."""

import numpy as np
import pytest
import scipy.linalg
import scipy.linalg.lapack

import dualjit as dj
from dualjit import numpy as jnp
from dualjit.autograd import gradcheck
from dualjit.codegen import threads
from dualjit.eager import array_ops
from dualjit.eager import linalg as eager_linalg
from dualjit.scipy import linalg as jsl

from ..bits import same

L = dj.linalg
rng = np.random.default_rng(7)


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """The references below call NumPy's LAPACK directly, on whatever BLAS thread count the
    last dualjit call chose; the small matrices here get one thread from dualjit.linalg, so
    the references get it too (a threaded factorization may round differently)."""
    threads.use_blas_for(0)
DTYPES = (np.float32, np.float64)
SHAPES = ((1, 1), (5, 5), (3, 6, 6), (2, 2, 4, 4), (33, 33))


def spd(shape, dtype):
    m = rng.standard_normal(shape)
    a = m @ np.swapaxes(m, -1, -2) / shape[-1] + np.eye(shape[-1])
    return a.astype(dtype)


def general(shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def value(t):
    return t.detach().numpy()


# -- the same bits as the compositions --------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_matrix_exp_is_the_composition(dtype, shape):
    a = spd(shape, dtype)
    for scale in (0.0, 1e-3, 1.0, 7.0, 300.0, -40.0):
        x = (a * scale).astype(dtype)
        same(value(L.matrix_exp(dj.tensor(x))), jsl.expm(x))
    mixed = np.stack([a * 0, a * 1e-4, a * 50.0, -a]).astype(dtype)  # (squared unevenly)
    same(value(L.matrix_exp(dj.tensor(mixed))), jsl.expm(mixed))
    nan = a.copy()
    nan[..., 0, 0] = np.nan
    same(value(L.matrix_exp(dj.tensor(nan))), jsl.expm(nan))
    huge = (a * 1e30).astype(dtype)  # (more squarings than allowed: NaN, as the composition)
    same(value(L.matrix_exp(dj.tensor(huge))), jsl.expm(huge))


def test_matrix_exp_values_match_scipy():
    a = general((6, 6), np.float64)
    np.testing.assert_allclose(value(L.matrix_exp(dj.tensor(a))), scipy.linalg.expm(a),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES + ((4, 6), (6, 4), (2, 3, 5)))
def test_lu_factors_are_the_composition(dtype, shape):
    for a in (general(shape, dtype), np.zeros(shape, dtype)):
        for got, expected in zip(L.lu_factor(dj.tensor(a)), eager_linalg._lu_factor(a)):
            same(value(got), expected)
        for got, expected in zip(L.lu(dj.tensor(a)), eager_linalg._lu(a)):
            same(value(got), expected)
        lu, pivots, info = L.lu_factor_ex(dj.tensor(a))
        same(value(info), np.asarray(eager_linalg._lu_info_of_factors(value(lu))))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_eigh_of_hermitian_matrices_is_the_composition(dtype, shape):
    a = spd(shape, dtype)
    for upper in ("L", "U"):
        w, v = L.eigh(dj.tensor(a), UPLO=upper)
        w_old, v_old = eager_linalg._eigh(a, upper == "L")
        same(value(w), w_old)
        same(value(v), v_old)
        same(value(L.eigvalsh(dj.tensor(a), UPLO=upper)), w_old)


@pytest.mark.parametrize("dtype", DTYPES)
def test_eigh_reads_one_triangle(dtype):
    # (not Hermitian: the composition symmetrized first, an ulp away; the triangle is exact)
    a = general((3, 7, 7), dtype)
    for uplo in ("L", "U"):
        w, v = L.eigh(dj.tensor(a), UPLO=uplo)
        expected_w, _ = np.linalg.eigh(a, UPLO=uplo)
        np.testing.assert_allclose(value(w), expected_w, rtol=1e-5, atol=1e-5)
        read = np.tril(a) + np.swapaxes(np.tril(a, -1), -1, -2) if uplo == "L" else \
            np.triu(a) + np.swapaxes(np.triu(a, 1), -1, -2)
        np.testing.assert_allclose(read @ value(v), value(v) * value(w)[..., None, :],
                                   atol=1e-4 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,rhs", [((6, 4), (6,)), ((6, 4), (6, 3)), ((5, 5), (5, 2)),
                                       ((2, 7, 3), (2, 7, 2)), ((4, 6), (4, 1))])
def test_lstsq_is_the_composition(dtype, shape, rhs):
    a, b = general(shape, dtype), general(rhs, dtype)
    a[..., -1] = a[..., 0]  # (rank deficient: the cutoff matters)
    m, n = shape[-2:]
    rcond = max(m, n) * np.finfo(dtype).eps
    vector = len(rhs) == 1
    for driver in ("gelsy", "gelsd"):
        solution, _, rank, _ = L.lstsq(dj.tensor(a), dj.tensor(b), driver=driver)
        same(value(solution), eager_linalg._least_squares(a, b, rcond, vector))
        same(value(rank), eager_linalg._rank(a, rcond))


NORM_CASES = [  # (ord, dim, keepdim)
    (None, None, False), (None, None, True), (2, -1, False), (2, 0, True), (1, 1, False),
    (np.inf, -1, True), (-np.inf, 0, False), (3.0, 1, False), (0, -1, False),
    ("fro", (0, 1), False), ("fro", (1, 0), True), (1, (0, 1), False), (-1, (1, 0), True),
    (np.inf, (0, 1), False), (-np.inf, (-1, -2), True), ("nuc", (0, 1), False),
    (2, (0, 1), False), (None, (0, 1), True)]


def norm_inputs(dtype):
    x = general((9, 130), dtype)  # (more than the pairwise summation's block of 8 per row)
    edge = x.copy()
    edge[0, :4] = [0.0, -0.0, np.inf, -np.inf]
    edge[1, 5] = np.nan
    edge[2] = 0.0
    tiny_huge = x.copy()
    tiny_huge[3] = np.finfo(dtype).tiny
    tiny_huge[4, :3] = np.finfo(dtype).max
    return x, edge, tiny_huge, np.zeros((0, 5), dtype), (x * 1j + x).astype(
        np.complex64 if dtype == np.float32 else np.complex128)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ord,dim,keepdim", NORM_CASES)
def test_linalg_norm_is_the_composition(dtype, ord, dim, keepdim):
    for x in norm_inputs(dtype):
        if x.size == 0 and ord in (np.inf, -np.inf, -1, "nuc", 2) and dim is not None:
            continue  # (an empty max: the composition's own error, tested below)
        if np.iscomplexobj(x) and ord in ("nuc", 2) and isinstance(dim, tuple):
            continue  # (complex spectral norms: their own composition, test_linalg_namespace)
        expected = eager_linalg._norm(np.abs(x) if np.iscomplexobj(x) else x, ord,
                                      eager_linalg._dims(dim), keepdim)
        same(value(L.norm(dj.tensor(x), ord, dim, keepdim)), expected)
        if isinstance(dim, tuple):
            matrix_ord = "fro" if ord is None else ord
            same(value(L.matrix_norm(dj.tensor(x), matrix_ord, dim, keepdim)),
                 eager_linalg._norm(np.abs(x) if np.iscomplexobj(x) else x, matrix_ord,
                                    eager_linalg._dims(dim), keepdim))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ord", [2, 1, np.inf, -np.inf, 0, 3.5])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (None, True), (1, False), (0, True),
                                         ((0, 1), False), ((1, 0), True), ((0, 2), False)])
def test_vector_norm_is_the_composition(dtype, ord, dim, keepdim):
    for x in norm_inputs(dtype) + (general((3, 5, 70), dtype),):
        if x.ndim == 2 and dim == (0, 2):
            continue
        if x.size == 0 and ord in (np.inf, -np.inf):
            continue
        magnitude = np.abs(x) if np.iscomplexobj(x) else x
        expected = eager_linalg._vector_norm(magnitude, ord, eager_linalg._dims(dim), keepdim)
        same(value(L.vector_norm(dj.tensor(x), ord, dim, keepdim)), expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_norm_and_dist_match_numpy(dtype):
    x, y = general((4, 300), dtype), general((300,), dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(value(L.vector_norm(dj.tensor(x))), np.linalg.norm(x), rtol=tol)
    np.testing.assert_allclose(value(dj.dist(dj.tensor(x), dj.tensor(y))),
                               np.linalg.norm((x - y).ravel()), rtol=tol)
    np.testing.assert_allclose(value(dj.tensor(x).norm(dim=1)), np.linalg.norm(x, axis=1),
                               rtol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim,keepdim", [(None, False), (None, True), (0, False), (-1, True),
                                         ((0, 1), False), ((1, 0), True)])
def test_tensor_norm_is_the_composition(dtype, dim, keepdim):
    for x in norm_inputs(dtype)[:4]:
        axis = None if dim is None else dim
        same(value(dj.tensor(x).norm(dim=dim, keepdim=keepdim)),
             array_ops.norm2(x, axis, keepdim))


def test_norm_errors_are_the_compositions():
    with pytest.raises(RuntimeError, match="out of bounds"):
        L.vector_norm(dj.ones(3, 4), dim=2)
    with pytest.raises((ValueError, RuntimeError)):
        L.norm(dj.ones(3, 4), "nuc", dim=1)
    with pytest.raises((ValueError, RuntimeError)):
        L.matrix_norm(dj.zeros(0, 3), np.inf)


# -- *_ex: values and LAPACK's info codes -----------------------------------------------------

def lapack(name, dtype):
    return getattr(scipy.linalg.lapack, ("s" if dtype == np.float32 else "d") + name)


def potrf_info(matrix):
    """LAPACK's own info for the lower Cholesky factorization (SciPy's wrapper)."""
    return lapack("potrf", matrix.dtype)(matrix, lower=1)[1]


def not_positive(shape, dtype, order):
    """An SPD matrix whose leading minor of the given order (1-based) is not positive
    definite, while the smaller ones are (a negative pivot there)."""
    a = spd(shape, dtype).astype(np.float64)
    k = order - 1
    schur = a[..., k, k] - np.einsum("...i,...ij,...j->...", a[..., k, :k],
                                     np.linalg.inv(a[..., :k, :k]), a[..., k, :k]) if k else \
        a[..., 0, 0]
    a[..., k, k] -= schur + 0.5
    return a.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_ex_factor_and_info(dtype, upper):
    n = 9
    batch = np.stack([spd((n, n), dtype)] + [not_positive((n, n), dtype, k)
                                             for k in (1, 2, 5, 9)]
                     + [-np.eye(n, dtype=dtype), np.zeros((n, n), dtype)])
    factor, info = L.cholesky_ex(dj.tensor(batch), upper=upper)
    expected_info = [potrf_info(m) for m in batch]
    assert info.tolist() == expected_info == [0, 1, 2, 5, 9, 1, 1]
    assert info.dtype == dj.int32 and info.shape == (7,)
    cholesky = value(L.cholesky(dj.tensor(batch[0]), upper=upper))
    same(value(factor)[0], cholesky)
    assert np.isnan(value(factor)[1:]).all()  # (the composition's NaN factor where it fails)
    one, one_info = L.cholesky_ex(dj.tensor(batch[3]), upper=upper)
    assert one_info.item() == 5 and one_info.shape == ()
    with pytest.raises(L.LinAlgError, match="positive-definite"):
        L.cholesky_ex(dj.tensor(batch), check_errors=True)
    L.cholesky_ex(dj.tensor(batch[:1]), check_errors=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cholesky_ex_random_info_matches_lapack(dtype):
    for _ in range(40):
        n = int(rng.integers(1, 12))
        m = rng.standard_normal((n, n)).astype(dtype)
        a = (m + m.T + rng.uniform(-2, 6) * np.eye(n)).astype(dtype)
        a[np.triu_indices(n, 1)] = 99.0  # (only the lower triangle is read)
        assert L.cholesky_ex(dj.tensor(a)).info.item() == potrf_info(a)


def test_cholesky_ex_of_non_finite_input_is_the_composition():
    a = spd((4, 4), np.float64)
    for bad in (np.nan, np.inf):
        x = a.copy()
        x[2, 1] = bad
        factor, info = L.cholesky_ex(dj.tensor(x))
        same(value(info), np.asarray(eager_linalg._cholesky_info(x)))
        same(value(factor), np.asarray(eager_linalg._cholesky(x, False)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_inv_ex_and_solve_ex(dtype):
    n = 6
    good = general((3, n, n), dtype) + 4 * np.eye(n, dtype=dtype)
    b = general((3, n, 2), dtype)
    inverse, info = L.inv_ex(dj.tensor(good))
    same(value(inverse), value(L.inv(dj.tensor(good))))
    same(value(info), np.zeros(3, np.int32))
    result, info = L.solve_ex(dj.tensor(good), dj.tensor(b))
    same(value(result), value(L.solve(dj.tensor(good), dj.tensor(b))))
    bt = np.swapaxes(b, -1, -2).copy()
    same(value(L.solve_ex(dj.tensor(good), dj.tensor(bt), left=False).result),
         value(L.solve(dj.tensor(good), dj.tensor(bt), left=False)))
    vector = general((3, n), dtype)
    same(value(L.solve_ex(dj.tensor(good), dj.tensor(vector)).result),
         value(L.solve(dj.tensor(good), dj.tensor(vector))))
    singular = good.copy()
    singular[1, :, 3] = 0.0  # (column 3 zero: getrf's fourth pivot is exactly zero)
    singular[2] = 0.0
    expected = [lapack("getrf", dtype)(m)[2] for m in singular]
    assert expected == [0, 4, 1]
    inverse, info = L.inv_ex(dj.tensor(singular))
    assert info.tolist() == expected
    same(value(inverse), np.asarray(jnp.linalg.inv(singular)))  # (the composition's inf/NaN)
    result, info = L.solve_ex(dj.tensor(singular), dj.tensor(b))
    assert info.tolist() == expected
    same(value(result), np.asarray(eager_linalg._solve(singular, b, False)))
    lu, pivots, info = L.lu_factor_ex(dj.tensor(singular))
    assert info.tolist() == expected
    for fn in (lambda: L.inv_ex(dj.tensor(singular), check_errors=True),
               lambda: L.solve_ex(dj.tensor(singular), dj.tensor(b), check_errors=True),
               lambda: L.lu_factor_ex(dj.tensor(singular), check_errors=True)):
        with pytest.raises(L.LinAlgError, match="singular"):
            fn()


@pytest.mark.parametrize("dtype", DTYPES)
def test_lu_factor_ex_info_matches_lapack(dtype):
    for shape in ((5, 5), (4, 7), (7, 4)):
        for _ in range(8):
            a = general(shape, dtype)
            a[rng.random(shape) < 0.5] = 0.0
            expected = lapack("getrf", dtype)(a)[2]
            assert L.lu_factor_ex(dj.tensor(a)).info.item() == expected


def test_empty_matrices():
    for shape in ((0, 0), (2, 0, 0)):
        e = dj.zeros(*shape, dtype=dj.float64)
        batch = shape[:-2]
        inverse, info = L.inv_ex(e)
        assert inverse.shape == shape and info.shape == batch and not info.any()
        result, info = L.solve_ex(e, dj.zeros(*batch, 0, 3, dtype=dj.float64))
        assert result.shape == (*batch, 0, 3) and info.shape == batch
        lu, pivots, info = L.lu_factor_ex(e)
        assert lu.shape == shape and info.shape == batch
        factor, info = L.cholesky_ex(e)
        assert factor.shape == shape and info.shape == batch
        assert L.matrix_exp(e).shape == shape
        assert L.eigvalsh(e).shape == (*batch, 0)


def test_compiled_ex_functions_keep_their_compositions():
    # (traced values: no NumPy path; the info comes from the composition)
    singular = np.stack([np.eye(3), np.zeros((3, 3))])
    not_pd = np.stack([np.eye(3), np.diag([1.0, -1.0, 1.0])])

    @dj.compile
    def infos(a, b):
        return (L.inv_ex(a).info, L.lu_factor_ex(a).info, L.cholesky_ex(b).info,
                L.matrix_exp(b), L.vector_norm(b, dim=-1))

    got = infos(dj.tensor(singular), dj.tensor(not_pd))
    assert got[0].tolist() == got[1].tolist() == [0, 1]
    assert got[2].tolist() == [0, 2]
    np.testing.assert_allclose(value(got[3]), np.stack([scipy.linalg.expm(m) for m in not_pd]),
                               rtol=1e-12)
    np.testing.assert_allclose(value(got[4]), np.linalg.norm(not_pd, axis=-1), rtol=1e-12)


# -- gradients: the recorded compositions -----------------------------------------------------

def t64(a):
    return dj.tensor(np.asarray(a, np.float64), requires_grad=True)


GRADIENTS = {
    "cholesky_ex": (lambda a: L.cholesky_ex(a + a.mT).L, lambda: spd((3, 3), np.float64)),
    "cholesky_ex upper": (lambda a: L.cholesky_ex(a + a.mT, upper=True).L,
                          lambda: spd((2, 3, 3), np.float64)),
    "inv_ex": (lambda a: L.inv_ex(a).inverse, lambda: spd((2, 3, 3), np.float64)),
    "solve_ex": (lambda a: L.solve_ex(a, a[..., :1] * 2).result,
                 lambda: spd((3, 3), np.float64)),
    "lu_factor_ex": (lambda a: L.lu_factor_ex(a).LU,
                     lambda: general((3, 3), np.float64) + 3 * np.eye(3)),
    "lu": (lambda a: (lambda p, lo, up: lo.sum(-1) * 2 + up.sum(-1))(*L.lu(a)),
           lambda: general((3, 4), np.float64)),
    "matrix_exp": (lambda a: L.matrix_exp(a), lambda: general((2, 3, 3), np.float64)),
    "eigvalsh": (lambda a: L.eigvalsh(a + a.mT, UPLO="U"), lambda: spd((3, 3), np.float64)),
    "vector_norm": (lambda a: L.vector_norm(a, 1, dim=(0, 1)),
                    lambda: general((3, 4), np.float64)),
    "vector_norm 2": (lambda a: L.vector_norm(a, keepdim=True),
                      lambda: general((3, 4), np.float64)),
    "matrix_norm -1": (lambda a: L.matrix_norm(a, -1), lambda: general((2, 3, 4), np.float64)),
    "linalg.norm": (lambda a: L.norm(a), lambda: general((3, 4), np.float64)),
    "Tensor.norm": (lambda a: a.norm(dim=0), lambda: general((3, 4), np.float64)),
    "dist": (lambda a: dj.dist(a, a[:1] * 0.5), lambda: general((3, 4), np.float64)),
    "lstsq": (lambda a: L.lstsq(a, a[:, :1] + 1).solution, lambda: general((5, 3), np.float64)),
}


@pytest.mark.parametrize("name", GRADIENTS)
def test_gradients_match_finite_differences(name):
    fn, make = GRADIENTS[name]
    assert gradcheck(fn, (t64(make()),))
