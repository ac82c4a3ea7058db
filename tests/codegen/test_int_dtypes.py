"""Integer dtypes of every width under jit: native code against the interpreter, the issue's
wrong answers as regressions, repeat calls with every dtype."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dualjit as dj
import dualjit.numpy as jnp
from dualjit import ir, lax
from dualjit.codegen import compile_function
from dualjit.codegen.schedule import plan_function
from dualjit.ir import Eqn, Function, Var, abstract_eval, eval_function
from dualjit.ir import primitives as P
from dualjit.tracer.core import bind

from .. import integers as I

ELEMENTWISE = {**P.binary_primitives, **P.compare_primitives, **P.bit_primitives,
               **{n: P.unary_primitives[n] for n in ("neg", "abs", "sign", "not")}}


def single(prim, in_types, params=None):
    ins = [Var(t) for t in in_types]
    outs = [Var(t) for t in abstract_eval(prim, in_types, params or {})]
    return Function(ins, [], [Eqn(prim, ins, outs, params or {})], outs)


def assert_native_matches_interpreter(fn, *args):
    assert not plan_function(fn).host_steps, fn  # every integer width is compiled
    native = compile_function(fn)(*args)
    reference = eval_function(fn, *args)
    for n, r in zip(native, reference):
        assert n.dtype == r.dtype and n.shape == r.shape
        np.testing.assert_array_equal(n, r)


def supported(prim, dtype, arity):
    t = ir.TensorType(ir.as_dtype(dtype), (1,))
    try:
        abstract_eval(prim, [t] * arity, {})
    except ir.IRError:
        return False
    return True


def _pairs(dtype):
    e = I.edges(dtype)
    return np.array([a for a in e for _ in e], dtype), np.array(e * len(e), dtype)


@pytest.mark.parametrize("dtype", I.INT_DTYPES)
def test_every_integer_primitive_on_edge_pairs(dtype):
    x, y = _pairs(dtype)
    t = ir.type_of_array(x)
    for name, prim in sorted(ELEMENTWISE.items()):
        arity = 1 if name in P.unary_primitives or name in ("population_count", "clz") else 2
        if supported(prim, dtype, arity):
            assert_native_matches_interpreter(single(prim, [t] * arity), *[x, y][:arity])


@pytest.mark.parametrize("src", I.INT_DTYPES + [np.bool_, np.float32, np.float64])
def test_conversions_between_every_pair_of_dtypes(src):
    if np.dtype(src).kind == "f":
        x = np.array([0.0, -0.0, 1.9, -1.9, 200.5, -200.5, 7e4, -7e4, 3e9, -3e9, 2.0**63, 1e30,
                      -1e30, np.inf, -np.inf, np.nan], src)  # out of range: saturates
    elif src == np.bool_:
        x = np.array([True, False])
    else:
        x = np.array(I.edges(src), src)
    for dst in I.ALL_DTYPES:
        fn = single(P.convert_element_type_p, [ir.type_of_array(x)],
                    {"new_dtype": ir.as_dtype(dst)})
        assert_native_matches_interpreter(fn, x)


@given(data=st.data())
def test_random_integer_programs(data):
    """A chain of integer operations at one width, with literals and reductions."""
    dtype = data.draw(st.sampled_from(I.INT_DTYPES))
    x, y = data.draw(I.int_arrays(dtype, 8)), data.draw(I.int_arrays(dtype, 8))
    names = data.draw(st.lists(st.sampled_from(["add", "sub", "mul", "div", "rem", "max", "and",
                                                "xor", "shift_left", "shift_right_logical"]),
                               min_size=1, max_size=6))
    k = dtype(data.draw(st.sampled_from(I.edges(dtype))))

    def f(a, b):
        for name in names:
            a, b = bind(ELEMENTWISE[name], a, b), a
        return a, bind(ELEMENTWISE["mul"], a, k), jnp.sum(a), jnp.max(b)

    assert not plan_function(dj.make_ir(f)(x, y)).host_steps
    native = dj.jit(f)(x, y)
    reference = _interpreted(f, x, y)
    for n, r in zip(native, reference):
        assert n.dtype == r.dtype
        np.testing.assert_array_equal(n, r)


def _interpreted(f, *args):
    fn = dj.make_ir(f)(*args)
    return eval_function(fn, *args)


# -- issue 10, item 7: wrong answers under jit only ---------------------------------------------

def test_uint32_times_float_keeps_the_unsigned_value():
    x = np.array([3_000_000_000], np.uint32)
    out = dj.jit(lambda v: v * 1.0)(x)
    assert out.dtype == np.float64 and out[0] == 3e9


def test_uint64_max_stays_unsigned():
    x = np.array([2**64 - 1], np.uint64)
    same = dj.jit(lambda v: v + 0)(x)
    assert same.dtype == np.uint64 and int(same[0]) == 2**64 - 1
    assert dj.jit(lambda v: v * 1.0)(x)[0] == 1.8446744073709552e19


def test_python_int_two_to_the_63():
    out = dj.jit(lambda v: v * 1)(2**63)
    assert out.dtype == np.uint64 and int(out) == 2**63


@pytest.mark.parametrize("index,branch", [(np.int64(2**32 + 1), 2), (np.int64(2**31), 2),
                                          (np.int64(-2**40), 0), (np.uint64(2**64 - 1), 2),
                                          (np.uint32(2**32 - 1), 2), (np.int8(-128), 0),
                                          (2**63, 2), (np.uint8(1), 1)])
def test_switch_index_is_clamped_not_narrowed(index, branch):
    branches = [lambda: 0.0, lambda: 1.0, lambda: 2.0]
    assert dj.jit(lambda i: lax.switch(i, branches))(index) == branch
    assert lax.switch(index, branches) == branch


# -- loops with narrow integer carries (what dj.random's threefry needs) -------------------------

def _rotl32(v, r):
    return ((v << r) | (v >> (32 - r))) & 0xFFFFFFFF


def test_uint32_mixing_loop_matches_python():
    def mix(key, n):
        def body(i, carry):
            a, b = carry
            a = a + b  # wraps at 2**32
            b = bind(P.or_p, bind(P.shift_left_p, b, np.uint32(13)),
                     bind(P.shift_right_logical_p, b, np.uint32(19)))
            return a, b ^ a
        return lax.fori_loop(0, n, body, key)

    key = (np.array([0xDEADBEEF, 1], np.uint32), np.array([0x12345678, 2**32 - 1], np.uint32))
    assert not plan_function(dj.make_ir(mix, static_argnums=1)(key, 20)).host_steps
    got = dj.jit(mix, static_argnums=1)(key, 20)
    want = []
    for a, b in zip(*[k.tolist() for k in key]):
        for _ in range(20):
            a = (a + b) & 0xFFFFFFFF
            b = _rotl32(b, 13) ^ a
        want.append((a, b))
    assert got[0].dtype == np.uint32
    np.testing.assert_array_equal(np.stack(got, 1), np.array(want, np.uint32))


# -- repeat calls: the fast path must check the exact dtype -------------------------------------

def test_repeat_calls_with_every_dtype():
    f = dj.jit(lambda v: v * 2 + 1)
    arrays = [np.array([100, 3], d) if d != np.bool_ else np.array([True, False])
              for d in I.ALL_DTYPES]
    for _ in range(3):  # first call compiles, later calls take the fast path
        for a in arrays:
            if a.dtype == np.bool_:
                continue  # bool * 2 promotes to int64, as in NumPy
            want = a * 2 + 1
            got = f(a)
            assert got.dtype == want.dtype, a.dtype
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(f(a[:1]), want[:1])
            np.testing.assert_array_equal(f(a[0]), want[0])
