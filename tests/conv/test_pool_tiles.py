"""The vector lowering of max-pool derivatives whose windows tile their input exactly
(codegen/conv_pool.py): against the direct loop reference (ties: the first maximum), the
interpreter (NaN, signed zeros, infinities, denormals), and finite differences; the blocks
of windows along the last axis with a remainder (the last block moved back), 1 and 2 wide
windows there, 1-D to 4-D operands."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dualjit as dj
from dualjit import lax
from dualjit.codegen import conv_pool
from dualjit.ir import interpreter
from dualjit.ir import primitives as P
from dualjit.tracer.core import bind
from dualjit.tracer.make_ir import make_ir

from . import reference
from .checks import fresh_compiles


@pytest.fixture
def vector_calls(monkeypatch):
    """The equations the vector lowerings emitted (compiled code forgotten around)."""
    calls = []
    scatter, reduce = conv_pool.select_and_scatter_add, conv_pool.reduce_window
    monkeypatch.setattr(conv_pool, "select_and_scatter_add",
                        lambda k, e: (calls.append(e), scatter(k, e)))
    monkeypatch.setattr(conv_pool, "reduce_window",
                        lambda k, e, kind: (calls.append(e), reduce(k, e, kind)))
    fresh_compiles()
    yield calls
    fresh_compiles()


def _params(window):
    ndim = len(window)
    return dict(window_dimensions=window, window_strides=window, padding=((0, 0),) * ndim,
                base_dilation=(1,) * ndim, window_dilation=(1,) * ndim)


@st.composite
def tiled_problems(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    lanes = 8 if dtype == np.float32 else 4
    lead = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))
    window = (*(draw(st.integers(1, 2)) for _ in lead), draw(st.integers(1, 2)))
    counts = (*(draw(st.integers(1, 3)) for _ in lead), draw(st.integers(1, 3 * lanes)))
    shape = tuple(c * w for c, w in zip(counts, window))
    values = draw(st.sampled_from(["random", "ties", "special"]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    if values == "random":
        x = rng.standard_normal(shape)
    elif values == "ties":
        x = rng.choice([-1.0, 0.0, -0.0, 2.0], size=shape)
    else:
        x = rng.choice([-np.inf, -2.5, -1e-310, -0.0, 0.0, 1e-310, 3.0, np.inf, np.nan,
                        -np.nan], size=shape)
    s = rng.standard_normal(counts)
    return x.astype(dtype), s.astype(dtype), _params(window)


def _scatter(p):
    return lambda s, x: bind(P.select_and_scatter_add_p, s, x, **p)


def _pools(p):
    return lambda s, x: (bind(P.select_and_scatter_add_p, s, x, **p),
                         bind(P.reduce_window_max_p, x, **p), bind(P.reduce_window_sum_p, x, **p))


def _reference(s, x, p):
    where, _ = reference.first_max_positions(x, **p)
    out = np.zeros_like(x)
    for q, src in where.items():
        out[src] += s[q]
    return out


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(problem=tiled_problems())
def test_tiled_pools_match_the_interpreter_and_the_loop_reference(vector_calls, problem):
    x, s, p = problem
    vector_calls.clear()  # (the fixture runs once for all examples)
    native = [np.asarray(v) for v in dj.jit(_pools(p))(s, x)]
    assert len(vector_calls) == 3, "the vector lowerings were not used"
    expected = interpreter.eval_function(make_ir(_pools(p))(s, x), s, x)
    for got, want in zip(native, expected):  # (the same operations in the same order)
        np.testing.assert_array_equal(got, want)
    if not np.isnan(x).any():  # (the loop reference's `>` skips NaN; the interpreter's doesn't)
        np.testing.assert_array_equal(native[0], _reference(s, x, p))
        np.testing.assert_array_equal(native[1], reference.reduce_window(x, max, -np.inf, **p))
    np.testing.assert_allclose(native[2], reference.reduce_window(x, np.add, 0.0, **p),
                               rtol=1e-5)
    fresh_compiles()


@pytest.mark.parametrize("shape, strides, dtype, vector", [
    ((3, 2, 6, 20), (1, 1, 2, 1), np.float64, False),  # overlapping windows
    ((5, 18), (2, 2), np.float64, False),  # a remainder row no window covers
    ((2, 8), (2, 2), np.float32, True),  # 4 windows along the last axis: a 4-lane vector
    ((4, 10), (2, 2), np.float64, True),  # 5 windows: two 4-lane blocks, overlapping
    ((2, 2), (2, 2), np.float32, True),  # one window: 1-lane vectors
])
def test_untiled_windows_take_the_general_loop_and_few_windows_short_vectors(
        vector_calls, shape, strides, dtype, vector):
    """Windows that do not tile the input (remainders, overlaps) still scatter correctly,
    through the general lowering; few windows along the last axis take short vectors."""
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    p = {**_params((1,) * (len(shape) - 2) + (2, 2)), "window_strides": strides}
    counts = reference.reduce_window(x, max, -np.inf, **p).shape
    s = np.random.default_rng(1).standard_normal(counts).astype(dtype)
    np.testing.assert_allclose(dj.jit(_scatter(p))(s, x), _reference(s, x, p), rtol=1e-6)
    assert len(vector_calls) == vector


def test_tiled_max_pool_gradient_matches_finite_differences(vector_calls):
    rng = np.random.default_rng(3)
    x = rng.permutation(2 * 3 * 8 * 20).reshape(2, 3, 8, 20) / 64.0  # (distinct: no ties)
    weights = rng.standard_normal((2, 3, 4, 10))

    def loss(x):
        pooled = lax.reduce_window(x, -np.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        return (dj.numpy.tanh(pooled) * weights).sum()

    grad = np.asarray(dj.jit(dj.grad(loss))(x))
    assert vector_calls
    eps = 1e-6
    for index in [(0, 0, 0, 0), (1, 2, 7, 19), (0, 1, 3, 10), (1, 0, 6, 5)]:
        step = np.zeros_like(x)
        step[index] = eps
        numeric = (float(loss(x + step)) - float(loss(x - step))) / (2 * eps)
        np.testing.assert_allclose(grad[index], numeric, rtol=1e-6, atol=1e-9)
