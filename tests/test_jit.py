"""jit's caches and dispatch: static args, repeat-call fast paths, argument layouts, byte
orders and dtypes on first and repeat calls, fresh outputs."""

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


# Arrays whose dtype is not the one the compiled code reads: another byte order, a narrower
# integer or float. Each call must convert them (or raise), never pass them to a kernel as
# they are (issue 10: the second call read garbage, and past the end of narrow buffers).
ODD_LAYOUTS = {
    "big-endian f32": np.arange(6.0).astype(">f4"),
    "uint16": np.array([60000], np.uint16),
    "int8": np.array([100], np.int8),
    "float16 scalar": np.array(1.5, np.float16),
    "big-endian f64 scalar": np.array(2.5, ">f8"),
}


def _in_ir_dtype(x):
    return x.astype(dj.ir.as_dtype(x.dtype).np)


@pytest.mark.parametrize("name", sorted(ODD_LAYOUTS))
def test_repeat_calls_check_dtype_itemsize_and_byte_order(name):
    x = ODD_LAYOUTS[name]
    want = _in_ir_dtype(x) * 2 + 1
    f = dj.jit(lambda x: x * 2 + 1)
    for _ in range(3):  # the first call compiles, the next ones take the fast paths
        np.testing.assert_array_equal(f(x), want)
    pair = dj.jit(lambda x, y: x * y)
    for _ in range(3):
        np.testing.assert_array_equal(pair(x, x), _in_ir_dtype(x) ** 2)
    native = dj.jit(lambda x: x * 2 + 1)
    native(_in_ir_dtype(x))  # the native layout first, then the odd one
    for _ in range(2):
        np.testing.assert_array_equal(native(x), want)


@pytest.mark.parametrize("name", sorted(ODD_LAYOUTS))
def test_repeat_calls_of_jit_grad_check_dtypes(name):
    x = ODD_LAYOUTS[name]
    g = dj.jit(dj.grad(lambda x: jnp.sum(x * x * 3.0)))
    if x.dtype.kind != "f":  # integer inputs have no gradient: the same error every time
        for _ in range(2):
            with pytest.raises(TypeError, match="only float inputs have gradients"):
                g(x)
        return
    want = 6.0 * _in_ir_dtype(x)
    for _ in range(3):
        np.testing.assert_allclose(g(x), want, rtol=1e-6)


def _fresh(result, *args):
    return not any(np.shares_memory(r, a) for r in dj.tree_leaves(result) for a in args)


@pytest.mark.parametrize("backend", ["native", "interpreter"])
def test_outputs_never_alias_inputs(backend, monkeypatch):
    monkeypatch.setenv("DUALJIT_BACKEND", backend)
    b, c = np.arange(3.0), np.arange(4.0).reshape(2, 2)
    functions = [
        (lambda x: x, (b,)),
        (lambda x, y: (x, {"y": y * 2.0, "x": [x]}), (b, c)),
        (lambda x: jnp.reshape(x, x.shape), (c,)),
        (lambda x: x.astype(np.float64), (b,)),
        (lambda x: jnp.reshape(x, (4,)), (c,)),
        (lambda x, y: (y, x * 2.0), (b, c)),
    ]
    for f, args in functions:
        jitted = dj.jit(f)
        for _ in range(3):  # first and repeat calls
            out = jitted(*args)
            assert _fresh(out, *args)
    for leaf in dj.tree_leaves(dj.jit(lambda x: (x, x))(b)):
        leaf[0] = 99.0  # writing into results never changes the argument
    assert b[0] == 0.0


def test_outputs_do_not_alias_each_other_or_captured_arrays():
    w = np.ones(3)
    u, v = dj.jit(lambda x: (x * 2.0, x * 2.0))(np.arange(3.0))
    u[0] = 7.0
    assert v[0] == 0.0
    out = dj.jit(lambda x: w)(np.arange(3.0))
    out[0] = 5.0
    assert w[0] == 1.0


def _misaligned(values):
    """A C-contiguous float64 array whose data starts one byte past an aligned address."""
    raw = np.zeros(values.size * 8 + 1, np.uint8)
    x = np.frombuffer(raw.data, np.float64, count=values.size, offset=1)
    x.setflags(write=True)
    x[:] = values
    assert not x.flags.aligned and x.flags.c_contiguous
    return x


def test_misaligned_arrays_are_copied_on_every_path(monkeypatch):
    from dualjit.codegen import pycall
    from dualjit.codegen.runtime import CompiledFunction

    values = np.linspace(-1.0, 1.0, 7)
    x = _misaligned(values)
    one, two = dj.jit(lambda x: x * 2.0 + 1.0), dj.jit(lambda x, y: x * y + 1.0)
    for _ in range(3):
        np.testing.assert_array_equal(one(x), values * 2.0 + 1.0)
        np.testing.assert_array_equal(two(x, x), values * values + 1.0)
    fn = dj.make_ir(lambda x: (jnp.sin(x), x * 3.0))(values)
    compiled = CompiledFunction(fn)
    for got, want in zip(compiled.fast_call([x]), (np.sin(values), values * 3.0)):
        np.testing.assert_allclose(got, want, rtol=1e-15)
    monkeypatch.setattr(pycall, "register_symbols", lambda: False)  # kernels through ctypes
    np.testing.assert_array_equal(CompiledFunction(fn).fast_call([x])[1], values * 3.0)


def test_kernel_entries_refuse_a_wrong_argument_count():
    from dualjit.codegen.abi import KernelEntryError
    from dualjit.codegen.runtime import CompiledFunction

    compiled = CompiledFunction(dj.make_ir(lambda x: x * 2.0)(np.ones(3)))
    kernel = compiled.steps[0].call
    with pytest.raises(KernelEntryError, match="takes 2 arguments"):
        kernel(np.ones(3))


def test_static_argnums_and_cache_counts_traces():
    traces = []

    def f(x, n):
        traces.append(1)
        return x * n

    g = dj.jit(f, static_argnums=1)
    g(np.ones(3), 2)
    g(np.ones(3) * 5, 2)
    assert len(traces) == 1
    g(np.ones(3), 3)
    g(np.ones(4), 3)
    g(np.ones(4, np.float32), 3)
    assert len(traces) == 4
    np.testing.assert_allclose(g(np.ones(2), 7), [7.0, 7.0])
    with pytest.raises(TypeError, match="not hashable"):
        g(np.ones(2), [1])


def test_lower_text_equals_make_ir():
    def f(x):
        return jnp.sum(jnp.exp(x) * 2.0)

    x = np.ones((2, 2), np.float32)
    assert dj.jit(f).lower(x).as_text() == dj.make_ir(f)(x).text


def test_repeat_calls_with_parameter_tuples_match_the_first_call():
    # The second call goes through the dispatch fast path (tuples of arrays, captured
    # constants); the results must equal a fresh trace-and-run of the same function.
    data = np.linspace(-1, 1, 50)

    def step(p, scale):
        a, b = p
        g = dj.grad(lambda q: jnp.sum((q[0] + q[1] * data) ** 2))(p)
        return (a - scale * g[0], [b - scale * g[1], a * b])

    jitted = dj.jit(step)
    p = (np.float64(0.3), np.float64(-0.2))
    first = jitted(p, 0.1)
    again = jitted(p, 0.1)
    fresh = dj.jit(step)(p, 0.1)
    for x, y, z in zip(dj.tree_leaves(first), dj.tree_leaves(again), dj.tree_leaves(fresh)):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)
    assert isinstance(again, tuple) and isinstance(again[1], list)
    # a different structure or shape is a different entry, not a wrong hit
    three = jitted([np.float64(0.3), np.float64(-0.2)], 0.1)
    np.testing.assert_allclose(three[0], first[0])
    with pytest.raises(ValueError, match="do not broadcast"):
        jitted((np.ones(2), np.ones(3)), 0.1)


def test_float_arguments_read_in_place_match_the_array_path():
    # one float64 scalar argument: repeat calls pass the float object to native code without
    # making an array of it; results must equal those for the same value as a 0-d array
    f = dj.jit(lambda x: jnp.sin(x) * x + jnp.where(x > 0, 1.0, -0.5))
    g = dj.jit(lambda x: jnp.sin(x) * x + jnp.where(x > 0, 1.0, -0.5))
    values = [0.0, -0.0, 1.5, -2.25, 1e-310, 1e300, np.inf, -np.inf, np.nan, 3.0]
    f(1.0)
    assert f._float_entry is not None
    for v in values:
        for arg in (v, np.float64(v)):
            got, want = f(arg), g(np.asarray(v))
            assert type(got) is np.ndarray and got.dtype == np.float64 and got.shape == ()
            np.testing.assert_array_equal(got, want)
            assert np.signbit(got) == np.signbit(want)


def test_backend_accessors(monkeypatch):
    import importlib

    jit_module = importlib.import_module("dualjit.jit")  # dualjit.jit is also the function

    monkeypatch.setenv("DUALJIT_BACKEND", "native")
    assert jit_module.native_backend()
    monkeypatch.setenv("DUALJIT_BACKEND", "interpreter")
    assert not jit_module.native_backend()
    calls = []
    monkeypatch.setattr(jit_module, "_backend", {"compile": lambda fn: calls.append(fn) or (
        lambda *args: dj.ir.eval_function(fn, *args))})
    assert jit_module.get_backend() is jit_module._backend["compile"]
    monkeypatch.setenv("DUALJIT_BACKEND", "native")
    assert not jit_module.native_backend()  # another compiler is installed
    np.testing.assert_array_equal(dj.jit(lambda x: x + 1.0)(np.zeros(2)), [1.0, 1.0])
    assert len(calls) == 1


def test_captured_arrays_of_any_layout_are_read_correctly():
    base = np.arange(32.0).reshape(4, 8)
    strided = base[:, ::2]
    swapped = np.arange(4.0).astype(">f8")
    misaligned = _misaligned(np.arange(4.0))
    for captured in (strided, swapped, misaligned, np.asfortranarray(base[:, :4])):
        captured.setflags(write=False)  # read-only arrays are captured without a copy
        x = np.ones(captured.shape)
        f = dj.jit(lambda x, c=captured: x * 3.0 + c)
        for _ in range(2):
            np.testing.assert_array_equal(f(x), x * 3.0 + np.asarray(captured, np.float64))
        in_loop = dj.jit(lambda x, c=captured: dj.lax.fori_loop(0, 2, lambda i, y: y + c, x))
        np.testing.assert_array_equal(in_loop(x), x + 2.0 * np.asarray(captured, np.float64))
