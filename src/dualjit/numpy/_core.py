"""Operands of dualjit.numpy: conversion, dtype promotion, broadcasting and axis arguments.

Every public function turns its array-like arguments into operands here, so NumPy's rules
(weak Python scalars, NumPy 2 promotion, broadcasting) are applied the same way everywhere.
"""

from __future__ import annotations

import builtins
import operator
from collections.abc import Sequence
from typing import Any

import numpy as _np

from ..ir import SUPPORTED_DTYPES, DType, as_dtype, impl_rules
from ..ir import primitives as P
from ..tracer.core import (
    NATIVE_DTYPES,
    Tracer,
    as_array,
    bind,
    is_weak,
    mark_weak,
    trace_state,
)

__all__ = ["ndarray", "float32", "float64", "int32", "int64", "complex64", "complex128",
           "bool_", "pi", "e", "inf", "nan",
           "newaxis", "shape", "ndim", "result_type", "broadcast_to"]

ndarray = _np.ndarray
float32, float64, int32, int64 = _np.float32, _np.float64, _np.int32, _np.int64
complex64, complex128 = _np.complex64, _np.complex128
bool_ = _np.bool_
pi, e, inf, nan, newaxis = _np.pi, _np.e, _np.inf, _np.nan, None

PY_SCALARS = (bool, int, float, complex)

# ---------------------------------------------------------------------------------------------
# Operands: dtype, shape, promotion and broadcasting
# ---------------------------------------------------------------------------------------------

def is_array(x: Any) -> bool:
    return isinstance(x, (Tracer, _np.ndarray, _np.generic))


def operand(x: Any, op: str) -> Any:
    """`x` as an operand of `op`: the one conversion every dualjit.numpy function applies.

    Tracers and numpy arrays pass; Python scalars stay weak; lists and tuples holding traced
    values are stacked into one traced array (as jnp.asarray does); anything else becomes a
    numpy array.
    """
    if isinstance(x, (Tracer, _np.ndarray)) or type(x) in PY_SCALARS:
        if isinstance(x, _np.ndarray) and x.dtype.kind not in "biufc":
            raise TypeError(f"{op}: dtype {x.dtype} is not supported; dualjit arrays are "
                            f"{SUPPORTED_DTYPES}")
        return x
    if isinstance(x, _np.generic):
        return as_array(x, f"{op}: operand")
    if isinstance(x, (list, tuple)) and holds_tracer(x):
        return _stack_leaves(x, op)
    return as_array(x, f"{op}: operand of type {type(x).__name__}")


def holds_tracer(obj: Any) -> bool:
    """Whether a (nested) list or tuple has a traced value among its leaves."""
    if isinstance(obj, Tracer):
        return True
    return isinstance(obj, (list, tuple)) and builtins.any(holds_tracer(x) for x in obj)


def _stack_leaves(items: list | tuple, op: str) -> Any:
    """A nested sequence holding traced values as one array, by NumPy's promotion rules."""
    parts = [_stack_leaves(x, op) if isinstance(x, (list, tuple)) else operand(x, op)
             for x in items]
    shapes = {_np.shape(p) for p in parts}
    if len(shapes) != 1:
        raise ValueError(f"{op}: setting an array element with a sequence: the nested list has "
                         f"an inhomogeneous shape (elements of shapes "
                         f"{sorted(shapes, key=len)})")
    dt = result_type(*parts)
    inner = shapes.pop()
    parts = [bind(P.reshape_p, convert(p, dt), new_sizes=(1,) + inner) for p in parts]
    return parts[0] if len(parts) == 1 else bind(P.concatenate_p, *parts, dimension=0)


def static_int(value: Any, what: str, op: str) -> int:
    """A size or other integer that fixes an output shape: it must not be traced."""
    if isinstance(value, Tracer):
        raise TypeError(f"{op}: {what} must be a static integer (it fixes the output shape), "
                        f"but it is a traced value {value.aval}; pass a Python int, or mark "
                        "the argument static with jit(f, static_argnums=...)")
    return operator.index(value)


def static_shape(shape_: Any, op: str) -> tuple[int, ...]:
    if isinstance(shape_, (Tracer, int, _np.integer)):
        return (static_int(shape_, "the shape", op),)
    return tuple(static_int(d, "the shape", op) for d in shape_)


def refuse_out(op: str, out: Any) -> None:
    if out is not None:
        raise TypeError(f"{op}: out= is not supported: dualjit arrays are immutable values; "
                        "use the returned array instead")


def shape(x: Any) -> tuple[int, ...]:
    if is_array(x):
        return x.shape
    if isinstance(x, (list, tuple)) and holds_tracer(x):
        return _np.shape(operand(x, "shape"))
    return _np.shape(x)


def ndim(x: Any) -> int:
    return len(shape(x))


def dtype_of(x: Any) -> DType:
    if isinstance(x, Tracer):
        return x.aval.dtype
    if type(x) is _np.ndarray and x.dtype in NATIVE_DTYPES:
        return as_dtype(x.dtype)
    return as_dtype(_np.result_type(operand(x, "dtype")))


def result_type(*args: Any) -> _np.dtype:
    """NumPy 2 promotion (Python scalars are weak) mapped onto dualjit's dtypes."""
    key = _promotion_cache_key(args)
    if key is None:
        return uncached_result_type(*args)
    found = _promotions.get(key)
    if found is None:
        if len(_promotions) > 4096:  # (keys of many operands: the cache stays small)
            _promotions.clear()
        found = _promotions[key] = uncached_result_type(*args)
    return found


def uncached_result_type(*args: Any) -> _np.dtype:
    """result_type by its rule, without the cache (errors are raised here, never cached)."""
    return as_dtype(_np.result_type(*map(_promotion_key, args))).np


class _Weak:
    """A weak operand's kind in a promotion cache key (never equal to a dtype)."""

    __slots__ = ("kind",)

    def __init__(self, kind: str):
        self.kind = kind

    def __repr__(self) -> str:
        return f"weak {self.kind}"


_WEAK_OF_TYPE = {bool: _Weak("bool"), int: _Weak("int"), float: _Weak("float"),
                 complex: _Weak("complex")}
_WEAK_OF_KIND = {"b": _WEAK_OF_TYPE[bool], "i": _WEAK_OF_TYPE[int], "u": _WEAK_OF_TYPE[int],
                 "f": _WEAK_OF_TYPE[float], "c": _WEAK_OF_TYPE[complex]}
# result_type costs ~5 us by its rule (NumPy's result_type plus the mapping onto dualjit's
# dtypes), run several times by every function: it depends only on the operands' dtypes and
# which are weak, so results are kept per tuple of those (a few hundred at most).
_promotions: dict[tuple, _np.dtype] = {}
_INT64_MIN, _UINT64_END = -(2**63), 2**63


def _promotion_cache_key(args: tuple) -> tuple | None:
    """What result_type's answer depends on, per operand: its dtype, or its weak kind; None
    for operands whose value matters too (Python ints of 2**63 and above: uint64 or object
    alone) or that are converted first (lists, dtype names)."""
    key = []
    for a in args:
        t = type(a)
        if t is _np.ndarray or isinstance(a, _np.generic):
            key.append(a.dtype)
        elif t in _WEAK_OF_TYPE:
            if t is int and not _INT64_MIN <= a < _UINT64_END:
                return None
            key.append(_WEAK_OF_TYPE[t])
        elif t is Tracer:
            key.append(_WEAK_OF_KIND[a.dtype.kind] if is_weak(a) else a.dtype)
        else:
            return None
    return tuple(key)


def _promotion_key(a: Any) -> Any:
    """What NumPy's result_type should see for `a`: weak scalars stay Python scalars."""
    if type(a) in PY_SCALARS:
        return a
    if is_weak(a):
        return _weak_stand_in(a)
    if is_array(a):
        return a.dtype
    if isinstance(a, (_np.dtype, type, str)):
        return _np.dtype(a)
    return _promotion_key(operand(a, "result_type"))


def _weak_stand_in(x: Tracer) -> Any:
    """A Python scalar of a weakly typed tracer's kind, so promotion treats it as weak."""
    kind = x.dtype.kind
    return True if kind == "b" else (0 if kind in "iu" else 0.0 if kind == "f" else 0j)


def convert(x: Any, dtype: _np.dtype) -> Any:
    if type(x) is _np.ndarray and x.dtype == dtype:  # (the common case, first)
        return x
    if type(x) in PY_SCALARS:
        return _np.asarray(x, dtype=dtype)[()]
    if isinstance(x, Tracer):
        if x.dtype == dtype:
            return x
        return bind(P.convert_element_type_p, x, new_dtype=as_dtype(dtype))
    x = _np.asarray(x)
    return x if x.dtype == dtype else x.astype(dtype)


def joint_shape(op: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    if shapes:  # (np.broadcast_shapes costs ~1.5 us)
        trivial = _trivial_broadcast(shapes)
        if trivial is not None:
            return trivial
    try:
        return tuple(_np.broadcast_shapes(*shapes))
    except ValueError:
        listed = " and ".join(str(s) for s in shapes)
        raise ValueError(f"{op}: shapes {listed} do not broadcast") from None


def _trivial_broadcast(shapes: tuple) -> tuple[int, ...] | None:
    """The shape that every shape is, or is a scalar () of: their broadcast, when there is
    one such (as np.broadcast_shapes gives it); None for anything else."""
    out = ()
    for s in shapes:
        if type(s) is not tuple:
            return None
        if s != out and s != ():
            if out != ():
                return None
            out = s
    return out if builtins.all(type(d) is int and d >= 0 for d in out) else None


def shape_of(x: Any) -> tuple[int, ...]:
    """np.shape(x), without its dispatch for arrays, tracers and Python scalars (~0.4 us)."""
    t = type(x)
    if t is _np.ndarray or t is Tracer:
        return x.shape
    return () if t in PY_SCALARS else _np.shape(x)


def broadcast_to(x: Any, shape: Sequence[int]) -> Any:
    x = operand(x, "broadcast_to")
    shape = tuple(int(d) for d in shape)
    src = _np.shape(x)
    if src == shape:
        return x
    if len(src) > len(shape) or joint_shape("broadcast_to", src, shape) != shape:
        raise ValueError(f"broadcast_to: cannot broadcast shape {src} to {shape}")
    dims = tuple(range(len(shape) - len(src), len(shape)))
    if type(x) in PY_SCALARS:
        x = _np.asarray(x, dtype=result_type(x))[()]
    return bind(P.broadcast_in_dim_p, x, shape=shape, broadcast_dimensions=dims)


def unify(op: str, *args: Any, dtype: _np.dtype | None = None) -> list[Any]:
    """Operands converted to one dtype (by promotion, or `dtype`), shapes left alone."""
    args = [operand(a, op) for a in args]
    target = dtype if dtype is not None else result_type(*args)
    return [convert(a, target) for a in args]


def promote(op: str, *args: Any, dtype: _np.dtype | None = None) -> list[Any]:
    """Operands converted to one dtype; non-scalar operands broadcast to one shape."""
    args = [operand(a, op) for a in args]
    target = dtype if dtype is not None else result_type(*args)
    converted, shapes = [], []
    try:
        for a in args:  # (one loop, no comprehensions: this runs for every eager primitive)
            a = convert(a, target)
            converted.append(a)
            shapes.append(shape_of(a))
    except OverflowError as e:  # a Python int outside the operands' type, as NumPy 2 refuses
        raise OverflowError(f"{op}: {e}") from None
    out_shape = shapes[0]
    for s in shapes:
        if s != out_shape:  # (np.broadcast_shapes costs ~1.5 us: called only when they differ)
            out_shape = joint_shape(op, *shapes)
            return [a if s == out_shape or s == () else broadcast_to(a, out_shape)
                    for a, s in zip(converted, shapes)]
    return converted


def elementwise_op(prim, op: str, *args: Any, dtype: _np.dtype | None = None) -> Any:
    if not trace_state.stack:
        out = _concrete_elementwise(prim, op, args, dtype)
        if out is not None:
            return out
    out = bind(prim, *promote(op, *args, dtype=dtype))
    if isinstance(out, Tracer) and dtype is None and builtins.all(
            is_weak(a) or type(a) in PY_SCALARS for a in args):
        mark_weak(out)
    return out


def _concrete_elementwise(prim, op: str, args: tuple, dtype: _np.dtype | None) -> Any:
    """elementwise_op outside every trace on plain arrays of one shape and Python scalars:
    promote's and bind's steps for just these operands, in one function (the general path
    costs ~4 us more per primitive). None for any other operands: the general path takes them.
    """
    if prim.multiple_results:
        return None
    shape_ = None
    for a in args:
        t = type(a)
        if t is _np.ndarray:
            if a.dtype not in NATIVE_DTYPES or (shape_ is not None and a.shape != shape_):
                return None
            shape_ = a.shape
        elif t not in PY_SCALARS:
            return None
    if dtype is None:
        dtype = result_type(*args)
    values = []
    for a in args:
        if type(a) is _np.ndarray:
            values.append(a if a.dtype == dtype else a.astype(dtype))
            continue
        try:  # (convert's scalar, as bind hands it to the implementation: a 0-d array)
            values.append(_np.asarray(a, dtype=dtype))
        except OverflowError as e:  # a Python int outside the operands' type, as in promote
            raise OverflowError(f"{op}: {e}") from None
    return _np.asarray(impl_rules[prim](*values))


def refuse_complex_order(op: str, *args: Any) -> None:
    """Complex numbers have no order: comparisons and extrema refuse them (JAX's lax does)."""
    if builtins.any(_kind(a) == "c" for a in args):
        raise TypeError(f"{op}: complex numbers have no order; compare real parts "
                        "(jnp.real(z)) or magnitudes (jnp.abs(z)) instead")


def _kind(a: Any) -> str:
    """result_type(a).kind (a plain array of dualjit's dtypes is its own result type)."""
    if type(a) is _np.ndarray and a.dtype in NATIVE_DTYPES:
        return a.dtype.kind
    return result_type(a).kind


def float_dtype(*args: Any) -> _np.dtype:
    """The inexact type a transcendental function computes in: ints and bools become float64."""
    dt = result_type(*args)
    return dt if dt.kind in "fc" else _np.dtype(_np.float64)


def normalize_axes(op: str, axis: Any, nd: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(nd))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not isinstance(a, (int, _np.integer)) or not -nd <= a < nd:
            raise ValueError(f"{op}: axis {axis} is out of bounds for an array of "
                             f"dimension {nd}")
        out.append(int(a) % nd)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(out))


def slice_axis(a: Any, axis: int, lo: int, hi: int, step: int = 1) -> Any:
    shp = _np.shape(a)
    starts = [0] * len(shp)
    limits = list(shp)
    strides = [1] * len(shp)
    starts[axis], limits[axis], strides[axis] = lo, hi, step
    if (lo, hi, step) == (0, shp[axis], 1):
        return a
    return bind(P.slice_p, a, start_indices=tuple(starts), limit_indices=tuple(limits),
                strides=tuple(strides))


def keep_dims(x: Any, axes: tuple[int, ...], keepdims: bool, nd: int) -> Any:
    """A reduction's result with the reduced axes kept as size 1 when `keepdims`."""
    if not keepdims:
        return x
    dims = iter(shape_of(x))
    shape = tuple(1 if i in axes else next(dims) for i in range(nd))
    if type(x) in PY_SCALARS:
        x = _np.asarray(x)
    return bind(P.reshape_p, x, new_sizes=shape) if shape != shape_of(x) else x
