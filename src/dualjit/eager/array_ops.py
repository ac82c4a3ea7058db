"""The array-level compositions behind Tensor operations (dualjit.numpy on traced or NumPy
values) and their NumPy fast paths, with PyTorch's semantics where they differ from NumPy's.

Each recorded operation has two spellings: a dualjit.numpy composition (traced once per
operation and input types into the IR Function that backward() differentiates) and, for
speed, the same operation in plain NumPy (`np_*`), which computes eager values. Functions
dualjit.numpy does not have yet (`cumsum`, `take_along_axis`, `roll`, `diagonal`...) use it
when it appears and compose it from primitives until then.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from .. import numpy as jnp
from ..autodiff import custom_jvp
from ..codegen import threads
from ..ir import primitives as P
from ..numpy._core import normalize_axes
from ..tracer.core import Tracer, bind
from . import torch_rules

ndarray = np.ndarray


def _pending(name: str, fallback):
    """dualjit.numpy's `name` once it exists, else our composition."""
    return getattr(jnp, name, None) or fallback


# ---------------------------------------------------------------------------------------------
# Casts and elementwise functions
# ---------------------------------------------------------------------------------------------

def np_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.matmul on BLAS threads chosen for its size and the machine's idle cores, as compiled
    kernels choose them (NumPy shares their OpenBLAS; its own thread count spins under load)."""
    threads.use_blas_for(a.size * (b.shape[-1] if b.ndim > 1 else 1))
    return np.matmul(a, b)


def copy_order(x: ndarray) -> str:
    """The memory order of a copy of x, as PyTorch lays it out: x's own (NumPy's "K") unless
    x is expanded (a stride 0 over more than one element), which PyTorch copies contiguous;
    NumPy's "K" order of such an array is a permutation PyTorch never makes (view() fails)."""
    if x.flags.c_contiguous or not any(s == 0 and n > 1 for s, n in zip(x.strides, x.shape)):
        return "K"
    return "C"


def astype(x: Any, dtype: Any) -> Any:
    if type(x) is ndarray:
        return x if x.dtype == dtype else x.astype(dtype, order=copy_order(x))
    return jnp.astype(x, dtype)


def np_astype(x: ndarray, dtype: Any) -> ndarray:
    return x.astype(dtype, order=copy_order(x))


def np_clone(x: ndarray) -> ndarray:
    return x.copy(order=copy_order(x))


def identity(x: Any) -> Any:
    return x


def np_reshape(x: ndarray, newshape: tuple) -> ndarray:
    return np.reshape(x, newshape)


def np_view(x: ndarray) -> ndarray:
    return x.view()


_SMALL_POWERS = [np.ones_like, np.positive, np.square, lambda x: x * x * x,
                 lambda x: np.square(np.square(x))]
_pow_cache: dict[tuple, tuple] = {}  # (type, exponent, dtype) -> (params, NumPy fast path)


def pow_rule(e: Any, dtype: np.dtype) -> tuple:
    """Params and NumPy fast path of x ** e for a Python number e (the fast path holds the
    params: it is called with x only)."""
    key = (type(e), e, dtype)
    found = _pow_cache.get(key)
    if found is None:
        is_int = isinstance(e, int) or float(e).is_integer()
        if dtype.kind not in "fc" and not isinstance(e, int):  # (complex stays complex)
            from .dtypes import get_default_dtype
            params = (("exponent", float(e)), ("dtype", get_default_dtype()))
        elif dtype.kind == "b":  # a bool tensor's integer power is int64 (PyTorch's promotion)
            params = (("exponent", int(e)), ("dtype", np.dtype(np.int64)))
        else:
            params = (("exponent", int(e) if is_int else float(e)), ("dtype", None))
        if is_int and 0 <= e <= 4 and dtype.kind == "f":
            fast = _SMALL_POWERS[int(e)]
        else:
            exponent, cast_to = params[0][1], params[1][1]

            def fast(x, exponent=exponent, cast_to=cast_to):
                return np_power_by(x, exponent, cast_to)
        found = (params, fast)
        if len(_pow_cache) < 1024:
            _pow_cache[key] = found
    return found


def power_by(x: Any, exponent: Any, dtype: Any) -> Any:
    """x ** exponent (a Python number), PyTorch's value and derivative for a float x."""
    if dtype is not None:
        x = astype(x, dtype)
    if np.dtype(x.dtype).kind == "f":
        return torch_rules.power_by_number(exponent)(x)
    return jnp.power(x, exponent)


def np_power_by(x: ndarray, exponent: Any, dtype: Any) -> ndarray:
    x = x if dtype is None else x.astype(dtype)
    if x.dtype.kind == "f":
        return torch_rules.np_power_by_number(x, exponent)
    if x.dtype.kind != "c" and exponent < 0:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return np.power(x, x.dtype.type(exponent))


def expm1(x):
    return jnp.expm1(x)


def log1p(x):
    return jnp.log1p(x)


def _asinh(x):
    a = jnp.abs(x)
    return jnp.sign(x) * jnp.log1p(a + a * a / (1.0 + jnp.sqrt(1.0 + a * a)))


def _acosh(x):
    return jnp.log(x + jnp.sqrt(x * x - 1.0))


def _atanh(x):
    return 0.5 * jnp.log1p(2.0 * x / (1.0 - x))


asinh = _pending("arcsinh", _asinh)
acosh = _pending("arccosh", _acosh)
atanh = _pending("arctanh", _atanh)


def rsqrt(x):
    return bind(P.rsqrt_p, x)


def reciprocal(x):
    return jnp.reciprocal(x)


def _trunc(x):
    return jnp.where(jnp.less(x, 0), jnp.ceil(x), jnp.floor(x))


trunc = _pending("trunc", _trunc)


def relu(x):
    """max(x, 0) with PyTorch's choices: relu'(0) = 0 and relu(nan) = nan."""
    return jnp.where(jnp.less_equal(x, 0), jnp.zeros_like(x), x)


def np_relu(x):
    if x.dtype == np.float32 or x.dtype == np.float64:
        # (same values as below, nan and -0.0 -> 0.0 included; several times faster). Against
        # an array of zeros, not the scalar 0: NumPy's maximum with a scalar operand takes a
        # slower loop (T2's 128x256 float32 activations: 17 us, 5.5 us against zeros); ties
        # (-0.0 against +0.0) give the second operand, +0.0, either way.
        if RELU_ZEROS_MIN_SIZE <= x.size <= RELU_ZEROS_MAX_SIZE:
            return np.maximum(x, zeros_of(x.shape, x.dtype))
        return np.maximum(x, x.dtype.type(0))
    return np.where(x <= 0, x.dtype.type(0), x)


RELU_ZEROS_MIN_SIZE = 1024  # smaller: the scalar loop is as fast
RELU_ZEROS_MAX_SIZE = 1 << 20  # larger: no cached array of zeros that size (4-8 MB)


@functools.lru_cache(maxsize=8)
def zeros_of(shape: tuple, dtype: np.dtype) -> np.ndarray:
    """A read-only array of zeros, cached by shape and dtype (an operand, never a result)."""
    zeros = np.zeros(shape, dtype)
    zeros.flags.writeable = False
    return zeros


@functools.cache
def _erfc_coefficients() -> np.ndarray:
    """Chebyshev coefficients of g(t) = erfc(x) exp(x²), t = 1/(1 + x/2) in (0, 1], fitted
    once to math.erfc (relative error of erf below 2e-15 for x > 0.5; erfc's below 2e-13)."""
    from numpy.polynomial import chebyshev

    t = np.cos(np.linspace(0.0, np.pi, 4001)) * 0.5 + 0.5
    t = t[t > 1e-4]
    x = 2.0 * (1.0 / t - 1.0)

    def g(v):
        if v < 25.0:
            return math.erfc(v) * math.exp(v * v)
        total, term = 1.0, 1.0  # the asymptotic series, where exp(v²) overflows
        for n in range(1, 12):
            term *= -(2 * n - 1) / (2 * v * v)
            total += term
        return total / (v * math.sqrt(math.pi))
    return chebyshev.chebfit(2.0 * t - 1.0, np.array([g(v) for v in x]), 24)


_TAYLOR = [(-1) ** k * 2 / math.sqrt(math.pi) / (math.factorial(k) * (2 * k + 1))
           for k in range(13)]


def erf_with(xp, x):
    """erf on array module xp (NumPy for eager values, dualjit.numpy when traced): the Taylor
    series for |x| <= 0.5, else 1 - exp(-x²) g(t) with g's Chebyshev fit (Clenshaw)."""
    a = xp.abs(x)
    small = xp.minimum(a, 0.5)
    x2 = small * small
    series = _TAYLOR[-1] + 0 * x2
    for c in reversed(_TAYLOR[:-1]):
        series = series * x2 + c
    large = xp.maximum(a, 0.5)
    u = 2.0 * (1.0 / (1.0 + 0.5 * large)) - 1.0
    b1 = b2 = 0 * u
    coefficients = _erfc_coefficients()
    for c in coefficients[:0:-1]:
        b1, b2 = 2.0 * u * b1 - b2 + c, b1
    g = u * b1 - b2 + coefficients[0]
    tail = 1.0 - xp.exp(-large * large) * g
    return xp.copysign(xp.where(a <= 0.5, small * series, tail), x)  # (erf(-0.0) is -0.0)


@custom_jvp
def _erf(x):
    return astype(erf_with(jnp, x), x.dtype)  # (its float64 coefficients must not promote)


@_erf.defjvp
def _erf_jvp(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    return _erf(x), (2.0 / math.sqrt(math.pi)) * jnp.exp(-x * x) * x_dot


def np_erf(x):
    return np.asarray(erf_with(np, x), x.dtype)


erf = _pending("erf", _erf)


def nan_to_num(x, nan, posinf, neginf):
    out = jnp.where(jnp.isnan(x), jnp.full_like(x, nan), x)
    if posinf is not None:
        out = jnp.where(jnp.equal(x, np.inf), jnp.full_like(x, posinf), out)
    if neginf is not None:
        out = jnp.where(jnp.equal(x, -np.inf), jnp.full_like(x, neginf), out)
    return out


def np_nan_to_num(x, nan, posinf, neginf):
    """nan_to_num of a real float array in one NumPy call (the composition evaluated step by
    step cost ~110 us on 1,024 floats); other dtypes (complex: NumPy replaces each part on its
    own, the composition the whole number) take the composition (None)."""
    if x.dtype.kind != "f" or posinf is None or neginf is None:
        return None
    if np.isfinite(x).all():  # (nothing to replace: one check and a copy, ~4x less work)
        return np.array(x, copy=True)  # (as np.nan_to_num copies: order K)
    return np.nan_to_num(x, copy=True, nan=nan, posinf=posinf, neginf=neginf)


# ---------------------------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------------------------

def _axis_param(dim):
    return None if dim is None else (tuple(dim) if isinstance(dim, (list, tuple)) else int(dim))


def _float_reduction(mean: bool, axis, keepdims):
    """NumPy's sum or mean as the eager fast path. np.add.reduce is what np.sum runs
    (pairwise summation), without np.sum's Python layer."""
    def fast(x, axis=axis, keepdims=keepdims):
        if x.dtype.kind != "f":
            return np.mean(x, axis=axis, keepdims=keepdims) if mean else \
                np.sum(x, axis=axis, keepdims=keepdims)
        total = np.add.reduce(x, axis=axis, keepdims=keepdims)
        if not mean:
            return total
        count = x.size if axis is None else int(np.prod([x.shape[a] for a in (
            axis if isinstance(axis, tuple) else (axis,))]))
        return np.true_divide(total, count, dtype=x.dtype) if count else None
    return fast


_reduction_cache: dict[tuple, tuple] = {}  # (mean, axis, keepdims) -> (params, fast path)


def reduction_rule(mean: bool, dim, keepdim) -> tuple:
    """Params and NumPy fast path of a sum or mean over `dim` (the fast path holds the params:
    it is called with x only)."""
    key = (mean, dim if dim is None or isinstance(dim, int) else tuple(np.ravel(dim).tolist()),
           keepdim)
    found = _reduction_cache.get(key)
    if found is None:
        axis, keepdims = _axis_param(dim), bool(keepdim)
        if isinstance(axis, tuple) and not axis:
            axis = None
        found = ((("axis", axis), ("keepdims", keepdims)), _float_reduction(mean, axis, keepdims))
        if len(_reduction_cache) < 1024:
            _reduction_cache[key] = found
    return found


def correction(unbiased: Any, corr: Any) -> int:
    if corr is not None:
        return int(corr)
    return 0 if unbiased is False else 1


def norm2(x, axis, keepdims):
    """sqrt(sum(x²)) whose gradient at an all-zero input is 0 (PyTorch's choice), not NaN."""
    s = jnp.sum(x * x, axis=axis, keepdims=keepdims)
    zero = jnp.equal(s, 0)  # (not `s > 0`: a NaN sum must give NaN, not 0)
    return jnp.where(zero, jnp.zeros_like(s), jnp.sqrt(jnp.where(zero, jnp.ones_like(s), s)))


def np_norm2(x: ndarray, axis: Any, keepdims: bool) -> ndarray | None:
    """norm2 of a real array in NumPy, the same sum (its where()s guard only the derivative:
    the sum is +0 or more, or NaN, whose square root is itself); None where norm2's axes
    raise, so the composition says why."""
    if x.dtype.kind != "f":
        return None
    try:
        axes = normalize_axes("norm", axis, x.ndim)
    except ValueError:
        return None
    with np.errstate(all="ignore"):
        return np.sqrt(np.sum(x * x, axis=axes, dtype=x.dtype, keepdims=keepdims))


def np_argmax(x: ndarray, dim: int) -> ndarray:
    return np.argmax(x, axis=dim)


def np_argmin(x: ndarray, dim: int) -> ndarray:
    return np.argmin(x, axis=dim)


def np_arg(fn, x: ndarray, dim: Any, keepdim: bool) -> ndarray:
    if dim is None:
        out = np.asarray(fn(x), np.int64)
        return out.reshape((1,) * x.ndim) if keepdim else out
    return np.asarray(fn(x, axis=int(dim), keepdims=keepdim), np.int64)


def np_argsort(x: ndarray, dim: int, descending: bool) -> ndarray:
    """Stable sort order (ties keep their order); NaN sorts as the largest value."""
    if descending:
        key = ~x if x.dtype == np.bool_ else -x
        order = np.argsort(key, axis=dim, kind="stable")
        if x.dtype.kind == "f":  # -nan is nan: move NaNs first, as the largest
            nan_first = np.argsort(~np.isnan(np.take_along_axis(x, order, dim)), axis=dim,
                                   kind="stable")
            order = np.take_along_axis(order, nan_first, dim)
        return order.astype(np.int64)
    return np.argsort(x, axis=dim, kind="stable").astype(np.int64)


def np_median_index(x: ndarray, ignore_nan: bool) -> int:
    """The position in the 1-D x of its lower median: the element a stable argsort puts at
    the middle (of the non-NaN values when ignore_nan), found in linear time. With a NaN
    and not ignore_nan, the first NaN (PyTorch's median is NaN then)."""
    nan = np.isnan(x) if x.dtype.kind in "fc" else None
    count = x.size if nan is None else x.size - int(np.count_nonzero(nan))
    if count < x.size and (not ignore_nan or count == 0):
        return int(np.argmax(nan))
    k = (count - 1) // 2
    middle = np.partition(x, k)[k]  # (NaN sorts last, as in argsort: k is below them)
    below = int(np.count_nonzero(x < middle))
    return int(np.flatnonzero(x == middle)[k - below])  # (ties: in position order)


def np_mode_index(x: ndarray, dim: int) -> ndarray:
    """Index (along dim) of the most frequent value; among equally frequent values the
    smallest, and of its occurrences the last (PyTorch's CPU choice)."""
    moved = np.moveaxis(x, dim, -1)
    flat = moved.reshape(-1, moved.shape[-1]) if moved.size else moved.reshape(-1, 1)
    out = np.empty(flat.shape[0], np.int64)
    for r, row in enumerate(flat):
        values, counts = np.unique(row, return_counts=True)
        best = values[np.argmax(counts)]  # unique sorts, argmax takes the first (smallest)
        out[r] = np.nonzero(row == best)[0][-1]
    return out.reshape(moved.shape[:-1])


def _cumsum(x, axis):
    moved = jnp.moveaxis(x, axis, -1)
    n = moved.shape[-1]
    upper = np.triu(np.ones((n, n), x.dtype))
    return jnp.moveaxis(jnp.matmul(moved, upper), -1, axis)


def _cumprod(x, axis):
    n = x.shape[axis]
    parts = [slice_along(x, axis, 0, 1)]
    for i in range(1, n):
        parts.append(parts[-1] * slice_along(x, axis, i, i + 1))
    return jnp.concatenate(parts, axis=axis) if parts else x


def slice_along(x, axis, start, stop):
    key = (slice(None),) * (axis % len(x.shape)) + (slice(start, stop),)
    return jnp.getitem(x, key)


cumsum = _pending("cumsum", _cumsum)
cumprod = _pending("cumprod", _cumprod)


def cumulative_extreme(t, dim: int, np_fn, kind: str):
    """(values, indices) of cummax / cummin: values gathered at the running extreme's index
    (the last of tied ones, as PyTorch), so the gradient reaches that element."""
    from .tensor import concrete_value, make_tensor, return_pair, take_along_dim

    x = concrete_value(t, kind)
    d = dim % max(x.ndim, 1)
    moved = np.moveaxis(x, d, -1)
    running = np_fn.accumulate(moved, axis=-1)
    idx = np.zeros(moved.shape, np.int64)
    for i in range(moved.shape[-1]):
        hit = moved[..., i] == running[..., i]
        idx[..., i] = np.where(hit, i, idx[..., i - 1] if i else 0)
    idx = np.moveaxis(idx, -1, d)
    return return_pair(kind, take_along_dim(t, idx, d), make_tensor(idx))


# ---------------------------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------------------------

def expanded_shape(shape: tuple, sizes: tuple) -> tuple:
    if len(sizes) < len(shape):
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be "
                           f"greater or equal to the number of dimensions in the tensor "
                           f"({len(shape)})")
    lead = len(sizes) - len(shape)
    out = []
    for i, s in enumerate(sizes):
        if s == -1:
            if i < lead:
                raise RuntimeError("expand: -1 is not allowed in a leading, non-existing "
                                   "dimension")
            s = shape[i - lead]
        elif i >= lead and shape[i - lead] not in (1, s):
            raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing "
                               f"size ({shape[i - lead]}) at non-singleton dimension {i}. "
                               f"Target sizes: {list(sizes)}.  Tensor sizes: {list(shape)}")
        out.append(int(s))
    return tuple(out)


def gather_static(x, index_map):
    """x's elements at the positions index_map picks from arange(x.size).reshape(x.shape)
    (any static rearrangement: diagonal, roll, ...) as one gather."""
    shape = tuple(x.shape)
    positions = np.asarray(index_map(np.arange(int(np.prod(shape))).reshape(shape)))
    return jnp.take(jnp.reshape(x, (-1,)), positions.astype(np.int64))


def _roll(x, shift, axis):
    return gather_static(x, lambda p: np.roll(p, shift, axis))


roll = _pending("roll", _roll)


def split_bounds(n: int, sections: Any) -> list[tuple[int, int]]:
    if isinstance(sections, int):
        q, r = divmod(n, sections)
        sizes = [q + 1] * r + [q] * (sections - r)
        edges = np.cumsum([0] + sizes)
    else:
        edges = [0] + [int(i) for i in sections] + [n]
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def _diagonal(x, offset, axis1, axis2):
    return gather_static(x, lambda p: np.diagonal(p, offset, axis1, axis2))


diagonal = _pending("diagonal", _diagonal)


def np_expand(x: ndarray, shape: tuple) -> ndarray:
    """x broadcast to shape: a view, writable when x is and no element repeats (PyTorch
    refuses in-place writes only to an expanded tensor whose elements overlap; NumPy's
    broadcast_to is always read-only)."""
    view = np.broadcast_to(x, shape)
    overlap = any(s == 0 and n > 1 for s, n in zip(view.strides, view.shape))
    if not overlap and x.flags.writeable:
        view = np.lib.stride_tricks.as_strided(x, view.shape, view.strides, writeable=True)
    return view


def np_diagonal(x, offset, axis1, axis2):
    """A view of x's diagonal, writable when x is (PyTorch's diagonal is a view: in-place ops on
    it write to x; NumPy's is read-only only to warn of that)."""
    view = np.diagonal(x, offset, axis1, axis2)
    if x.flags.writeable:
        view.flags.writeable = True
    return view


def diag_embed(x, k):
    """A matrix with x on its k-th diagonal: one gather from x with a zero appended."""
    n = x.shape[0] + abs(k)
    target = np.full((n, n), x.shape[0], np.int64)
    rows = np.arange(x.shape[0]) + max(-k, 0)
    target[rows, rows + k] = np.arange(x.shape[0])
    padded = jnp.concatenate([x, jnp.zeros((1,), x.dtype)], axis=0)
    return jnp.take(padded, target)


def np_diag(x, k):
    return np.diag(x, k)


def _tril(x, k):
    n, m = x.shape[-2], x.shape[-1]
    return jnp.where(np.tri(n, m, k, dtype=bool), x, jnp.zeros_like(x))


def _triu(x, k):
    n, m = x.shape[-2], x.shape[-1]
    return jnp.where(~np.tri(n, m, k - 1, dtype=bool), x, jnp.zeros_like(x))


tril = _pending("tril", _tril)
triu = _pending("triu", _triu)


# ---------------------------------------------------------------------------------------------
# Indexing
# ---------------------------------------------------------------------------------------------

def split_index(key: Any, ndim: int) -> tuple[tuple, list, tuple]:
    """A Tensor index as (hashable spec, index arrays, NumPy key).

    Index arrays (integer tensors, lists, boolean masks as their nonzero positions) are
    inputs of the recorded operation, not parameters, so large indices don't key caches.
    """
    from .tensor import Tensor

    items = key if isinstance(key, tuple) else (key,)
    spec, arrays, np_key = [], [], []
    for k in items:
        if isinstance(k, Tensor):
            k = k._value
            if isinstance(k, ndarray) and k.ndim == 0 and k.dtype.kind in "iu":
                k = int(k)
        if isinstance(k, slice):
            bounds = tuple(None if b is None else int(b) for b in (k.start, k.stop, k.step))
            spec.append(("s", *bounds))
            np_key.append(slice(*bounds))
        elif k is None or k is Ellipsis:
            spec.append(k)
            np_key.append(k)
        elif isinstance(k, (bool, np.bool_)):
            raise IndexError("indexing with a Python bool is not supported")
        elif isinstance(k, (int, np.integer)):
            spec.append(int(k))
            np_key.append(int(k))
        elif isinstance(k, Tracer):
            if k.aval.dtype.is_float:
                raise IndexError("tensors used as indices must be long, int or bool tensors")
            spec.append(("a", len(arrays)))
            arrays.append(k)
            np_key.append(k)
        else:
            a = np.asarray(k)
            if a.dtype == np.bool_:
                for idx in np.nonzero(a):
                    spec.append(("a", len(arrays)))
                    arrays.append(idx.astype(np.int64))
                    np_key.append(arrays[-1])
                continue
            if a.dtype.kind not in "iu":
                raise IndexError("tensors used as indices must be long, int or bool tensors, "
                                 f"got {a.dtype}")
            spec.append(("a", len(arrays)))
            arrays.append(a.astype(np.int64))
            np_key.append(arrays[-1])
    return tuple(spec), arrays, tuple(np_key)


def _rebuild_key(spec: tuple, arrays: tuple) -> tuple:
    key = []
    for s in spec:
        if isinstance(s, tuple) and s[0] == "s":
            key.append(slice(*s[1:]))
        elif isinstance(s, tuple):
            key.append(arrays[s[1]])
        else:
            key.append(s)
    return tuple(key)


def getitem(x, *arrays, spec):
    return jnp.getitem(x, _rebuild_key(spec, arrays))


def np_getitem(x, *arrays, spec):
    key = _rebuild_key(spec, arrays)
    if not arrays:  # (a trailing Ellipsis: integers alone would give a copy, not a 0-d view)
        key = key + (Ellipsis,) if Ellipsis not in key else key
    return x[key]


def placement_index(positions: ndarray, size: int) -> ndarray:
    """For each flat position of a tensor: which of the assigned values lands there (-1: none;
    of repeated positions the last assignment wins, as NumPy's and PyTorch's CPU setitem)."""
    index = np.full(size, -1, np.int64)
    index[positions.reshape(-1)] = np.arange(positions.size)
    return index


def place(base, values, index, positions_shape):
    """base with values (broadcast to positions_shape) written where index >= 0."""
    if int(np.prod(positions_shape)) == 0:
        return base
    flat = jnp.reshape(base, (-1,))
    vals = jnp.reshape(jnp.broadcast_to(astype(values, base.dtype), positions_shape), (-1,))
    chosen = jnp.take(vals, jnp.maximum(index, 0))
    return jnp.reshape(jnp.where(jnp.greater_equal(index, 0), chosen, flat), base.shape)


def np_place(base, values, index, positions_shape):
    out = base.reshape(-1).copy()
    if out.size:
        vals = np.broadcast_to(values, positions_shape).reshape(-1)
        hit = index >= 0
        out[hit] = vals[index[hit]]
    return out.reshape(base.shape)


def take(x, index, axis):
    return jnp.take(x, index, axis=axis)


def np_take(x, index, axis):
    return np.take(x, index, axis=axis)


def along_positions(shape: tuple, index: ndarray, axis: int) -> ndarray:
    """Flat positions in an array of `shape` of index's entries along axis (torch.gather's
    addressing: the other coordinates are the entry's own)."""
    axis %= len(shape)
    n = shape[axis]
    if index.size and (index.max() >= n or index.min() < -n):
        raise IndexError(f"index {int(index.max() if index.max() >= n else index.min())} is "
                         f"out of bounds for dimension {axis} with size {n}")
    coords = list(np.indices(index.shape, sparse=True))
    coords[axis] = np.where(index < 0, index + n, index)
    return np.ravel_multi_index(coords, shape).astype(np.int64)


def _traced_along_positions(shape, index, axis):
    strides = np.cumprod((1,) + tuple(shape[::-1]))[::-1][1:]
    flat = None
    for d, stride in enumerate(strides):
        if d == axis:
            coord = jnp.where(jnp.less(index, 0), index + shape[d], index)
        else:
            coord = np.arange(index.shape[d]).reshape(
                [-1 if i == d else 1 for i in range(len(index.shape))])
        term = coord * int(stride)
        flat = term if flat is None else flat + term
    return jnp.broadcast_to(flat, index.shape)


def take_along_axis(x, index, axis):
    axis %= len(x.shape)
    if isinstance(index, Tracer):
        positions = _traced_along_positions(tuple(x.shape), index, axis)
    else:
        positions = along_positions(tuple(x.shape), np.asarray(index), axis)
    return jnp.take(jnp.reshape(x, (-1,)), positions)


def np_take_along_axis(x, index, axis):
    return x.reshape(-1)[along_positions(x.shape, index, axis)]


def gather_positions(base, positions):
    return jnp.take(jnp.reshape(base, (-1,)), positions)


def scatter_positions(base, new, positions):
    index = placement_index(np.asarray(positions), int(np.prod(base.shape)))
    return place(base, new, index, positions.shape)


def copy_slices(base, positions, index, *others, inner):
    """base with the elements at `positions` replaced by inner(those elements, *others): an
    in-place operation on a view, seen from its base."""
    from ..tracer.core import apply_function

    view = gather_positions(base, positions)
    new = apply_function(inner, view, *others)[0]
    return place(base, new, index, tuple(positions.shape))


def fill_like(x, value):
    return jnp.broadcast_to(astype(value, x.dtype), x.shape)


def np_fill_like(x, value):
    return np.broadcast_to(np.asarray(value, x.dtype), x.shape).copy()


copy_from = fill_like
np_copy_from = np_fill_like


def index_add(x, source, index, axis):
    return bind(P.scatter_add_p, x, index, astype(source, x.dtype), axis=axis % len(x.shape))


def np_index_add(x, source, index, axis):
    out = x.copy()
    moved = np.moveaxis(out, axis, 0)
    np.add.at(moved, index, np.moveaxis(np.asarray(source, x.dtype), axis, 0))
    return out


def scatter_add_along(x, source, index, axis):
    """torch.scatter_add: x[..., index[i,j,..], ...] += source[i, j, ...] along axis."""
    positions = along_positions(tuple(x.shape), np.asarray(index), axis) \
        if not isinstance(index, Tracer) else _traced_along_positions(tuple(x.shape), index, axis)
    src = jnp.getitem(source, tuple(slice(0, n) for n in index.shape))
    flat = bind(P.scatter_add_p, jnp.reshape(x, (-1,)), jnp.reshape(positions, (-1,)),
                jnp.reshape(astype(src, x.dtype), (-1,)), axis=0)
    return jnp.reshape(flat, x.shape)


def np_scatter_add_along(x, source, index, axis):
    out = x.copy().reshape(-1)
    src = np.asarray(source, x.dtype)[tuple(slice(0, n) for n in index.shape)]
    np.add.at(out, along_positions(x.shape, index, axis).reshape(-1), src.reshape(-1))
    return out.reshape(x.shape)
