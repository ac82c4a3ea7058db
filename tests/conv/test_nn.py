"""The model-facing convolution and pooling: dualjit.nn.conv / max_pool / avg_pool on arrays
and under jit, nn.functional and the modules on Tensors, against PyTorch's values and
gradients (an independent implementation)."""

import numpy as np
import pytest

import dualjit as dj
from dualjit import nn
from dualjit.nn import functional as F

torch = pytest.importorskip("torch")
rng = np.random.default_rng(7)


def _pair(shape):
    """A dualjit Tensor and a torch tensor holding the same float64 values, requiring grad."""
    value = rng.standard_normal(shape)
    return (dj.tensor(value, requires_grad=True),
            torch.tensor(value, requires_grad=True))


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(padding="same"),
                                dict(dilation=2, groups=2, padding=(1, 2)),
                                dict(stride=(1, 2), padding="valid")])
def test_conv2d_values_and_gradients_match_torch(kw):
    (x, tx), (w, tw), (b, tb) = _pair((2, 4, 7, 6)), _pair((6, 4 // kw.get("groups", 1), 3, 2)), \
        _pair((6,))
    out, tout = F.conv2d(x, w, b, **kw), torch.nn.functional.conv2d(tx, tw, tb, **kw)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-10)
    ct = rng.standard_normal(tuple(tout.shape))
    (out * dj.tensor(ct)).sum().backward()
    (tout * torch.tensor(ct)).sum().backward()
    for ours, theirs in ((x, tx), (w, tw), (b, tb)):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_conv1d_depthwise_unbatched_matches_torch():
    (x, tx), (w, tw) = _pair((4, 9)), _pair((4, 1, 3))
    out = F.conv1d(x, w, None, 1, 1, 1, 4)
    tout = torch.nn.functional.conv1d(tx, tw, None, 1, 1, 1, 4)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-10)
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("name, kw", [
    ("max_pool2d", dict(kernel_size=2)), ("max_pool2d", dict(kernel_size=3, stride=2, padding=1)),
    ("max_pool2d", dict(kernel_size=(2, 3), stride=1, dilation=2)),
    ("avg_pool2d", dict(kernel_size=2)), ("avg_pool2d", dict(kernel_size=3, stride=2, padding=1)),
    ("avg_pool2d", dict(kernel_size=3, stride=1, padding=1, count_include_pad=False)),
    ("max_pool1d", dict(kernel_size=3, stride=2)), ("avg_pool1d", dict(kernel_size=2)),
])
def test_pooling_values_and_gradients_match_torch(name, kw):
    shape = (2, 3, 8, 7) if name.endswith("2d") else (2, 3, 9)
    value = rng.integers(-2, 3, shape).astype(np.float64)  # ties: gradients follow the first max
    x, tx = dj.tensor(value, requires_grad=True), torch.tensor(value, requires_grad=True)
    out, tout = getattr(F, name)(x, **kw), getattr(torch.nn.functional, name)(tx, **kw)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-12)
    ct = rng.standard_normal(tuple(tout.shape))
    (out * dj.tensor(ct)).sum().backward()
    (tout * torch.tensor(ct)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_modules_match_torch_modules_with_the_same_parameters():
    torch.manual_seed(0)
    layers = [(nn.Conv2d(3, 4, 3, padding=1), torch.nn.Conv2d(3, 4, 3, padding=1)),
              (nn.BatchNorm2d(4), torch.nn.BatchNorm2d(4)),
              (nn.MaxPool2d(2), torch.nn.MaxPool2d(2)),
              (nn.Conv2d(4, 4, 3, groups=2, bias=False), torch.nn.Conv2d(4, 4, 3, groups=2,
                                                                        bias=False)),
              (nn.AvgPool2d(2, stride=1), torch.nn.AvgPool2d(2, stride=1))]
    for ours, theirs in layers:
        for name, p in theirs.named_parameters():
            getattr(ours, name).data = dj.tensor(p.detach().numpy().astype(np.float32))
    value = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    x, tx = dj.tensor(value), torch.tensor(value)
    for ours, theirs in layers:
        x, tx = ours(x), theirs(tx)
    np.testing.assert_allclose(x.detach().numpy(), tx.detach().numpy(), rtol=1e-4, atol=1e-5)
    x.sum().backward()
    tx.sum().backward()
    np.testing.assert_allclose(layers[0][0].weight.grad.numpy(),
                               layers[0][1].weight.grad.numpy(), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(layers[1][0].running_var.numpy(),
                               layers[1][1].running_var.numpy(), rtol=1e-5)


def test_conv_default_initialization_bounds():
    layer = nn.Conv2d(6, 8, 5)
    bound = 1 / np.sqrt(6 * 25)
    assert layer.weight.shape == (8, 6, 5, 5)
    assert np.abs(layer.weight.detach().numpy()).max() <= bound
    assert np.abs(layer.bias.detach().numpy()).max() <= bound


def test_array_functions_under_jit_and_grad_match_torch():
    x, w = rng.standard_normal((2, 3, 10, 10)), rng.standard_normal((5, 3, 3, 3))

    def loss(x, w):
        h = dj.nn.relu(dj.nn.conv(x, w, stride=1, padding=1))
        return (dj.nn.avg_pool(dj.nn.max_pool(h, 2), 2, count_include_pad=False) ** 2).sum()

    g = dj.jit(dj.grad(loss, argnums=1))(x, w)
    tx, tw = torch.tensor(x), torch.tensor(w, requires_grad=True)
    tf = torch.nn.functional
    h = torch.relu(tf.conv2d(tx, tw, padding=1))
    (tf.avg_pool2d(tf.max_pool2d(h, 2), 2) ** 2).sum().backward()
    np.testing.assert_allclose(g, tw.grad.numpy(), rtol=1e-9)


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
