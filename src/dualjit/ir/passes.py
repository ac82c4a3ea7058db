"""IR passes: dead-code elimination, common-subexpression elimination, constant folding."""

from __future__ import annotations

from typing import Any

from .core import Eqn, Function, Literal, Var, has_effects, impl_rules, sub_functions
from .interpreter import literal_value


def map_function_params(params: dict, transform) -> dict:
    """params with each sub-Function (alone or in a tuple of them) replaced by transform(it)."""
    mapped = {}
    for k, v in params.items():
        if isinstance(v, Function):
            v = transform(v)
        elif isinstance(v, tuple) and v and all(isinstance(x, Function) for x in v):
            v = tuple(transform(x) for x in v)
        mapped[k] = v
    return mapped


def _map_sub_functions(eqn: Eqn, transform) -> Eqn:
    if not sub_functions(eqn):
        return eqn
    return Eqn(eqn.primitive, eqn.inputs, eqn.outputs, map_function_params(eqn.params, transform))


def dce(fn: Function) -> Function:
    """Drop equations whose outputs nothing uses (all primitives are pure); recurse into bodies."""
    live = {a for a in fn.outputs if isinstance(a, Var)}
    kept = []
    for eqn in reversed(fn.eqns):
        if any(v in live for v in eqn.outputs) or has_effects(eqn):
            kept.append(_map_sub_functions(eqn, dce))
            live.update(a for a in eqn.inputs if isinstance(a, Var))
    consts = [(v, a) for v, a in fn.consts if v in live]
    return Function(fn.inputs, consts, list(reversed(kept)), fn.outputs)


def _atom_key(a: Any) -> Any:
    return ("lit", a.type, repr(a.value)) if isinstance(a, Literal) else id(a)


def cse(fn: Function) -> Function:
    """Reuse the outputs of an identical earlier equation (same primitive, inputs and params)."""
    rename: dict[Var, Any] = {}
    seen: dict[Any, tuple[Var, ...]] = {}
    eqns = []

    def sub(a):
        return rename.get(a, a) if isinstance(a, Var) else a

    for eqn in fn.eqns:
        eqn = _map_sub_functions(eqn, cse)
        inputs = [sub(a) for a in eqn.inputs]
        try:
            key = (eqn.primitive, tuple(_atom_key(a) for a in inputs), hash(eqn.params))
        except TypeError:
            key = None
        if has_effects(eqn):  # two identical prints print twice
            key = None
        if key is not None and key in seen:
            rename.update(zip(eqn.outputs, seen[key]))
            continue
        new = Eqn(eqn.primitive, inputs, eqn.outputs, eqn.params)
        if key is not None:
            seen[key] = eqn.outputs
        eqns.append(new)
    return Function(fn.inputs, fn.consts, eqns, [sub(a) for a in fn.outputs])


def fold_constants(fn: Function) -> Function:
    """Evaluate equations whose inputs are all Literals and whose results are scalars."""
    rename: dict[Var, Any] = {}
    eqns = []

    def sub(a):
        return rename.get(a, a) if isinstance(a, Var) else a

    for eqn in fn.eqns:
        eqn = _map_sub_functions(eqn, fold_constants)
        inputs = [sub(a) for a in eqn.inputs]
        # higher-order primitives (their params hold Functions or rules) are never folded
        foldable = (not eqn.primitive.higher_order and not eqn.primitive.effectful
                    and not eqn.primitive.multiple_results
                    and all(isinstance(a, Literal) for a in inputs)
                    and eqn.outputs[0].type.shape == ())
        if foldable:
            value = impl_rules[eqn.primitive](*[literal_value(a) for a in inputs], **eqn.params)
            rename[eqn.outputs[0]] = Literal(value.item() if hasattr(value, "item") else value,
                                             eqn.outputs[0].type.dtype)
            continue
        eqns.append(Eqn(eqn.primitive, inputs, eqn.outputs, eqn.params))
    return Function(fn.inputs, fn.consts, eqns, [sub(a) for a in fn.outputs])


def _constant_scalar(a: Any, splats: dict[Var, Literal]) -> Any:
    if isinstance(a, Literal):
        return a.value
    lit = splats.get(a)
    return None if lit is None else lit.value


def drop_identities(fn: Function) -> Function:
    """x*1, 1*x, x+0, 0+x, x-0 and x/1 become x when x already has the result's type."""
    splats: dict[Var, Literal] = {}  # Vars that are broadcasts of a Literal
    rename: dict[Var, Any] = {}
    eqns = []

    def sub(a):
        return rename.get(a, a) if isinstance(a, Var) else a

    identities = {"mul": (1, (0, 1)), "add": (0, (0, 1)), "sub": (0, (1,)), "div": (1, (1,))}
    for eqn in fn.eqns:
        eqn = _map_sub_functions(eqn, drop_identities)
        inputs = [sub(a) for a in eqn.inputs]
        name = eqn.primitive.name
        if name == "broadcast_in_dim" and isinstance(inputs[0], Literal):
            splats[eqn.outputs[0]] = inputs[0]
        if name in identities:
            neutral, positions = identities[name]
            out_type = eqn.outputs[0].type
            for p in positions:
                other = inputs[1 - p]
                if (_constant_scalar(inputs[p], splats) == neutral and isinstance(other, Var)
                        and other.type == out_type):
                    rename[eqn.outputs[0]] = other
                    break
            else:
                eqns.append(Eqn(eqn.primitive, inputs, eqn.outputs, eqn.params))
            continue
        eqns.append(Eqn(eqn.primitive, inputs, eqn.outputs, eqn.params))
    return Function(fn.inputs, fn.consts, eqns, [sub(a) for a in fn.outputs])


def simplify(fn: Function) -> Function:
    """Constant folding, identities, CSE and DCE until nothing changes."""
    for _ in range(10):
        rewritten = cse(drop_identities(fold_constants(fn)))
        settled = len(rewritten.eqns) == len(fn.eqns)  # (the rewrites only ever drop eqns)
        fn = dce(rewritten)
        if settled:  # dropping dead equations alone opens no new rewrites
            return fn
    return fn

