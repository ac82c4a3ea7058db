"""Products of dualjit.numpy: dot, matmul, tensordot, inner, outer, kron, cross, vander,
convolve and correlate (einsum has its own module)."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as _np

from ..ir import primitives as P
from ..tracer.core import bind
from ._core import (
    PY_SCALARS,
    broadcast_to,
    convert,
    joint_shape,
    ndim,
    operand,
    refuse_out,
    result_type,
    shape,
    static_int,
)
from .elementwise import multiply, subtract
from .reductions import sum
from .shapes import (
    broadcast_arrays,
    expand_dims,
    flip,
    moveaxis,
    ravel,
    reshape,
    squeeze,
    stack,
)

__all__ = ["dot_general", "matmul", "dot", "vdot", "inner", "outer", "tensordot", "matvec",
           "vecmat", "vecdot", "kron", "cross", "vander", "convolve", "correlate"]

def dot_general(lhs: Any, rhs: Any, dimension_numbers: Any) -> Any:
    lhs, rhs = (convert(operand(a, "dot_general"), result_type(lhs, rhs)) for a in (lhs, rhs))
    (lc, rc), (lb, rb) = dimension_numbers
    dn = ((tuple(lc), tuple(rc)), (tuple(lb), tuple(rb)))
    return bind(P.dot_general_p, lhs, rhs, dimension_numbers=dn)


def _matmul_operands(op: str, a: Any, b: Any) -> tuple[Any, Any]:
    a, b = operand(a, op), operand(b, op)
    if type(a) in PY_SCALARS or type(b) in PY_SCALARS or ndim(a) == 0 or ndim(b) == 0:
        raise ValueError(f"{op}: operands must not be scalars (use multiply)")
    dt = result_type(a, b)
    if dt == _np.dtype(bool):
        raise TypeError(f"{op}: bool operands are not supported")
    return convert(a, dt), convert(b, dt)


def matmul(a: Any, b: Any, out: Any = None) -> Any:
    refuse_out("matmul", out)
    a, b = _matmul_operands("matmul", a, b)
    sa, sb = _np.shape(a), _np.shape(b)
    a2 = reshape(a, (1,) + sa) if len(sa) == 1 else a
    b2 = reshape(b, sb + (1,)) if len(sb) == 1 else b
    sa2, sb2 = _np.shape(a2), _np.shape(b2)
    if sa2[-1] != sb2[-2]:
        raise ValueError(f"matmul: shapes {sa} and {sb} are not aligned: "
                         f"{sa2[-1]} (dim {len(sa) - 1}) != {sb2[-2]} (dim {builtins.max(len(sb) - 2, 0)})")
    if len(sb) == 2 and len(sa) > 2:  # a stack times one matrix: no broadcast copies of b
        return bind(P.dot_general_p, a, b, dimension_numbers=(((len(sa) - 1,), (0,)), ((), ())))
    batch = joint_shape("matmul", sa2[:-2], sb2[:-2])
    a2 = broadcast_to(a2, batch + sa2[-2:])
    b2 = broadcast_to(b2, batch + sb2[-2:])
    nb = len(batch)
    out = bind(P.dot_general_p, a2, b2, dimension_numbers=(
        ((nb + 1,), (nb,)), (tuple(range(nb)), tuple(range(nb)))))
    if len(sa) == 1:
        out = squeeze(out, -2)
    if len(sb) == 1:
        out = squeeze(out, -1)
    return out


def dot(a: Any, b: Any, out: Any = None) -> Any:
    refuse_out("dot", out)
    if ndim(a) == 0 or ndim(b) == 0:
        return multiply(a, b)
    if ndim(b) <= 2:
        return matmul(a, b)
    a, b = _matmul_operands("dot", a, b)
    return tensordot(a, b, axes=((ndim(a) - 1,), (ndim(b) - 2,)))


def vdot(a: Any, b: Any) -> Any:
    return dot(ravel(a), ravel(b))


def inner(a: Any, b: Any) -> Any:
    if ndim(a) == 0 or ndim(b) == 0:
        return multiply(a, b)
    return tensordot(a, b, axes=((ndim(a) - 1,), (ndim(b) - 1,)))


def outer(a: Any, b: Any, out: Any = None) -> Any:
    refuse_out("outer", out)
    return multiply(reshape(a, (-1, 1)), reshape(b, (1, -1)))


def tensordot(a: Any, b: Any, axes: Any = 2) -> Any:
    a, b = _matmul_operands("tensordot", a, b)
    if isinstance(axes, int):
        la = tuple(range(ndim(a) - axes, ndim(a)))
        lb = tuple(range(axes))
    else:
        la, lb = ((x,) if isinstance(x, int) else tuple(x) for x in axes)
        la = tuple(int(x) % ndim(a) for x in la)
        lb = tuple(int(x) % ndim(b) for x in lb)
    if builtins.any(shape(a)[i] != shape(b)[j] for i, j in zip(la, lb)) or len(la) != len(lb):
        raise ValueError(f"tensordot: shape-mismatch for sum: {shape(a)} axes {la} vs "
                         f"{shape(b)} axes {lb}")
    return bind(P.dot_general_p, a, b, dimension_numbers=((la, lb), ((), ())))


def matvec(x1: Any, x2: Any, /) -> Any:
    """Matrix-vector products over the last axes: (..., m, n) x (..., n) -> (..., m)."""
    x1, x2 = operand(x1, "matvec"), operand(x2, "matvec")
    if ndim(x1) < 2 or ndim(x2) < 1:
        raise ValueError("matvec: needs a matrix stack and a vector stack")
    return squeeze(matmul(x1, expand_dims(x2, -1)), -1)


def vecmat(x1: Any, x2: Any, /) -> Any:
    """Vector-matrix products over the last axes: (..., n) x (..., n, m) -> (..., m)."""
    x1, x2 = operand(x1, "vecmat"), operand(x2, "vecmat")
    if ndim(x1) < 1 or ndim(x2) < 2:
        raise ValueError("vecmat: needs a vector stack and a matrix stack")
    return squeeze(matmul(expand_dims(x1, -2), x2), -2)


def vecdot(x1: Any, x2: Any, /, *, axis: int = -1) -> Any:
    """Dot products of vectors along axis (broadcasting the other axes)."""
    x1, x2 = operand(x1, "vecdot"), operand(x2, "vecdot")
    if shape(x1)[axis] != shape(x2)[axis]:
        raise ValueError(f"vecdot: axis {axis} has sizes {shape(x1)[axis]} and {shape(x2)[axis]}")
    return sum(multiply(x1, x2), axis=axis)


def kron(a: Any, b: Any) -> Any:
    """Kronecker product: blocks a[i, j] * b."""
    a, b = operand(a, "kron"), operand(b, "kron")
    nd = builtins.max(ndim(a), ndim(b))
    sa = (1,) * (nd - ndim(a)) + tuple(shape(a))
    sb = (1,) * (nd - ndim(b)) + tuple(shape(b))
    a = reshape(a, [d for s in sa for d in (s, 1)])
    b = reshape(b, [d for s in sb for d in (1, s)])
    return reshape(multiply(a, b), [x * y for x, y in zip(sa, sb)])


def cross(a: Any, b: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1,
          axis: int | None = None) -> Any:
    """Cross products of 3-vectors (2-vectors give the z component), along the given axes."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a = moveaxis(operand(a, "cross"), axisa, -1)
    b = moveaxis(operand(b, "cross"), axisb, -1)
    na, nb = shape(a)[-1], shape(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError("cross: incompatible dimensions for cross product (dimension must "
                         "be 2 or 3)")
    dt = result_type(a, b)
    a0, a1 = _component(a, 0), _component(a, 1)
    b0, b1 = _component(b, 0), _component(b, 1)
    a2 = _component(a, 2) if na == 3 else None
    b2 = _component(b, 2) if nb == 3 else None
    z = subtract(multiply(a0, b1), multiply(a1, b0))
    if a2 is None and b2 is None:
        return convert(z, dt)
    zero = _np.asarray(0, dt)[()]
    a2 = zero if a2 is None else a2
    b2 = zero if b2 is None else b2
    x = subtract(multiply(a1, b2), multiply(a2, b1))
    y = subtract(multiply(a2, b0), multiply(a0, b2))
    out = stack(broadcast_arrays(x, y, z), axis=-1)
    return moveaxis(convert(out, dt), -1, axisc)


def _component(v: Any, i: int) -> Any:
    from ._core import slice_axis

    n = ndim(v)
    return squeeze(slice_axis(v, n - 1, i, i + 1), n - 1)


def vander(x: Any, N: int | None = None, increasing: bool = False) -> Any:
    """Columns x**(N-1), ..., x**0 (increasing: the other way), as exact integer powers."""
    x = operand(x, "vander")
    if ndim(x) != 1:
        raise ValueError("vander: x must be a one-dimensional array or sequence")
    n = shape(x)[0] if N is None else static_int(N, "N", "vander")
    x = convert(x, result_type(x))
    columns = [bind(P.integer_pow_p, x, y=k) for k in range(n)]
    if not increasing:
        columns = columns[::-1]
    if not columns:
        return reshape(x, (shape(x)[0], 0)) if shape(x)[0] == 0 else \
            broadcast_to(_np.zeros((), result_type(x)), (shape(x)[0], 0))
    return stack(columns, axis=1)


def convolve(a: Any, v: Any, mode: str = "full", *, precision: Any = None,
             preferred_element_type: Any = None) -> Any:
    """Discrete linear convolution of two 1-D arrays ('full', 'same' or 'valid')."""
    a, v = operand(a, "convolve"), operand(v, "convolve")
    if ndim(a) != 1 or ndim(v) != 1:
        raise ValueError("convolve: a and v must be one-dimensional")
    if shape(a)[0] == 0 or shape(v)[0] == 0:
        raise ValueError("convolve: a and v cannot be empty")
    if shape(v)[0] > shape(a)[0]:
        a, v = v, a
    dt = result_type(a, v)
    a, v = convert(a, dt), convert(v, dt)
    n, m = shape(a)[0], shape(v)[0]
    padded = bind(P.pad_p, a, _np.asarray(0, dt)[()], padding_config=((m - 1, m - 1, 0),))
    windows = _np.arange(n + m - 1)[:, None] + _np.arange(m)[None, :]
    rows = bind(P.gather_p, padded, windows.astype(_np.int64), axis=0)
    full = bind(P.dot_general_p, rows, flip(v), dimension_numbers=(((1,), (0,)), ((), ())))
    if mode == "full":
        return full
    if mode == "same":
        start = (m - 1) // 2
        return _slice1(full, start, start + n)
    if mode == "valid":
        return _slice1(full, m - 1, n)
    raise ValueError(f"convolve: mode must be 'full', 'same' or 'valid', got {mode!r}")


def _slice1(x: Any, lo: int, hi: int) -> Any:
    from ._core import slice_axis

    return slice_axis(x, 0, lo, hi)


def correlate(a: Any, v: Any, mode: str = "valid", *, precision: Any = None,
              preferred_element_type: Any = None) -> Any:
    """Cross-correlation of two 1-D arrays: sum_n a[n + k] * v[n] ('valid', 'same', 'full')."""
    a, v = operand(a, "correlate"), operand(v, "correlate")
    if ndim(a) != 1 or ndim(v) != 1:
        raise ValueError("correlate: a and v must be one-dimensional")
    if shape(v)[0] > shape(a)[0]:
        return flip(convolve(v, flip(a), mode))
    return convolve(a, flip(v), mode)
