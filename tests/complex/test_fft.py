"""dualjit.numpy.fft against NumPy and a naive DFT: every size 1..64, large sizes, n/axes/norm,
round trips, and derivatives (JVP against finite differences, VJP as the JVP's transpose)."""

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp

rng = np.random.default_rng(161)
NORMS = [None, "backward", "ortho", "forward"]


def naive_dft(x, inverse=False):
    """The DFT matrix applied along the last axis (an independent O(n^2) reference)."""
    n = x.shape[-1]
    k = np.arange(n)
    sign = 1 if inverse else -1
    matrix = np.exp(sign * 2j * np.pi * np.outer(k, k) / n)
    out = x @ matrix.T
    return out / n if inverse else out


@pytest.mark.parametrize("n", range(1, 65))
def test_every_size_against_a_naive_dft_compiled(n):
    x = rng.standard_normal((2, n)) + 1j * rng.standard_normal((2, n))
    r = rng.standard_normal((2, n))

    def transforms(x, r):
        return (jnp.fft.fft(x), jnp.fft.ifft(x), jnp.fft.rfft(r),
                jnp.fft.irfft(jnp.fft.rfft(r), n=n))

    expected = (naive_dft(x), naive_dft(x, inverse=True), naive_dft(r)[:, :n // 2 + 1], r)
    for got in (transforms(x, r), dj.jit(transforms)(x, r)):
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-10 * n)


@pytest.mark.parametrize("n", [2**20, 3 * 5 * 7 * 11 * 13, 65537, 1000])
def test_large_sizes_against_numpy_and_round_trips(n):
    r = rng.standard_normal(n)
    f = dj.jit(lambda r: (jnp.fft.rfft(r), jnp.fft.irfft(jnp.fft.rfft(r), n=n),
                          jnp.fft.ifft(jnp.fft.fft(r))))
    spectrum, back, back_c = f(r)
    np.testing.assert_allclose(spectrum, np.fft.rfft(r), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(back, r, atol=1e-12)
    np.testing.assert_allclose(back_c, r, atol=1e-12)


@pytest.mark.parametrize("name", ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"])
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("n,axis", [(None, -1), (5, 0), (12, 1), (3, -1)])
def test_one_axis_transforms_match_numpy(name, norm, n, axis):
    x = rng.standard_normal((6, 7))
    if name not in ("rfft", "ihfft"):
        x = x + 1j * rng.standard_normal((6, 7))
    got = getattr(jnp.fft, name)(x, n=n, axis=axis, norm=norm)
    expected = getattr(np.fft, name)(x, n=n, axis=axis, norm=norm)
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    jitted = dj.jit(lambda x: getattr(jnp.fft, name)(x, n=n, axis=axis, norm=norm))(x)
    np.testing.assert_allclose(jitted, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["fftn", "ifftn", "rfftn", "irfftn", "fft2", "ifft2", "rfft2",
                                  "irfft2"])
@pytest.mark.parametrize("s,axes", [(None, None), ((4, 6), (0, 2)), ((3, 8), (2, 1)),
                                    (None, (1,)), ((5,), None)])
@pytest.mark.parametrize("norm", [None, "ortho", "forward"])
def test_many_axis_transforms_match_numpy(name, s, axes, norm):
    if name.endswith("2") and axes is not None and len(axes) != 2:
        return  # the 2-D names take exactly two axes
    if name.endswith("2") and s is not None and len(s) != 2:
        return
    x = rng.standard_normal((4, 5, 6))
    if not name.startswith("rfft"):
        x = x + 1j * rng.standard_normal((4, 5, 6))
    kwargs = {"s": s, "norm": norm}
    if axes is not None:
        kwargs["axes"] = axes
    elif s is not None:
        kwargs["axes"] = tuple(range(3 - len(s), 3))  # NumPy 2 wants axes with s
    expected = getattr(np.fft, name)(x, **kwargs)
    got = dj.jit(lambda x: getattr(jnp.fft, name)(x, **kwargs))(x)
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("dtype,out", [(np.float32, np.complex64), (np.float64, np.complex128),
                                       (np.int32, np.complex128), (np.complex64, np.complex64)])
def test_dtypes_follow_numpy(dtype, out):
    x = (rng.standard_normal(8) * 4).astype(dtype)
    assert jnp.fft.fft(x).dtype == out
    assert dj.jit(jnp.fft.fft)(x).dtype == out
    tol = 1e-5 if out == np.complex64 else 1e-12
    np.testing.assert_allclose(dj.jit(jnp.fft.fft)(x), np.fft.fft(x), rtol=tol, atol=tol)
    if dtype != np.complex64:
        assert jnp.fft.irfft(jnp.fft.rfft(x)).dtype == np.dtype(out).type(0).real.dtype


def test_round_trips():
    x = rng.standard_normal((3, 10)) + 1j * rng.standard_normal((3, 10))
    np.testing.assert_allclose(jnp.fft.ifftn(jnp.fft.fftn(x)), x, atol=1e-13)
    r = rng.standard_normal((4, 9))
    np.testing.assert_allclose(jnp.fft.irfftn(jnp.fft.rfftn(r), s=r.shape), r, atol=1e-13)
    np.testing.assert_allclose(jnp.fft.hfft(jnp.fft.ihfft(r[0]), n=9), r[0], atol=1e-13)
    np.testing.assert_allclose(jnp.fft.ifftshift(jnp.fft.fftshift(r)), r)


def test_freqs_and_shifts_match_numpy():
    for n in (1, 6, 7):
        np.testing.assert_array_equal(jnp.fft.fftfreq(n, 0.1), np.fft.fftfreq(n, 0.1))
        np.testing.assert_array_equal(jnp.fft.rfftfreq(n, 0.1), np.fft.rfftfreq(n, 0.1))
    x = np.arange(30.0).reshape(5, 6)
    for axes in (None, 0, (1,), (0, 1)):
        np.testing.assert_array_equal(dj.jit(lambda x: jnp.fft.fftshift(x, axes))(x),
                                      np.fft.fftshift(x, axes))
        np.testing.assert_array_equal(jnp.fft.ifftshift(x, axes), np.fft.ifftshift(x, axes))


@pytest.mark.parametrize("call,error,message", [
    (lambda: jnp.fft.fft(np.ones(4), n=0), ValueError, "invalid number of FFT data points"),
    (lambda: jnp.fft.rfft(np.ones(4) + 1j), TypeError, "must be real"),
    (lambda: jnp.fft.fft(np.ones(4), norm="unit"), ValueError, "invalid norm"),
    (lambda: jnp.fft.fftn(np.ones((2, 2)), axes=(0, 0)), ValueError, "repeated axis"),
    (lambda: jnp.fft.fft(np.ones(4), axis=1), ValueError, "out of bounds"),
    (lambda: jnp.fft.irfft(np.ones(1)), ValueError, "invalid number of FFT data points"),
])
def test_bad_arguments_are_refused(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---------------------------------------------------------------------------------------------
# Derivatives
# ---------------------------------------------------------------------------------------------

H = 1e-6
LINEAR_MAPS = {
    "fft": (lambda x: jnp.fft.fft(x, n=9), True),
    "ifft_ortho": (lambda x: jnp.fft.ifft(x, norm="ortho"), True),
    "rfft_even": (lambda x: jnp.fft.rfft(x, n=8), False),
    "rfft_odd": (lambda x: jnp.fft.rfft(x, norm="forward"), False),
    "irfft_even": (lambda x: jnp.fft.irfft(x, n=8), True),
    "irfft_odd": (lambda x: jnp.fft.irfft(x, n=7), True),
    "rfft2": (lambda x: jnp.fft.rfft2(x.reshape(3, 3), s=(3, 4)), False),
    "irfftn": (lambda x: jnp.fft.irfftn(x.reshape(3, 3), s=(3, 5), norm="ortho"), True),
    "hfft": (lambda x: jnp.fft.hfft(x, n=10), True),
    "ihfft": (lambda x: jnp.fft.ihfft(x), False),
}


def _point(complex_input):
    x = rng.standard_normal(9)
    return x + 1j * rng.standard_normal(9) if complex_input else x


@pytest.mark.parametrize("name", sorted(LINEAR_MAPS))
def test_jvp_matches_finite_differences(name):
    f, complex_input = LINEAR_MAPS[name]
    x, t = _point(complex_input), _point(complex_input)
    _, t_out = dj.jvp(f, (x,), (t,))
    fd = (np.asarray(f(x + H * t)) - np.asarray(f(x - H * t))) / (2 * H)
    np.testing.assert_allclose(t_out, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(LINEAR_MAPS))
def test_vjp_is_the_transpose_of_the_map(name):
    # JAX's pairing: Re sum(u * f(t)) = Re sum(vjp(u) * t) for every t (f is linear)
    f, complex_input = LINEAR_MAPS[name]
    x = _point(complex_input)
    out, pullback = dj.vjp(f, x)
    out = np.asarray(out)
    u = rng.standard_normal(out.shape)
    if out.dtype.kind == "c":
        u = u + 1j * rng.standard_normal(out.shape)
    (ct,) = pullback(u.astype(out.dtype))
    (jit_ct,) = dj.jit(lambda x, u: dj.vjp(f, x)[1](u))(x, u.astype(out.dtype))
    np.testing.assert_allclose(jit_ct, ct, rtol=1e-12, atol=1e-12)
    for _ in range(3):
        t = _point(complex_input)
        np.testing.assert_allclose(np.real(np.sum(ct * t)), np.real(np.sum(u * np.asarray(f(t)))),
                                   rtol=1e-10, atol=1e-10)


def test_gradient_of_a_spectral_loss_matches_finite_differences():
    target = rng.standard_normal(17)
    weights = np.linspace(1.0, 2.0, 17 // 2 + 1)

    def loss(x):
        spectrum = jnp.fft.rfft(x)
        smooth = jnp.fft.irfft(spectrum * weights, n=17)
        return jnp.sum(jnp.abs(spectrum) ** 2 * weights) + jnp.sum((smooth - target) ** 2)

    x = rng.standard_normal(17)
    g = dj.jit(dj.grad(loss))(x)
    fd = np.array([(loss(x + H * e) - loss(x - H * e)) / (2 * H) for e in np.eye(17)])
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6)


def test_gradient_through_complex_fft_of_a_real_loss_is_jax_convention():
    z = rng.standard_normal(6) + 1j * rng.standard_normal(6)

    def loss(z):
        return jnp.sum(jnp.abs(jnp.fft.fft(z)) ** 2)  # = 6 * sum |z|^2 (Parseval)

    np.testing.assert_allclose(dj.grad(loss)(z), 2 * 6 * np.conj(z), rtol=1e-12)
    np.testing.assert_allclose(dj.grad(loss, holomorphic=False)(z.real + 0j),
                               2 * 6 * z.real, rtol=1e-12)


def test_hessian_vector_product_of_a_spectral_loss():
    def loss(x):
        return jnp.sum(jnp.abs(jnp.fft.rfft(x * x)) ** 2)

    x, v = rng.standard_normal(8), rng.standard_normal(8)
    _, hv = dj.jvp(dj.grad(loss), (x,), (v,))
    grad = dj.grad(loss)
    fd = (grad(x + H * v) - grad(x - H * v)) / (2 * H)
    np.testing.assert_allclose(hv, fd, rtol=1e-5, atol=1e-5)


def test_vmap_of_fft_matches_a_loop():
    x = rng.standard_normal((5, 3, 8))
    f = dj.vmap(lambda a: jnp.fft.rfft(a, axis=0), in_axes=2)
    np.testing.assert_allclose(f(x), np.stack([np.fft.rfft(x[:, :, i], axis=0)
                                               for i in range(8)]), rtol=1e-12, atol=1e-12)
