"""The call path into native code: the argument contract (CallSpec) and the callers built on it.

A kernel reads its arguments' memory directly, so what it may assume about each array it is
given is a contract, checked before every native call:

  1. the argument is a numpy.ndarray (exactly; the kernel reads the data pointer out of the
     PyArrayObject);
  2. its dtype equals the native numpy dtype of the IR type (same kind and itemsize, native
     byte order: a narrower or byte-swapped array would be read as garbage, or past its end);
  3. its shape is the IR type's shape;
  4. it is C-contiguous (any strides when it has at most one element) and its data is
     aligned for its dtype.

`CallSpec.coerce` establishes the contract for any arguments (converting integer and float
dtypes of the same kind, copying byte-swapped, strided, Fortran-ordered or misaligned arrays,
and raising ArgumentError for anything else); `CallSpec.fits` checks (1)-(4) but alignment in
a few tuple compares (dtype by identity, so an equal but distinct dtype takes the coerce
path). Alignment is checked by the kernel's entry itself (pycall.py, a few instructions): it
raises abi.KernelEntryError, and the callers below then coerce and call again.

Every native entry point, and what checks its arguments (tests/safety/test_entry_points.py
scans the sources for calls into native code and fails on a module not listed here):
- `CompiledFunction.__call__` (codegen/runtime.py): coerce() on every argument; host steps
  then call numpy, or compiled sub-Functions through their own `__call__`. Every compiled
  Function a backend returns is called this way unless a caller below says otherwise:
  exported/program.py (`Exported.call` checks the exported types first, then the compiled
  program), distributed/data_parallel.py and distributed/datasets.py (exported programs'
  `compiled()`), compiler.py (`dj.compile`'s step).
- `fast_call` (built here): fits(), else coerce(). Used by jit.py for Functions with
  constants or several outputs, and by eager/backward.py for compiled backward programs.
- `typed_call` (jit.py): checks (4) only. jit's dispatch key holds each leaf's exact dtype
  and shape, and jit installs typed_call only for a key whose dtypes equal the spec's
  (`CallSpec.key_fits`), so (1)-(3) hold for every call that reaches it.
- `float_call` (jit.py): one Python float or numpy.float64 (exact type, checked by jit),
  whose double the kernel reads in place (abi.FLOAT_OBJECTS_OK checked that layout at import).
- `FlatKernel.__call__` (codegen/flat.py): eager/kernels.py, its one caller, passes
  C-contiguous arrays of the kernel's dtype and of one shape, and the output it made; the
  entry reads the length from the first input made 1-d and checks alignment (misaligned
  inputs are copied and the call repeated); through ctypes (data pointers and the length)
  where the array layout check or the CPython symbols fail.
- the native dispatcher (codegen/dispatch.py; jit.py installs it as a Jitted object's
  `__call__` once the one-float specialization has a `float_call`): checks natively that
  there are no keyword arguments, exactly one argument whose exact type is float or
  numpy.float64, and that nothing is being traced (tracer.core.active_traces); then calls
  the kernel's `_pyf` entry as float_call does. Every other call goes to `Jitted.__call__`.
- the kernels' METH_FASTCALL builtins (`<kernel>_py`, `_pyf`; made by `pycall.builtin` in
  codegen/runtime.py): called only from the callers above with checked arrays; they check
  the argument count and (4)'s alignment themselves (an empty array's pointer too: coerce
  gives empty arrays an aligned one, since numpy calls any empty array aligned).
- the ctypes kernel calls (codegen/runtime.py `_ctypes_call`, when builtins are unavailable)
  check alignment in Python; the thread-split chunk kernels (codegen/parallel.py) get the
  arrays `CompiledFunction.__call__` coerced and the outputs it allocated.
- codegen/nest_parallel.py: the parallel-for kernels call for their split loop nests (a
  ctypes callback) runs the native chunk loop `dualjit_run_chunks` on a job of 64-bit
  integers it allocated itself (the nest function, the kernel's context array, the row
  counts the plan fixed); the nest reads the kernel's own, already checked, buffers.
- codegen/nest_pool.py: the native workers of split nests (on Linux, instead of
  `dualjit_run_chunks` above): libc's `pthread_create` and `pthread_join` (a thread id, the
  worker's compiled start routine, the pool's own int64 array), `syscall` (futex wake on
  that array), and `dualjit_pool_run` on a job record of int64 it allocated itself (the
  nest, the context array, the plan's row counts); thread-split kernels' chunks
  (codegen/parallel.py) go through it with a context array of the addresses of the arrays
  their ctypes path would be given (coerced by `CompiledFunction.__call__` or allocated
  there), kept alive for the call.
- codegen/blas.py: numpy's OpenBLAS gemm, registered with LLVM and called only from kernels,
  on buffers whose shapes and strides the plan fixed.
- codegen/profile.py (`profile(..., nests=True)`): a probed build's kernels, called through
  runtime's ctypes kernel calls (above) on arrays `check_arguments` coerced; its
  `dualjit_cycles()` (no arguments, returns an integer) and `<kernel>_probes()` (returns the
  address of that kernel's counters, read as exactly as many int64 as the kernel has groups).
- codegen/threads.py: OpenBLAS's thread-count setter and getter through ctypes (one C int,
  no arrays; argtypes declared so ctypes converts and checks it).
- ir/linalg_impl.py: LAPACK (getrf, trsm) through ctypes from the linear-algebra
  primitives' implementations, which the interpreter may hand any array: they pass LAPACK
  only C-contiguous copies whose dtype is exactly native float32 or float64 (`_routine`
  returns no routine for any other dtype, and numpy computes those).

Outputs are fresh arrays: kernel outputs always are; an output that is an input, a view of
one, a constant, or another output is copied (only then), so writing into a result never
changes an argument.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ir import Function, TensorType, Var
from .abi import KernelEntryError, strides


class ArgumentError(TypeError):
    """A compiled function was called with an argument of the wrong dtype, shape or kind."""


class CallSpec:
    """The argument contract of a compiled Function (see the module docstring)."""

    def __init__(self, in_types: Sequence[TensorType]):
        self.types = list(in_types)
        self.dtypes = tuple(t.dtype.np for t in self.types)
        self.shapes = tuple(t.shape for t in self.types)
        self.strides = tuple(tuple(s * t.dtype.np.itemsize for s in strides(t.shape))
                             for t in self.types)
        # (C strides, whether they need checking): arrays of at most one element have any
        self.layouts = tuple((s, math.prod(shape) > 1) for s, shape in zip(self.strides, self.shapes))
        self._expected = tuple(zip(self.dtypes, self.shapes, self.strides))

    def fits(self, args: Sequence[Any]) -> bool:
        """The contract holds for args as they are (exact type, dtype identity, shape, C
        strides; the kernel's entry checks alignment)."""
        if len(args) != len(self._expected):
            return False
        for a, (dtype, shape, c_strides) in zip(args, self._expected):
            if type(a) is not np.ndarray or a.dtype is not dtype or a.shape != shape or (
                    a.strides != c_strides and a.size > 1):
                return False
        return True

    def key_fits(self, dtypes: Sequence[np.dtype]) -> bool:
        """Arrays whose dtypes equal these (as a jit dispatch key compares them) have the
        contract's dtypes: same kind, itemsize and byte order."""
        return len(dtypes) == len(self.dtypes) and all(
            d == expected for d, expected in zip(dtypes, self.dtypes))

    def coerce(self, args: Sequence[Any]) -> list[np.ndarray]:
        """args, each one converted or copied to what the contract requires, or ArgumentError."""
        if len(args) != len(self.types):
            raise ArgumentError(f"compiled function takes {len(self.types)} arguments, "
                                f"got {len(args)}")
        out = []
        for i, (a, t) in enumerate(zip(args, self.types)):
            if type(a) is not np.ndarray or a.dtype != t.dtype.np or a.shape != t.shape or \
                    not a.flags.c_contiguous or not _aligned(a):
                a = _coerce(i, a, t)
            out.append(a)
        return out


def _aligned(a: np.ndarray) -> bool:
    """numpy calls every empty array aligned, whatever its data pointer; the kernel's entry
    checks the pointer itself, so an empty array must have an aligned one too."""
    return a.flags.aligned and (a.size or a.ctypes.data % a.dtype.alignment == 0)


def _coerce(i: int, a: Any, t: TensorType) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind not in "biufc" or (arr.dtype.kind == "c" and not t.dtype.is_complex):
        raise ArgumentError(f"argument {i}: dtype {arr.dtype} is not supported (expected "
                            f"{t.dtype.np})")
    if arr.shape != t.shape:
        raise ArgumentError(f"argument {i}: expected shape {t.shape} ({t}), got {arr.shape}")
    if arr.dtype != t.dtype.np and not np.can_cast(arr.dtype, t.dtype.np, casting="same_kind"):
        raise ArgumentError(f"argument {i}: expected dtype {t.dtype.np}, got {arr.dtype}")
    # Another width or byte order, non-contiguous, Fortran-ordered or misaligned: a C-ordered,
    # aligned copy in the expected dtype (native byte order) is what kernels read.
    if arr.size == 0:
        return np.empty(t.shape, t.dtype.np)  # (np.require keeps a misaligned empty array)
    return np.require(arr.astype(t.dtype.np, copy=False), requirements=("C", "A"))


def kernel_constants(fn: Function) -> dict[Var, np.ndarray]:
    """fn's constant arrays as kernels may read them: the contract holds for constants too (a
    captured read-only array may be strided, byte-swapped or misaligned; such is copied)."""
    return {v: np.require(np.asarray(a, dtype=v.type.dtype.np), requirements=("C", "A"))
            for v, a in fn.consts}


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------

def unaliased(outs: list, args: Sequence[Any], fresh: Sequence[bool] | None = None) -> list:
    """outs, with each output that may share memory with an argument, an earlier output, or
    that is read-only (a constant) replaced by a copy. fresh[i]: output i is known to be a
    new array (a kernel's output), so it is not checked."""
    arrays = [a for a in args if isinstance(a, np.ndarray)]
    result: list[np.ndarray] = []
    for i, out in enumerate(outs):
        if fresh is None or not fresh[i]:
            out = np.asarray(out)
            if not out.flags.writeable or any(np.may_share_memory(out, a)
                                               for a in (*arrays, *result)):
                out = out.copy()
        result.append(out)
    return result


# ---------------------------------------------------------------------------------------------
# Callers of a Function that is one kernel
# ---------------------------------------------------------------------------------------------

@dataclass
class KernelLayout:
    """How a Function that is one kernel calls it: the kernel's inputs (None: exactly the
    Function's arguments; else, per kernel input, an argument index or a constant array),
    its outputs' (shape, dtype) and its temporaries' (bytes, uint8)."""

    picks: list[int | np.ndarray] | None
    out_specs: list[tuple[tuple[int, ...], np.dtype]]
    temp_specs: list[tuple[int, type]]

    @property
    def simple(self) -> bool:
        """One output, no temporaries, the Function's own arguments."""
        return len(self.out_specs) == 1 and not self.temp_specs and self.picks is None


def kernel_layout(fn: Function, live_in: list[Var], live_out: list[Var],
                  slot_bytes: list[int], consts: dict[Var, np.ndarray]) -> KernelLayout | None:
    """The layout of a kernel whose outputs are exactly fn's outputs and whose inputs are fn's
    arguments or constants (`kernel_constants`); None for any other kernel."""
    if live_out != list(fn.outputs) or not set(live_in) <= set(fn.inputs) | set(consts):
        return None
    inputs = list(fn.inputs)
    picks = None if live_in == inputs else [
        consts[v] if v in consts else inputs.index(v) for v in live_in]
    return KernelLayout(picks, [(v.type.shape, v.type.dtype.np) for v in live_out],
                        [(n, np.uint8) for n in slot_bytes])


@dataclass
class Callers:
    """call(args) -> list of outputs, for any arguments; typed(args) -> the one output, for
    arguments whose dtypes and shapes the caller guarantees; float_call(x) -> the one output,
    for one Python float or numpy.float64."""

    call: Callable[[Sequence[Any]], list[np.ndarray]]
    typed: Callable[[Sequence[np.ndarray]], np.ndarray] | None = None
    float_call: Callable[[float], np.ndarray] | None = None


def kernel_callers(spec: CallSpec, kernel: Callable, layout: KernelLayout,
                   float_kernel: Callable | None = None) -> Callers:
    if not layout.simple:
        return Callers(_general_call(spec, kernel, layout))
    (shape, dtype), = layout.out_specs
    call = _simple_call(spec, kernel, shape, dtype)
    if len(spec.types) != 1:
        return Callers(call, _typed_call(spec, kernel, shape, dtype))
    return Callers(call, _typed1_call(spec, kernel, shape, dtype),
                   _float_call(float_kernel, shape, dtype) if float_kernel else None)


class Scratch:
    """A kernel's temporaries, reused from call to call. Fresh large arrays are fresh pages
    that the OS maps and zeroes again on every call (page faults took 12% of the W8
    transformer step's time). One set is kept (a concurrent call makes its own), and none
    above KEEP_MAX_BYTES: a compiled function holds at most that many bytes while it lives.
    Temporaries are written before they are read, so a reused set carries nothing over."""

    KEEP_MAX_BYTES = 128 << 20
    __slots__ = ("specs", "_free", "_keep")

    def __init__(self, specs: Sequence[tuple[int, type]], keep: bool = True):
        """keep=False: fresh temporaries every call (kernels of a multi-kernel function,
        whose temporaries would otherwise all be held at once between calls)."""
        self.specs = list(specs)
        self._free: list[list[np.ndarray]] = []
        self._keep = keep and 0 < sum(n * np.dtype(d).itemsize for n, d in self.specs) \
            <= self.KEEP_MAX_BYTES

    def take(self) -> list[np.ndarray]:
        try:
            return self._free.pop()  # (one atomic call: two threads never get the same set)
        except IndexError:
            return [np.empty(n, d) for n, d in self.specs]

    def give(self, temps: list[np.ndarray]) -> None:
        if self._keep and not self._free:
            self._free.append(temps)


def _general_call(spec: CallSpec, kernel: Callable, layout: KernelLayout) -> Callable:
    fits, coerce, empty = spec.fits, spec.coerce, np.empty
    picks, out_specs = layout.picks, layout.out_specs
    scratch = Scratch(layout.temp_specs)

    def call(args):
        if not fits(args):
            args = coerce(args)
        ins = args if picks is None else [args[i] if type(i) is int else i for i in picks]
        outs = [empty(s, d) for s, d in out_specs]
        temps = scratch.take()
        try:
            kernel(*ins, *outs, *temps)
        except KernelEntryError:  # misaligned: once more with copies (which are aligned)
            args = coerce(args)
            ins = args if picks is None else [args[i] if type(i) is int else i for i in picks]
            kernel(*ins, *outs, *temps)
        scratch.give(temps)
        return outs
    return call


def _simple_call(spec: CallSpec, kernel: Callable, shape, dtype) -> Callable:
    fits, coerce, empty = spec.fits, spec.coerce, np.empty

    def call(args):
        if not fits(args):
            args = coerce(args)
        out = empty(shape, dtype)
        try:
            kernel(*args, out)
        except KernelEntryError:
            kernel(*coerce(args), out)
        return [out]
    return call


def _typed_call(spec: CallSpec, kernel: Callable, shape, dtype) -> Callable:
    coerce, empty, layouts = spec.coerce, np.empty, spec.layouts

    def typed(args):
        """call() for arrays whose dtypes and shapes the caller has checked already."""
        for a, (c_strides, check) in zip(args, layouts):
            if check and a.strides != c_strides:
                args = coerce(args)
                break
        out = empty(shape, dtype)
        try:
            kernel(*args, out)
        except KernelEntryError:
            kernel(*coerce(args), out)
        return out
    return typed


def _typed1_call(spec: CallSpec, kernel: Callable, shape, dtype) -> Callable:
    """_typed_call for one argument, the commonest case, without the loop."""
    coerce, empty = spec.coerce, np.empty
    (c_strides, check), = spec.layouts

    def typed1(args):
        if check and args[0].strides != c_strides:
            args = coerce(args)
        out = empty(shape, dtype)
        try:
            kernel(args[0], out)
        except KernelEntryError:
            kernel(coerce(args)[0], out)
        return out
    return typed1


def _float_call(float_kernel: Callable, shape, dtype) -> Callable:
    empty = np.empty

    def float_call(x):
        """typed1 for a Python float or numpy float64 object (exact type checked by the
        caller), passed without making a 0-d array of it."""
        out = empty(shape, dtype)
        float_kernel(x, out)
        return out
    return float_call


def host_call_callers(spec: CallSpec, impl: Callable, params: dict, out_dtype) -> Callers:
    """For a Function that is one library call on its arguments (a BLAS-sized batched
    matmul): call its implementation directly, after the same checks."""
    fits, coerce, ndarray = spec.fits, spec.coerce, np.ndarray

    def call(args):
        if not fits(args):
            args = coerce(args)
        out = impl(*args, **params)
        out = out if type(out) is ndarray and out.dtype is out_dtype else np.asarray(
            out, dtype=out_dtype)
        return unaliased([out], args)
    return Callers(call)
