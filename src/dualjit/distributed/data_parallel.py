"""Data-parallel training on Ray actors: each worker holds the parameters and a shard of every
batch, runs the exported gradient program, and applies the averaged gradients with the exported
update program, so the parameters stay identical on every worker.

Gradients are averaged through Ray's object store, by the driver, in a fixed order: a worker that
dies or hangs shows up at once as an error of `ray.get`, before any worker has applied an update
built from fewer gradients (see the README, "Export and scale-out", for why not ray.util.collective).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import ray
from ray.exceptions import GetTimeoutError, RayActorError

from ..exported import Exported, deserialize, export
from ..jit import jit
from ..tracer import ShapeDtypeStruct, tree_flatten, tree_map, tree_structure, tree_unflatten


class WorkerFailedError(RuntimeError):
    """A data-parallel worker died or stopped answering; the step was not applied."""


def sgd(learning_rate: float) -> Callable:
    """Plain SGD as an optimizer update: (params, grads, opt_state) -> (params, opt_state)."""
    def update(params, grads, opt_state):
        return tree_map(lambda w, g: w - learning_rate * g, params, grads), opt_state
    return update


def _flat(exported: Exported) -> Exported:
    """The same program over flat lists of leaves: workers then need none of the user's pytree
    classes, only dualjit."""
    fn = exported.function
    return Exported(exported.fun_name, tree_structure([0] * len(fn.inputs)),
                    tree_structure([0] * len(fn.outputs)), fn)


def _digest(leaves: Sequence[np.ndarray]) -> str:
    h = hashlib.sha256()
    for a in leaves:
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


class _Worker:
    """One data-parallel worker (a Ray actor): parameters and optimizer state as flat leaves."""

    def __init__(self, rank: int, threads: int, update_blob: bytes, params: list, opt_state: list,
                 steps: int):
        os.environ.setdefault("DUALJIT_NUM_THREADS", str(threads))  # share the node's cores
        self.rank = rank
        self.update = deserialize(update_blob).compiled()
        self.grad_programs: dict[Any, Any] = {}
        self.params = [np.array(p) for p in params]
        self.opt_state = [np.array(s) for s in opt_state]
        self.steps = steps

    def add_program(self, key: Any, blob: bytes) -> None:
        self.grad_programs[key] = deserialize(blob).compiled()

    def step(self, target: int, mean_grads: list | None, key: Any, shard: list
             ) -> tuple[float, list]:
        """Apply the previous step's averaged gradients (if not yet), then the loss and
        gradients of this shard: one round trip per step."""
        self.apply(target, mean_grads)
        loss, *grads = self.grad_programs[key](*self.params, *shard)
        return float(loss), grads

    def start_epoch(self, shard: Any, batch_size: int, columns: list[str],
                    id_column: str | None) -> None:
        """Iterate over this worker's split of a Ray Dataset (a DataIterator), by batches."""
        self.batches = iter(shard.iter_batches(batch_size=batch_size, batch_format="numpy",
                                               drop_last=True))
        self.columns, self.id_column = columns, id_column

    def step_next(self, target: int, mean_grads: list | None, key: Any
                  ) -> tuple[float, list, int, list] | None:
        """step() on the next batch of this worker's split; None when the split is done."""
        self.apply(target, mean_grads)
        batch = next(self.batches, None)
        if batch is None:
            return None
        shard = [np.ascontiguousarray(batch[c]) for c in self.columns]
        loss, *grads = self.grad_programs[key](*self.params, *shard)
        ids = batch[self.id_column].tolist() if self.id_column else []
        return float(loss), grads, len(shard[0]), ids

    def apply(self, target: int, mean_grads: list | None) -> int:
        """Make the update that brings this worker to `target` steps (once: a repeated
        request is ignored, so the driver may always resend what is pending)."""
        if mean_grads is None or self.steps == target:
            return self.steps
        if self.steps != target - 1:
            raise RuntimeError(f"data_parallel worker {self.rank}: asked to make update "
                               f"{target} after {self.steps} (a driver bug; refusing)")
        n = len(self.params)
        out = self.update(*self.params, *mean_grads, *self.opt_state)
        self.params, self.opt_state = out[:n], out[n:]
        self.steps = target
        return self.steps

    def state(self) -> tuple[list, list, int]:
        return self.params, self.opt_state, self.steps

    def digest(self) -> str:
        return _digest(self.params + self.opt_state) + f":{self.steps}"

    def pid(self) -> int:
        return os.getpid()


class DataParallel:
    """Train `loss_fn(params, batch)` on `num_workers` Ray actors, each computing the gradient of
    its shard of every batch; see `data_parallel`."""

    def __init__(self, loss_fn: Callable, optimizer_update: Callable, params: Any, *,
                 opt_state: Any = None, example_batch: Any = None, num_workers: int = 2,
                 cpus_per_worker: float = 1, step_timeout: float = 300.0,
                 start_timeout: float = 600.0, actor_options: dict | None = None):
        if num_workers < 1:
            raise ValueError(f"data_parallel: num_workers={num_workers}; need at least 1")
        if not ray.is_initialized():
            ray.init()  # a local Ray, or the cluster in RAY_ADDRESS
        self.loss_fn = loss_fn
        self.num_workers = num_workers
        self.step_timeout = step_timeout
        self.start_timeout = start_timeout
        self.steps = 0  # updates applied (or about to be: see _pending)
        param_leaves, self._param_tree = tree_flatten(params)
        opt_leaves, self._opt_tree = tree_flatten(opt_state)
        self._value_and_grad = _value_and_grad(loss_fn)
        update = export(jit(optimizer_update))(params, params, opt_state)
        if update.out_tree != tree_structure((params, opt_state)):
            raise TypeError(f"data_parallel: optimizer_update must return (params, opt_state) "
                            f"structured as {tree_structure((params, opt_state))}, returns "
                            f"{update.out_tree}")
        self._update_blob = _flat(update).serialize()
        self._threads = max(1, int(cpus_per_worker))
        self._actor_options = {"num_cpus": cpus_per_worker, **(actor_options or {})}
        self._programs: dict[Any, bytes] = {}  # shard types -> flat gradient program
        self._pending = None  # averaged gradients the workers apply at the start of next call
        self._param_specs = [ShapeDtypeStruct(np.shape(a), np.asarray(a).dtype)
                             for a in param_leaves]
        self._failed: str | None = None
        self._workers = self._start(range(num_workers), param_leaves, opt_leaves)
        if example_batch is not None:
            for shard in self._shards(example_batch):
                self._program_key(shard)

    # -- workers ------------------------------------------------------------------------------
    def _start(self, ranks, params: list, opt_state: list) -> list:
        actor = ray.remote(**self._actor_options)(_Worker)
        params_ref, opt_ref = ray.put(params), ray.put(opt_state)
        workers = [actor.remote(rank, self._threads, self._update_blob, params_ref, opt_ref,
                                self.steps) for rank in ranks]
        for key, blob in self._programs.items():
            self._get([w.add_program.remote(key, blob) for w in workers], "loading programs",
                      self.start_timeout)
        return workers

    def _get(self, refs: list, doing: str, timeout: float | None = None) -> list:
        """ray.get, turning a dead or silent worker into a WorkerFailedError."""
        timeout = self.step_timeout if timeout is None else timeout
        try:
            return ray.get(refs, timeout=timeout)
        except RayActorError as e:
            rank = self._dead_rank(refs)
            self._failed = (f"worker {rank} died while {doing} in step {self.steps + 1}"
                            f" ({type(e).__name__}: {str(e).splitlines()[0]})")
        except GetTimeoutError:
            self._failed = (f"a worker did not answer within {timeout} s while {doing} in "
                            f"step {self.steps + 1}{_resources_hint(self._actor_options)}")
        raise WorkerFailedError(
            f"data_parallel: {self._failed}. No gradients were averaged for that step and "
            "no worker applied an update from part of them. Call restart() to replace the "
            "lost workers with copies of a surviving worker (the parameters after "
            "`steps` updates), then repeat the step's batch.")

    def _dead_rank(self, refs: list) -> int | str:
        for rank, ref in enumerate(refs):
            try:
                ray.get(ref, timeout=0)
            except RayActorError:
                return rank
            except Exception:
                continue
        return "?"

    def restart(self) -> None:
        """Replace dead or silent workers with copies of a surviving one (whose parameters are
        identical to every other survivor's, which is checked)."""
        alive, states = [], {}
        for rank, worker in enumerate(self._workers):
            try:
                states[rank] = ray.get(worker.state.remote(), timeout=self.step_timeout)
                alive.append(rank)
            except (RayActorError, GetTimeoutError):
                ray.kill(worker)
        if not alive:
            raise WorkerFailedError("data_parallel: no worker survived; create a new "
                                    "data_parallel from your last saved parameters")
        digests = {_digest(states[r][0] + states[r][1]) + f":{states[r][2]}" for r in alive}
        if len(digests) != 1:
            raise WorkerFailedError("data_parallel: the surviving workers' parameters differ; "
                                    "create a new data_parallel from saved parameters")
        params, opt_state, self.steps = states[alive[0]]
        lost = [r for r in range(self.num_workers) if r not in alive]
        for rank, worker in zip(lost, self._start(lost, params, opt_state)):
            self._workers[rank] = worker
        self._pending, self._failed = None, None

    def shutdown(self) -> None:
        for worker in self._workers:
            ray.kill(worker)
        self._workers = []

    def __enter__(self) -> DataParallel:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()

    # -- training -----------------------------------------------------------------------------
    def step(self, batch: Any) -> float:
        """One training step on a global batch (split along axis 0 over the workers); returns
        the batch's mean loss. The same step as one process would take on the whole batch,
        when the loss is a mean over the examples of its batch."""
        if self._failed:
            raise WorkerFailedError(f"data_parallel: {self._failed}; call restart() first")
        shards = self._shards(batch)
        keys = [self._program_key(s) for s in shards]
        refs = [w.step.remote(self.steps, self._pending, key, tree_flatten(s)[0])
                for w, key, s in zip(self._workers, keys, shards)]
        results = self._get(refs, "computing gradients")
        return self._average([loss for loss, _ in results], [grads for _, grads in results],
                             [_leading(s) for s in shards])

    def _average(self, losses: list[float], grads: list[list], sizes: list[int]) -> float:
        """Queue the size-weighted mean of the workers' gradients (summed in rank order, so
        every run sums alike) for the next call; the batch's mean loss."""
        weights = [n / sum(sizes) for n in sizes]
        mean = [sum(w * g for w, g in zip(weights, leaf)) for leaf in zip(*grads)]
        self._pending = ray.put([np.asarray(m, dtype=g.dtype) for m, g in zip(mean, grads[0])])
        self.steps += 1
        return float(sum(w * loss for w, loss in zip(weights, losses)))

    def fit(self, dataset: Any, batch_size: int, *, columns: Sequence[str], epochs: int = 1,
            id_column: str | None = None) -> list[float] | tuple[list[float], list[list]]:
        """Train on a Ray Dataset, as Ray Train does: the dataset is split over the workers
        (`streaming_split`), each reads its own batches of batch_size / num_workers rows (no
        data passes through the driver), and the batch given to loss_fn is the tuple of
        `columns`. Incomplete last batches are dropped. Returns the loss of every step (and,
        with id_column, the ids of the examples each step used)."""
        if self._failed:
            raise WorkerFailedError(f"data_parallel: {self._failed}; call restart() first")
        if batch_size % self.num_workers:
            raise ValueError(f"data_parallel.fit: batch_size={batch_size} does not split "
                             f"evenly over {self.num_workers} workers")
        per_worker, columns = batch_size // self.num_workers, list(columns)
        sample = dataset.take_batch(per_worker, batch_format="numpy")
        key = self._program_key(tuple(np.ascontiguousarray(sample[c]) for c in columns))
        losses, ids = [], []
        for _ in range(epochs):
            splits = dataset.streaming_split(self.num_workers, equal=True)
            self._get([w.start_epoch.remote(split, per_worker, columns, id_column)
                       for w, split in zip(self._workers, splits)], "starting an epoch")
            while True:
                results = self._get([w.step_next.remote(self.steps, self._pending, key)
                                     for w in self._workers], "computing gradients")
                if any(r is None for r in results):
                    if not all(r is None for r in results):
                        raise RuntimeError("data_parallel.fit: the dataset's splits ended "
                                           "unevenly (streaming_split(equal=True) should not)")
                    break
                losses.append(self._average([r[0] for r in results], [r[1] for r in results],
                                            [r[2] for r in results]))
                ids.append([i for r in results for i in r[3]])
        return (losses, ids) if id_column else losses

    def _shards(self, batch: Any) -> list:
        leaves, tree = tree_flatten(batch)
        n = {_leading_of(x) for x in leaves}
        if len(n) != 1:
            raise ValueError(f"data_parallel: the batch's leaves have different leading "
                             f"dimensions {sorted(n)}; every leaf must hold the same examples")
        (n,) = n
        if n < self.num_workers:
            raise ValueError(f"data_parallel: a batch of {n} examples cannot be split over "
                             f"{self.num_workers} workers")
        bounds = np.linspace(0, n, self.num_workers + 1).round().astype(int)
        return [tree_unflatten(tree, [_rows(x, a, b) for x in leaves])
                for a, b in zip(bounds[:-1], bounds[1:])]

    def _program_key(self, shard: Any) -> Any:
        leaves, tree = tree_flatten(shard)
        key = (repr(tree), tuple((str(np.dtype(x.dtype)), tuple(x.shape)) for x in leaves))
        if key not in self._programs:
            params = self._params_spec()
            blob = _flat(export(self._value_and_grad)(params, _spec(shard))).serialize()
            self._get([w.add_program.remote(key, blob) for w in self._workers],
                      "loading programs", self.start_timeout)
            self._programs[key] = blob
        return key

    def _params_spec(self) -> Any:
        return tree_unflatten(self._param_tree, self._param_specs)

    # -- reading the state --------------------------------------------------------------------
    def _flush(self) -> None:
        if self._pending is not None:
            if self._failed:
                raise WorkerFailedError(f"data_parallel: {self._failed}; call restart() first")
            self._get([w.apply.remote(self.steps, self._pending) for w in self._workers],
                      "updating")
            self._pending = None

    @property
    def params(self) -> Any:
        """The current parameters (from worker 0; every worker holds the same)."""
        self._flush()
        leaves = self._get([self._workers[0].state.remote()], "reading parameters")[0][0]
        return tree_unflatten(self._param_tree, leaves)

    @property
    def opt_state(self) -> Any:
        self._flush()
        leaves = self._get([self._workers[0].state.remote()], "reading parameters")[0][1]
        return tree_unflatten(self._opt_tree, leaves)

    def parameters_identical(self) -> bool:
        """Whether every worker holds bit-identical parameters and optimizer state."""
        self._flush()
        return len(set(self._get([w.digest.remote() for w in self._workers], "comparing"))) == 1

    def worker_pids(self) -> list[int]:
        return self._get([w.pid.remote() for w in self._workers], "listing workers")


def _resources_hint(options: dict) -> str:
    """Why a worker may never have started: the cluster lacks the CPUs it asked for."""
    free = ray.available_resources().get("CPU", 0.0)
    if free < options.get("num_cpus", 1):
        return (f" (Ray has {free:g} free CPUs and each worker asks for "
                f"{options.get('num_cpus', 1):g}: a worker may be waiting for resources)")
    return ""


def _value_and_grad(loss_fn: Callable) -> Callable:
    from ..autodiff import value_and_grad

    return value_and_grad(loss_fn)


def _leading_of(x: Any) -> int:
    shape = np.shape(x)
    if not shape:
        raise ValueError("data_parallel: a batch leaf is a scalar; every leaf needs a leading "
                         "dimension of examples")
    return shape[0]


def _leading(shard: Any) -> int:
    return _leading_of(tree_flatten(shard)[0][0])


def _rows(x: Any, a: int, b: int) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x)[a:b])


def _spec(tree: Any) -> Any:
    return tree_map(lambda x: ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype), tree)


def data_parallel(loss_fn: Callable, optimizer_update: Callable, params: Any, *,
                  opt_state: Any = None, example_batch: Any = None, num_workers: int = 2,
                  **options: Any) -> DataParallel:
    """Data-parallel training of `loss_fn(params, batch) -> scalar` on `num_workers` Ray actors.

    `optimizer_update(params, grads, opt_state) -> (params, opt_state)` (e.g. `sgd(0.1)`) runs
    on every worker with the averaged gradients. Both are exported once, on the driver, and the
    workers run the exported programs (they need dualjit, not your code). `trainer.step(batch)`
    splits a global batch along axis 0; `trainer.params` reads the parameters back.
    Options: cpus_per_worker; step_timeout and start_timeout (seconds before a silent worker
    is an error, during steps and while starting or loading programs); actor_options (passed
    to ray.remote: resources, runtime_env, scheduling).
    """
    return DataParallel(loss_fn, optimizer_update, params, opt_state=opt_state,
                        example_batch=example_batch, num_workers=num_workers, **options)
