"""dualjit.scipy.special: SciPy's special functions, differentiable in both modes and under jit.

erf, erfc, erfcx, erfinv, gammaln, digamma, polygamma, ndtr and ndtri are primitives (numpy
implementations in ir/special_impl.py, inlined into kernels by codegen/special.py); the rest
are compositions written so that their derivatives are right everywhere the function is
smooth (no NaN from a branch not taken). float32 compositions compute in float64 and round
once, as the primitives do. Special values (inf, NaN, zeros, poles) are those SciPy gives.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as _np

from .. import lax
from .. import numpy as jnp
from ..ir import primitives as P
from ..numpy._core import convert, dtype_of, operand, result_type
from ..tracer.core import Tracer, bind

__all__ = ["erf", "erfc", "erfcx", "erfinv", "erfcinv", "gammaln", "gamma", "digamma", "psi",
           "polygamma", "betaln", "xlogy", "xlog1py", "logit", "expit", "ndtr", "ndtri",
           "log_ndtr", "logsumexp", "softmax", "log_softmax", "entr", "i0e", "i1e"]

SQRT_HALF = math.sqrt(0.5)


def _float(x: Any, op: str) -> Any:
    """x as a float operand: integers and bools become float64, as in SciPy."""
    x = operand(x, op)
    dt = dtype_of(x)
    return convert(x, dt.np if dt.is_float else _np.dtype(_np.float64))


def _floats(op: str, *xs: Any) -> list[Any]:
    """Operands of one float dtype, broadcast to one shape."""
    xs = [operand(x, op) for x in xs]
    dt = result_type(*xs)
    dt = dt if dt.kind == "f" else _np.dtype(_np.float64)
    xs = [convert(x, dt) for x in xs]
    return jnp.broadcast_arrays(*xs)


def _in_float64(fn):
    """fn computed in float64 and rounded once for float32 arguments (a composition's own
    roundings would cost float32 ulps)."""
    def wrapped(x):
        x = _float(x, fn.__name__)
        if dtype_of(x).np == _np.float64:
            return fn(x)
        return convert(fn(convert(x, _np.dtype(_np.float64))), dtype_of(x).np)
    wrapped.__name__ = wrapped.__qualname__ = fn.__name__
    wrapped.__doc__ = fn.__doc__
    return wrapped


def _primitive(prim, name: str, doc: str):
    def fn(x):
        return bind(prim, _float(x, name))
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


erf = _primitive(P.erf_p, "erf", "The error function, 2/sqrt(pi) * integral of exp(-t**2) from 0.")
erfc = _primitive(P.erfc_p, "erfc", "1 - erf(x), accurate where it is tiny.")
erfcx = _primitive(P.erfcx_p, "erfcx", "exp(x**2) * erfc(x), finite for large x.")
erfinv = _primitive(P.erf_inv_p, "erfinv", "The inverse of erf on [-1, 1].")
gammaln = _primitive(P.lgamma_p, "gammaln", "log|gamma(x)|: +inf at the poles.")
digamma = _primitive(P.digamma_p, "digamma", "d/dx gammaln(x).")
psi = digamma
ndtr = _primitive(P.ndtr_p, "ndtr", "The standard normal CDF, accurate in both tails.")
ndtri = _primitive(P.ndtri_p, "ndtri", "The inverse of ndtr, the standard normal CDF.")
i0e = _primitive(P.bessel_i0e_p, "i0e", "exp(-|x|) * I0(x), the scaled modified Bessel "
                 "function of order 0.")
i1e = _primitive(P.bessel_i1e_p, "i1e", "exp(-|x|) * I1(x), the scaled modified Bessel "
                 "function of order 1.")


def polygamma(n: Any, x: Any) -> Any:
    """The n-th derivative of digamma; n a static non-negative integer."""
    if isinstance(n, Tracer):
        raise TypeError("polygamma: the order n must be a static integer (it selects the "
                        "function), not a traced value")
    orders = _np.unique(_np.asarray(n))
    if orders.size != 1 or orders[0] < 0 or orders[0] != _np.floor(orders[0]):
        raise ValueError(f"polygamma: n must be one non-negative integer, got {n!r}")
    order = operator.index(int(orders[0]))
    x = _float(x, "polygamma")
    if order == 0:
        return bind(P.digamma_p, x)
    out = bind(P.polygamma_p, x, order=order)
    return jnp.broadcast_to(out, _np.broadcast_shapes(jnp.shape(out), _np.shape(n)))


@_in_float64
def erfcinv(y: Any) -> Any:
    """The inverse of erfc on [0, 2]: -ndtri(y / 2) / sqrt(2) (exact halving, no 1 - y)."""
    y = _float(y, "erfcinv")
    return -bind(P.ndtri_p, y * 0.5) * SQRT_HALF


@_in_float64
def gamma(x: Any) -> Any:
    """gamma(x) as sign * exp(gammaln(x)): its relative error grows with |gammaln(x)| (about
    1e-13 near x = 170), unlike SciPy's direct evaluation."""
    x = _float(x, "gamma")
    negative_odd = (x < 0) & (jnp.floor(x) % 2 != 0)
    sign = jnp.where(negative_odd, -1.0, 1.0)
    value = sign * jnp.exp(bind(P.lgamma_p, x))
    pole = (x <= 0) & (x == jnp.floor(x))
    return jnp.where(pole, jnp.where(x == 0, jnp.copysign(_np.inf, x), _np.nan), value)


# ---------------------------------------------------------------------------------------------
# Compositions
# ---------------------------------------------------------------------------------------------

def xlogy(x: Any, y: Any) -> Any:
    """x * log(y), with 0 where x == 0 (unless y is NaN); d/dx = log(y), d/dy = x / y."""
    x, y = _floats("xlogy", x, y)
    zero = (x == 0) & ~jnp.isnan(y)
    out = x * jnp.log(jnp.where(zero & ((y <= 0) | jnp.isinf(y)), 1.0, y))  # (0 at y < 0 too)
    return jnp.where(zero, out + 0.0, out)  # +0, not -0, where x == 0 (as SciPy)


def xlog1py(x: Any, y: Any) -> Any:
    """x * log1p(y), with 0 where x == 0 (unless y is NaN)."""
    x, y = _floats("xlog1py", x, y)
    zero = (x == 0) & ~jnp.isnan(y)
    out = x * jnp.log1p(jnp.where(zero & ((y <= -1) | jnp.isinf(y)), 0.0, y))
    return jnp.where(zero, out + 0.0, out)


@_in_float64
def logit(p: Any) -> Any:
    """log(p / (1 - p)); near p = 1/2 as log1p(2(p - 1/2)) - log1p(-2(p - 1/2)) (as SciPy)."""
    p = _float(p, "logit")
    middle = (p >= 0.3) & (p <= 0.65)
    s = jnp.where(middle, 2.0 * (p - 0.5), 0.0)
    outer = jnp.where(middle, 0.5, p)
    return jnp.where(middle, jnp.log1p(s) - jnp.log1p(-s), jnp.log(outer / (1.0 - outer)))


def expit(x: Any) -> Any:
    """1 / (1 + exp(-x)), stable on both tails."""
    return bind(P.logistic_p, _float(x, "expit"))


@_in_float64
def log_ndtr(x: Any) -> Any:
    """log(ndtr(x)), accurate in both tails: log(erfcx(-t) / 2) - t**2 below -1."""
    x = _float(x, "log_ndtr")
    low = x < -1.0
    t_low = jnp.where(low, x, -2.0) * SQRT_HALF
    lower = jnp.log(bind(P.erfcx_p, -t_low) * 0.5) - t_low * t_low
    upper = jnp.log1p(-bind(P.ndtr_p, -jnp.where(low, 0.0, x)))
    return jnp.where(low, lower, upper)


@_in_float64
def entr(x: Any) -> Any:
    """-x log(x) for x > 0, 0 at 0, -inf below (NaN stays NaN)."""
    x = _float(x, "entr")
    positive = x > 0
    value = -x * jnp.log(jnp.where(positive, x, 1.0))
    return jnp.where(positive | jnp.isnan(x), value, jnp.where(x == 0, 0.0, -_np.inf))


def logsumexp(a: Any, axis: Any = None, b: Any = None, keepdims: bool = False,
              return_sign: bool = False) -> Any:
    """log(sum(b * exp(a))) along axis, shifted by the (gradient-free) maximum. With
    return_sign, (log|sum|, sign); without, a negative sum gives NaN (as SciPy)."""
    a = _float(a, "logsumexp")
    if b is not None:
        a, b = _floats("logsumexp", a, b)
    shift = lax.stop_gradient(jnp.max(a, axis=axis, keepdims=True))
    shift = jnp.where(jnp.isfinite(shift), shift, 0.0)
    terms = jnp.exp(a - shift)
    total = jnp.sum(terms if b is None else b * terms, axis=axis, keepdims=True)
    sign = jnp.sign(total)
    out = jnp.log(jnp.abs(total)) + shift
    if not keepdims:
        out = jnp.squeeze(out, axis=axis)
        sign = jnp.squeeze(sign, axis=axis)
    if return_sign:
        return out, sign
    return jnp.where(sign < 0, _np.nan, out)


def softmax(x: Any, axis: Any = None) -> Any:
    """exp(x) / sum(exp(x)) along axis (all axes by default, as SciPy)."""
    x = _float(x, "softmax")
    unnormalized = jnp.exp(x - lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True)))
    return unnormalized / jnp.sum(unnormalized, axis=axis, keepdims=True)


def log_softmax(x: Any, axis: Any = None) -> Any:
    """x - logsumexp(x) along axis (all axes by default)."""
    x = _float(x, "log_softmax")
    return x - logsumexp(x, axis=axis, keepdims=True)


# ---------------------------------------------------------------------------------------------
# betaln: Stirling differences for large arguments, where the three gammaln cancel
# ---------------------------------------------------------------------------------------------

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
# gammaln(x) = (x - 1/2) log x - x + log sqrt(2 pi) + correction(x), correction(x) =
# sum B_2k / (2k (2k - 1) x^(2k-1)): exact Bernoulli fractions, enough terms for x >= 8.
_STIRLING = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156,
             -3617 / 122400)


def _stirling_correction(x: Any) -> Any:
    z = 1.0 / x
    z2 = z * z
    acc = _STIRLING[-1]
    for c in reversed(_STIRLING[:-1]):
        acc = acc * z2 + c
    return acc * z


def betaln(a: Any, b: Any) -> Any:
    """log|B(a, b)| = gammaln(a) + gammaln(b) - gammaln(a + b), with the cancellation between
    the three avoided for large arguments (Stirling's series of their difference)."""
    a, b = _floats("betaln", a, b)
    p, q = jnp.maximum(a, b), jnp.minimum(a, b)
    direct = bind(P.lgamma_p, a) + bind(P.lgamma_p, b) - bind(P.lgamma_p, a + b)
    big_p = jnp.where(p >= 8.0, p, 8.0)
    big_q = jnp.where(q >= 8.0, q, 8.0)
    pos_q = jnp.where(q > 0, q, 1.0)
    total = big_p + big_q
    both_large = (_LOG_SQRT_2PI - 0.5 * jnp.log(big_q)
                  + (big_p - 0.5) * jnp.log1p(-big_q / total) + big_q * jnp.log(big_q / total)
                  + _stirling_correction(big_p) + _stirling_correction(big_q)
                  - _stirling_correction(total))
    # gammaln(p) - gammaln(p + q) for large p and any q > 0
    shifted = big_p + pos_q
    difference = (-(big_p - 0.5) * jnp.log1p(pos_q / big_p) - pos_q * jnp.log(shifted) + pos_q
                  + _stirling_correction(big_p) - _stirling_correction(shifted))
    one_large = bind(P.lgamma_p, pos_q) + difference
    return jnp.where(q >= 8.0, both_large, jnp.where((p >= 8.0) & (q > 0), one_large, direct))
