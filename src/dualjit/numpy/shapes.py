"""Shape manipulation of dualjit.numpy: reshape, transpose, concatenate, split, flip, tile, ..."""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import Any

import numpy as _np

from ..ir import primitives as P
from ..tracer.core import Tracer, bind
from ._core import (
    PY_SCALARS,
    broadcast_to,
    convert,
    joint_shape,
    normalize_axes,
    operand,
    refuse_out,
    result_type,
    slice_axis,
    static_int,
)

__all__ = ["reshape", "ravel", "transpose", "permute_dims", "matrix_transpose", "swapaxes",
           "moveaxis", "rollaxis", "expand_dims", "squeeze", "atleast_1d", "atleast_2d",
           "atleast_3d", "concatenate", "concat", "stack", "unstack", "hstack", "vstack",
           "row_stack", "dstack", "column_stack", "block", "split", "array_split", "hsplit",
           "vsplit", "dsplit", "flip", "fliplr", "flipud", "rot90", "roll", "tile", "repeat",
           "resize", "broadcast_arrays", "broadcast_shapes", "append", "delete", "insert", "copy",
           "trim_zeros"]

def _array(a: Any, op: str) -> Any:
    a = operand(a, op)
    return _np.asarray(a) if type(a) in PY_SCALARS else a


def reshape(a: Any, shape: Any = None, *more: int, order: str = "C", newshape: Any = None,
            copy: Any = None) -> Any:
    """`a` with a new shape (one dimension may be -1); order "F" fills column-major."""
    a = _array(a, "reshape")
    if shape is None:
        shape = newshape
    if more:
        shape = (shape, *more)
    if order not in ("C", "F", "A"):
        raise ValueError(f"reshape: order must be 'C' or 'F', got {order!r}")
    if order == "F":
        reversed_shape = tuple(reversed(_new_shape(_np.shape(a), shape)))
        return transpose(reshape(transpose(a), reversed_shape))
    new = _new_shape(_np.shape(a), shape)
    if new == _np.shape(a):
        return a
    return bind(P.reshape_p, a, new_sizes=new)


def _new_shape(old: tuple[int, ...], shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (int, _np.integer, Tracer)):
        shape = (shape,)
    new = [static_int(d, "the shape", "reshape") for d in shape]
    size = math.prod(old)
    if new.count(-1) > 1:
        raise ValueError("reshape: can only specify one unknown dimension (-1)")
    if -1 in new:
        known = math.prod(d for d in new if d != -1)
        if known == 0 or size % known:
            raise ValueError(f"reshape: cannot reshape array of size {size} into shape "
                             f"{tuple(new)}")
        new[new.index(-1)] = size // known
    if math.prod(new) != size or builtins.any(d < 0 for d in new):
        raise ValueError(f"reshape: cannot reshape array of shape {old} into shape {tuple(new)}")
    return tuple(new)


def ravel(a: Any, order: str = "C") -> Any:
    return reshape(a, (-1,), order=order)


def transpose(a: Any, axes: Sequence[int] | None = None) -> Any:
    a = _array(a, "transpose")
    nd = _np.ndim(a)
    perm = tuple(reversed(range(nd))) if axes is None else tuple(
        int(x) % nd if nd else int(x) for x in axes)
    if sorted(perm) != list(range(nd)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of {nd} axes")
    if perm == tuple(range(nd)):
        return a
    return bind(P.transpose_p, a, permutation=perm)


def permute_dims(a: Any, /, axes: Sequence[int] | None = None) -> Any:
    return transpose(a, axes)


def matrix_transpose(x: Any, /) -> Any:
    """Swap the last two axes (a stack of matrices transposed)."""
    x = _array(x, "matrix_transpose")
    if _np.ndim(x) < 2:
        raise ValueError(f"matrix_transpose: needs at least 2 dimensions, got {_np.shape(x)}")
    return swapaxes(x, -1, -2)


def swapaxes(a: Any, axis1: int, axis2: int) -> Any:
    a = _array(a, "swapaxes")
    nd = _np.ndim(a)
    perm = list(range(nd))
    a1, a2 = normalize_axes("swapaxes", axis1, nd)[0], normalize_axes("swapaxes", axis2, nd)[0]
    perm[a1], perm[a2] = perm[a2], perm[a1]
    return transpose(a, perm)


def moveaxis(a: Any, source: int | Sequence[int], destination: int | Sequence[int]) -> Any:
    """Move axes to new positions; the others keep their order."""
    a = _array(a, "moveaxis")
    nd = _np.ndim(a)
    src = _axis_list("moveaxis", source, nd)
    dst = _axis_list("moveaxis", destination, nd)
    if len(src) != len(dst):
        raise ValueError("moveaxis: source and destination must have the same number of "
                         "elements")
    perm = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src)):
        perm.insert(d, s)
    return transpose(a, perm)


def _axis_list(op: str, axes: Any, nd: int) -> list[int]:
    """Axes in the order given (normalize_axes sorts them)."""
    axes = [axes] if isinstance(axes, (int, _np.integer)) else list(axes)
    found = [normalize_axes(op, ax, nd)[0] for ax in axes]
    if len(set(found)) != len(found):
        raise ValueError(f"{op}: repeated axis in {axes}")
    return found


def rollaxis(a: Any, axis: int, start: int = 0) -> Any:
    a = _array(a, "rollaxis")
    nd = _np.ndim(a)
    (ax,) = normalize_axes("rollaxis", axis, nd)
    if not -nd <= start <= nd:
        raise ValueError(f"rollaxis: start {start} is out of bounds for {nd} dimensions")
    start = start % (nd + 1) if start < 0 else start
    if ax < start:
        start -= 1
    return moveaxis(a, ax, start) if ax != start else a


def expand_dims(a: Any, axis: int | Sequence[int]) -> Any:
    a = _array(a, "expand_dims")
    shp = list(_np.shape(a))
    axes = (axis,) if isinstance(axis, (int, _np.integer)) else tuple(axis)
    out_nd = len(shp) + len(axes)
    for p in normalize_axes("expand_dims", axes, out_nd):
        shp.insert(p, 1)
    return reshape(a, shp)


def squeeze(a: Any, axis: int | Sequence[int] | None = None) -> Any:
    a = _array(a, "squeeze")
    shp = _np.shape(a)
    if axis is None:
        axes = tuple(i for i, d in enumerate(shp) if d == 1)
    else:
        axes = normalize_axes("squeeze", axis, len(shp))
        bad = [i for i in axes if shp[i] != 1]
        if bad:
            raise ValueError(f"squeeze: cannot select an axis to squeeze out which has size "
                             f"not equal to one (axis {bad[0]} of shape {shp})")
    return reshape(a, [d for i, d in enumerate(shp) if i not in axes])


def _at_least(op: str, arys: tuple, nd: int, place) -> Any:
    out = []
    for a in arys:
        a = _array(a, op)
        shape = _np.shape(a)
        out.append(reshape(a, place(shape)) if len(shape) < nd else a)
    return out[0] if len(out) == 1 else out


def atleast_1d(*arys: Any) -> Any:
    return _at_least("atleast_1d", arys, 1, lambda s: (1,))


def atleast_2d(*arys: Any) -> Any:
    return _at_least("atleast_2d", arys, 2, lambda s: (1,) * (2 - len(s)) + s)


def atleast_3d(*arys: Any) -> Any:
    def place(s):
        return {0: (1, 1, 1), 1: (1,) + s + (1,), 2: s + (1,)}[len(s)]
    return _at_least("atleast_3d", arys, 3, place)


def concatenate(arrays: Sequence[Any], axis: int | None = 0, out: Any = None,
                dtype: Any = None, casting: str = "same_kind") -> Any:
    """Join arrays along an existing axis (None: flatten them first)."""
    refuse_out("concatenate", out)
    if isinstance(arrays, Tracer) or isinstance(arrays, _np.ndarray):
        arrays = list(arrays)
    arrays = [_array(a, "concatenate") for a in arrays]
    if not arrays:
        raise ValueError("concatenate: need at least one array to concatenate")
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    nd = _np.ndim(arrays[0])
    if nd == 0:
        raise ValueError("concatenate: zero-dimensional arrays cannot be concatenated")
    if builtins.any(_np.ndim(a) != nd for a in arrays):
        raise ValueError("concatenate: all the input arrays must have the same number of "
                         "dimensions, got shapes " + ", ".join(str(_np.shape(a)) for a in arrays))
    ax = normalize_axes("concatenate", axis, nd)[0]
    for a in arrays[1:]:
        if builtins.any(d != e for i, (d, e) in enumerate(zip(_np.shape(a), _np.shape(arrays[0])))
                        if i != ax):
            raise ValueError(f"concatenate: shapes {_np.shape(arrays[0])} and {_np.shape(a)} "
                             f"differ outside axis {ax}")
    dt = _as_dtype_np(dtype) if dtype is not None else result_type(*arrays)
    arrays = [convert(a, dt) for a in arrays]
    arrays = [a for a in arrays if _np.shape(a)[ax] > 0] or arrays[:1]
    if len(arrays) == 1:
        return arrays[0]
    return bind(P.concatenate_p, *arrays, dimension=ax)


concat = concatenate


def _as_dtype_np(dtype: Any) -> _np.dtype:
    from ..ir import as_dtype

    return as_dtype(dtype).np


def stack(arrays: Sequence[Any], axis: int = 0, out: Any = None, dtype: Any = None) -> Any:
    """Join same-shaped arrays along a new axis."""
    refuse_out("stack", out)
    if isinstance(arrays, (Tracer, _np.ndarray)):
        arrays = list(arrays)
    arrays = [_array(a, "stack") for a in arrays]
    if not arrays:
        raise ValueError("stack: need at least one array to stack")
    shapes = {_np.shape(a) for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"stack: all input arrays must have the same shape, got "
                         f"{sorted(shapes)}")
    ax = normalize_axes("stack", axis, len(_np.shape(arrays[0])) + 1)[0]
    return concatenate([expand_dims(a, ax) for a in arrays], axis=ax, dtype=dtype)


def unstack(x: Any, /, *, axis: int = 0) -> tuple[Any, ...]:
    x = _array(x, "unstack")
    (ax,) = normalize_axes("unstack", axis, _np.ndim(x))
    return tuple(squeeze(slice_axis(x, ax, i, i + 1), ax) for i in range(_np.shape(x)[ax]))


def hstack(tup: Sequence[Any], *, dtype: Any = None) -> Any:
    arrays = [atleast_1d(a) for a in tup]
    return concatenate(arrays, axis=0 if _np.ndim(arrays[0]) == 1 else 1, dtype=dtype)


def vstack(tup: Sequence[Any], *, dtype: Any = None) -> Any:
    return concatenate([atleast_2d(a) for a in tup], axis=0, dtype=dtype)


row_stack = vstack


def dstack(tup: Sequence[Any], *, dtype: Any = None) -> Any:
    return concatenate([atleast_3d(a) for a in tup], axis=2, dtype=dtype)


def column_stack(tup: Sequence[Any]) -> Any:
    """1-D arrays become columns; 2-D arrays are joined along axis 1."""
    arrays = []
    for a in tup:
        a = _array(a, "column_stack")
        arrays.append(reshape(a, (-1, 1)) if _np.ndim(a) < 2 else a)
    return concatenate(arrays, axis=1)


def block(arrays: Any) -> Any:
    """Assemble an array from nested lists of blocks (the innermost lists join along the
    last axis)."""
    depth = _block_depth(arrays)
    if depth == 0:
        return _array(arrays, "block")
    nd = builtins.max(depth, _block_max_ndim(arrays))
    return _assemble(arrays, depth, nd)


def _block_depth(x: Any) -> int:
    if isinstance(x, list):
        if not x:
            raise ValueError("block: lists cannot be empty")
        depths = {_block_depth(e) for e in x}
        if len(depths) != 1:
            raise ValueError("block: list depths are mismatched")
        return 1 + depths.pop()
    return 0


def _block_max_ndim(x: Any) -> int:
    if isinstance(x, list):
        return builtins.max(_block_max_ndim(e) for e in x)
    return _np.ndim(_array(x, "block"))


def _assemble(x: Any, depth: int, nd: int) -> Any:
    if not isinstance(x, list):
        a = _array(x, "block")
        return reshape(a, (1,) * (nd - _np.ndim(a)) + _np.shape(a))
    parts = [_assemble(e, depth - 1, nd) for e in x]
    return concatenate(parts, axis=-depth)


def split(a: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    """Equal sections (an error when they do not divide the axis) or cuts at indices."""
    return _split("split", a, indices_or_sections, axis, equal=True)


def array_split(ary: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    """Like split, but sections may be unequal (the first ones one longer)."""
    return _split("array_split", ary, indices_or_sections, axis, equal=False)


def _split(op: str, a: Any, indices_or_sections: Any, axis: int, equal: bool) -> list[Any]:
    a = _array(a, op)
    shp = _np.shape(a)
    ax = normalize_axes(op, axis, len(shp))[0]
    n = shp[ax]
    if isinstance(indices_or_sections, (int, _np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError(f"{op}: number sections must be larger than 0")
        if equal and n % sections:
            raise ValueError(f"{op}: array of size {n} along axis {ax} does not split into "
                             f"{sections} equal sections")
        each, extra = divmod(n, sections)
        sizes = [each + 1] * extra + [each] * (sections - extra)
        bounds = [0]
        for size in sizes:
            bounds.append(bounds[-1] + size)
    else:
        cuts = [int(i) for i in _np.asarray(indices_or_sections).ravel()]
        bounds = [0] + [builtins.min(i + n if i < 0 else i, n) for i in cuts] + [n]
    return [slice_axis(a, ax, lo, builtins.max(lo, hi)) for lo, hi in zip(bounds, bounds[1:])]


def _split_on(op: str, axis: int, min_nd: int):
    def fn(ary: Any, indices_or_sections: Any) -> list[Any]:
        ary = _array(ary, op)
        if _np.ndim(ary) < min_nd:
            raise ValueError(f"{op} only works on arrays of {min_nd} or more dimensions")
        ax = 0 if op == "hsplit" and _np.ndim(ary) == 1 else axis
        return split(ary, indices_or_sections, ax)
    fn.__name__ = op
    fn.__doc__ = f"split along axis {axis}."
    return fn


hsplit = _split_on("hsplit", 1, 1)
vsplit = _split_on("vsplit", 0, 2)
dsplit = _split_on("dsplit", 2, 3)


def flip(m: Any, axis: Any = None) -> Any:
    m = _array(m, "flip")
    for ax in normalize_axes("flip", axis, _np.ndim(m)):
        n = _np.shape(m)[ax]
        if n > 1:
            m = bind(P.gather_p, m, _np.arange(n - 1, -1, -1), axis=ax)
    return m


def fliplr(m: Any) -> Any:
    m = _array(m, "fliplr")
    if _np.ndim(m) < 2:
        raise ValueError("fliplr: input must be at least 2-d")
    return flip(m, 1)


def flipud(m: Any) -> Any:
    m = _array(m, "flipud")
    if _np.ndim(m) < 1:
        raise ValueError("flipud: input must be at least 1-d")
    return flip(m, 0)


def rot90(m: Any, k: int = 1, axes: tuple[int, int] = (0, 1)) -> Any:
    """Rotate by 90 degrees k times in the plane of `axes` (from the first toward the second)."""
    m = _array(m, "rot90")
    nd = _np.ndim(m)
    a0, a1 = _axis_list("rot90", axes, nd)
    if a0 == a1 or len(axes) != 2:
        raise ValueError("rot90: axes must be two different axes")
    k = static_int(k, "k", "rot90") % 4
    if k == 0:
        return m
    if k == 2:
        return flip(flip(m, a0), a1)
    perm = list(range(nd))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return transpose(flip(m, a1), perm)
    return flip(transpose(m, perm), a1)


def roll(a: Any, shift: Any, axis: Any = None) -> Any:
    """Elements shifted cyclically along axes (None: the flattened array); traced shifts work."""
    a = _array(a, "roll")
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), _np.shape(a))
    axes = [axis] if isinstance(axis, (int, _np.integer)) else list(axis)
    shifts = [shift] * len(axes) if _np.ndim(shift) == 0 and not isinstance(shift, (list, tuple)) \
        else list(shift)
    if len(shifts) != len(axes):
        if len(axes) == 1:
            axes = axes * len(shifts)
        else:
            raise ValueError("roll: shift and axis must have the same length")
    for ax, sh in zip(axes, shifts):
        a = _roll_axis(a, normalize_axes("roll", ax, _np.ndim(a))[0], sh)
    return a


def _roll_axis(a: Any, ax: int, shift: Any) -> Any:
    n = _np.shape(a)[ax]
    if n == 0:
        return a
    if isinstance(shift, Tracer):
        from .elementwise import remainder, subtract

        source = remainder(subtract(_np.arange(n), convert(shift, _np.dtype(_np.int64))), n)
        return bind(P.gather_p, a, source, axis=ax)
    s = int(shift) % n
    if s == 0:
        return a
    return concatenate([slice_axis(a, ax, n - s, n), slice_axis(a, ax, 0, n - s)], axis=ax)


def tile(A: Any, reps: int | Sequence[int]) -> Any:
    reps = (reps,) if isinstance(reps, (int, _np.integer)) else tuple(reps)
    reps = tuple(static_int(r, "reps", "tile") for r in reps)
    a = _array(A, "tile")
    shp = (1,) * (len(reps) - _np.ndim(a)) + tuple(_np.shape(a))
    reps = (1,) * (len(shp) - len(reps)) + reps
    a = reshape(a, shp)
    expanded = []
    for r, d in zip(reps, shp):
        expanded += [r, d]
    dims = tuple(2 * i + 1 for i in range(len(shp)))
    b = bind(P.broadcast_in_dim_p, a, shape=tuple(expanded), broadcast_dimensions=dims)
    return reshape(b, [r * d for r, d in zip(reps, shp)])


def repeat(a: Any, repeats: Any, axis: int | None = None, *,
           total_repeat_length: int | None = None) -> Any:
    """Each element repeated (repeats: an int or one static count per element)."""
    a = _array(a, "repeat")
    if axis is None:
        a, axis = ravel(a), 0
    ax = normalize_axes("repeat", axis, _np.ndim(a))[0]
    if isinstance(repeats, Tracer):
        raise TypeError("repeat: repeats must be static (they fix the output shape); pass a "
                        "Python int or a NumPy array")
    counts = _np.asarray(repeats)
    if counts.dtype.kind not in "iu" or (counts < 0).any():
        raise ValueError(f"repeat: repeats must be non-negative integers, got {repeats!r}")
    idx = _np.repeat(_np.arange(_np.shape(a)[ax]), counts)
    return bind(P.gather_p, a, idx.astype(_np.int64), axis=ax)


def resize(a: Any, new_shape: Any) -> Any:
    """The flattened array repeated cyclically to fill `new_shape`."""
    a = ravel(_array(a, "resize"))
    shape = (new_shape,) if isinstance(new_shape, (int, _np.integer)) else tuple(new_shape)
    shape = tuple(static_int(d, "the shape", "resize") for d in shape)
    total = math.prod(shape)
    n = _np.shape(a)[0]
    if n == 0 or total == 0:
        return broadcast_to(_np.zeros((), result_type(a)), shape) if total else reshape(
            slice_axis(a, 0, 0, 0), shape)
    return reshape(bind(P.gather_p, a, _np.arange(total) % n, axis=0), shape)


def broadcast_arrays(*args: Any) -> list[Any]:
    args = [_array(a, "broadcast_arrays") for a in args]
    shape = joint_shape("broadcast_arrays", *[_np.shape(a) for a in args])
    return [broadcast_to(a, shape) for a in args]


def broadcast_shapes(*shapes: Any) -> tuple[int, ...]:
    shapes = [(s,) if isinstance(s, (int, _np.integer)) else tuple(s) for s in shapes]
    return joint_shape("broadcast_shapes", *shapes)


def append(arr: Any, values: Any, axis: int | None = None) -> Any:
    """arr with values added at the end (flattened when axis is None)."""
    arr, values = _array(arr, "append"), _array(values, "append")
    if axis is None:
        return concatenate([ravel(arr), ravel(values)])
    return concatenate([arr, values], axis=axis)


def delete(arr: Any, obj: Any, axis: int | None = None, *,
           assume_unique_indices: bool = False) -> Any:
    """arr without the entries at obj (a static int, slice, index list or boolean mask)."""
    arr = _array(arr, "delete")
    if axis is None:
        arr, axis = ravel(arr), 0
    (ax,) = normalize_axes("delete", axis, _np.ndim(arr))
    n = _np.shape(arr)[ax]
    if isinstance(obj, Tracer):
        raise TypeError("delete: obj must be static (it fixes the output shape)")
    keep = _np.ones(n, bool)
    if isinstance(obj, slice):
        keep[obj] = False
    else:
        idx = _np.asarray(obj)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise ValueError(f"delete: boolean mask of shape {idx.shape} does not match "
                                 f"axis length {n}")
            keep &= ~idx
        else:
            if idx.size and (idx.max() >= n or idx.min() < -n):
                raise IndexError(f"delete: index out of bounds for axis {ax} with size {n}")
            keep[idx] = False
    return bind(P.gather_p, arr, _np.nonzero(keep)[0].astype(_np.int64), axis=ax)


def insert(arr: Any, obj: Any, values: Any, axis: int | None = None) -> Any:
    """arr with values inserted before the static index/indices obj along axis."""
    arr = _array(arr, "insert")
    values = convert(_array(values, "insert"), result_type(arr))
    if axis is None:
        arr, axis = ravel(arr), 0
    (ax,) = normalize_axes("insert", axis, _np.ndim(arr))
    n = _np.shape(arr)[ax]
    if isinstance(obj, Tracer):
        raise TypeError("insert: obj must be static (it fixes the output shape)")
    scalar_index = _np.ndim(obj) == 0 and not isinstance(obj, slice)
    where = _np.arange(n + 1)[obj] if isinstance(obj, slice) else _np.asarray(obj)
    where = _np.where(where < 0, where + n, where).ravel()
    if where.size and (where.max() > n or where.min() < 0):
        raise IndexError(f"insert: index out of bounds for axis {ax} with size {n}")
    shape = list(_np.shape(arr))
    if scalar_index:
        # values fill a block of new slices at one position (NumPy moves values' first axis)
        vals = values if _np.ndim(values) == _np.ndim(arr) else expand_dims(
            values, 0) if _np.ndim(values) < _np.ndim(arr) else values
        vals = moveaxis(vals, 0, ax) if _np.ndim(values) == _np.ndim(arr) else vals
        count = _np.shape(vals)[ax] if _np.ndim(values) else 1
        shape[ax] = count
        block_ = broadcast_to(vals, shape)
        k = int(where[0])
        return concatenate([slice_axis(arr, ax, 0, k), block_, slice_axis(arr, ax, k, n)],
                           axis=ax)
    count = where.size
    shape[ax] = count
    vals = values
    if _np.ndim(vals) == 1 and _np.ndim(arr) > 1:
        vals = reshape(vals, [count if i == ax else 1 for i in range(_np.ndim(arr))])
    block_ = broadcast_to(vals, shape)
    order = _np.argsort(where, kind="stable")
    positions = where[order] + _np.arange(count)
    total = n + count
    is_new = _np.zeros(total, bool)
    is_new[positions] = True
    source = _np.zeros(total, _np.int64)
    source[~is_new] = _np.arange(n)
    source[positions] = n + order
    joined = concatenate([arr, block_], axis=ax)
    return bind(P.gather_p, joined, source, axis=ax)


def copy(a: Any, order: str = "K") -> Any:
    """A copy (traced values are immutable, so they are returned as they are)."""
    a = _array(a, "copy")
    return _np.array(a, copy=True) if isinstance(a, _np.ndarray) else a


def trim_zeros(filt: Any, trim: str = "fb", axis: Any = None) -> Any:
    """filt without leading ('f') and/or trailing ('b') zeros (needs concrete values)."""
    filt = _array(filt, "trim_zeros")
    values = filt.value if isinstance(filt, Tracer) else _np.asarray(filt)
    if values is None:
        from ..tracer.core import ConcretizationError

        raise ConcretizationError("trim_zeros: the size of the result depends on the values "
                                  "of a traced array, which are not known under jit")
    nonzero = _np.nonzero(values)[0]
    n = values.shape[0]
    lo = int(nonzero[0]) if "f" in trim.lower() and nonzero.size else (n if "f" in
                                                                          trim.lower() else 0)
    hi = int(nonzero[-1]) + 1 if "b" in trim.lower() and nonzero.size else n
    return slice_axis(filt, 0, lo, builtins.max(lo, hi))
