"""dj.optim against PyTorch's documented update rules, written out here in NumPy; schedulers
against their closed forms; optimizer and checkpoint state round trips (dj.save / dj.load)."""

import io
import math

import numpy as np
import pytest

import dualjit as dj
import dualjit.nn as nn

A = np.array([1.0, 2.0, 0.5])
B = np.array([-1.0, 0.5, 2.0])
P0 = np.array([0.3, -1.2, 2.0])
STEPS = 6


def gradient(p):
    """The gradient of f(p) = sum(A p² / 2 + B p), the loss the tests optimize."""
    return A * p + B


def run(optimizer_class, steps=STEPS, **kwargs):
    p = nn.Parameter(dj.tensor(P0.copy()))
    opt = optimizer_class([p], **kwargs)
    path = []
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * dj.tensor(A) * p * p + dj.tensor(B) * p).sum().backward()
        opt.step()
        path.append(p.detach().numpy().copy())
    return np.array(path), opt


# Each reference follows the algorithm box of PyTorch's documentation for the optimizer.

def sgd_reference(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                  maximize=False):
    p, b, path = P0.copy(), None, []
    for t in range(1, STEPS + 1):
        g = gradient(p)
        if weight_decay:
            g = g + weight_decay * p
        if momentum:
            b = g if t == 1 else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        p = p + lr * g if maximize else p - lr * g
        path.append(p.copy())
    return np.array(path)


def adam_reference(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                   decoupled=False):
    b1, b2 = betas
    p, m, v, v_max, path = P0.copy(), 0.0, 0.0, 0.0, []
    for t in range(1, STEPS + 1):
        g = gradient(p)
        if weight_decay and decoupled:
            p = p * (1 - lr * weight_decay)
        elif weight_decay:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1 ** t)
        if amsgrad:
            v_max = np.maximum(v_max, v)
            v_hat = v_max / (1 - b2 ** t)
        else:
            v_hat = v / (1 - b2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        path.append(p.copy())
    return np.array(path)


def rmsprop_reference(lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                      centered=False):
    p, v, b, g_avg, path = P0.copy(), 0.0, 0.0, 0.0, []
    for _ in range(STEPS):
        g = gradient(p)
        if weight_decay:
            g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        v_tilde = v
        if centered:
            g_avg = alpha * g_avg + (1 - alpha) * g
            v_tilde = v - g_avg * g_avg
        if momentum > 0:
            b = momentum * b + g / (np.sqrt(v_tilde) + eps)
            p = p - lr * b
        else:
            p = p - lr * g / (np.sqrt(v_tilde) + eps)
        path.append(p.copy())
    return np.array(path)


def adagrad_reference(lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                      eps=1e-10):
    p, s, path = P0.copy(), initial_accumulator_value, []
    for t in range(1, STEPS + 1):
        g = gradient(p)
        if weight_decay:
            g = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g
        p = p - clr * g / (np.sqrt(s) + eps)
        path.append(p.copy())
    return np.array(path)


CASES = [
    (dj.optim.SGD, sgd_reference, dict(lr=0.1)),
    (dj.optim.SGD, sgd_reference, dict(lr=0.1, momentum=0.9)),
    (dj.optim.SGD, sgd_reference, dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.1)),
    (dj.optim.SGD, sgd_reference, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01)),
    (dj.optim.SGD, sgd_reference, dict(lr=0.05, maximize=True)),
    (dj.optim.Adam, adam_reference, dict(lr=0.1)),
    (dj.optim.Adam, adam_reference, dict(lr=0.1, betas=(0.8, 0.9), weight_decay=0.1)),
    (dj.optim.Adam, adam_reference, dict(lr=0.1, amsgrad=True)),
    (dj.optim.RMSprop, rmsprop_reference, dict(lr=0.01)),
    (dj.optim.RMSprop, rmsprop_reference, dict(lr=0.01, momentum=0.9, centered=True,
                                               weight_decay=0.1)),
    (dj.optim.Adagrad, adagrad_reference, dict(lr=0.3)),
    (dj.optim.Adagrad, adagrad_reference, dict(lr=0.3, lr_decay=0.1, weight_decay=0.2,
                                               initial_accumulator_value=0.5)),
]


@pytest.mark.parametrize("optimizer, reference, kwargs", CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_trajectory_matches_the_documented_update(optimizer, reference, kwargs):
    path, _ = run(optimizer, **kwargs)
    np.testing.assert_allclose(path, reference(**kwargs), rtol=1e-12, atol=1e-14)


def test_adamw_decouples_weight_decay():
    path, _ = run(dj.optim.AdamW, lr=0.1, weight_decay=0.5)
    np.testing.assert_allclose(path, adam_reference(0.1, weight_decay=0.5, decoupled=True),
                               rtol=1e-12)


def test_parameter_groups_have_their_own_hyperparameters():
    a = nn.Parameter(dj.tensor([1.0, 1.0], dtype=dj.float64))
    b = nn.Parameter(dj.tensor([1.0], dtype=dj.float64))
    opt = dj.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.0)
    (a.sum() + b.sum()).backward()
    opt.step()
    np.testing.assert_allclose(a.detach().numpy(), [0.9, 0.9])
    np.testing.assert_allclose(b.detach().numpy(), [0.5])
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[0]["lr"] == 0.1
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})


def test_step_updates_in_place_and_skips_parameters_without_grad():
    a = nn.Parameter(dj.tensor([1.0, 2.0]))
    b = nn.Parameter(dj.tensor([3.0]))
    alias = a.detach()
    opt = dj.optim.SGD([a, b], lr=1.0)
    a.sum().backward()
    version = a._version
    opt.step()
    np.testing.assert_array_equal(alias.numpy(), [0.0, 1.0])  # same storage
    assert a._version == version + 1
    np.testing.assert_array_equal(b.detach().numpy(), [3.0])
    opt.zero_grad()
    assert a.grad is None


def test_changing_lr_does_not_recompile_and_takes_effect():
    p = nn.Parameter(dj.tensor([1.0]))
    opt = dj.optim.SGD([p], lr=0.1)
    for lr in (0.1, 0.2, 0.4):
        opt.param_groups[0]["lr"] = lr
        opt.zero_grad()
        p.sum().backward()
        opt.step()
    np.testing.assert_allclose(p.detach().numpy(), [0.3], rtol=1e-6)
    assert len(opt._kernels) == 1


def sgd_steps_with_changes(change_at, change, steps=STEPS, **kwargs):
    """SGD on the test loss, calling change(opt, p) before step number change_at."""
    p = nn.Parameter(dj.tensor(P0.copy()))
    opt = dj.optim.SGD([p], **kwargs)
    for t in range(steps):
        opt.zero_grad()
        (0.5 * dj.tensor(A) * p * p + dj.tensor(B) * p).sum().backward()
        if t == change_at:
            change(opt, p)
        opt.step()
    return p.detach().numpy(), opt


def test_a_step_after_a_changed_structural_option_follows_the_new_update():
    """A group's step reuses what the last step found (its plan) only while nothing it
    depends on changed: turning nesterov on mid-run takes the nesterov update from then on."""
    def nesterov_on(opt, p):
        opt.param_groups[0]["nesterov"] = True

    got, _ = sgd_steps_with_changes(3, nesterov_on, lr=0.05, momentum=0.9)
    p, b = P0.copy(), None
    for t in range(STEPS):
        g = gradient(p)
        b = g if t == 0 else 0.9 * b + g
        p = p - 0.05 * (g + 0.9 * b if t >= 3 else b)
    np.testing.assert_allclose(got, p, rtol=1e-12)


def test_a_step_reads_state_replaced_by_the_user_or_by_load_state_dict():
    """A momentum buffer the user put in opt.state, or that load_state_dict brought, is the
    one the next step reads (not the buffer the previous step left)."""
    def new_buffer(opt, p):
        opt.state[p]["momentum_buffer"] = dj.tensor(np.full(3, 2.0))

    def loaded(opt, p):
        sd = opt.state_dict()
        sd["state"][0]["momentum_buffer"] = dj.tensor(np.full(3, 2.0))
        opt.load_state_dict(sd)

    for change in (new_buffer, loaded):
        got, _ = sgd_steps_with_changes(3, change, lr=0.05, momentum=0.9)
        p, b = P0.copy(), None
        for t in range(STEPS):
            g = gradient(p)
            b = g if t == 0 else 0.9 * (np.full(3, 2.0) if t == 3 else b) + g
            p = p - 0.05 * b
        np.testing.assert_allclose(got, p, rtol=1e-12, err_msg=change.__name__)


def test_a_parameter_without_grad_for_one_step_is_skipped_then_updated_again():
    a = nn.Parameter(dj.tensor([1.0, 2.0], dtype=dj.float64))
    b = nn.Parameter(dj.tensor([3.0], dtype=dj.float64))
    opt = dj.optim.SGD([a, b], lr=0.5, momentum=0.5)
    expected_a, expected_b, buf_a, buf_b = np.array([1.0, 2.0]), np.array([3.0]), None, None
    for t in range(5):
        opt.zero_grad()
        loss = (a * a).sum() + (b.sum() if t != 2 else 0.0 * a.sum())
        loss.backward()
        if t == 2:
            b.grad = None  # (b takes no part in this step)
        opt.step()
        g_a = 2 * expected_a
        buf_a = g_a if buf_a is None else 0.5 * buf_a + g_a
        expected_a = expected_a - 0.5 * buf_a
        if t != 2:
            g_b = np.ones(1)
            buf_b = g_b if buf_b is None else 0.5 * buf_b + g_b
            expected_b = expected_b - 0.5 * buf_b
        np.testing.assert_allclose(a.detach().numpy(), expected_a, rtol=1e-12)
        np.testing.assert_allclose(b.detach().numpy(), expected_b, rtol=1e-12)


def test_a_group_gaining_a_parameter_updates_it_too():
    a = nn.Parameter(dj.tensor([1.0], dtype=dj.float64))
    b = nn.Parameter(dj.tensor([1.0], dtype=dj.float64))
    opt = dj.optim.SGD([a], lr=0.25)
    for _ in range(2):
        opt.zero_grad()
        (a.sum() + b.sum()).backward()
        opt.step()
    opt.param_groups[0]["params"].append(b)
    opt.zero_grad()
    b.grad = None
    (a.sum() + b.sum()).backward()
    opt.step()
    np.testing.assert_allclose(a.detach().numpy(), [0.25])
    np.testing.assert_allclose(b.detach().numpy(), [0.75])


def test_optimizer_state_dict_round_trip_continues_the_same_trajectory():
    path, opt = run(dj.optim.Adam, steps=3, lr=0.1)
    sd = opt.state_dict()
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert sd["state"][0]["step"].item() == 3 and sd["param_groups"][0]["params"] == [0]
    buffer = io.BytesIO()
    dj.save(sd, buffer)
    buffer.seek(0)
    loaded = dj.load(buffer)
    p = nn.Parameter(dj.tensor(path[-1].copy()))
    opt2 = dj.optim.Adam([p], lr=0.1)
    opt2.load_state_dict(loaded)
    for _ in range(STEPS - 3):
        opt2.zero_grad()
        (0.5 * dj.tensor(A) * p * p + dj.tensor(B) * p).sum().backward()
        opt2.step()
    np.testing.assert_allclose(p.detach().numpy(), adam_reference(0.1)[-1], rtol=1e-12)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_state_has_pytorchs_layout(momentum):
    """PyTorch's SGD keeps no step count: its state is the momentum buffer, made by the first
    step (none without momentum), so its state_dict has no other entry."""
    p = nn.Parameter(dj.tensor(P0.copy()))
    opt = dj.optim.SGD([p], lr=0.1, momentum=momentum)
    assert opt.state_dict()["state"] == {}
    for _ in range(2):
        opt.zero_grad()
        (0.5 * dj.tensor(A) * p * p + dj.tensor(B) * p).sum().backward()
        opt.step()
    state = opt.state_dict()["state"]
    assert state == {} if not momentum else set(state[0]) == {"momentum_buffer"}


@pytest.mark.parametrize("with_step", [False, True])
def test_sgd_loads_pytorch_and_older_state_dicts_and_continues_the_trajectory(with_step):
    """A state dict of PyTorch's SGD layout (momentum buffers only), or of dualjit's older one
    (with a step count), continues the documented trajectory."""
    kwargs = dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.1)
    path, opt = run(dj.optim.SGD, steps=3, **kwargs)
    sd = opt.state_dict()
    state = {0: {"momentum_buffer": sd["state"][0]["momentum_buffer"]}}
    if with_step:
        state[0]["step"] = dj.tensor(3.0)
    p = nn.Parameter(dj.tensor(path[-1].copy()))
    opt2 = dj.optim.SGD([p], **kwargs)
    opt2.load_state_dict({"state": state, "param_groups": sd["param_groups"]})
    for _ in range(STEPS - 3):
        opt2.zero_grad()
        (0.5 * dj.tensor(A) * p * p + dj.tensor(B) * p).sum().backward()
        opt2.step()
    np.testing.assert_allclose(p.detach().numpy(), sgd_reference(**kwargs)[-1], rtol=1e-12)
    assert set(opt2.state_dict()["state"][0]) == {"momentum_buffer"}


def test_the_step_that_creates_sgd_state_is_not_compiled():
    """SGD's first step (it makes the momentum buffers) runs op by op; the steps after it
    share one compiled kernel."""
    path, opt = run(dj.optim.SGD, steps=1, lr=0.1, momentum=0.9)
    (first,) = opt._kernels.values()
    assert not first[0]._cache  # (jit's compiled specializations)
    path, opt = run(dj.optim.SGD, steps=4, lr=0.1, momentum=0.9)
    compiled = [kernel for kernel, _ in opt._kernels.values() if kernel._cache]
    assert len(opt._kernels) == 2 and len(compiled) == 1
    np.testing.assert_allclose(path, sgd_reference(lr=0.1, momentum=0.9)[:4], rtol=1e-12)


@pytest.mark.parametrize("native", [True, False])
def test_sgd_first_buffer_does_not_alias_the_gradient(native):
    """The first momentum buffer equals the gradient; zeroing the gradient in place afterwards
    (zero_grad(set_to_none=False)) must leave it alone, also on the op-by-op path that
    dj.compile's first call takes."""
    from dualjit.eager.tensor import native_steps

    p = nn.Parameter(dj.tensor(P0.copy()))
    opt = dj.optim.SGD([p], lr=0.1, momentum=0.9)
    (0.5 * dj.tensor(A) * p * p + dj.tensor(B) * p).sum().backward()
    previous, native_steps.enabled = native_steps.enabled, native
    try:
        opt.step()
    finally:
        native_steps.enabled = previous
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.numpy(), 0.0)
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"].numpy(), gradient(P0),
                               rtol=1e-15)


# -- schedulers -----------------------------------------------------------------------------------

def _lrs(scheduler_class, epochs=8, **kwargs):
    opt = dj.optim.SGD([nn.Parameter(dj.zeros(1))], lr=0.5)
    sched = scheduler_class(opt, **kwargs)
    lrs = []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert sched.get_last_lr() == [opt.param_groups[0]["lr"]]
    return lrs


def test_schedulers_follow_their_closed_forms():
    S = dj.optim.lr_scheduler
    np.testing.assert_allclose(_lrs(S.StepLR, step_size=3, gamma=0.5),
                               [0.5 * 0.5 ** (e // 3) for e in range(8)])
    np.testing.assert_allclose(_lrs(S.ExponentialLR, gamma=0.9), [0.5 * 0.9 ** e for e in range(8)])
    np.testing.assert_allclose(_lrs(S.CosineAnnealingLR, T_max=5, eta_min=0.1),
                               [0.1 + 0.4 * (1 + math.cos(math.pi * e / 5)) / 2 for e in range(8)])
    np.testing.assert_allclose(_lrs(S.LambdaLR, lr_lambda=lambda e: 1 / (e + 1)),
                               [0.5 / (e + 1) for e in range(8)])
    np.testing.assert_allclose(_lrs(S.MultiStepLR, milestones=[2, 5], gamma=0.1),
                               [0.5, 0.5, 0.05, 0.05, 0.05, 0.005, 0.005, 0.005])


# -- checkpoints ----------------------------------------------------------------------------------

def test_save_and_load_nested_checkpoint(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    w = model[0].weight
    checkpoint = {"model": model.state_dict(), "epoch": 7, "name": "run-1", "loss": float("nan"),
                  "history": [1.5, 2.5], "pair": (1, "a"), "ids": {3: "three"},
                  "array": np.arange(4, dtype=np.int32), "param": w, "again": w,
                  "dtype": dj.float64}
    path = tmp_path / "ckpt.pt"
    dj.save(checkpoint, path)
    assert path.exists() and not (tmp_path / "ckpt.pt.zip").exists()
    loaded = dj.load(path, map_location="cpu")
    assert loaded["epoch"] == 7 and loaded["name"] == "run-1" and math.isnan(loaded["loss"])
    assert loaded["history"] == [1.5, 2.5] and loaded["pair"] == (1, "a")
    assert loaded["ids"] == {3: "three"} and loaded["dtype"] == dj.float64
    assert loaded["array"].dtype == np.int32
    assert isinstance(loaded["param"], nn.Parameter) and loaded["param"] is loaded["again"]
    assert list(loaded["model"]) == list(model.state_dict())
    fresh = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    fresh.load_state_dict(loaded["model"])
    for a, b in zip(fresh.state_dict().values(), model.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_load_refuses_pickles_and_foreign_files(tmp_path):
    import pickle

    path = tmp_path / "pickle.pt"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(RuntimeError, match="not a dualjit checkpoint"):
        dj.load(path)
    with pytest.raises(TypeError, match="save model.state_dict"):
        dj.save(nn.Linear(1, 1), io.BytesIO())
