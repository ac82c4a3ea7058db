"""Reductions of dualjit.numpy: sum, mean, max, var, all, argmax, ... over axes."""

from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as _np

from ..ir import DType, as_dtype
from ..ir import primitives as P
from ..tracer.core import bind
from ._core import (
    PY_SCALARS,
    broadcast_to,
    convert,
    float_dtype,
    keep_dims,
    normalize_axes,
    operand,
    refuse_complex_order,
    refuse_out,
    result_type,
    shape_of,
)
from .elementwise import (
    add,
    divide,
    equal,
    isnan,
    logical_and,
    logical_not,
    maximum,
    minimum,
    multiply,
    not_equal,
    sqrt,
    square,
    subtract,
)
from .elementwise import where as where_
from .shapes import expand_dims, ravel, reshape

__all__ = ["sum", "prod", "max", "min", "amax", "amin", "mean", "var", "std", "all", "any",
           "argmax", "argmin", "count_nonzero", "ptp", "nansum", "nanprod", "nanmean", "nanvar",
           "nanstd", "nanmax", "nanmin", "nanargmax", "nanargmin"]

def _accumulator_dtype(prim, a: Any, dtype: Any) -> _np.dtype:
    if dtype is not None:
        return as_dtype(dtype).np
    dt = result_type(a)
    if prim in (P.reduce_sum_p, P.reduce_prod_p) and dt.kind in "biu" and dt.itemsize < 8:
        # NumPy accumulates bools and narrow ints in 64 bits, keeping unsigned unsigned
        return _np.dtype(_np.uint64 if dt.kind == "u" else _np.int64)
    return dt


def _reduce(prim, op: str, a: Any, axis: Any, keepdims: bool, dtype: Any = None,
            initial: Any = None, where: Any = None) -> Any:
    a = operand(a, op)
    if prim in (P.reduce_max_p, P.reduce_min_p):
        refuse_complex_order(op, a)
    if type(a) in PY_SCALARS:
        a = _np.asarray(a)
    a = convert(a, _accumulator_dtype(prim, a, dtype))
    nd = len(shape_of(a))
    axes = normalize_axes(op, axis, nd)
    if where is not None:
        a = _masked(prim, op, a, where, initial)
    elif initial is None and prim in (P.reduce_max_p, P.reduce_min_p):
        _check_nonempty(op, a, axes)
    out = bind(prim, a, axes=axes)
    if initial is not None:
        out = _combine(prim, out, initial)
    return keep_dims(out, axes, keepdims, nd)


def _masked(prim, op: str, a: Any, where: Any, initial: Any) -> Any:
    if prim in (P.reduce_max_p, P.reduce_min_p) and initial is None:
        raise ValueError(f"{op}: reduction with where= needs initial= (an empty selection "
                         "has no maximum or minimum)")
    neutral = {P.reduce_sum_p: 0, P.reduce_prod_p: 1, P.reduce_max_p: initial,
               P.reduce_min_p: initial}[prim]
    mask = broadcast_to(convert(operand(where, op), _np.dtype(bool)), _np.shape(a))
    return where_(mask, a, _np.asarray(neutral, result_type(a))[()])


def _combine(prim, out: Any, initial: Any) -> Any:
    combine = {P.reduce_sum_p: add, P.reduce_prod_p: multiply, P.reduce_max_p: maximum,
               P.reduce_min_p: minimum}[prim]
    return convert(combine(out, initial), result_type(out))


def _check_nonempty(op: str, a: Any, axes: tuple[int, ...]) -> None:
    shp = _np.shape(a)
    if builtins.any(shp[i] == 0 for i in axes) or (not axes and math.prod(shp) == 0):
        raise ValueError(f"{op}: zero-size array {shp} along axes {axes} has no identity; "
                         "pass initial=")


def sum(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
        initial: Any = None, where: Any = None) -> Any:  # noqa: A001
    refuse_out("sum", out)
    return _reduce(P.reduce_sum_p, "sum", a, axis, keepdims, dtype, initial, where)


def prod(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
         initial: Any = None, where: Any = None) -> Any:
    refuse_out("prod", out)
    return _reduce(P.reduce_prod_p, "prod", a, axis, keepdims, dtype, initial, where)


def max(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False,
        initial: Any = None, where: Any = None) -> Any:  # noqa: A001
    refuse_out("max", out)
    return _reduce(P.reduce_max_p, "max", a, axis, keepdims, None, initial, where)


def min(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False,
        initial: Any = None, where: Any = None) -> Any:  # noqa: A001
    refuse_out("min", out)
    return _reduce(P.reduce_min_p, "min", a, axis, keepdims, None, initial, where)


amax, amin = max, min


def _count(a: Any, axes: tuple[int, ...], where: Any, keepdims: bool, dt: _np.dtype) -> Any:
    """How many elements each reduction sees (an array when where= masks some out)."""
    if where is None:
        n = math.prod(_np.shape(a)[i] for i in axes)
        return _np.asarray(n, dt)[()]
    mask = broadcast_to(convert(operand(where, "count"), _np.dtype(bool)), _np.shape(a))
    return sum(convert(mask, dt), axis=axes, keepdims=keepdims)


def mean(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
         *, where: Any = None) -> Any:
    refuse_out("mean", out)
    a = operand(a, "mean")
    axes = normalize_axes("mean", axis, _np.ndim(a))
    dt = as_dtype(dtype).np if dtype is not None else float_dtype(a)
    total = sum(convert(a, dt), axis=axes, keepdims=keepdims, where=where)
    return divide(total, _count(a, axes, where, keepdims, dt))


def var(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: float = 0,
        keepdims: bool = False, *, where: Any = None, mean: Any = None,
        correction: float | None = None) -> Any:
    """Variance; `ddof` (or NumPy 2's `correction`) is subtracted from the count."""
    refuse_out("var", out)
    a = operand(a, "var")
    ddof = ddof if correction is None else correction
    axes = normalize_axes("var", axis, _np.ndim(a))
    dt = as_dtype(dtype).np if dtype is not None else float_dtype(a)
    a = convert(a, dt)
    center = _mean_of(a, axes, where, dt) if mean is None else convert(operand(mean, "var"), dt)
    deviations = subtract(a, center)
    if where is not None:  # masked out before squaring, so NaNs there cannot reach gradients
        mask = broadcast_to(convert(operand(where, "var"), _np.dtype(bool)), _np.shape(a))
        deviations = where_(mask, deviations, _np.asarray(0, dt)[()])
    squares = _abs_squared(deviations)  # |d|**2: real for complex data
    total = sum(squares, axis=axes, keepdims=keepdims)
    count = _count(a, axes, where, keepdims, result_type(squares))
    return divide(total, maximum(subtract(count, ddof), 0))


def _abs_squared(d: Any) -> Any:
    """|d|**2, real for complex d (NumPy's complex variance is real)."""
    if result_type(d).kind != "c":
        return square(d)
    from .elementwise import imag, real

    return add(square(real(d)), square(imag(d)))


def _mean_of(a: Any, axes: tuple[int, ...], where: Any, dt: _np.dtype) -> Any:
    return divide(sum(a, axis=axes, keepdims=True, where=where),
                  _count(a, axes, where, True, dt))


def std(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: float = 0,
        keepdims: bool = False, *, where: Any = None, mean: Any = None,
        correction: float | None = None) -> Any:
    return sqrt(var(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims,
                    where=where, mean=mean, correction=correction))


def all(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False, *,
        where: Any = None) -> Any:  # noqa: A001
    refuse_out("all", out)
    a = convert(operand(a, "all"), _np.dtype(bool))
    if where is not None:
        a = where_(where, a, True)
    if _reduces_nothing("all", a, axis):  # (True, as NumPy's; min has no identity)
        return equal(sum(logical_not(a), axis=axis, keepdims=keepdims), 0)
    return _reduce(P.reduce_min_p, "all", a, axis, keepdims)


def any(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False, *,
        where: Any = None) -> Any:  # noqa: A001
    refuse_out("any", out)
    a = convert(operand(a, "any"), _np.dtype(bool))
    if where is not None:
        a = where_(where, a, False)
    if _reduces_nothing("any", a, axis):  # (False, as NumPy's)
        return not_equal(sum(a, axis=axis, keepdims=keepdims), 0)
    return _reduce(P.reduce_max_p, "any", a, axis, keepdims)


def _reduces_nothing(op: str, a: Any, axis: Any) -> bool:
    """Whether a reduction of `a` over `axis` combines no elements (a size-0 axis)."""
    shp = _np.shape(a)
    axes = normalize_axes(op, axis, len(shp))
    return builtins.any(shp[i] == 0 for i in axes) or (not axes and math.prod(shp) == 0)


def _arg_reduce(prim, op: str, a: Any, axis: Any, keepdims: bool) -> Any:
    a = operand(a, op)
    refuse_complex_order(op, a)
    if type(a) in PY_SCALARS:
        a = _np.asarray(a)
    if axis is None:
        nd_in = _np.ndim(a)
        found = _arg_reduce(prim, op, ravel(a), 0, False)
        return reshape(found, (1,) * nd_in) if keepdims else found
    (ax,) = normalize_axes(op, axis, _np.ndim(a))
    if _np.shape(a)[ax] == 0:
        raise ValueError(f"{op}: attempt to get {op} of an empty sequence")
    found = bind(prim, a, axis=ax, index_dtype=DType.int64)
    return expand_dims(found, ax) if keepdims else found


def argmax(a: Any, axis: Any = None, out: Any = None, *, keepdims: bool = False) -> Any:
    refuse_out("argmax", out)
    return _arg_reduce(P.argmax_p, "argmax", a, axis, keepdims)


def argmin(a: Any, axis: Any = None, out: Any = None, *, keepdims: bool = False) -> Any:
    refuse_out("argmin", out)
    return _arg_reduce(P.argmin_p, "argmin", a, axis, keepdims)


def count_nonzero(a: Any, axis: Any = None, *, keepdims: bool = False) -> Any:
    a = operand(a, "count_nonzero")
    return sum(not_equal(a, 0), axis=axis, keepdims=keepdims)


def ptp(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
    """Peak to peak: max - min along the axes."""
    refuse_out("ptp", out)
    return subtract(max(a, axis=axis, keepdims=keepdims), min(a, axis=axis, keepdims=keepdims))


# ---------------------------------------------------------------------------------------------
# Reductions that ignore NaNs
# ---------------------------------------------------------------------------------------------

def _without_nans(a: Any, op: str, fill: Any) -> Any:
    a = operand(a, op)
    if result_type(a).kind != "f":
        return a
    return where_(isnan(a), fill, a)


def nansum(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
           initial: Any = None, where: Any = None) -> Any:
    return sum(_without_nans(a, "nansum", 0), axis, dtype, out, keepdims, initial, where)


def nanprod(a: Any, axis: Any = None, dtype: Any = None, out: Any = None,
            keepdims: bool = False, initial: Any = None, where: Any = None) -> Any:
    return prod(_without_nans(a, "nanprod", 1), axis, dtype, out, keepdims, initial, where)


def _not_nan(a: Any, where: Any) -> Any:
    valid = logical_not(isnan(a))
    return valid if where is None else logical_and(valid, where)


def nanmean(a: Any, axis: Any = None, dtype: Any = None, out: Any = None,
            keepdims: bool = False, *, where: Any = None) -> Any:
    """Mean of the non-NaN elements (NaN where a slice has none)."""
    a = operand(a, "nanmean")
    if result_type(a).kind != "f":
        return mean(a, axis, dtype, out, keepdims, where=where)
    return mean(a, axis, dtype, out, keepdims, where=_not_nan(a, where))


def nanvar(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: float = 0,
           keepdims: bool = False, *, where: Any = None, mean: Any = None,
           correction: float | None = None) -> Any:
    a = operand(a, "nanvar")
    mask = _not_nan(a, where) if result_type(a).kind == "f" else where
    return var(a, axis, dtype, out, ddof, keepdims, where=mask, mean=mean,
               correction=correction)


def nanstd(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: float = 0,
           keepdims: bool = False, *, where: Any = None, mean: Any = None,
           correction: float | None = None) -> Any:
    return sqrt(nanvar(a, axis, dtype, out, ddof, keepdims, where=where, mean=mean,
                       correction=correction))


def _nan_extreme(reduce, op: str, a: Any, axis: Any, out: Any, keepdims: bool, initial: Any,
                 where: Any, fill: float) -> Any:
    refuse_out(op, out)
    a = operand(a, op)
    if result_type(a).kind != "f":
        return reduce(a, axis, None, keepdims, initial, where)
    nan_free = where_(isnan(a), fill, a)
    found = reduce(nan_free, axis, None, keepdims, initial, where)
    all_nan = all(isnan(a), axis=axis, keepdims=keepdims, where=where)
    return where_(all_nan, _np.nan, found) if initial is None else found


def nanmax(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False,
           initial: Any = None, where: Any = None) -> Any:
    """Maximum ignoring NaNs (NaN where a slice is all NaN)."""
    return _nan_extreme(max, "nanmax", a, axis, out, keepdims, initial, where, -_np.inf)


def nanmin(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False,
           initial: Any = None, where: Any = None) -> Any:
    """Minimum ignoring NaNs (NaN where a slice is all NaN)."""
    return _nan_extreme(min, "nanmin", a, axis, out, keepdims, initial, where, _np.inf)


def _nan_arg(arg, op: str, a: Any, axis: Any, keepdims: bool, fill: float) -> Any:
    a = operand(a, op)
    if result_type(a).kind != "f":
        return arg(a, axis, keepdims=keepdims)
    found = arg(where_(isnan(a), fill, a), axis, keepdims=keepdims)
    all_nan = all(isnan(a), axis=axis, keepdims=keepdims)
    return where_(all_nan, -1, found)


def nanargmax(a: Any, axis: Any = None, out: Any = None, *, keepdims: bool = False) -> Any:
    """argmax ignoring NaNs; -1 where a slice is all NaN (as JAX; NumPy raises)."""
    refuse_out("nanargmax", out)
    return _nan_arg(argmax, "nanargmax", a, axis, keepdims, -_np.inf)


def nanargmin(a: Any, axis: Any = None, out: Any = None, *, keepdims: bool = False) -> Any:
    """argmin ignoring NaNs; -1 where a slice is all NaN (as JAX; NumPy raises)."""
    refuse_out("nanargmin", out)
    return _nan_arg(argmin, "nanargmin", a, axis, keepdims, _np.inf)
