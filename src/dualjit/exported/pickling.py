"""Pickling jit functions: the Python function by reference, each compiled specialization as an
exported program, so a process that unpickles one calls it without tracing or compiling again
(multiprocessing, concurrent.futures, Ray and Dask ship functions this way).

Unpickling runs code chosen by whoever made the bytes (as any pickle does, and the object code
of the exported programs too): unpickle only data you trust.
"""

from __future__ import annotations

import importlib
from typing import Any

from .program import Exported, deserialize


def reduce_jitted(jitted: Any) -> tuple:
    name = getattr(jitted.fun, "__name__", "function")
    specializations = [
        (statics, Exported(name, in_tree, entry.out_tree, entry.function,
                           compiled=entry.compiled).serialize())
        for statics, in_tree, entry in jitted._specializations() if not entry.const_args]
    return _rebuild, (_reference(jitted), jitted.static_argnums, specializations)


def _reference(jitted: Any) -> tuple:
    """("jitted", module, qualname) when the jit function itself is a module attribute (a
    decorated function: its Python function is not reachable by name), else ("function", f)
    for pickle to handle (by reference; cloudpickle also by value)."""
    fun = jitted.fun
    module, qualname = getattr(fun, "__module__", None), getattr(fun, "__qualname__", "")
    if module and qualname and "<locals>" not in qualname:
        try:
            if _lookup(module, qualname) is jitted:
                return ("jitted", module, qualname)
        except Exception:
            pass
    return ("function", fun)


def _lookup(module: str, qualname: str) -> Any:
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def _rebuild(reference: tuple, static_argnums: Any, specializations: list) -> Any:
    from ..jit import Jitted

    if reference[0] == "jitted":
        jitted = _lookup(reference[1], reference[2])
        if not isinstance(jitted, Jitted):
            raise TypeError(f"unpickling a jit function: {reference[1]}.{reference[2]} is a "
                            f"{type(jitted).__name__} here, not a jit function")
    else:
        jitted = Jitted(reference[1], static_argnums)
    for statics, blob in specializations:
        exported = deserialize(blob)
        jitted._adopt(statics, exported.in_tree, exported)
    return jitted
