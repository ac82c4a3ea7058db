"""Elementwise math, comparisons and logic of dualjit.numpy (NumPy's ufuncs)."""

from __future__ import annotations

import math
from typing import Any

import numpy as _np

from ..ir import DType
from ..ir import primitives as P
from ..tracer.core import bind
from ._core import (
    broadcast_to,
    convert,
    dtype_of,
    elementwise_op,
    float_dtype,
    inf,
    joint_shape,
    operand,
    promote,
    result_type,
)

__all__ = ["exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "sqrt", "floor", "ceil",
           "rint", "round", "around", "negative", "abs", "absolute", "sign", "positive", "square",
           "reciprocal", "exp2", "log2", "log10", "sinh", "cosh", "arctan2", "arctan", "arcsin",
           "arccos", "logical_not", "invert", "add", "subtract", "multiply", "maximum", "minimum",
           "bitwise_and", "bitwise_or", "bitwise_xor", "divide", "true_divide", "floor_divide",
           "remainder", "mod", "fmod", "power", "equal", "not_equal", "less", "less_equal",
           "greater", "greater_equal", "logical_and", "logical_or", "logical_xor", "where", "clip",
           "isnan", "isinf", "isfinite", "nan_to_num"]

def _unary_float(prim, op: str):
    def fn(x):
        x = operand(x, op)
        return bind(prim, convert(x, float_dtype(x)))
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
        x = operand(x, op)
        if dtype_of(x) is DType.bool:
            raise TypeError(f"{op}: bool operands are not supported")
        return bind(prim, convert(x, result_type(x)))
    fn.__name__ = op
    return fn


negative = _unary_number(P.neg_p, "negative")
abs = _unary_number(P.abs_p, "abs")  # noqa: A001
absolute = abs
sign = _unary_number(P.sign_p, "sign")


def positive(x: Any) -> Any:
    return operand(x, "positive")


def square(x: Any) -> Any:
    return bind(P.integer_pow_p, convert(operand(x, "square"), result_type(x)), y=2)


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
    return elementwise_op(P.atan2_p, "arctan2", y, x, dtype=float_dtype(y, x))


def arctan(x: Any) -> Any:
    x = operand(x, "arctan")
    return elementwise_op(P.atan2_p, "arctan", x, 1.0, dtype=float_dtype(x))


def arcsin(x: Any) -> Any:
    return arctan2(x, sqrt((1.0 - x) * (1.0 + x)))


def arccos(x: Any) -> Any:
    return arctan2(sqrt((1.0 - x) * (1.0 + x)), x)


def logical_not(x: Any) -> Any:
    return bind(P.not_p, convert(operand(x, "logical_not"), _np.dtype(bool)))


def invert(x: Any) -> Any:
    return bind(P.not_p, operand(x, "invert"))


def _binary(prim, op: str):
    def fn(x, y):
        return elementwise_op(prim, op, x, y)
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
    return elementwise_op(P.div_p, "divide", x, y, dtype=float_dtype(x, y))


true_divide = divide


def floor_divide(x: Any, y: Any) -> Any:
    _check_not_bool("floor_divide", x, y)
    x, y = promote("floor_divide", x, y)
    if dtype_of(x).is_float:
        return floor(bind(P.div_p, x, y))
    q = bind(P.div_p, x, y)  # truncates toward zero
    r = bind(P.rem_p, x, y)
    adjust = logical_and(not_equal(r, 0), not_equal(less(r, 0), less(y, 0)))
    return where(adjust, q - 1, q)


def remainder(x: Any, y: Any) -> Any:
    """Python's modulo: the result has the sign of the divisor."""
    _check_not_bool("remainder", x, y)
    x, y = promote("remainder", x, y)
    r = bind(P.rem_p, x, y)
    adjust = logical_and(not_equal(r, 0), not_equal(less(r, 0), less(y, 0)))
    return where(adjust, r + y, r)


mod = remainder


def fmod(x: Any, y: Any) -> Any:
    return elementwise_op(P.rem_p, "fmod", x, y)


def power(x: Any, y: Any) -> Any:
    x = operand(x, "power")
    if type(y) is int or (isinstance(y, _np.integer) and _np.ndim(y) == 0):
        x = convert(x, result_type(x, int(y)) if type(y) is int else result_type(x, y))
        return bind(P.integer_pow_p, x, y=int(y))
    dt = result_type(x, y)
    if dt.kind != "f":
        raise TypeError("power: integer arrays raised to array powers are not supported; "
                        "use a Python int exponent or float operands")
    return elementwise_op(P.pow_p, "power", x, y, dtype=dt)


equal = _binary(P.eq_p, "equal")
not_equal = _binary(P.ne_p, "not_equal")
less = _binary(P.lt_p, "less")
less_equal = _binary(P.le_p, "less_equal")
greater = _binary(P.gt_p, "greater")
greater_equal = _binary(P.ge_p, "greater_equal")


def logical_and(x: Any, y: Any) -> Any:
    return elementwise_op(P.and_p, "logical_and", x, y, dtype=_np.dtype(bool))


def logical_or(x: Any, y: Any) -> Any:
    return elementwise_op(P.or_p, "logical_or", x, y, dtype=_np.dtype(bool))


def logical_xor(x: Any, y: Any) -> Any:
    return elementwise_op(P.xor_p, "logical_xor", x, y, dtype=_np.dtype(bool))


def where(condition: Any, x: Any = None, y: Any = None) -> Any:
    if x is None or y is None:
        raise ValueError("where: the one-argument form (nonzero) has a data-dependent shape "
                         "and is not supported; pass x and y")
    cond = convert(operand(condition, "where"), _np.dtype(bool))
    x, y = operand(x, "where"), operand(y, "where")
    dt = result_type(x, y)
    out_shape = joint_shape("where", _np.shape(cond), _np.shape(x), _np.shape(y))
    cond, x, y = (broadcast_to(a, out_shape) if _np.shape(a) not in ((), out_shape) else a
                  for a in (cond, convert(x, dt), convert(y, dt)))
    if _np.shape(cond) == () and out_shape != ():
        cond = broadcast_to(cond, out_shape)
    return bind(P.select_p, cond, x, y)


def clip(a: Any, a_min: Any = None, a_max: Any = None) -> Any:
    out = operand(a, "clip")
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

