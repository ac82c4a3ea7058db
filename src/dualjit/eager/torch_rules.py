"""PyTorch's values and derivative rules where they differ from dualjit.numpy's (JAX's and
NumPy's): maximum/minimum, fmax/fmin, clamp, pow, sign, rsqrt, std, the float32 cumulative
sums and integer division by zero, each with its NumPy fast path (float32 fmod, remainder and
floor_divide of large arrays in whole-array steps).

The derivative rules are custom JVPs whose tangents are built from selects, so that backward()
(the transpose) gives a cotangent an exact 0 where PyTorch masks it: an infinite cotangent
stays 0 there instead of becoming inf * 0 = NaN. dualjit.numpy keeps JAX's rules (a NaN
operand of maximum gets no gradient; ties split it; the loser's share is ct * 0).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .. import numpy as jnp
from ..autodiff import custom_jvp
from ..lax import stop_gradient
from .errors import DtypeNotImplementedError, ZeroDivisionRuntimeError

try:  # (the ufunc itself: np.clip's Python wrapper costs ~2 us a call)
    from numpy._core.umath import clip as _clip
except ImportError:  # (NumPy 1)
    _clip = np.clip


def _quietly(fn: Any) -> Any:
    """fn without NumPy's floating-point warnings (PyTorch gives inf and NaN silently)."""
    @functools.wraps(fn)
    def run(*args: Any) -> Any:
        with np.errstate(all="ignore"):
            return fn(*args)
    return run


def _keep(mask: Any, t_dot: Any) -> Any:
    """t_dot where mask holds, an exact 0 elsewhere."""
    return jnp.where(mask, t_dot, 0)


# ---------------------------------------------------------------------------------------------
# maximum / minimum: the loser gets 0, a tie half to each, and where either operand is NaN
# (no comparison holds) both get all of it (PyTorch's derivatives.yaml).
# ---------------------------------------------------------------------------------------------

def _share(t_dot: Any, loses: Any, ties: Any) -> Any:
    return jnp.where(loses, 0, jnp.where(ties, t_dot * 0.5, t_dot))


@custom_jvp
def maximum(x: Any, y: Any) -> Any:
    return jnp.maximum(y, x)  # (NaN from either; a tie of 0.0 and -0.0 gives x, as PyTorch)


@maximum.defjvp
def _maximum_jvp(primals, tangents):
    (x, y), (x_dot, y_dot) = primals, tangents
    ties = jnp.equal(x, y)
    return maximum(x, y), _share(x_dot, jnp.less(x, y), ties) + \
        _share(y_dot, jnp.greater(x, y), ties)


@custom_jvp
def minimum(x: Any, y: Any) -> Any:
    return jnp.minimum(y, x)


@minimum.defjvp
def _minimum_jvp(primals, tangents):
    (x, y), (x_dot, y_dot) = primals, tangents
    ties = jnp.equal(x, y)
    return minimum(x, y), _share(x_dot, jnp.greater(x, y), ties) + \
        _share(y_dot, jnp.less(x, y), ties)


# fmax / fmin ignore a NaN operand (NaN only when both are); the whole cotangent goes to x
# where x wins, ties or y is NaN, else to y.

# (the value is spelled by the same test, so a tie of 0.0 and -0.0 gives x as in PyTorch;
# NumPy's fmax answers it differently for float32 and float64)

def _fmax_fmin(x_wins: Any, np_x_wins: Any) -> tuple:
    @custom_jvp
    def f(x: Any, y: Any) -> Any:
        return jnp.where(jnp.logical_or(x_wins(x, y), jnp.isnan(y)), x, y)

    @f.defjvp
    def _jvp(primals, tangents):
        (x, y), (x_dot, y_dot) = primals, tangents
        to_x = jnp.logical_or(x_wins(x, y), jnp.isnan(y))
        return f(x, y), _keep(to_x, x_dot) + _keep(jnp.logical_not(to_x), y_dot)

    def np_f(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.where(np_x_wins(x, y) | np.isnan(y), x, y)

    return f, np_f


fmax, np_fmax = _fmax_fmin(jnp.greater_equal, np.greater_equal)
fmin, np_fmin = _fmax_fmin(jnp.less_equal, np.less_equal)


def np_maximum(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.maximum(y, x)


def np_minimum(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.minimum(y, x)


# ---------------------------------------------------------------------------------------------
# clamp: x passes where lo <= x <= hi (a NaN x gets 0); a bound gets the cotangent where it
# is the result, except that lo == hi gives it to neither bound, lo > hi all of it to hi.
# Value: x < lo gives lo, then x > hi gives hi (so hi wins when lo > hi), NaN from any.
# ---------------------------------------------------------------------------------------------

def _nan_from(bound: Any, out: Any) -> Any:
    return jnp.where(jnp.isnan(bound), bound, out)


@custom_jvp
def clamp_min(x: Any, lo: Any) -> Any:
    return _nan_from(lo, jnp.where(jnp.less(x, lo), lo, x))


@clamp_min.defjvp
def _clamp_min_jvp(primals, tangents):
    (x, lo), (x_dot, lo_dot) = primals, tangents
    return clamp_min(x, lo), _keep(jnp.greater_equal(x, lo), x_dot) + \
        _keep(jnp.less(x, lo), lo_dot)


@custom_jvp
def clamp_max(x: Any, hi: Any) -> Any:
    return _nan_from(hi, jnp.where(jnp.greater(x, hi), hi, x))


@clamp_max.defjvp
def _clamp_max_jvp(primals, tangents):
    (x, hi), (x_dot, hi_dot) = primals, tangents
    return clamp_max(x, hi), _keep(jnp.less_equal(x, hi), x_dot) + \
        _keep(jnp.greater(x, hi), hi_dot)


@custom_jvp
def clamp_both(x: Any, lo: Any, hi: Any) -> Any:
    return clamp_max.fun(clamp_min.fun(x, lo), hi)


@clamp_both.defjvp
def _clamp_both_jvp(primals, tangents):
    (x, lo, hi), (x_dot, lo_dot, hi_dot) = primals, tangents
    inside = jnp.logical_and(jnp.greater_equal(x, lo), jnp.less_equal(x, hi))
    lo_wins = jnp.logical_and(jnp.less(x, lo), jnp.less(lo, hi))
    hi_wins = jnp.logical_or(jnp.greater(x, hi), jnp.less(hi, lo))
    return clamp_both(x, lo, hi), _keep(inside, x_dot) + _keep(lo_wins, lo_dot) + \
        _keep(hi_wins, hi_dot)


def clamp(x: Any, lo: Any, hi: Any) -> Any:
    """clamp with optional (None) bounds, each a tensor value or a number."""
    if lo is not None and hi is not None:
        return clamp_both(x, lo, hi)
    return clamp_min(x, lo) if hi is None else clamp_max(x, hi)


def np_clamp(x: np.ndarray, lo: Any, hi: Any) -> np.ndarray:
    """clamp's value with array (or None) bounds of x's dtype, as the recorded composition:
    np.maximum / np.minimum (clip with array bounds takes a scalar loop: ~65 us on 65,536
    floats, maximum ~9; np.where ~170 on mixed comparisons), the composition's choices
    restored where they may differ: at ties it keeps x (0.0 against -0.0), a NaN bound gives
    its NaN (hi's when both are). A NaN x is returned by both (NumPy returns the NaN)."""
    if x.dtype.kind not in "fiu":
        return _np_clamp_by_selects(x, lo, hi)
    out = x
    if lo is not None:
        out = _np_clamp_side(out, lo, np.maximum)
    if hi is not None:
        out = _np_clamp_side(out, hi, np.minimum)
    if x.dtype.kind == "f":
        for bound in (lo, hi):
            if bound is not None:
                nan = np.isnan(bound)
                if nan.any():
                    np.copyto(out, bound, where=nan)
    return out


def _np_clamp_side(x: np.ndarray, bound: np.ndarray, pick: Any) -> np.ndarray:
    out = np.asarray(pick(x, bound))  # (a fresh array, broadcast)
    tie = np.equal(x, bound)
    if tie.any():
        np.copyto(out, x, where=tie)
    return out


def _np_bound(bound: Any, dtype: np.dtype, side: int) -> Any:
    """A clip bound: the given one, or for None the extreme of dtype on that side (a tie with
    it gives the same value, so clip(x, lo, +inf) is clamp_min(x, lo))."""
    if bound is not None:
        return bound
    if dtype.kind == "f":
        return dtype.type(np.inf * side)
    info = np.iinfo(dtype)
    return info.max if side > 0 else info.min


def _np_clamp_by_selects(x: np.ndarray, lo: Any, hi: Any) -> np.ndarray:
    """The composition step by step (bool and other dtypes np.clip has no loop for)."""
    out = x
    if lo is not None:
        out = np.where(out < lo, lo, out)
        out = np.where(np.isnan(lo), lo, out)
    if hi is not None:
        out = np.where(out > hi, hi, out)
        out = np.where(np.isnan(hi), hi, out)
    return np.asarray(out, x.dtype)


def clamp_numbers(x: Any, lo: Any, hi: Any) -> Any:
    """clamp with number bounds (recorded as constants of x's dtype)."""
    dt = np.dtype(x.dtype)
    return clamp(x, None if lo is None else np.asarray(lo, dt),
                 None if hi is None else np.asarray(hi, dt))


def np_clamp_numbers(x: np.ndarray, lo: Any, hi: Any) -> np.ndarray:
    """np_clamp for number bounds: a NaN bound makes every element NaN; else one clip, which
    gives the composition's value bit for bit (x where lo <= x <= hi, ties of 0.0 and -0.0
    and NaN's bits included; tests/eager/test_torch_edge_rules.py). The two selects it
    replaces cost ~280 us on 65,536 random floats (np.where mispredicts its branches); clip
    ~8 us."""
    dt = x.dtype
    lo, hi = (None if b is None else dt.type(b) for b in (lo, hi))
    if any(b is not None and b != b for b in (lo, hi)):  # (a NaN bound)
        return np.full(x.shape, np.nan, dt)
    if dt.kind not in "fiu":
        out = _np_clamp_by_selects(x, lo, hi)
        return out if out is not x else x.copy()
    return _clip(x, _np_bound(lo, dt, -1), _np_bound(hi, dt, 1))


# ---------------------------------------------------------------------------------------------
# pow. A Python-number exponent takes PyTorch's special kernels (0.5: sqrt, -0.5: 1/sqrt, -1:
# 1/x, 2: x*x, 3: x*x*x, -2: 1/(x*x); they differ from C's pow at -0.0 and -inf), and its
# derivative e * x ** (e - 1) uses them again; e == 0 has derivative exactly 0. A tensor
# exponent takes C's pow; the base's derivative is exactly 0 where the exponent is 0, the
# exponent's is out * log(x), taken as 0 where x == 0 and y >= 0 (so d(0 ** y)/dy = -inf for
# y < 0).
# ---------------------------------------------------------------------------------------------

def _special_power(xp: Any, x: Any, e: float) -> Any:
    """x ** e by PyTorch's kernel for exponent e, or None (then C's pow)."""
    if e == 0.5:
        return xp.sqrt(x)
    if e == -0.5:
        return 1 / xp.sqrt(x)
    if e == -1:
        return 1 / x
    if e == 2:
        return x * x
    if e == 3:
        return x * x * x
    if e == -2:
        return 1 / (x * x)
    return None


@functools.lru_cache(maxsize=512)
def power_by_number(e: int | float):
    """x -> x ** e for a float x and a Python number e, with PyTorch's value and derivative."""

    @custom_jvp
    def power(x: Any) -> Any:
        if e == 0:
            return jnp.ones_like(x)
        if e == 1:
            return x
        special = _special_power(jnp, x, e)
        return jnp.power(x, jnp.asarray(e, x.dtype)) if special is None else special

    @power.defjvp
    def _power_jvp(primals, tangents):
        (x,), (x_dot,) = primals, tangents
        if e == 0:
            return power(x), jnp.zeros_like(x_dot)
        return power(x), x_dot * (e * power_by_number(e - 1)(x))

    return power


def np_power_by_number(x: np.ndarray, e: int | float) -> np.ndarray:
    if e == 0:
        return np.ones_like(x)
    if e == 1:
        return x.copy()
    special = _special_power(np, x, e)
    return np_c_power(x, x.dtype.type(e)) if special is None else special.astype(x.dtype)


@custom_jvp
def power(x: Any, y: Any) -> Any:
    refuse_bools("pow", x, y)
    return jnp.power(x, y)


def refuse_bools(name: str, x: Any, y: Any) -> None:
    """PyTorch has no kernel for bool // bool, bool % bool, bool ** bool (NumPy: int8)."""
    if np.dtype(x.dtype) == np.bool_ and np.dtype(y.dtype) == np.bool_:
        raise DtypeNotImplementedError(f"{name}: not implemented for bool tensors")


def floor_divide(x: Any, y: Any) -> Any:
    refuse_bools("floor_divide", x, y)
    return jnp.floor_divide(x, y)


def remainder(x: Any, y: Any) -> Any:
    """Python's (and PyTorch's) remainder: the sign of the divisor."""
    refuse_bools("remainder", x, y)
    return jnp.remainder(x, y)


@power.defjvp
def _power_jvp(primals, tangents):
    (x, y), (x_dot, y_dot) = primals, tangents
    out = power(x, y)
    zero_exponent = jnp.equal(y, 0)
    # (the slope is masked too, so that the transpose gives an exact 0, not 0 * inf)
    base_slope = jnp.where(zero_exponent, 0, y * power(x, y - 1))
    zero_base = jnp.logical_and(jnp.equal(x, 0), jnp.greater_equal(jnp.real(y), 0))
    # (a complex exponent: its real part decides, as PyTorch's pow_backward_exponent)
    exponent_slope = jnp.where(zero_base, 0, out * jnp.log(x))
    return out, jnp.where(zero_exponent, 0, x_dot * base_slope) + y_dot * exponent_slope


def np_c_power(x: np.ndarray, y: Any) -> np.ndarray:
    """x ** y with C's pow at every element (NumPy takes sqrt for a broadcast exponent 0.5:
    -0.0 and NaN where C gives 0.0 and inf at x = -0.0 and -inf)."""
    out = np.power(x, y)
    if out.dtype.kind == "f" and np.any(np.equal(y, 0.5)):
        fix = np.equal(y, 0.5) & (np.equal(x, 0) | np.equal(x, -np.inf))
        out = np.where(fix, np.abs(x), out).astype(out.dtype)
    return out


def np_power(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """PyTorch's x ** y for tensors: C's pow for floats; for integers a negative exponent gives
    0 (1 for x == 1, +-1 for x == -1) instead of an error."""
    refuse_bools("pow", x, y)
    if x.dtype.kind not in "iu" or not np.any(y < 0):
        return np_c_power(x, y)
    x, y = np.broadcast_arrays(x, y)
    positive = np.power(x, np.where(y < 0, 0, y))
    negative = np.where(x == 1, 1, np.where(x == -1, np.where(y % 2 == 0, 1, -1), 0))
    return np.where(y < 0, negative, positive).astype(positive.dtype)


# ---------------------------------------------------------------------------------------------
# sign: 0 for NaN (PyTorch's; NumPy's is NaN), piecewise constant
# ---------------------------------------------------------------------------------------------

def sign(x: Any) -> Any:
    s = jnp.sign(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        return s
    return jnp.where(jnp.isnan(x), jnp.zeros_like(s), s)


def np_sign(x: np.ndarray) -> np.ndarray:
    s = np.sign(x)
    if x.dtype.kind == "f" and np.isnan(s).any():  # (no select where no element is NaN)
        return np.where(np.isnan(x), x.dtype.type(0), s)
    return s


# ---------------------------------------------------------------------------------------------
# angle of real numbers: pi where x < 0 and 0 elsewhere, -0.0 included (NumPy's arctan2(0, x)
# gives pi for -0.0 and -inf alike), NaN kept; derivative 0 everywhere (PyTorch's: the angle of
# a real number is piecewise constant; arctan2's derivative is NaN at 0)
# ---------------------------------------------------------------------------------------------

def angle(x: Any) -> Any:
    if jnp.iscomplexobj(x):
        return jnp.angle(x)
    out = jnp.where(jnp.less(x, 0), jnp.full_like(x, np.pi), jnp.zeros_like(x))
    return jnp.where(jnp.isnan(x), stop_gradient(x), out)


def np_angle(x: np.ndarray) -> np.ndarray:
    """angle's value: pi (rounded to x's dtype) times the comparison, NaN copied from x."""
    if x.dtype.kind == "c":
        return np.angle(x)
    out = np.multiply(np.less(x, 0), x.dtype.type(np.pi), dtype=x.dtype)
    nan = np.isnan(x)
    if nan.any():
        np.copyto(out, x, where=nan)
    return out


# ---------------------------------------------------------------------------------------------
# cumsum / cumprod of float32: PyTorch accumulates in float64 (its CPU accumulation type), each
# prefix rounded once; NumPy in float32, its rounding errors growing along the axis
# ---------------------------------------------------------------------------------------------

def np_cumsum(x: np.ndarray, axis: int) -> np.ndarray:
    if x.dtype == np.float32:
        return np.cumsum(x, axis, dtype=np.float64).astype(np.float32)
    return np.cumsum(x, axis)


def np_cumprod(x: np.ndarray, axis: int) -> np.ndarray:
    if x.dtype == np.float32:
        return np.cumprod(x, axis, dtype=np.float64).astype(np.float32)
    return np.cumprod(x, axis)


# ---------------------------------------------------------------------------------------------
# rsqrt is 1 / sqrt(x) (so -inf at -0.0), derivative -0.5 * out ** 3; std's derivative is 0
# where the std is 0 (PyTorch masks it; sqrt's would be inf * 0 = NaN)
# ---------------------------------------------------------------------------------------------

@custom_jvp
def rsqrt(x: Any) -> Any:
    return 1 / jnp.sqrt(x)


@rsqrt.defjvp
def _rsqrt_jvp(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    out = rsqrt(x)
    return out, x_dot * (-0.5 * (out * out * out))


def np_rsqrt(x: np.ndarray) -> np.ndarray:
    return 1 / np.sqrt(x)


def std(x: Any, axis: Any, ddof: Any, keepdims: bool) -> Any:
    v = jnp.var(x, axis=axis, ddof=ddof, keepdims=keepdims)
    zero = jnp.equal(v, 0)  # (a NaN variance stays NaN)
    return jnp.where(zero, jnp.zeros_like(v), jnp.sqrt(jnp.where(zero, jnp.ones_like(v), v)))


# ---------------------------------------------------------------------------------------------
# Integer division by zero raises (NumPy gives 0 with a warning: a silent wrong answer)
# ---------------------------------------------------------------------------------------------

def _integer_divisor(name: str, x: np.ndarray, y: np.ndarray) -> None:
    refuse_bools(name, x, y)
    if y.dtype.kind in "iub" and not np.all(y) and x.size and y.size:  # (empty: no division)
        raise ZeroDivisionRuntimeError(f"{name}: integer division by zero")


def np_floor_divide(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    _integer_divisor("floor_divide", x, y)
    if _wide_float32(x, y):
        return _divmod_float32(x, y)[0]
    return np.floor_divide(x, y)


def np_remainder(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    _integer_divisor("remainder", x, y)
    if _wide_float32(x, y):
        return _divmod_float32(x, y)[1]
    return np.remainder(x, y)


def np_fmod(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    _integer_divisor("fmod", x, y)
    if _wide_float32(x, y):
        return _fmod_float32(x, y)
    return np.fmod(x, y)


# ---------------------------------------------------------------------------------------------
# fmod, remainder and floor_divide of float32 arrays in whole-array steps. NumPy's loops call
# C's fmodf element by element (~6-25 ns an element: ~0.4-1.6 ms on 65,536 floats, PyTorch
# ~80 us); these give NumPy's values bit for bit (tests/eager/test_nn_fast_paths.py, over
# random bit patterns, quotients near integers, signed zeros, infinities and NaN).
#
# fmod through float64: for float32 a and b, q = trunc(a / b) computed in float64 is the exact
# truncated quotient while |a / b| < 2**29 (a non-integer a / b lies at least 2**-25 from an
# integer, the float64 quotient within |a / b| * 2**-53 of it), q * b is exact (29 + 24 bits),
# and a - q * b is the exact remainder, a float32 (|r| < |b|); its sign is a's (a zero too).
# Larger quotients, infinities, NaN and division by zero take NumPy's fmod for those elements.
# remainder and floor_divide then follow NumPy's npy_divmod step by step in float32, and the
# elements that are not finite or divide by zero take NumPy's own functions.
# ---------------------------------------------------------------------------------------------

WIDE_DIVMOD_MIN_ELEMENTS = 16384  # (below, the ~10-25 whole-array calls cost about as much)
_EXACT_QUOTIENT = 2.0 ** 29


def _wide_float32(x: np.ndarray, y: np.ndarray) -> bool:
    return x.dtype == y.dtype == np.float32 and max(x.size, y.size) >= \
        WIDE_DIVMOD_MIN_ELEMENTS and x.size > 0 and y.size > 0


@_quietly
def _fmod_float32(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _wide_fmod(a, b)[0]


def _wide_fmod(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """fmod(a, b) and where it was computed through float64 (elsewhere NumPy's fmod: large
    quotients, infinities, NaN, division by zero)."""
    wide_a = a.astype(np.float64)
    q = np.divide(wide_a, b.astype(np.float64))
    np.trunc(q, out=q)
    exact = np.less(np.abs(q), _EXACT_QUOTIENT)  # (False for an infinite or NaN quotient)
    exact &= np.isfinite(b)  # (a / inf is 0, but 0 * inf is NaN)
    np.multiply(q, b, out=q)
    np.subtract(wide_a, q, out=q)
    r = q.astype(np.float32)
    np.copysign(r, a, out=r)
    return _patched(r, exact, np.fmod, a, b), exact


def _patched(out: np.ndarray, regular: np.ndarray, numpy_fn: Any, a: np.ndarray,
             b: np.ndarray) -> np.ndarray:
    """out, with numpy_fn's values where regular is False."""
    if not np.logical_and.reduce(regular, axis=None):
        special = ~regular
        a_full, b_full = np.broadcast_arrays(a, b)
        out[special] = numpy_fn(a_full[special], b_full[special])
    return out


@_quietly
def _divmod_float32(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(floor_divide, remainder): NumPy's npy_divmod in whole-array steps. mod = fmod(a, b);
    div = (a - mod) / b; where mod != 0 has a sign other than b's, mod += b and div -= 1; a
    zero mod takes b's sign; floor(div), plus 1 where div - floor(div) > 0.5; a zero result
    takes the sign of a / b. (A nonzero result has that sign already: div is within a few
    ulps of the integer quotient, 0 only where a - mod is exactly 0, so the + 1 never turns
    -1 into 0; copysign(floor, a / b) therefore equals the C code's select.) The elements
    whose fmod was not exact through float64 take NumPy's own functions."""
    mod, exact = _wide_fmod(a, b)
    div = np.subtract(a, mod)
    np.divide(div, b, out=div)
    nonzero = np.not_equal(mod, 0)
    adjust = nonzero & (np.less(b, 0) != np.less(mod, 0))
    if adjust.any():
        mod = np.where(adjust, mod + b, mod)
        div = np.where(adjust, div - np.float32(1), div)
    if not nonzero.all():
        mod = np.where(nonzero, mod, np.copysign(np.float32(0), b))
    floor = np.floor(div)
    np.subtract(div, floor, out=div)
    np.add(floor, np.greater(div, 0.5), out=floor)
    np.copysign(floor, np.divide(a, b), out=floor)
    return _patched(floor, exact, np.floor_divide, a, b), \
        _patched(mod, exact, np.remainder, a, b)


# ---------------------------------------------------------------------------------------------
# max() / min() of all elements: the cotangent is shared evenly by the elements equal to the
# result, and by the NaNs when the result is NaN (JAX's and dualjit.numpy's give NaN there:
# no element equals NaN, 0 / 0)
# ---------------------------------------------------------------------------------------------

def _extreme_of_all(reduce: Any) -> Any:
    @custom_jvp
    def extreme(x: Any) -> Any:
        return reduce(x)

    @extreme.defjvp
    def _jvp(primals, tangents):
        (x,), (x_dot,) = primals, tangents
        out = extreme(x)
        chosen = jnp.where(jnp.isnan(out), jnp.isnan(x), jnp.equal(x, out))
        count = jnp.sum(chosen).astype(x_dot.dtype)
        return out, jnp.sum(_keep(chosen, x_dot)) / count

    return extreme


max_of_all = _extreme_of_all(jnp.max)
min_of_all = _extreme_of_all(jnp.min)


# ---------------------------------------------------------------------------------------------
# entr: PyTorch's derivative is -(1 + log x) everywhere: +inf at 0 (the slope from the right)
# and NaN below 0, where the value is the constant -inf (JAX's rule gives 0 at and below 0)
# ---------------------------------------------------------------------------------------------

@custom_jvp
def entr(x: Any) -> Any:
    from ..scipy import special as jss

    return jss.entr(x)


@entr.defjvp
def _entr_jvp(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    return entr(x), -(1 + jnp.log(x)) * x_dot
