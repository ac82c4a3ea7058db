"""Convolution, pooling and 2-D batch-normalization modules with PyTorch's arguments and
default initializations."""

from __future__ import annotations

from typing import Any

from ..eager.factories import empty
from ..eager.tensor import Tensor
from . import convolution as C
from .layers import BatchNorm1d, reset_weight_and_bias
from .module import Module, Parameter


class _ConvNd(Module):
    """y = conv(x, W) + b; W and b start uniform in ±1/sqrt(fan_in), as PyTorch's."""

    spatial_dims = 0

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"in_channels ({in_channels}) and out_channels ({out_channels}) "
                             f"must be divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise NotImplementedError(f"padding_mode={padding_mode!r} is not supported (only "
                                      "'zeros'); pad with dualjit.nn.functional.pad first")
        n = self.spatial_dims
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = C._tuple(kernel_size, n, "kernel_size")
        self.stride, self.dilation = C._tuple(stride, n, "stride"), C._tuple(dilation, n,
                                                                              "dilation")
        self.padding = padding if isinstance(padding, str) else C._tuple(padding, n, "padding")
        self.weight = Parameter(empty(out_channels, in_channels // groups, *self.kernel_size,
                                       dtype=dtype))
        if bias:
            self.bias = Parameter(empty(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_weight_and_bias(self)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        fn = C.conv1d if self.spatial_dims == 1 else C.conv2d
        return fn(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                  self.groups)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, groups={self.groups}, "
                f"bias={self.bias is not None}")


class Conv1d(_ConvNd):
    spatial_dims = 1


class Conv2d(_ConvNd):
    spatial_dims = 2


class _Pool(Module):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, **options: Any):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.options = options

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool1d(_Pool):
    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return C.max_pool1d(input, self.kernel_size, self.stride, self.padding, **self.options)


class MaxPool2d(_Pool):
    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return C.max_pool2d(input, self.kernel_size, self.stride, self.padding, **self.options)


class AvgPool1d(_Pool):
    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return C.avg_pool1d(input, self.kernel_size, self.stride, self.padding, **self.options)


class AvgPool2d(_Pool):
    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return C.avg_pool2d(input, self.kernel_size, self.stride, self.padding, **self.options)


class BatchNorm2d(BatchNorm1d):
    """Batch normalization over (N, C, H, W) inputs, per channel, with running statistics."""

    def _check_input_dim(self, input: Tensor) -> None:  # noqa: A002
        if input.ndim != 4:
            raise ValueError(f"expected 4D input (got {input.ndim}D input)")
