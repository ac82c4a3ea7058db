"""numpy implementations of the special-function primitives (erf, lgamma, digamma, ...).

Vectorized, branch-free formulas (every piece is evaluated and the right one selected),
written once over an array namespace `xp`: numpy here (the primitives' implementations), and
dualjit.numpy in codegen/special.py, which traces a formula at one float64 scalar and emits it
inline in a kernel's loop (the native versions). So they use only operations both have and
that lower natively: arithmetic, comparisons, where, abs, floor, ceil, exp, log, log1p, sqrt,
sin, cos, tan, maximum, minimum and float64 <-> float32 conversion. Everything is computed in
float64 (float32 arguments are rounded once at the end). Only numpy and the Python standard
library are used: scipy is a test-time reference, not a dependency.

erf, erfc and lgamma evaluate fdlibm's rational approximations (Sun Microsystems, freely
redistributable: "Permission to use, copy, modify, and distribute this software is freely
granted, provided that this notice is preserved"); the coefficients are theirs, the
arrangement ours. digamma and polygamma use series whose coefficients are computed here from
the Bernoulli numbers; erfinv and ndtri refine a rough start with Halley steps on erf/erfc.
"""

from __future__ import annotations

import functools
import math

import numpy as np

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


INF = math.inf


def horner(x, coefficients):
    """c[0] + c[1] x + c[2] x^2 + ... (lowest degree first)."""
    acc = x * 0.0 + coefficients[-1]
    for c in reversed(coefficients[:-1]):
        acc = acc * x + c
    return acc


def is_nan(x):
    return x != x


def is_finite(x, xp):
    return xp.abs(x) < INF


def signed(magnitude, x, xp):
    """magnitude with the sign of a nonzero x (copysign without the bit operations)."""
    return xp.where(x < 0, -magnitude, magnitude)


def trunc(x, xp):
    return xp.where(x < 0, xp.ceil(x), xp.floor(x))


def clip(x, low, high, xp):
    return xp.minimum(xp.maximum(x, low), high)


def to_float32_and_back(x, xp):
    """x rounded to 24 significant bits: its square is exact in float64."""
    return xp.astype(xp.astype(x, xp.float32), xp.float64)


def _float64(x) -> tuple[np.ndarray, np.dtype]:
    x = np.asarray(x)
    return x.astype(np.float64), x.dtype


def _finish(y: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return y.astype(dtype) if dtype != np.float64 else y


formulas: dict[str, object] = {}  # name -> formula(x, xp), x float64


def elementwise(formula):
    """A float64 formula as a primitive implementation on numpy: any float dtype, no FP
    warnings. The formula itself is kept in `formulas` for the native lowering."""
    formulas[formula.__name__] = formula

    def impl(x):
        x64, dtype = _float64(x)
        with np.errstate(all="ignore"):
            return np.asarray(_finish(formula(x64, np), dtype))
    impl.__name__ = formula.__name__
    impl.__doc__ = formula.__doc__
    impl.formula = formula
    return impl


def exp_of_square(x, sign: float, xp):
    """exp(sign * x*x) without the error of rounding x*x: x = z + d with z*z exact, so
    x*x = z*z + (x + z)*d, and the second part is small (fdlibm's erfc trick)."""
    z = to_float32_and_back(x, xp)
    square = z * z
    # where z*z >= 2000 exp(sign z*z) alone is 0 or inf (and x - z may be huge)
    small = xp.where(square < 2000.0, (x + z) * (x - z), 0.0)
    return xp.exp(sign * square) * xp.exp(sign * small)


# ---------------------------------------------------------------------------------------------
# erf, erfc, erfcx (fdlibm s_erf.c)
# ---------------------------------------------------------------------------------------------

ERX = 8.45062911510467529297e-01  # erf(1) rounded to float32
EFX = 1.28379167095512586316e-01  # 2/sqrt(pi) - 1
PP = (1.28379167095512558561e-01, -3.25042107247001499370e-01, -2.84817495755985104766e-02,
      -5.77027029648944159157e-03, -2.37630166566501626084e-05)
QQ = (1.0, 3.97917223959155352819e-01, 6.50222499887672944485e-02,
      5.08130628187576562776e-03, 1.32494738004321644526e-04, -3.96022827877536812320e-06)
PA = (-2.36211856075265944077e-03, 4.14856118683748331666e-01, -3.72207876035701323847e-01,
      3.18346619901161753674e-01, -1.10894694282396677476e-01, 3.54783043256182359371e-02,
      -2.16637559486879084300e-03)
QA = (1.0, 1.06420880400844228286e-01, 5.40397917702171048937e-01, 7.18286544141962662868e-02,
      1.26171219808761642112e-01, 1.36370839120290507362e-02, 1.19844998467991074170e-02)
RA = (-9.86494403484714822705e-03, -6.93858572707181764372e-01, -1.05586262253232909814e+01,
      -6.23753324503260060396e+01, -1.62396669462573470355e+02, -1.84605092906711035994e+02,
      -8.12874355063065934246e+01, -9.81432934416914548592e+00)
SA = (1.0, 1.96512716674392571292e+01, 1.37657754143519042600e+02, 4.34565877475229228821e+02,
      6.45387271733267880336e+02, 4.29008140027567833386e+02, 1.08635005541779435134e+02,
      6.57024977031928170135e+00, -6.04244152148580987438e-02)
RB = (-9.86494292470009928597e-03, -7.99283237680523006574e-01, -1.77579549177547519889e+01,
      -1.60636384855821916062e+02, -6.37566443368389627722e+02, -1.02509513161107724954e+03,
      -4.83519191608651397019e+02)
SB = (1.0, 3.03380607434824582924e+01, 3.25792512996573918826e+02, 1.53672958608443695994e+03,
      3.19985821950859553908e+03, 2.55305040643316442583e+03, 4.74528541206955367215e+02,
      -2.24409524465858183362e+01)
SMALL, MIDDLE, TAIL_SPLIT = 0.84375, 1.25, 1 / 0.35


def _erf_small(x):
    """(erf(x) - x) / x on |x| < 0.84375, as a rational function of x*x."""
    z = x * x
    return horner(z, PP) / horner(z, QQ)


def _erf_middle(ax):
    """erf(|x|) - ERX on 0.84375 <= |x| < 1.25, in s = |x| - 1."""
    s = ax - 1.0
    return horner(s, PA) / horner(s, QA)


def _tail_exponent(ax, xp):
    """g with erfc(|x|) = exp(-x*x - 0.5625 + g) / |x|, for |x| >= 1.25."""
    s = 1.0 / (ax * ax)
    near = ax < TAIL_SPLIT
    return xp.where(near, horner(s, RA) / horner(s, SA), horner(s, RB) / horner(s, SB))


def _erfc_tail(ax, xp):
    """erfc(|x|) for 1.25 <= |x| < 28: exp(-x*x) taken as exp(-z*z) exp((z-x)(z+x)) with z
    = x rounded to 24 significant bits, so z*z is exact."""
    z = to_float32_and_back(ax, xp)
    g = _tail_exponent(ax, xp)
    return xp.exp(-z * z - 0.5625) * xp.exp((z - ax) * (z + ax) + g) / ax


def _erf(x, xp):
    ax = xp.abs(x)
    small = x + x * _erf_small(x)
    tiny = 0.125 * (8.0 * x + (8.0 * EFX) * x)  # |x| < 2**-28, without underflow
    middle = signed(ERX + _erf_middle(ax), x, xp)
    tail = signed(1.0 - _erfc_tail(clip(ax, MIDDLE, 6.0, xp), xp), x, xp)
    out = xp.where(ax < SMALL, xp.where(ax < 2.0 ** -28, tiny, small),
                   xp.where(ax < MIDDLE, middle, xp.where(ax < 6.0, tail, signed(1.0, x, xp))))
    return xp.where(is_nan(x), x, out)


def _erfc(x, xp):
    ax = xp.abs(x)
    r = x * _erf_small(x)
    small = xp.where(x < 0.25, 1.0 - (x + r), 0.5 - (r + (x - 0.5)))
    middle_part = _erf_middle(ax)
    middle = xp.where(x >= 0, (1.0 - ERX) - middle_part, 1.0 + (ERX + middle_part))
    tail = _erfc_tail(clip(ax, MIDDLE, 28.0, xp), xp)
    tail = xp.where(x > 0, xp.where(ax < 28.0, tail, 0.0), xp.where(ax < 6.0, 2.0 - tail, 2.0))
    out = xp.where(ax < SMALL, small, xp.where(ax < MIDDLE, middle, tail))
    return xp.where(is_nan(x), x, out)


@elementwise
def erf(x, xp):
    """erf(x) = 2/sqrt(pi) * integral of exp(-t^2) from 0 to x."""
    return _erf(x, xp)


@elementwise
def erfc(x, xp):
    """erfc(x) = 1 - erf(x), accurate where it is tiny (x large)."""
    return _erfc(x, xp)


def _erfcx(x, xp):
    ax = xp.maximum(x, MIDDLE)
    tail = xp.exp(-0.5625 + _tail_exponent(ax, xp)) / ax  # exp(x^2) erfc(x) for x >= 1.25
    near = exp_of_square(xp.minimum(x, MIDDLE), 1.0, xp) * _erfc(xp.minimum(x, MIDDLE), xp)
    return xp.where(x >= MIDDLE, tail, near)


@elementwise
def erfcx(x, xp):
    """exp(x*x) * erfc(x), without overflow or underflow for large x."""
    return _erfcx(x, xp)


SQRT_HALF = math.sqrt(0.5)
LOWER_TAIL = -MIDDLE / SQRT_HALF  # ndtr's erfc argument reaches the tail formula


def _ndtr_lower_tail(x, xp):
    """ndtr(x) = erfc(t) / 2 for t = -x / sqrt(2) >= 1.25, with exp(-t*t) = exp(-x*x / 2)
    taken from x itself: rounding t first would cost 2 t*t ulps."""
    t = -x * SQRT_HALF
    return 0.5 * exp_of_square(x, -0.5, xp) * (xp.exp(_tail_exponent(t, xp) - 0.5625) / t)


@elementwise
def ndtr(x, xp):
    """The standard normal CDF: from erf near 0, from erfc (the smaller side) in the tails."""
    t = x * SQRT_HALF
    z = xp.abs(t)
    small_side = xp.where(z < MIDDLE, 0.5 * _erfc(xp.minimum(z, MIDDLE), xp),
                          _ndtr_lower_tail(xp.minimum(-xp.abs(x), LOWER_TAIL), xp))
    out = xp.where(z < SQRT_HALF, 0.5 + 0.5 * _erf(t, xp),
                   xp.where(x < 0, small_side, 1.0 - small_side))
    return xp.where(is_nan(x), x, out)


# ---------------------------------------------------------------------------------------------
# lgamma (fdlibm e_lgamma_r.c) and sin(pi x)
# ---------------------------------------------------------------------------------------------

TC, TF, TT = 1.46163214496836224576e+00, -1.21486290535849611461e-01, -3.63867699703950536541e-18
A_EVEN = (7.72156649015328655494e-02, 6.73523010531292681824e-02, 7.38555086081402883957e-03,
          1.19270763183362067845e-03, 2.20862790713908385557e-04, 2.52144565451257326939e-05)
A_ODD = (3.22467033424113591611e-01, 2.05808084325167332806e-02, 2.89051383673415629091e-03,
         5.10069792153511336608e-04, 1.08011567247583939954e-04, 4.48640949618915160150e-05)
T_0 = (4.83836122723810047042e-01, -3.27885410759859649565e-02, 6.10053870246291332635e-03,
       -1.40346469989232843813e-03, 3.15632070903625950361e-04)
T_1 = (-1.47587722994593911752e-01, 1.79706750811820387126e-02, -3.68452016781138256760e-03,
       8.81081882437654011382e-04, -3.12754168375120860518e-04)
T_2 = (6.46249402391333854778e-02, -1.03142241298341437450e-02, 2.25964780900612472250e-03,
       -5.38595305356740546715e-04, 3.35529192635519073543e-04)
U = (-7.72156649015328655494e-02, 6.32827064025093366517e-01, 1.45492250137234768737e+00,
     9.77717527963372745603e-01, 2.28963728064692451092e-01, 1.33810918536787660377e-02)
V = (1.0, 2.45597793713041134822e+00, 2.12848976379893395361e+00, 7.69285150456672783825e-01,
     1.04222645593369134254e-01, 3.21709242282423911810e-03)
S_ = (-7.72156649015328655494e-02, 2.14982415960608852501e-01, 3.25778796408930981787e-01,
      1.46350472652464452805e-01, 2.66422703033638609560e-02, 1.84028451407337715652e-03,
      3.19475326584100867617e-05)
R_ = (1.0, 1.39200533467621045958e+00, 7.21935547567138069525e-01, 1.71933865632803078993e-01,
      1.86459191715652901344e-02, 7.77942496381893596434e-04, 7.32668430744625636189e-06)
W = (4.18938533204672725052e-01, 8.33333333333329678849e-02, -2.77777777728775536470e-03,
     7.93650558643019558500e-04, -5.95187557450339963135e-04, 8.36339918996282139126e-04,
     -1.63092934096575273989e-03)


def _lgamma_near_two(y):
    """lgamma(2 - y) for y in [-0.27, 0.27] (around the zero at 2)."""
    z = y * y
    return y * horner(z, A_EVEN) + z * horner(z, A_ODD) - 0.5 * y


def _lgamma_near_minimum(y):
    """lgamma(TC + y) for |y| <= 0.27 (around the minimum of gamma)."""
    z = y * y
    w = z * y
    p = z * horner(w, T_0) - (TT - w * (horner(w, T_1) + y * horner(w, T_2)))
    return TF + p


def _lgamma_near_one(y):
    """lgamma(1 + y) for y in [-0.1, 0.27] (around the zero at 1)."""
    return -0.5 * y + y * horner(y, U) / horner(y, V)


def _lgamma_small(x, xp):
    """lgamma(x) for 0 < x < 2."""
    below = x <= 0.9  # lgamma(x) = lgamma(x + 1) - log(x)
    r = xp.where(below, -xp.log(x), 0.0)
    near_two = xp.where(below, x >= 0.7316, x >= 1.7316)
    near_min = xp.where(below, x >= 0.2316, x >= 1.2316)
    y_two = xp.where(below, 1.0 - x, 2.0 - x)
    y_min = xp.where(below, x - (TC - 1.0), x - TC)
    y_one = xp.where(below, x, x - 1.0)
    part = xp.where(near_two, _lgamma_near_two(y_two),
                    xp.where(near_min, _lgamma_near_minimum(y_min), _lgamma_near_one(y_one)))
    return r + part


def _lgamma_medium(x, xp):
    """lgamma(x) for 2 <= x < 8: lgamma(2 + y) times the rising product down to it."""
    i = xp.floor(x)
    y = x - i
    r = 0.5 * y + horner(y, S_) * y / horner(y, R_)
    z = x * 0.0 + 1.0
    for k in range(2, 7):
        z = xp.where(i > k, z * (y + k), z)
    return r + xp.log(z)


def _lgamma_large(x, xp):
    """lgamma(x) for x >= 8: Stirling's series in 1/x."""
    t = xp.log(x)
    z = 1.0 / x
    w = W[0] + z * horner(z * z, W[1:])
    huge = x >= 2.0 ** 58
    return xp.where(huge, x * (t - 1.0), (x - 0.5) * (t - 1.0) + w)


def sin_pi(x, xp):
    """sin(pi x), exact in its argument reduction (x mod 2 is exact in floating point)."""
    y = xp.abs(x)
    y = y - 2.0 * xp.floor(0.5 * y)  # |x| mod 2, in [0, 2)
    # reflect into [0, 0.5]: sin(pi y) = sin(pi (1 - y)) = -sin(pi (y - 1))
    sign = xp.where(y >= 1.0, -1.0, 1.0)
    y = xp.where(y >= 1.0, y - 1.0, y)
    y = xp.where(y > 0.5, 1.0 - y, y)
    value = xp.where(y <= 0.25, xp.sin(math.pi * y), xp.cos(math.pi * (0.5 - y)))
    return signed(sign * value, x, xp)


def _lgamma_positive(x, xp):
    small = _lgamma_small(clip(x, 2.0 ** -70, 2.0, xp), xp)
    medium = _lgamma_medium(clip(x, 2.0, 8.0, xp), xp)
    large = _lgamma_large(xp.maximum(x, 8.0), xp)
    out = xp.where(x < 2.0, small, xp.where(x < 8.0, medium, large))
    out = xp.where((x == 1.0) | (x == 2.0), 0.0, out)
    return xp.where(x < 2.0 ** -70, -xp.log(x), out)


@elementwise
def lgamma(x, xp):
    """log|gamma(x)|: +inf at 0 and at the negative integers (the poles)."""
    ax = xp.abs(x)
    positive = _lgamma_positive(ax, xp)
    t = sin_pi(x, xp)
    reflected = xp.log(math.pi / xp.abs(t * x)) - positive  # lgamma(x) for x < 0
    out = xp.where(x < 0, xp.where(t == 0.0, INF, reflected), positive)
    out = xp.where(ax < 2.0 ** -70, -xp.log(ax), out)  # including x = 0: +inf
    out = xp.where(x == -INF, -INF, out)  # scipy's gammaln(-inf)
    return xp.where(is_nan(x), x, out)


# ---------------------------------------------------------------------------------------------
# digamma and polygamma
# ---------------------------------------------------------------------------------------------

# The positive zero of digamma as a double-double, and the Chebyshev coefficients of
# digamma(x) / (x - root) on [1, 2] (interpolated with mpmath at 50 digits;
# tests/linalg/test_special.py checks digamma there against SciPy and mpmath).
DIGAMMA_ROOT = (1.4616321449683622, 9.549995429965697e-17)
DIGAMMA_CHEBYSHEV = (1.967140520883134, -0.2270640863346444, 0.03336889902393011,
                     -0.005320077271596548, 0.0008788656937820505, -0.00014773492650606044,
                     2.5060543468359146e-05, -4.2721034029993324e-06, 7.302769272465923e-07,
                     -1.2502886813559594e-07, 2.1425009322359472e-08, -3.673295918565179e-09,
                     6.299717236108931e-10, -1.080593028883266e-10, 1.853735192053638e-11,
                     -3.18023536582553e-12, 5.456147570322792e-13, -9.360993131036283e-14,
                     1.6060646362941694e-14, -2.7555431376911e-15, 4.727736175525581e-16,
                     -8.11148402416338e-17, 1.3917067244271837e-17, -2.3877291984159417e-18)
EULER = 0.5772156649015329


def bernoulli_even(count: int) -> list:
    """B_2, B_4, ..., B_2count (exact Fractions, from the Akiyama-Tanigawa recurrence)."""
    from fractions import Fraction  # here: its import (with decimal's) costs `import dualjit` 2 ms

    a, numbers = [], []
    for m in range(2 * count + 1):
        a.append(Fraction(1, m + 1))
        for j in range(m, 0, -1):
            a[j - 1] = j * (a[j - 1] - a[j])
        numbers.append(a[0])
    return [numbers[2 * k] for k in range(1, count + 1)]


# digamma(x) ~ log x - 1/(2x) - sum B_2k / (2k x^2k) for x >= 10
@functools.cache
def _digamma_asymptotic() -> tuple:
    return tuple(float(b / (2 * k)) for k, b in enumerate(bernoulli_even(8), 1))


def clenshaw(t, coefficients):
    """sum c_k T_k(t) (the first coefficient taken whole, as interpolation gives it halved)."""
    b1 = b2 = t * 0.0
    for c in reversed(coefficients[1:]):
        b1, b2 = 2.0 * t * b1 - b2 + c, b1
    return t * b1 - b2 + 0.5 * coefficients[0]


def _digamma_one_two(x):
    """digamma on [1, 2], relative to its zero there."""
    t = 2.0 * x - 3.0
    return ((x - DIGAMMA_ROOT[0]) - DIGAMMA_ROOT[1]) * clenshaw(t, DIGAMMA_CHEBYSHEV)


def _digamma_large(x, xp):
    z = 1.0 / (x * x)
    return xp.log(x) - 0.5 / x - z * horner(z, _digamma_asymptotic())


def _digamma_positive(x, xp):
    """digamma(x) for x > 0: below 1 by one step up, up to 10 by steps down into [1, 2]."""
    below = x < 1.0
    shift = xp.where(below, -1.0 / x, 0.0)
    y = xp.where(below, x + 1.0, x)
    y = xp.where(y < 10.0, y, 1.5)
    for _ in range(8):  # digamma(y) = digamma(y - 1) + 1 / (y - 1)
        step = y > 2.0
        shift = xp.where(step, shift + 1.0 / (y - 1.0), shift)
        y = xp.where(step, y - 1.0, y)
    middle = shift + _digamma_one_two(y)
    return xp.where(x < 10.0, middle, _digamma_large(xp.maximum(x, 10.0), xp))


@elementwise
def digamma(x, xp):
    """d/dx log gamma(x): poles at 0 (-inf from +0, +inf from -0) and NaN at negative integers."""
    fraction = x - trunc(x, xp)
    # reflection for x < 0: digamma(x) = digamma(1 - x) - pi / tan(pi x)
    reflection = xp.where(x < 0, -math.pi / xp.tan(math.pi * fraction), 0.0)
    y = xp.where(x < 0, 1.0 - x, x)
    out = _digamma_positive(xp.where(is_finite(y, xp) & (y > 0), y, 1.5), xp) + reflection
    out = xp.where((x < 0) & (fraction == 0.0), math.nan, out)
    out = xp.where(x == 0.0, xp.where(1.0 / x > 0, -INF, INF), out)  # the sign of zero
    out = xp.where(x == INF, INF, xp.where(x == -INF, math.nan, out))
    return xp.where(is_nan(x), x, out)


@functools.cache
def _zeta_tail() -> tuple:
    """B_2k / (2k)! for k = 1..12."""
    return tuple(float(b / math.factorial(2 * k)) for k, b in enumerate(bernoulli_even(12), 1))
ZETA_SHIFT = 10


def hurwitz_zeta(s: int, x: np.ndarray) -> np.ndarray:
    """zeta(s, x) = sum_k (x + k)^-s for an integer s >= 2, by Euler-Maclaurin summation
    after the first terms (enough of them that x + N >= ZETA_SHIFT)."""
    steps = int(max(ZETA_SHIFT, np.nanmax(ZETA_SHIFT - np.floor(x), initial=0.0)))
    total = np.zeros_like(x)
    for k in range(steps):
        total = total + (x + k) ** -float(s)
    a = x + steps
    tail = a ** (1.0 - s) / (s - 1) + 0.5 * a ** -float(s)
    rising = float(s)  # s (s+1) ... (s+2k-2)
    power = a ** (-float(s) - 1.0)
    for k, c in enumerate(_zeta_tail(), 1):
        tail = tail + c * rising * power
        rising *= (s + 2 * k - 1) * (s + 2 * k)
        power = power / (a * a)
    return total + tail


def polygamma(x, *, order: int):
    """The order-th derivative of digamma (order >= 1): (-1)^(order+1) order! zeta(order+1, x)."""
    x64, dtype = _float64(x)
    with np.errstate(all="ignore"):
        pole = (x64 <= 0) & (x64 == np.floor(x64))
        finite = np.where(np.isfinite(x64) & ~pole, x64, 1.0)
        out = (-1.0) ** (order + 1) * math.factorial(order) * hurwitz_zeta(order + 1, finite)
        sign = (-1.0) ** (order + 1)  # scipy's values at the poles and at +-inf
        out = np.where(pole | (x64 == -np.inf), sign * np.inf, out)
        out = np.where(x64 == np.inf, sign * 0.0, out)
        out = np.where(np.isnan(x64), np.nan, out)
        return np.asarray(_finish(out, dtype))


# ---------------------------------------------------------------------------------------------
# Inverses: erfinv and ndtri (Halley steps on erf/erfc from a rough start)
# ---------------------------------------------------------------------------------------------

SQRT_PI = math.sqrt(math.pi)
SQRT_2PI = math.sqrt(2 * math.pi)
SQRT_HALF_PI = math.sqrt(0.5 * math.pi)


def _rough_probit(q, xp):
    """A guess within 5e-4 of ndtri(q) for 0 < q <= 0.5 (Abramowitz and Stegun 26.2.23)."""
    t = xp.sqrt(-2.0 * xp.log(q))
    return -(t - horner(t, (2.515517, 0.802853, 0.010328))
             / horner(t, (1.0, 1.432788, 0.189269, 0.001308)))


def _halley_ratio(x, q, xp):
    """(ndtr(x) - q) / pdf(x) for x <= 0, without cancellation near the middle or overflow in
    the far tail: there ndtr(x) / pdf(x) = sqrt(pi/2) erfcx(-x / sqrt(2)), and q / pdf(x) takes
    exp(x*x / 2) in two halves (q may be subnormal, exp(x*x / 2) beyond the largest float)."""
    middle = ((0.5 * _erf(x * SQRT_HALF, xp) - (q - 0.5))  # q - 0.5 is exact for q >= 0.25
              * SQRT_2PI * exp_of_square(x, 0.5, xp))
    half = exp_of_square(x, 0.25, xp)
    tail = SQRT_HALF_PI * _erfcx(-x * SQRT_HALF, xp) - (q * half) * half * SQRT_2PI
    return xp.where(q >= 0.25, middle, tail)


@elementwise
def ndtri(p, xp):
    """The inverse of the standard normal CDF: ndtr(ndtri(p)) = p on [0, 1]."""
    q = xp.where(p > 0.5, 1.0 - p, p)  # exact for p >= 0.5
    inside = (q > 0) & (q <= 0.5)
    q_safe = xp.where(inside, q, 0.25)
    x = _rough_probit(q_safe, xp)
    for _ in range(3):  # Halley on f(x) = ndtr(x) - q, with r = f / f'
        r = _halley_ratio(x, q_safe, xp)
        x = x - r / (1.0 + 0.5 * x * r)
    x = xp.where(p > 0.5, -x, x)
    x = xp.where(p == 0.0, -INF, xp.where(p == 1.0, INF, x))
    return xp.where((p < 0) | (p > 1) | is_nan(p), math.nan, x)


@elementwise
def erf_inv(y, xp):
    """The inverse of erf on [-1, 1]."""
    a = xp.abs(y)
    inside = a < 1.0
    a_safe = xp.where(inside, a, 0.5)
    series = SQRT_PI / 2 * a_safe * (1.0 + math.pi / 12 * a_safe * a_safe)
    x = xp.where(a_safe < 0.5, series, -_rough_probit(0.5 * (1.0 - a_safe), xp) * SQRT_HALF)
    for _ in range(3):  # Halley on erf(x) = a (or erfc(x) = 1 - a, exact, in the tail)
        f = xp.where(a_safe < 0.5, _erf(x, xp) - a_safe, (1.0 - a_safe) - _erfc(x, xp))
        r = f * (SQRT_PI / 2) * exp_of_square(x, 1.0, xp)
        x = x - r / (1.0 + x * r)
    x = signed(x, y, xp)
    x = xp.where(a == 1.0, signed(INF, y, xp), x)
    x = xp.where(y == 0.0, 0.0, x)  # +0 for -0 too, as scipy
    return xp.where((a > 1.0) | is_nan(y), math.nan, x)


erfinv = erf_inv



# ---------------------------------------------------------------------------------------------
# i0e, i1e: exp(-|x|) I0(x) and exp(-|x|) I1(x), the exponentially scaled modified Bessel
# functions. Chebyshev series (Clenshaw) on three intervals of |x|: up to 2 in t = |x| - 1
# (i0e, and i1e / x), from 2 to 8 in t = (|x| - 5) / 3, beyond in u = 16/|x| - 1 (sqrt|x|
# times the function, which tends to 1/sqrt(2 pi)). Two intervals below 8 keep the series
# free of cancellation (one series over [0, 8] for i1e/x sums terms 80x its value at 8, and
# loses 8 ulp there, as SciPy's does). The coefficients are our own: Chebyshev interpolation
# at 60 nodes of mpmath's besseli at 50 digits, cut where they fall below 2e-18 of the first;
# 2 ulp from the exact values over [1e-3, 1e8] (tests/linalg/test_special.py checks them
# against SciPy and mpmath).
# ---------------------------------------------------------------------------------------------

I0E_NEAR = (1.1109240931698063, -0.32224785966994146, 0.0941349608633822, -0.022714557101913377,
            0.004543195287670698, -0.0007688553318076656, 0.00011230023567248778,
            -1.4396591689214997e-05, 1.6424565230958783e-06, -1.6867411034015366e-07,
            1.574201294790916e-08, -1.34590250765456e-09, 1.0613894740398771e-10,
            -7.765957566215815e-12, 5.298940569004349e-13, -3.3868488995848243e-14,
            2.0357565009571833e-15, -1.154777986735921e-16, 6.20114611236842e-18)
I0E_MIDDLE = (0.40530916339261236, -0.07530113285910563, 0.021009076548088396,
              -0.006509215217702366, 0.0020841295941255032, -0.000663237694109267,
              0.00020447887099303192, -6.008499691996071e-05, 1.6668544774112276e-05,
              -4.34486590695866e-06, 1.0623408783202918e-06, -2.436880494371135e-07,
              5.250900502914729e-08, -1.0647984423707817e-08, 2.0364193995706206e-09,
              -3.681407107346795e-10, 6.305069722761454e-11, -1.0253058598220253e-11,
              1.5864396362567645e-12, -2.340308942311313e-13, 3.297816890569414e-14,
              -4.4469160284981966e-15, 5.747755900169962e-16, -7.132266115074427e-17,
              8.50916607798878e-18, -9.774115900288225e-19)
I0E_FAR = (0.8044904110141088, 0.0033691164782556943, 6.889758346916825e-05,
           2.8913705208347567e-06, 2.0489185894690638e-07, 2.266668990498178e-08,
           3.3962320257083865e-09, 4.94060238822497e-10, 1.1889147107846439e-11,
           -3.1499165279632416e-11, -1.3215811840447713e-11, -1.7941785315068062e-12,
           7.180124451383666e-13, 3.8527783827421426e-13, 1.54008621752141e-14,
           -4.150569347287222e-14, -9.554846698828307e-15, 3.8116806693526224e-15,
           1.7725601330565263e-15, -3.425485619677219e-16, -2.8276239805165836e-16,
           3.461222867697461e-17, 4.46562142029676e-17, -4.830504485944182e-18,
           -7.233180487874754e-18)
I1E_NEAR = (0.5083945661532121, -0.18614670648327067, 0.047922338053106146, -0.009789076216141408,
            0.0016662238479520602, -0.0002433240014250099, 3.1112561153598404e-05,
            -3.537110387592967e-06, 3.6188997442071134e-07, -3.365006741839022e-08,
            2.8669319308345316e-09, -2.253506636201581e-10, 1.6438659802941666e-11,
            -1.118540536749965e-12, 7.130945299391151e-14, -4.276171214786366e-15,
            2.420398868895772e-16, -1.2971583981874101e-17)
I1E_MIDDLE = (0.3395708364275077, -0.04081701544471595, 0.005471504822387463,
              -3.7199867430543946e-05, -0.00043501169617069646, 0.000251098738494547,
              -0.00010387010560561069, 3.633595171172561e-05, -1.1283779531380381e-05,
              3.177177262795525e-06, -8.207879854204014e-07, 1.9608259818179285e-07,
              -4.357416283937996e-08, 9.050622962020252e-09, -1.764216796822223e-09,
              3.238856123342663e-10, -5.6178391818434265e-11, 9.23249404283715e-12,
              -1.4413186299625083e-12, 2.1424611174509566e-13, -3.038877038591557e-14,
              4.121171205140304e-15, -5.353393026179594e-16, 6.672258557181179e-17,
              -7.991588912221358e-18, 9.211778847067533e-19)
I1E_FAR = (0.7785762350182801, -0.009761097491361469, -0.00011058893876262371,
           -3.882564808877691e-06, -2.512236237870209e-07, -2.6314688468895196e-08,
           -3.835380385964237e-09, -5.589743462196584e-10, -1.8974958123505413e-11,
           3.2526035830154884e-11, 1.4125807436613782e-11, 2.0356285441470896e-12,
           -7.198551776245908e-13, -4.0835511110921974e-13, -2.1015418427726643e-14,
           4.272440016711951e-14, 1.0420276984128802e-14, -3.8144030724370075e-15,
           -1.8803547755107825e-15, 3.3082023109209285e-16, 2.96262899764595e-16,
           -3.209525921993424e-17, -4.6503053684893586e-17, 4.414348323071708e-18,
           7.517296310842105e-18)


def _bessel_scaled(x, series, odd, xp):
    """One function from its three series; with `odd` the first is times x and the others
    take x's sign. NaN stays NaN (min/max may drop it in native code)."""
    near, middle, far = series
    ax = xp.abs(x)
    y_near = clenshaw(xp.minimum(ax, 2.0) - 1.0, near)
    y_middle = clenshaw((clip(ax, 2.0, 8.0, xp) - 5.0) * (1.0 / 3.0), middle)
    far_x = xp.maximum(ax, 8.0)
    y_far = clenshaw(16.0 / far_x - 1.0, far) / xp.sqrt(far_x)
    if odd:
        y_near = xp.where(x == 0.0, 0.0, x * y_near)  # +0 at -0, as SciPy
        y_middle, y_far = signed(y_middle, x, xp), signed(y_far, x, xp)
    y = xp.where(ax <= 2.0, y_near, xp.where(ax <= 8.0, y_middle, y_far))
    return xp.where(is_nan(x), x, y)


@elementwise
def bessel_i0e(x, xp):
    """exp(-|x|) I0(x): 1 at 0, even, ~ 1/sqrt(2 pi |x|) for large |x|."""
    return _bessel_scaled(x, (I0E_NEAR, I0E_MIDDLE, I0E_FAR), False, xp)


@elementwise
def bessel_i1e(x, xp):
    """exp(-|x|) I1(x): odd, ~ sign(x)/sqrt(2 pi |x|) for large |x|; +0 at -0 (SciPy's)."""
    return _bessel_scaled(x, (I1E_NEAR, I1E_MIDDLE, I1E_FAR), True, xp)
