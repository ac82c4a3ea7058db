"""Exported programs over a Ray Dataset: inference and per-example gradients, in Ray workers."""

import threading

import numpy as np
import pytest
import ray

import dualjit as dj
import dualjit.numpy as jnp
from dualjit import distributed as dd

pytestmark = pytest.mark.usefixtures("ray_session")


def predict(params, x):
    return jnp.tanh(x @ params["w"] + params["b"])


def example_loss(params, x, y):
    return jnp.sum((predict(params, x) - y) ** 2)


def data(n=50, seed=0):
    rng = np.random.default_rng(seed)
    params = {"w": rng.standard_normal((4, 2)).astype(np.float32),
              "b": rng.standard_normal(2).astype(np.float32)}
    return params, rng.standard_normal((n, 4)).astype(np.float32), rng.standard_normal(
        (n, 2)).astype(np.float32)


def rows(dataset, timeout=240):
    """All rows, in order of their "i" column; a hung pipeline fails the test instead of the run."""
    box = []
    thread = threading.Thread(target=lambda: box.append(dataset.take_all()), daemon=True)
    thread.start()
    thread.join(timeout)
    assert box, f"the Ray Data pipeline did not finish within {timeout} s"
    return sorted(box[0], key=lambda r: int(r["i"]))


def dataset(x, y):
    return ray.data.from_items([{"i": i, "x": x[i], "y": y[i]} for i in range(len(x))])


def test_inference_over_a_dataset_with_a_short_last_batch():
    params, x, y = data(50)  # 3 batches of 16 and one of 2 (padded, then cut)
    exported = dj.export(predict)(params, x[:16])
    out = rows(dd.map_batches(dataset(x, y), exported, args=(params,), inputs=("x",),
                              outputs=("prediction",)))
    assert len(out) == 50 and set(out[0]) == {"i", "x", "y", "prediction"}
    got = np.stack([r["prediction"] for r in out])
    np.testing.assert_allclose(got, dj.jit(predict)(params, x), rtol=1e-6, atol=1e-7)


def test_per_example_gradients_over_a_dataset():
    params, x, y = data(20)
    program = dd.per_example_grads(example_loss, params, x[:8], y[:8])
    out = rows(dd.map_batches(dataset(x, y), program, args=(params,), inputs=("x", "y"),
                              keep_columns=["i"]))
    assert set(out[0]) == {"i", "w", "b"}
    for i in (0, 9, 19):  # against the gradient of each example on its own
        g = dj.grad(example_loss)(params, x[i], y[i])
        np.testing.assert_allclose(out[i]["w"], g["w"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out[i]["b"], g["b"], rtol=1e-5, atol=1e-6)


def test_programs_that_are_not_per_example_are_refused():
    params, x, y = data(16)
    whole_batch = dj.export(lambda p, x: jnp.mean(predict(p, x)))(params, x)
    with pytest.raises(TypeError, match="leading dimension of 16 examples"):
        dd.map_batches(dataset(x, y), whole_batch, args=(params,), inputs=("x",))
    with pytest.raises(TypeError, match="batch arrays after args"):
        dd.map_batches(dataset(x, y), dj.export(predict)(params, x), args=(params,),
                       inputs=("x", "y"))
