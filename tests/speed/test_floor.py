"""benchmarks/floor.py: its peak-rate kernel computes what it claims (so the rate it reports
counts real multiply-adds), and its products count the plan's work."""

import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from benchmarks import floor  # noqa: E402


def test_fma_kernel_runs_the_chains_it_counts():
    peak = floor.PeakRate()
    out = np.zeros(8, np.float32)
    rounds = 3
    peak._run(rounds, out)
    x, y = peak._xy[:8].astype(np.float64), peak._xy[8:].astype(np.float64)
    a = y.copy()  # every chain starts at y
    for _ in range(rounds):
        a = a * x + y
    np.testing.assert_allclose(out, floor.CHAINS * a, rtol=1e-6)


def test_products_count_the_plans_multiply_adds():
    from dualjit.codegen.blas import Matrix

    calls = [(4, 5, 6, Matrix(False, 6), Matrix(False, 5), 1, 120),
             (2, 3, 7, Matrix(True, 2), Matrix(False, 3), 4, 168)]
    products = floor.Products(calls)
    assert products.flop == 2 * (120 + 168)
    products.run_openblas()
    for lhs, rhs, out in products.items:
        np.testing.assert_allclose(out, lhs @ rhs, rtol=1e-5, atol=1e-5)


def test_hand_written_mlp_step_does_the_steps_arithmetic():
    """The hand-written NumPy step (a bound for T2's eager goal) must do the same work as the
    real step: two steps of it give dualjit eager's loss and parameters (whose nn, autograd and
    SGD are tested against PyTorch's rules elsewhere)."""
    import dualjit as dj
    from benchmarks import torch_api as T

    batches, model, forward, loss_fn, optimizer = T.mlp_parts(dj)
    by_hand = floor.HandWrittenMLP(model, batches[:2])
    for (x, target), (xn, tn) in zip(batches[:2], by_hand.batches):
        loss = loss_fn(forward(x), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        np.testing.assert_allclose(by_hand.step(xn, tn), loss.item(), rtol=1e-5)
    first, _, second = model
    for mine, theirs in zip(by_hand.params, (first.weight, first.bias, second.weight, second.bias)):
        np.testing.assert_allclose(mine, theirs.detach().numpy(), rtol=1e-4, atol=1e-6)
