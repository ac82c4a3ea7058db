"""Derivative rules of host callbacks: a debug callback has none; a pure callback refuses."""

from __future__ import annotations

from ..ir import primitives as P
from .jvp import Zero, jvp_rules, zero_derivative

zero_derivative.add(P.debug_callback_p)  # it returns nothing; it runs on the primal values


def _pure_callback_jvp(primals, tangents, *, callback, result_types, vmap_method):
    if any(not isinstance(t, Zero) for t in tangents):
        raise TypeError(f"pure_callback: {callback!r} is not differentiable: dualjit cannot "
                        "see inside a host function. Wrap the call in dj.custom_jvp or "
                        "dj.custom_vjp and give its derivative, or apply stop_gradient to the "
                        "arguments if a zero derivative is intended")
    raise AssertionError("jvp_eval binds calls without tangents itself")


jvp_rules[P.pure_callback_p] = _pure_callback_jvp
