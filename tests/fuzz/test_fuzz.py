"""The differential fuzzer in the suite: random programs checked every way (check.py).

CI (CI=true) checks 40 programs and one long chain; a local run 120; DUALJIT_FUZZ_PROGRAMS=n
sets the count. The deep run (`python -m tests.fuzz.run --count 10000 --jobs 2`) is the
same check over many more seeds; its counts are in the README's Testing section.
"""

import os

import pytest

from .check import check_program
from .programs import make_program

COUNT = int(os.environ.get("DUALJIT_FUZZ_PROGRAMS", "40" if os.environ.get("CI") else "120"))
CHUNK = 10


@pytest.mark.parametrize("first", range(0, COUNT, CHUNK))
def test_random_programs_agree_everywhere(first):
    mismatches, programs = [], 0
    for seed in range(first, min(first + CHUNK, COUNT)):
        report = check_program(make_program(seed))
        mismatches += report.mismatches
        programs += report.checks["programs"]
    assert not mismatches, "\n".join(mismatches)
    assert programs >= 1  # (NumPy refuses a few programs: nothing to compare there)


@pytest.mark.parametrize("seed", [1_000_003])
def test_a_long_chain_agrees_everywhere(seed):
    prog = make_program(seed, long_chain=True)
    assert len(prog.op_names) >= 60
    report = check_program(prog)
    assert not report.mismatches, "\n".join(report.mismatches)
    assert report.checks["jit"] == 1


def test_a_gradient_llvm_slp_vectorizer_broke_compiles_and_agrees():
    """Seed 61427's jit(grad) (a fori and scan of float32[4, 4]): LLVM's SLP vectorizer made
    a function that no longer verified and LLVM aborted the process (2026-12-01); it is now
    optimized again without SLP (compile_worker.optimize_parsed)."""
    prog = make_program(61427)
    report = check_program(prog)
    assert not report.mismatches, "\n".join(report.mismatches)
    assert report.checks["jit(grad)"] == 1


def test_the_checker_catches_a_wrong_answer(monkeypatch):
    """A fuzzer that cannot fail proves nothing: break sin in dualjit.numpy, expect reports."""
    import dualjit.numpy as jnp

    seed = next(s for s in range(1000) if make_program(s).op_names == ["sin"]
                or "sin" in make_program(s).op_names and not make_program(s).is_int)
    monkeypatch.setattr(jnp, "sin", lambda x: jnp.cos(x))
    report = check_program(make_program(seed))
    assert any("[eager]" in m for m in report.mismatches)
