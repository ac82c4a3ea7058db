"""Convolutions with a long kernel and few outputs (kernel gradients: W7's first one sums
64 x 28 x 28 cotangent terms into each of 6 x 5 x 5 outputs) as dot products along the
kernel's rows in vector registers (the decision: conv_plan.row_dots).

out[n, o, p, j] = sum over c, kernel rows r and k of
    w[o, c, r, k] xpad[n, c, p stride + r dilation, j stride + k]
(xpad: one example's input copied into a zero-padded buffer, conv_blocked.copy_example).
A block of OB output features x all J outputs along the last axis keeps OB x J vector sums;
per block of LANES kernel elements along a row, OB loads of the kernel row (read in place:
its last axis is innermost), J unaligned loads of the input row shifted by j stride, and
OB x J multiply-adds. The kernel row's last partial block is read with masked loads (zeros
in the lanes past its end, for the kernel and the input alike: nothing but zeros is
multiplied there). The sums are added across lanes once, at the end. Every output is
computed by one block in an order fixed by the shapes (no thread count dependence).
"""

from __future__ import annotations

import math

from llvmlite import ir as L

from ..ir import Eqn
from . import (
    conv_blocked,  # (by module: conv_blocked may be importing when we are)
    conv_depthwise,
)
from .conv_blocked_plan import padded_spatial
from .conv_plan import ConvGeometry, row_dot_outputs
from .lower import I1, I32, MEM, PTR, KernelBuilder, const, i64
from .schedule import NO_UNROLL


def emit(k: KernelBuilder, e: Eqn, geo: ConvGeometry) -> None:
    """The convolution e as row dots (its first loop: examples x groups)."""
    conv_blocked.over_copied_examples(
        k, e, geo, lambda n, g, copy: _example(k, e, geo, n, g, copy))


def _example(k: KernelBuilder, e: Eqn, geo: ConvGeometry, n, g, copy) -> None:
    b = k.b
    block = row_dot_outputs(geo)
    count = geo.group_outputs

    def feature_block(v):  # (the last block moved back to end at the last feature)
        start = b.mul(v, i64(block))
        start = b.select(b.icmp_signed(">", start, i64(count - block)), i64(count - block),
                         start)
        k.loop_nest(geo.counts[:-1], lambda p: _block(k, e, geo, (n, g, start, p), copy))
    hints, k.loop_hints = k.loop_hints, NO_UNROLL  # (unrolled, LLVM spills the sums)
    k.range_loop(i64(0), i64(-(-count // block)), feature_block)
    k.loop_hints = hints


def _block(k: KernelBuilder, e: Eqn, geo: ConvGeometry, where, copy) -> None:
    """Outputs (n, g O/G + first .. + OB, p, all j): their sums, added across lanes, stored."""
    n, g, first, p = where
    b, vt = k.b, conv_depthwise.vector_type(geo.dtype)
    features = [b.add(b.add(b.mul(g, i64(geo.group_outputs)), first), i64(o))
                for o in range(row_dot_outputs(geo))]
    slots = [[k.alloca(vt) for _ in range(geo.counts[-1])] for _ in features]
    for slot in (s for row in slots for s in row):
        b.store(L.Constant(vt, [0.0] * vt.count), slot)

    def row(c_r):
        c, r = c_r[0], c_r[1:]
        kernel_rows = [_kernel_row(k, e.inputs[1], geo, feature, c, r) for feature in features]
        _row_dots(k, geo, kernel_rows, _input_row(k, geo, copy, c, p, r), slots)
    k.loop_nest((geo.in_features, *geo.kernel[:-1]), row)
    for feature, row_slots in zip(features, slots):
        for j, slot in enumerate(row_slots):
            index = conv_blocked.operand_index(geo.out_spec, n, feature, [*p, i64(j)])
            k.store(e.outputs[0], index,
                    _lane_sum(k, b.load(slot, typ=vt)))


def _kernel_row(k: KernelBuilder, w, geo: ConvGeometry, feature, c, r) -> L.Value:
    """A pointer to w[feature, c, r, 0] (canonical axes; the last one is innermost)."""
    idx = conv_blocked.operand_index(geo.rhs_spec, feature, c, [*r, i64(0)])
    return k.b.gep(k.buffers[w], [k.linear(idx, w.type.shape)], inbounds=True,
                   source_etype=MEM[geo.dtype])


def _input_row(k: KernelBuilder, geo: ConvGeometry, copy, c, p, r) -> L.Value:
    """A pointer to xpad[c, p stride + r dilation, 0] in the padded copy."""
    b = k.b
    padded = padded_spatial(geo)
    rows = [b.add(b.mul(q, i64(s)), b.mul(o, i64(d)))
            for q, o, s, d in zip(p, r, geo.strides[:-1], geo.rhs_dilation[:-1])]
    at = b.add(b.mul(c, i64(math.prod(padded))),
               k.linear([*rows, i64(0)], padded) if rows else i64(0))
    return b.gep(copy, [at], inbounds=True, source_etype=MEM[geo.dtype])


def _row_dots(k: KernelBuilder, geo: ConvGeometry, kernel_rows, input_row, slots) -> None:
    """slots[o][j] += kernel_rows[o][kk] input_row[j stride + kk] lane-wise over the row."""
    b, dtype, vt = k.b, geo.dtype, conv_depthwise.vector_type(geo.dtype)
    length, lanes = geo.kernel[-1], vt.count
    whole = length // lanes

    def block(kk, load):
        weights = [load(row, kk) for row in kernel_rows]
        for j in range(geo.counts[-1]):
            x = load(input_row, b.add(kk, i64(j * geo.strides[-1])))
            for weight, row_slots in zip(weights, slots):
                product = b.fmul(weight, x, flags=("contract",))
                b.store(b.fadd(b.load(row_slots[j], typ=vt), product, flags=("contract",)),
                        row_slots[j])
    k.range_loop(i64(0), i64(whole), lambda i: block(
        b.mul(i, i64(lanes)), lambda base, at: _load(k, dtype, base, at)))
    if length % lanes:
        mask = [lane < length % lanes for lane in range(lanes)]
        block(i64(whole * lanes), lambda base, at: _masked_load(k, dtype, base, at, mask))


def _load(k: KernelBuilder, dtype, base, at) -> L.Value:
    pointer = k.b.gep(base, [at], inbounds=True, source_etype=MEM[dtype])
    return k.b.load(pointer, typ=conv_depthwise.vector_type(dtype), align=dtype.np.itemsize)


def _masked_load(k: KernelBuilder, dtype, base, at, mask) -> L.Value:
    """The lanes of mask loaded, zeros in the others (never read: no access past a row)."""
    vt = conv_depthwise.vector_type(dtype)
    name = f"llvm.masked.load.v{vt.count}{'f32' if dtype.np.itemsize == 4 else 'f64'}.p0"
    fn = k.module.globals.get(name) or L.Function(
        k.module, L.FunctionType(vt, [PTR, I32, L.VectorType(I1, vt.count), vt]), name)
    pointer = k.b.gep(base, [at], inbounds=True, source_etype=MEM[dtype])
    lanes = L.Constant(L.VectorType(I1, vt.count), [int(m) for m in mask])
    return k.b.call(fn, [pointer, const(I32, dtype.np.itemsize), lanes,
                         L.Constant(vt, [0.0] * vt.count)])


def _lane_sum(k: KernelBuilder, vector: L.Value) -> L.Value:
    total = k.b.extract_element(vector, const(I32, 0))
    for lane in range(1, vector.type.count):
        total = k.b.fadd(total, k.b.extract_element(vector, const(I32, lane)))
    return total

