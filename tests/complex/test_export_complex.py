"""Complex values through export (serialize/deserialize, constants of the IR) and dj.save/load."""

import io
import pickle

import numpy as np

import dualjit as dj
import dualjit.numpy as jnp

rng = np.random.default_rng(3)
Z = rng.standard_normal(6) + 1j * rng.standard_normal(6)
SPECIAL = np.array([complex(np.nan, -0.0), complex(-np.inf, 1.0), 1j] * 50)  # a large constant


def _f(z, x):
    return jnp.fft.rfft(x) * 2j + jnp.sum(z * SPECIAL[: z.size]), jnp.abs(z) + x


def test_export_round_trip_of_a_complex_program():
    x = rng.standard_normal(6)
    exported = dj.export(_f)(Z, x)
    again = dj.deserialize(exported.serialize())
    with np.errstate(invalid="ignore"):
        expected = _f(Z, x)
    for got in (exported.call(Z, x), again.call(Z, x)):
        for g, e in zip(got, expected):
            np.testing.assert_array_equal(g, e)


def test_export_of_a_gradient_with_complex_input():
    def loss(z):
        return jnp.sum(jnp.abs(jnp.fft.fft(z)) ** 2)

    blob = dj.export(dj.grad(loss))(Z).serialize(object_code=False)
    np.testing.assert_allclose(dj.deserialize(blob).call(Z), 2 * Z.size * np.conj(Z),
                               rtol=1e-12)


def test_save_and_load_complex_arrays_and_tensors():
    buffer = io.BytesIO()
    dj.save({"a": Z.astype(np.complex64), "t": dj.tensor(Z, requires_grad=True)}, buffer)
    buffer.seek(0)
    loaded = dj.load(buffer)
    assert loaded["a"].dtype == np.complex64
    np.testing.assert_array_equal(loaded["a"], Z.astype(np.complex64))
    assert loaded["t"].requires_grad
    np.testing.assert_array_equal(loaded["t"].detach().numpy(), Z)


def _exp_times_conj(z):
    return jnp.exp(z) * jnp.conj(z)


def test_pickled_jit_of_a_complex_function():
    f = dj.jit(_exp_times_conj)
    f(Z)
    g = pickle.loads(pickle.dumps(f))
    np.testing.assert_allclose(g(Z), np.exp(Z) * np.conj(Z), rtol=1e-14)
