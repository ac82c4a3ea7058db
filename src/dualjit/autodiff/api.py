"""The grad family with JAX's signatures, built from jvp, linearize and transpose."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..ir import Function, TensorType
from ..ir import primitives as P
from ..ir.passes import dce, simplify
from ..ir.verifier import check
from ..tracer.core import Tracer, apply_function, bind, current_builder, trace_flat
from ..tracer.make_ir import normalize_argnums, trace_pytree
from ..tracer.pytree import tree_flatten, tree_unflatten
from . import ops
from .jvp import has_tangent, jvp_function
from .linearize import linearize_function
from .transpose import transpose_function

# ---------------------------------------------------------------------------------------------
# Function-level transforms (the engine the imperative layer shares)
# ---------------------------------------------------------------------------------------------

def vjp_split(fn: Function, wrt: Sequence[int]) -> tuple[Function, Function, int]:
    """(forward, backward, num_res) for reverse mode with respect to inputs `wrt`.

    forward:  fn.inputs -> fn.outputs + residuals
    backward: residuals + one cotangent per float output -> one cotangent per `wrt` input
    """
    wrt_set = set(wrt)
    nonzero = [i in wrt_set for i in range(len(fn.inputs))]
    primal, linear, num_res = linearize_function(fn, nonzero)
    n_lin = len(linear.inputs) - num_res
    backward = transpose_function(linear, [False] * num_res + [True] * n_lin)
    # Tangent inputs exist only for float inputs in wrt; give others zero cotangents.
    lin_positions = [i for i in sorted(wrt_set) if has_tangent(fn.inputs[i].type)]
    if lin_positions != sorted(wrt_set) or list(wrt) != sorted(wrt_set):
        backward = _reorder_cotangents(backward, fn, list(wrt), lin_positions, num_res)
    return primal, dce(backward), num_res


def _reorder_cotangents(backward: Function, fn: Function, wrt: list[int],
                        lin_positions: list[int], num_res: int) -> Function:
    def body(*args):
        outs = apply_function(backward, *args)
        by_pos = dict(zip(lin_positions, outs))
        return [by_pos[i] if i in by_pos else ops.zeros(fn.inputs[i].type) for i in wrt]
    out, _ = trace_flat(body, backward.in_types)
    return out


def vjp_function(fn: Function, wrt: Sequence[int], return_outputs: bool = False) -> Function:
    """Reverse mode as one Function.

    Inputs: fn.inputs, then one cotangent per output of fn (int/bool outputs' are ignored).
    Outputs: [fn.outputs if return_outputs] + one cotangent per input index in `wrt`.
    """
    forward, backward, num_res = vjp_split(fn, wrt)
    n_in, n_out = len(fn.inputs), len(fn.outputs)
    float_out = [has_tangent(t) for t in fn.out_types]

    def body(*args):
        primals, cts = args[:n_in], args[n_in:]
        outs_res = apply_function(forward, *primals)
        outs, res = outs_res[:n_out], outs_res[n_out:]
        grads = apply_function(backward, *res, *[c for c, f in zip(cts, float_out) if f])
        return (list(outs) if return_outputs else []) + list(grads)

    out, _ = trace_flat(body, fn.in_types + fn.out_types)
    return check(simplify(out))


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------

def _trace(f: Callable, args: Sequence[Any], name: str):
    return trace_pytree(f, args, concrete=True, name=name)


def _leaf_ranges(args: Sequence[Any]) -> list[range]:
    ranges, start = [], 0
    for a in args:
        n = len(tree_flatten(a)[0])
        ranges.append(range(start, start + n))
        start += n
    return ranges


def _check_differentiable(fn: Function, positions: Sequence[int], name: str,
                          allow_int: bool, holomorphic: bool = False) -> None:
    for i in positions:
        t = fn.inputs[i].type
        if holomorphic and not t.dtype.is_complex:
            raise TypeError(f"{name}(holomorphic=True) requires complex inputs, got an input of "
                            f"type {t}; convert it with .astype(complex)")
        if not t.dtype.is_inexact and not allow_int:
            raise TypeError(f"{name}: cannot differentiate with respect to an input of type {t}; "
                            "only float inputs have gradients (and complex ones; convert "
                            "with .astype(float), or pass allow_int=True to get zero "
                            "gradients)")


def _check_grad_output(t: TensorType, name: str, holomorphic: bool) -> None:
    if holomorphic and not t.dtype.is_complex:
        raise TypeError(f"{name}(holomorphic=True) requires a complex output, got {t}")
    if not holomorphic and not t.dtype.is_float:
        hint = ("; for the derivative of a holomorphic function pass holomorphic=True, and for "
                "other complex-valued functions use vjp directly" if t.dtype.is_complex else "")
        raise TypeError(f"{name} requires a real float output, got {t}{hint}")


def value_and_grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
                   allow_int: bool = False, holomorphic: bool = False) -> Callable:
    """f -> (value, gradient of f's scalar output with respect to args[argnums]).

    Complex inputs follow JAX: for real-valued f the result is df/dx - i df/dy (the conjugate
    of the steepest-ascent direction); with holomorphic=True (complex output) it is f'(z).
    """
    @functools.wraps(fun)
    def value_and_grad_f(*args, **kwargs):  # keyword arguments are not differentiated
        nums = normalize_argnums(argnums, len(args), "argnums")
        traced = _trace(_with_keywords(fun, kwargs), args, "grad")
        fn, nc = traced.function, len(traced.captures)
        out_leaves = fn.outputs
        if has_aux:
            if traced.out_tree.kind is not tuple or len(traced.out_tree.children) != 2:
                raise TypeError("grad(has_aux=True): the function must return a pair "
                                "(output, aux)")
            n_main = traced.out_tree.children[0].num_leaves
        else:
            n_main = len(out_leaves)
        if n_main != 1 or out_leaves[0].type.shape != ():
            shapes = [a.type.shape for a in out_leaves[:n_main]]
            raise TypeError(f"grad requires a scalar output (shape ()), but the function "
                            f"returned shape {shapes[0] if len(shapes) == 1 else shapes}; "
                            "use jacrev/vjp for non-scalar outputs, or reduce (e.g. .sum())")
        _check_grad_output(out_leaves[0].type, "grad", holomorphic)
        ranges = _leaf_ranges(args)
        wrt = [nc + i for n in nums for i in ranges[n]]
        _check_differentiable(fn, wrt, "grad", allow_int, holomorphic)
        vg = vjp_function(fn, wrt, return_outputs=True)
        leaves = tree_flatten(list(args))[0]
        one = ops.scalar(1.0, out_leaves[0].type.dtype)
        cts = [one] + [_zeros_of(a.type) for a in out_leaves[1:]]
        results = apply_function(vg, *traced.captures, *leaves, *cts)
        outs, grads = results[:len(out_leaves)], results[len(out_leaves):]
        grad_trees, it = [], iter(grads)
        for n in nums:
            arg_leaves, arg_tree = tree_flatten(args[n])
            grad_trees.append(tree_unflatten(arg_tree, [next(it) for _ in arg_leaves]))
        g = grad_trees[0] if isinstance(argnums, int) else tuple(grad_trees)
        value = tree_unflatten(traced.out_tree, list(outs))
        return value, g

    return value_and_grad_f


def grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
         allow_int: bool = False, holomorphic: bool = False) -> Callable:
    """The gradient of f's scalar output with respect to args[argnums] (JAX's signature and
    complex convention: see value_and_grad)."""
    vg = value_and_grad(fun, argnums, has_aux, allow_int, holomorphic)

    @functools.wraps(fun)
    def grad_f(*args, **kwargs):
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return grad_f


def jvp(fun: Callable, primals: Sequence[Any], tangents: Sequence[Any],
        has_aux: bool = False) -> tuple:
    """(f(*primals), J·tangents) by forward mode; with has_aux, f returns (output, aux) and
    the result is (output, J·tangents, aux)."""
    primals, tangents = tuple(primals), tuple(tangents)
    p_leaves, p_tree = tree_flatten(list(primals))
    t_leaves, t_tree = tree_flatten(list(tangents))
    if p_tree != t_tree:
        raise TypeError(f"jvp: primals have structure {p_tree} but tangents {t_tree}")
    traced = _trace(fun, primals, "jvp")
    fn, nc = traced.function, len(traced.captures)
    for i, (p, t) in enumerate(zip(fn.inputs[nc:], t_leaves)):
        if np.shape(t) != p.type.shape:
            raise ValueError(f"jvp: tangent {i} has shape {np.shape(t)}, its primal has "
                             f"shape {p.type.shape}")
    out_tree = _main_tree(traced.out_tree, has_aux, "jvp")
    n_out = out_tree.num_leaves
    main = _only_outputs(fn, n_out)
    nonzero = [False] * nc + [has_tangent(v.type) for v in fn.inputs[nc:]]
    jfn = jvp_function(main, nonzero)
    given = [_as_type(t, v.type) for t, v in zip(t_leaves, fn.inputs[nc:]) if has_tangent(v.type)]
    results = apply_function(jfn, *traced.captures, *p_leaves, *given)
    outs, t_it = results[:n_out], iter(results[n_out:])
    t_outs = [next(t_it) if has_tangent(v.type) else _zeros_of(v.type) for v in main.outputs]
    out = tree_unflatten(out_tree, list(outs)), tree_unflatten(out_tree, t_outs)
    if not has_aux:
        return out
    aux_fn = Function(fn.inputs, fn.consts, fn.eqns, fn.outputs[n_out:])
    aux = apply_function(dce(aux_fn), *traced.captures, *p_leaves)
    return (*out, tree_unflatten(traced.out_tree.children[1], aux))


def _main_tree(out_tree, has_aux: bool, name: str):
    if not has_aux:
        return out_tree
    if out_tree.kind is not tuple or len(out_tree.children) != 2:
        raise TypeError(f"{name}(has_aux=True): the function must return a pair (output, aux)")
    return out_tree.children[0]


def _as_type(x: Any, t: TensorType) -> Any:
    if isinstance(x, Tracer):
        return x if x.aval.dtype is t.dtype else bind(P.convert_element_type_p, x,
                                                      new_dtype=t.dtype)
    return np.asarray(x, dtype=t.dtype.np)


def _zeros_of(t: TensorType) -> Any:
    return ops.zeros(t) if current_builder() is not None else np.zeros(t.shape, t.dtype.np)


def cotangent_leaves(ct: Any, out_tree: Any, out_types: Sequence[TensorType], who: str
                     ) -> list[Any]:
    """The leaves of a cotangent given for outputs of structure out_tree and types out_types;
    a different structure or leaf shape raises, naming `who` received it."""
    leaves, tree = tree_flatten(ct)
    if tree != out_tree:
        raise TypeError(f"{who}: the cotangent has structure {tree}, the outputs have "
                        f"structure {out_tree}")
    for i, (c, t) in enumerate(zip(leaves, out_types)):
        if np.shape(c) != t.shape:
            raise ValueError(f"{who}: cotangent leaf {i} has shape {np.shape(c)}, the output "
                             f"has shape {t.shape}")
    return leaves


def vjp(fun: Callable, *primals: Any, has_aux: bool = False) -> tuple:
    """(f(*primals), pullback) where pullback(ct) = ctᵀJ for each primal."""
    traced = _trace(fun, primals, "vjp")
    fn, nc = traced.function, len(traced.captures)
    out_tree = traced.out_tree
    n_main = out_tree.children[0].num_leaves if has_aux else len(fn.outputs)
    wrt = list(range(nc, len(fn.inputs)))
    float_wrt = [i for i in wrt if has_tangent(fn.inputs[i].type)]
    forward, backward, num_res = vjp_split(_only_outputs(fn, n_main), float_wrt)
    leaves = tree_flatten(list(primals))[0]
    outs_res = apply_function(forward, *traced.captures, *leaves)
    outs, res = outs_res[:n_main], outs_res[n_main:]
    main_tree = out_tree.children[0] if has_aux else out_tree
    main_types = fn.out_types[:n_main]

    def pullback(ct):
        ct_leaves = cotangent_leaves(ct, main_tree, main_types, "vjp pullback")
        given = [_as_type(c, t) for c, t in zip(ct_leaves, main_types) if has_tangent(t)]
        grads = apply_function(backward, *res, *given)
        by_pos = dict(zip(float_wrt, grads))
        flat = [by_pos[i] if i in by_pos else _zeros_of(fn.inputs[i].type) for i in wrt]
        trees, it = [], iter(flat)
        for p in primals:
            p_leaves, p_tree = tree_flatten(p)
            trees.append(tree_unflatten(p_tree, [next(it) for _ in p_leaves]))
        return tuple(trees)

    out = tree_unflatten(main_tree, list(outs))
    if has_aux:
        aux_fn = Function(fn.inputs, fn.consts, fn.eqns, fn.outputs[n_main:])
        aux = apply_function(dce(aux_fn), *traced.captures, *leaves)
        return out, pullback, tree_unflatten(out_tree.children[1], aux)
    return out, pullback


def _only_outputs(fn: Function, n: int) -> Function:
    return fn if n == len(fn.outputs) else dce(Function(fn.inputs, fn.consts, fn.eqns,
                                                        fn.outputs[:n]))


def linearize(fun: Callable, *primals: Any) -> tuple[Any, Callable]:
    """(f(*primals), f_jvp) where f_jvp(*tangents) evaluates the linear map J·t."""
    traced = _trace(fun, primals, "linearize")
    fn, nc = traced.function, len(traced.captures)
    nonzero = [False] * nc + [has_tangent(v.type) for v in fn.inputs[nc:]]
    primal, linear, num_res = linearize_function(fn, nonzero)
    leaves = tree_flatten(list(primals))[0]
    outs_res = apply_function(primal, *traced.captures, *leaves)
    n_out = len(fn.outputs)
    outs, res = outs_res[:n_out], outs_res[n_out:]
    in_types = [v.type for v in fn.inputs[nc:]]

    def f_jvp(*tangents):
        t_leaves = tree_flatten(list(tangents))[0]
        given = [_as_type(t, ty) for t, ty in zip(t_leaves, in_types) if has_tangent(ty)]
        t_outs = iter(apply_function(linear, *res, *given))
        flat = [next(t_outs) if has_tangent(v.type) else _zeros_of(v.type) for v in fn.outputs]
        return tree_unflatten(traced.out_tree, flat)

    return tree_unflatten(traced.out_tree, list(outs)), f_jvp


# ---------------------------------------------------------------------------------------------
# Jacobians: one batched program over the standard basis (vmap of jvp or of the pullback)
# ---------------------------------------------------------------------------------------------

def _standard_basis(types: Sequence[TensorType]) -> list[np.ndarray]:
    """The rows of the identity over all leaves' elements, split per leaf: (N, *leaf.shape)."""
    total = sum(t.size for t in types)
    basis, start = [], 0
    for t in types:
        rows = np.zeros((total, t.size), t.dtype.np)
        rows[start:start + t.size] = np.eye(t.size, dtype=t.dtype.np)
        basis.append(rows.reshape((total,) + t.shape))
        start += t.size
    return basis


def _block(x: Any, axis: int, start: int, stop: int, shape: tuple[int, ...]) -> Any:
    """x[..., start:stop, ...] along `axis`, reshaped to `shape`."""
    t = ops.type_of(x)
    lo = [0] * t.ndim
    hi = list(t.shape)
    lo[axis], hi[axis] = start, stop
    part = x if (start, stop) == (0, t.shape[axis]) else bind(
        P.slice_p, x, start_indices=tuple(lo), limit_indices=tuple(hi), strides=(1,) * t.ndim)
    return part if tuple(shape) == t.shape else bind(P.reshape_p, part, new_sizes=shape)


def _check_float(types: Sequence[TensorType], name: str, what: str,
                 holomorphic: bool = False, complex_ok: bool = False) -> None:
    """Jacobian operands: complex with holomorphic=True; else real floats (complex inputs of
    jacrev are fine: `complex_ok`), as in JAX."""
    for i, t in enumerate(types):
        if holomorphic and not t.dtype.is_complex:
            raise TypeError(f"{name}(holomorphic=True): {what} leaf {i} has type {t}; it must "
                            "be complex")
        if holomorphic or t.dtype.is_float or (complex_ok and t.dtype.is_complex):
            continue
        hint = (f"; for holomorphic functions pass holomorphic=True, for other functions of "
                f"complex values use {'jvp' if name == 'jacfwd' else 'vjp'} directly"
                if t.dtype.is_complex else "")
        raise TypeError(f"{name}: {what} leaf {i} has type {t}; only float values can be "
                        f"differentiated{hint}")


def _with_keywords(fun: Callable, kwargs: dict) -> Callable:
    """fun with keyword arguments fixed (as in JAX, they are passed through undifferentiated)."""
    return functools.partial(fun, **kwargs) if kwargs else fun


def _fix_args(fun: Callable, args: Sequence[Any], nums: Sequence[int]) -> Callable:
    """fun as a function of args[nums] only (the other arguments fixed)."""
    def f_dyn(*dyn):
        full = list(args)
        for n, a in zip(nums, dyn):
            full[n] = a
        return fun(*full)
    return f_dyn


def _per_argnums(blocks: list[Any], dyn_tree: Any, argnums: int | Sequence[int]) -> Any:
    trees = tree_unflatten(dyn_tree, blocks)
    return trees[0] if isinstance(argnums, int) else tuple(trees)


def jacfwd(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
           holomorphic: bool = False) -> Callable:
    """The Jacobian by forward mode: vmap of jvp over the input basis. For each output leaf, a
    tree like args[argnums] of arrays of shape out.shape + in.shape."""
    from ..batching import vmap  # batching builds on autodiff, so it is imported late

    @functools.wraps(fun)
    def jac(*args, **kwargs):
        nums = normalize_argnums(argnums, len(args), "argnums")
        dyn = tuple(args[n] for n in nums)
        dyn_leaves, dyn_tree = tree_flatten(list(dyn))
        in_types = [ops.type_of(x) for x in dyn_leaves]
        _check_float(in_types, "jacfwd", "input", holomorphic)
        f_dyn = _fix_args(_with_keywords(fun, kwargs), args, nums)

        def push(*t_leaves):
            out = jvp(f_dyn, dyn, tree_unflatten(dyn_tree, list(t_leaves)), has_aux=has_aux)
            return (out[1], out[2]) if has_aux else out[1]

        pushed = vmap(push, out_axes=(-1, None) if has_aux else -1)(*_standard_basis(in_types))
        y_dot, aux = pushed if has_aux else (pushed, None)
        y_leaves, y_tree = tree_flatten(y_dot)
        per_out = []
        for y in y_leaves:
            y_shape = ops.type_of(y).shape[:-1]
            blocks, start = [], 0
            for t in in_types:
                blocks.append(_block(y, len(y_shape), start, start + t.size, y_shape + t.shape))
                start += t.size
            per_out.append(_per_argnums(blocks, dyn_tree, argnums))
        result = tree_unflatten(y_tree, per_out)
        return (result, aux) if has_aux else result

    return jac


def jacrev(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
           holomorphic: bool = False) -> Callable:
    """The Jacobian by reverse mode: vmap of the pullback over the output basis. For each
    output leaf, a tree like args[argnums] of arrays of shape out.shape + in.shape."""
    from ..batching import vmap  # batching builds on autodiff, so it is imported late

    @functools.wraps(fun)
    def jac(*args, **kwargs):
        nums = normalize_argnums(argnums, len(args), "argnums")
        dyn = tuple(args[n] for n in nums)
        dyn_leaves, dyn_tree = tree_flatten(list(dyn))
        _check_float([ops.type_of(x) for x in dyn_leaves], "jacrev", "input", holomorphic,
                     complex_ok=True)
        y, pullback, *aux = vjp(_fix_args(_with_keywords(fun, kwargs), args, nums), *dyn,
                                has_aux=has_aux)
        y_leaves, y_tree = tree_flatten(y)
        out_types = [ops.type_of(x) for x in y_leaves]
        _check_float(out_types, "jacrev", "output", holomorphic)

        def pull(*ct_leaves):
            return pullback(tree_unflatten(y_tree, list(ct_leaves)))

        basis = _standard_basis(out_types)
        if len(basis[0]) == 1:  # one output element (a gradient): no batch axis needed
            cts = [bind(P.reshape_p, ct, new_sizes=(1,) + ops.type_of(ct).shape)
                   for ct in tree_flatten(list(pull(*[b[0] for b in basis])))[0]]
        else:
            cts = tree_flatten(list(vmap(pull)(*basis)))[0]
        per_out, start = [], 0
        for t in out_types:
            blocks = [_block(ct, 0, start, start + t.size, t.shape + ops.type_of(ct).shape[1:])
                      for ct in cts]
            per_out.append(_per_argnums(blocks, dyn_tree, argnums))
            start += t.size
        result = tree_unflatten(y_tree, per_out)
        return (result, aux[0]) if has_aux else result

    return jac


def hessian(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
            holomorphic: bool = False) -> Callable:
    """jacfwd(jacrev(f)): the matrix of second derivatives."""
    return jacfwd(jacrev(fun, argnums, has_aux, holomorphic), argnums, has_aux, holomorphic)
