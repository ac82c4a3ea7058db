"""dualjit.scipy.linalg: SciPy's triangular and factored solves and the matrix exponential.

Each function takes stacks of matrices (leading batch dimensions), like jax.scipy.linalg, and
differentiates in both modes. Factors returned by cho_factor and lu_factor are plain arrays,
so derivatives flow through them into cho_solve and lu_solve.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as _np

from .. import lax
from .. import numpy as jnp
from ..ir import primitives as P
from ..numpy import _matrices as _mx
from ..numpy import linalg as _la
from ..numpy._core import shape
from ..tracer.core import bind

__all__ = ["solve_triangular", "cho_factor", "cho_solve", "lu_factor", "lu_solve", "lu", "expm",
           "cholesky", "solve", "inv", "det", "eigh", "svd", "qr"]

_TRANSPOSES = {0: False, "N": False, 1: True, "T": True, 2: True, "C": True}


def _transposed(trans: Any, op: str) -> bool:
    if trans not in _TRANSPOSES:
        raise ValueError(f"{op}: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
    return _TRANSPOSES[trans]


def _right_hand_side(op: str, a: Any, b: Any) -> tuple[Any, Any, bool]:
    """(a, b as a stack of matrices with a's batch, whether b was a vector)."""
    a, b = _mx.common_float(op, a, b)
    a = _mx.matrices(a, op, square=True)
    vector = len(shape(b)) == len(shape(a)) - 1
    if vector:
        b = jnp.expand_dims(b, -1)
    if shape(b)[-2] != shape(a)[-1]:
        raise ValueError(f"{op}: b of shape {shape(b)} does not fit a of shape {shape(a)}")
    a, b = _mx.broadcast_batch(op, a, b)
    return a, b, vector


def solve_triangular(a: Any, b: Any, trans: Any = 0, lower: bool = False,
                     unit_diagonal: bool = False, overwrite_b: bool = False,
                     check_finite: bool = True) -> Any:
    """x with op(a) x = b for triangular a (only its `lower` or upper triangle is read)."""
    a, b, vector = _right_hand_side("solve_triangular", a, b)
    x = bind(P.triangular_solve_p, a, b, left_side=True, lower=lower,
             transpose_a=_transposed(trans, "solve_triangular"), unit_diagonal=unit_diagonal)
    return jnp.squeeze(x, -1) if vector else x


def cholesky(a: Any, lower: bool = False, overwrite_a: bool = False,
             check_finite: bool = True) -> Any:
    """The Cholesky factor from a's `lower` (or upper) triangle, the other triangle zero."""
    a = _mx.matrices(a, "cholesky", square=True)
    if lower:
        return bind(P.cholesky_p, a)
    return _mx.mT(bind(P.cholesky_p, _mx.mT(a)))


def cho_factor(a: Any, lower: bool = False, overwrite_a: bool = False,
               check_finite: bool = True) -> tuple[Any, bool]:
    """(c, lower) for cho_solve; as in JAX, c's other triangle is zero (SciPy leaves a there)."""
    return cholesky(a, lower=lower), lower


def cho_solve(c_and_lower: tuple[Any, bool], b: Any, overwrite_b: bool = False,
              check_finite: bool = True) -> Any:
    """x with a x = b, given cho_factor(a)."""
    c, lower = c_and_lower
    c, b, vector = _right_hand_side("cho_solve", c, b)
    # a = L L^T: L y = b, L^T x = y   (or a = U^T U: U^T y = b, U x = y)
    y = bind(P.triangular_solve_p, c, b, left_side=True, lower=lower, transpose_a=not lower,
             unit_diagonal=False)
    x = bind(P.triangular_solve_p, c, y, left_side=True, lower=lower, transpose_a=lower,
             unit_diagonal=False)
    return jnp.squeeze(x, -1) if vector else x


def lu_factor(a: Any, overwrite_a: bool = False, check_finite: bool = True) -> tuple[Any, Any]:
    """(lu, piv): L (unit diagonal) and U packed in lu; row i was swapped with row piv[i]."""
    lu_, pivots, _ = bind(P.lu_p, _mx.matrices(a, "lu_factor"))
    return lu_, pivots


def lu_solve(lu_and_piv: tuple[Any, Any], b: Any, trans: Any = 0, overwrite_b: bool = False,
             check_finite: bool = True) -> Any:
    """x with a x = b (trans=0) or a^T x = b (trans=1 or 2), given lu_factor(a)."""
    lu_, pivots = lu_and_piv
    lu_, b, vector = _right_hand_side("lu_solve", lu_, b)
    pivots = jnp.broadcast_to(pivots, shape(lu_)[:-1])
    permutation = bind(P.lu_pivots_to_permutation_p, pivots, permutation_size=shape(lu_)[-1])
    x = _la.lu_solve_factors(lu_, permutation, b, transpose=_transposed(trans, "lu_solve"))
    return jnp.squeeze(x, -1) if vector else x


def lu(a: Any, permute_l: bool = False, overwrite_a: bool = False, check_finite: bool = True,
       p_indices: bool = False) -> tuple:
    """(p, l, u) with a = p @ l @ u (or (p @ l, u) with permute_l); p as row indices with
    p_indices (a = l[p] @ u)."""
    a = _mx.matrices(a, "lu")
    m, n = shape(a)[-2:]
    k = min(m, n)
    lu_, _, permutation = bind(P.lu_p, a)
    rows = jnp.arange(m)[:, None]
    lower = jnp.where(rows > jnp.arange(k), lu_[..., :, :k], jnp.eye(m, k, dtype=lu_.dtype))
    upper = jnp.where(jnp.arange(k)[:, None] <= jnp.arange(n), lu_[..., :k, :], 0.0)
    inverse = _mx.inverse_permutation(permutation)
    if p_indices:
        p = inverse
    else:
        p = jnp.astype(jnp.equal(jnp.expand_dims(permutation, -2), rows), a.dtype)
    if permute_l:
        return _mx.take_rows(lower, inverse), upper
    return p, lower, upper


def solve(a: Any, b: Any, lower: bool = False, overwrite_a: bool = False,
          overwrite_b: bool = False, check_finite: bool = True, assume_a: str = "gen",
          transposed: bool = False) -> Any:
    """x with a x = b; assume_a='pos' solves through Cholesky (a's `lower` triangle)."""
    if assume_a in ("pos", "positive definite"):
        return cho_solve(cho_factor(a, lower=lower), b)
    a = jnp.swapaxes(jnp.asarray(a), -1, -2) if transposed else a
    a, b, vector = _right_hand_side("solve", a, b)
    x = _la.solve(a, b)
    return jnp.squeeze(x, -1) if vector else x


def inv(a: Any, overwrite_a: bool = False, check_finite: bool = True) -> Any:
    return _la.inv(a)


def det(a: Any, overwrite_a: bool = False, check_finite: bool = True) -> Any:
    return _la.det(a)


def eigh(a: Any, b: Any = None, lower: bool = True, eigvals_only: bool = False, **kwargs) -> Any:
    """Eigenvalues (and eigenvectors) of symmetric a from its `lower` (or upper) triangle."""
    if b is not None:
        raise NotImplementedError("eigh: the generalized problem (b=) is not supported")
    w, v = _la.eigh(a, UPLO="L" if lower else "U", symmetrize_input=False)
    return w if eigvals_only else (w, v)


def svd(a: Any, full_matrices: bool = True, compute_uv: bool = True, **kwargs) -> Any:
    out = _la.svd(a, full_matrices=full_matrices, compute_uv=compute_uv)
    return tuple(out) if compute_uv else out


def qr(a: Any, mode: str = "full", pivoting: bool = False, **kwargs) -> Any:
    """(q, r) for mode 'full' or 'economic'; (r,) for mode 'r'."""
    if pivoting:
        raise NotImplementedError("qr: pivoting=True is not supported")
    modes = {"full": "complete", "economic": "reduced", "r": "r"}
    if mode not in modes:
        raise ValueError(f"qr: mode {mode!r} is not supported; use 'full', 'economic' or 'r'")
    out = _la.qr(a, mode=modes[mode])
    return (out,) if mode == "r" else tuple(out)


# ---------------------------------------------------------------------------------------------
# expm: scaling and squaring with a Pade approximant (Higham 2005)
# ---------------------------------------------------------------------------------------------

def _pade_coefficients(m: int) -> tuple[float, ...]:
    """b_k of the degree-m diagonal Pade approximant of exp, scaled so that b_m = 1."""
    f = math.factorial
    return tuple(f(2 * m - k) / (f(k) * f(m - k)) for k in range(m + 1))


# The approximant's degree by dtype, and the largest 1-norm it reaches to working precision
# (Higham 2005, "The scaling and squaring method for the matrix exponential revisited").
PADE = {_np.dtype(_np.float64): (_pade_coefficients(13), 5.371920351148152),
         _np.dtype(_np.float32): (_pade_coefficients(7), 3.925724783138660)}
MAX_SQUARINGS = 16


def expm(A: Any, *, upper_triangular: bool = False, max_squarings: int = MAX_SQUARINGS) -> Any:
    """The matrix exponential of each matrix of a stack. A is scaled by 2**-s so that its
    1-norm fits the Pade approximant, and the result squared s times (s <= max_squarings;
    a matrix that needs more gives NaNs, as in JAX)."""
    A = _mx.matrices(A, "expm", square=True)
    coefficients, theta = PADE[_np.dtype(A.dtype)]
    norm = jnp.max(jnp.sum(jnp.abs(A), axis=-2), axis=-1, initial=0.0)  # each 1-norm
    squarings = jnp.maximum(0.0, jnp.ceil(jnp.log2(norm / theta)))
    squarings = jnp.where(jnp.isfinite(squarings), squarings, 0.0)
    scaled = A / jnp.expand_dims(2.0 ** lax.stop_gradient(squarings), (-2, -1))
    R = _pade(scaled, coefficients)

    def square_some(R, i):
        # only the matrices that need step i are squared; no product at all once none does
        wanted = jnp.expand_dims(i < squarings, (-2, -1))
        step = lax.cond(jnp.any(wanted), lambda R: jnp.where(wanted, jnp.matmul(R, R), R),
                        lambda R: R, R)
        return step, None

    R, _ = lax.scan(square_some, R, _np.arange(max_squarings, dtype=A.dtype))
    too_large = jnp.expand_dims((squarings > max_squarings) | jnp.isnan(norm), (-2, -1))
    return jnp.where(too_large, _np.nan, R)


def _pade(A: Any, b: tuple[float, ...]) -> Any:
    """(V - U)^-1 (V + U) with U = A (odd terms), V = even terms of the Pade numerator."""
    eye = jnp.broadcast_to(_mx.eye_like(A), shape(A))
    A2 = jnp.matmul(A, A)
    if len(b) == 14:  # degree 13: Higham's evaluation with 6 products
        A4 = jnp.matmul(A2, A2)
        A6 = jnp.matmul(A4, A2)
        U = jnp.matmul(A, jnp.matmul(A6, b[13] * A6 + b[11] * A4 + b[9] * A2)
                       + b[7] * A6 + b[5] * A4 + b[3] * A2 + b[1] * eye)
        V = (jnp.matmul(A6, b[12] * A6 + b[10] * A4 + b[8] * A2)
             + b[6] * A6 + b[4] * A4 + b[2] * A2 + b[0] * eye)
    else:  # degree 7
        A4 = jnp.matmul(A2, A2)
        A6 = jnp.matmul(A4, A2)
        U = jnp.matmul(A, b[7] * A6 + b[5] * A4 + b[3] * A2 + b[1] * eye)
        V = b[6] * A6 + b[4] * A4 + b[2] * A2 + b[0] * eye
    return _la.solve(V - U, V + U)
