"""Differentiation as IR transforms: jvp, linearize (partial evaluation), transpose, grad family."""

from ..lax import stop_gradient  # noqa: F401
from . import (  # noqa: F401
    callbacks,  # rules of host callbacks
    windows,  # speed area: convolution and pooling rules
)
from .api import (  # noqa: F401
    grad,
    hessian,
    jacfwd,
    jacrev,
    jvp,
    linearize,
    value_and_grad,
    vjp,
    vjp_function,
    vjp_split,
)
from .custom import custom_jvp, custom_vjp  # noqa: F401
from .jvp import jvp_function, jvp_rules, zero_derivative  # noqa: F401
from .linearize import linearize_function, partial_eval  # noqa: F401
from .remat import checkpoint, checkpoint_policies, inline_checkpoints, remat  # noqa: F401
from .transpose import transpose_function, transpose_rules  # noqa: F401
