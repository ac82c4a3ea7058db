"""Native dispatch: the repeat call of a jitted function of one float as one native entry.

`float_dispatcher(...)` returns a builtin that jit installs as the `__call__` of the Jitted
object (through a class of its own). On every call it checks, in native code: no keyword
arguments, exactly one argument, whose exact type is `float` or `numpy.float64`, and no
transform being traced in any thread (tracer.core.active_traces); then it allocates the
result array (numpy's PyArray_NewFromDescr, the specialization's shape and dtype), calls the
kernel's `<kernel>_pyf` entry (pycall.py: it reads the object's double in place) and returns
the array. Anything else — a miss — is handed, unchanged, to the Python `__call__` (which
checks and converts every argument as before: callers.py's contract).

The machine code is the same for every function: what differs (type objects, the entry, the
result's shape) is read from a small int64 array held by the builtin, so no process address
is ever compiled into code (the disk cache may keep it).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import numpy as np
from llvmlite import ir as L

from .abi import PYARRAY_DATA_OFFSET
from .engine import CompiledModule, llvm

PTR = L.PointerType()
I8, I32, I64 = L.IntType(8), L.IntType(32), L.IntType(64)
METH_FASTCALL_KEYWORDS = 0x0080 | 0x0002
TUPLE_ITEMS_OFFSET = 24  # PyTupleObject: PyObject_VAR_HEAD, then the items
TYPE_OFFSET = 8  # PyObject: refcount, then the type
NAME = "dualjit_float_dispatch"
# the context array's fields (int64 each), then the result's dims
FLOAT_TYPE, FLOAT64_TYPE, TRACES, ARRAY_TYPE, DESCR, NEW_ARRAY, ENTRY, FALLBACK, NDIM = range(9)
_SYMBOLS = ("Py_IncRef", "Py_DecRef", "PyObject_Vectorcall")
_module: CompiledModule | None = None
_address = 0


def _array_api() -> int:
    """numpy's C API table (the functions an extension module reaches through _ARRAY_API)."""
    from numpy._core import _multiarray_umath

    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return get(_multiarray_umath._ARRAY_API, None)


def _new_from_descr() -> int:
    return ctypes.cast(_array_api(), ctypes.POINTER(ctypes.c_void_p))[94]


def _check_new_from_descr(address: int) -> bool:
    """Slot 94 of numpy's API table is PyArray_NewFromDescr (checked, not assumed)."""
    proto = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                              ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                              ctypes.c_void_p)
    descr = np.dtype(np.float32)
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(descr))  # the call steals one reference
    dims = (ctypes.c_ssize_t * 2)(3, 5)
    made = proto(address)(id(np.ndarray), id(descr), 2, ctypes.addressof(dims), None, None, 0,
                          None)
    return (type(made) is np.ndarray and made.shape == (3, 5) and made.dtype == descr
            and made.flags.c_contiguous and made.flags.aligned and made.flags.writeable)


def _field(b: L.IRBuilder, data: L.Value, i: int) -> L.Value:
    return b.load(b.gep(data, [L.Constant(I64, i)], source_etype=I64), typ=I64)


def _emit() -> str:
    module = L.Module(name="dualjit_dispatch")
    ret_obj = L.FunctionType(PTR, [PTR, PTR, I64, PTR])
    fn = L.Function(module, ret_obj, NAME)
    self_, args, nargs, kwnames = fn.args
    b = L.IRBuilder(fn.append_basic_block("entry"))
    miss = fn.append_basic_block("miss")
    ctx = b.load(b.gep(self_, [L.Constant(I64, TUPLE_ITEMS_OFFSET + 8)], source_etype=I8),
                 typ=PTR)
    data = b.load(b.gep(ctx, [L.Constant(I64, PYARRAY_DATA_OFFSET)], source_etype=I8), typ=PTR)

    def check(ok, name):
        block = fn.append_basic_block(name)
        b.cbranch(ok, block, miss)
        b.position_at_end(block)

    check(b.and_(b.icmp_unsigned("==", b.ptrtoint(kwnames, I64), L.Constant(I64, 0)),
                 b.icmp_signed("==", nargs, L.Constant(I64, 1))), "one_argument")
    arg = b.load(args, typ=PTR)
    kind = b.ptrtoint(b.load(b.gep(arg, [L.Constant(I64, TYPE_OFFSET)], source_etype=I8),
                             typ=PTR), I64)
    check(b.or_(b.icmp_unsigned("==", kind, _field(b, data, FLOAT_TYPE)),
                b.icmp_unsigned("==", kind, _field(b, data, FLOAT64_TYPE))), "a_float")
    traces = b.load(b.inttoptr(_field(b, data, TRACES), PTR), typ=I64)
    check(b.icmp_signed("==", traces, L.Constant(I64, 0)), "not_tracing")
    _emit_hit(module, b, data, arg)
    b.position_at_end(miss)
    fallback = b.inttoptr(_field(b, data, FALLBACK), PTR)
    b.ret(b.call(L.Function(module, ret_obj, "PyObject_Vectorcall"),
                 [fallback, args, nargs, kwnames]))
    return str(module)


def _emit_hit(module: L.Module, b: L.IRBuilder, data: L.Value, arg: L.Value) -> None:
    """Allocate the result, run the kernel's `_pyf` entry on (arg, result), return it."""
    incref = L.Function(module, L.FunctionType(L.VoidType(), [PTR]), "Py_IncRef")
    decref = L.Function(module, L.FunctionType(L.VoidType(), [PTR]), "Py_DecRef")
    new_array = L.FunctionType(PTR, [PTR, PTR, I32, PTR, PTR, PTR, I32, PTR])
    entry_type = L.FunctionType(PTR, [PTR, PTR, I64])
    null = L.Constant(PTR, None)
    descr = b.inttoptr(_field(b, data, DESCR), PTR)
    b.call(incref, [descr])  # PyArray_NewFromDescr steals a reference
    dims = b.gep(data, [L.Constant(I64, NDIM + 1)], source_etype=I64)
    out = b.call(b.inttoptr(_field(b, data, NEW_ARRAY), new_array.as_pointer()), [
        b.inttoptr(_field(b, data, ARRAY_TYPE), PTR), descr, b.trunc(_field(b, data, NDIM), I32),
        dims, null, null, L.Constant(I32, 0), null])
    with b.if_then(b.icmp_unsigned("==", b.ptrtoint(out, I64), L.Constant(I64, 0)),
                   likely=False):
        b.ret(null)
    pair = b.alloca(PTR, size=L.Constant(I64, 2))
    b.store(arg, pair)
    b.store(out, b.gep(pair, [L.Constant(I64, 1)], source_etype=PTR))
    done = b.call(b.inttoptr(_field(b, data, ENTRY), entry_type.as_pointer()),
                  [null, pair, L.Constant(I64, 2)])
    with b.if_then(b.icmp_unsigned("==", b.ptrtoint(done, I64), L.Constant(I64, 0)),
                   likely=False):
        b.call(decref, [out])
        b.ret(null)
    b.call(decref, [done])
    b.ret(out)


def _dispatch_address() -> int:
    """The generic dispatcher's address (compiled once per process), or 0 if unavailable."""
    global _module, _address
    if _module is None:
        new_array = _new_from_descr()
        if not _check_new_from_descr(new_array):
            _address = 0
            _module = False
            return 0
        binding = llvm()
        for name in _SYMBOLS:
            binding.add_symbol(name, ctypes.cast(getattr(ctypes.pythonapi, name),
                                                 ctypes.c_void_p).value)
        _module = CompiledModule(_emit(), name="dualjit_dispatch", codegen_opt=2)
        _address = _module.address(NAME)
    return _address


def float_dispatcher(entry: int, entry_owner: object, shape: tuple, dtype: np.dtype,
                     fallback: Callable) -> Callable | None:
    """A builtin computing f(x) natively for one float / numpy.float64 x through the kernel
    entry at address `entry` (a `_pyf` wrapper, kept alive by entry_owner), calling
    fallback(*args, **kwargs) for anything else; None when native dispatch is unavailable."""
    from ..tracer.core import active_traces
    from . import pycall

    address = _dispatch_address()
    if not address:
        return None
    descr = np.dtype(dtype)
    ctx = np.array([id(float), id(np.float64), active_traces.ctypes.data, id(np.ndarray),
                    id(descr), _new_from_descr(), entry, id(fallback), len(shape), *shape],
                   dtype=np.int64)
    definition = pycall._MethodDef(NAME.encode(), address, METH_FASTCALL_KEYWORDS, None)
    new = ctypes.pythonapi.PyCFunction_NewEx
    new.restype = ctypes.py_object
    new.argtypes = [ctypes.POINTER(pycall._MethodDef), ctypes.py_object, ctypes.py_object]
    # self = (method table, context, and what the context's addresses point into)
    owner = (definition, ctx, entry_owner, descr, fallback, active_traces, _module)
    return new(ctypes.byref(definition), owner, None)
