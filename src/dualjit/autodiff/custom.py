"""custom_jvp and custom_vjp: user-defined derivative rules, staged as sub-Functions."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ..ir import TensorType
from ..ir import primitives as P
from ..tracer.core import abstractify, bind, trace_flat
from ..tracer.pytree import flatten_fun, tree_flatten, tree_unflatten
from .jvp import has_tangent


def _leaf_types(leaves, name):
    return [abstractify(x, f"{name}: argument leaf {i}")[0] for i, x in enumerate(leaves)]


def _resign(fn, captures, all_captures):
    """fn (inputs: its captures, then the rest) re-signed to take all_captures first."""
    from ..ir import Function, Var

    own = {id(c): v for c, v in zip(captures, fn.inputs[:len(captures)])}
    inputs = [own.get(id(c)) or Var(c.aval) for c in all_captures]
    return Function(inputs + list(fn.inputs[len(captures):]), fn.consts, fn.eqns, fn.outputs)


def _union(*capture_lists):
    seen = {}
    for cl in capture_lists:
        for c in cl:
            seen.setdefault(id(c), c)
    return list(seen.values())


class custom_jvp:
    """A function with a user-defined JVP rule: f = custom_jvp(f); @f.defjvp def rule(primals, tangents)."""

    def __init__(self, fun: Callable):
        self.fun = fun
        self.jvp_rule: Callable | None = None
        functools.update_wrapper(self, fun)

    def defjvp(self, jvp: Callable) -> Callable:
        self.jvp_rule = jvp
        return jvp

    def __call__(self, *args: Any) -> Any:
        if self.jvp_rule is None:
            raise TypeError(f"custom_jvp function {self.fun.__name__} has no JVP rule; "
                            "define one with @f.defjvp")
        leaves, tree = tree_flatten(list(args))
        types = _leaf_types(leaves, "custom_jvp")
        call, out_tree = flatten_fun(self.fun, tree)
        call_fn, call_caps = trace_flat(call, types)
        float_pos = [i for i, t in enumerate(types) if has_tangent(t)]
        jvp_rule = self.jvp_rule
        n_caps = len(call_caps)

        def rule(*xs):
            caps, xs = xs[:n_caps], xs[n_caps:]
            del caps  # closed-over values are constants for the rule (as in JAX)
            primals = list(xs[:len(types)])
            given = iter(xs[len(types):])
            tangents = [next(given) if has_tangent(t) else _zeros_like_type(t) for t in types]
            out, t_out = jvp_rule(tuple(tree_unflatten(tree, primals)),
                                  tuple(tree_unflatten(tree, tangents)))
            out_leaves = tree_flatten(out)[0]
            t_leaves = tree_flatten(t_out)[0]
            if len(t_leaves) != len(out_leaves):
                raise TypeError("custom_jvp rule: tangent output structure differs from the "
                                "primal output")
            float_t = []
            for o, t in zip(out_leaves, t_leaves):
                o_t = abstractify(o, "custom_jvp output")[0]
                if has_tangent(o_t):
                    float_t.append(_cast(t, o_t))
            return list(out_leaves) + float_t

        cap_types = [c.aval for c in call_caps]
        lazy = LazyJVP(getattr(self.fun, "__name__", "f"), rule,
                       cap_types + types + [types[i] for i in float_pos])
        outs = bind(P.custom_jvp_call_p, *call_caps, *leaves, call=call_fn, jvp=lazy,
                    num_consts=n_caps)
        return tree_unflatten(out_tree(), outs)


class LazyJVP:
    """A custom JVP rule traced into a Function only when something differentiates the call.

    (Tracing it eagerly would recurse: rules usually call the function they differentiate.)
    """

    def __init__(self, name: str, rule: Callable, in_types: list):
        self.name = name
        self.rule = rule
        self.in_types = in_types
        self._function = None

    def function(self):
        if self._function is None:
            fn, captures = trace_flat(self.rule, self.in_types)
            if captures:
                raise TypeError(f"custom_jvp rule of {self.name} closes over a traced value; "
                                "pass it as an argument instead")
            self._function = fn
        return self._function

    def __repr__(self) -> str:
        return f"<jvp rule of {self.name} #{id(self):x}>"


def _zeros_like_type(t: TensorType):
    from . import ops

    return ops.zeros(t)


def _cast(x, t: TensorType):
    from . import ops

    x_t = ops.type_of(x)
    if x_t.shape != t.shape:
        x = ops.broadcast(x, t.shape)
    return ops.convert(x, t.dtype)


class custom_vjp:
    """A function with a user-defined VJP: f = custom_vjp(f); f.defvjp(fwd, bwd)."""

    def __init__(self, fun: Callable):
        self.fun = fun
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None
        functools.update_wrapper(self, fun)

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args: Any) -> Any:
        if self.fwd is None:
            raise TypeError(f"custom_vjp function {self.fun.__name__} has no rule; define one "
                            "with f.defvjp(fwd, bwd)")
        leaves, tree = tree_flatten(list(args))
        types = _leaf_types(leaves, "custom_vjp")
        res_tree_box = []
        call, out_tree = flatten_fun(self.fun, tree)

        def fwd(*xs):
            result = self.fwd(*tree_unflatten(tree, list(xs)))
            if not (isinstance(result, tuple) and len(result) == 2):
                raise TypeError("custom_vjp fwd must return (output, residuals)")
            out, res = result
            res_leaves, res_tree = tree_flatten(res)
            res_tree_box.append(res_tree)
            return tree_flatten(out)[0] + res_leaves

        call_fn, call_caps = trace_flat(call, types)
        fwd_fn, fwd_caps = trace_flat(fwd, types)
        n_out = len(call_fn.outputs)
        res_types = fwd_fn.out_types[n_out:]
        out_types = call_fn.out_types
        float_out = [t for t in out_types if has_tangent(t)]

        def bwd(*xs):
            res = tree_unflatten(res_tree_box[0], list(xs[:len(res_types)]))
            cts_iter = iter(xs[len(res_types):])
            cts = [next(cts_iter) if has_tangent(t) else _zeros_like_type(t) for t in out_types]
            ct_tree = tree_unflatten(out_tree(), cts)
            grads = self.bwd(res, ct_tree)
            if not isinstance(grads, tuple) or len(grads) != len(args):
                raise TypeError(f"custom_vjp bwd must return a tuple with one cotangent per "
                                f"argument ({len(args)}), got {type(grads).__name__}")
            g_leaves = tree_flatten(list(grads))[0]
            return [_cast(g, t) for g, t in zip(g_leaves, types) if has_tangent(t)]

        bwd_fn, bwd_caps = trace_flat(bwd, list(res_types) + float_out)
        if bwd_caps:
            raise TypeError("custom_vjp bwd closes over a traced value; pass it through the "
                            "residuals returned by fwd instead")
        captures = _union(call_caps, fwd_caps)
        call_fn = _resign(call_fn, call_caps, captures)
        fwd_fn = _resign(fwd_fn, fwd_caps, captures)
        outs = bind(P.custom_vjp_call_p, *captures, *leaves, call=call_fn, fwd=fwd_fn,
                    bwd=bwd_fn, num_res=len(res_types), num_consts=len(captures))
        return tree_unflatten(out_tree(), outs)
