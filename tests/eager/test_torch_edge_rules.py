"""PyTorch's values and derivatives at edge values (NaN, +-inf, signed zeros, ties, infinite
cotangents) for maximum/minimum, fmax/fmin, clamp, pow and sign, and its exception types.
Expected values are hand-computed from PyTorch's documented derivative formulas
(derivatives.yaml) and C's pow; no PyTorch needed. dualjit.numpy keeps JAX's and NumPy's."""

import math

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp
from dualjit.eager import torch_rules as R

NAN, INF = math.nan, math.inf


def grads(fn, *values, ct=1.0):
    """fn's value and the gradients of its float64 scalar inputs for cotangent ct."""
    xs = [dj.tensor(v, dtype=dj.float64, requires_grad=True) for v in values]
    out = fn(*xs)
    out.backward(dj.tensor(ct, dtype=dj.float64))
    return (out.item(), *(x.grad.item() for x in xs))


def same(a, b):
    """Equal as floats, NaN equal to NaN and 0.0 to -0.0 only when both signs agree."""
    return all((math.isnan(u) and math.isnan(v)) or (u == v and math.copysign(1, u) ==
               math.copysign(1, v)) for u, v in zip(a, b))


# maximum(x, y): d/dx = ct where x > y, ct/2 where x == y, 0 (exactly) where x < y, and ct
# where x or y is NaN (no comparison holds); minimum mirrored.
@pytest.mark.parametrize("x, y, ct, expected", [
    (1.0, 2.0, 1.0, (2.0, 0.0, 1.0)),
    (1.0, 2.0, INF, (2.0, 0.0, INF)),      # was NaN (inf * 0)
    (2.0, 1.0, INF, (2.0, INF, 0.0)),
    (1.0, 1.0, 1.0, (1.0, 0.5, 0.5)),
    (1.0, 1.0, INF, (1.0, INF, INF)),
    (NAN, 1.0, 1.0, (NAN, 1.0, 1.0)),      # was (0, 0): JAX's rule
    (1.0, NAN, 1.0, (NAN, 1.0, 1.0)),
    (NAN, NAN, INF, (NAN, INF, INF)),
])
def test_maximum_gradient_follows_pytorch(x, y, ct, expected):
    assert same(grads(dj.maximum, x, y, ct=ct), expected)
    assert same(grads(lambda a, b: a.max(b), x, y, ct=ct), expected)
    # minimum(-x, -y) = -maximum(x, y), with the same shares
    assert same(grads(dj.minimum, -x, -y, ct=ct), (-expected[0], *expected[1:]))


def test_maximum_ties_of_signed_zeros_keep_the_first_operand():
    assert math.copysign(1, dj.maximum(dj.tensor(0.0), dj.tensor(-0.0)).item()) == 1
    assert math.copysign(1, dj.maximum(dj.tensor(-0.0), dj.tensor(0.0)).item()) == -1
    assert math.copysign(1, dj.minimum(dj.tensor(0.0), dj.tensor(-0.0)).item()) == 1


def test_functional_maximum_keeps_jax_rule():
    """dualjit.numpy is JAX's API: a NaN operand of maximum gets no gradient there."""
    gx, gy = dj.grad(lambda a, b: jnp.maximum(a, b), argnums=(0, 1))(NAN, 1.0)
    assert float(gx) == 0.0 and float(gy) == 0.0
    gx, gy = dj.grad(lambda a, b: jnp.maximum(a, b), argnums=(0, 1))(1.0, 1.0)
    assert float(gx) == 0.5 and float(gy) == 0.5


@pytest.mark.parametrize("x, y, expected", [
    (1.0, NAN, (1.0, 1.0, 0.0)),   # fmax ignores the NaN: was NaN (fmax was maximum)
    (NAN, 1.0, (1.0, 0.0, 1.0)),
    (1.0, 1.0, (1.0, 1.0, 0.0)),   # a tie: all to x
    (NAN, NAN, (NAN, 1.0, 0.0)),
    (1.0, 2.0, (2.0, 0.0, 1.0)),
])
def test_fmax_ignores_nan_and_gives_ties_to_x(x, y, expected):
    assert same(grads(dj.fmax, x, y), expected)
    assert same(grads(lambda a, b: a.fmax(b), x, y), expected)


def test_fmin_ignores_nan():
    assert same(grads(dj.fmin, 1.0, NAN), (1.0, 1.0, 0.0))
    assert same(grads(dj.fmin, 3.0, 2.0, ct=INF), (2.0, 0.0, INF))


# clamp(x, lo, hi): x gets ct where lo <= x <= hi; lo where x < lo < hi; hi where x > hi or
# hi < lo (then hi is the result); lo == hi > x gives neither. NaN anywhere: value NaN, and
# no gradient to x.
@pytest.mark.parametrize("x, lo, hi, expected", [
    (0.5, 0.0, 1.0, (0.5, 1.0, 0.0, 0.0)),
    (0.0, 0.0, 1.0, (0.0, 1.0, 0.0, 0.0)),      # tie with lo: x's (was half each)
    (-1.0, 0.0, 1.0, (0.0, 0.0, 1.0, 0.0)),
    (2.0, 0.0, 1.0, (1.0, 0.0, 0.0, 1.0)),
    (0.0, 1.0, 1.0, (1.0, 0.0, 0.0, 0.0)),      # lo == hi above x: no gradient at all
    (0.5, 2.0, 1.0, (1.0, 0.0, 0.0, 1.0)),      # lo > hi: hi
    (NAN, 0.0, 1.0, (NAN, 0.0, 0.0, 0.0)),      # NaN x: 0 (was ct)
    (0.5, NAN, 1.0, (NAN, 0.0, 0.0, 0.0)),
])
def test_clamp_with_tensor_bounds_follows_pytorch(x, lo, hi, expected):
    assert same(grads(lambda a, b, c: dj.clamp(a, b, c), x, lo, hi), expected)
    assert same(grads(lambda a, b, c: (a * 1).clamp_(b, c), x, lo, hi), expected)


def test_clamp_gradient_with_an_infinite_cotangent_is_exactly_zero_outside():
    assert same(grads(lambda a, b: dj.clamp(a, min=b), 1.0, 2.0, ct=INF), (2.0, 0.0, INF))
    assert same(grads(lambda a, b: dj.clamp(a, max=b), 1.0, 0.0, ct=INF), (0.0, 0.0, INF))


@pytest.mark.parametrize("x, expected", [(NAN, (NAN, 0.0)), (0.0, (0.0, 1.0)),
                                         (1.0, (1.0, 1.0)), (2.0, (1.0, 0.0))])
def test_clamp_with_number_bounds(x, expected):
    assert same(grads(lambda a: a.clamp(0.0, 1.0), x), expected)
    assert same(grads(lambda a: (a * 1).clamp_(0.0, 1.0), x), expected)


def test_clamp_value_with_crossed_or_nan_number_bounds():
    t = dj.tensor([1.0, NAN, -1.0], dtype=dj.float64)
    np.testing.assert_array_equal(t.clamp(2.0, 1.0).numpy(), [1.0, NAN, 1.0])
    assert np.isnan(t.clamp(min=NAN).numpy()).all()


# pow. Tensor exponent: C's pow; d/dx = y * x ** (y - 1), exactly 0 where y == 0;
# d/dy = out * log(x), 0 where x == 0 and y >= 0 (so -inf for 0 ** y, y < 0).
@pytest.mark.parametrize("x, y, expected", [
    (0.0, -1.0, (INF, -INF, -INF)),       # d/dy was 0
    (0.0, -2.0, (INF, -INF, -INF)),
    (-0.0, -1.0, (-INF, -INF, INF)),
    (0.0, 2.0, (0.0, 0.0, 0.0)),
    (0.0, 0.0, (1.0, 0.0, 0.0)),
    (2.0, 0.0, (1.0, 0.0, math.log(2))),
    (-0.0, 0.5, (0.0, INF, 0.0)),          # C's pow: +0 (NumPy's sqrt shortcut gave -0)
    (-INF, 0.5, (INF, 0.0, NAN)),          # C's pow: inf (NumPy's shortcut gave NaN)
])
def test_pow_with_a_tensor_exponent(x, y, expected):
    assert same(grads(dj.pow, x, y), expected)


def test_pow_zero_exponent_has_exactly_zero_base_gradient_under_infinite_cotangent():
    assert same(grads(dj.pow, 0.0, 0.0, ct=INF), (1.0, 0.0, NAN))   # d/dy: inf * 0
    assert same(grads(dj.pow, 0.0, -0.0), (1.0, 0.0, 0.0))           # +0, not -0


def test_pow_of_a_python_number_base():
    """0 ** x: d/dx = -inf for x < 0 (out * log 0 = inf * -inf), 0 for x >= 0."""
    assert same(grads(lambda e: 0.0 ** e, -1.0), (INF, -INF))
    assert same(grads(lambda e: 0.0 ** e, 2.0), (0.0, 0.0))
    assert same(grads(lambda e: (-0.0) ** e, -1.0), (-INF, INF))
    assert same(grads(lambda e: (-INF) ** e, 0.5), (INF, NAN))


# A Python-number exponent takes PyTorch's kernels: 0.5 is sqrt, -0.5 is 1/sqrt, -1 is 1/x;
# d/dx = e * x ** (e - 1) through the same kernels.
@pytest.mark.parametrize("x, e, expected", [
    (-0.0, 0.5, (-0.0, -INF)),            # sqrt(-0) = -0; 0.5 / sqrt(-0) = -inf
    (-INF, 0.5, (NAN, NAN)),              # sqrt(-inf)
    (-0.0, -0.5, (-INF, -INF)),           # 1 / sqrt(-0) = -inf (C's pow: +inf)
    (-INF, -0.5, (NAN, -0.0)),           # -0.5 * pow(-inf, -1.5) = -0.5 * 0
    (-0.0, -1, (-INF, -INF)),
    (4.0, 0.5, (2.0, 0.25)),
    (4.0, 2.5, (32.0, 20.0)),
    (0.0, 0, (1.0, 0.0)),
])
def test_pow_by_a_python_number(x, e, expected):
    assert same(grads(lambda a: a ** e, x), expected)
    assert same(grads(lambda a: (a * 1).pow_(e), x), expected)


def test_integer_tensor_to_negative_integer_tensor_powers():
    """Integer division semantics: 2 ** -1 = 0, 1 ** -n = 1, (-1) ** -n = +-1; it raised."""
    x = dj.tensor([2, 1, -1, -1, 0, 3])
    y = dj.tensor([-1, -2, -3, -2, 2, 2])
    assert (x ** y).tolist() == [0, 1, -1, 1, 0, 9]


def test_sign_of_nan_is_zero_in_the_torch_layer_only():
    t = dj.tensor([NAN, -2.0, 0.0, 3.0])
    np.testing.assert_array_equal(t.sign().numpy(), [0.0, -1.0, 0.0, 1.0])
    np.testing.assert_array_equal(dj.sign(t).numpy(), [0.0, -1.0, 0.0, 1.0])
    np.testing.assert_array_equal((t * 1).sign_().numpy(), [0.0, -1.0, 0.0, 1.0])
    assert np.isnan(np.asarray(jnp.sign(np.array([NAN])))[0])


def test_float32_cumsum_accumulates_in_float64():
    """PyTorch's CPU cumsum of float32 sums in float64 and rounds each prefix once."""
    x = np.full(4097, 0.1, np.float32)
    x[0] = 1e4
    expected = np.cumsum(x.astype(np.float64)).astype(np.float32)
    np.testing.assert_array_equal(dj.tensor(x).cumsum(0).numpy(), expected)
    assert not np.array_equal(np.cumsum(x), expected)  # (float32 accumulation differs)


# Exceptions: PyTorch's type, still an instance of the type dualjit raised before.
@pytest.mark.parametrize("call, torch_type, old_type", [
    (lambda: dj.ones(3) + dj.ones(2), RuntimeError, ValueError),
    (lambda: dj.where(dj.ones(3) > 0, dj.ones(3), dj.ones(2)), RuntimeError, ValueError),
    (lambda: dj.cat([dj.ones(3, 2), dj.ones(3, 3)]), RuntimeError, ValueError),
    (lambda: dj.ones(3).reshape(2, 2), RuntimeError, ValueError),
    (lambda: dj.ones(3, 2) @ dj.ones(3, 2), RuntimeError, ValueError),
    (lambda: dj.ones(3).copy_(dj.ones(2)), RuntimeError, ValueError),
    (lambda: dj.ones(0).amax(), RuntimeError, ValueError),
    (lambda: dj.ones(2, 0).argmax(dim=1), IndexError, ValueError),
    (lambda: dj.ones(0).argmax(), IndexError, ValueError),
    (lambda: dj.ones(0, 2).min(dim=0), IndexError, ValueError),
    (lambda: dj.tensor([True]) - dj.tensor([True]), RuntimeError, TypeError),
    (lambda: dj.ones(3) & dj.ones(3), NotImplementedError, TypeError),
    (lambda: dj.softmax(dj.tensor([1, 2]), dim=0), NotImplementedError, TypeError),
    (lambda: dj.index_select(dj.ones(3), 0, dj.tensor([5])), RuntimeError, IndexError),
])
def test_errors_are_instances_of_pytorchs_type_and_the_old_one(call, torch_type, old_type):
    with pytest.raises(torch_type) as info:
        call()
    assert isinstance(info.value, old_type)


def test_mask_assignment_of_the_wrong_shape_raises_a_runtime_error():
    with pytest.raises(RuntimeError) as info:
        dj.ones(2, 3)[dj.ones(2, 3, dtype=dj.bool)] = dj.ones(4)
    assert isinstance(info.value, ValueError)


def test_softmax_of_an_empty_integer_tensor_keeps_its_dtype():
    for dtype in (dj.int64, dj.bool):
        t = dj.ones(2, 0, dtype=dtype)
        assert dj.softmax(t, dim=0).dtype == dtype and dj.log_softmax(t, 1).dtype == dtype
    assert dj.softmax(dj.tensor([1, 2]), dim=0, dtype=dj.float32).dtype == dj.float32


def test_in_place_op_on_an_empty_view_makes_the_base_require_grad():
    """NumPy cannot tell an empty view from a copy by memory; the base never learnt of the
    in-place op (requires_grad stayed False)."""
    for make in (lambda b: b[1], lambda b: b[0:1], lambda b: b.view(-1)):
        base = dj.zeros(2, 0)
        view = make(base)
        view.mul_(dj.ones(tuple(view.shape), requires_grad=True))
        assert base.requires_grad and view.requires_grad


def test_cat_keeps_a_skipped_empty_operand_in_the_graph():
    """cat skips 1-D empty operands (PyTorch's legacy rule); one that requires grad made the
    result not require grad, and its .grad stayed None (PyTorch: an empty gradient)."""
    empty = dj.zeros(0, requires_grad=True)
    out = dj.cat([empty, dj.ones(2, 3)])
    assert out.requires_grad and tuple(out.shape) == (2, 3)
    out.sum().backward()
    assert tuple(empty.grad.shape) == (0,)


def test_zero_d_boolean_mask_selects_everything_or_nothing():
    x = dj.arange(6.0).reshape(2, 3)
    assert tuple(x[dj.tensor(True)].shape) == (1, 2, 3)
    assert tuple(x[dj.tensor(False)].shape) == (0, 2, 3)
    y = x.clone()
    y[dj.tensor(True)] = dj.tensor([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(y.numpy(), [[1, 2, 3], [1, 2, 3]])
    y[dj.tensor(False)] = 7.0
    np.testing.assert_array_equal(y.numpy(), [[1, 2, 3], [1, 2, 3]])


# Found fuzzing tensor programs 1500-2999.

def test_in_place_ops_on_an_empty_expanded_tensor_are_allowed():
    """An expanded tensor of no elements has no overlapping elements (PyTorch writes it);
    dualjit raised the read-only-storage error."""
    v = dj.zeros(1, 0).expand(2, 0)
    v.zero_()
    v.sin_()
    v[dj.zeros(2, 0, dtype=dj.bool)] = 1.0
    assert tuple(v.shape) == (2, 0)
    with pytest.raises(RuntimeError):
        v.copy_(dj.ones(3, 1))  # (shapes are still checked)


def test_copy_of_an_expanded_tensor_is_contiguous():
    """NumPy's "K" order copy of an expanded array is a permutation (strides (1, 4, 2)) that
    PyTorch never makes: view(-1) of clone() or of a cast raised."""
    x = dj.ones(3, 2, dtype=dj.bool).expand(2, 3, 2)
    for y in (x.clone(), x * 1, x.float()):
        assert y.is_contiguous() and tuple(y.view(-1).shape) == (12,)


def test_rsqrt_is_one_over_sqrt():
    """rsqrt(-0.0) = 1 / sqrt(-0.0) = 1 / -0.0 = -inf (was inf); derivative -0.5 * out**3."""
    x = dj.tensor([-0.0, 0.0, 4.0], requires_grad=True)
    y = x.rsqrt()
    np.testing.assert_array_equal(y.detach().numpy(), [-INF, INF, 0.5])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [INF, -INF, -0.0625])


def test_std_gradient_at_zero_spread_is_zero():
    """d std = d var / (2 std), taken as 0 where std == 0 (PyTorch); it was 0 * inf = NaN."""
    x = dj.zeros(2, 3, requires_grad=True)
    x.std(dim=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 3)))
    x = dj.tensor([1.0, 3.0], requires_grad=True)
    x.std().backward()   # std = sqrt(2): d/dx = (x - mean) / ((n - 1) std) = [-1, 1] / sqrt 2
    np.testing.assert_allclose(x.grad.numpy(), [-1 / math.sqrt(2), 1 / math.sqrt(2)], rtol=1e-6)


def test_erf_keeps_the_sign_of_zero():
    assert math.copysign(1, dj.erf(dj.tensor(-0.0)).item()) == -1


def test_scatter_into_a_non_contiguous_tensor():
    """scatter (out of place and in place) of a transposed tensor raised "needs a contiguous
    tensor"; the expected values follow the definition out[index[i][j]][j] = src[i][j]."""
    base = np.arange(12.0).reshape(3, 4).T
    index = np.array([[0, 1, 2], [3, 0, 1]])
    src = np.array([[100.0, 101, 102], [103, 104, 105]])
    expected = base.copy()
    for i in range(2):
        for j in range(3):
            expected[index[i, j], j] = src[i, j]
    x = dj.arange(12.0).reshape(3, 4).t()
    np.testing.assert_array_equal(x.scatter(0, dj.tensor(index), dj.tensor(src)).numpy(),
                                  expected)
    y = x.clone()
    y.scatter_(0, dj.tensor(index), dj.tensor(src))
    np.testing.assert_array_equal(y.numpy(), expected)


def test_integer_division_by_zero_raises():
    """NumPy gives 0 (with a warning) for an integer divided by 0: a silent wrong answer;
    PyTorch raises. Float division keeps IEEE's inf and NaN."""
    i = dj.tensor([3, 4])
    for call in (lambda: i % 0, lambda: i // 0, lambda: i % dj.tensor([0, 1]),
                 lambda: i.fmod(0), lambda: 7 // dj.tensor([1, 0])):
        with pytest.raises(RuntimeError, match="division by zero") as info:
            call()
        assert isinstance(info.value, ZeroDivisionError)
    assert (i % 3).tolist() == [0, 1]
    assert np.isnan((dj.tensor([1.0]) % 0).item())


@pytest.mark.parametrize("call", [
    lambda: dj.outer(dj.ones(2, 2), dj.ones(2)),      # NumPy's outer flattened the matrix
    lambda: dj.tril(dj.ones(3)),                        # NumPy's tril made it a matrix
    lambda: dj.triu(dj.ones(0)),
    lambda: dj.mv(dj.ones(2, 3, 1), dj.ones(1)),        # matmul batched it
    lambda: dj.ones(2) - dj.tensor([True, False]),      # gave a value
    lambda: dj.ones(2) - True,
    lambda: dj.ones(2).sub_(True),
    lambda: dj.tensor([1, 5]).clamp_(0, 0.5),          # truncated 0.5 to 0
])
def test_shapes_and_dtypes_pytorch_refuses_raise_a_runtime_error(call):
    with pytest.raises(RuntimeError):
        call()


def test_round_of_a_bool_tensor_raises():
    """NumPy's round of bools is float16; PyTorch has no kernel for it."""
    with pytest.raises(NotImplementedError):
        dj.tensor([True, False]).round()


def test_division_and_power_of_bool_tensors_raise():
    """NumPy's bool // bool, bool % bool and bool ** bool are int8; PyTorch has no kernel."""
    b = dj.tensor([True, False])
    for call in (lambda: b // b, lambda: b % True, lambda: b ** b):
        with pytest.raises(NotImplementedError):
            call()


def test_in_place_result_of_a_larger_shape_raises_a_runtime_error():
    with pytest.raises(RuntimeError) as info:
        dj.ones(1).add_(dj.ones(2))
    assert isinstance(info.value, ValueError)


def test_max_of_all_elements_shares_its_gradient_among_the_nans():
    """max()/min() of a tensor holding NaN is NaN; PyTorch gives the cotangent to the NaNs,
    shared evenly (as it shares ties); the rule "elements equal to the result" found none
    and gave 0 / 0 = NaN to every element (seed 1468)."""
    for name in ("max", "min"):
        x = dj.tensor([1.0, NAN, 3.0, NAN], requires_grad=True)
        out = getattr(x, name)()
        assert math.isnan(out.item())
        out.backward()
        np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.5, 0.0, 0.5])
    x = dj.tensor([1.0, 3.0, 3.0], requires_grad=True)
    x.max().backward(dj.tensor(INF))
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, INF, INF])


def test_integer_remainder_of_an_empty_tensor_by_zero_is_empty():
    """No element is divided: PyTorch returns the empty result (seed 1344)."""
    assert tuple((dj.ones(0, dtype=dj.int64) % 0).shape) == (0,)


def test_mv_of_a_0d_tensor_raises_an_index_error():
    """PyTorch: IndexError ("Dimension specified as 0 but tensor has no dimensions")."""
    with pytest.raises(IndexError) as info:
        dj.mv(dj.ones(()), dj.ones(1))
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bounds", [(0.0, 1.0), (-0.0, 0.0), (2.0, 1.0), (None, 0.5), (-1.0, None),
                                    (float("nan"), 1.0), (0.0, float("nan")), (-INF, INF)])
def test_clamp_by_numbers_fast_path_equals_the_recorded_rule(dtype, bounds):
    """The NumPy path of clamp with number bounds gives the recorded rule's values bit for bit
    (signed zeros at ties, NaN inputs and bounds, crossed bounds, infinities)."""
    x = np.array([-2.0, -1.0, -0.0, 0.0, 0.5, 1.0, 3.0, NAN, INF, -INF], dtype)
    lo, hi = bounds
    fast = dj.clamp(dj.from_numpy(x), lo, hi).numpy()
    traced = dj.jit(lambda v: R.clamp_numbers(v, lo, hi))(x)
    np.testing.assert_array_equal(np.signbit(fast), np.signbit(traced))
    np.testing.assert_array_equal(fast, traced)
    assert fast.dtype == x.dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", [{}, {"nan": 2.5}, {"nan": -1.0, "posinf": 7.0, "neginf": -7.0},
                                    {"posinf": INF, "neginf": -INF}, {"nan": NAN}])
def test_nan_to_num_fast_path_equals_the_recorded_rule(dtype, kwargs):
    """nan_to_num's NumPy path gives the recorded composition's values bit for bit, and
    nansum (built on it) the sum of the non-NaN elements."""
    x = np.array([NAN, INF, -INF, -0.0, 0.0, 1.5, -2.0, np.finfo(dtype).max], dtype)
    fast = dj.nan_to_num(dj.from_numpy(x), **kwargs).numpy()
    info = np.finfo(dtype)
    params = (kwargs.get("nan", 0.0), kwargs.get("posinf", info.max),
              kwargs.get("neginf", info.min))
    from dualjit.eager import array_ops
    traced = dj.jit(lambda v: array_ops.nan_to_num(v, *params))(x)
    assert fast.dtype == x.dtype
    np.testing.assert_array_equal(np.signbit(fast), np.signbit(traced))
    np.testing.assert_array_equal(fast, traced)
    assert dj.nansum(dj.from_numpy(x[3:])).item() == np.sum(x[3:].astype(np.float64)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,dim", [((1024,), 0), ((8, 33), 1), ((8, 33), 0), ((3, 4, 5), 1),
                                       ((2, 7), -1)])
def test_softmax_fast_path_equals_the_recorded_composition(dtype, shape, dim):
    """softmax's NumPy path gives the composition's values bit for bit (evaluated on the same
    concrete values), rows with infinities and NaN included."""
    from dualjit.nn import functions as nnf

    x = np.random.default_rng(3).standard_normal(shape).astype(dtype) * 30
    flat = x.reshape(-1)
    flat[:4] = [INF, -INF, NAN, 0.0]
    fast = dj.softmax(dj.from_numpy(x), dim).numpy()
    composed = np.asarray(nnf.softmax(x, axis=dim))
    assert fast.dtype == composed.dtype == x.dtype
    np.testing.assert_array_equal(fast, composed)
    finite = np.isfinite(x).all(axis=dim)
    np.testing.assert_allclose(np.take(fast.sum(axis=dim), np.flatnonzero(finite)), 1.0,
                               rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_to_num_of_finite_values_is_a_copy_with_the_same_bits(dtype):
    """nan_to_num of an array with nothing to replace (the finite check's shortcut) gives its
    values bit for bit (-0.0, tiny, huge) in a new array, and the NaN/inf arrays still go to
    NumPy; an empty array stays empty."""
    info = np.finfo(dtype)
    x = np.array([-0.0, 0.0, info.tiny, -info.smallest_subnormal, info.max, info.min, 1.5], dtype)
    t = dj.from_numpy(x)
    out = dj.nan_to_num(t, nan=9.0, posinf=8.0, neginf=-8.0)
    np.testing.assert_array_equal(out.numpy().view(np.uint8), x.view(np.uint8))
    out.add_(1.0)
    np.testing.assert_array_equal(t.numpy().view(np.uint8), x.view(np.uint8))  # (a copy)
    y = np.append(x, [NAN, INF, -INF]).astype(dtype)
    np.testing.assert_array_equal(dj.nan_to_num(dj.from_numpy(y), nan=9.0).numpy(),
                                  np.nan_to_num(y, nan=9.0))
    assert dj.nan_to_num(dj.from_numpy(np.zeros(0, dtype))).shape == (0,)
    assert dj.nansum(dj.from_numpy(x[:2])).item() == 0.0


def torch_angle(v):
    """PyTorch's documented angle of real numbers, by hand: pi where x < 0, 0 where x >= 0
    (-0.0 included), NaN kept as it came."""
    out = np.where(v < 0, v.dtype.type(np.pi), v.dtype.type(0)).astype(v.dtype)
    return np.where(np.isnan(v), v, out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_angle_of_real_floats_is_pytorchs(dtype):
    """angle of real floats: pi for negatives and -inf, +0.0 for the rest, -0.0 included
    (NumPy's arctan2(0, x) gives pi for -0.0), each NaN as it came, at every size, eagerly,
    recorded and compiled; its gradient is 0 everywhere, at 0 and tiny values too (arctan2's
    derivative there was NaN)."""
    nan_bits = np.array([NAN, -NAN], dtype)
    x = np.concatenate([np.array([0.0, -0.0, 1.0, -1.0, INF, -INF, np.finfo(dtype).tiny,
                                  -np.finfo(dtype).max, 3.0, -2.5], dtype), nan_bits])
    big = np.tile(x, 400)
    for v in (x, x[:10], x.reshape(3, 4), np.zeros(0, dtype), big, big[::-1].reshape(40, 120)):
        out = dj.angle(dj.from_numpy(v)).numpy()
        assert out.dtype == v.dtype and out.shape == v.shape
        np.testing.assert_array_equal(out.view(np.uint8), torch_angle(v).view(np.uint8))
    t = dj.from_numpy(x.copy()).requires_grad_(True)
    recorded = dj.angle(t)
    np.testing.assert_array_equal(recorded.detach().numpy().view(np.uint8),
                                  torch_angle(x).view(np.uint8))
    recorded.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.zeros(x.size, dtype))
    compiled = dj.compile(lambda a: dj.angle(a))
    for _ in range(2):
        np.testing.assert_array_equal(compiled(dj.from_numpy(big)).numpy().view(np.uint8),
                                      torch_angle(big).view(np.uint8))
    ints = dj.angle(dj.tensor([3, -2, 0]))  # (integers: the default float dtype)
    np.testing.assert_array_equal(ints.numpy(), np.array([0, np.pi, 0], np.float32))
    z = np.array([1 + 1j, -1 - 0j, 0j], np.complex64)
    np.testing.assert_array_equal(dj.angle(dj.from_numpy(z)).numpy(), np.angle(z))


@pytest.mark.parametrize("fn", ["zeros_like", "ones_like"])
@pytest.mark.parametrize("dtype", [None, dj.float64, dj.int32, dj.bool, dj.complex64])
def test_zeros_ones_like_make_their_dtype_directly(fn, dtype):
    """zeros_like/ones_like build the array in their dtype (no float64 array converted): the
    same values, dtype and shape as NumPy's, grad flag as asked."""
    x = dj.from_numpy(np.arange(6, dtype=np.float32).reshape(2, 3))
    out = getattr(dj, fn)(x, dtype=dtype, requires_grad=dtype in (None, dj.float64))
    want = getattr(np, fn)(x.numpy(), dtype=None if dtype is None else out.numpy().dtype)
    assert out.dtype == (x.dtype if dtype is None else dtype)
    assert out.numpy().dtype == want.dtype and out.shape == (2, 3)
    np.testing.assert_array_equal(out.numpy(), want)
    assert out.requires_grad == (dtype in (None, dj.float64))
    assert getattr(dj, fn)(dj.from_numpy(np.zeros((0, 2), np.int64))).shape == (0, 2)


def test_equal_answers_as_numpy_array_equal():
    """equal (NumPy arrays compared without np.array_equal's conversions) answers as
    np.array_equal: NaN is unequal even to itself, -0.0 equals 0.0, shapes must match exactly
    (no broadcasting), empty tensors of one shape are equal, values compare across dtypes."""
    x = np.array([0.0, -0.0, 1.5, INF, -INF], np.float32)
    pairs = [(x, x.copy()), (x, np.array([-0.0, 0.0, 1.5, INF, -INF], np.float32)),
             (x, x[::-1].copy()), (np.append(x, NAN), np.append(x, NAN)),
             (x[:1].reshape(1, 1), x[:1]), (x.reshape(1, 5), np.tile(x, (2, 1))),
             (np.zeros((0, 3)), np.zeros((0, 3))), (np.zeros((0, 3)), np.zeros((3, 0))),
             (np.array([1, 2]), np.array([1.0, 2.0])), (np.array([True]), np.array([1])),
             (np.array(3.0), np.array(3.0)), (np.array([1 + 2j]), np.array([1 + 2j]))]
    for a, b in pairs:
        want = bool(np.array_equal(a, b))
        assert dj.equal(dj.from_numpy(a), dj.from_numpy(b)) is want, (a, b)
        assert dj.from_numpy(b).equal(dj.from_numpy(a)) is want, (a, b)
    nan = dj.from_numpy(np.array([NAN, 1.0]))
    assert dj.equal(nan, nan) is False
