"""The batching transform of Functions: values carry a batch axis, or none (`not_mapped`).

A batched value is a pair (value, bdim): `value` holds every member of the batch stacked
along axis `bdim`, or, when bdim is `not_mapped` (None), one value shared by all members.
Work on shared values stays unbatched, the way jvp's symbolic Zero keeps unperturbed work
out of the tangent program. Each primitive's rule maps batched operands to batched results.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..ir import Function, Literal, Primitive, TensorType, Var, as_dtype
from ..ir import primitives as P
from ..ir.verifier import check
from ..tracer.core import Tracer, bind, trace_flat

not_mapped = None  # the bdim of a value every member of the batch shares

batching_rules: dict[Primitive, Callable] = {}


class BatchingFallbackWarning(UserWarning):
    """vmap met a primitive without a batching rule and loops over the batch instead."""


# ---------------------------------------------------------------------------------------------
# Small helpers the rules are written with
# ---------------------------------------------------------------------------------------------

def type_of(x: Any) -> TensorType:
    if isinstance(x, Tracer):
        return x.aval
    arr = np.asarray(x)
    return TensorType(as_dtype(arr.dtype), arr.shape)


def ndim(x: Any) -> int:
    return type_of(x).ndim


def batched_type(t: TensorType, bdim: int | None, size: int) -> TensorType:
    """The type of a batched value whose members have type `t`."""
    if bdim is not_mapped:
        return t
    return t.with_shape(t.shape[:bdim] + (size,) + t.shape[bdim:])


def member_shape(x: Any, bdim: int | None) -> tuple[int, ...]:
    """The shape of one member of a batched value."""
    shape = type_of(x).shape
    return shape if bdim is not_mapped else shape[:bdim] + shape[bdim + 1:]


def moveaxis(x: Any, src: int, dst: int) -> Any:
    if src == dst:
        return x
    perm = list(range(ndim(x)))
    perm.remove(src)
    perm.insert(dst, src)
    return bind(P.transpose_p, x, permutation=tuple(perm))


def broadcast_batch(x: Any, size: int, at: int) -> Any:
    """An unbatched value repeated `size` times along a new axis `at`."""
    t = type_of(x)
    shape = t.shape[:at] + (size,) + t.shape[at:]
    dims = tuple(i if i < at else i + 1 for i in range(t.ndim))
    return bind(P.broadcast_in_dim_p, x, shape=shape, broadcast_dimensions=dims)


def bdim_at(x: Any, bdim: int | None, size: int, at: int) -> Any:
    """x with its batch axis at `at` (broadcast first when x is unbatched)."""
    if bdim is not_mapped:
        return broadcast_batch(x, size, at)
    return moveaxis(x, bdim, at)


def to_front(x: Any, bdim: int | None, size: int) -> Any:
    return bdim_at(x, bdim, size, 0)


def full_axis(axis: int, bdim: int) -> int:
    """The axis of a batched value that holds axis `axis` of each member."""
    return axis if axis < bdim else axis + 1


def literal_value(a: Literal) -> np.generic:
    return a.type.dtype.np.type(a.value)


# ---------------------------------------------------------------------------------------------
# The transform
# ---------------------------------------------------------------------------------------------

def apply_batched(prim: Primitive, size: int, args: Sequence[Any], dims: Sequence[int | None],
                  params: dict) -> tuple[list[Any], list[int | None]]:
    """Apply `prim` to batched operands: its rule, or the primitive itself when none is batched."""
    if all(d is not_mapped for d in dims):
        outs = bind(prim, *args, **params)
        outs = outs if prim.multiple_results else [outs]
        return list(outs), [not_mapped] * len(outs)
    rule = batching_rules.get(prim) or _generic_rule(prim)
    outs, out_dims = rule(size, list(args), list(dims), **params)
    if not prim.multiple_results:
        return [outs], [out_dims]
    return list(outs), list(out_dims)


def batch_eval(fn: Function, args: Sequence[Any], dims: Sequence[int | None], size: int
               ) -> tuple[list[Any], list[int | None]]:
    """Replay `fn` on batched values inside the current trace."""
    env: dict[Var, tuple[Any, int | None]] = {}
    for v, x, d in zip(fn.inputs, args, dims):
        env[v] = (x, d)
    for v, value in fn.consts:
        env[v] = (value, not_mapped)

    def read(a):
        return (literal_value(a), not_mapped) if isinstance(a, Literal) else env[a]

    for eqn in fn.eqns:
        pairs = [read(a) for a in eqn.inputs]
        outs, out_dims = apply_batched(eqn.primitive, size, [x for x, _ in pairs],
                                       [d for _, d in pairs], eqn.params)
        for v, x, d in zip(eqn.outputs, outs, out_dims):
            env[v] = (x, d)
    results = [read(a) for a in fn.outputs]
    return [x for x, _ in results], [d for _, d in results]


class _AnyDim:
    def __repr__(self) -> str:
        return "any_dim"


any_dim = _AnyDim()  # in `out_dims`: keep whatever batch axis the output has


def match_dim(x: Any, bdim: int | None, want: Any, size: int, what: str = "output") -> Any:
    """x with its batch axis where `want` says: an axis, any_dim, or not_mapped (must be unbatched)."""
    if want is any_dim:
        return x
    if want is not_mapped:
        if bdim is not not_mapped:
            raise ValueError(f"vmap: {what} is batched (it depends on a mapped input) but is "
                             "required to be unbatched (out_axes None)")
        return x
    return bdim_at(x, bdim, size, want)


def sum_batch(x: Any, bdim: int | None) -> Any:
    """The sum over the batch: what a cotangent of an unbatched value is."""
    if bdim is not_mapped:
        return x
    return bind(P.reduce_sum_p, x, axes=(bdim,))


def batch_function(fn: Function, in_dims: Sequence[int | None], size: int,
                   out_dims: Sequence[Any] | None = None,
                   ) -> tuple[Function, list[int | None]]:
    """The batched Function of fn, and where its outputs carry the batch axis.

    Input k of the result has the type of fn's input k with a batch axis of `size` inserted at
    in_dims[k] (none when not_mapped). `out_dims`, when given, fixes where each output's batch
    axis goes (an axis, `any_dim`, or not_mapped for outputs that must not be batched).
    """
    in_types = [batched_type(v.type, d, size) for v, d in zip(fn.inputs, in_dims)]
    box: list[list[int | None]] = []

    def body(*args):
        outs, dims = batch_eval(fn, args, in_dims, size)
        if out_dims is not None:
            outs = [match_dim(x, d, w, size) for x, d, w in zip(outs, dims, out_dims)]
            dims = [d if w is any_dim else w for d, w in zip(dims, out_dims)]
        box.append(list(dims))
        return outs

    batched, captures = trace_flat(body, in_types)
    assert not captures, "batch_function of a closed Function captured outer values"
    return check(batched), box[0]


# ---------------------------------------------------------------------------------------------
# The loop fallback: correct for any primitive, one member at a time
# ---------------------------------------------------------------------------------------------

_warned: set[str] = set()


def loop_rule(prim: Primitive) -> Callable:
    """A batching rule that applies `prim` to each member in turn (a scan over the batch)."""
    def rule(size, args, dims, **params):
        mapped = [d is not not_mapped for d in dims]
        shared = [x for x, m in zip(args, mapped) if not m]
        xs = [moveaxis(x, d, 0) for x, d in zip(args, dims) if d is not not_mapped]
        slice_types = [type_of(x).with_shape(type_of(x).shape[1:]) for x in xs]

        def member(*flat):
            shared_it, xs_it = iter(flat[:len(shared)]), iter(flat[len(shared):])
            operands = [next(xs_it) if m else next(shared_it) for m in mapped]
            outs = bind(prim, *operands, **params)
            return list(outs) if prim.multiple_results else [outs]

        body, captures = trace_flat(member, [type_of(x) for x in shared] + slice_types)
        assert not captures
        outs = bind(P.scan_p, *shared, *xs, body=body, length=size, num_consts=len(shared),
                    num_carry=0, reverse=False)
        if prim.multiple_results:
            return outs, [0] * len(outs)
        return outs[0], 0
    return rule


def _generic_rule(prim: Primitive) -> Callable:
    """The rule of a primitive nobody wrote one for: elementwise ones batch like any
    elementwise primitive; anything else loops over the batch, with a warning."""
    if getattr(prim, "elementwise", False):
        from .rules import batch_elementwise

        batch_elementwise(prim)
        return batching_rules[prim]
    if prim.name not in _warned:
        _warned.add(prim.name)
        warnings.warn(f"vmap: primitive {prim.name} has no batching rule; it runs once per "
                      "batch member in a loop (correct, but slow). Add a rule to "
                      "dualjit.batching.batching_rules.", BatchingFallbackWarning, stacklevel=4)
    return loop_rule(prim)
