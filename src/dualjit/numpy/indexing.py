"""Indexing in dualjit.numpy: take and NumPy's basic and advanced indexing (x[...])."""

from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as _np

from ..ir import DType
from ..ir import primitives as P
from ..tracer.core import Tracer, bind
from ._core import (
    PY_SCALARS,
    broadcast_to,
    convert,
    joint_shape,
    ndim,
    normalize_axes,
    operand,
    shape,
    slice_axis,
)
from .elementwise import add, less, minimum, multiply, where
from .shapes import expand_dims, ravel, reshape, squeeze, transpose

__all__ = ["take", "getitem"]

def take(a: Any, indices: Any, axis: int | None = None) -> Any:
    """Gather along one axis; negative indices count from the end, others are clamped."""
    a = operand(a, "take")
    if axis is None:
        a, axis = ravel(a), 0
    ax = normalize_axes("take", axis, ndim(a))[0]
    idx = _index_array(indices, shape(a)[ax], "take")
    return bind(P.gather_p, a, idx, axis=ax)


def _index_array(indices: Any, n: int, op: str) -> Any:
    if isinstance(indices, Tracer):
        if not indices.aval.dtype.is_int:
            raise IndexError(f"{op}: index arrays must be integers, got {indices.dtype}")
        indices = _int64_index(indices)
        return where(less(indices, 0), indices + n, indices)
    idx = _np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise IndexError(f"{op}: index arrays must be integers, got {idx.dtype}")
    if idx.size and (idx.max() >= n or idx.min() < -n):
        bad = idx.max() if idx.max() >= n else idx.min()
        raise IndexError(f"{op}: index {bad} is out of bounds for axis with size {n}")
    return _np.where(idx < 0, idx + n, idx).astype(_np.int64)


def _expand_index(key: Any, nd: int) -> list[Any]:
    if not isinstance(key, tuple):
        key = (key,)
    n_ellipsis = builtins.sum(1 for k in key if k is Ellipsis)
    if n_ellipsis > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    consumed = builtins.sum(1 for k in key if k is not None and k is not Ellipsis)
    if consumed > nd:
        raise IndexError(f"too many indices for array: array is {nd}-dimensional, but "
                         f"{consumed} were indexed")
    out = []
    for k in key:
        if k is Ellipsis:
            out.extend([slice(None)] * (nd - consumed))
        else:
            out.append(k)
    if n_ellipsis == 0:
        out.extend([slice(None)] * (nd - consumed))
    return out


def _is_advanced(k: Any) -> bool:
    return isinstance(k, (Tracer, _np.ndarray, list)) and not (
        isinstance(k, _np.ndarray) and k.ndim == 0)


def _expand_masks(key: Any) -> tuple:
    """key with each n-d boolean NumPy mask replaced by its n integer index arrays (before
    counting axes: a mask consumes as many axes as it has)."""
    items = []
    for k in (key if isinstance(key, tuple) else (key,)):
        if isinstance(k, (list, _np.ndarray)) and _np.asarray(k).dtype == bool \
                and _np.ndim(k) > 0:
            items.extend(_np.nonzero(_np.asarray(k)))
        else:
            items.append(k)
    return tuple(items)


def getitem(a: Any, key: Any) -> Any:
    a = operand(a, "getitem")
    if type(a) in PY_SCALARS:
        a = _np.asarray(a)
    items = _expand_index(_expand_masks(key), ndim(a))
    # Boolean numpy masks become integer index arrays (their shape is static).
    expanded = []
    for k in items:
        if isinstance(k, (list, _np.ndarray)) and _np.asarray(k).dtype == bool:
            expanded.extend(_np.nonzero(_np.asarray(k)))
        elif isinstance(k, Tracer) and k.aval.dtype is DType.bool:
            raise IndexError("boolean mask indexing with a traced mask has a data-dependent "
                             "shape; use dualjit.numpy.where instead")
        else:
            expanded.append(k)
    items = expanded
    advanced = builtins.any(_is_advanced(k) for k in items)
    out = a
    axis = 0
    new_axes = []  # positions of None in the result of basic indexing
    adv_axes, adv_indices = [], []
    result_axis = 0
    for k in items:
        if k is None:
            new_axes.append(result_axis)
            result_axis += 1
            continue
        n = shape(out)[axis]
        if isinstance(k, slice):
            start, stop, step = k.indices(n)
            if step > 0:
                out = slice_axis(out, axis, start, builtins.max(start, stop), step)
            else:
                idx = _np.arange(start, stop, step)
                out = bind(P.gather_p, out, idx.astype(_np.int64), axis=axis)
            axis += 1
            result_axis += 1
        elif advanced and (_is_advanced(k) or isinstance(k, (int, _np.integer, Tracer))):
            adv_axes.append(axis)
            adv_indices.append(_index_array(k if not isinstance(k, list) else _np.asarray(k),
                                            n, "getitem"))
            axis += 1
            result_axis += 1
        elif isinstance(k, (int, _np.integer)) or (isinstance(k, _np.ndarray) and k.ndim == 0):
            i = int(k)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for axis {axis} with size {n}")
            out = squeeze(slice_axis(out, axis, i % n, i % n + 1), axis)
        elif isinstance(k, Tracer):
            if k.shape != () or not k.aval.dtype.is_int:
                raise IndexError(f"getitem: traced index must be an integer scalar, got {k.aval}")
            out = _dynamic_index(out, axis, k)
        else:
            raise IndexError(f"getitem: unsupported index {k!r} of type {type(k).__name__}")
    if adv_axes:
        out = _advanced_gather(out, adv_axes, adv_indices)
    for p in new_axes:
        out = expand_dims(out, builtins.min(p, ndim(out)))
    return out


def _int64_index(i: Tracer) -> Any:
    """A traced integer index as int64; uint64 values beyond int64 saturate (indices clamp)."""
    if i.aval.dtype is DType.uint64:
        i = minimum(i, _np.uint64(2**63 - 1))
    return convert(i, _np.dtype(_np.int64))


def _dynamic_index(a: Any, axis: int, i: Any) -> Any:
    n = shape(a)[axis]
    i = _int64_index(i)
    i = where(less(i, 0), i + n, i)
    starts = [_np.int64(0)] * ndim(a)
    starts[axis] = i
    sizes = list(shape(a))
    sizes[axis] = 1
    out = bind(P.dynamic_slice_p, a, *starts, slice_sizes=tuple(sizes))
    return squeeze(out, axis)


def _advanced_gather(a: Any, axes: list[int], indices: list[Any]) -> Any:
    """NumPy advanced indexing on `axes` by broadcasting index arrays, via one gather."""
    idx_shape = joint_shape("getitem", *[shape(i) for i in indices])
    indices = [broadcast_to(i, idx_shape) if shape(i) != idx_shape else i for i in indices]
    adjacent = axes == list(range(axes[0], axes[0] + len(axes)))
    rest = [d for d in range(ndim(a)) if d not in axes]
    position = axes[0] if adjacent else 0
    perm = rest[:position] + axes + rest[position:]
    a = transpose(a, perm)
    sizes = [shape(a)[position + k] for k in range(len(axes))]
    flat = list(shape(a)[:position]) + [math.prod(sizes)] + list(shape(a)[position + len(axes):])
    a = reshape(a, flat)
    linear = indices[0]
    for i, n in zip(indices[1:], sizes[1:]):
        linear = add(multiply(linear, n), i)
    return bind(P.gather_p, a, convert(linear, _np.dtype(_np.int64)), axis=position)

