"""Tracing Python functions into the typed IR: tracers, the trace stack, pytrees, make_ir."""

from .core import (  # noqa: F401
    Builder,
    ConcretizationError,
    EscapedTracerError,
    Tracer,
    abstractify,
    apply_function,
    array_methods,
    as_array,
    bind,
    current_builder,
    trace_flat,
    tracing,
)
from .make_ir import make_ir, trace_pytree  # noqa: F401
from .pytree import (  # noqa: F401
    PyTreeDef,
    register_dataclass,
    register_pytree_node,
    tree_flatten,
    tree_leaves,
    tree_map,
    tree_structure,
    tree_unflatten,
)
from .shape_dtype import ShapeDtypeStruct  # noqa: F401
