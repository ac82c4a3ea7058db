"""The verifier: SSA order and every output type re-derived from the shape rules."""

from __future__ import annotations

import os

from .core import Function, IRError, Literal, TensorType, Var, abstract_eval, sub_functions


def checks_enabled() -> bool:
    """DUALJIT_CHECKS=1: verify the IR after every transform (the test suite turns it on).

    Types are derived by the shape rules while tracing, so IR is well-typed by construction;
    the extra checks catch bugs in transforms, at a cost of ~20% of a compile."""
    return os.environ.get("DUALJIT_CHECKS", "") not in ("", "0")


def check(fn: Function) -> Function:
    """verify(fn) when checks are enabled; fn unchanged otherwise."""
    return verify(fn) if checks_enabled() else fn


def verify(fn: Function) -> Function:
    """Raise IRError if `fn` is malformed; return it unchanged so calls can be chained."""
    defined: set[Var] = set()

    def define(v: Var, where: str) -> None:
        if not isinstance(v, Var):
            raise IRError(f"{where}: {v!r} is not a Var")
        if v in defined:
            raise IRError(f"{where}: {v!r} is defined twice")
        defined.add(v)

    def use(a, where: str) -> None:
        if isinstance(a, Literal):
            if a.type.shape != ():
                raise IRError(f"{where}: literal {a!r} is not a scalar")
        elif a not in defined:
            raise IRError(f"{where}: {a!r} is used before it is defined")

    for v in fn.inputs:
        define(v, "inputs")
    for v, value in fn.consts:
        define(v, "consts")
        if TensorType(v.type.dtype, value.shape) != v.type or value.dtype != v.type.dtype.np:
            raise IRError(f"const {v!r} holds {value.dtype}{list(value.shape)}")
    for i, eqn in enumerate(fn.eqns):
        where = f"equation {i} ({eqn.primitive.name})"
        for a in eqn.inputs:
            use(a, where)
        for sub in sub_functions(eqn):
            verify(sub)
        try:
            expected = abstract_eval(eqn.primitive, [a.type for a in eqn.inputs], eqn.params)
        except TypeError as e:
            raise IRError(f"{where}: bad params {dict(eqn.params)}: {e}") from None
        got = [v.type for v in eqn.outputs]
        if got != expected:
            raise IRError(f"{where}: outputs typed {got}, shape rule gives {expected}")
        for v in eqn.outputs:
            define(v, where)
    for a in fn.outputs:
        use(a, "outputs")
    return fn
