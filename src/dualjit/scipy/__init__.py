"""dualjit.scipy: SciPy's linear algebra (linalg) and special functions (special), like jax.scipy."""

from . import linalg, special  # noqa: F401
