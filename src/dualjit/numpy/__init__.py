"""dualjit.numpy: NumPy's array API over traced and plain arrays, composed from primitives.

NumPy broadcasting and dtype promotion become explicit broadcast_in_dim and
convert_element_type equations. On plain numpy arrays outside any transform these functions
evaluate at once and return numpy arrays. The submodules group the functions by theme; every
public name is re-exported here, so `import dualjit.numpy as jnp` is all users need.
"""

from . import (
    _methods,  # noqa: F401  (installs the operators and methods of traced arrays)
    fft,  # noqa: F401  (complex area: dualjit.numpy.fft)
    linalg,  # noqa: F401
)
from ._core import *  # noqa: F401,F403
from .at import at  # noqa: F401  (x.at[index].set/add/...: the vmap area)
from .bits import *  # noqa: F401,F403  (dtypes area: shifts, bit counts, gcd/lcm, iinfo)
from .creation import *  # noqa: F401,F403
from .cumulative import *  # noqa: F401,F403
from .dtypes import *  # noqa: F401,F403
from .einsum import *  # noqa: F401,F403
from .elementwise import *  # noqa: F401,F403
from .functional import *  # noqa: F401,F403
from .index_tricks import *  # noqa: F401,F403
from .indexing import *  # noqa: F401,F403
from .packing import *  # noqa: F401,F403
from .padding import *  # noqa: F401,F403
from .polynomial import *  # noqa: F401,F403
from .products import *  # noqa: F401,F403
from .reductions import *  # noqa: F401,F403
from .shapes import *  # noqa: F401,F403
from .sorting import *  # noqa: F401,F403
from .statistics import *  # noqa: F401,F403


def _refusing_out(fn):
    """fn, refusing NumPy's out= with the reason (its own signature has no out)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, out=None, **kwargs):
        if out is not None:
            raise TypeError(f"{fn.__name__}: out= is not supported: dualjit arrays are "
                            "immutable values; use the returned array instead")
        return fn(*args, **kwargs)
    return wrapper


def _wrap_functions_without_out() -> None:
    import types

    namespace = globals()
    for name, value in list(namespace.items()):
        if name.startswith("_") or not isinstance(value, types.FunctionType):
            continue
        if not _takes_out(value):
            namespace[name] = _refusing_out(value)


def _takes_out(fn) -> bool:
    """Whether fn (or the function it wraps) has a parameter named out: its code's parameter
    names (inspect.signature on ~340 functions cost 8 ms of every `import dualjit`)."""
    import inspect

    code = inspect.unwrap(fn).__code__
    return "out" in code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]


_wrap_functions_without_out()
_methods.install_numpy_delegates(globals())  # np.sum(traced) -> jnp.sum (as JAX arrays get it)
