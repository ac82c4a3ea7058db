"""The typed IR: dtypes, tensor types, Var, Literal, Eqn, Function and the primitive registry."""

from __future__ import annotations

import dataclasses
import enum
import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from typing import Any

import numpy as np


class IRError(Exception):
    """An IR object is malformed or an operation's operands do not fit its rule."""


class DType(enum.Enum):
    bool = "bool"
    int8 = "i8"
    int16 = "i16"
    int32 = "i32"
    int64 = "i64"
    uint8 = "u8"
    uint16 = "u16"
    uint32 = "u32"
    uint64 = "u64"
    float32 = "f32"
    float64 = "f64"
    complex64 = "c64"
    complex128 = "c128"

    @property
    def short(self) -> str:
        return self.value

    @property
    def np(self) -> np.dtype:
        return _NUMPY_OF[self]

    @property
    def is_float(self) -> bool:
        return self in (DType.float32, DType.float64)

    @property
    def is_complex(self) -> bool:
        return self in (DType.complex64, DType.complex128)

    @property
    def is_inexact(self) -> bool:
        """Float or complex: the types that carry tangents and cotangents."""
        return self.is_float or self.is_complex

    @property
    def real_dtype(self) -> DType:
        """The type of a complex type's real and imaginary parts (other types: themselves)."""
        return _REAL_OF.get(self, self)

    @property
    def complex_dtype(self) -> DType:
        """The complex type whose parts have this float type (complex types: themselves)."""
        return _COMPLEX_OF.get(self, self)

    @property
    def is_int(self) -> bool:
        """Any integer type, signed or unsigned (bool is not an integer here)."""
        return self in _SIGNED or self in _UNSIGNED

    @property
    def is_signed_int(self) -> bool:
        return self in _SIGNED

    @property
    def is_unsigned(self) -> bool:
        return self in _UNSIGNED

    @property
    def bits(self) -> int:
        """The width in bits (1 for bool)."""
        return 1 if self is DType.bool else 8 * _NUMPY_OF[self].itemsize

    def __repr__(self) -> str:
        return self.value

    __hash__ = object.__hash__  # identity (members are singletons); Enum's hashes the name


_SIGNED = frozenset((DType.int8, DType.int16, DType.int32, DType.int64))
_UNSIGNED = frozenset((DType.uint8, DType.uint16, DType.uint32, DType.uint64))
_REAL_OF = {DType.complex64: DType.float32, DType.complex128: DType.float64}
_COMPLEX_OF = {DType.float32: DType.complex64, DType.float64: DType.complex128}
_NUMPY_OF = {d: np.dtype(d.name if d is not DType.bool else np.bool_) for d in DType}
_DTYPE_OF_NUMPY = {v: k for k, v in _NUMPY_OF.items()}
_DTYPE_OF_KIND = {(v.kind, v.itemsize): k for k, v in _NUMPY_OF.items()}
_DTYPE_OF_SHORT = {d.value: d for d in DType}
_DTYPE_ALIASES = {d.name: d for d in DType}
SUPPORTED_DTYPES = ", ".join(d.name for d in DType)


def as_dtype(x: Any) -> DType:
    """Our DType for a DType, a numpy dtype-like, or a short name ('f32')."""
    if isinstance(x, DType):
        return x
    if isinstance(x, np.dtype):  # (a native NumPy dtype: one look-up, the common case)
        found = _DTYPE_OF_NUMPY.get(x)
        if found is not None:
            return found
    if isinstance(x, str) and x in _DTYPE_OF_SHORT:
        return _DTYPE_OF_SHORT[x]
    if isinstance(x, str) and x in _DTYPE_ALIASES:
        return _DTYPE_ALIASES[x]
    if x is bool:
        return DType.bool
    if x is int:
        return DType.int64
    if x is float:
        return DType.float64
    if x is complex:
        return DType.complex128
    try:
        npd = np.dtype(x)
    except TypeError:
        raise TypeError(f"dtype {x!r} is not supported; dualjit supports "
                        f"{SUPPORTED_DTYPES}") from None
    npd = npd.newbyteorder("=")  # byte-swapped data has the same type (values are copied)
    found = _DTYPE_OF_NUMPY.get(npd) or _DTYPE_OF_KIND.get((npd.kind, npd.itemsize))
    if found is not None:  # aliased spellings (intc, longlong, ...) land here too
        return found
    if npd.kind == "f" and npd.itemsize < 4:
        return DType.float32  # float16 computes in float32
    raise TypeError(f"dtype {npd} is not supported; dualjit supports {SUPPORTED_DTYPES}")


class TensorType:
    """The static type of a value: a dtype and a shape (a tuple of ints; () for scalars)."""

    __slots__ = ("dtype", "shape", "_hash")

    def __init__(self, dtype: DType | str, shape: Sequence[int]):
        self.dtype = dtype if type(dtype) is DType else as_dtype(dtype)
        self.shape = shape = tuple(map(int, shape))
        if shape and min(shape) < 0:
            raise IRError(f"negative dimension in shape {shape}")
        self._hash = hash((self.dtype, shape))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def with_dtype(self, dtype: DType) -> TensorType:
        return TensorType(dtype, self.shape)

    def with_shape(self, shape: Sequence[int]) -> TensorType:
        return TensorType(self.dtype, shape)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, TensorType) and self.dtype is other.dtype
                and self.shape == other.shape)

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        return f"{self.dtype.short}[{','.join(map(str, self.shape))}]"

    __repr__ = __str__


def type_of_array(x: np.ndarray) -> TensorType:
    return TensorType(as_dtype(x.dtype), x.shape)


_var_ids = itertools.count()


class Var:
    """A typed SSA value, defined exactly once; compared and hashed by identity."""

    __slots__ = ("type", "id")

    def __init__(self, type: TensorType):
        self.type = type
        self.id = next(_var_ids)

    def __repr__(self) -> str:
        return f"Var#{self.id}:{self.type}"


class Literal:
    """A typed scalar constant written inline in the IR."""

    __slots__ = ("value", "type")

    def __init__(self, value: Any, dtype: DType | str):
        dtype = as_dtype(dtype)
        self.value = dtype.np.type(value).item()
        self.type = TensorType(dtype, ())

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Literal) and self.type == other.type
                and _same_scalar(self.value, other.value))

    def __hash__(self) -> int:
        v = self.value
        return hash((self.type, "nan" if v != v else v, str(v)[:1] == "-"))

    def __repr__(self) -> str:
        return f"Literal({self.value!r}:{self.type.dtype.short})"


def _same_scalar(a: Any, b: Any) -> bool:
    if isinstance(a, complex) or isinstance(b, complex):
        a, b = complex(a), complex(b)
        return _same_scalar(a.real, b.real) and _same_scalar(a.imag, b.imag)
    if a != a and b != b:
        return True
    return a == b and np.signbit(a) == np.signbit(b)


Atom = Var | Literal


_EMPTY_PARAMS_HASH = hash(())


class FrozenDict(dict):
    """An immutable, hashable dict used for equation params."""

    def __hash__(self) -> int:  # type: ignore[override]
        if not self:  # (most equations have no params: CSE hashes every equation's)
            return _EMPTY_PARAMS_HASH
        return hash(tuple(sorted(self.items(), key=lambda kv: kv[0])))

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("equation params are immutable")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore


@dataclasses.dataclass(eq=False, repr=False)  # compared and hashed by identity: table keys
class Primitive:
    """A named operation; its rules live in per-layer tables keyed by the primitive.

    Its traits say what kind of operation it is, for the passes that treat a whole kind alike:
    - elementwise: each output element depends only on the operands' elements at the same
      index (rank-0 operands broadcast);
    - reduction: the monoid a reduction folds its axes with ("sum", "max", "min", "prod"),
      None for anything else;
    - higher_order: its params carry Functions or rules that it applies (control flow and
      custom-rule calls): never evaluated at trace time by constant folding.
    - effectful: it does something besides computing its outputs (a host callback that
      prints): passes never drop, merge or fold it, and tracing never runs it early.
    """

    name: str
    multiple_results: bool = False
    _: dataclasses.KW_ONLY
    elementwise: bool = False
    reduction: str | None = None
    higher_order: bool = False
    effectful: bool = False

    def __repr__(self) -> str:
        return self.name


primitives: dict[str, Primitive] = {}
shape_rules: dict[Primitive, Callable[..., Any]] = {}
impl_rules: dict[Primitive, Callable[..., Any]] = {}


def new_primitive(name: str, multiple_results: bool = False, **traits: Any) -> Primitive:
    """Define and register a primitive; `traits` are Primitive's keyword traits."""
    if name in primitives:
        raise IRError(f"primitive {name!r} is defined twice")
    prim = Primitive(name, multiple_results, **traits)
    primitives[name] = prim
    return prim


def abstract_eval(prim: Primitive, in_types: Sequence[TensorType], params: dict) -> list[TensorType]:
    """The output types of `prim` applied to operands of `in_types`, from its shape rule."""
    rule = shape_rules.get(prim)
    if rule is None:
        raise IRError(f"primitive {prim.name} has no shape rule")
    out = rule(*in_types, **params)
    return list(out) if prim.multiple_results else [out]


class Eqn:
    """One equation: outputs = primitive[params](inputs)."""

    __slots__ = ("primitive", "inputs", "outputs", "params")

    def __init__(self, primitive: Primitive, inputs: Iterable[Atom], outputs: Iterable[Var],
                 params: dict | None = None):
        self.primitive = primitive
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self.params = params if isinstance(params, FrozenDict) else FrozenDict(params or {})

    def __repr__(self) -> str:
        return f"Eqn({self.primitive.name}, {len(self.inputs)} in, {len(self.outputs)} out)"


class Function:
    """An immutable typed SSA function: inputs, constant arrays, equations, outputs.

    Equality and hashing are structural (the printed text plus the constants' bytes), so a
    Function can key compilation caches.
    """

    __slots__ = ("inputs", "consts", "eqns", "outputs", "__dict__")

    def __init__(self, inputs: Sequence[Var], consts: Sequence[tuple[Var, np.ndarray]],
                 eqns: Sequence[Eqn], outputs: Sequence[Atom]):
        self.inputs = tuple(inputs)
        self.consts = tuple((v, _frozen_array(a)) for v, a in consts)
        self.eqns = tuple(eqns)
        self.outputs = tuple(outputs)

    @property
    def in_types(self) -> list[TensorType]:
        return [v.type for v in self.inputs]

    @property
    def out_types(self) -> list[TensorType]:
        return [v.type for v in self.outputs]

    @cached_property
    def text(self) -> str:
        from .printer import print_function

        return print_function(self)

    @cached_property
    def _key(self) -> tuple:
        # Constants by digest, computed once: a key holding their bytes would copy every
        # captured array again (and keep the copy as long as the key lives).
        return (self.text, tuple((a.dtype.str, a.shape, _digest(a)) for _, a in self.consts))

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        return (isinstance(other, Function) and self._key == other._key and all(
            _same_bytes(a, b) for (_, a), (_, b) in zip(self.consts, other.consts)))

    def __hash__(self) -> int:
        return hash(self._key)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"<Function {len(self.inputs)} in, {len(self.eqns)} eqns, {len(self.outputs)} out>"


def _digest(a: np.ndarray) -> bytes:
    import hashlib  # here: loading OpenSSL's hashes cost every `import dualjit` ~3 ms

    return hashlib.blake2b(np.ascontiguousarray(a).reshape(-1).view(np.uint8),
                           digest_size=16).digest()


def _same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal digests are checked byte by byte: a cache hit must never be a collision."""
    if a is b:
        return True
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and bool(
        np.array_equal(a.reshape(-1).view(np.uint8), b.reshape(-1).view(np.uint8)))


def _frozen_array(a: Any) -> np.ndarray:
    a = np.asarray(a)
    if a.flags.writeable:
        a = a.copy()
        a.flags.writeable = False
    return a


def sub_functions(eqn: Eqn) -> list[Function]:
    """The Functions an equation carries in its params (control flow, custom rules)."""
    found = []
    if not eqn.params:
        return found
    for v in eqn.params.values():
        if isinstance(v, Function):
            found.append(v)
        elif isinstance(v, tuple):
            found.extend(x for x in v if isinstance(x, Function))
    return found


def has_effects(eqn: Eqn) -> bool:
    """The equation is effectful, or applies a sub-Function that contains an effect."""
    if eqn.primitive.effectful:
        return True
    return bool(eqn.params) and any(function_has_effects(f) for f in sub_functions(eqn))


def function_has_effects(fn: Function) -> bool:
    found = fn.__dict__.get("_has_effects")
    if found is None:
        found = fn.__dict__["_has_effects"] = any(has_effects(e) for e in fn.eqns)
    return found
