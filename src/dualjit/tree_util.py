"""dualjit.tree_util: pytree functions (as jax.tree_util), including key paths to leaves."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

from .tracer import register_dataclass, register_pytree_node, tree_leaves  # noqa: F401
from .tracer.pytree import (
    PyTreeDef,
    leaves_matching,
    node_kind,
    tree_flatten,
    tree_map,
    tree_structure,
    tree_unflatten,
)


class SequenceKey(NamedTuple):
    """The position of a child in a tuple or list."""
    idx: int

    def __str__(self) -> str:
        return f"[{self.idx}]"


class DictKey(NamedTuple):
    """The key of a child in a dict."""
    key: Any

    def __str__(self) -> str:
        return f"[{self.key!r}]"


class GetAttrKey(NamedTuple):
    """The attribute name of a child of a namedtuple or dataclass."""
    name: str

    def __str__(self) -> str:
        return f".{self.name}"


class FlattenedIndexKey(NamedTuple):
    """The position of a child among the children a registered node's flatten returns."""
    key: int

    def __str__(self) -> str:
        return f"[<flat index {self.key}>]"


KeyPath = tuple  # a tuple of the keys above, root first


def _child_keys(x: Any, n_children: int) -> list[Any]:
    if isinstance(x, dict):
        return [DictKey(k) for k in sorted(x)]
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return [GetAttrKey(f) for f in x._fields]
    if isinstance(x, (tuple, list)):
        return [SequenceKey(i) for i in range(n_children)]
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        names = [f.name for f in dataclasses.fields(x)]
        if len(names) == n_children:
            return [GetAttrKey(n) for n in names]
    return [FlattenedIndexKey(i) for i in range(n_children)]


def _spelled_out(link: tuple | None) -> KeyPath:
    keys = []
    while link is not None:
        link, key = link
        keys.append(key)
    return tuple(reversed(keys))


def tree_flatten_with_path(tree: Any, is_leaf: Callable[[Any], bool] | None = None
                           ) -> tuple[list[tuple[KeyPath, Any]], PyTreeDef]:
    """Like tree_flatten, but each leaf comes with its key path from the root."""
    pairs: list[tuple[KeyPath, Any]] = []
    # iteratively (a deep tree must not recurse); a node's path is a (parent's path, key)
    # link, spelled out only at leaves, so a deep tree costs its size, not size * depth
    stack: list[tuple[Any, tuple | None]] = [(tree, None)]
    while stack:
        x, link = stack.pop()
        found = None if (is_leaf is not None and is_leaf(x)) else node_kind(x)
        if found is None:
            pairs.append((_spelled_out(link), x))
            continue
        kids, _ = found[1].flatten(x)
        keys = _child_keys(x, len(kids))
        stack.extend((kid, (link, key)) for key, kid in reversed(list(zip(keys, kids))))
    return pairs, tree_structure(tree) if is_leaf is None else tree_flatten(tree, is_leaf)[1]


def tree_leaves_with_path(tree: Any, is_leaf: Callable[[Any], bool] | None = None
                          ) -> list[tuple[KeyPath, Any]]:
    return tree_flatten_with_path(tree, is_leaf)[0]


def tree_map_with_path(f: Callable, tree: Any, *rest: Any,
                       is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """tree_map where f also receives each leaf's key path: f(path, leaf, *others)."""
    pairs, treedef = tree_flatten_with_path(tree, is_leaf)
    others = leaves_matching(treedef, rest, is_leaf, "tree_map_with_path")
    leaves = [f(path, x, *xs) for (path, x), *xs in zip(pairs, *others)]
    return tree_unflatten(treedef, leaves)


def keystr(path: KeyPath) -> str:
    """A key path as Python-like text: ['params'][0].weight"""
    return "".join(str(k) for k in path)


def tree_reduce(function: Callable[[Any, Any], Any], tree: Any, *initializer: Any,
                is_leaf: Callable[[Any], bool] | None = None) -> Any:
    return functools.reduce(function, tree_flatten(tree, is_leaf)[0], *initializer)


def tree_all(tree: Any) -> bool:
    return all(tree_leaves(tree))


def all_leaves(iterable: Any) -> bool:
    """True when every element of `iterable` is a leaf (not a pytree node)."""
    return all(node_kind(x) is None for x in iterable)


__all__ = ["PyTreeDef", "register_pytree_node", "register_dataclass", "tree_flatten",
           "tree_unflatten", "tree_leaves", "tree_structure", "tree_map", "tree_reduce",
           "tree_all", "all_leaves", "tree_flatten_with_path", "tree_leaves_with_path",
           "tree_map_with_path", "keystr", "SequenceKey", "DictKey", "GetAttrKey",
           "FlattenedIndexKey"]
