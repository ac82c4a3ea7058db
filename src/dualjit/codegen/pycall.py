"""Kernels callable as Python builtins, without ctypes on the call path.

For each kernel the code generator adds `<kernel>_py`, a CPython METH_FASTCALL function
`PyObject *(PyObject *self, PyObject *const *args, Py_ssize_t nargs)` that releases the GIL,
calls the kernel on the argument objects (numpy arrays, already checked by the runtime),
takes the GIL back and returns None. (Kernels of tiny functions, a few hundred element
operations without loops of their own, keep the GIL: releasing it would cost more.) The
runtime wraps its address with PyCFunction_NewEx, so a call costs what calling any builtin
costs (ctypes spends ~0.4 µs converting arguments).
The CPython symbols the wrappers use are registered with LLVM by name, so cached object code
stays valid in another process.
"""

from __future__ import annotations

import ctypes

from llvmlite import ir as L

from .abi import FLOAT_VALUE_OFFSET
from .engine import llvm

PTR = L.PointerType()
I64 = L.IntType(64)
METH_FASTCALL = 0x0080

_SYMBOLS = ("PyEval_SaveThread", "PyEval_RestoreThread", "Py_IncRef")
_registered = False


def register_symbols() -> bool:
    """Tell LLVM where the CPython functions (and None) are; False if that is impossible."""
    global _registered
    if not _registered:
        try:
            binding = llvm()
            for name in _SYMBOLS:
                binding.add_symbol(name, ctypes.cast(getattr(ctypes.pythonapi, name),
                                                     ctypes.c_void_p).value)
            binding.add_symbol("_Py_NoneStruct", id(None))
        except (AttributeError, OSError):
            return False
        _registered = True
    return True


def _declare(module: L.Module, name: str, fnty: L.FunctionType) -> L.Function:
    found = module.globals.get(name)
    return found if found is not None else L.Function(module, fnty, name)


def emit_entry(module: L.Module, kernel: L.Function, n_args: int,
               float_objects: bool = False, release_gil: bool = True) -> str:
    """Add the METH_FASTCALL wrapper of `kernel` (which takes n_args object pointers).

    float_objects=True: a second wrapper, `<kernel>_pyf`, whose first argument is a Python
    float or numpy float64 object (the caller checks the exact type): the kernel gets a
    stand-in array header whose data pointer is the address of the object's double."""
    name = kernel.name + ("_pyf" if float_objects else "_py")
    fn = L.Function(module, L.FunctionType(PTR, [PTR, PTR, I64]), name)
    b = L.IRBuilder(fn.append_basic_block("entry"))
    args = [b.load(b.gep(fn.args[1], [L.Constant(I64, i)], source_etype=PTR), typ=PTR)
            for i in range(n_args)]
    if float_objects:
        header = b.alloca(PTR, size=L.Constant(I64, 4))
        value = b.gep(args[0], [L.Constant(I64, FLOAT_VALUE_OFFSET)], source_etype=L.IntType(8))
        b.store(value, b.gep(header, [L.Constant(I64, 2)], source_etype=PTR))  # offset 16
        args[0] = header
    save = _declare(module, "PyEval_SaveThread", L.FunctionType(PTR, []))
    restore = _declare(module, "PyEval_RestoreThread", L.FunctionType(L.VoidType(), [PTR]))
    incref = _declare(module, "Py_IncRef", L.FunctionType(L.VoidType(), [PTR]))
    none = module.globals.get("_Py_NoneStruct")
    if none is None:
        none = L.GlobalVariable(module, L.IntType(8), "_Py_NoneStruct")
    if release_gil:
        state = b.call(save, [])
        b.call(kernel, args)
        b.call(restore, [state])
    else:  # a few dozen nanoseconds of work: handing the GIL over would cost more
        b.call(kernel, args)
    b.call(incref, [none])
    b.ret(none)
    return name


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
