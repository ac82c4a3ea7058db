"""Multi-core kernels: running a kernel's thread-split variant on disjoint chunks.

schedule.flat_variant decides which kernels get a variant over one flat index range [0, n)
with `start` and `end` parameters (large elementwise work and full reductions). Here the
runtime cuts [0, n) into chunks of a fixed size (CHUNK_ELEMENTS, whatever the thread count)
that the caller and up to `workers - 1` pool threads take from a shared queue (threads.py;
the call releases the GIL), then combines the reductions' per-chunk partial results in chunk
order. So results are identical for any thread count and load; a float sum may differ from
the unsplit kernel's (used below PARALLEL_MIN_ELEMENTS) by rounding.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import threads as _threads
from .schedule import FlatSegment

CHUNK_ALIGN = 64  # chunk boundaries on multiples of this many elements
CHUNK_ELEMENTS = 1 << 16  # the chunk size: small enough to balance, large enough to amortize
# (each chunk costs ~5 us of Python and ctypes: 2^15 cost W3 on one thread 3-7%)
# A reduction's monoid (Primitive.reduction) -> the ufunc that merges partial results.
MERGE = {"sum": np.add, "prod": np.multiply, "max": np.maximum, "min": np.minimum}


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


def run(call, flat: FlatSegment, inputs: list, out_specs: list, workers: int) -> list:
    """Run the chunk kernel `call` over every chunk, on the calling thread and up to
    `workers - 1` helpers (no more than the idle cores); returns the live-out arrays."""
    seg = flat.segment
    shared = [None if c is not None else np.empty(shape, dtype)
              for (shape, dtype), c in zip(out_specs, flat.combine)]
    temps = [np.empty(n, np.uint8) for n in seg.slot_bytes]
    ranges = chunks(flat.n)
    per_chunk = [[a if a is not None else np.empty(shape, dtype)
                  for a, (shape, dtype) in zip(shared, out_specs)] for _ in ranges]
    helpers = min(workers, _threads.free_cores(), len(ranges)) - 1 if workers > 1 else 0
    if helpers <= 0:  # the caller alone: no queue, no locks
        for outs, (start, end) in zip(per_chunk, ranges):
            call(*inputs, *outs, *temps, start, end)
    else:
        queue = _threads.ChunkQueue(len(ranges))

        def run_chunk(i: int) -> None:
            call(*inputs, *per_chunk[i], *temps, *ranges[i])

        for _ in range(helpers):
            pool(helpers).submit(queue.work, run_chunk)
        queue.work(run_chunk)
        queue.wait()
    return [shared[j] if monoid is None else _merged(MERGE[monoid], [o[j] for o in per_chunk])
            for j, monoid in enumerate(flat.combine)]


def _merged(merge, partials: list):
    """The per-chunk partial results combined in chunk order (into the first)."""
    total = partials[0]
    for part in partials[1:]:
        merge(total, part, out=total)
    return total
