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


# -- every call into native code is listed, with what checks it -------------------------------

import pathlib  # noqa: E402
import re  # noqa: E402

SRC = pathlib.Path(dj.__file__).parent
# What calls into native code looks like: loading or calling a shared library, a kernel's
# callers, a compiled Function (a backend's result) being made.
NATIVE_CALL = re.compile(r"ctypes\.CDLL|CFUNCTYPE|\.fast_call\b|\.typed_call\b|\.float_call\b|"
                         r"pycall\.builtin\(|compile_function\(|get_backend\(\)\(|\.compiled\(\)")


def test_every_native_entry_point_is_in_the_contract():
    """callers.py's docstring lists every module that calls into native code and what checks
    its arguments; a new caller must be added there (with its checks) or this fails."""
    from dualjit.codegen import callers

    contract = callers.__doc__
    callers_found = sorted(
        str(path.relative_to(SRC)) for path in SRC.rglob("*.py")
        if NATIVE_CALL.search(path.read_text()) and path.name != "callers.py")
    assert len(callers_found) >= 8  # the scan sees them at all
    missing = [p for p in callers_found if p not in contract]
    assert not missing, f"native callers not in callers.py's contract: {missing}"


@pytest.mark.parametrize("dtype", [">f8", ">f4", "f2"])
def test_lapack_never_reads_memory_of_another_dtype(dtype):
    """The LU and triangular-solve impls call LAPACK through ctypes: a byte-swapped or other
    dtype must be computed correctly (here by numpy), never handed to sgetrf/dgetrf as is."""
    from dualjit.ir import linalg_impl

    a = np.array([[4.0, 3.0], [6.0, 3.0]])
    want = linalg_impl.lu(a)[0]
    got = linalg_impl.lu(a.astype(dtype))[0]
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=2e-3)
    lower = np.array([[1.0, 0.0], [2.0, 4.0]])
    x = linalg_impl.triangular_solve(lower.astype(dtype), np.ones((2, 1), dtype),
                                     left_side=True, lower=True, transpose_a=False,
                                     unit_diagonal=False)
    np.testing.assert_allclose(x.astype(np.float64).ravel(), [1.0, -0.25], rtol=2e-3)


def test_compiled_function_entry_points_check_every_argument():
    from dualjit.codegen import ArgumentError, compile_function

    fn = dj.make_ir(lambda a, b: (a * b, a + 1.0))(np.ones(3), np.ones(3))
    compiled = compile_function(fn)
    x = np.arange(3.0)
    for call in (lambda *a: compiled(*a), lambda *a: compiled.fast_call(list(a))):
        for odd in (x.astype(">f8"), x.astype(np.float32), _misaligned((3,), np.float64),
                    np.repeat(x, 2)[::2]):
            odd[...] = x
            np.testing.assert_array_equal(call(odd, x)[0], x * x)
        with pytest.raises(ArgumentError, match="argument 1.*shape"):
            call(x, np.ones(4))
        with pytest.raises(ArgumentError, match="argument 0"):
            call(x.astype(np.complex128), x)
        with pytest.raises(ArgumentError, match="takes 2 arguments"):
            call(x)


def test_exported_and_eager_backward_paths_convert_odd_arrays():
    x = np.linspace(-1.0, 1.0, 5)
    exp = dj.export(dj.jit(lambda a: jnp.sin(a) * 2.0))(x)
    for odd in (x.astype(">f8"), _misaligned((5,), np.float64), np.repeat(x, 2)[::2]):
        odd[...] = x
        np.testing.assert_allclose(exp.call(odd), np.sin(x) * 2.0, rtol=1e-14)
    for _ in range(3):  # the compiled backward is reused from the second step on
        t = dj.tensor(x.astype(">f8"), requires_grad=True)
        (t.sin() * t).sum().backward()
        np.testing.assert_allclose(t.grad.numpy(), np.cos(x) * x + np.sin(x), rtol=1e-12)
