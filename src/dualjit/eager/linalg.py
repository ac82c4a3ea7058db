"""dualjit.linalg: PyTorch's torch.linalg on Tensors, recorded through dualjit.numpy.linalg.

Each function is one recorded operation whose IR is a dualjit.numpy.linalg composition, so its
derivative is that module's (solve, inv, det, slogdet and pinv reuse the forward factors), and
create_graph and dj.compile work. As PyTorch, and unlike dualjit.numpy.linalg, inv, solve,
cholesky and matrix_power(n < 0) raise LinAlgError for a singular (or not positive-definite)
matrix when the values are concrete; under dj.compile the values are traced, so no check is
possible there and the result holds inf/NaN (use inv_ex / cholesky_ex for the info code).
cholesky, eigh and eigvalsh read one triangle, as PyTorch, and their gradient is PyTorch's
symmetric one. Multi-output functions return PyTorch's named tuples (dj.return_types).
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import lax
from .. import numpy as jnp
from ..codegen import threads
from ..ir import linalg_impl as _lapack
from ..scipy import linalg as jsl
from . import dtypes
from .return_types import RETURN_TYPES
from .tensor import Tensor, apply_op, as_tensor_arg, make_tensor

__all__ = ["LinAlgError", "norm", "vector_norm", "matrix_norm", "det", "slogdet", "inv",
           "inv_ex", "pinv", "solve", "solve_ex", "lstsq", "cholesky", "cholesky_ex", "qr", "eigh",
           "eigvalsh", "svd", "svdvals", "matrix_rank", "matrix_power", "matrix_exp", "cross",
           "multi_dot", "cond", "solve_triangular", "lu_factor", "lu_factor_ex", "lu_solve",
           "lu", "eig", "eigvals", "tensorinv", "tensorsolve", "diagonal", "vander", "vecdot"]


class LinAlgError(RuntimeError):
    """A matrix is singular or not positive-definite (torch.linalg.LinAlgError)."""


# ---------------------------------------------------------------------------------------------
# Operands and recording
# ---------------------------------------------------------------------------------------------

def _float_input(x: Any, op: str) -> Tensor:
    t = as_tensor_arg(x, f"linalg.{op} input")
    if t.dtype.kind not in "fc":
        raise RuntimeError(f"linalg.{op}: Expected a floating point or complex tensor as "
                           f"input. Got {t.dtype}")
    return t


def matrix_input(x: Any, op: str, square: bool = False) -> Tensor:
    t = _float_input(x, op)
    if t.ndim < 2:
        raise RuntimeError(f"linalg.{op}: The input tensor A must have at least 2 dimensions "
                           f"(got shape {tuple(t.shape)})")
    if square and t.shape[-1] != t.shape[-2]:
        raise RuntimeError(f"linalg.{op}: A must be batches of square matrices, but they are "
                           f"{t.shape[-2]} by {t.shape[-1]} matrices")
    _blas_threads_for(t)
    return t


def _blas_threads_for(t: Tensor) -> None:
    """BLAS threads for a factorization or product of t's matrices (~m n min(m, n) each), as
    eager matmul chooses them: NumPy's LAPACK runs on the OpenBLAS that compiled kernels
    share, whose own thread count waits milliseconds for a busy core on small matrices."""
    m, n = t.shape[-2:]
    threads.use_blas_for(math.prod(t.shape[:-2]) * m * n * builtins.min(m, n))


def _same_dtype(op: str, *ts: Tensor) -> None:
    if len({t.dtype for t in ts}) > 1:
        raise RuntimeError(f"linalg.{op}: expected all inputs to have the same dtype, got "
                           f"{', '.join(str(t.dtype) for t in ts)}")


def _concrete(args: Sequence[Any]) -> builtins.bool:
    return builtins.all(type(a._value if isinstance(a, Tensor) else a) is np.ndarray
                        for a in args)


def _values(args: Sequence[Any]) -> list:
    return [a._value if isinstance(a, Tensor) else a for a in args]


def _output(fn: Callable) -> Callable:
    """fn's output number `output` (one recorded node per output of a multi-output fn)."""
    def one(*xs, output, **kwargs):
        return fn(*xs, **kwargs)[output]
    return one


def _outputs(name: str, fn: Callable, args: Sequence[Any], count: int, params: tuple = (),
             fast: Callable | None = None) -> list[Tensor]:
    """Each output of fn recorded as its own node (all from one computation when concrete)."""
    found = None
    if _concrete(args):
        found = (fast or fn)(*_values(args), **dict(params))
    picked = _output(fn)
    return [apply_op(name, picked, args, (*params, ("output", k)),
                     fast=None if found is None else (lambda *xs, k=k, **kw: found[k]))
            for k in range(count)]


def _checked(op: str, numpy_fn: Callable, message: str) -> Callable:
    """numpy_fn, raising LinAlgError with PyTorch's message where NumPy's LAPACK fails."""
    def fast(*xs, **kwargs):
        try:
            return numpy_fn(*xs, **kwargs)
        except np.linalg.LinAlgError:
            raise LinAlgError(f"{op}: {message}") from None
    return fast


_LAPACK_TYPES = "fdFD"  # (float32/64, complex64/128: what NumPy's LAPACK takes)

_SINGULAR = "The input matrix is singular (a zero pivot in its LU factorization); use " \
    "dualjit.linalg.pinv or lstsq for singular systems"
_NOT_POSITIVE = "The factorization could not be completed because the input is not " \
    "positive-definite"


# ---------------------------------------------------------------------------------------------
# Norms
# ---------------------------------------------------------------------------------------------

def _cast(t: Tensor, dtype: Any) -> Tensor:
    return t if dtype is None else t.type(dtype)


def _norm(x, ord, axis, keepdims):
    return jnp.linalg.norm(_magnitude(x), ord, axis, keepdims)


def _vector_norm(x, ord, axis, keepdims):
    if isinstance(ord, (int, float)) and 0 < ord < 1:
        # (PyTorch's derivative is 0 at zero entries; |x| ** p's is inf * 0 = NaN there)
        a = jnp.abs(x)
        zero = a == 0
        powered = jnp.where(zero, 0.0, jnp.where(zero, 1.0, a) ** ord)
        return jnp.sum(powered, axis=axis, keepdims=keepdims) ** (1.0 / ord)
    return jnp.linalg.vector_norm(_magnitude(x), axis=axis, keepdims=keepdims, ord=ord)


def _magnitude(x):
    """|x| for complex x: every norm but the spectral ones (_spectral) depends on the
    entries' magnitudes alone."""
    return jnp.abs(x) if jnp.iscomplexobj(x) else x


def _spectral(x, ord, axis, keepdims):
    """The 'nuc', 2 and -2 matrix norms from the singular values (complex x too)."""
    nd = len(x.shape)
    rows, cols = (a % nd for a in axis)
    s = jnp.linalg.svd(jnp.moveaxis(x, (rows, cols), (-2, -1)), compute_uv=False)
    out = {"nuc": jnp.sum, 2: jnp.max, -2: jnp.min}[ord](s, axis=-1)
    if keepdims:
        out = jnp.expand_dims(out, tuple(sorted((rows, cols))))
    return out


def _is_spectral(t: Tensor, ord: Any, dim: Any, op: str) -> builtins.bool:
    """Whether a norm is a complex matrix's 'nuc', 2 or -2 norm (the others take |x|)."""
    matrix = op == "matrix_norm" or (dim is None and t.ndim == 2) or (
        dim is not None and not isinstance(dim, (int, np.integer)) and len(dim) == 2)
    return t.dtype.kind == "c" and matrix and isinstance(ord, (str, int, builtins.float)) \
        and ord in ("nuc", 2, -2)


def _dims(dim: Any) -> Any:
    if dim is None:
        return None
    return int(dim) if isinstance(dim, (int, np.integer)) else tuple(int(d) for d in dim)


def norm(A: Any, ord: Any = None, dim: Any = None, keepdim: builtins.bool = False, *,
         out: Any = None, dtype: Any = None) -> Tensor:
    """A vector norm (dim an int, or A 1-D) or matrix norm (dim two ints, or A 2-D); the
    2-norm of all elements when ord and dim are None."""
    t = _cast(_float_input(A, "norm"), dtype)
    if ord is not None and dim is None and t.ndim not in (1, 2):
        raise RuntimeError("linalg.norm: If dim is not specified but ord is, the input must "
                           f"be 1D or 2D. Got {t.ndim}D.")
    if _is_spectral(t, ord, dim, "norm"):
        params = (("ord", ord), ("axis", _dims(dim) or (-2, -1)),
                  ("keepdims", builtins.bool(keepdim)))
        return apply_op("LinalgNormBackward", _spectral, [t], params)
    params = (("ord", ord), ("axis", _dims(dim)), ("keepdims", builtins.bool(keepdim)))
    return apply_op("LinalgNormBackward", _norm, [t], params, fast=_np_norm)


def vector_norm(x: Any, ord: Any = 2, dim: Any = None, keepdim: builtins.bool = False, *,
                out: Any = None, dtype: Any = None) -> Tensor:
    """The ord-norm of x over all of dim at once (all dimensions when None)."""
    t = _cast(_float_input(x, "vector_norm"), dtype)
    params = (("ord", ord), ("axis", _dims(dim)), ("keepdims", builtins.bool(keepdim)))
    return apply_op("LinalgVectorNormBackward", _vector_norm, [t], params,
                    fast=_np_vector_norm)


def matrix_norm(A: Any, ord: Any = "fro", dim: Any = (-2, -1), keepdim: builtins.bool = False,
                *, out: Any = None, dtype: Any = None) -> Tensor:
    """The ord-norm ('fro', 'nuc', 1, -1, 2, -2, inf, -inf) of the matrices over dim."""
    t = _cast(matrix_input(A, "matrix_norm"), dtype)
    params = (("ord", ord), ("axis", _dims(dim)), ("keepdims", builtins.bool(keepdim)))
    if _is_spectral(t, ord, dim, "matrix_norm"):
        return apply_op("LinalgMatrixNormBackward", _spectral, [t], params)
    return apply_op("LinalgMatrixNormBackward", _norm, [t], params, fast=_np_norm)


# NumPy forms of the norm compositions (dualjit.numpy.linalg's norm and vector_norm): the same
# NumPy operations in the same order on concrete arrays, so the same bits. Each returns None
# (then the composition runs, and raises where the arguments are wrong) outside the common
# orders: None/2/'fro', 1, -1, inf, -inf; 0 and other p for vectors; not 'nuc', 2, -2 for
# matrices (an SVD, whose cost is the composition's anyway).

def _np_axes(axis: Any, nd: int) -> tuple[int, ...] | None:
    """dualjit.numpy.linalg's axes (normalized), or None where it raises."""
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if not builtins.all(-nd <= a < nd for a in axes):
        return None
    axes = tuple(int(a) % nd for a in axes)
    return axes if len(set(axes)) == len(axes) else None


def _np_euclidean(x, axis, keepdims):
    """sqrt(sum(x * x)): the composition's where(total == 0, 0, sqrt(...)) guards only the
    derivative (the total is +0 or more, or NaN, whose square root is itself)."""
    return np.sqrt(np.sum(x * x, axis=axis, dtype=x.dtype, keepdims=keepdims))


def _np_vector_ord(x, ord, axis: int, keepdims):
    if ord is None or (not isinstance(ord, str) and ord == 2):
        return _np_euclidean(x, (axis,), keepdims)
    if isinstance(ord, str) or x.shape[axis] == 0:
        return None  # (invalid, or an empty max/min: the composition raises or decides)
    magnitude = np.abs(x)
    if ord == np.inf:
        return np.max(magnitude, axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return np.min(magnitude, axis=axis, keepdims=keepdims)
    if ord == 1:
        return np.sum(magnitude, axis=(axis,), dtype=x.dtype, keepdims=keepdims)
    return None


def _np_matrix_ord(x, ord, axes, keepdims):
    row, col = axes
    if ord in (None, "fro", "f"):
        return _np_euclidean(x, axes, keepdims)
    pick = {1: (row, col, np.max), -1: (row, col, np.min),
            np.inf: (col, row, np.max), -np.inf: (col, row, np.min)}.get(ord)
    if pick is None or x.size == 0:
        return None
    summed, other, reduce = pick
    total = np.sum(np.abs(x), axis=(summed,), dtype=x.dtype, keepdims=True)
    out = reduce(total, axis=other, keepdims=True)
    return out if keepdims else np.squeeze(out, axis=(row, col))


def _np_norm(x, ord, axis, keepdims):
    """_norm (dualjit.numpy.linalg.norm of |x|) in NumPy."""
    if x.dtype.kind == "c":
        x = np.abs(x)
    if x.dtype.kind != "f":
        return None
    nd = x.ndim
    with np.errstate(all="ignore"):
        if axis is None:
            if ord is None:
                out = _np_euclidean(x.ravel(), (0,), False)
                return np.reshape(out, (1,) * nd) if keepdims else out
            if nd not in (1, 2):
                return None
            axis = tuple(range(nd))
        axes = _np_axes(axis, nd)
        if axes is None or len(axes) not in (1, 2):
            return None
        if len(axes) == 1:
            return _np_vector_ord(x, ord, axes[0], keepdims)
        return _np_matrix_ord(x, ord, axes, keepdims)


def _np_vector_norm(x, ord, axis, keepdims):
    """_vector_norm (dualjit.numpy.linalg.vector_norm of |x|) in NumPy: the reduced axes moved
    last and flattened, then one norm along them."""
    if x.dtype.kind == "c":
        x = np.abs(x)
    if x.dtype.kind != "f":
        return None
    nd = x.ndim
    axes = tuple(range(nd)) if axis is None else _np_axes(axis, nd)
    if axes is None:
        return None
    rest = [i for i in range(nd) if i not in axes]
    flat = np.reshape(np.transpose(x, rest + list(axes)),
                      tuple(x.shape[i] for i in rest) + (math.prod(x.shape[i] for i in axes),))
    with np.errstate(all="ignore"):
        out = _np_vector_ord(flat, ord, flat.ndim - 1, False)
    if out is None or not keepdims:
        return out
    kept = iter(out.shape)
    return np.reshape(out, tuple(1 if i in axes else next(kept) for i in range(nd)))


# ---------------------------------------------------------------------------------------------
# Determinants and inverses
# ---------------------------------------------------------------------------------------------

def det(A: Any, *, out: Any = None) -> Tensor:
    """The determinant of each matrix (0 for a singular one)."""
    t = matrix_input(A, "det", square=True)
    return apply_op("LinalgDetBackward", jnp.linalg.det, [t], fast=np.linalg.det)


def _slogdet(a):
    return tuple(jnp.linalg.slogdet(a))


def slogdet(A: Any, *, out: Any = None):
    """(sign, logabsdet) of each matrix: (0, -inf) for a singular one."""
    t = matrix_input(A, "slogdet", square=True)
    sign, logabsdet = _outputs("LinalgSlogdetBackward", _slogdet, [t], 2,
                               fast=np.linalg.slogdet)
    return RETURN_TYPES["linalg_slogdet"](sign, logabsdet)


def inv(A: Any, *, out: Any = None) -> Tensor:
    """The inverse of each matrix; LinAlgError for a singular one."""
    t = matrix_input(A, "inv", square=True)
    return apply_op("LinalgInvBackward", jnp.linalg.inv, [t],
                    fast=_checked("linalg.inv", np.linalg.inv, _SINGULAR))


def _lu_info(a):
    """LAPACK getrf's info: 1 + the first zero pivot's position, 0 when there is none."""
    return _lu_info_of_factors(jsl.lu_factor(a)[0])


def _lu_info_of_factors(lu):
    """getrf's info read from its packed factors (the first exactly zero diagonal entry of U)."""
    diagonal = jnp.diagonal(lu, axis1=-2, axis2=-1)
    if diagonal.shape[-1] == 0:  # (empty matrices: nothing to fail)
        return jnp.zeros(diagonal.shape[:-1], np.int32)
    zero = jnp.equal(diagonal, 0)
    first = jnp.argmax(zero, axis=-1) + 1
    return jnp.astype(jnp.where(jnp.any(zero, axis=-1), first, 0), np.int32)


def _np_lu_info(a):
    """_lu_info of concrete matrices, in NumPy: one getrf per matrix."""
    return _np_lu_info_of_factors(_lapack.lu_factors(a)[0])


def _np_lu_info_of_factors(lu):
    zero = np.diagonal(lu, axis1=-2, axis2=-1) == 0
    if zero.shape[-1] == 0:
        return np.zeros(zero.shape[:-1], np.int32)
    return np.where(zero.any(-1), zero.argmax(-1) + 1, 0).astype(np.int32)


def _unless_singular(numpy_fn: Callable) -> Callable:
    """numpy_fn, or None (so apply_op computes the composition) where NumPy's LAPACK finds a
    singular matrix: the *_ex functions give the composition's inf/NaN for those."""
    def fast(*xs, **kwargs):
        try:
            return numpy_fn(*xs, **kwargs)
        except np.linalg.LinAlgError:
            return None
    return fast


def _has_failures(info: Tensor) -> builtins.bool:
    """Whether some matrix failed (a traced info is taken as failing: the composition runs)."""
    return type(info._value) is not np.ndarray or builtins.bool(info._value.any())


def inv_ex(A: Any, *, check_errors: builtins.bool = False, out: Any = None):
    """(inverse, info): info is 0, or 1 + the first zero pivot's position for a singular
    matrix (whose 'inverse' then holds inf/NaN); check_errors=True raises instead. Without
    a singular matrix the inverse is inv's (NumPy's), bit for bit."""
    t = matrix_input(A, "inv_ex", square=True)
    info = apply_op("LinalgInvExInfo", _lu_info, [t], fast=_np_lu_info)
    if check_errors and builtins.bool(info.ne(0).any()):
        raise LinAlgError(f"linalg.inv_ex: {_SINGULAR}")
    fast = None if _has_failures(info) else _unless_singular(np.linalg.inv)
    inverse = apply_op("LinalgInvExBackward", jnp.linalg.inv, [t], fast=fast)
    return RETURN_TYPES["linalg_inv_ex"](inverse, info)


def _pinv(a, rcond, hermitian):
    return jnp.linalg.pinv(a, np.asarray(rcond, a.dtype), hermitian)


def pinv(A: Any, *, atol: Any = None, rtol: Any = None, hermitian: builtins.bool = False,
         out: Any = None) -> Tensor:
    """The pseudo-inverse: singular values up to rtol * the largest are dropped (rtol
    defaults to max(m, n) * eps, or 0 when atol is given)."""
    t = matrix_input(A, "pinv")
    if rtol is None:
        rtol = 0.0 if atol is not None and atol > 0 else \
            builtins.max(t.shape[-2:]) * np.finfo(t.dtype).eps
    rcond: Any = builtins.float(rtol)
    if atol is not None and atol > 0:
        rcond = _relative_cutoffs(t, builtins.float(atol), rcond)
    return apply_op("LinalgPinvBackward", _pinv, [t],
                    (("rcond", rcond), ("hermitian", builtins.bool(hermitian))))


def _relative_cutoffs(t: Tensor, atol: builtins.float, rtol: builtins.float) -> Any:
    """max(atol, rtol * s_max) as a cutoff relative to each matrix's s_max (pinv's rule
    takes a static relative one: computed from the concrete singular values, which dj.compile
    cannot give, so a compiled call runs eagerly)."""
    from .tensor import concrete_value

    value = concrete_value(t, "linalg.pinv(atol=...)")
    largest = np.linalg.svd(value, compute_uv=False)[..., 0] if value.size else \
        np.zeros(value.shape[:-2])
    relative = np.maximum(atol / np.where(largest > 0, largest, np.inf), rtol)
    return relative.item() if relative.ndim == 0 else _Cutoffs(relative)


class _Cutoffs(tuple):
    """Per-matrix relative cutoffs as a hashable operation parameter (one per batch entry)."""

    def __new__(cls, values: np.ndarray):
        out = super().__new__(cls, values.reshape(-1).tolist())
        out.shape = values.shape
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(tuple(self), dtype).reshape(self.shape)


def matrix_power(A: Any, n: int, *, out: Any = None) -> Tensor:
    """A @ A @ ... (n times); the identity for n = 0, inv(A)'s powers for n < 0."""
    t = matrix_input(A, "matrix_power", square=True)
    if isinstance(n, builtins.bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"linalg.matrix_power: n must be an integer, got {n!r}")
    return apply_op("LinalgMatrixPowerBackward", jnp.linalg.matrix_power, [t],
                    (("n", int(n)),),
                    fast=_checked("linalg.matrix_power", np.linalg.matrix_power, _SINGULAR))


def matrix_exp(A: Any) -> Tensor:
    """The matrix exponential of each matrix (scaling and squaring with a Pade approximant)."""
    t = matrix_input(A, "matrix_exp", square=True)
    return apply_op("LinalgMatrixExpBackward", jsl.expm, [t], fast=_np_expm)


def _np_expm(a: np.ndarray) -> np.ndarray | None:
    """jsl.expm of concrete matrices: its operations in NumPy on the same values (so the same
    bits), with the squarings as a loop that stops when no matrix needs another, instead of
    the composition's scan over MAX_SQUARINGS conditional steps."""
    if a.dtype not in jsl.PADE:
        return None  # (the composition says which dtypes it takes)
    if a.shape[-1] == 0:
        return a.copy()
    coefficients, theta = jsl.PADE[a.dtype]
    with np.errstate(all="ignore"):
        norm = np.max(np.sum(np.abs(a), axis=-2), axis=-1, initial=0.0)
        squarings = np.maximum(0.0, np.ceil(np.log2(norm / theta)))
        squarings = np.where(np.isfinite(squarings), squarings, 0.0)
        r = _np_pade(a / np.expand_dims(2.0 ** squarings, (-2, -1)), coefficients)
        for i in range(jsl.MAX_SQUARINGS):
            wanted = np.expand_dims(a.dtype.type(i) < squarings, (-2, -1))
            if not wanted.any():  # (i grows: no later step is wanted either)
                break
            r = np.where(wanted, np.matmul(r, r), r)
        too_large = (squarings > jsl.MAX_SQUARINGS) | np.isnan(norm)
        return np.where(np.expand_dims(too_large, (-2, -1)), np.nan, r)


def _np_pade(a: np.ndarray, b: tuple) -> np.ndarray:
    """jsl's Pade step in NumPy; its final solve is the composition's own (eager)."""
    eye = np.broadcast_to(np.eye(a.shape[-1], dtype=a.dtype), a.shape)
    a2 = np.matmul(a, a)
    a4 = np.matmul(a2, a2)
    a6 = np.matmul(a4, a2)
    if len(b) == 14:
        u = np.matmul(a, np.matmul(a6, b[13] * a6 + b[11] * a4 + b[9] * a2)
                      + b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * eye)
        v = (np.matmul(a6, b[12] * a6 + b[10] * a4 + b[8] * a2)
             + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye)
    else:
        u = np.matmul(a, b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * eye)
        v = b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye
    return jnp.linalg.solve(v - u, v + u)


# ---------------------------------------------------------------------------------------------
# Linear systems
# ---------------------------------------------------------------------------------------------

def _is_vector_rhs(a: Tensor, b: Tensor) -> builtins.bool:
    """PyTorch's rule: B is a (batch of) vector(s) when 1-D or when its shape is A's without
    the last dimension."""
    return b.ndim == 1 or (b.ndim == a.ndim - 1 and tuple(b.shape) == tuple(a.shape[:-1]))


def _solve(a, b, vector):
    if vector:
        return jnp.linalg.solve(a, jnp.expand_dims(b, -1))[..., 0]
    return jnp.linalg.solve(a, b)


def _np_solve(a, b, vector):
    if vector:
        return np.linalg.solve(a, b[..., None])[..., 0]
    return np.linalg.solve(a, b)


def solve(A: Any, B: Any, *, left: builtins.bool = True, out: Any = None) -> Tensor:
    """X with A @ X = B (X @ A = B when left=False); LinAlgError for a singular A."""
    a = matrix_input(A, "solve", square=True)
    b = _float_input(B, "solve")
    _same_dtype("solve", a, b)
    if not left:
        return solve(a.mT, b.mT).mT
    vector = _is_vector_rhs(a, b)
    rows = b.shape[-1] if vector else b.shape[-2] if b.ndim >= 2 else -1
    if rows != a.shape[-1]:
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation "
                           f"AX = B ({tuple(a.shape)} and {tuple(b.shape)})")
    return apply_op("LinalgSolveBackward", _solve, [a, b], (("vector", vector),),
                    fast=_checked("linalg.solve", _np_solve, _SINGULAR))


def solve_ex(A: Any, B: Any, *, left: builtins.bool = True,
             check_errors: builtins.bool = False, out: Any = None):
    """(result, info): solve without the singularity check (info 1 + the first zero pivot's
    position, the result then inf/NaN); check_errors=True raises instead. Without a singular
    matrix the result is solve's (NumPy's), bit for bit."""
    a = matrix_input(A, "solve_ex", square=True)
    info = apply_op("LinalgSolveExInfo", _lu_info, [a], fast=_np_lu_info)
    if check_errors and builtins.bool(info.ne(0).any()):
        raise LinAlgError(f"linalg.solve_ex: {_SINGULAR}")
    b = _float_input(B, "solve_ex")
    _same_dtype("solve_ex", a, b)
    if not left:
        a, b = a.mT, b.mT
    vector = _is_vector_rhs(a, b)
    fast = None if _has_failures(info) else _unless_singular(_np_solve)
    result = apply_op("LinalgSolveExBackward", _solve, [a, b], (("vector", vector),), fast=fast)
    return RETURN_TYPES["linalg_solve_ex"](result if left else result.mT, info)


def _triangular(a, b, upper, left, unitriangular):
    if left:
        return jsl.solve_triangular(a, b, lower=not upper, unit_diagonal=unitriangular)
    return jnp.swapaxes(jsl.solve_triangular(a, jnp.swapaxes(b, -1, -2), trans=1,
                                             lower=not upper, unit_diagonal=unitriangular),
                        -1, -2)


def solve_triangular(A: Any, B: Any, *, upper: builtins.bool, left: builtins.bool = True,
                     unitriangular: builtins.bool = False, out: Any = None) -> Tensor:
    """X with A @ X = B (X @ A = B when left=False) for triangular A: only its upper (or
    lower) triangle is read, and its diagonal is taken as ones when unitriangular."""
    a = matrix_input(A, "solve_triangular", square=True)
    b = matrix_input(B, "solve_triangular")
    _same_dtype("solve_triangular", a, b)
    batch = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    a, b = a.expand(*batch, *a.shape[-2:]), b.expand(*batch, *b.shape[-2:])
    params = (("upper", builtins.bool(upper)), ("left", builtins.bool(left)),
              ("unitriangular", builtins.bool(unitriangular)))
    return apply_op("LinalgSolveTriangularBackward", _triangular, [a, b], params)


def _least_squares(a, b, rcond, vector):
    b = jnp.expand_dims(b, -1) if vector else b
    x = jnp.matmul(jnp.linalg.pinv(a, rcond), b)
    return x[..., 0] if vector else x


def _rank(a, rcond):
    s = jnp.linalg.svd(a, compute_uv=False)
    cutoff = rcond * jnp.max(s, axis=-1, keepdims=True, initial=0.0)
    return jnp.sum(s > cutoff, axis=-1, dtype=np.int64)


# lstsq's parts in NumPy for concrete real matrices: the svd primitive's computations and the
# compositions' operations in order (so the same bits), without their per-operation dispatch.

def _np_least_squares(a, b, rcond, vector):
    if a.dtype.char not in "fd":
        return None  # (complex: the composition)
    s, u, vt = _lapack.svd(a, full_matrices=False, compute_uv=True)
    with np.errstate(all="ignore"):  # (jnp.linalg.pinv's rule, with its cutoff fixed)
        cutoff = np.expand_dims(np.asarray(rcond, a.dtype) * np.max(s, axis=-1, initial=0.0),
                                -1)
        kept = s > cutoff
        s_inv = np.where(kept, 1.0 / np.where(kept, s, 1.0), 0.0)
        pseudo_inverse = np.matmul(np.swapaxes(vt, -1, -2),
                                   np.expand_dims(s_inv, -1) * np.swapaxes(u, -1, -2))
        x = np.matmul(pseudo_inverse, b[..., None] if vector else b)
    return x[..., 0] if vector else x


def _np_rank(a, rcond):
    if a.dtype.char not in "fd":
        return None
    s = _lapack.svd(a, full_matrices=False, compute_uv=False)[0]
    cutoff = rcond * np.max(s, axis=-1, keepdims=True, initial=0.0)
    return np.sum(s > cutoff, axis=-1, dtype=np.int64)


_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


def lstsq(A: Any, B: Any, rcond: Any = None, *, driver: str | None = None):
    """(solution, residuals, rank, singular_values) of min |A X - B|, PyTorch's CPU drivers:
    the minimum-norm solution (singular values up to rcond * the largest dropped; rcond
    defaults to max(m, n) * eps); rank for all but 'gels'; singular_values for 'gelsd' and
    'gelss'; residuals (squared, per column) for all but the default 'gelsy' when m > n and
    every matrix has full rank. The parts not computed are empty tensors, as in PyTorch."""
    a = matrix_input(A, "lstsq")
    b = _float_input(B, "lstsq")
    _same_dtype("lstsq", a, b)
    driver = "gelsy" if driver is None else driver
    if driver not in _DRIVERS:
        raise RuntimeError(f"torch.linalg.lstsq: parameter `driver` should be one of "
                           f"{_DRIVERS}, got {driver!r}")
    m, n = a.shape[-2:]
    rcond = builtins.max(m, n) * np.finfo(a.dtype).eps if rcond is None or rcond < 0 \
        else builtins.float(rcond)
    vector = _is_vector_rhs(a, b)
    if (b.shape[-1] if vector else b.shape[-2]) != m:
        raise RuntimeError(f"torch.linalg.lstsq: input.size(-2) should match other.size(-2) "
                           f"(A of shape {tuple(a.shape)}, B of shape {tuple(b.shape)})")
    solution = apply_op("LinalgLstsqBackward", _least_squares, [a, b],
                        (("rcond", rcond), ("vector", vector)), fast=_np_least_squares)
    empty = make_tensor(np.zeros((0,), a.real.dtype))
    rank = make_tensor(np.zeros((0,), np.int64)) if driver == "gels" else \
        apply_op("LinalgLstsqRank", _rank, [a], (("rcond", rcond),), fast=_np_rank)
    values = svdvals(a) if driver in ("gelsd", "gelss") else empty
    residuals = empty
    if driver != "gelsy" and m > n:
        full = _rank(a.detach().numpy(), 0.0 if driver == "gels" else rcond) == n
        if builtins.bool(np.all(full)):
            x = solution.unsqueeze(-1) if vector else solution
            rhs = b.unsqueeze(-1) if vector else b
            r = (a @ x - rhs).abs() ** 2
            residuals = r.sum(-2).squeeze(-1) if vector else r.sum(-2)
    return RETURN_TYPES["linalg_lstsq"](solution, residuals, rank, values)


# ---------------------------------------------------------------------------------------------
# Factorizations
# ---------------------------------------------------------------------------------------------

def _hermitian_from(a, lower):
    """The Hermitian matrix that a's lower (or upper) triangle stands for, with the tangent
    of (a + a^H) / 2: PyTorch reads one triangle, and its gradient is the symmetric one."""
    triangle = jnp.tril(a) if lower else jnp.triu(a)
    strict = jnp.tril(a, -1) if lower else jnp.triu(a, 1)
    read = triangle + jnp.conj(jnp.swapaxes(strict, -1, -2))
    symmetric = (a + jnp.conj(jnp.swapaxes(a, -1, -2))) * 0.5
    return symmetric + lax.stop_gradient(read - symmetric)


def _cholesky(a, upper):
    factor = jnp.linalg.cholesky(_hermitian_from(a, True), symmetrize_input=False)
    return jnp.conj(jnp.swapaxes(factor, -1, -2)) if upper else factor


def _np_cholesky(a, upper):
    factor = np.linalg.cholesky(a)
    return np.conj(np.swapaxes(factor, -1, -2)) if upper else factor


def cholesky(A: Any, *, upper: builtins.bool = False, out: Any = None) -> Tensor:
    """L with A = L @ L^H from A's lower triangle (U = L^H when upper); LinAlgError when A is
    not positive-definite."""
    t = matrix_input(A, "cholesky", square=True)
    return apply_op("LinalgCholeskyBackward", _cholesky, [t], (("upper", builtins.bool(upper)),),
                    fast=_checked("linalg.cholesky", _np_cholesky, _NOT_POSITIVE))


def _cholesky_info(a):
    """1 + the order of the first leading minor (of the Hermitian matrix a's lower triangle
    stands for) that is not positive, else 0: where Cholesky breaks down (Sylvester)."""
    read = jnp.tril(a) + jnp.conj(jnp.swapaxes(jnp.tril(a, -1), -1, -2))
    n = a.shape[-1]
    info = jnp.zeros(a.shape[:-2], np.int32)
    for k in range(n, 0, -1):  # (the first failing order wins: smaller k overwrite)
        sign = jnp.linalg.slogdet(read[..., :k, :k])[0]
        info = jnp.where(jnp.real(sign) > 0, info, np.int32(k))
    return info


def cholesky_ex(A: Any, *, upper: builtins.bool = False, check_errors: builtins.bool = False,
                out: Any = None):
    """(L, info): info is 0, or the order of the first leading minor that is not
    positive-definite (L then holds NaNs); check_errors=True raises instead. Concrete
    matrices take cholesky's NumPy factor (bit for bit) and LAPACK's info (_np_cholesky_ex)."""
    t = matrix_input(A, "cholesky_ex", square=True)
    params = (("upper", builtins.bool(upper)),)
    found = _np_cholesky_ex(t._value, upper) if _concrete([t]) else None
    factor_fast, info_fast = (None, None) if found is None else \
        ((lambda *_, **__: found[0]), (lambda *_: found[1]))
    info = apply_op("LinalgCholeskyExInfo", _cholesky_info, [t], fast=info_fast)
    if check_errors and builtins.bool(info.ne(0).any()):
        raise LinAlgError(f"linalg.cholesky_ex: {_NOT_POSITIVE}")
    factor = apply_op("LinalgCholeskyExBackward", _cholesky, [t], params, fast=factor_fast)
    return RETURN_TYPES["linalg_cholesky_ex"](factor, info)


def _np_cholesky_ex(a: np.ndarray, upper: builtins.bool) -> tuple | None:
    """(factor, info) of concrete matrices in one LAPACK pass when all are positive-definite.
    For a matrix that fails, info is found by bisection over the order k of the leading
    minor (every leading minor of a positive-definite matrix is positive-definite), each step
    one Cholesky of a[:k, :k]. Non-finite input is left to the composition (None)."""
    if a.dtype.char not in _LAPACK_TYPES or not np.isfinite(a).all():
        return None
    n = a.shape[-1]
    factor = _lapack.cholesky(a)  # (NaN for a matrix that fails, as the composition's)
    info = np.zeros(a.shape[:-2], np.int32)
    if n:
        failed = ~(factor[..., -1, -1].real > 0)
        stack = a.reshape((-1, n, n))
        flat_info = info.reshape(-1)
        for i in np.flatnonzero(failed.reshape(-1)):
            flat_info[i] = _first_failing_order(stack[i])
    if upper:
        factor = np.conj(np.swapaxes(factor, -1, -2))
    return factor, info


def _first_failing_order(matrix: np.ndarray) -> int:
    """The smallest k whose leading k x k minor has no Cholesky factor (matrix fails)."""
    low, high = 1, matrix.shape[-1]
    while low < high:
        middle = (low + high) // 2
        if _factorizes(matrix[:middle, :middle]):
            low = middle + 1
        else:
            high = middle
    return low


def _factorizes(matrix: np.ndarray) -> builtins.bool:
    """Whether LAPACK's potrf completes with a positive last pivot (it rejects pivots <= 0)."""
    try:
        with np.errstate(all="ignore"):
            pivot = np.linalg.cholesky(matrix)[-1, -1]
    except np.linalg.LinAlgError:
        return False
    return builtins.bool(pivot.real > 0)


def _qr(a, mode):
    return tuple(jnp.linalg.qr(a, "complete" if mode == "complete" else "reduced"))


def qr(A: Any, mode: str = "reduced", *, out: Any = None):
    """(Q, R) with A = Q @ R: Q (m, k) and R (k, n), k = min(m, n), for 'reduced'; Q (m, m)
    and R (m, n) for 'complete'; 'r' gives R and an empty Q."""
    t = matrix_input(A, "qr")
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of "
                           "'reduced' (default), 'r', or 'complete'")
    q, r = _outputs("LinalgQrBackward", _qr, [t], 2, (("mode", mode),))
    if mode == "r":
        q = make_tensor(np.zeros((0,), t.dtype))
    return RETURN_TYPES["linalg_qr"](q, r)


def _eigh(a, lower):
    return tuple(jnp.linalg.eigh(_hermitian_from(a, lower), symmetrize_input=False))


def _np_eigh(a, lower):
    """_eigh of concrete matrices: the eigh primitive's computation (LAPACK on the lower
    triangle) on the triangle PyTorch reads, without the composition's symmetrization (which
    gives the same matrix when a is Hermitian, and moves entries by an ulp when it is not)."""
    if a.dtype.char not in _LAPACK_TYPES:
        return None
    return tuple(_lapack.eigh(a if lower else np.conj(np.swapaxes(a, -1, -2))))


def _np_eigvalsh(a, lower):
    found = _np_eigh(a, lower)  # (eigh's values, as the composition's: not LAPACK's no-vector
    return None if found is None else found[0]  # driver, whose values may differ in ulps)


def _uplo(UPLO: str, op: str) -> builtins.bool:
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"linalg.{op}: Expected UPLO argument to be 'L' or 'U', but got "
                           f"{UPLO}")
    return UPLO == "L"


def eigh(A: Any, UPLO: str = "L", *, out: Any = None):
    """(eigenvalues ascending, eigenvectors as columns) of Hermitian matrices, from their UPLO
    triangle. Eigenvector gradients are undefined where eigenvalues repeat (inf/NaN)."""
    t = matrix_input(A, "eigh", square=True)
    w, v = _outputs("LinalgEighBackward", _eigh, [t], 2, (("lower", _uplo(UPLO, "eigh")),),
                    fast=_np_eigh)
    return RETURN_TYPES["linalg_eigh"](w, v)


def _eigvalsh(a, lower):
    return jnp.linalg.eigvalsh(_hermitian_from(a, lower), symmetrize_input=False)


def eigvalsh(A: Any, UPLO: str = "L", *, out: Any = None) -> Tensor:
    """The eigenvalues of Hermitian matrices (from their UPLO triangle), ascending."""
    t = matrix_input(A, "eigvalsh", square=True)
    return apply_op("LinalgEigvalshBackward", _eigvalsh, [t],
                    (("lower", _uplo(UPLO, "eigvalsh")),), fast=_np_eigvalsh)


def _svd(a, full_matrices):
    u, s, vh = jnp.linalg.svd(a, full_matrices=full_matrices)
    return u, s, vh


def svd(A: Any, full_matrices: builtins.bool = True, *, driver: Any = None, out: Any = None):
    """(U, S, Vh) with A = U @ diag(S) @ Vh, S descending. Gradients of U and Vh need
    full_matrices=False (or square A) and distinct non-zero singular values."""
    t = matrix_input(A, "svd")
    u, s, vh = _outputs("LinalgSvdBackward", _svd, [t], 3,
                        (("full_matrices", builtins.bool(full_matrices)),))
    return RETURN_TYPES["linalg_svd"](u, s, vh)


def _svdvals(a):
    return jnp.linalg.svd(a, compute_uv=False)


def svdvals(A: Any, *, driver: Any = None, out: Any = None) -> Tensor:
    """The singular values of each matrix, descending (differentiable everywhere)."""
    t = matrix_input(A, "svdvals")
    return apply_op("LinalgSvdvalsBackward", _svdvals, [t])


def _matrix_rank(a, atol, rtol):
    s = jnp.linalg.svd(a, compute_uv=False)
    cutoff = jnp.maximum(atol, rtol * jnp.max(s, axis=-1, keepdims=True, initial=0.0))
    return jnp.sum(s > cutoff, axis=-1, dtype=np.int64)


def matrix_rank(A: Any, *, atol: Any = None, rtol: Any = None, hermitian: builtins.bool = False,
                out: Any = None) -> Tensor:
    """The number of singular values above max(atol, rtol * the largest) (rtol defaults to
    max(m, n) * eps, or 0 when atol is given); an int64 tensor."""
    t = matrix_input(A, "matrix_rank")
    if rtol is None:
        rtol = 0.0 if atol is not None and atol > 0 else \
            builtins.max(t.shape[-2:]) * np.finfo(t.dtype).eps
    params = (("atol", builtins.float(0.0 if atol is None else atol)),
              ("rtol", builtins.float(rtol)))
    return apply_op("LinalgMatrixRank", _matrix_rank, [t], params)


def _lu_factor(a):
    lu, pivots = jsl.lu_factor(a)
    return lu, jnp.astype(pivots, np.int32) + np.int32(1)


def _np_lu_factor(a):
    """_lu_factor of concrete matrices: the lu primitive's own computation (getrf), called
    directly."""
    lu, pivots = _lapack.lu_factors(a)
    return lu, pivots.astype(np.int32) + np.int32(1)


def lu_factor(A: Any, *, pivot: builtins.bool = True, out: Any = None):
    """(LU, pivots): L (unit diagonal, below) and U packed in LU, and LAPACK's 1-based int32
    pivots (row i was swapped with row pivots[i] - 1)."""
    t = matrix_input(A, "lu_factor")
    if not pivot:
        raise RuntimeError("linalg.lu_factor: LU without pivoting is not implemented on the "
                           "CPU (as in PyTorch); use pivot=True")
    lu, pivots = _outputs("LinalgLuFactorBackward", _lu_factor, [t], 2, fast=_np_lu_factor)
    return RETURN_TYPES["linalg_lu_factor"](lu, pivots)


def lu_factor_ex(A: Any, *, pivot: builtins.bool = True, check_errors: builtins.bool = False,
                 out: Any = None):
    """(LU, pivots, info): lu_factor, with info 1 + the first zero pivot's position (0 when
    there is none); check_errors=True raises for a singular matrix instead."""
    t = matrix_input(A, "lu_factor_ex")
    lu, pivots = lu_factor(t, pivot=pivot)
    info = apply_op("LinalgLuFactorExInfo", _lu_info_of_factors, [lu],
                    fast=_np_lu_info_of_factors)
    if check_errors and builtins.bool(info.ne(0).any()):
        raise LinAlgError(f"linalg.lu_factor_ex: {_SINGULAR}")
    return RETURN_TYPES["linalg_lu_factor_ex"](lu, pivots, info)


def _lu(a):
    return tuple(jsl.lu(a))


def _np_lu(a):
    """_lu of concrete matrices: jsl.lu's steps in NumPy (getrf, then selections)."""
    factors, _, permutation = _lapack.lu(a)
    m, n = a.shape[-2:]
    k = builtins.min(m, n)
    rows = np.arange(m)[:, None]
    lower = np.where(rows > np.arange(k), factors[..., :, :k], np.eye(m, k, dtype=a.dtype))
    upper = np.where(np.arange(k)[:, None] <= np.arange(n), factors[..., :k, :], 0.0)
    p = (permutation[..., None, :] == rows).astype(a.dtype)
    return p, lower, upper


def lu(A: Any, *, pivot: builtins.bool = True, out: Any = None):
    """(P, L, U) with A = P @ L @ U: P a permutation matrix, L unit lower triangular (m, k),
    U upper triangular (k, n), k = min(m, n)."""
    t = matrix_input(A, "lu")
    if not pivot:
        raise RuntimeError("linalg.lu: LU without pivoting is not implemented on the CPU "
                           "(as in PyTorch); use pivot=True")
    p, lower, upper = _outputs("LinalgLuBackward", _lu, [t], 3, fast=_np_lu)
    return RETURN_TYPES["linalg_lu"](p, lower, upper)


def _eig(a):
    return tuple(jnp.linalg.eig(a))


def eig(A: Any, *, out: Any = None):
    """(eigenvalues, eigenvectors as columns), complex, of general square matrices. Without
    a derivative here: backward() through it raises (eigh is differentiable, for Hermitian
    matrices)."""
    t = matrix_input(A, "eig", square=True)
    w, v = _outputs("LinalgEigBackward", _eig, [t], 2)
    return RETURN_TYPES["linalg_eig"](w, v)


def _eigvals(a):
    return jnp.linalg.eigvals(a)


def eigvals(A: Any, *, out: Any = None) -> Tensor:
    """The (complex) eigenvalues of general square matrices; no derivative, as eig."""
    t = matrix_input(A, "eigvals", square=True)
    return apply_op("LinalgEigvalsBackward", _eigvals, [t])


def _tensorinv(a, ind):
    return jnp.linalg.tensorinv(a, ind)


def tensorinv(A: Any, ind: int = 2, *, out: Any = None) -> Tensor:
    """The inverse of A with respect to tensordot over its first ind dimensions."""
    t = _float_input(A, "tensorinv")
    return apply_op("LinalgTensorinvBackward", _tensorinv, [t], (("ind", int(ind)),),
                    fast=_checked("linalg.tensorinv", np.linalg.tensorinv, _SINGULAR))


def _tensorsolve(a, b, axes):
    return jnp.linalg.tensorsolve(a, b, axes)


def tensorsolve(A: Any, B: Any, dims: Any = None, *, out: Any = None) -> Tensor:
    """X with tensordot(A, X, X.ndim) = B (dims of A moved to the end first)."""
    a, b = _float_input(A, "tensorsolve"), _float_input(B, "tensorsolve")
    _same_dtype("tensorsolve", a, b)
    axes = None if dims is None else tuple(int(d) for d in dims)
    return apply_op("LinalgTensorsolveBackward", _tensorsolve, [a, b], (("axes", axes),),
                    fast=_checked("linalg.tensorsolve", np.linalg.tensorsolve, _SINGULAR))


def _lu_solve(lu, pivots, b, left, adjoint):
    factors = (lu, pivots - np.int32(1))
    solve_plain = lambda rhs: jsl.lu_solve(factors, rhs)  # noqa: E731
    solve_transposed = lambda rhs: jsl.lu_solve(factors, rhs, trans=1)  # noqa: E731
    if left:  # A X = B, or A^H X = B  <=>  A^T conj(X) = conj(B)
        return jnp.conj(solve_transposed(jnp.conj(b))) if adjoint else solve_plain(b)
    bt = jnp.swapaxes(b, -1, -2)  # X A = B  <=>  A^T X^T = B^T;  X A^H = B  <=>  A X^H = B^H
    x = jnp.conj(solve_plain(jnp.conj(bt))) if adjoint else solve_transposed(bt)
    return jnp.swapaxes(x, -1, -2)


def lu_solve(LU: Any, pivots: Any, B: Any, *, left: builtins.bool = True,
             adjoint: builtins.bool = False, out: Any = None) -> Tensor:
    """X with A X = B (A^H X = B when adjoint; X A = B when left=False), given lu_factor(A)."""
    lu = matrix_input(LU, "lu_solve", square=True)
    b = matrix_input(B, "lu_solve")
    _same_dtype("lu_solve", lu, b)
    piv = as_tensor_arg(pivots, "linalg.lu_solve pivots")
    if piv.dtype.kind not in "iu":
        raise RuntimeError(f"linalg.lu_solve: pivots should be an integer tensor, got {piv.dtype}")
    batch = tuple(np.broadcast_shapes(lu.shape[:-2], b.shape[:-2]))
    n = lu.shape[-1]
    lu, b = lu.expand(*batch, n, n), b.expand(*batch, *b.shape[-2:])
    piv = piv.type(np.int32).expand(*batch, n)
    params = (("left", builtins.bool(left)), ("adjoint", builtins.bool(adjoint)))
    return apply_op("LinalgLuSolveBackward", _lu_solve, [lu, piv, b], params)


# ---------------------------------------------------------------------------------------------
# Products and the rest
# ---------------------------------------------------------------------------------------------

def cross(input: Any, other: Any, *, dim: int = -1, out: Any = None) -> Tensor:  # noqa: A002
    """The cross product of 3-vectors along dim (the operands broadcast)."""
    from .functions import cross as cross_along

    a, b = as_tensor_arg(input), as_tensor_arg(other)
    if a.ndim != b.ndim:
        raise RuntimeError(f"linalg.cross: inputs must have the same number of dimensions, "
                           f"got {a.ndim} and {b.ndim}")
    shape = tuple(np.broadcast_shapes(a.shape, b.shape))
    if shape[dim] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got "
                           f"{a.shape[dim]} and {b.shape[dim]}")
    return cross_along(a.expand(shape), b.expand(shape), dim)


def _multi_dot(*xs):
    return jnp.linalg.multi_dot(list(xs))


def multi_dot(tensors: Sequence[Any], *, out: Any = None) -> Tensor:
    """The product of a chain of matrices in the cheapest order (the first may be a row
    vector, the last a column vector)."""
    ts = [as_tensor_arg(t, "linalg.multi_dot operand") for t in tensors]
    if len(ts) < 2:
        raise RuntimeError("multi_dot(): expected at least 2 tensors but got "
                           f"{len(ts)}")
    _same_dtype("multi_dot", *ts)
    return apply_op("LinalgMultiDotBackward", _multi_dot, ts)


def _cond(a, p):
    return jnp.linalg.cond(a, p)


def cond(A: Any, p: Any = None, *, out: Any = None) -> Tensor:
    """The condition number of each matrix in the norm p (the 2-norm by default)."""
    t = matrix_input(A, "cond", square=p not in (None, 2, -2))
    return apply_op("LinalgCondBackward", _cond, [t], (("p", p),))


def diagonal(A: Any, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """A view of the diagonals of A over dim1 and dim2 (Tensor.diagonal's defaults differ)."""
    return as_tensor_arg(A).diagonal(offset, dim1, dim2)


def vander(x: Any, *, N: int | None = None) -> Tensor:
    """The Vandermonde matrix of increasing powers: [..., i, j] = x[..., i] ** j, j < N."""
    t = as_tensor_arg(x, "linalg.vander x")
    if t.ndim == 0:
        raise RuntimeError("linalg.vander: x must have at least one dimension")
    n = t.shape[-1] if N is None else int(N)
    if n < 0:
        raise RuntimeError(f"linalg.vander: N must be non-negative, got {n}")
    return _powers(t, n)


def _powers(t: Tensor, n: int, increasing: builtins.bool = True) -> Tensor:
    """x ** 0, x, x * x, ... (n columns; the reverse order unless increasing) by repeated
    products: no 0 ** -1 in the derivative at x = 0, as a power's would have."""
    dt = dtypes.promote_types(t.dtype, dtypes.int64)  # (bool and small integers: int64)
    x = t if t.dtype == dt else t.type(dt)
    return apply_op("LinalgVanderBackward", _product_columns, [x],
                    (("n", n), ("increasing", builtins.bool(increasing))),
                    fast=_np_product_columns)


def _product_columns(x, n, increasing):
    columns = [jnp.ones_like(x)][:n]
    while len(columns) < n:
        columns.append(x if len(columns) == 1 else columns[-1] * x)
    if not n:
        return jnp.zeros((*x.shape, 0), x.dtype)
    return jnp.stack(columns if increasing else columns[::-1], -1)


def _np_product_columns(x, n, increasing):
    """_product_columns in NumPy: the same products in the same order (x, (x * x) * x, ...),
    each power a whole contiguous row at once; the result is the view with that axis moved
    last (reversed unless increasing): PyTorch's values, not its strides."""
    powers = np.empty((n, *x.shape), x.dtype)
    if n:
        powers[0] = 1
    if n > 1:
        powers[1] = x
    for k in range(2, n):
        np.multiply(powers[k - 1], x, out=powers[k])
    return np.moveaxis(powers if increasing else powers[::-1], 0, -1)


def vecdot(x: Any, y: Any, *, dim: int = -1, out: Any = None) -> Tensor:
    """sum(conj(x) * y) along dim (the operands broadcast)."""
    a, b = as_tensor_arg(x), as_tensor_arg(y)
    return (a.conj() * b).sum(dim)
