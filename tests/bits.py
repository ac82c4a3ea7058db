"""Bit-for-bit comparison of arrays, for tests of fast paths against the path they replace."""

from __future__ import annotations

import numpy as np


def same(got, expected) -> None:
    """Assert bit-for-bit equality: dtype, shape, values (NaN where NaN, the sign of zeros;
    complex arrays part by part)."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    if got.dtype.kind == "c":
        same(got.real, expected.real)
        same(got.imag, expected.imag)
    elif got.dtype.kind == "f":
        assert np.array_equal(got, expected, equal_nan=True)
        assert np.array_equal(np.signbit(got), np.signbit(expected))
    else:
        assert np.array_equal(got, expected)
