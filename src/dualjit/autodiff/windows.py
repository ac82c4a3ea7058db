"""JVP and transpose rules of the convolution and window primitives.

A convolution is bilinear, and its transpose in either operand is again a convolution:
  - in the input (lhs): the output cotangent convolved with the spatially flipped kernel, its
    in/out features swapped, the strides becoming input dilation and the input dilation strides;
  - in the kernel (rhs): the input convolved with the cotangent as the kernel, batch and
    feature roles of the input swapped, strides and kernel dilation trading places.
Feature groups become batch groups (and back) in the kernel's transpose. A window sum is
linear (its transpose is a window sum of the dilated cotangent); a window max sends the
tangent of each window's first maximum (ties: the first in row-major window order, as JAX).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ir import primitives as P
from ..ir.window_impl import dilated
from ..tracer.core import bind
from . import ops
from .jvp import Zero, deflinear, instantiate, jvp_rules, sum_tangents
from .ops import type_of
from .transpose import NonLinearError, is_linear, transpose_rules


def _conv_jvp(primals, tangents, **params):
    (x, w), (x_dot, w_dot) = primals, tangents
    out = bind(P.conv_general_dilated_p, x, w, **params)
    terms = []
    if not isinstance(x_dot, Zero):
        terms.append(bind(P.conv_general_dilated_p, x_dot, w, **params))
    if not isinstance(w_dot, Zero):
        terms.append(bind(P.conv_general_dilated_p, x, w_dot, **params))
    return out, sum_tangents(type_of(out).shape, *terms)


jvp_rules[P.conv_general_dilated_p] = _conv_jvp


def _reduce_window_max_jvp(primals, tangents, **window):
    (x,), (x_dot,) = primals, tangents
    return (bind(P.reduce_window_max_p, x, **window),
            bind(P.select_and_gather_add_p, instantiate(x_dot), x, **window))


jvp_rules[P.reduce_window_max_p] = _reduce_window_max_jvp
deflinear(P.reduce_window_sum_p, (0,))
deflinear(P.select_and_gather_add_p, (0,))  # piecewise constant in the compared operand
deflinear(P.select_and_scatter_add_p, (0,))


# ---------------------------------------------------------------------------------------------
# Transposes
# ---------------------------------------------------------------------------------------------

def _type(x: Any):
    return x.type if is_linear(x) else type_of(x)


def _zeros_if_empty(ct: Any, t) -> Any | None:
    """Zeros of type t when the cotangent is empty (no window touched the operand)."""
    return ops.zeros(t) if 0 in type_of(ct).shape else None


def transposed_padding(size: int, window: int, stride: int, padding: tuple[int, int],
                       base_dilation: int, window_dilation: int, count: int) -> tuple[int, int]:
    """Padding of the cotangent (count windows, dilated by stride) so that windows of the same
    span, taken every base_dilation steps, land back on the operand's `size` elements."""
    span = dilated(window, window_dilation)
    low = span - 1 - padding[0]
    high = (size - 1) * base_dilation + padding[0] - (count - 1) * stride
    return low, high


def _reduce_window_sum_transpose(ct, x, *, window_dimensions, window_strides, padding,
                                 base_dilation, window_dilation):
    t = x.type
    zeros = _zeros_if_empty(ct, t)
    if zeros is not None:
        return [zeros]
    pads = tuple(transposed_padding(*a) for a in zip(
        t.shape, window_dimensions, window_strides, padding, base_dilation, window_dilation,
        type_of(ct).shape))
    return [bind(P.reduce_window_sum_p, ct, window_dimensions=window_dimensions,
                 window_strides=base_dilation, padding=pads, base_dilation=window_strides,
                 window_dilation=window_dilation)]


def _select_and_gather_transpose(ct, t, x, **window):
    if is_linear(x):
        raise NonLinearError("select_and_gather_add is linear in its tangent operand only")
    return [bind(P.select_and_scatter_add_p, ct, x, **window), None]


def _select_and_scatter_transpose(ct, s, x, **window):
    if is_linear(x):
        raise NonLinearError("select_and_scatter_add is linear in its source operand only")
    return [bind(P.select_and_gather_add_p, ct, x, **window), None]


transpose_rules[P.reduce_window_sum_p] = _reduce_window_sum_transpose
transpose_rules[P.select_and_gather_add_p] = _select_and_gather_transpose
transpose_rules[P.select_and_scatter_add_p] = _select_and_scatter_transpose


def _flip_spatial(w: Any, axes) -> Any:
    """w reversed along each of `axes` (a gather of reversed indices)."""
    for axis in axes:
        n = type_of(w).shape[axis]
        if n > 1:
            w = bind(P.gather_p, w, np.arange(n - 1, -1, -1, dtype=np.int32), axis=axis)
    return w


def _regrouped_kernel(w: Any, rhs_spec, groups: int) -> Any:
    """The kernel as (groups * I, O / groups, spatial...) with in/out features swapped within
    each group: rhs'[g*I + i, o', k] = w[g*(O/groups) + o', i, k] (canonical layout)."""
    w = bind(P.transpose_p, w, permutation=tuple(rhs_spec))  # (O, I, kernel...)
    o, i, *kernel = type_of(w).shape
    w = bind(P.reshape_p, w, new_sizes=(groups, o // groups, i, *kernel))
    w = bind(P.transpose_p, w, permutation=(0, 2, 1) + tuple(range(3, 3 + len(kernel))))
    return bind(P.reshape_p, w, new_sizes=(groups * i, o // groups, *kernel))


def _conv_lhs_transpose(ct, w, x_type, *, window_strides, padding, lhs_dilation, rhs_dilation,
                        dimension_numbers, feature_group_count, batch_group_count):
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    nsp = len(window_strides)
    canonical = tuple(range(nsp + 2))
    groups = feature_group_count * batch_group_count
    kernel = _flip_spatial(_regrouped_kernel(w, rhs_spec, groups), range(2, nsp + 2))
    kernel_shape = type_of(kernel).shape[2:]
    pads = tuple(transposed_padding(x_type.shape[a], k, s, pad, ld, rd, type_of(ct).shape[b])
                 for a, b, k, s, pad, ld, rd in zip(lhs_spec[2:], out_spec[2:], kernel_shape,
                                                    window_strides, padding, lhs_dilation,
                                                    rhs_dilation))
    out_layout = tuple(lhs_spec) if batch_group_count == 1 else canonical
    x_bar = bind(P.conv_general_dilated_p, ct, kernel, window_strides=tuple(lhs_dilation),
                 padding=pads, lhs_dilation=tuple(window_strides), rhs_dilation=rhs_dilation,
                 dimension_numbers=(tuple(out_spec), canonical, out_layout),
                 feature_group_count=groups, batch_group_count=1)
    if batch_group_count == 1:
        return x_bar
    return _batch_groups_to_batch(x_bar, batch_group_count, lhs_spec)


def _batch_groups_to_batch(x_bar: Any, groups: int, lhs_spec) -> Any:
    """(N/B, B*C, spatial...) canonical -> (N, C, spatial...) in lhs_spec's layout."""
    nb, bc, *spatial = type_of(x_bar).shape
    x_bar = bind(P.reshape_p, x_bar, new_sizes=(nb, groups, bc // groups, *spatial))
    x_bar = bind(P.transpose_p, x_bar,
                 permutation=(1, 0, 2) + tuple(range(3, 3 + len(spatial))))
    x_bar = bind(P.reshape_p, x_bar, new_sizes=(nb * groups, bc // groups, *spatial))
    return bind(P.transpose_p, x_bar, permutation=tuple(int(i) for i in np.argsort(lhs_spec)))


def _conv_rhs_transpose(ct, x, w_type, *, window_strides, padding, lhs_dilation, rhs_dilation,
                        dimension_numbers, feature_group_count, batch_group_count):
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    x_type = type_of(x)
    pads = []
    for a, b, c, s, (lo, _), ld, rd in zip(lhs_spec[2:], rhs_spec[2:], out_spec[2:],
                                           window_strides, padding, lhs_dilation, rhs_dilation):
        needed = (w_type.shape[b] - 1) * rd + dilated(type_of(ct).shape[c], s)
        pads.append((lo, needed - lo - dilated(x_type.shape[a], ld)))
    swap = lambda spec: (spec[1], spec[0]) + tuple(spec[2:])  # noqa: E731
    return bind(P.conv_general_dilated_p, x, ct, window_strides=tuple(rhs_dilation),
                padding=tuple(pads), lhs_dilation=tuple(lhs_dilation),
                rhs_dilation=tuple(window_strides),
                dimension_numbers=(swap(lhs_spec), swap(out_spec), swap(rhs_spec)),
                feature_group_count=batch_group_count, batch_group_count=feature_group_count)


def _conv_transpose(ct, x, w, **params):
    if is_linear(x) and is_linear(w):
        raise NonLinearError("conv_general_dilated of two linear values is not linear")
    if is_linear(x):
        zeros = _zeros_if_empty(ct, x.type)
        return [zeros if zeros is not None else _conv_lhs_transpose(ct, w, x.type, **params),
                None]
    zeros = _zeros_if_empty(ct, w.type)
    return [None, zeros if zeros is not None else _conv_rhs_transpose(ct, x, w.type, **params)]


transpose_rules[P.conv_general_dilated_p] = _conv_transpose
