"""dualjit.numpy.linalg: NumPy's linear algebra on stacks of matrices, differentiable in both modes.

Everything is composed from the factorization primitives (cholesky, lu, qr, eigh, svd) and the
triangular solve. solve, inv, det, slogdet and pinv carry their own derivative rules
(custom_jvp), so a derivative reuses the factors of the forward pass: the tangent of
x = solve(a, b) is solve(a, b_dot - a_dot @ x) with a's LU factors, not the derivative of the
factorization. Failures are values, as under jit (see ir/linalg_impl.py): solve and inv of a
singular matrix give inf/NaN, cholesky of a matrix that is not positive definite gives NaNs,
slogdet of a singular matrix gives (0, -inf).
"""

from __future__ import annotations

import builtins
import math
from collections import namedtuple
from typing import Any

import numpy as _np

from .. import lax
from .. import numpy as jnp
from ..autodiff.custom import custom_jvp
from ..ir import DType
from ..ir import primitives as P
from ..tracer.core import Tracer, bind, current_builder
from ._core import convert, dtype_of, operand, shape
from ._matrices import (
    broadcast_batch,
    common_float,
    diagonal_of,
    eye_like,
    float_operand,
    inverse_permutation,
    matrices,
    mH,
    mT,
    take_rows,
)

__all__ = ["LinAlgError", "solve", "inv", "det", "slogdet", "cholesky", "qr", "eigh", "eigvalsh",
           "svd", "svdvals", "norm", "matrix_norm", "vector_norm", "lstsq", "pinv",
           "matrix_power", "matrix_rank", "multi_dot", "cond", "tensorsolve", "tensorinv",
           "eig", "eigvals", "EigResult", "EighResult", "QRResult", "SlogdetResult", "SVDResult"]

LinAlgError = _np.linalg.LinAlgError
EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
EigResult = namedtuple("EigResult", ["eigenvalues", "eigenvectors"])
QRResult = namedtuple("QRResult", ["Q", "R"])
SlogdetResult = namedtuple("SlogdetResult", ["sign", "logabsdet"])
SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])


# ---------------------------------------------------------------------------------------------
# Operands and matrix helpers
# ---------------------------------------------------------------------------------------------

def _eager(*xs: Any) -> bool:
    """No trace is active and no argument is traced: compute directly, without tracing rules."""
    return current_builder() is None and not builtins.any(isinstance(x, Tracer) for x in xs)


# ---------------------------------------------------------------------------------------------
# LU: solve, inv, det, slogdet
# ---------------------------------------------------------------------------------------------

def _triangular(a: Any, b: Any, *, lower: bool, transpose_a: bool = False,
                unit_diagonal: bool = False, left_side: bool = True) -> Any:
    return bind(P.triangular_solve_p, a, b, left_side=left_side, lower=lower,
                transpose_a=transpose_a, unit_diagonal=unit_diagonal)


def lu_solve_factors(lu: Any, permutation: Any, b: Any, transpose: bool = False) -> Any:
    """x with a x = b (or a^T x = b), given a's LU factors: a[permutation] = L U."""
    if not transpose:
        y = _triangular(lu, take_rows(b, permutation), lower=True, unit_diagonal=True)
        return _triangular(lu, y, lower=False)
    y = _triangular(lu, b, lower=False, transpose_a=True)
    z = _triangular(lu, y, lower=True, transpose_a=True, unit_diagonal=True)
    return take_rows(z, inverse_permutation(permutation))


def column_lu_solve(lu: Any, permutation: Any, b: Any, transpose: bool = False) -> Any:
    """x with a x = b (or a^T x = b), given a's column-pivoted LU factors (P.column_lu_p):
    a[:, permutation] = L U with U's diagonal the unit one, so a = L U P^T, a^T = P U^T L^T."""
    if not transpose:  # x = P U^-1 L^-1 b: row permutation[i] of x is row i of U^-1 L^-1 b
        y = _triangular(lu, b, lower=True)
        return _put_rows(_triangular(lu, y, lower=False, unit_diagonal=True), permutation)
    y = _triangular(lu, take_rows(b, permutation), lower=False, transpose_a=True,
                    unit_diagonal=True)
    return _triangular(lu, y, lower=True, transpose_a=True)


def _put_rows(x: Any, rows: Any) -> Any:
    """y with y[..., rows[i], :] = x[..., i, :] for permutations `rows` of a stack x [..., m, n]
    (a scatter into zeros: every row is written once)."""
    s = shape(x)
    m, n = s[-2:]
    stack = math.prod(s[:-2])
    offsets = bind(P.iota_p, dtype=DType.int32, shape=(stack, m), dimension=0) * _np.int32(m)
    flat_rows = jnp.reshape(convert(rows, _np.dtype(_np.int32)), (stack, m)) + offsets
    zeros = jnp.zeros_like(x, shape=(stack * m, n))  # made in the kernel, not a constant
    y = bind(P.scatter_add_p, zeros, flat_rows, jnp.reshape(x, (stack, m, n)), axis=0)
    return jnp.reshape(y, s)


@custom_jvp
def _solve(a: Any, b: Any) -> Any:
    lu, _, permutation = bind(P.column_lu_p, a)
    return column_lu_solve(lu, permutation, b)


@_solve.defjvp
def _solve_jvp(primals, tangents):
    # a x = b  =>  a x_dot = b_dot - a_dot x, solved with the same LU factors
    (a, b), (a_dot, b_dot) = primals, tangents
    lu, _, permutation = bind(P.column_lu_p, a)
    x = column_lu_solve(lu, permutation, b)
    return x, column_lu_solve(lu, permutation, b_dot - jnp.matmul(a_dot, x))


def solve(a: Any, b: Any) -> Any:
    """x with a @ x = b; b is a vector when 1-D, else a stack of matrices (NumPy 2 rule)."""
    a, b = common_float("solve", a, b)
    a = matrices(a, "solve", square=True)
    vector = len(shape(b)) == 1
    if vector:
        b = jnp.expand_dims(b, -1)
    if len(shape(b)) < 2 or shape(b)[-2] != shape(a)[-1]:
        raise ValueError(f"solve: b of shape {shape(b)} does not fit a of shape {shape(a)}")
    a, b = broadcast_batch("solve", a, b)
    x = _solve(a, b) if not _eager(a, b) else _solve.fun(a, b)
    return jnp.squeeze(x, -1) if vector else x


def inv(a: Any) -> Any:
    """The inverse of each matrix of a stack (inf/NaN for a singular one)."""
    a = matrices(a, "inv", square=True)
    return solve(a, jnp.broadcast_to(eye_like(a), shape(a)))


def _lu_sign(lu: Any, pivots: Any) -> Any:
    """The sign of det(a) from its LU factors (rows or columns pivoted): the permutation's
    parity times the signs of the non-unit triangle's diagonal."""
    n = shape(pivots)[-1]
    swaps = jnp.sum(jnp.not_equal(pivots, jnp.arange(n, dtype=_np.int32)), axis=-1)
    parity = 1.0 - 2.0 * convert(swaps % 2, lu.dtype)
    return parity * jnp.prod(jnp.sign(diagonal_of(lu)), axis=-1)


@custom_jvp
def _slogdet(a: Any) -> tuple[Any, Any]:
    lu, pivots, _ = bind(P.column_lu_p, a)
    return _lu_sign(lu, pivots), jnp.sum(jnp.log(jnp.abs(diagonal_of(lu))), axis=-1)


@_slogdet.defjvp
def _slogdet_jvp(primals, tangents):
    # t = trace(a^-1 a_dot) = sum(a^-T * a_dot): d log|det a| = Re t; the sign is piecewise
    # constant for real a, and for complex a (det / |det|) turns: d sign = sign * i Im t
    (a,), (a_dot,) = primals, tangents
    lu, pivots, permutation = bind(P.column_lu_p, a)
    sign = _lu_sign(lu, pivots)
    logabsdet = jnp.sum(jnp.log(jnp.abs(diagonal_of(lu))), axis=-1)
    inverse_t = column_lu_solve(lu, permutation, eye_like(a), transpose=True)
    t = jnp.sum(inverse_t * a_dot, axis=(-2, -1))
    if dtype_of(a).is_complex:
        return (sign, logabsdet), (sign * (1j * jnp.imag(t)), jnp.real(t))
    return (sign, logabsdet), (jnp.zeros_like(sign), t)


def slogdet(a: Any) -> SlogdetResult:
    """(sign, log|det|) of each matrix: (0, -inf) for a singular one."""
    a = matrices(a, "slogdet", square=True)
    sign, logabsdet = _slogdet(a) if not _eager(a) else _slogdet.fun(a)
    return SlogdetResult(sign, logabsdet)


@custom_jvp
def _det(a: Any) -> Any:
    lu, pivots, _ = bind(P.column_lu_p, a)
    return _lu_sign(lu, pivots) * jnp.prod(jnp.abs(diagonal_of(lu)), axis=-1)


@_det.defjvp
def _det_jvp(primals, tangents):
    # d det a = trace(adj(a) a_dot); adj(a) = det(a) a^-1, or from the SVD when a is singular
    (a,), (a_dot,) = primals, tangents
    d = _det(a)
    adjugate = _adjugate(a, d)
    return d, jnp.sum(mT(adjugate) * a_dot, axis=(-2, -1))


def _adjugate(a: Any, d: Any) -> Any:
    """adj(a) = det(a) a^-1; where some matrix of the stack is exactly singular (det 0),
    the whole stack takes the SVD form, which is exact for any rank."""
    lu, _, permutation = bind(P.column_lu_p, a)
    by_inverse = jnp.expand_dims(d, (-2, -1)) * column_lu_solve(lu, permutation, eye_like(a))
    singular = jnp.any(jnp.equal(d, 0.0))
    return lax.cond(singular, lambda: jnp.where(jnp.equal(jnp.expand_dims(d, (-2, -1)), 0.0),
                                            _adjugate_svd(a), by_inverse),
                lambda: by_inverse)


def _adjugate_svd(a: Any) -> Any:
    # a = U S V^H  =>  adj(a) = det(U) det(V^H) V diag(prod_{j != i} s_j) U^H
    s, u, vt = bind(P.svd_p, a, full_matrices=False, compute_uv=True)
    n = shape(s)[-1]
    others = jnp.where(jnp.eye(n, dtype=bool), 1.0, jnp.expand_dims(s, -2))
    cofactors = jnp.prod(convert(others, s.dtype), axis=-1)
    orientation = _det(u) * _det(vt)
    scaled_ut = jnp.expand_dims(cofactors, -1) * mH(u)
    return jnp.expand_dims(orientation, (-2, -1)) * jnp.matmul(mH(vt), scaled_ut)


def det(a: Any) -> Any:
    """The determinant of each matrix of a stack."""
    a = matrices(a, "det", square=True)
    return _det(a) if not _eager(a) else _det.fun(a)


# ---------------------------------------------------------------------------------------------
# Factorizations: cholesky, qr, eigh, svd
# ---------------------------------------------------------------------------------------------

def _symmetrized(a: Any) -> Any:
    """(a + a^H) / 2: symmetric, or Hermitian for complex a (as JAX's symmetrize_input)."""
    return (a + mH(a)) * 0.5


def cholesky(a: Any, /, *, upper: bool = False, symmetrize_input: bool = True) -> Any:
    """L with a = L @ L.T (or U with a = U.T @ U when `upper`); NaNs where a is not positive
    definite. As in JAX, a is symmetrized first (so the derivative is symmetric too); with
    symmetrize_input=False only its lower triangle is read, as NumPy does."""
    a = matrices(a, "cholesky", square=True)
    factor = bind(P.cholesky_p, _symmetrized(a) if symmetrize_input else a)
    return mT(factor) if upper else factor


def qr(a: Any, mode: str = "reduced") -> Any:
    """QRResult(Q, R) for mode 'reduced' or 'complete'; R alone for mode 'r'."""
    a = matrices(a, "qr")
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"qr: mode {mode!r} is not supported; use 'reduced', 'complete' or 'r' "
                         "('raw' Householder reflectors are not available)")
    q, r = bind(P.qr_p, a, full_matrices=mode == "complete")
    return r if mode == "r" else QRResult(q, r)


def _hermitian_input(a: Any, UPLO: str | None, symmetrize_input: bool, op: str) -> Any:
    a = matrices(a, op, square=True)
    if UPLO not in (None, "L", "U"):
        raise ValueError(f"{op}: UPLO must be 'L' or 'U', got {UPLO!r}")
    if symmetrize_input:
        return _symmetrized(a)
    return mH(a) if UPLO == "U" else a  # the primitive reads the lower triangle


def eigh(a: Any, UPLO: str | None = None, *, symmetrize_input: bool = True) -> EighResult:
    """EighResult(eigenvalues ascending, eigenvectors as columns) of symmetric matrices. As in
    JAX, a is symmetrized first; with symmetrize_input=False only the UPLO triangle is read.
    Eigenvector derivatives are undefined where eigenvalues repeat (they come out inf/NaN)."""
    w, v = bind(P.eigh_p, _hermitian_input(a, UPLO, symmetrize_input, "eigh"))
    return EighResult(w, v)


def eigvalsh(a: Any, UPLO: str | None = None, *, symmetrize_input: bool = True) -> Any:
    """The eigenvalues of symmetric matrices, ascending (derivatives fine where they repeat)."""
    return bind(P.eigh_p, _hermitian_input(a, UPLO, symmetrize_input, "eigvalsh"))[0]


def svd(a: Any, full_matrices: bool = True, compute_uv: bool = True,
        hermitian: bool = False) -> Any:
    """SVDResult(U, S, Vh) with a = U @ diag(S) @ Vh, S descending; S alone without
    compute_uv. Singular-vector derivatives need full_matrices=False (or square a) and are
    undefined where singular values repeat or vanish; S's derivative always exists."""
    a = matrices(a, "svd")
    if hermitian:
        return _svd_hermitian(a, compute_uv)
    if not compute_uv:
        return bind(P.svd_p, a, full_matrices=False, compute_uv=False)[0]
    s, u, vt = bind(P.svd_p, a, full_matrices=full_matrices, compute_uv=True)
    return SVDResult(u, s, vt)


def _svd_hermitian(a: Any, compute_uv: bool) -> Any:
    """numpy's hermitian=True: from eigh, singular values |w| descending, signs moved into Vh."""
    w, v = eigh(a, symmetrize_input=False)
    order = jnp.flip(jnp.argsort(jnp.abs(w), axis=-1), axis=-1)
    s = take_rows(jnp.expand_dims(jnp.abs(w), -1), order)[..., 0]
    if not compute_uv:
        return s
    u = mT(take_rows(mT(v), order))
    signs = take_rows(jnp.expand_dims(jnp.sign(w), -1), order)[..., 0]
    return SVDResult(u, s, mH(u * jnp.expand_dims(signs, -2)))


def svdvals(x: Any, /) -> Any:
    return svd(x, compute_uv=False)


def eig(a: Any) -> EigResult:
    """EigResult(eigenvalues, eigenvectors as columns) of general real matrices, complex, as
    numpy.linalg.eig gives them. Forward only (as a host step): derivatives raise; for
    symmetric matrices eigh is real, faster and differentiable."""
    w, v = bind(P.eig_p, matrices(a, "eig", square=True))
    return EigResult(w, v)


def eigvals(a: Any) -> Any:
    """The (complex) eigenvalues of general real matrices; forward only, as eig."""
    return eig(a)[0]


# ---------------------------------------------------------------------------------------------
# Norms
# ---------------------------------------------------------------------------------------------

def _euclidean(x: Any, axis: Any, keepdims: bool) -> Any:
    """sqrt(sum(x**2)) with derivative 0 (a subgradient) where x is all zeros, not NaN."""
    total = jnp.sum(x * x, axis=axis, keepdims=keepdims)
    zero = jnp.equal(total, 0.0)
    return jnp.where(zero, 0.0, jnp.sqrt(jnp.where(zero, 1.0, total)))


def _vector_norm(x: Any, ord: Any, axis: Any, keepdims: bool) -> Any:
    if ord is None or ord == 2:
        return _euclidean(x, axis, keepdims)
    if isinstance(ord, str):
        raise ValueError(f"norm: invalid norm order {ord!r} for vectors")
    magnitude = jnp.abs(x)
    if ord == _np.inf:
        return jnp.max(magnitude, axis=axis, keepdims=keepdims)
    if ord == -_np.inf:
        return jnp.min(magnitude, axis=axis, keepdims=keepdims)
    if ord == 0:
        return convert(jnp.sum(jnp.not_equal(x, 0.0), axis=axis, keepdims=keepdims), x.dtype)
    if ord == 1:
        return jnp.sum(magnitude, axis=axis, keepdims=keepdims)
    p = float(ord)
    return jnp.sum(magnitude ** p, axis=axis, keepdims=keepdims) ** (1.0 / p)


def _matrix_norm(x: Any, ord: Any, axes: tuple[int, int], keepdims: bool) -> Any:
    row, col = axes
    if ord in (None, "fro", "f"):
        return _euclidean(x, axes, keepdims)
    if ord in ("nuc", 2, -2):
        s = svd(jnp.moveaxis(x, (row, col), (-2, -1)), compute_uv=False)
        out = {"nuc": jnp.sum, 2: jnp.max, -2: jnp.min}[ord](s, axis=-1)
        return _keep(out, axes, len(shape(x))) if keepdims else out
    sums = {1: (row, col, jnp.max), -1: (row, col, jnp.min),
            _np.inf: (col, row, jnp.max), -_np.inf: (col, row, jnp.min)}
    if ord not in sums:
        raise ValueError(f"norm: invalid norm order {ord!r} for matrices")
    summed, other, pick = sums[ord]
    total = jnp.sum(jnp.abs(x), axis=summed, keepdims=True)
    out = pick(total, axis=other, keepdims=True)
    return out if keepdims else jnp.squeeze(out, axis=(row, col))


def _keep(x: Any, axes: tuple[int, ...], nd: int) -> Any:
    dims = iter(shape(x))
    return jnp.reshape(x, tuple(1 if i in axes else next(dims) for i in range(nd)))


def _axes(op: str, axis: Any, nd: int) -> tuple[int, ...]:
    axes = (axis,) if isinstance(axis, (int, _np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -nd <= int(a) < nd:
            raise ValueError(f"{op}: axis {axis} is out of bounds for an array of dimension {nd}")
        out.append(int(a) % nd)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: duplicate axes given: {axis}")
    return tuple(out)


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
    """Vector norms (ord None/2, inf, -inf, 0, 1, p) along one axis, matrix norms (None/'fro',
    'nuc', 1, -1, 2, -2, inf, -inf) over two, as numpy.linalg.norm; the 2-norm of a zero vector
    has derivative 0 (a subgradient) rather than NaN."""
    x = float_operand(x, "norm")
    nd = len(shape(x))
    if axis is None:
        if ord is None:
            out = _euclidean(jnp.ravel(x), None, False)
            return jnp.reshape(out, (1,) * nd) if keepdims else out
        if nd not in (1, 2):
            raise ValueError("norm: improper number of dimensions to norm: give axis for an "
                             f"array of dimension {nd}")
        axis = tuple(range(nd))
    axes = _axes("norm", axis, nd)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        return _matrix_norm(x, ord, axes, keepdims)
    raise ValueError("norm: improper number of dimensions to norm (axis must name 1 or 2 axes)")


def vector_norm(x: Any, /, *, axis: Any = None, keepdims: bool = False, ord: Any = 2) -> Any:
    """The array API's vector norm: over all of `axis` at once (all axes when None)."""
    x = float_operand(x, "vector_norm")
    nd = len(shape(x))
    axes = tuple(range(nd)) if axis is None else _axes("vector_norm", axis, nd)
    rest = [i for i in range(nd) if i not in axes]
    flat = jnp.reshape(jnp.transpose(x, rest + list(axes)), tuple(shape(x)[i] for i in rest)
                       + (math.prod(shape(x)[i] for i in axes),))
    out = _vector_norm(flat, ord, -1, False)
    return _keep(out, axes, nd) if keepdims else out


def matrix_norm(x: Any, /, *, keepdims: bool = False, ord: Any = "fro") -> Any:
    """The array API's matrix norm over the last two axes."""
    x = matrices(x, "matrix_norm")
    nd = len(shape(x))
    return _matrix_norm(x, ord, (nd - 2, nd - 1), keepdims)


def cond(x: Any, p: Any = None) -> Any:
    """The condition number of each matrix in the norm `p` (2-norm by default)."""
    x = matrices(x, "cond")
    if p in (None, 2, -2):
        s = svd(x, compute_uv=False)
        return s[..., 0] / s[..., -1] if p in (None, 2) else s[..., -1] / s[..., 0]
    return norm(x, p, axis=(-2, -1)) * norm(inv(x), p, axis=(-2, -1))


# ---------------------------------------------------------------------------------------------
# Pseudo-inverse and least squares
# ---------------------------------------------------------------------------------------------

def _pinv_rule(rcond: Any):
    """pinv with its cutoff fixed, differentiated by the Golub-Pereyra formula (the rank is
    locally constant): d(A+) = -A+ dA A+ + A+ A+^T dA^T (I - A A+) + (I - A+ A) dA^T A+^T A+."""
    @custom_jvp
    def pinv_fixed(a):
        s, u, vt = bind(P.svd_p, a, full_matrices=False, compute_uv=True)
        cutoff = jnp.expand_dims(rcond * jnp.max(s, axis=-1, initial=0.0), -1)
        kept = s > cutoff
        s_inv = jnp.where(kept, 1.0 / jnp.where(kept, s, 1.0), 0.0)
        return jnp.matmul(mT(vt), jnp.expand_dims(s_inv, -1) * mT(u))

    @pinv_fixed.defjvp
    def pinv_jvp(primals, tangents):
        (a,), (a_dot,) = primals, tangents
        p = pinv_fixed(a)
        mm = jnp.matmul
        p_dot = (-mm(mm(p, a_dot), p)
                 + mm(mm(p, mT(p)), mm(mT(a_dot), eye_like(mm(a, p)) - mm(a, p)))
                 + mm(eye_like(mm(p, a)) - mm(p, a), mm(mT(a_dot), mm(mT(p), p))))
        return p, p_dot
    return pinv_fixed


def pinv(a: Any, rcond: Any = None, hermitian: bool = False, *, rtol: Any = None) -> Any:
    """The Moore-Penrose pseudo-inverse: singular values at most rcond * max(s) are dropped
    (NumPy's default rcond is 1e-15; `rtol=None` means max(M, N) * eps, as in the array API)."""
    a = matrices(a, "pinv")
    if rcond is None:
        rcond = rtol if rtol is not None else 1e-15
    if isinstance(rcond, Tracer):
        raise TypeError("pinv: rcond must be a static value (a Python float or numpy array)")
    rule = _pinv_rule(_np.asarray(rcond, a.dtype))
    return rule(a) if not _eager(a) else rule.fun(a)


def lstsq(a: Any, b: Any, rcond: Any = None, *, numpy_resid: bool = False) -> tuple:
    """(x, residuals, rank, s) minimizing |b - a x|, through the pseudo-inverse. As in JAX the
    residuals are always computed (NumPy returns an empty array when rank < N or M <= N; ask
    for that with numpy_resid=True outside jit)."""
    a, b = common_float("lstsq", a, b)
    a = matrices(a, "lstsq")
    m, n = shape(a)
    if len(shape(a)) != 2 or len(shape(b)) not in (1, 2) or shape(b)[0] != m:
        raise LinAlgError(f"lstsq: a must be 2-D and b (M,) or (M, K); got {shape(a)} and "
                          f"{shape(b)}")
    rcond = _np.finfo(a.dtype).eps * builtins.max(m, n) if rcond is None else rcond
    s = svd(a, compute_uv=False)
    x = jnp.matmul(pinv(a, rcond), b)
    rank = jnp.sum(s > rcond * jnp.max(s, initial=0.0), dtype=_np.int32)
    residual = b - jnp.matmul(a, x)
    resid = jnp.sum(residual * residual, axis=0)
    resid = jnp.reshape(resid, (1,)) if len(shape(b)) == 1 else resid
    if numpy_resid and (int(rank) < n or m <= n):
        resid = _np.zeros((0,), a.dtype)
    return x, resid, rank, s


def matrix_rank(A: Any, tol: Any = None, hermitian: bool = False, *, rtol: Any = None) -> Any:
    """The number of singular values above tol (default max(s) * max(M, N) * eps)."""
    A = float_operand(A, "matrix_rank")
    if len(shape(A)) < 2:
        return convert(jnp.any(jnp.not_equal(A, 0.0)), _np.dtype(_np.int64))
    s = svd(A, compute_uv=False, hermitian=hermitian)
    if tol is None:
        rtol = builtins.max(shape(A)[-2:]) * _np.finfo(A.dtype).eps if rtol is None else rtol
        tol = jnp.max(s, axis=-1, keepdims=True, initial=0.0) * rtol
    else:
        tol = jnp.expand_dims(tol, -1)
    return jnp.sum(s > stop_gradient(tol), axis=-1, dtype=_np.int64)


def stop_gradient(x: Any) -> Any:
    return lax.stop_gradient(x)


# ---------------------------------------------------------------------------------------------
# Products: matrix_power, multi_dot; tensorsolve, tensorinv
# ---------------------------------------------------------------------------------------------

def matrix_power(a: Any, n: int) -> Any:
    """a @ a @ ... (n times) by repeated squaring; n < 0 inverts first, n = 0 gives identity."""
    a = matrices(a, "matrix_power", square=True)
    if isinstance(n, Tracer) or not isinstance(n, (int, _np.integer)):
        raise TypeError(f"matrix_power: the exponent must be a static integer, got {n!r}")
    if n == 0:
        return jnp.broadcast_to(eye_like(a), shape(a))
    base, n = (inv(a), -int(n)) if n < 0 else (a, int(n))
    result = None
    while n:
        if n & 1:
            result = base if result is None else jnp.matmul(result, base)
        n >>= 1
        if n:
            base = jnp.matmul(base, base)
    return result


def multi_dot(arrays: Any, *, out: Any = None) -> Any:
    """The product of a chain of matrices in the cheapest order (matrix-chain dynamic
    program over the static shapes); the first may be a row vector, the last a column."""
    if out is not None:
        raise TypeError("multi_dot: out= is not supported; use the returned array")
    arrays = [operand(a, "multi_dot") for a in arrays]
    if len(arrays) < 2:
        raise ValueError("multi_dot: expecting at least two arrays")
    first_vector, last_vector = len(shape(arrays[0])) == 1, len(shape(arrays[-1])) == 1
    if first_vector:
        arrays[0] = jnp.expand_dims(arrays[0], 0)
    if last_vector:
        arrays[-1] = jnp.expand_dims(arrays[-1], -1)
    if builtins.any(len(shape(a)) != 2 for a in arrays):
        raise ValueError("multi_dot: arrays must be 2-D (the first and last may be 1-D)")
    order = _chain_order([shape(a)[0] for a in arrays] + [shape(arrays[-1])[1]])
    result = _chain_product(arrays, order, 0, len(arrays) - 1)
    if first_vector:
        result = jnp.squeeze(result, 0)
    if last_vector:
        result = jnp.squeeze(result, -1)
    return result


def _chain_order(dims: list[int]) -> dict:
    """split[i, j]: where the cheapest product of matrices i..j splits (dims: boundary sizes)."""
    n = len(dims) - 1
    cost = {(i, i): 0 for i in range(n)}
    split = {}
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i, j], split[i, j] = builtins.min(
                (cost[i, k] + cost[k + 1, j] + dims[i] * dims[k + 1] * dims[j + 1], k)
                for k in range(i, j))
    return split


def _chain_product(arrays: list, split: dict, i: int, j: int) -> Any:
    if i == j:
        return arrays[i]
    k = split[i, j]
    return jnp.matmul(_chain_product(arrays, split, i, k), _chain_product(arrays, split, k + 1, j))


def tensorsolve(a: Any, b: Any, axes: Any = None) -> Any:
    """x with tensordot(a, x, x.ndim) = b."""
    a, b = common_float("tensorsolve", a, b)
    nd = len(shape(a))
    if axes is not None:
        rest = [i for i in range(nd) if i not in _axes("tensorsolve", axes, nd)]
        a = jnp.transpose(a, rest + list(_axes("tensorsolve", axes, nd)))
    out_shape = shape(a)[len(shape(b)):]
    rows = math.prod(shape(b))
    if math.prod(out_shape) != rows:
        raise LinAlgError(f"tensorsolve: a of shape {shape(a)} is not square for b of shape "
                          f"{shape(b)}")
    x = solve(jnp.reshape(a, (rows, rows)), jnp.reshape(b, (rows,)))
    return jnp.reshape(x, out_shape)


def tensorinv(a: Any, ind: int = 2) -> Any:
    """The inverse of a with respect to tensordot over its first `ind` axes."""
    a = float_operand(a, "tensorinv")
    if ind <= 0:
        raise ValueError("tensorinv: ind must be a positive integer")
    s = shape(a)
    rows, cols = math.prod(s[:ind]), math.prod(s[ind:])
    if rows != cols:
        raise LinAlgError(f"tensorinv: a of shape {s} is not square over its first {ind} axes")
    return jnp.reshape(inv(jnp.reshape(a, (rows, cols))), s[ind:] + s[:ind])
