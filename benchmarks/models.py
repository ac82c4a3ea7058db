"""Issue 14's model workloads, each for dualjit (jit), JAX (jit), PyTorch eager and
torch.compile, all f32 and computing the same thing:

W7  LeNet-5-style CNN on 28x28x1, batch 64: conv 5x5 (6, padding 2) -> relu -> max pool 2 ->
    conv 5x5 (16) -> relu -> max pool 2 -> dense 400-120 -> relu -> dense 120-10, softmax
    cross-entropy, one SGD step.
W8  transformer block (d_model 256, 4 heads, seq 128, batch 8, pre-LayerNorm, GELU MLP x4),
    forward + backward (gradients of every parameter).
W9  1-D depthwise-separable conv stack (a small audio model): 4 blocks of depthwise conv
    (k 9, 64 channels) -> pointwise conv -> relu on (8, 64, 1024), forward + backward.
"""

from __future__ import annotations

import importlib.util

import numpy as np

RNG = np.random.default_rng(14)


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _f32(*shape, scale=0.1):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


# -- parameters and data (shared by every implementation) --------------------------------------

def lenet_data():
    params = [_f32(6, 1, 5, 5), np.zeros(6, np.float32), _f32(16, 6, 5, 5),
              np.zeros(16, np.float32), _f32(400, 120, scale=0.05), np.zeros(120, np.float32),
              _f32(120, 10, scale=0.05), np.zeros(10, np.float32)]
    return params, _f32(64, 1, 28, 28, scale=1.0), RNG.integers(0, 10, 64)


def transformer_data():
    d, f = 256, 1024
    params = [np.ones(d, np.float32), np.zeros(d, np.float32), _f32(d, 3 * d, scale=0.05),
              _f32(d, d, scale=0.05), np.ones(d, np.float32), np.zeros(d, np.float32),
              _f32(d, f, scale=0.05), np.zeros(f, np.float32), _f32(f, d, scale=0.03),
              np.zeros(d, np.float32)]
    return params, _f32(8, 128, d, scale=1.0)


def separable_data():
    params = []
    for _ in range(4):
        params += [_f32(64, 1, 9, scale=0.3), _f32(64, 64, 1, scale=0.1), np.zeros(64, np.float32)]
    return params, _f32(8, 64, 1024, scale=1.0)


# -- the models, written once against a small namespace of array functions --------------------

def lenet_loss(ops, p, x, labels):
    h = ops.maxpool(ops.relu(ops.conv(x, p[0], 2) + p[1][None, :, None, None]))
    h = ops.maxpool(ops.relu(ops.conv(h, p[2], 0) + p[3][None, :, None, None]))
    h = ops.relu(ops.reshape(h, (h.shape[0], 400)) @ p[4] + p[5])
    return ops.cross_entropy(h @ p[6] + p[7], labels)


def transformer_loss(ops, p, x):
    b, s, d = x.shape
    heads = 4

    def split(t):  # (b, s, d) -> (b, heads, s, d / heads)
        return ops.transpose(ops.reshape(t, (b, s, heads, d // heads)), (0, 2, 1, 3))

    h = ops.layer_norm(x, p[0], p[1])
    qkv = h @ p[2]
    q, k, v = (split(qkv[:, :, i * d:(i + 1) * d]) for i in range(3))
    scores = ops.softmax((q @ ops.transpose(k, (0, 1, 3, 2))) * (d // heads) ** -0.5)
    attn = ops.reshape(ops.transpose(scores @ v, (0, 2, 1, 3)), (b, s, d))
    x = x + attn @ p[3]
    h = ops.layer_norm(x, p[4], p[5])
    x = x + ops.gelu(h @ p[6] + p[7]) @ p[8] + p[9]
    return ops.mean(x * x)


def separable_loss(ops, p, x):
    for i in range(4):
        depth, point, bias = p[3 * i:3 * i + 3]
        x = ops.relu(ops.conv1d(ops.conv1d(x, depth, 4, 64), point, 0, 1) + bias[None, :, None])
    return ops.mean(x * x)


# -- namespaces --------------------------------------------------------------------------------

class _Ops:
    def __init__(self, **fns):
        self.__dict__.update(fns)


def dualjit_ops():
    import dualjit as dj
    import dualjit.numpy as jnp

    def layer_norm(x, w, b):
        mu = jnp.mean(x, axis=-1, keepdims=True)
        var = jnp.mean((x - mu) ** 2, axis=-1, keepdims=True)
        return (x - mu) / jnp.sqrt(var + 1e-5) * w + b

    return _Ops(conv=lambda x, w, pad: dj.nn.conv(x, w, padding=pad),
                conv1d=lambda x, w, pad, groups: dj.nn.conv(x, w, padding=pad, groups=groups),
                maxpool=lambda x: dj.nn.max_pool(x, 2), relu=dj.nn.relu,
                reshape=jnp.reshape, transpose=jnp.transpose, mean=jnp.mean,
                softmax=lambda z: dj.nn.softmax(z, axis=-1), layer_norm=layer_norm,
                gelu=lambda z: 0.5 * z * (1 + jnp.tanh(0.7978845608 * (z + 0.044715 * z ** 3))),
                cross_entropy=dj.nn.cross_entropy)


def jax_ops():
    import jax
    import jax.numpy as jjnp

    def conv(x, w, pad, groups=1):
        nsp = w.ndim - 2
        return jax.lax.conv_general_dilated(x, w, (1,) * nsp, [(pad, pad)] * nsp,
                                            feature_group_count=groups)

    def layer_norm(x, w, b):
        mu = jjnp.mean(x, axis=-1, keepdims=True)
        var = jjnp.mean((x - mu) ** 2, axis=-1, keepdims=True)
        return (x - mu) / jjnp.sqrt(var + 1e-5) * w + b

    def cross_entropy(logits, labels):
        return -jjnp.mean(jax.nn.log_softmax(logits)[jjnp.arange(logits.shape[0]), labels])

    return _Ops(conv=conv, conv1d=conv,
                maxpool=lambda x: jax.lax.reduce_window(x, -jjnp.inf, jax.lax.max, (1, 1, 2, 2),
                                                        (1, 1, 2, 2), "VALID"),
                relu=jax.nn.relu, reshape=jjnp.reshape, transpose=jjnp.transpose,
                mean=jjnp.mean, softmax=lambda z: jax.nn.softmax(z, axis=-1),
                layer_norm=layer_norm, gelu=lambda z: jax.nn.gelu(z, approximate=True),
                cross_entropy=cross_entropy)


def torch_ops():
    import torch
    import torch.nn.functional as F

    def layer_norm(x, w, b):
        return F.layer_norm(x, (x.shape[-1],), w, b, 1e-5)

    return _Ops(conv=lambda x, w, pad: F.conv2d(x, w, padding=pad),
                conv1d=lambda x, w, pad, groups: F.conv1d(x, w, padding=pad, groups=groups),
                maxpool=lambda x: F.max_pool2d(x, 2), relu=torch.relu, reshape=torch.reshape,
                transpose=lambda t, perm: t.permute(*perm), mean=torch.mean,
                softmax=lambda z: torch.softmax(z, dim=-1), layer_norm=layer_norm,
                gelu=lambda z: F.gelu(z, approximate="tanh"), cross_entropy=F.cross_entropy)


# -- implementations ---------------------------------------------------------------------------

def _impls(loss, data, sgd: bool):
    """{implementation: a thunk running one step} for dualjit, JAX, torch eager/compiled."""
    params, *batch = data
    impls = {}
    import dualjit as dj

    ops = dualjit_ops()
    grad = dj.grad(lambda p, *b: loss(ops, p, *b))
    step = dj.jit((lambda p, *b: [w - 0.01 * g for w, g in zip(p, grad(p, *b))]) if sgd else grad)
    step(params, *batch)
    impls["dualjit"] = lambda: step(params, *batch)
    if _have("jax"):
        import jax

        jops = jax_ops()
        jgrad = jax.grad(lambda p, *b: loss(jops, p, *b))
        jstep = jax.jit((lambda p, *b: [w - 0.01 * g for w, g in zip(p, jgrad(p, *b))]) if sgd
                        else jgrad)
        jax.block_until_ready(jstep(params, *batch))
        impls["jax"] = lambda: jax.block_until_ready(jstep(params, *batch))
    if _have("torch"):
        impls.update(_torch_impls(loss, params, batch, sgd))
    return impls


def _torch_impls(loss, params, batch, sgd):
    import torch

    tops = torch_ops()
    tparams = [torch.tensor(p, requires_grad=True) for p in params]
    tbatch = [torch.tensor(b) for b in batch]

    def step(*b):
        for p in tparams:
            p.grad = None
        loss(tops, tparams, *b).backward()
        if sgd:
            with torch.no_grad():
                for p in tparams:
                    p -= 0.01 * p.grad

    impls = {"torch eager": lambda: step(*tbatch)}
    try:
        compiled = torch.compile(lambda *b: loss(tops, tparams, *b))

        def compiled_step(*b):
            for p in tparams:
                p.grad = None
            compiled(*b).backward()
            if sgd:
                with torch.no_grad():
                    for p in tparams:
                        p -= 0.01 * p.grad

        compiled_step(*tbatch)
        compiled_step(*tbatch)
        impls["torch.compile"] = lambda: compiled_step(*tbatch)
    except Exception:  # noqa: BLE001 — no compiler toolchain: leave the cell out
        pass
    return impls


def w7_lenet():
    return _impls(lenet_loss, lenet_data(), sgd=True)


def w8_transformer():
    return _impls(transformer_loss, transformer_data(), sgd=False)


def w9_separable():
    return _impls(separable_loss, separable_data(), sgd=False)


MODEL_WORKLOADS = {
    "W7 LeNet-5 CNN SGD step, batch 64, f32": w7_lenet,
    "W8 transformer block fwd+bwd (d256, 4 heads, seq 128, batch 8)": w8_transformer,
    "W9 depthwise-separable 1-D conv stack fwd+bwd (8x64x1024)": w9_separable,
}
