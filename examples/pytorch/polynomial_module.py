"""Fit y = sin(x) with a custom nn.Module whose forward pass uses Python control flow: a
random number (0 to 2) of extra terms of degree 4 and 5, all sharing one parameter e."""

import math
import random

import dualjit as torch  # the only change from the PyTorch program: import torch


class DynamicNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.zeros(()))
        self.b = torch.nn.Parameter(torch.full((), 0.5))
        self.c = torch.nn.Parameter(torch.zeros(()))
        self.d = torch.nn.Parameter(torch.full((), -0.05))
        self.e = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x):
        y = self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3
        for exp in range(4, random.randint(4, 6)):
            y = y + self.e * x ** exp  # the same parameter reused: its gradients add up
        return y


def build():
    random.seed(0)
    return DynamicNet()


def train(model, steps=3000, learning_rate=1e-8):
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)
    criterion = torch.nn.MSELoss(reduction="sum")
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=0.9)
    losses = []
    for _ in range(steps):
        y_pred = model(x)
        loss = criterion(y_pred, y)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return losses


def main(steps=3000):
    model = build()
    losses = train(model, steps)
    print(f"Result: y = {model.a.item()} + {model.b.item()} x + {model.c.item()} x^2 + "
          f"{model.d.item()} x^3 + {model.e.item()} x^4 ? + {model.e.item()} x^5 ?")
    print(f"final loss {losses[-1]:.3f}")
    assert losses[-1] < 50 and losses[-1] < losses[0] / 3
    return losses


if __name__ == "__main__":
    main()
