"""The fuzzer's deep run: `python -m tests.fuzz.run --count 10000 [--start 0] [--jobs 2]`.

Checks programs of seeds start .. start + count - 1 (split over `jobs` processes, seed by seed,
so any mismatch is reproduced by `--show SEED` or `check_program(make_program(SEED))`),
prints every mismatch, and writes the totals (programs, comparisons of each kind,
mismatches) as JSON to --out.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from collections import Counter


def _work(job: tuple[int, int, int, str]) -> dict:
    start, stop, step, log = job
    from .check import check_program
    from .programs import make_program

    checks: Counter = Counter()
    mismatches: list[str] = []
    t0 = time.time()
    with open(log, "a") as out:
        for n, seed in enumerate(range(start, stop, step)):
            report = check_program(make_program(seed))
            checks.update(report.checks)
            mismatches += report.mismatches
            for m in report.mismatches:
                print(m[:2000], file=out, flush=True)
            if n % 20 == 0:
                print(f"# seed {seed}: {checks['programs']} programs, {len(mismatches)} "
                      f"mismatches, {time.time() - t0:.0f}s", file=out, flush=True)
                with open(log + ".json", "w") as progress:  # totals so far, if stopped early
                    json.dump({"last_seed": seed, "checks": dict(checks),
                               "mismatches": len(mismatches)}, progress)
    return {"checks": dict(checks), "mismatches": mismatches}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", default="fuzz-results.json")
    parser.add_argument("--log", default="fuzz-log.txt")
    parser.add_argument("--show", type=int, default=None, help="print one seed's program")
    args = parser.parse_args(argv)
    if args.show is not None:
        from .check import check_program
        from .programs import make_program

        prog = make_program(args.show)
        print(prog.describe())
        print("\n".join(check_program(prog).mismatches) or "no mismatch")
        return 0
    stop = args.start + args.count
    jobs = [(args.start + k, stop, args.jobs, f"{args.log}.{k}") for k in range(args.jobs)]
    t0 = time.time()
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        results = pool.map(_work, jobs)
    checks: Counter = Counter()
    mismatches: list[str] = []
    for r in results:
        checks.update(r["checks"])
        mismatches += r["mismatches"]
    summary = {"seeds": [args.start, stop], "seconds": round(time.time() - t0),
               "checks": dict(sorted(checks.items())), "mismatches": mismatches}
    with open(args.out, "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps({k: v for k, v in summary.items() if k != "mismatches"}, indent=1))
    print(f"{len(mismatches)} mismatches")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
