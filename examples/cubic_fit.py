"""Fit a cubic to sin(x) (seed 000) in both spellings: the imperative loop and jit + grad + fori_loop."""

from __future__ import annotations

import math
import sys

import numpy as np

import dualjit as dj
import dualjit.numpy as jnp

STEPS, LR = 2000, 1e-6


def imperative(start, steps=STEPS, progress=None):
    """PyTorch's spelling: tensors that require grad, backward(), updates under no_grad."""
    x = dj.linspace(-math.pi, math.pi, 2000)
    y = x.sin()
    params = [dj.tensor(v, requires_grad=True) for v in start]
    losses = []
    for t in range(steps):
        a, b, c, d = params
        loss = ((a + b * x + c * x ** 2 + d * x ** 3) - y).pow(2).sum()
        losses.append(loss.item())
        if progress is not None:
            progress(t, losses[-1])
        loss.backward()
        with dj.no_grad():
            for p in params:
                p -= LR * p.grad
                p.grad = None
    return [p.item() for p in params], losses


def make_functional(steps=STEPS):
    """JAX's spelling: a pure loss, dj.grad, and the whole loop inside one dj.jit."""
    x = np.linspace(-math.pi, math.pi, 2000).astype(np.float32)
    y = np.sin(x)

    def loss(params):
        a, b, c, d = params
        return jnp.sum(((a + b * x + c * x ** 2 + d * x ** 3) - y) ** 2)

    def step(_, params):
        grads = dj.grad(loss)(params)
        return tuple(p - LR * g for p, g in zip(params, grads))

    train = dj.jit(lambda params: dj.lax.fori_loop(0, steps, step, params))
    return loss, step, train


def functional(start, steps=STEPS):
    loss, _, train = make_functional(steps)
    final = train(tuple(np.float32(v) for v in start))
    return [float(p) for p in final], float(dj.jit(loss)(final))


def save_plot(params, path="cubic_fit.png"):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    a, b, c, d = params
    x = np.linspace(-math.pi, math.pi, 2000)
    plt.figure(figsize=(6, 4))
    plt.plot(x, np.sin(x), label="sin(x)")
    plt.plot(x, a + b * x + c * x ** 2 + d * x ** 3, "--", label="cubic fit")
    plt.legend()
    plt.savefig(path, dpi=100)
    plt.close()
    return path


def main() -> None:
    rng = np.random.default_rng(0)
    start = [float(v) for v in rng.standard_normal(4).astype(np.float32)]
    params, losses = imperative(start)
    print(f"imperative: loss {losses[0]:.1f} -> {losses[-1]:.2f}; "
          f"y = {params[0]:.4f} + {params[1]:.4f} x + {params[2]:.4f} x^2 + {params[3]:.4f} x^3")
    fparams, floss = functional(start)
    print(f"functional: loss {floss:.2f}; "
          f"y = {fparams[0]:.4f} + {fparams[1]:.4f} x + {fparams[2]:.4f} x^2 + {fparams[3]:.4f} x^3")
    path = save_plot(params)
    if path:
        print("saved", path)


if __name__ == "__main__":
    sys.exit(main())
