"""Integer functions of dualjit.numpy (dtypes area): shifts, bit counts, gcd/lcm
(iinfo is in dtypes.py, packbits/unpackbits in packing.py).

They follow NumPy's ufuncs: operands promote as NumPy 2 promotes them, bools promote to int8
for shifts, floats are refused, and results wrap at the result type's width.
"""

from __future__ import annotations

from typing import Any

import numpy as _np

from ..ir import DType, as_dtype
from ..ir import primitives as P
from ..tracer.core import Tracer, array_methods, bind
from ._core import broadcast_to, convert, joint_shape, operand, promote, result_type

__all__ = ["int8", "int16", "uint8", "uint16", "uint32", "uint64", "left_shift", "right_shift",
           "bitwise_left_shift", "bitwise_right_shift", "bitwise_count", "gcd", "lcm"]

int8, int16 = _np.int8, _np.int16
uint8, uint16, uint32, uint64 = _np.uint8, _np.uint16, _np.uint32, _np.uint64

_UNSIGNED_OF_WIDTH = {8: DType.uint8, 16: DType.uint16, 32: DType.uint32, 64: DType.uint64}


def _integer_operands(op: str, *args: Any, bool_as: DType | None = None) -> list[Any]:
    """args promoted to one integer dtype (bool becomes bool_as when given), or a TypeError."""
    dtype = result_type(*[operand(a, op) for a in args])
    if dtype == _np.dtype(bool) and bool_as is not None:
        dtype = bool_as.np
    if dtype.kind not in "iu":
        raise TypeError(f"{op}: expected integer operands, got {dtype} (NumPy's {op} has no "
                        f"loop for it)")
    return promote(op, *args, dtype=dtype)


def left_shift(x1: Any, x2: Any) -> Any:
    """x1 << x2; amounts at or beyond the width (or negative) give 0, as NumPy's."""
    x1, x2 = _integer_operands("left_shift", x1, x2, bool_as=DType.int8)
    return bind(P.shift_left_p, x1, x2)


def right_shift(x1: Any, x2: Any) -> Any:
    """x1 >> x2: arithmetic for signed types, logical for unsigned; amounts at or beyond the
    width give the sign fill (or 0), as NumPy's."""
    x1, x2 = _integer_operands("right_shift", x1, x2, bool_as=DType.int8)
    signed = as_dtype(_np.asarray(x1).dtype if not isinstance(x1, Tracer) else x1.dtype)
    prim = P.shift_right_arithmetic_p if signed.is_signed_int else P.shift_right_logical_p
    return bind(prim, x1, x2)


bitwise_left_shift, bitwise_right_shift = left_shift, right_shift


def _magnitude(x: Any) -> Any:
    """|x| in the unsigned type of x's width (exact even for the most negative value)."""
    dtype = as_dtype(x.dtype if isinstance(x, Tracer) else _np.asarray(x).dtype)
    unsigned = _UNSIGNED_OF_WIDTH[dtype.bits]
    if dtype.is_unsigned:
        return x
    return convert(bind(P.abs_p, x), unsigned.np)


def bitwise_count(x: Any) -> Any:
    """The number of 1 bits of |x|, as uint8 (NumPy 2's bitwise_count)."""
    x, = _integer_operands("bitwise_count", x, bool_as=DType.uint8)
    return convert(bind(P.population_count_p, _magnitude(x)), _np.dtype(_np.uint8))


def _euclid_steps(bits: int) -> int:
    """Remainder steps that finish Euclid's algorithm for any pair below 2**bits (consecutive
    Fibonacci numbers are the worst case: F(n) grows by a factor of ~1.618 per step)."""
    steps, a, b = 0, 1, 1
    while b < 2**bits:
        a, b, steps = b, a + b, steps + 1
    return steps + 1


def _gcd_of_magnitudes(a: Any, b: Any, bits: int) -> Any:
    from ..lax import fori_loop  # lax builds on dualjit.numpy

    shape = joint_shape("gcd", _np.shape(a), _np.shape(b))  # the loop carries full arrays
    a, b = broadcast_to(a, shape), broadcast_to(b, shape)

    def step(_, carry):
        a, b = carry
        nonzero = bind(P.ne_p, b, _np.zeros((), b.dtype))
        return (bind(P.select_p, nonzero, b, a),
                bind(P.rem_p, a, b))  # x % 0 is 0 in the IR: finished lanes stay finished
    return fori_loop(0, _euclid_steps(bits), step, (a, b))[0]


def gcd(x1: Any, x2: Any) -> Any:
    """The greatest common divisor of |x1| and |x2| (0 for gcd(0, 0)), as NumPy's."""
    x1, x2 = _integer_operands("gcd", x1, x2)
    dtype = _np.asarray(x1).dtype if not isinstance(x1, Tracer) else x1.dtype
    g = _gcd_of_magnitudes(_magnitude(x1), _magnitude(x2), 8 * dtype.itemsize)
    return convert(g, dtype)


def lcm(x1: Any, x2: Any) -> Any:
    """|x1| / gcd * |x2| wrapped to the result type, 0 when either is 0, as NumPy's."""
    x1, x2 = _integer_operands("lcm", x1, x2)
    dtype = _np.asarray(x1).dtype if not isinstance(x1, Tracer) else x1.dtype
    a, b = _magnitude(x1), _magnitude(x2)
    g = _gcd_of_magnitudes(a, b, 8 * dtype.itemsize)
    product = bind(P.mul_p, bind(P.div_p, a, g), b)  # a / 0 is 0: lcm(0, 0) = 0
    return convert(product, dtype)



array_methods.update({
    "__lshift__": left_shift, "__rlshift__": lambda self, other: left_shift(other, self),
    "__rshift__": right_shift, "__rrshift__": lambda self, other: right_shift(other, self),
})
