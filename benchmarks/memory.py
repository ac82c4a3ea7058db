"""Peak memory of one W3 grad call (f64[1e6]) above the process's memory just before it.

Each implementation runs in a fresh process: it compiles and runs once, then resets the
kernel's resident-set high-water mark (/proc/self/clear_refs, Linux) and runs again; the
result is the peak resident memory during that call minus the resident memory before it.
This counts numpy's and XLA's allocators alike.
"""

from __future__ import annotations

import subprocess
import sys

PROGRAMS = {
    "dualjit": """
import dualjit as dj, dualjit.numpy as jnp
def f(x): return jnp.sum(jnp.sin(x) * jnp.cos(x) + jnp.exp(-x * x) * x ** 3)
g = dj.jit(dj.grad(f))
run = lambda: g(x)
""",
    "jax": """
import jax, jax.numpy as jnp
jax.config.update("jax_enable_x64", True)
def f(x): return jnp.sum(jnp.sin(x) * jnp.cos(x) + jnp.exp(-x * x) * x ** 3)
g = jax.jit(jax.grad(f))
run = lambda: g(x).block_until_ready()
""",
}

MEASURE = """
import gc, numpy as np
x = np.random.default_rng(0).standard_normal(1_000_000)
{program}
out = run(); del out
gc.collect()
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])  # kB
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status("VmRSS:")
out = run()
print((status("VmHWM:") - before) / 1024)
"""


def peak_memory() -> dict[str, float | str]:
    results: dict[str, float | str] = {}
    for name, program in PROGRAMS.items():
        try:
            out = subprocess.run([sys.executable, "-c", MEASURE.format(program=program)],
                                 capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            results[name] = "timed out"
            continue
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or ["?"])[-1]
            results[name] = "unavailable" if "ModuleNotFoundError" in last else f"failed: {last}"
        else:
            results[name] = float(out.stdout.strip().splitlines()[-1])
    return results


def table(results: dict[str, float | str]) -> str:
    lines = ["| W3 grad, f64[1e6]: peak memory above baseline | MB |", "|---|---:|"]
    for name, value in results.items():
        lines.append(f"| {name} | {value:.1f} |" if isinstance(value, float)
                     else f"| {name} | {value} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(peak_memory()))
