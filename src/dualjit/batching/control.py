"""Batching rules of control flow (cond, while, scan) and of calls with custom derivative rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..autodiff.jvp import has_tangent
from ..ir import DType, Function
from ..ir import primitives as P
from ..ir.primitives import custom_lin_p
from ..ir.util import scan_operands, scan_results, split_list, while_operands
from ..tracer.core import bind, trace_flat
from .core import (
    any_dim,
    batch_eval,
    batch_function,
    batched_type,
    batching_rules,
    bdim_at,
    match_dim,
    moveaxis,
    not_mapped,
    sum_batch,
    to_front,
    type_of,
)


def _front_or_none(dims: Sequence[int | None]) -> list[int | None]:
    return [not_mapped if d is not_mapped else 0 for d in dims]


def _fronted(args, dims, size):
    return [x if d is not_mapped else moveaxis(x, d, 0) for x, d in zip(args, dims)]


def _broadcast_pred(pred, like):
    """A per-member bool (batch axis first) broadcast to `like`'s batched shape."""
    shape = type_of(like).shape
    if shape == type_of(pred).shape:
        return pred
    return bind(P.broadcast_in_dim_p, pred, shape=shape, broadcast_dimensions=(0,))


def _select_members(pred, on_true, on_false):
    return bind(P.select_p, _broadcast_pred(pred, on_true), on_true, on_false)


# ---------------------------------------------------------------------------------------------
# cond: a shared index stays a cond; a per-member index runs every branch and selects
# ---------------------------------------------------------------------------------------------

def _cond_rule(size, args, dims, *, branches):
    (index, *operands), (index_dim, *op_dims) = args, dims
    operands = _fronted(operands, op_dims, size)
    op_dims = _front_or_none(op_dims)
    if index_dim is not_mapped:
        first = [batch_function(b, op_dims, size)[1] for b in branches]
        out_dims = [0 if any(f[k] is not not_mapped for f in first) else not_mapped
                    for k in range(len(branches[0].outputs))]
        new = tuple(batch_function(b, op_dims, size, out_dims)[0] for b in branches)
        return bind(P.cond_p, index, *operands, branches=new), out_dims
    index = _clamp_index(moveaxis(index, index_dim, 0), len(branches))
    results = []
    for b in branches:
        outs, out_dims = batch_eval(b, operands, op_dims, size)
        results.append([bdim_at(x, d, size, 0) for x, d in zip(outs, out_dims)])
    chosen = results[0]
    for i, outs in enumerate(results[1:], 1):
        picked = bind(P.eq_p, index, type_of(index).dtype.np.type(i))
        chosen = [_select_members(picked, x, c) for x, c in zip(outs, chosen)]
    return chosen, [0] * len(chosen)


def _clamp_index(index, n):
    dtype = type_of(index).dtype.np.type
    return bind(P.min_p, bind(P.max_p, index, dtype(0)), dtype(n - 1))


batching_rules[P.cond_p] = _cond_rule


# ---------------------------------------------------------------------------------------------
# Loops: a carry is batched when its initial value or the body makes it so (a fixed point)
# ---------------------------------------------------------------------------------------------

def _carry_fixed_point(body: Function, lead_dims: list, carry_dims: list, tail_dims: list,
                       size: int) -> list[int | None]:
    """Carry dims (0 or not_mapped) stable under the body: once batched, always batched."""
    carry = _front_or_none(carry_dims)
    while True:
        _, out_dims = batch_function(body, lead_dims + carry + tail_dims, size)
        grown = [0 if (c is not not_mapped or o is not not_mapped) else not_mapped
                 for c, o in zip(carry, out_dims)]
        if grown == carry:
            return carry
        carry = grown


def _while_rule(size, args, dims, *, cond_fun, body_fun, cond_nconsts, body_nconsts):
    cc, bc = cond_nconsts, body_nconsts
    args = _fronted(args, dims, size)
    dims = _front_or_none(dims)
    c_dims, b_dims, k_dims = while_operands(dims, cc, bc)
    carry_dims = _carry_fixed_point(body_fun, b_dims, k_dims, [], size)
    _, (pred_dim,) = batch_function(cond_fun, c_dims + carry_dims, size)
    if pred_dim is not not_mapped:
        return _while_per_member(size, args, dims, cond_fun, body_fun, cc, bc)
    cond_consts, body_consts, carry = while_operands(args, cc, bc)
    carry = [bdim_at(x, d, size, 0) if w == 0 and d is not_mapped else x
             for x, d, w in zip(carry, k_dims, carry_dims)]
    new_cond, _ = batch_function(cond_fun, c_dims + carry_dims, size)
    new_body, _ = batch_function(body_fun, b_dims + carry_dims, size, carry_dims)
    outs = bind(P.while_p, *cond_consts, *body_consts, *carry, cond_fun=new_cond,
                body_fun=new_body, cond_nconsts=cc, body_nconsts=bc)
    return outs, carry_dims


def _while_per_member(size, args, dims, cond_fun, body_fun, cc, bc):
    """Members stop at different steps: loop while any runs; finished members keep their carry."""
    c_dims, b_dims, k_dims = while_operands(dims, cc, bc)
    cond_consts, body_consts, initial = while_operands(args, cc, bc)
    carry = [to_front(x, d, size) for x, d in zip(initial, k_dims)]
    n_carry = len(carry)
    carry_dims = [0] * n_carry

    def member_pred(consts, carry):
        (pred,), (d,) = batch_eval(cond_fun, list(consts) + list(carry), c_dims + carry_dims,
                                   size)
        return bdim_at(pred, d, size, 0)

    def any_running(*xs):
        return [bind(P.reduce_max_p, member_pred(*split_list(xs, [cc])), axes=(0,))]

    def step(*xs):
        consts, b_consts, carry = while_operands(xs, cc, bc)
        running = member_pred(consts, carry)
        new, new_dims = batch_eval(body_fun, list(b_consts) + list(carry), b_dims + carry_dims,
                                   size)
        return [_select_members(running, bdim_at(x, d, size, 0), old)
                for x, d, old in zip(new, new_dims, carry)]

    cond_types = [type_of(x) for x in cond_consts]
    carry_types = [type_of(x) for x in carry]
    new_cond, caps = trace_flat(any_running, cond_types + carry_types)
    assert not caps
    new_body, caps = trace_flat(step, cond_types + [type_of(x) for x in body_consts] + carry_types)
    assert not caps
    # the new body reads cond_fun's consts (to know which members still run) and its own
    outs = bind(P.while_p, *cond_consts, *cond_consts, *body_consts, *carry, cond_fun=new_cond,
                body_fun=new_body, cond_nconsts=cc, body_nconsts=cc + bc)
    return outs, carry_dims


batching_rules[P.while_p] = _while_rule


def _scan_rule(size, args, dims, *, body, length, num_consts, num_carry, reverse):
    nc, nk = num_consts, num_carry
    consts, carry, xs = scan_operands(args, nc, nk)
    c_dims, k_dims, x_dims = scan_operands(dims, nc, nk)
    # A scanned operand's batch axis must not be its leading (scanned) axis: put it second.
    xs = [x if d is not_mapped else moveaxis(x, d, 1) for x, d in zip(xs, x_dims)]
    slice_dims = [not_mapped if d is not_mapped else 0 for d in x_dims]
    carry_dims = _carry_fixed_point(body, c_dims, k_dims, slice_dims, size)
    carry = [bdim_at(x, d, size, 0) if w == 0 else x for x, d, w in zip(carry, k_dims, carry_dims)]
    n_ys = len(body.outputs) - nk
    new_body, out_dims = batch_function(body, c_dims + carry_dims + slice_dims, size,
                                        carry_dims + [any_dim] * n_ys)
    outs = bind(P.scan_p, *consts, *carry, *xs, body=new_body, length=length,
                num_consts=nc, num_carry=nk, reverse=reverse)
    y_dims = [not_mapped if d is not_mapped else d + 1 for d in scan_results(out_dims, nk)[1]]
    return outs, carry_dims + y_dims


batching_rules[P.scan_p] = _scan_rule


# ---------------------------------------------------------------------------------------------
# Calls with custom derivative rules: batch every sub-Function the same way
# ---------------------------------------------------------------------------------------------

class BatchedJVPRule:
    """A custom JVP rule batched like its call, traced and batched only when it is needed."""

    def __init__(self, rule: Any, in_dims: list, tangent_dims: list, size: int, n_outs: int):
        self.rule = rule
        self.in_dims = in_dims + tangent_dims  # a tangent is batched like its primal
        self.size = size
        self.n_outs = n_outs
        self._function = None

    def function(self) -> Function:
        if self._function is None:
            fn = self.rule.function()
            self._function = batch_function(fn, self.in_dims, self.size,
                                            [0] * len(fn.outputs))[0]
        return self._function

    def __repr__(self) -> str:
        return f"<batched {self.rule!r} #{id(self):x}>"


def _float_input_dims(args, dims, num_consts):
    return [d for x, d in list(zip(args, dims))[num_consts:] if has_tangent(type_of(x))]


def _custom_jvp_call_rule(size, args, dims, *, call, jvp, num_consts):
    args = _fronted(args, dims, size)
    dims = _front_or_none(dims)
    n_outs = len(call.outputs)
    new_call, _ = batch_function(call, dims, size, [0] * n_outs)
    new_jvp = BatchedJVPRule(jvp, dims, _float_input_dims(args, dims, num_consts), size, n_outs)
    outs = bind(P.custom_jvp_call_p, *args, call=new_call, jvp=new_jvp, num_consts=num_consts)
    return outs, [0] * n_outs


batching_rules[P.custom_jvp_call_p] = _custom_jvp_call_rule


def batch_cotangent_rule(bwd: Function, res_dims: list, n_cts: int, target_dims: list,
                         size: int) -> Function:
    """bwd batched: residuals at res_dims, cotangents batched first; each result put where its
    input is batched, and summed over the batch for an input the batch shares."""
    in_types = ([batched_type(v.type, d, size) for v, d in zip(bwd.inputs, res_dims)]
                + [batched_type(v.type, 0, size) for v in bwd.inputs[len(res_dims):]])
    in_dims = list(res_dims) + [0] * n_cts

    def body(*xs):
        outs, out_dims = batch_eval(bwd, xs, in_dims, size)
        return [sum_batch(x, d) if want is not_mapped else bdim_at(x, d, size, want)
                for x, d, want in zip(outs, out_dims, target_dims)]

    fn, captures = trace_flat(body, in_types)
    assert not captures
    return fn


def _custom_vjp_call_rule(size, args, dims, *, call, fwd, bwd, num_res, num_consts):
    args = _fronted(args, dims, size)
    dims = _front_or_none(dims)
    n_outs = len(call.outputs)
    new_call, _ = batch_function(call, dims, size, [0] * n_outs)
    new_fwd, _ = batch_function(fwd, dims, size, [0] * (n_outs + num_res))
    n_cts = sum(1 for v in call.outputs if has_tangent(v.type))
    new_bwd = batch_cotangent_rule(bwd, [0] * num_res, n_cts,
                                   _float_input_dims(args, dims, num_consts), size)
    outs = bind(P.custom_vjp_call_p, *args, call=new_call, fwd=new_fwd, bwd=new_bwd,
                num_res=num_res, num_consts=num_consts)
    return outs, [0] * n_outs


batching_rules[P.custom_vjp_call_p] = _custom_vjp_call_rule


def _custom_lin_rule(size, args, dims, *, bwd, num_res, out_types):
    args = _fronted(args, dims, size)
    dims = _front_or_none(dims)
    res_dims, t_dims = dims[:num_res], dims[num_res:]
    new_bwd = batch_cotangent_rule(bwd, res_dims, len(out_types), t_dims, size)
    new_types = tuple(batched_type(t, 0, size) for t in out_types)
    outs = bind(custom_lin_p, *args, bwd=new_bwd, num_res=num_res, out_types=new_types)
    return outs, [0] * len(outs)


batching_rules[custom_lin_p] = _custom_lin_rule


def _checkpoint_rule(size, args, dims, *, call, policy):
    batched, out_dims = batch_function(call, dims, size)
    return bind(P.checkpoint_p, *args, call=batched, policy=policy), out_dims


batching_rules[P.checkpoint_p] = _checkpoint_rule
batching_rules[P.optimization_barrier_p] = lambda size, args, dims: (
    bind(P.optimization_barrier_p, *args), dims)


# ---------------------------------------------------------------------------------------------
# Host callbacks: called once per member, or once on the whole batch when the user says so
# ---------------------------------------------------------------------------------------------

class PerMember:
    """A host callback called once per batch member on that member's slices of its arguments."""

    def __init__(self, callback: Any, dims: Sequence[int | None], size: int):
        self.callback, self.dims, self.size = callback, list(dims), size

    def members(self, args):
        for b in range(self.size):
            yield self.callback(*[a if d is not_mapped else np.take(a, b, axis=d)
                                  for a, d in zip(args, self.dims)])

    def __call__(self, *args):
        return list(self.members(args))

    def __repr__(self) -> str:
        return f"<per member of {self.callback!r}>"


class StackedMembers(PerMember):
    """A pure callback per member, its results stacked along a new leading axis."""

    def __call__(self, *args):
        results = [r if isinstance(r, (list, tuple)) else [r] for r in self.members(args)]
        return [np.stack([np.asarray(r[k]) for r in results]) for k in range(len(results[0]))]


def _debug_callback_rule(size, args, dims, *, callback):
    return bind(P.debug_callback_p, *args, callback=PerMember(callback, dims, size)), []


def _pure_callback_rule(size, args, dims, *, callback, result_types, vmap_method):
    batched_types = tuple(batched_type(t, 0, size) for t in result_types)
    if vmap_method == "sequential":
        new = StackedMembers(callback, dims, size)
    else:
        new = callback
        args = [to_front(x, d, size) if vmap_method == "broadcast_all" or d is not not_mapped
                else bind(P.reshape_p, x, new_sizes=(1,) + type_of(x).shape)
                for x, d in zip(args, dims)]
    outs = bind(P.pure_callback_p, *args, callback=new, result_types=batched_types,
                vmap_method=vmap_method)
    return outs, [0] * len(outs)


batching_rules[P.debug_callback_p] = _debug_callback_rule
batching_rules[P.pure_callback_p] = _pure_callback_rule

__all__ = ["BatchedJVPRule", "batch_cotangent_rule", "DType", "match_dim"]
