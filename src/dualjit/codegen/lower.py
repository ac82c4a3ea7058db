"""Lowering: straight-line IR segments to LLVM loop nests, with elementwise and index-map fusion.

Each materialized value is one loop nest over its shape. Elementwise, broadcast, reshape,
transpose, slice, pad, concatenate, gather, dynamic_slice, iota and select equations are
*fused*: they are emitted as scalar expressions inside the loop of the value that consumes
them, so they never get a buffer. Reductions and argmax consume fused producers; dot_general,
scatter_add and dynamic_update_slice read materialized operands.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from llvmlite import ir as L

from ..ir import DType, Eqn, Literal, TensorType, Var
from ..ir import primitives as P
from . import blas, vecmath

I1, I8, I32, I64 = L.IntType(1), L.IntType(8), L.IntType(32), L.IntType(64)
F32, F64 = L.FloatType(), L.DoubleType()
PTR = L.PointerType()
REG = {DType.bool: I1, DType.int32: I32, DType.int64: I64, DType.float32: F32,
       DType.float64: F64}
MEM = {DType.bool: I8, DType.int32: I32, DType.int64: I64, DType.float32: F32,
       DType.float64: F64}
PYARRAY_DATA_OFFSET = 16  # PyArrayObject: PyObject_HEAD (16 bytes), then char *data

ROOTS = {"reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "argmax", "argmin",
         "dot_general", "scatter_add", "dynamic_update_slice", "scan", "cond", "while"}
HOST = {"custom_jvp_call", "custom_vjp_call", "custom_lin"}
CHEAP = {"broadcast_in_dim", "reshape", "transpose", "slice", "convert_element_type",
         "iota", "stop_gradient", "neg"}
NEEDS_MATERIALIZED_INPUTS = {"dot_general", "scatter_add", "dynamic_update_slice", "scan",
                             "cond", "while"}
FAST_MATH_MIN_ELEMENTS = 1024
ELEMENTWISE_NAMES = (set(P.unary_primitives) | set(P.binary_primitives)
                     | set(P.compare_primitives)
                     | {"select", "integer_pow", "convert_element_type", "stop_gradient"})
RERUNNABLE_ROOTS = {"reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "argmax",
                    "argmin"}
STACK_LIMIT = 1 << 20  # bytes of loop-body temporaries a native scan may keep on the stack


def strides(shape: Sequence[int]) -> list[int]:
    out, acc = [], 1
    for d in reversed(shape):
        out.append(acc)
        acc *= d
    return list(reversed(out))


def const(t: L.Type, value) -> L.Constant:
    return L.Constant(t, value)


def i64(v: int) -> L.Constant:
    return L.Constant(I64, v)


class Segment:
    """A run of equations lowered into one kernel: buffers in, buffers out, temporaries."""

    def __init__(self, eqns: list[Eqn], live_in: list[Var], live_out: list[Var]):
        self.eqns = eqns
        self.live_in = live_in
        self.live_out = live_out
        self.producer = {v: e for e in eqns for v in e.outputs}
        uses: dict[Var, int] = {}
        for e in eqns:
            for a in e.inputs:
                if isinstance(a, Var):
                    uses[a] = uses.get(a, 0) + 1
        self.materialized: list[Var] = []
        outs = set(live_out)
        for e in eqns:
            name = e.primitive.name
            for a in e.inputs:
                if (name in NEEDS_MATERIALIZED_INPUTS and isinstance(a, Var)
                        and a in self.producer and a not in self.materialized):
                    self.materialized.append(a)
            for v in e.outputs:
                if (name in ROOTS or v in outs or (uses.get(v, 0) > 1 and name not in CHEAP)):
                    if v not in self.materialized:
                        self.materialized.append(v)
        order = {v: i for i, e in enumerate(eqns) for v in e.outputs}
        self.materialized.sort(key=lambda v: order[v])
        self._keep_in_registers(outs)
        self.temps = [v for v in self.materialized if v not in outs]
        self.grouped = self.groups()  # final: the emitter's loop nests, in order
        self._plan_temporaries()

    def _keep_in_registers(self, outs: set[Var]) -> None:
        """A value used several times needs no buffer when every use is in its own loop at the
        same index (only elementwise operations in between): the loop body computes it once."""
        required = {a for e in self.eqns if e.primitive.name in NEEDS_MATERIALIZED_INPUTS
                    for a in e.inputs if isinstance(a, Var)}
        groups = self.groups()
        direct_reads, other_reads = [], []
        for group in groups:
            direct, other = self._reads(group, split=True)
            direct_reads.append(direct)
            other_reads.append(other)
        drop = set()
        for g, group in enumerate(groups):
            for v in group:
                if (v in outs or v in required
                        or self.producer[v].primitive.name not in ELEMENTWISE_NAMES
                        or v in other_reads[g]):
                    continue
                readers = [h for h in range(len(groups)) if h != g
                           and (v in direct_reads[h] or v in other_reads[h])]
                if not readers:
                    drop.add(v)
                elif (len(readers) == 1 and v not in direct_reads[g]
                      and self._fusable_into(v, groups[readers[0]], other_reads[readers[0]])):
                    drop.add(v)  # computed inside its one reader's loop instead
        if drop:
            self.materialized = [v for v in self.materialized if v not in drop]

    def _fusable_into(self, v: Var, group: list[Var], other: set[Var]) -> bool:
        """v's one reading loop is a reduction (or sibling reductions) over v's own shape that
        reads v at its own index only: v can be computed there, once per element."""
        space = self._reduction_space(group[0])
        return space is not None and v not in other and space[0] == v.type.shape

    def _reduction_space(self, var: Var):
        """(input shape, reduced axes) of a reduction's loop nest, None for anything else."""
        e = self.producer[var]
        if e.primitive.name not in REDUCTION_KINDS:
            return None
        return e.inputs[0].type.shape, tuple(e.params["axes"])

    def groups(self) -> list[list[Var]]:
        """The materialized values in emission order, same-shape elementwise runs together."""
        groups: list[list[Var]] = []
        for var in self.materialized:
            is_root = self.producer[var].primitive.name in ROOT_RULES
            last = groups[-1] if groups else None
            space = self._reduction_space(var)
            if (last is not None and space is not None
                    and self._reduction_space(last[0]) == space
                    and not set(last) & self._reads([var])):
                last.append(var)  # sibling reductions over one space share a loop nest
            elif (last is not None and not is_root and last[0].type.shape == var.type.shape
                    and self.producer[last[0]].primitive.name not in ROOT_RULES):
                last.append(var)
            else:
                groups.append([var])
        return groups

    def _reads(self, group: list[Var], split: bool = False):
        """Materialized values a group's loops read (through the expressions fused into it).

        With split=True: (values read at the loop's own index — through elementwise
        operations only, from an elementwise value or a reduction's input — and the others)."""
        direct: set[Var] = set()
        other: set[Var] = set()
        # a reduction's loop runs over its input's index space: it reads its input in place
        stack = [(a, self.producer[v].primitive.name in ELEMENTWISE_NAMES
                  or self.producer[v].primitive.name in REDUCTION_KINDS)
                 for v in group for a in self.producer[v].inputs]
        seen: set = set()
        materialized = set(self.materialized)
        while stack:
            a, same_index = stack.pop()
            if not isinstance(a, Var) or (a, same_index) in seen:
                continue
            seen.add((a, same_index))
            if a in materialized:
                (direct if same_index else other).add(a)
            elif a in self.producer:
                e = self.producer[a]
                keep = same_index and e.primitive.name in ELEMENTWISE_NAMES
                stack.extend((b, keep) for b in e.inputs)
        return (direct, other) if split else direct | other

    def _plan_temporaries(self) -> None:
        """Temporaries whose lifetimes do not overlap share a buffer (`slot`): a value lives
        from the group that writes it to the last group that reads it."""
        groups = self.grouped
        temps = set(self.temps)
        defined_at: dict[Var, int] = {}
        last_read: dict[Var, int] = {}
        for i, group in enumerate(groups):
            for v in group:
                for out in self.producer[v].outputs:
                    defined_at.setdefault(out, i)
            for a in self._reads(group):
                last_read[a] = i
        self.slot_bytes: list[int] = []
        self.slot_of: dict[Var, int] = {}
        free: list[int] = []
        ending: dict[int, list[int]] = {}
        for v in sorted(temps, key=lambda v: (defined_at.get(v, 0), self.materialized.index(v))):
            start = defined_at.get(v, 0)
            for i in sorted(k for k in ending if k < start):
                free.extend(ending.pop(i))
            need = max(v.type.size, 1) * v.type.dtype.np.itemsize
            fits = [s for s in free if self.slot_bytes[s] >= need]
            if fits:
                slot = min(fits, key=lambda s: self.slot_bytes[s])
                free.remove(slot)
            else:
                slot = len(self.slot_bytes)
                self.slot_bytes.append(need)
            self.slot_of[v] = slot
            ending.setdefault(max(last_read.get(v, start), start), []).append(slot)


class KernelBuilder:
    """Emits one kernel function `void name(PyArrayObject* buffers...)` for a Segment."""

    def __init__(self, module: L.Module, name: str, segment: Segment,
                 math_function: Callable[[L.Module, str, DType], L.Function],
                 chunk_of: int | None = None):
        """chunk_of=n: the kernel takes (start, end) after its buffers and runs only that
        range of every loop over n elements (a flat segment's elements; see parallel.py)."""
        self.module = module
        self.segment = segment
        self.math_function = math_function
        self.args = segment.live_in + segment.live_out
        n_args = len(self.args) + len(segment.slot_bytes)
        extra = [I64, I64] if chunk_of is not None else []
        fnty = L.FunctionType(L.VoidType(), [PTR] * n_args + extra)
        self.fn = L.Function(module, fnty, name)
        self.fn.attributes.add("nounwind")
        entry = self.fn.append_basic_block("entry")
        self.b = L.IRBuilder(entry)
        self.chunk_of = chunk_of
        self.chunk = tuple(self.fn.args[n_args:]) if chunk_of is not None else None
        pointers = []
        for arg in self.fn.args[:n_args]:
            field = self.b.gep(arg, [i64(PYARRAY_DATA_OFFSET)], source_etype=I8)
            pointers.append(self.b.load(field, typ=PTR))
        self.buffers: dict[Var, L.Value] = dict(zip(self.args, pointers))
        slots = pointers[len(self.args):]
        for var in segment.temps:  # temporaries in the buffers planned for them
            self.buffers[var] = slots[segment.slot_of[var]]
        self.memo: dict = {}
        self.range_flag = None  # set while emitting a loop that may use fast sin/cos
        self.fast_math = False  # our vectorizable exp/sin/cos instead of the C library

    # -- loops ----------------------------------------------------------------------------------
    def loop_nest(self, shape: Sequence[int], body: Callable[[list], None]) -> None:
        """for idx in ndindex(shape): body(idx); counters live in allocas (mem2reg promotes)."""
        idx: list[L.Value] = []

        def level(d: int) -> None:
            if d == len(shape):
                saved = dict(self.memo)
                body(list(idx))
                self.memo = saved
                return
            self.counted_loop(shape[d], lambda i: (idx.append(i), level(d + 1), idx.pop()))
        level(0)

    def counted_loop(self, n: int, body: Callable[[L.Value], None]) -> None:
        b = self.b
        counter = self._alloca(I64)
        start, end = (self.chunk if self.chunk is not None and n == self.chunk_of
                      else (i64(0), i64(n)))
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
        b.branch(cond_block)
        b.position_at_end(exit_block)

    def _alloca(self, t: L.Type, count: int = 1) -> L.Value:
        with self.b.goto_entry_block():
            return self.b.alloca(t, size=i64(count)) if count != 1 else self.b.alloca(t)

    def stack_buffer(self, t: TensorType) -> L.Value:
        return self._alloca(MEM[t.dtype], max(t.size, 1))

    def constant_buffer(self, value) -> L.Value:
        data = bytearray(value.tobytes())
        array_type = L.ArrayType(I8, len(data))
        g = L.GlobalVariable(self.module, array_type, name=self.module.get_unique_name("const"))
        g.initializer = L.Constant(array_type, data)
        g.global_constant = True
        g.linkage = "internal"
        g.align = 64
        return g

    def sub_emitter(self, segment: Segment, buffers: dict) -> KernelBuilder:
        """An emitter for a nested Function body that writes into this kernel's builder."""
        sub = object.__new__(KernelBuilder)
        sub.module, sub.segment, sub.math_function = self.module, segment, self.math_function
        sub.fn, sub.b, sub.buffers, sub.memo = self.fn, self.b, dict(buffers), {}
        sub.args, sub.range_flag, sub.fast_math = [], None, False
        sub.chunk, sub.chunk_of = None, None
        return sub

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
        value = self.b.load(ptr, typ=MEM[t.dtype])
        return self.b.trunc(value, I1) if t.dtype is DType.bool else value

    def store(self, var: Var, idx: Sequence[L.Value], value: L.Value) -> None:
        t = var.type
        ptr = self.b.gep(self.buffers[var], [self.linear(idx, t.shape)], inbounds=True,
                         source_etype=MEM[t.dtype])
        if t.dtype is DType.bool:
            value = self.b.zext(value, I8)
        self.b.store(value, ptr)

    # -- values ---------------------------------------------------------------------------------
    def value(self, atom, idx: Sequence[L.Value]) -> L.Value:
        """The scalar value of `atom` at multi-index `idx` (rank-0 atoms ignore idx)."""
        if isinstance(atom, Literal):
            return literal(atom)
        if atom.type.shape == ():
            idx = []
        key = (atom, tuple(id(i) for i in idx))
        found = self.memo.get(key)
        if found is not None:
            return found[0]
        if atom in self.buffers and (atom not in self.segment.producer
                                     or atom in self.done):
            out = self.load(atom, idx)
        else:
            eqn = self.segment.producer[atom]
            out = FUSED[eqn.primitive.name](self, eqn, idx)
        self.memo[key] = (out, idx)  # holding idx keeps the ids in the key from being reused
        return out

    def emit(self) -> None:
        """One loop nest per root; consecutive same-shape fused values share one loop nest, so
        a chain of elementwise values is computed in registers and stored once each."""
        self.emit_body()
        self.b.ret_void()

    def emit_body(self) -> None:
        self.done: set[Var] = set()
        for group in self._groups():
            if group[0] in self.done:
                continue
            eqn = self.segment.producer[group[0]]
            name = eqn.primitive.name
            if len(group) > 1 and name in REDUCTION_KINDS:
                eqns = [self.segment.producer[v] for v in group]
                self.versioned(lambda k, eqns=eqns: _sibling_reductions(k, eqns),
                               eqn.inputs[0].type.size)
            elif name in ROOT_RULES:
                if name in RERUNNABLE_ROOTS:
                    self.versioned(lambda k, eqn=eqn: ROOT_RULES[eqn.primitive.name](k, eqn),
                                   eqn.inputs[0].type.size)
                else:
                    ROOT_RULES[name](self, eqn)
            else:
                def loops(k, group=group):
                    def body(idx):
                        for v in group:
                            k.store(v, idx, k.value(v, idx))
                    k.loop_nest(group[0].type.shape, body)
                self.versioned(loops, group[0].type.size)
            for v in group:
                self.done.update(self.segment.producer[v].outputs)

    def versioned(self, emit_loops: Callable[[KernelBuilder], None], elements: int) -> None:
        """Emit loops with fast vectorizable sin/cos; if an argument was outside their range
        (or nan/inf), call a cold copy of the same loops that uses the C library. The loops
        are idempotent (they only write their own outputs), so running them twice is safe."""
        if elements < FAST_MATH_MIN_ELEMENTS:  # the polynomials' compile time would not pay off
            emit_loops(self)
            return
        self.fast_math = True
        if not self._uses_range_reduced_math():
            emit_loops(self)
            self.fast_math = False
            return
        flag = self._alloca(I1)
        self.b.store(const(I1, 0), flag)
        self.range_flag = flag
        emit_loops(self)
        self.range_flag = None
        self.fast_math = False
        slow, args = self._slow_copy(emit_loops)
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
        sub = object.__new__(KernelBuilder)
        sub.module, sub.segment, sub.math_function = self.module, self.segment, self.math_function
        sub.fn, sub.b = fn, L.IRBuilder(fn.append_basic_block("entry"))
        sub.buffers = {var: arg for (var, _), arg in zip(items, fn.args)}
        sub.memo, sub.args, sub.range_flag, sub.fast_math = {}, [], None, False
        sub.done = set(self.done)
        sub._range_math = False
        sub.chunk_of = self.chunk_of
        sub.chunk = tuple(fn.args[len(items):]) if self.chunk is not None else None
        emit_loops(sub)
        sub.b.ret_void()
        return fn, [ptr for _, ptr in items] + list(self.chunk or ())

    def _uses_range_reduced_math(self) -> bool:
        found = getattr(self, "_range_math", None)
        if found is None:
            found = any(vecmath.needs_range_check(e.primitive.name) for e in self.segment.eqns)
            self._range_math = found
        return found

    def _groups(self) -> list[list[Var]]:
        return self.segment.grouped


def literal(lit: Literal) -> L.Constant:
    d = lit.type.dtype
    if d is DType.bool:
        return const(I1, int(bool(lit.value)))
    if d.is_int:
        return const(REG[d], int(lit.value))
    return const(REG[d], float(lit.value))


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


def _math(k: KernelBuilder, name: str, dtype: DType, args: list) -> L.Value:
    is_f32 = dtype is DType.float32
    if vecmath.needs_range_check(name):
        if k.range_flag is not None:
            bad = vecmath.out_of_range(k.b, k.module, args[0], is_f32)
            k.b.store(k.b.or_(k.b.load(k.range_flag, typ=I1), bad), k.range_flag)
            return vecmath.emit(k.module, k.b, name, is_f32, args[0])
    elif k.fast_math and vecmath.available(name, is_f32):
        return vecmath.emit(k.module, k.b, name, is_f32, *args)
    intrinsics = {"exp": "llvm.exp", "log": "llvm.log", "sin": "llvm.sin", "cos": "llvm.cos",
                  "sqrt": "llvm.sqrt", "pow": "llvm.pow"}
    if name in intrinsics:
        return _intrinsic(k, intrinsics[name], REG[dtype], args)
    return _libm(k, name, dtype, args)


def _is_nan(b: L.IRBuilder, x: L.Value) -> L.Value:
    return b.fcmp_unordered("uno", x, x)


def unary(k: KernelBuilder, name: str, dtype: DType, x: L.Value) -> L.Value:
    b, t = k.b, REG[dtype]
    if name == "neg":
        return b.fneg(x) if dtype.is_float else b.neg(x)
    if name == "not":
        return b.not_(x)
    if name == "abs":
        if dtype.is_float:
            return _intrinsic(k, "llvm.fabs", t, [x])
        return b.select(b.icmp_signed("<", x, const(t, 0)), b.neg(x), x)
    if name == "sign":
        if dtype.is_float:
            pos = b.select(b.fcmp_ordered(">", x, const(t, 0.0)), const(t, 1.0), x)
            return b.select(b.fcmp_ordered("<", x, const(t, 0.0)), const(t, -1.0), pos)
        pos = b.select(b.icmp_signed(">", x, const(t, 0)), const(t, 1), const(t, 0))
        return b.select(b.icmp_signed("<", x, const(t, 0)), const(t, -1), pos)
    if name in ("floor", "ceil"):
        return _intrinsic(k, f"llvm.{name}", t, [x])
    if name == "round":
        return _intrinsic(k, "llvm.roundeven", t, [x])
    if name == "rsqrt":
        return _fp(b.fdiv(const(t, 1.0), _math(k, "sqrt", dtype, [x])))
    if name == "logistic":
        e = _math(k, "exp", dtype, [_fp(b.fneg(x))])
        return _fp(b.fdiv(const(t, 1.0), _fp(b.fadd(const(t, 1.0), e))))
    return _math(k, name, dtype, [x])


def binary(k: KernelBuilder, name: str, dtype: DType, x: L.Value, y: L.Value) -> L.Value:
    b, t = k.b, REG[dtype]
    f = dtype.is_float
    if name in ("add", "sub", "mul"):
        if f:
            return _fp({"add": b.fadd, "sub": b.fsub, "mul": b.fmul}[name](x, y))
        return {"add": b.add, "sub": b.sub, "mul": b.mul}[name](x, y)
    if name in ("and", "or", "xor"):
        return {"and": b.and_, "or": b.or_, "xor": b.xor}[name](x, y)
    if name == "div" and f:
        return _fp(b.fdiv(x, y))
    if name == "rem" and f:
        return b.frem(x, y)
    if name in ("div", "rem"):
        # C semantics with the IR's guards: x/0 = 0, x%0 = 0; INT_MIN/-1 must not trap.
        zero = b.icmp_signed("==", y, const(t, 0))
        minus_one = b.icmp_signed("==", y, const(t, -1))
        safe_y = b.select(b.or_(zero, minus_one), const(t, 1), y)
        q = b.sdiv(x, safe_y) if name == "div" else b.srem(x, safe_y)
        q = b.select(minus_one, b.neg(x) if name == "div" else const(t, 0), q)
        return b.select(zero, const(t, 0), q)
    if name in ("max", "min"):
        if f:
            pick = b.fcmp_ordered(">" if name == "max" else "<", x, y)
            chosen = b.select(pick, x, y)
            either_nan = b.fcmp_unordered("uno", x, y)
            return b.select(either_nan, _fp(b.fadd(x, y)), chosen)
        pick = b.icmp_signed(">" if name == "max" else "<", x, y)
        return b.select(pick, x, y)
    if name in ("pow", "atan2"):
        return _math(k, name, dtype, [x, y])
    raise NotImplementedError(name)


_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def compare(k: KernelBuilder, name: str, dtype: DType, x: L.Value, y: L.Value) -> L.Value:
    op = _COMPARE[name]
    if dtype.is_float:
        return k.b.fcmp_unordered(op, x, y) if name == "ne" else k.b.fcmp_ordered(op, x, y)
    if dtype is DType.bool:
        return k.b.icmp_unsigned(op, x, y)
    return k.b.icmp_signed(op, x, y)


def convert(k: KernelBuilder, x: L.Value, src: DType, dst: DType) -> L.Value:
    b = k.b
    if src is dst:
        return x
    if dst is DType.bool:
        return b.fcmp_unordered("!=", x, const(REG[src], 0.0)) if src.is_float else \
            b.icmp_unsigned("!=", x, const(REG[src], 0))
    if src is DType.bool:
        return b.uitofp(x, REG[dst]) if dst.is_float else b.zext(x, REG[dst])
    if src.is_float and dst.is_float:
        return b.fpext(x, REG[dst]) if dst is DType.float64 else b.fptrunc(x, REG[dst])
    if src.is_float:
        return b.fptosi(x, REG[dst])
    if dst.is_float:
        return b.sitofp(x, REG[dst])
    if REG[dst].width > REG[src].width:
        return b.sext(x, REG[dst])
    return b.trunc(x, REG[dst])


def integer_pow(k: KernelBuilder, dtype: DType, x: L.Value, y: int) -> L.Value:
    b, t = k.b, REG[dtype]
    one = const(t, 1.0 if dtype.is_float else 1)

    def mul(a, c):
        return _fp(b.fmul(a, c)) if dtype.is_float else b.mul(a, c)

    n, acc, base = abs(y), one, x
    while n:
        if n & 1:
            acc = base if acc is one else mul(acc, base)
        n >>= 1
        if n:
            base = mul(base, base)
    if y < 0:
        if dtype.is_float:
            return _fp(b.fdiv(one, acc))
        return binary(k, "div", dtype, one, acc)
    return acc


# ---------------------------------------------------------------------------------------------
# Fused equations: value at an output index
# ---------------------------------------------------------------------------------------------

FUSED: dict[str, Callable] = {}


def _operands(k, eqn, idx):
    return [k.value(a, idx) for a in eqn.inputs]


def _register_elementwise():
    from ..ir.primitives import _BINARY, _UNARY
    from ..ir.primitives import _COMPARE as COMPARE_NAMES

    for name in _UNARY:
        FUSED[name] = (lambda n: lambda k, e, idx: unary(k, n, e.outputs[0].type.dtype,
                                                         *_operands(k, e, idx)))(name)
    for name in _BINARY:
        FUSED[name] = (lambda n: lambda k, e, idx: binary(k, n, e.outputs[0].type.dtype,
                                                          *_operands(k, e, idx)))(name)
    for name in COMPARE_NAMES:
        FUSED[name] = (lambda n: lambda k, e, idx: compare(k, n, e.inputs[0].type.dtype,
                                                           *_operands(k, e, idx)))(name)


_register_elementwise()
FUSED["select"] = lambda k, e, idx: k.b.select(*_operands(k, e, idx))
FUSED["integer_pow"] = lambda k, e, idx: integer_pow(k, e.outputs[0].type.dtype,
                                                     k.value(e.inputs[0], idx), e.params["y"])
FUSED["convert_element_type"] = lambda k, e, idx: convert(
    k, k.value(e.inputs[0], idx), e.inputs[0].type.dtype, e.outputs[0].type.dtype)
FUSED["stop_gradient"] = lambda k, e, idx: k.value(e.inputs[0], idx)


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


def _clamp(k, v, lo, hi):
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
        in_idx.append(_clamp(k, q, 0, max(n - 1, 0)))
    if x.type.size == 0:
        return k.value(pad_value, [])
    return b.select(inside, k.value(x, in_idx), k.value(pad_value, []))


def _concatenate(k, e, idx):
    d = e.params["dimension"]
    b = k.b
    result, start = None, 0
    for x in e.inputs:
        n = x.type.shape[d]
        local = list(idx)
        local[d] = _clamp(k, b.sub(idx[d], i64(start)), 0, max(n - 1, 0))
        v = k.value(x, local)
        if result is None:
            result = v
        else:
            result = b.select(b.icmp_signed(">=", idx[d], i64(start)), v, result)
        start += n
    return result


def _index_value(k, atom, idx) -> L.Value:
    v = k.value(atom, idx)
    return k.b.sext(v, I64) if atom.type.dtype is DType.int32 else v


def _gather(k, e, idx):
    x, indices = e.inputs
    axis = e.params["axis"]
    n_idx = indices.type.ndim
    which = _index_value(k, indices, idx[axis:axis + n_idx])
    position = _clamp(k, which, 0, max(x.type.shape[axis] - 1, 0))
    return k.value(x, idx[:axis] + [position] + idx[axis + n_idx:])


def _dynamic_starts(k, e, x_shape, sizes):
    return [_clamp(k, _index_value(k, s, []), 0, d - n)
            for s, d, n in zip(e.inputs[1 + (e.primitive.name == "dynamic_update_slice"):],
                               x_shape, sizes)]


def _dynamic_slice(k, e, idx):
    x = e.inputs[0]
    starts = _dynamic_starts(k, e, x.type.shape, e.params["slice_sizes"])
    return k.value(x, [k.b.add(s, i) for s, i in zip(starts, idx)])


def _iota(k, e, idx):
    return convert(k, idx[e.params["dimension"]], DType.int64, e.outputs[0].type.dtype)


FUSED.update({"broadcast_in_dim": _broadcast, "reshape": _reshape, "transpose": _transpose,
              "slice": _slice, "pad": _pad, "concatenate": _concatenate, "gather": _gather,
              "dynamic_slice": _dynamic_slice, "iota": _iota})


# ---------------------------------------------------------------------------------------------
# Roots: equations that get their own loop structure
# ---------------------------------------------------------------------------------------------

ROOT_RULES: dict[str, Callable] = {}


def _split_axes(shape, axes):
    kept = [d for d in range(len(shape)) if d not in axes]
    return kept, list(axes)


def _reduction(k: KernelBuilder, e: Eqn) -> None:
    _sibling_reductions(k, [e])


def _identity(kind, dtype):
    t = REG[dtype]
    if kind == "sum":
        return const(t, 0.0 if dtype.is_float else 0)
    if kind == "prod":
        return const(t, 1.0 if dtype.is_float else 1)
    if dtype.is_float:
        return const(t, -math.inf if kind == "max" else math.inf)
    if dtype is DType.bool:
        return const(t, 0 if kind == "max" else 1)
    bits = t.width
    return const(t, -(2 ** (bits - 1)) if kind == "max" else 2 ** (bits - 1) - 1)


def _combine(k, kind, dtype, acc, v):
    b = k.b
    if kind in ("sum", "prod"):
        if dtype.is_float:
            instr = b.fadd(acc, v) if kind == "sum" else b.fmul(acc, v)
            instr.flags.extend(["reassoc", "contract"])  # lets the reduction vectorize
            return instr
        return b.add(acc, v) if kind == "sum" else b.mul(acc, v)
    if dtype is DType.bool:
        return b.or_(acc, v) if kind == "max" else b.and_(acc, v)
    return binary(k, kind, dtype, acc, v)


REDUCTION_KINDS = {f"reduce_{kind}": kind for kind in ("sum", "max", "min", "prod")}
ROOT_RULES.update({name: _reduction for name in REDUCTION_KINDS})


def _sibling_reductions(k: KernelBuilder, eqns: list[Eqn]) -> None:
    """Reductions over the same space (one or more) in one loop nest, an accumulator each;
    values they share are computed once per element."""
    x0 = eqns[0].inputs[0]
    kept, axes = _split_axes(x0.type.shape, eqns[0].params["axes"])
    b = k.b

    def outer(out_idx):
        accs = []
        for e in eqns:
            dtype = e.inputs[0].type.dtype
            acc = k._alloca(REG[dtype])
            b.store(_identity(REDUCTION_KINDS[e.primitive.name], dtype), acc)
            accs.append(acc)

        def inner(red_idx):
            full = [None] * x0.type.ndim
            for d, i in zip(kept, out_idx):
                full[d] = i
            for d, i in zip(axes, red_idx):
                full[d] = i
            for e, acc in zip(eqns, accs):
                dtype = e.inputs[0].type.dtype
                v = k.value(e.inputs[0], full)
                current = b.load(acc, typ=REG[dtype])
                b.store(_combine(k, REDUCTION_KINDS[e.primitive.name], dtype, current, v), acc)

        k.loop_nest([x0.type.shape[d] for d in axes], inner)
        for e, acc in zip(eqns, accs):
            k.store(e.outputs[0], out_idx, b.load(acc, typ=REG[e.inputs[0].type.dtype]))

    k.loop_nest(eqns[0].outputs[0].type.shape, outer)


def _arg_reduce(kind: str):
    def rule(k: KernelBuilder, e: Eqn) -> None:
        x, out = e.inputs[0], e.outputs[0]
        axis, dtype = e.params["axis"], x.type.dtype
        t = REG[dtype]
        kept = [d for d in range(x.type.ndim) if d != axis]
        b = k.b

        def outer(out_idx):
            best, best_i = k._alloca(t), k._alloca(I64)

            def at(i):
                full = [None] * x.type.ndim
                for d, j in zip(kept, out_idx):
                    full[d] = j
                full[axis] = i
                return k.value(x, full)

            b.store(at(i64(0)), best)
            b.store(i64(0), best_i)

            def inner(i):
                v = at(i)
                current = b.load(best, typ=t)
                if dtype.is_float:
                    better = b.fcmp_ordered(">" if kind == "argmax" else "<", v, current)
                    first_nan = b.and_(_is_nan(b, v), b.not_(_is_nan(b, current)))
                    better = b.or_(better, first_nan)
                else:
                    better = (b.icmp_signed if dtype is not DType.bool else b.icmp_unsigned)(
                        ">" if kind == "argmax" else "<", v, current)
                b.store(b.select(better, v, current), best)
                b.store(b.select(better, i, b.load(best_i, typ=I64)), best_i)

            k.counted_loop(x.type.shape[axis], inner)
            k.store(out, out_idx, convert(k, b.load(best_i, typ=I64), DType.int64,
                                          out.type.dtype))

        k.loop_nest(out.type.shape, outer)
    return rule


ROOT_RULES["argmax"] = _arg_reduce("argmax")
ROOT_RULES["argmin"] = _arg_reduce("argmin")


def _dot_general(k: KernelBuilder, e: Eqn) -> None:
    lhs, rhs = e.inputs
    out = e.outputs[0]
    if _contraction_size(e) >= BLAS_MIN_FLOPS and blas.gemm_ok(e):
        blas.emit_gemm(k, e, _operand_buffer(k, lhs), _operand_buffer(k, rhs), k.buffers[out])
        return
    (lc, rc), (lb, rb) = e.params["dimension_numbers"]
    lfree = [d for d in range(lhs.type.ndim) if d not in lc and d not in lb]
    rfree = [d for d in range(rhs.type.ndim) if d not in rc and d not in rb]
    dtype = out.type.dtype
    t = REG[dtype]
    b = k.b
    nb, nl = len(lb), len(lfree)

    def outer(out_idx):
        acc = k._alloca(t)
        b.store(_identity("sum", dtype), acc)

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
            prod = binary(k, "mul", dtype, k.value(lhs, li), k.value(rhs, ri))
            b.store(_combine(k, "sum", dtype, b.load(acc, typ=t), prod), acc)

        k.loop_nest([lhs.type.shape[d] for d in lc], inner)
        k.store(out, out_idx, b.load(acc, typ=t))

    k.loop_nest(out.type.shape, outer)


def _copy_into(k: KernelBuilder, out: Var, x) -> None:
    k.loop_nest(out.type.shape, lambda idx: k.store(out, idx, k.value(x, idx)))


def _scatter_add(k: KernelBuilder, e: Eqn) -> None:
    x, indices, updates = e.inputs
    out = e.outputs[0]
    axis = e.params["axis"]
    n_idx = indices.type.ndim
    _copy_into(k, out, x)
    if out.type.shape[axis] == 0:
        return

    def body(u_idx):
        which = _index_value(k, indices, u_idx[axis:axis + n_idx])
        position = _clamp(k, which, 0, out.type.shape[axis] - 1)
        o_idx = u_idx[:axis] + [position] + u_idx[axis + n_idx:]
        total = binary(k, "add", out.type.dtype, k.load(out, o_idx), k.value(updates, u_idx))
        k.store(out, o_idx, total)

    k.loop_nest(updates.type.shape, body)


def _dynamic_update_slice(k: KernelBuilder, e: Eqn) -> None:
    x, update = e.inputs[:2]
    out = e.outputs[0]
    _copy_into(k, out, x)
    starts = _dynamic_starts(k, e, out.type.shape, update.type.shape)
    k.loop_nest(update.type.shape, lambda idx: k.store(
        out, [k.b.add(s, i) for s, i in zip(starts, idx)], k.value(update, idx)))


def _operand_buffer(k: KernelBuilder, atom) -> L.Value:
    if isinstance(atom, Literal):
        slot = k._alloca(MEM[atom.type.dtype])
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


def body_segment(body) -> Segment:
    defined = {v for e in body.eqns for v in e.outputs}
    outs = []
    for a in body.outputs:
        if isinstance(a, Var) and a in defined and a not in outs:
            outs.append(a)
    return Segment(list(body.eqns), list(body.inputs) + [v for v, _ in body.consts], outs)


def _emit_call(k: KernelBuilder, fn, seg: Segment, in_buffers: list, destinations: list,
               temps: dict, consts: dict) -> None:
    """Emit `fn`'s equations inline: its inputs read from `in_buffers`, its outputs written
    to `destinations` (buffers with the outputs' types); temporaries live in `temps`."""
    buffers = dict(consts)
    buffers.update(temps)
    buffers.update(zip(fn.inputs, in_buffers))
    first_home = {}
    for atom, dst in zip(fn.outputs, destinations):
        if isinstance(atom, Var) and atom in seg.producer and atom not in first_home:
            buffers[atom] = dst
            first_home[atom] = dst
    sub = k.sub_emitter(seg, buffers)
    sub.emit_body()
    for atom, dst in zip(fn.outputs, destinations):
        if isinstance(atom, Var) and first_home.get(atom) is dst:
            continue
        t = atom.type
        if isinstance(atom, Literal):
            k.loop_nest(t.shape, lambda idx, a=atom, d=dst, t=t: k.b.store(
                k.b.zext(literal(a), I8) if t.dtype is DType.bool else literal(a),
                k.b.gep(d, [k.linear(idx, t.shape)], source_etype=MEM[t.dtype])))
        else:
            _copy_buffer(k, t, first_home.get(atom) or buffers[atom], dst)


def _frame(k: KernelBuilder, fn):
    """A nested Function's segment, stack temporaries and constant buffers."""
    seg = body_segment(fn)
    temps = {v: k.stack_buffer(v.type) for v in seg.temps}
    consts = {v: k.constant_buffer(value) for v, value in fn.consts}
    return seg, temps, consts


def _scan(k: KernelBuilder, e: Eqn) -> None:
    p = e.params
    body, nc, nk, n = p["body"], p["num_consts"], p["num_carry"], p["length"]
    operands = e.inputs
    carry_out, ys = e.outputs[:nk], e.outputs[nk:]
    seg, temps, consts = _frame(k, body)
    for init, out in zip(operands[nc:nc + nk], carry_out):
        _copy_into(k, out, init)
    next_carry = [k.stack_buffer(v.type) for v in carry_out]
    const_ops = [_operand_buffer(k, a) for a in operands[:nc]]

    def iteration(i):
        step = k.b.sub(i64(n - 1), i) if p["reverse"] else i
        ins = body.inputs
        in_buffers = list(const_ops) + [k.buffers[c] for c in carry_out] + [
            _offset(k, k.buffers[x], v.type, step)
            for v, x in zip(ins[nc + nk:], operands[nc + nk:])]
        destinations = list(next_carry) + [_offset(k, k.buffers[y], body.outputs[nk + j].type, step)
                                           for j, y in enumerate(ys)]
        _emit_call(k, body, seg, in_buffers, destinations, temps, consts)
        for out, nxt in zip(carry_out, next_carry):
            _copy_buffer(k, out.type, nxt, k.buffers[out])

    k.counted_loop(n, iteration)


def _while(k: KernelBuilder, e: Eqn) -> None:
    """while cond_fun(carry): carry = body_fun(carry), as a native loop in the kernel."""
    p = e.params
    cond_fn, body_fn = p["cond_fun"], p["body_fun"]
    cc, bc = p["cond_nconsts"], p["body_nconsts"]
    operands = [_operand_buffer(k, a) for a in e.inputs]
    cond_consts, body_consts = operands[:cc], operands[cc:cc + bc]
    carry = e.outputs
    for init, out in zip(e.inputs[cc + bc:], carry):
        _copy_into(k, out, init)
    cond_frame, body_frame = _frame(k, cond_fn), _frame(k, body_fn)
    flag = k.stack_buffer(cond_fn.out_types[0])
    next_carry = [k.stack_buffer(v.type) for v in carry]
    b = k.b
    test_block = k.fn.append_basic_block("while.test")
    body_block = k.fn.append_basic_block("while.body")
    exit_block = k.fn.append_basic_block("while.exit")
    b.branch(test_block)
    b.position_at_end(test_block)
    saved = dict(k.memo)
    _emit_call(k, cond_fn, cond_frame[0], cond_consts + [k.buffers[c] for c in carry], [flag],
               *cond_frame[1:])
    keep_going = b.icmp_unsigned("!=", b.load(flag, typ=I8), const(I8, 0))
    b.cbranch(keep_going, body_block, exit_block)
    b.position_at_end(body_block)
    k.memo = dict(saved)
    _emit_call(k, body_fn, body_frame[0], body_consts + [k.buffers[c] for c in carry],
               next_carry, *body_frame[1:])
    for out, nxt in zip(carry, next_carry):
        _copy_buffer(k, out.type, nxt, k.buffers[out])
    b.branch(test_block)
    b.position_at_end(exit_block)
    k.memo = saved


def _cond(k: KernelBuilder, e: Eqn) -> None:
    """cond: the clamped index picks one branch, emitted inline; a switch jumps to it."""
    branches = e.params["branches"]
    index, operands = e.inputs[0], [_operand_buffer(k, a) for a in e.inputs[1:]]
    b = k.b
    i = k.value(index, [])
    i = b.sext(i, I64) if i.type.width < 64 else i
    i = _clamp(k, i, 0, len(branches) - 1)
    frames = [_frame(k, fn) for fn in branches]
    done = k.fn.append_basic_block("cond.done")
    blocks = [k.fn.append_basic_block(f"cond.branch{j}") for j in range(len(branches))]
    switch = b.switch(i, blocks[-1])
    for j, block in enumerate(blocks[:-1]):
        switch.add_case(i64(j), block)
    saved = dict(k.memo)
    for fn, frame, block in zip(branches, frames, blocks):
        b.position_at_end(block)
        k.memo = dict(saved)
        _emit_call(k, fn, frame[0], operands, [k.buffers[v] for v in e.outputs], *frame[1:])
        b.branch(done)
    b.position_at_end(done)
    k.memo = saved


def native_control_ok(eqn: Eqn) -> bool:
    """cond and while run natively when their Functions do (see native_scan_ok)."""
    p = eqn.params
    functions = list(p["branches"]) if eqn.primitive.name == "cond" else [
        p["cond_fun"], p["body_fun"]]
    stack = sum(v.type.size * v.type.dtype.np.itemsize for v in eqn.outputs)
    return stack <= STACK_LIMIT and all(_native_function_ok(fn) for fn in functions)


def _native_function_ok(fn, extra_stack: int = 0) -> bool:
    """Every equation of `fn` lowers inside a kernel, and its temporaries (plus extra_stack
    bytes) fit the stack."""
    seg = body_segment(fn)
    stack = extra_stack + sum(v.type.size * v.type.dtype.np.itemsize for v in seg.temps)
    if stack > STACK_LIMIT:
        return False
    for inner in fn.eqns:
        name = inner.primitive.name
        if name == "scan":
            if not native_scan_ok(inner):
                return False
        elif name in ("cond", "while"):
            if not native_control_ok(inner):
                return False
        elif not (name in FUSED or name in ROOT_RULES) or name in HOST:
            return False
        elif name == "dot_general" and _contraction_size(inner) >= BLAS_MIN_FLOPS and \
                not blas.gemm_ok(inner):
            return False
    return True


def native_scan_ok(eqn: Eqn) -> bool:
    """A scan runs as a native loop when everything in its body lowers and fits the stack."""
    carry = eqn.outputs[:eqn.params["num_carry"]]
    return _native_function_ok(eqn.params["body"], sum(
        v.type.size * v.type.dtype.np.itemsize for v in carry))


BLAS_MIN_FLOPS = 1 << 15


def _contraction_size(eqn: Eqn) -> int:
    (lc, _), _ = eqn.params["dimension_numbers"]
    k = 1
    for d in lc:
        k *= eqn.inputs[0].type.shape[d]
    return eqn.outputs[0].type.size * k


ROOT_RULES.update({"dot_general": _dot_general, "scatter_add": _scatter_add,
                   "dynamic_update_slice": _dynamic_update_slice, "scan": _scan,
                   "while": _while, "cond": _cond})


def lowerable(name: str) -> bool:
    return name in FUSED or name in ROOT_RULES


def type_of(v) -> TensorType:
    return v.type
