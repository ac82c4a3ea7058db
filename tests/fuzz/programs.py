"""Random programs for the differential fuzzer, written once against an array namespace.

A program is a chain of steps over same-shape values: each step applies one operation of the
tables below to two earlier values. The same description runs on several namespaces (`Space`):
NumPy (in the program's dtype, or in long double as the reference), `dualjit.numpy` (eagerly,
under `jit`, on the interpreter, under `grad`/`jvp`) and dualjit's Tensors. Operations keep
their operands' shape and dtype, so any chain is well typed; control-flow steps run random
sub-chains as their bodies.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
FLOAT_DTYPES = [np.float32, np.float64]
SHAPES = [(), (), (1,), (3,), (5,), (0,), (2, 3), (3, 1), (1, 4), (0, 3), (3, 0), (2, 1, 3),
          (4, 4)]


class Space:
    """How a program's operations are spelled in one array library."""

    def __init__(self, xp: Any, lax: Any = None):
        self.xp = xp
        self.lax = lax

    # control flow: lax's when given, else plain Python (NumPy's reference semantics)
    def cond(self, pred, true_fun, false_fun, *ops):
        if self.lax is not None:
            return self.lax.cond(pred, true_fun, false_fun, *ops)
        return true_fun(*ops) if pred else false_fun(*ops)

    def while_loop(self, cond_fun, body_fun, init):
        if self.lax is not None:
            return self.lax.while_loop(cond_fun, body_fun, init)
        value = init
        while cond_fun(value):
            value = body_fun(value)
        return value

    def fori_loop(self, lower, upper, body_fun, init):
        if self.lax is not None:
            return self.lax.fori_loop(lower, upper, body_fun, init)
        value = init
        for i in range(lower, upper):
            value = body_fun(i, value)
        return value

    def scan(self, body_fun, init, xs):
        if self.lax is not None:
            return self.lax.scan(body_fun, init, xs)
        carry, ys = init, []
        for i in range(xs.shape[0]):
            carry, y = body_fun(carry, xs[i])
            ys.append(y)
        stacked = np.stack(ys) if ys else np.zeros((0,) + np.shape(init), np.asarray(init).dtype)
        return carry, stacked

    def as_float(self, i, like):
        """A loop index as a value of `like`'s float dtype."""
        return self.xp.asarray(i).astype(like.dtype)

    def T(self, a):
        return a.T


class TensorSpace(Space):
    """dualjit's PyTorch-style Tensors: only the operations marked `tensor=True` run here."""

    def __init__(self, dj: Any):
        super().__init__(_TensorXP(dj))

    def T(self, a):
        return a.t()


class _TensorXP:
    def __init__(self, dj):
        self.dj = dj
        for name in ("sin", "cos", "tanh", "exp", "log1p", "sqrt", "abs", "maximum", "minimum",
                     "where", "matmul"):
            setattr(self, name, getattr(dj, name))

    def sum(self, a, axis=None, keepdims=False):
        return a.sum() if axis is None else self.dj.sum(a, dim=axis, keepdim=keepdims)

    def mean(self, a, axis=None, keepdims=False):
        return a.mean() if axis is None else self.dj.mean(a, dim=axis, keepdim=keepdims)

    def cumsum(self, a, axis):
        return self.dj.cumsum(a, dim=axis)

    def flip(self, a, axis):
        return self.dj.flip(a, (axis,))


# -- operations: (name, fn(space, a, b, param), applies(shape, dtype), tensor) ----------------

@dataclass(frozen=True)
class Op:
    name: str
    fn: Callable
    applies: Callable = lambda shape, dtype: True
    tensor: bool = False  # also spelled for Tensors
    param: Callable | None = None  # rng, shape, dtype, depth -> the step's parameter
    control: bool = False


def _nd(k):
    return lambda shape, dtype: len(shape) >= k


def _nonempty_nd(k):
    return lambda shape, dtype: len(shape) >= k and 0 not in shape


FLOAT_OPS = [
    Op("add", lambda s, a, b, p: a + b, tensor=True),
    Op("sub", lambda s, a, b, p: a - b, tensor=True),
    Op("mul", lambda s, a, b, p: a * b, tensor=True),
    Op("div", lambda s, a, b, p: a / (1.0 + b * b), tensor=True),
    Op("maximum", lambda s, a, b, p: s.xp.maximum(a, b), tensor=True),
    Op("minimum", lambda s, a, b, p: s.xp.minimum(a, b * 0.5), tensor=True),
    Op("sin", lambda s, a, b, p: s.xp.sin(a), tensor=True),
    Op("cos", lambda s, a, b, p: s.xp.cos(a) * b, tensor=True),
    Op("tanh", lambda s, a, b, p: s.xp.tanh(a * 1.5), tensor=True),
    Op("exp", lambda s, a, b, p: s.xp.exp(s.xp.tanh(a)), tensor=True),
    Op("log1p", lambda s, a, b, p: s.xp.log1p(a * a), tensor=True),
    Op("sqrt", lambda s, a, b, p: s.xp.sqrt(a * a + 1.0), tensor=True),
    Op("abs", lambda s, a, b, p: s.xp.abs(a) - b, tensor=True),
    Op("scale", lambda s, a, b, p: a * 0.75 + 0.25, tensor=True),
    Op("grow", lambda s, a, b, p: a * s.xp.tanh(a), tensor=True),
    Op("where", lambda s, a, b, p: s.xp.where(a > b, a, b * 0.5), tensor=True),
    Op("pow", lambda s, a, b, p: (a * a + 1.0) ** s.xp.tanh(b)),
    Op("ipow", lambda s, a, b, p: s.xp.tanh(a) ** 3 - b),
    Op("clip", lambda s, a, b, p: s.xp.clip(a, -1.0, 1.0) + b * 0.25),
    Op("atan2", lambda s, a, b, p: s.xp.arctan2(a, b * b + 0.5)),
    Op("round32", lambda s, a, b, p: a.astype(np.float32).astype(a.dtype) + b),
    Op("center", lambda s, a, b, p: a - s.xp.mean(a, axis=-1, keepdims=True),
       _nonempty_nd(1), tensor=True),
    Op("sum_b", lambda s, a, b, p: a + s.xp.sum(b, axis=0, keepdims=True) * 0.25, _nd(1),
       tensor=True),
    Op("max_norm", lambda s, a, b, p: a / (1.0 + s.xp.abs(s.xp.max(b, axis=-1, keepdims=True))),
       _nonempty_nd(1)),
    Op("total", lambda s, a, b, p: a * 0.5 + s.xp.sum(b * b) * 0.01, tensor=True),
    Op("cumsum", lambda s, a, b, p: s.xp.cumsum(a, axis=-1) * 0.5, _nd(1), tensor=True),
    Op("sort", lambda s, a, b, p: s.xp.sort(a, axis=-1) + b, _nd(1)),
    Op("flip", lambda s, a, b, p: s.xp.flip(a, axis=0) - b, _nd(1), tensor=True),
    Op("roll", lambda s, a, b, p: s.xp.concatenate([a[1:], a[:1]], axis=0), _nd(1)),
    Op("take", lambda s, a, b, p: s.xp.take(a, np.asarray(p, np.int64), axis=-1) * b, _nd(1),
       param=lambda rng, shape, dtype, depth: [rng.randrange(shape[-1]) for _ in
                                               range(shape[-1])] if shape[-1] else []),
    Op("matmul", lambda s, a, b, p: s.xp.matmul(s.xp.matmul(a, s.T(b)), a) * 0.25,
       lambda shape, dtype: len(shape) == 2, tensor=True),
]


def _bits(a):
    return np.dtype(a.dtype).itemsize * 8


def _other_int(p, a):
    return np.dtype(p) if np.dtype(p) != np.dtype(a.dtype) else np.dtype(np.int16)


def _exact_mix(a, p):
    """p, unless mixing it with a's dtype gives a float (uint64 with a signed type): a float
    beyond the integer's range converts to a platform-defined value in NumPy (dualjit
    saturates), so the fuzzer does not compare those."""
    return np.dtype(p) if np.result_type(a.dtype, np.dtype(p)).kind in "iu" else a.dtype


def _exact_partner(rng, shape, dtype, depth):
    """An integer dtype whose promotion with `dtype` is an integer (never uint64 with a signed)."""
    choices = [d for d in INT_DTYPES
               if np.result_type(d, dtype).kind in "iu" and np.dtype(d) != np.dtype(dtype)]
    return rng.choice(choices)


INT_OPS = [
    Op("iadd", lambda s, a, b, p: a + b),
    Op("isub", lambda s, a, b, p: a - b),
    Op("imul", lambda s, a, b, p: a * b),
    Op("iand", lambda s, a, b, p: a & b),
    Op("ior", lambda s, a, b, p: a | b),
    Op("ixor", lambda s, a, b, p: a ^ b),
    Op("inot", lambda s, a, b, p: ~a),
    Op("ishl", lambda s, a, b, p: s.xp.left_shift(a, b & (_bits(a) - 1))),
    Op("ishr", lambda s, a, b, p: s.xp.right_shift(a, b & (_bits(a) - 1))),
    Op("imax", lambda s, a, b, p: s.xp.maximum(a, b)),
    Op("imin", lambda s, a, b, p: s.xp.minimum(a, b)),
    Op("iwhere", lambda s, a, b, p: s.xp.where(a > b, a, b)),
    Op("iwhere_eq", lambda s, a, b, p: s.xp.where(a == b, a ^ b, a - b)),
    Op("idiv", lambda s, a, b, p: s.xp.floor_divide(a, b | 1)),
    Op("imod", lambda s, a, b, p: s.xp.remainder(a, b | 1)),
    Op("iabs", lambda s, a, b, p: s.xp.abs(a)),
    Op("iscal", lambda s, a, b, p: a * 3 + 1),
    Op("iconv", lambda s, a, b, p: a.astype(np.dtype(p)).astype(a.dtype) + b,
       param=lambda rng, shape, dtype, depth: np.dtype(rng.choice(INT_DTYPES)).str),
    Op("imixed", lambda s, a, b, p: (a + b.astype(_exact_mix(a, p))).astype(a.dtype),
       param=lambda rng, shape, dtype, depth: np.dtype(_exact_partner(rng, shape, dtype, 0)).str),
    Op("ifloat", lambda s, a, b, p: (a.astype(np.float64) * 0.5).astype(a.dtype)),
    Op("isum", lambda s, a, b, p: a + s.xp.sum(b, axis=-1, keepdims=True).astype(a.dtype),
       _nd(1)),
    Op("icumsum", lambda s, a, b, p: s.xp.cumsum(a, axis=-1).astype(a.dtype), _nd(1)),
    Op("iflip", lambda s, a, b, p: s.xp.flip(a, axis=0) ^ b, _nd(1)),
    Op("itake", lambda s, a, b, p: s.xp.take(a, np.asarray(p, np.int64), axis=-1), _nd(1),
       param=lambda rng, shape, dtype, depth: [rng.randrange(shape[-1]) for _ in
                                               range(shape[-1])] if shape[-1] else []),
]


# -- control flow: bodies are random sub-chains over (carry, operand) -------------------------

def _sub_chain(rng, shape, dtype, depth):
    return draw_steps(rng, shape, dtype, rng.randint(1, 4), depth + 1)


def _cond(s, a, b, p):
    true_steps, false_steps = p
    return s.cond(s.xp.sum(a) > s.xp.sum(b), lambda u, v: run_steps(s, true_steps, [u, v]),
                  lambda u, v: run_steps(s, false_steps, [u, v]), a, b)


def _while(s, a, b, p):
    steps, trips = p

    def body(carry):
        i, c = carry
        return i + 1, c * 0.5 + s.xp.tanh(run_steps(s, steps, [c, b])) * 0.5

    def keep_going(carry):
        i, c = carry
        return (i < trips) & (s.xp.sum(c * c) < 1e3)

    return s.while_loop(keep_going, body, (0, a))[1]


def _fori(s, a, b, p):
    steps, trips = p

    def body(i, c):
        return c * 0.5 + s.xp.tanh(run_steps(s, steps, [c, b]) + s.as_float(i, c) * 0.1) * 0.5

    return s.fori_loop(0, trips, body, a)


def _scan(s, a, b, p):
    def body(c, x):
        return c * 0.5 + s.xp.tanh(run_steps(s, p, [c, x])) * 0.5, c * 0.5 + x

    carry, ys = s.scan(body, s.xp.sum(a, axis=0) * 0.1, b)
    return ys + carry


def _int_cond(s, a, b, p):
    true_steps, false_steps = p
    return s.cond(s.xp.sum(a & 7) > s.xp.sum(b & 7), lambda u, v: run_steps(s, true_steps, [u, v]),
                  lambda u, v: run_steps(s, false_steps, [u, v]), a, b)


def _int_fori(s, a, b, p):
    steps, trips = p
    return s.fori_loop(0, trips, lambda i, c: run_steps(s, steps, [c, b]), a)


def _loop_param(rng, shape, dtype, depth):
    return _sub_chain(rng, shape, dtype, depth), rng.randint(0, 4)


def _scan_param(rng, shape, dtype, depth):
    return _sub_chain(rng, shape[1:], dtype, depth)


def _branches(rng, shape, dtype, depth):
    return _sub_chain(rng, shape, dtype, depth), _sub_chain(rng, shape, dtype, depth)


FLOAT_CONTROL = [
    Op("cond", _cond, param=_branches, control=True),
    Op("while", _while, param=_loop_param, control=True),
    Op("fori", _fori, param=_loop_param, control=True),
    Op("scan", _scan, _nd(1), param=_scan_param, control=True),
]
INT_CONTROL = [
    Op("icond", _int_cond, param=_branches, control=True),
    Op("ifori", _int_fori, param=_loop_param, control=True),
]
OPS = {op.name: op for op in FLOAT_OPS + INT_OPS + FLOAT_CONTROL + INT_CONTROL}


def draw_steps(rng: random.Random, shape, dtype, n: int, depth: int = 0) -> list[tuple]:
    """n random steps (op name, operand index, operand index, param) for values of this type."""
    is_int = np.dtype(dtype).kind in "iu"
    table = [op for op in (INT_OPS if is_int else FLOAT_OPS) if op.applies(shape, dtype)]
    control = [op for op in (INT_CONTROL if is_int else FLOAT_CONTROL) if op.applies(shape, dtype)]
    steps = []
    for _ in range(n):
        op = rng.choice(control) if depth < 2 and control and rng.random() < 0.12 else \
            rng.choice(table)
        param = op.param(rng, shape, dtype, depth) if op.param else None
        steps.append((op.name, rng.randrange(1000), rng.randrange(1000), param))
    return steps


def run_all(space: Space, steps: list[tuple], values: list) -> list:
    """Every value of the chain: the operands, then one per step."""
    values = list(values)
    for name, i, j, param in steps:
        a, b = values[i % len(values)], values[j % len(values)]
        values.append(OPS[name].fn(space, a, b, param))
    return values


def run_steps(space: Space, steps: list[tuple], values: list) -> Any:
    return run_all(space, steps, values)[-1]


# -- whole programs ---------------------------------------------------------------------------

@dataclass
class Program:
    seed: int
    dtype: np.dtype
    shape: tuple
    steps: list
    inputs: list = field(default_factory=list)
    weight: np.ndarray | None = None
    special: bool = False  # inputs hold inf / nan / -0.0 / subnormals (no derivative checks)

    @property
    def is_int(self) -> bool:
        return self.dtype.kind in "iu"

    @property
    def op_names(self) -> list[str]:
        names = []

        def walk(steps):
            for name, _, _, param in steps:
                names.append(name)
                if OPS[name].control:
                    for sub in _sub_steps(name, param):
                        walk(sub)
        walk(self.steps)
        return names

    @property
    def derivative_dtype(self) -> np.dtype:
        """Derivatives through a cast to float32 are float32-precise (the tangent is cast too,
        as in JAX), so they are compared at float32's tolerance."""
        return np.dtype(np.float32) if "round32" in self.op_names else self.dtype

    @property
    def smooth(self) -> bool:
        """Finite differences mean something (a cast to float32 is a staircase)."""
        return "round32" not in self.op_names

    @property
    def has_while(self) -> bool:
        return "while" in self.op_names

    @property
    def tensor_ok(self) -> bool:
        return not self.is_int and all(OPS[n].tensor for n in self.op_names)

    def function(self, space: Space, weight: Any = None) -> Callable:
        """f(a, b) -> (last value, scalar loss) in `space`; `weight` (a constant the function
        captures) defaults to the program's."""
        w = self.weight if weight is None else weight

        def f(a, b):
            values = run_all(space, self.steps, [a, b])
            return values[-1], space.xp.sum(values[-1] * w) + space.xp.sum(values[-2]) * 0.5
        return f

    def describe(self) -> str:
        return (f"seed={self.seed} {self.dtype.name}{list(self.shape)} special={self.special} "
                f"steps={_describe(self.steps)}")


def _sub_steps(name, param):
    if name in ("cond", "icond"):
        return list(param)
    if name == "scan":
        return [param]
    return [param[0]]


def _describe(steps) -> str:
    parts = []
    for name, _i, _j, param in steps:
        if OPS[name].control:
            parts.append(f"{name}({', '.join(_describe(s) for s in _sub_steps(name, param))})")
        else:
            parts.append(name)
    return "[" + " ".join(parts) + "]"


def _int_values(rng: np.random.Generator, dtype, shape) -> np.ndarray:
    info = np.iinfo(dtype)
    full = rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    small = rng.integers(max(info.min, -9), 10, size=shape).astype(dtype)
    edges = rng.choice(np.array([info.min, info.max, 0, 1, info.max // 2 + 1], dtype=dtype),
                       size=shape)
    pick = rng.integers(0, 3, size=shape)
    return np.where(pick == 0, full, np.where(pick == 1, small, edges)).astype(dtype)


_SPECIALS = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-310, -5e-324, 1e4, -2.5]


def _float_values(rng: np.random.Generator, dtype, shape, special: bool) -> np.ndarray:
    values = rng.uniform(-2.0, 2.0, size=shape)
    if special:
        mask = rng.random(shape) < 0.4
        values = np.where(mask, rng.choice(np.array(_SPECIALS), size=shape), values)
    return np.asarray(values, dtype=dtype)


def make_program(seed: int, long_chain: bool | None = None) -> Program:
    """The program of `seed` (deterministic): dtype, shape, steps, inputs and weight."""
    rng = random.Random(seed)
    gen = np.random.default_rng(seed)
    is_int = rng.random() < 0.35
    dtype = np.dtype(rng.choice(INT_DTYPES if is_int else FLOAT_DTYPES))
    shape = rng.choice(SHAPES)
    if long_chain is None:
        long_chain = rng.random() < 0.03
    n = rng.randint(60, 200) if long_chain else rng.randint(1, 12)
    steps = draw_steps(rng, shape, dtype, n)
    special = not is_int and rng.random() < 0.1
    if is_int:
        inputs = [_int_values(gen, dtype, shape) for _ in range(2)]
        weight = _int_values(gen, dtype, shape) & np.asarray(3, dtype)
    else:
        inputs = [_float_values(gen, dtype, shape, special) for _ in range(2)]
        weight = gen.uniform(-1.0, 1.0, size=shape).astype(dtype)
    return Program(seed, dtype, shape, steps, inputs, weight, special)
