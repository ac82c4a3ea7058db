"""General matrix products in kernels: OpenBLAS's gemm, found in numpy's wheel at run time.

numpy 2.x loads its OpenBLAS privately (symbols like `scipy_cblas_dgemm64_`, 64-bit integers),
so the library is opened here with ctypes and its gemm registered with LLVM by name; cached
object code therefore stays valid in another process. When no such library is found, large
products run through numpy's matmul between kernels instead (and small ones are native loops
either way).
"""

from __future__ import annotations

import ctypes
import glob
import os

from llvmlite import ir as L

from ..ir import DType
from .engine import llvm

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
# (name, integer width) to try, in order: numpy's ILP64 build first, then plain CBLAS.
_NAMES = {DType.float64: [("scipy_cblas_dgemm64_", 64), ("cblas_dgemm64_", 64),
                          ("scipy_cblas_dgemm", 32), ("cblas_dgemm", 32)],
          DType.float32: [("scipy_cblas_sgemm64_", 64), ("cblas_sgemm64_", 64),
                          ("scipy_cblas_sgemm", 32), ("cblas_sgemm", 32)]}
_found: dict[DType, tuple[str, int]] | None = None


def _libraries() -> list[str]:
    import numpy

    root = os.path.dirname(numpy.__file__)
    patterns = [os.path.join(root, "..", "numpy.libs", "*openblas*"),
                os.path.join(root, ".libs", "*openblas*"),
                os.path.join(root, "..", "numpy", ".dylibs", "*openblas*")]
    return sorted(p for pattern in patterns for p in glob.glob(pattern))


def gemms() -> dict[DType, tuple[str, int]]:
    """dtype -> (symbol, integer width) of the gemm registered with LLVM ({} if none)."""
    global _found
    if _found is None:
        found: dict[DType, tuple[str, int]] = {}
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
                            llvm().add_symbol(name, address)
                            found[dtype] = (name, bits)
        _found = found
    return _found


def gemm_ok(eqn) -> bool:
    """A 2-D by 2-D contraction over one axis, with a gemm for its dtype."""
    lhs, rhs = eqn.inputs
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    return (lhs.type.ndim == 2 and rhs.type.ndim == 2 and not lb and len(lc) == 1
            and eqn.outputs[0].type.dtype in gemms())


def emit_gemm(k, eqn, lhs_ptr, rhs_ptr, out_ptr) -> None:
    """out[M,N] = lhs . rhs with the transposes the dimension numbers imply (row-major)."""
    lhs, rhs = eqn.inputs
    (lc, rc), _ = eqn.params["dimension_numbers"]
    dtype = eqn.outputs[0].type.dtype
    name, bits = gemms()[dtype]
    it = L.IntType(bits)
    ft = L.DoubleType() if dtype is DType.float64 else L.FloatType()
    i32 = L.IntType(32)
    fn = k.module.globals.get(name)
    if fn is None:
        fn = L.Function(k.module, L.FunctionType(L.VoidType(), [
            i32, i32, i32, it, it, it, ft, L.PointerType(), it, L.PointerType(), it, ft,
            L.PointerType(), it]), name)
    (l0, l1), (r0, r1) = lhs.type.shape, rhs.type.shape
    trans_a = lc[0] == 0  # lhs stored K x M
    trans_b = rc[0] == 1  # rhs stored N x K
    m, kk = (l1, l0) if trans_a else (l0, l1)
    n = r0 if trans_b else r1
    k.b.call(fn, [L.Constant(i32, ROW_MAJOR), L.Constant(i32, TRANS if trans_a else NO_TRANS),
                  L.Constant(i32, TRANS if trans_b else NO_TRANS), L.Constant(it, m),
                  L.Constant(it, n), L.Constant(it, kk), L.Constant(ft, 1.0), lhs_ptr,
                  L.Constant(it, max(1, l1)), rhs_ptr, L.Constant(it, max(1, r1)),
                  L.Constant(ft, 0.0), out_ptr, L.Constant(it, max(1, n))])
