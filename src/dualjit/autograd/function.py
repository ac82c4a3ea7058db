"""Custom autograd Functions (torch.autograd.Function): forward and backward written by the
user with Tensor operations, recorded as one node whose backward runs that Python code."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..eager.backward import OutputNode, PythonNode
from ..eager.tensor import Tensor, is_grad_enabled, make_tensor, no_grad, source_of, version_counter


class FunctionCtx:
    """The `ctx` a custom Function's forward and backward share."""

    def __init__(self, needs_input_grad: tuple[bool, ...]):
        self.needs_input_grad = needs_input_grad
        self._saved: tuple = ()
        self._non_differentiable: set[int] = set()
        self._dirty: set[int] = set()
        self.materialize_grads = True

    def save_for_backward(self, *tensors: Any) -> None:
        """Keep tensors for backward; reading them there checks they were not modified in
        place meanwhile (the version-counter error)."""
        saved = []
        for t in tensors:
            if t is None or not isinstance(t, Tensor):
                saved.append((t, None, None))
            else:
                c = version_counter(t)
                saved.append((t, c, c[0]))
        self._saved = tuple(saved)

    @property
    def saved_tensors(self) -> tuple:
        out = []
        for t, counter, version in self._saved:
            if counter is not None and counter[0] != version:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified "
                    f"by an inplace operation: [{t.dtype} tensor of shape {tuple(t.shape)}], "
                    f"which was saved with ctx.save_for_backward, is at version {counter[0]}; "
                    f"expected version {version} instead.")
            out.append(t)
        return tuple(out)

    def mark_non_differentiable(self, *tensors: Tensor) -> None:
        self._non_differentiable.update(id(t) for t in tensors)

    def mark_dirty(self, *tensors: Tensor) -> None:
        self._dirty.update(id(t) for t in tensors)

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = bool(value)


class Function:
    """Subclass with static `forward(ctx, *args)` and `backward(ctx, *grad_outputs)`; call
    `MyFunction.apply(*args)`."""

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("You must implement the forward function for custom "
                                  "autograd.Function.")

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs: Any) -> Any:
        raise NotImplementedError("You must implement either the backward or vjp method for "
                                  "your custom autograd.Function to use it with backward mode AD.")

    vjp = backward

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        ctx = FunctionCtx(needs)
        with no_grad():
            outputs = cls.forward(ctx, *args, **kwargs)
        if not (is_grad_enabled() and any(needs)):
            return outputs
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        node = _python_node(cls, ctx, args, len(outs))
        linked = tuple(_link(o, i, node, ctx, args) for i, o in enumerate(outs))
        return linked[0] if single else linked


def _python_node(cls: type, ctx: FunctionCtx, args: tuple, n_outputs: int) -> PythonNode:
    sources = [source_of(a) if isinstance(a, Tensor) else a for a in args]
    node = PythonNode(f"{cls.__name__}Backward", None, sources, (), None, [0])
    node.n_outputs = n_outputs

    def run_backward(cts: list) -> list:
        if ctx.materialize_grads:
            cts = [c if c is not None else make_tensor(np.zeros(shape, dtype))
                   for c, (shape, dtype) in zip(cts, node.value)]
        grads = cls.backward(ctx, *cts)
        grads = grads if isinstance(grads, tuple) else (grads,)
        if len(grads) > len(args) and all(g is None for g in grads[len(args):]):
            grads = grads[:len(args)]
        if len(grads) != len(args):
            raise RuntimeError(f"function {cls.__name__}Backward returned an incorrect number "
                               f"of gradients (expected {len(args)}, got {len(grads)})")
        return list(grads)
    node.backward_fn = run_backward
    node.value = []  # (shape, dtype) of each output, to materialize missing gradients
    return node


def _link(out: Any, index: int, node: PythonNode, ctx: FunctionCtx, args: tuple) -> Any:
    """Make output `index` a result of the custom function's node (if it is a float tensor
    that was not marked non-differentiable)."""
    if not isinstance(out, Tensor):
        node.value.append(((), np.float32))
        return out
    node.value.append((out.shape, out.dtype))
    if id(out) in ctx._non_differentiable or out.dtype.kind != "f":
        return out
    if any(out is a for a in args) and id(out) not in ctx._dirty:
        out = make_tensor(out._value, None, version_counter(out))  # an input returned as is
    counter = version_counter(out)
    child = OutputNode(node.name, None, [node], (), out._value, counter)
    child.index = index
    out.grad_fn = child
    out.requires_grad = True
    return out


def once_differentiable(fn):
    """Mark a backward as not differentiable again (accepted; dualjit records it anyway)."""
    return fn
