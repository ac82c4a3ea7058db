"""JAX-style activation functions and array utilities (jax.nn): gelu, silu, elu, selu, one_hot, ..."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import numpy as jnp
from .functions import sigmoid, softplus


def _float(x: Any) -> Any:
    x = jnp.asarray(x)
    return x if jnp.result_type(x).kind == "f" else jnp.astype(x, np.float64)


def relu6(x: Any) -> Any:
    """min(max(x, 0), 6); the derivative is 0 at 0 and at 6 (as relu's at 0)."""
    x = _float(x)
    return jnp.where(jnp.greater(x, 0), jnp.where(jnp.less(x, 6), x, 6.0), 0.0)


def hard_tanh(x: Any) -> Any:
    """x clipped to [-1, 1]."""
    x = _float(x)
    return jnp.where(x > 1, 1.0, jnp.where(x < -1, -1.0, x))


def leaky_relu(x: Any, negative_slope: float = 1e-2) -> Any:
    x = _float(x)
    return jnp.where(x >= 0, x, negative_slope * x)


def elu(x: Any, alpha: float = 1.0) -> Any:
    """x for x > 0, alpha (exp(x) - 1) below (exp never sees large positive x)."""
    x = _float(x)
    safe = jnp.where(x > 0, 0.0, x)
    return jnp.where(x > 0, x, alpha * jnp.expm1(safe))


def celu(x: Any, alpha: float = 1.0) -> Any:
    x = _float(x)
    return jnp.maximum(x, 0.0) + alpha * jnp.expm1(jnp.minimum(x, 0.0) / alpha)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x: Any) -> Any:
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


def _erf(x: Any) -> Any:
    erf = getattr(jnp, "erf", None)
    if erf is not None:
        return erf(x)
    from ..eager.array_ops import erf_with  # (until dualjit.numpy has erf)

    return erf_with(jnp, x)


def gelu(x: Any, approximate: bool = True) -> Any:
    """x Φ(x); approximate=True (JAX's default) uses the tanh form."""
    x = _float(x)
    if approximate:
        c = math.sqrt(2 / math.pi)
        return 0.5 * x * (1.0 + jnp.tanh(c * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2)))


def silu(x: Any) -> Any:
    """x sigmoid(x) (also called swish)."""
    x = _float(x)
    return x * sigmoid(x)


swish = silu


def log_sigmoid(x: Any) -> Any:
    return -softplus(-_float(x))


def hard_sigmoid(x: Any) -> Any:
    return relu6(_float(x) + 3.0) / 6.0


def hard_silu(x: Any) -> Any:
    x = _float(x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def soft_sign(x: Any) -> Any:
    x = _float(x)
    return x / (jnp.abs(x) + 1.0)


def mish(x: Any) -> Any:
    x = _float(x)
    return x * jnp.tanh(softplus(x))


def glu(x: Any, axis: int = -1) -> Any:
    """Gated linear unit: the first half of x along `axis` times sigmoid of the second."""
    x = _float(x)
    n = jnp.shape(x)[axis]
    if n % 2:
        raise ValueError(f"glu: axis {axis} has odd size {n}; it must split into two halves")
    a, b = jnp.split(x, 2, axis=axis)
    return a * sigmoid(b)


def one_hot(x: Any, num_classes: int, dtype: Any = np.float64, axis: int = -1) -> Any:
    """x's integer classes as one-hot vectors along a new axis (out-of-range classes: zeros)."""
    x = jnp.asarray(x)
    nd = jnp.ndim(x) + 1
    axis = axis % nd
    classes = jnp.reshape(jnp.arange(num_classes), (num_classes,) + (1,) * (nd - 1 - axis))
    return jnp.astype(jnp.equal(jnp.expand_dims(x, axis), classes), dtype)


def standardize(x: Any, axis: Any = -1, mean: Any = None, variance: Any = None,
                epsilon: float = 1e-5) -> Any:
    """(x - mean) / sqrt(variance + epsilon), the moments taken along `axis` unless given."""
    x = _float(x)
    if mean is None:
        mean = jnp.mean(x, axis=axis, keepdims=True)
    if variance is None:
        variance = jnp.mean(jnp.square(x - mean), axis=axis, keepdims=True)
    return (x - mean) / jnp.sqrt(variance + epsilon)


normalize = standardize

__all__ = ["relu6", "hard_tanh", "leaky_relu", "elu", "celu", "selu", "gelu", "silu", "swish",
           "log_sigmoid", "hard_sigmoid", "hard_silu", "hard_swish", "soft_sign", "mish", "glu",
           "one_hot", "standardize", "normalize"]
