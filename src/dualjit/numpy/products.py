"""Products of dualjit.numpy: dot, matmul, tensordot, inner, outer, einsum."""

from __future__ import annotations

import builtins
import string
from typing import Any

import numpy as _np

from ..ir import primitives as P
from ..tracer.core import bind
from ._core import PY_SCALARS, broadcast_to, convert, joint_shape, ndim, operand, result_type, shape
from .elementwise import multiply
from .reductions import sum
from .shapes import ravel, reshape, squeeze, transpose

__all__ = ["dot_general", "matmul", "dot", "vdot", "inner", "outer", "tensordot", "einsum"]

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


def matmul(a: Any, b: Any) -> Any:
    a, b = _matmul_operands("matmul", a, b)
    sa, sb = _np.shape(a), _np.shape(b)
    a2 = reshape(a, (1,) + sa) if len(sa) == 1 else a
    b2 = reshape(b, sb + (1,)) if len(sb) == 1 else b
    sa2, sb2 = _np.shape(a2), _np.shape(b2)
    if sa2[-1] != sb2[-2]:
        raise ValueError(f"matmul: shapes {sa} and {sb} are not aligned: "
                         f"{sa2[-1]} (dim {len(sa) - 1}) != {sb2[-2]} (dim {builtins.max(len(sb) - 2, 0)})")
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


def dot(a: Any, b: Any) -> Any:
    if ndim(a) == 0 or ndim(b) == 0:
        return multiply(a, b)
    if ndim(b) <= 2:
        return matmul(a, b)
    a, b = _matmul_operands("dot", a, b)
    return tensordot(a, b, axes=((ndim(a) - 1,), (ndim(b) - 2,)))


def vdot(a: Any, b: Any) -> Any:
    return dot(ravel(a), ravel(b))


def inner(a: Any, b: Any) -> Any:
    return tensordot(a, b, axes=((ndim(a) - 1,), (ndim(b) - 1,)))


def outer(a: Any, b: Any) -> Any:
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


def einsum(subscripts: str, *operands: Any) -> Any:
    """Einstein summation over one or more operands (contracted pairwise, left to right)."""
    subscripts = subscripts.replace(" ", "")
    if "." in subscripts:
        raise ValueError("einsum: ellipsis subscripts are not supported")
    if "->" in subscripts:
        inputs, output = subscripts.split("->")
    else:
        inputs = subscripts
        letters = inputs.replace(",", "")
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    specs = inputs.split(",")
    if len(specs) != len(operands):
        raise ValueError(f"einsum: {len(specs)} operand subscripts for {len(operands)} operands")
    ops = [operand(o, "einsum") for o in operands]
    for spec, o in zip(specs, ops):
        if len(spec) != ndim(o) or builtins.any(c not in string.ascii_letters for c in spec):
            raise ValueError(f"einsum: subscripts {spec!r} do not fit operand of shape {shape(o)}")
        if len(set(spec)) != len(spec):
            raise ValueError(f"einsum: repeated subscript in {spec!r} (diagonals) is not "
                             "supported")
    dt = result_type(*ops)
    ops = [convert(o, dt) for o in ops]
    spec, acc = specs[0], ops[0]
    for i in range(1, len(ops)):
        later = "".join(specs[i + 1:]) + output
        spec, acc = _einsum_pair(spec, acc, specs[i], ops[i], later)
    # Sum indices that do not appear in the output, then order as requested.
    drop = [k for k, c in enumerate(spec) if c not in output]
    if drop:
        acc = sum(acc, axis=tuple(drop))
        spec = "".join(c for c in spec if c in output)
    return transpose(acc, [spec.index(c) for c in output])


def _einsum_pair(sa: str, a: Any, sb: str, b: Any, later: str) -> tuple[str, Any]:
    for c in set(sa) & set(sb):
        if shape(a)[sa.index(c)] != shape(b)[sb.index(c)]:
            raise ValueError(f"einsum: dimension {c!r} has sizes {shape(a)[sa.index(c)]} and "
                             f"{shape(b)[sb.index(c)]}")
    # Indices only in one operand and not needed later are summed out first.
    only_a = [k for k, c in enumerate(sa) if c not in sb and c not in later]
    if only_a:
        a = sum(a, axis=tuple(only_a))
        sa = "".join(c for c in sa if c in sb or c in later)
    only_b = [k for k, c in enumerate(sb) if c not in sa and c not in later]
    if only_b:
        b = sum(b, axis=tuple(only_b))
        sb = "".join(c for c in sb if c in sa or c in later)
    shared = [c for c in sa if c in sb]
    batch = [c for c in shared if c in later]
    contract = [c for c in shared if c not in later]
    dn = ((tuple(sa.index(c) for c in contract), tuple(sb.index(c) for c in contract)),
          (tuple(sa.index(c) for c in batch), tuple(sb.index(c) for c in batch)))
    out = bind(P.dot_general_p, a, b, dimension_numbers=dn)
    spec = ("".join(batch) + "".join(c for c in sa if c not in shared)
            + "".join(c for c in sb if c not in shared))
    return spec, out

