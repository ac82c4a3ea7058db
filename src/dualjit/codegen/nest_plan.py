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

from dataclasses import dataclass

NEST_MIN_ELEMENTS = 1 << 16  # smaller nests run inline (a split costs ~10-30 us of calls)
CHUNK_ELEMENTS = 1 << 14  # about this many elements per chunk (more chunks balance better)
MIN_ROWS = 16  # leading axes are merged into the split loop until it has this many rows
# Products: gemm called on one thread per chunk (BLAS's own threads spin while they wait,
# and take cores from ours; see threads.py). A chunk of a batched product is some of its
# matrices; of one product, a block of the rows of its output, each gemm call packing the
# whole right operand again: blocks of at least GEMM_MIN_ROWS rows keep that under ~5%.
GEMM_MIN_MACS = 8_000_000  # smaller products are not split
GEMM_CHUNK_MACS = 1 << 22  # multiply-adds per chunk of a batched product
GEMM_ROWS_CHUNK_MACS = 1 << 23  # per chunk of one product's rows (at least GEMM_MIN_ROWS)
GEMM_MIN_ROWS = 128


@dataclass(frozen=True)
class NestSplit:
    """A loop nest split across threads: its first `lead` axes (sizes `outer`), flattened into
    `rows` rows, are cut into chunks of `chunk_rows` rows (the last chunk may be shorter)."""

    lead: int
    rows: int
    chunk_rows: int
    outer: tuple[int, ...] = ()  # the sizes of those axes

    @property
    def chunks(self) -> int:
        return -(-self.rows // self.chunk_rows)

    def describe(self) -> str:
        return (f"split over threads: {self.rows} rows in {self.chunks} chunks of "
                f"{self.chunk_rows}")


def split_of(outer_shape: tuple[int, ...], work: int, chunk_work: int | None = None,
             min_work: int | None = None, min_chunk_rows: int = 1) -> NestSplit | None:
    """The split of a nest whose outer loops run over `outer_shape` (a loop's shape, a
    reduction's output shape, a product's batch or rows) and which does `work` (elements, or
    multiply-adds) in all; None if it is too small to be worth it. (Chunk and minimum work
    default to CHUNK_ELEMENTS and NEST_MIN_ELEMENTS, read at each call: tests lower them.)"""
    chunk_work = CHUNK_ELEMENTS if chunk_work is None else chunk_work
    min_work = NEST_MIN_ELEMENTS if min_work is None else min_work
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
    return NestSplit(lead, rows, chunk_rows, tuple(outer_shape[:lead]))


def product_split(batch: tuple[int, ...], m: int, macs: int) -> NestSplit | None:
    """A gemm product's split: over its batch loops, or (none) over its output's rows."""
    if batch:
        return split_of(batch, macs, GEMM_CHUNK_MACS, GEMM_MIN_MACS)
    return split_of((m,), macs, GEMM_ROWS_CHUNK_MACS, GEMM_MIN_MACS, GEMM_MIN_ROWS)
