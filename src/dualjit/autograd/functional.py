"""torch.autograd.functional: jacobian, hessian, vjp, jvp, hvp, vhp of functions on Tensors,
built from autograd.grad (jvp by the double-backward trick, as PyTorch does)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..eager.backward import grad
from ..eager.tensor import Tensor, enable_grad, make_tensor


def _as_tuple(x: Any) -> tuple[tuple, bool]:
    if isinstance(x, tuple):
        return x, True
    if isinstance(x, list):
        return tuple(x), True
    return (x,), False


def _grad_inputs(inputs: tuple, create_graph: bool) -> tuple[Tensor, ...]:
    """Fresh leaves (or, with create_graph, differentiable aliases) of the inputs."""
    out = []
    for x in inputs:
        if not isinstance(x, Tensor):
            raise TypeError(f"inputs must be Tensors, got {type(x).__name__}")
        if create_graph and x.requires_grad:
            out.append(x.view_as(x))
        else:
            out.append(x.detach().requires_grad_(True))
    return tuple(out)


def _zeros_if_none(g: Any, like: Tensor) -> Tensor:
    return g if g is not None else make_tensor(np.zeros_like(like._value))


def vjp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple:
    """(func(inputs), vᵀ J)."""
    ins, tupled = _as_tuple(inputs)
    with enable_grad():
        xs = _grad_inputs(ins, create_graph)
        outs = func(*xs)
        out_t, out_tupled = _as_tuple(outs)
        vs = _as_tuple(v)[0] if v is not None else (None,) * len(out_t)
        grads = grad(out_t, xs, vs, create_graph=create_graph, allow_unused=True)
    grads = tuple(_zeros_if_none(g, x) for g, x in zip(grads, xs))
    results = outs if create_graph else _detached(outs)
    return results, (grads if tupled else grads[0])


def _detached(x: Any) -> Any:
    if isinstance(x, Tensor):
        return x.detach()
    return type(x)(_detached(t) for t in x)


def jvp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple:
    """(func(inputs), J v), by differentiating the vjp u -> uᵀJ with respect to u."""
    ins, tupled = _as_tuple(inputs)
    vs = _as_tuple(v)[0] if v is not None else tuple(
        make_tensor(np.ones_like(x._value)) for x in ins)
    with enable_grad():
        xs = _grad_inputs(ins, True)
        outs = func(*xs)
        out_t, out_tupled = _as_tuple(outs)
        us = tuple(make_tensor(np.zeros_like(o._value)).requires_grad_(True) for o in out_t)
        g = grad(out_t, xs, us, create_graph=True, allow_unused=True)
        pairs = [(gi, vi) for gi, vi in zip(g, vs) if gi is not None]
        jv = grad([p[0] for p in pairs], us, [p[1] for p in pairs], create_graph=create_graph,
                  allow_unused=True)
    jv = tuple(_zeros_if_none(j, o) for j, o in zip(jv, out_t))
    results = outs if create_graph else _detached(outs)
    return results, (jv if out_tupled else jv[0])


def jacobian(func: Callable, inputs: Any, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode") -> Any:
    """d func / d inputs, one reverse pass per output element (each pass reuses the compiled
    backward of the same graph)."""
    ins, tupled = _as_tuple(inputs)
    with enable_grad():
        xs = _grad_inputs(ins, create_graph)
        outs = func(*xs)
        out_t, out_tupled = _as_tuple(outs)
        blocks = []
        for o in out_t:
            rows = [[] for _ in xs]
            flat = o.reshape(-1)
            for k in range(flat.numel()):
                gs = grad([flat[k]], xs, retain_graph=True, create_graph=create_graph,
                          allow_unused=True)
                for r, g, x in zip(rows, gs, xs):
                    r.append(_zeros_if_none(g, x))
            blocks.append(tuple(_stack_rows(r, o, x) for r, x in zip(rows, xs)))
    if not out_tupled and not tupled:
        return blocks[0][0]
    if not out_tupled:
        return blocks[0]
    if not tupled:
        return tuple(b[0] for b in blocks)
    return tuple(blocks)


def _stack_rows(rows: list, out: Tensor, x: Tensor) -> Tensor:
    from ..eager.functions import stack

    if not rows:
        return make_tensor(np.zeros(tuple(out.shape) + tuple(x.shape), x.dtype))
    return stack(rows).reshape(tuple(out.shape) + tuple(x.shape))


def hessian(func: Callable, inputs: Any, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False, outer_jacobian_strategy: str = "reverse-mode") -> Any:
    """The Hessian of a scalar function: the jacobian of its gradient."""
    ins, tupled = _as_tuple(inputs)

    def gradient(*xs):
        out = func(*xs)
        return grad([out], xs, create_graph=True, allow_unused=True)

    def jac_of(*xs):
        gs = gradient(*xs)
        return tuple(_zeros_if_none(g, x) for g, x in zip(gs, xs))

    h = jacobian(jac_of, ins, create_graph=create_graph)
    return h if tupled else h[0][0]


def vhp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple:
    """(func(inputs), vᵀ H)."""
    ins, tupled = _as_tuple(inputs)
    vs = _as_tuple(v)[0]
    with enable_grad():
        xs = _grad_inputs(ins, True)
        out = func(*xs)
        g = grad([out], xs, create_graph=True, allow_unused=True)
        pairs = [(gi, vi) for gi, vi in zip(g, vs) if gi is not None]
        h = grad([p[0] for p in pairs], xs, [p[1] for p in pairs], create_graph=create_graph,
                 allow_unused=True)
    h = tuple(_zeros_if_none(hi, x) for hi, x in zip(h, xs))
    return (out if create_graph else out.detach()), (h if tupled else h[0])


hvp = vhp  # (the Hessian is symmetric)
