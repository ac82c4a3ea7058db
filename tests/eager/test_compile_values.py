"""dj.compile guards the Python values a traced call reads (they are constants of its
program): a module's float or flag attributes, forward hooks, globals and closure values of
the compiled function and of a user module's forward, small NumPy arrays. Changing one
between compiled calls gives the numbers the same code gives eagerly; values that never
change compile once; values that change at every call stop compiling after MAX_PROGRAMS."""

import numpy as np

import dualjit as dj
import dualjit.nn as nn
from dualjit import compiler

X = dj.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        dj.manual_seed(0)
        self.lin = nn.Linear(3, 2)
        self.scale = 2.0
        self.squash = False

    def forward(self, x):
        y = self.lin(x) * self.scale
        return dj.tanh(y) if self.squash else y


def _agree(compiled, eager, *args):
    got, want = compiled(*args), eager(*args)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-6)
    return got


def _calls(model, change, values):
    """Compiled and eager forward after each change(model, value), three calls a value (the
    first runs eagerly, the second compiles, the third runs the program)."""
    compiled = dj.compile(model)
    for value in values:
        change(model, value)
        for _ in range(3):
            _agree(compiled, model, X)
    return compiled


def test_a_float_attribute_changed_between_calls():
    compiled = _calls(Scaled(), lambda m, v: setattr(m, "scale", v), [2.0, 3.0, 2.0, -0.5])
    assert 1 <= len(compiled._forward._programs) <= 3


def test_an_int_and_a_float_of_equal_value_are_different_constants():
    model = Scaled()
    compiled = dj.compile(model)
    model.scale = 2
    for _ in range(3):
        _agree(compiled, model, X)
    model.scale = 2.0
    for _ in range(3):
        _agree(compiled, model, X)
    assert len(compiled._forward._programs) == 2


def test_a_flag_toggled_between_calls():
    _calls(Scaled(), lambda m, v: setattr(m, "squash", v), [False, True, False])


def test_forward_hooks_added_and_removed():
    model = Scaled()
    compiled = dj.compile(model)
    for _ in range(3):
        _agree(compiled, model, X)
    handle = model.lin.register_forward_hook(lambda mod, args, out: out * 0.5 + 1.0)
    for _ in range(3):
        out = _agree(compiled, model, X)
    np.testing.assert_allclose(out.detach().numpy(),
                               (model.lin(X).detach().numpy()) * 2.0, rtol=1e-6)
    handle.remove()
    for _ in range(3):
        _agree(compiled, model, X)


SCALE = 2.0
TABLE = np.array([1.0, 2.0], np.float32)


def test_a_global_rebound_and_a_small_array_changed_in_place():
    global SCALE
    lin = Scaled().lin

    def f(x):
        return lin(x) * SCALE + float(TABLE[1])
    compiled = dj.compile(f)
    for value in (2.0, 3.0):
        SCALE = value
        for _ in range(3):
            _agree(compiled, f, X)
    TABLE[1] = -7.0
    try:
        for _ in range(3):
            _agree(compiled, f, X)
    finally:
        TABLE[1] = 2.0
        SCALE = 2.0


def test_a_closure_list_changed_in_place():
    lin = Scaled().lin
    factors = [2.0]

    def f(x):
        return lin(x) * factors[0]
    compiled = dj.compile(f)
    for value in (2.0, 5.0, 2.0):
        factors[0] = value
        for _ in range(3):
            _agree(compiled, f, X)


OFFSET = 0.25


class UsesGlobal(nn.Module):
    def __init__(self):
        super().__init__()
        dj.manual_seed(0)
        self.lin = nn.Linear(3, 2)

    def forward(self, x):
        return self.lin(x) + OFFSET


def test_a_global_read_by_a_user_modules_forward():
    global OFFSET
    model = UsesGlobal()
    try:
        _calls(model, lambda m, v: globals().__setitem__("OFFSET", v), [0.25, -3.0])
    finally:
        OFFSET = 0.25


def test_unchanged_values_compile_once_nan_included():
    model = Scaled()
    model.note = float("nan")  # not equal to itself: still the same value
    model.sizes = {"a": (1, 2), "b": [3.0]}
    compiled = dj.compile(model)
    for _ in range(6):
        _agree(compiled, model, X)
    assert len(compiled._forward._programs) == 1


def test_a_value_changing_at_every_call_stops_compiling():
    model = Scaled()
    compiled = dj.compile(model)
    for i in range(3 * compiler.MAX_PROGRAMS + 6):
        model.scale = 1.0 + (i // 2)  # each value twice: warm-up, then a compile
        _agree(compiled, model, X)
    assert len(compiled._forward._programs) == compiler.MAX_PROGRAMS


class Config:
    def __init__(self, scale):
        self.scale = scale
        self.shift = [0.0]


class Configured(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        dj.manual_seed(0)
        self.lin = nn.Linear(3, 2)
        self.cfg = cfg

    def forward(self, x):
        return self.lin(x) * self.cfg.scale + self.cfg.shift[0]


def test_a_config_objects_attributes_changed():
    cfg = Config(2.0)
    model = Configured(cfg)
    compiled = dj.compile(model)
    for scale, shift in ((2.0, 0.0), (4.0, 0.0), (4.0, 1.5)):
        cfg.scale = scale
        cfg.shift[0] = shift
        for _ in range(3):
            _agree(compiled, model, X)
    assert len(compiled._forward._programs) == 3


def test_python_and_numpy_random_draws_run_eagerly_with_the_eager_numbers():
    import random

    lin = Scaled().lin

    def noisy(x):
        return lin(x) * (1.0 + random.random()) + float(np.random.rand())

    compiled = dj.compile(noisy)
    random.seed(3)
    np.random.seed(4)
    got = [compiled(X).detach().numpy() for _ in range(4)]
    random.seed(3)
    np.random.seed(4)
    want = [noisy(X).detach().numpy() for _ in range(4)]
    for g, w in zip(got, want):  # each call its own draws, the eager sequence exactly
        np.testing.assert_array_equal(g, w)
    assert not np.array_equal(got[1], got[2])
    assert list(compiled._programs.values()) == [compiler._EAGER]


class PlainTensorAttribute(nn.Module):
    def __init__(self):
        super().__init__()
        dj.manual_seed(0)
        self.lin = nn.Linear(3, 2)
        self.mask = dj.ones(2)  # a plain attribute, not a buffer

    def forward(self, x):
        return self.lin(x) * self.mask


def _calls_of(f, changes):
    """dj.compile(f) against f over the changes (callables), three calls after each."""
    compiled = dj.compile(f)
    for change in changes:
        change()
        for _ in range(3):
            _agree(compiled, f, X)
    return compiled


def test_tensors_and_modules_held_in_containers_and_plain_attributes():
    model = PlainTensorAttribute()
    masks = [dj.ones(2)]
    layers = [Scaled().lin]
    table = {"lin": Scaled().lin}

    def f(x):
        return model(x) + layers[0](x) * masks[0] + table["lin"](x)

    def scale(t, v):
        with dj.no_grad():
            t.mul_(v)

    def swap():
        dj.manual_seed(5)
        layers[0] = nn.Linear(3, 2)
    _calls_of(f, [lambda: None,
                  lambda: masks[0].__setitem__(1, 7.0),  # in place, in a list
                  lambda: model.mask.__setitem__(0, -2.0),  # a module's plain tensor
                  lambda: scale(layers[0].weight, 2.0),  # a module in a list
                  lambda: scale(table["lin"].bias, -3.0),  # a module in a dict
                  swap])  # a list's module replaced


def test_a_step_training_a_module_held_in_a_list_matches_eager():
    def run(compiled):
        dj.manual_seed(0)
        layers = [nn.Linear(3, 1)]
        opt = dj.optim.SGD(layers[0].parameters(), lr=0.1, momentum=0.9)
        target = dj.tensor(np.linspace(0, 1, 4, dtype=np.float32)).reshape(4, 1)

        def step(x):
            loss = ((layers[0](x) - target) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        step = dj.compile(step) if compiled else step
        return [float(step(X)) for _ in range(6)], layers[0].weight.detach().numpy()
    (losses, weight), (want_losses, want_weight) = run(True), run(False)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-5)
    np.testing.assert_allclose(weight, want_weight, rtol=1e-5)
    assert losses[-1] < losses[0]


def test_containers_too_large_to_guard_run_eagerly():
    lin = Scaled().lin
    big = [dj.ones(2)] + [0.0] * compiler.MAX_INSIDE

    def f(x):
        return lin(x) * big[0]
    compiled = _calls_of(f, [lambda: None, lambda: big[0].__setitem__(0, 3.0)])
    assert compiled._programs == {}


def test_side_effects_on_python_state_run_eagerly_once_per_call(caplog):
    lin = Scaled().lin
    history, calls = [], {"n": 0}

    class Counting(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lin
            self.seen = 0

        def forward(self, x):
            self.seen += 1
            return self.lin(x)
    counting = Counting()
    box = [0]

    def step(x):
        global SIDE_COUNT
        SIDE_COUNT += 1
        calls["n"] += 1
        box[0] = box[0] + 1
        y = counting(x).sum()
        history.append(y)
        return y
    compiled = dj.compile(step)
    with caplog.at_level("WARNING", logger="dualjit.compile"):
        got = [float(compiled(X)) for _ in range(5)]
    want = float(lin(X).sum())
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert SIDE_COUNT == 5 and calls["n"] == 5 and box[0] == 5 and counting.seen == 5
    assert len(history) == 5
    for y in history:  # real values, not traced ones
        assert isinstance(y._value, np.ndarray)
        np.testing.assert_allclose(float(y), want, rtol=1e-6)
    assert sum("changes Python state" in r.message for r in caplog.records) == 1


SIDE_COUNT = 0


def test_a_trace_that_fails_after_a_side_effect_does_it_once():
    lin = Scaled().lin
    seen = []

    def step(x):
        y = lin(x).sum()
        seen.append(len(seen))
        return y * float(y.item() > 0)  # .item() needs a value: the call runs eagerly
    compiled = dj.compile(step)
    for _ in range(4):
        compiled(X)
    assert seen == [0, 1, 2, 3]


def test_arguments_changed_in_place_or_given_grads_match_eager():
    lin = Scaled().lin

    def scale_in_place(x):
        x.mul_(2.0)
        return x.sum()

    def input_gradient(x):
        loss = lin(x).sum() * (x ** 2).sum()
        loss.backward()
        return loss
    for f in (scale_in_place, input_gradient):
        compiled = dj.compile(f)
        for _ in range(4):
            a = dj.tensor(X.numpy().copy(), requires_grad=f is input_gradient)
            b = dj.tensor(X.numpy().copy(), requires_grad=f is input_gradient)
            np.testing.assert_allclose(float(compiled(a)), float(f(b)), rtol=1e-6)
            np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
            if f is input_gradient:
                assert isinstance(a.grad._value, np.ndarray)
                np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-6)


def test_tensor_hooks_registered_and_removed_between_calls():
    def run(compiled):
        dj.manual_seed(0)
        lin = nn.Linear(3, 1)

        def step(x):
            lin.zero_grad()
            loss = lin(x).sum()
            loss.backward()
            return loss
        step = dj.compile(step) if compiled else step
        grads, handle = [], None
        for i in range(7):
            if i == 2:
                handle = lin.weight.register_hook(lambda g: g * 10)
            if i == 5:
                handle.remove()
            step(X)
            grads.append(lin.weight.grad.numpy().copy())
        return grads
    got, want = run(True), run(False)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6)
    np.testing.assert_allclose(want[3], 10 * want[0], rtol=1e-6)  # (the hook acted)


def test_the_default_dtype_changed_between_calls():
    def f(x):
        return x.sum() + dj.tensor([0.1, 0.2, 0.3]).sum()
    compiled = dj.compile(f)
    try:
        for i in range(6):
            if i == 3:
                dj.set_default_dtype(dj.float64)
            got, want = compiled(X), f(X)
            assert got.dtype == want.dtype
            np.testing.assert_allclose(float(got), float(want), rtol=1e-6)
        assert got.dtype == dj.float64
    finally:
        dj.set_default_dtype(dj.float32)


HELPER_MODEL = Scaled().lin
HELPER_CALLS = 0


def _helper(x):
    return HELPER_MODEL(x)


def _counting_helper(x):
    global HELPER_CALLS
    HELPER_CALLS += 1
    return HELPER_MODEL(x)


def test_state_and_side_effects_reached_through_helper_functions():
    def predict(x):
        return _helper(x).sum()
    compiled = dj.compile(predict)
    for factor in (1.0, 3.0, 0.5):
        with dj.no_grad():
            HELPER_MODEL.weight.mul_(factor)  # updated outside the compiled function
        for _ in range(3):
            _agree(compiled, predict, X)

    def counted(x):
        return _counting_helper(x).sum()
    compiled = dj.compile(counted)
    before = HELPER_CALLS
    for _ in range(5):
        compiled(X)
    assert HELPER_CALLS - before == 5


class _Predictor:
    def __init__(self, model):
        self.model = model

    def __call__(self, x):
        return self.model(x).sum()


def test_state_reached_through_a_partial_and_a_callable_object():
    import functools

    model = Scaled().lin

    def predict(m, x):
        return m(x).sum()
    bound = functools.partial(predict, model)
    predictor = _Predictor(model)
    for f in (bound, predictor):
        compiled = dj.compile(f)
        for factor in (1.0, 3.0):
            with dj.no_grad():
                model.weight.mul_(factor)
            for _ in range(3):
                _agree(compiled, f, X)


class _Trainer:
    def __init__(self):
        dj.manual_seed(0)
        self.model = nn.Linear(3, 1)
        self.opt = dj.optim.SGD(self.model.parameters(), lr=0.05)
        self.scale = 1.0
        self.history = []  # appended outside the step: not part of the program

    def step(self, x):
        self.opt.zero_grad()
        loss = (self.model(x) ** 2).mean() * self.scale
        loss.backward()
        self.opt.step()
        return loss


def test_a_compiled_method_guards_the_attributes_its_code_reads_only():
    trainer, reference = _Trainer(), _Trainer()
    compiled = dj.compile(trainer.step)
    for i in range(8):
        if i == 5:
            trainer.scale = reference.scale = 3.0  # read by the step: a new program
        got, want = compiled(X), reference.step(X)
        np.testing.assert_allclose(float(got), float(want), rtol=1e-5)
        trainer.history.append(got.detach())
    np.testing.assert_allclose(trainer.model.weight.detach().numpy(),
                               reference.model.weight.detach().numpy(), rtol=1e-5)
    assert len(compiled._programs) == 2 and compiler._EAGER not in compiled._programs.values()


def test_deques_ordered_dicts_and_namespaces():
    import argparse
    import collections

    lin = Scaled().lin
    recent = collections.deque(maxlen=3)
    counts = collections.OrderedDict(calls=0)
    args = argparse.Namespace(scale=2.0)

    def step(x):
        y = lin(x).sum() * args.scale
        recent.append(y)
        counts["calls"] += 1
        return y
    compiled = dj.compile(step)
    for scale in (2.0, 2.0, 5.0, 5.0):
        args.scale = scale
        np.testing.assert_allclose(float(compiled(X)), float(lin(X).sum()) * scale, rtol=1e-6)
    assert counts["calls"] == 4 and len(recent) == 3
    assert all(isinstance(y._value, np.ndarray) for y in recent)

    def read_only(x):
        return lin(x).sum() * args.scale
    compiled = dj.compile(read_only)
    for scale in (1.0, 1.0, 1.0, 4.0, 4.0):
        args.scale = scale
        _agree(compiled, read_only, X)


def test_modules_and_tensors_in_ordered_dicts_and_deques_are_state():
    import collections

    layers = collections.OrderedDict(first=Scaled().lin)
    masks = collections.deque([dj.ones(2)])

    def f(x):
        return (layers["first"](x) * masks[0]).sum()

    def scale(t, v):
        with dj.no_grad():
            t.mul_(v)
    _calls_of(f, [lambda: None, lambda: scale(layers["first"].weight, 3.0),
                  lambda: masks[0].__setitem__(0, -4.0)])
