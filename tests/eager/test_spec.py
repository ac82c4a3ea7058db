"""Every rule and worked case of docs/imperative-autograd.md, with the seeds' numbers."""

import math
import warnings

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp


def test_requires_grad_defaults_false_and_propagates():
    x, y = dj.tensor([1.0, 2.0]), dj.tensor([3.0, 4.0])
    z = dj.tensor([5.0, 6.0], requires_grad=True)
    assert x.requires_grad is False
    assert (x + y).requires_grad is False
    assert (x + y + z).requires_grad is True


def test_requires_grad_in_place_on_leaf():
    a = dj.tensor([1.0, 2.0])
    assert a.requires_grad_(True) is a
    assert a.requires_grad and a.is_leaf


def test_requires_grad_on_non_leaf_is_an_error():
    y = dj.tensor([1.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)


def test_worked_case_mean_of_3_y_squared():
    x = dj.ones((2, 2), requires_grad=True)
    y = x + 2
    z = y * y * 3
    out = z.mean()
    assert out.item() == 27
    assert x.is_leaf and not y.is_leaf
    assert repr(y.grad_fn) == "<AddBackward>" and repr(out.grad_fn) == "<MeanBackward>"
    assert repr(z.grad_fn) == "<MulBackward>"
    out.backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 2), 4.5))
    x.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 2), 5.5))
    x.grad.zero_()
    x.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.ones((2, 2)))


def test_repr_shows_values_and_autograd_state():
    x = dj.ones((2, 2), requires_grad=True)
    assert repr(x) == "tensor([[1., 1.],\n        [1., 1.]], requires_grad=True)"
    assert repr(x + 2) == "tensor([[3., 3.],\n        [3., 3.]], grad_fn=<AddBackward>)"
    assert repr(dj.tensor([1.0, 2.0])) == "tensor([1., 2.])"


def test_backward_with_vector_is_vjp_through_view():
    x = dj.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    z = (2 * x).view(2, 2)
    assert repr(z.grad_fn) == "<ViewBackward>"
    z.backward(dj.tensor([[1.0, 0.1], [0.01, 0.001]]))
    np.testing.assert_allclose(x.grad.numpy(), [2, 0.2, 0.02, 0.002], rtol=1e-6)


def test_backward_without_argument_on_non_scalar_raises():
    x = dj.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="implicitly created only for scalar outputs"):
        (x * 2).backward()


def test_backward_gradient_shape_must_match():
    x = dj.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="shape"):
        (x * 2).backward(dj.tensor([1.0, 2.0, 3.0]))


def test_no_grad_records_nothing():
    x = dj.tensor(1.0, requires_grad=True)
    y1 = x ** 2
    with dj.no_grad():
        y2 = x ** 3
    assert y2.requires_grad is False and y2.grad_fn is None
    y3 = y1 + y2
    y3.backward()
    assert x.grad.item() == 2


def test_no_grad_as_decorator():
    x = dj.tensor(2.0, requires_grad=True)

    @dj.no_grad()
    def double(t):
        return t * 2

    assert double(x).requires_grad is False


def test_data_writes_are_not_recorded():
    x = dj.ones(1, requires_grad=True)
    y = 2 * x
    x.data *= 100
    y.backward()
    np.testing.assert_array_equal(x.numpy(), [100.0])
    np.testing.assert_array_equal(x.grad.numpy(), [2.0])


def test_detach_shares_storage_and_drops_grad():
    x = dj.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert d.requires_grad is False and d.grad_fn is None
    d.numpy()[0] = 7.0
    assert x.numpy()[0] == 7.0


def test_numpy_and_item_on_tensor_requiring_grad():
    x = dj.tensor([1.5], requires_grad=True)
    assert isinstance(x.numpy(), np.ndarray) and x.item() == 1.5


def test_bce_with_logits_gradient_matches_analytic():
    dj.manual_seed(0)
    x = dj.ones(5)
    y = dj.zeros(3)
    w = dj.randn(5, 3, requires_grad=True)
    b = dj.randn(3, requires_grad=True)
    z = dj.matmul(x, w) + b
    loss = dj.nn.functional.binary_cross_entropy_with_logits(z, y)
    loss.backward()
    s = 1 / (1 + np.exp(-z.numpy().astype(np.float64)))
    expected_b = (s - 0.0) / 3
    np.testing.assert_allclose(b.grad.numpy(), expected_b, rtol=1e-5)
    np.testing.assert_allclose(w.grad.numpy(), np.outer(np.ones(5), expected_b), rtol=1e-5)
    assert w.grad.shape == (5, 3) and b.grad.shape == (3,)


def test_f_of_x_y_worked_case():
    x = dj.tensor(2.0, requires_grad=True)
    y = dj.tensor(3.0, requires_grad=True)
    f = x + x ** 2 * y + y
    f.backward()
    assert f.item() == 17 and x.grad.item() == 13 and y.grad.item() == 5


def test_non_leaf_grad_warns_and_is_none_unless_retained():
    x = dj.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    z = y.sum()
    z.backward(retain_graph=True)
    with pytest.warns(UserWarning, match="not a leaf"):
        assert y.grad is None
    y2 = x * 3
    y2.retain_grad()
    (y2 * y2).sum().backward()
    np.testing.assert_allclose(y2.grad.numpy(), 2 * y2.numpy())


def test_second_backward_needs_retain_graph():
    x = dj.tensor([1.0, 2.0], requires_grad=True)
    out = (x * x).sum()
    out.backward(retain_graph=True)
    out.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        out.backward()


@pytest.mark.parametrize("update", ["iadd", "isub", "imul", "idiv", "zero_", "sub_", "add_", "mul_"])
def test_in_place_on_leaf_requiring_grad_raises(update):
    w = dj.tensor([1.0, 2.0], requires_grad=True)
    ops = {"iadd": lambda t: t.__iadd__(1.0), "isub": lambda t: t.__isub__(1.0),
           "imul": lambda t: t.__imul__(2.0), "idiv": lambda t: t.__itruediv__(2.0),
           "zero_": lambda t: t.zero_(), "sub_": lambda t: t.sub_(1.0),
           "add_": lambda t: t.add_(1.0), "mul_": lambda t: t.mul_(2.0)}
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used "
                                           "in an in-place operation"):
        ops[update](w)


def test_in_place_under_no_grad_keeps_the_same_leaf():
    w = dj.tensor([1.0, 2.0], requires_grad=True)
    ident = id(w)
    (w * w).sum().backward()
    with dj.no_grad():
        w -= 0.5 * w.grad
    assert id(w) == ident and w.is_leaf and w.requires_grad
    np.testing.assert_allclose(w.numpy(), [0.0, 0.0])


def test_rebinding_makes_a_non_leaf_whose_grad_is_none():
    w = dj.tensor([1.0], requires_grad=True)
    (w * 2).sum().backward()
    w = w - 0.1 * w.grad
    assert not w.is_leaf
    (w * 3).sum().backward()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert w.grad is None


def test_cubic_fit_loss_falls_and_matches_functional_spelling():
    x = dj.linspace(-math.pi, math.pi, 2000)
    y = x.sin()
    dj.manual_seed(1)
    params = [dj.randn((), requires_grad=True) for _ in range(4)]
    start = [p.item() for p in params]
    lr = 1e-6
    losses = []
    for _ in range(200):
        a, b, c, d = params
        loss = ((a + b * x + c * x ** 2 + d * x ** 3) - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with dj.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad = None
    assert losses[-1] < losses[0] * 0.5
    assert all(b <= a * (1 + 1e-6) for a, b in zip(losses, losses[1:]))

    xs, ys = x.numpy(), y.numpy()

    def loss_fn(p):
        a, b, c, d = p
        return jnp.sum(((a + b * xs + c * xs ** 2 + d * xs ** 3) - ys) ** 2)

    def step(i, p):
        g = dj.grad(loss_fn)(p)
        return tuple(pi - lr * gi for pi, gi in zip(p, g))

    p0 = tuple(np.float32(s) for s in start)
    final = dj.jit(lambda p: dj.lax.fori_loop(0, 200, step, p))(p0)
    np.testing.assert_allclose([p.item() for p in params], [float(f) for f in final],
                               rtol=2e-3, atol=1e-5)


def test_linear_regression_keeps_leaves():
    dj.manual_seed(3)
    x = dj.rand(20, 1) * 5
    y = 2 * x + dj.randn(20, 1) * 0.1
    w = dj.tensor([1.0], requires_grad=True)
    b = dj.tensor([1.0], requires_grad=True)
    ids = (id(w), id(b))
    for _ in range(500):
        loss = (0.5 * (y - (w * x + b)) ** 2).mean()
        loss.backward()
        w.data -= 0.05 * w.grad.data
        b.data -= 0.05 * b.grad.data
        w.grad.zero_()
        b.grad.zero_()
    assert (id(w), id(b)) == ids and w.is_leaf and b.is_leaf
    assert abs(w.item() - 2) < 0.1


def test_grad_fn_shows_its_ir():
    x = dj.tensor([1.0, 2.0], requires_grad=True)
    out = (x * x).sum()
    text = out.grad_fn.ir()
    assert "mul" in text and "reduce_sum" in text and "f32[2]" in text


def test_backward_function_is_compiled_once_per_graph_shape(monkeypatch):
    from dualjit.eager import backward

    compiles = []
    compile_fused = backward._compile_fused
    monkeypatch.setattr(backward, "_compile_fused",
                        lambda *a: compiles.append(1) or compile_fused(*a))
    x = dj.tensor([1.0, 2.0], requires_grad=True)
    for k in range(5):
        (x * float(k) + x * x).sum().backward()
    assert len(compiles) == 1


def test_backward_cache_keeps_the_most_recently_used(monkeypatch):
    from dualjit.eager import backward

    monkeypatch.setattr(backward, "BACKWARD_CACHE_SIZE", 2)
    monkeypatch.setattr(backward, "_backward_cache", {})
    compiles = []
    compile_fused = backward._compile_fused
    monkeypatch.setattr(backward, "_compile_fused",
                        lambda *a: compiles.append(1) or compile_fused(*a))
    hot = dj.tensor([1.0, 2.0], requires_grad=True)
    for n in (3, 4, 5, 6):  # a new graph shape each time, the hot one used in between
        (hot * hot).sum().backward()
        (dj.ones(n, requires_grad=True) * 2.0).sum().backward()
    assert len(backward._backward_cache) == 2
    assert len(compiles) == 5  # the hot graph compiled once, each other shape once
    assert hot.grad.tolist() == [8.0, 16.0]  # 4 backward passes of d(sum x^2) = 2x


@pytest.mark.parametrize("shape", [(), (3,)])
def test_gradients_never_share_storage(shape):
    # d(a + b)/da and d(a + b)/db are the same array inside the engine; each leaf must still
    # get its own .grad, so accumulating into one cannot change the other.
    a = dj.tensor(np.ones(shape), requires_grad=True)
    b = dj.tensor(np.ones(shape), requires_grad=True)
    (a + b).sum().backward()
    (a * 1.0 + b).backward(dj.tensor(np.full(shape, 2.0))) if shape else (a + b).backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.full(shape, 3.0 if shape else 2.0))
    a.grad.zero_()
    np.testing.assert_array_equal(b.grad.numpy(), np.full(shape, 3.0 if shape else 2.0))
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
