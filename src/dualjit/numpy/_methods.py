"""The methods and operators of traced arrays (x + y, x.sum(), x[i], x.T), from dualjit.numpy."""

from __future__ import annotations

from typing import Any

import numpy as _np

from ..tracer.core import Tracer, array_methods, numpy_delegates
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


def _real(self: Tracer) -> Any:
    from .elementwise import real

    return real(self)


def _imag(self: Tracer) -> Any:
    from .elementwise import imag

    return imag(self)


def _conj(self: Tracer) -> Any:
    from .elementwise import conjugate

    return conjugate(self)


Tracer.real = property(_real)  # type: ignore[attr-defined]
Tracer.imag = property(_imag)  # type: ignore[attr-defined]
array_methods.update({"conj": _conj, "conjugate": _conj})



_DELEGATED = ("sum", "prod", "mean", "std", "var", "max", "amax", "min", "amin", "any", "all",
              "argmax", "argmin", "argsort", "cumsum", "cumprod", "round", "around", "clip",
              "reshape", "transpose", "swapaxes", "squeeze", "take", "repeat", "nonzero",
              "searchsorted", "compress", "choose")


def install_numpy_delegates(namespace: dict, lazy) -> None:
    """np.sum(traced) is jnp.sum(traced), and so for every NumPy function that calls the
    array's own method on a non-ndarray (as JAX's arrays get them); `namespace` is
    dualjit.numpy's, `lazy(name)` its names that load on first use."""
    for name in _DELEGATED:
        if hasattr(_np, name):
            numpy_delegates[getattr(_np, name)] = namespace.get(name) or _on_first_use(lazy, name)


def _on_first_use(lazy, name: str):
    def delegate(*args, **kwargs):
        return lazy(name)(*args, **kwargs)
    return delegate
