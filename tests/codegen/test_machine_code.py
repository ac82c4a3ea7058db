"""What LLVM does to a kernel's own function (codegen/machine_code.py, KernelPlan.code): which
kernels get fast machine code or no optimization at all, that LLVM sees `optnone` on exactly
those functions, and that the results are the same as with full machine code, as NumPy's and
as the reference interpreter's."""

import numpy as np

import dualjit as dj
import dualjit.numpy as jnp
from dualjit import lax
from dualjit.codegen import machine_code, nest_plan, runtime, schedule
from dualjit.codegen.schedule import FAST_CODE, FULL_CODE, MANY_LOOPS, NO_UNROLL, TUNED, UNOPTIMIZED_CODE
from dualjit.ir.interpreter import eval_function


def softmax_layers(x, w):
    """Three softmax + product layers: a dozen small loop nests around three gemm calls."""
    for _ in range(3):
        x = x - jnp.max(x, axis=1, keepdims=True)
        x = jnp.exp(x) / jnp.sum(jnp.exp(x), axis=1, keepdims=True)
        x = x @ w
    return x * x


def numpy_softmax_layers(x, w):
    for _ in range(3):
        x = x - x.max(axis=1, keepdims=True)
        x = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
        x = x @ w
    return x * x


def _compiled(f, *args):
    runtime._recent.clear()  # (compile this very Function now, not an equal earlier one)
    runtime._live.clear()
    return dj.jit(f).lower(*args)._compiled


def _optnone_functions(compiled, attribute: str = "optnone") -> set[str]:
    """Names of the functions whose optimized IR carries `attribute`."""
    text = compiled.compiled.optimized_ir
    groups = {line.split()[1]: line for line in text.splitlines() if line.startswith("attributes")}
    names = set()
    for line in text.splitlines():
        if line.startswith("define") and "#" in line.rsplit(")", 1)[-1]:
            group = "#" + line.rsplit("#", 1)[-1].split()[0]
            if attribute in groups.get(group, ""):
                names.add(line.split("@", 1)[1].split("(", 1)[0])
    return names


def test_a_kernel_of_many_small_loop_nests_gets_fast_machine_code_and_the_same_results():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 32)).astype(np.float32)
    w = rng.standard_normal((32, 32)).astype(np.float32)
    compiled = _compiled(softmax_layers, x, w)
    kernel = compiled.plan.kernels[0]
    looped = [g for g in kernel.segment.groups if g.library is None]
    assert len(looped) > MANY_LOOPS
    assert kernel.code == FAST_CODE  # (its three small products are not most of its work)
    assert _optnone_functions(compiled) == {"kernel0", "kernel0_py"}
    assert _optnone_functions(compiled, machine_code.FAST_MACHINE_CODE) == {"kernel0"}
    assert _optnone_functions(compiled, machine_code.UNOPTIMIZED) == {"kernel0_py"}
    fast = compiled(x, w)[0]
    np.testing.assert_allclose(fast, numpy_softmax_layers(x.astype(np.float64), w), rtol=1e-4)
    original = schedule.kernel_code
    schedule.kernel_code = lambda segment: FULL_CODE
    try:
        full = _compiled(softmax_layers, x, w)
    finally:
        schedule.kernel_code = original
    assert _optnone_functions(full) == set()
    assert np.array_equal(full(x, w)[0], fast)  # same IR optimization: the same bits


def test_a_kernel_of_few_loop_nests_keeps_full_machine_code():
    x = np.linspace(-2.0, 2.0, 1000)
    compiled = _compiled(lambda v: jnp.sin(v) * 2.0 + 1.0, x)
    assert compiled.plan.kernels[0].code == FULL_CODE
    assert _optnone_functions(compiled) == set()
    np.testing.assert_allclose(compiled(x)[0], np.sin(x) * 2.0 + 1.0, rtol=1e-14)


def test_large_loop_nests_keep_full_machine_code_inside_the_kernel_or_split_out(monkeypatch):
    """A large nest in the kernel function keeps the kernel at full machine code; split out
    across threads (its own function), the kernel is light and the split nests are not."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1024, 128))
    w = rng.standard_normal((128, 128)) / 16
    expected = numpy_softmax_layers(x, w)
    monkeypatch.setattr(nest_plan, "NEST_MIN_ELEMENTS", 1 << 40)  # nothing split
    compiled = _compiled(softmax_layers, x, w)
    segment = compiled.plan.kernels[0].segment
    assert any(g.library is None and g.loops == TUNED and g.split is None
               for g in segment.groups)
    assert compiled.plan.kernels[0].code == FULL_CODE
    assert _optnone_functions(compiled) == set()
    np.testing.assert_allclose(compiled(x, w)[0], expected, rtol=1e-10)
    monkeypatch.setattr(nest_plan, "NEST_MIN_ELEMENTS", 1 << 10)  # every large nest split
    compiled = _compiled(softmax_layers, x, w)
    segment = compiled.plan.kernels[0].segment
    assert all(g.split is not None for g in segment.groups if g.loops == TUNED)
    assert compiled.plan.kernels[0].code != FULL_CODE
    fast = _optnone_functions(compiled)
    assert "kernel0" in fast and not any(".nest" in name for name in fast)
    np.testing.assert_allclose(compiled(x, w)[0], expected, rtol=1e-10)


def one_float_layers(s):
    """softmax_layers of matrices made from s alone (no captured constants: a float entry)."""
    x = jnp.sin(s * lax.iota("float64", 64 * 32).reshape(64, 32))
    w = jnp.cos(s + lax.iota("float64", 32 * 32).reshape(32, 32)) / 8
    return softmax_layers(x, w)


def test_a_light_kernel_of_one_float_runs_through_its_unoptimized_float_entry():
    compiled = _compiled(one_float_layers, 1.5)
    assert compiled.plan.kernels[0].float_entry
    assert compiled.plan.kernels[0].code == FAST_CODE
    assert _optnone_functions(compiled, machine_code.UNOPTIMIZED) == {"kernel0_py", "kernel0_pyf"}
    jitted = dj.jit(one_float_layers)
    for s in (1.5, -0.25, 0.0):
        x = np.sin(s * np.arange(64 * 32.0).reshape(64, 32))
        w = np.cos(s + np.arange(32 * 32.0).reshape(32, 32)) / 8
        np.testing.assert_allclose(jitted(s), numpy_softmax_layers(x, w), rtol=1e-9)


def mlp_step(x, labels, w1, b1, w2, b2, activation=lambda z: jnp.maximum(z, 0.0)):
    """An MLP training step (the shape of benchmarks/torch_api.py's T2): forward, softmax
    cross entropy, gradients, SGD; its time is in five products (~51 M multiply-adds)."""
    def loss(params):
        w1, b1, w2, b2 = params
        logits = activation(x @ w1.T + b1) @ w2.T + b2
        logits = logits - jnp.max(logits, axis=1, keepdims=True)
        log_p = logits - jnp.log(jnp.sum(jnp.exp(logits), axis=1, keepdims=True))
        return -jnp.mean(jnp.sum(log_p * labels, axis=1))
    params = (w1, b1, w2, b2)
    grads = dj.grad(loss)(params)
    return [p - 0.01 * g for p, g in zip(params, grads)]


def mlp_arguments(hidden=256):
    rng = np.random.default_rng(2)
    x = rng.random((128, 784), dtype=np.float32)
    labels = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 128)]
    w1 = (rng.standard_normal((hidden, 784)) / 28).astype(np.float32)
    w2 = (rng.standard_normal((10, hidden)) / 16).astype(np.float32)
    return x, labels, w1, np.zeros(hidden, np.float32), w2, np.zeros(10, np.float32)


def test_a_training_step_kernel_is_unoptimized_with_its_vectorized_loops_outlined():
    args = mlp_arguments()
    fn = dj.make_ir(mlp_step)(*args)
    plan = schedule.plan_function(fn)
    (kernel,) = plan.kernels
    assert kernel.code == UNOPTIMIZED_CODE
    assert plan.codegen_level == 0  # (its only kernel: the module's machine code at level 0)
    inline = [g for g in kernel.segment.groups if g.library is None and g.split is None]
    vectorized = [g for g in inline if g.loops == NO_UNROLL]
    assert vectorized and all(g.outlined for g in vectorized)
    assert not any(g.outlined for g in inline if g.loops != NO_UNROLL)
    assert "a function of its own" in str(plan)
    runtime._recent.clear()
    runtime._live.clear()
    compiled = runtime.CompiledFunction(fn)
    unoptimized = _optnone_functions(compiled, machine_code.UNOPTIMIZED)
    assert unoptimized == {"kernel0", "kernel0_py"}
    assert _optnone_functions(compiled) == unoptimized  # the nests, outlined or split, are not
    for got, want in zip(compiled(*args), eval_function(fn, *args)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_a_training_step_whose_vectorized_loop_has_a_libm_rerun_keeps_fast_machine_code():
    """sin's fast polynomial is checked, with a libm rerun that reads the kernel's own buffers:
    such a loop cannot be outlined, so the kernel is optimized (fast machine code)."""
    args = mlp_arguments(hidden=64)  # (the weight update, 50 K elements, is vectorized too)
    fn = dj.make_ir(lambda *a: mlp_step(*a, activation=jnp.sin))(*args)
    (kernel,) = schedule.plan_function(fn).kernels
    assert any(g.math == schedule.FAST_CHECKED and g.loops == NO_UNROLL and g.split is None
               for g in kernel.segment.groups)
    assert kernel.code == FAST_CODE
    assert not any(g.outlined for g in kernel.segment.groups)
    for got, want in zip(runtime.CompiledFunction(fn)(*args), eval_function(fn, *args)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_a_light_kernel_with_too_little_library_work_keeps_fast_machine_code(monkeypatch):
    fn = dj.make_ir(mlp_step)(*mlp_arguments())
    assert schedule.plan_function(fn).kernels[0].code == UNOPTIMIZED_CODE
    monkeypatch.setattr(schedule, "LIBRARY_BOUND", 10**6)  # (its ratio is ~5,000)
    plan = schedule.plan_function(fn)
    assert plan.kernels[0].code == FAST_CODE and plan.codegen_level == 3
    assert not any(g.outlined for g in plan.kernels[0].segment.groups)


def test_a_light_kernel_around_a_lapack_call_keeps_fast_machine_code():
    """LAPACK's group emits loops of its own in the kernel function (copies, pivots): only
    kernels whose library calls are gemm products are left unoptimized."""
    a = np.random.default_rng(3).standard_normal((256, 256))
    compiled = _compiled(lambda a: jnp.linalg.slogdet(a), a)
    (kernel,) = compiled.plan.kernels
    assert any(g.library == "lapack" for g in kernel.segment.groups)
    assert kernel.code == FAST_CODE
    sign, logdet = compiled(a)
    expected = np.linalg.slogdet(a)
    assert sign == expected.sign
    np.testing.assert_allclose(logdet, expected.logabsdet, rtol=1e-12)
