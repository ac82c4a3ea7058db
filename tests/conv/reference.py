"""Direct loop implementations of convolution and window reductions: the independent reference
for tests (every output element summed term by term from the definitions)."""

import itertools

import numpy as np


def _source_index(out_pos, offset, stride, window_dilation, low, base_dilation, size):
    """The operand index a window element reads, or None for padding or a dilation hole."""
    pos = out_pos * stride + offset * window_dilation - low
    if pos < 0 or pos % base_dilation:
        return None
    index = pos // base_dilation
    return index if index < size else None


def conv(lhs, rhs, strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
         feature_group_count=1, batch_group_count=1):
    if feature_group_count == batch_group_count == 1 and np.isfinite(rhs).all():
        # (with an infinite kernel element, a padded position's absent term would be 0 * inf)
        return conv_by_offsets(lhs, rhs, strides, padding, lhs_dilation, rhs_dilation,
                               dimension_numbers)
    return conv_by_terms(lhs, rhs, strides, padding, lhs_dilation, rhs_dilation,
                         dimension_numbers, feature_group_count, batch_group_count)


def conv_by_offsets(lhs, rhs, strides, padding, lhs_dilation, rhs_dilation, dimension_numbers):
    """An ungrouped convolution from the same definition, summed kernel offset by kernel
    offset over whole arrays: the operand dilated and padded (or cropped) explicitly, then for
    each kernel offset its strided window times the kernel's column at that offset, summed
    over input features (a W7 convolution: 25 array steps instead of 7.5 million Python
    terms; tests/conv/test_reference.py checks it against conv_by_terms)."""
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    x, w = np.transpose(lhs, lhs_spec), np.transpose(rhs, rhs_spec)
    n, o, kernel = x.shape[0], w.shape[0], w.shape[2:]
    dtype = np.result_type(lhs, rhs)
    padded, out_spatial = x.astype(dtype), []
    for axis, (size, k, s, (lo, hi), ld, rd) in enumerate(zip(
            x.shape[2:], kernel, strides, padding, lhs_dilation, rhs_dilation), start=2):
        length = lo + hi + ((size - 1) * ld + 1 if size else 0)
        out_spatial.append(max(0, (max(length, 0) - ((k - 1) * rd + 1)) // s + 1))
        source = np.arange(max(length, 0)) - lo  # (padded position -> dilated operand position)
        valid = (source >= 0) & (source % ld == 0) & (source // ld < size)
        shape = list(padded.shape)
        shape[axis] = max(length, 0)
        grown = np.zeros(shape, dtype)
        index = [slice(None)] * padded.ndim
        index[axis] = np.nonzero(valid)[0]
        taken = [slice(None)] * padded.ndim
        taken[axis] = source[valid] // ld
        grown[tuple(index)] = padded[tuple(taken)]
        padded = grown
    out = np.zeros((n, o, *out_spatial), dtype)
    if out.size and x.shape[1]:
        for offsets in itertools.product(*map(range, kernel)):
            window = padded[(slice(None), slice(None)) + tuple(
                slice(off * rd, off * rd + (count - 1) * s + 1, s)
                for off, rd, count, s in zip(offsets, rhs_dilation, out_spatial, strides))]
            out += np.einsum("ni...,oi->no...", window, w[(slice(None), slice(None)) + offsets])
    return np.transpose(out, np.argsort(out_spec))


def conv_by_terms(lhs, rhs, strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
                  feature_group_count=1, batch_group_count=1):
    """Every output element summed term by term from the definition, in Python loops."""
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    x, w = np.transpose(lhs, lhs_spec), np.transpose(rhs, rhs_spec)
    n, o, spatial, kernel = x.shape[0], w.shape[0], x.shape[2:], w.shape[2:]
    out_spatial = []
    for size, k, s, (lo, hi), ld, rd in zip(spatial, kernel, strides, padding, lhs_dilation,
                                             rhs_dilation):
        padded = lo + hi + ((size - 1) * ld + 1 if size else 0)
        out_spatial.append(max(0, (padded - ((k - 1) * rd + 1)) // s + 1))
    out = np.zeros((n // batch_group_count, o, *out_spatial), np.result_type(lhs, rhs))
    for out_index, x_index, w_index in _conv_terms(x.shape, w.shape, out.shape, strides, padding,
                                                   lhs_dilation, rhs_dilation,
                                                   feature_group_count, batch_group_count):
        out[out_index] += x[x_index] * w[w_index]
    return np.transpose(out, np.argsort(out_spec))


def _conv_terms(x_shape, w_shape, out_shape, strides, padding, lhs_dilation, rhs_dilation,
                feature_group_count, batch_group_count):
    """Every product term of a convolution (in N C spatial... layouts): the indices of the
    output element, the operand element and the kernel element it multiplies."""
    n, (o, i), spatial, kernel = x_shape[0], w_shape[:2], x_shape[2:], w_shape[2:]
    groups = feature_group_count * batch_group_count
    for index in itertools.product(*map(range, out_shape)):
        nb, oo, pos = index[0], index[1], index[2:]
        g = oo // (o // groups)
        for ii, offsets in itertools.product(range(i), itertools.product(*map(range, kernel))):
            src = [_source_index(*a) for a in zip(pos, offsets, strides, rhs_dilation,
                                                  [p[0] for p in padding], lhs_dilation, spatial)]
            if None in src:
                continue
            batch = nb + g * (n // batch_group_count) if batch_group_count > 1 else nb
            feature = g * i + ii if feature_group_count > 1 else ii
            yield index, (batch, feature, *src), (oo, ii, *offsets)


def reduce_window(x, reducer, init, window_dimensions, window_strides, padding, base_dilation,
                  window_dilation):
    """Each window reduced with reducer(acc, value), padding and holes taking init."""
    counts = []
    for size, k, s, (lo, hi), bd, wd in zip(x.shape, window_dimensions, window_strides, padding,
                                             base_dilation, window_dilation):
        padded = lo + hi + ((size - 1) * bd + 1 if size else 0)
        counts.append(max(0, (padded - ((k - 1) * wd + 1)) // s + 1))
    out = np.empty(counts, x.dtype)
    for pos in itertools.product(*map(range, counts)):
        acc = init
        for offsets in itertools.product(*map(range, window_dimensions)):
            src = [_source_index(*a) for a in zip(pos, offsets, window_strides, window_dilation,
                                                  [p[0] for p in padding], base_dilation,
                                                  x.shape)]
            acc = reducer(acc, init if None in src else x[tuple(src)])
        out[pos] = acc
    return out


def first_max_positions(x, window_dimensions, window_strides, padding, base_dilation,
                        window_dilation):
    """Per window, the operand index of its first maximum (None if the window holds none)."""
    result = {}
    counts = reduce_window(x, max, -np.inf, window_dimensions, window_strides, padding,
                           base_dilation, window_dilation).shape
    for pos in itertools.product(*map(range, counts)):
        best, where = -np.inf, None
        for offsets in itertools.product(*map(range, window_dimensions)):
            src = [_source_index(*a) for a in zip(pos, offsets, window_strides, window_dilation,
                                                  [p[0] for p in padding], base_dilation,
                                                  x.shape)]
            if None not in src and (where is None or x[tuple(src)] > best):
                best, where = x[tuple(src)], tuple(src)
        result[pos] = where
    return result, counts


def conv_vjp(lhs, rhs, ct, strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
             feature_group_count=1, batch_group_count=1):
    """(d lhs, d rhs) of sum(conv(lhs, rhs) * ct): each product term of `conv` sends ct times
    the other factor back to its two factors."""
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    x, w = np.transpose(lhs, lhs_spec), np.transpose(rhs, rhs_spec)
    g_out = np.transpose(ct, out_spec)
    x_bar, w_bar = np.zeros_like(x), np.zeros_like(w)
    for out_index, x_index, w_index in _conv_terms(x.shape, w.shape, g_out.shape, strides,
                                                   padding, lhs_dilation, rhs_dilation,
                                                   feature_group_count, batch_group_count):
        x_bar[x_index] += g_out[out_index] * w[w_index]
        w_bar[w_index] += g_out[out_index] * x[x_index]
    return (np.transpose(x_bar, np.argsort(lhs_spec)), np.transpose(w_bar, np.argsort(rhs_spec)))


def max_pool_vjp(x, ct, **window):
    """ct of each window added at the window's first maximum (nothing for padding)."""
    where, _ = first_max_positions(x, **window)
    out = np.zeros_like(x)
    for pos, src in where.items():
        if src is not None:
            out[src] += ct[pos]
    return out


def window_sum_vjp(x, ct, **window):
    """ct of each window added to each of its operand elements."""
    out = np.zeros_like(x)
    for pos in np.ndindex(*ct.shape):
        for offsets in itertools.product(*map(range, window["window_dimensions"])):
            src = [_source_index(*a) for a in zip(
                pos, offsets, window["window_strides"], window["window_dilation"],
                [p[0] for p in window["padding"]], window["base_dilation"], x.shape)]
            if None not in src:
                out[tuple(src)] += ct[pos]
    return out
