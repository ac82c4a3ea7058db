"""Out-of-range index arrays: traced ones clamp per axis (as JAX does), concrete ones raise
IndexError (as NumPy does); never a read from another row (issue 10, item 8)."""

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp
from dualjit.ir import eval_function
from dualjit.tracer.make_ir import trace_pytree

X = np.arange(12.0).reshape(3, 4)


def _per_axis_clamp(i, n):
    i = np.asarray(i, np.int64)
    return np.clip(np.where(i < 0, i + n, i), 0, n - 1)


def _interpreted(f, *args):
    traced = trace_pytree(f, args)
    return eval_function(traced.function, *traced.captures, *args)[0]


CASES = [
    (np.array([0, 5]), np.array([9, 1])),      # the case: [x[0, 3], x[2, 1]]
    (np.array([-7, 2]), np.array([1, -9])),    # below -n: wraps once, then clamps to 0
    (np.int64(5), np.int64(9)),
    (np.int64(-7), np.int64(1)),
    (np.array([[0, 3], [1, -1]]), np.array([4, 0])),  # broadcast index arrays
    (np.array([2**40], np.int64), np.array([3], np.uint64)),
]


@pytest.mark.parametrize("i, j", CASES)
def test_traced_index_arrays_clamp_each_axis(i, j):
    expected = X[_per_axis_clamp(i, 3), _per_axis_clamp(j, 4)]

    def f(x, i, j):
        return x[i, j]
    np.testing.assert_array_equal(dj.jit(f)(X, i, j), expected)
    np.testing.assert_array_equal(_interpreted(f, X, i, j), expected)


def test_traced_index_with_a_constant_axis_clamps():
    i = np.array([-9, 7, 1])
    np.testing.assert_array_equal(dj.jit(lambda x, i: x[i, 2])(X, i), X[[0, 2, 1], 2])
    np.testing.assert_array_equal(dj.jit(lambda x, i: x[1, i])(X, i), X[1, [0, 3, 1]])


def test_gradient_goes_to_the_clamped_elements():
    i, j = np.array([0, 5]), np.array([9, 1])
    expected = np.zeros_like(X)
    expected[0, 3] = expected[2, 1] = 1.0

    def loss(x, i, j):
        return jnp.sum(x[i, j])
    np.testing.assert_array_equal(dj.grad(loss)(X, i, j), expected)
    np.testing.assert_array_equal(dj.jit(dj.grad(loss))(X, i, j), expected)


def test_concrete_out_of_range_indices_raise_as_numpy_does():
    with pytest.raises(IndexError, match="out of bounds"):
        jnp.asarray(X)[[0, 5], [9, 1]]
    with pytest.raises(IndexError, match="out of bounds"):
        dj.jit(lambda x: x[[0, 5], [9, 1]])(X)  # constants inside jit are checked too
