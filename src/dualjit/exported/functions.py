"""A Function as text plus constant arrays, and back, including the custom rules it carries.

The IR text is the printer's; constants larger than the printer writes inline travel as raw
arrays, in the order the text mentions them. A custom_jvp rule is traced lazily in a live
process (its Python may call the function it differentiates), so export traces it into a
sub-Function, nested rules included, down to MAX_RULE_DEPTH levels of differentiation; beyond
that the loaded rule raises instead of guessing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np

from ..ir import Eqn, Function, verify
from ..ir.parser import parse_function
from ..ir.printer import INLINE_CONST_LIMIT, print_function

MAX_RULE_DEPTH = 4
_LAZY_RULES = {"custom_jvp_call": "jvp"}  # primitive name -> the param holding a lazy rule


def function_to_text(fn: Function, name: str = "f") -> tuple[str, list[np.ndarray]]:
    """The text and the out-of-line constants of `fn`, checked to read back to `fn`."""
    fn = _resolve_rules(fn, 0)
    text = print_function(fn, name)
    consts: list[np.ndarray] = []
    _large_consts(fn, consts)
    if parse_function(text, consts) != fn:
        raise RuntimeError("export: the program's IR text does not read back to the same "
                           "program (a printer/parser mismatch; please report it)\n" + text)
    return text, consts


def function_from_text(text: str, consts: list[np.ndarray]) -> Function:
    """The Function `function_to_text` wrote, verified, with its custom rules callable again."""
    return verify(_wrap_rules(parse_function(text, consts)))


def _large_consts(fn: Function, out: list[np.ndarray]) -> None:
    """Constants printed as `<N values>`, in the printer's order (consts, then sub-Functions)."""
    out.extend(a for _, a in fn.consts if a.size > INLINE_CONST_LIMIT)
    for eqn in fn.eqns:
        for _, value in sorted(eqn.params.items()):
            for sub in _functions_in(value):
                _large_consts(sub, out)


def _functions_in(value) -> list[Function]:
    if isinstance(value, Function):
        return [value]
    if isinstance(value, tuple) and value and all(isinstance(v, Function) for v in value):
        return list(value)
    return []


def _map_sub_functions(fn: Function, change: Callable[[Eqn, str, object], object]) -> Function:
    """`fn` with every param value v of every equation replaced by change(eqn, key, v)."""
    eqns = [Eqn(e.primitive, e.inputs, e.outputs, {k: change(e, k, v) for k, v in e.params.items()})
            for e in fn.eqns]
    return Function(fn.inputs, fn.consts, eqns, fn.outputs)


def _each_function(value, f: Callable[[Function], Function]):
    if isinstance(value, Function):
        return f(value)
    if _functions_in(value):
        return tuple(f(v) for v in value)
    return value


# -- custom rules -------------------------------------------------------------------------------

def _resolve_rules(fn: Function, depth: int) -> Function:
    def change(eqn, key, value):
        if _LAZY_RULES.get(eqn.primitive.name) == key:
            return _resolved(value, depth)
        return _each_function(value, lambda sub: _resolve_rules(sub, depth))
    return _map_sub_functions(fn, change)


def _resolved(rule, depth: int) -> Function | None:
    if depth >= MAX_RULE_DEPTH or rule is None or isinstance(rule, MissingRule):
        return None
    rule_fn = rule if isinstance(rule, Function) else rule.function()
    return _resolve_rules(rule_fn, depth + 1)


def _wrap_rules(fn: Function) -> Function:
    def change(eqn, key, value):
        if _LAZY_RULES.get(eqn.primitive.name) == key:
            return MissingRule() if value is None else StoredRule(_wrap_rules(value))
        return _each_function(value, _wrap_rules)
    return _map_sub_functions(fn, change)


class StoredRule:
    """A custom JVP rule that was traced at export time (stands in for tracer's lazy rule)."""

    def __init__(self, function: Function):
        self._function = function
        self._tag = hashlib.sha256(function.text.encode()).hexdigest()[:12]

    def function(self) -> Function:
        return self._function

    def __repr__(self) -> str:  # part of the IR text, so equal rules print equally
        return f"<exported jvp rule {self._tag}>"


class MissingRule:
    """Where export stopped tracing nested custom rules: differentiating further is an error."""

    def function(self) -> Function:
        raise TypeError(
            f"this exported program differentiates a custom_jvp function more than "
            f"{MAX_RULE_DEPTH} times over; its custom rules were exported to that order only. "
            "Differentiate before exporting (export dualjit.grad(f)), or trace the original "
            "Python function instead")

    def __repr__(self) -> str:
        return "<jvp rule not exported>"
