"""loss.backward() of a real one-element loss runs in one function (eager.backward.
backward_of_scalar: the compiled backward looked up by the graph's structure alone, leaves
taking the kernel's new arrays as their .grad). Each case is checked against the general
backward() (reached by passing the gradient explicitly) and against formulas written here."""

import numpy as np
import pytest

import dualjit as dj

X = np.array([0.5, -1.5, 2.0, 0.25])


def _both_paths(program, make_leaves):
    """The leaves' gradients after loss.backward() and after loss.backward(ones) (general)."""
    results = []
    for explicit in (False, True):
        leaves = make_leaves()
        loss = program(*leaves)
        if explicit:
            loss.backward(dj.ones_like(loss))
        else:
            loss.backward()
        results.append([None if t.grad is None else t.grad.numpy().copy() for t in leaves])
    return results


def test_gradients_match_the_general_path_and_the_formula():
    x = dj.tensor(X)

    def program(a, b):
        return ((a * x + b) * x - 1.0).pow(2).sum()

    def leaves():
        return [dj.tensor(0.5, requires_grad=True), dj.tensor(-0.25, requires_grad=True)]
    fast, general = _both_paths(program, leaves)
    r = (0.5 * X - 0.25) * X - 1.0
    np.testing.assert_allclose(fast[0], np.sum(2 * r * X * X), rtol=1e-5)
    np.testing.assert_allclose(fast[1], np.sum(2 * r * X), rtol=1e-5)
    for f, g in zip(fast, general):
        np.testing.assert_allclose(f, g, rtol=1e-6)


def test_two_leaves_with_equal_gradients_get_separate_arrays():
    x = dj.tensor(X)
    a = dj.tensor(1.0, requires_grad=True)
    b = dj.tensor(2.0, requires_grad=True)
    (a * x + b * x).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), X.sum(), rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), X.sum(), rtol=1e-6)
    with dj.no_grad():
        a.grad += 1.0
    np.testing.assert_allclose(b.grad.numpy(), X.sum(), rtol=1e-6)


def test_gradients_accumulate_into_existing_grads():
    w = dj.tensor(X, requires_grad=True)
    (w * w).sum().backward()
    (w * 3.0).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * X + 3.0, rtol=1e-6)


def test_leaf_hooks_run():
    w = dj.tensor(X, requires_grad=True)
    w.register_hook(lambda g: g * 10.0)
    (w * w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 20 * X, rtol=1e-6)


def test_retained_non_leaf_gets_its_grad():
    w = dj.tensor(X, requires_grad=True)
    h = w * 2.0
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 4 * X, rtol=1e-6)
    np.testing.assert_allclose(w.grad.numpy(), 8 * X, rtol=1e-6)


def test_complex_leaf_gets_pytorchs_conjugate_convention():
    z0 = X + 1j * X[::-1]
    z = dj.tensor(z0, requires_grad=True)
    (z * z.conj()).real.sum().backward()  # |z|^2: PyTorch's gradient is 2 z
    np.testing.assert_allclose(z.grad.numpy(), 2 * z0, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_leaf_dtype_is_kept(dtype):
    w = dj.tensor(X.astype(dtype), requires_grad=True)
    (w * w).sum().backward()
    assert w.grad.dtype == dtype
    assert w.grad.numpy().flags.writeable


def test_leaves_of_a_subclass_with_its_own_hash_and_equality_stay_apart():
    class Alike(dj.nn.Parameter):
        """Every instance hashes and compares equal: numbering must go by identity."""

        def __hash__(self):
            return 0

        def __eq__(self, other):
            return True

    a = Alike(dj.tensor(X))
    b = Alike(dj.tensor(X))
    c = dj.nn.Parameter(dj.tensor(X))
    (a * 2.0 + b * 3.0 + c * 5.0).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), np.full(4, 2.0))
    np.testing.assert_allclose(b.grad.numpy(), np.full(4, 3.0))
    np.testing.assert_allclose(c.grad.numpy(), np.full(4, 5.0))
