"""Scheduling: every decision about the native code of a Function, made before any LLVM IR.

`plan_function(fn)` splits a Function into kernels and host steps and decides, for each
kernel, which values get buffers and which loop nest computes each of them (fusion), which
temporaries share memory, where control flow runs as native loops, which products call BLAS,
which loops use the fast vectorized math, which kernels also get a variant split across
threads, and how kernels are entered (GIL hand-over, machine-code level). The result is a
printable `Plan`; `lower.py` emits what it says and `runtime.py` calls it.

This module does not import llvmlite: plans can be made and tested without it.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import os
import platform
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from ..ir import DType, Eqn, Function, Literal, Primitive, TensorType, Var, sub_functions
from ..ir import primitives as P
from ..ir.printer import format_literal, format_param, var_names
from . import abi, blas, conv_plan, lapack, nest_plan
from .loop_invariants import hoist_loop_invariants
from .nest_plan import NestSplit, product_split, split_of
from .transposes import compose_transposes, fold_into_products

FAST_MATH_MIN_ELEMENTS = 1024  # smaller loops call the C library (the polynomials cost compile time)
BLAS_MIN_FLOPS = 1 << 15  # smaller products are native loops (a library call costs more)
STACK_LIMIT = 1 << 20  # bytes of temporaries native control flow may keep on the stack
PARALLEL_MIN_ELEMENTS = 1 << 17  # below this, handing work to threads costs more than it saves
# A split kernel runs in chunks of this many elements (a multiple of 64) on any thread count:
# small enough to balance threads, large enough that the chunk loop costs nothing (chunk_loop).
CHUNK_ELEMENTS = 1 << 16
TINY_WORK = 256  # element operations: a function doing less keeps the GIL in its kernel
SMALL_ELEMENTS = 1024  # a function whose values are all smaller gets fast machine-code generation
# lower.py emits a fused value by recursing into its operands: a longer chain of fused
# values is cut (keeps emission's recursion depth bounded for programs of any length), by an
# anchor computed first in its loop and kept in a register when every reader reads it at the
# loop's own index, else by storing it (a store and a load per element)
MAX_FUSION_DEPTH = 64
# Rows of at most this many elements take an elementwise loop into their reduction's loop
# nest (Segment._row_reduction): a row then stays in cache between the passes, and there are
# enough rows to split; longer rows (few of them) keep their loops, split over elements.
ROW_PASS_MAX_ELEMENTS = 1 << 14
# A longer run of equations is split into several kernels (values crossing a cut are stored):
# LLVM's optimization and code generation grow faster than linearly with a function's size.
MAX_KERNEL_EQNS = int(os.environ.get("DUALJIT_MAX_KERNEL_EQNS", 1000))
# A product that is not batched, split over rows or columns, runs as ONE gemm call on
# OpenBLAS's threads when, at the call, at least two cores are free (nest_parallel.parallel_for:
# OpenBLAS's own split reached ~170 GFLOP/s on two idle cores, our row chunks ~150; its last
# bits then depend on the free cores); else in the split's chunks on our threads.
# DUALJIT_BLAS_PRODUCTS (read at import): "idle" that default, "0" always the chunks, "1"
# always one call (not split at all). Measured on the quiet machine at 2026-12-01 11:30-11:40
# in the benchmark harness (`python -m benchmarks --settle 0.3`, JAX and PyTorch in the
# process): W6's 512x512 products 4.7 / 3.3 ms (f64 / f32) with "idle" against 8.2 / 4.4 with
# "0" (NumPy 7.4-7.6 / 4.1-4.5), W8 47.7 against 56.7-71.1 ms; alone (single calls after a
# sleep, W8 without peers) the two were within noise (36-44 ms back to back, 46-54 after a
# 0.3 s sleep), so "idle" stays the default.
BLAS_PRODUCTS = os.environ.get("DUALJIT_BLAS_PRODUCTS", "idle")
BLAS_THREADED_PRODUCTS = BLAS_PRODUCTS == "1"

# Fast sin/cos/tan reduce their argument exactly only for |x| <= vecmath.RANGE_LIMIT: loops
# that use them check the bound and rerun with the C library when it is exceeded.
RANGE_LIMITED = frozenset({P.sin_p, P.cos_p, P.tan_p})

LIBM, FAST, FAST_CHECKED = "libm", "fast", "fast, libm rerun out of range"  # Group.math

# LLVM unrolls and vectorizes every loop, multiplying its code: cheap in a kernel of a few
# loops, but a whole training step has dozens of small ones and spends its time in gemm (the
# MLP step of benchmarks/torch_api.py, 30 loop nests: LLVM takes 4.7 s with both, 0.6 s
# without, and the step runs within noise of the same speed). So in a kernel of more than
# MANY_LOOPS loop nests, a loop under UNROLL_MIN_ELEMENTS elements is not unrolled, and one
# under VECTORIZE_MIN_ELEMENTS not vectorized either. A small training step pays too (T1 of
# benchmarks/torch_api.py, 8 loop nests of ~2000 elements: LLVM 93 -> 37 ms of CPU, the kernel
# 20 -> 28 us a call, the whole compiled step ~10% slower): compiling is then over 10x
# faster than torch.compile, running still over 50x.
MANY_LOOPS = 4
VECTORIZE_MIN_ELEMENTS = 4096
UNROLL_MIN_ELEMENTS = 1 << 16
TUNED, NO_UNROLL, PLAIN = "unrolled, vectorized", "vectorized", "plain"  # Group.loops

# What LLVM does to a kernel's own function (KernelPlan.code; machine_code.py says why and
# what it saves): the full pipeline; the full IR pipeline, then its fastest machine code (a
# light kernel: more than MANY_LOOPS loop nests, none unrolled in the kernel function itself);
# or nothing, its vectorized loops moved to functions of their own that are optimized (a
# light kernel whose time is in gemm calls: their multiply-adds at least LIBRARY_BOUND times
# the elements of the loops left unoptimized, and no other library call). Unoptimized, such
# loops ran ~2 ns an element slower (the MLP step's 10.5 K elements: +18-24 us a step)
# against gemm's ~0.022 ns a multiply-add, so the bound keeps the kernel within ~2% of its
# optimized time (the MLP step's ratio is ~5,000: ~1.8%). Split nests are optimized in
# every case.
FULL_CODE, FAST_CODE, UNOPTIMIZED_CODE = "full", "fast machine code", "unoptimized"
LIBRARY_BOUND = 4096
LOOP, REDUCE, ROOT = "loop", "reduce", "root"  # Group.kind


def nbytes(t: TensorType) -> int:
    return t.size * t.dtype.np.itemsize


def contraction_size(eqn: Eqn) -> int:
    """Multiply-adds of a dot_general."""
    (lhs_contract, _), _ = eqn.params["dimension_numbers"]
    return eqn.outputs[0].type.size * math.prod(eqn.inputs[0].type.shape[d] for d in lhs_contract)


# ---------------------------------------------------------------------------------------------
# One row per primitive: how codegen treats it
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Lowering:
    """How the code generator treats a primitive (a row of `lowerings`).

    fused: emitted as a scalar expression at its consumer's index, with no loop or buffer of
      its own (elementwise operations, index maps); otherwise a root with its own loop nest.
    cheap: recomputed at each use rather than stored when used more than once.
    reads_memory: its operands must be in buffers (library calls, indexed writes, control flow).
    rerunnable: its loops write only its outputs, so they may run twice (fast math's rerun).
    control_flow: runs its sub-Functions inline.
    library: eqn -> the library routine that computes it ("gemm"), or None for native loops.
    host_when: (eqn, planner) -> why the equation must run on the host, or None.
    """

    fused: bool = False
    cheap: bool = False
    reads_memory: bool = False
    rerunnable: bool = False
    control_flow: bool = False
    library: Callable[[Eqn], str | None] | None = None
    host_when: Callable[[Eqn, Planner], str | None] | None = None


def _gemm(eqn: Eqn) -> str | None:
    return "gemm" if contraction_size(eqn) >= BLAS_MIN_FLOPS and blas.gemm_ok(eqn) else None


def _product_on_host(eqn: Eqn, planner: Planner) -> str | None:
    if contraction_size(eqn) >= BLAS_MIN_FLOPS and not blas.gemm_ok(eqn):
        return ("a large product that BLAS's gemm cannot take (batched, integer, or no BLAS "
                "found): numpy's matmul")
    return None


def readable_products(fn: Function) -> Function:
    """fn, with each large product whose operands gemm cannot read in place (free and
    contracting axes interleaved in memory) given transposed operands, which it can read:
    the kernel stores the transposed copy, then calls gemm (instead of a host step); and a
    product read only by a transpose swapping its free axes computed transposed (operands
    swapped: gemm writes the transposed result, no copy of it); chains of transposes are one
    first (transposes.py), so that a product is not swapped only to be transposed back, and a
    transpose read only by products gemm can read through it is folded into them."""
    fn = fold_into_products(compose_transposes(fn), lambda e: _gemm(e) is not None)
    fn = products_into_transposes(fn)
    eqns: list[Eqn] = []
    for eqn in fn.eqns:
        if (eqn.primitive is P.dot_general_p and contraction_size(eqn) >= BLAS_MIN_FLOPS
                and not blas.gemm_ok(eqn) and eqn.outputs[0].type.dtype in blas.gemms()
                and all(isinstance(a, Var) for a in eqn.inputs)):
            eqns += _transposed_product(eqn)
        else:
            eqns.append(eqn)
    return fn if len(eqns) == len(fn.eqns) else Function(fn.inputs, fn.consts, eqns,
                                                          fn.outputs)


def products_into_transposes(fn: Function) -> Function:
    """fn, with `t = transpose(dot_general(a, b))` whose innermost axis is the lhs's last free
    axis (the weight gradients' `(x^T g)^T`, attention's value gradient) computed from
    dot_general(b, a), which gemm writes with that axis innermost: t is its result when the
    permutation just swaps the free axes, else a transpose of it that reads rows in order.
    Only when the product is read by that transpose alone and gemm reads the swapped
    operands in place."""
    readers: dict[Var, list[Eqn]] = {}
    for eqn in fn.eqns:
        for a in eqn.inputs:
            if isinstance(a, Var):
                readers.setdefault(a, []).append(eqn)
    outputs = {a for a in fn.outputs if isinstance(a, Var)}
    swapped: dict[Eqn, list[Eqn]] = {}  # the transpose -> the equations computing its result
    for eqn in fn.eqns:
        found = readers.get(eqn.outputs[0], []) if eqn.primitive is P.dot_general_p else []
        if len(found) == 1 and eqn.outputs[0] not in outputs:
            product = _swapped_product(eqn, found[0])
            if product is not None:
                swapped[found[0]] = product
    if not swapped:
        return fn
    dropped = {e for e in fn.eqns if e.primitive is P.dot_general_p
               and readers.get(e.outputs[0], [None])[0] in swapped}
    eqns = [s for e in fn.eqns if e not in dropped for s in swapped.get(e, [e])]
    return Function(fn.inputs, fn.consts, eqns, fn.outputs)


def _swapped_product(product: Eqn, reader: Eqn) -> list[Eqn] | None:
    """dot_general(rhs, lhs) and, unless it is `reader`'s result itself, the transpose of it
    that is: when reader is a transpose whose innermost axis is the lhs's last free axis
    (strided in the product's own layout, in order in the swapped one) and gemm can take it."""
    if reader.primitive is not P.transpose_p:
        return None
    lhs, rhs = product.inputs
    (lc, rc), (lb, rb) = product.params["dimension_numbers"]
    nb = len(lb)
    nl = lhs.type.ndim - len(lc) - nb
    nr = rhs.type.ndim - len(rc) - nb
    perm = tuple(reader.params["permutation"])
    if nl == 0 or nr == 0 or perm[-1] != nb + nl - 1:
        return None
    order = (*range(nb), *range(nb + nl, nb + nl + nr), *range(nb, nb + nl))  # swapped axes
    residual = tuple(order.index(axis) for axis in perm)
    out = reader.outputs[0]
    if residual != tuple(range(len(perm))):
        out = Var(TensorType(out.type.dtype, tuple(product.outputs[0].type.shape[a]
                                                   for a in order)))
    swapped = Eqn(P.dot_general_p, [rhs, lhs], [out],
                  {"dimension_numbers": ((tuple(rc), tuple(lc)), (tuple(rb), tuple(lb)))})
    if contraction_size(swapped) < BLAS_MIN_FLOPS or not blas.gemm_ok(swapped):
        return None
    if out is reader.outputs[0]:
        return [swapped]
    return [swapped, Eqn(P.transpose_p, [out], list(reader.outputs), {"permutation": residual})]


def _transposed_product(eqn: Eqn) -> list[Eqn]:
    """The operand(s) gemm cannot read transposed, lhs to [batch, free, contracting], rhs to
    [batch, contracting, free]; the output (batch, lhs free, rhs free axes) is unchanged."""
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lhs, rhs = eqn.inputs
    lfree = [d for d in range(lhs.type.ndim) if d not in lc and d not in lb]
    rfree = [d for d in range(rhs.type.ndim) if d not in rc and d not in rb]
    out: list[Eqn] = []

    def transposed(x: Var, perm: list[int]) -> Var:
        t = Var(TensorType(x.type.dtype, tuple(x.type.shape[d] for d in perm)))
        out.append(Eqn(P.transpose_p, [x], [t], {"permutation": tuple(perm)}))
        return t

    nb, nc, nl = len(lb), len(lc), len(lfree)
    if blas.matrix_view(lhs.type.shape, lfree, lc) is None:
        lhs, lc, lb = (transposed(lhs, [*lb, *lfree, *lc]), range(nb + nl, nb + nl + nc),
                       range(nb))
    if blas.matrix_view(rhs.type.shape, rc, rfree) is None:
        rhs, rc, rb = transposed(rhs, [*rb, *rc, *rfree]), range(nb, nb + nc), range(nb)
    numbers = ((tuple(lc), tuple(rc)), (tuple(lb), tuple(rb)))
    out.append(Eqn(P.dot_general_p, [lhs, rhs], eqn.outputs, {"dimension_numbers": numbers}))
    return out


def _stack_reason(n: int) -> str | None:
    return f"needs {n} bytes of stack (limit {STACK_LIMIT})" if n > STACK_LIMIT else None


def _scan_on_host(eqn: Eqn, planner: Planner) -> str | None:
    carry = eqn.outputs[:eqn.params["num_carry"]]
    return planner.body_reason(eqn.params["body"], sum(nbytes(v.type) for v in carry))


def _branches_on_host(eqn: Eqn, planner: Planner) -> str | None:
    """cond and while: their outputs and each Function's temporaries fit the stack."""
    reason = _stack_reason(sum(nbytes(v.type) for v in eqn.outputs))
    for fn in sub_functions(eqn):
        reason = reason or planner.body_reason(fn, 0)
    return reason


ELEMENTWISE = Lowering(fused=True)
INDEX_MAP = Lowering(fused=True)
CHEAP = Lowering(fused=True, cheap=True)
REDUCTION = Lowering(rerunnable=True)
INDEXED_WRITE = Lowering(reads_memory=True)

lowerings: dict[Primitive, Lowering] = {
    p: ELEMENTWISE for p in (*P.unary_primitives.values(), *P.binary_primitives.values(),
                             *P.compare_primitives.values(), *P.bit_primitives.values(),
                             P.select_p, P.integer_pow_p)}
lowerings.update({
    P.neg_p: CHEAP,
    P.convert_element_type_p: CHEAP,
    P.stop_gradient_p: CHEAP,
    P.broadcast_in_dim_p: CHEAP,
    P.reshape_p: CHEAP,
    P.transpose_p: CHEAP,
    P.slice_p: CHEAP,
    P.iota_p: CHEAP,
    P.pad_p: INDEX_MAP,
    P.concatenate_p: INDEX_MAP,
    P.gather_p: INDEX_MAP,
    P.dynamic_slice_p: INDEX_MAP,
    P.reduce_sum_p: REDUCTION,
    P.reduce_max_p: REDUCTION,
    P.reduce_min_p: REDUCTION,
    P.reduce_prod_p: REDUCTION,
    P.argmax_p: REDUCTION,
    P.argmin_p: REDUCTION,
    P.dot_general_p: Lowering(reads_memory=True, library=_gemm, host_when=_product_on_host),
    P.scatter_add_p: INDEXED_WRITE,
    P.dynamic_update_slice_p: INDEXED_WRITE,
    P.scan_p: Lowering(reads_memory=True, control_flow=True, host_when=_scan_on_host),
    P.while_p: Lowering(reads_memory=True, control_flow=True, host_when=_branches_on_host),
    P.cond_p: Lowering(reads_memory=True, control_flow=True, host_when=_branches_on_host),
    P.real_p: ELEMENTWISE,
    P.imag_p: ELEMENTWISE,
    P.conj_p: CHEAP,
    P.complex_p: ELEMENTWISE,
})
# The special functions (erf, lgamma, ...) are fused as their formulas (codegen/special.py);
# polygamma, a sum whose length depends on its argument, runs on the host.
lowerings.update({p: ELEMENTWISE for p in P.special_primitives.values()})
# Convolutions (im2col + gemm or direct loops) and window reductions: codegen/conv.py.
_WINDOW = Lowering(rerunnable=True, host_when=conv_plan.window_on_host)
lowerings.update({
    P.conv_general_dilated_p: Lowering(reads_memory=True, library=conv_plan.library,
                                       host_when=conv_plan.conv_on_host),
    P.reduce_window_sum_p: _WINDOW,
    P.reduce_window_max_p: _WINDOW,
    P.select_and_gather_add_p: _WINDOW,
    P.select_and_scatter_add_p: _WINDOW,
})
# Linear algebra: a loop over the stack of matrices calling LAPACK (codegen/lapack.py), or a
# host step through numpy when no LAPACK was found.
_LAPACK = Lowering(reads_memory=True, library=lambda e: "lapack", host_when=lapack.host_reason)
lowerings.update({p: _LAPACK for p in lapack.ROUTINES})
lowerings[P.lu_pivots_to_permutation_p] = Lowering(reads_memory=True)
# custom_jvp_call, custom_vjp_call, custom_lin and any primitive without a row run on the host.
_NO_LOWERING = Lowering(reads_memory=True)


def lowering(p: Primitive) -> Lowering:
    return lowerings.get(p, _NO_LOWERING)


# ---------------------------------------------------------------------------------------------
# Kernels: groups, materialized values, temporaries
# ---------------------------------------------------------------------------------------------

@dataclass(eq=False)
class Group:
    """One loop nest of a kernel (or one root equation's own loops), in emission order.

    kind: LOOP (same-shape values computed together), REDUCE (sibling reductions over one
      space, an accumulator each, and maybe the values of a LOOP over that space that they
      read, stored from their inner loop: Segment._stored_by_reduction), ROOT (an equation
      with its own loop structure).
    values: the materialized values it writes; eqns: the reductions or the root equation.
    math: LIBM, FAST (vectorizable polynomials) or FAST_CHECKED (plus a libm rerun).
    library: the library routine a ROOT calls ("gemm"), None for native loops.
    bodies: for control flow, (sub-Function, its Segment) pairs, emitted inline.
    computed: for a LOOP, its values and its anchors (fused values evaluated before the values
      above them, so deep chains recurse from one to the next), in program order; for a
      REDUCE, the values and anchors its inner loop evaluates before reading the reductions'
      inputs.
    loops: what LLVM may do to its loops: TUNED (unroll and vectorize), NO_UNROLL or PLAIN.
    split: how its outer loops are cut into chunks that threads share (nest_plan.py), or None.
    outlined: emitted as a function of its own that the kernel calls (an unoptimized kernel's
      vectorized loops: see UNOPTIMIZED_CODE).
    after: for a REDUCE along rows, a LOOP's values and anchors computed in a second pass over
      each row once its reductions are stored (Segment._second_row_pass), in program order.
    """

    kind: str
    values: list[Var]
    eqns: list[Eqn]
    math: str = LIBM
    library: str | None = None
    bodies: tuple[tuple[Function, Segment], ...] = ()
    computed: list[Var] = field(default_factory=list)
    loops: str = TUNED
    split: NestSplit | None = None
    outlined: bool = False
    after: list[Var] = field(default_factory=list)

    def body(self, fn: Function) -> Segment:
        return next(seg for f, seg in self.bodies if f is fn)

    @property
    def space(self) -> int:
        """The elements its loops run over (the largest of its values and operands)."""
        return max(a.type.size for a in [*self.values, *self.eqns[0].inputs])


def _row_reduction(reduce: Group, loop: Group) -> int | None:
    """The number of row axes when `reduce` reduces its input's trailing axes, keeping some,
    over rows of at most ROW_PASS_MAX_ELEMENTS, and the LOOP's values have that input's shape;
    else None."""
    x, axes = reduce.eqns[0].inputs[0], sorted(reduce.eqns[0].params["axes"])
    rows = x.type.ndim - len(axes)
    if not 0 < rows or axes != list(range(rows, x.type.ndim)):
        return None
    if math.prod(x.type.shape[rows:]) > ROW_PASS_MAX_ELEMENTS:
        return None
    return rows if all(v.type.shape == x.type.shape for v in loop.values) else None


def _keeps_rows(reader: Eqn, a, rows: int) -> bool:
    """Whether `reader`, at an index of its output, reads its operand `a` at an index with
    the same first `rows` components (elementwise operations; broadcasts and reshapes that
    keep the leading axes)."""
    if not isinstance(a, Var) or a.type.ndim == 0 or reader.primitive.elementwise:
        return True
    out = reader.outputs[0].type.shape
    lead = a.type.shape[:rows] == out[:rows] and len(out) >= rows <= a.type.ndim
    if reader.primitive is P.reshape_p:
        return lead
    if reader.primitive is P.broadcast_in_dim_p:
        dims = reader.params["broadcast_dimensions"]
        return lead and tuple(dims[:rows]) == tuple(range(rows))
    return False


def _reads_in_place(reader: Eqn, v: Var, stored: set[Var], found: set[Var]) -> bool:
    """Whether `reader` reads v at its loop's own index: a fused elementwise operation whose
    outputs are stored or themselves read in place, or a reduction of v alone."""
    p = reader.primitive
    if p.elementwise and lowering(p).fused:
        for o in reader.outputs:
            if o not in stored and o not in found:
                return False
        return True
    return p.reduction is not None and reader.inputs == (v,)


# x + c, x - c, c - x, x * c, -x: one instruction on a value that is stored anyway
RECOMPUTED = frozenset({P.add_p, P.sub_p, P.mul_p, P.neg_p})


# a vector broadcast along a recomputed value (a bias) this long at most: it stays in cache
RECOMPUTED_VECTOR = 4096
MAX_RECOMPUTED_DEPTH = 2  # recomputed values read by a recomputed value, in a chain


def recomputed_at_each_use(eqn: Eqn, stored, producer: dict | None = None) -> bool:
    """An elementwise add/sub/mul/neg of one stored value and scalar literals (GELU's `0.5 * z`
    and `1 + tanh(...)`), or a short vector the kernel reads (`z + bias`: its broadcast, seen
    in `producer`), is recomputed in each loop that reads it: storing it would cost a memory
    pass to write and one to read back, recomputing it costs a load and one instruction."""
    if eqn.primitive not in RECOMPUTED:
        return False
    values = [a for a in eqn.inputs if isinstance(a, Var)
              and not _broadcast_vector(a, producer or {}, stored)]
    return (len(values) == 1 and values[0] in stored and values[0].type == eqn.outputs[0].type
            and all(isinstance(a, Var) or not a.type.shape for a in eqn.inputs))


def _recomputed_depth(eqn: Eqn, stored, recomputed: dict, producer: dict) -> int | None:
    """How many recomputed values recomputing eqn's output reads, through its one value
    operand (MAX_RECOMPUTED_DEPTH at most: `0.5 * (z + bias)`), or None: store it."""
    readable = stored.keys() | {v for v, d in recomputed.items() if d < MAX_RECOMPUTED_DEPTH}
    if not recomputed_at_each_use(eqn, readable, producer):
        return None
    return 1 + max((recomputed.get(a, 0) for a in eqn.inputs if isinstance(a, Var)), default=0)


def _broadcast_vector(v: Var, producer: dict, stored) -> bool:
    """v broadcasts a vector of at most RECOMPUTED_VECTOR elements that is in memory (an input
    of the kernel or a stored value)."""
    eqn = producer.get(v)
    if eqn is None or eqn.primitive is not P.broadcast_in_dim_p:
        return False
    x = eqn.inputs[0]
    return (isinstance(x, Var) and x.type.ndim <= 1 and x.type.size <= RECOMPUTED_VECTOR
            and (x not in producer or x in stored))


class Segment:
    """A run of equations lowered into one kernel: buffers in, buffers out, temporaries.

    A value gets a buffer (is materialized) when it is a root's output, live out of the
    segment, an operand a root reads from memory, or used more than once and not cheap; and
    not when its every use can compute it in registers (`_keep_in_registers`)."""

    def __init__(self, eqns: Sequence[Eqn], live_in: Sequence[Var], live_out: Sequence[Var],
                 planner: Planner | None = None):
        self.eqns = list(eqns)
        self.live_in = list(live_in)
        self.live_out = list(live_out)
        self.producer = {v: e for e in self.eqns for v in e.outputs}
        self.complex = any(touches_complex(e) for e in self.eqns)  # (emission asks per value)
        self.range_limited = any(e.primitive in RANGE_LIMITED and not touches_complex(e)
                                 for e in self.eqns)
        outs = set(self.live_out)
        self.materialized = self._must_store(outs)
        self._keep_in_registers(outs)
        self.anchors = self._cap_fusion_depth()
        self.temps = [v for v in self.materialized if v not in outs]
        self.groups = self._groups(planner or Planner())
        self._limit_loop_tuning()
        self.slot_of, self.slot_bytes = self._plan_temporaries()

    def _must_store(self, outs: set[Var]) -> list[Var]:
        uses: dict[Var, int] = {}
        for e in self.eqns:
            for a in e.inputs:
                if isinstance(a, Var):
                    uses[a] = uses.get(a, 0) + 1
        stored: dict[Var, None] = {}
        recomputed: dict[Var, int] = {}  # -> how many recomputed values its recomputation reads
        for e in self.eqns:
            row = lowering(e.primitive)
            if row.reads_memory:
                stored.update((a, None) for a in e.inputs if isinstance(a, Var) and a in self.producer)
            for v in e.outputs:
                if not row.fused or v in outs:
                    stored[v] = None
                elif uses.get(v, 0) > 1 and not row.cheap:
                    depth = _recomputed_depth(e, stored, recomputed, self.producer)
                    if depth is None:
                        stored[v] = None
                    else:
                        recomputed[v] = depth
        order = {v: i for i, e in enumerate(self.eqns) for v in e.outputs}
        return sorted(stored, key=lambda v: order[v])

    def _keep_in_registers(self, outs: set[Var]) -> None:
        """A value used several times needs no buffer when every use is in its own loop at the
        same index (only elementwise operations in between): the loop body computes it once."""
        required = {a for e in self.eqns if lowering(e.primitive).reads_memory
                    for a in e.inputs if isinstance(a, Var)}
        groups = self._loop_groups()
        reads = [self._reads(group, split=True) for group in groups]
        readers_of: dict[Var, list[int]] = {}
        for h, (direct, other) in enumerate(reads):
            for v in direct | other:
                readers_of.setdefault(v, []).append(h)
        drop = set()
        for g, group in enumerate(groups):
            direct, other = reads[g]
            for v in group:
                if (v in outs or v in required or v in other
                        or not self.producer[v].primitive.elementwise):
                    continue
                readers = [h for h in readers_of.get(v, ()) if h != g]
                if not readers:
                    drop.add(v)
                elif (len(readers) == 1 and v not in direct
                      and self._fusable_into(v, groups[readers[0]], reads[readers[0]][1])):
                    drop.add(v)  # computed inside its one reader's loop instead
        if drop:
            self.materialized = [v for v in self.materialized if v not in drop]

    def _cap_fusion_depth(self) -> list[Var]:
        """Cut chains of fused values at every MAX_FUSION_DEPTH-th value: an anchor where
        every reader reads it at its loop's own index, else a stored value. The anchors, in
        program order."""
        if len(self.eqns) < MAX_FUSION_DEPTH:
            return []  # no chain is that long
        stored = set(self.materialized)
        in_place: set[Var] | None = None  # made when the first chain gets too long
        depth: dict[Var, int] = {}
        anchors: list[Var] = []
        added = False
        for e in self.eqns:
            d = 1
            for a in e.inputs:
                if isinstance(a, Var) and a in depth:
                    d = max(d, depth[a] + 1)
            for v in e.outputs:
                if v in stored:
                    continue
                if d < MAX_FUSION_DEPTH:
                    depth[v] = d
                    continue
                if in_place is None:
                    in_place = self._read_in_place()
                if v in in_place:
                    anchors.append(v)  # depth 0 above it: found in a register
                else:
                    stored.add(v)
                    added = True
        if added:
            order = {v: i for i, e in enumerate(self.eqns) for v in e.outputs}
            self.materialized = sorted(stored, key=lambda v: order[v])
        return anchors

    def _read_in_place(self) -> set[Var]:
        """Fused values that every reader reads at its loop's own index: through elementwise
        operations only, up to a stored elementwise value (a LOOP's) or to a reduction's input
        (read in place by the reduction's loop)."""
        readers: dict[Var, list[Eqn]] = {}
        for e in self.eqns:
            for a in e.inputs:
                if isinstance(a, Var):
                    readers.setdefault(a, []).append(e)
        stored = set(self.materialized)
        found: set[Var] = set()
        for e in reversed(self.eqns):
            for v in e.outputs:
                if v in stored or v not in readers:
                    continue
                for r in readers[v]:
                    if not _reads_in_place(r, v, stored, found):
                        break
                else:
                    found.add(v)
        return found

    def _fusable_into(self, v: Var, group: list[Var], other: set[Var]) -> bool:
        """v's one reading loop is a reduction (or sibling reductions) over v's own shape that
        reads v at its own index only: v can be computed there, once per element."""
        space = self._reduction_space(group[0])
        return space is not None and v not in other and space[0] == v.type.shape

    def _reduction_space(self, var: Var):
        """(input shape, reduced axes) of a reduction's loop nest, None for anything else."""
        e = self.producer[var]
        if e.primitive.reduction is None:
            return None
        return e.inputs[0].type.shape, tuple(e.params["axes"])

    def _loop_groups(self) -> list[list[Var]]:
        """The materialized values in emission order, same-shape elementwise runs together
        (a value that reads one of its run's values at another index starts a new run: in
        one loop nest that read would recompute the value's whole chain, not load it)."""
        groups: list[list[Var]] = []
        members: set[Var] = set()  # the last run's values
        for var in self.materialized:
            is_root = not lowering(self.producer[var].primitive).fused
            last = groups[-1] if groups else None
            space = self._reduction_space(var)
            if (last is not None and space is not None
                    and self._reduction_space(last[0]) == space
                    and not set(last) & self._reads([var])):
                last.append(var)  # sibling reductions over one space share a loop nest
                members.add(var)
            elif (last is not None and not is_root and last[0].type.shape == var.type.shape
                    and lowering(self.producer[last[0]].primitive).fused
                    and members.isdisjoint(self._reads([var], split=True)[1])):
                last.append(var)
                members.add(var)
            else:
                groups.append([var])
                members = {var}
        return groups

    def _reads(self, group: list[Var], split: bool = False):
        """Materialized values a group's loops read (through the expressions fused into it).

        With split=True: (values read at the loop's own index — through elementwise
        operations only, from an elementwise value or a reduction's input — and the others)."""
        direct: set[Var] = set()
        other: set[Var] = set()
        producer, materialized = self.producer, self._materialized_set()
        # a reduction's loop runs over its input's index space: it reads its input in place
        stack = [(a, self._same_index(producer[v].primitive))
                 for v in group for a in producer[v].inputs]
        seen = {True: set(), False: set()}  # values reached at the loop's index, and not
        while stack:
            a, same_index = stack.pop()
            visited = seen[same_index]
            if not isinstance(a, Var) or a in visited:
                continue
            visited.add(a)
            if a in materialized:
                (direct if same_index else other).add(a)
            elif a in producer:
                e = producer[a]
                keep = same_index and e.primitive.elementwise
                stack.extend([(b, keep) for b in e.inputs])
        return (direct, other) if split else direct | other

    def _materialized_set(self) -> set[Var]:
        """set(self.materialized), made again only when that list is replaced."""
        if getattr(self, "_set_of", None) is not self.materialized:
            self._set_of, self._materialized = self.materialized, set(self.materialized)
        return self._materialized

    @staticmethod
    def _same_index(p: Primitive) -> bool:
        return p.elementwise or p.reduction is not None

    def _groups(self, planner: Planner) -> list[Group]:
        if self.anchors:  # (for _computed)
            self._stored = set(self.materialized)
            self._position = {v: i for i, v in enumerate(self.producer)}
        groups: list[Group] = []
        for values in self._loop_groups():
            eqn = self.producer[values[0]]
            if groups and groups[-1].kind == ROOT and groups[-1].eqns[0] is eqn:
                groups[-1].values.extend(values)  # another output of the same root
                continue
            group = self._group(values, eqn, planner)
            if groups and self._stored_by_reduction(groups[-1], group):
                loop = groups.pop()  # its values are stored by the rows' reduction loop
                group.values[:0] = loop.values
                group.computed[:0] = loop.computed
            elif groups and self._second_row_pass(groups[-1], group):
                groups[-1].values.extend(group.values)  # computed row by row after the sums
                groups[-1].after = group.computed
                continue
            groups.append(group)
        return groups

    def _stored_by_reduction(self, loop: Group, reduce: Group) -> bool:
        """Whether a LOOP's values can be computed and stored in the next group's inner loop:
        reductions along rows (the trailing axes, keeping some: the softmax's sum of its
        exponentials, a layer norm's sum of squares) of the LOOP's own shape that read its
        values at their own index. One pass over the rows instead of two, split the same."""
        if loop.kind != LOOP or reduce.kind != REDUCE or loop.math != reduce.math:
            return False
        rows = _row_reduction(reduce, loop)
        if rows is None:
            return False
        direct, other = self._reads(reduce.values, split=True)
        return not other & set(loop.values) and bool(direct & set(loop.values))

    def _second_row_pass(self, reduce: Group, loop: Group) -> bool:
        """Whether a LOOP over a row reduction's input space can run row by row right after
        the reduction's loop for that row (a softmax's division by its sum, a layer norm's
        scaling): it reads the reduction's values (its sums, its stored elementwise values)
        only in the same row, so that row's are in memory (and in cache) by then."""
        if (reduce.kind != REDUCE or loop.kind != LOOP or reduce.after
                or reduce.math != loop.math):
            return False
        rows = _row_reduction(reduce, loop)
        if rows is None:
            return False
        same_row, other = self._row_reads(loop.values, rows)
        written = set(reduce.values)
        return not other & written and bool(same_row & written)

    def _row_reads(self, values: list[Var], rows: int) -> tuple[set[Var], set[Var]]:
        """Materialized values the loop computing `values` reads: (in the row of the index
        it computes, its first `rows` axes; anywhere else)."""
        same_row: set[Var] = set()
        other: set[Var] = set()
        materialized, seen = self._materialized_set(), set()
        stack = [(a, self.producer[v], True) for v in values for a in self.producer[v].inputs]
        while stack:
            a, reader, aligned = stack.pop()
            aligned = aligned and _keeps_rows(reader, a, rows)
            if not isinstance(a, Var) or (a, aligned) in seen:
                continue
            seen.add((a, aligned))
            if a in materialized:
                (same_row if aligned else other).add(a)
            elif a in self.producer:
                stack.extend((b, self.producer[a], aligned) for b in self.producer[a].inputs)
        return same_row, other

    def _group(self, values: list[Var], eqn: Eqn, planner: Planner) -> Group:
        row = lowering(eqn.primitive)
        if eqn.primitive.reduction is not None:
            group = Group(REDUCE, values, [self.producer[v] for v in values],
                          self._math(eqn.inputs[0].type.size))
            group.computed = [v for v in self._computed(group) if v not in group.values]
            return group
        if row.fused:
            group = Group(LOOP, values, [self.producer[v] for v in values],
                          self._math(values[0].type.size))
            group.computed = self._computed(group)
            return group
        math_kind = self._math(eqn.inputs[0].type.size) if row.rerunnable else LIBM
        bodies = tuple((fn, planner.body(fn)) for fn in sub_functions(eqn)) \
            if row.control_flow else ()
        library = row.library(eqn) if row.library else None
        return Group(ROOT, values, [eqn], math_kind, library, bodies)

    def _computed(self, group: Group) -> list[Var]:
        """A LOOP's values and the anchors fused into it, in program order."""
        if not self.anchors:
            return list(group.values)
        anchors, stored = set(self.anchors), self._stored
        chosen, stack = set(group.values), list(group.values)
        seen: set[Var] = set()
        while stack:  # down from the loop's values through the values fused into them
            v = stack.pop()
            if v not in seen:
                seen.add(v)
                stack.extend(a for a in self.producer[v].inputs if isinstance(a, Var)
                             and a in self.producer and a not in stored)
        chosen |= seen & anchors
        return sorted(chosen, key=self._position.__getitem__)

    def _limit_loop_tuning(self) -> None:
        """See MANY_LOOPS: in a kernel of many loop nests, loops are not unrolled, and small
        ones not vectorized (so they call the C library's math, as small loops do anyway)."""
        looped = [g for g in self.groups if g.library is None]
        if len(looped) <= MANY_LOOPS:
            return
        for group in looped:
            space = group.space
            group.loops = (TUNED if space >= UNROLL_MIN_ELEMENTS else
                           NO_UNROLL if space >= VECTORIZE_MIN_ELEMENTS else PLAIN)
            if group.loops == PLAIN:
                group.math = LIBM  # (the fast polynomials are there to be vectorized)

    def _math(self, elements: int) -> str:
        """Vectorizable polynomials pay for their compile time from FAST_MATH_MIN_ELEMENTS on;
        a loop where a range-limited function may meet a large argument gets a libm rerun."""
        if elements < FAST_MATH_MIN_ELEMENTS:
            return LIBM
        return FAST_CHECKED if self.range_limited else FAST

    def _plan_temporaries(self) -> tuple[dict[Var, int], list[int]]:
        """Temporaries whose lifetimes do not overlap share a buffer (a slot): a value lives
        from the group that writes it to the last group that reads it."""
        defined_at: dict[Var, int] = {}
        last_read: dict[Var, int] = {}
        for i, group in enumerate(self.groups):
            for v in group.values:
                for out in self.producer[v].outputs:
                    defined_at.setdefault(out, i)
            for a in self._reads(group.values):
                last_read[a] = i
        slot_bytes: list[int] = []
        slot_of: dict[Var, int] = {}
        free = _FreeSlots()
        ending: list[tuple[int, int]] = []  # heap of (last group reading a slot, slot)
        position = {v: i for i, v in enumerate(self.materialized)}
        for v in sorted(self.temps, key=lambda v: (defined_at.get(v, 0), position[v])):
            start = defined_at.get(v, 0)
            while ending and ending[0][0] < start:
                free.add(heapq.heappop(ending)[1], slot_bytes)
            need = max(v.type.size, 1) * v.type.dtype.np.itemsize
            slot = free.take(need, slot_bytes)
            if slot is None:
                slot = len(slot_bytes)
                slot_bytes.append(need)
            slot_of[v] = slot
            heapq.heappush(ending, (max(last_read.get(v, start), start), slot))
        return slot_of, slot_bytes

    def fused_into(self, group: Group) -> list[Eqn]:
        """The equations a group computes: its own plus those fused into its expressions."""
        stored, own = self._materialized_set(), set(group.values)
        found: set[Eqn] = set()
        stack = [self.producer[v] for v in group.values]
        while stack:
            e = stack.pop()
            if e not in found:
                found.add(e)
                stack.extend(self.producer[a] for a in e.inputs if isinstance(a, Var)
                             and a in self.producer and (a not in stored or a in own))
        return sorted(found, key=self._eqn_position.__getitem__)

    @cached_property
    def _eqn_position(self) -> dict[Eqn, int]:
        return {e: i for i, e in enumerate(self.eqns)}


class _FreeSlots:
    """Free temporary buffers by size: `take` finds the smallest that holds `need` bytes
    (the lowest-numbered of that size) without scanning every free one."""

    def __init__(self):
        self._sizes: list[int] = []  # sorted sizes that have a free slot
        self._slots: dict[int, list[int]] = {}  # size -> heap of free slots

    def add(self, slot: int, slot_bytes: list[int]) -> None:
        size = slot_bytes[slot]
        if size not in self._slots:
            bisect.insort(self._sizes, size)
            self._slots[size] = []
        heapq.heappush(self._slots[size], slot)

    def take(self, need: int, slot_bytes: list[int]) -> int | None:
        i = bisect.bisect_left(self._sizes, need)
        if i == len(self._sizes):
            return None
        size = self._sizes[i]
        slots = self._slots[size]
        slot = heapq.heappop(slots)
        if not slots:
            del self._slots[size], self._sizes[i]
        return slot


def body_segment(body: Function, planner: Planner | None = None) -> Segment:
    """The Segment of a sub-Function emitted inline (control flow): its inputs and constants
    come in, its computed outputs go out."""
    defined = {v for e in body.eqns for v in e.outputs}
    outs: dict[Var, None] = {a: None for a in body.outputs if isinstance(a, Var) and a in defined}
    return Segment(body.eqns, list(body.inputs) + [v for v, _ in body.consts], list(outs),
                   planner)


_COMPLEX = frozenset(d for d in DType if d.is_complex)


def touches_complex(eqn: Eqn) -> bool:
    """Whether an equation reads or makes a complex value."""
    for a in (*eqn.inputs, *eqn.outputs):
        if a.type.dtype in _COMPLEX:
            return True
    return False


# Equations that read or make complex values are native for these primitives (pairs of floats;
# codegen/complex.py); with others, and inside control flow, they run on the host.
# exp/log/sqrt/rsqrt/sin/cos/tan/tanh/pow call the C library's <complex.h> with the x86-64 convention.
COMPLEX_LIBC_CALLS = (platform.machine().lower() in ("x86_64", "amd64")
                      and sys.platform.startswith("linux"))
COMPLEX_NATIVE = frozenset({
    P.add_p, P.sub_p, P.mul_p, P.div_p, P.neg_p, P.eq_p, P.ne_p, P.select_p, P.integer_pow_p,
    P.real_p, P.imag_p, P.conj_p, P.complex_p, P.abs_p, P.convert_element_type_p,
    P.stop_gradient_p, P.broadcast_in_dim_p, P.reshape_p, P.transpose_p, P.slice_p, P.pad_p,
    P.concatenate_p, P.gather_p, P.dynamic_slice_p, P.reduce_sum_p, P.reduce_prod_p,
    P.dot_general_p, P.scatter_add_p, P.dynamic_update_slice_p,
    *((P.exp_p, P.log_p, P.sqrt_p, P.rsqrt_p, P.sin_p, P.cos_p, P.tan_p, P.tanh_p, P.pow_p)
      if COMPLEX_LIBC_CALLS else ())})


class Planner:
    """Decides where equations run, planning each control-flow body once."""

    def __init__(self):
        self._bodies: dict[int, tuple[Function, Segment]] = {}

    def host_reason(self, eqn: Eqn) -> str | None:
        """Why `eqn` runs on the host between kernels; None when it runs inside a kernel."""
        if touches_complex(eqn) and eqn.primitive not in COMPLEX_NATIVE:
            return (f"complex {eqn.primitive.name} has no native lowering (runs its numpy "
                    "implementation)")
        if eqn.primitive not in lowerings:
            return "no native lowering (runs its numpy implementation)"
        row = lowerings[eqn.primitive]
        return row.host_when(eqn, self) if row.host_when else None

    def body(self, fn: Function) -> Segment:
        found = self._bodies.get(id(fn))
        if found is None:  # the Function is kept with its plan, so its id is not reused
            found = self._bodies[id(fn)] = (fn, body_segment(fn, self))
        return found[1]

    def body_reason(self, fn: Function, extra_stack: int) -> str | None:
        """Why a control-flow body cannot be emitted inline: its temporaries (plus extra_stack
        bytes) overflow the stack, or one of its equations runs on the host."""
        reason = _stack_reason(extra_stack + sum(nbytes(v.type) for v in self.body(fn).temps))
        if reason is not None:
            return reason
        for eqn in fn.eqns:
            if touches_complex(eqn):
                return "complex values inside control flow run on the host"
            inner = self.host_reason(eqn)
            if inner is not None:
                return f"its {eqn.primitive.name} runs on the host: {inner}"
        return None


# ---------------------------------------------------------------------------------------------
# The variant of a kernel split across threads
# ---------------------------------------------------------------------------------------------

@dataclass(eq=False)
class FlatSegment:
    """A kernel's Segment rewritten over one flat axis of n elements, to run on disjoint
    [start, end) chunks from several threads. combine: per live-out value, None (each chunk
    writes its part of one shared array) or the monoid that merges the chunks' partial
    reductions ("sum", "max", ...)."""

    segment: Segment
    n: int
    combine: list[str | None]
    chunk: int = CHUNK_ELEMENTS  # elements per chunk, whatever the thread count

    @property
    def n_chunks(self) -> int:
        return -(-self.n // self.chunk)


def _common_shape(segment: Segment) -> tuple[int, ...] | None:
    shape = None
    for e in segment.eqns:
        for a in (*e.inputs, *e.outputs):
            if isinstance(a, Var) and a.type.shape:
                if shape is None:
                    shape = a.type.shape
                elif a.type.shape != shape:
                    return None
    return shape


def _full_reductions(segment: Segment, rank: int) -> dict[Var, str] | None:
    """Outputs of reductions over every axis -> their monoid; None if an equation is neither
    that, nor elementwise, nor a broadcast of a scalar."""
    reduced: dict[Var, str] = {}
    for e in segment.eqns:
        p = e.primitive
        if p.elementwise or (p is P.broadcast_in_dim_p and e.inputs[0].type.ndim == 0):
            continue
        if p.reduction is None or len(e.params["axes"]) != rank:
            return None
        reduced[e.outputs[0]] = p.reduction
    return reduced


def flat_variant(segment: Segment) -> FlatSegment | None:
    """The thread-split variant of a kernel whose values all have one shape (or are scalars),
    made of elementwise operations, scalar broadcasts and full reductions that leave it."""
    shape = _common_shape(segment)
    if shape is None or math.prod(shape) < PARALLEL_MIN_ELEMENTS:
        return None
    reduced = _full_reductions(segment, len(shape))
    if reduced is None or any(a in reduced for e in segment.eqns for a in e.inputs):
        return None  # a reduction read inside the kernel would need every chunk's result
    if not set(reduced) <= set(segment.live_out) or any(
            v.type.ndim == 0 and v not in reduced for v in segment.live_out):
        return None  # every chunk would write the same scalar output
    n = math.prod(shape)
    flat = _flattened_segment(segment, n)
    if any(v.type.ndim == 0 for v in flat.temps):
        return None  # every chunk would write the same scalar temporary
    return FlatSegment(flat, n, [reduced.get(v) for v in segment.live_out])


def _flattened_segment(segment: Segment, n: int) -> Segment:
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
        if e.primitive is P.broadcast_in_dim_p:
            params["shape"] = (n,)
        elif e.primitive.reduction is not None:
            params["axes"] = (0,)
        eqns.append(Eqn(e.primitive, [f(a) for a in e.inputs], [f(v) for v in e.outputs],
                        params))
    return Segment(eqns, [f(v) for v in segment.live_in], [f(v) for v in segment.live_out])


# ---------------------------------------------------------------------------------------------
# The plan of a Function
# ---------------------------------------------------------------------------------------------

@dataclass(eq=False)
class KernelPlan:
    """One native kernel: its Segment, its optional thread-split variant, whether it also
    gets an entry that reads a Python float argument in place, and what LLVM does to its own
    function (`code`: FULL_CODE, FAST_CODE or UNOPTIMIZED_CODE)."""

    name: str
    segment: Segment
    flat: FlatSegment | None = None
    float_entry: bool = False
    code: str = FULL_CODE


@dataclass(eq=False)
class HostStepPlan:
    """An equation run from Python between kernels, and why."""

    eqn: Eqn
    reason: str


@dataclass(eq=False)
class Plan:
    """The steps of a compiled Function, in order, and how its kernels are entered.

    release_gil: kernels hand the GIL over while they run (not in tiny functions).
    codegen_level: LLVM's machine-code generation level: 0 for small functions (their IR is
      optimized at O3) and when every kernel is UNOPTIMIZED_CODE (machine_code.py), else 3.
    dead_after: per step, the values between steps that no later step or output needs: the
      runtime drops them once the step has run, so each lives only as long as it is used."""

    function: Function
    steps: list[KernelPlan | HostStepPlan]
    release_gil: bool = True
    codegen_level: int = 3
    dead_after: list[list[Var]] = field(default_factory=list)

    @property
    def kernels(self) -> list[KernelPlan]:
        return [s for s in self.steps if isinstance(s, KernelPlan)]

    @property
    def host_steps(self) -> list[HostStepPlan]:
        return [s for s in self.steps if isinstance(s, HostStepPlan)]

    def __str__(self) -> str:
        return format_plan(self)


def plan_function(fn: Function) -> Plan:
    """Split fn into kernels (runs of natively lowered equations, at most MAX_KERNEL_EQNS
    each) and host steps."""
    fn = readable_products(hoist_loop_invariants(fn))
    planner = Planner()
    last_read = _last_read(fn)
    steps: list[KernelPlan | HostStepPlan] = []
    run: list[Eqn] = []
    for i, eqn in enumerate(fn.eqns):
        reason = planner.host_reason(eqn)
        if reason is None and len(run) >= MAX_KERNEL_EQNS:
            steps.append(_kernel(fn, run, i, last_read, f"kernel{len(steps)}", planner))
            run = []
        if reason is None:
            run.append(eqn)
            continue
        if run:
            steps.append(_kernel(fn, run, i, last_read, f"kernel{len(steps)}", planner))
        steps.append(HostStepPlan(eqn, reason))
        run = []
    if run:
        steps.append(_kernel(fn, run, len(fn.eqns), last_read, f"kernel{len(steps)}", planner))
    if len(steps) == 1 and isinstance(steps[0], KernelPlan):
        steps[0].float_entry = _takes_one_float(fn, steps[0].segment)
    fast = _small(fn) or all(isinstance(s, KernelPlan) and s.code == UNOPTIMIZED_CODE
                             for s in steps)
    return Plan(fn, steps, release_gil=not _tiny(fn), codegen_level=0 if fast else 3,
                dead_after=_dead_after(fn, steps))


def _last_read(fn: Function) -> dict[Var, int]:
    """The index of the last equation reading each value (len(fn.eqns) for outputs)."""
    last: dict[Var, int] = {}
    for i, e in enumerate(fn.eqns):
        for a in e.inputs:
            if isinstance(a, Var):
                last[a] = i
    last.update((a, len(fn.eqns)) for a in fn.outputs if isinstance(a, Var))
    return last


def _kernel(fn: Function, run: list[Eqn], end: int, last_read: dict[Var, int], name: str,
            planner: Planner) -> KernelPlan:
    """The kernel of fn.eqns[..end] == run: what it reads, what later steps need from it."""
    defined = {v for e in run for v in e.outputs}
    live_in: dict[Var, None] = {}
    for e in run:
        live_in.update((a, None) for a in e.inputs if isinstance(a, Var) and a not in defined)
    live_out = [v for e in run for v in e.outputs if last_read.get(v, -1) >= end]
    # Function inputs and outputs first, in the Function's order, so that a Function which is
    # a single kernel can be called with its own arguments (see callers.py).
    position = {v: i for i, v in enumerate(fn.inputs)}
    ins = sorted(live_in, key=lambda v: position.get(v, len(position)))
    position = {}
    for i, v in enumerate(fn.outputs):
        if isinstance(v, Var):
            position.setdefault(v, i)
    live_out.sort(key=lambda v: position.get(v, len(position)))
    segment = Segment(run, ins, live_out, planner)
    flat = flat_variant(segment)
    if flat is not None:  # (a kernel with a flat variant is split as a whole)
        return KernelPlan(name, segment, flat)
    for group in segment.groups:
        group.split = _nest_split(group)
    code = kernel_code(segment)
    if code == UNOPTIMIZED_CODE:
        for group in segment.groups:
            group.outlined = group.library is None and group.split is None and group.loops != PLAIN
    return KernelPlan(name, segment, code=code)


def kernel_code(segment: Segment) -> str:
    """What LLVM does to the function of a kernel whose nests are split already (see
    FULL_CODE)."""
    looped = [g for g in segment.groups if g.library is None]
    if len(looped) <= MANY_LOOPS or not all(
            g.split is not None or (g.kind in (LOOP, REDUCE) and g.loops != TUNED and not g.bodies)
            for g in looped):
        return FULL_CODE
    inline = [g for g in looped if g.split is None]
    if any(g.loops != PLAIN and not _outlinable(g) for g in inline):
        return FAST_CODE
    library = [g for g in segment.groups if g.library is not None]
    if not all(_product_call(g) for g in library):
        return FAST_CODE
    unvectorized = sum(g.space for g in inline if g.loops == PLAIN)
    products = sum(contraction_size(g.eqns[0]) for g in library)
    return UNOPTIMIZED_CODE if products >= LIBRARY_BOUND * unvectorized else FAST_CODE


def _product_call(group: Group) -> bool:
    """A product lowered to gemm calls alone. Other library groups emit loops of their own
    in the kernel function (LAPACK's copies and pivots, a convolution's im2col), which
    unoptimized would run several times slower (slogdet of 256x256: +50 us a call)."""
    return group.library == "gemm" and group.eqns[0].primitive is P.dot_general_p


def _outlinable(group: Group) -> bool:
    """A loop nest that can be a function of its own (nest_parallel.emit_outlined): not one
    with a libm rerun, whose slow copy reads the kernel's own buffers."""
    return group.kind in (LOOP, REDUCE) and not group.bodies and group.math != FAST_CHECKED


def _nest_split(group: Group) -> NestSplit | None:
    """A loop nest whose outer iterations are independent, split across threads when large
    (nest_plan.py): an elementwise loop (each element written once, from values of earlier
    nests), reductions along rows (over the input's last axis and maybe others, keeping
    some: each output element on its own, the rows of a softmax or layer norm; one scalar is
    not split, and column sums accumulate in memory order across rows, lower.py), a gemm
    product (over its batch, or its output's rows), an im2col + gemm convolution (over its
    tiles of examples, conv_plan.split). Not a nest with a libm rerun (its rerun
    would need the chunk too)."""
    eqn = group.eqns[0]
    if group.library == "gemm" and eqn.primitive is P.dot_general_p:
        layout = blas.gemm_layout(*(a.type.shape for a in eqn.inputs),
                                  eqn.params["dimension_numbers"])
        if not layout.batch and BLAS_THREADED_PRODUCTS:  # one call on OpenBLAS's threads
            return None
        return product_split(tuple(loop[0] for loop in layout.batch), layout.m,
                             contraction_size(eqn), layout.n)
    if eqn.primitive is P.conv_general_dilated_p:  # (gemm or direct loops)
        return conv_plan.split(eqn)
    if group.library is not None or group.math == FAST_CHECKED or group.bodies:
        return None
    if group.kind == LOOP:
        shape = group.values[0].type.shape
        return split_of(shape, math.prod(shape))
    x = eqn.inputs[0]
    if group.kind == REDUCE and x.type.ndim - 1 in eqn.params["axes"]:
        return split_of(eqn.outputs[0].type.shape, x.type.size)
    return None


def one_blas_call_when_idle(group: Group) -> bool:
    """Whether the split group is a product that runs as one gemm call on OpenBLAS's threads
    when two cores are free (see BLAS_PRODUCTS): a product not batched, of at least
    nest_plan.ONE_BLAS_CALL_MACS (smaller ones, W2's 25 M multiply-adds, would leave
    OpenBLAS's threads spinning for ~0.1 s on the core the next split nest's helper needs)."""
    eqn = group.eqns[0]
    if BLAS_PRODUCTS == "0" or group.library != "gemm" or eqn.primitive is not P.dot_general_p:
        return False
    if group.split is None or group.split.work < nest_plan.ONE_BLAS_CALL_MACS:
        return False
    return not blas.gemm_layout(*(a.type.shape for a in eqn.inputs),
                                eqn.params["dimension_numbers"]).batch


def _dead_after(fn: Function, steps: list[KernelPlan | HostStepPlan]) -> list[list[Var]]:
    """Per step, the values it is the last to read (the Function's inputs, constants and
    outputs excepted)."""
    keep = {a for a in fn.outputs if isinstance(a, Var)} | set(fn.inputs)
    keep |= {v for v, _ in fn.consts}
    last: dict[Var, int] = {}
    for i, step in enumerate(steps):
        reads = step.segment.live_in if isinstance(step, KernelPlan) else step.eqn.inputs
        last.update((v, i) for v in reads if isinstance(v, Var))
    dead: list[list[Var]] = [[] for _ in steps]
    for v, i in last.items():
        if v not in keep:
            dead[i].append(v)
    return dead


def _takes_one_float(fn: Function, segment: Segment) -> bool:
    """The Function's only input is a float64 scalar, read by this kernel as its only input:
    it can be passed as the Python float object itself."""
    return (abi.FLOAT_OBJECTS_OK and len(fn.inputs) == 1
            and fn.inputs[0].type == TensorType("float64", ())
            and segment.live_in == list(fn.inputs) and not fn.consts)


def _tiny(fn: Function) -> bool:
    """A function whose whole work is a few hundred element operations, without control flow
    (well under a microsecond): its kernels keep the GIL, which costs less than handing it
    over."""
    work = 0
    for eqn in fn.eqns:
        row = lowering(eqn.primitive)
        if row.control_flow:
            return False
        if not row.fused:  # a root's loops run over its operands
            work += sum(a.type.size for a in eqn.inputs if isinstance(a, Var))
        work += sum(v.type.size for v in eqn.outputs)
        if work >= TINY_WORK:
            return False
    return True


def _small(fn: Function) -> bool:
    """Only small loops and no control flow: machine code is generated at LLVM's fastest level
    (the IR is still optimized at O3). Such code runs for well under a microsecond, and
    generating it this way takes about half the time."""
    for eqn in fn.eqns:
        if lowering(eqn.primitive).control_flow:
            return False
        for v in (*eqn.inputs, *eqn.outputs):  # (inputs too: a reduction or a kernel
            if v.type.size >= SMALL_ELEMENTS:  # gradient has a small output and much work)
                return False
    return True


# ---------------------------------------------------------------------------------------------
# Printing
# ---------------------------------------------------------------------------------------------

def format_plan(plan: Plan) -> str:
    names = var_names(plan.function)
    kernels, hosts = len(plan.kernels), len(plan.host_steps)
    lines = [f"plan: {kernels} kernel{'s' * (kernels != 1)}, {hosts} host "
             f"step{'s' * (hosts != 1)}; kernels {'release' if plan.release_gil else 'keep'} "
             f"the GIL; machine code at level {plan.codegen_level}"]
    for i, step in enumerate(plan.steps):
        if isinstance(step, HostStepPlan):
            lines.append(f"host step: {_eqn_text(step.eqn, names)}")
            lines.append(f"  because: {step.reason}")
        else:
            lines.extend(_kernel_lines(step, names))
        if len(plan.steps) > 1 and plan.dead_after and plan.dead_after[i]:
            lines.append(f"  then frees: {_names(plan.dead_after[i], names)}")
    return "\n".join(lines)


def _kernel_lines(kernel: KernelPlan, names: dict[Var, str]) -> list[str]:
    seg = kernel.segment
    lines = [f"{kernel.name}({_names(seg.live_in, names)}) -> ({_names(seg.live_out, names)})"]
    if seg.temps:
        lines.append(f"  temporaries: {_names(seg.temps, names)} in {len(seg.slot_bytes)} "
                     f"buffer{'s' * (len(seg.slot_bytes) != 1)} ({sum(seg.slot_bytes)} bytes)")
    lines.extend(_segment_lines(seg, names, "  "))
    if kernel.flat is not None:
        merged = sorted({c for c in kernel.flat.combine if c is not None})
        flat = kernel.flat
        lines.append(f"  split across threads: {flat.n} elements in {flat.n_chunks} chunks of "
                     f"{flat.chunk} (in order on one thread)"
                     + (f", partial results merged by {', '.join(merged)}" if merged else ""))
    if kernel.float_entry:
        lines.append("  entry: also takes its float64 argument as a Python float, in place")
    if kernel.code == FAST_CODE:
        lines.append("  LLVM: the kernel's own function gets fast machine code (many small loops)")
    elif kernel.code == UNOPTIMIZED_CODE:
        lines.append("  LLVM: the kernel's own function is not optimized (its time is in library "
                     "calls); its vectorized loops are functions of their own")
    return lines


def _group_head(group) -> str:
    """Only the line of the group's kind is made (a loop's first equation may be an iota,
    which has no operand for a reduction's line to read)."""
    if group.kind == LOOP:
        return f"loop over {group.values[0].type}"
    if group.kind == REDUCE:
        return f"reduction loop over {group.eqns[0].inputs[0].type}"
    return group.eqns[0].primitive.name


def _segment_lines(seg: Segment, names: dict[Var, str], pad: str) -> list[str]:
    lines = []
    for group in seg.groups:
        head = _group_head(group)
        notes = [f"math: {group.math}"] + ([f"calls {group.library}"] if group.library else [])
        anchors = [v for v in group.computed if v not in group.values]
        notes += [f"anchors in registers: {_names(anchors, names)}"] if anchors else []
        notes += [f"loops: {group.loops}"] if group.loops != TUNED else []
        notes += [group.split.describe()] if group.split is not None else []
        notes += ["a function of its own"] if group.outlined else []
        lines.append(f"{pad}{head} -> {_names(group.values, names)}  [{'; '.join(notes)}]")
        for e in seg.fused_into(group):
            lines.append(f"{pad}    {_eqn_text(e, names)}")
        for fn, body in group.bodies:
            inner = var_names(fn)
            lines.append(f"{pad}    body ({_names(fn.inputs, inner)}) -> "
                         f"({', '.join(_atom(a, inner) for a in fn.outputs)}):")
            lines.extend(_segment_lines(body, inner, pad + "      "))
    return lines


def _names(values: Sequence[Var], names: dict[Var, str]) -> str:
    return ", ".join(_atom(v, names) for v in values)


def _atom(a, names: dict[Var, str]) -> str:
    if isinstance(a, Literal):
        return format_literal(a)
    return names.get(a) or _fresh_name(a, names)


def _fresh_name(v: Var, names: dict[Var, str]) -> str:
    """Values of a thread-split variant are new: they are named on first sight."""
    taken = set(names.values())
    name = next(f"v{i}" for i in itertools.count() if f"v{i}" not in taken)
    names[v] = name
    return name


def _eqn_text(e: Eqn, names: dict[Var, str]) -> str:
    params = {k: v for k, v in e.params.items() if not _holds_function(v)}
    shown = ", ".join(f"{k}={format_param(v)}" for k, v in sorted(params.items()))
    rhs = e.primitive.name + (f"[{shown}]" if shown else "")
    operands = " ".join(_atom(a, names) for a in e.inputs)
    return f"{_names(e.outputs, names)} = {rhs} {operands}".rstrip()


def _holds_function(value) -> bool:
    return isinstance(value, Function) or (
        isinstance(value, tuple) and bool(value) and isinstance(value[0], Function))

# numpy area: the accurate elementwise math (C library calls), ldexp, and the running scans
# (a sequential loop along their axis; they write only their outputs, so they may rerun).
lowerings.update({p: ELEMENTWISE for p in (*P.numpy_unary_primitives.values(),
                                           *P.numpy_binary_primitives.values(), P.ldexp_p)})
lowerings.update({p: Lowering(rerunnable=True) for p in (
    P.cumsum_p, P.cumprod_p, P.cummax_p, P.cummin_p, P.linear_recurrence_p)})
