"""python -m benchmarks.distributed: loading an exported program, and data-parallel scaling on Ray.

1. Loading the MLP training step (784-256-10, batch 128) in a fresh process, after `import
   dualjit` and its code generator (llvmlite): from an export with object code, from one
   without (the IR is compiled), and from the Python source (trace + compile: what a process
   without an export does); until the step is ready to run (not running it). Each variant
   runs in its own process, interleaved, several rounds; medians.
2. The same step on 1 and 2 local Ray workers (dualjit.distributed.data_parallel) next to the
   step in this process, for a few global batch sizes; scaling efficiency = t(1 worker) /
   (2 * t(2 workers)). Interleaved; medians.

Writes benchmarks/results/distributed.md. Timings taken while other work runs on the machine
are noisy: the report gives the load average seen during the run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

RESULTS = pathlib.Path(__file__).resolve().parent / "results"

# One thread per process (BLAS and dualjit's own), in workers and in the baseline alike: the
# comparison is between processes, and nested threads would fight over the two cores. (Set
# before numpy is first imported, in main().)
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "DUALJIT_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

MODEL = '''
import numpy as np
import dualjit as dj
import dualjit.numpy as jnp

def mlp(batch=128, seed=0):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal((784, 256)).astype(np.float32) * 0.05, np.zeros(256, np.float32),
              rng.standard_normal((256, 10)).astype(np.float32) * 0.05, np.zeros(10, np.float32)]
    return params, rng.standard_normal((batch, 784)).astype(np.float32), rng.integers(0, 10, batch)

def loss(p, x, labels):
    h = jnp.tanh(x @ p[0] + p[1])
    return dj.nn.cross_entropy(h @ p[2] + p[3], labels)

def step(p, x, labels):
    return [w - 0.1 * g for w, g in zip(p, dj.grad(loss)(p, x, labels))]
'''

LOAD = '''
import json, sys, time
import dualjit as dj
import dualjit.codegen.runtime  # the code generator and llvmlite, as in any process that compiled
from dualjit.codegen import object_cache
object_cache.host_signature()
sys.path.insert(0, sys.argv[2])
import bench_model as m
args = m.mlp()
t0, c0 = time.perf_counter(), time.process_time()
if sys.argv[1] == "source":
    dj.jit(m.step).lower(*args)  # trace, simplify, compile
else:
    exp = dj.deserialize(open(sys.argv[1], "rb").read())
    exp.compiled()
t1, c1 = time.perf_counter(), time.process_time()
print(json.dumps({"ms": 1e3 * (t1 - t0), "cpu_ms": 1e3 * (c1 - c0)}))
'''


def load_times(rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        pathlib.Path(tmp, "bench_model.py").write_text(MODEL)
        pathlib.Path(tmp, "load.py").write_text(LOAD)
        sys.path.insert(0, tmp)
        import bench_model as m

        import dualjit as dj

        exported = dj.export(dj.jit(m.step))(*m.mlp())
        variants = {"export with object code": exported.serialize(),
                    "export without object code (compile the IR)":
                        exported.serialize(object_code=False)}
        paths = {"trace and compile from the Python source": "source"}
        for name, blob in variants.items():
            path = pathlib.Path(tmp, name.split()[1] + ".djx")
            path.write_bytes(blob)
            paths[name] = str(path)
        env = {k: v for k, v in os.environ.items() if k != "DUALJIT_CACHE_DIR"}
        samples: dict[str, list[dict]] = {name: [] for name in paths}
        for _ in range(rounds):
            for name, path in paths.items():
                out = subprocess.run([sys.executable, pathlib.Path(tmp, "load.py"), path, tmp],
                                     capture_output=True, text=True, env=env, timeout=600)
                if out.returncode:
                    raise RuntimeError(out.stderr)
                samples[name].append(json.loads(out.stdout.splitlines()[-1]))
        return {name: (statistics.median(s["ms"] for s in v),
                       statistics.median(s["cpu_ms"] for s in v)) for name, v in samples.items()}


def scaling(batches: list[int], steps: int, rounds: int) -> list[tuple[int, dict]]:
    import ray

    import dualjit as dj
    from dualjit import distributed

    exec(MODEL, model := {})
    # 3 logical CPUs: the 1-worker and 2-worker trainers are alive at once (one idles while
    # the other is timed); the machine's cores are what the workers share.
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)
    out = []
    try:
        for batch in batches:
            params, x, labels = model["mlp"](batch)
            trainers = {n: distributed.data_parallel(
                lambda p, b: model["loss"](p, *b), distributed.sgd(0.1), params,
                num_workers=n, example_batch=(x, labels)) for n in (1, 2)}
            local = dj.jit(model["step"])
            local(params, x, labels)
            runs = {"in this process (jit)": lambda: local(params, x, labels),
                    "1 Ray worker": lambda: trainers[1].step((x, labels)),
                    "2 Ray workers": lambda: trainers[2].step((x, labels))}
            samples: dict[str, list[float]] = {name: [] for name in runs}
            for run in runs.values():
                run()  # warm up
            for _ in range(rounds):
                for name, run in runs.items():
                    t0 = time.perf_counter()
                    for _ in range(steps):
                        run()
                    samples[name].append((time.perf_counter() - t0) / steps * 1e3)
            for trainer in trainers.values():
                trainer.shutdown()
            out.append((batch, {name: statistics.median(v) for name, v in samples.items()}))
            print(batch, out[-1][1], file=sys.stderr)
    finally:
        ray.shutdown()
    return out


def report(load: dict, scale: list, conditions: str) -> str:
    lines = [f"Run {datetime.datetime.now():%Y-%m-%d %H:%M}; {conditions}", "",
             "| loading the MLP step (784-256-10, batch 128) in a fresh process | median wall "
             "time | median CPU time |", "|---|---:|---:|"]
    lines += [f"| {name} | {ms:.1f} ms | {cpu:.1f} ms |" for name, (ms, cpu) in load.items()]
    lines += ["", "| global batch | in this process (jit) | 1 Ray worker | 2 Ray workers | "
              "efficiency 1 -> 2 workers |", "|---:|---:|---:|---:|---:|"]
    for batch, t in scale:
        eff = t["1 Ray worker"] / (2 * t["2 Ray workers"])
        lines.append(f"| {batch} | {t['in this process (jit)']:.2f} ms | "
                     f"{t['1 Ray worker']:.2f} ms | {t['2 Ray workers']:.2f} ms | {eff:.0%} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds = 3 if args.quick else 7
    load_before = os.getloadavg()[0]
    load = load_times(rounds)
    print(load, file=sys.stderr)
    scale = scaling([128, 1024, 4096], steps=10 if args.quick else 30, rounds=rounds)
    conditions = (f"{os.cpu_count()} cores shared with other work (load average "
                  f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end)")
    text = report(load, scale, conditions)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "distributed.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
