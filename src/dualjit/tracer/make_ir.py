"""make_ir: trace a Python function over pytrees of arrays into a verified Function."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..ir import Function, verify
from ..ir.passes import simplify
from .core import abstractify, trace_flat
from .pytree import PyTreeDef, flatten_fun, tree_flatten


def normalize_argnums(argnums: int | Sequence[int], nargs: int, what: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    out = []
    for n in nums:
        if not isinstance(n, int) or not -nargs <= n < nargs:
            raise ValueError(f"{what}={argnums!r} does not fit a call with {nargs} positional "
                             "arguments")
        out.append(n % nargs)
    return tuple(out)


class Traced:
    """The result of tracing: the Function, what it captured, and the pytree structures."""

    __slots__ = ("function", "captures", "in_tree", "out_tree")

    def __init__(self, function: Function, captures: list, in_tree: PyTreeDef,
                 out_tree: PyTreeDef):
        self.function = function
        self.captures = captures
        self.in_tree = in_tree
        self.out_tree = out_tree


def trace_pytree(f: Callable, args: Sequence[Any], *, static_argnums: Sequence[int] = (),
                 concrete: bool = False, name: str = "make_ir") -> Traced:
    """Trace f(*args): non-static arguments become Function inputs (flattened pytrees).

    With concrete=True, tracers carry the arguments' values, so Python control flow on them
    works (the way grad runs outside jit).
    """
    static = set(static_argnums)
    dynamic = [a for i, a in enumerate(args) if i not in static]
    leaves, in_tree = tree_flatten(dynamic)
    in_types, in_values = [], []
    for i, leaf in enumerate(leaves):
        t, v = abstractify(leaf, f"{name}: argument leaf {i} ({type(leaf).__name__})")
        in_types.append(t)
        in_values.append(v)

    def with_static(*given):
        rebuilt = iter(given)
        return f(*[a if i in static else next(rebuilt) for i, a in enumerate(args)])

    flat_fun, out_tree = flatten_fun(with_static, in_tree)
    fn, captures = trace_flat(flat_fun, in_types, in_values if concrete else None)
    return Traced(fn, captures, in_tree, out_tree())


def make_ir(f: Callable, static_argnums: int | Sequence[int] = ()) -> Callable[..., Function]:
    """make_ir(f)(*args) traces f with abstract values of args' types into a verified Function."""
    def traced(*args: Any) -> Function:
        nums = normalize_argnums(static_argnums, len(args), "static_argnums")
        return verify(simplify(trace_pytree(f, args, static_argnums=nums).function))
    return traced
