"""dj.compile's state handling: parameters updated in place as PyTorch's (views, NumPy arrays
and saved tensors see it), guards on which tensors and which modules' modes a program was
traced with. Each compiled run is compared with the same code run eagerly."""

import math

import numpy as np
import pytest

import dualjit as dj
import dualjit.nn as nn


def _data(n=64):
    x = dj.linspace(-math.pi, math.pi, n)
    return x.unsqueeze(-1).pow(dj.tensor([1, 2, 3])), dj.sin(x)


def _setup(seed=0):
    dj.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1), nn.Flatten(0, 1))
    return model, dj.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)


def _step_of(model, opt):
    def step(xx, y):
        loss = nn.functional.mse_loss(model(xx), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return step


def _eager_weights(seed, steps, xx, y):
    model, opt = _setup(seed)
    step = _step_of(model, opt)
    for _ in range(steps):
        step(xx, y)
    return [p.detach().numpy().copy() for p in model.parameters()]


def test_compiled_updates_are_seen_through_numpy_arrays_and_views():
    xx, y = _data()
    model, opt = _setup()
    weight = model[0].weight
    shared = weight.numpy()  # shares the parameter's storage
    row = weight.detach()[1]  # a view of it
    run = dj.compile(_step_of(model, opt))
    for _ in range(5):
        run(xx, y)
    expected = _eager_weights(0, 5, xx, y)
    np.testing.assert_allclose(weight.detach().numpy(), expected[0], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(shared, weight.detach().numpy())
    np.testing.assert_array_equal(row.numpy(), weight.detach().numpy()[1])


def test_parameters_nothing_else_holds_are_updated_with_a_version_bump():
    xx, y = _data()
    model, opt = _setup()
    run = dj.compile(_step_of(model, opt))
    run(xx, y)
    run(xx, y)  # compiled from here
    versions = [p._version for p in model.parameters()]
    run(xx, y)
    assert all(p._version > v for p, v in zip(model.parameters(), versions))
    expected = _eager_weights(0, 3, xx, y)
    for p, e in zip(model.parameters(), expected):
        np.testing.assert_allclose(p.detach().numpy(), e, rtol=1e-5, atol=1e-7)


def test_a_graph_saved_before_a_compiled_step_sees_the_in_place_update():
    xx, y = _data()
    model, opt = _setup()
    run = dj.compile(_step_of(model, opt))
    run(xx, y)
    run(xx, y)
    stale = (model(xx) ** 2).sum()  # saves the weights for its backward
    run(xx, y)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        stale.backward()


def test_new_model_and_optimizer_under_the_same_names_are_the_ones_trained():
    xx, y = _data()
    model, opt = _setup(0)

    def step(xx, y):
        loss = nn.functional.mse_loss(model(xx), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    run = dj.compile(step)
    for _ in range(3):
        run(xx, y)
    first = model
    model, opt = _setup(1)  # same shapes, new tensors: the old program must not be reused
    for _ in range(4):
        run(xx, y)
    for p, e in zip(model.parameters(), _eager_weights(1, 4, xx, y)):
        np.testing.assert_allclose(p.detach().numpy(), e, rtol=1e-5, atol=1e-7)
    for p, e in zip(first.parameters(), _eager_weights(0, 3, xx, y)):
        np.testing.assert_allclose(p.detach().numpy(), e, rtol=1e-5, atol=1e-7)


def test_a_submodule_switched_to_eval_alone_retraces():
    dj.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.Sequential(nn.Tanh(), nn.Dropout(0.5)),
                          nn.Linear(16, 2))
    run = dj.compile(model)
    x = dj.ones(8, 4)
    for _ in range(3):
        run(x)
    model[1][1].eval()  # only the nested dropout: its mask must go
    outs = [run(x).detach().numpy() for _ in range(3)]
    with dj.no_grad():
        expected = model[2](dj.tanh(model[0](x))).numpy()
    for out in outs:
        np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_a_state_tensor_set_to_another_ones_value_keeps_its_own_storage():
    """A program output that is an input passed through (or one output twice) is copied,
    never taken: the two tensors must not end up sharing an array."""
    a = nn.Parameter(dj.tensor(np.arange(6.0, dtype=np.float32)))
    b = nn.Parameter(dj.zeros(6))
    c = nn.Parameter(dj.zeros(6))

    def copy_over(x):
        with dj.no_grad():
            b.copy_(a)
            c.copy_(x * 2.0)
            a.mul_(1.0)
        return x + 1.0

    run = dj.compile(copy_over)
    x = dj.ones(6)
    for _ in range(3):
        run(x)
    assert run._programs and all(p is not None for p in run._programs.values())
    with dj.no_grad():
        a.add_(100.0)
        c.add_(5.0)
    np.testing.assert_array_equal(b.detach().numpy(), np.arange(6.0))
    np.testing.assert_array_equal(c.detach().numpy(), np.full(6, 7.0))
    np.testing.assert_array_equal(a.detach().numpy(), np.arange(6.0) + 100.0)


@pytest.mark.parametrize("compiled", [False, True])
def test_a_parameter_made_from_a_kept_tensor_shares_its_updates(compiled):
    """Parameter(t) shares t's storage (as PyTorch's): an optimizer step, eager or compiled,
    updates both; closed form: plain SGD p <- p - lr * 2 p on the loss sum(p^2)."""
    base = dj.tensor([1.0, -2.0, 3.0])
    p = nn.Parameter(base)
    opt = dj.optim.SGD([p], lr=0.1)

    def step():
        loss = (p * p).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    run = dj.compile(step) if compiled else step
    for _ in range(4):
        run()
    expected = np.array([1.0, -2.0, 3.0], np.float32) * np.float32(0.8) ** 4
    np.testing.assert_allclose(p.detach().numpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(base.numpy(), p.detach().numpy())


@pytest.mark.parametrize("compiled", [False, True])
def test_a_kept_state_dict_follows_the_training(compiled):
    """state_dict() tensors share the parameters' storage (as PyTorch's): one kept before
    training holds the trained values after eager or compiled steps."""
    xx, y = _data()
    model, opt = _setup()
    kept = model.state_dict()
    step = _step_of(model, opt)
    run = dj.compile(step) if compiled else step
    for _ in range(3):
        run(xx, y)
    expected = _eager_weights(0, 3, xx, y)
    for (name, _), e in zip(model.named_parameters(), expected):
        np.testing.assert_allclose(kept[name].numpy(), e, rtol=1e-5, atol=1e-7)


def test_store_result_takes_only_arrays_nobody_else_can_see():
    from dualjit.compiler import store_result

    new = np.arange(4.0, dtype=np.float32)
    t = dj.zeros(4)
    version = t._version
    store_result(t, new, fresh=True)  # nothing else holds t's array: taken, no copy
    assert t._value is new and t._version == version + 1
    held = t._value
    other = np.full(4, 7.0, np.float32)
    store_result(t, other, fresh=True)  # `held` sees t's storage: copied into it
    assert t._value is held and other is not held
    np.testing.assert_array_equal(held, other)
    store_result(t, np.zeros(4, np.float32) + 1, fresh=False)  # not fresh: copied
    np.testing.assert_array_equal(held, np.ones(4))
    wide = dj.zeros(4, dtype=dj.float64)
    store_result(wide, np.ones(4, np.float32), fresh=True)  # another dtype: cast in place
    assert wide._value.dtype == np.float64
    np.testing.assert_array_equal(wide.numpy(), np.ones(4))
    frozen = dj.zeros(4)
    frozen._value.flags.writeable = False
    with pytest.raises(RuntimeError, match="read-only"):
        store_result(frozen, np.ones(4, np.float32), fresh=True)
