"""`python -m dualjit demo`: the cubic fit of sin both ways, the gradient IR, native code, timing."""

from __future__ import annotations

import math
import sys
import time

import numpy as np

STEPS, LR = 2000, 1e-6


def _progress(label: str):
    def show(step: int, loss: float) -> None:
        if step % 50 == 0 or step == STEPS - 1:
            sys.stdout.write(f"\r  {label}: step {step + 1:5d}/{STEPS}  loss {loss:12.4f}")
            sys.stdout.flush()
    return show


def _numpy_step_time(x: np.ndarray, y: np.ndarray, start) -> float:
    a, b, c, d = start
    t0 = time.perf_counter()
    for _ in range(200):
        pred = a + b * x + c * x ** 2 + d * x ** 3
        g = 2 * (pred - y)
        a, b, c, d = (a - LR * g.sum(), b - LR * (g * x).sum(), c - LR * (g * x ** 2).sum(),
                      d - LR * (g * x ** 3).sum())
    return (time.perf_counter() - t0) / 200


def run_demo() -> None:
    import dualjit as dj
    import dualjit.numpy as jnp

    rng = np.random.default_rng(0)
    start = [float(v) for v in rng.standard_normal(4).astype(np.float32)]
    print("dualjit demo: fit y = a + b x + c x^2 + d x^3 to sin(x) on [-pi, pi], 2000 points\n")

    print("1. Imperative (PyTorch's spelling): tensors with requires_grad, backward(), no_grad")
    x = dj.linspace(-math.pi, math.pi, 2000)
    y = x.sin()
    params = [dj.tensor(v, requires_grad=True) for v in start]
    show = _progress("imperative")
    t0 = time.perf_counter()
    for t in range(STEPS):
        a, b, c, d = params
        loss = ((a + b * x + c * x ** 2 + d * x ** 3) - y).pow(2).sum()
        show(t, loss.item())
        loss.backward()
        with dj.no_grad():
            for p in params:
                p -= LR * p.grad
                p.grad = None
    imperative_time = (time.perf_counter() - t0) / STEPS
    print(f"\n  result: {' '.join(f'{p.item():+.4f}' for p in params)}")

    print("\n2. Functional (JAX's spelling): dj.grad, and the whole loop in one dj.jit")
    xs, ys = x.numpy(), y.numpy()

    def loss_fn(p):
        a, b, c, d = p
        return jnp.sum(((a + b * xs + c * xs ** 2 + d * xs ** 3) - ys) ** 2)

    def step(_, p):
        g = dj.grad(loss_fn)(p)
        return tuple(pi - LR * gi for pi, gi in zip(p, g))

    p0 = tuple(np.float32(v) for v in start)
    train = dj.jit(lambda p: dj.lax.fori_loop(0, STEPS, step, p))
    t0 = time.perf_counter()
    final = train(p0)
    compile_and_run = time.perf_counter() - t0
    t0 = time.perf_counter()
    final = train(p0)
    loop_time = (time.perf_counter() - t0) / STEPS
    print(f"  result: {' '.join(f'{float(p):+.4f}' for p in final)}   "
          f"final loss {float(dj.jit(loss_fn)(final)):.4f}")
    agree = np.allclose([p.item() for p in params], [float(p) for p in final], rtol=1e-3,
                        atol=1e-5)
    print(f"  imperative and functional parameters agree: {agree}")

    print("\n3. The gradient program, as dualjit IR (dj.make_ir(dj.grad(loss))):\n")
    print("\n".join("  " + line for line in dj.make_ir(dj.grad(loss_fn))(p0).text.splitlines()))

    lowered = dj.jit(dj.grad(loss_fn)).lower(p0)
    try:
        asm = lowered.asm()
        print(f"\n4. Native code for the gradient: {len(lowered.llvm_ir().splitlines())} lines "
              f"of optimized LLVM IR, {len(asm.splitlines())} lines of x86 assembly")
    except RuntimeError as error:
        print(f"\n4. Native code unavailable: {error}")

    numpy_time = _numpy_step_time(xs.astype(np.float64), ys.astype(np.float64), start)
    print("\n5. Time per training step, measured now:")
    print(f"  plain numpy (hand-written gradient)   {numpy_time * 1e6:9.1f} us")
    print(f"  dualjit imperative (backward())       {imperative_time * 1e6:9.1f} us")
    print(f"  dualjit jit(fori_loop(grad))          {loop_time * 1e6:9.1f} us "
          f"(first call incl. compile: {compile_and_run * 1e3:.0f} ms)")

    try:
        sys.path.insert(0, "examples")
        from cubic_fit import save_plot  # type: ignore

        path = save_plot([p.item() for p in params])
        if path:
            print(f"\nSaved the plot to {path}")
    except ImportError:
        pass
