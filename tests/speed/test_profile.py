"""The profiler: jit(f).profile(x) and DUALJIT_PROFILE=1 — one row per step with the right
kind, BLAS calls counted, shares summing to one, step times within the call's time."""

import os
import subprocess
import sys

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp


def _model(w, x):
    h = jnp.tanh(x @ w)  # a kernel with a gemm call inside
    ordered = jnp.sort(h, axis=1)  # a host step (sort has no native lowering)
    return jnp.sum(ordered * ordered)


def _args():
    rng = np.random.default_rng(0)
    return rng.standard_normal((300, 200)), rng.standard_normal((400, 300))


def test_profile_lists_every_step_with_its_kind_and_blas_calls():
    w, x = _args()
    f = dj.jit(_model)
    prof = f.profile(w, x, repeats=3)
    plan = f.lower(w, x).plan()
    assert len(prof.rows) == len(plan.steps)
    kinds = {r.kind for r in prof.rows}
    assert kinds == {"kernel", "host step"}
    assert any(r.name == "sort" and r.kind == "host step" for r in prof.rows)
    gemm_rows = [r for r in prof.rows if r.blas_calls]
    assert gemm_rows and gemm_rows[0].blas_mflop == pytest.approx(2 * 400 * 300 * 200 / 1e6)
    assert prof.calls == 3


def test_profile_times_add_up():
    w, x = _args()
    prof = dj.jit(_model).profile(w, x, repeats=5)
    assert all(r.seconds > 0 for r in prof.rows)
    # medians of parts need not sum to the median of the whole, but the steps run inside it
    assert prof.steps_total <= prof.total * 1.5
    shares = sum(prof.share(r) for r in prof.rows) + (prof.overhead / (prof.steps_total
                                                                       + prof.overhead))
    assert shares == pytest.approx(1.0)
    text = str(prof)
    assert "sort" in text and "share" in text and "(calling overhead)" in text


def test_profile_refuses_the_interpreter(monkeypatch):
    from dualjit.ir.interpreter import eval_function

    jit_module = sys.modules["dualjit.jit"]  # (dualjit.jit is also the name of the function)
    monkeypatch.setitem(jit_module._backend, "compile",
                        lambda fn: lambda *a: eval_function(fn, *a))
    with pytest.raises(RuntimeError, match="interpreter"):
        dj.jit(lambda x: x * 2.0).profile(np.ones(3))


def test_environment_switch_prints_a_table_at_exit():
    code = ("import numpy as np, dualjit as dj, dualjit.numpy as jnp\n"
            "f = dj.jit(lambda a: jnp.tanh(a @ a) * 2.0)\n"
            "for _ in range(3): f(np.ones((200, 200)))\n")
    env = dict(os.environ, DUALJIT_PROFILE="1")
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    env["PYTHONPATH"] = os.path.abspath(src) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "dualjit profile" in out.stderr and "3 calls" in out.stderr
    assert "kernel" in out.stderr


# -- inside kernels: profile(..., nests=True) ----------------------------------------------------

def _attention(q, k, v):
    scores = jnp.exp(q @ jnp.swapaxes(k, -1, -2))  # a batched product, then a loop nest
    return jnp.sum((scores / jnp.sum(scores, axis=-1, keepdims=True)) @ v)


def _attention_args():
    rng = np.random.default_rng(1)
    return [rng.standard_normal((3, 64, 32)).astype(np.float32) * 0.2 for _ in range(3)]


def test_nests_lists_each_group_of_each_kernel_with_its_gemm_calls():
    args = _attention_args()
    f = dj.jit(_attention)
    prof = f.profile(*args, repeats=3, nests=True)
    (kernel,) = f.lower(*args).plan().kernels
    groups = kernel.segment.groups
    assert [r.index for r in sorted(prof.nests, key=lambda r: r.index)] == list(range(len(groups)))
    gemms = [r for r in prof.nests if r.kind == "gemm"]
    assert len(gemms) == sum(g.library == "gemm" for g in groups) == 2
    for row in gemms:  # one gemm call per batch index, 2 m n k flops each
        assert row.blas_calls == 3
        assert row.blas_mflop == pytest.approx(3 * 2 * 64 * 64 * 32 / 1e6)
    kinds = {"loop": "loop nest", "reduce": "reduction"}  # (softmax may be reductions only)
    assert sorted(r.kind for r in prof.nests) == sorted(
        "gemm" if g.library == "gemm" else kinds[g.kind] for g in groups)
    assert "reduction" in {r.kind for r in prof.nests}
    text = str(prof)
    assert f"inside {kernel.name}" in text and "3 x 64x64x32" in text


def test_nest_times_sum_to_the_probed_kernels_time():
    w, x = _args()
    f = dj.jit(_model)
    prof = f.profile(w, x, repeats=9, nests=True)
    assert len(prof.probed_kernels) == 2  # before and after the sort's host step
    gemm, = [r for r in prof.nests if r.kind == "gemm"]
    seconds = prof.probed_kernels[gemm.kernel]
    inside = prof.probed_inside[gemm.kernel]
    # each call's groups run inside that call (so the medians keep that order, up to the
    # cycle counter's calibration); outside them: the entry and the Python around the call
    assert 0.5 * seconds < inside < 1.05 * seconds
    # the groups' own medians: no order on a busy machine, only their scale
    assert sum(r.seconds for r in prof.nests if r.kernel == gemm.kernel) < 1.5 * seconds
    assert all(r.seconds >= 0 for r in prof.nests)
    assert gemm.seconds > 0 and gemm.blas_mflop == pytest.approx(2 * 400 * 300 * 200 / 1e6)


def test_the_probed_build_computes_the_same_values():
    from dualjit.codegen import profile

    args = _attention_args()
    compiled = dj.jit(_attention).lower(*args)._compiled
    steps, _ = compiled.probed_steps()
    env = profile.timed_call(compiled, compiled.check_arguments(args), [[] for _ in steps],
                             steps)
    (out,) = compiled.function.outputs
    assert np.array_equal(env[out], compiled(*args)[0])


def test_nests_without_kernels_is_empty():
    prof = dj.jit(lambda x: jnp.sort(x)).profile(np.ones(5), repeats=2, nests=True)
    assert prof.nests == [] and prof.probed_kernels == {}


def test_a_kernel_split_in_chunks_says_it_is_not_probed():
    x = np.ones(1 << 18, np.float32)
    f = dj.jit(lambda x: jnp.sum(jnp.exp(x) * 2.0))
    (kernel,) = f.lower(x).plan().kernels
    prof = f.profile(x, repeats=2, nests=True)
    assert kernel.flat is not None, "the plan no longer splits this kernel: pick a larger x"
    assert prof.unprobed == [kernel.name] and prof.nests == []
    assert f"inside {kernel.name}: not probed" in str(prof)


def test_nests_lists_a_convolution_computed_by_gemm_with_its_flops(monkeypatch):
    import dualjit.lax as lax
    from dualjit.codegen import conv_blocked_plan

    monkeypatch.setattr(conv_blocked_plan, "FORCE", False)  # (im2col + gemm, not blocked)

    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 16, 256)).astype(np.float32)  # (N, C, W)
    w = rng.standard_normal((32, 16, 5)).astype(np.float32)  # (O, I, K)
    f = dj.jit(lambda x, w: jnp.sum(lax.conv_general_dilated(x, w, (1,), "SAME") ** 2))
    prof = f.profile(x, w, repeats=2, nests=True)
    (conv,) = [r for r in prof.nests if r.kind.startswith("conv")]
    assert conv.blas_calls == 1  # each output = 16 x 5 multiply-adds, for 4 x 32 x 256 outputs
    assert conv.blas_mflop == pytest.approx(2 * 4 * 32 * 256 * 16 * 5 / 1e6)
