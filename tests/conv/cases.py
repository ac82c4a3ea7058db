"""Cases of the convolution and window primitives for the registry-wide tests (tests/ir,
tests/codegen, tests/batching): (primitive, args, params, expected from the loop reference)."""

import numpy as np

from dualjit.ir import primitives as P

from . import reference

rng = np.random.default_rng(14)
_x = rng.standard_normal((2, 4, 5))  # (N, C, W)
_w = rng.standard_normal((4, 2, 2))  # (O, I, K): two feature groups
_conv = dict(window_strides=(2,), padding=((1, 2),), lhs_dilation=(1,), rhs_dilation=(2,),
             dimension_numbers=((0, 1, 2), (0, 1, 2), (0, 1, 2)), feature_group_count=2,
             batch_group_count=1)
_xb = rng.standard_normal((4, 3, 2))  # (W, C, N): batch groups, spatial-first layout
_wb = rng.standard_normal((2, 3, 4))  # (K, I, O)
_conv_b = dict(window_strides=(1,), padding=((0, 1),), lhs_dilation=(2,), rhs_dilation=(1,),
               dimension_numbers=((2, 1, 0), (2, 1, 0), (2, 1, 0)), feature_group_count=1,
               batch_group_count=2)
_p = rng.standard_normal((3, 5))
_p[1, 1] = _p[1, 2]  # a tie inside a window
_window = dict(window_dimensions=(2, 2), window_strides=(1, 2), padding=((0, 1), (1, 0)),
               base_dilation=(1, 1), window_dilation=(1, 1))
_dilated = dict(window_dimensions=(2, 2), window_strides=(2, 1), padding=((1, 0), (0, 0)),
                base_dilation=(2, 1), window_dilation=(1, 2))
_t = rng.standard_normal((3, 5))


def _gathered(t, x, window):
    where, counts = reference.first_max_positions(x, **window)
    return np.array([t[where[pos]] if where[pos] else 0.0 for pos in np.ndindex(*counts)]
                    ).reshape(counts)


def _scattered(s, x, window):
    where, _ = reference.first_max_positions(x, **window)
    out = np.zeros_like(x)
    for pos, src in where.items():
        if src is not None:
            out[src] += s[pos]
    return out


_s = rng.standard_normal(_gathered(_t, _p, _dilated).shape)

CONV_CASES = {
    "conv_general_dilated": (P.conv_general_dilated_p, [_x, _w], _conv, reference.conv(
        _x, _w, (2,), ((1, 2),), (1,), (2,), _conv["dimension_numbers"], 2, 1)),
    "conv_general_dilated_batch_groups": (P.conv_general_dilated_p, [_xb, _wb], _conv_b,
                                          reference.conv(_xb, _wb, (1,), ((0, 1),), (2,), (1,),
                                                         _conv_b["dimension_numbers"], 1, 2)),
    "reduce_window_sum": (P.reduce_window_sum_p, [_p], _window,
                          reference.reduce_window(_p, np.add, 0.0, **_window)),
    "reduce_window_max": (P.reduce_window_max_p, [_p], _dilated,
                          reference.reduce_window(_p, max, -np.inf, **_dilated)),
    "select_and_gather_add": (P.select_and_gather_add_p, [_t, _p], _window,
                              _gathered(_t, _p, _window)),
    "select_and_scatter_add": (P.select_and_scatter_add_p, [_s, _p], _dilated,
                               _scattered(_s, _p, _dilated)),
}
