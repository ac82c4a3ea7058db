"""Functions that apply functions: piecewise, apply_along_axis, apply_over_axes, vectorize.

apply_along_axis and vectorize call the function once per slice (each call is traced), so
their programs grow with the number of slices.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

import numpy as _np

from ._core import broadcast_to, convert, joint_shape, normalize_axes, operand, result_type
from .elementwise import where
from .shapes import expand_dims, moveaxis, reshape, stack

__all__ = ["piecewise", "apply_along_axis", "apply_over_axes", "vectorize", "ufunc", "frompyfunc"]


def piecewise(x: Any, condlist: Any, funclist: Any, *args: Any, **kw: Any) -> Any:
    """funclist[i](x) where condlist[i] holds (later conditions win); one extra function is
    the default elsewhere. Each function is evaluated on all of x, then selected."""
    x = operand(x, "piecewise")
    if isinstance(condlist, (list, tuple)):
        conds = [operand(c, "piecewise") for c in condlist]
    else:
        c = operand(condlist, "piecewise")
        conds = [c] if _np.ndim(c) == _np.ndim(x) else list(c)
    n = len(conds)
    if len(funclist) not in (n, n + 1):
        raise ValueError(f"piecewise: with {n} condition(s), either {n} or {n + 1} functions "
                         f"are expected, got {len(funclist)}")
    dt = result_type(x)
    zero = _np.asarray(0, dt)[()]
    result = broadcast_to(zero, _np.shape(x))
    if len(funclist) == n + 1:
        default = _piece(funclist[n], x, args, kw, dt)
        anything = conds[0]
        for c in conds[1:]:
            from .elementwise import logical_or

            anything = logical_or(anything, c)
        result = where(anything, result, default)
    for cond, fn in zip(conds, funclist):
        result = where(cond, _piece(fn, x, args, kw, dt), result)
    return result


def _piece(fn: Any, x: Any, args: tuple, kw: dict, dt: _np.dtype) -> Any:
    value = fn(x, *args, **kw) if callable(fn) else fn
    return broadcast_to(convert(operand(value, "piecewise"), dt), _np.shape(x))


def apply_along_axis(func1d: Any, axis: int, arr: Any, *args: Any, **kwargs: Any) -> Any:
    """func1d applied to each 1-D slice along axis; its result's axes replace that axis."""
    arr = operand(arr, "apply_along_axis")
    nd = _np.ndim(arr)
    (ax,) = normalize_axes("apply_along_axis", axis, nd)
    moved = moveaxis(arr, ax, -1)
    batch = _np.shape(moved)[:-1]
    rows = reshape(moved, (-1, _np.shape(moved)[-1]))
    outs = [operand(func1d(rows[i], *args, **kwargs), "apply_along_axis")
            for i in range(math.prod(batch))]
    if not outs:
        raise ValueError("apply_along_axis: cannot apply to an array with no slices")
    stacked = reshape(stack(outs), batch + tuple(_np.shape(outs[0])))
    k = _np.ndim(outs[0])
    return moveaxis(stacked, list(range(nd - 1, nd - 1 + k)), list(range(ax, ax + k)))


def apply_over_axes(func: Any, a: Any, axes: Any) -> Any:
    """func(a, axis) applied for each axis in turn, keeping the dimension count."""
    val = operand(a, "apply_over_axes")
    nd = _np.ndim(val)
    for axis in ([axes] if isinstance(axes, int) else axes):
        (ax,) = normalize_axes("apply_over_axes", axis, nd)
        res = operand(func(val, ax), "apply_over_axes")
        if _np.ndim(res) == nd:
            val = res
        elif _np.ndim(res) == nd - 1:
            val = expand_dims(res, ax)
        else:
            raise ValueError("apply_over_axes: function is not returning an array of the "
                             "correct shape")
    return val


_DIMS = re.compile(r"\(([^()]*)\)")


def _core_dims(signature: str) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    inputs, _, outputs = signature.replace(" ", "").partition("->")

    def groups(text):
        return [tuple(d for d in g.split(",") if d) for g in _DIMS.findall(text)]

    return groups(inputs), groups(outputs)


class vectorize:  # noqa: N801  (NumPy's name)
    """pyfunc broadcast over its array arguments (one call per element, or per core block
    when a gufunc signature like "(n),(n)->()" is given)."""

    def __init__(self, pyfunc: Any, otypes: Any = None, doc: str | None = None,
                 excluded: Any = None, cache: bool = False, signature: str | None = None):
        self.pyfunc = pyfunc
        self.excluded = set(excluded or ())
        self.signature = signature
        functools.update_wrapper(self, pyfunc)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        excluded = {i: a for i, a in enumerate(args) if i in self.excluded}
        free = [i for i in range(len(args)) if i not in self.excluded]
        arrays = [operand(args[i], "vectorize") for i in free]
        in_core, out_core = _core_dims(self.signature) if self.signature else (
            [()] * len(arrays), None)
        if len(in_core) != len(arrays):
            raise TypeError(f"vectorize: the signature has {len(in_core)} inputs, got "
                            f"{len(arrays)}")
        batch = joint_shape("vectorize", *[
            _np.shape(a)[:_np.ndim(a) - len(c)] for a, c in zip(arrays, in_core)])
        arrays = [broadcast_to(a, batch + tuple(_np.shape(a)[_np.ndim(a) - len(c):]))
                  for a, c in zip(arrays, in_core)]
        flat = [reshape(a, (-1,) + tuple(_np.shape(a)[len(batch):])) for a in arrays]
        results = []
        for k in range(math.prod(batch)):
            call_args = list(args)
            for i, a in zip(free, flat):
                call_args[i] = a[k]
            call_args = [excluded.get(i, v) for i, v in enumerate(call_args)]
            results.append(self.pyfunc(*call_args, **kwargs))
        if not results:
            raise ValueError("vectorize: cannot call the function on zero-size inputs")
        if isinstance(results[0], tuple):
            return tuple(_gather(list(r), batch) for r in zip(*results))
        return _gather(results, batch)


def _gather(results: list, batch: tuple[int, ...]) -> Any:
    results = [operand(r, "vectorize") for r in results]
    return reshape(stack(results), batch + tuple(_np.shape(results[0])))


class ufunc:  # noqa: N801  (NumPy's name)
    """A function of nin arrays with NumPy's ufunc methods (reduce, accumulate, outer, at,
    reduceat). func must work elementwise on broadcast arrays (built from dualjit.numpy
    functions); reduce and accumulate apply it pairwise along an axis."""

    def __init__(self, func: Any, nin: int, nout: int, *, name: str | None = None,
                 identity: Any = None):
        self.func, self.nin, self.nout, self.identity = func, nin, nout, identity
        self.__name__ = name or getattr(func, "__name__", "ufunc")
        self.nargs = nin + nout

    def __repr__(self) -> str:
        return f"<dualjit.numpy.ufunc '{self.__name__}'>"

    def __call__(self, *args: Any, out: Any = None, where: Any = None, **kwargs: Any) -> Any:
        from ._core import refuse_out

        refuse_out(self.__name__, out)
        if len(args) != self.nin:
            raise TypeError(f"{self.__name__}: takes {self.nin} arguments, got {len(args)}")
        arrays = [operand(a, self.__name__) for a in args]
        shape = joint_shape(self.__name__, *[_np.shape(a) for a in arrays])
        return self.func(*[broadcast_to(a, shape) for a in arrays], **kwargs)

    def _binary(self, op: str) -> None:
        if self.nin != 2 or self.nout != 1:
            raise ValueError(f"{op} only supported for binary functions with one output")

    def reduce(self, a: Any, axis: Any = 0, dtype: Any = None, out: Any = None,
               keepdims: bool = False, initial: Any = None, where: Any = None) -> Any:
        """func folded along axis (pairwise, as a balanced tree: func must be associative)."""
        self._binary("reduce")
        a = operand(a, "reduce")
        if axis is None:
            a, axis = reshape(a, (-1,)), 0
        if isinstance(axis, tuple):
            for ax in sorted(normalize_axes("reduce", axis, _np.ndim(a)), reverse=True):
                a = self.reduce(a, ax, keepdims=keepdims)
            return a
        (ax,) = normalize_axes("reduce", axis, _np.ndim(a))
        parts = list(_slices(a, ax))
        if initial is not None:
            parts.insert(0, broadcast_to(operand(initial, "reduce"), _np.shape(parts[0]) if
                                         parts else ()))
        if not parts:
            if self.identity is None:
                raise ValueError(f"zero-size reduction with {self.__name__}, which has no "
                                 "identity")
            shape = [d for i, d in enumerate(_np.shape(a)) if i != ax]
            return broadcast_to(convert(operand(self.identity, "reduce"), result_type(a)), shape)
        while len(parts) > 1:
            paired = [self.func(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
            parts = paired + ([parts[-1]] if len(parts) % 2 else [])
        return expand_dims(parts[0], ax) if keepdims else parts[0]

    def accumulate(self, a: Any, axis: int = 0, dtype: Any = None, out: Any = None) -> Any:
        """Running func along axis (one call per element)."""
        self._binary("accumulate")
        a = operand(a, "accumulate")
        (ax,) = normalize_axes("accumulate", axis, _np.ndim(a))
        running, outs = None, []
        for part in _slices(a, ax):
            running = part if running is None else self.func(running, part)
            outs.append(running)
        return stack(outs, axis=ax) if outs else a

    def outer(self, A: Any, B: Any, /, **kwargs: Any) -> Any:
        self._binary("outer")
        A, B = operand(A, "outer"), operand(B, "outer")
        a = reshape(A, tuple(_np.shape(A)) + (1,) * _np.ndim(B))
        return self(a, B, **kwargs)

    def at(self, a: Any, indices: Any, b: Any = None, /, *, inplace: bool = False) -> Any:
        """A copy of a with func applied at indices (repeated indices apply repeatedly)."""
        if inplace:
            raise ValueError("ufunc.at: dualjit arrays are immutable; pass inplace=False")
        from .indexing import put, take

        a = operand(a, "at")
        flat = reshape(a, (-1,))
        idx = _np.ravel_multi_index(indices, _np.shape(a)) if isinstance(indices, tuple) else \
            _np.asarray(indices)
        idx = _np.where(idx < 0, idx + _np.shape(flat)[0], idx).ravel()
        vals = None if b is None else reshape(broadcast_to(operand(b, "at"), idx.shape), (-1,))
        for k, i in enumerate(idx):
            current = take(flat, int(i))
            new = self.func(current) if vals is None else self.func(current, vals[k])
            flat = put(flat, int(i), new)
        return reshape(flat, _np.shape(a))

    def reduceat(self, a: Any, indices: Any, axis: int = 0, dtype: Any = None,
                 out: Any = None) -> Any:
        """Reductions over [indices[i], indices[i+1]) along axis (a single element when the
        next index is not larger), as NumPy."""
        self._binary("reduceat")
        a = operand(a, "reduceat")
        (ax,) = normalize_axes("reduceat", axis, _np.ndim(a))
        n = _np.shape(a)[ax]
        starts = [int(i) for i in _np.asarray(indices).ravel()]
        outs = []
        for k, start in enumerate(starts):
            stop = starts[k + 1] if k + 1 < len(starts) else n
            stop = stop if stop > start else start + 1
            outs.append(self.reduce(_take_range(a, ax, start, stop), axis=ax))
        return stack(outs, axis=ax)


def _slices(a: Any, axis: int) -> list[Any]:
    from ._core import slice_axis

    n = _np.shape(a)[axis]
    return [reshape(slice_axis(a, axis, i, i + 1), tuple(
        d for j, d in enumerate(_np.shape(a)) if j != axis)) for i in range(n)]


def _take_range(a: Any, axis: int, start: int, stop: int) -> Any:
    from ._core import slice_axis

    return slice_axis(a, axis, start, stop)


def frompyfunc(func: Any, /, nin: int, nout: int, *, identity: Any = None) -> ufunc:
    """A ufunc from a function of arrays (made of dualjit.numpy functions)."""
    return ufunc(func, nin, nout, identity=identity)
