"""dj.compile's guards between calls: every change a program's key covers, made between two
compiled calls, gives the numbers the same code gives eagerly (no stale program, no stale
state), whether the change goes through the Module/Optimizer API or straight into their
registries; and unchanged steps are recognized without walking the state again."""

import math

import numpy as np
import pytest

import dualjit as dj
import dualjit.nn as nn
from dualjit import compiler

STEP = "step"


def _data(n=48, dtype=np.float32):
    x = np.linspace(-math.pi, math.pi, n).astype(dtype)
    xx = np.stack([x, x**2, x**3], 1)
    return dj.tensor(xx), dj.tensor(np.sin(x))


def _fixed(*shape, scale=0.1, offset=0.0):
    """Values that do not come from the random generator (both runs make the same ones)."""
    count = math.prod(shape)
    return (np.cos(np.arange(count, dtype=np.float32) * 1.7 + offset) * scale).reshape(shape)


def _model():
    dj.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1), nn.Flatten(0, 1))


def _sgd(model):
    return dj.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)


def _snapshot(model, opt):
    """Every value the two runs must agree on: parameters, buffers and their grads, the
    optimizer's parameters, grads and state."""
    out = {}
    for name, p in model.named_parameters():
        out["param " + name] = p.detach().numpy().copy()
        out["grad " + name] = None if p.grad is None else p.grad.numpy().copy()
    for name, b in model.named_buffers():
        out["buffer " + name] = b.numpy().copy()
    for g, group in enumerate(opt.param_groups):
        for i, p in enumerate(group["params"]):
            out[f"opt param {g}.{i}"] = p.detach().numpy().copy()
            out[f"opt grad {g}.{i}"] = None if p.grad is None else p.grad.numpy().copy()
            for k, v in sorted(opt.state.get(p, {}).items()):
                out[f"opt state {g}.{i} {k}"] = v.numpy().copy()
    return out


def _play(actions, compiled, make_model=_model, make_opt=_sgd, data=None, zero_grad=True):
    """Run `actions` (STEP, or a callable(model, opt, xx, y) -> data or None) against a fresh
    model and optimizer, with the training step compiled or not. Returns each step's loss,
    the final snapshot and the compiled callable."""
    model = make_model()
    opt = make_opt(model)
    xx, y = data or _data()

    def step(xx, y):
        loss = nn.functional.mse_loss(model(xx), y)
        if zero_grad:
            opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    run = dj.compile(step) if compiled else step
    losses = []
    for action in actions:
        if action == STEP:
            losses.append(run(xx, y).item())
        else:
            changed = action(model, opt, xx, y)
            if changed is not None:
                xx, y = changed
    return losses, _snapshot(model, opt), run


def _agree(actions, fallback=False, **kwargs):
    """The compiled run gives the eager run's losses and final state; returns the compiled
    callable (it must have compiled at least one program and, unless `fallback`, never
    fallen back to eager)."""
    eager_losses, eager_state, _ = _play(actions, False, **kwargs)
    losses, state, run = _play(actions, True, **kwargs)
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-4, atol=1e-5)
    assert state.keys() == eager_state.keys()
    for name, want in eager_state.items():
        got = state[name]
        assert (got is None) == (want is None), name
        if want is not None:
            assert got.dtype == want.dtype and got.shape == want.shape, name
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=name)
    programs = list(run._programs.values())
    assert any(p is not compiler._EAGER for p in programs)
    assert fallback or compiler._EAGER not in programs
    return run


def _around(change, before=3, after=4):
    """Steps before the change, the change, steps after it (enough that the new key is
    warmed up, traced and then admitted by the guard)."""
    return [STEP] * before + [change] + [STEP] * after


# -- the state reached: tensors replaced or changed ---------------------------------------------

def test_a_parameter_replaced_by_attribute_assignment_is_the_one_used():
    def replace(model, opt, xx, y):
        # the optimizer still holds (and updates) the old weight; the model uses the new one
        model[0].weight = nn.Parameter(dj.tensor(_fixed(8, 3)))
    _agree(_around(replace))


def test_a_parameter_whose_data_is_replaced_reads_and_updates_the_new_storage():
    kept = {}

    def replace(model, opt, xx, y):
        kept["old"] = model[2].weight.detach().numpy()  # the storage before the change
        kept["before"] = kept["old"].copy()
        model[2].weight.data = dj.tensor(_fixed(1, 8, offset=1.0))
    _agree(_around(replace))
    # neither run wrote into the replaced storage after the change (the compiled run is
    # the second: `kept` holds its arrays)
    np.testing.assert_array_equal(kept["old"], kept["before"])


def test_a_parameter_with_a_new_shape_retraces():
    def widen(model, opt, xx, y):
        model[0].weight.data = dj.tensor(_fixed(8, 4))
        return dj.cat([xx, xx[:, :1] * 0.5], 1), y
    _agree(_around(widen), make_opt=lambda model: dj.optim.SGD(model.parameters(), lr=1e-2))


def test_a_parameter_with_a_new_dtype_retraces():
    def widen(model, opt, xx, y):
        for p in model.parameters():
            p.data = p.detach().double()
        return xx.double(), y.double()
    _agree(_around(widen), make_opt=lambda model: dj.optim.SGD(model.parameters(), lr=1e-2))


def test_requires_grad_switched_off_and_on_freezes_a_parameter_meanwhile():
    def freeze(model, opt, xx, y):
        model[0].weight.requires_grad_(False)
        model[0].weight.grad = None

    def thaw(model, opt, xx, y):
        model[0].weight.requires_grad_(True)
    _agree([STEP] * 3 + [freeze] + [STEP] * 4 + [thaw] + [STEP] * 4)


def test_gradients_present_or_absent_at_the_call_follow_eager():
    # the step accumulates (no zero_grad inside); between calls the grads are sometimes
    # cleared, sometimes kept, sometimes one of them alone is cleared
    def clear(model, opt, xx, y):
        opt.zero_grad()

    def clear_one(model, opt, xx, y):
        model[2].bias.grad = None
    actions = [STEP, STEP, clear, STEP, STEP, STEP, clear, STEP, clear_one, STEP, STEP, STEP,
               clear, STEP, STEP, clear, STEP]
    _agree(actions, zero_grad=False)


# -- modules: flags, registries ---------------------------------------------------------------

def _normed():
    dj.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 1),
                         nn.Flatten(0, 1))


def test_training_flags_of_the_model_and_of_one_submodule():
    def evaluate(model, opt, xx, y):
        model.eval()

    def train(model, opt, xx, y):
        model.train()

    def norm_alone(model, opt, xx, y):
        model[1].eval()
    actions = _around(evaluate) + [train] + [STEP] * 4 + [norm_alone] + [STEP] * 4
    _agree(actions, make_model=_normed)


def test_submodules_added_replaced_and_removed_through_the_api():
    def append(model, opt, xx, y):
        model.append(nn.Tanh())

    def replace(model, opt, xx, y):
        model[1] = nn.ReLU()

    def remove(model, opt, xx, y):
        del model[-1]
    _agree(_around(append) + [replace] + [STEP] * 4 + [remove] + [STEP] * 4)


def test_a_submodule_replaced_straight_in_the_registry():
    def replace(model, opt, xx, y):
        model._modules["1"] = nn.Sigmoid()  # (no Module method sees this)
    _agree(_around(replace))


def test_a_parameter_replaced_straight_in_the_registry():
    def replace(model, opt, xx, y):
        model[2]._parameters["bias"] = nn.Parameter(dj.tensor(_fixed(1, offset=2.0)))
    _agree(_around(replace))


class _Shifted(nn.Module):
    """A linear layer plus each of its buffers (a Python loop over the registry)."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, x):
        out = self.linear(x).flatten()
        for b in self._buffers.values():
            out = out + b
        for p in self._parameters.values():
            out = out * p
        return out


def test_buffers_and_parameters_added_replaced_and_removed():
    def add_buffer(model, opt, xx, y):
        model.register_buffer("shift", dj.tensor(0.25))

    def replace_buffer(model, opt, xx, y):
        model.shift = dj.tensor(-0.5)

    def add_parameter(model, opt, xx, y):
        model.scale = nn.Parameter(dj.tensor(1.5))

    def remove_buffer(model, opt, xx, y):
        del model.shift

    def model():
        dj.manual_seed(0)
        return _Shifted()
    actions = (_around(add_buffer) + [replace_buffer] + [STEP] * 4 + [add_parameter]
               + [STEP] * 4 + [remove_buffer] + [STEP] * 4)
    _agree(actions, make_model=model,
           make_opt=lambda model: dj.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9))


# -- optimizers ----------------------------------------------------------------------------------

def test_structural_options_and_the_learning_rate():
    def no_momentum(model, opt, xx, y):  # (its first step drops the momentum buffer: a
        opt.param_groups[0]["momentum"] = 0.0  # step that changes state runs eagerly)

    def decay(model, opt, xx, y):
        opt.param_groups[0]["weight_decay"] = 0.1
        opt.param_groups[0]["momentum"] = 0.5

    def rate(model, opt, xx, y):  # (an input of the program: no retrace needed)
        opt.param_groups[0]["lr"] = 0.05
    actions = (_around(no_momentum) + [decay] + [STEP] * 4 + [rate] + [STEP] * 3)
    _agree(actions, fallback=True)


def test_a_parameter_group_added():
    def add_group(model, opt, xx, y):
        frozen = list(model[2].parameters())
        opt.param_groups[0]["params"] = list(model[0].parameters())
        opt.add_param_group({"params": frozen, "lr": 0.05})

    def make_opt(model):  # the last layer trained from the change on
        return dj.optim.Adam(model[0].parameters(), lr=1e-2)
    _agree(_around(add_group), make_opt=make_opt)


def test_optimizer_state_replaced_by_assignment_cleared_and_loaded():
    saved = {}

    def save(model, opt, xx, y):
        saved["state"] = opt.state_dict()

    def assign(model, opt, xx, y):
        p = model[0].weight
        opt.state[p] = {"momentum_buffer": dj.tensor(_fixed(8, 3, scale=0.3))}

    def clear(model, opt, xx, y):
        opt.state.clear()

    def load(model, opt, xx, y):
        opt.load_state_dict(saved["state"])
    actions = ([STEP] * 3 + [save] + _around(assign, 0) + [clear] + [STEP] * 4 + [load]
               + [STEP] * 4)
    _agree(actions)


def test_adam_state_counts_and_amsgrad():
    def amsgrad(model, opt, xx, y):
        opt.param_groups[0]["amsgrad"] = True
        for p in opt.param_groups[0]["params"]:
            opt.state[p]["max_exp_avg_sq"] = dj.zeros_like(p)

    def make_opt(model):
        return dj.optim.Adam(model.parameters(), lr=1e-2)
    _agree(_around(amsgrad), make_opt=make_opt)


# -- what the function reaches, arguments, grad mode --------------------------------------------

def test_closure_and_global_names_rebound_to_new_objects():
    global _global_scale
    losses = {}
    for compiled in (False, True):
        _global_scale = dj.tensor(1.0)
        model = _model()
        opt = _sgd(model)
        xx, y = _data()

        def step(xx, y):
            loss = nn.functional.mse_loss(model(xx) * _global_scale, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        run = dj.compile(step) if compiled else step
        out = [run(xx, y).item() for _ in range(3)]
        _global_scale = dj.tensor(0.5)  # another tensor under the global name
        out += [run(xx, y).item() for _ in range(3)]
        model = _model()[:2].append(nn.Linear(8, 1)).append(nn.Flatten(0, 1))
        model[2].weight.data = dj.tensor(_fixed(1, 8, offset=3.0))
        opt = _sgd(model)  # a new model and optimizer under the closure's names
        out += [run(xx, y).item() for _ in range(4)]
        losses[compiled] = out
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-4, atol=1e-5)


_global_scale = None


def _squash(x):
    return dj.tanh(x) * 2.0 + (x * x).sum()


@pytest.mark.parametrize("change", ["dtype", "shape", "requires_grad"])
def test_arguments_with_another_dtype_shape_or_requires_grad(change):
    run = dj.compile(_squash)
    base = _fixed(5, 2, scale=1.0)
    x = dj.tensor(base)
    for _ in range(3):
        np.testing.assert_allclose(run(x).numpy(), _squash(x).numpy(), rtol=1e-6)
    if change == "dtype":
        x = dj.tensor(base.astype(np.float64))
    elif change == "shape":
        x = dj.tensor(_fixed(3, 4, scale=1.0))
    else:
        x = dj.tensor(base, requires_grad=True)
    for _ in range(3):
        out = run(x)
        want = _squash(x)
        assert out.dtype == want.dtype and out.shape == want.shape
        np.testing.assert_allclose(out.detach().numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-7)
    if change == "requires_grad":
        out.sum().backward()
        # d/dx [2 tanh(x) + sum(x^2)] summed over the outputs: 2 (1 - tanh^2) + 2 x * size
        expected = 2 * (1 - np.tanh(base) ** 2) + 2 * base * base.size
        np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-5)


def test_grad_mode_switched_between_calls_of_a_compiled_forward():
    model = _model()
    run = dj.compile(model)
    xx, y = _data()
    for mode in (True, False, True, False, True):
        with dj.set_grad_enabled(mode):
            outs = [run(xx) for _ in range(3)]
            want = model(xx)
        for out in outs:
            np.testing.assert_allclose(out.detach().numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-7)
            assert (out.grad_fn is not None) == mode
    model.zero_grad()
    nn.functional.mse_loss(outs[-1], y).backward()
    compiled_grad = model[0].weight.grad.numpy().copy()
    model.zero_grad()
    nn.functional.mse_loss(model(xx), y).backward()
    np.testing.assert_allclose(compiled_grad, model[0].weight.grad.numpy(), rtol=1e-5,
                               atol=1e-7)


# -- stores: what may take a new array and what must be written into ---------------------------

def test_an_argument_copied_into_a_buffer_is_not_shared_with_it():
    class Remember(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("last", dj.zeros(4))

        def forward(self, x):
            with dj.no_grad():
                self.last.copy_(x)
            return x * 2.0
    for compiled in (False, True):
        m = Remember()
        run = dj.compile(m) if compiled else m
        x = dj.tensor(_fixed(4))
        for _ in range(4):
            run(x)
        x.add_(1.0)  # in place, after the calls: the buffer holds its own copy
        np.testing.assert_allclose(m.last.numpy(), _fixed(4), rtol=1e-6)


def _compiled_mse_step(model, opt):
    def step(xx, y):
        loss = nn.functional.mse_loss(model(xx), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return dj.compile(step)


def test_steady_calls_are_recognized_without_walking_the_state(monkeypatch):
    walks = []
    original = compiler._State.__init__

    def counting(self, objects):
        walks.append(1)
        original(self, objects)
    model = _model()
    xx, y = _data()
    run = _compiled_mse_step(model, _sgd(model))
    for _ in range(3):
        run(xx, y)
    monkeypatch.setattr(compiler._State, "__init__", counting)
    for _ in range(5):
        run(xx, y)
    assert walks == []
    model.eval()  # (a change: the full key is computed again)
    run(xx, y)
    assert walks


def test_state_nothing_else_holds_takes_the_new_arrays_and_seen_state_is_written_into():
    import weakref

    model = _model()
    opt = _sgd(model)
    xx, y = _data()
    run = _compiled_mse_step(model, opt)
    for _ in range(3):
        run(xx, y)
    weight, bias = model[0].weight, model[0].bias
    seen = bias.detach().numpy()  # a NumPy array sharing the bias's storage
    old_weight = weakref.ref(weight._value)
    old_momentum = weakref.ref(opt.state[weight]["momentum_buffer"]._value)
    run(xx, y)
    # nothing else held the weight's or its momentum's arrays: the program's new arrays
    # were taken (the old ones are gone), not copied; the bias's storage was written into
    assert old_weight() is None and old_momentum() is None
    assert bias._value is seen
    eager_model = _model()
    eager_opt = _sgd(eager_model)
    for _ in range(4):
        loss = nn.functional.mse_loss(eager_model(xx), y)
        eager_opt.zero_grad()
        loss.backward()
        eager_opt.step()
    np.testing.assert_allclose(seen, eager_model[0].bias.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(weight.detach().numpy(), eager_model[0].weight.detach().numpy(),
                               rtol=1e-4, atol=1e-5)
