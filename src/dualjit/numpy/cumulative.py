"""Cumulative operations of dualjit.numpy: cumsum, cumprod, diff, gradient, trapezoid, unwrap."""

from __future__ import annotations

from typing import Any

import numpy as _np

from ..ir import as_dtype
from ..ir import primitives as P
from ..tracer.core import bind
from ._core import (
    PY_SCALARS,
    broadcast_to,
    convert,
    float_dtype,
    normalize_axes,
    operand,
    refuse_out,
    result_type,
    slice_axis,
    static_int,
)
from .elementwise import (
    abs,
    add,
    divide,
    equal,
    greater,
    isnan,
    less,
    logical_and,
    multiply,
    negative,
    not_equal,
    remainder,
    subtract,
    where,
)
from .reductions import sum
from .shapes import concatenate, ravel, reshape

__all__ = ["cumsum", "cumprod", "cumulative_sum", "cumulative_prod", "nancumsum", "nancumprod",
           "diff", "ediff1d", "trapezoid", "gradient", "unwrap"]


def _scan(prim, op: str, a: Any, axis: Any, dtype: Any, reverse: bool = False) -> Any:
    a = operand(a, op)
    if type(a) in PY_SCALARS or _np.ndim(a) == 0:
        a = reshape(a, (1,)) if axis is None else a
    if axis is None:
        a, axis = ravel(a), 0
    (ax,) = normalize_axes(op, axis, _np.ndim(a))
    dt = as_dtype(dtype).np if dtype is not None else result_type(a)
    if dtype is None and dt.kind in "biu" and dt.itemsize < 8 and prim in (P.cumsum_p,
                                                                           P.cumprod_p):
        # NumPy accumulates bools and narrow integers in 64 bits, unsigned ones unsigned
        dt = _np.dtype(_np.uint64 if dt.kind == "u" else _np.int64)
    a = convert(a, dt)
    if _np.shape(a)[ax] == 0:
        return a
    return bind(prim, a, axis=ax, reverse=reverse)


def cumsum(a: Any, axis: int | None = None, dtype: Any = None, out: Any = None) -> Any:
    """Running sums along `axis` (the flattened array when None)."""
    refuse_out("cumsum", out)
    return _scan(P.cumsum_p, "cumsum", a, axis, dtype)


def cumprod(a: Any, axis: int | None = None, dtype: Any = None, out: Any = None) -> Any:
    """Running products along `axis`; derivatives are exact where elements are zero."""
    refuse_out("cumprod", out)
    return _scan(P.cumprod_p, "cumprod", a, axis, dtype)


def _with_initial(op: str, scanned: Any, axis: int, value: float) -> Any:
    shape = list(_np.shape(scanned))
    shape[axis] = 1
    start = broadcast_to(_np.asarray(value, result_type(scanned))[()], shape)
    return concatenate([start, scanned], axis=axis)


def _cumulative(prim, op: str, x: Any, axis: int | None, dtype: Any, include_initial: bool,
                initial: float) -> Any:
    x = operand(x, op)
    if axis is None:
        if _np.ndim(x) > 1:
            raise ValueError(f"{op}: axis must be given for arrays of more than one dimension")
        axis = 0
    if _np.ndim(x) == 0:
        raise ValueError(f"{op}: needs an array of at least one dimension")
    scanned = _scan(prim, op, x, axis, dtype)
    if not include_initial:
        return scanned
    return _with_initial(op, scanned, normalize_axes(op, axis, _np.ndim(x))[0], initial)


def cumulative_sum(x: Any, /, *, axis: int | None = None, dtype: Any = None, out: Any = None,
                   include_initial: bool = False) -> Any:
    refuse_out("cumulative_sum", out)
    return _cumulative(P.cumsum_p, "cumulative_sum", x, axis, dtype, include_initial, 0)


def cumulative_prod(x: Any, /, *, axis: int | None = None, dtype: Any = None, out: Any = None,
                    include_initial: bool = False) -> Any:
    refuse_out("cumulative_prod", out)
    return _cumulative(P.cumprod_p, "cumulative_prod", x, axis, dtype, include_initial, 1)


def nancumsum(a: Any, axis: int | None = None, dtype: Any = None, out: Any = None) -> Any:
    """cumsum with NaNs counted as zero."""
    a = operand(a, "nancumsum")
    return cumsum(where(isnan(a), 0, a) if result_type(a).kind == "f" else a, axis, dtype, out)


def nancumprod(a: Any, axis: int | None = None, dtype: Any = None, out: Any = None) -> Any:
    """cumprod with NaNs counted as one."""
    a = operand(a, "nancumprod")
    return cumprod(where(isnan(a), 1, a) if result_type(a).kind == "f" else a, axis, dtype, out)


# ---------------------------------------------------------------------------------------------
# Differences and integrals
# ---------------------------------------------------------------------------------------------

def diff(a: Any, n: int = 1, axis: int = -1, prepend: Any = None, append: Any = None) -> Any:
    """The n-th discrete difference along `axis` (bool arrays: not_equal, as NumPy)."""
    a = operand(a, "diff")
    n = static_int(n, "n", "diff")
    if n < 0:
        raise ValueError(f"diff: order must be non-negative but got {n}")
    if _np.ndim(a) == 0:
        raise ValueError("diff: requires input that is at least one dimensional")
    (ax,) = normalize_axes("diff", axis, _np.ndim(a))
    parts = [_edge(prepend, a, ax, "diff"), a, _edge(append, a, ax, "diff")]
    parts = [p for p in parts if p is not None]
    a = concatenate(parts, axis=ax) if len(parts) > 1 else a
    for _ in range(n):
        length = _np.shape(a)[ax]
        later, earlier = slice_axis(a, ax, 1, length), slice_axis(a, ax, 0, max(length - 1, 0))
        a = not_equal(later, earlier) if result_type(a).kind == "b" else subtract(later, earlier)
    return a


def _edge(value: Any, a: Any, axis: int, op: str) -> Any:
    if value is None:
        return None
    value = operand(value, op)
    if _np.ndim(value) == 0:
        shape = list(_np.shape(a))
        shape[axis] = 1
        value = broadcast_to(value, shape)
    return value


def ediff1d(ary: Any, to_end: Any = None, to_begin: Any = None) -> Any:
    """Differences of the flattened array, with optional values before and after."""
    flat = ravel(operand(ary, "ediff1d"))
    parts = [] if to_begin is None else [ravel(convert(operand(to_begin, "ediff1d"),
                                                        result_type(flat)))]
    parts.append(diff(flat))
    if to_end is not None:
        parts.append(ravel(convert(operand(to_end, "ediff1d"), result_type(flat))))
    return concatenate(parts) if len(parts) > 1 else parts[0]


def trapezoid(y: Any, x: Any = None, dx: float = 1.0, axis: int = -1) -> Any:
    """The integral of y along `axis` by the trapezoidal rule (samples at x, or spacing dx)."""
    y = operand(y, "trapezoid")
    (ax,) = normalize_axes("trapezoid", axis, _np.ndim(y))
    length = _np.shape(y)[ax]
    if x is None:
        widths = dx
    else:
        x = operand(x, "trapezoid")
        widths = diff(x, axis=-1 if _np.ndim(x) == 1 else ax)
        if _np.ndim(x) == 1:
            shape = [1] * _np.ndim(y)
            shape[ax] = length - 1
            widths = reshape(widths, shape)
    heights = add(slice_axis(y, ax, 1, length), slice_axis(y, ax, 0, max(length - 1, 0)))
    return divide(sum(multiply(widths, heights), axis=ax), 2.0)


def gradient(f: Any, *varargs: Any, axis: Any = None, edge_order: int = 1) -> Any:
    """Central differences inside, one-sided at the edges (NumPy's second-order-accurate
    scheme); spacing per axis is a scalar or a coordinate array."""
    f = operand(f, "gradient")
    f = convert(f, float_dtype(f))
    axes = normalize_axes("gradient", axis, _np.ndim(f)) if axis is not None else \
        tuple(range(_np.ndim(f)))
    if isinstance(axis, int):
        axes = (axes[0],)
    spacings = _spacings(varargs, axes)
    if edge_order not in (1, 2):
        raise ValueError("gradient: edge_order must be 1 or 2")
    out = [_gradient_along(f, ax, h, edge_order) for ax, h in zip(axes, spacings)]
    return out[0] if len(out) == 1 else out


def _spacings(varargs, axes) -> list[Any]:
    if not varargs:
        return [1.0] * len(axes)
    if len(varargs) == 1 and _np.ndim(varargs[0]) == 0:
        return [varargs[0]] * len(axes)
    if len(varargs) != len(axes):
        raise TypeError(f"gradient: {len(varargs)} spacings given for {len(axes)} axes")
    return list(varargs)


def _gradient_along(f: Any, ax: int, h: Any, edge_order: int) -> Any:
    n = _np.shape(f)[ax]
    if n < edge_order + 1:
        raise ValueError("gradient: shape of the array along an axis must be at least "
                         "edge_order + 1")
    nd = _np.ndim(f)

    def part(lo, hi):
        return slice_axis(f, ax, lo, hi)

    def along(v):  # a 1-D array of the axis length as a broadcastable column
        shape = [1] * nd
        shape[ax] = _np.shape(v)[0]
        return reshape(v, shape)

    if _np.ndim(h) == 0:
        h = h if type(h) in PY_SCALARS else convert(operand(h, "gradient"), result_type(f))
        twice = h * 2.0 if type(h) in PY_SCALARS else multiply(h, 2.0)
        interior = divide(subtract(part(2, n), part(0, n - 2)), twice)
        if edge_order == 1:
            first = divide(subtract(part(1, 2), part(0, 1)), h)
            last = divide(subtract(part(n - 1, n), part(n - 2, n - 1)), h)
        else:
            first = divide(add(add(multiply(part(0, 1), -1.5), multiply(part(1, 2), 2.0)),
                               multiply(part(2, 3), -0.5)), h)
            last = divide(add(add(multiply(part(n - 3, n - 2), 0.5),
                                  multiply(part(n - 2, n - 1), -2.0)),
                              multiply(part(n - 1, n), 1.5)), h)
        return concatenate([first, interior, last], axis=ax)
    x = convert(operand(h, "gradient"), result_type(f))
    dx = diff(x)
    dx1, dx2 = along(slice_axis(dx, 0, 0, n - 2)), along(slice_axis(dx, 0, 1, n - 1))
    a = negative(divide(dx2, multiply(dx1, add(dx1, dx2))))
    b = divide(subtract(dx2, dx1), multiply(dx1, dx2))
    c = divide(dx1, multiply(dx2, add(dx1, dx2)))
    interior = add(add(multiply(a, part(0, n - 2)), multiply(b, part(1, n - 1))),
                   multiply(c, part(2, n)))
    d0, dl = slice_axis(dx, 0, 0, 1), slice_axis(dx, 0, n - 2, n - 1)
    if edge_order == 1:
        first = divide(subtract(part(1, 2), part(0, 1)), along(d0))
        last = divide(subtract(part(n - 1, n), part(n - 2, n - 1)), along(dl))
    else:
        first, last = _second_order_edges(part, dx, n, along)
    return concatenate([first, interior, last], axis=ax)


def _second_order_edges(part, dx, n, along):
    d1, d2 = along(slice_axis(dx, 0, 0, 1)), along(slice_axis(dx, 0, 1, 2))
    a = negative(divide(add(multiply(d1, 2.0), d2), multiply(d1, add(d1, d2))))
    b = divide(add(d1, d2), multiply(d1, d2))
    c = negative(divide(d1, multiply(d2, add(d1, d2))))
    first = add(add(multiply(a, part(0, 1)), multiply(b, part(1, 2))), multiply(c, part(2, 3)))
    d1, d2 = along(slice_axis(dx, 0, n - 3, n - 2)), along(slice_axis(dx, 0, n - 2, n - 1))
    a = divide(d2, multiply(d1, add(d1, d2)))
    b = negative(divide(add(d2, d1), multiply(d1, d2)))
    c = divide(add(multiply(d2, 2.0), d1), multiply(d2, add(d1, d2)))
    last = add(add(multiply(a, part(n - 3, n - 2)), multiply(b, part(n - 2, n - 1))),
               multiply(c, part(n - 1, n)))
    return first, last


def unwrap(p: Any, discont: float | None = None, axis: int = -1, *,
           period: float = 2 * _np.pi) -> Any:
    """Unwrap phase jumps larger than `discont` (default period/2) by multiples of `period`."""
    p = operand(p, "unwrap")
    p = convert(p, float_dtype(p))
    (ax,) = normalize_axes("unwrap", axis, _np.ndim(p))
    discont = period / 2 if discont is None else discont
    n = _np.shape(p)[ax]
    if n < 2:
        return p
    dd = diff(p, axis=ax)
    half = period / 2
    ddmod = subtract(remainder(add(dd, half), period), half)
    at_boundary = logical_and(equal(ddmod, -half), greater(dd, 0))
    ddmod = where(at_boundary, half, ddmod)
    correction = subtract(ddmod, dd)
    correction = where(less(abs(dd), discont), 0.0, correction)
    fixed = concatenate([slice_axis(p, ax, 0, 1),
                         add(slice_axis(p, ax, 1, n), cumsum(correction, axis=ax))], axis=ax)
    return fixed
