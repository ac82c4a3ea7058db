"""Long programs and deep pytrees under the default recursion limit (issue 10 item 5).

Every stage walks graphs iteratively or bounds its depth: tracing, jvp/transpose, the
passes, planning, emission, the runtime, eager backward() and pytrees. The programs here
are longer than the recursion limit; DUALJIT_DEEP=1 runs the 100,000-operation one."""

import os

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp

DEEP = os.environ.get("DUALJIT_DEEP") == "1"


pytestmark = pytest.mark.usefixtures("default_recursion_limit")


def chain(n_pairs):
    def f(x):
        for _ in range(n_pairs):
            x = jnp.sin(x) * 1.0001
        return jnp.sum(x)
    return f


def chain_reference(x, n_pairs):
    """Value and derivative of chain(n_pairs) by the chain rule, in NumPy."""
    x = np.array(x, dtype=np.float64)
    slope = np.ones_like(x)
    for _ in range(n_pairs):
        slope = slope * np.cos(x) * 1.0001
        x = np.sin(x) * 1.0001
    return x.sum(), slope


@pytest.mark.parametrize("n_pairs", [700] + ([50_000] if DEEP else []))
def test_a_program_longer_than_the_recursion_limit_traces_differentiates_and_compiles(n_pairs):
    f = chain(n_pairs)
    x = np.linspace(-1.0, 1.0, 5)
    value, slope = chain_reference(x, n_pairs)
    assert len(dj.make_ir(f)(x).eqns) >= 2 * n_pairs
    np.testing.assert_allclose(dj.grad(f)(x), slope, rtol=1e-12)
    np.testing.assert_allclose(dj.jit(f)(x), value, rtol=1e-12)
    np.testing.assert_allclose(dj.jit(dj.grad(f))(x), slope, rtol=1e-12)


def test_jit_of_300_chained_sin_and_jit_grad_of_150():
    def sins(n):
        def f(x):
            for _ in range(n):
                x = jnp.sin(x)
            return x
        return f

    x = np.array([0.3, 1.2, -2.0])
    expected, slope = x.copy(), np.ones(3)
    for i in range(300):
        if i < 150:
            slope = slope * np.cos(expected)
        expected = np.sin(expected)
        if i == 149:
            at_150 = expected.copy()
    np.testing.assert_allclose(dj.jit(sins(300))(x), expected, rtol=1e-12)
    np.testing.assert_allclose(dj.jit(sins(150))(x), at_150, rtol=1e-12)
    np.testing.assert_allclose(dj.jit(dj.grad(lambda x: jnp.sum(sins(150)(x))))(x), slope,
                               rtol=1e-12)


def test_backward_through_a_long_chain_of_tensor_operations():
    n = 400
    t = dj.tensor(np.array([0.3, 1.2]), requires_grad=True)
    y = t
    for _ in range(n):
        y = y.sin()
    y.sum().backward()
    x, slope = np.array([0.3, 1.2]), np.ones(2)
    for _ in range(n):
        slope = slope * np.cos(x)
        x = np.sin(x)
    np.testing.assert_allclose(np.asarray(t.grad), slope, rtol=1e-12)


@pytest.mark.parametrize("depth", [500, 5000])
def test_deep_pytrees_flatten_compare_print_and_rebuild(depth):
    tree, same = 1.0, 1.0
    for i in range(depth):
        tree = (tree, float(i)) if i % 2 else [tree]
        same = (same, float(i)) if i % 2 else [same]
    leaves, treedef = dj.tree_flatten(tree)
    assert leaves == [1.0] + [float(i) for i in range(1, depth, 2)]  # innermost first
    assert treedef == dj.tree_flatten(same)[1] and hash(treedef) == hash(dj.tree_flatten(same)[1])
    assert treedef != dj.tree_flatten([same])[1]
    text = repr(treedef)
    assert text.count("list(") + text.count("tuple(") == depth
    rebuilt = dj.tree_unflatten(treedef, [x + 1 for x in leaves])
    assert dj.tree_flatten(rebuilt) == ([x + 1 for x in leaves], treedef)
    if depth <= 500:  # (a jit with thousands of outputs is slow to compile)
        doubled = dj.jit(lambda t: dj.tree_util.tree_map(lambda a: a * 2.0, t))(tree)
        assert dj.tree_flatten(doubled)[0] == [2 * x for x in leaves]
