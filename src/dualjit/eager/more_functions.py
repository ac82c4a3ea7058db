"""More torch-spelled functions: dtype information, thread counts, and the numeric, bitwise,
set and index functions beyond functions.py (each recorded like the Tensor methods)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import dtypes
from .tensor import is_inference_mode_enabled  # noqa: F401

__all__ = ["finfo", "iinfo", "get_num_threads", "set_num_threads",
           "is_inference_mode_enabled"]


# ---------------------------------------------------------------------------------------------
# dtype information and threads
# ---------------------------------------------------------------------------------------------

def finfo(type: Any = None) -> np.finfo:  # noqa: A002
    """Machine limits of a float dtype (the default float dtype when None): bits, eps, max,
    min, tiny, smallest_normal, resolution; a complex dtype gives its parts' float limits."""
    d = dtypes.get_default_dtype() if type is None else dtypes.to_numpy_dtype(type)
    if d.kind not in "fc":
        raise TypeError(f"finfo: expected a floating point or complex dtype, got {d}; use "
                        "dualjit.iinfo for integer dtypes")
    return np.finfo(d)


def iinfo(type: Any) -> np.iinfo:  # noqa: A002
    """Machine limits of an integer dtype: bits, max, min."""
    d = dtypes.to_numpy_dtype(type)
    if d.kind not in "iu":
        raise TypeError(f"iinfo: expected an integer dtype, got {d}; use dualjit.finfo for "
                        "float dtypes")
    return np.iinfo(d)


def get_num_threads() -> int:
    """The threads dualjit's native kernels may use (DUALJIT_NUM_THREADS, else the cores
    this process may run on)."""
    from ..codegen import threads

    return threads.configured()


def set_num_threads(num: int) -> None:
    """Limit dualjit's native kernels to `num` threads (sets DUALJIT_NUM_THREADS, read on
    every call)."""
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, got {num!r}")
    os.environ["DUALJIT_NUM_THREADS"] = str(int(num))
