"""Linear regression (seed 004), with the imperative pitfalls shown as caught errors."""

from __future__ import annotations

import warnings

import dualjit as dj


def train(steps=500, lr=0.05, seed=0):
    dj.manual_seed(seed)
    x = dj.rand(20, 1) * 5
    y = 2 * x + dj.randn(20, 1)
    w = dj.tensor([1.0], requires_grad=True)
    b = dj.tensor([1.0], requires_grad=True)
    ids = (id(w), id(b))
    for _ in range(steps):
        loss = (0.5 * (y - (w * x + b)) ** 2).mean()
        loss.backward()
        w.data -= lr * w.grad.data  # updating through .data is not recorded: w stays a leaf
        b.data -= lr * b.grad.data
        w.grad.zero_()
        b.grad.zero_()
    assert (id(w), id(b)) == ids and w.is_leaf and b.is_leaf
    return w.item(), b.item(), loss.item()


def pitfalls():
    """The two mistakes the seed warns about, each caught and explained."""
    messages = []
    w = dj.tensor([1.0], requires_grad=True)
    (w * 3).sum().backward()
    try:
        w -= 0.1 * w.grad  # in-place on a leaf that requires grad, outside no_grad
    except RuntimeError as error:
        messages.append(f"in-place update: {error}")
    w = w - 0.1 * w.grad  # rebinding: w is now the result of an operation
    (w * 3).sum().backward()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        messages.append(f"after rebinding: is_leaf={w.is_leaf}, grad={w.grad}")
    return messages


def main() -> None:
    w, b, loss = train()
    print(f"w = {w:.3f} (true 2), b = {b:.3f}, final loss {loss:.3f}")
    for message in pitfalls():
        print(message)


if __name__ == "__main__":
    main()
