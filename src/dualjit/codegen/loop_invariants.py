"""Loop-invariant code motion: equations of a scan or while body that depend only on the
loop's constants are computed once, before the loop, and passed in as new constants.

`fori_loop(0, n, step, p)` over data passed as an argument recomputes everything derived from
that data alone (`x ** 2`, `x ** 3`, a matrix's transpose product) in every step; hoisted,
the body only reads the result. This is a planning decision (schedule.plan_function applies
it before splitting a Function into kernels, so `.plan()` shows the hoisted equations before
the loop and the loop's extra constants), made per equation by the rules below:

- an equation is *invariant* when it is pure (no effects), applies no sub-Function, and
  reads only Literals, the loop's constants and other invariant values (not the body's own
  captured constant arrays: moving what reads them would need the outer Function to capture
  them too, and what reads only them constant folding has already computed);
- it is *hoisted* when it is invariant and computes something (not one of MOVES, which only
  index or broadcast data: recomputing those inside the fused loop is free, while hoisting
  would materialize a possibly much larger array), or when a hoisted equation reads it;
- the hoisted values the remaining body reads become new constants of the loop, except one
  larger than both MAX_GROWTH_BYTES and every loop constant: that would be a new stored array
  (an outer product of two vectors, say, which inside the loop is fused and never stored), so
  its equation stays inside and the decision is made again (hoisting_decision).

Every primitive has value semantics, so a value computed once before the loop is the value
the body computed in every step (the same operation on the same operands: in the reference
interpreter the same bits; natively, a hoisted product that LLVM would have fused with an
addition inside the loop into one FMA is rounded on its own instead); a loop that runs no step
computes the hoisted values once and discards them. Nested loops are
handled innermost first, so an invariant of an inner loop that is also invariant in the
outer one moves out of both.
"""

from __future__ import annotations

from ..ir import primitives as P
from ..ir.core import Eqn, Function, Literal, Var, has_effects
from ..ir.passes import map_function_params

# Data movement and one-instruction operations: recomputed inside the fused loop that reads
# them for free, where hoisting would store (and then load) a possibly much larger array.
MOVES = frozenset({
    P.broadcast_in_dim_p, P.reshape_p, P.transpose_p, P.slice_p, P.pad_p, P.concatenate_p,
    P.gather_p, P.dynamic_slice_p, P.iota_p, P.convert_element_type_p, P.stop_gradient_p,
    P.neg_p, P.select_p,
})
# Never moved: the user asked for the value to be computed where it is.
PINNED = frozenset({P.optimization_barrier_p})
# A hoisted value may be larger than every loop constant only up to this size.
MAX_GROWTH_BYTES = 1 << 20


def nbytes(t) -> int:
    return t.size * t.dtype.np.itemsize


def hoist_loop_invariants(fn: Function) -> Function:
    """fn with the invariant work of every scan and while body (at any depth) moved out of
    the loop; fn itself when there is none."""
    eqns: list[Eqn] = []
    changed = False
    for eqn in fn.eqns:
        inner = _with_hoisted_bodies(eqn)
        hoisted = _hoist_from_loop(inner)
        changed = changed or inner is not eqn or hoisted is not None
        eqns += hoisted if hoisted is not None else [inner]
    return Function(fn.inputs, fn.consts, eqns, fn.outputs) if changed else fn


def _with_hoisted_bodies(eqn: Eqn) -> Eqn:
    """eqn with hoisting applied inside each of its sub-Functions (innermost loops first)."""
    if not eqn.primitive.higher_order:
        return eqn
    mapped = map_function_params(eqn.params, hoist_loop_invariants)
    if all(mapped[k] is v for k, v in eqn.params.items()):
        return eqn
    return Eqn(eqn.primitive, eqn.inputs, eqn.outputs, mapped)


def _hoist_from_loop(eqn: Eqn) -> list[Eqn] | None:
    """[hoisted equations..., the loop with new constants], or None if nothing moves."""
    if eqn.primitive is P.scan_p:
        return _hoist_from_scan(eqn)
    if eqn.primitive is P.while_p:
        return _hoist_from_while(eqn)
    return None


def _hoist_from_scan(eqn: Eqn) -> list[Eqn] | None:
    p = eqn.params
    k = p["num_consts"]
    moved = hoist_from_body(p["body"], k, eqn.inputs[:k])
    if moved is None:
        return None
    outer, body, new_consts = moved
    inputs = (*eqn.inputs[:k], *new_consts, *eqn.inputs[k:])
    params = dict(p, body=body, num_consts=k + len(new_consts))
    return [*outer, Eqn(eqn.primitive, inputs, eqn.outputs, params)]


def _hoist_from_while(eqn: Eqn) -> list[Eqn] | None:
    p = eqn.params
    nc, nb = p["cond_nconsts"], p["body_nconsts"]
    cond_consts, body_consts = eqn.inputs[:nc], eqn.inputs[nc:nc + nb]
    from_cond = hoist_from_body(p["cond_fun"], nc, cond_consts)
    from_body = hoist_from_body(p["body_fun"], nb, body_consts)
    if from_cond is None and from_body is None:
        return None
    cond_outer, cond_fun, new_cond = from_cond or ([], p["cond_fun"], [])
    body_outer, body_fun, new_body = from_body or ([], p["body_fun"], [])
    inputs = (*cond_consts, *new_cond, *body_consts, *new_body, *eqn.inputs[nc + nb:])
    params = dict(p, cond_fun=cond_fun, body_fun=body_fun, cond_nconsts=nc + len(new_cond),
                  body_nconsts=nb + len(new_body))
    return [*cond_outer, *body_outer, Eqn(eqn.primitive, inputs, eqn.outputs, params)]


def invariant_equations(body: Function, num_consts: int, excluded=frozenset()) -> list[Eqn]:
    """The body's equations that read only Literals, its first `num_consts` inputs (the
    loop's constants) and each other, in order; pure, without sub-Functions, and not in
    `excluded` (ids of equations kept inside, see hoisting_decision)."""
    known = set(body.inputs[:num_consts])
    found = []
    for eqn in body.eqns:
        if (eqn.primitive.higher_order or eqn.primitive in PINNED or has_effects(eqn)
                or id(eqn) in excluded
                or not all(isinstance(a, Literal) or a in known for a in eqn.inputs)):
            continue
        found.append(eqn)
        known.update(eqn.outputs)
    return found


def hoisted_equations(body: Function, num_consts: int, excluded=frozenset()) -> list[Eqn]:
    """The invariant equations worth moving: those that compute (not MOVES), and whatever
    invariant equation they read, in body order."""
    invariant = invariant_equations(body, num_consts, excluded)
    producer = {v: e for e in invariant for v in e.outputs}
    chosen: set[int] = set()
    pending = [e for e in invariant if e.primitive not in MOVES]
    while pending:
        eqn = pending.pop()
        if id(eqn) in chosen:
            continue
        chosen.add(id(eqn))
        pending += [producer[a] for a in eqn.inputs if isinstance(a, Var) and a in producer]
    return [e for e in invariant if id(e) in chosen]


def hoisting_decision(body: Function, num_consts: int
                      ) -> tuple[list[Eqn], set[int], list[Var]]:
    """(the equations to hoist, the ids of those that leave the body, the hoisted values the
    body still reads: its new constants). A new constant larger than both MAX_GROWTH_BYTES
    and every loop constant (an outer product of two vectors, fused inside the loop) would be
    a new stored array: its equation stays inside, and the decision is made again."""
    limit = max([MAX_GROWTH_BYTES, *(nbytes(v.type) for v in body.inputs[:num_consts])])
    excluded: set[int] = set()
    while True:
        hoisted = hoisted_equations(body, num_consts, excluded)
        gone = {id(e) for e in hoisted} - _moves_read_inside(body, hoisted)
        frontier = _read_by([e for e in body.eqns if id(e) not in gone], body.outputs,
                            {v for e in hoisted if id(e) in gone for v in e.outputs})
        too_large = {v for v in frontier if nbytes(v.type) > limit}
        if not too_large:
            return hoisted, gone, frontier
        excluded.update(id(e) for e in hoisted if too_large.intersection(e.outputs))


def hoist_from_body(body: Function, num_consts: int, const_operands
                    ) -> tuple[list[Eqn], Function, list[Var]] | None:
    """(equations to run before the loop, the body without them, the new constants the loop
    passes to the body) or None when nothing is worth hoisting. `const_operands` are the
    loop equation's operands for the body's first `num_consts` inputs."""
    hoisted, gone, frontier = hoisting_decision(body, num_consts)
    if not hoisted:
        return None
    outside: dict[Var, Var | Literal] = dict(zip(body.inputs[:num_consts], const_operands))
    outer = []
    for eqn in hoisted:
        outputs = [Var(v.type) for v in eqn.outputs]
        outside.update(zip(eqn.outputs, outputs))
        outer.append(Eqn(eqn.primitive, [outside.get(a, a) if isinstance(a, Var) else a
                                          for a in eqn.inputs], outputs, eqn.params))
    fresh = {v: Var(v.type) for v in frontier}
    inputs = [*body.inputs[:num_consts], *(fresh[v] for v in frontier),
              *body.inputs[num_consts:]]
    kept = [_renamed(e, fresh) for e in body.eqns if id(e) not in gone]
    outputs = [fresh.get(a, a) if isinstance(a, Var) else a for a in body.outputs]
    return outer, Function(inputs, body.consts, kept, outputs), [outside[v] for v in frontier]


def _moves_read_inside(body: Function, hoisted: list[Eqn]) -> set[int]:
    """The hoisted MOVES that the body's remaining equations (or outputs) read: they run in
    both places, so the body recomputes them (fused) rather than reading a stored copy."""
    moves = {id(e) for e in hoisted if e.primitive in MOVES}
    hoisted_ids = {id(e) for e in hoisted}
    needed = {a for a in body.outputs if isinstance(a, Var)}
    inside: set[int] = set()
    for eqn in reversed(body.eqns):
        if id(eqn) in hoisted_ids and not (id(eqn) in moves and needed.intersection(eqn.outputs)):
            continue
        if id(eqn) in moves:
            inside.add(id(eqn))
        needed.update(a for a in eqn.inputs if isinstance(a, Var))
    return inside


def _read_by(eqns: list[Eqn], outputs, values: set[Var]) -> list[Var]:
    """The members of `values` that eqns or outputs read, in first-read order."""
    found: dict[Var, None] = {}
    for atoms in [*(e.inputs for e in eqns), outputs]:
        for a in atoms:
            if isinstance(a, Var) and a in values:
                found.setdefault(a)
    return list(found)


def _renamed(eqn: Eqn, rename: dict[Var, Var]) -> Eqn:
    if not any(isinstance(a, Var) and a in rename for a in eqn.inputs):
        return eqn
    inputs = [rename.get(a, a) if isinstance(a, Var) else a for a in eqn.inputs]
    return Eqn(eqn.primitive, inputs, eqn.outputs, eqn.params)
