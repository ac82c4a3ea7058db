"""dualjit.lax: structured control flow (cond, switch, while_loop, fori_loop, scan)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .ir import Function, Literal, TensorType, Var, as_dtype
from .ir import primitives as P
from .tracer.core import Tracer, abstractify, bind, trace_flat
from .tracer.pytree import PyTreeDef, flatten_fun, tree_flatten, tree_unflatten

_PY_SCALARS = (bool, int, float, complex)


class _Body:
    """A user function traced on flat carry types: its Function, captures and output tree."""

    def __init__(self, fn: Function, captures: list, out_tree: PyTreeDef):
        self.fn = fn
        self.captures = captures
        self.out_tree = out_tree


def _trace_body(name: str, fun: Callable, in_trees: Sequence[PyTreeDef],
                in_types: Sequence[Sequence[TensorType]], weak: Sequence[bool] = ()) -> _Body:
    """Trace fun(*trees) where tree k is built from in_types[k] by in_trees[k]."""
    args_tree = PyTreeDef(tuple, len(in_trees), tuple(in_trees))  # the tuple of the trees
    flat, out_tree = flatten_fun(fun, args_tree)
    fn, captures = trace_flat(flat, [t for ts in in_types for t in ts], weak=weak)
    return _Body(fn, captures, out_tree())


def _leaf_types(name: str, leaves: Sequence[Any]) -> tuple[list[TensorType], list[bool]]:
    types, weak = [], []
    for i, leaf in enumerate(leaves):
        t, _ = abstractify(leaf, f"{name}: leaf {i} ({type(leaf).__name__})")
        types.append(t)
        weak.append(type(leaf) in _PY_SCALARS)
    return types, weak


def _as_carry(leaf: Any, t: TensorType) -> Any:
    if isinstance(leaf, Tracer):
        return leaf if leaf.aval.dtype is t.dtype else bind(
            P.convert_element_type_p, leaf, new_dtype=t.dtype)
    return np.asarray(leaf, dtype=t.dtype.np)


def _types_str(types: Sequence[TensorType]) -> str:
    return "(" + ", ".join(str(t) for t in types) + ")"


def _fix_weak_carry(carry_types: list[TensorType], weak: list[bool],
                    trace: Callable[[list[TensorType]], Function]) -> list[TensorType]:
    """Python-scalar initial carries take the type the body returns (weak typing)."""
    if not any(weak):
        return carry_types
    fn = trace(carry_types)
    out_types, out_weak = fn.out_types, fn.weak_outputs
    return [o if (w and not ow and o.shape == c.shape) else c
            for c, o, w, ow in zip(carry_types, out_types, weak, out_weak)]


def _union_captures(bodies: Sequence[_Body]) -> list[Any]:
    seen: dict[int, Any] = {}
    for b in bodies:
        for c in b.captures:
            seen.setdefault(id(c), c)
    return list(seen.values())


def _with_captures(body: _Body, all_captures: list[Any]) -> Function:
    """body.fn re-signed to take every capture in `all_captures` first (unused ones ignored)."""
    fn = body.fn
    own = {id(c): v for c, v in zip(body.captures, fn.inputs[:len(body.captures)])}
    inputs = [own.get(id(c)) or Var(c.aval) for c in all_captures]
    return Function(inputs + list(fn.inputs[len(body.captures):]), fn.consts, fn.eqns,
                    fn.outputs)


# ---------------------------------------------------------------------------------------------
# cond / switch
# ---------------------------------------------------------------------------------------------

def switch(index: Any, branches: Sequence[Callable], *operands: Any) -> Any:
    """Apply branches[index](*operands); index is clamped into range, as in JAX."""
    if not branches:
        raise ValueError("switch: needs at least one branch")
    leaves, tree = tree_flatten(list(operands))
    types, _ = _leaf_types("cond operand", leaves)
    traced = [_trace_body("cond", lambda ops, b=b: b(*ops), [tree], [types]) for b in branches]
    for i, b in enumerate(traced[1:], 1):
        if b.out_tree != traced[0].out_tree:
            raise TypeError(f"cond: branch 0 returns structure {traced[0].out_tree} but "
                            f"branch {i} returns {b.out_tree}")
        if b.fn.out_types != traced[0].fn.out_types:
            raise TypeError(f"cond: branches return different types: branch 0 returns "
                            f"{_types_str(traced[0].fn.out_types)}, branch {i} returns "
                            f"{_types_str(b.fn.out_types)}; make them agree (e.g. with "
                            ".astype or by returning arrays of the same shape)")
    captures = _union_captures(traced)
    fns = tuple(_with_captures(b, captures) for b in traced)
    idx = _index_operand(index, len(branches))
    outs = bind(P.cond_p, idx, *captures, *leaves, branches=fns)
    return tree_unflatten(traced[0].out_tree, outs)


def _index_operand(index: Any, n_branches: int) -> Any:
    """The branch index as an int32 scalar, clamped into [0, n_branches - 1] in the index's own
    type first (so a wide or unsigned index is never wrapped by the narrowing)."""
    if isinstance(index, Tracer):
        if index.shape != ():
            raise TypeError(f"cond: the predicate/index must be a scalar, got {index.aval}")
        if index.aval.dtype.is_float:
            raise TypeError(f"cond: the predicate/index must be bool or integer, got {index.aval}")
        if index.aval.dtype.is_int:
            dtype = index.aval.dtype
            if dtype.is_signed_int:
                index = bind(P.max_p, index, Literal(0, dtype))
            top = min(n_branches - 1, int(np.iinfo(dtype.np).max))
            index = bind(P.min_p, index, Literal(top, dtype))
        return bind(P.convert_element_type_p, index, new_dtype=as_dtype("int32"))
    arr = np.asarray(index)
    if arr.shape != () or arr.dtype.kind not in "biu":
        raise TypeError(f"cond: the predicate/index must be a bool or integer scalar, got "
                        f"{arr.dtype}{list(arr.shape)}")
    return np.int32(min(max(int(arr), 0), n_branches - 1))


def cond(pred: Any, true_fun: Callable, false_fun: Callable, *operands: Any) -> Any:
    """true_fun(*operands) if pred else false_fun(*operands), both traced, as in jax.lax.cond."""
    return switch(pred, [false_fun, true_fun], *operands)


# ---------------------------------------------------------------------------------------------
# Loops
# ---------------------------------------------------------------------------------------------

def while_loop(cond_fun: Callable, body_fun: Callable, init_val: Any) -> Any:
    """Repeat body_fun while cond_fun holds. Differentiable in forward mode only."""
    leaves, tree = tree_flatten(init_val)
    types, weak = _leaf_types("while_loop init_val", leaves)

    def trace_body(ts, weak=()):
        return _trace_body("while_loop body", body_fun, [tree], [ts], weak)

    types = _fix_weak_carry(types, weak, lambda ts: trace_body(ts, weak).fn)
    body = trace_body(types)
    if body.out_tree != tree or body.fn.out_types != types:
        raise TypeError(f"while_loop: body_fun must return the carry's structure and types: "
                        f"carry is {tree} {_types_str(types)}, body_fun returns "
                        f"{body.out_tree} {_types_str(body.fn.out_types)}")
    cond_body = _trace_body("while_loop cond", cond_fun, [tree], [types])
    cond_types = cond_body.fn.out_types
    if len(cond_types) != 1 or cond_types[0] != TensorType("bool", ()):
        raise TypeError(f"while_loop: cond_fun must return a bool scalar, returns "
                        f"{_types_str(cond_types)}")
    carry = [_as_carry(x, t) for x, t in zip(leaves, types)]
    outs = bind(P.while_p, *cond_body.captures, *body.captures, *carry,
                cond_fun=cond_body.fn, body_fun=body.fn,
                cond_nconsts=len(cond_body.captures), body_nconsts=len(body.captures))
    return tree_unflatten(tree, outs)


def scan(f: Callable, init: Any, xs: Any = None, length: int | None = None,
         reverse: bool = False) -> tuple[Any, Any]:
    """Loop f(carry, x) -> (carry, y) over the leading axis of xs, stacking the ys."""
    carry_leaves, carry_tree = tree_flatten(init)
    x_leaves, x_tree = tree_flatten(xs)
    lengths = {np.shape(x)[0] for x in x_leaves if np.ndim(x) > 0}
    if any(np.ndim(x) == 0 for x in x_leaves):
        raise ValueError("scan: every leaf of xs needs a leading axis to scan over")
    if length is not None:
        lengths.add(int(length))
    if len(lengths) != 1:
        raise ValueError(f"scan: xs leading dimensions and length disagree: {sorted(lengths)}"
                         if lengths else "scan: pass xs or length")
    (n,) = lengths
    carry_types, weak = _leaf_types("scan init", carry_leaves)
    x_types, _ = _leaf_types("scan xs", x_leaves)
    slice_types = [TensorType(t.dtype, t.shape[1:]) for t in x_types]

    def trace_body(ts, weak=()):
        def pair(c, x):
            out = f(c, x)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError("scan: f must return a pair (new_carry, y)")
            return out
        flags = list(weak) + [False] * len(slice_types) if weak else ()
        return _trace_body("scan", pair, [carry_tree, x_tree], [ts, slice_types], flags)

    carry_types = _fix_weak_carry(carry_types, weak, lambda ts: trace_body(ts, weak).fn)
    body = trace_body(carry_types)
    out_carry_tree = body.out_tree.children[0]
    n_carry = len(carry_types)
    if out_carry_tree != carry_tree or body.fn.out_types[:n_carry] != carry_types:
        raise TypeError(f"scan: f must return a carry of the same structure and types as init: "
                        f"init is {carry_tree} {_types_str(carry_types)}, f returns "
                        f"{out_carry_tree} {_types_str(body.fn.out_types[:n_carry])}")
    carry = [_as_carry(x, t) for x, t in zip(carry_leaves, carry_types)]
    xs_arrays = [x if isinstance(x, Tracer) else np.asarray(x) for x in x_leaves]
    outs = bind(P.scan_p, *body.captures, *carry, *xs_arrays, body=body.fn, length=n,
                num_consts=len(body.captures), num_carry=n_carry, reverse=bool(reverse))
    final = tree_unflatten(carry_tree, outs[:n_carry])
    ys = tree_unflatten(body.out_tree.children[1], outs[n_carry:])
    return final, ys


def fori_loop(lower: Any, upper: Any, body_fun: Callable, init_val: Any) -> Any:
    """body_fun(i, val) for i in [lower, upper). Static bounds lower to scan (reversible)."""
    static = all(isinstance(b, (int, np.integer)) for b in (lower, upper))
    if static:
        lo, hi = int(lower), int(upper)

        def step(carry, _):
            i, val = carry
            return (i + 1, body_fun(i, val)), None

        (_, val), _ = scan(step, (np.int64(lo), init_val), None, length=max(hi - lo, 0))
        return val

    def cond_fun(carry):
        return carry[0] < carry[1]

    def body(carry):
        i, hi, val = carry
        return i + 1, hi, body_fun(i, val)

    lo = lower if isinstance(lower, Tracer) else np.int64(lower)
    hi = upper if isinstance(upper, Tracer) else np.int64(upper)
    return while_loop(cond_fun, body, (lo, hi, init_val))[2]


def stop_gradient(x: Any) -> Any:
    """x, with a zero derivative in every transform."""
    leaves, tree = tree_flatten(x)
    return tree_unflatten(tree, [bind(P.stop_gradient_p, leaf) for leaf in leaves])


# =============================================================================================
# vmap area: the rest of JAX's lax API used with transforms — map, associative_scan, reduce,
# dynamic slicing, pad, select, dot_general, sort, top_k, cumulative reductions.
# =============================================================================================

def _jnp():
    from . import numpy as jnp  # dualjit.numpy builds on lax's callers, so it is imported late

    return jnp


def map(f: Callable, xs: Any, *, batch_size: int | None = None) -> Any:  # noqa: A001
    # (this module's `map` is lax.map: the code here writes comprehensions, not builtin map)
    """f applied to each slice of xs along its leading axis (a scan), stacking the results;
    with batch_size, vmap over chunks of that size inside the scan."""
    leaves = tree_flatten(xs)[0]
    if not leaves:
        raise ValueError("lax.map: xs has no arrays to map over")
    n = np.shape(leaves[0])[0]
    if batch_size is None or batch_size >= n:
        if batch_size is not None:
            from .batching import vmap
            return vmap(f)(xs)
        return scan(lambda carry, x: (carry, f(x)), (), xs)[1]
    from .batching import vmap

    jnp = _jnp()
    full = n - n % batch_size
    chunks = tree_map_leaves(lambda x: jnp.reshape(x[:full], (full // batch_size, batch_size)
                                                   + np.shape(x)[1:]), xs)
    ys = scan(lambda carry, x: (carry, vmap(f)(x)), (), chunks)[1]
    ys = tree_map_leaves(lambda y: jnp.reshape(y, (full,) + np.shape(y)[2:]), ys)
    if full == n:
        return ys
    rest = vmap(f)(tree_map_leaves(lambda x: x[full:], xs))
    return tree_map_leaves(lambda a, b: jnp.concatenate([a, b]), ys, rest)


def tree_map_leaves(f: Callable, tree: Any, *rest: Any) -> Any:
    leaves, treedef = tree_flatten(tree)
    others = [tree_flatten(r)[0] for r in rest]
    return tree_unflatten(treedef, [f(*xs) for xs in zip(leaves, *others)])


def _slice_in(x: Any, axis: int, start: int, stop: int | None, step: int = 1) -> Any:
    jnp = _jnp()
    index = [slice(None)] * jnp.ndim(x)
    index[axis] = slice(start, stop, step)
    return x[tuple(index)]


def _interleave(even: Any, odd: Any, axis: int) -> Any:
    """c with c[0::2] = even and c[1::2] = odd along `axis` (len(even) - len(odd) is 0 or 1)."""
    jnp = _jnp()
    n_odd = np.shape(odd)[axis]
    pairs = jnp.stack([_slice_in(even, axis, 0, n_odd), odd], axis=axis + 1)
    shape = list(np.shape(odd))
    shape[axis] = 2 * n_odd
    woven = jnp.reshape(pairs, tuple(shape))
    if np.shape(even)[axis] == n_odd:
        return woven
    return jnp.concatenate([woven, _slice_in(even, axis, n_odd, None)], axis=axis)


def associative_scan(fn: Callable, elems: Any, reverse: bool = False, axis: int = 0) -> Any:
    """All prefix combinations fn(...fn(fn(e0, e1), e2)..., ei) of an associative fn, in
    O(log n) vectorized steps (the parallel prefix algorithm JAX uses)."""
    jnp = _jnp()
    leaves, tree = tree_flatten(elems)
    if not leaves:
        return elems
    axis = axis % jnp.ndim(leaves[0])
    lengths = {np.shape(x)[axis] for x in leaves}
    if len(lengths) != 1:
        raise ValueError(f"lax.associative_scan: leaves have different lengths along axis "
                         f"{axis}: {sorted(lengths)}")
    if reverse:
        leaves = [jnp.flip(x, axis) for x in leaves]

    def combine(a, b):
        out = tree_flatten(fn(tree_unflatten(tree, a), tree_unflatten(tree, b)))[0]
        if len(out) != len(a):
            raise TypeError("lax.associative_scan: fn must return the structure of its inputs")
        return out

    def prefix(xs):
        n = np.shape(xs[0])[axis]
        if n < 2:
            return xs
        odd = prefix(combine([_slice_in(x, axis, 0, n - 1, 2) for x in xs],
                             [_slice_in(x, axis, 1, None, 2) for x in xs]))
        rest = [_slice_in(x, axis, 2, None, 2) for x in xs]
        heads = [_slice_in(o, axis, 0, np.shape(o)[axis] - 1) for o in odd] if n % 2 == 0 \
            else odd
        even = combine(heads, rest) if np.shape(rest[0])[axis] else rest
        even = [jnp.concatenate([_slice_in(x, axis, 0, 1), e], axis=axis)
                for x, e in zip(xs, even)]
        return [_interleave(e, o, axis) for e, o in zip(even, odd)]

    out = prefix(leaves)
    if reverse:
        out = [jnp.flip(x, axis) for x in out]
    return tree_unflatten(tree, out)


def reduce(operands: Any, init_values: Any, computation: Callable,
           dimensions: Sequence[int]) -> Any:
    """Reduce operands over `dimensions` with an associative, commutative `computation` whose
    identity is init_values (as XLA's reduce): pairwise halving, then one combine with init."""
    jnp = _jnp()
    leaves, tree = tree_flatten(operands)
    inits, init_tree = tree_flatten(init_values)
    if init_tree != tree:
        raise TypeError(f"lax.reduce: init_values {init_tree} must match operands {tree}")
    known = _known_reduction(computation) if len(leaves) == 1 else None
    dims = tuple(sorted(d % jnp.ndim(leaves[0]) for d in dimensions))
    if known is not None:
        reduced = bind(known, jnp.asarray(leaves[0]), axes=dims)
        return tree_unflatten(tree, [computation(reduced, inits[0])])

    def combine(a, b):
        return tree_flatten(computation(tree_unflatten(tree, a), tree_unflatten(tree, b)))[0]

    xs = [jnp.asarray(x) for x in leaves]
    for d in reversed(dims):
        while np.shape(xs[0])[d] > 1:
            n = np.shape(xs[0])[d]
            half = n // 2
            paired = combine([_slice_in(x, d, 0, 2 * half, 2) for x in xs],
                             [_slice_in(x, d, 1, 2 * half, 2) for x in xs])
            xs = paired if n % 2 == 0 else [jnp.concatenate([p, _slice_in(x, d, n - 1, n)], d)
                                             for p, x in zip(paired, xs)]
        xs = [jnp.squeeze(x, d) if np.shape(x)[d] == 1 else
              jnp.full(np.shape(x)[:d] + np.shape(x)[d + 1:], i, dtype=jnp.result_type(x))
              for x, i in zip(xs, inits)]
    return tree_unflatten(tree, combine(xs, [jnp.broadcast_to(i, np.shape(x))
                                             for i, x in zip(inits, xs)]))


_KNOWN_REDUCTIONS: dict = {}


def _known_reduction(computation: Callable) -> Any:
    """The reduce primitive of a computation we recognize (add, mul, max, min), or None."""
    if not _KNOWN_REDUCTIONS:
        import operator

        jnp = _jnp()
        _KNOWN_REDUCTIONS.update({
            jnp.add: P.reduce_sum_p, operator.add: P.reduce_sum_p,
            jnp.multiply: P.reduce_prod_p, operator.mul: P.reduce_prod_p,
            jnp.maximum: P.reduce_max_p, jnp.minimum: P.reduce_min_p})
    try:
        return _KNOWN_REDUCTIONS.get(computation)
    except TypeError:  # an unhashable callable
        return None


def _starts(starts: Sequence[Any]) -> list[Any]:
    return [s if isinstance(s, Tracer) else np.int64(s) for s in starts]


def dynamic_slice(operand: Any, start_indices: Sequence[Any], slice_sizes: Sequence[int]) -> Any:
    """operand[s0:s0+n0, ...] with start indices that may be traced (clamped into range)."""
    return bind(P.dynamic_slice_p, operand, *_starts(start_indices),
                slice_sizes=tuple(int(n) for n in slice_sizes))


def dynamic_update_slice(operand: Any, update: Any, start_indices: Sequence[Any]) -> Any:
    """operand with `update` written at (possibly traced, clamped) start indices."""
    return bind(P.dynamic_update_slice_p, operand, update, *_starts(start_indices))


def dynamic_slice_in_dim(operand: Any, start_index: Any, slice_size: int, axis: int = 0) -> Any:
    shape = np.shape(operand)
    axis = axis % len(shape)
    starts = [0] * len(shape)
    starts[axis] = start_index
    sizes = list(shape)
    sizes[axis] = slice_size
    return dynamic_slice(operand, starts, sizes)


def dynamic_index_in_dim(operand: Any, index: Any, axis: int = 0, keepdims: bool = True) -> Any:
    out = dynamic_slice_in_dim(operand, index, 1, axis)
    return out if keepdims else _jnp().squeeze(out, axis % np.ndim(operand))


def dynamic_update_slice_in_dim(operand: Any, update: Any, start_index: Any, axis: int) -> Any:
    starts = [0] * np.ndim(operand)
    starts[axis % np.ndim(operand)] = start_index
    return dynamic_update_slice(operand, update, starts)


def dynamic_update_index_in_dim(operand: Any, update: Any, index: Any, axis: int) -> Any:
    axis = axis % np.ndim(operand)
    if np.ndim(update) == np.ndim(operand) - 1:
        update = _jnp().expand_dims(update, axis)
    return dynamic_update_slice_in_dim(operand, update, index, axis)


def pad(operand: Any, padding_value: Any, padding_config: Sequence[tuple[int, int, int]]) -> Any:
    """operand padded by (low, high, interior) per axis; negative low/high crop."""
    jnp = _jnp()
    x = jnp.asarray(operand)
    value = jnp.astype(padding_value, jnp.result_type(x))
    return bind(P.pad_p, x, value, padding_config=tuple(tuple(int(v) for v in c)
                                                       for c in padding_config))


def select(pred: Any, on_true: Any, on_false: Any) -> Any:
    """Elementwise pred ? on_true : on_false (operands of one shape and dtype, as in lax)."""
    return bind(P.select_p, pred, on_true, on_false)


def dot_general(lhs: Any, rhs: Any, dimension_numbers: Any, precision: Any = None,
                preferred_element_type: Any = None) -> Any:
    """lax.dot_general: ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch))."""
    del precision
    (lc, rc), (lb, rb) = dimension_numbers
    dn = ((tuple(lc), tuple(rc)), (tuple(lb), tuple(rb)))
    out = bind(P.dot_general_p, lhs, rhs, dimension_numbers=dn)
    return out if preferred_element_type is None else _jnp().astype(out, preferred_element_type)


def sort(operand: Any, dimension: int = -1, is_stable: bool = True, num_keys: int = 1) -> Any:
    """Sort an array, or a sequence of arrays by the first num_keys of them (NaNs last)."""
    del is_stable  # the sort primitive is always stable
    single = not isinstance(operand, (tuple, list))
    operands = [operand] if single else list(operand)
    dimension = dimension % np.ndim(operands[0])
    outs = bind(P.sort_p, *operands, axis=dimension, num_keys=num_keys)
    return outs[0] if single else tuple(outs)


def sort_key_val(keys: Any, values: Any, dimension: int = -1) -> tuple[Any, Any]:
    return sort((keys, values), dimension=dimension, num_keys=1)


def top_k(operand: Any, k: int) -> tuple[Any, Any]:
    """The k largest entries along the last axis and their indices (ties: lower index first)."""
    jnp = _jnp()
    x = jnp.asarray(operand)
    n = np.shape(x)[-1]
    if not 0 <= k <= n:
        raise ValueError(f"lax.top_k: k={k} is out of range for a last axis of size {n}")
    descending = -x if jnp.result_type(x).kind == "f" else jnp.invert(x)
    index = bind(P.iota_p, dtype=as_dtype("int32"), shape=np.shape(x), dimension=np.ndim(x) - 1)
    order = sort((descending, index), dimension=-1)[1]
    order = _slice_in(order, np.ndim(x) - 1, 0, k)
    return _take_along_last_axis(x, order), order


def _take_along_last_axis(x: Any, index: Any) -> Any:
    """x[..., index[..., j]] for every leading position (one gather on the flattened array)."""
    jnp = _jnp()
    lead, n, k = np.shape(x)[:-1], np.shape(x)[-1], np.shape(index)[-1]
    rows = int(np.prod(lead, dtype=np.int64))
    offsets = np.arange(rows, dtype=np.int64).reshape(lead + (1,)) * n
    flat = jnp.reshape(x, (rows * n,))
    linear = jnp.reshape(jnp.astype(index, np.int64) + offsets, (rows * k,))
    return jnp.reshape(bind(P.gather_p, flat, linear, axis=0), lead + (k,))


def _cumulative(prim):
    def run(operand: Any, axis: int = 0, reverse: bool = False) -> Any:
        x = _jnp().asarray(operand)
        return bind(prim, x, axis=axis % np.ndim(x), reverse=bool(reverse))
    run.__name__ = prim.name
    run.__doc__ = f"The running {prim.name[3:]} along `axis` (from the end if reverse)."
    return run


cumsum, cumprod = _cumulative(P.cumsum_p), _cumulative(P.cumprod_p)
cummax, cummin = _cumulative(P.cummax_p), _cumulative(P.cummin_p)


def cumlogsumexp(operand: Any, axis: int = 0, reverse: bool = False) -> Any:
    """log(cumsum(exp(operand))) along `axis` without overflow: a parallel prefix of logaddexp."""
    jnp = _jnp()
    return associative_scan(jnp.logaddexp, jnp.asarray(operand), reverse=reverse, axis=axis)


_FLOAT_WIDTHS = {np.dtype(np.float32): (8, 23), np.dtype(np.float64): (11, 52)}


def reduce_precision(operand: Any, exponent_bits: int, mantissa_bits: int) -> Any:
    """operand rounded to a float format with these field widths, kept in its own dtype (as
    XLA): mantissa to nearest, ties to even; beyond the format's largest value ±inf, below its
    smallest normal value ±0. Its derivative passes tangents and cotangents through."""
    jnp = _jnp()
    x = jnp.asarray(operand)
    if np.dtype(x.dtype) == np.float16:
        x = jnp.astype(x, np.float32)  # float16 computes in float32 everywhere in dualjit
    widths = _FLOAT_WIDTHS.get(np.dtype(x.dtype))
    if widths is None:
        raise TypeError(f"lax.reduce_precision: operand must be a float array, got {x.dtype}")
    if int(exponent_bits) < 1 or int(mantissa_bits) < 0:
        raise ValueError(f"lax.reduce_precision: needs exponent_bits >= 1 and mantissa_bits "
                         f">= 0, got {exponent_bits} and {mantissa_bits}")
    return _rounding_to(int(exponent_bits), int(mantissa_bits), widths)(x)


@functools.cache
def _rounding_to(exponent_bits: int, mantissa_bits: int, source: tuple[int, int]) -> Callable:
    """The rounding function of one format (a custom_jvp: rint's derivative would be zero)."""
    from .autodiff.custom import custom_jvp

    narrower_exponent = exponent_bits < source[0]
    ebits, mbits = min(exponent_bits, source[0]), min(mantissa_bits, source[1])
    emax = 2 ** (ebits - 1) - 1
    emin = 1 - emax

    @custom_jvp
    def rounded(x):
        jnp = _jnp()
        _, e = jnp.frexp(x)  # x = m * 2**e with 0.5 <= |m| < 1: the leading bit is 2**(e-1)
        # the last kept bit: mbits below the leading one (XLA: also below the smallest normal
        # value when the exponent narrows, and what rounds up to it is kept), or the source's
        # subnormal quantum
        quantum = e - (mbits + 1)
        if not narrower_exponent:
            quantum = jnp.maximum(quantum, emin - mbits)
        r = jnp.astype(jnp.ldexp(jnp.rint(jnp.ldexp(x, -quantum)), quantum), x.dtype)
        if not narrower_exponent:
            return r
        big, tiny = jnp.abs(r) >= 2.0 ** (emax + 1), jnp.abs(r) < 2.0 ** emin
        r = jnp.where(big, jnp.copysign(np.array(np.inf, x.dtype), x), r)
        return jnp.where(tiny, jnp.copysign(np.zeros((), x.dtype), x), r)

    @rounded.defjvp
    def _(primals, tangents):
        # straight through: JAX rounds the tangent too, which is not linear, so could not be
        # transposed; the two differ by that rounding only
        return rounded(primals[0]), tangents[0]
    return rounded


def optimization_barrier(operand: Any) -> Any:
    """operand unchanged; no pass looks through it or moves work across it."""
    leaves, tree = tree_flatten(operand)
    return tree_unflatten(tree, bind(P.optimization_barrier_p, *leaves)) if leaves else operand


def convert_element_type(operand: Any, new_dtype: Any) -> Any:
    return bind(P.convert_element_type_p, operand, new_dtype=as_dtype(new_dtype))


def broadcast_in_dim(operand: Any, shape: Sequence[int], broadcast_dimensions: Sequence[int]
                     ) -> Any:
    return bind(P.broadcast_in_dim_p, operand, shape=tuple(shape),
                broadcast_dimensions=tuple(broadcast_dimensions))


def iota(dtype: Any, size: int) -> Any:
    return bind(P.iota_p, dtype=as_dtype(dtype), shape=(int(size),), dimension=0)


# ---------------------------------------------------------------------------------------------
# Special functions (linalg area): JAX's lax names for the primitives behind
# dualjit.scipy.special (float operands; no promotion, as in lax)
# ---------------------------------------------------------------------------------------------

def erf(x: Any) -> Any:
    return bind(P.erf_p, x)


def erfc(x: Any) -> Any:
    return bind(P.erfc_p, x)


def erf_inv(x: Any) -> Any:
    return bind(P.erf_inv_p, x)


def lgamma(x: Any) -> Any:
    return bind(P.lgamma_p, x)


def bessel_i0e(x: Any) -> Any:
    return bind(P.bessel_i0e_p, x)


def bessel_i1e(x: Any) -> Any:
    return bind(P.bessel_i1e_p, x)


def digamma(x: Any) -> Any:
    return bind(P.digamma_p, x)


def polygamma(m: int, x: Any) -> Any:
    """The m-th derivative of digamma (m a static integer >= 1; m = 0 is digamma)."""
    return bind(P.digamma_p, x) if m == 0 else bind(P.polygamma_p, x, order=int(m))


# speed area: convolutions and window reductions live in lax_conv.py, loaded on first use
# (with lax's add, max and min, not defined here: they would shadow builtins)
_CONV_NAMES = ("ConvDimensionNumbers", "conv", "conv_dimension_numbers", "conv_general_dilated",
               "conv_transpose", "padtype_to_pads", "reduce_window")


_ELEMENTWISE_NAMES = ("add", "max", "min")  # lax_conv.LAX_ELEMENTWISE's


def __getattr__(name: str) -> Any:
    if name in _CONV_NAMES or name in _ELEMENTWISE_NAMES:  # (the import system asks for
        from . import lax_conv  # __path__ and the like: those must not load lax_conv)

        if name in _CONV_NAMES:
            return getattr(lax_conv, name)
        return lax_conv.lax_elementwise(name)
    raise AttributeError(f"module 'dualjit.lax' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_CONV_NAMES))
