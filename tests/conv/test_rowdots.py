"""Convolutions as dots along the kernel rows (codegen/conv_rowdots.py, conv_plan.row_dots):
values against the direct loop reference and the interpreter for random layouts, strides,
padding, kernel dilation along the outer axes, feature and batch groups, kernel rows of
whole vectors and with a partial last block (masked loads); infinities in the input;
W7's conv1 kernel gradient; gradients against finite differences; one against two threads
bit for bit."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import dualjit as dj
from dualjit import lax
from dualjit.codegen import conv_plan, conv_rowdots
from dualjit.codegen.conv_plan import ConvGeometry
from dualjit.ir import interpreter
from dualjit.ir import primitives as P
from dualjit.tracer.make_ir import make_ir

from .checks import conv, fresh_compiles, laid_out, matches_central_differences, same_on_one_and_two_threads
from .checks import expected as reference_conv
from .test_native import _split_every_gemm_convolution


def _params(strides, padding, rhs_dilation, specs, fg=1, bg=1):
    return dict(window_strides=strides, padding=padding, lhs_dilation=(1,) * len(strides),
                rhs_dilation=rhs_dilation, dimension_numbers=specs, feature_group_count=fg,
                batch_group_count=bg)


def _last_innermost(spec):
    """spec with the canonical last axis held by the operand's innermost axis."""
    spec, innermost = list(spec), len(spec) - 1
    j = spec.index(innermost)
    spec[j], spec[-1] = spec[-1], spec[j]
    return tuple(spec)


@st.composite
def row_dot_problems(draw):
    """A convolution row dots take: kernel rows of 16-40 elements, 1-8 outputs along them."""
    nsp = draw(st.integers(1, 2))
    fg = draw(st.sampled_from([1, 1, 2]))
    bg = 1 if fg > 1 else draw(st.sampled_from([1, 1, 2]))
    n, i, o = bg * draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 7))
    stride = draw(st.integers(1, 2))
    pad = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    kernel_last, outputs = draw(st.integers(16, 40)), draw(st.integers(1, 8))
    spatial_last = (outputs - 1) * stride + kernel_last - sum(pad)
    outer_kernel = [draw(st.integers(1, 3)) for _ in range(nsp - 1)]
    outer_spatial = [draw(st.integers(5, 7)) for _ in range(nsp - 1)]
    perms = st.permutations(list(range(nsp + 2))).map(tuple)
    specs = (draw(perms), _last_innermost(draw(perms)), draw(perms))
    p = _params((*(draw(st.integers(1, 2)) for _ in outer_kernel), stride),
                (*((draw(st.integers(0, 1)), draw(st.integers(0, 1))) for _ in outer_kernel),
                 pad), (*(draw(st.integers(1, 2)) for _ in outer_kernel), 1), specs, fg, bg)
    lhs_shape, rhs_shape = laid_out(specs, [n, i * fg, *outer_spatial, spatial_last],
                                    [o * fg * bg, i, *outer_kernel, kernel_last])
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    return (rng.standard_normal(lhs_shape).astype(dtype),
            rng.standard_normal(rhs_shape).astype(dtype), p)


def _geometry(x, w, p) -> ConvGeometry:
    eqn = next(e for e in make_ir(conv(p))(x, w).eqns if e.primitive is P.conv_general_dilated_p)
    return ConvGeometry.of(eqn)


def _takes_row_dots(x, w, p) -> bool:
    return conv_plan.row_dots(_geometry(x, w, p))


def _tolerance(x):
    return dict(rtol=2e-5, atol=2e-5) if x.dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(problem=row_dot_problems())
def test_row_dots_match_the_loop_reference_and_the_interpreter(problem):
    x, w, p = problem
    assume(conv_plan.product_form(_geometry(x, w, p)) is None)  # (those are one gemm)
    assert _takes_row_dots(x, w, p)
    got = dj.jit(conv(p))(x, w)
    expected = reference_conv(x.astype(np.float64), w.astype(np.float64), p)
    np.testing.assert_allclose(got, expected, **_tolerance(x))
    interpreted = interpreter.eval_function(make_ir(conv(p))(x, w), x, w)[0]
    np.testing.assert_allclose(got, interpreted, **_tolerance(x))


W7_CONV1_KERNEL_GRADIENT = ((64, 1, 28, 28), (64, 6, 28, 28), ((2, 2), (2, 2)), (1, 0, 2, 3))


def test_w7_conv1_kernel_gradient_is_row_dots_and_matches_the_reference():
    lhs, rhs, padding, spec = W7_CONV1_KERNEL_GRADIENT
    rng = np.random.default_rng(7)
    x, w = (rng.standard_normal(s).astype(np.float32) for s in (lhs, rhs))
    p = _params((1, 1), padding, (1, 1), (spec,) * 3)
    assert _takes_row_dots(x, w, p)
    expected = reference_conv(x.astype(np.float64), w.astype(np.float64), p)
    np.testing.assert_allclose(dj.jit(conv(p))(x, w), expected, rtol=0,
                               atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("kernel_last", [16, 19, 24])  # whole vectors, a partial last block
def test_row_dots_keep_infinities_and_nan_where_they_belong(kernel_last):
    """An infinite input reaches exactly the outputs whose windows hold it (the masked lanes
    past a kernel row's end multiply zeros by zeros, never an input by a stale value)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 4, kernel_last + 5))
    x[0, 1, 2, 0], x[1, 2, 3, -1], x[1, 0, 0, 7] = np.inf, -np.inf, np.nan
    w = rng.standard_normal((4, 3, 2, kernel_last))
    p = _params((1, 1), ((0, 1), (1, 0)), (1, 1), ((0, 1, 2, 3),) * 3)
    assert _takes_row_dots(x, w, p)
    np.testing.assert_allclose(dj.jit(conv(p))(x, w), reference_conv(x, w, p), rtol=1e-12)


def test_kernel_gradient_through_row_dots_matches_finite_differences(monkeypatch):
    calls = []
    original = conv_rowdots.emit
    monkeypatch.setattr(conv_rowdots, "emit", lambda k, e, geo: (calls.append(e),
                                                                   original(k, e, geo)))
    fresh_compiles()
    rng = np.random.default_rng(11)
    x, w = rng.standard_normal((3, 2, 9, 24)), rng.standard_normal((4, 2, 3, 5))
    weights = rng.standard_normal((3, 4, 9, 24))

    def loss(w):
        y = lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (2, 2)))
        return (dj.numpy.tanh(y) * weights).sum()

    grad = np.asarray(dj.jit(dj.grad(loss))(w))
    assert calls, "the kernel gradient did not take row dots"
    matches_central_differences(loss, w, grad, [(0, 0, 0, 0), (3, 1, 2, 4), (2, 0, 1, 3)])
    fresh_compiles()


def test_split_row_dots_are_the_same_on_any_thread_count(monkeypatch):
    _split_every_gemm_convolution(monkeypatch)
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((4, 6, 5, 30)), rng.standard_normal((4, 6, 2, 20))
    p = _params((1, 1), ((0, 0), (0, 0)), (1, 1), ((1, 0, 2, 3),) * 3)
    assert _takes_row_dots(x, w, p)
    same_on_one_and_two_threads(monkeypatch, x, w, p, "split over threads", tol=1e-10)


def test_kernel_gradients_that_are_one_gemm_stay_gemm():
    """A pointwise convolution's kernel gradient has kernel rows as long as the input (W9's:
    1024) and one output along them, so row dots would take it; but it is one matrix product
    read in place (product_form "full"), which gemm runs several times faster: row dots
    must leave it (and every other product form) to gemm."""
    x = np.ones((8, 64, 1024), np.float32)
    w = np.ones((64, 64, 1), np.float32)

    def loss(w):
        return lax.conv_general_dilated(x, w, (1,), "VALID").sum()

    fn = make_ir(dj.grad(loss))(w)
    convs = [e for e in fn.eqns if e.primitive is P.conv_general_dilated_p]
    gradients = [e for e in convs if e.outputs[0].type.shape == w.shape]
    assert gradients, [e.outputs[0].type.shape for e in convs]
    for eqn in gradients:
        geo = ConvGeometry.of(eqn)
        assert conv_plan.product_form(geo) == "full"
        assert not conv_plan.row_dots(geo)
        assert conv_plan.library(eqn) == "gemm"
