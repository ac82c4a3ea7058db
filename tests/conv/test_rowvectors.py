"""Direct convolutions in vectors along the output rows (codegen/conv_rowvectors.py,
conv_plan.row_vectors): values against the direct loop reference and the interpreter for
random layouts (contiguous and strided output rows), strides along the outer axes, padding,
kernel dilation, feature and batch groups, 1-D to 3-D; W7's conv1 and its second input
gradient; gradients against finite differences; one against two threads bit for bit."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import dualjit as dj
from dualjit import lax
from dualjit.codegen import conv_plan, conv_rowvectors
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


@st.composite
def row_vector_problems(draw):
    """A convolution row vectors take: 6 float32 (3 float64) output features per group,
    window strides 1 along the last axis, at least a vector of outputs along it."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    lanes, features = (8, 6) if dtype == np.float32 else (4, 3)
    nsp = draw(st.integers(1, 3))
    fg = draw(st.sampled_from([1, 1, 2]))
    bg = 1 if fg > 1 else draw(st.sampled_from([1, 1, 2]))
    n, i = bg * draw(st.integers(1, 2)), draw(st.integers(1, 3))
    kernel = [draw(st.integers(1, 3)) for _ in range(nsp)]
    dilation = [draw(st.integers(1, 2)) for _ in range(nsp)]
    padding = [(draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(nsp)]
    strides = [*(draw(st.integers(1, 2)) for _ in range(nsp - 1)), 1]
    last = draw(st.integers(lanes, 3 * lanes)) + (kernel[-1] - 1) * dilation[-1] - sum(padding[-1])
    spatial = [*(draw(st.integers(3, 5 if nsp == 3 else 9)) for _ in range(nsp - 1)),
               max(last, 1)]
    perms = st.permutations(list(range(nsp + 2))).map(tuple)
    specs = (draw(perms), draw(perms), draw(st.sampled_from([tuple(range(nsp + 2))]) | perms))
    p = _params(tuple(strides), tuple(padding), tuple(dilation), specs, fg, bg)
    lhs_shape, rhs_shape = laid_out(specs, [n, i * fg, *spatial], [features * fg * bg, i, *kernel])
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    return (rng.standard_normal(lhs_shape).astype(dtype),
            rng.standard_normal(rhs_shape).astype(dtype), p)


def _takes_row_vectors(x, w, p) -> bool:
    eqn = next(e for e in make_ir(conv(p))(x, w).eqns if e.primitive is P.conv_general_dilated_p)
    return conv_plan.row_vectors(ConvGeometry.of(eqn))


def _tolerance(x):
    return dict(rtol=2e-5, atol=2e-5) if x.dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)


@given(problem=row_vector_problems())
def test_row_vectors_match_the_loop_reference_and_the_interpreter(problem):
    x, w, p = problem
    assume(_takes_row_vectors(x, w, p))  # (not: an output row shorter than a vector)
    got = dj.jit(conv(p))(x, w)
    expected = reference_conv(x.astype(np.float64), w.astype(np.float64), p)
    np.testing.assert_allclose(got, expected, **_tolerance(x))
    interpreted = interpreter.eval_function(make_ir(conv(p))(x, w), x, w)[0]
    np.testing.assert_allclose(got, interpreted, **_tolerance(x))


W7 = [((64, 1, 28, 28), (6, 1, 5, 5), ((2, 2), (2, 2))),  # conv1
      ((64, 16, 10, 10), (6, 16, 5, 5), ((4, 4), (4, 4)))]  # conv2's input gradient


@pytest.mark.parametrize("lhs, rhs, padding", W7)
def test_w7_convolutions_in_row_vectors_match_the_reference(lhs, rhs, padding):
    rng = np.random.default_rng(7)
    x, w = (rng.standard_normal(s).astype(np.float32) for s in (lhs, rhs))
    p = _params((1, 1), padding, (1, 1), ((0, 1, 2, 3),) * 3)
    assert _takes_row_vectors(x, w, p)
    expected = reference_conv(x.astype(np.float64), w.astype(np.float64), p)
    np.testing.assert_allclose(dj.jit(conv(p))(x, w), expected, rtol=0,
                               atol=1e-5 * np.abs(expected).max())


def test_input_gradient_through_row_vectors_matches_finite_differences(monkeypatch):
    calls = []
    original = conv_rowvectors.emit
    monkeypatch.setattr(conv_rowvectors, "emit", lambda k, e, geo: (calls.append(e),
                                                                      original(k, e, geo)))
    fresh_compiles()
    rng = np.random.default_rng(11)
    x, w = rng.standard_normal((2, 4, 7, 12)), rng.standard_normal((6, 4, 3, 3))
    weights = rng.standard_normal((2, 6, 5, 10))

    def loss(x):
        return (dj.numpy.tanh(lax.conv_general_dilated(x, w, (1, 1), "VALID")) * weights).sum()

    grad = np.asarray(dj.jit(dj.grad(loss))(x))
    assert calls, "no convolution took row vectors"
    matches_central_differences(loss, x, grad, [(0, 0, 0, 0), (1, 3, 6, 11), (0, 2, 3, 5)])
    fresh_compiles()


def test_split_row_vectors_are_the_same_on_any_thread_count(monkeypatch):
    _split_every_gemm_convolution(monkeypatch)
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((4, 3, 9, 20)), rng.standard_normal((6, 3, 3, 3))
    p = _params((1, 1), ((1, 1), (1, 1)), (1, 1), ((0, 1, 2, 3),) * 3)
    assert _takes_row_vectors(x, w, p)
    same_on_one_and_two_threads(monkeypatch, x, w, p, "split over threads", tol=1e-10)
