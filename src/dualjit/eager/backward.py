"""backward(): gather the recorded graph into one Function, apply the shared VJP, accumulate."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..autodiff import vjp_function
from ..ir import Function, TensorType, as_dtype
from ..tracer.core import apply_function, trace_flat
from .tensor import Node, Tensor, retained_refs

_creation_order = operator.attrgetter("seq")


class Graph:
    """The recorded graph behind a root node, numbered so its structure can key a cache."""

    def __init__(self, root: Node, retained: list[Tensor], check_freed: bool = True):
        # Every reachable node; a node is created after its inputs, so sorting by creation
        # order puts inputs before the nodes that use them.
        reached = {root}
        stack = [root]
        while stack:
            for src in stack.pop().inputs:
                if type(src) is Node and src not in reached:
                    reached.add(src)
                    stack.append(src)
        nodes = sorted(reached, key=_creation_order)
        leaves: list[Tensor] = []
        consts: list[np.ndarray] = []
        # A slot is (id of the node's Function, *input codes); an input code is 3k for the
        # k-th node, 3i+1 for the i-th leaf, 3j+2 for the j-th constant. `code` is keyed by
        # the Node itself, or by id() for a leaf Tensor.
        slots: list[tuple] = []
        code: dict[Any, int] = {}
        for k, node in enumerate(nodes):
            if node.freed and check_freed:
                raise RuntimeError(
                    "Trying to backward through the graph a second time (or directly access "
                    "saved tensors after they have already been freed). Saved intermediate "
                    "values of the graph are freed when you call .backward(). Specify "
                    "retain_graph=True if you need to backward through the graph a second time.")
            row = [id(node.function)]
            for src in node.inputs:
                kind = type(src)
                if kind is Node:
                    row.append(code[src])
                elif kind is np.ndarray or not isinstance(src, Tensor):
                    row.append(3 * len(consts) + 2)
                    consts.append(src if kind is np.ndarray else np.asarray(src))
                else:
                    c = code.get(id(src))
                    if c is None:
                        c = code[id(src)] = 3 * len(leaves) + 1
                        leaves.append(src)
                    row.append(c)
            code[node] = 3 * k
            slots.append(tuple(row))
        self.nodes, self.leaves, self.consts, self.slots = nodes, leaves, consts, slots
        self.retained: list[int | None] = [None] * len(nodes)
        if retained:
            retained_nodes = {id(t.grad_fn) for t in retained}
            count = 0
            for k, n in enumerate(nodes):
                if id(n) in retained_nodes:
                    self.retained[k], count = count, count + 1
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
            sources = (values, leaves, consts)
            for node, slot, kept in zip(self.nodes, self.slots, self.retained):
                ins = [sources[c % 3][c // 3] for c in slot[1:]]
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
    from ..jit import get_backend

    return get_backend()(fn)


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
        ct = _ones(out._value)
    else:
        ct = _ct(gradient, out)
    retained = _retained_tensors(out) if retained_refs else []
    graph = Graph(out.grad_fn, retained)
    key = (graph.key, graph.nodes[-1].function.out_types[0])
    compiled = _backward_cache.get(key)
    if compiled is None:
        fn = graph.function()
        n_wrt = len(graph.leaves) + sum(r is not None for r in graph.retained)
        compiled = _compile(vjp_function(fn, list(range(n_wrt))))
        # One native kernel: call it through its lean path (which checks every argument too).
        compiled = getattr(compiled, "fast_call", None) or (lambda args, c=compiled: c(*args))
        _backward_cache[key] = compiled
    kept_values = [np.zeros_like(t._value) for t in _in_node_order(graph, retained)] \
        if retained else []
    grads = compiled([*[leaf._value for leaf in graph.leaves], *kept_values, *graph.consts, ct])
    taken = set()
    for leaf, g in zip(graph.leaves, grads):
        if leaf._grad is None and type(g) is np.ndarray and g.dtype is leaf._value.dtype \
                and g.shape == leaf._value.shape and g.base is None and id(g) not in taken \
                and g is not ct:
            taken.add(id(g))  # a fresh array of the kernel's, given to one leaf: no copy
            leaf._grad = Tensor._wrap(g)
        else:
            _accumulate(leaf, g)
    if retained:
        for t, g in zip(_in_node_order(graph, retained), grads[len(graph.leaves):]):
            _accumulate(t, g)
    if not retain_graph:
        for node in graph.nodes:
            node.freed = True


_ones_cache: dict[tuple, np.ndarray] = {}


def _ones(like: np.ndarray) -> np.ndarray:
    """A read-only array of ones like `like` (the implicit gradient of a scalar output)."""
    key = (like.dtype, like.shape)
    found = _ones_cache.get(key)
    if found is None:
        found = _ones_cache[key] = np.ones_like(like)
        found.flags.writeable = False
    return found


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
