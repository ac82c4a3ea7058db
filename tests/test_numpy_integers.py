"""dualjit.numpy's integer functions at every width against NumPy: shifts, bit counts, gcd and
lcm, bitwise logic, astype, iinfo — eager, under jit, and as operators of traced arrays."""

import itertools
import warnings

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp

from .integers import ALL_DTYPES, INT_DTYPES, edges

FUNCTIONS = ["left_shift", "right_shift", "gcd", "lcm", "bitwise_and", "bitwise_or",
             "bitwise_xor"]


def edge_pairs(dtype):
    e = edges(dtype)
    return np.array([a for a in e for _ in e], dtype), np.array(e * len(e), dtype)


def numpy_results(x, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [getattr(np, name)(x, y) for name in FUNCTIONS] + [
            np.bitwise_count(x), np.invert(x), x << 3, 100 >> (y % 8)]


def ours(x, y):
    return [getattr(jnp, name)(x, y) for name in FUNCTIONS] + [
        jnp.bitwise_count(x), ~x, x << 3, 100 >> (y % 8)]


def assert_same(got, want):
    for g, w in zip(got, want):
        assert np.asarray(g).dtype == w.dtype
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_every_function_on_edge_pairs_eager_and_jit(dtype):
    x, y = edge_pairs(dtype)
    want = numpy_results(x, y)
    assert_same(ours(x, y), want)
    assert_same(dj.jit(ours)(x, y), want)


def test_mixed_widths_promote_as_numpy():
    for a, b in itertools.product(INT_DTYPES, repeat=2):
        x, y = np.array(edges(a)[:5], a), np.array(edges(b)[-5:], b)
        if np.result_type(x, y).kind == "f":  # uint64 with a signed type: NumPy refuses too
            with pytest.raises(TypeError, match="integer operands"):
                jnp.left_shift(x, y)
            continue
        want = numpy_results(x, y)[:len(FUNCTIONS)]
        assert_same(ours(x, y)[:len(FUNCTIONS)], want)


def test_shifts_of_bools_promote_to_int8_and_floats_are_refused():
    t, f = np.array([True, False]), np.array([True, True])
    for name in ("left_shift", "right_shift"):
        got = getattr(jnp, name)(t, f)
        assert got.dtype == getattr(np, name)(t, f).dtype
        with pytest.raises(TypeError, match=name):
            getattr(jnp, name)(np.array([1.0]), 2)
    for name in ("gcd", "lcm"):
        with pytest.raises(TypeError, match=name):
            getattr(jnp, name)(t, f)


def test_shift_by_python_int_out_of_range_raises_as_numpy():
    x = np.array([1, 2], np.uint8)
    with pytest.raises(OverflowError):
        np.left_shift(x, 300)
    with pytest.raises(OverflowError, match="left_shift"):
        dj.jit(lambda v: v << 300)(x)


@pytest.mark.parametrize("src", ALL_DTYPES)
def test_astype_to_every_width(src):
    if np.dtype(src).kind == "f":
        x = np.array([0.0, -0.0, 1.9, -1.9, 100.5, -100.5, 127.0, 255.0], src)  # in range
    elif src == np.bool_:
        x = np.array([True, False])
    else:
        x = np.array(edges(src), src)
    for dst in ALL_DTYPES:
        if np.dtype(src).kind == "f" and np.dtype(dst).kind == "u":
            x = np.abs(x)  # negative floats to unsigned are out of range (undefined in NumPy)
        if np.dtype(src).kind == "f" and dst in (np.int8,):
            x = np.clip(x, -128, 127)
        want = x.astype(dst)
        assert_same([jnp.astype(x, dst)], [want])
        assert_same([dj.jit(lambda v, d=dst: v.astype(d))(x)], [want])


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_iinfo(dtype):
    assert jnp.iinfo(dtype).max == np.iinfo(dtype).max
    assert jnp.iinfo(dtype).min == np.iinfo(dtype).min

    def f(x):
        assert jnp.iinfo(x).bits == np.iinfo(dtype).bits  # works on a traced array
        return x

    dj.jit(f)(np.zeros(2, dtype))
