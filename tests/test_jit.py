"""jit's dispatch: argument layouts, byte orders and dtypes on first and repeat calls."""

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp


@pytest.mark.parametrize("dtype", [">f8", ">f4", "<f8", ">i8", ">i4"])
def test_byte_swapped_arguments_are_accepted_by_jit_and_grad(dtype):
    x = np.arange(1.0, 7.0).astype(dtype)
    native = x.astype(np.dtype(dtype).newbyteorder("="))
    got = dj.jit(lambda x: x * 2 + 1)(x)
    np.testing.assert_array_equal(got, native * 2 + 1)
    assert got.dtype.isnative
    if np.dtype(dtype).kind == "f":
        grad = dj.grad(lambda x: jnp.sum(x * x * 3.0))(x)
        np.testing.assert_allclose(grad, 6.0 * native, rtol=1e-6)
