"""Direct convolutions and dots along the kernel in explicit vector registers (the decisions
are conv_plan.vector_rows and conv_plan.vector_dots): depthwise convolutions, their input
gradients (the same with the kernel flipped) and their kernel gradients.

A row of outputs along the last spatial axis reads each of its terms (input feature, kernel
offset) as a shifted contiguous run of the input. Positions whose every term lies inside
the input are computed VECTOR_BYTES at a time: each term's weight broadcast to a register,
multiplied by an unaligned load of the shifted run and added to one accumulator, which is
stored once (the scalar loops of conv.py read and wrote the output row once per term). The
few positions near the edges sum only their terms inside the input, one at a time.

Dots compute all outputs of a row along the last axis at once: each block of the kernel row
is loaded once and multiplied by the input run shifted for each output, one accumulator
register per output, summed across lanes at the end.

Every output is computed whole by one loop iteration in an order fixed by the shapes, so a
convolution split across threads over its outputs gives the same bits on any thread count.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from llvmlite import ir as L

from ..ir import DType, Eqn
from .conv_plan import ConvGeometry
from .lower import I32, MEM, REG, KernelBuilder, clamp_index, const, i64, select_value

VECTOR_BYTES = 32  # one AVX register; LLVM splits it into two where there are only 16-byte ones

# ---------------------------------------------------------------------------------------------
# Vector helpers
# ---------------------------------------------------------------------------------------------


def vector_type(dtype: DType) -> L.VectorType:
    return L.VectorType(REG[dtype], VECTOR_BYTES // dtype.np.itemsize)


def _element(k: KernelBuilder, dtype: DType, base: L.Value, index: L.Value) -> L.Value:
    return k.b.gep(base, [index], inbounds=True, source_etype=MEM[dtype])


def _load_vector(k: KernelBuilder, dtype: DType, base: L.Value, index: L.Value) -> L.Value:
    return k.b.load(_element(k, dtype, base, index), typ=vector_type(dtype),
                    align=dtype.np.itemsize)


def _store_vector(k: KernelBuilder, dtype: DType, base, index, value) -> None:
    k.b.store(value, _element(k, dtype, base, index), align=dtype.np.itemsize)


def _splat(k: KernelBuilder, dtype: DType, value: L.Value) -> L.Value:
    vt = vector_type(dtype)
    one = k.b.insert_element(L.Constant(vt, None), value, const(I32, 0))
    return k.b.shuffle_vector(one, L.Constant(vt, None), L.Constant(L.VectorType(I32, vt.count),
                                                                    [0] * vt.count))


def _multiply_add(k: KernelBuilder, acc: L.Value, x: L.Value, y: L.Value) -> L.Value:
    """acc + x * y, which LLVM may contract to one fused multiply-add (as conv.py's loops)."""
    product = k.b.fmul(x, y, flags=("contract",))
    return k.b.fadd(acc, product, flags=("contract",))


def _lane_sum(k: KernelBuilder, dtype: DType, vector: L.Value) -> L.Value:
    total = const(REG[dtype], 0.0)
    for lane in range(vector_type(dtype).count):
        total = k.b.fadd(total, k.b.extract_element(vector, const(I32, lane)))
    return total


def _zeros(dtype: DType) -> L.Constant:
    return L.Constant(vector_type(dtype), [0.0] * vector_type(dtype).count)


# ---------------------------------------------------------------------------------------------
# Rows of operands: pointers to the start of a run along the last axis
# ---------------------------------------------------------------------------------------------


def _row(k: KernelBuilder, var, spec, first, second, rest: Sequence) -> L.Value:
    """A pointer to var's element (first, second, *rest, 0) in canonical axes (the last
    canonical axis is var's innermost one: conv_plan.vector_rows and vector_dots)."""
    idx: list = [None] * len(spec)
    for axis, value in zip(spec, [first, second, *rest, i64(0)]):
        idx[axis] = value
    dtype = var.type.dtype
    return _element(k, dtype, k.buffers[var], k.linear(idx, var.type.shape))


def _outer_sources(k: KernelBuilder, geo: ConvGeometry, positions, offsets) -> list:
    """The input index along each spatial axis but the last (always inside the input:
    conv_plan's _outer_axes_inside)."""
    b = k.b
    return [b.add(b.mul(q, i64(geo.strides[d])), i64(offset * geo.rhs_dilation[d] - geo.low[d]))
            for d, (q, offset) in enumerate(zip(positions, offsets))]


def _group_indices(k: KernelBuilder, geo: ConvGeometry, g, n, o, c):
    """(input example, input feature, output feature) of output example n, feature o of
    group g, reading the group's input feature c."""
    b = k.b
    example = b.add(n, b.mul(g, i64(geo.examples))) if geo.batch_groups > 1 else n
    channel = b.add(c, b.mul(g, i64(geo.in_features))) if geo.feature_groups > 1 else c
    return example, channel, b.add(b.mul(g, i64(geo.group_outputs)), o)


def _terms(geo: ConvGeometry) -> list[tuple[int, tuple[int, ...]]]:
    """(input feature, kernel offsets) of every term of an output, in summation order."""
    return [(c, tuple(int(v) for v in offsets)) for c in range(geo.in_features)
            for offsets in np.ndindex(*geo.kernel)]


def _inside(length: int, shifts: Sequence[int], size: int) -> tuple[int, int]:
    """[start, end): the positions v of [0, length) with 0 <= v + shift < size for every
    shift (compile-time: window strides 1 along the axis)."""
    start = min(length, max(0, -min(shifts)))
    return start, max(start, min(length, size - max(shifts)))


# ---------------------------------------------------------------------------------------------
# Direct convolutions: rows of outputs in vector registers
# ---------------------------------------------------------------------------------------------


def conv_rows(k: KernelBuilder, e: Eqn, geo: ConvGeometry) -> None:
    """out[n, o, q, v] = sum over terms (c, offsets) of w[o, c, offsets] x[n, c, sources(q,
    offsets), v + offsets[-1] dilation - low], a row along v at a time (conv_plan.vector_rows)."""
    (x, w), out = e.inputs, e.outputs[0]
    terms, last = _terms(geo), len(geo.counts) - 1
    shifts = [offsets[last] * geo.rhs_dilation[last] - geo.low[last] for _, offsets in terms]

    def row(idx):
        n, g, o, q = idx[0], idx[1], idx[2], idx[3:]
        sources, weights = [], []
        for c, offsets in terms:
            example, channel, feature = _group_indices(k, geo, g, n, o, i64(c))
            consts = [i64(v) for v in offsets]
            weights.append(k.load(w, _canonical(geo.rhs_spec, feature, i64(c), consts)))
            sources.append(_row(k, x, geo.lhs_spec, example, channel,
                                _outer_sources(k, geo, q, offsets[:-1])))
        feature = _group_indices(k, geo, g, n, o, i64(0))[2]
        target = _row(k, out, geo.out_spec, n, feature, q)
        _row_of_terms(k, geo, target, sources, shifts, weights)

    k.loop_nest((geo.examples, geo.groups, geo.group_outputs, *geo.counts[:-1]), row)


def _canonical(spec, first, second, rest) -> list:
    idx: list = [None] * len(spec)
    for axis, value in zip(spec, [first, second, *rest]):
        idx[axis] = value
    return idx


def _row_of_terms(k: KernelBuilder, geo: ConvGeometry, target, sources, shifts, weights):
    """target[v] = sum over terms of weights[t] sources[t][v + shifts[t]], for v in
    [0, counts[-1]): vector blocks where every term is inside, scalar positions around."""
    dtype, b = geo.dtype, k.b
    length, lanes = geo.counts[-1], vector_type(dtype).count
    start, end = _inside(length, shifts, geo.spatial[-1])
    blocks = (end - start) // lanes
    splats = [_splat(k, dtype, weight) for weight in weights]

    def block(i):
        v = b.add(i64(start), b.mul(i, i64(lanes)))
        acc = _zeros(dtype)
        for source, shift, weight in zip(sources, shifts, splats):
            x = _load_vector(k, dtype, source, b.add(v, i64(shift)))
            acc = _multiply_add(k, acc, weight, x)
        _store_vector(k, dtype, target, v, acc)

    k.range_loop(i64(0), i64(blocks), block)
    edge = lambda v: _edge_position(k, geo, target, sources, shifts, weights, v)  # noqa: E731
    k.range_loop(i64(0), i64(start), edge)
    k.range_loop(i64(start + blocks * lanes), i64(length), edge)


def _edge_position(k: KernelBuilder, geo: ConvGeometry, target, sources, shifts, weights, v):
    """target[v]: the sum over the terms whose input position is inside the input (padding
    adds nothing, not even 0 * weight)."""
    dtype, b, size = geo.dtype, k.b, geo.spatial[-1]
    acc = const(REG[dtype], 0.0)
    for source, shift, weight in zip(sources, shifts, weights):
        index = b.add(v, i64(shift))
        inside = b.and_(b.icmp_signed(">=", index, i64(0)), b.icmp_signed("<", index, i64(size)))
        x = b.load(_element(k, dtype, source, clamp_index(k, index, 0, size - 1)),
                   typ=MEM[dtype])
        acc = select_value(b, inside, _multiply_add(k, acc, weight, x), acc)
    b.store(acc, _element(k, dtype, target, v))


# ---------------------------------------------------------------------------------------------
# Dots along the kernel: all outputs of a row at once
# ---------------------------------------------------------------------------------------------


def conv_dots(k: KernelBuilder, e: Eqn, geo: ConvGeometry) -> None:
    """out[n, o, q, j] = sum over c, kernel offsets and r of w[o, c, offsets, r]
    x[n, c, sources(q, offsets), j stride + r - low] for every j of the row at once
    (conv_plan.vector_dots)."""
    (x, w), out, b = e.inputs, e.outputs[0], k.b
    dtype, outputs = geo.dtype, geo.counts[-1]
    shifts = [j * geo.strides[-1] - geo.low[-1] for j in range(outputs)]

    def row(idx):
        n, g, o, q = idx[0], idx[1], idx[2], idx[3:]
        vectors = [k.alloca(vector_type(dtype)) for _ in shifts]
        scalars = [k.alloca(REG[dtype]) for _ in shifts]
        for slot, zero in [*((v, _zeros(dtype)) for v in vectors),
                           *((s, const(REG[dtype], 0.0)) for s in scalars)]:
            b.store(zero, slot)

        def term(c_offsets):
            c, offsets = c_offsets[0], c_offsets[1:]
            example, channel, feature = _group_indices(k, geo, g, n, o, c)
            kernel_row = _row(k, w, geo.rhs_spec, feature, c, offsets)
            input_row = _row(k, x, geo.lhs_spec, example, channel,
                             _outer_sources_runtime(k, geo, q, offsets))
            _dot_row(k, geo, kernel_row, input_row, shifts, vectors, scalars)

        k.loop_nest((geo.in_features, *geo.kernel[:-1]), term)
        feature = _group_indices(k, geo, g, n, o, i64(0))[2]
        for j, (vector, scalar) in enumerate(zip(vectors, scalars)):
            total = _lane_sum(k, dtype, b.load(vector, typ=vector_type(dtype)))
            total = b.fadd(total, b.load(scalar, typ=REG[dtype]))
            k.store(out, _canonical(geo.out_spec, n, feature, [*q, i64(j)]), total)

    k.loop_nest((geo.examples, geo.groups, geo.group_outputs, *geo.counts[:-1]), row)


def _outer_sources_runtime(k: KernelBuilder, geo: ConvGeometry, positions, offsets) -> list:
    """_outer_sources with the kernel offsets known only at run time (loop counters)."""
    b = k.b
    return [b.add(b.mul(q, i64(geo.strides[d])),
                  b.sub(b.mul(offset, i64(geo.rhs_dilation[d])), i64(geo.low[d])))
            for d, (q, offset) in enumerate(zip(positions, offsets))]


def _dot_row(k: KernelBuilder, geo: ConvGeometry, kernel_row, input_row, shifts, vectors,
             scalars) -> None:
    """vectors[j] += kernel_row[r] input_row[r + shifts[j]] lane-wise over the blocks of r
    where every output's input position is inside; scalars[j] += the rest, inside only."""
    dtype, b = geo.dtype, k.b
    vt, length, size = vector_type(dtype), geo.kernel[-1], geo.spatial[-1]
    start, end = _inside(length, shifts, size)
    blocks = (end - start) // vt.count

    def block(i):
        r = b.add(i64(start), b.mul(i, i64(vt.count)))
        weight = _load_vector(k, dtype, kernel_row, r)
        for shift, slot in zip(shifts, vectors):
            x = _load_vector(k, dtype, input_row, b.add(r, i64(shift)))
            b.store(_multiply_add(k, b.load(slot, typ=vt), weight, x), slot)

    k.range_loop(i64(0), i64(blocks), block)

    def edge(r):
        weight = b.load(_element(k, dtype, kernel_row, r), typ=MEM[dtype])
        for shift, slot in zip(shifts, scalars):
            index = b.add(r, i64(shift))
            inside = b.and_(b.icmp_signed(">=", index, i64(0)),
                            b.icmp_signed("<", index, i64(size)))
            x = b.load(_element(k, dtype, input_row, clamp_index(k, index, 0, size - 1)),
                       typ=MEM[dtype])
            acc = b.load(slot, typ=REG[dtype])
            b.store(select_value(b, inside, _multiply_add(k, acc, weight, x), acc), slot)

    k.range_loop(i64(0), i64(start), edge)
    k.range_loop(i64(start + blocks * vt.count), i64(length), edge)

