"""Decisions for register-blocked direct convolutions (codegen/conv_blocked.py emits them; no
llvmlite here): which convolutions take them, and the block of outputs each inner loop keeps
in vector registers.

A blocked convolution reads its input from a zero-padded copy of one example (the padding
becomes plain memory: no bounds checks in the inner loop) and its kernel from a packed copy
with the group's output features innermost, padded to whole vectors. Each inner loop runs over
all terms of an output (input features x kernel offsets) and keeps a block of `vectors`
vectors of output features x `rows` x `width` output positions (along the output's last two
spatial axes) in registers: per term, `vectors` vector loads of the kernel, `rows x width`
broadcast loads of the input, and one multiply-add per accumulator. No column matrix, no
library call: W7's LeNet convolutions have 6 or 16 output features, shapes OpenBLAS runs at
a third of its speed, after im2col copies 25-150 times the input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..ir import DType

if TYPE_CHECKING:  # (conv_plan asks this module: no import cycle)
    from .conv_plan import ConvGeometry

LANES = {DType.float32: 8, DType.float64: 4}  # one 32-byte AVX vector
ACCUMULATORS = 12  # vector registers for the block's sums (of 16: loads and a broadcast)
MAX_VECTORS = 2  # output-feature vectors per block (more features: several blocks)
PADDED_EXAMPLE_LIMIT = 1 << 22  # elements of one example's padded input copy
# Tests set this to True (every eligible convolution blocked) or False (none).
FORCE: bool | None = None


@dataclass(frozen=True)
class Blocking:
    """The register block of a blocked convolution."""

    lanes: int  # elements per vector
    vectors: int  # output-feature vectors per block
    feature_vectors: int  # vectors holding a group's output features (padded with zeros)
    rows: int  # output positions along the second-last spatial axis (1 for 1-D)
    width: int  # output positions along the last spatial axis

    @property
    def padded_features(self) -> int:
        return self.feature_vectors * self.lanes


def padded_spatial(geo: ConvGeometry) -> tuple[int, ...]:
    """The sizes of an example's zero-padded input copy."""
    return tuple(s + lo + hi for s, lo, hi in zip(geo.spatial, geo.low, geo.high))


def eligible(geo: ConvGeometry) -> bool:
    """Float, at least one spatial axis, no input dilation, no negative padding, something to
    compute, and one example's padded input small enough to copy."""
    return (geo.dtype in LANES and bool(geo.spatial) and not geo.empty and geo.rows > 0
            and all(d == 1 for d in geo.lhs_dilation)
            and all(lo >= 0 and hi >= 0 for lo, hi in zip(geo.low, geo.high))
            and geo.in_features * math.prod(padded_spatial(geo)) <= PADDED_EXAMPLE_LIMIT)


def blocking(geo: ConvGeometry) -> Blocking | None:
    """The convolution's register block if it is lowered as a blocked convolution, else None."""
    if FORCE is False or not eligible(geo):
        return None
    block = _block(geo)
    if FORCE or _worth_it(geo, block):
        return block
    return None


def _block(geo: ConvGeometry) -> Blocking:
    lanes = LANES[geo.dtype]
    feature_vectors = -(-geo.group_outputs // lanes)
    vectors = min(feature_vectors, MAX_VECTORS)
    rows, width = min(_shapes(geo, vectors), key=lambda rw: (_cost(geo, vectors, *rw), -rw[1]))
    return Blocking(lanes, vectors, feature_vectors, rows, width)


def _shapes(geo: ConvGeometry, vectors: int) -> list[tuple[int, int]]:
    """The (rows, width) blocks of positions that fit ACCUMULATORS sums."""
    positions = max(1, ACCUMULATORS // vectors)
    row_count = geo.counts[-2] if len(geo.counts) > 1 else 1
    return [(r, w) for r in range(1, min(row_count, positions) + 1)
            for w in range(1, min(geo.counts[-1], positions // r) + 1)]


def _cost(geo: ConvGeometry, vectors: int, rows: int, width: int) -> int:
    """Cycles per term, in units of half a cycle: blocks (the last ones overlapping the ones
    before: recomputed) x the larger of loads and multiply-adds per block (two of each per
    cycle)."""
    row_count = geo.counts[-2] if len(geo.counts) > 1 else 1
    blocks = -(-row_count // rows) * -(-geo.counts[-1] // width)
    return blocks * max(vectors + rows * width, vectors * rows * width)


def _worth_it(geo: ConvGeometry, block: Blocking) -> bool:
    """Blocked when the output features fill most of their vectors and the block keeps
    enough sums in registers for the loads to keep up (measured on W7's convolutions)."""
    filled = geo.group_outputs / block.padded_features
    return filled >= 0.75 and block.vectors * block.rows * block.width >= 5


def split_shape(geo: ConvGeometry) -> tuple[int, ...]:
    """The outer loop a blocked convolution's split cuts: (examples, groups)."""
    return (geo.examples, geo.groups)
