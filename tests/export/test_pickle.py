"""Pickled jit functions carry their compiled specializations: a worker process calls them
without tracing (the Python function travels by reference, or by value with cloudpickle)."""

import multiprocessing
import pickle
import sys
from concurrent.futures import ProcessPoolExecutor

import cloudpickle
import numpy as np
import pytest

import dualjit as dj

MODEL = '''
import numpy as np
import dualjit as dj
import dualjit.numpy as jnp

TRACES = []  # appended to whenever a function below is traced (Python runs only then)

@dj.jit
def predict(w, x):
    TRACES.append("predict")
    return jnp.tanh(x @ w["w"] + w["b"])

def scaled(x, power, scale):
    TRACES.append("scaled")
    return jnp.sum(x ** power) * scale

scaled_jit = dj.jit(scaled, static_argnums=(1,))

def run(fn, *args):
    """In a worker: call fn, report how often this process traced."""
    return fn(*args), list(TRACES)
'''


@pytest.fixture()
def model(tmp_path, monkeypatch):
    (tmp_path / "djx_model.py").write_text(MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))  # spawned workers get the parent's sys.path
    import djx_model

    yield djx_model
    sys.modules.pop("djx_model", None)


def weights(seed=0):
    rng = np.random.default_rng(seed)
    return {"w": rng.standard_normal((4, 3)).astype(np.float32),
            "b": rng.standard_normal(3).astype(np.float32)}, rng.standard_normal((5, 4)).astype(
        np.float32)


def test_a_worker_process_runs_the_shipped_specializations_without_tracing(model):
    w, x = weights()
    expected = model.predict(w, x)
    expected_scaled = model.scaled_jit(x, 3, 0.5)
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter, nothing inherited
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        out, traces = pool.submit(model.run, model.predict, w, x).result(timeout=120)
        np.testing.assert_array_equal(out, expected)
        assert traces == []  # came compiled: the worker never ran predict's Python
        out, traces = pool.submit(model.run, model.scaled_jit, x, 3, 0.25).result(timeout=120)
        np.testing.assert_allclose(out, model.scaled(x, 3, 0.25), rtol=1e-6)
        assert traces == []  # static argument 3 was among the compiled specializations
        out, traces = pool.submit(model.run, model.scaled_jit, x, 2, 0.25).result(timeout=120)
        np.testing.assert_allclose(out, np.sum(x ** 2) * 0.25, rtol=1e-6)
        assert traces == ["scaled"]  # a new static value: traced there, by reference
    assert expected_scaled == model.scaled_jit(x, 3, 0.5)


def test_unpickling_a_decorated_function_in_its_own_process_gives_the_same_object(model):
    w, x = weights()
    model.predict(w, x)
    again = pickle.loads(pickle.dumps(model.predict))
    assert again is model.predict
    copy = pickle.loads(pickle.dumps(model.scaled_jit))
    assert copy is not model.scaled_jit and copy.fun is model.scaled


def test_an_unpickled_copy_calls_without_tracing_and_keeps_its_fast_path(model):
    w, x = weights()
    model.scaled_jit(x, 2, 1.0)
    copy = pickle.loads(pickle.dumps(model.scaled_jit))
    del model.TRACES[:]
    for scale in (1.0, 2.0, 3.0):
        np.testing.assert_allclose(copy(x, 2, scale), model.scaled(x, 2, scale), rtol=1e-6)
    assert model.TRACES == ["scaled"] * 3  # only the direct calls of `scaled` above


def test_lambdas_pickle_by_value_with_cloudpickle():
    f = dj.jit(lambda x: x * 2 + 1)
    f(np.arange(3.0))
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(f)  # as for any lambda: the standard pickle refers to functions by name
    g = cloudpickle.loads(cloudpickle.dumps(f))
    assert len(g._exported) == 1 and not g._cache  # compiled on first use, not traced
    np.testing.assert_array_equal(g(np.arange(3.0)), [1, 3, 5])
    assert not g._exported and len(g._cache) == 1
