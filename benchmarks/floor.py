"""python -m benchmarks.floor [--passes P]: the time a speed goal asks for, against what this
machine can do at all.

The goals left open compare dualjit with a peer on workloads whose time is mostly matrix
products: W8 (the transformer block's step) against PyTorch eager and JAX, T2 (the MLP
epoch) against PyTorch eager and `torch.compile`. A goal "at least r times faster than the
peer" asks for a time of at most peer / r. One run measures, interleaved:

- the machine's peak float32 multiply-add rate: an LLVM kernel of independent fused
  multiply-add chains on 8-lane vectors, one thread per core, nothing else (no loads);
- the workload's products alone, with the shapes, transposes and batch loops of dualjit's
  own kernels, through NumPy's OpenBLAS and through PyTorch's MKL (whichever is faster is
  the library floor: an implementation calling a library gemm cannot beat it);
- dualjit and the peers on the workload itself.

It prints, per goal, the time the goal asks for beside two lower bounds of any
implementation: the products' floating-point operations at the FMA peak (whatever its gemm:
no code can multiply faster than the machine), and the products alone at the faster library.
A goal asking for less than the first is out of reach on this machine; one asking for less
than the second needs a gemm faster than both OpenBLAS and MKL on these shapes and every
other operation of the step (normalizations, softmax, activations, reductions, optimizer
update, Python) in no time.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import threading
import time

import numpy as np

CHAINS = 12  # independent FMA chains: enough to cover the latency of two FMA pipes


def _fma_kernel_ir(chains: int) -> str:
    """LLVM IR of `void fma_chains(i64 n, float* xy, float* out)`: n rounds of `chains`
    independent a = fma(a, x, y) on <8 x float>, x and y loaded once (not constants, so
    nothing folds), the chains summed into out at the end."""
    vec = "<8 x float>"
    lines = ["declare <8 x float> @llvm.fma.v8f32(<8 x float>, <8 x float>, <8 x float>)",
             "define void @fma_chains(i64 %n, float* %xy, float* %out) {",
             "entry:",
             "  %px = bitcast float* %xy to <8 x float>*",
             f"  %x = load {vec}, {vec}* %px, align 4",
             "  %py0 = getelementptr float, float* %xy, i64 8",
             "  %py = bitcast float* %py0 to <8 x float>*",
             f"  %y = load {vec}, {vec}* %py, align 4",
             "  br label %loop", "loop:",
             "  %i = phi i64 [0, %entry], [%i1, %loop]"]
    lines += [f"  %a{c} = phi {vec} [%y, %entry], [%b{c}, %loop]" for c in range(chains)]
    lines += [f"  %b{c} = call {vec} @llvm.fma.v8f32({vec} %a{c}, {vec} %x, {vec} %y)"
              for c in range(chains)]
    lines += ["  %i1 = add i64 %i, 1", "  %more = icmp ult i64 %i1, %n",
              "  br i1 %more, label %loop, label %done", "done:"]
    total = "%b0"
    for c in range(1, chains):
        lines.append(f"  %s{c} = fadd {vec} {total}, %b{c}")
        total = f"%s{c}"
    lines += ["  %po = bitcast float* %out to <8 x float>*",
              f"  store {vec} {total}, {vec}* %po, align 4", "  ret void", "}"]
    return "\n".join(lines)


class PeakRate:
    """The FMA kernel compiled for this CPU; rate(threads) runs it on that many threads at
    once (ctypes releases the GIL) and returns float32 GFLOP/s (a multiply-add is two)."""

    def __init__(self):
        from dualjit.codegen import engine

        binding = engine.llvm()
        module = binding.parse_assembly(_fma_kernel_ir(CHAINS))
        module.verify()
        self._engine = binding.create_mcjit_compiler(module, engine.target_machine(3))
        self._engine.finalize_object()
        address = self._engine.get_function_address("fma_chains")
        self._fn = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_void_p,
                                    ctypes.c_void_p)(address)
        self._xy = np.concatenate([np.full(8, 1.0000001, np.float32),
                                   np.full(8, 0.9999999, np.float32)])

    def _run(self, rounds: int, out: np.ndarray) -> None:
        self._fn(rounds, self._xy.ctypes.data, out.ctypes.data)

    def rate(self, threads: int, rounds: int = 20_000_000) -> float:
        outs = [np.zeros(8, np.float32) for _ in range(threads)]
        workers = [threading.Thread(target=self._run, args=(rounds, out)) for out in outs]
        start = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        seconds = time.perf_counter() - start
        return threads * rounds * CHAINS * 8 * 2 / seconds / 1e9


# -- the workloads' products ------------------------------------------------------------------

class Products:
    """A workload's products alone: calls [(m, n, k, lhs Matrix, rhs Matrix, batch count,
    multiply-adds)] as in dualjit's plan (benchmarks.w8_floor.gemm_calls), each as a stack
    of row-major (count, m, k) @ (count, k, n) products, through NumPy's OpenBLAS (np.matmul,
    BLAS on every core) or PyTorch's MKL (torch.mm / torch.bmm on the same memory, PyTorch's
    default threads). The kernels' transposed operands are not reproduced: a library gemm
    packs either layout at the same cost, but np.matmul falls back to its own loops for some
    transposed stacks, which would make the floor a measure of NumPy's dispatch."""

    def __init__(self, calls):
        self.flop = 2 * sum(c[6] for c in calls)
        rng = np.random.default_rng(0)
        self.items = [(rng.standard_normal((count, m, k)).astype(np.float32),
                       rng.standard_normal((count, k, n)).astype(np.float32),
                       np.empty((count, m, n), np.float32))
                      for m, n, k, _, _, count, _ in calls]
        try:
            import torch
        except ImportError:
            self.torch_items = None
        else:
            self.torch_items = [tuple(torch.from_numpy(x) for x in item) for item in self.items]

    def run_openblas(self) -> None:
        from dualjit.codegen import threads

        before = threads.blas_threads()
        threads.set_blas_threads(os.cpu_count() or 1)
        try:
            for lhs, rhs, out in self.items:
                if len(out) == 1:
                    np.matmul(lhs[0], rhs[0], out=out[0])
                else:
                    np.matmul(lhs, rhs, out=out)
        finally:
            threads.set_blas_threads(before or 1)

    def run_torch(self) -> None:
        import torch

        for lhs, rhs, out in self.torch_items:
            if len(out) == 1:
                torch.mm(lhs[0], rhs[0], out=out[0])
            else:
                torch.bmm(lhs, rhs, out=out)


def w8():
    """W8's step: dualjit, JAX and PyTorch eager (benchmarks.models), and its products."""
    import dualjit as dj

    from . import models as M
    from .w8_floor import gemm_calls

    impls = M.w8_transformer()
    impls.pop("torch.compile", None)  # (no goal against it)
    params, x = M.transformer_data()
    ops = M.dualjit_ops()
    step = dj.jit(dj.grad(lambda p, x: M.transformer_loss(ops, p, x)))
    goals = [("torch eager", 2.0, "dualjit"), ("jax", 1.5, "dualjit")]
    return "W8 transformer block fwd+bwd", impls, Products(gemm_calls(step, params, x)), goals


def t2():
    """T2's epoch (dualjit eager and compiled), PyTorch's, and the step's products (from the
    compiled step's plan, times the epoch's 60 steps)."""
    import dualjit as dj
    from dualjit.eager.backward import compile_function

    from . import torch_api as T
    from .w8_floor import plan_gemm_calls

    eager_step, batches = T.mlp_setup(dj)
    compiled_step, compiled_batches = T.mlp_setup(dj)
    compiled_step = dj.compile(compiled_step)
    T._mlp_run(compiled_step, compiled_batches)()
    (program,) = compiled_step._programs.values()
    calls = plan_gemm_calls(compile_function(program.function).plan)
    calls = [(m, n, k, a, b, count * T.BATCHES, macs * T.BATCHES)
             for m, n, k, a, b, count, macs in calls]
    impls = {"dualjit eager": T._mlp_run(eager_step, batches),
             "dualjit compiled": T._mlp_run(compiled_step, compiled_batches)}
    torch = T._torch()
    step, data = T.mlp_setup(torch)
    impls["torch eager"] = T._mlp_run(step, data)
    step, data = T.mlp_setup(torch)
    step = torch.compile(step)
    T._mlp_run(step, data)()
    impls["torch.compile"] = T._mlp_run(step, data)
    impls[HAND_WRITTEN] = HandWrittenMLP(T.mlp_parts(dj)[1], batches).epoch
    goals = [("torch eager", 1.5, "dualjit eager"), ("torch.compile", 2.0, "dualjit compiled")]
    return "T2 MLP epoch (60 x 128)", impls, Products(calls), goals


HAND_WRITTEN = "the step written by hand in NumPy (no autograd, no framework, in place)"


class HandWrittenMLP:
    """T2's step as a program written by hand for this one model, no framework: NumPy calls
    doing exactly the step's arithmetic (forward, softmax cross-entropy, its gradient by the
    closed form, the ReLU mask, the five products, SGD with momentum in place on float32
    arrays). Not a bound of the machine, but of the approach: an eager implementation does at
    least this work in at least this many library calls (plus recording and dispatch)."""

    def __init__(self, model, batches, lr=0.01, momentum=0.9):
        first, _, second = model
        self.params = [np.array(t.detach().numpy(), np.float32) for t in
                       (first.weight, first.bias, second.weight, second.bias)]
        self.velocity = [np.zeros_like(p) for p in self.params]
        self.steps = 0
        self.batches = [(np.asarray(x.numpy()), np.asarray(t.numpy())) for x, t in batches]
        self.lr, self.momentum = lr, momentum

    def step(self, x, target) -> float:
        w1, b1, w2, b2 = self.params
        rows = np.arange(len(target))
        h = x @ w1.T
        h += b1
        np.maximum(h, 0, out=h)
        p = h @ w2.T
        p += b2
        p -= p.max(axis=1, keepdims=True)
        np.exp(p, out=p)
        p /= p.sum(axis=1, keepdims=True)
        loss = float(-np.log(p[rows, target]).mean())
        p[rows, target] -= 1  # d loss / d logits = (softmax - onehot) / batch
        p /= len(target)
        dh = p @ w2
        dh *= h > 0
        grads = (dh.T @ x, dh.sum(axis=0), p.T @ h, p.sum(axis=0))
        for param, v, g in zip(self.params, self.velocity, grads):
            if self.steps:  # (PyTorch's first step sets the buffer to the gradient)
                v *= self.momentum
                v += g
            else:
                v[...] = g
            param -= self.lr * v
        self.steps += 1
        return loss

    def epoch(self) -> None:
        for x, target in self.batches:
            self.step(x, target)


def _median_ms(samples):
    return statistics.median(samples) * 1e3


def measure(workload, passes: int, settle: float) -> list[str]:
    """One workload's table rows: interleaved passes over its implementations, the products
    alone (OpenBLAS, MKL) and the FMA peak; then each goal against the bounds."""
    name, impls, products, goals = workload
    peak = PeakRate()
    timed = dict(impls)
    timed["products alone, OpenBLAS"] = products.run_openblas
    if products.torch_items is not None:
        timed["products alone, MKL (torch.mm/bmm)"] = products.run_torch
    for fn in timed.values():  # warm
        fn()
    samples: dict[str, list[float]] = {k: [] for k in timed}
    rates = []
    for _ in range(passes):
        for key, fn in timed.items():
            time.sleep(settle)
            start = time.perf_counter()
            fn()
            samples[key].append(time.perf_counter() - start)
        time.sleep(settle)
        rates.append(peak.rate(os.cpu_count() or 1))
    ms = {k: _median_ms(v) for k, v in samples.items()}
    rate = max(rates)  # a capability: the best pass is the least disturbed
    at_peak = products.flop / rate / 1e6
    library = min(v for k, v in ms.items() if k.startswith("products alone"))
    by_hand = ms.get(HAND_WRITTEN)
    rows = [f"| {name}: {k} | {v:.1f} ms |" for k, v in ms.items()]
    rows.append(f"| {name}: its products' {products.flop / 1e9:.2f} GFLOP at the FMA peak "
                f"({rate:.0f} GFLOP/s on {os.cpu_count()} cores, best of {passes}) | "
                f"{at_peak:.1f} ms |")
    verdicts = []
    for peer, ratio, ours in goals:
        if peer not in ms:
            continue
        need = ms[peer] / ratio
        if need < at_peak:
            verdict = ("below its products' time at the FMA peak: out of reach on this machine for "
                       "any implementation")
        elif need < library:
            verdict = ("below the products alone at the faster library gemm: it needs a "
                       "faster gemm than OpenBLAS's and MKL's, and the rest in no time")
        elif by_hand is not None and need < by_hand:
            verdict = (f"below the step written by hand in NumPy ({by_hand:.1f} ms): it "
                       f"needs the rest of the step ({by_hand - library:.1f} ms there) in "
                       f"{need - library:.1f} ms")
        else:
            verdict = (f"reachable: {need - library:.1f} ms beside the products alone for "
                       f"the rest of the step")
        verdicts.append(f"- {name}, {ours} >= {ratio:g}x {peer}: needs <= {need:.1f} ms "
                        f"({peer} {ms[peer]:.1f} / {ratio:g}); measured {ms[ours]:.1f} ms "
                        f"({ms[peer] / ms[ours]:.2f}x): {verdict}.")
    return rows, verdicts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=7)
    parser.add_argument("--settle", type=float, default=0.3,
                        help="seconds of sleep before each timed call")
    parser.add_argument("--only", choices=("W8", "T2"))
    args = parser.parse_args(argv)
    load = os.getloadavg()
    rows, verdicts = [], []
    for build in (w8, t2):
        if args.only and build.__name__ != args.only.lower():
            continue
        r, v = measure(build(), args.passes, args.settle)
        rows += r
        verdicts += v
    import datetime

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{stamp}; load average {load[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end; "
          f"medians of {args.passes} interleaved passes, {args.settle:g} s sleep before each "
          f"call\n\n| what | time |\n|---|---:|\n" + "\n".join(rows) + "\n\n"
          + "\n".join(verdicts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
