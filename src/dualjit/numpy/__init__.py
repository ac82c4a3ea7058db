"""dualjit.numpy: NumPy's array API over traced and plain arrays, composed from primitives.

NumPy broadcasting and dtype promotion become explicit broadcast_in_dim and
convert_element_type equations. On plain numpy arrays outside any transform these functions
evaluate at once and return numpy arrays. The submodules group the functions by theme; every
public name is re-exported here, so `import dualjit.numpy as jnp` is all users need.
"""

import importlib as _importlib

from . import _methods  # noqa: F401  (installs the operators and methods of traced arrays)
from ._core import *  # noqa: F401,F403
from .at import at  # noqa: F401  (x.at[index].set/add/...: the vmap area)
from .bits import *  # noqa: F401,F403  (dtypes area: shifts, bit counts, gcd/lcm, iinfo)
from .creation import *  # noqa: F401,F403
from .dtypes import *  # noqa: F401,F403
from .elementwise import *  # noqa: F401,F403
from .indexing import *  # noqa: F401,F403
from .products import *  # noqa: F401,F403
from .reductions import *  # noqa: F401,F403
from .shapes import *  # noqa: F401,F403

# The rarer themes load on first use of one of their names (a module's __all__, checked by
# tests/speed/test_import.py), and linalg and fft on first use of the submodule: `import
# dualjit` then costs ~4 ms less. Each name is the defining module's object, wrapped as the
# others are (to refuse out=) when it takes no out parameter.
_LAZY_MODULES = {
    "cumulative": ("cumsum", "cumprod", "cumulative_sum", "cumulative_prod", "nancumsum",
                   "nancumprod", "diff", "ediff1d", "trapezoid", "gradient", "unwrap"),
    "einsum": ("einsum", "einsum_path"),
    "functional": ("piecewise", "apply_along_axis", "apply_over_axes", "vectorize", "ufunc",
                   "frompyfunc"),
    "index_tricks": ("r_", "c_", "s_", "index_exp", "mgrid", "ogrid"),
    "packing": ("packbits", "unpackbits"),
    "padding": ("pad",),
    "polynomial": ("poly", "polyadd", "polysub", "polymul", "polyval", "polyder", "polyint",
                   "polydiv", "polyfit"),
    "sorting": ("sort", "argsort", "lexsort", "partition", "argpartition", "searchsorted",
                "digitize", "nonzero", "argwhere", "flatnonzero", "extract", "compress",
                "unique", "unique_values", "unique_counts", "unique_inverse", "unique_all",
                "isin", "union1d", "setdiff1d", "setxor1d", "intersect1d"),
    "statistics": ("quantile", "percentile", "median", "nanquantile", "nanpercentile",
                   "nanmedian", "average", "cov", "corrcoef", "bincount",
                   "histogram_bin_edges", "histogram", "histogramdd", "histogram2d", "interp"),
}
_LAZY = {name: module for module, names in _LAZY_MODULES.items() for name in names}
_SUBMODULES = ("fft", "linalg")  # (complex area: dualjit.numpy.fft)


def __getattr__(name: str):
    if name in _LAZY:
        module = _importlib.import_module("." + _LAZY[name], __name__)
        for loaded in _LAZY_MODULES[_LAZY[name]]:  # the whole theme at once
            globals()[loaded] = _without_out(getattr(module, loaded))
        return globals()[name]
    if name in _SUBMODULES or name in _LAZY_MODULES:
        return _importlib.import_module("." + name, __name__)  # (binds itself here)
    if name == "__all__":  # what `from dualjit.numpy import *` binds
        return sorted(n for n in set(globals()) | set(_LAZY) if not n.startswith("_"))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))


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


def _without_out(value):
    """value, refusing out= if it is a function without an out parameter."""
    import types

    if isinstance(value, types.FunctionType) and not _takes_out(value):
        return _refusing_out(value)
    return value


def _wrap_functions_without_out() -> None:
    namespace = globals()
    for name, value in list(namespace.items()):
        if not name.startswith("_"):
            namespace[name] = _without_out(value)


def _takes_out(fn) -> bool:
    """Whether fn (or the function it wraps) has a parameter named out: its code's parameter
    names (inspect.signature on ~340 functions cost 8 ms of every `import dualjit`)."""
    import inspect

    code = inspect.unwrap(fn).__code__
    return "out" in code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]


_wrap_functions_without_out()
# np.sum(traced) -> jnp.sum (as JAX arrays get it); a lazy name's module loads on first call
_methods.install_numpy_delegates(globals(), __getattr__)
