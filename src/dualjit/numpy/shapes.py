"""Shape manipulation of dualjit.numpy: reshape, transpose, concatenate, split, flip, tile, ..."""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import Any

import numpy as _np

from ..ir import primitives as P
from ..tracer.core import bind
from ._core import PY_SCALARS, convert, ndim, normalize_axes, operand, result_type, shape, slice_axis

__all__ = ["reshape", "ravel", "transpose", "swapaxes", "moveaxis", "expand_dims", "squeeze",
           "atleast_1d", "concatenate", "stack", "hstack", "vstack", "split", "flip", "tile",
           "repeat"]

def reshape(a: Any, newshape: Any, *more: int) -> Any:
    a = operand(a, "reshape")
    if more:
        newshape = (newshape, *more)
    if isinstance(newshape, (int, _np.integer)):
        newshape = (newshape,)
    newshape = [int(d) for d in newshape]
    size = math.prod(_np.shape(a))
    if newshape.count(-1) > 1:
        raise ValueError("reshape: can only specify one unknown dimension (-1)")
    if -1 in newshape:
        known = math.prod(d for d in newshape if d != -1)
        if known == 0 or size % known:
            raise ValueError(f"reshape: cannot reshape array of size {size} into shape "
                             f"{tuple(newshape)}")
        newshape[newshape.index(-1)] = size // known
    if math.prod(newshape) != size or builtins.any(d < 0 for d in newshape):
        raise ValueError(f"reshape: cannot reshape array of shape {_np.shape(a)} "
                         f"into shape {tuple(newshape)}")
    if tuple(newshape) == _np.shape(a):
        return a
    if type(a) in PY_SCALARS:
        a = _np.asarray(a)
    return bind(P.reshape_p, a, new_sizes=tuple(newshape))


def ravel(a: Any) -> Any:
    return reshape(a, (-1,))


def transpose(a: Any, axes: Sequence[int] | None = None) -> Any:
    a = operand(a, "transpose")
    nd = len(_np.shape(a))
    perm = tuple(reversed(range(nd))) if axes is None else tuple(int(x) % nd if nd else int(x)
                                                                  for x in axes)
    if sorted(perm) != list(range(nd)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of {nd} axes")
    if perm == tuple(range(nd)):
        return a
    return bind(P.transpose_p, a, permutation=perm)


def swapaxes(a: Any, axis1: int, axis2: int) -> Any:
    nd = ndim(a)
    perm = list(range(nd))
    a1, a2 = normalize_axes("swapaxes", axis1, nd)[0], normalize_axes("swapaxes", axis2, nd)[0]
    perm[a1], perm[a2] = perm[a2], perm[a1]
    return transpose(a, perm)


def moveaxis(a: Any, source: int, destination: int) -> Any:
    nd = ndim(a)
    src, dst = normalize_axes("moveaxis", source, nd)[0], normalize_axes("moveaxis", destination, nd)[0]
    perm = [i for i in range(nd) if i != src]
    perm.insert(dst, src)
    return transpose(a, perm)


def expand_dims(a: Any, axis: int | Sequence[int]) -> Any:
    shp = list(_np.shape(a))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out_nd = len(shp) + len(axes)
    positions = sorted(normalize_axes("expand_dims", axes, out_nd))
    for p in positions:
        shp.insert(p, 1)
    return reshape(a, shp)


def squeeze(a: Any, axis: int | Sequence[int] | None = None) -> Any:
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


def atleast_1d(a: Any) -> Any:
    return reshape(a, (1,)) if ndim(a) == 0 else operand(a, "atleast_1d")


def concatenate(arrays: Sequence[Any], axis: int = 0) -> Any:
    arrays = [operand(a, "concatenate") for a in arrays]
    if not arrays:
        raise ValueError("concatenate: need at least one array to concatenate")
    nd = len(_np.shape(arrays[0]))
    if nd == 0:
        raise ValueError("concatenate: zero-dimensional arrays cannot be concatenated")
    if builtins.any(len(_np.shape(a)) != nd for a in arrays):
        raise ValueError("concatenate: all the input arrays must have the same number of "
                         "dimensions, got shapes " + ", ".join(str(_np.shape(a)) for a in arrays))
    ax = normalize_axes("concatenate", axis, nd)[0]
    dt = result_type(*arrays)
    arrays = [convert(a, dt) for a in arrays]
    if len(arrays) == 1:
        return arrays[0]
    return bind(P.concatenate_p, *arrays, dimension=ax)


def stack(arrays: Sequence[Any], axis: int = 0) -> Any:
    arrays = [operand(a, "stack") for a in arrays]
    if not arrays:
        raise ValueError("stack: need at least one array to stack")
    shapes = {_np.shape(a) for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"stack: all input arrays must have the same shape, got {shapes}")
    ax = normalize_axes("stack", axis, len(_np.shape(arrays[0])) + 1)[0]
    return concatenate([expand_dims(a, ax) for a in arrays], axis=ax)


def hstack(arrays: Sequence[Any]) -> Any:
    arrays = [atleast_1d(a) for a in arrays]
    return concatenate(arrays, axis=0 if ndim(arrays[0]) == 1 else 1)


def vstack(arrays: Sequence[Any]) -> Any:
    return concatenate([reshape(a, (1, -1)) if ndim(a) < 2 else a for a in arrays], axis=0)


def split(a: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    a = operand(a, "split")
    shp = _np.shape(a)
    ax = normalize_axes("split", axis, len(shp))[0]
    n = shp[ax]
    if isinstance(indices_or_sections, (int, _np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0 or n % sections:
            raise ValueError(f"split: array of size {n} along axis {ax} does not split into "
                             f"{sections} equal sections")
        bounds = [i * (n // sections) for i in range(sections + 1)]
    else:
        bounds = [0] + [builtins.min(builtins.max(int(i), 0), n)
                        for i in indices_or_sections] + [n]
    return [slice_axis(a, ax, lo, builtins.max(lo, hi)) for lo, hi in zip(bounds, bounds[1:])]


def flip(a: Any, axis: Any = None) -> Any:
    a = operand(a, "flip")
    for ax in normalize_axes("flip", axis, ndim(a)):
        n = shape(a)[ax]
        a = bind(P.gather_p, a, _np.arange(n - 1, -1, -1), axis=ax)
    return a


def tile(a: Any, reps: int | Sequence[int]) -> Any:
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    a = operand(a, "tile")
    shp = (1,) * (len(reps) - ndim(a)) + tuple(_np.shape(a))
    reps = (1,) * (len(shp) - len(reps)) + reps
    a = reshape(a, shp)
    expanded = []
    for r, d in zip(reps, shp):
        expanded += [r, d]
    dims = tuple(2 * i + 1 for i in range(len(shp)))
    b = bind(P.broadcast_in_dim_p, a, shape=tuple(expanded), broadcast_dimensions=dims)
    return reshape(b, [r * d for r, d in zip(reps, shp)])


def repeat(a: Any, repeats: int, axis: int | None = None) -> Any:
    a = operand(a, "repeat")
    if axis is None:
        a, axis = ravel(a), 0
    ax = normalize_axes("repeat", axis, ndim(a))[0]
    idx = _np.repeat(_np.arange(shape(a)[ax]), int(repeats))
    return bind(P.gather_p, a, idx, axis=ax)

