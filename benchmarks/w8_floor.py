"""python -m benchmarks.w8_floor [--passes P] [--calls C]: W8's step against its products alone.

The products alone are the floor of the step: the same gemm calls its kernel makes (read from
the kernel's plan: each gemm group's m, n, k, transposes, leading dimensions and batch loop,
`codegen.blas.gemm_layout`), called through ctypes on buffers of the same sizes, with no loop
between them. "Step minus floor" is what the layer norms, softmax, GELU, head copies and
reductions cost, plus what the products lose inside the step (cold operands, threads).

Two modes, interleaved (P passes of C calls each, medians):
  one thread — DUALJIT_NUM_THREADS=1 semantics, OpenBLAS on one thread, process CPU time
    (the stable number on a shared machine);
  two threads — the step as configured; the floor with the large products (>=
    nest_plan.ONE_BLAS_CALL_MACS) as one call on two BLAS threads (OpenBLAS's own split, the
    fastest two-core gemm here) and the batched products split over two Python threads in
    halves; wall time (meaningful only on an idle machine: the report prints the load
    average; OpenBLAS's second thread spins ~0.1 s after each call).
The ctypes call adds ~1 us per gemm call (192 of W8's 204 are the small attention products),
so the floor is a little high; its operands are cold (each product has its own buffers).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import threading
import time

import numpy as np

from . import models as M


def gemm_calls(step, params, x):
    """[(m, n, k, lhs Matrix, rhs Matrix, batch count, multiply-adds)] of the step's kernels."""
    return plan_gemm_calls(step.lower(params, x).plan())


def plan_gemm_calls(plan):
    """The gemm calls of a codegen Plan's kernels, as gemm_calls."""
    from dualjit.codegen import blas

    calls = []
    for kernel in plan.kernels:
        for group in kernel.segment.groups:
            if group.library != "gemm":
                continue
            lhs, rhs = group.eqns[0].inputs
            layout = blas.gemm_layout(lhs.type.shape, rhs.type.shape,
                                      group.eqns[0].params["dimension_numbers"])
            count = int(np.prod([size for size, *_ in layout.batch])) if layout.batch else 1
            calls.append((layout.m, layout.n, layout.k, layout.lhs, layout.rhs, count,
                          count * layout.m * layout.n * layout.k))
    return calls


class Floor:
    """The gemm calls on buffers of their sizes (float32, row-major CBLAS)."""

    def __init__(self, calls):
        from dualjit.codegen import blas
        from dualjit.ir import DType

        gemm = blas.gemms()[DType.float32]
        integer = ctypes.c_int64 if gemm.int_bits == 64 else ctypes.c_int32
        self.sgemm = ctypes.CFUNCTYPE(None, *([ctypes.c_int] * 3), *([integer] * 3),
                                      ctypes.c_float, ctypes.c_void_p, integer, ctypes.c_void_p,
                                      integer, ctypes.c_float, ctypes.c_void_p,
                                      integer)(gemm.address)
        rng = np.random.default_rng(0)
        self.items = []
        for m, n, k, a, b, count, macs in calls:
            lhs = rng.standard_normal(count * a.ld * (k if a.trans else m)).astype(np.float32)
            rhs = rng.standard_normal(count * b.ld * (n if b.trans else k)).astype(np.float32)
            out = np.zeros(count * m * n, np.float32)
            self.items.append((m, n, k, a, b, count, macs, lhs, rhs, out))

    def _call(self, item, first, last):
        m, n, k, a, b, count, _, lhs, rhs, out = item
        la, lb = a.ld * (k if a.trans else m), b.ld * (n if b.trans else k)
        for i in range(first, last):
            self.sgemm(101, 112 if a.trans else 111, 112 if b.trans else 111, m, n, k, 1.0,
                       lhs.ctypes.data + 4 * i * la, a.ld, rhs.ctypes.data + 4 * i * lb,
                       b.ld, 0.0, out.ctypes.data + 4 * i * m * n, n)

    def run(self, two_threads: bool) -> None:
        from dualjit.codegen import nest_plan, threads

        for item in self.items:
            count, macs = item[5], item[6]
            if two_threads and count > 1:
                helper = threading.Thread(target=self._call, args=(item, count // 2, count))
                helper.start()
                self._call(item, 0, count // 2)
                helper.join()
            elif two_threads and macs >= nest_plan.ONE_BLAS_CALL_MACS:
                threads.set_blas_threads(2)
                self._call(item, 0, count)
                threads.set_blas_threads(1)
            else:
                self._call(item, 0, count)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=7)
    parser.add_argument("--calls", type=int, default=5)
    args = parser.parse_args(argv)
    import dualjit as dj
    from dualjit.codegen import threads

    params, x = M.transformer_data()
    ops = M.dualjit_ops()
    step = dj.jit(dj.grad(lambda p, x: M.transformer_loss(ops, p, x)))
    floor = Floor(gemm_calls(step, params, x))
    flops = 2 * sum(item[6] for item in floor.items)
    print(f"W8: {len(floor.items)} products, {sum(i[5] for i in floor.items)} gemm calls, "
          f"{flops / 1e9:.2f} GFLOP; load average {os.getloadavg()[0]:.2f}")
    for mode in ("one thread", "two threads"):
        one = mode == "one thread"
        threads.set_blas_threads(1)
        if one:
            os.environ["DUALJIT_NUM_THREADS"] = "1"
        clock = time.process_time if one else time.perf_counter
        step(params, x)
        floor.run(not one)
        timings: dict[str, list[float]] = {"step": [], "products alone": []}
        for _ in range(args.passes):
            for name, fn in (("step", lambda: step(params, x)),
                             ("products alone", lambda: floor.run(not one))):
                for _ in range(args.calls):
                    start = clock()
                    fn()
                    timings[name].append((clock() - start) * 1e3)
        if one:
            os.environ.pop("DUALJIT_NUM_THREADS")
        s, p = (statistics.median(timings[k]) for k in ("step", "products alone"))
        print(f"{mode} ({'process CPU' if one else 'wall'} ms, medians): step {s:.1f}, "
              f"products alone {p:.1f} ({flops / p / 1e6:.0f} GFLOP/s), "
              f"step minus products {s - p:.1f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
