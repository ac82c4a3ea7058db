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
