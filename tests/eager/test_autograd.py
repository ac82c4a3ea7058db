"""Autograd beyond the seeds: version counters, views and in-place ops, setitem, create_graph,
autograd.grad, custom Functions, hooks, functional jacobian/hessian, gradcheck."""

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp

f64 = dj.float64


def leaf(values, dtype=f64):
    return dj.tensor(np.asarray(values, dtype=np.float64), dtype=dtype, requires_grad=True)


# -- version counter ------------------------------------------------------------------------------

VERSION_ERROR = "modified by an inplace operation"


def test_leaf_changed_under_no_grad_after_use_raises_at_backward():
    w = leaf([1.0, 2.0, 3.0])
    loss = (w * w).sum()
    with dj.no_grad():
        w += 1
    with pytest.raises(RuntimeError, match=VERSION_ERROR):
        loss.backward()


def test_constant_changed_after_use_raises_when_its_value_is_needed():
    w, x = leaf([1.0, 2.0]), dj.tensor([3.0, 4.0], dtype=f64)
    y = (w * x).sum()
    x.add_(1)
    with pytest.raises(RuntimeError, match="is at version 1; expected version 0"):
        y.backward()


def test_constant_changed_after_use_is_fine_when_its_value_is_not_needed():
    w, c = leaf([1.0, 2.0]), dj.tensor([3.0, 4.0], dtype=f64)
    y = (w + c).sum()
    c.add_(1)
    y.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 1.0])


def test_data_writes_bypass_the_version_counter():
    x = leaf([1.0])
    y = x * x
    x.data.mul_(3)  # PyTorch: .data has its own version counter, backward reads the new value
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0])


@pytest.mark.parametrize("op", ["exp", "sigmoid", "tanh", "relu", "sqrt"])
def test_modifying_an_output_pytorch_saves_raises(op):
    x = leaf([0.5, 1.5])
    y = getattr(x, op)()
    y.add_(1)
    with pytest.raises(RuntimeError, match=VERSION_ERROR):
        y.sum().backward()


def test_modifying_a_saved_intermediate_raises():
    x = leaf([0.5, 1.5])
    b = x * 1
    z = (b * b).sum()
    b.add_(1)
    with pytest.raises(RuntimeError, match=VERSION_ERROR):
        z.backward()


def test_in_place_op_keeps_the_original_it_needs():
    w = leaf([1.0, 2.0, 3.0])
    x = leaf([1.0, 1.0, 1.0])
    y = x * 2
    y.mul_(w)  # d/dw needs y before the multiplication
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 2.0, 2.0])
    c = dj.ones(3, dtype=f64)
    c.mul_(w)
    c.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 3.0, 3.0])
    assert c.grad_fn is not None and c.requires_grad


def test_version_property_counts_in_place_changes():
    t = dj.zeros(3)
    assert t._version == 0
    t.add_(1)
    t[0] = 5
    t.zero_()
    assert t._version == 3
    assert t.detach()._version == 3  # detach shares the counter
    assert t.data._version == 0  # .data does not


# -- views ----------------------------------------------------------------------------------------

def test_in_place_on_a_view_changes_the_base_and_its_gradient():
    a = leaf([1.0, 2.0, 3.0, 4.0])
    b = a * 2
    v = b[1:3]
    v.mul_(10)
    np.testing.assert_array_equal(b.detach().numpy(), [2.0, 40.0, 60.0, 8.0])
    assert repr(b.grad_fn) == "<CopySlices>"
    (b * dj.tensor([1.0, 2.0, 3.0, 4.0], dtype=f64)).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 40.0, 60.0, 8.0])


def test_view_used_after_its_base_changed_follows_the_base():
    a = leaf([1.0, 2.0, 3.0, 4.0])
    b = a * 2
    v = b.view(2, 2)[1]
    b.mul_(3)
    np.testing.assert_array_equal(v.detach().numpy(), [18.0, 24.0])
    v.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 0.0, 6.0, 6.0])


def test_views_share_storage_as_in_pytorch():
    x = dj.arange(6.0)
    v = x.view(2, 3)
    v[0, 1] = 10.0
    x.reshape(3, 2).transpose(0, 1)[0].zero_()
    np.testing.assert_array_equal(x.numpy(), [0.0, 10.0, 0.0, 3.0, 0.0, 5.0])
    c = x.clone()
    c.fill_(7)
    assert x.numpy()[1] == 10.0


def test_in_place_on_a_view_of_a_leaf_that_requires_grad_raises():
    a = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="view of a leaf Variable"):
        a[0:1].mul_(2)


def test_expanded_tensors_are_read_only():
    e = dj.ones(1).expand(3)
    with pytest.raises(RuntimeError, match="read-only"):
        e.add_(1)


# -- setitem --------------------------------------------------------------------------------------

def test_setitem_is_recorded_with_gradients_to_both_sides():
    a = leaf([1.0, 2.0, 3.0, 4.0])
    v = leaf([7.0, 8.0])
    b = a * 2
    b[[0, 3]] = v
    b[1] = 5.0
    np.testing.assert_array_equal(b.detach().numpy(), [7.0, 5.0, 6.0, 8.0])
    (b * dj.tensor([1.0, 2.0, 3.0, 4.0], dtype=f64)).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 0.0, 6.0, 0.0])
    np.testing.assert_array_equal(v.grad.numpy(), [1.0, 4.0])


def test_setitem_broadcasts_and_last_duplicate_wins():
    a = leaf(np.zeros((2, 3)))
    b = a + 0
    v = leaf([1.0, 2.0, 3.0])
    b[:, :] = v
    b[0, [1, 1]] = dj.tensor([5.0, 6.0], dtype=f64)
    np.testing.assert_array_equal(b.detach().numpy(), [[1.0, 6.0, 3.0], [1.0, 2.0, 3.0]])
    b.sum().backward()
    np.testing.assert_array_equal(v.grad.numpy(), [2.0, 1.0, 2.0])
    np.testing.assert_array_equal(a.grad.numpy(), np.zeros((2, 3)))


def test_setitem_on_a_leaf_requiring_grad_raises_and_works_under_no_grad():
    a = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="leaf Variable"):
        a[0] = 3.0
    with dj.no_grad():
        a[0] = 3.0
    assert a.is_leaf and a.numpy()[0] == 3.0


def test_two_dimensional_boolean_mask_with_gradient():
    x = leaf([[1.0, -2.0], [3.0, -4.0]])
    m = x > 0
    y = x[m]
    np.testing.assert_array_equal(y.detach().numpy(), [1.0, 3.0])
    (y * dj.tensor([10.0, 20.0], dtype=f64)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[10.0, 0.0], [20.0, 0.0]])
    z = x.detach().clone()
    z[z < 0] = 0.0
    np.testing.assert_array_equal(z.numpy(), [[1.0, 0.0], [3.0, 0.0]])


# -- reductions returning (values, indices) -------------------------------------------------------

def test_max_min_with_dim_return_values_and_indices():
    t = leaf([[1.0, 5.0, 5.0], [3.0, 2.0, 1.0]])
    values, indices = t.max(1)
    np.testing.assert_array_equal(values.detach().numpy(), [5.0, 3.0])
    np.testing.assert_array_equal(indices.numpy(), [1, 0])
    assert indices.dtype == dj.int64
    out = dj.max(t, dim=1, keepdim=True)
    assert out.values.shape == (2, 1) and out.indices.shape == (2, 1)
    values.sum().backward()  # all of the gradient goes to the chosen index, as PyTorch
    np.testing.assert_array_equal(t.grad.numpy(), [[0, 1, 0], [1, 0, 0]])
    mins = t.min(dim=0)
    np.testing.assert_array_equal(mins.indices.numpy(), [0, 1, 1])
    assert dj.max(t).item() == 5.0 and isinstance(t.max(), dj.Tensor)


def test_full_max_splits_ties_like_amax():
    t = leaf([1.0, 5.0, 5.0])
    t.max().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [0.0, 0.5, 0.5])


@pytest.mark.parametrize("kind", ["sort", "topk", "median", "mode", "kthvalue", "cummax", "cummin"])
def test_selection_functions_match_numpy(kind):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, size=(3, 6)).astype(np.float64)
    t = leaf(x)
    if kind == "sort":
        v, i = t.sort(1, descending=True)
        expected_i = np.argsort(-x, axis=1, kind="stable")
    elif kind == "topk":
        v, i = t.topk(2, dim=1)
        expected_i = np.argsort(-x, axis=1, kind="stable")[:, :2]
    elif kind == "median":
        v, i = t.median(1)
        expected_v = np.sort(x, axis=1)[:, 2]  # lower median of 6
        np.testing.assert_array_equal(v.detach().numpy(), expected_v)
        expected_i = None
    elif kind == "kthvalue":
        v, i = t.kthvalue(2, 1)
        np.testing.assert_array_equal(v.detach().numpy(), np.sort(x, axis=1)[:, 1])
        expected_i = None
    elif kind == "mode":
        v, i = t.mode(1)
        for row, value in zip(x, v.detach().numpy()):
            vals, counts = np.unique(row, return_counts=True)
            assert value == vals[np.argmax(counts)]
        expected_i = None
    else:
        v, i = getattr(t, kind)(1)
        acc = np.maximum.accumulate if kind == "cummax" else np.minimum.accumulate
        np.testing.assert_array_equal(v.detach().numpy(), acc(x, axis=1))
        expected_i = None
    if expected_i is not None:
        np.testing.assert_array_equal(i.numpy(), expected_i)
    np.testing.assert_array_equal(np.take_along_axis(x, i.numpy().reshape(v.shape[0], -1), 1)
                                  .reshape(v.shape), v.detach().numpy())
    v.sum().backward()  # gradient lands exactly on the selected elements
    expected = np.zeros_like(x)
    np.add.at(expected, (np.arange(3)[:, None], i.numpy().reshape(3, -1)), 1.0)
    np.testing.assert_array_equal(t.grad.numpy(), expected)


# -- NumPy functions on tensors ------------------------------------------------------------------

@pytest.mark.parametrize("call", [lambda t: np.sin(t), lambda t: np.exp(t),
                                  lambda t: np.concatenate([t, t]), lambda t: np.asarray(t),
                                  lambda t: np.mean(t)])
def test_numpy_functions_refuse_tensors_that_require_grad(call):
    with pytest.raises(RuntimeError, match="requires grad"):
        call(leaf([1.0, 2.0]))


def test_numpy_error_names_the_function():
    with pytest.raises(RuntimeError, match=r"numpy\.sin\(\) was called on a Tensor"):
        np.sin(leaf([1.0]))


def test_numpy_functions_accept_tensors_without_grad():
    t = dj.tensor([0.0, 1.0])
    out = np.sin(t)
    assert isinstance(out, dj.Tensor)
    np.testing.assert_allclose(out.numpy(), np.sin([0.0, 1.0]))
    np.testing.assert_array_equal(np.concatenate([t, t]), [0.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(np.asarray(leaf([1.0]).detach()), [1.0])


def test_numpy_array_times_tensor_is_recorded():
    w = leaf([1.0, 2.0])
    y = np.array([3.0, 4.0]) * w
    assert isinstance(y, dj.Tensor) and y.grad_fn is not None
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 4.0])


# -- create_graph, autograd.grad ------------------------------------------------------------------

def _f_tensor(x):
    return (x.sin() * x + x ** 3 * x.exp().sum()).sum()


def _f_array(x):
    return jnp.sum(jnp.sin(x) * x + x ** 3 * jnp.sum(jnp.exp(x)))


def test_create_graph_second_derivative_matches_dj_hessian():
    x0 = np.array([0.3, -0.7, 1.1])
    x = leaf(x0)
    (g,) = dj.autograd.grad(_f_tensor(x), x, create_graph=True)
    rows = [dj.autograd.grad(g[i], x, retain_graph=True)[0].numpy() for i in range(3)]
    np.testing.assert_allclose(np.stack(rows), dj.hessian(_f_array)(x0), rtol=1e-10)
    np.testing.assert_allclose(g.detach().numpy(), dj.grad(_f_array)(x0), rtol=1e-12)


def test_backward_create_graph_makes_grad_differentiable():
    x = leaf([0.3, -0.7, 1.1])
    _f_tensor(x).backward(create_graph=True)
    g = x.grad
    assert g.requires_grad and g.grad_fn is not None
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), dj.hessian(_f_array)(x.detach().numpy()).sum(0),
                               rtol=1e-10)


def test_third_derivative_through_create_graph():
    x = leaf([0.5])
    (g1,) = dj.autograd.grad((x ** 4).sum(), x, create_graph=True)
    (g2,) = dj.autograd.grad(g1.sum(), x, create_graph=True)
    (g3,) = dj.autograd.grad(g2.sum(), x)
    np.testing.assert_allclose([g1.item(), g2.item(), g3.item()], [0.5, 3.0, 12.0])


def test_autograd_grad_does_not_touch_dot_grad_and_handles_options():
    x, y, unused = leaf([1.0, 2.0]), leaf([3.0]), leaf([0.0])
    out = (x * y).sum()
    gx, gy = dj.autograd.grad(out, (x, y), retain_graph=True)
    np.testing.assert_array_equal(gx.numpy(), [3.0, 3.0])
    np.testing.assert_array_equal(gy.numpy(), [3.0])
    assert x.grad is None and y.grad is None
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        dj.autograd.grad(out, [x, unused], retain_graph=True)
    gx, gu = dj.autograd.grad(out, [x, unused], allow_unused=True, retain_graph=True)
    assert gu is None
    (gx,) = dj.autograd.grad(out, x, grad_outputs=dj.tensor(2.0, dtype=f64))
    np.testing.assert_array_equal(gx.numpy(), [6.0, 6.0])
    with pytest.raises(RuntimeError, match="second time"):
        dj.autograd.grad(out, x)


def test_grad_with_respect_to_a_non_leaf():
    x = leaf([1.0, 2.0])
    h = x * 3
    out = (h * h).sum()
    (gh,) = dj.autograd.grad(out, h)
    np.testing.assert_array_equal(gh.numpy(), 2 * h.detach().numpy())


def test_backward_with_inputs_accumulates_only_there():
    x, y = leaf([1.0]), leaf([2.0])
    (x * y).sum().backward(inputs=[x])
    assert y.grad is None and x.grad.item() == 2.0


# -- custom Functions -----------------------------------------------------------------------------

class Legendre3(dj.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 0.5 * (5 * x ** 3 - 3 * x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * 1.5 * (5 * x ** 2 - 1)


class WrongGradient(dj.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * x

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output  # should be 2 x grad_output


def test_custom_function_forward_backward_and_gradcheck():
    x = leaf([0.5, -1.5])
    y = Legendre3.apply(x * 2)
    assert "Legendre3Backward" in repr(y.grad_fn)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * 1.5 * (5 * (2 * np.array([0.5, -1.5])) ** 2 - 1))
    assert dj.autograd.gradcheck(Legendre3.apply, (leaf([0.3, 0.9]),))
    with pytest.raises(dj.autograd.GradcheckError, match="Jacobian mismatch"):
        dj.autograd.gradcheck(WrongGradient.apply, (leaf([0.3, 0.9]),))
    assert not dj.autograd.gradcheck(WrongGradient.apply, (leaf([0.3, 0.9]),),
                                     raise_exception=False)


def test_custom_function_ctx_needs_input_grad_and_non_differentiable_outputs():
    seen = {}

    class SortWithIndex(dj.autograd.Function):
        @staticmethod
        def forward(ctx, x, scale):
            seen["needs"] = ctx.needs_input_grad
            values, order = x.sort()
            ctx.mark_non_differentiable(order)
            ctx.save_for_backward(order)
            return values * scale, order

        @staticmethod
        def backward(ctx, grad_values, grad_order):
            (order,) = ctx.saved_tensors
            g = dj.zeros_like(grad_values)
            g[order] = grad_values * 2.0
            return g, None

    x = leaf([3.0, 1.0, 2.0])
    values, order = SortWithIndex.apply(x, 2.0)
    assert seen["needs"] == (True, False)
    assert not order.requires_grad and values.requires_grad
    (values * dj.tensor([1.0, 10.0, 100.0], dtype=f64)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [200.0, 2.0, 20.0])


def test_custom_function_saved_tensor_modified_raises():
    x = leaf([1.0, 2.0])
    h = x * 1
    y = Legendre3.apply(h)
    h.add_(1)
    with pytest.raises(RuntimeError, match=VERSION_ERROR):
        y.sum().backward()


def test_gradgradcheck_catches_a_wrong_second_derivative():
    assert dj.autograd.gradgradcheck(lambda t: (t.sin() * t ** 2).sum(), (leaf([0.4, 1.2]),))

    class WrongSecond(dj.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x.detach() ** 2  # right value, but detached: no second derivative

    assert dj.autograd.gradcheck(WrongSecond.apply, (leaf([0.4, 1.2]),))
    with pytest.raises(dj.autograd.GradcheckError):
        dj.autograd.gradgradcheck(WrongSecond.apply, (leaf([0.4, 1.2]),))


# -- hooks and retain_grad ------------------------------------------------------------------------

def test_tensor_hooks_see_and_replace_gradients():
    seen = []
    x = leaf([1.0, 2.0])
    y = x * 3
    handle = y.register_hook(lambda g: seen.append(g.numpy().copy()) or g * 10)
    x.register_hook(lambda g: g + 1)
    y.sum().backward()
    np.testing.assert_array_equal(seen[0], [1.0, 1.0])
    np.testing.assert_array_equal(x.grad.numpy(), [31.0, 31.0])
    handle.remove()
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0])


# -- functional -----------------------------------------------------------------------------------

def test_functional_jacobian_hessian_vjp_jvp_match_the_jax_style_transforms():
    F = dj.autograd.functional
    x0 = np.array([0.3, -0.7, 1.1])

    def f_t(x):
        return x.sin() * x.sum()

    def f_a(x):
        return jnp.sin(x) * jnp.sum(x)

    np.testing.assert_allclose(F.jacobian(f_t, leaf(x0)).numpy(), dj.jacfwd(f_a)(x0), rtol=1e-12)
    np.testing.assert_allclose(F.hessian(_f_tensor, leaf(x0)).numpy(), dj.hessian(_f_array)(x0),
                               rtol=1e-10)
    v = np.array([1.0, 2.0, -1.0])
    out, vjp = F.vjp(f_t, leaf(x0), dj.tensor(v))
    np.testing.assert_allclose(vjp.numpy(), dj.vjp(f_a, x0)[1](v)[0], rtol=1e-12)
    out, jvp = F.jvp(f_t, leaf(x0), dj.tensor(v))
    np.testing.assert_allclose(jvp.numpy(), dj.jvp(f_a, (x0,), (v,))[1], rtol=1e-12)
    out, hv = F.hvp(_f_tensor, leaf(x0), dj.tensor(v))
    np.testing.assert_allclose(hv.numpy(), dj.hessian(_f_array)(x0) @ v, rtol=1e-10)
