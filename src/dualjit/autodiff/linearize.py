"""Partial evaluation: split a JVP Function into its primal (known) and linear (unknown) parts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..ir import Eqn, Function, Primitive, Var
from ..ir import primitives as P
from ..ir.passes import dce
from ..ir.util import partition_list, scan_operands, split_list
from ..tracer.core import apply_function, trace_flat
from . import ops
from .jvp import jvp_function
from .transpose import not_reversible


class Split:
    """fn split by partial evaluation.

    known:   inputs = fn's known inputs;  outputs = known outputs + residuals
    unknown: inputs = residuals + fn's unknown inputs;  outputs = unknown outputs
    """

    def __init__(self, known: Function, unknown: Function, out_unknown: list[bool],
                 residuals: list[Var]):
        self.known = known
        self.unknown = unknown
        self.out_unknown = out_unknown
        self.residuals = residuals


partial_eval_rules: dict[Primitive, Callable] = {}


def partial_eval(fn: Function, unknown_inputs: Sequence[bool],
                 instantiate: Sequence[bool] | bool = False) -> Split:
    """Split fn: equations that need an unknown input go to the unknown part."""
    if isinstance(instantiate, bool):
        instantiate = [instantiate] * len(fn.outputs)
    unknown: set[Var] = {v for v, u in zip(fn.inputs, unknown_inputs) if u}
    known_eqns: list[Eqn] = []
    unknown_eqns: list[Eqn] = []
    for eqn in fn.eqns:
        flags = [isinstance(a, Var) and a in unknown for a in eqn.inputs]
        if not any(flags):
            known_eqns.append(eqn)
            continue
        rule = partial_eval_rules.get(eqn.primitive)
        if rule is None:
            unknown_eqns.append(eqn)
            unknown.update(eqn.outputs)
            continue
        k_eqns, u_eqns, out_flags = rule(eqn, flags)
        known_eqns += k_eqns
        unknown_eqns += u_eqns
        unknown.update(v for v, f in zip(eqn.outputs, out_flags) if f)
    out_unknown = [isinstance(a, Var) and a in unknown for a in fn.outputs]
    out_unknown = [u or inst for u, inst in zip(out_unknown, instantiate)]
    const_vars = {v for v, _ in fn.consts}
    residuals: list[Var] = []
    seen: set[Var] = set()

    def need(a: Any) -> None:
        if isinstance(a, Var) and a not in unknown and a not in const_vars and a not in seen:
            seen.add(a)
            residuals.append(a)

    # Only residuals that the live part of the unknown function uses.
    unknown_outs = [a for a, u in zip(fn.outputs, out_unknown) if u]
    live_unknown = dce(Function([], [], unknown_eqns, unknown_outs))
    for eqn in live_unknown.eqns:
        for a in eqn.inputs:
            need(a)
    for a in unknown_outs:
        need(a)
    known_outs = [a for a, u in zip(fn.outputs, out_unknown) if not u]
    known_fn = dce(Function([v for v, u in zip(fn.inputs, unknown_inputs) if not u], fn.consts,
                            known_eqns, known_outs + residuals))
    unknown_fn = dce(Function(residuals + [v for v, u in zip(fn.inputs, unknown_inputs) if u],
                              fn.consts, live_unknown.eqns, unknown_outs))
    return Split(known_fn, unknown_fn, out_unknown, residuals)


def linearize_function(fn: Function, nonzero: Sequence[bool]) -> tuple[Function, Function, int]:
    """(primal_fn, linear_fn, num_res): primal_fn maps fn.inputs to fn.outputs + residuals;
    linear_fn maps residuals + tangents (of the `nonzero` inputs) to the float outputs' tangents."""
    jfn = jvp_function(fn, nonzero)
    n_in, n_out = len(fn.inputs), len(fn.outputs)
    n_tangents = len(jfn.inputs) - n_in
    n_t_out = len(jfn.outputs) - n_out
    split = partial_eval(jfn, [False] * n_in + [True] * n_tangents,
                         [False] * n_out + [True] * n_t_out)
    if any(split.out_unknown[:n_out]):
        raise AssertionError("linearize: a primal output depends on a tangent")
    return split.known, split.unknown, len(split.residuals)


# ---------------------------------------------------------------------------------------------
# Partial evaluation of control flow
# ---------------------------------------------------------------------------------------------

def _scan_partial_eval(eqn: Eqn, flags: list[bool]):
    """A scan with unknown operands becomes a known scan, which also stacks the residuals each
    step needs, followed by an unknown scan over them."""
    body, num_consts, num_carry = (eqn.params[k] for k in ("body", "num_consts", "num_carry"))
    consts_uk, carry_uk, xs_uk = scan_operands(flags, num_consts, num_carry)
    # A carry is unknown if its initial value or its update is: iterate to the fixed point.
    while True:
        split = partial_eval(body, consts_uk + carry_uk + xs_uk,
                             carry_uk + [False] * (len(body.outputs) - num_carry))
        grown = [a or b for a, b in zip(carry_uk, split.out_unknown[:num_carry])]
        if grown == carry_uk:
            break
        carry_uk = grown
    uk = consts_uk + carry_uk + xs_uk
    # Residuals that are known consts of the body are passed as consts, not stacked per step.
    body_consts = scan_operands(body.inputs, num_consts, num_carry)[0]
    outer = {v: a for v, a, u in zip(body_consts, eqn.inputs, consts_uk) if not u}
    const_res, step_res = partition_list([r not in outer for r in split.residuals],
                                         split.residuals)
    stacked = [Var(r.type.with_shape((eqn.params["length"],) + r.type.shape)) for r in step_res]
    out_uk = carry_uk + split.out_unknown[num_carry:]
    known_outs, unknown_outs = partition_list(out_uk, eqn.outputs)
    known_eqn = _known_scan(eqn, split, uk, step_res, known_outs + stacked)
    unknown_eqn = _unknown_scan(eqn, split, uk, const_res, step_res, outer, stacked,
                                unknown_outs)
    return [known_eqn], [unknown_eqn], out_uk


def _known_scan(eqn: Eqn, split: Split, unknown: list[bool], step_res: list[Var],
                outputs: list[Var]) -> Eqn:
    """The scan of the known part; it also returns the per-step residuals, stacked."""
    num_consts, num_carry = eqn.params["num_consts"], eqn.params["num_carry"]
    known = split.known
    outs = known.outputs[:len(known.outputs) - len(split.residuals)]
    body = dce(Function(known.inputs, known.consts, known.eqns, list(outs) + step_res))
    consts, carry, xs = (partition_list(u, a)[0] for u, a in zip(
        scan_operands(unknown, num_consts, num_carry),
        scan_operands(eqn.inputs, num_consts, num_carry)))
    return Eqn(P.scan_p, consts + carry + xs, outputs,
               dict(eqn.params, body=body, num_consts=len(consts), num_carry=len(carry)))


def _unknown_scan(eqn: Eqn, split: Split, unknown: list[bool], const_res: list[Var],
                  step_res: list[Var], outer: dict, stacked: list[Var],
                  outputs: list[Var]) -> Eqn:
    """The scan of the unknown part: residuals join its consts (loop-invariant) or xs."""
    num_consts, num_carry = eqn.params["num_consts"], eqn.params["num_carry"]
    consts, carry, xs = (partition_list(u, a)[1] for u, a in zip(
        scan_operands(unknown, num_consts, num_carry),
        scan_operands(eqn.inputs, num_consts, num_carry)))
    res_inputs, own_inputs = split_list(split.unknown.inputs, [len(split.residuals)])
    res_input = dict(zip(split.residuals, res_inputs))
    body_consts, body_carry, body_xs = split_list(own_inputs, [len(consts), len(carry)])
    inputs = (body_consts + [res_input[r] for r in const_res] + body_carry
              + [res_input[r] for r in step_res] + body_xs)
    u = split.unknown
    body = Function(inputs, u.consts, u.eqns, u.outputs)
    return Eqn(P.scan_p, consts + [outer[r] for r in const_res] + carry + stacked + xs, outputs,
               dict(eqn.params, body=body, num_consts=len(consts) + len(const_res),
                    num_carry=len(carry)))


partial_eval_rules[P.scan_p] = _scan_partial_eval


def _cond_partial_eval(eqn: Eqn, flags: list[bool]):
    branches = eqn.params["branches"]
    index, operands = eqn.inputs[0], eqn.inputs[1:]
    op_flags = flags[1:]
    splits = [partial_eval(b, op_flags) for b in branches]
    out_unknown = [any(s.out_unknown[k] for s in splits) for k in range(len(eqn.outputs))]
    splits = [partial_eval(b, op_flags, out_unknown) for b in branches]
    res_types = [[r.type for r in s.residuals] for s in splits]
    all_res_types = [t for ts in res_types for t in ts]
    known_ops = [a for a, f in zip(operands, op_flags) if not f]
    known_types = [a.type for a in known_ops]

    def known_branch(i: int) -> Function:
        s = splits[i]
        n_known_out = len(s.known.outputs) - len(s.residuals)

        def run(*args):
            outs = apply_function(s.known, *args)
            slots = []
            for j, ts in enumerate(res_types):
                slots += list(outs[n_known_out:]) if j == i else [ops.zeros(t) for t in ts]
            return list(outs[:n_known_out]) + slots
        fn, captures = trace_flat(run, known_types)
        assert not captures
        return fn

    def unknown_branch(i: int) -> Function:
        s = splits[i]
        n_res = len(s.residuals)
        inputs = []
        for j, ts in enumerate(res_types):
            inputs += list(s.unknown.inputs[:n_res]) if j == i else [Var(t) for t in ts]
        return Function(inputs + list(s.unknown.inputs[n_res:]), s.unknown.consts,
                        s.unknown.eqns, s.unknown.outputs)

    res_vars = [Var(t) for t in all_res_types]
    known_outs = [v for v, u in zip(eqn.outputs, out_unknown) if not u]
    known_eqn = Eqn(P.cond_p, [index] + known_ops, known_outs + res_vars,
                    {"branches": tuple(known_branch(i) for i in range(len(branches)))})
    unknown_ops = [a for a, f in zip(operands, op_flags) if f]
    unknown_outs = [v for v, u in zip(eqn.outputs, out_unknown) if u]
    unknown_eqn = Eqn(P.cond_p, [index] + res_vars + unknown_ops, unknown_outs,
                      {"branches": tuple(unknown_branch(i) for i in range(len(branches)))})
    return [known_eqn], [unknown_eqn], out_unknown


partial_eval_rules[P.cond_p] = _cond_partial_eval


def _while_partial_eval(eqn: Eqn, flags: list[bool]):
    raise not_reversible(P.while_p)


partial_eval_rules[P.while_p] = _while_partial_eval
