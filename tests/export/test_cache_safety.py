"""The disk cache never runs code it cannot vouch for (issue 10 item 12, issue 15 item 2).

Every case runs in a subprocess, so a crash or an abort fails the test instead of the run.
"""

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dualjit.codegen import object_cache

pytestmark = pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")

# f and g have kernels of different arities (one input vs two); `mode` says which to compile.
# Small loops: compiled at LLVM's fastest code-generation level, so each process is quick.
PROGRAM = r"""
import json, os, sys, warnings
warnings.simplefilter("always")
if os.environ.get("FAKE_UID"):
    os.geteuid = lambda: int(os.environ["FAKE_UID"])  # as if another user ran this
import numpy as np, dualjit.numpy as jnp
import dualjit as dj
from dualjit.codegen.runtime import compile_function
x = np.linspace(-3, 3, 64)
out = {}
if "f" in sys.argv[1]:
    c = compile_function(dj.make_ir(lambda x: jnp.sum(x * x * 3.0 + x))(x))
    out["f"], out["f_hit"] = float(c(x)[0]), c.compiled.cache_hit
if "g" in sys.argv[1]:
    c = compile_function(dj.make_ir(lambda x, y: jnp.sum(x * y + 2.0))(x, x))
    out["g"], out["g_hit"] = float(c(x, x)[0]), c.compiled.cache_hit
print(json.dumps(out))
"""

X = np.linspace(-3, 3, 64)
F = float(np.sum(X * X * 3.0 + X))
G = float(np.sum(X * X + 2.0))


def run(cache: Path, mode: str = "fg", **env) -> tuple[dict, str]:
    full = dict(os.environ, DUALJIT_CACHE_DIR=str(cache), DUALJIT_BACKEND="native",
                XDG_CONFIG_HOME=str(cache.parent / "config"), **env)
    out = subprocess.run([sys.executable, "-c", PROGRAM, mode], env=full, capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if "f" in result:
        np.testing.assert_allclose(result["f"], F, rtol=1e-12)
    if "g" in result:
        np.testing.assert_allclose(result["g"], G, rtol=1e-12)
    return result, out.stderr


def cache_dir(tmp_path: Path) -> Path:
    path = tmp_path / "cache"
    path.mkdir(mode=0o700)
    return path


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CacheWarning" in line]


def test_a_second_process_hits_and_entries_carry_no_readable_secret(tmp_path):
    cache = cache_dir(tmp_path)
    first, err = run(cache)
    assert not first["f_hit"] and not first["g_hit"] and not warnings_in(err)
    second, _ = run(cache)
    assert second["f_hit"] and second["g_hit"]
    key = tmp_path / "config" / "dualjit" / "cache.key"
    assert key.stat().st_mode & 0o777 == 0o600 and key.stat().st_size == 32
    assert key.parent.stat().st_mode & 0o077 == 0


def test_a_directory_others_can_write_is_refused_with_one_warning(tmp_path):
    cache = cache_dir(tmp_path)
    cache.chmod(0o777)
    result, err = run(cache)
    assert not result["f_hit"] and not result["g_hit"]
    (warning,) = warnings_in(err)  # two compiles, one warning
    assert "refused" in warning and "writable" in warning
    assert list(cache.iterdir()) == []  # nothing written there either


@pytest.mark.parametrize("mode, problem", [(0o700, None), (0o750, None), (0o770, "writable"),
                                           (0o707, "writable"), (0o1777, "writable")])
def test_which_directory_modes_are_refused(tmp_path, mode, problem):
    cache = cache_dir(tmp_path)
    cache.chmod(mode)
    found = object_cache._directory_problem(str(cache))
    assert found is None if problem is None else problem in found


def test_a_directory_owned_by_someone_else_is_refused(tmp_path):
    cache = cache_dir(tmp_path)
    result, err = run(cache, FAKE_UID=str(os.geteuid() + 4242))
    (warning,) = warnings_in(err)
    assert "refused" in warning and "not to you" in warning
    assert list(cache.iterdir()) == []


def test_a_parent_others_can_write_is_refused_unless_sticky(tmp_path):
    parent = tmp_path / "shared"
    parent.mkdir()
    cache = parent / "cache"
    cache.mkdir(mode=0o700)
    parent.chmod(0o777)
    assert "parent directory" in object_cache._directory_problem(str(cache))
    parent.chmod(0o1777)  # sticky, like /tmp: others cannot rename our directory
    assert object_cache._directory_problem(str(cache)) is None


def test_an_unusable_location_warns_once_and_runs_uncached(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result, err = run(blocker / "below")
    (warning,) = warnings_in(err)  # two compiles, one warning
    assert "cannot be used" in warning
    assert not result["f_hit"]


def test_a_key_file_others_can_read_is_refused(tmp_path, monkeypatch):
    cache = cache_dir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert object_cache.secret() is not None  # made now, as the first compile would
    key = tmp_path / "config" / "dualjit" / "cache.key"
    key.chmod(0o644)
    result, err = run(cache)
    assert not result["f_hit"]
    (warning,) = warnings_in(err)
    assert "cache.key" in warning and "600" in warning
    assert list(cache.iterdir()) == []


def entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.o"))


def f_and_g_entries(cache: Path) -> tuple[Path, Path]:
    """The entries of f and g (told apart by their kernel's arity: f has one input, g two)."""
    run(cache)
    by_arity = {}
    for entry in entries(cache):
        symbols = json.loads(object_cache._split_entry(entry.read_bytes())[0])["symbols"]
        by_arity[dict(symbols)["kernel0"]] = entry
    return by_arity[2], by_arity[3]


def test_an_entry_copied_over_another_functions_is_ignored(tmp_path):
    cache = cache_dir(tmp_path)
    f_entry, g_entry = f_and_g_entries(cache)
    shutil.copyfile(f_entry, g_entry)  # f's valid entry (one argument) under g's key (two)
    result, _ = run(cache)  # run() checks both values: g did not run f's code
    assert result["f_hit"] and not result["g_hit"]
    assert run(cache)[0]["g_hit"]  # g's entry was written again


def test_entries_written_under_another_users_secret_are_not_loaded(tmp_path):
    cache = cache_dir(tmp_path)
    run(cache)
    (tmp_path / "config" / "dualjit" / "cache.key").unlink()  # a new secret is made
    result, _ = run(cache)
    assert not result["f_hit"] and not result["g_hit"]


def forge(entry: Path, config: Path, **changes) -> None:
    """Rewrite `entry` with its MAC recomputed under the user's own secret, so that only the
    checks after the MAC (key, symbols, object-file structure) stand between it and the linker."""
    data = entry.read_bytes()
    header, _, code, ir = object_cache._split_entry(data)
    fields = json.loads(header)
    code = changes.pop("code", code)
    fields.update(changes, code=len(code))
    header = json.dumps(fields).encode()
    secret = (config / "dualjit" / "cache.key").read_bytes()
    entry.write_bytes(b"".join([object_cache._MAGIC, struct.pack("<Q", len(header)), header,
                                object_cache._mac(secret, header, code, ir), code, ir]))


def test_an_authentic_entry_with_other_symbols_or_arities_is_not_linked(tmp_path):
    cache = cache_dir(tmp_path)
    f_entry, g_entry = f_and_g_entries(cache)
    config = tmp_path / "config"
    f_header, _, f_code, _ = object_cache._split_entry(f_entry.read_bytes())
    f_symbols = json.loads(f_header)["symbols"]
    # g's key with f's object code and f's (truthful) symbols: g's kernels take one more
    # argument, and calling f's code with them is what used to crash
    forge(g_entry, config, code=f_code, symbols=f_symbols)
    assert not run(cache)[0]["g_hit"]
    # g's own code, but one arity recorded wrong
    g_symbols = json.loads(object_cache._split_entry(g_entry.read_bytes())[0])["symbols"]
    g_symbols[0][1] += 1
    forge(g_entry, config, symbols=g_symbols)
    assert not run(cache)[0]["g_hit"]
    assert run(cache)[0]["g_hit"]


@pytest.mark.parametrize("damage", ["text", "truncated-elf"])
def test_an_authentic_entry_that_is_not_an_object_file_never_reaches_llvm(tmp_path, damage):
    cache = cache_dir(tmp_path)
    run(cache, "f")
    (entry,) = entries(cache)
    code = object_cache._split_entry(entry.read_bytes())[2]
    bad = {"text": b"#!/bin/sh\necho this is not object code\n" * 20,
           "truncated-elf": code[:200]}[damage]
    forge(entry, tmp_path / "config", code=bad)
    result, _ = run(cache, "f")  # LLVM would abort the process on these bytes
    assert not result["f_hit"]
    assert run(cache, "f")[0]["f_hit"]  # rewritten whole


def test_host_object_check_accepts_what_llvm_produces():
    import dualjit as dj
    from dualjit.codegen.runtime import compile_function

    compiled = compile_function(dj.make_ir(lambda x: x * 2.0 + 1.0)(np.ones(3)))
    code = compiled.compiled.object_code.code
    assert object_cache.is_host_object(code)
    for cut in (0, 4, 63, 64, len(code) // 2, len(code) - 1):
        assert not object_cache.is_host_object(code[:cut])
    assert not object_cache.is_host_object(code[:60] + b"\0\0\0\0" + code[64:])  # no sections
    assert not object_cache.is_host_object(code[:18] + struct.pack("<H", 40) + code[20:])  # ARM
    assert not object_cache.is_host_object(code[:16] + struct.pack("<H", 3) + code[18:])  # .so
    assert object_cache.symbols_resolve(code)
    assert "Py_IncRef" in object_cache.undefined_symbols(code)  # CPython, for the builtin entry
