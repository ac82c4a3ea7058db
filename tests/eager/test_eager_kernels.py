"""The compiled forward of eager special functions (eager/kernels.py): once an op's (dtype,
shape) has cost COMPILE_BUDGET in NumPy evaluations it runs as dj.jit of its composition;
the values are then dj.jit's exactly, within ulps of the NumPy evaluation and of PyTorch's, and
gradients are unchanged."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp
from dualjit.eager import kernels
from dualjit.scipy import special as jss

EDGES = [0.0, -0.0, 1.0, -1.0, math.inf, -math.inf, math.nan, 0.5, -0.3, 1e-7, 5.0, -30.0]
TINY = {np.float32: 1e-45, np.float64: 5e-324}
HUGE = {np.float32: 3e38, np.float64: 1e308}
# (name, the eager op, its dualjit.numpy composition)
OPS = [("erfinv", dj.special.erfinv, jss.erfinv), ("ndtri", dj.special.ndtri, jss.ndtri),
       ("i0", dj.special.i0, jnp.i0), ("erfcx", dj.special.erfcx, jss.erfcx),
       ("i1e", dj.special.i1e, jss.i1e), ("log_ndtr", dj.special.log_ndtr, jss.log_ndtr),
       ("digamma", dj.special.digamma, jss.digamma), ("gammaln", dj.special.gammaln,
                                                      jss.gammaln),
       ("sinc", dj.special.sinc, jnp.sinc), ("logit", dj.special.logit, jss.logit)]


def edges(dtype) -> np.ndarray:
    return np.array(EDGES + [TINY[dtype], -TINY[dtype], HUGE[dtype], -HUGE[dtype]], dtype)


@pytest.fixture
def budget_zero(monkeypatch):
    """Compile on the first call: the path a long loop reaches."""
    monkeypatch.setattr(kernels, "COMPILE_BUDGET", 0.0)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal values, NaN at the same places, and the same sign of zero."""
    return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True) and \
        np.array_equal(np.signbit(a[a == 0]), np.signbit(b[b == 0]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, op, composition", OPS, ids=[o[0] for o in OPS])
def test_compiled_values_are_jits_and_near_numpys(name, op, composition, dtype, budget_zero):
    x = edges(dtype)
    with np.errstate(all="ignore"):
        numpy_value = np.asarray(composition(x))  # the primitives' NumPy implementations
    assert same_bits(op(dj.tensor(x)).numpy(), numpy_value)  # (then compiles: budget 0)
    first = op(dj.tensor(x)).numpy()
    second = op(dj.tensor(x)).numpy()
    assert same_bits(second, first)
    assert same_bits(first, np.asarray(dj.jit(composition)(x)))
    tol = 4e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(first, numpy_value, rtol=tol, atol=0)
    assert np.array_equal(np.signbit(first[first == 0]), np.signbit(numpy_value[first == 0]))


def test_compiled_after_the_budget_only(monkeypatch):
    """Calls below the budget keep the NumPy evaluation (identical to the composition's);
    the call that exhausts it compiles, and a new shape starts its own count."""
    monkeypatch.setattr(kernels, "COMPILE_BUDGET", 3600.0)
    x = np.linspace(-0.99, 0.99, 37)
    kernel = kernels.compiled_after(jss.erfinv, "erfinv")
    for _ in range(3):
        assert same_bits(kernel(x), np.asarray(jss.erfinv(x)))
    assert not kernel.kernels
    monkeypatch.setattr(kernels, "COMPILE_BUDGET", 0.0)
    kernel(x)
    assert list(kernel.kernels) == [(x.dtype, x.shape)]
    assert same_bits(kernel(x), np.asarray(dj.jit(jss.erfinv)(x)))
    assert kernel(np.float32([0.5])) is not None and len(kernel.kernels) == 2
    assert kernel(np.arange(3)) is None  # (integers: apply_op's own path)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_values_against_scipy(dtype, budget_zero):
    """The compiled special functions against SciPy's (an independent implementation; the
    test extra has SciPy, so this runs in CI, unlike a comparison with PyTorch)."""
    import scipy.special as sps

    x = np.linspace(-0.999, 0.999, 101).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for name in ("erfinv", "ndtri", "i0", "erfcx", "i1e", "log_ndtr", "digamma"):
        ours = getattr(dj.special, name)(dj.tensor(x)).numpy()
        theirs = getattr(sps, name)(x.astype(np.float64))
        np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol, err_msg=name)


def test_gradients_unchanged(budget_zero):
    """d/dx erfinv(x) = sqrt(pi)/2 exp(erfinv(x)^2), through the compiled forward."""
    x = np.array([-0.9, -0.2, 0.0, 0.4, 0.95])
    for _ in range(2):
        t = dj.tensor(x, requires_grad=True)
        y = dj.special.erfinv(t)
        y.sum().backward()
        expected = math.sqrt(math.pi) / 2 * np.exp(y.detach().numpy() ** 2)
        np.testing.assert_allclose(t.grad.numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("op", ["fft", "ifft", "rfft", "irfft"])
def test_one_axis_fft_is_the_compositions_value(op):
    """The NumPy fast path of fft/ifft/rfft/irfft gives the composition's bits (the fft
    primitive's pocketfft on the same padded or cropped values), for every norm, length,
    axis and dtype; errors stay the composition's."""
    rng = np.random.default_rng(1)
    real_input = op == "rfft"
    dtypes = ([np.float32, np.float64] if real_input else
              [np.float32, np.float64, np.complex64, np.complex128])
    for dtype in dtypes:
        for shape, axis in [((16,), 0), ((16,), -1), ((3, 10), 0), ((3, 10), 1), ((2, 5, 7), -2)]:
            x = rng.standard_normal(shape)
            if np.dtype(dtype).kind == "c":
                x = x + 1j * rng.standard_normal(shape)
            x = x.astype(dtype)
            for n in (None, 1, 4, 9, 23):
                for norm in (None, "backward", "ortho", "forward"):
                    ours = getattr(dj.fft, op)(dj.tensor(x), n, axis, norm).numpy()
                    with np.errstate(all="ignore"):
                        theirs = np.asarray(getattr(jnp.fft, op)(x, n, axis, norm))
                    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
                    assert np.array_equal(ours, theirs), (op, dtype, shape, axis, n, norm)
                    np.testing.assert_allclose(  # (and NumPy's own, independently)
                        ours, getattr(np.fft, op)(x, n, axis, norm), rtol=1e-4, atol=1e-4)
    with pytest.raises(RuntimeError, match="FFT data points"):
        getattr(dj.fft, op)(dj.tensor(np.ones(4, np.float32 if real_input else np.complex64)), 0)
