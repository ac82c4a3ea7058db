"""The rest of issue 13's function and method list: grad-mode switches, comparisons and logic,
products, selections, in-place methods on recorded tensors, *_like creation, default dtype;
values against NumPy formulas, gradients against central differences."""

import numpy as np
import pytest

import dualjit as dj

from .helpers import check_grad, numeric_grad

rng = np.random.default_rng(7)
f64 = dj.float64


def leaf(values):
    return dj.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


# -- grad mode -------------------------------------------------------------------------------------

def test_enable_grad_records_inside_no_grad():
    x = leaf([1.0, 2.0])
    with dj.no_grad():
        assert not dj.is_grad_enabled()
        with dj.enable_grad():
            y = x * 3
        z = x * 3
    assert y.requires_grad and y.grad_fn is not None and not z.requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_set_grad_enabled_as_context_call_and_decorator():
    x = leaf([1.0])
    with dj.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    dj.set_grad_enabled(False)  # called as a function it switches until switched back
    try:
        assert not (x * 2).requires_grad
    finally:
        dj.set_grad_enabled(True)
    assert dj.is_grad_enabled()

    @dj.enable_grad()
    def recorded(t):
        return t * 2

    @dj.no_grad()
    def unrecorded(t):
        return t * 2

    with dj.no_grad():
        assert recorded(x).requires_grad
    assert not unrecorded(x).requires_grad and dj.is_grad_enabled()


def test_grad_mode_is_restored_after_an_exception():
    with pytest.raises(ValueError):
        with dj.no_grad():
            raise ValueError
    assert dj.is_grad_enabled()


def test_inference_mode_records_nothing():
    x = leaf([1.0, 2.0])
    with dj.inference_mode():
        y = x.exp() * 2
    assert not y.requires_grad and y.grad_fn is None
    np.testing.assert_allclose(y.numpy(), 2 * np.exp([1.0, 2.0]))
    with dj.inference_mode(False):
        assert (x * 2).requires_grad


# -- comparison and logic --------------------------------------------------------------------------

COMPARISONS = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
               "gt": np.greater, "ge": np.greater_equal}


@pytest.mark.parametrize("name", sorted(COMPARISONS))
def test_comparisons_match_numpy_in_every_spelling(name):
    a = rng.integers(0, 3, (3, 4)).astype(np.float32)
    b = rng.integers(0, 3, (3, 4)).astype(np.float32)
    ta, tb = dj.tensor(a, requires_grad=True), dj.tensor(b)
    expected = COMPARISONS[name](a, b)
    for out in (getattr(dj, name)(ta, tb), getattr(ta, name)(tb)):
        assert out.dtype == dj.bool and not out.requires_grad
        np.testing.assert_array_equal(out.numpy(), expected)
    np.testing.assert_array_equal(getattr(ta, name)(1.0).numpy(), COMPARISONS[name](a, 1.0))


def test_operators_compare_and_combine_masks():
    a = np.array([-1.0, 0.0, 2.0, 3.0])
    t = dj.tensor(a)
    np.testing.assert_array_equal((t == 0).numpy(), a == 0)
    np.testing.assert_array_equal((t != 0).numpy(), a != 0)
    np.testing.assert_array_equal(((t > 0) & (t < 3)).numpy(), (a > 0) & (a < 3))
    np.testing.assert_array_equal(((t < 0) | (t > 2)).numpy(), (a < 0) | (a > 2))
    np.testing.assert_array_equal((~(t > 0)).numpy(), ~(a > 0))
    np.testing.assert_array_equal(((t > 0) ^ (t > 2)).numpy(), (a > 0) ^ (a > 2))


def test_logical_functions_match_numpy():
    a = np.array([0.0, 1.0, 0.0, -2.0])
    b = np.array([0.0, 0.0, 3.0, 1.0])
    ta, tb = dj.tensor(a), dj.tensor(b)
    for name, ref in [("logical_and", np.logical_and), ("logical_or", np.logical_or),
                      ("logical_xor", np.logical_xor)]:
        out = getattr(dj, name)(ta, tb)
        assert out.dtype == dj.bool
        np.testing.assert_array_equal(out.numpy(), ref(a, b))
        np.testing.assert_array_equal(getattr(ta, name)(tb).numpy(), ref(a, b))
    np.testing.assert_array_equal(dj.logical_not(ta).numpy(), np.logical_not(a))
    assert dj.any(ta > 0).item() and dj.all(ta > -3).item() and not dj.all(ta > 0).item()
    np.testing.assert_array_equal(dj.isclose(ta, tb).numpy(), np.isclose(a, b))
    assert dj.equal(ta, dj.tensor(a.copy())) and not dj.equal(ta, tb)


# -- products, selections --------------------------------------------------------------------------

TWO_INPUTS = {
    "mm": (lambda x, y: dj.mm(x, y.T), lambda x, y: x @ y.T, (3, 4), (5, 4)),
    "bmm": (lambda x, y: dj.bmm(x, y), lambda x, y: x @ y, (2, 3, 4), (2, 4, 5)),
    "dot": (lambda x, y: dj.dot(x, y), lambda x, y: np.dot(x, y), (5,), (5,)),
    "mv": (lambda x, y: dj.mv(x, y), lambda x, y: x @ y, (3, 5), (5,)),
    "matmul-broadcast": (lambda x, y: x @ y, lambda x, y: x @ y, (2, 3, 4), (4,)),
    "minimum": (dj.minimum, np.minimum, (3, 4), (3, 4)),
    "maximum-broadcast": (dj.maximum, np.maximum, (3, 4), (1, 4)),
    "where-two-inputs": (lambda x, y: dj.where(x > y, x, y), lambda x, y: np.where(x > y, x, y),
                         (3, 4), (4,)),
    "expand_as": (lambda x, y: x.expand_as(y) * y, lambda x, y: np.broadcast_to(x, y.shape) * y,
                  (1, 4), (3, 4)),
    "scatter-src": (lambda x, y: x.scatter(1, dj.tensor([[2, 0], [1, 3], [0, 1]]), y[:, :2]),
                    lambda x, y: _scatter(x, np.array([[2, 0], [1, 3], [0, 1]]), y[:, :2]),
                    (3, 4), (3, 4)),
    "index_add": (lambda x, y: x.index_add(0, dj.tensor([2, 0, 2]), y),
                  lambda x, y: _index_add(x, [2, 0, 2], y), (3, 4), (3, 4)),
}


def _scatter(x, index, src):
    out = x.copy()
    for i in range(index.shape[0]):
        for j in range(index.shape[1]):
            out[i, index[i, j]] = src[i, j]
    return out


def _index_add(x, index, src):
    out = x.copy()
    for k, i in enumerate(index):
        out[i] += src[k]
    return out


@pytest.mark.parametrize("name", sorted(TWO_INPUTS))
def test_two_input_functions_values_and_gradients(name):
    fn, reference, sa, sb = TWO_INPUTS[name]
    check_grad(fn, reference, rng.standard_normal(sa), rng.standard_normal(sb))


def test_masked_select_value_and_gradient():
    x = rng.standard_normal((3, 4))
    mask = x > 0
    check_grad(lambda t: dj.masked_select(t, dj.tensor(mask)) ** 2, lambda a: a[mask] ** 2, x)
    row = np.array([True, False, True, True])  # the mask broadcasts against the input
    check_grad(lambda t: t.masked_select(dj.tensor(row)) * 3,
               lambda a: a[np.broadcast_to(row, a.shape)] * 3, x)


def test_argmax_argmin_with_dim_match_numpy_and_pick_the_first_tie():
    x = np.array([[1.0, 5.0, 5.0, 0.0], [0.0, 0.0, -1.0, -1.0]])
    t = dj.tensor(x)
    for name, ref in [("argmax", np.argmax), ("argmin", np.argmin)]:
        np.testing.assert_array_equal(getattr(t, name)(1).numpy(), ref(x, 1))
        np.testing.assert_array_equal(getattr(dj, name)(t, dim=0).numpy(), ref(x, 0))
        out = getattr(t, name)(1, keepdim=True)
        assert out.shape == (2, 1) and out.dtype == dj.int64
        assert getattr(t, name)().item() == ref(x)  # over the flattened tensor


def test_two_dimensional_mask_selects_rows_of_a_three_dimensional_tensor():
    x = rng.standard_normal((2, 3, 2))
    mask = np.array([[True, False, True], [False, True, False]])
    check_grad(lambda t: t[dj.tensor(mask)] * dj.arange(6.0, dtype=f64).reshape(3, 2),
               lambda a: a[mask] * np.arange(6.0).reshape(3, 2), x)
    empty = dj.tensor(x)[dj.zeros(2, 3, 2, dtype=dj.bool)]
    assert empty.shape == (0,)


def test_assignment_through_a_two_dimensional_mask_records_both_sides():
    x0 = rng.standard_normal((3, 4))
    mask = x0 > 0
    k = int(mask.sum())
    v0 = rng.standard_normal(k)

    def reference(x, v):
        out = x * 2
        out[mask] = v * 3
        return out * np.arange(12.0).reshape(3, 4)

    def tensors(x, v):
        out = x * 2
        out[dj.tensor(mask)] = v * 3
        return out * dj.arange(12.0, dtype=f64).reshape(3, 4)

    check_grad(tensors, reference, x0, v0)


# -- in-place methods on recorded tensors ----------------------------------------------------------

IDX = np.array([2, 0, 2])
MASK = np.array([[True, False, False, True]])

# name: (in-place update of t, a recorded copy of the leaf x; NumPy formula of the result)
IN_PLACE = {
    "add_": (lambda t, x: t.add_(x.exp(), alpha=2), lambda a: a + 2 * np.exp(a)),
    "sub_": (lambda t, x: t.sub_(0.5), lambda a: a - 0.5),
    "mul_": (lambda t, x: t.mul_(x.sin()), lambda a: a * np.sin(a)),
    "div_": (lambda t, x: t.div_(x.abs() + 1), lambda a: a / (np.abs(a) + 1)),
    "clamp_": (lambda t, x: t.clamp_(-0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5)),
    "masked_fill_": (lambda t, x: t.masked_fill_(dj.tensor(MASK), 2.0),
                     lambda a: np.where(MASK, 2.0, a)),
    "index_add_": (lambda t, x: t.index_add_(0, dj.tensor(IDX), t * 2),
                   lambda a: _index_add(a, IDX, a * 2)),
    "scatter_add_": (lambda t, x: t.scatter_add_(0, dj.tensor([[2, 0, 1, 0]]), t[1:2] * 1),
                     lambda a: a + _scatter_add_rows(a[1:2], [2, 0, 1, 0])),
    "fill_": (lambda t, x: (t[0].fill_(3.0), t)[1],
              lambda a: np.concatenate([[np.full(4, 3.0)], a[1:]])),
    "zero_": (lambda t, x: (t[:, 1].zero_(), t)[1], lambda a: a * np.array([1.0, 0.0, 1.0, 1.0])),
    "copy_": (lambda t, x: (t[1].copy_(t[0] * 5), t)[1],
              lambda a: np.stack([a[0], 5 * a[0], a[2]])),
    "pow_": (lambda t, x: t.pow_(2), lambda a: a ** 2),
    "clamp_-tensor-bounds": (
        lambda t, x: t.clamp_(dj.tensor(-0.5), dj.tensor([0.3, 0.4, 0.5, 9.0], dtype=f64)),
        lambda a: np.clip(a, -0.5, [0.3, 0.4, 0.5, 9.0])),
    # the in-place forms of elementwise functions (their derivative reads the old value)
    "exp_": (lambda t, x: t.exp_(), np.exp),
    "sin_": (lambda t, x: t.sin_(), np.sin),
    "tanh_": (lambda t, x: t.tanh_(), np.tanh),
    "sigmoid_": (lambda t, x: t.sigmoid_(), lambda a: 1 / (1 + np.exp(-a))),
    "relu_": (lambda t, x: t.relu_(), lambda a: np.maximum(a, 0)),
    "sqrt_": (lambda t, x: t.abs_().add_(0.5).sqrt_(), lambda a: np.sqrt(np.abs(a) + 0.5)),
    "log_": (lambda t, x: t.mul_(t.detach().sign()).log_(), lambda a: np.log(np.abs(a))),
    "neg_": (lambda t, x: t.neg_(), np.negative),
    "reciprocal_": (lambda t, x: t.reciprocal_(), np.reciprocal),
    "square_": (lambda t, x: t.square_(), np.square),
}


def _scatter_add_rows(src, columns_to_rows):
    out = np.zeros((3, 4))
    for j, i in enumerate(columns_to_rows):
        out[i, j] += src[0, j]
    return out


@pytest.mark.parametrize("name", sorted(IN_PLACE))
def test_in_place_methods_values_gradients_and_versions(name):
    update, reference = IN_PLACE[name]
    weights = np.arange(1.0, 13.0).reshape(3, 4)
    x0 = rng.standard_normal((3, 4))

    def through_update(x):
        y = x * 1  # a recorded (non-leaf) tensor may be changed in place
        before = y._version
        out = update(y, x)
        assert y._version > before
        return out * dj.tensor(weights)

    check_grad(through_update, lambda a: reference(a) * weights, x0)


@pytest.mark.parametrize("update", [lambda y: y.mul_(y), lambda y: y.div_(y.abs() + 1)])
def test_in_place_change_of_a_value_its_own_derivative_read_raises(update):
    y = leaf([1.0, -2.0]) * 1  # (PyTorch raises for both: mul_ and abs save their input)
    update(y)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_detach_in_place_makes_a_leaf_of_the_same_object():
    x = leaf([1.0, 2.0])
    y = x * 2
    same = y.detach_()
    assert same is y and y.is_leaf and not y.requires_grad and y.grad_fn is None
    np.testing.assert_array_equal(y.numpy(), [2.0, 4.0])


def test_contiguous_clone_keep_values_and_gradients():
    x = rng.standard_normal((3, 4))
    check_grad(lambda t: t.T.contiguous().view(12) * 2, lambda a: a.T.reshape(12) * 2, x)
    check_grad(lambda t: t.clone().mul_(3), lambda a: a * 3, x)


# -- creation --------------------------------------------------------------------------------------

def test_like_functions_keep_shape_and_dtype():
    t = dj.tensor(np.ones((2, 3), np.float64))
    for make in (dj.zeros_like, dj.ones_like, dj.empty_like, dj.rand_like, dj.randn_like):
        out = make(t)
        assert out.shape == (2, 3) and out.dtype == f64 and not out.requires_grad
    np.testing.assert_array_equal(dj.full_like(t, 7.5).numpy(), np.full((2, 3), 7.5))
    assert dj.full_like(t, 7, dtype=dj.int64).dtype == dj.int64
    assert dj.zeros_like(t, requires_grad=True).requires_grad
    r = dj.rand_like(dj.zeros(10000)).numpy()
    assert 0 <= r.min() and r.max() < 1 and abs(r.mean() - 0.5) < 0.02
    n = dj.randn_like(dj.zeros(10000)).numpy()
    assert abs(n.mean()) < 0.05 and abs(n.std() - 1) < 0.05


def test_default_dtype_governs_float_creation():
    assert dj.get_default_dtype() == dj.float32
    dj.set_default_dtype(dj.float64)
    try:
        assert dj.get_default_dtype() == dj.float64
        assert dj.zeros(2).dtype == f64 and dj.tensor([1.5]).dtype == f64
        assert dj.linspace(0, 1, 3).dtype == f64 and dj.arange(0.0, 1.0, 0.5).dtype == f64
        assert dj.tensor([1]).dtype == dj.int64  # integers keep int64
    finally:
        dj.set_default_dtype(dj.float32)
    assert dj.zeros(2).dtype == dj.float32


def test_functional_jacobian_against_its_formula():
    x0 = np.array([0.3, -0.7, 1.1])
    jac = dj.autograd.functional.jacobian(lambda x: x.sin() * x.sum(), leaf(x0)).numpy()
    expected = np.diag(np.cos(x0)) * x0.sum() + np.outer(np.sin(x0), np.ones(3))
    np.testing.assert_allclose(jac, expected, rtol=1e-12)
    np.testing.assert_allclose(
        jac, np.stack([numeric_grad(lambda x, i=i: np.sin(x[i]) * x.sum(), x0) for i in range(3)]),
        rtol=1e-6)


def test_in_place_functions_on_integer_tensors_refuse_float_results():
    t = dj.tensor([1, 4])
    with pytest.raises(RuntimeError, match="can't be cast"):
        t.sqrt_()
    np.testing.assert_array_equal(t.neg_().numpy(), [-1, -4])


def test_item_assignment_after_use_raises_the_version_error():
    x = leaf([[0.5, 1.5], [2.0, -1.0]])
    b = x * 1
    z = (b * b).sum()  # mul's derivative reads b
    b[b > 1] = 0.0
    assert b._version == 1
    with pytest.raises(RuntimeError, match="is at version 1; expected version 0"):
        z.backward()
    c = x * 1
    w = (c * 3).sum()  # (c * 3)'s derivative does not read c: changing c is fine
    c[0] = 7.0
    w.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 2), 3.0))


def test_var_mean_std_mean_and_aminmax():
    x = rng.standard_normal((3, 4))
    check_grad(lambda t: dj.var_mean(t, 1)[0] + 2 * dj.var_mean(t, 1)[1],
               lambda a: a.var(1, ddof=1) + 2 * a.mean(1), x)
    check_grad(lambda t: dj.std_mean(t, 0, correction=0)[0] * dj.std_mean(t, 0)[1],
               lambda a: a.std(0) * a.mean(0), x)
    low, high = dj.tensor(x).aminmax(dim=1)
    np.testing.assert_array_equal(low.numpy(), x.min(1))
    np.testing.assert_array_equal(high.numpy(), x.max(1))
    both = dj.aminmax(dj.tensor(x))
    assert both.min.item() == x.min() and both.max.item() == x.max()


def test_flip_and_permute_take_dims_positionally_or_by_keyword():
    x = np.arange(24.0).reshape(2, 3, 4)
    t = dj.tensor(x, requires_grad=True)
    np.testing.assert_array_equal(dj.flip(t, dims=(0, 2)).detach().numpy(), x[::-1, :, ::-1])
    np.testing.assert_array_equal(t.flip(dims=[1]).detach().numpy(), x[:, ::-1])
    np.testing.assert_array_equal(t.flip(0, 2).detach().numpy(), x[::-1, :, ::-1])
    np.testing.assert_array_equal(t.permute(dims=(2, 0, 1)).detach().numpy(),
                                  x.transpose(2, 0, 1))
    w = np.random.default_rng(0).normal(size=(4, 2, 3))
    (t.permute(dims=(2, 0, 1)) * dj.tensor(w)).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), w.transpose(1, 2, 0))
    with pytest.raises(TypeError, match="both"):
        t.flip(0, dims=(1,))
