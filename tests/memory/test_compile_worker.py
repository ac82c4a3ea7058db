"""The compile worker (codegen/compile_worker.py): the code it makes is the code this process
would make, and when it cannot be used compiling still works, in this process."""

import os
import sys

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp
from dualjit.codegen import compile_worker, engine
from dualjit.ir import interpreter


def _program(scale):
    return lambda a, b: jnp.tanh(a @ b) * scale + jnp.exp(jnp.sum(a, 1, keepdims=True))


def _check(f, *args):
    expected = interpreter.eval_function(dj.make_ir(f)(*args), *args)
    got = dj.jit(f)(*args)
    np.testing.assert_allclose(got, expected[0], rtol=1e-12)


ARGS = (np.linspace(-1, 1, 12).reshape(3, 4), np.linspace(0, 2, 20).reshape(4, 5))


@pytest.fixture(autouse=True)
def _worker_from_the_first_compile(monkeypatch):
    """These tests are about the worker: no compiles in this process first."""
    monkeypatch.setattr(engine, "IN_PROCESS_COMPILES", 0)


def test_the_worker_compiles_and_in_process_compiling_gives_the_same_object_code(monkeypatch):
    text = [None]
    original = engine.CompiledModule.__init__

    def keep_text(self, llvm_ir, *a, **k):
        text[0] = llvm_ir
        original(self, llvm_ir, *a, **k)
    monkeypatch.setattr(engine.CompiledModule, "__init__", keep_text)
    _check(_program(1.25), *ARGS)
    assert engine.USE_WORKER and engine._worker is not None  # the worker made that code
    with engine._lock:
        by_worker = engine._compile_in_worker(text[0], 3, want_text=True)
        _, _, here, optimized = engine._optimize_and_emit(
            lambda: engine.CompiledModule._parse(text[0], "dualjit", 3), want_text=True)
    assert by_worker is not None and by_worker[1] == optimized
    assert len(by_worker[0]) > 0 and len(here) > 0  # (both relocatable objects of the module)


def test_compiling_in_process_when_asked(monkeypatch):
    monkeypatch.setattr(engine, "USE_WORKER", False)
    _check(_program(2.5), *ARGS)


def test_a_worker_that_died_is_replaced_or_compiling_moves_in_process():
    _check(_program(3.5), *ARGS)
    engine._worker.process.kill()
    engine._worker.process.wait()
    _check(_program(4.5), *ARGS)  # EOF from the dead worker: compiled here instead
    assert engine.USE_WORKER and engine._worker is None
    _check(_program(5.5), *ARGS)  # and the next compile starts another worker
    assert engine._worker is not None and engine._worker.process.poll() is None


def test_the_worker_is_replaced_after_its_share_of_compiles(monkeypatch):
    monkeypatch.setattr(engine, "WORKER_COMPILES", 2)
    seen = set()
    for k in range(5):
        _check(_program(6.0 + k), *ARGS)
        seen.add(engine._worker.process)
    assert len(seen) >= 2
    assert all(p.poll() is not None for p in seen if p is not engine._worker.process)


def test_invalid_ir_is_reported_as_before():
    with pytest.raises(RuntimeError, match="parsing error"):
        engine.CompiledModule("define void @f() { not llvm }")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_uses_a_worker_of_its_own():
    _check(_program(7.5), *ARGS)
    parent_worker = engine._worker.process.pid
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            _check(_program(8.5), *ARGS)
            status = 0 if engine._worker.process.pid != parent_worker else 2
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    _check(_program(9.5), *ARGS)  # the parent's worker still answers (nothing was mixed up)
    assert engine._worker.process.pid == parent_worker


def test_a_process_first_compiles_in_process_then_starts_the_worker(monkeypatch):
    monkeypatch.setattr(engine, "_worker", None)  # (a worker of earlier tests is put back)
    monkeypatch.setattr(engine, "_compiled_here", 0)
    monkeypatch.setattr(engine, "IN_PROCESS_COMPILES", 3)
    for k in range(3):
        _check(_program(20.25 + k), *ARGS)  # (scales no other test compiles)
        assert engine._worker is None and engine._compiled_here == k + 1
    _check(_program(23.25), *ARGS)
    started = engine._worker
    try:
        assert started is not None and started.process.poll() is None
        assert started.compiles == 1 and engine._compiled_here == 3
    finally:
        if started is not None:
            started.close()


pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process handling")


def test_a_module_the_optimizer_breaks_is_optimized_again_without_slp(monkeypatch):
    """When LLVM's pipeline leaves a function that does not verify (an LLVM bug: the SLP
    vectorizer did, fuzz seed 61427), the module is parsed again and optimized without SLP,
    in the worker and in this process alike; the results are right either way."""
    calls = []
    original = compile_worker.optimize

    def breaks_with_slp(module, tm, slp=True):
        calls.append(slp)
        original(module, tm, slp)
        if slp:
            raise compile_worker.BrokenByOptimizer("as LLVM's SLP vectorizer once did")
    monkeypatch.setattr(compile_worker, "optimize", breaks_with_slp)
    monkeypatch.setattr(engine, "USE_WORKER", False)  # (the worker runs its own copy)
    _check(_program(4.75), *ARGS)
    assert calls[:2] == [True, False]


def test_a_module_that_stays_broken_raises_instead_of_crashing(monkeypatch):
    def always_broken(module, tm, slp=True):
        raise compile_worker.BrokenByOptimizer("LLVM's optimizer produced invalid IR: test")
    monkeypatch.setattr(compile_worker, "optimize", always_broken)
    monkeypatch.setattr(engine, "USE_WORKER", False)
    with pytest.raises(RuntimeError, match="invalid IR"):
        _check(_program(5.125), *ARGS)
