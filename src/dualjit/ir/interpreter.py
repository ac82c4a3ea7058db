"""The reference interpreter: runs any Function with the primitives' numpy implementations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .core import Function, IRError, Literal, impl_rules


def literal_value(lit: Literal) -> Any:
    return lit.type.dtype.np.type(lit.value)


def eval_function(fn: Function, *args: Any, evaluate: Callable | None = None
                  ) -> list[np.ndarray]:
    """Evaluate `fn` on numpy values; returns one numpy array per output.

    evaluate(prim, values, params) replaces impl_rules for the top-level equations (the
    tracer's, which runs long loops as native code)."""
    if len(args) != len(fn.inputs):
        raise IRError(f"function takes {len(fn.inputs)} inputs, got {len(args)}")
    env: dict[Any, Any] = {v: np.asarray(a) for v, a in zip(fn.inputs, args)}
    env.update(fn.consts)

    def read(atom):
        return literal_value(atom) if isinstance(atom, Literal) else env[atom]

    for eqn in fn.eqns:
        if evaluate is None:
            out = impl_rules[eqn.primitive](*map(read, eqn.inputs), **eqn.params)
        else:
            out = evaluate(eqn.primitive, list(map(read, eqn.inputs)), eqn.params)
        if not eqn.primitive.multiple_results:
            out = [out]
        for var, value in zip(eqn.outputs, out):
            env[var] = value
    return [_as_typed_array(read(v), v.type.dtype.np) for v in fn.outputs]


def _as_typed_array(value: Any, dtype: np.dtype) -> np.ndarray:
    arr = np.asarray(value)
    return arr if arr.dtype == dtype else arr.astype(dtype)
