"""ShapeDtypeStruct: an array's shape and dtype without its values (an abstract argument)."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..ir import TensorType, as_dtype

SYMBOLIC_DIMENSIONS = (
    "dualjit's IR has static shapes: every value's type, every loop bound and every constant "
    "derived from a size (the 1/n of a mean) is fixed when a function is traced, so one "
    "program cannot serve several sizes. Trace or export one program per size (a dict of "
    "exported programs keyed by batch size), or pad batches to one size.")


class ShapeDtypeStruct:
    """Stands for an array of this shape and dtype wherever only types matter: `make_ir`,
    `jit(f).lower`, `export` (as JAX's jax.ShapeDtypeStruct)."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape: Any, dtype: Any):
        shape = (shape,) if isinstance(shape, (int, np.integer, str)) else tuple(shape)
        dims = []
        for d in shape:
            if isinstance(d, str):
                raise ValueError(f"ShapeDtypeStruct{shape}: dimension {d!r} is symbolic. "
                                 + SYMBOLIC_DIMENSIONS)
            try:
                d = operator.index(d)
            except TypeError:
                raise TypeError(f"ShapeDtypeStruct: dimension {d!r} of {shape} is not an "
                                "integer") from None
            if d < 0:
                raise ValueError(f"ShapeDtypeStruct: negative dimension in {shape}")
            dims.append(d)
        self.shape = tuple(dims)
        self.dtype = np.dtype(dtype)
        as_dtype(self.dtype)  # a dtype dualjit supports, or a TypeError naming it

    @classmethod
    def from_type(cls, t: TensorType) -> ShapeDtypeStruct:
        return cls(t.shape, t.dtype.np)

    @property
    def aval(self) -> TensorType:
        return TensorType(as_dtype(self.dtype), self.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ShapeDtypeStruct) and self.shape == other.shape
                and self.dtype == other.dtype)

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype))

    def __repr__(self) -> str:
        return f"ShapeDtypeStruct(shape={self.shape}, dtype={self.dtype.name})"
