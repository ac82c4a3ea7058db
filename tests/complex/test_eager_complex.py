"""Imperative backward() on complex tensors: PyTorch's convention (the gradient of a real loss
is dL/dx + i dL/dy, the conjugate of what dualjit.grad returns in JAX's convention)."""

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp

rng = np.random.default_rng(5)
Z = rng.standard_normal(4) + 1j * rng.standard_normal(4)
W = rng.standard_normal(4) + 1j * rng.standard_normal(4)
H = 1e-6


def _numpy_loss(z):
    return np.sum(np.abs(z * W) ** 2) + np.sum(np.exp(z).real * z.imag) + np.sum(np.angle(z))


def _torch_style_gradient(z):
    """dL/dx + i dL/dy by central differences."""
    def d(direction):
        return np.array([(_numpy_loss(z + H * direction * e) - _numpy_loss(z - H * direction * e))
                         / (2 * H) for e in np.eye(z.size)])
    return d(1.0) + 1j * d(1j)


def _tensor_loss(z):
    return ((z * dj.tensor(W)).abs() ** 2).sum() + (z.exp().real * z.imag).sum() + z.angle().sum()


@pytest.mark.parametrize("create_graph", [False, True])
def test_backward_on_complex_leaf_is_pytorch_convention(create_graph):
    z = dj.tensor(Z, requires_grad=True)
    _tensor_loss(z).backward(create_graph=create_graph)
    expected = _torch_style_gradient(Z)
    np.testing.assert_allclose(z.grad.numpy() if not create_graph else z.grad.detach().numpy(),
                               expected, rtol=1e-6, atol=1e-7)


def test_side_by_side_with_jax_convention():
    z = dj.tensor(Z, requires_grad=True)
    _tensor_loss(z).backward()

    def loss(z):
        return (jnp.sum(jnp.abs(z * W) ** 2) + jnp.sum(jnp.real(jnp.exp(z)) * jnp.imag(z))
                + jnp.sum(jnp.angle(z)))
    np.testing.assert_allclose(z.grad.numpy(), np.conj(dj.grad(loss)(Z)), rtol=1e-12)


def test_backward_with_a_complex_gradient_is_the_conjugate_vjp():
    # PyTorch: for y = f(z) and given v, z.grad = conj(J)^T v for holomorphic f (y = z^2:
    # 2 conj(z) v)
    z = dj.tensor(Z, requires_grad=True)
    v = rng.standard_normal(4) + 1j * rng.standard_normal(4)
    (z * z).backward(dj.tensor(v))
    np.testing.assert_allclose(z.grad.numpy(), 2 * np.conj(Z) * v, rtol=1e-12)


def test_hooks_see_pytorch_convention_gradients():
    z = dj.tensor(Z, requires_grad=True)
    y = z * dj.tensor(W)
    seen = []
    y.register_hook(lambda g: seen.append(g.numpy().copy()))
    (y.abs() ** 2).sum().backward()
    # dL/dy for L = |y|^2 in PyTorch's convention: 2y
    np.testing.assert_allclose(seen[0], 2 * Z * W, rtol=1e-12)
    np.testing.assert_allclose(z.grad.numpy(), 2 * Z * W * np.conj(W), rtol=1e-12)


def test_implicit_gradient_of_a_complex_output_is_refused():
    z = dj.tensor(Z[:1], requires_grad=True)
    with pytest.raises(RuntimeError, match="real scalar outputs"):
        (z * 2).sum().backward()


def test_complex_tensor_parts():
    z = dj.tensor(Z)
    assert z.is_complex() and not dj.tensor(Z.real).is_complex()
    np.testing.assert_array_equal(z.real.numpy(), Z.real)
    np.testing.assert_array_equal(z.imag.numpy(), Z.imag)
    np.testing.assert_array_equal(z.conj().numpy(), np.conj(Z))
