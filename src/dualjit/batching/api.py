"""vmap: map a function over an axis of its arguments by batching its traced Function."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from ..ir import TensorType
from ..tracer.core import Tracer, abstractify, apply_function, trace_flat
from ..tracer.pytree import PyTreeDef, flatten_fun, node_kind, tree_flatten, tree_unflatten
from ..tree_util import keystr, tree_flatten_with_path
from .core import batch_function, not_mapped

_PY_SCALARS = (bool, int, float, complex)


def _is_axis_spec(x: Any) -> bool:
    return x is None or (isinstance(x, int) and not isinstance(x, bool))


def broadcast_prefix(spec: Any, tree: Any, what: str) -> list[Any]:
    """One entry of `spec` per leaf of `tree`: spec is a pytree prefix of tree whose leaves
    (ints or None) apply to whole subtrees. (Iterative: a deep tree must not recurse.)"""
    axes: list[Any] = []
    stack = [(spec, tree)]
    while stack:
        spec, tree = stack.pop()
        if _is_axis_spec(spec):
            axes.extend([spec] * len(tree_flatten(tree)[0]))
            continue
        spec_node, tree_node = node_kind(spec), node_kind(tree)
        spec_kids, spec_aux = spec_node[1].flatten(spec) if spec_node else ([], None)
        tree_kids, tree_aux = tree_node[1].flatten(tree) if tree_node else ([], None)
        if (spec_node is None or tree_node is None or spec_node[0] is not tree_node[0]
                or spec_aux != tree_aux or len(spec_kids) != len(tree_kids)):
            raise ValueError(f"vmap: {what} must be an int, None, or a pytree prefix of the "
                             f"value it applies to, but {what} is {spec!r} and the value has "
                             f"structure {tree_flatten(tree)[1]}")
        stack.extend(reversed(list(zip(spec_kids, tree_kids))))
    return axes


def _argument_names(fun: Callable, n_args: int) -> list[str]:
    """Names for positional arguments (from fun's signature when it has one)."""
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        params = []
    names, i = [], 0
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and i < n_args:
            names.append(p.name)
            i += 1
        elif p.kind is p.VAR_POSITIONAL:
            names += [f"{p.name}[{k}]" for k in range(n_args - i)]
            i = n_args
    return names + [f"argument {k}" for k in range(i, n_args)]


class _Leaf:
    """One input leaf: its name, type, value (concrete or tracer), axis and weak typing."""

    __slots__ = ("name", "type", "value", "axis", "weak")

    def __init__(self, name: str, leaf: Any, spec: int | None):
        self.name = name
        self.type, concrete = abstractify(leaf, f"vmap: {name}")
        self.value = leaf if isinstance(leaf, Tracer) else concrete
        self.weak = type(leaf) in _PY_SCALARS
        self.axis = spec if spec is None else self._normalized(spec)

    def _normalized(self, axis: int) -> int:
        nd = self.type.ndim
        if not -nd <= axis < nd:
            raise ValueError(f"vmap: cannot map {self.name} (of type {self.type}) over axis "
                             f"{axis}: it has rank {nd}, so the axis must be in "
                             f"[{-nd}, {nd})" if nd else
                             f"vmap: cannot map {self.name} over axis {axis}: it is a scalar "
                             f"({self.type}); use in_axes None for it")
        return axis % nd

    @property
    def member_type(self) -> TensorType:
        if self.axis is None:
            return self.type
        shape = self.type.shape
        return self.type.with_shape(shape[:self.axis] + shape[self.axis + 1:])

    @property
    def member_value(self) -> Any:
        """The concrete value every member shares (unmapped leaves), for Python control flow."""
        if self.axis is not None:
            return None
        return self.value.value if isinstance(self.value, Tracer) else self.value


def _input_leaves(fun, in_axes, args, kwargs) -> tuple[list[_Leaf], PyTreeDef]:
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)
    if isinstance(in_axes, tuple):
        if len(in_axes) != len(args):
            raise ValueError(f"vmap: in_axes has {len(in_axes)} entries but the function was "
                             f"called with {len(args)} positional arguments; give one entry "
                             "per positional argument (or a single int/None for all)")
    elif not _is_axis_spec(in_axes):
        raise TypeError(f"vmap: in_axes must be an int, None, or a tuple with one entry per "
                        f"positional argument, got {type(in_axes).__name__}")
    else:
        in_axes = (in_axes,) * len(args)
    names = _argument_names(fun, len(args))
    leaves = []
    for name, spec, arg in zip(names, in_axes, args):
        specs = broadcast_prefix(spec, arg, f"in_axes entry of {name}")
        paths = tree_flatten_with_path(arg)[0]
        leaves += [_Leaf(name + keystr(p), x, s) for (p, x), s in zip(paths, specs)]
    for key in sorted(kwargs):  # keyword arguments are mapped over their leading axis, as in JAX
        paths = tree_flatten_with_path(kwargs[key])[0]
        leaves += [_Leaf(f"keyword argument {key}" + keystr(p), x, 0) for p, x in paths]
    return leaves, tree_flatten((list(args), kwargs))[1]


def _axis_size(leaves: Sequence[_Leaf], axis_size: int | None) -> int:
    mapped = [leaf for leaf in leaves if leaf.axis is not None]
    sizes = {leaf.type.shape[leaf.axis] for leaf in mapped}
    if axis_size is not None:
        sizes.add(int(axis_size))
    if len(sizes) == 1:
        return sizes.pop()
    if not sizes:
        raise ValueError("vmap: no argument is mapped (every in_axes entry is None), so the "
                         "batch size is unknown; pass axis_size=")
    lines = [f"  * {leaf.name} has type {leaf.type}: axis {leaf.axis} has size "
             f"{leaf.type.shape[leaf.axis]}" for leaf in mapped]
    if axis_size is not None:
        lines.append(f"  * axis_size={axis_size}")
    raise ValueError("vmap got inconsistent sizes for the axes to be mapped:\n"
                     + "\n".join(lines))


def _out_dims(out_axes: Any, out_tree: PyTreeDef, out_types: Sequence[TensorType]) -> list:
    dummy = tree_unflatten(out_tree, [0] * out_tree.num_leaves)
    specs = broadcast_prefix(out_axes, dummy, "out_axes")
    dims = []
    for k, (spec, t) in enumerate(zip(specs, out_types)):
        if spec is None:
            dims.append(not_mapped)
            continue
        nd = t.ndim + 1
        if not -nd <= spec < nd:
            raise ValueError(f"vmap: out_axes {spec} does not fit output {k} of type {t}: "
                             f"batched, it has rank {nd}")
        dims.append(spec % nd)
    return dims


def vmap(fun: Callable, in_axes: Any = 0, out_axes: Any = 0, axis_size: int | None = None,
         axis_name: Any = None) -> Callable:
    """Map `fun` over an axis of its arguments: one batched program, not a Python loop.

    in_axes: an int (the axis mapped in every argument), None (not mapped), or a tuple with
    one entry per positional argument, each an int, None, or a pytree prefix of that argument
    with int/None leaves; negative axes count from the end. Keyword arguments are mapped over
    axis 0. out_axes says where the batch axis goes in each output (same forms; None for an
    output that must not depend on the mapped axis). axis_size is the batch size when no
    argument is mapped. axis_name is accepted for JAX compatibility (dualjit has no collectives).
    """
    del axis_name

    @functools.wraps(fun)
    def vmapped(*args: Any, **kwargs: Any) -> Any:
        leaves, in_tree = _input_leaves(fun, in_axes, args, kwargs)
        size = _axis_size(leaves, axis_size)
        flat_fun, out_tree = flatten_fun(
            lambda call_args, call_kwargs: fun(*call_args, **call_kwargs), in_tree)
        fn, captures = trace_flat(flat_fun, [leaf.member_type for leaf in leaves],
                                  [leaf.member_value for leaf in leaves],
                                  [leaf.weak for leaf in leaves])
        out_dims = _out_dims(out_axes, out_tree(), fn.out_types)
        in_dims = [not_mapped] * len(captures) + [leaf.axis for leaf in leaves]
        batched, _ = batch_function(fn, in_dims, size, out_dims)
        outs = apply_function(batched, *captures, *[leaf.value for leaf in leaves])
        return tree_unflatten(out_tree(), outs)

    return vmapped
