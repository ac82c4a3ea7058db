"""Loop nests of a kernel run on several threads: each split nest (nest_plan.py) emitted as its
own function over a range of rows, and the parallel-for the kernel calls to run its chunks
(an outlined nest, schedule.Group.outlined, is such a function called once over all rows).

The kernel stores the addresses the nest reads and writes in a context array on its stack and
calls `dualjit_parallel_for(nest, context, rows, chunk_rows, busy)`, a ctypes callback into this
module. It decides how many threads (threads.nest_threads: the budget, the free cores, the
chunks), wakes that many minus one pool threads, and runs chunks itself: every thread runs the
native `dualjit_run_chunks`, which takes chunk numbers from a shared atomic counter and calls
the nest on each chunk's rows until none is left, with the GIL released. So a helper that is
descheduled or never starts delays at most the chunk it took, and the caller waits only for
chunks some running thread has taken (no deadlock when many Python threads call kernels while
other processes hold the cores). A chunk's failure status is kept (the first one) and
returned to the kernel, which returns it to its caller.

Chunk boundaries depend only on the shape, so results are identical for any number of
threads above one. On one thread the nest runs as a single chunk: elementwise nests and
row-wise reductions give the same values either way, but a product is then one gemm call
instead of one per chunk (each of which packs the other operand again: ~8% of a 512x512
product on one core), and OpenBLAS's blocking of a call's rows can change the last bits of
a product, as its own threading does.

Why a Python callback and not a native pool: it reuses the tested pool and policy of
threads.py and parallel.py, costs ~8-15 us per split nest (nests below
nest_plan.NEST_MIN_ELEMENTS are not split), and its GIL hand-over is safe on every call path
(ctypes re-acquires the GIL for the callback whether or not the kernel's caller released it).
"""

from __future__ import annotations

import ctypes
import sys
import threading
import traceback

from llvmlite import ir as L

from . import lower, nest_pool, parallel, threads
from .schedule import Group, one_blas_call_when_idle

I32, I64, PTR = L.IntType(32), L.IntType(64), L.PointerType()
NEST_TYPE = L.FunctionType(I32, [PTR, I64, I64])  # status nest(context, first row, end row)
PARALLEL_FOR = "dualjit_parallel_for"
PARALLEL_FOR_TYPE = L.FunctionType(I32, [PTR, PTR, I64, I64, I64])
# bits of the parallel-for's last argument: a helper even on a busy machine (NestSplit.busy);
# a product run as one gemm call on OpenBLAS's threads when two cores are free
BUSY, ONE_BLAS_CALL = 1, 2


# ---------------------------------------------------------------------------------------------
# Emission
# ---------------------------------------------------------------------------------------------

class ContextBuffers:
    """A nest function's view of its kernel's buffers: the first use of each loads its address
    from the context array (in the function's entry block) and gives it the next slot; `order`
    is what the kernel must store there."""

    def __init__(self, outer: dict, sub, context: L.Value):
        self.outer, self.sub, self.context = outer, sub, context
        self.loaded: dict = {}
        self.order: list[L.Value] = []

    def __contains__(self, var) -> bool:
        return var in self.outer

    def __getitem__(self, var) -> L.Value:
        found = self.loaded.get(var)
        if found is None:
            b = self.sub.b
            with b.goto_entry_block():
                slot = b.gep(self.context, [lower.i64(len(self.order))], source_etype=PTR)
                found = self.loaded[var] = b.load(slot, typ=PTR)
            self.order.append(self.outer[var])
        return found


def emit_split(k, group: Group) -> None:
    """The group as a function over a range of rows, and the kernel's call of the
    parallel-for on it (its failure status becomes the kernel's)."""
    split = group.split
    fn, context = _nest_function(k, group, (split.lead, split.outer, split.columns))
    flags = int(split.busy) | (ONE_BLAS_CALL if one_blas_call_when_idle(group) else 0)
    _keep_failure(k, k.b.call(_parallel_for_declaration(k.module), [
        fn, context, lower.i64(split.rows), lower.i64(split.chunk_rows), lower.i64(flags)]))


def emit_outlined(k, group: Group) -> None:
    """The group as a function of its own (the same form as a split nest's, over all its
    rows), called once by the kernel: how an unoptimized kernel keeps its vectorized loops
    optimized (schedule.UNOPTIMIZED_CODE)."""
    fn, context = _nest_function(k, group, None)
    _keep_failure(k, k.b.call(fn, [context, lower.i64(0), lower.i64(0)]))


def _nest_function(k, group: Group, rows: tuple | None) -> tuple[L.Function, L.Value]:
    """The group emitted as `status nest(context, first row, end row)`, and the context array
    the kernel filled with the addresses it reads; rows: (lead, outer, columns) of a split
    nest, whose loops then run over that range of rows only, or None (all of them)."""
    module = k.module
    fn = L.Function(module, NEST_TYPE, module.get_unique_name(k.fn.name + ".nest"))
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    context, start, end = fn.args
    sub = k.child(k.segment, {}, fn=fn, done=k.done)
    sub.status = sub.b.alloca(I32)
    sub.b.store(lower.const(I32, lower.KERNEL_OK), sub.status)
    body = fn.append_basic_block("body")
    sub.b.branch(body)
    sub.b.position_at_end(body)
    sub.buffers = used = ContextBuffers(k.buffers, sub, context)
    sub.rows = None if rows is None else ((start, end), *rows)
    sub.emit_group(group)
    if sub.rows is not None:
        raise AssertionError(f"split nest {fn.name}: no loop took its rows")
    sub.b.ret(sub.b.load(sub.status, typ=I32))
    b = k.b
    array = k.alloca(PTR, max(1, len(used.order)))
    for i, address in enumerate(used.order):
        b.store(address, b.gep(array, [lower.i64(i)], source_etype=PTR))
    return fn, array


def _keep_failure(k, status: L.Value) -> None:
    """A nest's failure status becomes the kernel's."""
    b = k.b
    failed = b.icmp_signed("!=", status, lower.const(I32, lower.KERNEL_OK))
    b.store(b.select(failed, status, b.load(k.status, typ=I32)), k.status)


def gemm_block(k, layout, pointers, dtype, int_type: L.IntType):
    """In a split product's chunk: the (lhs, rhs, out) addresses of its block of the output's
    rows (op(lhs)'s rows) or columns (op(rhs)'s columns: NestSplit.columns), and the
    block's m and n (the chunk's part of one, all of the other)."""
    (start, end), _, outer, columns = k.rows
    assert outer == ((layout.n,) if columns else (layout.m,)), (outer, layout.m, layout.n)
    k.rows = None
    b, element = k.b, lower.MEM[dtype]
    lhs, rhs, out = pointers
    if columns:  # op(rhs)[:, j] starts at j (at j * ld when stored transposed)
        rhs = b.gep(rhs, [b.mul(start, lower.i64(layout.rhs.ld if layout.rhs.trans else 1))],
                    source_etype=element)
        out = b.gep(out, [start], source_etype=element)
    else:  # op(lhs)[i, :] starts at i * ld (at i when stored transposed)
        lhs = b.gep(lhs, [b.mul(start, lower.i64(1 if layout.lhs.trans else layout.lhs.ld))],
                    source_etype=element)
        out = b.gep(out, [b.mul(start, lower.i64(max(1, layout.n)))], source_etype=element)
    size = b.sub(end, start)
    size = b.trunc(size, int_type) if int_type.width < 64 else size
    whole = [L.Constant(int_type, v) for v in (layout.m, layout.n)]
    return (lhs, rhs, out), ([whole[0], size] if columns else [size, whole[1]])


def _parallel_for_declaration(module: L.Module) -> L.Function:
    register_symbols()
    found = module.globals.get(PARALLEL_FOR)
    return found if found is not None else L.Function(module, PARALLEL_FOR_TYPE, PARALLEL_FOR)


# ---------------------------------------------------------------------------------------------
# The native chunk loop every thread runs
# ---------------------------------------------------------------------------------------------

# A job: int64 fields, shared by the threads running one split nest.
NEST, CONTEXT, ROWS, CHUNK_ROWS, CHUNKS, NEXT, DONE, STATUS = range(8)


def _run_chunks_module() -> str:
    """`void dualjit_run_chunks(i64* job)`: take the next chunk number, run the nest on its
    rows, count it done; until every chunk is taken."""
    module = L.Module(name="dualjit_nest_runtime")
    fn = L.Function(module, L.FunctionType(L.VoidType(), [PTR]), "dualjit_run_chunks")
    fn.attributes.add("nounwind")
    job = fn.args[0]
    b = L.IRBuilder(fn.append_basic_block("entry"))

    def field(i):
        return b.gep(job, [lower.i64(i)], source_etype=I64)

    nest, context, rows, chunk_rows, chunks = (b.load(field(i), typ=I64) for i in range(5))
    # (a pointer typed as the nest's: llvmlite reads an indirect callee's type from it)
    nest, context = b.inttoptr(nest, NEST_TYPE.as_pointer()), b.inttoptr(context, PTR)
    take, run, record, count, done = (fn.append_basic_block(n) for n in (
        "take", "run", "record", "count", "done"))
    b.branch(take)
    b.position_at_end(take)
    i = b.atomic_rmw("add", field(NEXT), lower.i64(1), "seq_cst")
    b.cbranch(b.icmp_signed("<", i, chunks), run, done)
    b.position_at_end(run)
    first = b.mul(i, chunk_rows)
    after = b.add(first, chunk_rows)
    after = b.select(b.icmp_signed("<", after, rows), after, rows)
    status = b.call(nest, [context, first, after])
    b.cbranch(b.icmp_signed("!=", status, lower.const(I32, 0)), record, count)
    b.position_at_end(record)
    b.cmpxchg(field(STATUS), lower.i64(0), b.sext(status, I64), "seq_cst", "seq_cst")
    b.branch(count)
    b.position_at_end(count)
    b.atomic_rmw("add", field(DONE), lower.i64(1), "seq_cst")
    b.branch(take)
    b.position_at_end(done)
    b.ret_void()
    return str(module)


_runtime_lock = threading.Lock()
_runtime = None  # (the compiled module, the ctypes function running chunks)


def _run_chunks():
    global _runtime
    if _runtime is None:
        with _runtime_lock:
            if _runtime is None:
                from .engine import CompiledModule

                compiled = CompiledModule(_run_chunks_module(), name="dualjit_nest_runtime")
                call = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(
                    compiled.address("dualjit_run_chunks"))
                _runtime = (compiled, call)
    return _runtime[1]


# ---------------------------------------------------------------------------------------------
# The parallel-for
# ---------------------------------------------------------------------------------------------

class Job:
    """One call of a split nest: its fields (shared with the native chunk loop) and the
    condition the caller waits on for chunks other threads took."""

    def __init__(self, nest: int, context: int, rows: int, chunk_rows: int):
        chunks = -(-rows // chunk_rows)
        self.fields = (ctypes.c_int64 * 8)(nest, context, rows, chunk_rows, chunks, 0, 0, 0)
        self.address = ctypes.addressof(self.fields)
        self.finished: threading.Condition | None = None  # made when helpers are asked for

    def help(self) -> None:
        """A pool thread's part: chunks until none is left (none at all if it comes late)."""
        _run_chunks()(self.address)
        with self.finished:
            self.finished.notify_all()

    def run(self, helpers: int) -> None:
        if self.finished is None and helpers <= 0:  # the caller alone: nothing to wait for
            _run_chunks()(self.address)
            return
        if self.finished is None:
            self.finished = threading.Condition(threading.Lock())
        for _ in range(helpers):
            try:
                parallel.pool(helpers).submit(self.help)
            except RuntimeError:  # no new threads (interpreter shutdown): the caller's chunks
                break
        _run_chunks()(self.address)  # every chunk is taken when this returns
        with self.finished:
            while self.fields[DONE] < self.fields[CHUNKS]:  # taken by running threads
                self.finished.wait()

    @property
    def status(self) -> int:
        return int(self.fields[STATUS])


def parallel_for(nest: int, context: int, rows: int, chunk_rows: int, busy: int = 1) -> int:
    """Run a split nest's chunks (see the module docstring); returns its status. An exception
    here (KeyboardInterrupt arriving while the callback runs Python) must not make ctypes
    report success with chunks not run: the work is finished first, the interrupt delivered
    again afterwards."""
    pending, blas = None, 1
    try:
        helpers = threads.nest_threads(-(-rows // chunk_rows), bool(busy & BUSY)) - 1
        if busy & ONE_BLAS_CALL and helpers:  # two free cores: OpenBLAS's threads (schedule)
            blas = min(threads.configured(), threads.free_cores())
            helpers = 0 if blas > 1 else helpers
        # One thread: the whole range as one chunk (one gemm call, which packs the other
        # operand once, not once per chunk); see the module docstring.
        whole = helpers == 0
        if blas > 1:
            threads.set_blas_threads(blas)
            if nest_pool.usable():
                nest_pool.stop_polling()  # (our polling workers would take OpenBLAS's core)
        loaded = helpers > 0 and threads.free_cores() <= helpers
    except BaseException as error:  # noqa: BLE001 - handed on below; the caller runs the chunks
        pending, helpers, whole, loaded = error, 0, False, True
    if nest_pool.usable():
        status = _run_native(nest, context, rows, max(1, rows) if whole else chunk_rows,
                             helpers, loaded)
        if blas > 1:  # (the kernel's other products call gemm on one thread each)
            threads.set_blas_threads(1)
        if pending is not None:
            _hand_on(pending)
        return status
    try:
        job = Job(nest, context, rows, max(1, rows) if whole else chunk_rows)
    except BaseException as error:  # noqa: BLE001 - nothing ran: the kernel fails (and raises)
        _hand_on(pending or error)
        return lower.KERNEL_OUT_OF_MEMORY
    started = False
    while True:  # (until every chunk is done: helpers may be writing the kernel's buffers)
        try:
            if not started:
                started = True
                job.run(helpers)
            else:
                job.run(0)  # (takes what is left; waits for chunks others took)
            break
        except BaseException as error:  # noqa: BLE001 - handed on below
            pending = pending or error
    if blas > 1:  # (the kernel's other products call gemm on one thread each)
        threads.set_blas_threads(1)
    if pending is not None:
        _hand_on(pending)
    return job.status


def _run_native(nest: int, context: int, rows: int, chunk_rows: int, helpers: int,
                loaded: bool) -> int:
    """The chunks run by native threads (nest_pool.py): one call that posts the job, runs
    chunks and waits, with the GIL released; nothing in it raises once it started."""
    try:
        job = nest_pool.Job(nest, context, rows, chunk_rows)
    except BaseException as error:  # noqa: BLE001 - nothing ran: the kernel fails (and raises)
        _hand_on(error)
        return lower.KERNEL_OUT_OF_MEMORY
    pending = None
    try:
        status = job.run(helpers, loaded)
    except BaseException as error:  # noqa: BLE001 - handed on below, once the chunks ran
        pending, status = error, job.finish()
    job.release()
    if pending is not None:
        _hand_on(pending)
    return status


def with_warm_workers(call):
    """call (a kernel with split nests), first waking a sleeping worker when a core is free
    (nest_pool.wake_one): it is polling by the kernel's first split nest instead of
    starting tens to hundreds of microseconds late on a CPU that had halted."""
    if not nest_pool.usable():
        return call

    def run(*args, **params):
        if threads.configured() > 1 and threads.free_cores() > 1:
            nest_pool.wake_one()
        return call(*args, **params)
    return run


def _hand_on(error: BaseException) -> None:
    if isinstance(error, KeyboardInterrupt):
        import _thread

        _thread.interrupt_main()
    else:
        traceback.print_exception(error, file=sys.stderr)


# (through a lambda: the module's parallel_for is looked up at each call, so tests can wrap it)
_PARALLEL_FOR = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p,
                                 ctypes.c_int64, ctypes.c_int64, ctypes.c_int64)(
    lambda nest, context, rows, chunk_rows, busy: parallel_for(nest, context, rows,
                                                               chunk_rows, busy))
_registered = False


def register_symbols() -> None:
    """Tell LLVM where the parallel-for is (kernels with split nests call it by name)."""
    global _registered
    if not _registered:
        from .engine import llvm

        llvm().add_symbol(PARALLEL_FOR, ctypes.cast(_PARALLEL_FOR, ctypes.c_void_p).value)
        _registered = True
