"""Benchmarks of dualjit.numpy.linalg, dualjit.scipy.linalg and scipy.special (issue 11)
against NumPy/SciPy and JAX, measured in the same run (interleaved by benchmarks.__main__)."""

from __future__ import annotations

import os

import numpy as np
import scipy.linalg as sl
import scipy.special as ss


def _jax():
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        return jax
    except Exception:
        return None


def _spd(n, batch=()):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def _add_jax(impls, make, *args):
    """impls["jax"]: jax.jit(make(jnp, jsl)) on device copies of args, compiled first."""
    jax = _jax()
    if jax is None:
        return impls
    import jax.numpy as jjnp
    import jax.scipy.linalg as jjsl

    fn = jax.jit(make(jax, jjnp, jjsl))
    jargs = [jjnp.asarray(a) for a in args]
    jax.block_until_ready(fn(*jargs))
    impls["jax"] = lambda: jax.block_until_ready(fn(*jargs))
    return impls


def _dualjit(make, *args):
    import dualjit as dj
    import dualjit.numpy as jnp
    import dualjit.scipy.linalg as jsl

    fn = dj.jit(make(dj, jnp, jsl))
    fn(*args)
    return lambda: fn(*args)


def _solve(a_shape, b_shape):
    rng = np.random.default_rng(1)
    a = rng.standard_normal(a_shape) + a_shape[-1] ** 0.5 * np.eye(a_shape[-1])
    b = rng.standard_normal(b_shape)

    def make(dj, jnp, jsl):
        return lambda a, b: jnp.linalg.solve(a, b)
    impls = {"dualjit": _dualjit(make, a, b), "numpy": lambda: np.linalg.solve(a, b)}
    return _add_jax(impls, make, a, b)


def solve_256():
    return _solve((256, 256), (256, 1))


def solve_batched():
    return _solve((64, 32, 32), (64, 32, 1))


# A GP's negative log marginal likelihood in its kernel matrix's hyperparameters: squared
# exponential kernel with lengthscale l and noise s on n = 512 points in 3-D.
GP_N = 512


def _gp_data():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((GP_N, 3))
    y = np.sin(x.sum(axis=1)) + 0.1 * rng.standard_normal(GP_N)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    return d2, y, np.array([0.8, 0.3])


def _gp_loss(jnp, cho_factor, cho_solve):
    def loss(theta, d2, y):
        k = jnp.exp(-0.5 * d2 / theta[0] ** 2) + theta[1] ** 2 * jnp.eye(GP_N)
        c = cho_factor(k, lower=True)
        alpha = cho_solve(c, y)
        half_logdet = jnp.sum(jnp.log(jnp.sum(c[0] * jnp.eye(GP_N), axis=1)))  # log diag
        return 0.5 * jnp.dot(y, alpha) + half_logdet + 0.5 * GP_N * np.log(2 * np.pi)
    return loss


def _gp_numpy(theta, d2, y, grad):
    """The loss, and with grad its gradient by hand: dL/dK = (K^-1 - alpha alpha^T) / 2."""
    e = np.exp(-0.5 * d2 / theta[0] ** 2)
    k = e + theta[1] ** 2 * np.eye(GP_N)
    c = sl.cho_factor(k, lower=True)
    alpha = sl.cho_solve(c, y)
    loss = 0.5 * y @ alpha + np.log(np.diag(c[0])).sum() + 0.5 * GP_N * np.log(2 * np.pi)
    if not grad:
        return loss
    dk = 0.5 * (sl.cho_solve(c, np.eye(GP_N)) - np.outer(alpha, alpha))
    dl = np.sum(dk * e * d2) / theta[0] ** 3
    ds = 2 * theta[1] * np.trace(dk)
    return np.array([dl, ds])


def _gp(grad: bool):
    d2, y, theta = _gp_data()

    def make(dj, jnp, jsl):
        loss = _gp_loss(jnp, jsl.cho_factor, jsl.cho_solve)
        return dj.grad(loss) if grad else loss
    impls = {"dualjit": _dualjit(make, theta, d2, y),
             "numpy+scipy (by hand)": lambda: _gp_numpy(theta, d2, y, grad)}
    return _add_jax(impls, make, theta, d2, y)


def gp_marginal_likelihood():
    return _gp(grad=False)


def gp_marginal_likelihood_grad():
    return _gp(grad=True)


def slogdet():
    """sign and log|det A| of a f64[256,256]."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((256, 256)) + 16 * np.eye(256)

    def make(dj, jnp, jsl):
        return lambda a: jnp.linalg.slogdet(a)
    impls = {"dualjit": _dualjit(make, a), "numpy": lambda: np.linalg.slogdet(a)}
    return _add_jax(impls, make, a)


def slogdet_grad():
    """d log|det A| / dA = A^-T, n = 256."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((256, 256)) + 16 * np.eye(256)

    def make(dj, jnp, jsl):
        return dj.grad(lambda a: jnp.linalg.slogdet(a)[1])
    impls = {"dualjit": _dualjit(make, a), "numpy (by hand)": lambda: np.linalg.inv(a).T.copy()}
    return _add_jax(impls, make, a)


def erf_1e6():
    x = np.random.default_rng(4).standard_normal(1_000_000) * 2

    def make(dj, jnp, jsl):
        if dj.__name__ == "jax":
            import jax.scipy.special as special
        else:
            import dualjit.scipy.special as special
        return special.erf
    impls = {"dualjit": _dualjit(make, x), "scipy": lambda: ss.erf(x)}
    return _add_jax(impls, make, x)


LINALG_WORKLOADS = {
    "linalg.solve, f64[256,256]": solve_256,
    "linalg.solve, 64 x f64[32,32]": solve_batched,
    "GP marginal likelihood (cholesky + cho_solve), n=512": gp_marginal_likelihood,
    "GP marginal likelihood grad, n=512": gp_marginal_likelihood_grad,
    "slogdet, f64[256,256]": slogdet,
    "slogdet grad, f64[256,256]": slogdet_grad,
    "scipy.special.erf, f64[1e6]": erf_1e6,
}


def main() -> None:
    """python -m benchmarks.linalg_ops [passes]: these workloads alone, interleaved, with the
    table written to benchmarks/results/linalg.md."""
    import sys

    from . import __main__ as harness

    passes = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    from .numpy_ops import NUMPY_WORKLOADS

    harness.WORKLOADS.clear()
    harness.WORKLOADS.update(LINALG_WORKLOADS)
    harness.WORKLOADS.update(NUMPY_WORKLOADS)
    load = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else "?"
    rows = harness.run(passes, None)
    threads = {k: os.environ.get(k, "unset") for k in (
        "OPENBLAS_NUM_THREADS", "DUALJIT_NUM_THREADS", "XLA_FLAGS")}
    text = (f"Machine: {harness.machine()}\n\nMedian of {passes} interleaved passes; float64; "
            f"load average before the run {' '.join(load)}; {threads}.\n\n"
            + harness.table(rows))
    (harness.RESULTS / "linalg.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
