"""NumPy re-implementations of the training loops of examples/pytorch, written from PyTorch's
documented formulas (forward, hand-derived gradients, SGD/RMSprop/Adam updates), independent of
dualjit: tests/test_examples.py runs each example and its reference from the same start.

Each reference takes the example's starting parameters as NumPy arrays and returns
(losses, final parameters), as the example's train() sees them."""

from __future__ import annotations

import math
import random

import numpy as np

F32 = np.float32


def _sine_data():
    x = np.linspace(-math.pi, math.pi, 2000).astype(F32)
    return x, np.sin(x)


def _cubic_by_hand(params, steps, learning_rate=1e-6):
    """polynomial_tensor and polynomial_autograd: the cubic, plain gradient descent."""
    x, y = _sine_data()
    a, b, c, d = params
    features = [np.ones_like(x), x, x ** 2, x ** 3]
    losses = []
    for _ in range(steps):
        residual = a + b * x + c * x ** 2 + d * x ** 3 - y
        losses.append(float(np.sum(residual ** 2)))
        grads = [np.sum(2 * residual * f) for f in features]
        a, b, c, d = (p - learning_rate * g for p, g in zip((a, b, c, d), grads))
    return losses, [a, b, c, d]


def polynomial_tensor(params, steps):
    return _cubic_by_hand(params, steps)


def polynomial_autograd(params, steps):
    return _cubic_by_hand(params, steps)


def polynomial_custom_function(params, steps, learning_rate=5e-6):
    """y = a + b P3(c + d x), P3(z) = (5 z^3 - 3 z) / 2, P3'(z) = 3 (5 z^2 - 1) / 2."""
    x, y = _sine_data()
    a, b, c, d = params
    losses = []
    for _ in range(steps):
        z = c + d * x
        p3 = 0.5 * (5 * z ** 3 - 3 * z)
        residual = a + b * p3 - y
        losses.append(float(np.sum(residual ** 2)))
        r = 2 * residual
        dz = r * b * 1.5 * (5 * z ** 2 - 1)
        grads = [np.sum(r), np.sum(r * p3), np.sum(dz), np.sum(dz * x)]
        a, b, c, d = (p - learning_rate * g for p, g in zip((a, b, c, d), grads))
    return losses, [a, b, c, d]


def polynomial_nn(params, steps, learning_rate=1e-3, alpha=0.99, eps=1e-8):
    """Linear(3, 1) on (x, x^2, x^3), MSELoss(sum), RMSprop:
    v = alpha v + (1 - alpha) g^2;  p -= lr g / (sqrt(v) + eps)."""
    x, y = _sine_data()
    xx = np.stack([x, x ** 2, x ** 3], axis=1)
    weight, bias = params  # (1, 3), (1,)
    square_avg = [np.zeros_like(weight), np.zeros_like(bias)]
    losses = []
    for _ in range(steps):
        residual = (xx @ weight.T + bias)[:, 0] - y
        losses.append(float(np.sum(residual ** 2)))
        r = 2 * residual
        grads = [(r @ xx)[None, :], np.array([np.sum(r)], F32)]
        new = []
        for k, (p, g) in enumerate(zip((weight, bias), grads)):
            square_avg[k] = alpha * square_avg[k] + (1 - alpha) * g * g
            new.append(p - learning_rate * g / (np.sqrt(square_avg[k]) + eps))
        weight, bias = new
    return losses, [weight, bias]


def polynomial_module(params, steps, learning_rate=1e-8, momentum=0.9):
    """a + b x + c x^2 + d x^3 + e (x^4 [+ x^5]) with the example's random term count, SGD with
    momentum: buf = g at a parameter's first gradient, then buf = momentum buf + g;
    p -= lr buf. A step whose forward does not use e leaves e without a gradient (None after
    zero_grad): SGD skips it, its buffer included."""
    x, y = _sine_data()
    params = list(params)
    buffers: list = [None] * 5
    losses = []
    random.seed(0)  # (as the example's build(): the forward's term counts come from here)
    for _ in range(steps):
        powers = range(4, random.randint(4, 6))
        e_feature = sum((x ** k for k in powers), np.zeros_like(x))
        features = [np.ones_like(x), x, x ** 2, x ** 3, e_feature]
        residual = sum(p * f for p, f in zip(params, features)) - y
        losses.append(float(np.sum(residual ** 2)))
        for k, f in enumerate(features if len(powers) else features[:4]):
            g = np.sum(2 * residual * f)
            buffers[k] = g if buffers[k] is None else momentum * buffers[k] + g
            params[k] = params[k] - learning_rate * buffers[k]
    return losses, params


def mlp_classifier(params, epochs, x, labels, batch_size=64, seed=1, learning_rate=0.02,
                   betas=(0.9, 0.999), eps=1e-8):
    """2-64-64-3 ReLU MLP, mean cross-entropy, Adam (bias-corrected moments), shuffled batches;
    the loss of an epoch is the batch losses weighted by batch size over the data."""
    params = [p.astype(F32) for p in params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    order = np.random.default_rng(seed)
    losses, step = [], 0
    for epoch in range(epochs):
        lr = learning_rate * 0.5 ** (epoch // 5)  # StepLR(step_size=5, gamma=0.5)
        permutation = order.permutation(len(labels))
        total = 0.0
        for start in range(0, len(labels), batch_size):
            batch = permutation[start:start + batch_size]
            loss, grads = _mlp_loss_and_grads(params, x[batch], labels[batch])
            total += loss * len(batch)
            step += 1
            for k, g in enumerate(grads):
                m[k] = betas[0] * m[k] + (1 - betas[0]) * g
                v[k] = betas[1] * v[k] + (1 - betas[1]) * g * g
                m_hat = m[k] / (1 - betas[0] ** step)
                v_hat = v[k] / (1 - betas[1] ** step)
                params[k] = params[k] - lr * m_hat / (np.sqrt(v_hat) + eps)
        losses.append(total / len(labels))
    return losses, params


def _mlp_loss_and_grads(params, x, labels):
    w1, b1, w2, b2, w3, b3 = params
    h1 = np.maximum(x @ w1.T + b1, 0)
    h2 = np.maximum(h1 @ w2.T + b2, 0)
    logits = h2 @ w3.T + b3
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = len(labels)
    loss = -float(np.mean(log_probs[np.arange(n), labels]))
    d_logits = np.exp(log_probs)
    d_logits[np.arange(n), labels] -= 1
    d_logits /= n
    d_h2 = (d_logits @ w3) * (h2 > 0)
    d_h1 = (d_h2 @ w2) * (h1 > 0)
    grads = [d_h1.T @ x, d_h1.sum(0), d_h2.T @ h1, d_h2.sum(0), d_logits.T @ h2, d_logits.sum(0)]
    return loss, grads
