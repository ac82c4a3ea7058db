"""What native code assumes about CPython and numpy objects, checked once at import.

Kernels read an array's data pointer straight from its PyArrayObject, and the float entry
reads a Python float's double straight from the object; both offsets are checked here against
what numpy and CPython report. This module does not import llvmlite.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

import numpy as np

PYARRAY_DATA_OFFSET = 16  # PyArrayObject: PyObject_HEAD (16 bytes), then char *data
FLOAT_VALUE_OFFSET = 16  # where a Python float / numpy float64 object keeps its double


class KernelEntryError(ValueError):
    """A kernel's entry refused its arguments: an input array's data is not aligned for its
    dtype (callers then copy the arrays and call again), or the argument count is wrong."""


def strides(shape: Sequence[int]) -> list[int]:
    """Element strides of a C-ordered array of this shape (kernels' buffers all are)."""
    out, acc = [], 1
    for d in reversed(shape):
        out.append(acc)
        acc *= d
    return list(reversed(out))


def _check_data_offset() -> None:
    probe = np.arange(3.0)
    field = ctypes.cast(id(probe) + PYARRAY_DATA_OFFSET, ctypes.POINTER(ctypes.c_void_p))[0]
    if field != probe.ctypes.data:
        raise RuntimeError("dualjit codegen: numpy's array layout is not the expected one "
                           "(data pointer offset); set DUALJIT_BACKEND=interpreter")


def _float_layout_ok() -> bool:
    """Python floats and numpy float64 scalars keep their double at FLOAT_VALUE_OFFSET (true
    of CPython's standard builds; if not, the float entry is simply not used)."""
    for probe in (1.2345678901234567, np.float64(-7.654321098765432)):
        stored = ctypes.cast(id(probe) + FLOAT_VALUE_OFFSET, ctypes.POINTER(ctypes.c_double))
        if stored[0] != probe:
            return False
    return True


_check_data_offset()
FLOAT_OBJECTS_OK = _float_layout_ok()
