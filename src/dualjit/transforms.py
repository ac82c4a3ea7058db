"""JAX's smaller transforms: eval_shape, linear_transpose, closure_convert."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from .autodiff.api import cotangent_leaves
from .autodiff.jvp import has_tangent
from .autodiff.transpose import NonLinearError, transpose_function
from .tracer.core import apply_function
from .tracer.make_ir import trace_pytree
from .tracer.pytree import tree_flatten, tree_unflatten
from .tracer.shape_dtype import ShapeDtypeStruct


def eval_shape(fun: Callable, *args: Any, **kwargs: Any) -> Any:
    """The shapes and dtypes of fun(*args, **kwargs) as a pytree of ShapeDtypeStruct, found by
    tracing with abstract values (nothing is computed). Arguments may be ShapeDtypeStructs."""
    f = functools.partial(fun, **kwargs) if kwargs else fun
    traced = trace_pytree(f, args, name="eval_shape")
    return tree_unflatten(traced.out_tree, [ShapeDtypeStruct.from_type(t)
                                            for t in traced.function.out_types])


def linear_transpose(fun: Callable, *primals: Any) -> Callable:
    """The transpose of a linear function: f_t(ct) gives, for each argument, the cotangent
    (one tuple entry per primal). `primals` only give the argument types. A function that is
    not linear raises an error naming the operation."""
    traced = trace_pytree(fun, primals, name="linear_transpose")
    fn, n_captures = traced.function, len(traced.captures)
    for i, v in enumerate(fn.inputs[n_captures:]):
        if not has_tangent(v.type):
            raise TypeError(f"linear_transpose: argument leaf {i} has type {v.type}; linear "
                            "functions take float arguments")
    linear = [False] * n_captures + [True] * (len(fn.inputs) - n_captures)
    try:
        transposed = transpose_function(fn, linear)
    except NonLinearError as error:
        raise NonLinearError(f"linear_transpose: the function is not linear in its "
                             f"arguments: {error}") from None
    out_types = fn.out_types

    def f_transpose(ct: Any) -> tuple:
        leaves = cotangent_leaves(ct, traced.out_tree, out_types, "linear_transpose")
        cts = apply_function(transposed, *traced.captures, *leaves)
        rebuilt = tree_unflatten(traced.in_tree, list(cts))
        return tuple(rebuilt)

    return f_transpose


def closure_convert(fun: Callable, *example_args: Any) -> tuple[Callable, list[Any]]:
    """(converted, consts): converted(*args, *consts) == fun(*args), with the traced values fun
    closes over (from an enclosing transform) passed explicitly as consts."""
    traced = trace_pytree(fun, example_args, name="closure_convert")
    consts = list(traced.captures)
    n_consts = len(consts)

    def converted(*args_and_consts: Any) -> Any:
        args, given = args_and_consts[:len(args_and_consts) - n_consts], \
            args_and_consts[len(args_and_consts) - n_consts:]
        leaves = tree_flatten(list(args))[0]
        return tree_unflatten(traced.out_tree, apply_function(traced.function, *given, *leaves))

    return converted, consts


__all__ = ["eval_shape", "linear_transpose", "closure_convert"]
