"""Direct convolutions and dots along the kernel in vector registers (codegen/conv_depthwise.py,
chosen by conv_plan.vector_rows / vector_dots): values against the direct loop reference and
the interpreter for random lengths (whole vector blocks, remainders, rows shorter than one
block), padding (edges on both sides, negative), kernel dilation, strides, feature and batch
groups, 1-D and 2-D, float32 and float64; padding that must add nothing (infinite weights);
gradients against finite differences; bit-identical results on one and two threads."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dualjit as dj
from dualjit import lax
from dualjit.codegen import conv_plan, nest_plan, threads
from dualjit.codegen.conv_plan import ConvGeometry
from dualjit.ir import interpreter
from dualjit.ir import primitives as P
from dualjit.tracer.make_ir import make_ir

from ..autodiff.check import check_grads
from .checks import conv, fresh_compiles, same_on_one_and_two_threads
from .checks import expected as reference_conv

fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])




def _geometries(f, *args) -> list[ConvGeometry]:
    fn = make_ir(f)(*args)
    return [ConvGeometry.of(e) for e in fn.eqns if e.primitive is P.conv_general_dilated_p]


LAYOUTS = {  # (lhs, rhs, out) specs whose canonical last spatial axis is the innermost of
    # the input and the output (the kernel's may be anything)
    1: [((0, 1, 2),) * 3, ((1, 0, 2), (2, 0, 1), (1, 0, 2))],
    2: [((0, 1, 2, 3),) * 3, ((1, 0, 2, 3), (3, 1, 0, 2), (1, 0, 2, 3))],
}


def _operand(rng, canonical, spec, dtype):
    """A random operand of canonical shape laid out by spec (spec[j] = the axis of canonical
    axis j)."""
    shape = [0] * len(spec)
    for j, axis in enumerate(spec):
        shape[axis] = canonical[j]
    return rng.standard_normal(shape).astype(dtype)


@st.composite
def depthwise_problems(draw):
    """A depthwise or grouped convolution whose last spatial axis is contiguous in the input
    and output (vector rows), 1-D or 2-D (the outer axis strided, cropped, never padded)."""
    nsp = draw(st.integers(1, 2))
    fg = draw(st.sampled_from([1, 2, 3]))
    bg = 1 if fg > 1 else draw(st.sampled_from([1, 2]))
    n, i = bg * draw(st.integers(1, 2)), draw(st.integers(1, 2))
    o = fg * bg * draw(st.integers(1, 2))
    outer = [(draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2)))
             for _ in range(nsp - 1)]  # (output size, kernel, kernel dilation)
    crops = [(draw(st.integers(-1, 0)), draw(st.integers(-1, 0))) for _ in outer]
    p = dict(window_strides=(*(draw(st.integers(1, 2)) for _ in outer), 1),
             padding=(*crops, (draw(st.integers(-2, 6)), draw(st.integers(-2, 6)))),
             lhs_dilation=(1,) * nsp,
             rhs_dilation=(*(d for _, _, d in outer), draw(st.integers(1, 3))),
             dimension_numbers=draw(st.sampled_from(LAYOUTS[nsp])),
             feature_group_count=fg, batch_group_count=bg)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    lhs, rhs, _ = p["dimension_numbers"]
    spatial = [s + (k - 1) * d for s, k, d in outer] + [draw(st.integers(1, 40))]
    kernel = [k for _, k, _ in outer] + [draw(st.integers(1, 9))]
    x = _operand(rng, [n, i * fg, *spatial], lhs, dtype)
    return x, _operand(rng, [o, i, *kernel], rhs, dtype), p


def _tolerance(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


@given(problem=depthwise_problems())
def test_vector_rows_match_the_loop_reference_and_the_interpreter(problem):
    x, w, p = problem
    expected = reference_conv(x.astype(np.float64), w.astype(np.float64), p)
    if not all(expected.shape):  # (negative padding cropped the output away)
        return
    geometries = _geometries(conv(p), x, w)
    assert all(conv_plan.vector_rows(g) for g in geometries), geometries
    got = dj.jit(conv(p))(x, w)
    assert got.dtype == x.dtype
    np.testing.assert_allclose(got, expected, **_tolerance(x.dtype))
    interpreted = interpreter.eval_function(make_ir(conv(p))(x, w), x, w)[0]
    np.testing.assert_allclose(got, interpreted, **_tolerance(x.dtype))


DOT_LAYOUTS = {  # the input's and the kernel's canonical last spatial axis innermost
    1: [((0, 1, 2),) * 3, ((1, 0, 2),) * 3, ((1, 0, 2), (0, 1, 2), (2, 0, 1))],
    2: [((0, 1, 2, 3),) * 3, ((1, 0, 2, 3), (1, 0, 2, 3), (3, 2, 0, 1))],
}


@st.composite
def dot_problems(draw):
    """A convolution whose kernel is longer than its output along the last axis (a kernel
    gradient's shape) with at most VECTOR_MAX_DOT_OUTPUTS outputs there: vector dots."""
    nsp = draw(st.integers(1, 2))
    fg = draw(st.sampled_from([1, 2]))
    bg = 1 if fg > 1 else draw(st.sampled_from([1, 1, 3]))
    n, i, o = bg * draw(st.integers(1, 2)), draw(st.integers(1, 3)), fg * bg
    count, stride = draw(st.integers(1, 12)), draw(st.integers(1, 3))
    low, high = draw(st.integers(-2, 6)), draw(st.integers(-2, 6))
    length = draw(st.integers(count + 1, 60))  # the kernel's last axis
    size = length + (count - 1) * stride - low - high
    if size < 1:
        size, low = 1, length + (count - 1) * stride - high - 1
    outer = [(draw(st.integers(1, 3)), draw(st.integers(1, 3))) for _ in range(nsp - 1)]
    p = dict(window_strides=(*(s for s, _ in outer), stride),
             padding=(*((0, 0) for _ in outer), (low, high)), lhs_dilation=(1,) * nsp,
             rhs_dilation=(1,) * nsp, dimension_numbers=draw(st.sampled_from(DOT_LAYOUTS[nsp])),
             feature_group_count=fg, batch_group_count=bg)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    lhs, rhs, _ = p["dimension_numbers"]
    x = _operand(rng, [n, i * fg, *(2 * s + k for s, k in outer), size], lhs, dtype)
    return x, _operand(rng, [o, i, *(k for _, k in outer), length], rhs, dtype), p


@fixture_ok
@given(problem=dot_problems())
def test_vector_dots_match_the_loop_reference_and_the_interpreter(problem, monkeypatch):
    monkeypatch.setattr(conv_plan, "DOT_MIN_KERNEL_RUN", 1)  # (W9's are 1024 long)
    fresh_compiles()
    x, w, p = problem
    expected = reference_conv(x.astype(np.float64), w.astype(np.float64), p)
    geometries = _geometries(conv(p), x, w)
    assert all(conv_plan.vector_dots(g) for g in geometries), geometries
    got = dj.jit(conv(p))(x, w)
    np.testing.assert_allclose(got, expected, **_tolerance(x.dtype))
    interpreted = interpreter.eval_function(make_ir(conv(p))(x, w), x, w)[0]
    np.testing.assert_allclose(got, interpreted, **_tolerance(x.dtype))
    fresh_compiles()


def _separable_block(x, depth, point):
    """W9's block: depthwise k=9 (padding 4) -> pointwise -> relu."""
    h = lax.conv_general_dilated(x, depth, (1,), ((4, 4),), feature_group_count=x.shape[1])
    return dj.nn.relu(lax.conv_general_dilated(h, point, (1,), ((0, 0),)))


@pytest.mark.parametrize("length", [5, 37])
def test_separable_block_gradients_match_finite_differences_and_the_interpreter(length):
    """Forward (vector rows), input gradient (vector rows, kernel flipped) and kernel gradient
    (vector dots once the kernel is long: DOT_MIN_KERNEL_RUN) of a depthwise convolution."""
    rng = np.random.default_rng(length)
    x, depth = rng.standard_normal((2, 3, length)), rng.standard_normal((3, 1, 9))
    point = rng.standard_normal((4, 3, 1))
    loss = lambda x, d: (_separable_block(x, d, point) ** 2).sum()  # noqa: E731
    check_grads(lambda x, d: _separable_block(x, d, point), [x, depth], order=1)
    grads = dj.grad(loss, argnums=(0, 1))
    native = dj.jit(grads)(x, depth)
    expected = interpreter.eval_function(make_ir(grads)(x, depth), x, depth)
    for a, b in zip(native, expected):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_kernel_gradient_of_a_long_depthwise_convolution_takes_vector_dots():
    """At the default thresholds W9's kernel gradient shape (a batch-grouped convolution with
    1024-long kernel rows and 9 outputs) is vector dots, and matches the loop reference."""
    rng = np.random.default_rng(2)
    x, g = rng.standard_normal((2, 3, 200)), rng.standard_normal((2, 3, 200))
    p = dict(window_strides=(1,), padding=((4, 4),), lhs_dilation=(1,), rhs_dilation=(1,),
             dimension_numbers=((1, 0, 2),) * 3, feature_group_count=1, batch_group_count=3)
    assert all(conv_plan.vector_dots(geo) for geo in _geometries(conv(p), x, g))
    np.testing.assert_allclose(dj.jit(conv(p))(x, g), reference_conv(x, g, p), rtol=1e-12)


@pytest.mark.parametrize("special", [np.inf, -np.inf, np.nan])
def test_padding_adds_nothing_to_rows_and_dots(special, monkeypatch):
    """Padding contributes no term: an infinite or NaN weight applied only to padding leaves
    the output finite (0 * inf would be NaN), as in the loop reference; special values inside
    the input propagate."""
    monkeypatch.setattr(conv_plan, "DOT_MIN_KERNEL_RUN", 1)
    fresh_compiles()
    x = np.arange(1.0, 21.0).reshape(1, 1, 20)
    w = np.ones((1, 1, 3))
    w[0, 0, 0] = special  # reads x[v - 2]: padding for v < 2
    rows = dict(window_strides=(1,), padding=((2, 0),), lhs_dilation=(1,), rhs_dilation=(1,),
                dimension_numbers=((0, 1, 2),) * 3, feature_group_count=1, batch_group_count=1)
    got = dj.jit(conv(rows))(x, w)
    np.testing.assert_array_equal(got, reference_conv(x, w, rows))
    assert np.isfinite(got[0, 0, :2]).all() and not np.isfinite(got[0, 0, 2:]).any()
    kernel = np.ones((1, 1, 18))
    kernel[0, 0, -1] = special  # reads x[17 + j - 2 + 2] = x[17 + j]: padding for j >= 3
    dots = dict(rows, padding=((0, 2),))
    assert all(conv_plan.vector_dots(geo) for geo in _geometries(conv(dots), x, kernel))
    got = dj.jit(conv(dots))(x, kernel)
    np.testing.assert_array_equal(got, reference_conv(x, kernel, dots))
    assert not np.isfinite(got[0, 0, :3]).any() and np.isfinite(got[0, 0, 3:]).all()
    fresh_compiles()


def _split_every_convolution(monkeypatch):
    monkeypatch.setattr(nest_plan, "GEMM_MIN_MACS", 0)
    monkeypatch.setattr(nest_plan, "GEMM_BUSY_MACS", 0)
    monkeypatch.setattr(conv_plan, "DIRECT_CHUNK_MACS", 1)
    monkeypatch.setattr(threads, "_pinned", 2)


@pytest.mark.parametrize("x_shape, w_shape, p", [
    ((3, 8, 70), (8, 1, 9), dict(padding=((4, 4),), feature_group_count=8)),  # rows
    ((3, 8, 70), (3, 8, 70), dict(padding=((4, 4),), dimension_numbers=((1, 0, 2),) * 3,
                                  batch_group_count=8)),  # dots (a kernel gradient)
])
def test_rows_and_dots_are_the_same_on_one_and_two_threads(monkeypatch, x_shape, w_shape, p):
    _split_every_convolution(monkeypatch)
    monkeypatch.setattr(conv_plan, "DOT_MIN_KERNEL_RUN", 1)
    fresh_compiles()
    p = dict(dict(window_strides=(1,), lhs_dilation=(1,), rhs_dilation=(1,),
                  dimension_numbers=((0, 1, 2),) * 3, feature_group_count=1,
                  batch_group_count=1), **p)
    rng = np.random.default_rng(6)
    x, w = (rng.standard_normal(s).astype(np.float32) for s in (x_shape, w_shape))
    geometries = _geometries(conv(p), x, w)
    assert all(conv_plan.vector_rows(g) or conv_plan.vector_dots(g) for g in geometries)
    same_on_one_and_two_threads(monkeypatch, x, w, p, "split over threads")
