"""Native dispatch of jit(f)(x) for one float x (codegen/dispatch.py): the same values,
types and errors as the Python call path for every kind of argument, misses handed over
unchanged, traces never short-circuited, no reference leaks, safe from many threads."""

import sys
import threading

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp
from dualjit.codegen import abi


def _f(x):
    return jnp.sin(x) * 2.0 + x


def _native(jitted):
    return type(type(jitted).__call__).__name__ == "builtin_function_or_method"


needs_native = pytest.mark.skipif(not abi.FLOAT_OBJECTS_OK, reason="float layout not standard")


@needs_native
@pytest.mark.parametrize("x", [1.5, -0.0, 0.0, 1e308, -1e-310, np.inf, -np.inf, np.nan,
                               np.float64(2.25), np.float64(-3e100)])
def test_one_float_goes_native_with_the_same_value_and_type(x):
    jf = dj.jit(_f)
    jf(0.5)
    assert _native(jf)
    got = jf(x)
    assert type(got) is np.ndarray and got.shape == () and got.dtype == np.float64
    assert got.flags.writeable and got.flags.c_contiguous
    with np.errstate(invalid="ignore", over="ignore"):
        expected = np.sin(np.float64(x)) * 2.0 + np.float64(x)
    np.testing.assert_array_equal(got, expected)  # NaN where NaN


@needs_native
def test_misses_take_the_python_path_with_its_conversions_and_errors():
    jf = dj.jit(_f)
    jf(0.5)
    assert _native(jf)
    np.testing.assert_allclose(jf(np.float32(2.0)), np.sin(np.float32(2.0)) * 2 + 2,
                               rtol=1e-6)
    assert jf(np.float32(2.0)).dtype == np.float32
    np.testing.assert_allclose(jf(np.ones(3)), np.sin(1.0) * 2 + 1)
    np.testing.assert_allclose(jf(x=1.5), np.sin(1.5) * 2 + 1.5)
    with pytest.raises(TypeError):
        jf(1.5, 2.0)
    with pytest.raises(TypeError):
        jf()
    with pytest.raises(TypeError):
        jf("1.5")


@needs_native
def test_results_of_other_shapes_and_dtypes():
    jf = dj.jit(lambda x: (jnp.broadcast_to(x, (2, 3)) * 2.0 + 1.0).astype(jnp.float32))
    jf(1.0)
    assert _native(jf)
    got = jf(2.5)
    assert got.shape == (2, 3) and got.dtype == np.float32
    np.testing.assert_array_equal(got, np.full((2, 3), 6.0, np.float32))
    assert jf(2.0) is not got  # a fresh array per call


@needs_native
def test_calls_while_tracing_are_traced_not_evaluated():
    jf = dj.jit(_f)
    jf(0.5)
    assert _native(jf)
    assert dj.grad(jf)(1.5) == pytest.approx(2 * np.cos(1.5) + 1)
    from dualjit.tracer.core import active_traces

    seen = []

    def outer(y):  # native code sees the trace and hands the call to Python
        seen.append(int(active_traces[0]))
        return jf(1.5) * y

    assert dj.jit(outer)(2.0) == pytest.approx((np.sin(1.5) * 2 + 1.5) * 2.0)
    assert seen == [1] and active_traces[0] == 0


@needs_native
def test_no_reference_leaks():
    jf = dj.jit(_f)
    jf(0.5)
    descr = np.dtype(np.float64)
    x = 1.25
    before = sys.getrefcount(descr), sys.getrefcount(x)
    for _ in range(2000):
        jf(x)
    assert (sys.getrefcount(descr), sys.getrefcount(x)) == before


@needs_native
def test_many_threads_calling_while_another_traces():
    jf = dj.jit(_f)
    jf(0.5)
    errors = []

    def call(seed):
        try:
            for i in range(300):
                x = seed + i * 1e-3
                assert float(jf(x)) == pytest.approx(np.sin(x) * 2 + x, abs=1e-12)
        except BaseException as e:  # handed to the main thread
            errors.append(e)

    def trace():
        for _ in range(20):
            dj.grad(lambda y: jnp.sin(y) * y)(0.3)

    workers = [threading.Thread(target=call, args=(s,)) for s in range(6)]
    workers.append(threading.Thread(target=trace))
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert not errors, errors[0]


def test_switched_off_by_the_environment(monkeypatch):
    monkeypatch.setenv("DUALJIT_NATIVE_DISPATCH", "0")
    jf = dj.jit(_f)
    jf(0.5)
    assert not _native(jf) and float(jf(1.5)) == pytest.approx(np.sin(1.5) * 2 + 1.5)
