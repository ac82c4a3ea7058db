"""Convolutions and window reductions: values against the direct loop reference for random
layouts, strides, padding, dilations and groups; derivatives against finite differences;
native (jit) against the interpreter; JAX's spellings (padding strings, layout strings,
conv_transpose) against JAX's outputs recorded in jax_reference.npz (make_jax_reference.py)."""

import pathlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dualjit as dj
from dualjit import lax
from dualjit.ir import IRError

from ..autodiff.check import check_grads
from . import make_jax_reference, reference
from .checks import expected as reference_conv
from .checks import laid_out


@st.composite
def conv_problems(draw):
    """A small 1-D or 2-D convolution with random layout, strides, padding, dilation, groups."""
    nsp = draw(st.integers(1, 2))
    ndim = nsp + 2
    fg = draw(st.sampled_from([1, 1, 2, 3]))
    bg = 1 if fg > 1 else draw(st.sampled_from([1, 1, 2]))
    n = bg * draw(st.integers(1, 2))
    i = draw(st.integers(1, 2))
    c, o = i * fg, fg * bg * draw(st.integers(1, 2))
    kernel = [draw(st.integers(1, 3)) for _ in range(nsp)]
    spatial = [draw(st.integers(1, 6)) for _ in range(nsp)]
    perms = st.permutations(list(range(ndim))).map(tuple)
    specs = (draw(perms), draw(perms), draw(perms))
    params = dict(window_strides=tuple(draw(st.integers(1, 3)) for _ in range(nsp)),
                  padding=tuple((draw(st.integers(-1, 2)), draw(st.integers(-1, 2)))
                                for _ in range(nsp)),
                  lhs_dilation=tuple(draw(st.integers(1, 2)) for _ in range(nsp)),
                  rhs_dilation=tuple(draw(st.integers(1, 2)) for _ in range(nsp)),
                  dimension_numbers=specs, feature_group_count=fg, batch_group_count=bg)
    canonical_lhs, canonical_rhs = [n, c, *spatial], [o, i, *kernel]
    lhs_shape, rhs_shape = laid_out(specs, canonical_lhs, canonical_rhs)
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    return rng.standard_normal(lhs_shape), rng.standard_normal(rhs_shape), params


def _padded_enough(x, w, p):
    """Negative padding may crop the input below one window: the output is then empty."""
    return all(s > 0 for s in reference_conv(x, w, p).shape)


@given(conv_problems())
def test_conv_matches_the_loop_reference(problem):
    x, w, p = problem
    expected = reference_conv(x, w, p)
    got = lax.conv_general_dilated(x, w, **p)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@given(conv_problems())
def test_conv_native_matches_interpreter(problem):
    x, w, p = problem
    f = lambda x, w: lax.conv_general_dilated(x, w, **p)  # noqa: E731
    np.testing.assert_allclose(dj.jit(f)(x.astype(np.float32), w.astype(np.float32)),
                               reference_conv(x, w, p), rtol=1e-4, atol=1e-4)


@given(conv_problems())
def test_conv_derivatives_match_finite_differences(problem):
    x, w, p = problem
    if not _padded_enough(x, w, p):
        return
    check_grads(lambda x, w: lax.conv_general_dilated(x, w, **p), [x, w], order=2)


JAX_REFERENCE = np.load(pathlib.Path(__file__).with_name("jax_reference.npz"))


@pytest.mark.parametrize("name, thunk", make_jax_reference.calls(lax, dj.grad),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_jax_spellings_match_jax_recorded_outputs(name, thunk):
    """Padding strings, layout strings, conv_transpose, gradients of a strided, dilated,
    grouped convolution and max-pool ties: JAX's outputs recorded by make_jax_reference.py."""
    np.testing.assert_allclose(thunk(), JAX_REFERENCE[name], rtol=1e-10, atol=1e-12)


def test_grouped_conv_gradients_match_the_loop_reference():
    x, w = make_jax_reference.GROUPED
    kw = dict(window_strides=(2, 1), padding=((1, 0), (2, 1)), lhs_dilation=(1, 2),
              rhs_dilation=(2, 1), dimension_numbers=((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2)),
              feature_group_count=2)
    ct = np.random.default_rng(8).standard_normal(lax.conv_general_dilated(x, w, **kw).shape)
    loss = lambda x, w: (lax.conv_general_dilated(x, w, **kw) * ct).sum()  # noqa: E731
    expected = reference.conv_vjp(x, w, ct, kw["window_strides"], kw["padding"],
                                  kw["lhs_dilation"], kw["rhs_dilation"],
                                  kw["dimension_numbers"], 2)
    for got in (dj.grad(loss, argnums=(0, 1))(x, w), dj.jit(dj.grad(loss, argnums=(0, 1)))(x, w)):
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_conv_transpose_with_transposed_kernel_is_the_gradient_of_conv():
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((1, 2, 7, 6)), rng.standard_normal((3, 2, 3, 3))
    conv = lambda x: lax.conv_general_dilated(x, w, (2, 2), ((1, 1), (1, 1)))  # noqa: E731
    ct = rng.standard_normal(conv(x).shape)
    _, pullback = dj.vjp(conv, x)
    (x_bar,) = pullback(ct)
    # padding (k - 1 - low, (in - 1) + low - (out - 1) * stride) per spatial dimension
    up = lax.conv_transpose(ct, w, (2, 2), ((1, 1), (1, 2)), transpose_kernel=True,
                            dimension_numbers=("NCHW", "OIHW", "NCHW"))
    np.testing.assert_allclose(up, x_bar, rtol=1e-10)


# ---------------------------------------------------------------------------------------------
# Window reductions
# ---------------------------------------------------------------------------------------------

@st.composite
def window_problems(draw):
    ndim = draw(st.integers(1, 3))
    shape = [draw(st.integers(1, 5)) for _ in range(ndim)]
    params = dict(window_dimensions=tuple(draw(st.integers(1, 3)) for _ in range(ndim)),
                  window_strides=tuple(draw(st.integers(1, 3)) for _ in range(ndim)),
                  padding=tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2)))
                                for _ in range(ndim)),
                  base_dilation=tuple(draw(st.integers(1, 2)) for _ in range(ndim)),
                  window_dilation=tuple(draw(st.integers(1, 2)) for _ in range(ndim)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.integers(-3, 4, shape).astype(np.float64)  # small integers: many ties
    return x, params


@given(window_problems())
def test_window_sum_and_max_match_the_loop_reference(problem):
    x, p = problem
    np.testing.assert_allclose(lax.reduce_window(x, 0.0, lax.add, **p),
                               reference.reduce_window(x, np.add, 0.0, **p))
    np.testing.assert_array_equal(lax.reduce_window(x, -np.inf, lax.max, **p),
                                  reference.reduce_window(x, max, -np.inf, **p))
    np.testing.assert_array_equal(lax.reduce_window(x, np.inf, lax.min, **p),
                                  reference.reduce_window(x, min, np.inf, **p))
    jitted = dj.jit(lambda x: lax.reduce_window(x, -np.inf, lax.max, **p))
    np.testing.assert_array_equal(jitted(x), reference.reduce_window(x, max, -np.inf, **p))


@given(window_problems())
def test_max_pool_gradient_goes_to_the_first_maximum_of_each_window(problem):
    x, p = problem
    where, counts = reference.first_max_positions(x, **p)
    ct = np.arange(1.0, 1.0 + int(np.prod(counts))).reshape(counts)
    expected = np.zeros_like(x)
    for pos, src in where.items():
        if src is not None:
            expected[src] += ct[pos]
    _, pullback = dj.vjp(lambda x: lax.reduce_window(x, -np.inf, lax.max, **p), x)
    np.testing.assert_array_equal(pullback(ct)[0], expected)


@given(window_problems())
def test_window_derivatives_match_finite_differences(problem):
    x, p = problem
    rng = np.random.default_rng(0)
    x = x + rng.standard_normal(x.shape) * 0.1 + np.arange(x.size).reshape(x.shape) * 1e-2
    check_grads(lambda x: lax.reduce_window(x, 0.0, lax.add, **p), [x], order=2)
    maxima = reference.reduce_window(x, max, -np.inf, **p)
    if maxima.size and np.isfinite(maxima).all():  # (a window of padding only has max -inf)
        check_grads(lambda x: lax.reduce_window(x, -np.inf, lax.max, **p), [x], order=2,
                    atol=1e-5)


def test_integer_window_max_and_min_use_the_integer_range():
    x = np.array([[0, 255, 7], [1, 2, 3]], np.uint8)
    kw = dict(window_dimensions=(2, 2), window_strides=(1, 1), padding="VALID")
    np.testing.assert_array_equal(lax.reduce_window(x, 0, lax.max, **kw), [[255, 255]])
    np.testing.assert_array_equal(lax.reduce_window(x, 255, lax.min, **kw), [[0, 2]])


# ---------------------------------------------------------------------------------------------
# Errors and edge cases
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("w_shape, kw, message", [
    ((4, 3, 3), {}, "do not fit feature_group_count"),
    ((4, 2, 3), {"feature_group_count": 3}, "do not fit"),
    ((4, 2, 0), {}, "empty window"),
    ((4, 2, 3), {"window_strides": (0,)}, "window_strides must be 1 integers >= 1"),
])
def test_conv_errors_say_what_does_not_fit(w_shape, kw, message):
    x, w = np.ones((1, 2, 5)), np.ones(w_shape)
    params = {"window_strides": (1,), "padding": "VALID", **kw}
    with pytest.raises(IRError, match=message):
        lax.conv_general_dilated(x, w, **params)


def test_conv_dtype_mismatch_is_an_error():
    with pytest.raises(IRError, match="must share a numeric dtype"):
        lax.conv_general_dilated(np.ones((1, 1, 3), np.float32), np.ones((1, 1, 2)), (1,),
                                 "VALID")


def test_empty_batch_and_cropped_output_give_empty_results_and_zero_gradients():
    w = np.ones((2, 1, 3))
    assert lax.conv_general_dilated(np.ones((0, 1, 5)), w, (1,), "VALID").shape == (0, 2, 3)
    crop = lambda x: lax.conv_general_dilated(x, w, (1,), ((-2, -2),)).sum()  # noqa: E731
    assert lax.conv_general_dilated(np.ones((1, 1, 5)), w, (1,), ((-2, -2),)).shape == (1, 2, 0)
    np.testing.assert_array_equal(dj.grad(crop)(np.ones((1, 1, 5))), np.zeros((1, 1, 5)))


def test_reduce_window_refuses_an_add_with_nonzero_init():
    with pytest.raises(ValueError, match="init_value 0"):
        lax.reduce_window(np.ones(3), 1.0, lax.add, (2,), (1,), "VALID")


def test_vmap_of_conv_over_examples_and_kernels():
    rng = np.random.default_rng(5)
    xs, ws = rng.standard_normal((3, 2, 4, 6)), rng.standard_normal((3, 4, 2, 3))
    conv = lambda x, w: lax.conv_general_dilated(x, w, (1,), "SAME", feature_group_count=2)  # noqa: E731
    got = dj.vmap(conv)(xs, ws)
    for b in range(3):
        np.testing.assert_allclose(got[b], conv(xs[b], ws[b]), rtol=1e-12)
