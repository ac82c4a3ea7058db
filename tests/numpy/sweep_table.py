"""The table the sweep runs: every dualjit.numpy function, with the inputs, shapes and
keyword variants it is checked on.

An `Op` names a function; `call(m, *arrays, **variant)` runs it with `m` = dualjit.numpy or
numpy, so one line states both our call and NumPy's reference. Inputs are drawn from named
domains (values where the function is smooth and defined). `grad` says what the derivative
checks expect: "yes" (both modes, to second order, against central differences), "zero"
(piecewise-constant: the gradient must be exactly zero) or "no" (integer/bool results).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

F = (np.float64, np.float32)
F64 = (np.float64,)
I = (np.int64, np.int32, np.int16, np.int8, np.uint8, np.uint16, np.uint32, np.uint64)
I_SIGNED = (np.int64, np.int32, np.int16, np.int8)


@dataclass(frozen=True)
class Op:
    name: str
    domains: tuple[str, ...]
    shapes: tuple[tuple[tuple[int, ...], ...], ...]
    variants: tuple[dict, ...] = ({},)
    dtypes: tuple = F
    grad: str = "yes"
    call: Callable[..., Any] | None = None
    check_dtype: bool = True
    rtol: float | None = None
    lists: bool = False  # also call it with the first input as a list of traced rows
    tags: tuple[str, ...] = field(default_factory=tuple)

    def run(self, module: Any, *arrays: Any, **kwargs: Any) -> Any:
        if self.call is not None:
            return self.call(module, *arrays, **kwargs)
        return getattr(module, self.name)(*arrays, **kwargs)


S1 = (((7,),), ((2, 3),), ((),))
S_AXES = (((2, 3, 4),),)
PAIRS = (((3,), (3,)), ((2, 3), (3,)), ((3, 1), (1, 4)), ((), (2, 3)))
AXIS_KEEP = ({}, {"axis": 0}, {"axis": -1, "keepdims": True}, {"axis": (0, 2)},
             {"axis": 1, "keepdims": True})
AXIS_ONLY = ({}, {"axis": 0}, {"axis": -1}, {"axis": 1})

TABLE: list[Op] = []


def add(*ops: Op) -> None:
    TABLE.extend(ops)


# ---- elementwise, one operand ------------------------------------------------------------------
for _name, _domain in [
        ("sin", "real"), ("cos", "real"), ("tan", "unit"), ("tanh", "real"), ("exp", "real"),
        ("expm1", "real"), ("exp2", "real"), ("log", "pos"), ("log1p", "pos"), ("log2", "pos"),
        ("log10", "pos"), ("sqrt", "pos"), ("cbrt", "nonzero"), ("sinh", "real"),
        ("cosh", "real"), ("arcsin", "unit"), ("asin", "unit"), ("arccos", "unit"),
        ("acos", "unit"), ("arctan", "real"), ("atan", "real"), ("arcsinh", "real"),
        ("asinh", "real"), ("arccosh", "gt1"), ("acosh", "gt1"), ("arctanh", "unit"),
        ("atanh", "unit"), ("deg2rad", "real"), ("rad2deg", "real"), ("degrees", "real"),
        ("radians", "real"), ("reciprocal", "nonzero"), ("square", "real"),
        ("negative", "real"), ("positive", "real"), ("abs", "nonzero"), ("absolute", "nonzero"),
        ("fabs", "nonzero"), ("sinc", "real"), ("i0", "real"), ("real", "real"),
        ("conj", "real"), ("conjugate", "real")]:
    add(Op(_name, (_domain,), S1, lists=_name in ("sin", "exp", "square")))
for _name in ["floor", "ceil", "rint", "trunc", "sign", "spacing"]:
    add(Op(_name, ("real",), S1, grad="zero"))
for _name in ["isnan", "isinf", "isfinite", "isneginf", "isposinf", "signbit", "isreal",
              "iscomplex", "logical_not"]:
    add(Op(_name, ("special",), S1, grad="no"))
add(Op("imag", ("real",), S1, grad="zero"),
    Op("angle", ("nonzero",), S1, grad="zero"),
    Op("nan_to_num", ("special",), S1, grad="no",
       variants=({}, {"nan": 1.5, "posinf": 7.0, "neginf": -7.0})),
    Op("nan_to_num", ("real",), S1),
    Op("round", ("real",), S1, variants=({}, {"decimals": 2}, {"decimals": -1}), grad="zero"),
    Op("around", ("real",), S1, variants=({"decimals": 1},), grad="zero"),
    Op("modf", ("real",), S1), Op("frexp", ("real",), S1),
    Op("invert", ("int",), S1, dtypes=I, grad="no"),
    Op("bitwise_not", ("int",), S1, dtypes=I, grad="no"),
    Op("bitwise_invert", ("int",), S1, dtypes=I, grad="no"),
    Op("floor", ("int",), S1, dtypes=I, grad="no", tags=("ints",)),
    Op("abs", ("int",), S1, dtypes=I, grad="no", tags=("ints",)))

# ---- elementwise, two operands ---------------------------------------------------------------
for _name, _domains in [
        ("add", ("real", "real")), ("subtract", ("real", "real")),
        ("multiply", ("real", "real")), ("divide", ("real", "nonzero")),
        ("true_divide", ("real", "nonzero")), ("power", ("pos", "real")),
        ("pow", ("pos", "real")), ("float_power", ("pos", "real")),
        ("maximum", ("real", "real")), ("minimum", ("real", "real")),
        ("fmax", ("real", "real")), ("fmin", ("real", "real")),
        ("arctan2", ("real", "nonzero")), ("atan2", ("real", "nonzero")),
        ("hypot", ("nonzero", "nonzero")), ("copysign", ("nonzero", "nonzero")),
        ("logaddexp", ("real", "real")), ("logaddexp2", ("real", "real")),
        ("fmod", ("real", "nonzero")), ("remainder", ("real", "nonzero")),
        ("mod", ("real", "nonzero"))]:
    add(Op(_name, _domains, PAIRS, lists=_name in ("add", "maximum")))
for _name in ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
              "logical_and", "logical_or", "logical_xor", "isclose", "nextafter"]:
    add(Op(_name, ("real", "real"), PAIRS, grad="zero" if _name == "nextafter" else "no"))
add(Op("floor_divide", ("real", "nonzero"), PAIRS, grad="zero"),
    Op("divmod", ("real", "nonzero"), PAIRS, grad="no"),
    Op("heaviside", ("real", "real"), PAIRS, grad="no"),
    Op("ldexp", ("real", "int"), PAIRS, grad="no"),
    Op("gcd", ("int", "int"), PAIRS, dtypes=I, grad="no"),
    Op("lcm", ("int", "int"), PAIRS, dtypes=I, grad="no"),
    Op("bitwise_and", ("int", "int"), PAIRS, dtypes=I, grad="no"),
    Op("bitwise_or", ("int", "int"), PAIRS, dtypes=I, grad="no"),
    Op("bitwise_xor", ("int", "int"), PAIRS, dtypes=I, grad="no"),
    Op("floor_divide", ("int", "nonzero_int"), PAIRS, dtypes=I, grad="no", tags=("ints",)),
    Op("remainder", ("int", "nonzero_int"), PAIRS, dtypes=I, grad="no", tags=("ints",)),
    Op("where", ("bool", "real", "real"), (((3,), (3,), (3,)), ((2, 3), (3,), ())),
       lists=True),
    Op("clip", ("real",), S1, variants=({"a_min": -0.5, "a_max": 0.5}, {"min": 0.1},
                                        {"max": -0.2})),
    Op("allclose", ("real", "real"), PAIRS, grad="no"),
    Op("array_equal", ("int", "int"), (((3,), (3,)), ((2, 3), (2, 3))), dtypes=I, grad="no"),
    Op("array_equiv", ("int", "int"), (((2, 3), (3,)),), dtypes=I, grad="no"))
for _name in ["left_shift", "right_shift", "bitwise_left_shift", "bitwise_right_shift"]:
    add(Op(_name, ("int", "shift"), PAIRS, dtypes=I, grad="no"))
add(Op("bitwise_count", ("int",), S1, dtypes=I, grad="no"),
    Op("packbits", ("bool",), (((3, 11),),), variants=({}, {"axis": 1},
                                                        {"axis": 0, "bitorder": "little"}),
       grad="no"),
    Op("packbits", ("int",), (((13,),),), dtypes=I, grad="no"),
    Op("unpackbits", ("byte",), (((3, 2),),), variants=({}, {"axis": 1, "count": -3},
                                                         {"axis": 0, "bitorder": "little",
                                                          "count": 30}),
       dtypes=(np.uint8,), grad="no"))

# ---- reductions -------------------------------------------------------------------------------
for _name in ["sum", "prod", "max", "min", "amax", "amin", "mean", "var", "std", "ptp",
              "nansum", "nanprod", "nanmax", "nanmin", "nanmean", "nanvar", "nanstd"]:
    add(Op(_name, ("real",), S_AXES, variants=AXIS_KEEP, lists=_name in ("sum", "mean")))
for _name in ["nanmax", "nanmean", "nanvar", "nansum"]:
    add(Op(_name, ("some_nan",), S_AXES, variants=({"axis": 1}, {}), tags=("nan",)))
add(Op("var", ("real",), S_AXES, variants=({"ddof": 1, "axis": 1}, {"correction": 2})),
    Op("sum", ("real", "bool"), (((2, 3, 4), (2, 3, 4)),),
       variants=({"axis": 1},), call=lambda m, x, w, **k: m.sum(x, where=w, **k)),
    Op("max", ("real", "bool"), (((2, 3, 4), (2, 3, 4)),),
       call=lambda m, x, w, **k: m.max(x, where=w, initial=-5.0, axis=2)),
    Op("mean", ("real", "bool"), (((2, 3, 4), (2, 3, 4)),),
       call=lambda m, x, w, **k: m.mean(x, where=w | True, axis=0)),
    Op("sum", ("int",), S_AXES, variants=AXIS_KEEP, dtypes=I, grad="no", tags=("ints",)))
for _name in ["all", "any", "count_nonzero"]:
    add(Op(_name, ("bool",), S_AXES, variants=AXIS_KEEP, grad="no"))
for _name in ["argmax", "argmin", "nanargmax", "nanargmin"]:
    add(Op(_name, ("real",), S_AXES, variants=({}, {"axis": 1}, {"axis": -1, "keepdims": True}),
           grad="no"))

# ---- cumulative and differences ------------------------------------------------------------------
for _name in ["cumsum", "cumprod", "nancumsum", "nancumprod"]:
    add(Op(_name, ("real",), S_AXES, variants=({}, {"axis": 0}, {"axis": -1})))
for _name in ["cumulative_sum", "cumulative_prod"]:
    add(Op(_name, ("real",), S_AXES, variants=({"axis": 1}, {"axis": 2,
                                                              "include_initial": True})))
add(Op("cumsum", ("int",), S_AXES, variants=({"axis": 1},), dtypes=I, grad="no",
       tags=("ints",)),
    Op("diff", ("real",), S_AXES, variants=({}, {"n": 2, "axis": 1}, {"prepend": 0.5})),
    Op("ediff1d", ("real",), (((7,),),), variants=({}, {"to_begin": [1.0, 2.0], "to_end": 3.0})),
    Op("gradient", ("real",), (((9,),),), variants=({}, {"edge_order": 2}),
       call=lambda m, x, **k: m.gradient(x, **k)),
    Op("gradient", ("real", "sorted"), (((9,), (9,)),), variants=({"edge_order": 2}, {}),
       call=lambda m, y, x, **k: m.gradient(y, x, **k)),
    Op("gradient", ("real",), (((3, 4),),), variants=({"axis": 1}, {}),
       call=lambda m, x, **k: m.gradient(x, 0.5, **k) if "axis" in k else m.gradient(x, 2.0, 0.5)),
    Op("trapezoid", ("real",), S_AXES, variants=({}, {"axis": 1, "dx": 0.5})),
    Op("trapezoid", ("real", "sorted"), (((5,), (5,)),),
       call=lambda m, y, x: m.trapezoid(y, x)),
    Op("unwrap", ("wide",), (((9,),), ((3, 5),)), variants=({}, {"axis": 0})))

# ---- sorting, searching, counting ------------------------------------------------------------------
add(Op("sort", ("real",), S_AXES, variants=({}, {"axis": 0}, {"axis": None})),
    Op("sort", ("some_nan",), (((3, 5),),), tags=("nan",)),
    Op("sort", ("real",), S_AXES, variants=({"axis": 1},),
       call=lambda m, x, **k: m.sort(x, descending=True, **k) if m is not np else
       np.flip(np.sort(np.flip(x, 1), axis=1), 1)),
    Op("argsort", ("real",), S_AXES, variants=({}, {"axis": 0}, {"axis": None}), grad="no"),
    Op("argsort", ("int",), (((9,),),), dtypes=I, grad="no", tags=("ties",),
       call=lambda m, x: m.argsort(x, stable=True) if m is not np else
       np.argsort(x, kind="stable")),
    Op("lexsort", ("int", "int"), (((8,), (8,)),), dtypes=I, grad="no",
       call=lambda m, a, b: m.lexsort((a, b))),
    Op("partition", ("real",), S_AXES, variants=({"kth": 2},),
       call=lambda m, x, kth: m.sort(m.partition(x, kth), axis=-1) if m is np else
       m.partition(x, kth)),
    Op("argpartition", ("real",), (((7,),),), grad="no",
       call=lambda m, x: m.take(x, m.argpartition(x, 3))[3]),
    Op("searchsorted", ("sorted", "real"), (((8,), (5,)), ((8,), (2, 3))),
       variants=({}, {"side": "right"}), grad="no"),
    Op("digitize", ("real", "sorted"), (((2, 5), (6,)),), variants=({}, {"right": True}),
       grad="no"),
    Op("digitize", ("real", "sorted"), (((7,), (6,)),), grad="no",
       call=lambda m, x, b: m.digitize(x, b[::-1])),
    Op("nonzero", ("sparse",), (((9,),), ((3, 4),)), grad="no"),
    Op("argwhere", ("sparse",), (((9,),), ((3, 4),)), grad="no"),
    Op("flatnonzero", ("sparse",), (((3, 4),),), grad="no"),
    Op("where", ("sparse",), (((3, 4),),), grad="no", call=lambda m, x, **k: m.where(x, **k),
       tags=("size",)),
    Op("extract", ("bool", "real"), (((3, 4), (3, 4)),)),
    Op("compress", ("bool", "real"), (((4,), (4, 3)),), variants=({"axis": 0},)),
    Op("count_nonzero", ("sparse",), (((3, 4),),), grad="no", tags=("ints",)),
    Op("unique", ("int",), (((12,),), ((3, 4),)), dtypes=I, grad="no",
       variants=({}, {"return_index": True, "return_inverse": True, "return_counts": True})),
    Op("unique", ("int",), (((4, 3),),), dtypes=I, grad="no",
       variants=({"axis": 0, "return_inverse": True}, {"axis": 1, "return_counts": True})),
    Op("unique_values", ("int",), (((12,),),), dtypes=I, grad="no", tags=("size",),
       call=lambda m, x, **k: m.sort(m.unique_values(x, **k))),  # NumPy 2.4 does not sort
    Op("unique_counts", ("int",), (((12,),),), dtypes=I, grad="no"),
    Op("unique_inverse", ("int",), (((3, 4),),), dtypes=I, grad="no"),
    Op("unique_all", ("int",), (((12,),),), dtypes=I, grad="no"),
    Op("isin", ("int", "int"), (((3, 4), (5,)),), dtypes=I, grad="no",
       variants=({}, {"invert": True})),
    Op("union1d", ("int", "int"), (((6,), (5,)),), dtypes=I, grad="no"),
    Op("intersect1d", ("int", "int"), (((9,), (7,)),), dtypes=I, grad="no",
       variants=({}, {"return_indices": True})),
    Op("setdiff1d", ("int", "int"), (((9,), (4,)),), dtypes=I, grad="no"),
    Op("setxor1d", ("int", "int"), (((6,), (5,)),), dtypes=I, grad="no"),
    Op("bincount", ("nat",), (((9,),),), dtypes=I_SIGNED, grad="no",
       variants=({}, {"minlength": 9})),
    Op("bincount", ("nat", "real"), (((9,), (9,)),), dtypes=F64, tags=("length",),
       call=lambda m, x, w, **k: m.bincount(x.astype(np.int64), weights=w, **k)),
    Op("histogram", ("real",), (((20,),),), variants=({}, {"bins": 4, "range": (-1, 1)},
                                                       {"bins": 5, "density": True}),
       grad="no"),
    Op("histogram", ("real", "pos"), (((20,), (20,)),), grad="yes",
       call=lambda m, x, w: m.histogram(x, bins=np.array([-3.0, -0.5, 0.0, 0.7, 3.0]),
                                        weights=w)[0]),
    Op("histogram_bin_edges", ("real",), (((20,),),), variants=({}, {"bins": 3})),
    Op("histogram2d", ("real", "real"), (((20,), (20,)),), variants=({"bins": 3},), grad="no"),
    Op("histogramdd", ("real",), (((20, 3),),), variants=({"bins": (2, 3, 2)},), grad="no"))

# ---- statistics ------------------------------------------------------------------------------------
QUANTILE_VARIANTS = ({"axis": 1}, {"axis": None}, {"axis": (0, 2), "keepdims": True},
                     {"axis": 1, "method": "lower"}, {"axis": 1, "method": "midpoint"},
                     {"axis": -1, "method": "hazen"}, {"axis": 1, "method": "nearest"})
# NumPy computes some of these in float64 for float32 input; dualjit keeps float32 (as JAX):
# the values are compared at float32 precision, the dtypes not.
add(Op("quantile", ("real",), S_AXES, variants=QUANTILE_VARIANTS, check_dtype=False,
       call=lambda m, x, **k: m.quantile(x, np.array([0.1, 0.5, 0.95]), **k)),
    Op("quantile", ("real", "prob"), (((6,), ()),), call=lambda m, x, q: m.quantile(x, q)),
    Op("percentile", ("real",), S_AXES, variants=({"axis": 1}, {}),
       call=lambda m, x, **k: m.percentile(x, 30.0, **k)),
    Op("median", ("real",), S_AXES, variants=AXIS_ONLY),
    Op("median", ("some_nan",), (((3, 5),),), variants=({"axis": 1},), tags=("nan",)),
    Op("nanmedian", ("some_nan",), (((3, 5),),), variants=({"axis": 1}, {"axis": 0})),
    Op("nanquantile", ("some_nan",), (((3, 5),),), variants=({"axis": 1},),
       call=lambda m, x, **k: m.nanquantile(x, [0.25, 0.8], **k)),
    Op("nanpercentile", ("some_nan",), (((3, 5),),), variants=({"axis": 1},),
       call=lambda m, x, **k: m.nanpercentile(x, 40, **k)),
    Op("average", ("real",), S_AXES, variants=AXIS_ONLY),
    Op("average", ("real", "pos"), (((3, 4), (4,)),), variants=({"axis": 1},),
       call=lambda m, x, w, **k: m.average(x, weights=w, returned=True, **k)),
    Op("cov", ("real",), (((3, 6),),), variants=({}, {"rowvar": False}, {"ddof": 2},
                                                  {"bias": True}), check_dtype=False),
    Op("cov", ("real", "real"), (((6,), (6,)),), check_dtype=False),
    Op("cov", ("real", "pos"), (((3, 6), (6,)),), call=lambda m, x, w: m.cov(x, aweights=w),
       check_dtype=False),
    Op("corrcoef", ("real",), (((3, 6),),), check_dtype=False),
    Op("interp", ("wide", "sorted", "real"), (((7,), (5,), (5,)),),
       variants=({}, {"left": -2.0, "right": 3.0}), check_dtype=False),
    Op("interp", ("wide", "sorted", "real"), (((7,), (5,), (5,)),), check_dtype=False,
       call=lambda m, x, xp, fp: m.interp(x, xp, fp, period=2.5)))

# ---- shapes ------------------------------------------------------------------------------------
SHAPE_CALLS = {
    "reshape": lambda m, x: m.reshape(x, (4, -1)),
    "ravel": lambda m, x: m.ravel(x),
    "transpose": lambda m, x: m.transpose(x, (2, 0, 1)),
    "permute_dims": lambda m, x: m.permute_dims(x, (1, 2, 0)),
    "matrix_transpose": lambda m, x: m.matrix_transpose(x),
    "swapaxes": lambda m, x: m.swapaxes(x, 0, 2),
    "moveaxis": lambda m, x: m.moveaxis(x, [0, 1], [2, 0]),
    "rollaxis": lambda m, x: m.rollaxis(x, 2),
    "expand_dims": lambda m, x: m.expand_dims(x, (0, 2)),
    "squeeze": lambda m, x: m.squeeze(x[:, :1]),
    "atleast_1d": lambda m, x: m.atleast_1d(x[0, 0, 0]),
    "atleast_2d": lambda m, x: m.atleast_2d(x[0, 0]),
    "atleast_3d": lambda m, x: m.atleast_3d(x[0]),
    "concatenate": lambda m, x: m.concatenate([x, x[:1] * 2.0], axis=0),
    "concat": lambda m, x: m.concat([x, x], axis=None),
    "stack": lambda m, x: m.stack([x, x * 3.0], axis=1),
    "unstack": lambda m, x: m.unstack(x, axis=1),
    "hstack": lambda m, x: m.hstack([x, x]),
    "vstack": lambda m, x: m.vstack([x[0], x[1]]),
    "dstack": lambda m, x: m.dstack([x[0], x[1]]),
    "column_stack": lambda m, x: m.column_stack([x[0, :, 0], x[0]]),
    "block": lambda m, x: m.block([[x[0], x[1]], [x[1], x[0]]]),
    "split": lambda m, x: m.split(x, [1, 3], axis=2),
    "array_split": lambda m, x: m.array_split(x, 3, axis=1),
    "hsplit": lambda m, x: m.hsplit(x, 3),
    "vsplit": lambda m, x: m.vsplit(x, 2),
    "dsplit": lambda m, x: m.dsplit(x, [1]),
    "flip": lambda m, x: m.flip(x, (0, 2)),
    "fliplr": lambda m, x: m.fliplr(x),
    "flipud": lambda m, x: m.flipud(x),
    "rot90": lambda m, x: m.rot90(x, 3, axes=(1, 2)),
    "roll": lambda m, x: m.roll(x, (1, -2), axis=(0, 2)),
    "tile": lambda m, x: m.tile(x[0], (2, 1, 2)),
    "repeat": lambda m, x: m.repeat(x, [1, 0, 2], axis=1),
    "resize": lambda m, x: m.resize(x[0], (4, 5)),
    "broadcast_to": lambda m, x: m.broadcast_to(x[:1], (3, 3, 4)),
    "broadcast_arrays": lambda m, x: m.broadcast_arrays(x, x[0, 0]),
    "append": lambda m, x: m.append(x, x[:1], axis=0),
    "insert": lambda m, x: m.insert(x, [1, 3], -1.5, axis=2),
    "delete": lambda m, x: m.delete(x, [0, 2], axis=2),
    "copy": lambda m, x: m.copy(x),
    "asarray": lambda m, x: m.asarray(x),
    "array": lambda m, x: m.array(x, ndmin=4),
    "astype": lambda m, x: m.astype(x * 3.0, np.float64),
    "pad": lambda m, x: m.pad(x, ((1, 0), (0, 2), (3, 1)), mode="reflect"),
    "take": lambda m, x: m.take(x, np.array([[1, 0], [2, 2]]), axis=1),
    "take_along_axis": lambda m, x: m.take_along_axis(x, m.argsort(x, axis=2), axis=2),
    "diagonal": lambda m, x: m.diagonal(x, 1, 1, 2),
    "trace": lambda m, x: m.trace(x, -1, 0, 2),
    "diag": lambda m, x: (m.diag(x[0], 1), m.diag(x[1, 0], -1)),
    "diagflat": lambda m, x: m.diagflat(x[0, :2, :2], -1),
    "tril": lambda m, x: m.tril(x, -1),
    "triu": lambda m, x: m.triu(x, 1),
    "choose": lambda m, x: m.choose(np.array([[0, 1, 0, 1]]), [x[0], x[1]]),
    "select": lambda m, x: m.select([x[0] > 0.5, x[1] < 0], [x[0], x[1] * 2.0], -1.0),
    "piecewise": lambda m, x: m.piecewise(x, [x < 0, x > 1], [lambda v: v * v, lambda v: -v, 0.5]),
    "apply_along_axis": lambda m, x: m.apply_along_axis(lambda r: r[::-1] * r[0], 1, x),
    "apply_over_axes": lambda m, x: m.apply_over_axes(m.sum, x, [0, 2]),
    "put": lambda m, x: _put(m, x),
    "put_along_axis": lambda m, x: _put_along_axis(m, x),
    "place": lambda m, x: _place(m, x),
    "fill_diagonal": lambda m, x: _fill_diagonal(m, x),
    "diff": lambda m, x: m.diff(x, axis=0),
    "where": lambda m, x: m.where(x > 0.2, x, x * x),
    "kron": lambda m, x: m.kron(x[0], x[1, :2, :2]),
    "meshgrid": lambda m, x: m.meshgrid(x[0, 0], x[1, :, 0], indexing="ij"),
    "polyval": lambda m, x: m.polyval(x[0, 0], x[1]),
    "trim_zeros": lambda m, x: m.trim_zeros(m.concatenate([np.zeros(2), x[0, 0], np.zeros(1)])),
}


def _put(m, x):
    if m is np:
        out = np.array(x)
        np.put(out, [0, 5, 7, 5], [-1.0, -2.0, 3.5])
        return out
    return m.put(x, [0, 5, 7, 5], np.array([-1.0, -2.0, 3.5]), inplace=False)


def _put_along_axis(m, x):
    idx = np.array([[[0], [3], [1]], [[2], [2], [0]]])
    if m is np:
        out = np.array(x)
        np.put_along_axis(out, idx, x[..., :1] * 3.0, axis=2)
        return out
    return m.put_along_axis(x, idx, x[..., :1] * 3.0, axis=2, inplace=False)


def _place(m, x):
    if m is np:
        out = np.array(x)
        np.place(out, out > 0, [-1.0, 2.0])
        return out
    return m.place(x, x > 0, np.array([-1.0, 2.0]), inplace=False)


def _fill_diagonal(m, x):
    y = x[0, :, :3]
    if m is np:
        out = np.array(y)
        np.fill_diagonal(out, [5.0, 6.0])
        return out
    return m.fill_diagonal(y, np.array([5.0, 6.0]), inplace=False)


for _name, _call in SHAPE_CALLS.items():
    add(Op(_name, ("real",), S_AXES, call=_call, tags=("shapes",)))

# ---- products ----------------------------------------------------------------------------------
MATRIX_PAIRS = (((3, 4), (4, 2)), ((2, 3, 4), (4,)), ((4,), (4,)))
add(Op("matmul", ("real", "real"), MATRIX_PAIRS),
    Op("dot", ("real", "real"), MATRIX_PAIRS + (((2, 3, 4), (2, 4, 3)),)),
    Op("vdot", ("real", "real"), (((3, 4), (3, 4)),)),
    Op("inner", ("real", "real"), (((3, 4), (2, 4)), ((4,), (4,)))),
    Op("outer", ("real", "real"), (((3,), (4,)), ((2, 2), (3,)))),
    Op("tensordot", ("real", "real"), (((2, 3, 4), (3, 4, 5)),), variants=({"axes": 2},
                                                                            {"axes": ([1], [0])})),
    Op("matvec", ("real", "real"), (((2, 3, 4), (4,)),)),
    Op("vecmat", ("real", "real"), (((3,), (2, 3, 4)),)),
    Op("vecdot", ("real", "real"), (((2, 3), (3,)),)),
    Op("kron", ("real", "real"), (((2, 3), (2, 2)),)),
    Op("cross", ("real", "real"), (((4, 3), (4, 3)), ((3,), (2, 3)), ((2,), (2,)))),
    Op("vander", ("real",), (((4,),),), variants=({}, {"N": 5, "increasing": True}),
       check_dtype=False),
    Op("convolve", ("real", "real"), (((7,), (3,)), ((3,), (6,))),
       variants=({}, {"mode": "same"}, {"mode": "valid"})),
    Op("correlate", ("real", "real"), (((7,), (3,)), ((3,), (6,))),
       variants=({}, {"mode": "same"}, {"mode": "full"})))
EINSUMS = [("ij,jk->ik", ((3, 4), (4, 2))), ("ii", ((3, 3),)), ("ii->i", ((3, 3),)),
           ("ij->ji", ((3, 4),)), ("i,i", ((4,), (4,))), ("...ij,...jk", ((2, 3, 4), (4, 2))),
           ("bii->b", ((2, 3, 3),)), ("ij,jk,kl->il", ((2, 3), (3, 4), (4, 2))),
           ("ij,ij->ij", ((2, 3), (1, 3))), ("iij->j", ((3, 3, 2),)),
           ("abc,cd,bd->a", ((2, 3, 4), (4, 5), (3, 5)))]
for _spec, _shapes in EINSUMS:
    add(Op("einsum", ("real",) * len(_shapes), (_shapes,),
           variants=({}, {"optimize": "optimal"}, {"optimize": False}),
           call=lambda m, *a, _s=_spec, **k: m.einsum(_s, *a, **k) if m is not np else
           np.einsum(_s, *a)))
add(Op("einsum", ("real", "real"), (((3, 4), (4, 2)),),
       call=lambda m, a, b: m.einsum(a, [0, 1], b, [1, 2], [2, 0])))

# ---- creation ------------------------------------------------------------------------------------
add(Op("linspace", ("real", "real"), (((), ()), ((3,), ())),
       variants=({"num": 5}, {"num": 4, "endpoint": False}),
       call=lambda m, a, b, **k: m.linspace(a, b + 3.0, **k)),
    Op("logspace", ("real", "real"), (((), ()),), variants=({"num": 4},)),
    Op("geomspace", ("pos", "pos"), (((), ()), ((2,), (2,))), variants=({"num": 4},),
       check_dtype=False),
    Op("full", ("real",), (((),),), call=lambda m, v: m.full((2, 3), v)),
    Op("full_like", ("real", "real"), (((2, 3), ()),)),
    Op("zeros_like", ("real",), S1, grad="zero"),
    Op("ones_like", ("real",), S1, grad="zero"),
    Op("empty_like", ("real",), S1, grad="zero", call=lambda m, x: m.empty_like(x) * 0.0),
    Op("meshgrid", ("real", "real"), (((3,), (4,)),), variants=({}, {"sparse": True})),
    Op("poly", ("real",), (((4,),),)),
    Op("polyadd", ("real", "real"), (((3,), (5,)),)),
    Op("polysub", ("real", "real"), (((4,), (2,)),)),
    Op("polymul", ("real", "real"), (((3,), (4,)),)),
    Op("polyder", ("real",), (((5,),),), variants=({}, {"m": 2})),
    Op("polyint", ("real",), (((4,),),), variants=({}, {"m": 2, "k": [1.0, -1.0]}),
       check_dtype=False),
    Op("polydiv", ("real", "nonzero"), (((5,), (2,)),),
       call=lambda m, u, v: m.polydiv(u, v)[0]),
    Op("polyfit", ("real", "real"), (((8,), (8,)), ((8,), (8, 2))),
       variants=({"deg": 2}, {"deg": 3}), call=lambda m, x, y, **k: m.polyfit(x, y, **k)),
    Op("polyfit", ("real", "real", "pos"), (((7,), (7,), (7,)),),
       variants=({"cov": True}, {"cov": "unscaled"}),
       call=lambda m, x, y, w, **k: m.polyfit(x, y, 2, w=w, **k)[1]))

# Functions of static arguments only (shapes, sizes, windows): values against NumPy.
STATIC_CALLS = {
    "zeros": lambda m: m.zeros((2, 3), np.int32), "ones": lambda m: m.ones(4),
    "empty": lambda m: m.empty((2, 2)) * 0, "full": lambda m: m.full(3, 2.5),
    "eye": lambda m: m.eye(3, 4, k=1), "identity": lambda m: m.identity(3),
    "arange": lambda m: m.arange(2, 11, 3), "tri": lambda m: m.tri(3, 4, -1),
    "tril_indices": lambda m: m.tril_indices(4, 1), "triu_indices": lambda m: m.triu_indices(3),
    "tril_indices_from": lambda m: m.tril_indices_from(np.ones((3, 4))),
    "triu_indices_from": lambda m: m.triu_indices_from(np.ones((4, 3)), 1),
    "diag_indices": lambda m: m.diag_indices(3, 3),
    "diag_indices_from": lambda m: m.diag_indices_from(np.ones((3, 3))),
    "mask_indices": lambda m: m.mask_indices(3, m.triu),
    "indices": lambda m: m.indices((2, 3)), "ix_": lambda m: m.ix_([0, 2], [1, 3, 4]),
    "ravel_multi_index": lambda m: m.ravel_multi_index((np.array([1, 2]), np.array([3, 0])),
                                                       (3, 4)),
    "unravel_index": lambda m: m.unravel_index(np.array([5, 11, 0]), (3, 4)),
    "bartlett": lambda m: m.bartlett(6), "blackman": lambda m: m.blackman(6),
    "hamming": lambda m: m.hamming(6), "hanning": lambda m: m.hanning(6),
    "kaiser": lambda m: m.kaiser(6, 3.0), "fromfunction": lambda m: m.fromfunction(
        lambda i, j: i * 2 + j, (2, 3)),
    "fromiter": lambda m: m.fromiter(iter([1.0, 2.0, 3.5]), np.float64),
    "linspace": lambda m: m.linspace(0, 1, 6), "logspace": lambda m: m.logspace(0, 2, 3),
    "geomspace": lambda m: m.geomspace(1, 1000, 4),
    "histogram_bin_edges": lambda m: m.histogram_bin_edges(np.arange(10.0), 4),
    "einsum_path": lambda m: m.einsum_path("ij,jk,kl->il", np.ones((2, 3)), np.ones((3, 4)),
                                           np.ones((4, 2)), optimize="greedy")[0],
    "broadcast_shapes": lambda m: m.broadcast_shapes((3, 1), (4,), (2, 1, 1)),
    "shape": lambda m: m.shape(np.ones((2, 3))), "ndim": lambda m: m.ndim(np.ones((2, 3))),
    "size": lambda m: m.size(np.ones((2, 3)), 1),
    "result_type": lambda m: m.result_type(np.float32, np.int64),
    "promote_types": lambda m: m.promote_types(np.int32, np.float32),
    "can_cast": lambda m: m.can_cast(np.int64, np.float32),
    "issubdtype": lambda m: m.issubdtype(np.float32, np.floating),
    "isdtype": lambda m: m.isdtype(np.float32, "real floating"),
    "isscalar": lambda m: m.isscalar(3.0), "iterable": lambda m: m.iterable([1]),
    "iscomplexobj": lambda m: m.iscomplexobj(np.ones(2)),
    "isrealobj": lambda m: m.isrealobj(np.ones(2)),
    "finfo": lambda m: m.finfo(np.float32).eps, "iinfo": lambda m: m.iinfo(np.int32).max,
    "frompyfunc": lambda m: m.frompyfunc(lambda a, b: a * b, 2, 1).outer(np.arange(3.0),
                                                                          np.arange(2.0)),
    "polyval": lambda m: m.polyval([2.0, -1.0, 3.0], np.array([0.5, 2.0])),
}

# For float32 input NumPy computes these in float64 (in some methods or always); dualjit keeps
# float32, as JAX does. Their values are compared at float32 precision, their dtypes not.
KEEPS_FLOAT32 = {"quantile", "percentile", "median", "nanmedian", "nanquantile", "nanpercentile",
                 "cov", "corrcoef", "interp", "vander", "geomspace", "polyint", "polyfit"}
TABLE[:] = [dataclasses.replace(op, check_dtype=False) if op.name in KEEPS_FLOAT32 else op
            for op in TABLE]
