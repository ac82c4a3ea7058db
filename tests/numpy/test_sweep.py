"""The systematic sweep: every row of sweep_table against NumPy, eagerly and under jit, and
its derivatives in both modes (to second order) against central differences, in eager,
grad and jit(grad).

CI runs the first combination (dtype, shapes, variant) of every row plus one more drawn per
row; HYPOTHESIS_PROFILE=deep runs the whole table.
"""

from __future__ import annotations

import os
import warnings
import zlib

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp

from .sweep_table import STATIC_CALLS, TABLE, Op

DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "deep"
FLOAT_DOMAINS = {"real", "pos", "unit", "gt1", "nonzero", "wide", "sorted", "prob", "special",
                 "some_nan"}
# Functions whose output size depends on the data: under jit they get the size NumPy found.
SIZED = {"nonzero": "size", "argwhere": "size", "flatnonzero": "size", "extract": "size",
         "compress": "size", "unique": "size", "unique_values": "size", "unique_counts": "size",
         "unique_inverse": "size", "unique_all": "size", "union1d": "size",
         "intersect1d": "size", "setdiff1d": "size", "setxor1d": "size", "bincount": "length"}
EAGER_ONLY = {"trim_zeros"}  # needs concrete values by design


def draw(domain: str, shape: tuple, dtype, rng) -> np.ndarray:
    n = int(np.prod(shape))
    if domain == "real":
        x = rng.standard_normal(n)
    elif domain == "pos":
        x = rng.uniform(0.5, 2.0, n)
    elif domain == "unit":
        x = rng.uniform(-0.9, 0.9, n)
    elif domain == "gt1":
        x = rng.uniform(1.2, 3.0, n)
    elif domain == "nonzero":
        x = rng.uniform(0.5, 2.0, n) * rng.choice([-1.0, 1.0], n)
    elif domain == "wide":
        x = rng.uniform(-8.0, 8.0, n)
    elif domain == "sorted":
        x = np.cumsum(rng.uniform(0.3, 1.0, n)) - n * 0.3
    elif domain == "prob":
        x = rng.uniform(0.05, 0.95, n)
    elif domain == "special":
        x = rng.standard_normal(n)
        specials = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0])
        x[: min(n, 5)] = specials[: min(n, 5)]
        rng.shuffle(x)
    elif domain == "some_nan":
        x = rng.standard_normal(n)
        x[rng.permutation(n)[: n // 5]] = np.nan
    elif domain == "int":
        return rng.integers(-5, 6, shape).astype(dtype)
    elif domain == "nonzero_int":
        return (rng.integers(1, 6, shape) * rng.choice([-1, 1], shape)).astype(dtype)
    elif domain == "nat":
        return rng.integers(0, 6, shape).astype(dtype)
    elif domain == "shift":  # shift amounts, the type's width and more included
        return rng.integers(0, 8 * np.dtype(dtype).itemsize + 3, shape).astype(dtype)
    elif domain == "byte":
        return rng.integers(0, 256, shape).astype(np.uint8)
    elif domain == "bool":
        return rng.random(shape) > 0.4
    elif domain == "sparse":
        return (rng.standard_normal(shape) * (rng.random(shape) > 0.5)).astype(dtype)
    else:
        raise ValueError(domain)
    return x.reshape(shape).astype(dtype)


def _leaves(out) -> list[np.ndarray]:
    if isinstance(out, (list, tuple)):
        return [leaf for item in out for leaf in _leaves(item)]
    return [np.asarray(out)]


def assert_same(expected, got, op: Op, dtype, where: str) -> None:
    exp_leaves, got_leaves = _leaves(expected), _leaves(got)
    assert len(exp_leaves) == len(got_leaves), f"{where}: {len(got_leaves)} outputs, expected " \
        f"{len(exp_leaves)}"
    low = dtype == np.float32 or any(e.dtype == np.float32 for e in exp_leaves)
    rtol = op.rtol or (2e-5 if low else 1e-9)
    for e, g in zip(exp_leaves, got_leaves):
        assert g.shape == e.shape, f"{where}: shape {g.shape}, expected {e.shape}"
        if op.check_dtype:
            assert g.dtype == e.dtype, f"{where}: dtype {g.dtype}, expected {e.dtype}"
        if e.dtype.kind in "biu":
            np.testing.assert_array_equal(g, e, err_msg=where)
        else:
            scale = max(1.0, float(np.max(np.abs(e[np.isfinite(e)]), initial=0.0)))
            np.testing.assert_allclose(g, e, rtol=rtol, atol=rtol * scale, equal_nan=True,
                                       err_msg=where)


# ---------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------

def _cases() -> list:
    cases = []
    for k, op in enumerate(TABLE):
        combos = [(d, s, v) for d in op.dtypes for s in op.shapes for v in op.variants]
        if not DEEP:
            extra = zlib.crc32(f"{op.name}{k}".encode()) % len(combos)
            combos = [combos[0]] + ([combos[extra]] if extra else [])
        for j, (dtype, shapes, variant) in enumerate(combos):
            ident = f"{op.name}#{k}-{np.dtype(dtype).name}-{shapes}-{variant}"
            cases.append(pytest.param(op, dtype, shapes, variant, j == 0, id=ident))
    return cases


def _inputs(op: Op, dtype, shapes, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = []
    for domain, shape in zip(op.domains, shapes):
        if domain in FLOAT_DOMAINS:
            arrays.append(draw(domain, shape, dtype if np.dtype(dtype).kind == "f"
                               else np.float64, rng))
        else:
            arrays.append(draw(domain, shape, dtype if np.dtype(dtype).kind in "iu"
                               else np.int64, rng))
    return arrays


def _jit_kwargs(op: Op, expected, variant: dict) -> dict:
    key = "size" if "size" in op.tags else "length" if "length" in op.tags else \
        SIZED.get(op.name) if op.name != "where" else None
    if key is None:
        return variant
    first = _leaves(expected)[0]
    size = first.shape[variant.get("axis") or 0] if first.ndim else 0
    return {**variant, key: size}


@pytest.mark.parametrize("op,dtype,shapes,variant,first", _cases())
def test_sweep(op: Op, dtype, shapes, variant, first):
    seed = zlib.crc32(op.name.encode())
    arrays = _inputs(op, dtype, shapes, seed)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = op.run(np, *arrays, **variant)
    assert_same(expected, op.run(jnp, *arrays, **variant), op, dtype, "eager")
    if op.name not in EAGER_ONLY:
        kwargs = _jit_kwargs(op, expected, variant)
        if op.name == "bincount" and "length" not in op.tags and "minlength" in kwargs:
            kwargs = {**kwargs, "length": _leaves(expected)[0].shape[0]}
        jitted = dj.jit(lambda *a: op.run(jnp, *a, **kwargs))(*arrays)
        assert_same(expected, jitted, op, dtype, "jit")
    floats = [i for i, (d, a) in enumerate(zip(op.domains, arrays))
              if d in FLOAT_DOMAINS and a.dtype == np.float64]
    if op.grad != "no" and floats and dtype == np.float64:
        check_derivatives(op, arrays, floats, variant, second_order=first or DEEP, seed=seed)
        if op.lists and arrays[0].ndim >= 1 and 0 in floats:
            check_list_input(op, arrays, variant)


# ---------------------------------------------------------------------------------------------
# Derivatives
# ---------------------------------------------------------------------------------------------

def _scalarized(op: Op, arrays, floats, variant, weights):
    """x -> sum over float outputs of out * weight, the float inputs as arguments."""
    def f(*xs):
        args = list(arrays)
        for i, x in zip(floats, xs):
            args[i] = x
        outs = [o for o in _traced_leaves(op.run(jnp, *args, **variant))
                if np.dtype(o.dtype).kind == "f"]
        total = 0.0
        for o, (finite, w) in zip(outs, weights):
            total = total + jnp.sum(jnp.where(finite, o, 0.0) * w)
        return total
    return f


def _traced_leaves(out) -> list:
    if isinstance(out, (list, tuple)):
        return [leaf for item in out for leaf in _traced_leaves(item)]
    return [jnp.asarray(out)]


def _dot(a, b) -> float:
    return float(sum(np.sum(np.asarray(x, np.float64) * np.asarray(y, np.float64))
                     for x, y in zip(a, b)))


def _close(got: float, want: float, rtol: float, what: str) -> None:
    assert abs(got - want) <= rtol * max(1.0, abs(got), abs(want)), (
        f"{what}: {got} but central differences give {want}")


def check_derivatives(op: Op, arrays, floats, variant, second_order: bool, seed: int) -> None:
    rng = np.random.default_rng(seed + 1)
    with np.errstate(all="ignore"):
        outs = [o for o in _leaves(op.run(np, *arrays, **variant)) if o.dtype.kind == "f"]
    # outputs that are not finite (NaN slices) are left out of the scalar being differentiated
    weights = [(np.isfinite(o), np.where(np.isfinite(o), rng.standard_normal(o.shape), 0.0))
               for o in outs]
    f = _scalarized(op, arrays, floats, variant, weights)
    xs = [arrays[i] for i in floats]
    vs = [rng.standard_normal(x.shape) for x in xs]
    argnums = tuple(range(len(xs)))
    grads = dj.grad(f, argnums=argnums)(*xs)
    if op.grad == "zero":
        for g in grads:
            assert not np.any(np.asarray(g)), f"{op.name}: gradient should be zero, got {g}"
        return
    eps = 1e-6

    def shifted(fn, sign):
        return fn(*[x + sign * eps * v for x, v in zip(xs, vs)])

    numeric = (float(shifted(f, 1)) - float(shifted(f, -1))) / (2 * eps)
    _close(_dot(grads, vs), numeric, 2e-5, f"{op.name}: grad . v")
    tangent = float(dj.jvp(f, tuple(xs), tuple(vs))[1])
    _close(tangent, numeric, 2e-5, f"{op.name}: jvp")
    if op.name not in EAGER_ONLY:
        jitted = dj.jit(dj.grad(f, argnums=argnums))(*xs)
        for g, h in zip(grads, jitted):
            np.testing.assert_allclose(h, g, rtol=1e-7, atol=1e-9,
                                       err_msg=f"{op.name}: jit(grad)")
    if not second_order:
        return
    us = [rng.standard_normal(x.shape) for x in xs]

    def grad_dot_u(*x):
        return _dot(dj.grad(f, argnums=argnums)(*x), us)

    def hvp(*x):
        return dj.grad(f, argnums=argnums)(*x)

    hv = dj.jvp(hvp, tuple(xs), tuple(vs))[1]
    numeric2 = (shifted(grad_dot_u, 1) - shifted(grad_dot_u, -1)) / (2 * eps)
    _close(_dot(hv, us), numeric2, 2e-4, f"{op.name}: jvp of grad (reverse, then forward)")

    def directional(*x):
        return dj.jvp(f, x, tuple(vs))[1]

    vhv = float(dj.jvp(directional, tuple(xs), tuple(vs))[1])
    numeric3 = (float(shifted(directional, 1)) - float(shifted(directional, -1))) / (2 * eps)
    _close(vhv, numeric3, 2e-4, f"{op.name}: jvp of jvp (forward twice)")


def check_list_input(op: Op, arrays, variant) -> None:
    """The first input given as a Python list of traced rows gives the same gradient."""
    rest = arrays[1:]

    def as_array(x):
        return jnp.sum(op.run(jnp, x, *rest, **variant))

    def as_list(x):
        return jnp.sum(op.run(jnp, [x[i] for i in range(x.shape[0])], *rest, **variant))

    x = arrays[0]
    np.testing.assert_allclose(dj.grad(as_list)(x), dj.grad(as_array)(x), rtol=1e-12)
    np.testing.assert_allclose(dj.jit(dj.grad(as_list))(x), dj.grad(as_array)(x), rtol=1e-9)


# ---------------------------------------------------------------------------------------------
# Functions of static arguments
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(STATIC_CALLS))
def test_static_functions(name):
    call = STATIC_CALLS[name]
    expected, got = call(np), call(jnp)
    if isinstance(expected, (np.dtype, type, bool, str)) or name == "einsum_path":
        assert got == expected, (name, got, expected)
        return
    exp_leaves, got_leaves = _leaves(expected), _leaves(got)
    assert len(exp_leaves) == len(got_leaves)
    for e, g in zip(exp_leaves, got_leaves):
        if e.dtype.kind == "O":  # NumPy's frompyfunc gives object arrays
            e = e.astype(g.dtype)
        assert g.shape == e.shape and g.dtype == e.dtype, (name, g, e)
        np.testing.assert_allclose(g, e, rtol=1e-12)
