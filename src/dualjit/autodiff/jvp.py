"""Forward mode: the JVP transform of Functions and the JVP rule of every primitive."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..ir import DType, Function, Literal, Primitive, TensorType, Var
from ..ir import primitives as P
from ..ir.core import impl_rules, new_primitive, shape_rules
from ..tracer.core import apply_function, bind, trace_flat
from . import ops
from .ops import add, broadcast, convert, div, lit, mul, neg, select, sub, type_of


class Zero:
    """A symbolic zero tangent: costs nothing until it must be instantiated."""

    __slots__ = ("type",)

    def __init__(self, type: TensorType):
        self.type = type

    def __repr__(self) -> str:
        return f"Zero({self.type})"


def has_tangent(t: TensorType) -> bool:
    return t.dtype.is_float


def instantiate(t: Any) -> Any:
    return ops.zeros(t.type) if isinstance(t, Zero) else t


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


def jvp_function(fn: Function, nonzero: Sequence[bool], instantiate_zeros: bool = True) -> Function:
    """The JVP of fn.

    Inputs: fn.inputs, then one tangent per input marked `nonzero` (float inputs only).
    Outputs: fn.outputs, then one tangent per float output.
    """
    nonzero = [nz and has_tangent(v.type) for nz, v in zip(nonzero, fn.inputs)]
    tangent_types = [v.type for nz, v in zip(nonzero, fn.inputs) if nz]
    n = len(fn.inputs)

    def body(*args):
        primals, given = args[:n], iter(args[n:])
        tangents = [next(given) if nz else Zero(v.type) for nz, v in zip(nonzero, fn.inputs)]
        outs, t_outs = jvp_eval(fn, primals, tangents)
        float_t = [instantiate(t) if instantiate_zeros else t
                   for v, t in zip(fn.outputs, t_outs) if has_tangent(v.type)]
        return list(outs) + float_t

    out, captures = trace_flat(body, fn.in_types + tangent_types)
    assert not captures, "jvp_function of a closed Function captured outer values"
    return out


# ---------------------------------------------------------------------------------------------
# Rules: elementwise
# ---------------------------------------------------------------------------------------------

def _scale(t: Any, factor: Any) -> Any:
    return t if isinstance(t, Zero) else mul(t, factor)


def defjvp_unary(prim: Primitive, derivative: Callable[[Any, Any], Any]) -> None:
    """d prim(x) = derivative(x, y) * x_dot, where y = prim(x)."""
    def rule(primals, tangents):
        (x,), (x_dot,) = primals, tangents
        y = bind(prim, x)
        return y, mul(x_dot, derivative(x, y))
    jvp_rules[prim] = rule


def _sum_tangents(out_shape: tuple[int, ...], *terms: Any) -> Any:
    live = [broadcast(t, out_shape) for t in terms if not isinstance(t, Zero)]
    total = live[0]
    for t in live[1:]:
        total = add(total, t)
    return total


def defjvp_binary(prim: Primitive, dx: Callable | None, dy: Callable | None) -> None:
    """d prim(x, y) = dx(x, y, z) * x_dot + dy(x, y, z) * y_dot (None: that operand's term is 1)."""
    def rule(primals, tangents):
        (x, y), (x_dot, y_dot) = primals, tangents
        z = bind(prim, x, y)
        terms = []
        for t, d in ((x_dot, dx), (y_dot, dy)):
            if isinstance(t, Zero):
                continue
            terms.append(t if d is None else mul(t, d(x, y, z)))
        return z, _sum_tangents(type_of(z).shape, *terms)
    jvp_rules[prim] = rule


def _one_plus(x):
    return add(x, lit(1, x))


defjvp_unary(P.neg_p, lambda x, y: lit(-1, x))
defjvp_unary(P.exp_p, lambda x, y: y)
defjvp_unary(P.log_p, lambda x, y: div(lit(1, x), x))
defjvp_unary(P.log1p_p, lambda x, y: div(lit(1, x), _one_plus(x)))
defjvp_unary(P.expm1_p, lambda x, y: _one_plus(y))
defjvp_unary(P.sin_p, lambda x, y: bind(P.cos_p, x))
defjvp_unary(P.cos_p, lambda x, y: neg(bind(P.sin_p, x)))
defjvp_unary(P.tan_p, lambda x, y: _one_plus(mul(y, y)))
defjvp_unary(P.tanh_p, lambda x, y: sub(lit(1, x), mul(y, y)))
defjvp_unary(P.logistic_p, lambda x, y: mul(y, sub(lit(1, x), y)))
defjvp_unary(P.sqrt_p, lambda x, y: div(lit(0.5, x), y))
defjvp_unary(P.rsqrt_p, lambda x, y: mul(lit(-0.5, x), div(y, x)))
defjvp_unary(P.abs_p, lambda x, y: bind(P.sign_p, x))

defjvp_binary(P.add_p, None, None)
defjvp_binary(P.sub_p, None, lambda x, y, z: lit(-1, y))
defjvp_binary(P.mul_p, lambda x, y, z: y, lambda x, y, z: x)
defjvp_binary(P.div_p, lambda x, y, z: div(lit(1, y), y), lambda x, y, z: neg(div(z, y)))
defjvp_binary(P.rem_p, None,
              lambda x, y, z: neg(bind(P.round_p, div(sub(x, z), y))))
defjvp_binary(P.atan2_p,
              lambda a, b, z: div(b, add(mul(a, a), mul(b, b))),
              lambda a, b, z: neg(div(a, add(mul(a, a), mul(b, b)))))


def _pow_dx(x, y, z):
    # y * x**(y-1), written without dividing by x so x = 0 works
    return mul(y, bind(P.pow_p, x, sub(y, lit(1, y))))


def _pow_dy(x, y, z):
    # z * log(x), with 0**y contributing 0 rather than 0 * -inf = nan
    is_zero = bind(P.eq_p, x, lit(0, x))
    log_x = bind(P.log_p, select(is_zero, lit(1, x), x))
    return select(is_zero, lit(0, z), mul(z, log_x))


defjvp_binary(P.pow_p, _pow_dx, _pow_dy)


def _select_weight(mask, like):
    return convert(mask, type_of(like).dtype)


def _max_min_rule(prim: Primitive, winner: Primitive) -> None:
    """Ties split the derivative evenly between the operands (as JAX does)."""
    def dx(x, y, z):
        wins = _select_weight(bind(winner, x, y), z)
        ties = _select_weight(bind(P.eq_p, x, y), z)
        return add(wins, mul(ties, lit(0.5, z)))

    def dy(x, y, z):
        wins = _select_weight(bind(winner, y, x), z)
        ties = _select_weight(bind(P.eq_p, x, y), z)
        return add(wins, mul(ties, lit(0.5, z)))
    defjvp_binary(prim, dx, dy)


_max_min_rule(P.max_p, P.gt_p)
_max_min_rule(P.min_p, P.lt_p)


def _integer_pow_jvp(primals, tangents, *, y):
    (x,), (x_dot,) = primals, tangents
    out = bind(P.integer_pow_p, x, y=y)
    if y == 0:
        return out, Zero(type_of(out))
    if y == 1:
        return out, x_dot
    power = x if y == 2 else bind(P.integer_pow_p, x, y=y - 1)
    factor = mul(lit(y, x), power)
    return out, mul(x_dot, factor)


jvp_rules[P.integer_pow_p] = _integer_pow_jvp


def _select_jvp(primals, tangents):
    pred, a, b = primals
    _, a_dot, b_dot = tangents
    out = select(pred, a, b)
    t = type_of(out)
    a_dot = ops.zeros(t) if isinstance(a_dot, Zero) else broadcast(a_dot, t.shape)
    b_dot = ops.zeros(t) if isinstance(b_dot, Zero) else broadcast(b_dot, t.shape)
    return out, select(pred, a_dot, b_dot)


jvp_rules[P.select_p] = _select_jvp


def _convert_jvp(primals, tangents, *, new_dtype):
    (x,), (x_dot,) = primals, tangents
    out = bind(P.convert_element_type_p, x, new_dtype=new_dtype)
    if not (type_of(x).dtype.is_float and type_of(out).dtype.is_float):
        return out, Zero(type_of(out))
    return out, bind(P.convert_element_type_p, x_dot, new_dtype=new_dtype)


jvp_rules[P.convert_element_type_p] = _convert_jvp

zero_derivative.update([
    P.sign_p, P.floor_p, P.ceil_p, P.round_p, P.not_p, P.and_p, P.or_p, P.xor_p,
    P.eq_p, P.ne_p, P.lt_p, P.le_p, P.gt_p, P.ge_p, P.argmax_p, P.argmin_p, P.iota_p,
    P.stop_gradient_p,
])


# ---------------------------------------------------------------------------------------------
# Rules: structural primitives that are linear in some operands
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
    out = bind(P.concatenate_p, *primals, dimension=dimension)
    return out, bind(P.concatenate_p, *map(instantiate, tangents), dimension=dimension)


jvp_rules[P.concatenate_p] = _concatenate_jvp


def _dot_general_jvp(primals, tangents, *, dimension_numbers):
    (x, y), (x_dot, y_dot) = primals, tangents
    out = bind(P.dot_general_p, x, y, dimension_numbers=dimension_numbers)
    terms = []
    if not isinstance(x_dot, Zero):
        terms.append(bind(P.dot_general_p, x_dot, y, dimension_numbers=dimension_numbers))
    if not isinstance(y_dot, Zero):
        terms.append(bind(P.dot_general_p, x, y_dot, dimension_numbers=dimension_numbers))
    return out, _sum_tangents(type_of(out).shape, *terms)


jvp_rules[P.dot_general_p] = _dot_general_jvp


def _reduce_chosen_jvp(prim: Primitive) -> Callable:
    """reduce_max/min: the tangent of the chosen element; ties share it evenly."""
    def rule(primals, tangents, *, axes):
        (x,), (x_dot,) = primals, tangents
        y = bind(prim, x, axes=axes)
        t = type_of(x)
        kept = tuple(i for i in range(t.ndim) if i not in axes)
        y_b = bind(P.broadcast_in_dim_p, y, shape=t.shape, broadcast_dimensions=kept)
        mask = convert(bind(P.eq_p, x, y_b), t.dtype)
        count = bind(P.reduce_sum_p, mask, axes=axes)
        picked = bind(P.reduce_sum_p, mul(x_dot, mask), axes=axes)
        return y, div(picked, count)
    return rule


jvp_rules[P.reduce_max_p] = _reduce_chosen_jvp(P.reduce_max_p)
jvp_rules[P.reduce_min_p] = _reduce_chosen_jvp(P.reduce_min_p)


def _reduce_prod_jvp(primals, tangents, *, axes):
    # d prod = sum_i x_dot_i * prod_{j != i} x_j, computed as prod / x_i (nan where x_i == 0)
    (x,), (x_dot,) = primals, tangents
    y = bind(P.reduce_prod_p, x, axes=axes)
    t = type_of(x)
    kept = tuple(i for i in range(t.ndim) if i not in axes)
    y_b = bind(P.broadcast_in_dim_p, y, shape=t.shape, broadcast_dimensions=kept)
    return y, bind(P.reduce_sum_p, mul(x_dot, div(y_b, x)), axes=axes)


jvp_rules[P.reduce_prod_p] = _reduce_prod_jvp


# ---------------------------------------------------------------------------------------------
# Rules: control flow and custom rules
# ---------------------------------------------------------------------------------------------

def _nonzero(tangents: Sequence[Any]) -> list[bool]:
    return [not isinstance(t, Zero) for t in tangents]


def _cond_jvp(primals, tangents, *, branches):
    index, ops_ = primals[0], primals[1:]
    nz = _nonzero(tangents[1:])
    new_branches = tuple(jvp_function(b, nz) for b in branches)
    given = [t for t, z in zip(tangents[1:], nz) if z]
    outs = bind(P.cond_p, index, *ops_, *given, branches=new_branches)
    n = len(branches[0].outputs)
    return _split_outputs(branches[0], outs, n)


def _split_outputs(fn: Function, outs: Sequence[Any], n: int) -> tuple[list, list]:
    primal, tangent_iter = list(outs[:n]), iter(outs[n:])
    tangents = [next(tangent_iter) if has_tangent(v.type) else Zero(v.type)
                for v in fn.outputs]
    return primal, tangents


jvp_rules[P.cond_p] = _cond_jvp


def _reorder_inputs(fn: Function, order: Sequence[int]) -> Function:
    return Function([fn.inputs[i] for i in order], fn.consts, fn.eqns, fn.outputs)


def _reorder_outputs(fn: Function, order: Sequence[int]) -> Function:
    return Function(fn.inputs, fn.consts, fn.eqns, [fn.outputs[i] for i in order])


def _scan_jvp(primals, tangents, *, body, length, num_consts, num_carry, reverse):
    nc, nk = num_consts, num_carry
    n_in = len(primals)
    nz = _nonzero(tangents)
    # Float carries get tangents whenever anything is perturbed: the carry mixes everything.
    any_nz = any(nz)
    for i in range(nc, nc + nk):
        nz[i] = any_nz and has_tangent(type_of(primals[i]))
    jbody = jvp_function(body, nz)
    # jbody inputs: [consts, carry, xs, dconsts, dcarry, dxs]; scan wants consts|carry|xs groups.
    groups = [list(range(0, nc)), list(range(nc, nc + nk)), list(range(nc + nk, n_in))]
    tangent_pos, pos = {}, n_in
    for i in range(n_in):
        if nz[i]:
            tangent_pos[i] = pos
            pos += 1
    order = []
    for g in groups:
        order += g + [tangent_pos[i] for i in g if i in tangent_pos]
    jbody = _reorder_inputs(jbody, order)
    # jbody outputs: [carry_out, ys, dcarry_out (float), dys (float)] -> [carry, dcarry, ys, dys]
    outs_t = body.out_types
    n_out = len(outs_t)
    t_out_pos, pos = {}, n_out
    for i, t in enumerate(outs_t):
        if has_tangent(t):
            t_out_pos[i] = pos
            pos += 1
    carry_idx, ys_idx = list(range(nk)), list(range(nk, n_out))
    out_order = (carry_idx + [t_out_pos[i] for i in carry_idx if i in t_out_pos]
                 + ys_idx + [t_out_pos[i] for i in ys_idx if i in t_out_pos])
    jbody = _reorder_outputs(jbody, out_order)
    carry_t_in = [nz[i] for i in range(nc, nc + nk)]  # == the float carries, as are their outputs
    args = []
    for g in groups:
        args += [primals[i] for i in g] + [instantiate(tangents[i]) for i in g if nz[i]]
    n_dc = sum(carry_t_in)
    outs = bind(P.scan_p, *args, body=jbody, length=length, num_consts=nc + sum(nz[:nc]),
                num_carry=nk + n_dc, reverse=reverse)
    carry, dcarry_it = outs[:nk], iter(outs[nk:nk + n_dc])
    rest = outs[nk + n_dc:]
    ys_types = outs_t[nk:]
    rest_it = iter(rest)
    ys = [next(rest_it) for _ in ys_types]
    dys = [next(rest_it) if has_tangent(t) else Zero(t) for t in ys_types]
    dcarry = [next(dcarry_it) if carry_t_in[i] else Zero(outs_t[i]) for i in range(nk)]
    return list(carry) + ys, dcarry + dys


jvp_rules[P.scan_p] = _scan_jvp


def _while_jvp(primals, tangents, *, cond_fun, body_fun, cond_nconsts, body_nconsts):
    cc, bc = cond_nconsts, body_nconsts
    nz = _nonzero(tangents)
    any_nz = any(nz)
    carry_start = cc + bc
    for i in range(carry_start, len(primals)):
        nz[i] = any_nz and has_tangent(type_of(primals[i]))
    body_nz = nz[cc:]
    jbody = jvp_function(body_fun, body_nz)
    nb = len(primals) - cc  # body inputs: consts + carry
    n_bconst_t = sum(body_nz[:bc])
    carry_t = [i for i in range(bc, nb) if body_nz[i]]
    # jbody inputs [bconsts, carry, dbconsts, dcarry] -> [bconsts, dbconsts, carry, dcarry]
    order = (list(range(bc)) + list(range(nb, nb + n_bconst_t)) + list(range(bc, nb))
             + list(range(nb + n_bconst_t, nb + n_bconst_t + len(carry_t))))
    jbody = _reorder_inputs(jbody, order)
    # cond sees the carry and ignores the tangent part
    dcarry_types = [type_of(primals[cc + i]) for i in carry_t]
    jcond = Function(list(cond_fun.inputs) + [Var(t) for t in dcarry_types], cond_fun.consts,
                     cond_fun.eqns, cond_fun.outputs)
    bconst_t = [tangents[cc + i] for i in range(bc) if body_nz[i]]
    carry_dots = [instantiate(tangents[cc + i]) for i in carry_t]
    outs = bind(P.while_p, *primals[:cc], *primals[cc:cc + bc], *bconst_t,
                *primals[carry_start:], *carry_dots, cond_fun=jcond, body_fun=jbody,
                cond_nconsts=cc, body_nconsts=bc + len(bconst_t))
    n_carry = len(primals) - carry_start
    carry, dit = outs[:n_carry], iter(outs[n_carry:])
    dcarry = [next(dit) if body_nz[bc + i] else Zero(type_of(carry[i])) for i in range(n_carry)]
    return list(carry), dcarry


jvp_rules[P.while_p] = _while_jvp


def _custom_jvp_call_jvp(primals, tangents, *, call, jvp, num_consts):
    float_inputs = [i for i in range(num_consts, len(primals)) if has_tangent(type_of(primals[i]))]
    given = [instantiate(tangents[i]) for i in float_inputs]
    outs = apply_function(jvp.function(), *primals, *given)
    n = len(call.outputs)
    return _split_outputs(call, outs, n)


jvp_rules[P.custom_jvp_call_p] = _custom_jvp_call_jvp

custom_lin_p = new_primitive("custom_lin", multiple_results=True, higher_order=True)
shape_rules[custom_lin_p] = lambda *args, bwd, num_res, out_types: list(out_types)


def _custom_lin_impl(*args, **params):
    raise TypeError("forward-mode differentiation (jvp, jacfwd) of a custom_vjp function is "
                    "not supported: custom_vjp defines only the reverse-mode rule; use "
                    "custom_jvp, or reverse mode (grad, vjp, jacrev)")


impl_rules[custom_lin_p] = _custom_lin_impl


def _custom_vjp_call_jvp(primals, tangents, *, call, fwd, bwd, num_res, num_consts):
    outs_res = apply_function(fwd, *primals)
    n = len(call.outputs)
    outs, res = outs_res[:n], outs_res[n:]
    float_inputs = [i for i in range(num_consts, len(primals)) if has_tangent(type_of(primals[i]))]
    given = [instantiate(tangents[i]) for i in float_inputs]
    float_outs = tuple(v.type for v in call.outputs if has_tangent(v.type))
    t_outs = bind(custom_lin_p, *res, *given, bwd=bwd, num_res=num_res, out_types=float_outs)
    t_it = iter(t_outs)
    return list(outs), [next(t_it) if has_tangent(v.type) else Zero(v.type) for v in call.outputs]


jvp_rules[P.custom_vjp_call_p] = _custom_vjp_call_jvp


def _custom_lin_jvp(primals, tangents, *, bwd, num_res, out_types):
    """Linear in its tangent operands; the residuals' own perturbation is not modelled."""
    res, ts = primals[:num_res], tangents[num_res:]
    out = bind(custom_lin_p, *primals, bwd=bwd, num_res=num_res, out_types=out_types)
    t_out = bind(custom_lin_p, *res, *map(instantiate, ts), bwd=bwd, num_res=num_res,
                 out_types=out_types)
    return out, t_out


jvp_rules[custom_lin_p] = _custom_lin_jvp


def differentiable(prim: Primitive) -> bool:
    return prim in jvp_rules or prim in zero_derivative


def float_dtype(t: TensorType) -> DType:
    return t.dtype if t.dtype.is_float else DType.float64


__all__ = ["Zero", "jvp_function", "jvp_eval", "jvp_rules", "zero_derivative", "custom_lin_p",
           "has_tangent", "instantiate", "np"]
