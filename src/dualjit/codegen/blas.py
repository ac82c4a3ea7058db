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


class Matrix(NamedTuple):
    """How one operand of a product is read as a BLAS matrix (row-major)."""
    trans: bool  # stored transposed: op(X)[i, j] is at j * ld + i
    ld: int  # the leading dimension, in elements


class GemmLayout(NamedTuple):
    """A dot_general as gemm calls: out[b] (m x n) = op(lhs[b]) (m x k) . op(rhs[b]) (k x n)
    for every index b of the batch loops, each (size, lhs, rhs, out element strides)."""
    batch: tuple[tuple[int, int, int, int], ...]
    m: int
    n: int
    k: int
    lhs: Matrix
    rhs: Matrix


def _strides(shape) -> list[int]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return strides[::-1]


def _group(shape, strides, axes) -> tuple[int, int | None] | None:
    """(size, stride) of axes read as one index (in the order given), None when they are not
    evenly spaced in memory; the stride is None when every axis has size 1."""
    axes = [a for a in axes if shape[a] != 1]
    for outer, inner in zip(axes, axes[1:]):
        if strides[outer] != strides[inner] * shape[inner]:
            return None
    size = 1
    for a in axes:
        size *= shape[a]
    return size, (strides[axes[-1]] if axes else None)


def matrix_view(shape, rows, cols) -> tuple[int, int, Matrix] | None:
    """An operand's axes `rows` x `cols` as a BLAS matrix, or None when that needs a copy."""
    strides = _strides(shape)
    row, col = _group(shape, strides, rows), _group(shape, strides, cols)
    if row is None or col is None:
        return None
    (n_rows, row_stride), (n_cols, col_stride) = row, col
    if col_stride in (None, 1) and (row_stride is None or row_stride >= n_cols):
        return n_rows, n_cols, Matrix(False, max(1, row_stride or n_cols))
    if row_stride in (None, 1) and col_stride >= n_rows:
        return n_rows, n_cols, Matrix(True, max(1, col_stride))
    return None


def gemm_layout(lhs_shape, rhs_shape, dimension_numbers) -> GemmLayout | None:
    """A dot_general of row-major operands as a loop of gemm calls, or None when an operand
    would have to be copied first (its free or contracting axes interleaved in memory)."""
    (lc, rc), (lb, rb) = dimension_numbers
    lfree = [d for d in range(len(lhs_shape)) if d not in lc and d not in lb]
    rfree = [d for d in range(len(rhs_shape)) if d not in rc and d not in rb]
    a, b = matrix_view(lhs_shape, lfree, lc), matrix_view(rhs_shape, rc, rfree)
    if a is None or b is None:
        return None
    out_shape = [lhs_shape[d] for d in lb] + [lhs_shape[d] for d in lfree] + [
        rhs_shape[d] for d in rfree]
    ls, rs, os_ = _strides(lhs_shape), _strides(rhs_shape), _strides(out_shape)
    batch = tuple((lhs_shape[dl], ls[dl], rs[dr], os_[j])
                  for j, (dl, dr) in enumerate(zip(lb, rb)) if lhs_shape[dl] != 1)
    return GemmLayout(batch, a[0], b[1], a[1], a[2], b[2])


def gemm_ok(eqn) -> bool:
    """A contraction gemm calls can compute in place, with a gemm for its dtype."""
    lhs, rhs = eqn.inputs
    dtype = eqn.outputs[0].type.dtype
    if dtype not in gemms():
        return False
    layout = gemm_layout(lhs.type.shape, rhs.type.shape, eqn.params["dimension_numbers"])
    if layout is None:
        return False
    limit = (1 << (gemms()[dtype].int_bits - 1)) - 1
    return max(layout.m, layout.n, layout.k, layout.lhs.ld, layout.rhs.ld) <= limit
