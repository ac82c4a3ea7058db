"""The torch-spelled functions and Tensor methods: values against NumPy formulas, gradients
against central differences, PyTorch's type promotion, creation functions."""

import math

import numpy as np
import pytest

import dualjit as dj

from .helpers import check_grad

rng = np.random.default_rng(1)


def pos(*shape):
    return rng.random(shape) + 0.5


def normal(*shape):
    return rng.standard_normal(shape)


def unit(*shape):
    return rng.uniform(-0.9, 0.9, shape)


# name: (dualjit function of tensors, NumPy reference, input arrays)
UNARY = {
    "exp": (dj.exp, np.exp, normal), "log": (dj.log, np.log, pos), "sin": (dj.sin, np.sin, normal),
    "cos": (dj.cos, np.cos, normal), "tan": (dj.tan, np.tan, unit), "tanh": (dj.tanh, np.tanh, normal),
    "sigmoid": (dj.sigmoid, lambda x: 1 / (1 + np.exp(-x)), normal),
    "abs": (dj.abs, np.abs, normal), "sqrt": (dj.sqrt, np.sqrt, pos),
    "rsqrt": (dj.rsqrt, lambda x: 1 / np.sqrt(x), pos), "log1p": (dj.log1p, np.log1p, pos),
    "expm1": (dj.expm1, np.expm1, normal), "log2": (dj.log2, np.log2, pos),
    "log10": (dj.log10, np.log10, pos), "exp2": (dj.exp2, np.exp2, normal),
    "asin": (dj.asin, np.arcsin, unit), "acos": (dj.acos, np.arccos, unit),
    "atan": (dj.atan, np.arctan, normal), "sinh": (dj.sinh, np.sinh, normal),
    "cosh": (dj.cosh, np.cosh, normal), "asinh": (dj.asinh, np.arcsinh, normal),
    "acosh": (dj.acosh, np.arccosh, lambda *s: pos(*s) + 1.0),
    "atanh": (dj.atanh, np.arctanh, unit), "square": (dj.square, np.square, normal),
    "reciprocal": (dj.reciprocal, np.reciprocal, pos), "neg": (dj.neg, np.negative, normal),
    "erf": (dj.erf, np.vectorize(math.erf), normal),
    "relu": (dj.relu, lambda x: np.maximum(x, 0), normal),
    "clamp": (lambda t: dj.clamp(t, -0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7), normal),
    "softmax": (lambda t: dj.softmax(t, 1), lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True),
                normal),
    "log_softmax": (lambda t: dj.log_softmax(t, 0), lambda x: x - np.log(np.exp(x).sum(0)),
                    normal),
    "logsumexp": (lambda t: dj.logsumexp(t, 1), lambda x: np.log(np.exp(x).sum(1)), normal),
    "sum": (lambda t: dj.sum(t, 1, keepdim=True), lambda x: x.sum(1, keepdims=True), normal),
    "mean": (lambda t: t.mean((0, 1)), np.mean, normal),
    "prod": (lambda t: t.prod(0), lambda x: x.prod(0), normal),
    "std": (lambda t: dj.std(t, 1), lambda x: x.std(1, ddof=1), normal),
    "var": (lambda t: t.var(0, unbiased=False), lambda x: x.var(0), normal),
    "norm": (dj.norm, np.linalg.norm, normal),
    "norm1-dim": (lambda t: t.norm(1, dim=1), lambda x: np.abs(x).sum(1), normal),
    "amax": (lambda t: dj.amax(t, 1), lambda x: x.max(1), normal),
    "cumsum": (lambda t: dj.cumsum(t, 1), lambda x: np.cumsum(x, 1), normal),
    "cumprod": (lambda t: dj.cumprod(t, 0), lambda x: np.cumprod(x, 0), normal),
    "reshape": (lambda t: t.reshape(4, -1) * 2, lambda x: x.reshape(4, -1) * 2, normal),
    "view-T": (lambda t: t.view(12).unsqueeze(0).T.squeeze() * 3, lambda x: x.ravel() * 3, normal),
    "flatten": (lambda t: dj.flatten(t) * 2, lambda x: x.ravel() * 2, normal),
    "transpose": (lambda t: t.transpose(0, 1) * 2, lambda x: x.T * 2, normal),
    "permute": (lambda t: t.unsqueeze(2).permute(2, 1, 0) * 2, lambda x: x.T[None] * 2, normal),
    "flip": (lambda t: dj.flip(t, [0, 1]) * 2, lambda x: x[::-1, ::-1] * 2, normal),
    "roll": (lambda t: dj.roll(t, 1, 1) * 2, lambda x: np.roll(x, 1, 1) * 2, normal),
    "tril": (lambda t: dj.tril(t) * 2, lambda x: np.tril(x) * 2, normal),
    "triu": (lambda t: dj.triu(t, 1) * 2, lambda x: np.triu(x, 1) * 2, normal),
    "diagonal": (lambda t: t.diagonal() * 2, lambda x: np.diagonal(x) * 2, normal),
    "repeat": (lambda t: t.repeat(2, 1) * 2, lambda x: np.tile(x, (2, 1)) * 2, normal),
    "repeat_interleave": (lambda t: dj.repeat_interleave(t, 2, 0) * 2,
                          lambda x: np.repeat(x, 2, 0) * 2, normal),
    "expand": (lambda t: t[:, :1].expand(3, 5) * 2, lambda x: np.broadcast_to(x[:, :1], (3, 5)) * 2,
               normal),
    "narrow": (lambda t: t.narrow(1, 1, 2) * 2, lambda x: x[:, 1:3] * 2, normal),
    "getitem": (lambda t: t[1:, ::2] * 2, lambda x: x[1:, ::2] * 2, normal),
    "getitem-advanced": (lambda t: t[[0, 2, 0], [3, 1, 1]] * 2,
                         lambda x: x[[0, 2, 0], [3, 1, 1]] * 2, normal),
    "index_select": (lambda t: dj.index_select(t, 1, dj.tensor([3, 0, 3])) * 2,
                     lambda x: x[:, [3, 0, 3]] * 2, normal),
    "gather": (lambda t: dj.gather(t, 1, dj.tensor([[0, 0], [3, 1], [2, 2]])) * 2,
               lambda x: np.take_along_axis(x, np.array([[0, 0], [3, 1], [2, 2]]), 1) * 2, normal),
    "masked_fill": (lambda t: t.masked_fill(dj.tensor([[True, False, False, True]]), 0.5) * 2,
                    lambda x: np.where([[True, False, False, True]], 0.5, x) * 2, normal),
    "scatter_add": (lambda t: dj.zeros(3, 4, dtype=dj.float64).scatter_add(
        0, dj.tensor([[2, 0, 1, 0]]), t[:1]) * 2,
        lambda x: np.array([[0, x[0, 1], 0, x[0, 3]], [0, 0, x[0, 2], 0], [x[0, 0], 0, 0, 0]]) * 2,
        normal),
    "where": (lambda t: dj.where(t > 0, t * 2, t * 3), lambda x: np.where(x > 0, 2 * x, 3 * x),
              normal),
    "maximum": (lambda t: dj.maximum(t, t.flip(0)), lambda x: np.maximum(x, x[::-1]), normal),
    "matmul": (lambda t: t @ t.T, lambda x: x @ x.T, normal),
    "einsum": (lambda t: dj.einsum("ij,kj->ik", t, t), lambda x: x @ x.T, normal),
    "cat": (lambda t: dj.cat([t, t * 2], 1), lambda x: np.concatenate([x, 2 * x], 1), normal),
    "stack": (lambda t: dj.stack([t, t * 2], 2), lambda x: np.stack([x, 2 * x], 2), normal),
    "split": (lambda t: dj.split(t, [1, 3], 1)[1] * 2, lambda x: x[:, 1:] * 2, normal),
    "chunk": (lambda t: t.chunk(2, 1)[0] * 2, lambda x: x[:, :2] * 2, normal),
    "outer": (lambda t: dj.outer(t[0], t[1]), lambda x: np.outer(x[0], x[1]), normal),
    "pow-tensor": (lambda t: t.abs() ** t, lambda x: np.abs(x) ** x, normal),
    "rpow": (lambda t: 2.0 ** t, lambda x: 2.0 ** x, normal),
    "div": (lambda t: 1.5 / (t.abs() + 1) - t / 3, lambda x: 1.5 / (np.abs(x) + 1) - x / 3, normal),
    "atan2": (lambda t: dj.atan2(t, t.flip(1)), lambda x: np.arctan2(x, x[:, ::-1]), normal),
    "lerp": (lambda t: t.lerp(t.flip(0), 0.3), lambda x: x + 0.3 * (x[::-1] - x), normal),
    "trace": (lambda t: t[:, :3].trace(), lambda x: np.trace(x[:, :3]), normal),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_function_values_and_gradients(name):
    fn, reference, make = UNARY[name]
    x = make(3, 4)
    rtol = 1e-5 if name == "erf" else 1e-6
    check_grad(fn, reference, x, rtol=rtol, atol=1e-7)


def test_binary_gradients_reduce_over_broadcasting():
    a, b = normal(3, 1), normal(1, 4)
    check_grad(lambda x, y: x * y + x / (y * y + 1) - y, lambda x, y: x * y + x / (y * y + 1) - y,
               a, b)


# -- type promotion -------------------------------------------------------------------------------

PROMOTION = [
    (dj.float32, (3,), dj.int64, (3,), dj.float32),
    (dj.int64, (3,), dj.float32, (), dj.float32),
    (dj.float32, (3,), dj.float64, (), dj.float32),  # dimensioned tensors win within a category
    (dj.float64, (), dj.float32, (), dj.float64),
    (dj.int32, (3,), dj.int64, (3,), dj.int64),
    (dj.int32, (3,), dj.int64, (), dj.int32),
    (dj.bool, (3,), dj.int32, (), dj.int32),
    (dj.bool, (3,), dj.float64, (3,), dj.float64),
]


@pytest.mark.parametrize("a, sa, b, sb, expected", PROMOTION)
def test_tensor_promotion_follows_pytorch(a, sa, b, sb, expected):
    x, y = dj.ones(*sa, dtype=a), dj.ones(*sb, dtype=b)
    assert (x + y).dtype == expected and (y * x).dtype == expected
    assert dj.result_type(x, y) == expected


def test_python_numbers_are_weak():
    i = dj.tensor([1, 2, 3])
    f = dj.tensor([1.0, 2.0], dtype=dj.float32)
    assert (i * 2).dtype == dj.int64 and (i * 2.5).dtype == dj.float32
    assert (f * 2.5).dtype == dj.float32 and (f * 2).dtype == dj.float32
    assert (i / 2).dtype == dj.float32
    np.testing.assert_array_equal((i / 2).numpy(), [0.5, 1.0, 1.5])
    assert (dj.tensor([True]) + 1).dtype == dj.int64
    d = dj.tensor([1.0], dtype=dj.float64)
    assert (d * 2.5).dtype == dj.float64
    dj.set_default_dtype(dj.float64)
    try:
        assert dj.tensor([1.5]).dtype == dj.float64 and (i * 0.5).dtype == dj.float64
    finally:
        dj.set_default_dtype(dj.float32)


def test_mixed_precision_gradients_keep_each_inputs_dtype():
    a = dj.tensor([1.0, 2.0], dtype=dj.float32, requires_grad=True)
    b = dj.tensor([3.0, 4.0], dtype=dj.float64, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.dtype == dj.float32 and b.grad.dtype == dj.float64
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 4.0])


def test_integer_tensors_cannot_require_grad_and_comparisons_are_bool():
    with pytest.raises(RuntimeError, match="floating point"):
        dj.tensor([1, 2], requires_grad=True)
    x = dj.tensor([1.0, 2.0], requires_grad=True)
    assert (x > 1).dtype == dj.bool and not (x > 1).requires_grad
    assert x.argmax().item() == 1 and not x.argmax().requires_grad


# -- creation -------------------------------------------------------------------------------------

def test_creation_functions():
    assert dj.zeros(2, 3).shape == (2, 3) and dj.zeros((2, 3)).dtype == dj.float32
    assert dj.ones(2, dtype=dj.int64).dtype == dj.int64
    np.testing.assert_array_equal(dj.full((2,), 7).numpy(), [7, 7])
    assert dj.full((2,), 7).dtype == dj.int64 and dj.full((2,), 7.0).dtype == dj.float32
    np.testing.assert_array_equal(dj.arange(5).numpy(), np.arange(5))
    assert dj.arange(5).dtype == dj.int64 and dj.arange(0, 1, 0.25).dtype == dj.float32
    np.testing.assert_allclose(dj.linspace(0, 1, 5).numpy(), np.linspace(0, 1, 5))
    np.testing.assert_allclose(dj.logspace(0, 2, 3).numpy(), [1, 10, 100])
    np.testing.assert_array_equal(dj.eye(2, 3).numpy(), np.eye(2, 3))
    dj.manual_seed(3)
    r = dj.randint(0, 4, (1000,))
    assert r.dtype == dj.int64 and set(r.numpy().tolist()) == {0, 1, 2, 3}
    assert sorted(dj.randperm(6).numpy().tolist()) == list(range(6))
    assert 0 <= dj.rand(100).numpy().min() and dj.rand(100).numpy().max() < 1
    assert abs(dj.randn(20000).numpy().std() - 1) < 0.03
    t = dj.tensor([[1, 2], [3, 4]])
    assert dj.zeros_like(t).dtype == dj.int64 and dj.ones_like(t, dtype=dj.float64).dtype == dj.float64
    assert dj.tensor(np.array([1.0])).dtype == dj.float64  # NumPy arrays keep their dtype
    a = np.zeros(3, np.float32)
    shared = dj.from_numpy(a)
    shared[0] = 5
    assert a[0] == 5
    assert np.shares_memory(dj.as_tensor(a).numpy(), a)
    assert dj.Tensor(2, 3).shape == (2, 3) and dj.Tensor([1, 2]).dtype == dj.float32
    with pytest.raises(RuntimeError, match="CPU only"):
        dj.zeros(2, device="cuda")


def test_tensor_properties():
    t = dj.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    assert t.shape == (1, 3) and t.size(1) == 3 and t.dim() == 2 and t.numel() == 3
    assert t.size() == dj.Size([1, 3]) and t.shape.numel() == 3
    assert str(t.device) == "cpu" and t.is_leaf and t.dtype == dj.float32
    assert t.T.shape == (3, 1) and t.mT.shape == (3, 1)
    assert t.tolist() == [[1.0, 2.0, 3.0]] and t.double().dtype == dj.float64
    assert t.long().dtype == dj.int64 and t.to(dj.float64).dtype == dj.float64
    assert t.to("cpu") is t and t.float() is t and t.type_as(dj.ones(1, dtype=dj.float64)).dtype \
        == dj.float64
    c = t.clone()
    assert c.grad_fn is not None and not np.shares_memory(c.detach().numpy(), t.detach().numpy())
