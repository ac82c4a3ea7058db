"""Exported programs over Ray Datasets: `map_batches` runs one on every batch in Ray workers
(inference, per-example gradients), each worker loading the program once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..exported import Exported, deserialize, export
from ..tracer import tree_flatten, tree_structure
from ..tracer.pytree import PyTreeDef


class BatchProgram:
    """The callable class `Dataset.map_batches` runs in each Ray worker: an exported program
    applied to one batch (a dict of NumPy columns); a short last batch is padded to the
    program's batch size by repeating its last row, and the padding is cut from the results."""

    def __init__(self, blob: bytes, args: Any, inputs: Sequence[str], outputs: Sequence[str],
                 keep_columns: bool | Sequence[str]):
        self.exported = deserialize(blob)
        self.program = self.exported.compiled()
        self.arg_leaves = tree_flatten(list(args))[0]
        self.inputs, self.outputs, self.keep_columns = list(inputs), list(outputs), keep_columns
        self.batch_size = self.exported.in_avals[len(self.arg_leaves)].shape[0]

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = len(batch[self.inputs[0]])
        if n > self.batch_size:
            raise ValueError(f"map_batches: a batch of {n} rows is larger than the program's "
                             f"{self.batch_size}; pass batch_size={self.batch_size}")
        columns = [_padded(np.asarray(batch[c]), self.batch_size) for c in self.inputs]
        results = self.program(*self.arg_leaves, *columns)
        keep = self.keep_columns
        out = dict(batch) if keep is True else {c: batch[c] for c in keep or ()}
        out.update((name, np.asarray(r)[:n]) for name, r in zip(self.outputs, results))
        return out


def _padded(column: np.ndarray, size: int) -> np.ndarray:
    if len(column) == size:
        return column
    if len(column) == 0:
        raise ValueError("map_batches: an empty batch")
    pad = np.repeat(column[-1:], size - len(column), axis=0)
    return np.concatenate([column, pad])


def output_names(tree: PyTreeDef, prefix: str = "output") -> list[str]:
    """Column names for the leaves of an output structure: dict keys and positions, joined by
    '/' (a bare array is `prefix`)."""
    names: list[str] = []

    def walk(t: PyTreeDef, path: list[str]) -> None:
        if t.kind is None:
            names.append("/".join(path) or prefix)
            return
        keys = t.aux if t.kind is dict else range(len(t.children))
        for k, child in zip(keys, t.children):
            walk(child, path + [str(k)])
    walk(tree, [] if tree.kind is dict else [prefix] if tree.kind is not None else [])
    return names


def map_batches(dataset: Any, exported: Exported, *, args: Sequence[Any] = (),
                inputs: Sequence[str] = ("x",), outputs: Sequence[str] | None = None,
                keep_columns: bool | Sequence[str] = True, workers: int = 1,
                **ray_options: Any) -> Any:
    """`dataset` with `exported.call(*args, *[batch[c] for c in inputs])` applied to every batch,
    its results added as columns (named by `outputs`, or by the output's dict keys) to the
    dataset's columns (keep_columns=True), to some of them (a list of names) or alone (False).

    The program's batch size is the leading dimension of its first batch input (exported
    programs have static shapes); every output must have one row per example, and the program
    must treat examples independently (a short last batch is padded). `args` (parameters,
    say) are shipped once to each of the `workers` Ray actors, each of which loads the program
    once; other keyword arguments go to `Dataset.map_batches` (num_cpus, ...)."""
    n_args = len(tree_flatten(list(args))[0])
    if tree_structure(list(args)) != _prefix_tree(exported.in_tree, len(args)):
        raise TypeError(f"map_batches: args are structured as {tree_structure(list(args))}, the "
                        f"program's leading arguments as {_prefix_tree(exported.in_tree, len(args))}")
    batch_avals = exported.in_avals[n_args:]
    if len(batch_avals) != len(inputs) or not batch_avals:
        raise TypeError(f"map_batches: the program takes {len(batch_avals)} batch arrays after "
                        f"args, but inputs names {len(inputs)} columns ({list(inputs)})")
    size = batch_avals[0].shape[0] if batch_avals[0].shape else None
    for aval in (*batch_avals, *exported.out_avals):
        if not aval.shape or aval.shape[0] != size:
            raise TypeError(f"map_batches: every batch input and output needs a leading "
                            f"dimension of {size} examples; the program has {aval}")
    names = list(outputs) if outputs is not None else output_names(exported.out_tree)
    if len(names) != len(exported.out_avals):
        raise TypeError(f"map_batches: {len(names)} output names for "
                        f"{len(exported.out_avals)} outputs")
    from ray.data import ActorPoolStrategy

    return dataset.map_batches(
        BatchProgram, batch_size=size, batch_format="numpy",
        compute=ActorPoolStrategy(size=workers),
        fn_constructor_args=(exported.serialize(), list(args), list(inputs), names,
                             keep_columns), **ray_options)


def _prefix_tree(in_tree: PyTreeDef, n: int) -> PyTreeDef:
    """The structure of the first n arguments, as tree_structure(list(args)) gives it."""
    return PyTreeDef(list, n, in_tree.children[:n])


def per_example_grads(loss_fn: Callable, params: Any, *example_batch: Any) -> Exported:
    """An exported program (params, *batch) -> gradients of `loss_fn(params, *example)` for each
    example of the batch (stacked along a leading axis), for `map_batches`. The examples are
    visited by a `lax.scan`, so the program stays one small loop whatever the batch size."""
    from .. import lax
    from ..autodiff import grad

    def per_example(p, *batch):
        def body(carry, example):
            return carry, grad(loss_fn)(p, *example)
        return lax.scan(body, np.float32(0), tuple(batch))[1]
    return export(per_example)(params, *example_batch)
