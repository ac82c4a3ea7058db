"""Which loop nests of a kernel run split across threads, and in which chunks (the plan side
of codegen/nest_parallel.py; no llvmlite here).

A kernel that calls gemm cannot be cut into flat chunks as a whole (schedule.flat_variant),
but most of its loop nests can: an elementwise nest writes each element once from values
computed by earlier nests, and a reduction over some axes computes each output element (a
row of a softmax or layer norm) on its own. Such a nest's outer loops are cut into chunks of
rows fixed by the nest's shape alone, never by the thread count, and each chunk runs the
very code the whole nest would: results are identical for any thread count and load.
Reductions to one scalar are not split (their chunks would need partial results merged).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

NEST_MIN_ELEMENTS = 1 << 16  # smaller nests run inline (a split costs ~8-15 us of calls)
CHUNK_ELEMENTS = 1 << 14  # about this many elements per chunk (more chunks balance better)
MIN_ROWS = 16  # leading axes are merged into the split loop until it has this many rows
# On a busy machine (no idle core) a split nest still takes a helper (threads.nest_threads)
# when it is a loop of at least BUSY_MIN_ELEMENTS (a product: GEMM_BUSY_MACS): a helper woken
# on a busy core may start late, and in a short nest the caller then waits for the chunk it
# took. With Python pool threads that cost more than it gave to W2 (its SGD update, 200k
# elements: 1.79 against 1.44 ms a step); with native workers (nest_pool.py) a helper starts
# in tens of microseconds, and W2 beside two busy processes gains ~10% from one.
BUSY_MIN_ELEMENTS = 1 << 17
# Products: gemm called on one thread per chunk (BLAS's own threads spin while they wait,
# and take cores from ours; see threads.py). A chunk of a batched product is some of its
# matrices; of one product, a block of the rows of its output (each gemm call packing the
# whole right operand again) or, when it has more columns than rows, a block of its columns
# (each call packing the whole left operand again): blocks of at least GEMM_MIN_ROWS keep
# that under ~5%.
GEMM_MIN_MACS = 8_000_000  # smaller products are not split
GEMM_CHUNK_MACS = 1 << 22  # multiply-adds per chunk of a batched product
GEMM_ROWS_CHUNK_MACS = 1 << 23  # per chunk of one product's rows (at least GEMM_MIN_ROWS)
GEMM_MIN_ROWS = 128
GEMM_BUSY_MACS = 1 << 24  # a product takes a helper on a busy machine from this on (W2's
# 25 M multiply-add products; see BUSY_MIN_ELEMENTS)
# A product not batched runs as one gemm call on OpenBLAS's threads when two cores are free
# from this on (schedule.one_blas_call_when_idle; not W2's 25 M: OpenBLAS's threads spin for
# ~0.1 s after it, on the core the next split nest's helper needs).
ONE_BLAS_CALL_MACS = 1 << 25


@dataclass(frozen=True)
class NestSplit:
    """A loop nest split across threads: its first `lead` axes (sizes `outer`), flattened into
    `rows` rows, are cut into chunks of `chunk_rows` rows (the last chunk may be shorter)."""

    lead: int
    rows: int
    chunk_rows: int
    outer: tuple[int, ...] = ()  # the sizes of those axes
    busy: bool = False  # worth a helper even when no core is idle (threads.nest_threads)
    columns: bool = False  # a product split over its output's columns, not its rows
    work: int = 0  # elements, or multiply-adds, of the whole nest

    @property
    def chunks(self) -> int:
        return -(-self.rows // self.chunk_rows)

    def describe(self) -> str:
        what = "columns" if self.columns else "rows"
        return (f"split over threads: {self.rows} {what} in {self.chunks} chunks of "
                f"{self.chunk_rows}" + ("; two threads on a busy machine" if self.busy else ""))


def split_of(outer_shape: tuple[int, ...], work: int, chunk_work: int | None = None,
             min_work: int | None = None, min_chunk_rows: int = 1,
             busy_work: int | None = None) -> NestSplit | None:
    """The split of a nest whose outer loops run over `outer_shape` (a loop's shape, a
    reduction's output shape, a product's batch or rows) and which does `work` (elements, or
    multiply-adds) in all; None if it is too small to be worth it. It takes a helper on a
    busy machine from `busy_work` on. (Chunk, minimum and busy work default to CHUNK_ELEMENTS,
    NEST_MIN_ELEMENTS and BUSY_MIN_ELEMENTS, read at each call: tests lower them.)"""
    chunk_work = CHUNK_ELEMENTS if chunk_work is None else chunk_work
    min_work = NEST_MIN_ELEMENTS if min_work is None else min_work
    busy_work = BUSY_MIN_ELEMENTS if busy_work is None else busy_work
    if not outer_shape or work < min_work:
        return None
    lead, rows = 0, 1
    while lead < len(outer_shape) and rows < MIN_ROWS:
        rows *= outer_shape[lead]
        lead += 1
    per_row = max(1, work // max(rows, 1))
    chunk_rows = max(min_chunk_rows, chunk_work // per_row, 1)
    if rows < 2 or chunk_rows >= rows:
        return None
    chunk_rows = -(-rows // -(-rows // chunk_rows))  # as many chunks, of even sizes
    return NestSplit(lead, rows, chunk_rows, tuple(outer_shape[:lead]), work >= busy_work,
                     work=work)


def product_split(batch: tuple[int, ...], m: int, macs: int, n: int = 0) -> NestSplit | None:
    """A gemm product's split: over its batch loops, or (none) over the rows or the columns
    of its m x n output, whichever gives more chunks (a late helper finds more left to take),
    else whichever packs less again (each chunk of rows packs all of op(rhs), k x n; each
    chunk of columns all of op(lhs), m x k)."""
    if batch:
        return split_of(batch, macs, GEMM_CHUNK_MACS, GEMM_MIN_MACS, busy_work=GEMM_BUSY_MACS)
    k = macs // max(1, m * n)
    options = []
    for size, repacked, columns in ((m, k * n, False), (n, m * k, True)):
        split = split_of((size,), macs, GEMM_ROWS_CHUNK_MACS, GEMM_MIN_MACS, GEMM_MIN_ROWS,
                         busy_work=GEMM_BUSY_MACS)
        if split is not None:
            options.append((-split.chunks, repacked, columns, replace(split, columns=columns)))
    return min(options)[3] if options else None
