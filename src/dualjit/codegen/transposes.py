"""Chains of transposes as one: `transpose(transpose(x, p), q)` reads x through the composed
permutation, and is x itself when that is the identity (the kernel plan's view; the IR
simplifier keeps both).

Reverse mode makes such chains around products: the gradient of `q @ k^T` with respect to k
is the transpose of a product that is transposed again. Left as they are, the first
transpose is written by a swapped gemm (schedule.products_into_transposes) and the second
reads it back across its rows, the slowest loop of a transformer block's backward pass.
"""

from __future__ import annotations

from typing import Any

from ..ir import Eqn, Function, Var
from ..ir import primitives as P
from ..ir.passes import dce


def composed(inner: tuple[int, ...], outer: tuple[int, ...]) -> tuple[int, ...]:
    """The permutation of transpose(transpose(x, inner), outer) as one transpose of x."""
    return tuple(inner[axis] for axis in outer)


def compose_transposes(fn: Function) -> Function:
    """fn with every transpose of a transpose reading the first one's operand directly (the
    inner transpose is dropped once nothing else reads it); an identity becomes its operand,
    except a result of fn (callers look its outputs up by the Vars of the Function they had)."""
    results = {a for a in fn.outputs if isinstance(a, Var)}
    source: dict[Var, tuple[Any, tuple[int, ...]]] = {}  # transpose output -> (x, permutation)
    rename: dict[Var, Any] = {}
    eqns: list[Eqn] = []
    changed = False
    for eqn in fn.eqns:
        inputs = tuple(rename.get(a, a) if isinstance(a, Var) else a for a in eqn.inputs)
        if eqn.primitive is P.transpose_p and isinstance(inputs[0], Var):
            perm = tuple(eqn.params["permutation"])
            if inputs[0] in source:
                x, inner = source[inputs[0]]
                inputs, perm, changed = (x,), composed(inner, perm), True
                eqn = Eqn(P.transpose_p, list(inputs), list(eqn.outputs), {"permutation": perm})
            if perm == tuple(range(len(perm))) and eqn.outputs[0] not in results:
                rename[eqn.outputs[0]], changed = inputs[0], True
                continue
            source[eqn.outputs[0]] = (inputs[0], perm)
        if inputs != tuple(eqn.inputs):
            eqn = Eqn(eqn.primitive, list(inputs), list(eqn.outputs), eqn.params)
        eqns.append(eqn)
    return dce(Function(fn.inputs, fn.consts, eqns, fn.outputs)) if changed else fn


def folded_product(product: Eqn, side: int, transpose: Eqn) -> Eqn | None:
    """`product` reading the operand of `transpose` (its input `side`, 0 or 1) instead, the
    transpose folded into its dimension numbers; None when that would reorder the result
    (the operand's free axes must keep their order)."""
    perm = transpose.params["permutation"]
    (lc, rc), (lb, rb) = product.params["dimension_numbers"]
    contract, batch = (lc, lb) if side == 0 else (rc, rb)
    free = [d for d in range(len(perm)) if d not in contract and d not in batch]
    if [perm[d] for d in free] != sorted(perm[d] for d in free):
        return None
    contract, batch = tuple(perm[d] for d in contract), tuple(perm[d] for d in batch)
    numbers = (((contract, rc), (batch, rb)) if side == 0 else ((lc, contract), (lb, batch)))
    inputs = list(product.inputs)
    inputs[side] = transpose.inputs[0]
    return Eqn(P.dot_general_p, inputs, list(product.outputs), {"dimension_numbers": numbers})


def fold_into_products(fn: Function, takes) -> Function:
    """fn with each transpose read only by products folded into them (gemm reads its operand
    through strides and flags: attention's heads and keys need no transposed copy), when
    `takes(product)` says gemm still reads every folded product in place."""
    readers: dict[Var, list[tuple[Eqn, int]]] = {}
    for eqn in fn.eqns:
        for side, a in enumerate(eqn.inputs):
            if isinstance(a, Var):
                readers.setdefault(a, []).append((eqn, side))
    results = {a for a in fn.outputs if isinstance(a, Var)}
    rewritten: dict[Eqn, Eqn] = {}
    for t in fn.eqns:
        if t.primitive is not P.transpose_p or t.outputs[0] in results:
            continue
        uses = readers.get(t.outputs[0], [])
        folds = [folded_product(rewritten.get(e, e), side, t) if e.primitive is P.dot_general_p
                 else None for e, side in uses]
        if uses and all(f is not None and takes(f) for f in folds):
            rewritten.update((e, f) for (e, _), f in zip(uses, folds))
    if not rewritten:
        return fn
    eqns = [rewritten.get(e, e) for e in fn.eqns]
    return dce(Function(fn.inputs, fn.consts, eqns, fn.outputs))
