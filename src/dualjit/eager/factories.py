"""Tensor constructors (torch spelling): tensor, ones, zeros, randn, rand, linspace, eye, arange."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ir import as_dtype
from .tensor import Tensor

_rng = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    global _rng
    _rng = np.random.default_rng(seed)


def _shape(size: tuple) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    return tuple(int(d) for d in size)


def _make(value: np.ndarray, dtype: Any, requires_grad: bool) -> Tensor:
    value = value.astype(as_dtype(dtype).np if dtype is not None else np.float32)
    t = Tensor._wrap(value)
    return t.requires_grad_(True) if requires_grad else t


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _make(np.ones(_shape(size)), dtype, requires_grad)


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _make(np.zeros(_shape(size)), dtype, requires_grad)


def randn(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _make(_rng.standard_normal(_shape(size)), dtype, requires_grad)


def rand(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _make(_rng.random(_shape(size)), dtype, requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = None,
             requires_grad: bool = False) -> Tensor:
    return _make(np.linspace(start, end, int(steps)), dtype, requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _make(np.eye(n, m), dtype, requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    values = np.arange(start, end, step) if end is not None else np.arange(start)
    if dtype is None:
        dtype = "int64" if values.dtype.kind in "iu" else "float32"
    return _make(values, dtype, requires_grad)
