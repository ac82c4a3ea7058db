"""Vectorizable math in LLVM IR, written without branches or library calls.

exp, log, log1p, expm1, tanh, sin, cos, tan, atan2 and pow, for both float dtypes.

LLVM's llvm.exp/llvm.sin intrinsics become scalar C library calls, which stop the loop
vectorizer. These versions use range reduction plus polynomials evaluated with FMA, so a loop
that calls them vectorizes. float32 is computed in float64 and rounded once (that is both
accurate and still vectorizable), except exp and tanh, which have float32 versions of their
own (`_Float32`). sin and cos reduce by pi/2 in three FMA steps, which is
exact enough for |x| <= RANGE_LIMIT; the code generator checks that bound per loop and reruns
the loop with the C library when some argument is outside it (or is inf/nan).
"""

from __future__ import annotations

import math

from llvmlite import ir as L

F32, F64, I32, I64 = L.FloatType(), L.DoubleType(), L.IntType(32), L.IntType(64)
RANGE_LIMIT = 1.0e5
SUPPORTED = {"exp", "log", "log1p", "expm1", "tanh", "sin", "cos", "tan", "atan2", "pow"}
RANGE_REDUCED = {"sin", "cos", "tan"}

# fdlibm's kernel polynomials on |r| <= pi/4 (public-domain constants of the algorithm).
_SIN = [-1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04,
        2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10]
_COS = [4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05,
        -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11]
_PIO2 = [1.57079632673412561417e+00, 6.07710050630396597660e-11, 2.02226624871116645580e-21]
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
# fdlibm's log(1+f) = f - f*f/2 + s*(f*f/2 + R(s*s)) polynomial, s = f/(2+f).
_LG = [6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
       2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
       1.479819860511658591e-01]
# fdlibm's atan(t) = t - t*z*P(z), z = t*t, on |t| <= 7/16.
_AT = [3.33333333333329318027e-01, -1.99999999998764832476e-01, 1.42857142725034663711e-01,
       -1.11111104054623557880e-01, 9.09088713343650656196e-02, -7.69187620504482999495e-02,
       6.66107313738753120669e-02, -5.83357013379057348645e-02, 4.97687799461593236017e-02,
       -3.65315727442169155270e-02, 1.62858201153657823623e-02]
_PI_HI, _PI_LO = 3.14159265358979311600e+00, 1.22464679914735317723e-16
_PIO2_HI, _PIO2_LO = 1.57079632679489655800e+00, 6.12323399573676588613e-17
_PIO4_HI, _PIO4_LO = 7.85398163397448278999e-01, 3.06161699786838301793e-17
_TAN_PI_8 = 0.41421356237309503
_EXP_HI, _EXP_LO = 709.782712893384, -745.1332191019412


def _c(v: float) -> L.Constant:
    return L.Constant(F64, v)


class _Math:
    def __init__(self, module: L.Module, builder: L.IRBuilder):
        self.m, self.b = module, builder

    def fma(self, a, x, c):
        fn = self.m.declare_intrinsic("llvm.fma", [F64], L.FunctionType(F64, [F64] * 3))
        return self.b.call(fn, [a, x, c])

    def horner(self, x, coefficients):
        acc = _c(coefficients[-1])
        for c in reversed(coefficients[:-1]):
            acc = self.fma(acc, x, _c(c))
        return acc

    def roundeven(self, x):
        return self.b.call(self.m.declare_intrinsic("llvm.roundeven", [F64]), [x])

    def fabs(self, x):
        return self.b.call(self.m.declare_intrinsic("llvm.fabs", [F64]), [x])

    # Conversions between doubles and int64 through the bits of 1.5 * 2**52 (exact for
    # |values| < 2**51): AVX2 has no vector fptosi/sitofp for 64-bit integers, and the
    # scalarized conversions (four cvttsd2si and moves between register files per vector)
    # took most of tanh's time.
    _MAGIC = 6755399441055744.0  # 1.5 * 2**52
    _MAGIC_BITS = 0x4338000000000000

    def to_int(self, n):
        """An integer-valued double (|n| < 2**51) as an i64; garbage, never poison, else."""
        bits = self.b.bitcast(self.b.fadd(n, _c(self._MAGIC)), I64)
        return self.b.sub(bits, L.Constant(I64, self._MAGIC_BITS))

    def to_double(self, k):
        """An i64 with |k| < 2**51 as a double."""
        bits = self.b.add(k, L.Constant(I64, self._MAGIC_BITS))
        return self.b.fsub(self.b.bitcast(bits, F64), _c(self._MAGIC))

    def pow2(self, n):
        """2**n for integer-valued double n in [-1022, 1023], built from the exponent bits."""
        bits = self.b.shl(self.b.add(self.to_int(n), L.Constant(I64, 1023)),
                          L.Constant(I64, 52))
        return self.b.bitcast(bits, F64)

    # -- exp ------------------------------------------------------------------------------------
    def exp(self, x):
        b = self.b
        n = self.roundeven(b.fmul(x, _c(1 / math.log(2))))
        r = self.fma(b.fneg(n), _c(_LN2_HI), x)
        r = self.fma(b.fneg(n), _c(_LN2_LO), r)
        taylor = [1.0 / math.factorial(k) for k in range(14)]
        p = self.horner(r, taylor)
        # two half-scalings keep each factor normal, so subnormal results come out right
        n_clamped = b.select(b.fcmp_unordered("uno", n, n), _c(0.0), n)
        n_clamped = b.select(b.fcmp_ordered(">", n_clamped, _c(1100.0)), _c(1100.0), n_clamped)
        n_clamped = b.select(b.fcmp_ordered("<", n_clamped, _c(-1100.0)), _c(-1100.0), n_clamped)
        half = self.roundeven(b.fmul(n_clamped, _c(0.5)))
        half = b.select(b.fcmp_ordered(">", b.fmul(half, _c(2.0)), n_clamped),
                        b.fsub(half, _c(1.0)), half)
        rest = b.fsub(n_clamped, half)
        y = b.fmul(b.fmul(p, self.pow2(half)), self.pow2(rest))
        y = b.select(b.fcmp_ordered(">", x, _c(_EXP_HI)), _c(math.inf), y)
        y = b.select(b.fcmp_ordered("<", x, _c(_EXP_LO)), _c(0.0), y)
        return b.select(b.fcmp_unordered("uno", x, x), x, y)

    # -- sin / cos ------------------------------------------------------------------------------
    def _reduce(self, x):
        b = self.b
        q = self.roundeven(b.fmul(x, _c(2 / math.pi)))
        r = x
        for part in _PIO2:
            r = self.fma(b.fneg(q), _c(part), r)
        quadrant = b.and_(self.to_int(q), L.Constant(I64, 3))  # (|q| < 2**51 in range)
        return r, quadrant

    def _kernel_sin(self, r):
        z = self.b.fmul(r, r)
        return self.fma(self.b.fmul(z, r), self.horner(z, _SIN), r)

    def _kernel_cos(self, r):
        b = self.b
        z = b.fmul(r, r)
        tail = b.fmul(z, b.fmul(z, self.horner(z, _COS)))
        hz = b.fmul(z, _c(0.5))
        w = b.fsub(_c(1.0), hz)
        return b.fadd(w, b.fadd(b.fsub(b.fsub(_c(1.0), w), hz), tail))

    def sin_cos(self, x, want_cos: bool):
        b = self.b
        r, quadrant = self._reduce(x)
        s, c = self._kernel_sin(r), self._kernel_cos(r)
        q = quadrant if not want_cos else b.and_(b.add(quadrant, L.Constant(I64, 1)),
                                                 L.Constant(I64, 3))
        odd = b.icmp_unsigned("==", b.and_(q, L.Constant(I64, 1)), L.Constant(I64, 1))
        value = b.select(odd, c, s)
        negative = b.icmp_unsigned(">=", q, L.Constant(I64, 2))
        return b.select(negative, b.fneg(value), value)

    # -- helpers --------------------------------------------------------------------------------
    def select(self, cond, a, b):
        return self.b.select(cond, a, b)

    def lt(self, a, v):
        return self.b.fcmp_ordered("<", a, _c(v) if isinstance(v, float) else v)

    def gt(self, a, v):
        return self.b.fcmp_ordered(">", a, _c(v) if isinstance(v, float) else v)

    def eq(self, a, v):
        return self.b.fcmp_ordered("==", a, _c(v) if isinstance(v, float) else v)

    def isnan(self, x):
        return self.b.fcmp_unordered("uno", x, x)

    def copysign(self, magnitude, sign):
        fn = self.m.declare_intrinsic("llvm.copysign", [F64], L.FunctionType(F64, [F64, F64]))
        return self.b.call(fn, [magnitude, sign])

    def signbit(self, x):
        return self.b.icmp_signed("<", self.b.bitcast(x, I64), L.Constant(I64, 0))

    # -- log family -----------------------------------------------------------------------------
    def _split(self, u):
        """u > 0 as 2**k * m with m in [sqrt(2)/2, sqrt(2)): returns (k as double, m)."""
        b = self.b
        tiny = self.lt(u, 2.2250738585072014e-308)  # subnormal: scale into the normal range
        scaled = self.select(tiny, b.fmul(u, _c(2.0 ** 54)), u)
        bits = b.bitcast(scaled, I64)
        k = b.sub(b.ashr(bits, L.Constant(I64, 52)), L.Constant(I64, 1023))
        k = b.sub(k, self.select(tiny, L.Constant(I64, 54), L.Constant(I64, 0)))
        m_bits = b.or_(b.and_(bits, L.Constant(I64, (1 << 52) - 1)),
                       L.Constant(I64, 0x3FF << 52))
        m = b.bitcast(m_bits, F64)
        big = self.gt(m, math.sqrt(2.0))
        m = self.select(big, b.fmul(m, _c(0.5)), m)
        k = b.add(k, b.zext(big, I64))
        return self.to_double(k), m

    def _log_kernel(self, dk, f, correction):
        """dk*ln2 + log(1+f) + correction (fdlibm's evaluation order)."""
        b = self.b
        s = b.fdiv(f, b.fadd(_c(2.0), f))
        z = b.fmul(s, s)
        r = b.fmul(z, self.horner(z, _LG))
        hfsq = b.fmul(_c(0.5), b.fmul(f, f))
        inner = b.fadd(b.fmul(s, b.fadd(hfsq, r)), b.fadd(b.fmul(dk, _c(_LN2_LO)), correction))
        return b.fsub(b.fmul(dk, _c(_LN2_HI)), b.fsub(b.fsub(hfsq, inner), f))

    def log(self, x):
        b = self.b
        dk, m = self._split(x)
        y = self._log_kernel(dk, b.fsub(m, _c(1.0)), _c(0.0))
        y = self.select(self.eq(x, math.inf), x, y)
        y = self.select(self.eq(x, 0.0), _c(-math.inf), y)
        y = self.select(self.lt(x, 0.0), _c(math.nan), y)
        return self.select(self.isnan(x), x, y)

    def log1p(self, x):
        b = self.b
        u = b.fadd(_c(1.0), x)
        dk, m = self._split(u)
        k_zero = self.eq(dk, 0.0)
        # the rounding error of 1 + x, relative to u: log(1+x) = log(u) + c
        c = self.select(self.gt(dk, 0.0), b.fsub(_c(1.0), b.fsub(u, x)),
                        b.fsub(x, b.fsub(u, _c(1.0))))
        c = self.select(k_zero, _c(0.0), b.fdiv(c, u))
        f = self.select(k_zero, x, b.fsub(m, _c(1.0)))  # with k = 0, f = x exactly
        y = self._log_kernel(dk, f, c)
        y = self.select(self.eq(x, math.inf), x, y)
        y = self.select(self.eq(x, -1.0), _c(-math.inf), y)
        y = self.select(self.lt(x, -1.0), _c(math.nan), y)
        y = self.select(self.eq(x, 0.0), x, y)  # keeps -0.0
        return self.select(self.isnan(x), x, y)

    def expm1(self, x):
        """x = n*ln2 + r: expm1(x) = 2**n * expm1(r) + (2**n - 1), expm1(r) by a series."""
        b = self.b
        n = self.roundeven(b.fmul(x, _c(1 / math.log(2))))
        n = self.select(self.isnan(n), _c(0.0), n)
        n = self.select(self.gt(n, 1024.0), _c(1024.0), n)
        n = self.select(self.lt(n, -60.0), _c(-60.0), n)
        r = self.fma(b.fneg(n), _c(_LN2_HI), x)
        r = self.fma(b.fneg(n), _c(_LN2_LO), r)
        series = [1.0 / math.factorial(k) for k in range(2, 16)]
        em = self.fma(b.fmul(r, r), self.horner(r, series), r)
        large = self.gt(n, 52.0)  # the -1 no longer matters; 2**n may be 2**1024
        t = self.pow2(self.select(large, b.fsub(n, _c(1.0)), n))
        small_result = b.fadd(b.fmul(t, em), b.fsub(t, _c(1.0)))
        large_result = b.fmul(b.fmul(t, b.fadd(_c(1.0), em)), _c(2.0))
        y = self.select(large, large_result, small_result)
        y = self.select(self.lt(x, -40.0), _c(-1.0), y)
        y = self.select(self.gt(x, _EXP_HI), _c(math.inf), y)
        y = self.select(self.eq(x, 0.0), x, y)  # keeps -0.0
        return self.select(self.isnan(x), x, y)

    def tanh(self, x):
        b = self.b
        a = self.fabs(x)
        e = self.expm1(b.fmul(a, _c(-2.0)))
        t = b.fdiv(b.fneg(e), b.fadd(_c(2.0), e))
        t = self.select(self.gt(a, 22.0), _c(1.0), t)
        return self.select(self.isnan(x), x, self.copysign(t, x))

    # -- tan, atan2 -----------------------------------------------------------------------------
    def tan(self, x):
        b = self.b
        r, quadrant = self._reduce(x)
        s, c = self._kernel_sin(r), self._kernel_cos(r)
        odd = b.icmp_unsigned("==", b.and_(quadrant, L.Constant(I64, 1)), L.Constant(I64, 1))
        return self.select(odd, b.fdiv(b.fneg(c), s), b.fdiv(s, c))

    def _atan_poly(self, t):
        b = self.b
        z = b.fmul(t, t)
        return self.fma(b.fneg(b.fmul(t, z)), self.horner(z, _AT), t)

    def atan2(self, y, x):
        b = self.b
        ax, ay = self.fabs(x), self.fabs(y)
        swap = self.gt(ay, ax)
        num, den = self.select(swap, ax, ay), self.select(swap, ay, ax)
        t = b.fdiv(num, den)
        t = self.select(self.eq(den, 0.0), _c(0.0), t)  # both zero
        t = self.select(self.eq(num, math.inf), _c(1.0), t)  # both infinite
        big = self.gt(t, _TAN_PI_8)
        t2 = self.select(big, b.fdiv(b.fsub(t, _c(1.0)), b.fadd(t, _c(1.0))), t)
        p = self._atan_poly(t2)
        a = self.select(big, b.fadd(_c(_PIO4_HI), b.fadd(p, _c(_PIO4_LO))), p)
        a = self.select(swap, b.fadd(b.fsub(_c(_PIO2_HI), a), _c(_PIO2_LO)), a)
        a = self.select(self.signbit(x), b.fadd(b.fsub(_c(_PI_HI), a), _c(_PI_LO)), a)
        a = self.copysign(a, y)
        return self.select(b.fcmp_unordered("uno", x, y), b.fadd(x, y), a)

    # -- pow ------------------------------------------------------------------------------------
    def two_sum(self, a, c):
        b = self.b
        s = b.fadd(a, c)
        v = b.fsub(s, a)
        return s, b.fadd(b.fsub(a, b.fsub(s, v)), b.fsub(c, v))

    def fast_two_sum(self, a, c):  # |a| >= |c|
        b = self.b
        s = b.fadd(a, c)
        return s, b.fsub(c, b.fsub(s, a))

    def log_dd(self, ax):
        """log(ax) as hi + lo, good to ~2**-66 relative, for finite ax > 0 (other values give
        garbage; the caller selects around them)."""
        b = self.b
        dk, m = self._split(ax)
        f = b.fsub(m, _c(1.0))  # exact
        d = b.fadd(_c(2.0), f)
        d_lo = b.fadd(b.fsub(_c(2.0), d), f)  # d + d_lo == 2 + f exactly
        s_hi = b.fdiv(f, d)
        residual = b.fsub(self.fma(b.fneg(s_hi), d, f), b.fmul(s_hi, d_lo))
        s_lo = b.fdiv(residual, d)  # s_hi + s_lo = f / (2 + f)
        # log(1+f) = 2s + (2/3)s^3 + s^5 Q(s^2); the first two terms in double-double
        s2 = b.fmul(s_hi, s_hi)
        s2_lo = b.fadd(self.fma(s_hi, s_hi, b.fneg(s2)), b.fmul(_c(2.0), b.fmul(s_hi, s_lo)))
        s3 = b.fmul(s2, s_hi)
        s3_lo = b.fadd(self.fma(s2, s_hi, b.fneg(s3)),
                       b.fadd(b.fmul(s2_lo, s_hi), b.fmul(s2, s_lo)))
        c_hi, c_lo = 2.0 / 3.0, 3.700743415417188e-17  # 2/3 = c_hi + c_lo
        t = b.fmul(s3, _c(c_hi))
        t_lo = b.fadd(self.fma(s3, _c(c_hi), b.fneg(t)),
                      b.fadd(b.fmul(s3, _c(c_lo)), b.fmul(s3_lo, _c(c_hi))))
        series = [2.0 / (2 * n + 5) for n in range(10)]
        tail = b.fmul(b.fmul(s3, s2), self.horner(s2, series))
        hi, err = self.two_sum(b.fmul(_c(2.0), s_hi), t)
        lo = b.fadd(err, b.fadd(b.fmul(_c(2.0), s_lo), b.fadd(t_lo, tail)))
        lm_hi, lm_lo = self.fast_two_sum(hi, lo)
        k_hi = b.fmul(dk, _c(_LN2_HI))  # exact: ln2_hi has trailing zero bits
        k_lo = b.fmul(dk, _c(_LN2_LO))
        h, e = self.two_sum(k_hi, lm_hi)
        return self.fast_two_sum(h, b.fadd(e, b.fadd(lm_lo, k_lo)))

    def pow(self, x, y):
        """float64 pow: exp(y * log|x|) with log|x| and the product in double-double, so that
        |y log x| up to ~745 keeps the result within a few ulp; signs and special values as
        C99/numpy."""
        b = self.b
        ax = self.fabs(x)
        l_hi, l_lo = self.log_dd(ax)
        l_hi = self.select(self.eq(ax, 0.0), _c(-math.inf), l_hi)
        l_hi = self.select(self.eq(ax, math.inf), _c(math.inf), l_hi)
        l_hi = self.select(self.isnan(ax), ax, l_hi)
        p = b.fmul(y, l_hi)
        p_lo = b.fadd(self.fma(y, l_hi, b.fneg(p)), b.fmul(y, l_lo))
        finite = b.fcmp_ordered("<", self.fabs(p), _c(math.inf))
        p_lo = self.select(finite, p_lo, _c(0.0))
        r = self.exp(p)
        r_finite = b.fcmp_ordered("<", r, _c(math.inf))
        r = self.select(r_finite, self.fma(r, p_lo, r), r)
        return self._pow_signs(x, y, ax, r)

    def _pow_signs(self, x, y, ax, r):
        b = self.b
        integer = self.eq(self.roundeven(y), y)
        half = b.fmul(y, _c(0.5))
        odd = b.and_(integer, b.fcmp_ordered("!=", self.roundeven(half), half))
        negative = self.signbit(x)
        r = self.select(b.and_(negative, odd), b.fneg(r), r)
        finite_negative = b.and_(self.lt(x, 0.0), self.gt(x, -math.inf))
        r = self.select(b.and_(finite_negative, b.not_(integer)), _c(math.nan), r)
        r = self.select(b.and_(self.eq(ax, 1.0), self.eq(self.fabs(y), math.inf)), _c(1.0), r)
        r = self.select(self.eq(x, 1.0), _c(1.0), r)
        return self.select(self.eq(y, 0.0), _c(1.0), r)

    # -- pow (float32 arguments, evaluated in float64) --------------------------------------
    def pow_f32(self, x, y):
        b = self.b
        ax = self.fabs(x)
        r = self.exp(b.fmul(y, self.log(ax)))
        return self._pow_signs(x, y, ax, r)


# -- float32's exp and tanh in float32 arithmetic ----------------------------------------------
# Eight lanes to a vector instead of four, and float32 divisions: softmax's exp and GELU's
# tanh are the hot loops around a transformer's products. Within 1 ulp of the correctly
# rounded value (tests/codegen/test_vecmath.py): each result is a few roundings away from
# exact, none of them amplified (see the error notes in each method).

_LN2_HI_F32, _LN2_LO_F32 = 0.693145751953125, 1.428606765330187e-06  # hi: 16 bits, exact n*hi
_EXP_F32_SERIES = [1.0 / math.factorial(k) for k in range(2, 8)]  # r**8 / 8! < 6e-9
# tanh(x) = x + x**3 P(x**2) on |x| <= 1: a least-squares fit (Chebyshev nodes in x**2,
# weighted for relative error) of (tanh(x) - x) / x**3, coefficients rounded to float32;
# relative error under 1e-8 (0.16 ulp) on [0, 1].
_TANH_F32 = [-0.33333292603492737, 0.1333228200674057, -0.053875990211963654,
             0.021475810557603836, -0.00793032068759203, 0.0022899808827787638,
             -0.0003552257257979363]
_TANH_F32_SPLIT = 1.0  # above: 1 - 2 / (exp(2|x|) + 1), cancellation at most 2/(e**2 - 1)


def _f(v: float) -> L.Constant:
    return L.Constant(F32, v)


class _Float32:
    """exp and tanh of float32 values computed in float32 (FMA-evaluated polynomials)."""

    def __init__(self, module: L.Module, builder: L.IRBuilder):
        self.m, self.b = module, builder

    def call(self, name, *args):
        kind = L.FunctionType(F32, [F32] * len(args))
        return self.b.call(self.m.declare_intrinsic("llvm." + name, [F32], kind), list(args))

    def horner(self, x, coefficients):
        acc = _f(coefficients[-1])
        for c in reversed(coefficients[:-1]):
            acc = self.call("fma", acc, x, _f(c))
        return acc

    def clamp(self, x, lo, hi):
        """x within [lo, hi]; nan becomes 0 (the caller selects nan back in)."""
        b = self.b
        x = b.select(b.fcmp_unordered("uno", x, x), _f(0.0), x)
        x = b.select(b.fcmp_ordered(">", x, _f(hi)), _f(hi), x)
        return b.select(b.fcmp_ordered("<", x, _f(lo)), _f(lo), x)

    def pow2(self, n):
        """2**n for integer-valued n in [-126, 127], from the exponent bits."""
        b = self.b
        k = b.add(b.fptosi(n, I32), L.Constant(I32, 127))
        return b.bitcast(b.shl(k, L.Constant(I32, 23)), F32)

    def exp_core(self, x, wide_range: bool = True):
        """exp(x) for x in [-110, 100] (no nan): x = n ln2 + r, |r| <= ln2/2 (exact with
        FMA), e**r = 1 + (r + r**2 Q(r)) with one rounding of a term below 0.42 and one of the
        sum: under 0.75 ulp. With wide_range, 2**n in two normal factors, so subnormal results
        round once and large ones overflow to inf; else x must be in [-87, 88]."""
        b = self.b
        n = self.call("roundeven", b.fmul(x, _f(1 / math.log(2))))
        r = self.call("fma", b.fneg(n), _f(_LN2_HI_F32), x)
        r = self.call("fma", b.fneg(n), _f(_LN2_LO_F32), r)
        p = b.fadd(_f(1.0), self.call("fma", b.fmul(r, r), self.horner(r, _EXP_F32_SERIES), r))
        if not wide_range:
            return b.fmul(p, self.pow2(n))
        half = self.call("floor", b.fmul(n, _f(0.5)))
        return b.fmul(b.fmul(p, self.pow2(half)), self.pow2(b.fsub(n, half)))

    def exp(self, x):
        y = self.exp_core(self.clamp(x, -110.0, 100.0))
        return self.b.select(self.b.fcmp_unordered("uno", x, x), x, y)

    def tanh(self, x):
        """|x| <= 1: the odd polynomial (its rounding errors stay under 0.3 of the result's
        ulp); above, 1 - 2/(e + 1) with e = exp(2|x|) (2|x| clamped at 19: tanh rounds to 1
        from 9.01), whose ~1.75 ulp error in 2/(e + 1) reaches the result times
        2/(e - 1) <= 0.32. The sign copied back keeps -0.0."""
        b = self.b
        a = self.call("minnum", self.call("fabs", x), _f(9.5))  # (nan: 9.5)
        a2 = b.fmul(a, a)
        small = self.call("fma", b.fmul(a2, a), self.horner(a2, _TANH_F32), a)
        e = self.exp_core(b.fmul(a, _f(2.0)), wide_range=False)
        large = b.fsub(_f(1.0), b.fdiv(_f(2.0), b.fadd(e, _f(1.0))))
        t = b.select(b.fcmp_ordered("<=", a, _f(_TANH_F32_SPLIT)), small, large)
        t = self.call("copysign", t, x)
        return b.select(b.fcmp_unordered("uno", x, x), x, t)


def emit(module: L.Module, builder: L.IRBuilder, name: str, is_f32: bool, *args):
    """The vectorizable `name`(*args) inline at the builder's position (float32 via float64)."""
    if is_f32 and name in ("exp", "tanh"):
        return getattr(_Float32(module, builder), name)(args[0])
    m = _Math(module, builder)
    wide = [builder.fpext(a, F64) if is_f32 else a for a in args]
    if name in ("sin", "cos"):
        out = m.sin_cos(wide[0], want_cos=(name == "cos"))
    elif name == "pow":
        out = m.pow_f32(*wide) if is_f32 else m.pow(*wide)
    else:
        out = getattr(m, name)(*wide)
    return builder.fptrunc(out, F32) if is_f32 else out


def available(name: str, is_f32: bool) -> bool:
    return name in SUPPORTED


def needs_range_check(name: str) -> bool:
    return name in RANGE_REDUCED


def out_of_range(builder: L.IRBuilder, module: L.Module, x, is_f32: bool):
    """i1: |x| > RANGE_LIMIT, or x is nan (the fast reduction is not trusted there)."""
    wide = builder.fpext(x, F64) if is_f32 else x
    magnitude = builder.call(module.declare_intrinsic("llvm.fabs", [F64]), [wide])
    return builder.fcmp_unordered(">", magnitude, _c(RANGE_LIMIT))
