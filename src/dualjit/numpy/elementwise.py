"""Elementwise math, comparisons and logic of dualjit.numpy (NumPy's ufuncs and their kin)."""

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
    refuse_complex_order,
    refuse_out,
    result_type,
    shape_of,
)

__all__ = ["exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "sqrt", "floor", "ceil",
           "rint", "round", "around", "negative", "abs", "absolute", "sign", "positive", "square",
           "reciprocal", "exp2", "log2", "log10", "sinh", "cosh", "arcsin", "asin", "arccos",
           "acos", "arctan", "atan", "arcsinh", "asinh", "arccosh", "acosh", "arctanh", "atanh",
           "cbrt", "arctan2", "atan2", "deg2rad", "rad2deg", "radians", "degrees", "hypot",
           "copysign", "nextafter", "spacing", "signbit", "ldexp", "frexp", "logaddexp",
           "logaddexp2", "sinc", "heaviside", "fabs", "float_power", "trunc", "fix", "fmax",
           "fmin", "divmod", "modf", "isneginf", "isposinf", "real", "imag", "conjugate", "conj",
           "angle", "isreal", "iscomplex", "iscomplexobj", "isrealobj", "logical_not", "invert",
           "bitwise_not", "bitwise_invert", "add", "subtract", "multiply", "maximum", "minimum",
           "bitwise_and", "bitwise_or", "bitwise_xor", "divide", "true_divide", "floor_divide",
           "remainder", "mod", "fmod", "power", "pow", "equal", "not_equal", "less", "less_equal",
           "greater", "greater_equal", "logical_and", "logical_or", "logical_xor", "where", "clip",
           "isnan", "isinf", "isfinite", "nan_to_num", "isclose", "allclose", "array_equal",
           "array_equiv", "i0"]

def _unary_float(prim, op: str):
    def fn(x):
        x = operand(x, op)
        return elementwise_op(prim, op, x, dtype=float_dtype(x))
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


def _integral_or_float(prim, op: str):
    """floor and ceil: integers come back unchanged (NumPy 2), floats are rounded."""
    def fn(x):
        x = operand(x, op)
        if result_type(x).kind in "iu":
            return x
        return bind(prim, convert(x, float_dtype(x)))
    fn.__name__ = op
    fn.__doc__ = f"Elementwise {op} (integer inputs are returned unchanged, as in NumPy 2)."
    return fn


floor = _integral_or_float(P.floor_p, "floor")
ceil = _integral_or_float(P.ceil_p, "ceil")
rint = _unary_float(P.round_p, "rint")


def round(x: Any, decimals: int = 0, out: Any = None) -> Any:  # noqa: A001
    """Round half to even to `decimals` places (negative: to tens, hundreds, ...), as NumPy."""
    refuse_out("round", out)
    x = operand(x, "round")
    kind = result_type(x).kind
    if kind in "biu":
        if decimals >= 0:
            return x
        scale = 10.0 ** -decimals
        return convert(multiply(rint(divide(x, scale)), scale), result_type(x))
    if decimals == 0:
        return rint(x)
    if decimals > 0:
        scale = 10.0 ** decimals
        return divide(rint(multiply(x, scale)), scale)
    scale = 10.0 ** -decimals
    return multiply(rint(divide(x, scale)), scale)


around = round


def _unary_number(prim, op: str):
    def fn(x):
        x = operand(x, op)
        if dtype_of(x) is DType.bool:
            raise TypeError(f"{op}: bool operands are not supported")
        return elementwise_op(prim, op, x, dtype=result_type(x))
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


exp2 = _unary_float(P.exp2_p, "exp2")
log2 = _unary_float(P.log2_p, "log2")
log10 = _unary_float(P.log10_p, "log10")
sinh = _unary_float(P.sinh_p, "sinh")
cosh = _unary_float(P.cosh_p, "cosh")
arcsin = asin = _unary_float(P.asin_p, "arcsin")
arccos = acos = _unary_float(P.acos_p, "arccos")
arctan = atan = _unary_float(P.atan_p, "arctan")
arcsinh = asinh = _unary_float(P.asinh_p, "arcsinh")
arccosh = acosh = _unary_float(P.acosh_p, "arccosh")
arctanh = atanh = _unary_float(P.atanh_p, "arctanh")
cbrt = _unary_float(P.cbrt_p, "cbrt")


def arctan2(y: Any, x: Any) -> Any:
    return elementwise_op(P.atan2_p, "arctan2", y, x, dtype=float_dtype(y, x))


atan2 = arctan2


def deg2rad(x: Any) -> Any:
    return _scaled("deg2rad", x, math.pi / 180)


def rad2deg(x: Any) -> Any:
    return _scaled("rad2deg", x, 180 / math.pi)


radians, degrees = deg2rad, rad2deg


def _scaled(op: str, x: Any, factor: float) -> Any:
    x = operand(x, op)
    return multiply(convert(x, float_dtype(x)), factor)


def hypot(x: Any, y: Any) -> Any:
    """sqrt(x**2 + y**2) without overflow or underflow in between."""
    return elementwise_op(P.hypot_p, "hypot", x, y, dtype=float_dtype(x, y))


def copysign(x: Any, y: Any) -> Any:
    return elementwise_op(P.copysign_p, "copysign", x, y, dtype=float_dtype(x, y))


def nextafter(x: Any, y: Any) -> Any:
    """The next float after x toward y (piecewise constant: its derivative is zero)."""
    return elementwise_op(P.nextafter_p, "nextafter", x, y, dtype=float_dtype(x, y))


def spacing(x: Any) -> Any:
    """The distance from x to the adjacent float away from zero (negative for x < 0)."""
    x = operand(x, "spacing")
    x = bind(P.stop_gradient_p, convert(x, float_dtype(x)))  # piecewise constant in x
    away = copysign(inf, x)
    return subtract(nextafter(x, away), x)


def signbit(x: Any) -> Any:
    """True where the sign bit is set (also for -0.0 and negative NaNs)."""
    x = operand(x, "signbit")
    if result_type(x).kind != "f":
        return less(x, 0)
    return less(copysign(1.0, x), 0)


def ldexp(x: Any, n: Any) -> Any:
    """x * 2**n, exact (no intermediate overflow); n must be integer."""
    x, n = operand(x, "ldexp"), operand(n, "ldexp")
    if result_type(n).kind not in "biu":
        raise TypeError(f"ldexp: the exponent must be an integer array, got {result_type(n)}")
    x = convert(x, float_dtype(x))
    n = convert(n, _np.dtype(_np.int64))
    shp = joint_shape("ldexp", _np.shape(x), _np.shape(n))
    x = x if _np.shape(x) in ((), shp) else broadcast_to(x, shp)
    n = n if _np.shape(n) in ((), shp) else broadcast_to(n, shp)
    return bind(P.ldexp_p, x, n)


def frexp(x: Any) -> tuple[Any, Any]:
    """(mantissa, exponent) with x = mantissa * 2**exponent and 0.5 <= |mantissa| < 1."""
    x = operand(x, "frexp")
    return tuple(bind(P.frexp_p, convert(x, float_dtype(x))))


def logaddexp(x: Any, y: Any) -> Any:
    """log(exp(x) + exp(y)) without overflow: max + log1p(exp(-|x - y|))."""
    x, y = promote("logaddexp", x, y, dtype=float_dtype(x, y))
    top = maximum(x, y)
    gap = where(equal(x, y), 0.0, subtract(x, y))  # equal infinities: no inf - inf
    return add(top, log1p(exp(negative(abs(gap)))))


def logaddexp2(x: Any, y: Any) -> Any:
    """log2(2**x + 2**y) without overflow."""
    ln2 = math.log(2.0)
    return divide(logaddexp(multiply(x, ln2), multiply(y, ln2)), ln2)


def sinc(x: Any) -> Any:
    """sin(pi x) / (pi x), 1 at 0; near 0 a Taylor polynomial (exact derivatives there)."""
    x = operand(x, "sinc")
    x = convert(x, float_dtype(x))
    near_zero = less(abs(x), 1e-3)
    safe = where(near_zero, 1.0, x)
    z2 = square(multiply(x, math.pi))
    taylor = add(1.0, multiply(z2, add(-1 / 6, multiply(z2, add(1 / 120,
                                                                  multiply(z2, -1 / 5040))))))
    return where(near_zero, taylor, divide(sin(multiply(safe, math.pi)), multiply(safe, math.pi)))


def heaviside(x1: Any, x2: Any) -> Any:
    """0 where x1 < 0, x2 where x1 == 0, 1 where x1 > 0 (NaN stays NaN)."""
    x1, x2 = promote("heaviside", x1, x2, dtype=float_dtype(x1, x2))
    step = where(less(x1, 0), 0.0, where(greater(x1, 0), 1.0, x2))
    return where(isnan(x1), x1, step)


def fabs(x: Any) -> Any:
    x = operand(x, "fabs")
    return abs(convert(x, float_dtype(x)))


def float_power(x: Any, y: Any) -> Any:
    """x ** y computed in float64 (NumPy's float_power)."""
    return power(_as_float64(x, "float_power"), _as_float64(y, "float_power"))


def _as_float64(x: Any, op: str) -> Any:
    x = operand(x, op)
    return convert(x, _np.dtype(_np.float64)) if type(x) not in (int, float, bool) else float(x)


def trunc(x: Any) -> Any:
    """Round toward zero (integers are returned unchanged, as in NumPy 2)."""
    x = operand(x, "trunc")
    if result_type(x).kind in "biu":
        return x
    return where(less(x, 0), ceil(x), floor(x))


fix = trunc


def fmax(x: Any, y: Any) -> Any:
    """Elementwise maximum that ignores NaNs (NaN only where both are NaN)."""
    x, y = promote("fmax", x, y)
    return where(isnan(y), x, where(isnan(x), y, maximum(x, y)))


def fmin(x: Any, y: Any) -> Any:
    """Elementwise minimum that ignores NaNs (NaN only where both are NaN)."""
    x, y = promote("fmin", x, y)
    return where(isnan(y), x, where(isnan(x), y, minimum(x, y)))


def divmod(x: Any, y: Any) -> tuple[Any, Any]:  # noqa: A001
    return floor_divide(x, y), remainder(x, y)


def modf(x: Any) -> tuple[Any, Any]:
    """(fractional part, integral part), both with x's sign."""
    x = operand(x, "modf")
    x = convert(x, float_dtype(x))
    whole = trunc(x)
    # |x| - |whole| keeps the sign of zero right (modf(-2.0) = (-0.0, -2.0)); x itself at 0
    # keeps the derivative 1 there.
    frac = copysign(subtract(abs(x), abs(whole)), x)
    frac = where(equal(x, 0), x, where(isinf(x), copysign(0.0, x), frac))
    return frac, whole


def isneginf(x: Any) -> Any:
    return equal(x, -inf)


def isposinf(x: Any) -> Any:
    return equal(x, inf)


# Complex numbers (complex area): parts, conjugate, argument; on real input NumPy's identities

def real(x: Any) -> Any:
    x = operand(x, "real")
    return bind(P.real_p, x) if result_type(x).kind == "c" else x


def imag(x: Any) -> Any:
    x = operand(x, "imag")
    if result_type(x).kind == "c":
        return bind(P.imag_p, x)
    # zeros, not x * 0 (which is NaN where x is NaN or infinite)
    return broadcast_to(_np.zeros((), result_type(x))[()], _np.shape(x))


def conjugate(x: Any) -> Any:
    x = operand(x, "conjugate")
    return bind(P.conj_p, x) if result_type(x).kind == "c" else x


conj = conjugate


def angle(z: Any, deg: bool = False) -> Any:
    """The argument atan2(imag, real); of a real number: pi where it is negative (or -0.0)."""
    z = operand(z, "angle")
    z = convert(z, float_dtype(z))
    out = arctan2(imag(z), real(z)) if result_type(z).kind == "c" else arctan2(0.0, z)
    return rad2deg(out) if deg else out


def isreal(x: Any) -> Any:
    return equal(imag(x), 0)


def iscomplex(x: Any) -> Any:
    return not_equal(imag(x), 0)


def iscomplexobj(x: Any) -> bool:
    return result_type(operand(x, "iscomplexobj")).kind == "c"


def isrealobj(x: Any) -> bool:
    return not iscomplexobj(x)


def logical_not(x: Any) -> Any:
    return bind(P.not_p, convert(operand(x, "logical_not"), _np.dtype(bool)))


def invert(x: Any) -> Any:
    return bind(P.not_p, operand(x, "invert"))


bitwise_not = bitwise_invert = invert


_ORDERED = (P.lt_p, P.le_p, P.gt_p, P.ge_p, P.max_p, P.min_p)


def _binary(prim, op: str):
    def fn(x, y):
        if prim in _ORDERED:
            refuse_complex_order(op, x, y)
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
    if dt.kind not in "fc":
        raise TypeError("power: integer arrays raised to array powers are not supported; "
                        "use a Python int exponent or float operands")
    return elementwise_op(P.pow_p, "power", x, y, dtype=dt)


pow = power  # noqa: A001


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


def where(condition: Any, x: Any = None, y: Any = None, *, size: int | None = None,
          fill_value: Any = None) -> Any:
    """Elements of x where condition holds, else of y; where(condition) is nonzero(condition)."""
    if x is None and y is None:
        from .sorting import nonzero

        return nonzero(condition, size=size, fill_value=fill_value)
    if x is None or y is None:
        raise ValueError("where: pass both x and y, or neither")
    cond = convert(operand(condition, "where"), _np.dtype(bool))
    x, y = operand(x, "where"), operand(y, "where")
    dt = result_type(x, y)
    shapes = shape_of(cond), shape_of(x), shape_of(y)
    out_shape = joint_shape("where", *shapes)
    x, y = convert(x, dt), convert(y, dt)
    if shapes[0] not in ((), out_shape):
        cond = broadcast_to(cond, out_shape)
    if shapes[1] not in ((), out_shape):
        x = broadcast_to(x, out_shape)
    if shapes[2] not in ((), out_shape):
        y = broadcast_to(y, out_shape)
    if shapes[0] == () and out_shape != ():  # (the predicate has the output's shape)
        cond = broadcast_to(cond, out_shape)
    return bind(P.select_p, cond, x, y)


def clip(a: Any, a_min: Any = None, a_max: Any = None, out: Any = None, *, min: Any = None,
         max: Any = None) -> Any:  # noqa: A002
    """a limited to [min, max] (either may be None); NumPy's a_min/a_max spelling works too."""
    refuse_out("clip", out)
    low = a_min if min is None else min
    high = a_max if max is None else max
    if a_min is not None and min is not None or a_max is not None and max is not None:
        raise TypeError("clip: pass either a_min/a_max or min/max, not both")
    clipped = operand(a, "clip")
    if low is not None:
        clipped = maximum(clipped, low)
    if high is not None:
        clipped = minimum(clipped, high)
    return clipped


def isnan(x: Any) -> Any:
    return not_equal(x, x)


def isinf(x: Any) -> Any:
    return equal(abs(x), inf)


def isfinite(x: Any) -> Any:
    return logical_not(logical_or(isnan(x), isinf(x)))


def nan_to_num(x: Any, copy: bool = True, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Any:
    """NaN to `nan`, +inf to `posinf`, -inf to `neginf` (default: the dtype's largest finite)."""
    x = operand(x, "nan_to_num")
    dt = result_type(x)
    if dt.kind != "f":
        return x
    info = _np.finfo(dt)
    big = info.max if posinf is None else posinf
    small = info.min if neginf is None else neginf
    x = where(isnan(x), _np.asarray(nan, dt)[()], x)
    x = where(equal(x, inf), _np.asarray(big, dt)[()], x)
    return where(equal(x, -inf), _np.asarray(small, dt)[()], x)


# ---------------------------------------------------------------------------------------------
# Comparisons of whole arrays
# ---------------------------------------------------------------------------------------------

def isclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Any:
    """|a - b| <= atol + rtol * |b|, with infinities equal only to themselves."""
    a, b = promote("isclose", a, b, dtype=float_dtype(a, b))
    close = less_equal(abs(subtract(a, b)), add(atol, multiply(rtol, abs(b))))
    both_inf = logical_and(isinf(a), isinf(b))
    close = where(logical_or(isinf(a), isinf(b)), logical_and(both_inf, equal(a, b)), close)
    if equal_nan:
        close = logical_or(close, logical_and(isnan(a), isnan(b)))
    return close


def allclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> Any:
    from .reductions import all

    return all(isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def array_equal(a1: Any, a2: Any, equal_nan: bool = False) -> Any:
    """Same shape and elements (a Python False, not an array, when the shapes differ)."""
    from .reductions import all

    a1, a2 = operand(a1, "array_equal"), operand(a2, "array_equal")
    if _np.shape(a1) != _np.shape(a2):
        return False
    same = equal(a1, a2)
    if equal_nan:
        same = logical_or(same, logical_and(isnan(a1), isnan(a2)))
    return all(same)


def array_equiv(a1: Any, a2: Any) -> Any:
    """Equal after broadcasting (False when the shapes do not broadcast)."""
    from .reductions import all

    a1, a2 = operand(a1, "array_equiv"), operand(a2, "array_equiv")
    try:
        _np.broadcast_shapes(_np.shape(a1), _np.shape(a2))
    except ValueError:
        return False
    return all(equal(a1, a2))


# ---------------------------------------------------------------------------------------------
# A Bessel function
# ---------------------------------------------------------------------------------------------

def i0(x: Any) -> Any:
    """The modified Bessel function of the first kind, order 0: its power series up to 30,
    the asymptotic series beyond (each term exact in double precision at its end)."""
    x = operand(x, "i0")
    x = abs(convert(x, float_dtype(x)))
    large = greater(x, 30.0)
    small_x = where(large, 30.0, x)
    quarter = multiply(multiply(small_x, small_x), 0.25)
    term, series = 1.0, 1.0
    for k in range(1, 60):
        term = multiply(term, divide(quarter, float(k * k)))
        series = add(series, term)
    big_x = where(large, x, 30.0)
    inverse = divide(1.0, multiply(big_x, 8.0))
    term, tail = 1.0, 1.0
    for k in range(1, 16):
        term = multiply(term, multiply(inverse, float((2 * k - 1) ** 2) / k))
        tail = add(tail, term)
    # exp(x) as exp(x/2)^2: inf (not inf/inf = NaN) where exp(x) overflows; NaN at inf (NumPy's)
    half = exp(multiply(big_x, 0.5))
    root = multiply(sqrt(big_x), math.sqrt(2 * math.pi))  # (2 pi x overflows float32's range)
    asymptotic = multiply(multiply(half, divide(half, root)), tail)
    return where(large, asymptotic, series)
