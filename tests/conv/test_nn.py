"""The model-facing convolution and pooling: dualjit.nn.conv / max_pool / avg_pool on arrays
and under jit, nn.functional and the modules on Tensors, against the direct loop references
of reference.py (PyTorch's conventions: cross-correlation, 'same' padding split low-first,
the first maximum of a window takes the gradient, average pools with or without padding
in the count), their gradients against the references' VJPs and finite differences."""

import numpy as np
import pytest

import dualjit as dj
from dualjit import nn
from dualjit.nn import functional as F

from . import reference

rng = np.random.default_rng(7)
NCHW = ((0, 1, 2, 3),) * 3


def _pairs(value, nsp):
    return (value,) * nsp if isinstance(value, int) else tuple(value)


def _torch_padding(padding, kernel, dilation, nsp):
    """PyTorch's padding argument as (low, high) pairs ('same': total d (k - 1), low half)."""
    if padding == "valid":
        return ((0, 0),) * nsp
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    return tuple((p, p) for p in _pairs(padding, nsp))


def _conv_reference(x, w, stride=1, padding=0, dilation=1, groups=1):
    nsp = x.ndim - 2
    strides, dilation = _pairs(stride, nsp), _pairs(dilation, nsp)
    pads = _torch_padding(padding, w.shape[2:], dilation, nsp)
    specs = (tuple(range(nsp + 2)),) * 3
    args = (strides, pads, (1,) * nsp, dilation, specs, groups)
    return reference.conv(x, w, *args), lambda ct: reference.conv_vjp(x, w, ct, *args)


def _tensor(value):
    return dj.tensor(value, requires_grad=True)


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(padding="same"),
                                dict(dilation=2, groups=2, padding=(1, 2)),
                                dict(stride=(1, 2), padding="valid")])
def test_conv2d_values_and_gradients_match_the_loop_reference(kw):
    xv = rng.standard_normal((2, 4, 7, 6))
    wv = rng.standard_normal((6, 4 // kw.get("groups", 1), 3, 2))
    bv = rng.standard_normal(6)
    x, w, b = _tensor(xv), _tensor(wv), _tensor(bv)
    out = F.conv2d(x, w, b, **kw)
    expected, vjp = _conv_reference(xv, wv, **kw)
    np.testing.assert_allclose(out.detach().numpy(), expected + bv[:, None, None], rtol=1e-10)
    ct = rng.standard_normal(expected.shape)
    (out * dj.tensor(ct)).sum().backward()
    x_bar, w_bar = vjp(ct)
    for ours, theirs in ((x, x_bar), (w, w_bar), (b, ct.sum((0, 2, 3)))):
        np.testing.assert_allclose(ours.grad.numpy(), theirs, rtol=1e-9, atol=1e-12)


def test_conv1d_depthwise_unbatched_matches_the_loop_reference():
    xv, wv = rng.standard_normal((4, 9)), rng.standard_normal((4, 1, 3))
    x, w = _tensor(xv), _tensor(wv)
    out = F.conv1d(x, w, None, 1, 1, 1, 4)
    expected, vjp = _conv_reference(xv[None], wv, padding=1, groups=4)
    np.testing.assert_allclose(out.detach().numpy(), expected[0], rtol=1e-10)
    out.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), vjp(np.ones_like(expected))[1], rtol=1e-10)


def _pool_window(x, kernel_size, stride=None, padding=0, dilation=1):
    nsp = x.ndim - 2
    kernel = _pairs(kernel_size, nsp)
    stride = kernel if stride is None else _pairs(stride, nsp)
    return dict(window_dimensions=(1, 1, *kernel), window_strides=(1, 1, *stride),
                padding=((0, 0), (0, 0), *((p, p) for p in _pairs(padding, nsp))),
                base_dilation=(1,) * x.ndim, window_dilation=(1, 1, *_pairs(dilation, nsp)))


def _pool_reference(name, x, count_include_pad=True, **kw):
    """(values, vjp) of PyTorch's max or average pool by the loop references."""
    window = _pool_window(x, **kw)
    if name.startswith("max"):
        return (reference.reduce_window(x, max, -np.inf, **window),
                lambda ct: reference.max_pool_vjp(x, ct, **window))
    total = reference.reduce_window(x, np.add, 0.0, **window)
    if count_include_pad:
        count = np.prod(window["window_dimensions"])
    else:
        count = reference.reduce_window(np.ones_like(x), np.add, 0.0, **window)
    return total / count, lambda ct: reference.window_sum_vjp(x, ct / count, **window)


@pytest.mark.parametrize("name, kw", [
    ("max_pool2d", dict(kernel_size=2)), ("max_pool2d", dict(kernel_size=3, stride=2, padding=1)),
    ("max_pool2d", dict(kernel_size=(2, 3), stride=1, dilation=2)),
    ("avg_pool2d", dict(kernel_size=2)), ("avg_pool2d", dict(kernel_size=3, stride=2, padding=1)),
    ("avg_pool2d", dict(kernel_size=3, stride=1, padding=1, count_include_pad=False)),
    ("max_pool1d", dict(kernel_size=3, stride=2)), ("avg_pool1d", dict(kernel_size=2)),
])
def test_pooling_values_and_gradients_match_the_loop_reference(name, kw):
    shape = (2, 3, 8, 7) if name.endswith("2d") else (2, 3, 9)
    value = rng.integers(-2, 3, shape).astype(np.float64)  # ties: gradients follow the first max
    x = _tensor(value)
    out = getattr(F, name)(x, **kw)
    expected, vjp = _pool_reference(name, value, **kw)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-12)
    ct = rng.standard_normal(expected.shape)
    (out * dj.tensor(ct)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), vjp(ct), rtol=1e-12, atol=1e-12)


def _chain_reference(x, w1, b1, w2):
    """Conv2d(3, 4, 3, padding=1) -> BatchNorm2d(4) (training: batch statistics, weight 1,
    bias 0) -> MaxPool2d(2) -> Conv2d(4, 4, 3, groups=2, no bias) -> AvgPool2d(2, stride=1)."""
    h = _conv_reference(x, w1, padding=1)[0] + b1[:, None, None]
    mean, var = h.mean((0, 2, 3)), h.var((0, 2, 3))
    h = (h - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5)
    h = _pool_reference("max", h, kernel_size=2)[0]
    h = _conv_reference(h, w2, groups=2)[0]
    return _pool_reference("avg", h, kernel_size=2, stride=1)[0], h


def test_modules_match_the_loop_reference_with_the_same_parameters():
    layers = [nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.MaxPool2d(2),
              nn.Conv2d(4, 4, 3, groups=2, bias=False), nn.AvgPool2d(2, stride=1)]
    w1, b1 = (p.detach().numpy().astype(np.float64) for p in (layers[0].weight, layers[0].bias))
    w2 = layers[3].weight.detach().numpy().astype(np.float64)
    value = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    x = dj.tensor(value)
    for layer in layers:
        x = layer(x)
    expected, _ = _chain_reference(value.astype(np.float64), w1, b1, w2)
    np.testing.assert_allclose(x.detach().numpy(), expected, rtol=1e-4, atol=1e-5)
    x.sum().backward()
    # the first kernel's gradient along a random direction, by central differences
    direction, eps = rng.standard_normal(w1.shape), 1e-4
    plus = _chain_reference(value.astype(np.float64), w1 + eps * direction, b1, w2)[0].sum()
    minus = _chain_reference(value.astype(np.float64), w1 - eps * direction, b1, w2)[0].sum()
    np.testing.assert_allclose((layers[0].weight.grad.numpy() * direction).sum(),
                               (plus - minus) / (2 * eps), rtol=2e-3, atol=1e-4)
    # running variance: momentum 0.1 towards the unbiased batch variance (from 1)
    h = _conv_reference(value.astype(np.float64), w1, padding=1)[0] + b1[:, None, None]
    unbiased = h.var((0, 2, 3), ddof=1)
    np.testing.assert_allclose(layers[1].running_var.numpy(), 0.9 + 0.1 * unbiased, rtol=1e-5)


def test_conv_default_initialization_bounds():
    layer = nn.Conv2d(6, 8, 5)
    bound = 1 / np.sqrt(6 * 25)
    assert layer.weight.shape == (8, 6, 5, 5)
    assert np.abs(layer.weight.detach().numpy()).max() <= bound
    assert np.abs(layer.bias.detach().numpy()).max() <= bound


def test_array_functions_under_jit_and_grad_match_the_loop_reference():
    x, w = rng.standard_normal((2, 3, 10, 10)), rng.standard_normal((5, 3, 3, 3))

    def loss(x, w):
        h = dj.nn.relu(dj.nn.conv(x, w, stride=1, padding=1))
        return (dj.nn.avg_pool(dj.nn.max_pool(h, 2), 2, count_include_pad=False) ** 2).sum()

    g = dj.jit(dj.grad(loss, argnums=1))(x, w)
    # the chain rule through the references, step by step
    z, conv_vjp = _conv_reference(x, w, padding=1)
    h = np.maximum(z, 0)
    m, max_vjp = _pool_reference("max", h, kernel_size=2)
    a, avg_vjp = _pool_reference("avg", m, kernel_size=2, count_include_pad=False)
    h_bar = max_vjp(avg_vjp(2 * a))
    np.testing.assert_allclose(g, conv_vjp(h_bar * (z > 0))[1], rtol=1e-9)


@pytest.mark.parametrize("call, message", [
    (lambda x: F.max_pool2d(x, 2, ceil_mode=True), "ceil_mode"),
    (lambda x: F.max_pool2d(x, 2, return_indices=True), "return_indices"),
    (lambda x: F.avg_pool2d(x, 3, padding=2), "at most half"),
    (lambda x: F.conv2d(x.unsqueeze(0), dj.ones(2, 3, 3, 3)), "expected a 3-D or 4-D input"),
    (lambda x: F.conv2d(x, dj.ones(2, 3, 3)), "does not match a weight"),
    (lambda x: F.conv2d(x, dj.ones(2, 3, 3, 3), stride=2, padding="same"), "strided"),
])
def test_unsupported_options_raise_clear_errors(call, message):
    with pytest.raises((NotImplementedError, ValueError), match=message):
        call(dj.ones(1, 3, 6, 6))
