"""The compiled forward of eager special functions (eager/kernels.py, codegen/flat.py): one
flat kernel per (op, dtype) serving every shape, compiled on a background thread once the
op's NumPy evaluations of that dtype have cost COMPILE_BUDGET. Its values are dj.jit's
exactly (float32_special's formulas for float32: within 1 ulp of SciPy), within ulps of the
NumPy evaluation and of SciPy's, over edge values; gradients are unchanged."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp
from dualjit.eager import kernels
from dualjit.scipy import special as jss

EDGES = [0.0, -0.0, 1.0, -1.0, math.inf, -math.inf, math.nan, 0.5, -0.3, 1e-7, 5.0, -30.0,
         2.0, -2.0, 3.0, 1.5, 1 - 2.0 ** -24, -(1 - 2.0 ** -24)]
TINY = {np.float32: 1e-45, np.float64: 5e-324}
HUGE = {np.float32: 3e38, np.float64: 1e308}
# (name, the eager op, its dualjit.numpy composition)
OPS = [("erfinv", dj.special.erfinv, jss.erfinv), ("ndtri", dj.special.ndtri, jss.ndtri),
       ("i0", dj.special.i0, jnp.i0), ("erfcx", dj.special.erfcx, jss.erfcx),
       ("i1e", dj.special.i1e, jss.i1e), ("i0e", dj.special.i0e, jss.i0e),
       ("log_ndtr", dj.special.log_ndtr, jss.log_ndtr), ("ndtr", dj.special.ndtr, jss.ndtr),
       ("digamma", dj.special.digamma, jss.digamma), ("gammaln", dj.special.gammaln,
                                                      jss.gammaln),
       ("erf", dj.special.erf, jss.erf), ("erfc", dj.special.erfc, jss.erfc),
       ("sinc", dj.special.sinc, jnp.sinc), ("logit", dj.special.logit, jss.logit)]


def edges(dtype) -> np.ndarray:
    return np.array(EDGES + [TINY[dtype], -TINY[dtype], HUGE[dtype], -HUGE[dtype]], dtype)


@pytest.fixture
def in_the_call(monkeypatch):
    """Compile within an op's first call of a dtype (not on a thread): deterministic tests."""
    monkeypatch.setattr(kernels, "BACKGROUND", False)
    monkeypatch.setattr(kernels, "COMPILE_BUDGET", 0.0)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal values, NaN at the same places, and the same sign of zero."""
    return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True) and \
        np.array_equal(np.signbit(a[a == 0]), np.signbit(b[b == 0]))


def jit_value(composition, *xs) -> np.ndarray:
    """dj.jit's value on 1,024 copies of xs: at that size its loops use the vectorizable math
    the flat kernels use (smaller ones call the C library's exp, log...)."""
    tiled = [np.tile(x.ravel(), 1024 // x.size + 1) for x in xs]
    return np.asarray(dj.jit(composition)(*tiled))[:xs[0].size].reshape(xs[0].shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, op, composition", OPS, ids=[o[0] for o in OPS])
def test_kernel_values_are_jits_and_near_numpys(name, op, composition, dtype, in_the_call):
    """Over edge values: the kernel's values are dj.jit's of its formula (the composition's,
    or for float32 float32_special's), within ulps of the NumPy evaluation, with its NaNs,
    infinities and signed zeros."""
    x = edges(dtype)
    with np.errstate(all="ignore"):
        numpy_value = np.asarray(composition(x))  # the primitives' NumPy implementations
    first = op(dj.tensor(x)).numpy()
    assert same_bits(op(dj.tensor(x)).numpy(), first)
    formula = kernels.float32_formula(name) if dtype == np.float32 else None
    assert same_bits(first, jit_value(formula or composition, x))
    tol = 4e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(first, numpy_value, rtol=tol, atol=0)
    assert np.array_equal(np.signbit(first[first == 0]), np.signbit(numpy_value[first == 0]))


def _float32_grid(name: str) -> np.ndarray:
    """Dense float32 arguments over a function's domain, its tails and subnormal range."""
    rng = np.random.default_rng(0)
    if name == "erfinv":
        parts = [rng.uniform(-1, 1, 20000), 1 - np.geomspace(6e-8, 0.5, 2000),
                 -1 + np.geomspace(6e-8, 0.5, 2000), np.geomspace(1e-45, 0.1, 500)]
    elif name == "logit":
        parts = [rng.uniform(0, 1, 20000), 0.5 + np.linspace(-1e-3, 1e-3, 4001),
                 np.geomspace(1e-45, 0.5, 2000), 1 - np.geomspace(6e-8, 0.5, 2000)]
    elif name == "ndtri":
        parts = [rng.uniform(0, 1, 20000), np.geomspace(1e-45, 0.5, 4000),
                 1 - np.geomspace(6e-8, 0.5, 2000)]
    else:
        parts = [rng.standard_normal(20000) * 4, rng.uniform(-40, 40, 10000),
                 np.geomspace(1e-45, 100, 2000), -np.geomspace(1e-45, 100, 2000)]
    return np.concatenate(parts).astype(np.float32)


@pytest.mark.parametrize("name", sorted(kernels.FLOAT32_FORMULAS))
def test_float32_formulas_within_an_ulp_of_scipy(name, in_the_call):
    """float32_special's formulas (float64 arithmetic to ~1e-12, rounded once) against SciPy
    in float64: within 1 ulp everywhere (nearly always the correctly rounded float32), the
    far tails and subnormal arguments included; non-finite values as SciPy's."""
    import scipy.special as sps

    x = _float32_grid(name)
    op = getattr(dj.special, name)
    ours = op(dj.tensor(x)).numpy()
    assert kernels.float32_formula(name) is not None and ours.dtype == np.float32
    with np.errstate(all="ignore"):
        exact = getattr(sps, name)(x.astype(np.float64))
    finite = np.abs(exact) < float(np.finfo(np.float32).max)
    rounded = exact[finite].astype(np.float32)
    ulps = np.abs(ours[finite] - exact[finite]) / np.spacing(np.abs(rounded)).astype(np.float64)
    assert ulps.max() <= 1.0, (x[finite][np.argmax(ulps)], ulps.max())
    normal = np.abs(rounded) >= np.finfo(np.float32).tiny  # (subnormal halves: ties)
    assert np.mean(ours[finite][normal] != rounded[normal]) < 1e-4  # (all but near-ties)
    np.testing.assert_array_equal(ours[~finite], exact[~finite].astype(np.float32))


def test_one_kernel_serves_every_shape(in_the_call):
    """One compiled loop per dtype: new shapes (0-d, empty, 3-d, non-contiguous) reuse it."""
    kernel = kernels.eager_kernel(jss.erfinv, "erfinv")
    x = np.linspace(-0.99, 0.99, 60)
    reference = jit_value(jss.erfinv, x)
    assert same_bits(kernel(x), reference)  # (compiled by this first call)
    compiled = kernel.kernels[x.dtype]
    assert same_bits(kernel(x.reshape(3, 4, 5)), reference.reshape(3, 4, 5))
    assert same_bits(kernel(x[::3]), reference[::3])
    assert same_bits(kernel(x.reshape(3, 20).T), reference.reshape(3, 20).T)
    assert same_bits(kernel(x[7:8].reshape(())), reference[7:8].reshape(()))
    assert kernel(np.zeros((0, 3))).shape == (0, 3)
    assert kernel.kernels == {x.dtype: compiled}
    assert kernel(np.arange(3)) is None  # (integers: apply_op's own path)


def _misaligned(values: np.ndarray) -> np.ndarray:
    raw = bytearray(values.nbytes + 1)
    out = np.frombuffer(raw, values.dtype, count=values.size, offset=1)
    out[...] = values
    return out


@pytest.mark.parametrize("builtin_entry", [True, False])
def test_entries_builtin_and_ctypes(builtin_entry, in_the_call, monkeypatch):
    """The kernel's builtin entry (array objects) and its ctypes one (data pointers, where
    CPython's symbols cannot be registered) give the same values; misaligned inputs are
    copied, not refused or misread."""
    from dualjit.codegen import pycall

    if not builtin_entry:
        monkeypatch.setattr(pycall, "register_symbols", lambda: False)
    kernel = kernels.eager_kernel(jss.xlog1py, "xlog1py", arity=2)
    x = np.linspace(-3, 3, 41)
    y = np.linspace(0.1, 9, 41)
    reference = jit_value(jss.xlog1py, x, y)
    assert same_bits(kernel(x, y), reference)
    assert kernel.kernels[x.dtype].objects == builtin_entry
    assert same_bits(kernel(_misaligned(x), _misaligned(y)), reference)
    assert same_bits(kernel(x.reshape(41, 1), y.reshape(41, 1)), reference.reshape(41, 1))


def test_no_native_code_under_the_interpreter_backend(in_the_call, monkeypatch):
    """DUALJIT_BACKEND=interpreter: no kernel is compiled, the NumPy evaluation stays."""
    monkeypatch.setenv("DUALJIT_BACKEND", "interpreter")
    kernel = kernels.eager_kernel(jss.erfinv, "erfinv")
    x = np.linspace(-0.9, 0.9, 7)
    assert kernel(x) is None and not kernel.ready(x.dtype)  # (apply_op evaluates fn)


def test_compiles_in_the_background_after_the_budget(monkeypatch):
    """Calls evaluate with NumPy (identical to the composition's) until they have cost
    COMPILE_BUDGET; the next starts the compile on a thread (and still evaluates with NumPy);
    once kernels.wait() returns, the kernel computes."""
    monkeypatch.setattr(kernels, "COMPILE_BUDGET", 3600.0)
    kernel = kernels.eager_kernel(jss.ndtri, "ndtri", numpy=lambda x: np.asarray(jss.ndtri(x)))
    x = np.linspace(0.01, 0.99, 37)
    for _ in range(3):
        assert same_bits(kernel(x), np.asarray(jss.ndtri(x)))
    kernels.wait()
    assert not kernel.kernels and kernel.spent[x.dtype] > 0
    monkeypatch.setattr(kernels, "COMPILE_BUDGET", kernel.spent[x.dtype])
    assert same_bits(kernel(x), np.asarray(jss.ndtri(x)))
    kernels.wait()
    assert kernel.ready(np.float64) and not kernel.ready(np.float32)
    assert same_bits(kernel(x), jit_value(jss.ndtri, x))


def test_binary_kernels_match_the_composition(in_the_call):
    """xlog1py's kernel (and xlogy, whose NumPy path serves where no x is 0, the composition
    elsewhere): operands of one shape run the kernel, broadcasting ones the composition;
    values against SciPy, with its zeros (x = 0, also where y < 0 or y < -1: they were NaN
    before) and NaNs."""
    import scipy.special as sps

    values = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -2.0, math.inf, -math.inf, math.nan, 1e-30]
    for dtype in (np.float32, np.float64):
        x, y = (np.array(v, dtype) for v in np.meshgrid(values, values))
        for name in ("xlogy", "xlog1py"):
            op = getattr(dj.special, name)
            op(dj.tensor(x), dj.tensor(y))
            ours = op(dj.tensor(x), dj.tensor(y)).numpy()
            with np.errstate(all="ignore"):
                composition = np.asarray(getattr(jss, name)(x, y))
                theirs = getattr(sps, name)(x.astype(np.float64), y.astype(np.float64))
            if name == "xlog1py":
                assert same_bits(ours, jit_value(jss.xlog1py, x, y))
            np.testing.assert_allclose(ours, composition, rtol=4e-7 if dtype == np.float32
                                       else 1e-15)
            np.testing.assert_allclose(ours, theirs.astype(dtype),
                                       rtol=2e-7 if dtype == np.float32 else 1e-15)
            broadcast = op(dj.tensor(x[:1]), dj.tensor(y)).numpy()
            with np.errstate(all="ignore"):
                expected = np.asarray(getattr(jss, name)(x[:1], y))
            np.testing.assert_allclose(broadcast, expected, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_values_against_scipy(dtype, in_the_call):
    """The compiled special functions against SciPy's (an independent implementation; the
    test extra has SciPy, so this runs in CI, unlike a comparison with PyTorch)."""
    import scipy.special as sps

    x = np.linspace(-0.999, 0.999, 101).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for name in ("erfinv", "ndtri", "i0", "erfcx", "i1e", "log_ndtr", "digamma", "erf",
                 "erfc", "ndtr", "i0e", "logit", "gammaln"):
        op = getattr(dj.special, name)
        op(dj.tensor(x))
        ours = op(dj.tensor(x)).numpy()
        with np.errstate(all="ignore"):
            theirs = getattr(sps, name)(x.astype(np.float64))
        np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_i0_overflows_to_inf_and_is_nan_at_inf(dtype, in_the_call):
    """i0 of a huge finite argument is inf (exp(x)/sqrt(x) gave inf/inf = NaN before), NaN at
    +-inf as NumPy, SciPy and PyTorch have it; values near the switch to the asymptotic
    series against SciPy."""
    import scipy.special as sps

    x = np.array([29.9, 30.5, 50.0, 85.0, 95.0, 700.0, 720.0, 3e38, -3e38, math.inf,
                  -math.inf, math.nan], dtype)
    with np.errstate(all="ignore"):
        expected = sps.i0(x.astype(np.float64)).astype(dtype)
        composition = np.asarray(jnp.i0(x))
    for value in (composition, dj.special.i0(dj.tensor(x)).numpy()):
        np.testing.assert_allclose(value, expected, rtol=1e-6 if dtype == np.float32 else 1e-14)


def test_gradients_unchanged(in_the_call):
    """d/dx erfinv(x) = sqrt(pi)/2 exp(erfinv(x)^2), through the compiled forward."""
    x = np.array([-0.9, -0.2, 0.0, 0.4, 0.95])
    for _ in range(2):
        t = dj.tensor(x, requires_grad=True)
        y = dj.special.erfinv(t)
        y.sum().backward()
        expected = math.sqrt(math.pi) / 2 * np.exp(y.detach().numpy() ** 2)
        np.testing.assert_allclose(t.grad.numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("name", ["erf", "erfc", "erfinv", "ndtr", "ndtri", "log_ndtr",
                                  "erfcx", "i0e", "i1e", "digamma", "gammaln", "logit"])
def test_gradients_match_finite_differences(name, in_the_call):
    """With the kernels compiled, grad of each op (float64) against central differences of its
    forward values: the recorded composition's derivative, unchanged by the fast forward."""
    op = getattr(dj.special, name)
    x = np.array([0.13, 0.31, 0.52, 0.77, 0.93])
    op(dj.tensor(x))  # (compiles)
    t = dj.tensor(x, requires_grad=True)
    op(t).sum().backward()
    h = 1e-6
    numeric = (op(dj.tensor(x + h)).numpy() - op(dj.tensor(x - h)).numpy()) / (2 * h)
    np.testing.assert_allclose(t.grad.numpy(), numeric, rtol=1e-6, atol=1e-8)


def _erf_reference(x: np.ndarray) -> np.ndarray:
    return np.array([math.erf(v) for v in x.astype(np.float64).ravel()]).reshape(x.shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_torch_erf_kernel_against_math_erf(dtype, in_the_call):
    """torch.erf's kernel (fdlibm's erf) within 1 ulp of math.erf (float32: of its rounding),
    with erf's signed zeros, +-1 at +-inf and NaN."""
    rng = np.random.default_rng(0)
    x = np.concatenate([edges(dtype), rng.standard_normal(2000).astype(dtype) * 3,
                        np.geomspace(1e-30, 10, 500).astype(dtype)]).astype(dtype)
    dj.erf(dj.tensor(x))
    ours = dj.erf(dj.tensor(x)).numpy()
    assert ours.dtype == dtype
    finite = ~np.isnan(x)
    with np.errstate(all="ignore"):
        exact = _erf_reference(np.where(finite, x, 0.0)).astype(dtype)
    ulps = np.abs(ours[finite].astype(np.float64) - exact[finite]) / \
        np.spacing(np.abs(exact[finite])).astype(np.float64)
    assert ulps.max() <= 1, x[finite][np.argmax(ulps)]
    assert np.isnan(ours[~finite]).all()
    assert np.array_equal(np.signbit(ours[x == 0]), np.signbit(x[x == 0]))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_kernel_against_a_float64_reference(approximate, dtype, in_the_call):
    """GELU's kernel (float64 arithmetic, rounded once) against x ndtr(x) from math.erfc, or
    the tanh formula in float64 NumPy: float32 within 1 ulp, float64 within (4 + x^2) 4e-16
    (the far negative tail included, where 1 + erf and 1 + tanh cancel)."""
    rng = np.random.default_rng(1)
    x = np.concatenate([edges(dtype), rng.standard_normal(3000).astype(dtype) * 4,
                        -np.geomspace(1e-3, 12, 200)]).astype(dtype)
    gelu = dj.nn.functional.gelu
    gelu(dj.tensor(x), approximate=approximate)
    ours = gelu(dj.tensor(x), approximate=approximate).numpy()
    assert ours.dtype == dtype
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        if approximate == "none":
            exact = np.array([0.5 * v * math.erfc(-v / math.sqrt(2)) if math.isfinite(v)
                              else v * (v > 0) for v in x64])
        else:
            inner = math.sqrt(2 / math.pi) * (x64 + 0.044715 * x64 ** 3)
            exact = x64 / (1 + np.exp(-2 * inner))  # (= 0.5 x (1 + tanh), without cancelling)
    finite = np.isfinite(x64)
    if dtype == np.float32:
        ulps = np.abs(ours[finite] - exact[finite]) / np.spacing(
            np.abs(exact[finite]).astype(dtype)).astype(np.float64)
        assert ulps.max() <= 1
    else:
        # (erfc(t) amplifies its argument's rounding 2 t^2 = x^2 times: 3e-14 at x = -12)
        error = np.abs(ours[finite] - exact[finite])
        with np.errstate(all="ignore"):
            bound = 4e-16 * (4 + x64[finite] ** 2) * np.abs(exact[finite])
        assert ((error <= bound) | (error == 0)).all()
    assert np.isnan(ours[np.isnan(x)]).all() and ours[x == math.inf][0] == math.inf
    assert np.isnan(ours[x == -math.inf]).all()  # (-inf * 0, as the composition gives)


def test_gelu_gradient_unchanged(in_the_call):
    """The recorded composition's derivative: Phi(x) + x phi(x), by finite differences."""
    x = np.array([-3.0, -0.7, 0.0, 0.4, 2.5])
    for approximate in ("none", "tanh"):
        for _ in range(2):
            t = dj.tensor(x, requires_grad=True)
            dj.nn.functional.gelu(t, approximate=approximate).sum().backward()
            h = 1e-6
            plus = dj.nn.functional.gelu(dj.tensor(x + h), approximate=approximate).numpy()
            minus = dj.nn.functional.gelu(dj.tensor(x - h), approximate=approximate).numpy()
            np.testing.assert_allclose(t.grad.numpy(), (plus - minus) / (2 * h), rtol=1e-7,
                                       atol=1e-9)


def test_numpy_functions_of_special():
    """special.exp2, expm1 and log1p: NumPy's functions, the composition's values bit for bit."""
    x = np.array([0.0, -0.0, 1.0, -1.0, 0.5, 100.0, -800.0, 1e-30, math.inf, -math.inf,
                  math.nan, -0.99], np.float32)
    for name in ("exp2", "expm1", "log1p"):
        for dtype in (np.float32, np.float64):
            v = x.astype(dtype)
            with np.errstate(all="ignore"):
                expected = np.asarray(getattr(jnp, name)(v))
                assert same_bits(getattr(dj.special, name)(dj.tensor(v)).numpy(), expected)
                assert same_bits(expected, getattr(np, name)(v))


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
