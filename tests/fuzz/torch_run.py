"""Differential fuzzing against PyTorch: `python -m tests.fuzz.torch_run --start S --count N`
(`--nn`: nn programs; `--api`: programs over the newer API; `--compiled`: dualjit's side
through dj.compile).

Runs each seed's program (tests/fuzz/torch_programs.py) with `lib=torch` and `lib=dualjit` and
compares every recorded step: values (float tolerance; NaN equals NaN), dtypes, shapes, the
leaves' gradients, and errors (both raise: fine, and the exception types are compared; only
one raises: a mismatch). Prints each program's first mismatch with its seed (`--show SEED`
prints the whole program and both records). PyTorch is an optional tool: the suite never
imports this module.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections import Counter

import numpy as np

from .torch_api_programs import api_program
from .torch_nn_programs import nn_program
from .torch_programs import Record, run_program


def tolerance(dtype: str) -> tuple[float, float]:
    # float64 results often mix float32 operands (x32 + x64 is float64): 1e-6 relative
    return (1e-4, 1e-5) if dtype in ("float32", "complex64") else (1e-6, 1e-9)


def compare_record(t: Record, d: Record) -> str | None:
    """The kind of mismatch between torch's record `t` and dualjit's `d`, or None."""
    if t.kind != d.kind:
        if t.kind == "error":
            return f"only torch raises ({t.error}); dualjit gives {d.kind} {d.dtype}{d.shape}"
        if d.kind == "error":
            return f"only dualjit raises ({d.error}: {d.array})"
        return f"torch gives {t.kind}, dualjit {d.kind}"
    if t.kind == "error":
        # (an instance of torch's type; torch.linalg.LinAlgError is torch._C._LinAlgError)
        if t.error.lstrip("_") in (d.error, *d.error_kinds):
            return None
        return f"error type: torch {t.error}, dualjit {d.error}"
    if t.kind != "value":
        return None
    if t.dtype != d.dtype:
        return f"dtype: torch {t.dtype}, dualjit {d.dtype}"
    if t.shape != d.shape:
        return f"shape: torch {t.shape}, dualjit {d.shape}"
    a, b = np.asarray(t.array), np.asarray(d.array)
    if a.dtype.kind in "fc":
        rtol, atol = tolerance(t.tolerance_dtype or t.dtype)
        rtol, atol = rtol * t.loose, atol * t.loose
        scale = max(float(np.nanmax(np.abs(a[np.isfinite(a)]), initial=1.0)),
                    t.magnitude if np.isfinite(t.magnitude) else 0.0)
        if not np.allclose(a, b, rtol=rtol, atol=atol * scale, equal_nan=True):
            return f"values differ: torch {_show(a)}, dualjit {_show(b)}"
        return None
    if not np.array_equal(a, b):
        return f"values differ: torch {_show(a)}, dualjit {_show(b)}"
    return None


def _show(a) -> str:
    return np.array2string(np.asarray(a), precision=5, threshold=20).replace("\n", "")


def run_both(seed: int, compiled: bool = False, nn: bool = False, api: bool = False):
    """torch's and dualjit's traces of the program; compiled: dualjit's through dj.compile
    (fresh mid-program operands then require no grad, on both sides); nn: the seed's nn
    program (torch_nn_programs.py) instead of its tensor program; api: its program over the
    newer API (torch_api_programs.py: linalg, fft, special, small integer and complex
    dtypes, ...)."""
    import torch

    import dualjit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if nn:
            return nn_program(torch, seed), nn_program(dualjit, seed, compiled=compiled)
        if api:
            return api_program(torch, seed), api_program(dualjit, seed)
        t = run_program(torch, seed, fresh_grad=not compiled)
        d = run_program(dualjit, seed, compiled=compiled, fresh_grad=not compiled)
    return t, d


def compare(seed: int, compiled: bool = False, nn: bool = False,
            api: bool = False) -> tuple[list[str], int]:
    """(mismatch lines, number of records compared) for one seed."""
    t, d = run_both(seed, compiled, nn, api)
    out = []
    for i, (rt, rd) in enumerate(zip(t.records, d.records)):
        problem = compare_record(rt, rd)
        if problem:
            if rt.label != rd.label:
                problem += f" (labels differ: dualjit at {rd.label!r})"
            out.append(f"seed {seed} [{t.kind}] step {i} `{rt.label}`: {problem}")
            break
    else:
        if len(t.records) != len(d.records):
            out.append(f"seed {seed} [{t.kind}]: torch recorded {len(t.records)} steps, "
                       f"dualjit {len(d.records)}")
    return out, min(len(t.records), len(d.records))


def show(seed: int, compiled: bool = False, nn: bool = False, api: bool = False) -> None:
    t, d = run_both(seed, compiled, nn, api)
    for i, (rt, rd) in enumerate(zip(t.records, d.records)):
        print(f"{i:3} {rt.label}")
        for name, r in (("torch", rt), ("dualjit", rd)):
            body = r.error if r.kind == "error" else f"{r.dtype}{r.shape} {_show(r.array)}"
            print(f"      {name:8} {r.kind} {body}")
        problem = compare_record(rt, rd)
        if problem:
            print("      ^^^", problem)


def _kind(line: str) -> str:
    """A mismatch's class: a different value, dtype or shape (a silent wrong answer unless
    it is a documented difference), an exception only one side raises, another type."""
    for key, kind in (("values differ", "value"), ("dtype:", "dtype"), ("shape:", "shape"),
                      ("only dualjit raises", "only-dualjit-raises"),
                      ("only torch raises", "only-torch-raises"), ("error type", "error-type"),
                      ("harness crashed", "harness")):
        if key in line:
            return kind
    return "other"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--show", type=int, default=None)
    ap.add_argument("--compiled", action="store_true",
                    help="run dualjit's side through dj.compile")
    ap.add_argument("--nn", action="store_true",
                    help="nn programs (model, loss, optimizer steps) instead of tensor programs")
    ap.add_argument("--api", action="store_true",
                    help="programs over the newer API (linalg, fft, special, int8/uint8/int16, "
                    "complex, in-place variants) instead of tensor programs")
    args = ap.parse_args(argv)
    if args.show is not None:
        show(args.show, args.compiled, args.nn, args.api)
        return 0
    kinds: Counter = Counter()
    bad = 0
    records = 0
    for seed in range(args.start, args.start + args.count):
        try:
            lines, n = compare(seed, args.compiled, args.nn, args.api)
        except Exception as e:  # noqa: BLE001 (a crash of the harness is reported, not fatal)
            lines, n = [f"seed {seed}: harness crashed: {type(e).__name__}: {e}"], 0
        records += n
        for line in lines:
            print(line, flush=True)
            kinds[_kind(line)] += 1
        bad += bool(lines)
    print(f"{args.count} programs (seeds {args.start}..{args.start + args.count - 1}), "
          f"{records} steps compared, {bad} with a mismatch: " +
          ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
