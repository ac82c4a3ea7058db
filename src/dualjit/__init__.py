"""dualjit: automatic differentiation as IR transforms, compiled to native code with llvmlite."""

from . import lax, nn, numpy, scipy  # noqa: F401
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

# PyTorch-style API (torch helper): Tensors, torch-spelled functions, dtypes, constructors
# (eager/__init__.py's __all__; none of them is spelled like a JAX-style name above).
from .eager import *  # noqa: F401,F403,E402

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

# vmap, random numbers, checkpointing and JAX's smaller transform API (the vmap area)
from . import debug, random, tree_util  # noqa: F401, E402
from .autodiff import checkpoint, checkpoint_policies, remat  # noqa: F401, E402
from .batching import vmap  # noqa: F401, E402
from .host import pure_callback  # noqa: F401, E402
from .transforms import closure_convert, eval_shape, linear_transpose  # noqa: F401, E402

# PyTorch-style modules loaded on first use, so `import dualjit` stays fast (torch helper).
_LAZY = {"autograd": ".autograd", "optim": ".optim", "compile": ".compiler",
         "save": ".serialization", "load": ".serialization"}


def __getattr__(name: str):
    path = _LAZY.get(name)
    if path is None:
        raise AttributeError(f"module 'dualjit' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(path, __name__)
    return module if path.endswith(name) else getattr(module, name)
