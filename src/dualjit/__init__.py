"""dualjit: automatic differentiation as IR transforms, compiled to native code with llvmlite."""

import importlib as _importlib
import os as _os

from . import lax, numpy  # noqa: F401
from .autodiff import (  # noqa: F401
    checkpoint,
    checkpoint_policies,
    custom_jvp,
    custom_vjp,
    grad,
    hessian,
    jacfwd,
    jacrev,
    jvp,
    linearize,
    remat,
    stop_gradient,
    value_and_grad,
    vjp,
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

# Everything else loads on first use, so `import dualjit` costs a jit user only what jit,
# grad, numpy and lax need (threads9, issue 9 W5 import): name -> (module, attribute), where
# attribute None means the module itself.
_LAZY = {
    # JAX's smaller transform API, vmap, random numbers (the vmap area)
    "vmap": (".batching", "vmap"), "random": (".random", None), "debug": (".debug", None),
    "tree_util": (".tree_util", None), "pure_callback": (".host", "pure_callback"),
    "closure_convert": (".transforms", "closure_convert"),
    "eval_shape": (".transforms", "eval_shape"),
    "linear_transpose": (".transforms", "linear_transpose"),
    # export: programs that travel (serialize, load anywhere, pickle jit functions)
    "export": (".exported", "export"), "Exported": (".exported", "Exported"),
    "deserialize": (".exported", "deserialize"),
    "DeserializationError": (".exported", "DeserializationError"),
    # SciPy's and PyTorch's spellings (linalg, torch helpers)
    "scipy": (".scipy", None), "nn": (".nn", None),
    "autograd": (".autograd", None), "optim": (".optim", None),
    "linalg": (".eager.linalg", None), "fft": (".eager.fft", None),
    "special": (".eager.special", None),
    "compile": (".compiler", "compile"), "save": (".serialization", "save"),
    "load": (".serialization", "load"),
}
# The PyTorch-style API (Tensors, torch-spelled functions, dtypes, constructors) is every name
# of eager/__init__.py's __all__; none is spelled like a name above.


def _eager_names() -> list[str]:
    return list(_importlib.import_module(".eager", __name__).__all__)


def _is_submodule(name: str) -> bool:
    """Whether `name` is a module of this package (the import system asks for those first)."""
    folder = _os.path.dirname(__file__)
    return _os.path.exists(_os.path.join(folder, name + ".py")) or _os.path.isdir(
        _os.path.join(folder, name))


def __getattr__(name: str):
    if name in _LAZY:
        path, attribute = _LAZY[name]
        module = _importlib.import_module(path, __name__)
        value = module if attribute is None else getattr(module, attribute)
    elif name == "__all__":  # what `from dualjit import *` binds
        value = sorted(n for n in set(globals()) | set(_LAZY) | set(_eager_names())
                       if not n.startswith("_"))
    elif _is_submodule(name):  # dualjit.eager, dualjit.codegen, ... as attributes
        value = _importlib.import_module("." + name, __name__)
    elif not name.startswith("__") and name in _eager_names():
        value = getattr(_importlib.import_module(".eager", __name__), name)
    elif name in ("float16", "half", "bfloat16"):
        from .eager.dtypes import NO_HALF

        raise AttributeError(NO_HALF.format(name=f"dualjit.{name}"))
    else:
        raise AttributeError(f"module 'dualjit' has no attribute {name!r}")
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    folder = _os.path.dirname(__file__)
    modules = {n.removesuffix(".py") for n in _os.listdir(folder) if not n.startswith("_") and (
        n.endswith(".py") or _os.path.exists(_os.path.join(folder, n, "__init__.py")))}
    names = set(globals()) | set(_LAZY) | set(_eager_names()) | modules
    return sorted(n for n in names if not n.startswith("_") or n.startswith("__"))
