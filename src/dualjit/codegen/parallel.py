"""Multi-core kernels: a kernel's thread-split variant run by several threads.

schedule.flat_variant decides which kernels get a variant over one flat index range [0, n)
(large elementwise work and full reductions), cut into chunks of a fixed size (FlatSegment.chunk,
whatever the thread count); chunk_loop.py emits its functions. One thread calls the kernel
as any other (it runs every chunk in order, natively). Several: the caller and helpers(flat)
pool threads take chunks from a shared queue (threads.py; the calls release the GIL), each
reduction keeping a row of partial results per chunk, folded in chunk order at the end by the
same native fold. So results are identical for any thread count and load; a float sum may
differ from an unsplit kernel's (below PARALLEL_MIN_ELEMENTS) by rounding.
"""

from __future__ import annotations

import ctypes
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import nest_pool, schedule
from . import threads as _threads
from .schedule import FlatSegment

CHUNK_ALIGN = 64  # chunk boundaries on multiples of this many elements
CHUNK_ELEMENTS = schedule.CHUNK_ELEMENTS  # (each chunk a thread takes costs ~5 us of Python)


def threads() -> int:
    """Worker count: DUALJIT_NUM_THREADS, else the cores this process may run on."""
    return _threads.configured()


def chunks(n: int) -> list[tuple[int, int]]:
    """[0, n) in pieces of CHUNK_ELEMENTS (a multiple of CHUNK_ALIGN)."""
    return [(s, min(s + CHUNK_ELEMENTS, n)) for s in range(0, n, CHUNK_ELEMENTS)]


_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def pool(workers: int) -> ThreadPoolExecutor:
    """The shared worker threads (grown, never shrunk, when more are asked for)."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < workers:
            old = _pool
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dualjit")
            _pool_size = workers
            if old is not None:
                old.shutdown(wait=False)  # its queued work still runs
        return _pool


# A split kernel of at least this many elements takes a helper even when no core is idle
# (threads.nest_threads): a thread's chunks never wait for another's, so a helper that starts
# late only takes fewer chunks, and two threads get a larger share of a busy machine than one
# (W3's forward, 1e6 elements in 16 chunks, beside two busy processes: 5.3 ms a call against
# 8.9 ms on one thread; 3.0 ms with both cores free).
BUSY_MIN_ELEMENTS = 1 << 18


def helpers(flat: FlatSegment) -> int:
    """How many pool threads join the caller on a split kernel now: DUALJIT_NUM_THREADS (or
    the cores this process may use) less one, no more than the idle cores allow (but one on
    a busy machine from BUSY_MIN_ELEMENTS on); 0: the caller runs every chunk itself, in
    one native call."""
    if threads() <= 1:
        return 0
    return _threads.nest_threads(flat.n_chunks, flat.n >= BUSY_MIN_ELEMENTS) - 1


def run(chunk_call, fold_call, flat: FlatSegment, inputs: list, out_specs: list) -> list:
    """The split kernel's chunks shared by the caller and helpers(flat) pool threads (the
    chunk loop `chunk_call`, one chunk per call), then every reduction's partial results (a
    row per chunk) folded in chunk order by `fold_call`; returns the live-out arrays."""
    n_chunks = flat.n_chunks
    outs = [np.empty(shape if monoid is None else (n_chunks, *shape), dtype)
            for (shape, dtype), monoid in zip(out_specs, flat.combine)]
    temps = [np.empty(n, np.uint8) for n in flat.segment.slot_bytes]
    count = helpers(flat)
    if getattr(chunk_call, "nest", None) is not None and nest_pool.usable():
        _check(_run_native(chunk_call.nest, [*inputs, *outs, *temps], n_chunks, count))
    else:
        queue = _threads.ChunkQueue(n_chunks)

        def run_chunk(i: int) -> None:
            _check(chunk_call(*inputs, *outs, *temps, i, i + 1))

        for _ in range(count):
            pool(count).submit(queue.work, run_chunk)
        queue.work(run_chunk)
        queue.wait()
    rows = [outs[j] for j, monoid in enumerate(flat.combine) if monoid is not None]
    totals = [np.empty(out_specs[j][0], out_specs[j][1])
              for j, monoid in enumerate(flat.combine) if monoid is not None]
    if rows:
        _check(fold_call(*totals, *rows))
    folded = iter(totals)
    return [out if monoid is None else next(folded) for out, monoid in zip(outs, flat.combine)]


def _run_native(nest: int, arrays: list, n_chunks: int, helpers: int) -> int:
    """The chunks run by the caller and `helpers` native threads (nest_pool.py), one chunk
    per nest row, with the GIL released; `arrays` (the chunk loop's arguments) stay alive
    here while they run. Returns the status."""
    context = (ctypes.c_void_p * len(arrays))(*map(id, arrays))  # (CPython: the object)
    job = nest_pool.Job(nest, ctypes.addressof(context), n_chunks, 1)
    try:
        status = job.run(helpers, _threads.free_cores() <= helpers)
    except BaseException:
        job.finish()  # (every chunk runs before the arrays may go)
        raise
    finally:
        job.release()
    return status


def _check(status: int) -> None:
    if status != 0:  # chunk bodies have no failing steps today (lower.KernelBuilder.fail)
        raise RuntimeError(f"a thread-split kernel chunk returned status {status}")
