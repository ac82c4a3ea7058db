"""Native code against the reference interpreter: every primitive and dtype, random programs."""

import threading
import time

import numpy as np
import pytest
from hypothesis import given

import dualjit as dj
import dualjit.numpy as jnp
from dualjit import ir
from dualjit.codegen import ArgumentError, compile_function, schedule
from dualjit.codegen.lower import fused_rules, root_rules
from dualjit.codegen.runtime import CompiledFunction
from dualjit.ir import Eqn, Function, TensorType, Var, abstract_eval, eval_function
from dualjit.ir import primitives as P

from ..ir.test_primitives import CASES
from ..strategies import programs
from . import run_python

rng = np.random.default_rng(1)
SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 0.5, -2.5, 1e-310, 3e5,
                    -7.25])


def single(prim, in_types, params):
    ins = [Var(t) for t in in_types]
    outs = [Var(t) for t in abstract_eval(prim, in_types, params)]
    return Function(ins, [], [Eqn(prim, ins, outs, params)], outs)


def assert_same(fn, args, rtol=1e-12):
    native = compile_function(fn)(*args)
    reference = eval_function(fn, *args)
    # Cancellation leaves an absolute error of a few ulps of the magnitudes involved.
    finite = [abs(a[np.isfinite(a)]).max() for a in map(np.asarray, args)
              if a.dtype.kind in "fc" and np.isfinite(a).any()]
    scale = max([1.0, *finite])
    for n, r in zip(native, reference):
        assert n.dtype == r.dtype and n.shape == r.shape
        if n.dtype.kind in "fc":  # (complex: summation order and fused multiply-adds)
            tol = max(rtol, 1e-5 if n.dtype in (np.float32, np.complex64) else rtol)
            atol = max(tol * 1e-3, 64 * np.finfo(n.dtype).eps * scale)
            np.testing.assert_allclose(n, r, rtol=tol, atol=atol, equal_nan=True)
        else:
            np.testing.assert_array_equal(n, r)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_primitive_case(name):
    prim, args, params, _ = CASES[name]
    if prim.name in ("cond", "while", "scan", "custom_jvp_call", "custom_vjp_call"):
        args = [np.asarray(a) for a in args]
    in_types = [ir.type_of_array(np.asarray(a)) for a in args]
    assert_same(single(prim, in_types, params), [np.asarray(a) for a in args], rtol=1e-13)


def test_every_primitive_has_a_lowering_or_runs_on_the_host():
    # the schedule's rows say which table lowers a primitive; a primitive without a row runs
    # on the host through its numpy implementation
    fused = {p for p, row in schedule.lowerings.items() if row.fused}
    assert set(fused_rules) == fused
    assert set(root_rules) == set(schedule.lowerings) - fused
    for p in ir.registry.values():
        assert p in schedule.lowerings or p in ir.impl_rules, p.name
    assert P.custom_jvp_call_p not in schedule.lowerings


def _values(dtype, shape=(12,)):
    if dtype == np.bool_:
        return rng.random(shape) > 0.5
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-20, 21, shape).astype(dtype)
    return SPECIAL.astype(dtype).reshape(shape) if shape == (12,) else rng.standard_normal(
        shape).astype(dtype)


@pytest.mark.parametrize("name", sorted(P.unary_primitives))
@pytest.mark.parametrize("dtype", [np.bool_, np.int32, np.int64, np.float32, np.float64])
def test_unary_all_dtypes_and_special_values(name, dtype):
    t = TensorType(ir.as_dtype(dtype), (12,))
    try:
        fn = single(P.unary_primitives[name], [t], {})
    except ir.IRError:
        return  # dtype not supported by this primitive (the shape rule says so)
    x = _values(dtype)
    rtol = 4e-7 if dtype == np.float32 else 1e-14
    assert_same(fn, [x], rtol)


@pytest.mark.parametrize("name", sorted(P.binary_primitives) + sorted(P.compare_primitives))
@pytest.mark.parametrize("dtype", [np.bool_, np.int32, np.int64, np.float32, np.float64])
def test_binary_all_dtypes(name, dtype):
    prim = P.binary_primitives.get(name) or P.compare_primitives[name]
    t = TensorType(ir.as_dtype(dtype), (12,))
    try:
        fn = single(prim, [t, t], {})
    except ir.IRError:
        return
    x, y = _values(dtype), _values(dtype)[::-1].copy()
    if np.dtype(dtype).kind in "iu":
        y[3] = 0  # division and remainder by zero give 0, without trapping
        x[4], y[4] = np.iinfo(dtype).min, -1
    assert_same(fn, [x, y], 4e-7 if dtype == np.float32 else 1e-14)


@pytest.mark.parametrize("src", [np.bool_, np.int32, np.int64, np.float32, np.float64])
@pytest.mark.parametrize("dst", [np.bool_, np.int32, np.int64, np.float32, np.float64])
def test_convert_element_type(src, dst):
    x = _values(src)
    if np.dtype(src).kind == "f" and np.dtype(dst).kind in "iu":
        x = np.array([0.0, -0.0, 1.9, -1.9, 100.5, -7.2] * 2, src)  # in range: C truncation
    fn = single(P.convert_element_type_p, [ir.type_of_array(x)], {"new_dtype": ir.as_dtype(dst)})
    assert_same(fn, [x])


@given(programs())
def test_random_programs_and_their_gradients(program):
    f, args, _ = program
    fn = dj.make_ir(f)(*args)
    tol = 1e-4 if args[0].dtype == np.float32 else 1e-10
    assert_same(fn, list(args), tol)
    grad_fn = dj.make_ir(dj.grad(f, argnums=(0, 1)))(*args)
    assert_same(grad_fn, list(args), tol)


@given(programs(max_ops=5))
def test_random_programs_inside_native_control_flow(program):
    # the random program becomes a while body, both branches of a cond and a scan body
    from dualjit import lax

    f, args, _ = program
    # Native sums and FMA contraction can differ from the interpreter in the last bit, so the
    # branch condition must not sit on a tie: sum(u) > 0 did, for inputs whose u sums to
    # exactly 0 (hypothesis found them); sum(u * u) > 1 does not.

    def wrapped(a, b, loop="while"):
        def body(c):
            i, u, v = c
            return i + 1, u * 0.5 + f(u, v) * 0.01, v
        if loop == "while":
            _, u, _ = lax.while_loop(lambda c: c[0] < 3, body, (0, a, b))
        else:  # reverse mode needs a static trip count
            u = lax.fori_loop(0, 3, lambda i, u: body((i, u, b))[1], a)
        w = lax.cond(jnp.sum(u * u) > 1.0, lambda t: f(t, b), lambda t: f(b, t) * 2.0, u)
        carry, ys = lax.scan(lambda c, _: (c + f(a, c) * 0.1, c), b, None, length=2)
        return w + jnp.sum(carry) + jnp.sum(ys)

    fn = dj.make_ir(wrapped)(*args)
    assert _host_steps(fn) == []
    tol = 1e-4 if args[0].dtype == np.float32 else 1e-10
    assert_same(fn, list(args), tol)
    grad = dj.make_ir(dj.grad(lambda a, b: wrapped(a, b, "fori"), argnums=(0, 1)))(*args)
    assert _host_steps(grad) == []
    assert_same(grad, list(args), tol)


def test_fusion_makes_one_kernel_without_temporaries():
    fn = dj.make_ir(lambda x: jnp.sum(jnp.sin(x) * 2.0 + jnp.exp(-x * x) * x ** 3))(np.ones(100))
    compiled = CompiledFunction(fn)
    kernels = [s for s in compiled.steps if hasattr(s, "segment")]
    assert len(kernels) == 1 and kernels[0].segment.temps == []
    assert compiled.llvm_ir().count("define") >= 1


def test_matmul_and_control_flow_against_numpy():
    a, b = rng.standard_normal((17, 9)), rng.standard_normal((9, 5))
    np.testing.assert_allclose(dj.jit(jnp.matmul)(a, b), a @ b, rtol=1e-12)

    def loop(x):
        return dj.lax.fori_loop(0, 10, lambda i, c: c * 0.9 + jnp.sin(x), x)

    x = np.linspace(0, 1, 7)
    expected = x.copy()
    for _ in range(10):
        expected = expected * 0.9 + np.sin(x)
    np.testing.assert_allclose(dj.jit(loop)(x), expected, rtol=1e-12)


def test_bad_inputs_raise_or_are_handled():
    c = compile_function(dj.make_ir(lambda x: x * 2.0 + 1.0)(np.ones((3, 4))))
    with pytest.raises(ArgumentError, match=r"argument 0: expected shape \(3, 4\)"):
        c(np.ones(3))
    with pytest.raises(ArgumentError, match="dtype object"):
        c(np.empty((3, 4), dtype=object))
    with pytest.raises(ArgumentError, match=r"complex128 is not supported \(expected float64"):
        c(np.ones((3, 4), dtype=np.complex128))
    with pytest.raises(ArgumentError, match="takes 1 arguments"):
        c()
    base = rng.standard_normal((6, 8))
    for arr in (base[::2, ::2], np.asfortranarray(base[:3, :4]),
                base[:3, :4].astype(">f8"), base[:3, :4].astype(np.float32)):
        np.testing.assert_allclose(c(arr)[0], np.asarray(arr, np.float64) * 2 + 1)
    empty = compile_function(dj.make_ir(lambda x: jnp.sum(x * 2.0))(np.ones((0, 3))))
    assert float(empty(np.ones((0, 3)))[0]) == 0.0


def test_empty_operands_are_never_read():
    # a clamped index into an empty axis would point past the buffer: the reference's value
    # (zeros for a gather) without a read, and empty concatenation pieces skipped
    past_the_end = np.full(10, 7.0)[3:3]  # empty, but memory right after it holds 7.0
    cases = [
        (lambda x, i: jnp.take(x, i) * 2.0, (past_the_end, np.array([0, 1, -3]))),
        (lambda x, i: jnp.take(x, i, axis=1), (np.ones((2, 0)), np.array([[1], [2]]))),
        (lambda x, y: jnp.concatenate([x, y, x]) * 2.0, (np.ones(0), np.arange(3.0))),
        (lambda x, y: jnp.concatenate([y, x], axis=1), (np.ones((2, 0)), np.ones((2, 3)))),
    ]
    for f, args in cases:
        assert_same(dj.make_ir(f)(*args), list(args))


def test_bad_inputs_do_not_crash_the_process():
    code = (
        "import numpy as np, dualjit as dj, dualjit.numpy as jnp\n"
        "f = dj.jit(lambda x, i: jnp.take(x, i) + x[::-1][0])\n"
        "print(f(np.arange(5.0), np.int64(10**12)), f(np.arange(5.0), np.int64(-10**12)))\n"
        "g = dj.jit(lambda x: x // 0)\n"
        "print(g(np.arange(5)))\n"
        "h = dj.jit(lambda x: x[np.array([4, 0])])\n"
        "print(h(np.arange(5.0)[::2].repeat(2)[:5]))\n")
    assert run_python(code).split()[:2] == ["8.0", "4.0"]


def test_fast_callers_outlive_their_compiled_function():
    # a kernel's builtin function object must keep its method table alive by itself
    code = (
        "import gc, ctypes, numpy as np, dualjit as dj\n"
        "from dualjit.codegen.runtime import CompiledFunction\n"
        "fn = dj.make_ir(lambda x: x * 2.0 + 1.0)(np.ones(3))\n"
        "calls = [CompiledFunction(fn).typed_call for _ in range(50)]\n"
        "gc.collect()\n"
        "junk = [ctypes.create_string_buffer(32) for _ in range(100000)]\n"
        "print(sum(float(c([np.ones(3)])[0]) for c in calls))\n")
    assert run_python(code).strip() == "150.0"


def test_many_threads_call_one_compiled_function():
    f = dj.jit(lambda x: jnp.sum(jnp.sin(x) ** 2 + jnp.cos(x) ** 2))
    xs = [rng.standard_normal(1000 + k) for k in range(8)]
    f(xs[0])
    results = [None] * 8

    def work(k):  # each thread its own shape: concurrent compiles and calls
        for _ in range(20):
            results[k] = float(f(xs[k]))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.isclose(r, 1000.0 + k) for k, r in enumerate(results))


def test_native_calls_release_the_gil(monkeypatch):
    monkeypatch.setenv("DUALJIT_NUM_THREADS", "1")
    f = dj.jit(lambda x: jnp.sum(jnp.sqrt(jnp.abs(jnp.sin(x)) + 1.0)))
    x = rng.standard_normal(8_000_000)
    f(x)
    stamps, done = [], threading.Event()

    def spin():  # a pure-Python thread: it can only run while nobody holds the GIL
        while not done.is_set():
            stamps.append(time.perf_counter())
            time.sleep(0)

    spinner = threading.Thread(target=spin)
    spinner.start()
    windows = []
    for _ in range(3):
        start = time.perf_counter()
        f(x)  # tens of milliseconds of native work
        windows.append((start, time.perf_counter()))
    done.set()
    spinner.join()
    inside = [sum(a < t < b for t in stamps) for a, b in windows]
    assert max(inside) > 10, inside  # the other thread ran while the call was in native code


def test_lower_gives_llvm_ir_and_assembly():
    lowered = dj.jit(lambda x: jnp.exp(x) * 2.0).lower(np.ones(16))
    assert "mul" in lowered.as_text() or "exp" in lowered.as_text()
    assert "define" in lowered.llvm_ir()
    assert ".text" in lowered.asm() or "ret" in lowered.asm()


def test_scan_runs_as_a_native_loop_and_matches_the_interpreter():
    xs = rng.standard_normal((6, 3))
    table = np.linspace(0.0, 1.0, 3)

    def f(c0, xs):
        def outer(c, x):
            inner, ys = dj.lax.scan(lambda a, b: (a * 0.5 + b * table, a.sum()), c, jnp.stack([x, x]))
            return inner + 1.0, (ys, 2.0 * x)
        return dj.lax.scan(outer, c0, xs, reverse=True)

    fn = dj.make_ir(f)(np.ones(3), xs)
    compiled = CompiledFunction(fn)
    assert len(compiled.plan.steps) == 1 and compiled.plan.host_steps == []
    assert_same(fn, [np.ones(3), xs], 1e-13)
    grad_fn = dj.make_ir(dj.grad(lambda c, xs: jnp.sum(f(c, xs)[0]) + jnp.sum(f(c, xs)[1][0])))(
        np.ones(3), xs)
    assert_same(grad_fn, [np.ones(3), xs], 1e-12)


def test_temporaries_with_disjoint_lifetimes_share_buffers():
    def f(x):
        for _ in range(6):
            x = jnp.sin(x) - jnp.mean(jnp.sin(x))
        return jnp.sum(x)
    x = np.linspace(0, 1, 1000)
    fn = dj.make_ir(dj.grad(f))(x)
    compiled = compile_function(fn)
    segments = [s.segment for s in compiled.steps if hasattr(s, "segment")]
    planned = sum(sum(seg.slot_bytes) for seg in segments)
    separate = sum(v.type.size * v.type.dtype.np.itemsize for seg in segments for v in seg.temps)
    assert planned < separate / 2
    assert_same(fn, [x])


def _host_steps(fn):
    return [s for s in compile_function(fn).steps if not hasattr(s, "segment")]


@pytest.mark.parametrize("n", [0, 1, 5])
def test_while_and_cond_run_natively_inside_the_kernel(n):
    from dualjit import lax

    def f(x, n):
        def cond(c):
            return (c[0] < n) & (jnp.sum(c[1]) < 1e6)

        def body(c):
            return (c[0] + 1, c[1] * 1.5 + jnp.sin(c[1]))
        i, y = lax.while_loop(cond, body, (0, x))
        z = lax.switch(i - 1, [lambda v: v * 2.0, lambda v: v - 1.0, lambda v: jnp.cos(v)], y)
        return z, i

    x = np.linspace(0, 1, 7)
    fn = dj.make_ir(f)(x, n)
    assert _host_steps(fn) == []  # one kernel: no Python between iterations or branches
    assert_same(fn, [x, np.asarray(n)])


def test_switch_clamps_out_of_range_indices_like_the_interpreter():
    from dualjit import lax

    def f(i, x):
        return lax.switch(i, [lambda v: v + 1.0, lambda v: v * 3.0, lambda v: -v], x)

    x = np.arange(4.0)
    fn = dj.make_ir(f)(np.int32(0), x)
    for i in (-5, 0, 1, 2, 9):
        assert_same(fn, [np.asarray(i, np.int32), x])


def test_while_nested_in_scan_and_its_gradient():
    from dualjit import lax

    def f(x):
        def step(carry, xi):
            def body(c):
                return (c[0] + 1, c[1] * 0.5 + xi)
            _, v = lax.while_loop(lambda c: c[0] < 3, body, (0, carry))
            return v, v * xi
        last, ys = lax.scan(step, x[0], x)
        return last + jnp.sum(ys)

    x = np.linspace(-1, 1, 6)
    fn = dj.make_ir(f)(x)
    assert _host_steps(fn) == []
    assert_same(fn, [x])
    grad = dj.make_ir(dj.grad(lambda x: lax.fori_loop(0, 4, lambda i, c: c * jnp.sin(c) + x,
                                                       x).sum()))(x)
    assert_same(grad, [x])


def test_library_call_functions_check_their_arguments_too():
    a = rng.integers(-9, 9, (4, 64, 64))  # an integer product: numpy's matmul between kernels
    fn = dj.make_ir(jnp.matmul)(a, a)
    compiled = compile_function(fn)
    assert compiled.fast_call is not None and not hasattr(compiled.steps[0], "segment")
    np.testing.assert_array_equal(compiled.fast_call([a, a])[0], a @ a)
    fortran = np.asfortranarray(a)
    np.testing.assert_array_equal(compiled.fast_call([fortran, a[:, :, ::-1]])[0],
                                  a @ a[:, :, ::-1])
    with pytest.raises(ArgumentError, match="shape"):
        compiled.fast_call([a, np.ones((4, 64, 3), np.int64)])
    with pytest.raises(ArgumentError, match="dtype"):
        compiled.fast_call([a, a.astype(np.complex128)])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("pattern", ["nn", "tn", "nt", "tt"])
def test_large_products_call_gemm_inside_the_kernel(dtype, pattern):
    from dualjit.codegen import blas

    if dtype not in [d.np for d in blas.gemms()]:
        pytest.skip("no gemm in this numpy build: products run through numpy's matmul")
    a = rng.standard_normal((70, 40)).astype(dtype)
    b = rng.standard_normal((40, 90)).astype(dtype)
    lhs = a.T.copy() if pattern[0] == "t" else a
    rhs = b.T.copy() if pattern[1] == "t" else b

    def f(x, y):
        x = x.T if pattern[0] == "t" else x
        y = y.T if pattern[1] == "t" else y
        return jnp.tanh(x @ y) * 2.0

    fn = dj.make_ir(f)(lhs, rhs)
    compiled = compile_function(fn)
    assert all(hasattr(s, "segment") for s in compiled.steps)  # no host step
    assert "gemm" in compiled.llvm_ir()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(compiled(lhs, rhs)[0], np.tanh(a @ b) * 2.0, rtol=tol, atol=tol)
    assert_same(fn, [lhs, rhs])


def test_without_native_blas_products_run_through_numpy():
    program = (
        "import numpy as np, dualjit as dj, dualjit.numpy as jnp\n"
        "from dualjit.codegen import compile_function\n"
        "a = np.arange(64 * 64, dtype=np.float64).reshape(64, 64) / 4096\n"
        "c = compile_function(dj.make_ir(lambda x: jnp.tanh(x @ x))(a))\n"
        "assert any(not hasattr(s, 'segment') for s in c.steps)\n"
        "np.testing.assert_allclose(c(a)[0], np.tanh(a @ a), rtol=1e-12)\n")
    run_python(program, env=dict(__import__("os").environ, DUALJIT_NATIVE_BLAS="0"))


def test_only_kernels_with_real_work_hand_over_the_gil():
    def wrapper_text(x):
        text = compile_function(dj.make_ir(lambda x: x * 2.0 + 1.0)(x)).llvm_ir()
        return [f for f in text.split("\ndefine ")[1:] if f.split("(")[0].endswith("_py")][0]
    assert "PyEval_SaveThread" not in wrapper_text(np.float64(1.5))  # nanoseconds of work
    assert "PyEval_SaveThread" in wrapper_text(np.ones(100_000))


def test_sibling_reductions_share_one_loop_and_keep_their_input_in_registers():
    x = np.linspace(-3, 3, 2000)
    y = np.sin(x)

    def loss(p):
        a, b, c, d = p
        return jnp.sum((a + b * x + c * x ** 2 + d * x ** 3 - y) ** 2)

    p = (0.1, 0.2, 0.3, 0.4)
    fn = dj.make_ir(dj.grad(loss))(p)
    seg = compile_function(fn).steps[0].segment
    assert len(seg.groups) == 1 and seg.temps == []  # four sums, one pass over the data
    assert_same(fn, [np.asarray(v) for v in p])
    r = 0.1 + 0.2 * x + 0.3 * x ** 2 + 0.4 * x ** 3 - y  # the gradient by hand
    want = [np.sum(2 * r * x ** k) for k in range(4)]
    np.testing.assert_allclose(compile_function(fn)(*[np.asarray(v) for v in p]), want,
                               rtol=1e-12)


def test_a_reduction_that_reads_its_sibling_is_not_merged_with_it():
    x = rng.standard_normal((30, 40))
    f = dj.make_ir(lambda x: (jnp.sum(x, axis=1), jnp.max(x - jnp.mean(x), axis=1),
                              jnp.prod(x * 0.1 + 1.0, axis=1)))(x)
    assert_same(f, [x])


def test_long_chains_compile_to_the_interpreters_values():
    # chains deeper than schedule.MAX_FUSION_DEPTH, cut by anchors kept in registers: values
    # and gradients
    def chain(x):
        for _ in range(300):
            x = jnp.sin(x) * 1.5
        return jnp.sum(x * jnp.linspace(-1, 1, 8))

    x = np.linspace(-1, 1, 8)
    for f in (chain, dj.grad(chain)):
        assert schedule.plan_function(dj.make_ir(f)(x)).kernels[0].segment.anchors
        np.testing.assert_allclose(dj.jit(f)(x), eval_function(dj.make_ir(f)(x), x)[0],
                                   rtol=1e-12, atol=1e-300)
