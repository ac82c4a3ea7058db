"""check_grads: forward and reverse mode against central differences and each other."""

from __future__ import annotations

import numpy as np

import dualjit as dj


def _random_like(x, rng):
    return rng.standard_normal(np.shape(x)).astype(np.asarray(x).dtype)


def _inner(a, b):
    return sum(float(np.sum(np.asarray(x, np.float64) * np.asarray(y, np.float64)))
               for x, y in zip(a, b))


def numerical_jvp(f, args, tangents, eps):
    """Central difference of f along `tangents`, computed in float64."""
    args64 = [np.asarray(a, np.float64) for a in args]
    f = dj.jit(f)  # traced, so loops that index their inputs work on plain arrays too
    plus = f(*[a + eps * t for a, t in zip(args64, tangents)])
    minus = f(*[a - eps * t for a, t in zip(args64, tangents)])
    return (np.asarray(plus, np.float64) - np.asarray(minus, np.float64)) / (2 * eps)


def check_grads(f, args, order=1, modes=("fwd", "rev"), rtol=None, atol=None, seed=0):
    """Assert that f's derivatives (up to `order`) agree with finite differences.

    fwd: jvp against a central difference along a random direction.
    rev: the inner-product identity <u, J v> = <J^T u, v> with jvp/vjp, and vjp against the
         numerical directional derivative.
    """
    rng = np.random.default_rng(seed)
    out_dtype = np.asarray(dj.jit(f)(*args)).dtype
    low_precision = out_dtype == np.float32 or any(np.asarray(a).dtype == np.float32 for a in args)
    rtol = rtol if rtol is not None else (2e-2 if low_precision else 1e-5)
    atol = atol if atol is not None else (2e-2 if low_precision else 1e-6)
    eps = 1e-3 if low_precision else 1e-6
    tangents = [_random_like(a, rng) for a in args]
    out, out_dot = dj.jvp(f, tuple(args), tuple(tangents))
    expected = numerical_jvp(f, args, tangents, eps)
    if "fwd" in modes:
        np.testing.assert_allclose(np.asarray(out_dot, np.float64), expected, rtol=rtol, atol=atol,
                                   err_msg="jvp disagrees with central differences")
    if "rev" in modes:
        out2, pullback = dj.vjp(f, *args)
        np.testing.assert_allclose(np.asarray(out2), np.asarray(out), rtol=1e-6, atol=1e-6)
        u = _random_like(out, rng)
        cts = pullback(u)
        lhs = _inner([u], [expected])
        rhs = _inner(cts, tangents)
        scale = max(1.0, abs(lhs), abs(rhs))
        assert abs(lhs - rhs) <= (rtol * scale + atol * 10), (
            f"<u, Jv> = {lhs} but <J^T u, v> = {rhs}")
    if order > 1:
        def directional(*xs):
            return dj.jvp(f, xs, tuple(tangents))[1]
        check_grads(directional, args, order - 1, modes, rtol, atol, seed + 1)
