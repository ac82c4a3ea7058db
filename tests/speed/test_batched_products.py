"""Batched dot_general inside kernels: gemm calls in a batch loop for any dimension numbers
(an operand gemm cannot read in place is transposed into a temporary first) — values against
np.einsum (float64) and the reference interpreter, which operands are copied against an
independent check of the memory layout, and derivatives against central finite differences."""

import string

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dualjit as dj
import dualjit.numpy as jnp
from dualjit import lax
from dualjit.codegen import blas, schedule
from dualjit.codegen.runtime import CompiledFunction
from dualjit.ir import eval_function
from dualjit.ir import primitives as P

needs_blas = pytest.mark.skipif(not blas.gemms(), reason="numpy was built without OpenBLAS")


@st.composite
def products(draw):
    """(lhs shape, rhs shape, dimension numbers, dtype): each axis of each operand is a batch,
    contracting or free axis, placed in a random order."""
    sizes = st.integers(1, 5)
    batch = draw(st.lists(sizes, max_size=2))
    contract = draw(st.lists(sizes, min_size=1, max_size=2))
    lfree, rfree = draw(st.lists(sizes, max_size=2)), draw(st.lists(sizes, max_size=2))

    def place(free):
        roles = [("b", i) for i in range(len(batch))] + [("c", i) for i in range(len(contract))]
        roles += [("f", i) for i in range(len(free))]
        order = draw(st.permutations(roles))
        size = {"b": batch, "c": contract, "f": free}
        shape = tuple(size[r][i] for r, i in order)
        where = {role: axis for axis, role in enumerate(order)}
        return (shape, tuple(where["c", i] for i in range(len(contract))),
                tuple(where["b", i] for i in range(len(batch))))

    (ls, lc, lb), (rs, rc, rb) = place(lfree), place(rfree)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return ls, rs, ((lc, rc), (lb, rb)), dtype


def _einsum_spec(ls, rs, numbers):
    """The einsum string of a dot_general (written independently of the lowering)."""
    (lc, rc), (lb, rb) = numbers
    letters = iter(string.ascii_letters)
    left = [next(letters) for _ in ls]
    right = [next(letters) for _ in rs]
    for dl, dr in zip(lc + lb, rc + rb):
        right[dr] = left[dl]
    lfree = [left[d] for d in range(len(ls)) if d not in lc + lb]
    rfree = [right[d] for d in range(len(rs)) if d not in rc + rb]
    out = [left[d] for d in lb] + lfree + rfree
    return "".join(left) + "," + "".join(right) + "->" + "".join(out)


def _readable_in_place(shape, rows, cols):
    """Independent check: an operand is a (possibly transposed) row-major matrix per batch
    index when, ignoring size-1 axes, one of the two groups is the innermost run of axes in
    order and the other one is a run of consecutive axes in order."""
    kept = [a for a in range(len(shape)) if shape[a] != 1]
    inner = kept[-1] if kept else None

    def run(axes):
        at = [kept.index(a) for a in axes if shape[a] != 1]
        return at == list(range(at[0], at[0] + len(at))) if at else True

    def last(axes):
        axes = [a for a in axes if shape[a] != 1]
        return not axes or axes[-1] == inner

    return run(rows) and run(cols) and (last(cols) or last(rows))


@needs_blas
@given(products())
def test_batched_products_match_einsum_and_the_interpreter(case):
    ls, rs, numbers, dtype = case
    rng = np.random.default_rng(len(ls) * 7 + len(rs))
    a = rng.standard_normal(ls).astype(dtype)
    b = rng.standard_normal(rs).astype(dtype)
    fn = dj.make_ir(lambda x, y: jnp.tanh(lax.dot_general(x, y, numbers)) * 2.0)(a, b)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(schedule, "BLAS_MIN_FLOPS", 1)  # every product a gemm call if it can
        compiled = CompiledFunction(fn)
    (lc, rc), (lb, rb) = numbers
    lfree = [d for d in range(len(ls)) if d not in lc + lb]
    rfree = [d for d in range(len(rs)) if d not in rc + rb]
    copied = [e.inputs[0] for k in compiled.plan.kernels for e in k.segment.eqns
              if e.primitive is P.transpose_p]  # operands gemm cannot read in place
    assert compiled.plan.host_steps == [], str(compiled.plan)
    assert (fn.inputs[0] in copied) == (not _readable_in_place(ls, lfree, lc))
    assert (fn.inputs[1] in copied) == (not _readable_in_place(rs, rc, rfree))
    (got,) = compiled(a, b)
    expected = np.tanh(np.einsum(_einsum_spec(ls, rs, numbers), a.astype(np.float64),
                                 b.astype(np.float64))) * 2.0
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
    (reference,) = eval_function(fn, a, b)
    np.testing.assert_allclose(got, reference, rtol=tol, atol=tol)


def _attention(q, k, v):
    scores = jnp.exp(lax.dot_general(q, k, (((3,), (3,)), ((0, 1), (0, 1)))) * 0.3)
    weights = scores / jnp.sum(scores, axis=-1, keepdims=True)
    return lax.dot_general(weights, v, (((3,), (2,)), ((0, 1), (0, 1))))


@needs_blas
def test_attention_is_one_kernel_with_gemm_calls_and_its_gradient_matches_differences():
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal((2, 3, 40, 32)) * 0.5 for _ in range(3))
    w = rng.standard_normal((2, 3, 40, 32))

    def loss(q, k, v):
        return jnp.sum(_attention(q, k, v) * w)

    grad = dj.jit(dj.grad(loss, argnums=(0, 1, 2)))
    plan = grad.lower(q, k, v).plan()
    assert plan.host_steps == [] and len(plan.kernels) == 1, str(plan)
    grads = grad(q, k, v)
    eps = 1e-6
    for which, g in enumerate(grads):
        for index in [(0, 0, 0, 0), (1, 2, 39, 31), (1, 1, 7, 3)]:
            args = [q.copy(), k.copy(), v.copy()]
            args[which][index] += eps
            up = float(dj.jit(loss)(*args))
            args[which][index] -= 2 * eps
            down = float(dj.jit(loss)(*args))
            assert g[index] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-7)


@needs_blas
def test_a_stack_times_a_matrix_is_one_product_without_broadcast_copies():
    x, w = np.ones((8, 16, 32), np.float32), np.ones((32, 24), np.float32)
    fn = dj.make_ir(jnp.matmul)(x, w)
    (product,) = fn.eqns
    assert product.params["dimension_numbers"] == (((2,), (0,)), ((), ()))
    np.testing.assert_allclose(dj.jit(jnp.matmul)(x, w), x @ w)


def test_layouts_gemm_cannot_read_in_place_are_refused():
    # contracting axes 0 and 2 with a free axis between them: no leading dimension fits
    assert blas.gemm_layout((4, 5, 6), (4, 6, 7), (((0, 2), (0, 1)), ((), ()))) is None
    # batch axis in the middle, matrix around it: strided batch, transposed rhs
    layout = blas.gemm_layout((3, 8, 5), (8, 7, 5), (((2,), (2,)), ((1,), (0,))))
    assert layout.batch == ((8, 5, 35, 21),) and (layout.m, layout.n, layout.k) == (3, 7, 5)
    assert layout.lhs == blas.Matrix(False, 40) and layout.rhs == blas.Matrix(True, 5)


def _swap_free_axes(ls, rs, numbers):
    """The permutation of a product's result putting the rhs free axes before the lhs's."""
    (lc, rc), (lb, rb) = numbers
    nb = len(lb)
    nl, nr = len(ls) - len(lc) - nb, len(rs) - len(rc) - nb
    return (*range(nb), *range(nb + nl, nb + nl + nr), *range(nb, nb + nl)), nl, nr


@needs_blas
@given(products())
def test_a_product_read_by_a_free_axes_swap_is_computed_transposed(case):
    ls, rs, numbers, dtype = case
    perm, nl, nr = _swap_free_axes(ls, rs, numbers)
    rng = np.random.default_rng(len(ls) * 5 + len(rs))
    a = rng.standard_normal(ls).astype(dtype)
    b = rng.standard_normal(rs).astype(dtype)
    fn = dj.make_ir(lambda x, y: jnp.transpose(lax.dot_general(x, y, numbers), perm) + 1.0)(a, b)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(schedule, "BLAS_MIN_FLOPS", 1)
        compiled = CompiledFunction(fn)
    (lc, rc), (lb, rb) = numbers
    lfree = [d for d in range(len(ls)) if d not in lc + lb]
    rfree = [d for d in range(len(rs)) if d not in rc + rb]
    eqns = [e for k in compiled.plan.kernels for e in k.segment.eqns]
    swapped = [e for e in eqns if e.primitive is P.dot_general_p and e.inputs[0] is fn.inputs[1]]
    # swapped exactly when both free groups are there and gemm reads the swapped operands
    readable = _readable_in_place(rs, rfree, rc) and _readable_in_place(ls, lc, lfree)
    assert bool(swapped) == (nl > 0 and nr > 0 and readable), str(compiled.plan)
    if swapped:
        assert not any(e.primitive is P.transpose_p for e in eqns), str(compiled.plan)
    (got,) = compiled(a, b)
    expected = np.transpose(np.einsum(_einsum_spec(ls, rs, numbers), a.astype(np.float64),
                                      b.astype(np.float64)), perm) + 1.0
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(got, eval_function(fn, a, b)[0], rtol=tol, atol=tol)


@needs_blas
def test_a_product_also_read_elsewhere_is_not_swapped():
    x, y = np.ones((64, 32)), np.ones((64, 48))

    def f(x, y):
        p = lax.dot_general(x, y, (((0,), (0,)), ((), ())))
        return p.T * 2.0, jnp.sum(p)

    fn = dj.make_ir(f)(x, y)
    assert schedule.products_into_transposes(fn) is fn
    got = dj.jit(f)(x, y)
    np.testing.assert_allclose(got[0], (x.T @ y).T * 2.0)


@needs_blas
def test_weight_gradients_of_a_dense_layer_have_no_transposed_copies():
    x, w = np.ones((8, 16, 32), np.float32), np.ones((32, 24), np.float32)
    grad = dj.jit(dj.grad(lambda w, x: jnp.sum(jnp.tanh(x @ w)), argnums=0))
    plan = grad.lower(w, x).plan()
    eqns = [e for k in plan.kernels for e in k.segment.eqns]
    assert not any(e.primitive is P.transpose_p for e in eqns), str(plan)
    h = np.tanh(x.astype(np.float64) @ w)
    want = np.einsum("bsi,bso->io", x.astype(np.float64), 1 - h ** 2)
    np.testing.assert_allclose(grad(w, x), want, rtol=1e-5)
