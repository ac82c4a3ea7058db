"""Kernels callable as Python builtins, without ctypes on the call path.

For each kernel the code generator adds `<kernel>_py`, a CPython METH_FASTCALL function
`PyObject *(PyObject *self, PyObject *const *args, Py_ssize_t nargs)` that checks the argument
count and that every input array's data is aligned for its dtype (else it raises
abi.KernelEntryError, and the caller copies the arrays and calls again), releases the GIL,
calls the kernel on the argument objects (numpy arrays, their dtypes, shapes and strides
already checked by the runtime: callers.py), takes the GIL back and returns None (or raises
MemoryError when the kernel returned a failure status: a scratch allocation failed). (Kernels of
tiny functions, a few hundred element operations without loops of their own, keep the GIL:
releasing it would cost more.) The runtime wraps its address with PyCFunction_NewEx, so a
call costs what calling any builtin costs (ctypes spends ~0.4 µs converting arguments).
The CPython symbols the wrappers use are registered with LLVM by name, so cached object code
stays valid in another process.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

from llvmlite import ir as L

from .abi import FLOAT_VALUE_OFFSET, PYARRAY_DATA_OFFSET, KernelEntryError
from .engine import llvm

PTR = L.PointerType()
I8, I64 = L.IntType(8), L.IntType(64)
METH_FASTCALL = 0x0080

_SYMBOLS = ("PyEval_SaveThread", "PyEval_RestoreThread", "Py_IncRef", "PyErr_SetString")
_OBJECTS = {"_Py_NoneStruct": None, "dualjit_KernelEntryError": KernelEntryError,
            "dualjit_MemoryError": MemoryError}
_registered = False
OUT_OF_MEMORY_MESSAGE = ("kernel {kernel} could not allocate its scratch memory (malloc "
                         "returned NULL); free memory or use smaller batches")


def register_symbols() -> bool:
    """Tell LLVM where the CPython functions (and the objects the wrappers use) are; False if
    that is impossible."""
    global _registered
    if not _registered:
        try:
            binding = llvm()
            for name in _SYMBOLS:
                binding.add_symbol(name, ctypes.cast(getattr(ctypes.pythonapi, name),
                                                     ctypes.c_void_p).value)
            for name, obj in _OBJECTS.items():
                binding.add_symbol(name, id(obj))
        except (AttributeError, OSError):
            return False
        _registered = True
    return True


def _declare(module: L.Module, name: str, fnty: L.FunctionType) -> L.Function:
    found = module.globals.get(name)
    return found if found is not None else L.Function(module, fnty, name)


def _external(module: L.Module, name: str) -> L.GlobalVariable:
    found = module.globals.get(name)
    return found if found is not None else L.GlobalVariable(module, I8, name)


def _message(module: L.Module, text: str) -> L.GlobalVariable:
    data = bytearray(text.encode() + b"\0")
    g = L.GlobalVariable(module, L.ArrayType(I8, len(data)), module.get_unique_name("message"))
    g.initializer = L.Constant(L.ArrayType(I8, len(data)), data)
    g.global_constant, g.linkage = True, "internal"
    return g


def _raise(module: L.Module, b: L.IRBuilder, text: str,
           error: str = "dualjit_KernelEntryError") -> None:
    set_string = _declare(module, "PyErr_SetString", L.FunctionType(L.VoidType(), [PTR, PTR]))
    b.call(set_string, [_external(module, error), _message(module, text)])
    b.ret(L.Constant(PTR, None))


def emit_entry(module: L.Module, kernel: L.Function, alignments: Sequence[int],
               float_objects: bool = False, release_gil: bool = True) -> str:
    """Add the METH_FASTCALL wrapper of `kernel`, which takes len(alignments) object pointers:
    arrays, the first ones inputs whose data must be aligned to alignments[i] bytes (1: not
    checked; outputs and temporaries, made by the runtime, are).

    float_objects=True: a second wrapper, `<kernel>_pyf`, whose first argument is a Python
    float or numpy float64 object (the caller checks the exact type): the kernel gets a
    stand-in array header whose data pointer is the address of the object's double."""
    name = kernel.name + ("_pyf" if float_objects else "_py")
    fn = L.Function(module, L.FunctionType(PTR, [PTR, PTR, I64]), name)
    b = L.IRBuilder(fn.append_basic_block("entry"))
    n_args = len(alignments)
    with b.if_then(b.icmp_signed("!=", fn.args[2], L.Constant(I64, n_args)), likely=False):
        _raise(module, b, f"{kernel.name} takes {n_args} arguments")
    args = [b.load(b.gep(fn.args[1], [L.Constant(I64, i)], source_etype=PTR), typ=PTR)
            for i in range(n_args)]
    if float_objects:
        header = b.alloca(PTR, size=L.Constant(I64, 4))
        value = b.gep(args[0], [L.Constant(I64, FLOAT_VALUE_OFFSET)], source_etype=I8)
        b.store(value, b.gep(header, [L.Constant(I64, 2)], source_etype=PTR))  # offset 16
        args[0], alignments = header, [1, *alignments[1:]]
    _check_alignment(module, b, args, alignments)
    _call_kernel(module, b, kernel, args, release_gil)
    return name


def _check_alignment(module: L.Module, b: L.IRBuilder, args: list, alignments) -> None:
    """Raise KernelEntryError unless each array's data pointer is a multiple of its
    alignment (one OR of the low bits, one branch)."""
    low_bits = None
    for arg, alignment in zip(args, alignments):
        if alignment > 1:
            field = b.gep(arg, [L.Constant(I64, PYARRAY_DATA_OFFSET)], source_etype=I8)
            data = b.ptrtoint(b.load(field, typ=PTR), I64)
            bits = b.and_(data, L.Constant(I64, alignment - 1))
            low_bits = bits if low_bits is None else b.or_(low_bits, bits)
    if low_bits is not None:
        with b.if_then(b.icmp_unsigned("!=", low_bits, L.Constant(I64, 0)), likely=False):
            _raise(module, b, "an argument's data is not aligned for its dtype")


def _call_kernel(module: L.Module, b: L.IRBuilder, kernel: L.Function, args: list,
                 release_gil: bool) -> None:
    save = _declare(module, "PyEval_SaveThread", L.FunctionType(PTR, []))
    restore = _declare(module, "PyEval_RestoreThread", L.FunctionType(L.VoidType(), [PTR]))
    incref = _declare(module, "Py_IncRef", L.FunctionType(L.VoidType(), [PTR]))
    none = _external(module, "_Py_NoneStruct")
    if release_gil:
        state = b.call(save, [])
        status = b.call(kernel, args)
        b.call(restore, [state])
    else:  # a few dozen nanoseconds of work: handing the GIL over would cost more
        status = b.call(kernel, args)
    with b.if_then(b.icmp_signed("!=", status, L.Constant(status.type, 0)), likely=False):
        _raise(module, b, OUT_OF_MEMORY_MESSAGE.format(kernel=kernel.name),
               "dualjit_MemoryError")  # the one failure status today (lower.KERNEL_OUT_OF_MEMORY)
    b.call(incref, [none])
    b.ret(none)


class _MethodDef(ctypes.Structure):
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p),
                ("ml_flags", ctypes.c_int), ("ml_doc", ctypes.c_char_p)]


def builtin(name: str, address: int, code_owner: object):
    """A builtin function object around a METH_FASTCALL address. Its `self` (which the
    wrapper ignores) holds its method table and `code_owner`, the object that keeps the
    machine code alive: whoever holds the function can call it, however long."""
    definition = _MethodDef(name.encode(), address, METH_FASTCALL, None)
    new = ctypes.pythonapi.PyCFunction_NewEx
    new.restype = ctypes.py_object
    new.argtypes = [ctypes.POINTER(_MethodDef), ctypes.py_object, ctypes.py_object]
    return new(ctypes.byref(definition), (definition, code_owner), None)
