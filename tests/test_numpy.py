"""dualjit.numpy against NumPy: values and dtypes, eagerly and under jit, on random inputs."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dualjit as dj
import dualjit.numpy as jnp

from .strategies import ALL_DTYPES, FLOAT_DTYPES, arrays, shapes

UNARY_FLOAT = ["exp", "log1p", "expm1", "sin", "cos", "tan", "tanh", "floor", "ceil", "rint",
               "sinh", "cosh", "arctan", "exp2"]
UNARY_POSITIVE = ["log", "sqrt", "log2", "log10", "reciprocal"]
UNARY_ANY = ["negative", "abs", "sign", "square"]
BINARY = ["add", "subtract", "multiply", "divide", "maximum", "minimum", "equal", "not_equal",
          "less", "less_equal", "greater", "greater_equal", "arctan2", "fmod", "power"]


def _check(name, our, ref, args, rtol=1e-6):
    with np.errstate(all="ignore"):
        expected = ref(*args)
    eager = our(*args)
    traced = dj.jit(our)(*args)
    for got in (eager, traced):
        got = np.asarray(got)
        assert got.dtype == np.asarray(expected).dtype, (name, got.dtype, expected.dtype)
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=1e-6, equal_nan=True,
                                   err_msg=name)


@pytest.mark.parametrize("name", UNARY_FLOAT + UNARY_POSITIVE + UNARY_ANY)
@given(x=arrays())
def test_unary(name, x):
    if name in UNARY_POSITIVE:
        x = np.abs(x) + np.asarray(0.5, x.dtype)
    rtol = 1e-4 if x.dtype == np.float32 else 1e-9
    _check(name, getattr(jnp, name), getattr(np, name), [x], rtol)


@pytest.mark.parametrize("name", BINARY)
@given(data=st.data())
def test_binary_broadcasting_and_promotion(name, data):
    s1, s2 = data.draw(st.sampled_from([((3,), (3,)), ((2, 3), (3,)), ((3, 1), (1, 4)),
                                        ((), (2, 3)), ((2, 1, 4), (3, 1))]))
    d1, d2 = data.draw(st.sampled_from(FLOAT_DTYPES)), data.draw(st.sampled_from(FLOAT_DTYPES))
    x = data.draw(arrays(dtype=d1, shape=s1))
    y = data.draw(arrays(dtype=d2, shape=s2))
    if name in ("power",):
        x = np.abs(x) + np.asarray(0.5, x.dtype)
    rtol = 1e-4 if np.float32 in (x.dtype, y.dtype) else 1e-9
    _check(name, getattr(jnp, name), getattr(np, name), [x, y], rtol)


@given(data=st.data())
def test_integer_arithmetic_matches_numpy(data):
    d1, d2 = data.draw(st.sampled_from([np.int32, np.int64])), data.draw(
        st.sampled_from([np.int32, np.int64]))
    x = data.draw(arrays(dtype=d1, shape=(5,)))
    y = data.draw(arrays(dtype=d2, shape=(5,)))
    y = np.where(y == 0, 3, y).astype(d2)
    for name in ["add", "subtract", "multiply", "floor_divide", "remainder", "maximum"]:
        _check(name, getattr(jnp, name), getattr(np, name), [x, y])
    _check("true_divide", jnp.divide, np.divide, [x, y])


@given(x=arrays(), scalar=st.sampled_from([2, 2.5, -1, True]))
def test_python_scalars_are_weak(x, scalar):
    for op in (jnp.add, jnp.multiply, jnp.subtract):
        _check(op.__name__, lambda a, op=op: op(a, scalar), lambda a, op=op: op(a, scalar), [x])


REDUCTIONS = ["sum", "mean", "max", "min", "prod", "var", "std", "all", "any", "argmax",
              "argmin"]


@pytest.mark.parametrize("name", REDUCTIONS)
@given(data=st.data())
def test_reductions(name, data):
    dtype = data.draw(st.sampled_from(ALL_DTYPES if name in ("all", "any", "sum", "max", "min")
                                      else FLOAT_DTYPES))
    x = data.draw(arrays(dtype=dtype, shape=(2, 3, 4)))
    axis = data.draw(st.sampled_from([None, 0, 1, -1] + ([] if name.startswith("arg")
                                                         else [(0, 2)])))
    keepdims = data.draw(st.booleans())
    rtol = 1e-4 if dtype == np.float32 else 1e-9

    def ours(a):
        return getattr(jnp, name)(a, axis=axis, keepdims=keepdims)

    def ref(a):
        return np.asarray(getattr(np, name)(a, axis=axis, keepdims=keepdims))

    _check(name, ours, ref, [x], rtol)


SHAPE_OPS = {
    "reshape": (lambda a: jnp.reshape(a, (4, -1)), lambda a: np.reshape(a, (4, -1))),
    "transpose": (lambda a: jnp.transpose(a, (2, 0, 1)), lambda a: np.transpose(a, (2, 0, 1))),
    "T": (lambda a: jnp.transpose(a), lambda a: a.T),
    "swapaxes": (lambda a: jnp.swapaxes(a, 0, 2), lambda a: np.swapaxes(a, 0, 2)),
    "moveaxis": (lambda a: jnp.moveaxis(a, 0, -1), lambda a: np.moveaxis(a, 0, -1)),
    "expand_dims": (lambda a: jnp.expand_dims(a, 1), lambda a: np.expand_dims(a, 1)),
    "squeeze": (lambda a: jnp.squeeze(a[:, :1]), lambda a: np.squeeze(a[:, :1])),
    "concatenate": (lambda a: jnp.concatenate([a, a], axis=2),
                    lambda a: np.concatenate([a, a], axis=2)),
    "stack": (lambda a: jnp.stack([a, a], axis=1), lambda a: np.stack([a, a], axis=1)),
    "split": (lambda a: jnp.split(a, [1, 3], axis=2)[1], lambda a: np.split(a, [1, 3], axis=2)[1]),
    "tile": (lambda a: jnp.tile(a, (2, 1, 1)), lambda a: np.tile(a, (2, 1, 1))),
    "repeat": (lambda a: jnp.repeat(a, 2, axis=1), lambda a: np.repeat(a, 2, axis=1)),
    "flip": (lambda a: jnp.flip(a, 2), lambda a: np.flip(a, 2)),
    "where": (lambda a: jnp.where(a > 0, a, -1.0), lambda a: np.where(a > 0, a, -1.0).astype(a.dtype)),
    "clip": (lambda a: jnp.clip(a, -0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5)),
    "astype": (lambda a: jnp.astype(a, np.int32), lambda a: a.astype(np.int32)),
    "broadcast_to": (lambda a: jnp.broadcast_to(a[:1], (3, 3, 4)),
                     lambda a: np.broadcast_to(a[:1], (3, 3, 4))),
}


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
@given(x=arrays(shape=(2, 3, 4)))
def test_shape_ops(name, x):
    ours, ref = SHAPE_OPS[name]
    _check(name, ours, ref, [x])


INDEXES = [(1,), (-1,), (slice(None), 2), (slice(None, None, 2),), (slice(None, None, -1),),
           (Ellipsis, 1), (None, 0), (slice(1, None), None, slice(None, None, -2)),
           (np.array([1, 0, 1]),), (slice(None), np.array([[0, 2], [1, 1]])),
           (np.array([0, 1]), np.array([2, 0])), (np.array([0, 1]), slice(None), np.array([3, 0])),
           (0, slice(None), np.array([1, 2])), (np.array([True, False]),), (-2, -1, -4)]


@pytest.mark.parametrize("k", range(len(INDEXES)))
def test_indexing(k):
    x = np.arange(24.0).reshape(2, 3, 4)
    key = INDEXES[k]
    _check(f"getitem {key}", lambda a: a[key] if not isinstance(a, np.ndarray) else jnp.getitem(a, key),
           lambda a: a[key], [x])


def test_index_errors():
    x = np.arange(6.0)
    with pytest.raises(IndexError, match="out of bounds"):
        dj.jit(lambda a: a[7])(x)
    with pytest.raises(IndexError, match="too many indices"):
        dj.jit(lambda a: a[0, 0])(x)


PRODUCTS = {
    "matmul": ((3, 4), (4, 2), jnp.matmul, np.matmul), "matvec": ((3, 4), (4,), jnp.matmul, np.matmul),
    "batched": ((2, 3, 4), (4, 5), jnp.matmul, np.matmul), "dot": ((4,), (4,), jnp.dot, np.dot),
    "dot2": ((3, 4), (4, 2), jnp.dot, np.dot), "outer": ((3,), (4,), jnp.outer, np.outer),
    "tensordot": ((2, 3, 4), (3, 4, 5), lambda a, b: jnp.tensordot(a, b, 2),
                  lambda a, b: np.tensordot(a, b, 2)),
    "einsum_mm": ((3, 4), (4, 2), lambda a, b: jnp.einsum("ij,jk->ik", a, b),
                  lambda a, b: np.einsum("ij,jk->ik", a, b)),
    "einsum_batch": ((2, 3, 4), (2, 4, 5), lambda a, b: jnp.einsum("bij,bjk->bki", a, b),
                     lambda a, b: np.einsum("bij,bjk->bki", a, b)),
    "einsum_implicit": ((3, 4), (5, 4), lambda a, b: jnp.einsum("ij,kj", a, b),
                        lambda a, b: np.einsum("ij,kj", a, b)),
    "einsum_sum": ((3, 4), (4,), lambda a, b: jnp.einsum("ij,j->", a, b),
                   lambda a, b: np.einsum("ij,j->", a, b)),
}


@pytest.mark.parametrize("name", sorted(PRODUCTS))
def test_products(name):
    sa, sb, ours, ref = PRODUCTS[name]
    rng = np.random.default_rng(0)
    _check(name, ours, ref, [rng.standard_normal(sa), rng.standard_normal(sb)], 1e-10)


def test_creation_functions():
    assert jnp.zeros((2, 3)).shape == (2, 3) and jnp.ones(3, np.int32).dtype == np.int32
    np.testing.assert_array_equal(jnp.full((2,), 7.0), [7.0, 7.0])
    np.testing.assert_array_equal(jnp.arange(5), np.arange(5))
    np.testing.assert_allclose(jnp.linspace(0, 1, 5), np.linspace(0, 1, 5))
    np.testing.assert_array_equal(jnp.eye(3), np.eye(3))
    out = dj.jit(lambda x: (jnp.zeros_like(x), jnp.ones_like(x), jnp.full_like(x, 2.0)))(
        np.ones(3, np.float32))
    assert [o.dtype for o in out] == [np.float32] * 3
    np.testing.assert_array_equal(out[2], [2.0, 2.0, 2.0])


def test_broadcasting_is_explicit_in_the_ir():
    fn = dj.make_ir(lambda a, b: a + b)(np.ones((3, 1), np.float32), np.ones((4,), np.float64))
    names = [e.primitive.name for e in fn.eqns]
    assert names.count("broadcast_in_dim") == 2 and "convert_element_type" in names


@given(x=arrays(shape=(3,)), s=shapes)
def test_shape_mismatch_messages(x, s):
    y = np.ones(s)
    try:
        expected_ok = np.broadcast_shapes(x.shape, s)
    except ValueError:
        expected_ok = None
    if expected_ok is None:
        with pytest.raises(ValueError, match=r"add: shapes .* do not broadcast"):
            jnp.add(x, y)
    else:
        assert np.shape(jnp.add(x, y)) == expected_ok
