"""dualjit.autograd: torch.autograd's API on dualjit's recorded graphs (grad, backward,
custom Functions, functional jacobian/hessian/vjp/jvp, gradcheck)."""

from ..eager.backward import backward, grad  # noqa: F401
from ..eager.tensor import (  # noqa: F401
    Tensor,
    enable_grad,
    inference_mode,
    no_grad,
    set_grad_enabled,
)
from . import functional  # noqa: F401
from .function import Function, FunctionCtx, once_differentiable  # noqa: F401
from .gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: F401

Variable = Tensor  # (torch.autograd.Variable: Tensors have done its job since PyTorch 0.4)


class set_detect_anomaly:
    """Accepted for compatibility; dualjit's errors already name the operation."""

    def __init__(self, mode: bool = True, check_nan: bool = True):
        self.mode = mode

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc) -> None:
        pass


detect_anomaly = set_detect_anomaly
