"""Batching rules of the elementwise, structural, indexing, reduction and contraction primitives."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..ir import DType
from ..ir import primitives as P
from ..tracer.core import bind
from .core import (
    apply_batched,
    batching_rules,
    bdim_at,
    broadcast_batch,
    full_axis,
    loop_rule,
    member_shape,
    moveaxis,
    not_mapped,
    to_front,
    type_of,
)

# ---------------------------------------------------------------------------------------------
# Elementwise: operands of the output's shape or rank 0
# ---------------------------------------------------------------------------------------------

def _elementwise_operand(x, bdim, size, out_dim, out_shape):
    """One operand of an elementwise primitive, brought to the batched output's layout."""
    shape = member_shape(x, bdim)
    if bdim is not_mapped:
        return x if shape == () else broadcast_batch(x, size, out_dim)
    if shape == out_shape:
        return moveaxis(x, bdim, out_dim)
    full = out_shape[:out_dim] + (size,) + out_shape[out_dim:]  # a rank-0 member, broadcast
    return bind(P.broadcast_in_dim_p, x, shape=full, broadcast_dimensions=(out_dim,))


def batch_elementwise(prim):
    """Batch at the first batched operand's axis; rank-0 unbatched operands stay rank 0."""
    def rule(size, args, dims, **params):
        shapes = [member_shape(x, d) for x, d in zip(args, dims)]
        out_shape = next((s for s in shapes if s != ()), ())
        out_dim = next(d for d, s in zip(dims, shapes) if d is not not_mapped and s == out_shape) \
            if any(d is not not_mapped and s == out_shape for d, s in zip(dims, shapes)) else 0
        operands = [_elementwise_operand(x, d, size, out_dim, out_shape)
                    for x, d in zip(args, dims)]
        out = bind(prim, *operands, **params)
        return (out, [out_dim] * len(out)) if prim.multiple_results else (out, out_dim)
    batching_rules[prim] = rule


for _prim in (*P.unary_primitives.values(), *P.binary_primitives.values(),
              *P.compare_primitives.values(), P.select_p, P.integer_pow_p,
              P.convert_element_type_p, P.stop_gradient_p,
              *P.numpy_unary_primitives.values(), *P.numpy_binary_primitives.values(),
              P.ldexp_p, P.frexp_p):
    batch_elementwise(_prim)



# ---------------------------------------------------------------------------------------------
# Shapes and layouts
# ---------------------------------------------------------------------------------------------

def _broadcast_in_dim_rule(size, args, dims, *, shape, broadcast_dimensions):
    x = to_front(args[0], dims[0], size)
    return bind(P.broadcast_in_dim_p, x, shape=(size,) + tuple(shape),
                broadcast_dimensions=(0,) + tuple(d + 1 for d in broadcast_dimensions)), 0


def _reshape_rule(size, args, dims, *, new_sizes):
    x = to_front(args[0], dims[0], size)
    return bind(P.reshape_p, x, new_sizes=(size,) + tuple(new_sizes)), 0


def _transpose_rule(size, args, dims, *, permutation):
    (x,), (bdim,) = args, dims
    perm = (bdim,) + tuple(full_axis(p, bdim) for p in permutation)
    return bind(P.transpose_p, x, permutation=perm), 0


def _slice_rule(size, args, dims, *, start_indices, limit_indices, strides):
    (x,), (bdim,) = args, dims

    def insert(values, value):
        return tuple(values[:bdim]) + (value,) + tuple(values[bdim:])
    return bind(P.slice_p, x, start_indices=insert(start_indices, 0),
                limit_indices=insert(limit_indices, size), strides=insert(strides, 1)), bdim


def _pad_rule(size, args, dims, *, padding_config):
    (x, value), (x_dim, value_dim) = args, dims
    if value_dim is not_mapped:
        config = tuple(padding_config[:x_dim]) + ((0, 0, 0),) + tuple(padding_config[x_dim:])
        return bind(P.pad_p, x, value, padding_config=config), x_dim
    # A batched padding value: pad with zeros, then select each member's value where no
    # element of x landed (a mask padded the same way marks them).
    t = type_of(x).with_shape(member_shape(x, x_dim))
    zero, one = t.dtype.np.type(0), t.dtype.np.type(1)
    padded, padded_dim = apply_batched(P.pad_p, size, [x, zero], [x_dim, not_mapped],
                                       dict(padding_config=padding_config))
    ones = bind(P.broadcast_in_dim_p, one, shape=t.shape, broadcast_dimensions=())
    inside = bind(P.ne_p, bind(P.pad_p, ones, zero, padding_config=padding_config), zero)
    outs, out_dims = apply_batched(P.select_p, size, [inside, padded[0], value],
                                   [not_mapped, padded_dim[0], value_dim], {})
    return outs[0], out_dims[0]


def _concatenate_rule(size, args, dims, *, dimension):
    operands = [to_front(x, d, size) for x, d in zip(args, dims)]
    return bind(P.concatenate_p, *operands, dimension=dimension + 1), 0


batching_rules[P.broadcast_in_dim_p] = _broadcast_in_dim_rule
batching_rules[P.reshape_p] = _reshape_rule
batching_rules[P.transpose_p] = _transpose_rule
batching_rules[P.slice_p] = _slice_rule
batching_rules[P.pad_p] = _pad_rule
batching_rules[P.concatenate_p] = _concatenate_rule


# ---------------------------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------------------------

def _reduce_rule(prim):
    def rule(size, args, dims, *, axes):
        (x,), (bdim,) = args, dims
        full_axes = tuple(full_axis(a, bdim) for a in axes)
        out_dim = bdim - sum(1 for a in full_axes if a < bdim)
        return bind(prim, x, axes=full_axes), out_dim
    batching_rules[prim] = rule


def _arg_reduce_rule(prim):
    def rule(size, args, dims, *, axis, index_dtype):
        (x,), (bdim,) = args, dims
        axis = full_axis(axis, bdim)
        return bind(prim, x, axis=axis, index_dtype=index_dtype), bdim - (axis < bdim)
    batching_rules[prim] = rule


for _prim in (P.reduce_sum_p, P.reduce_max_p, P.reduce_min_p, P.reduce_prod_p):
    _reduce_rule(_prim)
_arg_reduce_rule(P.argmax_p)
_arg_reduce_rule(P.argmin_p)


# ---------------------------------------------------------------------------------------------
# Contraction
# ---------------------------------------------------------------------------------------------

def _permuted(x, permutation):
    if permutation == tuple(range(len(permutation))):
        return x
    return bind(P.transpose_p, x, permutation=permutation)


def _outer_product(lhs, rhs, lhs_batch, rhs_batch):
    """dot_general without contracting dimensions is an elementwise product of broadcasts."""
    l_t, r_t = type_of(lhs), type_of(rhs)
    l_free = [i for i in range(l_t.ndim) if i not in lhs_batch]
    r_free = [i for i in range(r_t.ndim) if i not in rhs_batch]
    nb, nl = len(lhs_batch), len(l_free)
    shape = (tuple(l_t.shape[i] for i in lhs_batch) + tuple(l_t.shape[i] for i in l_free)
             + tuple(r_t.shape[i] for i in r_free))
    lhs = _permuted(lhs, tuple(lhs_batch) + tuple(l_free))
    rhs = _permuted(rhs, tuple(rhs_batch) + tuple(r_free))
    lhs = bind(P.broadcast_in_dim_p, lhs, shape=shape, broadcast_dimensions=tuple(range(nb + nl)))
    rhs = bind(P.broadcast_in_dim_p, rhs, shape=shape, broadcast_dimensions=(
        tuple(range(nb)) + tuple(range(nb + nl, len(shape)))))
    return bind(P.mul_p, lhs, rhs)


def _drop_axes(x, drop, keep_indices):
    """x without its size-1 axes `drop`, and `keep_indices` renumbered accordingly."""
    shape = type_of(x).shape
    kept = [i for i in range(len(shape)) if i not in drop]
    x = bind(P.reshape_p, x, new_sizes=tuple(shape[i] for i in kept)) if drop else x
    return x, tuple(kept.index(i) for i in keep_indices)


def _dot_general_rule(size, args, dims, *, dimension_numbers):
    (lhs, rhs), (l_dim, r_dim) = args, dims
    (lc, rc), (lb, rb) = dimension_numbers
    if l_dim is not not_mapped and r_dim is not not_mapped:
        lhs, rhs = moveaxis(lhs, l_dim, 0), moveaxis(rhs, r_dim, 0)
        lb, rb = (0,) + tuple(i + 1 for i in lb), (0,) + tuple(i + 1 for i in rb)
        lc, rc = tuple(i + 1 for i in lc), tuple(i + 1 for i in rc)
        if math.prod(type_of(lhs).shape[i] for i in lc) == 1:
            # Nothing to sum (matmul's vectors become 1-row matrices): per-member outer
            # products, which fuse with what consumes them instead of a batched matmul.
            lhs, lb = _drop_axes(lhs, lc, lb)
            rhs, rb = _drop_axes(rhs, rc, rb)
            return _outer_product(lhs, rhs, lb, rb), 0
        return bind(P.dot_general_p, lhs, rhs, dimension_numbers=((lc, rc), (lb, rb))), 0
    # One operand is batched: its batch axis is one more free axis of that operand.
    nb = len(lb)
    if l_dim is not not_mapped:
        lc, lb = tuple(full_axis(i, l_dim) for i in lc), tuple(full_axis(i, l_dim) for i in lb)
        free_before = sum(1 for i in range(l_dim) if i not in lc and i not in lb)
        out_dim = nb + free_before
    else:
        rc, rb = tuple(full_axis(i, r_dim) for i in rc), tuple(full_axis(i, r_dim) for i in rb)
        l_free = type_of(lhs).ndim - len(lc) - len(lb)
        out_dim = nb + l_free + sum(1 for i in range(r_dim) if i not in rc and i not in rb)
    out = bind(P.dot_general_p, lhs, rhs, dimension_numbers=((lc, rc), (lb, rb)))
    return out, out_dim


batching_rules[P.dot_general_p] = _dot_general_rule


# ---------------------------------------------------------------------------------------------
# Indexing
# ---------------------------------------------------------------------------------------------

def _clamp(i, low, high):
    """min(max(i, low), high) on integer values (high may be below low: then it wins)."""
    dtype = type_of(i).dtype.np.type
    return bind(P.min_p, bind(P.max_p, i, dtype(low)), dtype(high))


def _member_offsets(indices, n):
    """indices (batch axis first) shifted by b*n for member b: positions in a flattened axis."""
    t = type_of(indices)
    size = t.shape[0]
    dtype = t.dtype if size * max(n, 1) < 2**31 else DType.int64
    indices = bind(P.convert_element_type_p, indices, new_dtype=dtype) if dtype != t.dtype \
        else indices
    base = bind(P.mul_p, bind(P.iota_p, dtype=dtype, shape=t.shape, dimension=0),
                dtype.np.type(n))
    return bind(P.add_p, _clamp(indices, 0, n - 1), base)


def _flatten_member_axis(x, axis):
    """x (batch axis first) with member axis `axis` merged into the batch axis: (B*n, rest...)."""
    x = moveaxis(x, axis + 1, 1)
    shape = type_of(x).shape
    return bind(P.reshape_p, x, new_sizes=(shape[0] * shape[1],) + shape[2:])


def _gather_rule(size, args, dims, *, axis):
    (x, indices), (x_dim, i_dim) = args, dims
    if i_dim is not_mapped:
        return bind(P.gather_p, moveaxis(x, x_dim, 0), indices, axis=axis + 1), 0
    if x_dim is not_mapped:
        return bind(P.gather_p, x, indices, axis=axis), axis + i_dim
    x, indices = moveaxis(x, x_dim, 0), moveaxis(indices, i_dim, 0)
    n = type_of(x).shape[axis + 1]
    out = bind(P.gather_p, _flatten_member_axis(x, axis), _member_offsets(indices, n), axis=0)
    k = type_of(indices).ndim - 1  # out is (B, index dims..., x's other axes...)
    perm = ((0,) + tuple(1 + k + j for j in range(axis)) + tuple(1 + j for j in range(k))
            + tuple(range(1 + k + axis, type_of(out).ndim)))
    return bind(P.transpose_p, out, permutation=perm), 0


def _scatter_add_rule(size, args, dims, *, axis):
    (x, indices, updates), (x_dim, i_dim, u_dim) = args, dims
    x, updates = to_front(x, x_dim, size), to_front(updates, u_dim, size)
    if i_dim is not_mapped:
        return bind(P.scatter_add_p, x, indices, updates, axis=axis + 1), 0
    indices = moveaxis(indices, i_dim, 0)
    x_t = type_of(x)
    n, k = x_t.shape[axis + 1], type_of(indices).ndim - 1
    # updates (B, x[:axis], index dims, x[axis+1:]) -> (B, index dims, x[:axis], x[axis+1:])
    perm = ((0,) + tuple(1 + axis + j for j in range(k)) + tuple(1 + j for j in range(axis))
            + tuple(range(1 + axis + k, type_of(updates).ndim)))
    updates = bind(P.transpose_p, updates, permutation=perm)
    flat = bind(P.scatter_add_p, _flatten_member_axis(x, axis), _member_offsets(indices, n),
                updates, axis=0)
    rest = x_t.shape[1:axis + 1] + x_t.shape[axis + 2:]
    out = bind(P.reshape_p, flat, new_sizes=(x_t.shape[0], n) + rest)
    return moveaxis(out, 1, axis + 1), 0


batching_rules[P.gather_p] = _gather_rule
batching_rules[P.scatter_add_p] = _scatter_add_rule


def _window_indices(start, size, x_dim_size, window, s_dim):
    """Indices start' + [0, window) per member, start' clamped as dynamic_slice clamps it."""
    start = _clamp(moveaxis(start, s_dim, 0), 0, x_dim_size - window)
    dtype = type_of(start).dtype
    ramp = bind(P.iota_p, dtype=dtype, shape=(size, window), dimension=1)
    start = bind(P.broadcast_in_dim_p, start, shape=(size, window), broadcast_dimensions=(0,))
    return bind(P.add_p, start, ramp)


def _dynamic_slice_rule(size, args, dims, *, slice_sizes):
    (x, *starts), (x_dim, *s_dims) = args, dims
    member = member_shape(x, x_dim)
    # Axes with a shared start are sliced at once; the others keep their full extent here.
    sizes = [n if d is not_mapped else member[k]
             for k, (n, d) in enumerate(zip(slice_sizes, s_dims))]
    shared = [s if d is not_mapped else type_of(s).dtype.np.type(0)
              for s, d in zip(starts, s_dims)]
    if x_dim is not_mapped:
        out, out_dim = bind(P.dynamic_slice_p, x, *shared, slice_sizes=tuple(sizes)), not_mapped
    else:
        zero = np.int64(0)
        out = bind(P.dynamic_slice_p, x, *shared[:x_dim], zero, *shared[x_dim:],
                   slice_sizes=tuple(sizes[:x_dim]) + (size,) + tuple(sizes[x_dim:]))
        out_dim = x_dim
    # Each axis with a per-member start becomes a gather of a per-member window.
    for k, (s, d) in enumerate(zip(starts, s_dims)):
        if d is not_mapped:
            continue
        window = _window_indices(s, size, member[k], slice_sizes[k], d)
        outs, out_dims = apply_batched(P.gather_p, size, [out, window], [out_dim, 0],
                                       dict(axis=k))
        out, out_dim = outs[0], out_dims[0]
    return out, out_dim


def _dynamic_update_slice_rule(size, args, dims):
    (x, update, *starts), (x_dim, u_dim, *s_dims) = args, dims
    if all(d is not_mapped for d in s_dims):
        x, update = to_front(x, x_dim, size), to_front(update, u_dim, size)
        zero = np.int64(0)
        return bind(P.dynamic_update_slice_p, x, update, zero, *starts), 0
    x, update = to_front(x, x_dim, size), to_front(update, u_dim, size)
    x_shape, u_shape = type_of(x).shape[1:], type_of(update).shape[1:]
    if math.prod(u_shape) == 0:
        return x, 0
    # Per member: spread the update over x's shape with a gather per axis, and select it
    # where each axis's position falls inside the member's window.
    spread, inside = update, None
    for k, (s, d) in enumerate(zip(starts, s_dims)):
        s = broadcast_batch(s, size, 0) if d is not_mapped else moveaxis(s, d, 0)
        s = _clamp(s, 0, x_shape[k] - u_shape[k])
        dtype = type_of(s).dtype
        position = bind(P.iota_p, dtype=dtype, shape=(size, x_shape[k]), dimension=1)
        offset = bind(P.sub_p, position, bind(P.broadcast_in_dim_p, s, shape=(size, x_shape[k]),
                                              broadcast_dimensions=(0,)))
        outs, _ = apply_batched(P.gather_p, size, [spread, _clamp(offset, 0, u_shape[k] - 1)],
                                [0, 0], dict(axis=k))
        spread = outs[0]
        in_window = bind(P.and_p, bind(P.ge_p, offset, dtype.np.type(0)),
                         bind(P.lt_p, offset, dtype.np.type(u_shape[k])))
        in_window = bind(P.broadcast_in_dim_p, in_window, shape=(size,) + x_shape,
                         broadcast_dimensions=(0, k + 1))
        inside = in_window if inside is None else bind(P.and_p, inside, in_window)
    return bind(P.select_p, inside, spread, x), 0


batching_rules[P.dynamic_slice_p] = _dynamic_slice_rule
batching_rules[P.dynamic_update_slice_p] = _dynamic_update_slice_rule


def _iota_rule(size, args, dims, **params):
    raise AssertionError("iota has no operands, so it is never batched")


batching_rules[P.iota_p] = _iota_rule



# ---------------------------------------------------------------------------------------------
# Scans along an axis, sorting and searching
# ---------------------------------------------------------------------------------------------

def _cumulative_rule(prim):
    def rule(size, args, dims, *, axis, reverse):
        (x,), (bdim,) = args, dims
        return bind(prim, x, axis=full_axis(axis, bdim), reverse=reverse), bdim
    batching_rules[prim] = rule


for _prim in (P.cumsum_p, P.cumprod_p, P.cummax_p, P.cummin_p):
    _cumulative_rule(_prim)


def _linear_recurrence_rule(size, args, dims, *, axis, reverse):
    a, b = (to_front(x, d, size) for x, d in zip(args, dims))
    return bind(P.linear_recurrence_p, a, b, axis=axis + 1, reverse=reverse), 0


def _sort_rule(size, args, dims, *, axis, num_keys):
    operands = [to_front(x, d, size) for x, d in zip(args, dims)]
    outs = bind(P.sort_p, *operands, axis=axis + 1, num_keys=num_keys)
    return outs, [0] * len(outs)


def _searchsorted_rule(size, args, dims, *, side):
    (a, v), (a_dim, v_dim) = args, dims
    if a_dim is not_mapped:
        return bind(P.searchsorted_p, a, v, side=side), v_dim
    # Each member searches its own sorted array: one search per member (NaNs sort last, so
    # counting comparisons would not agree with a search).
    return loop_rule(P.searchsorted_p)(size, args, dims, side=side)


batching_rules[P.linear_recurrence_p] = _linear_recurrence_rule
batching_rules[P.sort_p] = _sort_rule
batching_rules[P.searchsorted_p] = _searchsorted_rule

__all__ = ["batch_elementwise", "bdim_at", "Any"]


# =============================================================================================
# Linear algebra (linalg): the factorizations and solves map over leading batch dimensions
# =============================================================================================

def _leading_batch_rule(prim):
    def rule(size, args, dims, **params):
        out = bind(prim, *[to_front(x, d, size) for x, d in zip(args, dims)], **params)
        return (out, [0] * len(out)) if prim.multiple_results else (out, 0)
    batching_rules[prim] = rule


for _prim in (P.cholesky_p, P.triangular_solve_p, P.lu_p, P.column_lu_p, P.lu_pivots_to_permutation_p,
              P.qr_p, P.eigh_p, P.svd_p, P.triangular_product_p, P.eig_p):
    _leading_batch_rule(_prim)


# =============================================================================================
# The FFT (complex area): it transforms trailing axes, so a batch axis in front is free
# =============================================================================================

def _fft_batch_rule(size, args, dims, **params):
    (x,), (d,) = args, dims
    return bind(P.fft_p, to_front(x, d, size), **params), 0


batching_rules[P.fft_p] = _fft_batch_rule
