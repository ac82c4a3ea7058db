"""Native entry points given awkward arguments: found by the differential fuzzer."""

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp


def _misaligned(shape, dtype):
    raw = bytearray(np.dtype(dtype).itemsize * int(np.prod(shape)) + 1)
    return np.frombuffer(raw, dtype, count=int(np.prod(shape)), offset=1).reshape(shape)


@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.uint64])
def test_empty_misaligned_arrays_are_copied_not_refused(shape, dtype):
    """numpy calls an empty array aligned whatever its pointer; the kernel entry checks the
    pointer, so the caller must hand it an aligned one (this recursed until RecursionError)."""
    def f(a, b):
        return a * b + 1, jnp.sum(a)
    jf = dj.jit(f)
    ok = np.zeros(shape, dtype)
    jf(ok, ok)
    odd = _misaligned(shape, dtype)
    assert odd.ctypes.data % np.dtype(dtype).alignment != 0 or np.dtype(dtype).alignment == 1
    out, total = jf(odd, odd)
    assert out.shape == shape and out.dtype == np.dtype(dtype) and total == 0
    out, total = jf(odd, ok)  # the general caller too
    assert out.shape == shape
