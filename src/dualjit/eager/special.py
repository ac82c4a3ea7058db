"""dualjit.special: PyTorch's torch.special on Tensors, each function one recorded operation
whose IR is dualjit.scipy.special's (derivatives from its rules). Integers and bools compute
in the default float dtype, as PyTorch."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import numpy as jnp
from ..scipy import special as jss
from . import more_functions as more
from . import torch_rules
from .kernels import eager_kernel, float32_formula
from .tensor import Tensor, apply_op, as_tensor_arg

__all__ = ["erf", "erfc", "erfcx", "erfinv", "expit", "logit", "xlogy", "xlog1py", "gammaln",
           "digamma", "psi", "polygamma", "multigammaln", "i0", "i0e", "i1e", "ndtr", "ndtri",
           "log_ndtr", "log_softmax", "softmax", "logsumexp", "entr", "sinc", "exp2", "expm1",
           "log1p", "round"]


_unary = more.float_unary
_logit_kernel = eager_kernel(jss.logit, "logit", float32=float32_formula("logit"))


erf = _unary("ErfBackward", jss.erf, "erf")
erfc = more.erfc
erfcx = _unary("ErfcxBackward", jss.erfcx, "erfcx")
erfinv = more.erfinv
expit = _unary("SigmoidBackward", jss.expit, "expit")
gammaln = more.lgamma
digamma = psi = more.digamma
i0 = more.i0
i0e = _unary("I0eBackward", jss.i0e, "i0e")
i1e = _unary("I1eBackward", jss.i1e, "i1e")
ndtr = _unary("NdtrBackward", jss.ndtr, "ndtr")
ndtri = _unary("NdtriBackward", jss.ndtri, "ndtri")
log_ndtr = _unary("LogNdtrBackward", jss.log_ndtr, "log_ndtr")
entr = _unary("EntrBackward", torch_rules.entr, "entr")  # (PyTorch's derivative at x <= 0)
sinc = more.sinc
exp2 = _unary("Exp2Backward", jnp.exp2, "exp2", compiled=False, fast=np.exp2)
expm1 = _unary("Expm1Backward", jnp.expm1, "expm1", compiled=False, fast=np.expm1)
log1p = _unary("Log1pBackward", jnp.log1p, "log1p", compiled=False, fast=np.log1p)
xlogy = more.xlogy
xlog1py = more.float_binary("Xlog1pyBackward", jss.xlog1py, "xlog1py",
                             eager_kernel(jss.xlog1py, "xlog1py", arity=2))


def logit(input: Any, eps: float | None = None, *, out: Any = None) -> Tensor:  # noqa: A002
    """log(p / (1 - p)), p clamped to [eps, 1 - eps] when eps is given."""
    t = more.real_float_input(input, "logit")
    if eps is not None:
        t = t.clamp(eps, 1 - eps)
    return apply_op("LogitBackward", jss.logit, [t], fast=_logit_kernel)


def _polygamma(x, n):
    return jss.polygamma(n, x)


def polygamma(n: int, input: Any, *, out: Any = None) -> Tensor:  # noqa: A002
    """The n-th derivative of digamma (n a non-negative integer)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise RuntimeError(f"polygamma(n, x) does not support negative or non-integer n "
                           f"(got {n!r})")
    return apply_op("PolygammaBackward", _polygamma, [more.real_float_input(input, "polygamma")],
                    (("n", n),))


def multigammaln(input: Any, p: int, *, out: Any = None) -> Tensor:  # noqa: A002
    """log of the multivariate gamma function of dimension p (every element > (p - 1) / 2)."""
    import math

    t = more.real_float_input(input, "multigammaln")
    if p < 1:
        raise RuntimeError(f"p has to be greater than or equal to 1, got {p}")
    total = t.new_full((), p * (p - 1) / 4 * math.log(math.pi))
    for j in range(p):
        total = total + more.lgamma(t - j / 2)
    return total


def softmax(input: Any, dim: int, *, dtype: Any = None) -> Tensor:  # noqa: A002
    return as_tensor_arg(input).softmax(dim, dtype=dtype)


def log_softmax(input: Any, dim: int, *, dtype: Any = None) -> Tensor:  # noqa: A002
    return as_tensor_arg(input).log_softmax(dim, dtype=dtype)


def logsumexp(input: Any, dim: Any, keepdim: bool = False, *, out: Any = None) -> Tensor:  # noqa: A002
    return as_tensor_arg(input).logsumexp(dim, keepdim)


def round(input: Any, *, decimals: int = 0, out: Any = None) -> Tensor:  # noqa: A001,A002
    return as_tensor_arg(input).round(decimals=decimals)
