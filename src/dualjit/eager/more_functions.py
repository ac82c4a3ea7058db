"""More torch-spelled functions: dtype information, thread counts, and the numeric, bitwise,
set and index functions beyond functions.py (each recorded like the Tensor methods)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import lax
from .. import numpy as jnp
from ..ir import primitives as P
from ..nn.functions import fast_operands, negative_abs, quiet
from ..scipy import special as jss
from ..tracer.core import bind
from . import array_ops as A
from . import dtypes
from . import linalg as _linalg
from .errors import DtypeNotImplementedError, IndexRangeError
from .kernels import eager_kernel, float32_formula
from .return_types import RETURN_TYPES
from .tensor import (  # noqa: F401
    Tensor,
    apply_op,
    as_tensor_arg,
    concrete_value,
    is_grad_enabled,
    is_inference_mode_enabled,
    make_tensor,
    where,
)
from .tensor import take_along_dim as _take_along

__all__ = ["finfo", "iinfo", "get_num_threads", "set_num_threads",
           "is_inference_mode_enabled", "det", "slogdet", "logdet", "inverse", "svd",
           "matrix_exp",
           # elementwise math
           "erfc", "erfinv", "lgamma", "digamma", "i0", "sinc", "deg2rad", "rad2deg", "xlogy",
           "logaddexp", "logaddexp2", "heaviside", "isneginf", "isposinf", "isreal",
           # complex numbers
           "complex", "polar", "real", "imag", "conj", "conj_physical", "resolve_conj", "angle",
           "is_complex",
           "view_as_real", "view_as_complex",
           # bitwise
           "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_left_shift",
           "bitwise_right_shift",
           # products
           "addbmm", "addmv", "baddbmm", "kron", "vdot", "block_diag", "cartesian_prod",
           "combinations",
           # statistics and scans
           "cov", "corrcoef", "quantile", "nanmedian", "histc", "bincount", "dist",
           "trapezoid", "logcumsumexp", "msort",
           # sets and search
           "unique", "unique_consecutive", "searchsorted", "bucketize", "argwhere",
           # shapes and indexing
           "vsplit", "hsplit", "dsplit", "rot90", "diag_embed", "diagflat", "tril_indices",
           "triu_indices", "take_along_dim", "vander", "scatter_reduce", "is_nonzero"]


# ---------------------------------------------------------------------------------------------
# dtype information and threads
# ---------------------------------------------------------------------------------------------

class FloatInfo:
    """torch.finfo's fields as Python numbers (NumPy's finfo has NumPy scalars: its float32
    eps would make `1.0 + eps` float32 arithmetic)."""

    def __init__(self, d: np.dtype):
        info = np.finfo(d)
        self.bits = int(info.bits)
        self.eps, self.max, self.min = float(info.eps), float(info.max), float(info.min)
        self.tiny = self.smallest_normal = float(info.smallest_normal)
        self.resolution = float(info.resolution)
        self.dtype = str(info.dtype)

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution}, min={self.min}, max={self.max}, "
                f"eps={self.eps}, smallest_normal={self.smallest_normal}, tiny={self.tiny}, "
                f"dtype={self.dtype})")


def finfo(type: Any = None) -> FloatInfo:  # noqa: A002
    """Machine limits of a float dtype (the default float dtype when None): bits, eps, max,
    min, tiny, smallest_normal, resolution; a complex dtype gives its parts' float limits."""
    d = dtypes.get_default_dtype() if type is None else dtypes.to_numpy_dtype(type)
    if d.kind not in "fc":
        raise TypeError(f"finfo: expected a floating point or complex dtype, got {d}; use "
                        "dualjit.iinfo for integer dtypes")
    return FloatInfo(d)


def iinfo(type: Any) -> np.iinfo:  # noqa: A002
    """Machine limits of an integer dtype: bits, max, min."""
    d = dtypes.to_numpy_dtype(type)
    if d.kind not in "iu":
        raise TypeError(f"iinfo: expected an integer dtype, got {d}; use dualjit.finfo for "
                        "float dtypes")
    return np.iinfo(d)


def get_num_threads() -> int:
    """The threads dualjit's native kernels may use (DUALJIT_NUM_THREADS, else the cores
    this process may run on)."""
    from ..codegen import threads

    return threads.configured()


def set_num_threads(num: int) -> None:
    """Limit dualjit's native kernels to `num` threads (sets DUALJIT_NUM_THREADS, read on
    every call)."""
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, got {num!r}")
    os.environ["DUALJIT_NUM_THREADS"] = str(int(num))


# ---------------------------------------------------------------------------------------------
# torch.* spellings of linear algebra (dualjit.linalg has the rest)
# ---------------------------------------------------------------------------------------------

def det(input: Any) -> Tensor:  # noqa: A002
    return _linalg.det(input)


def inverse(input: Any, *, out: Any = None) -> Tensor:  # noqa: A002
    return _linalg.inv(input)


def matrix_exp(input: Any) -> Tensor:  # noqa: A002
    return _linalg.matrix_exp(input)


def slogdet(input: Any, *, out: Any = None):  # noqa: A002
    """(sign, logabsdet) as torch.slogdet's named tuple."""
    sign, logabsdet = _linalg.slogdet(input)
    return RETURN_TYPES["slogdet"](sign, logabsdet)


def _logdet(a):
    sign, logabsdet = jnp.linalg.slogdet(a)
    return jnp.where(sign < 0, np.nan, logabsdet)


def logdet(input: Any) -> Tensor:  # noqa: A002
    """log(det(A)): -inf for a singular matrix, NaN for a negative determinant."""
    t = _linalg.matrix_input(input, "logdet", square=True)
    return apply_op("LogdetBackward", _logdet, [t])


def svd(input: Any, some: bool = True, compute_uv: bool = True, *, out: Any = None):  # noqa: A002
    """torch.svd: (U, S, V) with A = U diag(S) V^H (V, not linalg.svd's Vh); reduced unless
    some=False; without compute_uv, U and V are zero-filled (m, m) and (n, n) matrices."""
    t = _linalg.matrix_input(input, "svd")
    if not compute_uv:
        m, n = t.shape[-2:]
        batch = tuple(t.shape[:-2])
        return RETURN_TYPES["svd"](make_tensor(np.zeros((*batch, m, m), t.dtype)),
                                   _linalg.svdvals(t),
                                   make_tensor(np.zeros((*batch, n, n), t.dtype)))
    u, s, vh = _linalg.svd(t, full_matrices=not some)
    return RETURN_TYPES["svd"](u, s, vh.mH)



# ---------------------------------------------------------------------------------------------
# Operands
# ---------------------------------------------------------------------------------------------

def _as_float(t: Tensor) -> Tensor:
    """t, or t converted to the default float dtype when it holds integers or bools."""
    return t if t.dtype.kind in "fc" else t.type(dtypes.get_default_dtype())


def real_float_input(x: Any, op: str) -> Tensor:
    t = as_tensor_arg(x, f"{op} input")
    if t.dtype.kind == "c":
        raise RuntimeError(f"{op}: complex tensors are not supported (got {t.dtype})")
    return _as_float(t)


def _operands(op: str, x: Any, y: Any, float_result: bool = True) -> list:
    """x and y (tensors or numbers) in their promoted dtype (a float one if float_result);
    numbers become constant arrays."""
    dt = dtypes.result_type(x, y)
    if float_result:
        dt = dtypes.float_result(dt)
    out = []
    for v in (x, y):
        if isinstance(v, Tensor):
            out.append(v if v.dtype == dt else v.type(dt))
        elif isinstance(v, (bool, int, float, np.ndarray, np.generic, list, tuple)):
            out.append(np.asarray(v, dt))
        else:
            raise TypeError(f"{op}: expected a Tensor or a number, got {type(v).__name__}")
    if not any(isinstance(v, Tensor) for v in out):
        out[0] = make_tensor(out[0])
    return out


def float_unary(name: str, fn: Any, op: str, compiled: bool = True, fast: Any = None):
    """A float elementwise function: integers and bools compute in the default float dtype.
    `compiled`: concrete values run as fn's compiled flat kernel (kernels.py), for formulas
    NumPy evaluates piece by piece; else `fast` (one NumPy call, as expm1) or fn."""
    fast = eager_kernel(fn, op, float32=float32_formula(op)) if compiled else fast

    def function(input: Any, *, out: Any = None) -> Tensor:  # noqa: A002
        return apply_op(name, fn, [real_float_input(input, op)], fast=fast)
    function.__name__ = function.__qualname__ = op
    function.__doc__ = f"dualjit.{op}(input): {fn.__doc__ or op}"
    return function


# ---------------------------------------------------------------------------------------------
# Elementwise math
# ---------------------------------------------------------------------------------------------

def _deg2rad(x):
    return x * (np.pi / 180)


def _rad2deg(x):
    return x * (180 / np.pi)


erfc = float_unary("ErfcBackward", jss.erfc, "erfc")
erfinv = float_unary("ErfinvBackward", jss.erfinv, "erfinv")
lgamma = float_unary("LgammaBackward", jss.gammaln, "lgamma")
digamma = float_unary("DigammaBackward", jss.digamma, "digamma")
i0 = float_unary("I0Backward", jnp.i0, "i0")
sinc = float_unary("SincBackward", jnp.sinc, "sinc")
deg2rad = float_unary("Deg2RadBackward", _deg2rad, "deg2rad", compiled=False)
rad2deg = float_unary("Rad2DegBackward", _rad2deg, "rad2deg", compiled=False)


def float_binary(name: str, fn: Any, op: str, fast: Any = None):
    """`fast`: fn's value in NumPy on concrete operands of one dtype (apply_op's)."""
    def function(input: Any, other: Any, *, out: Any = None) -> Tensor:  # noqa: A002
        return apply_op(name, fn, _operands(op, input, other), fast=fast)
    function.__name__ = function.__qualname__ = op
    function.__doc__ = f"dualjit.{op}(input, other): {fn.__doc__ or op}"
    return function


def _xlogy(x, y):
    return jss.xlogy(x, y)


@quiet
def _np_xlogy(x, y):
    """xlogy's value where no x is 0 (or y is NaN there): x * log(y); else the composition."""
    if not fast_operands(x, y):
        return None
    zero = np.equal(x, 0)
    if zero.any():
        return None
    return np.multiply(x, np.log(y))


def _np_logaddexp_into(x, y):
    """dualjit.numpy.logaddexp's value: max(x, y) + log1p(exp(-|x - y|)), the gap 0 where
    x == y (equal infinities)."""
    gap = np.subtract(x, y)
    equal = np.equal(x, y)
    if equal.any():
        gap[equal] = 0
    negative_abs(gap, out=gap)
    np.exp(gap, out=gap)
    np.log1p(gap, out=gap)
    return np.add(np.maximum(x, y), gap, out=gap)


@quiet
def _np_logaddexp(x, y):
    if not fast_operands(x, y):
        return None
    return _np_logaddexp_into(x, y)


@quiet
def _np_logaddexp2(x, y):
    if not fast_operands(x, y):
        return None
    ln2 = math.log(2.0)
    out = _np_logaddexp_into(np.multiply(x, ln2), np.multiply(y, ln2))
    return np.divide(out, ln2, out=out)


xlogy = float_binary("XlogyBackward", _xlogy, "xlogy", _np_xlogy)
logaddexp = float_binary("LogaddexpBackward", jnp.logaddexp, "logaddexp", _np_logaddexp)
logaddexp2 = float_binary("Logaddexp2Backward", jnp.logaddexp2, "logaddexp2", _np_logaddexp2)


def heaviside(input: Any, values: Any, *, out: Any = None) -> Tensor:  # noqa: A002
    """0 where input < 0, values where input == 0, 1 where input > 0 (same dtypes required)."""
    x, v = as_tensor_arg(input), as_tensor_arg(values, "heaviside values")
    if x.dtype != v.dtype:
        raise RuntimeError(f"heaviside is not yet implemented for tensors with different "
                           f"dtypes ({x.dtype} and {v.dtype})")
    if x.dtype.kind == "c":
        raise RuntimeError("heaviside is not yet implemented for complex tensors.")
    step = (x > 0).type(x.dtype)
    return _where(x == 0, v, step)


def _where(condition: Tensor, x: Tensor, y: Tensor) -> Tensor:
    from .tensor import where

    return where(condition, x, y)


def isneginf(input: Any, *, out: Any = None) -> Tensor:  # noqa: A002
    t = as_tensor_arg(input)
    if t.dtype.kind == "c":
        raise RuntimeError("isneginf does not support complex inputs.")
    return t == -np.inf if t.dtype.kind == "f" else make_tensor(np.zeros(t.shape, bool))


def isposinf(input: Any, *, out: Any = None) -> Tensor:  # noqa: A002
    t = as_tensor_arg(input)
    if t.dtype.kind == "c":
        raise RuntimeError("isposinf does not support complex inputs.")
    return t == np.inf if t.dtype.kind == "f" else make_tensor(np.zeros(t.shape, bool))


def isreal(input: Any) -> Tensor:  # noqa: A002
    """True where the imaginary part is 0 (everywhere for a real tensor)."""
    t = as_tensor_arg(input)
    if t.dtype.kind != "c":
        return make_tensor(np.ones(t.shape, bool))
    return t.imag == 0


# ---------------------------------------------------------------------------------------------
# Complex numbers
# ---------------------------------------------------------------------------------------------

def _complex(re, im):
    return bind(P.complex_p, re, im)


def complex(real: Any, imag: Any, *, out: Any = None) -> Tensor:  # noqa: A001
    """real + i imag, both float tensors of one dtype (float32 gives complex64)."""
    re, im = as_tensor_arg(real, "complex real"), as_tensor_arg(imag, "complex imag")
    if re.dtype != im.dtype or re.dtype.kind != "f":
        raise RuntimeError(f"complex: expected both inputs to be float or double tensors of "
                           f"one dtype, got {re.dtype} and {im.dtype}")
    return apply_op("ComplexBackward", _complex, [re, im])


def _polar(r, theta):
    return _complex(r * jnp.cos(theta), r * jnp.sin(theta))


def polar(abs: Any, angle: Any, *, out: Any = None) -> Tensor:  # noqa: A002
    """abs * (cos(angle) + i sin(angle))."""
    r, theta = as_tensor_arg(abs, "polar abs"), as_tensor_arg(angle, "polar angle")
    if r.dtype != theta.dtype or r.dtype.kind != "f":
        raise RuntimeError(f"polar: expected abs and angle to be float or double tensors of "
                           f"one dtype, got {r.dtype} and {theta.dtype}")
    return apply_op("PolarBackward", _polar, [r, theta])


def real(input: Any) -> Tensor:  # noqa: A002
    return as_tensor_arg(input).real


def imag(input: Any) -> Tensor:  # noqa: A002
    return as_tensor_arg(input).imag


def conj(input: Any) -> Tensor:  # noqa: A002
    return as_tensor_arg(input).conj()


def conj_physical(input: Any) -> Tensor:  # noqa: A002
    """conj(): dualjit's conjugate is always computed (there is no lazy conjugate bit)."""
    return as_tensor_arg(input).conj()


def resolve_conj(input: Any) -> Tensor:  # noqa: A002
    """input itself: dualjit's conj() computes at once (no lazy conjugate bit to resolve)."""
    return as_tensor_arg(input)


def angle(input: Any, *, out: Any = None) -> Tensor:  # noqa: A002
    """The argument of complex numbers; for real ones 0 (x >= 0) or pi (x < 0)."""
    t = as_tensor_arg(input)
    return _as_float(t).angle() if t.dtype.kind != "c" else t.angle()


def is_complex(input: Any) -> bool:  # noqa: A002
    return as_tensor_arg(input).is_complex()


def view_as_real(input: Any) -> Tensor:  # noqa: A002
    """A complex tensor's (real, imag) pairs along a new last dimension. A copy: dualjit
    tensors cannot reinterpret storage, so writes to it do not reach the input."""
    t = as_tensor_arg(input)
    if t.dtype.kind != "c":
        raise RuntimeError("view_as_real is only supported for complex tensors")
    from .functions import stack

    return stack([t.real, t.imag], -1)


def view_as_complex(input: Any) -> Tensor:  # noqa: A002
    """Pairs along a last dimension of size 2 as complex numbers (a copy, as view_as_real)."""
    t = as_tensor_arg(input)
    if t.dtype.kind != "f" or t.ndim == 0 or t.shape[-1] != 2:
        raise RuntimeError(f"view_as_complex: expected a float tensor whose last dimension "
                           f"has size 2, got {t.dtype} of shape {tuple(t.shape)}")
    return complex(t[..., 0], t[..., 1])


# ---------------------------------------------------------------------------------------------
# Bitwise (integers and bools only, as PyTorch)
# ---------------------------------------------------------------------------------------------

def _integer_operand(x: Any, op: str) -> Any:
    kind = x.dtype.kind if isinstance(x, Tensor) else np.asarray(x).dtype.kind
    if kind not in "biu":
        dtype = x.dtype if isinstance(x, Tensor) else type(x).__name__
        raise DtypeNotImplementedError(f"{op}: only integer and bool tensors are supported, "
                                       f"got {dtype}")
    return x


def _shift(input: Any, other: Any, left: bool) -> Tensor:  # noqa: A002
    """input << other or input >> other in the promoted integer dtype, with PyTorch's
    results for shifts by a negative count or by the width or more (C leaves them
    undefined): 0 to the left, the sign (0 or -1) to the right."""
    op = "bitwise_left_shift" if left else "bitwise_right_shift"
    rt = dtypes.result_type(input, other)
    if rt.kind not in "iu":
        raise DtypeNotImplementedError(f"{op}: only integer tensors are supported, got {rt}")
    a = np.asarray(_value_of(input, op), dtype=rt)
    b = np.asarray(_value_of(other, op)).astype(rt)
    bits = rt.itemsize * 8
    outside = (b < 0) | (b >= bits)
    count = np.where(outside, 0, b).astype(rt)
    if left:
        out = np.where(outside, 0, np.left_shift(a, count))
    else:
        out = np.where(outside, np.right_shift(a, bits - 1), np.right_shift(a, count))
    return make_tensor(np.asarray(out, dtype=rt))


def _value_of(x: Any, op: str) -> Any:
    return concrete_value(x, op) if isinstance(x, Tensor) else x


def bitwise_left_shift(input: Any, other: Any, *, out: Any = None) -> Tensor:  # noqa: A002
    return _shift(input, other, True)


def bitwise_right_shift(input: Any, other: Any, *, out: Any = None) -> Tensor:  # noqa: A002
    return _shift(input, other, False)


def bitwise_and(input: Any, other: Any, *, out: Any = None) -> Tensor:  # noqa: A002
    x = as_tensor_arg(_integer_operand(input, "bitwise_and"))
    return x & _integer_operand(other, "bitwise_and")


def bitwise_or(input: Any, other: Any, *, out: Any = None) -> Tensor:  # noqa: A002
    x = as_tensor_arg(_integer_operand(input, "bitwise_or"))
    return x | _integer_operand(other, "bitwise_or")


def bitwise_xor(input: Any, other: Any, *, out: Any = None) -> Tensor:  # noqa: A002
    x = as_tensor_arg(_integer_operand(input, "bitwise_xor"))
    return x ^ _integer_operand(other, "bitwise_xor")


def bitwise_not(input: Any, *, out: Any = None) -> Tensor:  # noqa: A002
    return ~as_tensor_arg(_integer_operand(input, "bitwise_not"))


# ---------------------------------------------------------------------------------------------
# Products
# ---------------------------------------------------------------------------------------------

def scaled_sum(input: Any, product: Tensor, beta: Any, alpha: Any) -> Tensor:
    """beta * input + alpha * product; input is ignored (NaN included) when beta is 0."""
    out = product if alpha == 1 else product * alpha
    if beta == 0:
        x = as_tensor_arg(input)
        shape = np.broadcast_shapes(x.shape, out.shape)
        if x.requires_grad:  # (PyTorch keeps input in the graph, with a zero gradient)
            return where(make_tensor(np.zeros(shape, np.bool_)), x, out)
        return out.expand(shape).clone()
    return (input if beta == 1 else input * beta) + out


def addbmm(input: Any, batch1: Tensor, batch2: Tensor, *, beta: Any = 1,  # noqa: A002
           alpha: Any = 1, out: Any = None) -> Tensor:
    """beta * input + alpha * sum over b of batch1[b] @ batch2[b]."""
    from .functions import einsum

    return scaled_sum(input, einsum("bij,bjk->ik", batch1, batch2), beta, alpha)


def addmv(input: Any, mat: Tensor, vec: Tensor, *, beta: Any = 1, alpha: Any = 1,  # noqa: A002
          out: Any = None) -> Tensor:
    """beta * input + alpha * (mat @ vec)."""
    return scaled_sum(input, as_tensor_arg(mat).mv(vec), beta, alpha)


def baddbmm(input: Any, batch1: Tensor, batch2: Tensor, *, beta: Any = 1,  # noqa: A002
            alpha: Any = 1, out: Any = None) -> Tensor:
    """beta * input + alpha * (batch1 @ batch2), batch by batch."""
    return scaled_sum(input, as_tensor_arg(batch1).bmm(batch2), beta, alpha)


def _kron(a, b):
    return jnp.kron(a, b)


def kron(input: Any, other: Any, *, out: Any = None) -> Tensor:  # noqa: A002
    """The Kronecker product (the operand with fewer dimensions gets leading 1s)."""
    x, y = as_tensor_arg(input, "kron input"), as_tensor_arg(other, "kron other")
    # (PyTorch reshapes both to one rank first: a 0-d operand's dtype counts in full)
    dt = dtypes.promote_types(x._value.dtype, y._value.dtype)
    return apply_op("KronBackward", _kron, [x.type(dt), y.type(dt)])


def vdot(input: Any, other: Any, *, out: Any = None) -> Tensor:  # noqa: A002
    """sum(conj(input) * other) of two 1-D tensors of one dtype."""
    x, y = as_tensor_arg(input), as_tensor_arg(other)
    if x.ndim != 1 or y.ndim != 1 or x.shape != y.shape:
        raise RuntimeError(f"vdot: expected two 1-D tensors of one size, got shapes "
                           f"{tuple(x.shape)} and {tuple(y.shape)}")
    if x.dtype != y.dtype:
        raise RuntimeError(f"vdot: expected both vectors to have same dtype, but found "
                           f"{x.dtype} and {y.dtype}")
    return (x.conj() * y).sum()


def block_diag(*tensors: Any) -> Tensor:
    """The tensors (0-d: 1x1, 1-D: one row) as the blocks of a block-diagonal matrix."""
    from .functions import cat

    ts = [as_tensor_arg(t, "block_diag operand") for t in tensors]
    if not ts:
        return make_tensor(np.zeros((1, 0), dtypes.get_default_dtype()))
    dt = dtypes.result_type(*ts)
    for t in ts:
        if t.ndim > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer "
                               f"dimensions. Input has {t.ndim} dimensions")
    if not (is_grad_enabled() and any(t.requires_grad for t in ts)) and \
            all(type(t._value) is np.ndarray for t in ts):
        return make_tensor(_np_block_diag([t._value for t in ts], dtypes.to_numpy_dtype(dt)))
    blocks = [t.type(dt) if t.ndim == 2 else t.type(dt).reshape(1, t.numel()) for t in ts]
    width = sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        r, c = b.shape
        pieces = [b.new_zeros(r, left), b, b.new_zeros(r, width - left - c)]
        rows.append(cat(pieces, 1))
        left += c
    return cat(rows, 0)


def _np_block_diag(values: list, dtype: np.dtype) -> np.ndarray:
    """The blocks (0-d and 1-D values as one row) written into zeros, as the recorded path's
    zero pieces and concatenations place them (a 2-D block with no rows still takes columns)."""
    blocks = [v if v.ndim == 2 else v.reshape(1, -1) for v in values]
    out = np.zeros((sum(b.shape[0] for b in blocks), sum(b.shape[1] for b in blocks)), dtype)
    row = col = 0
    for b in blocks:
        out[row:row + b.shape[0], col:col + b.shape[1]] = b
        row, col = row + b.shape[0], col + b.shape[1]
    return out


def cartesian_prod(*tensors: Any) -> Tensor:
    """Every combination of one element of each 1-D tensor, as rows (one tensor: itself)."""
    from .functions import meshgrid, stack

    ts = [as_tensor_arg(t, "cartesian_prod operand") for t in tensors]
    if any(t.ndim != 1 for t in ts):
        raise RuntimeError("cartesian_prod: expect a 1D vector for each input")
    if len(ts) == 1:
        return ts[0]
    grids = meshgrid(*ts, indexing="ij")
    return stack([g.reshape(-1) for g in grids], 1)


def combinations(input: Any, r: int = 2, with_replacement: bool = False) -> Tensor:  # noqa: A002
    """The length-r combinations of a 1-D tensor's elements as rows (itertools' order)."""
    t = as_tensor_arg(input)
    if t.ndim != 1:
        raise RuntimeError(f"combinations: Expect a 1D vector, but got shape {tuple(t.shape)}")
    if r < 0:
        raise RuntimeError(f"combinations: Expect a non-negative number, but got {r}")
    if r == 0:  # (PyTorch's empty result; the old reshape of [()] to (-1, 0) raised)
        return t.new_zeros(0)
    index = _combination_index(t.shape[0], r, with_replacement)
    if index.size == 0:
        return t.new_zeros(0, r)
    return t.index_select(0, index.reshape(-1)).reshape(-1, r)


def _combination_index(n: int, r: int, with_replacement: bool) -> np.ndarray:
    """itertools.combinations(range(n), r) (or with replacement) as an (count, r) array, in
    itertools' lexicographic order, one column at a time: each row is followed by every
    larger (or not smaller) element, in increasing order."""
    index = np.arange(n, dtype=np.int64)[:, None]
    for _ in range(r - 1):
        first = index[:, -1] if with_replacement else index[:, -1] + 1
        counts = n - first
        rows = np.repeat(np.arange(len(index)), counts)
        step = np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
        index = np.concatenate([index[rows], (first[rows] + step)[:, None]], axis=1)
    return index


# ---------------------------------------------------------------------------------------------
# Statistics and scans
# ---------------------------------------------------------------------------------------------

def cov(input: Any, *, correction: int = 1, fweights: Any = None,  # noqa: A002
        aweights: Any = None) -> Tensor:
    """The covariance matrix of the variables in input's rows (observations in columns);
    a 0-d tensor for 1-D input."""
    x = as_tensor_arg(input)
    if x.ndim > 2:
        raise ValueError(f"cov(): expected input to have two or fewer dimensions but got an "
                         f"input with {x.ndim} dimensions")
    if x.dtype == np.bool_:
        raise RuntimeError("cov(): bool dtype is not supported for input")
    x = _as_float(x if x.ndim == 2 else x.reshape(1, -1))
    if aweights is not None:  # (float weights of more precision widen the result, as PyTorch)
        aw = as_tensor_arg(aweights, "cov aweights").dtype
        if aw.kind == "f":
            x = x.type(dtypes.promote_types(x.dtype, aw))
    n = x.shape[1]
    w = None
    for given, what in ((fweights, "fweights"), (aweights, "aweights")):
        if given is not None:
            g = as_tensor_arg(given, f"cov {what}")
            if g.ndim > 1 or g.numel() != n:
                raise ValueError(f"cov(): expected {what} to have one dimension of size {n}")
            if what == "fweights" and g.dtype.kind not in "iu":
                raise ValueError("cov(): expected fweights to have integral dtype")
            g = g.type(x.real.dtype)
            w = g if w is None else w * g
    if w is not None and type(w._value) is np.ndarray and not w._value.sum():
        raise RuntimeError("cov(): weights sum to zero, can't be normalized")
    if w is None:
        mean = x.mean(1, keepdim=True)
        total = n
        norm = n - correction
    else:
        total = w.sum()
        mean = (x * w).sum(1, keepdim=True) / total
        norm = total - correction if aweights is None else \
            total - correction * (w * as_tensor_arg(aweights).type(x.real.dtype)).sum() / total
    centered = x - mean
    weighted = centered if w is None else centered * w
    if isinstance(norm, (int, float)):
        norm = max(norm, 0)
    else:
        norm = norm.clamp(min=0)
    out = (weighted @ centered.mH) / norm
    # (one variable gives a 0-d tensor, as PyTorch and NumPy, whether input is 1-D or a row)
    return out.reshape(()) if out.shape == (1, 1) else out


def corrcoef(input: Any) -> Tensor:  # noqa: A002
    """Pearson correlation coefficients of the variables in input's rows, clipped to
    [-1, 1] (real parts) as PyTorch."""
    c = cov(input)
    if c.ndim == 0:
        return c / c
    d = c.diagonal()
    stddev = d.real.sqrt() if c.is_complex() else d.sqrt()
    c = c / stddev.unsqueeze(1) / stddev.unsqueeze(0)
    if c.is_complex():
        return complex(c.real.clamp(-1, 1), c.imag.clamp(-1, 1))
    return c.clamp(-1, 1)


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(x, q, axis, keepdims, method):
    return jnp.quantile(x, q, axis=axis, keepdims=keepdims, method=method)


def quantile(input: Any, q: Any, dim: Any = None, keepdim: bool = False, *,  # noqa: A002
             interpolation: str = "linear", out: Any = None) -> Tensor:
    """The q-th quantiles over dim (all elements when None); a 1-D q puts its dimension
    first. NaN where a slice holds a NaN."""
    x = as_tensor_arg(input)
    if x.dtype.kind != "f":
        raise RuntimeError(f"quantile() input tensor must be either float or double dtype, "
                           f"got {x.dtype}")
    if x.numel() == 0:  # (NumPy's and JAX's quantile of nothing is NaN)
        raise RuntimeError("quantile() input tensor must be non-empty")
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(f"quantile() interpolation must be one of {_INTERPOLATIONS}. Got "
                           f"{interpolation!r}")
    if isinstance(q, Tensor) and q.dtype != x.dtype:
        raise RuntimeError(f"quantile() q tensor must be same dtype as the input tensor "
                           f"({q.dtype} and {x.dtype})")
    qv = q._value if isinstance(q, Tensor) else np.asarray(q, x.dtype)
    if np.ndim(qv) > 1:
        raise RuntimeError("quantile() q must be a scalar or 1D tensor")
    qc = np.asarray(qv)
    if qc.size and (np.any(qc < 0) or np.any(qc > 1)):
        raise RuntimeError("quantile() q values must be in the range [0, 1]")
    qt = q if isinstance(q, Tensor) else np.asarray(qv, x.dtype)
    # (a 0-d input has no dimension to keep: PyTorch's result is q's shape)
    params = (("axis", None if dim is None else int(dim)),
              ("keepdims", bool(keepdim) and x.ndim > 0), ("method", interpolation))
    return apply_op("QuantileBackward", _quantile, [x, qt], params, fast=_np_quantile)


def _np_quantile(x, q, axis, keepdims, method):
    """_quantile (dualjit.numpy.quantile) in NumPy: its operations in order on the same
    dtypes, so the same bits; None (the composition) for empty slices."""
    a = x.reshape(1) if x.ndim == 0 else x
    nd = a.ndim
    axes = tuple(range(nd)) if axis is None else (axis % nd,)
    kept = [d for d in range(nd) if d not in axes]
    rows = np.transpose(a, kept + list(axes)).reshape([a.shape[d] for d in kept] + [-1])
    n = rows.shape[-1]
    if n == 0 or not -nd <= (axis or 0) < nd:
        return None
    dt = rows.dtype
    q = np.asarray(q).astype(dt, copy=False)
    count, last = dt.type(n), dt.type(n - 1)
    lead = rows.shape[:-1]
    q_b = q.reshape(q.shape + (1,) * len(lead)) if q.ndim else q
    if method == "linear":  # (Hyndman and Fan 7: alpha = beta = 1)
        position = np.clip((count * q_b + (1.0 + q_b * -1.0)) - 1, 0, last)
    else:
        position = q_b * last
    position = np.broadcast_to(position, q.shape + lead)
    ordered = np.sort(rows, axis=-1)

    def gather(index):
        flat = np.arange(math.prod(lead), dtype=np.int64).reshape(lead) * n
        return ordered.reshape(-1)[flat + index.astype(np.int64)]

    low = np.clip(np.floor(position), 0, last)
    fraction = position - low
    below = gather(low)
    if method == "lower":
        found = below
    elif method == "higher":
        found = gather(np.clip(np.ceil(position), 0, last))
    elif method == "nearest":
        found = gather(np.clip(np.rint(position), 0, last))
    else:
        above = gather(np.clip(low + 1, 0, last))
        if method == "midpoint":
            found = np.where(fraction == 0, below, (below + above) * 0.5)
        else:
            t = np.clip(fraction, 0, 1)
            d = above - below
            found = np.where(t < 0.5, below + d * t, above - d * (1 - t))
    found = np.where(np.isnan(rows).any(-1), np.nan, found).astype(dt, copy=False)
    if not keepdims:
        return found
    rest = iter(found.shape[q.ndim:])
    return found.reshape(found.shape[:q.ndim] + tuple(1 if d in axes else next(rest)
                                                      for d in range(nd)))


def nanmedian(input: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A002
    """The lower median of the non-NaN values (NaN when all are NaN); with dim, the
    (values, indices) named tuple, as median."""
    x = as_tensor_arg(input)
    if dim is None:
        flat = x.reshape(-1)
        value = concrete_value(flat, "nanmedian")
        if value.size == 0:
            return make_tensor(np.array(np.nan, x.dtype))
        return flat[A.np_median_index(value, True)]
    d = int(dim) % max(x.ndim, 1)
    if x.ndim == 0:
        return RETURN_TYPES["nanmedian"](x.clone(), make_tensor(np.zeros((), np.int64)))
    value = concrete_value(x, "nanmedian")
    order = A.np_argsort(value, d, False)
    count = np.sum(~np.isnan(value), axis=d, keepdims=True) if value.dtype.kind in "fc" else \
        np.full([1 if i == d else n for i, n in enumerate(value.shape)], value.shape[d])
    middle = np.maximum(count - 1, 0) // 2
    index = np.take_along_axis(order, middle, d)
    values = take_along_dim(x, index, d)
    indices = make_tensor(index.astype(np.int64))
    if not keepdim:
        values, indices = values.squeeze(d), indices.squeeze(d)
    return RETURN_TYPES["nanmedian"](values, indices)


def histc(input: Any, bins: int = 100, min: Any = 0, max: Any = 0, *,  # noqa: A002
          out: Any = None) -> Tensor:
    """Counts in `bins` equal bins over [min, max] (the data's range when both are 0; the
    last bin includes max; elements outside are ignored), in input's float dtype."""
    x = as_tensor_arg(input)
    if x.dtype.kind != "f":
        raise RuntimeError(f"torch.histc: input tensor and bins must be of floating point "
                           f"dtype, got {x.dtype}")
    if bins <= 0:
        raise RuntimeError(f"torch.histc(): bins must be > 0, but got {bins}")
    value = concrete_value(x, "histc")
    lo, hi = float(min), float(max)
    if lo == hi and value.size:
        lo, hi = float(np.min(value)), float(np.max(value))
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise RuntimeError(f"torch.histc(): max must be larger than min (got {min}, {max})")
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise RuntimeError(f"torch.histc(): range of [{lo}, {hi}] is not finite")
    counts, _ = np.histogram(value[~np.isnan(value)], bins=int(bins), range=(lo, hi))
    return make_tensor(counts.astype(x.dtype))


def _bincount(w, x, length):
    return jnp.bincount(x, w, length=length)


def bincount(input: Any, weights: Any = None, minlength: int = 0) -> Tensor:  # noqa: A002
    """Occurrences (or summed weights: recorded, its derivative is exact) of each value of a
    1-D non-negative integer tensor; length max(input) + 1, at least minlength."""
    x = as_tensor_arg(input)
    if x.dtype.kind not in "iub" or x.ndim != 1:
        raise RuntimeError(f"bincount only supports 1-d non-negative integral inputs (got "
                           f"{x.dtype} of shape {tuple(x.shape)})")
    value = concrete_value(x, "bincount (its length depends on the values)")
    if value.size and value.min() < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if minlength < 0:
        raise RuntimeError("minlength should be >= 0")
    length = max(int(value.max()) + 1 if value.size else 0, int(minlength))
    if weights is None:
        return make_tensor(np.bincount(value, minlength=length).astype(np.int64))
    w = as_tensor_arg(weights, "bincount weights")
    if w.shape != x.shape:
        raise RuntimeError("weights should be 1-d and have the same length as input")
    if w.dtype.kind != "f":  # (integer and bool weights: float64, as PyTorch)
        w = w.type(np.float64)
    return apply_op("BincountBackward", _bincount, [w, value.astype(np.int64)],
                    (("length", length),))


def dist(input: Any, other: Any, p: Any = 2) -> Tensor:  # noqa: A002
    """The p-norm of input - other (broadcast), over all elements."""
    x, y = _operands("dist", input, other)
    return _linalg.vector_norm(x - y, p)


def _trapezoid(y, x, dx, axis):
    return jnp.trapezoid(y, x, dx=dx, axis=axis)


def trapezoid(y: Any, x: Any = None, *, dx: Any = None, dim: int = -1) -> Tensor:
    """The trapezoidal rule along dim, with sample points x or spacing dx (default 1)."""
    yt = _as_float(as_tensor_arg(y, "trapezoid y"))
    if x is not None and dx is not None:
        raise RuntimeError("trapezoid: give x or dx, not both")
    if x is None:
        if yt.ndim and yt.shape[int(dim)] == 0:  # (no samples: 0, as PyTorch)
            return yt.sum(int(dim))
        return apply_op("TrapezoidBackward", _trapezoid_dx, [yt],
                        (("dx", 1.0 if dx is None else float(dx)), ("axis", int(dim))),
                        fast=_np_trapezoid_dx)
    xt = as_tensor_arg(x, "trapezoid x")
    yt, xt = _operands("trapezoid", yt, xt)
    if yt.ndim and yt.shape[int(dim)] == 0:  # (no samples: 0, as PyTorch; the IR's slices of
        return yt.sum(int(dim))               # an empty x do not fit)
    return apply_op("TrapezoidBackward", _trapezoid_x, [yt, xt], (("axis", int(dim)),),
                    fast=_np_trapezoid_x)


def _trapezoid_dx(y, dx, axis):
    return jnp.trapezoid(y, dx=dx, axis=axis)


def _trapezoid_x(y, x, axis):
    return jnp.trapezoid(y, x, axis=axis)


# dualjit.numpy.trapezoid's operations in NumPy (same bits); None where its axis checks raise.

def _np_trapezoid_dx(y, dx, axis):
    return _np_trapezoid(y, dx, axis)


def _np_trapezoid_x(y, x, axis):
    if x.ndim == 0 or y.ndim == 0 or not -y.ndim <= axis < y.ndim:
        return None
    ax = axis % y.ndim
    along = -1 if x.ndim == 1 else ax
    if not -x.ndim <= along < x.ndim:
        return None
    widths = _np_slice(x, along % x.ndim, 1, None) - _np_slice(x, along % x.ndim, 0, -1)
    if x.ndim == 1:
        widths = widths.reshape([widths.size if d == ax else 1 for d in range(y.ndim)])
    return _np_trapezoid(y, widths, axis)


def _np_trapezoid(y, widths, axis):
    if y.ndim == 0 or not -y.ndim <= axis < y.ndim:
        return None
    ax = axis % y.ndim
    heights = _np_slice(y, ax, 1, None) + _np_slice(y, ax, 0, max(y.shape[ax] - 1, 0))
    total = np.sum(np.multiply(widths, heights), axis=(ax,))
    return np.asarray(total / 2.0)


def _np_slice(a, axis, start, stop):
    return a[(slice(None),) * axis + (slice(start, stop),)]


def _logcumsumexp(x, axis):
    return lax.cumlogsumexp(x, axis=axis)


def logcumsumexp(input: Any, dim: int, *, out: Any = None) -> Tensor:  # noqa: A002
    """log(cumsum(exp(input))) along dim, without overflow or underflow."""
    x = real_float_input(input, "logcumsumexp")
    if x.ndim == 0:
        return x.clone()
    return apply_op("LogcumsumexpBackward", _logcumsumexp, [x], (("axis", int(dim) % x.ndim),),
                    fast=_np_logcumsumexp)


def _np_logcumsumexp(x, axis):
    """The value in one NumPy pass (the IR's parallel prefix, evaluated operation by operation
    on concrete values, took 12 ms for 1,024 elements)."""
    return np.logaddexp.accumulate(x, axis=axis)


def msort(input: Any, *, out: Any = None) -> Tensor:  # noqa: A002
    """input sorted along its first dimension."""
    return as_tensor_arg(input).sort(0).values


# ---------------------------------------------------------------------------------------------
# Sets and search (values without a derivative: their results carry no gradient)
# ---------------------------------------------------------------------------------------------

def _values_for(t: Tensor, op: str) -> np.ndarray:
    return concrete_value(t, f"{op} (its result's shape depends on the values)")


def unique(input: Any, sorted: bool = True, return_inverse: bool = False,  # noqa: A002
           return_counts: bool = False, dim: int | None = None) -> Any:
    """The distinct values (sorted; or distinct slices along dim), with the inverse indices
    (input's positions in the output) and counts on request: a tensor, or a tuple."""
    t = as_tensor_arg(input)
    value = _values_for(t, "unique")
    if dim is None:
        found = np.unique(value.reshape(-1), return_inverse=True, return_counts=True)
        values, inverse, counts = found
        inverse = inverse.reshape(value.shape)
    else:
        d = int(dim) % max(t.ndim, 1)
        if value.shape[d] == 0 and value.size == 0 and t.ndim > 1:
            values, inverse, counts = value, np.zeros(0, np.int64), np.zeros(0, np.int64)
        else:
            values, inverse, counts = np.unique(value, return_inverse=True, return_counts=True,
                                                axis=d)
        inverse = inverse.reshape(-1)
    out = [make_tensor(np.ascontiguousarray(values).astype(t.dtype))]
    if return_inverse:
        out.append(make_tensor(inverse.astype(np.int64)))
    if return_counts:
        out.append(make_tensor(counts.astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


def unique_consecutive(input: Any, return_inverse: bool = False,  # noqa: A002
                       return_counts: bool = False, dim: int | None = None) -> Any:
    """input with each run of equal consecutive values (or slices along dim) kept once."""
    t = as_tensor_arg(input)
    value = _values_for(t, "unique_consecutive")
    d = 0 if dim is None else int(dim) % max(t.ndim, 1)
    x = value.reshape(-1) if dim is None else np.moveaxis(value, d, 0)
    if x.shape[0] == 0:
        starts = np.zeros(0, np.int64)
    else:
        width = int(np.prod(x.shape[1:]))
        changed = x[1:] != x[:-1]
        if width != 1:  # (a reduction over rows of one element costs more than the compare)
            changed = np.any(changed.reshape(x.shape[0] - 1, width), axis=1)
        starts = np.flatnonzero(np.concatenate([[True], changed.reshape(-1)]))
    kept = x[starts]
    values = kept if dim is None else np.moveaxis(kept, 0, d)
    out = [make_tensor(np.ascontiguousarray(values))]
    if return_inverse:
        runs = np.zeros(x.shape[0], np.int64)
        runs[starts[1:]] = 1
        inverse = np.cumsum(runs)
        out.append(make_tensor(inverse.reshape(value.shape) if dim is None else inverse))
    if return_counts:
        out.append(make_tensor(np.diff(np.append(starts, x.shape[0])).astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


def searchsorted(sorted_sequence: Any, input: Any, *, out_int32: bool = False,  # noqa: A002
                 right: bool = False, side: str | None = None, sorter: Any = None,
                 out: Any = None) -> Tensor:
    """Where each value would be inserted into the sorted last dimension of sorted_sequence
    (a 1-D sequence for every value, or one per leading index) to keep it sorted."""
    seq = _values_for(as_tensor_arg(sorted_sequence, "searchsorted sorted_sequence"),
                      "searchsorted")
    scalar = not isinstance(input, Tensor) and np.ndim(input) == 0
    values = _values_for(as_tensor_arg(input, "searchsorted input"), "searchsorted")
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"side can only be 'left' or 'right' but got {side!r}")
        if right and side == "left":
            raise RuntimeError("side and right can't be set to opposites")
        right = side == "right"
    if sorter is not None:
        order = _values_for(as_tensor_arg(sorter, "searchsorted sorter"), "searchsorted")
        seq = np.take_along_axis(seq, order, -1)
    how = "right" if right else "left"
    if seq.ndim <= 1:
        found = np.searchsorted(seq, values, side=how)
    else:
        if seq.shape[:-1] != values.shape[:-1]:
            raise RuntimeError(f"searchsorted: boundaries of shape {seq.shape} and input of "
                               f"shape {values.shape} must have the same leading dimensions")
        count = int(np.prod(seq.shape[:-1]))  # (not -1: a size-0 sequence is ambiguous)
        rows = seq.reshape(count, seq.shape[-1])
        vals = values.reshape(count, values.shape[-1])
        found = np.stack([np.searchsorted(r, v, side=how) for r, v in zip(rows, vals)]) \
            .reshape(values.shape)
    found = np.asarray(found, np.int32 if out_int32 else np.int64)
    return make_tensor(found.reshape(()) if scalar else found)


def bucketize(input: Any, boundaries: Any, *, out_int32: bool = False,  # noqa: A002
              right: bool = False, out: Any = None) -> Tensor:
    """The bucket of each value given 1-D sorted boundaries: i with boundaries[i-1] < x <=
    boundaries[i] (with right=True: boundaries[i-1] <= x < boundaries[i])."""
    b = as_tensor_arg(boundaries, "bucketize boundaries")
    if b.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({b.ndim})")
    return searchsorted(b, input, out_int32=out_int32, right=right)


def argwhere(input: Any) -> Tensor:  # noqa: A002
    """The indices of the non-zero elements, one row each (int64)."""
    return as_tensor_arg(input).nonzero()


# ---------------------------------------------------------------------------------------------
# Shapes and indexing
# ---------------------------------------------------------------------------------------------

def take_along_dim(input: Any, indices: Any, dim: int | None = None, *,  # noqa: A002
                   out: Any = None) -> Tensor:
    """input's values at indices along dim (the two broadcast over the other dimensions);
    over the flattened input when dim is None. Recorded as a gather."""
    x = as_tensor_arg(input)
    idx = as_tensor_arg(indices, "take_along_dim indices")
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"torch.take_along_dim(): dtype of indices should be int64 but got "
                           f"{idx.dtype}")
    if dim is None:
        return _take_along(x.reshape(-1), idx.reshape(-1), 0)
    if x.ndim != idx.ndim:
        raise RuntimeError(f"torch.take_along_dim(): input and indices should have the same "
                           f"number of dimensions, but input.dim()={x.ndim} and "
                           f"indices.dim()={idx.ndim}")
    d = int(dim) % max(x.ndim, 1)
    others = [tuple(1 if i == d else n for i, n in enumerate(t.shape)) for t in (x, idx)]
    shape = list(np.broadcast_shapes(*others))
    x = x.expand(*shape[:d], x.shape[d], *shape[d + 1:])
    idx = idx.expand(*shape[:d], idx.shape[d], *shape[d + 1:])
    return _take_along(x, idx, d)


def _split_along(op: str, t: Tensor, sections: Any, dim: int, min_ndim: int):
    if t.ndim < min_ndim:
        raise RuntimeError(f"torch.{op} requires a tensor with at least {min_ndim} dimension"
                           f"{'s' if min_ndim > 1 else ''}, but got a tensor with {t.ndim} "
                           "dimensions!")
    if isinstance(sections, (int, np.integer)) and t.shape[dim] % int(sections):
        raise RuntimeError(f"torch.{op} attempted to split along dimension {dim}, but the size "
                           f"of the dimension {t.shape[dim]} is not divisible by the "
                           f"split_size {sections}!")
    return t.tensor_split(sections, dim)


def vsplit(input: Any, indices_or_sections: Any) -> tuple:  # noqa: A002
    return _split_along("vsplit", as_tensor_arg(input), indices_or_sections, 0, 2)


def hsplit(input: Any, indices_or_sections: Any) -> tuple:  # noqa: A002
    t = as_tensor_arg(input)
    return _split_along("hsplit", t, indices_or_sections, 1 if t.ndim > 1 else 0, 1)


def dsplit(input: Any, indices_or_sections: Any) -> tuple:  # noqa: A002
    return _split_along("dsplit", as_tensor_arg(input), indices_or_sections, 2, 3)


def rot90(input: Any, k: int = 1, dims: Sequence = (0, 1)) -> Tensor:  # noqa: A002
    """input rotated by 90 degrees k times, from the first of dims towards the second."""
    t = as_tensor_arg(input)
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    a, b = (int(d) % t.ndim for d in dims) if t.ndim >= 2 else (None, None)
    if t.ndim < 2 or a == b:
        raise RuntimeError(f"rot90: expected two distinct dims of a tensor with at least 2 "
                           f"dimensions, got dims={tuple(dims)} for {t.ndim} dimensions")
    k = int(k) % 4
    if k == 1:
        return t.flip(b).transpose(a, b)
    if k == 2:
        return t.flip(a, b)
    if k == 3:
        return t.flip(a).transpose(a, b)
    return t.clone()


def diag_embed(input: Any, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:  # noqa: A002
    """Matrices (over dim1, dim2 of the result) with input's last dimension on their
    offset-th diagonal."""
    t = as_tensor_arg(input)
    x = t if t.ndim else t.reshape(1)
    out_ndim = x.ndim + 1
    d1, d2 = int(dim1) % out_ndim, int(dim2) % out_ndim
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return apply_op("DiagEmbedBackward", _diag_embed, [x],
                    (("offset", int(offset)), ("dim1", d1), ("dim2", d2)), fast=_np_diag_embed)


def _diag_embed(x, offset, dim1, dim2):
    """x's last axis on the offset-th diagonal of zero matrices, moved to (dim1, dim2)."""
    n, k = x.shape[-1], abs(offset)
    zero = jnp.zeros((), x.dtype)
    square = jnp.where(np.eye(n, dtype=bool), jnp.expand_dims(x, -1), zero)
    if k:  # (offset > 0: k zero rows below and k zero columns on the left; < 0: mirrored)
        rows = [square, jnp.zeros((*square.shape[:-2], k, n), x.dtype)]
        square = jnp.concatenate(rows if offset > 0 else rows[::-1], axis=-2)
        cols = [jnp.zeros((*square.shape[:-1], k), x.dtype), square]
        square = jnp.concatenate(cols if offset > 0 else cols[::-1], axis=-1)
    return jnp.moveaxis(square, (-2, -1), (dim1, dim2))


def _np_diag_embed(x, offset, dim1, dim2):
    """_diag_embed in NumPy: zeros with the diagonal written in place (no n x n select)."""
    n = x.shape[-1]
    size = n + abs(offset)
    square = np.zeros((*x.shape[:-1], size, size), x.dtype)
    rows = np.arange(n) + max(-offset, 0)
    square[..., rows, rows + offset] = x
    return np.moveaxis(square, (-2, -1), (dim1, dim2))


def diagflat(input: Any, offset: int = 0) -> Tensor:  # noqa: A002
    """A matrix with input's elements (flattened) on its offset-th diagonal."""
    return diag_embed(as_tensor_arg(input).reshape(-1), offset)


def _triangle_indices(op: str, row: int, col: int, offset: int, dtype: Any, lower: bool):
    if row < 0 or col < 0:
        raise RuntimeError(f"{op}: row and col must be non-negative, got {row} and {col}")
    mask = np.tri(row, col, offset, dtype=bool) if lower else ~np.tri(row, col, offset - 1,
                                                                       dtype=bool)
    d = dtypes.int64 if dtype is None else dtypes.to_numpy_dtype(dtype)
    return make_tensor(np.stack(np.nonzero(mask)).astype(d).reshape(2, -1))


def tril_indices(row: int, col: int, offset: int = 0, *, dtype: Any = None,
                 device: Any = None, layout: Any = None) -> Tensor:
    """The (2, N) coordinates of the lower triangle (at or below the offset-th diagonal)."""
    return _triangle_indices("tril_indices", int(row), int(col), int(offset), dtype, True)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype: Any = None,
                 device: Any = None, layout: Any = None) -> Tensor:
    """The (2, N) coordinates of the upper triangle (at or above the offset-th diagonal)."""
    return _triangle_indices("triu_indices", int(row), int(col), int(offset), dtype, False)


def vander(x: Any, N: int | None = None, increasing: bool = False) -> Tensor:
    """The Vandermonde matrix of a 1-D tensor: powers N-1 .. 0 (0 .. N-1 when increasing)."""
    t = as_tensor_arg(x)
    if t.ndim != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    n = t.shape[-1] if N is None else int(N)
    if n < 0:
        raise RuntimeError(f"vander: N must be non-negative, got {n}")
    return _linalg._powers(t, n, increasing)


_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


def _scatter_reduce(base, src, positions, reduce, include_self):
    flat = jnp.reshape(base, (-1,))
    values = jnp.reshape(src, (-1,))
    hit = np.zeros(flat.shape, bool)
    hit[positions] = True
    counts = np.bincount(positions, minlength=flat.shape[0])
    if reduce in ("sum", "mean"):
        start = flat if include_self else jnp.where(hit, jnp.zeros_like(flat), flat)
        out = jnp.at(start)[positions].add(values)
        if reduce == "mean":
            count = counts + (1 if include_self else 0)
            scale = np.where(count > 0, count, 1).astype(np.int64)
            out = jnp.where(hit, out / scale.astype(out.dtype) if out.dtype.kind in "fc" else
                            jnp.floor_divide(out, scale.astype(out.dtype)), out)
        return jnp.reshape(out, base.shape)
    identity = {"prod": 1, "amax": -np.inf, "amin": np.inf}[reduce]
    if base.dtype.kind in "iub" and reduce != "prod":
        info = np.iinfo(base.dtype) if base.dtype.kind != "b" else None
        identity = (info.min if reduce == "amax" else info.max) if info else identity
    start = flat if include_self else jnp.where(hit, jnp.full_like(flat, identity), flat)
    update = {"prod": "multiply", "amax": "max", "amin": "min"}[reduce]
    return jnp.reshape(getattr(jnp.at(start)[positions], update)(values), base.shape)


def scatter_reduce(input: Any, dim: int, index: Any, src: Any, reduce: str, *,  # noqa: A002
                   include_self: bool = True, out: Any = None) -> Tensor:
    """input with src's values reduced ('sum', 'prod', 'mean', 'amax', 'amin') into the
    positions index gives along dim (as scatter's addressing); include_self=False leaves
    input's own values out of the positions that receive something."""
    x = as_tensor_arg(input)
    if reduce not in _REDUCTIONS:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got "
                           f"{reduce}")
    s = as_tensor_arg(src, "scatter_reduce src")
    if s.dtype != x.dtype:
        raise RuntimeError(f"scatter_reduce(): Expected self.dtype to be equal to src.dtype "
                           f"({x.dtype} and {s.dtype})")
    idx = concrete_value(as_tensor_arg(index, "scatter_reduce index"), "scatter_reduce")
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"scatter_reduce(): Expected dtype int64 for index, got {idx.dtype}")
    d = int(dim) % max(x.ndim, 1)
    positions = A.along_positions(tuple(x.shape), idx.astype(np.int64), d).reshape(-1)
    used = s[tuple(slice(0, n) for n in idx.shape)] if s.ndim else s
    params = (("positions", tuple(positions.tolist())), ("reduce", reduce),
              ("include_self", bool(include_self)))
    return apply_op("ScatterReduceBackward", _scatter_reduce_params, [x, used], params)


def _scatter_reduce_params(base, src, positions, reduce, include_self):
    return _scatter_reduce(base, src, np.asarray(positions, np.int64), reduce, include_self)


def is_nonzero(input: Any) -> bool:  # noqa: A002
    """Whether a one-element tensor is not zero."""
    t = as_tensor_arg(input)
    if t.numel() == 0:
        raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
    if t.numel() > 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return bool(concrete_value(t, "is_nonzero").reshape(()) != 0)


# ---------------------------------------------------------------------------------------------
# Tensor methods: the functions above, and PyTorch's in-place forms
# ---------------------------------------------------------------------------------------------

def _as_method(function: Any, name: str) -> Any:
    def method(self, *args: Any, **kwargs: Any) -> Any:
        return function(self, *args, **kwargs)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"t.{name}(...) is dualjit.{function.__name__}(t, ...)."
    return method


_METHODS = {
    "erfinv": erfinv, "erfc": erfc, "lgamma": lgamma, "digamma": digamma, "i0": i0,
    "sinc": sinc, "deg2rad": deg2rad, "rad2deg": rad2deg, "xlogy": xlogy,
    "logaddexp": logaddexp, "logaddexp2": logaddexp2, "heaviside": heaviside,
    "isneginf": isneginf, "isposinf": isposinf, "isreal": isreal,
    "bitwise_and": bitwise_and, "bitwise_or": bitwise_or, "bitwise_xor": bitwise_xor,
    "bitwise_not": bitwise_not, "bitwise_left_shift": bitwise_left_shift,
    "bitwise_right_shift": bitwise_right_shift, "addbmm": addbmm, "addmv": addmv, "baddbmm": baddbmm,
    "kron": kron, "vdot": vdot, "cov": cov, "corrcoef": corrcoef, "quantile": quantile,
    "nanmedian": nanmedian, "histc": histc, "bincount": bincount, "dist": dist,
    "logcumsumexp": logcumsumexp, "msort": msort, "unique": unique,
    "unique_consecutive": unique_consecutive, "argwhere": argwhere, "vsplit": vsplit,
    "hsplit": hsplit, "dsplit": dsplit, "rot90": rot90, "diag_embed": diag_embed,
    "diagflat": diagflat, "take_along_dim": take_along_dim, "scatter_reduce": scatter_reduce,
    "is_nonzero": is_nonzero, "det": det, "slogdet": slogdet, "logdet": logdet,
    "inverse": inverse, "matrix_exp": matrix_exp, "svd": svd,
    "cross": lambda input, other, dim=None: _cross(input, other, dim),
    "resolve_conj": resolve_conj, "conj_physical": conj_physical,
}


def _cross(input: Any, other: Any, dim: Any) -> Tensor:  # noqa: A002
    """torch.cross's dim default: the first dimension of size 3 (linalg.cross uses -1)."""
    from .functions import cross as cross_along

    a = as_tensor_arg(input)
    if dim is None:
        dim = next((i for i, n in enumerate(a.shape) if n == 3), -1)
    return cross_along(a, other, dim)


def _square_(self: Tensor, method: str, view: Any) -> Tensor:
    """A shape-changing in-place method (squeeze_, t_, ...): self takes the view's shape and
    history. Refused on a view or on a tensor that may have views (dualjit finds a view's
    elements by their positions in its base's current shape, which this would change)."""
    from .tensor import check_inplace

    check_inplace(self)
    extra = self._extra
    if self._counter is not None or extra is not None and (
            extra.base is not None or extra.traced_views or extra.alias_of is not None):
        raise RuntimeError(f"{method}(): this tensor is (or may have) a view; changing its "
                           f"shape in place is not supported there. Use t = t.{method[:-1]}"
                           "(...) instead")
    out = view(self)
    self._value = np.asarray(out._value) if type(out._value) is np.ndarray else out._value
    self.grad_fn, self.requires_grad = out.grad_fn, out.requires_grad
    self._counter = None  # (made on first use, from grad_fn's if there is one: no view yet)
    if extra is None and self._extra is not None:  # (a traced view's note on its base)
        self._extra = None
    return self


def _squeeze_(self, dim=None):
    return _square_(self, "squeeze_", lambda t: t.squeeze(dim) if dim is not None
                    else t.squeeze())


def _unsqueeze_(self, dim):
    return _square_(self, "unsqueeze_", lambda t: t.unsqueeze(dim))


def _t_(self):
    return _square_(self, "t_", lambda t: t.t())


def _transpose_(self, dim0, dim1):
    return _square_(self, "transpose_", lambda t: t.transpose(dim0, dim1))


def _tril_(self, diagonal=0):
    from .tensor import inplace_op

    return inplace_op(self, "TrilBackward", A.tril, [], (("k", int(diagonal)),), fast=np.tril)


def _triu_(self, diagonal=0):
    from .tensor import inplace_op

    return inplace_op(self, "TriuBackward", A.triu, [], (("k", int(diagonal)),), fast=np.triu)


def _addmm(c, a, b, beta, alpha):
    product = jnp.matmul(a, b)
    return product * alpha if beta == 0 else c * beta + product * alpha


def _addmm_(self, mat1, mat2, *, beta=1, alpha=1):
    """self <- beta * self + alpha * (mat1 @ mat2)."""
    from .tensor import inplace_op

    a, b = as_tensor_arg(mat1, "addmm_ mat1"), as_tensor_arg(mat2, "addmm_ mat2")
    return inplace_op(self, "AddmmBackward", _addmm, [a, b], (("beta", beta), ("alpha", alpha)))


def _fill_diagonal_(self, fill_value, wrap=False):
    """Writes fill_value on the main diagonal (of a 2-D tensor, or all dimensions of one
    size); with wrap, a tall matrix's diagonal restarts every N + 1 rows, as NumPy's."""
    if self.ndim < 2:
        raise RuntimeError("dimensions must larger than 1")
    if self.ndim > 2 and len(set(self.shape)) != 1:
        raise RuntimeError("all dimensions of input must be of equal length")
    mask = np.zeros(tuple(self.shape), bool)
    np.fill_diagonal(mask, True, wrap=bool(wrap))
    return self.masked_fill_(make_tensor(mask), fill_value)


def _index_put_(self, indices, values, accumulate=False):
    """self[indices] = values (or += with accumulate, where repeated indices add up)."""
    key = tuple(indices) if isinstance(indices, (tuple, list)) else (indices,)
    if not accumulate:
        self[key] = values
        return self
    if any(isinstance(i, Tensor) and i.dtype == np.bool_ for i in key):
        key = tuple(j for i in key for j in (i.nonzero(as_tuple=True) if isinstance(
            i, Tensor) and i.dtype == np.bool_ else (i,)))
    if len(key) > self.ndim or not all(isinstance(i, Tensor) for i in key):
        raise NotImplementedError("index_put_(accumulate=True) needs at most one index tensor "
                                  f"per dimension ({self.ndim}), got {len(key)}")
    arrays = np.broadcast_arrays(*[np.asarray(concrete_value(as_tensor_arg(i), "index_put_"))
                                   for i in key])
    lead, tail = tuple(self.shape[:len(key)]), tuple(self.shape[len(key):])
    if any(a.size and (a.min() < -n or a.max() >= n) for a, n in zip(arrays, lead)):
        raise IndexRangeError(f"index_put_: an index is out of range for shape {lead}")
    base = np.ravel_multi_index(tuple(a % n for a, n in zip(arrays, lead)), lead)
    # (fewer index tensors than dimensions: whole slices along the rest, as PyTorch)
    m = int(np.prod(tail, dtype=np.int64))
    flat = (base[..., None] * m + np.arange(m)).reshape(base.shape + tail)
    source = as_tensor_arg(values, "index_put_ values").type(self.dtype).expand(flat.shape)
    return self.put_(make_tensor(flat.astype(np.int64)), source, accumulate=True)


def _masked_scatter_(self, mask, source):
    """Copies source's first elements, in order, to the positions where mask is True."""
    m = concrete_value(as_tensor_arg(mask, "masked_scatter_ mask"), "masked_scatter_")
    if m.dtype != np.bool_:
        raise RuntimeError(f"masked_scatter_ only supports boolean masks, but got mask with "
                           f"dtype {m.dtype}")
    m = np.broadcast_to(m, tuple(self.shape))
    count = int(m.sum())
    src = as_tensor_arg(source, "masked_scatter_ source")
    if src.numel() < count:
        raise RuntimeError(f"masked_scatter_: expected source to have at least {count} "
                           f"elements, got {src.numel()}")
    if self.ndim == 0:  # (a 0-d tensor cannot be indexed by a 0-d mask)
        return self.copy_(src.reshape(-1)[0]) if count else self
    self[make_tensor(np.ascontiguousarray(m))] = src.reshape(-1)[:count]
    return self


def _unfold(self, dimension, size, step):
    """The slices of `size` elements every `step` along dimension, in a new last dimension
    (a copy, recorded as a gather; PyTorch's is a view)."""
    d = int(dimension) % max(self.ndim, 1)
    n = self.shape[d] if self.ndim else 1
    if size > n or size < 0:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is "
                           f"{size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    if self.ndim == 0:
        return self.reshape(1)
    count = (n - size) // step + 1
    index = (np.arange(count)[:, None] * step + np.arange(size)).reshape(-1)
    gathered = self.index_select(d, make_tensor(index.astype(np.int64)))
    shape = (*self.shape[:d], count, size, *self.shape[d + 1:])
    return gathered.reshape(shape).movedim(d + 1, -1)


# PyTorch's in-place forms of functions that have no in-place kernel here: f of a copy of
# the tensor, refused where the result's dtype is of a higher category than the tensor's
# (a float result into an integer tensor, complex into float, integer into bool), as
# PyTorch's in-place functions refuse it, then copied back (views see it; recorded as copy_).
def _float_power_(self, exponent):
    """self <- self ** exponent in float64 (PyTorch refuses it unless self is float64 or
    complex128, the dtype of float_power's result)."""
    out = self.float_power(exponent)
    if out.dtype != self.dtype:
        raise RuntimeError(f"the base given to float_power_ has dtype {self.dtype} but the "
                           f"operation's result requires dtype {out.dtype}")
    return self.copy_(out)


_IN_PLACE_OF = ("acos_ acosh_ asin_ asinh_ atan_ atanh_ arccos_ arccosh_ arcsin_ arcsinh_ "
                "arctan_ arctanh_ atan2_ arctan2_ cosh_ sinh_ deg2rad_ rad2deg_ digamma_ "
                "lgamma_ erf_ erfc_ erfinv_ exp2_ i0_ sinc_ logit_ log10_ sgn_ frac_ xlogy_ "
                "hypot_ heaviside_ nan_to_num_ remainder_ fmod_ floor_divide_ true_divide_ "
                "divide_ multiply_ subtract_ bitwise_and_ bitwise_or_ bitwise_xor_ "
                "bitwise_not_ bitwise_left_shift_ bitwise_right_shift_ logical_and_ "
                "logical_or_ logical_xor_ logical_not_ eq_ ne_ lt_ le_ gt_ ge_ not_equal_ "
                "less_ less_equal_ greater_ greater_equal_ addmv_ addbmm_ baddbmm_ "
                "scatter_reduce_").split()


def _in_place_of(method: str):
    function = method[:-1]

    def in_place(self, *args, **kwargs):
        out = getattr(self.clone(), function)(*args, **kwargs)
        have, want = out._value.dtype, self._value.dtype
        if dtypes.category(have) > dtypes.category(want):
            raise RuntimeError(f"{method}: result type {have} can't be cast to the desired "
                               f"output type {want}")
        return self.copy_(out)
    in_place.__doc__ = f"In place: self <- {function}(self, ...)."
    return in_place


def _in_place_shift(left: bool):
    def in_place(self, other):
        return self.copy_(_checked_shift(self, other, left))
    return in_place


def _checked_shift(self: Tensor, other: Any, left: bool) -> Tensor:
    out = _shift(self, other, left)
    if dtypes.category(out._value.dtype) > dtypes.category(self._value.dtype):
        raise RuntimeError(f"result type {out.dtype} can't be cast to the desired output type "
                           f"{self.dtype}")
    return out


_IN_PLACE = {"squeeze_": _squeeze_, "unsqueeze_": _unsqueeze_, "t_": _t_,
             "transpose_": _transpose_, "tril_": _tril_, "triu_": _triu_, "addmm_": _addmm_,
             "fill_diagonal_": _fill_diagonal_, "index_put_": _index_put_,
             "masked_scatter_": _masked_scatter_, "unfold": _unfold,
             "float_power_": _float_power_}


def _attach_methods() -> None:
    for name, function in _METHODS.items():
        if not hasattr(Tensor, name):  # (Tensor's own methods win)
            setattr(Tensor, name, _as_method(function, name))
    for name, method in _IN_PLACE.items():
        if not hasattr(Tensor, name):
            method.__name__ = method.__qualname__ = name
            setattr(Tensor, name, method)
    for name in _IN_PLACE_OF:
        if not hasattr(Tensor, name) and hasattr(Tensor, name[:-1]):
            method = _in_place_of(name)
            method.__name__ = method.__qualname__ = name
            setattr(Tensor, name, method)
    Tensor.__lshift__ = lambda self, other: _shift(self, other, True)
    Tensor.__rshift__ = lambda self, other: _shift(self, other, False)
    Tensor.__rlshift__ = lambda self, other: _shift(other, self, True)
    Tensor.__rrshift__ = lambda self, other: _shift(other, self, False)
    Tensor.__ilshift__ = _in_place_shift(True)
    Tensor.__irshift__ = _in_place_shift(False)
    # (without these, `t &= m` would rebind t to a new tensor: a view's base would not change)
    Tensor.__iand__, Tensor.__ior__ = Tensor.bitwise_and_, Tensor.bitwise_or_
    Tensor.__ixor__ = Tensor.bitwise_xor_
    Tensor.__ifloordiv__, Tensor.__imod__ = Tensor.floor_divide_, Tensor.remainder_
    if not hasattr(Tensor, "index_put"):
        Tensor.index_put = lambda self, indices, values, accumulate=False: \
            self.clone().index_put_(indices, values, accumulate)


_attach_methods()
