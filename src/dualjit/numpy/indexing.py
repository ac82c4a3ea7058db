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
    refuse_out,
    result_type,
    shape,
    slice_axis,
    static_int,
)
from .elementwise import (
    add,
    floor_divide,
    less,
    maximum,
    minimum,
    multiply,
    not_equal,
    remainder,
    subtract,
    where,
)
from .shapes import expand_dims, ravel, reshape, squeeze, transpose

__all__ = ["take", "getitem", "take_along_axis", "put_along_axis", "put", "place", "fill_diagonal",
           "choose", "select", "diagonal", "diag", "diagflat", "trace", "tril", "triu",
           "tril_indices", "triu_indices", "tril_indices_from", "triu_indices_from",
           "diag_indices", "diag_indices_from", "mask_indices", "indices", "ix_",
           "ravel_multi_index", "unravel_index"]

def take(a: Any, indices: Any, axis: int | None = None, out: Any = None,
         mode: str | None = None) -> Any:
    """Gather along one axis (the flattened array when None).

    mode "raise" (default): static indices out of range raise IndexError; traced indices are
    clamped (their values are unknown). "clip" clamps, "wrap" wraps around. Negative indices
    count from the end.
    """
    refuse_out("take", out)
    a = operand(a, "take")
    if type(a) in PY_SCALARS:
        a = _np.asarray(a)
    if axis is None:
        a, axis = ravel(a), 0
    ax = normalize_axes("take", axis, ndim(a))[0]
    n = shape(a)[ax]
    idx = _index_array(indices, n, "take", mode or "raise")
    return bind(P.gather_p, a, idx, axis=ax)


def _index_array(indices: Any, n: int, op: str, mode: str = "raise") -> Any:
    """Integer indices in [0, n) for gather (negative ones count from the end)."""
    if mode not in ("raise", "clip", "wrap", "fill", "promise_in_bounds"):
        raise ValueError(f"{op}: mode must be 'raise', 'clip' or 'wrap', got {mode!r}")
    indices = operand(indices, op)
    if isinstance(indices, Tracer):
        if not indices.aval.dtype.is_int:
            raise IndexError(f"{op}: index arrays must be integers, got {indices.dtype}")
        indices = _int64_index(indices)
        if mode == "wrap" and n:
            return remainder(indices, n)
        if mode == "clip":
            return indices
        return where(less(indices, 0), indices + n, indices)
    idx = _np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise IndexError(f"{op}: index arrays must be integers, got {idx.dtype}")
    if mode == "wrap" and n:
        return _np.mod(idx, n).astype(_np.int64)
    if mode == "clip":
        return _np.clip(idx, 0, builtins.max(n - 1, 0)).astype(_np.int64)
    if idx.size and (idx.max() >= n or idx.min() < -n):
        bad = idx.max() if idx.max() >= n else idx.min()
        raise IndexError(f"{op}: index {bad} is out of bounds for axis with size {n}")
    return _np.where(idx < 0, idx + n, idx).astype(_np.int64)


def expand_index(key: Any, nd: int) -> list[Any]:
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


def _is_mask(k: Any) -> bool:
    if isinstance(k, Tracer):
        return k.aval.dtype is DType.bool
    return isinstance(k, (list, _np.ndarray)) and _np.asarray(k).dtype == bool


def _mask_value(k: Any) -> _np.ndarray:
    """A boolean mask's value: a traced mask is usable only while its value is known (eager
    grad/jvp trace concretely, as JAX's do); under jit the result's shape would depend on it."""
    if not isinstance(k, Tracer):
        return _np.asarray(k)
    if k.ndim == 0:
        raise IndexError(f"a 0-d traced boolean index ({k.aval}) is not supported: use "
                         "dualjit.numpy.where or lax.cond")
    if k.value is None:
        raise IndexError(
            f"boolean mask indexing with a traced mask ({k.aval}) under jit: the result's "
            "shape would depend on the mask's values. Use dualjit.numpy.where(mask, x, 0) "
            "(same shape), or dualjit.numpy.nonzero(mask, size=n) / extract(mask, x, size=n) "
            "with a static n, or compute the mask outside jit and pass it as a numpy array")
    return _np.asarray(k.value)


def _is_advanced(k: Any) -> bool:
    return isinstance(k, (Tracer, _np.ndarray, list)) and not (
        isinstance(k, _np.ndarray) and k.ndim == 0)


def expand_masks(key: Any) -> tuple:
    """key with each n-d boolean mask replaced by its n integer index arrays (before counting
    axes: a mask consumes as many axes as it has); a traced mask needs a known value."""
    items = []
    for k in (key if isinstance(key, tuple) else (key,)):
        if _is_mask(k) and (_np.ndim(k) > 0 or isinstance(k, Tracer)):
            items.extend(_np.nonzero(_mask_value(k)))
        else:
            items.append(k)
    return tuple(items)


def getitem(a: Any, key: Any) -> Any:
    a = operand(a, "getitem")
    if type(a) in PY_SCALARS:
        a = _np.asarray(a)
    items = expand_index(expand_masks(key), ndim(a))
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
    # traced indices cannot be checked: clamp each to its own axis (as JAX), never letting an
    # out-of-range index reach the next row of the linearized array
    indices = [minimum(maximum(i, 0), builtins.max(n - 1, 0)) if isinstance(i, Tracer) else i
               for i, n in zip(indices, sizes)]
    linear = indices[0]
    for i, n in zip(indices[1:], sizes[1:]):
        linear = add(multiply(linear, n), i)
    return bind(P.gather_p, a, convert(linear, _np.dtype(_np.int64)), axis=position)



# ---------------------------------------------------------------------------------------------
# Gathers and writes along an axis; functional versions of NumPy's in-place setters
# ---------------------------------------------------------------------------------------------

def _flat_positions(arr_shape: tuple[int, ...], index: Any, axis: int) -> Any:
    """Flat positions in an array of arr_shape of arr[..., index[..., i, ...], ...] (index
    has arr's shape except along axis)."""
    strides = [math.prod(arr_shape[d + 1:]) for d in range(len(arr_shape))]
    flat = multiply(convert(index, _np.dtype(_np.int64)), strides[axis])
    index_shape = tuple(shape(index))
    for d, size in enumerate(index_shape):
        if d != axis and size > 1:
            ramp = bind(P.iota_p, dtype=DType.int64, shape=index_shape, dimension=d)
            flat = add(flat, multiply(ramp, strides[d]))
    return flat


def _along_axis_operands(op: str, arr: Any, indices: Any, axis: Any) -> tuple:
    arr = operand(arr, op)
    if axis is None:
        arr, axis = ravel(arr), 0
        indices = ravel(operand(indices, op))
    nd = ndim(arr)
    if ndim(indices) != nd:
        raise ValueError(f"{op}: indices must have as many dimensions as arr ({nd}), got "
                         f"shape {shape(indices)}")
    (ax,) = normalize_axes(op, axis, nd)
    n = shape(arr)[ax]
    idx = _index_array(indices, n, op, "clip" if isinstance(indices, Tracer) else "raise")
    out_shape = list(joint_shape(op, *[tuple(d for i, d in enumerate(s) if i != ax)
                                       for s in (shape(arr), shape(idx))]))
    out_shape.insert(ax, shape(idx)[ax])
    arr_shape = list(out_shape)
    arr_shape[ax] = n
    return broadcast_to(arr, arr_shape), broadcast_to(idx, out_shape), ax


def take_along_axis(arr: Any, indices: Any, axis: int | None, mode: str | None = None,
                    fill_value: Any = None) -> Any:
    """out[..., i, ...] = arr[..., indices[..., i, ...], ...] (indices broadcast against arr
    off the axis; traced out-of-range indices are clamped)."""
    arr, idx, ax = _along_axis_operands("take_along_axis", arr, indices, axis)
    flat = _flat_positions(shape(arr), idx, ax)
    return bind(P.gather_p, ravel(arr), flat, axis=0)


def _last_writers(flat: Any) -> Any:
    """True at the last occurrence of each position in the 1-D int array (later writes win)."""
    from .sorting import argsort

    n = shape(flat)[0]
    if n <= 1:
        return broadcast_to(_np.True_, (n,))
    order = argsort(flat, stable=True)
    ordered = bind(P.gather_p, flat, order, axis=0)
    last = not_equal(slice_axis(ordered, 0, 0, n - 1), slice_axis(ordered, 0, 1, n))
    last = bind(P.concatenate_p, last, _np.ones(1, bool), dimension=0)
    zeros = broadcast_to(_np.int64(0), (n,))
    winners = bind(P.scatter_add_p, zeros, order, convert(last, _np.dtype(_np.int64)), axis=0)
    return not_equal(winners, 0)


def scatter_set(flat_arr: Any, flat: Any, values: Any) -> Any:
    """flat_arr with flat_arr[flat] = values (1-D; repeated positions: the last write wins)."""
    values = convert(values, result_type(flat_arr))
    wins = _last_writers(flat)
    current = bind(P.gather_p, flat_arr, flat, axis=0)
    change = where(wins, subtract(values, current), _np.asarray(0, result_type(flat_arr))[()])
    return bind(P.scatter_add_p, flat_arr, flat, change, axis=0)


def put_along_axis(arr: Any, indices: Any, values: Any, axis: int | None,
                   inplace: bool = False, *, mode: str | None = None) -> Any:
    """A copy of arr with arr[..., indices[..., i, ...], ...] = values (needs inplace=False)."""
    _refuse_inplace("put_along_axis", inplace)
    arr = operand(arr, "put_along_axis")
    full, idx, ax = _along_axis_operands("put_along_axis", arr, indices, axis)
    if shape(full) != shape(arr):
        raise ValueError(f"put_along_axis: indices of shape {shape(indices)} do not fit arr "
                         f"of shape {shape(arr)}")
    flat = ravel(_flat_positions(shape(full), idx, ax))
    vals = ravel(broadcast_to(operand(values, "put_along_axis"), shape(idx)))
    return reshape(scatter_set(ravel(arr), flat, vals), shape(arr))


def _refuse_inplace(op: str, inplace: bool) -> None:
    if inplace:
        raise ValueError(f"{op}: dualjit arrays are immutable, so in-place updates are not "
                         f"possible; call {op}(..., inplace=False) and use the returned array")


def put(a: Any, ind: Any, v: Any, mode: str | None = None, *, inplace: bool = False) -> Any:
    """A copy of a with a.flat[ind] = v (v repeated as needed; needs inplace=False)."""
    _refuse_inplace("put", inplace)
    a = operand(a, "put")
    flat_a = ravel(a)
    n = shape(flat_a)[0]
    idx = ravel(_index_array(ind, n, "put", mode or "raise"))
    vals = ravel(operand(v, "put"))
    k, m = shape(idx)[0], shape(vals)[0]
    if m == 0 or k == 0:
        return a
    vals = bind(P.gather_p, vals, _np.arange(k) % m, axis=0) if m != k else vals
    return reshape(scatter_set(flat_a, idx, vals), shape(a))


def place(arr: Any, mask: Any, vals: Any, *, inplace: bool = False) -> Any:
    """A copy of arr where the k-th masked element becomes vals[k % len(vals)]."""
    _refuse_inplace("place", inplace)
    arr = operand(arr, "place")
    mask = broadcast_to(convert(operand(mask, "place"), _np.dtype(bool)), shape(arr))
    vals = ravel(convert(operand(vals, "place"), result_type(arr)))
    m = shape(vals)[0]
    if m == 0:
        return arr
    rank = subtract(bind(P.cumsum_p, convert(ravel(mask), _np.dtype(_np.int64)), axis=0,
                         reverse=False), 1) if math.prod(shape(arr)) else ravel(mask)
    picked = bind(P.gather_p, vals, remainder(rank, m), axis=0)
    return where(mask, reshape(picked, shape(arr)), arr)


def fill_diagonal(a: Any, val: Any, wrap: bool = False, *, inplace: bool = False) -> Any:
    """A copy of a with its main diagonal set to val (repeated along it; needs inplace=False)."""
    _refuse_inplace("fill_diagonal", inplace)
    a = operand(a, "fill_diagonal")
    shp = shape(a)
    if len(shp) < 2 or (len(shp) > 2 and len(set(shp)) != 1):
        raise ValueError("fill_diagonal: array must be at least 2-d, with all dimensions equal "
                         "beyond two")
    marker = _np.zeros(shp, _np.int64)
    _np.fill_diagonal(marker, 1, wrap=wrap)
    order = _np.cumsum(marker.ravel()).reshape(shp) - 1
    vals = ravel(convert(operand(val, "fill_diagonal"), result_type(a)))
    m = shape(vals)[0]
    picked = bind(P.gather_p, vals, _np.maximum(order, 0) % builtins.max(m, 1), axis=0)
    return where(marker.astype(bool), picked, a) if m else a


def choose(a: Any, choices: Any, out: Any = None, mode: str = "raise") -> Any:
    """choices[a[i]][i] for every i (all broadcast together)."""
    refuse_out("choose", out)
    a = operand(a, "choose")
    choices = [operand(c, "choose") for c in (list(choices) if isinstance(choices, (
        list, tuple)) else list(operand(choices, "choose")))]
    n = len(choices)
    out_shape = joint_shape("choose", shape(a), *[shape(c) for c in choices])
    dt = result_type(*choices)
    stacked = bind(P.concatenate_p, *[reshape(broadcast_to(convert(c, dt), out_shape),
                                              (1,) + out_shape) for c in choices],
                   dimension=0) if n > 1 else reshape(broadcast_to(convert(choices[0], dt),
                                                                   out_shape), (1,) + out_shape)
    idx = broadcast_to(_index_array(a, n, "choose", mode), out_shape)
    flat = _flat_positions((n,) + out_shape, reshape(idx, (1,) + out_shape), 0)
    flat = reshape(flat, out_shape)
    return reshape(bind(P.gather_p, ravel(stacked), flat, axis=0), out_shape)


def select(condlist: Any, choicelist: Any, default: Any = 0) -> Any:
    """The choice of the first true condition, else default (elementwise)."""
    if len(condlist) != len(choicelist):
        raise ValueError("select: list of cases must be same length as list of conditions")
    if not condlist:
        raise ValueError("select: select with an empty condition list is not possible")
    result = default
    dt = result_type(*[operand(c, "select") for c in choicelist], default)
    result = convert(operand(default, "select"), dt)
    for cond, choice in reversed(list(zip(condlist, choicelist))):
        cond = operand(cond, "select")
        if result_type(cond).kind != "b":
            raise TypeError(f"select: conditions must be bool arrays, got {result_type(cond)}")
        result = where(cond, convert(operand(choice, "select"), dt), result)
    return result


# ---------------------------------------------------------------------------------------------
# Diagonals and triangles
# ---------------------------------------------------------------------------------------------

def diagonal(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """The diagonal of the (axis1, axis2) planes, as the last axis (a gather)."""
    a = operand(a, "diagonal")
    nd = ndim(a)
    if nd < 2:
        raise ValueError("diagonal requires an array of at least two dimensions")
    a1, a2 = normalize_axes("diagonal", axis1, nd)[0], normalize_axes("diagonal", axis2, nd)[0]
    if a1 == a2:
        raise ValueError("diagonal: axis1 and axis2 cannot be the same")
    offset = static_int(offset, "offset", "diagonal")
    rest = [d for d in range(nd) if d not in (a1, a2)]
    moved = transpose(a, rest + [a1, a2])
    n, m = shape(moved)[-2:]
    rows = _np.arange(builtins.max(0, -offset), n)
    rows = rows[rows + offset < m]
    flat = reshape(moved, tuple(shape(moved)[:-2]) + (n * m,))
    return bind(P.gather_p, flat, (rows * m + rows + offset).astype(_np.int64), axis=len(rest))


def diag(v: Any, k: int = 0) -> Any:
    """The k-th diagonal of a 2-D array, or a 2-D array with v on its k-th diagonal."""
    v = operand(v, "diag")
    k = static_int(k, "k", "diag")
    if ndim(v) == 2:
        return diagonal(v, k)
    if ndim(v) != 1:
        raise ValueError("diag: input must be 1- or 2-d")
    n = shape(v)[0]
    size = n + builtins.abs(k)
    marker = _np.eye(size, k=k, dtype=bool)
    source = _np.cumsum(marker.ravel()).reshape(size, size) - 1
    picked = bind(P.gather_p, v, _np.maximum(source, 0).astype(_np.int64), axis=0) if n else \
        broadcast_to(_np.zeros((), result_type(v)), (size, size))
    return where(marker, picked, _np.asarray(0, result_type(v))[()])


def diagflat(v: Any, k: int = 0) -> Any:
    return diag(ravel(operand(v, "diagflat")), k)


def trace(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None,
          out: Any = None) -> Any:
    from .reductions import sum

    refuse_out("trace", out)
    return sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


def _triangle(op: str, m: Any, k: int, lower: bool) -> Any:
    m = operand(m, op)
    k = static_int(k, "k", op)
    if ndim(m) == 0:
        raise ValueError(f"{op}: input must be at least 1-d")
    if ndim(m) == 1:  # NumPy broadcasts a vector to the square of its rows
        m = broadcast_to(m, (shape(m)[0],) * 2)
    n, c = shape(m)[-2:]
    keep = _np.tri(n, c, k, dtype=bool) if lower else ~_np.tri(n, c, k - 1, dtype=bool)
    return where(keep, m, _np.asarray(0, result_type(m))[()])


def tril(m: Any, k: int = 0) -> Any:
    """The lower triangle (elements on and below the k-th diagonal); the rest is zero."""
    return _triangle("tril", m, k, True)


def triu(m: Any, k: int = 0) -> Any:
    """The upper triangle (elements on and above the k-th diagonal); the rest is zero."""
    return _triangle("triu", m, k, False)


def tril_indices(n: int, k: int = 0, m: int | None = None) -> tuple[Any, Any]:
    return tuple(_np.asarray(i, _np.int64) for i in _np.tril_indices(
        static_int(n, "n", "tril_indices"), k, m))


def triu_indices(n: int, k: int = 0, m: int | None = None) -> tuple[Any, Any]:
    return tuple(_np.asarray(i, _np.int64) for i in _np.triu_indices(
        static_int(n, "n", "triu_indices"), k, m))


def tril_indices_from(arr: Any, k: int = 0) -> tuple[Any, Any]:
    n, m = _square_shape("tril_indices_from", arr)
    return tril_indices(n, k, m)


def triu_indices_from(arr: Any, k: int = 0) -> tuple[Any, Any]:
    n, m = _square_shape("triu_indices_from", arr)
    return triu_indices(n, k, m)


def _square_shape(op: str, arr: Any) -> tuple[int, int]:
    s = shape(operand(arr, op))
    if len(s) != 2:
        raise ValueError(f"{op}: input array must be 2-d")
    return s


def diag_indices(n: int, ndim: int = 2) -> tuple[Any, ...]:
    idx = _np.arange(static_int(n, "n", "diag_indices"), dtype=_np.int64)
    return (idx,) * ndim


def diag_indices_from(arr: Any) -> tuple[Any, ...]:
    s = shape(operand(arr, "diag_indices_from"))
    if len(s) < 2 or len(set(s)) != 1:
        raise ValueError("diag_indices_from: input must be at least 2-d with equal dimensions")
    return diag_indices(s[0], len(s))


def mask_indices(n: int, mask_func: Any, k: int = 0) -> tuple[Any, Any]:
    """Indices where mask_func(ones((n, n)), k) is nonzero (mask_func like tril or triu)."""
    mask = _np.asarray(mask_func(_np.ones((n, n), _np.int64), k))
    return tuple(i.astype(_np.int64) for i in _np.nonzero(mask))


# ---------------------------------------------------------------------------------------------
# Index arithmetic
# ---------------------------------------------------------------------------------------------

def indices(dimensions: Any, dtype: Any = int, sparse: bool = False) -> Any:
    """A grid of indices (static dimensions), as NumPy."""
    dims = tuple(static_int(d, "dimensions", "indices") for d in dimensions)
    from ..ir import as_dtype

    out = _np.indices(dims, dtype=as_dtype(dtype).np, sparse=sparse)
    return tuple(out) if sparse else out


def ix_(*args: Any) -> tuple[Any, ...]:
    """Open mesh from 1-D sequences (boolean ones become their nonzero indices)."""
    out = []
    nd = len(args)
    for k, a in enumerate(args):
        a = operand(a, "ix_")
        if ndim(a) != 1:
            raise ValueError("ix_: cross index must be 1 dimensional")
        if not isinstance(a, Tracer) and _np.asarray(a).dtype == bool:
            a = _np.nonzero(a)[0]
        out.append(reshape(a, (1,) * k + (-1,) + (1,) * (nd - k - 1)))
    return tuple(out)


def ravel_multi_index(multi_index: Any, dims: Any, mode: str = "raise",
                      order: str = "C") -> Any:
    """Flat indices of coordinate arrays into an array of shape dims."""
    dims = tuple(static_int(d, "dims", "ravel_multi_index") for d in dims)
    coords = [operand(c, "ravel_multi_index") for c in multi_index]
    if len(coords) != len(dims):
        raise ValueError(f"ravel_multi_index: {len(coords)} coordinate arrays for "
                         f"{len(dims)} dimensions")
    if order not in ("C", "F"):
        raise ValueError("ravel_multi_index: order must be 'C' or 'F'")
    modes = [mode] * len(dims) if isinstance(mode, str) else list(mode)
    fixed = [_multi_index_coord(c, n, m) for c, n, m in zip(coords, dims, modes)]
    axes = range(len(dims)) if order == "C" else range(len(dims) - 1, -1, -1)
    flat = None
    for d in axes:
        flat = fixed[d] if flat is None else add(multiply(flat, dims[d]), fixed[d])
    return flat


def _multi_index_coord(c: Any, n: int, mode: str) -> Any:
    if result_type(c).kind not in "iu":
        raise TypeError("ravel_multi_index: only int indices permitted")
    if mode == "wrap":
        return remainder(c, n)
    if mode == "clip" or isinstance(c, Tracer):
        from .elementwise import clip

        return clip(c, 0, n - 1)
    values = _np.asarray(c)
    if values.size and (values.min() < 0 or values.max() >= n):
        raise ValueError("ravel_multi_index: invalid entry in coordinates array")
    return c


def unravel_index(indices: Any, shape: Any) -> tuple[Any, ...]:
    """Coordinate arrays of flat indices into an array of `shape` (negative ones wrap once)."""
    dims = tuple(static_int(d, "shape", "unravel_index") for d in (
        (shape,) if isinstance(shape, (int, _np.integer)) else shape))
    idx = operand(indices, "unravel_index")
    total = math.prod(dims)
    if not isinstance(idx, Tracer):
        values = _np.asarray(idx)
        if values.size and (values.max() >= total or values.min() < -total):
            raise ValueError(f"unravel_index: index out of bounds for array of size {total}")
    idx = where(less(idx, 0), add(idx, total), idx)
    coords, rest = [], idx
    for d in reversed(dims):
        coords.append(remainder(rest, d) if d else rest)
        rest = floor_divide(rest, d) if d else rest
    return tuple(reversed(coords))



