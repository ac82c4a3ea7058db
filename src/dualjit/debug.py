"""dualjit.debug: print and call back from inside traced programs (as jax.debug)."""

from .host import callback  # noqa: F401
from .host import debug_print as print  # noqa: F401, A004
