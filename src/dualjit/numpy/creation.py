"""Array creation in dualjit.numpy: zeros, ones, full, arange, linspace, eye, array, ..."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as _np

from ..ir import as_dtype
from ..ir import primitives as P
from ..tracer.core import Tracer, bind, current_builder
from ._core import (
    broadcast_to,
    convert,
    float_dtype,
    joint_shape,
    operand,
    promote,
    slice_axis,
    static_int,
    static_shape,
)
from .elementwise import abs, add, divide, exp, floor, log, multiply, power, subtract
from .elementwise import sign as _sign
from .shapes import concatenate, expand_dims, moveaxis, reshape

__all__ = ["zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "arange", "linspace",
           "logspace", "geomspace", "eye", "array", "asarray", "astype", "iota", "empty",
           "empty_like", "identity", "tri", "fromfunction", "fromiter", "bartlett", "blackman",
           "hamming", "hanning", "kaiser", "meshgrid"]

def _creation_dtype(dtype: Any, default: Any) -> _np.dtype:
    return as_dtype(dtype if dtype is not None else default).np


def zeros(shape: Any, dtype: Any = None) -> _np.ndarray:
    return _np.zeros(static_shape(shape, "zeros"), _creation_dtype(dtype, _np.float64))


def ones(shape: Any, dtype: Any = None) -> _np.ndarray:
    return _np.ones(static_shape(shape, "ones"), _creation_dtype(dtype, _np.float64))


def full(shape: Any, fill_value: Any, dtype: Any = None) -> Any:
    """An array of `shape` filled with `fill_value` (traced fill values are differentiated)."""
    shp = static_shape(shape, "full")
    fill = operand(fill_value, "full")
    if isinstance(fill, Tracer):
        return broadcast_to(convert(fill, _creation_dtype(dtype, fill.dtype)), shp)
    return _np.full(shp, fill, _creation_dtype(dtype, _np.result_type(fill)))


def zeros_like(a: Any, dtype: Any = None, shape: Any = None) -> Any:
    return full_like(a, 0, dtype, shape)


def ones_like(a: Any, dtype: Any = None, shape: Any = None) -> Any:
    return full_like(a, 1, dtype, shape)


def full_like(a: Any, fill_value: Any, dtype: Any = None, shape: Any = None) -> Any:
    """An array like `a` (its shape and dtype unless given) filled with `fill_value`."""
    a = operand(a, "full_like")
    dt = _creation_dtype(dtype, _np.result_type(a))
    shp = _np.shape(a) if shape is None else static_shape(shape, "full_like")
    fill = operand(fill_value, "full_like")
    if isinstance(fill, Tracer):
        return broadcast_to(convert(fill, dt), shp)
    if isinstance(a, Tracer):
        return broadcast_to(convert(_np.asarray(fill, dt), dt), shp)
    return _np.full(shp, fill, dt)


def arange(start: Any, stop: Any = None, step: Any = None, dtype: Any = None) -> _np.ndarray:
    for v in (start, stop, step):
        if isinstance(v, Tracer):
            raise TypeError("arange: bounds must be static Python numbers (the output shape "
                            f"depends on them), got a traced value {v.aval}; mark them static "
                            "with jit(f, static_argnums=...), or use linspace for traced "
                            "endpoints")
    out = _np.arange(start, stop, step) if stop is not None else _np.arange(start)
    return out.astype(as_dtype(dtype if dtype is not None else out.dtype).np)


def linspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, retstep: bool = False,
             dtype: Any = None, axis: int = 0) -> Any:
    """`num` evenly spaced values from start to stop; traced endpoints are differentiated."""
    num = static_int(num, "num", "linspace")
    if num < 0:
        raise ValueError(f"linspace: number of samples, {num}, must be non-negative")
    start, stop = operand(start, "linspace"), operand(stop, "linspace")
    if not (isinstance(start, Tracer) or isinstance(stop, Tracer)):
        out = _np.linspace(start, stop, num, endpoint=endpoint, retstep=retstep, axis=axis)
        values, step = out if retstep else (out, None)
        values = values.astype(_creation_dtype(dtype, float_dtype(start, stop)))
        return (values, step) if retstep else values
    values, step = _traced_linspace(start, stop, num, endpoint, axis)
    dt = _creation_dtype(dtype, float_dtype(start, stop))
    values = floor(values) if dt.kind in "iu" else values
    values = convert(values, dt)
    return (values, step) if retstep else values


def _traced_linspace(start: Any, stop: Any, num: int, endpoint: bool, axis: int):
    dt = float_dtype(start, stop)
    start, stop = promote("linspace", start, stop, dtype=dt)
    shape = joint_shape("linspace", _np.shape(start), _np.shape(stop))
    start, stop = broadcast_to(start, shape), broadcast_to(stop, shape)
    div = (num - 1) if endpoint else num
    step = divide(subtract(stop, start), builtins.max(div, 1))
    ramp = _np.arange(num, dtype=dt).reshape((num,) + (1,) * _np.ndim(start))
    values = add(start, multiply(ramp, step))
    if endpoint and num > 1:  # the last sample is exactly `stop`, as in NumPy
        values = concatenate([slice_axis(values, 0, 0, num - 1), expand_dims(stop, 0)], axis=0)
    if div == 0:
        step = full_like(step, _np.nan)
    return moveaxis(values, 0, axis), step


def logspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, base: Any = 10.0,
             dtype: Any = None, axis: int = 0) -> Any:
    """base ** linspace(start, stop): traced endpoints (and base) are differentiated."""
    exponents = linspace(start, stop, num, endpoint=endpoint, axis=axis)
    base = operand(base, "logspace")
    if _np.ndim(base):
        base = expand_dims(base, axis)
    out = power(base, exponents)
    return out if dtype is None else astype(out, dtype)


def geomspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, dtype: Any = None,
              axis: int = 0) -> Any:
    """Geometrically spaced values from start to stop (same sign), endpoints exact."""
    start, stop = operand(start, "geomspace"), operand(stop, "geomspace")
    if not (isinstance(start, Tracer) or isinstance(stop, Tracer)):
        out = _np.geomspace(start, stop, num, endpoint=endpoint, axis=axis)
        return out.astype(_creation_dtype(dtype, float_dtype(start, stop)))
    num = static_int(num, "num", "geomspace")
    sign = _sign(start)
    logs = linspace(log(abs(start)), log(abs(stop)), num, endpoint=endpoint, axis=0)
    values = multiply(sign, exp(logs))
    if num > 0:  # endpoints exactly as given, as in NumPy
        ends = [expand_dims(start, 0), slice_axis(values, 0, 1, num - 1 if endpoint else num)]
        if endpoint and num > 1:
            ends.append(expand_dims(stop, 0))
        values = concatenate(ends, axis=0)
    values = moveaxis(values, 0, axis)
    return values if dtype is None else astype(values, dtype)


def eye(N: int, M: int | None = None, k: int = 0, dtype: Any = None) -> _np.ndarray:
    N = static_int(N, "N", "eye")
    M = N if M is None else static_int(M, "M", "eye")
    k = static_int(k, "the diagonal offset k", "eye")
    return _np.eye(N, M, k, dtype=_creation_dtype(dtype, _np.float64))


def array(obj: Any, dtype: Any = None, copy: bool = True, ndmin: int = 0) -> Any:
    """`obj` as an array: traced values stay traced; nested lists of them are stacked."""
    obj = operand(obj, "array")
    if dtype is not None:
        obj = convert(obj, as_dtype(dtype).np)
    if ndmin and _np.ndim(obj) < ndmin:
        obj = reshape(obj, (1,) * (ndmin - _np.ndim(obj)) + _np.shape(obj))
    if isinstance(obj, Tracer):
        return obj
    arr = _np.asarray(obj)
    builder = current_builder()
    if builder is not None and arr.ndim > 0:
        # Inside a trace, an array becomes a traced constant, so indexing it with a traced
        # index (x[i] in a loop body) goes through dualjit rather than numpy.
        return builder.const_tracer(arr)
    return arr


def asarray(a: Any, dtype: Any = None, copy: Any = None) -> Any:
    return array(a, dtype=dtype)


def astype(x: Any, dtype: Any) -> Any:
    return convert(operand(x, "astype"), as_dtype(dtype).np)


def iota(dtype: Any, size: int) -> Any:
    return bind(P.iota_p, dtype=as_dtype(dtype), shape=(int(size),), dimension=0)



def empty(shape: Any, dtype: Any = None) -> _np.ndarray:
    """Zeros: dualjit has no uninitialized memory to hand out."""
    return zeros(shape, dtype)


def empty_like(prototype: Any, dtype: Any = None, shape: Any = None) -> Any:
    return zeros_like(prototype, dtype, shape)


def identity(n: int, dtype: Any = None) -> _np.ndarray:
    return eye(n, dtype=dtype)


def tri(N: int, M: int | None = None, k: int = 0, dtype: Any = None) -> _np.ndarray:
    """Ones on and below the k-th diagonal."""
    N = static_int(N, "N", "tri")
    M = N if M is None else static_int(M, "M", "tri")
    return _np.tri(N, M, static_int(k, "k", "tri"), dtype=_creation_dtype(dtype, _np.float64))


def fromfunction(function: Any, shape: Any, *, dtype: Any = float, **kwargs: Any) -> Any:
    """function(*index_grids) over the grid of `shape` (the grids are float by default)."""
    grids = _np.indices(static_shape(shape, "fromfunction"), dtype=as_dtype(dtype).np)
    return function(*grids, **kwargs)


def fromiter(iter: Any, dtype: Any, count: int = -1, *, like: Any = None) -> Any:  # noqa: A002
    """An array of the iterable's items (traced items are stacked)."""
    items = list(iter) if count < 0 else [x for _, x in zip(range(count), iter)]
    if count >= 0 and len(items) < count:
        raise ValueError(f"fromiter: iterator too short: expected {count} but iterator had "
                         f"only {len(items)} items")
    return array(items, dtype=dtype) if items else _np.zeros(0, as_dtype(dtype).np)


def _window(name: str, M: Any) -> _np.ndarray:
    M = static_int(M, "M", name)
    return getattr(_np, name)(M).astype(_np.float64)


def bartlett(M: int) -> _np.ndarray:
    return _window("bartlett", M)


def blackman(M: int) -> _np.ndarray:
    return _window("blackman", M)


def hamming(M: int) -> _np.ndarray:
    return _window("hamming", M)


def hanning(M: int) -> _np.ndarray:
    return _window("hanning", M)


def kaiser(M: int, beta: float) -> _np.ndarray:
    if isinstance(beta, Tracer):
        raise TypeError("kaiser: beta must be a static number")
    return _np.kaiser(static_int(M, "M", "kaiser"), float(beta)).astype(_np.float64)


def meshgrid(*xi: Any, copy: bool = True, sparse: bool = False, indexing: str = "xy") -> list:
    """Coordinate grids from 1-D coordinate arrays ('xy': the first two axes swapped)."""
    if indexing not in ("xy", "ij"):
        raise ValueError("meshgrid: indexing must be 'xy' or 'ij'")
    xi = [reshape(operand(x, "meshgrid"), (-1,)) for x in xi]
    nd = len(xi)
    shapes = [_np.shape(x)[0] for x in xi]
    out = []
    for k, x in enumerate(xi):
        shape = [1] * nd
        shape[k] = shapes[k]
        if indexing == "xy" and nd > 1 and k < 2:
            shape[0], shape[1] = shape[1], shape[0]
        out.append(reshape(x, shape))
    if sparse:
        return out
    full = list(shapes)
    if indexing == "xy" and nd > 1:
        full[0], full[1] = full[1], full[0]
    return [broadcast_to(x, full) for x in out]
