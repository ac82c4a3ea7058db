"""Cases of the linear-algebra primitives for the registry-wide tests (tests/ir, tests/codegen):
(primitive, args, params, the expected result computed independently, with scipy)."""

import numpy as np
import scipy.linalg as sl

from dualjit.ir import primitives as P

rng = np.random.default_rng(3)
_a = rng.standard_normal((4, 4))
_spd = _a @ _a.T + np.eye(4)
_b = rng.standard_normal((4, 2))
_wide = rng.standard_normal((3, 5))
_lu, _piv = sl.lu_factor(_a)
_p = sl.lu(_a, p_indices=True)[0]  # a = L[p] U, so a[argsort(p)] = L U
_column_lu, _column_piv = sl.lu_factor(_a.T)  # column pivoting: the LU of a^T, transposed
_column_p = sl.lu(_a.T, p_indices=True)[0]
_u, _s, _vt = sl.svd(_wide, full_matrices=False)
_w, _v = sl.eigh(_spd, driver="evd")
_q, _r = sl.qr(_wide.T, mode="economic")

LINALG_CASES = {
    "cholesky": (P.cholesky_p, [_spd], {}, sl.cholesky(_spd, lower=True)),
    "triangular_solve": (P.triangular_solve_p, [_a, _b],
                         {"left_side": True, "lower": False, "transpose_a": True,
                          "unit_diagonal": False},
                         sl.solve_triangular(_a, _b, lower=False, trans=1)),
    "triangular_product": (P.triangular_product_p, [_a, _b.T],
                           {"left_side": False, "lower": True, "transpose_a": True,
                            "unit_diagonal": True},
                           _b.T @ (np.tril(_a, -1) + np.eye(4)).T),
    "eig": (P.eig_p, [np.array([[2.0, 0.0], [0.0, -1.0]])], {},
            [np.array([2.0, -1.0], complex), np.eye(2, dtype=complex)]),
    "lu": (P.lu_p, [_a], {}, [_lu, _piv.astype(np.int32), np.argsort(_p).astype(np.int32)]),
    "column_lu": (P.column_lu_p, [_a], {}, [_column_lu.T, _column_piv.astype(np.int32),
                                             np.argsort(_column_p).astype(np.int32)]),
    "lu_pivots_to_permutation": (P.lu_pivots_to_permutation_p, [np.array([2, 2, 2], np.int32)],
                                 {"permutation_size": 4}, np.array([2, 0, 1, 3], np.int32)),
    "qr": (P.qr_p, [_wide.T], {"full_matrices": False}, [_q, _r]),
    "eigh": (P.eigh_p, [_spd], {}, [_w, _v]),
    "svd": (P.svd_p, [_wide], {"full_matrices": False, "compute_uv": True}, [_s, _u, _vt]),
}

# the special functions: points in every branch of each implementation, special values too
import scipy.special as ss  # noqa: E402

_x = np.array([-30.0, -5.5, -1.1, -0.5, -1e-30, 0.0, 0.3, 0.9, 1.1, 2.5, 4.0, 7.0, 30.0,
               np.inf, -np.inf, np.nan])
_g = np.array([-30.5, -5.5, -0.5, 1e-30, 0.3, 0.9, 1.0, 1.2, 1.5, 2.0, 3.3, 7.9, 30.0, 1e20,
               np.inf, np.nan])
_p = np.array([0.0, 1e-300, 1e-10, 0.02, 0.3, 0.5, 0.7, 0.98, 1 - 1e-12, 1.0, np.nan])
_e = np.array([-1.0, -0.999999, -0.6, -0.1, 0.0, 1e-20, 0.2, 0.45, 0.55, 0.9, 1.0, 1.5,
               np.nan])

SPECIAL_CASES = {
    "erf": (P.erf_p, [_x], {}, ss.erf(_x)),
    "erfc": (P.erfc_p, [_x], {}, ss.erfc(_x)),
    "erfcx": (P.erfcx_p, [_x[_x > -26]], {}, ss.erfcx(_x[_x > -26])),
    "erf_inv": (P.erf_inv_p, [_e], {}, ss.erfinv(_e)),
    "lgamma": (P.lgamma_p, [_g], {}, ss.gammaln(_g)),
    "digamma": (P.digamma_p, [_g], {}, ss.digamma(_g)),
    "ndtr": (P.ndtr_p, [_x], {}, ss.ndtr(_x)),
    "ndtri": (P.ndtri_p, [_p], {}, ss.ndtri(_p)),
    "bessel_i0e": (P.bessel_i0e_p, [_x], {}, ss.i0e(_x)),
    "bessel_i1e": (P.bessel_i1e_p, [_x], {}, ss.i1e(_x)),
    "polygamma": (P.polygamma_p, [_g[_g < 1e10]], {"order": 2}, ss.polygamma(2, _g[_g < 1e10])),
}
LINALG_CASES.update(SPECIAL_CASES)
