"""dtypes in dualjit.numpy: the scalar types, finfo/iinfo, promotion and casting queries.

The integer widths' scalar types live in bits.py; the abstract NumPy classes
(number, floating, ...) are NumPy's own, so issubdtype and isinstance work as in NumPy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as _np

from ..ir import as_dtype
from ..tracer.core import Tracer
from ._core import operand

__all__ = ["bool", "int_", "double", "single", "uint", "dtype", "generic", "number", "integer",
           "signedinteger", "unsignedinteger", "floating", "inexact", "euler_gamma", "finfo", "iinfo",
           "promote_types", "can_cast", "issubdtype", "isdtype", "isscalar", "iterable", "size"]

bool = _np.bool_  # noqa: A001  (NumPy 2 spells it jnp.bool)
int_, double, single = _np.int64, _np.float64, _np.float32
uint = _np.uint64  # NumPy 2's C unsigned long on 64-bit systems
dtype = _np.dtype
generic, number, integer, signedinteger, unsignedinteger = (
    _np.generic, _np.number, _np.integer, _np.signedinteger, _np.unsignedinteger)
floating, inexact = _np.floating, _np.inexact
euler_gamma = 0.5772156649015329


def _dtype_of(x: Any) -> _np.dtype:
    if isinstance(x, Tracer):
        return x.dtype
    if isinstance(x, (_np.dtype, type, str)):
        return _np.dtype(x)
    return _np.result_type(operand(x, "dtype"))


def finfo(dtype: Any) -> _np.finfo:
    """Machine limits of a float dtype (also of a traced value's dtype)."""
    return _np.finfo(_dtype_of(dtype))


def iinfo(int_type: Any) -> _np.iinfo:
    """Machine limits of an integer dtype (also of a traced value's dtype)."""
    return _np.iinfo(_dtype_of(int_type))


def promote_types(type1: Any, type2: Any) -> _np.dtype:
    """The smallest dualjit dtype both types convert to safely (NumPy's rules)."""
    return as_dtype(_np.promote_types(_dtype_of(type1), _dtype_of(type2))).np


def can_cast(from_: Any, to: Any, casting: str = "safe") -> bool:  # noqa: A002
    return _np.can_cast(_dtype_of(from_), _dtype_of(to), casting=casting)


def issubdtype(arg1: Any, arg2: Any) -> bool:
    return _np.issubdtype(arg1, arg2)


def isdtype(dtype: Any, kind: Any) -> bool:
    return _np.isdtype(_dtype_of(dtype), kind)


def isscalar(element: Any) -> Any:
    """Python and NumPy scalars, and (as in JAX) 0-d arrays, traced or not."""
    if isinstance(element, Tracer):
        return element.ndim == 0
    if isinstance(element, _np.ndarray):
        return element.ndim == 0
    return _np.isscalar(element)


def iterable(y: Any) -> Any:
    if isinstance(y, Tracer):
        return y.ndim > 0
    return _np.iterable(y)


def size(a: Any, axis: int | None = None) -> int:
    shape = _np.shape(operand(a, "size")) if not isinstance(a, Tracer) else a.shape
    return math.prod(shape) if axis is None else shape[axis]


