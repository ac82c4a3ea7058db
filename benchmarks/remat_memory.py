"""Peak memory of a deep residual MLP's gradient, plain and checkpointed (dj.checkpoint per block).

Same method as memory.py: each case runs in a fresh process, compiles and runs once, resets the
resident-set high-water mark and runs again; the result is the peak resident memory during that
call minus the resident memory before it. Blocks are x + tanh(x @ w1) @ w2 (B=2048, D=128,
H=512, 32 blocks, float32): without checkpointing the gradient stores each block's input and
its B x H hidden activation; checkpointed, only the block inputs.
"""

from __future__ import annotations

import subprocess
import sys

SETUP = """
import numpy as np
B, D, H, L = 2048, 128, 512, 32
rng = np.random.default_rng(0)
params = [(rng.standard_normal((D, H)).astype(np.float32) * 0.05,
           rng.standard_normal((H, D)).astype(np.float32) * 0.05) for _ in range(L)]
x = rng.standard_normal((B, D)).astype(np.float32)
"""

DUALJIT = """
import dualjit as dj, dualjit.numpy as jnp
def block(x, w):
    return x + jnp.tanh(x @ w[0]) @ w[1]
blk = {wrap}
def loss(params, x):
    for w in params:
        x = blk(x, w)
    return jnp.mean(x * x)
g = dj.jit(dj.grad(loss))
run = lambda: g(params, x)
"""

JAX = """
import jax, jax.numpy as jnp
def block(x, w):
    return x + jnp.tanh(x @ w[0]) @ w[1]
blk = {wrap}
def loss(params, x):
    for w in params:
        x = blk(x, w)
    return jnp.mean(x * x)
g = jax.jit(jax.grad(loss))
run = lambda: jax.block_until_ready(g(params, x))
"""

CASES = {
    "dualjit": DUALJIT.format(wrap="block"),
    "dualjit checkpoint": DUALJIT.format(wrap="dj.checkpoint(block)"),
    "dualjit checkpoint(dots_saveable)": DUALJIT.format(
        wrap="dj.checkpoint(block, policy=dj.checkpoint_policies.dots_saveable)"),
    "jax": JAX.format(wrap="block"),
    "jax checkpoint": JAX.format(wrap="jax.checkpoint(block)"),
}

MEASURE = """
import gc
{setup}
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
    for name, program in CASES.items():
        code = MEASURE.format(setup=SETUP, program=program)
        try:
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 timeout=600)
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
    lines = ["| deep MLP gradient (32 blocks, B=2048, D=128, H=512, f32): peak memory above "
             "baseline | MB | / same library without checkpoint |", "|---|---:|---:|"]
    for name, value in results.items():
        base = results.get(name.split()[0])
        ratio = f"{value / base:.2f}" if isinstance(value, float) and isinstance(base, float) \
            else ""
        shown = f"{value:.1f}" if isinstance(value, float) else value
        lines.append(f"| {name} | {shown} | {ratio} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(peak_memory()))
