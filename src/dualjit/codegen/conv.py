"""Native lowering of convolutions and window reductions (root rules; the decisions are in
conv_plan.py).

A convolution runs either as im2col + gemm (for each group and tile of examples, the windows
of the input are copied into a column matrix, multiplied by the group's kernel rows with
BLAS, and the product is written to the output in its layout) or as direct loops (each
kernel term added to a whole output row at once: depthwise and other few-term convolutions).
Both read the operands through their dimension numbers, so every layout is lowered alike.

Along the innermost axis of each run, the positions whose window element lies inside the
input are computed once per run (a range), so the copy or the multiply-add over them is a
plain strided loop that LLVM vectorizes; padding is written as zeros around it. Input
dilation (holes) takes a per-element check instead.

Window reductions (max, sum), and the max pool's derivative pair, are loops over the windows
of each output element, padding and holes taking the reduction's identity; the pair follows
each window's first maximum (the first NaN, if any), as the numpy implementation does.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from llvmlite import ir as L

from ..ir import DType, Eqn
from ..ir import primitives as P
from . import blas, conv_depthwise
from .abi import strides as c_strides
from .conv_plan import (
    ConvGeometry,
    blocked,
    dots_along_kernel,
    product_form,
    row_dots,
    row_vectors,
    scatters_columns,
    vector_dots,
    vector_rows,
)
from .lower import (
    I1,
    I32,
    I64,
    KERNEL_OUT_OF_MEMORY,
    MEM,
    PTR,
    REG,
    Group,
    KernelBuilder,
    beats,
    binary,
    clamp_index,
    const,
    gemm_function,
    i64,
    reduction_combine,
    reduction_identity,
    root_rules,
    select_value,
)

# ---------------------------------------------------------------------------------------------
# Small emission helpers
# ---------------------------------------------------------------------------------------------


def _libc(k: KernelBuilder, name: str, ret: L.Type, args: list[L.Type]) -> L.Function:
    fn = k.module.globals.get(name)
    return fn if fn is not None else L.Function(k.module, L.FunctionType(ret, args), name)


# Tests set this to make every scratch allocation ask malloc for more bytes than it can give
# (size_t -1), so the failure path runs: the kernel returns KERNEL_OUT_OF_MEMORY, skipping
# the convolution, and its caller raises MemoryError.
FAIL_SCRATCH_ALLOCATIONS = False


def with_scratch(k: KernelBuilder, sizes: list[tuple[DType, int]], body: Callable) -> None:
    """body(pointers) with a malloc'd buffer of count elements of dtype per entry of sizes; if
    any allocation fails the kernel reports KERNEL_OUT_OF_MEMORY instead (body is skipped)."""
    b = k.b
    malloc = _libc(k, "malloc", PTR, [I64])
    pointers, ok = [], const(I1, 1)
    for dtype, count in sizes:
        nbytes = -1 if FAIL_SCRATCH_ALLOCATIONS else max(count, 1) * dtype.np.itemsize
        pointer = b.call(malloc, [i64(nbytes)])
        pointers.append(pointer)
        ok = b.and_(ok, b.icmp_unsigned("!=", b.ptrtoint(pointer, I64), i64(0)))
    with b.if_else(ok, likely=True) as (allocated, failed):
        with allocated:
            body(pointers)
        with failed:
            k.fail(KERNEL_OUT_OF_MEMORY)
    free = _libc(k, "free", L.VoidType(), [PTR])
    for pointer in pointers:  # (free(NULL) does nothing)
        b.call(free, [pointer])


def _at(k: KernelBuilder, base: L.Value, dtype: DType, index: L.Value) -> L.Value:
    return k.b.gep(base, [index], inbounds=True, source_etype=MEM[dtype])


def _linear(k: KernelBuilder, idx, shape) -> L.Value:
    """Row-major linear index (compile-time shape, values of any origin)."""
    return k.linear(list(idx), list(shape)) if shape else i64(0)


def _axes(spec, first, second, rest) -> list:
    """An index in an operand's own layout from its canonical parts (spec[j] = the operand axis
    holding canonical axis j)."""
    idx = [None] * len(spec)
    for axis, value in zip(spec, [first, second, *rest]):
        idx[axis] = value
    return idx


def _zero(dtype: DType) -> L.Constant:
    return const(REG[dtype], 0.0 if dtype.is_float else 0)


def _source(k: KernelBuilder, position, offset, stride, dilation, low, base_dilation, size):
    """(inside, index): the operand element that window element `offset` of window
    `position` reads along one axis; inside is false for padding and holes."""
    b = k.b
    pos = b.add(b.mul(position, i64(stride)), b.mul(offset, i64(dilation)))
    pos = b.sub(pos, i64(low))
    index = b.sdiv(pos, i64(base_dilation)) if base_dilation != 1 else pos
    inside = b.and_(b.icmp_signed(">=", pos, i64(0)), b.icmp_signed("<", index, i64(size)))
    if base_dilation != 1:
        inside = b.and_(inside, b.icmp_signed("==", b.srem(pos, i64(base_dilation)), i64(0)))
    return inside, clamp_index(k, index, 0, max(size - 1, 0))


def _inside_range(k: KernelBuilder, length: int, coef: int, offset: L.Value, size: int):
    """[start, end): the v in [0, length) with 0 <= v * coef + offset < size."""
    b = k.b
    neg = b.sub(i64(0), offset)
    start = b.select(b.icmp_signed(">", neg, i64(0)),
                     b.udiv(b.add(neg, i64(coef - 1)), i64(coef)), i64(0))
    high = b.sub(i64(size - 1), offset)
    end = b.add(b.udiv(high, i64(coef)), i64(1))
    end = b.select(b.icmp_signed("<", high, i64(0)), i64(0), end)
    end = b.select(b.icmp_signed(">", end, i64(length)), i64(length), end)
    start = b.select(b.icmp_signed(">", start, end), end, start)
    return start, end


def _run(k: KernelBuilder, length: int, coef: int, offset: L.Value, size: int,
         base_dilation: int, outer_inside: L.Value, inside: Callable, outside: Callable | None):
    """Along one run of `length` positions v reading operand index v * coef + offset (over a
    base dilated by base_dilation): inside(v, index) where that is an operand element and the
    other axes are inside too, else outside(v)."""
    b = k.b
    if base_dilation == 1:
        start, end = _inside_range(k, length, coef, offset, size)
        end = b.select(outer_inside, end, start)
        if outside is not None:
            k.range_loop(i64(0), start, outside)
        k.range_loop(start, end, lambda v: inside(v, b.add(b.mul(v, i64(coef)), offset)))
        if outside is not None:
            k.range_loop(end, i64(length), outside)
        return

    def each(v):
        pos = b.add(b.mul(v, i64(coef)), offset)
        index = b.sdiv(pos, i64(base_dilation))
        ok = b.and_(outer_inside, b.and_(
            b.icmp_signed(">=", pos, i64(0)), b.icmp_signed("<", index, i64(size))))
        ok = b.and_(ok, b.icmp_signed("==", b.srem(pos, i64(base_dilation)), i64(0)))
        with b.if_else(ok) as (then, otherwise):
            with then:
                inside(v, index)
            with otherwise:
                if outside is not None:
                    outside(v)
    k.range_loop(i64(0), i64(length), each)


def _outer_sources(k, geo: ConvGeometry, positions, offsets):
    """(all inside, indices) along every spatial axis but the last."""
    inside, indices = const(I1, 1), []
    for d in range(len(geo.spatial) - 1):
        ok, index = _source(k, positions[d], offsets[d], geo.strides[d], geo.rhs_dilation[d],
                            geo.low[d], geo.lhs_dilation[d], geo.spatial[d])
        inside = k.b.and_(inside, ok)
        indices.append(index)
    return inside, indices


# ---------------------------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------------------------

def _example(k, geo: ConvGeometry, g, n) -> L.Value:
    """The input example of output example n in group g (batch groups take their own)."""
    return k.b.add(n, k.b.mul(g, i64(geo.examples))) if geo.batch_groups > 1 else n


def _feature(k, geo: ConvGeometry, g, c) -> L.Value:
    """The input feature c of group g reads (feature groups take their own)."""
    return k.b.add(c, k.b.mul(g, i64(geo.in_features))) if geo.feature_groups > 1 else c


def _conv(k: KernelBuilder, e: Eqn, group: Group) -> None:
    geo = ConvGeometry.of(e)
    out = e.outputs[0]
    if geo.empty:
        return
    if e.inputs[0].type.size == 0 or geo.rows == 0:  # nothing to add: zeros
        k.loop_nest(out.type.shape, lambda idx: k.store(out, idx, _zero(geo.dtype)))
        return
    if group.library != "gemm" and row_dots(geo):
        conv_rowdots.emit(k, e, geo)
    elif group.library != "gemm" and row_vectors(geo):
        conv_rowvectors.emit(k, e, geo)
    elif group.library != "gemm" and blocked(geo) is not None:
        conv_blocked.emit(k, e, geo, blocked(geo))
    elif group.library != "gemm":
        _conv_direct_or_dots(k, e, geo)
    elif product_form(geo) == "pointwise":
        _conv_pointwise(k, e, geo)
    elif product_form(geo) == "full":
        _conv_whole_input(k, e, geo)
    elif scatters_columns(geo):
        _conv_col2im(k, e, geo)
    else:
        _conv_gemm(k, e, geo)


root_rules[P.conv_general_dilated_p] = _conv


def _conv_direct_or_dots(k: KernelBuilder, e: Eqn, geo: ConvGeometry) -> None:
    """Direct loops or dots along the kernel: in vector registers where conv_plan says so
    (conv_depthwise.py), else the scalar loops below."""
    if dots_along_kernel(geo):
        (conv_depthwise.conv_dots if vector_dots(geo) else _conv_dot)(k, e, geo)
    else:
        (conv_depthwise.conv_rows if vector_rows(geo) else _conv_direct)(k, e, geo)


def _conv_direct(k: KernelBuilder, e: Eqn, geo: ConvGeometry) -> None:
    """out[n, o, q] = sum over (c, kernel offset) of w[o, c, offset] * x[n, c, source]: each
    term is added to a whole run of the output's last axis at once."""
    x, w = e.inputs
    out = e.outputs[0]
    dtype, b = geo.dtype, k.b
    last = len(geo.counts) - 1

    def output_row(nog):
        n, g, o = nog
        feature = b.add(b.mul(g, i64(geo.group_outputs)), o)
        k.loop_nest(geo.counts, lambda q: k.store(out, _axes(geo.out_spec, n, feature, q),
                                                  _zero(dtype)))

        def term(c_offsets):
            c, offsets = c_offsets[0], c_offsets[1:]
            weight = k.load(w, _axes(geo.rhs_spec, feature, c, offsets))
            example, channel = _example(k, geo, g, n), _feature(k, geo, g, c)

            def run(q_outer):
                outer_inside, sources = _outer_sources(k, geo, q_outer, offsets)
                offset = b.sub(b.mul(offsets[last], i64(geo.rhs_dilation[last])),
                               i64(geo.low[last]))

                def add(v, index):
                    where = _axes(geo.out_spec, n, feature, [*q_outer, v])
                    term = binary(k, P.mul_p, dtype, weight,
                                  k.load(x, _axes(geo.lhs_spec, example, channel,
                                                  [*sources, index])))
                    k.store(out, where, binary(k, P.add_p, dtype, k.load(out, where), term))

                _run(k, geo.counts[last], geo.strides[last], offset, geo.spatial[last],
                     geo.lhs_dilation[last], outer_inside, add, None)

            k.loop_nest(geo.counts[:-1], run)

        k.loop_nest((geo.in_features, *geo.kernel), term)

    k.loop_nest((geo.examples, geo.groups, geo.group_outputs), output_row)


def _conv_dot(k: KernelBuilder, e: Eqn, geo: ConvGeometry) -> None:
    """out[n, o, q] = sum over c and the kernel's outer offsets of a dot product along the
    kernel's last axis: w[o, c, offsets, r] x[n, c, sources, q stride + r dilation - low]
    over the r whose source is inside (a vectorized reduction; conv_plan.dots_along_kernel)."""
    x, w = e.inputs
    out, (dtype, b), last = e.outputs[0], (geo.dtype, k.b), len(geo.counts) - 1

    def output(nogq):
        n, g, o, q = nogq[0], nogq[1], nogq[2], nogq[3:]
        feature = b.add(b.mul(g, i64(geo.group_outputs)), o)
        example, acc = _example(k, geo, g, n), k.alloca(REG[dtype])
        b.store(_zero(dtype), acc)

        def term(c_offsets):
            c, offsets = c_offsets[0], c_offsets[1:]
            inside, sources = _outer_sources(k, geo, q, offsets)
            channel = _feature(k, geo, g, c)

            def add(r, index):
                product = binary(k, P.mul_p, dtype,
                                 k.load(w, _axes(geo.rhs_spec, feature, c, [*offsets, r])),
                                 k.load(x, _axes(geo.lhs_spec, example, channel,
                                                 [*sources, index])))
                total = reduction_combine(k, "sum", dtype, b.load(acc, typ=REG[dtype]), product)
                b.store(total, acc)
            offset = b.sub(b.mul(q[last], i64(geo.strides[last])), i64(geo.low[last]))
            _run(k, geo.kernel[last], geo.rhs_dilation[last], offset, geo.spatial[last],
                 geo.lhs_dilation[last], inside, add, None)

        k.loop_nest((geo.in_features, *geo.kernel[:-1]), term)
        k.store(out, _axes(geo.out_spec, n, feature, q), b.load(acc, typ=REG[dtype]))

    k.loop_nest((geo.examples, geo.groups, geo.group_outputs, *geo.counts), output)


def _canonical_kernel(geo: ConvGeometry) -> bool:
    return tuple(geo.rhs_spec) == tuple(range(len(geo.rhs_spec)))


def _pack_weights(k: KernelBuilder, w, geo: ConvGeometry, matrix: L.Value) -> None:
    """The kernel as an (O, I x kernel) row-major matrix (for a kernel of another layout)."""
    shape = (geo.groups * geo.group_outputs, geo.in_features, *geo.kernel)

    def copy(idx):
        value = k.load(w, _axes(geo.rhs_spec, idx[0], idx[1], idx[2:]))
        k.b.store(value, _at(k, matrix, geo.dtype, _linear(k, idx, shape)))
    k.loop_nest(shape, copy)


def _conv_gemm(k: KernelBuilder, e: Eqn, geo: ConvGeometry) -> None:
    """Per group and tile of examples: im2col columns, one gemm, the product scattered out."""
    dtype, width = geo.dtype, geo.tile * geo.positions  # width: the columns' leading dimension
    sizes = [(dtype, geo.rows * width), (dtype, geo.group_outputs * width)]
    canonical = _canonical_kernel(geo)
    if not canonical:
        sizes.append((dtype, geo.groups * geo.group_outputs * geo.rows))

    def body(pointers):
        weights = k.buffers[e.inputs[1]] if canonical else pointers[2]
        if not canonical:  # (all of it, in each chunk of a split convolution: k.rows waits)
            rows, k.rows = k.rows, None
            _pack_weights(k, e.inputs[1], geo, weights)
            k.rows = rows
        _gemm_tiles(k, e, geo, weights, *pointers[:2])
    with_scratch(k, sizes, body)


def _gemm_tiles(k: KernelBuilder, e: Eqn, geo: ConvGeometry, weights, columns, product):
    dtype, b, tile = geo.dtype, k.b, geo.tile
    tiles = -(-geo.examples // tile)
    last_count = geo.examples - (tiles - 1) * tile

    def group_tile(gt):
        g, t = gt
        first = b.mul(t, i64(tile))
        count = b.select(b.icmp_signed("==", t, i64(tiles - 1)), i64(last_count), i64(tile))
        _im2col(k, e, geo, g, first, count, columns)
        rows_g = _at(k, weights, dtype, b.mul(g, i64(geo.group_outputs * geo.rows)))
        _gemm(k, dtype, geo, rows_g, columns, product, b.mul(count, i64(geo.positions)))
        _scatter_product(k, e, geo, g, first, count, product)

    k.loop_nest((geo.groups, tiles), group_tile)


class _ColumnRun:
    """Copies one run of an example's windows into the columns, zeros where a window element
    is padding or a hole."""

    def __init__(self, k, e, geo: ConvGeometry, g, n, columns):
        self.k, self.x, self.geo, self.g, self.n, self.columns = k, e.inputs[0], geo, g, n, columns

    def __call__(self, at, length, coef, offset, inside, channel, sources) -> None:
        k, geo = self.k, self.geo
        dst = _at(k, self.columns, geo.dtype, at)
        last = len(geo.spatial) - 1

        def copy(v, index):
            value = k.load(self.x, _axes(geo.lhs_spec, self.n, channel, [*sources, index]))
            k.b.store(value, _at(k, dst, geo.dtype, v))

        def zero(v):  # padding and holes
            k.b.store(_zero(geo.dtype), _at(k, dst, geo.dtype, v))
        _run(k, length, coef, offset, geo.spatial[last], geo.lhs_dilation[last], inside, copy,
             zero if geo.reads_outside else None)


def _columns_along_kernel(k, geo: ConvGeometry, g, j, fill: _ColumnRun) -> None:
    """columns^T[(j, q), (c, offset)]: each run follows the kernel's last axis."""
    b, last = k.b, len(geo.counts) - 1
    kernel_size = math.prod(geo.kernel)

    def position(cq):
        c, q = cq[0], cq[1:]
        column = b.add(b.mul(j, i64(geo.positions)), _linear(k, q, geo.counts))

        def run(k_outer):
            inside, sources = _outer_sources(k, geo, q, k_outer)
            start = b.add(b.mul(c, i64(kernel_size)),
                          b.mul(_linear(k, k_outer, geo.kernel[:-1]), i64(geo.kernel[last])))
            offset = b.sub(b.mul(q[last], i64(geo.strides[last])), i64(geo.low[last]))
            fill(b.add(b.mul(column, i64(geo.rows)), start), geo.kernel[last],
                 geo.rhs_dilation[last], offset, inside, _feature(k, geo, g, c), sources)
        k.loop_nest(geo.kernel[:-1], run)
    k.loop_nest((geo.in_features, *geo.counts), position)


def _columns_along_output(k, geo: ConvGeometry, g, j, fill: _ColumnRun) -> None:
    """columns[(c, offset), (j, q)]: each run follows the output's last axis."""
    b, last = k.b, len(geo.counts) - 1
    width = geo.tile * geo.positions

    def row(c_offsets):
        c, offsets = c_offsets[0], c_offsets[1:]
        r = b.add(b.mul(c, i64(math.prod(geo.kernel))), _linear(k, offsets, geo.kernel))

        def run(q_outer):
            inside, sources = _outer_sources(k, geo, q_outer, offsets)
            column = b.add(b.mul(j, i64(geo.positions)),
                           b.mul(_linear(k, q_outer, geo.counts[:-1]), i64(geo.counts[last])))
            offset = b.sub(b.mul(offsets[last], i64(geo.rhs_dilation[last])), i64(geo.low[last]))
            fill(b.add(b.mul(r, i64(width)), column), geo.counts[last], geo.strides[last],
                 offset, inside, _feature(k, geo, g, c), sources)
        k.loop_nest(geo.counts[:-1], run)
    k.loop_nest((geo.in_features, *geo.kernel), row)


def _im2col(k, e, geo: ConvGeometry, g, first, count, columns) -> None:
    """columns[(c, offset), (j, q)] (or its transpose when runs follow the kernel's last
    axis) = x[first + j, c, source(q, offset)], zero where that is padding or a hole (each
    element written once: the in-bounds part of a run is a plain copy, zeros around it)."""
    along = _columns_along_kernel if geo.kernel_inner else _columns_along_output

    def example(j):
        n = _example(k, geo, g, k.b.add(first, j))
        along(k, geo, g, j, _ColumnRun(k, e, geo, g, n, columns))
    k.range_loop(i64(0), count, example)


def _gemm(k, dtype, geo: ConvGeometry, weights, columns, product, n: L.Value) -> None:
    """product (group outputs x n) = weights (group outputs x rows) . columns (rows x n, or
    stored n x rows when runs follow the kernel)."""
    width = geo.tile * geo.positions
    ldb = geo.rows if geo.kernel_inner else width
    _gemm_call(k, dtype, (geo.group_outputs, n, geo.rows), (weights, geo.rows, False),
               (columns, ldb, geo.kernel_inner), product, width)


def _gemm_call(k, dtype, mnk, a_operand, b_operand, c, ldc: int, beta=None) -> None:
    """c (m x n) = a . b + beta c (beta 0 by default), where each operand is (pointer,
    leading dimension, transposed: a stored k x m, b stored n x k); n is a run-time value."""
    fn, it, ft = gemm_function(k, dtype), L.IntType(blas.gemms()[dtype].int_bits), REG[dtype]
    m, n, depth = mnk
    n = k.b.trunc(n, it) if it.width < 64 else n
    (a, lda, trans_a), (b, ldb, trans_b) = a_operand, b_operand
    k.b.call(fn, [L.Constant(I32, blas.ROW_MAJOR),
                  L.Constant(I32, blas.TRANS if trans_a else blas.NO_TRANS),
                  L.Constant(I32, blas.TRANS if trans_b else blas.NO_TRANS),
                  L.Constant(it, m), n, L.Constant(it, depth), L.Constant(ft, 1.0), a,
                  L.Constant(it, lda), b, L.Constant(it, ldb),
                  L.Constant(ft, 0.0) if beta is None else beta, c, L.Constant(it, ldc)])


def _scatter_product(k, e, geo: ConvGeometry, g, first, count, product) -> None:
    out = e.outputs[0]
    dtype, b = geo.dtype, k.b
    width = geo.tile * geo.positions

    def example(j):
        n = b.add(first, j)

        def copy(oq):
            o, q = oq[0], oq[1:]
            feature = b.add(b.mul(g, i64(geo.group_outputs)), o)
            at = b.add(b.mul(o, i64(width)),
                       b.add(b.mul(j, i64(geo.positions)), _linear(k, q, geo.counts)))
            value = b.load(_at(k, product, dtype, at), typ=MEM[dtype])
            k.store(out, _axes(geo.out_spec, n, feature, q), value)
        k.loop_nest((geo.group_outputs, *geo.counts), copy)

    k.range_loop(i64(0), count, example)


# ---------------------------------------------------------------------------------------------
# Convolutions that are matrix products of their operands in place (conv_plan.product_form)
# ---------------------------------------------------------------------------------------------

def _strides_of(var, spec) -> list[int]:
    """Element strides of a C-ordered operand along its canonical axes."""
    physical = c_strides(var.type.shape)
    return [physical[axis] for axis in spec]


def _leading(stride: int, rows: int, length: int) -> int:
    """A matrix's leading dimension: its row stride (BLAS wants at least the row length
    even when there is one row, whose stride may be anything)."""
    return stride if rows > 1 else max(stride, length, 1)


def _matrix(pointer, stride_rows: int, stride_cols: int, rows: int, cols: int):
    """(pointer, leading dimension, transposed) of a rows x cols matrix with these strides,
    one of which is 1 (the innermost of two axes of a C-ordered operand whose other axes
    have one element)."""
    if stride_cols == 1 or cols == 1:
        return pointer, _leading(stride_rows, rows, cols), False
    return pointer, _leading(stride_cols, cols, rows), True


def _conv_pointwise(k: KernelBuilder, e: Eqn, geo: ConvGeometry) -> None:
    """A 1x1 convolution: out[n] (O x P) = W (O x I) . x[n] (I x P), one gemm per example
    read and written in place (P: the spatial positions, contiguous in both)."""
    (x, w), out, b = e.inputs, e.outputs[0], k.b
    sx, sw, so = (_strides_of(v, spec) for v, spec in
                  ((x, geo.lhs_spec), (w, geo.rhs_spec), (out, geo.out_spec)))
    o, i, p = geo.group_outputs, geo.in_features, geo.positions
    weights = _matrix(k.buffers[w], sw[0], sw[1], o, i)

    def example(idx):
        n = idx[0]
        source = _at(k, k.buffers[x], geo.dtype, b.mul(n, i64(sx[0])))
        target = _at(k, k.buffers[out], geo.dtype, b.mul(n, i64(so[0])))
        _gemm_call(k, geo.dtype, (o, i64(p), i), weights,
                   (source, _leading(sx[1], i, p), False), target, _leading(so[1], o, p))
    k.loop_nest((geo.examples,), example)  # (the split's outer loop: conv_plan.split)


def _conv_whole_input(k: KernelBuilder, e: Eqn, geo: ConvGeometry) -> None:
    """A kernel as large as the input, one output position: out (O x N) = sum over input
    features i of W_i (O x S) . X_i^T (S x N), one gemm per i accumulating in place (S: the
    spatial positions, contiguous in both); out^T = X_i . W_i^T when out's O axis is inner."""
    (x, w), out, b, dtype = e.inputs, e.outputs[0], k.b, geo.dtype
    sx, sw, so = (_strides_of(v, spec) for v, spec in
                  ((x, geo.lhs_spec), (w, geo.rhs_spec), (out, geo.out_spec)))
    o, n, s = geo.group_outputs, geo.examples, geo.in_positions
    by_rows = so[0] == 1 or n == 1  # out read as O x N (else N x O)

    def feature(idx):
        i = idx[0]
        w_i = (_at(k, k.buffers[w], dtype, b.mul(i, i64(sw[1]))), _leading(sw[0], o, s))
        x_i = (_at(k, k.buffers[x], dtype, b.mul(i, i64(sx[1]))), _leading(sx[0], n, s))
        beta = b.select(b.icmp_signed("==", i, i64(0)), _zero(dtype), const(REG[dtype], 1.0))
        if by_rows:
            _gemm_call(k, dtype, (o, i64(n), s), (*w_i, False), (*x_i, True),
                       k.buffers[out], _leading(so[1], o, n), beta)
        else:
            _gemm_call(k, dtype, (n, i64(o), s), (*x_i, False), (*w_i, True),
                       k.buffers[out], _leading(so[0], n, o), beta)
    k.loop_nest((geo.in_features,), feature)


# ---------------------------------------------------------------------------------------------
# Transposed convolutions: gemm + col2im
# ---------------------------------------------------------------------------------------------

def _conv_col2im(k: KernelBuilder, e: Eqn, geo: ConvGeometry) -> None:
    """out[n, o, q ld + low - offset rd] += sum over c of w[o, c, offset] x[n, c, q] (window
    strides 1; conv_plan.scatters_columns): per group and tile of examples, the input as an
    (I, tile x input positions) matrix, one gemm by the kernel's (O/G x kernel, I) matrix,
    and each product row added into the output where it lands."""
    dtype, tile = geo.dtype, geo.scatter_tile
    width = tile * geo.in_positions
    rows = geo.scatter_rows
    out = e.outputs[0]
    k.loop_nest(out.type.shape, lambda idx: k.store(out, idx, _zero(dtype)))
    sizes = [(dtype, geo.groups * rows * geo.in_features), (dtype, geo.in_features * width),
             (dtype, rows * width)]

    def body(pointers):
        weights, inputs, product = pointers
        _pack_scatter_weights(k, e.inputs[1], geo, weights)
        _scatter_tiles(k, e, geo, weights, inputs, product)
    with_scratch(k, sizes, body)


def _pack_scatter_weights(k: KernelBuilder, w, geo: ConvGeometry, matrix) -> None:
    """matrix[g][(o, offset), c] = w[g O/G + o, c, offset]: per group an (O/G x kernel, I)
    row-major matrix."""
    shape = (geo.groups, geo.group_outputs, *geo.kernel, geo.in_features)

    def copy(idx):
        g, o, offsets, c = idx[0], idx[1], idx[2:-1], idx[-1]
        feature = k.b.add(k.b.mul(g, i64(geo.group_outputs)), o)
        value = k.load(w, _axes(geo.rhs_spec, feature, c, offsets))
        k.b.store(value, _at(k, matrix, geo.dtype, _linear(k, idx, shape)))
    k.loop_nest(shape, copy)


def _scatter_tiles(k: KernelBuilder, e: Eqn, geo: ConvGeometry, weights, inputs, product):
    x, (dtype, b, tile) = e.inputs[0], (geo.dtype, k.b, geo.scatter_tile)
    tiles = -(-geo.examples // tile)
    last_count = geo.examples - (tiles - 1) * tile
    width, rows = tile * geo.in_positions, geo.scatter_rows

    def group_tile(gt):
        g, t = gt
        first = b.mul(t, i64(tile))
        count = b.select(b.icmp_signed("==", t, i64(tiles - 1)), i64(last_count), i64(tile))

        def gather(j):  # inputs[c, (j, q)] = x[first + j, g I + c, q]
            def copy(cq):
                column = b.add(b.mul(j, i64(geo.in_positions)), _linear(k, cq[1:], geo.spatial))
                value = k.load(x, _axes(geo.lhs_spec, b.add(first, j),
                                        _feature(k, geo, g, cq[0]), cq[1:]))
                b.store(value, _at(k, inputs, dtype, b.add(b.mul(cq[0], i64(width)), column)))
            k.loop_nest((geo.in_features, *geo.spatial), copy)
        k.range_loop(i64(0), count, gather)
        rows_g = _at(k, weights, dtype, b.mul(g, i64(rows * geo.in_features)))
        _gemm_call(k, dtype, (rows, b.mul(count, i64(geo.in_positions)), geo.in_features),
                   (rows_g, geo.in_features, False), (inputs, width, False), product, width)
        _col2im(k, e, geo, g, first, count, product)

    k.loop_nest((geo.groups, tiles), group_tile)


def _col2im(k: KernelBuilder, e: Eqn, geo: ConvGeometry, g, first, count, product) -> None:
    """out[first + j, g O/G + o, q ld + low - offset rd] += product[(o, offset), (j, q)]."""
    out, dtype, b = e.outputs[0], geo.dtype, k.b
    last, width = len(geo.spatial) - 1, geo.scatter_tile * geo.in_positions
    out_sizes = [out.type.shape[a] for a in geo.out_spec[2:]]

    def row(j_o_offsets):
        j, o, offsets = j_o_offsets[0], j_o_offsets[1], j_o_offsets[2:]
        n, feature = b.add(first, j), b.add(b.mul(g, i64(geo.group_outputs)), o)
        r = b.add(b.mul(o, i64(math.prod(geo.kernel))), _linear(k, offsets, geo.kernel))

        def run(q_outer):
            inside, targets = const(I1, 1), []
            for d, q in enumerate(q_outer):
                p = b.add(b.mul(q, i64(geo.lhs_dilation[d])), i64(geo.low[d]))
                p = b.sub(p, b.mul(offsets[d], i64(geo.rhs_dilation[d])))
                inside = b.and_(inside, b.and_(b.icmp_signed(">=", p, i64(0)),
                                               b.icmp_signed("<", p, i64(out_sizes[d]))))
                targets.append(p)
            column = b.add(b.mul(j, i64(geo.in_positions)),
                           b.mul(_linear(k, q_outer, geo.spatial[:-1]), i64(geo.spatial[last])))
            src = _at(k, product, dtype, b.add(b.mul(r, i64(width)), column))
            offset = b.sub(i64(geo.low[last]), b.mul(offsets[last], i64(geo.rhs_dilation[last])))

            def add(v, p):
                where = _axes(geo.out_spec, n, feature, [*targets, p])
                value = b.load(_at(k, src, dtype, v), typ=MEM[dtype])
                k.store(out, where, binary(k, P.add_p, dtype, k.load(out, where), value))
            _run(k, geo.spatial[last], geo.lhs_dilation[last], offset, out_sizes[last], 1,
                 inside, add, None)
        k.loop_nest(geo.spatial[:-1], run)

    k.range_loop(i64(0), count, lambda j: k.loop_nest((geo.group_outputs, *geo.kernel),
                                                      lambda ok: row([j, *ok])))


# ---------------------------------------------------------------------------------------------
# Window reductions and the max pool's derivative pair
# ---------------------------------------------------------------------------------------------

def _window_element(k, params, shape, position, offsets):
    """(inside, index) of window element `offsets` of window `position` of an operand."""
    inside, index = const(I1, 1), []
    for a in zip(position, offsets, params["window_strides"], params["window_dilation"],
                 [lo for lo, _ in params["padding"]], params["base_dilation"], shape):
        ok, i = _source(k, *a)
        inside = k.b.and_(inside, ok)
        index.append(i)
    return inside, index


def _window_params(e: Eqn) -> dict:
    return {name: e.params[name] for name in ("window_dimensions", "window_strides", "padding",
                                              "base_dilation", "window_dilation")}


def _reduce_window(kind: str):
    def rule(k: KernelBuilder, e: Eqn, _: Group) -> None:
        x, out = e.inputs[0], e.outputs[0]
        dtype, b, params = x.type.dtype, k.b, _window_params(e)
        identity = reduction_identity(kind, dtype)
        if (conv_pool.tiles_exactly(params, x.type.shape, out.type.shape, dtype)
                and conv_pool.stored(k, x)):
            conv_pool.reduce_window(k, e, kind)
            return

        def window(q):
            if x.type.size == 0:
                k.store(out, q, identity)
                return
            acc = k.alloca(REG[dtype])
            b.store(identity, acc)

            def element(offsets):
                inside, index = _window_element(k, params, x.type.shape, q, offsets)
                v = select_value(b, inside, k.value(x, index), identity)
                b.store(reduction_combine(k, kind, dtype, b.load(acc, typ=REG[dtype]), v), acc)

            k.loop_nest(params["window_dimensions"], element)
            k.store(out, q, b.load(acc, typ=REG[dtype]))

        k.loop_nest(out.type.shape, window)
    return rule


root_rules[P.reduce_window_sum_p] = _reduce_window("sum")
root_rules[P.reduce_window_max_p] = _reduce_window("max")


def order_key(b: L.IRBuilder, value: L.Value) -> L.Value:
    """An integer whose signed order is a float's in a first-maximum search: its bits with
    negative numbers' magnitude bits flipped, -0.0 as 0.0, every NaN above everything.
    (Integer compares and selects compile to cmov; float selects on a condition that is not
    one compare compile to branches, mispredicted on random data: 5x slower max pools.)"""
    bits = L.IntType(32 if isinstance(value.type, L.FloatType) else 64)
    magnitude = const(bits, (1 << (bits.width - 1)) - 1)
    i = b.bitcast(value, bits)
    key = b.xor(i, b.and_(b.ashr(i, const(bits, bits.width - 1)), magnitude))
    key = b.select(b.fcmp_ordered("==", value, const(value.type, 0.0)), const(bits, 0), key)
    return b.select(b.fcmp_unordered("uno", value, value), magnitude, key)


def _first_maximum(k: KernelBuilder, x, params, q) -> tuple[L.Value, list[L.Value]]:
    """(inside, index) of window q's first maximum of x (the first NaN if it holds one);
    padding and holes count as the lowest value, and inside is false if one of them wins.
    Floats are compared by their order keys (order_key), all in integers."""
    b, dtype = k.b, x.type.dtype
    floats = dtype.is_float
    lowest = reduction_identity("max", dtype)
    lowest = order_key(b, lowest) if floats else lowest
    zeros = [i64(0)] * x.type.ndim

    def element(offsets):
        inside, index = _window_element(k, params, x.type.shape, q, offsets)
        value = k.value(x, index)
        return inside, index, b.select(inside, order_key(b, value) if floats else value, lowest)

    inside0, index0, key0 = element(zeros)
    best, best_inside = k.alloca(key0.type), k.alloca(I1)
    best_index = [k.alloca(I64) for _ in zeros]
    b.store(key0, best)
    b.store(inside0, best_inside)
    for slot, i in zip(best_index, index0):
        b.store(i, slot)

    def visit(offsets):
        inside, index, key = element(offsets)
        current = b.load(best, typ=key.type)
        better = b.icmp_signed(">", key, current) if floats else beats(k, dtype, key, current, ">")
        b.store(b.select(better, key, current), best)
        b.store(b.select(better, inside, b.load(best_inside, typ=I1)), best_inside)
        for slot, i in zip(best_index, index):
            b.store(b.select(better, i, b.load(slot, typ=I64)), slot)

    k.loop_nest(params["window_dimensions"], visit)
    return b.load(best_inside, typ=I1), [b.load(slot, typ=I64) for slot in best_index]


def _select_and_gather_add(k: KernelBuilder, e: Eqn, _: Group) -> None:
    t, x = e.inputs
    out = e.outputs[0]
    dtype, b, params = out.type.dtype, k.b, _window_params(e)

    def window(q):
        if x.type.size == 0:
            k.store(out, q, _zero(dtype))
            return
        inside, index = _first_maximum(k, x, params, q)
        k.store(out, q, select_value(b, inside, k.value(t, index), _zero(dtype)))

    k.loop_nest(out.type.shape, window)


def _select_and_scatter_add(k: KernelBuilder, e: Eqn, _: Group) -> None:
    s, x = e.inputs
    out = e.outputs[0]
    dtype, b, params = out.type.dtype, k.b, _window_params(e)
    if (conv_pool.tiles_exactly(params, x.type.shape, s.type.shape, dtype)
            and conv_pool.stored(k, x)):
        conv_pool.select_and_scatter_add(k, e)
        return
    k.loop_nest(out.type.shape, lambda idx: k.store(out, idx, _zero(dtype)))
    if x.type.size == 0:
        return

    def window(q):
        inside, index = _first_maximum(k, x, params, q)
        with b.if_then(inside):
            total = binary(k, P.add_p, dtype, k.load(out, index), k.value(s, q))
            k.store(out, index, total)

    k.loop_nest(s.type.shape, window)


root_rules[P.select_and_gather_add_p] = _select_and_gather_add
root_rules[P.select_and_scatter_add_p] = _select_and_scatter_add


from . import conv_blocked, conv_pool, conv_rowdots, conv_rowvectors  # noqa: E402, I001
