"""Pytrees: flatten nested containers of arrays to leaves and a treedef, and rebuild them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Sequence
from typing import Any, NamedTuple


class NodeKind(NamedTuple):
    flatten: Callable[[Any], tuple[list[Any], Hashable]]
    unflatten: Callable[[Hashable, list[Any]], Any]


_registry: dict[type, NodeKind] = {}


def register_pytree_node(cls: type, flatten: Callable, unflatten: Callable) -> None:
    """Make `cls` a container: flatten(x) -> (children, aux), unflatten(aux, children) -> x."""
    _registry[cls] = NodeKind(flatten, unflatten)


def is_registered(cls: type) -> bool:
    """Whether register_pytree_node (or register_dataclass) made `cls` a container."""
    return cls in _registry


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
        if not isinstance(other, PyTreeDef):
            return False
        pairs = [(self, other)]  # compared node by node: a deep tree must not recurse
        while pairs:
            a, b = pairs.pop()
            if a is b:
                continue
            if (a._hash != b._hash or a.kind is not b.kind or a.aux != b.aux
                    or len(a.children) != len(b.children)):
                return False
            pairs.extend(zip(a.children, b.children))
        return True

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        parts: list[str] = []
        stack: list = [self]  # nodes, and the text that closes a node's children
        while stack:
            td = stack.pop()
            if isinstance(td, str):
                parts.append(td)
            elif td.kind is None:
                parts.append("*")
            else:
                parts.append(f"{td.kind.__name__}(")
                stack.append(")")
                for i, c in enumerate(reversed(td.children)):
                    stack.append(c)
                    if i < len(td.children) - 1:
                        stack.append(", ")
        return "".join(parts)


LEAF = PyTreeDef(None, None, ())


def node_kind(x: Any) -> tuple[type, NodeKind] | None:
    cls = type(x)
    if cls in _registry:
        return cls, _registry[cls]
    if isinstance(x, tuple) and hasattr(x, "_fields"):  # namedtuple
        return cls, NodeKind(lambda t: (list(t), None), lambda _, kids, c=cls: c(*kids))
    return None


def tree_flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None
                 ) -> tuple[list[Any], PyTreeDef]:
    """(leaves left to right, structure). Walks with an explicit stack: any depth works."""
    leaves: list[Any] = []
    done: list[PyTreeDef] = []  # finished subtrees, children before their parent
    stack: list = [(False, tree)]
    while stack:
        built, x = stack.pop()
        if built:  # x = (cls, aux, number of children): its children are on `done`
            cls, aux, n = x
            kids = tuple(done[len(done) - n:])
            del done[len(done) - n:]
            done.append(PyTreeDef(cls, aux, kids))
            continue
        found = None if (is_leaf is not None and is_leaf(x)) else node_kind(x)
        if found is None:
            leaves.append(x)
            done.append(LEAF)
            continue
        cls, kind = found
        kids, aux = kind.flatten(x)
        stack.append((True, (cls, aux, len(kids))))
        stack.extend((False, k) for k in reversed(kids))
    return leaves, done[0]


def tree_unflatten(treedef: PyTreeDef, leaves: list[Any]) -> Any:
    """Rebuild the tree of `treedef` from leaves (iteratively, like tree_flatten)."""
    it = iter(leaves)
    done: list[Any] = []
    stack: list = [(False, treedef)]
    while stack:
        built, td = stack.pop()
        if td.kind is None:
            done.append(next(it))
        elif not built:
            stack.append((True, td))
            stack.extend((False, c) for c in reversed(td.children))
        else:
            n = len(td.children)
            kids = done[len(done) - n:]
            del done[len(done) - n:]
            found = _registry.get(td.kind)
            done.append(td.kind(*kids) if found is None  # namedtuple
                        else found.unflatten(td.aux, kids))
    return done[0]


def flatten_fun(fun: Callable, in_tree: PyTreeDef
                ) -> tuple[Callable[..., list[Any]], Callable[[], PyTreeDef]]:
    """A function of pytrees as a function of leaves, for tracing.

    flat(*leaves) calls fun(*args), args rebuilt from the leaves by in_tree (the structure
    of the argument tuple or list), and returns the leaves of the result; out_tree(), read
    after a call, is the structure of that result."""
    box: list[PyTreeDef] = []

    def flat(*leaves: Any) -> list[Any]:
        out_leaves, out_tree = tree_flatten(fun(*tree_unflatten(in_tree, list(leaves))))
        box[:] = [out_tree]
        return out_leaves

    return flat, lambda: box[0]


def tree_leaves(tree: Any) -> list[Any]:
    return tree_flatten(tree)[0]


def tree_structure(tree: Any) -> PyTreeDef:
    return tree_flatten(tree)[1]


def leaves_matching(treedef: PyTreeDef, trees: Sequence[Any], is_leaf: Callable | None,
                    who: str) -> list[list[Any]]:
    """The leaves of each of `trees` (the arguments after the first of `who`), each of which
    must have the structure treedef."""
    found = []
    for i, tree in enumerate(trees):
        leaves, td = tree_flatten(tree, is_leaf)
        if td != treedef:
            raise ValueError(f"{who}: argument {i + 1} has structure {td}, expected {treedef}")
        found.append(leaves)
    return found


def tree_map(f: Callable, tree: Any, *rest: Any, is_leaf: Callable | None = None) -> Any:
    leaves, treedef = tree_flatten(tree, is_leaf)
    others = leaves_matching(treedef, rest, is_leaf, "tree_map")
    return tree_unflatten(treedef, [f(*xs) for xs in zip(leaves, *others)])
