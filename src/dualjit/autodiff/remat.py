"""Rematerialization (dj.checkpoint / dj.remat): reverse mode recomputes a call's intermediates.

A checkpointed call is a `checkpoint` equation holding the call as a Function. Its JVP stays a
checkpoint; partial evaluation (linearize) keeps only the call's inputs, plus the values its
policy allows, as residuals for the linear part, which recomputes everything else; the
transpose of that part is again a checkpoint, so no pass merges the recomputation with the
forward pass. jit inlines the calls once simplification is done.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from ..ir import Eqn, Function, Literal, Primitive, Var
from ..ir import primitives as P
from ..ir.core import sub_functions
from ..ir.passes import dce, map_function_params
from ..tracer.core import abstractify, apply_function, bind, trace_flat
from ..tracer.make_ir import normalize_argnums
from ..tracer.pytree import flatten_fun, tree_flatten, tree_unflatten
from .jvp import Zero, has_tangent, jvp_function, jvp_rules
from .linearize import partial_eval, partial_eval_rules
from .transpose import is_linear, transpose_function, transpose_rules

# ---------------------------------------------------------------------------------------------
# Policies: which intermediate values reverse mode may store instead of recomputing
# ---------------------------------------------------------------------------------------------


class Policy:
    """A named rule `policy(primitive, *in_types, **params) -> bool`: may this result be saved?"""

    def __init__(self, name: str, saveable: Callable[..., bool]):
        self.name = name
        self.saveable = saveable

    def __call__(self, prim: Primitive, *in_types: Any, **params: Any) -> bool:
        return bool(self.saveable(prim, *in_types, **params))

    def __repr__(self) -> str:
        return self.name


def _is_dot(prim, *_, **__):
    return prim is P.dot_general_p


def _is_dot_without_batch(prim, *_, **params):
    return prim is P.dot_general_p and not params["dimension_numbers"][1][0]


class checkpoint_policies:  # noqa: N801  (JAX's spelling: jax.checkpoint_policies.dots_saveable)
    """Policies for checkpoint(policy=...), as in jax.checkpoint_policies."""

    nothing_saveable = Policy("nothing_saveable", lambda *_, **__: False)
    everything_saveable = Policy("everything_saveable", lambda *_, **__: True)
    dots_saveable = Policy("dots_saveable", _is_dot)
    checkpoint_dots = dots_saveable
    dots_with_no_batch_dims_saveable = Policy("dots_with_no_batch_dims_saveable",
                                              _is_dot_without_batch)


def _as_policy(policy: Any) -> Policy:
    if policy is None:
        return checkpoint_policies.nothing_saveable
    if isinstance(policy, Policy):
        return policy
    if callable(policy):
        return Policy(getattr(policy, "__name__", "custom_policy"), policy)
    raise TypeError(f"checkpoint: policy must be None, one of dj.checkpoint_policies or a "
                    f"callable (primitive, *in_types, **params) -> bool, got {policy!r}")


# ---------------------------------------------------------------------------------------------
# The public function
# ---------------------------------------------------------------------------------------------

def checkpoint(fun: Callable, *, prevent_cse: bool = True, policy: Any = None,
               static_argnums: int | Sequence[int] = ()) -> Callable:
    """fun, whose intermediate values reverse mode recomputes instead of storing.

    policy: None (save nothing but the inputs), or one of dj.checkpoint_policies
    (dots_saveable keeps matrix-product results, everything_saveable keeps all), or a
    callable (primitive, *in_types, **params) -> bool. prevent_cse is accepted for JAX
    compatibility (the recomputation is never merged with the forward pass).
    """
    del prevent_cse
    chosen = _as_policy(policy)

    @functools.wraps(fun)
    def checkpointed(*args: Any, **kwargs: Any) -> Any:
        nums = set(normalize_argnums(static_argnums, len(args), "static_argnums")
                   if static_argnums != () else ())
        dynamic = [a for i, a in enumerate(args) if i not in nums]
        leaves, tree = tree_flatten((dynamic, kwargs))
        types = [abstractify(x, f"checkpoint: argument leaf {i}")[0]
                 for i, x in enumerate(leaves)]

        def with_static(given, keywords):
            rebuilt = iter(given)
            return fun(*[a if i in nums else next(rebuilt) for i, a in enumerate(args)],
                       **keywords)

        flat, out_tree = flatten_fun(with_static, tree)
        call, captures = trace_flat(flat, types)
        outs = bind(P.checkpoint_p, *captures, *leaves, call=call, policy=chosen)
        return tree_unflatten(out_tree(), outs)

    return checkpointed


remat = checkpoint


# ---------------------------------------------------------------------------------------------
# Rules: JVP, partial evaluation, transpose
# ---------------------------------------------------------------------------------------------

def _checkpoint_jvp(primals, tangents, *, call, policy):
    nonzero = [not isinstance(t, Zero) and has_tangent(v.type)
               for t, v in zip(tangents, call.inputs)]
    given = [t for t, nz in zip(tangents, nonzero) if nz]
    outs = bind(P.checkpoint_p, *primals, *given, call=jvp_function(call, nonzero),
                policy=policy)
    n = len(call.outputs)
    primal, tangent_it = list(outs[:n]), iter(outs[n:])
    return primal, [next(tangent_it) if has_tangent(v.type) else Zero(v.type)
                    for v in call.outputs]


jvp_rules[P.checkpoint_p] = _checkpoint_jvp


def _used_vars(fn: Function) -> set[Var]:
    used = {a for a in fn.outputs if isinstance(a, Var)}
    used.update(a for eqn in fn.eqns for a in eqn.inputs if isinstance(a, Var))
    return used


def _recompute_residuals(known: Function, residuals: Sequence[Var], policy: Policy
                         ) -> tuple[Function, list[Var]]:
    """(a Function from known inputs + saved values to the residuals, the saved values): the
    results of equations the policy marks saveable are taken as given instead of recomputed."""
    needed = dce(Function(known.inputs, known.consts, known.eqns, list(residuals)))
    saved = [v for e in needed.eqns
             if policy(e.primitive, *[a.type for a in e.inputs], **e.params) for v in e.outputs]
    saved_set = set(saved)
    recompute = dce(Function(known.inputs, known.consts,
                             [e for e in needed.eqns if not saved_set.issuperset(e.outputs)],
                             list(residuals)))
    saved = [v for v in saved if v in _used_vars(recompute)]
    return Function(list(known.inputs) + saved, recompute.consts, recompute.eqns,
                    recompute.outputs), saved


def _checkpoint_partial_eval(eqn: Eqn, flags: list[bool]):
    """Known part: the known outputs and the values the policy saves. Unknown part: the rest,
    recomputed from the inputs and the saved values."""
    call, policy = eqn.params["call"], eqn.params["policy"]
    split = partial_eval(call, flags)
    n_known = len(split.known.outputs) - len(split.residuals)
    recompute, saved = _recompute_residuals(split.known, split.residuals, policy)
    known_call = dce(Function(split.known.inputs, split.known.consts, split.known.eqns,
                              list(split.known.outputs[:n_known]) + saved))
    n_saved, unknown_idx = len(saved), [i for i, f in enumerate(flags) if f]
    known_idx = [i for i, f in enumerate(flags) if not f]

    def unknown_part(*args):
        saved_values, inputs = args[:n_saved], args[n_saved:]
        residuals = apply_function(recompute, *[inputs[i] for i in known_idx], *saved_values)
        return apply_function(split.unknown, *residuals, *[inputs[i] for i in unknown_idx])

    unknown_call, captures = trace_flat(unknown_part, [v.type for v in saved] + call.in_types)
    assert not captures
    saved_outer = [Var(v.type) for v in saved]
    known_eqn = Eqn(P.checkpoint_p, [eqn.inputs[i] for i in known_idx],
                    [v for v, u in zip(eqn.outputs, split.out_unknown) if not u] + saved_outer,
                    dict(eqn.params, call=known_call))
    unknown_eqn = Eqn(P.checkpoint_p, saved_outer + list(eqn.inputs),
                      [v for v, u in zip(eqn.outputs, split.out_unknown) if u],
                      dict(eqn.params, call=unknown_call))
    return [known_eqn], [unknown_eqn], split.out_unknown


partial_eval_rules[P.checkpoint_p] = _checkpoint_partial_eval


def _checkpoint_transpose(cts, *args, call, policy):
    linear = [is_linear(a) for a in args]
    nonlinear = [a for a in args if not is_linear(a)]
    backward = transpose_function(call, linear)
    # The barrier makes the recomputation wait for the cotangents: scheduled any earlier, it
    # would hold every checkpoint's intermediates at once, which is what checkpointing avoids.
    operands = bind(P.optimization_barrier_p, *nonlinear, *cts)
    cts_in = bind(P.checkpoint_p, *operands, call=backward, policy=policy)
    it = iter(cts_in)
    return [next(it) if lin else None for lin in linear]


transpose_rules[P.checkpoint_p] = _checkpoint_transpose


def _barrier_jvp(primals, tangents):
    nonzero = [not isinstance(t, Zero) for t in tangents]
    live = bind(P.optimization_barrier_p, *[t for t, nz in zip(tangents, nonzero) if nz])
    it = iter(live)
    return (bind(P.optimization_barrier_p, *primals),
            [next(it) if nz else t for t, nz in zip(tangents, nonzero)])


def _barrier_transpose(cts, *args):
    linear = [is_linear(a) for a in args]
    live = bind(P.optimization_barrier_p, *[ct for ct, lin in zip(cts, linear) if lin])
    it = iter(live)
    return [next(it) if lin else None for lin in linear]


jvp_rules[P.optimization_barrier_p] = _barrier_jvp
transpose_rules[P.optimization_barrier_p] = _barrier_transpose


# ---------------------------------------------------------------------------------------------
# Inlining: once transforms and passes are done, a checkpoint is just its call, and so is a
# call with custom derivative rules (nothing differentiates it any more); inlined, the call's
# equations fuse with their neighbours and run in kernels instead of as one host step.
# ---------------------------------------------------------------------------------------------

_CALLS = (P.checkpoint_p, P.custom_jvp_call_p, P.custom_vjp_call_p)


def _has_checkpoint(fn: Function) -> bool:
    return any(eqn.primitive in _CALLS or any(map(_has_checkpoint, sub_functions(eqn)))
               for eqn in fn.eqns)


def _inline_eval(fn: Function, args: Sequence[Any]) -> list[Any]:
    env: dict[Var, Any] = dict(zip(fn.inputs, args))
    env.update(fn.consts)

    def read(a):
        return a if isinstance(a, Literal) else env[a]

    for eqn in fn.eqns:
        ins = [read(a) for a in eqn.inputs]
        if eqn.primitive in _CALLS:
            outs = _inline_eval(eqn.params["call"], ins)
        else:
            outs = bind(eqn.primitive, *ins, **map_function_params(eqn.params, inline_checkpoints))
            outs = outs if eqn.primitive.multiple_results else [outs]
        env.update(zip(eqn.outputs, outs))
    return [read(a) for a in fn.outputs]


def inline_checkpoints(fn: Function) -> Function:
    """fn with every checkpoint and custom-rule call (also inside control flow) replaced by
    its call."""
    if not _has_checkpoint(fn):
        return fn
    inlined, captures = trace_flat(lambda *args: _inline_eval(fn, args), fn.in_types)
    assert not captures
    return inlined


__all__ = ["checkpoint", "remat", "checkpoint_policies", "inline_checkpoints", "apply_function"]
