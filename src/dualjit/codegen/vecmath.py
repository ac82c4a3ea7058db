"""Vectorizable math in LLVM IR: exp, sin and cos written without branches or library calls.

LLVM's llvm.exp/llvm.sin intrinsics become scalar C library calls, which stop the loop
vectorizer. These versions use range reduction plus polynomials evaluated with FMA, so a loop
that calls them vectorizes. float32 is computed in float64 and rounded once (that is both
accurate and still vectorizable). sin and cos reduce by pi/2 in three FMA steps, which is
exact enough for |x| <= RANGE_LIMIT; the code generator checks that bound per loop and reruns
the loop with the C library when some argument is outside it (or is inf/nan).
"""

from __future__ import annotations

import math

from llvmlite import ir as L

F32, F64, I64 = L.FloatType(), L.DoubleType(), L.IntType(64)
RANGE_LIMIT = 1.0e5
SUPPORTED = {"exp", "sin", "cos"}

# fdlibm's kernel polynomials on |r| <= pi/4 (public-domain constants of the algorithm).
_SIN = [-1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04,
        2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10]
_COS = [4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05,
        -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11]
_PIO2 = [1.57079632673412561417e+00, 6.07710050630396597660e-11, 2.02226624871116645580e-21]
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
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

    def pow2(self, n):
        """2**n for integer-valued double n in [-1022, 1023], built from the exponent bits."""
        bits = self.b.shl(self.b.add(self.b.fptosi(n, I64), L.Constant(I64, 1023)),
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
        quadrant = b.and_(b.fptosi(q, I64), L.Constant(I64, 3))
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


def emit(module: L.Module, builder: L.IRBuilder, name: str, is_f32: bool, x):
    """The vectorizable `name`(x) inline at the builder's position (float32 via float64)."""
    m = _Math(module, builder)
    wide = builder.fpext(x, F64) if is_f32 else x
    if name == "exp":
        out = m.exp(wide)
    else:
        out = m.sin_cos(wide, want_cos=(name == "cos"))
    return builder.fptrunc(out, F32) if is_f32 else out


def needs_range_check(name: str) -> bool:
    return name in ("sin", "cos")


def out_of_range(builder: L.IRBuilder, module: L.Module, x, is_f32: bool):
    """i1: |x| > RANGE_LIMIT, or x is nan (the fast reduction is not trusted there)."""
    wide = builder.fpext(x, F64) if is_f32 else x
    magnitude = builder.call(module.declare_intrinsic("llvm.fabs", [F64]), [wide])
    return builder.fcmp_unordered(">", magnitude, _c(RANGE_LIMIT))
