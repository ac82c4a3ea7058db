"""JAX-style activations and losses on arrays (traced or NumPy), with numerically stable derivatives."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import numpy as jnp
from ..ir import primitives as P
from ..lax import stop_gradient
from ..tracer.core import bind


def relu(x: Any) -> Any:
    """max(x, 0); its derivative at 0 is 0 (the subgradient PyTorch and JAX pick)."""
    return jnp.where(jnp.greater(x, 0), x, jnp.zeros_like(x))


def sigmoid(x: Any) -> Any:
    """1 / (1 + exp(-x)), stable on both tails (the logistic primitive)."""
    x = jnp.asarray(x) if not hasattr(x, "dtype") else x
    return bind(P.logistic_p, jnp.astype(x, jnp.result_type(x, 0.0)))


def softplus(x: Any) -> Any:
    """log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|))."""
    return jnp.maximum(x, 0.0) + jnp.log1p(jnp.exp(-jnp.abs(x)))


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """log(sum(exp(x))) shifted by the (gradient-free) maximum, so it never overflows."""
    m = stop_gradient(jnp.max(x, axis=axis, keepdims=True))
    m = jnp.where(jnp.isfinite(m), m, jnp.zeros_like(m))
    total = jnp.sum(jnp.exp(x - m), axis=axis, keepdims=True)
    out = jnp.log(total) + m
    return out if keepdims else jnp.squeeze(out, axis=axis)


def log_softmax(x: Any, axis: int = -1) -> Any:
    return x - logsumexp(x, axis=axis, keepdims=True)


def softmax(x: Any, axis: int = -1) -> Any:
    unnormalized = jnp.exp(x - stop_gradient(jnp.max(x, axis=axis, keepdims=True)))
    return unnormalized / jnp.sum(unnormalized, axis=axis, keepdims=True)


# ---------------------------------------------------------------------------------------------
# Values on concrete arrays: the same NumPy calls as the compositions above evaluated primitive
# by primitive (each primitive's value is a NumPy call: ir/primitives.py), in one buffer where
# the order of operands allows it, so the values are the same bit for bit. The eager layer
# (nn/functional.py, eager/tensor.py) passes them as apply_op's `fast`; what it records for
# autograd stays the composition.
# ---------------------------------------------------------------------------------------------

FAST_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def fast_operands(*arrays: np.ndarray) -> bool:
    """Whether the NumPy paths take these: arrays of one dtype, float32 or float64 (others
    promote or compute in another precision: the composition), neither 0-d (NumPy's calls
    give scalars there, which take no `out`) nor empty (the paths test "all elements" with
    reductions that have no identity)."""
    dt = arrays[0].dtype
    return dt in FAST_FLOATS and arrays[0].ndim > 0 and \
        all(a.dtype == dt and a.size for a in arrays)


def quiet(fn: Any) -> Any:
    """fn without NumPy's floating-point warnings (the primitives' values are IEEE's, silent)."""
    def run(*args: Any, **params: Any) -> Any:
        with np.errstate(all="ignore"):
            return fn(*args, **params)
    run.__name__ = run.__qualname__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


def np_sigmoid(x: np.ndarray) -> np.ndarray | None:
    """sigmoid's value (the logistic primitive's: e = exp(-|x|), 1 / (1 + e) where x >= 0,
    e / (1 + e) elsewhere; no step can warn); None for dtypes other than float32/float64."""
    if not fast_operands(x):
        return None
    e = negative_abs(x)
    np.exp(e, out=e)
    denominator = np.add(1, e)
    if np.minimum.reduce(x, axis=None) >= 0:  # (every x >= 0; a NaN minimum is not)
        return np.divide(1, denominator, out=denominator)
    nonnegative = np.greater_equal(x, 0)
    below = np.divide(e, denominator, out=e)
    if not nonnegative.any():
        return below
    return np.where(nonnegative, np.divide(1, denominator, out=denominator), below)


def negative_abs(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """-|x| in one call: both are sign-bit operations, so copysign(x, -1) gives the same bits
    (NaN's included)."""
    return np.copysign(x, -1.0, out=out)


def np_softplus_into(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """softplus(x) = max(x, 0) + log1p(exp(-|x|)) written into out (x's shape and dtype)."""
    negative_abs(x, out=out)
    np.exp(out, out=out)
    np.log1p(out, out=out)
    return np.add(np.maximum(x, 0.0), out, out=out)  # (this operand order: a NaN's sign)


@quiet
def np_log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray | None:
    """log_softmax's value: x - (log(sum(exp(x - m))) + m), m the maximum (0 where not finite)."""
    return log_softmax_values(x, axis) if fast_operands(x) else None


def log_softmax_values(x: np.ndarray, axis: int) -> np.ndarray:
    """np_log_softmax's value (warnings on: the caller's)."""
    m = np.maximum.reduce(x, axis=axis, keepdims=True)  # (x is not empty: the caller's)
    finite = np.isfinite(m)
    if not finite.all():
        m[~finite] = 0
    shifted = np.subtract(x, m)
    np.exp(shifted, out=shifted)
    lse = np.log(np.add.reduce(shifted, axis=axis, keepdims=True))
    np.add(lse, m, out=lse)
    return np.subtract(x, lse, out=shifted)


def np_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """softmax's value on a concrete array: the same operations in NumPy, in one pass of
    calls (the composition evaluated primitive by primitive cost ~50 us on 1,024 floats)."""
    unnormalized = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return unnormalized / np.sum(unnormalized, axis=axis, keepdims=True)


def binary_cross_entropy_with_logits(logits: Any, targets: Any) -> Any:
    """Mean of -[y log σ(z) + (1-y) log(1-σ(z))], computed stably from the logits z."""
    z = logits
    losses = jnp.maximum(z, 0.0) - z * targets + jnp.log1p(jnp.exp(-jnp.abs(z)))
    return jnp.mean(losses)


def cross_entropy(logits: Any, labels: Any) -> Any:
    """Mean softmax cross-entropy; labels are class indices (ints) or probabilities."""
    logp = log_softmax(logits, axis=-1)
    if jnp.result_type(labels).kind in "iu":
        n_classes = jnp.shape(logits)[-1]
        one_hot = jnp.equal(jnp.expand_dims(labels, -1), jnp.arange(n_classes))
        return -jnp.mean(jnp.sum(jnp.where(one_hot, logp, jnp.zeros_like(logp)), axis=-1))
    return -jnp.mean(jnp.sum(labels * logp, axis=-1))


def mse_loss(prediction: Any, target: Any) -> Any:
    return jnp.mean((prediction - target) ** 2)

