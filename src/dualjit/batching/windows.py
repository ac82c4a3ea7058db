"""Batching rules of the convolution and window primitives.

Window reductions get a window of size 1 along the batch axis. A convolution folds the batch
into one of its own axes: a batched input into its batch axis, a batched kernel into its
out-feature axis, both into features (one more feature group per member).
"""

from __future__ import annotations

from ..ir import primitives as P
from ..tracer.core import bind
from .core import batching_rules, bdim_at, loop_rule, moveaxis, not_mapped, type_of


def _window_rule(prim):
    def rule(size, args, dims, *, window_dimensions, window_strides, padding, base_dilation,
             window_dilation):
        operands = [bdim_at(x, d, size, 0) for x, d in zip(args, dims)]
        out = bind(prim, *operands, window_dimensions=(1, *window_dimensions),
                   window_strides=(1, *window_strides), padding=((0, 0), *padding),
                   base_dilation=(1, *base_dilation), window_dilation=(1, *window_dilation))
        return out, 0
    batching_rules[prim] = rule


for _prim in P.window_primitives:
    _window_rule(_prim)


def _merge(x, bdim: int, axis: int, groups: int):
    """Fold batch axis `bdim` into member axis `axis` as (groups, batch, axis size / groups)."""
    x = moveaxis(x, bdim, axis)
    shape = type_of(x).shape
    size, n = shape[axis], shape[axis + 1]
    before, after = shape[:axis], shape[axis + 2:]
    x = bind(P.reshape_p, x, new_sizes=(*before, size, groups, n // groups, *after))
    if groups > 1:
        perm = list(range(len(before) + 3 + len(after)))
        perm[axis], perm[axis + 1] = axis + 1, axis
        x = bind(P.transpose_p, x, permutation=tuple(perm))
    return bind(P.reshape_p, x, new_sizes=(*before, size * n, *after))


def _split(y, axis: int, size: int, groups: int):
    """Undo _merge on an output axis: (groups, batch, rest) -> batch at `axis`, then members."""
    shape = type_of(y).shape
    before, total, after = shape[:axis], shape[axis], shape[axis + 1:]
    rest = total // (size * groups)
    y = bind(P.reshape_p, y, new_sizes=(*before, groups, size, rest, *after))
    if groups > 1:
        perm = list(range(len(before) + 3 + len(after)))
        perm[axis], perm[axis + 1] = axis + 1, axis
        y = bind(P.transpose_p, y, permutation=tuple(perm))
    return bind(P.reshape_p, y, new_sizes=(*before, size, groups * rest, *after)), axis


def _conv_rule(size, args, dims, **params):
    (x, w), (x_dim, w_dim) = args, dims
    lhs_spec, rhs_spec, out_spec = params["dimension_numbers"]
    fg, bg = params["feature_group_count"], params["batch_group_count"]
    conv = lambda a, b, **changes: bind(P.conv_general_dilated_p, a, b,  # noqa: E731
                                        **{**params, **changes})
    if w_dim is not_mapped:  # the batch joins the input's batch axis
        out = conv(_merge(x, x_dim, lhs_spec[0], bg), w)
        return _split(out, out_spec[0], size, 1)
    if x_dim is not_mapped:  # the batch joins the kernel's out features
        out = conv(x, _merge(w, w_dim, rhs_spec[0], fg * bg))
        return _split(out, out_spec[1], size, fg * bg)
    if bg == 1:  # each member is a group of its own: features (batch, groups, ...)
        out = conv(_merge(x, x_dim, lhs_spec[1], 1), _merge(w, w_dim, rhs_spec[0], 1),
                   feature_group_count=fg * size)
        return _split(out, out_spec[1], size, 1)
    return loop_rule(P.conv_general_dilated_p)(size, args, dims, **params)


batching_rules[P.conv_general_dilated_p] = _conv_rule
