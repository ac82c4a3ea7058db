"""Benchmark workloads (issue 4, W1-W6, and the imperative loop of issue 5) for each implementation.

Each workload maps an implementation name to a zero-argument callable that runs one repetition;
setup (tracing, compiling, warm-up) happens when the callable is built, not when it is timed.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time

import numpy as np

from . import have
from .torch_api import WORKLOADS as TORCH_API_WORKLOADS

STEPS, LR = 2000, 1e-6




def cubic_data():
    x = np.linspace(-math.pi, math.pi, 2000).astype(np.float32)
    return x, np.sin(x), tuple(np.float32(v) for v in (0.1, 0.2, 0.3, 0.4))


# -- W1: cubic fit of sin ----------------------------------------------------------------------

def _cubic_train(grad, fori_loop, sum_, x, y):
    """W1's training loop for one library: STEPS steps of gradient descent on the cubic fit's
    squared error, as a function of the parameters (x and y constants or traced arguments)."""
    def loss(p):
        a, b, c, d = p
        return sum_((a + b * x + c * x ** 2 + d * x ** 3 - y) ** 2)

    def step(_, p):
        g = grad(loss)(p)
        return tuple(pi - LR * gi for pi, gi in zip(p, g))
    return lambda p: fori_loop(0, STEPS, step, p)


def w1_loop_in_jit():
    import dualjit as dj
    import dualjit.numpy as jnp

    x, y, p0 = cubic_data()
    impls = {}
    train = dj.jit(_cubic_train(dj.grad, dj.lax.fori_loop, jnp.sum, x, y))
    train(p0)
    impls["dualjit"] = lambda: train(p0)
    if have("jax"):
        import jax
        import jax.numpy as jjnp

        jtrain = jax.jit(_cubic_train(jax.grad, jax.lax.fori_loop, jjnp.sum, x, y))
        jtrain(p0)[0].block_until_ready()
        impls["jax"] = lambda: jtrain(p0)[0].block_until_ready()
    return impls


def w1_loop_data_as_arguments():
    """W1 in one jit with x and y passed as arguments (as JAX programs usually do): x**2 and
    x**3 are then computed inside the traced loop body, and only loop-invariant code motion
    (codegen/loop_invariants.py) computes them once instead of once per step."""
    import dualjit as dj
    import dualjit.numpy as jnp

    x, y, p0 = cubic_data()
    impls = {}
    jitted = dj.jit(lambda p, x, y: _cubic_train(dj.grad, dj.lax.fori_loop, jnp.sum, x, y)(p))
    jitted(p0, x, y)
    impls["dualjit"] = lambda: jitted(p0, x, y)
    if have("jax"):
        import jax
        import jax.numpy as jjnp

        jj = jax.jit(lambda p, x, y: _cubic_train(jax.grad, jax.lax.fori_loop, jjnp.sum, x, y)(p))
        jj(p0, x, y)[0].block_until_ready()
        impls["jax"] = lambda: jj(p0, x, y)[0].block_until_ready()
    return impls


def w1_step_from_python():
    import dualjit as dj
    import dualjit.numpy as jnp

    x, y, p0 = cubic_data()

    def loss(p):
        a, b, c, d = p
        return jnp.sum((a + b * x + c * x ** 2 + d * x ** 3 - y) ** 2)

    step = dj.jit(lambda p: tuple(pi - LR * gi for pi, gi in zip(p, dj.grad(loss)(p))))
    step(p0)

    def run_dualjit():
        p = p0
        for _ in range(200):
            p = step(p)
        return p

    impls = {"dualjit": run_dualjit}
    if have("jax"):
        import jax
        import jax.numpy as jjnp

        def jloss(p):
            a, b, c, d = p
            return jjnp.sum((a + b * x + c * x ** 2 + d * x ** 3 - y) ** 2)

        jstep = jax.jit(lambda p: tuple(pi - LR * gi for pi, gi in zip(p, jax.grad(jloss)(p))))
        jstep(p0)

        def run_jax():
            p = p0
            for _ in range(200):
                p = jstep(p)
            return p[0].block_until_ready()

        impls["jax"] = run_jax
    return impls


def w1_imperative():
    import dualjit as dj

    def make(lib, no_grad):
        x = lib.linspace(-math.pi, math.pi, 2000)
        y = x.sin()

        def run():
            params = [lib.tensor(v, requires_grad=True) for v in (0.1, 0.2, 0.3, 0.4)]
            for _ in range(STEPS):
                a, b, c, d = params
                loss = ((a + b * x + c * x ** 2 + d * x ** 3) - y).pow(2).sum()
                loss.backward()
                with no_grad():
                    for p in params:
                        p -= LR * p.grad
                        p.grad = None
        return run

    impls = {"dualjit": make(dj, dj.no_grad)}
    if have("torch"):
        import torch

        torch.set_num_threads(1)
        impls["torch"] = make(torch, torch.no_grad)
    return impls


def imperative_per_op():
    """1000 recorded multiplications of small tensors (f32[4], requires_grad)."""
    import dualjit as dj

    def make(lib):
        x = lib.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
        y = lib.tensor([0.5, 0.25, 2.0, 1.0])
        return lambda: [x * y for _ in range(1000)]

    impls = {"dualjit": make(dj)}
    if have("torch"):
        import torch

        torch.set_num_threads(1)
        impls["torch"] = make(torch)
    return impls


# -- W2: MLP step ------------------------------------------------------------------------------

def w2_mlp():
    import dualjit as dj
    import dualjit.numpy as jnp

    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 784)).astype(np.float32)
    labels = rng.integers(0, 10, 128)
    params = [rng.standard_normal((784, 256)).astype(np.float32) * 0.05,
              np.zeros(256, np.float32), rng.standard_normal((256, 10)).astype(np.float32) * 0.05,
              np.zeros(10, np.float32)]

    def loss(p, x, labels):
        h = jnp.tanh(x @ p[0] + p[1])
        return dj.nn.cross_entropy(h @ p[2] + p[3], labels)

    step = dj.jit(lambda p, x, l: [w - 0.1 * g for w, g in zip(p, dj.grad(loss)(p, x, l))])
    step(params, x, labels)
    impls = {"dualjit": lambda: step(params, x, labels)}
    if have("jax"):
        import jax
        import jax.numpy as jjnp

        def jloss(p, x, labels):
            h = jjnp.tanh(x @ p[0] + p[1])
            logits = h @ p[2] + p[3]
            return -jjnp.mean(jax.nn.log_softmax(logits)[jjnp.arange(128), labels])

        jstep = jax.jit(lambda p, x, l: [w - 0.1 * g for w, g in zip(p, jax.grad(jloss)(p, x, l))])
        jstep(params, x, labels)
        impls["jax"] = lambda: jstep(params, x, labels)[0].block_until_ready()
    return impls


# -- W3: elementwise-heavy f and its grad, n = 1e6 -------------------------------------------

def w3_elementwise(grad: bool):
    import dualjit as dj
    import dualjit.numpy as jnp

    x = np.random.default_rng(0).standard_normal(1_000_000)

    def f(x):
        return jnp.sum(jnp.sin(x) * jnp.cos(x) + jnp.exp(-x * x) * x ** 3)

    g = dj.jit(dj.grad(f) if grad else f)
    g(x)
    impls = {"dualjit": lambda: g(x)}
    if not grad:
        impls["numpy"] = lambda: np.sum(np.sin(x) * np.cos(x) + np.exp(-x * x) * x ** 3)
    if have("jax"):
        import jax
        import jax.numpy as jjnp

        def jf(x):
            return jjnp.sum(jjnp.sin(x) * jjnp.cos(x) + jjnp.exp(-x * x) * x ** 3)

        jax.config.update("jax_enable_x64", True)
        jg = jax.jit(jax.grad(jf) if grad else jf)
        jg(x).block_until_ready()
        impls["jax"] = lambda: jg(x).block_until_ready()
    return impls


# -- W4: dispatch ------------------------------------------------------------------------------

def w4_dispatch(kind: str):
    import dualjit as dj

    arg = np.float64(1.5) if kind == "scalar" else np.ones(8)
    f = dj.jit(lambda x: x * 2 + 1)
    f(arg)
    reps = 1000
    impls = {"dualjit": lambda: [f(arg) for _ in range(reps)]}
    impls["numpy (no compile)"] = lambda: [arg * 2 + 1 for _ in range(reps)]
    if have("jax"):
        import jax

        jf = jax.jit(lambda x: x * 2 + 1)
        jf(arg)
        impls["jax"] = lambda: [jf(arg) for _ in range(reps)]
    if have("numba"):
        import numba

        nf = numba.njit(lambda x: x * 2 + 1)
        nf(arg)
        impls["numba"] = lambda: [nf(arg) for _ in range(reps)]
    if have("torch"):
        import torch

        t = torch.tensor(arg)
        impls["torch"] = lambda: [t * 2 + 1 for _ in range(reps)]
    return impls


def w4_jit_grad_scalar():
    import dualjit as dj
    import dualjit.numpy as jnp

    g = dj.jit(dj.grad(lambda x: jnp.sin(x) * x))
    g(1.5)
    impls = {"dualjit": lambda: [g(1.5) for _ in range(1000)]}
    if have("jax"):
        import jax
        import jax.numpy as jjnp

        jg = jax.jit(jax.grad(lambda x: jjnp.sin(x) * x))
        jg(1.5)
        impls["jax"] = lambda: [jg(1.5) for _ in range(1000)]
    return impls


# -- W5: compile time --------------------------------------------------------------------------

def _chain(lib):
    def g(x):
        for k in range(50):
            x = lib.sin(x) * 0.5 + x * (0.1 + k * 1e-3) if k % 2 else lib.tanh(x) + 0.01 * x
        return lib.sum(x)
    return g


def w5_compile():
    import dualjit as dj
    import dualjit.numpy as jnp

    x = np.linspace(0, 1, 100)
    counter = [0]

    def run_dualjit():
        counter[0] += 1
        salt = counter[0] * 1e-9  # a new constant: a new Function, so no cache hides compiling
        dj.jit(dj.grad(lambda x: _chain(jnp)(x + salt)))(x)

    impls = {"dualjit": run_dualjit}
    if have("jax"):
        import jax
        import jax.numpy as jjnp

        def run_jax():
            counter[0] += 1
            salt = counter[0] * 1e-9
            jax.jit(jax.grad(lambda x: _chain(jjnp)(x + salt)))(x).block_until_ready()

        impls["jax"] = run_jax
    return impls


def w5_import():
    # pip byte-compiles a package it installs; an editable install (and an environment with
    # PYTHONDONTWRITEBYTECODE) has no .pyc files, which would time Python's compiler instead.
    import compileall

    import dualjit

    compileall.compile_dir(os.path.dirname(dualjit.__file__), quiet=1)

    def timed(module):
        def run():
            subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
        return run

    impls = {"dualjit": timed("dualjit"), "python (baseline)": timed("sys")}
    for peer in ("jax", "torch"):
        if have(peer):
            impls[peer] = timed(peer)
    return impls


# -- W6: matmul --------------------------------------------------------------------------------

def w6_matmul(dtype):
    import dualjit as dj
    import dualjit.numpy as jnp

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((512, 512)).astype(dtype), rng.standard_normal((512, 512)).astype(
        dtype)
    f = dj.jit(jnp.matmul)
    f(a, b)
    return {"dualjit": lambda: f(a, b), "numpy": lambda: a @ b}


WORKLOADS = {
    "W1 cubic fit, 2000 steps in one jit": w1_loop_in_jit,
    "W1 cubic fit, 2000 steps in one jit, data as arguments": w1_loop_data_as_arguments,
    "W1 cubic fit, 200 jitted steps from Python": w1_step_from_python,
    "W1 cubic fit, 2000 imperative steps": w1_imperative,
    "imperative per-op: 1000 recorded x*y on f32[4]": imperative_per_op,
    "W2 MLP 784-256-10 step, batch 128": w2_mlp,
    "W3 f(x), n=1e6, forward": lambda: w3_elementwise(False),
    "W3 f(x), n=1e6, grad": lambda: w3_elementwise(True),
    "W4 1000 calls of x*2+1, f64 scalar": lambda: w4_dispatch("scalar"),
    "W4 1000 calls of x*2+1, f64[8]": lambda: w4_dispatch("vector"),
    "W4 1000 calls of jit(grad(f)), scalar": w4_jit_grad_scalar,
    "W5 compile jit(grad(50-op chain))": w5_compile,
    "W5 import (fresh interpreter)": w5_import,
    "W6 matmul 512x512 f64": lambda: w6_matmul(np.float64),
    "W6 matmul 512x512 f32": lambda: w6_matmul(np.float32),
}
WORKLOADS.update(TORCH_API_WORKLOADS)  # issue 13: PyTorch programs, eager and compiled


def time_once(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0

# Issue 12's workloads (per-example gradients, Hessian, random normals): benchmarks/transforms.py
from .transforms import TRANSFORM_WORKLOADS  # noqa: E402

WORKLOADS.update(TRANSFORM_WORKLOADS)

# Issue 11's linear algebra and special functions: benchmarks/linalg_ops.py
from .linalg_ops import LINALG_WORKLOADS  # noqa: E402

WORKLOADS.update(LINALG_WORKLOADS)

# Issue 14's model workloads (LeNet CNN, transformer block, separable 1-D convs): benchmarks/models.py;
# under load: python -m benchmarks.load
from .models import MODEL_WORKLOADS  # noqa: E402

WORKLOADS.update(MODEL_WORKLOADS)

# numpy area (issue 11): scans and sorting
from .numpy_ops import NUMPY_WORKLOADS  # noqa: E402

WORKLOADS.update(NUMPY_WORKLOADS)
