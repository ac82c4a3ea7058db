"""Compiled forward kernels for eager elementwise special functions (erfinv, ndtri, i0, ...).

Their primitives' NumPy implementations evaluate every piece of a branch-free float64 formula
as a whole-array NumPy step (erfinv: 1.5 ms on 1,024 floats, 300x PyTorch). An op that keeps
being called with one (dtype, shape) runs instead as its composition compiled by dualjit.jit:
the same IR and native lowering as `dj.jit(fn)` and `dj.compile`, so the values are exactly
`dj.jit(fn)`'s (within a few ulps of the NumPy evaluation, whose exp and log differ from
LLVM's). Compiling one costs 10-900 ms, so, as in ski rental, a signature is compiled only once
its NumPy evaluations have taken COMPILE_BUDGET seconds in all: a test or script calling an op
a few times never pays it, and a loop pays at most about twice the better of the two.
Gradients are unaffected: the recorded IR is the composition's, as before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

_log = logging.getLogger(__name__)
COMPILE_BUDGET = 0.1  # seconds of NumPy evaluation of one signature before compiling it
MAX_SIGNATURES = 16  # per op: shapes beyond it keep the NumPy evaluation (bounded memory)
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class CompiledAfter:
    """fast(x) for apply_op: fn's value on a concrete float32/float64 array, by NumPy until
    x's (dtype, shape) has cost COMPILE_BUDGET, then by fn compiled; None (apply_op calls fn)
    for anything else (tracers, other dtypes)."""

    def __init__(self, fn: Callable, name: str):
        self.fn = fn
        self.name = name
        self.spent: dict[tuple, float] = {}
        self.kernels: dict[tuple, Any] = {}
        self.lock = threading.Lock()

    def __call__(self, x: Any) -> Any:
        if type(x) is not np.ndarray or x.dtype not in _DTYPES:
            return None
        signature = (x.dtype, x.shape)
        kernel = self.kernels.get(signature)
        if kernel is not None:
            return np.asarray(kernel(x))
        start = time.perf_counter()
        value = self.fn(x)
        self._spend(signature, time.perf_counter() - start)
        return value

    def _spend(self, signature: tuple, seconds: float) -> None:
        with self.lock:
            spent = self.spent[signature] = self.spent.get(signature, 0.0) + seconds
            if spent >= COMPILE_BUDGET and len(self.kernels) < MAX_SIGNATURES and \
                    signature not in self.kernels:
                self._compile(signature)

    def _compile(self, signature: tuple) -> None:
        from ..jit import jit

        kernel = jit(self.fn)
        try:
            kernel(np.zeros(signature[1], signature[0]))
        except Exception as e:  # noqa: BLE001 (keep the NumPy evaluation, which is correct)
            _log.info("eager %s: not compiled for %s (%s: %s); NumPy evaluation kept",
                      self.name, signature, type(e).__name__, e)
            self.spent[signature] = -np.inf  # (never tried again)
            return
        self.kernels[signature] = kernel


def compiled_after(fn: Callable, name: str) -> CompiledAfter:
    """The lazily compiled forward of the elementwise composition fn (one float input)."""
    return CompiledAfter(fn, name)
