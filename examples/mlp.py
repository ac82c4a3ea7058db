"""A small MLP trained on a synthetic two-spirals data set, with dj.jit(dj.value_and_grad)."""

from __future__ import annotations

import numpy as np

import dualjit as dj
import dualjit.numpy as jnp


def spirals(n=200, seed=0):
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.random(n)) * 3 * np.pi
    labels = rng.integers(0, 2, n)
    sign = np.where(labels == 1, 1.0, -1.0)
    x = np.stack([sign * t * np.cos(t), sign * t * np.sin(t)], 1) / 10
    return (x + rng.normal(0, 0.02, x.shape)).astype(np.float32), labels


def init(sizes=(2, 32, 32, 2), seed=1):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((m, n)).astype(np.float32) / np.sqrt(m),
             np.zeros(n, np.float32)) for m, n in zip(sizes, sizes[1:])]


def predict(params, x):
    for w, b in params[:-1]:
        x = jnp.tanh(x @ w + b)
    w, b = params[-1]
    return x @ w + b


def loss(params, x, labels):
    return dj.nn.cross_entropy(predict(params, x), labels)


def train(steps=300, lr=0.5):
    x, labels = spirals()
    params = init()
    step = dj.jit(dj.value_and_grad(loss))
    history = []
    for _ in range(steps):
        value, grads = step(params, x, labels)
        params = [(w - lr * gw, b - lr * gb) for (w, b), (gw, gb) in zip(params, grads)]
        history.append(float(value))
    accuracy = float(np.mean(np.argmax(dj.jit(predict)(params, x), 1) == labels))
    return history, accuracy


if __name__ == "__main__":
    history, accuracy = train()
    print(f"loss {history[0]:.3f} -> {history[-1]:.3f}, training accuracy {accuracy:.2%}")
