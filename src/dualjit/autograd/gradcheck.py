"""gradcheck / gradgradcheck: recorded derivatives against central finite differences."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..eager.backward import grad
from ..eager.tensor import Tensor, enable_grad, make_tensor, no_grad


class GradcheckError(RuntimeError):
    """An analytical derivative disagrees with the finite-difference one."""


def _outputs(func: Callable, inputs: tuple) -> tuple[Tensor, ...]:
    out = func(*inputs)
    return out if isinstance(out, tuple) else (out,)


def _numerical(func: Callable, inputs: tuple, i: int, eps: float) -> list[np.ndarray]:
    """d outputs / d inputs[i] by central differences: one (out.size, x.size) block per
    output."""
    x = inputs[i]
    values = x._value  # (written element by element: a reshape of a non-contiguous input,
    blocks = None      # a transposed clone, would be a copy and the steps would be lost)
    for k, index in enumerate(np.ndindex(values.shape)):
        original = values[index]
        with no_grad():
            values[index] = original + eps
            plus = [o._value.astype(np.float64).reshape(-1).copy()
                    for o in _outputs(func, inputs)]
            values[index] = original - eps
            minus = [o._value.astype(np.float64).reshape(-1).copy()
                     for o in _outputs(func, inputs)]
            values[index] = original
        columns = [(p - m) / (2 * eps) for p, m in zip(plus, minus)]
        if blocks is None:
            blocks = [np.zeros((c.size, values.size)) for c in columns]
        for b, c in zip(blocks, columns):
            b[:, k] = c
    return blocks or []


def _analytical(func: Callable, inputs: tuple, i: int) -> list[np.ndarray]:
    with enable_grad():
        outs = _outputs(func, inputs)
        blocks = []
        for o in outs:
            block = np.zeros((o.numel(), inputs[i].numel()))
            if o.requires_grad:
                flat = o.reshape(-1)
                for r in range(flat.numel()):
                    (g,) = grad([flat[r]], [inputs[i]], retain_graph=True, allow_unused=True)
                    if g is not None:
                        block[r] = g._value.astype(np.float64).reshape(-1)
            blocks.append(block)
    return blocks


def gradcheck(func: Callable, inputs: Any, *, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True, **unused: Any) -> bool:
    """Compare func's recorded Jacobian with central differences for every input that
    requires grad; raise GradcheckError (or return False) on a mismatch. Use float64 inputs:
    float32 differences are too coarse for the default tolerances."""
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    for i, x in enumerate(inputs):
        if not (isinstance(x, Tensor) and x.requires_grad):
            continue
        if x.dtype != np.float64:
            import warnings

            warnings.warn(f"gradcheck: input {i} is {x.dtype}, not float64; the finite "
                          "differences may be too coarse", UserWarning, stacklevel=2)
        numerical = _numerical(func, inputs, i, eps)
        analytical = _analytical(func, inputs, i)
        for j, (n, a) in enumerate(zip(numerical, analytical)):
            if not np.allclose(a, n, rtol=rtol, atol=atol):
                if not raise_exception:
                    return False
                raise GradcheckError(f"Jacobian mismatch for output {j} with respect to input "
                                     f"{i},\nnumerical:{n}\nanalytical:{a}\n")
    return True


def gradgradcheck(func: Callable, inputs: Any, grad_outputs: Any = None, *, eps: float = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True,
                  **unused: Any) -> bool:
    """gradcheck of the vector-Jacobian product (func's first derivative, recorded with
    create_graph=True) with respect to the inputs and the vector."""
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    with no_grad():
        outs = _outputs(func, inputs)
    rng = np.random.default_rng(0)
    if grad_outputs is None:
        grad_outputs = tuple(make_tensor(rng.standard_normal(o.shape).astype(o.dtype))
                             .requires_grad_(True) for o in outs)
    elif not isinstance(grad_outputs, tuple):
        grad_outputs = (grad_outputs,)
    diff_inputs = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    n = len(inputs)

    def first_derivative(*args):
        xs, vs = args[:n], args[n:]
        with enable_grad():
            out = _outputs(func, xs)
            wrt = [x for x in xs if isinstance(x, Tensor) and x.requires_grad]
            gs = grad(list(out), wrt, list(vs), create_graph=True, allow_unused=True)
        return tuple(g if g is not None else make_tensor(np.zeros_like(w._value))
                     for g, w in zip(gs, wrt))

    if not diff_inputs:
        return True
    return gradcheck(first_derivative, tuple(inputs) + tuple(grad_outputs), eps=eps, atol=atol,
                     rtol=rtol, raise_exception=raise_exception)
