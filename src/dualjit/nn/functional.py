"""dualjit.nn.functional: torch.nn.functional on Tensors — activations, linear, normalization,
dropout, embedding and losses, each one recorded operation with a stable derivative."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from .. import lax
from .. import numpy as jnp
from ..eager import array_ops as A
from ..eager import kernels
from ..eager.tensor import (
    Tensor,
    apply_op,
    as_tensor_arg,
    make_tensor,
    native_steps,
    weak_operand,
    where,
)
from . import functions as nnf

# -- activations ----------------------------------------------------------------------------------


def relu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    out = input.relu()
    return input.copy_(out) if inplace else out


def relu6(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input: Tensor, negative_slope: float = 0.01,  # noqa: A002
               inplace: bool = False) -> Tensor:
    out = apply_op("LeakyReluBackward", _leaky_relu, [input], (("slope", float(negative_slope)),),
                   fast=_np_leaky_relu)
    return input.copy_(out) if inplace else out


def _leaky_relu(x, slope):
    return jnp.where(jnp.greater(x, 0), x, x * slope)


@nnf.quiet  # (x * slope can overflow for a slope above 1)
def _np_leaky_relu(x, slope):
    """x where x > 0, else x * slope. For a slope in (0, 1] that is max(x, x * slope) (x * slope
    lies between 0 and x, with x's sign, so no select: np.where costs ~10 ns an element on
    mixed signs), for a slope above 1 the min."""
    if not nnf.fast_operands(x):
        return None
    s = x.dtype.type(slope)
    if not s > 0:
        return _np_select(np.greater(x, 0), x, np.multiply(x, s))
    scaled = np.multiply(x, s)
    return (np.maximum if s <= 1 else np.minimum)(x, scaled, out=scaled)


def _np_select(condition, on_true, on_false):
    """np.where(condition, on_true, on_false) for on_false a fresh array of the result's shape
    and dtype, without the select where the condition never or always holds (on_false is
    returned, filled with on_true in the second case)."""
    if not condition.any():
        return on_false
    if condition.all():
        np.copyto(on_false, on_true)
        return on_false
    return np.where(condition, on_true, on_false)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    out = apply_op("EluBackward", _elu, [input], (("alpha", float(alpha)),), fast=_np_elu)
    return input.copy_(out) if inplace else out


def _elu(x, alpha):
    return jnp.where(jnp.greater(x, 0), x, alpha * A.expm1(jnp.minimum(x, 0.0)))


@nnf.quiet
def _np_elu(x, alpha):
    if not nnf.fast_operands(x):
        return None
    if np.minimum.reduce(x, axis=None) > 0:  # (every x > 0; a NaN minimum is not)
        return x.copy()
    negative = np.minimum(x, 0.0)
    np.expm1(negative, out=negative)
    np.multiply(alpha, negative, out=negative)
    return _np_select(np.greater(x, 0), x, negative)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,  # noqa: A002
             inplace: bool = False) -> Tensor:
    out = input.clamp(min_val, max_val)
    return input.copy_(out) if inplace else out


def sigmoid(input: Tensor) -> Tensor:  # noqa: A002
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:  # noqa: A002
    return input.tanh()


def logsigmoid(input: Tensor) -> Tensor:  # noqa: A002
    return apply_op("LogSigmoidBackward", _logsigmoid, [input], fast=_np_logsigmoid)


def _logsigmoid(x):
    return -nnf.softplus(-x)


def _np_logsigmoid(x):
    if not nnf.fast_operands(x):
        return None
    out = nnf.np_softplus_into(np.negative(x), np.empty_like(x))
    return np.negative(out, out=out)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002
    return apply_op("SoftplusBackward", _softplus, [input],
                    (("beta", float(beta)), ("threshold", float(threshold))), fast=_np_softplus)


def _softplus(x, beta, threshold):
    scaled = x * beta
    return jnp.where(jnp.greater(scaled, threshold), x, nnf.softplus(scaled) / beta)


@nnf.quiet
def _np_softplus(x, beta, threshold):
    """(x * 1 and y / 1 are x and y exactly, so beta = 1 skips them)"""
    if not nnf.fast_operands(x):
        return None
    scaled = x if beta == 1 else np.multiply(x, beta)
    out = nnf.np_softplus_into(scaled, np.empty_like(x))
    if beta != 1:
        np.divide(out, beta, out=out)
    if not np.fmax.reduce(scaled, axis=None) > threshold:  # (none above; fmax skips NaN)
        return out
    return _np_select(np.greater(scaled, threshold), x, out)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:  # noqa: A002
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return apply_op("GeluBackward", _gelu, [input], (("approximate", approximate),),
                    fast=_np_gelu)


def _gelu(x, approximate):
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1.0 + jnp.tanh(inner))
    return 0.5 * x * (1.0 + A.erf(x * (1.0 / math.sqrt(2.0))))


def _np_gelu(x, approximate):
    """The compiled kernel (eager/kernels.py), NumPy until it is ready."""
    return _gelu_kernels[approximate](x) if x.dtype.kind == "f" else None


def _numpy_gelu(x, approximate):
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1.0 + np.tanh(inner))
    return np.asarray(0.5 * x * (1.0 + A.erf_with(np, x * (1.0 / math.sqrt(2.0)))), x.dtype)


_gelu_kernels = kernels.gelu_kernels(_numpy_gelu)


def silu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    out = apply_op("SiluBackward", _silu, [input], fast=_np_silu)
    return input.copy_(out) if inplace else out


def _silu(x):
    return x * nnf.sigmoid(x)


@nnf.quiet  # (-inf * 0)
def _np_silu(x):
    s = nnf.np_sigmoid(x)
    return None if s is None else np.multiply(x, s, out=s)


def mish(input: Tensor) -> Tensor:  # noqa: A002
    return input * softplus(input).tanh()


def softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:  # noqa: A002
    return input.softmax(_softmax_dim(input, dim), dtype)


def log_softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:  # noqa: A002
    return input.log_softmax(_softmax_dim(input, dim), dtype)


def softmin(input: Tensor, dim: int | None = None) -> Tensor:  # noqa: A002
    return (-input).softmax(_softmax_dim(input, dim))


def _softmax_dim(input: Tensor, dim: int | None) -> int:
    if dim is not None:
        return int(dim)
    return 0 if input.ndim in (0, 1, 3) else 1  # (PyTorch's legacy implicit choice)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:  # noqa: A002
    return input / input.norm(p, dim=dim, keepdim=True).clamp_min(eps)


# -- layers as functions --------------------------------------------------------------------------

def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002
    """input @ weight.T + bias as one recorded operation."""
    if bias is None:
        return apply_op("MmBackward", _linear_no_bias, [input, weight], fast=_np_linear_no_bias)
    return apply_op("AddmmBackward", _linear, [input, weight, bias], fast=_np_linear)


def _linear(x, w, b):
    return _linear_no_bias(x, w) + b


def _np_linear(x, w, b):
    if x.ndim == 2 and x.shape[0] * w.size >= LINEAR_KERNEL_MIN_MACS and native_steps.enabled \
            and x.dtype.kind == "f" and x.dtype == w.dtype == b.dtype:
        return _linear_kernel()(x, w, b)
    out = A.np_matmul(x, w.T)
    out += b
    return out


# A layer with at least this many multiply-adds computes its value with a compiled kernel of
# _linear: its product is split over dualjit's own threads, whose chunks any thread takes
# from a shared counter (a descheduled helper delays one chunk), instead of OpenBLAS's threads,
# which spin while they wait. On a busy machine a product on two OpenBLAS threads took 10-20x
# its time (T2's 128x784x256 layer: an eager epoch at two threads under load 5 took 3.3 s
# with NumPy's product, 0.19 s with the kernel); on an idle one, OpenBLAS's worker spinning
# after the forward product competes with the backward kernel's helper for the second core.
LINEAR_KERNEL_MIN_MACS = 8_000_000


@functools.cache
def _linear_kernel():
    from ..jit import jit

    return jit(_linear)


def _linear_no_bias(x, w):
    # x contracted with w's axis 1 directly: gemm reads w transposed, so neither the forward
    # nor the weight's gradient materializes a transposed copy of the weight.
    dtype = jnp.result_type(x, w)
    x, w = jnp.asarray(x, dtype), jnp.asarray(w, dtype)
    return lax.dot_general(x, w, (((jnp.ndim(x) - 1,), (1,)), ((), ())))


def _np_linear_no_bias(x, w):
    return A.np_matmul(x, w.T)


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    from ..eager.functions import einsum

    out = einsum("bi,oij,bj->bo", input1, weight, input2)
    return out + bias if bias is not None else out


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None,  # noqa: A002
              max_norm: Any = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
              sparse: bool = False) -> Tensor:
    idx = input._value if isinstance(input, Tensor) else np.asarray(input)
    if padding_idx is not None:
        # The padding row gets no gradient: gather it from a copy outside the graph.
        rows = weight[idx]
        pad = make_tensor(np.asarray(idx == (padding_idx % weight.shape[0])))
        return where(pad.unsqueeze(-1), weight.detach()[idx], rows)
    return weight[idx]


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    idx = tensor._value
    n = int(idx.max()) + 1 if num_classes < 0 else int(num_classes)
    return make_tensor((idx[..., None] == np.arange(n)).astype(np.int64))


def dropout(input: Tensor, p: float = 0.5, training: bool = True,  # noqa: A002
            inplace: bool = False) -> Tensor:
    if p < 0 or p > 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0.0
    from ..compiler import dynamic_input
    from ..eager.factories import rng

    def draw():
        return ((rng().random(input.shape) >= p) / (1.0 - p)).astype(input.dtype)
    mask = dynamic_input(None, draw, input.shape, input.dtype)  # drawn afresh at every call
    out = input * make_tensor(mask)
    return input.copy_(out) if inplace else out


def layer_norm(input: Tensor, normalized_shape: Any, weight: Tensor | None = None,  # noqa: A002
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(input.shape[-len(shape):]) != shape:
        raise RuntimeError(f"layer_norm: expected input with shape [*, {', '.join(map(str, shape))}]"
                           f", but got input of size {list(input.shape)}")
    axes = tuple(range(input.ndim - len(shape), input.ndim))
    args = [input] + [t for t in (weight, bias) if t is not None]
    params = (("axes", axes), ("eps", float(eps)), ("affine", (weight is not None, bias is not None)))
    return apply_op("NativeLayerNormBackward", _layer_norm, args, params)


def _normalized(x, axes, eps):
    mean = jnp.mean(x, axis=axes, keepdims=True)
    centered = x - mean
    var = jnp.mean(centered * centered, axis=axes, keepdims=True)
    return centered * A.rsqrt(var + eps)


def _layer_norm(x, *wb, axes, eps, affine):
    out = _normalized(x, axes, eps)
    wb = list(wb)
    if affine[0]:
        out = out * wb.pop(0)
    if affine[1]:
        out = out + wb.pop(0)
    return out


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,  # noqa: A002
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalize over every dimension but the channels (dim 1); in training, update the
    running statistics in place (the variance unbiased, as PyTorch)."""
    axes = (0,) + tuple(range(2, input.ndim))
    view = [1, -1] + [1] * (input.ndim - 2)
    if training:
        n = int(np.prod([input.shape[a] for a in axes]))
        if n <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input "
                             f"size {list(input.shape)}")
        if running_mean is not None:
            from ..eager.tensor import no_grad

            with no_grad():
                mean = input.detach().mean(axes)
                var = input.detach().var(axes, unbiased=True)
                running_mean.mul_(1 - momentum).add_(mean * momentum)
                running_var.mul_(1 - momentum).add_(var * momentum)
        args = [input] + [t for t in (weight, bias) if t is not None]
        params = (("axes", axes), ("eps", float(eps)),
                  ("affine", (weight is not None, bias is not None)), ("view", tuple(view)))
        return apply_op("NativeBatchNormBackward", _batch_norm_train, args, params)
    out = (input - running_mean.reshape(view)) * (running_var.reshape(view) + eps).rsqrt()
    if weight is not None:
        out = out * weight.reshape(view)
    if bias is not None:
        out = out + bias.reshape(view)
    return out


def _batch_norm_train(x, *wb, axes, eps, affine, view):
    out = _normalized(x, axes, eps)
    wb = list(wb)
    if affine[0]:
        out = out * jnp.reshape(wb.pop(0), view)
    if affine[1]:
        out = out + jnp.reshape(wb.pop(0), view)
    return out


# -- losses ---------------------------------------------------------------------------------------

def _reduce(losses, reduction):
    if reduction == "mean":
        return jnp.mean(losses)
    if reduction == "sum":
        return jnp.sum(losses)
    return losses


def _check_reduction(reduction: str) -> str:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction (use 'mean', 'sum' "
                         "or 'none')")
    return reduction


def _target(target: Any, like: Tensor) -> Any:
    t = weak_operand(target, like._value)
    if isinstance(t, Tensor) and t.shape != like.shape:
        import warnings

        warnings.warn(f"Using a target size ({t.shape}) that is different to the input size "
                      f"({like.shape}). This will likely lead to incorrect results due to "
                      "broadcasting. Please ensure they have the same size.", UserWarning,
                      stacklevel=3)
    return t


def mse_loss(input: Tensor, target: Any, size_average: Any = None, reduce: Any = None,  # noqa: A002
             reduction: str = "mean") -> Tensor:
    return apply_op("MseLossBackward", _mse, [input, _target(target, input)],
                    (("reduction", _check_reduction(reduction)),), fast=_np_mse)


def _mse(x, y, reduction):
    d = x - y
    return _reduce(d * d, reduction)


def _np_reduce(losses, reduction):
    if reduction == "none":
        return losses
    total = np.add.reduce(losses, axis=None)
    return total / losses.dtype.type(losses.size) if reduction == "mean" else total


def _np_mse(x, y, reduction):
    if x.dtype != y.dtype:
        return None
    d = x - y
    return _np_reduce(d * d, reduction)


def l1_loss(input: Tensor, target: Any, size_average: Any = None, reduce: Any = None,  # noqa: A002
            reduction: str = "mean") -> Tensor:
    return apply_op("L1LossBackward", _l1, [input, _target(target, input)],
                    (("reduction", _check_reduction(reduction)),), fast=_np_l1)


def _l1(x, y, reduction):
    return _reduce(jnp.abs(x - y), reduction)


def _np_l1(x, y, reduction):
    return _np_reduce(np.abs(x - y), reduction) if x.dtype == y.dtype else None


def smooth_l1_loss(input: Tensor, target: Any, size_average: Any = None,  # noqa: A002
                   reduce: Any = None, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    return apply_op("SmoothL1LossBackward", _smooth_l1, [input, _target(target, input)],
                    (("reduction", _check_reduction(reduction)), ("beta", float(beta))),
                    fast=_np_smooth_l1)


def _smooth_l1(x, y, reduction, beta):
    d = jnp.abs(x - y)
    if beta == 0:
        return _reduce(d, reduction)
    return _reduce(jnp.where(jnp.less(d, beta), 0.5 * d * d / beta, d - 0.5 * beta), reduction)


@nnf.quiet
def _np_smooth_l1(x, y, reduction, beta):
    if not nnf.fast_operands(x, y):
        return None
    d = np.subtract(x, y)
    np.abs(d, out=d)
    if beta == 0:
        return _np_reduce(d, reduction)
    quadratic = np.multiply(0.5, d)
    np.multiply(quadratic, d, out=quadratic)
    if beta != 1:  # (y / 1 is y)
        np.divide(quadratic, beta, out=quadratic)
    if np.maximum.reduce(d, axis=None) < beta:  # (every d < beta; a NaN maximum is not)
        return _np_reduce(quadratic, reduction)
    return _np_reduce(_np_select(np.less(d, beta), quadratic, np.subtract(d, 0.5 * beta)),
                      reduction)


def huber_loss(input: Tensor, target: Any, reduction: str = "mean",  # noqa: A002
               delta: float = 1.0, weight: Any = None) -> Tensor:
    return apply_op("HuberLossBackward", _huber, [input, _target(target, input)],
                    (("reduction", _check_reduction(reduction)), ("delta", float(delta))),
                    fast=_np_huber)


def _huber(x, y, reduction, delta):
    d = jnp.abs(x - y)
    return _reduce(jnp.where(jnp.less(d, delta), 0.5 * d * d, delta * (d - 0.5 * delta)),
                   reduction)


@nnf.quiet
def _np_huber(x, y, reduction, delta):
    if not nnf.fast_operands(x, y):
        return None
    d = np.subtract(x, y)
    np.abs(d, out=d)
    quadratic = np.multiply(0.5, d)
    np.multiply(quadratic, d, out=quadratic)
    if np.maximum.reduce(d, axis=None) < delta:  # (every d < delta; a NaN maximum is not)
        return _np_reduce(quadratic, reduction)
    linear = np.subtract(d, 0.5 * delta)  # (0.5 * delta in Python's float64, as the composition)
    np.multiply(delta, linear, out=linear)
    return _np_reduce(_np_select(np.less(d, delta), quadratic, linear), reduction)


def binary_cross_entropy(input: Tensor, target: Any, weight: Any = None,  # noqa: A002
                         size_average: Any = None, reduce: Any = None,
                         reduction: str = "mean") -> Tensor:
    """-(y log x + (1 - y) log(1 - x)), each log clamped at -100 as PyTorch does."""
    args = [input, _target(target, input)] + ([weak_operand(weight, input._value)]
                                              if weight is not None else [])
    if isinstance(input._value, np.ndarray) and ((input._value < 0) | (input._value > 1)).any():
        raise RuntimeError("all elements of input should be between 0 and 1")
    return apply_op("BinaryCrossEntropyBackward", _bce, args,
                    (("reduction", _check_reduction(reduction)),), fast=_np_bce)


def _bce(x, y, *weight, reduction):
    log_x = jnp.maximum(jnp.log(x), -100.0)
    log_1mx = jnp.maximum(A.log1p(-x), -100.0)
    losses = -(y * log_x + (1.0 - y) * log_1mx)
    if weight:
        losses = losses * weight[0]
    return _reduce(losses, reduction)


@nnf.quiet
def _np_bce(x, y, *weight, reduction):
    if not nnf.fast_operands(x, y, *weight) or x.shape != y.shape:
        return None
    log_x = np.log(x)
    np.maximum(log_x, -100.0, out=log_x)
    log_1mx = np.negative(x)
    np.log1p(log_1mx, out=log_1mx)
    np.maximum(log_1mx, -100.0, out=log_1mx)
    losses = np.multiply(y, log_x, out=log_x)
    np.multiply(np.subtract(1.0, y), log_1mx, out=log_1mx)
    np.add(losses, log_1mx, out=losses)
    np.negative(losses, out=losses)
    if weight:
        losses = losses * weight[0]
    return _np_reduce(losses, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Any, weight: Any = None,  # noqa: A002
                                     size_average: Any = None, reduce: Any = None,
                                     reduction: str = "mean", pos_weight: Any = None) -> Tensor:
    extra = [w for w in (weight, pos_weight) if w is not None]
    args = [input, _target(target, input)] + [weak_operand(w, input._value) for w in extra]
    params = (("reduction", _check_reduction(reduction)),
              ("has", (weight is not None, pos_weight is not None)))
    return apply_op("BinaryCrossEntropyWithLogitsBackward", _bce_logits, args, params,
                    fast=_np_bce_logits)


def _bce_logits(z, y, *extra, reduction, has):
    extra = list(extra)
    weight = extra.pop(0) if has[0] else None
    pos_weight = extra.pop(0) if has[1] else None
    log1p_exp = A.log1p(jnp.exp(-jnp.abs(z))) + jnp.maximum(-z, 0.0)  # log(1 + e^-z), stable
    if pos_weight is None:
        losses = (1.0 - y) * z + log1p_exp
    else:
        losses = (1.0 - y) * z + (1.0 + (pos_weight - 1.0) * y) * log1p_exp
    if weight is not None:
        losses = losses * weight
    return _reduce(losses, reduction)


@nnf.quiet
def _np_bce_logits(z, y, *extra, reduction, has):
    if not nnf.fast_operands(z, y, *extra) or z.shape != y.shape:
        return None
    extra = list(extra)
    weight = extra.pop(0) if has[0] else None
    pos_weight = extra.pop(0) if has[1] else None
    log1p_exp = nnf.negative_abs(z)
    np.exp(log1p_exp, out=log1p_exp)
    np.log1p(log1p_exp, out=log1p_exp)
    np.add(log1p_exp, np.maximum(np.negative(z), 0.0), out=log1p_exp)
    if pos_weight is not None:
        scale = np.multiply(np.subtract(pos_weight, 1.0), y)
        np.add(1.0, scale, out=scale)
        log1p_exp = np.multiply(scale, log1p_exp)  # (pos_weight may broadcast wider)
    losses = np.subtract(1.0, y)
    np.multiply(losses, z, out=losses)
    losses = np.add(losses, log1p_exp, out=losses if losses.shape == log1p_exp.shape else None)
    if weight is not None:
        losses = losses * weight
    return _np_reduce(losses, reduction)


def _class_axis_last(x):
    nd = len(x.shape)
    return x if nd <= 2 else jnp.moveaxis(x, 1, -1)


def nll_loss(input: Tensor, target: Any, weight: Any = None, size_average: Any = None,  # noqa: A002
             ignore_index: int = -100, reduce: Any = None, reduction: str = "mean") -> Tensor:
    labels = _labels(target, input, ignore_index)
    args = [input, labels] + ([as_tensor_arg(weight)] if weight is not None else [])
    params = (("reduction", _check_reduction(reduction)), ("ignore_index", int(ignore_index)),
              ("smoothing", 0.0), ("logits", False))
    return apply_op("NllLossBackward", _class_loss, args, params, fast=_np_nll)


def cross_entropy(input: Tensor, target: Any, weight: Any = None, size_average: Any = None,  # noqa: A002
                  ignore_index: int = -100, reduce: Any = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """log_softmax over dim 1 (the class dimension) then NLL, with class-index targets
    (ignore_index, weight, label_smoothing) or class-probability targets."""
    reduction = _check_reduction(reduction)
    t = target._value if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind == "f":  # probabilities
        args = [input, weak_operand(target, input._value)] + (
            [as_tensor_arg(weight)] if weight is not None else [])
        params = (("reduction", reduction), ("smoothing", float(label_smoothing)))
        return apply_op("CrossEntropyBackward", _soft_cross_entropy, args, params,
                        fast=_np_soft_cross_entropy)
    args = [input, _labels(target, input, ignore_index)] + (
        [as_tensor_arg(weight)] if weight is not None else [])
    params = (("reduction", reduction), ("ignore_index", int(ignore_index)),
              ("smoothing", float(label_smoothing)), ("logits", True))
    return apply_op("CrossEntropyBackward", _class_loss, args, params, fast=_np_class_loss)


def _labels(target: Any, input: Tensor, ignore_index: int) -> Any:  # noqa: A002
    t = target._value if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind not in "iu":
        raise RuntimeError(f"expected scalar type Long for the target but found {t.dtype}")
    shape = tuple(input._value.shape)
    expected = shape[:1] + shape[2:] if len(shape) >= 2 else ()
    if tuple(t.shape) != expected:
        raise ValueError(f"Expected target of shape {expected} for input of shape "
                         f"{shape}, got {tuple(t.shape)}")
    if isinstance(t, np.ndarray):
        labels = t.astype(np.int64)  # (a copy: the graph keeps it; later writes to t don't reach it)
        if labels.size:
            _check_label_range(labels, shape[1] if len(shape) >= 2 else shape[0], ignore_index)
        return labels
    return t


def _check_label_range(labels: np.ndarray, n_classes: int, ignore_index: int) -> None:
    """PyTorch's error for a class index outside [0, n_classes) that is not ignore_index (a
    one-hot of it would be all zeros: a silently wrong loss). `labels`: int64."""
    # One reduction checks both ends: read as unsigned, a negative label exceeds any count.
    if int(np.maximum.reduce(labels.view(np.uint64), axis=None)) < n_classes:
        return
    bad = labels[((labels < 0) | (labels >= n_classes)) & (labels != ignore_index)]
    if bad.size:
        raise IndexError(f"Target {int(bad.flat[0])} is out of bounds (the input has "
                         f"{n_classes} classes; ignore_index is {ignore_index}).")


def _class_loss(x, labels, *weight, reduction, ignore_index, smoothing, logits):
    logp = _class_axis_last(x)
    if logits:
        logp = nnf.log_softmax(logp, axis=-1)
    n_classes = logp.shape[-1]
    keep = jnp.not_equal(labels, ignore_index)
    one_hot = jnp.equal(jnp.expand_dims(jnp.where(keep, labels, 0), -1), jnp.arange(n_classes))
    w = weight[0] if weight else None
    picked = jnp.sum(jnp.where(one_hot, logp, jnp.zeros_like(logp)), axis=-1)
    w_label = jnp.sum(jnp.where(one_hot, w, jnp.zeros_like(logp)), axis=-1) \
        if w is not None else jnp.ones_like(picked)
    w_label = jnp.where(keep, w_label, jnp.zeros_like(w_label))
    losses = -w_label * picked
    if smoothing:
        smooth = -jnp.sum(logp * w if w is not None else logp, axis=-1) / n_classes
        smooth = jnp.where(keep, smooth, jnp.zeros_like(smooth))
        losses = (1.0 - smoothing) * losses + smoothing * smooth
    if reduction == "mean":
        # every target ignored (or of weight 0): the loss is 0/0 = NaN, its gradient 0 (as
        # PyTorch's, which zeroes ignored entries), not 0 * inf = NaN through the division
        total = jnp.sum(w_label)
        empty = jnp.equal(total, 0)
        mean = jnp.sum(losses) / jnp.where(empty, jnp.ones_like(total), total)
        return jnp.where(empty, jnp.full_like(mean, np.nan), mean)
    return _reduce(losses, reduction)


@nnf.quiet
def _np_nll(x, labels, *weight, reduction, ignore_index, smoothing, logits):
    """nll_loss's value for 2-D log-probabilities of at least 2 classes without weights, as
    _class_loss gives it: each row's sum of its one-hot selection is the picked value plus
    zeros, that is picked + 0.0 (-0.0 becomes 0.0); an ignored row picks column 0 and is
    weighted by -0.0 (so an infinite or NaN entry there still gives NaN, as the composition)."""
    if weight or x.ndim != 2 or x.shape[1] < 2 or not nnf.fast_operands(x) or \
            labels.dtype != np.int64:
        return None
    n = x.shape[0]
    keep = np.not_equal(labels, ignore_index)
    every = bool(np.logical_and.reduce(keep, axis=None)) and n < 2 ** 24
    picked = x[_row_starts(n, 1), labels if every else np.where(keep, labels, 0)]
    np.add(picked, 0.0, out=picked)
    if every:  # (weights all 1: -1 * picked, and their sum is n exactly)
        losses, total = np.multiply(picked, -1.0, out=picked), x.dtype.type(n)
    else:
        weights = keep.astype(x.dtype)
        losses = np.multiply(np.negative(weights), picked, out=picked)
        total = np.add.reduce(weights, axis=None)
    if reduction == "mean":
        if total == 0:  # (every target ignored: 0 / 0)
            return np.full((), np.nan, x.dtype)
        return np.asarray(np.add.reduce(losses, axis=None) / total, x.dtype)
    return _np_reduce(losses, reduction)


def _np_class_loss(x, labels, *weight, reduction, ignore_index, smoothing, logits):
    """The value of the common case (2-D logits, no weight, no smoothing): a compiled kernel
    of _class_loss from LOSS_KERNEL_MIN_ELEMENTS logits on, NumPy below."""
    if weight or smoothing or x.ndim != 2 or not logits or x.dtype.kind != "f":
        return None
    n, n_classes = x.shape
    if n * n_classes >= LOSS_KERNEL_MIN_ELEMENTS and native_steps.enabled and \
            x.dtype in _KERNEL_FLOATS and labels.dtype == np.int64:
        return _class_loss_kernel(reduction, int(ignore_index))(x, labels)
    keep = labels != ignore_index  # (labels are in range or ignore_index: _labels checked)
    every = bool(np.logical_and.reduce(keep, axis=None))
    picked = labels if every else np.where(keep, labels, 0)
    losses = (_np_log_softmax_picked_few if n_classes <= FEW_CLASSES <= n else
              _np_log_softmax_picked)(x, picked)
    if not every:
        losses = np.where(keep, losses, x.dtype.type(0))
    if reduction == "mean":
        count = n if every else int(np.count_nonzero(keep))
        return np.asarray(np.add.reduce(losses) / x.dtype.type(count), x.dtype)
    return _np_reduce(losses, reduction)


# From this many logits on, the loss's value is one compiled kernel (the recorded
# _class_loss), compiled once per shape (~25 ms): a training loop's loss runs between large
# products that have evicted the caches, where the ~8 NumPy calls of the value touch more
# memory than one kernel call (T2's 128x10 after an 8 MB stream: 46 against 30 us; hot 20
# against 15). Below, NumPy: no compile for the many small shapes of tests and scripts.
LOSS_KERNEL_MIN_ELEMENTS = 1024
_KERNEL_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


@functools.cache
def _class_loss_kernel(reduction: str, ignore_index: int):
    from ..jit import jit

    return jit(functools.partial(_class_loss, reduction=reduction, ignore_index=ignore_index,
                                 smoothing=0.0, logits=True))


# At most this many classes (and at least as many rows), the NumPy loss works on the logits
# transposed: its row maxima and sums become reductions over the first axis, which NumPy
# vectorizes across rows (T2's 128x10: 13 against 21 us; along short rows each reduction
# costs 4-6 us).
FEW_CLASSES = 32


def _np_log_softmax_picked(x, labels):
    """-log_softmax(x)[i, labels[i]] for each row i of a 2-D x."""
    n, n_classes = x.shape
    shifted = x - np.maximum.reduce(x, axis=1, keepdims=True)
    logz = np.log(np.add.reduce(np.exp(shifted), axis=1))
    # each row's label as a flat index into the (fresh, C-ordered) shifted values
    return logz - shifted.ravel()[_row_starts(n, n_classes) + labels]


def _np_log_softmax_picked_few(x, labels):
    """_np_log_softmax_picked for few classes, on a transposed copy (classes x rows)."""
    n = x.shape[0]
    shifted = x.T.copy()
    shifted -= np.maximum.reduce(shifted, axis=0)
    logz = np.log(np.add.reduce(np.exp(shifted), axis=0))
    return logz - shifted.ravel()[labels * n + _row_starts(n, 1)]


@functools.lru_cache(maxsize=16)
def _row_starts(n: int, n_classes: int) -> np.ndarray:
    starts = np.arange(0, n * n_classes, n_classes)
    starts.flags.writeable = False
    return starts


def _soft_cross_entropy(x, probs, *weight, reduction, smoothing):
    logp = nnf.log_softmax(_class_axis_last(x), axis=-1)
    p = _class_axis_last(probs)
    n_classes = logp.shape[-1]
    if smoothing:
        p = p * (1.0 - smoothing) + smoothing / n_classes
    terms = logp * p if not weight else logp * p * weight[0]
    losses = -jnp.sum(terms, axis=-1)
    if reduction == "mean":
        return jnp.sum(losses) / (int(np.prod(losses.shape)) or 1)
    return _reduce(losses, reduction)


@nnf.quiet
def _np_soft_cross_entropy(x, probs, *weight, reduction, smoothing):
    """_soft_cross_entropy's value for 1-D and 2-D logits (more dimensions move the class axis
    last: the composition's strided layout, kept there)."""
    if x.ndim > 2 or x.size == 0 or x.shape != probs.shape or \
            not nnf.fast_operands(x, probs, *weight):
        return None
    terms = nnf.log_softmax_values(x, -1)
    p = probs
    if smoothing:
        p = np.multiply(p, 1.0 - smoothing)
        np.add(p, smoothing / x.shape[-1], out=p)
    np.multiply(terms, p, out=terms)
    if weight:
        terms = terms * weight[0]
    losses = np.add.reduce(terms, axis=-1)
    losses = np.negative(losses, out=losses if type(losses) is np.ndarray else None)
    if reduction == "mean":
        return np.divide(np.add.reduce(losses, axis=None), np.size(losses))
    return _np_reduce(np.asarray(losses), reduction)


def kl_div(input: Tensor, target: Any, size_average: Any = None, reduce: Any = None,  # noqa: A002
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    t = as_tensor_arg(target)
    pointwise = (t.exp() * (t - input)) if log_target else where(
        t > 0, t * (t.clamp_min(1e-300).log() - input), 0.0 * input)
    if reduction == "batchmean":
        return pointwise.sum() / input.shape[0]
    return {"mean": pointwise.mean, "sum": pointwise.sum}.get(reduction, lambda: pointwise)()


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    num = (x1 * x2).sum(dim)
    return num / (x1.norm(dim=dim) * x2.norm(dim=dim)).clamp_min(eps)


def pad(input: Tensor, pad: Any, mode: str = "constant", value: float = 0.0) -> Tensor:  # noqa: A002
    if mode != "constant":
        raise NotImplementedError(f"pad: mode {mode!r} is not supported (use 'constant')")
    out = input
    for i in range(len(pad) // 2):
        d = input.ndim - 1 - i
        before, after = int(pad[2 * i]), int(pad[2 * i + 1])
        from ..eager.factories import full
        from ..eager.functions import cat

        shape = list(out.shape)
        parts = []
        if before:
            shape[d] = before
            parts.append(full(tuple(shape), value, dtype=out.dtype))
        parts.append(out)
        if after:
            shape[d] = after
            parts.append(full(tuple(shape), value, dtype=out.dtype))
        out = cat(parts, d)
    return out


__all__ = [name for name in dir() if not name.startswith("_") and name not in (
    "annotations", "math", "np", "jnp", "A", "Any", "Tensor", "apply_op", "as_tensor_arg",
    "where", "nnf")]


# speed area: convolution and pooling (nn/convolution.py)
from .convolution import (  # noqa: E402, F401
    avg_pool1d,
    avg_pool2d,
    conv1d,
    conv2d,
    max_pool1d,
    max_pool2d,
)
