"""The demo tour: trace a function, print its IR, run it (extended as the project grows)."""

from __future__ import annotations

import numpy as np


def run_demo() -> None:
    import dualjit as dj
    import dualjit.numpy as jnp

    def model(params, x):
        a, b, c, d = params
        return a + b * x + c * x**2 + d * x**3

    def loss(params, x, y):
        return jnp.sum((model(params, x) - y) ** 2)

    x = np.linspace(-np.pi, np.pi, 2000)
    y = np.sin(x)
    params = tuple(np.float64(v) for v in (0.1, 0.2, 0.3, 0.4))
    print("The loss function, traced into dualjit's typed IR:\n")
    print(dj.make_ir(loss)(params, x, y))
    print("\nloss at the start:", float(dj.jit(loss)(params, x, y)))
