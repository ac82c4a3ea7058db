"""LAPACK inside kernels: which routine of numpy's bundled OpenBLAS computes a linear-algebra
equation, and how much work it is (BLAS's thread count is set from it, as for gemm).

numpy's wheel ships OpenBLAS with its LAPACK (`scipy_dgetrf_64_`, `scipy_dpotrf_64_`,
`scipy_dtrsm_64_`: Fortran routines, every argument by pointer, 64-bit integers). Kernels call
them the way they call gemm: lower_linalg.py registers each address with LLVM by name and
loops over the stack of matrices in native code, so a stack of 64 small solves is one kernel,
not 64 calls from Python. Without such a library (or with DUALJIT_NATIVE_BLAS=0) these
equations run as host steps through their numpy implementations (ir/linalg_impl.py, which
then uses numpy.linalg or plain numpy loops). This module does not import llvmlite.
"""

from __future__ import annotations

import ctypes
import math
from typing import NamedTuple

from ..ir import DType, Eqn, linalg_impl
from ..ir import primitives as P

# The routine each primitive calls (lu_pivots_to_permutation needs none: plain loops).
ROUTINES = {P.cholesky_p: "potrf", P.triangular_solve_p: "trsm", P.lu_p: "getrf",
            P.column_lu_p: "getrf", P.triangular_product_p: "trmm"}


_FACTORIZATIONS = (*ROUTINES, P.qr_p, P.eigh_p, P.svd_p)


class Routine(NamedTuple):
    symbol: str
    address: int


_found: dict[tuple[str, DType], Routine | None] = {}


def routine(name: str, dtype: DType) -> Routine | None:
    """numpy's OpenBLAS routine `name` ('getrf') for float32/float64, or None when absent."""
    key = (name, dtype)
    if key not in _found:
        lib = linalg_impl.openblas()
        symbol = linalg_impl.lapack_symbol(name, dtype.np)
        found = None
        if lib is not None and dtype in (DType.float32, DType.float64) and hasattr(lib, symbol):
            found = Routine(symbol, ctypes.cast(getattr(lib, symbol), ctypes.c_void_p).value)
        _found[key] = found
    return _found[key]


def native(eqn: Eqn) -> bool:
    """The equation runs in a kernel: its routine exists for its dtype, and an LU is square
    (a rectangular one runs on the host: the kernel transposes the factors in place)."""
    if eqn.primitive is P.lu_pivots_to_permutation_p:
        return True
    t = eqn.inputs[0].type
    if eqn.primitive is P.lu_p and t.shape[-1] != t.shape[-2]:
        return False
    dtype = t.dtype
    return routine(ROUTINES[eqn.primitive], dtype) is not None


def host_reason(eqn: Eqn, planner) -> str | None:
    if native(eqn):
        return None
    if eqn.primitive is P.lu_p and routine("getrf", eqn.inputs[0].type.dtype) is not None:
        return "a rectangular LU: its numpy implementation (LAPACK through ctypes)"
    return ("no LAPACK found in numpy's OpenBLAS (or DUALJIT_NATIVE_BLAS=0): its numpy "
            "implementation")


def flops(eqn: Eqn) -> int:
    """Multiply-adds of a LAPACK equation (whole stack): sets BLAS's thread count."""
    if eqn.primitive not in _FACTORIZATIONS:
        return 0
    t = eqn.inputs[0].type
    m, n = t.shape[-2:]
    stack = math.prod(t.shape[:-2])
    if eqn.primitive is P.cholesky_p:
        return stack * n ** 3 // 6
    if eqn.primitive in (P.lu_p, P.column_lu_p):
        return stack * m * n * min(m, n) // 3
    if eqn.primitive in (P.triangular_solve_p, P.triangular_product_p):
        return eqn.inputs[1].type.size * n // 2
    return stack * m * n * min(m, n) * 2  # qr, eigh, svd: numpy.linalg's LAPACK, on the host
