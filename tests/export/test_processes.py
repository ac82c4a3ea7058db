"""Exported programs in fresh processes that never saw the Python source: same numbers, object
code used only when it is this host's and intact (otherwise rebuilt from the IR), never a crash."""

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp
from dualjit.exported import container

TYPES = '''
import dataclasses
from typing import NamedTuple
import dualjit as dj

class Layer(NamedTuple):
    w: object
    b: object

@dj.register_dataclass
@dataclasses.dataclass
class Batch:
    x: object
    labels: object
'''

# Loads an exported program and its inputs; knows the pytree types, not the model's code.
LOADER = '''
import json, sys
import numpy as np
import dualjit as dj
from djx_types import Batch, Layer
exported = dj.deserialize(open(sys.argv[1], "rb").read())
z = np.load(sys.argv[2])
params = [Layer(z["w0"], z["b0"]), Layer(z["w1"], z["b1"])]
value, grads = exported.call(params, Batch(z["x"], z["labels"]))
assert isinstance(grads[0], Layer)
np.savez(sys.argv[3], value=value, *[a for g in grads for a in g])
print(json.dumps({"object_code_used": exported.object_code_used,
                  "without_emitting": exported.modules_loaded_without_emitting}))
'''


@pytest.fixture()
def types_module(tmp_path, monkeypatch):
    (tmp_path / "djx_types.py").write_text(TYPES)
    monkeypatch.syspath_prepend(str(tmp_path))
    import djx_types

    yield djx_types
    sys.modules.pop("djx_types", None)


def loss(params, batch):
    h = batch.x
    for layer in params[:-1]:
        h = jnp.tanh(h @ layer.w + layer.b)
    logits = h @ params[-1].w + params[-1].b
    return dj.nn.cross_entropy(logits, batch.labels)


def inputs(types, seed=0):
    rng = np.random.default_rng(seed)
    # 64 x 24 @ 24 x 32 is large enough for the BLAS gemm, called from inside the kernel
    params = [types.Layer(rng.standard_normal((24, 32)).astype(np.float32) * 0.3,
                          np.zeros(32, np.float32)),
              types.Layer(rng.standard_normal((32, 3)).astype(np.float32) * 0.3,
                          np.zeros(3, np.float32))]
    return params, types.Batch(rng.standard_normal((64, 24)).astype(np.float32),
                               rng.integers(0, 3, 64))


def load_in_fresh_process(tmp_path, blob: bytes, types, **env):
    (tmp_path / "program.djx").write_bytes(blob)
    params, batch = inputs(types)
    np.savez(tmp_path / "inputs.npz", w0=params[0].w, b0=params[0].b, w1=params[1].w,
             b1=params[1].b, x=batch.x, labels=batch.labels)
    full_env = dict(os.environ, **env, PYTHONPATH=os.pathsep.join(
        [str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    full_env.pop("DUALJIT_CACHE_DIR", None)  # the blob's object code, not a disk cache
    (tmp_path / "loader.py").write_text(LOADER)
    out = subprocess.run([sys.executable, str(tmp_path / "loader.py"),
                          str(tmp_path / "program.djx"), str(tmp_path / "inputs.npz"),
                          str(tmp_path / "outputs.npz")], cwd=str(tmp_path / ".."),
                         env=full_env, capture_output=True, text=True, timeout=180)
    return out


def expected_outputs(types):
    value, grads = dj.jit(dj.value_and_grad(loss))(*inputs(types))
    return [value] + [a for g in grads for a in g]


def check_outputs(tmp_path, types, exact=True):
    z = np.load(tmp_path / "outputs.npz")
    got = [z["value"]] + [z[f"arr_{i}"] for i in range(4)]
    for a, b in zip(got, expected_outputs(types)):
        if exact:
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-7)


def test_a_jitted_gradient_runs_in_a_fresh_process_from_its_object_code(tmp_path, types_module):
    blob = dj.export(dj.jit(dj.value_and_grad(loss)))(*inputs(types_module)).serialize()
    out = load_in_fresh_process(tmp_path, blob, types_module)
    assert out.returncode == 0, out.stderr
    # found by its Function and plan: linked without emitting LLVM IR at all
    assert json.loads(out.stdout.splitlines()[-1]) == {"object_code_used": True,
                                                       "without_emitting": 1}
    check_outputs(tmp_path, types_module)  # the same machine code: the same bits


def test_without_object_code_the_ir_is_compiled_there(tmp_path, types_module):
    blob = dj.export(dj.value_and_grad(loss))(*inputs(types_module)).serialize(object_code=False)
    out = load_in_fresh_process(tmp_path, blob, types_module)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1])["object_code_used"] is False
    check_outputs(tmp_path, types_module)
    out = load_in_fresh_process(tmp_path, blob, types_module, DUALJIT_BACKEND="interpreter")
    assert out.returncode == 0, out.stderr
    check_outputs(tmp_path, types_module, exact=False)


def test_a_pytree_type_missing_on_the_loading_side_is_named(tmp_path, types_module):
    blob = dj.export(dj.value_and_grad(loss))(*inputs(types_module)).serialize(object_code=False)
    (tmp_path / "program.djx").write_bytes(blob)
    out = subprocess.run([sys.executable, "-c", "import sys, dualjit as dj; "
                          "dj.deserialize(open(sys.argv[1], 'rb').read())",
                          str(tmp_path / "program.djx")], capture_output=True, text=True,
                         timeout=120, cwd="/")
    assert out.returncode != 0
    assert "DeserializationError" in out.stderr and "Layer from module djx_types" in out.stderr


def rewrite_object_code(blob: bytes, change) -> bytes:
    """The blob with change(header, sections) applied and every checksum made right again."""
    header, sections = container.unpack(blob)
    sections = [bytes(s) for s in sections]
    change(header, sections)
    header.pop("sections")
    return container.pack(header, sections)


def other_cpu(header, sections):
    header["object_code"]["host"][3] = "some-other-cpu"


def garbage_code_with_its_checksum(header, sections):
    for module in header["object_code"]["modules"]:
        code = b"\x7fELF" + bytes(range(256)) * 8
        sections[module["code"]] = code
        module["sha256"] = hashlib.sha256(code).hexdigest()


def code_not_matching_its_checksum(header, sections):
    for module in header["object_code"]["modules"]:
        code = bytearray(sections[module["code"]])
        code[len(code) // 2] ^= 0xFF
        sections[module["code"]] = bytes(code)


@pytest.mark.parametrize("change", [other_cpu, garbage_code_with_its_checksum])
def test_object_code_for_another_host_or_damaged_is_rebuilt_from_the_ir(tmp_path, types_module,
                                                                        change):
    blob = dj.export(dj.value_and_grad(loss))(*inputs(types_module)).serialize()
    out = load_in_fresh_process(tmp_path, rewrite_object_code(blob, change), types_module)
    assert out.returncode == 0, out.stderr  # LLVM would abort on the garbage
    assert json.loads(out.stdout.splitlines()[-1])["object_code_used"] is False
    check_outputs(tmp_path, types_module)


def test_object_code_not_matching_its_checksum_is_left_out(types_module):
    blob = dj.export(dj.value_and_grad(loss))(*inputs(types_module)).serialize()
    assert len(dj.deserialize(blob)._stored.usable()) == 1
    damaged = dj.deserialize(rewrite_object_code(blob, code_not_matching_its_checksum))
    assert damaged._stored.usable() == [] and damaged._stored.as_objects() == []
    assert not dj.deserialize(damaged.serialize())._stored  # never re-exported as valid


def test_a_loader_that_plans_differently_compiles_the_ir(tmp_path, types_module):
    """Without the BLAS gemm the plan moves the matrix products out of the kernel, so the
    exported kernel (which calls gemm, with other arguments) must not be bound: neither its
    plan key nor its LLVM IR key matches."""
    blob = dj.export(dj.value_and_grad(loss))(*inputs(types_module)).serialize()
    out = load_in_fresh_process(tmp_path, blob, types_module, DUALJIT_NATIVE_BLAS="0")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == {"object_code_used": False,
                                                       "without_emitting": 0}
    check_outputs(tmp_path, types_module, exact=False)


def test_the_loader_needs_no_source_of_the_program(tmp_path, types_module):
    loader = textwrap.dedent(LOADER)
    assert "tanh" not in loader and "cross_entropy" not in loader and "loss" not in loader
