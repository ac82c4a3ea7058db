"""Direct convolutions with few output features in vector registers along the output rows
(the decision: conv_plan.row_vectors; the plan of a block: conv_plan.row_vector_block).

out[n, g O/G + f, q, x] = sum over terms (c, r) of w[g O/G + f, c, r] xpad[n, c, q s + r d]
(xpad: one example's input copied into a zero-padded buffer, conv_blocked.copy_example).
Register-blocked convolutions (conv_blocked.py) keep output features in the lanes: with 6
features (W7's conv1 and its input gradient) a quarter of every vector is padding, and each
term costs a load of the kernel vector plus one broadcast per output position, about one
load per multiply-add. Here a block is F features x R rows x V vectors of LANES positions
along the last axis: per term, R x V unaligned loads of shifted input runs and F
broadcasts of weights serve F x R x V multiply-adds. The last blocks along the rows and the
last axis are moved back to end at the output's end (recomputing some outputs: stores).
"""

from __future__ import annotations

import math

from llvmlite import ir as L

from ..ir import Eqn
from . import (
    conv_blocked,  # (by module: conv_blocked may be importing when we are)
    conv_depthwise,
)
from .abi import strides as c_strides
from .conv_blocked_plan import padded_spatial
from .conv_plan import ConvGeometry, RowVectorBlock, row_vector_block
from .lower import I32, MEM, KernelBuilder, const, i64
from .schedule import NO_UNROLL


def emit(k: KernelBuilder, e: Eqn, geo: ConvGeometry) -> None:
    """The convolution e in row vectors (its first loop: examples x groups)."""
    conv_blocked.over_copied_examples(
        k, e, geo, lambda n, g, copy: _example(k, e, geo, n, g, copy))


def _example(k: KernelBuilder, e: Eqn, geo: ConvGeometry, n, g, copy) -> None:
    block = row_vector_block(geo)
    span = block.vectors * conv_depthwise.vector_type(geo.dtype).count
    two_d = len(geo.counts) > 1
    loops = (-(-geo.group_outputs // block.features), *geo.counts[:-2],
             *((-(-geo.counts[-2] // block.rows),) if two_d else ()),
             -(-geo.counts[-1] // span))

    def each(idx):
        first = conv_blocked.block_start(k, idx[0], block.features, geo.group_outputs)
        q = list(idx[1:-1])
        if two_d:
            q[-1] = conv_blocked.block_start(k, q[-1], block.rows, geo.counts[-2])
        x = conv_blocked.block_start(k, idx[-1], span, geo.counts[-1])
        _block(k, e, geo, block, (n, g, first, q, x), copy)
    hints, k.loop_hints = k.loop_hints, NO_UNROLL  # (unrolled, LLVM spills the sums)
    k.loop_nest(loops, each)
    k.loop_hints = hints


def _block(k: KernelBuilder, e: Eqn, geo: ConvGeometry, block: RowVectorBlock, where, copy):
    """Features first.. + F, rows q[-1].. + R, positions x.. + V LANES: sums, then stores."""
    n, g, first, q, x = where
    b, vt = k.b, conv_depthwise.vector_type(geo.dtype)
    lanes, padded = vt.count, padded_spatial(geo)
    scales = c_strides(padded)
    features = [b.add(b.add(b.mul(g, i64(geo.group_outputs)), first), i64(f))
                for f in range(block.features)]
    slots = [k.alloca(vt) for _ in range(block.features * block.rows * block.vectors)]
    for slot in slots:
        b.store(L.Constant(vt, [0.0] * lanes), slot)
    row_step = scales[-2] * geo.strides[-2] if len(scales) > 1 else 0
    start = b.add(conv_blocked.offset(k, q, [s * st for s, st in zip(scales, geo.strides)]), x)

    def term(cr):  # (the input runs first, then one weight at a time: 12 sums + 2 + 1
        # registers; all weights first, LLVM spilled sums inside the loop)
        c, r = cr[0], cr[1:]
        at = b.add(b.add(b.mul(c, i64(math.prod(padded))), start),
                   conv_blocked.offset(k, r, [s * d for s, d in zip(scales, geo.rhs_dilation)]))
        runs = [b.load(b.gep(copy, [b.add(at, i64(a * row_step + v * lanes))], inbounds=True,
                             source_etype=MEM[geo.dtype]), typ=vt, align=geo.dtype.np.itemsize)
                for a in range(block.rows) for v in range(block.vectors)]
        for f, feature in enumerate(features):
            at_weight = conv_blocked.operand_index(geo.rhs_spec, feature, c, r)
            weight = _splat(k, k.load(e.inputs[1], at_weight), vt)
            for j, run in enumerate(runs):
                slot = slots[f * len(runs) + j]
                product = b.fmul(weight, run, flags=("contract",))
                b.store(b.fadd(b.load(slot, typ=vt), product, flags=("contract",)), slot)
    conv_blocked.term_loops(k, geo, block.rows, q[-1] if len(geo.counts) > 1 else None, term)
    _store(k, e.outputs[0], geo, block, (n, features, q, x), [b.load(s, typ=vt) for s in slots])


def _store(k: KernelBuilder, out, geo: ConvGeometry, block: RowVectorBlock, where, sums):
    """out[n, feature, q + a, x + v LANES + lane] for every sum and lane: one vector store
    where the output's last axis is innermost, else lane by lane."""
    n, features, q, x = where
    b, lanes = k.b, conv_depthwise.vector_type(geo.dtype).count
    contiguous = geo.out_spec[-1] == len(geo.out_spec) - 1
    for f, feature in enumerate(features):
        for a in range(block.rows):
            rows = list(q)
            if rows:
                rows[-1] = b.add(rows[-1], i64(a))
            for v in range(block.vectors):
                vector = sums[(f * block.rows + a) * block.vectors + v]
                at = b.add(x, i64(v * lanes))
                if contiguous:
                    index = conv_blocked.operand_index(geo.out_spec, n, feature, [*rows, at])
                    pointer = b.gep(k.buffers[out], [k.linear(index, out.type.shape)],
                                    inbounds=True, source_etype=MEM[geo.dtype])
                    b.store(vector, pointer, align=geo.dtype.np.itemsize)
                    continue
                for lane in range(lanes):
                    index = conv_blocked.operand_index(geo.out_spec, n, feature,
                                                       [*rows, b.add(at, i64(lane))])
                    k.store(out, index, b.extract_element(vector, const(I32, lane)))


def _splat(k: KernelBuilder, value: L.Value, vt: L.VectorType) -> L.Value:
    one = k.b.insert_element(L.Constant(vt, None), value, const(I32, 0))
    return k.b.shuffle_vector(one, L.Constant(vt, None),
                              L.Constant(L.VectorType(I32, vt.count), [0] * vt.count))
