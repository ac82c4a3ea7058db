"""Native lowering of complex values: a complex scalar is a `Pair` (re, im) of LLVM floats in
registers and two interleaved floats in memory (NumPy's layout), so loops over complex arrays
vectorize like loops over real ones (the loads and stores become strided interleaved groups).

Arithmetic follows NumPy's loops formula for formula: the product (a + bi)(c + di) is
fma(a, c, -bd) + fma(a, d, bc)i, as NumPy's vectorized loop on x86-64 with FMA (so the
imaginary part of z * conj(z) is a rounding error, not 0, in both); the quotient is NumPy's
scaled (Smith's) algorithm with its division-by-zero branch; |z| is NumPy's vectorized
absolute (larger * sqrt(1 + ratio**2), inf before nan); exp/log/sqrt/sin/cos/tan/tanh call
the C library's cexp/clog/csqrt/csin/ccos/ctan/ctanh, as NumPy does (so their branch cuts, signed zeros,
inf and nan cases are NumPy's; these loops do not vectorize).
pow is NumPy's: 1 for a zero exponent, 0 (positive real part of the exponent) or nan for a
zero base, repeated (unfused) multiplication for integral exponents below 100 in magnitude,
otherwise the C library's cpow; its results agree with NumPy's to a few ulps where finite, but
the sign of a zero or inf-versus-nan of an overflowing power may differ (NumPy takes other
routes for some exponents, e.g. cpow for z**2 at a zero z).

The C library's complex functions are called with the x86-64 System V convention (a double
complex is two doubles in and a {double, double} out; a float complex is a <2 x float>); on
other machines (schedule.COMPLEX_LIBC_CALLS) those equations run as host steps.
"""

from __future__ import annotations

from typing import NamedTuple

from llvmlite import ir as L

from ..ir import DType, Eqn, Primitive
from ..ir import primitives as P
from .schedule import COMPLEX_LIBC_CALLS, COMPLEX_NATIVE

F32, F64, I1, I64 = L.FloatType(), L.DoubleType(), L.IntType(1), L.IntType(64)
PART = {DType.complex64: F32, DType.complex128: F64}


class Pair(NamedTuple):
    """A complex scalar in registers."""

    re: L.Value
    im: L.Value


def zero(dtype: DType) -> Pair:
    t = PART[dtype]
    return Pair(L.Constant(t, 0.0), L.Constant(t, 0.0))


def one(dtype: DType) -> Pair:
    t = PART[dtype]
    return Pair(L.Constant(t, 1.0), L.Constant(t, 0.0))


def constant(dtype: DType, value: complex) -> Pair:
    t = PART[dtype]
    return Pair(L.Constant(t, value.real), L.Constant(t, value.imag))


def select(b: L.IRBuilder, condition, x: Pair, y: Pair) -> Pair:
    return Pair(b.select(condition, x.re, y.re), b.select(condition, x.im, y.im))


# ---------------------------------------------------------------------------------------------
# Arithmetic (NumPy's formulas)
# ---------------------------------------------------------------------------------------------

def add(b, x: Pair, y: Pair, flags=()) -> Pair:
    return Pair(_flagged(b.fadd(x.re, y.re), flags), _flagged(b.fadd(x.im, y.im), flags))


def _flagged(instr, flags):
    instr.flags.extend(flags)
    return instr


def sub(b, x: Pair, y: Pair) -> Pair:
    return Pair(b.fsub(x.re, y.re), b.fsub(x.im, y.im))


def mul(b, x: Pair, y: Pair, fused: bool = True) -> Pair:
    """NumPy's vectorized product (x86-64 with FMA): (fma(a, c, -bd), fma(a, d, bc)); with
    fused=False its scalar one, (ac - bd, ad + bc), which its power uses."""
    if not fused:
        return Pair(b.fsub(b.fmul(x.re, y.re), b.fmul(x.im, y.im)),
                    b.fadd(b.fmul(x.re, y.im), b.fmul(x.im, y.re)))
    fma = b.module.declare_intrinsic("llvm.fma", [x.re.type], L.FunctionType(x.re.type,
                                                                               [x.re.type] * 3))
    return Pair(b.call(fma, [x.re, y.re, b.fneg(b.fmul(x.im, y.im))]),
                b.call(fma, [x.re, y.im, b.fmul(x.im, y.re)]))


def div(k, x: Pair, y: Pair) -> Pair:
    """NumPy's quotient: scale by the larger part of the divisor (Smith's algorithm); a zero
    divisor gives (x.re / 0, x.im / 0), i.e. infinities or nans."""
    b = k.b
    t = x.re.type
    fabs = k.module.declare_intrinsic("llvm.fabs", [t])
    abs_re, abs_im = b.call(fabs, [y.re]), b.call(fabs, [y.im])
    c1 = L.Constant(t, 1.0)
    # |y.re| >= |y.im| (false when either is nan, as in NumPy's C)
    rat = b.fdiv(y.im, y.re)
    scale = b.fdiv(c1, b.fadd(y.re, b.fmul(y.im, rat)))
    big_re = Pair(b.fmul(b.fadd(x.re, b.fmul(x.im, rat)), scale),
                  b.fmul(b.fsub(x.im, b.fmul(x.re, rat)), scale))
    by_zero = Pair(b.fdiv(x.re, abs_re), b.fdiv(x.im, abs_re))
    is_zero = b.and_(b.fcmp_ordered("==", abs_re, L.Constant(t, 0.0)),
                     b.fcmp_ordered("==", abs_im, L.Constant(t, 0.0)))
    first = select(b, is_zero, by_zero, big_re)
    rat2 = b.fdiv(y.re, y.im)
    scale2 = b.fdiv(c1, b.fadd(y.im, b.fmul(y.re, rat2)))
    big_im = Pair(b.fmul(b.fadd(b.fmul(x.re, rat2), x.im), scale2),
                  b.fmul(b.fsub(b.fmul(x.im, rat2), x.re), scale2))
    return select(b, b.fcmp_ordered(">=", abs_re, abs_im), first, big_im)


def neg(b, x: Pair) -> Pair:
    return Pair(b.fneg(x.re), b.fneg(x.im))


def conj(b, x: Pair) -> Pair:
    return Pair(x.re, b.fneg(x.im))


def equal(b, x: Pair, y: Pair):
    return b.and_(b.fcmp_ordered("==", x.re, y.re), b.fcmp_ordered("==", x.im, y.im))


def not_equal(b, x: Pair, y: Pair):
    return b.or_(b.fcmp_unordered("!=", x.re, y.re), b.fcmp_unordered("!=", x.im, y.im))


# ---------------------------------------------------------------------------------------------
# The C library's complex functions
# ---------------------------------------------------------------------------------------------

def libc_call(k, name: str, dtype: DType, *args: Pair) -> Pair:
    """name(args...) of <complex.h>: cexp for complex128, cexpf for complex64 (x86-64 ABI)."""
    b, module = k.b, k.module
    if dtype is DType.complex128:
        fn = module.globals.get(name) or L.Function(module, L.FunctionType(
            L.LiteralStructType([F64, F64]), [F64, F64] * len(args)), name)
        out = b.call(fn, [part for z in args for part in z])
        return Pair(b.extract_value(out, 0), b.extract_value(out, 1))
    vec = L.VectorType(F32, 2)
    fn = module.globals.get(name + "f") or L.Function(
        module, L.FunctionType(vec, [vec] * len(args)), name + "f")
    packed = []
    for z in args:
        v = b.insert_element(L.Constant(vec, None), z.re, L.Constant(I64, 0))
        packed.append(b.insert_element(v, z.im, L.Constant(I64, 1)))
    out = b.call(fn, packed)
    return Pair(b.extract_element(out, L.Constant(I64, 0)),
                b.extract_element(out, L.Constant(I64, 1)))


def magnitude(k, dtype: DType, z: Pair) -> L.Value:
    """|z| as NumPy's vectorized absolute: larger * sqrt(1 + (smaller / larger)**2) (the
    square by a fused multiply-add), inf if either part is inf, else nan if either is nan."""
    b, t = k.b, PART[dtype]
    fabs = k.module.declare_intrinsic("llvm.fabs", [t])
    re, im = b.call(fabs, [z.re]), b.call(fabs, [z.im])
    inf, nan = L.Constant(t, float("inf")), L.Constant(t, float("nan"))
    im = b.select(b.fcmp_ordered("==", re, inf), inf, im)
    re = b.select(b.fcmp_ordered("==", im, inf), inf, re)
    im = b.select(b.fcmp_unordered("uno", re, re), nan, im)
    re = b.select(b.fcmp_unordered("uno", im, im), nan, re)
    larger = b.select(b.fcmp_ordered(">", re, im), re, im)
    smaller = b.select(b.fcmp_ordered("<", im, re), im, re)
    divide = b.not_(b.or_(b.fcmp_ordered("==", larger, L.Constant(t, 0.0)),
                          b.fcmp_ordered("==", smaller, inf)))
    ratio = b.select(divide, b.fdiv(smaller, larger), L.Constant(t, 0.0))
    fma = k.module.declare_intrinsic("llvm.fma", [t], L.FunctionType(t, [t] * 3))
    root = b.call(k.module.declare_intrinsic("llvm.sqrt", [t]),
                  [b.call(fma, [ratio, ratio, L.Constant(t, 1.0)])])
    return b.fmul(root, larger)


LIBC_FUNCTIONS = {P.exp_p: "cexp", P.log_p: "clog", P.sqrt_p: "csqrt", P.sin_p: "csin",
                  P.cos_p: "ccos", P.tan_p: "ctan", P.tanh_p: "ctanh"}


def integer_power(b, dtype: DType, z: Pair, n: int) -> Pair:
    """z**n as NumPy's nc_pow for an integral exponent: n = 1, 2, 3 unrolled, |n| < 100 by
    squaring from 1 (1 * p first, as NumPy), a negative n inverting the result."""
    if n == 0:
        return one(dtype)
    if 1 <= n <= 3:
        out = z
        for _ in range(n - 1):
            out = mul(b, z, out, fused=False)
        return out
    m, acc, p = abs(n), one(dtype), z
    while True:
        if m & 1:
            acc = mul(b, acc, p, fused=False)
        m >>= 1
        if not m:
            break
        p = mul(b, p, p, fused=False)
    return acc


def power(k, dtype: DType, z: Pair, w: Pair) -> Pair:
    """NumPy's nc_pow with the exponent a run-time value: each case computed, one selected."""
    b = k.b
    t = PART[dtype]
    c0 = L.Constant(t, 0.0)
    general = libc_call(k, "cpow", dtype, z, w)
    n = b.call(_fptosi_sat(k, t), [w.re])
    integral = b.and_(b.fcmp_ordered("==", w.im, c0),
                      b.fcmp_ordered("==", b.sitofp(n, t), w.re))
    small = b.and_(b.icmp_signed(">", n, L.Constant(I64, -100)),
                   b.icmp_signed("<", n, L.Constant(I64, 100)))
    out = select(b, b.and_(integral, small), _small_power(k, dtype, z, n, w), general)
    for exponent in (3, 2, 1):
        out = select(b, b.and_(integral, b.icmp_signed("==", n, L.Constant(I64, exponent))),
                     integer_power(b, dtype, z, exponent), out)
    base_zero = b.and_(b.fcmp_ordered("==", z.re, c0), b.fcmp_ordered("==", z.im, c0))
    nan = L.Constant(t, float("nan"))
    out = select(b, base_zero, select(b, b.fcmp_ordered(">", w.re, c0), zero(dtype),
                                      Pair(nan, nan)), out)
    exponent_zero = b.and_(b.fcmp_ordered("==", w.re, c0), b.fcmp_ordered("==", w.im, c0))
    return select(b, exponent_zero, one(dtype), out)


def _fptosi_sat(k, t):
    name = f"llvm.fptosi.sat.i64.{'f64' if t is F64 else 'f32'}"
    return k.module.globals.get(name) or L.Function(k.module, L.FunctionType(I64, [t]), name)


def _small_power(k, dtype: DType, z: Pair, n, w: Pair) -> Pair:
    """z**n for a run-time integer 3 < |n| < 100 by NumPy's loop (unrolled over n's 7 bits;
    squarings past n's top bit are computed but never multiplied in)."""
    b = k.b
    m = b.select(b.icmp_signed("<", n, L.Constant(I64, 0)), b.neg(n), n)
    acc, p = one(dtype), z
    for bit in range(7):
        set_ = b.icmp_unsigned("!=", b.and_(m, L.Constant(I64, 1 << bit)), L.Constant(I64, 0))
        acc = select(b, set_, mul(b, acc, p, fused=False), acc)
        p = mul(b, p, p, fused=False)
    negative = b.fcmp_ordered("<", w.re, L.Constant(PART[dtype], 0.0))
    return select(b, negative, div(k, one(dtype), acc), acc)


# ---------------------------------------------------------------------------------------------
# Fused rules of equations that read or make complex values
# ---------------------------------------------------------------------------------------------

def _operands(k, eqn: Eqn, idx):
    return [k.value(a, idx) for a in eqn.inputs]


def _unary(fn):
    return lambda k, e, idx: fn(k, e.inputs[0].type.dtype, k.value(e.inputs[0], idx))


def _binary(fn):
    return lambda k, e, idx: fn(k, e.inputs[0].type.dtype, *_operands(k, e, idx))


def _integer_pow(k, e, idx):
    z = k.value(e.inputs[0], idx)
    y, dtype = e.params["y"], e.outputs[0].type.dtype
    out = integer_power(k.b, dtype, z, y)
    return div(k, one(dtype), out) if y < 0 else out


complex_rules: dict[Primitive, object] = {
    P.add_p: _binary(lambda k, d, x, y: add(k.b, x, y)),
    P.sub_p: _binary(lambda k, d, x, y: sub(k.b, x, y)),
    P.mul_p: _binary(lambda k, d, x, y: mul(k.b, x, y)),
    P.div_p: _binary(lambda k, d, x, y: div(k, x, y)),
    P.eq_p: _binary(lambda k, d, x, y: equal(k.b, x, y)),
    P.ne_p: _binary(lambda k, d, x, y: not_equal(k.b, x, y)),
    P.neg_p: _unary(lambda k, d, z: neg(k.b, z)),
    P.conj_p: _unary(lambda k, d, z: conj(k.b, z)),
    P.real_p: _unary(lambda k, d, z: z.re),
    P.imag_p: _unary(lambda k, d, z: z.im),
    P.complex_p: lambda k, e, idx: Pair(*_operands(k, e, idx)),
    P.abs_p: _unary(magnitude),
    P.integer_pow_p: _integer_pow,
    P.select_p: lambda k, e, idx: select(k.b, *_operands(k, e, idx)),
}
if COMPLEX_LIBC_CALLS:
    complex_rules.update({p: _unary((lambda name: lambda k, d, z: libc_call(k, name, d, z))(n))
                          for p, n in LIBC_FUNCTIONS.items()})
    complex_rules[P.pow_p] = _binary(power)
    complex_rules[P.rsqrt_p] = _unary(  # 1 / sqrt(z), as the interpreter computes it
        lambda k, d, z: div(k, one(d), libc_call(k, "csqrt", d, z)))
# structural primitives move Pairs unchanged (lower.py's fused and root rules)
assert set(complex_rules) <= COMPLEX_NATIVE
