"""dj.compile guards the Python values read by code the compiled function reaches other than
by name: methods of objects passed as arguments or held in state, callbacks passed in,
functions looked up in a dict or by getattr, lambdas held in attributes. Each test changes
such a value between compiled calls and compares with the same code run eagerly (or with
hand-computed values): a stale program would give the old numbers."""

import sys

import numpy as np
import pytest

import dualjit as dj
import dualjit.nn as nn
from dualjit import compiler

X = dj.tensor(np.linspace(-1, 2, 12, dtype=np.float32).reshape(4, 3))


def _linear():
    dj.manual_seed(0)
    return nn.Linear(3, 2)


def _agree(compiled, eager, *args):
    got, want = compiled(*args), eager(*args)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-6)
    return got


def _calls(f, changes, *args):
    """dj.compile(f) against f after each change (a callable), three calls each (the first
    runs eagerly, the second compiles, the third runs the program)."""
    compiled = dj.compile(f)
    for change in changes:
        change()
        for _ in range(3):
            _agree(compiled, f, X, *args)
    programs = list(compiled._forward._programs.values() if isinstance(f, nn.Module)
                    else compiled._programs.values())
    assert programs and compiler._EAGER not in programs  # (it compiled)
    return compiled


GAIN = 2.0


def _set_gain(value):
    return lambda: globals().__setitem__("GAIN", value)


class _Scaler:
    """A helper object of a user class (not a Module)."""

    def __init__(self, scale):
        self.scale = scale

    def apply(self, x):
        return x * self.scale + GAIN


def test_a_method_of_an_argument_reading_its_attribute_and_a_global():
    scaler = _Scaler(3.0)

    def f(x, helper):
        return helper.apply(x)
    try:
        _calls(f, [lambda: None, lambda: setattr(scaler, "scale", -1.0), _set_gain(5.0),
                   lambda: setattr(scaler, "scale", 3.0)], scaler)
    finally:
        _set_gain(2.0)()


def test_a_module_passed_as_an_argument_is_state():
    lin = _linear()

    def f(x, model):
        return model(x) * 2.0

    def scale():
        with dj.no_grad():
            lin.weight.mul_(3.0)
    _calls(f, [lambda: None, scale, scale], lin)


def _make_callback(factor):
    def callback(y):
        return y * factor + GAIN

    def set_factor(value):
        nonlocal factor
        factor = value
    return callback, set_factor


def test_a_callback_argument_whose_closure_and_global_change():
    callback, set_factor = _make_callback(2.0)

    def f(x, fn):
        return fn(x)
    try:
        _calls(f, [lambda: None, lambda: set_factor(-4.0), _set_gain(0.5),
                   lambda: set_factor(2.0)], callback)
    finally:
        _set_gain(2.0)()


def test_a_different_callback_traces_anew():
    first, _ = _make_callback(2.0)
    second, _ = _make_callback(-3.0)

    def f(x, fn):
        return fn(x)
    compiled = dj.compile(f)
    for fn in (first, first, second, second, first, second):
        _agree(compiled, f, X, fn)
    assert len(compiled._programs) == 2


def _double(y):
    return y * 2.0 + GAIN


def _negate(y):
    return -y + GAIN


OPS = {"scale": _double}


def test_a_function_chosen_from_a_dict():
    def f(x):
        return OPS["scale"](x)
    try:
        _calls(f, [lambda: None, _set_gain(7.0), lambda: OPS.__setitem__("scale", _negate),
                   _set_gain(-1.0)])
    finally:
        OPS["scale"] = _double
        _set_gain(2.0)()


class _Activated(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = _linear()
        self.act = lambda y: y * GAIN  # a lambda held in an attribute

    def forward(self, x):
        return self.act(self.lin(x))


def test_a_lambda_in_a_module_attribute_reading_a_global():
    model = _Activated()
    try:
        _calls(model, [lambda: None, _set_gain(-3.0), _set_gain(0.25)])
    finally:
        _set_gain(2.0)()


class _Inner:
    def __init__(self):
        self.offset = 1.0

    def shift(self, y):
        return y + self.offset * GAIN


class _Helper:
    def __init__(self):
        self.inner = _Inner()

    def transform(self, y):
        return self.inner.shift(y)


class _WithHelper(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = _linear()
        self.helper = _Helper()  # not a Module: a plain attribute

    def forward(self, x):
        return self.helper.transform(self.lin(x))


def test_a_method_of_a_helper_object_held_by_a_module():
    model = _WithHelper()
    try:
        _calls(model, [lambda: None, lambda: setattr(model.helper.inner, "offset", -2.0),
                       _set_gain(4.0)])
    finally:
        _set_gain(2.0)()


class _Modes:
    def __init__(self):
        self.factor = 3.0

    def mode_a(self, y):
        return y * self.factor

    def mode_b(self, y):
        return y - GAIN


def test_a_method_looked_up_by_getattr():
    modes = _Modes()
    choice = {"name": "mode_a"}

    def f(x):
        return getattr(modes, choice["name"])(x)
    try:
        _calls(f, [lambda: None, lambda: setattr(modes, "factor", 0.5),
                   lambda: choice.__setitem__("name", "mode_b"), _set_gain(6.0)])
    finally:
        _set_gain(2.0)()


class _WithLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = _linear()
        self.alpha = 1.0

    def forward(self, x):
        return self.lin(x)

    def loss(self, x):  # a method forward does not name
        return (self.lin(x) ** 2).sum() * self.alpha


def test_a_modules_other_method_reading_an_attribute_forward_does_not_name():
    model = _WithLoss()

    def step(x):
        return model.loss(x)
    _calls(step, [lambda: None, lambda: setattr(model, "alpha", 5.0)])


COUNT = 0


class _Counter:
    def bump(self, y):
        global COUNT
        COUNT += 1
        return y * 2.0


def test_a_side_effect_in_a_method_of_an_argument_happens_at_every_call():
    counter = _Counter()

    def f(x, c):
        return c.bump(x)
    compiled = dj.compile(f)
    before = COUNT
    for _ in range(5):
        np.testing.assert_allclose(compiled(X, counter).numpy(), X.numpy() * 2.0)
    assert COUNT - before == 5


def _make_counting():
    calls = 0

    def counting(y):
        nonlocal calls
        calls += 1
        return y + calls

    return counting, lambda: calls


def test_a_callback_rebinding_its_closure_variable_runs_eagerly():
    counting, calls = _make_counting()

    def f(x, fn):
        return fn(x)
    compiled = dj.compile(f)
    for i in range(1, 6):
        np.testing.assert_allclose(compiled(X, counting).numpy(), X.numpy() + i)
    assert calls() == 5


def test_steady_code_reached_other_than_by_name_compiles_once():
    scaler = _Scaler(3.0)
    model = _WithHelper()

    def f(x, helper):
        return helper.apply(model(x))
    compiled = dj.compile(f)
    for _ in range(6):
        _agree(compiled, f, X, scaler)
    assert len(compiled._programs) == 1
    assert compiler._EAGER not in compiled._programs.values()


def test_a_callback_from_a_dict_whose_closure_changes():
    callback, set_factor = _make_callback(2.0)
    table = {"op": callback}

    def f(x):
        return table["op"](x)
    _calls(f, [lambda: None, lambda: set_factor(-0.5), lambda: set_factor(2.0)])


RUNNER_MODEL = _linear()


class _Runner:
    def run(self, x):
        return RUNNER_MODEL(x) * 2.0


def test_state_reached_only_by_a_method_of_an_argument_is_state():
    runner = _Runner()

    def scale():
        with dj.no_grad():
            RUNNER_MODEL.weight.mul_(-2.0)

    def f(x, r):
        return r.run(x)
    _calls(f, [lambda: None, scale, scale], runner)


_helpers = __import__("types").ModuleType("helpers_of_this_test")
_helpers.act = lambda y: y * 3.0


def test_an_entry_of_a_python_module_rebound():
    def f(x):
        return _helpers.act(x)
    try:
        _calls(f, [lambda: None, lambda: setattr(_helpers, "act", lambda y: y - GAIN),
                   _set_gain(9.0)])
    finally:
        _helpers.act = lambda y: y * 3.0
        _set_gain(2.0)()


def test_an_object_made_in_the_step_compiles_and_reads_the_global():
    def f(x):
        return _Scaler(4.0).apply(x)
    try:
        _calls(f, [lambda: None, _set_gain(-2.0)])
    finally:
        _set_gain(2.0)()


@pytest.mark.parametrize("hooks", [("settrace",), ("setprofile",),
                                   ("settrace", "setprofile")])
def test_guards_hold_under_an_active_tracer_or_profiler(hooks, caplog):
    scaler = _Scaler(3.0)

    def f(x, helper):
        return helper.apply(x)
    for hook in hooks:
        getattr(sys, hook)(lambda frame, event, arg: None)
    try:
        with caplog.at_level("WARNING", logger="dualjit.compile"):
            compiled = dj.compile(f)
            for gain in (2.0, 5.0):
                _set_gain(gain)()
                for _ in range(3):
                    _agree(compiled, f, X, scaler)
    finally:
        sys.settrace(None)
        sys.setprofile(None)
        _set_gain(2.0)()
    both = len(hooks) == 2  # (the code a trace runs cannot be recorded: eagerly)
    assert (set(compiled._programs.values()) == {compiler._EAGER}) == both
    assert any("a tracer and a profiler are both active" in r.message
               for r in caplog.records) == both


class _Named:
    def __init__(self):
        self.factor = 2.0
        self.which = "factor"

    def scaled(self, y):
        return y * getattr(self, self.which)  # an attribute read by a computed name


@__import__("functools").lru_cache
def _the_named():  # (a library's cache returns the object: only its method reads it)
    return _Named()


def test_an_attribute_read_by_getattr_in_a_method():
    def f(x):
        return _the_named().scaled(x)
    _calls(f, [lambda: None, lambda: setattr(_the_named(), "factor", -3.0)])


class _Factory:
    def __init__(self):
        self.kept, self.set_kept = _make_callback(2.0)

    def run(self, y):
        fresh, _ = _make_callback(1.0)  # (made by the trace: its closure is the call's)
        return self.kept(fresh(y))


def test_a_kept_closure_of_a_factory_that_also_runs_in_the_trace():
    factory = _Factory()

    def f(x, fac):
        return fac.run(x)
    _calls(f, [lambda: None, lambda: factory.set_kept(-3.0)], factory)


def test_a_closure_the_step_makes_and_rebinds_compiles():
    def f(x):
        total = 0.0

        def add(v):
            nonlocal total
            total += v
        add(1.5)
        add(GAIN)
        return x * total
    try:
        compiled = _calls(f, [lambda: None, _set_gain(-4.0)])
    finally:
        _set_gain(2.0)()
    np.testing.assert_allclose(compiled(X).numpy(), X.numpy() * (1.5 + 2.0), rtol=1e-6)


COLLECTIONS = [0]


def _count_collections(phase, info):
    COLLECTIONS[0] += 1


def test_code_the_collector_runs_during_a_trace_is_not_the_functions():
    import gc

    scaler = _Scaler(3.0)

    def f(x, helper):
        for _ in range(3):
            [[] for _ in range(2000)]  # (cycles of garbage: collections would run)
        return helper.apply(x)
    gc.callbacks.append(_count_collections)
    try:
        _calls(f, [lambda: None, _set_gain(-1.0)], scaler)
    finally:
        gc.callbacks.remove(_count_collections)
        _set_gain(2.0)()


@__import__("dataclasses").dataclass(slots=True, eq=False)  # (hashable: an argument)
class _SlotConfig:
    scale: float
    shift: float = 0.0


class _SlotScaler:
    __slots__ = ("factor", "__private")

    def __init__(self, factor):
        self.factor = factor
        self.__private = 1.0

    def apply(self, y):
        return y * self.factor + self.__private

    def set_private(self, value):
        self.__private = value


SLOT_CONFIG = _SlotConfig(2.0)


def test_objects_with_slots_are_compared_by_value():
    config = _SlotConfig(3.0)

    def f(x, cfg):
        return x * cfg.scale + SLOT_CONFIG.shift
    try:
        _calls(f, [lambda: None, lambda: setattr(config, "scale", -1.0),
                   lambda: setattr(SLOT_CONFIG, "shift", 4.0)], config)
    finally:
        SLOT_CONFIG.shift = 0.0


def test_a_method_of_an_object_with_slots_reached_by_its_code_only():
    scaler = _SlotScaler(2.0)
    made = __import__("functools").lru_cache(lambda: scaler)  # (a library hands it over)

    def f(x):
        return made().apply(x)
    _calls(f, [lambda: None, lambda: setattr(scaler, "factor", 5.0),
               lambda: scaler.set_private(-2.0)])


def test_a_side_effect_on_a_slot_runs_eagerly():
    scaler = _SlotScaler(2.0)

    def f(x, s):
        s.factor = s.factor + 1.0
        return x * s.factor
    compiled = dj.compile(f)
    for i in range(1, 5):
        np.testing.assert_allclose(compiled(X, scaler).numpy(), X.numpy() * (2.0 + i))
    assert scaler.factor == 6.0
