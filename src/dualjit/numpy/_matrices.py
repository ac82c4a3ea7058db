"""Operands of dualjit.numpy.linalg and dualjit.scipy.linalg: float (or complex) matrices and
stacks of them, and the matrix helpers both build on (transposes, identities, diagonals, row
gathers, inverse permutations)."""

from __future__ import annotations

import math
from typing import Any

import numpy as _np

from .. import numpy as jnp
from ..ir import DType
from ..ir import primitives as P
from ..tracer.core import bind
from ._core import convert, dtype_of, joint_shape, operand, shape

LinAlgError = _np.linalg.LinAlgError

# The operations that take complex matrices (with derivatives in JAX's conventions).
COMPLEX_OK = ("solve", "inv", "det", "slogdet", "eigh", "eigvalsh", "svd", "svdvals")


def float_operand(x: Any, op: str) -> Any:
    """x as a float array (integers and bools become float64, as in numpy.linalg); complex
    arrays stay complex for the operations of COMPLEX_OK."""
    x = operand(x, op)
    dt = dtype_of(x)
    if dt.is_complex and op in COMPLEX_OK:
        return x
    if dt.is_complex:  # never cast away the imaginary part
        raise TypeError(f"{op}: complex matrices are not supported yet ({dt.short} given); "
                        f"dualjit.numpy.linalg takes them in {', '.join(COMPLEX_OK)}")
    return convert(x, dt.np if dt.is_float else _np.dtype(_np.float64))


def matrices(x: Any, op: str, square: bool = False) -> Any:
    x = float_operand(x, op)
    s = shape(x)
    if len(s) < 2:
        raise LinAlgError(f"{op}: {len(s)}-dimensional array given; the array must be at "
                          "least two-dimensional (a matrix or a stack of matrices)")
    if square and s[-1] != s[-2]:
        raise LinAlgError(f"{op}: the last 2 dimensions of the array must be square, got {s}")
    return x


def mT(x: Any) -> Any:
    return jnp.swapaxes(x, -1, -2)


def mH(x: Any) -> Any:
    """The conjugate transpose (the transpose of a real matrix)."""
    return jnp.conj(mT(x)) if dtype_of(x).is_complex else mT(x)


def row_col(s: tuple[int, ...]) -> tuple[Any, Any]:
    nd = len(s)
    return (bind(P.iota_p, dtype=DType.int32, shape=s, dimension=nd - 2),
            bind(P.iota_p, dtype=DType.int32, shape=s, dimension=nd - 1))


def eye_like(x: Any) -> Any:
    row, col = row_col(shape(x))
    return convert(jnp.equal(row, col), x.dtype)


def diagonal_of(x: Any) -> Any:
    """The main diagonals of a stack of square matrices, [..., n]: every (n+1)-th element of
    each flattened matrix (a strided view, n reads, not a masked sum over n^2)."""
    s = shape(x)
    n = s[-1]
    flat = jnp.reshape(x, s[:-2] + (n * n,))
    return flat[..., ::n + 1] if n else flat


def trace_of(x: Any) -> Any:
    return jnp.sum(diagonal_of(x), axis=-1)


def take_rows(x: Any, rows: Any) -> Any:
    """x[..., rows[...], :] for a stack x [..., m, n] and integer rows [..., k]."""
    s = shape(x)
    m, n = s[-2:]
    k = shape(rows)[-1]
    if len(s) == 2:
        return bind(P.gather_p, x, rows, axis=0)
    stack = math.prod(s[:-2])
    flat = jnp.reshape(x, (stack * m, n))
    offsets = bind(P.iota_p, dtype=DType.int32, shape=(stack, k), dimension=0) * _np.int32(m)
    flat_rows = jnp.reshape(convert(rows, _np.dtype(_np.int32)), (stack, k)) + offsets
    return jnp.reshape(bind(P.gather_p, flat, flat_rows, axis=0), s[:-2] + (k, n))


def broadcast_batch(op: str, a: Any, b: Any) -> tuple[Any, Any]:
    """a [..., m, m] and b [..., m, k] with their batch dimensions broadcast together."""
    batch = joint_shape(op, shape(a)[:-2], shape(b)[:-2])
    return (jnp.broadcast_to(a, batch + shape(a)[-2:]), jnp.broadcast_to(b, batch + shape(b)[-2:]))


def common_float(op: str, *xs: Any) -> list[Any]:
    xs = [operand(x, op) for x in xs]
    dt = jnp.result_type(*xs)
    if dt.kind == "c" and op not in COMPLEX_OK:  # never cast away the imaginary part
        raise TypeError(f"{op}: complex matrices are not supported yet ({dt} given); "
                        f"dualjit.numpy.linalg takes them in {', '.join(COMPLEX_OK)}")
    dt = dt if dt.kind in "fc" else _np.dtype(_np.float64)
    return [convert(x, dt) for x in xs]


def inverse_permutation(permutation: Any) -> Any:
    """inverse[permutation[i]] = i, as the rows of a one-hot matrix product (exact in floats)."""
    n = shape(permutation)[-1]
    one_hot = jnp.equal(jnp.expand_dims(permutation, -1), jnp.arange(n, dtype=_np.int32))
    # one_hot[..., i, j] is permutation[i] == j: inverse[j] = sum over i of i * one_hot[i, j]
    # (the ramp runs down the rows; along the columns it would give j, the identity)
    rows = jnp.expand_dims(convert(jnp.arange(n), _np.dtype(_np.float64)), -1)
    return convert(jnp.sum(jnp.where(one_hot, rows, 0.0), axis=-2), _np.dtype(_np.int32))
