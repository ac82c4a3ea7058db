"""The autograd tour of seeds 001-003, printing the values the seeds print."""

from __future__ import annotations

import dualjit as dj


def tour() -> list[str]:
    lines = []
    x = dj.ones((2, 2), requires_grad=True)
    lines.append(repr(x))
    y = x + 2
    lines.append(repr(y))
    lines.append(repr(y.grad_fn))
    z = y * y * 3
    out = z.mean()
    lines.append(f"{z!r} {out!r}")
    out.backward()
    lines.append(repr(x.grad))  # 4.5 everywhere
    x.sum().backward()
    lines.append(repr(x.grad))  # accumulated: 5.5
    x.grad.zero_()
    x.sum().backward()
    lines.append(repr(x.grad))  # 1

    x = dj.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    z = (2 * x).view(2, 2)
    z.backward(dj.tensor([[1.0, 0.1], [0.01, 0.001]]))
    lines.append(repr(x.grad))  # [2, 0.2, 0.02, 0.002]

    x = dj.tensor(1.0, requires_grad=True)
    y1 = x ** 2
    with dj.no_grad():
        y2 = x ** 3
    y3 = y1 + y2
    y3.backward()
    lines.append(f"{y1.requires_grad} {y2.requires_grad} {y3.requires_grad} {x.grad!r}")  # 2

    x = dj.ones(1, requires_grad=True)
    y = 2 * x
    x.data *= 100
    y.backward()
    lines.append(f"{x!r} {x.grad!r}")  # [100.], [2.]
    return lines


if __name__ == "__main__":
    print("\n".join(tour()))
