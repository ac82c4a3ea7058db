"""dj.nn: Module API, layers, losses, init, utils — values against NumPy formulas, gradients
against central differences."""

import math
from collections import OrderedDict

import numpy as np
import pytest

import dualjit as dj
import dualjit.nn as nn
import dualjit.nn.functional as F

from .helpers import check_grad

rng = np.random.default_rng(0)


# -- Module ---------------------------------------------------------------------------------------

class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(4, 2, bias=False)
        self.register_buffer("steps", dj.zeros(()))
        self.register_buffer("scratch", dj.ones(2), persistent=False)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def test_module_registers_parameters_buffers_and_children_in_order():
    m = TwoLayer()
    assert [n for n, _ in m.named_parameters()] == ["fc1.weight", "fc1.bias", "fc2.weight"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in m.parameters())
    assert [n for n, _ in m.named_buffers()] == ["steps", "scratch"]
    assert [n for n, _ in m.named_children()] == ["fc1", "act", "fc2"]
    assert [type(x).__name__ for x in m.modules()] == ["TwoLayer", "Linear", "ReLU", "Linear"]
    assert list(m.state_dict()) == ["steps", "fc1.weight", "fc1.bias", "fc2.weight"] or \
        list(m.state_dict()) == ["fc1.weight", "fc1.bias", "fc2.weight", "steps"]
    assert m.fc2.bias is None and m.get_submodule("fc1") is m.fc1


def test_module_repr_is_pytorchs():
    model = nn.Sequential(nn.Linear(3, 1), nn.Flatten(0, 1))
    assert repr(model) == ("Sequential(\n  (0): Linear(in_features=3, out_features=1, bias=True)\n"
                           "  (1): Flatten(start_dim=0, end_dim=1)\n)")
    assert repr(TwoLayer()).startswith("TwoLayer(\n  (fc1): Linear(in_features=3, out_features=4")


def test_shared_parameters_are_listed_once_and_get_both_gradients():
    lin = nn.Linear(2, 2)
    model = nn.Sequential(lin, nn.Tanh(), lin)
    assert len(list(model.parameters())) == 2
    x = dj.randn(5, 2)
    model(x).sum().backward()
    w, b = lin.weight.detach().numpy(), lin.bias.detach().numpy()
    h = np.tanh(x.numpy() @ w.T + b)
    g_h = np.ones((5, 2)) @ w * (1 - h ** 2)
    expected_w = np.ones((5, 2)).T @ h + g_h.T @ x.numpy()
    np.testing.assert_allclose(lin.weight.grad.numpy(), expected_w, rtol=1e-5)


def test_train_eval_zero_grad_and_requires_grad():
    m = TwoLayer()
    m.eval()
    assert not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())
    m(dj.randn(2, 3)).sum().backward()
    assert m.fc1.weight.grad is not None
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    m(dj.randn(2, 3)).sum().backward()
    m.zero_grad(set_to_none=False)
    assert all(float(p.grad.abs().sum()) == 0 for p in m.parameters())
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())


def test_state_dict_round_trip_keeps_parameter_identity():
    a, b = TwoLayer(), TwoLayer()
    ids = [id(p) for p in b.parameters()]
    b.load_state_dict(a.state_dict())
    assert [id(p) for p in b.parameters()] == ids
    x = dj.randn(4, 3)
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())
    sd = a.state_dict()
    assert sd["fc1.weight"].requires_grad is False
    sd["fc1.weight"][0, 0] = 123.0  # state_dict tensors share storage, as in PyTorch
    assert a.fc1.weight[0, 0].item() == 123.0


def test_load_state_dict_reports_problems():
    m = TwoLayer()
    sd = m.state_dict()
    del sd["fc1.bias"]
    sd["extra"] = dj.zeros(1)
    with pytest.raises(RuntimeError, match='Missing key.*"fc1.bias"'):
        m.load_state_dict(sd)
    result = m.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["fc1.bias"] and result.unexpected_keys == ["extra"]
    sd = m.state_dict()
    sd["fc1.weight"] = dj.zeros(2, 2)
    with pytest.raises(RuntimeError, match="size mismatch for fc1.weight"):
        m.load_state_dict(sd)


def test_to_dtype_and_apply():
    m = TwoLayer().to(dj.float64)
    assert all(p.dtype == dj.float64 for p in m.parameters())
    assert m(dj.randn(2, 3, dtype=dj.float64)).dtype == dj.float64

    def init(module):
        if isinstance(module, nn.Linear):
            nn.init.constant_(module.weight, 0.5)
    m.apply(init)
    assert float(m.fc2.weight.sum()) == 4.0
    with pytest.raises(RuntimeError, match="CPU only"):
        m.to("cuda")


def test_containers():
    seq = nn.Sequential(OrderedDict([("a", nn.Linear(2, 3)), ("b", nn.ReLU())]))
    assert isinstance(seq[0], nn.Linear) and isinstance(seq[-1], nn.ReLU) and len(seq) == 2
    assert isinstance(seq[:1], nn.Sequential) and len(seq[:1]) == 1
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    ml.append(nn.Tanh())
    assert len(ml) == 4 and len(list(ml.parameters())) == 6
    md = nn.ModuleDict({"x": nn.Linear(1, 1)})
    md["y"] = nn.Linear(1, 2)
    assert list(md.keys()) == ["x", "y"] and len(list(md.parameters())) == 4


# -- layers ---------------------------------------------------------------------------------------

def test_linear_default_init_bounds_match_pytorch():
    dj.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = lin.weight.detach().numpy(), lin.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    np.testing.assert_allclose(w.std(), bound / math.sqrt(3), rtol=0.02)
    assert lin.weight.shape == (300, 400) and w.dtype == np.float32


def test_init_functions_give_documented_distributions():
    w = dj.empty(500, 200)
    nn.init.xavier_uniform_(w)
    np.testing.assert_allclose(w.numpy().std(), math.sqrt(2.0 / 700), rtol=0.02)
    nn.init.kaiming_normal_(w, nonlinearity="relu")
    np.testing.assert_allclose(w.numpy().std(), math.sqrt(2.0 / 200), rtol=0.02)
    nn.init.kaiming_uniform_(w, mode="fan_out")
    assert np.abs(w.numpy()).max() <= math.sqrt(3) * math.sqrt(2 / (1 + 0.0)) / math.sqrt(500)
    nn.init.zeros_(w)
    assert not w.numpy().any()
    nn.init.trunc_normal_(w, std=1.0, a=-0.5, b=0.5)
    assert np.abs(w.numpy()).max() <= 0.5
    assert nn.init.calculate_gain("tanh") == 5 / 3
    p = nn.Parameter(dj.ones(3))
    nn.init.normal_(p)
    assert p.is_leaf and p.requires_grad


def test_linear_and_bilinear_values_and_gradients():
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((2, 3)), rng.standard_normal(2)
    check_grad(F.linear, lambda x, w, b: x @ w.T + b, x, w, b)
    w3 = rng.standard_normal((2, 3, 5))
    x2 = rng.standard_normal((4, 5))
    check_grad(lambda a, c, w: F.bilinear(a, c, w), lambda a, c, w: np.einsum(
        "bi,oij,bj->bo", a, w, c), x, x2, w3)


def test_embedding_with_padding_row():
    emb = nn.Embedding(5, 3, padding_idx=0)
    assert not emb.weight[0].detach().numpy().any()
    idx = dj.tensor([[0, 2], [2, 4]])
    out = emb(idx)
    np.testing.assert_array_equal(out.detach().numpy(), emb.weight.detach().numpy()[idx.numpy()])
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy()[:, 0], [0, 0, 2, 0, 1])


def _layer_norm(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def test_layer_norm_value_and_gradient():
    x, w, b = rng.standard_normal((3, 5)), rng.standard_normal(5), rng.standard_normal(5)
    check_grad(lambda x, w, b: F.layer_norm(x, (5,), w, b), _layer_norm, x, w, b, rtol=1e-5)
    ln = nn.LayerNorm(5)
    assert ln.weight.shape == (5,) and float(ln.weight.sum()) == 5 and float(ln.bias.sum()) == 0


def test_batch_norm_train_and_eval_follow_pytorchs_formulas():
    x = rng.standard_normal((8, 3)) * 2 + 1
    bn = nn.BatchNorm1d(3).double()
    out = bn(dj.tensor(x))
    expected = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * x.var(0, ddof=1), rtol=1e-12)
    assert bn.num_batches_tracked.item() == 1
    bn.eval()
    out = bn(dj.tensor(x))
    np.testing.assert_allclose(out.detach().numpy(), (x - bn.running_mean.numpy()) / np.sqrt(
        bn.running_var.numpy() + 1e-5), rtol=1e-10)
    g = rng.standard_normal(3)
    c = rng.standard_normal(3)
    check_grad(lambda x, g, c: F.batch_norm(x, None, None, g, c, training=True),
               lambda x, g, c: (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5) * g + c, x, g, c,
               rtol=1e-5)


def test_dropout_scales_in_training_and_is_identity_in_eval():
    dj.manual_seed(0)
    d = nn.Dropout(0.25)
    x = dj.ones(10000)
    y = d(x).numpy()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.02
    d.eval()
    assert d(x) is x


def _erf(x):
    return np.vectorize(math.erf)(x)


ACTIVATIONS = {
    "ReLU": (nn.ReLU(), lambda x: np.maximum(x, 0)),
    "LeakyReLU": (nn.LeakyReLU(0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    "ELU": (nn.ELU(), lambda x: np.where(x > 0, x, np.expm1(x))),
    "GELU": (nn.GELU(), lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2)))),
    "GELU-tanh": (nn.GELU("tanh"), lambda x: 0.5 * x * (1 + np.tanh(
        math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))),
    "SiLU": (nn.SiLU(), lambda x: x / (1 + np.exp(-x))),
    "Tanh": (nn.Tanh(), np.tanh),
    "Sigmoid": (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    "Softplus": (nn.Softplus(), lambda x: np.log1p(np.exp(x))),
    "Softmax": (nn.Softmax(dim=1), lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True)),
    "LogSoftmax": (nn.LogSoftmax(dim=1), lambda x: x - np.log(np.exp(x).sum(1, keepdims=True))),
    "Identity": (nn.Identity(), lambda x: x),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_values_and_gradients(name):
    module, reference = ACTIVATIONS[name]
    x = rng.standard_normal((3, 4)) * 2
    x[np.abs(x) < 1e-3] = 0.5  # keep away from kinks
    rtol = 1e-6 if name != "GELU" else 1e-5  # (erf's fit is good to ~1e-7)
    check_grad(lambda t: module(t) * dj.tensor(np.arange(12.0).reshape(3, 4)),
               lambda a: reference(a) * np.arange(12.0).reshape(3, 4), x, rtol=rtol)


def test_relu_derivative_at_zero_is_zero_and_nan_propagates():
    x = dj.tensor([0.0, float("nan"), -1.0], requires_grad=True)
    y = F.relu(x)
    assert np.isnan(y.detach().numpy()[1])
    y[[0, 2]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1003,), (4099,), (128, 256)])
def test_relu_eager_values_match_the_compiled_composition_at_edge_values(dtype, shape):
    """The eager NumPy value and the jit-compiled value of the same composition agree bit
    for bit, -0.0 -> +0.0 and nan included, over lengths that take vectorized paths (below
    and above the size from which the eager value is taken against cached zeros)."""
    x = np.random.default_rng(3).standard_normal(shape).astype(dtype)
    flat = x.reshape(-1)
    flat[::7], flat[::11], flat[::13], flat[::17] = -0.0, np.nan, -np.inf, np.inf
    eager = F.relu(dj.tensor(x)).numpy()
    compiled = np.asarray(dj.jit(lambda a: dj.numpy.where(a <= 0, dj.numpy.zeros_like(a), a))(x))
    independent = np.where(np.isnan(x), x, np.where(x > 0, x, dtype(0)))
    for out in (eager, compiled):
        assert out.dtype == dtype
        np.testing.assert_array_equal(out, independent)
        np.testing.assert_array_equal(np.signbit(out), np.signbit(independent))
    # twice more: the result is a new array each time, in place too, and the cached
    # operand is still zeros
    t = dj.tensor(x)
    again = F.relu(t)
    assert not np.shares_memory(again.numpy(), eager)
    t.relu_()
    np.testing.assert_array_equal(t.numpy(), independent)
    np.testing.assert_array_equal(F.relu(dj.tensor(-np.abs(x))).numpy(), np.where(
        np.isnan(x), x, dtype(0)))


# -- losses ---------------------------------------------------------------------------------------

def _log_softmax(z, axis=1):
    z = z - z.max(axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis, keepdims=True))


def _reduce(l, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](l)


y_reg = rng.standard_normal((4, 3))
labels = np.array([0, 2, 1, 2])
probs = np.exp(_log_softmax(rng.standard_normal((4, 3))))
weights = np.array([0.2, 1.0, 3.0])
y01 = (rng.random((4, 3)) > 0.5).astype(np.float64)


def _ce_reference(z, ignore=None, weight=None, smoothing=0.0, reduction="mean"):
    logp = _log_softmax(z)
    w = np.ones(3) if weight is None else weight
    keep = np.ones(len(labels), bool) if ignore is None else labels != ignore
    safe = np.where(keep, labels, 0)
    nll = -w[safe] * logp[np.arange(4), safe] * keep
    smooth = -(logp * w).sum(1) / 3 * keep
    losses = (1 - smoothing) * nll + smoothing * smooth
    if reduction == "mean":
        return losses.sum() / (w[safe] * keep).sum()
    return _reduce(losses, reduction)


def _smooth_l1(d, beta=1.0):
    a = np.abs(d)
    return np.where(a < beta, 0.5 * a ** 2 / beta, a - 0.5 * beta)


def _bce_logits(z, y, pos_weight=None):
    pw = 1.0 if pos_weight is None else pos_weight
    return -(pw * y * np.log(1 / (1 + np.exp(-z))) + (1 - y) * np.log(1 - 1 / (1 + np.exp(-z))))


LOSSES = {
    "mse": (lambda z, r: F.mse_loss(z, dj.tensor(y_reg), reduction=r),
            lambda z, r: _reduce((z - y_reg) ** 2, r)),
    "l1": (lambda z, r: nn.L1Loss(reduction=r)(z, dj.tensor(y_reg)),
           lambda z, r: _reduce(np.abs(z - y_reg), r)),
    "smooth_l1": (lambda z, r: nn.SmoothL1Loss(reduction=r, beta=0.7)(z, dj.tensor(y_reg)),
                  lambda z, r: _reduce(_smooth_l1(z - y_reg, 0.7), r)),
    "huber": (lambda z, r: nn.HuberLoss(reduction=r, delta=0.7)(z, dj.tensor(y_reg)),
              lambda z, r: _reduce(0.7 * _smooth_l1(z - y_reg, 0.7), r)),
    "cross_entropy": (lambda z, r: nn.CrossEntropyLoss(reduction=r)(z, dj.tensor(labels)),
                      lambda z, r: _ce_reference(z, reduction=r)),
    "cross_entropy_ignore_smooth_weight": (
        lambda z, r: nn.CrossEntropyLoss(dj.tensor(weights), ignore_index=1, reduction=r,
                                         label_smoothing=0.2)(z, dj.tensor(labels)),
        lambda z, r: _ce_reference(z, 1, weights, 0.2, r)),
    "cross_entropy_ignore": (  # (NumPy's fast path: no weight, no smoothing)
        lambda z, r: nn.CrossEntropyLoss(ignore_index=1, reduction=r)(z, dj.tensor(labels)),
        lambda z, r: _ce_reference(z, 1, None, 0.0, r)),
    "cross_entropy_probabilities": (
        lambda z, r: F.cross_entropy(z, dj.tensor(probs), reduction=r),
        lambda z, r: _reduce(-(probs * _log_softmax(z)).sum(1), r)),
    "nll": (lambda z, r: nn.NLLLoss(dj.tensor(weights), reduction=r)(F.log_softmax(z, 1),
                                                                     dj.tensor(labels)),
            lambda z, r: _ce_reference(z, weight=weights, reduction=r)),
    "bce": (lambda z, r: nn.BCELoss(reduction=r)(z.sigmoid(), dj.tensor(y01)),
            lambda z, r: _reduce(_bce_logits(z, y01), r)),
    "bce_with_logits": (
        lambda z, r: nn.BCEWithLogitsLoss(reduction=r, pos_weight=dj.tensor([1.0, 2.0, 0.5]))(
            z, dj.tensor(y01)),
        lambda z, r: _reduce(_bce_logits(z, y01, np.array([1.0, 2.0, 0.5])), r)),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_values_and_gradients(name, reduction):
    ours, reference = LOSSES[name]
    z = rng.standard_normal((4, 3))
    check_grad(lambda t: ours(t, reduction), lambda a: reference(a, reduction), z, rtol=1e-5)


def test_cross_entropy_on_sequences_uses_dim_1_for_classes():
    z = rng.standard_normal((2, 3, 5))
    target = rng.integers(0, 3, (2, 5))
    loss = F.cross_entropy(dj.tensor(z), dj.tensor(target))
    logp = _log_softmax(z, axis=1)
    expected = -np.mean(np.take_along_axis(logp, target[:, None, :], 1))
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12)


@pytest.mark.parametrize("bad", [3, -1, -101])
def test_class_index_out_of_range_raises_not_a_silent_zero(bad):
    z = dj.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    target = dj.tensor([0, bad, 2, 1])
    for loss in (lambda: F.cross_entropy(z, target), lambda: F.nll_loss(z, target),
                 lambda: F.cross_entropy(z.detach(), target)):
        with pytest.raises(IndexError, match=f"Target {bad} is out of bounds"):
            loss()
    # ignore_index may lie outside the classes (PyTorch's default is -100)
    kept = F.cross_entropy(z, dj.tensor([0, -100, 2, 1]))
    expected = -np.mean(_log_softmax(z.detach().numpy())[[0, 2, 3], [0, 2, 1]])
    np.testing.assert_allclose(kept.item(), expected, rtol=1e-12)


@pytest.mark.parametrize("dtype, bad", [(np.int32, -1), (np.int16, 3), (np.uint8, 200),
                                        (np.int64, -(2 ** 62))])
def test_class_index_range_is_checked_for_every_integer_width(dtype, bad):
    z = dj.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    with pytest.raises(IndexError, match=f"Target {bad} is out of bounds"):
        F.cross_entropy(z, dj.from_numpy(np.array([0, bad, 2, 1], dtype)))
    good = F.cross_entropy(z, dj.from_numpy(np.array([0, 2, 2, 1], dtype)))
    expected = -np.mean(_log_softmax(z.detach().numpy())[[0, 1, 2, 3], [0, 2, 2, 1]])
    np.testing.assert_allclose(good.item(), expected, rtol=1e-12)


@pytest.mark.parametrize("path", ["numpy", "kernel"])
@pytest.mark.parametrize("shape", [(7, 5), (64, 10), (40, 33), (32, 32)])
def test_cross_entropy_fast_path_matches_the_recorded_function(shape, path, monkeypatch):
    """The eager value (NumPy's, its transposed variant for few classes too, or the compiled
    kernel's) against the IR Function backward() differentiates and against log_softmax in
    float64, both dtypes, with and without ignored rows, rows far apart in scale."""
    from dualjit.nn import functional
    from dualjit.nn.functional import _class_loss, _np_class_loss

    monkeypatch.setattr(functional, "LOSS_KERNEL_MIN_ELEMENTS", 0 if path == "kernel" else 1 << 60)

    n, n_classes = shape
    labels = rng.integers(0, n_classes, n)
    ignored = labels.copy()
    ignored[::3] = -100
    for dtype in (np.float32, np.float64):
        x = (rng.standard_normal(shape) * np.linspace(0.1, 30.0, n)[:, None]).astype(dtype)
        for t in (labels, ignored):
            for reduction in ("mean", "sum", "none"):
                params = dict(reduction=reduction, ignore_index=-100, smoothing=0.0,
                              logits=True)
                fast = _np_class_loss(x, t, **params)
                keep = t != -100
                losses = -_log_softmax(x.astype(np.float64))[np.arange(n), np.where(keep, t, 0)]
                losses = np.where(keep, losses, 0.0)
                expected = losses.sum() / keep.sum() if reduction == "mean" else \
                    _reduce(losses, reduction)
                assert fast.dtype == dtype
                np.testing.assert_allclose(fast, expected, rtol=2e-6 if dtype == np.float32
                                           else 1e-13, atol=3e-5 if dtype == np.float32
                                           else 1e-13)
                reference = np.asarray(_class_loss(x, t, **params))
                np.testing.assert_allclose(fast, reference, rtol=5e-6 if dtype == np.float32
                                           else 1e-13, atol=3e-5 if dtype == np.float32
                                           else 1e-13)


def test_loss_argument_errors():
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.mse_loss(dj.ones(2), dj.ones(2), reduction="avg")
    with pytest.raises(ValueError, match="Expected target of shape"):
        F.cross_entropy(dj.ones(4, 3), dj.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(dj.tensor([1.5]), dj.tensor([1.0]))


# -- utils ----------------------------------------------------------------------------------------

def test_clip_grad_norm_scales_all_gradients_together():
    a = nn.Parameter(dj.zeros(2))
    b = nn.Parameter(dj.zeros(3))
    a.grad = dj.tensor([3.0, 4.0])
    b.grad = dj.tensor([0.0, 0.0, 12.0])
    total = nn.utils.clip_grad_norm_([a, b], max_norm=6.5)
    assert abs(total.item() - 13.0) < 1e-5
    np.testing.assert_allclose(a.grad.numpy(), [1.5, 2.0], rtol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), [0.0, 0.0, 6.0], rtol=1e-5)
    nn.utils.clip_grad_value_([a, b], 1.0)
    np.testing.assert_allclose(b.grad.numpy(), [0.0, 0.0, 1.0])
    vec = nn.utils.parameters_to_vector([a, b])
    assert vec.shape == (5,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_linear_runs_as_a_kernel_with_numpy_values(dtype, monkeypatch):
    """A layer of >= LINEAR_KERNEL_MIN_MACS multiply-adds computes its eager value with a
    compiled kernel (its product split over dualjit's threads): values and gradients against
    NumPy's formulas, for contiguous and strided inputs, and the kernel really ran."""
    calls = []
    kernel = F._linear_kernel()
    monkeypatch.setattr(F, "_linear_kernel", lambda: lambda *a: calls.append(1) or kernel(*a))
    big = rng.standard_normal((130, 620)).astype(dtype)
    w = rng.standard_normal((250, 310)).astype(dtype)
    b = rng.standard_normal(250).astype(dtype)
    assert 130 * w.size >= F.LINEAR_KERNEL_MIN_MACS
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for x in (big[:, :310], big[:, ::2], np.ascontiguousarray(big[:, :310])):
        wt, bt = dj.tensor(w, requires_grad=True), dj.tensor(b, requires_grad=True)
        out = F.linear(dj.tensor(x), wt, bt)
        assert out.dtype == dj.tensor(w).dtype
        expected = x.astype(np.float64) @ w.T.astype(np.float64) + b
        np.testing.assert_allclose(out.numpy(), expected, rtol=tol, atol=tol * 30)
        g = rng.standard_normal(out.shape).astype(dtype)
        (out * dj.tensor(g)).sum().backward()
        np.testing.assert_allclose(wt.grad.numpy(), g.T.astype(np.float64) @ x, rtol=tol,
                                   atol=tol * 30)
        np.testing.assert_allclose(bt.grad.numpy(), g.sum(0), rtol=tol, atol=tol * 30)
    assert len(calls) == 3
    with dj.no_grad():  # (and without recording)
        np.testing.assert_allclose(F.linear(dj.tensor(big[:, :310]), dj.tensor(w)).numpy(),
                                   big[:, :310] @ w.T, rtol=tol, atol=tol * 30)
    small = F.linear(dj.tensor(big[:4, :310]), dj.tensor(w), dj.tensor(b))  # (NumPy's path)
    np.testing.assert_allclose(small.numpy(), big[:4, :310] @ w.T + b, rtol=tol, atol=tol * 30)
    assert len(calls) == 3
