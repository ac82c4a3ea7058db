"""packbits and unpackbits: bits of bool or integer arrays to and from uint8 bytes."""

from __future__ import annotations

from typing import Any

import numpy as _np

from ..ir import primitives as P
from ..tracer.core import bind
from ._core import broadcast_to, convert, normalize_axes, operand, result_type, slice_axis
from .elementwise import bitwise_and, not_equal
from .reductions import sum
from .shapes import concatenate, moveaxis, ravel, reshape

__all__ = ["packbits", "unpackbits"]

_BIG = _np.array([128, 64, 32, 16, 8, 4, 2, 1], _np.uint8)


def _weights(bitorder: str) -> _np.ndarray:
    if bitorder not in ("big", "little"):
        raise ValueError(f"bitorder must be 'big' or 'little', got {bitorder!r}")
    return _BIG if bitorder == "big" else _BIG[::-1].copy()


def packbits(a: Any, axis: int | None = None, bitorder: str = "big") -> Any:
    """Nonzero elements as 1 bits, eight to a uint8 along axis (flattened when None), the
    last byte padded with zeros."""
    a = operand(a, "packbits")
    if result_type(a).kind not in "biu":
        raise TypeError(f"packbits: expected an integer or bool array, got {result_type(a)}")
    if axis is None:
        a, axis = ravel(a), 0
    (ax,) = normalize_axes("packbits", axis, _np.ndim(a))
    bits = moveaxis(convert(not_equal(a, 0), _np.dtype(_np.uint8)), ax, -1)
    n = _np.shape(bits)[-1]
    pad = -n % 8
    if pad:
        bits = bind(P.pad_p, bits, _np.uint8(0), padding_config=tuple(
            [(0, 0, 0)] * (_np.ndim(bits) - 1) + [(0, pad, 0)]))
    groups = reshape(bits, tuple(_np.shape(bits)[:-1]) + ((n + pad) // 8, 8))
    packed = sum(groups * _weights(bitorder), axis=-1, dtype=_np.uint8)
    return moveaxis(packed, -1, ax)


def unpackbits(a: Any, axis: int | None = None, count: int | None = None,
               bitorder: str = "big") -> Any:
    """Each uint8 as eight 0/1 uint8 elements along axis; count keeps that many (negative:
    drops that many from the end; more than there are: pads with zeros)."""
    a = operand(a, "unpackbits")
    if result_type(a) != _np.dtype(_np.uint8):
        raise TypeError(f"unpackbits: expected an array of uint8, got {result_type(a)}")
    if axis is None:
        a, axis = ravel(a), 0
    (ax,) = normalize_axes("unpackbits", axis, _np.ndim(a))
    moved = moveaxis(a, ax, -1)
    shape = tuple(_np.shape(moved))
    spread = broadcast_to(reshape(moved, shape + (1,)), shape + (8,))
    bits = convert(not_equal(bitwise_and(spread, _weights(bitorder)), 0), _np.dtype(_np.uint8))
    bits = reshape(bits, shape[:-1] + (shape[-1] * 8,))
    n = shape[-1] * 8
    if count is not None:
        keep = n + count if count < 0 else count
        if keep < 0:
            raise ValueError(f"unpackbits: -count ({-count}) is larger than the {n} bits")
        if keep <= n:
            bits = slice_axis(bits, _np.ndim(bits) - 1, 0, keep)
        else:
            zeros = broadcast_to(_np.uint8(0), shape[:-1] + (keep - n,))
            bits = concatenate([bits, zeros], axis=-1)
    return moveaxis(bits, -1, ax)
