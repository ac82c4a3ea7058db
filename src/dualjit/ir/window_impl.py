"""numpy implementations of the windowed primitives: convolution (im2col + one matmul per
group), window sums and maxima, and the max-pool derivative pair (gather/scatter at the
window's first maximum).

Every windowed operation sees its operand through the same lens: dilate the base by
`base_dilation` (holes hold `fill`), pad each dimension by (low, high) (negative crops), then
take windows of `window_dimensions` elements spaced `window_dilation` apart, every
`window_strides` steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def dilated(size: int, dilation: int) -> int:
    """The length of `size` elements spaced `dilation` apart (0 stays 0)."""
    return 0 if size == 0 else (size - 1) * dilation + 1


def window_count(size: int, window: int, stride: int, padding: tuple[int, int],
                 base_dilation: int = 1, window_dilation: int = 1) -> int:
    """How many windows fit along one dimension."""
    padded = padding[0] + padding[1] + dilated(size, base_dilation)
    span = dilated(window, window_dilation)
    return max(0, (padded - span) // stride + 1) if padded >= span else 0


def padded_base(x, fill, padding, base_dilation):
    """x dilated by base_dilation (holes hold fill) and padded by (low, high) per dimension."""
    x = np.asarray(x)
    inner = [dilated(n, d) for n, d in zip(x.shape, base_dilation)]
    grid = np.full(inner, fill, dtype=x.dtype)
    grid[tuple(slice(None, None, d) for d in base_dilation)] = x
    shape = [n + lo + hi for n, (lo, hi) in zip(inner, padding)]
    out = np.full(shape, fill, dtype=x.dtype)
    src, dst = [], []
    for n, size, (lo, _) in zip(inner, shape, padding):
        s0, d0 = max(0, -lo), max(0, lo)
        length = max(0, min(n - s0, size - d0))
        src.append(slice(s0, s0 + length))
        dst.append(slice(d0, d0 + length))
    out[tuple(dst)] = grid[tuple(src)]
    return out


def windows(x, fill, window_dimensions, window_strides, padding, base_dilation, window_dilation):
    """A read-only view of shape (window counts..., window_dimensions...) over padded x."""
    x = np.asarray(x)
    counts = _counts(x.shape, window_dimensions, window_strides, padding, base_dilation,
                     window_dilation)
    if 0 in counts or 0 in window_dimensions:
        return np.full(tuple(counts) + tuple(window_dimensions), fill, x.dtype)
    base = padded_base(x, fill, padding, base_dilation)
    spans = [dilated(w, d) for w, d in zip(window_dimensions, window_dilation)]
    view = sliding_window_view(base, spans)
    picks = tuple(slice(0, c * s, s) for c, s in zip(counts, window_strides))
    picks += tuple(slice(None, None, d) for d in window_dilation)
    return view[picks]


def _counts(shape, window_dimensions, window_strides, padding, base_dilation, window_dilation):
    return tuple(window_count(*args) for args in zip(shape, window_dimensions, window_strides,
                                                     padding, base_dilation, window_dilation))


def window_slices(x, fill, window_dimensions, window_strides, padding, base_dilation,
                  window_dilation):
    """(counts, [one strided view of shape counts per window offset, row-major]): the k-th
    view holds element k of every window. Reductions loop over these: a handful of full-size
    vectorized passes instead of one pass over tiny trailing window axes."""
    x = np.asarray(x)
    counts = _counts(x.shape, window_dimensions, window_strides, padding, base_dilation,
                     window_dilation)
    if 0 in counts or 0 in window_dimensions:
        return counts, [np.full(counts, fill, x.dtype)] * max(1, math.prod(window_dimensions))
    base = padded_base(x, fill, padding, base_dilation)
    views = []
    for offsets in np.ndindex(*window_dimensions):
        views.append(base[tuple(slice(o * d, o * d + (c - 1) * s + 1, s) for o, d, c, s in
                                zip(offsets, window_dilation, counts, window_strides))])
    return counts, views


def lowest(dtype: np.dtype):
    """The identity of max: -inf for floats, the smallest integer otherwise."""
    dtype = np.dtype(dtype)
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def reduce_window_sum(x, **window):
    x = np.asarray(x)
    _, views = window_slices(x, 0, **window)
    total = views[0].copy()
    for v in views[1:]:
        total += v
    return total


def reduce_window_max(x, **window):
    x = np.asarray(x)
    _, views = window_slices(x, lowest(x.dtype), **window)
    best = views[0].copy()
    for v in views[1:]:
        np.maximum(best, v, out=best)
    return best


def _first_argmax(x, window):
    """Per window, the row-major offset of its first maximum (NaN counts as largest)."""
    x = np.asarray(x)
    counts, views = window_slices(x, lowest(x.dtype), **window)
    best, chosen = views[0].copy(), np.zeros(counts, np.intp)
    nan = x.dtype.kind == "f" and bool(np.isnan(x).any())
    better = np.empty(counts, bool)
    for k, v in enumerate(views[1:], start=1):
        np.greater(v, best, out=better)
        if nan:
            better |= np.isnan(v) & ~np.isnan(best)
        np.copyto(best, v, where=better)
        np.copyto(chosen, k, where=better)
    return chosen, counts


def select_and_gather_add(t, x, **window):
    """The tangent t at each window's first maximum of x (the JVP of a max pool)."""
    t, x = np.asarray(t), np.asarray(x)
    chosen, counts = _first_argmax(x, window)
    _, values = window_slices(t, 0, **window)
    out = np.zeros(counts, t.dtype)
    for k, v in enumerate(values):
        np.copyto(out, v, where=chosen == k)
    return out


def select_and_scatter_add(s, x, **window):
    """Each window's value of s added at the window's first maximum of x (its transpose)."""
    s, x = np.asarray(s), np.asarray(x)
    chosen, counts = _first_argmax(x, window)
    padding, base_dilation = window["padding"], window["base_dilation"]
    base_shape = [lo + hi + dilated(n, d) for n, (lo, hi), d in zip(x.shape, padding, base_dilation)]
    total = np.zeros(base_shape, s.dtype)
    if s.size:
        for k, offsets in enumerate(np.ndindex(*window["window_dimensions"])):
            # within one offset, distinct windows touch distinct elements: += is safe
            total[tuple(slice(o * d, o * d + (c - 1) * st + 1, st) for o, d, c, st in zip(
                offsets, window["window_dilation"], counts, window["window_strides"]))] += \
                np.where(chosen == k, s, s.dtype.type(0))
    # back from the padded, dilated base to x's elements
    cropped = padded_base(total, 0, [(-lo, -hi) for lo, hi in padding], [1] * x.ndim)
    return np.ascontiguousarray(cropped[tuple(slice(None, None, d) for d in base_dilation)])


# ---------------------------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------------------------

def _patches(x, kernel, window):
    """(C, K, N, P): element k of window p of x[n, c], K kernel offsets and P window positions
    (so each group's rows are one contiguous matrix), looping over the shorter of K and P."""
    n, c = x.shape[:2]
    counts = _counts(x.shape, (1, 1) + tuple(kernel), **window)[2:]
    k, p = math.prod(kernel), math.prod(counts)
    cols = np.zeros((c, k, n, p), x.dtype)
    if k == 0 or p == 0:
        return cols, counts
    if k <= p:
        _, views = window_slices(x, 0, (1, 1) + tuple(kernel), **window)
        for i, v in enumerate(views):
            cols[:, i] = v.reshape(n, c, p).transpose(1, 0, 2)
        return cols, counts
    view = windows(x, 0, (1, 1) + tuple(kernel), **window)  # (N, C, counts..., 1, 1, kernel...)
    for j, position in enumerate(np.ndindex(*counts)):
        cols[:, :, :, j] = view[(slice(None), slice(None)) + position].reshape(n, c, k).transpose(
            1, 2, 0)
    return cols, counts


def conv_general_dilated(lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation,
                         dimension_numbers, feature_group_count, batch_group_count):
    """out[n, o, p] = sum over (c, k) of rhs[o, c, k] times element k of window p of
    lhs[n, c]: per group one matrix product (O/groups, C/groups * K) @ (C/groups * K, N * P)."""
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    x = np.transpose(np.asarray(lhs), lhs_spec)  # (N, C, spatial...)
    w = np.transpose(np.asarray(rhs), rhs_spec)  # (O, I, kernel...)
    (n, c), (o, i), kernel = x.shape[:2], w.shape[:2], w.shape[2:]
    window = dict(window_strides=(1, 1) + tuple(window_strides),
                  padding=((0, 0), (0, 0)) + tuple(padding),
                  base_dilation=(1, 1) + tuple(lhs_dilation),
                  window_dilation=(1, 1) + tuple(rhs_dilation))
    cols, counts = _patches(x, kernel, window)
    k, p = math.prod(kernel), math.prod(counts)
    groups, bg = feature_group_count * batch_group_count, batch_group_count
    og, nb = o // groups, n // bg
    mats = np.ascontiguousarray(w).reshape(groups, og, i * k)
    out = np.empty((nb, o, p), np.result_type(x, w))
    for g in range(groups):
        if bg == 1:  # group g: features g*I .. (g+1)*I of every example
            rows = cols[g * i:(g + 1) * i].reshape(i * k, n * p)
        else:  # batch group g: examples g*N/B .. (g+1)*N/B, every feature
            rows = cols[:, :, g * nb:(g + 1) * nb].reshape(c * k, nb * p)
        out[:, g * og:(g + 1) * og] = (mats[g] @ rows).reshape(og, nb, p).transpose(1, 0, 2)
    out = out.reshape((nb, o) + tuple(counts))
    return np.ascontiguousarray(np.transpose(out, np.argsort(out_spec)))


def conv_output_shape(lhs_shape: Sequence[int], rhs_shape: Sequence[int], *, window_strides,
                      padding, lhs_dilation, rhs_dilation, dimension_numbers,
                      feature_group_count, batch_group_count) -> tuple[int, ...]:
    """The output shape of a convolution (operands already checked), in out_spec's layout."""
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    n = lhs_shape[lhs_spec[0]] // batch_group_count
    o = rhs_shape[rhs_spec[0]]
    spatial = [window_count(lhs_shape[a], rhs_shape[b], s, pad, ld, rd) for a, b, s, pad, ld, rd in
               zip(lhs_spec[2:], rhs_spec[2:], window_strides, padding, lhs_dilation,
                   rhs_dilation)]
    canonical = [n, o] + spatial
    shape = [0] * len(canonical)
    for j, axis in enumerate(out_spec):
        shape[axis] = canonical[j]
    return tuple(shape)
