"""The convolution reference's whole-array form (conv_by_offsets, used for ungrouped
convolutions with a finite kernel) against its term-by-term loops (conv_by_terms) on small
random problems: strides, padding and cropping, operand and kernel dilation, permuted layouts,
empty sizes."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from . import reference


@st.composite
def problems(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    rank = draw(st.integers(1, 2))
    n, i, o = (draw(st.integers(0, 2)), draw(st.integers(0, 3)), draw(st.integers(1, 3)))
    spatial = [draw(st.integers(0, 6)) for _ in range(rank)]
    kernel = [draw(st.integers(1, 3)) for _ in range(rank)]
    strides = [draw(st.integers(1, 3)) for _ in range(rank)]
    padding = [(draw(st.integers(-1, 2)), draw(st.integers(-1, 2))) for _ in range(rank)]
    lhs_dilation = [draw(st.integers(1, 2)) for _ in range(rank)]
    rhs_dilation = [draw(st.integers(1, 2)) for _ in range(rank)]
    specs = tuple(tuple(draw(st.permutations(range(rank + 2)))) for _ in range(3))
    x = rng.standard_normal([n, i, *spatial]).transpose(np.argsort(specs[0]))
    w = rng.standard_normal([o, i, *kernel]).transpose(np.argsort(specs[1]))
    return x, w, (strides, padding, lhs_dilation, rhs_dilation, specs)


@given(problem=problems())
def test_whole_array_reference_equals_the_term_by_term_loops(problem):
    x, w, params = problem
    fast = reference.conv_by_offsets(x, w, *params)
    loops = reference.conv_by_terms(x, w, *params)
    assert fast.shape == loops.shape and fast.dtype == loops.dtype
    np.testing.assert_allclose(fast, loops, rtol=1e-12, atol=1e-12)
