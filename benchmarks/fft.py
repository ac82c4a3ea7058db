"""python -m benchmarks.fft [--passes N] [--log2n K]: the FFT workloads of issue 16.

rfft + irfft of 2**K float64 values (dualjit, NumPy, JAX), and the gradient of a spectral loss
(dualjit with and without the FFT-pair rewrite of ir/fft_pairs.py, JAX), timed interleaved
over several passes so every peer sees the same machine load.
Prints medians and each peer's time divided by dualjit's (above 1: dualjit is faster).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import dualjit as dj
import dualjit.numpy as jnp
from dualjit.ir import fft_pairs


def _have_jax() -> bool:
    try:
        import jax  # noqa: F401
    except ImportError:
        return False
    return True


def compiled_without_pair_rewrite(jitted, x: np.ndarray):
    """jitted, compiled for x without ir/fft_pairs.py's rewrite (it stays so when called)."""
    fft_pairs.enabled = False
    try:
        jitted(x)
    finally:
        fft_pairs.enabled = True
    return jitted


def round_trip_workloads(x: np.ndarray) -> dict:
    n = x.size
    # compiled without the pair rewrite, which would make irfft(rfft(x)) a copy of x: this
    # workload times the transforms themselves
    round_trip = dj.jit(lambda x: jnp.fft.irfft(jnp.fft.rfft(x), n=n))
    out = {"dualjit": compiled_without_pair_rewrite(round_trip, x),
           "numpy": lambda x: np.fft.irfft(np.fft.rfft(x), n=n)}
    if _have_jax():
        import jax
        import jax.numpy as jxn

        jax.config.update("jax_enable_x64", True)
        f = jax.jit(lambda x: jxn.fft.irfft(jxn.fft.rfft(x), n=n))
        out["jax"] = lambda x: f(x).block_until_ready()
    return out


def spectral_loss(np_like, fft_module, target, weights):
    """sum(w |X|^2) / n + |irfft(w X) - target|^2: a smoothness penalty plus a data term."""
    n = target.size

    def loss(x):
        spectrum = fft_module.rfft(x)
        smooth = fft_module.irfft(spectrum * weights, n=n)
        power = np_like.real(spectrum * np_like.conj(spectrum))
        return np_like.sum(power * weights) / n + np_like.sum((smooth - target) ** 2)
    return loss


def gradient_workloads(x: np.ndarray) -> dict:
    rng = np.random.default_rng(1)
    target = rng.standard_normal(x.size)
    weights = np.linspace(0.0, 1.0, x.size // 2 + 1)
    out = {"dualjit": dj.jit(dj.grad(spectral_loss(jnp, jnp.fft, target, weights)))}
    # the same program compiled without ir/fft_pairs.py's rewrite (four FFTs instead of two)
    four = dj.jit(dj.grad(spectral_loss(jnp, jnp.fft, target, weights)))
    out["dualjit without the FFT-pair rewrite"] = compiled_without_pair_rewrite(four, x)
    if _have_jax():
        import jax
        import jax.numpy as jxn

        jax.config.update("jax_enable_x64", True)
        g = jax.jit(jax.grad(spectral_loss(jxn, jxn.fft, target, weights)))
        out["jax"] = lambda x: g(x).block_until_ready()
    return out


def check(workloads: dict, x: np.ndarray) -> None:
    results = {name: np.asarray(f(x)) for name, f in workloads.items()}
    reference = results.pop("dualjit")
    for name, value in results.items():
        np.testing.assert_allclose(value, reference, rtol=1e-9, atol=1e-9, err_msg=name)


def run(title: str, workloads: dict, x: np.ndarray, passes: int, reps: int) -> None:
    check(workloads, x)  # also compiles everything before timing
    times = {name: [] for name in workloads}
    names = list(workloads)
    for p in range(passes):
        for name in (names if p % 2 == 0 else names[::-1]):
            f = workloads[name]
            start = time.perf_counter()
            for _ in range(reps):
                f(x)
            times[name].append((time.perf_counter() - start) / reps)
    base = statistics.median(times["dualjit"])
    print(f"\n{title}")
    print("| implementation | median | time / dualjit's |\n|---|---:|---:|")
    for name in names:
        m = statistics.median(times[name])
        print(f"| {name} | {m * 1e3:.2f} ms | {m / base:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=15)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--log2n", type=int, default=20)
    args = parser.parse_args()
    x = np.random.default_rng(0).standard_normal(2 ** args.log2n)
    run(f"rfft + irfft of 2**{args.log2n} float64", round_trip_workloads(x), x, args.passes,
        args.reps)
    run(f"gradient of a spectral loss, 2**{args.log2n} float64", gradient_workloads(x), x,
        args.passes, args.reps)


if __name__ == "__main__":
    main()
