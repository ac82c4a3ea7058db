"""Compiled forward kernels for eager elementwise special functions (erf, erfinv, ndtri, ...).

Their primitives' NumPy implementations evaluate every piece of a branch-free float64 formula
as a whole-array NumPy step (erfinv: 1 ms on 1,024 floats, 300x PyTorch). An op runs instead
as its composition compiled into one flat loop per dtype (codegen/flat.py): n contiguous
elements, n given at run time, so one kernel serves every shape, and the loop is vectorized
(the special functions' formulas inline, with codegen/vecmath.py's math). The values are
`dj.jit(fn)`'s, bit for bit (within a few ulps of the NumPy evaluation, whose exp and log
differ from ours); float32 values of erf, erfc, erfcx, ndtr, log_ndtr, erfinv, ndtri, logit
and GELU come from cheaper formulas accurate to float32 (float32_special.py). Compiling costs
0.1-1 s, so, as in ski rental, an (op, dtype) compiles once its NumPy evaluations have cost
COMPILE_BUDGET (a script calling it a few times never pays), on a background thread: calls
until the kernel is ready evaluate with NumPy, as before. Gradients are unaffected: the
recorded IR is the composition's.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

_log = logging.getLogger(__name__)
COMPILE_BUDGET = 0.01  # seconds of NumPy evaluation of an (op, dtype) before compiling
BACKGROUND = True  # compile on a thread (False: within the call, as tests want)
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_FAILED = object()  # (a dtype whose kernel could not be made: NumPy evaluation for good)
_pending: set[threading.Thread] = set()


class EagerKernel:
    """fast(*xs) for apply_op: fn's value on concrete float32/float64 arrays of one dtype
    (and, with several inputs, one shape) by fn's flat kernel once compiled; None (apply_op
    then evaluates fn) for anything else: tracers, other dtypes, before the kernel is ready."""

    def __init__(self, fn: Callable, name: str, arity: int = 1, numpy: Callable | None = None,
                 float32: Callable | None = None):
        self.fn, self.name, self.arity, self.numpy = fn, name, arity, numpy
        self.float32 = float32  # (a cheaper formula for float32, float32_special.py)
        self.kernels: dict[np.dtype, Any] = {}
        self.spent: dict[np.dtype, float] = {}  # seconds of NumPy evaluation, by dtype
        self.lock = threading.Lock()

    def __call__(self, *xs: Any) -> np.ndarray | None:
        x = xs[0]
        if type(x) is not np.ndarray or x.dtype not in _DTYPES:
            return self._numpy(xs)
        kernel = self.kernels.get(x.dtype)
        if kernel is None:
            if self.spent.get(x.dtype, 0.0) < COMPILE_BUDGET:
                return self._timed_numpy(xs)
            self._start(x.dtype)
            kernel = self.kernels[x.dtype]  # (ready at once when not compiled on a thread)
        if kernel is _FAILED or not self._same_kind(xs):
            return self._numpy(xs)
        out = np.empty(x.shape, x.dtype)
        if out.size:
            kernel(out, *[v if v.flags.c_contiguous else np.ascontiguousarray(v) for v in xs])
        return out

    def _numpy(self, xs) -> np.ndarray | None:
        return None if self.numpy is None else self.numpy(*xs)

    def _timed_numpy(self, xs) -> np.ndarray:
        """The NumPy evaluation (fn's own without `numpy`), its time spent toward compiling."""
        start = time.perf_counter()
        value = self.fn(*xs) if self.numpy is None else self.numpy(*xs)
        with self.lock:
            dtype = xs[0].dtype
            self.spent[dtype] = self.spent.get(dtype, 0.0) + time.perf_counter() - start
        return value

    def _same_kind(self, xs) -> bool:
        first = xs[0]
        return all(type(v) is np.ndarray and v.dtype == first.dtype and v.shape == first.shape
                   for v in xs[1:])

    def _start(self, dtype: np.dtype) -> None:
        from ..jit import native_backend

        with self.lock:
            if dtype in self.kernels:
                return
            self.kernels[dtype] = _FAILED  # (until compiled: NumPy)
        if not native_backend():  # (DUALJIT_BACKEND=interpreter or another backend: NumPy)
            return
        try:  # (traced here: quick, and the tracer's state is this thread's)
            function = self._scalar_function(dtype)
        except Exception as e:  # noqa: BLE001 (the NumPy evaluation stays, and is correct)
            _log.info("eager %s: no flat kernel for %s (%s: %s); NumPy evaluation kept",
                      self.name, dtype, type(e).__name__, e)
            return
        if not BACKGROUND:
            self._compile(dtype, function)
            return
        thread = threading.Thread(target=self._compile, args=(dtype, function),
                                  name=f"dualjit eager {self.name}", daemon=True)
        _pending.add(thread)
        thread.start()

    def _scalar_function(self, dtype: np.dtype):
        from ..codegen import flat
        from ..tracer.make_ir import make_ir

        formula = self.float32 if dtype == np.float32 and self.float32 is not None else self.fn
        function = make_ir(formula)(*[np.zeros((), dtype)] * self.arity)
        flat.check_scalar(function)
        if function.outputs[0].type.dtype.np != dtype:
            raise ValueError(f"its value is {function.outputs[0].type.dtype}, not {dtype}")
        flat.uses_range_limited_math(function)  # (traces the special functions' formulas)
        return function

    def _compile(self, dtype: np.dtype, function) -> None:
        from ..codegen import flat

        try:
            kernel = flat.FlatKernel(function)
        except Exception as e:  # noqa: BLE001
            _log.info("eager %s: not compiled for %s (%s: %s); NumPy evaluation kept",
                      self.name, dtype, type(e).__name__, e)
            return
        finally:
            _pending.discard(threading.current_thread())
        self.kernels[dtype] = kernel

    def ready(self, dtype: Any) -> bool:
        kernel = self.kernels.get(np.dtype(dtype))
        return kernel is not None and kernel is not _FAILED


def wait(timeout: float | None = None) -> None:
    """Until the kernels compiling in the background are ready (tests, benchmarks, exit)."""
    for thread in list(_pending):
        thread.join(timeout)


# An LLVM engine being made while the interpreter shuts down could crash it; a fork while a
# compile holds the engine's lock would leave the child a lock no thread can release.
atexit.register(wait, 10.0)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=lambda: wait(30.0))


def eager_kernel(fn: Callable, name: str, arity: int = 1, numpy: Callable | None = None,
                 float32: Callable | None = None) -> EagerKernel:
    """The compiled forward of the elementwise composition fn of `arity` float inputs (of
    `float32` instead for float32 values, when given); until it is ready, `numpy` (a NumPy
    evaluation of fn's value, or None: fn's own)."""
    return EagerKernel(fn, name, arity, numpy, float32)


def float32_formula(name: str) -> Callable | None:
    """float32_special's formula of the special function `name`, if it has one."""
    from . import float32_special

    return getattr(float32_special, name, None) if name in FLOAT32_FORMULAS else None


FLOAT32_FORMULAS = {"erf", "erfc", "erfcx", "erfinv", "ndtr", "ndtri", "log_ndtr", "logit",
                    "i0", "i0e", "i1e"}


# ---------------------------------------------------------------------------------------------
# erf and GELU: computed in float64 and rounded once (float32 within half an ulp and a bit)
# ---------------------------------------------------------------------------------------------

SQRT_HALF = 0.7071067811865476
SQRT_2_OVER_PI = 0.7978845608028654


def _in_float64(formula: Callable) -> Callable:
    def fn(x):
        from .. import numpy as jnp

        return jnp.astype(formula(jnp.astype(x, jnp.float64)), x.dtype)
    fn.__name__ = formula.__name__
    return fn


def special_erf(x):
    """erf's primitive (fdlibm's formula): torch.erf's kernel."""
    from ..scipy import special as jss

    return jss.erf(x)


@_in_float64
def gelu_erf(x):
    """x * ndtr(x), as 0.5 x erfc(-x / sqrt 2): accurate in the far negative tail too."""
    from ..scipy import special as jss

    return 0.5 * x * jss.erfc(-x * SQRT_HALF)


@_in_float64
def gelu_erf_float32(x):
    """gelu_erf with float32_special's erfc (to 1e-12; then rounded to float32)."""
    from .float32_special import erfc_of_float64

    return 0.5 * x * erfc_of_float64(-x * SQRT_HALF)


@_in_float64
def gelu_tanh(x):
    """0.5 x (1 + tanh(u)) as x / (1 + exp(-2u)): no cancellation in the negative tail."""
    from .. import numpy as jnp

    u = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)
    return x / (1.0 + jnp.exp(-2.0 * u))


def gelu_kernels(numpy: Callable) -> dict[str, EagerKernel]:
    """GELU's forward kernels by `approximate` ("none", "tanh"); `numpy(x, approximate)` is
    the NumPy evaluation until they are ready."""
    return {approximate: EagerKernel(formula, f"gelu {approximate}",
                                     numpy=lambda x, a=approximate: numpy(x, a), float32=f32)
            for approximate, formula, f32 in (("none", gelu_erf, gelu_erf_float32),
                                              ("tanh", gelu_tanh, None))}
