"""The native runtime: a Function's plan emitted, compiled and bound to callers; cached."""

from __future__ import annotations

import collections
import ctypes
import threading
import time
import weakref
from typing import Any

import numpy as np

from ..ir import Function, Literal, Var, impl_rules, sub_functions
from ..ir import primitives as P
from ..ir.interpreter import literal_value
from . import chunk_loop, nest_parallel, object_cache, parallel, profile, pycall, threads
from .abi import KernelEntryError
from .callers import (
    ArgumentError,
    Callers,
    CallSpec,
    Scratch,
    host_call_callers,
    kernel_callers,
    kernel_constants,
    kernel_layout,
    unaliased,
)
from .engine import CompiledModule
from .fft import host_fft
from .lower import KERNEL_OK, emit_module, release
from .schedule import HostStepPlan, KernelPlan, lowering, plan_function


class _Kernel:
    """A planned kernel bound to its compiled code."""

    __slots__ = ("plan", "segment", "flat", "call", "chunk_call", "fold_call", "blas_flops",
                 "scratch")

    def __init__(self, plan: KernelPlan, compiled: CompiledModule, builtin_entries: bool,
                 single: bool = True):
        """single: the only kernel of its function (only then are its temporaries kept
        between calls: callers.Scratch)."""
        self.plan, self.segment, self.flat = plan, plan.segment, plan.flat
        seg = plan.segment
        slots = kernel_slots(plan)
        n = len(seg.live_in) + len(seg.live_out) + len(slots)
        if builtin_entries:  # a builtin: no ctypes argument conversion per call
            self.call = pycall.builtin(plan.name, compiled.address(plan.name + "_py"), compiled)
        else:
            self.call = _aligned_first(_ctypes_call(compiled, plan.name, n), len(seg.live_in),
                                       plan.name)
        self.blas_flops = threads.blas_flops(seg.eqns)  # BLAS threads are set per call (threads.py)
        if self.blas_flops:  # (BLAS threads for its unsplit products: threads.kernel_blas_flops)
            self.call = threads.with_blas_threads(self.call, threads.kernel_blas_flops(seg.groups))
        if any(g.split is not None for g in seg.groups):  # (a worker ready for its nests)
            self.call = nest_parallel.with_warm_workers(self.call)
        self.scratch = Scratch([(n, np.uint8) for n in slots], keep=single)
        self.chunk_call = self.fold_call = None
        if plan.flat is not None:  # the chunk loop and fold threads share (chunk_loop.py)
            self.chunk_call = _ctypes_call(compiled, plan.name + "_chunks", n, chunked=True)
            self.chunk_call.nest = compiled.address(plan.name + "_nest")  # (native threads)
            self.fold_call = _ctypes_call(compiled, plan.name + "_fold",
                                          2 * len(chunk_loop.reduced(plan.flat)))

    def run(self, env: dict) -> None:
        seg = self.segment
        ins = [env[v] for v in seg.live_in]
        out_specs = [(v.type.shape, v.type.dtype.np) for v in seg.live_out]
        if self.flat is not None and parallel.helpers(self.flat):  # chunks shared by threads
            outs = parallel.run(self.chunk_call, self.fold_call, self.flat, ins, out_specs)
        else:  # (a split kernel runs its chunks in order: the same results)
            outs = [np.empty(s, d) for s, d in out_specs]
            temps = self.scratch.take()
            self.call(*ins, *outs, *temps)
            self.scratch.give(temps)
        env.update(zip(seg.live_out, outs))


def _split_callers(one_thread: Callers, flat, general) -> Callers:
    """Callers of a thread-split kernel: the fast path when one thread runs it, else the
    general path (parallel.run); both give the same results."""
    fast, helpers = one_thread.call, parallel.helpers

    def call(args):
        return general(*args) if helpers(flat) else fast(args)
    return Callers(call)


def kernel_slots(plan: KernelPlan) -> list[int]:
    """The byte sizes of the temporaries a kernel's entry takes (its split variant's when it
    has one: that is what it runs)."""
    return (plan.flat.segment if plan.flat is not None else plan.segment).slot_bytes


def _ctypes_call(compiled: CompiledModule, name: str, n_arrays: int, chunked: bool = False):
    """A ctypes function calling kernel `name` (n_arrays array objects, then start and end
    when chunked); it holds `compiled`, which keeps the machine code alive. It returns the
    kernel's status (chunk kernels have no failing steps: lower.KernelBuilder.fail)."""
    extra = [ctypes.c_int64, ctypes.c_int64] if chunked else []
    call = ctypes.CFUNCTYPE(ctypes.c_int32, *([ctypes.py_object] * n_arrays), *extra)(
        compiled.address(name))
    call.code_owner = compiled
    return call


def _aligned_first(call, n_inputs: int, name: str):
    """call, refusing arrays among the first n_inputs whose data is not aligned, and raising
    on a failure status (what the builtin entries do natively; see pycall.py)."""
    def checked(*arrays):
        if not all(a.flags.aligned for a in arrays[:n_inputs]):
            raise KernelEntryError("an argument's data is not aligned for its dtype")
        if call(*arrays) != KERNEL_OK:
            raise MemoryError(pycall.OUT_OF_MEMORY_MESSAGE.format(kernel=name))
    return checked


# Host steps that run otherwise than their primitive's impl rule (same values, faster).
HOST_IMPLEMENTATIONS = {P.fft_p: host_fft}


class _HostStep:
    """An equation run from Python between kernels, through its implementation (ir's one host
    interpreter); the sub-Functions of control flow and custom-rule calls run compiled."""

    def __init__(self, plan: HostStepPlan):
        self.plan, self.eqn = plan, plan.eqn
        self.impl = HOST_IMPLEMENTATIONS.get(self.eqn.primitive, impl_rules[self.eqn.primitive])
        flops = threads.blas_flops([self.eqn])  # numpy's matmul uses the same BLAS
        if flops:
            self.impl = threads.with_blas_threads(self.impl, flops)
        self.params = dict(self.eqn.params)
        if self.eqn.primitive.higher_order:
            self.params["run_function"] = _SubFunctions(self.eqn)

    def run(self, env: dict) -> None:
        eqn = self.eqn
        args = [np.asarray(literal_value(a)) if isinstance(a, Literal) else env[a]
                for a in eqn.inputs]
        out = self.impl(*args, **self.params)
        for v, value in zip(eqn.outputs, out if eqn.primitive.multiple_results else [out]):
            # kernels read their inputs as C-ordered memory: an implementation may return a
            # view (a transpose, a reversed or broadcast array); 0-d arrays stay 0-d
            env[v] = np.asarray(value, dtype=v.type.dtype.np, order="C")


class _SubFunctions:
    """run_function(fn, *args) for a host step's implementation: its sub-Functions compiled.
    Control flow's are compiled with the step; a custom-rule call's on first use (its impl
    runs `call`, never the `fwd` and `bwd` rules it also carries)."""

    def __init__(self, eqn):
        self.compiled: dict[int, tuple[Function, CompiledFunction]] = {}
        if lowering(eqn.primitive).control_flow:
            for fn in sub_functions(eqn):
                self.compiled[id(fn)] = (fn, compile_function(fn))

    def __call__(self, fn: Function, *args) -> list[np.ndarray]:
        found = self.compiled.get(id(fn))
        if found is None:  # keeping fn keeps its id from being reused
            found = self.compiled[id(fn)] = (fn, compile_function(fn))
        return found[1](*args)


class CompiledFunction:
    """A Function compiled to native kernels; callable on numpy arrays, returns a list of arrays.

    `plan` is what schedule.py decided (print it to see the kernels, fusion groups, buffers
    and host steps); `spec` is the argument contract every call path checks (callers.py)."""

    def __init__(self, fn: Function):
        t0 = time.perf_counter()
        self.function = fn
        self.in_types = fn.in_types
        self.spec = CallSpec(self.in_types)
        self.consts = kernel_constants(fn)
        self.plan = plan_function(fn)
        builtin_entries = pycall.register_symbols()
        self._lower_seconds = time.perf_counter() - t0  # planning; _emit_module adds emission
        self.compiled = self._emit_module(builtin_entries)
        self.steps = self._bind_steps(builtin_entries)
        self.timings = {"lower": self._lower_seconds,
                        **(self.compiled.timings if self.compiled else {})}
        self._make_callers(builtin_entries)

    def _emit_module(self, builtin_entries: bool) -> CompiledModule | None:
        """The plan's kernels, compiled: an exported program's object code for this very
        Function and plan when there is one, else LLVM IR emitted now, then optimized and
        JIT-compiled."""
        if not self.plan.kernels:
            return None
        found = object_cache.lookup_plan(self.function, self.plan, builtin_entries)
        loaded = found and CompiledModule.from_object_code(found, self.plan.codegen_level)
        if loaded:
            return loaded
        t0 = time.perf_counter()
        module = emit_module(self.plan, builtin_entries)
        text = str(module)
        release(module)
        self._lower_seconds += time.perf_counter() - t0
        return CompiledModule(text, codegen_opt=self.plan.codegen_level)

    def _bind_steps(self, builtin_entries: bool) -> list:
        single = len(self.plan.kernels) == 1
        return [_Kernel(s, self.compiled, builtin_entries, single) if isinstance(s, KernelPlan)
                else _HostStep(s) for s in self.plan.steps]

    def _make_callers(self, builtin_entries: bool) -> None:
        """fast_call (any arguments, checked), typed_call and float_call (see callers.py) for
        a Function that is one kernel or one library call; None where they do not apply."""
        self.float_entry = None  # (address of a `_pyf` entry, out shape, dtype): dispatch.py
        callers = self._one_kernel_callers(builtin_entries) or self._one_host_step_callers()
        if profile.ENABLED:  # DUALJIT_PROFILE=1: every call goes through the timed steps
            callers = self.float_entry = None
        self.fast_call = callers.call if callers else None
        self.typed_call = callers.typed if callers else None
        self.float_call = callers.float_call if callers else None
        fn = self.function
        # outputs that need no aliasing check: kernels' fresh arrays, each returned once
        kernel_outs = {v for k in self.plan.kernels for v in k.segment.live_out}
        first = {}
        for i, a in enumerate(fn.outputs):
            first.setdefault(a, i)
        self._fresh = [isinstance(a, Var) and a in kernel_outs and first[a] == i
                       for i, a in enumerate(fn.outputs)]

    def _one_kernel_callers(self, builtin_entries: bool):
        if len(self.steps) != 1 or not isinstance(self.steps[0], _Kernel):
            return None
        kernel = self.steps[0]
        seg = kernel.segment
        layout = kernel_layout(self.function, seg.live_in, seg.live_out,
                               kernel_slots(kernel.plan), self.consts)
        if layout is None:
            return None
        if kernel.flat is not None:  # on one thread, the fast path calls it as any kernel
            return _split_callers(kernel_callers(self.spec, kernel.call, layout), kernel.flat,
                                  self)
        float_kernel = None
        if builtin_entries and kernel.plan.float_entry:
            name = kernel.plan.name
            address = self.compiled.address(name + "_pyf")
            float_kernel = pycall.builtin(name, address, self.compiled)
            if not kernel.blas_flops and layout.simple:  # (no BLAS thread count to set)
                (shape, dtype), = layout.out_specs
                self.float_entry = (address, shape, dtype)
        return kernel_callers(self.spec, kernel.call, layout, float_kernel)

    def _one_host_step_callers(self):
        fn = self.function
        if len(self.steps) != 1 or not isinstance(self.steps[0], _HostStep) or fn.consts:
            return None
        step = self.steps[0]
        eqn = step.eqn
        if (eqn.primitive.higher_order or eqn.primitive.multiple_results
                or list(eqn.inputs) != list(fn.inputs) or list(fn.outputs) != [eqn.outputs[0]]):
            return None
        return host_call_callers(self.spec, step.impl, dict(eqn.params),
                                 eqn.outputs[0].type.dtype.np)

    # -- calling --------------------------------------------------------------------------------
    def check_arguments(self, args) -> list[np.ndarray]:
        return self.spec.coerce(args)

    def __call__(self, *args: Any) -> list[np.ndarray]:
        fn = self.function
        if profile.ENABLED:
            env = self._profiled_steps(args)
        else:
            env: dict[Var, Any] = dict(zip(fn.inputs, self.spec.coerce(args)))
            env.update(self.consts)
            for step, dead in zip(self.steps, self.plan.dead_after):
                step.run(env)
                for v in dead:
                    env.pop(v, None)
        outs = [np.asarray(literal_value(a)) if isinstance(a, Literal) else env[a]
                for a in fn.outputs]
        return unaliased(outs, args, self._fresh)

    def _profiled_steps(self, args) -> dict:
        start = time.perf_counter()
        samples: list[list[float]] = [[] for _ in self.steps]
        env = profile.timed_call(self, self.spec.coerce(args), samples)
        profile.record(self, samples, time.perf_counter() - start)
        return env

    def profile(self, *args: Any, repeats: int = 10, nests: bool = False) -> profile.Profile:
        """Each step's median time over `repeats` calls on args; nests: also each loop nest
        and library call inside the kernels (see codegen/profile.py)."""
        return profile.profile(self, args, repeats, nests)

    def probed_steps(self) -> tuple[list, CompiledModule | None]:
        """The plan's steps with its kernels bound to a profiling build of them (the same
        kernels, counting the cycles of each group: codegen/probes.py), and that build."""
        if not self.plan.kernels:
            return self.steps, None
        module = emit_module(self.plan, builtin_entries=False, probed=True)
        text = str(module)
        release(module)
        probed = CompiledModule(text, codegen_opt=self.plan.codegen_level)
        single = len(self.plan.kernels) == 1
        return [_Kernel(plan, probed, False, single) if isinstance(plan, KernelPlan) else step
                for plan, step in zip(self.plan.steps, self.steps)], probed

    def llvm_ir(self) -> str:
        return self.compiled.optimized_ir if self.compiled else ""

    def asm(self) -> str:
        return self.compiled.asm() if self.compiled else ""


# Compiled code is shared by structure: an equal Function compiles once while anyone holds its
# CompiledFunction (a jit specialization, an eager backward program), and the CACHE_SIZE most
# recently used stay a while after their last holder lets go (a jit of a new lambda per call
# reuses them), unless their constants are large: a dropped closure over a big array must free
# it. A CompiledFunction nobody holds is freed with its LLVM engine and machine code.
CACHE_SIZE = 16
CACHE_CONST_BYTES = 1 << 20  # a Function with more constant bytes is never kept for reuse
_live: weakref.WeakValueDictionary[Function, CompiledFunction] = weakref.WeakValueDictionary()
_recent: collections.OrderedDict[Function, CompiledFunction] = collections.OrderedDict()
_cache_lock = threading.RLock()


def compile_function(fn: Function) -> CompiledFunction:
    """Compile fn, or reuse the compiled code of an equal Function (see CACHE_SIZE)."""
    found = _live.get(fn)
    with _cache_lock:
        if found is None:
            found = _live.get(fn)
            if found is None:
                found = CompiledFunction(fn)
                _live[fn] = found
        _remember(fn, found)
    return found


def _remember(fn: Function, compiled: CompiledFunction) -> None:
    if sum(a.nbytes for _, a in fn.consts) > CACHE_CONST_BYTES:
        return
    _recent[fn] = compiled
    _recent.move_to_end(fn)
    while len(_recent) > CACHE_SIZE:
        _recent.popitem(last=False)


__all__ = ["compile_function", "CompiledFunction", "ArgumentError"]
