"""Cost analysis of compiled programs: floating-point operations and bytes moved, per kernel.

Flops are counted per primitive from its types (a rule table: `flop_rules[P.dot_general_p]`),
as XLA's cost analysis counts them: one per output element of an arithmetic elementwise
operation, 2·m·n·k for a contraction, one per input element of a reduction; data movement
(reshape, transpose, slices, gathers...) costs no flops. Transcendental functions are counted
separately. Bytes are what each kernel reads (its inputs) and writes (its outputs), plus the
temporaries it keeps in memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .ir import Eqn, Function, Primitive, Var, sub_functions
from .ir import primitives as P

flop_rules: dict[Primitive, Callable[[Eqn], int]] = {}

TRANSCENDENTAL = {P.exp_p, P.log_p, P.log1p_p, P.expm1_p, P.sin_p, P.cos_p, P.tan_p, P.tanh_p,
                  P.logistic_p, P.pow_p, P.atan2_p, P.sqrt_p, P.rsqrt_p,
                  *P.numpy_unary_primitives.values()}
_FREE = {P.broadcast_in_dim_p, P.reshape_p, P.transpose_p, P.slice_p, P.pad_p,
         P.concatenate_p, P.gather_p, P.dynamic_slice_p, P.dynamic_update_slice_p, P.iota_p,
         P.convert_element_type_p, P.stop_gradient_p, P.optimization_barrier_p, P.select_p}


def _out_size(eqn: Eqn) -> int:
    return sum(v.type.size for v in eqn.outputs)


def _in_size(eqn: Eqn) -> int:
    return sum(a.type.size for a in eqn.inputs if isinstance(a, Var))


def _dot_flops(eqn: Eqn) -> int:
    (lc, _), _ = eqn.params["dimension_numbers"]
    lhs = eqn.inputs[0].type
    contracted = math.prod(lhs.shape[i] for i in lc)
    return 2 * eqn.outputs[0].type.size * contracted


flop_rules[P.dot_general_p] = _dot_flops
for _p in (P.reduce_sum_p, P.reduce_max_p, P.reduce_min_p, P.reduce_prod_p, P.argmax_p,
           P.argmin_p, P.cumsum_p, P.cumprod_p, P.cummax_p, P.cummin_p, P.scatter_add_p):
    flop_rules[_p] = _in_size


def eqn_flops(eqn: Eqn) -> int:
    """Flops of one equation (sub-Functions of control flow count once per call)."""
    rule = flop_rules.get(eqn.primitive)
    if rule is not None:
        return rule(eqn)
    if eqn.primitive in _FREE:
        return 0
    if eqn.primitive is P.scan_p:
        return eqn.params["length"] * function_flops(eqn.params["body"])
    if eqn.primitive.higher_order:  # a loop's body counted once (its trip count is dynamic)
        return max((function_flops(f) for f in sub_functions(eqn)), default=0)
    return _out_size(eqn)  # one arithmetic operation per output element


def function_flops(fn: Function) -> int:
    return sum(eqn_flops(e) for e in fn.eqns)


def _transcendentals(eqns: list[Eqn]) -> int:
    return sum(_out_size(e) for e in eqns if e.primitive in TRANSCENDENTAL)


def _bytes(values: list[Any]) -> int:
    return sum(v.type.size * v.type.dtype.np.itemsize for v in values if isinstance(v, Var))


def cost_analysis(fn: Function, plan: Any) -> dict[str, Any]:
    """{"flops", "transcendentals", "bytes accessed", "kernels": [per-step dicts]} of a plan."""
    steps = []
    for step in plan.steps:
        segment = getattr(step, "segment", None)
        if segment is not None:
            eqns = segment.eqns
            moved = (_bytes(segment.live_in) + _bytes(segment.live_out)
                     + sum(segment.slot_bytes))
            name = step.name
        else:
            eqns = [step.eqn]
            moved = _bytes(list(step.eqn.inputs)) + _bytes(list(step.eqn.outputs))
            name = f"host step ({step.eqn.primitive.name})"
        steps.append({"name": name, "flops": float(sum(eqn_flops(e) for e in eqns)),
                      "transcendentals": float(_transcendentals(eqns)),
                      "bytes accessed": float(moved)})
    return {"flops": sum(s["flops"] for s in steps),
            "transcendentals": sum(s["transcendentals"] for s in steps),
            "bytes accessed": sum(s["bytes accessed"] for s in steps),
            "kernels": steps}


__all__ = ["cost_analysis", "flop_rules", "eqn_flops", "function_flops"]
