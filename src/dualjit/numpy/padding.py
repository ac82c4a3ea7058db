"""pad: NumPy's padding modes, one axis at a time (as NumPy, so corners agree)."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as _np

from ..ir import primitives as P
from ..tracer.core import Tracer, bind
from ._core import PY_SCALARS, broadcast_to, convert, operand, result_type, slice_axis
from .elementwise import add, floor, multiply, rint, subtract
from .shapes import concatenate, flip

__all__ = ["pad"]

_MODES = ("constant", "edge", "linear_ramp", "maximum", "mean", "median", "minimum", "reflect",
          "symmetric", "wrap", "empty")


def pad(array: Any, pad_width: Any, mode: str = "constant", **kwargs: Any) -> Any:
    """array padded by pad_width ((before, after) per axis) in NumPy's `mode`:
    constant (constant_values, may be traced), edge, reflect/symmetric (reflect_type 'even'
    or 'odd'), wrap, linear_ramp (end_values), maximum/minimum/mean/median (stat_length),
    and empty (zeros here)."""
    a = operand(array, "pad")
    if type(a) in PY_SCALARS:
        a = _np.asarray(a)
    if callable(mode):
        raise TypeError("pad: a function as mode is not supported")
    if mode not in _MODES:
        raise ValueError(f"pad: mode {mode!r} is not supported; use one of {_MODES}")
    nd = _np.ndim(a)
    widths = _pairs("pad_width", pad_width, nd, integer=True)
    if (widths < 0).any():
        raise ValueError("pad: index can't contain negative values")
    if mode in ("constant", "empty"):
        values = kwargs.get("constant_values", 0) if mode == "constant" else 0
        return _constant(a, widths, values)
    for axis in range(nd):
        before, after = (int(w) for w in widths[axis])
        if before == 0 and after == 0:
            continue
        a = _pad_axis(a, axis, before, after, mode, kwargs)
    return a


def _pairs(name: str, value: Any, nd: int, integer: bool) -> _np.ndarray:
    if isinstance(value, Tracer):
        raise TypeError(f"pad: {name} must be static")
    arr = _np.asarray(value)
    if integer and arr.dtype.kind not in "iu":
        raise TypeError(f"pad: {name} must be integers, got {arr.dtype}")
    try:
        return _np.broadcast_to(arr, (nd, 2)).astype(_np.int64 if integer else arr.dtype)
    except ValueError:
        raise ValueError(f"pad: {name} of shape {arr.shape} does not fit {nd} axes") from None


def _constant(a: Any, widths: _np.ndarray, values: Any) -> Any:
    dt = result_type(a)
    values = operand(values, "pad")
    if _np.ndim(values) == 0:
        value = convert(values, dt)
        if type(value) in PY_SCALARS:
            value = _np.asarray(value, dt)[()]
        config = tuple((int(lo), int(hi), 0) for lo, hi in widths)
        return bind(P.pad_p, a, value, padding_config=config) if widths.any() else a
    per_axis = _per_axis_values(values, _np.ndim(a))
    for axis, (lo, hi) in enumerate(widths):
        for side, width in ((0, int(lo)), (1, int(hi))):
            if width:
                config = [(0, 0, 0)] * _np.ndim(a)
                config[axis] = (width, 0, 0) if side == 0 else (0, width, 0)
                a = bind(P.pad_p, a, convert(per_axis[axis][side], dt),
                         padding_config=tuple(config))
    return a


def _per_axis_values(values: Any, nd: int) -> list[list[Any]]:
    shape = _np.shape(values)
    if shape not in ((nd, 2), (1, 2), (2,), (1,), (nd, 1)):
        raise ValueError(f"pad: constant_values of shape {shape} do not fit {nd} axes")
    grid = broadcast_to(values, (nd, 2))
    return [[_element(grid, i, j) for j in range(2)] for i in range(nd)]


def _element(grid: Any, i: int, j: int) -> Any:
    from .shapes import reshape

    return reshape(slice_axis(slice_axis(grid, 0, i, i + 1), 1, j, j + 1), ())


def _pad_axis(a: Any, axis: int, before: int, after: int, mode: str, kwargs: dict) -> Any:
    n = _np.shape(a)[axis]
    if n == 0:
        if mode in ("constant", "empty"):
            return a
        raise ValueError(f"pad: can't extend empty axis {axis} using modes other than "
                         "'constant' or 'empty'")
    if mode in ("reflect", "symmetric") and kwargs.get("reflect_type", "even") == "odd":
        return _odd_reflection(a, axis, before, after, include_edge=mode == "symmetric")
    if mode in ("edge", "wrap", "reflect", "symmetric"):
        source = _source_index(_np.arange(-before, n + after), n, mode)
        return bind(P.gather_p, a, source.astype(_np.int64), axis=axis)
    if mode == "linear_ramp":
        return _linear_ramp(a, axis, before, after, kwargs.get("end_values", 0))
    return _statistic(a, axis, before, after, mode, kwargs.get("stat_length"))


def _source_index(i: _np.ndarray, n: int, mode: str) -> _np.ndarray:
    """Which original element each padded position copies (even reflections)."""
    if mode == "edge":
        return _np.clip(i, 0, n - 1)
    if mode == "wrap":
        return _np.mod(i, n)
    if mode == "reflect":
        if n == 1:
            return _np.zeros_like(i)
        j = _np.mod(i, 2 * n - 2)
        return _np.where(j < n, j, 2 * n - 2 - j)
    j = _np.mod(i, 2 * n)  # symmetric: the edge is repeated
    return _np.where(j < n, j, 2 * n - 1 - j)


def _odd_reflection(a: Any, axis: int, before: int, after: int, include_edge: bool) -> Any:
    """NumPy's reflect_type='odd': mirrored chunks turned about the edge value, added chunk by
    chunk (each as long as the part padded so far allows)."""
    period = _np.shape(a)[axis]
    if period == 1 and not include_edge:
        return _pad_axis(a, axis, before, after, "edge", {})
    while before or after:
        n = _np.shape(a)[axis]
        usable = n // period * period if include_edge else (n - 1) // (period - 1) * (
            period - 1)
        if before:
            k = min(usable, before)
            start = 0 if include_edge else 1
            chunk = flip(slice_axis(a, axis, start, start + k), axis)
            edge = slice_axis(a, axis, 0, 1)
            a = concatenate([subtract(multiply(edge, 2), chunk), a], axis=axis)
            before -= k
        if after:
            n2 = _np.shape(a)[axis]
            k = min(usable, after)
            stop = n2 if include_edge else n2 - 1
            chunk = flip(slice_axis(a, axis, stop - k, stop), axis)
            edge = slice_axis(a, axis, n2 - 1, n2)
            a = concatenate([a, subtract(multiply(edge, 2), chunk)], axis=axis)
            after -= k
    return a


def _linear_ramp(a: Any, axis: int, before: int, after: int, end_values: Any) -> Any:
    nd = _np.ndim(a)
    ends = _pairs("end_values", end_values, nd, integer=False)
    n = _np.shape(a)[axis]
    dt = result_type(a)
    parts = []
    for side, width in ((0, before), (1, after)):
        if not width:
            parts.append(None)
            continue
        edge = slice_axis(a, axis, 0, 1) if side == 0 else slice_axis(a, axis, n - 1, n)
        end = float(ends[axis][side])
        shape = [1] * nd
        shape[axis] = width
        steps = (_np.arange(width) / width).reshape(shape)
        if side == 1:
            steps = steps[tuple(slice(None, None, -1) if d == axis else slice(None)
                                for d in range(nd))]
        ramp = add(end, multiply(subtract(convert(edge, _np.dtype(_np.float64)), end), steps))
        parts.append(convert(floor(ramp) if dt.kind in "iu" else ramp, dt))
    pieces = [p for p in (parts[0], a, parts[1]) if p is not None]
    return concatenate(pieces, axis=axis)


def _statistic(a: Any, axis: int, before: int, after: int, mode: str, stat_length: Any) -> Any:
    from .reductions import max, mean, min
    from .statistics import median

    nd = _np.ndim(a)
    n = _np.shape(a)[axis]
    lengths = _pairs("stat_length", stat_length, nd, integer=True) if stat_length is not None \
        else _np.full((nd, 2), n)
    reducer = {"maximum": max, "minimum": min, "mean": mean, "median": median}[mode]
    dt = result_type(a)
    parts = []
    for side, width in ((0, before), (1, after)):
        if not width:
            parts.append(None)
            continue
        k = builtins.min(builtins.max(int(lengths[axis][side]), 1), n)
        region = slice_axis(a, axis, 0, k) if side == 0 else slice_axis(a, axis, n - k, n)
        stat = reducer(region, axis=axis, keepdims=True)
        if dt.kind in "iu" and mode in ("mean", "median"):
            stat = rint(stat)  # NumPy rounds statistics of integer arrays
        shape = list(_np.shape(a))
        shape[axis] = width
        parts.append(broadcast_to(convert(stat, dt), shape))
    pieces = [p for p in (parts[0], a, parts[1]) if p is not None]
    return concatenate(pieces, axis=axis)
