"""Convolution and pooling for models, channels first (N, C, spatial...) as PyTorch:
`conv`, `max_pool`, `avg_pool` on arrays and traced values (dualjit.nn.conv ...), and the
torch.nn.functional spellings on Tensors (conv1d, conv2d, max_pool1d/2d, avg_pool1d/2d).
The modules (Conv2d ...) are in conv_layers.py."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import lax_conv
from ..ir import primitives as P
from ..ir import window_impl
from ..tracer.core import bind

# ---------------------------------------------------------------------------------------------
# On arrays and traced values
# ---------------------------------------------------------------------------------------------


def _tuple(value: Any, count: int, name: str) -> tuple[int, ...]:
    values = (value,) * count if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != count:
        raise ValueError(f"{name} needs {count} values for {count} spatial dimensions, "
                         f"got {value!r}")
    return tuple(int(v) for v in values)


def _conv_padding(padding: Any, nsp: int) -> Any:
    if isinstance(padding, str):
        if padding.lower() not in ("same", "valid"):
            raise ValueError(f"padding must be 'same', 'valid', an int or a tuple, "
                             f"got {padding!r}")
        return padding.upper()
    return tuple((p, p) for p in _tuple(padding, nsp, "padding"))


def conv(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
         dilation: Any = 1, groups: int = 1) -> Any:
    """PyTorch's convolution: x (N, C, spatial...), weight (O, C / groups, kernel...)."""
    nsp = np.ndim(weight) - 2
    if np.ndim(x) != nsp + 2:
        raise ValueError(f"conv: input of shape {np.shape(x)} does not match a weight of "
                         f"shape {np.shape(weight)} (expected (N, C, {nsp} spatial sizes))")
    stride = _tuple(stride, nsp, "stride")
    pad = _conv_padding(padding, nsp)
    if pad == "SAME" and stride != (1,) * nsp:
        raise ValueError("conv: padding='same' is not supported for strided convolutions "
                         "(as PyTorch); give the padding explicitly")
    out = lax_conv.conv_general_dilated(x, weight, stride, pad,
                                        rhs_dilation=_tuple(dilation, nsp, "dilation"),
                                        feature_group_count=groups)
    if bias is None:
        return out
    shape = (1, -1) + (1,) * nsp
    from .. import numpy as jnp

    return out + jnp.reshape(bias, shape)


def _pool_params(x: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
                 nsp: int, name: str) -> dict:
    """Window parameters over (N, C, spatial...) or (C, spatial...) inputs."""
    lead = np.ndim(x) - nsp
    if lead not in (1, 2):
        raise ValueError(f"{name}: expected a {nsp + 1}-D or {nsp + 2}-D input, got shape "
                         f"{np.shape(x)}")
    kernel = _tuple(kernel_size, nsp, "kernel_size")
    stride = kernel if stride is None or stride == () else _tuple(stride, nsp, "stride")
    pad = _tuple(padding, nsp, "padding")
    if any(2 * p > k for p, k in zip(pad, kernel)):
        raise ValueError(f"{name}: padding {pad} should be at most half of kernel_size "
                         f"{kernel}")
    return dict(window_dimensions=(1,) * lead + kernel, window_strides=(1,) * lead + stride,
                padding=((0, 0),) * lead + tuple((p, p) for p in pad),
                base_dilation=(1,) * np.ndim(x),
                window_dilation=(1,) * lead + _tuple(dilation, nsp, "dilation"))


def max_pool(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
             dilation: Any = 1, spatial_dims: int = 2) -> Any:
    """The maximum of each window (padding never wins); the gradient goes to the first
    maximum of each window."""
    params = _pool_params(x, kernel_size, stride, padding, dilation, spatial_dims, "max_pool")
    return bind(P.reduce_window_max_p, x, **params)


def avg_pool(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
             count_include_pad: bool = True, spatial_dims: int = 2) -> Any:
    """The mean of each window; with count_include_pad=False, of its non-padding elements."""
    params = _pool_params(x, kernel_size, stride, padding, 1, spatial_dims, "avg_pool")
    total = bind(P.reduce_window_sum_p, x, **params)
    dtype = np.dtype(_dtype(x))
    if count_include_pad:
        return total / dtype.type(math.prod(params["window_dimensions"]))
    counts = window_impl.reduce_window_sum(np.ones(np.shape(x), dtype), **params)
    return total / counts


def _dtype(x: Any) -> Any:
    return x.aval.dtype.np if hasattr(x, "aval") else np.asarray(x).dtype


# ---------------------------------------------------------------------------------------------
# torch.nn.functional spellings on Tensors
# ---------------------------------------------------------------------------------------------

def _tensor_conv(nsp: int, name: str):
    def fn(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
        from ..eager.tensor import apply_op

        if input.ndim == nsp + 1:  # unbatched (C, spatial...)
            return fn(input.unsqueeze(0), weight, bias, stride, padding, dilation,
                      groups).squeeze(0)
        if input.ndim != nsp + 2:
            raise ValueError(f"{name}: expected a {nsp + 1}-D or {nsp + 2}-D input, got shape "
                             f"{tuple(input.shape)}")
        params = (("stride", _key(stride)), ("padding", _key(padding)),
                  ("dilation", _key(dilation)), ("groups", int(groups)))
        args = [input, weight] + ([] if bias is None else [bias])
        return apply_op("ConvolutionBackward0", conv, args, params)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"torch.nn.functional.{name}: input (N, C, ...), weight (O, C / groups, ...)"
    return fn


conv1d = _tensor_conv(1, "conv1d")
conv2d = _tensor_conv(2, "conv2d")


def _key(value: Any) -> Any:
    """A hashable spelling of an int-or-tuple argument (operation parameters are cache keys)."""
    return value if value is None or isinstance(value, (int, str)) else tuple(value)


def _no_ceil_mode(name: str, ceil_mode: bool) -> None:
    if ceil_mode:
        raise NotImplementedError(f"{name}: ceil_mode=True is not supported; pad the input "
                                  "(dualjit.nn.functional.pad) or use ceil_mode=False")


def _tensor_max_pool(nsp: int, name: str):
    def pool(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
             return_indices=False):
        from ..eager.tensor import apply_op

        _no_ceil_mode(name, ceil_mode)
        if return_indices:
            raise NotImplementedError(f"{name}: return_indices=True is not supported")
        params = (("kernel_size", _key(kernel_size)), ("stride", _key(stride)),
                  ("padding", _key(padding)), ("dilation", _key(dilation)),
                  ("spatial_dims", nsp))
        return apply_op("MaxPoolBackward0", max_pool, [input], params)
    pool.__name__ = pool.__qualname__ = name
    pool.__doc__ = f"torch.nn.functional.{name} (input (N, C, ...) or (C, ...))"
    return pool


def _tensor_avg_pool(nsp: int, name: str):
    def pool(input, kernel_size, stride=None, padding=0, ceil_mode=False,  # noqa: A002
             count_include_pad=True, divisor_override=None):
        from ..eager.tensor import apply_op

        _no_ceil_mode(name, ceil_mode)
        if divisor_override is not None:
            raise NotImplementedError(f"{name}: divisor_override is not supported")
        params = (("kernel_size", _key(kernel_size)), ("stride", _key(stride)),
                  ("padding", _key(padding)), ("count_include_pad", bool(count_include_pad)),
                  ("spatial_dims", nsp))
        return apply_op("AvgPoolBackward0", avg_pool, [input], params)
    pool.__name__ = pool.__qualname__ = name
    pool.__doc__ = f"torch.nn.functional.{name} (input (N, C, ...) or (C, ...))"
    return pool


max_pool1d = _tensor_max_pool(1, "max_pool1d")
max_pool2d = _tensor_max_pool(2, "max_pool2d")
avg_pool1d = _tensor_avg_pool(1, "avg_pool1d")
avg_pool2d = _tensor_avg_pool(2, "avg_pool2d")
