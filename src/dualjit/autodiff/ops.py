"""The operations derivative rules are written with: one function per primitive, named after it.

`sin(x)` binds `sin_p`; `div(1, add(x, 1))` binds `add_p` and `div_p`. Python scalars are
accepted for any operand and take the dtype of the operation's array operands, so rules read
as formulas. Primitives whose names are Python keywords get a trailing underscore (`and_`,
`or_`, `not_`); `abs`, `max`, `min`, `pow` and `round` are reached as `ops.abs`, ... so they
do not shadow the builtins where rules are written.
"""

from __future__ import annotations

import keyword
from typing import Any

import numpy as np

from ..ir import DType, TensorType, as_dtype, registry
from ..ir import primitives as P
from ..ir.core import Literal
from ..tracer.core import Tracer, bind

_PYTHON_SCALARS = (bool, int, float)


def type_of(x: Any) -> TensorType:
    if isinstance(x, Tracer):
        return x.aval
    if isinstance(x, Literal):  # (an inlined Function's constant output, e.g. a custom JVP's 0)
        return x.type
    arr = np.asarray(x)
    return TensorType(as_dtype(arr.dtype), arr.shape)


def scalar(value: float, dtype: DType) -> np.generic:
    return dtype.np.type(value)


def lit(value: float, like: Any) -> np.generic:
    """A scalar constant with `like`'s dtype (becomes an IR Literal)."""
    return scalar(value, type_of(like).dtype)


def _typed_scalars(args: tuple) -> list:
    """Python scalars among `args` become scalars of the first other operand's dtype."""
    typed = [a for a in args if type(a) not in _PYTHON_SCALARS]
    if not typed or len(typed) == len(args):
        return list(args)
    dtype = type_of(typed[0]).dtype
    return [scalar(a, dtype) if type(a) in _PYTHON_SCALARS else a for a in args]


def _operation(prim):
    def apply(*args: Any, **params: Any) -> Any:
        return bind(prim, *_typed_scalars(args), **params)
    apply.__name__ = apply.__qualname__ = _helper_name(prim)
    apply.__doc__ = f"bind {prim.name}_p (Python scalar operands take the others' dtype)"
    return apply


def _helper_name(prim) -> str:
    return prim.name + "_" if keyword.iskeyword(prim.name) else prim.name


# One helper per first-order primitive, from the registry: sin, cos, mul, reduce_max, gather, ...
for _prim in list(registry.values()):
    if not _prim.higher_order:
        globals()[_helper_name(_prim)] = _operation(_prim)


# ---------------------------------------------------------------------------------------------
# Helpers with more convenient signatures than the bare primitives
# ---------------------------------------------------------------------------------------------

def select(pred: Any, on_true: Any, on_false: Any) -> Any:
    """on_true where pred holds, else on_false (Python scalars take the other branch's dtype)."""
    on_true, on_false = _typed_scalars((on_true, on_false))
    return bind(P.select_p, pred, on_true, on_false)


def convert(x: Any, dtype: DType) -> Any:
    return x if type_of(x).dtype is dtype else bind(P.convert_element_type_p, x, new_dtype=dtype)


def reduce_sum(x: Any, axes: Any) -> Any:
    return bind(P.reduce_sum_p, x, axes=tuple(axes)) if len(tuple(axes)) else x


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


def broadcast_to_kept(y: Any, t: TensorType, axes: Any) -> Any:
    """A reduction's result `y` broadcast back to the reduced operand's type `t`."""
    kept = tuple(i for i in range(t.ndim) if i not in axes)
    return bind(P.broadcast_in_dim_p, y, shape=t.shape, broadcast_dimensions=kept)


def unbroadcast(ct: Any, t: TensorType) -> Any:
    """The cotangent of a rank-0 operand that was broadcast implicitly: sum it."""
    ct_t = type_of(ct)
    if ct_t.shape == t.shape:
        return ct
    return bind(P.reduce_sum_p, ct, axes=tuple(range(len(ct_t.shape))))
