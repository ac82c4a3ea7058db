"""dualjit.numpy: NumPy's array API over traced and plain arrays, composed from primitives.

NumPy broadcasting and dtype promotion become explicit broadcast_in_dim and
convert_element_type equations. On plain numpy arrays outside any transform these functions
evaluate at once and return numpy arrays.
"""

from __future__ import annotations

import builtins
import math
import string
from collections.abc import Sequence
from typing import Any

import numpy as _np

from .ir import DType, as_dtype
from .ir import primitives as P
from .tracer.core import (
    Tracer,
    array_methods,
    as_array,
    bind,
    current_builder,
    is_weak,
    mark_weak,
)

ndarray = _np.ndarray
float32, float64, int32, int64 = _np.float32, _np.float64, _np.int32, _np.int64
bool_ = _np.bool_
pi, e, inf, nan, newaxis = _np.pi, _np.e, _np.inf, _np.nan, None

_PY_SCALARS = (bool, int, float)


# ---------------------------------------------------------------------------------------------
# Operands: dtype, shape, promotion and broadcasting
# ---------------------------------------------------------------------------------------------

def _is_array(x: Any) -> bool:
    return isinstance(x, (Tracer, _np.ndarray, _np.generic))


def _operand(x: Any, op: str) -> Any:
    """Tracers and numpy arrays pass; Python scalars stay weak; anything else becomes an array."""
    if isinstance(x, (Tracer, _np.ndarray)) or type(x) in _PY_SCALARS:
        if isinstance(x, _np.ndarray) and x.dtype.kind not in "biuf":
            raise TypeError(f"{op}: dtype {x.dtype} is not supported; dualjit arrays are bool, "
                            "int32, int64, float32 or float64")
        return x
    if isinstance(x, _np.generic):
        return as_array(x, f"{op}: operand")
    if isinstance(x, complex):
        raise TypeError(f"{op}: complex numbers are not supported")
    return as_array(x, f"{op}: operand of type {type(x).__name__}")


def shape(x: Any) -> tuple[int, ...]:
    return x.shape if _is_array(x) else _np.shape(x)


def ndim(x: Any) -> int:
    return len(shape(x))


def _dtype_of(x: Any) -> DType:
    if isinstance(x, Tracer):
        return x.aval.dtype
    return as_dtype(_np.asarray(x).dtype)


def result_type(*args: Any) -> _np.dtype:
    """NumPy 2 promotion (Python scalars are weak) mapped onto dualjit's dtypes."""
    parts = [a if type(a) in _PY_SCALARS else _weak_stand_in(a) if is_weak(a) else
             (a.dtype if _is_array(a) else _np.asarray(a).dtype) for a in args]
    return as_dtype(_np.result_type(*parts)).np


def _weak_stand_in(x: Tracer) -> Any:
    """A Python scalar of a weakly typed tracer's kind, so promotion treats it as weak."""
    kind = x.dtype.kind
    return True if kind == "b" else (0 if kind in "iu" else 0.0)


def _convert(x: Any, dtype: _np.dtype) -> Any:
    if type(x) in _PY_SCALARS:
        return _np.asarray(x, dtype=dtype)[()]
    if isinstance(x, Tracer):
        if x.dtype == dtype:
            return x
        return bind(P.convert_element_type_p, x, new_dtype=as_dtype(dtype))
    x = _np.asarray(x)
    return x if x.dtype == dtype else x.astype(dtype)


def _broadcast_shapes(op: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return tuple(_np.broadcast_shapes(*shapes))
    except ValueError:
        listed = " and ".join(str(s) for s in shapes)
        raise ValueError(f"{op}: shapes {listed} do not broadcast") from None


def broadcast_to(x: Any, shape: Sequence[int]) -> Any:
    x = _operand(x, "broadcast_to")
    shape = tuple(int(d) for d in shape)
    src = _np.shape(x)
    if src == shape:
        return x
    if len(src) > len(shape) or _broadcast_shapes("broadcast_to", src, shape) != shape:
        raise ValueError(f"broadcast_to: cannot broadcast shape {src} to {shape}")
    dims = tuple(range(len(shape) - len(src), len(shape)))
    if type(x) in _PY_SCALARS:
        x = _np.asarray(x, dtype=result_type(x))[()]
    return bind(P.broadcast_in_dim_p, x, shape=shape, broadcast_dimensions=dims)


def _promote(op: str, *args: Any, dtype: _np.dtype | None = None) -> list[Any]:
    """Operands converted to one dtype; non-scalar operands broadcast to one shape."""
    args = [_operand(a, op) for a in args]
    target = dtype if dtype is not None else result_type(*args)
    args = [_convert(a, target) for a in args]
    out_shape = _broadcast_shapes(op, *[_np.shape(a) for a in args])
    return [a if _np.shape(a) in ((), out_shape) else broadcast_to(a, out_shape) for a in args]


def _elementwise(prim, op: str, *args: Any, dtype: _np.dtype | None = None) -> Any:
    out = bind(prim, *_promote(op, *args, dtype=dtype))
    if dtype is None and builtins.all(is_weak(a) or type(a) in _PY_SCALARS for a in args):
        mark_weak(out)
    return out


def _float_dtype(*args: Any) -> _np.dtype:
    dt = result_type(*args)
    return dt if dt.kind == "f" else _np.dtype(_np.float64)


def _unary_float(prim, op: str):
    def fn(x):
        x = _operand(x, op)
        return bind(prim, _convert(x, _float_dtype(x)))
    fn.__name__ = op
    fn.__doc__ = f"Elementwise {op} (integer inputs promote to float64)."
    return fn


exp = _unary_float(P.exp_p, "exp")
log = _unary_float(P.log_p, "log")
log1p = _unary_float(P.log1p_p, "log1p")
expm1 = _unary_float(P.expm1_p, "expm1")
sin = _unary_float(P.sin_p, "sin")
cos = _unary_float(P.cos_p, "cos")
tan = _unary_float(P.tan_p, "tan")
tanh = _unary_float(P.tanh_p, "tanh")
sqrt = _unary_float(P.sqrt_p, "sqrt")
floor = _unary_float(P.floor_p, "floor")
ceil = _unary_float(P.ceil_p, "ceil")
rint = _unary_float(P.round_p, "rint")


def round(x: Any, decimals: int = 0) -> Any:  # noqa: A001
    if decimals == 0:
        return rint(x)
    scale = 10.0 ** decimals
    return rint(multiply(x, scale)) / scale


around = round


def _unary_number(prim, op: str):
    def fn(x):
        x = _operand(x, op)
        if _dtype_of(x) is DType.bool:
            raise TypeError(f"{op}: bool operands are not supported")
        return bind(prim, _convert(x, result_type(x)))
    fn.__name__ = op
    return fn


negative = _unary_number(P.neg_p, "negative")
abs = _unary_number(P.abs_p, "abs")  # noqa: A001
absolute = abs
sign = _unary_number(P.sign_p, "sign")


def positive(x: Any) -> Any:
    return _operand(x, "positive")


def square(x: Any) -> Any:
    return bind(P.integer_pow_p, _convert(_operand(x, "square"), result_type(x)), y=2)


def reciprocal(x: Any) -> Any:
    return divide(1.0, x)


def exp2(x: Any) -> Any:
    return exp(multiply(x, math.log(2.0)))


def log2(x: Any) -> Any:
    return divide(log(x), math.log(2.0))


def log10(x: Any) -> Any:
    return divide(log(x), math.log(10.0))


def sinh(x: Any) -> Any:
    return (exp(x) - exp(negative(x))) * 0.5


def cosh(x: Any) -> Any:
    return (exp(x) + exp(negative(x))) * 0.5


def arctan2(y: Any, x: Any) -> Any:
    return _elementwise(P.atan2_p, "arctan2", y, x, dtype=_float_dtype(y, x))


def arctan(x: Any) -> Any:
    x = _operand(x, "arctan")
    return arctan2(x, ones_like(x, dtype=_float_dtype(x)))


def arcsin(x: Any) -> Any:
    return arctan2(x, sqrt((1.0 - x) * (1.0 + x)))


def arccos(x: Any) -> Any:
    return arctan2(sqrt((1.0 - x) * (1.0 + x)), x)


def logical_not(x: Any) -> Any:
    return bind(P.not_p, _convert(_operand(x, "logical_not"), _np.dtype(bool)))


def invert(x: Any) -> Any:
    return bind(P.not_p, _operand(x, "invert"))


def _binary(prim, op: str):
    def fn(x, y):
        return _elementwise(prim, op, x, y)
    fn.__name__ = op
    return fn


add = _binary(P.add_p, "add")
subtract = _binary(P.sub_p, "subtract")
multiply = _binary(P.mul_p, "multiply")
maximum = _binary(P.max_p, "maximum")
minimum = _binary(P.min_p, "minimum")
bitwise_and = _binary(P.and_p, "bitwise_and")
bitwise_or = _binary(P.or_p, "bitwise_or")
bitwise_xor = _binary(P.xor_p, "bitwise_xor")


def _check_not_bool(op: str, *args: Any) -> None:
    if result_type(*args) == _np.dtype(bool):
        raise TypeError(f"{op}: bool operands are not supported; convert with astype first")


def divide(x: Any, y: Any) -> Any:
    """True division: integer operands promote to float64, as in NumPy."""
    return _elementwise(P.div_p, "divide", x, y, dtype=_float_dtype(x, y))


true_divide = divide


def floor_divide(x: Any, y: Any) -> Any:
    _check_not_bool("floor_divide", x, y)
    x, y = _promote("floor_divide", x, y)
    if _dtype_of(x).is_float:
        return floor(bind(P.div_p, x, y))
    q = bind(P.div_p, x, y)  # truncates toward zero
    r = bind(P.rem_p, x, y)
    adjust = logical_and(not_equal(r, 0), not_equal(less(r, 0), less(y, 0)))
    return where(adjust, q - 1, q)


def remainder(x: Any, y: Any) -> Any:
    """Python's modulo: the result has the sign of the divisor."""
    _check_not_bool("remainder", x, y)
    x, y = _promote("remainder", x, y)
    r = bind(P.rem_p, x, y)
    adjust = logical_and(not_equal(r, 0), not_equal(less(r, 0), less(y, 0)))
    return where(adjust, r + y, r)


mod = remainder


def fmod(x: Any, y: Any) -> Any:
    return _elementwise(P.rem_p, "fmod", x, y)


def power(x: Any, y: Any) -> Any:
    x = _operand(x, "power")
    if type(y) is int or (isinstance(y, _np.integer) and _np.ndim(y) == 0):
        x = _convert(x, result_type(x, int(y)) if type(y) is int else result_type(x, y))
        return bind(P.integer_pow_p, x, y=int(y))
    dt = result_type(x, y)
    if dt.kind != "f":
        raise TypeError("power: integer arrays raised to array powers are not supported; "
                        "use a Python int exponent or float operands")
    return _elementwise(P.pow_p, "power", x, y, dtype=dt)


equal = _binary(P.eq_p, "equal")
not_equal = _binary(P.ne_p, "not_equal")
less = _binary(P.lt_p, "less")
less_equal = _binary(P.le_p, "less_equal")
greater = _binary(P.gt_p, "greater")
greater_equal = _binary(P.ge_p, "greater_equal")


def logical_and(x: Any, y: Any) -> Any:
    return _elementwise(P.and_p, "logical_and", x, y, dtype=_np.dtype(bool))


def logical_or(x: Any, y: Any) -> Any:
    return _elementwise(P.or_p, "logical_or", x, y, dtype=_np.dtype(bool))


def logical_xor(x: Any, y: Any) -> Any:
    return _elementwise(P.xor_p, "logical_xor", x, y, dtype=_np.dtype(bool))


def where(condition: Any, x: Any = None, y: Any = None) -> Any:
    if x is None or y is None:
        raise ValueError("where: the one-argument form (nonzero) has a data-dependent shape "
                         "and is not supported; pass x and y")
    cond = _convert(_operand(condition, "where"), _np.dtype(bool))
    x, y = _operand(x, "where"), _operand(y, "where")
    dt = result_type(x, y)
    out_shape = _broadcast_shapes("where", _np.shape(cond), _np.shape(x), _np.shape(y))
    cond, x, y = (broadcast_to(a, out_shape) if _np.shape(a) not in ((), out_shape) else a
                  for a in (cond, _convert(x, dt), _convert(y, dt)))
    if _np.shape(cond) == () and out_shape != ():
        cond = broadcast_to(cond, out_shape)
    return bind(P.select_p, cond, x, y)


def clip(a: Any, a_min: Any = None, a_max: Any = None) -> Any:
    out = _operand(a, "clip")
    if a_min is not None:
        out = maximum(out, a_min)
    if a_max is not None:
        out = minimum(out, a_max)
    return out


def isnan(x: Any) -> Any:
    return not_equal(x, x)


def isinf(x: Any) -> Any:
    return equal(abs(x), inf)


def isfinite(x: Any) -> Any:
    return logical_not(logical_or(isnan(x), isinf(x)))


def nan_to_num(x: Any, nan: float = 0.0) -> Any:
    return where(isnan(x), nan, x)


# ---------------------------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------------------------

def _axes(op: str, axis: Any, nd: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(nd))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not isinstance(a, (int, _np.integer)) or not -nd <= a < nd:
            raise ValueError(f"{op}: axis {axis} is out of bounds for an array of "
                             f"dimension {nd}")
        out.append(int(a) % nd)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(out))


def _keep(x: Any, axes: tuple[int, ...], keepdims: bool, nd: int) -> Any:
    if not keepdims:
        return x
    return reshape(x, [1 if i in axes else d for i, d in enumerate(_full_shape(axes, x, nd))])


def _full_shape(axes, reduced, nd):
    dims = iter(_np.shape(reduced))
    return [1 if i in axes else next(dims) for i in range(nd)]


def _reduce(prim, op: str, a: Any, axis: Any, keepdims: bool, dtype: Any = None) -> Any:
    a = _operand(a, op)
    if type(a) in _PY_SCALARS:
        a = _np.asarray(a)
    if dtype is not None:
        a = _convert(a, as_dtype(dtype).np)
    elif prim in (P.reduce_sum_p, P.reduce_prod_p) and _dtype_of(a) is DType.bool:
        a = _convert(a, _np.dtype(_np.int64))
    elif prim in (P.reduce_sum_p, P.reduce_prod_p) and _dtype_of(a) is DType.int32:
        a = _convert(a, _np.dtype(_np.int64))  # NumPy accumulates small ints in int64
    nd = len(_np.shape(a))
    axes = _axes(op, axis, nd)
    out = bind(prim, a, axes=axes)
    return _keep(out, axes, keepdims, nd)


def sum(a: Any, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    return _reduce(P.reduce_sum_p, "sum", a, axis, keepdims, dtype)


def prod(a: Any, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
    return _reduce(P.reduce_prod_p, "prod", a, axis, keepdims, dtype)


def max(a: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    _check_nonempty("max", a, axis)
    return _reduce(P.reduce_max_p, "max", a, axis, keepdims)


def min(a: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    _check_nonempty("min", a, axis)
    return _reduce(P.reduce_min_p, "min", a, axis, keepdims)


amax, amin = max, min


def _check_nonempty(op: str, a: Any, axis: Any) -> None:
    shp = _np.shape(a)
    axes = _axes(op, axis, len(shp))
    if builtins.any(shp[i] == 0 for i in axes) or (axis is None and math.prod(shp) == 0):
        raise ValueError(f"{op}: zero-size array {shp} along axis {axis} has no identity")


def mean(a: Any, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
    a = _operand(a, "mean")
    nd = len(_np.shape(a))
    axes = _axes("mean", axis, nd)
    count = math.prod(_np.shape(a)[i] for i in axes)
    dt = as_dtype(dtype).np if dtype is not None else _float_dtype(a)
    total = sum(_convert(a, dt), axis=axis, keepdims=keepdims)
    return divide(total, _np.asarray(count, dt)[()] if count else _np.asarray(_np.nan, dt)[()])


def var(a: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
    a = _operand(a, "var")
    centered = subtract(a, mean(a, axis=axis, keepdims=True))
    nd = len(_np.shape(a))
    count = math.prod(_np.shape(a)[i] for i in _axes("var", axis, nd))
    return divide(sum(square(centered), axis=axis, keepdims=keepdims), float(count - ddof))


def std(a: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
    return sqrt(var(a, axis=axis, ddof=ddof, keepdims=keepdims))


def all(a: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    return _reduce(P.reduce_min_p, "all", _convert(_operand(a, "all"), _np.dtype(bool)),
                   axis, keepdims)


def any(a: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    return _reduce(P.reduce_max_p, "any", _convert(_operand(a, "any"), _np.dtype(bool)),
                   axis, keepdims)


def _arg_reduce(prim, op: str, a: Any, axis: Any, keepdims: bool) -> Any:
    a = _operand(a, op)
    if axis is None:
        nd_in = ndim(a)
        out = _arg_reduce(prim, op, ravel(a), 0, False)
        return reshape(out, (1,) * nd_in) if keepdims else out
    nd = len(_np.shape(a))
    (ax,) = _axes(op, axis, nd)
    if _np.shape(a)[ax] == 0:
        raise ValueError(f"{op}: attempt to get {op} of an empty sequence")
    out = bind(prim, a, axis=ax, index_dtype=DType.int64)
    return expand_dims(out, ax) if keepdims else out


def argmax(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _arg_reduce(P.argmax_p, "argmax", a, axis, keepdims)


def argmin(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _arg_reduce(P.argmin_p, "argmin", a, axis, keepdims)


# ---------------------------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------------------------

def reshape(a: Any, newshape: Any, *more: int) -> Any:
    a = _operand(a, "reshape")
    if more:
        newshape = (newshape, *more)
    if isinstance(newshape, (int, _np.integer)):
        newshape = (newshape,)
    newshape = [int(d) for d in newshape]
    size = math.prod(_np.shape(a))
    if newshape.count(-1) > 1:
        raise ValueError("reshape: can only specify one unknown dimension (-1)")
    if -1 in newshape:
        known = math.prod(d for d in newshape if d != -1)
        if known == 0 or size % known:
            raise ValueError(f"reshape: cannot reshape array of size {size} into shape "
                             f"{tuple(newshape)}")
        newshape[newshape.index(-1)] = size // known
    if math.prod(newshape) != size or builtins.any(d < 0 for d in newshape):
        raise ValueError(f"reshape: cannot reshape array of shape {_np.shape(a)} "
                         f"into shape {tuple(newshape)}")
    if tuple(newshape) == _np.shape(a):
        return a
    if type(a) in _PY_SCALARS:
        a = _np.asarray(a)
    return bind(P.reshape_p, a, new_sizes=tuple(newshape))


def ravel(a: Any) -> Any:
    return reshape(a, (-1,))


def transpose(a: Any, axes: Sequence[int] | None = None) -> Any:
    a = _operand(a, "transpose")
    nd = len(_np.shape(a))
    perm = tuple(reversed(range(nd))) if axes is None else tuple(int(x) % nd if nd else int(x)
                                                                  for x in axes)
    if sorted(perm) != list(range(nd)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of {nd} axes")
    if perm == tuple(range(nd)):
        return a
    return bind(P.transpose_p, a, permutation=perm)


def swapaxes(a: Any, axis1: int, axis2: int) -> Any:
    nd = ndim(a)
    perm = list(range(nd))
    a1, a2 = _axes("swapaxes", axis1, nd)[0], _axes("swapaxes", axis2, nd)[0]
    perm[a1], perm[a2] = perm[a2], perm[a1]
    return transpose(a, perm)


def moveaxis(a: Any, source: int, destination: int) -> Any:
    nd = ndim(a)
    src, dst = _axes("moveaxis", source, nd)[0], _axes("moveaxis", destination, nd)[0]
    perm = [i for i in range(nd) if i != src]
    perm.insert(dst, src)
    return transpose(a, perm)


def expand_dims(a: Any, axis: int | Sequence[int]) -> Any:
    shp = list(_np.shape(a))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out_nd = len(shp) + len(axes)
    positions = sorted(_axes("expand_dims", axes, out_nd))
    for p in positions:
        shp.insert(p, 1)
    return reshape(a, shp)


def squeeze(a: Any, axis: int | Sequence[int] | None = None) -> Any:
    shp = _np.shape(a)
    if axis is None:
        axes = tuple(i for i, d in enumerate(shp) if d == 1)
    else:
        axes = _axes("squeeze", axis, len(shp))
        bad = [i for i in axes if shp[i] != 1]
        if bad:
            raise ValueError(f"squeeze: cannot select an axis to squeeze out which has size "
                             f"not equal to one (axis {bad[0]} of shape {shp})")
    return reshape(a, [d for i, d in enumerate(shp) if i not in axes])


def atleast_1d(a: Any) -> Any:
    return reshape(a, (1,)) if ndim(a) == 0 else _operand(a, "atleast_1d")


def concatenate(arrays: Sequence[Any], axis: int = 0) -> Any:
    arrays = [_operand(a, "concatenate") for a in arrays]
    if not arrays:
        raise ValueError("concatenate: need at least one array to concatenate")
    nd = len(_np.shape(arrays[0]))
    if nd == 0:
        raise ValueError("concatenate: zero-dimensional arrays cannot be concatenated")
    if builtins.any(len(_np.shape(a)) != nd for a in arrays):
        raise ValueError("concatenate: all the input arrays must have the same number of "
                         "dimensions, got shapes " + ", ".join(str(_np.shape(a)) for a in arrays))
    ax = _axes("concatenate", axis, nd)[0]
    dt = result_type(*arrays)
    arrays = [_convert(a, dt) for a in arrays]
    if len(arrays) == 1:
        return arrays[0]
    return bind(P.concatenate_p, *arrays, dimension=ax)


def stack(arrays: Sequence[Any], axis: int = 0) -> Any:
    arrays = [_operand(a, "stack") for a in arrays]
    if not arrays:
        raise ValueError("stack: need at least one array to stack")
    shapes = {_np.shape(a) for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"stack: all input arrays must have the same shape, got {shapes}")
    ax = _axes("stack", axis, len(_np.shape(arrays[0])) + 1)[0]
    return concatenate([expand_dims(a, ax) for a in arrays], axis=ax)


def hstack(arrays: Sequence[Any]) -> Any:
    arrays = [atleast_1d(a) for a in arrays]
    return concatenate(arrays, axis=0 if ndim(arrays[0]) == 1 else 1)


def vstack(arrays: Sequence[Any]) -> Any:
    return concatenate([reshape(a, (1, -1)) if ndim(a) < 2 else a for a in arrays], axis=0)


def split(a: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    a = _operand(a, "split")
    shp = _np.shape(a)
    ax = _axes("split", axis, len(shp))[0]
    n = shp[ax]
    if isinstance(indices_or_sections, (int, _np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0 or n % sections:
            raise ValueError(f"split: array of size {n} along axis {ax} does not split into "
                             f"{sections} equal sections")
        bounds = [i * (n // sections) for i in range(sections + 1)]
    else:
        bounds = [0] + [builtins.min(builtins.max(int(i), 0), n)
                        for i in indices_or_sections] + [n]
    return [_slice_axis(a, ax, lo, builtins.max(lo, hi)) for lo, hi in zip(bounds, bounds[1:])]


def _slice_axis(a: Any, axis: int, lo: int, hi: int, step: int = 1) -> Any:
    shp = _np.shape(a)
    starts = [0] * len(shp)
    limits = list(shp)
    strides = [1] * len(shp)
    starts[axis], limits[axis], strides[axis] = lo, hi, step
    if (lo, hi, step) == (0, shp[axis], 1):
        return a
    return bind(P.slice_p, a, start_indices=tuple(starts), limit_indices=tuple(limits),
                strides=tuple(strides))


def flip(a: Any, axis: Any = None) -> Any:
    a = _operand(a, "flip")
    for ax in _axes("flip", axis, ndim(a)):
        n = shape(a)[ax]
        a = take(a, _np.arange(n - 1, -1, -1), axis=ax)
    return a


def tile(a: Any, reps: int | Sequence[int]) -> Any:
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    a = _operand(a, "tile")
    shp = (1,) * (len(reps) - ndim(a)) + tuple(_np.shape(a))
    reps = (1,) * (len(shp) - len(reps)) + reps
    a = reshape(a, shp)
    expanded = []
    for r, d in zip(reps, shp):
        expanded += [r, d]
    dims = tuple(2 * i + 1 for i in range(len(shp)))
    b = bind(P.broadcast_in_dim_p, a, shape=tuple(expanded), broadcast_dimensions=dims)
    return reshape(b, [r * d for r, d in zip(reps, shp)])


def repeat(a: Any, repeats: int, axis: int | None = None) -> Any:
    a = _operand(a, "repeat")
    if axis is None:
        a, axis = ravel(a), 0
    ax = _axes("repeat", axis, ndim(a))[0]
    idx = _np.repeat(_np.arange(shape(a)[ax]), int(repeats))
    return take(a, idx, axis=ax)


# ---------------------------------------------------------------------------------------------
# Creation
# ---------------------------------------------------------------------------------------------

def _creation_dtype(dtype: Any, default: Any) -> _np.dtype:
    return as_dtype(dtype if dtype is not None else default).np


def _shape_arg(shape_: Any) -> tuple[int, ...]:
    return (int(shape_),) if isinstance(shape_, (int, _np.integer)) else tuple(int(d) for d in shape_)


def zeros(shape: Any, dtype: Any = None) -> _np.ndarray:
    return _np.zeros(_shape_arg(shape), _creation_dtype(dtype, _np.float64))


def ones(shape: Any, dtype: Any = None) -> _np.ndarray:
    return _np.ones(_shape_arg(shape), _creation_dtype(dtype, _np.float64))


def full(shape: Any, fill_value: Any, dtype: Any = None) -> Any:
    shp = _shape_arg(shape)
    if isinstance(fill_value, Tracer):
        return broadcast_to(_convert(fill_value, _creation_dtype(dtype, fill_value.dtype)), shp)
    dt = _creation_dtype(dtype, _np.asarray(fill_value).dtype)
    return _np.full(shp, fill_value, dt)


def zeros_like(a: Any, dtype: Any = None) -> Any:
    return _filled_like(a, 0, dtype)


def ones_like(a: Any, dtype: Any = None) -> Any:
    return _filled_like(a, 1, dtype)


def full_like(a: Any, fill_value: Any, dtype: Any = None) -> Any:
    return _filled_like(a, fill_value, dtype)


def _filled_like(a: Any, value: Any, dtype: Any) -> Any:
    dt = _creation_dtype(dtype, a.dtype if _is_array(a) else _np.asarray(a).dtype)
    shp = _np.shape(a)
    if isinstance(a, Tracer):
        scalar = _np.asarray(value, dt)[()]
        if shp == ():
            return bind(P.convert_element_type_p, scalar, new_dtype=as_dtype(dt))
        return bind(P.broadcast_in_dim_p, scalar, shape=shp, broadcast_dimensions=())
    return _np.full(shp, value, dt)


def arange(start: Any, stop: Any = None, step: Any = None, dtype: Any = None) -> _np.ndarray:
    for v in (start, stop, step):
        if isinstance(v, Tracer):
            raise TypeError("arange: bounds must be static Python numbers (the output shape "
                            "depends on them); mark them static with static_argnums")
    out = _np.arange(start, stop, step) if stop is not None else _np.arange(start)
    return out.astype(as_dtype(dtype if dtype is not None else out.dtype).np)


def linspace(start: float, stop: float, num: int = 50, endpoint: bool = True,
             dtype: Any = None) -> _np.ndarray:
    return _np.linspace(start, stop, num, endpoint=endpoint).astype(
        _creation_dtype(dtype, _np.float64))


def eye(N: int, M: int | None = None, k: int = 0, dtype: Any = None) -> _np.ndarray:
    return _np.eye(N, M, k, dtype=_creation_dtype(dtype, _np.float64))


def array(obj: Any, dtype: Any = None) -> Any:
    if isinstance(obj, Tracer):
        return obj if dtype is None else astype(obj, dtype)
    if isinstance(obj, (list, tuple)) and builtins.any(
            isinstance(x, Tracer) for x in _flatten_nested(obj)):
        return stack([array(x) for x in obj]) if dtype is None else astype(
            stack([array(x) for x in obj]), dtype)
    arr = as_array(obj, "array")
    arr = arr if dtype is None else arr.astype(as_dtype(dtype).np)
    builder = current_builder()
    if builder is not None and arr.ndim > 0:
        # Inside a trace, an array becomes a traced constant, so indexing it with a traced
        # index (x[i] in a loop body) goes through dualjit rather than numpy.
        return builder.const_tracer(arr)
    return arr


asarray = array


def _flatten_nested(obj: Any):
    if isinstance(obj, (list, tuple)):
        for x in obj:
            yield from _flatten_nested(x)
    else:
        yield obj


def astype(x: Any, dtype: Any) -> Any:
    return _convert(_operand(x, "astype"), as_dtype(dtype).np)


def iota(dtype: Any, size: int) -> Any:
    return bind(P.iota_p, dtype=as_dtype(dtype), shape=(int(size),), dimension=0)


# ---------------------------------------------------------------------------------------------
# Products
# ---------------------------------------------------------------------------------------------

def dot_general(lhs: Any, rhs: Any, dimension_numbers: Any) -> Any:
    lhs, rhs = (_convert(_operand(a, "dot_general"), result_type(lhs, rhs)) for a in (lhs, rhs))
    (lc, rc), (lb, rb) = dimension_numbers
    dn = ((tuple(lc), tuple(rc)), (tuple(lb), tuple(rb)))
    return bind(P.dot_general_p, lhs, rhs, dimension_numbers=dn)


def _matmul_operands(op: str, a: Any, b: Any) -> tuple[Any, Any]:
    a, b = _operand(a, op), _operand(b, op)
    if type(a) in _PY_SCALARS or type(b) in _PY_SCALARS or ndim(a) == 0 or ndim(b) == 0:
        raise ValueError(f"{op}: operands must not be scalars (use multiply)")
    dt = result_type(a, b)
    if dt == _np.dtype(bool):
        raise TypeError(f"{op}: bool operands are not supported")
    return _convert(a, dt), _convert(b, dt)


def matmul(a: Any, b: Any) -> Any:
    a, b = _matmul_operands("matmul", a, b)
    sa, sb = _np.shape(a), _np.shape(b)
    a2 = reshape(a, (1,) + sa) if len(sa) == 1 else a
    b2 = reshape(b, sb + (1,)) if len(sb) == 1 else b
    sa2, sb2 = _np.shape(a2), _np.shape(b2)
    if sa2[-1] != sb2[-2]:
        raise ValueError(f"matmul: shapes {sa} and {sb} are not aligned: "
                         f"{sa2[-1]} (dim {len(sa) - 1}) != {sb2[-2]} (dim {builtins.max(len(sb) - 2, 0)})")
    batch = _broadcast_shapes("matmul", sa2[:-2], sb2[:-2])
    a2 = broadcast_to(a2, batch + sa2[-2:])
    b2 = broadcast_to(b2, batch + sb2[-2:])
    nb = len(batch)
    out = bind(P.dot_general_p, a2, b2, dimension_numbers=(
        ((nb + 1,), (nb,)), (tuple(range(nb)), tuple(range(nb)))))
    if len(sa) == 1:
        out = squeeze(out, -2)
    if len(sb) == 1:
        out = squeeze(out, -1)
    return out


def dot(a: Any, b: Any) -> Any:
    if ndim(a) == 0 or ndim(b) == 0:
        return multiply(a, b)
    if ndim(b) <= 2:
        return matmul(a, b)
    a, b = _matmul_operands("dot", a, b)
    return tensordot(a, b, axes=((ndim(a) - 1,), (ndim(b) - 2,)))


def vdot(a: Any, b: Any) -> Any:
    return dot(ravel(a), ravel(b))


def inner(a: Any, b: Any) -> Any:
    return tensordot(a, b, axes=((ndim(a) - 1,), (ndim(b) - 1,)))


def outer(a: Any, b: Any) -> Any:
    return multiply(reshape(a, (-1, 1)), reshape(b, (1, -1)))


def tensordot(a: Any, b: Any, axes: Any = 2) -> Any:
    a, b = _matmul_operands("tensordot", a, b)
    if isinstance(axes, int):
        la = tuple(range(ndim(a) - axes, ndim(a)))
        lb = tuple(range(axes))
    else:
        la, lb = ((x,) if isinstance(x, int) else tuple(x) for x in axes)
        la = tuple(int(x) % ndim(a) for x in la)
        lb = tuple(int(x) % ndim(b) for x in lb)
    if builtins.any(shape(a)[i] != shape(b)[j] for i, j in zip(la, lb)) or len(la) != len(lb):
        raise ValueError(f"tensordot: shape-mismatch for sum: {shape(a)} axes {la} vs "
                         f"{shape(b)} axes {lb}")
    return bind(P.dot_general_p, a, b, dimension_numbers=((la, lb), ((), ())))


def einsum(subscripts: str, *operands: Any) -> Any:
    """Einstein summation over one or more operands (contracted pairwise, left to right)."""
    subscripts = subscripts.replace(" ", "")
    if "." in subscripts:
        raise ValueError("einsum: ellipsis subscripts are not supported")
    if "->" in subscripts:
        inputs, output = subscripts.split("->")
    else:
        inputs = subscripts
        letters = inputs.replace(",", "")
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    specs = inputs.split(",")
    if len(specs) != len(operands):
        raise ValueError(f"einsum: {len(specs)} operand subscripts for {len(operands)} operands")
    ops = [_operand(o, "einsum") for o in operands]
    for spec, o in zip(specs, ops):
        if len(spec) != ndim(o) or builtins.any(c not in string.ascii_letters for c in spec):
            raise ValueError(f"einsum: subscripts {spec!r} do not fit operand of shape {shape(o)}")
        if len(set(spec)) != len(spec):
            raise ValueError(f"einsum: repeated subscript in {spec!r} (diagonals) is not "
                             "supported")
    dt = result_type(*ops)
    ops = [_convert(o, dt) for o in ops]
    spec, acc = specs[0], ops[0]
    for i in range(1, len(ops)):
        later = "".join(specs[i + 1:]) + output
        spec, acc = _einsum_pair(spec, acc, specs[i], ops[i], later)
    # Sum indices that do not appear in the output, then order as requested.
    drop = [k for k, c in enumerate(spec) if c not in output]
    if drop:
        acc = sum(acc, axis=tuple(drop))
        spec = "".join(c for c in spec if c in output)
    return transpose(acc, [spec.index(c) for c in output])


def _einsum_pair(sa: str, a: Any, sb: str, b: Any, later: str) -> tuple[str, Any]:
    for c in set(sa) & set(sb):
        if shape(a)[sa.index(c)] != shape(b)[sb.index(c)]:
            raise ValueError(f"einsum: dimension {c!r} has sizes {shape(a)[sa.index(c)]} and "
                             f"{shape(b)[sb.index(c)]}")
    # Indices only in one operand and not needed later are summed out first.
    only_a = [k for k, c in enumerate(sa) if c not in sb and c not in later]
    if only_a:
        a = sum(a, axis=tuple(only_a))
        sa = "".join(c for c in sa if c in sb or c in later)
    only_b = [k for k, c in enumerate(sb) if c not in sa and c not in later]
    if only_b:
        b = sum(b, axis=tuple(only_b))
        sb = "".join(c for c in sb if c in sa or c in later)
    shared = [c for c in sa if c in sb]
    batch = [c for c in shared if c in later]
    contract = [c for c in shared if c not in later]
    dn = ((tuple(sa.index(c) for c in contract), tuple(sb.index(c) for c in contract)),
          (tuple(sa.index(c) for c in batch), tuple(sb.index(c) for c in batch)))
    out = bind(P.dot_general_p, a, b, dimension_numbers=dn)
    spec = ("".join(batch) + "".join(c for c in sa if c not in shared)
            + "".join(c for c in sb if c not in shared))
    return spec, out


# ---------------------------------------------------------------------------------------------
# Indexing
# ---------------------------------------------------------------------------------------------

def take(a: Any, indices: Any, axis: int | None = None) -> Any:
    """Gather along one axis; negative indices count from the end, others are clamped."""
    a = _operand(a, "take")
    if axis is None:
        a, axis = ravel(a), 0
    ax = _axes("take", axis, ndim(a))[0]
    idx = _index_array(indices, shape(a)[ax], "take")
    return bind(P.gather_p, a, idx, axis=ax)


def _index_array(indices: Any, n: int, op: str) -> Any:
    if isinstance(indices, Tracer):
        if indices.aval.dtype not in (DType.int32, DType.int64):
            raise IndexError(f"{op}: index arrays must be integers, got {indices.dtype}")
        return where(less(indices, 0), indices + n, indices)
    idx = _np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise IndexError(f"{op}: index arrays must be integers, got {idx.dtype}")
    if idx.size and (idx.max() >= n or idx.min() < -n):
        bad = idx.max() if idx.max() >= n else idx.min()
        raise IndexError(f"{op}: index {bad} is out of bounds for axis with size {n}")
    return _np.where(idx < 0, idx + n, idx).astype(_np.int64)


def _expand_index(key: Any, nd: int) -> list[Any]:
    if not isinstance(key, tuple):
        key = (key,)
    n_ellipsis = builtins.sum(1 for k in key if k is Ellipsis)
    if n_ellipsis > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    consumed = builtins.sum(1 for k in key if k is not None and k is not Ellipsis)
    if consumed > nd:
        raise IndexError(f"too many indices for array: array is {nd}-dimensional, but "
                         f"{consumed} were indexed")
    out = []
    for k in key:
        if k is Ellipsis:
            out.extend([slice(None)] * (nd - consumed))
        else:
            out.append(k)
    if n_ellipsis == 0:
        out.extend([slice(None)] * (nd - consumed))
    return out


def _is_advanced(k: Any) -> bool:
    return isinstance(k, (Tracer, _np.ndarray, list)) and not (
        isinstance(k, _np.ndarray) and k.ndim == 0)


def getitem(a: Any, key: Any) -> Any:
    a = _operand(a, "getitem")
    if type(a) in _PY_SCALARS:
        a = _np.asarray(a)
    items = _expand_index(key, ndim(a))
    # Boolean numpy masks become integer index arrays (their shape is static).
    expanded = []
    for k in items:
        if isinstance(k, (list, _np.ndarray)) and _np.asarray(k).dtype == bool:
            expanded.extend(_np.nonzero(_np.asarray(k)))
        elif isinstance(k, Tracer) and k.aval.dtype is DType.bool:
            raise IndexError("boolean mask indexing with a traced mask has a data-dependent "
                             "shape; use dualjit.numpy.where instead")
        else:
            expanded.append(k)
    items = expanded
    advanced = builtins.any(_is_advanced(k) for k in items)
    out = a
    axis = 0
    new_axes = []  # positions of None in the result of basic indexing
    adv_axes, adv_indices = [], []
    result_axis = 0
    for k in items:
        if k is None:
            new_axes.append(result_axis)
            result_axis += 1
            continue
        n = shape(out)[axis]
        if isinstance(k, slice):
            start, stop, step = k.indices(n)
            if step > 0:
                out = _slice_axis(out, axis, start, builtins.max(start, stop), step)
            else:
                idx = _np.arange(start, stop, step)
                out = bind(P.gather_p, out, idx.astype(_np.int64), axis=axis)
            axis += 1
            result_axis += 1
        elif advanced and (_is_advanced(k) or isinstance(k, (int, _np.integer, Tracer))):
            adv_axes.append(axis)
            adv_indices.append(_index_array(k if not isinstance(k, list) else _np.asarray(k),
                                            n, "getitem"))
            axis += 1
            result_axis += 1
        elif isinstance(k, (int, _np.integer)) or (isinstance(k, _np.ndarray) and k.ndim == 0):
            i = int(k)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for axis {axis} with size {n}")
            out = squeeze(_slice_axis(out, axis, i % n, i % n + 1), axis)
        elif isinstance(k, Tracer):
            if k.shape != () or k.aval.dtype not in (DType.int32, DType.int64):
                raise IndexError(f"getitem: traced index must be an integer scalar, got {k.aval}")
            out = _dynamic_index(out, axis, k)
        else:
            raise IndexError(f"getitem: unsupported index {k!r} of type {type(k).__name__}")
    if adv_axes:
        out = _advanced_gather(out, adv_axes, adv_indices)
    for p in new_axes:
        out = expand_dims(out, builtins.min(p, ndim(out)))
    return out


def _dynamic_index(a: Any, axis: int, i: Any) -> Any:
    n = shape(a)[axis]
    i = where(less(i, 0), i + n, i)
    starts = [_np.int64(0)] * ndim(a)
    starts[axis] = _convert(i, _np.dtype(_np.int64))
    sizes = list(shape(a))
    sizes[axis] = 1
    out = bind(P.dynamic_slice_p, a, *starts, slice_sizes=tuple(sizes))
    return squeeze(out, axis)


def _advanced_gather(a: Any, axes: list[int], indices: list[Any]) -> Any:
    """NumPy advanced indexing on `axes` by broadcasting index arrays, via one gather."""
    idx_shape = _broadcast_shapes("getitem", *[shape(i) for i in indices])
    indices = [broadcast_to(i, idx_shape) if shape(i) != idx_shape else i for i in indices]
    adjacent = axes == list(range(axes[0], axes[0] + len(axes)))
    rest = [d for d in range(ndim(a)) if d not in axes]
    position = axes[0] if adjacent else 0
    perm = rest[:position] + axes + rest[position:]
    a = transpose(a, perm)
    sizes = [shape(a)[position + k] for k in range(len(axes))]
    flat = list(shape(a)[:position]) + [math.prod(sizes)] + list(shape(a)[position + len(axes):])
    a = reshape(a, flat)
    linear = indices[0]
    for i, n in zip(indices[1:], sizes[1:]):
        linear = add(multiply(linear, n), i)
    return bind(P.gather_p, a, _convert(linear, _np.dtype(_np.int64)), axis=position)


# ---------------------------------------------------------------------------------------------
# Methods and operators of traced arrays
# ---------------------------------------------------------------------------------------------

def _reflected(fn):
    return lambda self, other: fn(other, self)


array_methods.update({
    "__add__": add, "__radd__": _reflected(add),
    "__sub__": subtract, "__rsub__": _reflected(subtract),
    "__mul__": multiply, "__rmul__": _reflected(multiply),
    "__truediv__": divide, "__rtruediv__": _reflected(divide),
    "__floordiv__": floor_divide, "__rfloordiv__": _reflected(floor_divide),
    "__mod__": remainder, "__rmod__": _reflected(remainder),
    "__pow__": power, "__rpow__": _reflected(power),
    "__matmul__": matmul, "__rmatmul__": _reflected(matmul),
    "__neg__": negative, "__pos__": positive, "__abs__": abs, "__invert__": invert,
    "__and__": bitwise_and, "__rand__": _reflected(bitwise_and),
    "__or__": bitwise_or, "__ror__": _reflected(bitwise_or),
    "__xor__": bitwise_xor, "__rxor__": _reflected(bitwise_xor),
    "__lt__": less, "__le__": less_equal, "__gt__": greater, "__ge__": greater_equal,
    "__eq__": equal, "__ne__": not_equal, "__getitem__": getitem,
    "sum": sum, "mean": mean, "max": max, "min": min, "prod": prod, "var": var, "std": std,
    "all": all, "any": any, "argmax": argmax, "argmin": argmin,
    "reshape": reshape, "transpose": lambda self, *axes: transpose(
        self, axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else (axes or None)),
    "astype": astype, "squeeze": squeeze, "ravel": ravel, "flatten": ravel,
    "swapaxes": swapaxes, "dot": dot, "clip": clip, "take": take,
})
def _T(self: Tracer) -> Any:
    return transpose(self)


Tracer.T = property(_T)  # type: ignore[attr-defined]
