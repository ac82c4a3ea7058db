"""Fewer and cheaper memory passes inside kernels (issue 14, W8): reductions that keep their
input's last axis read it in memory order (lower.accumulates_in_memory_order) — values against
NumPy and the reference interpreter for any axes, every reduction kind and dtype, NaN."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dualjit as dj
import dualjit.numpy as jnp
from dualjit.codegen import lower, schedule
from dualjit.codegen.runtime import CompiledFunction
from dualjit.ir import eval_function

REDUCTIONS = {"sum": (jnp.sum, np.sum), "max": (jnp.max, np.max), "min": (jnp.min, np.min),
              "prod": (jnp.prod, np.prod)}


def _groups(f, *args):
    return [g for k in dj.jit(f).lower(*args).plan().kernels for g in k.segment.groups]


@st.composite
def column_reductions(draw):
    """(shape, axes, kind, dtype): reduced axes drawn among all but the last."""
    rank = draw(st.integers(2, 4))
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=rank - 1, max_size=rank - 1))) + (
        draw(st.sampled_from([1, 7, 8, 9, 33])),)
    axes = tuple(sorted(draw(st.sets(st.integers(0, rank - 2), min_size=1))))
    kind = draw(st.sampled_from(sorted(REDUCTIONS)))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int32, np.int64]))
    return shape, axes, kind, dtype


@given(column_reductions(), st.integers(0, 2**31))
def test_reductions_keeping_the_last_axis_match_numpy_and_the_interpreter(case, seed):
    shape, axes, kind, dtype = case
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    y = (rng.standard_normal(shape[-1:]) * 3).astype(dtype)
    ours, theirs = REDUCTIONS[kind]

    def f(x, y):  # a fused input, and two sibling reductions over the same space
        return ours(x * y, axis=axes), jnp.sum(x, axis=axes)

    got = dj.jit(f)(x, y)
    want = (theirs(x * y, axis=axes), np.sum(x, axis=axes))
    traced = dj.jit(f).lower(x, y)
    interpreted = eval_function(traced.function, x, y)
    exact = np.dtype(dtype).kind == "i"
    for g, w, i, extremum in zip(got, want, interpreted, (kind in ("max", "min"), False)):
        assert g.dtype == w.dtype and g.shape == w.shape
        if exact or extremum:  # (sums: numpy adds pairwise, kernels in order)
            np.testing.assert_array_equal(g, w)
            np.testing.assert_array_equal(g, i)
        else:
            rtol = 1e-4 if dtype == np.float32 else 1e-12
            np.testing.assert_allclose(g, w.astype(np.float64), rtol=rtol, atol=rtol * 10)
            np.testing.assert_allclose(g, i, rtol=rtol, atol=rtol * 10)


def test_the_plan_reduces_in_memory_order_only_when_the_last_axis_is_kept():
    x = np.ones((16, 4, 32), np.float32)
    by_axes = {axes: [g for g in _groups(lambda a, axes=axes: jnp.sum(a * 2.0, axis=axes), x)
                      if g.kind == schedule.REDUCE]
               for axes in [(0,), (0, 1), (1,), (2,), (1, 2), (0, 2)]}
    for axes, groups in by_axes.items():
        (group,) = groups
        assert lower.accumulates_in_memory_order(group) == (2 not in axes), axes
    short_row = np.ones((64, lower.MEMORY_ORDER_MIN_ROW - 1), np.float32)
    (group,) = [g for g in _groups(lambda a: jnp.sum(a * 2.0, axis=0), short_row)
                if g.kind == schedule.REDUCE]
    assert not lower.accumulates_in_memory_order(group)


@pytest.mark.parametrize("kind", ["max", "min"])
def test_nan_and_infinities_in_column_extrema(kind):
    x = np.zeros((5, 3, 16), np.float64)
    x[2, 1, 3] = np.nan
    x[4, 0, 5] = np.inf
    x[0, 2, 6] = -np.inf
    ours, theirs = REDUCTIONS[kind]
    got = CompiledFunction(dj.jit(lambda a: ours(a, axis=(0, 1))).lower(x).function)(x)[0]
    np.testing.assert_array_equal(got, theirs(x, axis=(0, 1)))


def test_bias_gradient_of_a_dense_layer_against_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 5, 12))
    w = rng.standard_normal((12, 9)) * 0.3
    b = rng.standard_normal(9)

    def loss(b):
        return jnp.sum(jnp.tanh(x @ w + b) ** 2)

    grad = dj.jit(dj.grad(loss))(b)
    eps = 1e-6
    for i in range(9):
        e = np.zeros(9)
        e[i] = eps
        fd = (float(dj.jit(loss)(b + e)) - float(dj.jit(loss)(b - e))) / (2 * eps)
        assert grad[i] == pytest.approx(fd, rel=1e-5, abs=1e-7)


# -- x * c, x + c of a stored x: recomputed where read, not stored (schedule) -----------------

def _gelu(z):
    return 0.5 * z * (1 + jnp.tanh(0.7978845608 * (z + 0.044715 * z ** 3)))


def _affine_of_stored(segment):
    """Materialized temporaries that are an add/sub/mul/neg of one stored value and literals
    (written independently of schedule.recomputed_at_each_use)."""
    stored = set(segment.materialized)
    found = []
    for v in segment.temps:
        e = segment.producer[v]
        operands = [a for a in e.inputs if a in segment.producer or a in segment.live_in]
        literals = [a for a in e.inputs if not a.type.shape and a not in operands]
        if (e.primitive.name in ("add", "sub", "mul", "neg") and len(operands) == 1
                and len(operands) + len(literals) == len(e.inputs) and operands[0] in stored):
            found.append(v)
    return found


def test_gelu_gradient_stores_no_affine_copy_of_a_stored_value_and_matches_differences():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((16, 24))
    w = rng.standard_normal((24, 40)) * 0.3

    def loss(w):
        return jnp.sum(_gelu(x @ w) ** 2)

    grad = dj.jit(dj.grad(loss))
    (kernel,) = grad.lower(w).plan().kernels
    assert _affine_of_stored(kernel.segment) == [], str(grad.lower(w).plan())
    matches_differences(loss, w, grad(w), [(0, 0), (23, 39), (7, 11)])


def matches_differences(loss, w, g, indices, eps=1e-6) -> None:
    """g, the gradient of the scalar `loss` at `w`, agrees with central differences of the
    jitted loss at `indices`."""
    for index in indices:
        e = np.zeros_like(w)
        e[index] = eps
        fd = (float(dj.jit(loss)(w + e)) - float(dj.jit(loss)(w - e))) / (2 * eps)
        assert g[index] == pytest.approx(fd, rel=1e-5, abs=1e-7)


@given(st.sampled_from(["add", "sub", "rsub", "mul", "neg"]), st.sampled_from([np.float32, np.float64]),
       st.integers(0, 2**31))
def test_recomputed_values_match_the_interpreter(op, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((32, 48)).astype(dtype)
    affine = {"add": lambda t: t + 1.5, "sub": lambda t: t - 0.25, "rsub": lambda t: 2.0 - t,
              "mul": lambda t: t * 0.5, "neg": lambda t: -t}[op]

    def f(x):
        t = jnp.tanh(x) * jnp.exp(x)  # stored: read by two loop nests below
        c = affine(t)  # read by both: recomputed in each
        rows = jnp.sum(c * t, axis=1)
        return c * rows[:, None] + jnp.max(c, axis=0)

    traced = dj.jit(f).lower(x)
    got = dj.jit(f)(x)
    want = eval_function(traced.function, x)[0]
    tol = 1e-5 if dtype == np.float32 else 1e-12  # (sums in another order: scale by the
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())  # largest)


# -- z + bias (a short vector broadcast), and values of it: recomputed where read ------------

def _bias_adds_stored(segment):
    """Materialized temporaries that add a broadcast vector to one other value, or scale such
    a sum by a literal (written independently of schedule._recomputed_depth)."""
    def made_by(a, name):
        e = segment.producer.get(a)
        return e is not None and e.primitive.name == name

    bias_adds = {v for v, e in segment.producer.items() if e.primitive.name == "add"
                 and any(made_by(a, "broadcast_in_dim") for a in e.inputs)}
    scaled = {v for v, e in segment.producer.items() if e.primitive.name == "mul"
              and any(a in bias_adds for a in e.inputs)
              and any(not a.type.shape and a not in segment.producer for a in e.inputs)}
    return [v for v in segment.temps if v in bias_adds | scaled]


@given(st.sampled_from([np.float32, np.float64]), st.integers(8, 40), st.integers(8, 70),
       st.integers(0, 2**31))
def test_gelu_of_a_biased_product_recomputes_the_bias_add_and_matches(dtype, rows, cols, seed):
    """GELU(x @ w + b) @ v (as in a transformer's MLP): its forward and backward read
    `x @ w + b` and `0.5 * (x @ w + b)` in two loops (a product between them): both are
    recomputed from the stored product and the bias (no buffer), and the gradients match the
    interpreter and central differences."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 24)).astype(dtype)
    w = (rng.standard_normal((24, cols)) * 0.3).astype(dtype)
    b = rng.standard_normal(cols).astype(dtype)
    v = (rng.standard_normal((cols, 3)) * 0.3).astype(dtype)

    def loss(w, b):
        return jnp.sum((_gelu(x @ w + b) @ v) ** 2)

    grad = dj.jit(dj.grad(loss, argnums=(0, 1)))
    traced = grad.lower(w, b)
    for kernel in traced.plan().kernels:
        assert _bias_adds_stored(kernel.segment) == [], str(traced.plan())
    got = grad(w, b)
    want = eval_function(traced.function, w, b)
    tol = 2e-4 if dtype == np.float32 else 1e-10
    for value, expected in zip(got, want):
        np.testing.assert_allclose(value, expected, rtol=tol,
                                   atol=tol * max(1.0, np.abs(expected).max()))
    if dtype == np.float64:
        e = np.zeros_like(b)
        e[-1] = 1e-6
        fd = (float(dj.jit(loss)(w, b + e)) - float(dj.jit(loss)(w, b - e))) / 2e-6
        assert got[1][-1] == pytest.approx(fd, rel=1e-5, abs=1e-6)
