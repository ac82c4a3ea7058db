"""inverse_permutation (numpy/_matrices.py) inverts: it returned the identity for every
permutation, so the transposed LU solve (scipy.linalg.lu_solve trans=1, torch.linalg.lu_solve
adjoint / left=False) and scipy.linalg.lu's p_indices and permute_l forms were wrong for any
matrix whose LU factorization pivots. References: NumPy's argsort and SciPy."""

import numpy as np
import pytest
import scipy.linalg

import dualjit.scipy.linalg as jsl
from dualjit.numpy._matrices import inverse_permutation

rng = np.random.default_rng(7)


def test_inverse_permutation_is_argsort():
    p = np.stack([rng.permutation(5) for _ in range(6)]).astype(np.int32).reshape(2, 3, 5)
    np.testing.assert_array_equal(np.asarray(inverse_permutation(p)), np.argsort(p, axis=-1))


@pytest.mark.parametrize("trans", [1, 2, "T"])
def test_transposed_lu_solve_with_pivoting(trans):
    a = rng.standard_normal((4, 4))
    a = a[[2, 0, 3, 1]]  # rows out of order: the factorization pivots
    b = rng.standard_normal((4, 2))
    got = jsl.lu_solve(jsl.lu_factor(a), b, trans=trans)
    np.testing.assert_allclose(np.asarray(got), np.linalg.solve(a.T, b), rtol=1e-10)


def test_lu_forms_with_pivoting():
    a = rng.standard_normal((4, 3))
    expected_p = scipy.linalg.lu(a, p_indices=True)[0]
    np.testing.assert_array_equal(np.asarray(jsl.lu(a, p_indices=True)[0]), expected_p)
    pl, u = jsl.lu(a, permute_l=True)
    np.testing.assert_allclose(np.asarray(pl) @ np.asarray(u), a, atol=1e-12)
