"""Data-parallel training on a local 2-worker Ray: the same steps as one process, identical
parameters on every worker, and a dead or silent worker stops the step instead of skewing it."""

import contextlib
import os
import signal

import numpy as np
import pytest
import ray

import dualjit as dj
import dualjit.numpy as jnp
from dualjit import distributed as dd

pytestmark = pytest.mark.usefixtures("ray_session")


def loss(params, batch):
    x, labels = batch
    h = jnp.tanh(x @ params["w1"] + params["b1"])
    return dj.nn.cross_entropy(h @ params["w2"] + params["b2"], labels)


def momentum(learning_rate=0.3, beta=0.9):
    """SGD with momentum: an optimizer with state, to check that the state stays in step too."""
    def update(params, grads, velocity):
        velocity = dj.tree_map(lambda v, g: beta * v + g, velocity, grads)
        return dj.tree_map(lambda w, v: w - learning_rate * v, params, velocity), velocity
    return update


def init(seed=0):
    rng = np.random.default_rng(seed)
    return {"w1": rng.standard_normal((6, 12)).astype(np.float32) * 0.4,
            "b1": np.zeros(12, np.float32),
            "w2": rng.standard_normal((12, 3)).astype(np.float32) * 0.4,
            "b2": np.zeros(3, np.float32)}


def batches(count, size=32, seed=1):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((size, 6)).astype(np.float32), rng.integers(0, 3, size))
            for _ in range(count)]


def single_process(params, opt_state, data):
    """The reference: the same steps in this process, on whole batches."""
    update = momentum()

    @dj.jit
    def step(params, opt_state, batch):
        value, grads = dj.value_and_grad(loss)(params, batch)
        return value, *update(params, grads, opt_state)

    losses = []
    for batch in data:
        value, params, opt_state = step(params, opt_state, batch)
        losses.append(float(value))
    return losses, params, opt_state


def zeros_like(tree):
    return dj.tree_map(np.zeros_like, tree)


def assert_close(a, b, rtol=2e-5, atol=2e-6):
    for x, y in zip(dj.tree_leaves(a), dj.tree_leaves(b)):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


def rows_dataset(n=96, seed=5):
    """A Ray Dataset of n examples with an id column, and the same examples as arrays."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    labels = rng.integers(0, 3, n)
    return ray.data.from_items([{"x": x[i], "y": labels[i], "i": i} for i in range(n)]), x, labels


def test_two_workers_take_the_single_process_steps_and_stay_identical():
    data = batches(8) + batches(1, size=45, seed=7)  # 45 = 23 + 22: unequal shards at the end
    params, velocity = init(), zeros_like(init())
    with dd.data_parallel(loss, momentum(), params, opt_state=velocity, num_workers=2,
                          example_batch=data[0]) as trainer:
        losses = [trainer.step(batch) for batch in data]
        # then an epoch over a Ray Dataset, each worker reading its own split (as Ray Train)
        dataset, x, labels = rows_dataset()
        fit_losses, ids = trainer.fit(dataset, 32, columns=("x", "y"), id_column="i")
        assert len(ids) == 3 and sorted(i for step in ids for i in step) == list(range(96))
        data += [(x[step], labels[step]) for step in ids]  # the examples each step used
        losses += fit_losses
        expected_losses, expected_params, expected_velocity = single_process(params, velocity, data)
        np.testing.assert_allclose(losses, expected_losses, rtol=2e-5)
        assert_close(trainer.params, expected_params)
        assert_close(trainer.opt_state, expected_velocity)
        assert trainer.parameters_identical()  # bit for bit, on both workers
        assert trainer.steps == len(data) and losses[-2] < losses[0]
        x, labels = data[0]  # bad batches are refused before any worker runs
        with pytest.raises(ValueError, match="different leading dimensions"):
            trainer.step((x, labels[:5]))
        with pytest.raises(ValueError, match="cannot be split over 2 workers"):
            trainer.step((x[:1], labels[:1]))
        assert trainer.steps == len(data)


def test_a_dead_or_silent_worker_fails_the_step_and_restart_resumes():
    data = batches(7, seed=3)
    params, velocity = init(1), zeros_like(init(1))
    with dd.data_parallel(loss, momentum(), params, opt_state=velocity, num_workers=2,
                          example_batch=data[0]) as trainer:
        for batch in data[:3]:
            trainer.step(batch)
        os.kill(trainer.worker_pids()[1], signal.SIGKILL)  # as the OOM killer would
        with pytest.raises(dd.WorkerFailedError, match="worker 1 died while computing"):
            trainer.step(data[3])
        with pytest.raises(dd.WorkerFailedError, match="restart"):
            trainer.step(data[3])  # not until the lost worker is replaced
        trainer.restart()
        assert trainer.steps == 3  # the failed step left nothing behind
        assert_close(trainer.params, single_process(params, velocity, data[:3])[1])
        trainer.step(data[3])  # the failed batch, again

        trainer.step_timeout = 4.0
        stopped = trainer.worker_pids()[0]
        os.kill(stopped, signal.SIGSTOP)  # alive but silent: must not hang the driver
        try:
            with pytest.raises(dd.WorkerFailedError, match="did not answer within 4.0 s"):
                trainer.step(data[4])
            trainer.restart()  # replaces the silent worker
        finally:
            with contextlib.suppress(ProcessLookupError):  # restart() may have ended it
                os.kill(stopped, signal.SIGCONT)
        trainer.step_timeout = 300.0
        assert trainer.steps == 4
        for batch in data[4:]:
            trainer.step(batch)
        _, expected_params, expected_velocity = single_process(params, velocity, data)
        assert_close(trainer.params, expected_params)
        assert_close(trainer.opt_state, expected_velocity)
        assert trainer.parameters_identical()
