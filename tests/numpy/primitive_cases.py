"""Cases for the primitives of the numpy area, joined into tests/ir/test_primitives.CASES
(so the registry-completeness, shape-rule and native-vs-interpreter tests cover them)."""

import math

import numpy as np

from dualjit.ir import primitives as P

rng = np.random.default_rng(2)
unit = rng.uniform(-0.9, 0.9, (3, 4))
big = rng.uniform(1.1, 5.0, (3, 4))
a34 = rng.standard_normal((3, 4))
b34 = rng.standard_normal((3, 4))


def _running(op, x, axis, reverse):
    """An independent running reduction: a Python loop over the axis."""
    x = np.moveaxis(np.array(x, dtype=float), axis, 0)
    out = np.empty_like(x)
    order = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    acc = None
    for i in order:
        acc = x[i] if acc is None else op(acc, x[i])
        out[i] = acc
    return np.moveaxis(out, 0, axis)


def _recurrence(a, b):
    z, prev = np.empty_like(b), 0.0
    for i in range(len(b)):
        prev = a[i] * prev + b[i]
        z[i] = prev
    return z


NUMPY_CASES = {
    "asin": (P.asin_p, [unit], {}, np.vectorize(math.asin)(unit)),
    "acos": (P.acos_p, [unit], {}, np.vectorize(math.acos)(unit)),
    "atan": (P.atan_p, [a34], {}, np.vectorize(math.atan)(a34)),
    "asinh": (P.asinh_p, [a34], {}, np.vectorize(math.asinh)(a34)),
    "acosh": (P.acosh_p, [big], {}, np.vectorize(math.acosh)(big)),
    "atanh": (P.atanh_p, [unit], {}, np.vectorize(math.atanh)(unit)),
    "sinh": (P.sinh_p, [a34], {}, np.vectorize(math.sinh)(a34)),
    "cosh": (P.cosh_p, [a34], {}, np.vectorize(math.cosh)(a34)),
    "cbrt": (P.cbrt_p, [np.array([-27.0, 8.0, 0.0, 2.0])], {},
             np.array([-3.0, 2.0, 0.0, 2 ** (1 / 3)])),
    "exp2": (P.exp2_p, [np.array([-1.0, 0.0, 10.0, 0.5])], {},
             np.array([0.5, 1.0, 1024.0, math.sqrt(2)])),
    "log2": (P.log2_p, [np.array([0.5, 8.0, 1024.0, 3.0])], {},
             np.array([-1.0, 3.0, 10.0, math.log2(3)])),
    "log10": (P.log10_p, [np.array([1e-3, 1.0, 1e5, 2.0])], {},
              np.array([-3.0, 0.0, 5.0, math.log10(2)])),
    "hypot": (P.hypot_p, [a34, b34], {}, np.sqrt(a34 ** 2 + b34 ** 2)),
    "copysign": (P.copysign_p, [a34, b34], {}, np.abs(a34) * np.where(b34 < 0, -1, 1)),
    "nextafter": (P.nextafter_p, [np.array([1.0, 1.0, 0.0]), np.array([2.0, 0.0, 1.0])], {},
                  np.array([1 + 2.0 ** -52, 1 - 2.0 ** -53, 5e-324])),
    "ldexp": (P.ldexp_p, [np.array([1.5, 1e-300, 3.0]), np.array([3, 1100, -2])], {},
              np.array([12.0, 1e-300 * 2.0 ** 550 * 2.0 ** 550, 0.75])),
    "frexp": (P.frexp_p, [np.array([12.0, -0.75, 0.0])], {},
              [np.array([0.75, -0.75, 0.0]), np.array([4, 0, 0], np.int32)]),
    "cumsum": (P.cumsum_p, [a34], {"axis": 1, "reverse": False},
               _running(np.add, a34, 1, False)),
    "cumsum_reverse": (P.cumsum_p, [a34], {"axis": 0, "reverse": True},
                       _running(np.add, a34, 0, True)),
    "cumprod": (P.cumprod_p, [a34], {"axis": 1, "reverse": True},
                _running(np.multiply, a34, 1, True)),
    "cummax": (P.cummax_p, [a34], {"axis": 1, "reverse": False},
               _running(np.maximum, a34, 1, False)),
    "cummin": (P.cummin_p, [a34], {"axis": 0, "reverse": True},
               _running(np.minimum, a34, 0, True)),
    "linear_recurrence": (P.linear_recurrence_p, [a34[0], b34[0]],
                          {"axis": 0, "reverse": False}, _recurrence(a34[0], b34[0])),
    "sort": (P.sort_p, [np.array([3.0, np.nan, -1.0, 3.0, 0.5]), np.arange(5)],
             {"axis": 0, "num_keys": 1},
             [np.array([-1.0, 0.5, 3.0, 3.0, np.nan]), np.array([2, 4, 0, 3, 1])]),
    "sort_two_keys": (P.sort_p, [np.array([1, 0, 1, 0]), np.array([5.0, 6.0, 4.0, 6.0]),
                                 np.arange(4)], {"axis": 0, "num_keys": 2},
                      [np.array([0, 0, 1, 1]), np.array([6.0, 6.0, 4.0, 5.0]),
                       np.array([1, 3, 2, 0])]),
    "searchsorted": (P.searchsorted_p, [np.array([1.0, 2.0, 2.0, 5.0]),
                                        np.array([[0.0, 2.0], [2.5, 9.0]])], {"side": "left"},
                     np.array([[0, 1], [3, 4]])),
    "searchsorted_right": (P.searchsorted_p, [np.array([1.0, 2.0, 2.0, 5.0]),
                                              np.array([2.0, 5.0])], {"side": "right"},
                           np.array([3, 4])),
}
