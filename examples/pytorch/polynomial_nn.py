"""Fit y = sin(x) with nn.Sequential(Linear, Flatten), nn.MSELoss and optim.RMSprop."""

import math

import dualjit as torch  # the only change from the PyTorch program: import torch


def build():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))


def train(model, steps=2000, learning_rate=1e-3):
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)
    xx = x.unsqueeze(-1).pow(torch.tensor([1, 2, 3]))
    loss_fn = torch.nn.MSELoss(reduction="sum")
    optimizer = torch.optim.RMSprop(model.parameters(), lr=learning_rate)
    losses = []
    for _ in range(steps):
        y_pred = model(xx)
        loss = loss_fn(y_pred, y)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return losses


def main(steps=2000):
    model = build()
    losses = train(model, steps)
    linear = model[0]
    print(f"Result: y = {linear.bias.item()} + {linear.weight[:, 0].item()} x + "
          f"{linear.weight[:, 1].item()} x^2 + {linear.weight[:, 2].item()} x^3")
    print(f"final loss {losses[-1]:.3f}")
    assert losses[-1] < 12 and losses[-1] < losses[0]
    return losses


if __name__ == "__main__":
    main()
