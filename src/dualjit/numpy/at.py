"""x.at[index].set/add/multiply/min/max/...: JAX's functional index updates, for any NumPy index.

The index is resolved to the flat positions it selects by indexing an array of positions (so
every NumPy index form works, as reading does). Out-of-bounds positions are dropped from
updates (JAX's default), clamped with mode="clip", or filled for get(mode="fill"). Additive
updates are one scatter_add; the others are applied one duplicate layer at a time when the
index is static, and one update at a time (a scan) when it is traced. Everything is
differentiable and batches under vmap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as _np

from ..ir import DType
from ..ir import primitives as P
from ..tracer.core import Tracer, bind
from . import creation, elementwise, shapes
from ._core import shape
from .indexing import expand_index, expand_masks, getitem


def _is_traced(x: Any) -> bool:
    return isinstance(x, Tracer)


def _normalized(i: Any, n: int, clip: bool) -> Any:
    """An integer index (array) into the padded axis: in range -> i + 1, out of range -> the
    pad (0 or n + 1) when dropping, the nearest end when clipping."""
    low, high = (0, n - 1) if clip else (-1, n)
    if _is_traced(i):
        if i.aval.dtype.is_float or i.aval.dtype is DType.bool:
            raise IndexError(f"at[]: index arrays must be integers, got {i.aval}")
        i = creation.astype(i, _np.int64)
        i = elementwise.where(elementwise.less(i, 0), i + n, i)
        return elementwise.clip(i, low, high) + 1
    i = _np.asarray(i)
    if i.dtype.kind not in "iu":
        raise IndexError(f"at[]: indices must be integers, slices, None or ..., got {i.dtype}")
    i = i.astype(_np.int64)
    return _np.clip(_np.where(i < 0, i + n, i), low, high) + 1


def _shifted_slice(s: slice, n: int) -> slice:
    """s on the padded axis (a stop of -1, before the first element, becomes the pad's 0)."""
    start, stop, step = s.indices(n)
    return slice(start + 1, stop + 1, step)


def _positions(x: Any, index: Any, clip: bool) -> Any:
    """The flat position in x of every element `x[index]` selects; -1 where out of bounds."""
    dims = shape(x)
    items = []
    for k in expand_index(expand_masks(index), len(dims)):
        if _is_traced(k) and k.aval.dtype is DType.bool:
            raise IndexError("at[]: a traced boolean mask selects a data-dependent number of "
                             "elements; use dualjit.numpy.where instead")
        else:
            items.append(k)
    padded = _np.full(tuple(d + 2 for d in dims), -1, _np.int64)
    padded[tuple(slice(1, d + 1) for d in dims)] = _np.arange(
        int(_np.prod(dims, dtype=_np.int64))).reshape(dims)
    key, axis = [], 0
    for k in items:
        if k is None:
            key.append(None)
            continue
        n = dims[axis]
        key.append(_shifted_slice(k, n) if isinstance(k, slice) else _normalized(k, n, clip))
        axis += 1
    if not any(_is_traced(k) for k in key):
        return padded[tuple(key)]
    return getitem(padded, tuple(key))


# ---------------------------------------------------------------------------------------------
# Applying updates
# ---------------------------------------------------------------------------------------------

def _layers(positions: _np.ndarray) -> list[_np.ndarray]:
    """The update numbers grouped so that no group repeats a position (k-th occurrences)."""
    order = _np.argsort(positions, kind="stable")
    ranked = positions[order]
    starts = _np.r_[True, ranked[1:] != ranked[:-1]] if len(ranked) else _np.zeros(0, bool)
    run_start = _np.maximum.accumulate(_np.where(starts, _np.arange(len(ranked)), 0))
    rank = _np.empty(len(ranked), _np.int64)
    rank[order] = _np.arange(len(ranked)) - run_start
    return [_np.nonzero(rank == r)[0] for r in range(int(rank.max()) + 1 if len(rank) else 0)]


def _static_update(flat: Any, positions: _np.ndarray, values: Any, op: Callable) -> Any:
    valid = positions >= 0
    positions, values = positions[valid], getitem(values, valid) if not valid.all() else values
    for layer in _layers(positions):
        where_, new = positions[layer], getitem(values, layer)
        old = bind(P.gather_p, flat, where_, axis=0)
        placed = bind(P.scatter_add_p, creation.zeros_like(flat), where_, op(old, new), axis=0)
        written = _np.zeros(shape(flat), bool)
        written[where_] = True
        flat = elementwise.where(written, placed, flat)
    return flat


def _traced_update(flat: Any, positions: Any, values: Any, op: Callable) -> Any:
    from ..lax import scan

    def step(x, update):
        position, value = update
        valid = elementwise.greater_equal(position, 0)
        at = elementwise.maximum(position, 0)
        old = bind(P.dynamic_slice_p, x, at, slice_sizes=(1,))
        new = elementwise.where(valid, op(old, shapes.reshape(value, (1,))), old)
        return bind(P.dynamic_update_slice_p, x, new, at), None

    return scan(step, flat, (positions, values))[0]


def _update(x: Any, index: Any, values: Any, op: Callable | None, mode: str | None) -> Any:
    x = creation.asarray(x)
    if mode not in (None, "drop", "clip", "promise_in_bounds"):
        raise ValueError(f"at[]: mode must be 'drop', 'clip' or 'promise_in_bounds', got "
                         f"{mode!r}")
    positions = _positions(x, index, clip=mode in ("clip", "promise_in_bounds"))
    dtype = creation.asarray(x).dtype if not _is_traced(x) else x.dtype
    values = shapes.broadcast_to(creation.astype(values, dtype), shape(positions))
    flat = shapes.reshape(x, (int(_np.prod(shape(x), dtype=_np.int64)),))
    positions, values = shapes.ravel(positions), shapes.ravel(values)
    if op is None:  # an additive update: one scatter_add, duplicates accumulate
        valid = elementwise.greater_equal(positions, 0)
        target = elementwise.maximum(positions, 0)
        zero = elementwise.where(valid, values, creation.zeros_like(values))
        flat = bind(P.scatter_add_p, flat, target, zero, axis=0)
    elif _is_traced(positions):
        flat = _traced_update(flat, positions, values, op)
    else:
        flat = _static_update(flat, positions, values, op)
    return shapes.reshape(flat, shape(x))


def _fill_value(dtype: _np.dtype) -> Any:
    if dtype.kind == "f":
        return _np.nan
    if dtype.kind == "b":
        return True
    return _np.iinfo(dtype).min if dtype.kind == "i" else _np.iinfo(dtype).max


class _IndexedRef:
    """x.at[index]: the functional updates of the elements x[index] selects."""

    def __init__(self, x: Any, index: Any):
        self.x, self.index = x, index

    def get(self, mode: str | None = None, fill_value: Any = None) -> Any:
        if mode != "fill":
            return getitem(self.x, self.index)
        x = creation.asarray(self.x)
        positions = _positions(x, self.index, clip=False)
        flat = shapes.ravel(x)
        picked = bind(P.gather_p, flat, elementwise.maximum(positions, 0), axis=0)
        dtype = _np.dtype(x.dtype)
        fill = creation.astype(_fill_value(dtype) if fill_value is None else fill_value, dtype)
        return elementwise.where(elementwise.greater_equal(positions, 0), picked, fill)

    def set(self, values: Any, mode: str | None = None) -> Any:
        return _update(self.x, self.index, values, lambda old, new: new, mode)

    def add(self, values: Any, mode: str | None = None) -> Any:
        return _update(self.x, self.index, values, None, mode)

    def subtract(self, values: Any, mode: str | None = None) -> Any:
        return _update(self.x, self.index, elementwise.negative(values), None, mode)

    def multiply(self, values: Any, mode: str | None = None) -> Any:
        return _update(self.x, self.index, values, elementwise.multiply, mode)

    mul = multiply

    def divide(self, values: Any, mode: str | None = None) -> Any:
        return _update(self.x, self.index, values, elementwise.divide, mode)

    def power(self, values: Any, mode: str | None = None) -> Any:
        return _update(self.x, self.index, values, elementwise.power, mode)

    def min(self, values: Any, mode: str | None = None) -> Any:  # noqa: A003
        return _update(self.x, self.index, values, elementwise.minimum, mode)

    def max(self, values: Any, mode: str | None = None) -> Any:  # noqa: A003
        return _update(self.x, self.index, values, elementwise.maximum, mode)

    def apply(self, func: Callable, mode: str | None = None) -> Any:
        return _update(self.x, self.index, 0, lambda old, _: func(old), mode)


class _IndexUpdateHelper:
    __slots__ = ("x",)

    def __init__(self, x: Any):
        self.x = x

    def __getitem__(self, index: Any) -> _IndexedRef:
        return _IndexedRef(self.x, index)

    def __repr__(self) -> str:
        return f"_IndexUpdateHelper({self.x!r})"


def at(x: Any) -> _IndexUpdateHelper:
    """dualjit.numpy.at(x)[index].set(v): x.at[...] for NumPy arrays too (tracers have .at)."""
    return _IndexUpdateHelper(x)


Tracer.at = property(at)  # type: ignore[attr-defined]

__all__ = ["at"]
