"""numpy implementations of the linear-algebra primitives, on stacks of matrices.

numpy.linalg has no LU factorization and no triangular solve or product, but numpy's wheel
ships OpenBLAS with LAPACK inside (`scipy_dgetrf_64_`, `scipy_dtrsm_64_`, `scipy_dtrmm_64_`:
Fortran routines with 64-bit integers). Those three call it through ctypes when the library is
found, and fall back to plain numpy loops otherwise (`DUALJIT_NATIVE_BLAS=0` forces the
fallback). The rest use numpy.linalg. (Under jit, codegen calls the same routines from
kernels: codegen/lapack.py.)

Failures are values, never exceptions (the same rule as under `jit`, where nothing can raise):
a matrix that is not positive definite has a Cholesky factor of NaNs, an eigen- or singular
value decomposition that does not converge (NaN input) gives NaNs, and an exactly singular
matrix gets a zero pivot in its LU factors, so solves with it give inf/NaN as IEEE division
makes them. Each matrix of a stack fails on its own.
"""

from __future__ import annotations

import ctypes
import math
import os
from collections.abc import Callable

import numpy as np

_INT = ctypes.c_int64
_library: ctypes.CDLL | None | bool = False  # False: not looked for yet


def _candidates() -> list[str]:
    import glob  # here, not at `import dualjit`

    root = os.path.dirname(np.__file__)
    patterns = [os.path.join(root, "..", "numpy.libs", "*openblas*"),
                os.path.join(root, ".libs", "*openblas*"),
                os.path.join(root, ".dylibs", "*openblas*")]
    return sorted(p for pattern in patterns for p in glob.glob(pattern))


def openblas() -> ctypes.CDLL | None:
    """numpy's bundled OpenBLAS with its ILP64 LAPACK, or None (absent, or disabled)."""
    global _library
    if _library is False:
        _library = None
        if os.environ.get("DUALJIT_NATIVE_BLAS", "1") != "0":
            for path in _candidates():
                try:
                    lib = ctypes.CDLL(path)
                except OSError:
                    continue
                if hasattr(lib, "scipy_dgetrf_64_") and hasattr(lib, "scipy_strsm_64_"):
                    _library = lib
                    break
    return _library


_PREFIX = {np.dtype(np.float32): "s", np.dtype(np.float64): "d",
           np.dtype(np.complex64): "c", np.dtype(np.complex128): "z"}


def lapack_symbol(routine: str, dtype: np.dtype) -> str:
    """The exported name of a LAPACK/BLAS routine ('getrf') for a float or complex dtype."""
    return f"scipy_{_PREFIX[np.dtype(dtype)]}{routine}_64_"


_LAPACK_DTYPES = tuple(_PREFIX)  # native byte order only


def _routine(routine: str, dtype: np.dtype) -> Callable | None:
    """The routine for arrays of `dtype`, or None (then numpy computes it): LAPACK reads the
    memory as native float32 or float64, so any other dtype, a byte-swapped one included,
    must never reach it."""
    lib = openblas()
    if lib is None or np.dtype(dtype) not in _LAPACK_DTYPES or not np.dtype(dtype).isnative:
        return None
    return getattr(lib, lapack_symbol(routine, dtype))


def _stack(a: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """a [..., m, n] as a C-contiguous, writable [B, m, n] copy, and the batch shape."""
    a = np.asarray(a)
    return np.array(_flat(a), order="C", copy=True), a.shape[:-2]


def _flat(a: np.ndarray) -> np.ndarray:
    """a [..., m, n] as [B, m, n] (B = 1 for a single matrix; exact even when sizes are 0)."""
    return a.reshape((math.prod(a.shape[:-2]),) + a.shape[-2:])


def _int(v: int) -> ctypes._Pointer:
    return ctypes.byref(_INT(v))


# ---------------------------------------------------------------------------------------------
# LU factorization with partial pivoting: P a = L U
# ---------------------------------------------------------------------------------------------

def lu(a: np.ndarray) -> list[np.ndarray]:
    """(lu, pivots, permutation): L (unit diagonal, below) and U packed in lu; pivots are
    LAPACK's row swaps (0-based, int32); a[..., permutation, :] = L @ U."""
    a = np.asarray(a)
    m, n = a.shape[-2:]
    factors, raw_pivots = _lu_stack(a)
    permutation = pivots_to_permutation(raw_pivots, m)
    return [factors, _pivots_in_range(raw_pivots, a.shape),
            permutation.reshape(a.shape[:-2] + (m,))]


def lu_factors(a: np.ndarray) -> list[np.ndarray]:
    """lu's (lu, pivots) without the permutation (its Python loop over the swaps costs as much
    as a small factorization)."""
    a = np.asarray(a)
    factors, raw_pivots = _lu_stack(a)
    return [factors, _pivots_in_range(raw_pivots, a.shape)]


def _lu_stack(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lu [..., m, n], LAPACK's raw pivots [B, k])."""
    stack, batch = _stack(a)
    getrf = _routine("getrf", a.dtype)
    if stack.size == 0 or getrf is None:
        factors, pivots = _lu_numpy(stack)
    else:
        factors, pivots = _lu_lapack(getrf, stack)
    return factors.reshape(a.shape), pivots


def _pivots_in_range(pivots: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    m, n = shape[-2:]
    pivots = np.clip(pivots, 0, max(m - 1, 0))  # in range whatever LAPACK gives for NaNs
    return pivots.reshape(shape[:-2] + (min(m, n),))


def column_lu(a: np.ndarray) -> list[np.ndarray]:
    """(lu, pivots, permutation) with column pivoting: a[..., :, permutation] = L @ U, L lower
    triangular, U unit upper triangular (packed); the row-pivoted LU of a's transpose,
    transposed (primitives.column_lu_p)."""
    factors, pivots, permutation = lu(np.swapaxes(np.asarray(a), -1, -2))
    return [np.ascontiguousarray(np.swapaxes(factors, -1, -2)), pivots, permutation]


def _lu_lapack(getrf: Callable, stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    b, m, n = stack.shape
    k = min(m, n)
    columns = np.ascontiguousarray(np.swapaxes(stack, 1, 2))  # each matrix in Fortran order
    ipiv = np.zeros((b, max(k, 1)), np.int64)
    info = _INT(0)
    sizes = (_int(m), _int(n), _int(max(1, m)))  # the same for every matrix: made once
    data, step = columns.ctypes.data, m * n * columns.itemsize
    pivots, pivot_step = ipiv.ctypes.data, ipiv.strides[0]
    for i in range(b):
        getrf(sizes[0], sizes[1], ctypes.c_void_p(data + i * step), sizes[2],
              ctypes.c_void_p(pivots + i * pivot_step), ctypes.byref(info))
    return np.ascontiguousarray(np.swapaxes(columns, 1, 2)), (ipiv[:, :k] - 1).astype(np.int32)


def _lu_numpy(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Right-looking LU with partial pivoting, vectorized over the stack (LAPACK's getf2)."""
    b, m, n = stack.shape
    k = min(m, n)
    a = stack
    rows = np.arange(b)
    pivots = np.zeros((b, k), np.int32)
    for j in range(k):
        column = np.abs(a[:, j:, j])
        p = j + np.argmax(np.where(np.isnan(column), np.inf, column), axis=1)
        pivots[:, j] = p
        a[rows, j], a[rows, p] = a[rows, p].copy(), a[rows, j].copy()
        pivot = a[:, j, j]
        with np.errstate(all="ignore"):
            # A zero pivot means the column below is zero too: leave it (as LAPACK does).
            a[:, j + 1:, j] /= np.where(pivot == 0, 1, pivot)[:, None]
            a[:, j + 1:, j + 1:] -= a[:, j + 1:, j:j + 1] * a[:, j:j + 1, j + 1:]
    return a, pivots


def pivots_to_permutation(pivots: np.ndarray, size: int) -> np.ndarray:
    """The row permutation that LAPACK's sequence of swaps (row i <-> pivots[i]) makes."""
    pivots = np.asarray(pivots)
    batch = pivots.shape[:-1]
    swaps = np.clip(pivots.reshape(math.prod(batch), pivots.shape[-1]).astype(np.int64), 0,
                    max(size - 1, 0))
    steps = min(swaps.shape[1], size)
    if swaps.shape[0] == 1:  # one matrix: Python's swaps cost less than numpy's per step
        perm = list(range(size))
        for i, p in enumerate(swaps[0, :steps].tolist()):
            perm[i], perm[p] = perm[p], perm[i]
        return np.asarray(perm, np.int32).reshape(batch + (size,))
    perm = np.tile(np.arange(size, dtype=np.int32), (swaps.shape[0], 1))
    rows = np.arange(swaps.shape[0])
    for i in range(steps):
        p = swaps[:, i]
        perm[rows, i], perm[rows, p] = perm[rows, p], perm[rows, i].copy()
    return perm.reshape(batch + (size,))


# ---------------------------------------------------------------------------------------------
# Triangular solve
# ---------------------------------------------------------------------------------------------

def triangular_solve(a: np.ndarray, b: np.ndarray, *, left_side: bool, lower: bool,
                     transpose_a: bool, unit_diagonal: bool) -> np.ndarray:
    """x with op(a) x = b (left_side) or x op(a) = b; op(a) = a.T if transpose_a. Only a's
    `lower` (or upper) triangle is read, and not its diagonal if `unit_diagonal`."""
    return _with_triangle("trsm", _triangular_numpy, a, b, left_side, lower, transpose_a,
                          unit_diagonal)


def _with_triangle(blas_name, numpy_fallback, a, b, *flags):
    """BLAS's `blas_name` (trsm or trmm, the same flags) over the stacks of a and b when
    found, else `numpy_fallback`; the result has b's shape."""
    a, b = np.asarray(a), np.asarray(b)
    dtype = np.result_type(a.dtype, b.dtype)
    a_stack = np.ascontiguousarray(_flat(a), dtype=dtype)
    b_stack, batch = _stack(b.astype(dtype, copy=False))
    routine = _routine(blas_name, dtype)
    if b_stack.size == 0:
        return b_stack.reshape(b.shape)
    if routine is None:
        x = numpy_fallback(a_stack, b_stack, *flags)
    else:
        x = _triangular_lapack(routine, a_stack, b_stack, *flags)
    return x.reshape(b.shape)


def _triangular_lapack(trsm, a, b, left_side, lower, transpose_a, unit_diagonal):
    # Fortran sees each row-major matrix transposed. op(a) x = b becomes x^T op(a)^T = b^T:
    # a right-side solve with the other triangle (and a x = b's dual for left_side=False).
    rows, cols = b.shape[1:]
    k = a.shape[1]
    side = b"R" if left_side else b"L"
    uplo = b"U" if lower else b"L"
    trans = b"T" if transpose_a else b"N"
    diag = b"U" if unit_diagonal else b"N"
    part = ctypes.c_double if b.dtype in (np.float64, np.complex128) else ctypes.c_float
    alpha = (part * 2)(1.0, 0.0) if b.dtype.kind == "c" else part(1.0)  # complex: (re, im)
    # the arguments every matrix shares, made once (ctypes conversions dominate small solves)
    head = (side, uplo, trans, diag, _int(cols), _int(rows), ctypes.byref(alpha))
    lda, ldb, one = _int(max(1, k)), _int(max(1, cols)), ctypes.c_size_t(1)
    a_data, a_step, b_data, b_step = a.ctypes.data, a.strides[0], b.ctypes.data, b.strides[0]
    for i in range(b.shape[0]):
        trsm(*head, ctypes.c_void_p(a_data + i * a_step), lda, ctypes.c_void_p(b_data + i * b_step),
             ldb, one, one, one, one)
    return b


def _triangular_numpy(a, b, left_side, lower, transpose_a, unit_diagonal):
    """Forward substitution, vectorized over the stack and the right-hand sides."""
    t = np.swapaxes(a, 1, 2) if transpose_a else a
    t_lower = lower != transpose_a
    if not left_side:  # x t = b  <=>  t^T x^T = b^T
        t, b, t_lower = np.swapaxes(t, 1, 2), np.swapaxes(b, 1, 2), not t_lower
    if not t_lower:  # reversing rows and columns makes an upper triangle lower
        t, b = t[:, ::-1, ::-1], b[:, ::-1, :]
    x = np.zeros_like(b)
    with np.errstate(all="ignore"):
        for i in range(t.shape[1]):
            rhs = b[:, i, :] - np.einsum("bj,bjn->bn", t[:, i, :i], x[:, :i, :])
            x[:, i, :] = rhs if unit_diagonal else rhs / t[:, i, i][:, None]
    if not t_lower:
        x = x[:, ::-1, :]
    return np.ascontiguousarray(np.swapaxes(x, 1, 2) if not left_side else x)


# ---------------------------------------------------------------------------------------------
# Cholesky, QR, symmetric eigendecomposition, SVD: numpy.linalg, NaN where it fails
# ---------------------------------------------------------------------------------------------

def _per_matrix(fn: Callable, a: np.ndarray, out_shapes: list[tuple[int, ...]]) -> list:
    """fn on the whole stack; if numpy raises for the stack, matrix by matrix, NaN where it fails."""
    try:
        with np.errstate(all="ignore"):
            outs = fn(a)
        return list(outs) if isinstance(outs, tuple) else [outs]
    except np.linalg.LinAlgError:
        pass
    stack = _flat(a)
    batch = a.shape[:-2]
    results = [np.full((stack.shape[0],) + s, np.nan, a.dtype) for s in out_shapes]
    for i, matrix in enumerate(stack):
        try:
            with np.errstate(all="ignore"):
                outs = fn(matrix)
        except np.linalg.LinAlgError:
            continue
        for r, o in zip(results, outs if isinstance(outs, tuple) else [outs]):
            r[i] = o
    return [r.reshape(batch + s) for r, s in zip(results, out_shapes)]


def cholesky(a: np.ndarray) -> np.ndarray:
    """The lower Cholesky factor (upper triangle zero), read from a's lower triangle."""
    a = np.asarray(a)
    n = a.shape[-1]
    factor = _per_matrix(np.linalg.cholesky, a, [(n, n)])[0]
    if n:  # NaN input: LAPACK may report no failure, but the last pivot is NaN then
        factor[np.isnan(factor[..., -1, -1])] = np.nan
    return factor


def qr(a: np.ndarray, *, full_matrices: bool) -> list[np.ndarray]:
    with np.errstate(all="ignore"):
        q, r = np.linalg.qr(a, mode="complete" if full_matrices else "reduced")
    return [q, r]


def eigh(a: np.ndarray) -> list[np.ndarray]:
    """(eigenvalues ascending, eigenvectors as columns), read from a's lower triangle."""
    a = np.asarray(a)
    n = a.shape[-1]
    w, v = _per_matrix(lambda x: tuple(np.linalg.eigh(x, UPLO="L")), a, [(n,), (n, n)])
    return [np.asarray(w.real), v]  # (real eigenvalues of Hermitian matrices; NaN rows too)


def svd(a: np.ndarray, *, full_matrices: bool, compute_uv: bool) -> list[np.ndarray]:
    """(s, u, vt), or (s,) without compute_uv; a = u @ diag(s) @ vt."""
    a = np.asarray(a)
    m, n = a.shape[-2:]
    k = min(m, n)
    if not compute_uv:
        s, = _per_matrix(lambda x: np.linalg.svd(x, compute_uv=False), a, [(k,)])
        return [np.asarray(s.real)]
    u_cols, vt_rows = (m, n) if full_matrices else (k, k)
    u, s, vt = _per_matrix(lambda x: tuple(np.linalg.svd(x, full_matrices=full_matrices)), a,
                           [(m, u_cols), (k,), (vt_rows, n)])
    return [np.asarray(s.real), u, vt]  # (singular values are real; NaN rows too)


# ---------------------------------------------------------------------------------------------
# Triangular product
# ---------------------------------------------------------------------------------------------

def triangular_product(a: np.ndarray, b: np.ndarray, *, left_side: bool, lower: bool,
                       transpose_a: bool, unit_diagonal: bool) -> np.ndarray:
    """op(t) @ b (left_side) or b @ op(t), t the `lower` (or upper) triangle of a, with ones
    on its diagonal if `unit_diagonal`; op(t) = t.T if transpose_a. BLAS's trmm (the same
    flags as trsm) when found, else numpy over the triangle only."""
    return _with_triangle("trmm", _product_numpy, a, b, left_side, lower, transpose_a,
                          unit_diagonal)


def _product_numpy(a, b, left_side, lower, transpose_a, unit_diagonal):
    """Row by row over the triangle (entries outside it are never read, as in trmm)."""
    t = np.swapaxes(a, 1, 2) if transpose_a else a
    t_lower = lower != transpose_a
    if not left_side:  # b t = (t^T b^T)^T
        t, b, t_lower = np.swapaxes(t, 1, 2), np.swapaxes(b, 1, 2), not t_lower
    out = np.zeros_like(b)
    with np.errstate(all="ignore"):
        for i in range(t.shape[1]):
            part = slice(0, i) if t_lower else slice(i + 1, t.shape[1])
            out[:, i, :] = np.einsum("bj,bjn->bn", t[:, i, part], b[:, part, :])
            out[:, i, :] += b[:, i, :] if unit_diagonal else t[:, i, i][:, None] * b[:, i, :]
    return np.ascontiguousarray(np.swapaxes(out, 1, 2) if not left_side else out)


def eig(a: np.ndarray) -> list[np.ndarray]:
    """(eigenvalues, right eigenvectors as columns), complex; NaN where it does not converge."""
    a = np.asarray(a)
    n = a.shape[-1]
    complex_type = np.result_type(a.dtype, np.complex64)
    w, v = _per_matrix(lambda x: tuple(np.linalg.eig(x)), a, [(n,), (n, n)])
    return [np.asarray(w, complex_type), np.asarray(v, complex_type)]
