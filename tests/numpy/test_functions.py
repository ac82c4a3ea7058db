"""Functions the sweep table cannot express: vectorize, ufunc objects, r_ and c_, and the
semantics of data-dependent sizes, sort order and index clamping that the README states."""

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp


def test_vectorize_with_and_without_signature():
    def clipped(u, v):
        return u * 2.0 + v if u > v else u - v  # Python control flow on one element

    x = np.arange(4.0)
    np.testing.assert_array_equal(jnp.vectorize(clipped)(x, 1.5), np.vectorize(clipped)(x, 1.5))
    dot = jnp.vectorize(lambda u, v: jnp.dot(u, v), signature="(n),(n)->()")
    a = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_allclose(dot(a, a[0, 0]), np.einsum("ijk,k->ij", a, a[0, 0]))
    np.testing.assert_allclose(dj.grad(lambda t: jnp.sum(jnp.vectorize(jnp.sin)(t)))(x),
                               np.cos(x))


def test_ufunc_methods():
    add = jnp.frompyfunc(jnp.add, 2, 1, identity=0)
    x = np.arange(1.0, 7.0).reshape(2, 3)
    np.testing.assert_array_equal(add.reduce(x, axis=1), np.add.reduce(x, axis=1))
    np.testing.assert_array_equal(add.reduce(np.zeros((0, 3)), axis=0), np.zeros(3))
    np.testing.assert_array_equal(add.accumulate(x, axis=1), np.add.accumulate(x, axis=1))
    np.testing.assert_array_equal(add.outer(np.arange(3.0), np.arange(2.0)),
                                  np.add.outer(np.arange(3.0), np.arange(2.0)))
    expected = np.zeros(4)
    np.add.at(expected, [0, 1, 1, 3], 1.0)
    np.testing.assert_array_equal(add.at(np.zeros(4), [0, 1, 1, 3], 1.0), expected)
    np.testing.assert_array_equal(add.reduceat(np.arange(8.0), [0, 4, 1, 5]),
                                  np.add.reduceat(np.arange(8.0), [0, 4, 1, 5]))
    assert isinstance(add, jnp.ufunc)
    with pytest.raises(ValueError, match="inplace=False"):
        add.at(np.zeros(2), [0], 1.0, inplace=True)


@pytest.mark.parametrize("make", [
    lambda m, x: m.r_[x, 0.0, x * 2.0], lambda m, x: m.r_[-1:1:4j, x],
    lambda m, x: m.r_["0,2", x, x], lambda m, x: m.r_["1,2,0", x, x],
    lambda m, x: m.c_[x, x * 3.0], lambda m, x: m.r_["0,3,-2", x, x],
])
def test_r_and_c_with_traced_values(make):
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(make(jnp, x), make(np, x))
    np.testing.assert_array_equal(dj.jit(lambda t: make(jnp, t))(x), make(np, x))
    g = dj.grad(lambda t: jnp.sum(make(jnp, t)))(x)
    eps = 1e-6
    numeric = [(np.sum(make(np, x + eps * e)) - np.sum(make(np, x - eps * e))) / (2 * eps)
               for e in np.eye(3)]
    np.testing.assert_allclose(g, numeric, rtol=1e-6)


def test_data_dependent_sizes_need_size_under_jit():
    x = np.array([0.0, 3.0, 0.0, 5.0])
    with pytest.raises(dj.ConcretizationError, match="size="):
        dj.jit(jnp.nonzero)(x)
    with pytest.raises(dj.ConcretizationError, match="size="):
        dj.jit(jnp.unique)(x)
    with pytest.raises(dj.ConcretizationError):
        dj.jit(jnp.bincount)(np.array([1, 2]))
    found = dj.jit(lambda v: jnp.nonzero(v, size=3, fill_value=-1))(x)
    np.testing.assert_array_equal(found[0], [1, 3, -1])
    values, counts = dj.jit(lambda v: jnp.unique(v, size=4, return_counts=True))(x)
    np.testing.assert_array_equal(values, [0.0, 3.0, 5.0, 0.0])  # padded with the minimum
    np.testing.assert_array_equal(counts, [2, 1, 1, 0])
    # outside jit, grad traces with concrete values, so the size is known
    g = dj.grad(lambda v: jnp.sum(jnp.unique(v) ** 2))(np.array([2.0, 1.0, 2.0]))
    np.testing.assert_array_equal(g, [4.0, 2.0, 0.0])  # the first occurrence carries it


def test_sort_puts_nans_last_and_is_stable():
    x = np.array([3.0, np.nan, -1.0, 3.0, -np.inf, np.nan, 0.0])
    np.testing.assert_array_equal(jnp.sort(x), np.sort(x))
    np.testing.assert_array_equal(jnp.argsort(x), np.argsort(x, kind="stable"))
    np.testing.assert_array_equal(dj.jit(jnp.argsort)(x), np.argsort(x, kind="stable"))
    ties = np.array([2, 1, 2, 1, 2])
    np.testing.assert_array_equal(jnp.argsort(ties, descending=True), [0, 2, 4, 1, 3])


def test_traced_indices_are_clamped_and_static_ones_checked():
    x = np.arange(5.0)
    with pytest.raises(IndexError, match="out of bounds"):
        jnp.take(x, np.array([7]))
    np.testing.assert_array_equal(dj.jit(lambda i: jnp.take(x, i))(np.array([7, -1, -9])),
                                  [4.0, 4.0, 0.0])
    np.testing.assert_array_equal(jnp.take(x, np.array([7, -1]), mode="wrap"), [2.0, 4.0])
    np.testing.assert_array_equal(jnp.take(x, np.array([7, -1]), mode="clip"), [4.0, 0.0])


def test_out_is_refused_and_inplace_setters_need_inplace_false():
    x = np.ones(3)
    for call in (lambda: jnp.sin(x, out=x), lambda: jnp.sum(x, out=x),
                 lambda: jnp.clip(x, 0, 1, out=x), lambda: jnp.cumsum(x, out=x)):
        with pytest.raises(TypeError, match="out= is not supported"):
            call()
    with pytest.raises(ValueError, match="inplace=False"):
        jnp.put(x, [0], 2.0, inplace=True)
    np.testing.assert_array_equal(jnp.put(x, [0], 2.0, inplace=False), [2.0, 1.0, 1.0])


def test_einsum_optimize_orders_by_cost():
    a, b, c = np.ones((2, 50)), np.ones((50, 60)), np.ones((60, 2))
    greedy, _ = jnp.einsum_path("ij,jk,kl->il", a, b, c)
    assert greedy == ["einsum_path", (1, 2), (0, 1)]  # b @ c first: 6000 vs 6000+ multiplies
    x, y, z = np.ones((64, 2)), np.ones((2, 64)), np.ones((64, 2))
    assert jnp.einsum_path("ij,jk,kl->il", x, y, z, optimize="optimal")[0] == \
        ["einsum_path", (1, 2), (0, 1)]
    left = jnp.einsum_path("ij,jk,kl->il", x, y, z, optimize=False)[0]
    assert left == ["einsum_path", (0, 1), (0, 1)]


def test_einsum_errors_name_the_problem():
    with pytest.raises(ValueError, match="dimension 'j' has sizes"):
        jnp.einsum("ij,jk", np.ones((2, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="output subscript 'z'"):
        jnp.einsum("ij->z", np.ones((2, 3)))


@pytest.mark.parametrize("name,ufunc", [("cumsum", np.add), ("cumprod", np.multiply),
                                        ("cummax", np.maximum), ("cummin", np.minimum)])
@pytest.mark.parametrize("axis,reverse", [(0, False), (1, True), (-1, False)])
def test_lax_running_scans(name, ufunc, axis, reverse):
    from ..autodiff.check import check_grads

    x = np.random.default_rng(4).standard_normal((3, 5))
    scan = getattr(dj.lax, name)
    flipped = np.flip(x, axis) if reverse else x
    expected = ufunc.accumulate(flipped, axis=axis)
    expected = np.flip(expected, axis) if reverse else expected
    np.testing.assert_allclose(scan(x, axis, reverse), expected, rtol=1e-14)
    np.testing.assert_allclose(dj.jit(lambda v: scan(v, axis, reverse))(x), expected,
                               rtol=1e-14)
    check_grads(lambda v: scan(v, axis, reverse), [x], order=2)


def test_boolean_masks_of_several_dimensions():
    x = np.arange(24.0).reshape(2, 3, 4)
    mask = x[0] > 5
    for index in [x > 4, (slice(None), mask), (1, mask)]:
        np.testing.assert_array_equal(jnp.getitem(x, index), x[index])
        np.testing.assert_array_equal(dj.jit(lambda a, index=index: a[index])(x), x[index])
    g = dj.grad(lambda a: jnp.sum(a[x > 4] ** 2))(x)
    np.testing.assert_array_equal(g, np.where(x > 4, 2 * x, 0.0))


def test_several_traced_index_arrays_clamp_each_axis():
    # issue 10 item 8: the linearized gather must not cross rows
    x = np.arange(12.0).reshape(3, 4)
    f = dj.jit(lambda a, i, j: a[i, j])
    np.testing.assert_array_equal(f(x, np.array([0, 5]), np.array([9, 1])), [3.0, 9.0])
    np.testing.assert_array_equal(f(x, np.array([-1, 2]), np.array([-2, 0])), x[[-1, 2], [-2, 0]])


def test_traced_boolean_masks_work_while_their_value_is_known():
    # eager grad and jvp trace concretely, so a mask computed from the argument has a value
    # (as in JAX); under jit the result's shape would depend on it, which is an error
    x = np.array([[1.0, -2.0, 3.0], [-4.0, 5.0, 0.5]])
    f = lambda a: jnp.sum(a[a > 0.75] ** 3)  # noqa: E731
    np.testing.assert_allclose(f(x), np.sum(x[x > 0.75] ** 3))
    np.testing.assert_allclose(dj.grad(f)(x), np.where(x > 0.75, 3 * x**2, 0.0))
    _, tangent = dj.jvp(f, (x,), (np.ones_like(x),))
    np.testing.assert_allclose(tangent, np.sum(np.where(x > 0.75, 3 * x**2, 0.0)))
    for transform in (dj.jit, lambda g: dj.jit(dj.grad(g))):
        with pytest.raises(IndexError, match="under jit.*where.*size="):
            transform(f)(x)


@pytest.mark.parametrize("shape, axis", [((0,), None), ((0,), 0), ((2, 0), 1), ((2, 0), 0),
                                         ((0, 3), 0)])
def test_all_and_any_of_nothing_are_true_and_false(shape, axis):
    """all/any over a size-0 axis raised "zero-size array has no identity" (min/max have
    none); NumPy's all of nothing is True, any False. dj.compile of the torch fuzzer's
    programs fell back to eager on it."""
    a = np.ones(shape, bool)
    for name in ("all", "any"):
        expected = getattr(np, name)(a, axis=axis)
        for out in (getattr(jnp, name)(a, axis=axis),
                    dj.jit(lambda v, name=name: getattr(jnp, name)(v, axis=axis))(a)):
            np.testing.assert_array_equal(np.asarray(out), expected)
            assert np.shape(out) == np.shape(expected)
