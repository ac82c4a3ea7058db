"""More torch-spelled functions: dtype information, thread counts, and the numeric, bitwise,
set and index functions beyond functions.py (each recorded like the Tensor methods)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import numpy as jnp
from . import dtypes
from . import linalg as _linalg
from .return_types import RETURN_TYPES
from .tensor import Tensor, apply_op, is_inference_mode_enabled, make_tensor  # noqa: F401

__all__ = ["finfo", "iinfo", "get_num_threads", "set_num_threads",
           "is_inference_mode_enabled", "det", "slogdet", "logdet", "inverse", "svd",
           "matrix_exp"]


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


# ---------------------------------------------------------------------------------------------
# torch.* spellings of linear algebra (dualjit.linalg has the rest)
# ---------------------------------------------------------------------------------------------

def det(input: Any) -> Tensor:  # noqa: A002
    return _linalg.det(input)


def inverse(input: Any, *, out: Any = None) -> Tensor:  # noqa: A002
    return _linalg.inv(input)


def matrix_exp(input: Any) -> Tensor:  # noqa: A002
    return _linalg.matrix_exp(input)


def slogdet(input: Any, *, out: Any = None):  # noqa: A002
    """(sign, logabsdet) as torch.slogdet's named tuple."""
    sign, logabsdet = _linalg.slogdet(input)
    return RETURN_TYPES["slogdet"](sign, logabsdet)


def _logdet(a):
    sign, logabsdet = jnp.linalg.slogdet(a)
    return jnp.where(sign < 0, np.nan, logabsdet)


def logdet(input: Any) -> Tensor:  # noqa: A002
    """log(det(A)): -inf for a singular matrix, NaN for a negative determinant."""
    t = _linalg._matrix_input(input, "logdet", square=True)
    return apply_op("LogdetBackward", _logdet, [t])


def svd(input: Any, some: bool = True, compute_uv: bool = True, *, out: Any = None):  # noqa: A002
    """torch.svd: (U, S, V) with A = U diag(S) V^H (V, not linalg.svd's Vh); reduced unless
    some=False; without compute_uv, U and V are zero-filled (m, m) and (n, n) matrices."""
    t = _linalg._matrix_input(input, "svd")
    if not compute_uv:
        m, n = t.shape[-2:]
        batch = tuple(t.shape[:-2])
        return RETURN_TYPES["svd"](make_tensor(np.zeros((*batch, m, m), t.dtype)),
                                   _linalg.svdvals(t),
                                   make_tensor(np.zeros((*batch, n, n), t.dtype)))
    u, s, vh = _linalg.svd(t, full_matrices=not some)
    return RETURN_TYPES["svd"](u, s, vh.mH)
