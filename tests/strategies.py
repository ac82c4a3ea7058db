"""Hypothesis strategies shared by the test suite: shapes, dtypes, arrays and random programs."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import dualjit.numpy as jnp

FLOAT_DTYPES = [np.float32, np.float64]
ALL_DTYPES = [np.bool_, np.int32, np.int64, np.float32, np.float64]

shapes = st.sampled_from([(), (1,), (3,), (2, 3), (3, 1), (1, 4), (2, 3, 4)])


@st.composite
def arrays(draw, dtype=None, shape=None, low=-3.0, high=3.0):
    dtype = dtype or draw(st.sampled_from(FLOAT_DTYPES))
    shape = shape if shape is not None else draw(shapes)
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "b":
        return rng.random(shape) > 0.5
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-5, 6, size=shape).astype(dtype)
    return rng.uniform(low, high, size=shape).astype(dtype)


# (name, arity, function on two same-shape float operands) — total over the reals.
PROGRAM_OPS = [
    ("add", 2, lambda a, b: a + b), ("sub", 2, lambda a, b: a - b),
    ("mul", 2, lambda a, b: a * b), ("max", 2, jnp.maximum),
    ("div", 2, lambda a, b: a / (1.0 + b * b)), ("sin", 1, jnp.sin), ("tanh", 1, jnp.tanh),
    ("exp", 1, lambda a: jnp.exp(jnp.tanh(a))), ("sq", 1, lambda a: a * a * 0.5),
    ("log1p", 1, lambda a: jnp.log1p(a * a)), ("scale", 1, lambda a: a * 0.75 + 0.25),
    ("where", 2, lambda a, b: jnp.where(a > b, a, b * 0.5)),
    ("sum_keep", 1, lambda a: a - jnp.mean(a, axis=-1, keepdims=True) if jnp.ndim(a) else a),
    ("cumul", 1, lambda a: jnp.sqrt(a * a + 1.0)),
]


@st.composite
def programs(draw, max_ops=8):
    """A random straight-line program over two inputs: returns (function, args, description)."""
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    shape = draw(st.sampled_from([(), (3,), (2, 3)]))
    x = draw(arrays(dtype=dtype, shape=shape, low=-1.5, high=1.5))
    y = draw(arrays(dtype=dtype, shape=shape, low=-1.5, high=1.5))
    steps = draw(st.lists(st.tuples(st.integers(0, len(PROGRAM_OPS) - 1),
                                    st.integers(0, 100), st.integers(0, 100)),
                          min_size=1, max_size=max_ops))

    def f(a, b):
        values = [a, b]
        for op, i, j in steps:
            _, arity, fn = PROGRAM_OPS[op]
            u, v = values[i % len(values)], values[j % len(values)]
            values.append(fn(u, v) if arity == 2 else fn(u))
        return jnp.sum(values[-1]) + jnp.sum(values[-2]) * 0.5

    names = [PROGRAM_OPS[op][0] for op, _, _ in steps]
    return f, (x, y), names
