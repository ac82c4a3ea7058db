"""dualjit.lax: structured control flow (cond, switch, while_loop, fori_loop, scan)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .ir import Function, Literal, TensorType, Var, as_dtype
from .ir import primitives as P
from .tracer.core import Tracer, abstractify, bind, trace_flat
from .tracer.pytree import PyTreeDef, tree_flatten, tree_unflatten

_PY_SCALARS = (bool, int, float)


class _Body:
    """A user function traced on flat carry types: its Function, captures and output tree."""

    def __init__(self, fn: Function, captures: list, out_tree: PyTreeDef):
        self.fn = fn
        self.captures = captures
        self.out_tree = out_tree


def _trace_body(name: str, fun: Callable, in_trees: Sequence[PyTreeDef],
                in_types: Sequence[Sequence[TensorType]], weak: Sequence[bool] = ()) -> _Body:
    """Trace fun(*trees) where tree k is built from in_types[k] by in_trees[k]."""
    sizes = [len(t) for t in in_types]
    box: list[PyTreeDef] = []

    def flat(*tracers):
        args, start = [], 0
        for tree, n in zip(in_trees, sizes):
            args.append(tree_unflatten(tree, list(tracers[start:start + n])))
            start += n
        leaves, tree = tree_flatten(fun(*args))
        box.append(tree)
        return leaves

    fn, captures = trace_flat(flat, [t for ts in in_types for t in ts], weak=weak)
    return _Body(fn, captures, box[0])


def _leaf_types(name: str, leaves: Sequence[Any]) -> tuple[list[TensorType], list[bool]]:
    types, weak = [], []
    for i, leaf in enumerate(leaves):
        t, _ = abstractify(leaf, f"{name}: leaf {i} ({type(leaf).__name__})")
        types.append(t)
        weak.append(type(leaf) in _PY_SCALARS)
    return types, weak


def _as_carry(leaf: Any, t: TensorType) -> Any:
    if isinstance(leaf, Tracer):
        return leaf if leaf.aval.dtype is t.dtype else bind(
            P.convert_element_type_p, leaf, new_dtype=t.dtype)
    return np.asarray(leaf, dtype=t.dtype.np)


def _types_str(types: Sequence[TensorType]) -> str:
    return "(" + ", ".join(map(str, types)) + ")"


def _fix_weak_carry(carry_types: list[TensorType], weak: list[bool],
                    trace: Callable[[list[TensorType]], Function]) -> list[TensorType]:
    """Python-scalar initial carries take the type the body returns (weak typing)."""
    if not any(weak):
        return carry_types
    fn = trace(carry_types)
    out_types, out_weak = fn.out_types, fn.weak_outputs
    return [o if (w and not ow and o.shape == c.shape) else c
            for c, o, w, ow in zip(carry_types, out_types, weak, out_weak)]


def _union_captures(bodies: Sequence[_Body]) -> list[Any]:
    seen: dict[int, Any] = {}
    for b in bodies:
        for c in b.captures:
            seen.setdefault(id(c), c)
    return list(seen.values())


def _with_captures(body: _Body, all_captures: list[Any]) -> Function:
    """body.fn re-signed to take every capture in `all_captures` first (unused ones ignored)."""
    fn = body.fn
    own = {id(c): v for c, v in zip(body.captures, fn.inputs[:len(body.captures)])}
    inputs = [own.get(id(c)) or Var(c.aval) for c in all_captures]
    return Function(inputs + list(fn.inputs[len(body.captures):]), fn.consts, fn.eqns,
                    fn.outputs)


# ---------------------------------------------------------------------------------------------
# cond / switch
# ---------------------------------------------------------------------------------------------

def switch(index: Any, branches: Sequence[Callable], *operands: Any) -> Any:
    """Apply branches[index](*operands); index is clamped into range, as in JAX."""
    if not branches:
        raise ValueError("switch: needs at least one branch")
    leaves, tree = tree_flatten(list(operands))
    types, _ = _leaf_types("cond operand", leaves)
    traced = [_trace_body("cond", lambda ops, b=b: b(*ops), [tree], [types]) for b in branches]
    for i, b in enumerate(traced[1:], 1):
        if b.out_tree != traced[0].out_tree:
            raise TypeError(f"cond: branch 0 returns structure {traced[0].out_tree} but "
                            f"branch {i} returns {b.out_tree}")
        if b.fn.out_types != traced[0].fn.out_types:
            raise TypeError(f"cond: branches return different types: branch 0 returns "
                            f"{_types_str(traced[0].fn.out_types)}, branch {i} returns "
                            f"{_types_str(b.fn.out_types)}; make them agree (e.g. with "
                            ".astype or by returning arrays of the same shape)")
    captures = _union_captures(traced)
    fns = tuple(_with_captures(b, captures) for b in traced)
    idx = _index_operand(index, len(branches))
    outs = bind(P.cond_p, idx, *captures, *leaves, branches=fns)
    return tree_unflatten(traced[0].out_tree, outs)


def _index_operand(index: Any, n_branches: int) -> Any:
    """The branch index as an int32 scalar, clamped into [0, n_branches - 1] in the index's own
    type first (so a wide or unsigned index is never wrapped by the narrowing)."""
    if isinstance(index, Tracer):
        if index.shape != ():
            raise TypeError(f"cond: the predicate/index must be a scalar, got {index.aval}")
        if index.aval.dtype.is_float:
            raise TypeError(f"cond: the predicate/index must be bool or integer, got {index.aval}")
        if index.aval.dtype.is_int:
            dtype = index.aval.dtype
            if dtype.is_signed_int:
                index = bind(P.max_p, index, Literal(0, dtype))
            top = min(n_branches - 1, int(np.iinfo(dtype.np).max))
            index = bind(P.min_p, index, Literal(top, dtype))
        return bind(P.convert_element_type_p, index, new_dtype=as_dtype("int32"))
    arr = np.asarray(index)
    if arr.shape != () or arr.dtype.kind not in "biu":
        raise TypeError(f"cond: the predicate/index must be a bool or integer scalar, got "
                        f"{arr.dtype}{list(arr.shape)}")
    return np.int32(min(max(int(arr), 0), n_branches - 1))


def cond(pred: Any, true_fun: Callable, false_fun: Callable, *operands: Any) -> Any:
    """true_fun(*operands) if pred else false_fun(*operands), both traced, as in jax.lax.cond."""
    return switch(pred, [false_fun, true_fun], *operands)


# ---------------------------------------------------------------------------------------------
# Loops
# ---------------------------------------------------------------------------------------------

def while_loop(cond_fun: Callable, body_fun: Callable, init_val: Any) -> Any:
    """Repeat body_fun while cond_fun holds. Differentiable in forward mode only."""
    leaves, tree = tree_flatten(init_val)
    types, weak = _leaf_types("while_loop init_val", leaves)

    def trace_body(ts, weak=()):
        return _trace_body("while_loop body", body_fun, [tree], [ts], weak)

    types = _fix_weak_carry(types, weak, lambda ts: trace_body(ts, weak).fn)
    body = trace_body(types)
    if body.out_tree != tree or body.fn.out_types != types:
        raise TypeError(f"while_loop: body_fun must return the carry's structure and types: "
                        f"carry is {tree} {_types_str(types)}, body_fun returns "
                        f"{body.out_tree} {_types_str(body.fn.out_types)}")
    cond_body = _trace_body("while_loop cond", cond_fun, [tree], [types])
    cond_types = cond_body.fn.out_types
    if len(cond_types) != 1 or cond_types[0] != TensorType("bool", ()):
        raise TypeError(f"while_loop: cond_fun must return a bool scalar, returns "
                        f"{_types_str(cond_types)}")
    carry = [_as_carry(x, t) for x, t in zip(leaves, types)]
    outs = bind(P.while_p, *cond_body.captures, *body.captures, *carry,
                cond_fun=cond_body.fn, body_fun=body.fn,
                cond_nconsts=len(cond_body.captures), body_nconsts=len(body.captures))
    return tree_unflatten(tree, outs)


def scan(f: Callable, init: Any, xs: Any = None, length: int | None = None,
         reverse: bool = False) -> tuple[Any, Any]:
    """Loop f(carry, x) -> (carry, y) over the leading axis of xs, stacking the ys."""
    carry_leaves, carry_tree = tree_flatten(init)
    x_leaves, x_tree = tree_flatten(xs)
    lengths = {np.shape(x)[0] for x in x_leaves if np.ndim(x) > 0}
    if any(np.ndim(x) == 0 for x in x_leaves):
        raise ValueError("scan: every leaf of xs needs a leading axis to scan over")
    if length is not None:
        lengths.add(int(length))
    if len(lengths) != 1:
        raise ValueError(f"scan: xs leading dimensions and length disagree: {sorted(lengths)}"
                         if lengths else "scan: pass xs or length")
    (n,) = lengths
    carry_types, weak = _leaf_types("scan init", carry_leaves)
    x_types, _ = _leaf_types("scan xs", x_leaves)
    slice_types = [TensorType(t.dtype, t.shape[1:]) for t in x_types]

    def trace_body(ts, weak=()):
        def pair(c, x):
            out = f(c, x)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError("scan: f must return a pair (new_carry, y)")
            return out
        flags = list(weak) + [False] * len(slice_types) if weak else ()
        return _trace_body("scan", pair, [carry_tree, x_tree], [ts, slice_types], flags)

    carry_types = _fix_weak_carry(carry_types, weak, lambda ts: trace_body(ts, weak).fn)
    body = trace_body(carry_types)
    out_carry_tree = body.out_tree.children[0]
    n_carry = len(carry_types)
    if out_carry_tree != carry_tree or body.fn.out_types[:n_carry] != carry_types:
        raise TypeError(f"scan: f must return a carry of the same structure and types as init: "
                        f"init is {carry_tree} {_types_str(carry_types)}, f returns "
                        f"{out_carry_tree} {_types_str(body.fn.out_types[:n_carry])}")
    carry = [_as_carry(x, t) for x, t in zip(carry_leaves, carry_types)]
    xs_arrays = [x if isinstance(x, Tracer) else np.asarray(x) for x in x_leaves]
    outs = bind(P.scan_p, *body.captures, *carry, *xs_arrays, body=body.fn, length=n,
                num_consts=len(body.captures), num_carry=n_carry, reverse=bool(reverse))
    final = tree_unflatten(carry_tree, outs[:n_carry])
    ys = tree_unflatten(body.out_tree.children[1], outs[n_carry:])
    return final, ys


def fori_loop(lower: Any, upper: Any, body_fun: Callable, init_val: Any) -> Any:
    """body_fun(i, val) for i in [lower, upper). Static bounds lower to scan (reversible)."""
    static = all(isinstance(b, (int, np.integer)) for b in (lower, upper))
    if static:
        lo, hi = int(lower), int(upper)

        def step(carry, _):
            i, val = carry
            return (i + 1, body_fun(i, val)), None

        (_, val), _ = scan(step, (np.int64(lo), init_val), None, length=max(hi - lo, 0))
        return val

    def cond_fun(carry):
        return carry[0] < carry[1]

    def body(carry):
        i, hi, val = carry
        return i + 1, hi, body_fun(i, val)

    lo = lower if isinstance(lower, Tracer) else np.int64(lower)
    hi = upper if isinstance(upper, Tracer) else np.int64(upper)
    return while_loop(cond_fun, body, (lo, hi, init_val))[2]


def stop_gradient(x: Any) -> Any:
    """x, with a zero derivative in every transform."""
    leaves, tree = tree_flatten(x)
    return tree_unflatten(tree, [bind(P.stop_gradient_p, leaf) for leaf in leaves])
