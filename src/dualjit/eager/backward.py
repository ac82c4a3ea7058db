"""backward() and autograd.grad(): the recorded graph's VJP, composed from each node's IR VJP.

The graph behind the outputs is numbered (nodes in creation order, leaves, constants) so its
structure keys a cache. The usual case runs *fused*: the VJPs of all nodes (each node's IR
Function through the shared `vjp_function`, linearized at the node's recorded input values)
are traced into one Function, simplified, compiled once per graph structure and called with
the leaves', constants' and nodes' values. Graphs that need Python between nodes (custom
autograd.Functions, hooks on non-leaf tensors) or whose backward must itself be recorded
(create_graph=True) run *stepwise*: the same per-node VJP Functions applied node by node,
as recorded Tensor operations when create_graph is set.
"""

from __future__ import annotations

import itertools
import operator
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..autodiff import vjp_function
from ..ir import Function, Literal, TensorType, as_dtype
from ..ir.interpreter import literal_value
from ..ir.passes import dce
from ..tracer.core import Tracer, apply_function, current_builder, trace_flat
from .tensor import (
    Node,
    Tensor,
    extra_of,
    is_grad_enabled,
    last_version_change,
    make_tensor,
    native_steps,
    note_version_change,
    record_op,
    set_grad_enabled,
    source_of,
    version_counter,
)

ndarray = np.ndarray


# ---------------------------------------------------------------------------------------------
# Nodes that run Python (custom autograd.Functions)
# ---------------------------------------------------------------------------------------------

class PythonNode(Node):
    """A custom autograd.Function application: `backward(cts)` returns one gradient (or None)
    per input. Its outputs are OutputNodes, so each output tensor has a one-output node."""

    __slots__ = ("backward_fn", "n_outputs")

    def backward(self, cts: list) -> Sequence[Any]:
        return self.backward_fn(cts)


class OutputNode(Node):
    """Output `index` of a PythonNode (its only input)."""

    __slots__ = ("index",)


# ---------------------------------------------------------------------------------------------
# Per-node VJP Functions
# ---------------------------------------------------------------------------------------------

_node_vjps: dict[tuple, tuple] = {}


def node_vjp(function: Function, wrt: tuple[int, ...]) -> tuple[Function, frozenset]:
    """(vjp Function: (inputs..., ct) -> one cotangent per wrt input, the inputs it reads)."""
    key = (id(function), wrt)
    found = _node_vjps.get(key)
    if found is None:
        fn = vjp_function(function, list(wrt))
        found = (fn, _used_inputs(fn), function)  # (keeps `function` alive: its id is the key)
        _node_vjps[key] = found
    return found[0], found[1]


def reads_input(function: Function, wrt: tuple[int, ...], i: int) -> bool:
    """Whether the derivative of `function` with respect to inputs `wrt` reads input i."""
    return bool(wrt) and i in node_vjp(function, wrt)[1]


# Operations whose derivative PyTorch computes from their output: changing that output in
# place makes backward() raise the version error there, so it does here too.
SAVES_RESULT = frozenset(("ExpBackward", "Exp2Backward", "Expm1Backward", "TanhBackward",
                          "SigmoidBackward", "SqrtBackward", "RsqrtBackward", "ReluBackward",
                          "SoftmaxBackward", "LogSoftmaxBackward", "ReciprocalBackward"))


def _used_inputs(fn: Function) -> frozenset:
    read = set()
    for eqn in fn.eqns:
        read.update(a for a in eqn.inputs if not hasattr(a, "val"))
    read.update(fn.outputs)
    return frozenset(i for i, v in enumerate(fn.inputs) if v in read)


_projections: dict[tuple, Function] = {}


def output_projection(fn: Function, j: int) -> Function:
    """fn restricted to its j-th output (a one-output Function for a recorded node)."""
    key = (id(fn), j)
    found = _projections.get(key)
    if found is None:
        found = _projections[key] = dce(Function(fn.inputs, fn.consts, fn.eqns,
                                                 [fn.outputs[j]]))
        _projections[(id(fn), j, "keep")] = fn
    return found


# ---------------------------------------------------------------------------------------------
# The graph
# ---------------------------------------------------------------------------------------------

LEAF, CONST, NODE = 1, 2, 0  # input code = 3 * index + kind


class Graph:
    """The recorded graph behind root nodes, numbered so its structure can key a cache.

    Built once per backward() call, so the numbering is one loop over the nodes' inputs.
    """

    def __init__(self, roots: Sequence[Node], check_freed: bool = True):
        reached = set(roots)
        stack = list(roots)
        while stack:
            for src in stack.pop().inputs:
                kind = type(src)
                if (kind is Node or (kind is not ndarray and kind is not Tensor and
                                     isinstance(src, Node))) and src not in reached:
                    reached.add(src)
                    stack.append(src)
        self.nodes = nodes = sorted(reached, key=_creation_order)
        self._index: dict[Node, int] | None = None
        self.leaves: list[Tensor] = []
        self.consts: list[Any] = []
        self.codes: list[tuple] = []  # per node, the code of each input (see below)
        self.stale: list[tuple] = []  # (code, what) of values changed in place since use
        self.python = False
        self.has_extras = False  # whether a node has hooks or a retained tensor
        self._wrt: list[tuple] | None = None
        leaves, consts, all_codes = self.leaves, self.consts, self.codes
        # An input's code: 3k for the k-th node, 3i + LEAF for the i-th leaf, 3j + CONST for
        # the j-th constant. Nodes and Tensors are keyed by themselves (they keep object's
        # identity hash, and a dict compares keys by identity first), leaves of Tensor
        # subclasses, whose hash and == may be their own, by id() (every one is alive while
        # the graph is numbered, so the ids are distinct).
        node_code: dict[Node, int] = {}
        leaf_code: dict[Tensor, int] = {}
        subclass_leaf_code: dict[int, int] = {}
        functions = []
        # (no counter written since the oldest node was recorded: no check can fail)
        unchanged = last_version_change[0] < nodes[0].seq if nodes else True
        for k, node in enumerate(nodes):
            if node.freed and check_freed:
                raise RuntimeError(
                    "Trying to backward through the graph a second time (or directly access "
                    "saved tensors after they have already been freed). Saved intermediate "
                    "values of the graph are freed when you call .backward(). Specify "
                    "retain_graph=True if you need to backward through the graph a second time.")
            codes = []
            for src in node.inputs:
                kind = type(src)
                if kind is Node:
                    codes.append(node_code[src])
                elif kind is ndarray:
                    codes.append(3 * len(consts) + CONST)
                    consts.append(src)
                elif isinstance(src, Node):
                    codes.append(node_code[src])
                elif isinstance(src, Tensor):
                    found, key = (leaf_code, src) if kind is Tensor else \
                        (subclass_leaf_code, id(src))
                    code = found.get(key)
                    if code is None:
                        code = found[key] = 3 * len(leaves) + LEAF
                        leaves.append(src)
                    codes.append(code)
                else:  # (a constant of another kind: a Tracer, a NumPy scalar...)
                    codes.append(3 * len(consts) + CONST)
                    consts.append(src)
            node_code[node] = 3 * k
            if not unchanged:
                self._note_stale(k, node, codes)
            if type(node) is Node:
                functions.append(id(node.function))
                if node.extras is not None:
                    self.has_extras = True
                    if node.extras[0]:
                        self.python = True  # hooks on a non-leaf tensor
            else:  # a custom Function (Python)
                functions.append(id(node.function) if node.function is not None else type(node))
                self.python = True
                self.has_extras = self.has_extras or node.extras is not None
            all_codes.append(tuple(codes))
        self.key = (tuple(all_codes), tuple(functions))

    def _note_stale(self, k: int, node: Node, codes: list[int]) -> None:
        """Note the k-th node's output and checked inputs whose version moved since use."""
        counter = node.counter  # (None: no tensor holding the output has a counter yet)
        if counter is not None and counter[0] != node.version:
            self.stale.append((3 * k, node))
        checks = node.checks  # (position, counter, version) triples, flat
        for j in range(0, len(checks), 3):
            counter, version = checks[j + 1], checks[j + 2]
            if counter[0] != version:
                i = checks[j]
                self.stale.append((codes[i], (node, i, counter[0], version)))

    @property
    def index(self) -> dict[Node, int]:
        """Each node's position in `nodes`."""
        if self._index is None:
            self._index = {node: k for k, node in enumerate(self.nodes)}
        return self._index

    @property
    def wrt(self) -> list[tuple]:
        """Per node, the positions of the inputs a gradient flows to (not constants)."""
        if self._wrt is None:
            self._wrt = [tuple(i for i, c in enumerate(codes) if c % 3 != CONST)
                         for codes in self.codes]
        return self._wrt

    def value(self, code: int) -> Any:
        k, kind = divmod(code, 3)
        if kind == NODE:
            return self.nodes[k].value
        if kind == LEAF:
            return self.leaves[k]._value
        return self.consts[k]

    def check_versions(self, used_codes: set) -> None:
        """The version-counter error, for values backward() reads that were modified in place
        after the forward pass used them."""
        for code, what in self.stale:
            if code not in used_codes and not (isinstance(what, Node) and what.name in
                                               SAVES_RESULT):
                continue
            if isinstance(what, Node):
                arr, now, then = what.value, what.counter[0], what.version
                if arr is None:  # (not kept: Node.value)
                    arr = unread_value(what.function.out_types[0])
                desc = f"which is output 0 of {what.name}"
            else:
                node, i, now, then = what
                arr = self.value(code)
                desc = f"which is input {i} of {node.name}"
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: [{np.dtype(arr.dtype)} tensor of shape {tuple(arr.shape)}], "
                f"{desc}, is at version {now}; expected version {then} instead. Hint: clone() "
                "the tensor before modifying it in place, or modify it before using it.")


_creation_order = operator.attrgetter("seq")



# ---------------------------------------------------------------------------------------------
# Fused backward: one compiled Function per graph structure
# ---------------------------------------------------------------------------------------------

class _Fused:
    """A compiled backward: which graph values it reads, and the callable."""

    __slots__ = ("function", "used", "codes", "picks", "call", "last_used", "fresh")

    def __init__(self, function: Function, used: list[int], codes: list[int],
                 call: Callable | None, fresh: bool = False):
        self.function = function
        self.used = used  # the input positions the Function reads
        self.codes = codes  # their graph codes (root cotangents: -1 - index)
        # (kind, index) of each: kind is NODE, LEAF or CONST, or 3 for a root cotangent
        self.picks = [divmod(c, 3)[::-1] if c >= 0 else (3, -1 - c) for c in codes]
        self.call = call
        self.last_used = 0
        # Whether `call` is a native caller, whose outputs are new arrays that share memory
        # with nothing (codegen/callers.py): a leaf's .grad may take one over unchecked.
        self.fresh = fresh


# Compiled backward programs by graph, the BACKWARD_CACHE_SIZE most recently used: each holds
# native code, so a loop over ever new shapes must not keep them all (safety helper). An entry
# notes when it was last used (a tick), so a hit costs one lookup of the (long) key.
BACKWARD_CACHE_SIZE = 64
_backward_cache: dict[Any, _Fused] = {}
_ticks = itertools.count(1)


def _cached_fused(graph: Graph, root_ks: list[int], targets: list[int], key: tuple) -> _Fused:
    entry = _backward_cache.get(key)
    if entry is None:
        entry = _backward_cache[key] = _compile_fused(graph, root_ks, targets)
        entry.last_used = next(_ticks)
        if len(_backward_cache) > BACKWARD_CACHE_SIZE:
            entries = list(_backward_cache.items())  # (a copy: other threads may insert)
            oldest = min(entries, key=lambda item: item[1].last_used)[0]
            _backward_cache.pop(oldest, None)
    entry.last_used = next(_ticks)
    return entry


def _value_type(x: Any) -> TensorType:
    return TensorType(as_dtype(x.dtype), tuple(x.shape))


def _fused_function(graph: Graph, root_ks: list[int], targets: list[int]) -> Function:
    """(leaves, consts, node values, root cotangents) -> cotangents of `targets` (codes)."""
    n_l, n_c, n_n = len(graph.leaves), len(graph.consts), len(graph.nodes)
    in_types = ([_value_type(t._value) for t in graph.leaves]
                + [_value_type(c) for c in graph.consts]
                + [n.function.out_types[0] for n in graph.nodes]
                + [graph.nodes[k].function.out_types[0] for k in root_ks])

    def body(*args):
        leaves, consts = args[:n_l], args[n_l:n_l + n_c]
        values, root_cts = args[n_l + n_c:n_l + n_c + n_n], args[n_l + n_c + n_n:]
        sources = (values, leaves, consts)
        cts: dict[int, Any] = {}
        for k, ct in zip(root_ks, root_cts):
            _add_to(cts, 3 * k, ct)
        for k in range(n_n - 1, -1, -1):
            ct = cts.get(3 * k)
            if ct is None or not graph.wrt[k]:
                continue
            codes = graph.codes[k]
            vjp, _ = node_vjp(graph.nodes[k].function, graph.wrt[k])
            ins = [sources[c % 3][c // 3] for c in codes]
            for i, g in zip(graph.wrt[k], apply_function(vjp, *ins, ct)):
                _add_to(cts, codes[i], literal_value(g) if isinstance(g, Literal) else g)
        return [_or_zeros(cts.get(code), _code_type(graph, code)) for code in targets]

    fn, captures = trace_flat(body, in_types)
    assert not captures
    from ..ir.passes import simplify

    return simplify(fn)


def _add_to(cts: dict, code: int, ct: Any) -> None:
    found = cts.get(code)
    cts[code] = ct if found is None else found + ct


def _or_zeros(ct: Any, t: TensorType) -> Any:
    if ct is not None:
        return ct
    from .. import numpy as jnp

    return jnp.zeros(t.shape, t.dtype.np)


def _code_type(graph: Graph, code: int) -> TensorType:
    k, kind = divmod(code, 3)
    if kind == NODE:
        return graph.nodes[k].function.out_types[0]
    return _value_type(graph.leaves[k]._value)


def _run_fused(graph: Graph, root_ks: list[int], root_cts: list[Any], targets: list[int]):
    key = (graph.key, tuple(root_ks), tuple(targets),
           tuple([(c.dtype, c.shape) for c in root_cts]))
    return _call_fused(graph, _cached_fused(graph, root_ks, targets, key), root_cts)


def _call_fused(graph: Graph, entry: _Fused, root_cts: list[Any]) -> list:
    """Run a compiled backward on the graph's values (after the version checks it needs)."""
    if graph.stale:
        graph.check_versions(set(entry.codes))
    nodes, leaves, consts = graph.nodes, graph.leaves, graph.consts
    args = [nodes[k].value if kind == NODE else leaves[k]._value if kind == LEAF else
            consts[k] if kind == CONST else root_cts[k] for kind, k in entry.picks]
    for a in args:
        if type(a) is not ndarray:
            if a is None:
                raise RuntimeError("internal error: backward() needs a value the recorded "
                                   "graph did not keep (Node.value)")
            return apply_function(entry.function, *args)  # traced (dj.compile): inline it
    if entry.call is None:
        compiled = compile_function(entry.function)
        fast_call = getattr(compiled, "fast_call", None)
        entry.call = fast_call or (lambda a, c=compiled: c(*a))
        entry.fresh = fast_call is not None
    return entry.call(args)


def _input_code(graph: Graph, position: int) -> int:
    n_l, n_c = len(graph.leaves), len(graph.consts)
    if position < n_l:
        return 3 * position + LEAF
    if position < n_l + n_c:
        return 3 * (position - n_l) + CONST
    return 3 * (position - n_l - n_c) + NODE


def _compile_fused(graph: Graph, root_ks: list[int], targets: list[int]) -> _Fused:
    fn = _fused_function(graph, root_ks, targets)
    used = sorted(_used_inputs(fn))
    fn = Function([fn.inputs[i] for i in used], fn.consts, fn.eqns, fn.outputs)
    n_graph = len(graph.leaves) + len(graph.consts) + len(graph.nodes)
    codes = [_input_code(graph, p) if p < n_graph else -1 - (p - n_graph) for p in used]
    if current_builder() is not None:  # tracing (dj.compile): inline, don't compile
        return _Fused(fn, used, codes, None)
    compiled = compile_function(fn)
    fast_call = getattr(compiled, "fast_call", None)
    if fast_call is not None:
        return _Fused(fn, used, codes, fast_call, fresh=True)
    return _Fused(fn, used, codes, lambda args, c=compiled: c(*args))


def compile_function(fn: Function) -> Callable:
    from ..jit import get_backend

    return get_backend()(fn)


# ---------------------------------------------------------------------------------------------
# Stepwise backward: node by node (Python between nodes, or a recorded backward)
# ---------------------------------------------------------------------------------------------

def _run_stepwise(graph: Graph, root_ks: list[int], root_cts: list[Tensor], targets: list[int],
                  create_graph: bool) -> list:
    cts: dict[int, Tensor] = {}
    python_cts: dict[int, list] = {}
    found: dict[int, Tensor] = {}
    wanted = set(targets)
    for k, ct in zip(root_ks, root_cts):
        _add_tensor(cts, 3 * k, ct)
    used: set = set()
    for k in range(len(graph.nodes) - 1, -1, -1):
        node = graph.nodes[k]
        if isinstance(node, PythonNode):
            node_cts = python_cts.pop(k, None)
            if node_cts is None:
                continue
            grads = _python_backward(node, node_cts)
        else:
            ct = cts.pop(3 * k, None)
            if ct is None:
                continue
            if node.hooks:
                ct = _flip(_run_hooks(node.hooks, _flip(ct)))
            if 3 * k in wanted:
                found[3 * k] = ct
            if isinstance(node, OutputNode):
                owner = graph.index[node.inputs[0]]
                slot = python_cts.setdefault(owner, [None] * node.inputs[0].n_outputs)
                slot[node.index] = ct if slot[node.index] is None else slot[node.index] + ct
                continue
            if not graph.wrt[k]:
                continue
            grads = _node_backward(graph, k, ct, create_graph, used)
        codes = graph.codes[k]
        for i, g in zip(graph.wrt[k] if not isinstance(node, PythonNode) else
                        range(len(codes)), grads):
            if g is not None:
                _add_tensor(cts, codes[i], g)
    if graph.stale:
        graph.check_versions(used)
    for code in targets:
        if code % 3 != NODE:
            found[code] = cts.get(code)
    return [found.get(code) for code in targets]


def _flip(ct: Any) -> Any:
    """Between PyTorch's gradient of a complex value and JAX's cotangent, which the recorded
    operations' VJPs compute: each is the other's conjugate (real values are unchanged)."""
    if ct.dtype.kind != "c":  # (Tensors, arrays and Tracers all have a NumPy dtype)
        return ct
    if isinstance(ct, Tensor):
        return ct.conj()
    if isinstance(ct, Tracer):
        from .. import numpy as jnp

        return jnp.conj(ct)
    return np.conj(ct)


def _add_tensor(cts: dict, code: int, ct: Tensor) -> None:
    found = cts.get(code)
    cts[code] = ct if found is None else found + ct


def _run_hooks(hooks: list, ct: Tensor) -> Tensor:
    for hook in hooks:
        out = hook(ct)
        if out is not None:
            ct = out if isinstance(out, Tensor) else Tensor(out)
    return ct


def _node_backward(graph: Graph, k: int, ct: Tensor, create_graph: bool, used: set) -> list:
    node, codes, wrt = graph.nodes[k], graph.codes[k], graph.wrt[k]
    vjp, reads = node_vjp(node.function, wrt)
    used.update(codes[i] for i in reads if i < len(codes))
    values = [graph.value(c) for c in codes]
    for i, v in enumerate(values):
        if v is None:
            if i in reads:
                raise RuntimeError("Trying to backward through the graph a second time; "
                                   "specify retain_graph=True the first time")
            values[i] = unread_value(node.function.in_types[i])
    outs = [literal_value(o) if isinstance(o, Literal) else o
            for o in apply_function(vjp, *values, ct._value)]
    if not (create_graph and is_grad_enabled()):
        return [make_tensor(np.asarray(o) if not isinstance(o, Tracer) else o) for o in outs]
    args = [_as_input(graph, c) for c in codes] + [ct]
    return [record_op(f"{node.name}Backward", output_projection(vjp, j), args, _eager(o))
            for j, o in enumerate(outs)]


def _eager(value: Any) -> Any:
    return value if isinstance(value, Tracer) else np.asarray(value)


def _as_input(graph: Graph, code: int) -> Any:
    """An input of a node's VJP as a Tensor the recording can trace back (create_graph)."""
    k, kind = divmod(code, 3)
    if kind == NODE:
        node = graph.nodes[k]
        value = node.value
        if value is None:  # (no recorded derivative reads it: Node.value)
            value = unread_value(node.function.out_types[0])
        return make_tensor(value, node, node.counter)
    if kind == LEAF:
        return graph.leaves[k]
    return graph.consts[k]


def unread_value(t: TensorType) -> ndarray:
    """A stand-in of type t for a node's value that no derivative reads (Node.value)."""
    return np.broadcast_to(np.zeros((), t.dtype.np), t.shape)


def _python_backward(node: PythonNode, cts: list) -> list:
    grads = node.backward(cts)
    if len(grads) != len(node.inputs):
        raise RuntimeError(f"function {node.name} returned an incorrect number of gradients "
                           f"(expected {len(node.inputs)}, got {len(grads)})")
    return [None if g is None else (g if isinstance(g, Tensor) else Tensor(g)) for g in grads]


# ---------------------------------------------------------------------------------------------
# backward() and grad()
# ---------------------------------------------------------------------------------------------

def _as_list(x: Any) -> list:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _root_cts(outputs: list[Tensor], grads: list, create_graph: bool) -> list[Tensor]:
    cts = []
    for i, out in enumerate(outputs):
        g = grads[i] if i < len(grads) else None
        if not isinstance(out, Tensor):
            raise TypeError(f"backward: outputs must be Tensors, got {type(out).__name__}")
        if not out.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have "
                               "a grad_fn: nothing that requires grad was used to compute it")
        if g is None:
            if out._value.dtype.kind == "c":
                raise RuntimeError("grad can be implicitly created only for real scalar "
                                   "outputs; pass a gradient (out.backward(torch.ones_like(out)) "
                                   "for the conjugate Wirtinger derivative convention)")
            if out._value.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs "
                                   f"(this output has shape {tuple(out.shape)}); pass a "
                                   "gradient of that shape: out.backward(v) computes the "
                                   "vector-Jacobian product")
            cts.append(make_tensor(_ones(out._value)))
            continue
        g = g if isinstance(g, Tensor) else Tensor(np.asarray(g))
        if tuple(g.shape) != tuple(out.shape):
            raise RuntimeError(f"backward: gradient has shape {tuple(g.shape)}, but the output "
                               f"has shape {tuple(out.shape)}; they must match")
        if g.dtype != out.dtype:
            g = g.type(out.dtype)
        cts.append(g if create_graph else make_tensor(g._value))
    return cts


_ones_cache: dict[tuple, ndarray] = {}


def _ones(like: Any) -> Any:
    """A read-only array of ones like `like` (the implicit gradient of a scalar output)."""
    if isinstance(like, Tracer):
        from .. import numpy as jnp

        return jnp.ones(like.shape, like.dtype)
    key = (like.dtype, like.shape)
    found = _ones_cache.get(key)
    if found is None:
        found = _ones_cache[key] = np.ones_like(like)
        found.flags.writeable = False
    return found


def _differentiate(outputs: list[Tensor], cts: list[Tensor], inputs: list[Tensor] | None,
                   retain_graph: bool, create_graph: bool) -> tuple[list, list]:
    """Gradients of sum(<ct, output>) for `inputs` (or every leaf and retained tensor).

    Returns (tensors, gradients); a gradient is None where the tensor was not reached.
    """
    roots, root_cts, direct = [], [], []
    for out, ct in zip(outputs, cts):
        src = source_of(out)
        if isinstance(src, Node):
            roots.append(src)
            root_cts.append(ct)
        else:
            direct.append((out, ct))
    graph = Graph(roots) if roots else None
    tensors, targets = _targets(graph, inputs)
    results: list = [None] * len(tensors)
    if graph is not None and targets:
        codes = [c for c in targets if c is not None]
        root_ks = [graph.index[r] for r in roots]
        if graph.python or create_graph or not native_steps.enabled:
            with set_grad_enabled(create_graph):
                found = _run_stepwise(graph, root_ks, list(map(_flip, root_cts)), codes,
                                      create_graph)
                found = [None if g is None else _flip(g) for g in found]
        else:
            found = _run_fused(graph, root_ks, [_flip(c._value) for c in root_cts], codes)
            found = [make_tensor(g) if type(g) is ndarray and g.dtype.kind != "c" else
                     _wrap_grad(_flip(g)) for g in found]
        it = iter(found)
        results = [next(it) if c is not None else None for c in targets]
    for out, ct in direct:  # an output that is itself a leaf (or an input)
        for i, t in enumerate(tensors):
            if t is out:
                results[i] = ct if results[i] is None else results[i] + ct
    if graph is not None and not retain_graph:
        for node in graph.nodes:
            node.freed = True
            node.value = None
    return tensors, results


def _wrap_grad(g: Any) -> Tensor:
    return make_tensor(g if type(g) is ndarray or isinstance(g, Tracer) else np.asarray(g))


def _targets(graph: Graph | None, inputs: list[Tensor] | None) -> tuple[list, list]:
    """The tensors whose gradients are wanted, and the graph code of each (None: unreached)."""
    if inputs is None:  # backward(): every leaf, and non-leaves that retain their grad
        if graph is None:
            return [], []
        tensors = list(graph.leaves)
        codes = [3 * i + LEAF for i in range(len(graph.leaves))]
        if not graph.has_extras:  # (no node has a retained tensor)
            return tensors, codes
        for k, node in enumerate(graph.nodes):
            if node.extras is not None and node.retained is not None:
                t = node.retained()
                if t is not None and t.grad_fn is node:
                    tensors.append(t)
                    codes.append(3 * k)
        return tensors, codes
    codes = []
    leaf_codes = {id(t): 3 * i + LEAF for i, t in enumerate(graph.leaves)} if graph else {}
    for t in inputs:
        if not isinstance(t, Tensor):
            raise TypeError(f"inputs must be Tensors, got {type(t).__name__}")
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
        src = source_of(t)
        if isinstance(src, Node):
            codes.append(3 * graph.index[src] if graph and src in graph.index else None)
        else:
            codes.append(leaf_codes.get(id(t)))
    return list(inputs), codes


def backward(tensors: Any, grad_tensors: Any = None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs: Any = None) -> None:
    """Accumulate d(sum of <grad, tensor>) into the .grad of every leaf (or of `inputs`)."""
    outputs = _as_list(tensors)
    if retain_graph is None:
        retain_graph = create_graph
    cts = _root_cts(outputs, _as_list(grad_tensors), create_graph)
    wanted = _as_list(inputs) if inputs is not None else None
    if wanted is not None and not wanted:
        raise RuntimeError("backward: 'inputs' argument to backward() cannot be empty")
    targets, grads = _differentiate(outputs, cts, wanted, retain_graph, create_graph)
    given = {id(c._value) for c in cts}  # arrays a .grad must not take over (copy them)
    for t, g in zip(targets, grads):
        if g is not None:
            _accumulate(t, g, create_graph, given)


def backward_of_scalar(out: Tensor, retain_graph: bool) -> bool:
    """out.backward() for a training loop's loss — a real one-element non-leaf tensor (not a
    view), the implicit gradient 1, a graph of recorded operations only (no Python nodes,
    hooks on non-leaves or retained non-leaves) — as backward() does it, in one function.
    Returns False, having done nothing, when it is not that case: then backward() must run."""
    node, value = out.grad_fn, out._value
    if type(node) is not Node or out._extra is not None or type(value) is not ndarray or \
            value.size != 1 or value.dtype.kind != "f" or not native_steps.enabled:
        return False
    graph = Graph([node])
    if graph.python or graph.has_extras:
        return False
    leaves = graph.leaves
    if leaves:
        # The root is the newest node (the last), its cotangent ones of its type, the targets
        # every leaf in order: the graph's structure key decides all of them.
        entry = _backward_cache.get(graph.key)
        if entry is None:
            entry = _cached_fused(graph, [len(graph.nodes) - 1],
                                  [3 * i + LEAF for i in range(len(leaves))], graph.key)
        else:
            entry.last_used = next(_ticks)
        found = _call_fused(graph, entry, [_ones(value)])
        if entry.fresh:  # (new arrays of the kernel's: see _Fused)
            for t, g in zip(leaves, found):
                if t._grad is None and t._extra is None and type(g) is ndarray and \
                        g.dtype is t._value.dtype and g.dtype.kind == "f" and \
                        g.shape == t._value.shape:
                    t._grad = make_tensor(g)
                else:
                    _accumulate_leaf(t, g, set())
        else:
            given: set = set()
            for t, g in zip(leaves, found):
                _accumulate_leaf(t, g, given)
    if not retain_graph:
        for node in graph.nodes:
            node.freed = True
            node.value = None
    return True


def _accumulate_leaf(t: Tensor, g: Any, given: set) -> None:
    if t._extra is None and type(g) is ndarray and g.dtype is t._value.dtype and \
            g.dtype.kind == "f":
        _accumulate_array(t, g, given)
    else:  # (hooks, complex, another dtype...)
        _accumulate(t, _wrap_grad(_flip(g)), False, given)


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool | None = None,
         materialize_grads: bool = False) -> tuple:
    """The gradients of sum(<grad_output, output>) with respect to each input (not
    accumulated into .grad)."""
    outs, ins = _as_list(outputs), _as_list(inputs)
    if retain_graph is None:
        retain_graph = create_graph
    cts = _root_cts(outs, _as_list(grad_outputs), create_graph)
    _, grads = _differentiate(outs, cts, ins, retain_graph, create_graph)
    result = []
    for t, g in zip(ins, grads):
        if g is None:
            if materialize_grads:
                g = make_tensor(np.zeros_like(t._value))
            elif not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been "
                                   "used in the graph. Set allow_unused=True if this is the "
                                   "desired behavior.")
        elif t._extra is not None and t._extra.hooks:
            g = _run_hooks(t._extra.hooks, g)
        result.append(g)
    return tuple(result)


def _accumulate(t: Tensor, g: Tensor, create_graph: bool, given: set) -> None:
    """t.grad += g (a fresh tensor the first time), after t's hooks."""
    extra = t._extra
    if extra is not None and extra.hooks and t.grad_fn is None:
        g = _run_hooks(extra.hooks, g)
    value, dtype = g._value, t._value.dtype
    if value.dtype is not dtype and value.dtype != dtype:
        g = g.type(dtype)
        value = g._value
    if create_graph:
        t._grad = g if t._grad is None else t._grad + g
        return
    _accumulate_array(t, value, given)


def _accumulate_array(t: Tensor, value: Any, given: set) -> None:
    """t.grad += value (an array of t's dtype, or a traced value), without hooks: a fresh
    tensor the first time, which takes over `value` if nothing else holds it."""
    if t._grad is None:
        shape = t._value.shape
        if type(value) is ndarray and (value.base is not None or not value.flags.writeable
                                       or value.shape != shape or id(value) in given):
            value = np.array(np.broadcast_to(value, shape))
        given.add(id(value))
        t._grad = make_tensor(value)
    elif type(t._grad._value) is ndarray and type(value) is ndarray:
        t._grad._value += value
        version_counter(t._grad)[0] += 1
        note_version_change()
    else:
        t._grad = make_tensor(t._grad._value + value)


# ---------------------------------------------------------------------------------------------
# Hooks and retained gradients
# ---------------------------------------------------------------------------------------------

class RemovableHandle:
    def __init__(self, hooks: list, hook: Callable):
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def register_hook(t: Tensor, hook: Callable) -> RemovableHandle:
    if not t.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if t.grad_fn is None:
        extra = extra_of(t)
        if extra.hooks is None:
            extra.hooks = []
        extra.hooks.append(hook)
        return RemovableHandle(extra.hooks, hook)
    node = t.grad_fn
    if node.hooks is None:
        node.hooks = []
    node.hooks.append(hook)
    return RemovableHandle(node.hooks, hook)


def retain(t: Tensor) -> None:
    """Make backward() fill this non-leaf tensor's .grad (Tensor.retain_grad)."""
    if not t.requires_grad:
        raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
    if t.grad_fn is None:
        return
    extra_of(t).retains_grad = True
    t.grad_fn.retained = weakref.ref(t)


# ---------------------------------------------------------------------------------------------
# The recorded graph as a forward Function (grad_fn.ir())
# ---------------------------------------------------------------------------------------------

def forward_function(root: Node) -> Function:
    """Leaves and constants -> the root's value, replaying the recorded nodes."""
    graph = Graph([root], check_freed=False)
    if graph.python:
        raise RuntimeError("ir(): the graph contains custom autograd.Functions (Python)")
    types = ([_value_type(t._value) for t in graph.leaves]
             + [_value_type(np.asarray(c)) for c in graph.consts])
    n_l = len(graph.leaves)

    def replay(*args):
        values: list = []
        sources = (values, args[:n_l], args[n_l:])
        for node, codes in zip(graph.nodes, graph.codes):
            ins = [sources[c % 3][c // 3] for c in codes]
            values.append(apply_function(node.function, *ins)[0])
        return [values[-1]]

    fn, _ = trace_flat(replay, types)
    return fn


__all__ = ["backward", "grad", "register_hook", "retain", "forward_function", "PythonNode",
           "OutputNode", "Graph"]
