"""python -m benchmarks.gemm_threads [--passes P]: W8's product shapes (the transformer block's
forward and backward gemm calls) run four ways, interleaved, medians in GFLOP/s — the numbers
that decide how a kernel's large products should use two cores:

  one call, 1 BLAS thread | one call, 2 BLAS threads (OpenBLAS's own split, its threads
  spin between calls) | our split: two threads, each calling gemm on one BLAS thread over
  chunks of 128 rows taken from a shared counter (nest_plan.GEMM_MIN_ROWS, as kernels do) |
  the same over two halves (fewest packings of the other operand). A batch of matrices
  (attention's) is split over the batch instead: blocks of 4 matrices, or two halves.

Meaningful only on an idle machine (the report prints the load average): on a busy one
OpenBLAS's spinning threads wait for time slices and every two-thread column suffers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time

import numpy as np

# (m, n, k, lhs stored transposed, rhs stored transposed, batch): W8's products as its
# kernel calls them (forward, then backward), from the kernel plan's gemm groups
SHAPES = [(1024, 768, 256, False, False, 1), (1024, 1024, 256, False, False, 1),
          (1024, 256, 1024, False, False, 1), (1024, 256, 256, False, False, 1),
          (256, 1024, 1024, True, False, 1), (1024, 256, 1024, True, False, 1),
          (256, 768, 1024, True, False, 1), (1024, 256, 768, False, True, 1),
          (128, 128, 64, False, False, 32), (128, 64, 128, False, False, 32)]


def _operands(m, n, k, lhs_t, rhs_t, batch, rng):
    a = rng.standard_normal((batch, k, m) if lhs_t else (batch, m, k)).astype(np.float32)
    b = rng.standard_normal((batch, n, k) if rhs_t else (batch, k, n)).astype(np.float32)
    return (a.transpose(0, 2, 1) if lhs_t else a), (b.transpose(0, 2, 1) if rhs_t else b)


def _split(a, b, out, size: int):
    """Two threads take blocks of `size` rows (one matrix) or matrices (a batch) from a
    counter."""
    batched = a.shape[0] > 1
    blocks = iter(range(0, a.shape[0] if batched else a.shape[1], size))
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                start = next(blocks, None)
            if start is None:
                return
            block = slice(start, start + size)
            if batched:
                np.matmul(a[block], b[block], out=out[block])
            else:
                np.matmul(a[:, block], b, out=out[:, block])

    helper = threading.Thread(target=work)
    helper.start()
    work()
    helper.join()


def ways(a, b, out, set_threads):
    def blas(count):
        def run():
            set_threads(count)
            np.matmul(a, b, out=out)
        return run

    def ours(size):
        def run():
            set_threads(1)
            _split(a, b, out, size)
        return run

    n = a.shape[0] if a.shape[0] > 1 else a.shape[1]
    chunk = 4 if a.shape[0] > 1 else 128
    return {"1 BLAS thread": blas(1), "2 BLAS threads": blas(2),
            "ours, 128-row chunks": ours(min(chunk, n)), "ours, halves": ours(max(1, n // 2))}


def main(argv=None) -> None:
    from dualjit.codegen import threads

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=9)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"load average before: {os.getloadavg()[0]:.2f}, cores: {threads.cores()}")
    print("| m x n x k (batch) | " + " | ".join(ways(*[np.empty((1, 1, 1))] * 3, None)) + " |")
    print("|---|" + "---:|" * 4)
    for m, n, k, lhs_t, rhs_t, batch in SHAPES:
        a, b = _operands(m, n, k, lhs_t, rhs_t, batch, rng)
        out = np.empty((batch, m, n), np.float32)
        runs = ways(a, b, out, threads.set_blas_threads)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.passes):
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
        flops = 2.0 * m * n * k * batch
        cells = [f"{flops / statistics.median(t) / 1e9:.0f}" for t in times.values()]
        trans = ("T" if lhs_t else "N") + ("T" if rhs_t else "N")
        print(f"| {m} x {n} x {k} {trans} ({batch}) | " + " | ".join(cells) + " |")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
