"""Fit y = sin(x) with y = a + b P3(c + d x), P3 the Legendre polynomial of degree three,
written as a custom autograd.Function with its own backward."""

import math

import dualjit as torch  # the only change from the PyTorch program: import torch


class LegendrePolynomial3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


def build():
    return [torch.full((), value, dtype=torch.float, requires_grad=True)
            for value in (0.0, -1.0, 0.0, 0.3)]


def train(params, steps=2000, learning_rate=5e-6):
    x = torch.linspace(-math.pi, math.pi, 2000, dtype=torch.float)
    y = torch.sin(x)
    a, b, c, d = params
    losses = []
    for _ in range(steps):
        P3 = LegendrePolynomial3.apply
        y_pred = a + b * P3(c + d * x)
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= learning_rate * p.grad
                p.grad = None
    return losses


def main(steps=2000):
    params = build()
    losses = train(params, steps)
    a, b, c, d = params
    print(f"Result: y = {a.item()} + {b.item()} * P3({c.item()} + {d.item()} x)")
    print(f"final loss {losses[-1]:.3f}")
    assert losses[-1] < 15 and losses[-1] < losses[0]
    return losses


if __name__ == "__main__":
    main()
