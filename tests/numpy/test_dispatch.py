"""The eager dispatch machinery's shortcuts against the general rules they stand for.

dualjit.numpy keeps dtype promotion results per tuple of operand dtypes and weak kinds, skips
NumPy's broadcast when the shapes are one shape, evaluates elementwise primitives on plain
arrays and Python scalars in one function, and sets NumPy's all-ignore error state from a
cached object. Each must give exactly what the general path gives: the same dtypes, values
(bit for bit), errors and messages, and the same error state around every call.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

import dualjit.numpy as jnp
from dualjit.ir import DType, TensorType, as_dtype, impl_rules
from dualjit.ir import primitives as P
from dualjit.numpy import _core
from dualjit.tracer.core import trace_flat

DTYPES = [np.dtype(d.np) for d in DType]
ODD_DTYPES = [np.dtype(">f4"), np.dtype(">i8"), np.dtype(np.float16), np.dtype(np.longlong),
              np.dtype(np.intc), np.dtype("U3"), np.dtype("M8[s]"), np.dtype(object)]
# Python scalars, with the ints at and beyond the edges of int64 and uint64 (where NumPy's
# answer depends on the value: 2**63 alone is uint64, 2**64 has no NumPy integer type)
PY_SCALARS = [True, False, 0, 1, -1, 300, -(2**63), 2**63 - 1, 2**63, 2**64 - 1, 2**64,
              -(2**63) - 1, 10**30, 0.0, -0.0, 2.5, 1e300, math.inf, math.nan, 0j, 1.5 - 2j]


def _arrays():
    return [np.zeros(2, d) for d in DTYPES + ODD_DTYPES] + [d.type(0) for d in DTYPES]


def _outcome(fn, *args):
    """fn(*args), or the type and message of the exception it raises."""
    try:
        return ("value", fn(*args))
    except Exception as e:  # noqa: BLE001 (the errors are compared, whatever they are)
        return ("error", type(e), str(e))


def _same_outcome(got, want):
    if want[0] == "value" and got[0] == "value":
        return got[1] == want[1] and type(got[1]) is type(want[1])
    return got == want


def _check_cached_against_rule(args):
    want = _outcome(_core.uncached_result_type, *args)
    first = _outcome(jnp.result_type, *args)
    again = _outcome(jnp.result_type, *args)  # (from the cache, when the first filled it)
    assert _same_outcome(first, want), (args, first, want)
    assert _same_outcome(again, want), (args, again, want)


@pytest.fixture
def empty_cache():
    _core._promotions.clear()
    yield
    _core._promotions.clear()


def test_cached_promotion_of_single_operands(empty_cache):
    for a in _arrays() + PY_SCALARS:
        _check_cached_against_rule((a,))


def test_cached_promotion_of_every_pair(empty_cache):
    """Every pair of strong dtypes (arrays and NumPy scalars) and weak Python scalars, in both
    orders; a scalar's value never changes the answer except where NumPy's does (ints outside
    int64 meet other operands' entries too, from the cache, filled by in-range values)."""
    operands = _arrays() + PY_SCALARS
    for a, b in itertools.product(operands, repeat=2):
        _check_cached_against_rule((a, b))


def test_cached_promotion_of_triples(empty_cache):
    operands = [np.zeros(1, d) for d in DTYPES] + [True, 7, 2**63, 0.5, 1j]
    for a, b, c in itertools.product(operands, repeat=3):
        _check_cached_against_rule((a, b, c))


def test_cached_promotion_of_weak_tracers(empty_cache):
    """A weakly typed traced value promotes as a Python scalar of its kind (its stand-in)."""
    weak_types = [TensorType(d, ()) for d in (DType.bool, DType.int64, DType.float64,
                                               DType.complex128)]
    others = [np.zeros(2, d) for d in DTYPES] + [True, 3, 2.5, 1j]
    seen = []

    def body(*tracers):
        for t in tracers:
            for other in others:
                for args in ((t, other), (other, t), (t,)):
                    want = _outcome(_core.uncached_result_type, *args)
                    for _ in range(2):
                        seen.append((_outcome(jnp.result_type, *args), want, args))
        return list(tracers)

    trace_flat(body, weak_types, weak=[True] * len(weak_types))
    strong = TensorType(DType.int8, ())
    trace_flat(body, [strong])  # (a strong tracer: its own dtype)
    assert seen
    for got, want, args in seen:
        assert _same_outcome(got, want), (args, got, want)


def test_weak_and_strong_operands_have_different_cache_keys(empty_cache):
    x8 = np.zeros(3, np.int8)
    assert jnp.result_type(x8, 5) == np.int8  # weak: the array's type
    assert jnp.result_type(x8, np.int64(5)) == np.int64  # strong: promotes
    assert jnp.result_type(x8, np.zeros(3, np.int64)) == np.int64
    assert jnp.result_type(x8, 5) == np.int8
    assert jnp.result_type(2**63) == np.uint64  # value-dependent: not keyed as weak int
    assert jnp.result_type(5) == np.int64
    with pytest.raises(TypeError, match="object"):
        jnp.result_type(2**64)


# ---------------------------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shapes", [[(3,), (3,)], [(2, 3)] * 3, [()], [(0,), (0,)],
                                    [(4, 1), (4, 1)], [(2, 3), (3,)], [(1,), (5,)],
                                    [(), (3,), (3,)], [(2, 3), ()], [(), ()], [(0,), ()],
                                    [(), (1,), ()]])
def test_joint_shape_is_numpy_broadcast(shapes):
    got = _core.joint_shape("op", *shapes)
    assert got == np.broadcast_shapes(*shapes) and type(got) is tuple
    assert all(type(d) is int for d in got)


@pytest.mark.parametrize("shapes", [[(-1,), (-1,)], [(2, 3), (4,)], [(2.0,), (2.0,)],
                                    [(), (-2,)], [(3,), (), (4,)]])
def test_joint_shape_refuses_what_numpy_refuses(shapes):
    with pytest.raises((ValueError, TypeError)) as numpy_error:
        np.broadcast_shapes(*shapes)
    with pytest.raises(numpy_error.type):
        _core.joint_shape("op", *shapes)


def test_joint_shape_of_nothing_and_of_sizes():
    assert _core.joint_shape("op") == ()
    assert _core.joint_shape("op", 3, (3,)) == (3,)


# ---------------------------------------------------------------------------------------------
# Elementwise primitives on concrete operands: the one-function path against the general one
# ---------------------------------------------------------------------------------------------

BINARY = [jnp.add, jnp.subtract, jnp.multiply, jnp.maximum, jnp.minimum, jnp.equal, jnp.less,
          jnp.not_equal, jnp.greater_equal, jnp.bitwise_and, jnp.bitwise_or, jnp.logical_and,
          jnp.logical_xor]
EDGE_F = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, 5e-324, 3.4e38, 1.7e308, -2.5, 1.0, 7.0]


def _operands(dtype, shape):
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        values = [True, False]
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        values = [0, 1, info.max, info.min, info.max // 3, 7]
    elif dtype.kind == "c":
        values = [complex(a, b) for a, b in zip(EDGE_F, reversed(EDGE_F))]
    else:
        with np.errstate(all="ignore"):
            values = list(np.array(EDGE_F).astype(dtype))
    n = math.prod(shape)
    return np.resize(np.array(values, dtype), n).reshape(shape)


def _general(fn, *args):
    """fn by the general path: promote, then bind (the one-function path switched off)."""
    original = _core._concrete_elementwise
    _core._concrete_elementwise = lambda *a: None
    try:
        return _outcome(fn, *args)
    finally:
        _core._concrete_elementwise = original


def _same(got, want):
    if got[0] != want[0]:
        return False
    if got[0] == "error":
        return got == want
    g, w = got[1], want[1]
    return (type(g) is type(w) and g.dtype == w.dtype and g.shape == w.shape
            and g.tobytes() == w.tobytes())


CASE_DTYPES = [np.bool_, np.int8, np.uint8, np.int32, np.int64, np.uint64, np.float32,
               np.float64, np.complex64]


@pytest.mark.parametrize("fn", BINARY, ids=lambda f: f.__name__)
def test_concrete_elementwise_matches_the_general_path(fn):
    shapes = [((5,), (5,)), ((2, 3), (2, 3)), ((0,), (0,)), ((), ()), ((2, 3), (3,)),
              ((4, 1), (4, 3)), ((), (3,))]
    scalars = [True, 0, -1, 300, 2**63 - 1, 2**63, 2**64, 2.5, -0.0, math.nan, 1j]
    checked = 0
    for dx, dy in itertools.product(CASE_DTYPES, repeat=2):
        for sx, sy in shapes:
            x, y = _operands(dx, sx), _operands(dy, sy)
            want = _general(fn, x, y)
            assert _same(_outcome(fn, x, y), want), (fn.__name__, x, y)
            checked += 1
        x = _operands(dx, (4,))
        for s in scalars:
            for args in ((x, s), (s, x)):
                assert _same(_outcome(fn, *args), _general(fn, *args)), (fn.__name__, args)
    for a, b in itertools.product(scalars, repeat=2):
        assert _same(_outcome(fn, a, b), _general(fn, a, b)), (fn.__name__, a, b)
    assert checked


def test_concrete_elementwise_keeps_numpy_values():
    """An independent reference: NumPy's own ufuncs on the promoted operands."""
    x = _operands(np.float32, (12,))
    y = _operands(np.float32, (12,))[::-1].copy()
    with np.errstate(all="ignore"):
        for fn, ref in ((jnp.add, np.add), (jnp.multiply, np.multiply),
                        (jnp.maximum, np.maximum), (jnp.subtract, np.subtract)):
            got, want = fn(x, y), ref(x, y)
            assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
        got = jnp.add(x, 2.5)
        assert got.dtype == np.float32 and got.tobytes() == (x + np.float32(2.5)).tobytes()
        got = jnp.add(np.int8([100, -3]), 27)  # (weak: int8, wrapping as NumPy's int8 add)
        assert got.dtype == np.int8 and got.tolist() == [127, 24]


def test_concrete_elementwise_errors_name_the_operation():
    with pytest.raises(OverflowError, match="^add: Python integer 300 out of bounds for int8"):
        jnp.add(np.zeros(3, np.int8), 300)
    with pytest.raises(ValueError, match="add: shapes"):
        jnp.add(np.zeros(3), np.zeros(4))
    cases = [(np.zeros(3, np.int8), 300), (np.zeros(3, np.uint8), -1),
             (np.zeros(3, np.int64), 2**64), (2**64, 1), (np.zeros(3), np.zeros(4)),
             (np.zeros(3, "U1"), 1.0), (np.zeros(2, np.uint64), 2**64 - 1)]
    for args in cases:
        got, want = _outcome(jnp.add, *args), _general(jnp.add, *args)
        assert _same(got, want), (args, got, want)


def test_odd_array_dtypes_take_the_general_conversion():
    """Byte-swapped and half-precision arrays are converted as before (to native float32)."""
    swapped = np.array([1.5, -2.0, np.inf], ">f4")
    half = np.array([1.5, -2.0, np.inf], np.float16)
    for x in (swapped, half):
        for got in (jnp.add(x, x), jnp.exp(x), jnp.negative(x)):
            assert got.dtype == np.float32 and got.dtype.isnative
        np.testing.assert_array_equal(jnp.add(x, x), np.float32([3.0, -4.0, np.inf]))


# ---------------------------------------------------------------------------------------------
# dtypes and NumPy's error state
# ---------------------------------------------------------------------------------------------

def test_as_dtype_shortcut_agrees_with_the_rule():
    for npd in DTYPES + ODD_DTYPES[:5]:
        d = as_dtype(npd)
        assert d.np == npd.newbyteorder("=") or (npd == np.float16 and d is DType.float32)


def test_quiet_implementations_ignore_errors_and_restore_the_state():
    probe = P._quiet(lambda: (np.geterr(), np.getbufsize(), np.geterrcall()))

    def callback(kind, flag):
        pass

    old_size = np.getbufsize()
    try:
        with np.errstate(all="raise", call=callback):
            np.setbufsize(16384)
            errors, size, call = probe()
            assert set(errors.values()) == {"ignore"}
            assert size == 16384 and call is callback
            assert np.geterr()["divide"] == "raise"
            nested = P._quiet(lambda: probe())()
            assert set(nested[0].values()) == {"ignore"}
            assert np.geterr()["divide"] == "raise"
            got = jnp.log(np.zeros(2))  # no FloatingPointError: IEEE results
            assert np.all(got == -np.inf)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert np.isnan(jnp.log(np.array([-1.0]))[0])
            assert np.all(jnp.divide(np.ones(2), np.zeros(2)) == np.inf)
    finally:
        np.setbufsize(old_size)


def test_quiet_implementations_reset_the_state_on_errors():
    before = np.geterr()
    failing = P._quiet(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failing()
    assert np.geterr() == before


# ---------------------------------------------------------------------------------------------
# Implementations and values on the concrete path
# ---------------------------------------------------------------------------------------------

def _old_select(p, t, f):
    """select's implementation before (NumPy's where, then a cast to the operands' type)."""
    return np.asarray(np.where(p, t, f)).astype(
        np.result_type(np.asarray(t).dtype, np.asarray(f).dtype))


def test_select_gives_what_where_then_cast_gave():
    pred = np.array([True, False, True, False])
    branches = [np.float32([1.5, -0.0, np.nan, 2.0]), np.float64([0.1, -0.0, np.inf, 3.0]),
                np.int8([1, 2, 3, 4]), np.float32(0.1), np.float64(0.1), 0.1, 2, True,
                np.array(0.1, np.float32), np.zeros(4, bool)]
    select = impl_rules[P.select_p]
    for t, f in itertools.product(branches, repeat=2):
        for p in (pred, np.array(True), np.zeros((2, 4), bool)):
            want = _outcome(_old_select, p, t, f)
            got = _outcome(select, p, t, f)
            assert _same(got, want), (p, t, f)


@pytest.mark.parametrize("prim,ref", [
    (P.reduce_sum_p, lambda x, axes: np.sum(x, axis=axes, dtype=x.dtype)),
    (P.reduce_prod_p, lambda x, axes: np.prod(x, axis=axes, dtype=x.dtype)),
    (P.reduce_max_p, lambda x, axes: np.max(x, axis=axes, initial=P._identity_max(x.dtype))),
    (P.reduce_min_p, lambda x, axes: np.min(x, axis=axes, initial=P._identity_min(x.dtype)))],
    ids=["sum", "prod", "max", "min"])
def test_reductions_are_numpy_reductions(prim, ref):
    impl = impl_rules[prim]
    for dtype in (np.float32, np.float64, np.int8, np.uint64, np.bool_, np.complex64):
        if dtype == np.complex64 and prim in (P.reduce_max_p, P.reduce_min_p):
            continue
        for shape in ((5,), (3, 4), (0,), (2, 0), (), (2, 3, 4)):
            x = _operands(dtype, shape)
            for axes in {(), tuple(range(len(shape))), (0,) if shape else ()}:
                want = _outcome(lambda: np.asarray(ref(x, axes)))
                got = _outcome(lambda: impl(x, axes=axes))
                assert _same(got, want), (prim, dtype, shape, axes)
    assert _same(_outcome(lambda: impl(2.5, axes=())), _outcome(lambda: np.asarray(
        ref(np.asarray(2.5), ()))))


def test_concrete_values_are_the_eager_values():
    """bind's shortcut for NumPy scalars and arrays hands the implementation what
    _eager_value does (np.float64 and np.complex128 stay scalars: they are Python's too)."""
    from dualjit.tracer.core import _concrete_value, _eager_value

    values = [d.type(1) for d in DTYPES] + [np.zeros(2, d) for d in DTYPES + ODD_DTYPES[:5]]
    values += [True, 3, 2.5, 1j, np.array(2.5)]
    for v in values:
        got, want = _concrete_value(v), _eager_value(v)
        assert type(got) is type(want) and np.asarray(got).dtype == np.asarray(want).dtype
        assert np.asarray(got).tobytes() == np.asarray(want).tobytes()
