"""JAX-style parameter initializers (jax.nn.initializers): each returns init(key, shape, dtype)
drawing from dualjit.random with that key. Default dtype float64 (as dj.random)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import numpy as jnp
from .. import random
from ..tracer.core import Tracer

Initializer = Callable[..., Any]
_DEFAULT = np.float64
# The standard deviation of a standard normal truncated to [-2, 2].
_TRUNCATED_STDDEV = 0.87962566103423978


def _shape(shape: Any) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)


def zeros(key: Any, shape: Any, dtype: Any = _DEFAULT) -> Any:
    return jnp.zeros(_shape(shape), dtype)


def ones(key: Any, shape: Any, dtype: Any = _DEFAULT) -> Any:
    return jnp.ones(_shape(shape), dtype)


def constant(value: Any, dtype: Any = _DEFAULT) -> Initializer:
    def init(key, shape, dtype=dtype):
        return jnp.full(_shape(shape), value, dtype)
    return init


def normal(stddev: float = 1e-2, dtype: Any = _DEFAULT) -> Initializer:
    def init(key, shape, dtype=dtype):
        return random.normal(key, _shape(shape), dtype) * np.asarray(stddev, dtype)
    return init


def uniform(scale: float = 1e-2, dtype: Any = _DEFAULT) -> Initializer:
    def init(key, shape, dtype=dtype):
        return random.uniform(key, _shape(shape), dtype, 0.0, scale)
    return init


def truncated_normal(stddev: float = 1e-2, dtype: Any = _DEFAULT, lower: float = -2.0,
                     upper: float = 2.0) -> Initializer:
    def init(key, shape, dtype=dtype):
        return random.truncated_normal(key, lower, upper, _shape(shape), dtype) * \
            np.asarray(stddev, dtype)
    return init


def _fans(shape: tuple[int, ...], in_axis: Any, out_axis: Any, batch_axis: Any
          ) -> tuple[float, float]:
    """(fan_in, fan_out): the in/out axis sizes times the receptive field (the other axes)."""
    if len(shape) <= 1:
        raise ValueError(f"initializer: cannot compute fans of shape {shape}: it needs at "
                         "least two axes")
    nd = len(shape)
    ins = [a % nd for a in (in_axis if isinstance(in_axis, Sequence) else (in_axis,))]
    outs = [a % nd for a in (out_axis if isinstance(out_axis, Sequence) else (out_axis,))]
    batch = [a % nd for a in (batch_axis if isinstance(batch_axis, Sequence) else (batch_axis,))]
    fan_in = math.prod(shape[a] for a in ins)
    fan_out = math.prod(shape[a] for a in outs)
    receptive = math.prod(shape) / fan_in / fan_out / math.prod(shape[a] for a in batch)
    return fan_in * receptive, fan_out * receptive


def variance_scaling(scale: float, mode: str, distribution: str, in_axis: Any = -2,
                     out_axis: Any = -1, batch_axis: Any = (), dtype: Any = _DEFAULT
                     ) -> Initializer:
    """Samples with variance scale / fan (fan_in, fan_out or their average, by mode), from a
    truncated normal, a normal or a uniform distribution."""
    if mode not in ("fan_in", "fan_out", "fan_avg"):
        raise ValueError(f"variance_scaling: mode must be fan_in, fan_out or fan_avg, got "
                         f"{mode!r}")
    if distribution not in ("truncated_normal", "normal", "uniform"):
        raise ValueError(f"variance_scaling: distribution must be truncated_normal, normal or "
                         f"uniform, got {distribution!r}")

    def init(key, shape, dtype=dtype):
        shape = _shape(shape)
        fan_in, fan_out = _fans(shape, in_axis, out_axis, batch_axis)
        denominator = {"fan_in": fan_in, "fan_out": fan_out,
                       "fan_avg": (fan_in + fan_out) / 2}[mode]
        variance = scale / denominator
        if distribution == "truncated_normal":
            stddev = math.sqrt(variance) / _TRUNCATED_STDDEV
            return random.truncated_normal(key, -2.0, 2.0, shape, dtype) * np.asarray(stddev,
                                                                                        dtype)
        if distribution == "normal":
            return random.normal(key, shape, dtype) * np.asarray(math.sqrt(variance), dtype)
        limit = math.sqrt(3 * variance)
        return random.uniform(key, shape, dtype, -limit, limit)
    return init


def glorot_uniform(in_axis: Any = -2, out_axis: Any = -1, batch_axis: Any = (),
                   dtype: Any = _DEFAULT) -> Initializer:
    return variance_scaling(1.0, "fan_avg", "uniform", in_axis, out_axis, batch_axis, dtype)


def glorot_normal(in_axis: Any = -2, out_axis: Any = -1, batch_axis: Any = (),
                  dtype: Any = _DEFAULT) -> Initializer:
    return variance_scaling(1.0, "fan_avg", "truncated_normal", in_axis, out_axis, batch_axis,
                            dtype)


def he_uniform(in_axis: Any = -2, out_axis: Any = -1, batch_axis: Any = (),
               dtype: Any = _DEFAULT) -> Initializer:
    return variance_scaling(2.0, "fan_in", "uniform", in_axis, out_axis, batch_axis, dtype)


def he_normal(in_axis: Any = -2, out_axis: Any = -1, batch_axis: Any = (),
              dtype: Any = _DEFAULT) -> Initializer:
    return variance_scaling(2.0, "fan_in", "truncated_normal", in_axis, out_axis, batch_axis,
                            dtype)


def lecun_uniform(in_axis: Any = -2, out_axis: Any = -1, batch_axis: Any = (),
                  dtype: Any = _DEFAULT) -> Initializer:
    return variance_scaling(1.0, "fan_in", "uniform", in_axis, out_axis, batch_axis, dtype)


def lecun_normal(in_axis: Any = -2, out_axis: Any = -1, batch_axis: Any = (),
                 dtype: Any = _DEFAULT) -> Initializer:
    return variance_scaling(1.0, "fan_in", "truncated_normal", in_axis, out_axis, batch_axis,
                            dtype)


xavier_uniform, xavier_normal = glorot_uniform, glorot_normal
kaiming_uniform, kaiming_normal = he_uniform, he_normal


def orthogonal(scale: float = 1.0, column_axis: int = -1, dtype: Any = _DEFAULT) -> Initializer:
    """A (scaled) matrix with orthonormal rows or columns along column_axis; leading axes of a
    larger shape are flattened into the rows."""
    def init(key, shape, dtype=dtype):
        shape = _shape(shape)
        if len(shape) < 2:
            raise ValueError(f"orthogonal initializer needs at least two axes, got {shape}")
        n_cols = shape[column_axis]
        n_rows = math.prod(shape) // n_cols
        tall = (max(n_rows, n_cols), min(n_rows, n_cols))
        q = _orthonormal_columns(random.normal(key, tall, dtype))
        if n_rows < n_cols:
            q = jnp.transpose(q)
        moved = list(shape)
        del moved[column_axis % len(shape)]
        q = jnp.reshape(q, tuple(moved) + (n_cols,))
        return jnp.moveaxis(q, -1, column_axis) * np.asarray(scale, dtype)
    return init


def _orthonormal_columns(a: Any) -> Any:
    """Q of a = QR with R's diagonal made positive (so Q is Haar-distributed)."""
    if isinstance(a, Tracer) and a.value is None:
        qr = getattr(getattr(jnp, "linalg", None), "qr", None)
        if qr is None:
            raise NotImplementedError("orthogonal initializer under jit needs "
                                      "dualjit.numpy.linalg.qr, which does not exist yet; "
                                      "call it outside jit")
        q, r = qr(a)
        return q * jnp.sign(jnp.diagonal(r))[None, :]
    a = np.asarray(a.value if isinstance(a, Tracer) else a)
    q, r = np.linalg.qr(a)
    return (q * np.sign(np.diagonal(r))[None, :]).astype(a.dtype)


__all__ = ["zeros", "ones", "constant", "normal", "uniform", "truncated_normal",
           "variance_scaling", "glorot_uniform", "glorot_normal", "xavier_uniform",
           "xavier_normal", "he_uniform", "he_normal", "kaiming_uniform", "kaiming_normal",
           "lecun_uniform", "lecun_normal", "orthogonal"]
