"""python -m dualjit: commands listed, dump's sections, usage errors as messages."""

import os
import subprocess
import sys

import pytest

MODULE = """
import dualjit.numpy as jnp

def loss(x, y):
    return jnp.sum(jnp.sin(x) * y)
"""


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "dualjit", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd, env=dict(os.environ))


def test_help_lists_the_commands():
    out = run("--help")
    assert out.returncode == 0
    assert "demo" in out.stdout and "dump" in out.stdout
    dump_help = run("dump", "--help")
    assert dump_help.returncode == 0 and "--plan" in dump_help.stdout
    assert "MODULE:FUNCTION" in dump_help.stdout and "f32[3]" in dump_help.stdout


def test_dump_prints_the_chosen_sections(tmp_path):
    (tmp_path / "model.py").write_text(MODULE)
    out = run("dump", "model:loss", "f64[3]", "f64[3]", "--plan", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "code generator's plan" in out.stdout and "kernel0(a, b) -> (e)" in out.stdout
    assert "typed IR" not in out.stdout and "assembly" not in out.stdout
    everything = run("dump", "model:loss", "f32[2]", "f32[2]", cwd=tmp_path)
    for title in ("typed IR", "plan", "LLVM IR", "assembly"):
        assert title in everything.stdout


@pytest.mark.parametrize("args, message", [
    (("dump", "model"), "expected MODULE:FUNCTION"),
    (("dump", "nosuchmodule:f"), "cannot import 'nosuchmodule'"),
    (("dump", "model:nosuch"), "has no function 'nosuch'"),
    (("dump", "model:loss", "f64[3"), "bad type 'f64[3'"),
    (("dump", "model:loss", "f64[3]"), "missing 1 required positional argument"),
    (("bogus",), "invalid choice: 'bogus'"),
])
def test_usage_errors_are_messages_not_tracebacks(tmp_path, args, message):
    (tmp_path / "model.py").write_text(MODULE)
    out = run(*args, cwd=tmp_path)
    assert out.returncode in (1, 2)
    assert message in out.stderr and "Traceback" not in out.stderr
