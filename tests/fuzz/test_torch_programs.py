"""The PyTorch-program generator (torch_programs.py) on dualjit alone: no PyTorch needed.

Each program's leaves' gradients from backward() against central finite differences of the
program's loss (all floats float64, the default dtype too), and the program run through
dj.compile (eager, trace, compiled program) against the same program run eagerly. The
comparison with PyTorch itself is `python -m tests.fuzz.torch_run` (PyTorch optional).
DUALJIT_TORCH_PROGRAMS=n sets how many seeds each test tries (CI 12, else 30).
"""

import os
import warnings

import numpy as np
import pytest

import dualjit as dj

from .torch_programs import loss_with_leaves, make_leaves, run_program
from .torch_run import compare_record

COUNT = int(os.environ.get("DUALJIT_TORCH_PROGRAMS", "12" if os.environ.get("CI") else "30"))


@pytest.fixture
def float64_default():
    old = dj.get_default_dtype()
    dj.set_default_dtype(dj.float64)
    yield
    dj.set_default_dtype(old)


def _loss_value(seed: int, arrays: list, flags: list) -> float:
    leaves = [dj.tensor(a.copy(), requires_grad=f) for a, f in zip(arrays, flags)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = loss_with_leaves(dj, seed, leaves, only64=True)
    return float(loss.item())


def gradient_mismatches(seed: int, h: float = 1e-6, per_leaf: int = 4) -> tuple[list, int]:
    """(mismatches, elements checked) of backward()'s leaf gradients against central
    differences of the loss; programs whose loss is not finite check nothing."""
    leaves = make_leaves(dj, seed, only64=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = loss_with_leaves(dj, seed, leaves, only64=True)
        if loss is None or not np.isfinite(loss.item()):
            return [], 0
        try:
            loss.backward()
        except RuntimeError:   # (the version-counter error some programs earn: PyTorch's too)
            return [], 0
    arrays = [t.detach().numpy().copy() for t in leaves]
    flags = [t.requires_grad for t in leaves]
    out, checked = [], 0
    for k, t in enumerate(leaves):
        if not t.requires_grad:
            continue
        grad = np.zeros(arrays[k].shape) if t.grad is None else t.grad.numpy()
        for i in range(min(arrays[k].size, per_leaf)):
            values = []
            for sign in (1, -1):
                moved = [a.copy() for a in arrays]
                moved[k].reshape(-1)[i] += sign * h
                values.append(_loss_value(seed, moved, flags))
            fd = (values[0] - values[1]) / (2 * h)
            g = grad.reshape(-1)[i]
            if not np.isfinite(fd):
                continue
            checked += 1
            if abs(fd - g) > 1e-4 * (1 + abs(fd)) + 1e-7 * (1 + abs(loss.item())):
                out.append(f"seed {seed}: leaf x{k}[{i}] backward {g!r}, finite differences "
                           f"{fd!r}")
    return out, checked


@pytest.mark.usefixtures("float64_default")
def test_leaf_gradients_against_finite_differences():
    mismatches, checked = [], 0
    for seed in range(COUNT):
        found, n = gradient_mismatches(seed)
        mismatches += found
        checked += n
    assert not mismatches, "\n".join(mismatches)
    assert checked >= COUNT  # (most programs have a finite loss and float leaves)


def compiled_mismatches(seed: int) -> tuple[list, int]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eager = run_program(dj, seed, fresh_grad=False)
        compiled = run_program(dj, seed, compiled=True, fresh_grad=False)
    out = []
    for e, c in zip(eager.records, compiled.records):
        problem = compare_record(e, c)
        if problem:
            out.append(f"seed {seed} `{e.label}`: eager vs compiled: {problem}")
            break
    if not out and len(eager.records) != len(compiled.records):
        out.append(f"seed {seed}: eager recorded {len(eager.records)} steps, compiled "
                   f"{len(compiled.records)}")
    return out, len(eager.records)


def test_compiled_programs_agree_with_eager(caplog):
    mismatches, steps = [], 0
    with caplog.at_level("WARNING", logger="dualjit.compile"):
        for seed in range(COUNT // 2):
            found, n = compiled_mismatches(seed)
            mismatches += found
            steps += n
    assert not mismatches, "\n".join(mismatches)
    assert steps >= COUNT
    # most programs compile (a few run eagerly: ops the IR lacks for bool, count_nonzero)
    eager = [r for r in caplog.records if "runs eagerly" in r.getMessage()]
    assert len(eager) <= COUNT // 6, [r.getMessage()[:120] for r in eager]


def test_the_checks_catch_a_wrong_gradient(monkeypatch):
    """A check that cannot fail proves nothing: make sin's gradient cos + 1 (by recording
    sin(x) + x - x.detach()), and finite differences must see it."""
    seeds = [s for s in range(200)
             if any("sin()" in r.label or "torch.sin(" in r.label
                    for r in run_program(dj, s, fresh_grad=False).records)]
    broken = dj.Tensor.sin
    monkeypatch.setattr(dj.Tensor, "sin", lambda self: broken(self) + self - self.detach())
    old = dj.get_default_dtype()
    dj.set_default_dtype(dj.float64)
    try:
        assert any(gradient_mismatches(s)[0] for s in seeds[:6])
    finally:
        dj.set_default_dtype(old)


def test_compiled_training_steps_agree_with_eager(caplog):
    """nn programs (model, loss, optimizer: torch_nn_programs.py): three training steps
    through dj.compile against the same steps run eagerly."""
    from .torch_nn_programs import nn_program

    mismatches = []
    for seed in range(max(COUNT // 3, 3)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            eager = nn_program(dj, seed)
            with caplog.at_level("WARNING", logger="dualjit.compile"):
                compiled = nn_program(dj, seed, compiled=True)
            assert not caplog.records, caplog.records[0].getMessage()
        assert len(eager.records) == len(compiled.records) >= 4
        for e, c in zip(eager.records, compiled.records):
            problem = compare_record(e, c)
            if problem:
                mismatches.append(f"seed {seed} `{e.label}`: {problem}")
    assert not mismatches, "\n".join(mismatches)


def test_api_programs_run_with_pytorch_error_types():
    """Programs over the newer API (torch_api_programs.py) on dualjit alone: every step
    gives a value or raises one of the exception types PyTorch raises (RuntimeError and its
    subclasses, ValueError, TypeError, IndexError), never a missing attribute or an
    internal error; and a program run twice gives the same records (a cached recorded
    operation shared by two functions made a gradient depend on what ran before)."""
    from .torch_api_programs import api_program

    allowed = {"RuntimeError", "ValueError", "TypeError", "IndexError"}
    bad = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in range(COUNT):
            first = api_program(dj, seed)
            again = api_program(dj, seed)
            for a, b in zip(first.records, again.records):
                if a.kind == "error" and not allowed & set(a.error_kinds):
                    bad.append(f"seed {seed} `{a.label}`: {a.error}: {a.array}")
                problem = compare_record(a, b)
                if problem:
                    bad.append(f"seed {seed} `{a.label}` run twice: {problem}")
    assert not bad, "\n".join(bad)
