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
    counts = [window_count(*args) for args in zip(x.shape, window_dimensions, window_strides,
                                                  padding, base_dilation, window_dilation)]
    if 0 in counts or 0 in window_dimensions:
        return np.full(tuple(counts) + tuple(window_dimensions), fill, x.dtype)
    base = padded_base(x, fill, padding, base_dilation)
    spans = [dilated(w, d) for w, d in zip(window_dimensions, window_dilation)]
    view = sliding_window_view(base, spans)
    picks = tuple(slice(0, c * s, s) for c, s in zip(counts, window_strides))
    picks += tuple(slice(None, None, d) for d in window_dilation)
    return view[picks]


def lowest(dtype: np.dtype):
    """The identity of max: -inf for floats, the smallest integer otherwise."""
    dtype = np.dtype(dtype)
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _window_axes(ndim: int) -> tuple[int, ...]:
    return tuple(range(ndim, 2 * ndim))


def reduce_window_sum(x, **window):
    x = np.asarray(x)
    view = windows(x, 0, **window)
    return np.sum(view, axis=_window_axes(x.ndim), dtype=x.dtype)


def reduce_window_max(x, **window):
    x = np.asarray(x)
    view = windows(x, lowest(x.dtype), **window)
    return np.max(view, axis=_window_axes(x.ndim), initial=lowest(x.dtype))


def _first_argmax(x, window):
    """Per window, the flat (row-major) offset of its first maximum (NaN counts as largest)."""
    view = windows(x, lowest(x.dtype), **window)
    counts = view.shape[:x.ndim]
    size = math.prod(window["window_dimensions"])
    if 0 in counts:
        return np.zeros(counts, np.intp), counts
    return view.reshape(counts + (size,)).argmax(axis=-1), counts


def select_and_gather_add(t, x, **window):
    """The tangent t at each window's first maximum of x (the JVP of a max pool)."""
    t, x = np.asarray(t), np.asarray(x)
    chosen, counts = _first_argmax(x, window)
    values = windows(t, 0, **window).reshape(counts + (math.prod(window["window_dimensions"]),))
    return np.take_along_axis(values, chosen[..., None], axis=-1)[..., 0]


def select_and_scatter_add(s, x, **window):
    """Each window's value of s added at the window's first maximum of x (its transpose)."""
    s, x = np.asarray(s), np.asarray(x)
    chosen, counts = _first_argmax(x, window)
    padding, base_dilation = window["padding"], window["base_dilation"]
    base_shape = [lo + hi + dilated(n, d) for n, (lo, hi), d in zip(x.shape, padding, base_dilation)]
    total = np.zeros(base_shape, s.dtype)
    if s.size:
        offsets = np.unravel_index(chosen, window["window_dimensions"])
        grids = np.indices(counts, sparse=True)
        where = tuple(g * stride + o * d for g, o, stride, d in
                      zip(grids, offsets, window["window_strides"], window["window_dilation"]))
        np.add.at(total, where, s)
    # back from the padded, dilated base to x's elements
    cropped = padded_base(total, 0, [(-lo, -hi) for lo, hi in padding], [1] * x.ndim)
    return np.ascontiguousarray(cropped[tuple(slice(None, None, d) for d in base_dilation)])


# ---------------------------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------------------------

def conv_general_dilated(lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation,
                         dimension_numbers, feature_group_count, batch_group_count):
    """out[n, o, p] = sum over (c, k) of window p of lhs[n, c] times rhs[o, c, k], by group."""
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    x = np.transpose(np.asarray(lhs), lhs_spec)  # (N, C, spatial...)
    w = np.transpose(np.asarray(rhs), rhs_spec)  # (O, I, kernel...)
    nsp = x.ndim - 2
    (n, c), (o, i), kernel = x.shape[:2], w.shape[:2], w.shape[2:]
    patches = windows(x, 0, (1, 1) + kernel, (1, 1) + tuple(window_strides),
                      ((0, 0), (0, 0)) + tuple(padding), (1, 1) + tuple(lhs_dilation),
                      (1, 1) + tuple(rhs_dilation))
    spatial = patches.shape[2:2 + nsp]
    groups, fg, bg = feature_group_count * batch_group_count, feature_group_count, batch_group_count
    p, k = math.prod(spatial), math.prod(kernel)
    # (B, N/B, G, C/G, P, K) -> (groups, N/B * P, C/G * K): one matrix of patches per group
    cols = patches.reshape(bg, n // bg, fg, c // fg, p, k).transpose(0, 2, 1, 4, 3, 5)
    cols = cols.reshape(groups, (n // bg) * p, (c // fg) * k)
    mats = w.reshape(groups, o // groups, i, k).transpose(0, 2, 3, 1).reshape(groups, i * k, -1)
    out = np.matmul(cols, mats)  # (groups, N/B * P, O/groups)
    out = out.reshape(groups, n // bg, p, o // groups).transpose(1, 0, 3, 2)
    out = out.reshape((n // bg, o) + spatial)
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
