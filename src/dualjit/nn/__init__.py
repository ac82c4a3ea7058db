"""dualjit.nn: JAX-style functions on arrays, and PyTorch-style modules and functional on Tensors.

`functions` (relu, softmax, cross_entropy, ...) works on arrays and traced values, as jax.nn;
it is imported at once. The PyTorch-spelled parts (`functional`, and later `Module`, layers,
losses, `init`, `utils`) work on Tensors and are imported on first use, so `import dualjit`
stays fast and the eager layer (which uses `functions`) has no import cycle with them.
"""

from .functions import (  # noqa: F401
    binary_cross_entropy_with_logits,
    cross_entropy,
    log_softmax,
    logsumexp,
    mse_loss,
    relu,
    sigmoid,
    softmax,
    softplus,
)

_LAZY_SUBMODULES = ("functional",)


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'dualjit.nn' has no attribute {name!r}")
