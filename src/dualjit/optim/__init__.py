"""dualjit.optim: PyTorch's optimizers, each step one compiled kernel over all parameters."""

from . import lr_scheduler  # noqa: F401
from .algorithms import SGD, Adagrad, Adam, AdamW, RMSprop  # noqa: F401
from .optimizer import Optimizer  # noqa: F401
