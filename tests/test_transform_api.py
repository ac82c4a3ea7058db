"""JAX's smaller API pieces: lax additions, x.at[], tree_util paths, eval_shape,
linear_transpose, closure_convert, jit keywords/static_argnames/lower().compile()/cost_analysis,
host callbacks, keyword arguments to transforms, dj.nn activations and initializers."""

import math

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp
from dualjit import lax, tree_util

from .autodiff.check import check_grads

rng = np.random.default_rng(0)

# ---------------------------------------------------------------------------------------------
# lax
# ---------------------------------------------------------------------------------------------


def test_associative_scan_matches_sequential_prefixes():
    for n in (1, 2, 5, 8, 13):
        x = rng.standard_normal(n)
        np.testing.assert_allclose(lax.associative_scan(jnp.add, x), np.cumsum(x), rtol=1e-12)
        np.testing.assert_allclose(lax.associative_scan(jnp.add, x, reverse=True),
                                   np.cumsum(x[::-1])[::-1], rtol=1e-12)
    a, b = rng.random(9), rng.standard_normal(9)  # affine maps compose associatively

    def compose(p, q):
        return p[0] * q[0], p[1] * q[0] + q[1]
    z, prev = [], 0.0
    for ai, bi in zip(a, b):
        prev = ai * prev + bi
        z.append(prev)
    np.testing.assert_allclose(lax.associative_scan(compose, (a, b))[1], z, rtol=1e-12)
    m = rng.standard_normal((3, 6))
    np.testing.assert_allclose(dj.jit(lambda m: lax.associative_scan(jnp.maximum, m, axis=1))(m),
                               np.maximum.accumulate(m, axis=1))
    check_grads(lambda v: lax.associative_scan(jnp.multiply, v), [rng.random(6) + 0.5], order=1)


def test_reduce_map_and_dynamic_slicing():
    x = rng.standard_normal((4, 5))
    np.testing.assert_allclose(lax.reduce(x, 0.0, jnp.add, (1,)), x.sum(1), rtol=1e-12)
    np.testing.assert_allclose(lax.reduce(x, -np.inf, lambda a, b: jnp.maximum(a, b), (0, 1)),
                               x.max())
    pair = lax.reduce((x, np.abs(x)), (0.0, 0.0), lambda a, b: (a[0] + b[0], a[1] + b[1]), (0,))
    np.testing.assert_allclose(pair[1], np.abs(x).sum(0), rtol=1e-12)
    np.testing.assert_allclose(lax.map(lambda r: jnp.sum(r ** 2), x), (x ** 2).sum(1))
    np.testing.assert_allclose(lax.map(lambda r: r * 2, x, batch_size=3), x * 2)
    i = np.int64(2)
    np.testing.assert_array_equal(lax.dynamic_slice(x, (1, i), (2, 3)), x[1:3, 2:5])
    np.testing.assert_array_equal(lax.dynamic_index_in_dim(x, 3, axis=0, keepdims=False), x[3])
    np.testing.assert_array_equal(lax.dynamic_slice_in_dim(x, 9, 2, axis=1), x[:, 3:5])  # clamped
    updated = lax.dynamic_update_slice(x, np.zeros((2, 2)), (3, 4))
    expected = x.copy()
    expected[2:4, 3:5] = 0  # start clamped so the update fits
    np.testing.assert_array_equal(updated, expected)
    np.testing.assert_array_equal(lax.dynamic_update_index_in_dim(x, np.ones(5), 1, 0)[1],
                                  np.ones(5))


def test_pad_select_dot_general_sort_top_k_cumulative():
    x = np.arange(1.0, 4.0)
    np.testing.assert_array_equal(lax.pad(x, 0.0, [(1, 2, 1)]), [0, 1, 0, 2, 0, 3, 0, 0])
    np.testing.assert_array_equal(lax.pad(x, -1.0, [(-1, 0, 0)]), [2, 3])
    p = np.array([True, False, True])
    np.testing.assert_array_equal(lax.select(p, x, -x), [1, -2, 3])
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 5))
    np.testing.assert_allclose(lax.dot_general(a, b, (((2,), (1,)), ((0,), (0,)))), a @ b,
                               rtol=1e-12)
    v = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])
    np.testing.assert_array_equal(lax.sort(v), np.sort(v))
    keys, vals = lax.sort_key_val(v, np.arange(8))
    np.testing.assert_array_equal(vals, np.argsort(v, kind="stable"))
    top, idx = lax.top_k(v, 3)
    np.testing.assert_array_equal(top, [9, 6, 5])
    np.testing.assert_array_equal(idx, [5, 7, 4])
    ties, tie_idx = lax.top_k(np.array([[2, 7, 7, 1]]), 2)
    np.testing.assert_array_equal(tie_idx, [[1, 2]])  # ties: the lower index first
    g = dj.grad(lambda w: jnp.sum(lax.top_k(w, 2)[0] ** 2))(v)
    np.testing.assert_array_equal(g, np.where(np.isin(np.arange(8), [5, 7]), 2 * v, 0))
    m = rng.standard_normal((3, 4))
    np.testing.assert_allclose(lax.cumsum(m, axis=1), np.cumsum(m, 1), rtol=1e-12)
    np.testing.assert_allclose(lax.cumprod(m, axis=0, reverse=True),
                               np.cumprod(m[::-1], 0)[::-1], rtol=1e-12)
    np.testing.assert_array_equal(lax.cummax(m, axis=1), np.maximum.accumulate(m, 1))
    np.testing.assert_array_equal(lax.cummin(m, axis=1), np.minimum.accumulate(m, 1))
    np.testing.assert_array_equal(lax.optimization_barrier((x, m))[1], m)


def test_cumlogsumexp_does_not_overflow_and_differentiates():
    m = rng.standard_normal((3, 5)) * 3
    m[1] += 1000.0  # exp would overflow
    np.testing.assert_allclose(lax.cumlogsumexp(m, axis=1), np.logaddexp.accumulate(m, 1),
                               rtol=1e-12)
    np.testing.assert_allclose(dj.jit(lambda v: lax.cumlogsumexp(v, axis=0, reverse=True))(m),
                               np.logaddexp.accumulate(m[::-1], 0)[::-1], rtol=1e-12)
    # d/dx_j of log sum_{i<=k} exp(x_i), summed over k: a softmax of each prefix
    row = m[0]
    expected = sum(np.where(np.arange(5) <= k, np.exp(row - np.logaddexp.reduce(row[:k + 1])), 0)
                   for k in range(5))
    np.testing.assert_allclose(dj.grad(lambda v: jnp.sum(lax.cumlogsumexp(v)))(row), expected,
                               rtol=1e-12)
    check_grads(lambda v: lax.cumlogsumexp(v, axis=1), (m[:, :4] * 0.1,), order=2)


def _reduce_precision_bits(x, exponent_bits, mantissa_bits):
    """XLA's reduce_precision on the bit pattern: round the mantissa field to nearest even,
    then overflow to inf / flush to zero by the exponent field (an independent reference)."""
    uint, src_e, src_m = {4: (np.uint32, 8, 23), 8: (np.uint64, 11, 52)}[x.itemsize]
    one = uint(1)
    bits = x.view(uint).copy()
    if mantissa_bits < src_m:
        drop = uint(src_m - mantissa_bits)
        bias = (one << (drop - one)) - one + ((bits >> drop) & one)
        bits = (bits + bias) & ~((one << drop) - one)
    if exponent_bits < src_e:
        sign = bits & (one << uint(8 * x.itemsize - 1))
        exponent = (bits >> uint(src_m)) & uint(2 ** src_e - 1)
        src_bias, reduced_bias = 2 ** (src_e - 1) - 1, 2 ** (exponent_bits - 1) - 1
        inf = np.array(np.inf, x.dtype).view(uint)
        bits = np.where(exponent > src_bias + reduced_bias, sign | inf, bits)
        bits = np.where(exponent <= src_bias - reduced_bias, sign, bits)
    return np.where(np.isnan(x), x, bits.view(x.dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reduce_precision_matches_the_bit_level_rounding(dtype):
    uint = np.uint32 if dtype == np.float32 else np.uint64
    x = np.random.default_rng(3).integers(0, np.iinfo(uint).max, 3000, uint).view(dtype)
    x = np.concatenate([x, np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.5, 2.5, -3.5, 65504,
                                     65520, 6.1e-5, 5.9e-5, 5.3e-5, 1e-8, 3.4e38], dtype)])
    for e, m in [(5, 10), (8, 7), (4, 3), (5, 2), (8, 0), (11, 10), (8, 23), (11, 52), (6, 30)]:
        expected = _reduce_precision_bits(x, e, m)
        for got in (lax.reduce_precision(x, e, m),
                    dj.jit(lambda v, e=e, m=m: lax.reduce_precision(v, e, m))(x)):
            assert got.dtype == dtype
            np.testing.assert_array_equal(got, expected, err_msg=f"exponent {e}, mantissa {m}")
            np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))
    v = np.array([1.1, 2.3, -0.7])  # straight-through derivative, batched like a loop
    np.testing.assert_allclose(dj.grad(lambda w: jnp.sum(lax.reduce_precision(w, 8, 7) * w))(v),
                               _reduce_precision_bits(v, 8, 7) + v, rtol=1e-15)
    np.testing.assert_array_equal(dj.vmap(lambda w: lax.reduce_precision(w, 5, 2))(v),
                                  _reduce_precision_bits(v, 5, 2))
    with pytest.raises(TypeError, match="reduce_precision"):
        lax.reduce_precision(np.arange(3), 5, 2)


# ---------------------------------------------------------------------------------------------
# x.at[]
# ---------------------------------------------------------------------------------------------

def _numpy_at(x, index, op, v):
    out = x.copy()
    {"set": lambda: out.__setitem__(index, v), "add": lambda: np.add.at(out, index, v),
     "multiply": lambda: np.multiply.at(out, index, v), "min": lambda: np.minimum.at(out, index, v),
     "max": lambda: np.maximum.at(out, index, v)}[op]()
    return out


INDICES = [1, (slice(None), 2), (Ellipsis, slice(1, None, 2)), (np.array([0, 2, 0]), 1),
           (np.array([[1], [2]]), np.array([0, 3])), (slice(None, None, -1), -1), x_mask := (
               np.arange(12).reshape(3, 4) % 5 == 0), (None, 1, slice(0, 2))]


@pytest.mark.parametrize("op", ["set", "add", "multiply", "min", "max"])
@pytest.mark.parametrize("k", range(len(INDICES)))
def test_at_updates_match_numpy_for_static_and_traced_indices(op, k):
    index = INDICES[k]
    x = rng.standard_normal((3, 4))
    selected = x[index].shape
    v = rng.standard_normal(selected)
    expected = _numpy_at(x, index, op, v) if op != "set" or not isinstance(index, tuple) or \
        not any(isinstance(i, np.ndarray) and i.dtype != bool for i in index) else None
    got = dj.jit(lambda x, v: getattr(x.at[index], op)(v))(x, v)
    if expected is not None:
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    arrays = [i for i in (index if isinstance(index, tuple) else (index,))
              if isinstance(i, np.ndarray) and i.dtype != bool]
    if arrays and op != "set":  # the same update with the index arrays traced
        def traced(x, v, *idx):
            it = iter(idx)
            full = tuple(next(it) if isinstance(i, np.ndarray) and i.dtype != bool else i
                         for i in (index if isinstance(index, tuple) else (index,)))
            return getattr(x.at[full], op)(v)
        np.testing.assert_allclose(dj.jit(traced)(x, v, *arrays), expected, rtol=1e-12)


def test_at_semantics_out_of_bounds_duplicates_get_and_gradients():
    x = np.arange(5.0)
    idx = np.array([1, 7, -1, -9])
    np.testing.assert_array_equal(dj.jit(lambda x, i: x.at[i].set(-1.0))(x, idx),
                                  [0, -1, 2, 3, -1])  # out-of-bounds updates are dropped
    np.testing.assert_array_equal(jnp.at(x)[idx].add(10.0),
                                  [0, 11, 2, 3, 14])
    np.testing.assert_array_equal(dj.jit(lambda x, i: x.at[i].add(1.0, mode="clip"))(x, idx),
                                  [1, 2, 2, 3, 6])
    np.testing.assert_array_equal(jnp.at(x)[np.array([0, 0, 2])].set(np.array([5.0, 6.0, 7.0])),
                                  [6, 1, 7, 3, 4])  # duplicates: the last update wins
    np.testing.assert_array_equal(dj.jit(lambda x, i: x.at[i].get(mode="fill", fill_value=-5.0)
                                         )(x, idx), [1, -5, 4, -5])
    np.testing.assert_array_equal(dj.jit(lambda x: x.at[2:].get())(x), [2, 3, 4])
    m = np.arange(12.0).reshape(3, 4)
    mask = m % 5 == 0  # an n-d boolean mask consumes n axes, reading and updating
    np.testing.assert_array_equal(dj.jit(lambda m: m[mask])(m), m[mask])
    np.testing.assert_array_equal(jnp.at(x)[1:3].apply(lambda v: v * 10), [0, 10, 20, 3, 4])
    check_grads(lambda x, v: x.at[np.array([0, 2, 0])].multiply(v), [rng.random(4) + 0.5,
                                                                      rng.random(3) + 0.5])
    check_grads(lambda x, v: x.at[1:].set(v * v), [rng.random(4), rng.random(3)])
    check_grads(lambda x, v: x.at[np.array([1, 3])].max(v), [rng.random(4), rng.random(2) + 0.3])
    per_row = dj.vmap(lambda r, i: r.at[i].add(100.0))(np.zeros((3, 4)), np.array([0, 3, 1]))
    np.testing.assert_array_equal(per_row, 100 * np.eye(4)[[0, 3, 1]])


# ---------------------------------------------------------------------------------------------
# tree_util, eval_shape, linear_transpose, closure_convert
# ---------------------------------------------------------------------------------------------

def test_tree_util_paths():
    from collections import namedtuple

    Point = namedtuple("Point", "x y")
    tree = {"a": [1, (2, 3)], "b": Point(4, {"c": 5})}
    pairs, treedef = tree_util.tree_flatten_with_path(tree)
    assert [tree_util.keystr(p) for p, _ in pairs] == [
        "['a'][0]", "['a'][1][0]", "['a'][1][1]", "['b'].x", "['b'].y['c']"]
    assert [v for _, v in pairs] == [1, 2, 3, 4, 5] and treedef == dj.tree_structure(tree)
    doubled = tree_util.tree_map_with_path(lambda p, v: (tree_util.keystr(p), v * 2), tree)
    assert doubled["b"].y["c"] == ("['b'].y['c']", 10)
    assert tree_util.tree_reduce(lambda a, b: a + b, tree) == 15
    assert tree_util.all_leaves([1, 2.0]) and not tree_util.all_leaves([(1,)])


def test_eval_shape_linear_transpose_closure_convert():
    out = dj.eval_shape(lambda a, b: {"y": a @ b, "s": jnp.sum(a, axis=0)},
                        dj.ShapeDtypeStruct((3, 4), np.float32), np.ones((4, 2), np.float32))
    assert out["y"] == dj.ShapeDtypeStruct((3, 2), np.float32)
    assert out["s"] == dj.ShapeDtypeStruct((4,), np.float32)
    a = rng.standard_normal((2, 3))

    def linear(x, y):
        return a @ x + 2.0 * jnp.sum(y)
    f_t = dj.linear_transpose(linear, np.zeros(3), np.zeros(4))
    ct = rng.standard_normal(2)
    ct_x, ct_y = f_t(ct)
    np.testing.assert_allclose(ct_x, a.T @ ct, rtol=1e-12)
    np.testing.assert_allclose(ct_y, np.full(4, 2 * ct.sum()), rtol=1e-12)
    with pytest.raises(TypeError, match="not linear"):
        dj.linear_transpose(lambda x: x * x, np.zeros(3))

    def outer(w):
        f = lambda x: jnp.sum(jnp.sin(x) * w)  # noqa: E731 (closes over a traced value)
        g, consts = dj.closure_convert(f, np.ones(3))
        assert len(consts) == 1
        return g(np.full(3, 0.5), *consts)
    np.testing.assert_allclose(dj.grad(outer)(np.arange(3.0)), np.sin(np.full(3, 0.5)))


# ---------------------------------------------------------------------------------------------
# jit: keywords, static_argnames, donate, lower().compile(), cost_analysis
# ---------------------------------------------------------------------------------------------

def test_jit_keyword_arguments_and_static_argnames():
    calls = []

    def f(x, n, scale=1.0, *, mode="sin"):
        calls.append(1)
        for _ in range(n):
            x = getattr(jnp, mode)(x)
        return x * scale
    g = dj.jit(f, static_argnames=("n", "mode"))
    x = rng.standard_normal(3)
    np.testing.assert_allclose(g(x, 2, scale=3.0), np.sin(np.sin(x)) * 3, rtol=1e-12)
    np.testing.assert_allclose(g(x, n=2, scale=3.0, mode="cos"), np.cos(np.cos(x)) * 3,
                               rtol=1e-12)
    before = len(calls)
    g(x, 2, scale=5.0)  # a new value of a traced keyword: no retrace
    assert len(calls) == before
    g(x, 3, scale=5.0)  # a new static value: a retrace
    assert len(calls) == before + 1
    with pytest.raises(TypeError, match="not hashable"):
        g(x, 2, mode=["sin"])
    h = dj.jit(lambda x, y: x - y, donate_argnums=0)
    np.testing.assert_array_equal(h(np.ones(2), y=np.ones(2)), np.zeros(2))
    assert h.donate_argnums == (0,)


def test_lower_compile_and_cost_analysis():
    a, b = rng.standard_normal((64, 32)), rng.standard_normal((32, 16))
    lowered = dj.jit(lambda a, b: jnp.sum(jnp.tanh(a @ b))).lower(a, b)
    compiled = lowered.compile()
    np.testing.assert_allclose(compiled(a, b), np.tanh(a @ b).sum(), rtol=1e-12)
    cost = compiled.cost_analysis()
    assert cost["flops"] == 2 * 64 * 16 * 32 + 64 * 16 + 64 * 16  # product, tanh, sum
    assert cost["transcendentals"] == 64 * 16
    assert cost["bytes accessed"] >= 8 * (64 * 32 + 32 * 16 + 1)
    assert sum(k["flops"] for k in cost["kernels"]) == cost["flops"]
    with pytest.raises(TypeError, match="structure"):
        compiled((a, b))


# ---------------------------------------------------------------------------------------------
# Host callbacks
# ---------------------------------------------------------------------------------------------

def test_debug_callbacks_run_once_per_execution_under_every_transform(capsys):
    seen = []

    def f(x):
        dj.debug.callback(lambda v: seen.append(np.array(v)), x)
        dj.debug.print("sum={s:.3f}", s=jnp.sum(x))
        return jnp.sum(jnp.sin(x))
    x = np.array([0.5, 1.0])
    f(x)
    dj.jit(f)(x)
    dj.grad(f)(x)
    dj.jit(dj.grad(f))(x)
    assert len(seen) == 4 and all(np.array_equal(s, x) for s in seen)
    assert capsys.readouterr().out.count("sum=1.500") == 4
    seen.clear()
    dj.vmap(f)(np.stack([x, 2 * x]))
    assert [list(s) for s in seen] == [[0.5, 1.0], [1.0, 2.0]]  # once per member, in order
    assert "debug_callback" in dj.make_ir(dj.grad(f))(x).text  # not dropped by dce

    def twice(x):  # two identical prints are two prints, and an unused loop keeps its print
        dj.debug.print("x={}", x)
        dj.debug.print("x={}", x)
        lax.fori_loop(0, 2, lambda i, c: (dj.debug.print("i={}", i), c)[1], 0.0)
        return x
    capsys.readouterr()
    dj.jit(twice)(np.float64(1.0))
    out = capsys.readouterr().out
    assert out.count("x=1.0") == 2 and "i=0" in out and "i=1" in out


def test_pure_callback_values_vmap_methods_and_no_derivative():
    def host_cumsum(v):
        return np.cumsum(v, axis=-1)

    def f(x, vmap_method=None):
        return dj.pure_callback(host_cumsum, dj.ShapeDtypeStruct(x.shape, x.dtype), x,
                                vmap_method=vmap_method)
    x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(dj.jit(f)(x[0]), np.cumsum(x[0]), rtol=1e-12)
    for method in (None, "sequential", "expand_dims", "broadcast_all"):
        np.testing.assert_allclose(dj.vmap(lambda r: f(r, method))(x), np.cumsum(x, 1),
                                   rtol=1e-12)
    with pytest.raises(TypeError, match="custom_jvp"):
        dj.grad(lambda v: jnp.sum(f(v)))(x[0])
    with pytest.raises(TypeError, match="shape"):
        dj.jit(lambda v: dj.pure_callback(lambda a: a[:2], dj.ShapeDtypeStruct((3,), v.dtype),
                                          v))(np.ones(3))


# ---------------------------------------------------------------------------------------------
# Keyword arguments to transforms; dj.nn
# ---------------------------------------------------------------------------------------------

def test_transforms_take_keyword_arguments():
    def f(x, scale=1.0):
        return jnp.sum(jnp.sin(x) * scale)
    x = rng.standard_normal(3)
    np.testing.assert_allclose(dj.grad(f)(x, scale=2.0), 2 * np.cos(x), rtol=1e-12)
    np.testing.assert_allclose(dj.value_and_grad(f)(x, scale=2.0)[0], 2 * np.sin(x).sum())
    np.testing.assert_allclose(dj.jacfwd(f)(x, scale=2.0), 2 * np.cos(x), rtol=1e-12)
    np.testing.assert_allclose(dj.hessian(f)(x, scale=2.0), np.diag(-2 * np.sin(x)),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dj.checkpoint(f)(x, scale=3.0), 3 * np.sin(x).sum())


ACTIVATIONS = {
    "relu6": lambda x: np.clip(x, 0, 6), "hard_tanh": lambda x: np.clip(x, -1, 1),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.01 * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "celu": lambda x: np.maximum(x, 0) + np.expm1(np.minimum(x, 0)),
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
    "gelu": lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
    "silu": lambda x: x / (1 + np.exp(-x)), "swish": lambda x: x / (1 + np.exp(-x)),
    "log_sigmoid": lambda x: -np.log1p(np.exp(-x)),
    "hard_sigmoid": lambda x: np.clip(x + 3, 0, 6) / 6,
    "hard_silu": lambda x: x * np.clip(x + 3, 0, 6) / 6, "soft_sign": lambda x: x / (1 + abs(x)),
    "mish": lambda x: x * np.tanh(np.log1p(np.exp(x))),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_match_their_formulas_and_differentiate(name):
    x = np.linspace(-4, 8, 25) + 0.013  # (off the kinks)
    np.testing.assert_allclose(getattr(dj.nn, name)(x), ACTIVATIONS[name](x), rtol=1e-12,
                               atol=1e-15)
    check_grads(getattr(dj.nn, name), [x], order=1)


def test_exact_gelu_glu_one_hot_standardize():
    special = pytest.importorskip("scipy.special")
    x = np.linspace(-5, 5, 41)
    np.testing.assert_allclose(dj.nn.gelu(x, approximate=False),
                               x * 0.5 * special.erfc(-x / math.sqrt(2)), rtol=1e-12, atol=1e-15)
    y = rng.standard_normal((2, 6))
    np.testing.assert_allclose(dj.nn.glu(y), y[:, :3] / (1 + np.exp(-y[:, 3:])), rtol=1e-12)
    np.testing.assert_array_equal(dj.nn.one_hot(np.array([2, 0, 5]), 4),
                                  [[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(dj.nn.one_hot(np.array([1, 0]), 3, axis=0), [[0, 1], [1, 0],
                                                                                [0, 0]])
    z = dj.nn.standardize(y, axis=1)
    np.testing.assert_allclose(z, (y - y.mean(1, keepdims=True)) / np.sqrt(
        y.var(1, keepdims=True) + 1e-5), rtol=1e-12)


def test_initializers():
    init = dj.nn.initializers
    k = dj.random.key(0)
    shape = (400, 300)
    for make, variance in [(init.glorot_normal, 2 / 700), (init.glorot_uniform, 2 / 700),
                           (init.he_normal, 2 / 400), (init.he_uniform, 2 / 400),
                           (init.lecun_normal, 1 / 400), (init.lecun_uniform, 1 / 400)]:
        w = make()(k, shape)
        assert w.shape == shape and w.dtype == np.float64
        assert abs(w.var() / variance - 1) < 0.03, make.__name__
    assert np.abs(init.glorot_uniform()(k, shape)).max() <= math.sqrt(6 / 700)
    assert np.abs(init.he_normal()(k, shape)).max() <= 2 * math.sqrt(2 / 400) / 0.8796256610342398
    conv = init.he_normal(in_axis=-2, out_axis=-1)(k, (3, 3, 16, 32))  # receptive field 9
    assert abs(conv.var() / (2 / (16 * 9)) - 1) < 0.05
    q = init.orthogonal()(k, (5, 3))
    np.testing.assert_allclose(q.T @ q, np.eye(3), atol=1e-12)
    q = init.orthogonal(scale=2.0)(k, (3, 5))
    np.testing.assert_allclose(q @ q.T, 4 * np.eye(3), atol=1e-12)
    np.testing.assert_array_equal(init.constant(0.5)(k, (2,)), [0.5, 0.5])
    assert init.zeros(k, (2, 2), np.float32).dtype == np.float32 and init.ones(k, 3).sum() == 3
    np.testing.assert_array_equal(init.normal(0.5)(k, (4,)), dj.random.normal(k, (4,)) * 0.5)
