"""dualjit.nn.functional: the torch-spelled losses and activations on Tensors."""

from __future__ import annotations

from typing import Any

from ..eager.tensor import Tensor, _operand, apply_op
from . import functions as nn


def _t(x: Any, like: Tensor) -> Any:
    return _operand(x, like._value)


def binary_cross_entropy_with_logits(input: Tensor, target: Any) -> Tensor:
    return apply_op("BinaryCrossEntropyWithLogitsBackward", nn.binary_cross_entropy_with_logits,
                    [input, _t(target, input)])


def mse_loss(input: Tensor, target: Any) -> Tensor:
    return apply_op("MseLossBackward", nn.mse_loss, [input, _t(target, input)])


def cross_entropy(input: Tensor, target: Any) -> Tensor:
    return apply_op("CrossEntropyBackward", nn.cross_entropy, [input, _t(target, input)])


def relu(input: Tensor) -> Tensor:
    return apply_op("ReluBackward", nn.relu, [input])


def sigmoid(input: Tensor) -> Tensor:
    return apply_op("SigmoidBackward", nn.sigmoid, [input])


def softmax(input: Tensor, dim: int = -1) -> Tensor:
    return apply_op("SoftmaxBackward", nn.softmax, [input], (("axis", int(dim)),))


def log_softmax(input: Tensor, dim: int = -1) -> Tensor:
    return apply_op("LogSoftmaxBackward", nn.log_softmax, [input], (("axis", int(dim)),))
