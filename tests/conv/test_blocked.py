"""Register-blocked direct convolutions (codegen/conv_blocked.py): values against the direct
loop reference for random layouts, 1-3 spatial axes, strides, padding, kernel dilation,
feature and batch groups, output-feature counts that fill some vectors partly and need
several feature blocks, and position counts that end in overlapping blocks; gradients
against the interpreter; the same bits on one and two threads; W7's shapes in float32."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dualjit as dj
from dualjit.codegen import conv_blocked_plan, conv_plan
from dualjit.codegen.conv_plan import ConvGeometry
from dualjit.ir import interpreter
from dualjit.ir import primitives as P
from dualjit.tracer.make_ir import make_ir

from .checks import conv, fresh_compiles, laid_out, same_on_one_and_two_threads
from .checks import expected as reference_conv
from .test_native import _split_every_gemm_convolution


@pytest.fixture
def blocked(monkeypatch):
    """Every eligible convolution blocked (none read in place, scattered or as dots)."""
    monkeypatch.setattr(conv_blocked_plan, "FORCE", True)
    monkeypatch.setattr(conv_plan, "PRODUCT_FORMS", False)
    monkeypatch.setattr(conv_plan, "COL2IM_MIN_RATIO", float("inf"))
    monkeypatch.setattr(conv_plan, "DOT_MIN_KERNEL_RUN", 1 << 62)
    monkeypatch.setattr(conv_plan, "ROW_DOTS", False)  # (tests/conv/test_rowdots.py)
    monkeypatch.setattr(conv_plan, "ROW_VECTORS", False)  # (tests/conv/test_rowvectors.py)
    fresh_compiles()
    yield
    fresh_compiles()


@st.composite
def blocked_problems(draw):
    """A convolution the blocked lowering takes: no input dilation, padding >= 0."""
    nsp = draw(st.integers(1, 3))
    ndim = nsp + 2
    fg = draw(st.sampled_from([1, 1, 2]))
    bg = 1 if fg > 1 else draw(st.sampled_from([1, 1, 2]))
    n = bg * draw(st.integers(1, 2))
    i = draw(st.integers(1, 3))
    c, o = i * fg, fg * bg * draw(st.sampled_from([1, 3, 6, 8, 9, 16, 20]))
    kernel = [draw(st.integers(1, 3)) for _ in range(nsp)]
    spatial = [draw(st.integers(1, 3 if nsp == 3 else 14)) for _ in range(nsp)]
    perms = st.permutations(list(range(ndim))).map(tuple)
    specs = (draw(perms), draw(perms), draw(perms))
    params = dict(window_strides=tuple(draw(st.integers(1, 3)) for _ in range(nsp)),
                  padding=tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2)))
                                for _ in range(nsp)),
                  lhs_dilation=(1,) * nsp,
                  rhs_dilation=tuple(draw(st.integers(1, 2)) for _ in range(nsp)),
                  dimension_numbers=specs, feature_group_count=fg, batch_group_count=bg)
    canonical_lhs, canonical_rhs = [n, c, *spatial], [o, i, *kernel]
    lhs_shape, rhs_shape = laid_out(specs, canonical_lhs, canonical_rhs)
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    return (rng.standard_normal(lhs_shape).astype(dtype),
            rng.standard_normal(rhs_shape).astype(dtype), params)




def _is_blocked(x, w, p) -> bool:
    eqn = next(e for e in make_ir(conv(p))(x, w).eqns if e.primitive is P.conv_general_dilated_p)
    return conv_plan.blocked(ConvGeometry.of(eqn)) is not None


def _tolerance(x):
    return dict(rtol=1e-4, atol=1e-4) if x.dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)


fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@fixture_ok
@given(problem=blocked_problems())
def test_blocked_conv_matches_the_loop_reference(blocked, problem):
    x, w, p = problem
    expected = reference_conv(x.astype(np.float64), w.astype(np.float64), p)
    if expected.size == 0:
        return
    assert _is_blocked(x, w, p)
    got = dj.jit(conv(p))(x, w)
    assert got.dtype == x.dtype
    np.testing.assert_allclose(got, expected, **_tolerance(x))


@fixture_ok
@given(problem=blocked_problems())
def test_blocked_conv_gradients_match_the_interpreter(blocked, problem):
    x, w, p = problem
    x, w = x.astype(np.float64), w.astype(np.float64)
    ct = np.random.default_rng(0).standard_normal(reference_conv(x, w, p).shape)
    loss = lambda x, w: (conv(p)(x, w) * ct).sum()  # noqa: E731
    grads = dj.grad(loss, argnums=(0, 1))
    native = dj.jit(grads)(x, w)
    expected = interpreter.eval_function(make_ir(grads)(x, w), x, w)
    for a, b in zip(native, expected):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


W7_CONVS = [  # LeNet's convolutions and their gradients (examples, features, ...)
    ((64, 1, 28, 28), (6, 1, 5, 5), ((2, 2), (2, 2)), (0, 1, 2, 3)),
    ((64, 6, 14, 14), (16, 6, 5, 5), ((0, 0), (0, 0)), (0, 1, 2, 3)),
    ((64, 6, 14, 14), (64, 16, 10, 10), ((0, 0), (0, 0)), (1, 0, 2, 3)),
    ((64, 16, 10, 10), (6, 16, 5, 5), ((4, 4), (4, 4)), (0, 1, 2, 3)),  # an input gradient
]  # (the conv1 kernel gradient is row dots: tests/conv/test_rowdots.py)


@pytest.mark.parametrize("lhs, rhs, padding, spec", W7_CONVS)
def test_w7_convolutions_are_blocked_and_match_the_reference(monkeypatch, lhs, rhs, padding,
                                                             spec):
    monkeypatch.setattr(conv_plan, "ROW_VECTORS", False)  # (tests/conv/test_rowvectors.py)
    fresh_compiles()
    rng = np.random.default_rng(7)
    x, w = (rng.standard_normal(s).astype(np.float32) for s in (lhs, rhs))
    p = dict(window_strides=(1, 1), padding=padding, lhs_dilation=(1, 1), rhs_dilation=(1, 1),
             dimension_numbers=(spec,) * 3, feature_group_count=1, batch_group_count=1)
    assert _is_blocked(x, w, p)
    expected = reference_conv(x.astype(np.float64), w.astype(np.float64), p)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(dj.jit(conv(p))(x, w), expected, rtol=0, atol=1e-5 * scale)


@pytest.mark.parametrize("lhs, rhs, padding, groups", [
    ((5, 3, 9, 11), (20, 3, 3, 2), ((1, 2), (0, 1)), 1),  # two feature blocks, partial lanes
    ((4, 4, 12, 7), (16, 2, 3, 3), ((1, 1), (1, 1)), 2),  # two feature groups
])
def test_a_split_blocked_conv_is_the_same_on_any_thread_count(monkeypatch, blocked, lhs, rhs,
                                                               padding, groups):
    _split_every_gemm_convolution(monkeypatch)
    rng = np.random.default_rng(9)
    x, w = (rng.standard_normal(s).astype(np.float32) for s in (lhs, rhs))
    p = dict(window_strides=(1, 2), padding=padding, lhs_dilation=(1, 1), rhs_dilation=(2, 1),
             dimension_numbers=((0, 1, 2, 3),) * 3, feature_group_count=groups,
             batch_group_count=1)
    same_on_one_and_two_threads(monkeypatch, x, w, p, "split over threads", tol=1e-4)


def test_blocked_conv_keeps_nan_and_infinity_where_they_belong(blocked):
    x = np.random.default_rng(2).standard_normal((2, 3, 8, 8))
    x[0, 1, 3, 4], x[1, 2, 0, 0] = np.nan, np.inf
    w = np.random.default_rng(3).standard_normal((10, 3, 3, 3))
    p = dict(window_strides=(1, 1), padding=((1, 1), (1, 1)), lhs_dilation=(1, 1),
             rhs_dilation=(1, 1), dimension_numbers=((0, 1, 2, 3),) * 3,
             feature_group_count=1, batch_group_count=1)
    np.testing.assert_allclose(dj.jit(conv(p))(x, w), reference_conv(x, w, p), rtol=1e-10,
                               atol=1e-12)
