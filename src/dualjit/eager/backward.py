"""backward(): gather the recorded graph into one Function, apply the shared VJP, accumulate."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autodiff import vjp_function
from ..ir import Function, TensorType, as_dtype
from ..tracer.core import apply_function, trace_flat
from .tensor import Node, Tensor, retained_refs


class Graph:
    """The recorded graph behind a root node, numbered so its structure can key a cache."""

    def __init__(self, root: Node, retained: list[Tensor], check_freed: bool = True):
        self.nodes: list[Node] = []
        self.leaves: list[Tensor] = []
        self.consts: list[np.ndarray] = []
        index: dict[int, tuple] = {}
        slots = []
        retained_nodes = {id(t.grad_fn): k for k, t in enumerate(retained)}
        stack = [(root, False)]
        while stack:  # iterative post-order DFS: inputs before the nodes that use them
            node, expanded = stack.pop()
            if id(node) in index:
                continue
            if expanded:
                index[id(node)] = ("n", len(self.nodes))
                self.nodes.append(node)
                continue
            stack.append((node, True))
            for src in reversed(node.inputs):
                if isinstance(src, Node) and id(src) not in index:
                    stack.append((src, False))
        for node in self.nodes:
            if node.freed and check_freed:
                raise RuntimeError(
                    "Trying to backward through the graph a second time (or directly access "
                    "saved tensors after they have already been freed). Saved intermediate "
                    "values of the graph are freed when you call .backward(). Specify "
                    "retain_graph=True if you need to backward through the graph a second time.")
            row = []
            for src in node.inputs:
                if isinstance(src, Node):
                    row.append(index[id(src)])
                elif isinstance(src, Tensor):
                    if id(src) not in index:
                        index[id(src)] = ("w", len(self.leaves))
                        self.leaves.append(src)
                    row.append(index[id(src)])
                else:
                    row.append(("c", len(self.consts)))
                    self.consts.append(np.asarray(src))
            slots.append((id(node.function), tuple(row)))
        self.retained = []
        for n in self.nodes:
            self.retained.append(sum(r is not None for r in self.retained)
                                 if id(n) in retained_nodes else None)
        self.slots = slots
        self.key = (tuple(slots), tuple(self.retained))

    def input_types(self) -> list[TensorType]:
        def t(a):
            return TensorType(as_dtype(a.dtype), a.shape)
        kept = [n for n, r in zip(self.nodes, self.retained) if r is not None]
        return ([t(leaf._value) for leaf in self.leaves]
                + [n.function.out_types[0] for n in kept]
                + [t(c) for c in self.consts])

    def function(self) -> Function:
        """Inputs: leaves, zero perturbations of retained non-leaves, constants -> root value."""
        n_leaves, n_kept = len(self.leaves), sum(r is not None for r in self.retained)

        def replay(*args):
            leaves, bumps = args[:n_leaves], args[n_leaves:n_leaves + n_kept]
            consts = args[n_leaves + n_kept:]
            values: list[Any] = []
            for node, (_, row), kept in zip(self.nodes, self.slots, self.retained):
                ins = [values[i] if kind == "n" else leaves[i] if kind == "w" else consts[i]
                       for kind, i in row]
                out = apply_function(node.function, *ins)[0]
                if kept is not None:
                    out = out + bumps[kept]  # d out / d bump = d out / d (this tensor)
                values.append(out)
            return [values[-1]]

        fn, captures = trace_flat(replay, self.input_types())
        assert not captures
        return fn


_backward_cache: dict[Any, Any] = {}


def _compile(fn: Function):
    from ..jit import _backend

    return _backend["compile"](fn)


def forward_function(root: Node) -> Function:
    return Graph(root, [], check_freed=False).function()


def run_backward(out: Tensor, gradient: Any, retain_graph: bool) -> None:
    if not out.requires_grad or out.grad_fn is None:
        if out.requires_grad:  # a leaf: d out / d out
            _accumulate(out, np.ones_like(out._value) if gradient is None else _ct(gradient, out))
            return
        raise RuntimeError("element 0 of tensors does not require grad and does not have a "
                           "grad_fn: nothing that requires grad was used to compute it")
    if gradient is None:
        if out._value.size != 1:
            raise RuntimeError(f"grad can be implicitly created only for scalar outputs (this "
                               f"output has shape {tuple(out.shape)}); pass a gradient of that "
                               "shape: out.backward(v) computes the vector-Jacobian product")
        ct = np.ones_like(out._value)
    else:
        ct = _ct(gradient, out)
    retained = _retained_tensors(out)
    graph = Graph(out.grad_fn, retained)
    key = (graph.key, tuple(t.function.out_types[0] for t in graph.nodes[-1:]))
    compiled = _backward_cache.get(key)
    if compiled is None:
        fn = graph.function()
        n_wrt = len(graph.leaves) + sum(r is not None for r in graph.retained)
        compiled = _compile(vjp_function(fn, list(range(n_wrt))))
        _backward_cache[key] = compiled
    kept_values = [np.zeros_like(t._value) for t in _in_node_order(graph, retained)]
    grads = compiled(*[leaf._value for leaf in graph.leaves], *kept_values, *graph.consts, ct)
    for leaf, g in zip(graph.leaves, grads):
        _accumulate(leaf, g)
    for t, g in zip(_in_node_order(graph, retained), grads[len(graph.leaves):]):
        _accumulate(t, g)
    if not retain_graph:
        for node in graph.nodes:
            node.freed = True


def _retained_tensors(out: Tensor) -> list[Tensor]:
    alive = [r() for r in retained_refs]
    retained_refs[:] = [r for r, t in zip(retained_refs, alive) if t is not None]
    return [t for t in alive if t is not None and t._retains_grad and t.grad_fn is not None]


def _in_node_order(graph: Graph, retained: list[Tensor]) -> list[Tensor]:
    by_node = {id(t.grad_fn): t for t in retained}
    return [by_node[id(n)] for n, r in zip(graph.nodes, graph.retained) if r is not None]


def _ct(gradient: Any, out: Tensor) -> np.ndarray:
    g = gradient._value if isinstance(gradient, Tensor) else np.asarray(gradient)
    if g.shape != out._value.shape:
        raise RuntimeError(f"backward: gradient has shape {g.shape}, but the output has shape "
                           f"{out._value.shape}; they must match")
    return g.astype(out._value.dtype)


def _accumulate(t: Tensor, g: Any) -> None:
    g = np.asarray(g, dtype=t._value.dtype).reshape(t._value.shape)
    if t._grad is None:
        t._grad = Tensor._wrap(np.array(g))
    else:
        t._grad._value += g
