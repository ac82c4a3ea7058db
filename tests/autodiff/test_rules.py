"""Every differentiable primitive and dualjit.numpy / dualjit.nn function against finite differences."""

import numpy as np
import pytest

import dualjit as dj
import dualjit.numpy as jnp
from dualjit import ir
from dualjit.autodiff import jvp_rules, transpose_rules, zero_derivative
from dualjit.ir import primitives as P

from .check import check_grads

rng = np.random.default_rng(0)


def positive(shape, dtype=np.float64):
    return (rng.random(shape) + 0.5).astype(dtype)


def normal(shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


UNARY = {
    "negative": (jnp.negative, normal), "exp": (jnp.exp, normal), "log": (jnp.log, positive),
    "log1p": (jnp.log1p, positive), "expm1": (jnp.expm1, normal), "sin": (jnp.sin, normal),
    "cos": (jnp.cos, normal), "tan": (lambda x: jnp.tan(x * 0.5), normal),
    "tanh": (jnp.tanh, normal), "sqrt": (jnp.sqrt, positive),
    "rsqrt": (lambda x: 1 / jnp.sqrt(x), positive), "abs": (jnp.abs, positive),
    "square": (jnp.square, normal), "cube": (lambda x: x ** 3, normal),
    "reciprocal": (jnp.reciprocal, positive), "sigmoid": (dj.nn.sigmoid, normal),
    "softplus": (dj.nn.softplus, normal), "sinh": (jnp.sinh, normal), "arctan": (jnp.arctan, normal),
    "arcsin": (lambda x: jnp.arcsin(x * 0.3), normal), "relu": (dj.nn.relu, positive),
    "log2": (jnp.log2, positive), "exp2": (jnp.exp2, normal),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("shape", [(), (3,), (2, 3, 4)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unary(name, shape, dtype):
    f, sample = UNARY[name]
    check_grads(f, [sample(shape, dtype)], order=2 if dtype == np.float64 else 1)


BINARY = {
    "add": jnp.add, "subtract": jnp.subtract, "multiply": jnp.multiply, "divide": jnp.divide,
    "power": jnp.power, "maximum": jnp.maximum, "minimum": jnp.minimum, "arctan2": jnp.arctan2,
    "fmod": jnp.fmod, "hypot_like": lambda x, y: jnp.sqrt(x * x + y * y),
}
SHAPE_PAIRS = [((), ()), ((3,), ()), ((), (3,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 4)),
               ((1, 4), (3, 1))]


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", SHAPE_PAIRS)
def test_binary_broadcasting(name, shapes):
    f = BINARY[name]
    x = positive(shapes[0]) + 1.0
    y = positive(shapes[1])
    check_grads(f, [x, y], order=2)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_float32(name):
    check_grads(BINARY[name], [positive((3, 1), np.float32) + 1, positive((1, 4), np.float32)])


STRUCTURAL = {
    "sum": lambda x: jnp.sum(x, axis=1), "sum_all": jnp.sum, "mean": lambda x: jnp.mean(x, 0),
    "max": lambda x: jnp.max(x, axis=1), "min": lambda x: jnp.min(x, axis=(0, 2)),
    "prod": lambda x: jnp.prod(x, axis=2), "var": lambda x: jnp.var(x, axis=1),
    "std": lambda x: jnp.std(x), "reshape": lambda x: jnp.reshape(x, (6, 4)) * 2.0,
    "transpose": lambda x: jnp.transpose(x, (2, 0, 1)), "T": lambda x: x.T,
    "swapaxes": lambda x: jnp.swapaxes(x, 0, 2), "expand_squeeze": lambda x: jnp.squeeze(
        jnp.expand_dims(x, 1), 1), "slice": lambda x: x[:, 1:, ::2], "neg_step": lambda x: x[::-1, :, 1],
    "int_index": lambda x: x[1, -1], "gather": lambda x: x[:, np.array([2, 0, 2])],
    "gather2": lambda x: x[np.array([0, 1, 1]), np.array([2, 0, 1])],
    "concatenate": lambda x: jnp.concatenate([x, x * 2.0], axis=1),
    "stack": lambda x: jnp.stack([x, jnp.sin(x)], axis=0), "split": lambda x: jnp.split(x, 2, 2)[1],
    "where": lambda x: jnp.where(x > 0.5, x * x, jnp.sin(x)), "clip": lambda x: jnp.clip(x, 0.3, 1.2),
    "tile": lambda x: jnp.tile(x[0], (2, 1)), "flip": lambda x: jnp.flip(x, 1),
    "logsumexp": lambda x: dj.nn.logsumexp(x, axis=1), "softmax": lambda x: dj.nn.softmax(x),
    "log_softmax": lambda x: dj.nn.log_softmax(x, axis=0), "astype": lambda x: x.astype(np.float32) * 1.0,
    "broadcast_to": lambda x: jnp.broadcast_to(x[0, 0], (3, 4)),
    "dynamic_index": lambda x: dj.lax.fori_loop(0, 2, lambda i, c: c + x[i], jnp.zeros((3, 4))),
}


@pytest.mark.parametrize("name", sorted(STRUCTURAL))
def test_structural(name):
    check_grads(STRUCTURAL[name], [positive((2, 3, 4))], order=2)


CONTRACTIONS = {
    "matmul": (lambda a, b: a @ b, (3, 4), (4, 2)),
    "matvec": (lambda a, b: a @ b, (3, 4), (4,)),
    "vecmat": (lambda a, b: jnp.matmul(a, b), (4,), (4, 2)),
    "batched": (lambda a, b: jnp.matmul(a, b), (2, 3, 4), (2, 4, 5)),
    "broadcast_batch": (lambda a, b: jnp.matmul(a, b), (2, 3, 4), (4, 5)),
    "dot": (jnp.dot, (4,), (4,)), "outer": (jnp.outer, (3,), (4,)),
    "tensordot": (lambda a, b: jnp.tensordot(a, b, axes=([1, 2], [0, 1])), (2, 3, 4), (3, 4, 2)),
    "einsum": (lambda a, b: jnp.einsum("bij,bjk->bik", a, b), (2, 3, 4), (2, 4, 5)),
    "einsum_trace_free": (lambda a, b: jnp.einsum("ij,kj->ik", a, b), (3, 4), (5, 4)),
}


@pytest.mark.parametrize("name", sorted(CONTRACTIONS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_contractions(name, dtype):
    f, sa, sb = CONTRACTIONS[name]
    check_grads(f, [normal(sa, dtype), normal(sb, dtype)], order=2 if dtype == np.float64 else 1)


@pytest.mark.parametrize("name", ["binary_cross_entropy_with_logits", "mse_loss",
                                  "cross_entropy_probs"])
def test_losses(name):
    logits = normal((4, 3))
    if name == "cross_entropy_probs":
        probs = dj.nn.softmax(normal((4, 3)))
        f = lambda z: dj.nn.cross_entropy(z, probs)  # noqa: E731
    else:
        target = positive((4, 3)) * 0.5
        f = lambda z: getattr(dj.nn, name)(z, target)  # noqa: E731
    check_grads(f, [logits], order=2)


def test_cross_entropy_with_integer_labels_matches_formula():
    z = normal((4, 3))
    labels = np.array([0, 2, 1, 2])
    g = dj.grad(lambda z: dj.nn.cross_entropy(z, labels))(z)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    p[np.arange(4), labels] -= 1
    np.testing.assert_allclose(g, p / 4, rtol=1e-10)


def test_every_primitive_has_derivative_rules():
    missing_jvp = [p.name for p in ir.registry.values()
                   if p not in jvp_rules and p not in zero_derivative]
    assert missing_jvp == []
    linear = ["add", "sub", "neg", "mul", "div", "convert_element_type", "broadcast_in_dim",
              "reduce_sum", "reshape", "transpose", "slice", "pad", "concatenate", "gather",
              "scatter_add", "dynamic_slice", "dynamic_update_slice", "select", "dot_general",
              "cond", "scan"]
    missing_transpose = [n for n in linear if ir.registry[n] not in transpose_rules]
    assert missing_transpose == [] and P.custom_lin_p in transpose_rules


def test_pad_and_scatter_and_dynamic_update_slice():
    from dualjit.ir import primitives as P
    from dualjit.tracer import bind

    def padded(x):
        return bind(P.pad_p, x, np.float64(0.0), padding_config=((1, -1, 1), (0, 2, 0)))

    check_grads(padded, [normal((3, 2))], order=1)

    def scatter(x, u):
        return bind(P.scatter_add_p, x, np.array([0, 2, 0]), u, axis=0)

    check_grads(scatter, [normal((3, 2)), normal((3, 2))], order=1)

    def update(x, u):
        return bind(P.dynamic_update_slice_p, x, u, np.int64(1), np.int64(0))

    check_grads(update, [normal((4, 2)), normal((2, 2))], order=1)
