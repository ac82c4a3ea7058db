"""Sorting, searching and counting in dualjit.numpy: sort, argsort, searchsorted, nonzero,
unique and the set operations.

Outputs whose size depends on the data (nonzero, unique, set operations) take a static
`size=` (and `fill_value=`) as in JAX; without it they need concrete values (eager, or grad
outside jit) and raise a ConcretizationError under jit.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as _np

from ..ir import DType
from ..ir import primitives as P
from ..tracer.core import ConcretizationError, Tracer, bind
from ._core import (
    PY_SCALARS,
    broadcast_to,
    convert,
    normalize_axes,
    operand,
    result_type,
    slice_axis,
    static_int,
    unify,
)
from .elementwise import (
    equal,
    isnan,
    less,
    logical_and,
    logical_not,
    logical_or,
    minimum,
    not_equal,
    subtract,
    where,
)
from .indexing import take
from .reductions import sum
from .shapes import concatenate, flip, moveaxis, ravel, reshape, stack

__all__ = ["sort", "argsort", "lexsort", "partition", "argpartition", "searchsorted", "digitize",
           "nonzero", "argwhere", "flatnonzero", "extract", "compress", "unique", "unique_values",
           "unique_counts", "unique_inverse", "unique_all", "isin", "union1d", "setdiff1d",
           "setxor1d", "intersect1d"]


def _ramp(shape: tuple[int, ...], axis: int) -> Any:
    return bind(P.iota_p, dtype=DType.int64, shape=tuple(shape), dimension=axis)


def _along_axis(op: str, a: Any, axis: Any) -> tuple[Any, int]:
    a = operand(a, op)
    if type(a) in PY_SCALARS:
        a = _np.asarray(a)
    if axis is None:
        return ravel(a), 0
    if _np.ndim(a) == 0:
        raise ValueError(f"{op}: axis {axis} is out of bounds for a 0-d array")
    return a, normalize_axes(op, axis, _np.ndim(a))[0]


def _sorted(operands: list[Any], axis: int, num_keys: int, descending: bool) -> list[Any]:
    if _np.shape(operands[0])[axis] <= 1:
        return operands
    if descending:  # reversed, sorted stably, reversed back: ties keep their order
        operands = [flip(o, axis) for o in operands]
    outs = bind(P.sort_p, *operands, axis=axis, num_keys=num_keys)
    return [flip(o, axis) for o in outs] if descending else list(outs)


def sort(a: Any, axis: int | None = -1, kind: Any = None, order: Any = None, *,
         stable: bool = True, descending: bool = False) -> Any:
    """Sorted copy along `axis` (None: flattened); NaNs sort after every number."""
    if order is not None:
        raise TypeError("sort: order= (structured arrays) is not supported")
    a, ax = _along_axis("sort", a, axis)
    return _sorted([a], ax, 1, descending)[0]


def argsort(a: Any, axis: int | None = -1, kind: Any = None, order: Any = None, *,
            stable: bool = True, descending: bool = False) -> Any:
    """Indices that sort `a` along `axis` (stable: ties keep their order; NaNs last)."""
    if order is not None:
        raise TypeError("argsort: order= (structured arrays) is not supported")
    a, ax = _along_axis("argsort", a, axis)
    return _sorted([a, _ramp(_np.shape(a), ax)], ax, 1, descending)[1]


def lexsort(keys: Any, axis: int = -1) -> Any:
    """Indices that sort by several keys, the last key primary (as NumPy)."""
    if isinstance(keys, (list, tuple)):
        keys = [operand(k, "lexsort") for k in keys]
    else:
        keys = list(operand(keys, "lexsort"))
    if not keys:
        raise TypeError("lexsort: needs at least one key")
    shapes = {_np.shape(k) for k in keys}
    if len(shapes) != 1:
        raise ValueError(f"lexsort: all keys need the same shape, got {sorted(shapes)}")
    shape = shapes.pop()
    if not shape:
        return _np.asarray(0, _np.int64)
    (ax,) = normalize_axes("lexsort", axis, len(shape))
    keys = [k if type(k) not in PY_SCALARS else _np.asarray(k) for k in reversed(keys)]
    return _sorted(keys + [_ramp(shape, ax)], ax, len(keys), False)[-1]


def partition(a: Any, kth: Any, axis: int = -1) -> Any:
    """A fully sorted copy, which satisfies partition's contract for every kth."""
    a, ax = _along_axis("partition", a, axis)
    _check_kth("partition", kth, _np.shape(a)[ax])
    return sort(a, ax)


def argpartition(a: Any, kth: Any, axis: int = -1) -> Any:
    """argsort, which satisfies argpartition's contract for every kth."""
    a, ax = _along_axis("argpartition", a, axis)
    _check_kth("argpartition", kth, _np.shape(a)[ax])
    return argsort(a, ax)


def _check_kth(op: str, kth: Any, n: int) -> None:
    for k in _np.atleast_1d(_np.asarray(kth)):
        if not -n <= int(k) < n:
            raise ValueError(f"{op}: kth(={int(k)}) out of bounds ({n})")


def searchsorted(a: Any, v: Any, side: str = "left", sorter: Any = None, *,
                 method: str = "scan") -> Any:
    """Insertion indices of v into the sorted 1-D array a (int64)."""
    a, v = operand(a, "searchsorted"), operand(v, "searchsorted")
    if _np.ndim(a) != 1:
        raise ValueError(f"searchsorted: a must be 1-D, got shape {_np.shape(a)}")
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    if sorter is not None:
        a = take(a, sorter)
    a, v = unify("searchsorted", a, v)
    if type(v) in PY_SCALARS or isinstance(v, _np.generic):
        v = _np.asarray(v)
    return bind(P.searchsorted_p, a, v, side=side)


def digitize(x: Any, bins: Any, right: bool = False) -> Any:
    """The bin index of each x; bins increasing or decreasing (checked at run time)."""
    x, bins = operand(x, "digitize"), operand(bins, "digitize")
    if _np.ndim(bins) != 1:
        raise ValueError("digitize: bins must be a 1-D array")
    n = _np.shape(bins)[0]
    side = "left" if right else "right"
    if n == 0:
        return broadcast_to(_np.int64(0), _np.shape(x))
    rising = searchsorted(bins, x, side=side)
    falling = subtract(n, searchsorted(flip(bins, 0), x, side=side))
    increasing = logical_not(less(take(bins, n - 1), take(bins, 0)))
    return where(increasing, rising, falling)


# ---------------------------------------------------------------------------------------------
# Data-dependent sizes: positions of true elements, with a static size under jit
# ---------------------------------------------------------------------------------------------

def output_size(count: Any, size: Any, op: str) -> int:
    """The static size of a data-dependent output: `size`, or the concrete count."""
    if size is not None:
        return static_int(size, "size", op)
    if isinstance(count, Tracer):
        if count.value is None:
            raise ConcretizationError(
                f"{op}: the size of the result depends on the values of a traced array, "
                "which are not known under jit; pass a static size= (and fill_value= for "
                "the unused entries)")
        return int(count.value)
    return int(count)


def true_positions(mask: Any, size: int) -> tuple[Any, Any]:
    """(indices of the first `size` true elements of the 1-D mask, which of them exist)."""
    n = _np.shape(mask)[0]
    ones = convert(mask, _np.dtype(_np.int64))
    slot = subtract(bind(P.cumsum_p, ones, axis=0, reverse=False), 1) if n else ones
    keep = logical_and(mask, less(slot, size))
    slot = where(keep, slot, size)  # the spare slot `size` collects what is dropped
    spare = bind(P.broadcast_in_dim_p, _np.int64(0), shape=(size + 1,), broadcast_dimensions=())
    found = bind(P.scatter_add_p, spare, slot, _ramp((n,), 0), axis=0) if n else spare
    found = slice_axis(found, 0, 0, size)
    exists = less(_ramp((size,), 0), sum(ones))
    return found, exists


def _filled(values: Any, exists: Any, fill: Any) -> Any:
    return where(exists, values, convert(operand(fill, "fill_value"), result_type(values)))


def nonzero(a: Any, *, size: int | None = None, fill_value: Any = None) -> tuple[Any, ...]:
    """Indices of the nonzero elements, one array per dimension (padded to `size`)."""
    a = operand(a, "nonzero")
    if _np.ndim(a) == 0:
        raise ValueError("nonzero: calling nonzero on 0d arrays is not allowed; use "
                         "atleast_1d(a).nonzero()")
    shape = _np.shape(a)
    mask = not_equal(ravel(a), 0)
    n = output_size(sum(mask), size, "nonzero")
    flat, exists = true_positions(mask, n)
    coords = _unravel(flat, shape)
    fills = _per_dim_fill(fill_value, len(shape))
    return tuple(_filled(c, exists, f) for c, f in zip(coords, fills))


def _per_dim_fill(fill_value: Any, nd: int) -> list[Any]:
    if fill_value is None:
        return [0] * nd
    if _np.ndim(fill_value) == 0:
        return [fill_value] * nd
    if len(fill_value) != nd:
        raise ValueError(f"nonzero: fill_value must be a scalar or have {nd} entries")
    return list(fill_value)


def _unravel(flat: Any, shape: tuple[int, ...]) -> list[Any]:
    from .elementwise import floor_divide, remainder

    coords, rest = [], flat
    for d in range(len(shape) - 1, -1, -1):
        coords.append(remainder(rest, shape[d]) if shape[d] else rest)
        rest = floor_divide(rest, shape[d]) if shape[d] else rest
    return coords[::-1]


def argwhere(a: Any, *, size: int | None = None, fill_value: Any = None) -> Any:
    """Indices of nonzero elements as rows (shape (N, a.ndim))."""
    a = operand(a, "argwhere")
    if _np.ndim(a) == 0:
        a = reshape(a, (1,))
        found = nonzero(a, size=size, fill_value=fill_value)[0]
        return reshape(found, (_np.shape(found)[0], 0))
    return stack(nonzero(a, size=size, fill_value=fill_value), axis=1)


def flatnonzero(a: Any, *, size: int | None = None, fill_value: Any = None) -> Any:
    return nonzero(ravel(operand(a, "flatnonzero")), size=size, fill_value=fill_value)[0]


def extract(condition: Any, arr: Any, *, size: int | None = None, fill_value: Any = 0) -> Any:
    """The elements of arr where condition is true (flattened), padded to `size`."""
    cond = ravel(operand(condition, "extract"))
    arr = ravel(operand(arr, "extract"))
    n = output_size(sum(not_equal(cond, 0)), size, "extract")
    idx, exists = true_positions(not_equal(cond, 0), n)
    return _filled(take(arr, idx) if _np.shape(arr)[0] else idx, exists, fill_value)


def compress(condition: Any, a: Any, axis: int | None = None, *, size: int | None = None,
             fill_value: Any = 0, out: Any = None) -> Any:
    """The slices of a along axis where condition is true (condition shorter: False after)."""
    from ._core import refuse_out

    refuse_out("compress", out)
    cond = ravel(operand(condition, "compress"))
    a, ax = _along_axis("compress", a, axis)
    length = _np.shape(a)[ax]
    if _np.shape(cond)[0] > length:
        cond = slice_axis(cond, 0, 0, length)
    mask = not_equal(cond, 0)
    n = output_size(sum(mask), size, "compress")
    idx, exists = true_positions(mask, n)
    picked = take(a, idx, axis=ax)
    shape = [1] * _np.ndim(a)
    shape[ax] = n
    return _filled(picked, reshape(exists, shape), fill_value)


# ---------------------------------------------------------------------------------------------
# unique and the set operations
# ---------------------------------------------------------------------------------------------

UniqueAllResult = namedtuple("UniqueAllResult", "values indices inverse_indices counts")
UniqueCountsResult = namedtuple("UniqueCountsResult", "values counts")
UniqueInverseResult = namedtuple("UniqueInverseResult", "values inverse_indices")


def _differs(a: Any, b: Any, equal_nan: bool) -> Any:
    apart = not_equal(a, b)
    if equal_nan and result_type(a).kind == "f":
        apart = logical_and(apart, logical_not(logical_and(isnan(a), isnan(b))))
    return apart


def unique(ar: Any, return_index: bool = False, return_inverse: bool = False,
           return_counts: bool = False, axis: int | None = None, *, equal_nan: bool = True,
           size: int | None = None, fill_value: Any = None, sorted: bool = True) -> Any:
    """Sorted unique elements (or slices along axis); the index, inverse and counts on request.

    With size=, the first `size` unique values, padded with fill_value (default: the smallest
    unique value); padded counts are 0 and padded indices 0.
    """
    ar = operand(ar, "unique")
    if type(ar) in PY_SCALARS:
        ar = _np.asarray(ar)
    shape = _np.shape(ar)
    if axis is None:
        rows = reshape(ar, (-1, 1))
    else:
        (ax,) = normalize_axes("unique", axis, len(shape))
        moved = moveaxis(ar, ax, 0)
        rows = reshape(moved, (shape[ax], -1))
    found = _unique_rows(rows, equal_nan, size, fill_value)
    values, index, inverse, counts = found
    if axis is None:
        values = reshape(values, (-1,))
        inverse = reshape(inverse, shape)
    else:
        rest = [d for i, d in enumerate(shape) if i != ax]
        values = moveaxis(reshape(values, [_np.shape(values)[0]] + rest), 0, ax)
    extras = [x for flag, x in ((return_index, index), (return_inverse, inverse),
                                (return_counts, counts)) if flag]
    return (values, *extras) if extras else values


def _unique_rows(rows: Any, equal_nan: bool, size: Any, fill_value: Any):
    n, k = _np.shape(rows)
    columns = [slice_axis(rows, 1, j, j + 1) for j in range(k)]
    columns = [reshape(c, (n,)) for c in columns]
    *ordered, order = _sorted(columns + [_ramp((n,), 0)], 0, max(k, 1), False) if n else \
        (columns + [_ramp((n,), 0)])
    sorted_rows = take(rows, order, axis=0) if n else rows
    if n:
        starts = [_differs(slice_axis(c, 0, 1, n), slice_axis(c, 0, 0, n - 1), equal_nan)
                  for c in ordered] or [_np.zeros(n - 1, bool)]
        new = starts[0]
        for s in starts[1:]:
            new = logical_or(new, s)
        new = concatenate([_np.ones(1, bool), new])
    else:
        new = _np.zeros(0, bool)
    m = output_size(sum(new), size, "unique")
    first, exists = true_positions(new, m)
    picked = take(sorted_rows, first, axis=0) if n else _np.zeros((m, k), result_type(rows))
    fill = _default_fill(fill_value, sorted_rows, n)
    values = where(reshape(exists, (m, 1)), picked, fill)
    index = where(exists, take(order, first), 0) if n else _np.zeros(m, _np.int64)
    group = subtract(bind(P.cumsum_p, convert(new, _np.dtype(_np.int64)), axis=0,
                          reverse=False), 1) if n else _np.zeros(0, _np.int64)
    inverse = _scatter_ints(n, order, group) if n else _np.zeros(0, _np.int64)
    counts = _group_counts(group, m) if n else _np.zeros(m, _np.int64)
    return values, index, inverse, counts


def _default_fill(fill_value: Any, sorted_rows: Any, n: int) -> Any:
    if fill_value is not None:
        return convert(operand(fill_value, "unique"), result_type(sorted_rows))
    if not n:
        return _np.asarray(0, result_type(sorted_rows))[()]
    return slice_axis(sorted_rows, 0, 0, 1)  # the smallest unique value (row), as JAX


def _scatter_ints(n: int, positions: Any, values: Any) -> Any:
    zeros = bind(P.broadcast_in_dim_p, _np.int64(0), shape=(n,), broadcast_dimensions=())
    return bind(P.scatter_add_p, zeros, positions, values, axis=0)


def _group_counts(group: Any, m: int) -> Any:
    slot = minimum(group, m)  # groups beyond `size` land in the spare slot
    zeros = bind(P.broadcast_in_dim_p, _np.int64(0), shape=(m + 1,), broadcast_dimensions=())
    ones = bind(P.broadcast_in_dim_p, _np.int64(1), shape=_np.shape(group),
                broadcast_dimensions=())
    return slice_axis(bind(P.scatter_add_p, zeros, slot, ones, axis=0), 0, 0, m)


def unique_values(x: Any, /, *, size: int | None = None, fill_value: Any = None) -> Any:
    return unique(x, size=size, fill_value=fill_value)


def unique_counts(x: Any, /, *, size: int | None = None, fill_value: Any = None) -> Any:
    return UniqueCountsResult(*unique(x, return_counts=True, size=size, fill_value=fill_value))


def unique_inverse(x: Any, /, *, size: int | None = None, fill_value: Any = None) -> Any:
    return UniqueInverseResult(*unique(x, return_inverse=True, size=size,
                                       fill_value=fill_value))


def unique_all(x: Any, /, *, size: int | None = None, fill_value: Any = None) -> Any:
    return UniqueAllResult(*unique(x, return_index=True, return_inverse=True,
                                   return_counts=True, size=size, fill_value=fill_value))


def isin(element: Any, test_elements: Any, assume_unique: bool = False, invert: bool = False,
         *, kind: str | None = None) -> Any:
    """Whether each element occurs in test_elements (by binary search in its sorted copy)."""
    element, test = operand(element, "isin"), operand(test_elements, "isin")
    element, test = unify("isin", element, test)
    test = sort(ravel(test))
    if type(element) in PY_SCALARS or isinstance(element, _np.generic):
        element = _np.asarray(element)
    if _np.shape(test)[0] == 0:
        found = broadcast_to(_np.False_, _np.shape(element))
    else:
        at = minimum(searchsorted(test, element), _np.shape(test)[0] - 1)
        found = equal(take(test, at), element)
    return logical_not(found) if invert else found


def union1d(ar1: Any, ar2: Any, *, size: int | None = None, fill_value: Any = None) -> Any:
    joined = concatenate([ravel(operand(ar1, "union1d")), ravel(operand(ar2, "union1d"))])
    return unique(joined, size=size, fill_value=fill_value)


def setdiff1d(ar1: Any, ar2: Any, assume_unique: bool = False, *, size: int | None = None,
              fill_value: Any = None) -> Any:
    """Sorted unique values of ar1 that are not in ar2."""
    ar1 = ravel(operand(ar1, "setdiff1d"))
    first = ar1 if assume_unique else _all_unique(ar1)
    values, exists = first
    keep = logical_and(exists, logical_not(isin(values, ar2)))
    return _select_sorted(values, keep, size, fill_value, "setdiff1d")


def setxor1d(ar1: Any, ar2: Any, assume_unique: bool = False, *, size: int | None = None,
             fill_value: Any = None) -> Any:
    """Sorted values in exactly one of the two arrays."""
    a_vals, a_ok = _all_unique(ravel(operand(ar1, "setxor1d")))
    b_vals, b_ok = _all_unique(ravel(operand(ar2, "setxor1d")))
    keep_a = logical_and(a_ok, logical_not(isin(a_vals, b_vals)))
    keep_b = logical_and(b_ok, logical_not(isin(b_vals, a_vals)))
    values = concatenate([a_vals, b_vals])
    keep = concatenate([keep_a, keep_b])
    if _np.shape(values)[0] > 1:  # merge the two sorted halves, carrying the mask along
        values, keep = bind(P.sort_p, values, keep, axis=0, num_keys=1)
    return _select_sorted(values, keep, size, fill_value, "setxor1d")


def intersect1d(ar1: Any, ar2: Any, assume_unique: bool = False, return_indices: bool = False,
                *, size: int | None = None, fill_value: Any = None) -> Any:
    """Sorted values in both arrays; with return_indices, their first positions in each."""
    ar1, ar2 = ravel(operand(ar1, "intersect1d")), ravel(operand(ar2, "intersect1d"))
    a_vals, a_ok = _all_unique(ar1)
    keep = logical_and(a_ok, isin(a_vals, ar2))
    values = _select_sorted(a_vals, keep, size, fill_value, "intersect1d")
    if not return_indices:
        return values
    m = _np.shape(values)[0]
    return values, _first_index(ar1, values, m), _first_index(ar2, values, m)


def _first_index(ar: Any, values: Any, m: int) -> Any:
    """For each value, the first position in ar where it occurs (0 when absent)."""
    n = _np.shape(ar)[0]
    if n == 0 or m == 0:
        return _np.zeros(m, _np.int64)
    _, order = _sorted([ar, _ramp((n,), 0)], 0, 1, False)
    ordered = take(ar, order)
    at = minimum(searchsorted(ordered, values), n - 1)
    return where(equal(take(ordered, at), values), take(order, at), 0)


def _all_unique(ar: Any) -> tuple[Any, Any]:
    """The sorted array with a mask of the first element of each run of equal values."""
    ordered = sort(ar)
    n = _np.shape(ordered)[0]
    if n == 0:
        return ordered, _np.zeros(0, bool)
    new = _differs(slice_axis(ordered, 0, 1, n), slice_axis(ordered, 0, 0, n - 1), True)
    return ordered, concatenate([_np.ones(1, bool), new])


def _select_sorted(values: Any, keep: Any, size: Any, fill_value: Any, op: str) -> Any:
    m = output_size(sum(keep), size, op)
    idx, exists = true_positions(keep, m)
    if _np.shape(values)[0] == 0:
        return _np.zeros(m, result_type(values))
    picked = take(values, idx)
    if fill_value is None:  # the smallest value found, as unique's default
        fill_value = take(picked, 0) if m else 0
    return _filled(picked, exists, fill_value)
