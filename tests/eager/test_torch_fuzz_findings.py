"""Silent wrong answers the differential fuzzer against PyTorch found (tests/fuzz/torch_run.py),
each checked here against NumPy formulas and hand-computed values (no PyTorch needed)."""

import math

import numpy as np
import pytest

import dualjit as dj

UNARY_FLOAT_FUNCTIONS = {
    "exp": np.exp, "exp2": np.exp2, "expm1": np.expm1, "log1p": np.log1p, "sin": np.sin,
    "cos": np.cos, "tan": np.tan, "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh,
    "tanh": np.tanh, "asinh": np.arcsinh, "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
    "erf": np.vectorize(math.erf),
}


@pytest.mark.parametrize("name", sorted(UNARY_FLOAT_FUNCTIONS))
@pytest.mark.parametrize("dtype", [np.int64, np.bool_])
def test_float_functions_of_integer_and_bool_tensors_give_the_default_float_dtype(name, dtype):
    """exp(int64 tensor) was float64 and exp(bool tensor) float16 (NumPy's promotion);
    PyTorch gives the default float dtype, float32."""
    data = np.array([0, 1, 1, 0, 1]).astype(dtype) if dtype is np.bool_ else \
        np.array([0, 1, 2, 3, 4], np.int64)
    for out in (getattr(dj, name)(dj.tensor(data)), getattr(dj.tensor(data), name)()):
        assert out.dtype == dj.float32
        expected = UNARY_FLOAT_FUNCTIONS[name](data.astype(np.float64)).astype(np.float32)
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)


COMPLEX_FUNCTIONS = ("exp", "expm1", "log1p", "sin", "cos", "tan", "sinh", "cosh", "tanh",
                     "log", "sqrt")


@pytest.mark.parametrize("name", COMPLEX_FUNCTIONS)
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_float_functions_of_complex_tensors_stay_complex(name, dtype):
    """exp(complex tensor) was taken of the real part only (the integer-to-float cast above
    took complex for a non-float dtype): the imaginary part was dropped."""
    data = np.array([0.5 + 1j, -1.0 + 0.25j, 2.0 - 0.75j], dtype)
    reference = getattr(np, {"log1p": "log1p", "expm1": "expm1"}.get(name, name))
    expected = reference(data.astype(np.complex128))
    for out in (getattr(dj, name)(dj.tensor(data)), getattr(dj.tensor(data), name)()):
        assert out.dtype == dtype
        np.testing.assert_allclose(out.numpy(), expected,
                                   rtol=1e-5 if dtype is np.complex64 else 1e-12)


def test_atan2_of_integer_tensors_is_float32():
    y, x = dj.tensor([1, -1, 0]), dj.tensor([1, 1, -1])
    out = dj.atan2(y, x)
    assert out.dtype == dj.float32
    np.testing.assert_allclose(out.numpy(), [math.pi / 4, -math.pi / 4, math.pi], rtol=1e-6)


def test_erf_of_a_float32_tensor_that_requires_grad_stays_float32():
    """The recorded erf computed with float64 coefficients and returned float64."""
    x = dj.tensor(np.array([-1.0, 0.25, 2.0], np.float32), requires_grad=True)
    y = dj.erf(x)
    assert y.dtype == dj.float32
    y.sum().backward()
    expected = 2 / math.sqrt(math.pi) * np.exp(-np.array([-1.0, 0.25, 2.0]) ** 2)
    assert x.grad.dtype == dj.float32
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-5)


def test_clamp_promotes_like_pytorch():
    """clamp(int64 tensor, -1, 0.5) was int64 [-1, 0, 0] (0.5 truncated); PyTorch's result
    type of an int64 tensor and a float bound is the default float dtype."""
    t = dj.tensor([-3, 0, 2])
    out = dj.clamp(t, -1, 0.5)
    assert out.dtype == dj.float32
    np.testing.assert_array_equal(out.numpy(), [-1.0, 0.0, 0.5])
    b = dj.tensor([True, False])
    assert b.clamp(-1, None).dtype == dj.int64           # bool with an int bound: int64
    np.testing.assert_array_equal(b.clamp(-1, None).numpy(), [1, 0])
    assert t.clamp(0, 1).dtype == dj.int64                # same category: the tensor's dtype


def test_square_and_integer_power_of_a_bool_tensor_are_int64():
    """They were bool / int8."""
    b = dj.tensor([True, False, True])
    for out in (b.square(), b.pow(2), b ** 3, b ** 0):
        assert out.dtype == dj.int64
    np.testing.assert_array_equal((b ** 0).numpy(), [1, 1, 1])
    np.testing.assert_array_equal(b.square().numpy(), [1, 0, 1])


def test_in_place_ops_on_a_diagonal_write_the_base():
    """diagonal() was a copy: `m.diagonal().fill_(v)` left m unchanged. PyTorch's diagonal is
    a view."""
    m = dj.tensor(np.arange(6.0).reshape(2, 3))
    m.diagonal().fill_(-1.0)
    np.testing.assert_array_equal(m.numpy(), [[-1, 1, 2], [3, -1, 5]])
    m.diagonal(1).mul_(10)
    np.testing.assert_array_equal(m.numpy(), [[-1, 10, 2], [3, -1, 50]])
    # the gradient flows through the in-place change: y = x * 1; diag(y) += z
    x = dj.tensor(np.ones((2, 2)), requires_grad=True)
    z = dj.tensor([2.0, 3.0], requires_grad=True)
    y = x * 1
    y.diagonal().add_(z * z)
    w = np.array([[1.0, 2.0], [3.0, 4.0]])
    (y * dj.tensor(w)).sum().backward()
    np.testing.assert_array_equal(y.detach().numpy(), [[5, 1], [1, 10]])
    np.testing.assert_array_equal(x.grad.numpy(), w)
    np.testing.assert_array_equal(z.grad.numpy(), [2 * 2.0 * 1.0, 2 * 3.0 * 4.0])


def test_diag_of_a_matrix_is_a_copy():
    m = dj.tensor(np.eye(2))
    d = dj.diag(m)
    d.fill_(7.0)
    np.testing.assert_array_equal(m.numpy(), np.eye(2))


def test_in_place_ops_on_an_integer_index_write_the_base():
    """b[i] (all-integer index) was a NumPy scalar copy: b[2].zero_() left b unchanged."""
    b = dj.tensor([2, 3, 4])
    b[2].zero_()
    np.testing.assert_array_equal(b.numpy(), [2, 3, 0])
    m = dj.tensor(np.zeros((2, 2)))
    m[1, 0].add_(5.0)
    m[0].fill_(1.0)
    np.testing.assert_array_equal(m.numpy(), [[1, 1], [5, 0]])
    x = dj.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    y[1].mul_(3.0)
    (y * dj.tensor([1.0, 10.0, 100.0])).sum().backward()
    np.testing.assert_array_equal(y.detach().numpy(), [1, 6, 3])
    np.testing.assert_array_equal(x.grad.numpy(), [1, 30, 100])


def test_split_and_chunk_of_a_size_zero_dimension():
    """split gave no piece and chunk one; PyTorch gives one empty piece and `chunks` pieces."""
    x = dj.zeros(2, 0)
    assert [tuple(p.shape) for p in x.split(3, dim=1)] == [(2, 0)]
    assert [tuple(p.shape) for p in x.chunk(3, dim=1)] == [(2, 0)] * 3
    assert [tuple(p.shape) for p in dj.zeros(0).split(2)] == [(0,)]


@pytest.mark.parametrize("op, value, slope", [
    ("clamp_(max=1.0)", 1.0, 0.0),              # clamped: no gradient through it
    ("exp_()", math.exp(2.0), math.exp(2.0)),
    ("pow_(2)", 4.0, 4.0),
    ("sin_()", math.sin(2.0), math.cos(2.0)),
    ("mul_(w)", 6.0, 3.0),
    ("div_(w)", 2.0 / 3.0, 1.0 / 3.0),
])
def test_in_place_ops_on_a_view_whose_derivative_reads_the_input(op, value, slope):
    """y = x * 1; y[0:1].<op>; backward() raised the version-counter error (the base's old
    value, which the derivative reads, had been overwritten); PyTorch differentiates it."""
    x = dj.tensor([2.0, 0.5], requires_grad=True)
    w = dj.tensor([3.0], requires_grad=True)
    y = x * 1
    eval("y[0:1]." + op, {"y": y, "w": w})
    (y * dj.tensor([1.0, 10.0])).sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), [value, 0.5], rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), [slope, 10.0], rtol=1e-6)
    if "(w)" in op:   # d(2 w)/dw = 2, d(2 / w)/dw = -2 / w²
        np.testing.assert_allclose(w.grad.numpy(), [2.0 if "mul" in op else -2.0 / 9.0],
                                   rtol=1e-6)


def _three_calls(fn, *args):
    compiled = dj.compile(fn)
    return [compiled(*args).detach().numpy().copy() for _ in range(3)]  # eager, trace, cached


def test_compile_sees_in_place_ops_on_views():
    """Under dj.compile a slice of a traced value was not a view: y[0:1].mul_(2) changed the
    slice only, and the compiled program returned y unchanged (3 where eager gives 4)."""
    def f(x):
        y = x * 1
        y[0:1].mul_(2.0)
        y[1].add_(5.0)
        return y
    for out in _three_calls(f, dj.tensor([1.0, 1.0, 1.0])):
        np.testing.assert_array_equal(out, [2.0, 6.0, 1.0])


def test_compile_views_see_in_place_changes_of_their_base():
    def f(x):
        y = x * 1
        v = y[1:]
        t = y.t() if y.ndim == 2 else y
        y.add_(10.0)
        return dj.cat([v * 1, t.reshape(-1) * 1])
    for out in _three_calls(f, dj.tensor([1.0, 2.0, 3.0])):
        np.testing.assert_array_equal(out, [12.0, 13.0, 11.0, 12.0, 13.0])


def test_compile_a_reshape_that_copies_is_not_a_view():
    """x.t().reshape(-1) copies in eager mode (PyTorch's too): writing it leaves y alone."""
    def f(x):
        y = x * 1
        z = y.t().reshape(-1)
        z.zero_()
        return y + z.sum()
    data = np.arange(6.0).reshape(2, 3)
    for out in _three_calls(f, dj.tensor(data)):
        np.testing.assert_array_equal(out, data)


def test_compiled_training_step_with_in_place_ops_on_views():
    """y = W x; y[:, :1].clamp_(max=1); y[:, 1:].exp_(); loss = y.sum(): W's gradient is
    [0, 0] for the clamped row (W0 x = 3 > 1) and exp(W1 x) x for the other. Compiled, the
    in-place ops were ignored (loss 5, gradient all ones)."""
    lin = dj.nn.Linear(2, 2, bias=False)
    with dj.no_grad():
        lin.weight.copy_(dj.tensor([[1.0, 2.0], [3.0, -1.0]]))
    opt = dj.optim.SGD(lin.parameters(), lr=0.0)

    def step(x):
        opt.zero_grad()
        y = lin(x) * 1
        y[:, 0:1].clamp_(max=1.0)
        y[:, 1:2].exp_()
        loss = y.sum()
        loss.backward()
        opt.step()
        return loss
    compiled = dj.compile(step)
    x = dj.tensor([[1.0, 1.0]])
    for _ in range(3):
        loss = compiled(x)
        np.testing.assert_allclose(loss.item(), 1.0 + math.exp(2.0), rtol=1e-6)
        np.testing.assert_allclose(lin.weight.grad.numpy(),
                                   [[0.0, 0.0], [math.exp(2.0), math.exp(2.0)]], rtol=1e-6)


def test_compile_returns_a_view_whose_base_changed_with_the_change():
    def f(x):
        y = x * 1
        v = y[1:]
        y.add_(10.0)
        return v, v.exp().log(), v[0]
    compiled = dj.compile(f)
    for _ in range(3):
        v, same, first = compiled(dj.tensor([1.0, 2.0, 3.0]))
        np.testing.assert_array_equal(v.numpy(), [12.0, 13.0])
        np.testing.assert_allclose(same.numpy(), [12.0, 13.0], rtol=1e-6)
        assert first.item() == 12.0


def test_an_in_place_op_on_a_reshape_that_copied_leaves_the_base_and_its_gradient_alone():
    """y.t().reshape(-1) copies (NumPy returns a view of its copy, which was taken for a view
    of y): z.mul_(2) rewrote y's graph, and x.grad was 4 where it is 1 + 2 = 3."""
    x = dj.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = x * 1
    z = y.t().reshape(-1)
    z.mul_(2)
    (y.sum() + z.sum()).backward()
    np.testing.assert_array_equal(y.detach().numpy(), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 3.0))


def test_compile_views_of_a_changed_base_clone_and_detach_current_values():
    """v = y.unsqueeze(0); y.add_(1); v.clone() under dj.compile gave the old value."""
    def f(x):
        y = x * 1
        v = y.unsqueeze(0)
        y.add_(1.0)
        return v.clone(), v.detach() * 1
    compiled = dj.compile(f)
    for _ in range(3):
        a, b = compiled(dj.tensor(2.0))
        assert a.tolist() == [3.0] and b.tolist() == [3.0]


def test_compile_traces_view_and_contiguous():
    """x.view(-1) raised AttributeError while tracing (it read NumPy's flags of a traced
    value); a transposed value still refuses view() as in eager mode."""
    def f(x):
        y = x * 2
        flat = y.view(-1)
        z = y.t().contiguous().view(-1)
        return flat + z
    compiled = dj.compile(f)
    data = np.arange(4.0).reshape(2, 2)
    for _ in range(3):
        np.testing.assert_array_equal(compiled(dj.tensor(data)).numpy(),
                                      2 * data.reshape(-1) + 2 * data.T.reshape(-1))

    def g(x):
        return (x * 1).t().view(-1)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        for _ in range(3):
            dj.compile(g)(dj.tensor(data))


def test_compile_runs_eagerly_what_the_ir_cannot_express():
    """bool + bool (PyTorch: logical or) raised IRError from dj.compile; it runs eagerly."""
    def f(b, x):
        return (b + b).long().sum() + x.sum()
    compiled = dj.compile(f)
    for _ in range(3):
        assert compiled(dj.tensor([True, False]), dj.tensor([1.0, 2.0])).item() == 4.0


def test_norm_of_a_tensor_holding_nan_is_nan():
    """The 2-norm tested `sum(x²) > 0` to give 0 (and gradient 0) at zero: a NaN sum gave 0."""
    x = dj.tensor([float("nan"), 3.0, 4.0])
    assert math.isnan(x.norm().item()) and math.isnan(dj.norm(x, dim=0).item())
    assert dj.tensor([float("inf"), 1.0]).norm().item() == float("inf")
    assert dj.tensor([3.0, 4.0]).norm().item() == 5.0
    z = dj.zeros(3, requires_grad=True)
    z.norm().backward()
    np.testing.assert_array_equal(z.grad.numpy(), [0.0, 0.0, 0.0])


def test_softmax_and_logsumexp_of_0d_and_empty_tensors():
    """They raised ValueError (NumPy's max of an empty array); PyTorch: softmax of a 0-d
    tensor is 1, of an empty one empty; the log of an empty sum is -inf."""
    x = dj.tensor(0.7)
    assert x.softmax(0).item() == 1.0 and x.log_softmax(-1).item() == 0.0
    assert x.logsumexp(0).item() == pytest.approx(0.7)
    e = dj.zeros(2, 0)
    assert tuple(e.softmax(1).shape) == (2, 0) and tuple(e.log_softmax(0).shape) == (2, 0)
    np.testing.assert_array_equal(e.logsumexp(1).numpy(), [-np.inf, -np.inf])
    assert tuple(e.logsumexp(0).shape) == (0,)


def test_einsum_result_is_contiguous_so_flatten_is_a_view():
    """NumPy's optimized einsum returned a transposed layout, which `* 1` kept: flatten()
    then copied, and an in-place op on the flattened tensor left the base unchanged
    (PyTorch: einsum's result is contiguous, flatten a view). Empty operands gave float64."""
    x = dj.tensor(np.arange(6.0, dtype=np.float32).reshape(2, 1, 3))
    w = dj.tensor(np.eye(3, dtype=np.float32))
    b = dj.einsum("ijk,kz->ijz", x, w) * 1
    assert b.is_contiguous()
    b.flatten().sub_(1.0)
    np.testing.assert_array_equal(b.numpy(), np.arange(6.0).reshape(2, 1, 3) - 1)
    assert dj.einsum("i,iz->z", dj.zeros(0), dj.zeros(0, 2)).dtype == dj.float32


def test_in_place_ops_on_an_expand_that_repeats_nothing():
    """expand() was always read-only (NumPy's broadcast_to), so b.expand(b.shape).add_(1)
    raised; PyTorch refuses only expanded tensors whose elements overlap."""
    b = dj.zeros(1, 3)
    b.expand(1, 3).add_(1.0)
    np.testing.assert_array_equal(b.numpy(), [[1.0, 1.0, 1.0]])
    with pytest.raises(RuntimeError, match="more than one element"):
        dj.zeros(1).expand(3).add_(1.0)


def test_sign_of_a_bool_tensor():
    t = dj.tensor([True, False])
    assert t.sign().dtype == dj.bool and t.sign().tolist() == [True, False]


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_with_every_target_ignored_has_zero_gradient(smoothing):
    """Mean reduction over no kept target: the loss is NaN (0/0) as PyTorch's, and the
    gradient was NaN too (PyTorch: 0), so an optimizer step turned the weights into NaN."""
    x = dj.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]], requires_grad=True)
    loss = dj.nn.CrossEntropyLoss(ignore_index=1, label_smoothing=smoothing)(
        x, dj.tensor([1, 1]))
    assert math.isnan(loss.item())
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 3)))
    # one kept target: the ordinary gradient softmax(x) - onehot
    x.grad = None
    dj.nn.CrossEntropyLoss(ignore_index=1)(x, dj.tensor([1, 2])).backward()
    p = np.exp([0.0, -1.0, 3.0]) / np.exp([0.0, -1.0, 3.0]).sum()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0, 0], p - [0, 0, 1]], rtol=1e-6)


def test_cumulative_sums_and_products_of_a_0d_tensor_are_0d():
    """NumPy's cumsum of a 0-d array is 1-d: dualjit gave shape (1,), PyTorch ()."""
    x = dj.tensor(2.5, requires_grad=True)
    y = x.cumsum(0) * x.cumprod(-1)
    assert tuple(y.shape) == () and y.item() == 6.25
    y.backward()
    assert x.grad.item() == 5.0
    assert tuple(dj.cumsum(dj.tensor(True), dim=0).shape) == ()


def test_bitwise_ops_of_a_bool_tensor_and_a_python_int_promote_to_int64():
    """`b & 2` cast 2 to bool (True), giving True where PyTorch gives 1 & 2 = 0 (int64)."""
    b = dj.tensor([True, False])
    assert (b & 2).dtype == dj.int64 and (b & 2).tolist() == [0, 0]
    assert (b | 2).tolist() == [3, 2] and (b & -1).tolist() == [1, 0]
    assert (b & True).dtype == dj.bool and (b & True).tolist() == [True, False]
    assert (dj.tensor([3, 6]) & 2).tolist() == [2, 2]


def test_atan2_promotes_like_pytorch_and_bool_to_a_bool_power_is_bool():
    """atan2(int64 tensor, float64 0-d tensor) is float64 (a 0-d tensor of a higher category
    decides); it was float32. A bool tensor ** True/False was int8 (NumPy's power)."""
    i = dj.tensor([1, -1])
    out = dj.atan2(i, dj.tensor(1.0, dtype=dj.float64))
    assert out.dtype == dj.float64
    np.testing.assert_allclose(out.numpy(), [math.pi / 4, -math.pi / 4])
    assert dj.atan2(i, i).dtype == dj.float32
    b = dj.tensor([True, False])
    assert (b ** True).dtype == dj.bool and (b ** True).tolist() == [True, False]
    assert (b ** False).tolist() == [True, True]
