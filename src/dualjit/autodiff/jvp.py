"""Forward mode: the JVP transform of Functions and the JVP rule of every primitive."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..ir import DType, Function, Literal, Primitive, TensorType, Var
from ..ir import primitives as P
from ..ir.util import (
    cond_operands,
    merge_lists,
    scan_operands,
    scan_results,
    split_list,
    while_operands,
)
from ..tracer.core import apply_function, bind, trace_flat
from . import ops
from .ops import (  # one helper per primitive (see ops.py), so rules read as formulas
    add,
    broadcast,
    broadcast_to_kept,
    concatenate,
    convert,
    convert_element_type,
    copysign,
    cos,
    cosh,
    cumprod,
    div,
    dot_general,
    eq,
    frexp,
    gather,
    gt,
    integer_pow,
    iota,
    ldexp,
    linear_recurrence,
    lit,
    log,
    lt,
    mul,
    ne,
    neg,
    or_,
    pad,
    reduce_prod,
    reduce_sum,
    reshape,
    rsqrt,
    select,
    sin,
    sinh,
    sort,
    sub,
    type_of,
)


class Zero:
    """A symbolic zero tangent: costs nothing until it must be instantiated."""

    __slots__ = ("type",)

    def __init__(self, type: TensorType):
        self.type = type

    def __repr__(self) -> str:
        return f"Zero({self.type})"


def has_tangent(t: TensorType) -> bool:
    return t.dtype.is_inexact


def instantiate(t: Any, like: TensorType | None = None) -> Any:
    """A tangent as a value: symbolic zeros become zeros (of `like`'s type when given)."""
    return ops.zeros(like or t.type) if isinstance(t, Zero) else t


jvp_rules: dict[Primitive, Callable] = {}
zero_derivative: set[Primitive] = set()


# ---------------------------------------------------------------------------------------------
# The transform
# ---------------------------------------------------------------------------------------------

def jvp_eval(fn: Function, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[list, list]:
    """Replay `fn` on (primal, tangent) pairs inside the current trace."""
    env: dict[Var, tuple[Any, Any]] = {}
    for v, p, t in zip(fn.inputs, primals, tangents):
        env[v] = (p, t if has_tangent(v.type) else Zero(v.type))
    for v, value in fn.consts:
        env[v] = (value, Zero(v.type))

    def read(a):
        if isinstance(a, Literal):
            return ops.scalar(a.value, a.type.dtype), Zero(a.type)
        return env[a]

    for eqn in fn.eqns:
        pairs = [read(a) for a in eqn.inputs]
        ps = [p for p, _ in pairs]
        ts = [t for _, t in pairs]
        if eqn.primitive in zero_derivative or all(isinstance(t, Zero) for t in ts):
            outs = bind(eqn.primitive, *ps, **eqn.params)
            outs = outs if eqn.primitive.multiple_results else [outs]
            t_outs = [Zero(v.type) for v in eqn.outputs]
        else:
            rule = jvp_rules.get(eqn.primitive)
            if rule is None:
                raise NotImplementedError(f"differentiation of {eqn.primitive.name} is not "
                                          "implemented")
            outs, t_outs = rule(ps, ts, **eqn.params)
            if not eqn.primitive.multiple_results:
                outs, t_outs = [outs], [t_outs]
        for v, p, t in zip(eqn.outputs, outs, t_outs):
            env[v] = (p, t if has_tangent(v.type) else Zero(v.type))
    results = [read(a) for a in fn.outputs]
    return [p for p, _ in results], [t for _, t in results]


def jvp_function(fn: Function, nonzero: Sequence[bool]) -> Function:
    """The JVP of fn.

    Inputs: fn.inputs, then one tangent per input marked `nonzero` (float inputs only).
    Outputs: fn.outputs, then one tangent per float output.
    """
    nonzero = [nz and has_tangent(t) for nz, t in zip(nonzero, fn.in_types)]
    return jvp_function_grouped(fn, [], nonzero, [], [has_tangent(t) for t in fn.out_types])


def jvp_function_grouped(fn: Function, in_sizes: Sequence[int], nonzero: Sequence[bool],
                         out_sizes: Sequence[int], out_nonzero: Sequence[bool]) -> Function:
    """The JVP of fn with each group's tangents right after the group.

    fn's inputs are cut into groups at `in_sizes` (as split_list does); the result takes, for
    each group, its primals and then the tangents of its `nonzero` members. Outputs likewise:
    per group of `out_sizes`, the primals, then the tangents of the `out_nonzero` ones (zeros
    instantiated). A scan body keeps its consts | carry | xs layout this way.
    """
    in_groups = split_list(list(zip(fn.in_types, nonzero)), in_sizes)
    types = [t for group in in_groups
             for t in [t for t, _ in group] + [t for t, nz in group if nz]]

    def body(*args):
        primals, tangents, rest = [], [], list(args)
        for group in in_groups:
            group_nz = [nz for _, nz in group]
            ps, given, rest = split_list(rest, [len(group), sum(group_nz)])
            primals += ps
            tangents += with_zeros(group_nz, given, [t for t, _ in group])
        outs, t_outs = jvp_eval(fn, primals, tangents)
        out_groups = zip(split_list(outs, out_sizes), split_list(t_outs, out_sizes),
                         split_list(out_nonzero, out_sizes))
        return [x for ps, ts, group_nz in out_groups for x in ps + given_tangents(ts, group_nz)]

    out, captures = trace_flat(body, types)
    assert not captures, "jvp of a closed Function captured outer values"
    return out


def given_tangents(tangents: Sequence[Any], nonzero: Sequence[bool]) -> list[Any]:
    """The tangents marked `nonzero`, zeros instantiated: what a JVP Function takes or returns."""
    return [instantiate(t) for t, nz in zip(tangents, nonzero) if nz]


def with_zeros(nonzero: Sequence[bool], given: Sequence[Any], types: Sequence[TensorType]
               ) -> list[Any]:
    """The inverse of given_tangents: symbolic Zeros (of `types`) where nothing was given."""
    zeros = [Zero(t) for t, nz in zip(types, nonzero) if not nz]
    return merge_lists(nonzero, zeros, given)


# ---------------------------------------------------------------------------------------------
# Rules: elementwise, one line each (y = prim(x), z = prim(x, y))
# ---------------------------------------------------------------------------------------------

def defjvp_unary(prim: Primitive, derivative: Callable[[Any, Any], Any]) -> None:
    """d prim(x) = derivative(x, y) * x_dot, where y = prim(x)."""
    def rule(primals, tangents):
        (x,), (x_dot,) = primals, tangents
        y = bind(prim, x)
        return y, mul(x_dot, derivative(x, y))
    jvp_rules[prim] = rule


def defjvp_binary(prim: Primitive, dx: Callable | None, dy: Callable | None) -> None:
    """d prim(x, y) = dx(x, y, z) * x_dot + dy(x, y, z) * y_dot (None: that operand's term is 1)."""
    def rule(primals, tangents):
        (x, y), (x_dot, y_dot) = primals, tangents
        z = bind(prim, x, y)
        terms = [t if d is None else mul(t, d(x, y, z))
                 for t, d in ((x_dot, dx), (y_dot, dy)) if not isinstance(t, Zero)]
        return z, sum_tangents(type_of(z).shape, *terms)
    jvp_rules[prim] = rule


def sum_tangents(out_shape: tuple[int, ...], *terms: Any) -> Any:
    """The sum of tangent terms, each broadcast to out_shape (Zeros left out; one is not)."""
    live = [broadcast(t, out_shape) for t in terms if not isinstance(t, Zero)]
    total = live[0]
    for t in live[1:]:
        total = add(total, t)
    return total


defjvp_unary(P.neg_p, lambda x, y: -1)
defjvp_unary(P.exp_p, lambda x, y: y)
defjvp_unary(P.log_p, lambda x, y: div(1, x))
defjvp_unary(P.log1p_p, lambda x, y: div(1, add(x, 1)))
defjvp_unary(P.expm1_p, lambda x, y: add(y, 1))
defjvp_unary(P.sin_p, lambda x, y: cos(x))
defjvp_unary(P.cos_p, lambda x, y: neg(sin(x)))
defjvp_unary(P.tan_p, lambda x, y: add(1, mul(y, y)))
defjvp_unary(P.tanh_p, lambda x, y: sub(1, mul(y, y)))
defjvp_unary(P.logistic_p, lambda x, y: mul(y, sub(1, y)))
defjvp_unary(P.sqrt_p, lambda x, y: div(0.5, y))
defjvp_unary(P.rsqrt_p, lambda x, y: mul(-0.5, div(y, x)))


def _abs_jvp(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    if not type_of(x).dtype.is_complex:
        return ops.abs(x), mul(x_dot, ops.sign(x))
    # d|z| = Re(conj(z) dz) / |z| = Re(conj(sign z) dz); 0 at z = 0, where sign z = 0
    return ops.abs(x), ops.real(mul(ops.conj(ops.sign(x)), x_dot))


def _sign_jvp(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    s = ops.sign(x)
    if not type_of(x).dtype.is_complex:
        return s, Zero(type_of(s))  # piecewise constant
    # s = z / |z|: ds = (dz - s Re(conj(s) dz)) / |z|, taken as 0 at z = 0 (|z| -> 1 there)
    magnitude = ops.abs(x)
    radial = ops.convert(ops.real(mul(ops.conj(s), x_dot)), type_of(x).dtype)
    safe = ops.select(ops.eq(magnitude, 0.0), ops.lit(1, magnitude), magnitude)
    return s, div(sub(x_dot, mul(s, radial)), ops.convert(safe, type_of(x).dtype))


jvp_rules[P.abs_p] = _abs_jvp
jvp_rules[P.sign_p] = _sign_jvp

defjvp_binary(P.add_p, None, None)
defjvp_binary(P.sub_p, None, lambda x, y, z: -1)
defjvp_binary(P.mul_p, lambda x, y, z: y, lambda x, y, z: x)
defjvp_binary(P.div_p, lambda x, y, z: div(1, y), lambda x, y, z: neg(div(z, y)))
defjvp_binary(P.rem_p, None, lambda x, y, z: neg(ops.round(div(sub(x, z), y))))
defjvp_binary(P.atan2_p, lambda x, y, z: div(y, add(mul(x, x), mul(y, y))),
              lambda x, y, z: neg(div(x, add(mul(x, x), mul(y, y)))))
# x**y: y * x**(y-1), with the exponent y-1 taken as 0 where y == 0 so that x**0 has derivative
# 0 * x**0 = 0 at x = 0 too (not 0 * inf), at every order; log(x) is taken as 0 where x == 0.
defjvp_binary(P.pow_p, lambda x, y, z: mul(y, ops.pow(x, sub(select(eq(y, 0), 1, y), 1))),
              lambda x, y, z: select(eq(x, 0), 0, mul(z, log(select(eq(x, 0), 1, x)))))


def _wins(mask: Any, ties: Any, like: Any) -> Any:
    """1 where mask holds, 1/2 on ties: how max/min pass derivatives (ties split, as in JAX)."""
    dtype = type_of(like).dtype
    return add(convert(mask, dtype), mul(convert(ties, dtype), 0.5))


defjvp_binary(P.max_p, lambda x, y, z: _wins(gt(x, y), eq(x, y), z),
              lambda x, y, z: _wins(gt(y, x), eq(x, y), z))
defjvp_binary(P.min_p, lambda x, y, z: _wins(lt(x, y), eq(x, y), z),
              lambda x, y, z: _wins(lt(y, x), eq(x, y), z))


def _integer_pow_jvp(primals, tangents, *, y):
    (x,), (x_dot,) = primals, tangents
    out = integer_pow(x, y=y)
    if y == 0:  # x**0 == 1 everywhere, also at x == 0
        return out, Zero(type_of(out))
    if y == 1:
        return out, x_dot
    return out, mul(x_dot, mul(y, x if y == 2 else integer_pow(x, y=y - 1)))


jvp_rules[P.integer_pow_p] = _integer_pow_jvp


def _select_jvp(primals, tangents):
    (pred, a, b), (_, a_dot, b_dot) = primals, tangents
    out = select(pred, a, b)
    t = type_of(out)
    return out, select(pred, broadcast(instantiate(a_dot, t), t.shape),
                       broadcast(instantiate(b_dot, t), t.shape))


jvp_rules[P.select_p] = _select_jvp


def _convert_jvp(primals, tangents, *, new_dtype):
    (x,), (x_dot,) = primals, tangents
    out = convert_element_type(x, new_dtype=new_dtype)
    if not (type_of(x).dtype.is_inexact and type_of(out).dtype.is_inexact):
        return out, Zero(type_of(out))
    return out, convert_element_type(x_dot, new_dtype=new_dtype)


jvp_rules[P.convert_element_type_p] = _convert_jvp

zero_derivative.update([
    P.floor_p, P.ceil_p, P.round_p, P.not_p, P.and_p, P.or_p, P.xor_p,
    P.eq_p, P.ne_p, P.lt_p, P.le_p, P.gt_p, P.ge_p, P.argmax_p, P.argmin_p, P.iota_p,
    P.stop_gradient_p,
])
zero_derivative.update([  # integer bit operations (dtypes area): integers carry no tangent
    P.shift_left_p, P.shift_right_logical_p, P.shift_right_arithmetic_p,
    P.population_count_p, P.clz_p,
])


# ---------------------------------------------------------------------------------------------
# Rules: structural primitives that are linear in some operands, reductions, contraction
# ---------------------------------------------------------------------------------------------

def deflinear(prim: Primitive, linear_args: Sequence[int]) -> None:
    """prim is linear in the operands at `linear_args`: its tangent is prim of their tangents."""
    def rule(primals, tangents, **params):
        out = bind(prim, *primals, **params)
        args = [instantiate(tangents[i]) if i in linear_args else p
                for i, p in enumerate(primals)]
        return out, bind(prim, *args, **params)
    jvp_rules[prim] = rule


for _prim in (P.broadcast_in_dim_p, P.reshape_p, P.transpose_p, P.slice_p, P.reduce_sum_p,
              P.gather_p, P.dynamic_slice_p):
    deflinear(_prim, (0,))
deflinear(P.pad_p, (0, 1))
deflinear(P.scatter_add_p, (0, 2))
deflinear(P.dynamic_update_slice_p, (0, 1))


def _concatenate_jvp(primals, tangents, *, dimension):
    out = concatenate(*primals, dimension=dimension)
    return out, concatenate(*map(instantiate, tangents), dimension=dimension)


jvp_rules[P.concatenate_p] = _concatenate_jvp


def _dot_general_jvp(primals, tangents, *, dimension_numbers):
    (x, y), (x_dot, y_dot) = primals, tangents
    out = dot_general(x, y, dimension_numbers=dimension_numbers)
    terms = []
    if not isinstance(x_dot, Zero):
        terms.append(dot_general(x_dot, y, dimension_numbers=dimension_numbers))
    if not isinstance(y_dot, Zero):
        terms.append(dot_general(x, y_dot, dimension_numbers=dimension_numbers))
    return out, sum_tangents(type_of(out).shape, *terms)


jvp_rules[P.dot_general_p] = _dot_general_jvp


def _reduce_chosen_jvp(prim: Primitive) -> Callable:
    """reduce_max/min: the tangent of the chosen element; ties share it evenly."""
    def rule(primals, tangents, *, axes):
        (x,), (x_dot,) = primals, tangents
        y = bind(prim, x, axes=axes)
        chosen = convert(eq(x, broadcast_to_kept(y, type_of(x), axes)), type_of(x).dtype)
        return y, div(reduce_sum(mul(x_dot, chosen), axes), reduce_sum(chosen, axes))
    return rule


jvp_rules[P.reduce_max_p] = _reduce_chosen_jvp(P.reduce_max_p)
jvp_rules[P.reduce_min_p] = _reduce_chosen_jvp(P.reduce_min_p)


def _reduce_prod_jvp(primals, tangents, *, axes):
    """The product rule applied over a pairwise product tree: no division by the elements, so
    it is exact where they are zero, at every order of differentiation (as in JAX)."""
    (x,), (x_dot,) = primals, tangents
    kept = [d for i, d in enumerate(type_of(x).shape) if i not in axes]
    _, y_dot = _product_tree(_reduced_axes_first(x, axes), _reduced_axes_first(x_dot, axes))
    return reduce_prod(x, axes=axes), reshape(y_dot, new_sizes=tuple(kept))


def _reduced_axes_first(x: Any, axes: Sequence[int]) -> Any:
    """x with the reduced axes moved to the front and merged: shape (n, *kept)."""
    t = type_of(x)
    kept = [i for i in range(t.ndim) if i not in axes]
    moved = ops.transpose(x, permutation=tuple(axes) + tuple(kept))
    n = int(np.prod([t.shape[a] for a in axes]))
    return reshape(moved, new_sizes=(n,) + tuple(t.shape[i] for i in kept))


def _product_tree(p: Any, p_dot: Any) -> tuple[Any, Any]:
    """(prod, its tangent) over axis 0, multiplying neighbours pairwise: (ab)' = a'b + ab'."""
    if type_of(p).shape[0] == 0:  # no factors: the product is 1, its tangent 0
        p, p_dot = _append_row(p, 1), _append_row(p_dot, 0)
    while (n := type_of(p).shape[0]) > 1:
        if n % 2:  # an odd count: one more factor 1, with tangent 0
            p, p_dot = _append_row(p, 1), _append_row(p_dot, 0)
        (a, b), (a_dot, b_dot) = _even_odd_rows(p), _even_odd_rows(p_dot)
        p, p_dot = mul(a, b), add(mul(a_dot, b), mul(a, b_dot))
    return p, p_dot


def _append_row(x: Any, value: float) -> Any:
    config = ((0, 1, 0),) + ((0, 0, 0),) * (type_of(x).ndim - 1)
    return pad(x, value, padding_config=config)


def _even_odd_rows(x: Any) -> tuple[Any, Any]:
    t = type_of(x)
    rest = (0,) * (t.ndim - 1)
    strides = (2,) + (1,) * (t.ndim - 1)
    return tuple(ops.slice(x, start_indices=(first,) + rest, limit_indices=t.shape,
                           strides=strides) for first in (0, 1))


jvp_rules[P.reduce_prod_p] = _reduce_prod_jvp


# ---------------------------------------------------------------------------------------------
# Rules: control flow and custom rules
# ---------------------------------------------------------------------------------------------

def _nonzero(tangents: Sequence[Any]) -> list[bool]:
    return [not isinstance(t, Zero) for t in tangents]


def _types(values: Sequence[Any]) -> list[TensorType]:
    return [type_of(v) for v in values]


def _float_flags(types: Sequence[TensorType]) -> list[bool]:
    return [has_tangent(t) for t in types]


def _split_outputs(out_types: Sequence[TensorType], outs: Sequence[Any]) -> tuple[list, list]:
    """A JVP'd call's results (primal outputs, then float tangents) as (primals, tangents)."""
    primals, given = split_list(outs, [len(out_types)])
    return primals, with_zeros(_float_flags(out_types), given, out_types)


def _cond_jvp(primals, tangents, *, branches):
    (index, operands), (_, operands_dot) = cond_operands(primals), cond_operands(tangents)
    nonzero = _nonzero(operands_dot)
    outs = bind(P.cond_p, index, *operands, *given_tangents(operands_dot, nonzero),
                branches=tuple(jvp_function(b, nonzero) for b in branches))
    return _split_outputs(branches[0].out_types, outs)


jvp_rules[P.cond_p] = _cond_jvp


def _carry_nonzero(carry: Sequence[Any], tangents: Sequence[Any]) -> list[bool]:
    """Float carries get tangents whenever anything is perturbed: the loop mixes everything."""
    perturbed = any(_nonzero(tangents))
    return [perturbed and has_tangent(t) for t in _types(carry)]


def _scan_jvp(primals, tangents, *, body, length, num_consts, num_carry, reverse):
    consts, carry, xs = scan_operands(primals, num_consts, num_carry)
    consts_dot, carry_dot, xs_dot = scan_operands(tangents, num_consts, num_carry)
    consts_nz, carry_nz, xs_nz = _nonzero(consts_dot), _carry_nonzero(carry, tangents), \
        _nonzero(xs_dot)
    ys_nz = _float_flags(scan_results(body.out_types, num_carry)[1])
    jvp_body = jvp_function_grouped(body, [num_consts, num_carry], consts_nz + carry_nz + xs_nz,
                                    [num_carry], carry_nz + ys_nz)
    outs = bind(P.scan_p, *consts, *given_tangents(consts_dot, consts_nz),
                *carry, *given_tangents(carry_dot, carry_nz), *xs, *given_tangents(xs_dot, xs_nz),
                body=jvp_body, length=length, num_consts=num_consts + sum(consts_nz),
                num_carry=num_carry + sum(carry_nz), reverse=reverse)
    carry_out, carry_out_dot, ys, ys_dot = split_list(outs, [num_carry, sum(carry_nz), len(ys_nz)])
    return carry_out + ys, (with_zeros(carry_nz, carry_out_dot, _types(carry_out))
                            + with_zeros(ys_nz, ys_dot, _types(ys)))


jvp_rules[P.scan_p] = _scan_jvp


def _while_jvp(primals, tangents, *, cond_fun, body_fun, cond_nconsts, body_nconsts):
    cond_consts, body_consts, carry = while_operands(primals, cond_nconsts, body_nconsts)
    _, body_consts_dot, carry_dot = while_operands(tangents, cond_nconsts, body_nconsts)
    body_consts_nz, carry_nz = _nonzero(body_consts_dot), _carry_nonzero(carry, tangents)
    jvp_body = jvp_function_grouped(body_fun, [body_nconsts], body_consts_nz + carry_nz, [],
                                    carry_nz)
    carry_dot_types = [t for t, nz in zip(_types(carry), carry_nz) if nz]
    # cond_fun sees the carry's primals and ignores its tangents
    jvp_cond = Function(list(cond_fun.inputs) + [Var(t) for t in carry_dot_types],
                        cond_fun.consts, cond_fun.eqns, cond_fun.outputs)
    body_consts_given = given_tangents(body_consts_dot, body_consts_nz)
    outs = bind(P.while_p, *cond_consts, *body_consts, *body_consts_given,
                *carry, *given_tangents(carry_dot, carry_nz), cond_fun=jvp_cond,
                body_fun=jvp_body, cond_nconsts=cond_nconsts,
                body_nconsts=body_nconsts + len(body_consts_given))
    carry_out, carry_out_dot = split_list(outs, [len(carry)])
    return carry_out, with_zeros(carry_nz, carry_out_dot, _types(carry_out))


jvp_rules[P.while_p] = _while_jvp


def _custom_jvp_call_jvp(primals, tangents, *, call, jvp, num_consts):
    float_inputs = [i for i in range(num_consts, len(primals)) if has_tangent(type_of(primals[i]))]
    given = [instantiate(tangents[i]) for i in float_inputs]
    outs = apply_function(jvp.function(), *primals, *given)
    return _split_outputs(call.out_types, outs)


jvp_rules[P.custom_jvp_call_p] = _custom_jvp_call_jvp

def _custom_vjp_call_jvp(primals, tangents, *, call, fwd, bwd, num_res, num_consts):
    outs_res = apply_function(fwd, *primals)
    n = len(call.outputs)
    outs, res = outs_res[:n], outs_res[n:]
    float_inputs = [i for i in range(num_consts, len(primals)) if has_tangent(type_of(primals[i]))]
    given = [instantiate(tangents[i]) for i in float_inputs]
    float_outs = tuple(v.type for v in call.outputs if has_tangent(v.type))
    t_outs = bind(P.custom_lin_p, *res, *given, bwd=bwd, num_res=num_res, out_types=float_outs)
    t_it = iter(t_outs)
    return list(outs), [next(t_it) if has_tangent(v.type) else Zero(v.type) for v in call.outputs]


jvp_rules[P.custom_vjp_call_p] = _custom_vjp_call_jvp


def _custom_lin_jvp(primals, tangents, *, bwd, num_res, out_types):
    """Linear in its tangent operands; the residuals' own perturbation is not modelled."""
    res, ts = primals[:num_res], tangents[num_res:]
    out = bind(P.custom_lin_p, *primals, bwd=bwd, num_res=num_res, out_types=out_types)
    t_out = bind(P.custom_lin_p, *res, *map(instantiate, ts), bwd=bwd, num_res=num_res,
                 out_types=out_types)
    return out, t_out


jvp_rules[P.custom_lin_p] = _custom_lin_jvp


def differentiable(prim: Primitive) -> bool:
    return prim in jvp_rules or prim in zero_derivative


# =============================================================================================
# numpy area: JVP rules of the primitives dualjit.numpy added (math, scans, sort, search)
# =============================================================================================

defjvp_unary(P.asin_p, lambda x, y: rsqrt(mul(sub(1, x), add(1, x))))
defjvp_unary(P.acos_p, lambda x, y: neg(rsqrt(mul(sub(1, x), add(1, x)))))
defjvp_unary(P.atan_p, lambda x, y: div(1, add(1, mul(x, x))))
defjvp_unary(P.asinh_p, lambda x, y: rsqrt(add(1, mul(x, x))))
defjvp_unary(P.acosh_p, lambda x, y: rsqrt(mul(sub(x, 1), add(x, 1))))
defjvp_unary(P.atanh_p, lambda x, y: div(1, mul(sub(1, x), add(1, x))))
defjvp_unary(P.sinh_p, lambda x, y: cosh(x))
defjvp_unary(P.cosh_p, lambda x, y: sinh(x))
defjvp_unary(P.cbrt_p, lambda x, y: div(1 / 3, mul(y, y)))
defjvp_unary(P.exp2_p, lambda x, y: mul(y, math.log(2)))
defjvp_unary(P.log2_p, lambda x, y: div(1 / math.log(2), x))
defjvp_unary(P.log10_p, lambda x, y: div(1 / math.log(10), x))
# hypot(x, y) = h: dh = (x dx + y dy) / h, with the subgradient 0 at the origin (abs'(0) = 0)
defjvp_binary(P.hypot_p, lambda x, y, h: div(x, select(eq(h, 0), 1, h)),
              lambda x, y, h: div(y, select(eq(h, 0), 1, h)))


def _copysign_jvp(primals, tangents):
    # copysign(x, y) = |x| with y's sign: d/dx = +-1 by the two sign bits, d/dy = 0
    (x, y), (x_dot, _) = primals, tangents
    out = copysign(x, y)
    if isinstance(x_dot, Zero):
        return out, Zero(type_of(out))
    flip = mul(copysign(1, x), copysign(1, y))
    return out, broadcast(mul(x_dot, flip), type_of(out).shape)


jvp_rules[P.copysign_p] = _copysign_jvp


# nextafter steps to an adjacent float: piecewise constant, like floor and round.
zero_derivative.add(P.nextafter_p)


def _ldexp_jvp(primals, tangents):
    (x, n), (x_dot, _) = primals, tangents
    out = ldexp(x, n)
    if isinstance(x_dot, Zero):
        return out, Zero(type_of(out))
    return out, ldexp(broadcast(x_dot, type_of(out).shape), n)


jvp_rules[P.ldexp_p] = _ldexp_jvp


def _frexp_jvp(primals, tangents):
    # x = m * 2**e with e piecewise constant: dm = dx * 2**-e
    (x,), (x_dot,) = primals, tangents
    m, e = frexp(x)
    return [m, e], [ldexp(x_dot, neg(e)), Zero(type_of(e))]


jvp_rules[P.frexp_p] = _frexp_jvp
zero_derivative.add(P.searchsorted_p)


# Scans and sorting. `previous` shifts along the scan direction; `take_along` gathers one
# element per position along an axis (numpy's take_along_axis), written with primitives.

def previous(x: Any, fill: float, *, axis: int, reverse: bool) -> Any:
    """x shifted one step along the scan direction, `fill` entering at the start."""
    config = [(0, 0, 0)] * type_of(x).ndim
    config[axis] = (0, 0, 0) if type_of(x).shape[axis] == 0 else ((-1, 1, 0) if reverse
                                                                 else (1, -1, 0))
    return pad(x, fill, padding_config=tuple(config))


def take_along(x: Any, index: Any, axis: int) -> Any:
    """out[..., i, ...] = x[..., index[..., i, ...], ...] (index shaped like x)."""
    t = type_of(x)
    strides = [int(np.prod(t.shape[d + 1:])) for d in range(t.ndim)]
    flat = mul(convert(index, DType.int64), np.int64(strides[axis]))
    for d in range(t.ndim):
        if d != axis and t.shape[d] > 1:
            ramp = iota(dtype=DType.int64, shape=t.shape, dimension=d)
            flat = add(flat, mul(ramp, np.int64(strides[d])))
    return gather(reshape(x, new_sizes=(t.size,)), flat, axis=0)


deflinear(P.cumsum_p, (0,))


def _cumprod_jvp(primals, tangents, *, axis, reverse):
    # y[i] = x[i] * y[i-1], so y_dot[i] = x[i] * y_dot[i-1] + x_dot[i] * y[i-1]: exact at zeros
    (x,), (x_dot,) = primals, tangents
    y = cumprod(x, axis=axis, reverse=reverse)
    drive = mul(x_dot, previous(y, 1, axis=axis, reverse=reverse))
    return y, linear_recurrence(x, drive, axis=axis, reverse=reverse)


jvp_rules[P.cumprod_p] = _cumprod_jvp


def _linear_recurrence_jvp(primals, tangents, *, axis, reverse):
    # z[i] = a[i] z[i-1] + b[i]: z_dot[i] = a[i] z_dot[i-1] + (a_dot[i] z[i-1] + b_dot[i])
    (a, b), (a_dot, b_dot) = primals, tangents
    z = linear_recurrence(a, b, axis=axis, reverse=reverse)
    drive = [] if isinstance(b_dot, Zero) else [b_dot]
    if not isinstance(a_dot, Zero):
        drive.append(mul(a_dot, previous(z, 0, axis=axis, reverse=reverse)))
    drive = drive[0] if len(drive) == 1 else add(*drive)
    return z, linear_recurrence(a, drive, axis=axis, reverse=reverse)


jvp_rules[P.linear_recurrence_p] = _linear_recurrence_jvp


def _running_extreme_jvp(prim: Primitive):
    """cummax/cummin: each output's tangent is that of the element holding the running
    extreme (on ties, the latest one along the scan)."""
    def rule(primals, tangents, *, axis, reverse):
        (x,), (x_dot,) = primals, tangents
        y = bind(prim, x, axis=axis, reverse=reverse)
        t = type_of(x)
        holds = or_(eq(x, y), ne(x, x))
        ramp = iota(dtype=DType.int64, shape=t.shape, dimension=axis)
        never = np.int64(t.shape[axis] if reverse else -1)
        latest = P.cummin_p if reverse else P.cummax_p  # the latest holder along the scan
        source = bind(latest, select(holds, ramp, never), axis=axis, reverse=reverse)
        return y, take_along(x_dot, source, axis)
    return rule


jvp_rules[P.cummax_p] = _running_extreme_jvp(P.cummax_p)
jvp_rules[P.cummin_p] = _running_extreme_jvp(P.cummin_p)


def _sort_jvp(primals, tangents, *, axis, num_keys):
    # Sort a position ramp along: the permutation carries every operand's tangent.
    t = type_of(primals[0])
    ramp = iota(dtype=DType.int64, shape=t.shape, dimension=axis)
    *outs, order = sort( *primals, ramp, axis=axis, num_keys=num_keys)
    outs_dot = [t_in if isinstance(t_in, Zero) else take_along(t_in, order, axis)
                for t_in in tangents]
    return outs, outs_dot


jvp_rules[P.sort_p] = _sort_jvp


# =============================================================================================
# Linear algebra (linalg): the factorizations and the triangular solve, as matrix formulas.
# Each rule reads only the triangle its primitive reads, so it is exact for any input.
# =============================================================================================

def _mT(x):
    """The matrix transpose of a stack of matrices."""
    nd = type_of(x).ndim
    return bind(P.transpose_p, x, permutation=tuple(range(nd - 2)) + (nd - 1, nd - 2))


def _mH(x):
    """The conjugate transpose of a stack of matrices (the transpose of real ones)."""
    return bind(P.conj_p, _mT(x)) if type_of(x).dtype.is_complex else _mT(x)


def _real_part(x):
    return bind(P.real_p, x) if type_of(x).dtype.is_complex else x


def _like(x, y):
    """Real x in y's (maybe complex) dtype."""
    return convert(x, type_of(y).dtype) if type_of(x).dtype is not type_of(y).dtype else x


def _matmul(x, y):
    """x @ y for stacks of matrices with equal batch dimensions."""
    nd = type_of(x).ndim
    batch = tuple(range(nd - 2))
    return bind(P.dot_general_p, x, y, dimension_numbers=(((nd - 1,), (nd - 2,)), (batch, batch)))


def _row_col(shape):
    """Row and column index of every element of a stack of matrices of `shape` (int32)."""
    nd = len(shape)
    return (bind(P.iota_p, dtype=DType.int32, shape=tuple(shape), dimension=nd - 2),
            bind(P.iota_p, dtype=DType.int32, shape=tuple(shape), dimension=nd - 1))


def _band(x, keep):
    """x where keep(row, col) holds, 0 elsewhere."""
    row, col = _row_col(type_of(x).shape)
    return select(keep(row, col), x, lit(0, x))


def _tril(x, k=0):
    return _band(x, lambda row, col: bind(P.le_p, col, add(row, np.int32(k))))


def _triu(x, k=0):
    return _band(x, lambda row, col: bind(P.ge_p, col, add(row, np.int32(k))))


def _diagonal_part(x):
    return _band(x, lambda row, col: bind(P.eq_p, row, col))


def _eye(shape, dtype, from_row=0):
    """Ones on the diagonal from row `from_row` on, for a stack of matrices of `shape`."""
    row, col = _row_col(shape)
    on = bind(P.and_p, bind(P.eq_p, row, col), bind(P.ge_p, row, np.int32(from_row)))
    return convert(on, dtype)


def _symmetric_from_lower(x):
    """The symmetric (complex: Hermitian) matrix whose lower triangle is x's: what cholesky
    and eigh read."""
    return add(_tril(x), _mH(_tril(x, -1)))


def _spread(v, shape, axis):
    """A stack of vectors v [..., k] broadcast along matrix axis `axis` (-1: v[j], -2: v[i])."""
    nd = len(shape)
    dims = tuple(range(nd - 2)) + (nd + axis,)
    return bind(P.broadcast_in_dim_p, v, shape=tuple(shape), broadcast_dimensions=dims)


def _off_diagonal_reciprocal(gaps):
    """1 / gaps off the diagonal, 0 on it (gaps[i, j] = 0 off the diagonal gives inf)."""
    t = type_of(gaps)
    on_diagonal = bind(P.eq_p, *_row_col(t.shape))
    return select(on_diagonal, lit(0, gaps), div(lit(1, gaps), select(on_diagonal, lit(1, gaps),
                                                                     gaps)))


def _solve(a, b, *, left_side, lower, transpose_a=False, unit_diagonal=False):
    return bind(P.triangular_solve_p, a, b, left_side=left_side, lower=lower,
                transpose_a=transpose_a, unit_diagonal=unit_diagonal)


# The blocked Cholesky tangent: blocks of at least CHOLESKY_BLOCK rows, at most
# CHOLESKY_BLOCKS of them (more blocks save little arithmetic but lengthen the program: at
# n = 1024, 8 blocks run no faster than 4 and take twice as long to compile).
CHOLESKY_BLOCK, CHOLESKY_BLOCKS = 128, 4


def _cholesky_jvp(primals, tangents):
    (a,), (a_dot,) = primals, tangents
    chol = bind(P.cholesky_p, a)
    a_dot = _symmetric_from_lower(a_dot)
    n = type_of(a).shape[-1]
    if n < 2 * CHOLESKY_BLOCK:
        return chol, _cholesky_tangent(chol, a_dot)
    count = min(CHOLESKY_BLOCKS, n // CHOLESKY_BLOCK)
    edges = [round(i * n / count) for i in range(count + 1)]
    return chol, _cholesky_tangent_blocked(chol, a_dot, edges)


def _cholesky_tangent(chol, a_dot):
    # A = L L^T  =>  L_dot = L Phi(L^-1 A_dot L^-T), Phi: lower triangle, diagonal halved
    left = _solve(chol, a_dot, left_side=True, lower=True)
    inner = _solve(chol, left, left_side=False, lower=True, transpose_a=True)
    phi = add(_tril(inner, -1), mul(_diagonal_part(inner), lit(0.5, inner)))
    return _triangular_product(chol, phi, left_side=True, lower=True)


def _cholesky_tangent_blocked(chol, a_dot, edges):
    """L_dot by block columns J, right-looking as the factorization itself: with B the rows
    below J and S the trailing part of A_dot (updated as A is), L_JJ's tangent is the formula
    above on S_JJ, L_BJ L_JJ^T = S_BJ gives L_BJ_dot = (S_BJ - L_BJ L_JJ_dot^T) L_JJ^-T, and
    S_BB -= X + X^T with X = L_BJ_dot L_BJ^T. About n^3/3 multiply-adds, mostly products,
    where the formula above takes 3n^3/2 in triangular solves and products (and so do their
    transposes, reverse mode's blocked Cholesky derivative)."""
    n = edges[-1]
    panels, trailing = [], a_dot
    for j0, j1 in zip(edges, edges[1:]):
        width = j1 - j0
        l_jj = _block(chol, j0, j1, j0, j1)
        d_jj = _cholesky_tangent(l_jj, _block(trailing, 0, width, 0, width))
        if j1 == n:
            panels.append(_pad_rows(d_jj, j0))
            break
        l_bj = _block(chol, j1, n, j0, j1)
        s_bj = _block(trailing, width, n - j0, 0, width)
        d_bj = _solve(l_jj, sub(s_bj, _matmul_t(l_bj, d_jj)), left_side=False, lower=True,
                      transpose_a=True)
        x = _matmul_t(d_bj, l_bj)
        trailing = sub(_block(trailing, width, n - j0, width, n - j0), add(x, _mT(x)))
        panels.append(_pad_rows(concatenate(d_jj, d_bj, dimension=type_of(d_jj).ndim - 2), j0))
    return concatenate(*panels, dimension=type_of(chol).ndim - 1)


def _block(x, r0, r1, c0, c1):
    """x[..., r0:r1, c0:c1]."""
    t = type_of(x)
    batch = t.shape[:-2]
    return bind(P.slice_p, x, start_indices=(0,) * len(batch) + (r0, c0),
                limit_indices=batch + (r1, c1), strides=(1,) * t.ndim)


def _pad_rows(x, rows):
    """x with `rows` zero rows above it."""
    nd = type_of(x).ndim
    config = tuple((rows if i == nd - 2 else 0, 0, 0) for i in range(nd))
    return pad(x, lit(0, x), padding_config=config)


def _matmul_t(x, y):
    """x @ y^T for stacks of matrices (one product, y read in place)."""
    nd = type_of(x).ndim
    batch = tuple(range(nd - 2))
    return bind(P.dot_general_p, x, y, dimension_numbers=(((nd - 1,), (nd - 1,)), (batch, batch)))


jvp_rules[P.cholesky_p] = _cholesky_jvp


def _triangular_solve_jvp(primals, tangents, **params):
    # op(A) X = B  =>  op(A) X_dot = B_dot - op(A_dot) X   (left side; mirrored on the right)
    (a, b), (a_dot, b_dot) = primals, tangents
    x = bind(P.triangular_solve_p, a, b, **params)
    rhs = None if isinstance(b_dot, Zero) else b_dot
    if not isinstance(a_dot, Zero):
        skip_diagonal = 1 if params["unit_diagonal"] else 0
        a_dot = (_tril(a_dot, -skip_diagonal) if params["lower"]
                 else _triu(a_dot, skip_diagonal))
        op_a_dot = _mT(a_dot) if params["transpose_a"] else a_dot
        term = _matmul(op_a_dot, x) if params["left_side"] else _matmul(x, op_a_dot)
        rhs = neg(term) if rhs is None else sub(rhs, term)
    return x, bind(P.triangular_solve_p, a, rhs, **params)


jvp_rules[P.triangular_solve_p] = _triangular_solve_jvp


def _triangular_product(a, b, *, left_side, lower, transpose_a=False, unit_diagonal=False):
    return bind(P.triangular_product_p, a, b, left_side=left_side, lower=lower,
                transpose_a=transpose_a, unit_diagonal=unit_diagonal)


def _triangular_product_jvp(primals, tangents, **params):
    # op(T) B is bilinear: d = op(T_dot) B + op(T) B_dot, T_dot without a unit diagonal
    (a, b), (a_dot, b_dot) = primals, tangents
    terms = []
    if not isinstance(a_dot, Zero):
        terms.append(_triangular_product(a_dot, b, **{**params, "unit_diagonal": False})
                     if not params["unit_diagonal"] else _triangular_product(
                         _tril(a_dot, -1) if params["lower"] else _triu(a_dot, 1), b,
                         **{**params, "unit_diagonal": False}))
    if not isinstance(b_dot, Zero):
        terms.append(_triangular_product(a, b_dot, **params))
    out = _triangular_product(a, b, **params)
    return out, (terms[0] if len(terms) == 1 else add(*terms)) if terms else Zero(type_of(out))


jvp_rules[P.triangular_product_p] = _triangular_product_jvp


def _permute_rows(x, permutation):
    """x[..., permutation[...], :]: one gather on the flattened stack."""
    t = type_of(x)
    m, n = t.shape[-2:]
    if t.ndim == 2:
        return bind(P.gather_p, x, permutation, axis=0)
    stack = int(np.prod(t.shape[:-2]))
    flat = bind(P.reshape_p, x, new_sizes=(stack * m, n))
    offsets = mul(bind(P.iota_p, dtype=DType.int32, shape=(stack, m), dimension=0), np.int32(m))
    rows = add(bind(P.reshape_p, permutation, new_sizes=(stack, m)), offsets)
    return bind(P.reshape_p, bind(P.gather_p, flat, rows, axis=0), new_sizes=t.shape)


def _resize_last(x, size, axis):
    """x's matrix axis `axis` (-1 or -2) cut or zero-padded to `size`."""
    t = type_of(x)
    dim = t.ndim + axis
    have = t.shape[dim]
    if have >= size:
        limits = tuple(size if i == dim else d for i, d in enumerate(t.shape))
        return bind(P.slice_p, x, start_indices=(0,) * t.ndim, limit_indices=limits,
                    strides=(1,) * t.ndim)
    config = tuple((0, size - have if i == dim else 0, 0) for i in range(t.ndim))
    return bind(P.pad_p, x, lit(0, x), padding_config=config)


def _lu_jvp(primals, tangents):
    # P A = L U, L padded to m x m and U to n x n with identity blocks; with
    # X = L^-1 P A_dot U^-1:  L_dot = L tril(X, -1),  U_dot = triu(X) U  (packed like lu)
    (a,), (a_dot,) = primals, tangents
    lu, pivots, permutation = bind(P.lu_p, a)
    lu_dot = _lu_tangent(lu, permutation, a_dot)
    return [lu, pivots, permutation], [lu_dot, Zero(type_of(pivots)), Zero(type_of(permutation))]


def _lu_tangent(lu, permutation, a_dot):
    t = type_of(a_dot)
    m, n = t.shape[-2:]
    batch = t.shape[:-2]
    l_full = add(_tril(_resize_last(lu, m, -1), -1), _eye(batch + (m, m), t.dtype))
    u_full = add(_triu(_resize_last(lu, n, -2)), _eye(batch + (n, n), t.dtype, from_row=m))
    x = _solve(l_full, _permute_rows(a_dot, permutation), left_side=True, lower=True,
               unit_diagonal=True)
    x = _solve(u_full, x, left_side=False, lower=False)
    return add(_matmul(l_full, _tril(x, -1)), _matmul(_triu(x), u_full))


jvp_rules[P.lu_p] = _lu_jvp


def _column_lu_jvp(primals, tangents):
    # column_lu(A) = lu(A^T)^T (pivots and permutation alike): lu's tangent, transposed
    (a,), (a_dot,) = primals, tangents
    lu, pivots, permutation = bind(P.column_lu_p, a)
    lu_dot = _mT(_lu_tangent(_mT(lu), permutation, _mT(a_dot)))
    return [lu, pivots, permutation], [lu_dot, Zero(type_of(pivots)), Zero(type_of(permutation))]


jvp_rules[P.column_lu_p] = _column_lu_jvp
zero_derivative.add(P.lu_pivots_to_permutation_p)


def _eig_jvp(primals, tangents):
    raise TypeError("eig is not differentiable: derivatives of the eigenvalues and "
                    "eigenvectors of a general matrix are not supported (forward only); for "
                    "symmetric matrices use eigh, which is differentiable")


jvp_rules[P.eig_p] = _eig_jvp


def _qr_tangents(q, r, a_dot):
    # A = Q R (m >= n, reduced): C = Q^T A_dot R^-1 = Q^T Q_dot + R_dot R^-1, where Q^T Q_dot
    # is skew-symmetric and R_dot R^-1 upper triangular; split C into those two parts.
    a_dot_r_inv = _solve(r, a_dot, left_side=False, lower=False)
    c = _matmul(_mT(q), a_dot_r_inv)
    skew = sub(_tril(c, -1), _mT(_tril(c, -1)))
    upper = sub(c, skew)
    return sub(a_dot_r_inv, _matmul(q, upper)), _matmul(upper, r)


def _qr_jvp(primals, tangents, *, full_matrices):
    (a,), (a_dot,) = primals, tangents
    q, r = bind(P.qr_p, a, full_matrices=full_matrices)
    t = type_of(a)
    m, n = t.shape[-2:]
    if m >= n:
        if full_matrices and m > n:
            raise NotImplementedError(
                "qr: the derivative of the complete QR decomposition of a tall matrix is not "
                "defined (its last m - n columns of Q are not unique); use mode='reduced'")
        return [q, r], list(_qr_tangents(q, r, a_dot))
    # wide: A = Q [R1 R2] with A1 = Q R1 square, and R2 = Q^T A2
    a2, a2_dot = (_columns(x, m, n) for x in (a, a_dot))
    q_dot, r1_dot = _qr_tangents(q, _columns(r, 0, m), _columns(a_dot, 0, m))
    r2_dot = add(_matmul(_mT(q_dot), a2), _matmul(_mT(q), a2_dot))
    r_dot = bind(P.concatenate_p, r1_dot, r2_dot, dimension=t.ndim - 1)
    return [q, r], [q_dot, r_dot]


def _columns(x, start, stop):
    t = type_of(x)
    return bind(P.slice_p, x, start_indices=(0,) * (t.ndim - 1) + (start,),
                limit_indices=t.shape[:-1] + (stop,), strides=(1,) * t.ndim)


jvp_rules[P.qr_p] = _qr_jvp


def _eigh_jvp(primals, tangents):
    # A = V diag(w) V^H: w_dot = Re diag(V^H A_dot V); V_dot = V (F * V^H A_dot V) with
    # F[i, j] = 1 / (w[j] - w[i]) off the diagonal (infinite for repeated eigenvalues); for
    # complex A, JAX's gauge: V^H V_dot has a zero diagonal
    (a,), (a_dot,) = primals, tangents
    w, v = bind(P.eigh_p, a)
    shape = type_of(a).shape
    a_dot_v = _matmul(_symmetric_from_lower(a_dot), v)
    conj_v = bind(P.conj_p, v) if type_of(v).dtype.is_complex else v
    w_dot = _real_part(bind(P.reduce_sum_p, mul(conj_v, a_dot_v), axes=(len(shape) - 2,)))
    f = _off_diagonal_reciprocal(sub(_spread(w, shape, -1), _spread(w, shape, -2)))
    v_dot = _matmul(v, mul(_like(f, v), _matmul(_mH(v), a_dot_v)))
    return [w, v], [w_dot, v_dot]


jvp_rules[P.eigh_p] = _eigh_jvp


def _svd_jvp(primals, tangents, *, full_matrices, compute_uv):
    # A = U S V^H (reduced), dS = U^H A_dot V: s_dot = Re diag(dS);
    # U_dot = U (F * (dS S + S dS^H) + D) + (I - U U^H) A_dot V S^-1,
    # V_dot = V (F * (S dS + dS^H S)) + (I - V V^H) A_dot^H U S^-1,  F[i,j] = 1/(s_j^2 - s_i^2)
    # D = (dS - dS^H)/2 S^-1 on the diagonal: 0 for real A; for complex A the phase (JAX's
    # gauge, V^H V_dot with a zero imaginary diagonal)
    (a,), (a_dot,) = primals, tangents
    t = type_of(a)
    m, n = t.shape[-2:]
    if compute_uv and full_matrices and m != n:
        raise NotImplementedError(
            "svd: the derivative of the full SVD of a non-square matrix is not defined (the "
            "extra singular vectors are not unique); use full_matrices=False")
    s, u, vt = bind(P.svd_p, a, full_matrices=False, compute_uv=True)
    v = _mH(vt)
    a_dot_v = _matmul(a_dot, v)
    conj_u = bind(P.conj_p, u) if t.dtype.is_complex else u
    s_dot = _real_part(bind(P.reduce_sum_p, mul(conj_u, a_dot_v), axes=(t.ndim - 2,)))
    if not compute_uv:
        return [s], [s_dot]
    ds = _matmul(_mH(u), a_dot_v)
    k_shape = type_of(ds).shape
    s_j, s_i = _spread(s, k_shape, -1), _spread(s, k_shape, -2)
    f = _like(_off_diagonal_reciprocal(mul(sub(s_j, s_i), add(s_j, s_i))), ds)
    s_j, s_i = _like(s_j, ds), _like(s_i, ds)
    u_inner = mul(f, add(mul(ds, s_j), mul(s_i, _mH(ds))))
    if t.dtype.is_complex:
        phase = div(mul(sub(ds, _mH(ds)), lit(0.5, ds)), s_j)
        u_inner = add(u_inner, _diagonal_part(phase))
    u_dot = _matmul(u, u_inner)
    v_dot = _matmul(v, mul(f, add(mul(s_i, ds), mul(_mH(ds), s_j))))
    if m > n:
        u_dot = add(u_dot, _projected_away(u, a_dot_v, s))
    if n > m:
        v_dot = add(v_dot, _projected_away(v, _matmul(_mH(a_dot), u), s))
    return [s, u, vt], [s_dot, u_dot, _mH(v_dot)]


def _projected_away(basis, x, s):
    """(I - basis basis^H) x S^-1: the part of x outside the span of basis, columns over s."""
    outside = sub(x, _matmul(basis, _matmul(_mH(basis), x)))
    return div(outside, _like(_spread(s, type_of(x).shape, -1), x))


jvp_rules[P.svd_p] = _svd_jvp


# =============================================================================================
# Special functions (linalg area): derivatives as formulas
# =============================================================================================

_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)
_SQRT_2PI = math.sqrt(2 * math.pi)

defjvp_unary(P.erf_p, lambda x, y: mul(_TWO_OVER_SQRT_PI, ops.exp(neg(mul(x, x)))))
defjvp_unary(P.erfc_p, lambda x, y: mul(-_TWO_OVER_SQRT_PI, ops.exp(neg(mul(x, x)))))
defjvp_unary(P.erfcx_p, lambda x, y: sub(mul(mul(2, x), y), lit(_TWO_OVER_SQRT_PI, x)))
defjvp_unary(P.erf_inv_p, lambda x, y: mul(math.sqrt(math.pi) / 2, ops.exp(mul(y, y))))
defjvp_unary(P.ndtr_p, lambda x, y: div(ops.exp(mul(-0.5, mul(x, x))), _SQRT_2PI))
defjvp_unary(P.ndtri_p, lambda x, y: mul(_SQRT_2PI, ops.exp(mul(0.5, mul(y, y)))))
defjvp_unary(P.lgamma_p, lambda x, y: ops.digamma(x))
defjvp_unary(P.digamma_p, lambda x, y: ops.polygamma(x, order=1))
# i0e = e^-|x| I0, i1e = e^-|x| I1, with I0' = I1 and I1' = I0 - I1/x (1/2 at 0)
defjvp_unary(P.bessel_i0e_p, lambda x, y: sub(ops.bessel_i1e(x), mul(ops.sign(x), y)))
defjvp_unary(P.bessel_i1e_p, lambda x, y: _bessel_i1e_slope(x, y))


def _bessel_i1e_slope(x, y):
    at_zero = eq(x, lit(0, x))
    over_x = div(y, select(at_zero, lit(1, x), x))
    slope = sub(sub(ops.bessel_i0e(x), mul(ops.sign(x), y)), over_x)
    return select(at_zero, lit(0.5, x), slope)


def _polygamma_jvp(primals, tangents, *, order):
    (x,), (x_dot,) = primals, tangents
    return ops.polygamma(x, order=order), mul(x_dot, ops.polygamma(x, order=order + 1))


jvp_rules[P.polygamma_p] = _polygamma_jvp


# ---------------------------------------------------------------------------------------------
# Rules: complex numbers (complex area). real, imag, conj and complex are linear over the reals.
# ---------------------------------------------------------------------------------------------

for _prim in (P.real_p, P.imag_p, P.conj_p):
    deflinear(_prim, (0,))
deflinear(P.complex_p, (0, 1))
deflinear(P.fft_p, (0,))
