"""Every integer primitive at every integer width against exact Python-int arithmetic."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dualjit import ir
from dualjit.ir import Eqn, Function, Literal, TensorType, Var, abstract_eval, eval_function
from dualjit.ir import primitives as P
from dualjit.ir.parser import parse_function

from .. import integers as I

PRIMITIVES = {**P.binary_primitives, **P.unary_primitives, **P.bit_primitives,
              **P.compare_primitives}


def run(name, *args, **params):
    """Apply one primitive through the interpreter, checking its shape rule's output type."""
    prim = PRIMITIVES.get(name) or ir.registry[name]
    ins = [Var(ir.type_of_array(np.asarray(a))) for a in args]
    outs = [Var(t) for t in abstract_eval(prim, [v.type for v in ins], params)]
    fn = Function(ins, [], [Eqn(prim, ins, outs, params)], outs)
    result = eval_function(fn, *args)
    for r, v in zip(result, outs):
        assert r.dtype == v.type.dtype.np and r.shape == v.type.shape
    return result if prim.multiple_results else result[0]


def expected(fn, dtype, *columns):
    return np.array([I.wrap(fn(*vals), dtype) for vals in zip(*map(np.ndarray.tolist, columns))],
                    dtype)


def edge_pairs(dtype):
    """Every pair of edge values, as two arrays."""
    e = I.edges(dtype)
    return np.array([a for a in e for _ in e], dtype), np.array(e * len(e), dtype)


def check_binary(name, x, y):
    dtype = x.dtype.type
    if name in I.COMPARE:
        want = np.array([I.COMPARE[name](a, b) for a, b in zip(x.tolist(), y.tolist())], bool)
    else:
        want = expected(lambda a, b: I.BINARY[name](a, b, dtype), dtype, x, y)
    np.testing.assert_array_equal(run(name, x, y), want)


def check_unary(name, x):
    dtype = x.dtype.type
    np.testing.assert_array_equal(run(name, x), expected(lambda a: I.UNARY[name](a, dtype),
                                                         dtype, x))


@pytest.mark.parametrize("dtype", I.INT_DTYPES)
@pytest.mark.parametrize("name", sorted(I.BINARY) + sorted(I.COMPARE))
def test_binary_on_every_pair_of_edge_values(name, dtype):
    check_binary(name, *edge_pairs(dtype))


@pytest.mark.parametrize("name", sorted(I.BINARY) + sorted(I.COMPARE))
@given(data=st.data())
def test_binary_on_random_values(name, data):
    dtype = data.draw(st.sampled_from(I.INT_DTYPES))
    x, y = data.draw(I.int_arrays(dtype, 16)), data.draw(I.int_arrays(dtype, 16))
    check_binary(name, x, np.where(np.arange(16) % 4 == 0, x, y))  # some ties


@pytest.mark.parametrize("dtype", I.INT_DTYPES)
@pytest.mark.parametrize("name", sorted(I.UNARY))
def test_unary_on_edge_values(name, dtype):
    check_unary(name, np.array(I.edges(dtype), dtype))


@pytest.mark.parametrize("name", sorted(I.UNARY))
@given(data=st.data())
def test_unary_on_random_values(name, data):
    dtype = data.draw(st.sampled_from(I.INT_DTYPES))
    check_unary(name, data.draw(I.int_arrays(dtype, 16)))


@given(data=st.data())
def test_integer_pow_wraps(data):
    dtype = data.draw(st.sampled_from(I.INT_DTYPES))
    x = data.draw(I.int_arrays(dtype, 16))
    y = data.draw(st.integers(-3, 70))
    want = expected(lambda a: I.integer_pow(a, y, dtype), dtype, x)
    np.testing.assert_array_equal(run("integer_pow", x, y=y), want)


@pytest.mark.parametrize("src", I.INT_DTYPES + [np.bool_])
@pytest.mark.parametrize("dst", I.ALL_DTYPES)
def test_convert_from_integers(src, dst):
    x = np.array(I.edges(src), src) if src != np.bool_ else np.array([True, False])
    out = run("convert_element_type", x, new_dtype=ir.as_dtype(dst))
    values = [int(v) for v in x.tolist()]
    if dst == np.bool_:
        want = [v != 0 for v in values]
    elif np.dtype(dst).kind == "f":
        want = [I.int_to_float(v, dst) for v in values]
    else:
        want = [I.wrap(v, dst) for v in values]
    np.testing.assert_array_equal(out, np.array(want, dst))


FLOAT_EDGES = [0.0, -0.0, 0.5, -0.5, 1.9, -1.9, 127.5, 128.0, -128.5, -129.0, 255.9, 256.0,
               65535.5, 2.0**31, -2.0**31 - 1, 2.0**32, 2.0**63, -2.0**63, 2.0**64, 1e30,
               -1e30, np.inf, -np.inf, np.nan]


@pytest.mark.parametrize("src", [np.float32, np.float64])
@pytest.mark.parametrize("dst", I.INT_DTYPES)
def test_convert_float_to_int_truncates_and_saturates(src, dst):
    x = np.array(FLOAT_EDGES, src)
    want = np.array([I.float_to_int(float(v), dst) for v in x], dst)
    np.testing.assert_array_equal(run("convert_element_type", x, new_dtype=ir.as_dtype(dst)), want)


def test_issue_conversions_to_float():
    big = np.array([3_000_000_000], np.uint32)
    assert run("convert_element_type", big, new_dtype=ir.DType.float32)[0] == np.float32(3e9)
    top = np.array([2**64 - 1], np.uint64)
    assert run("convert_element_type", top, new_dtype=ir.DType.float64)[0] == 1.8446744073709552e19


@given(data=st.data())
def test_reductions_wrap_and_compare_at_width(data):
    dtype = data.draw(st.sampled_from(I.INT_DTYPES))
    x = data.draw(I.int_arrays(dtype, size=5))
    values = x.tolist()
    assert run("reduce_sum", x, axes=(0,)) == I.wrap(sum(values), dtype)
    assert run("reduce_prod", x, axes=(0,)) == I.wrap(math.prod(values), dtype)
    assert run("reduce_max", x, axes=(0,)) == max(values)
    assert run("reduce_min", x, axes=(0,)) == min(values)
    assert run("argmax", x, axis=0, index_dtype=ir.DType.int64) == values.index(max(values))
    assert run("argmin", x, axis=0, index_dtype=ir.DType.int32) == values.index(min(values))


@given(data=st.data())
def test_dot_general_wraps(data):
    dtype = data.draw(st.sampled_from(I.INT_DTYPES))
    a = data.draw(I.int_arrays(dtype, size=6)).reshape(2, 3)
    b = data.draw(I.int_arrays(dtype, size=6)).reshape(3, 2)
    out = run("dot_general", a, b, dimension_numbers=(((1,), (0,)), ((), ())))
    rows, cols = a.tolist(), b.T.tolist()
    want = [[I.wrap(sum(p * q for p, q in zip(r, c)), dtype) for c in cols] for r in rows]
    np.testing.assert_array_equal(out, np.array(want, dtype))


@pytest.mark.parametrize("index_dtype", I.INT_DTYPES)
def test_indices_of_every_width_clamp(index_dtype):
    info = np.iinfo(index_dtype)
    raw = [0, 2, info.max, info.min, 1]
    idx = np.array(raw, index_dtype)
    data = np.arange(4.0) * 10
    want = data[[min(max(v, 0), 3) for v in raw]]
    np.testing.assert_array_equal(run("gather", data, idx, axis=0), want)
    for v in raw:
        start = np.array(v, index_dtype)
        got = run("dynamic_slice", data, start, slice_sizes=(2,))
        np.testing.assert_array_equal(got, data[min(max(v, 0), 2):][:2])
        branches = tuple(_constant_function(float(k)) for k in range(3))
        assert run("cond", start, branches=branches)[0] == min(max(v, 0), 2)


def _constant_function(value):
    return Function([], [], [], [Literal(value, "f64")])


@pytest.mark.parametrize("dtype", I.INT_DTYPES)
def test_iota_wraps_at_width(dtype):
    out = run("iota", dtype=ir.as_dtype(dtype), shape=(300,), dimension=0)
    np.testing.assert_array_equal(out, np.array([I.wrap(i, dtype) for i in range(300)], dtype))


@pytest.mark.parametrize("dtype", I.INT_DTYPES)
def test_types_and_literals_print_and_parse(dtype):
    d = ir.as_dtype(dtype)
    info = np.iinfo(dtype)
    x, y = Var(TensorType(d, (3,))), Var(TensorType(d, (3,)))
    z = Var(TensorType(d, (3,)))  # an identity conversion, to print a dtype param
    fn = Function([x], [], [Eqn(P.add_p, [x, Literal(info.max, d)], [y]),
                            Eqn(P.convert_element_type_p, [y], [z], {"new_dtype": d})], [z, y])
    text = fn.text
    assert f"{info.max}:{d.short}" in text and f"{d.short}[3]" in text
    assert f"new_dtype={d.short}" in text
    again = parse_function(text)
    assert again == fn
    assert ir.as_dtype(d.short) is d and ir.as_dtype(np.dtype(dtype).name) is d


def test_literals_out_of_range_are_refused():
    with pytest.raises(OverflowError):
        Literal(256, "u8")
    with pytest.raises(OverflowError):
        Literal(-1, "u64")
    assert Literal(2**64 - 1, "u64").value == 2**64 - 1


@pytest.mark.parametrize("name", ["shift_left", "population_count", "clz"])
def test_bit_operations_refuse_floats_and_bool(name):
    prim = P.bit_primitives[name]
    for dtype in ("f32", "bool"):
        n = 2 if name.startswith("shift") else 1
        with pytest.raises(ir.IRError, match=name):
            abstract_eval(prim, [TensorType(dtype, (2,))] * n, {})
