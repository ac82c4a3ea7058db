"""Max-pool derivatives whose windows tile their input exactly (window strides = window sizes,
no padding or dilation, every element in one window: LeNet's 2x2 pools), in vector registers.

The general select_and_scatter_add (conv.py) zeroes its whole output, then for each window
searches the first maximum keeping a multi-index per candidate and adds the cotangent there
(a load and a store per window). When the windows tile the input, each element is written
once: the cotangent where it is its window's first maximum, zero elsewhere. Here a vector
of windows along the last axis are done at once: each row of their elements is one contiguous
load, split into one vector per window column; each element's mask ("greater than every
element before it in its window, not less than every one after", on the integer order keys
of conv.order_key) is a few vector compares, and the outputs go back interleaved, one
contiguous store per row. Scalar code of the same masks became branches (LLVM turns a
select of a float into one), mispredicted on random data.
"""

from __future__ import annotations

import itertools
import math

from llvmlite import ir as L

from ..ir import DType, Eqn
from .conv_blocked_plan import LANES
from .lower import I32, MEM, REG, KernelBuilder, i64, reduction_identity

MAX_WINDOW_ELEMENTS = 16  # window elements compared unrolled
LAST_AXIS_WINDOWS = (1, 2)  # window sizes along the last axis read as interleaved vectors
VECTOR_DTYPES = (DType.float32, DType.float64)


def lanes(dtype: DType, count: int) -> int:
    """Windows per vector: a full register's worth, or the largest power of two <= count
    (LeNet's second pool has 5 windows along the last axis: two 4-lane blocks)."""
    n = LANES[dtype]  # (one 32-byte vector)
    while n > count:
        n //= 2
    return n


def tiles_exactly(params: dict, shape, counts, dtype: DType) -> bool:
    """Whether the vector lowering applies: float windows that tile the operand exactly, at
    most MAX_WINDOW_ELEMENTS each, 1 or 2 along the last axis."""
    windows, strides = params["window_dimensions"], params["window_strides"]
    return (dtype in VECTOR_DTYPES and len(shape) > 0 and tuple(windows) == tuple(strides)
            and all(lo == 0 and hi == 0 for lo, hi in params["padding"])
            and all(d == 1 for d in (*params["base_dilation"], *params["window_dilation"]))
            and all(c * w == n for c, w, n in zip(counts, windows, shape))
            and math.prod(windows) <= MAX_WINDOW_ELEMENTS
            and windows[-1] in LAST_AXIS_WINDOWS and counts[-1] > 0)


def _vector_key(b: L.IRBuilder, value: L.Value, dtype: DType) -> L.Value:
    """conv.order_key of each lane: the float's bits with negative numbers' magnitude bits
    flipped, -0.0 as 0.0, every NaN above everything (signed integer order = first-max
    order)."""
    n, width = value.type.count, dtype.np.itemsize * 8
    bits = L.VectorType(L.IntType(width), n)

    def splat(v):
        return L.Constant(bits, [v] * n)
    magnitude = splat((1 << (width - 1)) - 1)
    i = b.bitcast(value, bits)
    key = b.xor(i, b.and_(b.ashr(i, splat(width - 1)), magnitude))
    zero = L.Constant(value.type, [0.0] * n)
    key = b.select(b.fcmp_ordered("==", value, zero), splat(0), key)
    return b.select(b.fcmp_unordered("uno", value, value), magnitude, key)


def _first_maximum_masks(b: L.IRBuilder, keys: list[L.Value]) -> list[L.Value]:
    """Per element (lane by lane), whether it is its window's first maximum (None: a
    window of one element, always)."""
    def running_maxima(ordered):
        maxima, best = [None], ordered[0]
        for key in ordered[1:]:
            maxima.append(best)
            best = b.select(b.icmp_signed(">", key, best), key, best)
        return maxima

    before, after = running_maxima(keys), running_maxima(keys[::-1])[::-1]
    masks = []
    for key, low, high in zip(keys, before, after):
        first = None if low is None else b.icmp_signed(">", key, low)
        last = None if high is None else b.icmp_signed(">=", key, high)
        masks.append(last if first is None else first if last is None else b.and_(first, last))
    return masks


def _deinterleave(b: L.IRBuilder, row: L.Value, width: int, n: int) -> list[L.Value]:
    """The `width` vectors of every width-th lane of row (n lanes each)."""
    if width == 1:
        return [row]
    return [b.shuffle_vector(row, L.Constant(row.type, None),
                             L.Constant(L.VectorType(I32, n), [c + width * j for j in range(n)]))
            for c in range(width)]


def _interleave(b: L.IRBuilder, columns: list[L.Value], n: int) -> L.Value:
    """The inverse of _deinterleave (width 1 or 2)."""
    if len(columns) == 1:
        return columns[0]
    order = [j // 2 + (n if j % 2 else 0) for j in range(2 * n)]
    return b.shuffle_vector(columns[0], columns[1], L.Constant(L.VectorType(I32, 2 * n), order))


def _pointer(k: KernelBuilder, var, index) -> L.Value:
    return k.b.gep(k.buffers[var], [k.linear(index, var.type.shape)], inbounds=True,
                   source_etype=MEM[var.type.dtype])


def _window_rows(params: dict, q, first):
    """Per row of the windows' elements (leading window offsets): x's index of its start."""
    windows = params["window_dimensions"]
    for offsets in itertools.product(*(range(w) for w in windows[:-1])):
        yield offsets, (q, first, windows)


def _row_index(k: KernelBuilder, offsets, where) -> list[L.Value]:
    q, first, windows = where
    b = k.b
    lead = [b.add(b.mul(i, i64(w)), i64(o)) for i, w, o in zip(q, windows, offsets)]
    return [*lead, b.mul(first, i64(windows[-1]))]


def _block(k: KernelBuilder, e: Eqn, q, first) -> None:
    """A vector of windows along the last axis from window `first` (q: the other axes)."""
    s, x = e.inputs
    out = e.outputs[0]
    b, dtype, params = k.b, x.type.dtype, e.params
    n, width = lanes(dtype, s.type.shape[-1]), params["window_dimensions"][-1]
    row_type = L.VectorType(REG[dtype], n * width)
    rows = [_row_index(k, offsets, where) for offsets, where in _window_rows(params, q, first)]
    columns = [column for index in rows for column in _deinterleave(
        b, b.load(_pointer(k, x, index), typ=row_type, align=dtype.np.itemsize), width, n)]
    masks = _first_maximum_masks(b, [_vector_key(b, c, dtype) for c in columns])
    value = _cotangents(k, s, q, first, n)
    zeros = L.Constant(value.type, [0.0] * n)
    outputs = [value if mask is None else b.select(mask, value, zeros) for mask in masks]
    for r, index in enumerate(rows):
        row = _interleave(b, outputs[r * width:(r + 1) * width], n)
        b.store(row, _pointer(k, out, index), align=dtype.np.itemsize)


def reduce_window(k: KernelBuilder, e: Eqn, kind: str) -> None:
    """out = each window's sum or maximum of x, for windows that tile x exactly, x stored:
    blocks of conv_pool.lanes windows along the last axis, the elements combined in the
    general loop's order, from its identity (the same bits)."""
    x, out = e.inputs[0], e.outputs[0]
    b, dtype, params = k.b, x.type.dtype, e.params
    count = out.type.shape[-1]
    n, width = lanes(dtype, count), params["window_dimensions"][-1]
    row_type = L.VectorType(REG[dtype], n * width)
    identity = reduction_identity(kind, dtype)

    def block(q, j):
        first = b.mul(j, i64(n))
        first = b.select(b.icmp_signed(">", first, i64(count - n)), i64(count - n), first)
        total = L.Constant(L.VectorType(REG[dtype], n), [identity.constant] * n)
        for offsets, where in _window_rows(params, q, first):
            row = b.load(_pointer(k, x, _row_index(k, offsets, where)), typ=row_type,
                         align=dtype.np.itemsize)
            for column in _deinterleave(b, row, width, n):
                total = _combine(k, kind, total, column)
        b.store(total, _pointer(k, out, [*q, first]), align=dtype.np.itemsize)

    k.loop_nest(out.type.shape[:-1], lambda q: k.counted_loop(-(-count // n),
                                                              lambda j: block(q, j)))


def _combine(k: KernelBuilder, kind: str, total: L.Value, column: L.Value) -> L.Value:
    """lower.reduction_combine of float vectors, lane by lane (llvm.maximum: NaN first)."""
    if kind == "sum":
        return k.b.fadd(total, column, flags=("reassoc", "contract"))
    vt = total.type
    name = f"llvm.maximum.v{vt.count}{'f32' if vt.element == L.FloatType() else 'f64'}"
    fn = k.module.globals.get(name) or L.Function(k.module, L.FunctionType(vt, [vt, vt]), name)
    return k.b.call(fn, [total, column])


def _cotangents(k: KernelBuilder, s, q, first, n: int) -> L.Value:
    """s[q, first:first + n] as a vector: one load if s is stored, else lane by lane (its
    values computed inline, as a reshape of a product's result)."""
    b, vt = k.b, L.VectorType(REG[s.type.dtype], n)
    if stored(k, s):
        return b.load(_pointer(k, s, [*q, first]), typ=vt, align=s.type.dtype.np.itemsize)
    vector = L.Constant(vt, None)
    for lane in range(n):
        value = k.value(s, [*q, b.add(first, i64(lane))])
        vector = b.insert_element(vector, value, L.Constant(I32, lane))
    return vector


def stored(k: KernelBuilder, var) -> bool:
    """Whether var is read from its buffer in this kernel (not computed inline)."""
    return var in k.buffers and (var not in k.segment.producer or var in k.done)


def select_and_scatter_add(k: KernelBuilder, e: Eqn) -> None:
    """out = the cotangents s at their windows' first maxima of x, zero elsewhere, for windows
    that tile x exactly (tiles_exactly), x stored: blocks of conv_pool.lanes windows along the
    last axis (the last block moved back to end at the last window: it rewrites the same
    values of the block before)."""
    s = e.inputs[0]
    count = s.type.shape[-1]
    n = lanes(s.type.dtype, count)
    b = k.b

    def block(q, j):
        start = b.mul(j, i64(n))
        start = b.select(b.icmp_signed(">", start, i64(count - n)), i64(count - n), start)
        _block(k, e, q, start)

    k.loop_nest(s.type.shape[:-1], lambda q: k.counted_loop(-(-count // n),
                                                            lambda j: block(q, j)))
