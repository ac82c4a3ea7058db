"""ir/fft_pairs.py: an FFT of a combination holding its inverse's outputs. Rewritten programs
against NumPy's transforms (computed the long way, both transforms), against the unrewritten
program on the reference interpreter, and how many FFTs remain."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dualjit as dj
import dualjit.numpy as jnp
from dualjit.ir import eval_function
from dualjit.ir import primitives as P
from dualjit.ir.fft_pairs import cancel_inverse_ffts
from dualjit.tracer.make_ir import make_ir

rng = np.random.default_rng(1616)
SIZES = [1, 2, 5, 8, 9]
WIDTHS = [(np.float32, np.complex64, 1e-4), (np.float64, np.complex128, 1e-11)]


def fft_count(fn):
    return sum(e.primitive is P.fft_p for e in fn.eqns)


def prepared(f, *args):
    """The program jit compiles for f(*args)."""
    return dj.jit(f).lower(*args).function


def spectrum(shape, complex_dtype):
    """A half or full spectrum whose zero and Nyquist entries have imaginary parts too (what
    irfft ignores and the rewrite must drop)."""
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(complex_dtype)


def check_against_interpreter(f, args, expected_ffts):
    """jit(f) agrees with NumPy's long way (checked by the caller) and the rewritten program
    agrees with the original on the interpreter; returns jit(f)'s results."""
    original = make_ir(f)(*args)
    rewritten = cancel_inverse_ffts(original)
    assert rewritten is not original
    assert fft_count(prepared(f, *args)) == expected_ffts
    for a, b in zip(eval_function(rewritten, *args), eval_function(original, *args)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * max(1, np.abs(b).max()))
    return dj.jit(f)(*args)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("real,cplx,tol", WIDTHS)
def test_rfft_of_irfft_outputs_takes_their_hermitian_part(n, real, cplx, tol):
    m = n // 2 + 1
    y, z = spectrum((3, m), cplx), spectrum((3, m), cplx)
    u = rng.standard_normal((3, n)).astype(real)
    c = rng.standard_normal((3, n)).astype(real)

    def f(y, z, u):
        return jnp.fft.rfft(2.5 * jnp.fft.irfft(y, n=n) - jnp.fft.irfft(z, n=n) + u - c)

    got = check_against_interpreter(f, (y, z, u), expected_ffts=1)  # rfft(u - c) remains
    expected = np.fft.rfft(2.5 * np.fft.irfft(y, n=n) - np.fft.irfft(z, n=n) + u - c)
    assert got.dtype == cplx
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * 10)
    assert np.all(got[:, 0].imag == 0)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("real,cplx,tol", WIDTHS)
def test_irfft_of_rfft_outputs_and_constants_folds_to_no_fft(n, real, cplx, tol):
    x = rng.standard_normal((2, n)).astype(real)
    c = spectrum((2, n // 2 + 1), cplx)

    def f(x):
        return jnp.fft.irfft(-jnp.fft.rfft(x) * 3.0 + c, n=n)

    got = check_against_interpreter(f, (x,), expected_ffts=0)  # irfft(c) is folded
    expected = np.fft.irfft(-3.0 * np.fft.rfft(x) + c, n=n)
    assert got.dtype == real
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * 10)


@pytest.mark.parametrize("forward,inverse", [("fft", "ifft"), ("ifft", "fft")])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("real,cplx,tol", WIDTHS)
def test_complex_pairs_cancel_with_complex_coefficients(forward, inverse, n, real, cplx, tol):
    y, u = spectrum((2, n), cplx), spectrum((2, n), cplx)
    fwd, inv = getattr(jnp.fft, forward), getattr(jnp.fft, inverse)

    def f(y, u):
        return fwd((1 - 2j) * inv(y) - u)

    got = check_against_interpreter(f, (y, u), expected_ffts=1)
    nfwd, ninv = getattr(np.fft, forward), getattr(np.fft, inverse)
    np.testing.assert_allclose(got, nfwd((1 - 2j) * ninv(y) - u), rtol=tol, atol=tol * 10)


@pytest.mark.parametrize("norm", ["backward", "ortho", "forward"])
def test_norms_and_two_dimensional_complex_pairs(norm):
    y = spectrum((4, 6), np.complex128)

    def f(y):
        return (jnp.fft.rfft(jnp.fft.irfft(y[0], n=9, norm=norm), norm=norm),
                jnp.fft.fft2(jnp.fft.ifft2(y, norm=norm), norm=norm))

    got = check_against_interpreter(f, (y,), expected_ffts=0)
    np.testing.assert_allclose(got[0], np.fft.rfft(np.fft.irfft(y[0], n=9)), atol=1e-12)
    np.testing.assert_allclose(got[1], y, atol=1e-12)


def test_what_is_left_alone():
    y = spectrum((4, 5), np.complex128)
    x = rng.standard_normal((4, 8))
    v = rng.standard_normal(5)

    def f(y, x):
        return (jnp.fft.irfft((1 + 1j) * jnp.fft.rfft(x), n=8),  # complex weight on irfft
                jnp.fft.irfft(v * jnp.fft.rfft(x), n=8),  # not a scalar multiple
                jnp.fft.rfft(jnp.fft.irfft(y[0], n=7), n=8))  # other lengths

    fn = make_ir(f)(y, x)
    assert cancel_inverse_ffts(fn) is fn
    got = dj.jit(f)(y, x)
    expected = (np.fft.irfft((1 + 1j) * np.fft.rfft(x), n=8),
                np.fft.irfft(v * np.fft.rfft(x), n=8),
                np.fft.rfft(np.fft.irfft(y[0], n=7), n=8))
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, atol=1e-12)


def test_an_inverse_output_used_elsewhere_stays():
    y = spectrum(5, np.complex128)

    def f(y):
        s = jnp.fft.irfft(y, n=8)
        return s, jnp.fft.rfft(s * 2.0)

    got = check_against_interpreter(f, (y,), expected_ffts=1)
    np.testing.assert_allclose(got[0], np.fft.irfft(y, n=8), atol=1e-12)
    np.testing.assert_allclose(got[1], np.fft.rfft(2.0 * np.fft.irfft(y, n=8)), atol=1e-12)


def spectral_loss(target, weights):
    n = target.size

    def loss(x):
        spectrum = jnp.fft.rfft(x)
        smooth = jnp.fft.irfft(spectrum * weights, n=n)
        power = jnp.real(spectrum * jnp.conj(spectrum))
        return jnp.sum(power * weights) / n + jnp.sum((smooth - target) ** 2)
    return loss


@pytest.mark.parametrize("n", [1, 2, 15, 16, 1000])
def test_spectral_loss_gradient_needs_two_ffts_and_matches_the_formula(n):
    target, x = rng.standard_normal(n), rng.standard_normal(n)
    weights = np.linspace(0.0, 1.0, n // 2 + 1)
    loss = spectral_loss(target, weights)
    grad = dj.grad(loss)
    assert fft_count(prepared(grad, x)) == 2
    got = dj.jit(grad)(x)
    # by hand, X = rfft(x), S = irfft(w X): the power term sum_k w_k |X_k|^2 / n over the
    # stored half has gradient 2 irfft(w X / c) (c: the Hermitian weights 1, 2, .., 2, [1]
    # irfft applies); S = A x with A symmetric (a convolution by the real, even irfft(w)), so
    # the data term |S - t|^2 has gradient 2 A (S - t)
    c = np.full(n // 2 + 1, 2.0)
    c[0] = 1.0
    if n % 2 == 0:
        c[-1] = 1.0
    spectrum_x = np.fft.rfft(x)
    smooth = np.fft.irfft(weights * spectrum_x, n=n)
    expected = (2 * np.fft.irfft(weights * spectrum_x / c, n=n)
                + 2 * np.fft.irfft(weights * np.fft.rfft(smooth - target), n=n))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    probe, h = rng.standard_normal(n), 1e-6
    fd = (loss(x + h * probe) - loss(x - h * probe)) / (2 * h)
    np.testing.assert_allclose(np.dot(got, probe), fd, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("norm", ["backward", "ortho", "forward"])
@pytest.mark.parametrize("n,axis", [(None, -1), (6, 0), (11, -1), (4, 1)])
def test_spectral_gradients_compiled_eager_float32_and_finite_differences(norm, n, axis):
    """Gradients with cropping/padding, other axes and every norm: jit (rewritten, native)
    against eager evaluation (op by op, no rewrite) and finite differences; float32 against
    float64."""
    x = rng.standard_normal((5, 8))
    length = x.shape[axis]
    target = rng.standard_normal(x.shape)

    def loss(x):
        spec = jnp.fft.rfft(x, n=n, axis=axis, norm=norm)
        back = jnp.fft.irfft(spec * 0.5, n=length, axis=axis, norm=norm)
        return jnp.sum(jnp.abs(spec) ** 2) + jnp.sum((back - target.astype(x.dtype)) ** 2)

    grad = dj.grad(loss)
    compiled, eager = dj.jit(grad)(x), grad(x)
    np.testing.assert_allclose(compiled, eager, rtol=1e-10, atol=1e-10)
    probe, h = rng.standard_normal(x.shape), 1e-6
    fd = (loss(x + h * probe) - loss(x - h * probe)) / (2 * h)
    np.testing.assert_allclose(np.sum(compiled * probe), fd, rtol=1e-6, atol=1e-6)
    single = dj.jit(grad)(x.astype(np.float32))
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, compiled, rtol=1e-3, atol=1e-3 * np.abs(compiled).max())


PAIRS = {"rfft": ("irfft", True), "irfft": ("rfft", False), "fft": ("ifft", False),
         "ifft": ("fft", False)}  # forward -> (inverse, forward takes real input)
COEFFICIENTS = [1.0, -1.0, 2.5, -0.375, 3.0]


@st.composite
def combinations(draw):
    """A forward transform of a drawn linear combination of inverse outputs, inputs and
    constants (sums, differences, negations, scalar products), with its NumPy long way."""
    forward = draw(st.sampled_from(sorted(PAIRS)))
    n = draw(st.integers(1, 12))
    batch = draw(st.sampled_from([(), (2,)]))
    real, cplx, tol = draw(st.sampled_from(WIDTHS))
    kinds = draw(st.lists(st.sampled_from(["inverse", "input", "const"]), min_size=1,
                          max_size=4))
    ops = draw(st.lists(st.sampled_from(["add", "sub", "neg", "scale", "conj"]),
                        min_size=len(kinds),
                        max_size=len(kinds)))
    coefs = draw(st.lists(st.sampled_from(COEFFICIENTS), min_size=len(kinds),
                          max_size=len(kinds)))
    return forward, n, batch, real, cplx, tol, kinds, ops, coefs


def _operands(forward, n, batch, real, cplx, kinds):
    inverse = PAIRS[forward][0]
    signal_real = forward in ("rfft",)  # the combination's dtype
    shape = batch + (n,)
    inverse_in = batch + (n // 2 + 1,) if inverse == "irfft" else shape
    values = []
    for kind in kinds:
        if kind == "inverse":
            values.append(spectrum(inverse_in, cplx) if inverse != "rfft"
                          else rng.standard_normal(shape).astype(real))
        else:
            values.append(rng.standard_normal(shape).astype(real) if signal_real
                          else spectrum(shape if forward != "irfft" else
                                        batch + (n // 2 + 1,), cplx))
    return values


@given(combinations())
def test_drawn_combinations_match_the_long_way(case):
    forward, n, batch, real, cplx, tol, kinds, ops, coefs = case
    inverse = PAIRS[forward][0]
    values = _operands(forward, n, batch, real, cplx, kinds)
    consts = [v for v, k in zip(values, kinds) if k == "const"]
    args = [v for v, k in zip(values, kinds) if k != "const"]

    def combine(fwd, inv, args, conj):
        it, ct = iter(args), iter(consts)
        total = None
        for kind, op, c in zip(kinds, ops, coefs):
            v = next(ct) if kind == "const" else next(it)
            term = inv(v) if kind == "inverse" else v
            if total is None:
                total = term
            elif op == "add":
                total = total + term
            elif op == "sub":
                total = total - term
            elif op == "neg":
                total = -total + term
            elif op == "conj":  # (a real combination is its own conjugate)
                total = (total if forward == "rfft" else conj(total)) + term
            else:
                total = total * c + term
        return fwd(total * coefs[0])

    def transforms(module):
        extra = {"n": n} if forward == "irfft" else {}
        inv_extra = {"n": n} if inverse == "irfft" else {}
        return (lambda z: getattr(module.fft, forward)(z, **extra),
                lambda z: getattr(module.fft, inverse)(z, **inv_extra))

    fwd, inv = transforms(jnp)
    nfwd, ninv = transforms(np)
    expected = combine(nfwd, ninv, [np.asarray(a) for a in args], np.conj)
    got = dj.jit(lambda *a: combine(fwd, inv, a, jnp.conj))(*args)
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * 10 * scale)
    original = make_ir(lambda *a: combine(fwd, inv, a, jnp.conj))(*args)
    for a, b in zip(eval_function(cancel_inverse_ffts(original), *args),
                    eval_function(original, *args)):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * 10 * scale)


def test_transposes_of_batch_axes_between_the_pair():
    y = spectrum((2, 3, 5), np.complex128)
    u = rng.standard_normal((3, 2, 8))
    c = rng.standard_normal((3, 2, 8))

    def f(y, u):
        s = jnp.transpose(jnp.fft.irfft(y, n=8), (1, 0, 2))
        return jnp.fft.rfft(2.0 * (s - c) + u)

    got = check_against_interpreter(f, (y, u), expected_ffts=1)  # rfft(u - 2c) remains
    s = np.transpose(np.fft.irfft(y, n=8), (1, 0, 2))
    np.testing.assert_allclose(got, np.fft.rfft(2.0 * (s - c) + u), atol=1e-12)


def test_a_transpose_moving_the_transformed_axis_is_left_alone():
    y = spectrum((6, 6), np.complex128)

    def f(y):
        return jnp.fft.fft(jnp.transpose(jnp.fft.ifft(y)) * 2.0)

    fn = make_ir(f)(y)
    assert cancel_inverse_ffts(fn) is fn
    np.testing.assert_allclose(dj.jit(f)(y), np.fft.fft(np.fft.ifft(y).T * 2.0), atol=1e-12)


def test_spectral_gradient_along_the_first_axis_needs_two_ffts():
    x, target = rng.standard_normal((8, 3)), rng.standard_normal((8, 3))
    weights = np.linspace(0.0, 1.0, 5)[:, None]

    def loss(x):
        spec = jnp.fft.rfft(x, axis=0)
        smooth = jnp.fft.irfft(weights * spec, n=8, axis=0)
        return jnp.sum(jnp.real(spec * jnp.conj(spec)) * weights) + jnp.sum((smooth - target) ** 2)

    _assert_gradient_takes_two_ffts(loss, x)


def _assert_gradient_takes_two_ffts(loss, x):
    """loss's compiled gradient: two FFTs after the rewrite, a directional derivative equal to
    central differences, and values equal to the uncompiled gradient."""
    grad = dj.grad(loss)
    assert fft_count(prepared(grad, x)) == 2
    probe, h = rng.standard_normal(x.shape), 1e-6
    fd = (loss(x + h * probe) - loss(x - h * probe)) / (2 * h)
    np.testing.assert_allclose(np.sum(dj.jit(grad)(x) * probe), fd, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dj.jit(grad)(x), grad(x), rtol=1e-10, atol=1e-10)


def test_conjugations_between_the_pair():
    r = rng.standard_normal((2, 9))
    y, u = spectrum((2, 6), np.complex128), spectrum((2, 6), np.complex128)

    def f(r, y, u):
        return (jnp.fft.hfft(jnp.fft.ihfft(r), n=9),  # irfft(conj(conj(rfft(r)) / 9) * 9)
                jnp.fft.fft(jnp.conj((1 + 2j) * jnp.conj(jnp.fft.ifft(y)) + u)),
                jnp.fft.ifft(jnp.conj(jnp.fft.ifft(y))))  # a conjugated leaf: left as it is

    got = check_against_interpreter(f, (r, y, u), expected_ffts=3)
    np.testing.assert_allclose(got[0], r, atol=1e-12)
    np.testing.assert_allclose(got[1], np.fft.fft(np.conj((1 + 2j) * np.conj(np.fft.ifft(y)) + u)),
                               atol=1e-12)
    np.testing.assert_allclose(got[2], np.fft.ifft(np.conj(np.fft.ifft(y))), atol=1e-12)


@pytest.mark.parametrize("s", [(4, 8), (5, 7), (3, 4, 6), (1, 6), (2, 2), (1, 1), (6, 1)])
@pytest.mark.parametrize("real,cplx,tol", WIDTHS)
def test_rfftn_of_irfftn_takes_the_hermitian_part_over_every_axis(s, real, cplx, tol):
    axes = tuple(range(1, len(s) + 1))
    y = spectrum((2,) + s[:-1] + (s[-1] // 2 + 1,), cplx)  # not Hermitian on any plane
    u = rng.standard_normal((2,) + s).astype(real)

    def f(y, u):
        return jnp.fft.rfftn(jnp.fft.irfftn(y, s=s, axes=axes) * 2.0 - u, axes=axes)

    got = check_against_interpreter(f, (y, u), expected_ffts=1)
    expected = np.fft.rfftn(np.fft.irfftn(y, s=s, axes=axes) * 2.0 - u, axes=axes)
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * 10)


def test_two_dimensional_spectral_gradient_needs_two_ffts():
    x, target = rng.standard_normal((6, 10)), rng.standard_normal((6, 10))
    weights = rng.random((6, 6))

    def loss(x):
        spec = jnp.fft.rfft2(x)
        smooth = jnp.fft.irfft2(weights * spec, s=x.shape)
        return jnp.sum(jnp.abs(spec) ** 2 * weights) + jnp.sum((smooth - target) ** 2)

    _assert_gradient_takes_two_ffts(loss, x)
