"""Register-blocked direct convolutions with explicit vectors (the decisions and the layout of
the copies are in conv_blocked_plan.py).

out[n, g O/G + o, q] = sum over terms (c, r) of w[g O/G + o, c, r] x[n, g I + c, q s + r d - low]:
per example and group, the input is copied into a zero-padded buffer (padding becomes
memory, the inner loop has no bounds checks), the kernel once into a packed (group, term,
output feature) buffer padded to whole vectors with zeros; then each block of output
features x output positions is summed over all terms in vector registers (one vector load
of the kernel per feature vector, one broadcast per position, a multiply-add per sum) and
stored once.
"""

from __future__ import annotations

import math

from llvmlite import ir as L

from ..ir import DType, Eqn
from .abi import strides as c_strides
from .conv import with_scratch
from .conv_blocked_plan import Blocking, padded_spatial
from .conv_plan import ConvGeometry
from .lower import I1, I8, I32, MEM, PTR, REG, KernelBuilder, const, i64
from .schedule import NO_UNROLL


def _vector_type(dtype: DType, block: Blocking) -> L.VectorType:
    return L.VectorType(REG[dtype], block.lanes)


def _splat(b: L.IRBuilder, value: L.Value, vt: L.VectorType) -> L.Value:
    undefined = L.Constant(vt, L.Undefined)
    one = b.insert_element(undefined, value, const(I32, 0))
    return b.shuffle_vector(one, undefined, L.Constant(L.VectorType(I32, vt.count),
                                                       [0] * vt.count))


def _at(k: KernelBuilder, base: L.Value, dtype: DType, index: L.Value) -> L.Value:
    return k.b.gep(base, [index], inbounds=True, source_etype=MEM[dtype])


def zero_fill(k: KernelBuilder, pointer: L.Value, dtype: DType, count: int) -> None:
    memset = k.module.declare_intrinsic("llvm.memset", [PTR, L.IntType(64)])
    k.b.call(memset, [pointer, const(I8, 0), i64(count * dtype.np.itemsize), const(I1, 0)])


def operand_index(spec, first, second, rest) -> list:
    """An operand's index in its own layout from its canonical parts."""
    idx = [None] * len(spec)
    for axis, value in zip(spec, [first, second, *rest]):
        idx[axis] = value
    return idx


def offset(k: KernelBuilder, values, scales) -> L.Value:
    """sum of values[d] * scales[d] (compile-time scales)."""
    total = i64(0)
    for v, s in zip(values, scales):
        total = k.b.add(total, k.b.mul(v, i64(s)))
    return total


def emit(k: KernelBuilder, e: Eqn, geo: ConvGeometry, block: Blocking) -> None:
    """The convolution e as blocked direct loops (its first loop: examples x groups, the one
    a split cuts, conv_blocked_plan.split_shape)."""
    padded = padded_spatial(geo)
    copy_size = geo.in_features * math.prod(padded)
    terms = geo.in_features * math.prod(geo.kernel)
    packed_size = geo.groups * terms * block.padded_features

    def body(pointers):
        copy, packed = pointers
        rows, k.rows = k.rows, None  # (the packing is all of it, in each chunk of a split)
        zero_fill(k, packed, geo.dtype, packed_size)
        _pack_kernel(k, e.inputs[1], geo, block, packed)
        zero_fill(k, copy, geo.dtype, copy_size)
        k.rows = rows
        k.loop_nest((geo.examples, geo.groups),
                    lambda ng: _example(k, e, geo, block, ng, copy, packed))
    with_scratch(k, [(geo.dtype, copy_size), (geo.dtype, packed_size)], body)


def _pack_kernel(k: KernelBuilder, w, geo: ConvGeometry, block: Blocking, packed) -> None:
    """packed[g, (c, r), o] = w[g O/G + o, c, r] (o < O/G; the rest stays zero)."""

    def copy(idx):
        g, o, c, r = idx[0], idx[1], idx[2], idx[3:]
        feature = k.b.add(k.b.mul(g, i64(geo.group_outputs)), o)
        term = k.linear([g, c, *r], [geo.groups, geo.in_features, *geo.kernel])
        at = k.b.add(k.b.mul(term, i64(block.padded_features)), o)
        value = k.load(w, operand_index(geo.rhs_spec, feature, c, r))
        k.b.store(value, _at(k, packed, geo.dtype, at))
    k.loop_nest((geo.groups, geo.group_outputs, geo.in_features, *geo.kernel), copy)


def _example(k: KernelBuilder, e: Eqn, geo: ConvGeometry, block: Blocking, ng, copy, packed):
    n, g = ng
    b = k.b
    source = b.add(n, b.mul(g, i64(geo.examples))) if geo.batch_groups > 1 else n
    copy_example(k, e.inputs[0], geo, source, g, copy)
    terms = geo.in_features * math.prod(geo.kernel)
    kernel = _at(k, packed, geo.dtype, b.mul(g, i64(terms * block.padded_features)))
    blocks = -(-block.feature_vectors // block.vectors)

    def feature_block(v):  # (the last block moved back to end at the last vector)
        first = block_start(k, v, block.vectors, block.feature_vectors)
        k.loop_nest(_position_blocks(geo, block), lambda q: _block(
            k, e, geo, block, (n, g, first, q), copy, kernel))
    k.counted_loop(blocks, feature_block)


def copy_example(k: KernelBuilder, x, geo: ConvGeometry, n, g, copy) -> None:
    """copy[c, s + low] = x[n, g I + c, s] (the padding stays zero)."""
    b = k.b
    scales = c_strides(padded_spatial(geo))
    channel = math.prod(padded_spatial(geo))

    def element(cs):
        c, s = cs[0], cs[1:]
        feature = b.add(c, b.mul(g, i64(geo.in_features))) if geo.feature_groups > 1 else c
        shifted = [b.add(v, i64(lo)) for v, lo in zip(s, geo.low)]
        at = b.add(b.mul(c, i64(channel)), offset(k, shifted, scales))
        b.store(k.load(x, operand_index(geo.lhs_spec, n, feature, s)), _at(k, copy, geo.dtype, at))
    k.loop_nest((geo.in_features, *geo.spatial), element)


def over_copied_examples(k: KernelBuilder, e: Eqn, geo: ConvGeometry, per_example) -> None:
    """The loop over examples x groups (the one a split cuts) of a lowering that reads each
    example from a zero-padded copy: per_example(n, g, copy) after the copy is made."""
    copy_size = geo.in_features * math.prod(padded_spatial(geo))

    def body(pointers):
        (copy,) = pointers
        rows, k.rows = k.rows, None
        zero_fill(k, copy, geo.dtype, copy_size)
        k.rows = rows

        def example(ng):
            n, g = ng
            source = k.b.add(n, k.b.mul(g, i64(geo.examples))) if geo.batch_groups > 1 else n
            copy_example(k, e.inputs[0], geo, source, g, copy)
            per_example(n, g, copy)
        k.loop_nest((geo.examples, geo.groups), example)
    with_scratch(k, [(geo.dtype, copy_size)], body)


def _position_blocks(geo: ConvGeometry, block: Blocking) -> tuple[int, ...]:
    """The loops over blocks of output positions: outer axes, row blocks, width blocks."""
    if len(geo.counts) == 1:
        return (-(-geo.counts[-1] // block.width),)
    return (*geo.counts[:-2], -(-geo.counts[-2] // block.rows),
            -(-geo.counts[-1] // block.width))


def block_start(k: KernelBuilder, index: L.Value, size: int, count: int) -> L.Value:
    """Block `index` of `size` positions starts here; the last one is moved back to end at
    `count` (it recomputes some outputs of the one before: stores, not sums, so harmless)."""
    b = k.b
    start = b.mul(index, i64(size))
    return b.select(b.icmp_signed(">", start, i64(count - size)), i64(count - size), start)


def _block(k: KernelBuilder, e: Eqn, geo: ConvGeometry, block: Blocking, where, copy, kernel):
    """One block of output features x positions: its sums over all terms, then the stores."""
    n, g, first_vector, q = where
    positions = list(q[:-2]) if len(geo.counts) > 1 else []
    if len(geo.counts) > 1:
        positions.append(block_start(k, q[-2], block.rows, geo.counts[-2]))
    positions.append(block_start(k, q[-1], block.width, geo.counts[-1]))
    scales = c_strides(padded_spatial(geo))
    start = offset(k, positions, [s * st for s, st in zip(scales, geo.strides)])
    first_row = positions[-2] if len(positions) > 1 else None
    sums = _sums(k, geo, block, first_vector, first_row, _at(k, copy, geo.dtype, start), kernel)
    _store_sums(k, e.outputs[0], geo, block, (n, g, first_vector, positions), sums)


def _sums(k: KernelBuilder, geo: ConvGeometry, block: Blocking, first_vector, first_row,
          x_start, kernel):
    """The block's sums over all terms (c, r): vectors x rows x width vector registers."""
    b, dtype, vt = k.b, geo.dtype, _vector_type(geo.dtype, block)
    slots = [k.alloca(vt) for _ in range(block.vectors * block.rows * block.width)]
    for slot in slots:
        b.store(L.Constant(vt, None), slot)
    scales = c_strides(padded_spatial(geo))
    row_step = scales[-2] * geo.strides[-2] if len(scales) > 1 else 0
    kernel_steps = [s * d for s, d in zip(scales, geo.rhs_dilation)]
    first = b.mul(first_vector, i64(block.lanes))
    align = dtype.np.itemsize

    def term(cr):
        c, r = cr[0], cr[1:]
        at = b.add(b.mul(k.linear(cr, (geo.in_features, *geo.kernel)),
                         i64(block.padded_features)), first)
        weights = [b.load(_at(k, kernel, dtype, b.add(at, i64(i * block.lanes))), typ=vt,
                          align=align) for i in range(block.vectors)]
        base = _at(k, x_start, dtype, b.add(b.mul(c, i64(math.prod(padded_spatial(geo)))),
                                            offset(k, r, kernel_steps)))
        for a in range(block.rows):
            for j in range(block.width):
                value = b.load(_at(k, base, dtype, i64(a * row_step + j * geo.strides[-1])),
                               typ=REG[dtype])
                value = _splat(b, value, vt)
                for i, weight in enumerate(weights):
                    slot = slots[(i * block.rows + a) * block.width + j]
                    product = b.fmul(weight, value, flags=("contract",))
                    b.store(b.fadd(b.load(slot, typ=vt), product, flags=("contract",)), slot)
    hints, k.loop_hints = k.loop_hints, NO_UNROLL  # (unrolled, LLVM spills the sums)
    term_loops(k, geo, block.rows, first_row, term)
    k.loop_hints = hints
    return [b.load(slot, typ=vt) for slot in slots]


def _store_sums(k: KernelBuilder, out, geo: ConvGeometry, block: Blocking, where, sums):
    """out[n, g O/G + o, position] for each lane o of each sum (lanes past O/G skipped)."""
    n, g, first_vector, positions = where
    b = k.b
    base_feature = b.add(b.mul(g, i64(geo.group_outputs)), b.mul(first_vector, i64(block.lanes)))
    first_feature = b.mul(first_vector, i64(block.lanes))
    for i in range(block.vectors):
        for a in range(block.rows):
            for j in range(block.width):
                q = list(positions)
                q[-1] = b.add(q[-1], i64(j))
                if len(q) > 1:
                    q[-2] = b.add(q[-2], i64(a))
                vector = sums[(i * block.rows + a) * block.width + j]
                for lane in range(block.lanes):
                    o = i * block.lanes + lane
                    index = operand_index(geo.out_spec, n, b.add(base_feature, i64(o)), q)
                    value = b.extract_element(vector, const(I32, lane))
                    if block.padded_features == geo.group_outputs:
                        k.store(out, index, value)
                        continue
                    inside = b.icmp_signed("<", b.add(first_feature, i64(o)),
                                           i64(geo.group_outputs))
                    with b.if_then(inside):
                        k.store(out, index, value)


def term_loops(k: KernelBuilder, geo: ConvGeometry, rows: int, first_row, term) -> None:
    """term([c, *r]) for every term; with padding along the rows' axis, only the kernel rows
    some row of the block reads real input from (the others read padding: zeros that add
    nothing; an input gradient's kernel is padded by its size less one, half its terms)."""
    if first_row is None or (geo.low[-2] == 0 and geo.high[-2] == 0):
        k.loop_nest((geo.in_features, *geo.kernel), term)
        return
    b, s, d, low = k.b, geo.strides[-2], geo.rhs_dilation[-2], geo.low[-2]
    below = b.sub(i64(low), b.mul(b.add(first_row, i64(rows - 1)), i64(s)))
    start = b.select(b.icmp_signed(">", below, i64(0)),
                     b.udiv(b.add(below, i64(d - 1)), i64(d)), i64(0))
    above = b.sub(i64(low + geo.spatial[-2] - 1), b.mul(first_row, i64(s)))
    end = b.add(b.sdiv(above, i64(d)), i64(1))
    end = b.select(b.icmp_signed("<", above, i64(0)), i64(0), end)
    end = b.select(b.icmp_signed(">", end, i64(geo.kernel[-2])), i64(geo.kernel[-2]), end)
    k.loop_nest((geo.in_features, *geo.kernel[:-2]), lambda outer: k.range_loop(
        start, end, lambda row: k.loop_nest(geo.kernel[-1:], lambda last: term(
            [*outer, row, *last]))))
