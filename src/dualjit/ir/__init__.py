"""The typed IR: types, Functions, primitives, printer, parser, verifier, passes, interpreter."""

from . import primitives  # noqa: F401  (registers the primitive set)
from .core import (  # noqa: F401
    SUPPORTED_DTYPES,
    DType,
    Eqn,
    FrozenDict,
    Function,
    IRError,
    Literal,
    Primitive,
    TensorType,
    Var,
    abstract_eval,
    as_dtype,
    has_effects,
    impl_rules,
    shape_rules,
    sub_functions,
    type_of_array,
)
from .core import (  # noqa: F401
    primitives as registry,
)
from .interpreter import eval_function  # noqa: F401
from .printer import print_function  # noqa: F401
from .verifier import verify  # noqa: F401
