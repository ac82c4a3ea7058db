"""Exported programs: export a traced function, serialize it to versioned bytes, load and run it
anywhere (no Python source needed), and pickle jit functions through their exported form."""

from .container import DeserializationError  # noqa: F401
from .program import Exported, deserialize, export  # noqa: F401
from .treedefs import SerializationError  # noqa: F401
