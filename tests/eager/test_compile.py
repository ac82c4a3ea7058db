"""dj.compile: a Module's forward or a whole training step as one compiled program, against the
same code run eagerly; guards; eager fallback with a logged reason."""

import logging
import math

import numpy as np
import pytest

import dualjit as dj
import dualjit.nn as nn


def _data():
    x = dj.linspace(-math.pi, math.pi, 200)
    return x.unsqueeze(-1).pow(dj.tensor([1, 2, 3])), dj.sin(x)


def _setup(optimizer=dj.optim.Adam, **kwargs):
    dj.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1), nn.Flatten(0, 1))
    return model, optimizer(model.parameters(), **kwargs)


def _train(step, xx, y, n):
    return [step(xx, y).item() for _ in range(n)]


@pytest.mark.parametrize("optimizer, kwargs", [(dj.optim.Adam, dict(lr=0.01)),
                                               (dj.optim.SGD, dict(lr=1e-3, momentum=0.9))])
def test_compiled_training_step_matches_eager(optimizer, kwargs):
    xx, y = _data()
    results = []
    for compiled in (False, True):
        model, opt = _setup(optimizer, **kwargs)

        def step(xx, y):
            loss = nn.functional.mse_loss(model(xx), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        run = dj.compile(step) if compiled else step
        losses = _train(run, xx, y, 20)
        results.append((losses, [p.detach().numpy().copy() for p in model.parameters()]))
        if compiled:
            programs = list(run._programs.values())
            assert len(programs) == 1 and programs[0] is not None
            text = programs[0].function.text
            assert "dot_general" in text and "sqrt" in text or "mul" in text  # fwd+bwd+update
    (eager_losses, eager_params), (comp_losses, comp_params) = results
    np.testing.assert_allclose(comp_losses, eager_losses, rtol=1e-4)
    for a, b in zip(comp_params, eager_params):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_compiled_module_forward_is_differentiable_outside():
    xx, y = _data()
    model, _ = _setup()
    cmodel = dj.compile(model)
    for _ in range(2):  # (the first call runs eagerly)
        out = cmodel(xx)
    assert out.grad_fn is not None and "Compiled" in repr(out.grad_fn)
    nn.functional.mse_loss(out, y).backward()
    compiled_grads = [p.grad.numpy().copy() for p in model.parameters()]
    model.zero_grad()
    nn.functional.mse_loss(model(xx), y).backward()
    for a, p in zip(compiled_grads, model.parameters()):
        np.testing.assert_allclose(a, p.grad.numpy(), rtol=1e-5, atol=1e-7)
    assert isinstance(cmodel[0], nn.Linear) and cmodel.training


def test_guards_retrace_on_new_shapes_and_modes_but_not_on_lr():
    xx, y = _data()
    model, opt = _setup(dj.optim.SGD, lr=1e-3)

    def step(xx, y):
        loss = nn.functional.mse_loss(model(xx), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    run = dj.compile(step)
    _train(run, xx, y, 3)
    opt.param_groups[0]["lr"] = 0.0  # an input of the program: no retrace, and it takes effect
    before = [p.detach().numpy().copy() for p in model.parameters()]
    run(xx, y)
    for a, p in zip(before, model.parameters()):
        np.testing.assert_array_equal(a, p.detach().numpy())
    assert len(run._programs) == 1
    _train(run, xx[:50], y[:50], 3)
    model.eval()
    _train(run, xx, y, 3)
    assert len(run._programs) == 3


def test_untraceable_calls_fall_back_to_eager_with_a_logged_reason(caplog):
    xx, y = _data()
    model, opt = _setup()

    def step(xx, y):
        loss = nn.functional.mse_loss(model(xx), y)
        if loss > 1e9:  # a Python decision on a value: not traceable
            raise AssertionError
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    run = dj.compile(step)
    with caplog.at_level(logging.WARNING, logger="dualjit.compile"):
        losses = [run(xx, y) for _ in range(4)]
    assert losses[-1] < losses[0]
    assert "runs eagerly" in caplog.text and "ConcretizationError" in caplog.text


def test_dropout_masks_are_drawn_at_every_compiled_call():
    drop = nn.Sequential(nn.Dropout(0.5))
    run = dj.compile(drop)
    x = dj.ones(64)
    outs = [run(x).numpy().copy() for _ in range(4)]
    assert len(run._forward._programs) == 1
    assert not np.array_equal(outs[2], outs[3])
    assert set(np.unique(outs[3])) <= {0.0, 2.0}


def test_batch_norm_running_statistics_update_in_compiled_forward():
    bn = nn.BatchNorm1d(2)
    run = dj.compile(bn)
    x = dj.tensor(np.arange(12.0, dtype=np.float32).reshape(6, 2))
    for _ in range(3):
        run(x)
    expected = 0.0
    for _ in range(3):
        expected = 0.9 * expected + 0.1 * x.numpy().mean(0)
    np.testing.assert_allclose(bn.running_mean.numpy(), expected, rtol=1e-6)
    assert bn.num_batches_tracked.item() == 3


def test_max_with_dim_and_argmax_compile_and_match_eager():
    from dualjit.compiler import _EAGER

    x0 = np.array([[1.0, 5.0, 5.0, -2.0], [3.0, 2.0, 3.0, 0.5], [np.nan, 1.0, 9.0, 9.0]])

    def f(x):
        values, indices = x.max(1)
        low = dj.min(x, dim=0, keepdim=True)
        agree = (x.argmax(1) == indices).sum() + x.argmin(0)
        return values * 2 + low.values.sum(), indices, low.indices, agree

    run = dj.compile(f)
    x = dj.tensor(x0, requires_grad=True)
    for _ in range(3):
        outs = run(x)
    assert len(run._programs) == 1 and next(iter(run._programs.values())) is not _EAGER
    expected = f(dj.tensor(x0))
    for got, want in zip(outs, expected):
        np.testing.assert_array_equal(got.detach().numpy(), want.numpy())
    np.testing.assert_array_equal(outs[1].numpy(), [1, 0, 0])  # first of ties; NaN is the max
    outs[0][1:].sum().backward()  # rows 1, 2: all of the gradient to the chosen element
    expected_grad = np.zeros_like(x0)
    expected_grad[[1, 2], [0, 0]] = 2.0
    expected_grad[np.argmin(x0, 0), np.arange(4)] += 2.0  # low.values.sum(); NaN is the min too
    np.testing.assert_array_equal(x.grad.numpy(), expected_grad)


def test_first_call_compiles_nothing_and_the_second_runs_the_program(monkeypatch):
    from dualjit.codegen import runtime

    compiled = []
    original_init = runtime.CompiledFunction.__init__

    def counting_init(self, fn, *args, **kwargs):
        compiled.append(fn)
        original_init(self, fn, *args, **kwargs)

    xx, y = _data()
    model, opt = _setup(dj.optim.Adam, lr=0.01)

    def step(xx, y):
        loss = nn.functional.mse_loss(model(xx), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    run = dj.compile(step)
    with runtime._cache_lock:  # forget reusable code so that the second call must compile
        runtime._live.clear()
        runtime._recent.clear()
    monkeypatch.setattr(runtime.CompiledFunction, "__init__", counting_init)
    run(xx, y)  # eager, creating Adam's state; its backward and update are not compiled
    assert compiled == [] and not run._programs
    run(xx, y)
    assert len(run._programs) == 1 and len(compiled) == 1

