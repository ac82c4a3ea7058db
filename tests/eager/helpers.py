"""Shared checks for the eager tests: central finite differences of NumPy reference formulas."""

import numpy as np

import dualjit as dj


def numeric_grad(f, x, eps=1e-6):
    """d f / d x by central differences, f a NumPy function of a float64 array to a scalar."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f(x)
        flat[i] = old - eps
        down = f(x)
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return g


def check_grad(tensor_fn, numpy_fn, *arrays, rtol=1e-6, atol=1e-8, wrt=None):
    """The value of tensor_fn equals numpy_fn's, and its backward() gradient equals central
    differences of numpy_fn, for every input (float64) in `wrt` (default: all)."""
    wrt = range(len(arrays)) if wrt is None else wrt
    tensors = [dj.tensor(np.asarray(a, np.float64), requires_grad=i in wrt)
               for i, a in enumerate(arrays)]
    out = tensor_fn(*tensors)
    np.testing.assert_allclose(out.detach().numpy(), numpy_fn(*arrays), rtol=1e-10, atol=1e-12)
    out.sum().backward()
    for i in wrt:
        def f(x, i=i):
            args = list(arrays)
            args[i] = x
            return np.sum(numpy_fn(*args))
        np.testing.assert_allclose(tensors[i].grad.numpy(), numeric_grad(f, arrays[i]),
                                   rtol=rtol, atol=atol, err_msg=f"gradient of input {i}")
