"""Statistics in dualjit.numpy: quantiles and medians, averages, covariance, histograms,
bincount and interpolation."""

from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as _np

from ..ir import DType, as_dtype
from ..ir import primitives as P
from ..tracer.core import Tracer, bind
from ._core import (
    PY_SCALARS,
    broadcast_to,
    convert,
    float_dtype,
    normalize_axes,
    operand,
    refuse_out,
    result_type,
    slice_axis,
    static_int,
    unify,
)
from .creation import linspace
from .elementwise import (
    abs,
    add,
    ceil,
    clip,
    divide,
    equal,
    floor,
    greater,
    isnan,
    less,
    logical_and,
    logical_not,
    logical_or,
    maximum,
    multiply,
    remainder,
    rint,
    sqrt,
    subtract,
    where,
)
from .indexing import take
from .products import dot
from .reductions import any, max, min, sum
from .shapes import concatenate, expand_dims, ravel, reshape, transpose
from .sorting import argsort, output_size, searchsorted, sort

__all__ = ["quantile", "percentile", "median", "nanquantile", "nanpercentile", "nanmedian",
           "average", "cov", "corrcoef", "bincount", "histogram_bin_edges", "histogram",
           "histogramdd", "histogram2d", "interp"]

# Continuous quantile methods: the sample index is n*q + alpha + q*(1 - alpha - beta) - 1
# (Hyndman and Fan's definitions, as NumPy names them).
_CONTINUOUS = {"linear": (1.0, 1.0), "hazen": (0.5, 0.5), "weibull": (0.0, 0.0),
               "median_unbiased": (1 / 3, 1 / 3), "normal_unbiased": (3 / 8, 3 / 8),
               "interpolated_inverted_cdf": (0.0, 1.0)}
_DISCRETE = ("lower", "higher", "nearest", "midpoint")


def quantile(a: Any, q: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
             method: str = "linear", keepdims: bool = False, *, weights: Any = None,
             interpolation: str | None = None) -> Any:
    """The q-th quantiles along axis (q in [0, 1]; q may be an array, traced or not).

    Slices holding a NaN give NaN, as in NumPy. Differentiable in a and in q.
    """
    return _quantile("quantile", a, q, axis, out, method, keepdims, weights, interpolation,
                     ignore_nan=False)


def percentile(a: Any, q: Any, axis: Any = None, out: Any = None,
               overwrite_input: bool = False, method: str = "linear", keepdims: bool = False,
               *, weights: Any = None, interpolation: str | None = None) -> Any:
    """The q-th percentiles (q in [0, 100]); see quantile."""
    return _quantile("percentile", a, divide(operand(q, "percentile"), 100.0), axis, out,
                     method, keepdims, weights, interpolation, ignore_nan=False)


def median(a: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
           keepdims: bool = False) -> Any:
    return _quantile("median", a, 0.5, axis, out, "linear", keepdims, None, None,
                     ignore_nan=False)


def nanquantile(a: Any, q: Any, axis: Any = None, out: Any = None,
                overwrite_input: bool = False, method: str = "linear", keepdims: bool = False,
                *, weights: Any = None, interpolation: str | None = None) -> Any:
    """quantile of the non-NaN elements (NaN where a slice has none)."""
    return _quantile("nanquantile", a, q, axis, out, method, keepdims, weights, interpolation,
                     ignore_nan=True)


def nanpercentile(a: Any, q: Any, axis: Any = None, out: Any = None,
                  overwrite_input: bool = False, method: str = "linear",
                  keepdims: bool = False, *, weights: Any = None,
                  interpolation: str | None = None) -> Any:
    return _quantile("nanpercentile", a, divide(operand(q, "nanpercentile"), 100.0), axis, out,
                     method, keepdims, weights, interpolation, ignore_nan=True)


def nanmedian(a: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
              keepdims: bool = False) -> Any:
    return _quantile("nanmedian", a, 0.5, axis, out, "linear", keepdims, None, None,
                     ignore_nan=True)


def _quantile(op: str, a: Any, q: Any, axis: Any, out: Any, method: str, keepdims: bool,
              weights: Any, interpolation: Any, ignore_nan: bool) -> Any:
    refuse_out(op, out)
    if weights is not None:
        raise TypeError(f"{op}: weights= is not supported")
    method = interpolation or method
    if method not in _CONTINUOUS and method not in _DISCRETE:
        raise ValueError(f"{op}: method {method!r} is not supported; use one of "
                         f"{sorted(_CONTINUOUS) + list(_DISCRETE)}")
    a = operand(a, op)
    a = convert(a, float_dtype(a))
    if type(a) in PY_SCALARS or _np.ndim(a) == 0:
        a = reshape(a, (1,))
    nd = _np.ndim(a)
    axes = normalize_axes(op, axis, nd)
    kept = [d for d in range(nd) if d not in axes]
    rows = transpose(a, kept + list(axes))
    rows = reshape(rows, [_np.shape(a)[d] for d in kept] + [-1])
    q = operand(q, op)
    dt = result_type(rows)
    q = convert(q, dt)
    if not isinstance(q, Tracer):
        values = _np.asarray(q)
        if values.size and ((values < 0).any() or (values > 1).any()):
            raise ValueError(f"{op}: quantiles must be in the range [0, 1]")
    found = _quantile_rows(rows, q, method, ignore_nan)  # shape q.shape + kept shape
    return _keep_q(found, axes, nd, _np.ndim(q)) if keepdims else found


def _keep_q(found: Any, axes: tuple[int, ...], nd: int, q_nd: int) -> Any:
    shape = list(_np.shape(found)[:q_nd])
    rest = iter(_np.shape(found)[q_nd:])
    shape += [1 if d in axes else next(rest) for d in range(nd)]
    return reshape(found, shape)


def _quantile_rows(rows: Any, q: Any, method: str, ignore_nan: bool) -> Any:
    """Quantiles along the last axis of `rows`; the result has q's axes first."""
    n = _np.shape(rows)[-1]
    ordered = sort(rows, axis=-1)  # NaNs last
    has_nan = any(isnan(rows), axis=-1)
    if n == 0:
        return broadcast_to(_np.asarray(_np.nan, result_type(rows))[()],
                            tuple(_np.shape(q)) + tuple(_np.shape(rows)[:-1]))
    count = sum(logical_not(isnan(rows)), axis=-1, dtype=result_type(rows)) if ignore_nan \
        else _np.asarray(n, result_type(rows))[()]
    q_nd = _np.ndim(q)
    lead = _np.ndim(rows) - 1
    q_b = reshape(q, tuple(_np.shape(q)) + (1,) * lead) if q_nd else q
    position = broadcast_to(_virtual_index(q_b, count, method),
                            tuple(_np.shape(q)) + tuple(_np.shape(rows)[:-1]))
    lo = clip(floor(position), 0, subtract(count, 1))
    hi = clip(add(lo, 1), 0, subtract(count, 1))
    fraction = subtract(position, lo)
    below, above = _gather_rows(ordered, lo, q_nd), _gather_rows(ordered, hi, q_nd)
    if method == "lower":
        found = below
    elif method == "higher":
        found = _gather_rows(ordered, clip(ceil(position), 0, subtract(count, 1)), q_nd)
    elif method == "nearest":
        found = _gather_rows(ordered, clip(rint(position), 0, subtract(count, 1)), q_nd)
    elif method == "midpoint":
        found = where(equal(fraction, 0), below, multiply(add(below, above), 0.5))
    else:
        found = _lerp(below, above, clip(fraction, 0, 1))
    missing = equal(count, 0) if ignore_nan else has_nan
    return where(missing, _np.asarray(_np.nan, result_type(rows))[()], found)


def _virtual_index(q: Any, n: Any, method: str) -> Any:
    if method in _DISCRETE:
        return multiply(q, subtract(n, 1))
    alpha, beta = _CONTINUOUS[method]
    index = subtract(add(multiply(n, q), add(alpha, multiply(q, 1 - alpha - beta))), 1)
    return clip(index, 0, subtract(n, 1))


def _lerp(a: Any, b: Any, t: Any) -> Any:
    """a + (b - a) t, computed from the nearer end for accuracy (as NumPy's _lerp)."""
    d = subtract(b, a)
    return where(less(t, 0.5), add(a, multiply(d, t)), subtract(b, multiply(d, subtract(1, t))))


def _gather_rows(ordered: Any, index: Any, q_nd: int) -> Any:
    """ordered[..., index] per row: index has shape q.shape + ordered.shape[:-1]."""
    lead = tuple(_np.shape(ordered)[:-1])
    position = convert(index, _np.dtype(_np.int64))
    if lead:
        row = _row_numbers(tuple(_np.shape(index)), q_nd, lead)
        position = add(multiply(row, _np.shape(ordered)[-1]), position)
    return bind(P.gather_p, reshape(ordered, (-1,)), position, axis=0)


def _row_numbers(full: tuple[int, ...], start: int, lead: tuple[int, ...]) -> Any:
    row = None
    for k, size in enumerate(lead):
        ramp = bind(P.iota_p, dtype=DType.int64, shape=full, dimension=start + k)
        row = ramp if row is None else add(multiply(row, size), ramp)
    return row


# ---------------------------------------------------------------------------------------------
# Averages and covariance
# ---------------------------------------------------------------------------------------------

def average(a: Any, axis: Any = None, weights: Any = None, returned: bool = False, *,
            keepdims: bool = False) -> Any:
    """The (weighted) mean along axis; with returned, also the sum of weights."""
    from .reductions import mean

    a = operand(a, "average")
    if weights is None:
        avg = mean(a, axis=axis, keepdims=keepdims)
        if not returned:
            return avg
        nd = _np.ndim(a)
        count = math.prod(_np.shape(a)[d] for d in normalize_axes("average", axis, nd))
        return avg, broadcast_to(_np.asarray(count, result_type(avg))[()], _np.shape(avg))
    w = operand(weights, "average")
    dt = float_dtype(a, w)
    a, w = convert(a, dt), convert(w, dt)
    if _np.shape(w) != _np.shape(a):
        if axis is None or _np.ndim(w) != 1:
            raise TypeError("average: axis must be specified when shapes of a and weights "
                            "differ (and weights must then be 1-D)")
        (ax,) = normalize_axes("average", axis, _np.ndim(a))
        if _np.shape(w)[0] != _np.shape(a)[ax]:
            raise ValueError("average: length of weights not compatible with specified axis")
        shape = [1] * _np.ndim(a)
        shape[ax] = _np.shape(w)[0]
        w = reshape(w, shape)
    total = sum(w, axis=axis, keepdims=keepdims)
    if _np.shape(w) != _np.shape(a):
        total = sum(broadcast_to(w, _np.shape(a)), axis=axis, keepdims=keepdims)
    avg = divide(sum(multiply(a, w), axis=axis, keepdims=keepdims), total)
    return (avg, broadcast_to(total, _np.shape(avg))) if returned else avg


def cov(m: Any, y: Any = None, rowvar: bool = True, bias: bool = False, ddof: int | None = None,
        fweights: Any = None, aweights: Any = None, *, dtype: Any = None) -> Any:
    """Covariance matrix of the variables (rows, or columns when rowvar is False)."""
    m = operand(m, "cov")
    if _np.ndim(m) > 2:
        raise ValueError("cov: m has more than 2 dimensions")
    dt = as_dtype(dtype).np if dtype is not None else float_dtype(m, *(
        [] if y is None else [operand(y, "cov")]))
    x = convert(m, dt)
    x = reshape(x, (1, -1)) if _np.ndim(x) < 2 else x
    if not rowvar and _np.shape(x)[0] != 1:
        x = transpose(x)
    if y is not None:
        y = convert(operand(y, "cov"), dt)
        y = reshape(y, (1, -1)) if _np.ndim(y) < 2 else y
        if not rowvar and _np.shape(y)[0] != 1:
            y = transpose(y)
        x = concatenate([x, y], axis=0)
    ddof = (0 if bias else 1) if ddof is None else ddof
    n = _np.shape(x)[1]
    w = None
    if fweights is not None:
        w = convert(operand(fweights, "cov"), dt)
    if aweights is not None:
        aw = convert(operand(aweights, "cov"), dt)
        w = aw if w is None else multiply(w, aw)
    if w is None:
        avg = divide(sum(x, axis=1), n)
        fact = _np.asarray(n - ddof, dt)[()]
    else:
        w_sum = sum(w)
        avg = divide(sum(multiply(x, w), axis=1), w_sum)
        if ddof == 0:
            fact = w_sum
        elif aweights is None:
            fact = subtract(w_sum, ddof)
        else:
            fact = subtract(w_sum, divide(multiply(ddof, sum(multiply(w, aw))), w_sum))
    centered = subtract(x, expand_dims(avg, 1))
    weighted = centered if w is None else multiply(centered, w)
    c = divide(dot(centered, transpose(weighted)), maximum(fact, 0))
    return reshape(c, ()) if _np.shape(c) == (1, 1) else c


def corrcoef(x: Any, y: Any = None, rowvar: bool = True, *, dtype: Any = None) -> Any:
    """Pearson correlation coefficients (clipped to [-1, 1], as NumPy)."""
    c = cov(x, y, rowvar, dtype=dtype)
    if _np.ndim(c) == 0:
        return divide(c, c)
    from .indexing import diagonal

    d = sqrt(diagonal(c))
    return clip(divide(divide(c, expand_dims(d, 1)), expand_dims(d, 0)), -1, 1)


# ---------------------------------------------------------------------------------------------
# Counting: bincount and histograms
# ---------------------------------------------------------------------------------------------

def bincount(x: Any, weights: Any = None, minlength: int = 0, *,
             length: int | None = None) -> Any:
    """Occurrences (or summed weights) of each non-negative integer in x.

    The output length is max(x) + 1 (at least minlength) from concrete values; under jit pass
    a static length= (values outside [0, length) are dropped).
    """
    x = ravel(operand(x, "bincount"))
    if result_type(x).kind not in "biu":
        raise TypeError(f"bincount: x must be integers, got {result_type(x)}")
    if not isinstance(x, Tracer) and _np.asarray(x).size and _np.asarray(x).min() < 0:
        raise ValueError("bincount: the first argument must be non-negative")
    minlength = static_int(minlength, "minlength", "bincount")
    if length is None:
        biggest = max(x) if _np.shape(x)[0] else -1
        length = builtins.max(output_size(add(biggest, 1), None, "bincount"), minlength)
    length = static_int(length, "length", "bincount")
    if weights is None:
        values = broadcast_to(_np.int64(1), _np.shape(x))
    else:
        values = ravel(operand(weights, "bincount"))
        values = convert(values, _np.dtype(_np.float64) if result_type(values).kind != "f"
                         else result_type(values))
    return _scatter_counts(convert(x, _np.dtype(_np.int64)), values, length)


def _scatter_counts(index: Any, values: Any, length: int) -> Any:
    """out[i] = sum of values where index == i, for i in [0, length); others dropped."""
    inside = logical_and(logical_not(less(index, 0)), less(index, length))
    slot = where(inside, index, length)
    zeros = broadcast_to(_np.zeros((), result_type(values)), (length + 1,))
    if _np.shape(index)[0] == 0:
        return slice_axis(zeros, 0, 0, length)
    counts = bind(P.scatter_add_p, zeros, slot, values, axis=0)
    return slice_axis(counts, 0, 0, length)


def histogram_bin_edges(a: Any, bins: Any = 10, range: Any = None,
                        weights: Any = None) -> Any:  # noqa: A002
    """The bin edges histogram would use: `bins` equal bins over range (default: min..max)."""
    a = ravel(operand(a, "histogram_bin_edges"))
    if isinstance(bins, str):
        raise TypeError("histogram_bin_edges: string bin estimators are not supported; pass "
                        "a number of bins or the edges")
    if _np.ndim(bins) == 1:
        return convert(operand(bins, "histogram"), float_dtype(a))
    bins = static_int(bins, "bins", "histogram")
    dt = float_dtype(a)
    if range is None:
        lo, hi = (min(a), max(a)) if _np.shape(a)[0] else (0.0, 1.0)
    else:
        lo, hi = range
    lo, hi = convert(operand(lo, "histogram"), dt), convert(operand(hi, "histogram"), dt)
    same = equal(lo, hi)
    lo, hi = where(same, subtract(lo, 0.5), lo), where(same, add(hi, 0.5), hi)
    return linspace(lo, hi, bins + 1, dtype=dt)


def histogram(a: Any, bins: Any = 10, range: Any = None, density: bool | None = None,
              weights: Any = None) -> tuple[Any, Any]:  # noqa: A002
    """(counts, edges): each bin [e_i, e_i+1) holds its values; the last bin includes its
    right edge; values outside the edges are not counted."""
    a = ravel(operand(a, "histogram"))
    edges = histogram_bin_edges(a, bins, range)
    counts = _bin_counts(a, edges, None if weights is None else ravel(operand(weights,
                                                                             "histogram")))
    if density:
        widths = subtract(slice_axis(edges, 0, 1, _np.shape(edges)[0]),
                          slice_axis(edges, 0, 0, _np.shape(edges)[0] - 1))
        counts = divide(divide(counts, widths), sum(counts))
    return counts, edges


def _bin_of(values: Any, edges: Any) -> Any:
    """The bin of each value (-1 or len(edges) - 1 outside), the last bin closed on the right."""
    values, edges = unify("histogram", values, edges)
    k = _np.shape(edges)[0] - 1
    index = subtract(searchsorted(edges, values, side="right"), 1)
    at_end = equal(values, _last(edges))
    index = where(at_end, k - 1, index)
    return where(logical_or(less(index, 0), greater(index, k - 1)), k, index)


def _last(edges: Any) -> Any:
    n = _np.shape(edges)[0]
    return reshape(slice_axis(edges, 0, n - 1, n), ())


def _bin_counts(values: Any, edges: Any, weights: Any) -> Any:
    k = _np.shape(edges)[0] - 1
    index = _bin_of(values, edges)
    w = broadcast_to(_np.int64(1), _np.shape(values)) if weights is None else weights
    return _scatter_counts(index, w, k)


def histogramdd(sample: Any, bins: Any = 10, range: Any = None, density: bool | None = None,
                weights: Any = None) -> tuple[Any, list[Any]]:  # noqa: A002
    """Multidimensional histogram of sample (N points x D coordinates)."""
    sample = operand(sample, "histogramdd")
    if _np.ndim(sample) == 1:
        sample = reshape(sample, (-1, 1))
    n, d = _np.shape(sample)
    bins_list = list(bins) if isinstance(bins, (list, tuple)) else [bins] * d
    ranges = list(range) if range is not None else [None] * d
    columns = [reshape(slice_axis(sample, 1, j, j + 1), (n,)) for j in builtins.range(d)]
    edges = [histogram_bin_edges(c, b, r) for c, b, r in zip(columns, bins_list, ranges)]
    sizes = [_np.shape(e)[0] - 1 for e in edges]
    flat, outside = None, None
    for c, e, k in zip(columns, edges, sizes):
        idx = _bin_of(c, e)
        out_here = equal(idx, k)
        outside = out_here if outside is None else logical_or(outside, out_here)
        flat = idx if flat is None else add(multiply(flat, k), idx)
    total = math.prod(sizes)
    flat = where(outside, total, flat)
    w = broadcast_to(_np.float64(1), (n,)) if weights is None else ravel(operand(weights,
                                                                                "histogramdd"))
    counts = reshape(_scatter_counts(flat, w, total), sizes)
    if density:
        volume = None
        for j, e in enumerate(edges):
            widths = subtract(slice_axis(e, 0, 1, sizes[j] + 1), slice_axis(e, 0, 0, sizes[j]))
            shape = [1] * d
            shape[j] = sizes[j]
            widths = reshape(widths, shape)
            volume = widths if volume is None else multiply(volume, widths)
        counts = divide(divide(counts, volume), sum(counts))
    return counts, edges


def histogram2d(x: Any, y: Any, bins: Any = 10, range: Any = None, density: bool | None = None,
                weights: Any = None) -> tuple[Any, Any, Any]:  # noqa: A002
    x, y = unify("histogram2d", x, y)
    if _np.ndim(bins) == 1 and not isinstance(bins, (list, tuple)):
        bins = [bins, bins]
    elif isinstance(bins, (list, tuple)) and len(bins) != 2:
        bins = [bins, bins]
    counts, edges = histogramdd(concatenate([reshape(x, (-1, 1)), reshape(y, (-1, 1))], axis=1),
                                bins, range, density, weights)
    return counts, edges[0], edges[1]


# ---------------------------------------------------------------------------------------------
# Interpolation
# ---------------------------------------------------------------------------------------------

def interp(x: Any, xp: Any, fp: Any, left: Any = None, right: Any = None,
           period: Any = None) -> Any:
    """Piecewise-linear interpolation of (xp, fp) at x (xp increasing); differentiable in x,
    xp and fp."""
    x, xp, fp = operand(x, "interp"), operand(xp, "interp"), operand(fp, "interp")
    if _np.ndim(xp) != 1 or _np.shape(xp) != _np.shape(fp):
        raise ValueError("interp: xp and fp must be 1-D sequences of the same length")
    dt = float_dtype(x, xp, fp)
    x, xp, fp = convert(x, dt), convert(xp, dt), convert(fp, dt)
    if period is not None:
        if period == 0:
            raise ValueError("interp: period must be a non-zero value")
        period = abs(period)
        x = remainder(x, period)
        xp = remainder(xp, period)
        order = argsort(xp)
        xp, fp = take(xp, order), take(fp, order)
        n = _np.shape(xp)[0]
        xp = concatenate([subtract(slice_axis(xp, 0, n - 1, n), period), xp,
                          add(slice_axis(xp, 0, 0, 1), period)])
        fp = concatenate([slice_axis(fp, 0, n - 1, n), fp, slice_axis(fp, 0, 0, 1)])
    n = _np.shape(xp)[0]
    if n == 0:
        raise ValueError("interp: array of sample points is empty")
    if n == 1:
        value = broadcast_to(reshape(fp, ()), _np.shape(x))
        return _edges(x, xp, fp, value, left, right, period)
    i = clip(searchsorted(xp, x, side="right"), 1, n - 1)
    x0, x1 = take(xp, subtract(i, 1)), take(xp, i)
    f0, f1 = take(fp, subtract(i, 1)), take(fp, i)
    step = subtract(x1, x0)
    safe = where(equal(step, 0), 1.0, step)
    slope = divide(subtract(f1, f0), safe)
    value = where(equal(step, 0), f0, add(f0, multiply(slope, subtract(x, x0))))
    return _edges(x, xp, fp, value, left, right, period)


def _edges(x, xp, fp, value, left, right, period):
    if period is not None:
        return value
    n = _np.shape(xp)[0]
    first, last = take(fp, 0), take(fp, n - 1)
    left = first if left is None else left
    right = last if right is None else right
    value = where(less(x, take(xp, 0)), left, value)
    return where(greater(x, take(xp, n - 1)), right, value)
