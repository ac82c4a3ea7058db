"""Flat elementwise kernels: a scalar Function's value over n contiguous elements, n given at
run time, so one compiled loop serves every shape of one dtype (the eager special functions).

The loop body is the Function's equations emitted by the fused rules of lower.py (special
functions inline their formulas, codegen/special.py), with the vectorizable math of
vecmath.py, so LLVM vectorizes the loop; sin, cos and tan reduce their argument exactly only
up to vecmath.RANGE_LIMIT, so a loop using them checks that bound and is run again with the C
library's math when an argument exceeds it (as lower.py's FAST_CHECKED groups). The values are
thus those of `dj.jit` on the same composition.
"""

from __future__ import annotations

import ctypes

import numpy as np
from llvmlite import ir as L

from ..ir import Function, Literal
from .abi import PYARRAY_DATA_OFFSET, KernelEntryError

I1, I8, I64, PTR = L.IntType(1), L.IntType(8), L.IntType(64), L.PointerType()
ENTRY = "flat_kernel"


class _Scope:
    """What a fused rule sees of a kernel: the builder, the module, the math mode, and the
    loop's scalar values."""

    def __init__(self, builder: L.IRBuilder, module: L.Module, env: dict, fast_math: bool,
                 range_flag):
        self.b, self.module, self.env = builder, module, env
        self.fast_math, self.range_flag = fast_math, range_flag
        self.memo: dict = {}

    def value(self, atom, idx):
        from .lower import literal

        return literal(atom) if isinstance(atom, Literal) else self.env[atom]

    def alloca(self, t: L.Type, count: int = 1) -> L.Value:
        with self.b.goto_entry_block():
            return self.b.alloca(t, count)


def check_scalar(fn: Function) -> None:
    """fn must be a chain of scalar elementwise equations the fused rules know."""
    from .lower import fused_rules

    shapes = {v.type.shape for v in (*fn.inputs, *fn.outputs)}
    shapes |= {v.type.shape for e in fn.eqns for v in (*e.inputs, *e.outputs)
               if not isinstance(v, Literal)}
    missing = {e.primitive.name for e in fn.eqns if e.primitive not in fused_rules}
    if shapes != {()} or missing or fn.consts or len(fn.outputs) != 1:
        raise ValueError(f"not a scalar elementwise function (shapes {shapes}, operations "
                         f"without a fused rule {missing}, {len(fn.consts)} constants)")


def uses_range_limited_math(fn: Function) -> bool:
    from .schedule import RANGE_LIMITED
    from .special import scalar_formula, special_rules

    for e in fn.eqns:
        if e.primitive in RANGE_LIMITED:
            return True
        if e.primitive in special_rules and uses_range_limited_math(scalar_formula(e.primitive)):
            return True
    return False


def _element_loop(b: L.IRBuilder, fn_ir: L.Function, n: L.Value, body) -> None:
    """for i in range(n): body(i)."""
    entry = b.block
    cond = fn_ir.append_basic_block("loop.cond")
    loop = fn_ir.append_basic_block("loop.body")
    done = fn_ir.append_basic_block("loop.exit")
    b.branch(cond)
    b.position_at_end(cond)
    i = b.phi(I64)
    i.add_incoming(L.Constant(I64, 0), entry)
    b.cbranch(b.icmp_signed("<", i, n), loop, done)
    b.position_at_end(loop)
    body(i)
    i.add_incoming(b.add(i, L.Constant(I64, 1), flags=("nsw",)), b.block)
    b.branch(cond)
    b.position_at_end(done)


def _emit_body(fn: Function, scope: _Scope, pointers: list, i: L.Value) -> None:
    from .lower import MEM, REG, fused_rules

    b = scope.b
    for var, pointer in zip(fn.inputs, pointers):
        t = MEM[var.type.dtype]
        scope.env[var] = b.load(b.gep(pointer, [i], source_etype=t), typ=REG[var.type.dtype])
    for e in fn.eqns:
        scope.env[e.outputs[0]] = fused_rules[e.primitive](scope, e, [])
    out = fn.outputs[0]
    b.store(scope.value(out, []), b.gep(pointers[-1], [i], source_etype=MEM[out.type.dtype]))


def _layout_ok() -> bool:
    """A 1-d array keeps its length at dimensions[0], the pointer at PYARRAY_DIMS_OFFSET
    (NumPy's PyArrayObject_fields; checked, else the kernels are called through ctypes)."""
    probe = np.arange(7.0)
    dims = ctypes.cast(id(probe) + PYARRAY_DIMS_OFFSET, ctypes.POINTER(ctypes.c_void_p))[0]
    return bool(dims) and ctypes.cast(dims, ctypes.POINTER(ctypes.c_int64))[0] == 7


PYARRAY_DIMS_OFFSET = PYARRAY_DATA_OFFSET + 16  # (after char *data and int nd, padded)


def module_ir(fn: Function, objects: bool) -> str:
    """LLVM IR of the kernel over n contiguous elements: with `objects`,
    `i32 flat_kernel(x_0, ..., out)` on array objects (n: x_0's length, a 1-d array) and its
    METH_FASTCALL entry (pycall.py); else `void flat_kernel(data_0, ..., out, i64 n)`."""
    from . import pycall

    check_scalar(fn)
    module = L.Module(name="flat")
    arity = len(fn.inputs)
    result = L.IntType(32) if objects else L.VoidType()
    args = [PTR] * (arity + 1) + ([] if objects else [I64])
    kernel = L.Function(module, L.FunctionType(result, args), ENTRY)
    kernel.attributes.add("nounwind")
    b = L.IRBuilder(kernel.append_basic_block("entry"))
    if objects:
        pointers = [b.load(b.gep(a, [L.Constant(I64, PYARRAY_DATA_OFFSET)], source_etype=I8),
                         typ=PTR) for a in kernel.args]
        dims = b.load(b.gep(kernel.args[0], [L.Constant(I64, PYARRAY_DIMS_OFFSET)],
                            source_etype=I8), typ=PTR)
        n = b.load(dims, typ=I64)
    else:
        pointers, n = list(kernel.args[:-1]), kernel.args[-1]
    _emit_loops(fn, module, b, kernel, pointers, n)
    if objects:
        b.ret(L.Constant(result, 0))
        pycall.emit_entry(module, kernel, [v.type.dtype.np.alignment for v in fn.inputs] + [1])
    else:
        b.ret_void()
    return str(module)


def _emit_loops(fn: Function, module: L.Module, b: L.IRBuilder, kernel: L.Function,
                pointers: list, n: L.Value) -> None:
    flag = None
    if uses_range_limited_math(fn):
        with b.goto_entry_block():
            flag = b.alloca(I1)
        b.store(L.Constant(I1, 0), flag)
    fast = _Scope(b, module, {}, True, flag)
    _element_loop(b, kernel, n, lambda i: _emit_body(fn, fast, pointers, i))
    if flag is not None:  # an argument beyond the fast reduction's range: the C library's
        with b.if_then(b.load(flag, typ=I1), likely=False):
            exact = _Scope(b, module, {}, False, None)
            _element_loop(b, kernel, n, lambda i: _emit_body(fn, exact, pointers, i))


class FlatKernel:
    """A compiled flat kernel: kernel(out, *inputs), C-contiguous arrays of one size (the
    caller's contract: eager/kernels.py makes them so, and `out` itself)."""

    def __init__(self, fn: Function):
        from . import pycall
        from .engine import CompiledModule

        self.objects = _LAYOUT_OK and pycall.register_symbols()
        self.module = CompiledModule(module_ir(fn, self.objects), "flat")
        if self.objects:
            self._entry = pycall.builtin(ENTRY, self.module.address(ENTRY + "_py"), self.module)
        else:
            arity = len(fn.inputs)
            signature = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * (arity + 1), ctypes.c_int64)
            self._entry = signature(self.module.address(ENTRY))

    def __call__(self, out: np.ndarray, *inputs: np.ndarray) -> None:
        if not self.objects:
            self._entry(*[x.ctypes.data for x in inputs], out.ctypes.data, out.size)
            return
        flat = [x.reshape(-1) for x in inputs]  # (n is the first one's length)
        try:
            self._entry(*flat, out)
        except KernelEntryError:  # (misaligned data: aligned copies)
            self._entry(*[np.array(x) for x in flat], out)


_LAYOUT_OK = _layout_ok()
