"""Multi-core kernels: running a kernel's thread-split variant on disjoint chunks.

schedule.flat_variant decides which kernels get a variant over one flat index range [0, n)
with `start` and `end` parameters (large elementwise work and full reductions). Here the
runtime calls it from several threads on disjoint ranges (the call releases the GIL) and
combines the reductions' per-chunk partial results. Partial sums are added in chunk order, so
a float sum may differ from the one-thread result by rounding.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .schedule import FlatSegment

CHUNK_ALIGN = 64  # chunk boundaries on multiples of this many elements
# A reduction's monoid (Primitive.reduction) -> the ufunc that merges partial results.
MERGE = {"sum": np.add, "prod": np.multiply, "max": np.maximum, "min": np.minimum}


def threads() -> int:
    """Worker count: DUALJIT_NUM_THREADS, else the cores this process may run on."""
    env = os.environ.get("DUALJIT_NUM_THREADS", "")
    if env.strip():
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def chunks(n: int, parts: int) -> list[tuple[int, int]]:
    step = -(-n // parts)
    step = -(-step // CHUNK_ALIGN) * CHUNK_ALIGN
    return [(s, min(s + step, n)) for s in range(0, n, step)]


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


def run(call, flat: FlatSegment, inputs: list, out_specs: list, parts: int) -> list:
    """Run the chunk kernel `call` on `parts` threads; returns the live-out arrays."""
    seg = flat.segment
    shared = [None if c is not None else np.empty(shape, dtype)
              for (shape, dtype), c in zip(out_specs, flat.combine)]
    temps = [np.empty(n, np.uint8) for n in seg.slot_bytes]
    ranges = chunks(flat.n, parts)
    per_chunk = []
    for _ in ranges:
        per_chunk.append([a if a is not None else np.empty(shape, dtype)
                          for a, (shape, dtype) in zip(shared, out_specs)])
    jobs = [pool(parts - 1).submit(call, *inputs, *outs, *temps, start, end)
            for outs, (start, end) in zip(per_chunk[1:], ranges[1:])]
    call(*inputs, *per_chunk[0], *temps, *ranges[0])
    for job in jobs:
        job.result()
    results = []
    for j, monoid in enumerate(flat.combine):
        if monoid is None:
            results.append(shared[j])
            continue
        total = per_chunk[0][j]
        for outs in per_chunk[1:]:
            MERGE[monoid](total, outs[j], out=total)
        results.append(total)
    return results
