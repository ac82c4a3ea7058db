"""Lowering of the linear-algebra primitives: a native loop over the stack of matrices, one
LAPACK call per matrix (codegen/lapack.py picks the routine), and the loops that adapt
row-major buffers to Fortran's column-major routines and write failures as NaN.

Fortran sees a row-major matrix transposed, which most routines absorb: the lower Cholesky
factor of `a` is the upper factor (potrf 'U') of the same memory, and op(a) x = b is the
right-side solve x^T op(a)^T = b^T on b's own memory (trsm with the other triangle), and
column_lu (LU with column pivoting) is by definition getrf of the same memory. Only the
row-pivoted LU (scipy's lu_factor) transposes: into the output buffer, factored there,
transposed back in place (hence square matrices only; rectangular ones run on the host).
"""

from __future__ import annotations

import math

from llvmlite import ir as L

from ..ir import DType, Eqn
from ..ir import primitives as P
from . import lapack
from .engine import llvm
from .lower import I8, I32, I64, MEM, PTR, REG, KernelBuilder, const, convert, i64, operand_buffer
from .schedule import Group

# (pointer arguments, hidden lengths of its character arguments) of each Fortran routine
_ARITY = {"potrf": (5, 1), "getrf": (6, 0), "trsm": (11, 4), "trmm": (11, 4), "trsv": (8, 3),
          "trmv": (8, 3)}
_registered: set[str] = set()


def _declare(k: KernelBuilder, name: str, dtype: DType) -> L.Function:
    """The routine, its address registered with LLVM by its symbol name (as gemm's is)."""
    found = lapack.routine(name, dtype)
    if found.symbol not in _registered:
        llvm().add_symbol(found.symbol, found.address)
        _registered.add(found.symbol)
    fn = k.module.globals.get(found.symbol)
    if fn is None:
        pointers, lengths = _ARITY[name]
        fn = L.Function(k.module, L.FunctionType(L.VoidType(), [PTR] * pointers + [I64] * lengths),
                        found.symbol)
    return fn


def _by_reference(k: KernelBuilder, value: L.Constant) -> L.Value:
    """A constant argument in a stack slot, written once in the entry block."""
    slot = k.alloca(value.type)
    with k.b.goto_entry_block():
        k.b.store(value, slot)
    return slot


def _char(k: KernelBuilder, letter: str) -> L.Value:
    return _by_reference(k, const(I8, ord(letter)))


def _size(k: KernelBuilder, n: int) -> L.Value:
    return _by_reference(k, i64(n))


def _at(k: KernelBuilder, base: L.Value, dtype: DType, offset: L.Value) -> L.Value:
    return k.b.gep(base, [offset], inbounds=True, source_etype=MEM[dtype])


def _offset(k: KernelBuilder, start: L.Value, row: L.Value, row_length: int, col: L.Value):
    b = k.b
    return b.add(start, b.add(b.mul(row, i64(row_length)), col))


def _copy(k: KernelBuilder, src: L.Value, dst: L.Value, dtype: DType, size: int) -> None:
    k.counted_loop(size, lambda j: k.b.store(k.b.load(_at(k, src, dtype, j), typ=MEM[dtype]),
                                             _at(k, dst, dtype, j)))


def _matrix_loop(k: KernelBuilder, rows: int, cols: int, body) -> None:
    k.counted_loop(rows, lambda r: k.counted_loop(cols, lambda c: body(r, c)))


def _loop(k: KernelBuilder, start: L.Value, end: L.Value, body) -> None:
    """for i in range(start, end): body(i), with bounds known only at run time."""
    b = k.b
    counter = k.alloca(I64)
    b.store(start, counter)
    test, step, done = (k.fn.append_basic_block(f"range.{name}")
                        for name in ("test", "body", "exit"))
    b.branch(test)
    b.position_at_end(test)
    i = b.load(counter, typ=I64)
    b.cbranch(b.icmp_signed("<", i, end), step, done)
    b.position_at_end(step)
    body(i)
    b.store(b.add(i, i64(1), flags=("nsw",)), counter)
    b.branch(test)
    b.position_at_end(done)


TILE = 32  # a transpose visits 32x32 tiles: a tile and its mirror stay in the L1 cache


def _tiled(k: KernelBuilder, n: int, body, upper_only: bool = False) -> None:
    """body(r, c) for every (r, c) of an n x n matrix (only c > r if upper_only), tile by
    tile: strided accesses of a transpose stay within cached tiles."""
    b, tiles = k.b, -(-n // TILE)

    def bounds(t):
        first = b.mul(t, i64(TILE))
        last = b.add(first, i64(TILE))
        return first, b.select(b.icmp_signed("<", last, i64(n)), last, i64(n))

    def tile(tr, tc):
        (r0, r1), (c0, c1) = bounds(tr), bounds(tc)

        def row(r):
            start = c0
            if upper_only:
                after = b.add(r, i64(1))
                start = b.select(b.icmp_signed(">", after, c0), after, c0)
            _loop(k, start, c1, lambda c: body(r, c))
        _loop(k, r0, r1, row)

    def tile_row(tr):
        first = tr if upper_only else i64(0)
        _loop(k, first, i64(tiles), lambda tc: tile(tr, tc))
    k.counted_loop(tiles, tile_row)


def _swap(k: KernelBuilder, t: L.Type, p: L.Value, q: L.Value) -> None:
    x, y = k.b.load(p, typ=t), k.b.load(q, typ=t)
    k.b.store(y, p)
    k.b.store(x, q)


# ---------------------------------------------------------------------------------------------
# cholesky: potrf 'U' on a copy; the other triangle zeroed, NaN where it fails
# ---------------------------------------------------------------------------------------------

def _cholesky(k: KernelBuilder, e: Eqn, _: Group) -> None:
    out = e.outputs[0]
    t = out.type
    if t.size == 0:
        return
    n, dtype, b = t.shape[-1], t.dtype, k.b
    factor = k.buffers[out]
    _copy(k, operand_buffer(k, e.inputs[0]), factor, dtype, t.size)
    potrf = _declare(k, "potrf", dtype)
    info = k.alloca(I64)
    upper, size = _char(k, "U"), _size(k, n)
    nan, zero = const(REG[dtype], math.nan), const(REG[dtype], 0.0)

    def each(i):
        start = b.mul(i, i64(n * n))
        b.call(potrf, [upper, size, _at(k, factor, dtype, start), size, info, i64(1)])
        # not positive definite, or NaN in the input (then the last pivot is NaN: OpenBLAS
        # reports no failure for it, but every later column of the factor reads the NaN)
        last = b.load(_at(k, factor, dtype, b.add(start, i64(n * n - 1))), typ=REG[dtype])
        failed = b.or_(b.icmp_signed("!=", b.load(info, typ=I64), i64(0)),
                       b.fcmp_unordered("uno", last, last))

        def clean(r, c):  # numpy's and JAX's form: zeros above, NaNs for a failed matrix
            p = _at(k, factor, dtype, _offset(k, start, r, n, c))
            kept = b.select(b.icmp_signed(">", c, r), zero, b.load(p, typ=REG[dtype]))
            b.store(b.select(failed, nan, kept), p)
        _matrix_loop(k, n, n, clean)

    k.counted_loop(math.prod(t.shape[:-2]), each)


# ---------------------------------------------------------------------------------------------
# triangular_solve and triangular_product: trsm/trmm on a copy of b, the side swapped
# (Fortran sees b transposed)
# ---------------------------------------------------------------------------------------------

def _triangular(routine: str):
    """triangular_solve (trsm) or triangular_product (trmm): the same flags, in place."""
    return lambda k, e, group: _triangular_call(k, e, routine)


def _triangular_call(k: KernelBuilder, e: Eqn, routine: str) -> None:
    a, rhs = e.inputs
    out = e.outputs[0]
    t = out.type
    if t.size == 0:
        return
    dtype, b = t.dtype, k.b
    rows, cols = t.shape[-2:]
    n = a.type.shape[-1]
    x, matrices = k.buffers[out], operand_buffer(k, a)
    _copy(k, operand_buffer(k, rhs), x, dtype, t.size)
    call, arguments = _triangular_arguments(k, e, routine)

    def each(i):
        a_i = _at(k, matrices, dtype, b.mul(i, i64(n * n)))
        b.call(call, arguments(a_i, _at(k, x, dtype, b.mul(i, i64(rows * cols)))))

    k.counted_loop(math.prod(t.shape[:-2]), each)


_VECTOR = {"trsm": "trsv", "trmm": "trmv"}  # BLAS 2: one right-hand side, no blocking costs


def _triangular_arguments(k: KernelBuilder, e: Eqn, routine: str):
    """(routine, arguments(a_i, x_i)): trsm/trmm with the side swapped, or trsv/trmv when b is
    one vector (a column solved on the left, a row on the right: contiguous either way)."""
    p, dtype = e.params, e.outputs[0].type.dtype
    rows, cols = e.outputs[0].type.shape[-2:]
    n = e.inputs[0].type.shape[-1]
    uplo, diag = _char(k, "U" if p["lower"] else "L"), _char(k, "U" if p["unit_diagonal"] else "N")
    lda = _size(k, max(1, n))
    vector = (cols if p["left_side"] else rows) == 1
    if vector and lapack.routine(_VECTOR[routine], dtype) is not None:
        # Fortran's right-side x^T op(A) is op(A)^T x: the vector form transposes once more
        trans = _char(k, "T" if p["transpose_a"] != p["left_side"] else "N")
        head, one = [uplo, trans, diag, _size(k, n)], _size(k, 1)
        return (_declare(k, _VECTOR[routine], dtype),
                lambda a_i, x_i: head + [a_i, lda, x_i, one] + [i64(1)] * 3)
    flags = [_char(k, "R" if p["left_side"] else "L"), uplo,
             _char(k, "T" if p["transpose_a"] else "N"), diag]
    sizes = [_size(k, cols), _size(k, rows), _by_reference(k, const(REG[dtype], 1.0))]
    ldb = _size(k, max(1, cols))
    return (_declare(k, routine, dtype),
            lambda a_i, x_i: flags + sizes + [a_i, lda, x_i, ldb] + [i64(1)] * 4)


# ---------------------------------------------------------------------------------------------
# lu: transpose into the output, getrf, transpose back; pivots and the permutation they make
# ---------------------------------------------------------------------------------------------

def _lu(k: KernelBuilder, e: Eqn, _: Group) -> None:
    factors = e.outputs[0]
    t = factors.type
    n, dtype, b = t.shape[-1], t.dtype, k.b
    if n == 0:
        return
    lu, src, ft = k.buffers[factors], operand_buffer(k, e.inputs[0]), REG[dtype]
    factor = _getrf(k, e, n, n)

    def each(i):
        start = b.mul(i, i64(n * n))
        _tiled(k, n, lambda r, c: b.store(
            b.load(_at(k, src, dtype, _offset(k, start, r, n, c)), typ=ft),
            _at(k, lu, dtype, _offset(k, start, c, n, r))))
        factor(i)
        _tiled(k, n, lambda r, c: _swap(k, ft, _at(k, lu, dtype, _offset(k, start, r, n, c)),
                                        _at(k, lu, dtype, _offset(k, start, c, n, r))),
               upper_only=True)

    k.counted_loop(math.prod(t.shape[:-2]), each)


def _column_lu(k: KernelBuilder, e: Eqn, _: Group) -> None:
    """The row-major buffer read as column-major is a's transpose: getrf factors it in place,
    which is column_lu's definition (no transposition at all)."""
    t = e.outputs[0].type
    rows, cols = t.shape[-2:]
    _copy(k, operand_buffer(k, e.inputs[0]), k.buffers[e.outputs[0]], t.dtype, t.size)
    k.counted_loop(math.prod(t.shape[:-2]), _getrf(k, e, cols, rows))


def _getrf(k: KernelBuilder, e: Eqn, m: int, n: int):
    """each(i): getrf of matrix i of the first output (m x n column-major, in place), then its
    0-based pivots and the permutation they make written to the other two outputs."""
    factors, pivots, permutation = e.outputs
    dtype, b, steps = factors.type.dtype, k.b, min(m, n)
    getrf = _declare(k, "getrf", dtype)
    ipiv, info = k.alloca(I64, max(1, steps)), k.alloca(I64)
    sizes = [_size(k, m), _size(k, n)]
    lda = _size(k, max(1, m))  # an empty matrix: getrf returns at once, the permutation is 0..m-1

    def pivot_at(row, j):
        return _at(k, k.buffers[pivots], DType.int32, b.add(row, j))

    def each(i):
        b.call(getrf, sizes + [_at(k, k.buffers[factors], dtype, b.mul(i, i64(m * n))),
                               lda, ipiv, info])
        row = b.mul(i, i64(steps))
        k.counted_loop(steps, lambda j: b.store(
            b.trunc(_row_of(k, b.load(b.gep(ipiv, [j], source_etype=I64), typ=I64), m, 1), I32),
            pivot_at(row, j)))
        _permute(k, k.buffers[permutation], b.mul(i, i64(m)), m, steps,
                 lambda j: pivot_at(row, j), DType.int32)
    return each


def _row_of(k: KernelBuilder, pivot: L.Value, size: int, base: int) -> L.Value:
    """A pivot (`base`-based, i64) as a 0-based row clamped into [0, size): memory safety
    whatever LAPACK returns for NaN input, and numpy's implementation clamps the same way."""
    b = k.b
    row = b.sub(pivot, i64(base))
    row = b.select(b.icmp_signed("<", row, i64(0)), i64(0), row)
    return b.select(b.icmp_signed(">", row, i64(size - 1)), i64(size - 1), row)


def _permute(k: KernelBuilder, perm: L.Value, start: L.Value, size: int, steps: int,
             pivot_at, pivot_dtype: DType) -> None:
    """perm[start:start+size] = the permutation of 0..size-1 made by swapping row j with row
    pivot j, for j < steps (LAPACK's sequence of row interchanges)."""
    b = k.b
    k.counted_loop(size, lambda r: b.store(b.trunc(r, I32), _at(k, perm, DType.int32,
                                                                b.add(start, r))))

    def swap(j):
        pivot = convert(k, b.load(pivot_at(j), typ=MEM[pivot_dtype]), pivot_dtype, DType.int64)
        p = _row_of(k, pivot, size, 0)
        _swap(k, I32, _at(k, perm, DType.int32, b.add(start, j)),
              _at(k, perm, DType.int32, b.add(start, p)))
    k.counted_loop(steps, swap)


def _pivots_to_permutation(k: KernelBuilder, e: Eqn, _: Group) -> None:
    pivots, out = e.inputs[0], e.outputs[0]
    size, count = out.type.shape[-1], pivots.type.shape[-1]
    if size == 0:
        return
    b, dtype = k.b, pivots.type.dtype
    src = operand_buffer(k, pivots)

    def each(i):
        first = b.mul(i, i64(count))
        _permute(k, k.buffers[out], b.mul(i, i64(size)), size, min(count, size),
                 lambda j: _at(k, src, dtype, b.add(first, j)), dtype)
    k.counted_loop(math.prod(out.type.shape[:-1]), each)


linalg_rules = {
    P.cholesky_p: _cholesky,
    P.triangular_solve_p: _triangular("trsm"),
    P.triangular_product_p: _triangular("trmm"),
    P.lu_p: _lu,
    P.column_lu_p: _column_lu,
    P.lu_pivots_to_permutation_p: _pivots_to_permutation,
}
