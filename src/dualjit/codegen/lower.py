"""Lowering: a Plan's kernels to LLVM IR, emitting exactly what the plan decided.

Each group of a kernel's Segment becomes one loop nest (or one root's own loops). Fused
equations (elementwise operations and index maps) are emitted as scalar expressions inside
the loop of the value that consumes them: `fused_rules[p](k, eqn, idx)` gives the value of
eqn's output at multi-index idx. Roots (reductions, argmax, products, indexed writes,
control flow) emit their own loops: `root_rules[p](k, eqn, group)`. Both tables are keyed by
Primitive; schedule.lowerings says which table a primitive belongs to.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import numpy as np
from llvmlite import ir as L

from ..ir import DType, Eqn, Literal, Primitive, TensorType, Var
from ..ir import primitives as P
from ..ir.util import cond_operands, scan_operands, scan_results, while_operands
from . import blas, chunk_loop, machine_code, nest_parallel, pieces, probes, pycall, vecmath
from . import complex as C
from .abi import PYARRAY_DATA_OFFSET, strides
from .engine import llvm
from .schedule import (
    FAST,
    FAST_CODE,
    FULL_CODE,
    LIBM,
    LOOP,
    NO_UNROLL,
    PLAIN,
    TUNED,
    UNOPTIMIZED_CODE,
    Group,
    Plan,
    Segment,
    touches_complex,
)

I1, I8, I32, I64 = L.IntType(1), L.IntType(8), L.IntType(32), L.IntType(64)
F32, F64 = L.FloatType(), L.DoubleType()
PTR = L.PointerType()
# Integers of either signedness share LLVM's sign-less iN; the operations choose signedness.
REG = {DType.bool: I1, DType.float32: F32, DType.float64: F64,
       **{d: L.IntType(d.bits) for d in DType if d.is_int}}
MEM = {**REG, DType.bool: I8}  # bools are bytes in memory
# A complex value is a Pair of floats in registers (codegen/complex.py), two in memory.
MEM.update({d: L.ArrayType(t, 2) for d, t in C.PART.items()})


def const(t: L.Type, value) -> L.Constant:
    return L.Constant(t, value)


def i64(v: int) -> L.Constant:
    return L.Constant(I64, v)


# A kernel returns a status: KERNEL_OK, or why it stopped early (its outputs are then garbage
# and its caller raises; pycall.py and runtime.py turn the status into an exception).
KERNEL_OK = 0
KERNEL_OUT_OF_MEMORY = 1  # malloc of a scratch buffer returned NULL: MemoryError


def emit_module(plan: Plan, builtin_entries: bool, probed: bool = False) -> L.Module:
    """The LLVM module of a plan: each kernel, its Python entries, its thread-split variant;
    probed: each kernel also counts the cycles of each of its groups (codegen/probes.py)."""
    module = L.Module(name="dualjit")
    for kernel in plan.kernels:
        kernel_probes = probes.KernelProbes(module, kernel.name, len(
            (kernel.flat or kernel).segment.groups)) if probed else None
        if kernel.flat is None:
            builder = KernelBuilder(module, kernel.name, kernel.segment)
            builder.probes = kernel_probes
            builder.emit()
            fn = builder.fn
        else:  # split over threads: a chunk body, run in order by `fn` (chunk_loop.py)
            fn = chunk_loop.emit(module, kernel.name, kernel.flat, kernel_probes)
        entries = _emit_entries(module, kernel, fn, plan) if builtin_entries else []
        if kernel.code == FAST_CODE:
            machine_code.mark_fast(fn)
        if kernel.code == UNOPTIMIZED_CODE:
            machine_code.mark_unoptimized(fn)
        if kernel.code != FULL_CODE:
            for entry in entries:
                machine_code.mark_unoptimized(entry)
    return module


def _emit_entries(module: L.Module, kernel, fn: L.Function, plan: Plan) -> list[L.Function]:
    """A kernel's Python entries (pycall.py): `<name>_py`, and `<name>_pyf` for one float."""
    seg = kernel.segment
    alignments = [v.type.dtype.np.alignment for v in seg.live_in] + [1] * (
        len(fn.args) - len(seg.live_in))
    names = [pycall.emit_entry(module, fn, alignments, release_gil=plan.release_gil)]
    if kernel.float_entry:
        names.append(pycall.emit_entry(module, fn, alignments, True,
                                       release_gil=plan.release_gil))
    return [module.get_global(name) for name in names]


def release(module: L.Module) -> None:
    """Break the reference cycles of a module's IR objects (each instruction, block, argument
    and global points back to its parent) once its text is made: reference counting then
    frees them at once, instead of the cyclic garbage collector traversing thousands of
    them after every compile."""
    for value in module.globals.values():
        for block in getattr(value, "blocks", ()):
            for instruction in block.instructions:
                instruction.parent = None
            block.instructions, block.terminator = [], None  # (branches point at blocks)
            block.parent = None
        for arg in getattr(value, "args", ()):
            arg.parent = None
        if isinstance(value, L.Function):
            value.return_value.parent = None
        value.parent = None
    module.globals.clear()
    module.metadata.clear()
    module.namedmetadata.clear()
    module._metadatacache.clear()


class KernelBuilder:
    """Emits one kernel function `i32 name(PyArrayObject* buffers...)` for a Segment; it
    returns KERNEL_OK unless an emitted check failed (`fail`)."""

    def __init__(self, module: L.Module, name: str, segment: Segment,
                 chunk_of: int | None = None, data_args: bool = False):
        """chunk_of=n: the kernel takes (start, end) after its buffers and runs only that
        range of every loop over n elements (a flat segment's elements; see parallel.py).
        data_args: the buffers are passed as their data pointers, not array objects."""
        self.module = module
        self.segment = segment
        args = segment.live_in + segment.live_out
        n_args = len(args) + len(segment.slot_bytes)
        extra = [I64, I64] if chunk_of is not None else []
        self.fn = L.Function(module, L.FunctionType(I32, [PTR] * n_args + extra), name)
        self.fn.attributes.add("nounwind")
        self.b = L.IRBuilder(self.fn.append_basic_block("entry"))
        self.status = self.b.alloca(I32)  # what the kernel returns; see fail()
        self.b.store(const(I32, KERNEL_OK), self.status)
        self.chunk_of = chunk_of
        self.chunk = tuple(self.fn.args[n_args:]) if chunk_of is not None else None
        pointers = list(self.fn.args[:n_args])
        if not data_args:  # each array object's data pointer
            pointers = [self.b.load(self.b.gep(arg, [i64(PYARRAY_DATA_OFFSET)], source_etype=I8),
                                    typ=PTR) for arg in pointers]
        self.buffers: dict[Var, L.Value] = dict(zip(args, pointers))
        slots = pointers[len(args):]
        for var in segment.temps:  # temporaries in the buffers planned for them
            self.buffers[var] = slots[segment.slot_of[var]]
        self.memo: dict = {}
        self.done: set[Var] = set()  # values whose group has been emitted: read from memory
        self.range_flag = None  # set while emitting a loop that may use fast sin/cos
        self.fast_math = False  # our vectorizable exp/sin/cos instead of the C library
        self.loop_hints = TUNED  # the emitted group's Group.loops
        self.probes = None  # a profiling build's probes.KernelProbes (the kernel's own groups)
        self.rows = None  # in a split nest's function: its chunk (see loop_nest)

    def child(self, segment: Segment, buffers: dict, *, fn: L.Function | None = None,
              chunk=None, chunk_of: int | None = None, done: set[Var] = frozenset()):
        """A builder on the same module: for a sub-Function inlined at the current position
        (same function and IR builder), or, given `fn`, for loops emitted into that function."""
        sub = copy.copy(self)
        sub.segment, sub.buffers = segment, dict(buffers)
        if fn is not None:
            sub.fn, sub.b = fn, L.IRBuilder(fn.append_basic_block("entry"))
        sub.chunk, sub.chunk_of = chunk, chunk_of
        if fn is not None:  # the status slot belongs to the kernel's own function
            sub.status = None
        sub.memo, sub.done, sub.range_flag, sub.fast_math = {}, set(done), None, False
        sub.probes = None
        sub.rows = None
        return sub

    # -- loops ----------------------------------------------------------------------------------
    def loop_nest(self, shape: Sequence[int], body: Callable[[list], None]) -> None:
        """for idx in ndindex(shape): body(idx); counters live in allocas (mem2reg promotes).
        In a split nest's function (nest_parallel.py) the first nest emitted is the group's
        outer one: it runs only rows [start, end) of its first `lead` axes, flattened."""
        rows, self.rows = self.rows, None
        if rows is None:
            self._loop_level(shape, body, [], 0)
            return
        (start, end), lead, outer, _ = rows  # (the last: a product split by columns)
        if tuple(shape[:lead]) != outer:  # (the plan split another loop: never run it wrong)
            raise AssertionError(f"a split nest over {outer} emitted a loop over {shape} first")
        self.range_loop(start, end, lambda row: self._loop_level(
            shape, body, _delinearize(self, row, shape[:lead]), lead))

    def _loop_level(self, shape: Sequence[int], body: Callable[[list], None], idx: list,
                    d: int) -> None:
        # (a method, not a closure calling itself: that would be a reference cycle holding
        # the IR until the cyclic garbage collector runs)
        if d == len(shape):
            saved = dict(self.memo)
            body(list(idx))
            self.memo = saved
            return
        self.counted_loop(shape[d], lambda i: (idx.append(i),
                                               self._loop_level(shape, body, idx, d + 1),
                                               idx.pop()))

    def counted_loop(self, n: int, body: Callable[[L.Value], None]) -> None:
        """for i in range(n) (this thread's chunk of it in a split kernel): body(i)."""
        start, end = (self.chunk if self.chunk is not None and n == self.chunk_of
                      else (i64(0), i64(n)))
        self.range_loop(start, end, body)

    def range_loop(self, start: L.Value, end: L.Value, body: Callable[[L.Value], None]) -> None:
        """for i in range(start, end), bounds known at run time: body(i)."""
        b = self.b
        counter = self.alloca(I64)
        b.store(start, counter)
        cond_block = self.fn.append_basic_block("loop.cond")
        body_block = self.fn.append_basic_block("loop.body")
        exit_block = self.fn.append_basic_block("loop.exit")
        b.branch(cond_block)
        b.position_at_end(cond_block)
        i = b.load(counter, typ=I64)
        b.cbranch(b.icmp_signed("<", i, end), body_block, exit_block)
        b.position_at_end(body_block)
        saved = dict(self.memo)
        body(i)
        self.memo = saved
        b.store(b.add(i, i64(1), flags=("nsw",)), counter)
        latch = b.branch(cond_block)
        if self.loop_hints != TUNED:
            latch.set_metadata("llvm.loop", self.loop_id(self.loop_hints))
        b.position_at_end(exit_block)

    def loop_id(self, hints: str) -> L.values.MDValue:
        """A loop's own metadata node (it names itself first, as LLVM requires) carrying
        `hints`: no unrolling, and for PLAIN no vectorization either."""
        m = self.module
        disabled = [m.add_metadata([L.MetaDataString(m, "llvm.loop.unroll.disable")])]
        if hints == PLAIN:
            disabled.append(m.add_metadata([L.MetaDataString(m, "llvm.loop.vectorize.enable"),
                                             const(I1, 0)]))
        assert hints in (NO_UNROLL, PLAIN)
        node = L.values.MDValue(m, [], name=str(len(m.metadata)))  # unique: not add_metadata
        node.operands = (node, *disabled)
        return node

    def alloca(self, t: L.Type, count: int = 1) -> L.Value:
        with self.b.goto_entry_block():
            return self.b.alloca(t, size=i64(count)) if count != 1 else self.b.alloca(t)

    def stack_buffer(self, t: TensorType) -> L.Value:
        return self.alloca(MEM[t.dtype], max(t.size, 1))

    def constant_buffer(self, value) -> L.Value:
        data = bytearray(value.tobytes())
        array_type = L.ArrayType(I8, len(data))
        g = L.GlobalVariable(self.module, array_type, name=self.module.get_unique_name("const"))
        g.initializer = L.Constant(array_type, data)
        g.global_constant = True
        g.linkage = "internal"
        g.align = 64
        return g

    # -- memory ---------------------------------------------------------------------------------
    def linear(self, idx: Sequence[L.Value], shape: Sequence[int]) -> L.Value:
        if not shape:
            return i64(0)
        total = None
        for i, s in zip(idx, strides(shape)):
            term = i if s == 1 else self.b.mul(i, i64(s), flags=("nsw",))
            total = term if total is None else self.b.add(total, term, flags=("nsw",))
        return total

    def load(self, var: Var, idx: Sequence[L.Value]) -> L.Value:
        t = var.type
        ptr = self.b.gep(self.buffers[var], [self.linear(idx, t.shape)], inbounds=True,
                         source_etype=MEM[t.dtype])
        if t.dtype.is_complex:
            part = C.PART[t.dtype]
            return C.Pair(self.b.load(ptr, typ=part),
                          self.b.load(self._imaginary(ptr, part), typ=part))
        value = self.b.load(ptr, typ=MEM[t.dtype])
        return self.b.trunc(value, I1) if t.dtype is DType.bool else value

    def store(self, var: Var, idx: Sequence[L.Value], value: L.Value) -> None:
        t = var.type
        ptr = self.b.gep(self.buffers[var], [self.linear(idx, t.shape)], inbounds=True,
                         source_etype=MEM[t.dtype])
        if t.dtype.is_complex:
            self.b.store(value.re, ptr)
            self.b.store(value.im, self._imaginary(ptr, C.PART[t.dtype]))
            return
        if t.dtype is DType.bool:
            value = self.b.zext(value, I8)
        self.b.store(value, ptr)

    def _imaginary(self, ptr: L.Value, part: L.Type) -> L.Value:
        return self.b.gep(ptr, [i64(1)], inbounds=True, source_etype=part)

    def accumulator(self, dtype: DType, initial) -> L.Value | C.Pair:
        """A stack slot holding one scalar of dtype (two slots for a complex one)."""
        if dtype.is_complex:
            slot = C.Pair(self.alloca(C.PART[dtype]), self.alloca(C.PART[dtype]))
        else:
            slot = self.alloca(REG[dtype])
        self.put(slot, initial)
        return slot

    def get(self, slot, dtype: DType):
        if dtype.is_complex:
            return C.Pair(*(self.b.load(s, typ=C.PART[dtype]) for s in slot))
        return self.b.load(slot, typ=REG[dtype])

    def put(self, slot, value) -> None:
        if isinstance(slot, C.Pair):
            self.b.store(value.re, slot.re)
            self.b.store(value.im, slot.im)
        else:
            self.b.store(value, slot)

    def select(self, condition: L.Value, x, y):
        if isinstance(x, C.Pair):
            return C.select(self.b, condition, x, y)
        return self.b.select(condition, x, y)

    # -- values ---------------------------------------------------------------------------------
    def value(self, atom, idx: Sequence[L.Value]) -> L.Value:
        """The scalar value of `atom` at multi-index `idx` (rank-0 atoms ignore idx)."""
        if isinstance(atom, Literal):
            return literal(atom)
        if not atom.type.shape:
            idx = []
        key = (atom, tuple(map(id, idx)))
        found = self.memo.get(key)
        if found is not None:
            return found[0]
        if atom in self.buffers and (atom not in self.segment.producer or atom in self.done):
            out = self.load(atom, idx)
        else:
            eqn = self.segment.producer[atom]
            rules = C.complex_rules if self.segment.complex and touches_complex(eqn) \
                else fused_rules
            out = rules.get(eqn.primitive, fused_rules[eqn.primitive])(self, eqn, idx)
        self.memo[key] = (out, idx)  # holding idx keeps the ids in the key from being reused
        return out

    def emit(self) -> None:
        self.emit_body()
        self.b.ret(self.b.load(self.status, typ=I32))

    def fail(self, status: int) -> None:
        """Make the kernel return `status` (its caller raises); the emitted code goes on, so
        what follows must not depend on the failed step for memory safety."""
        if self.status is None or self.chunk_of is not None:
            raise NotImplementedError("a check that can fail in a separately emitted function "
                                      "or a thread-split chunk kernel has no way to report it")
        self.b.store(const(I32, status), self.status)

    def emit_body(self) -> None:
        """Each group of the segment in order: a loop nest, or a root's own loops."""
        for i, group in enumerate(self.segment.groups):
            started = self.probes and self.probes.start(self.b)
            if group.split is not None:
                nest_parallel.emit_split(self, group)
            elif group.outlined:
                nest_parallel.emit_outlined(self, group)
            else:
                self.emit_group(group)
            if self.probes:
                self.probes.stop(self.b, i, started)
            for e in group.eqns:
                self.done.update(e.outputs)
            self.done.update(group.values)  # (a REDUCE may store elementwise values too)

    def emit_group(self, group: Group) -> None:
        """With the math the plan chose: the C library, the fast polynomials, or the fast
        polynomials plus a rerun with the C library when an argument was outside their range
        (the group's loops only write its outputs, so running them twice is safe)."""
        emit = _loops if group.kind == LOOP else root_rules[group.eqns[0].primitive]
        self.loop_hints = group.loops
        if group.math == LIBM:
            emit(self, group.eqns[0], group)
            return
        self.fast_math = True
        if group.math == FAST:
            emit(self, group.eqns[0], group)
        else:
            flag = self.alloca(I1)
            self.b.store(const(I1, 0), flag)
            self.range_flag = flag
            emit(self, group.eqns[0], group)
            self.range_flag = None
        self.fast_math = False
        if group.math != FAST:
            slow, args = self._slow_copy(lambda k: emit(k, group.eqns[0], group))
            with self.b.if_then(self.b.load(flag, typ=I1), likely=False):
                self.b.call(slow, args)

    def _slow_copy(self, emit_loops: Callable[[KernelBuilder], None]):
        """A separate small, cold function running `emit_loops` with the C library's math."""
        items = list(self.buffers.items())
        extra = [I64, I64] if self.chunk is not None else []
        fnty = L.FunctionType(L.VoidType(), [PTR] * len(items) + extra)
        fn = L.Function(self.module, fnty, self.module.get_unique_name(self.fn.name + ".slow"))
        for attribute in ("cold", "noinline", "optsize", "nounwind"):
            fn.attributes.add(attribute)
        fn.linkage = "internal"
        chunk = tuple(fn.args[len(items):]) if self.chunk is not None else None
        sub = self.child(self.segment, {var: arg for (var, _), arg in zip(items, fn.args)},
                         fn=fn, chunk=chunk, chunk_of=self.chunk_of, done=self.done)
        emit_loops(sub)
        sub.b.ret_void()
        return fn, [ptr for _, ptr in items] + list(self.chunk or ())


def _loops(k: KernelBuilder, _: Eqn, group: Group) -> None:
    """Same-shape values in one loop nest: a chain is computed in registers, stored once each
    (the group's anchors are computed in turn too, and kept in registers). A sum of padded
    pieces along the last axis is one loop per piece (pieces.py)."""
    found = pieces.sum_of_pieces(k, group)
    if found is not None:
        pieces.emit(k, group, found)
        return
    stored = set(group.values)

    def body(idx):
        for v in group.computed:
            value = k.value(v, idx)
            if v in stored:
                k.store(v, idx, value)
    k.loop_nest(group.values[0].type.shape, body)


def literal(lit: Literal) -> L.Constant | C.Pair:
    d = lit.type.dtype
    if d.is_complex:
        return C.constant(d, complex(lit.value))
    if d is DType.bool:
        return const(I1, int(bool(lit.value)))
    if d.is_int:
        return int_const(REG[d], int(lit.value))
    return const(REG[d], float(lit.value))


def int_const(t: L.IntType, value: int) -> L.Constant:
    """An integer constant of t from any value of a t-wide type (unsigned ones included),
    written in two's complement."""
    value %= 1 << t.width
    return const(t, value - (1 << t.width) if value >> (t.width - 1) else value)


# ---------------------------------------------------------------------------------------------
# Scalar arithmetic
# ---------------------------------------------------------------------------------------------

def _fp(instr):
    instr.flags.append("contract")
    return instr


def _intrinsic(k: KernelBuilder, name: str, t: L.Type, args: list) -> L.Value:
    fn = k.module.declare_intrinsic(name, [t])
    return k.b.call(fn, args)


def _libm(k: KernelBuilder, name: str, dtype: DType, args: list) -> L.Value:
    """A C math library function (resolved by the JIT from the process)."""
    t = REG[dtype]
    symbol = name + ("f" if dtype is DType.float32 else "")
    fn = k.module.globals.get(symbol)
    if fn is None:
        fn = L.Function(k.module, L.FunctionType(t, [t] * len(args)), symbol)
    return k.b.call(fn, args)


_INTRINSICS = {"exp": "llvm.exp", "log": "llvm.log", "sin": "llvm.sin", "cos": "llvm.cos",
               "sqrt": "llvm.sqrt", "pow": "llvm.pow"}


def _math(k: KernelBuilder, name: str, dtype: DType, args: list) -> L.Value:
    """The math function `name`: our vectorizable version when the group's plan chose fast
    math (range-checked for sin/cos/tan), else an LLVM intrinsic or the C library."""
    is_f32 = dtype is DType.float32
    if vecmath.needs_range_check(name):
        if k.range_flag is not None:
            bad = vecmath.out_of_range(k.b, k.module, args[0], is_f32)
            k.b.store(k.b.or_(k.b.load(k.range_flag, typ=I1), bad), k.range_flag)
            return vecmath.emit(k.module, k.b, name, is_f32, args[0])
    elif k.fast_math and vecmath.available(name, is_f32):
        return vecmath.emit(k.module, k.b, name, is_f32, *args)
    if name in _INTRINSICS:
        return _intrinsic(k, _INTRINSICS[name], REG[dtype], args)
    return _libm(k, name, dtype, args)


def _is_nan(b: L.IRBuilder, x: L.Value) -> L.Value:
    return b.fcmp_unordered("uno", x, x)


def _abs(k, dtype, x):
    if dtype.is_float:
        return _intrinsic(k, "llvm.fabs", REG[dtype], [x])
    if dtype.is_unsigned:
        return x
    return k.b.select(k.b.icmp_signed("<", x, const(REG[dtype], 0)), k.b.neg(x), x)


def _sign(k, dtype, x):
    b, t = k.b, REG[dtype]
    if dtype.is_unsigned:
        return b.zext(b.icmp_unsigned("!=", x, const(t, 0)), t)
    if dtype.is_float:
        pos = b.select(b.fcmp_ordered(">", x, const(t, 0.0)), const(t, 1.0), x)
        return b.select(b.fcmp_ordered("<", x, const(t, 0.0)), const(t, -1.0), pos)
    pos = b.select(b.icmp_signed(">", x, const(t, 0)), const(t, 1), const(t, 0))
    return b.select(b.icmp_signed("<", x, const(t, 0)), const(t, -1), pos)


def _logistic(k, dtype, x):
    t = REG[dtype]
    e = _math(k, "exp", dtype, [_fp(k.b.fneg(x))])
    return _fp(k.b.fdiv(const(t, 1.0), _fp(k.b.fadd(const(t, 1.0), e))))


def _rounding(intrinsic: str):
    return lambda k, dtype, x: _intrinsic(k, intrinsic, REG[dtype], [x])


# Unary primitives without a row here are the math function of their name (exp, sin, tanh...).
_UNARY: dict[Primitive, Callable] = {
    P.neg_p: lambda k, dtype, x: k.b.fneg(x) if dtype.is_float else k.b.neg(x),
    P.not_p: lambda k, dtype, x: k.b.not_(x),
    P.abs_p: _abs,
    P.sign_p: _sign,
    P.floor_p: _rounding("llvm.floor"),
    P.ceil_p: _rounding("llvm.ceil"),
    P.round_p: _rounding("llvm.roundeven"),
    P.rsqrt_p: lambda k, dtype, x: _fp(k.b.fdiv(const(REG[dtype], 1.0),
                                                _math(k, "sqrt", dtype, [x]))),
    P.logistic_p: _logistic,
}


def _arithmetic(float_op: str, int_op: str):
    def rule(k, dtype, x, y):
        if dtype.is_float:
            return _fp(getattr(k.b, float_op)(x, y))
        return getattr(k.b, int_op)(x, y)
    return rule


def _int_divide(k, dtype, x, y, remainder: bool):
    """C semantics with the IR's guards: x/0 = 0, x%0 = 0; INT_MIN/-1 must not trap."""
    b, t = k.b, REG[dtype]
    zero = b.icmp_signed("==", y, const(t, 0))
    if dtype.is_unsigned:
        safe_y = b.select(zero, const(t, 1), y)
        q = b.urem(x, safe_y) if remainder else b.udiv(x, safe_y)
        return b.select(zero, const(t, 0), q)
    minus_one = b.icmp_signed("==", y, const(t, -1))
    safe_y = b.select(b.or_(zero, minus_one), const(t, 1), y)
    q = b.srem(x, safe_y) if remainder else b.sdiv(x, safe_y)
    q = b.select(minus_one, const(t, 0) if remainder else b.neg(x), q)
    return b.select(zero, const(t, 0), q)


def _div(k, dtype, x, y):
    return _fp(k.b.fdiv(x, y)) if dtype.is_float else _int_divide(k, dtype, x, y, False)


def _rem(k, dtype, x, y):
    return k.b.frem(x, y) if dtype.is_float else _int_divide(k, dtype, x, y, True)


def _extremum(op: str):
    """max/min; a NaN operand gives NaN (x + y propagates it)."""
    def rule(k, dtype, x, y):
        b = k.b
        if not dtype.is_float:
            return b.select(_icmp(b, dtype)(op, x, y), x, y)
        chosen = b.select(b.fcmp_ordered(op, x, y), x, y)
        return b.select(b.fcmp_unordered("uno", x, y), _fp(b.fadd(x, y)), chosen)
    return rule


# Binary primitives without a row here are the math function of their name (pow, atan2).
_BINARY: dict[Primitive, Callable] = {
    P.add_p: _arithmetic("fadd", "add"),
    P.sub_p: _arithmetic("fsub", "sub"),
    P.mul_p: _arithmetic("fmul", "mul"),
    P.div_p: _div,
    P.rem_p: _rem,
    P.max_p: _extremum(">"),
    P.min_p: _extremum("<"),
    P.and_p: lambda k, dtype, x, y: k.b.and_(x, y),
    P.or_p: lambda k, dtype, x, y: k.b.or_(x, y),
    P.xor_p: lambda k, dtype, x, y: k.b.xor(x, y),
}

_PREDICATES = {P.eq_p: "==", P.ne_p: "!=", P.lt_p: "<", P.le_p: "<=", P.gt_p: ">", P.ge_p: ">="}


def _compare(op: str):
    def rule(k, dtype, x, y):
        if dtype.is_float:  # ordered, except `ne`: NaN != anything
            return (k.b.fcmp_unordered if op == "!=" else k.b.fcmp_ordered)(op, x, y)
        return _icmp(k.b, dtype)(op, x, y)
    return rule


def _icmp(b: L.IRBuilder, dtype: DType):
    """The integer comparison of dtype's signedness (bool compares as unsigned)."""
    return b.icmp_signed if dtype.is_signed_int else b.icmp_unsigned


def _shift(kind: str):
    """JAX's shifts: an amount (read as unsigned) >= the width gives 0, or the sign fill for
    the arithmetic shift; LLVM's shifts by such amounts are poison, so amounts are chosen
    before shifting."""
    def rule(k, dtype, x, y):
        b, t = k.b, REG[dtype]
        in_range = b.icmp_unsigned("<", y, const(t, t.width))
        if kind == "ashr":
            return b.ashr(x, b.select(in_range, y, const(t, t.width - 1)))
        shifted = getattr(b, kind)(x, b.select(in_range, y, const(t, 0)))
        return b.select(in_range, shifted, const(t, 0))
    return rule


def _count_leading_zeros(k, dtype, x):
    t = REG[dtype]
    name = f"llvm.ctlz.i{t.width}"  # (x, is_zero_poison); llvmlite would declare one operand
    fn = k.module.globals.get(name) or L.Function(k.module, L.FunctionType(t, [t, I1]), name)
    return k.b.call(fn, [x, const(I1, 0)])  # defined at 0 (gives the width)


_BIT_OPERATIONS: dict[Primitive, Callable] = {
    P.shift_left_p: _shift("shl"),
    P.shift_right_logical_p: _shift("lshr"),
    P.shift_right_arithmetic_p: _shift("ashr"),
    P.population_count_p: lambda k, dtype, x: _intrinsic(k, "llvm.ctpop", REG[dtype], [x]),
    P.clz_p: _count_leading_zeros,
}
assert set(_BIT_OPERATIONS) == set(P.bit_primitives.values())


def _math_function(name: str):
    return lambda k, dtype, *args: _math(k, name, dtype, list(args))


def binary(k: KernelBuilder, p: Primitive, dtype: DType, x: L.Value, y: L.Value) -> L.Value:
    if dtype.is_complex:
        return {P.add_p: C.add, P.mul_p: C.mul}[p](k.b, x, y)
    return _BINARY[p](k, dtype, x, y)


def convert(k: KernelBuilder, x: L.Value, src: DType, dst: DType) -> L.Value:
    b = k.b
    if src is dst:
        return x
    if src.is_complex or dst.is_complex:
        return _convert_complex(k, x, src, dst)
    if dst is DType.bool:
        return b.fcmp_unordered("!=", x, const(REG[src], 0.0)) if src.is_float else \
            b.icmp_unsigned("!=", x, const(REG[src], 0))
    if src is DType.bool:
        return b.uitofp(x, REG[dst]) if dst.is_float else b.zext(x, REG[dst])
    if src.is_float and dst.is_float:
        return b.fpext(x, REG[dst]) if dst is DType.float64 else b.fptrunc(x, REG[dst])
    if src.is_float:
        return _float_to_int(k, x, src, dst)
    if dst.is_float:
        return b.uitofp(x, REG[dst]) if src.is_unsigned else b.sitofp(x, REG[dst])
    if REG[dst].width > REG[src].width:
        return b.zext(x, REG[dst]) if src.is_unsigned else b.sext(x, REG[dst])
    if REG[dst].width < REG[src].width:
        return b.trunc(x, REG[dst])
    return x  # same width, other signedness: the same bits


def _convert_complex(k: KernelBuilder, x, src: DType, dst: DType):
    """As NumPy's astype: to complex the imaginary part is 0; from complex the real part is
    kept (to bool: either part nonzero)."""
    if src.is_complex and dst.is_complex:
        return C.Pair(*(convert(k, part, src.real_dtype, dst.real_dtype) for part in x))
    if dst.is_complex:
        return C.Pair(convert(k, x, src, dst.real_dtype), C.zero(dst).im)
    if dst is DType.bool:
        zero = const(C.PART[src], 0.0)
        return k.b.or_(k.b.fcmp_unordered("!=", x.re, zero), k.b.fcmp_unordered("!=", x.im, zero))
    return convert(k, x.re, src.real_dtype, dst)


def _float_to_int(k: KernelBuilder, x: L.Value, src: DType, dst: DType) -> L.Value:
    """Truncation that saturates at dst's range and maps NaN to 0 (the IR's rule; a plain
    fptosi gives poison out of range)."""
    kind = "fptoui" if dst.is_unsigned else "fptosi"
    name = f"llvm.{kind}.sat.i{REG[dst].width}.{src.short}"
    fn = k.module.globals.get(name)
    if fn is None:
        fn = L.Function(k.module, L.FunctionType(REG[dst], [REG[src]]), name)
    return k.b.call(fn, [x])


def integer_pow(k: KernelBuilder, dtype: DType, x: L.Value, y: int) -> L.Value:
    one = const(REG[dtype], 1.0 if dtype.is_float else 1)
    n, acc, base = abs(y), one, x
    while n:
        if n & 1:
            acc = base if acc is one else binary(k, P.mul_p, dtype, acc, base)
        n >>= 1
        if n:
            base = binary(k, P.mul_p, dtype, base, base)
    return binary(k, P.div_p, dtype, one, acc) if y < 0 else acc


# ---------------------------------------------------------------------------------------------
# Fused equations: value at an output index
# ---------------------------------------------------------------------------------------------

fused_rules: dict[Primitive, Callable] = {}


def _operands(k, eqn, idx):
    return [k.value(a, idx) for a in eqn.inputs]


def _on_result_type(rule):
    return lambda k, e, idx: rule(k, e.outputs[0].type.dtype, *_operands(k, e, idx))


def _on_operand_type(rule):
    return lambda k, e, idx: rule(k, e.inputs[0].type.dtype, *_operands(k, e, idx))


for _name, _p in P.unary_primitives.items():
    fused_rules[_p] = _on_result_type(_UNARY.get(_p) or _math_function(_name))
for _name, _p in P.binary_primitives.items():
    fused_rules[_p] = _on_result_type(_BINARY.get(_p) or _math_function(_name))
for _p, _op in _PREDICATES.items():
    fused_rules[_p] = _on_operand_type(_compare(_op))
assert set(_PREDICATES) == set(P.compare_primitives.values())

for _p, _rule in _BIT_OPERATIONS.items():
    fused_rules[_p] = _on_result_type(_rule)


def select_value(b: L.IRBuilder, condition: L.Value, x: L.Value, y: L.Value) -> L.Value:
    """x where condition else y, floats as bit masks: x86 has no scalar float select, so
    LLVM makes one that is not vectorized a branch, mispredicted on random conditions (a
    relu mask made a 1.2 MB select 25x slower)."""
    if not isinstance(x.type, (L.FloatType, L.DoubleType)):
        return b.select(condition, x, y)
    bits = L.IntType(32 if isinstance(x.type, L.FloatType) else 64)
    mask = b.sext(condition, bits)
    kept = b.and_(b.bitcast(x, bits), mask)
    other = b.and_(b.bitcast(y, bits), b.not_(mask))
    return b.bitcast(b.or_(kept, other), x.type)


def _select(k, e, idx):
    return select_value(k.b, *_operands(k, e, idx))


fused_rules[P.select_p] = _select
fused_rules[P.integer_pow_p] = lambda k, e, idx: integer_pow(
    k, e.outputs[0].type.dtype, k.value(e.inputs[0], idx), e.params["y"])
fused_rules[P.convert_element_type_p] = lambda k, e, idx: convert(
    k, k.value(e.inputs[0], idx), e.inputs[0].type.dtype, e.outputs[0].type.dtype)
fused_rules[P.stop_gradient_p] = lambda k, e, idx: k.value(e.inputs[0], idx)


def _broadcast(k, e, idx):
    x = e.inputs[0]
    out_shape = e.params["shape"]
    in_idx = [i64(0) if (d == 1 and out_shape[od] != 1) else idx[od]
              for d, od in zip(x.type.shape, e.params["broadcast_dimensions"])]
    return k.value(x, in_idx)


def _delinearize(k, linear, shape):
    out = []
    for s, d in zip(strides(shape), shape):
        q = k.b.udiv(linear, i64(s)) if s != 1 else linear
        out.append(k.b.urem(q, i64(d)) if d != 1 else i64(0))
    return out


def _reshape(k, e, idx):
    x = e.inputs[0]
    linear = k.linear(idx, e.outputs[0].type.shape)
    return k.value(x, _delinearize(k, linear, x.type.shape))


def _transpose(k, e, idx):
    perm = e.params["permutation"]
    in_idx = [None] * len(perm)
    for out_d, in_d in enumerate(perm):
        in_idx[in_d] = idx[out_d]
    return k.value(e.inputs[0], in_idx)


def _slice(k, e, idx):
    in_idx = []
    for i, lo, st in zip(idx, e.params["start_indices"], e.params["strides"]):
        j = i if st == 1 else k.b.mul(i, i64(st))
        in_idx.append(j if lo == 0 else k.b.add(j, i64(lo)))
    return k.value(e.inputs[0], in_idx)


def clamp_index(k, v, lo, hi):
    """The i64 index v clamped into [lo, hi]."""
    b = k.b
    v = b.select(b.icmp_signed("<", v, i64(lo)), i64(lo), v)
    return b.select(b.icmp_signed(">", v, i64(hi)), i64(hi), v)


def _pad(k, e, idx):
    x, pad_value = e.inputs
    b = k.b
    inside = const(I1, 1)
    in_idx = []
    for i, (lo, _, interior), n in zip(idx, e.params["padding_config"], x.type.shape):
        t = b.sub(i, i64(lo))
        step = interior + 1
        q = b.sdiv(t, i64(step)) if step != 1 else t
        ok = b.and_(b.icmp_signed(">=", t, i64(0)), b.icmp_signed("<", q, i64(n)))
        if step != 1:
            ok = b.and_(ok, b.icmp_signed("==", b.srem(t, i64(step)), i64(0)))
        inside = b.and_(inside, ok)
        in_idx.append(clamp_index(k, q, 0, max(n - 1, 0)))
    if x.type.size == 0:
        return k.value(pad_value, [])
    return k.select(inside, k.value(x, in_idx), k.value(pad_value, []))


def _concatenate(k, e, idx):
    d = e.params["dimension"]
    b = k.b
    result, start = None, 0
    for x in e.inputs:
        n = x.type.shape[d]
        if n == 0:
            continue  # an empty piece: never read (a clamped index would point past it)
        local = list(idx)
        local[d] = clamp_index(k, b.sub(idx[d], i64(start)), 0, max(n - 1, 0))
        v = k.value(x, local)
        if result is None:
            result = v
        else:
            result = k.select(b.icmp_signed(">=", idx[d], i64(start)), v, result)
        start += n
    return result


def _clamped_index(k, atom, idx, hi: int) -> L.Value:
    """The integer `atom` at idx as an i64 clamped into [0, hi], read with its signedness (a
    uint64 beyond 2**63 is large, not negative)."""
    b, dtype = k.b, atom.type.dtype
    v = k.value(atom, idx)
    if not dtype.is_unsigned:
        return clamp_index(k, b.sext(v, I64) if v.type.width < 64 else v, 0, hi)
    v = b.zext(v, I64) if v.type.width < 64 else v
    return b.select(b.icmp_unsigned(">", v, i64(hi)), i64(hi), v)


def _gather(k, e, idx):
    x, indices = e.inputs
    axis = e.params["axis"]
    n_idx = indices.type.ndim
    if x.type.shape[axis] == 0:  # nothing to read (the reference gives zeros)
        return reduction_identity("sum", x.type.dtype)
    position = _clamped_index(k, indices, idx[axis:axis + n_idx], x.type.shape[axis] - 1)
    return k.value(x, idx[:axis] + [position] + idx[axis + n_idx:])


def _dynamic_starts(k, start_operands, x_shape, sizes):
    return [_clamped_index(k, s, [], d - n) for s, d, n in zip(start_operands, x_shape, sizes)]


def _dynamic_slice(k, e, idx):
    x = e.inputs[0]
    starts = _dynamic_starts(k, e.inputs[1:], x.type.shape, e.params["slice_sizes"])
    return k.value(x, [k.b.add(s, i) for s, i in zip(starts, idx)])


def _iota(k, e, idx):
    return convert(k, idx[e.params["dimension"]], DType.int64, e.outputs[0].type.dtype)


fused_rules.update({
    P.broadcast_in_dim_p: _broadcast,
    P.reshape_p: _reshape,
    P.transpose_p: _transpose,
    P.slice_p: _slice,
    P.pad_p: _pad,
    P.concatenate_p: _concatenate,
    P.gather_p: _gather,
    P.dynamic_slice_p: _dynamic_slice,
    P.iota_p: _iota,
})


# ---------------------------------------------------------------------------------------------
# Roots: equations that get their own loop structure
# ---------------------------------------------------------------------------------------------

root_rules: dict[Primitive, Callable[[KernelBuilder, Eqn, Group], None]] = {}


def reduction_identity(kind, dtype):
    """The start value of a "sum", "prod", "max" or "min" reduction in dtype."""
    if dtype.is_complex:
        return C.zero(dtype) if kind == "sum" else C.one(dtype)
    t = REG[dtype]
    if kind == "sum":
        return const(t, 0.0 if dtype.is_float else 0)
    if kind == "prod":
        return const(t, 1.0 if dtype.is_float else 1)
    if dtype.is_float:
        return const(t, -math.inf if kind == "max" else math.inf)
    if dtype is DType.bool:
        return const(t, 0 if kind == "max" else 1)
    low, high = (0, 2**t.width - 1) if dtype.is_unsigned else (-2**(t.width - 1),
                                                               2**(t.width - 1) - 1)
    return int_const(t, low if kind == "max" else high)


def reduction_combine(k, kind, dtype, acc, v):
    """One step of a "sum", "prod", "max" or "min" reduction: acc combined with v."""
    b = k.b
    if dtype.is_complex:  # (reductions of complex values: sums and products only)
        return C.add(b, acc, v, ("reassoc", "contract")) if kind == "sum" else C.mul(b, acc, v)
    if kind in ("sum", "prod"):
        if dtype.is_float:
            instr = b.fadd(acc, v) if kind == "sum" else b.fmul(acc, v)
            instr.flags.extend(["reassoc", "contract"])  # lets the reduction vectorize
            return instr
        return b.add(acc, v) if kind == "sum" else b.mul(acc, v)
    if dtype is DType.bool:
        return b.or_(acc, v) if kind == "max" else b.and_(acc, v)
    if dtype.is_float:  # NaN-propagating, and a reduction the loop vectorizer recognizes (a
        # select-based one stays scalar: softmax's row max took 15x a row sum's time)
        name = "llvm.maximum" if kind == "max" else "llvm.minimum"
        return b.call(k.module.declare_intrinsic(name, [acc.type],
                                                 L.FunctionType(acc.type, [acc.type] * 2)),
                      [acc, v])
    return binary(k, P.max_p if kind == "max" else P.min_p, dtype, acc, v)


def _scatter_index(kept, axes, out_idx, inner_idx, rank):
    full = [None] * rank
    for d, i in zip(kept, out_idx):
        full[d] = i
    for d, i in zip(axes, inner_idx):
        full[d] = i
    return full


def _reductions(k: KernelBuilder, _: Eqn, group: Group) -> None:
    """Reductions over the same space (one or more: group.eqns) in one loop nest, an
    accumulator each; values they share are computed once per element, and the group's
    elementwise values (schedule.Segment._stored_by_reduction) stored where computed."""
    eqns = group.eqns
    x0 = eqns[0].inputs[0]
    axes = list(eqns[0].params["axes"])
    kept = [d for d in range(x0.type.ndim) if d not in axes]
    if accumulates_in_memory_order(group):
        _reductions_in_memory_order(k, group, kept)
        return
    stored = set(group.values).difference([e.outputs[0] for e in eqns], group.after)

    def outer(out_idx):
        accs = [k.accumulator(e.inputs[0].type.dtype,
                              reduction_identity(e.primitive.reduction, e.inputs[0].type.dtype))
                for e in eqns]

        def inner(red_idx):
            full = _scatter_index(kept, axes, out_idx, red_idx, x0.type.ndim)
            for v in group.computed:  # (anchors of deep chains: see schedule.MAX_FUSION_DEPTH)
                value = k.value(v, full)
                if v in stored:
                    k.store(v, full, value)
            for e, acc in zip(eqns, accs):
                dtype = e.inputs[0].type.dtype
                v = k.value(e.inputs[0], full)
                total = reduction_combine(k, e.primitive.reduction, dtype, k.get(acc, dtype), v)
                k.put(acc, total)

        k.loop_nest([x0.type.shape[d] for d in axes], inner)
        for e, acc in zip(eqns, accs):
            k.store(e.outputs[0], out_idx, k.get(acc, e.inputs[0].type.dtype))
        if group.after:
            _second_row_pass(k, group, kept, axes, out_idx)

    k.loop_nest(eqns[0].outputs[0].type.shape, outer)


def _second_row_pass(k: KernelBuilder, group: Group, kept, axes, out_idx) -> None:
    """The group's `after` values over the row at out_idx, reading what the first pass
    stored for that row from memory (schedule.Segment._second_row_pass)."""
    x0 = group.eqns[0].inputs[0]
    written = set(group.after)
    done, k.done = k.done, k.done | {v for v in group.values if v not in written}

    def inner(red_idx):
        full = _scatter_index(kept, axes, out_idx, red_idx, x0.type.ndim)
        for v in group.after:
            value = k.value(v, full)
            if v in group.values:
                k.store(v, full, value)

    k.loop_nest([x0.type.shape[d] for d in axes], inner)
    k.done = done


# A kept last axis at least this long: reduce in memory order (see accumulates_in_memory_order).
MEMORY_ORDER_MIN_ROW = 8


def accumulates_in_memory_order(group: Group) -> bool:
    """Reductions keeping their input's last axis (the column sums of a gradient's bias or
    layer-norm weight) read their input in memory order, adding each row into the outputs (a
    vector loop along the kept axis), instead of one strided inner loop per output element.
    Each output still combines its elements in the same order, so the results are the same."""
    x = group.eqns[0].inputs[0]
    axes = group.eqns[0].params["axes"]
    return (bool(axes) and x.type.ndim - 1 not in axes and x.type.shape[-1] >= MEMORY_ORDER_MIN_ROW
            and not any(e.inputs[0].type.dtype.is_complex for e in group.eqns))


def _reductions_in_memory_order(k: KernelBuilder, group: Group, kept: list[int]) -> None:
    """outputs = identity, then for each input element in memory order: out[kept index] =
    combine(out[kept index], element) (the outputs are the accumulators)."""
    eqns = group.eqns
    dtypes = [e.inputs[0].type.dtype for e in eqns]

    def start(out_idx):
        for e, dtype in zip(eqns, dtypes):
            k.store(e.outputs[0], out_idx, reduction_identity(e.primitive.reduction, dtype))

    def visit(full):
        out_idx = [full[d] for d in kept]
        for anchor in group.computed:  # deep chains: see schedule.MAX_FUSION_DEPTH
            k.value(anchor, full)
        for e, dtype in zip(eqns, dtypes):
            v = k.value(e.inputs[0], full)
            total = reduction_combine(k, e.primitive.reduction, dtype,
                                      k.load(e.outputs[0], out_idx), v)
            k.store(e.outputs[0], out_idx, total)

    k.loop_nest(eqns[0].outputs[0].type.shape, start)
    k.loop_nest(eqns[0].inputs[0].type.shape, visit)


root_rules[P.reduce_sum_p] = _reductions
root_rules[P.reduce_max_p] = _reductions
root_rules[P.reduce_min_p] = _reductions
root_rules[P.reduce_prod_p] = _reductions


def beats(k, dtype, v, current, op):
    """v beats current in an arg-reduction; the first NaN beats everything (as numpy's)."""
    b = k.b
    if not dtype.is_float:
        return _icmp(b, dtype)(op, v, current)
    first_nan = b.and_(_is_nan(b, v), b.not_(_is_nan(b, current)))
    return b.or_(b.fcmp_ordered(op, v, current), first_nan)


def _arg_reduce(op: str):
    def rule(k: KernelBuilder, e: Eqn, _: Group) -> None:
        x, out = e.inputs[0], e.outputs[0]
        axis, dtype = e.params["axis"], x.type.dtype
        kept = [d for d in range(x.type.ndim) if d != axis]
        b = k.b

        def outer(out_idx):
            best, best_i = k.alloca(REG[dtype]), k.alloca(I64)

            def at(i):
                return k.value(x, _scatter_index(kept, [axis], out_idx, [i], x.type.ndim))

            b.store(at(i64(0)), best)
            b.store(i64(0), best_i)

            def inner(i):
                v, current = at(i), b.load(best, typ=REG[dtype])
                better = beats(k, dtype, v, current, op)
                b.store(b.select(better, v, current), best)
                b.store(b.select(better, i, b.load(best_i, typ=I64)), best_i)

            k.counted_loop(x.type.shape[axis], inner)
            k.store(out, out_idx, convert(k, b.load(best_i, typ=I64), DType.int64,
                                          out.type.dtype))

        k.loop_nest(out.type.shape, outer)
    return rule


root_rules[P.argmax_p] = _arg_reduce(">")
root_rules[P.argmin_p] = _arg_reduce("<")


def _dot_general(k: KernelBuilder, e: Eqn, group: Group) -> None:
    lhs, rhs = e.inputs
    out = e.outputs[0]
    if group.library == "gemm":
        _gemm_call(k, e, operand_buffer(k, lhs), operand_buffer(k, rhs), k.buffers[out])
        return
    (lc, rc), (lb, rb) = e.params["dimension_numbers"]
    lfree = [d for d in range(lhs.type.ndim) if d not in lc and d not in lb]
    rfree = [d for d in range(rhs.type.ndim) if d not in rc and d not in rb]
    dtype = out.type.dtype
    nb, nl = len(lb), len(lfree)

    def outer(out_idx):
        acc = k.accumulator(dtype, reduction_identity("sum", dtype))

        def inner(c_idx):
            li = [None] * lhs.type.ndim
            ri = [None] * rhs.type.ndim
            for j, (dl, dr) in enumerate(zip(lb, rb)):
                li[dl] = ri[dr] = out_idx[j]
            for j, d in enumerate(lfree):
                li[d] = out_idx[nb + j]
            for j, d in enumerate(rfree):
                ri[d] = out_idx[nb + nl + j]
            for j, (dl, dr) in enumerate(zip(lc, rc)):
                li[dl] = ri[dr] = c_idx[j]
            prod = binary(k, P.mul_p, dtype, k.value(lhs, li), k.value(rhs, ri))
            k.put(acc, reduction_combine(k, "sum", dtype, k.get(acc, dtype), prod))

        k.loop_nest([lhs.type.shape[d] for d in lc], inner)
        k.store(out, out_idx, k.get(acc, dtype))

    k.loop_nest(out.type.shape, outer)


root_rules[P.dot_general_p] = _dot_general
_registered_symbols: set[str] = set()


def _gemm_call(k: KernelBuilder, eqn: Eqn, lhs_ptr, rhs_ptr, out_ptr) -> None:
    """out = lhs . rhs through BLAS's gemm: one call per index of the batch loops, the
    transposes and leading dimensions of blas.gemm_layout (row-major); the gemm's address is
    registered with LLVM by its symbol name."""
    lhs, rhs = eqn.inputs
    dtype = eqn.outputs[0].type.dtype
    layout = blas.gemm_layout(lhs.type.shape, rhs.type.shape, eqn.params["dimension_numbers"])
    gemm = gemm_function(k, dtype)
    it = L.IntType(gemm.function_type.args[3].width)
    # the scalars alpha = 1, beta = 0: by value for real gemms, by pointer for complex ones
    alpha, beta = (_complex_scalar(k, dtype, v) if dtype.is_complex else L.Constant(REG[dtype], v)
                   for v in (1.0, 0.0))
    a, b_ = layout.lhs, layout.rhs
    flags = [L.Constant(I32, blas.ROW_MAJOR)] + [
        L.Constant(I32, blas.TRANS if m.trans else blas.NO_TRANS) for m in (a, b_)]
    sizes = [L.Constant(it, v) for v in (layout.m, layout.n, layout.k)]

    def call(idx):
        ptrs = []
        for base, which in ((lhs_ptr, 1), (rhs_ptr, 2), (out_ptr, 3)):
            offset = None
            for i, loop in zip(idx, layout.batch):
                term = k.b.mul(i, i64(loop[which]), flags=("nsw",))
                offset = term if offset is None else k.b.add(offset, term, flags=("nsw",))
            ptrs.append(base if offset is None else
                        k.b.gep(base, [offset], source_etype=MEM[dtype]))
        k.b.call(gemm, flags + sizes + [
            alpha, ptrs[0], L.Constant(it, a.ld), ptrs[1], L.Constant(it, b_.ld),
            beta, ptrs[2], L.Constant(it, max(1, layout.n))])

    if k.rows is not None and not layout.batch:  # a chunk of a split product's rows or columns
        (lhs_ptr, rhs_ptr, out_ptr), sizes[:2] = nest_parallel.gemm_block(
            k, layout, (lhs_ptr, rhs_ptr, out_ptr), dtype, it)
    k.loop_nest([loop[0] for loop in layout.batch], call)


def gemm_function(k: KernelBuilder, dtype: DType) -> L.Function:
    """The module's declaration of BLAS's gemm for `dtype` (registered with LLVM once)."""
    gemm = blas.gemms()[dtype]
    if gemm.symbol not in _registered_symbols:
        llvm().add_symbol(gemm.symbol, gemm.address)
        _registered_symbols.add(gemm.symbol)
    fn = k.module.globals.get(gemm.symbol)
    if fn is None:
        it = L.IntType(gemm.int_bits)
        ft = PTR if dtype.is_complex else REG[dtype]  # complex gemms take alpha, beta by pointer
        fn = L.Function(k.module, L.FunctionType(L.VoidType(), [
            I32, I32, I32, it, it, it, ft, PTR, it, PTR, it, ft, PTR, it]), gemm.symbol)
    return fn


def _complex_scalar(k: KernelBuilder, dtype: DType, value: float) -> L.Value:
    slot = k.alloca(MEM[dtype])
    k.b.store(L.Constant(MEM[dtype], [value, 0.0]), slot)
    return slot


def _copy_into(k: KernelBuilder, out: Var, x) -> None:
    k.loop_nest(out.type.shape, lambda idx: k.store(out, idx, k.value(x, idx)))


def _scatter_add(k: KernelBuilder, e: Eqn, _: Group) -> None:
    x, indices, updates = e.inputs
    out = e.outputs[0]
    axis = e.params["axis"]
    n_idx = indices.type.ndim
    _copy_into(k, out, x)
    if out.type.shape[axis] == 0:
        return

    def body(u_idx):
        position = _clamped_index(k, indices, u_idx[axis:axis + n_idx],
                                  out.type.shape[axis] - 1)
        o_idx = u_idx[:axis] + [position] + u_idx[axis + n_idx:]
        total = binary(k, P.add_p, out.type.dtype, k.load(out, o_idx), k.value(updates, u_idx))
        k.store(out, o_idx, total)

    k.loop_nest(updates.type.shape, body)


def _dynamic_update_slice(k: KernelBuilder, e: Eqn, _: Group) -> None:
    x, update = e.inputs[:2]
    out = e.outputs[0]
    _copy_into(k, out, x)
    starts = _dynamic_starts(k, e.inputs[2:], out.type.shape, update.type.shape)
    k.loop_nest(update.type.shape, lambda idx: k.store(
        out, [k.b.add(s, i) for s, i in zip(starts, idx)], k.value(update, idx)))


root_rules[P.scatter_add_p] = _scatter_add
root_rules[P.dynamic_update_slice_p] = _dynamic_update_slice


# ---------------------------------------------------------------------------------------------
# Control flow: sub-Functions emitted inline, temporaries on the stack
# ---------------------------------------------------------------------------------------------

def operand_buffer(k: KernelBuilder, atom) -> L.Value:
    """The address of an operand's data: its buffer, or a stack slot holding a literal."""
    if isinstance(atom, Literal):
        slot = k.alloca(MEM[atom.type.dtype])
        value = literal(atom)
        k.b.store(k.b.zext(value, I8) if atom.type.dtype is DType.bool else value, slot)
        return slot
    return k.buffers[atom]


def _offset(k: KernelBuilder, base: L.Value, t: TensorType, step: L.Value) -> L.Value:
    """The address of slice `step` of a buffer whose leading axis is scanned."""
    return k.b.gep(base, [k.b.mul(step, i64(max(t.size, 1)))], source_etype=MEM[t.dtype])


def _copy_buffer(k: KernelBuilder, t: TensorType, src: L.Value, dst: L.Value) -> None:
    def body(idx):
        offset = k.linear(idx, t.shape)
        value = k.b.load(k.b.gep(src, [offset], source_etype=MEM[t.dtype]), typ=MEM[t.dtype])
        k.b.store(value, k.b.gep(dst, [offset], source_etype=MEM[t.dtype]))
    k.loop_nest(t.shape, body)


def _store_literal(k: KernelBuilder, lit: Literal, dst: L.Value) -> None:
    t = lit.type
    value = k.b.zext(literal(lit), I8) if t.dtype is DType.bool else literal(lit)
    k.loop_nest(t.shape, lambda idx: k.b.store(
        value, k.b.gep(dst, [k.linear(idx, t.shape)], source_etype=MEM[t.dtype])))


class _Frame:
    """A sub-Function's planned Segment, its stack temporaries and its constant buffers."""

    def __init__(self, k: KernelBuilder, group: Group, fn):
        self.fn = fn
        self.segment = group.body(fn)
        self.temps = {v: k.stack_buffer(v.type) for v in self.segment.temps}
        self.consts = {v: k.constant_buffer(np.asarray(value, v.type.dtype.np))  # native order
                       for v, value in fn.consts}

    def emit_call(self, k: KernelBuilder, in_buffers: list, destinations: list) -> None:
        """The Function's equations inline: inputs read from `in_buffers`, outputs written to
        `destinations` (buffers of the outputs' types)."""
        fn = self.fn
        buffers = {**self.consts, **self.temps, **dict(zip(fn.inputs, in_buffers))}
        first_home = {}
        for atom, dst in zip(fn.outputs, destinations):
            if isinstance(atom, Var) and atom in self.segment.producer and atom not in first_home:
                buffers[atom] = first_home[atom] = dst
        k.child(self.segment, buffers).emit_body()
        for atom, dst in zip(fn.outputs, destinations):
            if isinstance(atom, Literal):
                _store_literal(k, atom, dst)
            elif first_home.get(atom) is not dst:
                _copy_buffer(k, atom.type, first_home.get(atom) or buffers[atom], dst)


def _scan(k: KernelBuilder, e: Eqn, group: Group) -> None:
    p = e.params
    body, n = p["body"], p["length"]
    consts, init, xs = scan_operands(e.inputs, p["num_consts"], p["num_carry"])
    carry, ys = scan_results(e.outputs, p["num_carry"])
    _, _, x_slices = scan_operands(body.inputs, p["num_consts"], p["num_carry"])
    _, y_slices = scan_results(body.outputs, p["num_carry"])
    frame = _Frame(k, group, body)
    for start, out in zip(init, carry):
        _copy_into(k, out, start)
    next_carry = [k.stack_buffer(v.type) for v in carry]
    const_buffers = [operand_buffer(k, a) for a in consts]

    def iteration(i):
        step = k.b.sub(i64(n - 1), i) if p["reverse"] else i
        x_buffers = [_offset(k, k.buffers[x], v.type, step) for v, x in zip(x_slices, xs)]
        y_buffers = [_offset(k, k.buffers[y], v.type, step) for v, y in zip(y_slices, ys)]
        frame.emit_call(k, const_buffers + [k.buffers[c] for c in carry] + x_buffers,
                        next_carry + y_buffers)
        for out, nxt in zip(carry, next_carry):
            _copy_buffer(k, out.type, nxt, k.buffers[out])

    k.counted_loop(n, iteration)


def _while(k: KernelBuilder, e: Eqn, group: Group) -> None:
    """while cond_fun(carry): carry = body_fun(carry), as a native loop in the kernel."""
    p = e.params
    cond_consts, body_consts, init = while_operands(e.inputs, p["cond_nconsts"],
                                                    p["body_nconsts"])
    cond_consts = [operand_buffer(k, a) for a in cond_consts]
    body_consts = [operand_buffer(k, a) for a in body_consts]
    carry = e.outputs
    for start, out in zip(init, carry):
        _copy_into(k, out, start)
    cond_frame, body_frame = _Frame(k, group, p["cond_fun"]), _Frame(k, group, p["body_fun"])
    flag = k.stack_buffer(p["cond_fun"].out_types[0])
    next_carry = [k.stack_buffer(v.type) for v in carry]
    b = k.b
    test_block = k.fn.append_basic_block("while.test")
    body_block = k.fn.append_basic_block("while.body")
    exit_block = k.fn.append_basic_block("while.exit")
    b.branch(test_block)
    b.position_at_end(test_block)
    saved = dict(k.memo)
    cond_frame.emit_call(k, cond_consts + [k.buffers[c] for c in carry], [flag])
    keep_going = b.icmp_unsigned("!=", b.load(flag, typ=I8), const(I8, 0))
    b.cbranch(keep_going, body_block, exit_block)
    b.position_at_end(body_block)
    k.memo = dict(saved)
    body_frame.emit_call(k, body_consts + [k.buffers[c] for c in carry], next_carry)
    for out, nxt in zip(carry, next_carry):
        _copy_buffer(k, out.type, nxt, k.buffers[out])
    b.branch(test_block)
    b.position_at_end(exit_block)
    k.memo = saved


def _cond(k: KernelBuilder, e: Eqn, group: Group) -> None:
    """cond: the clamped index picks one branch, emitted inline; a switch jumps to it."""
    branches = e.params["branches"]
    index, operands = cond_operands(e.inputs)
    operands = [operand_buffer(k, a) for a in operands]
    b = k.b
    i = _clamped_index(k, index, [], len(branches) - 1)
    frames = [_Frame(k, group, fn) for fn in branches]
    done = k.fn.append_basic_block("cond.done")
    blocks = [k.fn.append_basic_block(f"cond.branch{j}") for j in range(len(branches))]
    switch = b.switch(i, blocks[-1])
    for j, block in enumerate(blocks[:-1]):
        switch.add_case(i64(j), block)
    saved = dict(k.memo)
    for frame, block in zip(frames, blocks):
        b.position_at_end(block)
        k.memo = dict(saved)
        frame.emit_call(k, operands, [k.buffers[v] for v in e.outputs])
        b.branch(done)
    b.position_at_end(done)
    k.memo = saved


root_rules[P.scan_p] = _scan
root_rules[P.while_p] = _while
root_rules[P.cond_p] = _cond


# The complex-only primitives (lower.value takes the rules of every equation touching complex
# values from complex.py).
fused_rules.update({p: C.complex_rules[p] for p in (P.real_p, P.imag_p, P.conj_p, P.complex_p)})

# The special functions: each one's formula emitted inline (codegen/special.py).
from .special import special_rules  # noqa: E402

fused_rules.update(special_rules)

# Convolutions and window reductions: root rules registered by codegen/conv.py.
from . import conv as _conv  # noqa: E402, F401

# ---------------------------------------------------------------------------------------------
# numpy area: accurate elementwise math, ldexp, running scans
# ---------------------------------------------------------------------------------------------

for _name, _p in {**P.numpy_unary_primitives, **P.numpy_binary_primitives}.items():
    fused_rules[_p] = _on_result_type(_math_function(_name))  # asin, cbrt, hypot, ... of libm


def _ldexp(k: KernelBuilder, e: Eqn, idx) -> L.Value:
    """x * 2**n by the C library's ldexp (its int exponent clamped: beyond +-2**31 the result
    is 0 or inf either way)."""
    x, n = _operands(k, e, idx)
    dtype, b = e.outputs[0].type.dtype, k.b
    n64 = convert(k, n, e.inputs[1].type.dtype, DType.int64)
    n64 = b.select(b.icmp_signed(">", n64, i64(2 ** 31 - 1)), i64(2 ** 31 - 1), n64)
    n64 = b.select(b.icmp_signed("<", n64, i64(-2 ** 31)), i64(-2 ** 31), n64)
    t = REG[dtype]
    symbol = "ldexpf" if dtype is DType.float32 else "ldexp"
    fn = k.module.globals.get(symbol) or L.Function(k.module, L.FunctionType(t, [t, I32]),
                                                    symbol)
    return b.call(fn, [x, b.trunc(n64, I32)])


fused_rules[P.ldexp_p] = _ldexp

_SCAN_KIND = {P.cumsum_p: "sum", P.cumprod_p: "prod", P.cummax_p: "max", P.cummin_p: "min"}


def _scan_step(k: KernelBuilder, kind: str, dtype: DType, acc: L.Value, v: L.Value) -> L.Value:
    """One step of a running scan, in order and without reassociation (NumPy's accumulate)."""
    b = k.b
    if kind in ("sum", "prod") and dtype.is_float:
        return b.fadd(acc, v) if kind == "sum" else b.fmul(acc, v)
    if kind in ("sum", "prod"):
        return b.add(acc, v) if kind == "sum" else b.mul(acc, v)
    if dtype is DType.bool:
        return b.or_(acc, v) if kind == "max" else b.and_(acc, v)
    return binary(k, P.max_p if kind == "max" else P.min_p, dtype, acc, v)


def _scan_start(kind: str, dtype: DType) -> L.Constant:
    if kind == "sum" and dtype.is_float:
        return const(REG[dtype], -0.0)  # -0.0 + x == x for every x, -0.0 included
    return reduction_identity(kind, dtype)


def _along_axis(k: KernelBuilder, out: Var, axis: int, reverse: bool, step) -> None:
    """For each line along `axis`, step(full_index, position) in scan order."""
    shape = out.type.shape
    n = shape[axis]
    rest = [d for i, d in enumerate(shape) if i != axis]

    def line(rest_idx):
        state = step.start()

        def at(i):
            j = k.b.sub(i64(n - 1), i) if reverse else i
            full = list(rest_idx)
            full.insert(axis, j)
            step.visit(state, full, i)
        k.counted_loop(n, at)
    k.loop_nest(rest, line)


class _RunningScan:
    def __init__(self, k: KernelBuilder, e: Eqn):
        self.k, self.e = k, e
        self.kind = _SCAN_KIND[e.primitive]
        self.dtype = e.outputs[0].type.dtype

    def start(self) -> L.Value:
        acc = self.k.alloca(REG[self.dtype])
        self.k.b.store(_scan_start(self.kind, self.dtype), acc)
        return acc

    def visit(self, acc: L.Value, full: list, i: L.Value) -> None:
        k, t = self.k, REG[self.dtype]
        value = _scan_step(k, self.kind, self.dtype, k.b.load(acc, typ=t),
                           k.value(self.e.inputs[0], full))
        k.b.store(value, acc)
        k.store(self.e.outputs[0], full, value)


class _LinearRecurrence:
    """z[i] = a[i] * z[i-1] + b[i], the first z being b[0] (no multiply by the start)."""

    def __init__(self, k: KernelBuilder, e: Eqn):
        self.k, self.e = k, e
        self.dtype = e.outputs[0].type.dtype

    def start(self) -> L.Value:
        z = self.k.alloca(REG[self.dtype])
        self.k.b.store(const(REG[self.dtype], 0.0), z)
        return z

    def visit(self, z: L.Value, full: list, i: L.Value) -> None:
        k, b = self.k, self.k.b
        a_i, b_i = (k.value(x, full) for x in self.e.inputs)
        carried = b.fadd(b.fmul(a_i, b.load(z, typ=REG[self.dtype])), b_i)
        value = b.select(b.icmp_signed("==", i, i64(0)), b_i, carried)
        b.store(value, z)
        k.store(self.e.outputs[0], full, value)


def _running(visitor):
    def rule(k: KernelBuilder, e: Eqn, _: Group) -> None:
        _along_axis(k, e.outputs[0], e.params["axis"], e.params["reverse"], visitor(k, e))
    return rule


for _p in _SCAN_KIND:
    root_rules[_p] = _running(_RunningScan)
root_rules[P.linear_recurrence_p] = _running(_LinearRecurrence)


# Linear algebra: loops over stacks of matrices calling LAPACK (codegen/lower_linalg.py).
from .lower_linalg import linalg_rules  # noqa: E402

root_rules.update(linalg_rules)
