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
        if not live.isdisjoint(eqn.outputs) or has_effects(eqn):
            kept.append(_map_sub_functions(eqn, dce))
            for a in eqn.inputs:
                if isinstance(a, Var):
                    live.add(a)
    consts = [(v, a) for v, a in fn.consts if v in live]
    return Function(fn.inputs, consts, list(reversed(kept)), fn.outputs)


def _renamed(inputs: tuple, rename: dict[Var, Any]) -> tuple:
    """inputs with renamed Vars replaced; the very same tuple when none is renamed (so an
    equation left as it was is kept, not copied)."""
    if rename:
        for a in inputs:
            if isinstance(a, Var) and a in rename:
                return tuple(rename.get(b, b) if isinstance(b, Var) else b for b in inputs)
    return inputs


def _with_inputs(eqn: Eqn, inputs: tuple) -> Eqn:
    return eqn if inputs is eqn.inputs else Eqn(eqn.primitive, inputs, eqn.outputs, eqn.params)


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
        inputs = _renamed(eqn.inputs, rename)
        key = None
        if not has_effects(eqn):  # (two identical prints print twice)
            # the params themselves, not their hash: equal hashes of different params must
            # never merge two equations
            key = (eqn.primitive, tuple([_atom_key(a) for a in inputs]), eqn.params)
            try:
                found = seen.get(key)
            except TypeError:  # unhashable params: never merged
                key = found = None
            if found is not None:
                rename.update(zip(eqn.outputs, found))
                continue
        if key is not None:
            seen[key] = eqn.outputs
        eqns.append(_with_inputs(eqn, inputs))
    return Function(fn.inputs, fn.consts, eqns, [sub(a) for a in fn.outputs])


def fold_constants(fn: Function) -> Function:
    """Evaluate equations whose inputs are all Literals and whose results are scalars."""
    rename: dict[Var, Any] = {}
    eqns = []

    def sub(a):
        return rename.get(a, a) if isinstance(a, Var) else a

    for eqn in fn.eqns:
        eqn = _map_sub_functions(eqn, fold_constants)
        inputs = _renamed(eqn.inputs, rename)
        # higher-order primitives (their params hold Functions or rules) are never folded
        p = eqn.primitive
        foldable = (not p.higher_order and not p.effectful and not p.multiple_results
                    and eqn.outputs[0].type.shape == ()
                    and all(isinstance(a, Literal) for a in inputs))
        if foldable:
            value = impl_rules[eqn.primitive](*[literal_value(a) for a in inputs], **eqn.params)
            rename[eqn.outputs[0]] = Literal(value.item() if hasattr(value, "item") else value,
                                             eqn.outputs[0].type.dtype)
            continue
        eqns.append(_with_inputs(eqn, inputs))
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
        inputs = _renamed(eqn.inputs, rename)
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
                eqns.append(_with_inputs(eqn, inputs))
            continue
        eqns.append(_with_inputs(eqn, inputs))
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

