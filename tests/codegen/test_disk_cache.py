"""The optional on-disk cache of object code: hits skip LLVM, bad entries are never loaded."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

PROGRAM = r"""
import json, numpy as np, dualjit as dj, dualjit.numpy as jnp
from dualjit.codegen.runtime import compile_function
def f(x):  # vector math, a gemm call and the GIL-releasing entry: all resolved on load
    m = jnp.reshape(x, (64, 64))
    return jnp.sum(jnp.tanh(x) * jnp.exp(-x * x)) + x[3] + jnp.sum(m @ m) * 1e-3
x = np.linspace(-3, 3, 4096)
fn = dj.make_ir(f)(x)
compiled = compile_function(fn)
value = float(compiled(x)[0])
print(json.dumps({"hit": compiled.compiled.cache_hit, "value": value,
                  "asm": "ret" in compiled.asm(), "ir": "define" in compiled.llvm_ir()}))
"""


def run(cache: Path) -> dict:
    cache.mkdir(mode=0o700, exist_ok=True)
    env = dict(os.environ, DUALJIT_CACHE_DIR=str(cache), DUALJIT_BACKEND="native",
               XDG_CONFIG_HOME=str(cache.parent / "config"))  # the per-user cache key
    out = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def expected() -> float:
    x = np.linspace(-3, 3, 4096)
    m = x.reshape(64, 64)
    return float(np.sum(np.tanh(x) * np.exp(-x * x)) + x[3] + np.sum(m @ m) * 1e-3)


def test_second_process_loads_object_code_from_the_cache(tmp_path):
    cache = tmp_path / "cache"
    first = run(cache)
    assert not first["hit"]
    assert [p.suffix for p in cache.iterdir()] == [".o"]
    second = run(cache)
    assert second["hit"] and second["asm"] and second["ir"]
    assert second["value"] == first["value"]
    np.testing.assert_allclose(second["value"], expected(), rtol=1e-12)


def test_corrupted_or_truncated_entries_are_ignored_and_rewritten(tmp_path):
    tmp_path = tmp_path / "cache"
    run(tmp_path)
    (obj,) = tmp_path.glob("*.o")
    data = bytearray(obj.read_bytes())
    data[-20:] = b"\xff" * 20  # damage the object code, keep the checksum line
    obj.write_bytes(bytes(data))
    damaged = run(tmp_path)
    assert not damaged["hit"]
    np.testing.assert_allclose(damaged["value"], expected(), rtol=1e-12)
    assert run(tmp_path)["hit"]  # the entry was written again, whole
    obj.write_bytes(obj.read_bytes()[:40])  # truncated
    truncated = run(tmp_path)
    assert not truncated["hit"]
    np.testing.assert_allclose(truncated["value"], expected(), rtol=1e-12)


LAZY_TEXT = r"""
import os, sys, numpy as np, dualjit as dj, dualjit.numpy as jnp
from dualjit.codegen import engine
from dualjit.codegen.lower import emit_module
from dualjit.codegen.schedule import plan_function
fn = dj.make_ir(lambda x: jnp.sum(jnp.tanh(x) * jnp.exp(-x * x)))(np.linspace(-3, 3, 4096))
text = str(emit_module(plan_function(fn), True))
lazy = engine.CompiledModule(text)
assert callable(lazy.object_code._optimized)  # not printed while compiling
os.environ["DUALJIT_CACHE_DIR"] = sys.argv[1]  # the disk cache stores the text: printed now
eager = engine.CompiledModule(text)
assert not eager.cache_hit and isinstance(eager.object_code._optimized, str)
assert lazy.optimized_ir == eager.optimized_ir != text
assert " x double>" in lazy.optimized_ir  # optimized: the loop was vectorized
print("same")
"""


def test_optimized_ir_text_made_on_demand_equals_the_text_printed_when_compiling(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    env = dict(os.environ, DUALJIT_BACKEND="native", XDG_CONFIG_HOME=str(tmp_path / "config"))
    env.pop("DUALJIT_CACHE_DIR", None)
    out = subprocess.run([sys.executable, "-c", LAZY_TEXT, str(cache)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["same"]
