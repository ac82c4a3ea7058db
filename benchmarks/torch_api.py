"""Workloads of issue 13: PyTorch training code run by dualjit and by PyTorch in the same run.

T1: the polynomial fit of examples/pytorch/polynomial_nn.py (nn.Sequential, MSELoss(sum),
RMSprop), 2000 steps. T2: an MLP 784-256-10 (ReLU, CrossEntropyLoss, SGD with momentum) for one
epoch of 60 mini-batches of 128. Each eagerly, and compiled in steady state: the whole step
(dj.compile / torch.compile of the step function) and, for PyTorch, also the model alone
(torch.compile(model), backward and optimizer eager); and the time to the first compiled step
(compile time), from fresh objects.
"""

from __future__ import annotations

import math
import os

import numpy as np

from . import have

STEPS = 2000
BATCHES, BATCH = 60, 128




def _torch():
    import torch

    return torch


# -- the programs (the same source for both libraries) ---------------------------------------------

def poly_setup(lib, wrap_model=None):
    lib.manual_seed(0)
    x = lib.linspace(-math.pi, math.pi, 2000)
    y = lib.sin(x)
    xx = x.unsqueeze(-1).pow(lib.tensor([1, 2, 3]))
    model = lib.nn.Sequential(lib.nn.Linear(3, 1), lib.nn.Flatten(0, 1))
    forward = wrap_model(model) if wrap_model else model
    loss_fn = lib.nn.MSELoss(reduction="sum")
    optimizer = lib.optim.RMSprop(model.parameters(), lr=1e-3)

    def step(xx, y):
        loss = loss_fn(forward(xx), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    return step, (xx, y)


_mnist_like: list = []


def mnist_like() -> tuple[np.ndarray, np.ndarray]:
    """The T2 data set (random images and labels), made once: it is input data, not part of
    either library's setup or compile time (making it took 20-27 ms)."""
    if not _mnist_like:
        rng = np.random.default_rng(0)
        _mnist_like.extend([rng.random((BATCHES * BATCH, 784), dtype=np.float32),
                            rng.integers(0, 10, BATCHES * BATCH)])
    return _mnist_like[0], _mnist_like[1]


def mlp_parts(lib, wrap_model=None):
    """T2's batches, model, forward (the model, or wrap_model(model)), loss and optimizer."""
    lib.manual_seed(0)
    images, labels = (lib.from_numpy(a) for a in mnist_like())
    batches = [(images[i * BATCH:(i + 1) * BATCH], labels[i * BATCH:(i + 1) * BATCH])
               for i in range(BATCHES)]
    model = lib.nn.Sequential(lib.nn.Linear(784, 256), lib.nn.ReLU(), lib.nn.Linear(256, 10))
    forward = wrap_model(model) if wrap_model else model
    loss_fn = lib.nn.CrossEntropyLoss()
    optimizer = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return batches, model, forward, loss_fn, optimizer


def mlp_setup(lib, wrap_model=None):
    batches, _, forward, loss_fn, optimizer = mlp_parts(lib, wrap_model)

    def step(x, target):
        loss = loss_fn(forward(x), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    return step, batches


def _poly_run(step, data, steps=STEPS):
    def run():
        for _ in range(steps):
            step(*data)
    return run


def _mlp_run(step, batches):
    def run():
        for x, target in batches:
            step(x, target)
    return run


# -- workloads -------------------------------------------------------------------------------------

def _impls(setup, runner, compiled: bool):
    import dualjit as dj

    impls = {}
    step, data = setup(dj)
    if compiled:
        step = dj.compile(step)
        runner(step, data)()  # (warm: the first calls trace and compile)
    impls["dualjit"] = runner(step, data)
    if have("torch"):
        torch = _torch()
        step, data = setup(torch)
        if compiled:
            step = torch.compile(step)
            runner(step, data)()
        impls["torch.compile" if compiled else "torch"] = runner(step, data)
        # PyTorch on one thread too: its OpenMP threads spin on a busy machine (inductor's
        # kernels take the thread count of their compilation: compiled and warmed on one)
        step, data = setup(torch)
        step = torch.compile(step) if compiled else step
        impls["torch.compile, 1 thread" if compiled else "torch, 1 thread"] = one_thread = \
            _one_thread(torch, runner(step, data))
        if compiled:
            one_thread()
        if compiled:  # the other usual way: compile the model; backward and step run eagerly
            step, data = setup(torch, torch.compile)
            runner(step, data)()
            impls["torch.compile(model)"] = runner(step, data)
    return impls


def _one_thread(torch, run):
    def one_thread():
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            run()
        finally:
            torch.set_num_threads(threads)
    return one_thread


def _poly_runner(step, data):
    return _poly_run(step, data)


def t1_eager():
    return _impls(poly_setup, _poly_runner, False)


def t1_compiled():
    return _impls(poly_setup, _poly_runner, True)


def t2_eager():
    return _impls(mlp_setup, _mlp_run, False)


def t2_compiled():
    return _impls(mlp_setup, _mlp_run, True)


def _products(lib_name):
    """An epoch of the T2 step's five matrix products alone, with the step's shapes and
    layouts (the floor of any implementation that calls a library gemm for them): forward
    x @ W1.T and h @ W2.T, backward dlogits.T @ h, dlogits @ W2 and dh.T @ x, with x each of
    the epoch's 60 batches in turn (as the step reads them: a new 400 KB batch per step, not
    one batch kept in cache). NumPy's use dualjit's BLAS thread policy (as its kernels do);
    torch's its default threads."""
    rng = np.random.default_rng(0)
    images = mnist_like()[0]
    xs = [images[i * BATCH:(i + 1) * BATCH] for i in range(BATCHES)]
    w1 = rng.random((256, 784), dtype=np.float32)
    w2 = rng.random((10, 256), dtype=np.float32)
    h = rng.random((BATCH, 256), dtype=np.float32)
    dlogits = rng.random((BATCH, 10), dtype=np.float32)
    if lib_name == "torch":
        torch = _torch()
        w1, w2, h, dlogits = map(torch.from_numpy, (w1, w2, h, dlogits))
        xs = [torch.from_numpy(x) for x in xs]
        matmul = torch.mm
    else:
        from dualjit.eager.array_ops import np_matmul as matmul

    def run():
        for x in xs:
            matmul(x, w1.T)
            matmul(h, w2.T)
            matmul(dlogits.T, h)
            matmul(dlogits, w2)
            matmul(h.T, x)
    return run


def t2_products():
    """The compiled epoch next to its products alone (NumPy/OpenBLAS and torch) and
    torch.compile(model), in the same interleaved passes."""
    import dualjit as dj

    step, batches = mlp_setup(dj)
    step = dj.compile(step)
    _mlp_run(step, batches)()
    impls = {"dualjit": _mlp_run(step, batches),
             "its 5 products alone (NumPy, OpenBLAS)": _products("numpy")}
    if have("torch"):
        impls["its 5 products alone (torch.mm)"] = _products("torch")
        step, data = mlp_setup(_torch(), _torch().compile)
        _mlp_run(step, data)()
        impls["torch.compile(model)"] = _mlp_run(step, data)
    return impls


def t2_one_thread_cpu(passes: int = 5) -> list[tuple[str, float]]:
    """T2 on ONE thread each, timed by this process's CPU clock (time.process_time), so other
    processes' load does not enter: dualjit eager and compiled, torch eager, torch.compile(
    step) and torch.compile(model) (compiled and warmed on one thread), and the step's five
    products alone (NumPy/OpenBLAS, torch.mm). Medians over interleaved passes, in seconds."""
    import time

    import dualjit as dj

    from .torch_matched import set_dualjit_threads

    torch = _torch()
    set_dualjit_threads(1)  # dualjit's kernels, split nests and eager products: one thread
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        impls = {"dualjit eager": _mlp_run(*mlp_setup(dj))}
        step, batches = mlp_setup(dj)
        impls["dualjit dj.compile(step)"] = _mlp_run(dj.compile(step), batches)
        impls["torch eager"] = _mlp_run(*mlp_setup(torch))
        step, batches = mlp_setup(torch)
        impls["torch.compile(step)"] = _mlp_run(torch.compile(step), batches)
        impls["torch.compile(model)"] = _mlp_run(*mlp_setup(torch, torch.compile))
        impls["5 products alone, NumPy (OpenBLAS)"] = _products("numpy")
        impls["5 products alone, torch.mm"] = _products("torch")
        for run in impls.values():  # warm: compile, create state
            run()
            run()
        samples = {name: [] for name in impls}
        for _ in range(passes):
            for name, run in impls.items():
                start = time.process_time()
                run()
                samples[name].append(time.process_time() - start)
    finally:
        set_dualjit_threads(None)
        torch.set_num_threads(torch_threads)
    return [(name, sorted(v)[len(v) // 2]) for name, v in samples.items()]


EAGER_PHASES = ("Linear 784-256", "ReLU", "Linear 256-10", "loss", "zero_grad", "backward()",
                "optimizer.step()")


def _clocks() -> tuple[float, float]:
    import time

    return time.perf_counter(), time.process_time()


def _eager_phases(batches, model, loss_fn, optimizer) -> list[list[float]]:
    """One eager epoch: per phase, [wall, CPU] seconds summed over the steps."""
    first, relu, second = model
    sums = [[0.0, 0.0] for _ in EAGER_PHASES]
    for x, target in batches:
        marks = [_clocks()]
        h = first(x)
        marks.append(_clocks())
        h = relu(h)
        marks.append(_clocks())
        logits = second(h)
        marks.append(_clocks())
        loss = loss_fn(logits, target)
        marks.append(_clocks())
        optimizer.zero_grad()
        marks.append(_clocks())
        loss.backward()
        marks.append(_clocks())
        optimizer.step()
        marks.append(_clocks())
        for i, total in enumerate(sums):
            total[0] += marks[i + 1][0] - marks[i][0]
            total[1] += marks[i + 1][1] - marks[i][1]
    return sums


def _compiled_phases(step, batches) -> list[list[float]]:
    """One compiled epoch: [wall, CPU] seconds of the kernel calls, and of the whole steps."""
    (program,) = step._programs.values()
    call = program.compiled
    kernel = [0.0, 0.0]

    def timed(values):
        start = _clocks()
        try:
            return call(values)
        finally:
            end = _clocks()
            kernel[0] += end[0] - start[0]
            kernel[1] += end[1] - start[1]
    program.compiled = timed
    try:
        start = _clocks()
        for x, target in batches:
            step(x, target)
        end = _clocks()
    finally:
        program.compiled = call
    return [kernel, [end[0] - start[0] - kernel[0], end[1] - start[1] - kernel[1]]]


def t2_phases(epochs: int = 7, settle: float = 0.3) -> list[tuple[str, float, float]]:
    """Where a T2 step spends its time at dualjit's current thread setting: each phase of the
    eager step (EAGER_PHASES), the compiled step's kernel call and everything around it
    (guards, gathering inputs, storing outputs), and the five products alone (NumPy). Rows
    (name, wall us, CPU us of the process, all threads) per step: medians over `epochs`
    interleaved epochs, `settle` seconds of sleep before each."""
    import statistics
    import time

    import dualjit as dj

    batches, model, _, loss_fn, optimizer = mlp_parts(dj)
    step, compiled_batches = mlp_setup(dj)
    step = dj.compile(step)
    products = _products("numpy")
    eager = lambda: _eager_phases(batches, model, loss_fn, optimizer)  # noqa: E731
    compiled = lambda: _compiled_phases(step, compiled_batches)  # noqa: E731

    def alone():
        start = _clocks()
        products()
        end = _clocks()
        return [[end[0] - start[0], end[1] - start[1]]]
    kinds = (eager, compiled, alone)
    names = (EAGER_PHASES, ("dj.compile: kernel call", "dj.compile: around it"),
             ("5 products alone (NumPy)",))
    _mlp_run(step, compiled_batches)()  # (warm: trace and compile)
    for kind in kinds:
        kind()
    samples: dict[str, list] = {n: [] for group in names for n in group}
    for _ in range(epochs):
        for kind, group in zip(kinds, names):
            time.sleep(settle)
            for name, (wall, cpu) in zip(group, kind()):
                samples[name].append((wall / BATCHES * 1e6, cpu / BATCHES * 1e6))
    return [(name, statistics.median(v[0] for v in values),
             statistics.median(v[1] for v in values)) for name, values in samples.items()]


def _first_compiled_steps(setup, lib_name):
    """Fresh objects, then the calls until a compiled program has run (dualjit: the eager
    first call and the traced second; torch.compile: its first two calls). Each run compiles
    afresh: dualjit's in-process caches of compiled code are emptied (no disk cache is set),
    torch's dynamo is reset and its FX graph cache is off; torch's on-disk cache of compiled
    kernel objects stays, which can only make torch's time shorter."""
    def run():
        if lib_name == "dualjit":
            import dualjit as lib
            from dualjit.codegen import runtime
            from dualjit.eager import backward

            runtime._recent.clear()  # compile again, as a fresh process would
            runtime._live.clear()
            backward._backward_cache.clear()
        else:
            lib = _torch()
            lib._dynamo.reset()
            lib._inductor.config.fx_graph_cache = False  # (its kernels' object files stay cached)
        step, data = setup(lib)
        first = data if not isinstance(data, list) else data[0]
        step = lib.compile(step)
        step(*first)
        step(*first)
        if lib_name == "dualjit":
            assert step._programs, "the second call should have run the compiled program"
    return run


def t1_compile_time():
    impls = {"dualjit": _first_compiled_steps(poly_setup, "dualjit")}
    if have("torch"):
        impls["torch.compile"] = _first_compiled_steps(poly_setup, "torch")
    return impls


def t2_compile_time():
    impls = {"dualjit": _first_compiled_steps(mlp_setup, "dualjit")}
    if have("torch"):
        impls["torch.compile"] = _first_compiled_steps(mlp_setup, "torch")
    return impls


WORKLOADS = {
    "T1 poly fit nn+RMSprop, 2000 eager steps": t1_eager,
    "T1 poly fit nn+RMSprop, 2000 compiled steps": t1_compiled,
    "T1 poly fit: compile (first compiled step)": t1_compile_time,
    "T2 MLP 784-256-10 epoch (60 x 128), eager": t2_eager,
    "T2 MLP 784-256-10 epoch (60 x 128), compiled": t2_compiled,
    "T2 MLP: compile (first compiled step)": t2_compile_time,
    "T2 MLP compiled epoch vs its products alone": t2_products,
}


def _loads(loads) -> str:
    return ", ".join(f"{x:.1f}" for x in loads)


def main() -> int:
    """python -m benchmarks.torch_api [passes [names...]] [--settle S]: T1 and T2 (or the
    workloads whose names contain one of `names`), into results/torch_api.md; --settle S
    sleeps S seconds after each timed call, so that no implementation starts while the
    previous one's threads still spin or still count in dualjit's load reading.
    `python -m benchmarks.torch_api one-thread [passes]`: the T2 table of t2_one_thread_cpu,
    printed. `python -m benchmarks.torch_api phases [epochs]`: t2_phases at the thread setting
    of DUALJIT_NUM_THREADS (default: the idle cores), printed. `python -m
    benchmarks.torch_api matched [runs] [passes] [--settle S]`: T1/T2 at default, one and two
    threads each, in fresh processes (benchmarks/torch_matched.py)."""
    import datetime
    import sys

    from .__main__ import RESULTS, machine, run, table

    if sys.argv[1:2] == ["matched"]:
        from .torch_matched import main as matched

        return matched(sys.argv[2:])
    if sys.argv[1:2] == ["phases"]:
        epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
        load = os.getloadavg()
        rows = t2_phases(epochs)
        print(f"T2 step by phase, per step, median of {epochs} interleaved epochs (0.3 s sleep "
              f"before each); load {_loads(load)} -> {_loads(os.getloadavg())}; threads: "
              f"{os.environ.get('DUALJIT_NUM_THREADS', 'default')}\n\n| phase | wall us | CPU us "
              "(all threads) |\n|---|---:|---:|\n" + "\n".join(
                  f"| {n} | {w:.0f} | {c:.0f} |" for n, w, c in rows))
        return 0
    if sys.argv[1:2] == ["one-thread"]:
        passes = int(sys.argv[2]) if len(sys.argv) > 2 else 5
        load = os.getloadavg()
        rows = t2_one_thread_cpu(passes)
        print(f"T2 epoch on one thread, CPU time, median of {passes} interleaved passes; load "
              f"{_loads(load)} -> {_loads(os.getloadavg())}\n\n| implementation | CPU ms |\n"
              "|---|---:|\n" + "\n".join(f"| {n} | {t * 1e3:.1f} |" for n, t in rows))
        return 0
    args, settle = sys.argv[1:], 0.0
    if "--settle" in args:
        at = args.index("--settle")
        settle = float(args[at + 1])
        del args[at:at + 2]
    passes = int(args[0]) if args else 5
    only = args[1:] or ["T1", "T2"]
    now = datetime.datetime.now
    start, load_start = now(datetime.timezone.utc), os.getloadavg()
    rows = [row for name in only for row in run(passes, name, settle)]
    end, load_end = now(datetime.timezone.utc), os.getloadavg()
    pause = (f"; {settle:g} s of sleep after each timed call (`--settle`)" if settle else
             "; no pause between calls")
    text = (f"# Issue 13 workloads: PyTorch programs\n\n{start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC — "
            f"{machine()}; load average (1, 5, 15 min) {_loads(load_start)} at the start, "
            f"{_loads(load_end)} at the end{pause}\n\nMedians over {passes} interleaved passes; the "
            f"last column is each implementation's time divided by dualjit's (above 1: dualjit "
            f"is faster).\n\n{table(rows)}\n")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "torch_api.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
