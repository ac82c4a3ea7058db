"""A loop nest whose value is a sum of zero-padded pieces along its last axis (the gradient of
slices: reverse mode turns `qkv[..., :d], qkv[..., d:2d], qkv[..., 2d:]` into the sum of
three pads) emitted as one loop per piece over the piece's own range.

Emitted as written, every element of such a sum checks each pad's range, clamps each index
and loads from every piece, then selects: W8's qkv-gradient assembly (f32[8,128,768]) was
the slowest loop of its backward pass. A piece here loops over its own columns only and
loads its own value; when the piece is a reshape that splits its last axis (a head merge,
`(b, s, heads, d) -> (b, s, heads * d)`), it loops over the split axes, so a transposed
head's elements are read along their rows (a vector loop). The value stored is the piece's
plus 0.0, exactly what the sum computes there (the other pieces are +0.0; adding +0.0 only
turns -0.0 into +0.0).
"""

from __future__ import annotations

import math

from llvmlite import ir as L

from ..ir import Literal, Var
from ..ir import primitives as P


def sum_of_pieces(k, group) -> list[tuple[object, int]] | None:
    """[(piece, first column)] when the group's one stored value is a sum of pads of pieces
    along its last axis with +0.0, whose ranges tile it; else None."""
    if len(group.values) != 1 or k.chunk is not None or group.bodies:
        return None
    out = group.values[0]
    if out.type.ndim == 0 or not out.type.dtype.is_float:
        return None
    if k.rows is not None and k.rows[1] >= out.type.ndim:
        return None  # a split nest whose rows include the last axis: the general loop
    pieces = _terms(k, out, group)
    if pieces is None or len(pieces) < 2:
        return None
    pieces.sort(key=lambda piece: piece[1])
    end = 0
    for x, first in pieces:
        if first != end:
            return None  # a gap or an overlap: not a tiling
        end += x.type.shape[-1]
    return pieces if end == out.type.shape[-1] else None


def _terms(k, v, group) -> list | None:
    eqn = k.segment.producer.get(v)
    if eqn is None or v in k.buffers and v is not group.values[0]:
        return None  # (a stored value is read, not recomputed: not this pattern)
    if eqn.primitive is P.add_p and all(isinstance(a, Var) for a in eqn.inputs):
        left, right = (_terms(k, a, group) for a in eqn.inputs)
        return None if left is None or right is None else left + right
    if eqn.primitive is not P.pad_p:
        return None
    x, value = eqn.inputs
    config = eqn.params["padding_config"]
    if not (isinstance(value, Literal) and value.value == 0 and math.copysign(1, value.value) > 0
            and all(c == (0, 0, 0) for c in config[:-1]) and config[-1][2] == 0
            and min(config[-1][:2]) >= 0 and isinstance(x, Var) and x.type.shape[-1] > 0):
        return None
    return [(x, config[-1][0])]


def emit(k, group, pieces) -> None:
    """The group's loop: its leading axes (the split's rows come from there), then each piece
    over its columns or over the axes its reshape splits them into."""
    out = group.values[0]
    lead = out.type.shape[:-1]
    b = k.b

    def row(outer):
        for x, first in pieces:
            source, inner = _split_source(k, x, lead)

            def element(idx, x=x, first=first, source=source, inner=inner):
                value = k.value(source, list(outer) + idx)
                column = b.add(k.linear(idx, inner), L.Constant(L.IntType(64), first))
                k.store(out, list(outer) + [column], b.fadd(value, L.Constant(value.type, 0.0)))
            k.loop_nest(inner, element)
    k.loop_nest(lead, row)


def _split_source(k, x, lead) -> tuple[object, tuple[int, ...]]:
    """(the value to read, the inner shape to loop over): a reshape of x's last axis only
    is read through (same elements in the same order), else x over its last axis."""
    eqn = k.segment.producer.get(x)
    if eqn is not None and eqn.primitive is P.reshape_p and x not in k.buffers:
        source = eqn.inputs[0]
        if isinstance(source, Var) and tuple(source.type.shape[:len(lead)]) == tuple(lead):
            return source, tuple(source.type.shape[len(lead):])
    return x, (x.type.shape[-1],)
