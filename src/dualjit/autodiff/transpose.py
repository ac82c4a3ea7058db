"""Transposition of linear Functions and the transpose rule of every linear primitive."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..ir import DType, Function, Literal, Primitive, TensorType, Var
from ..ir import primitives as P
from ..ir.util import merge_lists, partition_list, scan_operands, scan_results, split_list
from ..tracer.core import apply_function, bind, trace_flat
from . import ops
from .jvp import Zero
from .ops import (  # one helper per primitive (see ops.py)
    add,
    broadcast_to_kept,
    convert,
    cumsum,
    div,
    dot_general,
    dynamic_slice,
    dynamic_update_slice,
    gather,
    ldexp,
    linear_recurrence,
    mul,
    neg,
    pad,
    reduce_sum,
    reshape,
    scatter_add,
    select,
    sub,
    type_of,
    unbroadcast,
)


class LinearArg:
    """Stands for a linear operand inside a transpose rule (its value is what we solve for)."""

    __slots__ = ("type",)

    def __init__(self, type: TensorType):
        self.type = type


def is_linear(x: Any) -> bool:
    return isinstance(x, LinearArg)


transpose_rules: dict[Primitive, Callable] = {}


class NonLinearError(TypeError):
    """A transform met an operation that cannot be reversed."""


_NOT_REVERSIBLE = {
    P.while_p: ("reverse-mode differentiation (grad, vjp, jacrev) through while_loop is not "
                "supported: its trip count is only known at run time, so the values of every "
                "iteration cannot be stored for the backward pass. Use lax.fori_loop with "
                "static Python-int bounds (it becomes a scan) or lax.scan, or use forward mode "
                "(jvp, jacfwd)."),
}


def not_reversible(prim: Primitive) -> NonLinearError:
    """The error for reverse-mode differentiation through `prim`, saying why and what to use."""
    return NonLinearError(_NOT_REVERSIBLE.get(
        prim, f"reverse-mode differentiation of {prim.name} is not supported (it has no "
        "transpose rule)"))


def backward_pass(fn: Function, linear: Sequence[bool], nonlinear_values: Sequence[Any],
                  cts: Sequence[Any]) -> list[Any]:
    """Cotangents of fn's linear inputs, given values of its other inputs and output cts."""
    env: dict[Var, Any] = {}
    linear_vars: set[Var] = set()
    values = iter(nonlinear_values)
    for v, is_lin in zip(fn.inputs, linear):
        if is_lin:
            linear_vars.add(v)
        else:
            env[v] = next(values)
    env.update(fn.consts)

    def read(a):
        return ops.scalar(a.value, a.type.dtype) if isinstance(a, Literal) else env[a]

    linear_eqns = []
    for eqn in fn.eqns:  # forward: evaluate what does not depend on the linear inputs
        if any(isinstance(a, Var) and a in linear_vars for a in eqn.inputs):
            linear_eqns.append(eqn)
            linear_vars.update(eqn.outputs)
        else:
            outs = bind(eqn.primitive, *map(read, eqn.inputs), **eqn.params)
            env.update(zip(eqn.outputs, outs if eqn.primitive.multiple_results else [outs]))
    ct_env: dict[Var, Any] = {}

    def accumulate(v: Var, ct: Any) -> None:
        if ct is None or isinstance(ct, Zero):
            return
        ct_env[v] = add(ct_env[v], ct) if v in ct_env else ct

    for out, ct in zip(fn.outputs, cts):
        if isinstance(out, Var) and out in linear_vars:
            accumulate(out, ct)
    for eqn in reversed(linear_eqns):
        cts_out = [ct_env.pop(v, None) for v in eqn.outputs]
        if all(c is None for c in cts_out):
            continue
        cts_out = [ops.zeros(v.type) if c is None else c for v, c in zip(eqn.outputs, cts_out)]
        rule = transpose_rules.get(eqn.primitive)
        if rule is None:
            raise not_reversible(eqn.primitive)
        args = [LinearArg(a.type) if isinstance(a, Var) and a in linear_vars else read(a)
                for a in eqn.inputs]
        ct_arg = cts_out if eqn.primitive.multiple_results else cts_out[0]
        cts_in = rule(ct_arg, *args, **eqn.params)
        for a, ct in zip(eqn.inputs, cts_in):
            if isinstance(a, Var) and a in linear_vars:
                accumulate(a, ct)
    return [ct_env.get(v) for v, is_lin in zip(fn.inputs, linear) if is_lin]


def transpose_function(fn: Function, linear: Sequence[bool]) -> Function:
    """The transpose of fn with respect to its `linear` inputs.

    Inputs: fn's non-linear inputs, then one cotangent per output.
    Outputs: one cotangent per linear input (zeros where nothing flows back).
    """
    nonlinear_types = [v.type for v, is_lin in zip(fn.inputs, linear) if not is_lin]
    linear_types = [v.type for v, is_lin in zip(fn.inputs, linear) if is_lin]
    k = len(nonlinear_types)

    def body(*args):
        cts_in = backward_pass(fn, linear, args[:k], args[k:])
        return [ops.zeros(t) if ct is None else ct for t, ct in zip(linear_types, cts_in)]

    out, captures = trace_flat(body, nonlinear_types + fn.out_types)
    assert not captures
    return out


# ---------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------

def _add_transpose(ct, x, y):
    return [unbroadcast(ct, x.type) if is_linear(x) else None,
            unbroadcast(ct, y.type) if is_linear(y) else None]


def _sub_transpose(ct, x, y):
    return [unbroadcast(ct, x.type) if is_linear(x) else None,
            unbroadcast(neg(ct), y.type) if is_linear(y) else None]


def _mul_transpose(ct, x, y):
    if is_linear(x) and is_linear(y):
        raise NonLinearError("mul of two linear values is not linear")
    if is_linear(x):
        return [unbroadcast(mul(ct, y), x.type), None]
    return [None, unbroadcast(mul(x, ct), y.type)]


def _linear_in_first(op: Callable, nonlinear: str) -> Callable:
    """The transpose rule of op(x, y) linear in x alone (div, ldexp): op(ct, y), summed back
    to x's shape; a linear y raises `nonlinear`."""
    def rule(ct, x, y):
        if is_linear(y):
            raise NonLinearError(nonlinear)
        return [unbroadcast(op(ct, y), x.type), None]
    return rule


transpose_rules[P.add_p] = _add_transpose
transpose_rules[P.sub_p] = _sub_transpose
transpose_rules[P.mul_p] = _mul_transpose
transpose_rules[P.div_p] = _linear_in_first(div, "division by a linear value is not linear")
transpose_rules[P.neg_p] = lambda ct, x: [neg(ct)]
transpose_rules[P.convert_element_type_p] = lambda ct, x, *, new_dtype: [
    convert(ct, x.type.dtype)]


def _reduce_sum_transpose(ct, x, *, axes):
    return [broadcast_to_kept(ct, x.type, axes)]


def _broadcast_transpose(ct, x, *, shape, broadcast_dimensions):
    in_shape = x.type.shape
    summed = [d for d in range(len(shape)) if d not in broadcast_dimensions]
    summed += [bd for d, bd in zip(in_shape, broadcast_dimensions) if d == 1 and shape[bd] != 1]
    out = reduce_sum(ct, sorted(summed))
    return [reshape(out, new_sizes=in_shape) if type_of(out).shape != in_shape else out]


transpose_rules[P.reduce_sum_p] = _reduce_sum_transpose
transpose_rules[P.broadcast_in_dim_p] = _broadcast_transpose
transpose_rules[P.reshape_p] = lambda ct, x, *, new_sizes: [
    reshape(ct, new_sizes=x.type.shape)]
transpose_rules[P.transpose_p] = lambda ct, x, *, permutation: [
    ops.transpose(ct, permutation=tuple(int(i) for i in np.argsort(permutation)))]


def _slice_transpose(ct, x, *, start_indices, limit_indices, strides):
    config = []
    for d, lo, n_out, st in zip(x.type.shape, start_indices, type_of(ct).shape, strides):
        used = lo + (n_out + (n_out - 1) * (st - 1) if n_out else 0)
        config.append((lo, d - used, st - 1 if n_out else 0))
    return [pad(ct, 0, padding_config=tuple(config))]


def _pad_transpose(ct, x, padding_value, *, padding_config):
    ct_x = None
    if is_linear(x):
        unpadded = pad(ct, 0,
                        padding_config=tuple((-lo, -hi, 0) for lo, hi, _ in padding_config))
        n = type_of(unpadded).shape
        ct_x = ops.slice(unpadded, start_indices=(0,) * len(n), limit_indices=n,
                    strides=tuple(i + 1 for _, _, i in padding_config))
    ct_pad = None
    if is_linear(padding_value):
        total = reduce_sum(ct, range(type_of(ct).ndim))
        inner = reduce_sum(ct_x, range(type_of(ct_x).ndim)) if ct_x is not None else None
        ct_pad = sub(total, inner) if inner is not None else total
    return [ct_x, ct_pad]


transpose_rules[P.slice_p] = _slice_transpose
transpose_rules[P.pad_p] = _pad_transpose


def _concatenate_transpose(ct, *xs, dimension):
    out, start = [], 0
    shape = type_of(ct).shape
    for x in xs:
        size = x.type.shape[dimension] if is_linear(x) else np.shape(x)[dimension]
        if is_linear(x):
            lo = [0] * len(shape)
            hi = list(shape)
            lo[dimension], hi[dimension] = start, start + size
            out.append(ops.slice(ct, start_indices=tuple(lo), limit_indices=tuple(hi),
                            strides=(1,) * len(shape)))
        else:
            out.append(None)
        start += size
    return out


transpose_rules[P.concatenate_p] = _concatenate_transpose


def _gather_transpose(ct, x, indices, *, axis):
    return [scatter_add(ops.zeros(x.type), indices, ct, axis=axis), None]


def _scatter_add_transpose(ct, x, indices, updates, *, axis):
    return [ct if is_linear(x) else None, None,
            gather(ct, indices, axis=axis) if is_linear(updates) else None]


def _dynamic_slice_transpose(ct, x, *starts, slice_sizes):
    return [dynamic_update_slice(ops.zeros(x.type), ct, *starts)] + [None] * len(starts)


def _dynamic_update_slice_transpose(ct, x, update, *starts):
    u_type = update.type if is_linear(update) else type_of(update)
    ct_x = dynamic_update_slice(ct, ops.zeros(u_type), *starts) if is_linear(x) else None
    ct_u = (dynamic_slice(ct, *starts, slice_sizes=u_type.shape)
            if is_linear(update) else None)
    return [ct_x, ct_u] + [None] * len(starts)


transpose_rules[P.gather_p] = _gather_transpose
transpose_rules[P.scatter_add_p] = _scatter_add_transpose
transpose_rules[P.dynamic_slice_p] = _dynamic_slice_transpose
transpose_rules[P.dynamic_update_slice_p] = _dynamic_update_slice_transpose


def _select_transpose(ct, pred, a, b):
    if is_linear(pred):
        raise NonLinearError("select with a linear predicate")
    return [None,
            unbroadcast(select(pred, ct, 0), a.type) if is_linear(a) else None,
            unbroadcast(select(pred, 0, ct), b.type) if is_linear(b) else None]


transpose_rules[P.select_p] = _select_transpose


def _dot_general_transpose(ct, x, y, *, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    if is_linear(x) and is_linear(y):
        raise NonLinearError("dot_general of two linear values is not linear")
    x_t = x.type if is_linear(x) else type_of(x)
    y_t = y.type if is_linear(y) else type_of(y)
    nb = len(lb)
    lfree = [i for i in range(x_t.ndim) if i not in lc and i not in lb]
    rfree = [i for i in range(y_t.ndim) if i not in rc and i not in rb]
    ct_batch = tuple(range(nb))
    ct_lfree = tuple(range(nb, nb + len(lfree)))
    ct_rfree = tuple(range(nb + len(lfree), nb + len(lfree) + len(rfree)))
    if is_linear(x):
        out = dot_general(ct, y, dimension_numbers=(
            (ct_rfree, tuple(rfree)), (ct_batch, tuple(rb))))
        order = list(lb) + lfree + [lc[j] for j in np.argsort(rc)]
        return [_to_order(out, order), None]
    out = dot_general(ct, x, dimension_numbers=(
        (ct_lfree, tuple(lfree)), (ct_batch, tuple(lb))))
    order = list(rb) + rfree + [rc[j] for j in np.argsort(lc)]
    return [None, _to_order(out, order)]


def _to_order(out: Any, dims: Sequence[int]) -> Any:
    """`out`'s axis k holds operand axis dims[k]; transpose it back to operand order."""
    perm = tuple(int(i) for i in np.argsort(dims))
    return out if perm == tuple(range(len(perm))) else ops.transpose(out, permutation=perm)


transpose_rules[P.dot_general_p] = _dot_general_transpose


def _cond_transpose(cts, index, *operands, branches):
    linear = [is_linear(a) for a in operands]
    nonlinear, _ = partition_list(linear, operands)
    cts_in = bind(P.cond_p, index, *nonlinear, *cts,
                  branches=tuple(transpose_function(b, linear) for b in branches))
    return [None] + merge_lists(linear, [None] * len(nonlinear), cts_in)


transpose_rules[P.cond_p] = _cond_transpose


def _scan_transpose(cts, *args, body, length, num_consts, num_carry, reverse):
    """A scan running the other way over the transposed body; the consts' cotangents are
    accumulated in extra carries, the xs' cotangents come out as ys."""
    consts, carry, xs = scan_operands(args, num_consts, num_carry)
    consts_lin, xs_lin = [is_linear(c) for c in consts], [is_linear(x) for x in xs]
    nonlinear_consts, linear_consts = partition_list(consts_lin, consts)
    nonlinear_xs, _ = partition_list(xs_lin, xs)
    ct_carry, ct_ys = scan_results(cts, num_carry)
    # body_t: nonlinear consts, nonlinear xs, ct carry, ct ys -> ct of the linear inputs
    body_t = transpose_function(body, consts_lin + [True] * num_carry + xs_lin)
    acc_types = [c.type for c in linear_consts]
    sizes = [len(nonlinear_consts), len(acc_types), num_carry, len(nonlinear_xs)]

    def step(*step_args):
        nl_consts, acc, ct_carry, nl_xs, ct_ys = split_list(step_args, sizes)
        ct_consts, ct_carry, ct_xs = split_list(
            apply_function(body_t, *nl_consts, *nl_xs, *ct_carry, *ct_ys),
            [len(acc), num_carry])
        return [add(s, t) for s, t in zip(acc, ct_consts)] + ct_carry + ct_xs

    carry_types = [c.type if is_linear(c) else type_of(c) for c in carry]
    step_types = ([type_of(c) for c in nonlinear_consts] + acc_types + carry_types
                  + [_slice_type(x) for x in nonlinear_xs] + [_slice_type(c) for c in ct_ys])
    step_fn, captures = trace_flat(step, step_types)
    assert not captures
    outs = bind(P.scan_p, *nonlinear_consts, *map(ops.zeros, acc_types), *ct_carry,
                *nonlinear_xs, *ct_ys, body=step_fn, length=length,
                num_consts=len(nonlinear_consts), num_carry=len(acc_types) + num_carry,
                reverse=not reverse)
    ct_consts, ct_carry_init, ct_xs = split_list(outs, [len(acc_types), num_carry])
    return (merge_lists(consts_lin, [None] * len(nonlinear_consts), ct_consts) + ct_carry_init
            + merge_lists(xs_lin, [None] * len(nonlinear_xs), ct_xs))


def _slice_type(x: Any) -> TensorType:
    """The type of one step's slice of a scanned array."""
    t = type_of(x)
    return TensorType(t.dtype, t.shape[1:])


transpose_rules[P.scan_p] = _scan_transpose


def _custom_lin_transpose(cts, *args, bwd, num_res, out_types):
    res = args[:num_res]
    cts_in = apply_function(bwd, *res, *cts)
    return [None] * num_res + list(cts_in)


transpose_rules[P.custom_lin_p] = _custom_lin_transpose


# =============================================================================================
# numpy area: transpose rules of the linear primitives dualjit.numpy added
# =============================================================================================

def _cumsum_transpose(ct, x, *, axis, reverse):
    return [cumsum(ct, axis=axis, reverse=not reverse)]


def _linear_recurrence_transpose(ct, a, b, *, axis, reverse):
    # z = L b with L[i, j] = a[j+1] ... a[i]; L^T runs the recurrence the other way, with the
    # coefficients shifted one step: w[j] = ct[j] + a[j+1] w[j+1].
    if is_linear(a):
        raise NonLinearError("linear_recurrence is not linear in its coefficients")
    from .jvp import previous

    shifted = previous(a, 0, axis=axis, reverse=not reverse)
    return [None, linear_recurrence(shifted, ct, axis=axis, reverse=not reverse)]


transpose_rules[P.cumsum_p] = _cumsum_transpose
transpose_rules[P.linear_recurrence_p] = _linear_recurrence_transpose
transpose_rules[P.ldexp_p] = _linear_in_first(ldexp, "ldexp is not linear in its exponent")


# =============================================================================================
# Linear algebra (linalg): triangular_solve is linear in its right-hand side
# =============================================================================================

def _triangular_solve_transpose(ct, a, b, *, left_side, lower, transpose_a, unit_diagonal):
    # X = op(A)^-1 B  =>  B_bar = op(A)^-T X_bar   (and X = B op(A)^-1 => B_bar = X_bar op(A)^-T)
    if is_linear(a):
        raise NonLinearError("triangular_solve is linear in its right-hand side only")
    return [None, bind(P.triangular_solve_p, a, ct, left_side=left_side, lower=lower,
                       transpose_a=not transpose_a, unit_diagonal=unit_diagonal)]


transpose_rules[P.triangular_solve_p] = _triangular_solve_transpose


def _triangular_product_transpose(ct, a, b, *, left_side, lower, transpose_a, unit_diagonal):
    # Y = op(T) B  =>  B_bar = op(T)^T Y_bar (and Y = B op(T) => B_bar = Y_bar op(T)^T);
    # T_bar: the outer product, on T's triangle only (the primitive reads nothing else)
    if is_linear(a) and is_linear(b):
        raise NonLinearError("triangular_product is linear in one operand at a time")
    if is_linear(b):
        return [None, bind(P.triangular_product_p, a, ct, left_side=left_side, lower=lower,
                           transpose_a=not transpose_a, unit_diagonal=unit_diagonal)]
    if unit_diagonal:
        raise NonLinearError("triangular_product with a unit diagonal is affine in a")
    nd = type_of(b).ndim
    batch = tuple(range(nd - 2))

    def product(x, y, x_axis, y_axis):  # contract axis x_axis of x with y_axis of y
        return bind(P.dot_general_p, x, y,
                    dimension_numbers=(((x_axis,), (y_axis,)), (batch, batch)))
    rows, cols = nd - 2, nd - 1
    if left_side:  # op(T) = Y_bar B^T
        outer = product(ct, b, cols, cols)
    else:  # op(T) = B^T Y_bar
        outer = product(b, ct, rows, rows)
    if transpose_a:
        outer = bind(P.transpose_p, outer, permutation=batch + (cols, rows))
    shape = type_of(outer).shape
    row = bind(P.iota_p, dtype=DType.int32, shape=shape, dimension=rows)
    col = bind(P.iota_p, dtype=DType.int32, shape=shape, dimension=cols)
    keep = bind(P.le_p if lower else P.ge_p, col, row)
    return [select(keep, outer, ops.zeros(type_of(outer))), None]


transpose_rules[P.triangular_product_p] = _triangular_product_transpose


# ---------------------------------------------------------------------------------------------
# Complex numbers (complex area). JAX's convention: the cotangent of z = x + iy is carried as
# dL/dx - i dL/dy, so holomorphic maps transpose without conjugation (mul by c -> mul by c) and
# the parts transpose as below.
# ---------------------------------------------------------------------------------------------

def _as_complex_parts(re, im):
    return bind(P.complex_p, re, im)


transpose_rules[P.real_p] = lambda ct, x: [_as_complex_parts(ct, ops.zeros(type_of(ct)))]
transpose_rules[P.imag_p] = lambda ct, x: [_as_complex_parts(ops.zeros(type_of(ct)), neg(ct))]
transpose_rules[P.conj_p] = lambda ct, x: [bind(P.conj_p, ct)]


def _complex_transpose(ct, re, im):
    return [bind(P.real_p, ct) if is_linear(re) else None,
            neg(bind(P.imag_p, ct)) if is_linear(im) else None]


transpose_rules[P.complex_p] = _complex_transpose


# The FFT: the DFT matrix F is symmetric, so fft and ifft transpose to themselves. rfft is
# F's first m = n//2+1 rows applied to real x: its transpose is Re(F^T u) = Re(sum_k u_k w^-kn)
# = n irfft(conj(u) / c)_n, with c the Hermitian weights (1, 2, ..., 2, [1]) irfft applies.
# irfft is Re(B x) with B = c * F-bar / n: its transpose is B^T v = c * conj(rfft(v)) / n for
# real v (JAX's convention; one half-length transform each way).

def _fft_transpose(ct, x, *, fft_type, fft_lengths):
    lengths = tuple(fft_lengths)
    if fft_type in ("fft", "ifft"):
        return [bind(P.fft_p, ct, fft_type=fft_type, fft_lengths=lengths)]
    if fft_type == "rfft":
        weighted = _times_last_axis(bind(P.conj_p, ct), math.prod(lengths) / _hermitian(lengths))
        return [bind(P.fft_p, weighted, fft_type="irfft", fft_lengths=lengths)]
    spectrum = bind(P.fft_p, ct, fft_type="rfft", fft_lengths=lengths)
    return [_times_last_axis(bind(P.conj_p, spectrum), _hermitian(lengths) / math.prod(lengths))]


def _hermitian(lengths):
    """The weight of each stored frequency of a real signal's half spectrum (1, 2, ..., 2, [1])."""
    c = np.full(lengths[-1] // 2 + 1, 2.0)
    c[0] = 1.0
    if lengths[-1] % 2 == 0:
        c[-1] = 1.0
    return c


def _times_last_axis(z, weights):
    t = type_of(z)
    w = np.broadcast_to(weights.astype(t.dtype.np), t.shape)  # a constant of the trace
    return ops.mul(z, w)


transpose_rules[P.fft_p] = _fft_transpose
