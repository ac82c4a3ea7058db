"""The native runtime: compile a Function into kernels plus host steps, check arguments, call."""

from __future__ import annotations

import collections
import ctypes
import math
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from llvmlite import ir as L

from ..ir import Function, Literal, TensorType, Var, as_dtype
from ..ir.interpreter import literal_value
from . import blas, parallel, pycall
from .engine import CompiledModule
from .lower import (
    BLAS_MIN_FLOPS,
    HOST,
    PYARRAY_DATA_OFFSET,
    KernelBuilder,
    Segment,
    _contraction_size,
    lowerable,
    native_control_ok,
    native_scan_ok,
)


def _check_data_offset() -> None:
    probe = np.arange(3.0)
    field = ctypes.cast(id(probe) + PYARRAY_DATA_OFFSET, ctypes.POINTER(ctypes.c_void_p))[0]
    if field != probe.ctypes.data:
        raise RuntimeError("dualjit codegen: numpy's array layout is not the expected one "
                           "(data pointer offset); set DUALJIT_BACKEND=interpreter")


_check_data_offset()


class ArgumentError(TypeError):
    """A compiled function was called with an argument of the wrong dtype, shape or kind."""


class _Kernel:
    __slots__ = ("segment", "name", "call", "flat", "chunk_call", "entry")

    def __init__(self, segment: Segment, name: str):
        self.segment = segment
        self.name = name
        self.call = None
        self.flat = None  # a parallel.FlatSegment when the work can be split across threads
        self.chunk_call = None
        self.entry = None

    def run(self, ins: list, out_specs: list, temp_specs: list) -> list:
        workers = parallel.threads() if self.flat is not None else 1
        if workers > 1:
            return parallel.run(self.chunk_call, self.flat, ins, out_specs, workers)
        outs = [np.empty(s, d) for s, d in out_specs]
        self.call(*ins, *outs, *[np.empty(n, np.uint8) for n in temp_specs])
        return outs


class CompiledFunction:
    """A Function compiled to native kernels; callable on numpy arrays, returns a list of arrays."""

    def __init__(self, fn: Function):
        t0 = time.perf_counter()
        self.function = fn
        self.in_types = fn.in_types
        self.steps: list[Any] = []
        self._plan()
        module = L.Module(name="dualjit")
        kernels = [s for s in self.steps if isinstance(s, _Kernel)]
        native_entries = pycall.register_symbols()
        self._float_entry = None  # the kernel's entry taking a float object, when it has one
        for kernel in kernels:
            builder = KernelBuilder(module, kernel.name, kernel.segment, None)
            builder.emit()
            if native_entries:
                release = not _tiny(fn)
                pycall.emit_entry(module, builder.fn, len(builder.fn.args),
                                  release_gil=release)
                if _takes_one_float(fn, kernel.segment):
                    pycall.emit_entry(module, builder.fn, len(builder.fn.args), True,
                                      release_gil=release)
            kernel.flat = parallel.flatten(kernel.segment)
            if kernel.flat is not None:
                KernelBuilder(module, kernel.name + "_chunk", kernel.flat.segment, None,
                              chunk_of=kernel.flat.n).emit()
        t1 = time.perf_counter()
        self.compiled = CompiledModule(str(module), codegen_opt=0 if _small(fn) else 3) \
            if kernels else None
        for kernel in kernels:
            n = len(kernel.segment.live_in) + len(kernel.segment.live_out) + len(
                kernel.segment.slot_bytes)
            if native_entries:  # a builtin: no ctypes argument conversion per call
                kernel.entry = pycall.Builtin(kernel.name, self.compiled.address(
                    kernel.name + "_py"))
                kernel.call = kernel.entry.function
                if _takes_one_float(fn, kernel.segment):
                    self._float_entry = pycall.Builtin(kernel.name, self.compiled.address(
                        kernel.name + "_pyf"))
            else:
                proto = ctypes.CFUNCTYPE(None, *([ctypes.py_object] * n))
                kernel.call = proto(self.compiled.address(kernel.name))
            if kernel.flat is not None:
                flat = kernel.flat.segment
                n = len(flat.live_in) + len(flat.live_out) + len(flat.slot_bytes)
                proto = ctypes.CFUNCTYPE(None, *([ctypes.py_object] * n), ctypes.c_int64,
                                         ctypes.c_int64)
                kernel.chunk_call = proto(self.compiled.address(kernel.name + "_chunk"))
        self.timings = {"lower": t1 - t0, **(self.compiled.timings if self.compiled else {})}
        self.typed_call = None  # set with fast_call for one-output kernels: see below
        self.float_call = None  # ... and for a single float64 scalar input
        self.fast_call = self._single_kernel_caller() or self._single_host_caller()

    # -- planning -------------------------------------------------------------------------------
    def _plan(self) -> None:
        fn = self.function
        last_use: dict[Var, int] = {}
        for i, eqn in enumerate(fn.eqns):
            for a in eqn.inputs:
                if isinstance(a, Var):
                    last_use[a] = i
        run: list = []
        start = 0
        for i, eqn in enumerate(fn.eqns):
            name = eqn.primitive.name
            host = name in HOST or not lowerable(name) or _blas_sized(eqn) or (
                name == "scan" and not native_scan_ok(eqn)) or (
                name in ("cond", "while") and not native_control_ok(eqn))
            if host:
                self._flush(run, start, i)
                self.steps.append(_HostStep(eqn))
                run = []
                start = i + 1
            else:
                run.append(eqn)
        self._flush(run, start, len(fn.eqns))

    def _flush(self, run: list, start: int, end: int) -> None:
        if not run:
            return
        fn = self.function
        defined = {v for e in run for v in e.outputs}
        live_in: list[Var] = []
        for e in run:
            for a in e.inputs:
                if isinstance(a, Var) and a not in defined and a not in live_in:
                    live_in.append(a)
        later = {a for e in fn.eqns[end:] for a in e.inputs if isinstance(a, Var)}
        later |= {a for a in fn.outputs if isinstance(a, Var)}
        live_out = [v for e in run for v in e.outputs if v in later]
        # Function inputs and outputs first, in the Function's order, so that a Function which
        # is a single kernel can be called with its own arguments (see _single_kernel_caller).
        position = {v: i for i, v in enumerate(fn.inputs)}
        live_in.sort(key=lambda v: position.get(v, len(position)))
        position = {}
        for i, v in enumerate(fn.outputs):
            if isinstance(v, Var):
                position.setdefault(v, i)
        live_out.sort(key=lambda v: position.get(v, len(position)))
        segment = Segment(run, live_in, live_out)
        self.steps.append(_Kernel(segment, f"kernel{len(self.steps)}"))

    def _single_kernel_caller(self):
        """For a Function that is one kernel reading (some of) its inputs: a lean call path."""
        fn = self.function
        if len(self.steps) != 1 or not isinstance(self.steps[0], _Kernel):
            return None
        if self.steps[0].flat is not None and parallel.threads() > 1:
            return None  # split across threads by the general path
        seg = self.steps[0].segment
        consts = dict(fn.consts)
        if seg.live_out != list(fn.outputs) or not set(seg.live_in) <= set(fn.inputs) | set(
                consts):
            return None
        inputs = list(fn.inputs)
        # each kernel input: an argument's position, or a constant array of the Function's
        picked = None if seg.live_in == inputs else [
            consts[v] if v in consts else inputs.index(v) for v in seg.live_in]
        kernel = self.steps[0].call
        # dtype identity, shape and C-contiguous strides: a few tuple compares per argument.
        expected = [(t.dtype.np, t.shape, tuple(s * t.dtype.np.itemsize for s in
                                                 _strides(t.shape))) for t in self.in_types]
        out_specs = [(v.type.shape, v.type.dtype.np) for v in seg.live_out]
        temp_specs = [(n, np.uint8) for n in seg.slot_bytes]
        empty, ndarray = np.empty, np.ndarray
        n_args = len(expected)

        def valid(args):
            if len(args) != n_args:
                return False
            for a, (d, shape, strides) in zip(args, expected):
                if type(a) is not ndarray or a.dtype is not d or a.shape != shape or (
                        a.strides != strides and a.size > 1):
                    return False
            return True

        if len(out_specs) == 1 and not temp_specs and picked is None:
            (out_shape, out_dtype), = out_specs

            def call(args):
                if not valid(args):
                    args = self.check_arguments(args)
                out = empty(out_shape, out_dtype)
                kernel(*args, out)
                return [out]

            contiguous = [(strides, math.prod(shape) > 1) for _, shape, strides in expected]

            if n_args == 1:  # the commonest case, without the loop
                (strides0, check0), = contiguous

                def typed1(args):
                    """call() for an array whose dtype and shape the caller checked already."""
                    if check0 and args[0].strides != strides0:
                        args = self.check_arguments(args)
                    out = empty(out_shape, out_dtype)
                    kernel(args[0], out)
                    return out
                self.typed_call = typed1
                entry = self._float_entry
                if entry is not None and len(self.steps) == 1:
                    float_kernel = entry.function

                    def float_call(x):
                        """typed1 for a Python float or numpy float64 object (exact type checked
                        by the caller), passed without making a 0-d array of it."""
                        out = empty(out_shape, out_dtype)
                        float_kernel(x, out)
                        return out
                    self.float_call = float_call
                return call

            def typed(args):
                """call() for arrays whose dtypes and shapes the caller has checked already."""
                for a, (strides, check) in zip(args, contiguous):
                    if check and a.strides != strides:
                        args = self.check_arguments(args)
                        break
                out = empty(out_shape, out_dtype)
                kernel(*args, out)
                return out
            self.typed_call = typed
            return call

        def call(args):
            if not valid(args):
                args = self.check_arguments(args)
            if picked is not None:
                args = [args[i] if type(i) is int else i for i in picked]
            outs = [empty(s, d) for s, d in out_specs]
            kernel(*args, *outs, *[empty(s, d) for s, d in temp_specs])
            return outs
        return call

    def _single_host_caller(self):
        """For a Function that is one library call on its inputs (a BLAS-sized matmul): call
        it directly, after the same argument checks."""
        fn = self.function
        if len(self.steps) != 1 or not isinstance(self.steps[0], _HostStep) or fn.consts:
            return None
        step = self.steps[0]
        eqn = step.eqn
        if (getattr(step, "impl", None) is None or eqn.primitive.multiple_results
                or list(eqn.inputs) != list(fn.inputs) or list(fn.outputs) != [eqn.outputs[0]]):
            return None
        impl, params, n_args = step.impl, dict(eqn.params), len(fn.inputs)
        expected = [(t.dtype.np, t.shape) for t in self.in_types]
        out_dtype = eqn.outputs[0].type.dtype.np
        ndarray = np.ndarray

        def call(args):
            if len(args) != n_args or not all(
                    type(a) is ndarray and a.dtype is d and a.shape == shape
                    for a, (d, shape) in zip(args, expected)):
                args = self.check_arguments(args)
            out = impl(*args, **params)
            return [out if type(out) is ndarray and out.dtype is out_dtype
                    else np.asarray(out, dtype=out_dtype)]
        return call

    # -- calling --------------------------------------------------------------------------------
    def check_arguments(self, args: Sequence[Any]) -> list[np.ndarray]:
        if len(args) != len(self.in_types):
            raise ArgumentError(f"compiled function takes {len(self.in_types)} arguments, "
                                f"got {len(args)}")
        out = []
        for i, (a, t) in enumerate(zip(args, self.in_types)):
            if type(a) is not np.ndarray or a.dtype != t.dtype.np or a.shape != t.shape or \
                    not a.flags.c_contiguous or not a.flags.aligned:
                a = self._coerce(i, a, t)
            out.append(a)
        return out

    @staticmethod
    def _coerce(i: int, a: Any, t: TensorType) -> np.ndarray:
        arr = np.asarray(a)
        if arr.dtype.kind not in "biuf":
            raise ArgumentError(f"argument {i}: dtype {arr.dtype} is not supported (expected "
                                f"{t.dtype.np})")
        if arr.shape != t.shape:
            raise ArgumentError(f"argument {i}: expected shape {t.shape} ({t}), got "
                                f"{arr.shape}")
        if arr.dtype != t.dtype.np:
            if not np.can_cast(arr.dtype, t.dtype.np, casting="same_kind"):
                raise ArgumentError(f"argument {i}: expected dtype {t.dtype.np}, got {arr.dtype}")
            arr = arr.astype(t.dtype.np)
        # Non-contiguous, Fortran-ordered, misaligned or byte-swapped: copy to what kernels read.
        return np.ascontiguousarray(arr, dtype=t.dtype.np.newbyteorder("="))

    def __call__(self, *args: Any) -> list[np.ndarray]:
        fn = self.function
        env: dict[Var, Any] = dict(zip(fn.inputs, self.check_arguments(args)))
        env.update(fn.consts)
        for step in self.steps:
            if isinstance(step, _Kernel):
                seg = step.segment
                outs = step.run([env[v] for v in seg.live_in],
                                [(v.type.shape, v.type.dtype.np) for v in seg.live_out],
                                seg.slot_bytes)
                env.update(zip(seg.live_out, outs))
            else:
                step.run(env)
        return [_output(env, a) for a in fn.outputs]

    def llvm_ir(self) -> str:
        return self.compiled.optimized_ir if self.compiled else ""

    def asm(self) -> str:
        return self.compiled.asm() if self.compiled else ""


def _takes_one_float(fn: Function, segment) -> bool:
    """The Function's only input is a float64 scalar, read by this kernel as its only input."""
    return (pycall.FLOAT_OBJECTS_OK and len(fn.inputs) == 1
            and fn.inputs[0].type == TensorType("float64", ())
            and list(segment.live_in) == list(fn.inputs) and not fn.consts)


TINY_WORK = 256  # element operations


def _tiny(fn: Function) -> bool:
    """A function whose whole work is a few hundred element operations and no loops of its
    own (well under a microsecond): its kernel keeps the GIL."""
    work = 0
    for eqn in fn.eqns:
        if eqn.primitive.name in ("scan", "while", "cond", "dot_general", "reduce_sum",
                                  "reduce_max", "reduce_min", "reduce_prod"):
            work += sum(a.type.size for a in eqn.inputs if isinstance(a, Var))
        work += sum(v.type.size for v in eqn.outputs)
        if eqn.primitive.name in ("scan", "while") or work >= TINY_WORK:
            return False
    return True


SMALL_ELEMENTS = 1024


def _small(fn: Function) -> bool:
    """Only small loops and no control flow: machine code is generated at LLVM's fastest
    level (the IR is still optimized at O3). Such code runs for well under a microsecond,
    and generating it this way takes about half the time."""
    for eqn in fn.eqns:
        if eqn.primitive.name in ("scan", "while", "cond") or any(
                v.type.size >= SMALL_ELEMENTS for v in eqn.outputs):
            return False
    return True


def _strides(shape) -> list[int]:
    out, acc = [], 1
    for d in reversed(shape):
        out.append(acc)
        acc *= d
    return list(reversed(out))


def _output(env: dict, atom: Any) -> np.ndarray:
    if isinstance(atom, Literal):
        return np.asarray(literal_value(atom))
    value = env[atom]
    return value if isinstance(value, np.ndarray) and value.flags.writeable else np.array(value)


def _blas_sized(eqn) -> bool:
    """Large contractions that the kernel cannot hand to gemm itself (a batched or
    integer product, or no BLAS found) run through numpy's matmul between kernels."""
    return (eqn.primitive.name == "dot_general" and _contraction_size(eqn) >= BLAS_MIN_FLOPS
            and not blas.gemm_ok(eqn))


class _HostStep:
    """Control flow and calls, run from Python around natively compiled sub-Functions."""

    def __init__(self, eqn):
        self.eqn = eqn
        self.name = eqn.primitive.name
        params = eqn.params
        if self.name == "cond":
            self.branches = [compile_function(b) for b in params["branches"]]
        elif self.name == "while":
            self.cond = compile_function(params["cond_fun"])
            self.body = compile_function(params["body_fun"])
        elif self.name == "scan":
            self.body = compile_function(params["body"])
        elif self.name in ("custom_jvp_call", "custom_vjp_call"):
            self.call = compile_function(params["call"])
        else:
            from ..ir import impl_rules

            self.impl = impl_rules[eqn.primitive]

    def run(self, env: dict) -> None:
        eqn, p = self.eqn, self.eqn.params
        args = [np.asarray(literal_value(a)) if isinstance(a, Literal) else env[a]
                for a in eqn.inputs]
        if self.name == "cond":
            i = int(min(max(int(args[0]), 0), len(self.branches) - 1))
            outs = self.branches[i](*args[1:])
        elif self.name == "while":
            cc, bc = p["cond_nconsts"], p["body_nconsts"]
            cond_consts, body_consts = args[:cc], args[cc:cc + bc]
            carry = args[cc + bc:]
            while bool(self.cond(*cond_consts, *carry)[0]):
                carry = self.body(*body_consts, *carry)
            outs = carry
        elif self.name == "scan":
            outs = self._scan(args, p)
        elif self.name in ("custom_jvp_call", "custom_vjp_call"):
            outs = self.call(*args)
        else:
            out = self.impl(*args, **p)
            outs = out if eqn.primitive.multiple_results else [out]
        for v, value in zip(eqn.outputs, outs):
            env[v] = np.asarray(value, dtype=v.type.dtype.np)

    def _scan(self, args, p):
        nc, nk, n = p["num_consts"], p["num_carry"], p["length"]
        consts, carry = args[:nc], list(args[nc:nc + nk])
        xs = [np.asarray(x) for x in args[nc + nk:]]
        y_types = self.body.function.out_types[nk:]
        ys = [np.empty((n,) + t.shape, t.dtype.np) for t in y_types]
        order = range(n - 1, -1, -1) if p["reverse"] else range(n)
        body = self.body
        for i in order:
            out = body(*consts, *carry, *[x[i] for x in xs])
            carry = out[:nk]
            for y, v in zip(ys, out[nk:]):
                y[i] = v
        return carry + ys


CACHE_SIZE = 512  # compiled Functions kept for reuse by structure (least recently used go)
_cache: collections.OrderedDict[Function, CompiledFunction] = collections.OrderedDict()
_cache_lock = threading.RLock()


def compile_function(fn: Function) -> CompiledFunction:
    """Compile fn (cached by its structure: identical Functions compile once per process,
    while they stay among the CACHE_SIZE most recently compiled or used)."""
    found = _cache.get(fn)
    if found is None:
        with _cache_lock:
            found = _cache.get(fn)
            if found is None:
                found = CompiledFunction(fn)
                _cache[fn] = found
                while len(_cache) > CACHE_SIZE:
                    _cache.popitem(last=False)
    else:
        with _cache_lock:
            if fn in _cache:
                _cache.move_to_end(fn)
    return found


__all__ = ["compile_function", "CompiledFunction", "ArgumentError", "as_dtype"]
