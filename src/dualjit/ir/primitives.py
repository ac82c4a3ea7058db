"""The primitive set: each primitive with its shape rule and its numpy reference implementation.

Elementwise primitives take operands of one dtype whose shapes are either the output shape or
() (rank-0 operands, Literals included, broadcast). Every other broadcast is an explicit
`broadcast_in_dim` equation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .core import (
    DType,
    Function,
    IRError,
    TensorType,
    as_dtype,
    impl_rules,
    new_primitive,
    shape_rules,
)
from .interpreter import eval_function
from .util import scan_operands, scan_results, while_operands

FLOATS = (DType.float32, DType.float64)
SIGNED_INTS = (DType.int8, DType.int16, DType.int32, DType.int64)
UNSIGNED_INTS = (DType.uint8, DType.uint16, DType.uint32, DType.uint64)
INTS = SIGNED_INTS + UNSIGNED_INTS
NUMBERS = INTS + FLOATS
COMPLEX = (DType.complex64, DType.complex128)
INEXACT = FLOATS + COMPLEX  # what carries a derivative
ARITHMETIC = NUMBERS + COMPLEX  # what + - * / accept (NUMBERS alone are the ordered types)


def _shape_str(t: TensorType) -> str:
    return f"{t.dtype.short}{list(t.shape)}"


def _elementwise_type(name: str, types: Sequence[TensorType], allowed: Sequence[DType]) -> TensorType:
    first = types[0]
    if first.dtype in allowed:
        for t in types:
            if t is not first and t != first:
                break
        else:
            return first  # the common case: operands of one type (types are immutable)
    dtype = first.dtype
    if any(t.dtype is not dtype for t in types):
        raise IRError(f"{name}: operand dtypes differ: " + ", ".join(_shape_str(t) for t in types))
    if dtype not in allowed:
        names = ", ".join(d.short for d in allowed)
        raise IRError(f"{name}: dtype {dtype.short} is not supported (expected one of {names})")
    shapes = {t.shape for t in types if t.shape != ()}
    if len(shapes) > 1:
        raise IRError(f"{name}: operand shapes do not match: "
                      + ", ".join(str(t.shape) for t in types))
    return TensorType(dtype, shapes.pop() if shapes else ())


def _quiet(fn):
    """Run a numpy implementation without floating-point warnings (IEEE results are the spec)."""
    if _error_state is None:
        def run(*args, **params):
            with np.errstate(all="ignore"):
                return fn(*args, **params)
    else:
        def run(*args, **params):
            outer = _error_state.get()
            quiet = _quiet_states.get(outer) or _quiet_state_for(outer)
            if quiet is outer:  # (inside another quiet implementation: nothing to change)
                return fn(*args, **params)
            token = _error_state.set(quiet)
            try:
                return fn(*args, **params)
            finally:
                _error_state.reset(token)
    run.__name__ = fn.__name__
    return run


# np.errstate(all="ignore") builds a new error state each time it is entered (~1.1 us, as
# long as an elementwise primitive on 1,024 floats takes). _quiet sets the same state, built
# once per outer state (so the outer state's buffer size and error callback are kept) through
# the context variable np.errstate itself sets (NumPy 2; older NumPy takes np.errstate).
try:
    from numpy._core.umath import _extobj_contextvar as _error_state
    from numpy._core.umath import _make_extobj as _make_error_state
except ImportError:  # pragma: no cover (NumPy 1)
    _error_state = None
_quiet_states: dict = {}  # outer error state -> the same with all errors ignored


def _quiet_state_for(outer):
    if len(_quiet_states) > 64:  # (states made by many different errstate blocks)
        _quiet_states.clear()
    quiet = _make_error_state(all="ignore")  # (from the current state, which is `outer`)
    _quiet_states[outer] = quiet
    _quiet_states[quiet] = quiet
    return quiet


# ---------------------------------------------------------------------------------------------
# Elementwise unary
# ---------------------------------------------------------------------------------------------

def _logistic(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def _sign(x):
    return np.sign(x)


_UNARY = {
    "neg": (np.negative, ARITHMETIC),
    "exp": (np.exp, INEXACT),
    "log": (np.log, INEXACT),
    "log1p": (np.log1p, INEXACT),
    "expm1": (np.expm1, INEXACT),
    "sin": (np.sin, INEXACT),
    "cos": (np.cos, INEXACT),
    "tan": (np.tan, INEXACT),
    "tanh": (np.tanh, INEXACT),
    "logistic": (_logistic, FLOATS),
    "sqrt": (np.sqrt, INEXACT),
    "rsqrt": (lambda x: (1 / np.sqrt(x)).astype(x.dtype), INEXACT),
    "abs": (np.abs, ARITHMETIC),
    "sign": (_sign, ARITHMETIC),
    "floor": (np.floor, FLOATS),
    "ceil": (np.ceil, FLOATS),
    "round": (np.round, FLOATS),
    "not": (np.invert, (DType.bool,) + INTS),
}

unary_primitives = {}
for _name, (_fn, _allowed) in _UNARY.items():
    _p = new_primitive(_name, elementwise=True)
    unary_primitives[_name] = _p
    shape_rules[_p] = (lambda n, a: lambda x: _elementwise_type(n, [x], a))(_name, _allowed)
    impl_rules[_p] = _quiet((lambda f: lambda x: np.asarray(f(np.asarray(x))))(_fn))

neg_p, exp_p, log_p, log1p_p, expm1_p = (unary_primitives[n] for n in
                                          ("neg", "exp", "log", "log1p", "expm1"))
sin_p, cos_p, tan_p, tanh_p, logistic_p = (unary_primitives[n] for n in
                                           ("sin", "cos", "tan", "tanh", "logistic"))
sqrt_p, rsqrt_p, abs_p, sign_p = (unary_primitives[n] for n in ("sqrt", "rsqrt", "abs", "sign"))
floor_p, ceil_p, round_p, not_p = (unary_primitives[n] for n in ("floor", "ceil", "round", "not"))
# |z| of a complex z is real (as in NumPy and JAX)
shape_rules[abs_p] = lambda x: _elementwise_type("abs", [x], ARITHMETIC).with_dtype(
    x.dtype.real_dtype)


# ---------------------------------------------------------------------------------------------
# Elementwise binary
# ---------------------------------------------------------------------------------------------

def _int_div(a, b):
    """C-style division: truncates toward zero; division by zero gives 0; MIN / -1 wraps."""
    safe_b = np.where(b == 0, 1, b)
    q = np.floor_divide(a, safe_b)
    inexact = np.remainder(a, safe_b) != 0
    q = np.where(inexact & ((a < 0) != (safe_b < 0)), q + 1, q)  # floor -> truncation
    return np.where(b == 0, 0, q).astype(np.result_type(a, b))


def _div(a, b):
    if np.result_type(a, b).kind in "iu":
        return _int_div(a, b)
    return np.true_divide(a, b)


def _rem(a, b):
    if np.result_type(a, b).kind in "iu":
        safe_b = np.where(b == 0, 1, b)
        return np.where(b == 0, 0, np.fmod(a, safe_b)).astype(np.result_type(a, b))
    return np.fmod(a, b)


_BINARY = {
    "add": (np.add, ARITHMETIC),
    "sub": (np.subtract, ARITHMETIC),
    "mul": (np.multiply, ARITHMETIC),
    "div": (_div, ARITHMETIC),
    "rem": (_rem, NUMBERS),
    "pow": (np.power, INEXACT),
    "max": (np.maximum, NUMBERS),
    "min": (np.minimum, NUMBERS),
    "atan2": (np.arctan2, FLOATS),
    "and": (np.bitwise_and, (DType.bool,) + INTS),
    "or": (np.bitwise_or, (DType.bool,) + INTS),
    "xor": (np.bitwise_xor, (DType.bool,) + INTS),
}
binary_primitives = {}
for _name, (_fn, _allowed) in _BINARY.items():
    _p = new_primitive(_name, elementwise=True)
    binary_primitives[_name] = _p
    shape_rules[_p] = (lambda n, a: lambda x, y: _elementwise_type(n, [x, y], a))(_name, _allowed)
    impl_rules[_p] = _quiet((lambda f: lambda x, y: np.asarray(f(np.asarray(x), np.asarray(y))))(_fn))

add_p, sub_p, mul_p, div_p, rem_p, pow_p = (binary_primitives[n] for n in
                                            ("add", "sub", "mul", "div", "rem", "pow"))
max_p, min_p, atan2_p = binary_primitives["max"], binary_primitives["min"], binary_primitives["atan2"]
and_p, or_p, xor_p = binary_primitives["and"], binary_primitives["or"], binary_primitives["xor"]

def _unordered_refused(name: str, types: Sequence[TensorType]) -> Sequence[TensorType]:
    if any(t.dtype.is_complex for t in types):
        raise IRError(f"{name}: complex numbers have no order ({', '.join(map(_shape_str, types))}"
                      "); compare real parts (real(z)) or magnitudes (abs(z)) instead")
    return types


for _p, _name in ((max_p, "max"), (min_p, "min")):
    shape_rules[_p] = (lambda n: lambda x, y: _elementwise_type(
        n, _unordered_refused(n, [x, y]), NUMBERS))(_name)

_COMPARE = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
            "gt": np.greater, "ge": np.greater_equal}
compare_primitives = {}
for _name, _fn in _COMPARE.items():
    _p = new_primitive(_name, elementwise=True)
    compare_primitives[_name] = _p
    _allowed = (DType.bool,) + (ARITHMETIC if _name in ("eq", "ne") else NUMBERS)
    shape_rules[_p] = (lambda n, a: lambda x, y: _elementwise_type(
        n, [x, y] if n in ("eq", "ne") else _unordered_refused(n, [x, y]), a
    ).with_dtype(DType.bool))(_name, _allowed)
    impl_rules[_p] = _quiet((lambda f: lambda x, y: np.asarray(f(np.asarray(x), np.asarray(y))))(_fn))
eq_p, ne_p, lt_p, le_p, gt_p, ge_p = (compare_primitives[n] for n in _COMPARE)


select_p = new_primitive("select", elementwise=True)


def _select_shape(pred, on_true, on_false):
    if pred.dtype is not DType.bool:
        raise IRError(f"select: predicate must be bool, got {_shape_str(pred)}")
    out = _elementwise_type("select", [on_true, on_false], (DType.bool,) + ARITHMETIC)
    if pred.shape not in ((), out.shape) and out.shape != ():
        raise IRError(f"select: predicate shape {pred.shape} does not match {out.shape}")
    return out.with_shape(pred.shape if out.shape == () else out.shape)


shape_rules[select_p] = _select_shape


def _select(p, t, f):
    t_dtype, f_dtype = np.asarray(t).dtype, np.asarray(f).dtype
    dtype = t_dtype if t_dtype == f_dtype else np.result_type(t_dtype, f_dtype)
    out = np.asarray(np.where(p, t, f))
    return out if out.dtype == dtype else out.astype(dtype)  # (np.where's result is new)


impl_rules[select_p] = _select

integer_pow_p = new_primitive("integer_pow", elementwise=True)
shape_rules[integer_pow_p] = lambda x, *, y: _elementwise_type("integer_pow", [x], ARITHMETIC)


@_quiet
def _integer_pow(x, *, y):
    x = np.asarray(x)
    if y < 0 and x.dtype.kind in "iu":
        # 1 / x**|y| in integers: only x = +-1 survive, and (-1)**y = 1 for even y
        unit = np.abs(x.astype(np.float64)) == 1.0
        return np.asarray(np.where(unit, 1, 0) if y % 2 == 0 else np.where(unit, x, 0),
                          dtype=x.dtype)
    if x.dtype.kind in "iu":
        return _wrapping_power(x, y)
    return np.asarray(np.power(x, x.dtype.type(y)) if y >= 0 else np.power(x, float(y)),
                      dtype=x.dtype)


def _wrapping_power(x, y):
    """x ** y (y >= 0) by squaring in x's own integer type, so it wraps as NumPy's does."""
    out, base = np.ones_like(x), x
    while y:
        if y & 1:
            out = out * base
        y >>= 1
        if y:
            base = base * base
    return np.asarray(out, dtype=x.dtype)


impl_rules[integer_pow_p] = _integer_pow


# ---------------------------------------------------------------------------------------------
# Type and shape manipulation
# ---------------------------------------------------------------------------------------------

convert_element_type_p = new_primitive("convert_element_type", elementwise=True)
shape_rules[convert_element_type_p] = lambda x, *, new_dtype: x.with_dtype(as_dtype(new_dtype))


@_quiet
def _convert(x, *, new_dtype):
    x = np.asarray(x)
    target = as_dtype(new_dtype)
    if target is DType.bool:
        return x != 0
    if x.dtype.kind == "c" and not target.is_complex:
        x = x.real  # complex -> real keeps the real part (NumPy's astype, JAX's convert)
    if target.is_int and x.dtype.kind == "f":
        return _float_to_int(x, target.np)
    return x.astype(target.np)


def _float_to_int(x, dtype):
    """Truncation toward zero, saturating at the type's range, NaN to 0 (NumPy leaves values
    out of range undefined; this is JAX's rule and LLVM's fptosi.sat/fptoui.sat)."""
    info = np.iinfo(dtype)
    t = np.trunc(x)
    too_big = t >= 2.0 ** (info.bits - (info.min < 0))  # a power of two: exact in float32
    too_small = t < info.min
    safe = np.where(too_big | too_small | np.isnan(t), 0, t).astype(dtype)
    return np.where(too_big, info.max, np.where(too_small, info.min, safe)).astype(dtype)


impl_rules[convert_element_type_p] = _convert

broadcast_in_dim_p = new_primitive("broadcast_in_dim")


def _broadcast_shape(x, *, shape, broadcast_dimensions):
    if len(broadcast_dimensions) != x.ndim:
        raise IRError(f"broadcast_in_dim: operand {_shape_str(x)} needs {x.ndim} "
                      f"broadcast_dimensions, got {broadcast_dimensions}")
    if list(broadcast_dimensions) != sorted(set(broadcast_dimensions)):
        raise IRError(f"broadcast_in_dim: broadcast_dimensions {broadcast_dimensions} "
                      "must be strictly increasing")
    for d, od in zip(x.shape, broadcast_dimensions):
        if od >= len(shape) or d not in (1, shape[od]):
            raise IRError(f"broadcast_in_dim: cannot broadcast {x.shape} to {tuple(shape)} "
                          f"with broadcast_dimensions {broadcast_dimensions}")
    return TensorType(x.dtype, shape)


def _broadcast_impl(x, *, shape, broadcast_dimensions):
    x = np.asarray(x)
    expanded = [1] * len(shape)
    for d, od in zip(x.shape, broadcast_dimensions):
        expanded[od] = d
    return np.broadcast_to(x.reshape(expanded), shape)


shape_rules[broadcast_in_dim_p] = _broadcast_shape
impl_rules[broadcast_in_dim_p] = _broadcast_impl

reshape_p = new_primitive("reshape")


def _reshape_shape(x, *, new_sizes):
    if math.prod(new_sizes) != x.size:
        raise IRError(f"reshape: cannot reshape {_shape_str(x)} ({x.size} elements) "
                      f"to {tuple(new_sizes)}")
    return TensorType(x.dtype, new_sizes)


shape_rules[reshape_p] = _reshape_shape
impl_rules[reshape_p] = lambda x, *, new_sizes: np.asarray(x).reshape(new_sizes)

transpose_p = new_primitive("transpose")


def _transpose_shape(x, *, permutation):
    if sorted(permutation) != list(range(x.ndim)):
        raise IRError(f"transpose: permutation {permutation} is not a permutation of "
                      f"the {x.ndim} axes of {_shape_str(x)}")
    return TensorType(x.dtype, [x.shape[p] for p in permutation])


shape_rules[transpose_p] = _transpose_shape
impl_rules[transpose_p] = lambda x, *, permutation: np.transpose(np.asarray(x), permutation)

slice_p = new_primitive("slice")


def _slice_shape(x, *, start_indices, limit_indices, strides):
    if not (len(start_indices) == len(limit_indices) == len(strides) == x.ndim):
        raise IRError(f"slice: {_shape_str(x)} needs {x.ndim} start/limit/stride entries")
    shape = []
    for d, lo, hi, st in zip(x.shape, start_indices, limit_indices, strides):
        if not (0 <= lo <= hi <= d) or st < 1:
            raise IRError(f"slice: bounds {start_indices}:{limit_indices}:{strides} "
                          f"do not fit {x.shape}")
        shape.append(max(0, -(-(hi - lo) // st)))
    return TensorType(x.dtype, shape)


def _slice_impl(x, *, start_indices, limit_indices, strides):
    idx = tuple(slice(lo, hi, st) for lo, hi, st in zip(start_indices, limit_indices, strides))
    return np.asarray(x)[idx]


shape_rules[slice_p] = _slice_shape
impl_rules[slice_p] = _slice_impl

pad_p = new_primitive("pad")


def _pad_shape(x, padding_value, *, padding_config):
    if padding_value.shape != () or padding_value.dtype is not x.dtype:
        raise IRError(f"pad: padding value must be a scalar {x.dtype.short}, "
                      f"got {_shape_str(padding_value)}")
    if len(padding_config) != x.ndim:
        raise IRError(f"pad: {_shape_str(x)} needs {x.ndim} (low, high, interior) entries")
    shape = []
    for d, (lo, hi, interior) in zip(x.shape, padding_config):
        if interior < 0:
            raise IRError("pad: interior padding must be >= 0")
        size = lo + hi + d + max(0, d - 1) * interior
        if size < 0:
            raise IRError(f"pad: padding {padding_config} makes a negative dimension")
        shape.append(size)
    return TensorType(x.dtype, shape)


def _pad_impl(x, padding_value, *, padding_config):
    x = np.asarray(x)
    shape = _pad_shape(TensorType(as_dtype(x.dtype), x.shape),
                       TensorType(as_dtype(x.dtype), ()), padding_config=padding_config).shape
    out = np.full(shape, padding_value, dtype=x.dtype)
    # Place x on a grid with interior spacing, then crop/offset by (possibly negative) lo/hi.
    inner = [d + max(0, d - 1) * i for d, (_, _, i) in zip(x.shape, padding_config)]
    grid = np.full(inner, padding_value, dtype=x.dtype)
    grid[tuple(slice(None, None, i + 1) for (_, _, i) in padding_config)] = x
    src, dst = [], []
    for n, size, (lo, _, _) in zip(inner, shape, padding_config):
        s0, d0 = max(0, -lo), max(0, lo)
        length = min(n - s0, size - d0)
        src.append(slice(s0, s0 + max(0, length)))
        dst.append(slice(d0, d0 + max(0, length)))
    out[tuple(dst)] = grid[tuple(src)]
    return out


shape_rules[pad_p] = _pad_shape
impl_rules[pad_p] = _pad_impl

concatenate_p = new_primitive("concatenate")


def _concatenate_shape(*xs, dimension):
    if not xs:
        raise IRError("concatenate: needs at least one operand")
    first = xs[0]
    if not 0 <= dimension < first.ndim:
        raise IRError(f"concatenate: dimension {dimension} is out of range for {_shape_str(first)}")
    for x in xs:
        same = x.ndim == first.ndim and all(
            a == b for i, (a, b) in enumerate(zip(x.shape, first.shape)) if i != dimension)
        if x.dtype is not first.dtype or not same:
            raise IRError("concatenate: operands " + ", ".join(_shape_str(t) for t in xs)
                          + f" do not match outside dimension {dimension}")
    shape = list(first.shape)
    shape[dimension] = sum(x.shape[dimension] for x in xs)
    return TensorType(first.dtype, shape)


shape_rules[concatenate_p] = _concatenate_shape
impl_rules[concatenate_p] = lambda *xs, dimension: np.concatenate(
    [np.asarray(x) for x in xs], axis=dimension)


# ---------------------------------------------------------------------------------------------
# Indexing: gather (take along one axis, indices clamped) and its transpose scatter_add
# ---------------------------------------------------------------------------------------------

gather_p = new_primitive("gather")


def _gather_shape(x, indices, *, axis):
    if indices.dtype not in INTS:
        raise IRError(f"gather: indices must be integers, got {_shape_str(indices)}")
    if not 0 <= axis < x.ndim:
        raise IRError(f"gather: axis {axis} is out of range for {_shape_str(x)}")
    return TensorType(x.dtype, x.shape[:axis] + indices.shape + x.shape[axis + 1:])


def clamp_indices(indices, n):
    """Integer indices of any width and signedness clamped into [0, n - 1], as int64."""
    indices = np.asarray(indices)
    if indices.dtype.kind == "u":
        return np.minimum(indices.astype(np.uint64), n - 1).astype(np.int64)
    return np.clip(indices.astype(np.int64), 0, n - 1)


def _gather_impl(x, indices, *, axis):
    x = np.asarray(x)
    n = x.shape[axis]
    if n == 0:
        shape = x.shape[:axis] + np.shape(indices) + x.shape[axis + 1:]
        return np.zeros(shape, x.dtype)
    return np.take(x, clamp_indices(indices, n), axis=axis)


shape_rules[gather_p] = _gather_shape
impl_rules[gather_p] = _gather_impl

scatter_add_p = new_primitive("scatter_add")


def _scatter_add_shape(x, indices, updates, *, axis):
    expected = _gather_shape(x, indices, axis=axis)
    if updates != expected:
        raise IRError(f"scatter_add: updates {_shape_str(updates)} must be {_shape_str(expected)}")
    return x


def _scatter_add_impl(x, indices, updates, *, axis):
    out = np.array(x, copy=True)
    n = out.shape[axis]
    if n == 0:
        return out
    moved = np.moveaxis(out, axis, 0)
    idx = clamp_indices(indices, n)
    upd = np.moveaxis(np.asarray(updates), list(range(axis, axis + idx.ndim)),
                      list(range(idx.ndim)))
    np.add.at(moved, idx, upd)
    return out


shape_rules[scatter_add_p] = _scatter_add_shape
impl_rules[scatter_add_p] = _scatter_add_impl

dynamic_slice_p = new_primitive("dynamic_slice")


def _dynamic_slice_shape(x, *starts, slice_sizes):
    if len(starts) != x.ndim or len(slice_sizes) != x.ndim:
        raise IRError(f"dynamic_slice: {_shape_str(x)} needs {x.ndim} start indices and sizes")
    if any(s.shape != () or s.dtype not in INTS for s in starts):
        raise IRError("dynamic_slice: start indices must be integer scalars")
    if any(not 0 <= n <= d for n, d in zip(slice_sizes, x.shape)):
        raise IRError(f"dynamic_slice: sizes {slice_sizes} do not fit {x.shape}")
    return TensorType(x.dtype, slice_sizes)


def _clamped_starts(shape, sizes, starts):
    return [int(min(max(int(s), 0), d - n)) for s, d, n in zip(starts, shape, sizes)]


def _dynamic_slice_impl(x, *starts, slice_sizes):
    x = np.asarray(x)
    lo = _clamped_starts(x.shape, slice_sizes, starts)
    return x[tuple(slice(s, s + n) for s, n in zip(lo, slice_sizes))]


shape_rules[dynamic_slice_p] = _dynamic_slice_shape
impl_rules[dynamic_slice_p] = _dynamic_slice_impl

dynamic_update_slice_p = new_primitive("dynamic_update_slice")


def _dynamic_update_slice_shape(x, update, *starts):
    if update.dtype is not x.dtype or update.ndim != x.ndim:
        raise IRError(f"dynamic_update_slice: update {_shape_str(update)} does not fit "
                      f"{_shape_str(x)}")
    _dynamic_slice_shape(x, *starts, slice_sizes=update.shape)
    return x


def _dynamic_update_slice_impl(x, update, *starts):
    out = np.array(x, copy=True)
    update = np.asarray(update)
    lo = _clamped_starts(out.shape, update.shape, starts)
    out[tuple(slice(s, s + n) for s, n in zip(lo, update.shape))] = update
    return out


shape_rules[dynamic_update_slice_p] = _dynamic_update_slice_shape
impl_rules[dynamic_update_slice_p] = _dynamic_update_slice_impl


# ---------------------------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------------------------

def _reduce_shape(name, allowed):
    def rule(x, *, axes):
        if len(set(axes)) != len(axes) or any(not 0 <= a < x.ndim for a in axes):
            raise IRError(f"{name}: axes {axes} are invalid for {_shape_str(x)}")
        if x.dtype not in allowed:
            raise IRError(f"{name}: dtype {x.dtype.short} is not supported")
        return TensorType(x.dtype, [d for i, d in enumerate(x.shape) if i not in axes])
    return rule


def _identity_max(dtype):
    return -np.inf if dtype.kind == "f" else (False if dtype.kind == "b" else np.iinfo(dtype).min)


def _identity_min(dtype):
    return np.inf if dtype.kind == "f" else (True if dtype.kind == "b" else np.iinfo(dtype).max)


reduce_sum_p = new_primitive("reduce_sum", reduction="sum")
reduce_max_p = new_primitive("reduce_max", reduction="max")
reduce_min_p = new_primitive("reduce_min", reduction="min")
reduce_prod_p = new_primitive("reduce_prod", reduction="prod")
shape_rules[reduce_sum_p] = _reduce_shape("reduce_sum", ARITHMETIC)
shape_rules[reduce_max_p] = _reduce_shape("reduce_max", NUMBERS + (DType.bool,))
shape_rules[reduce_min_p] = _reduce_shape("reduce_min", NUMBERS + (DType.bool,))
shape_rules[reduce_prod_p] = _reduce_shape("reduce_prod", ARITHMETIC)
# (the ufuncs' reduce, which np.sum, np.prod, np.max and np.min call on an ndarray, without
# their dispatch: ~1 us a call)
impl_rules[reduce_sum_p] = _quiet(lambda x, *, axes: np.asarray(
    np.add.reduce(np.asarray(x), axis=tuple(axes), dtype=np.asarray(x).dtype)))
impl_rules[reduce_prod_p] = _quiet(lambda x, *, axes: np.asarray(
    np.multiply.reduce(np.asarray(x), axis=tuple(axes), dtype=np.asarray(x).dtype)))
impl_rules[reduce_max_p] = _quiet(lambda x, *, axes: np.asarray(
    np.maximum.reduce(np.asarray(x), axis=tuple(axes),
                      initial=_identity_max(np.asarray(x).dtype))))
impl_rules[reduce_min_p] = _quiet(lambda x, *, axes: np.asarray(
    np.minimum.reduce(np.asarray(x), axis=tuple(axes),
                      initial=_identity_min(np.asarray(x).dtype))))

argmax_p = new_primitive("argmax")
argmin_p = new_primitive("argmin")


def _arg_shape(name):
    def rule(x, *, axis, index_dtype):
        if not 0 <= axis < x.ndim or x.shape[axis] == 0:
            raise IRError(f"{name}: axis {axis} is invalid or empty for {_shape_str(x)}")
        return TensorType(as_dtype(index_dtype), [d for i, d in enumerate(x.shape) if i != axis])
    return rule


shape_rules[argmax_p] = _arg_shape("argmax")
shape_rules[argmin_p] = _arg_shape("argmin")
impl_rules[argmax_p] = lambda x, *, axis, index_dtype: np.asarray(
    np.argmax(x, axis=axis)).astype(as_dtype(index_dtype).np)
impl_rules[argmin_p] = lambda x, *, axis, index_dtype: np.asarray(
    np.argmin(x, axis=axis)).astype(as_dtype(index_dtype).np)


# ---------------------------------------------------------------------------------------------
# Contraction and generation
# ---------------------------------------------------------------------------------------------

dot_general_p = new_primitive("dot_general")


def _dot_dims(lhs_ndim, rhs_ndim, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    lfree = [i for i in range(lhs_ndim) if i not in lc and i not in lb]
    rfree = [i for i in range(rhs_ndim) if i not in rc and i not in rb]
    return list(lc), list(rc), list(lb), list(rb), lfree, rfree


def _dot_general_shape(lhs, rhs, *, dimension_numbers):
    if lhs.dtype is not rhs.dtype or lhs.dtype not in ARITHMETIC:
        raise IRError(f"dot_general: operands {_shape_str(lhs)} and {_shape_str(rhs)} "
                      "must share a numeric dtype")
    lc, rc, lb, rb, lfree, rfree = _dot_dims(lhs.ndim, rhs.ndim, dimension_numbers)
    ok = (len(lc) == len(rc) and len(lb) == len(rb)
          and all(0 <= i < lhs.ndim for i in lc + lb) and all(0 <= i < rhs.ndim for i in rc + rb)
          and all(lhs.shape[a] == rhs.shape[b] for a, b in zip(lc + lb, rc + rb)))
    if not ok:
        raise IRError(f"dot_general: shapes {lhs.shape} and {rhs.shape} do not fit "
                      f"dimension_numbers {dimension_numbers}")
    shape = ([lhs.shape[i] for i in lb] + [lhs.shape[i] for i in lfree]
             + [rhs.shape[i] for i in rfree])
    return TensorType(lhs.dtype, shape)


def _dot_general_impl(lhs, rhs, *, dimension_numbers):
    lhs, rhs = np.asarray(lhs), np.asarray(rhs)
    lc, rc, lb, rb, lfree, rfree = _dot_dims(lhs.ndim, rhs.ndim, dimension_numbers)
    batch = [lhs.shape[i] for i in lb]
    m = math.prod(lhs.shape[i] for i in lfree)
    n = math.prod(rhs.shape[i] for i in rfree)
    k = math.prod(lhs.shape[i] for i in lc)
    b = math.prod(batch)
    if not batch:  # a plain matrix product: numpy's 2-D path straight into BLAS
        a = np.transpose(lhs, lfree + lc).reshape(m, k)
        c = np.transpose(rhs, rc + rfree).reshape(k, n)
    else:
        a = np.transpose(lhs, lb + lfree + lc).reshape(b, m, k)
        c = np.transpose(rhs, rb + rc + rfree).reshape(b, k, n)
    out = np.matmul(a, c)
    return out.reshape(batch + [lhs.shape[i] for i in lfree] + [rhs.shape[i] for i in rfree])


shape_rules[dot_general_p] = _dot_general_shape
impl_rules[dot_general_p] = _dot_general_impl

iota_p = new_primitive("iota")


def _iota_shape(*, dtype, shape, dimension):
    if not 0 <= dimension < len(shape):
        raise IRError(f"iota: dimension {dimension} is out of range for shape {shape}")
    return TensorType(as_dtype(dtype), shape)


def _iota_impl(*, dtype, shape, dimension):
    expanded = [1] * len(shape)
    expanded[dimension] = shape[dimension]
    ramp = np.arange(shape[dimension]).astype(as_dtype(dtype).np).reshape(expanded)  # wraps
    return np.broadcast_to(ramp, shape)


shape_rules[iota_p] = _iota_shape
impl_rules[iota_p] = _iota_impl

stop_gradient_p = new_primitive("stop_gradient", elementwise=True)
shape_rules[stop_gradient_p] = lambda x: x
impl_rules[stop_gradient_p] = lambda x: np.asarray(x)


# ---------------------------------------------------------------------------------------------
# Control flow and calls with custom rules: params carry sub-Functions
# ---------------------------------------------------------------------------------------------

def _check_call(name: str, fn: Function, in_types: Sequence[TensorType]) -> None:
    if list(fn.in_types) != list(in_types):
        raise IRError(f"{name}: sub-function takes ({', '.join(map(str, fn.in_types))}) "
                      f"but is given ({', '.join(map(str, in_types))})")


cond_p = new_primitive("cond", multiple_results=True, higher_order=True)


def _cond_shape(index, *operands, branches):
    if index.shape != () or index.dtype not in INTS:
        raise IRError(f"cond: index must be an integer scalar, got {_shape_str(index)}")
    for b in branches:
        _check_call("cond", b, operands)
        if b.out_types != branches[0].out_types:
            raise IRError("cond: branches return different types: "
                          + " vs ".join("(" + ", ".join(map(str, x.out_types)) + ")"
                                        for x in branches))
    return branches[0].out_types


def branch_index(index, num_branches: int) -> int:
    """cond's index clamped into [0, num_branches) (out-of-range picks the nearest branch)."""
    return int(min(max(int(index), 0), num_branches - 1))


# The control-flow impls below are the one host interpreter of cond, while and scan. Each takes
# `run_function(fn, *args) -> list of arrays`, the runner of its sub-Functions: the reference
# interpreter by default; the native runtime passes compiled callables for its host steps.

def _cond_impl(index, *operands, branches, run_function=eval_function):
    return run_function(branches[branch_index(index, len(branches))], *operands)


shape_rules[cond_p] = _cond_shape
impl_rules[cond_p] = _cond_impl

while_p = new_primitive("while", multiple_results=True, higher_order=True)


def _while_shape(*args, cond_fun, body_fun, cond_nconsts, body_nconsts):
    cond_consts, body_consts, carry = while_operands(args, cond_nconsts, body_nconsts)
    _check_call("while cond_fun", cond_fun, cond_consts + carry)
    _check_call("while body_fun", body_fun, body_consts + carry)
    if cond_fun.out_types != [TensorType(DType.bool, ())]:
        raise IRError(f"while: cond_fun must return a bool scalar, returns {cond_fun.out_types}")
    if body_fun.out_types != carry:
        raise IRError(f"while: body_fun returns ({', '.join(map(str, body_fun.out_types))}) "
                      f"but the carry is ({', '.join(map(str, carry))})")
    return carry


def _while_impl(*args, cond_fun, body_fun, cond_nconsts, body_nconsts,
                run_function=eval_function):
    cond_consts, body_consts, carry = while_operands(args, cond_nconsts, body_nconsts)
    while bool(run_function(cond_fun, *cond_consts, *carry)[0]):
        carry = run_function(body_fun, *body_consts, *carry)
    return list(carry)


shape_rules[while_p] = _while_shape
impl_rules[while_p] = _while_impl

scan_p = new_primitive("scan", multiple_results=True, higher_order=True)


def _scan_shape(*args, body, length, num_consts, num_carry, reverse):
    consts, carry, xs = scan_operands(args, num_consts, num_carry)
    for x in xs:
        if x.ndim == 0 or x.shape[0] != length:
            raise IRError(f"scan: scanned operand {_shape_str(x)} must have leading "
                          f"dimension {length}")
    x_slices = [TensorType(x.dtype, x.shape[1:]) for x in xs]
    _check_call("scan body", body, consts + carry + x_slices)
    carry_out, y_slices = scan_results(body.out_types, num_carry)
    if carry_out != carry:
        raise IRError(f"scan: body returns carry ({', '.join(map(str, carry_out))}) "
                      f"but the initial carry is ({', '.join(map(str, carry))})")
    return carry + [TensorType(t.dtype, (length,) + t.shape) for t in y_slices]


def _scan_impl(*args, body, length, num_consts, num_carry, reverse,
               run_function=eval_function):
    consts, carry, xs = scan_operands(args, num_consts, num_carry)
    xs = [np.asarray(x) for x in xs]
    _, y_types = scan_results(body.out_types, num_carry)
    ys = [np.empty((length,) + t.shape, t.dtype.np) for t in y_types]
    for i in (range(length - 1, -1, -1) if reverse else range(length)):
        carry, y_slices = scan_results(run_function(body, *consts, *carry, *[x[i] for x in xs]),
                                       num_carry)
        for y, v in zip(ys, y_slices):
            y[i] = v
    return carry + ys


shape_rules[scan_p] = _scan_shape
impl_rules[scan_p] = _scan_impl

custom_jvp_call_p = new_primitive("custom_jvp_call", multiple_results=True, higher_order=True)


def _custom_jvp_shape(*args, call, jvp, num_consts):
    _check_call("custom_jvp_call", call, args)
    return call.out_types


def _call_impl(*args, call, run_function=eval_function, **_):
    return run_function(call, *args)


shape_rules[custom_jvp_call_p] = _custom_jvp_shape
impl_rules[custom_jvp_call_p] = _call_impl

custom_vjp_call_p = new_primitive("custom_vjp_call", multiple_results=True, higher_order=True)


def _custom_vjp_shape(*args, call, fwd, bwd, num_res, num_consts):
    _check_call("custom_vjp_call", call, args)
    _check_call("custom_vjp_call fwd", fwd, args)
    return call.out_types


shape_rules[custom_vjp_call_p] = _custom_vjp_shape
impl_rules[custom_vjp_call_p] = _call_impl

# custom_lin: the linear (tangent) part of a custom_vjp call after linearization. `bwd` is its
# transpose, so reverse mode needs nothing else; its forward map is never known.
custom_lin_p = new_primitive("custom_lin", multiple_results=True, higher_order=True)


def _custom_lin_shape(*args, bwd, num_res, out_types):
    return list(out_types)


def _custom_lin_impl(*args, bwd, num_res, out_types):
    raise TypeError("forward-mode differentiation (jvp, jacfwd) of a custom_vjp function is "
                    "not supported: custom_vjp defines only the reverse-mode rule; use "
                    "custom_jvp, or reverse mode (grad, vjp, jacrev)")


shape_rules[custom_lin_p] = _custom_lin_shape
impl_rules[custom_lin_p] = _custom_lin_impl


# =============================================================================================
# numpy area: primitives for dualjit.numpy's breadth — accurate elementwise math, cumulative
# scans, sorting and searching. None has a native lowering yet: codegen runs them as host
# steps (their numpy implementation, between kernels).
# =============================================================================================

_NUMPY_UNARY = {
    "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "asinh": np.arcsinh,
    "acosh": np.arccosh, "atanh": np.arctanh, "sinh": np.sinh, "cosh": np.cosh,
    "cbrt": np.cbrt, "exp2": np.exp2, "log2": np.log2, "log10": np.log10,
}
numpy_unary_primitives = {}
for _name, _fn in _NUMPY_UNARY.items():
    _p = new_primitive(_name, elementwise=True)
    numpy_unary_primitives[_name] = _p
    shape_rules[_p] = (lambda n: lambda x: _elementwise_type(n, [x], FLOATS))(_name)
    impl_rules[_p] = _quiet((lambda f: lambda x: np.asarray(f(np.asarray(x))))(_fn))

asin_p, acos_p, atan_p, asinh_p, acosh_p, atanh_p = (
    numpy_unary_primitives[n] for n in ("asin", "acos", "atan", "asinh", "acosh", "atanh"))
sinh_p, cosh_p, cbrt_p, exp2_p, log2_p, log10_p = (
    numpy_unary_primitives[n] for n in ("sinh", "cosh", "cbrt", "exp2", "log2", "log10"))

_NUMPY_BINARY = {"hypot": np.hypot, "copysign": np.copysign, "nextafter": np.nextafter}
numpy_binary_primitives = {}
for _name, _fn in _NUMPY_BINARY.items():
    _p = new_primitive(_name, elementwise=True)
    numpy_binary_primitives[_name] = _p
    shape_rules[_p] = (lambda n: lambda x, y: _elementwise_type(n, [x, y], FLOATS))(_name)
    impl_rules[_p] = _quiet((lambda f: lambda x, y: np.asarray(f(np.asarray(x), np.asarray(y))))(_fn))
hypot_p, copysign_p, nextafter_p = (numpy_binary_primitives[n]
                                    for n in ("hypot", "copysign", "nextafter"))

# ldexp(x, n) = x * 2**n without overflow in between; frexp(x) = (mantissa, exponent).
ldexp_p = new_primitive("ldexp", elementwise=True)


def _ldexp_shape(x, n):
    if x.dtype not in FLOATS or n.dtype not in INTS:
        raise IRError(f"ldexp: expects a float and an integer operand, got {_shape_str(x)} "
                      f"and {_shape_str(n)}")
    if n.shape not in ((), x.shape) and x.shape != ():
        raise IRError(f"ldexp: operand shapes {x.shape} and {n.shape} do not match")
    return TensorType(x.dtype, x.shape if x.shape != () else n.shape)


shape_rules[ldexp_p] = _ldexp_shape
impl_rules[ldexp_p] = _quiet(lambda x, n: np.asarray(np.ldexp(
    np.asarray(x), np.clip(np.asarray(n), -2**31, 2**31 - 1).astype(np.int32))))

frexp_p = new_primitive("frexp", multiple_results=True)


def _frexp_shape(x):
    _elementwise_type("frexp", [x], FLOATS)
    return [x, x.with_dtype(DType.int32)]


shape_rules[frexp_p] = _frexp_shape
impl_rules[frexp_p] = lambda x: [np.asarray(a) for a in np.frexp(np.asarray(x))]


# Cumulative scans along one axis (reverse: from the end). The numpy implementations run the
# scan in numpy's accumulate, flipped for reverse.

def _cumulative_shape(name, allowed):
    def rule(x, *, axis, reverse):
        if not 0 <= axis < x.ndim:
            raise IRError(f"{name}: axis {axis} is out of range for {_shape_str(x)}")
        if x.dtype not in allowed:
            raise IRError(f"{name}: dtype {x.dtype.short} is not supported")
        return x
    return rule


def _cumulative_impl(accumulate):
    def impl(x, *, axis, reverse):
        x = np.asarray(x)
        if reverse:
            out = np.flip(accumulate(np.flip(x, axis), axis=axis), axis)
            return np.ascontiguousarray(out, dtype=x.dtype)
        return accumulate(x, axis=axis).astype(x.dtype, copy=False)
    return _quiet(impl)


cumsum_p = new_primitive("cumsum")
cumprod_p = new_primitive("cumprod")
cummax_p = new_primitive("cummax")
cummin_p = new_primitive("cummin")
shape_rules[cumsum_p] = _cumulative_shape("cumsum", NUMBERS)
shape_rules[cumprod_p] = _cumulative_shape("cumprod", NUMBERS)
shape_rules[cummax_p] = _cumulative_shape("cummax", NUMBERS + (DType.bool,))
shape_rules[cummin_p] = _cumulative_shape("cummin", NUMBERS + (DType.bool,))
impl_rules[cumsum_p] = _cumulative_impl(lambda x, axis: np.cumsum(x, axis, dtype=x.dtype))
impl_rules[cumprod_p] = _cumulative_impl(lambda x, axis: np.cumprod(x, axis, dtype=x.dtype))
impl_rules[cummax_p] = _cumulative_impl(np.maximum.accumulate)
impl_rules[cummin_p] = _cumulative_impl(np.minimum.accumulate)

# linear_recurrence(a, b): z[i] = a[i] * z[i-1] + b[i] along `axis` (z[-1] = 0). Linear in b;
# the derivatives of cumprod are written with it (exact where elements are zero).
linear_recurrence_p = new_primitive("linear_recurrence")


def _linear_recurrence_shape(a, b, *, axis, reverse):
    if a != b or a.dtype not in FLOATS:
        raise IRError(f"linear_recurrence: operands {_shape_str(a)} and {_shape_str(b)} must "
                      "be float arrays of one type")
    return _cumulative_shape("linear_recurrence", FLOATS)(b, axis=axis, reverse=reverse)


@_quiet
def _linear_recurrence_impl(a, b, *, axis, reverse):
    # Hillis-Steele doubling over the pairs (a, b) composed as affine maps: log2(n) numpy
    # passes instead of a Python loop over n steps.
    a = np.moveaxis(np.array(a, copy=True), axis, 0)
    z = np.moveaxis(np.array(b, copy=True), axis, 0)
    if reverse:
        a, z = a[::-1].copy(), z[::-1].copy()
    step = 1
    while step < z.shape[0]:
        z[step:] = z[step:] + a[step:] * z[:-step]
        a[step:] = a[step:] * a[:-step]
        step *= 2
    if reverse:
        z = z[::-1]
    return np.ascontiguousarray(np.moveaxis(z, 0, axis))


shape_rules[linear_recurrence_p] = _linear_recurrence_shape
impl_rules[linear_recurrence_p] = _linear_recurrence_impl

# sort: sorts all operands along `axis` by the first `num_keys` of them (lexicographically,
# the first key primary), stably, with NaNs after every number as in NumPy.
sort_p = new_primitive("sort", multiple_results=True)


def _sort_shape(*operands, axis, num_keys):
    if not operands or not 1 <= num_keys <= len(operands):
        raise IRError(f"sort: needs 1 <= num_keys <= {len(operands)} operands, got {num_keys}")
    shape = operands[0].shape
    if any(o.shape != shape for o in operands):
        raise IRError("sort: operand shapes differ: " + ", ".join(map(_shape_str, operands)))
    if not 0 <= axis < len(shape):
        raise IRError(f"sort: axis {axis} is out of range for {_shape_str(operands[0])}")
    return list(operands)


def _sort_impl(*operands, axis, num_keys):
    operands = [np.asarray(o) for o in operands]
    if len(operands) == 1:  # nothing carried along: equal keys are interchangeable
        return [np.sort(operands[0], axis=axis)]
    keys = operands[:num_keys]
    if num_keys == 1:
        order = np.argsort(keys[0], axis=axis, kind="stable")
    else:  # np.lexsort: the last key is the primary one
        order = np.lexsort(keys[::-1], axis=axis)
    return [np.take_along_axis(o, order, axis=axis) for o in operands]


shape_rules[sort_p] = _sort_shape
impl_rules[sort_p] = _sort_impl

# searchsorted(sorted_a, v): for each v, the insertion index into the 1-D sorted_a.
searchsorted_p = new_primitive("searchsorted")


def _searchsorted_shape(a, v, *, side):
    if a.ndim != 1 or a.dtype is not v.dtype or side not in ("left", "right"):
        raise IRError(f"searchsorted: needs a 1-D sorted array and values of its dtype and "
                      f"side 'left' or 'right', got {_shape_str(a)}, {_shape_str(v)}, {side!r}")
    return TensorType(DType.int64, v.shape)


shape_rules[searchsorted_p] = _searchsorted_shape
impl_rules[searchsorted_p] = lambda a, v, *, side: np.asarray(
    np.searchsorted(np.asarray(a), np.asarray(v), side=side), dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# Integer bit operations (dtypes area). The bitwise `and/or/xor/not` above serve every integer
# width and bool. Shifts follow JAX (and NumPy's loops): both operands have one integer dtype,
# the shift amount is read as unsigned, and an amount >= the width gives 0 (shift_left,
# shift_right_logical) or the sign fill (shift_right_arithmetic: -1 for negative x, else 0).
# `shift_right_logical` sees x's bits as unsigned, `shift_right_arithmetic` as signed, whatever
# x's signedness.
# ---------------------------------------------------------------------------------------------

_UNSIGNED_OF = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
_SIGNED_OF = {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}


def _bits_as(x, table):
    """x's bits reinterpreted as the integer type of the same width from `table`."""
    x = np.asarray(x)
    return x.view(table[x.dtype.itemsize])


def _shift_amount(x, y):
    """y read as unsigned, the mask of amounts below x's width, and the amount clipped to it."""
    amount = _bits_as(y, _UNSIGNED_OF)
    width = 8 * np.asarray(x).dtype.itemsize
    in_range = amount < width
    return in_range, np.minimum(amount, width - 1)


def _shift_left(x, y):
    in_range, amount = _shift_amount(x, y)
    bits = _bits_as(x, _UNSIGNED_OF)
    shifted = np.left_shift(bits, amount.astype(bits.dtype))
    return np.where(in_range, shifted, 0).astype(bits.dtype).view(np.asarray(x).dtype)


def _shift_right_logical(x, y):
    in_range, amount = _shift_amount(x, y)
    bits = _bits_as(x, _UNSIGNED_OF)
    shifted = np.right_shift(bits, amount.astype(bits.dtype))
    return np.where(in_range, shifted, 0).astype(bits.dtype).view(np.asarray(x).dtype)


def _shift_right_arithmetic(x, y):
    _, amount = _shift_amount(x, y)  # shifting by width - 1 already gives the sign fill
    bits = _bits_as(x, _SIGNED_OF)
    shifted = np.right_shift(bits, amount.astype(bits.dtype))
    return np.asarray(shifted, dtype=bits.dtype).view(np.asarray(x).dtype)


def _population_count(x):
    """The number of 1 bits of x's two's-complement pattern, in x's dtype."""
    return np.asarray(np.bitwise_count(_bits_as(x, _UNSIGNED_OF))).astype(np.asarray(x).dtype)


def _clz(x):
    """The number of leading 0 bits of x's two's-complement pattern, in x's dtype."""
    bits = _bits_as(x, _UNSIGNED_OF)
    value = bits.astype(np.uint64)
    length = np.zeros(bits.shape, np.int64)
    for step in (32, 16, 8, 4, 2, 1):  # binary search for the highest set bit
        high = value >= np.uint64(1 << step)
        length = length + np.where(high, step, 0)
        value = np.where(high, value >> np.uint64(step), value)
    length = length + (value > 0)
    return np.asarray(8 * bits.dtype.itemsize - length).astype(np.asarray(x).dtype)


_BIT_BINARY = {"shift_left": _shift_left, "shift_right_logical": _shift_right_logical,
               "shift_right_arithmetic": _shift_right_arithmetic}
_BIT_UNARY = {"population_count": _population_count, "clz": _clz}
bit_primitives = {}  # kept apart from unary/binary_primitives until codegen lowers them
for _name, _fn in _BIT_BINARY.items():
    _p = bit_primitives[_name] = new_primitive(_name, elementwise=True)
    shape_rules[_p] = (lambda n: lambda x, y: _elementwise_type(n, [x, y], INTS))(_name)
    impl_rules[_p] = _quiet((lambda f: lambda x, y: np.asarray(f(np.asarray(x), np.asarray(y))))(_fn))
for _name, _fn in _BIT_UNARY.items():
    _p = bit_primitives[_name] = new_primitive(_name, elementwise=True)
    shape_rules[_p] = (lambda n: lambda x: _elementwise_type(n, [x], INTS))(_name)
    impl_rules[_p] = _quiet((lambda f: lambda x: np.asarray(f(np.asarray(x))))(_fn))

shift_left_p = bit_primitives["shift_left"]
shift_right_logical_p = bit_primitives["shift_right_logical"]
shift_right_arithmetic_p = bit_primitives["shift_right_arithmetic"]
population_count_p, clz_p = bit_primitives["population_count"], bit_primitives["clz"]


# =============================================================================================
# vmap area: checkpoint (dj.checkpoint / dj.remat) — a call whose intermediates reverse mode
# recomputes instead of storing; `policy` names the values it may store instead. jit inlines
# the call after simplification (autodiff.remat.inline_checkpoints).
# =============================================================================================

checkpoint_p = new_primitive("checkpoint", multiple_results=True, higher_order=True)


def _checkpoint_shape(*args, call, policy):
    _check_call("checkpoint", call, args)
    return call.out_types


shape_rules[checkpoint_p] = _checkpoint_shape
impl_rules[checkpoint_p] = _call_impl

# optimization_barrier: the identity on its operands, which no pass looks through or reorders
# across (a checkpoint's recomputation waits, through one, for the cotangents of its outputs).
optimization_barrier_p = new_primitive("optimization_barrier", multiple_results=True)
shape_rules[optimization_barrier_p] = lambda *xs: list(xs)
impl_rules[optimization_barrier_p] = lambda *xs: [np.asarray(x) for x in xs]

# Host callbacks (dj.debug.callback / dj.debug.print, dj.pure_callback): `callback` is the
# Python function, called with numpy arrays. debug_callback has no results and is effectful
# (never dropped or merged); pure_callback returns arrays of `result_types` and is pure
# (`vmap_method` says how vmap calls it: "sequential", "expand_dims" or "broadcast_all").
debug_callback_p = new_primitive("debug_callback", multiple_results=True, effectful=True)
shape_rules[debug_callback_p] = lambda *args, callback: []


def _debug_callback_impl(*args, callback):
    callback(*[np.asarray(a) for a in args])
    return []


impl_rules[debug_callback_p] = _debug_callback_impl

pure_callback_p = new_primitive("pure_callback", multiple_results=True)
shape_rules[pure_callback_p] = lambda *args, callback, result_types, vmap_method: list(
    result_types)


def _pure_callback_impl(*args, callback, result_types, vmap_method):
    results = callback(*[np.asarray(a) for a in args])
    results = list(results) if isinstance(results, (list, tuple)) else [results]
    if len(results) != len(result_types):
        raise TypeError(f"pure_callback: the callback returned {len(results)} arrays, "
                        f"result_shape_dtypes describes {len(result_types)}")
    out = []
    for i, (r, t) in enumerate(zip(results, result_types)):
        r = np.asarray(r)
        if r.shape != t.shape:
            raise TypeError(f"pure_callback: result {i} has shape {r.shape}, "
                            f"result_shape_dtypes says {t}")
        out.append(r.astype(t.dtype.np, copy=False))
    return out


impl_rules[pure_callback_p] = _pure_callback_impl



# =============================================================================================
# Linear algebra (linalg): factorizations and triangular solves on stacks of matrices
# (leading batch dimensions). numpy implementations in linalg_impl.py; NaN where one fails.
# =============================================================================================

from . import linalg_impl  # noqa: E402


def _matrices(name: str, x: TensorType, square: bool = False,
              allowed: Sequence[DType] = FLOATS) -> tuple[int, int]:
    """The (rows, columns) of a float (or, where allowed, complex) matrix or stack of
    matrices, or an IRError."""
    if x.dtype not in allowed or x.ndim < 2 or (square and x.shape[-1] != x.shape[-2]):
        kind = "square matrix" if square else "matrix"
        names = " or ".join(d.np.name for d in allowed)
        raise IRError(f"{name}: expected a {names} {kind} (or a stack of them), "
                      f"got {_shape_str(x)}")
    return x.shape[-2], x.shape[-1]


cholesky_p = new_primitive("cholesky")


def _cholesky_shape(a):
    _matrices("cholesky", a, square=True)
    return a


shape_rules[cholesky_p] = _cholesky_shape
impl_rules[cholesky_p] = linalg_impl.cholesky

triangular_solve_p = new_primitive("triangular_solve")


def _triangular_solve_shape(a, b, *, left_side, lower, transpose_a, unit_diagonal):
    k, _ = _matrices("triangular_solve", a, square=True, allowed=INEXACT)
    rows, cols = _matrices("triangular_solve", b, allowed=INEXACT)
    if a.dtype is not b.dtype or a.shape[:-2] != b.shape[:-2] or k != (
            rows if left_side else cols):
        side = "rows" if left_side else "columns"
        raise IRError(f"triangular_solve: a {_shape_str(a)} and b {_shape_str(b)} must share "
                      f"dtype and batch dimensions, and b needs {k} {side}")
    return b


shape_rules[triangular_solve_p] = _triangular_solve_shape
impl_rules[triangular_solve_p] = linalg_impl.triangular_solve

lu_p = new_primitive("lu", multiple_results=True)


def _lu_types(name, a, permuted_axis):
    """Factors packed like a, pivots, and the permutation of rows (-2) or columns (-1)."""
    m, n = _matrices(name, a, allowed=INEXACT)
    batch = a.shape[:-2]
    return [a, TensorType(DType.int32, batch + (min(m, n),)),
            TensorType(DType.int32, batch + (a.shape[permuted_axis],))]


def _lu_shape(a):
    return _lu_types("lu", a, -2)


shape_rules[lu_p] = _lu_shape
impl_rules[lu_p] = linalg_impl.lu

lu_pivots_to_permutation_p = new_primitive("lu_pivots_to_permutation")


def _pivots_shape(pivots, *, permutation_size):
    if pivots.dtype not in INTS or pivots.ndim < 1 or pivots.shape[-1] > permutation_size:
        raise IRError(f"lu_pivots_to_permutation: pivots must be integers with at most "
                      f"{permutation_size} entries per row, got {_shape_str(pivots)}")
    return TensorType(DType.int32, pivots.shape[:-1] + (permutation_size,))


shape_rules[lu_pivots_to_permutation_p] = _pivots_shape
impl_rules[lu_pivots_to_permutation_p] = lambda pivots, *, permutation_size: (
    linalg_impl.pivots_to_permutation(pivots, permutation_size))

qr_p = new_primitive("qr", multiple_results=True)


def _qr_shape(a, *, full_matrices):
    m, n = _matrices("qr", a)
    k = m if full_matrices else min(m, n)
    return [a.with_shape(a.shape[:-2] + (m, k)), a.with_shape(a.shape[:-2] + (k, n))]


shape_rules[qr_p] = _qr_shape
impl_rules[qr_p] = linalg_impl.qr

eigh_p = new_primitive("eigh", multiple_results=True)


def _eigh_shape(a):
    n, _ = _matrices("eigh", a, square=True, allowed=INEXACT)  # complex: Hermitian
    return [TensorType(a.dtype.real_dtype, a.shape[:-1]), a]


shape_rules[eigh_p] = _eigh_shape
impl_rules[eigh_p] = linalg_impl.eigh

svd_p = new_primitive("svd", multiple_results=True)


def _svd_shape(a, *, full_matrices, compute_uv):
    m, n = _matrices("svd", a, allowed=INEXACT)
    k, batch = min(m, n), a.shape[:-2]
    s = TensorType(a.dtype.real_dtype, batch + (k,))
    if not compute_uv:
        return [s]
    u_cols, vt_rows = (m, n) if full_matrices else (k, k)
    return [s, a.with_shape(batch + (m, u_cols)), a.with_shape(batch + (vt_rows, n))]


shape_rules[svd_p] = _svd_shape
impl_rules[svd_p] = linalg_impl.svd


# =============================================================================================
# Special functions (linalg area): elementwise float primitives for dualjit.scipy.special.
# numpy implementations in special_impl.py (numpy and the standard library only).
# =============================================================================================

from . import special_impl  # noqa: E402

_SPECIAL_UNARY = {
    "erf": special_impl.erf, "erfc": special_impl.erfc, "erfcx": special_impl.erfcx,
    "erf_inv": special_impl.erfinv, "lgamma": special_impl.lgamma,
    "digamma": special_impl.digamma, "ndtr": special_impl.ndtr, "ndtri": special_impl.ndtri,
    "bessel_i0e": special_impl.bessel_i0e, "bessel_i1e": special_impl.bessel_i1e,
}
special_primitives = {}
for _name, _fn in _SPECIAL_UNARY.items():
    _p = new_primitive(_name, elementwise=True)
    special_primitives[_name] = _p
    shape_rules[_p] = (lambda n: lambda x: _elementwise_type(n, [x], FLOATS))(_name)
    impl_rules[_p] = _fn
erf_p, erfc_p, erfcx_p, erf_inv_p = (special_primitives[n]
                                     for n in ("erf", "erfc", "erfcx", "erf_inv"))
lgamma_p, digamma_p, ndtr_p, ndtri_p = (special_primitives[n]
                                        for n in ("lgamma", "digamma", "ndtr", "ndtri"))
bessel_i0e_p, bessel_i1e_p = special_primitives["bessel_i0e"], special_primitives["bessel_i1e"]

# polygamma[order](x): the order-th derivative of digamma (order >= 1)
polygamma_p = new_primitive("polygamma", elementwise=True)


def _polygamma_shape(x, *, order):
    if not isinstance(order, int) or order < 1:
        raise IRError(f"polygamma: order must be an integer >= 1, got {order!r}")
    return _elementwise_type("polygamma", [x], FLOATS)


shape_rules[polygamma_p] = _polygamma_shape
impl_rules[polygamma_p] = special_impl.polygamma


# =============================================================================================
# Convolution and pooling (speed): conv_general_dilated, window sums and maxima, and the
# max-pool derivative pair. numpy implementations (im2col + matmul) in window_impl.py.
# =============================================================================================

from . import window_impl  # noqa: E402

conv_general_dilated_p = new_primitive("conv_general_dilated")


def _positive_ints(name: str, what: str, values, count: int) -> None:
    if len(values) != count or any(int(v) < 1 for v in values):
        raise IRError(f"{name}: {what} must be {count} integers >= 1, got {tuple(values)}")


def _check_padding(name: str, padding, count: int) -> None:
    if len(padding) != count or any(len(p) != 2 for p in padding):
        raise IRError(f"{name}: padding must be {count} (low, high) pairs, got {padding}")


def _check_specs(lhs, rhs, dimension_numbers) -> None:
    specs = tuple(tuple(s) for s in dimension_numbers)
    if len(specs) != 3 or any(sorted(s) != list(range(lhs.ndim)) for s in specs):
        raise IRError(f"conv_general_dilated: dimension_numbers {dimension_numbers} must be "
                      f"three permutations of range({lhs.ndim}) (lhs, rhs, out specs)")


def _conv_groups(lhs, rhs, dimension_numbers, feature_group_count, batch_group_count) -> None:
    (lhs_spec, rhs_spec, _), fg, bg = dimension_numbers, feature_group_count, batch_group_count
    n, c = lhs.shape[lhs_spec[0]], lhs.shape[lhs_spec[1]]
    o, i = rhs.shape[rhs_spec[0]], rhs.shape[rhs_spec[1]]
    ok = (fg >= 1 and bg >= 1 and (fg == 1 or bg == 1) and c % fg == 0 and c // fg == i
          and o % (fg * bg) == 0 and n % bg == 0)
    if not ok:
        raise IRError(f"conv_general_dilated: lhs {_shape_str(lhs)} (batch {n}, features {c}) "
                      f"and rhs {_shape_str(rhs)} (out features {o}, in features {i}) do not fit "
                      f"feature_group_count={fg}, batch_group_count={bg}: need in features = "
                      "features / feature_group_count, out features divisible by the group "
                      "count, batch divisible by batch_group_count, and one count equal to 1")
    if any(rhs.shape[a] < 1 for a in rhs_spec[2:]):
        raise IRError(f"conv_general_dilated: kernel {_shape_str(rhs)} has an empty window")


def _conv_shape(lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation,
                dimension_numbers, feature_group_count, batch_group_count):
    name = "conv_general_dilated"
    if lhs.dtype is not rhs.dtype or lhs.dtype not in NUMBERS or lhs.ndim != rhs.ndim \
            or lhs.ndim < 2:
        raise IRError(f"{name}: lhs {_shape_str(lhs)} and rhs {_shape_str(rhs)} must share a "
                      "numeric dtype and a rank >= 2")
    _check_specs(lhs, rhs, dimension_numbers)
    nsp = lhs.ndim - 2
    for what, values in (("window_strides", window_strides), ("lhs_dilation", lhs_dilation),
                         ("rhs_dilation", rhs_dilation)):
        _positive_ints(name, what, values, nsp)
    _check_padding(name, padding, nsp)
    _conv_groups(lhs, rhs, dimension_numbers, feature_group_count, batch_group_count)
    return TensorType(lhs.dtype, window_impl.conv_output_shape(
        lhs.shape, rhs.shape, window_strides=window_strides, padding=padding,
        lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
        dimension_numbers=dimension_numbers, feature_group_count=feature_group_count,
        batch_group_count=batch_group_count))


shape_rules[conv_general_dilated_p] = _conv_shape
impl_rules[conv_general_dilated_p] = window_impl.conv_general_dilated


def _window_shape(name, x, window_dimensions, window_strides, padding, base_dilation,
                  window_dilation) -> tuple[int, ...]:
    """The window counts of a windowed reduction over x, after checking its parameters."""
    if x.dtype not in NUMBERS:
        raise IRError(f"{name}: operand {_shape_str(x)} must be numeric")
    for what, values in (("window_dimensions", window_dimensions),
                         ("window_strides", window_strides), ("base_dilation", base_dilation),
                         ("window_dilation", window_dilation)):
        _positive_ints(name, what, values, x.ndim)
    _check_padding(name, padding, x.ndim)
    return tuple(window_impl.window_count(*a) for a in zip(
        x.shape, window_dimensions, window_strides, padding, base_dilation, window_dilation))


reduce_window_sum_p = new_primitive("reduce_window_sum")
reduce_window_max_p = new_primitive("reduce_window_max")
# select_and_gather_add(t, x): t at each window's first maximum of x (max pool's JVP);
# select_and_scatter_add(s, x): s added at those positions (its transpose, max pool's VJP).
select_and_gather_add_p = new_primitive("select_and_gather_add")
select_and_scatter_add_p = new_primitive("select_and_scatter_add")
window_primitives = (reduce_window_sum_p, reduce_window_max_p, select_and_gather_add_p,
                     select_and_scatter_add_p)


def _reduce_window_shape(name):
    def rule(x, **window):
        return TensorType(x.dtype, _window_shape(name, x, **window))
    return rule


def _select_and_gather_shape(t, x, **window):
    counts = _window_shape("select_and_gather_add", x, **window)
    if t.shape != x.shape or t.dtype not in FLOATS:
        raise IRError(f"select_and_gather_add: tangent {_shape_str(t)} must be a float array "
                      f"of the operand's shape {x.shape}")
    return TensorType(t.dtype, counts)


def _select_and_scatter_shape(s, x, **window):
    counts = _window_shape("select_and_scatter_add", x, **window)
    if s.shape != counts or s.dtype not in FLOATS:
        raise IRError(f"select_and_scatter_add: source {_shape_str(s)} must be a float array "
                      f"of the window counts {counts}")
    return TensorType(s.dtype, x.shape)


shape_rules[reduce_window_sum_p] = _reduce_window_shape("reduce_window_sum")
shape_rules[reduce_window_max_p] = _reduce_window_shape("reduce_window_max")
shape_rules[select_and_gather_add_p] = _select_and_gather_shape
shape_rules[select_and_scatter_add_p] = _select_and_scatter_shape
impl_rules[reduce_window_sum_p] = window_impl.reduce_window_sum
impl_rules[reduce_window_max_p] = window_impl.reduce_window_max
impl_rules[select_and_gather_add_p] = window_impl.select_and_gather_add
impl_rules[select_and_scatter_add_p] = window_impl.select_and_scatter_add


# ---------------------------------------------------------------------------------------------
# Complex numbers (complex area): parts, conjugate, construction, the FFT
# ---------------------------------------------------------------------------------------------

real_p = new_primitive("real", elementwise=True)
imag_p = new_primitive("imag", elementwise=True)
conj_p = new_primitive("conj", elementwise=True)
complex_p = new_primitive("complex", elementwise=True)


def _part_shape(name):
    def rule(x):
        return _elementwise_type(name, [x], COMPLEX).with_dtype(x.dtype.real_dtype)
    return rule


shape_rules[real_p] = _part_shape("real")
shape_rules[imag_p] = _part_shape("imag")
shape_rules[conj_p] = lambda x: _elementwise_type("conj", [x], COMPLEX)
shape_rules[complex_p] = lambda re, im: _elementwise_type(
    "complex", [re, im], FLOATS).with_dtype(re.dtype.complex_dtype)
impl_rules[real_p] = lambda x: np.array(np.real(x))
impl_rules[imag_p] = lambda x: np.array(np.imag(x))
impl_rules[conj_p] = lambda x: np.asarray(np.conj(x))


def _complex_impl(re, im):
    re, im = np.asarray(re), np.asarray(im)
    out = np.empty(np.broadcast_shapes(re.shape, im.shape),
                   as_dtype(re.dtype).complex_dtype.np)
    out.real, out.imag = re, im  # never re + 1j * im: 1j * inf would make the real part nan
    return out


impl_rules[complex_p] = _complex_impl

# The FFT over the trailing len(fft_lengths) axes, as JAX's lax.fft: fft_type "fft" and "ifft"
# (complex -> complex; ifft scaled by 1/N), "rfft" (real -> the non-negative frequencies of the
# last axis) and "irfft" (those -> real of fft_lengths). NumPy's pocketfft computes it.
fft_p = new_primitive("fft")
FFT_TYPES = ("fft", "ifft", "rfft", "irfft")


def _fft_shape(x, *, fft_type, fft_lengths):
    lengths = tuple(fft_lengths)
    if fft_type not in FFT_TYPES:
        raise IRError(f"fft: fft_type must be one of {FFT_TYPES}, got {fft_type!r}")
    if not 1 <= len(lengths) <= x.ndim or min(lengths) < 1:
        raise IRError(f"fft: fft_lengths {lengths} do not fit {_shape_str(x)}")
    want_real = fft_type == "rfft"
    if (x.dtype in FLOATS) != want_real or (not want_real and x.dtype not in COMPLEX):
        kind = "real" if want_real else "complex"
        raise IRError(f"fft: {fft_type} needs a {kind} operand, got {_shape_str(x)}")
    k = len(lengths)
    trailing = lengths[:-1] + (lengths[-1] // 2 + 1,) if fft_type == "irfft" else lengths
    if x.shape[-k:] != trailing:
        raise IRError(f"fft: {fft_type} with fft_lengths {lengths} needs trailing dimensions "
                      f"{trailing}, got {_shape_str(x)}")
    batch = x.shape[:-k]
    if fft_type == "rfft":
        return TensorType(x.dtype.complex_dtype, batch + lengths[:-1] + (lengths[-1] // 2 + 1,))
    if fft_type == "irfft":
        return TensorType(x.dtype.real_dtype, batch + lengths)
    return x


def _fft_impl(x, *, fft_type, fft_lengths):
    x = np.asarray(x)
    axes = tuple(range(x.ndim - len(fft_lengths), x.ndim))
    out_type = _fft_shape(TensorType(as_dtype(x.dtype), x.shape), fft_type=fft_type,
                          fft_lengths=fft_lengths)
    if fft_type == "fft":
        out = np.fft.fftn(x, axes=axes)
    elif fft_type == "ifft":
        out = np.fft.ifftn(x, axes=axes)
    elif fft_type == "rfft":
        out = np.fft.rfftn(x, axes=axes)
    else:
        out = np.fft.irfftn(x, s=tuple(fft_lengths), axes=axes)
    return np.asarray(out, dtype=out_type.dtype.np)


shape_rules[fft_p] = _fft_shape
impl_rules[fft_p] = _fft_impl


# =============================================================================================
# Linear algebra (linalg): the product with a triangular matrix (BLAS's trmm), at half the
# multiply-adds of a general product: what cholesky's derivative multiplies by. Its operands
# and flags are triangular_solve's: op(tri(a)) @ b, or b @ op(tri(a)) when not left_side.
# =============================================================================================

triangular_product_p = new_primitive("triangular_product")


def _triangular_product_shape(a, b, *, left_side, lower, transpose_a, unit_diagonal):
    try:
        return _triangular_solve_shape(a, b, left_side=left_side, lower=lower,
                                       transpose_a=transpose_a, unit_diagonal=unit_diagonal)
    except IRError as e:
        raise IRError(str(e).replace("triangular_solve", "triangular_product")) from None


shape_rules[triangular_product_p] = _triangular_product_shape
impl_rules[triangular_product_p] = linalg_impl.triangular_product

# eig (linalg): eigenvalues and right eigenvectors of general real matrices, complex as
# numpy.linalg.eig gives them (numpy's order; eigenvectors of unit length). Forward only.
eig_p = new_primitive("eig", multiple_results=True)


def _eig_shape(a):
    _matrices("eig", a, square=True)
    c = a.dtype.complex_dtype
    return [TensorType(c, a.shape[:-1]), TensorType(c, a.shape)]


shape_rules[eig_p] = _eig_shape
impl_rules[eig_p] = linalg_impl.eig

# column_lu (linalg): LU with column pivoting, a[..., :, permutation] = L @ U with L lower
# triangular and U unit upper triangular, packed like lu's factors. It is the row-pivoted LU
# of a's transpose, transposed: what LAPACK's getrf computes on a row-major buffer read as
# column-major, so a kernel factors in place with no transposition (solve, det and slogdet
# use it; lu_factor keeps scipy's row pivoting). pivots are the column swaps, 0-based.
column_lu_p = new_primitive("column_lu", multiple_results=True)


def _column_lu_shape(a):
    return _lu_types("column_lu", a, -1)


shape_rules[column_lu_p] = _column_lu_shape
impl_rules[column_lu_p] = linalg_impl.column_lu
