"""Torch-spelled dtypes, the default float dtype, and PyTorch's type promotion for Tensors."""

from __future__ import annotations

import builtins
import threading
from typing import Any

import numpy as np

from ..ir import as_dtype

# Tensor dtypes are numpy dtypes: `t.dtype == dualjit.float32` and `t.numpy().dtype` agree.
# (The torch aliases float, double, int, long and bool are defined at the end of the module,
# so the builtins keep their names here.)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
int8 = np.dtype(np.int8)
int16 = np.dtype(np.int16)
uint8 = np.dtype(np.uint8)
complex64 = np.dtype(np.complex64)
complex128 = np.dtype(np.complex128)
bool_ = np.dtype(np.bool_)

# PyTorch's 16-bit floats have no IR dtype: dualjit.float16 / half / bfloat16 raise
# AttributeError with this advice (dualjit/__init__), so `getattr(torch, "bfloat16", None)`
# style probes still see them as absent.
NO_HALF = ("dualjit has no 16-bit float dtype (its IR computes in float32 and float64): use "
           "dualjit.float32 where PyTorch code asks for {name}")
HALF_NAMES = ("float16", "half", "bfloat16")

_FLOATS = (float32, float64)


class _Defaults(threading.local):
    float_dtype = float32


_defaults = _Defaults()


def get_default_dtype() -> np.dtype:
    return _defaults.float_dtype


def set_default_dtype(dtype: Any) -> None:
    """The dtype of float tensors made from Python floats (float32 unless changed)."""
    d = to_numpy_dtype(dtype)
    if d not in _FLOATS:
        raise TypeError(f"set_default_dtype: only floating point dtypes are supported, got {d}")
    _defaults.float_dtype = d


def to_numpy_dtype(dtype: Any) -> np.dtype:
    """A numpy dtype for a torch-style dtype argument (dualjit.float32, 'float32', np.int64...)."""
    if dtype is None:
        raise TypeError("dtype is None")
    if isinstance(dtype, np.dtype):
        d = dtype
    elif dtype is builtins.float:
        return _defaults.float_dtype
    else:
        d = np.dtype(as_dtype(dtype).np)
    return np.dtype(as_dtype(d).np)


def is_floating_point(dtype: np.dtype) -> bool:
    return dtype.kind == "f"


def category(dtype: np.dtype) -> int:
    return {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}[dtype.kind]


def promote_types(a: np.dtype, b: np.dtype) -> np.dtype:
    """PyTorch's promote_types: the higher category wins outright (int64 with float32 gives
    float32, unlike NumPy's float64); within a category the wider type wins."""
    if a is b or a == b:
        return a
    ca, cb = category(a), category(b)
    if {ca, cb} == {2, 3}:  # complex with float: NumPy's rule (complex64, float64 -> complex128)
        return np.promote_types(a, b)
    if ca != cb:
        return a if ca > cb else b
    return np.promote_types(a, b)


def scalar_dtype(x: Any) -> np.dtype:
    """The dtype a Python number gets when it takes part in an operation (bool, int64, or the
    default float dtype)."""
    if isinstance(x, (builtins.bool, np.bool_)):
        return bool_
    if isinstance(x, (builtins.int, np.integer)):
        return int64
    if isinstance(x, (builtins.complex, np.complexfloating)):
        return complex_of(_defaults.float_dtype)
    return _defaults.float_dtype


def complex_of(dtype: np.dtype) -> np.dtype:
    """The complex dtype whose parts are float `dtype` (complex64 for float32)."""
    return np.dtype(np.complex64) if dtype == np.float32 else np.dtype(np.complex128)


def result_type(*operands: Any) -> np.dtype:
    """torch.result_type: dimensioned tensors decide, unless a zero-dim tensor or a Python
    number (each group in turn) is of a higher category (bool < integer < float)."""
    dims = zeros = scalars = None
    for x in operands:
        value = getattr(x, "_value", None)
        if value is None:
            if isinstance(x, np.ndarray):
                value = x
            else:
                d = scalar_dtype(x)
                scalars = d if scalars is None else promote_types(scalars, d)
                continue
        d = value.dtype
        if value.ndim:
            dims = d if dims is None else promote_types(dims, d)
        else:
            zeros = d if zeros is None else promote_types(zeros, d)
    result = dims
    for group in (zeros, scalars):
        if group is None:
            continue
        if result is None:
            result = group
        elif category(group) > category(result):
            # (PyTorch: a complex 0-d tensor or number keeps a float tensor's precision:
            # float32 tensor * complex128 0-d tensor is complex64)
            result = complex_of(result) if category(group) == 3 and category(result) == 2 \
                else promote_types(result, group)
    return result


def float_result(dtype: np.dtype) -> np.dtype:
    """The dtype of a float-valued operation (true division, sqrt, mean) on `dtype`
    (complex dtypes stay complex)."""
    return dtype if dtype.kind in "fc" else _defaults.float_dtype


float = float32  # noqa: A001
double = float64
int = int32  # noqa: A001
long = int64
short = int16
cfloat = complex64
cdouble = complex128
bool = bool_  # noqa: A001
