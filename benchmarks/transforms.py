"""Benchmarks of issue 12: per-example gradients (vmap of grad), a Hessian, random normals.

`python -m benchmarks.transforms` runs them alone (interleaved passes, medians, ratios to
dualjit); `python -m benchmarks` runs them with the other workloads.
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from . import have


def _mlp_data():
    rng = np.random.default_rng(0)
    params = (rng.standard_normal((784, 256)).astype(np.float32) * 0.05,
              np.zeros(256, np.float32),
              rng.standard_normal((256, 10)).astype(np.float32) * 0.05,
              np.zeros(10, np.float32))
    x = rng.standard_normal((128, 784)).astype(np.float32)
    labels = rng.integers(0, 10, 128).astype(np.int32)
    return params, x, labels


def per_example_grads():
    import dualjit as dj
    import dualjit.numpy as jnp

    params, x, labels = _mlp_data()

    def loss(p, x, label):
        h = jnp.tanh(x @ p[0] + p[1])
        return -dj.nn.log_softmax(h @ p[2] + p[3])[label]

    f = dj.jit(dj.vmap(dj.grad(loss), in_axes=(None, 0, 0)))
    f(params, x, labels)
    impls = {"dualjit": lambda: f(params, x, labels)}
    if have("jax"):
        import jax
        import jax.numpy as jjnp

        def jloss(p, x, label):
            h = jjnp.tanh(x @ p[0] + p[1])
            return -jax.nn.log_softmax(h @ p[2] + p[3])[label]

        jf = jax.jit(jax.vmap(jax.grad(jloss), in_axes=(None, 0, 0)))
        jax.block_until_ready(jf(params, x, labels))
        impls["jax"] = lambda: jax.block_until_ready(jf(params, x, labels))
    if have("torch"):
        import torch
        from torch.func import grad, vmap

        tp = tuple(torch.from_numpy(a.copy()) for a in params)
        # torch.func.vmap cannot index by a batched label (.item()); one-hot rows instead
        tx, tl = torch.from_numpy(x), torch.from_numpy(np.eye(10, dtype=np.float32)[labels])

        def tloss(p, x, target):
            h = torch.tanh(x @ p[0] + p[1])
            return -torch.sum(torch.log_softmax(h @ p[2] + p[3], -1) * target)

        tf = vmap(grad(tloss), in_dims=(None, 0, 0))
        tf(tp, tx, tl)
        impls["torch.func"] = lambda: tf(tp, tx, tl)
    return impls


def _hessian_data():
    rng = np.random.default_rng(1)
    return (rng.standard_normal((64, 64)) / 8).astype(np.float64), rng.standard_normal(64)


def hessian64():
    import dualjit as dj
    import dualjit.numpy as jnp

    w, x = _hessian_data()

    def f(v):
        return jnp.sum(jnp.tanh(w @ v) ** 2) + jnp.sum(jnp.sin(v) * v)

    h = dj.jit(dj.hessian(f))
    h(x)
    impls = {"dualjit": lambda: h(x)}
    if have("jax"):
        import jax
        import jax.numpy as jjnp

        def jf(v):
            return jjnp.sum(jjnp.tanh(w @ v) ** 2) + jjnp.sum(jjnp.sin(v) * v)

        jh = jax.jit(jax.hessian(jf))

        def jax_hessian():
            # float64 only here: a global jax_enable_x64 would change the other JAX workloads
            with jax.enable_x64(True):
                return jax.block_until_ready(jh(x))

        jax_hessian()
        impls["jax"] = jax_hessian
    if have("torch"):
        import torch
        from torch.func import hessian

        tw, tx = torch.from_numpy(w), torch.from_numpy(x)

        def tf(v):
            return torch.sum(torch.tanh(tw @ v) ** 2) + torch.sum(torch.sin(v) * v)

        th = hessian(tf)
        th(tx)
        impls["torch.func"] = lambda: th(tx)
    return impls


def normals():
    import dualjit as dj

    key = dj.random.key(0)
    dj.random.normal(key, (1_000_000,), np.float32)
    impls = {"dualjit": lambda: dj.random.normal(key, (1_000_000,), np.float32)}
    if have("jax"):
        import jax

        jkey = jax.random.PRNGKey(0)
        jn = jax.jit(lambda k: jax.random.normal(k, (1_000_000,), np.float32))
        jax.block_until_ready(jn(jkey))
        impls["jax"] = lambda: jax.block_until_ready(jn(jkey))
    if have("torch"):
        import torch

        generator = torch.Generator().manual_seed(0)
        impls["torch (its own generator)"] = lambda: torch.randn(1_000_000, generator=generator)
    return impls


TRANSFORM_WORKLOADS = {
    "vmap(grad): per-example grads, MLP 784-256-10, batch 128": per_example_grads,
    "hessian of a 64-dim function (f64)": hessian64,
    "random.normal, 1e6 float32": normals,
}


def _repeats(fn, sample_seconds: float = 0.02) -> int:
    """Calls per sample, so that a sample of a sub-millisecond call is not mostly timer noise."""
    t0 = time.perf_counter()
    fn()
    return max(1, min(100, int(sample_seconds / max(time.perf_counter() - t0, 1e-6))))


def main(passes: int = 15) -> None:
    rows = []
    for name, build in TRANSFORM_WORKLOADS.items():
        impls = build()
        samples = {impl: [] for impl in impls}
        repeats = {impl: _repeats(fn) for impl, fn in impls.items()}
        for _ in range(passes):
            for impl, fn in impls.items():
                t0 = time.perf_counter()
                for _ in range(repeats[impl]):
                    fn()
                samples[impl].append((time.perf_counter() - t0) / repeats[impl])
        base = statistics.median(samples["dualjit"])
        for impl, times in samples.items():
            median = statistics.median(times)
            rows.append(f"| {name} | {impl} | {median * 1e3:.3f} ms | {median / base:.2f}x |")
        print(rows[-1], file=sys.stderr)
    print("| workload | implementation | median | time / dualjit's |\n|---|---|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
