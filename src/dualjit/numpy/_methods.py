"""The methods and operators of traced arrays (x + y, x.sum(), x[i], x.T), from dualjit.numpy."""

from __future__ import annotations

from typing import Any

import numpy as _np

from ..tracer.core import Tracer, array_methods
from .creation import astype
from .elementwise import (
    abs,
    add,
    bitwise_and,
    bitwise_or,
    bitwise_xor,
    clip,
    divide,
    equal,
    floor_divide,
    greater,
    greater_equal,
    invert,
    less,
    less_equal,
    multiply,
    negative,
    not_equal,
    positive,
    power,
    remainder,
    subtract,
)
from .indexing import getitem, take
from .products import dot, matmul
from .reductions import all, any, argmax, argmin, max, mean, min, prod, std, sum, var
from .shapes import ravel, reshape, squeeze, swapaxes, transpose


def _reflected(fn):
    return lambda self, other: fn(other, self)


array_methods.update({
    "__add__": add, "__radd__": _reflected(add),
    "__sub__": subtract, "__rsub__": _reflected(subtract),
    "__mul__": multiply, "__rmul__": _reflected(multiply),
    "__truediv__": divide, "__rtruediv__": _reflected(divide),
    "__floordiv__": floor_divide, "__rfloordiv__": _reflected(floor_divide),
    "__mod__": remainder, "__rmod__": _reflected(remainder),
    "__pow__": power, "__rpow__": _reflected(power),
    "__matmul__": matmul, "__rmatmul__": _reflected(matmul),
    "__neg__": negative, "__pos__": positive, "__abs__": abs, "__invert__": invert,
    "__and__": bitwise_and, "__rand__": _reflected(bitwise_and),
    "__or__": bitwise_or, "__ror__": _reflected(bitwise_or),
    "__xor__": bitwise_xor, "__rxor__": _reflected(bitwise_xor),
    "__lt__": less, "__le__": less_equal, "__gt__": greater, "__ge__": greater_equal,
    "__eq__": equal, "__ne__": not_equal, "__getitem__": getitem,
    "sum": sum, "mean": mean, "max": max, "min": min, "prod": prod, "var": var, "std": std,
    "all": all, "any": any, "argmax": argmax, "argmin": argmin,
    "reshape": reshape, "transpose": lambda self, *axes: transpose(
        self, axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else (axes or None)),
    "astype": astype, "squeeze": squeeze, "ravel": ravel, "flatten": ravel,
    "swapaxes": swapaxes, "dot": dot, "clip": clip, "take": take,
})
def _T(self: Tracer) -> Any:
    return transpose(self)


Tracer.T = property(_T)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# NumPy's own functions given traced arrays
# ---------------------------------------------------------------------------------------------
# Left alone, NumPy would compute on a traced array's current value, which every transform
# sees as a constant: zero derivatives, a value baked into compiled code. So traced arrays take
# part in NumPy's dispatch (__array_function__, __array_ufunc__) and, as in JAX, the functions
# NumPy implements by calling the array's method work, the rest raise naming the fix.

# Queries NumPy answers from x.shape / x.dtype, which traced arrays have.
_QUERIES = {_np.shape, _np.ndim, _np.size, _np.result_type, _np.iscomplexobj, _np.isrealobj}
# np.sum(x) is x.sum(...): these run dualjit.numpy's function of the same name.
_METHOD_BACKED = {getattr(_np, name): name for name in (
    "sum prod mean var std max min amax amin all any argmax argmin cumsum cumprod clip round "
    "around reshape transpose squeeze swapaxes take repeat argsort nonzero trace diagonal "
    "compress searchsorted ravel").split()}
# `numpy_array + traced` reaches NumPy's add first: give it to the traced operand's operator.
_OPERATOR_UFUNCS = {
    _np.add: ("__add__", "__radd__"), _np.subtract: ("__sub__", "__rsub__"),
    _np.multiply: ("__mul__", "__rmul__"), _np.true_divide: ("__truediv__", "__rtruediv__"),
    _np.floor_divide: ("__floordiv__", "__rfloordiv__"),
    _np.remainder: ("__mod__", "__rmod__"), _np.power: ("__pow__", "__rpow__"),
    _np.matmul: ("__matmul__", "__rmatmul__"), _np.bitwise_and: ("__and__", "__rand__"),
    _np.bitwise_or: ("__or__", "__ror__"), _np.bitwise_xor: ("__xor__", "__rxor__"),
    _np.left_shift: ("__lshift__", "__rlshift__"), _np.right_shift: ("__rshift__", "__rrshift__"),
    _np.less: ("__lt__", "__gt__"), _np.less_equal: ("__le__", "__ge__"),
    _np.greater: ("__gt__", "__lt__"), _np.greater_equal: ("__ge__", "__le__"),
    _np.equal: ("__eq__", "__eq__"), _np.not_equal: ("__ne__", "__ne__"),
}


def _numpy_on_traced(name: str, args: Any) -> TypeError:
    traced = next((a for a in _flat(args) if isinstance(a, Tracer)), None)
    what = f"a traced array {traced.aval}" if traced is not None else "a traced array"
    fix = (f"use dualjit.numpy.{name} (import dualjit.numpy as jnp; jnp.{name}(...))"
           if hasattr(_package(), name) else "write it with dualjit.numpy's functions")
    return TypeError(
        f"numpy.{name} was given {what}: NumPy would compute with its current value as a "
        f"constant (zero derivatives, a value frozen into jit). Instead, {fix}.")


def _flat(args: Any) -> list[Any]:
    out = []
    for a in args:
        out.extend(_flat(a) if isinstance(a, (list, tuple)) else [a])
    return out


def _package():
    from .. import numpy
    return numpy


def _array_function(self: Tracer, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
    if func in _QUERIES:
        return func._implementation(*args, **kwargs)
    name = _METHOD_BACKED.get(func)
    if name is None:
        raise _numpy_on_traced(func.__name__, args)
    return getattr(_package(), name)(*args, **kwargs)


def _array_ufunc(self: Tracer, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
    operators = _OPERATOR_UFUNCS.get(ufunc)
    if method == "__call__" and operators is not None and not kwargs and len(inputs) == 2:
        x, y = inputs
        return getattr(x, operators[0])(y) if isinstance(x, Tracer) else getattr(
            y, operators[1])(x)
    name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
    raise _numpy_on_traced(name, inputs)


Tracer.__array_function__ = _array_function  # type: ignore[attr-defined]
Tracer.__array_ufunc__ = _array_ufunc  # type: ignore[attr-defined]
