"""Host callbacks: Python functions called on concrete arrays from inside traced programs
(dj.pure_callback, dj.debug.callback, dj.debug.print)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .ir import TensorType, as_dtype
from .ir import primitives as P
from .tracer.core import abstractify, bind
from .tracer.pytree import tree_flatten, tree_unflatten

_VMAP_METHODS = (None, "sequential", "expand_dims", "broadcast_all", "vectorized",
                 "legacy_vectorized")


class _Call:
    """A user callback with its argument structure: called with flat numpy arrays."""

    def __init__(self, fun: Callable, in_tree: Any, kwargs_given: bool):
        self.fun, self.in_tree, self.kwargs_given = fun, in_tree, kwargs_given

    def __call__(self, *leaves: Any) -> Any:
        args, kwargs = tree_unflatten(self.in_tree, list(leaves))
        return self.fun(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<callback {getattr(self.fun, '__name__', self.fun)!r} #{id(self):x}>"


def _flatten_args(fun: Callable, args: tuple, kwargs: dict) -> tuple[list, _Call]:
    leaves, tree = tree_flatten((list(args), dict(kwargs)))
    return leaves, _Call(fun, tree, bool(kwargs))


def callback(callback: Callable, *args: Any, ordered: bool = False, **kwargs: Any) -> None:
    """Call `callback(*args, **kwargs)` with the concrete arrays when the program runs: eagerly,
    under jit, under vmap (once per batch member), under grad (on the primal values)."""
    del ordered  # effects keep their program order
    leaves, call = _flatten_args(callback, args, kwargs)
    bind(P.debug_callback_p, *leaves, callback=call)


class _Printer:
    def __init__(self, fmt: str):
        self.fmt = fmt

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        print(self.fmt.format(*args, **kwargs))


def debug_print(fmt: str, *args: Any, **kwargs: Any) -> None:
    """print(fmt.format(*args, **kwargs)) with the values the program computes (jax.debug.print)."""
    callback(_Printer(fmt), *args, **kwargs)


def _result_types(result_shape_dtypes: Any) -> tuple[list[TensorType], Any]:
    leaves, tree = tree_flatten(result_shape_dtypes)
    types = []
    for i, leaf in enumerate(leaves):
        if not (hasattr(leaf, "shape") and hasattr(leaf, "dtype")):
            raise TypeError(f"pure_callback: result_shape_dtypes leaf {i} must have .shape and "
                            f".dtype (a dj.ShapeDtypeStruct or an array), got {leaf!r}")
        types.append(TensorType(as_dtype(np.dtype(leaf.dtype)), tuple(leaf.shape)))
    return types, tree


def pure_callback(callback: Callable, result_shape_dtypes: Any, *args: Any,
                  vmap_method: str | None = None, **kwargs: Any) -> Any:
    """Call a pure host function (no side effects; it may be skipped or repeated) inside a
    traced program. result_shape_dtypes describes its results (a pytree of
    dj.ShapeDtypeStruct). Under vmap it runs once per member ("sequential", the default), or
    once on the batch with mapped arguments first ("expand_dims": unmapped ones get a size-1
    axis; "broadcast_all": unmapped ones are broadcast). It has no derivative: wrap it in
    custom_jvp / custom_vjp to give one."""
    if vmap_method not in _VMAP_METHODS:
        raise ValueError(f"pure_callback: vmap_method must be one of {_VMAP_METHODS[1:4]}, "
                         f"got {vmap_method!r}")
    method = {None: "sequential", "vectorized": "expand_dims",
              "legacy_vectorized": "expand_dims"}.get(vmap_method, vmap_method)
    types, out_tree = _result_types(result_shape_dtypes)
    leaves, call = _flatten_args(callback, args, kwargs)
    for i, leaf in enumerate(leaves):
        abstractify(leaf, f"pure_callback: argument leaf {i}")
    outs = bind(P.pure_callback_p, *leaves, callback=call, result_types=tuple(types),
                vmap_method=method)
    return tree_unflatten(out_tree, list(outs))


__all__ = ["callback", "debug_print", "pure_callback"]
