"""dualjit: automatic differentiation as IR transforms, compiled to native code with llvmlite."""

from . import lax, nn, numpy  # noqa: F401
from .autodiff import (  # noqa: F401
    custom_jvp,
    custom_vjp,
    grad,
    hessian,
    jacfwd,
    jacrev,
    jvp,
    linearize,
    stop_gradient,
    value_and_grad,
    vjp,
)
from .eager import (  # noqa: F401
    Tensor,
    arange,
    enable_grad,
    eye,
    linspace,
    manual_seed,
    matmul,
    no_grad,
    ones,
    rand,
    randn,
    tensor,
    zeros,
)

# export: programs that travel (serialize, load anywhere, pickle jit functions)
from .exported import (  # noqa: F401, E402
    DeserializationError,
    Exported,
    deserialize,
    export,
)
from .jit import jit  # noqa: F401
from .tracer import (  # noqa: F401
    ConcretizationError,
    ShapeDtypeStruct,
    make_ir,
    register_dataclass,
    register_pytree_node,
    tree_flatten,
    tree_leaves,
    tree_map,
    tree_structure,
    tree_unflatten,
)

__version__ = "0.1.0"
