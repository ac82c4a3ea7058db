"""The imperative, PyTorch-spelled side of dualjit: Tensors, their recorded autograd, and the
torch-spelled functions, dtypes and constructors (re-exported by dualjit/__init__)."""

from . import return_types  # noqa: F401
from .dtypes import (  # noqa: F401
    bool,
    bool_,
    cdouble,
    cfloat,
    complex64,
    complex128,
    double,
    float,
    float32,
    float64,
    get_default_dtype,
    int,
    int8,
    int16,
    int32,
    int64,
    long,
    set_default_dtype,
    short,
    uint8,
)
from .factories import (  # noqa: F401
    Generator,
    arange,
    as_tensor,
    bernoulli,
    default_generator,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    get_rng_state,
    initial_seed,
    linspace,
    logspace,
    manual_seed,
    multinomial,
    normal,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    seed,
    set_rng_state,
    tensor,
    zeros,
    zeros_like,
)
from .functions import *  # noqa: F401,F403  (the torch-spelled math, shape and logic functions)
from .functions import __all__ as _function_names  # noqa: E402
from .more_functions import *  # noqa: F401,F403  (dtype info, threads, bitwise, sets, ...)
from .more_functions import __all__ as _more_function_names  # noqa: E402
from .tensor import (  # noqa: F401
    Node,
    Size,
    Tensor,
    device,
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
    where,
)

__all__ = [
    "Generator", "Node", "Size", "Tensor", "arange", "as_tensor", "bernoulli", "bool",
    "bool_", "default_generator", "device", "double", "empty", "empty_like", "enable_grad", "eye",
    "float", "float32", "float64", "from_numpy", "full", "full_like", "get_default_dtype",
    "get_rng_state", "inference_mode", "initial_seed", "int", "int32", "int64",
    "is_grad_enabled", "linspace", "logspace", "long", "manual_seed", "multinomial",
    "no_grad", "normal", "ones", "ones_like", "rand", "rand_like", "randint", "randint_like",
    "randn", "randn_like", "randperm", "return_types", "seed", "set_default_dtype",
    "set_grad_enabled", "set_rng_state", "tensor", "where", "zeros", "zeros_like",
    "cdouble", "cfloat", "complex64", "complex128", "int8", "int16", "short", "uint8",
    *_function_names, *_more_function_names,
]
