"""Integer dtypes of every width: edge-value strategies and exact Python-int reference semantics.

The reference works on Python ints (unbounded) and wraps the exact result to the type's width,
so it shares nothing with the numpy implementations or the native code it checks.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import strategies as st

SIGNED = [np.int8, np.int16, np.int32, np.int64]
UNSIGNED = [np.uint8, np.uint16, np.uint32, np.uint64]
INT_DTYPES = SIGNED + UNSIGNED
ALL_DTYPES = [np.bool_, *INT_DTYPES, np.float32, np.float64]


def bits(dtype) -> int:
    return np.iinfo(dtype).bits


def wrap(value: int, dtype) -> int:
    """value reduced modulo 2**bits into dtype's range (two's complement for signed types)."""
    info = np.iinfo(dtype)
    value %= 1 << info.bits
    return value - (1 << info.bits) if value > info.max else value


def unsigned(value: int, dtype) -> int:
    """The bit pattern of value (a dtype value) read as an unsigned number."""
    return value % (1 << bits(dtype))


def edges(dtype) -> list[int]:
    """Values where wrapping, sign and shift rules change."""
    info, n = np.iinfo(dtype), bits(dtype)
    found = {0, 1, 2, 3, n - 1, n, n + 1, info.max, info.max - 1, info.min, info.min + 1,
             info.max // 2, info.max // 2 + 1, 255, 256}
    if info.min < 0:
        found |= {-1, -2, -n, info.min // 2}
    return sorted(v for v in found if info.min <= v <= info.max)


@st.composite
def int_arrays(draw, dtype, size=6) -> np.ndarray:
    """size values of dtype: edge values and uniform ones over the whole range, mixed (drawn
    from a seed, which is much cheaper than drawing each value through hypothesis)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    info = np.iinfo(dtype)
    uniform = rng.integers(info.min, info.max, size, dtype=dtype, endpoint=True)
    edge = rng.choice(np.array(edges(dtype), dtype), size)
    return np.where(rng.random(size) < 0.4, edge, uniform)


# -- exact semantics, one function per primitive ----------------------------------------------

def c_div(a: int, b: int) -> int:
    """Truncating division, x / 0 = 0 (the documented integer rule)."""
    if b == 0:
        return 0
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def c_rem(a: int, b: int) -> int:
    return 0 if b == 0 else a - b * c_div(a, b)


def shift_left(a: int, s: int, dtype) -> int:
    s = unsigned(s, dtype)
    return 0 if s >= bits(dtype) else a << s


def shift_right_logical(a: int, s: int, dtype) -> int:
    s = unsigned(s, dtype)
    return 0 if s >= bits(dtype) else unsigned(a, dtype) >> s


def shift_right_arithmetic(a: int, s: int, dtype) -> int:
    signed = wrap(a, {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}[np.dtype(dtype).itemsize])
    return signed >> min(unsigned(s, dtype), bits(dtype) - 1)


def sign(a: int) -> int:
    return (a > 0) - (a < 0)


BINARY = {  # name -> f(a, b, dtype), before wrapping
    "add": lambda a, b, d: a + b, "sub": lambda a, b, d: a - b, "mul": lambda a, b, d: a * b,
    "div": lambda a, b, d: c_div(a, b), "rem": lambda a, b, d: c_rem(a, b),
    "max": lambda a, b, d: max(a, b), "min": lambda a, b, d: min(a, b),
    "and": lambda a, b, d: a & b, "or": lambda a, b, d: a | b, "xor": lambda a, b, d: a ^ b,
    "shift_left": shift_left, "shift_right_logical": shift_right_logical,
    "shift_right_arithmetic": shift_right_arithmetic,
}
COMPARE = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
           "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b}
UNARY = {  # name -> f(a, dtype), before wrapping
    "neg": lambda a, d: -a, "abs": lambda a, d: abs(a), "sign": lambda a, d: sign(a),
    "not": lambda a, d: ~a,
    "population_count": lambda a, d: bin(unsigned(a, d)).count("1"),
    "clz": lambda a, d: bits(d) - unsigned(a, d).bit_length(),
}


def integer_pow(a: int, y: int, dtype) -> int:
    if y >= 0:
        return pow(a, y, 1 << bits(dtype))
    if a == 1 or (a == -1 and y % 2 == 0):
        return 1
    return a if a == -1 else 0  # 1 / a truncates to 0 for |a| > 1, and x / 0 = 0


def float_to_int(x: float, dtype) -> int:
    """Truncation toward zero, saturating at the range, NaN to 0 (the documented rule)."""
    if math.isnan(x):
        return 0
    info = np.iinfo(dtype)
    if math.isinf(x):
        return info.max if x > 0 else info.min
    return min(max(math.trunc(x), info.min), info.max)


def int_to_float(a: int, dtype) -> float:
    """a rounded to the nearest dtype value (ties to even), from exact rationals."""
    dtype = np.dtype(dtype)
    near = dtype.type(float(a))  # within one ulp of the exact value
    candidates = [np.nextafter(near, dtype.type(-np.inf)), near,
                  np.nextafter(near, dtype.type(np.inf))]

    def key(c):
        mantissa_odd = int(np.frexp(c)[0] * 2 ** (np.finfo(dtype).nmant + 1)) & 1
        return abs(Fraction(float(c)) - a), mantissa_odd
    return float(min((c for c in candidates if np.isfinite(c)), key=key))
