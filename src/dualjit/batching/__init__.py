"""Batching (vmap) as an IR transform: a batching rule per primitive, batch_function, vmap."""

from . import (  # noqa: F401  (register the rules)
    control,
    rules,
    windows,  # noqa: F401, E402  (speed area: convolution and window rules)
)
from .api import vmap  # noqa: F401
from .core import (  # noqa: F401
    BatchingFallbackWarning,
    any_dim,
    batch_eval,
    batch_function,
    batching_rules,
    loop_rule,
    not_mapped,
)
