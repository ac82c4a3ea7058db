"""A survey of the PyTorch layer's eager functions against PyTorch eager, one call each.

python -m benchmarks.eager_ops [--only NAME] [--sizes 1024,65536] [--ratio 3]: every public
function of `dualjit` (the torch namespace), `dualjit.special`, `dualjit.fft`, `dualjit.linalg`
and `dualjit.nn.functional` that accepts one float32 tensor (or two, for binary functions) is
called forward, without grad, on 1,024 and 65,536 elements (linalg: a 64x64 symmetric
positive definite matrix). Each call is timed against the same PyTorch function with one
thread and with PyTorch's default threads, interleaved in one process; the table gives medians
and lists the functions more than --ratio times slower than PyTorch's faster setting. Each
function first runs for WARM_SECONDS, so the table is the steady state (eager special
functions compile their forward after a while, on a thread it waits for: eager/kernels.py).
Without PyTorch installed it times dualjit alone.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from . import have

ROUNDS = 7
BATCH_SECONDS = 2e-3
WARM_SECONDS = 0.3

# (names that need more than a tensor, change global state or print: not a float function)
SKIP = {"manual_seed", "seed", "set_default_dtype", "set_printoptions", "save", "load",
        "set_grad_enabled", "set_num_threads", "set_num_interop_threads", "compile", "jit",
        "use_deterministic_algorithms", "set_default_device", "set_rng_state", "print",
        "from_numpy", "empty_like", "rand_like", "randn_like", "randint_like", "bernoulli",
        "multinomial", "normal", "poisson", "dropout", "alpha_dropout", "feature_alpha_dropout",
        "dropout1d", "dropout2d", "dropout3d", "rrelu", "gumbel_softmax", "is_tensor",
        "is_storage", "numel", "typename", "get_default_dtype", "is_grad_enabled"}
NAMESPACES = ("", "special", "fft", "linalg", "nn.functional")
# (results of n^2 elements or more: 65,536 elements would need gigabytes)
QUADRATIC = {"combinations", "cartesian_prod", "outer", "ger", "kron", "diag", "diagflat",
             "diag_embed", "block_diag", "vander", "cdist", "pdist", "tensordot"}




def _namespace(lib, path: str):
    for part in filter(None, path.split(".")):
        lib = getattr(lib, part)
    return lib


def _inputs(namespace: str, n: int) -> list[np.ndarray]:
    """Values inside every function's domain where possible: (0.05, 0.95) for elementwise
    functions (erfinv, atanh, log, logit), an SPD matrix for linalg."""
    rng = np.random.default_rng(0)
    if namespace == "linalg":
        m = rng.standard_normal((64, 64)).astype(np.float32)
        a = (m @ m.T / 64 + np.eye(64, dtype=np.float32)).astype(np.float32)
        return [a, a.copy()]
    return [rng.uniform(0.05, 0.95, n).astype(np.float32) for _ in range(2)]


def _call_form(dj_fn, torch_fn, torch, arrays):
    """The call (one tensor, else two) both libraries accept, or None."""
    import dualjit as dj

    for count in (1, 2):
        dj_args = [dj.tensor(a) for a in arrays[:count]]
        try:
            dj_fn(*dj_args)
        except Exception:
            continue
        if torch is None:
            return count
        try:
            torch_fn(*[torch.tensor(a) for a in arrays[:count]])
        except Exception:
            return None
        return count
    return None


def _batch(fn, args) -> float:
    """Seconds per call, from a batch long enough to time."""
    start = time.perf_counter()
    fn(*args)
    once = time.perf_counter() - start
    reps = max(1, min(1000, int(BATCH_SECONDS / max(once, 1e-7))))
    start = time.perf_counter()
    for _ in range(reps):
        fn(*args)
    return (time.perf_counter() - start) / reps


def time_function(dj_fn, torch_fn, torch, arrays, count) -> dict[str, float]:
    """Median seconds per call: dualjit, PyTorch on 1 thread and on its default threads,
    interleaved round by round."""
    import dualjit as dj
    from dualjit.eager import kernels

    dj_args = [dj.tensor(a) for a in arrays[:count]]
    samples: dict[str, list[float]] = {"dualjit": [], "torch1": [], "torch": []}
    threads = torch.get_num_threads() if torch is not None else 1
    if torch is not None:
        torch_args = [torch.tensor(a) for a in arrays[:count]]
    with dj.no_grad():
        warm_until = time.perf_counter() + WARM_SECONDS  # (steady state: compiled kernels)
        while time.perf_counter() < warm_until:
            dj_fn(*dj_args)
        kernels.wait()  # (the special functions' kernels compile on a background thread)
        dj_fn(*dj_args)
        for _ in range(ROUNDS):
            samples["dualjit"].append(_batch(dj_fn, dj_args))
            if torch is None:
                continue
            with torch.no_grad():
                torch.set_num_threads(1)
                samples["torch1"].append(_batch(torch_fn, torch_args))
                torch.set_num_threads(threads)
                samples["torch"].append(_batch(torch_fn, torch_args))
    return {k: statistics.median(v) for k, v in samples.items() if v}


def survey(sizes, only=None, progress=False, namespaces=NAMESPACES, start=""):
    """Rows (name, elements, dualjit us, torch 1-thread us, torch us, ratio)."""
    import dualjit as dj

    torch = _torch_or_none()
    rows = []
    for namespace in namespaces:
        dj_space = _namespace(dj, namespace)
        torch_space = _namespace(torch, namespace) if torch is not None else None
        names = sorted(n for n in dir(dj_space) if not n.startswith("_") and not n.endswith("_")
                       and n not in SKIP and callable(getattr(dj_space, n)))
        for name in names:
            full = f"{namespace}.{name}" if namespace else name
            if only and only not in full or name < start:
                continue
            dj_fn = getattr(dj_space, name)
            if isinstance(dj_fn, type) or (torch_space is not None
                                           and not callable(getattr(torch_space, name, None))):
                continue
            torch_fn = getattr(torch_space, name) if torch_space is not None else None
            for n in ((64 * 64,) if namespace == "linalg" else
                      [n for n in sizes if n <= 1024 or name not in QUADRATIC]):
                arrays = _inputs(namespace, n)
                count = _call_form(dj_fn, torch_fn, torch, arrays)
                if count is None:
                    break
                t = time_function(dj_fn, torch_fn, torch, arrays, count)
                best_torch = min(t.get("torch1", np.inf), t.get("torch", np.inf))
                rows.append((full, n, t["dualjit"], t.get("torch1"), t.get("torch"),
                             t["dualjit"] / best_torch if torch is not None else None))
                if progress:
                    print(table(rows[-1:]).splitlines()[-1], flush=True)
    return rows


def _torch_or_none():
    if not have("torch"):
        return None
    import torch

    return torch


def _us(seconds) -> str:
    return "-" if seconds is None else f"{seconds * 1e6:.1f}"


def table(rows, ratio: float | None = None) -> str:
    lines = ["| function | elements | dualjit us | torch 1 thread us | torch default us | "
             "dualjit / best torch |", "|---|---:|---:|---:|---:|---:|"]
    for name, n, d, t1, t, r in rows:
        if ratio is not None and (r is None or r <= ratio):
            continue
        lines.append(f"| {name} | {n} | {_us(d)} | {_us(t1)} | {_us(t)} | "
                     f"{'-' if r is None else f'{r:.1f}x'} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="only functions whose name contains this")
    parser.add_argument("--sizes", default="1024,65536")
    parser.add_argument("--ratio", type=float, default=3.0)
    parser.add_argument("--namespaces", default=",".join(NAMESPACES),
                        help="comma-separated; the empty name is the top-level namespace")
    parser.add_argument("--start", default="", help="skip names before this (resuming)")
    args = parser.parse_args(argv)
    rows = survey([int(s) for s in args.sizes.split(",")], args.only, progress=True,
                  namespaces=args.namespaces.split(","), start=args.start)
    print()
    print(table(rows))
    print(f"\nMore than {args.ratio}x slower than PyTorch's faster setting:\n")
    print(table(rows, args.ratio))


if __name__ == "__main__":
    main()
