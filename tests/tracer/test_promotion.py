"""Dtype promotion against NumPy 2 (np.result_type, NEP 50): every pair, weak Python scalars."""

import itertools
import warnings

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp

from ..integers import ALL_DTYPES, INT_DTYPES, UNSIGNED


def sample(dtype):
    return np.array([1, 0, 1], dtype) if dtype != np.bool_ else np.array([True, False, True])


@pytest.mark.parametrize("left", ALL_DTYPES)
def test_every_pair_promotes_as_numpy(left):
    for right in ALL_DTYPES:
        x, y = sample(left), sample(right)
        want = np.result_type(x, y)
        assert jnp.result_type(x, y) == want, (left, right)
        traced = dj.make_ir(lambda a, b: jnp.where(a > 0, a, b))(x, y)
        assert traced.out_types[0].dtype.np == want
        if want != np.bool_:
            traced = dj.make_ir(lambda a, b: a * b)(x, y)
            assert traced.out_types[0].dtype.np == want
            np.testing.assert_array_equal(jnp.multiply(x, y), np.multiply(x, y))
            assert jnp.multiply(x, y).dtype == want


def test_the_named_cases():
    cases = [(np.uint64, np.int64, np.float64), (np.uint8, np.int8, np.int16),
             (np.uint16, np.int16, np.int32), (np.uint32, np.int32, np.int64),
             (np.uint8, np.float32, np.float32), (np.int16, np.float32, np.float32),
             (np.int32, np.float32, np.float64), (np.uint64, np.bool_, np.uint64)]
    for a, b, want in cases:
        fn = dj.make_ir(lambda x, y: x + y)(np.zeros(2, a), np.zeros(2, b))
        assert fn.out_types[0].dtype.np == np.dtype(want), (a, b)


@pytest.mark.parametrize("dtype", ALL_DTYPES[1:])
@pytest.mark.parametrize("scalar", [3, 2.5, True])
def test_python_scalars_are_weak(dtype, scalar):
    x = sample(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = (x + scalar).dtype
    assert jnp.result_type(x, scalar) == want
    assert dj.make_ir(lambda a: a + scalar)(x).out_types[0].dtype.np == want
    assert dj.make_ir(lambda a: scalar - a)(x).out_types[0].dtype.np == (scalar - x).dtype


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_out_of_range_python_ints_raise_as_numpy_2(dtype):
    info = np.iinfo(dtype)
    x = np.array([1, 2], dtype)
    too_big = [info.max + 1] + ([-1] if dtype in UNSIGNED else [info.min - 1])
    for value in too_big:
        with pytest.raises(OverflowError):
            np.add(x, value)
        with pytest.raises(OverflowError, match="add"):
            jnp.add(x, value)
        with pytest.raises(OverflowError, match="add"):
            dj.jit(lambda a, v=value: a + v)(x)
    np.testing.assert_array_equal(dj.jit(lambda a: a + info.max)(x), x + info.max)
    with pytest.raises(OverflowError):
        dj.jit(lambda a: a + 300)(np.uint8(3))  # np.uint8(3) + 300 raises too


@pytest.mark.parametrize("value,dtype", [(2**63, np.uint64), (2**64 - 1, np.uint64),
                                         (2**63 - 1, np.int64), (-2**63, np.int64)])
def test_python_int_arguments_take_numpys_dtype(value, dtype):
    assert np.asarray(value).dtype == dtype
    f = dj.jit(lambda x: x)
    out = f(value)
    assert out.dtype == dtype and int(out) == value
    assert dj.jit(lambda x: x * 1.0)(value) == float(value)


def test_python_int_beyond_uint64_is_refused_with_a_reason():
    with pytest.raises(TypeError, match="outside the int64 and uint64 ranges"):
        dj.jit(lambda x: x + 1)(2**64)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_sum_and_prod_accumulate_as_numpy(dtype):
    x = sample(dtype)
    for ours, theirs in [(jnp.sum, np.sum), (jnp.prod, np.prod)]:
        got = dj.jit(ours)(x)
        assert got.dtype == theirs(x).dtype, (ours, dtype)
        np.testing.assert_array_equal(got, theirs(x))


def test_mixed_width_arithmetic_values_match_numpy():
    rng = np.random.default_rng(3)
    for a, b in itertools.product(INT_DTYPES, repeat=2):
        x = rng.integers(np.iinfo(a).min, np.iinfo(a).max, 8, dtype=a, endpoint=True)
        y = rng.integers(np.iinfo(b).min, np.iinfo(b).max, 8, dtype=b, endpoint=True)
        ops = (np.add, np.subtract, np.multiply, np.maximum, np.less)
        got = dj.jit(lambda p, q: [getattr(jnp, op.__name__)(p, q) for op in ops])(x, y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for g, op in zip(got, ops):
                want = op(x, y)
                assert g.dtype == want.dtype
                np.testing.assert_array_equal(g, want)
