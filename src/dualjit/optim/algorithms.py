"""SGD, Adam, AdamW, RMSprop, Adagrad: each parameter's update as PyTorch documents it."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import numpy as jnp
from .optimizer import Optimizer, required


def _check(name: str, value: float, low: float = 0.0) -> None:
    if not value >= low:
        raise ValueError(f"Invalid {name}: {value}")


class SGD(Optimizer):
    """b <- momentum b + (1 - dampening) g (b <- g at the first step); g <- g + momentum b
    with nesterov, else g <- b; p <- p - lr g (g including weight_decay p)."""

    hyper = ("lr", "momentum", "dampening", "weight_decay")
    counts_steps = False  # (PyTorch's SGD state is the momentum buffer alone)

    def __init__(self, params: Any, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False, *,
                 maximize: bool = False, foreach: Any = None, differentiable: bool = False,
                 fused: Any = None):
        if lr is not required:
            _check("learning rate", lr)
        _check("momentum value", momentum)
        _check("weight_decay value", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize, foreach=foreach,
                                      differentiable=differentiable, fused=fused))

    def static(self, group: dict) -> tuple:
        return (group["momentum"] != 0, group["weight_decay"] != 0, bool(group["nesterov"]),
                bool(group["maximize"]))

    def init_state(self, p, group: dict) -> dict:
        return {}  # (the momentum buffer is made by the first step, as PyTorch's)

    def state_after(self, names: tuple, static: tuple) -> tuple:
        return ("momentum_buffer",) if static[0] else ()

    def update(self, p, g, state, h, static, step):
        use_momentum, decay, nesterov, maximize = static
        if maximize:
            g = -g
        if decay:
            g = g + h["weight_decay"] * p
        new_state = {}
        if use_momentum:
            # At the first step (no buffer yet) the buffer is g itself, without dampening,
            # as PyTorch's.
            old = state.get("momentum_buffer")
            buf = g if old is None else h["momentum"] * old + (1 - h["dampening"]) * g
            new_state["momentum_buffer"] = buf
            g = g + h["momentum"] * buf if nesterov else buf
        return p - h["lr"] * g, new_state


class Adam(Optimizer):
    """m <- β1 m + (1-β1) g; v <- β2 v + (1-β2) g²; p <- p - lr/(1-β1ᵗ) m / (sqrt(v)/sqrt(1-β2ᵗ)
    + eps) (amsgrad: v's running maximum in the denominator); weight_decay adds wd p to g."""

    hyper = ("lr", "beta1", "beta2", "eps", "weight_decay")
    state_names = ("exp_avg", "exp_avg_sq")
    decoupled = False

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 foreach: Any = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: Any = None):
        _check("learning rate", lr)
        _check("epsilon value", eps)
        if not 0.0 <= betas[0] < 1.0 or not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameters: {betas}")
        _check("weight_decay value", weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable, fused=fused))

    def hyper_values(self, group: dict) -> list[float]:
        beta1, beta2 = group["betas"]
        return [float(group["lr"]), float(beta1), float(beta2), float(group["eps"]),
                float(group["weight_decay"])]

    def static(self, group: dict) -> tuple:
        return (group["weight_decay"] != 0, bool(group["amsgrad"]), bool(group["maximize"]))

    def init_state(self, p, group: dict) -> dict:
        state = super().init_state(p, group)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros_like(p._value)
        return state

    def update(self, p, g, state, h, static, step):
        decay, amsgrad, maximize = static
        if maximize:
            g = -g
        if decay:
            if self.decoupled:
                p = p * (1 - h["lr"] * h["weight_decay"])
            else:
                g = g + h["weight_decay"] * p
        b1, b2 = h["beta1"], h["beta2"]
        m = b1 * state["exp_avg"] + (1 - b1) * g
        v = b2 * state["exp_avg_sq"] + (1 - b2) * g * g
        new_state = {"exp_avg": m, "exp_avg_sq": v}
        bias1 = 1 - b1 ** step
        bias2 = 1 - b2 ** step
        if amsgrad:
            v = jnp.maximum(state["max_exp_avg_sq"], v)
            new_state["max_exp_avg_sq"] = v
        denom = jnp.sqrt(v) / jnp.sqrt(bias2) + h["eps"]
        return p - (h["lr"] / bias1) * m / denom, new_state


class AdamW(Adam):
    """Adam with decoupled weight decay: p <- p (1 - lr wd) before the Adam step."""

    decoupled = True

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, **kw: Any):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, **kw)


class RMSprop(Optimizer):
    """v <- α v + (1-α) g²; avg = sqrt(v) + eps (centered: sqrt(v - ḡ²) + eps with
    ḡ <- α ḡ + (1-α) g); p <- p - lr g / avg, or through a momentum buffer
    b <- momentum b + g / avg."""

    hyper = ("lr", "alpha", "eps", "weight_decay", "momentum")

    def __init__(self, params: Any, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
                 capturable: bool = False, foreach: Any = None, maximize: bool = False,
                 differentiable: bool = False):
        _check("learning rate", lr)
        _check("epsilon value", eps)
        _check("momentum value", momentum)
        _check("weight_decay value", weight_decay)
        _check("alpha value", alpha)
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize,
                                      capturable=capturable, foreach=foreach,
                                      differentiable=differentiable))

    def static(self, group: dict) -> tuple:
        return (group["weight_decay"] != 0, group["momentum"] > 0, bool(group["centered"]),
                bool(group["maximize"]))

    def init_state(self, p, group: dict) -> dict:
        state = {"square_avg": np.zeros_like(p._value)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = np.zeros_like(p._value)
        if group["centered"]:
            state["grad_avg"] = np.zeros_like(p._value)
        return state

    def update(self, p, g, state, h, static, step):
        decay, use_momentum, centered, maximize = static
        if maximize:
            g = -g
        if decay:
            g = g + h["weight_decay"] * p
        a = h["alpha"]
        v = a * state["square_avg"] + (1 - a) * g * g
        new_state = {"square_avg": v}
        if centered:
            g_avg = a * state["grad_avg"] + (1 - a) * g
            new_state["grad_avg"] = g_avg
            avg = jnp.sqrt(v - g_avg * g_avg) + h["eps"]
        else:
            avg = jnp.sqrt(v) + h["eps"]
        if use_momentum:
            buf = h["momentum"] * state["momentum_buffer"] + g / avg
            new_state["momentum_buffer"] = buf
            return p - h["lr"] * buf, new_state
        return p - h["lr"] * g / avg, new_state


class Adagrad(Optimizer):
    """clr = lr / (1 + (t-1) lr_decay); s <- s + g²; p <- p - clr g / (sqrt(s) + eps)."""

    hyper = ("lr", "lr_decay", "weight_decay", "eps")
    state_names = ("sum",)

    def __init__(self, params: Any, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, foreach: Any = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: Any = None):
        _check("learning rate", lr)
        _check("lr_decay value", lr_decay)
        _check("weight_decay value", weight_decay)
        _check("initial_accumulator_value value", initial_accumulator_value)
        _check("epsilon value", eps)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, foreach=foreach, maximize=maximize,
                                      differentiable=differentiable, fused=fused))

    def static(self, group: dict) -> tuple:
        return (group["weight_decay"] != 0, bool(group["maximize"]))

    def init_state(self, p, group: dict) -> dict:
        return {"sum": np.full_like(p._value, group["initial_accumulator_value"])}

    def update(self, p, g, state, h, static, step):
        decay, maximize = static
        if maximize:
            g = -g
        if decay:
            g = g + h["weight_decay"] * p
        clr = h["lr"] / (1 + (step - 1) * h["lr_decay"])
        s = state["sum"] + g * g
        return p - clr * g / (jnp.sqrt(s) + h["eps"]), {"sum": s}
