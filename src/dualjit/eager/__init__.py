"""The imperative autograd (PyTorch's semantics) on dualjit's IR and derivative rules."""

from . import ops  # noqa: F401  (ops installs the Tensor operators)
from .factories import arange, eye, linspace, manual_seed, ones, rand, randn, tensor, zeros  # noqa: F401
from .ops import matmul  # noqa: F401
from .tensor import Node, Tensor, enable_grad, is_grad_enabled, no_grad  # noqa: F401
