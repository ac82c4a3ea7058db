"""The MLP of mlp.py trained data-parallel on Ray workers, next to the same training in one process.

    python examples/distributed_mlp.py                      # a local Ray, 2 workers
    ray start --head                                        # or a cluster: on the head node,
    ray start --address=HEAD_IP:6379                        # on every other node, then
    python examples/distributed_mlp.py --address=auto       # anywhere in the cluster

Each worker holds the parameters and half of every batch, runs the exported gradient program,
and applies the averaged gradients; the workers run exported programs, so they need dualjit
installed, not this file. With the same seed and the same global batch, the loss curve is the
single-process one up to float rounding (summation order).
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np

import dualjit as dj

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from mlp import init, loss, spirals  # noqa: E402


def sgd_update(learning_rate):
    def update(params, grads, opt_state):
        return [(w - learning_rate * gw, b - learning_rate * gb)
                for (w, b), (gw, gb) in zip(params, grads)], opt_state
    return update


def single_process(steps, lr, batches):
    params = init()
    step = dj.jit(dj.value_and_grad(loss))
    history = []
    for i in range(steps):
        x, labels = batches(i)
        value, grads = step(params, x, labels)
        params = sgd_update(lr)(params, grads, None)[0]
        history.append(float(value))
    return history, params


def data_parallel(steps, lr, batches, num_workers):
    from dualjit import distributed

    def batch_loss(params, batch):
        return loss(params, *batch)

    history = []
    with distributed.data_parallel(batch_loss, sgd_update(lr), init(), num_workers=num_workers,
                                   example_batch=batches(0)) as trainer:
        for i in range(steps):
            history.append(trainer.step(batches(i)))
        assert trainer.parameters_identical()
        return history, trainer.params


def train(steps=300, lr=0.5, num_workers=2, batch_size=128, address=None):
    """Both trainings on the same mini-batches; returns their loss histories and parameters."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False)
    x, labels = spirals(n=1024)
    rng = np.random.default_rng(2)
    order = [rng.choice(len(x), batch_size, replace=False) for _ in range(steps)]

    def batches(i):
        return x[order[i]], labels[order[i]]
    one = single_process(steps, lr, batches)
    many = data_parallel(steps, lr, batches, num_workers)
    return one, many


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--address", default=None, help="Ray cluster address (default: local)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    (one, p_one), (many, p_many) = train(args.steps, num_workers=args.workers,
                                         address=args.address)
    gap = max(float(np.max(np.abs(a - b))) for a, b in zip(dj.tree_leaves(p_one),
                                                           dj.tree_leaves(p_many)))
    for i in range(0, args.steps, max(1, args.steps // 6)):
        print(f"step {i:4d}: one process {one[i]:.6f}   {args.workers} workers {many[i]:.6f}")
    print(f"final loss {one[-1]:.6f} vs {many[-1]:.6f}; largest parameter difference {gap:.2e}")
