"""Multi-core kernels: large elementwise work and full reductions split across threads.

A kernel qualifies when every value in it has one shape S (or is a scalar), its equations are
elementwise, broadcasts of scalars, or reductions over all axes whose results leave the kernel.
Such a kernel is lowered a second time over the flat index range [0, prod(S)) with `start`
and `end` parameters; the runtime calls it from several threads on disjoint ranges (the call
releases the GIL) and combines the reductions' per-chunk partial results. Partial sums are
added in chunk order, so a float sum may differ from the one-thread result by rounding.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..ir import Eqn, TensorType, Var
from .lower import ELEMENTWISE_NAMES, Segment

MIN_ELEMENTS = 1 << 17  # below this, a thread hand-off costs more than it saves
CHUNK_ALIGN = 64  # chunk boundaries on multiples of this many elements

REDUCTIONS = {"reduce_sum": np.add, "reduce_prod": np.multiply, "reduce_max": np.maximum,
              "reduce_min": np.minimum}


def threads() -> int:
    """Worker count: DUALJIT_NUM_THREADS, else the cores this process may run on."""
    env = os.environ.get("DUALJIT_NUM_THREADS", "")
    if env.strip():
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class FlatSegment:
    """A qualifying Segment rewritten over one flat axis of n elements."""

    def __init__(self, segment: Segment, n: int, combine: list):
        self.segment = segment
        self.n = n
        self.combine = combine  # per live_out: None (shared array) or the numpy combiner


def flatten(segment: Segment) -> FlatSegment | None:
    shape = None
    for e in segment.eqns:
        for a in (*e.inputs, *e.outputs):
            if isinstance(a, Var) and a.type.ndim > 0:
                if shape is None:
                    shape = a.type.shape
                elif a.type.shape != shape:
                    return None
    if shape is None:
        return None
    n = math.prod(shape)
    if n < MIN_ELEMENTS:
        return None
    reduced: dict[Var, str] = {}
    for e in segment.eqns:
        name = e.primitive.name
        if name in ELEMENTWISE_NAMES:
            continue
        if name == "broadcast_in_dim" and e.inputs[0].type.ndim == 0:
            continue
        if name in REDUCTIONS and len(e.params["axes"]) == len(shape):
            reduced[e.outputs[0]] = name
            continue
        return None
    if any(a in reduced for e in segment.eqns for a in e.inputs):
        return None  # a reduction read inside the kernel would need every chunk's result
    if not set(reduced) <= set(segment.live_out):
        return None
    if any(v.type.ndim == 0 and v not in reduced for v in segment.live_out):
        return None  # every chunk would write the same scalar output
    flat: dict[Var, Var] = {}

    def f(a):
        if not isinstance(a, Var) or a.type.ndim == 0:
            return a
        if a not in flat:
            flat[a] = Var(TensorType(a.type.dtype, (n,)))
        return flat[a]

    eqns = []
    for e in segment.eqns:
        params = dict(e.params)
        if e.primitive.name == "broadcast_in_dim":
            params["shape"] = (n,)
        elif e.primitive.name in REDUCTIONS:
            params["axes"] = (0,)
        eqns.append(Eqn(e.primitive, [f(a) for a in e.inputs], [f(v) for v in e.outputs],
                        params))
    rewritten = Segment(eqns, [f(v) for v in segment.live_in], [f(v) for v in segment.live_out])
    if any(v.type.ndim == 0 for v in rewritten.temps):
        return None  # every chunk would write the same scalar temporary
    combine = [REDUCTIONS[reduced[v]] if v in reduced else None for v in segment.live_out]
    return FlatSegment(rewritten, n, combine)


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
    for j, combine in enumerate(flat.combine):
        if combine is None:
            results.append(shared[j])
            continue
        total = per_chunk[0][j]
        for outs in per_chunk[1:]:
            combine(total, outs[j], out=total)
        results.append(total)
    return results
