"""Polynomials as coefficient arrays (highest power first), NumPy's legacy poly* functions."""

from __future__ import annotations

from typing import Any

import numpy as _np

from ..ir import primitives as P
from ..tracer.core import Tracer, bind
from ._core import convert, float_dtype, operand, result_type, slice_axis, static_int, unify
from .elementwise import add, divide, multiply, negative, sqrt, subtract
from .products import convolve, matmul, outer, vander
from .reductions import sum
from .shapes import concatenate, reshape, transpose

__all__ = ["poly", "polyadd", "polysub", "polymul", "polyval", "polyder", "polyint", "polydiv",
           "polyfit"]


def _coefficients(p: Any, op: str) -> Any:
    p = operand(p, op)
    if _np.ndim(p) == 0:
        p = reshape(p, (1,))
    if _np.ndim(p) != 1:
        raise ValueError(f"{op}: polynomial coefficients must be a 1-D array")
    return p


def poly(seq_of_zeros: Any) -> Any:
    """Coefficients of the monic polynomial with the given roots (1-D input)."""
    roots = operand(seq_of_zeros, "poly")
    if _np.ndim(roots) == 2 and _np.shape(roots)[0] == _np.shape(roots)[1] and _np.shape(
            roots)[0] > 0:
        raise NotImplementedError("poly of a matrix needs its eigenvalues (complex in general); "
                                  "pass the roots instead")
    roots = _coefficients(roots, "poly") if _np.ndim(roots) else reshape(roots, (0,))
    dt = float_dtype(roots)
    coeffs = _np.ones(1, dt)
    for k in range(_np.shape(roots)[0]):
        r = slice_axis(convert(roots, dt), 0, k, k + 1)
        coeffs = convolve(coeffs, concatenate([_np.ones(1, dt), negative(r)]))
    return coeffs


def _align(a1: Any, a2: Any, op: str) -> tuple[Any, Any]:
    a1, a2 = unify(op, _coefficients(a1, op), _coefficients(a2, op))
    n1, n2 = _np.shape(a1)[0], _np.shape(a2)[0]
    dt = result_type(a1)
    if n1 < n2:
        a1 = concatenate([_np.zeros(n2 - n1, dt), a1])
    elif n2 < n1:
        a2 = concatenate([_np.zeros(n1 - n2, dt), a2])
    return a1, a2


def polyadd(a1: Any, a2: Any) -> Any:
    return add(*_align(a1, a2, "polyadd"))


def polysub(a1: Any, a2: Any) -> Any:
    return subtract(*_align(a1, a2, "polysub"))


def polymul(a1: Any, a2: Any, *, trim_leading_zeros: bool = False) -> Any:
    a1, a2 = _coefficients(a1, "polymul"), _coefficients(a2, "polymul")
    return convolve(a1, a2)


def polyval(p: Any, x: Any, *, unroll: int = 16) -> Any:
    """p[0] * x**(n-1) + ... + p[n-1] by Horner's rule (p may be traced; x any shape)."""
    p = _coefficients(p, "polyval")
    x = operand(x, "polyval")
    dt = result_type(p, x)
    total = None
    for k in range(_np.shape(p)[0]):
        c = reshape(slice_axis(convert(p, dt), 0, k, k + 1), ())
        total = multiply(c, 1) if total is None else add(multiply(total, x), c)
    if total is None:
        return multiply(x, 0)
    return convert(add(multiply(x, 0), total), dt)


def polyder(p: Any, m: int = 1) -> Any:
    """Coefficients of the m-th derivative."""
    p = _coefficients(p, "polyder")
    m = static_int(m, "m", "polyder")
    if m < 0:
        raise ValueError("polyder: order of derivative must be positive")
    for _ in range(m):
        n = _np.shape(p)[0]
        if n <= 1:
            return _np.zeros(1, result_type(p)) if not isinstance(p, Tracer) else multiply(
                slice_axis(p, 0, 0, 1), 0)
        powers = _np.arange(n - 1, 0, -1)
        p = multiply(slice_axis(p, 0, 0, n - 1), powers)
    return p


def polyint(p: Any, m: int = 1, k: Any = None) -> Any:
    """Coefficients of the m-th antiderivative (integration constants k, default 0)."""
    p = _coefficients(p, "polyint")
    m = static_int(m, "m", "polyint")
    if m < 0:
        raise ValueError("polyint: order of integral must be positive")
    ks = _np.zeros(m) if k is None else k
    ks = [ks] * m if _np.ndim(ks) == 0 and not isinstance(ks, (list, tuple)) else list(ks)
    if len(ks) != m:
        raise ValueError("polyint: k must be a scalar or a rank-1 array of length m")
    dt = float_dtype(p)
    p = convert(p, dt)
    for j in range(m):
        n = _np.shape(p)[0]
        scaled = divide(p, _np.arange(n, 0, -1).astype(dt))
        constant = reshape(convert(operand(ks[j], "polyint"), dt), (1,))
        p = concatenate([scaled, constant])
    return p


def polydiv(u: Any, v: Any, *, trim_leading_zeros: bool = False) -> tuple[Any, Any]:
    """(quotient, remainder) of polynomial long division; the remainder keeps u's length
    (its leading entries are zero) unless trim_leading_zeros (concrete values only)."""
    u, v = unify("polydiv", _coefficients(u, "polydiv"), _coefficients(v, "polydiv"))
    dt = float_dtype(u, v)
    u, v = convert(u, dt), convert(v, dt)
    n, m = _np.shape(u)[0], _np.shape(v)[0]
    lead = reshape(slice_axis(v, 0, 0, 1), ())
    if n < m:
        return _np.zeros(1, dt), u
    rem = u
    quotient = []
    for k in range(n - m + 1):
        q = divide(reshape(slice_axis(rem, 0, k, k + 1), ()), lead)
        quotient.append(reshape(q, (1,)))
        shifted = concatenate([_np.zeros(k, dt), multiply(v, q), _np.zeros(n - m - k, dt)])
        rem = subtract(rem, shifted)
    rem = concatenate([_np.zeros(n - m + 1, dt), slice_axis(rem, 0, n - m + 1, n)])
    if trim_leading_zeros:
        values = rem.value if isinstance(rem, Tracer) else _np.asarray(rem)
        if values is None:
            raise TypeError("polydiv: trim_leading_zeros needs concrete values")
        nonzero = _np.flatnonzero(_np.abs(values) > 0)
        start = int(nonzero[0]) if nonzero.size else n - 1
        rem = slice_axis(rem, 0, start, n)
    return concatenate(quotient), rem


def polyfit(x: Any, y: Any, deg: int, rcond: Any = None, full: bool = False, w: Any = None,
            cov: bool | str = False) -> Any:
    """Least-squares coefficients (highest power first) of a degree-`deg` polynomial through
    (x, y), y one fit per column, as NumPy's: the Vandermonde columns scaled to unit norm,
    then a QR solve (so derivatives flow through QR's rule). `rcond` only matters for
    rank-deficient fits, which QR does not truncate: they give non-finite coefficients."""
    del rcond
    deg = static_int(deg, "deg", "polyfit")
    if deg < 0:
        raise ValueError(f"polyfit: expected deg >= 0, got {deg}")
    if full:
        raise NotImplementedError(
            "polyfit(full=True) returns lstsq's rank and singular values: call "
            "dualjit.numpy.linalg.lstsq(vander(x, deg + 1), y) for them")
    x, y = operand(x, "polyfit"), operand(y, "polyfit")
    dt = float_dtype(x, y)
    order, n = deg + 1, (_np.shape(x) or (0,))[0]
    if _np.ndim(x) != 1 or _np.ndim(y) not in (1, 2) or _np.shape(y)[0] != n or n == 0:
        raise TypeError(f"polyfit: expected non-empty 1-D x and y (or 2-D y) of one length, "
                        f"got shapes {_np.shape(x)} and {_np.shape(y)}")
    if n < order:
        raise ValueError(f"polyfit: {n} points cannot determine {order} coefficients (NumPy "
                         "returns a minimum-norm fit with a RankWarning); lower deg")
    lhs, rhs = vander(convert(x, dt), order), reshape(convert(y, dt), (n, -1))
    if w is not None:
        w = convert(operand(w, "polyfit"), dt)
        if _np.shape(w) != (n,):
            raise TypeError(f"polyfit: expected w of shape {(n,)}, got {_np.shape(w)}")
        lhs, rhs = multiply(lhs, reshape(w, (n, 1))), multiply(rhs, reshape(w, (n, 1)))
    scale = sqrt(sum(multiply(lhs, lhs), axis=0))
    lhs = divide(lhs, scale)
    q, r = bind(P.qr_p, lhs, full_matrices=False)
    scaled = _upper_solve(r, matmul(transpose(q), rhs))
    coefficients = divide(scaled, reshape(scale, (order, 1)))
    squeeze = (lambda c: reshape(c, _np.shape(c)[:-1])) if _np.ndim(y) == 1 else (lambda c: c)
    if not cov:
        return squeeze(coefficients)
    r_inverse = _upper_solve(r, _np.eye(order, dtype=dt))
    base = divide(matmul(r_inverse, transpose(r_inverse)), outer(scale, scale))
    if cov == "unscaled":
        return squeeze(coefficients), base
    if n <= order:
        raise ValueError("polyfit: the data must have more points than deg + 1 to scale the "
                         "covariance matrix (or pass cov='unscaled')")
    residuals = subtract(matmul(lhs, scaled), rhs)
    factor = divide(sum(multiply(residuals, residuals), axis=0), float(n - order))
    if _np.ndim(y) == 1:
        return squeeze(coefficients), multiply(base, reshape(factor, ()))
    return coefficients, multiply(reshape(base, (order, order, 1)), factor)


def _upper_solve(r: Any, b: Any) -> Any:
    return bind(P.triangular_solve_p, r, convert(b, result_type(r)), left_side=True,
                lower=False, transpose_a=False, unit_diagonal=False)
