"""IR sizes of gradient programs (issue 3): dualjit's make_ir(grad(f)) next to JAX's jaxpr."""

from __future__ import annotations

import pathlib

import numpy as np

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def models(jnp, nn_cross_entropy, log_softmax):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 784)).astype(np.float32)
    labels = rng.integers(0, 10, 128)
    params = [rng.standard_normal((784, 256)).astype(np.float32), np.zeros(256, np.float32),
              rng.standard_normal((256, 10)).astype(np.float32), np.zeros(10, np.float32)]

    def mlp_loss(p):
        h = jnp.tanh(x @ p[0] + p[1])
        return nn_cross_entropy(h @ p[2] + p[3], labels)

    onehot = np.eye(10, dtype=np.float32)[labels]

    def softmax_ce(w):
        return -jnp.mean(jnp.sum(onehot * log_softmax(x[:, :256] @ w), axis=-1))

    xs = np.linspace(-np.pi, np.pi, 2000).astype(np.float32)
    ys = np.sin(xs)

    def cubic(p):
        a, b, c, d = p
        return jnp.sum((a + b * xs + c * xs ** 2 + d * xs ** 3 - ys) ** 2)

    cubic_p = tuple(np.float32(v) for v in (0.1, 0.2, 0.3, 0.4))
    return [("MLP loss 784-256-10", mlp_loss, params),
            ("softmax cross-entropy", softmax_ce, params[2]),
            ("cubic fit loss", cubic, cubic_p)]


def dualjit_sizes():
    import dualjit as dj
    import dualjit.numpy as jnp

    out = {}
    for name, f, arg in models(jnp, dj.nn.cross_entropy, dj.nn.log_softmax):
        out[name] = (len(dj.make_ir(f)(arg).eqns), len(dj.make_ir(dj.grad(f))(arg).eqns))
    return out


def jax_sizes():
    try:
        import jax
        import jax.numpy as jjnp
    except ImportError:
        return {}

    def ce(logits, labels):
        return -jjnp.mean(jax.nn.log_softmax(logits)[jjnp.arange(logits.shape[0]), labels])

    out = {}
    for name, f, arg in models(jjnp, ce, jax.nn.log_softmax):
        out[name] = (len(jax.make_jaxpr(f)(arg).jaxpr.eqns),
                     len(jax.make_jaxpr(jax.grad(f))(arg).jaxpr.eqns))
    return out


def report() -> str:
    ours, theirs = dualjit_sizes(), jax_sizes()
    lines = ["| function | dualjit primal | dualjit grad | grad / primal | JAX primal | JAX grad |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, (p, g) in ours.items():
        jp, jg = theirs.get(name, ("-", "-"))
        lines.append(f"| {name} | {p} | {g} | {g / p:.2f} | {jp} | {jg} |")
    return "\n".join(lines)


if __name__ == "__main__":
    text = "# Equation counts of primal and gradient programs\n\n" + report() + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ir_sizes.md").write_text(text)
    print(text)
