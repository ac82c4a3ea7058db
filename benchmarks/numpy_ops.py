"""Benchmarks of dualjit.numpy's scans and sorting (issue 11) against JAX and NumPy."""

from __future__ import annotations

import numpy as np

from . import have

N = 1_000_000




def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal(N), rng.standard_normal(N)


def cumsum_grad():
    """The gradient of sum(cumsum(x) * w): a reversed running sum of w."""
    import dualjit as dj
    import dualjit.numpy as jnp

    x, w = _data()
    grad = dj.jit(dj.grad(lambda v: jnp.sum(jnp.cumsum(v) * w)))
    grad(x)
    impls = {"dualjit": lambda: grad(x),
             "numpy (by hand)": lambda: np.cumsum(w[::-1])[::-1].copy()}
    if have("jax"):
        import jax
        import jax.numpy as jjnp

        jw = jjnp.asarray(w)
        jgrad = jax.jit(jax.grad(lambda v: jjnp.sum(jjnp.cumsum(v) * jw)))
        jx = jjnp.asarray(x)
        jgrad(jx).block_until_ready()
        impls["jax"] = lambda: jgrad(jx).block_until_ready()
    return impls


def cumsum_grad_nonlinear():
    """The gradient of sum(sin(cumsum(x)) * w): reversed running sum of cos(cumsum(x)) * w.
    It depends on x (the gradient of sum(cumsum(x) * w) does not, and XLA folds all of it
    into a constant at compile time, so JAX's time for that one is a copy)."""
    import dualjit as dj
    import dualjit.numpy as jnp

    x, w = _data()
    x = x * 1e-3
    grad = dj.jit(dj.grad(lambda v: jnp.sum(jnp.sin(jnp.cumsum(v)) * w)))
    grad(x)
    impls = {"dualjit": lambda: grad(x),
             "numpy (by hand)": lambda: np.cumsum((np.cos(np.cumsum(x)) * w)[::-1])[::-1].copy()}
    if have("jax"):
        import jax
        import jax.numpy as jjnp

        jw = jjnp.asarray(w)
        jgrad = jax.jit(jax.grad(lambda v: jjnp.sum(jjnp.sin(jjnp.cumsum(v)) * jw)))
        jx = jjnp.asarray(x)
        jgrad(jx).block_until_ready()
        impls["jax"] = lambda: jgrad(jx).block_until_ready()
    return impls


def cumsum_forward():
    import dualjit as dj
    import dualjit.numpy as jnp

    x, _ = _data()
    run = dj.jit(jnp.cumsum)
    run(x)
    impls = {"dualjit": lambda: run(x), "numpy": lambda: np.cumsum(x)}
    if have("jax"):
        import jax
        import jax.numpy as jjnp

        jrun = jax.jit(jjnp.cumsum)
        jx = jjnp.asarray(x)
        jrun(jx).block_until_ready()
        impls["jax"] = lambda: jrun(jx).block_until_ready()
    return impls


def sort():
    import dualjit as dj
    import dualjit.numpy as jnp

    x, _ = _data()
    run = dj.jit(jnp.sort)
    run(x)
    impls = {"dualjit": lambda: run(x), "numpy": lambda: np.sort(x)}
    if have("jax"):
        import jax
        import jax.numpy as jjnp

        jrun = jax.jit(jjnp.sort)
        jx = jjnp.asarray(x)
        jrun(jx).block_until_ready()
        impls["jax"] = lambda: jrun(jx).block_until_ready()
    return impls


NUMPY_WORKLOADS = {
    "cumsum grad, f64[1e6]": cumsum_grad,
    "cumsum grad through sin, f64[1e6]": cumsum_grad_nonlinear,
    "cumsum, f64[1e6]": cumsum_forward,
    "sort, f64[1e6]": sort,
}
