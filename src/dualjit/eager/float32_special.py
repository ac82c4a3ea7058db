"""Special functions of float32 arguments for the eager kernels (eager/kernels.py): float64
arithmetic with about 1e-12 relative error, rounded once to float32, so within 1 ulp of the
exact value (nearly always the correctly rounded float32). The primitives' formulas
(ir/special_impl.py) are accurate to float64 and cost 3-30x more (erfinv: Halley steps on
complete erf and erfc evaluations); float32 arguments need neither.

erf, erfc, ndtr, log_ndtr and erfcx rest on one Chebyshev series: erfcx(x) (1 + x/2) in
t = 1/(1 + x/2) for x >= 1/2 (it tends to 1/(2 sqrt(pi)) as x grows, so the relative error
holds in the far tail), with exp(-x^2) exact enough from a float32 x (x^2 is exact in float64);
below 1/2 the Taylor series of erf. erfinv and ndtri evaluate erfinv(y)/y as series in
w = -log(1 - y^2) (w < 5) and in sqrt(w) (as M. Giles, "Approximating the erfinv function",
2010), computing w from 1 - y or from ndtri's 2p without cancellation, so the far tails
(ndtri of subnormal p) keep their accuracy. The coefficients are Chebyshev interpolants
(numpy.polynomial.chebyshev.chebinterpolate, degree chosen for 2e-12) of SciPy's erfcx,
erfinv and ndtri; tests/eager/test_eager_kernels.py checks every function against SciPy.

Written over dualjit.numpy (traced at a float32 scalar into a flat kernel's loop); special
values (inf, NaN, signed zeros, poles, out-of-domain arguments) are the primitives'.
"""

from __future__ import annotations

import functools
import math

from .. import numpy as jnp
from ..ir.special_impl import horner, is_nan

SQRT_HALF = math.sqrt(0.5)
SQRT_2 = math.sqrt(2.0)
INF = math.inf
# (lower end, upper end, Chebyshev coefficients, lowest degree first)
# degree 14: 1.5e-12
ERFINV_W = (0.0, 5.0, (
    1.4912989404744903, 0.6017563034108296, -0.009170559500081292, -0.004962635326766751,
    0.0009153796700074916, -3.889562757215341e-06, -2.4202599405350373e-05,
    3.266571592538033e-06, 2.775888977938716e-07, -1.3023363035398934e-07,
    8.10464182941321e-09, 2.8624408769199286e-09, -5.975081614669382e-10,
    -1.2328923067646732e-11, 1.993985717282006e-11,))
# degree 16: 2.1e-13
ERFINV_S = (2.23606797749979, 4.2, (
    3.055776147368092, 0.9826715172024583, 0.0044804755372784616, -0.0015819980656148265,
    0.0004878484190755451, -0.00013084612873189976, 2.5807781210648764e-05,
    -2.1782416586100195e-06, -6.640551926626654e-07, 3.1135379775353814e-07,
    -5.304585188648031e-08, -1.4154069972156555e-09, 2.9200383915320872e-09,
    -6.529129618566447e-10, 2.464208174613335e-11, 2.2889473117398036e-11,
    -6.531424241921247e-12,))
# degree 18: 1.8e-12
ERFINV_FAR = (4.2, 10.3, (
    7.118997074203683, 3.075417348915382, -0.0020542981567079196, -5.905013787997261e-05,
    9.447825578103981e-05, -3.429034860156689e-05, 9.796545914743748e-06,
    -2.524781453706662e-06, 6.139865713394281e-07, -1.4405905455673386e-07,
    3.3211538782265246e-08, -7.734573122326381e-09, 1.9206350194466673e-09,
    -5.536696013944278e-10, 1.9720926646091118e-10, -8.378738638576147e-11,
    3.8533947962318245e-11, -1.7477107480532907e-11, 6.7128992423261624e-12,))
# degree 16: 3.9e-13
ERFCX_T = (0.0, 0.8, (
    0.4869974896593381, 0.24101444861760668, 0.03917158019801931, 0.002820201316258959,
    -0.00031900258801438255, -7.762458294639439e-05, 3.904758902705804e-06,
    2.106501005097914e-06, -1.1719156216712135e-07, -6.458613019694504e-08,
    6.547927269277244e-09, 2.017646702342365e-09, -3.9824103367475085e-10,
    -4.9762677394325844e-11, 2.2137775734795536e-11, -1.6181789998092124e-13,
    -1.0592171141536996e-12,))
SPLIT = 0.5  # erf's Taylor series below, the erfcx series above
ERF_TAYLOR = tuple((-1) ** k * 2 / math.sqrt(math.pi) / (math.factorial(k) * (2 * k + 1))
                   for k in range(12))  # (the 12th term is below 1e-16 of erf at 1/2)


def chebyshev(x, series):
    """sum c_k T_k(u), u = x mapped from [a, b] to [-1, 1], by Horner's rule on its power
    series in u (half the work of Clenshaw's recurrence; the power coefficients' magnitudes
    sum to under 3x the function's, so they lose no accuracy: 4e-16 against Clenshaw)."""
    a, b, c = series
    return horner((2.0 * x - (a + b)) * (1.0 / (b - a)), power_series(c))


@functools.cache
def power_series(chebyshev_coefficients: tuple) -> tuple:
    """The coefficients in u of sum c_k T_k(u), lowest degree first."""
    out = [0.0] * len(chebyshev_coefficients)
    previous, current = [1.0], [0.0, 1.0]  # T_0, T_1
    out[0] = chebyshev_coefficients[0]
    for c in chebyshev_coefficients[1:]:
        for i, t in enumerate(current):
            out[i] += c * t
        following = [0.0] + [2.0 * t for t in current]  # T_k+1 = 2u T_k - T_k-1
        for i, t in enumerate(previous):
            following[i] -= t
        previous, current = current, following
    return tuple(out)




def float64(x):
    return jnp.astype(x, jnp.float64)


def rounded(x, like):
    return jnp.astype(x, like.dtype)


def erf_small(x):
    """erf(x) for |x| <= SPLIT (odd: -0 gives -0)."""
    return x * horner(x * x, ERF_TAYLOR)


def erfcx_large(a):
    """erfcx(a) = exp(a^2) erfc(a) for a >= SPLIT (0 at +inf)."""
    t = 1.0 / (1.0 + 0.5 * a)
    return t * chebyshev(t, ERFCX_T)


def erfc_large(a):
    """erfc(a) for a >= SPLIT: exp(-a^2) erfcx(a) (0 from a ~ 27 on, and at +inf)."""
    return jnp.exp(-a * a) * erfcx_large(a)


def _parts(x):
    """|x| and the two pieces, each at an argument inside its range."""
    a = jnp.abs(x)
    small = erf_small(jnp.where(a < SPLIT, x, 0.0))
    large = erfc_large(jnp.where(a < SPLIT, SPLIT, a))
    return a, small, large


def _finish(out, x):
    return jnp.where(is_nan(x), x, out)


def erf(x):
    x64 = float64(x)
    a, small, large = _parts(x64)
    tail = jnp.where(x64 < 0, large - 1.0, 1.0 - large)
    return rounded(_finish(jnp.where(a < SPLIT, small, tail), x64), x)


def erfc_of_float64(x):
    """erfc in float64 (to 1e-12) of a float64 x (GELU's -x / sqrt 2)."""
    a, small, large = _parts(x)
    tail = jnp.where(x < 0, 2.0 - large, large)
    return _finish(jnp.where(a < SPLIT, 1.0 - small, tail), x)


def erfc(x):
    return rounded(erfc_of_float64(float64(x)), x)


def ndtr(x):
    """0.5 erfc(-x / sqrt 2), the smaller side from the tail series."""
    x64 = float64(x)
    a, small, large = _parts(x64 * SQRT_HALF)
    tail = jnp.where(x64 < 0, 0.5 * large, 1.0 - 0.5 * large)
    return rounded(_finish(jnp.where(a < SPLIT, 0.5 + 0.5 * small, tail), x64), x)


def log_ndtr(x):
    """log(ndtr(x)): below -SPLIT sqrt 2 as log(erfcx(t) / 2) - t^2 (t = -x / sqrt 2, so no
    underflow), above +SPLIT sqrt 2 as log1p(-erfc(-t) / 2)."""
    x64 = float64(x)
    t = -x64 * SQRT_HALF
    a = jnp.abs(t)
    scaled = erfcx_large(jnp.where(a < SPLIT, SPLIT, a))  # (exp(a^2) erfc(a))
    middle = 0.5 - 0.5 * erf_small(jnp.where(a < SPLIT, t, 0.0))
    lower = jnp.where(a < SPLIT, middle, 0.5 * scaled)
    out = jnp.where((t > 0) | (a < SPLIT), jnp.log(lower) - jnp.where(a < SPLIT, 0.0, t * t),
                    jnp.log1p(-0.5 * (jnp.exp(-a * a) * scaled)))
    return rounded(_finish(out, x64), x)


def erfcx(x):
    """exp(x^2) erfc(x): the series alone above SPLIT; below, exp(x^2) times erfc (inf once
    exp(x^2) overflows)."""
    x64 = float64(x)
    a, small, large = _parts(x64)
    near = jnp.exp(x64 * x64) * jnp.where(a < SPLIT, 1.0 - small, 2.0 - large)
    far = erfcx_large(jnp.where(x64 < SPLIT, SPLIT, x64))
    return rounded(_finish(jnp.where(x64 < SPLIT, near, far), x64), x)


def _erfinv_over_y(w, far: bool):
    """erfinv(y) / y for w = -log(1 - y^2) >= 0 (up to ERFINV_S's end unless `far`, which
    ndtri's float32 tail reaches: erfinv's float32 arguments stop at w = 16)."""
    s = jnp.sqrt(w)
    tail = chebyshev(s, ERFINV_S)
    if far:
        tail = jnp.where(s < ERFINV_S[1], tail, chebyshev(s, ERFINV_FAR))
    return jnp.where(w < ERFINV_W[1], chebyshev(jnp.minimum(w, ERFINV_W[1]), ERFINV_W), tail)


def erfinv(y):
    """+0 at -0 (as SciPy), +-inf at +-1, NaN beyond."""
    y64 = float64(y)
    a = jnp.abs(y64)
    inside = a < 1.0
    safe = jnp.where(inside, a, 0.5)
    x = y64 * _erfinv_over_y(-jnp.log((1.0 - safe) * (1.0 + safe)), far=False)
    x = jnp.where(a == 1.0, jnp.where(y64 < 0, -INF, INF), x)
    x = jnp.where(y64 == 0.0, 0.0, x)
    return rounded(jnp.where((a > 1.0) | is_nan(y64), math.nan, x), y)


def ndtri(p):
    """-sqrt(2) erfcinv(2p), from q = 2 min(p, 1 - p) (exact): w = -log(q (2 - q))."""
    p64 = float64(p)
    upper = p64 > 0.5
    q = 2.0 * jnp.where(upper, 1.0 - p64, p64)
    inside = (q > 0.0) & (q <= 1.0)
    q = jnp.where(inside, q, 1.0)
    magnitude = SQRT_2 * (1.0 - q) * _erfinv_over_y(-jnp.log(q * (2.0 - q)), far=True)
    x = jnp.where(p64 < 0.5, -magnitude, magnitude)  # (+0 at 1/2)
    x = jnp.where(p64 == 0.0, -INF, jnp.where(p64 == 1.0, INF, x))
    return rounded(jnp.where((p64 < 0) | (p64 > 1) | is_nan(p64), math.nan, x), p)


def logit(p):
    """log(p / (1 - p)) in float64: 1 - p is exact, and near p = 1/2 the quotient's rounding
    (1e-16) stays below 1e-9 of the value (|logit| >= 1.2e-7 at float32 arguments)."""
    p64 = float64(p)
    return rounded(jnp.log(p64 / (1.0 - p64)), p)


# i0e, i1e and i0: exp(-|x|) I0(x), exp(-|x|) I1(x) and I0(x) on three intervals of |x|, as
# ir/special_impl.py's (up to 2 in |x|, i1e / x there; from 2 to 8; beyond in v = 8/|x|,
# sqrt|x| times the function), interpolating SciPy's i0e and i1e to 2e-12.
# degree 13: 1.5e-12
I0E_NEAR = (0.0, 2.0, (
    0.5554620465849032, -0.3222478596699414, 0.09413496086338217, -0.022714557101913415,
    0.004543195287670816, -0.0007688553318077963, 0.00011230023567284404,
    -1.4396591689417057e-05, 1.64245652370189e-06, -1.68674110619303e-07,
    1.5742013430892447e-08, -1.345902667093668e-09, 1.0613753923368766e-10,
    -7.732511060026021e-12,))
# degree 18: 1.2e-12
I0E_MIDDLE = (2.0, 8.0, (
    0.20265458169630618, -0.07530113285910565, 0.021009076548088375, -0.00650921521770236,
    0.0020841295941254846, -0.0006632376941092693, 0.0002044788709930287,
    -6.008499691997539e-05, 1.6668544774161837e-05, -4.344865906996383e-06,
    1.0623408783815818e-06, -2.436880494586995e-07, 5.2509005048291025e-08,
    -1.0647984455415903e-08, 2.0364195315416674e-09, -3.6814069629000443e-10,
    6.30502755268705e-11, -1.0248627239259783e-11, 1.5535365391777508e-12,))
# degree 12: 1.2e-12
I0E_FAR = (0.0, 1.0, (
    0.40224520550705445, 0.0033691164782556947, 6.889758346908476e-05, 2.8913705208275713e-06,
    2.0489185879443887e-07, 2.26666898525379e-08, 3.3962321836933442e-09,
    4.940606019576876e-10, 1.1887168529234124e-11, -3.150297006562533e-11,
    -1.3206302844954874e-11, -1.752692544978088e-12, 7.029425997450485e-13,))
# degree 13: 5.9e-13
I1E_NEAR = (0.0, 2.0, (
    0.25419728307660605, -0.18614670648327064, 0.04792233805310612, -0.009789076216141442,
    0.0016662238479521554, -0.00024332400142509727, 3.11125611538018e-05,
    -3.5371103877556792e-06, 3.618899747053523e-07, -3.3650067591500006e-08,
    2.8669321559617244e-09, -2.2535082728441276e-10, 1.6438740249987862e-11,
    -1.1145261301161368e-12,))
# degree 18: 1.3e-12
I1E_MIDDLE = (2.0, 8.0, (
    0.16978541821375384, -0.04081701544471597, 0.005471504822387452, -3.7199867430536214e-05,
    -0.00043501169617070855, 0.0002510987384945543, -0.00010387010560561166,
    3.63359517117225e-05, -1.1283779531332119e-05, 3.177177262777962e-06,
    -8.207879853663452e-07, 1.9608259818323196e-07, -4.357416279407298e-08,
    9.050622962703566e-09, -1.764216667491556e-09, 3.23885520742432e-10,
    -5.617772913524277e-11, 9.228340314137995e-12, -1.410871419693649e-12,))
# degree 12: 1.3e-12
I1E_FAR = (0.0, 1.0, (
    0.38928811750914005, -0.009761097491361427, -0.0001105889387627441,
    -3.8825648088711735e-06, -2.512236238803394e-07, -2.631468844523705e-08,
    -3.835380854719757e-09, -5.58974631563502e-10, -1.897327370971153e-11,
    3.252985847416277e-11, 1.4115361734002608e-11, 1.992895865016471e-12,
    -6.984984332771265e-13,))


def _bessel_scaled(x, near, middle, far, odd: bool):
    a = jnp.abs(x)
    y_near = chebyshev(jnp.minimum(a, 2.0), near)
    y_middle = chebyshev(jnp.minimum(jnp.maximum(a, 2.0), 8.0), middle)
    a_far = jnp.maximum(a, 8.0)
    y_far = chebyshev(8.0 / a_far, far) / jnp.sqrt(a_far)  # (0 at inf)
    if odd:
        y_near = jnp.where(x == 0.0, 0.0, x * y_near)  # (+0 at -0, as SciPy)
        y_middle = jnp.where(x < 0, -y_middle, y_middle)
        y_far = jnp.where(x < 0, -y_far, y_far)
    return _finish(jnp.where(a <= 2.0, y_near, jnp.where(a <= 8.0, y_middle, y_far)), x)


def i0e(x):
    return rounded(_bessel_scaled(float64(x), I0E_NEAR, I0E_MIDDLE, I0E_FAR, False), x)


def i1e(x):
    return rounded(_bessel_scaled(float64(x), I1E_NEAR, I1E_MIDDLE, I1E_FAR, True), x)


def i0(x):
    """exp(|x|) i0e(x): inf from |x| ~ 89 on (float32's range), NaN at +-inf (NumPy's,
    SciPy's and PyTorch's)."""
    x64 = float64(x)
    a = jnp.abs(x64)
    scaled = _bessel_scaled(x64, I0E_NEAR, I0E_MIDDLE, I0E_FAR, False)
    return rounded(jnp.where(a == INF, math.nan, jnp.exp(jnp.minimum(a, 800.0)) * scaled), x)
