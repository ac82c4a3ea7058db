"""Pytrees: flatten nested containers of arrays to leaves and a treedef, and rebuild them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable
from typing import Any, NamedTuple


class NodeKind(NamedTuple):
    flatten: Callable[[Any], tuple[list[Any], Hashable]]
    unflatten: Callable[[Hashable, list[Any]], Any]


_registry: dict[type, NodeKind] = {}


def register_pytree_node(cls: type, flatten: Callable, unflatten: Callable) -> None:
    """Make `cls` a container: flatten(x) -> (children, aux), unflatten(aux, children) -> x."""
    _registry[cls] = NodeKind(flatten, unflatten)


def register_dataclass(cls: type) -> type:
    """Register a dataclass as a pytree whose children are its fields (usable as a decorator)."""
    names = tuple(f.name for f in dataclasses.fields(cls))
    register_pytree_node(cls, lambda x: ([getattr(x, n) for n in names], None),
                         lambda _, kids: cls(**dict(zip(names, kids))))
    return cls


register_pytree_node(tuple, lambda x: (list(x), len(x)), lambda _, kids: tuple(kids))
register_pytree_node(list, lambda x: (list(x), len(x)), lambda _, kids: list(kids))
register_pytree_node(dict, lambda x: ([x[k] for k in sorted(x)], tuple(sorted(x))),
                     lambda keys, kids: dict(zip(keys, kids)))
register_pytree_node(type(None), lambda x: ([], None), lambda _, kids: None)


class PyTreeDef:
    """The structure of a pytree with its leaves removed; hashable, so it can key caches."""

    __slots__ = ("kind", "aux", "children", "num_leaves", "_hash")

    def __init__(self, kind: type | None, aux: Hashable, children: tuple[PyTreeDef, ...]):
        self.kind = kind
        self.aux = aux
        self.children = children
        self.num_leaves = 1 if kind is None else sum(c.num_leaves for c in children)
        self._hash = hash((kind, aux, children))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, PyTreeDef) and self.kind is other.kind
                and self.aux == other.aux and self.children == other.children)

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        if self.kind is None:
            return "*"
        inner = ", ".join(map(repr, self.children))
        return f"{self.kind.__name__}({inner})"


LEAF = PyTreeDef(None, None, ())


def _node_kind(x: Any) -> tuple[type, NodeKind] | None:
    cls = type(x)
    if cls in _registry:
        return cls, _registry[cls]
    if isinstance(x, tuple) and hasattr(x, "_fields"):  # namedtuple
        return cls, NodeKind(lambda t: (list(t), None), lambda _, kids, c=cls: c(*kids))
    return None


def tree_flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None
                 ) -> tuple[list[Any], PyTreeDef]:
    leaves: list[Any] = []

    def walk(x: Any) -> PyTreeDef:
        found = None if (is_leaf is not None and is_leaf(x)) else _node_kind(x)
        if found is None:
            leaves.append(x)
            return LEAF
        cls, kind = found
        kids, aux = kind.flatten(x)
        return PyTreeDef(cls, aux, tuple(walk(k) for k in kids))

    treedef = walk(tree)
    return leaves, treedef


def tree_unflatten(treedef: PyTreeDef, leaves: list[Any]) -> Any:
    it = iter(leaves)

    def build(td: PyTreeDef) -> Any:
        if td.kind is None:
            return next(it)
        kids = [build(c) for c in td.children]
        found = _registry.get(td.kind)
        if found is None:  # namedtuple
            return td.kind(*kids)
        return found.unflatten(td.aux, kids)

    return build(treedef)


def tree_leaves(tree: Any) -> list[Any]:
    return tree_flatten(tree)[0]


def tree_structure(tree: Any) -> PyTreeDef:
    return tree_flatten(tree)[1]


def tree_map(f: Callable, tree: Any, *rest: Any, is_leaf: Callable | None = None) -> Any:
    leaves, treedef = tree_flatten(tree, is_leaf)
    others = [tree_flatten(r, is_leaf) for r in rest]
    for i, (_, td) in enumerate(others):
        if td != treedef:
            raise ValueError(f"tree_map: argument {i + 1} has structure {td}, "
                             f"expected {treedef}")
    return tree_unflatten(treedef, [f(*xs) for xs in zip(leaves, *(o[0] for o in others))])
