"""Small array helpers the derivative rules are written with (each one `bind`s primitives)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ir import DType, TensorType
from ..ir import primitives as P
from ..tracer.core import Tracer, bind


def type_of(x: Any) -> TensorType:
    if isinstance(x, Tracer):
        return x.aval
    arr = np.asarray(x)
    from ..ir import as_dtype

    return TensorType(as_dtype(arr.dtype), arr.shape)


def scalar(value: float, dtype: DType) -> np.generic:
    return dtype.np.type(value)


def zeros(t: TensorType) -> Any:
    return full(t, 0)


def full(t: TensorType, value: float) -> Any:
    s = scalar(value, t.dtype)
    if t.shape == ():
        return bind(P.convert_element_type_p, s, new_dtype=t.dtype)
    return bind(P.broadcast_in_dim_p, s, shape=t.shape, broadcast_dimensions=())


def broadcast(x: Any, shape: tuple[int, ...]) -> Any:
    """A rank-0 or same-shape value as an array of `shape`."""
    t = type_of(x)
    if t.shape == tuple(shape):
        return x
    if t.shape != ():
        raise ValueError(f"cannot broadcast {t} to {shape}")
    return bind(P.broadcast_in_dim_p, x, shape=tuple(shape), broadcast_dimensions=())


def unbroadcast(ct: Any, t: TensorType) -> Any:
    """The cotangent of a rank-0 operand that was broadcast implicitly: sum it."""
    ct_t = type_of(ct)
    if ct_t.shape == t.shape:
        return ct
    return bind(P.reduce_sum_p, ct, axes=tuple(range(len(ct_t.shape))))


def add(x, y):
    return bind(P.add_p, x, y)


def sub(x, y):
    return bind(P.sub_p, x, y)


def mul(x, y):
    return bind(P.mul_p, x, y)


def div(x, y):
    return bind(P.div_p, x, y)


def neg(x):
    return bind(P.neg_p, x)


def convert(x, dtype: DType):
    return x if type_of(x).dtype is dtype else bind(P.convert_element_type_p, x, new_dtype=dtype)


def select(pred, on_true, on_false):
    return bind(P.select_p, pred, on_true, on_false)


def reduce_sum(x, axes):
    return bind(P.reduce_sum_p, x, axes=tuple(axes)) if axes else x


def lit(value: float, like: Any) -> np.generic:
    """A scalar constant with `like`'s dtype (becomes an IR Literal)."""
    return scalar(value, type_of(like).dtype)
