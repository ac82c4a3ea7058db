"""LAPACK inside kernels (codegen/lapack.py, codegen/lower_linalg.py): compiled results against
the reference interpreter and scipy, failures as values per matrix, and the numpy fallback
between kernels when no LAPACK is found."""

import numpy as np
import pytest
import scipy.linalg as sl
from hypothesis import given
from hypothesis import strategies as st

import dualjit as dj
import dualjit.numpy as jnp
import dualjit.scipy.linalg as jsl
from dualjit.autodiff import inline_checkpoints
from dualjit.codegen import lapack
from dualjit.codegen.runtime import CompiledFunction
from dualjit.codegen.schedule import plan_function
from dualjit.ir import eval_function, linalg_impl
from dualjit.ir import primitives as P
from dualjit.ir.passes import simplify
from dualjit.tracer import bind
from dualjit.tracer.make_ir import make_ir

pytestmark = pytest.mark.skipif(lapack.routine("getrf", dj.ir.DType.float64) is None,
                                reason="numpy has no bundled OpenBLAS here: no native LAPACK")
rng = np.random.default_rng(11)
STACKS = [(1, 1), (3, 3), (2, 4, 4), (2, 3, 17, 17), (70, 70), (0, 3, 3), (2, 0, 0)]
DTYPES = [np.float64, np.float32]


def _run(f, *args):
    """(plan, native results, interpreter results) of f's Function on args, its custom-rule
    calls inlined as jit does."""
    fn = simplify(inline_checkpoints(make_ir(f)(*args)))
    return plan_function(fn), CompiledFunction(fn)(*args), eval_function(fn, *args)


def _close(native, reference, dtype):
    tol = 2e-4 if dtype == np.float32 else 1e-10
    for x, y in zip(native, reference):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_allclose(x, y, rtol=tol, atol=tol)


def _spd(shape, dtype):
    a = rng.standard_normal(shape)
    return (a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])).astype(dtype)


def _native(plan, primitive):
    """The plan computes `primitive` in a kernel (no host step)."""
    return not any(s.eqn.primitive is primitive for s in plan.host_steps)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", STACKS)
def test_cholesky_in_a_kernel_is_the_interpreters(shape, dtype):
    a = _spd(shape, dtype)
    a += np.triu(rng.standard_normal(shape), 1).astype(dtype)  # the upper triangle is not read
    plan, native, reference = _run(lambda a: bind(P.cholesky_p, a * 1.0), a)
    assert _native(plan, P.cholesky_p)
    _close(native, reference, dtype)
    if a.size:
        expected = np.linalg.cholesky(np.tril(a) + np.swapaxes(np.tril(a, -1), -1, -2))
        _close(native, [expected.astype(dtype)], dtype)


def test_cholesky_failure_is_nans_for_that_matrix_only():
    good = _spd((4, 4), np.float64)
    stack = np.stack([good, -np.eye(4), good, np.full((4, 4), np.nan)])
    _, (native,), (reference,) = _run(lambda a: bind(P.cholesky_p, a), stack)
    assert np.all(np.isnan(native[1])) and np.all(np.isnan(native[3]))
    np.testing.assert_allclose(native[[0, 2]], np.linalg.cholesky(np.stack([good, good])))
    np.testing.assert_array_equal(np.isnan(native), np.isnan(reference))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", STACKS)
def test_lu_in_a_kernel_is_the_interpreters(shape, dtype):
    a = rng.standard_normal(shape).astype(dtype)
    plan, native, reference = _run(lambda a: bind(P.lu_p, a), a)
    assert _native(plan, P.lu_p)
    _close(native, reference, dtype)
    lu, pivots, permutation = native
    if a.size:  # a[permutation] = L U, independently of both implementations
        n = shape[-1]
        lower = np.tril(lu, -1) + np.eye(n, dtype=dtype)
        rows = np.take_along_axis(a, permutation[..., None].astype(np.int64), axis=-2)
        _close([lower @ np.triu(lu)], [rows], dtype)
        for matrix, p in zip(a.reshape(-1, n, n), pivots.reshape(-1, n)):
            np.testing.assert_array_equal(p, sl.lu_factor(matrix)[1])


def test_lu_of_singular_and_nan_matrices_keeps_pivots_in_range():
    stack = np.stack([np.array([[1.0, 2.0], [2.0, 4.0]]), np.full((2, 2), np.nan),
                      np.array([[0.0, 1.0], [np.inf, 0.0]]), np.zeros((2, 2))])
    _, native, reference = _run(lambda a: bind(P.lu_p, a), stack)
    lu, pivots, permutation = native
    assert lu[0, 1, 1] == 0 and np.all(np.isnan(lu[1]))
    assert np.all((0 <= pivots) & (pivots < 2)) and sorted(permutation[1]) == [0, 1]
    for x, y in zip(native, reference):
        np.testing.assert_array_equal(x, y)


COLUMN_LU_SHAPES = STACKS + [(3, 5), (2, 5, 3), (0, 4), (4, 0)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", COLUMN_LU_SHAPES)
def test_column_lu_in_a_kernel_is_the_interpreters(shape, dtype):
    """Column pivoting, any shape natively: a[:, permutation] = L U, U with the unit diagonal,
    the pivots those of scipy's row-pivoted LU of a's transpose."""
    a = rng.standard_normal(shape).astype(dtype)
    plan, native, reference = _run(lambda a: bind(P.column_lu_p, a), a)
    assert _native(plan, P.column_lu_p)
    _close(native, reference, dtype)
    lu, pivots, permutation = native
    m, n = shape[-2:]
    assert sorted(permutation.reshape(-1, n)[0]) == list(range(n)) if a.size else True
    if a.size:
        k = min(m, n)
        lower = np.tril(lu)[..., :, :k]
        upper = (np.triu(lu, 1) + np.eye(m, n, dtype=dtype))[..., :k, :]
        columns = np.take_along_axis(a, permutation[..., None, :].astype(np.int64), axis=-1)
        _close([lower @ upper], [columns], dtype)
        for matrix, p in zip(a.reshape(-1, m, n), pivots.reshape(-1, k)):
            np.testing.assert_array_equal(p, sl.lu_factor(matrix.T)[1])
    else:
        np.testing.assert_array_equal(permutation, np.broadcast_to(np.arange(n), permutation.shape))


def test_column_lu_of_singular_and_nan_matrices_keeps_pivots_in_range():
    stack = np.stack([np.array([[1.0, 2.0], [2.0, 4.0]]), np.full((2, 2), np.nan),
                      np.array([[0.0, 1.0], [np.inf, 0.0]]), np.zeros((2, 2))])
    _, native, reference = _run(lambda a: bind(P.column_lu_p, a), stack)
    lu, pivots, permutation = native
    assert lu[0, 1, 1] == 0 and np.all(np.isnan(lu[1]))
    assert np.all((0 <= pivots) & (pivots < 2)) and sorted(permutation[1]) == [0, 1]
    for x, y in zip(native, reference):
        np.testing.assert_array_equal(x, y)


FLAGS = [(left, lower, transpose, unit) for left in (True, False) for lower in (True, False)
         for transpose in (True, False) for unit in (True, False)]


@pytest.mark.parametrize("columns", [3, 1])  # 1: one vector, BLAS's trsv/trmv
@pytest.mark.parametrize("left_side,lower,transpose_a,unit_diagonal", FLAGS)
def test_triangular_solve_in_a_kernel_every_flag(left_side, lower, transpose_a, unit_diagonal, columns):
    a = rng.standard_normal((2, 5, 5)) + 4 * np.eye(5)
    b = rng.standard_normal((2, 5, columns) if left_side else (2, columns, 5))
    params = dict(left_side=left_side, lower=lower, transpose_a=transpose_a,
                  unit_diagonal=unit_diagonal)
    plan, native, reference = _run(lambda a, b: bind(P.triangular_solve_p, a, b, **params), a, b)
    assert _native(plan, P.triangular_solve_p)
    _close(native, reference, np.float64)
    for x, ai, bi in zip(native[0], a, b):  # scipy solves op(a) x = b; x a = b is a^T x^T = b^T
        if left_side:
            expected = sl.solve_triangular(ai, bi, lower=lower, trans=int(transpose_a),
                                           unit_diagonal=unit_diagonal)
        else:
            expected = sl.solve_triangular(ai, bi.T, lower=lower, trans=int(not transpose_a),
                                           unit_diagonal=unit_diagonal).T
        np.testing.assert_allclose(x, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("columns", [3, 1])  # 1: one vector, BLAS's trsv/trmv
@pytest.mark.parametrize("left_side,lower,transpose_a,unit_diagonal", FLAGS)
def test_triangular_product_in_a_kernel_every_flag(left_side, lower, transpose_a, unit_diagonal, columns):
    a = rng.standard_normal((2, 5, 5))
    b = rng.standard_normal((2, 5, columns) if left_side else (2, columns, 5))
    params = dict(left_side=left_side, lower=lower, transpose_a=transpose_a,
                  unit_diagonal=unit_diagonal)
    plan, native, reference = _run(lambda a, b: bind(P.triangular_product_p, a, b, **params),
                                   a, b)
    assert _native(plan, P.triangular_product_p)
    _close(native, reference, np.float64)
    t = np.tril(a, -unit_diagonal) if lower else np.triu(a, unit_diagonal)
    t = t + unit_diagonal * np.eye(5)
    t = np.swapaxes(t, -1, -2) if transpose_a else t
    _close(native, [t @ b if left_side else b @ t], np.float64)
    fallback = linalg_impl._product_numpy(a.copy(), b.copy(), **params)
    _close([fallback], [t @ b if left_side else b @ t], np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("a_shape,b_shape", [((3, 3), (3, 1)), ((2, 4, 4), (2, 4, 7)),
                                             ((0, 3, 3), (0, 3, 2)), ((3, 3), (3, 0)),
                                             ((0, 0), (0, 4))])
def test_triangular_solve_shapes_and_dtypes(a_shape, b_shape, dtype):
    a = (rng.standard_normal(a_shape) + 3 * np.eye(a_shape[-1])).astype(dtype)
    b = rng.standard_normal(b_shape).astype(dtype)
    _, native, reference = _run(lambda a, b: bind(
        P.triangular_solve_p, a, b, left_side=True, lower=True, transpose_a=False,
        unit_diagonal=False), a, b)
    _close(native, reference, dtype)


def test_triangular_solve_with_a_zero_pivot_gives_inf_as_numpy():
    a = np.array([[1.0, 0.0], [2.0, 0.0]])
    _, (native,), (reference,) = _run(lambda a, b: bind(
        P.triangular_solve_p, a, b, left_side=True, lower=True, transpose_a=False,
        unit_diagonal=False), a, np.ones((2, 1)))
    assert not np.all(np.isfinite(native))
    np.testing.assert_array_equal(native, reference)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.int8])
def test_pivots_to_permutation_in_a_kernel_clamps_like_numpy(dtype):
    pivots = np.array([[2, 2, 2], [0, 9, 1], [-1, 1, 0]]).astype(dtype)
    plan, native, reference = _run(lambda p: bind(
        P.lu_pivots_to_permutation_p, p, permutation_size=4), pivots)
    assert _native(plan, P.lu_pivots_to_permutation_p)
    np.testing.assert_array_equal(native[0], reference[0])
    np.testing.assert_array_equal(native[0][0], [2, 0, 1, 3])  # (the registry case's value)


def test_rectangular_lu_runs_on_the_host_and_says_why():
    plan, native, reference = _run(lambda a: bind(P.lu_p, a), rng.standard_normal((3, 5)))
    assert [s.eqn.primitive for s in plan.host_steps] == [P.lu_p]
    assert "rectangular" in plan.host_steps[0].reason
    for x, y in zip(native, reference):
        np.testing.assert_array_equal(x, y)


@given(batch=st.lists(st.integers(0, 3), max_size=2), n=st.integers(0, 9),
       k=st.integers(0, 4), f32=st.booleans())
def test_solve_chain_in_one_kernel_matches_the_interpreter(batch, n, k, f32):
    dtype = np.float32 if f32 else np.float64
    # (its own generator, so an example's matrices do not depend on the tests run before it;
    # off-diagonal entries scaled by 1/n keep a diagonally dominant: singular values within
    # ~[2, 4], so cho_solve's squared condition number stays below ~16 for every draw; with
    # unscaled entries some float32 draws exceeded the tolerance)
    draw = np.random.default_rng([len(batch), *batch, n, k, f32])
    a = (draw.standard_normal((*batch, n, n)) / max(n, 1) + 3 * np.eye(n)).astype(dtype)
    b = draw.standard_normal((*batch, n, k)).astype(dtype)

    def chain(a, b):  # every lowered primitive, as solve and cho_solve use them
        x = jnp.linalg.solve(a, b)
        c = jsl.cho_factor(a @ jnp.swapaxes(a, -1, -2), lower=True)
        return x, jsl.cho_solve(c, b), jnp.linalg.slogdet(a)[1]
    plan, native, reference = _run(chain, a, b)
    assert not plan.host_steps
    tol = 1e-4 if f32 else 1e-10  # (cho_solve squares a's condition number)
    for x, y in zip(native, reference):
        np.testing.assert_allclose(x, y, rtol=tol, atol=tol)


def test_without_lapack_the_equations_run_numpy_between_kernels(monkeypatch):
    """A numpy without OpenBLAS (forced here): host steps through numpy, the same values."""
    a = rng.standard_normal((3, 4, 4)) + 4 * np.eye(4)
    b = rng.standard_normal((3, 4, 2))

    def f(a, b):
        x = jnp.linalg.solve(a, b)
        return x, jnp.linalg.cholesky(a @ jnp.swapaxes(a, -1, -2)), jnp.linalg.slogdet(a)[1]
    fn = simplify(inline_checkpoints(make_ir(f)(a, b)))
    native = CompiledFunction(fn)(a, b)
    monkeypatch.setattr(lapack, "routine", lambda name, dtype: None)
    plan = plan_function(fn)
    hosted = {s.eqn.primitive for s in plan.host_steps}
    assert {P.column_lu_p, P.cholesky_p, P.triangular_solve_p} <= hosted
    assert all("no LAPACK" in s.reason for s in plan.host_steps if s.eqn.primitive in hosted)
    fallback = CompiledFunction(fn)(a, b)
    for x, y in zip(native, fallback):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fallback[0], np.linalg.solve(a, b), rtol=1e-12)


def test_jit_of_solve_is_one_kernel_without_host_steps():
    """custom_jvp calls are inlined once transforms are done: solve's LU and triangular
    solves land in the kernel, not in one host step running the rule's call."""
    f = dj.jit(lambda a, b: jnp.linalg.solve(a, b))
    a, b = rng.standard_normal((4, 6, 6)) + 3 * np.eye(6), rng.standard_normal((4, 6, 1))
    plan = f.lower(a, b).plan()
    assert not plan.host_steps and len(plan.kernels) == 1
    np.testing.assert_allclose(f(a, b), np.linalg.solve(a, b), rtol=1e-10)


def test_plan_of_one_equation_kernels_prints(monkeypatch):
    """Cut into one-equation kernels (DUALJIT_MAX_KERNEL_EQNS=1, to profile step by step),
    a kernel can be a lone iota loop: its plan line must not read an operand it lacks."""
    from dualjit.codegen import schedule

    monkeypatch.setattr(schedule, "MAX_KERNEL_EQNS", 1)
    a = _spd((5, 5), np.float64)
    plan, native, reference = _run(jnp.linalg.inv, a)  # its identity starts with an iota
    text = str(plan)
    assert "= iota" in text and "column_lu" in text
    _close(native, reference, np.float64)
