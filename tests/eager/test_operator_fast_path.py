"""The operators' fast path (eager.tensor.binary_method: two tensors, or a tensor and a Python
float, of one dtype, not views) against the general path (the same operation reached through
a view, which takes `_binary_general`, or through record_op), and what the fast path leaves
lazy: the output's version counter (made on first use, shared with the node that checks the
saved output) and the values of nodes that no recorded derivative reads (Node.value).

Gradients are checked against central finite differences of NumPy formulas written here, and
the fast and general paths against each other; version errors must still be raised."""

import numpy as np
import pytest

import dualjit as dj

from .helpers import numeric_grad

VERSION_ERROR = "modified by an inplace operation"
OPS = {
    "add": (lambda x, y: x + y, np.add),
    "sub": (lambda x, y: x - y, np.subtract),
    "mul": (lambda x, y: x * y, np.multiply),
    "div": (lambda x, y: x / y, np.divide),
    "radd": (lambda x, y: 2.5 + x * y, lambda x, y: 2.5 + x * y),
    "rsub": (lambda x, y: 2.5 - x * y, lambda x, y: 2.5 - x * y),
    "rmul": (lambda x, y: 2.5 * (x - y), lambda x, y: 2.5 * (x - y)),
    "rdiv": (lambda x, y: 2.5 / (x + y), lambda x, y: 2.5 / (x + y)),
    "float": (lambda x, y: (x * 0.5 - 1.5) / 3.0 + y, lambda x, y: (x * 0.5 - 1.5) / 3.0 + y),
}
X = np.array([[0.5, -1.25, 2.0], [1.5, 0.75, -0.5]])
Y = np.array([[1.5, 2.0, -0.75], [0.25, -1.0, 3.0]])


def _through_view(t):
    """t as a view of a base (so the operators take the general path), same values."""
    base = t.reshape(-1)
    return base.view(t.shape) if base._extra is not None else base.reshape(t.shape)


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("wrt", [(0,), (1,), (0, 1)])
def test_fast_path_gradients_match_differences_and_the_general_path(name, wrt):
    op, reference = OPS[name]
    fast_in = [dj.tensor(a, requires_grad=i in wrt) for i, a in enumerate((X, Y))]
    fast = op(*fast_in)
    np.testing.assert_allclose(fast.detach().numpy(), reference(X, Y), rtol=1e-12)
    (fast * fast).sum().backward()
    slow_in = [dj.tensor(a, requires_grad=i in wrt) for i, a in enumerate((X, Y))]
    slow = op(*[t.view(2, 3)[:, :] for t in slow_in])  # views: the general path
    assert slow.grad_fn.name == fast.grad_fn.name
    (slow * slow).sum().backward()
    for i in wrt:
        def f(v, i=i):
            args = [X, Y]
            args[i] = v
            return np.sum(reference(*args) ** 2)
        expected = numeric_grad(f, (X, Y)[i])
        np.testing.assert_allclose(fast_in[i].grad.numpy(), expected, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(slow_in[i].grad.numpy(), fast_in[i].grad.numpy(),
                                   rtol=1e-12)
    for i in set((0, 1)) - set(wrt):
        assert fast_in[i].grad is None and slow_in[i].grad is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_python_float_keeps_the_tensor_dtype_on_the_fast_path(dtype):
    x = dj.tensor(np.array([1.0, 2.0], dtype), requires_grad=True)
    for out in (x * 0.5, 0.5 * x, x / 3.0, 3.0 / x, x - 0.25, 0.25 - x, x + 1e-3):
        assert out.dtype == dtype
        assert out.requires_grad and out.grad_fn is not None


def test_integer_tensors_take_the_general_path_with_promotion():
    i = dj.tensor([1, 2, 3])
    for default in (dj.float64, dj.float32):  # (the promoted dtype follows the default)
        dj.set_default_dtype(default)
        try:
            assert (i * 0.5).dtype == default and (0.5 * i).dtype == default
            assert (i / i).dtype == default
        finally:
            dj.set_default_dtype(dj.float32)
    np.testing.assert_allclose((i / 2.0).numpy(), [0.5, 1.0, 1.5])
    assert (i * i).dtype == np.int64


@pytest.mark.parametrize("which", ["leaf", "constant"])
@pytest.mark.parametrize("reflected", [False, True])
def test_fast_path_checks_versions_of_leaves_and_constants(which, reflected):
    w = dj.tensor(X, requires_grad=True)
    c = dj.tensor(Y, requires_grad=which == "leaf")
    out = (c * w) if reflected else (w * c)  # d/dc reads w, d/dw reads c
    with dj.no_grad():
        (w if which == "leaf" else c).add_(1.0)
    with pytest.raises(RuntimeError, match=VERSION_ERROR):
        out.sum().backward()


def test_a_write_to_an_input_no_derivative_reads_is_allowed():
    w = dj.tensor(X, requires_grad=True)
    c = dj.tensor(Y)
    out = w * c  # d/dw reads c only (as PyTorch, which saves only what it needs)
    with dj.no_grad():
        w.add_(1.0)
    out.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), Y, rtol=1e-12)


def test_a_node_input_the_derivative_reads_is_kept_and_checked():
    w = dj.tensor(X, requires_grad=True)
    h = w + 1.0           # the add's own node keeps no value...
    out = h * h           # ...until mul, whose derivative reads it, records it
    assert h.grad_fn.value is not None
    h.mul_(2.0)           # h's storage at a new version: mul's saved input changed
    with pytest.raises(RuntimeError, match=VERSION_ERROR):
        out.sum().backward()


def test_values_no_derivative_reads_are_not_kept():
    w = dj.tensor(X, requires_grad=True)
    c = dj.tensor(Y)
    a = w * c             # read by nothing below: add and sum read no values
    b = a + c
    s = b.sum()
    assert a.grad_fn.value is None and b.grad_fn.value is None
    s.backward()
    np.testing.assert_allclose(w.grad.numpy(), Y, rtol=1e-12)


def test_lazy_output_counter_is_shared_by_views_and_the_node():
    w = dj.tensor(X, requires_grad=True)
    e = (w * 2.0).exp()   # exp's derivative is computed from its output (PyTorch saves it)
    v = e.view(-1)        # the view makes e's counter, shared with e's node
    assert v._version == e._version == 0
    v[0] = 5.0            # an in-place write through the view
    assert e._version == 1
    with pytest.raises(RuntimeError, match=VERSION_ERROR):
        e.sum().backward()


def test_detach_in_place_keeps_the_output_check():
    w = dj.tensor(X, requires_grad=True)
    e = w.exp()
    loss = (e * w).sum()  # mul reads e's value
    e.detach_()
    e.mul_(3.0)           # e is no longer in the graph, but its storage is mul's input
    with pytest.raises(RuntimeError, match=VERSION_ERROR):
        loss.backward()


def test_second_derivative_through_nodes_without_kept_values():
    x = dj.tensor(np.array([0.5, -1.5, 2.0]), requires_grad=True)
    c = dj.tensor(np.array([2.0, 0.5, -1.0]))
    y = ((x + c) * (x - 1.0) + c).sum()  # x+c and x-1 are kept (mul reads them); the rest not
    (g,) = dj.autograd.grad(y, x, create_graph=True)
    xv, cv = x.detach().numpy(), c.numpy()
    np.testing.assert_allclose(g.detach().numpy(), 2 * xv + cv - 1.0, rtol=1e-12)
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 2.0), rtol=1e-12)


def test_retain_graph_backward_twice_with_unkept_values():
    w = dj.tensor(X, requires_grad=True)
    s = ((w + 1.0) * 3.0 - w).sum()
    s.backward(retain_graph=True)
    s.backward()
    np.testing.assert_allclose(w.grad.numpy(), np.full(X.shape, 4.0), rtol=1e-12)
    with pytest.raises(RuntimeError, match="second time"):
        s.backward()


def test_hooks_on_a_node_without_a_kept_value_run_stepwise():
    w = dj.tensor(X, requires_grad=True)
    h = w * 2.0
    seen = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    (h + 1.0).sum().backward()
    np.testing.assert_allclose(seen[0], np.ones(X.shape))
    np.testing.assert_allclose(w.grad.numpy(), np.full(X.shape, 2.0))
