"""dualjit.distributed: a thin layer on Ray (the optional extra `dualjit[distributed]`) that ships
exported programs to Ray workers: data-parallel training and batch inference over Ray Datasets.

`import dualjit` never imports Ray; importing this module does.
"""

try:
    import ray  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("dualjit.distributed needs Ray: pip install 'dualjit[distributed]'") from e

from .data_parallel import DataParallel, WorkerFailedError, data_parallel, sgd  # noqa: F401
from .datasets import BatchProgram, map_batches, per_example_grads  # noqa: F401
