"""dualjit.nn: JAX-style functions on arrays, and PyTorch-style modules and functional on Tensors.

`functions` (relu, softmax, cross_entropy, ...) works on arrays and traced values, as jax.nn;
it is imported at once. The PyTorch-spelled parts (`Module`, `Parameter`, layers, losses,
`functional`, `init`, `utils`) work on Tensors and are imported on first use, so
`import dualjit` stays fast and the eager layer (which uses `functions`) has no import cycle
with them.
"""

from . import initializers  # noqa: F401  (JAX-style initializers on dj.random keys)
from .activations import (  # noqa: F401  (JAX-style activations: the vmap area)
    celu,
    elu,
    gelu,
    glu,
    hard_sigmoid,
    hard_silu,
    hard_swish,
    hard_tanh,
    leaky_relu,
    log_sigmoid,
    mish,
    normalize,
    one_hot,
    relu6,
    selu,
    silu,
    soft_sign,
    standardize,
    swish,
)
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

_LAZY_SUBMODULES = ("functional", "init", "utils", "module", "layers", "loss", "convolution",
                    "conv_layers")
_LAZY_NAMES = {
    "module": ("Module", "Parameter"),
    "layers": ("Identity", "Linear", "Bilinear", "Embedding", "LayerNorm", "BatchNorm1d",
               "Dropout", "ReLU", "LeakyReLU", "ELU", "GELU", "SiLU", "Tanh", "Sigmoid",
               "Softplus", "Softmax", "LogSoftmax", "Flatten", "Unflatten", "Sequential",
               "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"),
    "loss": ("MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss",
             "NLLLoss", "CrossEntropyLoss", "KLDivLoss"),
    # speed area: convolution and pooling (arrays: convolution.py; modules: conv_layers.py)
    "convolution": ("conv", "max_pool", "avg_pool"),
    "conv_layers": ("Conv1d", "Conv2d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d",
                    "BatchNorm2d"),
}
_HOME = {name: module for module, names in _LAZY_NAMES.items() for name in names}


def __getattr__(name: str):
    import importlib

    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    home = _HOME.get(name)
    if home is not None:
        return getattr(importlib.import_module(f"{__name__}.{home}"), name)
    raise AttributeError(f"module 'dualjit.nn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_SUBMODULES) | set(_HOME))
