"""Fit y = sin(x) with a cubic polynomial, computing the gradients by hand."""

import math

import dualjit as torch  # the only change from the PyTorch program: import torch


def build():
    torch.manual_seed(0)
    return [torch.randn((), dtype=torch.float) for _ in range(4)]


def train(params, steps=2000, learning_rate=1e-6):
    x = torch.linspace(-math.pi, math.pi, 2000, dtype=torch.float)
    y = torch.sin(x)
    a, b, c, d = params
    losses = []
    for _ in range(steps):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum().item()
        losses.append(loss)
        grad_y_pred = 2.0 * (y_pred - y)
        grad_a = grad_y_pred.sum()
        grad_b = (grad_y_pred * x).sum()
        grad_c = (grad_y_pred * x ** 2).sum()
        grad_d = (grad_y_pred * x ** 3).sum()
        a -= learning_rate * grad_a
        b -= learning_rate * grad_b
        c -= learning_rate * grad_c
        d -= learning_rate * grad_d
    return losses


def main(steps=2000):
    params = build()
    losses = train(params, steps)
    a, b, c, d = params
    print(f"Result: y = {a.item()} + {b.item()} x + {c.item()} x^2 + {d.item()} x^3")
    print(f"final loss {losses[-1]:.3f}")
    assert losses[-1] < 30 and losses[-1] < losses[0]
    return losses


if __name__ == "__main__":
    main()
