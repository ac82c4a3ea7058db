"""Reductions of dualjit.numpy: sum, mean, max, var, all, argmax, ... over axes."""

from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as _np

from ..ir import DType, as_dtype
from ..ir import primitives as P
from ..tracer.core import bind
from ._core import PY_SCALARS, convert, dtype_of, float_dtype, ndim, normalize_axes, operand
from .elementwise import divide, sqrt, square, subtract
from .shapes import expand_dims, ravel, reshape

__all__ = ["sum", "prod", "max", "min", "amax", "amin", "mean", "var", "std", "all", "any",
           "argmax", "argmin"]

def _keep(x: Any, axes: tuple[int, ...], keepdims: bool, nd: int) -> Any:
    if not keepdims:
        return x
    return reshape(x, [1 if i in axes else d for i, d in enumerate(_full_shape(axes, x, nd))])


def _full_shape(axes, reduced, nd):
    dims = iter(_np.shape(reduced))
    return [1 if i in axes else next(dims) for i in range(nd)]


def _reduce(prim, op: str, a: Any, axis: Any, keepdims: bool, dtype: Any = None) -> Any:
    a = operand(a, op)
    if type(a) in PY_SCALARS:
        a = _np.asarray(a)
    if dtype is not None:
        a = convert(a, as_dtype(dtype).np)
    elif prim in (P.reduce_sum_p, P.reduce_prod_p) and dtype_of(a) is DType.bool:
        a = convert(a, _np.dtype(_np.int64))
    elif prim in (P.reduce_sum_p, P.reduce_prod_p) and dtype_of(a) is DType.int32:
        a = convert(a, _np.dtype(_np.int64))  # NumPy accumulates small ints in int64
    nd = len(_np.shape(a))
    axes = normalize_axes(op, axis, nd)
    out = bind(prim, a, axes=axes)
    return _keep(out, axes, keepdims, nd)


def sum(a: Any, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    return _reduce(P.reduce_sum_p, "sum", a, axis, keepdims, dtype)


def prod(a: Any, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
    return _reduce(P.reduce_prod_p, "prod", a, axis, keepdims, dtype)


def max(a: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    _check_nonempty("max", a, axis)
    return _reduce(P.reduce_max_p, "max", a, axis, keepdims)


def min(a: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    _check_nonempty("min", a, axis)
    return _reduce(P.reduce_min_p, "min", a, axis, keepdims)


amax, amin = max, min


def _check_nonempty(op: str, a: Any, axis: Any) -> None:
    shp = _np.shape(a)
    axes = normalize_axes(op, axis, len(shp))
    if builtins.any(shp[i] == 0 for i in axes) or (axis is None and math.prod(shp) == 0):
        raise ValueError(f"{op}: zero-size array {shp} along axis {axis} has no identity")


def mean(a: Any, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
    a = operand(a, "mean")
    nd = len(_np.shape(a))
    axes = normalize_axes("mean", axis, nd)
    count = math.prod(_np.shape(a)[i] for i in axes)
    dt = as_dtype(dtype).np if dtype is not None else float_dtype(a)
    total = sum(convert(a, dt), axis=axis, keepdims=keepdims)
    return divide(total, _np.asarray(count, dt)[()] if count else _np.asarray(_np.nan, dt)[()])


def var(a: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
    a = operand(a, "var")
    centered = subtract(a, mean(a, axis=axis, keepdims=True))
    nd = len(_np.shape(a))
    count = math.prod(_np.shape(a)[i] for i in normalize_axes("var", axis, nd))
    return divide(sum(square(centered), axis=axis, keepdims=keepdims), float(count - ddof))


def std(a: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
    return sqrt(var(a, axis=axis, ddof=ddof, keepdims=keepdims))


def all(a: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    return _reduce(P.reduce_min_p, "all", convert(operand(a, "all"), _np.dtype(bool)),
                   axis, keepdims)


def any(a: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    return _reduce(P.reduce_max_p, "any", convert(operand(a, "any"), _np.dtype(bool)),
                   axis, keepdims)


def _arg_reduce(prim, op: str, a: Any, axis: Any, keepdims: bool) -> Any:
    a = operand(a, op)
    if axis is None:
        nd_in = ndim(a)
        out = _arg_reduce(prim, op, ravel(a), 0, False)
        return reshape(out, (1,) * nd_in) if keepdims else out
    nd = len(_np.shape(a))
    (ax,) = normalize_axes(op, axis, nd)
    if _np.shape(a)[ax] == 0:
        raise ValueError(f"{op}: attempt to get {op} of an empty sequence")
    out = bind(prim, a, axis=ax, index_dtype=DType.int64)
    return expand_dims(out, ax) if keepdims else out


def argmax(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _arg_reduce(P.argmax_p, "argmax", a, axis, keepdims)


def argmin(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _arg_reduce(P.argmin_p, "argmin", a, axis, keepdims)

