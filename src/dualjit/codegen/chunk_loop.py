"""The functions of a thread-split kernel: one chunk body, run by native loops over chunks.

A kernel with a flat variant (schedule.flat_variant: one flat index space [0, n), cut into
chunks of FlatSegment.chunk elements whatever the thread count) is emitted as
  - `<k>_chunk(data pointers..., start, end)`: the body, one chunk's range (never inlined, so
    every chunk runs the same machine code however it is called);
  - `<k>_fold_row(outs..., rows..., first)`: folds one chunk's partial reductions into the
    outputs (first: copies them), also never inlined: the one merge of partial results;
  - `<k>(buffers...)`: the kernel as one thread runs it, called like any unsplit kernel (the
    same arguments, Python entries and fast call paths): every chunk in order, each chunk's
    partial results folded into the outputs as it ends;
  - `<k>_chunks(buffers..., first, last)` and `<k>_fold(outs..., rows...)`: the same work
    shared by threads (parallel.py): chunks in any order, each reduction's partial results
    in a row per chunk, then folded in chunk order; `<k>_nest(context, first, last)` calls
    `<k>_chunks` on the buffers whose addresses the context array holds (how native threads
    run it: nest_pool.py).
Both ways run the same chunk body and the same fold in the same order, so results are
identical for any thread count (a float sum may differ from an unsplit loop's by rounding).
"""

from __future__ import annotations

from llvmlite import ir as L

from . import lower  # (lower imports this module: its names are read when emitting)
from .abi import PYARRAY_DATA_OFFSET
from .schedule import FlatSegment

I1, I8, I32, I64 = L.IntType(1), L.IntType(8), L.IntType(32), L.IntType(64)
PTR = L.PointerType()


def emit(module: L.Module, name: str, flat: FlatSegment, probes=None) -> L.Function:
    """Every function of the split kernel `name`; returns `<k>` (for its Python entries).
    probes: a profiling build's probes.KernelProbes, counting the chunk body's groups."""
    body = lower.KernelBuilder(module, name + "_chunk", flat.segment, chunk_of=flat.n,
                               data_args=True)
    body.probes = probes
    body.emit()
    chunk = _opaque(module, body.fn)
    fold_row = _opaque(module, _emit_fold_row(module, name + "_fold_row", flat, body))
    _emit_nest(module, name + "_nest", _emit_chunks(module, name + "_chunks", chunk, flat))
    _emit_fold(module, name + "_fold", fold_row, flat)
    return _emit_whole(module, name, chunk, fold_row, flat)


class _Opaque:
    """A function called through a pointer the optimizer cannot follow (a global it must
    assume written elsewhere): no caller inlines, specializes or rewrites it, so every call,
    from any of the chunk loops, runs the one machine code of the function."""

    def __init__(self, fn: L.Function, address: L.GlobalVariable):
        self.fn, self.address = fn, address
        self.args = fn.args

    def call(self, b: L.IRBuilder, args: list) -> L.Value:
        # (a pointer typed with the function's type: what llvmlite's call reads; printed `ptr`)
        target = b.load(self.address, typ=L.PointerType(self.fn.function_type))
        return b.call(target, args)


def _opaque(module: L.Module, fn: L.Function) -> _Opaque:
    fn.attributes.add("noinline")
    address = L.GlobalVariable(module, PTR, fn.name + ".address")
    address.initializer = fn
    return _Opaque(fn, address)


def reduced(flat: FlatSegment) -> list[int]:
    """Positions (among the live-outs) of the reductions' outputs."""
    return [j for j, monoid in enumerate(flat.combine) if monoid is not None]


def _entry(module: L.Module, name: str, n_objects: int, extra: list) -> tuple:
    """A function taking n_objects array objects then `extra`: (fn, builder, data pointers)."""
    fn = L.Function(module, L.FunctionType(I32, [PTR] * n_objects + extra), name)
    fn.attributes.add("nounwind")
    b = L.IRBuilder(fn.append_basic_block("entry"))
    data = [b.load(b.gep(arg, [L.Constant(I64, PYARRAY_DATA_OFFSET)], source_etype=I8), typ=PTR)
            for arg in fn.args[:n_objects]]
    return fn, b, data


def _loop(b: L.IRBuilder, first: L.Value, last: L.Value, step) -> None:
    """for c in [first, last): status = step(c), leaving with the first nonzero status;
    the function returns the status (0 when every step succeeded)."""
    fn = b.function
    entry = b.block
    test, run, done = (fn.append_basic_block(s) for s in ("chunk.test", "chunk.run", "done"))
    b.branch(test)
    b.position_at_end(test)
    c = b.phi(I64)
    c.add_incoming(first, entry)
    b.cbranch(b.icmp_signed("<", c, last), run, done)
    b.position_at_end(run)
    status = step(c)
    c.add_incoming(b.add(c, L.Constant(I64, 1)), b.block)
    b.cbranch(b.icmp_signed("==", status, L.Constant(I32, 0)), test, done)
    ran = b.block
    b.position_at_end(done)
    result = b.phi(I32)
    result.add_incoming(L.Constant(I32, 0), test)
    result.add_incoming(status, ran)
    b.ret(result)


def _chunk_range(b: L.IRBuilder, flat: FlatSegment, c: L.Value) -> list[L.Value]:
    """[c * chunk, min(c * chunk + chunk, n))."""
    start = b.mul(c, L.Constant(I64, flat.chunk))
    end = b.add(start, L.Constant(I64, flat.chunk))
    n = L.Constant(I64, flat.n)
    return [start, b.select(b.icmp_signed("<", end, n), end, n)]


def _row_bytes(flat: FlatSegment, j: int) -> int:
    var = flat.segment.live_out[j]
    return var.type.dtype.np.itemsize * max(var.type.size, 1)


def _row(b: L.IRBuilder, rows: L.Value, flat: FlatSegment, j: int, c: L.Value) -> L.Value:
    """Chunk c's row of reduction output j's partial results."""
    return b.gep(rows, [b.mul(c, L.Constant(I64, _row_bytes(flat, j)))], source_etype=I8)


def _emit_chunks(module: L.Module, name: str, body: _Opaque, flat: FlatSegment) -> None:
    """`name(buffers..., first, last)`: chunks first..last-1, a reduction's buffer holding a
    row of partial results per chunk."""
    n_in = len(flat.segment.live_in)
    fn, b, data = _entry(module, name, len(body.args) - 2, [I64, I64])

    def step(c):
        buffers = list(data)
        for j in reduced(flat):
            buffers[n_in + j] = _row(b, data[n_in + j], flat, j, c)
        return body.call(b, [*buffers, *_chunk_range(b, flat, c)])
    _loop(b, *fn.args[-2:], step)
    return fn


def _emit_nest(module: L.Module, name: str, chunks: L.Function) -> None:
    """`status name(context, first, last)`: `chunks` on the array objects whose addresses
    the context holds, in the form native threads run split nests (nest_pool.py)."""
    fn = L.Function(module, L.FunctionType(I32, [PTR, I64, I64]), name)
    fn.attributes.add("nounwind")
    context, first, last = fn.args
    b = L.IRBuilder(fn.append_basic_block("entry"))
    objects = [b.load(b.gep(context, [L.Constant(I64, i)], source_etype=PTR), typ=PTR)
               for i in range(len(chunks.args) - 2)]
    b.ret(b.call(chunks, [*objects, first, last]))


def _emit_fold(module: L.Module, name: str, fold_row: _Opaque, flat: FlatSegment) -> None:
    """`name(outs..., rows...)`: every chunk's row of partial results folded in chunk order."""
    m = len(reduced(flat))
    fn, b, data = _entry(module, name, 2 * m, [])

    def step(c):
        rows = [_row(b, data[m + i], flat, j, c) for i, j in enumerate(reduced(flat))]
        first = b.icmp_signed("==", c, L.Constant(I64, 0))
        return fold_row.call(b, [*data[:m], *rows, first])
    _loop(b, L.Constant(I64, 0), L.Constant(I64, flat.n_chunks), step)


def _emit_whole(module: L.Module, name: str, body: _Opaque, fold_row: _Opaque,
                flat: FlatSegment) -> L.Function:
    """`name(buffers...)`: every chunk in order on this thread, each chunk's partial results
    (in stack slots) folded into the outputs as it ends."""
    n_in, seg = len(flat.segment.live_in), flat.segment
    fn, b, data = _entry(module, name, len(body.args) - 2, [])
    slots = {j: b.alloca(lower.MEM[seg.live_out[j].type.dtype],
                         size=L.Constant(I64, max(seg.live_out[j].type.size, 1)))
             for j in reduced(flat)}

    def step(c):
        buffers = [slots.get(i - n_in, p) if i >= n_in else p for i, p in enumerate(data)]
        status = body.call(b, [*buffers, *_chunk_range(b, flat, c)])
        first = b.icmp_signed("==", c, L.Constant(I64, 0))
        fold_row.call(b, [*(data[n_in + j] for j in slots), *slots.values(), first])
        return status
    _loop(b, L.Constant(I64, 0), L.Constant(I64, flat.n_chunks), step)
    return fn


def _emit_fold_row(module: L.Module, name: str, flat: FlatSegment,
                   kernel: lower.KernelBuilder) -> L.Function:
    """`name(outs..., rows..., first)`: out = row if first else combine(out, row), for each
    reduction output (the combine of the kernel's own reductions: lower.reduction_combine)."""
    js = reduced(flat)
    fn = L.Function(module, L.FunctionType(I32, [PTR] * (2 * len(js)) + [I1]), name)
    fn.attributes.add("nounwind")
    k = kernel.child(flat.segment, {}, fn=fn)
    outs, rows, first = fn.args[:len(js)], fn.args[len(js):-1], fn.args[-1]
    for j, out, row in zip(js, outs, rows):
        var = flat.segment.live_out[j]
        k.buffers[var] = row
        value = k.load(var, [])
        k.buffers[var] = out
        with k.b.if_else(first) as (copy, combine):
            with copy:
                k.store(var, [], value)
            with combine:
                total = lower.reduction_combine(k, flat.combine[j], var.type.dtype,
                                                k.load(var, []), value)
                k.store(var, [], total)
    k.b.ret(L.Constant(I32, 0))
    return fn
