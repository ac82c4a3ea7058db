"""Complex linear algebra (solve, inv, det, slogdet, eigh of Hermitian matrices, svd): values
against NumPy, derivatives against complex finite differences in both modes (JAX's
conventions: jvp along complex directions; grad of a real loss = dL/dx - i dL/dy)."""

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp

rng = np.random.default_rng(161)
H = 1e-6


def _c(*shape):
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


A, B = _c(4, 4) + 3 * np.eye(4), _c(4, 2)
WIDE, TALL = _c(3, 5), _c(5, 3)


def _gram(v, weights):
    """v diag(weights) v^H: independent of the phase of each column of v."""
    return jnp.matmul(v * weights[..., None, :], jnp.conj(jnp.swapaxes(v, -1, -2)))


# name -> (function of one complex matrix, its argument); every output is independent of the
# phases LAPACK chooses for eigen- and singular vectors
FUNCTIONS = {
    "solve": (lambda a: jnp.linalg.solve(a, B), A),
    "solve_vector": (lambda a: jnp.linalg.solve(a, B[:, 0] * 1j), A),
    "inv": (lambda a: jnp.linalg.inv(a), A),
    "det": (lambda a: jnp.linalg.det(a), A),
    "slogdet": (lambda a: tuple(jnp.linalg.slogdet(a)), A),
    "eigvalsh": (lambda a: jnp.linalg.eigvalsh(a), A),
    "eigh": (lambda a: (lambda w, v: (w, _gram(v, w ** 3 + 1.0), jnp.abs(v) ** 2))(
        *jnp.linalg.eigh(a)), A),
    "eigh_upper": (lambda a: jnp.linalg.eigh(a, UPLO="U", symmetrize_input=False)[0], A),
    "svdvals": (lambda a: jnp.linalg.svd(a, compute_uv=False), WIDE),
    "svd_square": (lambda a: (lambda u, s, vh: (s, _gram(u, s ** 2), _gram(
        jnp.conj(jnp.swapaxes(vh, -1, -2)), s + 1.0), u @ (s[:, None] * vh)))(
        *jnp.linalg.svd(a)), A),
    "svd_wide": (lambda a: (lambda u, s, vh: (_gram(u, s), _gram(
        jnp.conj(jnp.swapaxes(vh, -1, -2)), s ** 2 + 1.0)))(
        *jnp.linalg.svd(a, full_matrices=False)), WIDE),
    "svd_tall": (lambda a: (lambda u, s, vh: (_gram(u, s ** 2 + 1.0), jnp.abs(vh) ** 2))(
        *jnp.linalg.svd(a, full_matrices=False)), TALL),
}
NUMPY = {
    "solve": lambda a: np.linalg.solve(a, B), "inv": np.linalg.inv, "det": np.linalg.det,
    "slogdet": lambda a: tuple(np.linalg.slogdet(a)),
    "eigvalsh": lambda a: np.linalg.eigvalsh((a + a.conj().T) / 2),
    "svdvals": lambda a: np.linalg.svd(a, compute_uv=False),
}


def _outputs(f, a):
    out = f(a)
    return [np.asarray(o) for o in (out if isinstance(out, tuple) else (out,))]


@pytest.mark.parametrize("name", sorted(NUMPY))
def test_values_match_numpy_eager_and_compiled(name):
    f, a = FUNCTIONS[name]
    expected = _outputs(NUMPY[name], a)
    for got in (_outputs(f, a), _outputs(dj.jit(f), a)):
        for g, e in zip(got, expected):
            assert g.dtype == e.dtype
            np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)


def test_hermitian_eigh_and_svd_reconstruct_and_complex64():
    h = (A + A.conj().T) / 2
    w, v = jnp.linalg.eigh(h)
    assert w.dtype == np.float64 and v.dtype == np.complex128
    np.testing.assert_allclose(np.asarray(v) @ np.diag(w) @ np.asarray(v).conj().T, h,
                               atol=1e-12)
    u, s, vh = dj.jit(lambda a: tuple(jnp.linalg.svd(a, full_matrices=False)))(WIDE)
    np.testing.assert_allclose(u @ np.diag(s) @ vh, WIDE, atol=1e-12)
    a64 = A.astype(np.complex64)
    x = dj.jit(lambda a: jnp.linalg.solve(a, B.astype(np.complex64)))(a64)
    assert x.dtype == np.complex64
    np.testing.assert_allclose(a64 @ x, B, atol=1e-4)
    sign, logabs = jnp.linalg.slogdet(a64)
    assert np.asarray(sign).dtype == np.complex64 and np.asarray(logabs).dtype == np.float32


def _directional(f, a, t):
    plus, minus = _outputs(f, a + H * t), _outputs(f, a - H * t)
    return [(p - m) / (2 * H) for p, m in zip(plus, minus)]


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_jvp_matches_complex_finite_differences(name):
    f, a = FUNCTIONS[name]
    for t in (np.ones_like(a), 1j * np.ones_like(a), _c(*a.shape)):
        _, tangent = dj.jvp(lambda x: f(x), (a,), (t,))
        tangent = tangent if isinstance(tangent, tuple) else (tangent,)
        for got, fd in zip(tangent, _directional(f, a, t)):
            np.testing.assert_allclose(got, fd, rtol=1e-5, atol=1e-6)


def _real_loss(f, a, weights):
    """A real loss of every output: sum of w * |out|^2 and w * Re(out)."""
    def loss(x):
        total = 0.0
        for out, w in zip(_outputs_traced(f(x)), weights):
            total = total + jnp.sum(w * jnp.abs(out) ** 2) + jnp.sum(w * jnp.real(out))
        return total
    return loss


def _outputs_traced(out):
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_grad_of_real_loss_matches_finite_differences_jax_convention(name):
    f, a = FUNCTIONS[name]
    weights = [rng.standard_normal(o.shape) for o in _outputs(f, a)]
    loss = _real_loss(f, a, weights)
    g = np.asarray(dj.grad(loss)(a))
    np.testing.assert_allclose(dj.jit(dj.grad(loss))(a), g, rtol=1e-9, atol=1e-10)
    # the difference quotient's own rounding error: the loss (eigh's is ~1e4) is computed to
    # ~eps relative, divided by 2H; LAPACK builds round differently (seen: 2.7e-6 on an
    # AVX-512 machine where the exact directional derivative is 0)
    rounding = 16 * np.finfo(np.float64).eps * abs(float(loss(a))) / H
    for t in (np.ones_like(a), 1j * np.ones_like(a), _c(*a.shape)):
        fd = (float(loss(a + H * t)) - float(loss(a - H * t))) / (2 * H)
        # grad = dL/dx - i dL/dy, so Re(sum(grad * t)) is L's derivative along t
        np.testing.assert_allclose(np.real(np.sum(g * t)), fd, rtol=1e-5,
                                   atol=1e-6 + rounding)


def test_operations_without_complex_support_still_refuse():
    for call in (lambda: jnp.linalg.norm(A), lambda: jnp.linalg.cholesky(A),
                 lambda: jnp.linalg.lstsq(A, B), lambda: jnp.linalg.qr(A)):
        with pytest.raises(TypeError, match="complex matrices are not supported yet"):
            call()
