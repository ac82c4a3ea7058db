"""NumPy functions on traced values raise, naming the function and the fix (issue 10 item 3).

Before, a concrete tracer handed NumPy its value: grad, jvp and vjp silently saw a constant
(zero derivatives). `ndarray (op) traced` still works: it is the traced operator."""

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp

X = np.array([0.5, 1.0, 2.0])

USES = {
    "sin": lambda x: jnp.sum(np.sin(x)),
    "exp": lambda x: jnp.sum(np.exp(x)),
    "dot": lambda x: np.dot(x, x),
    "concatenate": lambda x: jnp.sum(np.concatenate([x, x])),
    "where": lambda x: jnp.sum(np.where(x > 0.7, x, 2.0 * x)),
    "sum": lambda x: np.sum(x),
    "asarray": lambda x: jnp.sum(np.asarray(x)),
    "multiply.reduce": lambda x: np.multiply.reduce(x),
}

TRANSFORMS = {
    "grad": lambda f: dj.grad(f)(X),
    "jvp": lambda f: dj.jvp(f, (X,), (X,)),
    "vjp": lambda f: dj.vjp(f, X),
    "jit": lambda f: dj.jit(f)(X),
    "jit(grad)": lambda f: dj.jit(dj.grad(f))(X),
    "vmap": lambda f: dj.vmap(f)(np.stack([X, X])),
    "linearize": lambda f: dj.linearize(f, X),
}


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("name", USES)
def test_numpy_on_a_traced_value_raises_naming_the_function_and_the_fix(name, transform):
    with pytest.raises(TypeError) as info:
        TRANSFORMS[transform](USES[name])
    message = str(info.value)
    assert f"numpy.{name}" in message and "dualjit.numpy" in message
    assert "test_numpy_on_tracers.py" in message  # where, in the user's code


def test_numpy_operators_and_type_queries_on_traced_values_are_traced():
    w = np.array([3.0, 1.5, 0.5])

    def f(x):
        assert np.shape(x) == (3,) and np.ndim(x) == 1 and np.size(x) == 3
        assert np.result_type(x, np.float32) == np.float64
        y = w * x + w / (x + 1.0) - w ** x  # ndarray (op) traced: the traced operators
        return jnp.sum(np.multiply(w, y) + (w < x) * 1.0)  # ...and the same ufuncs by name

    expected = w * (w - w / (X + 1) ** 2 - np.log(w) * w ** X)
    np.testing.assert_allclose(dj.grad(f)(X), expected, rtol=1e-12)
    np.testing.assert_allclose(dj.jit(dj.grad(f))(X), expected, rtol=1e-12)


def test_linspace_and_full_with_traced_arguments_are_differentiated_and_arange_raises():
    # d/dx sum(linspace(x, 3.4, 5)) = sum(1 - i/4) = 2.5; d/dx sum(full((3,), x)) = 3
    for transform in (dj.grad, lambda f: dj.jit(dj.grad(f))):
        assert transform(lambda x: jnp.sum(jnp.linspace(x, 3.4, 5)))(0.5) == pytest.approx(2.5)
        assert transform(lambda x: jnp.sum(jnp.full((3,), x)))(0.5) == pytest.approx(3.0)
        with pytest.raises(TypeError, match="arange.*static"):
            transform(lambda x: jnp.sum(jnp.arange(x, 3.4, 1.0)))(0.5)
