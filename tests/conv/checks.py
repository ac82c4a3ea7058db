"""Helpers the convolution tests share: layouts of drawn problems, the direct-loop reference
for a params dict, and the one-thread/two-thread check of a split convolution."""

from __future__ import annotations

import numpy as np

import dualjit as dj
from dualjit import lax
from dualjit.codegen import runtime

from . import reference


def laid_out(specs, canonical_lhs, canonical_rhs):
    """The input and kernel shapes of canonical (N, C, spatial...) / (O, I, window...) shapes
    under the dimension numbers `specs`."""
    ndim = len(canonical_lhs)
    lhs_shape, rhs_shape = [0] * ndim, [0] * ndim
    for j in range(ndim):
        lhs_shape[specs[0][j]] = canonical_lhs[j]
        rhs_shape[specs[1][j]] = canonical_rhs[j]
    return lhs_shape, rhs_shape


def expected(x, w, p):
    """The direct-loop reference convolution of `x` and `w` with lax parameters `p`."""
    return reference.conv(x, w, p["window_strides"], p["padding"], p["lhs_dilation"],
                          p["rhs_dilation"], p["dimension_numbers"], p["feature_group_count"],
                          p["batch_group_count"])


def conv(p):
    return lambda x, w: lax.conv_general_dilated(x, w, **p)


def fresh_compiles():
    """Forget compiled functions, so that the next call plans again under patched settings."""
    runtime._live.clear()
    runtime._recent.clear()


def same_on_one_and_two_threads(monkeypatch, x, w, p, plan_says, tol=1e-5):
    """The convolution's plan says `plan_says`, and its results on one and on two threads are
    bit-identical and equal to the reference loops."""
    f = dj.jit(conv(p))
    plan = str(f.lower(x, w).plan())
    assert plan_says in plan, plan
    results = []
    for count in ("1", "2"):
        monkeypatch.setenv("DUALJIT_NUM_THREADS", count)
        results.append(np.asarray(f(x, w)))
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_allclose(results[0], expected(x, w, p), rtol=tol, atol=tol)
    fresh_compiles()


def matches_central_differences(loss, at, grad, indices, eps=1e-6):
    """grad (of loss at `at`, float64) agrees with central differences at the given indices."""
    for index in indices:
        step = np.zeros_like(at)
        step[index] = eps
        numeric = (float(loss(at + step)) - float(loss(at - step))) / (2 * eps)
        np.testing.assert_allclose(grad[index], numeric, rtol=1e-6, atol=1e-9)
