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
_u, _s, _vt = sl.svd(_wide, full_matrices=False)
_w, _v = sl.eigh(_spd, driver="evd")
_q, _r = sl.qr(_wide.T, mode="economic")

LINALG_CASES = {
    "cholesky": (P.cholesky_p, [_spd], {}, sl.cholesky(_spd, lower=True)),
    "triangular_solve": (P.triangular_solve_p, [_a, _b],
                         {"left_side": True, "lower": False, "transpose_a": True,
                          "unit_diagonal": False},
                         sl.solve_triangular(_a, _b, lower=False, trans=1)),
    "lu": (P.lu_p, [_a], {}, [_lu, _piv.astype(np.int32), np.argsort(_p).astype(np.int32)]),
    "lu_pivots_to_permutation": (P.lu_pivots_to_permutation_p, [np.array([2, 2, 2], np.int32)],
                                 {"permutation_size": 4}, np.array([2, 0, 1, 3], np.int32)),
    "qr": (P.qr_p, [_wide.T], {"full_matrices": False}, [_q, _r]),
    "eigh": (P.eigh_p, [_spd], {}, [_w, _v]),
    "svd": (P.svd_p, [_wide], {"full_matrices": False, "compute_uv": True}, [_s, _u, _vt]),
}
