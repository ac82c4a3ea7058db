"""Decisions about the native code of convolutions and window reductions (no llvmlite): a
convolution's canonical geometry, im2col + gemm or direct loops, and what stays on the host.

A convolution is seen in its canonical layout whatever its dimension numbers: input
(N, C, spatial...), kernel (O, I, kernel...), output (N / B, O, counts...), split into
F * B groups (feature groups F take C / F input features each, batch groups B take N / B
examples each); group g computes output features g * O/(F B) .. (g + 1) * O/(F B).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..ir import DType, Eqn
from . import blas, conv_blocked_plan, nest_plan

COLUMNS_LIMIT = 1 << 20  # elements of one im2col tile (4 MB of float32); more examples loop
EXAMPLE_COLUMNS_LIMIT = 1 << 24  # one example's columns above this: numpy on the host
DIRECT_MAX_TERMS = 32  # a group's I x kernel terms up to this, with few outputs: direct loops
DIRECT_MAX_GROUP_OUTPUTS = 4
GEMM_MIN_TERMS = 1 << 14  # smaller convolutions are direct loops (a library call costs more)
# A transposed convolution (window strides 1) whose output has this many times more positions
# than its input is gemm + col2im: each input position's products scattered into the output
# (no multiply-adds of padding or holes) instead of im2col over the padded, dilated input.
COL2IM_MIN_RATIO = 1.25
# Convolutions of at least this many multiply-adds (or nest_plan.GEMM_MIN_MACS, if less) are
# split across threads. 4 M made W7 and W9 slower (05:25, load ~1: W9 21-25 ms against
# 17-19, W7 9-12 against 8-9): splitting their 4.7-7.5 M ones cost more than it gained.
# Direct loops take chunks of about DIRECT_CHUNK_MACS.
SPLIT_MIN_MACS = 1 << 23
DIRECT_CHUNK_MACS = 1 << 20
# Tests turn this off to run 1x1 and whole-input convolutions through im2col + gemm.
PRODUCT_FORMS = True
# Convolutions whose kernel's last axis is at least this long (and longer than the output's)
# with at most DOT_MAX_GROUP_OUTPUTS outputs per group are dot products along the kernel.
DOT_MIN_KERNEL_RUN = 128
DOT_MAX_GROUP_OUTPUTS = 8


@dataclass(frozen=True)
class ConvGeometry:
    """A convolution's sizes and parameters in the canonical layout."""

    lhs_spec: tuple[int, ...]
    rhs_spec: tuple[int, ...]
    out_spec: tuple[int, ...]
    examples: int  # output batch N / B
    in_features: int  # I, features one group reads
    group_outputs: int  # O / (F B), output features of one group
    feature_groups: int
    batch_groups: int
    spatial: tuple[int, ...]  # input spatial sizes
    kernel: tuple[int, ...]
    counts: tuple[int, ...]  # output spatial sizes
    strides: tuple[int, ...]
    low: tuple[int, ...]  # low padding
    high: tuple[int, ...]
    lhs_dilation: tuple[int, ...]
    rhs_dilation: tuple[int, ...]
    dtype: DType

    @classmethod
    def of(cls, eqn: Eqn) -> ConvGeometry:
        lhs, rhs = (a.type for a in eqn.inputs)
        out = eqn.outputs[0].type
        p = eqn.params
        lhs_spec, rhs_spec, out_spec = (tuple(s) for s in p["dimension_numbers"])
        groups = p["feature_group_count"] * p["batch_group_count"]
        return cls(lhs_spec, rhs_spec, out_spec,
                   examples=out.shape[out_spec[0]], in_features=rhs.shape[rhs_spec[1]],
                   group_outputs=rhs.shape[rhs_spec[0]] // groups,
                   feature_groups=p["feature_group_count"], batch_groups=p["batch_group_count"],
                   spatial=tuple(lhs.shape[a] for a in lhs_spec[2:]),
                   kernel=tuple(rhs.shape[a] for a in rhs_spec[2:]),
                   counts=tuple(out.shape[a] for a in out_spec[2:]),
                   strides=tuple(p["window_strides"]), low=tuple(lo for lo, _ in p["padding"]),
                   high=tuple(hi for _, hi in p["padding"]),
                   lhs_dilation=tuple(p["lhs_dilation"]), rhs_dilation=tuple(p["rhs_dilation"]),
                   dtype=out.dtype)

    @property
    def groups(self) -> int:
        return self.feature_groups * self.batch_groups

    @property
    def positions(self) -> int:  # P: output positions per example
        return math.prod(self.counts)

    @property
    def rows(self) -> int:  # I x kernel size: the terms summed into one output
        return self.in_features * math.prod(self.kernel)

    @property
    def tile(self) -> int:
        """Examples whose im2col columns are built and multiplied at once."""
        per_example = max(1, self.rows * self.positions)
        tile = max(1, min(self.examples, COLUMNS_LIMIT // per_example))
        if self.groups == 1 and tile == self.examples > 1 and self.macs >= split_min_macs():
            tile = -(-self.examples // 2)  # two tiles, which two threads can share (split)
        return -(-self.examples // -(-self.examples // tile))  # as many tiles, even sizes

    @property
    def macs(self) -> int:  # multiply-adds
        return self.examples * self.groups * self.group_outputs * self.positions * self.rows

    @property
    def in_positions(self) -> int:  # input positions per example (without holes or padding)
        return math.prod(self.spatial)

    @property
    def scatter_rows(self) -> int:  # group outputs x kernel size: col2im's product rows
        return self.group_outputs * math.prod(self.kernel)

    @property
    def scatter_tile(self) -> int:
        """Examples whose input columns are multiplied and scattered at once (col2im)."""
        per_example = max(1, max(self.scatter_rows, self.in_features) * self.in_positions)
        return max(1, min(self.examples, COLUMNS_LIMIT // per_example))

    @property
    def kernel_inner(self) -> bool:
        """im2col rows run along the kernel's last axis (a transposed column matrix) when it
        is longer than the output's: each run is then one contiguous copy."""
        return bool(self.kernel) and self.kernel[-1] > (self.counts[-1] if self.counts else 1)

    @property
    def reads_outside(self) -> bool:
        """Whether some window element is padding or a hole (im2col must write zeros)."""
        return any(lo > 0 or hi > 0 or d > 1
                   for lo, hi, d in zip(self.low, self.high, self.lhs_dilation))

    @property
    def empty(self) -> bool:
        return self.examples * self.groups * self.group_outputs * self.positions == 0


def library(eqn: Eqn) -> str | None:
    """"gemm": im2col tiles multiplied by BLAS; None: direct loops (few terms per output, few
    outputs per group as in depthwise convolutions, small problems, integers, and dot
    products along long kernels: dots_along_kernel)."""
    geo = ConvGeometry.of(eqn)
    if geo.dtype not in blas.gemms() or geo.empty or geo.rows == 0 or dots_along_kernel(geo):
        return None
    if blocked(geo) is not None or row_dots(geo):
        return None
    if geo.rows <= DIRECT_MAX_TERMS and geo.group_outputs <= DIRECT_MAX_GROUP_OUTPUTS:
        return None
    return "gemm" if geo.macs >= GEMM_MIN_TERMS else None


def dots_along_kernel(geo: ConvGeometry) -> bool:
    """Whether each output is computed as dot products along the kernel's last axis (a
    vectorized reduction over contiguous runs of the kernel and the input): a kernel longer
    than the output along that axis, at least DOT_MIN_KERNEL_RUN long (shorter runs lose to
    im2col + gemm, each dot ending in a horizontal sum: W7's 28-long ones took 3x longer),
    with few outputs per group, as in kernel gradients (W9's depthwise ones: 9 outputs, each
    a sum of 8 x 1024 products, 5x faster than im2col, which copies the input once per
    output position, + gemm)."""
    return (geo.kernel_inner and geo.kernel[-1] >= DOT_MIN_KERNEL_RUN
            and geo.group_outputs <= DOT_MAX_GROUP_OUTPUTS)



# Direct loops and dots in vector registers (codegen/conv_depthwise.py): the terms of an
# output are unrolled, so their number is bounded; a dot keeps one register per output along
# the last axis.
VECTOR_MAX_TERMS = 64
VECTOR_MAX_DOT_OUTPUTS = 12
VECTOR_DTYPES = (DType.float32, DType.float64)


def _innermost(spec: tuple[int, ...]) -> bool:
    """Whether an operand's canonical last spatial axis is its innermost (contiguous) one."""
    return spec[-1] == len(spec) - 1


def _outer_axes_inside(geo: ConvGeometry) -> bool:
    """Whether every window element along the spatial axes but the last lies inside the input
    (no padding, no holes there): those axes then need no checks."""
    return all(lo <= 0 and hi <= 0 and d == 1 for lo, hi, d in
               zip(geo.low[:-1], geo.high[:-1], geo.lhs_dilation[:-1]))


def vector_rows(geo: ConvGeometry) -> bool:
    """Whether a direct convolution computes its output rows along the last axis in vector
    registers, all its terms (at most VECTOR_MAX_TERMS) summed per block of positions before
    one store (W9's depthwise convolutions and their input gradients): a float one whose
    input and output are contiguous along that axis, window strides 1 and no holes there."""
    return (geo.dtype in VECTOR_DTYPES and bool(geo.spatial) and geo.strides[-1] == 1
            and geo.lhs_dilation[-1] == 1 and geo.rows <= VECTOR_MAX_TERMS
            and _innermost(geo.lhs_spec) and _innermost(geo.out_spec)
            and _outer_axes_inside(geo))


def vector_dots(geo: ConvGeometry) -> bool:
    """Whether dots along the kernel (dots_along_kernel) compute all the outputs of a row
    along the last axis at once, one vector register each (W9's depthwise kernel gradients:
    9 outputs, the input and kernel rows read once): floats, at most VECTOR_MAX_DOT_OUTPUTS
    outputs, input and kernel contiguous along that axis, no holes or kernel dilation there."""
    return (dots_along_kernel(geo) and geo.dtype in VECTOR_DTYPES
            and geo.counts[-1] <= VECTOR_MAX_DOT_OUTPUTS and geo.lhs_dilation[-1] == 1
            and geo.rhs_dilation[-1] == 1 and _innermost(geo.lhs_spec)
            and _innermost(geo.rhs_spec) and _outer_axes_inside(geo))

# Kernel gradients with long kernel rows and few outputs along the last axis: dot products
# along the kernel rows in vector registers (codegen/conv_rowdots.py).
ROW_DOTS = True  # (tests turn it off to test the other paths on such convolutions)
ROW_DOT_MIN_KERNEL_RUN = 16
ROW_DOT_SUMS = 12  # vector sums of a block: output features x outputs along the last axis


def row_dots(geo: ConvGeometry) -> bool:
    """Whether a convolution is dots along its kernel rows (conv_rowdots.py): floats, a
    kernel longer than the output along the last axis, at least ROW_DOT_MIN_KERNEL_RUN long
    there and innermost in the kernel's layout, without kernel dilation there, at most
    VECTOR_MAX_DOT_OUTPUTS outputs along it, no input dilation or negative padding, and not
    dots_along_kernel (longer kernels with few outputs: W9's), nor a matrix product read in
    place (product_form: W9's pointwise kernel gradients, one 64 x 8192 x 64 gemm each, took
    3.2 ms as row dots against 0.9 ms as gemm). W7's conv1 kernel gradient (28-long rows,
    5 x 5 outputs): 0.55 -> see README."""
    return (ROW_DOTS and geo.dtype in VECTOR_DTYPES and bool(geo.spatial) and not geo.empty
            and geo.rows > 0 and geo.kernel_inner
            and geo.kernel[-1] >= ROW_DOT_MIN_KERNEL_RUN
            and geo.counts[-1] <= VECTOR_MAX_DOT_OUTPUTS and geo.rhs_dilation[-1] == 1
            and _innermost(geo.rhs_spec) and not dots_along_kernel(geo)
            and product_form(geo) is None and conv_blocked_plan.eligible(geo))


def row_dot_outputs(geo: ConvGeometry) -> int:
    """Output features per block of row dots (each with all outputs along the last axis)."""
    return max(1, min(geo.group_outputs, ROW_DOT_SUMS // geo.counts[-1]))


# Convolutions the blocked lowering would take whose few output features fill its vectors
# poorly: vectors along the output rows instead (codegen/conv_rowvectors.py).
ROW_VECTORS = True  # (tests turn it off to test the blocked lowering on such convolutions)
ROW_VECTOR_MAX_FEATURES = 6
ROW_VECTOR_SUMS = 12


@dataclass(frozen=True)
class RowVectorBlock:
    """Output features x rows x vectors along the last axis summed in registers at once."""

    features: int
    rows: int
    vectors: int


def row_vectors(geo: ConvGeometry) -> bool:
    """Whether a convolution is lowered in row vectors (conv_rowvectors.py): one the blocked
    lowering would take (conv_plan.blocked), with window strides 1 along the last axis, at
    most ROW_VECTOR_MAX_FEATURES output features per group and a vector of outputs along
    the last axis (W7's conv1 and its second input gradient: 6 features)."""
    return (ROW_VECTORS and geo.dtype in VECTOR_DTYPES and bool(geo.spatial)
            and geo.strides[-1] == 1 and geo.group_outputs <= ROW_VECTOR_MAX_FEATURES
            and geo.counts[-1] >= conv_blocked_plan.LANES[geo.dtype]
            and blocked(geo) is not None)


def row_vector_block(geo: ConvGeometry) -> RowVectorBlock:
    """All the group's features, then as many vectors along the last axis and rows as fit
    ROW_VECTOR_SUMS sums (vectors first: their loads are contiguous)."""
    features = geo.group_outputs
    vectors = max(1, min(ROW_VECTOR_SUMS // features,
                         geo.counts[-1] // conv_blocked_plan.LANES[geo.dtype]))
    rows = geo.counts[-2] if len(geo.counts) > 1 else 1
    return RowVectorBlock(features, max(1, min(ROW_VECTOR_SUMS // (features * vectors), rows)),
                          vectors)


def product_form(geo: ConvGeometry) -> str | None:
    """How a convolution is a matrix product read from its operands in place (no im2col, no
    copies): "pointwise" for a 1x1 kernel with window strides 1 (out[n] = W . x[n], one gemm
    per example, as W9's pointwise convolutions and their input gradients), "full" for a
    kernel as large as the input with one output position (out = sum over input features i
    of W_i . X_i^T, one gemm per i: their kernel gradients); None otherwise. Both need one
    group, no padding or dilation, and the spatial axes last and in order in the operands
    read as matrices (kernels' buffers are C-ordered, so those axes are contiguous)."""
    if (not PRODUCT_FORMS or geo.groups != 1 or any(geo.low) or any(geo.high)
            or any(d != 1 for d in (*geo.lhs_dilation, *geo.rhs_dilation))):
        return None
    ndim = len(geo.lhs_spec)
    trailing = tuple(range(2, ndim))
    if tuple(geo.lhs_spec[2:]) != trailing:
        return None
    if all(n == 1 for n in geo.kernel) and all(s == 1 for s in geo.strides):
        return "pointwise" if tuple(geo.out_spec[2:]) == trailing else None
    if geo.positions == 1 and geo.kernel == geo.spatial:
        return "full" if tuple(geo.rhs_spec[2:]) == trailing else None
    return None


def blocked(geo: ConvGeometry) -> conv_blocked_plan.Blocking | None:
    """The register block of a convolution lowered as blocked direct loops
    (conv_blocked_plan.py), None if it is not: integers, long kernels with few outputs
    (dots_along_kernel) and products read in place are not. (W7's input gradient, col2im
    before: 0.78 against 1.13 ms.)"""
    if (geo.empty or dots_along_kernel(geo) or row_dots(geo)
            or product_form(geo) is not None):
        return None
    return conv_blocked_plan.blocking(geo)


def scatters_columns(geo: ConvGeometry) -> bool:
    """Whether a convolution computed with gemm is gemm + col2im (the transposed form: one
    product per input position, scattered) rather than im2col + gemm: window strides 1, no
    batch groups, and many more output positions than input positions (the zero padding and
    input dilation of a convolution's input gradient)."""
    return (all(s == 1 for s in geo.strides) and geo.batch_groups == 1
            and geo.positions >= COL2IM_MIN_RATIO * geo.in_positions)


def _example_columns(geo: ConvGeometry) -> int:
    if scatters_columns(geo):
        return max(geo.scatter_rows, geo.in_features) * geo.in_positions
    return geo.rows * geo.positions


def conv_on_host(eqn: Eqn, planner) -> str | None:
    geo = ConvGeometry.of(eqn)
    if geo.dtype is DType.bool:
        return "boolean convolution: numpy"
    if not geo.spatial:
        return "a convolution without spatial axes (a product): numpy"
    if library(eqn) and _example_columns(geo) > EXAMPLE_COLUMNS_LIMIT:
        return f"one example's columns exceed {EXAMPLE_COLUMNS_LIMIT} elements: numpy"
    return None


def window_on_host(eqn: Eqn, planner) -> str | None:
    if eqn.inputs[0].type.dtype is DType.bool:
        return "boolean window reduction: numpy"
    return None


def split_min_macs() -> int:
    return min(nest_plan.GEMM_MIN_MACS, SPLIT_MIN_MACS)  # (read at each call: tests lower it)


def split(eqn: Eqn) -> nest_plan.NestSplit | None:
    """The split across threads of a convolution: im2col + gemm over its (group, tile of
    examples) pairs, each with its own scratch columns and gemm call (results identical for
    any thread count: the tiles are fixed by the shapes; a kernel stored in another layout
    is packed by each chunk, on one thread once: the chunks run as one); a 1x1 one over its
    examples; direct loops and dots over their outputs. Not col2im, a whole-input product
    (it accumulates over input features), nor an empty convolution."""
    geo = ConvGeometry.of(eqn)
    if geo.empty or geo.rows == 0 or eqn.inputs[0].type.size == 0:
        return None
    if row_dots(geo):  # (over examples and groups: each copies its input)
        return nest_plan.split_of((geo.examples, geo.groups), geo.macs,
                                  max(DIRECT_CHUNK_MACS, -(-geo.macs // 2)), split_min_macs(),
                                  busy_work=nest_plan.GEMM_BUSY_MACS)
    if blocked(geo) is not None:  # (two chunks: each packs the whole kernel again)
        return nest_plan.split_of(conv_blocked_plan.split_shape(geo), geo.macs,
                                  max(DIRECT_CHUNK_MACS, -(-geo.macs // 2)), split_min_macs(),
                                  busy_work=nest_plan.GEMM_BUSY_MACS)
    if library(eqn) is None:  # direct loops or dots: over outputs (conv._conv_direct, _conv_dot)
        outer = (geo.examples, geo.groups, geo.group_outputs)
        if dots_along_kernel(geo):  # (vector dots: a row of the last axis at once)
            outer += geo.counts[:-1] if vector_dots(geo) else geo.counts
        return nest_plan.split_of(outer, geo.macs, DIRECT_CHUNK_MACS, split_min_macs(),
                                  busy_work=nest_plan.GEMM_BUSY_MACS)
    if scatters_columns(geo):
        return None
    form = product_form(geo)
    if form is not None:  # (a whole-input one accumulates over input features: not split)
        return None if form == "full" else nest_plan.split_of(
            (geo.examples,), geo.macs, geo.macs // geo.examples, split_min_macs(),
            busy_work=nest_plan.GEMM_BUSY_MACS)
    tiles = -(-geo.examples // geo.tile)
    return nest_plan.split_of((geo.groups, tiles), geo.macs, geo.macs // (geo.groups * tiles),
                              split_min_macs(), busy_work=nest_plan.GEMM_BUSY_MACS)
