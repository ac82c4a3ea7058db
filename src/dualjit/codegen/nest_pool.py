"""Native threads for split nests (nest_parallel.py): worker threads made with pthread_create
that never touch Python, a job record per split-nest call, and the native code that posts a
job, runs its chunks and waits for them.

Why native: with Python pool threads a helper needs the GIL to start and to report, and on a
busy machine a thread holding the GIL is often descheduled for a whole time slice, stalling
the others (W2's weight-update nest took 0.14 ms on two threads against 0.07 ms on one, on an
idle machine). Here helpers sleep on a futex, wake in tens of microseconds, run chunks and
count them done with atomics; after a job a helper keeps polling for the next one for a
short while (LINGER_NS, shorter on a busy machine) so that the next split nest of the same
kernel finds it running.

A job record holds (chunks << 32) | next in one word, so that one atomic add both claims a
chunk and says whether it belongs to a live job: a helper still holding a finished record
claims nothing (next >= chunks), and one whose add lands after the record was posted again
claims a chunk of the new job, whose fields were written before it was posted. A record is
reused only once all its claimed chunks are done. The caller runs chunks too, then waits only
for chunks a running thread took (spinning briefly, then on a futex): a helper that never
comes delays nothing, and many Python threads calling at once cannot deadlock (a job whose
post was overwritten by another's is finished by its caller alone). When no core is idle the
caller first sleeps for at most BUSY_PATIENCE_NS while workers run the job (then works as
above): on a machine shared with other sessions, threads that sleep and wake at every job
got a much larger share than one thread that never sleeps (see BUSY_PATIENCE_NS).

Linux only (futex); elsewhere nest_parallel.py keeps its Python pool.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import platform
import signal
import sys
import threading

from llvmlite import ir as L

I8, I32, I64, PTR = L.IntType(8), L.IntType(32), L.IntType(64), L.PointerType()
NEST_TYPE = L.FunctionType(I32, [PTR, I64, I64])  # status nest(context, first row, end row)
# A record's int64 fields.
WORD, DONE, STATUS, NEST, CONTEXT, ROWS, CHUNK_ROWS, JOINED, WANTED, WAITING, HELPER_CPU = (
    range(11))  # (HELPER_CPU: the CPU of the last helper that joined, else -1)
RECORD_FIELDS = 11
# The pool's shared int64 fields: the job sequence number (a futex word), the posted record,
# sleeping workers, the quit flag, how long a worker polls for the next job, and two counts
# for tests and benchmarks: how often a worker went to sleep, how often a post woke one, and
# how often a poll was cut short because the worker was preempted.
SEQ, JOB, SLEEPING, QUIT, LINGER, SLEEPS, WAKES, CUTS, CALLER_CPU = range(9)
SHARED_FIELDS = 9  # (CALLER_CPU: the CPU of the thread that posted the last job)
MAX_CHUNKS = (1 << 31) - 1
# A helper polls this long for the next job when a core is idle. A woken helper on a halted
# vCPU starts tens to hundreds of microseconds late, and within a kernel a helper is idle
# between two split nests for the caller's last chunk, the callback and any unsplit nests in
# between (W7: up to 0.6 ms); 100 us let it sleep before nearly every job.
LINGER_NS = 1_000_000
BUSY_LINGER_NS = 20_000  # ... when no core is idle (polling takes our own threads' share)
# A polling thread stops once it finds it was off the CPU for longer than this between two
# looks: the scheduler gave its core to another thread, ours or another process's, so the
# core is not free and polling on it takes that thread's time (on a loaded machine the
# scheduler may put the caller and a polling worker on one core: W7 took 50-68 ms a step
# with a 1 ms window and no such check, 5 ms without polling).
PREEMPTED_NS = 50_000
# Nor does a thread poll on the CPU of the thread it waits for (sched_getcpu at each look):
# a helper polling on the caller's CPU, or a caller polling on the CPU of the helper that
# holds a chunk, keeps that thread from running until the scheduler preempts the poller.
# A woken helper lands on the caller's CPU when no other CPU is idle (in a quiet-machine
# model, a cgroup of high weight beside other sessions' work: W2 took 2.1-2.5 ms a step in
# some processes against 0.8 in others).
# The caller polls this long for others' chunks, then sleeps (LINGER_NS when a core is idle:
# its own wake would then be on the critical path, after every chunk a helper finishes last)
WAIT_SPIN_NS = 30_000
# When no core is idle, the caller first sleeps up to this long while one more worker than
# the helpers asked for runs the job, and only then takes chunks itself (so it never waits
# for workers that do not come for longer). W2 beside two busy processes while other
# sessions loaded the machine (load 8-12): 4.5-4.9 ms a step against 11.4-13.8 ms with the
# caller working at once (JAX: 4.0-8.8 ms); on an otherwise quiet machine the same within
# noise (2.25-2.31 against 2.14 ms). The caller's one thread working while helpers wake
# late got about a third of what two threads that sleep and wake at every job got. Shorter is
# better when only other sessions' tasks take the cores (the workers then come late and the
# caller had better work): W2 at load 5-6, two runs, patience 200 / 100 / 50 / 0 us: 4.4-4.6 /
# 4.1 / 4.0 / 3.3-3.6 ms a step without busy processes of ours, 8.0 / 7.6 / 7.3-7.4 / 9.0-9.1
# ms beside them.
BUSY_PATIENCE_NS = 50_000
_FUTEX = {"x86_64": 202, "amd64": 202, "aarch64": 98, "arm64": 98}
FUTEX_WAIT, FUTEX_WAKE = 128, 129  # the _PRIVATE forms
_HALF = 4 if sys.byteorder == "big" else 0  # the byte offset of an int64's low half


def available() -> bool:
    """Whether native workers can run here (Linux with a known futex system call)."""
    return sys.platform.startswith("linux") and platform.machine().lower() in _FUTEX


# ---------------------------------------------------------------------------------------------
# The native side
# ---------------------------------------------------------------------------------------------

class _Emitter:
    """Helpers shared by the module's functions: fields, the clock, futex calls, the pause."""

    def __init__(self, module: L.Module):
        self.module = module
        self.syscall = L.Function(module, L.FunctionType(I64, [I64], var_arg=True), "syscall")
        self.clock = L.Function(module, L.FunctionType(I32, [I32, PTR]), "clock_gettime")
        self.getcpu = L.Function(module, L.FunctionType(I32, []), "sched_getcpu")

    def cpu(self, b: L.IRBuilder) -> L.Value:
        """The CPU this thread runs on now, as an i64 (-1 when unknown)."""
        return b.sext(b.call(self.getcpu, []), I64)

    def same_cpu(self, b: L.IRBuilder, cpu: L.Value, other: L.Value) -> L.Value:
        """Whether two CPU numbers are the same known CPU."""
        return b.and_(b.icmp_signed("==", cpu, other),
                      b.icmp_signed(">=", cpu, L.Constant(I64, 0)))

    @staticmethod
    def field(b: L.IRBuilder, base: L.Value, i: int) -> L.Value:
        return b.gep(base, [L.Constant(I64, i)], source_etype=I64)

    def load(self, b, base, i, order="seq_cst"):
        return b.load_atomic(self.field(b, base, i), order, 8, typ=I64)

    def futex(self, b: L.IRBuilder, base: L.Value, i: int, op: int, value: L.Value,
              timeout: L.Value | None = None) -> None:
        """futex(op) on the low half of field i of base (value: an i64, truncated; timeout:
        a relative timespec for a wait, else none)."""
        word = b.gep(b.gep(base, [L.Constant(I64, i)], source_etype=I64),
                     [L.Constant(I64, _HALF)], source_etype=I8)
        number = _FUTEX[platform.machine().lower()]
        b.call(self.syscall, [L.Constant(I64, number), word, L.Constant(I32, op),
                              b.trunc(value, I32),
                              L.Constant(PTR, None) if timeout is None else timeout,
                              L.Constant(PTR, None), L.Constant(I32, 0)])

    def now(self, b: L.IRBuilder, spec: L.Value) -> L.Value:
        """Nanoseconds of CLOCK_MONOTONIC (spec: two i64 of scratch)."""
        b.call(self.clock, [L.Constant(I32, 1), spec])
        seconds, nanos = (b.load(self.field(b, spec, i), typ=I64) for i in (0, 1))
        return b.add(b.mul(seconds, L.Constant(I64, 1_000_000_000)), nanos)

    def pause(self, b: L.IRBuilder) -> None:
        """The spin-wait hint of this CPU (x86's pause, ARM's yield)."""
        if platform.machine().lower() in ("x86_64", "amd64"):
            b.call(self.module.declare_intrinsic("llvm.x86.sse2.pause", (),
                                                 L.FunctionType(L.VoidType(), [])), [])
        else:
            hint = self.module.declare_intrinsic("llvm.aarch64.hint", (),
                                                 L.FunctionType(L.VoidType(), [I32]))
            b.call(hint, [L.Constant(I32, 1)])


def _emit_chunks(e: _Emitter) -> L.Function:
    """`void dualjit_pool_chunks(i64* record)`: claim chunks of the record's job and run them
    until none is left; whoever finishes the last chunk wakes a waiting caller."""
    fn = L.Function(e.module, L.FunctionType(L.VoidType(), [PTR]), "dualjit_pool_chunks")
    fn.attributes.add("nounwind")
    record = fn.args[0]
    b = L.IRBuilder(fn.append_basic_block("entry"))
    take, run, failed, count, wake, done = (fn.append_basic_block(n) for n in (
        "take", "run", "failed", "count", "wake", "done"))
    b.branch(take)
    b.position_at_end(take)
    word = b.atomic_rmw("add", e.field(b, record, WORD), L.Constant(I64, 1), "seq_cst")
    i, chunks = b.and_(word, L.Constant(I64, 0xFFFFFFFF)), b.lshr(word, L.Constant(I64, 32))
    b.cbranch(b.icmp_unsigned("<", i, chunks), run, done)
    b.position_at_end(run)
    nest, context, rows, chunk_rows = (b.load(e.field(b, record, f), typ=I64)
                                       for f in (NEST, CONTEXT, ROWS, CHUNK_ROWS))
    first = b.mul(i, chunk_rows)
    after = b.add(first, chunk_rows)
    after = b.select(b.icmp_signed("<", after, rows), after, rows)
    # (a pointer typed as the nest's: llvmlite reads an indirect callee's type from it)
    status = b.call(b.inttoptr(nest, NEST_TYPE.as_pointer()),
                    [b.inttoptr(context, PTR), first, after])
    b.cbranch(b.icmp_signed("!=", status, L.Constant(I32, 0)), failed, count)
    b.position_at_end(failed)
    b.cmpxchg(e.field(b, record, STATUS), L.Constant(I64, 0), b.sext(status, I64),
              "seq_cst", "seq_cst")
    b.branch(count)
    b.position_at_end(count)
    finished = b.add(b.atomic_rmw("add", e.field(b, record, DONE), L.Constant(I64, 1),
                                  "seq_cst"), L.Constant(I64, 1))
    last = b.icmp_unsigned("==", finished, chunks)
    waiting = b.icmp_unsigned("!=", e.load(b, record, WAITING), L.Constant(I64, 0))
    b.cbranch(b.and_(last, waiting), wake, take)
    b.position_at_end(wake)
    e.futex(b, record, DONE, FUTEX_WAKE, L.Constant(I64, 1))
    b.branch(take)
    b.position_at_end(done)
    b.ret_void()
    return fn


def _emit_help(e: _Emitter, chunks: L.Function) -> L.Function:
    """`void dualjit_pool_help(i64* shared)`: take a ticket of the posted job (no more helpers
    than it asked for) and run its chunks."""
    fn = L.Function(e.module, L.FunctionType(L.VoidType(), [PTR]), "dualjit_pool_help")
    fn.attributes.add("nounwind")
    b = L.IRBuilder(fn.append_basic_block("entry"))
    join, helping, leave = (fn.append_basic_block(n) for n in ("join", "helping", "leave"))
    record = e.load(b, fn.args[0], JOB)
    b.cbranch(b.icmp_unsigned("!=", record, L.Constant(I64, 0)), join, leave)
    b.position_at_end(join)
    record = b.inttoptr(record, PTR)
    ticket = b.atomic_rmw("add", e.field(b, record, JOINED), L.Constant(I64, 1), "seq_cst")
    b.cbranch(b.icmp_signed("<", ticket, e.load(b, record, WANTED)), helping, leave)
    b.position_at_end(helping)
    b.atomic_rmw("xchg", e.field(b, record, HELPER_CPU), e.cpu(b), "monotonic")
    b.call(chunks, [record])
    b.branch(leave)
    b.position_at_end(leave)
    b.ret_void()
    return fn


def _emit_worker(e: _Emitter, help_: L.Function) -> None:
    """`ptr dualjit_pool_worker(i64* shared)`, a pthread's start routine: wait for the job
    sequence number to change (polling, see _emit_poll, then on its futex) and help with the
    posted job; return when shared[QUIT] is set."""
    fn = L.Function(e.module, L.FunctionType(PTR, [PTR]), "dualjit_pool_worker")
    fn.attributes.add("nounwind")
    shared = fn.args[0]
    entry, idle, poll, sleep, work, leave = (fn.append_basic_block(n) for n in (
        "entry", "idle", "poll", "sleep", "work", "leave"))
    b = L.IRBuilder(entry)
    spec = b.alloca(I64, L.Constant(I64, 2))
    first_seen, first_start = e.load(b, shared, SEQ), e.now(b, spec)
    b.branch(idle)
    b.position_at_end(idle)
    seen, start, last = b.phi(I64), b.phi(I64), b.phi(I64)
    seq = e.load(b, shared, SEQ)
    b.cbranch(b.icmp_unsigned("!=", e.load(b, shared, QUIT), L.Constant(I64, 0)), leave, poll)
    b.position_at_end(poll)
    now = e.now(b, spec)
    spin = fn.append_basic_block("spin")
    b.cbranch(b.icmp_unsigned("!=", seq, seen), work, spin)
    b.position_at_end(spin)
    polling = _emit_poll(e, fn, b, shared, (now, start, last), (idle, sleep))
    b.position_at_end(sleep)
    b.atomic_rmw("add", e.field(b, shared, SLEEPING), L.Constant(I64, 1), "seq_cst")
    b.atomic_rmw("add", e.field(b, shared, SLEEPS), L.Constant(I64, 1), "monotonic")
    e.futex(b, shared, SEQ, FUTEX_WAIT, seen)  # (returns at once if SEQ moved meanwhile)
    b.atomic_rmw("sub", e.field(b, shared, SLEEPING), L.Constant(I64, 1), "seq_cst")
    woken = e.now(b, spec)
    b.branch(idle)
    b.position_at_end(work)
    b.call(help_, [shared])
    after = e.now(b, spec)  # (polling starts again after a job)
    b.branch(idle)
    for phi, values in ((seen, (first_seen, seen, seen, seq)),
                        (start, (first_start, start, start, after)),
                        (last, (first_start, now, woken, after))):
        for value, block in zip(values, (entry, polling, sleep, work)):
            phi.add_incoming(value, block)
    b.position_at_end(leave)
    b.ret(L.Constant(PTR, None))


def _emit_poll(e: _Emitter, fn: L.Function, b: L.IRBuilder, shared: L.Value, times,
               targets) -> L.Block:
    """In the worker, no new job at `now`: poll again (branch to `idle`) while within
    shared[LINGER] ns of the last job and not preempted since the previous look (more than
    PREEMPTED_NS between two looks: another thread wanted this core, so it is not free);
    else go to `sleep`, counting a poll cut short by preemption. Returns the block that
    branches back to `idle`. (It does not yield the CPU at each look: sched_yield handed
    it to other runnable threads for whole time slices, and the helper then missed nearly
    every split nest of W7; the preemption check bounds what polling takes from others to
    one time slice per window.)"""
    now, start, last = times
    idle, sleep = targets
    e.pause(b)
    linger = e.load(b, shared, LINGER, "monotonic")
    window = b.icmp_signed("<", b.sub(now, start), linger)
    steady = b.icmp_signed("<", b.sub(now, last), L.Constant(I64, PREEMPTED_NS))
    alone = b.not_(e.same_cpu(b, e.cpu(b), e.load(b, shared, CALLER_CPU, "monotonic")))
    steady = b.and_(steady, alone)
    polling = b.block
    cut = fn.append_basic_block("cut")
    b.cbranch(b.and_(window, steady), idle, cut)
    b.position_at_end(cut)
    with b.if_then(window):
        b.atomic_rmw("add", e.field(b, shared, CUTS), L.Constant(I64, 1), "monotonic")
    b.branch(sleep)
    return polling


def _emit_post(e: _Emitter, fn: L.Function, b: L.IRBuilder, args) -> L.Block:
    """In dualjit_pool_run: publish the record's chunk word, and when helpers are asked for,
    post the record where workers look and wake that many sleeping ones; returns the block
    where the caller goes on."""
    record, word, shared, helpers = args
    b.atomic_rmw("xchg", e.field(b, record, WORD), word, "seq_cst")  # (an atomic store)
    post, wake, go = (fn.append_basic_block(n) for n in ("post", "wake", "go"))
    asked = b.and_(b.icmp_signed(">", helpers, L.Constant(I64, 0)),
                   b.icmp_unsigned("!=", b.ptrtoint(shared, I64), L.Constant(I64, 0)))
    b.cbranch(asked, post, go)
    b.position_at_end(post)
    b.atomic_rmw("xchg", e.field(b, shared, CALLER_CPU), e.cpu(b), "monotonic")
    b.atomic_rmw("xchg", e.field(b, shared, JOB), b.ptrtoint(record, I64), "seq_cst")
    b.atomic_rmw("add", e.field(b, shared, SEQ), L.Constant(I64, 1), "seq_cst")
    sleeping = b.icmp_signed(">", e.load(b, shared, SLEEPING), L.Constant(I64, 0))
    b.cbranch(sleeping, wake, go)
    b.position_at_end(wake)
    b.atomic_rmw("add", e.field(b, shared, WAKES), L.Constant(I64, 1), "monotonic")
    e.futex(b, shared, SEQ, FUTEX_WAKE, helpers)
    b.branch(go)
    b.position_at_end(go)
    return go


def _emit_run(e: _Emitter, chunks: L.Function) -> None:
    """`i32 dualjit_pool_run(i64* record, i64 word, i64* shared, i64 helpers, i64 spin)`:
    post the job (see _emit_post), run its chunks, wait for those other threads took
    (polling for `spin` ns, then on the record's futex); returns the job's status."""
    fn = L.Function(e.module, L.FunctionType(I32, [PTR, I64, PTR, I64, I64, I64]),
                    "dualjit_pool_run")
    record, word, shared, helpers, spin, patience = fn.args
    b = L.IRBuilder(fn.append_basic_block("entry"))
    spec = b.alloca(I64, L.Constant(I64, 2))
    b.position_at_end(_emit_post(e, fn, b, (record, word, shared, helpers)))
    total = b.lshr(word, L.Constant(I64, 32))
    with b.if_then(b.icmp_signed(">", patience, L.Constant(I64, 0))):
        # (the caller first sleeps up to `patience` ns while the workers run the job)
        b.atomic_rmw("xchg", e.field(b, record, WAITING), L.Constant(I64, 1), "seq_cst")
        billion = L.Constant(I64, 1_000_000_000)
        b.store(b.udiv(patience, billion), e.field(b, spec, 0))
        b.store(b.urem(patience, billion), e.field(b, spec, 1))
        e.futex(b, record, DONE, FUTEX_WAIT, e.load(b, record, DONE), spec)
    b.call(chunks, [record])
    finish = _emit_wait(e, fn, b, (record, total, spin, spec))
    b.position_at_end(finish)
    posted = b.ptrtoint(record, I64)
    with b.if_then(b.icmp_unsigned("!=", b.ptrtoint(shared, I64), L.Constant(I64, 0))):
        # (workers waking late then find no job rather than a finished one)
        b.cmpxchg(e.field(b, shared, JOB), posted, L.Constant(I64, 0), "seq_cst", "seq_cst")
    b.ret(b.trunc(e.load(b, record, STATUS), I32))


def _emit_nudge(e: _Emitter) -> None:
    """`void dualjit_pool_nudge(i64* shared)`: move the job sequence number without posting
    a job and wake one sleeping worker: it finds no job and polls for the next one (its
    poll window), so it is running when the caller's first split nest comes."""
    fn = L.Function(e.module, L.FunctionType(L.VoidType(), [PTR]), "dualjit_pool_nudge")
    fn.attributes.add("nounwind")
    shared = fn.args[0]
    b = L.IRBuilder(fn.append_basic_block("entry"))
    b.atomic_rmw("add", e.field(b, shared, SEQ), L.Constant(I64, 1), "seq_cst")
    with b.if_then(b.icmp_signed(">", e.load(b, shared, SLEEPING), L.Constant(I64, 0))):
        b.atomic_rmw("add", e.field(b, shared, WAKES), L.Constant(I64, 1), "monotonic")
        e.futex(b, shared, SEQ, FUTEX_WAKE, L.Constant(I64, 1))
    b.ret_void()


def _emit_wait(e: _Emitter, fn: L.Function, b: L.IRBuilder, args) -> L.Block:
    """In dualjit_pool_run, every chunk taken: wait until all are done, polling for up to
    `spin` ns while not preempted (see _emit_poll), then on the record's futex; returns the
    block reached when all are done."""
    record, total, spin, spec = args
    start = e.now(b, spec)
    check, poll, sleep, finish = (fn.append_basic_block(n) for n in (
        "check", "poll", "sleep", "finish"))
    entry = b.block
    b.branch(check)
    b.position_at_end(check)
    last = b.phi(I64)
    b.cbranch(b.icmp_unsigned(">=", e.load(b, record, DONE), total), finish, poll)
    b.position_at_end(poll)
    e.pause(b)
    now = e.now(b, spec)
    window = b.icmp_signed("<", b.sub(now, start), spin)
    steady = b.icmp_signed("<", b.sub(now, last), L.Constant(I64, PREEMPTED_NS))
    helper = e.load(b, record, HELPER_CPU, "monotonic")
    steady = b.and_(steady, b.not_(e.same_cpu(b, e.cpu(b), helper)))
    b.cbranch(b.and_(window, steady), check, sleep)
    b.position_at_end(sleep)
    b.atomic_rmw("xchg", e.field(b, record, WAITING), L.Constant(I64, 1), "seq_cst")
    done = e.load(b, record, DONE)
    asleep = fn.append_basic_block("asleep")
    b.cbranch(b.icmp_unsigned(">=", done, total), finish, asleep)
    b.position_at_end(asleep)
    e.futex(b, record, DONE, FUTEX_WAIT, done)  # (returns at once if DONE moved meanwhile)
    woken = e.now(b, spec)
    b.branch(check)
    for value, block in ((start, entry), (now, poll), (woken, asleep)):
        last.add_incoming(value, block)
    b.position_at_end(finish)
    return finish


def _module_text() -> str:
    module = L.Module(name="dualjit_nest_pool")
    e = _Emitter(module)
    chunks = _emit_chunks(e)
    _emit_worker(e, _emit_help(e, chunks))
    _emit_run(e, chunks)
    _emit_nudge(e)
    return str(module)


# ---------------------------------------------------------------------------------------------
# The Python side
# ---------------------------------------------------------------------------------------------

class _Native:
    """The compiled module (kept alive for the process: workers run its code) and its
    functions."""

    def __init__(self):
        from .engine import CompiledModule, llvm

        self.libc = ctypes.CDLL(None, use_errno=True)
        binding = llvm()
        for name in ("syscall", "clock_gettime", "sched_getcpu"):
            binding.add_symbol(name, ctypes.cast(getattr(self.libc, name), ctypes.c_void_p).value)
        self.module = CompiledModule(_module_text(), name="dualjit_nest_pool")
        self.run = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64,
                                    ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                                    ctypes.c_int64)(
            self.module.address("dualjit_pool_run"))
        self.worker = self.module.address("dualjit_pool_worker")
        self.nudge = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(
            self.module.address("dualjit_pool_nudge"))
        create = self.libc.pthread_create
        create.argtypes = [ctypes.POINTER(ctypes.c_ulong), ctypes.c_void_p, ctypes.c_void_p,
                           ctypes.c_void_p]
        self.libc.pthread_join.argtypes = [ctypes.c_ulong, ctypes.c_void_p]
        self.libc.syscall.restype = ctypes.c_long


_native: _Native | None = None
_lock = threading.Lock()
_shared = (ctypes.c_int64 * SHARED_FIELDS)()
_workers: list[int] = []  # pthread ids
_free: list = []  # records not in use (never freed: a worker may still hold one's address)


_usable: bool | None = None


def usable() -> bool:
    """available(), and the native module compiled (tried once; else the Python pool)."""
    global _usable
    if _usable is None:
        try:
            _usable = available() and native() is not None
        except Exception as error:  # noqa: BLE001 - reported; split nests use the Python pool
            import warnings

            warnings.warn(f"dualjit: native nest threads unavailable ({error}); using the "
                          "Python pool", RuntimeWarning, stacklevel=2)
            _usable = False
    return _usable


def native() -> _Native:
    global _native
    if _native is None:
        with _lock:
            if _native is None:
                _native = _Native()
                atexit.register(stop_workers)
    return _native


def ensure_workers(count: int) -> int:
    """Start workers until there are `count` (signals blocked in them: Python handles signals
    in its own threads); returns how many there are."""
    n = native()
    with _lock:
        if len(_workers) >= count or _shared[QUIT]:
            return len(_workers)
        old = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        try:
            while len(_workers) < count:
                tid = ctypes.c_ulong()
                if n.libc.pthread_create(ctypes.byref(tid), None, n.worker,
                                         ctypes.addressof(_shared)) != 0:
                    break  # no more threads: the callers run the chunks
                _workers.append(tid.value)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        return len(_workers)


def stop_workers() -> None:
    """Make every worker return and wait for it (at exit: the workers run code of a module
    that is freed when the interpreter finalizes)."""
    if _native is None:
        return
    with _lock:
        _shared[QUIT] = 1
        _shared[SEQ] += 1
        _native.libc.syscall(_FUTEX[platform.machine().lower()],
                             ctypes.c_void_p(ctypes.addressof(_shared) + _HALF),
                             FUTEX_WAKE, 1 << 30, None, None, 0)
        for tid in _workers:
            _native.libc.pthread_join(tid, None)
        _workers.clear()


def wake_one(linger_ns: int = LINGER_NS) -> None:
    """Before a kernel's split nests, when a core is free: a sleeping worker wakes now and
    polls for up to linger_ns, so the first split nest finds it running (a worker woken on
    a halted CPU starts tens to hundreds of microseconds late). Nothing when there are no
    workers yet (the first split nest makes them)."""
    if _native is None or not _workers or _shared[QUIT]:
        return
    _shared[LINGER] = linger_ns
    _native.nudge(ctypes.addressof(_shared))


def stop_polling() -> None:
    """Make polling workers sleep now (before work that needs the other cores for threads
    not ours, OpenBLAS's: a polling worker would take a core from them); the next job's
    post sets the poll window again."""
    _shared[LINGER] = 0


def counters() -> dict[str, int]:
    """Workers now sleeping on the futex, how often a worker went to sleep, and how often a
    post had to wake one (a wake costs the helper tens to hundreds of microseconds when its
    CPU had halted): for tests and benchmarks."""
    return {"sleeping": int(_shared[SLEEPING]), "sleeps": int(_shared[SLEEPS]),
            "wakes": int(_shared[WAKES]), "cuts": int(_shared[CUTS]), "workers": len(_workers)}


class Job:
    """One call of a split nest, in a record reused afterwards."""

    def __init__(self, nest: int, context: int, rows: int, chunk_rows: int):
        chunks = -(-rows // chunk_rows)
        if chunks > MAX_CHUNKS:
            raise ValueError(f"a split nest of {chunks} chunks (at most {MAX_CHUNKS})")
        with _lock:
            record = _free.pop() if _free else (ctypes.c_int64 * RECORD_FIELDS)()
        for i in (DONE, STATUS, JOINED, WANTED, WAITING):
            record[i] = 0
        record[HELPER_CPU] = -1
        record[NEST], record[CONTEXT], record[ROWS], record[CHUNK_ROWS] = (
            nest, context, rows, chunk_rows)
        self.record, self.word = record, chunks << 32

    def run(self, helpers: int, busy: bool) -> int:
        """Post (helpers > 0), run chunks, wait for the others'; the job's status. busy: no
        core is idle, so workers poll for the next job only briefly, and one more worker is
        asked for while the caller first sleeps up to BUSY_PATIENCE_NS."""
        n = native()
        patience = BUSY_PATIENCE_NS if busy and helpers > 0 else 0
        if patience:
            helpers += 1
        if helpers > 0:
            helpers = min(helpers, ensure_workers(helpers))
            self.record[WANTED] = helpers
            _shared[LINGER] = BUSY_LINGER_NS if busy else LINGER_NS
        return n.run(ctypes.addressof(self.record), self.word,
                     ctypes.addressof(_shared) if helpers > 0 else None, helpers,
                     WAIT_SPIN_NS if busy else LINGER_NS, patience)

    def finish(self) -> int:
        """After run() raised: the job's status, its chunks run by the caller alone unless
        the native call (which runs to its end once begun) already ran them all."""
        if self.record[DONE] < self.word >> 32:
            return native().run(ctypes.addressof(self.record), self.word, None, 0, 0, 0)
        return int(self.record[STATUS])

    def release(self) -> None:
        with _lock:
            _free.append(self.record)


def _after_fork() -> None:  # the child has none of the parent's threads
    global _lock
    _lock = threading.Lock()
    _workers.clear()
    _shared[JOB] = _shared[SLEEPING] = _shared[QUIT] = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
