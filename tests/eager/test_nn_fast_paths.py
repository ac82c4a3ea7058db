"""The NumPy paths of the eager activations, losses and clamp give the values of the recorded
compositions bit for bit: each fast path against its composition evaluated on the same
concrete arrays (primitive by primitive, the old eager path), and clamp against the compiled
rule, over edge values (signed zeros, infinities, NaN of both signs, tiny and huge numbers,
ties), odd lengths, strides, 2-D, 0-d and empty arrays, in float32 and float64."""

import math
import warnings

import numpy as np
import pytest

import dualjit as dj
import dualjit.nn.functional as F
from dualjit.eager import more_functions as M
from dualjit.eager import torch_rules as R
from dualjit.nn import functions as nnf

FLOATS = [np.float32, np.float64]


def edge_values(dtype, n=1031, seed=0):
    """Edge values first, then standard normals scaled to cross every threshold tested."""
    info = np.finfo(dtype)
    edges = [0.0, -0.0, math.inf, -math.inf, math.nan, -math.nan, info.tiny, -info.tiny,
             info.smallest_subnormal, -info.smallest_subnormal, info.max, -info.max, 1.0, -1.0,
             0.5, -0.5, 6.0, 20.0, 20.5, -20.5, 100.0, -100.0, 1e-30, 0.2, 0.8, 2.0, -2.0]
    rest = np.random.default_rng(seed).standard_normal(n - len(edges)) * 10
    return np.concatenate([edges, rest]).astype(dtype)


def arrays(dtype, seed=0):
    """1-D of odd length, strided, 2-D, 0-d and empty versions of the edge values."""
    x = edge_values(dtype, seed=seed)
    return [x, x[::3], x[:1020].reshape(20, 51), x[5:6].reshape(()), x[:0],
            x[:0].reshape(3, 0)]


def assert_same_bits(fast, reference):
    fast, reference = np.asarray(fast), np.asarray(reference)
    assert fast.dtype == reference.dtype and fast.shape == reference.shape
    nan = np.isnan(reference)
    np.testing.assert_array_equal(np.isnan(fast), nan)
    np.testing.assert_array_equal(np.signbit(fast), np.signbit(reference))
    np.testing.assert_array_equal(fast[~nan], reference[~nan])


def check(tensor_call, composition, fast, *inputs, **params):
    """The eager call's value, and the fast path's, equal the composition's on the inputs."""
    reference = np.asarray(composition(*inputs, **params))
    if np.ndim(inputs[0]) and all(np.size(v) for v in inputs):  # (0-d, empty: composition)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # (silent, as the primitives are)
            value = fast(*inputs, **params)
        assert value is not None  # (the fast path is taken)
        assert_same_bits(value, reference)
    assert_same_bits(tensor_call(*[dj.from_numpy(np.array(v)) for v in inputs]).numpy(),
                     reference)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("slope", [0.01, 0.2, 1.0, 3.0, -0.5, 0.0])
def test_leaky_relu(dtype, slope):
    for x in arrays(dtype):
        check(lambda t: F.leaky_relu(t, slope), F._leaky_relu, F._np_leaky_relu, x, slope=slope)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("alpha", [1.0, 0.3, 2.5])
def test_elu(dtype, alpha):
    for x in arrays(dtype):
        check(lambda t: F.elu(t, alpha), F._elu, F._np_elu, x, alpha=alpha)
    positive = np.abs(edge_values(dtype)[6:]) + 1  # (no NaN: the path without a select)
    check(lambda t: F.elu(t, alpha), F._elu, F._np_elu, positive, alpha=alpha)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("beta,threshold", [(1.0, 20.0), (2.0, 20.0), (0.5, 3.0), (1.0, 1e30)])
def test_softplus(dtype, beta, threshold):
    for x in arrays(dtype):
        check(lambda t: F.softplus(t, beta, threshold), F._softplus, F._np_softplus, x,
              beta=beta, threshold=threshold)


@pytest.mark.parametrize("dtype", FLOATS)
def test_sigmoid_silu_logsigmoid(dtype):
    no_nan = edge_values(dtype)[6:]
    for x in arrays(dtype) + [np.abs(no_nan), -np.abs(no_nan), np.abs(edge_values(dtype))]:
        check(dj.sigmoid, nnf.sigmoid, nnf.np_sigmoid, x)
        check(F.sigmoid, nnf.sigmoid, nnf.np_sigmoid, x)
        check(F.silu, F._silu, F._np_silu, x)
        check(F.logsigmoid, F._logsigmoid, F._np_logsigmoid, x)
        with np.errstate(all="ignore"):  # (mish: three recorded operations, softplus fast)
            mish = x * np.tanh(np.asarray(F._softplus(x, 1.0, 20.0)))
        assert_same_bits(F.mish(dj.from_numpy(x)).numpy(), mish)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,dim", [((1031,), 0), ((20, 51), 1), ((20, 51), 0),
                                       ((3, 4, 5), 1), ((7, 1), -1)])
def test_log_softmax(dtype, shape, dim):
    x = edge_values(dtype)[-int(np.prod(shape)):].reshape(shape).copy()
    x.reshape(-1)[:3] = [math.inf, -math.inf, math.nan]  # (in the first row or column)
    for v in (x, edge_values(dtype, seed=1)[-int(np.prod(shape)):].reshape(shape)):
        check(lambda t: F.log_softmax(t, dim), nnf.log_softmax, nnf.np_log_softmax, v, axis=dim)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("bounds", [(0.0, 1.0), (-0.0, 0.0), (0.0, 6.0), (-1.0, 1.0), (2.0, 1.0),
                                    (None, 0.5), (-1.0, None), (None, -0.0), (0.0, None),
                                    (math.nan, 1.0), (0.0, math.nan), (-math.inf, math.inf),
                                    (0.2, 0.8)])
def test_clamp_by_numbers(dtype, bounds):
    lo, hi = bounds
    for x in arrays(dtype):
        traced = dj.jit(lambda v: R.clamp_numbers(v, lo, hi))(x) if x.size else x.copy()
        eager = np.asarray(R.clamp_numbers(x, lo, hi))
        for out in (dj.clamp(dj.from_numpy(x), lo, hi).numpy(), R.np_clamp_numbers(x, lo, hi)):
            assert_same_bits(out, eager)
            assert_same_bits(out, traced)
    if lo is not None and hi is not None and not (math.isnan(lo) or math.isnan(hi)):
        assert_same_bits(F.hardtanh(dj.from_numpy(arrays(dtype)[0]), lo, hi).numpy(),
                         np.asarray(R.clamp_numbers(arrays(dtype)[0], lo, hi)))


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8])
@pytest.mark.parametrize("bounds", [(0, 5), (3, 1), (None, 7), (-2, None)])
def test_clamp_of_integers_by_numbers(dtype, bounds):
    lo, hi = bounds
    if np.dtype(dtype).kind == "u" and (lo or 0) < 0:
        return
    x = np.random.default_rng(2).integers(0, 10, 101).astype(dtype)
    assert_same_bits(dj.clamp(dj.from_numpy(x), lo, hi).numpy(),
                     np.asarray(R.clamp_numbers(x, lo, hi)))


@pytest.mark.parametrize("dtype", FLOATS)
def test_clamp_by_tensors(dtype):
    """Tensor bounds (broadcast, NaN in either, crossed, ties of 0.0 and -0.0, NaN of both
    signs) against the composition."""
    x = edge_values(dtype)
    lo, hi = np.roll(x, 3), np.roll(x, 11)
    nan, inf = math.nan, math.inf
    ties = np.array([0.0, -0.0, 0.0, -0.0, 1.0, nan, -nan, nan, 2.0, -inf, inf, 3.0], dtype)
    tie_lo = np.array([-0.0, 0.0, 0.0, -0.0, 1.0, 1.0, nan, -nan, nan, -inf, 0.0, 4.0], dtype)
    tie_hi = np.array([0.0, -0.0, -0.0, 0.0, 1.0, -nan, 1.0, nan, -nan, 0.0, inf, 2.0], dtype)
    for v, lo_, hi_ in [(x, lo, hi), (x, lo, None), (x, None, hi), (x, lo[:1], hi),
                        (x, lo, hi[5:6]), (ties, tie_lo, tie_hi), (ties, tie_lo, None),
                        (ties, None, tie_hi), (ties, tie_hi, tie_lo), (-ties, tie_lo, tie_hi)]:
        reference = np.asarray(R.clamp(v, lo_, hi_))
        assert_same_bits(R.np_clamp(v, lo_, hi_), reference)
        t = dj.clamp(dj.from_numpy(v), None if lo_ is None else dj.from_numpy(lo_),
                     None if hi_ is None else dj.from_numpy(hi_))
        assert_same_bits(t.numpy(), reference)


@pytest.mark.parametrize("dtype", FLOATS)
def test_sign(dtype):
    for x in arrays(dtype) + [np.abs(edge_values(dtype)[6:])]:
        assert_same_bits(dj.sign(dj.from_numpy(x)).numpy(), np.asarray(R.sign(x)))
        assert_same_bits(R.np_sign(x), np.asarray(R.sign(x)))


@pytest.mark.parametrize("dtype", FLOATS)
def test_logaddexp_logaddexp2_xlogy(dtype):
    for x in arrays(dtype):
        y = np.roll(x.reshape(-1), 7).reshape(x.shape)
        check(dj.logaddexp, dj.numpy.logaddexp, M._np_logaddexp, x, y)
        check(dj.logaddexp2, dj.numpy.logaddexp2, M._np_logaddexp2, x, y)
        check(dj.logaddexp, dj.numpy.logaddexp, M._np_logaddexp, x, x)  # (equal infinities)
        nonzero = np.where(x == 0, dtype(1.5), x)
        check(dj.xlogy, M._xlogy, M._np_xlogy, nonzero, y)
        assert_same_bits(dj.xlogy(dj.from_numpy(x), dj.from_numpy(y)).numpy(),
                         np.asarray(M._xlogy(x, y)))  # (zeros: the composition)


def loss_inputs(dtype, low=-30.0, high=30.0):
    """Predictions and targets with edge values, 1-D and 2-D."""
    x = edge_values(dtype)
    y = np.roll(x, 5)
    rng = np.random.default_rng(4)
    a = rng.uniform(low, high, (16, 9)).astype(dtype)
    return [(x, y), (a, rng.uniform(low, high, (16, 9)).astype(dtype))]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_smooth_l1_and_huber(dtype, reduction):
    for x, y in loss_inputs(dtype) + loss_inputs(dtype, 0.05, 0.95):
        for beta in (1.0, 0.0, 0.25):
            check(lambda a, b: F.smooth_l1_loss(a, b, reduction=reduction, beta=beta),
                  F._smooth_l1, F._np_smooth_l1, x, y, reduction=reduction, beta=beta)
        for delta in (1.0, 0.3, 5.0):
            check(lambda a, b: F.huber_loss(a, b, reduction=reduction, delta=delta),
                  F._huber, F._np_huber, x, y, reduction=reduction, delta=delta)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy(dtype, reduction):
    rng = np.random.default_rng(5)
    p = rng.uniform(0, 1, 301).astype(dtype)
    p[:6] = [0.0, 1.0, -0.0, np.finfo(dtype).tiny, 1 - np.finfo(dtype).eps, 0.5]
    y = rng.uniform(0, 1, 301).astype(dtype)
    y[:4] = [0.0, 1.0, 1.0, 0.0]
    w = rng.uniform(0, 2, 301).astype(dtype)
    check(lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction), F._bce, F._np_bce,
          p, y, reduction=reduction)
    check(lambda a, b, c: F.binary_cross_entropy(a, b, c, reduction=reduction), F._bce,
          F._np_bce, p, y, w, reduction=reduction)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_with_logits(dtype, reduction):
    for z, y in loss_inputs(dtype):
        y = np.abs(np.tanh(y))
        w = np.abs(np.roll(y, 2))
        for has in [(False, False), (True, False), (False, True), (True, True)]:
            extra = [v for v, given in zip((w, w + 0.5), has) if given]
            check(lambda *t: F.binary_cross_entropy_with_logits(
                      t[0], t[1], t[2] if has[0] else None,
                      pos_weight=t[-1] if has[1] else None, reduction=reduction),
                  F._bce_logits, F._np_bce_logits, z, y, *extra, reduction=reduction, has=has)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_with_probabilities(dtype, reduction, smoothing):
    for x, y in loss_inputs(dtype):
        p = np.abs(np.tanh(y))
        check(lambda a, b: F.cross_entropy(a, b, reduction=reduction, label_smoothing=smoothing),
              F._soft_cross_entropy, F._np_soft_cross_entropy, x, p, reduction=reduction,
              smoothing=smoothing)
    x, y = loss_inputs(dtype)[1]
    w = np.abs(y[0])
    check(lambda a, b, c: F.cross_entropy(a, b, c, reduction=reduction,
                                          label_smoothing=smoothing),
          F._soft_cross_entropy, F._np_soft_cross_entropy, x, np.abs(np.tanh(y)), w,
          reduction=reduction, smoothing=smoothing)


def test_fast_paths_decline_other_dtypes():
    """float16, 0-d and mixed dtypes take the composition (None)."""
    h = np.ones(4, np.float16)
    assert nnf.np_sigmoid(h) is None and F._np_elu(h, 1.0) is None
    assert F._np_elu(np.ones((), np.float32), 1.0) is None
    assert F._np_huber(np.ones(3), np.ones(3, np.float32), "mean", 1.0) is None
    assert F.huber_loss(dj.ones(3, dtype=dj.float64), dj.zeros(3)).dtype == dj.float64


def test_gradients_still_come_from_the_composition():
    """With autograd on, the recorded function is the composition: its gradient matches a
    central finite difference."""
    x = np.array([-3.0, -0.5, 0.25, 2.0, 30.0])
    for f in (lambda t: F.elu(t, 1.5), lambda t: F.leaky_relu(t, 0.1), F.silu, F.logsigmoid,
              lambda t: F.softplus(t, 2.0, 5.0), lambda t: F.log_softmax(t, 0),
              lambda t: F.huber_loss(t, dj.zeros(5, dtype=dj.float64), delta=1.0),
              lambda t: t.clamp(-1.0, 1.0)):
        t = dj.tensor(x, requires_grad=True)
        f(t).sum().backward()
        eps = 1e-6
        numeric = [(f(dj.tensor(x + eps * e)).sum().item() - f(dj.tensor(x - eps * e)).sum().item())
                   / (2 * eps) for e in np.eye(5)]
        np.testing.assert_allclose(t.grad.numpy(), numeric, rtol=1e-5, atol=1e-6)


def division_cases(rng, n=20011):
    """float32 pairs: every edge value against every other, random bit patterns (all
    magnitudes, subnormals, infinities, NaN of both signs), quotients at and next to integers
    up to 2**30, small integers and halves, and uniform values of mixed signs."""
    edges = np.array([0.0, -0.0, math.inf, -math.inf, math.nan, -math.nan, 1.0, -1.0, 1e-45,
                      -1e-45, 3.4e38, -3.4e38, 0.5, -0.5, 2.0, 3.0, -3.0, 1e-38, 0.1, 7.0],
                     np.float32)
    # every pair, 41 times over (16,400 elements: the whole-array path)
    yield np.tile(np.repeat(edges, edges.size), 41), np.tile(edges, edges.size * 41)
    bits = rng.integers(0, 2**32, (2, n), dtype=np.uint64).astype(np.uint32).view(np.float32)
    yield bits[0], bits[1]
    b = rng.standard_normal(n).astype(np.float32)
    a = (rng.integers(-2**30, 2**30, n).astype(np.float32) * b).astype(np.float32)
    yield a, b
    yield np.nextafter(a, rng.choice([-np.inf, np.inf], n).astype(np.float32)), b
    a = rng.integers(-50, 50, n).astype(np.float32)
    a[::7] *= np.float32(0.5)
    yield a, rng.integers(-7, 7, n).astype(np.float32)
    a, b = rng.uniform(-4, 4, (2, n)).astype(np.float32)
    yield a, b
    yield a, b[:1].copy()


def test_float32_fmod_remainder_floor_divide_equal_numpys():
    """The whole-array paths (16,384 float32 elements or more) give NumPy's fmod, remainder
    and floor_divide bit for bit; smaller tensors and float64 call NumPy directly."""
    rng = np.random.default_rng(6)
    for a, b in division_cases(rng):
        assert a.size >= R.WIDE_DIVMOD_MIN_ELEMENTS
        x, y = dj.from_numpy(a), dj.from_numpy(b)
        with np.errstate(all="ignore"):
            expected = (np.fmod(a, b), np.remainder(a, b), np.floor_divide(a, b))
        for got, reference in zip((x.fmod(y), x % y, x // y), expected):
            assert_same_bits(got.numpy(), reference)
        assert_same_bits(R._fmod_float32(a, b), expected[0])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss(dtype, reduction):
    """nll_loss's NumPy path against the composition: signed zeros, infinities and NaN in the
    picked and the other columns, ignored rows (whose column 0 still counts as the
    composition's -0.0 * value), every row ignored, two and many classes."""
    rng = np.random.default_rng(7)
    for n, classes in [(64, 10), (9, 2), (300, 33)]:
        x = (rng.standard_normal((n, classes)) * 5).astype(dtype)
        flat = x.reshape(-1)
        flat[rng.integers(0, flat.size, 12)] = [0.0, -0.0, math.inf, -math.inf, math.nan,
                                                -math.nan, -0.0, -0.0, 0.0, 1e-45, -1e-45, 0.0]
        labels = rng.integers(0, classes, n)
        labels[::5] = -100
        x[1, labels[1]] = -0.0  # (picked: the composition's sum gives 0.0)
        x[5, 0] = math.inf  # (an ignored row's column 0: -0.0 * inf)
        for lab in (labels, np.abs(labels) % classes, np.full(n, -100)):
            lab = lab.astype(np.int64)
            check(lambda a, b: F.nll_loss(a, b, reduction=reduction), F._class_loss, F._np_nll,
                  x, lab, reduction=reduction, ignore_index=-100, smoothing=0.0, logits=False)
        keep_finite = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)  # (no NaN rows)
        check(lambda a, b: F.nll_loss(a, b, reduction=reduction, ignore_index=3),
              F._class_loss, F._np_nll, keep_finite, labels.clip(0).astype(np.int64),
              reduction=reduction, ignore_index=3, smoothing=0.0, logits=False)
