"""Array creation in dualjit.numpy: zeros, ones, full, arange, linspace, eye, array, ..."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as _np

from ..ir import as_dtype
from ..ir import primitives as P
from ..tracer.core import Tracer, as_array, bind, current_builder
from ._core import broadcast_to, convert, is_array, operand
from .shapes import stack

__all__ = ["zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "arange", "linspace",
           "eye", "array", "asarray", "astype", "iota"]

def _creation_dtype(dtype: Any, default: Any) -> _np.dtype:
    return as_dtype(dtype if dtype is not None else default).np


def _shape_arg(shape_: Any) -> tuple[int, ...]:
    return (int(shape_),) if isinstance(shape_, (int, _np.integer)) else tuple(int(d) for d in shape_)


def zeros(shape: Any, dtype: Any = None) -> _np.ndarray:
    return _np.zeros(_shape_arg(shape), _creation_dtype(dtype, _np.float64))


def ones(shape: Any, dtype: Any = None) -> _np.ndarray:
    return _np.ones(_shape_arg(shape), _creation_dtype(dtype, _np.float64))


def full(shape: Any, fill_value: Any, dtype: Any = None) -> Any:
    shp = _shape_arg(shape)
    if isinstance(fill_value, Tracer):
        return broadcast_to(convert(fill_value, _creation_dtype(dtype, fill_value.dtype)), shp)
    dt = _creation_dtype(dtype, _np.asarray(fill_value).dtype)
    return _np.full(shp, fill_value, dt)


def zeros_like(a: Any, dtype: Any = None) -> Any:
    return _filled_like(a, 0, dtype)


def ones_like(a: Any, dtype: Any = None) -> Any:
    return _filled_like(a, 1, dtype)


def full_like(a: Any, fill_value: Any, dtype: Any = None) -> Any:
    return _filled_like(a, fill_value, dtype)


def _filled_like(a: Any, value: Any, dtype: Any) -> Any:
    dt = _creation_dtype(dtype, a.dtype if is_array(a) else _np.asarray(a).dtype)
    shp = _np.shape(a)
    if isinstance(a, Tracer):
        scalar = _np.asarray(value, dt)[()]
        if shp == ():
            return bind(P.convert_element_type_p, scalar, new_dtype=as_dtype(dt))
        return bind(P.broadcast_in_dim_p, scalar, shape=shp, broadcast_dimensions=())
    return _np.full(shp, value, dt)


def arange(start: Any, stop: Any = None, step: Any = None, dtype: Any = None) -> _np.ndarray:
    for v in (start, stop, step):
        if isinstance(v, Tracer):
            raise TypeError("arange: bounds must be static Python numbers (the output shape "
                            "depends on them); mark them static with static_argnums")
    out = _np.arange(start, stop, step) if stop is not None else _np.arange(start)
    return out.astype(as_dtype(dtype if dtype is not None else out.dtype).np)


def linspace(start: float, stop: float, num: int = 50, endpoint: bool = True,
             dtype: Any = None) -> _np.ndarray:
    return _np.linspace(start, stop, num, endpoint=endpoint).astype(
        _creation_dtype(dtype, _np.float64))


def eye(N: int, M: int | None = None, k: int = 0, dtype: Any = None) -> _np.ndarray:
    return _np.eye(N, M, k, dtype=_creation_dtype(dtype, _np.float64))


def array(obj: Any, dtype: Any = None) -> Any:
    if isinstance(obj, Tracer):
        return obj if dtype is None else astype(obj, dtype)
    if isinstance(obj, (list, tuple)) and builtins.any(
            isinstance(x, Tracer) for x in _flatten_nested(obj)):
        return stack([array(x) for x in obj]) if dtype is None else astype(
            stack([array(x) for x in obj]), dtype)
    arr = as_array(obj, "array")
    arr = arr if dtype is None else arr.astype(as_dtype(dtype).np)
    builder = current_builder()
    if builder is not None and arr.ndim > 0:
        # Inside a trace, an array becomes a traced constant, so indexing it with a traced
        # index (x[i] in a loop body) goes through dualjit rather than numpy.
        return builder.const_tracer(arr)
    return arr


asarray = array


def _flatten_nested(obj: Any):
    if isinstance(obj, (list, tuple)):
        for x in obj:
            yield from _flatten_nested(x)
    else:
        yield obj


def astype(x: Any, dtype: Any) -> Any:
    return convert(operand(x, "astype"), as_dtype(dtype).np)


def iota(dtype: Any, size: int) -> Any:
    return bind(P.iota_p, dtype=as_dtype(dtype), shape=(int(size),), dimension=0)

