"""General matrix products: OpenBLAS's gemm, found in numpy's wheel at run time.

numpy 2.x loads its OpenBLAS privately (symbols like `scipy_cblas_dgemm64_`, 64-bit integers),
so the library is opened here with ctypes; lower.py registers the gemm's address with LLVM by
name and calls it from kernels, so cached object code stays valid in another process. When no
such library is found, large products run through numpy's matmul between kernels instead (and
small ones are native loops either way). This module does not import llvmlite.
"""

from __future__ import annotations

import ctypes
import glob
import os
from typing import NamedTuple

from ..ir import DType

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
# (name, integer width) to try, in order: numpy's ILP64 build first, then plain CBLAS.
_NAMES = {DType.float64: [("scipy_cblas_dgemm64_", 64), ("cblas_dgemm64_", 64),
                          ("scipy_cblas_dgemm", 32), ("cblas_dgemm", 32)],
          DType.float32: [("scipy_cblas_sgemm64_", 64), ("cblas_sgemm64_", 64),
                          ("scipy_cblas_sgemm", 32), ("cblas_sgemm", 32)],
          # complex gemms take alpha and beta by pointer (lower._gemm_call)
          DType.complex128: [("scipy_cblas_zgemm64_", 64), ("cblas_zgemm64_", 64),
                             ("scipy_cblas_zgemm", 32), ("cblas_zgemm", 32)],
          DType.complex64: [("scipy_cblas_cgemm64_", 64), ("cblas_cgemm64_", 64),
                            ("scipy_cblas_cgemm", 32), ("cblas_cgemm", 32)]}


class Gemm(NamedTuple):
    symbol: str
    int_bits: int  # the width of its size and leading-dimension arguments
    address: int


_found: dict[DType, Gemm] | None = None


def _libraries() -> list[str]:
    import numpy

    root = os.path.dirname(numpy.__file__)
    patterns = [os.path.join(root, "..", "numpy.libs", "*openblas*"),
                os.path.join(root, ".libs", "*openblas*"),
                os.path.join(root, "..", "numpy", ".dylibs", "*openblas*")]
    return sorted(p for pattern in patterns for p in glob.glob(pattern))


def gemms() -> dict[DType, Gemm]:
    """dtype -> the gemm found for it ({} if none, or DUALJIT_NATIVE_BLAS=0)."""
    global _found
    if _found is None:
        found: dict[DType, Gemm] = {}
        if os.environ.get("DUALJIT_NATIVE_BLAS", "1") != "0":
            for path in _libraries():
                try:
                    lib = ctypes.CDLL(path)
                except OSError:
                    continue
                for dtype, names in _NAMES.items():
                    for name, bits in names:
                        if dtype not in found and hasattr(lib, name):
                            address = ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
                            found[dtype] = Gemm(name, bits, address)
        _found = found
    return _found


def gemm_ok(eqn) -> bool:
    """A 2-D by 2-D contraction over one axis, with a gemm for its dtype."""
    lhs, rhs = eqn.inputs
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    return (lhs.type.ndim == 2 and rhs.type.ndim == 2 and not lb and len(lc) == 1
            and eqn.outputs[0].type.dtype in gemms())
