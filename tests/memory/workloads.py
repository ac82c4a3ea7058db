"""Memory workloads, each run in a fresh process: `python -m tests.memory.workloads NAME N`.

Each prints one JSON line of resident-set sizes in MB (`start`, `peak` or `held`, `end`)
measured by the process itself. Before reading the resident size after dropping something,
the workload collects garbage and asks glibc to hand freed pages back to the OS
(`malloc_trim`), so what is measured is memory still in use, not the allocator's free lists.
"""

from __future__ import annotations

import ctypes
import gc
import json
import sys

import numpy as np


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def settled_rss_mb() -> float:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the plain resident size
        pass
    return rss_mb()


def _warm_up():
    import dualjit as dj
    import dualjit.numpy as jnp

    dj.jit(lambda a: jnp.sin(a) * 2 + 1)(np.ones(3))
    dj.jit(dj.grad(lambda a: jnp.sum(jnp.sin(a))))(np.ones(3))
    return dj, jnp


def shapes(n: int) -> dict:
    """Compile one function for n shapes, then drop it."""
    dj, jnp = _warm_up()
    start = settled_rss_mb()
    f = dj.jit(lambda a: jnp.sin(a) * 2 + 1)
    for size in range(1, n + 1):
        f(np.ones(size))
    held = rss_mb()
    del f
    return {"start": start, "held": held, "end": settled_rss_mb()}


def closures(n: int) -> dict:
    """Four jitted closures over n-MB arrays, called once each, then dropped."""
    dj, jnp = _warm_up()
    start = settled_rss_mb()
    functions = []
    for k in range(4):
        big = np.full(n * 2**20 // 8, float(k))
        functions.append(dj.jit(lambda a, big=big: a + jnp.sum(big)))
        functions[-1](np.ones(2))
        del big
    held = rss_mb()
    del functions
    return {"start": start, "held": held, "end": settled_rss_mb()}


def _loop(n: int, step) -> dict:
    """Run step(i) n times: the resident size after the first tenth (compiles, caches and
    the allocator warmed up) and at the end."""
    warm = max(n // 10, 1)
    for i in range(warm):
        step(i)
    start = settled_rss_mb()
    for i in range(warm, n):
        step(i)
    return {"start": start, "end": settled_rss_mb()}


def jit_calls(n: int) -> dict:
    dj, jnp = _warm_up()
    f = dj.jit(lambda a, b: (jnp.tanh(a @ b), jnp.sum(a)))
    a, b = np.ones((16, 16)), np.ones((16, 16), np.float32)
    return _loop(n, lambda i: f(a * i, b))


def grad_calls(n: int) -> dict:
    dj, jnp = _warm_up()
    g = dj.grad(lambda w, x: jnp.mean(jnp.tanh(x @ w) ** 2))
    jg = dj.jit(g)
    x, w = np.random.default_rng(0).normal(size=(32, 8)), np.ones(8)
    return _loop(n, lambda i: (g(w, x), jg(w + i, x)))


def backward(n: int) -> dict:
    """An imperative training loop: forward, backward(), update, zero the gradient."""
    dj, _ = _warm_up()
    x = dj.tensor(np.random.default_rng(0).normal(size=(64, 8)))
    y = dj.tensor(np.random.default_rng(1).normal(size=64))
    w = dj.tensor(np.zeros(8), requires_grad=True)

    def step(i):
        loss = ((x @ w).tanh() - y).pow(2).mean()
        loss.backward()
        with dj.no_grad():
            w.sub_(0.01 * w.grad)
        w.grad = None
    return _loop(n, step)


def backward_shapes(n: int) -> dict:
    """Imperative backward() on n batch sizes: the compiled backward programs of old shapes
    must not pile up (each holds an LLVM engine)."""
    dj, _ = _warm_up()
    w = dj.tensor(np.zeros(8), requires_grad=True)

    def step(i):
        x = dj.tensor(np.ones((i + 1, 8)))
        ((x @ w).tanh() - 1.0).pow(2).mean().backward()
        w.grad = None
    for i in range(n):  # every size once: the first tenth is no warm-up here
        step(i)
    start = settled_rss_mb()
    for i in range(n, 2 * n):
        step(i)
    return {"start": start, "end": settled_rss_mb()}


def recompiles(n: int) -> dict:
    """A new jit object every iteration (the same program, a new closure): the compiled code
    is reused, and nothing accumulates."""
    dj, jnp = _warm_up()
    x = np.ones(100)

    def step(i):
        scale = float(i % 7)
        return dj.jit(lambda a: jnp.sin(a) * scale)(x)  # the scale is a constant of the trace
    return _loop(n, step)


WORKLOADS = {f.__name__: f for f in (shapes, closures, jit_calls, grad_calls, backward,
                                     backward_shapes, recompiles)}

if __name__ == "__main__":
    name, count = sys.argv[1], int(sys.argv[2])
    print(json.dumps(WORKLOADS[name](count)))
