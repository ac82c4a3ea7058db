"""The loops around a transformer's products: row extrema (softmax's max) as vector
reductions, chains of transposes read as one, products computed in the layout their reader
wants — values against NumPy (float64) and the reference interpreter, gradients against
central finite differences."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dualjit as dj
import dualjit.numpy as jnp
from dualjit import lax
from dualjit.codegen import blas, schedule, transposes
from dualjit.codegen.runtime import CompiledFunction
from dualjit.ir import eval_function
from dualjit.ir import primitives as P

needs_blas = pytest.mark.skipif(not blas.gemms(), reason="numpy was built without OpenBLAS")


def _special_rows(dtype, shape, rng):
    """Random rows with NaN, +-inf, +-0 and ties planted in some of them."""
    x = rng.standard_normal(shape).astype(dtype)
    flat = x.reshape(-1, shape[-1])
    flat[0, 3] = np.nan
    flat[1, :] = -np.inf
    flat[2, 5] = np.inf
    flat[3, :] = 0.0
    flat[3, ::2] = -0.0
    flat[4, 1:] = flat[4, 0]  # all equal
    flat[5, -1] = np.nan
    flat[5, 0] = np.inf
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("axes", [(-1,), (0, 1), (1, 2), None])
@pytest.mark.parametrize("kind", ["max", "min"])
def test_float_extrema_reductions_match_numpy_with_nan_inf_and_zeros(dtype, axes, kind):
    """Over rows (the vectorized reduction), columns (kept last axis, in memory order) and
    everything: NaN wins, infinities and zeros as NumPy (zeros compare equal)."""
    x = _special_rows(dtype, (6, 5, 33), np.random.default_rng(1))
    f = getattr(jnp, kind)
    got = dj.jit(lambda x: f(x * 1.0, axis=axes))(x)
    expected = getattr(np, kind)(x, axis=axes)
    np.testing.assert_array_equal(got, expected)
    fn = dj.make_ir(lambda x: f(x * 1.0, axis=axes))(x)
    np.testing.assert_array_equal(got, eval_function(fn, x)[0])


def test_a_row_maximum_is_a_vector_reduction():
    """softmax's row max: a reduction the loop vectorizer took (vectors of floats combined
    by llvm.maximum), not a scalar compare-and-select loop. The width is the host's: eight
    floats with AVX2, sixteen with AVX-512."""
    text = dj.jit(lambda x: jnp.max(x * 0.125, axis=-1)).lower(
        np.ones((64, 128), np.float32)).llvm_ir()
    assert re.search(r"llvm\.(vector\.reduce\.f)?maximum\.v(8|16)f32", text), text


@st.composite
def transpose_chains(draw):
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank)))
    perms = draw(st.lists(st.permutations(range(rank)), min_size=1, max_size=4))
    return shape, [tuple(p) for p in perms]


@given(transpose_chains())
def test_chains_of_transposes_are_one_transpose_with_the_same_values(case):
    shape, perms = case
    x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)

    def f(x):
        y = x * 2.0
        for p in perms:
            y = jnp.transpose(y, p)
        return y + 1.0

    fn = dj.make_ir(f)(x)
    composed = transposes.compose_transposes(fn)
    kept = [e for e in composed.eqns if e.primitive is P.transpose_p]
    assert len(kept) <= 1
    expected = x * 2.0
    for p in perms:
        expected = np.transpose(expected, p)
    expected = expected + 1.0
    axes = list(range(len(shape)))  # which axis of x each result axis is
    for p in perms:
        axes = [axes[i] for i in p]
    if axes == sorted(axes):
        assert not kept  # the identity: no copy at all
    np.testing.assert_array_equal(eval_function(composed, x)[0], expected)
    np.testing.assert_array_equal(dj.jit(f)(x), expected)


def test_a_transpose_also_read_elsewhere_stays_and_results_keep_their_vars():
    """Callers look a plan's results up by the Function's output Vars: an identity chain that
    is a result stays a (copying) transpose, one read inside fn becomes its operand."""
    x = np.arange(24.0).reshape(2, 3, 4)

    def f(x):
        t = jnp.transpose(x, (2, 0, 1))
        back = jnp.transpose(jnp.transpose(x, (1, 0, 2)), (1, 0, 2)) * 1.5
        return t, jnp.transpose(t, (1, 2, 0)), jnp.transpose(t, (0, 2, 1)), back

    fn = dj.make_ir(f)(x)
    composed = transposes.compose_transposes(fn)
    got = eval_function(composed, x)
    np.testing.assert_array_equal(got[0], np.transpose(x, (2, 0, 1)))
    np.testing.assert_array_equal(got[1], x)
    np.testing.assert_array_equal(got[2], np.transpose(x, (2, 1, 0)))
    np.testing.assert_array_equal(got[3], x * 1.5)
    assert list(composed.outputs) == list(fn.outputs)
    (scaled,) = [e for e in composed.eqns if e.primitive is P.mul_p]
    assert scaled.inputs[0] is fn.inputs[0]
    perms = sorted(e.params["permutation"] for e in composed.eqns
                   if e.primitive is P.transpose_p)
    assert perms == [(0, 1, 2), (2, 0, 1), (2, 1, 0)]


@needs_blas
@pytest.mark.parametrize("perm", [(0, 3, 1, 2), (3, 0, 1, 2), (1, 3, 0, 2), (0, 1, 3, 2)])
def test_a_product_read_with_its_lhs_axis_innermost_is_computed_swapped(perm):
    """out[b, h, i, j] = sum_s p[b, h, s, i] g[b, h, s, j] read through `perm` with the lhs
    free axis i last: gemm computes the swapped product (j before i, i innermost), and the
    rest of `perm` is a transpose of that (none for the plain swap)."""
    rng = np.random.default_rng(4)
    p = rng.standard_normal((2, 3, 16, 12)).astype(np.float32)
    g = rng.standard_normal((2, 3, 16, 10)).astype(np.float32)
    numbers = (((2,), (2,)), ((0, 1), (0, 1)))
    fn = dj.make_ir(lambda p, g: jnp.transpose(lax.dot_general(p, g, numbers), perm) * 3.0)(p, g)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(schedule, "BLAS_MIN_FLOPS", 1)
        compiled = CompiledFunction(fn)
    eqns = [e for k in compiled.plan.kernels for e in k.segment.eqns]
    (product,) = [e for e in eqns if e.primitive is P.dot_general_p]
    assert product.inputs[0] is fn.inputs[1], str(compiled.plan)  # swapped
    residual = [e.params["permutation"] for e in eqns if e.primitive is P.transpose_p]
    assert residual == ([] if perm == (0, 1, 3, 2) else [tuple(
        (0, 1, 3, 2).index(a) for a in perm)]), str(compiled.plan)
    expected = np.transpose(np.einsum("bhsi,bhsj->bhij", p.astype(np.float64), g), perm) * 3.0
    (got,) = compiled(p, g)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got, eval_function(fn, p, g)[0], rtol=1e-5, atol=1e-5)


@needs_blas
def test_a_product_read_with_its_rhs_axis_innermost_is_not_swapped():
    p = np.ones((2, 3, 16, 12), np.float32)
    g = np.ones((2, 3, 16, 10), np.float32)
    numbers = (((2,), (2,)), ((0, 1), (0, 1)))
    fn = dj.make_ir(lambda p, g: jnp.transpose(lax.dot_general(p, g, numbers), (0, 2, 1, 3)))(p, g)
    assert schedule.products_into_transposes(fn) is fn


def _attention_block(x, w):
    """Heads split from one projection, q k^T, softmax, times v, heads merged: the
    transformer benchmark's attention (benchmarks/models.py) at a small size."""
    b, s, d = x.shape
    qkv = x @ w

    def split(t):
        return jnp.transpose(jnp.reshape(t, (b, s, 2, d // 2)), (0, 2, 1, 3))

    q, k, v = (split(qkv[:, :, i * d:(i + 1) * d]) for i in range(3))
    scores = dj.nn.softmax((q @ jnp.transpose(k, (0, 1, 3, 2))) * 0.25, axis=-1)
    return jnp.reshape(jnp.transpose(scores @ v, (0, 2, 1, 3)), (b, s, d))


@needs_blas
def test_attention_gradient_reads_no_product_through_two_transposes():
    """The key gradient (a product transposed twice by reverse mode) is read through one
    transpose, and the gradients match central differences and the interpreter."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 24, 16))
    w = rng.standard_normal((16, 48)) * 0.3
    c = rng.standard_normal((2, 24, 16))

    def loss(w, x):
        return jnp.sum(_attention_block(x, w) * c)

    grad = dj.jit(dj.grad(loss))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(schedule, "BLAS_MIN_FLOPS", 1)
        compiled = CompiledFunction(grad.lower(w, x).function)
    eqns = [e for k in compiled.plan.kernels for e in k.segment.eqns]
    made_by = {e.outputs[0]: e for e in eqns}
    for e in eqns:
        if e.primitive is P.transpose_p:
            source = made_by.get(e.inputs[0])
            assert source is None or source.primitive is not P.transpose_p, str(compiled.plan)
    (got,) = compiled(w, x)
    np.testing.assert_allclose(got, eval_function(compiled.function, w, x)[0], rtol=1e-10)
    eps = 1e-6
    for index in [(0, 0), (3, 17), (15, 47), (9, 30)]:
        up, down = w.copy(), w.copy()
        up[index] += eps
        down[index] -= eps
        numeric = (float(loss(up, x)) - float(loss(down, x))) / (2 * eps)
        assert got[index] == pytest.approx(numeric, rel=1e-5, abs=1e-7)


def _spec(ls, rs, numbers):
    """einsum string of a dot_general, written from its definition."""
    (lc, rc), (lb, rb) = numbers
    left = [chr(ord("a") + i) for i in range(len(ls))]
    right = [chr(ord("n") + i) for i in range(len(rs))]
    for dl, dr in zip(lc + lb, rc + rb):
        right[dr] = left[dl]
    out = ([left[d] for d in lb] + [left[d] for d in range(len(ls)) if d not in lc + lb]
           + [right[d] for d in range(len(rs)) if d not in rc + rb])
    return "".join(left) + "," + "".join(right) + "->" + "".join(out)


def _matrix_in_place(shape, rows, cols):
    """Independent check: rows x cols of a row-major array is a BLAS matrix (maybe
    transposed) without a copy: ignoring size-1 axes, each group is a run of consecutive axes
    in order, and one of them holds the innermost axis."""
    kept = [a for a in range(len(shape)) if shape[a] != 1]

    def run(axes):
        at = [kept.index(a) for a in axes if shape[a] != 1]
        return at == list(range(at[0], at[0] + len(at))) if at else True

    def innermost(axes):
        axes = [a for a in axes if shape[a] != 1]
        return not axes or not kept or axes[-1] == kept[-1]

    return run(rows) and run(cols) and (innermost(cols) or innermost(rows))


@st.composite
def transposed_products(draw):
    """A dot_general (batch, contracting, free axes of each operand in random order) whose lhs
    is a transpose of an array."""
    sizes = st.integers(1, 4)
    batch, contract = draw(st.lists(sizes, max_size=2)), draw(st.lists(sizes, min_size=1,
                                                                        max_size=2))
    lfree, rfree = draw(st.lists(sizes, max_size=2)), draw(st.lists(sizes, max_size=2))

    def place(free):
        roles = [("b", i) for i in range(len(batch))] + [("c", i) for i in range(len(contract))]
        order = draw(st.permutations(roles + [("f", i) for i in range(len(free))]))
        size = {"b": batch, "c": contract, "f": free}
        where = {role: axis for axis, role in enumerate(order)}
        return (tuple(size[r][i] for r, i in order), tuple(where["c", i] for i in
                                                           range(len(contract))),
                tuple(where["b", i] for i in range(len(batch))))

    (ls, lc, lb), (rs, rc, rb) = place(lfree), place(rfree)
    perm = tuple(draw(st.permutations(range(len(ls)))))
    return ls, rs, ((lc, rc), (lb, rb)), perm


@needs_blas
@given(transposed_products())
def test_a_transposed_operand_is_folded_into_the_product_when_gemm_reads_it(case):
    """dot_general(transpose(x, perm), y): folded (the product reads x, no transpose left)
    exactly when the free axes keep their order and gemm reads x in place with the folded
    axes (and y in place: else neither is folded, the copies are made as before); the values
    against np.einsum (float64) and the interpreter either way."""
    ls, rs, numbers, perm = case
    x_shape = [0] * len(ls)
    for i, p in enumerate(perm):
        x_shape[p] = ls[i]
    rng = np.random.default_rng(len(ls) + 3 * len(rs))
    x = rng.standard_normal(x_shape).astype(np.float32)
    y = rng.standard_normal(rs).astype(np.float32)
    fn = dj.make_ir(lambda x, y: lax.dot_general(jnp.transpose(x, perm), y, numbers) + 1.0)(x, y)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(schedule, "BLAS_MIN_FLOPS", 1)
        compiled = CompiledFunction(fn)
    (lc, rc), (lb, rb) = numbers
    free = [d for d in range(len(ls)) if d not in lc + lb]
    keeps_order = [perm[d] for d in free] == sorted(perm[d] for d in free)
    rfree = [d for d in range(len(rs)) if d not in rc + rb]
    readable = (_matrix_in_place(x_shape, [perm[d] for d in free], [perm[d] for d in lc])
                and _matrix_in_place(rs, list(rc), rfree))
    eqns = [e for k in compiled.plan.kernels for e in k.segment.eqns]
    (product,) = [e for e in eqns if e.primitive is P.dot_general_p]
    folded = product.inputs[0] is fn.inputs[0]
    if perm == tuple(range(len(perm))):  # no transpose to fold: x is copied only if unreadable
        assert folded == _matrix_in_place(x_shape, free, list(lc)), str(compiled.plan)
    else:
        assert folded == (keeps_order and readable), str(compiled.plan)
    (got,) = compiled(x, y)
    expected = np.einsum(_spec(ls, rs, numbers), np.transpose(x, perm).astype(np.float64), y) + 1
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got, eval_function(fn, x, y)[0], rtol=1e-5, atol=1e-5)


@needs_blas
def test_attention_heads_are_read_by_gemm_without_transposed_copies():
    """q k^T and the weights times v of a block whose heads are split from one projection:
    every product reads the heads through its dimension numbers (no transpose before a
    product), forward and backward; values against the interpreter."""
    rng = np.random.default_rng(8)
    x, w = rng.standard_normal((2, 24, 16)), rng.standard_normal((16, 48)) * 0.3
    grad = dj.jit(dj.grad(lambda w, x: jnp.sum(_attention_block(x, w) ** 2)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(schedule, "BLAS_MIN_FLOPS", 1)
        compiled = CompiledFunction(grad.lower(w, x).function)
    eqns = [e for k in compiled.plan.kernels for e in k.segment.eqns]
    made_by = {e.outputs[0]: e for e in eqns}
    products = [e for e in eqns if e.primitive is P.dot_general_p]
    assert len(products) == 6 + 2  # forward q k^T, weights v, projection; their gradients
    for e in products:
        assert all(made_by.get(a) is None or made_by[a].primitive is not P.transpose_p
                   for a in e.inputs), str(compiled.plan)
    np.testing.assert_allclose(compiled(w, x)[0], eval_function(compiled.function, w, x)[0],
                               rtol=1e-10)


@needs_blas
def test_blas_threaded_products_are_one_call_each_and_agree_with_the_split(monkeypatch):
    """DUALJIT_BLAS_PRODUCTS=1 (schedule.BLAS_THREADED_PRODUCTS): a product that is not
    batched is not split over our threads (one gemm call, OpenBLAS's threads), a batched one
    still is; the values agree with the default plan's up to rounding, and with the
    interpreter."""
    from dualjit.codegen import nest_plan

    monkeypatch.setattr(nest_plan, "GEMM_MIN_MACS", 1000)
    monkeypatch.setattr(nest_plan, "GEMM_ROWS_CHUNK_MACS", 4000)
    monkeypatch.setattr(nest_plan, "GEMM_CHUNK_MACS", 4000)
    monkeypatch.setattr(nest_plan, "GEMM_MIN_ROWS", 8)
    monkeypatch.setattr(schedule, "BLAS_MIN_FLOPS", 1)
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((2, 48, 32)), rng.standard_normal((32, 96)) * 0.3
    grad = dj.grad(lambda w, x: jnp.sum(_attention_block(x, w) ** 2))
    fn = dj.make_ir(grad)(w, x)

    def product_splits(compiled):
        return sorted((bool(g.eqns[0].params["dimension_numbers"][1][0]), g.split is not None)
                      for k in compiled.plan.kernels for g in k.segment.groups
                      if g.library == "gemm")

    default = CompiledFunction(fn)
    assert set(product_splits(default)) == {(False, True), (True, True)}, str(default.plan)
    monkeypatch.setattr(schedule, "BLAS_THREADED_PRODUCTS", True)
    threaded = CompiledFunction(fn)
    assert set(product_splits(threaded)) == {(False, False), (True, True)}, str(threaded.plan)
    np.testing.assert_allclose(threaded(w, x)[0], default(w, x)[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(threaded(w, x)[0], eval_function(fn, w, x)[0], rtol=1e-10)
