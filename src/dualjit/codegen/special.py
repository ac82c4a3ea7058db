"""Native lowering of the special-function primitives (erf, erfc, erfcx, erf_inv, lgamma,
digamma, ndtri): each one's formula in ir/special_impl.py, traced once at a float64 scalar
into a small Function, is emitted inline at its consumer's index by the fused rules of the
operations it is made of. The native version thus follows the numpy implementation operation
for operation (float32 arguments are widened to float64 and the result rounded once)."""

from __future__ import annotations

import functools

import numpy as np

from ..ir import DType, Function, Literal, Primitive, special_impl
from ..ir import primitives as P

NATIVE = tuple(P.special_primitives.values())  # polygamma (a data-dependent sum) stays on the host


@functools.cache
def scalar_formula(p: Primitive) -> Function:
    """p's formula as a Function of one float64 scalar, made of natively fused operations."""
    from .. import numpy as jnp
    from ..tracer.make_ir import make_ir
    from .lower import fused_rules

    formula = special_impl.formulas[p.name]
    fn = make_ir(lambda x: formula(x, jnp))(np.float64(0.5))
    missing = {e.primitive.name for e in fn.eqns if e.primitive not in fused_rules}
    if missing or fn.consts:
        raise AssertionError(f"{p.name}'s formula uses operations without a fused rule: {missing}")
    return fn


class _FormulaScope:
    """The kernel builder as a formula's fused rules see it: operands come from the formula's
    own scalar values, everything else (the builder, the module, the math mode) is the kernel's."""

    def __init__(self, kernel, env: dict):
        self._kernel, self._env = kernel, env

    def value(self, atom, idx):
        from .lower import literal

        return literal(atom) if isinstance(atom, Literal) else self._env[atom]

    def __getattr__(self, name):
        return getattr(self._kernel, name)


def _inline(k, eqn, idx):
    from .lower import convert, fused_rules  # (lower.py imports this module at its end)

    fn = scalar_formula(eqn.primitive)
    dtype = eqn.outputs[0].type.dtype
    env = {fn.inputs[0]: convert(k, k.value(eqn.inputs[0], idx), dtype, DType.float64)}
    scope = _FormulaScope(k, env)
    for e in fn.eqns:
        env[e.outputs[0]] = fused_rules[e.primitive](scope, e, [])
    return convert(k, scope.value(fn.outputs[0], []), DType.float64, dtype)


special_rules = {p: _inline for p in NATIVE}
