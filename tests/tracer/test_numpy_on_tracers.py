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
    "diagonal": lambda x: jnp.sum(np.diagonal(jnp.outer(x, x))),
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
    assert f"Use jnp.{name.split('.')[0]} instead" in message or name == "asarray"
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


# NumPy's own np.sum(x) calls x.sum() for anything that is not an ndarray, which is how JAX's
# arrays pass through it; dualjit hands these functions to dualjit.numpy, so they are traced.
DELEGATED = {
    "sum": (lambda x: np.sum(x * x), lambda x: 2 * x),
    "mean": (lambda x: np.mean(x * x, axis=0), lambda x: 2 * x / x.size),
    "amax": (lambda x: np.amax(x), lambda x: (x == x.max()) * 1.0),
    "var": (lambda x: np.var(x), lambda x: 2 * (x - x.mean()) / x.size),
    "cumsum": (lambda x: np.sum(np.cumsum(x) * x),
               lambda x: np.cumsum(x[::-1])[::-1] + np.cumsum(x)),
    "prod": (lambda x: np.prod(x, keepdims=True)[0], lambda x: np.prod(x) / x),
}


@pytest.mark.parametrize("transform", ["grad", "jit(grad)", "vmap(grad)"])
@pytest.mark.parametrize("name", DELEGATED)
def test_numpy_reductions_that_call_the_array_method_are_traced_as_with_jax(name, transform):
    f, derivative = DELEGATED[name]
    run = {"grad": dj.grad(f), "jit(grad)": dj.jit(dj.grad(f)),
           "vmap(grad)": lambda x: dj.vmap(dj.grad(f))(np.stack([x, x]))[1]}[transform]
    np.testing.assert_allclose(run(X), derivative(X), rtol=1e-12)
